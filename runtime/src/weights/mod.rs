//! Weights of upstream pallets measured for this runtime by
//! `scripts/benchmark` (frame-benchmarking v2, the runtime WASM): do not edit
//! the generated files by hand.

pub mod pallet_xcm;
