// The storage story on a real chain with real daemons: a dev node, three
// `masp-host` daemons and the `masp` CLI, all on 127.0.0.1.
//
// - a file put with 2 replicas goes to the 2 cheapest hosts and comes back
//   byte-identical (empty, 1 byte, chunk boundaries, 32 MiB, 100 MiB);
// - hosts prove every epoch and are paid for proven epochs only;
// - the cheapest hosts that meet a rating floor win; a cheaper host below
//   it does not;
// - a tampered chunk on one host: `masp get` falls back to the other
//   replica; tampered on both: a clear error and nothing written;
// - a wrong password, a truncated manifest: a clear error, nothing written;
// - a new machine with only the secret phrase lists and gets the files;
// - an upload interrupted by a dead host resumes where it stopped;
// - forged, expired, replayed and out-of-scope tickets are refused with a
//   4xx and a reason;
// - `masp ls` lists the files; `masp rm` cancels and the escrow returns.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Keyring } from '@polkadot/keyring';
import { u8aConcat, u8aToHex, stringToU8a, bnToU8a } from '@polkadot/util';
import { cryptoWaitReady, xxhashAsHex } from '@polkadot/util-crypto';

import { startDevNode, submit, waitForBlock } from './lib/node.mjs';
import { maspUser, startHost } from './lib/hosts.mjs';

const UNIT = 10n ** 12n;
const EPOCH = 10; // blocks of 500 ms
const PLAIN_CHUNK = (1 << 20) - 16;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let node;
let api;
let keyring;
let alice;
let hosts = {};
let user;
let work;

before(async () => {
  await cryptoWaitReady();
  keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  alice = keyring.addFromUri('//Alice');
  node = await startDevNode({ blockTimeMs: 500 });
  api = node.api;
  await submit(api, api.tx.sudo.sudo(api.tx.system.setStorage([[xxhashAsHex(':EpochLength:', 128), u8aToHex(api.createType('u32', EPOCH).toU8a())]])), alice);
  // Charlie is cheapest, then Bob, then Dave.
  const prices = { bob: 2n * 10n ** 9n, charlie: 10n ** 9n, dave: 3n * 10n ** 9n };
  for (const [name, price] of Object.entries(prices)) {
    hosts[name] = await startHost({ name, suri: `//${name[0].toUpperCase()}${name.slice(1)}`, nodeUrl: node.rpcUrl, price });
  }
  user = maspUser({ nodeUrl: node.rpcUrl });
  const r = await user.masp(['keys', 'new']);
  assert.equal(r.code, 0, r.stderr);
  user.address = r.stdout.match(/Account: (\S+)/)[1];
  user.phrase = r.stdout.trim().split('\n').at(-1).trim();
  user.pair = keyring.addFromMnemonic(user.phrase);
  assert.equal(user.pair.address, user.address, 'the CLI derives the account exactly as polkadot.js does');
  await submit(api, api.tx.balances.transferKeepAlive(user.address, 1000n * UNIT), alice);
  work = mkdtempSync(join(tmpdir(), 'masp-files-'));
});

after(async () => {
  for (const h of Object.values(hosts)) await h.cleanup().catch(() => {});
  user?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
  if (node) await node.stop();
});

function file(name, size) {
  const path = join(work, name);
  writeFileSync(path, randomBytes(size));
  return path;
}

async function put(path, extra = [], duration = 6) {
  const r = await user.masp(['put', path, '--replicas', '2', '--duration', String(duration), '--wait', '60', ...extra]);
  return { ...r, id: Number(r.stdout.match(/as file (\d+)/)?.[1]) };
}

async function contractsOf(fileId) {
  const list = await api.call.storageMarketApi.senderContracts(user.address, 100);
  return list.filter(([, c]) => c.request.toNumber() === fileId).map(([id, c]) => [id.toNumber(), c]);
}

const hostByAccount = () => Object.fromEntries(Object.values(hosts).map((h) => [keyring.addFromUri(`//${h.name[0].toUpperCase()}${h.name.slice(1)}`).address, h]));

