//! Benchmark (frame-benchmarking v2) of the hook in its worst case: a proof
//! carrying the relay parent's randomness, read, decoded and written.

use super::*;
use cumulus_primitives_core::ParaId;
use frame_benchmarking::v2::*;

/// A relay state proof as cumulus' proof builder makes it for para 2000 with
/// `CURRENT_BLOCK_RANDOMNESS = Some([2; 32])` (the builder is std-only, the
/// benchmark runs in the runtime's WASM; `tests::the_benchmark_proof_is_the_builders`
/// checks these bytes against the builder): its state root...
pub const PROOF_ROOT: [u8; 32] =
    hex_literal::hex!("73e9ff02596a477120350210d3e95185a1ab554d864c0bc2daa2590fea0d4052");
/// ...and its trie nodes.
pub const PROOF_NODES: &[&[u8]] = &[
    &hex_literal::hex!("0000200000001000080000000004000000010000050000000500000006000000060000000000000000000000"),
    &hex_literal::hex!("010202020202020202020202020202020202020202020202020202020202020202"),
    &hex_literal::hex!("04def12e42f3e487e9b14095aa8d5cc16a33491f1b50dadcf8811d1480f3fa86270000000000000000"),
    &hex_literal::hex!("3f000077dfdb8adb10f78f10a5df8742c545033eaced55890403025b641595ea81e700d534ea0678339d52f1e65f6e0a78ba"),
    &hex_literal::hex!("3f000acf00b9b41fda7a9268821c2a2b3e4c3f5693c3852899a25d60db0559619a94d7b586d9e462a68d85ce82737e76d9d0"),
    &hex_literal::hex!("3f000e0621c4869aa60c02be9adcc98a0d1d3f5693c3852899a25d60db0559619a94d7b586d9e462a68d85ce82737e76d9d0"),
    &hex_literal::hex!("3f2006de3d8a54d27e44a9d5ce189618f22db4b49d95320d9021994c850f25b8e385ecdbe8cb648f65d6efe835fa1b32fd958c61f45c3f5bfd89bb0cddaec7a167d2"),
    &hex_literal::hex!("5f0ce678799d3eff024253b90e84927cc6800000000000000000000000000000000000000000000000000000000000000000"),
    &hex_literal::hex!("800300801545572750bd3ff4d2f44756e0ac6205ab1e28c2d3de752f519633bfec81edb8800cf83ffe955ced1930a4b3ecda0c9abc8196c80ec6c43b90371933db73f66c6c"),
    &hex_literal::hex!("9f0cb6f36e027abb2091cfb5110ab5087fa924685f06155b3cd9a8c9e5e9a23fd5dc13a5ed200000000000000000685f08316cbf8fa0da822a20ac1c55bf1be320000000000000000080a4c2c78749270da7ae09e1bbbbf6d451a8ffbca93d9b2bdf120be8b32d99f71180fe6ccb254b84f0d2202eb505bddf9f54cb9ebd0fb2719072e92ee57c1da1d80980f0473acb90803da47780053c003e1226f18b5bbb54e6b2cec6f52b2ff78adf4380a03958adc24e1b574d7fb9c0427dc6997044659e23afef370e493ab34e46dc1f"),
];

/// [`PROOF_ROOT`] and [`PROOF_NODES`] as a verified relay state proof.
pub fn bench_proof() -> RelayChainStateProof {
    let proof = sp_trie::StorageProof::new(PROOF_NODES.iter().map(|n| n.to_vec()));
    RelayChainStateProof::new(ParaId::from(2000), H256(PROOF_ROOT), proof)
        .expect("the nodes prove their root")
}

#[benchmarks]
mod benchmarks {
    use super::*;

    #[benchmark]
    fn on_relay_state_proof() {
        Latest::<T>::put(RelayRandomness {
            randomness: H256::repeat_byte(1),
            seen_at: frame_system::Pallet::<T>::block_number(),
        });
        let proof = bench_proof();

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
