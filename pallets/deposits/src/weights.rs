// PLACEHOLDER: replaced by `scripts/benchmark pallet_deposits` before this pallet lands.
#![allow(missing_docs)]
use core::marker::PhantomData;
use frame_support::weights::Weight;

/// Weight functions needed for `pallet_deposits`.
pub trait WeightInfo {
    fn deposit() -> Weight;
    fn withdraw() -> Weight;
    fn slash() -> Weight;
}

pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
    fn deposit() -> Weight {
        Weight::zero()
    }
    fn withdraw() -> Weight {
        Weight::zero()
    }
    fn slash() -> Weight {
        Weight::zero()
    }
}
impl WeightInfo for () {
    fn deposit() -> Weight {
        Weight::zero()
    }
    fn withdraw() -> Weight {
        Weight::zero()
    }
    fn slash() -> Weight {
        Weight::zero()
    }
}
