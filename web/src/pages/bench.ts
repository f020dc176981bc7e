// Seal speed: how fast this browser seals and roots a file with the CLI's
// own code (WASM): `mib` MiB as one shard of 1 MiB chunks, each sealed
// (AES-256-GCM) and its Merkle root taken, then the root of roots; the
// best of three runs, as the Files page seals (WebCrypto's AES-GCM, the
// chunk roots in a pool of Web Workers running the WASM build: roots.ts)
// and, for comparison, with the sealing in WASM too (on the main thread,
// the roots still in the workers). The plaintext is made in the page first
// (not timed; the cipher's speed does not depend on the bytes).
// `scripts/bench-web` runs it beside `masp seal` on a file of the same
// size.
import { RootPool } from '../roots';
import { ShardSealer } from '../seal';
import { cipher } from '../wasm';

/** Chunks in flight (sealing, or waiting for or in a worker) per worker. */
export const AHEAD = 3;

export async function bench(el: HTMLElement, params: URLSearchParams): Promise<void> {
  const mib = Math.max(1, Math.min(2048, Number(params.get('mib') ?? 64) || 64));
  el.innerHTML = `<h1>Seal speed</h1>
    <p class="muted">Seals ${mib} MiB in this tab as <code>masp put</code> seals a shard (AES-256-GCM per 1 MiB chunk, a Merkle root per chunk, the root of roots), with the CLI's own code compiled to WASM: the chunks sealed with the browser's AES-GCM, their roots taken in Web Workers, one per core; nothing leaves the tab. Best of three.</p>
    <button id="bench-run">Run</button><div id="bench-result"></div>`;
  const run = async () => {
    const out = el.querySelector<HTMLElement>('#bench-result')!;
    out.innerHTML = '<p class="muted">Sealing…</p>';
    const w = await cipher();
    const pool = new RootPool();
    try {
      const chunk = new Uint8Array(w.plain_chunk());
      for (let i = 0; i < chunk.length; i += 65536) crypto.getRandomValues(chunk.subarray(i, i + 65536));
      const size = BigInt(mib) << 20n;
      const count = Number(w.chunk_count(size));
      const last = Number(size - BigInt(count - 1) * BigInt(chunk.length));
      const fileId = crypto.getRandomValues(new Uint8Array(16));
      const fileKey = w.file_key(crypto.getRandomValues(new Uint8Array(32)), fileId);
      // The workers' WASM is ready before the clock starts.
      await Promise.all(Array.from({ length: pool.size }, () => pool.root(new Uint8Array(1))));
      const depth = AHEAD * pool.size;
      const time = async (sealRoot: (i: number, plain: Uint8Array) => Promise<Uint8Array>) => {
        let best = Infinity;
        for (let r = 0; r < 3; r++) {
          const roots = new Uint8Array(32 * count);
          const t0 = performance.now();
          // Up to `depth` chunks at once, each sealed (WebCrypto works off
          // the main thread) then rooted by a worker; the roots land in
          // order whatever order they come back in.
          const flight: Promise<void>[] = [];
          for (let i = 0; i < count; i++) {
            if (i >= depth) await flight[i - depth];
            flight[i] = (async () => {
              roots.set(await sealRoot(i, i + 1 === count ? chunk.subarray(0, last) : chunk), 32 * i);
            })();
          }
          await Promise.all(flight);
          w.root_of_chunk_roots(roots);
          best = Math.min(best, (performance.now() - t0) / 1000);
        }
        return best;
      };
      const sealer = await ShardSealer.create(w, fileKey, fileId, 0, count);
      const best = await time(async (i, plain) => pool.root(await sealer.seal(i, plain)));
      const wasm = await time((i, plain) => pool.root(w.seal_shard_chunk(fileKey, fileId, 0, BigInt(count), BigInt(i), plain)));
      const mibs = mib / best;
      out.innerHTML = `<p id="bench-done" data-mibs="${mibs.toFixed(2)}" data-seconds="${best.toFixed(4)}" data-wasm-seconds="${wasm.toFixed(4)}" data-workers="${pool.size}">${mib} MiB sealed and rooted in ${best.toFixed(3)} s with ${pool.size} worker${pool.size === 1 ? '' : 's'}: <strong>${mibs.toFixed(1)} MiB/s</strong> (sealed in WASM too: ${(mib / wasm).toFixed(1)} MiB/s).</p>`;
    } finally {
      pool.close();
    }
  };
  el.querySelector('#bench-run')!.addEventListener('click', () => void run());
  if (params.has('run')) await run();
}
