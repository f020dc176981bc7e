//! The storage market, the hosts' insurance deposits, the storage proofs, the
//! host rating and the insurers.

use frame_support::{
    parameter_types,
    traits::{tokens::imbalance::ResolveTo, ConstU32},
    PalletId,
};
use masp_primitives::{
    time::{DAYS, HOURS},
    traits::BlockEpochs,
};
use sp_runtime::{traits::AccountIdConversion, Perbill};

use crate::{
    AccountId, Balance, Balances, BlockNumber, Deposits, HostRating, Insurance, Runtime,
    RuntimeHoldReason, StorageMarket, StorageProofs, MILLI_UNIT, UNIT,
};

parameter_types! {
    /// Blocks per epoch: one hour at 6 s blocks. A `storage` parameter: a
    /// test network may shorten it with `system.setStorage` (sudo) at the
    /// well-known key `twox128(":EpochLength:")`.
    pub storage EpochLength: BlockNumber = HOURS;
    /// A host backs each GiB it stores with 1 MASP of deposit.
    pub const DepositPerGiB: Balance = UNIT;
    /// The smallest contract billed: one 1 MiB chunk (the client's upload
    /// unit). A smaller file is priced, backed by host deposit and counted
    /// against capacity as 1 MiB: its proofs and state cost the same.
    pub const MinContractSize: u64 = 1 << 20;
    /// Storage deposit of a resting offer or request (about 200 bytes of state).
    pub const BookDeposit: Balance = 100 * MILLI_UNIT;
    /// The smallest addition to a host's deposit.
    pub const MinHostDeposit: Balance = UNIT;
    /// A host has 2 hours after a match to confirm it stores the data.
    pub const UploadWindow: BlockNumber = 2 * HOURS;
    /// An unmatched request rests in the book for a day.
    pub const RequestTtl: BlockNumber = DAYS;
    /// The account that receives the part of a slash not paid to the
    /// victim (nothing is burned: MASP's supply is fixed after the ICO).
    pub const SlashPotId: PalletId = PalletId(*b"masp/slh");
    pub SlashPot: AccountId = SlashPotId::get().into_account_truncating();
    /// The first missed proof in a row costs 1% of the deposit backing the
    /// contract; each further one in a row doubles it (2%, 4%, ...).
    pub const FirstMissSlash: Perbill = Perbill::from_percent(1);
    /// Each epoch, the stake of older proof outcomes loses 5% of its weight
    /// in a host's reliability (the newest epoch weighs most).
    pub const RecentWeight: Perbill = Perbill::from_percent(5);
    /// The stake a host's rating record must outweigh: 10 MASP of deposit
    /// (10 GiB backed). A `storage` parameter: a test network storing a few
    /// KiB may lower it with `system.setStorage` (sudo) at the well-known key
    /// `twox128(":RatingStakePrior:")`.
    pub storage RatingStakePrior: Balance = 10 * UNIT;
}

/// The market's one clock, given to the market, proofs, rating and insurance
/// pallets alike: epochs of [`EpochLength`] blocks (so changing that
/// parameter moves every pallet's epoch at once).
pub type Epochs = BlockEpochs<EpochLength>;

impl pallet_deposits::Config for Runtime {
    type Currency = Balances;
    type RuntimeHoldReason = RuntimeHoldReason;
    type OnSlash = ResolveTo<SlashPot, Balances>;
    type MinDeposit = MinHostDeposit;
    type WeightInfo = pallet_deposits::weights::SubstrateWeight<Runtime>;
}

impl pallet_storage_market::Config for Runtime {
    type Currency = Balances;
    type RuntimeHoldReason = RuntimeHoldReason;
    type Deposits = Deposits;
    /// `min_rating` is checked against the host rating pallet.
    type Rating = HostRating;
    /// The proofs pallet schedules the first deadline of each confirmed
    /// contract; the rating counts completed and lost contracts; insurance
    /// settles premiums and pays claims.
    type Observer = (StorageProofs, (HostRating, Insurance));
    type Epochs = Epochs;
    type DepositPerGiB = DepositPerGiB;
    type MinContractSize = MinContractSize;
    type OfferDeposit = BookDeposit;
    type RequestDeposit = BookDeposit;
    type UploadWindow = UploadWindow;
    type RequestTtl = RequestTtl;
    type MaxMatchScan = ConstU32<32>;
    type MaxReplicas = ConstU32<16>;
    type MaxOffersPerHost = ConstU32<16>;
    type MaxEndpointLen = ConstU32<256>;
    /// A year of hourly epochs.
    type MaxDuration = ConstU32<{ 24 * 366 }>;
    type MaxDuePerBlock = ConstU32<32>;
    type WeightInfo = pallet_storage_market::weights::SubstrateWeight<Runtime>;
    /// Benchmark hosts deposit through the deposits pallet.
    #[cfg(feature = "runtime-benchmarks")]
    type BenchmarkHelper = Deposits;
}

