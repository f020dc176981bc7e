//! Weights for `pallet_relay_randomness`.
//!
//! TEMPORARY until `scripts/benchmark pallet_relay_randomness` regenerates
//! this file from the pallet's frame-benchmarking v2 benchmark.

#![cfg_attr(rustfmt, rustfmt_skip)]
#![allow(unused_parens)]
#![allow(unused_imports)]
#![allow(missing_docs)]

use frame_support::{traits::Get, weights::{Weight, constants::RocksDbWeight}};
use core::marker::PhantomData;

/// Weight functions needed for `pallet_relay_randomness`.
pub trait WeightInfo {
	fn on_relay_state_proof() -> Weight;
}

/// Weights for `pallet_relay_randomness` using the runtime's database weights.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	/// Storage: `RelayRandomness::Latest` (r:1 w:1)
	fn on_relay_state_proof() -> Weight {
		Weight::from_parts(20_000_000, 1561)
			.saturating_add(T::DbWeight::get().reads(1_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
}

// For backwards compatibility and tests.
impl WeightInfo for () {
	fn on_relay_state_proof() -> Weight {
		Weight::from_parts(20_000_000, 1561)
			.saturating_add(RocksDbWeight::get().reads(1_u64))
			.saturating_add(RocksDbWeight::get().writes(1_u64))
	}
}
