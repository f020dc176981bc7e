//! Building an epoch's storage proof for one contract.
//!
//! The chain challenges [`masp_proofs::CHALLENGE_LEAVES`] leaves per
//! contract and epoch ([`masp_proofs::challenge_indices`]); the answer is one
//! multi-proof ([`masp_proofs::MultiProof`]): the leaves' bytes and the
//! sibling hashes they do not share. [`build_proof`] reads the chunk of each
//! challenged leaf (at most one read per distinct chunk), proves each leaf
//! from the stored chunk roots, merges the proofs and checks the result
//! against the on-chain root before it is submitted.
//!
//! **Data is only ever dropped for corruption**: a chunk whose bytes no
//! longer hash to the root the host checked it against on upload
//! ([`ProveError::Corrupt`]). Anything else that stops a proof (a record or
//! chunk-root list that does not fit the contract, a missing chunk, a disk
//! error) is reported and leaves every stored byte in place: a challenge the
//! host cannot answer because its record is wrong costs it one epoch, never
//! the data.

use std::collections::BTreeMap;

use masp_primitives::market::ContractId;
use masp_proofs::{FileTree, Hash, MultiProof, ProofError, LEAVES_PER_CHUNK};

use crate::store::{ContractRecord, Store, StoreError};

/// Why a proof could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    /// No chunk roots were uploaded.
    #[error("no chunk roots stored")]
    NoRoots,
    /// The chunk holding a challenged leaf is not stored.
    #[error("chunk {0} is not stored")]
    MissingChunk(u32),
    /// The chunk's bytes do not hash to its stored root: the data is
    /// corrupt. The chunk is dropped so it is never served.
    #[error("chunk {0} is corrupt: {1:?}")]
    Corrupt(u32, ProofError),
    /// The challenge does not fit what this host recorded (a leaf beyond
    /// the recorded size, fewer chunk roots than the size needs, or chunk
    /// roots that do not lead to the on-chain root): nothing is deleted.
    #[error("cannot prove with the stored record: {0:?}")]
    Mismatch(ProofError),
    /// The disk.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Builds and checks the multi-proof of leaves `indices` (ascending,
