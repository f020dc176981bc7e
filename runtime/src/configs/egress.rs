//! Egress: downloaders pay hosts per byte served, and Senders pay proxies
//! per byte relayed, through payment channels.

use frame_support::{parameter_types, traits::ConstU32};
use masp_primitives::time::HOURS;

use crate::{
    Balance, Balances, BlockNumber, Proxies, Runtime, RuntimeHoldReason, Signature, StorageMarket,
    MILLI_UNIT,
};

parameter_types! {
    /// The least allowance a channel opens with: pays for its record
    /// (about 100 bytes) and keeps dust channels out.
    pub const MinAllowance: Balance = 10 * MILLI_UNIT;
    /// A host has 6 hours after its downloader closes to redeem its last
    /// receipt. Well-known key `twox128(":EgressClosePeriod:")`.
    pub storage EgressClosePeriod: BlockNumber = 6 * HOURS;
}

impl pallet_egress::Config for Runtime {
    type Currency = Balances;
    type RuntimeHoldReason = RuntimeHoldReason;
    type Hosts = StorageMarket;
    type Proxies = Proxies;
    type Signature = Signature;
    type Signer = <Signature as sp_runtime::traits::Verify>::Signer;
    type MinAllowance = MinAllowance;
    type ClosePeriod = EgressClosePeriod;
    /// Receipts redeemed per call.
    type MaxReceipts = ConstU32<64>;
    type WeightInfo = pallet_egress::weights::SubstrateWeight<Runtime>;
    #[cfg(feature = "runtime-benchmarks")]
    type BenchmarkHelper = EgressBenchmarkHelper;
}

/// Signs receipts with sr25519 keys from the benchmark's keystore.
#[cfg(feature = "runtime-benchmarks")]
pub struct EgressBenchmarkHelper;

#[cfg(feature = "runtime-benchmarks")]
impl pallet_egress::BenchmarkHelper<crate::AccountId, Signature> for EgressBenchmarkHelper {
    fn signer(n: u32) -> crate::AccountId {
        use sp_runtime::traits::IdentifyAccount;
        let seed = alloc::format!("//egress-bench-{n}");
        let public = sp_io::crypto::sr25519_generate(
            sp_core::crypto::key_types::ACCOUNT,
            Some(seed.into_bytes()),
        );
        sp_runtime::MultiSigner::Sr25519(public).into_account()
    }

    fn sign(who: &crate::AccountId, message: &[u8]) -> Signature {
        let raw: [u8; 32] = *who.as_ref();
        let public = sp_core::sr25519::Public::from_raw(raw);
        let signature =
            sp_io::crypto::sr25519_sign(sp_core::crypto::key_types::ACCOUNT, &public, message)
                .expect("the benchmark keystore holds the key");
        sp_runtime::MultiSignature::Sr25519(signature)
    }

    fn make_host(who: &crate::AccountId) {
        use frame_support::traits::fungible::Mutate;
        let _ = Balances::set_balance(who, 1 << 100);
        let _ = StorageMarket::register_host(
            crate::RuntimeOrigin::signed(who.clone()),
            b"https://egress.example"
                .to_vec()
                .try_into()
                .unwrap_or_default(),
            b"EU".to_vec().try_into().unwrap_or_default(),
            1 << 40,
            [0; 32],
        );
    }

    fn make_proxy(who: &crate::AccountId, price: Balance) {
        use frame_support::traits::fungible::Mutate;
        let _ = Balances::set_balance(who, 1 << 100);
        let _ = Proxies::register(
            crate::RuntimeOrigin::signed(who.clone()),
            b"https://proxy.example"
                .to_vec()
                .try_into()
                .unwrap_or_default(),
            price,
        );
    }
}
