//! A test runtime: frame-system, pallet-balances (MASP with the real
//! existential deposit) and the egress pallet, with registers of hosts and
//! proxies tests fill (the proxies' records what egress tells them), and `TestSignature` (a signature is the signer and the
//! message it signed) standing in for sr25519.

use crate as pallet_egress;
use core::cell::RefCell;
use frame_support::{
    derive_impl, parameter_types,
    traits::{ConstU128, ConstU32},
};
use masp_primitives::traits::{HostRegistry, ProxyRegistry};
use sp_runtime::{
    testing::{TestSignature, UintAuthorityId},
    BuildStorage,
};
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
    pub type Egress = pallet_egress;
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

thread_local! {
    static HOSTS: RefCell<BTreeSet<AccountId>> = const { RefCell::new(BTreeSet::new()) };
}

/// The market's register of hosts, as far as egress sees it.
pub struct MockHosts;

impl MockHosts {
    pub fn register(who: AccountId) {
        HOSTS.with(|h| h.borrow_mut().insert(who));
    }
}

impl HostRegistry<AccountId> for MockHosts {
    fn is_host(who: &AccountId) -> bool {
        HOSTS.with(|h| h.borrow().contains(who))
    }
}

/// What the proxies' register was told about one proxy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyRecord {
    /// Its relay price while it takes sessions.
    pub price: Option<Balance>,
    /// Sessions opened: `(payer, channel)`.
    pub opened: Vec<(AccountId, u64)>,
    /// Sessions ended: `(payer, channel)`.
    pub ended: Vec<(AccountId, u64)>,
    /// Bytes relayed and paid.
    pub bytes: u64,
    /// Paid.
    pub paid: Balance,
}

thread_local! {
    static PROXIES: RefCell<BTreeMap<AccountId, ProxyRecord>> = const { RefCell::new(BTreeMap::new()) };
}

/// The proxies pallet, as far as egress sees it.
pub struct MockProxies;

impl MockProxies {
    /// `who` takes sessions at `price` (`None`: it stops).
    pub fn set_price(who: AccountId, price: Option<Balance>) {
        PROXIES.with(|p| p.borrow_mut().entry(who).or_default().price = price);
    }
    /// What `who`'s record holds.
    pub fn record(who: AccountId) -> ProxyRecord {
        PROXIES.with(|p| p.borrow().get(&who).cloned().unwrap_or_default())
    }
    fn with(who: &AccountId, f: impl FnOnce(&mut ProxyRecord)) {
        PROXIES.with(|p| f(p.borrow_mut().entry(*who).or_default()));
    }
}

impl ProxyRegistry<AccountId> for MockProxies {
    fn relay_price(proxy: &AccountId) -> Option<Balance> {
        PROXIES.with(|p| p.borrow().get(proxy).and_then(|r| r.price))
    }
    fn session_opened(proxy: &AccountId, payer: &AccountId, channel: u64) {
        Self::with(proxy, |r| r.opened.push((*payer, channel)));
    }
    fn session_ended(proxy: &AccountId, payer: &AccountId, channel: u64) {
        Self::with(proxy, |r| r.ended.push((*payer, channel)));
    }
    fn relayed(proxy: &AccountId, bytes: u64, paid: Balance) {
        Self::with(proxy, |r| {
            r.bytes += bytes;
            r.paid += paid;
        });
    }
}

/// The least allowance.
pub const MIN_ALLOWANCE: Balance = UNIT / 100;
/// Blocks a host has to redeem after a close.
pub const CLOSE_PERIOD: u64 = 10;
/// Receipts per redeem.
pub const MAX_RECEIPTS: u32 = 8;

parameter_types! {
    pub const ClosePeriod: u64 = CLOSE_PERIOD;
}

impl pallet_egress::Config for Test {
    type Currency = Balances;
    type RuntimeHoldReason = RuntimeHoldReason;
    type Hosts = MockHosts;
    type Proxies = MockProxies;
    type Signature = TestSignature;
    type Signer = UintAuthorityId;
    type MinAllowance = ConstU128<MIN_ALLOWANCE>;
    type ClosePeriod = ClosePeriod;
    type MaxReceipts = ConstU32<MAX_RECEIPTS>;
    type WeightInfo = ();
    #[cfg(feature = "runtime-benchmarks")]
    type BenchmarkHelper = MockHosts;
}

#[cfg(feature = "runtime-benchmarks")]
impl pallet_egress::BenchmarkHelper<AccountId, TestSignature> for MockHosts {
    fn signer(n: u32) -> AccountId {
        1_000 + n as u64
    }
    fn sign(who: &AccountId, message: &[u8]) -> TestSignature {
        TestSignature(*who, message.to_vec())
    }
    fn make_host(who: &AccountId) {
        Self::register(*who);
    }
    fn make_proxy(who: &AccountId, price: Balance) {
        MockProxies::set_price(*who, Some(price));
    }
}

/// Hosts.
pub const HOST: AccountId = 1;
pub const OTHER_HOST: AccountId = 2;
/// Downloaders.
pub const CAROL: AccountId = 20;
pub const DAVE: AccountId = 21;
/// Not a host.
pub const EVE: AccountId = 30;
/// A proxy.
pub const PROXY: AccountId = 40;

/// Everyone holds this at genesis.
pub const INITIAL: Balance = 1_000 * UNIT;
/// The host's price per GiB served.
pub const PRICE: Balance = UNIT / 10;

pub fn new_test_ext() -> sp_io::TestExternalities {
    HOSTS.with(|h| h.borrow_mut().clear());
    PROXIES.with(|p| p.borrow_mut().clear());
    let mut storage = frame_system::GenesisConfig::<Test>::default()
        .build_storage()
        .unwrap();
    pallet_balances::GenesisConfig::<Test> {
        balances: [HOST, OTHER_HOST, CAROL, DAVE, EVE, PROXY]
            .into_iter()
            .map(|a| (a, INITIAL))
            .collect(),
        ..Default::default()
    }
    .assimilate_storage(&mut storage)
    .unwrap();
    let mut ext = sp_io::TestExternalities::new(storage);
    ext.execute_with(|| {
        System::set_block_number(1);
        MockHosts::register(HOST);
        MockHosts::register(OTHER_HOST);
    });
    ext
}

/// Runs `test`, then checks the pallet's invariants (`try_state`) and that
/// no MASP was created or destroyed.
pub fn build_and_execute(test: impl FnOnce()) {
    new_test_ext().execute_with(|| {
        let issuance = pallet_balances::TotalIssuance::<Test>::get();
        test();
        Egress::do_try_state().expect("egress invariants hold after the test");
        assert_eq!(
            pallet_balances::TotalIssuance::<Test>::get(),
            issuance,
            "MASP created or destroyed"
        );
    });
}
