//! Weights for `pallet_token_sale`.
//!
//! NOT YET GENERATED. These are upper-bound estimates from the storage each
//! call touches (reads/writes at RocksDB cost plus a flat compute term) until
//! `scripts/benchmark` regenerates this file from the pallet's
//! frame-benchmarking v2 benchmarks (`benchmarking.rs`). Issue #4 stays open
//! until it does.

#![allow(unused_parens)]
#![allow(unused_imports)]
#![allow(missing_docs)]

use core::marker::PhantomData;
use frame_support::{
	traits::Get,
	weights::{constants::RocksDbWeight, Weight},
};

/// Weight functions needed for `pallet_token_sale`.
pub trait WeightInfo {
	fn schedule_sale() -> Weight;
	fn attest_contribution() -> Weight;
	fn finalize() -> Weight;
	fn claim() -> Weight;
	fn mark_refunded() -> Weight;
}

/// Weights for `pallet_token_sale` using the runtime's database weights.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	fn schedule_sale() -> Weight {
		Weight::from_parts(20_000_000, 1_500).saturating_add(T::DbWeight::get().reads_writes(1, 1))
	}
	fn attest_contribution() -> Weight {
		Weight::from_parts(60_000_000, 4_000).saturating_add(T::DbWeight::get().reads_writes(8, 8))
	}
	fn finalize() -> Weight {
		Weight::from_parts(25_000_000, 2_000).saturating_add(T::DbWeight::get().reads_writes(5, 1))
	}
	fn claim() -> Weight {
		Weight::from_parts(70_000_000, 4_000).saturating_add(T::DbWeight::get().reads_writes(6, 5))
	}
	fn mark_refunded() -> Weight {
		Weight::from_parts(45_000_000, 4_000).saturating_add(T::DbWeight::get().reads_writes(5, 4))
	}
}

/// For tests.
impl WeightInfo for () {
	fn schedule_sale() -> Weight {
		Weight::from_parts(20_000_000, 1_500).saturating_add(RocksDbWeight::get().reads_writes(1, 1))
	}
	fn attest_contribution() -> Weight {
		Weight::from_parts(60_000_000, 4_000).saturating_add(RocksDbWeight::get().reads_writes(8, 8))
	}
	fn finalize() -> Weight {
		Weight::from_parts(25_000_000, 2_000).saturating_add(RocksDbWeight::get().reads_writes(5, 1))
	}
	fn claim() -> Weight {
		Weight::from_parts(70_000_000, 4_000).saturating_add(RocksDbWeight::get().reads_writes(6, 5))
	}
	fn mark_refunded() -> Weight {
		Weight::from_parts(45_000_000, 4_000).saturating_add(RocksDbWeight::get().reads_writes(5, 4))
	}
}
