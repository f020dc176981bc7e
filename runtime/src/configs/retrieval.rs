//! Retrieval challenges: a downloader a host refuses makes it publish a
//! piece of the file on chain, or be slashed.

use frame_support::{parameter_types, traits::ConstU32};
use masp_primitives::time::HOURS;
use sp_runtime::Perbill;

use crate::{
    Balance, Balances, BlockNumber, Deposits, HostRating, Listings, Runtime, RuntimeHoldReason,
    StorageMarket, UNIT,
};

parameter_types! {
    /// What opening a challenge holds: pays for its record (~150 bytes) and
    /// makes a needless challenge cost its opener (see `AnswerReward`).
    pub const ChallengeDeposit: Balance = UNIT;
    /// An answering host earns 10% of the deposit (0.1 MASP): the price of
    /// a challenge that was not needed.
    pub const AnswerReward: Perbill = Perbill::from_percent(10);
    /// An unanswered challenge costs the host 5% of the deposit backing the
    /// contract, paid to the challenger (a missed proof costs 1%, doubling:
    /// refusing a paying downloader is not an accident).
    pub const FailSlash: Perbill = Perbill::from_percent(5);
    /// A host has an hour to answer. A `storage` parameter: a test network
    /// may shorten it with `system.setStorage` (sudo) at the well-known key
    /// `twox128(":RetrievalPeriod:")`.
    pub storage RetrievalPeriod: BlockNumber = HOURS;
}

impl pallet_retrieval::Config for Runtime {
    type Currency = Balances;
    type RuntimeHoldReason = RuntimeHoldReason;
    type Contracts = StorageMarket;
    type Deposits = Deposits;
    /// Buyers and public readers of a listing that names the contract.
    type Access = Listings;
    /// Answers and failures move the host's rating (its availability part).
    type Observer = HostRating;
    type ChallengeDeposit = ChallengeDeposit;
    type AnswerReward = AnswerReward;
    type FailSlash = FailSlash;
    type ResponsePeriod = RetrievalPeriod;
    type MaxOpenPerContract = ConstU32<4>;
    type WeightInfo = pallet_retrieval::weights::SubstrateWeight<Runtime>;
    #[cfg(feature = "runtime-benchmarks")]
    type BenchmarkHelper = crate::configs::market::MarketBenchmarkHelper;
}

/// Contracts over any tree, and a buyer's settled purchase of a listing of
/// a contract, for the retrieval benchmarks.
#[cfg(feature = "runtime-benchmarks")]
impl pallet_retrieval::BenchmarkHelper<crate::AccountId>
    for crate::configs::market::MarketBenchmarkHelper
{
    fn confirmed_contract(
        host: &crate::AccountId,
        sender: &crate::AccountId,
        merkle_root: [u8; 32],
        leaf_count: u64,
    ) -> u64 {
        <crate::StorageMarket as masp_primitives::traits::BenchmarkContracts<crate::AccountId>>::confirmed_contract(
            host,
            sender,
            merkle_root,
            leaf_count,
        )
        // An id no contract has if the market refused: the benchmark then
        // fails on it with the retrieval pallet's own error.
        .map_or(u64::MAX, |(id, _)| id)
    }

    fn grant_access(sender: &crate::AccountId, reader: &crate::AccountId, contract: u64) -> u64 {
        use codec::Decode;
        use sp_runtime::traits::TrailingZeroInput;
        let listing = pallet_listings::NextListingId::<Runtime>::get();
        let terms = pallet_listings::ListingTerms {
            price: UNIT,
            open_key: None,
            to: None,
            expires: None,
            max_buyers: None,
        };
        let _ = Listings::share(
            crate::RuntimeOrigin::signed(sender.clone()),
            alloc::vec![contract].try_into().unwrap_or_default(),
            1,
            [1; 32],
            [2; 32],
            terms,
            Default::default(),
        );
        // A buyer whose purchase is paid for: the costliest access check
        // (the listing, then the purchase).
        let sealed = Decode::decode(&mut TrailingZeroInput::zeroes()).expect("zeroes decode");
        pallet_listings::Purchases::<Runtime>::insert(
            listing,
            reader,
            pallet_listings::Purchase {
                escrow: 0,
                deposit: 0,
                recipient: [3; 32],
                state: pallet_listings::PurchaseState::Settled { sealed },
            },
        );
        listing
    }
}
