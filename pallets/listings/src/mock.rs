//! A test runtime: frame-system, pallet-balances (MASP with the real
//! existential deposit) and the listings pallet, over a table of contracts
//! that tests create and end at will (the market's side of
//! [`StorageContracts`]).

use crate as pallet_listings;
use core::cell::RefCell;
use frame_support::{
    derive_impl, parameter_types,
    traits::{ConstU128, ConstU32, Hooks},
};
use masp_primitives::{
    market::{ContractId, EpochIndex},
    seal,
    traits::{ProofTarget, StorageContracts},
};
use sp_runtime::{BuildStorage, DispatchError, DispatchResult};
use std::collections::BTreeMap;

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
    pub type Listings = pallet_listings;
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

/// A live contract as the mock market keeps it: its Sender, whether its
/// host confirmed the data, its Merkle root and size.
type MockContract = (AccountId, bool, [u8; 32], u64);

thread_local! {
    /// Live contracts: id -> contract.
    static CONTRACTS: RefCell<BTreeMap<ContractId, MockContract>> = const { RefCell::new(BTreeMap::new()) };
}

/// The market, as far as listings see it: contracts and their Senders.
pub struct MockContracts;

impl MockContracts {
    /// A live contract of `sender`.
    pub fn create(id: ContractId, sender: AccountId) {
        CONTRACTS.with(|c| c.borrow_mut().insert(id, (sender, true, [0; 32], 1)));
    }
    /// A live contract of `sender` storing other data (another root).
    pub fn create_with_root(id: ContractId, sender: AccountId, root: [u8; 32]) {
        CONTRACTS.with(|c| c.borrow_mut().insert(id, (sender, true, root, 1)));
    }
    /// A live shard of `size` bytes of `sender` with root `root`.
    pub fn create_shard(id: ContractId, sender: AccountId, root: [u8; 32], size: u64) {
        CONTRACTS.with(|c| c.borrow_mut().insert(id, (sender, true, root, size)));
    }
    /// A contract of `sender` whose host has not confirmed the data yet.
    pub fn create_unconfirmed(id: ContractId, sender: AccountId) {
        CONTRACTS.with(|c| c.borrow_mut().insert(id, (sender, false, [0; 32], 1)));
    }
    /// The contract ended (term over, lost or cancelled).
    pub fn end(id: ContractId) {
        CONTRACTS.with(|c| c.borrow_mut().remove(&id));
    }
}

impl StorageContracts<AccountId, Balance> for MockContracts {
    fn proof_target(contract: ContractId) -> Option<ProofTarget<AccountId>> {
        CONTRACTS.with(|c| c.borrow().get(&contract).copied()).map(
            |(sender, confirmed, merkle_root, size)| ProofTarget {
                host: 1,
                sender,
                merkle_root,
                leaf_count: 1,
                size,
                first_epoch: 0,
                last_epoch: 10,
                confirmed,
            },
        )
    }
    fn epoch_proven(_: ContractId, _: EpochIndex) -> Result<Balance, DispatchError> {
        Ok(0)
    }
    fn data_lost(_: ContractId) -> DispatchResult {
        Ok(())
    }
}

/// Held per listing.
pub const LISTING_DEPOSIT: Balance = UNIT;
/// Held per purchase record.
pub const PURCHASE_DEPOSIT: Balance = UNIT / 100;
/// Blocks to deliver a key.
pub const KEY_DEADLINE: u64 = 10;
/// Blocks to dispute a delivered key.
pub const DISPUTE_PERIOD: u64 = 20;
/// Due items per block.
pub const MAX_DUE: u32 = 4;

parameter_types! {
    pub const MaxContracts: u32 = 8;
    /// Storage parameters, as a runtime may set them (a test sets zero).
    pub storage KeyDeadline: u64 = KEY_DEADLINE;
    pub storage DisputePeriod: u64 = DISPUTE_PERIOD;
}

impl pallet_listings::Config for Test {
    type Currency = Balances;
    type RuntimeHoldReason = RuntimeHoldReason;
    type Contracts = MockContracts;
    type MaxContracts = MaxContracts;
    type MaxMeta = ConstU32<64>;
    type ListingDeposit = ConstU128<LISTING_DEPOSIT>;
    type PurchaseDeposit = ConstU128<PURCHASE_DEPOSIT>;
    type KeyDeadline = KeyDeadline;
    type DisputePeriod = DisputePeriod;
    type MaxDuePerBlock = ConstU32<MAX_DUE>;
    type WeightInfo = ();
    #[cfg(feature = "runtime-benchmarks")]
    type BenchmarkHelper = MockContracts;
}

#[cfg(feature = "runtime-benchmarks")]
impl pallet_listings::BenchmarkHelper<AccountId> for MockContracts {
    fn contract(sender: &AccountId, n: u32) -> ContractId {
        let id = (*sender << 16) + n as u64;
        Self::create(id, *sender);
        id
    }
    fn end(contract: ContractId) {
        MockContracts::end(contract);
    }
}

/// Senders.
pub const ALICE: AccountId = 10;
pub const BOB: AccountId = 11;
/// Receivers.
pub const CAROL: AccountId = 20;
pub const DAVE: AccountId = 21;
/// An account with almost nothing.
pub const POOR: AccountId = 30;

/// Many buyers, each with [`CROWD_FUNDS`].
pub const CROWD: core::ops::Range<AccountId> = 100..140;
pub const CROWD_FUNDS: Balance = 100 * UNIT;

/// Everyone but `POOR` and the crowd holds this at genesis.
pub const INITIAL: Balance = 1_000 * UNIT;

/// Alice's file: contracts 1 and 2, this key.
pub const FILE_KEY: seal::Key32 = [7; 32];
/// A Receiver's purchase secret (in the client: derived from its phrase).
pub fn purchase_secret(who: AccountId) -> seal::Key32 {
    [who as u8; 32]
}

pub fn new_test_ext() -> sp_io::TestExternalities {
    CONTRACTS.with(|c| c.borrow_mut().clear());
    let mut storage = frame_system::GenesisConfig::<Test>::default()
        .build_storage()
        .unwrap();
    let mut balances: Vec<(AccountId, Balance)> = [ALICE, BOB, CAROL, DAVE]
        .into_iter()
        .map(|a| (a, INITIAL))
        .collect();
    balances.push((POOR, UNIT / 1_000 * 2));
    balances.extend(CROWD.map(|a| (a, CROWD_FUNDS)));
    pallet_balances::GenesisConfig::<Test> {
        balances,
        ..Default::default()
    }
    .assimilate_storage(&mut storage)
    .unwrap();
    let mut ext = sp_io::TestExternalities::new(storage);
    ext.execute_with(|| {
        System::set_block_number(1);
        MockContracts::create(1, ALICE);
        MockContracts::create(2, ALICE);
        MockContracts::create(3, BOB);
    });
    ext
}

/// Runs `test`, then checks the pallet's invariants (`try_state`) and that
/// no MASP was created or destroyed.
pub fn build_and_execute(test: impl FnOnce()) {
    new_test_ext().execute_with(|| {
        let issuance = pallet_balances::TotalIssuance::<Test>::get();
        test();
        Listings::do_try_state().expect("listing invariants hold after the test");
        assert_eq!(
            pallet_balances::TotalIssuance::<Test>::get(),
            issuance,
            "MASP created or destroyed"
        );
    });
}

/// Runs blocks up to `n`, each with the pallet's `on_initialize`.
pub fn run_to(n: u64) {
    while System::block_number() < n {
        let next = System::block_number() + 1;
        System::set_block_number(next);
        Listings::on_initialize(next);
    }
}
