//! [`chunk_root`] on WebAssembly's 128-bit SIMD (`simd128`): the same tree
//! and the same BLAKE2b-256 as [`masp_proofs::chunk_root`], two hashes at a
//! time (one per 64-bit lane), as the native build hashes several at a time
//! with AVX2 or AVX-512. `blake2b_simd` has no WASM SIMD of its own, and
//! the compiler does not vectorize its portable rounds. Only built for
//! wasm32 with `+simd128` (web/build-wasm); tests/e2e/wasm.test.mjs checks
//! it against the CLI's vectors and against the plain tree.

use core::arch::wasm32::*;
use masp_proofs::{
    blake2b::{IV, SIGMA},
    hash_leaf, hash_node, Hash, CHUNK_SIZE, LEAF_SIZE, LEAF_TAG, NODE_TAG,
};

/// Bytes per BLAKE2b block.
const BLOCK: usize = 128;

// Right rotations of each 64-bit lane.
#[inline(always)]
fn rot32(x: v128) -> v128 {
    i32x4_shuffle::<1, 0, 3, 2>(x, x)
}
#[inline(always)]
fn rot24(x: v128) -> v128 {
    i8x16_shuffle::<3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10>(x, x)
}
#[inline(always)]
fn rot16(x: v128) -> v128 {
    i8x16_shuffle::<2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9>(x, x)
}
#[inline(always)]
fn rot63(x: v128) -> v128 {
    v128_or(u64x2_shr(x, 63), i64x2_add(x, x))
}

#[inline(always)]
fn g(v: &mut [v128; 16], a: usize, b: usize, c: usize, d: usize, x: v128, y: v128) {
    v[a] = i64x2_add(i64x2_add(v[a], v[b]), x);
    v[d] = rot32(v128_xor(v[d], v[a]));
    v[c] = i64x2_add(v[c], v[d]);
    v[b] = rot24(v128_xor(v[b], v[c]));
    v[a] = i64x2_add(i64x2_add(v[a], v[b]), y);
    v[d] = rot16(v128_xor(v[d], v[a]));
    v[c] = i64x2_add(v[c], v[d]);
    v[b] = rot63(v128_xor(v[b], v[c]));
}

/// One compression of two 128-byte blocks (`a` in lane 0, `b` in lane 1)
/// into `h`, `t` bytes hashed so far in each, `last` for the final block.
///
/// # Safety
/// `a` and `b` must be valid to read 128 bytes from (any alignment).
#[inline(always)]
unsafe fn compress(h: &mut [v128; 8], a: *const u8, b: *const u8, t: u64, last: bool) {
    let mut m = [u64x2_splat(0); 16];
    for j in 0..8 {
        let x = v128_load(a.add(16 * j) as *const v128);
        let y = v128_load(b.add(16 * j) as *const v128);
        m[2 * j] = i64x2_shuffle::<0, 2>(x, y);
        m[2 * j + 1] = i64x2_shuffle::<1, 3>(x, y);
    }
    let mut v = [u64x2_splat(0); 16];
    v[..8].copy_from_slice(h);
    for (x, iv) in v[8..12].iter_mut().zip(IV) {
        *x = u64x2_splat(iv);
    }
    v[12] = u64x2_splat(IV[4] ^ t);
    v[13] = u64x2_splat(IV[5]);
    v[14] = u64x2_splat(if last { !IV[6] } else { IV[6] });
    v[15] = u64x2_splat(IV[7]);
    // Written out round by round, so every index is a constant and the
    // state and message stay in locals (registers), not in memory.
    macro_rules! round {
        ($($r:literal)*) => {$(
            g(&mut v, 0, 4, 8, 12, m[SIGMA[$r][0]], m[SIGMA[$r][1]]);
            g(&mut v, 1, 5, 9, 13, m[SIGMA[$r][2]], m[SIGMA[$r][3]]);
            g(&mut v, 2, 6, 10, 14, m[SIGMA[$r][4]], m[SIGMA[$r][5]]);
            g(&mut v, 3, 7, 11, 15, m[SIGMA[$r][6]], m[SIGMA[$r][7]]);
            g(&mut v, 0, 5, 10, 15, m[SIGMA[$r][8]], m[SIGMA[$r][9]]);
            g(&mut v, 1, 6, 11, 12, m[SIGMA[$r][10]], m[SIGMA[$r][11]]);
            g(&mut v, 2, 7, 8, 13, m[SIGMA[$r][12]], m[SIGMA[$r][13]]);
            g(&mut v, 3, 4, 9, 14, m[SIGMA[$r][14]], m[SIGMA[$r][15]]);
        )*};
    }
    round!(0 1 2 3 4 5 6 7 8 9 10 11);
    for (i, x) in h.iter_mut().enumerate() {
        *x = v128_xor(*x, v128_xor(v[i], v[i + 8]));
    }
}

