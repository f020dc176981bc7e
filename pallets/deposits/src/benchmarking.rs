//! Benchmarks (frame-benchmarking v2) of the calls and of a slash, each in its
//! worst case.

use super::*;
use crate::Pallet as Deposits;
use frame_benchmarking::v2::*;
use frame_support::traits::{
    fungible::{Inspect, Mutate},
    Get,
};
use frame_system::RawOrigin;
use masp_primitives::traits::{HostDeposits, SlashDeposit};

/// An account funded with `units` times the minimum deposit (plus the
/// existential deposit).
fn funded<T: Config>(name: &'static str, units: u128) -> T::AccountId {
    let who: T::AccountId = account(name, 0, 0);
    let amount = T::MinDeposit::get()
        .saturating_mul(units)
        .saturating_add(T::Currency::minimum_balance().saturating_mul(10));
    let _ = T::Currency::set_balance(&who, amount);
    who
}

#[benchmarks]
mod benchmarks {
    use super::*;

    /// Worst case: the host already has a deposit (read, added to, written).
    #[benchmark]
    fn deposit() {
        let host = funded::<T>("host", 100);
        let amount = T::MinDeposit::get();
        Deposits::<T>::deposit(RawOrigin::Signed(host.clone()).into(), amount).expect("funded");

        #[extrinsic_call]
        _(RawOrigin::Signed(host.clone()), amount);

        assert_eq!(Deposits::<T>::deposit_of(&host).total, amount * 2);
    }

    /// Worst case: a partial withdrawal (the record is rewritten, not removed).
    #[benchmark]
    fn withdraw() {
        let host = funded::<T>("host", 100);
        let amount = T::MinDeposit::get();
        Deposits::<T>::deposit(RawOrigin::Signed(host.clone()).into(), amount * 2).expect("funded");

        #[extrinsic_call]
        _(RawOrigin::Signed(host.clone()), amount);

        assert_eq!(Deposits::<T>::deposit_of(&host).total, amount);
    }

    /// Worst case: part of the slash pays the victim, the rest goes to the
    /// slash destination.
    #[benchmark]
    fn slash() {
        let host = funded::<T>("host", 100);
        let victim = funded::<T>("victim", 1);
        let amount = T::MinDeposit::get().saturating_mul(10);
        Deposits::<T>::deposit(RawOrigin::Signed(host.clone()).into(), amount).expect("funded");
        Deposits::<T>::reserve(&host, 1, amount).expect("free deposit");

        #[block]
        {
            Deposits::<T>::slash(1, amount / 2, &victim, amount / 4);
        }

        assert_eq!(Deposits::<T>::backing(1), amount - amount / 2);
    }

    impl_benchmark_test_suite!(Deposits, crate::mock::new_test_ext(), crate::mock::Test);
}
