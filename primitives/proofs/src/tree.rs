//! Building trees and proofs (std: the host daemon and the client).

use crate::{
    chunk_root, fold_multi, hash_leaf, hash_node, leaf_count, Hash, ProofError, CHUNK_SIZE,
    LEAF_SIZE, LEAVES_PER_CHUNK, MAX_MULTI_LEAVES,
};
use std::{
    collections::BTreeMap,
    io::{self, Read},
};

/// A leaf and the sibling hashes that lead from it to the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    /// The challenged leaf's bytes.
    pub leaf: Vec<u8>,
    /// Sibling hashes from the bottom up (promoted levels have none).
    pub path: Vec<Hash>,
}

impl Proof {
    /// Bytes this proof puts in a transaction (leaf + hashes).
    pub fn encoded_len(&self) -> usize {
        self.leaf.len() + 32 * self.path.len()
    }
}

/// Every level of the tree over `nodes`, from `nodes` up to the root.
fn levels(nodes: Vec<Hash>) -> Vec<Vec<Hash>> {
    let mut levels = vec![nodes];
    while levels.last().is_some_and(|l| l.len() > 1) {
        let below = levels.last().expect("non-empty");
        let next = below
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => hash_node(l, r),
                [single] => *single,
                _ => unreachable!("chunks(2) yields 1 or 2"),
            })
            .collect();
        levels.push(next);
    }
    levels
}

/// The sibling path of node `index` in `levels`.
fn path_in(levels: &[Vec<Hash>], mut index: usize, path: &mut Vec<Hash>) {
    for level in &levels[..levels.len().saturating_sub(1)] {
        let sibling = index ^ 1;
        if sibling < level.len() {
            path.push(level[sibling]);
        }
        index /= 2;
    }
}

/// The Merkle tree of one file's ciphertext, kept as its chunk roots and the
/// levels above them: 32 bytes per MiB of data. A proof reads one chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileTree {
    size: u64,
    /// `upper[0]` are the chunk roots; the last level is the root.
    upper: Vec<Vec<Hash>>,
}

impl FileTree {
    /// The tree of a file of `size` bytes with these chunk roots (in order).
    pub fn from_chunk_roots(size: u64, chunk_roots: Vec<Hash>) -> Self {
        Self {
            size,
            upper: levels(chunk_roots),
        }
    }

    /// Reads a whole file, hashing chunks on all cores in batches, and builds
    /// its tree. Memory: one batch of chunks plus 32 bytes per chunk.
    pub fn build(mut reader: impl Read) -> io::Result<Self> {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let batch = workers * 4;
        let mut roots = Vec::new();
        let mut size = 0u64;
        loop {
            let mut chunks: Vec<Vec<u8>> = Vec::with_capacity(batch);
            for _ in 0..batch {
                let chunk = read_chunk(&mut reader)?;
                if chunk.is_empty() {
                    break;
                }
                size += chunk.len() as u64;
                let last = chunk.len() < CHUNK_SIZE;
                chunks.push(chunk);
                if last {
                    break;
                }
            }
            if chunks.is_empty() {
                break;
            }
            let done = chunks.last().is_some_and(|c| c.len() < CHUNK_SIZE);
            roots.extend(chunk_roots_parallel(&chunks, workers));
            if done {
                break;
            }
        }
        Ok(Self::from_chunk_roots(size, roots))
    }

    /// Bytes of ciphertext.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Leaves of the tree.
    pub fn leaf_count(&self) -> u64 {
        leaf_count(self.size)
    }

    /// The root the chain stores.
    pub fn root(&self) -> Hash {
        self.upper
            .last()
            .and_then(|l| l.first().copied())
            .unwrap_or_else(|| hash_leaf(&[]))
    }

    /// The chunk roots, in order.
    pub fn chunk_roots(&self) -> &[Hash] {
        self.upper.first().map_or(&[], |l| l.as_slice())
    }

    /// The chunk that holds leaf `index`, and where that chunk starts.
    pub fn chunk_of(&self, index: u64) -> (u64, u64) {
        let chunk = index / LEAVES_PER_CHUNK;
        (chunk, chunk * CHUNK_SIZE as u64)
    }

    /// The proof of leaf `index`, given the bytes of the chunk that holds it
    /// (see [`FileTree::chunk_of`]). The chunk is checked against its stored
    /// root first, so a corrupted chunk yields an error, never a bad proof.
    pub fn prove(&self, index: u64, chunk: &[u8]) -> Result<Proof, ProofError> {
        if index >= self.leaf_count() {
            return Err(ProofError::IndexOutOfRange);
        }
        let (chunk_index, _) = self.chunk_of(index);
        // Fewer chunk roots than the size needs: the tree cannot prove this
        // leaf (a bad record, not bad data).
        let expected = *self
            .chunk_roots()
            .get(chunk_index as usize)
            .ok_or(ProofError::IndexOutOfRange)?;
        if chunk_root(chunk) != expected {
            return Err(ProofError::RootMismatch);
        }
        let in_chunk = (index % LEAVES_PER_CHUNK) as usize;
        let leaves: Vec<Hash> = chunk.chunks(LEAF_SIZE).map(hash_leaf).collect();
        let leaf = chunk
            .chunks(LEAF_SIZE)
            .nth(in_chunk)
            .ok_or(ProofError::IndexOutOfRange)?
            .to_vec();
        let mut path = Vec::new();
        path_in(&levels(leaves), in_chunk, &mut path);
        path_in(&self.upper, chunk_index as usize, &mut path);
        Ok(Proof { leaf, path })
    }
}

