//! A test runtime: frame-system, pallet-balances (MASP with the real
//! existential deposit), the real deposits and market pallets and the proofs
//! pallet, with 10-block epochs and parent-hash randomness.

use crate as pallet_storage_proofs;
use frame_support::{
    derive_impl, parameter_types,
    traits::{tokens::imbalance::ResolveTo, ConstU128, ConstU64, Hooks},
};
use masp_primitives::traits::BlockEpochs;
use pallet_storage_market as market;
use sp_runtime::BuildStorage;

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

parameter_types! {
    /// Blocks per epoch for both pallets: [`EPOCH`], or what a test sets
    /// (before any contract) to exercise the proof window of long epochs.
    pub storage EpochLen: u64 = EPOCH;
}

#[derive_impl(market::config_preludes::TestDefaultConfig)]
impl market::Config for Test {
    type Currency = Balances;
    type RuntimeHoldReason = RuntimeHoldReason;
    type Deposits = Deposits;
    type Rating = ();
    type Observer = Proofs;
    type Epochs = BlockEpochs<EpochLen>;
    type UploadWindow = ConstU64<UPLOAD_WINDOW>;
    type RequestTtl = ConstU64<REQUEST_TTL>;
    #[cfg(feature = "runtime-benchmarks")]
    type BenchmarkHelper = Deposits;
}

/// Consecutive misses that lose the data, and checks per block (the
/// pallet's test defaults).
pub use pallet_storage_proofs::config_preludes::{MAX_DUE, MAX_MISSES};

#[derive_impl(pallet_storage_proofs::config_preludes::TestDefaultConfig)]
impl pallet_storage_proofs::Config for Test {
    type Contracts = Market;
    type Deposits = Deposits;
    type Randomness = MockRandomness;
    type Observer = ();
    type Epochs = BlockEpochs<EpochLen>;
    #[cfg(feature = "runtime-benchmarks")]
    type BenchmarkHelper = Market;
}

thread_local! {
    /// When set, the randomness source answers as if last refreshed at
    /// genesis (a block author withheld the relay randomness).
    pub static STALE_RANDOMNESS: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// The parent-hash source, or a stale answer while [`STALE_RANDOMNESS`] is set.
pub struct MockRandomness;

impl frame_support::traits::Randomness<sp_core::H256, u64> for MockRandomness {
    fn random(subject: &[u8]) -> (sp_core::H256, u64) {
        let (r, known) = pallet_storage_proofs::ParentHashRandomness::<Test>::random(subject);
        if STALE_RANDOMNESS.with(|s| s.get()) {
            (r, 0)
        } else {
            (r, known)
        }
    }
}

/// Hosts 1..=9 and Senders 10..=19 hold this at genesis.
pub const INITIAL: Balance = 1_000_000 * UNIT;
/// Hosts.
pub const H1: AccountId = 1;
pub const H2: AccountId = 2;
/// Senders.
pub const ALICE: AccountId = 10;
pub const BOB: AccountId = 11;
/// An account with almost nothing.
pub const POOR: AccountId = 20;

pub fn new_test_ext() -> sp_io::TestExternalities {
    STALE_RANDOMNESS.with(|s| s.set(false));
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
        System::set_block_number(1);
        Proofs::on_initialize(1);
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
        Proofs::do_try_state().expect("proof invariants hold after the test");
        Deposits::do_try_state().expect("deposit invariants hold after the test");
        assert_eq!(
            pallet_balances::TotalIssuance::<Test>::get(),
            issuance,
            "MASP created or destroyed"
        );
    });
}

/// Runs blocks up to `n` like [`run_to`], but with the proofs pallet's
/// deadline hook stalled (it only draws seeds): what a hook far behind its
/// due queue looks like to the contracts it has not reached.
pub fn run_stalled_to(n: u64) {
    while System::block_number() < n {
        let next = System::block_number() + 1;
        System::set_block_number(next);
        System::set_parent_hash(sp_core::H256::repeat_byte(next as u8));
        Market::on_initialize(next);
        Proofs::seed_epoch(next);
    }
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
