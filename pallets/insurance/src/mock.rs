//! A test runtime: frame-system, pallet-balances (MASP with the real
//! existential deposit), the real deposits, market, proofs and rating
//! pallets, with 10-block epochs and parent-hash randomness, and the
//! insurance pallet told about every contract end.

use crate as pallet_insurance;
use frame_support::{
    derive_impl, parameter_types,
    traits::{tokens::imbalance::ResolveTo, ConstU128, ConstU32, ConstU64, Hooks},
};
use masp_primitives::traits::BlockEpochs;
use pallet_storage_market as market;
use sp_runtime::{BuildStorage, Perbill};

pub use market::config_preludes::{REQUEST_TTL, UPLOAD_WINDOW};
pub use masp_primitives::token::{EXISTENTIAL_DEPOSIT, UNIT};

pub type AccountId = u64;
pub type Balance = u128;
type Block = frame_system::mocking::MockBlock<Test>;

#[frame_support::runtime]
mod runtime {
    #[runtime::runtime]
    #[runtime::derive(
        RuntimeCall,
        RuntimeEvent,
        RuntimeError,
        RuntimeOrigin,
        RuntimeFreezeReason,
        RuntimeHoldReason,
        RuntimeSlashReason,
        RuntimeLockId,
        RuntimeTask,
        RuntimeViewFunction
    )]
    pub struct Test;

    #[runtime::pallet_index(0)]
    pub type System = frame_system;
    #[runtime::pallet_index(1)]
    pub type Balances = pallet_balances;
    #[runtime::pallet_index(2)]
    pub type Deposits = pallet_deposits;
    #[runtime::pallet_index(3)]
    pub type Market = pallet_storage_market;
    #[runtime::pallet_index(4)]
    pub type Proofs = pallet_storage_proofs;
    #[runtime::pallet_index(5)]
    pub type Rating = pallet_host_rating;
    #[runtime::pallet_index(6)]
    pub type Insurance = pallet_insurance;
}

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
    type Block = Block;
    type AccountId = AccountId;
    type Lookup = sp_runtime::traits::IdentityLookup<AccountId>;
    type AccountData = pallet_balances::AccountData<Balance>;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
    type Balance = Balance;
    type ExistentialDeposit = ConstU128<EXISTENTIAL_DEPOSIT>;
    type AccountStore = System;
    type RuntimeHoldReason = RuntimeHoldReason;
}

/// Receives slash remainders.
pub const POT: AccountId = 999;

parameter_types! {
    pub const Pot: AccountId = POT;
}

impl pallet_deposits::Config for Test {
    type Currency = Balances;
    type RuntimeHoldReason = RuntimeHoldReason;
    type OnSlash = ResolveTo<Pot, Balances>;
    type MinDeposit = ConstU128<UNIT>;
    type WeightInfo = ();
}

/// Blocks per epoch.
pub const EPOCH: u64 = 10;

#[derive_impl(market::config_preludes::TestDefaultConfig)]
impl market::Config for Test {
    type Currency = Balances;
    type RuntimeHoldReason = RuntimeHoldReason;
    type Deposits = Deposits;
    type Rating = Rating;
    type Observer = (Proofs, (Rating, Insurance));
    type Epochs = BlockEpochs<ConstU64<EPOCH>>;
    type UploadWindow = ConstU64<UPLOAD_WINDOW>;
    type RequestTtl = ConstU64<REQUEST_TTL>;
    #[cfg(feature = "runtime-benchmarks")]
    type BenchmarkHelper = Deposits;
}

/// Consecutive misses that lose the data (the proofs pallet's test default).
pub use pallet_storage_proofs::config_preludes::MAX_MISSES;

#[derive_impl(pallet_storage_proofs::config_preludes::TestDefaultConfig)]
impl pallet_storage_proofs::Config for Test {
    type Contracts = Market;
    type Deposits = Deposits;
    type Randomness = pallet_storage_proofs::ParentHashRandomness<Test>;
    type Observer = Rating;
    type Epochs = BlockEpochs<ConstU64<EPOCH>>;
    #[cfg(feature = "runtime-benchmarks")]
    type BenchmarkHelper = Market;
}

