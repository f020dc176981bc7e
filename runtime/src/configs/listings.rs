//! Content distribution: Senders' listings, purchases and sealed keys.

use frame_support::{parameter_types, traits::ConstU32};
use masp_primitives::time::DAYS;

use crate::{
    Balance, Balances, BlockNumber, Runtime, RuntimeHoldReason, StorageMarket, MILLI_UNIT,
};

parameter_types! {
    /// Storage deposit of a listing (about 1.4 KiB of state at most: 32
    /// contracts and a 256-byte description). Returned when it goes.
    pub const ListingDeposit: Balance = 100 * MILLI_UNIT;
    /// Storage deposit of a purchase record (about 200 bytes).
    pub const PurchaseDeposit: Balance = 10 * MILLI_UNIT;
    /// A Sender's agent has a day to deliver a bought key. A `storage`
    /// parameter: a test network may shorten it with `system.setStorage`
    /// (sudo) at the well-known key `twox128(":ListingKeyDeadline:")`.
    pub storage ListingKeyDeadline: BlockNumber = DAYS;
    /// A buyer has two days after a delivery to show the key is wrong; the
    /// Sender is paid after them. Well-known key
    /// `twox128(":ListingDisputePeriod:")`.
    pub storage ListingDisputePeriod: BlockNumber = 2 * DAYS;
}

impl pallet_listings::Config for Runtime {
    type Currency = Balances;
    type RuntimeHoldReason = RuntimeHoldReason;
    type Contracts = StorageMarket;
    /// A file's replicas or erasure-coded shards.
    type MaxContracts = ConstU32<32>;
    type MaxMeta = ConstU32<256>;
    type ListingDeposit = ListingDeposit;
    type PurchaseDeposit = PurchaseDeposit;
    type KeyDeadline = ListingKeyDeadline;
    type DisputePeriod = ListingDisputePeriod;
    /// Each due item looks at up to 32 contracts (about 86 KB of proof):
    /// 16 per block keep the hook under 1.4 MB and 3 ms; a backlog is
    /// settled by anyone with `settle`.
    type MaxDuePerBlock = ConstU32<16>;
    type WeightInfo = pallet_listings::weights::SubstrateWeight<Runtime>;
    #[cfg(feature = "runtime-benchmarks")]
    type BenchmarkHelper = crate::configs::market::MarketBenchmarkHelper;
}

/// Live market contracts for the listings benchmarks: 1 MiB each, stored by
/// one host.
#[cfg(feature = "runtime-benchmarks")]
impl pallet_listings::BenchmarkHelper<crate::AccountId>
    for crate::configs::market::MarketBenchmarkHelper
{
    fn contract(sender: &crate::AccountId, _n: u32) -> u64 {
        let host: crate::AccountId = frame_benchmarking::account("listing-host", 0, 0);
        <StorageMarket as masp_primitives::traits::BenchmarkContracts<crate::AccountId>>::confirmed_contract(
            &host, sender, // One file: every replica stores the same ciphertext.
            [7; 32], 2048,
        )
        // An id no contract has if the market refused: the benchmark then
        // fails on it with the listings pallet's own error.
        .map_or(u64::MAX, |(id, _)| id)
    }

    fn end(contract: u64) {
        if let Some(c) = pallet_storage_market::Contracts::<Runtime>::get(contract) {
            let _ =
                StorageMarket::cancel_contract(crate::RuntimeOrigin::signed(c.sender), contract);
        }
    }
}
