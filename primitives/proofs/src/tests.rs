//! The format's rules, a reference implementation to compare against, and
//! fixed test vectors: any change of format breaks a test here.

use super::*;
use crate::{FileTree, MultiProof, Proof};
use proptest::prelude::*;

/// Deterministic test data: byte i = (i * 31 + i / 251) mod 256.
fn data(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) + i / 251) as u8)
        .collect()
}

/// The reference: every level over every leaf, straight from the rules.
fn reference_levels(bytes: &[u8]) -> Vec<Vec<Hash>> {
    let mut levels = vec![bytes.chunks(LEAF_SIZE).map(hash_leaf).collect::<Vec<_>>()];
    while levels.last().unwrap().len() > 1 {
        let below = levels.last().unwrap();
        let mut next = Vec::new();
        let mut i = 0;
        while i < below.len() {
            next.push(if i + 1 < below.len() {
                hash_node(&below[i], &below[i + 1])
            } else {
                below[i]
            });
            i += 2;
        }
        levels.push(next);
    }
    levels
}

fn reference_proof(bytes: &[u8], index: usize) -> Proof {
    let levels = reference_levels(bytes);
    let mut path = Vec::new();
    let mut i = index;
    for level in &levels[..levels.len() - 1] {
        if (i ^ 1) < level.len() {
            path.push(level[i ^ 1]);
        }
        i /= 2;
    }
    Proof {
        leaf: bytes.chunks(LEAF_SIZE).nth(index).unwrap().to_vec(),
        path,
    }
}