/// distinct: [`masp_proofs::Challenge::as_slice`]) of contract `id`. Reads
/// each challenged chunk once, proves with the stored chunk roots, verifies
/// against the on-chain root and leaf count in `r`. Returns (leaves, nodes)
/// as `submit_proofs` takes them.
pub fn build_proof(
    store: &dyn Store,
    id: ContractId,
    r: &ContractRecord,
    indices: &[u64],
) -> Result<(Vec<u8>, Vec<Hash>), ProveError> {
    // A challenge beyond the data this host holds, or a record whose leaf
    // count does not fit its size: not the data's fault.
    if r.leaf_count != masp_proofs::leaf_count(r.size) {
        return Err(ProveError::Mismatch(ProofError::BadPathLength));
    }
    if indices.is_empty() || indices.iter().any(|i| *i >= r.leaf_count) {
        return Err(ProveError::Mismatch(ProofError::IndexOutOfRange));
    }
    let roots = store.roots(id)?.ok_or(ProveError::NoRoots)?;
    let tree = FileTree::from_chunk_roots(r.size, roots);
    let mut chunks: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    let mut proofs = Vec::with_capacity(indices.len());
    for &index in indices {
        let chunk = u32::try_from(index / LEAVES_PER_CHUNK)
            .map_err(|_| ProveError::Mismatch(ProofError::IndexOutOfRange))?;
        let data = match chunks.entry(chunk) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                if !store.has_chunk(id, chunk)? {
                    return Err(ProveError::MissingChunk(chunk));
                }
                e.insert(store.read_chunk(id, chunk)?)
            }
        };
        match tree.prove(index, data) {
            Ok(p) => proofs.push(p),
            // The bytes do not hash to the chunk's root: corruption, the
            // only reason a chunk is ever dropped.
            Err(ProofError::RootMismatch) => {
                store.drop_chunk(id, chunk)?;
                return Err(ProveError::Corrupt(chunk, ProofError::RootMismatch));
            }
            Err(e) => return Err(ProveError::Mismatch(e)),
        }
    }
    let proof =
        MultiProof::from_single(r.leaf_count, indices, &proofs).map_err(ProveError::Mismatch)?;
    // The chunk roots were checked against the on-chain root on upload; if
    // they no longer lead there, the record is wrong, not the chunk.
    masp_proofs::verify_multi(&r.root, r.leaf_count, indices, &proof.leaves, &proof.nodes)
        .map_err(ProveError::Mismatch)?;
    Ok((proof.leaves, proof.nodes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DiskStore;
    use masp_proofs::{challenge_indices, verify_multi, CHALLENGE_LEAVES, CHUNK_SIZE};

    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        masp_proofs::sample_bytes(len, seed.into())
    }

    /// A store holding all of a 3.5-chunk file as contract 7.
    fn stored(dir: &std::path::Path) -> (DiskStore, ContractRecord, Vec<u8>) {
        let data = bytes(3 * CHUNK_SIZE + CHUNK_SIZE / 2, 1);
        let tree = FileTree::build(&data[..]).unwrap();
        let store = DiskStore::open(dir).unwrap();
        let r = ContractRecord {
            sender: [0; 32],
            size: data.len() as u64,
            root: tree.root(),
            leaf_count: tree.leaf_count(),
            confirmed: true,
            ended_at: None,
            last_proven: None,
        };
        store.put_contract(7, &r).unwrap();
        store.put_roots(7, tree.chunk_roots()).unwrap();
        for (i, c) in data.chunks(CHUNK_SIZE).enumerate() {
            store.put_chunk(7, i as u32, c).unwrap();
        }
        (store, r, data)
    }

    fn all_chunks_kept(store: &DiskStore) -> bool {
        (0..4).all(|i| store.has_chunk(7, i).unwrap())
    }

    #[test]
    fn an_epochs_challenge_is_answered_with_one_multi_proof() {
        let dir = tempfile::tempdir().unwrap();
        let (store, r, _) = stored(dir.path());
        for epoch in 0..20 {
            let c = challenge_indices(&[epoch as u8; 32], 7, epoch, r.leaf_count, CHALLENGE_LEAVES);
            let (leaves, nodes) = build_proof(&store, 7, &r, c.as_slice()).unwrap();
            assert_eq!(
                verify_multi(&r.root, r.leaf_count, c.as_slice(), &leaves, &nodes),
                Ok(())
            );
        }
    }

    #[test]
    fn a_challenge_beyond_the_record_never_deletes_data() {
        let dir = tempfile::tempdir().unwrap();
        let (store, r, _) = stored(dir.path());
        // A larger leaf count than the size stands for (issue 18 item 1: the
        // old daemon dropped a valid chunk on IndexOutOfRange).
        let mut big = r.clone();
        big.leaf_count = r.leaf_count * 2;
        let c = challenge_indices(&[3; 32], 7, 1, big.leaf_count, CHALLENGE_LEAVES);
        assert!(matches!(
            build_proof(&store, 7, &big, c.as_slice()),
            Err(ProveError::Mismatch(_))
        ));
        // A leaf index past the data.
        assert!(matches!(
            build_proof(&store, 7, &r, &[r.leaf_count]),
            Err(ProveError::Mismatch(ProofError::IndexOutOfRange))
        ));
        // Chunk roots that do not lead to the on-chain root.
        let mut other_root = r.clone();
        other_root.root = [1; 32];
        assert!(matches!(
            build_proof(&store, 7, &other_root, &[0, 5000]),
            Err(ProveError::Mismatch(ProofError::RootMismatch))
        ));
        // Fewer chunk roots than the size needs.
        let roots = store.roots(7).unwrap().unwrap();
        store.put_roots(7, &roots[..2]).unwrap();
        assert!(matches!(
            build_proof(&store, 7, &r, &[0, r.leaf_count - 1]),
            Err(ProveError::Mismatch(ProofError::IndexOutOfRange))
        ));
        assert!(all_chunks_kept(&store), "no chunk deleted");
    }

    #[test]
    fn only_a_corrupt_chunk_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (store, r, mut data) = stored(dir.path());
        data[CHUNK_SIZE + 10] ^= 1;
        store
            .put_chunk(7, 1, &data[CHUNK_SIZE..2 * CHUNK_SIZE])
            .unwrap();
        let in_chunk_1 = LEAVES_PER_CHUNK + 3;
        assert!(matches!(
            build_proof(&store, 7, &r, &[0, in_chunk_1]),
            Err(ProveError::Corrupt(1, ProofError::RootMismatch))
        ));
        assert!(!store.has_chunk(7, 1).unwrap());
        assert!(store.has_chunk(7, 0).unwrap() && store.has_chunk(7, 2).unwrap());
        // A missing chunk is reported, not "repaired" by deleting more.
        assert!(matches!(
            build_proof(&store, 7, &r, &[in_chunk_1]),
            Err(ProveError::MissingChunk(1))
        ));
        assert!(store.has_chunk(7, 0).unwrap() && store.has_chunk(7, 3).unwrap());
    }
}
