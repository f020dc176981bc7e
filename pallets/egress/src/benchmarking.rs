//! Benchmarks (frame-benchmarking v2), each in its worst case: `redeem`
//! with receipts of distinct downloaders, each signature verified and each
//! paying the host.

use super::*;
use crate::Pallet as EgressPallet;
use codec::Encode;
use frame_benchmarking::v2::*;
use frame_support::{
    traits::{fungible::Mutate, Get},
    BoundedVec,
};
use frame_system::RawOrigin;
use masp_primitives::{egress::receipt_payload, Balance};
use sp_runtime::traits::{Saturating, Zero};

/// Plenty for any benchmark account.
const FUNDS: Balance = 1 << 100;
/// The host's price per GiB.
const PRICE: Balance = 1_000_000_000;

fn funded<T: Config>(who: &T::AccountId) {
    T::Currency::set_balance(who, FUNDS);
}

/// A registered, funded host charging [`PRICE`].
fn host<T: Config>() -> T::AccountId {
    let host: T::AccountId = account("host", 0, 0);
    funded::<T>(&host);
    T::BenchmarkHelper::make_host(&host);
    EgressPallet::<T>::set_egress_price(RawOrigin::Signed(host.clone()).into(), PRICE)
        .expect("a host");
    host
}

/// The `n`th downloader with an open channel to `host`.
fn payer<T: Config>(host: &T::AccountId, n: u32) -> T::AccountId {
    let payer = T::BenchmarkHelper::signer(n);
    funded::<T>(&payer);
    EgressPallet::<T>::open_channel(
        RawOrigin::Signed(payer.clone()).into(),
        host.clone(),
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

    /// A new channel (the costlier path: an id issued, a hold created).
    #[benchmark]
    fn open_channel() {
        let host = host::<T>();
        let payer: T::AccountId = account("payer", 0, 0);
        funded::<T>(&payer);
        #[extrinsic_call]
        _(
            RawOrigin::Signed(payer.clone()),
            host.clone(),
            T::MinAllowance::get(),
            PRICE,
        );
        assert!(Channels::<T>::contains_key(&payer, &host));
    }

    /// `n` receipts of distinct downloaders, each verified and paid.
    #[benchmark]
    fn redeem(n: Linear<1, { T::MaxReceipts::get() }>) {
        let host = host::<T>();
        let genesis = frame_system::Pallet::<T>::block_hash(
            frame_system::pallet_prelude::BlockNumberFor::<T>::zero(),
        );
        let host_bytes = host.encode();
        let receipts: alloc::vec::Vec<_> = (0..n)
            .map(|i| {
                let payer = payer::<T>(&host, i);
                let c = Channels::<T>::get(&payer, &host).expect("open");
                let bytes = 1u64 << 30;
                let payload = receipt_payload(genesis.as_ref(), c.id, &host_bytes, bytes);
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
        _(RawOrigin::Signed(host.clone()), receipts);
        let first = T::BenchmarkHelper::signer(0);
        assert_eq!(
            Channels::<T>::get(&first, &host).map(|c| c.bytes_paid),
            Some(1 << 30)
        );
    }

    #[benchmark]
    fn close_channel() {
        let host = host::<T>();
        let payer = payer::<T>(&host, 0);
        #[extrinsic_call]
        _(RawOrigin::Signed(payer.clone()), host.clone());
        assert!(Channels::<T>::get(&payer, &host)
            .expect("open")
            .closes_at
            .is_some());
    }

    #[benchmark]
    fn finish_close() {
        let host = host::<T>();
        let payer = payer::<T>(&host, 0);
        EgressPallet::<T>::close_channel(RawOrigin::Signed(payer.clone()).into(), host.clone())
            .expect("closing");
        let at = frame_system::Pallet::<T>::block_number()
            .saturating_add(T::ClosePeriod::get().max(1u32.into()));
        frame_system::Pallet::<T>::set_block_number(at);
        let caller: T::AccountId = account("caller", 0, 0);
        #[extrinsic_call]
        _(RawOrigin::Signed(caller), payer.clone(), host.clone());
        assert!(!Channels::<T>::contains_key(&payer, &host));
    }

    #[benchmark]
    fn release_channel() {
        let host = host::<T>();
        let payer = payer::<T>(&host, 0);
        #[extrinsic_call]
        _(RawOrigin::Signed(host.clone()), payer.clone());
        assert!(!Channels::<T>::contains_key(&payer, &host));
    }

    impl_benchmark_test_suite!(EgressPallet, crate::mock::new_test_ext(), crate::mock::Test);
}
