//! # MASP storage proofs
//!
//! The one implementation of the proof format, used by the runtime (verify),
//! the host daemon (build, prove) and the client (build the root it pays
//! for). `no_std`; verification allocates nothing.
//!
//! ## The tree
//!
//! - The ciphertext of a contract is cut into **leaves of [`LEAF_SIZE`] = 512
//!   bytes**; the last leaf holds the remaining `1..=512` bytes (it is not
//!   padded). `leaf_count = ceil(size / 512)`.
//! - **Hashes** are BLAKE2b-256, domain separated: a leaf is
//!   `H(0x00 || leaf bytes)`, an inner node `H(0x01 || left || right)`, so a
//!   leaf can never be passed off as a node or the other way round.
//! - **Levels** are built pairwise from the left. When a level has an odd
//!   number of nodes, the last one is **promoted** unchanged to the next level
//!   (never duplicated: duplication would let two different leaf lists share a
//!   root). The root is the single node of the last level; the root of one
//!   leaf is that leaf's hash. A tree is only meaningful with its
//!   `leaf_count`, which the chain stores beside the root.
//! - **Chunks**: the client encrypts and uploads [`CHUNK_SIZE`] = 1 MiB chunks
//!   = [`LEAVES_PER_CHUNK`] = 2048 leaves, a power of two. Each chunk's leaves
//!   form a subtree aligned with the whole tree, so the tree over a file equals
//!   the tree built over its chunk roots ([`root_of_chunk_roots`]): a host keeps
//!   32 bytes per MiB (32 MiB per TiB) and answers any challenge by reading
//!   one chunk.
//!
//! ## Proof size
//!
//! A proof is the challenged leaf plus one 32-byte sibling per level where the
//! node is not promoted: at most `depth = ceil(log2(leaf_count))` hashes. For
//! 1 TiB, `leaf_count = 2^40 / 2^9 = 2^31`, so a proof is at most
//! `512 + 31 x 32 = 1504` bytes <= 1.5 KiB (1536). 1 KiB leaves would need
//! `1024 + 30 x 32 = 1984` bytes; 512 is the largest power of two that fits.
//!
//! ## Challenges
//!
//! The leaf a contract must prove in period `k` is [`challenge_index`]: the
//! first 8 bytes (little-endian) of `H("masp/challenge" || randomness ||
//! contract id (u64 LE) || k (u32 LE) || attempt (u32 LE))`, for attempt =
//! 0, 1, ..., taking the first value below the largest multiple of
//! `leaf_count` that fits in a u64, reduced modulo `leaf_count`. Rejection
//! sampling: no modulo bias, and the expected number of attempts is below 2.
//!
//! The chain asks for [`CHALLENGE_LEAVES`] leaves per contract and epoch:
//! [`challenge_indices`] draws them the same way (independent draws, sorted,
//! duplicates removed), and one multi-proof ([`verify_multi`],
//! [`MultiProof`]) answers them all: the leaves' bytes concatenated in index
//! order, then each sibling hash the leaves do not determine, level by level
//! from the bottom up and left to right. For 4 leaves of a 1 TiB file that is
//! at most `4 x 512 + 4 x 31 x 32 = 6016` bytes, usually ~5.9 KB (the top
//! levels are shared).

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use blake2b_simd::Params;

/// A BLAKE2b-256 hash: a leaf, a node or a root.
pub type Hash = [u8; 32];

/// Bytes per leaf.
pub const LEAF_SIZE: usize = 512;

/// Bytes per chunk: the unit the client encrypts and uploads.
pub const CHUNK_SIZE: usize = 1 << 20;

/// Leaves per full chunk (a power of two).
pub const LEAVES_PER_CHUNK: u64 = (CHUNK_SIZE / LEAF_SIZE) as u64;

/// The deepest tree supported: `2^48` leaves of 512 bytes (128 PiB).
pub const MAX_DEPTH: usize = 48;

/// Domain tag of a leaf hash.
pub const LEAF_TAG: u8 = 0;
/// Domain tag of an inner node hash.
pub const NODE_TAG: u8 = 1;
/// Domain of a challenge.
const CHALLENGE_TAG: &[u8] = b"masp/challenge";

