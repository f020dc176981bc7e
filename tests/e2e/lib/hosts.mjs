// Starts real `masp-host` daemons and runs the real `masp` CLI for the
// end-to-end tests. Binaries come from the build cache (scripts/build).

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort } from './node.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Path of one of our release binaries. */
export function binary(name) {
  const target = process.env.CARGO_TARGET_DIR || join(process.env.HOME, '.cache', 'masp-target');
  const bin = join(target, 'release', name);
  if (!existsSync(bin)) throw new Error(`${name} not found at ${bin}: build it with scripts/build`);
  return bin;
}

/** Runs a command to completion: { code, stdout, stderr }. */
export function run(bin, args, { env = {}, input, timeoutMs = 300_000 } = {}) {
  return new Promise((ok, fail) => {
    const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => { child.kill('SIGKILL'); fail(new Error(`${bin} ${args.join(' ')} timed out:\n${stderr}`)); }, timeoutMs);
    child.on('error', fail);
    child.on('exit', (code) => { clearTimeout(t); ok({ code, stdout, stderr }); });
    if (input !== undefined) child.stdin.end(input); else child.stdin.end();
  });
}

/**
 * `planck` (a BigInt or a whole number) as a decimal amount of MASP, the way
 * masp-host reads amounts: 1000000000n is "0.001" (1 MASP = 10^12 planck).
 */
export function maspAmount(planck) {
  const p = BigInt(planck);
  if (p < 0n) throw new Error(`a negative amount: ${p}`);
  const unit = 10n ** 12n;
  const frac = (p % unit).toString().padStart(12, '0').replace(/0+$/, '');
  return frac ? `${p / unit}.${frac}` : `${p / unit}`;
}

/**
 * A `masp-host` with its own data dir and port, registered on chain with
 * `suri` (a dev URI like //Bob) at `price` per GiB per epoch. `price`,
 * `deposit` and `egressPrice` are in planck (passed on in MASP).
 */
export async function startHost({ name, suri, nodeUrl, price, deposit = 100n * 10n ** 12n, pollMs = 250, egressPrice = 0n, addr = '127.0.0.1', log = 'info' }) {
  const dir = mkdtempSync(join(tmpdir(), `masp-host-${name}-`));
  const port = await freePort();
  const url = `http://${addr}:${port}`;
  writeFileSync(join(dir, 'host.key'), `${suri}\n`, { mode: 0o600 });
  const bin = binary('masp-host');
  let r = await run(bin, ['init', '--config', join(dir, 'host.toml')]);
  if (r.code !== 0) throw new Error(`masp-host init: ${r.stderr}`);
  const env = {
    MASP_HOST_LISTEN: `${addr}:${port}`,
    MASP_HOST_PUBLIC_URL: url,
    MASP_HOST_NODE_URL: nodeUrl,
    MASP_HOST_PRICE: maspAmount(price),
    MASP_HOST_DEPOSIT: maspAmount(deposit),
    MASP_HOST_POLL_INTERVAL_MS: String(pollMs),
    MASP_HOST_GRACE_PERIOD_SECS: '3600',
    // Per GiB served (0: free) and how often receipts are redeemed.
    MASP_HOST_EGRESS_PRICE: maspAmount(egressPrice),
    MASP_HOST_REDEEM_INTERVAL_SECS: '2',
    RUST_LOG: log,
  };
  const config = ['--config', join(dir, 'host.toml')];
  r = await run(bin, ['register', ...config], { env });
  if (r.code !== 0) throw new Error(`masp-host register (${name}): ${r.stderr}${r.stdout}`);
  const logFile = join(dir, 'host.log');
  const host = { name, dir, url, port, logFile, child: null, exited: null };
  // `extra`: more environment for this run (e.g. MASP_HOST_CRASH_AT).
  host.start = async (extra = {}) => {
    const log = openSync(logFile, 'a');
    const child = spawn(bin, ['run', ...config], { env: { ...process.env, ...env, ...extra }, stdio: ['ignore', log, log] });
    host.child = child;
    host.exited = null;
    child.on('exit', (code, signal) => { host.exited = { code, signal }; });
    process.once('exit', () => { if (host.exited === null) child.kill('SIGKILL'); });
    for (let i = 0; i < 200; i++) {
      if (host.exited) throw new Error(`masp-host ${name} exited: ${tail(logFile)}`);
      try {
        const res = await fetch(`${url}/health`);
        if (res.ok) return;
      } catch {}
      await sleep(100);
    }
    throw new Error(`masp-host ${name} did not answer /health:\n${tail(logFile)}`);
  };
  host.stop = async (signal = 'SIGTERM') => {
    if (!host.child || host.exited) return host.exited;
    host.child.kill(signal);
    for (let i = 0; i < 200 && host.exited === null; i++) await sleep(50);
    if (host.exited === null) host.child.kill('SIGKILL');
    for (let i = 0; i < 100 && host.exited === null; i++) await sleep(50);
    return host.exited;
  };
  host.cleanup = async () => { await host.stop(); rmSync(dir, { recursive: true, force: true }); };
  host.log = () => tail(logFile, 60);
  await host.start();
  return host;
}

