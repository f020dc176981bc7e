//! The format's rules, a reference implementation to compare against, and
//! fixed test vectors: any change of format breaks a test here.

use super::*;
use crate::{FileTree, Proof};
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
