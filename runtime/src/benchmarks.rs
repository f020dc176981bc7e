//! The runtime's benchmarks (frame-benchmarking v2), run by `scripts/benchmark`
//! to generate each MASP pallet's `weights.rs`.

frame_benchmarking::define_benchmarks!(
    [pallet_token_sale, TokenSale]
    [pallet_deposits, Deposits]
    [pallet_storage_market, StorageMarket]
    [pallet_storage_proofs, StorageProofs]
    [pallet_insurance, Insurance]
);