parameter_types! {
    pub const RecentWeight: Perbill = Perbill::from_percent(20);
}

/// Value served for full experience points.
pub const FULL_EXPERIENCE: Balance = 100 * UNIT;

impl pallet_host_rating::Config for Test {
    type RecentWeight = RecentWeight;
    type FullExperienceValue = ConstU128<FULL_EXPERIENCE>;
    type StakePrior = ConstU128<{ UNIT / 1_000 }>;
    type FullAge = ConstU64<1_000>;
    type Epochs = BlockEpochs<ConstU64<EPOCH>>;
    type MaxTop = ConstU32<3>;
    type Deposits = Deposits;
    type Contracts = Market;
}

/// The least capital an insurer holds.
pub const MIN_CAPITAL: Balance = 10 * UNIT;

impl pallet_insurance::Config for Test {
    type Currency = Balances;
    type RuntimeHoldReason = RuntimeHoldReason;
    type Contracts = Market;
    type Deposits = Deposits;
    type Rating = Rating;
    type Epochs = BlockEpochs<ConstU64<EPOCH>>;
    type WaitingEpochs = ConstU32<MAX_MISSES>;
    type MinCapital = ConstU128<MIN_CAPITAL>;
    type WeightInfo = ();
    #[cfg(feature = "runtime-benchmarks")]
    type BenchmarkHelper = Market;
}

/// Hosts 1..=9 and Senders 10..=19 hold this at genesis.
pub const INITIAL: Balance = 1_000_000 * UNIT;
/// Hosts.
pub const H1: AccountId = 1;
pub const H2: AccountId = 2;
pub const H3: AccountId = 3;
/// Senders.
pub const ALICE: AccountId = 10;
pub const BOB: AccountId = 11;
/// Insurers.
pub const INSURER: AccountId = 30;
pub const INSURER2: AccountId = 31;
/// An account with almost nothing.
pub const POOR: AccountId = 20;

pub fn new_test_ext() -> sp_io::TestExternalities {
    let mut storage = frame_system::GenesisConfig::<Test>::default()
        .build_storage()
        .unwrap();
    let mut balances: Vec<(AccountId, Balance)> = (1..=19).map(|a| (a, INITIAL)).collect();
    balances.push((INSURER, INITIAL));
    balances.push((INSURER2, INITIAL));
    balances.push((POT, EXISTENTIAL_DEPOSIT));
    balances.push((POOR, UNIT));
    pallet_balances::GenesisConfig::<Test> {
        balances,
        ..Default::default()
    }
    .assimilate_storage(&mut storage)
    .unwrap();
    let mut ext = sp_io::TestExternalities::new(storage);
    ext.execute_with(|| {
        System::set_block_number(1);
        Proofs::on_initialize(1);
    });
    ext
}

/// Runs `test`, then checks every pallet's invariants (`try_state`) and that
/// no MASP was created or destroyed.
pub fn build_and_execute(test: impl FnOnce()) {
    new_test_ext().execute_with(|| {
        let issuance = pallet_balances::TotalIssuance::<Test>::get();
        test();
        Market::do_try_state().expect("market invariants hold after the test");
        Proofs::do_try_state().expect("proof invariants hold after the test");
        Rating::do_try_state().expect("rating invariants hold after the test");
        Insurance::do_try_state().expect("insurance invariants hold after the test");
        Deposits::do_try_state().expect("deposit invariants hold after the test");
        assert_eq!(
            pallet_balances::TotalIssuance::<Test>::get(),
            issuance,
            "MASP created or destroyed"
        );
    });
}

/// Runs blocks up to `n`, each with a new parent hash and the market's and
/// the proofs pallet's `on_initialize`.
pub fn run_to(n: u64) {
    while System::block_number() < n {
        let next = System::block_number() + 1;
        System::set_block_number(next);
        System::set_parent_hash(sp_core::H256::repeat_byte(next as u8));
        Market::on_initialize(next);
        Proofs::on_initialize(next);
    }
}
