// PLACEHOLDER: replaced by `scripts/benchmark pallet_storage_market` before this pallet lands.
#![allow(missing_docs)]
use core::marker::PhantomData;
use frame_support::weights::Weight;

/// Weight functions needed for `pallet_storage_market`.
pub trait WeightInfo {
    fn register_host() -> Weight;
    fn update_host() -> Weight;
    fn unregister_host(o: u32) -> Weight;
    fn post_offer(s: u32) -> Weight;
    fn update_offer(s: u32) -> Weight;
    fn cancel_offer() -> Weight;
    fn place_request(s: u32, r: u32) -> Weight;
    fn place_request_deep_book(b: u32) -> Weight;
    fn cancel_request() -> Weight;
    fn confirm_stored() -> Weight;
    fn cancel_contract() -> Weight;
    fn process_due(n: u32) -> Weight;
    fn pay_epoch() -> Weight;
}

pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
    fn register_host() -> Weight {
        Weight::zero()
    }
    fn update_host() -> Weight {
        Weight::zero()
    }
    fn unregister_host(_o: u32) -> Weight {
        Weight::zero()
    }
    fn post_offer(_s: u32) -> Weight {
        Weight::zero()
    }
    fn update_offer(_s: u32) -> Weight {
        Weight::zero()
    }
    fn cancel_offer() -> Weight {
        Weight::zero()
    }
    fn place_request(_s: u32, _r: u32) -> Weight {
        Weight::zero()
    }
    fn place_request_deep_book(_b: u32) -> Weight {
        Weight::zero()
    }
    fn cancel_request() -> Weight {
        Weight::zero()
    }
    fn confirm_stored() -> Weight {
        Weight::zero()
    }
    fn cancel_contract() -> Weight {
        Weight::zero()
    }
    fn process_due(_n: u32) -> Weight {
        Weight::zero()
    }
    fn pay_epoch() -> Weight {
        Weight::zero()
    }
}
impl WeightInfo for () {
    fn register_host() -> Weight {
        Weight::zero()
    }
    fn update_host() -> Weight {
        Weight::zero()
    }
    fn unregister_host(_o: u32) -> Weight {
        Weight::zero()
    }
    fn post_offer(_s: u32) -> Weight {
        Weight::zero()
    }
    fn update_offer(_s: u32) -> Weight {
        Weight::zero()
    }
    fn cancel_offer() -> Weight {
        Weight::zero()
    }
    fn place_request(_s: u32, _r: u32) -> Weight {
        Weight::zero()
    }
    fn place_request_deep_book(_b: u32) -> Weight {
        Weight::zero()
    }
    fn cancel_request() -> Weight {
        Weight::zero()
    }
    fn confirm_stored() -> Weight {
        Weight::zero()
    }
    fn cancel_contract() -> Weight {
        Weight::zero()
    }
    fn process_due(_n: u32) -> Weight {
        Weight::zero()
    }
    fn pay_epoch() -> Weight {
        Weight::zero()
    }
}
