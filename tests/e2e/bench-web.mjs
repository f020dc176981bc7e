// In-browser sealing throughput (issue 23's goal: >= 0.3x the native CLI),
// in one run: `masp seal` (the CLI's local pipeline: read, chunk, seal,
// Merkle, on every core; no output written) on a random file of SIZE MiB in
// tmpfs, best of three after a warm-up;
// then the web app's Seal speed page (#bench) in Debian's Chromium, which
// seals and roots the same amount with the CLI's code compiled to WASM
// (the chunk roots in Web Workers, one per core), best of three. Prints both and the ratio. Not a test: timings never
// decide pass/fail. Needs web/dist (cd web && npm run build).
// Usage: scripts/bench-web [MiB]
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const MIB = Number(process.argv[2] || 256);
const here = fileURLToPath(new URL('.', import.meta.url));
const webDir = join(here, '..', '..', 'web');
const masp = join(process.env.MASP_BIN_DIR, 'masp');
const shm = existsSync('/dev/shm') ? '/dev/shm' : process.env.TMPDIR || '/tmp';
const work = mkdtempSync(join(shm, 'masp-bench-web-'));
let browser;
let server;
try {
  const file = join(work, 'file.bin');
  writeFileSync(file, Buffer.alloc(0));
  for (let i = 0; i < MIB; i++) writeFileSync(file, randomBytes(1 << 20), { flag: 'a' });
  let cli = Infinity;
  for (let r = 0; r < 4; r++) {
    const t0 = process.hrtime.bigint();
    execFileSync(masp, ['seal', file], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, MASP_HOME: join(work, 'home') } });
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r > 0) cli = Math.min(cli, secs); // the first run warms the page cache
  }
  const { serve } = await import(join(webDir, 'serve.mjs'));
  server = await serve(0);
  browser = await chromium.launch({
    executablePath: process.env.MASP_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/#bench?mib=${MIB}&run`);
  await page.waitForSelector('#bench-done', { timeout: 600_000 });
  const secs = Number(await page.$eval('#bench-done', (e) => e.dataset.seconds));
  const wasmSecs = Number(await page.$eval('#bench-done', (e) => e.dataset.wasmSeconds));
  const workers = await page.$eval('#bench-done', (e) => e.dataset.workers);
  const cliMibs = MIB / cli;
  const webMibs = MIB / secs;
  console.log(`${MIB} MiB, best of 3 each`);
  console.log(`  masp seal (native, ${process.env.MASP_PROFILE || 'release'}): ${cli.toFixed(3)} s  ${cliMibs.toFixed(1)} MiB/s`);
  console.log(`  browser (Chromium: WebCrypto AES-GCM, WASM Merkle in ${workers} workers, as the Files page): ${secs.toFixed(3)} s  ${webMibs.toFixed(1)} MiB/s`);
  console.log(`  browser, all in WASM (software AES on the page's thread):${' '.repeat(33 + String(workers).length)}${wasmSecs.toFixed(3)} s  ${(MIB / wasmSecs).toFixed(1)} MiB/s`);
  console.log(`  browser / native: x${(webMibs / cliMibs).toFixed(2)} (goal >= 0.3)`);
} finally {
  await browser?.close().catch(() => {});
  server?.close();
  rmSync(work, { recursive: true, force: true });
}
