// Your files, as `masp ls` shows them: open your identity with your secret
// phrase (derived here, kept in this tab only), then every file the chain
// holds contracts for, named by its manifest, fetched from one of its hosts
// with a download ticket signed here and opened here (WASM, the CLI's own
// code), with its shards' health, what was paid and the escrow left.
import { ss58Decode } from '@polkadot-labs/hdkd-helpers';
import { chain, genesisHash } from '../chain';
import { bytes, esc, masp, parseMasp, text } from '../format';
import { onOpen, type Identity } from '../identity';
import { picked, type Pick } from '../picked';
import { RootPool } from '../roots';
import { ShardSealer } from '../seal';
import { readStripes } from '../stripes';
import { cipher, type Cipher } from '../wasm';

let me: Identity | undefined;

export const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** The identity opened on this tab, if any. */
export function identity(): Identity | undefined {
  return me;
}

/** A ticket signed by `who` for `op` on `contract`'s chunks `first..=last`,
 * valid five minutes, in its wire form. */
export async function ticket(w: Cipher, who: Identity, op: 'upload' | 'download', contract: bigint, first = 0, last = 0): Promise<string> {
  const json = JSON.stringify({
    op,
    contract: Number(contract),
    first_chunk: first,
    last_chunk: last,
    receiver: hex(who.publicKey),
    expires: Math.floor(Date.now() / 1000) + 300,
    nonce: hex(crypto.getRandomValues(new Uint8Array(16))),
  });
  const payload = w.ticket_payload(json, await genesisHash());
  return w.ticket_wire(json, who.publicKey, who.sign(payload));
}

export interface ManifestJson {
  request: number;
  file_id: string;
  name: string;
  size: number;
  sealing: string;
  k: number;
  m: number;
  legacy: boolean;
  shards: { index: number; size: number; root: string; chunk_roots: string[] }[];
  replicas: { contract: number; host: string; last_epoch: number; shard: number }[];
}

type Contract = Awaited<ReturnType<ReturnType<typeof chain>['apis']['StorageMarketApi']['sender_contracts']>>[number];

/** A host's endpoint, as registered (no trailing slash). */
export async function endpoint(host: string): Promise<string | undefined> {
  const view = await chain().apis.StorageMarketApi.host(host);
  return view ? text(view.endpoint).replace(/\/+$/, '') : undefined;
}

/** The manifest of file `request`, from the first of `contracts`' hosts
 * that gives one that opens; or why none did. */
async function manifest(w: Cipher, who: Identity, request: bigint, contracts: Contract[]): Promise<ManifestJson | string> {
  const why: string[] = [];
  for (const [id, c] of contracts) {
    try {
      const at = await endpoint(c.host);
      if (!at) throw new Error('its host is not registered');
      const r = await fetch(`${at}/v1/contracts/${id}/manifest?ticket=${await ticket(w, who, 'download', id)}`);
      if (!r.ok) throw new Error(`HTTP ${r.status}: ${(await r.text()).trim()}`);
      return JSON.parse(w.open_manifest(who.master, request, new Uint8Array(await r.arrayBuffer()))) as ManifestJson;
    } catch (e) {
      why.push(`contract ${id}: ${(e as Error).message ?? e}`);
    }
  }
  return why.join('; ') || 'no live contract';
}

function signIn(el: HTMLElement, again: () => Promise<void>): void {
  el.innerHTML = `<h1>Files</h1>
    <div class="card"><form id="open" class="inline">
      <label>Secret phrase <input name="phrase" type="password" autocomplete="off" style="width:36em" placeholder="twelve or twenty-four words, then //path if any"></label>
      <button>Open</button></form>
      <p class="muted">As <code>masp keys import</code> takes it. The phrase and the keys derived from it stay in this tab: files are sealed and opened here, hosts see only ciphertext.</p>
      <div id="open-result"></div></div>`;
  onOpen(el, (who) => (me = who), again);
}

