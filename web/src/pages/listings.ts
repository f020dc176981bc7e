// Listings: every file a Sender listed (`pallet-listings`, as `masp
// listings` shows them), and the Receiver's console: open your identity
// with your phrase, buy (or open) a listing with the purchase key `masp buy`
// would name (derived from your master key in WASM, the CLI's own code),
// signed in this tab; watch the Sender's key arrive; download the file as
// `masp get --listing` does: the key opened and checked against the
// listing's commitment, the listing manifest fetched from a host with a
// Receive ticket signed here and checked against its hash on chain, then
// every chunk checked against its root and opened here. A public listing
// needs no purchase (nor an identity: tickets are then signed with a key
// made for this tab).
import { sr25519CreateDerive } from '@polkadot-labs/hdkd';
import { ss58Decode } from '@polkadot-labs/hdkd-helpers';
import { chain, genesisHash } from '../chain';
import { bytes, esc, masp, parseMasp, text } from '../format';
import { onOpen, type Identity } from '../identity';
import { ShardSealer } from '../seal';
import { readStripes } from '../stripes';
import { cipher, type Cipher } from '../wasm';
import { endpoint, hex, identity } from './files';

type Api = ReturnType<typeof chain>;
type Listing = NonNullable<Awaited<ReturnType<Api['query']['Listings']['Listings']['getValue']>>>;
type Purchase = Awaited<ReturnType<Api['query']['Listings']['Purchases']['getValue']>>;

/** Who signs Receive tickets: an identity, or a key made for this tab. */
interface Signer {
  publicKey: Uint8Array;
  sign: (message: Uint8Array) => Uint8Array;
}

/** The identity opened on this page (the Files page's, if opened there). */
let opened: Identity | undefined;
/** A key of this tab's own, for public listings read without an identity. */
let anonymous: Signer | undefined;
/** What a listing's manifest said, once read in this tab: name and size. */
const known = new Map<string, { name: string; size: number }>();
/** Bumped on every render: a stale page's polling stops. */
let generation = 0;