/// BLAKE2b with a 32-byte digest (BLAKE2b-256).
fn params() -> Params {
    let mut p = Params::new();
    p.hash_length(32);
    p
}

fn to_hash(h: blake2b_simd::Hash) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(h.as_bytes());
    out
}

/// `H(0x00 || leaf)`.
pub fn hash_leaf(leaf: &[u8]) -> Hash {
    to_hash(
        params()
            .to_state()
            .update(&[LEAF_TAG])
            .update(leaf)
            .finalize(),
    )
}

/// `H(0x01 || left || right)`.
pub fn hash_node(left: &Hash, right: &Hash) -> Hash {
    to_hash(
        params()
            .to_state()
            .update(&[NODE_TAG])
            .update(left)
            .update(right)
            .finalize(),
    )
}

/// Leaves of `size` bytes of ciphertext.
pub fn leaf_count(size: u64) -> u64 {
    size.div_ceil(LEAF_SIZE as u64)
}

/// Levels above the leaves: `ceil(log2(leaf_count))` (0 for one leaf).
pub fn depth(leaf_count: u64) -> usize {
    if leaf_count <= 1 {
        0
    } else {
        (u64::BITS - (leaf_count - 1).leading_zeros()) as usize
    }
}

/// How long leaf `index` of a tree over `size` bytes is.
pub fn leaf_len(size: u64, index: u64) -> usize {
    let start = index.saturating_mul(LEAF_SIZE as u64);
    size.saturating_sub(start).min(LEAF_SIZE as u64) as usize
}

/// Why a proof is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofError {
    /// The leaf index is not below the leaf count.
    IndexOutOfRange,
    /// The leaf is empty, longer than [`LEAF_SIZE`], or short but not last.
    BadLeafLength,
    /// The path has the wrong number of hashes for this index and tree.
    BadPathLength,
    /// The path does not lead to the root.
    RootMismatch,
    /// A multi-proof's indices are empty, unsorted, repeated or too many.
    BadIndices,
}

