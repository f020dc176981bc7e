//! Eight BLAKE2b-256 hashes at once with AVX-512 (x86_64 only, detected at
//! run time): the leaves and inner nodes of a chunk's tree.
//!
//! Each of the 16 working words of BLAKE2b is one 512-bit register holding
//! that word for eight independent messages, so a compression of eight
//! blocks costs what one costs in scalar code, and AVX-512 rotates natively.
//! The messages are the tree's domain-tagged inputs, `tag || bytes`, read
//! straight from the caller's memory (the one-byte shift of the tag is done
//! in registers), so nothing is copied.
//!
//! The results are bit-for-bit those of [`crate::hash_leaf`] and
//! [`crate::hash_node`]; the tests compare them on every position.

use crate::{
    blake2b::{IV, SIGMA},
    hash_leaf, hash_node, Hash, LEAF_SIZE, LEAF_TAG, NODE_TAG,
};
use core::arch::x86_64::*;

/// Whether this CPU runs the eight-way code.
pub fn available() -> bool {
    std::is_x86_feature_detected!("avx512f")
}

// The helpers below carry `target_feature(enable = "avx512f")`: they are
// safe to call only from code compiled with avx512f (the compiler enforces
// it), i.e. from `hash8`, which `chunk_root` enters after `available()`.