test('a file put with 2 replicas goes to the 2 cheapest hosts and comes back byte-identical', { timeout: 600_000 }, async () => {
  for (const [name, size] of [['empty', 0], ['one', 1], ['chunk-1', PLAIN_CHUNK - 1], ['chunk', PLAIN_CHUNK], ['chunk+1', PLAIN_CHUNK + 1], ['2chunks', 2 * PLAIN_CHUNK], ['32MiB', 32 << 20], ['100MiB', 100 << 20]]) {
    const path = file(name, size);
    const r = await put(path);
    assert.equal(r.code, 0, `put ${name}: ${r.stderr}`);
    assert.ok(r.id >= 0, r.stdout);
    const contracts = await contractsOf(r.id);
    assert.equal(contracts.length, 2);
    const byAccount = hostByAccount();
    const names = contracts.map(([, c]) => byAccount[c.host.toString()].name).sort();
    assert.deepEqual(names, ['bob', 'charlie'], 'the two cheapest hosts store it');
    for (const [, c] of contracts) assert.equal(c.state.toString(), 'Active', 'each host confirmed the upload');
    const out = join(work, `${name}.out`);
    const g = await user.masp(['get', String(r.id), '-o', out]);
    assert.equal(g.code, 0, `get ${name}: ${g.stderr}`);
    assert.ok(readFileSync(out).equals(readFileSync(path)), `${name} comes back byte-identical`);
  }
});

test('hosts prove every epoch and are paid for proven epochs only', { timeout: 300_000 }, async () => {
  const r = await put(file('paid', 3 << 20));
  assert.equal(r.code, 0, r.stderr);
  const [[id]] = await contractsOf(r.id);
  const start = (await api.call.storageMarketApi.contract(id)).unwrap();
  // Wait until three epochs of the term have passed.
  const target = start.start.toNumber() + 3 * EPOCH + 2;
  await waitForBlock(api, target, 120_000);
  // Both read at one block, so a proof landing in between cannot skew them.
  const at = await api.at(await api.rpc.chain.getBlockHash());
  const c = (await at.call.storageMarketApi.contract(id)).unwrap();
  const record = (await at.call.storageProofsApi.record(id)).unwrap();
  assert.ok(record.lastProven.isSome, 'the host proved');
  assert.equal(record.totalMisses.toNumber(), 0, 'no epoch missed');
  // The proofs pallet's own record of which epochs were proven (a bit per
  // epoch back from the last proof) against what the market paid.
  const last = record.lastProven.unwrap().toNumber();
  let proven = 0;
  for (let e = c.firstEpoch.toNumber(); e <= last; e++) if ((record.provenBits.toNumber() >>> (last - e)) & 1) proven++;
  assert.ok(proven >= 3, `proven ${proven} epochs`);
  assert.equal(c.paid.toBigInt(), c.epochCost.toBigInt() * BigInt(proven), 'paid exactly the proven epochs');
});

const rating = async (who) => (await api.call.hostRatingApi.rating(who)).toJSON()?.rating ?? 0;
const accountOf = (name) => keyring.addFromUri(`//${name[0].toUpperCase()}${name.slice(1)}`).address;

