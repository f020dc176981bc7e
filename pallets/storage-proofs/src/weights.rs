// PLACEHOLDER: replaced by `scripts/benchmark pallet_storage_proofs` before this pallet lands.
#![allow(missing_docs)]
use core::marker::PhantomData;
use frame_support::weights::Weight;

/// Weight functions needed for `pallet_storage_proofs`.
pub trait WeightInfo {
    fn submit_proofs(n: u32) -> Weight;
    fn report_missed() -> Weight;
    fn process_due(n: u32) -> Weight;
}

pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
    fn submit_proofs(_n: u32) -> Weight {
        Weight::zero()
    }
    fn report_missed() -> Weight {
        Weight::zero()
    }
    fn process_due(_n: u32) -> Weight {
        Weight::zero()
    }
}
impl WeightInfo for () {
    fn submit_proofs(_n: u32) -> Weight {
        Weight::zero()
    }
    fn report_missed() -> Weight {
        Weight::zero()
    }
    fn process_due(_n: u32) -> Weight {
        Weight::zero()
    }
}
