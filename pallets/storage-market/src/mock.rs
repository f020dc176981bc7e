//! A test runtime: frame-system, pallet-balances (MASP with the real
//! existential deposit), the real deposits pallet and the market, with
//! 10-block epochs and a rating table the tests can set.

use crate as pallet_storage_market;
use core::cell::RefCell;
use frame_support::{
    derive_impl, parameter_types,
    traits::{tokens::imbalance::ResolveTo, ConstU128, ConstU64, Hooks},
};
use masp_primitives::{
    market::{Rating, RATING_MAX},
    traits::{BlockEpochs, HostRatingProvider},
};
use sp_runtime::BuildStorage;
use std::collections::BTreeMap;

pub use masp_primitives::market::GIB;
pub use masp_primitives::token::{EXISTENTIAL_DEPOSIT, UNIT};
pub use pallet_storage_market::config_preludes::{
    BOOK_DEPOSIT, DEPOSIT_PER_GIB, MAX_DUE, MAX_REPLICAS, MAX_SCAN, REQUEST_TTL, UPLOAD_WINDOW,
};

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

thread_local! {
    static RATINGS: RefCell<BTreeMap<AccountId, Rating>> = const { RefCell::new(BTreeMap::new()) };
    static DEFAULT_RATING: RefCell<Rating> = const { RefCell::new(RATING_MAX) };
}

/// Ratings the tests set; unset hosts have the default rating (the best,
/// unless a test lowers it).
pub struct TestRatings;
impl HostRatingProvider<AccountId> for TestRatings {
    fn rating(host: &AccountId) -> Rating {
        RATINGS.with(|r| {
            r.borrow()
                .get(host)
                .copied()
                .unwrap_or_else(|| DEFAULT_RATING.with(|d| *d.borrow()))
        })
    }

    fn best_rating() -> Rating {
        let default = DEFAULT_RATING.with(|d| *d.borrow());
        RATINGS.with(|r| r.borrow().values().copied().fold(default, Rating::max))
    }
}

/// Sets the rating of every host without one of its own.
pub fn set_default_rating(rating: Rating) {
    DEFAULT_RATING.with(|d| *d.borrow_mut() = rating);
}

/// Sets `host`'s rating.
pub fn set_rating(host: AccountId, rating: Rating) {
    RATINGS.with(|r| r.borrow_mut().insert(host, rating));
}

/// Blocks per epoch.
pub const EPOCH: u64 = 10;
/// The smallest contract billed: one 1 MiB chunk.
pub const MIN_CONTRACT: u64 = 1 << 20;

#[derive_impl(pallet_storage_market::config_preludes::TestDefaultConfig)]
impl pallet_storage_market::Config for Test {
    type Currency = Balances;
    type RuntimeHoldReason = RuntimeHoldReason;
    type Deposits = Deposits;
    type Rating = TestRatings;
    type Observer = ();
    type Epochs = BlockEpochs<ConstU64<EPOCH>>;
    type MinContractSize = ConstU64<MIN_CONTRACT>;
    type UploadWindow = ConstU64<UPLOAD_WINDOW>;
    type RequestTtl = ConstU64<REQUEST_TTL>;
    #[cfg(feature = "runtime-benchmarks")]
    type BenchmarkHelper = Deposits;
}

/// Hosts 1..=9 and Senders 10..=19 hold this at genesis.
pub const INITIAL: Balance = 1_000_000 * UNIT;
/// Hosts.
pub const H1: AccountId = 1;
pub const H2: AccountId = 2;
pub const H3: AccountId = 3;
pub const H4: AccountId = 4;
/// Senders.
pub const ALICE: AccountId = 10;
pub const BOB: AccountId = 11;
/// An account with almost nothing.
pub const POOR: AccountId = 20;

pub fn new_test_ext() -> sp_io::TestExternalities {
    let mut storage = frame_system::GenesisConfig::<Test>::default()
        .build_storage()
        .unwrap();
    let mut balances: Vec<(AccountId, Balance)> = (1..=19).map(|a| (a, INITIAL)).collect();
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
        RATINGS.with(|r| r.borrow_mut().clear());
        DEFAULT_RATING.with(|d| *d.borrow_mut() = RATING_MAX);
        System::set_block_number(1);
    });
    ext
}

/// Runs `test`, then checks both pallets' invariants (`try_state`) and that
/// no MASP was created or destroyed.
pub fn build_and_execute(test: impl FnOnce()) {
    new_test_ext().execute_with(|| {
        let issuance = pallet_balances::TotalIssuance::<Test>::get();
        test();
        Market::do_try_state().expect("market invariants hold after the test");
        Deposits::do_try_state().expect("deposit invariants hold after the test");
        assert_eq!(
            pallet_balances::TotalIssuance::<Test>::get(),
            issuance,
            "MASP created or destroyed"
        );
    });
}

/// Runs blocks up to `n`, each with the market's `on_initialize`.
pub fn run_to(n: u64) {
    while System::block_number() < n {
        let next = System::block_number() + 1;
        System::set_block_number(next);
        Market::on_initialize(next);
    }
}
