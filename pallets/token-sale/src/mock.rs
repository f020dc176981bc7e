//! A test runtime: frame-system, pallet-balances (MASP with 12 decimals and
//! the real existential deposit) and the token sale with root as authority and
//! an attester committee the tests can change ([`set_attesters`]).

use crate as pallet_token_sale;
use frame_support::{
    derive_impl, parameter_types,
    traits::{ConstU128, ConstU32, SortedMembers},
};
use frame_system::EnsureRoot;
use sp_runtime::BuildStorage;

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
    pub type TokenSale = pallet_token_sale;
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
}

parameter_types! {
    pub const TokenUnit: u128 = UNIT;
    /// The attester committee (kept in the test's storage, so each test
    /// starts from [`ATTESTERS`]).
    pub storage AttesterSet: Vec<AccountId> = ATTESTERS.to_vec();
}

/// The attesters at genesis in the tests.
pub const ATTESTERS: [AccountId; 4] = [11, 12, 13, 14];
/// Most votes kept on one payment, and the highest threshold, in the tests.
pub const MAX_ATTESTERS: u32 = 5;
/// Most open votes per attester in the tests.
pub const MAX_PENDING_PER_ATTESTER: u32 = 3;

/// The committee as governance's membership pallet would expose it.
pub struct MockAttesters;

impl SortedMembers<AccountId> for MockAttesters {
    fn sorted_members() -> Vec<AccountId> {
        let mut members = AttesterSet::get();
        members.sort();
        members.dedup();
        members
    }

    #[cfg(feature = "runtime-benchmarks")]
    fn add(who: &AccountId) {
        let mut members = Self::sorted_members();
        if let Err(i) = members.binary_search(who) {
            members.insert(i, *who);
        }
        AttesterSet::set(&members);
    }
}

/// Replaces the attester committee (as governance would).
pub fn set_attesters(members: &[AccountId]) {
    AttesterSet::set(&members.to_vec());
}

impl pallet_token_sale::Config for Test {
    type Currency = Balances;
    type SaleOrigin = EnsureRoot<AccountId>;
    type Attesters = MockAttesters;
    type MaxAttesters = ConstU32<MAX_ATTESTERS>;
    type MaxPendingPerAttester = ConstU32<MAX_PENDING_PER_ATTESTER>;
    type TokenUnit = TokenUnit;
    type WeightInfo = ();
}

/// Blocks per sale day in the tests.
pub const DAY: u64 = 10;
/// The sale starts at this block in the tests.
pub const START: u64 = 5;
/// An account that holds MASP from genesis (not a buyer).
pub const HOLDER: AccountId = 1_000;
/// What `HOLDER` holds.
pub const HOLDER_BALANCE: Balance = 500 * UNIT;

pub struct ExtBuilder {
    schedule: Option<(u64, u64)>,
    attest_threshold: u32,
}

impl Default for ExtBuilder {
    fn default() -> Self {
        Self {
            schedule: Some((START, DAY)),
            attest_threshold: 2,
        }
    }
}

impl ExtBuilder {
    pub fn unscheduled() -> Self {
        Self {
            schedule: None,
            ..Default::default()
        }
    }

    /// M at genesis.
    pub fn attest_threshold(mut self, threshold: u32) -> Self {
        self.attest_threshold = threshold;
        self
    }

    pub fn build(self) -> sp_io::TestExternalities {
        let mut storage = frame_system::GenesisConfig::<Test>::default()
            .build_storage()
            .unwrap();
        pallet_balances::GenesisConfig::<Test> {
            balances: vec![(HOLDER, HOLDER_BALANCE)],
            ..Default::default()
        }
        .assimilate_storage(&mut storage)
        .unwrap();
        pallet_token_sale::GenesisConfig::<Test> {
            schedule: self
                .schedule
                .map(|(start, day_length)| crate::SaleSchedule { start, day_length }),
            attest_threshold: self.attest_threshold,
        }
        .assimilate_storage(&mut storage)
        .unwrap();
        let mut ext = sp_io::TestExternalities::new(storage);
        ext.execute_with(|| System::set_block_number(1));
        ext
    }

    /// Runs `test`, then checks the pallet's invariants (`try_state`).
    pub fn build_and_execute(self, test: impl FnOnce()) {
        self.build().execute_with(|| {
            test();
            TokenSale::do_try_state().expect("token sale invariants hold after the test");
        });
    }
}

/// Moves to block `n` (events of earlier blocks are cleared).
pub fn go_to(n: u64) {
    System::set_block_number(n);
    System::reset_events();
}

/// The first block of sale day `d` (1-based).
pub fn day_start(d: u64) -> u64 {
    START + (d - 1) * DAY
}

/// The last block of sale day `d`.
pub fn day_end(d: u64) -> u64 {
    day_start(d) + DAY - 1
}
