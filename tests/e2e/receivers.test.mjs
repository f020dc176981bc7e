// Receivers, end to end (issue 19): a real dev node, two `masp-host`
// daemons and the `masp` CLI for three people with their own phrases — a
// Sender, a Receiver and an outsider — all on 127.0.0.1.
//
// - paid: the Sender shares a stored file at 5 MASP; the Receiver buys it
//   with only its own keys; the Sender's `masp agent` seals the file key to
//   it; the Receiver downloads the file byte-identical from the hosts; the
//   price reaches the Sender in full after the dispute period; each host
//   is paid for exactly the bytes it served (egress receipts redeemed on
//   chain), and a host that serves nothing is paid nothing;
// - free and public listings: opened, or read by anyone with no purchase;
// - the agent offline: the buyer is refunded after the key deadline;
// - the outsider: no purchase, no key; a Receive ticket it signs itself is
//   refused by the hosts (403, with the reason), and so is a Receiver's
//   ticket replayed;
// - after `masp unshare` a new buy is refused and the old buyer still reads;
// - bad input (buy twice, unknown listing, someone else's file, too little
//   money): a clear error and no change.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Keyring } from '@polkadot/keyring';
import { u8aConcat, u8aToHex, stringToU8a, bnToU8a } from '@polkadot/util';
import { cryptoWaitReady, xxhashAsHex } from '@polkadot/util-crypto';

import { startDevNode, submit } from './lib/node.mjs';
import { maspUser, startHost } from './lib/hosts.mjs';

const UNIT = 10n ** 12n;
const EPOCH = 10; // blocks of 500 ms
const KEY_DEADLINE = 30; // blocks, set below
const DISPUTE_PERIOD = 40;
const RETRIEVAL_PERIOD = 12; // blocks a host has to answer a challenge
const PURCHASE_DEPOSIT = UNIT / 100n; // the runtime's PurchaseDeposit
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const GIB = 1n << 30n;
const EGRESS_PRICE = UNIT; // planck per GiB served, Charlie's (Bob: twice)
const PLAIN_CHUNK = (1 << 20) - 16;
const cipherSize = (n) => n + 16 * Math.max(1, Math.ceil(n / PLAIN_CHUNK));
const egressCost = (bytes, price) => (BigInt(bytes) * price + GIB - 1n) / GIB;

let node;
let api;
let keyring;
let alice;
let hosts = {};
let sender;
let receiver;
let outsider;
let work;
let fileId;
let plain;

const setParam = async (key, type, value) =>
  submit(api, api.tx.sudo.sudo(api.tx.system.setStorage([[xxhashAsHex(key, 128), u8aToHex(api.createType(type, value).toU8a())]])), alice);
const best = async () => (await api.rpc.chain.getHeader()).number.toNumber();
const free = async (address) => (await api.query.system.account(address)).data.free.toBigInt();

/** A `masp` user with a new phrase and `funds` MASP. */
async function person(funds = 1000n) {
  const u = maspUser({ nodeUrl: node.rpcUrl });
  const r = await u.masp(['keys', 'new']);
  assert.equal(r.code, 0, r.stderr);
  u.address = r.stdout.match(/Account: (\S+)/)[1];
  u.pair = keyring.addFromMnemonic(r.stdout.trim().split('\n').at(-1).trim());
  if (funds > 0n) await submit(api, api.tx.balances.transferKeepAlive(u.address, funds * UNIT), alice);
  return u;
}

