//! Weights for `pallet_egress`.
//!
//! Placeholder until `scripts/benchmark pallet_egress` generates this file
//! from the pallet's frame-benchmarking v2 benchmarks.

#![cfg_attr(rustfmt, rustfmt_skip)]
#![allow(unused_parens)]
#![allow(unused_imports)]
#![allow(missing_docs)]

use frame_support::{traits::Get, weights::{Weight, constants::RocksDbWeight}};
use core::marker::PhantomData;

/// Weight functions needed for `pallet_egress`.
pub trait WeightInfo {
	fn set_egress_price() -> Weight;
	fn open_channel() -> Weight;
	fn redeem(n: u32, ) -> Weight;
	fn close_channel() -> Weight;
	fn finish_close() -> Weight;
	fn release_channel() -> Weight;
}

/// Weights for `pallet_egress` using the runtime's database weights.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	fn set_egress_price() -> Weight { Weight::from_parts(20_000_000, 3_600).saturating_add(T::DbWeight::get().reads_writes(1, 1)) }
	fn open_channel() -> Weight { Weight::from_parts(60_000_000, 4_000).saturating_add(T::DbWeight::get().reads_writes(5, 4)) }
	fn redeem(n: u32, ) -> Weight { Weight::from_parts(10_000_000, 3_600).saturating_add(Weight::from_parts(120_000_000, 6_000).saturating_mul(n.into())).saturating_add(T::DbWeight::get().reads_writes(1, 0)).saturating_add(T::DbWeight::get().reads_writes(4, 4).saturating_mul(n.into())) }
	fn close_channel() -> Weight { Weight::from_parts(20_000_000, 3_600).saturating_add(T::DbWeight::get().reads_writes(1, 1)) }
	fn finish_close() -> Weight { Weight::from_parts(60_000_000, 4_000).saturating_add(T::DbWeight::get().reads_writes(3, 3)) }
	fn release_channel() -> Weight { Weight::from_parts(60_000_000, 4_000).saturating_add(T::DbWeight::get().reads_writes(3, 3)) }
}

// For backwards compatibility and tests.
impl WeightInfo for () {
	fn set_egress_price() -> Weight { Weight::from_parts(20_000_000, 3_600).saturating_add(RocksDbWeight::get().reads_writes(1, 1)) }
	fn open_channel() -> Weight { Weight::from_parts(60_000_000, 4_000).saturating_add(RocksDbWeight::get().reads_writes(5, 4)) }
	fn redeem(n: u32, ) -> Weight { Weight::from_parts(10_000_000, 3_600).saturating_add(Weight::from_parts(120_000_000, 6_000).saturating_mul(n.into())).saturating_add(RocksDbWeight::get().reads_writes(4, 4).saturating_mul(n.into())) }
	fn close_channel() -> Weight { Weight::from_parts(20_000_000, 3_600).saturating_add(RocksDbWeight::get().reads_writes(1, 1)) }
	fn finish_close() -> Weight { Weight::from_parts(60_000_000, 4_000).saturating_add(RocksDbWeight::get().reads_writes(3, 3)) }
	fn release_channel() -> Weight { Weight::from_parts(60_000_000, 4_000).saturating_add(RocksDbWeight::get().reads_writes(3, 3)) }
}
