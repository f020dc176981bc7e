//! The rules: challenge randomness on a relay network is the relay parent's
//! BABE VRF output from the verified state proof; a collator can neither
//! choose it nor fall back to a source it controls.

use crate::{mock::*, Latest, RelayRandomness as Kept, Source};
use frame_support::traits::Randomness;
use sp_core::H256;

type Pallet = crate::Pallet<Test>;

fn r(byte: u8) -> H256 {
    H256::repeat_byte(byte)
}

#[test]
fn before_any_relay_randomness_the_fallback_answers() {
    run(|| {
        assert_eq!(Pallet::source(), Source::Fallback);
        assert_eq!(Pallet::random(b"subject"), ParentHash::random(b"subject"));
    });
}

#[test]
fn the_relay_parents_vrf_output_is_kept_and_answers() {
    run(|| {
        System::set_block_number(5);
        Pallet::note_proof(&proof(Some(r(7))));
        let kept = Kept {
            randomness: r(7),
            seen_at: 5,
        };
        assert_eq!(Latest::<Test>::get(), Some(kept));
        assert_eq!(Pallet::source(), Source::Relay);
        // The answer is the relay value mixed with the subject, seen in
        // block 5, and no longer the parent hash's.
        System::set_block_number(6);
        let (value, known) = Pallet::random(b"masp/seed");
        assert_eq!(value, Pallet::random_of(&kept, b"masp/seed"));
        assert_eq!(known, 5);
        assert_ne!(value, ParentHash::random(b"masp/seed").0);
        // Distinct subjects, distinct answers.
        assert_ne!(value, Pallet::random(b"another").0);
    });
}

#[test]
fn every_block_refreshes_it() {
    run(|| {
        for (block, byte) in [(2, 1), (3, 1), (4, 2)] {
            System::set_block_number(block);
            Pallet::note_proof(&proof(Some(r(byte))));
            assert_eq!(
                Latest::<Test>::get(),
                Some(Kept {
                    randomness: r(byte),
                    seen_at: block
                })
            );
        }
    });
}

#[test]
fn the_answer_is_blake2_of_domain_randomness_and_subject() {
    // The formula the relay network test recomputes from the relay chain's
    // `babe.authorVrfRandomness`.
    use codec::Encode;
    let kept = Kept {
        randomness: r(1),
        seen_at: 0u64,
    };
    let expected = sp_io::hashing::blake2_256(
        &[
            crate::DOMAIN.encode(),
            r(1).encode(),
            b"x".to_vec().encode(),
        ]
        .concat(),
    );
    run(|| assert_eq!(Pallet::random_of(&kept, b"x"), H256(expected)));
}

#[test]
fn a_proof_without_the_key_keeps_the_older_value_marked_old_and_never_falls_back() {
    run(|| {
        System::set_block_number(2);
        Pallet::note_proof(&proof(Some(r(3))));
        // The next author leaves the key's trie nodes out of its proof: the
        // value stays, still marked as seen in block 2 (so a consumer that
        // needs fresh randomness waits), and the fallback (which an author
        // could grind) is not used.
        System::set_block_number(3);
        Pallet::note_proof(&without_randomness());
        assert_eq!(
            Latest::<Test>::get(),
            Some(Kept {
                randomness: r(3),
                seen_at: 2
            })
        );
        assert_eq!(Pallet::source(), Source::Relay);
        assert_eq!(Pallet::random(b"s").1, 2);
    });
}

#[test]
fn the_dev_chains_mocked_proof_has_none_and_the_fallback_answers() {
    run(|| {
        // Cumulus' mock (omni-node's --dev) fills ONE_EPOCH_AGO_RANDOMNESS
        // with the block number, but has no CURRENT_BLOCK_RANDOMNESS.
        Pallet::note_proof(&dev_proof());
        Pallet::note_proof(&proof(None));
        Pallet::note_proof(&without_randomness());
        assert_eq!(Latest::<Test>::get(), None);
        assert_eq!(Pallet::source(), Source::Fallback);
    });
}

#[test]
fn a_proof_not_matching_its_relay_root_is_refused_before_the_pallet_sees_it() {
    // The pallet only ever sees proofs parachain-system verified against the
    // relay parent's storage root: a forged value cannot be built.
    use cumulus_pallet_parachain_system::relay_state_snapshot::RelayChainStateProof;
    use cumulus_primitives_core::ParaId;
    let b = cumulus_test_relay_sproof_builder::RelayStateSproofBuilder::default();
    let (_, proof) = b.into_state_root_and_proof();
    assert!(RelayChainStateProof::new(ParaId::from(PARA), r(0xee), proof).is_err());
}

#[cfg(feature = "runtime-benchmarks")]
#[test]
fn the_benchmark_proof_is_the_builders() {
    use codec::Encode;
    let b = cumulus_test_relay_sproof_builder::RelayStateSproofBuilder {
        para_id: cumulus_primitives_core::ParaId::from(2000),
        additional_key_values: vec![(
            cumulus_primitives_core::relay_chain::well_known_keys::CURRENT_BLOCK_RANDOMNESS
                .to_vec(),
            Some([2u8; 32]).encode(),
        )],
        ..Default::default()
    };
    let (root, proof) = b.into_state_root_and_proof();
    assert_eq!(root.0, crate::benchmarking::PROOF_ROOT);
    let mut built: Vec<Vec<u8>> = proof.into_iter_nodes().collect();
    let mut kept: Vec<Vec<u8>> = crate::benchmarking::PROOF_NODES
        .iter()
        .map(|n| n.to_vec())
        .collect();
    built.sort();
    kept.sort();
    assert_eq!(built, kept);
}
