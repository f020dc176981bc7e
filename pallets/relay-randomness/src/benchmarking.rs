//! Benchmark (frame-benchmarking v2) of the hook in its worst case: a proof
//! carrying the relay parent's randomness, read, decoded and written.

use super::*;
use cumulus_primitives_core::ParaId;
use cumulus_test_relay_sproof_builder::RelayStateSproofBuilder;
use frame_benchmarking::v2::*;

#[benchmarks]
mod benchmarks {
    use super::*;

    #[benchmark]
    fn on_relay_state_proof() {
        Latest::<T>::put(RelayRandomness {
            randomness: H256::repeat_byte(1),
            seen_at: frame_system::Pallet::<T>::block_number(),
        });
        let b = RelayStateSproofBuilder {
            para_id: ParaId::from(2000),
            additional_key_values: alloc::vec![(
                cumulus_primitives_core::relay_chain::well_known_keys::CURRENT_BLOCK_RANDOMNESS
                    .to_vec(),
                Some([2u8; 32]).encode(),
            )],
            ..Default::default()
        };
        let (root, proof) = b.into_state_root_and_proof();
        let proof = RelayChainStateProof::new(ParaId::from(2000), root, proof)
            .expect("the builder's proof matches its root");

        #[block]
        {
            Pallet::<T>::note_proof(&proof);
        }

        assert_eq!(
            Latest::<T>::get().map(|l| l.randomness),
            Some(H256::repeat_byte(2))
        );
    }

    impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
