//! Benchmarks of every call (frame-benchmarking v2), each in its worst case.

use super::*;
use crate::Pallet as TokenSale;
use frame_benchmarking::v2::*;
use frame_support::traits::{fungible::Inspect, EnsureOrigin};
use frame_system::{pallet_prelude::BlockNumberFor, RawOrigin};
use sp_runtime::traits::{One, Zero};

/// An external tx id of the maximum length, distinct per `seed`.
fn long_tx_id(seed: u8) -> ExternalTxId {
    let mut v = alloc::vec![b'x'; MAX_TX_ID_LEN as usize];
    v[0] = seed;
    v.try_into().expect("exactly the maximum length")
}

/// A sale that started at the current block, with 10-block days.
fn active_sale<T: Config>() -> SaleSchedule<BlockNumberFor<T>> {
    let now = frame_system::Pallet::<T>::block_number();
    let schedule = SaleSchedule {
        start: now,
        day_length: 10u32.into(),
    };
    Schedule::<T>::put(schedule);
    schedule
}

/// Attests one `usd` contribution of `buyer` under `seed`.
fn contribute<T: Config>(
    buyer: &T::AccountId,
    seed: u8,
    usd: UsdMicros,
) -> Result<(), BenchmarkError> {
    let origin = T::SaleOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
    TokenSale::<T>::attest_contribution(
        origin,
        buyer.clone(),
        Currency::Btc,
        long_tx_id(seed),
        1,
        usd,
    )?;
    Ok(())
}

/// Moves past the end of `schedule`.
fn end_sale<T: Config>(schedule: &SaleSchedule<BlockNumberFor<T>>) {
    frame_system::Pallet::<T>::set_block_number(TokenSale::<T>::end_of(schedule));
}

#[benchmarks]
mod benchmarks {
    use super::*;

    #[benchmark]
    fn schedule_sale() -> Result<(), BenchmarkError> {
        let origin =
            T::SaleOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
        let now = frame_system::Pallet::<T>::block_number();
        // Worst case: a schedule exists (read and compared) and is replaced.
        Schedule::<T>::put(SaleSchedule {
            start: now + 100u32.into(),
            day_length: One::one(),
        });
        let start = now + 10u32.into();

        #[extrinsic_call]
        _(origin as T::RuntimeOrigin, start, 14_400u32.into());

        assert_eq!(Schedule::<T>::get().map(|s| s.start), Some(start));
        Ok(())
    }

    #[benchmark]
    fn attest_contribution() -> Result<(), BenchmarkError> {
        let origin =
            T::SaleOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
        active_sale::<T>();
        // Worst case: a new buyer (account reference taken) whose contribution
        // crosses the hard cap (excess recorded, sale ended).
        Raised::<T>::put(HARD_CAP_MICRO_USD - 1);
        let buyer: T::AccountId = whitelisted_caller();

        #[extrinsic_call]
        _(
            origin as T::RuntimeOrigin,
            buyer.clone(),
            Currency::Eth,
            long_tx_id(1),
            u128::MAX,
            MIN_CONTRIBUTION_MICRO_USD,
        );

        assert!(HardCapReachedAt::<T>::get().is_some());
        assert_eq!(Buyers::<T>::get(&buyer).map(|b| b.contributions), Some(1));
        Ok(())
    }

    #[benchmark]
    fn finalize() -> Result<(), BenchmarkError> {
        let schedule = active_sale::<T>();
        let buyer: T::AccountId = account("buyer", 0, 0);
        contribute::<T>(&buyer, 1, SOFT_CAP_MICRO_USD)?;
        end_sale::<T>(&schedule);
        let caller: T::AccountId = whitelisted_caller();

        #[extrinsic_call]
        _(RawOrigin::Signed(caller));

        assert!(matches!(
            Outcome::<T>::get(),
            Some(SaleOutcome::Succeeded { .. })
        ));
        Ok(())
    }

    #[benchmark]
    fn claim() -> Result<(), BenchmarkError> {
        let schedule = active_sale::<T>();
        // Worst case: the buyer holds nothing yet (a new account is created and
        // the sale's account reference released).
        let buyer: T::AccountId = whitelisted_caller();
        contribute::<T>(&buyer, 1, SOFT_CAP_MICRO_USD)?;
        end_sale::<T>(&schedule);
        TokenSale::<T>::finalize(RawOrigin::Signed(buyer.clone()).into())?;
        assert!(T::Currency::balance(&buyer).is_zero());

        #[extrinsic_call]
        _(RawOrigin::Signed(buyer.clone()));

        assert!(!T::Currency::balance(&buyer).is_zero());
        Ok(())
    }

    #[benchmark]
    fn mark_refunded() -> Result<(), BenchmarkError> {
        let origin =
            T::SaleOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
        let schedule = active_sale::<T>();
        // Worst case: a failed sale's last contribution of a buyer (its account
        // reference is released).
        let buyer: T::AccountId = account("buyer", 0, 0);
        contribute::<T>(&buyer, 1, MIN_CONTRIBUTION_MICRO_USD)?;
        end_sale::<T>(&schedule);
        TokenSale::<T>::finalize(RawOrigin::Signed(buyer.clone()).into())?;

        #[extrinsic_call]
        _(
            origin as T::RuntimeOrigin,
            Currency::Btc,
            long_tx_id(1),
            long_tx_id(2),
        );

        assert_eq!(Buyers::<T>::get(&buyer).map(|b| b.refunded), Some(1));
        Ok(())
    }

    impl_benchmark_test_suite!(
        TokenSale,
        crate::mock::ExtBuilder::unscheduled().build(),
        crate::mock::Test
    );
}
