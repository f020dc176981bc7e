//! The storage market and the hosts' insurance deposits.

use frame_support::{parameter_types, traits::tokens::imbalance::ResolveTo, PalletId};
use masp_primitives::time::{DAYS, HOURS};
use sp_runtime::traits::AccountIdConversion;

use crate::{
    AccountId, Balance, Balances, BlockNumber, Deposits, Runtime, RuntimeHoldReason, MILLI_UNIT,
    UNIT,
};

parameter_types! {
    /// Blocks per epoch: one hour at 6 s blocks. A `storage` parameter: a
    /// test network may shorten it with `system.setStorage` (sudo) at the
    /// well-known key `twox128(":EpochLength:")`.
    pub storage EpochLength: BlockNumber = HOURS;
    /// A host backs each GiB it stores with 1 MASP of deposit.
    pub const DepositPerGiB: Balance = UNIT;
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
}

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
    /// Every host passes any rating floor until the rating pallet is wired in.
    type Rating = ();
    type Observer = ();
    type EpochLength = EpochLength;
    type DepositPerGiB = DepositPerGiB;
    type OfferDeposit = BookDeposit;
    type RequestDeposit = BookDeposit;
    type UploadWindow = UploadWindow;
    type RequestTtl = RequestTtl;
    type MaxMatchScan = frame_support::traits::ConstU32<32>;
    type MaxReplicas = frame_support::traits::ConstU32<8>;
    type MaxOffersPerHost = frame_support::traits::ConstU32<16>;
    type MaxEndpointLen = frame_support::traits::ConstU32<256>;
    /// A year of hourly epochs.
    type MaxDuration = frame_support::traits::ConstU32<{ 24 * 366 }>;
    type MaxDuePerBlock = frame_support::traits::ConstU32<32>;
    type WeightInfo = pallet_storage_market::weights::SubstrateWeight<Runtime>;
    #[cfg(feature = "runtime-benchmarks")]
    type BenchmarkHelper = DepositsBenchmarkHelper;
}

/// Gives benchmark hosts a deposit through the deposits pallet.
#[cfg(feature = "runtime-benchmarks")]
pub struct DepositsBenchmarkHelper;
#[cfg(feature = "runtime-benchmarks")]
impl pallet_storage_market::BenchmarkHelper<AccountId> for DepositsBenchmarkHelper {
    fn deposit(host: &AccountId, amount: Balance) {
        let _ = Deposits::deposit(crate::RuntimeOrigin::signed(host.clone()), amount);
    }
}
