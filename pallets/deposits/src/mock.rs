//! A test runtime: frame-system, pallet-balances (MASP with the real
//! existential deposit) and the deposits pallet, whose slash remainder goes to
//! a pot account (nothing is burned).

use crate as pallet_deposits;
use frame_support::{
    derive_impl, parameter_types,
    traits::{tokens::imbalance::ResolveTo, ConstU128},
};
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
    pub type Deposits = pallet_deposits;
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

/// Receives the part of a slash not paid to the victim.
pub const POT: AccountId = 999;
/// A host with MASP.
pub const HOST: AccountId = 1;
/// Another host.
pub const HOST2: AccountId = 2;
/// A Sender (the victim of a slash).
pub const SENDER: AccountId = 10;
/// What each host and the Sender hold at genesis.
pub const INITIAL: Balance = 1_000 * UNIT;
/// The smallest deposit.
pub const MIN_DEPOSIT: Balance = UNIT;

parameter_types! {
    pub const Pot: AccountId = POT;
    pub const MinDeposit: Balance = MIN_DEPOSIT;
}

impl pallet_deposits::Config for Test {
    type Currency = Balances;
    type RuntimeHoldReason = RuntimeHoldReason;
    type OnSlash = ResolveTo<Pot, Balances>;
    type MinDeposit = MinDeposit;
    type WeightInfo = ();
}

pub fn new_test_ext() -> sp_io::TestExternalities {
    let mut storage = frame_system::GenesisConfig::<Test>::default()
        .build_storage()
        .unwrap();
    pallet_balances::GenesisConfig::<Test> {
        balances: vec![
            (HOST, INITIAL),
            (HOST2, INITIAL),
            (SENDER, INITIAL),
            (POT, EXISTENTIAL_DEPOSIT),
        ],
        ..Default::default()
    }
    .assimilate_storage(&mut storage)
    .unwrap();
    let mut ext = sp_io::TestExternalities::new(storage);
    ext.execute_with(|| System::set_block_number(1));
    ext
}

/// Runs `test`, then checks the pallet's invariants (`try_state`) and that
/// no MASP was created or destroyed.
pub fn build_and_execute(test: impl FnOnce()) {
    new_test_ext().execute_with(|| {
        let issuance = Balances::total_issuance();
        test();
        Deposits::do_try_state().expect("deposit invariants hold after the test");
        assert_eq!(
            Balances::total_issuance(),
            issuance,
            "MASP created or destroyed"
        );
    });
}
