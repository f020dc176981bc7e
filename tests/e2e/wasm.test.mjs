// The web app's WASM build (web/wasm, from the CLI's own crates) seals and
// roots exactly what the native CLI does: the vectors in
// web/wasm/vectors.json were computed natively (cargo test -p
// masp-web-cipher checks them there); here the WASM module, run in Node,
// must give the same bytes. The same for a manifest the CLI sealed
// (web/wasm/manifest-vector.json) and the master key of a phrase. Needs
// web/build-wasm (scripts/test runs it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { blake2AsU8a, cryptoWaitReady } from '@polkadot/util-crypto';
import { u8aToHex, hexToU8a } from '@polkadot/util';

const here = fileURLToPath(new URL('.', import.meta.url));
const wasmDir = join(here, '..', '..', 'web', 'wasm');
const require = createRequire(import.meta.url);

test('the WASM build seals and roots byte for byte like the CLI', async () => {
  await cryptoWaitReady();
  const w = require(join(wasmDir, 'pkg-node', 'masp_web_cipher.js'));
  const v = JSON.parse(readFileSync(join(wasmDir, 'vectors.json'), 'utf8'));
  assert.equal(w.plain_chunk(), v.plain_chunk);
  const fileKey = w.file_key(hexToU8a(`0x${v.master}`), hexToU8a(`0x${v.file_id}`));
  assert.equal(u8aToHex(fileKey).slice(2), v.file_key);
  for (const c of v.cases) {
    assert.equal(u8aToHex(w.shard_key(fileKey, c.shard)).slice(2), c.shard_key);
    const roots = [];
    c.chunks.forEach((ch, i) => {
      const plain = new Uint8Array(ch.plain_len).map((_, j) => (j * 31 + ch.seed) & 0xff);
      const sealed = w.seal_shard_chunk(fileKey, hexToU8a(`0x${v.file_id}`), c.shard, BigInt(c.count), BigInt(i), plain);
      assert.equal(u8aToHex(blake2AsU8a(sealed, 256)).slice(2), ch.cipher_blake2b, `shard ${c.shard} chunk ${i}`);
      const root = w.chunk_root(sealed);
      assert.equal(u8aToHex(root).slice(2), ch.chunk_root);
      roots.push(root);
      // And it opens again; a flipped bit does not.
      assert.deepEqual(w.open_shard_chunk(fileKey, hexToU8a(`0x${v.file_id}`), c.shard, BigInt(c.count), BigInt(i), sealed), plain);
      sealed[0] ^= 1;
      assert.throws(() => w.open_shard_chunk(fileKey, hexToU8a(`0x${v.file_id}`), c.shard, BigInt(c.count), BigInt(i), sealed), /failed authentication/);
    });
    const all = new Uint8Array(roots.length * 32);
    roots.forEach((r, i) => all.set(r, i * 32));
    assert.equal(u8aToHex(w.root_of_chunk_roots(all)).slice(2), c.root);
  }
  // Bad input: a clear error.
  assert.throws(() => w.file_key(new Uint8Array(3), new Uint8Array(16)), /master key must be 32 bytes/);
});

test('the WASM build opens the manifests the CLI seals and derives the same master key', () => {
  const w = require(join(wasmDir, 'pkg-node', 'masp_web_cipher.js'));
  const v = JSON.parse(readFileSync(join(wasmDir, 'manifest-vector.json'), 'utf8'));
  const master = hexToU8a(`0x${v.master}`);
  const sealed = hexToU8a(`0x${v.sealed}`);
  assert.deepEqual(JSON.parse(w.open_manifest(master, BigInt(v.request), sealed)), v.content);
  // Bound to its file: another request's manifest does not open.
  assert.throws(() => w.open_manifest(master, BigInt(v.request + 1), sealed), /cannot decrypt the manifest of file/);
  // Altered: refused.
  sealed[sealed.length - 1] ^= 1;
  assert.throws(() => w.open_manifest(master, BigInt(v.request), sealed), /cannot decrypt/);
  const normalized = w.normalize_phrase(v.phrase);
  assert.equal(normalized, v.normalized);
  assert.equal(u8aToHex(w.master_key(normalized, hexToU8a(`0x${v.public}`))).slice(2), v.master_key);
});