test('the cheapest hosts that meet the rating floor win; a cheaper host below it does not', { timeout: 300_000 }, async () => {
  // A new host, cheaper than all, with no record: it rates 0.
  hosts.eve = await startHost({ name: 'eve', suri: '//Eve', nodeUrl: node.rpcUrl, price: 5n * 10n ** 8n });
  const eve = keyring.addFromUri('//Eve');
  try {
    const rated = {};
    for (const name of ['eve', 'charlie', 'bob', 'dave']) rated[name] = await rating(accountOf(name));
    assert.equal(rated.eve, 0, JSON.stringify(rated));
    assert.ok(rated.charlie > 0 && rated.bob > 0, `hosts that proved are rated: ${JSON.stringify(rated)}`);
    // Without a floor the new host is the best offer; with one it is not.
    const quote = async (minRating) => (await api.call.storageMarketApi.quote(4096, 6, 2, null, minRating)).lines.map((l) => hostByAccount()[l.host.toString()].name);
    assert.equal((await quote(0))[0], 'eve');
    const floor = 1;
    const eligible = ['eve', 'charlie', 'bob', 'dave'].filter((n) => rated[n] >= floor); // cheapest first
    assert.deepEqual(await quote(floor), eligible.slice(0, 2));
    const r = await put(file('rated', 1000), ['--min-rating', String(floor)]);
    assert.equal(r.code, 0, r.stderr);
    const chosen = (await contractsOf(r.id)).map(([, c]) => hostByAccount()[c.host.toString()].name).sort();
    assert.deepEqual(chosen, eligible.slice(0, 2).sort(), JSON.stringify(rated));
    assert.ok(!chosen.includes('eve'), 'the cheaper host below the floor is passed over');
  } finally {
    // Take Eve's offers out of the book so later puts go to the others.
    for (const [offerId] of await api.call.storageMarketApi.hostOffers(eve.address)) {
      await submit(api, api.tx.storageMarket.cancelOffer(offerId), eve);
    }
    await hosts.eve.stop();
  }
});

test('a tampered chunk is caught: the other replica serves it; tampered everywhere, nothing is written', { timeout: 300_000 }, async () => {
  const path = file('tamper', 2 * PLAIN_CHUNK + 100);
  const r = await put(path);
  assert.equal(r.code, 0, r.stderr);
  const contracts = await contractsOf(r.id);
  const byAccount = hostByAccount();
  const flip = ([id, c]) => {
    const chunk = join(byAccount[c.host.toString()].dir, 'data', 'chunks', String(id), '1');
    const bytes = readFileSync(chunk);
    bytes[100] ^= 0xff;
    writeFileSync(chunk, bytes);
  };
  flip(contracts[0]);
  const out = join(work, 'tamper.out');
  let g = await user.masp(['get', String(r.id), '-o', out]);
  assert.equal(g.code, 0, g.stderr);
  assert.ok(readFileSync(out).equals(readFileSync(path)), 'the file comes back from the good replica');
  rmSync(out);
  flip(contracts[1]);
  g = await user.masp(['get', String(r.id), '-o', out]);
  assert.notEqual(g.code, 0);
  assert.match(g.stderr, /does not match its Merkle root/);
  assert.match(g.stderr, /nothing was written/);
  assert.ok(!existsSync(out), 'no output file');
});

test('a wrong password or a truncated manifest fails cleanly and writes nothing', { timeout: 120_000 }, async () => {
  const r = await user.masp(['ls'], { env: { MASP_PASSWORD: 'not the password' } });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /password/i);
  const stored = await put(file('guarded', 3000));
  assert.equal(stored.code, 0, stored.stderr);
  const out = join(work, 'guarded.out');
  let g = await user.masp(['get', String(stored.id), '-o', out], { env: { MASP_PASSWORD: 'not the password' } });
  assert.notEqual(g.code, 0);
  assert.match(g.stderr, /wrong password/);
  assert.ok(!existsSync(out), 'nothing written');
  // The local manifest cut short: refused, nothing written.
  const manifest = join(user.home, 'manifests', `${stored.id}.manifest`);
  const whole = readFileSync(manifest);
  writeFileSync(manifest, whole.subarray(0, whole.length - 7));
  g = await user.masp(['get', String(stored.id), '-o', out]);
  assert.notEqual(g.code, 0);
  assert.match(g.stderr, /truncated/);
  assert.ok(!existsSync(out), 'nothing written');
  writeFileSync(manifest, whole);
});

