//! Benchmarks (frame-benchmarking v2), each in its worst case: covers of
//! real market contracts, premiums moved between holds, and a claim that
//! pays the Sender and recovers from the host's deposit.

use super::*;
use crate::Pallet as Insurance;
use frame_benchmarking::v2::*;
use frame_support::traits::{fungible::Mutate, Get};
use frame_system::RawOrigin;
use masp_primitives::{
    market::ContractId,
    traits::{
        BenchmarkContracts, ContractEnd, ContractObserver, EpochClock, HostDeposits, SlashDeposit,
    },
    Balance,
};
use sp_runtime::Perbill;

/// Plenty for any benchmark account.
const FUNDS: Balance = 1 << 100;

fn funded<T: Config>(name: &'static str) -> T::AccountId {
    let who: T::AccountId = account(name, 0, 0);
    T::Currency::set_balance(&who, FUNDS);
    who
}

/// An insurer with `1000 x MinCapital` of capital and an offer.
fn insurer<T: Config>() -> T::AccountId {
    let who = funded::<T>("insurer");
    let capital = T::MinCapital::get().saturating_mul(1_000);
    Insurance::<T>::deposit_capital(RawOrigin::Signed(who.clone()).into(), capital)
        .expect("funded");
    Insurance::<T>::set_offer(
        RawOrigin::Signed(who.clone()).into(),
        Perbill::from_parts(1_000_000),
        capital,
        0,
    )
    .expect("an insurer");
    who
}

/// A contract of a funded Sender (`host`, `sender`, id).
fn contract<T: Config>() -> (T::AccountId, T::AccountId, ContractId) {
    let host: T::AccountId = account("host", 0, 0);
    let sender = funded::<T>("sender");
    // 1 GiB (2^21 leaves of 512 bytes), not started, backed by the deposit.
    let (id, _) = T::BenchmarkHelper::confirmed_contract(
        &host,
        &sender,
        [7; 32],
        masp_primitives::market::GIB / 512,
    )
    .expect("the market makes a benchmark contract");
    (host, sender, id)
}

/// The cover bought in the benchmarks: as much as the host's deposit backs
/// (always sold), so a claim pays from capital and recovers by a slash.
fn cover_amount<T: Config>(id: ContractId) -> Balance {
    T::Deposits::backing(id).max(1)
}

/// A covered contract: (host, sender, insurer, id).
fn covered<T: Config>() -> (T::AccountId, T::AccountId, T::AccountId, ContractId) {
    let insurer = insurer::<T>();
    let (host, sender, id) = contract::<T>();
    Insurance::<T>::buy_cover(
        RawOrigin::Signed(sender.clone()).into(),
        id,
        insurer.clone(),
        cover_amount::<T>(id),
        Perbill::one(),
    )
    .expect("a coverable contract");
    (host, sender, insurer, id)
}

/// Moves into the epoch after `cover`'s first one.
fn after_start<T: Config>(id: ContractId) {
    let start = Covers::<T>::get(id).expect("covered").start;
    let block = T::Epochs::epoch_start(start.saturating_add(1));
    frame_system::Pallet::<T>::set_block_number(block);
}

#[benchmarks]
mod benchmarks {
    use super::*;

    /// Adding to an existing insurer's capital.
    #[benchmark]
    fn deposit_capital() {
        let who = insurer::<T>();
        let amount = T::MinCapital::get();

        #[extrinsic_call]
        _(RawOrigin::Signed(who.clone()), amount);

        assert!(Insurers::<T>::get(&who).is_some());
    }

    /// Withdrawing all capital: the insurer's record and offer go too.
    #[benchmark]
    fn withdraw_capital() {
        let who = insurer::<T>();
        let amount = Insurers::<T>::get(&who).expect("insurer").capital;

        #[extrinsic_call]
        _(RawOrigin::Signed(who.clone()), amount);

        assert!(Insurers::<T>::get(&who).is_none());
        assert!(Offers::<T>::get(&who).is_none());
    }

    #[benchmark]
    fn set_offer() {
        let who = insurer::<T>();

        #[extrinsic_call]
        _(
            RawOrigin::Signed(who.clone()),
            Perbill::from_parts(2_000_000),
            T::MinCapital::get(),
            1,
        );

        assert_eq!(
            Offers::<T>::get(&who).map(|o| o.premium),
            Some(Perbill::from_parts(2_000_000))
        );
    }

    #[benchmark]
    fn remove_offer() {
        let who = insurer::<T>();

        #[extrinsic_call]
        _(RawOrigin::Signed(who.clone()));

        assert!(Offers::<T>::get(&who).is_none());
    }

    /// Buying cover: the contract, the offer, the host's rating, the
    /// insurer, the deposit backing the contract read, the premium held.
    #[benchmark]
    fn buy_cover() {
        let insurer = insurer::<T>();
        let (_, sender, id) = contract::<T>();
        let amount = cover_amount::<T>(id);

        #[extrinsic_call]
        _(
            RawOrigin::Signed(sender),
            id,
            insurer,
            amount,
            Perbill::one(),
        );

        assert!(Covers::<T>::get(id).is_some());
    }

    /// Paying an insurer the premium of the epochs that ended.
    #[benchmark]
    fn collect_premium() {
        let (_, _, insurer, id) = covered::<T>();
        after_start::<T>(id);
        let caller = funded::<T>("caller");

        #[extrinsic_call]
        _(RawOrigin::Signed(caller), id);

        let cover = Covers::<T>::get(id).expect("still covered");
        assert!(cover.next_unpaid > cover.start);
        let _ = insurer;
    }

    /// Ending a cover with premium to pay and to refund.
    #[benchmark]
    fn cancel_cover() {
        let (_, sender, _, id) = covered::<T>();
        after_start::<T>(id);

        #[extrinsic_call]
        _(RawOrigin::Signed(sender), id);

        assert!(Covers::<T>::get(id).is_none());
    }

    /// The insurance part of a contract ending with its data lost: the
    /// term's premium paid, the claim paid from capital and recovered by a
    /// slash of the host's deposit. What the market adds to its end paths
    /// ([`ContractObserver::contract_ended_weight`]).
    #[benchmark]
    fn claim() {
        let (host, sender, insurer, id) = covered::<T>();
        after_start::<T>(id);
        // The Sender was already paid a slash for a miss.
        let backing = T::Deposits::backing(id);
        T::Deposits::slash(id, backing / 10, &sender, backing / 10);
        let capital = Insurers::<T>::get(&insurer).expect("insurer").capital;
        let to_victims = T::Deposits::paid_to_victims(id);

        #[block]
        {
            <Insurance<T> as ContractObserver<T::AccountId, Balance>>::contract_ended(
                id,
                &host,
                &sender,
                ContractEnd::DataLost,
                0,
            );
        }

        assert!(Covers::<T>::get(id).is_none());
        // The insurer paid, and recovered from the host's deposit.
        assert!(Insurers::<T>::get(&insurer).map_or(0, |i| i.capital) < capital);
        assert!(T::Deposits::paid_to_victims(id) > to_victims);
    }

    impl_benchmark_test_suite!(Insurance, crate::mock::new_test_ext(), crate::mock::Test);
}
