//! Benchmarks (frame-benchmarking v2), each in its worst case: the longest
//! endpoint, `update` topping a slashed deposit back up, `withdraw` and
//! `slash` with a hold to release or move, a report within the window.

use super::*;
use crate::Pallet as ProxiesPallet;
use frame_benchmarking::v2::*;
use frame_support::{
    traits::{
        fungible::{Inspect, Mutate},
        EnsureOrigin, Get,
    },
    BoundedVec,
};
use frame_system::{pallet_prelude::BlockNumberFor, RawOrigin};
use masp_primitives::{traits::ProxyRegistry, Balance};
use sp_runtime::traits::Saturating;

/// Plenty for any benchmark account.
const FUNDS: Balance = 1 << 100;
/// A proxy's price per GiB relayed.
const PRICE: Balance = 1_000_000_000;

/// The slash pot exists (as in the runtime, from genesis).
fn pot<T: Config>() {
    let pot = T::SlashPot::get();
    if T::Currency::balance(&pot) < T::Currency::minimum_balance() {
        T::Currency::set_balance(&pot, T::Currency::minimum_balance());
    }
}

/// The longest valid endpoint.
fn endpoint<T: Config>() -> EndpointOf<T> {
    let len = T::MaxEndpointLen::get() as usize;
    let mut e = b"https://".to_vec();
    e.resize(len.max(9), b'a');
    BoundedVec::try_from(e).expect("MaxEndpointLen long")
}

/// A funded, registered proxy.
fn proxy<T: Config>(n: u32) -> T::AccountId {
    let who: T::AccountId = account("proxy", n, 0);
    T::Currency::set_balance(&who, FUNDS);
    ProxiesPallet::<T>::register(
        RawOrigin::Signed(who.clone()).into(),
        endpoint::<T>(),
        PRICE,
    )
    .expect("registers");
    who
}

#[benchmarks]
mod benchmarks {
    use super::*;

    #[benchmark]
    fn register() {
        let who: T::AccountId = account("proxy", 0, 0);
        T::Currency::set_balance(&who, FUNDS);
        #[extrinsic_call]
        _(RawOrigin::Signed(who.clone()), endpoint::<T>(), PRICE);
        assert!(Proxies::<T>::contains_key(&who));
    }

    /// With a slashed deposit topped back up.
    #[benchmark]
    fn update() -> Result<(), BenchmarkError> {
        let who = proxy::<T>(0);
        pot::<T>();
        let gov =
            T::SlashOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
        ProxiesPallet::<T>::slash(gov, who.clone(), 1).expect("slashes");
        #[extrinsic_call]
        _(RawOrigin::Signed(who.clone()), endpoint::<T>(), PRICE * 2);
        let p = Proxies::<T>::get(&who).expect("a proxy");
        assert_eq!(p.deposit, T::ProxyDeposit::get());
        assert_eq!(p.price_per_gib, PRICE * 2);
        Ok(())
    }

    #[benchmark]
    fn deregister() {
        let who = proxy::<T>(0);
        #[extrinsic_call]
        _(RawOrigin::Signed(who.clone()));
        assert!(Proxies::<T>::get(&who)
            .expect("a proxy")
            .unbonding_until
            .is_some());
    }

    #[benchmark]
    fn withdraw() {
        let who = proxy::<T>(0);
        ProxiesPallet::<T>::deregister(RawOrigin::Signed(who.clone()).into()).expect("leaves");
        let at = frame_system::Pallet::<T>::block_number().saturating_add(T::UnbondPeriod::get());
        frame_system::Pallet::<T>::set_block_number(at);
        #[extrinsic_call]
        _(RawOrigin::Signed(who.clone()));
        assert!(!Proxies::<T>::contains_key(&who));
    }

    #[benchmark]
    fn slash() -> Result<(), BenchmarkError> {
        let who = proxy::<T>(0);
        pot::<T>();
        let gov =
            T::SlashOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
        #[extrinsic_call]
        _(gov as T::RuntimeOrigin, who.clone(), 1);
        assert_eq!(
            Proxies::<T>::get(&who).expect("a proxy").deposit,
            T::ProxyDeposit::get().saturating_sub(1)
        );
        Ok(())
    }

    /// A session that ended, reported on the last block of its window.
    #[benchmark]
    fn report_failure() {
        let who = proxy::<T>(0);
        let payer: T::AccountId = account("payer", 0, 0);
        <ProxiesPallet<T> as ProxyRegistry<T::AccountId>>::session_opened(&who, &payer, 7);
        <ProxiesPallet<T> as ProxyRegistry<T::AccountId>>::session_ended(&who, &payer, 7);
        let at: BlockNumberFor<T> =
            frame_system::Pallet::<T>::block_number().saturating_add(T::ReportWindow::get());
        frame_system::Pallet::<T>::set_block_number(at);
        #[extrinsic_call]
        _(RawOrigin::Signed(payer), who.clone(), 7);
        assert_eq!(Proxies::<T>::get(&who).expect("a proxy").failures, 1);
    }

    #[benchmark]
    fn forget_session() {
        let who = proxy::<T>(0);
        let payer: T::AccountId = account("payer", 0, 0);
        <ProxiesPallet<T> as ProxyRegistry<T::AccountId>>::session_opened(&who, &payer, 7);
        <ProxiesPallet<T> as ProxyRegistry<T::AccountId>>::session_ended(&who, &payer, 7);
        let at: BlockNumberFor<T> = frame_system::Pallet::<T>::block_number()
            .saturating_add(T::ReportWindow::get())
            .saturating_add(1u32.into());
        frame_system::Pallet::<T>::set_block_number(at);
        #[extrinsic_call]
        _(RawOrigin::Signed(payer), who.clone(), 7);
        assert!(!Sessions::<T>::contains_key(&who, 7));
    }

    impl_benchmark_test_suite!(
        ProxiesPallet,
        crate::mock::new_test_ext(),
        crate::mock::Test
    );
}