fn hex(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

fn prove(bytes: &[u8], index: u64) -> (FileTree, Proof) {
    let tree = FileTree::build(bytes).unwrap();
    let (_, start) = tree.chunk_of(index);
    let end = (start as usize + CHUNK_SIZE).min(bytes.len());
    let proof = tree.prove(index, &bytes[start as usize..end]).unwrap();
    (tree, proof)
}

#[test]
fn a_proof_for_a_1_tib_contract_fits_in_1_5_kib() {
    let leaves = leaf_count(1 << 40);
    assert_eq!(leaves, 1 << 31);
    assert_eq!(depth(leaves), 31);
    let worst = (0..4)
        .map(|i| path_len(leaves, leaves - 1 - i))
        .max()
        .unwrap();
    assert_eq!(worst, 31);
    assert_eq!(LEAF_SIZE + 32 * worst, 1504);
    assert!(LEAF_SIZE + 32 * worst <= 1536);
    // Any size up to 1 TiB has at most 31 levels.
    assert_eq!(depth(leaf_count((1 << 40) - 1)), 31);
}

#[test]
fn leaves_are_512_bytes_and_the_last_one_keeps_the_remainder() {
    assert_eq!(leaf_count(0), 0);
    assert_eq!(leaf_count(1), 1);
    assert_eq!(leaf_count(512), 1);
    assert_eq!(leaf_count(513), 2);
    assert_eq!(leaf_len(513, 0), 512);
    assert_eq!(leaf_len(513, 1), 1);
    assert_eq!(leaf_len(513, 2), 0);
    assert_eq!(LEAVES_PER_CHUNK, 2048);
}

#[test]
fn leaf_and_node_hashes_are_domain_separated() {
    let (a, b) = (hash_leaf(b"a"), hash_leaf(b"b"));
    let mut concat = Vec::from([NODE_TAG]);
    concat.extend_from_slice(&a);
    concat.extend_from_slice(&b);
    // A node is not the leaf hash of its children's bytes.
    assert_ne!(hash_node(&a, &b), hash_leaf(&concat[1..]));
    assert_ne!(hash_leaf(b""), hash_node(&[0; 32], &[0; 32]));
}

#[test]
fn a_one_leaf_tree_is_its_leaf_hash() {
    let bytes = data(100);
    let tree = FileTree::build(&bytes[..]).unwrap();
    assert_eq!(tree.root(), hash_leaf(&bytes));
    assert_eq!(verify(&tree.root(), 1, 0, &bytes, &[]), Ok(()));
}

#[test]
fn the_chunked_tree_equals_the_tree_over_all_leaves() {
    for len in [
        1,
        511,
        512,
        513,
        3 * 512 + 1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        3 * CHUNK_SIZE + 777,
    ] {
        let bytes = data(len);
        let tree = FileTree::build(&bytes[..]).unwrap();
        let reference = reference_levels(&bytes);
        assert_eq!(tree.root(), reference.last().unwrap()[0], "size {len}");
        assert_eq!(tree.leaf_count(), leaf_count(len as u64));
        assert_eq!(tree.size(), len as u64);
        // A tree rebuilt from the stored chunk roots is the same tree.
        let mut roots = tree.chunk_roots().to_vec();
        assert_eq!(root_of_chunk_roots(&mut roots), tree.root());
    }
}

#[test]
fn every_proof_verifies_and_matches_the_reference() {
    let bytes = data(2 * CHUNK_SIZE + 5 * 512 + 3);
    let n = leaf_count(bytes.len() as u64);
    for index in [0, 1, 2047, 2048, 4095, 4096, n - 2, n - 1] {
        let (tree, proof) = prove(&bytes, index);
        assert_eq!(
            proof,
            reference_proof(&bytes, index as usize),
            "leaf {index}"
        );
        assert_eq!(proof.path.len(), path_len(n, index));
        assert_eq!(
            verify(&tree.root(), n, index, &proof.leaf, &proof.path),
            Ok(())
        );
    }
}

#[test]
fn every_leaf_position_proves_and_every_flipped_bit_fails() {
    // 37 leaves: odd widths at several levels, a partial last leaf.
    let bytes = data(36 * 512 + 100);
    let n = leaf_count(bytes.len() as u64);
    assert_eq!(n, 37);
    let tree = FileTree::build(&bytes[..]).unwrap();
    let root = tree.root();
    for index in 0..n {
        let proof = tree.prove(index, &bytes).unwrap();
        assert_eq!(
            verify(&root, n, index, &proof.leaf, &proof.path),
            Ok(()),
            "leaf {index}"
        );
        // Every single-bit flip of the path is caught.
        for h in 0..proof.path.len() {
            for bit in 0..256 {
                let mut path = proof.path.clone();
                path[h][bit / 8] ^= 1 << (bit % 8);
                assert!(verify(&root, n, index, &proof.leaf, &path).is_err());
            }
        }
        // And of the leaf (a sample of bits across it).
        for bit in (0..proof.leaf.len() * 8).step_by(61) {
            let mut leaf = proof.leaf.clone();
            leaf[bit / 8] ^= 1 << (bit % 8);
            assert!(verify(&root, n, index, &leaf, &proof.path).is_err());
        }
        // It proves that leaf only.
        assert!(verify(&root, n, (index + 1) % n, &proof.leaf, &proof.path).is_err());
    }
}

#[test]
fn a_tampered_proof_fails_with_its_reason() {
    let bytes = data(CHUNK_SIZE + 700);
    let n = leaf_count(bytes.len() as u64);
    let (tree, proof) = prove(&bytes, 5);
    let root = tree.root();
    let mut leaf = proof.leaf.clone();
    leaf[0] ^= 1;
    assert_eq!(
        verify(&root, n, 5, &leaf, &proof.path),
        Err(ProofError::RootMismatch)
    );
    let mut path = proof.path.clone();
    path[3][7] ^= 1;
    assert_eq!(
        verify(&root, n, 5, &proof.leaf, &path),
        Err(ProofError::RootMismatch)
    );
    // The right leaf at the wrong index.
    assert_eq!(
        verify(&root, n, 4, &proof.leaf, &proof.path),
        Err(ProofError::RootMismatch)
    );
    assert_eq!(
        verify(&root, n, n, &proof.leaf, &proof.path),
        Err(ProofError::IndexOutOfRange)
    );
    assert_eq!(
        verify(&root, n, 5, &proof.leaf, &proof.path[1..]),
        Err(ProofError::BadPathLength)
    );
    assert_eq!(
        verify(&root, n, 5, &proof.leaf[..511], &proof.path),
        Err(ProofError::BadLeafLength)
    );
    assert_eq!(
        verify(&root, n, 5, &[], &proof.path),
        Err(ProofError::BadLeafLength)
    );
    // A corrupted chunk never yields a proof.
    let mut chunk = bytes[..CHUNK_SIZE].to_vec();
    chunk[9] ^= 1;
    assert_eq!(tree.prove(5, &chunk), Err(ProofError::RootMismatch));
}

#[test]
fn challenges_are_deterministic_in_range_and_spread() {
    let r = [9u8; 32];
    assert_eq!(
        challenge_index(&r, 1, 2, 1000),
        challenge_index(&r, 1, 2, 1000)
    );
    assert_eq!(challenge_index(&r, 1, 2, 1), 0);
    assert_eq!(challenge_index(&r, 1, 2, 0), 0);
    // Each input changes the answer.
    let base = challenge_index(&r, 1, 2, 1 << 40);
    assert_ne!(base, challenge_index(&[8; 32], 1, 2, 1 << 40));
    assert_ne!(base, challenge_index(&r, 2, 2, 1 << 40));
    assert_ne!(base, challenge_index(&r, 1, 3, 1 << 40));
    // Uniform over 10 buckets within a loose bound.
    let mut buckets = [0u32; 10];
    for period in 0..10_000 {
        let i = challenge_index(&r, 7, period, 10);
        assert!(i < 10);
        buckets[i as usize] += 1;
    }
    assert!(
        buckets.iter().all(|&b| (850..1150).contains(&b)),
        "{buckets:?}"
    );
}

/// Fixed inputs -> fixed outputs. If one of these changes, the format
/// changed: every stored root and every deployed daemon breaks with it.
/// The leaf, node and small-root vectors were also computed independently
/// with Python's `hashlib.blake2b(digest_size=32)` and the rules above.
#[test]
fn test_vectors() {
    assert_eq!(
        hex(&hash_leaf(b"")),
        "03170a2e7597b7b7e3d84c05391d139a62b157e78786d8c082f29dcf4c111314"
    );
    assert_eq!(
        hex(&hash_node(&[0; 32], &[1; 32])),
        "eb7a1a9fbc14e44b80cc681343479dae8291d6fba69e00b766716f92ab7e6c27"
    );
    let tree = FileTree::build(&data(3 * CHUNK_SIZE + 777)[..]).unwrap();
    assert_eq!(
        hex(&tree.root()),
        "2f85c2fc80728f033751046954ec9abc6d05caa5e9af9a203697ab11c485821b"
    );
    let tree = FileTree::build(&data(5 * 512 + 3)[..]).unwrap();
    assert_eq!(
        hex(&tree.root()),
        "9d4a66a7604fb720d08ad28f906fc696674b844416c9a9477cc9d04fcfd87691"
    );
    let (_, proof) = prove(&data(5 * 512 + 3), 4);
    assert_eq!(
        proof.path.iter().map(hex).collect::<Vec<_>>().join(","),
        "3d675fa113cb901a918985634b6764d14d26f62b333f09a6515b560aec5515b6,80c67fffc27833fead6eca0e71e667920f2a5c87ad41d6ce989dc414a98a9391"
    );
    assert_eq!(challenge_index(&[7; 32], 42, 3, 1 << 31), 219619336);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any size, any leaf: the proof the host builds verifies on chain, and
    /// flipping any byte of it makes it fail.
    #[test]
    fn any_leaf_of_any_file_proves(len in 1usize..(3 * CHUNK_SIZE), pick in any::<u64>(), flip in any::<usize>()) {
        let bytes = data(len);
        let n = leaf_count(len as u64);
        let index = pick % n;
        let (tree, proof) = prove(&bytes, index);
        prop_assert_eq!(verify(&tree.root(), n, index, &proof.leaf, &proof.path), Ok(()));
        prop_assert!(proof.encoded_len() <= LEAF_SIZE + 32 * depth(n));
        let mut leaf = proof.leaf.clone();
        let at = flip % leaf.len();
        leaf[at] ^= 0x80;
        prop_assert!(verify(&tree.root(), n, index, &leaf, &proof.path).is_err());
    }
}

#[test]
fn the_simd_chunk_root_is_the_plain_tree_root() {
    for len in [
        0usize,
        1,
        511,
        512,
        513,
        3 * 512 + 7,
        1000 * 512 + 3,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
    ] {
        let chunk: Vec<u8> = (0..len).map(|i| (i * 13 % 256) as u8).collect();
        let mut leaves: Vec<Hash> = if chunk.is_empty() {
            vec![hash_leaf(&[])]
        } else {
            chunk.chunks(LEAF_SIZE).map(hash_leaf).collect()
        };
        let expected = crate::fold_levels(&mut leaves);
        assert_eq!(chunk_root(&chunk), expected, "len {len}");
        if !chunk.is_empty() {
            assert_eq!(
                crate::chunk_root_many(&chunk),
                expected,
                "hash_many, len {len}"
            );
            #[cfg(target_arch = "x86_64")]
            if crate::x8::available() {
                assert_eq!(
                    crate::x8::chunk_root(&chunk),
                    expected,
                    "AVX-512, len {len}"
                );
            }
        }
    }
}

/// Every leaf position and every length around the 8-leaf and 16-node
/// groups of the AVX-512 path hashes like the plain rule.
#[test]
fn the_eight_way_hashes_match_at_every_group_edge() {
    let bytes = data(40 * LEAF_SIZE);
    let mut lens: Vec<usize> = (0..=40 * LEAF_SIZE).step_by(LEAF_SIZE).collect();
    lens.extend((1..40).flat_map(|l| [l * LEAF_SIZE - 1, l * LEAF_SIZE + 1]));
    for len in lens {
        let chunk = &bytes[..len];
        let expected = if chunk.is_empty() {
            hash_leaf(&[])
        } else {
            reference_levels(chunk).last().unwrap()[0]
        };
        assert_eq!(chunk_root(chunk), expected, "len {len}");
    }
}

// ---------------------------------------------------------------------------
// Multi-leaf challenges and proofs (issue 18, item 7).

/// The multi-proof of `indices` of `bytes`, built the daemon's way (one
/// single-leaf proof per chunk read, merged).
fn multi(bytes: &[u8], indices: &[u64]) -> (FileTree, MultiProof) {
    let tree = FileTree::build(bytes).unwrap();
    let proof = tree.prove_many_in(indices, bytes).unwrap();
    (tree, proof)
}

#[test]
fn a_week_of_4_leaf_challenges_catches_a_host_missing_1_percent() {
    // The README's arithmetic: 1-hour epochs, 168 per week.
    let epochs_per_week = 7 * 24;
    let pass_all = |k: i32| 0.99f64.powi(k * epochs_per_week);
    assert!(pass_all(CHALLENGE_LEAVES as i32) <= 0.01);
    assert!(pass_all(CHALLENGE_LEAVES as i32) < 0.0013);
    assert!(pass_all(3) <= 0.01, "k = 3 is the least that works");
    assert!(pass_all(2) > 0.01, "k = 2 is not enough");
    // One leaf per epoch (the old rule) lets such a host pass a week with 18%.
    assert!(pass_all(1) > 0.18);
    // And empirically: a host missing 1% of 10,000 leaves fails an epoch's
    // challenge with probability 1 - 0.99^4 = 3.94%.
    let leaves = 10_000u64;
    let missing = |i: u64| i % 100 == 37;
    let epochs = 20_000u32;
    let failed = (0..epochs)
        .filter(|e| {
            challenge_indices(&[5; 32], 42, *e, leaves, CHALLENGE_LEAVES)
                .as_slice()
                .iter()
                .any(|i| missing(*i))
        })
        .count() as f64
        / epochs as f64;
    assert!((failed - 0.0394).abs() < 0.006, "failed {failed}");
}

#[test]
fn challenge_indices_are_sorted_distinct_in_range_and_deterministic() {
    let seed = [3u8; 32];
    for leaves in [1u64, 2, 3, 5, 100, 2049, 1 << 31, u64::MAX] {
        let c = challenge_indices(&seed, 7, 9, leaves, CHALLENGE_LEAVES);
        assert!(!c.is_empty() && c.len() <= CHALLENGE_LEAVES);
        assert!(c.as_slice().windows(2).all(|w| w[0] < w[1]));
        assert!(c.as_slice().iter().all(|i| *i < leaves));
        assert_eq!(c, challenge_indices(&seed, 7, 9, leaves, CHALLENGE_LEAVES));
    }
    // Duplicates are proven once: one leaf, one index.
    assert_eq!(challenge_indices(&seed, 7, 9, 1, 4).as_slice(), &[0]);
    assert_eq!(challenge_indices(&seed, 7, 9, 2, 16).as_slice(), &[0, 1]);
    // Nothing to challenge in an empty tree; k is capped.
    assert!(challenge_indices(&seed, 7, 9, 0, 4).is_empty());
    assert_eq!(
        challenge_indices(&seed, 7, 9, u64::MAX, 1000).len(),
        MAX_MULTI_LEAVES
    );
    // Another contract, epoch or seed: other leaves.
    let big = 1u64 << 40;
    let a = challenge_indices(&seed, 7, 9, big, 4);
    assert_ne!(a, challenge_indices(&seed, 8, 9, big, 4));
    assert_ne!(a, challenge_indices(&seed, 7, 10, big, 4));
    assert_ne!(a, challenge_indices(&[4; 32], 7, 9, big, 4));
    // Spread over the whole file: each quarter of a file is hit about as
    // often as the others.
    let mut quarters = [0u32; 4];
    for e in 0..4000 {
        for i in challenge_indices(&seed, 1, e, 1000, 4).as_slice() {
            quarters[(*i / 250) as usize] += 1;
        }
    }
    let total: u32 = quarters.iter().sum();
    for q in quarters {
        let share = q as f64 / total as f64;
        assert!((share - 0.25).abs() < 0.02, "{quarters:?}");
    }
}

#[test]
fn a_multi_proof_verifies_for_every_shape_and_shares_its_path_nodes() {
    for len in [
        1usize,
        512,
        513,
        5 * 512 + 1,
        7 * 512,
        CHUNK_SIZE + 3 * 512 + 9,
        2 * CHUNK_SIZE + 100,
    ] {
        let bytes = data(len);
        let leaves = leaf_count(len as u64);
        for seed in 0u8..12 {
            let indices = challenge_indices(&[seed; 32], len as u64, 1, leaves, CHALLENGE_LEAVES);
            let (tree, p) = multi(&bytes, indices.as_slice());
            assert_eq!(
                verify_multi(
                    &tree.root(),
                    leaves,
                    indices.as_slice(),
                    &p.leaves,
                    &p.nodes
                ),
                Ok(())
            );
            assert_eq!(p.nodes.len(), multi_proof_len(leaves, indices.as_slice()));
            let singles: usize = indices
                .as_slice()
                .iter()
                .map(|i| path_len(leaves, *i))
                .sum();
            assert!(p.nodes.len() <= singles);
        }
    }
    // Neighbours share everything above them: leaves 0..4 of 8 need one
    // sibling (the right half's root), where 4 single proofs need 12.
    let bytes = data(8 * 512);
    let (tree, p) = multi(&bytes, &[0, 1, 2, 3]);
    assert_eq!(p.nodes.len(), 1);
    assert_eq!(p.leaves, bytes[..4 * 512]);
    assert_eq!(
        verify_multi(&tree.root(), 8, &[0, 1, 2, 3], &p.leaves, &p.nodes),
        Ok(())
    );
    // The last, short leaf and a promoted node.
    let bytes = data(5 * 512 + 1);
    let (tree, p) = multi(&bytes, &[2, 5]);
    assert_eq!(p.leaves.len(), 512 + 1);
    assert_eq!(
        verify_multi(&tree.root(), 6, &[2, 5], &p.leaves, &p.nodes),
        Ok(())
    );
}

#[test]
fn a_4_leaf_proof_of_a_1_tib_file_fits_in_6_kib() {
    let leaves = leaf_count(1 << 40);
    let mut worst = 0;
    for seed in 0u8..50 {
        let c = challenge_indices(&[seed; 32], 1, 1, leaves, CHALLENGE_LEAVES);
        worst = worst.max(LEAF_SIZE * c.len() + 32 * multi_proof_len(leaves, c.as_slice()));
    }
    assert!(worst <= 4 * 512 + 4 * 31 * 32, "{worst}");
    assert!(worst <= 6 * 1024);
}

#[test]
fn adversarial_multi_proofs_fail_with_their_reason() {
    let bytes = data(3 * CHUNK_SIZE + 700);
    let leaves = leaf_count(bytes.len() as u64);
    let indices = challenge_indices(&[1; 32], 5, 2, leaves, CHALLENGE_LEAVES);
    let ix = indices.as_slice();
    assert_eq!(ix.len(), 4);
    let (tree, good) = multi(&bytes, ix);
    let root = tree.root();
    let check = |ix: &[u64], l: &[u8], n: &[Hash]| verify_multi(&root, leaves, ix, l, n);
    assert_eq!(check(ix, &good.leaves, &good.nodes), Ok(()));
    // A wrong leaf (any flipped byte of any leaf).
    for at in [0, 511, 512, 3 * 512 + 100] {
        let mut l = good.leaves.clone();
        l[at] ^= 1;
        assert_eq!(check(ix, &l, &good.nodes), Err(ProofError::RootMismatch));
    }
    // Another leaf's (valid) bytes in place of a challenged one.
    let other = (ix[0] + 1..leaves).find(|i| !ix.contains(i)).unwrap();
    let mut swapped = ix.to_vec();
    swapped[0] = other;
    swapped.sort();
    let (_, p2) = multi(&bytes, &swapped);
    assert!(check(ix, &p2.leaves, &p2.nodes).is_err());
    // Leaves in the wrong order.
    let mut l = good.leaves.clone();
    l[..1024].rotate_left(512);
    assert_eq!(check(ix, &l, &good.nodes), Err(ProofError::RootMismatch));
    // Duplicated or unsorted or no indices: refused before any hashing.
    assert_eq!(
        check(&[ix[0], ix[0], ix[1]], &good.leaves, &good.nodes),
        Err(ProofError::BadIndices)
    );
    assert_eq!(
        check(&[ix[1], ix[0]], &good.leaves, &good.nodes),
        Err(ProofError::BadIndices)
    );
    assert_eq!(
        check(&[], &good.leaves, &good.nodes),
        Err(ProofError::BadIndices)
    );
    assert_eq!(
        check(&[0; 17], &good.leaves, &good.nodes),
        Err(ProofError::BadIndices)
    );
    assert_eq!(
        check(&[leaves], &bytes[..512], &[]),
        Err(ProofError::IndexOutOfRange)
    );
    // A duplicated leaf (the same bytes twice): lengths no longer split.
    let mut l = good.leaves.clone();
    l.extend_from_slice(&good.leaves[..512]);
    assert_eq!(check(ix, &l, &good.nodes), Err(ProofError::BadLeafLength));
    // Truncated or extended leaf bytes.
    assert_eq!(
        check(ix, &good.leaves[..good.leaves.len() - 1], &good.nodes),
        Err(ProofError::BadLeafLength)
    );
    assert_eq!(
        check(ix, &good.leaves[..700], &good.nodes),
        Err(ProofError::BadLeafLength)
    );
    assert_eq!(check(ix, &[], &good.nodes), Err(ProofError::BadLeafLength));
    // Truncated or extended node lists.
    assert_eq!(
        check(ix, &good.leaves, &good.nodes[..good.nodes.len() - 1]),
        Err(ProofError::BadPathLength)
    );
    let mut n = good.nodes.clone();
    n.push([0; 32]);
    assert_eq!(check(ix, &good.leaves, &n), Err(ProofError::BadPathLength));
    assert_eq!(check(ix, &good.leaves, &[]), Err(ProofError::BadPathLength));
    // A wrong node.
    let mut n = good.nodes.clone();
    n[3][0] ^= 1;
    assert_eq!(check(ix, &good.leaves, &n), Err(ProofError::RootMismatch));
    // leaf_count mismatch: the chain's leaf count is what the challenge is
    // drawn over (a Merkle proof of leaves far from the right edge cannot
    // tell two counts apart), so a proof made for one count does not answer
    // another count's challenge, and no count makes the verifier panic.
    for lc in [leaves - 1, leaves + 1, leaves * 2, 1, 0, u64::MAX] {
        let _ = verify_multi(&root, lc, ix, &good.leaves, &good.nodes);
        let theirs = challenge_indices(&[1; 32], 5, 2, lc, CHALLENGE_LEAVES);
        assert!(verify_multi(&root, lc, theirs.as_slice(), &good.leaves, &good.nodes).is_err());
    }
    // A count at or below a challenged index is refused outright.
    assert_eq!(
        verify_multi(&root, ix[3], ix, &good.leaves, &good.nodes),
        Err(ProofError::IndexOutOfRange)
    );
    // Merging refuses mismatched single proofs instead of panicking.
    let single = tree.prove(ix[0], &bytes[..CHUNK_SIZE]).unwrap();
    assert_eq!(
        MultiProof::from_single(leaves, &[ix[0], ix[1]], std::slice::from_ref(&single)),
        Err(ProofError::BadIndices)
    );
    assert_eq!(
        MultiProof::from_single(leaves + 5000, &[ix[0]], std::slice::from_ref(&single)).map(|_| ()),
        Err(ProofError::BadPathLength)
    );
    assert_eq!(
        MultiProof::from_single(leaves, &[ix[0], ix[0]], &[single.clone(), single]),
        Err(ProofError::BadIndices)
    );
}

#[test]
fn a_tree_with_missing_chunk_roots_refuses_to_prove_instead_of_panicking() {
    let bytes = data(2 * CHUNK_SIZE);
    let tree = FileTree::build(&bytes[..]).unwrap();
    let short = FileTree::from_chunk_roots(bytes.len() as u64, tree.chunk_roots()[..1].to_vec());
    let last = leaf_count(bytes.len() as u64) - 1;
    assert_eq!(
        short.prove(last, &bytes[CHUNK_SIZE..]),
        Err(ProofError::IndexOutOfRange)
    );
    assert_eq!(
        short.prove_many_in(&[0, last], &bytes).map(|_| ()),
        Err(ProofError::IndexOutOfRange)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No input makes the verifier panic; random garbage never verifies.
    #[test]
    fn any_multi_proof_input_is_answered_without_panic(
        leaf_count in prop_oneof![Just(0u64), Just(1u64), 1u64..10_000, any::<u64>()],
        indices in proptest::collection::vec(any::<u64>(), 0..20),
        small in proptest::collection::vec(0u64..64, 0..20),
        use_small in any::<bool>(),
        leaves in proptest::collection::vec(any::<u8>(), 0..3000),
        nodes in proptest::collection::vec(any::<[u8; 32]>(), 0..200),
        root in any::<[u8; 32]>(),
    ) {
        let ix = if use_small { small } else { indices };
        prop_assert!(verify_multi(&root, leaf_count, &ix, &leaves, &nodes).is_err());
        let _ = multi_proof_len(leaf_count, &ix);
    }

    /// Any challenge of any file proves, and any flipped bit fails.
    #[test]
    fn any_challenge_of_any_file_proves(
        len in 1usize..(2 * CHUNK_SIZE + 5000),
        seed in any::<[u8; 32]>(),
        flip in any::<usize>(),
    ) {
        let bytes = data(len);
        let leaves = leaf_count(len as u64);
        let c = challenge_indices(&seed, 1, 1, leaves, CHALLENGE_LEAVES);
        let (tree, p) = multi(&bytes, c.as_slice());
        prop_assert_eq!(verify_multi(&tree.root(), leaves, c.as_slice(), &p.leaves, &p.nodes), Ok(()));
        let mut l = p.leaves.clone();
        let at = flip % (l.len() * 8);
        l[at / 8] ^= 1 << (at % 8);
        prop_assert!(verify_multi(&tree.root(), leaves, c.as_slice(), &l, &p.nodes).is_err());
    }
}

/// Native cost of verifying the one-leaf proof (before) and the 4-leaf
/// multi-proof (now) at the deepest tree: `cargo test --release -p
/// masp-proofs -- --ignored --nocapture verification_cost`.
#[test]
#[ignore]
fn verification_cost() {
    let leaf = vec![7u8; LEAF_SIZE];
    let mut levels = vec![hash_leaf(&leaf)];
    for _ in 0..MAX_DEPTH {
        let n = *levels.last().unwrap();
        levels.push(hash_node(&n, &n));
    }
    let root = levels[MAX_DEPTH];
    let leaves_n = 1u64 << MAX_DEPTH;
    let path: Vec<Hash> = levels[..MAX_DEPTH].to_vec();
    let c = challenge_indices(&[9; 32], 1, 1, leaves_n, CHALLENGE_LEAVES);
    let bytes: Vec<u8> = c.as_slice().iter().flat_map(|_| leaf.clone()).collect();
    let mut nodes = Vec::new();
    build_multi_with(
        leaves_n,
        c.as_slice(),
        &bytes,
        |l, _| levels.get(l).copied(),
        |n| nodes.push(n),
    )
    .unwrap();
    let runs = 20_000;
    let t = std::time::Instant::now();
    for i in 0..runs {
        verify(&root, leaves_n, i, &leaf, &path).unwrap();
    }
    let one = t.elapsed().as_nanos() as f64 / runs as f64;
    let t = std::time::Instant::now();
    for _ in 0..runs {
        verify_multi(&root, leaves_n, c.as_slice(), &bytes, &nodes).unwrap();
    }
    let four = t.elapsed().as_nanos() as f64 / runs as f64;
    println!(
        "one leaf, 48 levels: {:.1} us; {} leaves, {} nodes: {:.1} us (x{:.2})",
        one / 1000.0,
        c.len(),
        nodes.len(),
        four / 1000.0,
        four / one
    );
}