export async function files(el: HTMLElement): Promise<void> {
  const who = me;
  if (!who) {
    signIn(el, () => files(el));
    return;
  }
  const api = chain();
  const w = await cipher();
  const [contracts, epoch] = await Promise.all([
    api.apis.StorageMarketApi.sender_contracts(who.address, 10_000),
    api.apis.StorageMarketApi.current_epoch(),
  ]);
  const byRequest = new Map<bigint, Contract[]>();
  for (const c of contracts) {
    const list = byRequest.get(c[1].request) ?? [];
    list.push(c);
    byRequest.set(c[1].request, list);
  }
  const byId = new Map(contracts.map(([id, c]) => [Number(id), c]));
  const found = await Promise.all(
    [...byRequest].map(async ([request, list]) => ({ request, list, m: await manifest(w, who, request, list) })),
  );
  const rows = found
    .sort((a, b) => Number(a.request - b.request))
    .map(({ request, list, m }) => {
      const paid = list.reduce((s, [, c]) => s + c.paid, 0n);
      const escrow = list.reduce((s, [, c]) => s + c.escrow, 0n);
      if (typeof m === 'string') {
        return `<tr data-file="${request}"><td class="num">${request}</td><td class="muted" title="${esc(m)}">(manifest not readable)</td><td></td><td></td><td class="num">${list.length} contracts</td><td class="num">${masp(paid)}</td><td class="num">${masp(escrow)}</td><td></td></tr>`;
      }
      // A shard is alive while an active contract of the manifest holds it.
      const alive = new Set(
        m.replicas
          .filter((r) => {
            const c = byId.get(r.contract);
            return c && c.state.type === 'Active' && c.last_epoch >= epoch;
          })
          .map((r) => r.shard),
      ).size;
      const health = alive >= m.k ? (alive >= m.k + m.m ? 'ok' : 'degraded') : 'lost';
      return `<tr data-file="${request}" data-name="${esc(m.name)}" data-size="${m.size}"><td class="num">${request}</td><td>${esc(m.name)}</td><td class="num">${bytes(m.size)}</td>
        <td class="num">${m.k}+${m.m}</td><td class="num ${health}" data-alive="${alive}">${alive} of ${m.k + m.m} shards (${health})</td>
        <td class="num">${masp(paid)}</td><td class="num">${masp(escrow)}</td>
        <td><button data-download="${request}"${alive >= m.k ? '' : ' disabled'}>Download</button></td></tr>`;
    })
    .join('');
  el.innerHTML = `<h1>Files of <code>${esc(who.address)}</code></h1>
    <table id="files"><thead><tr><th class="num">File</th><th>Name</th><th class="num">Size</th><th class="num">k+m</th><th class="num">Health</th><th class="num">Paid</th><th class="num">Escrow left</th><th></th></tr></thead>
    <tbody>${rows || '<tr><td colspan="8" class="muted">No files: store one with <code>masp put</code>.</td></tr>'}</tbody></table>
    <div id="download-result"></div>
    <div class="card"><h2>Put a file</h2><form id="put" class="inline">
      <label>File <input name="file" type="file"></label>
      <label>Shards <input name="shards" value="1+1" size="5" title="K+M: any K of the K+M shards give the file back (1+M: M+1 copies)"></label>
      <label>Epochs <input name="duration" value="20" size="5"></label>
      <label>Max price / GiB / epoch <input name="max" placeholder="the market's" size="10"></label>
      <button>Put</button></form>
      <p class="muted" id="put-hosts">${
        picked().length
          ? `On the offers picked on the <a href="#market">Market</a> page, shard i on the i-th: ${picked().map((p) => `#${esc(p.offer)}`).join(', ')}.`
          : 'On the cheapest hosts the market has (or pick offers on the <a href="#market">Market</a> page).'
      }</p>
      <p class="muted">Sealed here (the browser's AES-GCM, the CLI's own code in WASM) under keys derived from your phrase: hosts get only ciphertext. The chain places one contract per shard, each on its own host.</p>
      <div id="put-result"></div></div>`;
  const putForm = el.querySelector<HTMLFormElement>('#put')!;
  putForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const out = el.querySelector('#put-result')!;
    const f = new FormData(putForm);
    try {
      const file = f.get('file');
      if (!(file instanceof File) || !file.name) throw new Error('pick a file');
      const km = /^\s*(\d+)\s*\+\s*(\d+)\s*$/.exec(String(f.get('shards')));
      if (!km) throw new Error('shards are K+M, e.g. 1+1 (two copies) or 4+2');
      const duration = Number(String(f.get('duration')));
      if (!Number.isInteger(duration) || duration < 1) throw new Error('epochs: a whole number, at least 1');
      const maxText = String(f.get('max') ?? '').trim();
      const t0 = performance.now();
      const request = await put(w, who, file, Number(km[1]), Number(km[2]), duration, maxText ? parseMasp(maxText) : undefined, picked(), (msg) => {
        out.innerHTML = `<p class="muted">${esc(msg)}</p>`;
      });
      const secs = (performance.now() - t0) / 1000;
      out.innerHTML = `<p id="stored" data-file="${request}">${esc(file.name)} is stored as file ${request} (${bytes(file.size)} in ${secs.toFixed(1)} s); <code>masp get ${request}</code> reads it.</p>`;
    } catch (e) {
      out.innerHTML = `<p class="error">${esc(String((e as Error).message ?? e))}</p>`;
    }
  });
  const manifests = new Map(found.filter((f) => typeof f.m !== 'string').map((f) => [String(f.request), f.m as ManifestJson]));
  el.querySelectorAll<HTMLButtonElement>('button[data-download]').forEach((b) =>
    b.addEventListener('click', async () => {
      const out = el.querySelector('#download-result')!;
      const m = manifests.get(b.dataset.download!)!;
      out.innerHTML = `<p class="muted">Downloading ${esc(m.name)}…</p>`;
      try {
        const t0 = performance.now();
        const blob = await download(w, who, m, byId, (done, total) => {
          out.innerHTML = `<p class="muted">Downloading ${esc(m.name)}: ${bytes(done)} of ${bytes(total)}…</p>`;
        });
        const secs = (performance.now() - t0) / 1000;
        const a = document.createElement('a');
        a.href = URL.createObjectURL(blob);
        a.download = m.name || `file-${m.request}`;
        document.body.appendChild(a);
        a.click();
        a.remove();
        out.innerHTML = `<p id="downloaded" data-bytes="${blob.size}" data-seconds="${secs.toFixed(3)}">${esc(m.name)}: ${bytes(blob.size)} downloaded, checked and opened in ${secs.toFixed(1)} s.</p>`;
      } catch (e) {
        out.innerHTML = `<p class="error">${esc(String((e as Error).message ?? e))}</p>`;
      }
    }),
  );
}