async function ok(u, args) {
  const r = await u.masp(args);
  assert.equal(r.code, 0, `masp ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function refused(u, args, reason) {
  const r = await u.masp(args);
  assert.notEqual(r.code, 0, `masp ${args.join(' ')} should fail: ${r.stdout}`);
  assert.match(r.stderr, reason);
  return r.stderr;
}

/** Planck of a decimal MASP amount as the CLI prints it ("0.0015"). */
const planck = (masp) => {
  const [whole, frac = ''] = masp.split('.');
  return BigInt(whole) * UNIT + BigInt((frac + '0'.repeat(12)).slice(0, 12));
};

const listingOf = (stdout) => Number(stdout.match(/as listing (\d+)/)[1]);

async function share(args) {
  return listingOf(await ok(sender, ['share', String(fileId), ...args]));
}

async function getListing(u, listing, name, extra = []) {
  const out = join(work, name);
  await ok(u, ['get', '--listing', String(listing), '-o', out, ...extra]);
  return readFileSync(out);
}

before(async () => {
  await cryptoWaitReady();
  keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  alice = keyring.addFromUri('//Alice');
  node = await startDevNode({ blockTimeMs: 500 });
  api = node.api;
  await setParam(':EpochLength:', 'u32', EPOCH);
  await setParam(':ListingKeyDeadline:', 'u32', KEY_DEADLINE);
  await setParam(':ListingDisputePeriod:', 'u32', DISPUTE_PERIOD);
  // Both hosts charge for egress (Bob more than Charlie).
  hosts.bob = await startHost({ name: 'bob', suri: '//Bob', nodeUrl: node.rpcUrl, price: 10n ** 9n, egressPrice: 2n * EGRESS_PRICE });
  hosts.charlie = await startHost({ name: 'charlie', suri: '//Charlie', nodeUrl: node.rpcUrl, price: 2n * 10n ** 9n, egressPrice: EGRESS_PRICE });
  hosts.bob.account = keyring.addFromUri('//Bob').address;
  hosts.charlie.account = keyring.addFromUri('//Charlie').address;
  sender = await person();
  receiver = await person();
  outsider = await person();
  work = mkdtempSync(join(tmpdir(), 'masp-receivers-'));
  // Three chunks and a bit: several tickets per download.
  plain = randomBytes(3 * (1 << 20) + 12345);
  const path = join(work, 'film.bin');
  writeFileSync(path, plain);
  const out = await ok(sender, ['put', path, '--replicas', '2', '--duration', '20', '--wait', '120']);
  fileId = Number(out.match(/as file (\d+)/)[1]);
});

after(async () => {
  for (const h of Object.values(hosts)) await h.cleanup().catch(() => {});
  for (const u of [sender, receiver, outsider]) u?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
  if (node) await node.stop();
});

test('a paid listing: the Receiver gets the file with its own keys and the Sender is paid in full', { timeout: 300_000 }, async () => {
  const listing = await share(['--price', '5', '--meta', 'a film, paid']);
  const shown = await ok(receiver, ['listings', '--search', 'paid']);
  assert.match(shown, new RegExp(`^\\s*${listing}\\s+${sender.address}\\s+5(\\.0+)? MASP`, 'm'));

  const before = await free(receiver.address);
  const bought = await ok(receiver, ['buy', String(listing)]);
  assert.match(bought, /held until the Sender's key arrives/);
  const paid = before - (await free(receiver.address));
  assert.ok(paid >= 5n * UNIT + PURCHASE_DEPOSIT && paid < 5n * UNIT + PURCHASE_DEPOSIT + UNIT / 10n, `held ${paid}`);
  // No key yet: a clear error, nothing written.
  await refused(receiver, ['get', '--listing', String(listing), '-o', join(work, 'early'), '--wait', '0'], /has not delivered the key/);

  const agent = await ok(sender, ['agent', '--once']);
  assert.match(agent, new RegExp(`delivered the key of listing ${listing} to ${receiver.address}`));
  const senderAfterDelivery = await free(sender.address);
  assert.ok((await getListing(receiver, listing, 'paid.out')).equals(plain), 'byte-identical');

  // Each host is paid for what it served this Receiver, and only that:
  // together they served the ciphertext once; each was paid its own price
  // for its own bytes, no more.
  const channel = async (h) => (await api.query.egress.channels(receiver.address, h.account, 'Egress')).unwrap();
  const served = async () => (await Promise.all(Object.values(hosts).map(channel))).reduce((n, c) => n + c.bytesPaid.toNumber(), 0);
  let wait = Date.now() + 60_000;
  while ((await served()) < cipherSize(plain.length)) {
    assert.ok(Date.now() < wait, 'both hosts redeemed their receipts');
    await sleep(1000);
  }
  assert.equal(await served(), cipherSize(plain.length), 'paid for the ciphertext once, not more');
  // A replicated file is read from the fastest replica (a spare is asked
  // only when it is slow or fails): one host or both served it.
  let servers = 0;
  for (const [h, price] of [[hosts.bob, 2n * EGRESS_PRICE], [hosts.charlie, EGRESS_PRICE]]) {
    const c = await channel(h);
    if (c.bytesPaid.toNumber() === 0) continue;
    servers += 1;
    assert.equal(c.price.toBigInt(), price);
    assert.equal(c.paid.toBigInt(), egressCost(c.bytesPaid.toNumber(), price), `${h.name} paid its price for its bytes`);
  }
  assert.ok(servers >= 1, 'a host served the file');

  // The price reaches the Sender in full once the dispute period is over.
  const purchase = async () => (await api.query.listings.purchases(listing, receiver.address)).unwrap().state;
  wait = Date.now() + 120_000;
  while (!(await purchase()).isSettled) {
    assert.ok(Date.now() < wait, 'settled in time');
    await sleep(1000);
  }
  assert.equal(await free(sender.address), senderAfterDelivery + 5n * UNIT, 'the Sender is paid the price, no fee taken');
  // Another agent pass has nothing to do.
  assert.match(await ok(sender, ['agent', '--once']), /0 key\(s\) delivered/);
});

test('free and public listings: opened by a Receiver, or read by anyone', { timeout: 300_000 }, async () => {
  const freeListing = await share(['--free']);
  await ok(receiver, ['open', String(freeListing)]);
  await ok(sender, ['agent', '--once']);
  assert.ok((await getListing(receiver, freeListing, 'free.out')).equals(plain));

  const publicListing = await share(['--public']);
  await refused(outsider, ['buy', String(publicListing)], /public: nothing to buy/);
  assert.ok((await getListing(outsider, publicListing, 'public.out')).equals(plain), 'anyone reads a public listing');
});

test('the Sender agent offline: the buyer is refunded after the deadline', { timeout: 300_000 }, async () => {
  const listing = await share(['--price', '2']);
  const before = await free(outsider.address);
  await ok(outsider, ['buy', String(listing)]);
  const fee = before - (await free(outsider.address)) - 2n * UNIT - PURCHASE_DEPOSIT;
  const deadline = Date.now() + 120_000;
  while ((await api.query.listings.purchases(listing, outsider.address)).isSome) {
    assert.ok(Date.now() < deadline, 'refunded in time');
    await sleep(1000);
  }
  assert.equal(await free(outsider.address), before - fee, 'the price and deposit are back; only the fee was spent');
  await refused(outsider, ['get', '--listing', String(listing), '-o', join(work, 'x'), '--wait', '0'], /no purchase of listing/);
});

// A Receiver's ticket, built and signed here (SCALE: op Receive = 2 with
// its listing, contract, chunk range, receiver, expiry, nonce).
function receiveTicket({ listing, contract, chunk = 0, signer, receiverKey = signer.publicKey }) {
  const t = u8aConcat(
    new Uint8Array([2]),
    bnToU8a(listing, { bitLength: 64 }),
    bnToU8a(contract, { bitLength: 64 }),
    bnToU8a(chunk, { bitLength: 32 }),
    bnToU8a(chunk, { bitLength: 32 }),
    receiverKey,
    bnToU8a(Math.floor(Date.now() / 1000) + 60, { bitLength: 64 }),
    randomBytes(16),
  );
  const sig = signer.sign(u8aConcat(stringToU8a('masp/ticket/v2'), api.genesisHash.toU8a(), t));
  return Buffer.from(u8aConcat(t, signer.publicKey, sig)).toString('hex');
}

test('an outsider gets nothing: no key, and hosts refuse its tickets with the reason', { timeout: 300_000 }, async () => {
  const listing = await share(['--price', '1']);
  await ok(receiver, ['buy', String(listing)]);
  await ok(sender, ['agent', '--once']);
  await refused(outsider, ['get', '--listing', String(listing), '-o', join(work, 'y'), '--wait', '0'], /no purchase of listing/);

  // The Receiver reads first (this opens its channel with the host that
  // served it: reads go to the fastest replica, so pick that one).
  await ok(receiver, ['get', '--listing', String(listing), '-o', join(work, 'own.out')]);
  const l = (await api.query.listings.listings(listing)).unwrap();
  let contract;
  let hostAccount;
  for (const c of l.contracts.map((x) => x.toNumber())) {
    const h = (await api.query.storageMarket.contracts(c)).unwrap().host.toString();
    if ((await api.query.egress.channels(receiver.address, h, 'Egress')).isSome) {
      contract = c;
      hostAccount = h;
      break;
    }
  }
  assert.ok(contract !== undefined, 'the Receiver has a channel with one of the listing\'s hosts');
  const url = Object.values(hosts).find((h) => h.account === hostAccount)?.url;
  assert.ok(url, 'the contract host runs here');
  const chunk = (t) => fetch(`${url}/v1/contracts/${contract}/chunks/0?ticket=${t}`);

  // The Receiver's own ticket, with a receipt for the chunk (the host
  // charges for egress), is served once. Its get may have spent the
  // channel's allowance: top it up for the one more MiB signed here.
  await submit(api, api.tx.egress.openChannel(hostAccount, 'Egress', UNIT, UNIT * 1000n), receiver.pair);
  const ch = (await api.query.egress.channels(receiver.address, hostAccount, 'Egress')).unwrap();
  const status = await (await fetch(`${url}/v1/egress/${u8aToHex(receiver.pair.publicKey)}`)).json();
  const bytes = BigInt(status.served) + BigInt(1 << 20);
  const payload = u8aConcat(stringToU8a('masp/egress-receipt/v1'), api.genesisHash.toU8a(),
    bnToU8a(ch.id.toNumber(), { bitLength: 64 }), keyring.decodeAddress(hostAccount), bnToU8a(bytes, { bitLength: 64 }));
  const receipt = Buffer.from(u8aConcat(bnToU8a(ch.id.toNumber(), { bitLength: 64 }), bnToU8a(bytes, { bitLength: 64 }),
    receiver.pair.sign(payload))).toString('hex');
  const good = receiveTicket({ listing, contract, signer: receiver.pair });
  let res = await chunk(receiveTicket({ listing, contract, signer: receiver.pair }));
  assert.equal(res.status, 402, 'no receipt, no data');
  assert.match(await res.text(), /receipt/);
  res = await fetch(`${url}/v1/contracts/${contract}/chunks/0?receipt=${receipt}&ticket=${good}`);
  assert.equal(res.status, 200, await res.clone().text());
  res = await fetch(`${url}/v1/contracts/${contract}/chunks/0?receipt=${receipt}&ticket=${good}`);
  assert.equal(res.status, 403);
  assert.match(await res.text(), /already used/);
  // The outsider signs its own: the chain shows it has no access.
  res = await chunk(receiveTicket({ listing, contract, signer: outsider.pair }));
  assert.equal(res.status, 403);
  assert.match(await res.text(), /no access to listing/);
  // Naming the Receiver but signed by the outsider.
  res = await chunk(receiveTicket({ listing, contract, signer: outsider.pair, receiverKey: receiver.pair.publicKey }));
  assert.ok([401, 403].includes(res.status), `HTTP ${res.status}`);
});

test('after unshare a new buy is refused and an old buyer still reads', { timeout: 300_000 }, async () => {
  const listing = await share(['--free']);
  await ok(receiver, ['open', String(listing)]);
  await ok(sender, ['agent', '--once']);
  await ok(sender, ['unshare', String(listing)]);
  await refused(outsider, ['open', String(listing)], /ListingClosed/);
  assert.ok((await getListing(receiver, listing, 'unshared.out')).equals(plain));
});

test('bad input gets a clear error and changes nothing', { timeout: 300_000 }, async () => {
  const listing = await share(['--price', '3', '--max-buyers', '5']);
  await ok(receiver, ['buy', String(listing)]);
  const balance = await free(receiver.address);
  await refused(receiver, ['buy', String(listing)], /AlreadyBought/);
  await refused(receiver, ['buy', '999999'], /no listing 999999/);
  await refused(receiver, ['buy', String(listing), '--max-price', '1'], /above your limit/);
  // Someone else's file: the outsider has no file to share.
  await refused(outsider, ['share', String(fileId), '--free'], /no file|no local manifest/);
  await refused(sender, ['buy', String(listing)], /your own/);
  await refused(sender, ['share', String(fileId), '--public', '--price', '1'], /cannot be used with|public/);
  const poor = await person(0n);
  await submit(api, api.tx.balances.transferKeepAlive(poor.address, UNIT), alice);
  await refused(poor, ['buy', String(listing)], /InsufficientFunds|cannot pay/);
  // Refusals before a transaction cost nothing; chain refusals only a fee.
  assert.ok(balance - (await free(receiver.address)) < UNIT / 10n);
});

test('a link the Sender issues to a Receiver serves that Receiver only; a copied one is refused with the reason', { timeout: 300_000 }, async () => {
  const links = (await ok(sender, ['link', String(fileId), '--receiver', receiver.address])).trim().split('\n');
  assert.ok(links.length >= 2, 'a link per chunk and replica');
  const url = links[0];
  // The outsider with the copied URL: the host says no, and why; its own
  // CLI will not even try.
  const copied = await fetch(url);
  assert.equal(copied.status, 403);
  assert.match(await copied.text(), /issued to another account/);
  await refused(outsider, ['fetch', url, '-o', join(work, 'stolen.bin')], /issued to .* not to you/);
  // The Receiver: served (and it pays the host's egress itself).
  const out = join(work, 'chunk0.bin');
  assert.match(await ok(receiver, ['fetch', url, '-o', out]), /Wrote 1048576 bytes of ciphertext/);
  assert.equal(readFileSync(out).length, 1 << 20);
  // Once per chunk, as every link.
  await refused(receiver, ['fetch', url, '-o', join(work, 'again.bin')], /already used/);
});

test('a host that refuses a paying Receiver is challenged, fails to answer and is slashed; an honest host answers and keeps its deposit', { timeout: 300_000 }, async () => {
  await setParam(':RetrievalPeriod:', 'u32', RETRIEVAL_PERIOD);
  const listing = await share(['--price', '1']);
  await ok(receiver, ['buy', String(listing)]);
  await ok(sender, ['agent', '--once']);
  const contracts = (await api.query.listings.listings(listing)).unwrap().contracts.map((c) => c.toNumber());
  const hostOf = async (c) => (await api.query.storageMarket.contracts(c)).unwrap().host.toString();
  const byHost = {};
  for (const c of contracts) byHost[await hostOf(c)] = c;
  const [honest, refusing] = [byHost[hosts.charlie.account], byHost[hosts.bob.account]];
  assert.ok(honest !== undefined && refusing !== undefined, 'one replica on each host');
  const backing = async (c) => (await api.query.deposits.backings(c)).unwrap().amount.toBigInt();

  // The outsider has no access: it cannot challenge anyone.
  await refused(outsider, ['challenge', 'open', String(honest), '--listing', String(listing)], /NoAccess/);

  // Charlie answers on chain: the piece is published and verified; it
  // keeps its deposit and earns a tenth of the challenge deposit.
  const honestBacking = await backing(honest);
  const piece = join(work, 'piece.bin');
  const answered = await ok(receiver, ['challenge', 'open', String(honest), '--listing', String(listing), '--leaf', '2049', '-o', piece]);
  assert.match(answered, /answered: the host published 4096 bytes, verified on chain; it earned 0\.1 MASP/);
  assert.equal(readFileSync(piece).length, 4096);
  assert.equal(await backing(honest), honestBacking, 'an answering host is not slashed');
  const metrics = await (await fetch(`${hosts.charlie.url}/metrics`)).text();
  assert.match(metrics, /masp_host_retrievals_total\{result="answered"\} 1/);

  // Bob stops serving (and answering): the Receiver's challenge fails and
  // Bob's deposit pays the Receiver.
  hosts.bob.child.kill('SIGSTOP');
  try {
    const refusingBacking = await backing(refusing);
    const before = await free(receiver.address);
    const failed = await ok(receiver, ['challenge', 'open', String(refusing), '--listing', String(listing)]);
    const m = failed.match(/failed: the host did not answer; ([\d.]+) MASP of its deposit was slashed, ([\d.]+) MASP paid to the challenger and ([\d.]+) MASP to the file's Sender/);
    assert.ok(m, failed);
    // 5% of what backed the contract when it was settled (Bob, stopped,
    // also misses proofs meanwhile, which cost him more).
    const slashed = planck(m[1]);
    // A bounty of at most the challenge deposit (1 MASP) to the challenger,
    // the rest to the Sender: here it is all the bounty.
    assert.equal(planck(m[2]) + planck(m[3]), slashed);
    assert.equal(planck(m[2]), slashed < UNIT ? slashed : UNIT);
    assert.ok(slashed > 0n && slashed <= refusingBacking / 20n, `slashed ${slashed} of ${refusingBacking}`);
    assert.ok(refusingBacking - (await backing(refusing)) >= slashed, 'taken from the deposit backing the contract');
    // The Receiver got the slash and its deposit back, less two fees.
    const gained = (await free(receiver.address)) - before;
    assert.ok(gained > slashed - UNIT / 10n && gained <= slashed, `gained ${gained}, slashed ${slashed}`);
    const rating = (await api.call.hostRatingApi.rating(hosts.bob.account)).unwrap();
    assert.equal(rating.metrics.retrievalsFailed.toNumber(), 1);
  } finally {
    hosts.bob.child.kill('SIGCONT');
  }
});

test('a Receiver closes its egress channels and gets back what was not spent', { timeout: 300_000 }, async () => {
  await setParam(':EgressClosePeriod:', 'u32', 4);
  const listed = await ok(receiver, ['egress', 'ls']);
  assert.match(listed, new RegExp(`host\\s+${hosts.charlie.account}`));
  const held = async () => {
    const all = await api.query.egress.channels.entries(receiver.address);
    return all.reduce((n, [, c]) => n + c.unwrap().held.toBigInt(), 0n);
  };
  const left = await held();
  assert.ok(left > 0n, 'allowance left to return');
  const closing = await ok(receiver, ['egress', 'close', '--all']);
  assert.match(closing, /Closing the channel with/);
  // The hosts keep their close period: nothing returns yet.
  await refused(receiver, ['egress', 'close', hosts.bob.account], /no open channel with/);
  const deadline = Date.now() + 60_000;
  let finished = '';
  while (!/returned/.test(finished)) {
    assert.ok(Date.now() < deadline, 'finished in time');
    await sleep(1000);
    finished = await ok(receiver, ['egress', 'finish']);
  }
  while ((await api.query.egress.channels.entries(receiver.address)).length > 0) {
    assert.ok(Date.now() < deadline, 'every channel finished');
    await sleep(1000);
    await ok(receiver, ['egress', 'finish']);
  }
  assert.match(await ok(receiver, ['egress', 'ls']), /No egress or relay channels/);
});
