// Seal speed: how fast this browser seals and roots a file with the CLI's
// own code (WASM): `mib` MiB as one shard of 1 MiB chunks, each sealed
// (AES-256-GCM) and its Merkle root taken, then the root of roots; the
// best of three runs, as the Files page seals (WebCrypto's AES-GCM, the
// WASM build's Merkle roots) and, for comparison, all in WASM. The
// plaintext is made in the page first (not timed; the cipher's speed does
// not depend on the bytes). `scripts/bench-web` runs it beside `masp seal`
// on a file of the same size.
import { ShardSealer } from '../seal';
import { cipher } from '../wasm';

/** Chunks sealed ahead of the one being rooted (as the Files page does). */
export const AHEAD = 4;

export async function bench(el: HTMLElement, params: URLSearchParams): Promise<void> {
  const mib = Math.max(1, Math.min(2048, Number(params.get('mib') ?? 64) || 64));
  el.innerHTML = `<h1>Seal speed</h1>
    <p class="muted">Seals ${mib} MiB in this tab as <code>masp put</code> seals a shard (AES-256-GCM per 1 MiB chunk, a Merkle root per chunk, the root of roots), with the CLI's own code compiled to WASM; nothing leaves the tab. Best of three.</p>
    <button id="bench-run">Run</button><div id="bench-result"></div>`;
  const run = async () => {
    const out = el.querySelector<HTMLElement>('#bench-result')!;
    out.innerHTML = '<p class="muted">Sealing…</p>';
    const w = await cipher();
    const chunk = new Uint8Array(w.plain_chunk());
    for (let i = 0; i < chunk.length; i += 65536) crypto.getRandomValues(chunk.subarray(i, i + 65536));
    const size = BigInt(mib) << 20n;
    const count = Number(w.chunk_count(size));
    const last = Number(size - BigInt(count - 1) * BigInt(chunk.length));
    const fileId = crypto.getRandomValues(new Uint8Array(16));
    const fileKey = w.file_key(crypto.getRandomValues(new Uint8Array(32)), fileId);
    const time = async (seal: (i: number, plain: Uint8Array) => Promise<Uint8Array> | Uint8Array) => {
      let best = Infinity;
      for (let r = 0; r < 3; r++) {
        const roots = new Uint8Array(32 * count);
        const t0 = performance.now();
        // A few chunks sealing ahead (WebCrypto works off the main
        // thread) while the main thread roots the ones sealed.
        const ahead: (Promise<Uint8Array> | Uint8Array)[] = [];
        const start = (i: number) => seal(i, i + 1 === count ? chunk.subarray(0, last) : chunk);
        for (let i = 0; i < Math.min(AHEAD, count); i++) ahead.push(start(i));
        for (let i = 0; i < count; i++) {
          const sealed = await ahead[i];
          if (i + AHEAD < count) ahead.push(start(i + AHEAD));
          roots.set(w.chunk_root(sealed), 32 * i);
          delete ahead[i];
        }
        w.root_of_chunk_roots(roots);
        best = Math.min(best, (performance.now() - t0) / 1000);
      }
      return best;
    };
    const sealer = await ShardSealer.create(w, fileKey, fileId, 0, count);
    const best = await time((i, plain) => sealer.seal(i, plain));
    const wasm = await time((i, plain) => w.seal_shard_chunk(fileKey, fileId, 0, BigInt(count), BigInt(i), plain));
    const mibs = mib / best;
    out.innerHTML = `<p id="bench-done" data-mibs="${mibs.toFixed(2)}" data-seconds="${best.toFixed(4)}" data-wasm-seconds="${wasm.toFixed(4)}">${mib} MiB sealed and rooted in ${best.toFixed(3)} s: <strong>${mibs.toFixed(1)} MiB/s</strong> (all in WASM: ${(mib / wasm).toFixed(1)} MiB/s).</p>`;
  };
  el.querySelector('#bench-run')!.addEventListener('click', () => void run());
  if (params.has('run')) await run();
}