/// A proof of several leaves of one tree (see [`crate::verify_multi`]):
/// their bytes, concatenated in index order, and the sibling hashes they do
/// not determine. Path nodes the leaves share are sent once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MultiProof {
    /// The leaves' bytes, in ascending index order.
    pub leaves: Vec<u8>,
    /// Sibling hashes, level by level from the leaves up, left to right.
    pub nodes: Vec<Hash>,
}

impl MultiProof {
    /// Bytes this proof puts in a transaction (leaves + hashes).
    pub fn encoded_len(&self) -> usize {
        self.leaves.len() + 32 * self.nodes.len()
    }

    /// Merges single-leaf proofs of leaves `indices` (ascending, distinct;
    /// `proofs[j]` proves `indices[j]`) of a tree of `leaf_count` leaves into
    /// one multi-proof. A malformed input is an error, never a panic; the
    /// result is not checked against a root (do that with
    /// [`crate::verify_multi`]).
    pub fn from_single(
        leaf_count: u64,
        indices: &[u64],
        proofs: &[Proof],
    ) -> Result<Self, ProofError> {
        if indices.len() != proofs.len() || indices.len() > MAX_MULTI_LEAVES {
            return Err(ProofError::BadIndices);
        }
        // Every sibling each single path names: (level, index) -> hash.
        let mut known: BTreeMap<(usize, u64), Hash> = BTreeMap::new();
        for (&index, proof) in indices.iter().zip(proofs) {
            if proof.path.len() != crate::path_len(leaf_count, index) {
                return Err(ProofError::BadPathLength);
            }
            let (mut i, mut width, mut next, mut level) = (index, leaf_count, 0usize, 0usize);
            while width > 1 {
                if !(i + 1 == width && width % 2 == 1) {
                    known.insert((level, i ^ 1), proof.path[next]);
                    next += 1;
                }
                i /= 2;
                width = width.div_ceil(2);
                level += 1;
            }
        }
        let mut leaves = Vec::new();
        for proof in proofs {
            leaves.extend_from_slice(&proof.leaf);
        }
        let mut items = [(0u64, [0u8; 32]); MAX_MULTI_LEAVES];
        let count = crate::hash_challenged_leaves(leaf_count, indices, &leaves, &mut items)?;
        let mut nodes = Vec::new();
        fold_multi(leaf_count, &mut items, count, |level, index| {
            let node = *known
                .get(&(level, index))
                .ok_or(ProofError::BadPathLength)?;
            nodes.push(node);
            Ok(node)
        })?;
        Ok(Self { leaves, nodes })
    }
}

impl FileTree {
    /// The multi-proof of leaves `indices` (ascending, distinct), reading
    /// each leaf's chunk from `file` (the whole ciphertext). For tests and
    /// tools that hold a file in memory; the daemon reads chunk by chunk.
    pub fn prove_many_in(&self, indices: &[u64], file: &[u8]) -> Result<MultiProof, ProofError> {
        let mut proofs = Vec::with_capacity(indices.len());
        for &index in indices {
            let (_, start) = self.chunk_of(index);
            let start = usize::try_from(start).map_err(|_| ProofError::IndexOutOfRange)?;
            let end = start.saturating_add(CHUNK_SIZE).min(file.len());
            let chunk = file.get(start..end).ok_or(ProofError::IndexOutOfRange)?;
            proofs.push(self.prove(index, chunk)?);
        }
        MultiProof::from_single(self.leaf_count(), indices, &proofs)
    }
}

/// Reads up to one chunk (fewer bytes only at the end of the stream).
fn read_chunk(reader: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut chunk = vec![0u8; CHUNK_SIZE];
    let mut filled = 0;
    while filled < CHUNK_SIZE {
        match reader.read(&mut chunk[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    chunk.truncate(filled);
    Ok(chunk)
}

/// The roots of `chunks`, computed on up to `workers` threads.
pub fn chunk_roots_parallel(chunks: &[Vec<u8>], workers: usize) -> Vec<Hash> {
    let per = chunks.len().div_ceil(workers.max(1)).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .chunks(per)
            .map(|group| s.spawn(move || group.iter().map(|c| chunk_root(c)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("hashing threads do not panic"))
            .collect()
    })
}