const hexBytes = (h: string): Uint8Array => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));

/** Where a shard's chunks can be read: an active contract holding it. */
interface Source {
  contract: bigint;
  endpoint: string;
  ticket?: string;
}

/** File `m`, as `masp get` reads it: stripe by stripe, any k chunks of a
 * stripe (data shards first, so nothing is decoded while they answer), each
 * checked against its chunk root and opened before it is used; a shard whose
 * host fails is left for the others. */
async function download(
  w: Cipher,
  who: Identity,
  m: ManifestJson,
  byId: Map<number, Contract[1]>,
  progress: (done: number, total: number) => void,
): Promise<Blob> {
  if (m.sealing !== 'ShardKeys') throw new Error('this file was sealed by an older masp (one file key): download it with `masp get`');
  const fileId = hexBytes(m.file_id);
  const fileKey = w.file_key(who.master, fileId);
  const layout = JSON.parse(w.shard_layout(m.k, m.m, BigInt(m.size))) as { stripes: number; shards: { chunks: number; size: number }[] };
  const sources = new Map<number, Source[]>();
  for (const r of m.replicas) {
    const c = byId.get(r.contract);
    if (!c || c.state.type !== 'Active') continue;
    const at = await endpoint(c.host);
    if (at) sources.set(r.shard, [...(sources.get(r.shard) ?? []), { contract: BigInt(r.contract), endpoint: at }]);
  }
  const dead = new Set<number>();
  const sealers = new Map<number, ShardSealer>();
  const sealer = async (t: number) => {
    let s = sealers.get(t);
    if (!s) {
      s = await ShardSealer.create(w, fileKey, fileId, t, layout.shards[t].chunks);
      sealers.set(t, s);
    }
    return s;
  };
  /** Chunk `s` of shard `t`, opened; undefined if none of its hosts gives
   * one that checks. */
  const fetchChunk = async (t: number, s: number): Promise<Uint8Array | undefined> => {
    for (const src of sources.get(t) ?? []) {
      try {
        // One ticket per contract for all its chunks: each is read once.
        src.ticket ??= await ticket(w, who, 'download', src.contract, 0, 0xffffffff);
        const r = await fetch(`${src.endpoint}/v1/contracts/${src.contract}/chunks/${s}?ticket=${src.ticket}`);
        if (r.status === 402) throw new Error('the host charges for egress: download with `masp get`');
        if (!r.ok) throw new Error(`HTTP ${r.status}: ${(await r.text()).trim()}`);
        const sealed = new Uint8Array(await r.arrayBuffer());
        if (hex(w.chunk_root(sealed)) !== m.shards.find((x) => x.index === t)?.chunk_roots[s]) throw new Error('a chunk that does not match its root');
        return await (await sealer(t)).open(s, sealed);
      } catch (e) {
        console.warn(`shard ${t} chunk ${s} from contract ${src.contract}: ${(e as Error).message ?? e}`);
      }
    }
    dead.add(t);
    return undefined;
  };
  const parts = await readStripes(w, m, layout.stripes, dead, fetchChunk, (done) => progress(done, m.size));
  return new Blob(parts as BlobPart[]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A host's answer, or an error that says which host and why. */
async function call(url: string, init?: RequestInit): Promise<Response> {
  const r = await fetch(url, init);
  if (!r.ok) throw new Error(`${url.replace(/\?.*/, '')}: HTTP ${r.status}: ${(await r.text()).trim()}`);
  return r;
}

/** Puts `file` as `masp put --shards K+M` does: seals every shard here to
 * learn its chunk roots, places them with one `place_shards` call signed
 * here (`place_on_offers` on the offers `picks`, as `masp put --hosts`), waits for the matches, hands each host its chunk roots, chunks and
 * the sealed manifest (upload tickets signed here), and waits until every
 * host confirmed on chain. The file id. */
async function put(
  w: Cipher,
  who: Identity,
  file: File,
  k: number,
  m: number,
  duration: number,
  maxPrice: bigint | undefined,
  picks: Pick[],
  say: (msg: string) => void,
): Promise<bigint> {
  const api = chain();
  const size = BigInt(file.size);
  const layout = JSON.parse(w.shard_layout(k, m, size)) as { stripes: number; shards: { chunks: number; size: number }[] };
  const stored = layout.shards.map((s, t) => [t, s] as const).filter(([, s]) => s.chunks > 0);
  const largest = BigInt(Math.max(...stored.map(([, s]) => s.size)));
  let price: bigint;
  if (picks.length) {
    // The offers picked on the Market page: one per stored shard, each
    // still in the book and within the price limit (the chain checks the
    // rest: capacity, term, the host's deposit).
    if (picks.length !== stored.length) {
      throw new Error(`${k}+${m} stores this file as ${stored.length} shards, each on its own host, but ${picks.length} offer(s) are picked on the Market page: pick ${stored.length}, or clear them to let the market choose`);
    }
    const offers = await Promise.all(picks.map((p) => api.query.StorageMarket.Offers.getValue(BigInt(p.offer))));
    offers.forEach((o, i) => {
      if (!o) throw new Error(`offer #${picks[i].offer} is no longer in the book: pick another on the Market page`);
      if (maxPrice !== undefined && o.price > maxPrice) throw new Error(`offer #${picks[i].offer} asks ${masp(o.price)} per GiB per epoch, above your limit of ${masp(maxPrice)}`);
    });
    price = maxPrice ?? offers.reduce((a, o) => (o!.price > a ? o!.price : a), 0n);
  } else {
    const quote = await api.apis.StorageMarketApi.quote(largest, duration, stored.length, maxPrice, 0);
    if (quote.lines.length < stored.length) {
      throw new Error(`${k}+${m} stores this file as ${stored.length} shards, each on its own host, but only ${quote.lines.length} host(s) offer storage for ${duration} epochs${maxPrice === undefined ? '' : ` at most ${masp(maxPrice)}`} now`);
    }
    price = maxPrice ?? quote.lines.reduce((a, l) => (l.price > a ? l.price : a), 0n);
  }

  // Seal: every shard's chunks and their roots, a stripe at a time.
  say(`Sealing ${file.name}…`);
  const plain = new Uint8Array(await file.arrayBuffer());
  if (BigInt(plain.length) !== size) throw new Error('the file changed while it was read');
  const fileId = crypto.getRandomValues(new Uint8Array(16));
  const fileKey = w.file_key(who.master, fileId);
  const sealed: Uint8Array[][] = layout.shards.map(() => []);
  const roots: string[][] = layout.shards.map(() => []);
  const sealers = await Promise.all(layout.shards.map((s, t) => ShardSealer.create(w, fileKey, fileId, t, s.chunks)));
  // A few chunks at once, each sealed (WebCrypto works off the main thread)
  // then rooted in a worker (roots.ts), one per core; each lands in its
  // shard's place whatever order they finish in.
  const pool = new RootPool();
  const depth = 3 * pool.size;
  const flight: Promise<void>[] = [];
  try {
    let at = 0;
    for (let s = 0; s < layout.stripes; s++) {
      const lens = w.stripe_lens(k, m, size, BigInt(s));
      let dataLen = 0;
      for (let t = 0; t < k; t++) dataLen += lens[t];
      const stripe = plain.subarray(at, at + dataLen);
      at += dataLen;
      const parity = m > 0 ? w.stripe_parity(k, m, size, BigInt(s), stripe) : new Uint8Array();
      let d = 0;
      let p = 0;
      for (let t = 0; t < k + m; t++) {
        if (lens[t] === 0) continue;
        const chunk = t < k ? stripe.subarray(d, (d += lens[t])) : parity.subarray(p, (p += lens[t]));
        const j = sealed[t].length;
        sealed[t].push(new Uint8Array());
        if (flight.length >= depth) await flight.shift();
        flight.push(
          (async () => {
            const r = await pool.rooted(await sealers[t].seal(s, chunk));
            sealed[t][j] = r.chunk;
            roots[t][j] = hex(r.root);
          })(),
        );
      }
    }
    await Promise.all(flight);
  } finally {
    // On an error, the chunks still in flight fail too: quietly.
    void Promise.allSettled(flight);
    pool.close();
  }
  const shards = stored.map(([t, s]) => ({
    index: t,
    size: s.size,
    root: hex(w.root_of_chunk_roots(hexBytes(roots[t].join('')))),
    chunk_roots: roots[t],
  }));

  // Place: one contract per shard, each on its own host.
  say('Placing the request (sign in the chain)…');
  const specs = shards.map((s) => ({ size: BigInt(s.size), merkle_root: `0x${s.root}` as `0x${string}`, leaf_count: w.leaf_count(BigInt(s.size)) }));
  const tx = picks.length
    ? api.tx.StorageMarket.place_on_offers({ shards: specs, offers: picks.map((p) => BigInt(p.offer)), duration, max_price: price })
    : api.tx.StorageMarket.place_shards({ shards: specs, avoid: [], duration, max_price: price, min_rating: 0 });
  const placed = await tx.signAndSubmit(who.signer);
  if (!placed.ok) {
    const e = placed.dispatchError;
    throw new Error(`the chain refused the request: ${e.type}${'value' in e && e.value ? ': ' + JSON.stringify(e.value) : ''}`);
  }
  const ev = api.event.StorageMarket.RequestPlaced.filter(placed.events)[0];
  if (!ev) throw new Error('the chain did not report the request');
  const request = ev.payload.request;

  // The matches: every shard on its host.
  say(`File ${request}: waiting for hosts…`);
  let contracts: Contract[] = [];
  for (let i = 0; i < 240 && contracts.length < shards.length; i++) {
    contracts = (await api.apis.StorageMarketApi.sender_contracts(who.address, 10_000)).filter(([, c]) => c.request === request);
    if (contracts.length < shards.length) await sleep(500);
  }
  const replicas = contracts.flatMap(([id, c]) => {
    const s = shards.find((x) => `0x${x.root}` === c.merkle_root);
    return s ? [{ contract: Number(id), host: hex(ss58Decode(c.host)[0]), last_epoch: c.last_epoch, shard: s.index, endpoint: '' }] : [];
  });
  if (replicas.length < shards.length) {
    throw new Error(`file ${request}: ${replicas.length} of ${shards.length} shards found a host within two minutes; \`masp put\` resumes only its own puts: remove it with \`masp rm ${request}\``);
  }
  const manifest = w.seal_new_manifest(
    who.master,
    JSON.stringify({ request: Number(request), file_id: hex(fileId), name: file.name, size: file.size, k, m, now: Math.floor(Date.now() / 1000), shards, replicas }),
  );

  // Upload: roots, chunks, manifest, to every host.
  let sent = 0;
  const total = stored.reduce((n, [, s]) => n + s.size, 0);
  await Promise.all(
    replicas.map(async (r) => {
      const c = contracts.find(([id]) => Number(id) === r.contract)![1];
      const base = `${await endpoint(c.host)}/v1/contracts/${r.contract}`;
      const t = await ticket(w, who, 'upload', BigInt(r.contract), 0, 0xffffffff);
      let status: { chunks: number; roots_uploaded: boolean; missing: number[] } | undefined;
      for (let i = 0; i < 120 && !status; i++) {
        try {
          status = await (await call(base)).json();
        } catch {
          await sleep(500); // the host learns of the contract within a few blocks
        }
      }
      if (!status) throw new Error(`contract ${r.contract}: its host does not know it after a minute`);
      const octets = { 'Content-Type': 'application/octet-stream' };
      if (!status.roots_uploaded) {
        await call(`${base}/roots?ticket=${t}`, { method: 'PUT', headers: octets, body: hexBytes(roots[r.shard].join('')) as BlobPart });
      }
      for (const i of status.missing) {
        await call(`${base}/chunks/${i}?ticket=${t}`, { method: 'PUT', headers: octets, body: sealed[r.shard][i] as BlobPart });
        sent += sealed[r.shard][i].length;
        say(`File ${request}: ${bytes(sent)} of ${bytes(total)} sent…`);
      }
      const mr = await fetch(`${base}/manifest?ticket=${t}`, { method: 'PUT', headers: octets, body: manifest as BlobPart });
      if (!mr.ok && mr.status !== 409) throw new Error(`contract ${r.contract}: the manifest: HTTP ${mr.status}: ${(await mr.text()).trim()}`);
    }),
  );

  // Confirmations: each host proves it holds its shard before it is paid.
  say(`File ${request}: waiting for the hosts to confirm…`);
  for (const r of replicas) {
    for (let i = 0; ; i++) {
      const c = await api.apis.StorageMarketApi.contract(BigInt(r.contract));
      if (!c) throw new Error(`contract ${r.contract} ended before its host confirmed the upload`);
      if (c.state.type === 'Active') break;
      if (i >= 240) throw new Error(`contract ${r.contract}: its host has not confirmed the upload within two minutes`);
      await sleep(500);
    }
  }
  return request;
}
