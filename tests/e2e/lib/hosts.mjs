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
 * A `masp-host` with its own data dir and port, registered on chain with
 * `suri` (a dev URI like //Bob) at `price` per GiB per epoch.
 */
export async function startHost({ name, suri, nodeUrl, price, deposit = 100n * 10n ** 12n, pollMs = 250, egressPrice = 0n }) {
  const dir = mkdtempSync(join(tmpdir(), `masp-host-${name}-`));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  writeFileSync(join(dir, 'host.key'), `${suri}\n`, { mode: 0o600 });
  const bin = binary('masp-host');
  let r = await run(bin, ['init', '--config', join(dir, 'host.toml')]);
  if (r.code !== 0) throw new Error(`masp-host init: ${r.stderr}`);
  const env = {
    MASP_HOST_LISTEN: `127.0.0.1:${port}`,
    MASP_HOST_PUBLIC_URL: url,
    MASP_HOST_NODE_URL: nodeUrl,
    MASP_HOST_PRICE: String(price),
    MASP_HOST_DEPOSIT: String(deposit),
    MASP_HOST_POLL_INTERVAL_MS: String(pollMs),
    MASP_HOST_GRACE_PERIOD_SECS: '3600',
    // Planck per GiB served (0: free) and how often receipts are redeemed.
    MASP_HOST_EGRESS_PRICE: String(egressPrice),
    MASP_HOST_REDEEM_INTERVAL_SECS: '2',
    RUST_LOG: 'info',
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
    cleanup: () => rmSync(home, { recursive: true, force: true }),
  };
  return user;
}