/// Checks that `leaf` is leaf `index` of the tree with `root` over
/// `leaf_count` leaves, given the sibling hashes `path` from the bottom up
/// (promoted levels contribute none). Allocates nothing.
pub fn verify(
    root: &Hash,
    leaf_count: u64,
    index: u64,
    leaf: &[u8],
    path: &[Hash],
) -> Result<(), ProofError> {
    if &root_from_path(leaf_count, index, leaf, path)? == root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// The root that leaf `index` with these bytes and sibling `path` leads to,
/// in a tree of `leaf_count` leaves; an error if the input is malformed.
/// (Also how tests and benchmarks make a root for a given proof.)
pub fn root_from_path(
    leaf_count: u64,
    index: u64,
    leaf: &[u8],
    path: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= leaf_count {
        return Err(ProofError::IndexOutOfRange);
    }
    if leaf.is_empty()
        || leaf.len() > LEAF_SIZE
        || (leaf.len() < LEAF_SIZE && index + 1 != leaf_count)
    {
        return Err(ProofError::BadLeafLength);
    }
    if path.len() != path_len(leaf_count, index) {
        return Err(ProofError::BadPathLength);
    }
    let mut node = hash_leaf(leaf);
    let (mut i, mut width, mut next) = (index, leaf_count, 0usize);
    while width > 1 {
        let promoted = i + 1 == width && width % 2 == 1;
        if !promoted {
            let sibling = &path[next];
            next += 1;
            node = if i % 2 == 0 {
                hash_node(&node, sibling)
            } else {
                hash_node(sibling, &node)
            };
        }
        i /= 2;
        width = width.div_ceil(2);
    }
    Ok(node)
}

/// Hashes in the proof of leaf `index` of a tree of `leaf_count` leaves.
pub fn path_len(leaf_count: u64, index: u64) -> usize {
    let (mut i, mut width, mut len) = (index, leaf_count, 0usize);
    while width > 1 {
        if !(i + 1 == width && width % 2 == 1) {
            len += 1;
        }
        i /= 2;
        width = width.div_ceil(2);
    }
    len
}

/// The leaf contract `contract` must prove in period `period`, from that
/// period's `randomness`: uniform over `0..leaf_count` (see the crate docs).
/// Returns 0 for an empty tree.
pub fn challenge_index(randomness: &Hash, contract: u64, period: u32, leaf_count: u64) -> u64 {
    if leaf_count <= 1 {
        return 0;
    }
    // The largest multiple of leaf_count that fits: values at or above it
    // would make the low indices more likely.
    let zone = u64::MAX - (u64::MAX % leaf_count);
    let mut attempt: u32 = 0;
    loop {
        let digest = to_hash(
            params()
                .to_state()
                .update(CHALLENGE_TAG)
                .update(randomness)
                .update(&contract.to_le_bytes())
                .update(&period.to_le_bytes())
                .update(&attempt.to_le_bytes())
                .finalize(),
        );
        let mut word = [0u8; 8];
        word.copy_from_slice(&digest[..8]);
        let value = u64::from_le_bytes(word);
        if value < zone {
            return value % leaf_count;
        }
        // Probability below 1/2 per attempt; 2^-64 after 64 attempts. A
        // bound keeps the loop finite whatever the hash does.
        attempt = attempt.wrapping_add(1);
        if attempt == 256 {
            return value % leaf_count;
        }
    }
}

/// Leaves each contract must prove per epoch (`k`): drawn uniformly and
/// independently across the whole file by [`challenge_indices`] and answered
/// by one [`verify_multi`] proof that shares their common path nodes.
///
/// A host missing a fraction `f` of a file's leaves passes one challenge with
/// probability `(1 - f)^k` at most. With 1-hour epochs (168 per week) and
/// `k = 4`, a host missing 1% passes a whole week with probability
/// `0.99^(4 x 168) = 0.99^672 = 0.0012 < 0.01` (`k = 3` would give 0.0063;
/// the README has the arithmetic).
pub const CHALLENGE_LEAVES: usize = 4;

/// Most leaves one multi-proof may answer (the verifier's fixed work space).
pub const MAX_MULTI_LEAVES: usize = 16;

/// Most sibling hashes a multi-proof of [`CHALLENGE_LEAVES`] leaves needs:
/// one per leaf per level at most.
pub const MAX_MULTI_NODES: usize = CHALLENGE_LEAVES * MAX_DEPTH;

/// Domain of a multi-leaf challenge draw.
const CHALLENGES_TAG: &[u8] = b"masp/challenges";

/// The leaves a challenge asks for: sorted, distinct, at most
/// [`MAX_MULTI_LEAVES`]. `Copy` and allocation-free (the runtime uses it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Challenge {
    indices: [u64; MAX_MULTI_LEAVES],
    len: usize,
}

impl Challenge {
    /// The challenged leaf indices, ascending, distinct.
    pub fn as_slice(&self) -> &[u64] {
        &self.indices[..self.len.min(MAX_MULTI_LEAVES)]
    }

    /// How many distinct leaves are challenged.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether nothing is challenged (only for an empty tree).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `index`, keeping the list sorted and distinct.
    fn insert(&mut self, index: u64) {
        let len = self.len.min(MAX_MULTI_LEAVES);
        if len == MAX_MULTI_LEAVES {
            return;
        }
        let at = match self.indices[..len].binary_search(&index) {
            Ok(_) => return,
            Err(at) => at,
        };
        let mut i = len;
        while i > at {
            self.indices[i] = self.indices[i - 1];
            i -= 1;
        }
        self.indices[at] = index;
        self.len = len + 1;
    }
}