/// Block `k` of `tag || data` (bytes `128k..` of it, zero-padded) in `out`.
fn block_of(tag: u8, data: &[u8], k: usize, out: &mut [u8; BLOCK]) {
    let start = BLOCK * k;
    let end = (start + BLOCK).min(data.len() + 1);
    *out = [0; BLOCK];
    if start == 0 {
        out[0] = tag;
        out[1..end].copy_from_slice(&data[..end - 1]);
    } else {
        out[..end - start].copy_from_slice(&data[start - 1..end - 1]);
    }
}

/// BLAKE2b-256 of `tag || a` and of `tag || b` (`a` and `b` of one length).
fn hash2(tag: u8, a: &[u8], b: &[u8]) -> (Hash, Hash) {
    debug_assert_eq!(a.len(), b.len());
    let len = a.len() + 1;
    let blocks = len.div_ceil(BLOCK).max(1);
    let mut h = [u64x2_splat(0); 8];
    for (i, x) in h.iter_mut().enumerate() {
        // No key, 32-byte digest, fanout and depth 1.
        *x = u64x2_splat(if i == 0 { IV[0] ^ 0x0101_0020 } else { IV[i] });
    }
    let (mut ta, mut tb) = ([0u8; BLOCK], [0u8; BLOCK]);
    for k in 0..blocks {
        let end = (BLOCK * (k + 1)).min(len);
        let last = k + 1 == blocks;
        // SAFETY: both pointers have 128 bytes behind them: a whole block
        // inside the data (bytes 128k-1.. of it), or the padded copy.
        unsafe {
            if k > 0 && end == BLOCK * (k + 1) {
                let at = BLOCK * k - 1;
                compress(
                    &mut h,
                    a[at..at + BLOCK].as_ptr(),
                    b[at..at + BLOCK].as_ptr(),
                    end as u64,
                    last,
                );
            } else {
                block_of(tag, a, k, &mut ta);
                block_of(tag, b, k, &mut tb);
                compress(&mut h, ta.as_ptr(), tb.as_ptr(), end as u64, last);
            }
        }
    }
    let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
    for i in 0..4 {
        x[8 * i..8 * i + 8].copy_from_slice(&u64x2_extract_lane::<0>(h[i]).to_le_bytes());
        y[8 * i..8 * i + 8].copy_from_slice(&u64x2_extract_lane::<1>(h[i]).to_le_bytes());
    }
    (x, y)
}

/// The root of one chunk, as [`masp_proofs::chunk_root`]: leaves of 512
/// bytes hashed two at a time (the last alone if it has no partner of its
/// length), then each level's nodes two at a time, an odd last node
/// promoted.
pub fn chunk_root(chunk: &[u8]) -> Hash {
    let chunk = &chunk[..chunk.len().min(CHUNK_SIZE)];
    if chunk.is_empty() {
        return hash_leaf(&[]);
    }
    let leaves: Vec<&[u8]> = chunk.chunks(LEAF_SIZE).collect();
    let mut level: Vec<Hash> = Vec::with_capacity(leaves.len());
    let mut i = 0;
    while i + 1 < leaves.len() && leaves[i].len() == leaves[i + 1].len() {
        let (x, y) = hash2(LEAF_TAG, leaves[i], leaves[i + 1]);
        level.push(x);
        level.push(y);
        i += 2;
    }
    level.extend(leaves[i..].iter().map(|l| hash_leaf(l)));
    let mut pairs: Vec<u8> = Vec::with_capacity(32 * level.len());
    while level.len() > 1 {
        pairs.clear();
        for n in &level {
            pairs.extend_from_slice(n);
        }
        let odd = (level.len() % 2 == 1).then(|| level[level.len() - 1]);
        let nodes = level.len() / 2;
        level.clear();
        // Node j is H(1 || pairs[64j..64j+64]).
        let mut j = 0;
        while j + 1 < nodes {
            let (x, y) = hash2(
                NODE_TAG,
                &pairs[64 * j..64 * j + 64],
                &pairs[64 * j + 64..64 * j + 128],
            );
            level.push(x);
            level.push(y);
            j += 2;
        }
        if j < nodes {
            let p = &pairs[64 * j..64 * j + 64];
            level.push(hash_node(
                p[..32].try_into().expect("32"),
                p[32..].try_into().expect("32"),
            ));
        }
        level.extend(odd);
    }
    level[0]
}