impl pallet_storage_proofs::Config for Runtime {
    type Contracts = StorageMarket;
    type Deposits = Deposits;
    /// The relay parent's BABE VRF output from the relay state proof; the
    /// parent hash only before any was seen (the dev chain).
    type Randomness = crate::RelayRandomness;
    /// Every proof passed or missed moves the host's rating.
    type Observer = HostRating;
    type Epochs = Epochs;
    /// 32 proofs of at most 8 KiB (4 challenged 512-byte leaves + at most
    /// 4 x 48 hashes; ~6 KiB at 1 TiB): 256 KiB of call data, well inside a
    /// block's 5 MiB and the 10 MiB PoV.
    type MaxProofsPerCall = ConstU32<32>;
    type FirstMissSlash = FirstMissSlash;
    /// Six hours of missed proofs in a row and the data counts as lost.
    type MaxConsecutiveMisses = ConstU32<MAX_CONSECUTIVE_MISSES>;
    /// Every confirmed contract has one deadline per epoch: 512 per block x
    /// 600 blocks settles 307,200 contracts per epoch, at most ~100 ms of a
    /// block (190 us per worst-case settlement, all of them last misses).
    type MaxDuePerBlock = ConstU32<512>;
    type WeightInfo = pallet_storage_proofs::weights::SubstrateWeight<Runtime>;
    /// Benchmark contracts are made through the market's own calls.
    #[cfg(feature = "runtime-benchmarks")]
    type BenchmarkHelper = StorageMarket;
}

/// Contracts made through the market for the listings' and retrieval's
/// benchmarks (their helpers: `configs/listings.rs`, `configs/retrieval.rs`).
#[cfg(feature = "runtime-benchmarks")]
pub struct MarketBenchmarkHelper;

impl pallet_host_rating::Config for Runtime {
    type RecentWeight = RecentWeight;
    /// 50,000 MASP-epochs of host deposit behind proven epochs (e.g. 25 GiB
    /// backed for 90 days): full experience. What Senders pay is not counted.
    type FullExperienceValue = frame_support::traits::ConstU128<{ 50_000 * UNIT }>;
    type StakePrior = RatingStakePrior;
    type Epochs = Epochs;
    /// A contract's stake is the deposit backing it.
    type Deposits = Deposits;
    type Contracts = StorageMarket;
    /// 90 days: full age.
    type FullAge = ConstU32<{ 90 * masp_primitives::time::DAYS }>;
    type MaxTop = ConstU32<100>;
}

/// Consecutive missed proofs after which data counts as lost.
pub const MAX_CONSECUTIVE_MISSES: u32 = 6;

impl pallet_insurance::Config for Runtime {
    type Currency = Balances;
    type RuntimeHoldReason = RuntimeHoldReason;
    type Contracts = StorageMarket;
    type Deposits = Deposits;
    /// An offer's `min_rating` is checked against the host rating.
    type Rating = HostRating;
    type Epochs = Epochs;
    /// Cover bought during a term starts after the next epoch plus as many
    /// epochs as it takes to lose data: a loss it pays for began after it
    /// was bought.
    type WaitingEpochs = ConstU32<MAX_CONSECUTIVE_MISSES>;
    /// 100 MASP: the least capital an insurer holds.
    type MinCapital = frame_support::traits::ConstU128<{ 100 * UNIT }>;
    type WeightInfo = pallet_insurance::weights::SubstrateWeight<Runtime>;
    /// Benchmark contracts are made through the market's own calls.
    #[cfg(feature = "runtime-benchmarks")]
    type BenchmarkHelper = StorageMarket;
}