/// The leaves contract `contract` must prove in `epoch`, from that epoch's
/// `seed`: `k` draws (at most [`MAX_MULTI_LEAVES`]), each uniform over
/// `0..leaf_count` and independent of the others, sorted with duplicates
/// removed (a duplicate is proven once). Draw `j` is the first 8 bytes
/// (little-endian) of `H("masp/challenges" || seed || contract (u64 LE) ||
/// epoch (u32 LE) || j (u32 LE) || attempt (u32 LE))`, for attempt = 0, 1,
/// ..., taking the first value below the largest multiple of `leaf_count`
/// that fits in a u64, reduced modulo `leaf_count` (no modulo bias; at most
/// 256 attempts, expected fewer than 2). Empty for an empty tree.
pub fn challenge_indices(
    seed: &Hash,
    contract: u64,
    epoch: u32,
    leaf_count: u64,
    k: usize,
) -> Challenge {
    let mut out = Challenge {
        indices: [0; MAX_MULTI_LEAVES],
        len: 0,
    };
    if leaf_count == 0 {
        return out;
    }
    let zone = u64::MAX - (u64::MAX % leaf_count);
    for draw in 0..k.min(MAX_MULTI_LEAVES) as u32 {
        let mut attempt: u32 = 0;
        let index = loop {
            let digest = to_hash(
                params()
                    .to_state()
                    .update(CHALLENGES_TAG)
                    .update(seed)
                    .update(&contract.to_le_bytes())
                    .update(&epoch.to_le_bytes())
                    .update(&draw.to_le_bytes())
                    .update(&attempt.to_le_bytes())
                    .finalize(),
            );
            let mut word = [0u8; 8];
            word.copy_from_slice(&digest[..8]);
            let value = u64::from_le_bytes(word);
            attempt = attempt.wrapping_add(1);
            if value < zone || attempt == 256 {
                break value % leaf_count;
            }
        };
        out.insert(index);
    }
    out
}