/**
 * A `masp-proxy` on `addr` (a loopback address of its own), registered on
 * chain with `suri` at `price` (MASP per GiB relayed, decimal string).
 * `settings`: more MASP_PROXY_* values (e.g. { CREDIT_BYTES: 1048576 }).
 */
export async function startProxy({ name, suri, nodeUrl, price = '0.5', addr, settings = {} }) {
  const dir = mkdtempSync(join(tmpdir(), `masp-proxy-${name}-`));
  const port = await freePort();
  const url = `http://${addr}:${port}`;
  writeFileSync(join(dir, 'proxy.key'), `${suri}\n`, { mode: 0o600 });
  const bin = binary('masp-proxy');
  let r = await run(bin, ['init', '--config', join(dir, 'proxy.toml')]);
  if (r.code !== 0) throw new Error(`masp-proxy init: ${r.stderr}`);
  const env = {
    MASP_PROXY_LISTEN: `${addr}:${port}`,
    MASP_PROXY_PUBLIC_URL: url,
    MASP_PROXY_NODE_URL: nodeUrl,
    MASP_PROXY_PRICE: price,
    // Hosts and proxies of the test are on loopback addresses.
    MASP_PROXY_ALLOW_PRIVATE_TARGETS: 'true',
    // Its connections to hosts leave from its own address.
    MASP_PROXY_OUTGOING_ADDRESS: addr,
    MASP_PROXY_REDEEM_INTERVAL_SECS: '2',
    RUST_LOG: 'info',
    ...Object.fromEntries(Object.entries(settings).map(([k, v]) => [`MASP_PROXY_${k}`, String(v)])),
  };
  const config = ['--config', join(dir, 'proxy.toml')];
  r = await run(bin, ['register', ...config], { env });
  if (r.code !== 0) throw new Error(`masp-proxy register (${name}): ${r.stderr}${r.stdout}`);
  const logFile = join(dir, 'proxy.log');
  const proxy = { name, dir, url, addr, port, logFile, child: null, exited: null };
  proxy.start = async () => {
    const log = openSync(logFile, 'a');
    const child = spawn(bin, ['run', ...config], { env: { ...process.env, ...env }, stdio: ['ignore', log, log] });
    proxy.child = child;
    proxy.exited = null;
    child.on('exit', (code, signal) => { proxy.exited = { code, signal }; });
    process.once('exit', () => { if (proxy.exited === null) child.kill('SIGKILL'); });
    for (let i = 0; i < 200; i++) {
      if (proxy.exited) throw new Error(`masp-proxy ${name} exited: ${tail(logFile)}`);
      try {
        const res = await fetch(`${url}/v1/info`);
        if (res.ok) return;
      } catch {}
      await sleep(100);
    }
    throw new Error(`masp-proxy ${name} did not answer /v1/info:\n${tail(logFile)}`);
  };
  proxy.stop = async (signal = 'SIGTERM') => {
    if (!proxy.child || proxy.exited) return proxy.exited;
    proxy.child.kill(signal);
    for (let i = 0; i < 200 && proxy.exited === null; i++) await sleep(50);
    if (proxy.exited === null) proxy.child.kill('SIGKILL');
    for (let i = 0; i < 100 && proxy.exited === null; i++) await sleep(50);
    return proxy.exited;
  };
  /** Its Prometheus metric `name` (summed over labels matching `labels`). */
  proxy.metric = async (metric, labels = '') => {
    const text = await (await fetch(`${url}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith(`${metric}{`) || line.startsWith(`${metric} `)) {
        if (labels && !line.includes(labels)) continue;
        sum += Number(line.split(' ').at(-1));
      }
    }
    return sum;
  };
  /** What it holds of `payer`'s relay channel (GET /v1/relay/0x...). */
  proxy.status = async (payerHex) => (await fetch(`${url}/v1/relay/${payerHex}`)).json();
  proxy.cleanup = async () => { await proxy.stop(); rmSync(dir, { recursive: true, force: true }); };
  proxy.log = () => tail(logFile, 60);
  await proxy.start();
  return proxy;
}

export function tail(file, lines = 40) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** A `masp` CLI user with its own home, key file and password. */
export function maspUser({ nodeUrl, password = 'correct horse battery' }) {
  const home = mkdtempSync(join(tmpdir(), 'masp-home-'));
  const bin = binary('masp');
  const user = {
    home,
    masp: (args, opts = {}) => run(bin, ['--home', home, '--node', nodeUrl, '--quiet', ...args], {
      ...opts,
      env: { MASP_PASSWORD: password, ...(opts.env || {}) },
    }),
    /** Starts `masp args` without waiting: { child, done: Promise<{ code, stdout, stderr }> }. */
    spawn: (args, opts = {}) => {
      const child = spawn(bin, ['--home', home, '--node', nodeUrl, '--quiet', ...args], {
        env: { ...process.env, MASP_PASSWORD: password, ...(opts.env || {}) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => { stdout += d; });
      child.stderr.on('data', (d) => { stderr += d; });
      const done = new Promise((ok) => child.on('exit', (code) => ok({ code, stdout, stderr })));
      return { child, done };
    },
    cleanup: () => rmSync(home, { recursive: true, force: true }),
  };
  return user;
}
