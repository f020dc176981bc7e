// Reading a file of k+m shards stripe by stripe, as `masp get` does: one
// loop for the Files page (a Sender's own file) and the Listings page (a
// Receiver's), which differ only in how a chunk is fetched.

import type { Cipher } from './wasm';

/** A file's shape: `k` data and `m` parity shards over `size` bytes. */
export interface Shape {
  k: number;
  m: number;
  size: number;
}

/**
 * Every stripe's plaintext, in order: any k chunks of a stripe (data
 * shards first, so nothing is decoded while they answer; a shard in `dead`
 * is skipped), joined or decoded in WASM (`stripe_plain`).
 * `fetchChunk(t, s)` gives chunk `s` of shard `t`, checked and opened, or
 * undefined after adding `t` to `dead`. `progress` gets the bytes done.
 */
export async function readStripes(
  w: Cipher,
  f: Shape,
  stripes: number,
  dead: Set<number>,
  fetchChunk: (t: number, s: number) => Promise<Uint8Array | undefined>,
  progress: (done: number) => void,
): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = [];
  let done = 0;
  for (let s = 0; s < stripes; s++) {
    const lens = w.stripe_lens(f.k, f.m, BigInt(f.size), BigInt(s));
    const has = [...lens.keys()].filter((t) => lens[t] > 0);
    const need = has.filter((t) => t < f.k).length;
    const got: [number, Uint8Array][] = [];
    for (const t of has) {
      if (got.length === need) break;
      if (dead.has(t)) continue;
      const c = await fetchChunk(t, s);
      if (c) got.push([t, c]);
    }
    if (got.length < need) throw new Error(`stripe ${s}: ${got.length} of the ${need} chunks needed could be read (shards ${[...dead].join(', ')} failed)`);
    const concat = new Uint8Array(got.reduce((n, [, c]) => n + c.length, 0));
    let at = 0;
    for (const [, c] of got) {
      concat.set(c, at);
      at += c.length;
    }
    const plain = w.stripe_plain(f.k, f.m, BigInt(f.size), BigInt(s), Uint32Array.from(got.map(([t]) => t)), concat);
    parts.push(plain);
    done += plain.length;
    progress(done);
  }
  if (done !== f.size) throw new Error(`${done} bytes read, the manifest says ${f.size}`);
  return parts;
}
