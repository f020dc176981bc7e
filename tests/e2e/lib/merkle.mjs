// The storage proof format rebuilt in JavaScript from its documented rules
// (masp_proofs): BLAKE2b-256, 0x00 leaf / 0x01 node tags, 512-byte leaves, an
// odd level's last node promoted unchanged; CHALLENGE_LEAVES leaves drawn per
// epoch from the epoch's seed and answered by one multi-proof. Tests that
// prove with these helpers also check that the rules as documented are the
// rules the runtime applies.

import { u8aConcat, u8aToHex } from '@polkadot/util';
import { blake2AsU8a } from '@polkadot/util-crypto';

export const LEAF = 512;
export const CHALLENGE_LEAVES = 4; // masp_proofs::CHALLENGE_LEAVES

export const H = (...parts) => blake2AsU8a(u8aConcat(...parts), 256);
export const leafHash = (leaf) => H(new Uint8Array([0]), leaf);
export const nodeHash = (l, r) => H(new Uint8Array([1]), l, r);

/** masp_proofs::leaf_count: ceil(size / 512). */
export const leafCount = (size) => (BigInt(size) + BigInt(LEAF) - 1n) / BigInt(LEAF);

/** Every level of the tree over `data`, leaves first. */
export function levels(data) {
  const leaves = [];
  for (let i = 0; i < data.length; i += LEAF) leaves.push(leafHash(data.subarray(i, i + LEAF)));
  const out = [leaves];
  while (out.at(-1).length > 1) {
    const below = out.at(-1);
    const next = [];
    for (let i = 0; i < below.length; i += 2) next.push(i + 1 < below.length ? nodeHash(below[i], below[i + 1]) : below[i]);
    out.push(next);
  }
  return out;
}

const u64le = (n) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(n), true); return b; };
const u32le = (n) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n, true); return b; };
const CHALLENGES_TAG = new TextEncoder().encode('masp/challenges');

/**
 * The leaves a contract must prove in an epoch, drawn from the epoch's seed as
 * masp_proofs::challenge_indices documents it: `k` draws, draw j the first 8
 * bytes (LE) of H("masp/challenges" || seed || contract u64 LE || epoch u32 LE
 * || j u32 LE || attempt u32 LE), rejection-sampled below the largest
 * multiple of leafCount that fits in a u64, sorted, duplicates once.
 */
export function challengeIndices(seed, contract, epoch, leafCount, k = CHALLENGE_LEAVES) {
  const n = BigInt(leafCount);
  const max = (1n << 64n) - 1n;
  const zone = max - (max % n);
  const out = new Set();
  for (let j = 0; j < k; j++) {
    for (let attempt = 0; ; attempt++) {
      const d = H(CHALLENGES_TAG, seed, u64le(contract), u32le(epoch), u32le(j), u32le(attempt));
      const v = new DataView(d.buffer, d.byteOffset, 8).getBigUint64(0, true);
      if (v < zone || attempt === 255) { out.add(Number(v % n)); break; }
    }
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * The multi-proof of `indices` (ascending) over `data` (or its `levels`): the
 * leaves' bytes concatenated, and the sibling hashes they do not determine,
 * level by level from the leaves up, left to right (masp_proofs::verify_multi).
 * As the call's argument: { leaf, path }.
 */
export function proveLeaves(data, indices, lv = levels(data)) {
  const path = [];
  let items = indices.map((i) => ({ i, h: lv[0][i] }));
  for (let level = 0; level < lv.length - 1; level++) {
    const width = lv[level].length;
    const next = [];
    for (let j = 0; j < items.length; j++) {
      const { i, h } = items[j];
      let parent;
      if (i % 2 === 0) {
        if (i + 1 >= width) parent = h;
        else if (j + 1 < items.length && items[j + 1].i === i + 1) parent = nodeHash(h, items[++j].h);
        else { path.push(lv[level][i + 1]); parent = nodeHash(h, lv[level][i + 1]); }
      } else { path.push(lv[level][i - 1]); parent = nodeHash(lv[level][i - 1], h); }
      next.push({ i: Math.floor(i / 2), h: parent });
    }
    items = next;
  }
  const leaf = u8aConcat(...indices.map((i) => data.subarray(i * LEAF, (i + 1) * LEAF)));
  return { leaf: u8aToHex(leaf), path: path.map((p) => u8aToHex(p)) };
}

/**
 * The proof `contract` owes in the current epoch, from the chain's seed for
 * it: { epoch, indices, proof }. Null before the epoch's seed is drawn.
 */
export async function proofFor(api, contract, data, lv = levels(data)) {
  const ch = await api.call.storageProofsApi.challenge(contract);
  if (ch.isNone) return null;
  const epoch = ch.unwrap()[0].toNumber();
  const seed = await api.query.storageProofs.epochSeeds(epoch);
  if (seed.isNone) return null;
  const indices = challengeIndices(seed.unwrap().toU8a(), contract, epoch, lv[0].length);
  return { epoch, indices, proof: proveLeaves(data, indices, lv) };
}
