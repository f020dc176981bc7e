//! A test runtime: frame-system, pallet-balances (MASP with the real
//! existential deposit), the real deposits pallet (holds, backing and
//! slashes) and the retrieval pallet, with a table of contracts and a
//! table of listing readers tests fill, and an observer that records what
//! the rating would be told.

use crate as pallet_retrieval;
use core::cell::RefCell;
use frame_support::{
    derive_impl, parameter_types,
    traits::{tokens::imbalance::ResolveTo, ConstU128, ConstU32},
};
use masp_primitives::{
    market::ContractId,
    traits::{HostDeposits, ProofObserver, ProofTarget, ReadAccess, StorageContracts},
};
use masp_proofs::Hash;
use sp_runtime::{BuildStorage, DispatchError, DispatchResult, Perbill};
use std::collections::{BTreeMap, BTreeSet};

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
    pub type Retrieval = pallet_retrieval;
}

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
    type Block = Block;
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
    static CONTRACTS: RefCell<BTreeMap<ContractId, ProofTarget<AccountId>>> =
        const { RefCell::new(BTreeMap::new()) };
    static READERS: RefCell<BTreeSet<(AccountId, u64, ContractId)>> =
        const { RefCell::new(BTreeSet::new()) };
    static OUTCOMES: RefCell<Vec<(AccountId, ContractId, bool)>> = const { RefCell::new(Vec::new()) };
}

/// The market's contracts, as far as retrieval sees them.
pub struct MockContracts;

impl MockContracts {
    /// A contract of `host` for `sender` over `tree`, confirmed, backed by
    /// `backing` of the host's deposit.
    pub fn add(id: ContractId, host: AccountId, sender: AccountId, tree: &Tree, backing: Balance) {
        CONTRACTS.with(|c| {
            c.borrow_mut().insert(
                id,
                ProofTarget {
                    host,
                    sender,
                    merkle_root: tree.root,
                    leaf_count: tree.leaf_count(),
                    size: tree.bytes.len() as u64,
                    first_epoch: 0,
                    last_epoch: 100,
                    confirmed: true,
                },
            )
        });
        if backing > 0 {
            if Deposits::free_deposit(&host) < backing {
                Deposits::deposit(RuntimeOrigin::signed(host), backing).unwrap();
            }
            <Deposits as HostDeposits<_, _>>::reserve(&host, id, backing).unwrap();
        }
    }

    /// Marks `id` not yet confirmed by its host.
    pub fn unconfirm(id: ContractId) {
        CONTRACTS.with(|c| {
            if let Some(t) = c.borrow_mut().get_mut(&id) {
                t.confirmed = false;
            }
        });
    }

    /// Ends `id` (its backing is released, as the market does).
    pub fn end(id: ContractId) {
        CONTRACTS.with(|c| c.borrow_mut().remove(&id));
        <Deposits as HostDeposits<_, _>>::release(id);
    }
}

impl StorageContracts<AccountId, Balance> for MockContracts {
    fn proof_target(contract: ContractId) -> Option<ProofTarget<AccountId>> {
        CONTRACTS.with(|c| c.borrow().get(&contract).cloned())
    }
    fn epoch_proven(_: ContractId, _: u32) -> Result<Balance, DispatchError> {
        Ok(0)
    }
    fn data_lost(_: ContractId) -> DispatchResult {
        Ok(())
    }
}

/// The listings' readers: `(who, listing, contract)`.
pub struct MockAccess;

impl MockAccess {
    pub fn grant(who: AccountId, listing: u64, contract: ContractId) {
        READERS.with(|r| r.borrow_mut().insert((who, listing, contract)));
    }
}

impl ReadAccess<AccountId> for MockAccess {
    fn may_read(who: &AccountId, listing: u64, contract: ContractId) -> bool {
        READERS.with(|r| r.borrow().contains(&(*who, listing, contract)))
    }
}

/// Records what the host rating would be told: `(host, contract,
/// answered)`.
pub struct MockObserver;

impl MockObserver {
    pub fn outcomes() -> Vec<(AccountId, ContractId, bool)> {
        OUTCOMES.with(|o| o.borrow().clone())
    }
}

impl ProofObserver<AccountId, Balance> for MockObserver {
    fn retrieval_answered(host: &AccountId, contract: ContractId) {
        OUTCOMES.with(|o| o.borrow_mut().push((*host, contract, true)));
    }
    fn retrieval_failed(host: &AccountId, contract: ContractId) {
        OUTCOMES.with(|o| o.borrow_mut().push((*host, contract, false)));
    }
}

/// What opening a challenge holds.
pub const DEPOSIT: Balance = UNIT;
/// Blocks a host has to answer.
pub const PERIOD: u64 = 10;
/// Open challenges per contract.
pub const MAX_OPEN: u32 = 2;

parameter_types! {
    pub const AnswerReward: Perbill = Perbill::from_percent(10);
    pub const FailSlash: Perbill = Perbill::from_percent(5);
}