test('a new machine with only the secret phrase lists and gets the files', { timeout: 120_000 }, async () => {
  const stored = await put(file('travels', 5000));
  assert.equal(stored.code, 0, stored.stderr);
  const other = maspUser({ nodeUrl: node.rpcUrl });
  try {
    const imp = await other.masp(['keys', 'import'], { input: `${user.phrase}\n` });
    assert.equal(imp.code, 0, imp.stderr);
    assert.match(imp.stdout, new RegExp(user.address));
    const ls = await other.masp(['ls']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /travels/, 'the manifest comes from the hosts');
    const out = join(work, 'travels.out');
    const g = await other.masp(['get', String(stored.id), '-o', out]);
    assert.equal(g.code, 0, g.stderr);
    assert.ok(readFileSync(out).equals(readFileSync(join(work, 'travels'))));
  } finally {
    other.cleanup();
  }
});

test('an upload interrupted by a dead host resumes where it stopped', { timeout: 300_000 }, async () => {
  await hosts.bob.stop('SIGKILL');
  const path = file('resume', 5 << 20);
  let r = await user.masp(['put', path, '--replicas', '2', '--duration', '6', '--wait', '5']);
  assert.notEqual(r.code, 0, 'the put cannot finish with a host down');
  assert.match(r.stderr, /run the same `masp put` again to resume/);
  await hosts.bob.start();
  r = await user.masp(['put', path, '--replicas', '2', '--duration', '6', '--wait', '60']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\(resumed\)/);
  const out = join(work, 'resume.out');
  const g = await user.masp(['get', r.stdout.match(/as file (\d+)/)[1], '-o', out]);
  assert.equal(g.code, 0, g.stderr);
  assert.ok(readFileSync(out).equals(readFileSync(path)));
});

// --- tickets, straight over HTTP ---

function ticket({ op = 1, contract, first = 0, last = 0, expires, nonce = randomBytes(16), signer }) {
  const t = u8aConcat(
    new Uint8Array([op]),
    bnToU8a(contract, { bitLength: 64 }),
    bnToU8a(first, { bitLength: 32 }),
    bnToU8a(last, { bitLength: 32 }),
    signer.publicKey,
    bnToU8a(expires, { bitLength: 64 }),
    nonce,
  );
  // Signed for this chain: context, genesis hash, then the SCALE ticket.
  const sig = signer.sign(u8aConcat(stringToU8a('masp/ticket/v2'), api.genesisHash.toU8a(), t));
  return Buffer.from(u8aConcat(t, signer.publicKey, sig)).toString('hex');
}

