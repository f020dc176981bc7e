// A storage host killed at the worst moments, then restarted: the real
// `masp-host` binary dies (abort, as kill -9 would stop it: no cleanup) at
// a crash point (`MASP_HOST_CRASH_AT`) on a dev node, with the real `masp`
// CLI as the Sender.
//
// - during an upload, between a chunk file landing and its index entry: the
//   chunk is not served after the restart, and the upload resumes;
// - during a proof, after the chain took it and before the host recorded it:
//   the restarted host does not prove that epoch twice, misses nothing and
//   goes on proving;
// - during a delete, between the index and the files: the restarted host
//   sweeps the files, and forgets nothing else.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Keyring } from '@polkadot/keyring';
import { u8aToHex } from '@polkadot/util';
import { cryptoWaitReady, xxhashAsHex } from '@polkadot/util-crypto';

import { startDevNode, submit } from './lib/node.mjs';
import { maspUser, startHost } from './lib/hosts.mjs';

const UNIT = 10n ** 12n;
const EPOCH = 10; // blocks of 500 ms
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let node;
let api;
let host;
let user;
let work;

before(async () => {
  await cryptoWaitReady();
  const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  const alice = keyring.addFromUri('//Alice');
  node = await startDevNode({ blockTimeMs: 500 });
  api = node.api;
  await submit(api, api.tx.sudo.sudo(api.tx.system.setStorage([[xxhashAsHex(':EpochLength:', 128), u8aToHex(api.createType('u32', EPOCH).toU8a())]])), alice);
  host = await startHost({ name: 'bob', suri: '//Bob', nodeUrl: node.rpcUrl, price: 10n ** 9n });
  user = maspUser({ nodeUrl: node.rpcUrl });
  const r = await user.masp(['keys', 'new']);
  assert.equal(r.code, 0, r.stderr);
  user.address = r.stdout.match(/Account: (\S+)/)[1];
  await submit(api, api.tx.balances.transferKeepAlive(user.address, 1000n * UNIT), alice);
  work = mkdtempSync(join(tmpdir(), 'masp-crash-'));
});

after(async () => {
  await host?.cleanup().catch(() => {});
  user?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
  if (node) await node.stop();
});

/** Restarts the host with `MASP_HOST_CRASH_AT=point` and more settings. */
async function armed(point, extra = {}) {
  await host.stop();
  await host.start({ MASP_HOST_CRASH_AT: point, ...extra });
}

/** Waits until the armed host dies; it must have aborted. */
async function died(what, ms = 60_000) {
  for (let i = 0; i < ms / 100 && host.exited === null; i++) await sleep(100);
  assert.ok(host.exited, `the host did not reach the crash point ${what}:\n${host.log()}`);
  assert.equal(host.exited.signal, 'SIGABRT', JSON.stringify(host.exited));
  assert.match(host.log(), new RegExp(`MASP_HOST_CRASH_AT=${what}`));
}

const contractOf = async (fileId) => {
  const list = await api.call.storageMarketApi.senderContracts(user.address, 100);
  const [id, c] = list.find(([, c]) => c.request.toNumber() === fileId);
  return [id.toNumber(), c];
};

let fileId;
let contract;
let path;

test('killed between a chunk file and its index entry: the chunk is not served, the upload resumes', { timeout: 300_000 }, async () => {
  path = join(work, 'data.bin');
  writeFileSync(path, randomBytes(3 << 20));
  await armed('chunk-written');
  const first = await user.masp(['put', path, '--replicas', '1', '--duration', '30', '--wait', '20']);
  assert.notEqual(first.code, 0, 'the put cannot finish: the host died');
  await died('chunk-written');
  fileId = Math.max(...(await api.call.storageMarketApi.senderContracts(user.address, 100)).map(([, c]) => c.request.toNumber()));
  [contract] = await contractOf(fileId);
  // The chunk's file reached the disk before the crash ...
  const chunkDir = join(host.dir, 'data', 'chunks', String(contract));
  assert.ok(readdirSync(chunkDir).some((f) => /^\d+$/.test(f)), 'the crash came after a chunk file was written');
  await host.start();
  // ... but the restarted host does not count or serve it.
  const status = await (await fetch(`${host.url}/v1/contracts/${contract}`)).json();
  assert.equal(status.missing.length, status.chunks, `no chunk is indexed: ${JSON.stringify(status)}`);
  const again = await user.masp(['put', path, '--replicas', '1', '--duration', '30', '--wait', '60']);
  assert.equal(again.code, 0, `${again.stderr}\n${host.log()}`);
  assert.match(again.stdout, /\(resumed\)/);
  const out = join(work, 'data.out');
  const g = await user.masp(['get', String(fileId), '-o', out]);
  assert.equal(g.code, 0, g.stderr);
  assert.ok(readFileSync(out).equals(readFileSync(path)), 'byte-identical');
});

test('killed after the chain took a proof: no epoch is proven twice or missed, proving goes on', { timeout: 300_000 }, async () => {
  await armed('proofs-submitted');
  await died('proofs-submitted');
  const record = async () => (await api.call.storageProofsApi.record(contract)).unwrap();
  const at = (await record()).lastProven.unwrap().toNumber();
  await host.start();
  // The next two epochs are proven by the restarted host.
  for (let i = 0; i < 400 && (await record()).lastProven.unwrap().toNumber() < at + 2; i++) await sleep(250);
  const r = await record();
  assert.ok(r.lastProven.unwrap().toNumber() >= at + 2, `proving went on: ${JSON.stringify(r.toJSON())}\n${host.log()}`);
  assert.equal(r.totalMisses.toNumber(), 0, 'no epoch was missed');
  assert.doesNotMatch(host.log(), /proof refused/, 'the epoch proven before the crash was not sent as a bad proof');
  const [, c] = await contractOf(fileId);
  assert.ok(c.paid.toBigInt() > 0n, 'the host is paid');
});

test('killed between the index and the files of a delete: the restart sweeps the files, nothing else is lost', { timeout: 300_000 }, async () => {
  // A second file that stays.
  const keep = join(work, 'keep.bin');
  writeFileSync(keep, randomBytes(1 << 20));
  const k = await user.masp(['put', keep, '--replicas', '1', '--duration', '30', '--wait', '60']);
  assert.equal(k.code, 0, k.stderr);
  const keepId = Number(k.stdout.match(/as file (\d+)/)[1]);
  const [keepContract] = await contractOf(keepId);
  await armed('delete-indexed', { MASP_HOST_GRACE_PERIOD_SECS: '0' });
  const rm = await user.masp(['rm', String(fileId)]);
  assert.equal(rm.code, 0, rm.stderr);
  await died('delete-indexed');
  const chunkDir = join(host.dir, 'data', 'chunks', String(contract));
  assert.ok(existsSync(chunkDir), 'the crash came before the files were removed');
  await host.start();
  assert.ok(!existsSync(chunkDir), 'the restarted host swept the deleted contract\'s files');
  assert.equal((await fetch(`${host.url}/v1/contracts/${contract}`)).status, 404);
  // The other contract is whole and still served.
  const status = await (await fetch(`${host.url}/v1/contracts/${keepContract}`)).json();
  assert.deepEqual(status.missing, []);
  const out = join(work, 'keep.out');
  const g = await user.masp(['get', String(keepId), '-o', out]);
  assert.equal(g.code, 0, g.stderr);
  assert.ok(readFileSync(out).equals(readFileSync(keep)));
});
