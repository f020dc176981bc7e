//! Weights of upstream pallets measured for this runtime by
//! `scripts/benchmark` (frame-benchmarking v2, the runtime WASM): do not edit
//! the generated files by hand.

pub mod pallet_collective;
pub mod pallet_membership;
pub mod pallet_preimage;
pub mod pallet_utility;
pub mod pallet_whitelist;
pub mod pallet_xcm;
