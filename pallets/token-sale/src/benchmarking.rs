//! Benchmarks of every call (frame-benchmarking v2), each in its worst case.

use super::*;
use crate::Pallet as TokenSale;
use frame_benchmarking::v2::*;
use frame_support::traits::{fungible::Inspect, EnsureOrigin, Get, SortedMembers};
use frame_system::{pallet_prelude::BlockNumberFor, RawOrigin};
use sp_runtime::traits::{One, Zero};

/// A normalised (lowercase hex) external tx id, distinct per `seed`, as long
/// as one whose `0x` spelling has the maximum length.
fn long_tx_id(seed: u8) -> ExternalTxId {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut v = alloc::vec![b'f'; MAX_TX_ID_LEN as usize - 2];
    v[0] = HEX[usize::from(seed >> 4)];
    v[1] = HEX[usize::from(seed & 0x0f)];
    v.try_into().expect("exactly the maximum length")
}

/// The same id as [`long_tx_id`] as an attester might spell it: `0X` and
/// uppercase, the maximum length (the most normalisation work).
fn long_tx_id_spelt(seed: u8) -> ExternalTxId {
    let mut v = alloc::vec![b'0', b'X'];
    v.extend(long_tx_id(seed).iter().map(u8::to_ascii_uppercase));
    v.try_into().expect("exactly the maximum length")
}

/// A claim worth `usd` for `buyer`.
fn claim_of<T: Config>(buyer: &T::AccountId, usd: UsdMicros) -> ContributionClaim<T::AccountId> {
    ContributionClaim {
        buyer: buyer.clone(),
        amount_in_currency: u128::MAX,
        usd_value: usd,
    }
}

/// Puts `votes` on the payment `key` as if each voter had voted (one open vote
/// each), without the committee having to hold them all now.
fn put_votes<T: Config>(
    key: &ContributionKey,
    votes: alloc::vec::Vec<AttestationVote<T::AccountId>>,
) {
    for vote in &votes {
        PendingOf::<T>::mutate(&vote.attester, |n| *n = n.saturating_add(1));
    }
    let votes: VotesOf<T> = votes.try_into().expect("at most MaxAttesters votes");
    Pending::<T>::insert(key, votes);
}

