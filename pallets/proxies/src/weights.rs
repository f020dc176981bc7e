//! PLACEHOLDER until `scripts/benchmark pallet_proxies` generates this
//! file: the interface only, every weight zero. Not for a runtime.

#![allow(missing_docs)]

use core::marker::PhantomData;
use frame_support::weights::Weight;

/// Weight functions needed for `pallet_proxies`.
pub trait WeightInfo {
    fn register() -> Weight;
    fn update() -> Weight;
    fn deregister() -> Weight;
    fn withdraw() -> Weight;
    fn slash() -> Weight;
    fn report_failure() -> Weight;
    fn forget_session() -> Weight;
}

/// Weights for `pallet_proxies` using the runtime's database weights.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
    fn register() -> Weight {
        Weight::zero()
    }
    fn update() -> Weight {
        Weight::zero()
    }
    fn deregister() -> Weight {
        Weight::zero()
    }
    fn withdraw() -> Weight {
        Weight::zero()
    }
    fn slash() -> Weight {
        Weight::zero()
    }
    fn report_failure() -> Weight {
        Weight::zero()
    }
    fn forget_session() -> Weight {
        Weight::zero()
    }
}

impl WeightInfo for () {
    fn register() -> Weight {
        Weight::zero()
    }
    fn update() -> Weight {
        Weight::zero()
    }
    fn deregister() -> Weight {
        Weight::zero()
    }
    fn withdraw() -> Weight {
        Weight::zero()
    }
    fn slash() -> Weight {
        Weight::zero()
    }
    fn report_failure() -> Weight {
        Weight::zero()
    }
    fn forget_session() -> Weight {
        Weight::zero()
    }
}