impl pallet_retrieval::Config for Test {
    type Currency = Balances;
    type RuntimeHoldReason = RuntimeHoldReason;
    type Contracts = MockContracts;
    type Deposits = Deposits;
    type Access = MockAccess;
    type Observer = MockObserver;
    type ChallengeDeposit = ConstU128<DEPOSIT>;
    type AnswerReward = AnswerReward;
    type FailSlash = FailSlash;
    type ResponsePeriod = ConstU64<PERIOD>;
    type MaxOpenPerContract = ConstU32<MAX_OPEN>;
    type WeightInfo = ();
    #[cfg(feature = "runtime-benchmarks")]
    type BenchmarkHelper = MockContracts;
}

use frame_support::traits::ConstU64;

#[cfg(feature = "runtime-benchmarks")]
impl pallet_retrieval::BenchmarkHelper<AccountId> for MockContracts {
    fn confirmed_contract(
        host: &AccountId,
        sender: &AccountId,
        merkle_root: Hash,
        leaf_count: u64,
    ) -> ContractId {
        use frame_support::traits::fungible::Mutate;
        let id = CONTRACTS.with(|c| c.borrow().keys().last().map_or(0, |k| k + 1));
        let _ = Balances::set_balance(host, 1 << 100);
        CONTRACTS.with(|c| {
            c.borrow_mut().insert(
                id,
                ProofTarget {
                    host: *host,
                    sender: *sender,
                    merkle_root,
                    leaf_count,
                    size: leaf_count.saturating_mul(512),
                    first_epoch: 0,
                    last_epoch: 100,
                    confirmed: true,
                },
            )
        });
        Deposits::deposit(RuntimeOrigin::signed(*host), 1000 * UNIT).unwrap();
        <Deposits as HostDeposits<_, _>>::reserve(host, id, 1000 * UNIT).unwrap();
        id
    }
    fn grant_access(_sender: &AccountId, reader: &AccountId, contract: ContractId) -> u64 {
        MockAccess::grant(*reader, 7, contract);
        7
    }
}

/// A file's ciphertext and its Merkle tree (the real format).
pub struct Tree {
    pub bytes: Vec<u8>,
    pub root: Hash,
    tree: masp_proofs::FileTree,
}

impl Tree {
    /// A file of `size` bytes with distinct leaves.
    pub fn new(size: usize) -> Self {
        let bytes: Vec<u8> = (0..size).map(|i| (i * 7 + i / 512) as u8).collect();
        let tree = masp_proofs::FileTree::build(&bytes[..]).unwrap();
        Tree {
            root: tree.root(),
            bytes,
            tree,
        }
    }

    pub fn leaf_count(&self) -> u64 {
        self.tree.leaf_count()
    }

    /// The answer to a challenge of the piece at `first` (its bytes and
    /// path), as an honest host builds it.
    pub fn piece(&self, first: u64) -> (crate::PieceBytes, crate::PiecePath) {
        let n = crate::Pallet::<Test>::piece_len(first, self.leaf_count()) as u64;
        let indices: Vec<u64> = (first..first + n).collect();
        let proof = self.tree.prove_many_in(&indices, &self.bytes).unwrap();
        (
            proof.leaves.try_into().expect("a piece fits"),
            proof.nodes.try_into().expect("a path fits"),
        )
    }
}

/// Hosts.
pub const HOST: AccountId = 1;
pub const OTHER_HOST: AccountId = 2;
/// The Sender.
pub const ALICE: AccountId = 10;
/// A Receiver with access through listing [`LISTING`].
pub const BOB: AccountId = 11;
/// Nobody's reader.
pub const EVE: AccountId = 30;
/// Bob's listing.
pub const LISTING: u64 = 3;
/// Alice's contract with [`HOST`].
pub const CONTRACT: ContractId = 5;

/// Everyone holds this at genesis.
pub const INITIAL: Balance = 1_000 * UNIT;
/// The deposit backing [`CONTRACT`].
pub const BACKING: Balance = 100 * UNIT;

pub fn new_test_ext() -> sp_io::TestExternalities {
    CONTRACTS.with(|c| c.borrow_mut().clear());
    READERS.with(|r| r.borrow_mut().clear());
    OUTCOMES.with(|o| o.borrow_mut().clear());
    let mut storage = frame_system::GenesisConfig::<Test>::default()
        .build_storage()
        .unwrap();
    pallet_balances::GenesisConfig::<Test> {
        balances: [HOST, OTHER_HOST, ALICE, BOB, EVE, POT]
            .into_iter()
            .map(|a| (a, INITIAL))
            .collect(),
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
        let issuance = pallet_balances::TotalIssuance::<Test>::get();
        test();
        Retrieval::do_try_state().expect("retrieval invariants hold after the test");
        assert_eq!(
            pallet_balances::TotalIssuance::<Test>::get(),
            issuance,
            "MASP created or destroyed"
        );
    });
}