test('forged, expired, replayed and out-of-scope download tickets are refused', { timeout: 120_000 }, async () => {
  const r = await put(file('tickets', 1000));
  assert.equal(r.code, 0, r.stderr);
  const [[id, c]] = await contractsOf(r.id);
  const host = hostByAccount()[c.host.toString()];
  const now = Math.floor(Date.now() / 1000);
  const sender = user.pair;
  const get = (t, chunk = 0) => fetch(`${host.url}/v1/contracts/${id}/chunks/${chunk}?ticket=${t}`);
  const refused = async (t, status, reason, chunk = 0) => {
    const res = await get(t, chunk);
    assert.equal(res.status, status, `${reason}: HTTP ${res.status}`);
    assert.match(await res.text(), reason);
  };
  // A valid ticket works once per chunk.
  const good = ticket({ contract: id, expires: now + 60, signer: sender });
  let res = await get(good);
  assert.equal(res.status, 200);
  assert.equal((await res.arrayBuffer()).byteLength, 1016);
  await refused(good, 403, /already used/);
  // Forged: another key, or a signed ticket with a widened range.
  await refused(ticket({ contract: id, expires: now + 60, signer: keyring.addFromUri('//Eve') }), 401, /not signed by the contract's sender/);
  const widened = Buffer.from(ticket({ contract: id, expires: now + 60, signer: sender }), 'hex');
  widened[13] = 5; // last_chunk (after op, contract, first_chunk)
  await refused(widened.toString('hex'), 401, /signature does not verify/);
  // Expired, too long, out of range, wrong operation.
  await refused(ticket({ contract: id, expires: now - 1, signer: sender }), 403, /expired/);
  await refused(ticket({ contract: id, expires: now + 2 * 86400, signer: sender }), 403, /too far/);
  await refused(ticket({ contract: id, first: 1, last: 1, expires: now + 60, signer: sender }), 403, /outside the ticket's range/);
  await refused(ticket({ op: 0, contract: id, expires: now + 60, signer: sender }), 403, /another operation/);
  // No ticket, or not a ticket at all.
  await refused('', 400, /does not decode/);
  res = await fetch(`${host.url}/v1/contracts/${id}/chunks/0`);
  assert.equal(res.status, 401);
  await refused('zz', 400, /does not decode/);
  // Range requests work on a valid ticket.
  res = await fetch(`${host.url}/v1/contracts/${id}/chunks/0?ticket=${ticket({ contract: id, expires: now + 60, signer: sender })}`, { headers: { Range: 'bytes=10-19' } });
  assert.equal(res.status, 206);
  assert.equal(res.headers.get('content-range'), 'bytes 10-19/1016');
  assert.equal((await res.arrayBuffer()).byteLength, 10);
});

test('masp ls lists the files; masp rm cancels and the escrow returns', { timeout: 120_000 }, async () => {
  const r = await put(file('removable', 4096));
  assert.equal(r.code, 0, r.stderr);
  let ls = await user.masp(['ls']);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /removable/);
  const before = (await api.query.system.account(user.address)).data;
  const rm = await user.masp(['rm', String(r.id)]);
  assert.equal(rm.code, 0, rm.stderr);
  assert.deepEqual(await contractsOf(r.id), []);
  const afterRm = (await api.query.system.account(user.address)).data;
  assert.ok(afterRm.reserved.toBigInt() < before.reserved.toBigInt(), 'held escrow is released');
  ls = await user.masp(['ls']);
  assert.doesNotMatch(ls.stdout, /removable/);
});

test('every role has a console: masp hosts, masp sale status, masp insurance offers/buy/ls', { timeout: 180_000 }, async () => {
  // Hosts, best rated first, with the cheapest offer of each.
  let r = await user.masp(['hosts']);
  assert.equal(r.code, 0, r.stderr);
  for (const h of Object.values(hosts)) assert.match(r.stdout, new RegExp(h.url.replace(/[.]/g, '\\.')), `${h.name} is listed`);
  const charlie = keyring.addFromUri('//Charlie').address;
  assert.match(r.stdout, new RegExp(`${charlie}  rating .*0\\.001 MASP/GiB/epoch`), 'with its price');
  // The sale, as the chain has it.
  r = await user.masp(['sale', 'status']);
  assert.equal(r.code, 0, r.stderr);
  const s = (await api.call.tokenSaleApi.status()).toJSON();
  assert.match(r.stdout, new RegExp(`phase: ${s.phase}`));
  r = await user.masp(['sale', 'me']);
  assert.match(r.stdout, /You have not contributed/);
  // An insurer (Eve) offers cover; the user buys some for one of its contracts.
  const eve = keyring.addFromUri('//Eve');
  await submit(api, api.tx.insurance.depositCapital(100n * UNIT), eve);
  await submit(api, api.tx.insurance.setOffer(5_000_000, 10n * UNIT, 0), eve); // 0.5% per epoch
  r = await user.masp(['insurance', 'offers']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`${eve.address}  premium 0\\.5000% per epoch  cover up to 10 MASP`));
  // A long term: the cover starts at the next epoch, which must fall
  // inside it even on a slow machine (a short term gave Insurance.TooLate).
  const f = await put(file('insured', 1 << 20), [], 40);
  assert.equal(f.code, 0, f.stderr);
  const [[contract]] = await contractsOf(f.id);
  const backing = (await api.query.deposits.backings(contract)).unwrap().amount.toBigInt();
  const amount = backing / 2n > 0n ? backing / 2n : 1n;
  const masp = `${amount / UNIT}.${(amount % UNIT).toString().padStart(12, '0')}`;
  // Too high a premium ceiling is refused by the chain, clearly.
  r = await user.masp(['insurance', 'buy', String(contract), '--insurer', eve.address, '--amount', masp, '--max-premium', '0.1']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /PremiumTooHigh/);
  r = await user.masp(['insurance', 'buy', String(contract), '--insurer', eve.address, '--amount', masp]);
  assert.equal(r.code, 0, r.stderr);
  const cover = (await api.query.insurance.covers(contract)).unwrap();
  assert.equal(cover.amount.toBigInt(), amount);
  r = await user.masp(['insurance', 'ls']);
  assert.match(r.stdout, new RegExp(`contract ${contract}  insurer ${eve.address}`));
});