#[inline]
#[target_feature(enable = "avx512f")]
fn splat(x: u64) -> __m512i {
    _mm512_set1_epi64(x as i64)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn g(v: &mut [__m512i; 16], a: usize, b: usize, c: usize, d: usize, x: __m512i, y: __m512i) {
    v[a] = _mm512_add_epi64(_mm512_add_epi64(v[a], v[b]), x);
    v[d] = _mm512_ror_epi64::<32>(_mm512_xor_si512(v[d], v[a]));
    v[c] = _mm512_add_epi64(v[c], v[d]);
    v[b] = _mm512_ror_epi64::<24>(_mm512_xor_si512(v[b], v[c]));
    v[a] = _mm512_add_epi64(_mm512_add_epi64(v[a], v[b]), y);
    v[d] = _mm512_ror_epi64::<16>(_mm512_xor_si512(v[d], v[a]));
    v[c] = _mm512_add_epi64(v[c], v[d]);
    v[b] = _mm512_ror_epi64::<63>(_mm512_xor_si512(v[b], v[c]));
}

#[inline]
#[target_feature(enable = "avx512f")]
fn round(v: &mut [__m512i; 16], m: &[__m512i; 16], r: usize) {
    let s = &SIGMA[r];
    g(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
    g(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
    g(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
    g(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
    g(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
    g(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
    g(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
    g(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
}

/// One compression of eight blocks (same counter and flag in every lane).
#[inline]
#[target_feature(enable = "avx512f")]
fn compress(h: &mut [__m512i; 8], m: &[__m512i; 16], counter: u64, last: bool) {
    let mut v = [
        h[0],
        h[1],
        h[2],
        h[3],
        h[4],
        h[5],
        h[6],
        h[7],
        splat(IV[0]),
        splat(IV[1]),
        splat(IV[2]),
        splat(IV[3]),
        splat(IV[4] ^ counter),
        splat(IV[5]),
        splat(if last { !IV[6] } else { IV[6] }),
        splat(IV[7]),
    ];
    round(&mut v, m, 0);
    round(&mut v, m, 1);
    round(&mut v, m, 2);
    round(&mut v, m, 3);
    round(&mut v, m, 4);
    round(&mut v, m, 5);
    round(&mut v, m, 6);
    round(&mut v, m, 7);
    round(&mut v, m, 8);
    round(&mut v, m, 9);
    round(&mut v, m, 10);
    round(&mut v, m, 11);
    for i in 0..8 {
        h[i] = _mm512_xor_si512(h[i], _mm512_xor_si512(v[i], v[i + 8]));
    }
}

/// BLAKE2b-256 of `tag || input_k` for eight inputs of `WORDS` u64 words
/// each, input `k` starting at `base + k * stride` bytes; digests to `out`.
///
/// # Safety
/// The CPU has avx512f, and `base + k * stride .. + 8 * WORDS` is readable
/// for `k` in `0..8`.
#[target_feature(enable = "avx512f")]
unsafe fn hash8<const WORDS: usize>(base: *const u8, stride: usize, tag: u8, out: &mut [Hash; 8]) {
    // Parameter block: 32-byte digest, no key, fanout 1, depth 1.
    let mut h = [
        splat(IV[0] ^ 0x0101_0020),
        splat(IV[1]),
        splat(IV[2]),
        splat(IV[3]),
        splat(IV[4]),
        splat(IV[5]),
        splat(IV[6]),
        splat(IV[7]),
    ];
    let s = stride as i64;
    let lanes = _mm512_setr_epi64(0, s, 2 * s, 3 * s, 4 * s, 5 * s, 6 * s, 7 * s);
    // The message is the tagged input: its word `i` is the input's word `i`
    // shifted up one byte, with the byte shifted out of word `i - 1` (or the
    // tag) below it. It has WORDS + 1 words, the last holding one byte, so
    // its length 8 * WORDS + 1 is never a multiple of the block size.
    let len = 8 * WORDS as u64 + 1;
    let mut carry = splat(tag as u64);
    let mut word = 0usize;
    loop {
        let mut m = [_mm512_setzero_si512(); 16];
        let mut w = 0;
        while w < 16 && word < WORDS {
            let cur = _mm512_i64gather_epi64::<1>(lanes, base.add(8 * word) as *const i64);
            m[w] = _mm512_or_si512(_mm512_slli_epi64::<8>(cur), carry);
            carry = _mm512_srli_epi64::<56>(cur);
            w += 1;
            word += 1;
        }
        if w < 16 {
            // The last (partial) block.
            m[w] = carry;
            compress(&mut h, &m, len, true);
            break;
        }
        compress(&mut h, &m, 128 * (word as u64 / 16), false);
    }
    let mut words = [[0u64; 8]; 4];
    for (i, row) in words.iter_mut().enumerate() {
        _mm512_storeu_si512(row.as_mut_ptr() as *mut __m512i, h[i]);
    }
    for (k, digest) in out.iter_mut().enumerate() {
        for (i, row) in words.iter().enumerate() {
            digest[8 * i..8 * i + 8].copy_from_slice(&row[k].to_le_bytes());
        }
    }
}

/// The root of a non-empty chunk (at most [`crate::CHUNK_SIZE`] bytes):
/// leaves eight at a time, then each level eight parents at a time; the
/// remainders (a short last leaf, fewer than eight leaves or pairs) one by
/// one with the scalar hashes.
pub fn chunk_root(chunk: &[u8]) -> Hash {
    assert!(available(), "callers check available()");
    let leaves = chunk.len().div_ceil(LEAF_SIZE);
    let mut level = vec![[0u8; 32]; leaves];
    let groups = chunk.len() / (8 * LEAF_SIZE);
    for (input, out) in chunk
        .chunks_exact(8 * LEAF_SIZE)
        .zip(level.chunks_exact_mut(8))
    {
        let out: &mut [Hash; 8] = out.try_into().expect("chunks of 8");
        // SAFETY: avx512f is available; `input` holds 8 leaves of LEAF_SIZE bytes.
        unsafe { hash8::<{ LEAF_SIZE / 8 }>(input.as_ptr(), LEAF_SIZE, LEAF_TAG, out) }
    }
    for (leaf, out) in chunk
        .chunks(LEAF_SIZE)
        .zip(level.iter_mut())
        .skip(8 * groups)
    {
        *out = hash_leaf(leaf);
    }
    let mut next = vec![[0u8; 32]; leaves.div_ceil(2)];
    let mut width = leaves;
    while width > 1 {
        let pairs = width / 2;
        for (input, out) in level[..2 * pairs]
            .chunks_exact(16)
            .zip(next.chunks_exact_mut(8))
        {
            let out: &mut [Hash; 8] = out.try_into().expect("chunks of 8");
            // SAFETY: avx512f is available; `input` holds 16 hashes (8 pairs of 64 bytes).
            unsafe { hash8::<8>(input.as_ptr() as *const u8, 64, NODE_TAG, out) }
        }
        for p in (pairs / 8 * 8)..pairs {
            next[p] = hash_node(&level[2 * p], &level[2 * p + 1]);
        }
        if width % 2 == 1 {
            next[pairs] = level[width - 1];
        }
        width = width.div_ceil(2);
        core::mem::swap(&mut level, &mut next);
    }
    level[0]
}
