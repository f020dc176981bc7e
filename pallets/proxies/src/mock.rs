//! A test runtime: frame-system, pallet-balances (MASP with the real
//! existential deposit), the egress pallet (whose relay channels pay the
//! proxies and report sessions here) and the proxies pallet, governance
//! being root. `TestSignature` (a signature is the signer and the message
//! it signed) stands in for sr25519.

use crate as pallet_proxies;
use frame_support::{
    derive_impl, parameter_types,
    traits::{ConstU128, ConstU32},
};
use frame_system::EnsureRoot;
use masp_primitives::traits::HostRegistry;
use sp_runtime::{
    testing::{TestSignature, UintAuthorityId},
    BuildStorage,
};

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
    #[runtime::pallet_index(3)]
    pub type Proxies = pallet_proxies;
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

/// No hosts: these tests use relay channels only.
pub struct NoHosts;

impl HostRegistry<AccountId> for NoHosts {
    fn is_host(_: &AccountId) -> bool {
        false
    }
}

/// The least allowance of a channel.
pub const MIN_ALLOWANCE: Balance = UNIT / 100;
/// Blocks a proxy has to redeem after a close.
pub const CLOSE_PERIOD: u64 = 10;
/// A proxy's deposit.
pub const PROXY_DEPOSIT: Balance = 10 * UNIT;
/// Blocks from deregistering to withdrawing.
pub const UNBOND_PERIOD: u64 = 20;
/// Blocks after a channel ended during which it can be reported.
pub const REPORT_WINDOW: u64 = 5;
/// Proxies at most.
pub const MAX_PROXIES: u32 = 3;

parameter_types! {
    pub const ClosePeriod: u64 = CLOSE_PERIOD;
    pub const UnbondPeriod: u64 = UNBOND_PERIOD;
    pub const ReportWindow: u64 = REPORT_WINDOW;
    pub const SlashPotAccount: AccountId = SLASH_POT;
}

impl pallet_egress::Config for Test {
    type Currency = Balances;
    type RuntimeHoldReason = RuntimeHoldReason;
    type Hosts = NoHosts;
    type Proxies = Proxies;
    type Signature = TestSignature;
    type Signer = UintAuthorityId;
    type MinAllowance = ConstU128<MIN_ALLOWANCE>;
    type ClosePeriod = ClosePeriod;
    type MaxReceipts = ConstU32<8>;
    type WeightInfo = ();
    #[cfg(feature = "runtime-benchmarks")]
    type BenchmarkHelper = NoHosts;
}

#[cfg(feature = "runtime-benchmarks")]
impl pallet_egress::BenchmarkHelper<AccountId, TestSignature> for NoHosts {
    fn signer(n: u32) -> AccountId {
        1_000 + n as u64
    }
    fn sign(who: &AccountId, message: &[u8]) -> TestSignature {
        TestSignature(*who, message.to_vec())
    }
    fn make_host(_: &AccountId) {}
    fn make_proxy(who: &AccountId, price: Balance) {
        use frame_support::traits::fungible::Mutate;
        let _ = Balances::set_balance(who, INITIAL);
        let _ = Proxies::register(
            RuntimeOrigin::signed(*who),
            b"https://proxy.example".to_vec().try_into().unwrap(),
            price,
        );
    }
}

impl pallet_proxies::Config for Test {
    type Currency = Balances;
    type RuntimeHoldReason = RuntimeHoldReason;
    type SlashOrigin = EnsureRoot<AccountId>;
    type SlashPot = SlashPotAccount;
    type ProxyDeposit = ConstU128<PROXY_DEPOSIT>;
    type UnbondPeriod = UnbondPeriod;
    type ReportWindow = ReportWindow;
    type MaxProxies = ConstU32<MAX_PROXIES>;
    type MaxEndpointLen = ConstU32<64>;
    type WeightInfo = ();
}

/// Proxies.
pub const PROXY: AccountId = 1;
pub const OTHER_PROXY: AccountId = 2;
/// Senders (payers of relay channels).
pub const CAROL: AccountId = 20;
pub const DAVE: AccountId = 21;
/// Neither.
pub const EVE: AccountId = 30;
/// Where slashes go.
pub const SLASH_POT: AccountId = 90;

/// Everyone holds this at genesis.
pub const INITIAL: Balance = 1_000 * UNIT;
/// A proxy's price per GiB relayed.
pub const PRICE: Balance = UNIT / 10;

pub fn new_test_ext() -> sp_io::TestExternalities {
    let mut storage = frame_system::GenesisConfig::<Test>::default()
        .build_storage()
        .unwrap();
    pallet_balances::GenesisConfig::<Test> {
        balances: [PROXY, OTHER_PROXY, 3, 4, CAROL, DAVE, EVE, SLASH_POT]
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

/// The egress pallet's invariant (its `do_try_state` is its tests' own):
/// each payer's allowance hold is what its channels hold.
fn egress_holds_are_its_channels() {
    use frame_support::traits::fungible::InspectHold;
    let mut held = std::collections::BTreeMap::<AccountId, Balance>::new();
    for ((payer, _, _), c) in pallet_egress::Channels::<Test>::iter() {
        *held.entry(payer).or_default() += c.held;
    }
    for who in [PROXY, OTHER_PROXY, 3, 4, CAROL, DAVE, EVE] {
        assert_eq!(
            Balances::balance_on_hold(&pallet_egress::HoldReason::Allowance.into(), &who),
            held.get(&who).copied().unwrap_or_default(),
            "an allowance hold != what the payer's channels hold"
        );
    }
}

/// Runs `test`, then checks both pallets' invariants (`try_state`) and that
/// no MASP was created or destroyed.
pub fn build_and_execute(test: impl FnOnce()) {
    new_test_ext().execute_with(|| {
        let issuance = pallet_balances::TotalIssuance::<Test>::get();
        test();
        Proxies::do_try_state().expect("proxies invariants hold after the test");
        egress_holds_are_its_channels();
        assert_eq!(
            pallet_balances::TotalIssuance::<Test>::get(),
            issuance,
            "MASP created or destroyed"
        );
    });
}
