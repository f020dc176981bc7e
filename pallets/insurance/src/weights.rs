//! Weights for `pallet_insurance`.
//!
//! PLACEHOLDER until `scripts/benchmark pallet_insurance` generates this file
//! from the pallet's frame-benchmarking v2 benchmarks.

#![cfg_attr(rustfmt, rustfmt_skip)]
#![allow(unused_parens)]
#![allow(unused_imports)]
#![allow(missing_docs)]

use frame_support::{traits::Get, weights::{Weight, constants::RocksDbWeight}};
use core::marker::PhantomData;

/// Weight functions needed for `pallet_insurance`.
pub trait WeightInfo {
	fn deposit_capital() -> Weight;
	fn withdraw_capital() -> Weight;
	fn set_offer() -> Weight;
	fn remove_offer() -> Weight;
	fn buy_cover() -> Weight;
	fn collect_premium() -> Weight;
	fn cancel_cover() -> Weight;
	fn claim() -> Weight;
}

impl WeightInfo for () {
	fn deposit_capital() -> Weight { Weight::zero() }
	fn withdraw_capital() -> Weight { Weight::zero() }
	fn set_offer() -> Weight { Weight::zero() }
	fn remove_offer() -> Weight { Weight::zero() }
	fn buy_cover() -> Weight { Weight::zero() }
	fn collect_premium() -> Weight { Weight::zero() }
	fn cancel_cover() -> Weight { Weight::zero() }
	fn claim() -> Weight { Weight::zero() }
}