const hexBytes = (h: string): Uint8Array => Uint8Array.from(h.replace(/^0x/, '').match(/../g) ?? [], (b) => parseInt(b, 16));
const accountHex = (address: string): string => hex(ss58Decode(address)[0]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function who(): Identity | undefined {
  return opened ?? identity();
}

function anonymousSigner(): Signer {
  if (!anonymous) {
    const pair = sr25519CreateDerive(crypto.getRandomValues(new Uint8Array(32)))('');
    anonymous = { publicKey: pair.publicKey, sign: pair.sign };
  }
  return anonymous;
}

/** A Receive ticket for `listing` on `contract`'s chunks `first..=last`,
 * signed by `s`, valid five minutes, in its wire form. */
async function receiveTicket(w: Cipher, s: Signer, listing: bigint, contract: bigint, first = 0, last = 0): Promise<string> {
  const json = JSON.stringify({
    op: { receive: Number(listing) },
    contract: Number(contract),
    first_chunk: first,
    last_chunk: last,
    receiver: hex(s.publicKey),
    expires: Math.floor(Date.now() / 1000) + 300,
    nonce: hex(crypto.getRandomValues(new Uint8Array(16))),
  });
  return w.ticket_wire(json, s.publicKey, s.sign(w.ticket_payload(json, await genesisHash())));
}

/** Whether `listing` still takes buyers at block `now`, or why not. */
function openness(l: Listing, now: number): string | undefined {
  if (l.closed) return 'closed';
  if (l.terms.expires !== undefined && now >= l.terms.expires) return 'expired';
  if (l.terms.max_buyers !== undefined && l.sold >= l.terms.max_buyers) return 'sold out';
  return undefined;
}

function kind(l: Listing): string {
  if (l.terms.open_key) return 'public';
  const base = l.terms.price > 0n ? 'paid' : 'free';
  return l.terms.to ? `${base}, private grant to <code>${esc(l.terms.to)}</code>` : base;
}

/** The purchase cell and the action cell of listing `id` for the identity. */
function cells(id: string, l: Listing, me: Identity | undefined, p: Purchase, now: number): [string, string] {
  if (l.terms.open_key) return ['<td data-purchase="public" class="muted">no purchase needed</td>', `<td><button data-get="${id}">Download</button></td>`];
  if (!me) return ['<td data-purchase="none" class="muted">—</td>', `<td><button data-buy="${id}">${l.terms.price > 0n ? 'Buy' : 'Open'}</button></td>`];
  // Your own: a Buy that says why not (as `masp buy` does).
  if (accountHex(l.sender) === hex(me.publicKey)) return ['<td data-purchase="own" class="muted">your listing</td>', `<td><button data-buy="${id}" title="your own listing">${l.terms.price > 0n ? 'Buy' : 'Open'}</button></td>`];
  if (!p) {
    const why = openness(l, now);
    return ['<td data-purchase="none" class="muted">—</td>', `<td><button data-buy="${id}"${why ? ` disabled title="${why}"` : ''}>${l.terms.price > 0n ? 'Buy' : 'Open'}</button></td>`];
  }
  switch (p.state.type) {
    case 'AwaitingKey':
      return [`<td data-purchase="awaiting" data-deadline="${p.state.value.deadline}">awaiting the key until block #${p.state.value.deadline}</td>`, '<td></td>'];
    case 'Delivered':
      return [`<td data-purchase="delivered" title="the Sender is paid at block #${p.state.value.release_at} unless you show the key is wrong">key delivered (paid out at #${p.state.value.release_at})</td>`, `<td><button data-get="${id}">Download</button></td>`];
    default:
      return ['<td data-purchase="settled">key delivered, settled</td>', `<td><button data-get="${id}">Download</button></td>`];
  }
}

export async function listings(el: HTMLElement): Promise<void> {
  const gen = ++generation;
  const api = chain();
  const w = await cipher();
  const me = who();
  const [entries, now] = await Promise.all([api.query.Listings.Listings.getEntries({ at: 'best' }), api.query.System.Number.getValue({ at: 'best' })]);
  entries.sort((a, b) => Number(a.keyArgs[0] - b.keyArgs[0]));
  const byId = new Map(entries.map((e) => [String(e.keyArgs[0]), e.value]));
  const purchases = new Map<string, Purchase>();
  if (me) {
    await Promise.all(entries.map(async (e) => purchases.set(String(e.keyArgs[0]), await api.query.Listings.Purchases.getValue(e.keyArgs[0], me.address, { at: 'best' }))));
  }
  // Sizes: the plaintext once the manifest was read here; else what the
  // contracts that make the file readable store (sealed, so a little more).
  const sealedSizes = await Promise.all(
    entries.map(async (e) => {
      const sizes = (await Promise.all(e.value.contracts.map((c) => api.apis.StorageMarketApi.contract(c)))).flatMap((c) => (c ? [c.size] : []));
      sizes.sort((a, b) => (b > a ? 1 : -1));
      return sizes.length >= e.value.need ? sizes.slice(0, e.value.need).reduce((a, b) => a + b, 0n) : undefined;
    }),
  );
  const rows = entries
    .map((e, i) => {
      const id = String(e.keyArgs[0]);
      const l = e.value;
      const k = known.get(id);
      const sealed = sealedSizes[i];
      const size = k
        ? `<td class="num" data-size="${k.size}" title="${esc(k.name)}">${bytes(k.size)}</td>`
        : sealed !== undefined
          ? `<td class="num muted" data-size="" title="sealed: the plaintext is a little smaller">≈ ${bytes(sealed)}</td>`
          : '<td class="num muted" data-size="" title="fewer of its contracts are stored than it needs">gone</td>';
      const why = openness(l, now);
      const [purchase, action] = cells(id, l, me, purchases.get(id), now);
      return `<tr data-listing="${id}" data-price="${l.terms.price}" data-kind="${l.terms.open_key ? 'public' : l.terms.to ? 'private' : l.terms.price > 0n ? 'paid' : 'free'}" data-open="${!why}">
        <td class="num">${id}</td><td><code title="${esc(l.sender)}">${esc(l.sender.slice(0, 8))}…</code></td><td>${esc(text(l.meta))}</td>${size}
        <td class="num">${l.terms.price > 0n ? masp(l.terms.price) : 'free'}</td><td>${kind(l)}</td><td class="num">${l.sold}${l.terms.max_buyers !== undefined ? ` of ${l.terms.max_buyers}` : ''}</td>
        <td${why ? ' class="muted"' : ''}>${why ?? 'open'}${l.terms.expires !== undefined && !why ? ` until #${l.terms.expires}` : ''}</td>${purchase}${action}</tr>`;
    })
    .join('');
  el.innerHTML = `<h1>Listings (${entries.length})</h1>
    <p class="muted">Files Senders listed with <code>masp share</code>: free, at a price, or public. A purchase holds the price in escrow until the Sender's agent puts the file key on chain, sealed to a key of yours (else you are refunded at the deadline); the Sender is paid after the dispute period. Block #${now}.</p>
    <div class="card" id="identity">${
      me
        ? `<p>Receiving as <code id="receiver">${esc(me.address)}</code>. <span class="muted">Your purchase keys are derived from your phrase, as <code>masp buy</code> derives them: this tab and the CLI open the same keys.</span></p>`
        : '<p class="muted">Open your identity to buy: the key the Sender seals the file key to is derived from your phrase. Public listings download without one.</p>'
    }
      <form id="open" class="inline">
        <label>Secret phrase <input name="phrase" type="password" autocomplete="off" style="width:36em" placeholder="twelve or twenty-four words, then //path if any"></label>
        <button>${me ? 'Open another' : 'Open'}</button></form>
      <div id="open-result"></div></div>
    <form id="limit" class="inline"><label>Pay at most <input name="max" placeholder="MASP" title="a paid listing is bought only at or below this price (the chain checks it too)"></label></form>
    <table id="listings"><thead><tr><th class="num">Listing</th><th>Sender</th><th>Description</th><th class="num">Size</th><th class="num">Price</th><th>Kind</th><th class="num">Sold</th><th>State</th><th>Yours</th><th></th></tr></thead>
    <tbody>${rows || '<tr><td colspan="10" class="muted">No listings: a Sender lists a stored file with <code>masp share FILE</code>.</td></tr>'}</tbody></table>
    <div id="listing-result"></div>`;

  onOpen(el, (who) => (opened = who), () => listings(el));
  const out = el.querySelector<HTMLElement>('#listing-result')!;
  const say = (html: string) => {
    out.innerHTML = html;
  };
  const fail = (e: unknown) => say(`<p class="error">${esc(String((e as Error).message ?? e))}</p>`);

  el.querySelectorAll<HTMLButtonElement>('button[data-buy]').forEach((b) =>
    b.addEventListener('click', async () => {
      const id = b.dataset.buy!;
      try {
        const limit = String(new FormData(el.querySelector<HTMLFormElement>('#limit')!).get('max') ?? '').trim();
        say('<p class="muted">Signing and waiting for the block…</p>');
        const deadline = await buy(w, api, who(), BigInt(id), byId.get(id)!, limit);
        say(`<p id="bought" data-listing="${id}">Listing ${id} is yours once its Sender's agent delivers the key${deadline !== undefined ? `, by block #${deadline} (else you are refunded)` : ''}; then download it here or with <code>masp get --listing ${id}</code>.</p>`);
        await refreshRow(el, gen, id);
      } catch (e) {
        fail(e);
      }
    }),
  );
  el.querySelectorAll<HTMLButtonElement>('button[data-get]').forEach((b) =>
    b.addEventListener('click', async () => {
      const id = b.dataset.get!;
      try {
        const l = byId.get(id)!;
        say(`<p class="muted">Listing ${id}: opening the key…</p>`);
        const t0 = performance.now();
        const me = who();
        const key = await fileKey(w, api, me, BigInt(id), l);
        const got = await receive(w, api, me ?? anonymousSigner(), BigInt(id), l, key, (msg) => say(`<p class="muted">${esc(msg)}</p>`));
        known.set(id, { name: got.name, size: got.blob.size });
        const cell = el.querySelector<HTMLElement>(`#listings tr[data-listing="${id}"] [data-size]`);
        if (cell) {
          cell.outerHTML = `<td class="num" data-size="${got.blob.size}" title="${esc(got.name)}">${bytes(got.blob.size)}</td>`;
        }
        const secs = (performance.now() - t0) / 1000;
        const a = document.createElement('a');
        a.href = URL.createObjectURL(got.blob);
        a.download = got.name || `listing-${id}`;
        document.body.appendChild(a);
        a.click();
        a.remove();
        say(`<p id="received" data-listing="${id}" data-bytes="${got.blob.size}">${esc(got.name)}: ${bytes(got.blob.size)} of listing ${id} downloaded, checked and opened in ${secs.toFixed(1)} s.</p>`);
      } catch (e) {
        fail(e);
      }
    }),
  );
  // A purchase waiting for its key: its row follows the chain until the
  // key is there (or the purchase is refunded).
  if (me) {
    for (const [id, p] of purchases) {
      if (p?.state.type === 'AwaitingKey') void follow(el, gen, id);
    }
  }
}

/** Redraws the purchase and action cells of listing `id`'s row (a new
 * render replaces the page when they change in a way that needs its
 * handlers: a Download button appearing). */
async function refreshRow(el: HTMLElement, gen: number, id: string): Promise<Purchase | 'gone'> {
  const api = chain();
  const me = who();
  const l = await api.query.Listings.Listings.getValue(BigInt(id), { at: 'best' });
  if (!l || !me || gen !== generation) return 'gone';
  const p = await api.query.Listings.Purchases.getValue(BigInt(id), me.address, { at: 'best' });
  const row = el.querySelector(`#listings tr[data-listing="${id}"]`);
  if (!row || gen !== generation) return 'gone';
  const before = row.querySelector('[data-purchase]')?.getAttribute('data-purchase');
  const [purchase] = cells(id, l, me, p, 0);
  const state = /data-purchase="([a-z]+)"/.exec(purchase)?.[1];
  if (state !== before) {
    // Rebuild the page (handlers included), keeping the message shown.
    const msg = el.querySelector('#listing-result')?.innerHTML ?? '';
    const limit = el.querySelector<HTMLInputElement>('#limit input[name=max]')?.value ?? '';
    await listings(el);
    const out = el.querySelector('#listing-result');
    if (out) out.innerHTML = msg;
    const input = el.querySelector<HTMLInputElement>('#limit input[name=max]');
    if (input) input.value = limit;
    return p;
  }
  return p;
}

/** Polls listing `id`'s purchase every two seconds while it awaits its
 * key and this page is shown. */
async function follow(el: HTMLElement, gen: number, id: string): Promise<void> {
  for (;;) {
    await sleep(2000);
    if (gen !== generation || !location.hash.startsWith('#listings')) return;
    try {
      const p = await refreshRow(el, gen, id);
      if (p === 'gone' || p?.state.type !== 'AwaitingKey') return;
    } catch {
      // The node is busy or gone for a moment: try again.
    }
  }
}

/** `masp buy` (`masp open` for a free listing): checks what the CLI
 * checks, then `listings.buy` with this account's purchase key for
 * `id`, signed here. The block by which the key must arrive. */
async function buy(w: Cipher, api: Api, me: Identity | undefined, id: bigint, l: Listing, limitText: string): Promise<number | undefined> {
  if (!me) throw new Error('open your identity with your secret phrase first (above): the key the Sender seals the file key to is derived from it');
  if (l.terms.open_key) throw new Error(`listing ${id} is public: nothing to buy; download it`);
  if (accountHex(l.sender) === hex(me.publicKey)) throw new Error(`listing ${id} is your own`);
  if (l.terms.to && accountHex(l.terms.to) !== hex(me.publicKey)) throw new Error(`listing ${id} is a private grant to ${l.terms.to}, not to you`);
  const now = await api.query.System.Number.getValue({ at: 'best' });
  const why = openness(l, now);
  if (why) throw new Error(`listing ${id} takes no new buyers: ${why}`);
  let max = 0n;
  if (l.terms.price > 0n) {
    if (!limitText) throw new Error(`listing ${id} costs ${masp(l.terms.price)}: type the most you will pay in "Pay at most"`);
    max = parseMasp(limitText);
    if (l.terms.price > max) throw new Error(`listing ${id} costs ${masp(l.terms.price)}, above your limit of ${masp(max)}`);
  } else if (limitText) {
    max = parseMasp(limitText);
  }
  if (await api.query.Listings.Purchases.getValue(id, me.address, { at: 'best' })) throw new Error(`you already bought listing ${id}`);
  const recipient = w.purchase_public_key(me.master, id);
  const r = await api.tx.Listings.buy({ listing: id, recipient: `0x${hex(recipient)}`, max_price: max }).signAndSubmit(me.signer);
  if (!r.ok) {
    const e = r.dispatchError;
    throw new Error(`the chain refused the purchase: ${e.type}${'value' in e && e.value ? ': ' + JSON.stringify(e.value) : ''}`);
  }
  if (!api.event.Listings.Bought.filter(r.events)[0]) throw new Error('the chain did not report the purchase');
  const p = await api.query.Listings.Purchases.getValue(id, me.address, { at: r.block.hash });
  return p?.state.type === 'AwaitingKey' ? p.state.value.deadline : undefined;
}

/** The file key of listing `id` for this account: the public one, or the
 * one sealed to its purchase, opened in WASM and checked against the
 * listing's commitment (as `masp get --listing`). */
async function fileKey(w: Cipher, api: Api, me: Identity | undefined, id: bigint, l: Listing): Promise<Uint8Array> {
  if (l.terms.open_key) {
    const key = hexBytes(l.terms.open_key);
    if (hex(w.key_commitment(key)) !== l.key_commitment.replace(/^0x/, '')) throw new Error(`listing ${id}'s public key is not the one it committed to`);
    return key;
  }
  if (!me) throw new Error(`open your identity first: the key of listing ${id} is sealed to your purchase`);
  const p = await api.query.Listings.Purchases.getValue(id, me.address, { at: 'best' });
  if (!p) throw new Error(`you have no purchase of listing ${id}: buy it (or open it if it is free) first`);
  if (p.state.type === 'AwaitingKey') {
    throw new Error(`the Sender has not delivered the key of listing ${id} yet (its agent may be offline); if it is not on chain by block #${p.state.value.deadline} your payment is refunded`);
  }
  const s = p.state.value.sealed;
  const sealed = new Uint8Array(80);
  sealed.set(hexBytes(s.ephemeral), 0);
  sealed.set(hexBytes(s.ciphertext), 32);
  sealed.set(hexBytes(s.tag), 64);
  return w.open_purchase_key(me.master, id, me.publicKey, sealed, hexBytes(l.key_commitment));
}

interface ListingManifestJson {
  file_id: string;
  name: string;
  size: number;
  sealing: string;
  k: number;
  m: number;
  shards: { index: number; size: number; root: string; chunk_roots: string[] }[];
}

interface Source {
  contract: bigint;
  endpoint: string;
  ticket?: string;
}

/** `masp get --listing`: the listed contracts still stored and their
 * hosts; the listing manifest from the first that gives one matching the
 * hash on chain and opening under `key`; each contract matched to the
 * shard whose root it stores; then the file stripe by stripe, any k
 * chunks of each (data shards first), every chunk checked against its
 * root and opened before use, with Receive tickets `s` signs. */
async function receive(
  w: Cipher,
  api: Api,
  s: Signer,
  id: bigint,
  l: Listing,
  key: Uint8Array,
  say: (msg: string) => void,
): Promise<{ name: string; blob: Blob }> {
  const errors: string[] = [];
  const hosts: { contract: bigint; endpoint: string; root: string }[] = [];
  for (const c of l.contracts) {
    const v = await api.apis.StorageMarketApi.contract(c);
    if (!v) {
      errors.push(`contract ${c} has ended`);
      continue;
    }
    const at = await endpoint(v.host);
    if (at) hosts.push({ contract: c, endpoint: at, root: v.merkle_root.replace(/^0x/, '').toLowerCase() });
    else errors.push(`contract ${c}: its host is not registered`);
  }
  if (!hosts.length) throw new Error(`no host of listing ${id} can be reached: ${errors.join('; ')}`);
  const hash = hexBytes(l.manifest);
  let lm: ListingManifestJson | undefined;
  for (const h of hosts) {
    try {
      const t = await receiveTicket(w, s, id, h.contract);
      const r = await fetch(`${h.endpoint}/v1/contracts/${h.contract}/listing-manifests/${hex(hash)}?ticket=${t}`);
      if (!r.ok) throw new Error(`HTTP ${r.status}: ${(await r.text()).trim()}`);
      lm = JSON.parse(w.open_listing_manifest(key, new Uint8Array(await r.arrayBuffer()), hash)) as ListingManifestJson;
      break;
    } catch (e) {
      errors.push(`${h.endpoint}: ${(e as Error).message ?? e}`);
    }
  }
  if (!lm) throw new Error(`no host returned listing ${id}'s manifest: ${errors.join('; ')}`);
  if (lm.sealing !== 'ShardKeys') throw new Error(`listing ${id} was listed by an older masp (one file key): download it with \`masp get --listing ${id}\``);
  const m = lm;
  // Every listed contract must store one of this file's shards.
  const sources = new Map<number, Source[]>();
  for (const h of hosts) {
    const shard = m.shards.find((x) => x.root === h.root);
    if (!shard) {
      console.warn(`contract ${h.contract} at ${h.endpoint} stores another file than listing ${id} names; skipped`);
      continue;
    }
    sources.set(shard.index, [...(sources.get(shard.index) ?? []), { contract: h.contract, endpoint: h.endpoint }]);
  }
  const fileId = hexBytes(m.file_id);
  const layout = JSON.parse(w.shard_layout(m.k, m.m, BigInt(m.size))) as { stripes: number; shards: { chunks: number; size: number }[] };
  const sealers = new Map<number, ShardSealer>();
  const sealer = async (t: number) => {
    let x = sealers.get(t);
    if (!x) {
      x = await ShardSealer.create(w, key, fileId, t, layout.shards[t].chunks);
      sealers.set(t, x);
    }
    return x;
  };
  const dead = new Set<number>();
  const fetchChunk = async (t: number, stripe: number): Promise<Uint8Array | undefined> => {
    for (const src of sources.get(t) ?? []) {
      try {
        src.ticket ??= await receiveTicket(w, s, id, src.contract, 0, 0xffffffff);
        const r = await fetch(`${src.endpoint}/v1/contracts/${src.contract}/chunks/${stripe}?ticket=${src.ticket}`);
        if (r.status === 402) throw new Error(`the host charges for egress: download with \`masp get --listing ${id}\``);
        if (!r.ok) throw new Error(`HTTP ${r.status}: ${(await r.text()).trim()}`);
        const sealed = new Uint8Array(await r.arrayBuffer());
        if (hex(w.chunk_root(sealed)) !== m.shards.find((x) => x.index === t)?.chunk_roots[stripe]) throw new Error('a chunk that does not match its root');
        return await (await sealer(t)).open(stripe, sealed);
      } catch (e) {
        console.warn(`listing ${id}: shard ${t} chunk ${stripe} from contract ${src.contract}: ${(e as Error).message ?? e}`);
      }
    }
    dead.add(t);
    return undefined;
  };
  const parts = await readStripes(w, m, layout.stripes, dead, fetchChunk, (done) => say(`Listing ${id}: ${m.name}, ${bytes(done)} of ${bytes(m.size)}…`));
  return { name: m.name, blob: new Blob(parts as BlobPart[]) };
}