/// Checks a multi-leaf proof: `leaves` are the bytes of leaves `indices`
/// (ascending, distinct, as [`challenge_indices`] returns them) of the tree
/// with `root` over `leaf_count` leaves, concatenated in that order (every
/// leaf [`LEAF_SIZE`] bytes except the tree's last leaf, which holds
/// `1..=512`); `nodes` are the sibling hashes the leaves do not determine,
/// in the order [`root_from_multi`] consumes them (level by level from the
/// leaves up, left to right). Allocates nothing; never panics.
pub fn verify_multi(
    root: &Hash,
    leaf_count: u64,
    indices: &[u64],
    leaves: &[u8],
    nodes: &[Hash],
) -> Result<(), ProofError> {
    if &root_from_multi(leaf_count, indices, leaves, nodes)? == root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// The root a multi-leaf proof leads to (see [`verify_multi`]), or why it is
/// malformed: indices empty, unsorted, repeated or too many
/// ([`ProofError::BadIndices`]), an index not below `leaf_count`
/// ([`ProofError::IndexOutOfRange`]), leaf bytes that do not split into the
/// leaves ([`ProofError::BadLeafLength`]), too few or too many nodes
/// ([`ProofError::BadPathLength`]).
pub fn root_from_multi(
    leaf_count: u64,
    indices: &[u64],
    leaves: &[u8],
    nodes: &[Hash],
) -> Result<Hash, ProofError> {
    let mut items = [(0u64, [0u8; 32]); MAX_MULTI_LEAVES];
    let count = hash_challenged_leaves(leaf_count, indices, leaves, &mut items)?;
    let mut next = 0usize;
    let root = fold_multi(leaf_count, &mut items, count, |_, _| {
        let node = nodes.get(next).ok_or(ProofError::BadPathLength)?;
        next += 1;
        Ok(*node)
    })?;
    if next != nodes.len() {
        return Err(ProofError::BadPathLength);
    }
    Ok(root)
}

/// Builds a multi-proof's node list without holding a tree (benchmarks and
/// tools): `sibling(level, index)` returns each node the proof needs, which
/// is passed to `emit` in the proof's order. `leaves` as in
/// [`verify_multi`]. Returns the root the proof leads to.
pub fn build_multi_with(
    leaf_count: u64,
    indices: &[u64],
    leaves: &[u8],
    mut sibling: impl FnMut(usize, u64) -> Option<Hash>,
    mut emit: impl FnMut(Hash),
) -> Result<Hash, ProofError> {
    let mut items = [(0u64, [0u8; 32]); MAX_MULTI_LEAVES];
    let count = hash_challenged_leaves(leaf_count, indices, leaves, &mut items)?;
    fold_multi(leaf_count, &mut items, count, |level, index| {
        let node = sibling(level, index).ok_or(ProofError::BadPathLength)?;
        emit(node);
        Ok(node)
    })
}

/// Sibling hashes a multi-proof of `indices` carries in a tree of
/// `leaf_count` leaves (0 if the indices are malformed).
pub fn multi_proof_len(leaf_count: u64, indices: &[u64]) -> usize {
    let mut items = [(0u64, [0u8; 32]); MAX_MULTI_LEAVES];
    if check_indices(leaf_count, indices).is_err() {
        return 0;
    }
    for (slot, &i) in items.iter_mut().zip(indices) {
        slot.0 = i;
    }
    let mut len = 0usize;
    let _ = walk_multi(leaf_count, &mut items, indices.len(), false, |_, _| {
        len += 1;
        Ok([0u8; 32])
    });
    len
}

/// Indices non-empty, ascending, distinct, at most [`MAX_MULTI_LEAVES`],
/// all below `leaf_count`.
fn check_indices(leaf_count: u64, indices: &[u64]) -> Result<(), ProofError> {
    if indices.is_empty() || indices.len() > MAX_MULTI_LEAVES {
        return Err(ProofError::BadIndices);
    }
    if indices.windows(2).any(|w| w[0] >= w[1]) {
        return Err(ProofError::BadIndices);
    }
    match indices.last() {
        Some(&last) if last < leaf_count => Ok(()),
        _ => Err(ProofError::IndexOutOfRange),
    }
}

/// Splits `leaves` into the challenged leaves and hashes them into `items`;
/// returns how many.
pub(crate) fn hash_challenged_leaves(
    leaf_count: u64,
    indices: &[u64],
    leaves: &[u8],
    items: &mut [(u64, Hash); MAX_MULTI_LEAVES],
) -> Result<usize, ProofError> {
    check_indices(leaf_count, indices)?;
    let mut rest = leaves;
    for (j, &index) in indices.iter().enumerate() {
        let last = j + 1 == indices.len();
        let len = if last { rest.len() } else { LEAF_SIZE };
        if len == 0
            || len > LEAF_SIZE
            || len > rest.len()
            || (len < LEAF_SIZE && index + 1 != leaf_count)
        {
            return Err(ProofError::BadLeafLength);
        }
        items[j] = (index, hash_leaf(&rest[..len]));
        rest = &rest[len..];
    }
    Ok(indices.len())
}

/// Folds the known nodes `items[..count]` (ascending, distinct indices)
/// level by level up to the root, asking `sibling(level, index)` for each
/// node it cannot compute, in the proof's order. Returns the root.
pub(crate) fn fold_multi(
    leaf_count: u64,
    items: &mut [(u64, Hash); MAX_MULTI_LEAVES],
    count: usize,
    sibling: impl FnMut(usize, u64) -> Result<Hash, ProofError>,
) -> Result<Hash, ProofError> {
    walk_multi(leaf_count, items, count, true, sibling)
}

/// [`fold_multi`], hashing only if `hash` (counting nodes needs no hashes).
fn walk_multi(
    leaf_count: u64,
    items: &mut [(u64, Hash); MAX_MULTI_LEAVES],
    count: usize,
    hash: bool,
    mut sibling: impl FnMut(usize, u64) -> Result<Hash, ProofError>,
) -> Result<Hash, ProofError> {
    let node = |l: &Hash, r: &Hash| if hash { hash_node(l, r) } else { *l };
    let (mut count, mut width, mut level) = (count.min(MAX_MULTI_LEAVES), leaf_count, 0usize);
    if count == 0 {
        return Err(ProofError::BadIndices);
    }
    while width > 1 {
        let (mut out, mut j) = (0usize, 0usize);
        while j < count {
            let (i, h) = items[j];
            let parent = if i % 2 == 0 {
                if i + 1 >= width {
                    // The last node of an odd level: promoted unchanged.
                    h
                } else if j + 1 < count && items[j + 1].0 == i + 1 {
                    j += 1;
                    node(&h, &items[j].1)
                } else {
                    node(&h, &sibling(level, i + 1)?)
                }
            } else {
                node(&sibling(level, i - 1)?, &h)
            };
            items[out] = (i / 2, parent);
            out += 1;
            j += 1;
        }
        count = out;
        width = width.div_ceil(2);
        level += 1;
    }
    Ok(items[0].1)
}

/// Combines the roots of consecutive subtrees of equal, power-of-two leaf
/// counts (all but the last full) into the root of the whole tree: the same
/// pairwise-with-promotion rule, one level at a time. `nodes` is consumed as
/// scratch space.
fn fold_levels(nodes: &mut [Hash]) -> Hash {
    let mut width = nodes.len();
    if width == 0 {
        return hash_leaf(&[]);
    }
    while width > 1 {
        let mut out = 0;
        let mut i = 0;
        while i < width {
            nodes[out] = if i + 1 < width {
                hash_node(&nodes[i], &nodes[i + 1])
            } else {
                nodes[i]
            };
            out += 1;
            i += 2;
        }
        width = out;
    }
    nodes[0]
}

/// The root of one chunk (up to [`CHUNK_SIZE`] bytes; only the file's last
/// chunk may be shorter).
///
/// Only builders (client, host daemon) need it, so it is `std`: the leaves
/// and each level of nodes are hashed several at a time, eight per
/// instruction stream with AVX-512 where the CPU has it ([`x8`]), otherwise
/// with BLAKE2b's own SIMD lanes (AVX2: 4 at once). The test
/// `the_simd_chunk_root_is_the_plain_tree_root` checks both against the plain
/// pairwise rule.
#[cfg(feature = "std")]
pub fn chunk_root(chunk: &[u8]) -> Hash {
    let chunk = &chunk[..chunk.len().min(CHUNK_SIZE)];
    if chunk.is_empty() {
        return hash_leaf(&[]);
    }
    #[cfg(target_arch = "x86_64")]
    if x8::available() {
        return x8::chunk_root(chunk);
    }
    chunk_root_many(chunk)
}

/// [`chunk_root`] without the AVX-512 path: `blake2b_simd`'s `hash_many`
/// (AVX2 where the CPU has it). Public for the benchmark that weighs the
/// two (`cargo run --release --example merkle_speed -p masp-proofs`).
#[cfg(feature = "std")]
#[doc(hidden)]
pub fn chunk_root_portable(chunk: &[u8]) -> Hash {
    let chunk = &chunk[..chunk.len().min(CHUNK_SIZE)];
    if chunk.is_empty() {
        return hash_leaf(&[]);
    }
    chunk_root_many(chunk)
}

/// [`chunk_root`] of a non-empty chunk with `blake2b_simd`'s `hash_many`.
#[cfg(feature = "std")]
fn chunk_root_many(chunk: &[u8]) -> Hash {
    use blake2b_simd::many::{hash_many, HashManyJob};
    extern crate alloc;
    use alloc::vec::Vec;
    let p = params();
    // Tagged copies, so each hash is one contiguous input.
    let mut tagged = Vec::with_capacity(chunk.len() + chunk.len() / LEAF_SIZE + 1);
    let mut bounds = Vec::with_capacity(chunk.len() / LEAF_SIZE + 1);
    for leaf in chunk.chunks(LEAF_SIZE) {
        let start = tagged.len();
        tagged.push(LEAF_TAG);
        tagged.extend_from_slice(leaf);
        bounds.push((start, tagged.len()));
    }
    let mut jobs: Vec<HashManyJob> = bounds
        .iter()
        .map(|&(a, b)| HashManyJob::new(&p, &tagged[a..b]))
        .collect();
    hash_many(jobs.iter_mut());
    let mut level: Vec<Hash> = jobs.iter().map(|j| to_hash(j.to_hash())).collect();
    let mut inputs: Vec<[u8; 65]> = Vec::with_capacity(level.len() / 2);
    while level.len() > 1 {
        inputs.clear();
        for pair in level.chunks_exact(2) {
            let mut x = [0u8; 65];
            x[0] = NODE_TAG;
            x[1..33].copy_from_slice(&pair[0]);
            x[33..].copy_from_slice(&pair[1]);
            inputs.push(x);
        }
        let mut jobs: Vec<HashManyJob> = inputs.iter().map(|x| HashManyJob::new(&p, x)).collect();
        hash_many(jobs.iter_mut());
        let odd = (level.len() % 2 == 1).then(|| level[level.len() - 1]);
        level = jobs.iter().map(|j| to_hash(j.to_hash())).collect();
        level.extend(odd);
    }
    level[0]
}

/// The root of a file from its chunk roots, in order.
///
/// Every full chunk is a perfect subtree aligned with the whole tree, so this
/// is the same root as the tree over all the file's leaves.
pub fn root_of_chunk_roots(chunk_roots: &mut [Hash]) -> Hash {
    fold_levels(chunk_roots)
}

/// BLAKE2b's constants (RFC 7693), for the hashers that compute many
/// BLAKE2b-256 hashes at once in vector registers: [`x8`] here (AVX-512)
/// and the web app's WASM SIMD build (web/wasm/src/simd.rs).
#[doc(hidden)]
pub mod blake2b {
    /// The initialization vector.
    pub const IV: [u64; 8] = [
        0x6a09e667f3bcc908,
        0xbb67ae8584caa73b,
        0x3c6ef372fe94f82b,
        0xa54ff53a5f1d36f1,
        0x510e527fade682d1,
        0x9b05688c2b3e6c1f,
        0x1f83d9abfb41bd6b,
        0x5be0cd19137e2179,
    ];

    /// The message schedule of the 12 rounds.
    pub const SIGMA: [[usize; 16]; 12] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
        [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
        [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
        [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
        [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
        [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
        [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
        [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
        [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    ];
}

/// A tree of `2^MAX_DEPTH` identical leaves, for benchmarks: the node at
/// each level is the same everywhere, so any challenge or piece has a proof
/// of full depth, and verifying it costs what any proof of that depth costs.
pub struct DeepestTree {
    /// The one leaf (512 bytes of 7).
    pub leaf: alloc::vec::Vec<u8>,
    /// `levels[l]`: every node `l` levels above the leaves.
    pub levels: alloc::vec::Vec<Hash>,
    /// The root.
    pub root: Hash,
}

impl DeepestTree {
    /// Leaves in the tree: `2^MAX_DEPTH`.
    pub const LEAVES: u64 = 1u64 << MAX_DEPTH;

    /// Builds it: `MAX_DEPTH` hashes.
    pub fn new() -> Self {
        let leaf = alloc::vec![7u8; LEAF_SIZE];
        let mut node = hash_leaf(&leaf);
        let mut levels = alloc::vec::Vec::with_capacity(MAX_DEPTH);
        for _ in 0..MAX_DEPTH {
            levels.push(node);
            node = hash_node(&node, &node);
        }
        Self {
            leaf,
            levels,
            root: node,
        }
    }
}

impl Default for DeepestTree {
    fn default() -> Self {
        Self::new()
    }
}

/// A file of [`sample_bytes`] and its tree, for tests.
#[cfg(feature = "std")]
pub struct SampleFile {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Their tree.
    pub tree: FileTree,
}

#[cfg(feature = "std")]
impl SampleFile {
    /// `len` bytes from `seed`, and their tree.
    pub fn new(len: usize, seed: u64) -> Self {
        let bytes = sample_bytes(len, seed);
        let tree = FileTree::build(&bytes[..]).expect("reading from memory cannot fail");
        Self { bytes, tree }
    }
}

#[cfg(feature = "std")]
mod tree;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod x8;
#[cfg(feature = "std")]
pub use tree::*;

/// `len` deterministic pseudo-random bytes (xorshift64*) from `seed`:
/// incompressible like ciphertext, the same on every run, a different
/// stream for each seed. For tests, examples and benchmarks that need a
/// file's worth of data; not random, never for keys.
#[cfg(feature = "std")]
pub fn sample_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len.saturating_add(8));
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests;
