// Supersafe storage (issue 20) on a real chain with real daemons: a dev
// node, eight `masp-host` daemons and the `masp` CLI, all on 127.0.0.1.
//
// - replicas mode: two replicas of one file are distinct ciphertexts (two
//   roots), so one operator behind two host accounts must store both;
// - `--hosts`: a Sender picks its hosts (the dearest two here) and gets
//   them at their prices; bad picks are refused and place nothing;
// - `--shards 4+2`: six contracts on six distinct hosts, six roots, one
//   request; `masp ls --json` shows 6 alive of 4 needed;
// - kill -9 two of the six hosts: `masp get` is still byte-identical;
// - `masp agent`, left running, notices the lost contracts once the proof
//   misses end them, rebuilds the two shards from four others on two new
//   hosts (never on a host holding another shard, never on a dead one),
//   with no user action;
// - then kill -9 one more original host: still byte-identical;
// - a repair by hand skips the dead hosts (still registered, cheapest)
//   and places the lost replica on a live one;
// - a host that answers `/health` and follows the chain but never takes
//   its new contract (the cheapest offer) is given up within seconds, not
//   the repair's whole `--wait`, and the replica goes to a live host.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Keyring } from '@polkadot/keyring';
import { u8aToHex } from '@polkadot/util';
import { cryptoWaitReady, xxhashAsHex } from '@polkadot/util-crypto';

import { startDevNode, submit } from './lib/node.mjs';
import { binary, maspUser, startHost, tail } from './lib/hosts.mjs';

const UNIT = 10n ** 12n;
const EPOCH = 10; // blocks of 500 ms
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let node;
let api;
let alice;
const hosts = []; // { name, address, host }
let user;
let work;
let agent;

before(async () => {
  await cryptoWaitReady();
  const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  alice = keyring.addFromUri('//Alice');
  node = await startDevNode({ blockTimeMs: 500 });
  api = node.api;
  await submit(api, api.tx.sudo.sudo(api.tx.system.setStorage([[xxhashAsHex(':EpochLength:', 128), u8aToHex(api.createType('u32', EPOCH).toU8a())]])), alice);
  // Eight hosts: the six cheapest take a 4+2 file, the last two are where
  // its repairs can go.
  for (let i = 0; i < 8; i++) {
    const suri = `//Shard${i}`;
    const address = keyring.addFromUri(suri).address;
    hosts.push({ name: `s${i}`, suri, address });
    await submit(api, api.tx.balances.transferKeepAlive(address, 1000n * UNIT), alice);
  }
  for (const [i, h] of hosts.entries()) {
    h.host = await startHost({ name: h.name, suri: h.suri, nodeUrl: node.rpcUrl, price: BigInt(i + 1) * 10n ** 9n });
  }
  user = maspUser({ nodeUrl: node.rpcUrl });
  const r = await user.masp(['keys', 'new']);
  assert.equal(r.code, 0, r.stderr);
  user.address = r.stdout.match(/Account: (\S+)/)[1];
  await submit(api, api.tx.balances.transferKeepAlive(user.address, 1000n * UNIT), alice);
  work = mkdtempSync(join(tmpdir(), 'masp-shards-'));
});

after(async () => {
  agent?.kill('SIGKILL');
  for (const h of hosts) await h.host?.cleanup().catch(() => {});
  user?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
  if (node) await node.stop();
});

