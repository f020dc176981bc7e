//! A test runtime: frame-system, pallet-balances (MASP with 12 decimals and
//! the real existential deposit) and the token sale with root as authority.

use crate as pallet_token_sale;
use frame_support::{derive_impl, parameter_types, traits::ConstU128};
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
}

impl pallet_token_sale::Config for Test {
    type Currency = Balances;
    type SaleOrigin = EnsureRoot<AccountId>;
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
}

impl Default for ExtBuilder {
    fn default() -> Self {
        Self {
            schedule: Some((START, DAY)),
        }
    }
}

impl ExtBuilder {
    pub fn unscheduled() -> Self {
        Self { schedule: None }
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
