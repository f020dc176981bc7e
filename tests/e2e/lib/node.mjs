// Starts and stops a real `masp-node --dev` for the end-to-end tests.
//
// Each node gets its own temp base path and free 127.0.0.1 ports; its log goes
// to a file in that dir (printed when a test fails to start it). `stop()` ends
// the process (SIGINT, then SIGKILL after a grace period) and checks that no
// process is left behind.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

import { ApiPromise, WsProvider } from '@polkadot/api';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');

/** Path of the masp-node binary: $MASP_NODE_BIN or the build cache's release build. */
export function nodeBinary() {
  if (process.env.MASP_NODE_BIN) return process.env.MASP_NODE_BIN;
  const target = process.env.CARGO_TARGET_DIR || join(process.env.HOME, '.cache', 'masp-target');
  return join(target, 'release', 'masp-node');
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `masp-node --dev` (a block every `blockTimeMs`, or one per transaction
 * with `instantSeal`) and connects @polkadot/api to it (no custom types).
 * Resolves to { api, rpcUrl, child, dir, logFile, stop }.
 */
export async function startDevNode({ blockTimeMs = 1000, instantSeal = false, extraArgs = [] } = {}) {
  const bin = nodeBinary();
  if (!existsSync(bin)) {
    throw new Error(`masp-node not found at ${bin}: build it with scripts/build (or set MASP_NODE_BIN)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'masp-node-'));
  const [rpcPort, p2pPort] = [await freePort(), await freePort()];
  const logFile = join(dir, 'node.log');
  const log = openSync(logFile, 'a');
  const args = [
    '--dev',
    ...(instantSeal ? ['--instant-seal'] : ['--dev-block-time', String(blockTimeMs)]),
    '--base-path', join(dir, 'data'),
    '--rpc-port', String(rpcPort),
    '--listen-addr', `/ip4/127.0.0.1/tcp/${p2pPort}`,
    '--no-prometheus',
    '--no-telemetry',
    '--no-mdns',
    '--offchain-worker', 'always',
    ...extraArgs,
  ];
  const child = spawn(bin, args, { stdio: ['ignore', log, log], cwd: ROOT });
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  // Never leave a node behind, even if the test runner exits abruptly.
  const reap = () => { if (exited === null) child.kill('SIGKILL'); };
  process.once('exit', reap);

  const rpcUrl = `ws://127.0.0.1:${rpcPort}`;
  const stop = async () => {
    // The chain's state after the story, for the runtime's invariant
    // checks (runtime/tests/try_state.rs, run by scripts/test after the
    // end-to-end tests).
    if (process.env.MASP_STATE_DIR && exited === null && globalThis.__maspApi?.isConnected) {
      const name = `${basename(process.argv[1] ?? 'e2e', '.mjs')}-${rpcPort}.json`;
      await dumpState(globalThis.__maspApi, join(process.env.MASP_STATE_DIR, name)).catch((e) => {
        console.error(`state dump for the try-state check failed: ${e.message}`);
      });
    }
    if (globalThis.__maspApi) await globalThis.__maspApi.disconnect().catch(() => {});
    if (exited === null) {
      child.kill('SIGINT');
      for (let i = 0; i < 100 && exited === null; i++) await sleep(100);
      if (exited === null) child.kill('SIGKILL');
      for (let i = 0; i < 50 && exited === null; i++) await sleep(100);
    }
    if (alive(child.pid)) throw new Error(`masp-node (pid ${child.pid}) is still running after stop`);
    rmSync(dir, { recursive: true, force: true });
    return exited;
  };

  // Wait for the RPC server (the node first builds genesis and opens its DB).
  const deadline = Date.now() + 240_000;
  let api;
  while (!api) {
    if (exited !== null) {
      throw new Error(`masp-node exited (${JSON.stringify(exited)}) before serving RPC:\n${tail(logFile)}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`masp-node did not serve RPC on ${rpcUrl} within 240 s:\n${tail(logFile)}`);
    }
    const provider = new WsProvider(rpcUrl, false);
    try {
      await provider.connect();
      await waitConnected(provider, 2_000);
      api = await ApiPromise.create({ provider, throwOnConnect: true, noInitWarn: true });
    } catch {
      await provider.disconnect().catch(() => {});
      await sleep(500);
    }
  }
  globalThis.__maspApi = api;
  return { api, rpcUrl, child, dir, logFile, stop };
}

function waitConnected(provider, ms) {
  return new Promise((ok, fail) => {
    if (provider.isConnected) return ok();
    const t = setTimeout(() => fail(new Error('not connected')), ms);
    provider.on('connected', () => { clearTimeout(t); ok(); });
  });
}

function tail(file, lines = 40) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Resolves once the best block number reaches `n`. */
export async function waitForBlock(api, n, timeoutMs = 60_000) {
  return new Promise((ok, fail) => {
    let unsub;
    const t = setTimeout(() => { unsub?.(); fail(new Error(`block ${n} not reached in ${timeoutMs} ms`)); }, timeoutMs);
    api.rpc.chain.subscribeNewHeads((h) => {
      if (h.number.toNumber() >= n) {
        clearTimeout(t);
        unsub?.();
        ok(h.number.toNumber());
      }
    }).then((u) => { unsub = u; });
  });
}

/** Signs, submits and waits for inclusion; resolves to { blockHash, events }, rejects on a dispatch error. */
export function submit(api, tx, signer) {
  return new Promise((ok, fail) => {
    tx.signAndSend(signer, ({ status, events, dispatchError }) => {
      if (dispatchError) {
        fail(new Error(describeError(api, dispatchError)));
      } else if (status.isInBlock || status.isFinalized) {
        // The dev node's manual seal finalizes each block as it imports it: the
        // pool may report Finalized without an InBlock first.
        ok({ blockHash: status.isInBlock ? status.asInBlock : status.asFinalized, events });
      } else if (status.isInvalid || status.isDropped || status.isUsurped) {
        fail(new Error(`transaction ${status.type}`));
      }
    }).catch(fail);
  });
}

/** A dispatch error as "pallet.Error" (module errors) or its string form. */
export function describeError(api, err) {
  if (err.isModule) {
    const d = api.registry.findMetaError(err.asModule);
    return `${d.section}.${d.name}`;
  }
  return err.toString();
}

/** Writes every storage pair of the chain at its best block (but the
 * runtime's code) to `file` as JSON: `{ block, pairs: [[key, value]] }`,
 * hex. The temp file is renamed into place whole. */
export async function dumpState(api, file) {
  const at = (await api.rpc.chain.getHeader()).hash.toHex();
  const block = (await api.rpc.chain.getHeader(at)).number.toNumber();
  const send = (method, params) => api._rpcCore.provider.send(method, params);
  const pairs = [];
  let start = null;
  for (;;) {
    const page = await send('state_getKeysPaged', ['0x', 1000, start, at]);
    const keys = page.filter((k) => k !== '0x3a636f6465'); // ":code"
    if (keys.length) {
      const [set] = await send('state_queryStorageAt', [keys, at]);
      for (const [k, v] of set.changes) if (v !== null) pairs.push([k, v]);
    }
    if (page.length < 1000) break;
    start = page[page.length - 1];
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, JSON.stringify({ block, pairs }));
  renameSync(`${file}.tmp`, file);
}
