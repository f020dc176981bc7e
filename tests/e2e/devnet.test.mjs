// The operator's story (issue 24), on the real `scripts/devnet`: a node and
// two hosts (//Bob, //Charlie) on 127.0.0.1, an epoch of 10 blocks of 500 ms.
//
// - a file stored as two replicas (one on each host);
// - `kill -9` of host-bob: the devnet reports it (with the restart command)
//   and keeps running: the node makes blocks, host-charlie stays healthy,
//   `scripts/devnet status` shows host-bob EXITED;
// - `masp get` reads the file, byte-identical, from Charlie's replica;
// - `scripts/devnet restart host-bob` brings it back, healthy, and Bob
//   proves its contract again in a later epoch;
// - SIGTERM stops the devnet and every process it started.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { ApiPromise, WsProvider } from '@polkadot/api';
import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady } from '@polkadot/util-crypto';

import { binary } from './lib/hosts.mjs';
import { freePort } from './lib/node.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const devnetScript = join(root, 'scripts', 'devnet');
const run = promisify(execFile);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let dir;
let devnet;
let output = '';
let api;
let env;
let rpcPort;
let hostPort;

/** Two consecutive free ports on 127.0.0.1 (the devnet's hosts take
 * --host-port and the next). */
async function freePair() {
  for (let i = 0; i < 50; i++) {
    const p = 20_000 + Math.floor(Math.random() * 30_000);
    const free = await Promise.all([p, p + 1].map((port) => new Promise((ok) => {
      const s = createServer();
      s.once('error', () => ok(false));
      s.listen(port, '127.0.0.1', () => s.close(() => ok(true)));
    })));
    if (free.every(Boolean)) return p;
  }
  throw new Error('no two consecutive free ports');
}

function pidOf(name) {
  return Number(readFileSync(join(dir, 'run', `${name}.pid`), 'utf8'));
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(what, fn, ms = 60_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; devnet output:\n${output.slice(-4000)}`);
    await sleep(250);
  }
}

async function masp(args) {
  const { stdout } = await run(binary('masp'), args, { env, maxBuffer: 1 << 24 });
  return stdout;
}

const healthy = async (port) => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => null))?.ok === true;

before(async () => {
  await cryptoWaitReady();
  dir = mkdtempSync(join(tmpdir(), 'masp-devnet-'));
  rpcPort = await freePort();
  hostPort = await freePair();
  devnet = spawn(
    devnetScript,
    ['--no-build', '--clean', '--rpc-port', String(rpcPort), '--block-time', '500', '--epoch-blocks', '10',
      '--hosts', '2', '--host-port', String(hostPort), '--proxies', '0', '--web-port', '0'],
    { env: { ...process.env, MASP_DEVNET_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  devnet.stdout.on('data', (d) => (output += d));
  devnet.stderr.on('data', (d) => (output += d));
  await waitFor('the devnet to start', () => {
    if (devnet.exitCode !== null) throw new Error(`scripts/devnet exited ${devnet.exitCode}:\n${output}`);
    return output.includes('MASP development network is running.');
  }, 180_000);
  api = await ApiPromise.create({ provider: new WsProvider(`ws://127.0.0.1:${rpcPort}`), noInitWarn: true });
  env = { ...process.env, MASP_HOME: join(dir, 'user'), MASP_PASSWORD: 'devnet-password', MASP_NODE: `ws://127.0.0.1:${rpcPort}` };
});

after(async () => {
  await api?.disconnect().catch(() => {});
  if (devnet && devnet.exitCode === null) {
    devnet.kill('SIGTERM');
    await Promise.race([new Promise((r) => devnet.once('exit', r)), sleep(20_000)]);
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a host killed -9 on the devnet: the rest keep running, the file reads from the other replica, the restarted host proves again', { timeout: 420_000 }, async () => {
  assert.match(readFileSync(join(dir, 'epoch-blocks'), 'utf8'), /^10/, 'the epoch was set');
  const file = join(dir, 'story.bin');
  writeFileSync(file, randomBytes((3 << 20) + 11));
  const out = await masp(['put', file, '--replicas', '2', '--duration', '40', '--wait', '120']);
  const id = Number(out.match(/as file (\d+)/)[1]);
  const bob = new Keyring({ type: 'sr25519', ss58Format: 42 }).addFromUri('//Bob').address;
  const contracts = (await api.call.storageMarketApi.hostContracts(bob, 100)).toJSON();
  assert.equal(contracts.length, 1, 'Bob holds one replica');
  const bobContract = contracts[0][0];

  // kill -9: reported with the restart command, the rest keep running.
  const bobPid = pidOf('host-bob');
  process.kill(bobPid, 'SIGKILL');
  await waitFor('the devnet to report host-bob', () => output.includes('scripts/devnet restart host-bob'), 30_000);
  assert.equal(devnet.exitCode, null, 'the devnet runs on');
  assert.ok(alive(pidOf('node')), 'the node runs on');
  assert.ok(await healthy(hostPort + 1), 'host-charlie stays healthy');
  const head = (await api.rpc.chain.getHeader()).number.toNumber();
  await waitFor('new blocks', async () => (await api.rpc.chain.getHeader()).number.toNumber() > head + 2, 30_000);
  const { stdout: status } = await run(devnetScript, ['status'], { env: { ...process.env, MASP_DEVNET_DIR: dir } });
  assert.match(status, /host-bob\s+EXITED: scripts\/devnet restart host-bob/);
  assert.match(status, /host-charlie\s+running \(pid \d+\), healthy/);

  // The file reads from Charlie's replica.
  const got = join(dir, 'story.out');
  await masp(['get', String(id), '-o', got]);
  assert.ok(readFileSync(got).equals(readFileSync(file)), 'byte-identical from the other replica');

  // Restarted with the same settings, Bob is healthy and proves again.
  const { stdout: restarted } = await run(devnetScript, ['restart', 'host-bob'], { env: { ...process.env, MASP_DEVNET_DIR: dir } });
  assert.match(restarted, /host-bob started again/);
  assert.notEqual(pidOf('host-bob'), bobPid);
  assert.ok(await healthy(hostPort), 'host-bob healthy again');
  const epoch = async () => (await api.call.storageMarketApi.currentEpoch()).toNumber();
  const since = await epoch();
  await waitFor('Bob to prove an epoch after its restart', async () => {
    const r = (await api.call.storageProofsApi.record(bobContract)).toJSON();
    return r && r.lastProven !== null && r.lastProven > since;
  }, 120_000);

  // SIGTERM stops the devnet and everything it started.
  const pids = ['node', 'host-bob', 'host-charlie'].map(pidOf);
  await api.disconnect();
  api = undefined;
  devnet.kill('SIGTERM');
  await waitFor('the devnet to stop', () => devnet.exitCode !== null || devnet.signalCode !== null, 30_000);
  await waitFor('its processes to stop', () => pids.every((p) => !alive(p)), 15_000);
});