/// A payment holding `MaxAttesters` votes for distinct claims of distinct
/// voters (the most any payment holds).
fn full_votes<T: Config>(key: &ContributionKey) -> alloc::vec::Vec<T::AccountId> {
    let buyer: T::AccountId = account("buyer", 0, 0);
    let votes: alloc::vec::Vec<_> = (0..T::MaxAttesters::get())
        .map(|i| AttestationVote {
            attester: account("voter", i, 0),
            claim: claim_of::<T>(&buyer, MIN_CONTRIBUTION_MICRO_USD + UsdMicros::from(i)),
        })
        .collect();
    let voters = votes.iter().map(|v| v.attester.clone()).collect();
    put_votes::<T>(key, votes);
    voters
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
            long_tx_id_spelt(1),
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
            long_tx_id_spelt(1),
            long_tx_id_spelt(2),
        );

        assert_eq!(Buyers::<T>::get(&buyer).map(|b| b.refunded), Some(1));
        Ok(())
    }

    #[benchmark]
    fn attest() -> Result<(), BenchmarkError> {
        active_sale::<T>();
        AttestThreshold::<T>::put(MIN_ATTEST_THRESHOLD);
        // Worst case: the vote that completes a payment holding
        // MaxAttesters - 1 votes (one agreeing, the others for competing
        // claims, every voter distinct): all of them are dropped and their
        // slots freed, and the contribution is counted for a new buyer,
        // crossing the hard cap (excess recorded, sale ended).
        Raised::<T>::put(HARD_CAP_MICRO_USD - 1);
        let key = (Currency::Eth, long_tx_id(1));
        let buyer: T::AccountId = account("buyer", 1, 0);
        let agreed = claim_of::<T>(&buyer, MIN_CONTRIBUTION_MICRO_USD);
        let agreeing: T::AccountId = account("voter", 0, 0);
        T::Attesters::add(&agreeing);
        let mut votes = alloc::vec![AttestationVote {
            attester: agreeing,
            claim: agreed.clone(),
        }];
        for i in 1..T::MaxAttesters::get().saturating_sub(1) {
            votes.push(AttestationVote {
                attester: account("voter", i, 0),
                claim: claim_of::<T>(&buyer, MIN_CONTRIBUTION_MICRO_USD + UsdMicros::from(i)),
            });
        }
        put_votes::<T>(&key, votes);
        let caller: T::AccountId = whitelisted_caller();
        T::Attesters::add(&caller);
        let competitor: T::AccountId = account("voter", 1, 0);
        assert_eq!(PendingOf::<T>::get(&competitor), 1);

        #[extrinsic_call]
        _(
            RawOrigin::Signed(caller),
            buyer.clone(),
            Currency::Eth,
            long_tx_id_spelt(1),
            agreed.amount_in_currency,
            agreed.usd_value,
        );

        assert!(Contributions::<T>::contains_key(&key));
        assert!(HardCapReachedAt::<T>::get().is_some());
        assert_eq!(PendingOf::<T>::get(&competitor), 0);
        assert_eq!(Buyers::<T>::get(&buyer).map(|b| b.contributions), Some(1));
        Ok(())
    }

    #[benchmark]
    fn withdraw_attestation() -> Result<(), BenchmarkError> {
        // Worst case: the caller's vote is the last of a full payment (found
        // after every other; the others stay).
        let key = (Currency::Eth, long_tx_id(1));
        let voters = full_votes::<T>(&key);
        let caller = voters.last().cloned().ok_or(BenchmarkError::Weightless)?;

        #[extrinsic_call]
        _(
            RawOrigin::Signed(caller.clone()),
            Currency::Eth,
            long_tx_id_spelt(1),
        );

        assert_eq!(PendingOf::<T>::get(&caller), 0);
        assert_eq!(
            Pending::<T>::get(&key).map(|v| v.len() as u32),
            Some(T::MaxAttesters::get() - 1)
        );
        Ok(())
    }

    #[benchmark]
    fn prune_attestation() -> Result<(), BenchmarkError> {
        // Worst case: a full payment, the sale still active (every phase check
        // read) and the payment counted by the sale authority meanwhile.
        active_sale::<T>();
        let key = (Currency::Btc, long_tx_id(1));
        let voters = full_votes::<T>(&key);
        let buyer: T::AccountId = account("buyer", 0, 0);
        contribute::<T>(&buyer, 1, MIN_CONTRIBUTION_MICRO_USD)?;
        let caller: T::AccountId = whitelisted_caller();

        #[extrinsic_call]
        _(
            RawOrigin::Signed(caller),
            Currency::Btc,
            long_tx_id_spelt(1),
        );

        assert!(!Pending::<T>::contains_key(&key));
        assert!(voters.iter().all(|v| PendingOf::<T>::get(v) == 0));
        Ok(())
    }

    #[benchmark]
    fn clear_attestation() -> Result<(), BenchmarkError> {
        let origin =
            T::SaleOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
        // Worst case: a full payment.
        let key = (Currency::Eth, long_tx_id(1));
        let voters = full_votes::<T>(&key);

        #[extrinsic_call]
        _(
            origin as T::RuntimeOrigin,
            Currency::Eth,
            long_tx_id_spelt(1),
        );

        assert!(!Pending::<T>::contains_key(&key));
        assert!(voters.iter().all(|v| PendingOf::<T>::get(v) == 0));
        Ok(())
    }

    #[benchmark]
    fn set_attest_threshold() -> Result<(), BenchmarkError> {
        let origin =
            T::SaleOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
        let threshold = T::MaxAttesters::get();

        #[extrinsic_call]
        _(origin as T::RuntimeOrigin, threshold);

        assert_eq!(AttestThreshold::<T>::get(), threshold);
        Ok(())
    }

    impl_benchmark_test_suite!(
        TokenSale,
        crate::mock::ExtBuilder::unscheduled().build(),
        crate::mock::Test
    );
}