test('kill -9 during an upload: no partial chunk is served, the upload resumes, nothing is forgotten', { timeout: 300_000 }, async () => {
  const path = file('crash', 40 << 20);
  const charlie = hosts.charlie;
  const metric = async (name) => {
    const text = await (await fetch(`${charlie.url}/metrics`)).text();
    return Number(text.match(new RegExp(`^masp_host_${name} (\\d+)`, 'm'))?.[1] ?? 0);
  };
  const received0 = await metric('bytes_received_total');
  const putting = user.masp(['put', path, '--replicas', '2', '--duration', '6', '--wait', '5', '--parallel', '2']);
  // Kill Charlie once a few MiB of this file have arrived.
  for (let i = 0; i < 600 && (await metric('bytes_received_total')) - received0 < (6 << 20); i++) await sleep(20);
  await charlie.stop('SIGKILL');
  const first = await putting;
  assert.notEqual(first.code, 0, 'the put could not finish');
  await charlie.start();
  // The restarted host knows the contract, and every chunk it says it has is whole.
  const fileId = Math.max(...(await api.call.storageMarketApi.senderContracts(user.address, 100)).map(([, c]) => c.request.toNumber()));
  const [[id]] = (await contractsOf(fileId)).filter(([, c]) => hostByAccount()[c.host.toString()] === charlie);
  const status = await (await fetch(`${charlie.url}/v1/contracts/${id}`)).json();
  assert.ok(status.missing.length > 0 && status.missing.length < status.chunks, `partly uploaded: ${status.missing.length}/${status.chunks} missing`);
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < status.chunks; i++) {
    if (status.missing.includes(i)) continue;
    const res = await fetch(`${charlie.url}/v1/contracts/${id}/chunks/${i}?ticket=${ticket({ contract: id, first: i, last: i, expires: now + 60, signer: user.pair })}`);
    assert.equal(res.status, 200);
    assert.equal((await res.arrayBuffer()).byteLength, 1 << 20, `chunk ${i} is whole`);
  }
  const again = await user.masp(['put', path, '--replicas', '2', '--duration', '6', '--wait', '60']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /\(resumed\)/);
  const out = join(work, 'crash.out');
  const g = await user.masp(['get', String(fileId), '-o', out]);
  assert.equal(g.code, 0, g.stderr);
  assert.ok(readFileSync(out).equals(readFileSync(path)));
});