test('WebCrypto\'s AES-GCM with the WASM build\'s key, nonce and associated data seals what the CLI seals', async () => {
  const w = require(join(wasmDir, 'pkg-node', 'masp_web_cipher.js'));
  const v = JSON.parse(readFileSync(join(wasmDir, 'vectors.json'), 'utf8'));
  const fileId = hexToU8a(`0x${v.file_id}`);
  const fileKey = w.file_key(hexToU8a(`0x${v.master}`), fileId);
  const subtle = globalThis.crypto.subtle;
  for (const c of v.cases) {
    const key = await subtle.importKey('raw', w.shard_key(fileKey, c.shard), 'AES-GCM', false, ['encrypt', 'decrypt']);
    for (const [i, ch] of c.chunks.entries()) {
      const plain = new Uint8Array(ch.plain_len).map((_, j) => (j * 31 + ch.seed) & 0xff);
      const p = w.shard_chunk_params(fileId, c.shard, BigInt(c.count), BigInt(i));
      const params = { name: 'AES-GCM', iv: p.subarray(0, 12), additionalData: p.subarray(12), tagLength: 128 };
      const sealed = new Uint8Array(await subtle.encrypt(params, key, plain));
      assert.deepEqual(sealed, w.seal_shard_chunk(fileKey, fileId, c.shard, BigInt(c.count), BigInt(i), plain), `shard ${c.shard} chunk ${i}`);
      assert.equal(u8aToHex(w.chunk_root(sealed)).slice(2), ch.chunk_root);
      assert.deepEqual(new Uint8Array(await subtle.decrypt(params, key, sealed)), plain);
    }
  }
});

test('the WASM build\'s chunk roots (two hashes at a time on WASM SIMD) are the plain tree\'s, at every shape', async () => {
  await cryptoWaitReady();
  const w = require(join(wasmDir, 'pkg-node', 'masp_web_cipher.js'));
  // The tree as masp_proofs documents it: H(0 || leaf) per 512 bytes,
  // H(1 || left || right) pairwise from the left, an odd last node
  // promoted.
  const h = (tag, b) => blake2AsU8a(Uint8Array.of(tag, ...b), 256);
  const plainRoot = (c) => {
    let level = [];
    for (let i = 0; i < Math.max(c.length, 1); i += 512) level.push(h(0, c.subarray(i, i + 512)));
    while (level.length > 1) {
      const next = [];
      for (let i = 0; i + 1 < level.length; i += 2) next.push(h(1, [...level[i], ...level[i + 1]]));
      if (level.length % 2) next.push(level[level.length - 1]);
      level = next;
    }
    return u8aToHex(level[0]);
  };
  const big = new Uint8Array((1 << 20) + 700).map((_, i) => (i * 7 + (i >> 9)) & 0xff);
  // Leaves: one, short, exact, a block boundary inside a leaf (127, 128,
  // 255), odd and even counts, odd levels higher up, a full chunk; past a
  // chunk only the first MiB counts.
  for (const n of [0, 1, 127, 128, 255, 511, 512, 513, 1023, 1024, 1025, 1536, 2047, 2560, 3 * 512 + 5, 5 * 512, 7 * 512 + 1, 100_000, 333_333, (1 << 20) - 1, 1 << 20]) {
    assert.equal(u8aToHex(w.chunk_root(big.subarray(0, n))), plainRoot(big.subarray(0, n)), `${n} bytes`);
  }
  assert.equal(u8aToHex(w.chunk_root(big)), plainRoot(big.subarray(0, 1 << 20)), 'more than a chunk');
});

test('the WASM build names the purchase keys `masp buy` names and opens what `masp agent` and `masp share` seal', () => {
  // web/wasm/listing-vector.json: computed natively with the CLI's
  // listings::purchase_secret and masp_primitives::seal (web/wasm/tests/vectors.rs).
  const w = require(join(wasmDir, 'pkg-node', 'masp_web_cipher.js'));
  const v = JSON.parse(readFileSync(join(wasmDir, 'listing-vector.json'), 'utf8'));
  const h = (s) => hexToU8a(`0x${s}`);
  const master = h(v.master);
  const listing = BigInt(v.listing);
  assert.equal(u8aToHex(w.purchase_public_key(master, listing)).slice(2), v.purchase_public_key);
  assert.notEqual(u8aToHex(w.purchase_public_key(master, listing + 1n)).slice(2), v.purchase_public_key, 'one key per listing');
  assert.equal(u8aToHex(w.key_commitment(h(v.file_key))).slice(2), v.key_commitment);
  assert.equal(u8aToHex(w.open_purchase_key(master, listing, h(v.buyer), h(v.sealed_key), h(v.key_commitment))).slice(2), v.file_key);
  // Sealed for another buyer or listing, or not the committed key: refused, saying what to do.
  const other = h(v.buyer);
  other[0] ^= 1;
  assert.throws(() => w.open_purchase_key(master, listing, other, h(v.sealed_key), h(v.key_commitment)), /masp dispute/);
  assert.throws(() => w.open_purchase_key(master, listing + 1n, h(v.buyer), h(v.sealed_key), h(v.key_commitment)), /masp dispute/);
  assert.throws(() => w.open_purchase_key(master, listing, h(v.buyer), h(v.sealed_key), new Uint8Array(32)), /masp dispute/);
  assert.deepEqual(JSON.parse(w.open_listing_manifest(h(v.file_key), h(v.listing_manifest), h(v.listing_manifest_hash))), v.content);
  assert.throws(() => w.open_listing_manifest(h(v.file_key), h(v.listing_manifest), new Uint8Array(32)), /does not match its hash on chain/);
  assert.throws(() => w.open_listing_manifest(new Uint8Array(32), h(v.listing_manifest), h(v.listing_manifest_hash)), /not this file's/);
});