async function ok(args) {
  const r = await user.masp(args);
  assert.equal(r.code, 0, `masp ${args.join(' ')}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** The live contracts of file `id`: [{ id, host, root, size }]. */
async function contractsOf(id) {
  const list = await api.call.storageMarketApi.senderContracts(user.address, 1000);
  return list
    .filter(([, c]) => c.request.toNumber() === id)
    .map(([cid, c]) => ({ id: cid.toNumber(), host: c.host.toString(), root: c.merkleRoot.toHex(), size: Number(c.toJSON().size), state: c.state.toString() }));
}

/** `masp ls --json`'s entry for file `id`. */
async function health(id) {
  const files = JSON.parse(await ok(['ls', '--json']));
  const f = files.find((x) => x.id === id);
  assert.ok(f, `file ${id} in ls --json: ${JSON.stringify(files)}`);
  return f;
}

function file(name, size) {
  const path = join(work, name);
  writeFileSync(path, randomBytes(size));
  return path;
}

async function sameBytes(id, path, what) {
  const out = join(work, `${id}-${Date.now()}.out`);
  await ok(['get', String(id), '-o', out]);
  assert.ok(readFileSync(out).equals(readFileSync(path)), `${what}: byte-identical`);
}

const hostOf = (address) => hosts.find((h) => h.address === address);

test('replicas mode: two replicas of one file are distinct data with distinct roots', { timeout: 300_000 }, async () => {
  const path = file('copies.bin', (2 << 20) + 77);
  const out = await ok(['put', path, '--replicas', '2', '--duration', '60', '--wait', '120']);
  const id = Number(out.match(/as file (\d+)/)[1]);
  const cs = await contractsOf(id);
  assert.equal(cs.length, 2);
  assert.notEqual(cs[0].host, cs[1].host, 'two hosts');
  assert.notEqual(cs[0].root, cs[1].root, 'one operator behind both accounts must store both copies');
  await sameBytes(id, path, 'replicas');
});

let fileId;
let original;
let path;
let shardHosts;

test('a Sender picks its hosts: `--hosts` stores each shard on the named host at its price, all or nothing', { timeout: 300_000 }, async () => {
  // The two dearest hosts, which the market would not choose.
  const [a, b] = [hosts[7], hosts[6]];
  const path = file('picked.bin', (1 << 20) + 5);
  const before = (await api.query.system.account(user.address)).data.free.toBigInt();
  const out = await ok(['put', path, '--replicas', '2', '--duration', '30', '--wait', '120', '--hosts', `${a.address},${b.address}`]);
  const id = Number(out.match(/as file (\d+)/)[1]);
  const cs = await contractsOf(id);
  // Shard i on the i-th host named (contracts are made in shard order).
  assert.deepEqual(cs.sort((x, y) => x.id - y.id).map((c) => c.host), [a.address, b.address], 'on the hosts picked, in order');
  const prices = await Promise.all(cs.map(async (c) => (await api.query.storageMarket.contracts(c.id)).unwrap().price.toBigInt()));
  assert.deepEqual(prices.sort(), [7n * 10n ** 9n, 8n * 10n ** 9n], 'at each picked offer\'s price');
  assert.ok((await api.query.system.account(user.address)).data.free.toBigInt() < before);
  await sameBytes(id, path, 'picked hosts');

  // Bad picks are refused with a reason, and nothing is placed.
  const next = (await api.query.storageMarket.nextRequestId()).toNumber();
  for (const [hostsArg, reason] of [
    [`${a.address},${a.address}`, /names \S+ twice/],
    [a.address, /--hosts names 1/],
    [`${a.address},${user.address}`, /cannot store with itself/],
    [`${a.address},${alice.address}`, /not a registered host/],
    [`${a.address},nonsense`, /not an account address/],
  ]) {
    const r = await user.masp(['put', path, '--replicas', '2', '--duration', '30', '--hosts', hostsArg]);
    assert.notEqual(r.code, 0, hostsArg);
    assert.match(r.stderr, reason, hostsArg);
  }
  // A price limit below a picked host's price: the CLI says which host.
  const r = await user.masp(['put', path, '--replicas', '2', '--duration', '30', '--max-price', '0.0075', '--hosts', `${a.address},${b.address}`]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, new RegExp(`host ${a.address} has no offer`));
  assert.equal((await api.query.storageMarket.nextRequestId()).toNumber(), next, 'no request placed');
});

test('--shards 4+2: six contracts, six hosts, six roots; two hosts killed -9 and the file still reads', { timeout: 300_000 }, async () => {
  path = file('film.bin', (9 << 20) + 12345);
  // A term (200 epochs, 1000 s) that outlasts the misses that end the
  // dead hosts' contracts and the repair, on a busy machine too.
  const out = await ok(['put', path, '--shards', '4+2', '--duration', '200', '--wait', '120']);
  fileId = Number(out.match(/as file (\d+)/)[1]);
  // In shard order (contracts are made in shard order): the first two
  // are data shards, as the kill below intends.
  original = (await contractsOf(fileId)).sort((a, b) => a.id - b.id);
  assert.equal(original.length, 6, JSON.stringify(original));
  shardHosts = new Set(original.map((c) => c.host));
  assert.equal(shardHosts.size, 6, 'each shard on its own host');
  assert.equal(new Set(original.map((c) => c.root)).size, 6, 'six distinct roots');
  // 1.5x the file, not 6x: a 4+2 layout stores about (K+M)/K of the ciphertext.
  const stored = original.reduce((s, c) => s + c.size, 0);
  assert.ok(stored < 1.75 * 9.1 * (1 << 20), `stored ${stored} bytes for a ~9 MiB file`);
  const h = await health(fileId);
  assert.equal(h.alive, 6);
  assert.equal(h.needed, 4);
  await sameBytes(fileId, path, 'all six up');
  // Kill the hosts of two data shards (the reads must rebuild from parity).
  for (const c of original.slice(0, 2)) await hostOf(c.host).host.stop('SIGKILL');
  await sameBytes(fileId, path, 'two hosts dead');
});

test('the agent, left running, rebuilds the lost shards on new hosts with no user action', { timeout: 420_000 }, async () => {
  const dead = new Set(original.slice(0, 2).map((c) => c.host));
  const log = join(work, 'agent.log');
  agent = spawn(binary('masp'), ['--home', user.home, '--node', node.rpcUrl, 'agent', '--interval', '2'], {
    env: { ...process.env, MASP_PASSWORD: 'correct horse battery', RUST_LOG: 'info' },
    stdio: ['ignore', openSync(log, 'a'), openSync(log, 'a')],
  });
  // The dead hosts miss their proofs; after MaxConsecutiveMisses epochs
  // their contracts end as lost data, and the agent repairs.
  // The deadline is the test's own (below its timeout), so a failure
  // shows the agent's log.
  let f;
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    f = JSON.parse((await user.masp(['ls', '--json'])).stdout || '[]').find((x) => x.id === fileId);
    if (f && f.alive === 6 && f.contracts.every((c) => !dead.has(c.host))) break;
    await sleep(1000);
  }
  assert.ok(f && f.alive === 6, `repaired to 6 alive: ${JSON.stringify(f)}\n${tail(log, 40)}`);
  const now = f.contracts.map((c) => c.host);
  assert.equal(new Set(now).size, 6, 'still one shard per host');
  for (const h of now) assert.ok(!dead.has(h), 'nothing placed on a dead host');
  assert.match(readFileSync(log, 'utf8'), /repair/i, 'the agent says what it did');
  await sameBytes(fileId, path, 'after the repair');
});

test('then one more original host killed -9: the file still reads', { timeout: 300_000 }, async () => {
  const third = original[2];
  await hostOf(third.host).host.stop('SIGKILL');
  await sameBytes(fileId, path, 'three originals dead, two repaired');
});

test('a repair places nothing on a dead host: registered hosts that do not answer are skipped', { timeout: 300_000 }, async () => {
  // Three original hosts are dead by now and still registered with the
  // cheapest offers; the market would choose them first.
  const dead = new Set(original.slice(0, 3).map((c) => c.host));
  const [a, b] = [hosts[7], hosts[6]];
  const p = file('twice.bin', (1 << 20) + 99);
  const out = await ok(['put', p, '--replicas', '2', '--duration', '100', '--wait', '120', '--hosts', `${a.address},${b.address}`]);
  const id = Number(out.match(/as file (\d+)/)[1]);
  await a.host.stop('SIGKILL');
  dead.add(a.address);
  // By hand, at once: the repair asks the host of each replica whether it
  // serves, and each candidate whether it is up.
  const r = await ok(['repair', String(id), '--wait', '120']);
  for (const h of original.slice(0, 3)) assert.match(r, new RegExp(`Host ${h.host} did not answer`), r);
  assert.match(r, /Rebuilt shard \d+ on host (\S+)/, r);
  const f = await health(id);
  assert.equal(f.alive, 2, JSON.stringify(f));
  const now = f.contracts.map((c) => c.host);
  assert.equal(now.length, 2, JSON.stringify(f));
  for (const h of now) assert.ok(!dead.has(h), `nothing placed on a dead host: ${h}\n${r}`);
  assert.ok(now.includes(b.address), 'the live replica stays');
  await sameBytes(id, p, 'repaired around the dead hosts');
});

test('a host that answers /health but never takes its contract is given up, and the replica placed elsewhere', { timeout: 300_000 }, async () => {
  // The agent's work is done; this repair is by hand alone.
  agent?.kill('SIGKILL');
  agent = undefined;
  // The refuser: healthy, following the chain (the real head), cheapest,
  // and answering "unknown contract" to everything else.
  const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  const refuser = keyring.addFromUri('//Refuser');
  let asked = 0;
  const server = createServer(async (req, res) => {
    if (req.url === '/health') {
      const best = (await api.rpc.chain.getHeader()).number.toNumber();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'ok', reason: null, best_block: best, chain_seen_secs_ago: 0 }));
      return;
    }
    asked++;
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'unknown contract' }));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${server.address().port}`;
    await submit(api, api.tx.balances.transferKeepAlive(refuser.address, 1000n * UNIT), alice);
    await submit(api, api.tx.storageMarket.registerHost(url, 'EU', 1n << 40n, u8aToHex(refuser.publicKey)), refuser);
    await submit(api, api.tx.deposits.deposit(100n * UNIT), refuser);
    await submit(api, api.tx.storageMarket.postOffer(10n ** 8n, 1n << 30n, 1, 1000), refuser);

    // A 2-replica file on two live hosts; one of them killed -9.
    const down = new Set([...original.slice(0, 3).map((c) => c.host), hosts[7].address]);
    const live = hosts.filter((h) => !down.has(h.address));
    assert.ok(live.length >= 3, `three live hosts left: ${live.map((h) => h.name)}`);
    const [a, b] = live;
    const p = file('refused.bin', (1 << 20) + 3);
    const out = await ok(['put', p, '--replicas', '2', '--duration', '100', '--wait', '120', '--hosts', `${a.address},${b.address}`]);
    const id = Number(out.match(/as file (\d+)/)[1]);
    await a.host.stop('SIGKILL');

    // The repair places on the cheapest offer (the refuser, which says it
    // is up), sees it follow the chain past the contract without taking
    // it, cancels that contract and places the replica again elsewhere,
    // well inside its 120 s wait (waiting it out would fail the repair).
    const r = await user.masp(['repair', String(id), '--wait', '120']);
    assert.equal(r.code, 0, `masp repair:\n${r.stderr}\n${r.stdout}`);
    assert.ok(asked > 0, 'the refuser was tried');
    assert.match(r.stderr, new RegExp(`host ${refuser.address} follows the chain past the contract but does not take it`), r.stderr);
    assert.match(r.stdout, /Rebuilt shard \d+ on host (\S+)/, r.stdout);
    const f = await health(id);
    assert.equal(f.alive, 2, JSON.stringify(f));
    const now = f.contracts.map((c) => c.host);
    assert.ok(!now.includes(refuser.address), `nothing left on the refuser: ${JSON.stringify(f)}`);
    assert.ok(!now.includes(a.address), 'nor on the dead host');
    assert.ok(now.includes(b.address), 'the live replica stays');
    await sameBytes(id, p, 'repaired around the refusing host');
  } finally {
    server.close();
  }
});