test('a host killed after its upload misses proofs, is slashed, pays the Sender and falls in rating; the other replica still serves', { timeout: 400_000 }, async () => {
  const path = file('failure', 2 << 20);
  const putBlock = (await api.rpc.chain.getHeader()).number.toNumber();
  // A term long enough to outlast MaxConsecutiveMisses (6) epochs.
  const r = await user.masp(['put', path, '--replicas', '2', '--duration', '30', '--wait', '60']);
  r.id = Number(r.stdout.match(/as file (\d+)/)?.[1]);
  assert.equal(r.code, 0, `${r.stderr}\n--- charlie:\n${hosts.charlie.log()}\n--- bob:\n${hosts.bob.log()}`);
  const byAccount = hostByAccount();
  const contracts = await contractsOf(r.id);
  const [lostId] = contracts.find(([, c]) => byAccount[c.host.toString()].name === 'bob');
  const bob = hosts.bob;
  const bobAccount = keyring.addFromUri('//Bob').address;
  const charlieAccount = keyring.addFromUri('//Charlie').address;
  const depositBefore = (await api.query.deposits.deposits(bobAccount)).unwrap().total.toBigInt();
  const lostTerm = (await api.call.storageMarketApi.contract(lostId)).unwrap();
  await bob.stop('SIGKILL');
  // The file still comes back, from Charlie.
  const out = join(work, 'failure.out');
  const g = await user.masp(['get', String(r.id), '-o', out]);
  assert.equal(g.code, 0, g.stderr);
  assert.ok(readFileSync(out).equals(readFileSync(path)));
  // After MaxConsecutiveMisses epochs without proofs the contract ends.
  for (let i = 0; i < 600 && (await api.call.storageMarketApi.contract(lostId)).isSome; i++) await sleep(250);
  assert.ok((await api.call.storageMarketApi.contract(lostId)).isNone, 'the lost contract ended');
  // Every event of every block since the put (block by block: nothing is
  // skipped or counted twice).
  const events = [];
  const head = (await api.rpc.chain.getHeader()).number.toNumber();
  for (let n = putBlock + 1; n <= head; n++) {
    for (const { event } of await api.query.system.events.at(await api.rpc.chain.getBlockHash(n))) events.push(event);
  }
  const missed = events.filter((e) => api.events.storageProofs.Missed.is(e) && e.data.contract.toNumber() === lostId);
  assert.ok(missed.length >= 1, 'misses were recorded');
  assert.ok(missed.every((e) => e.data.toSender.toBigInt() > 0n), 'every miss paid the Sender from the host deposit');
  const lost = events.filter((e) => api.events.storageProofs.DataLost.is(e) && e.data.contract.toNumber() === lostId);
  assert.equal(lost.length, 1, 'DataLost was emitted');
  assert.equal(lost[0].data.sender.toString(), user.address);
  const depositAfter = (await api.query.deposits.deposits(bobAccount)).unwrap().total.toBigInt();
  assert.ok(depositAfter < depositBefore, 'the host was slashed');
  // Paid for proven epochs only: over its whole life the lost contract
  // paid one epoch's price per Proven event, nothing for the missed ones.
  const ended = events.filter((e) => api.events.storageMarket.ContractEnded.is(e) && e.data.contract.toNumber() === lostId);
  assert.equal(ended.length, 1, 'ContractEnded was emitted');
  assert.equal(ended[0].data.reason.toString(), 'DataLost');
  const proven = events.filter((e) => api.events.storageProofs.Proven.is(e) && e.data.contract.toNumber() === lostId).length;
  assert.equal(ended[0].data.paid.toBigInt(), lostTerm.epochCost.toBigInt() * BigInt(proven), 'missed epochs are not paid');
  assert.ok((await rating(bobAccount)) < (await rating(charlieAccount)), 'the failed host rates below the one that kept proving');
  // The Sender is told to repair.
  const ls = await user.masp(['ls']);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /failure.*1 replica\(s\) LOST.*repair/);
  await bob.start();
  // With a rating floor above the failed host's, the cheapest hosts that
  // meet it win, and the failed host (cheaper than Dave) does not.
  const floor = (await rating(bobAccount)) + 1;
  const rated = {};
  for (const name of ['charlie', 'bob', 'dave']) rated[name] = await rating(keyring.addFromUri(`//${name[0].toUpperCase()}${name.slice(1)}`).address);
  const eligible = ['charlie', 'bob', 'dave'].filter((n) => rated[n] >= floor); // cheapest first
  assert.ok(eligible.includes('charlie') && !eligible.includes('bob'), JSON.stringify(rated));
  const n = Math.min(2, eligible.length);
  const picky = await user.masp(['put', file('picky', 1000), '--replicas', String(n), '--duration', '6', '--wait', '60', '--min-rating', String(floor)]);
  assert.equal(picky.code, 0, picky.stderr);
  const chosen = (await contractsOf(Number(picky.stdout.match(/as file (\d+)/)[1]))).map(([, c]) => byAccount[c.host.toString()].name).sort();
  assert.deepEqual(chosen, eligible.slice(0, n).sort(), JSON.stringify(rated));
});
