//! Benchmarks (frame-benchmarking v2), each in its worst case: relay
//! channels (the proxies pallet is read and told of sessions and payments,
//! which egress channels skip), `redeem` with receipts of distinct payers,
//! each signature verified and each paying the proxy.

use super::*;
use crate::Pallet as EgressPallet;
use codec::Encode;
use frame_benchmarking::v2::*;
use frame_support::{
    traits::{fungible::Mutate, Get},
    BoundedVec,
};
use frame_system::RawOrigin;
use masp_primitives::{
    egress::{receipt_payload, Service},
    Balance,
};
use sp_runtime::traits::{Saturating, Zero};

/// Plenty for any benchmark account.
const FUNDS: Balance = 1 << 100;
/// The proxy's price per GiB relayed.
const PRICE: Balance = 1_000_000_000;

fn funded<T: Config>(who: &T::AccountId) {
    T::Currency::set_balance(who, FUNDS);
}

/// A registered, funded proxy relaying at [`PRICE`].
fn proxy<T: Config>() -> T::AccountId {
    let proxy: T::AccountId = account("proxy", 0, 0);
    funded::<T>(&proxy);
    T::BenchmarkHelper::make_proxy(&proxy, PRICE);
    proxy
}

/// The `n`th payer with an open relay channel to `proxy`.
fn payer<T: Config>(proxy: &T::AccountId, n: u32) -> T::AccountId {
    let payer = T::BenchmarkHelper::signer(n);
    funded::<T>(&payer);
    EgressPallet::<T>::open_channel(
        RawOrigin::Signed(payer.clone()).into(),
        proxy.clone(),
        Service::Relay,
        T::MinAllowance::get().saturating_mul(1_000),
        PRICE,
    )
    .expect("a channel");
    payer
}

#[benchmarks]
mod benchmarks {
    use super::*;

    #[benchmark]
    fn set_egress_price() {
        let host: T::AccountId = account("host", 0, 0);
        T::BenchmarkHelper::make_host(&host);
        #[extrinsic_call]
        _(RawOrigin::Signed(host.clone()), PRICE);
        assert_eq!(EgressPrices::<T>::get(&host), Some(PRICE));
    }

    /// A new relay channel (the costlier path: the proxy's price read, an
    /// id issued, a hold created, the session recorded).
    #[benchmark]
    fn open_channel() {
        let proxy = proxy::<T>();
        let payer: T::AccountId = account("payer", 0, 0);
        funded::<T>(&payer);
        #[extrinsic_call]
        _(
            RawOrigin::Signed(payer.clone()),
            proxy.clone(),
            Service::Relay,
            T::MinAllowance::get(),
            PRICE,
        );
        assert!(Channels::<T>::contains_key((
            &payer,
            &proxy,
            Service::Relay
        )));
    }

    /// `n` receipts of distinct payers on relay channels, each verified and
    /// paid.
    #[benchmark]
    fn redeem(n: Linear<1, { T::MaxReceipts::get() }>) {
        let host = proxy::<T>();
        let genesis = frame_system::Pallet::<T>::block_hash(
            frame_system::pallet_prelude::BlockNumberFor::<T>::zero(),
        );
        let host_bytes = host.encode();
        let receipts: alloc::vec::Vec<_> = (0..n)
            .map(|i| {
                let payer = payer::<T>(&host, i);
                let c = Channels::<T>::get((&payer, &host, Service::Relay)).expect("open");
                let bytes = 1u64 << 30;
                let payload =
                    receipt_payload(genesis.as_ref(), Service::Relay, c.id, &host_bytes, bytes);
                Receipt {
                    signature: T::BenchmarkHelper::sign(&payer, &payload),
                    payer,
                    channel: c.id,
                    bytes,
                }
            })
            .collect();
        let receipts: BoundedVec<_, T::MaxReceipts> =
            receipts.try_into().expect("n <= MaxReceipts");
        #[extrinsic_call]
        _(RawOrigin::Signed(host.clone()), Service::Relay, receipts);
        let first = T::BenchmarkHelper::signer(0);
        assert_eq!(
            Channels::<T>::get((&first, &host, Service::Relay)).map(|c| c.bytes_paid),
            Some(1 << 30)
        );
    }

    #[benchmark]
    fn close_channel() {
        let host = proxy::<T>();
        let payer = payer::<T>(&host, 0);
        #[extrinsic_call]
        _(
            RawOrigin::Signed(payer.clone()),
            host.clone(),
            Service::Relay,
        );
        assert!(Channels::<T>::get((&payer, &host, Service::Relay))
            .expect("open")
            .closes_at
            .is_some());
    }

    #[benchmark]
    fn finish_close() {
        let host = proxy::<T>();
        let payer = payer::<T>(&host, 0);
        EgressPallet::<T>::close_channel(
            RawOrigin::Signed(payer.clone()).into(),
            host.clone(),
            Service::Relay,
        )
        .expect("closing");
        let at = frame_system::Pallet::<T>::block_number()
            .saturating_add(T::ClosePeriod::get().max(1u32.into()));
        frame_system::Pallet::<T>::set_block_number(at);
        let caller: T::AccountId = account("caller", 0, 0);
        #[extrinsic_call]
        _(
            RawOrigin::Signed(caller),
            payer.clone(),
            host.clone(),
            Service::Relay,
        );
        assert!(!Channels::<T>::contains_key((
            &payer,
            &host,
            Service::Relay
        )));
    }

    #[benchmark]
    fn release_channel() {
        let host = proxy::<T>();
        let payer = payer::<T>(&host, 0);
        #[extrinsic_call]
        _(
            RawOrigin::Signed(host.clone()),
            payer.clone(),
            Service::Relay,
        );
        assert!(!Channels::<T>::contains_key((
            &payer,
            &host,
            Service::Relay
        )));
    }

    impl_benchmark_test_suite!(EgressPallet, crate::mock::new_test_ext(), crate::mock::Test);
}
