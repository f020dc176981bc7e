//! # Token sale pallet
//!
//! The MASP ICO of the white paper ("MASP emission"), as runtime rules:
//!
//! - **One sale, 6 weeks** ([`SALE_DAYS`] days of `day_length` blocks from a
//!   start block set at genesis or by [`Pallet::schedule_sale`]); nothing is
//!   counted before the start block (no pre-sale).
//! - **Price** 1 MASP = $0.35 ([`PRICE_MICRO_USD`]), **minimum** $35 per
//!   contribution. USD amounts are integer micro-dollars; token amounts use
//!   MASP's 12 decimals; every division rounds down, in the chain's favour.
//! - **Bonus** by the day of attestation: +25% on day 1, +15% days 2-11, +10%
//!   days 12-25, none from day 26 ([`bonus_percent`]).
//! - **Contributions** are paid off-chain (ETH, ETC, BTC, BCH, LTC, DASH, SC,
//!   STORJ) and attested on chain; a `(currency, external tx id)` is counted
//!   once. Two ways to attest:
//!   - **the attester committee** ([`Pallet::attest`]): the members of
//!     `Config::Attesters` (a set managed by governance, e.g. a
//!     `pallet-membership` instance) each vote for a claim `(buyer, amount,
//!     USD value)` on a payment `(currency, tx id)`. The payment counts when
//!     **M of them** ([`AttestThreshold`], never below
//!     [`MIN_ATTEST_THRESHOLD`] = 2) agree on the same claim: one attester
//!     alone can never mint. Only votes of accounts that are attesters *now*
//!     count. An attester votes once per payment (it may
//!     [`Pallet::withdraw_attestation`] and vote again), keeps at most
//!     `Config::MaxPendingPerAttester` votes open, and a payment keeps at most
//!     `Config::MaxAttesters` votes, so a hostile attester cannot bloat
//!     storage; votes left when the sale is over (or on a payment counted the
//!     other way) are removed by anyone ([`Pallet::prune_attestation`]), and
//!     governance may remove them at any time ([`Pallet::clear_attestation`]);
//!   - **the sale authority** alone ([`Pallet::attest_contribution`], root on
//!     the dev chain).
//!
//!   Transaction ids are **normalised** before use ([`normalize_tx_id`]: one
//!   leading `0x` removed, lowercased, only ASCII letters and digits), so
//!   `0xABC…` and `abc…` are one payment, counted once, whichever path
//!   attests it.
//! - **Caps**: soft $15M, hard $50M of USD raised (bonuses do not count). The
//!   part of a contribution above the hard cap is recorded as refundable, and
//!   reaching the hard cap ends the sale.
//! - **End**: anyone calls [`Pallet::finalize`]. Soft cap met: allocations
//!   become claimable and the proceeds split 67/3/5/15/10 is recorded. Soft cap
//!   missed: nothing is minted and every contribution is refundable.
//! - **Claims and refunds**: buyers [`Pallet::claim`] (feeless while they have
//!   an unclaimed allocation, so an account with no MASP can claim); refunds
//!   are paid off-chain and recorded once each ([`Pallet::mark_refunded`]).
//! - **No emission after the ICO**: `claim` is the only code that mints MASP;
//!   `try_state` checks `total issuance == genesis issuance + claimed` and
//!   `claimed <= allocated`.
//!
//! No call or hook loops over buyers or contributions: the phase is derived
//! from the block number, and "refundable after a failed sale" is derived from
//! the outcome rather than written into every contribution.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;
pub use types::*;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
mod types;
pub mod weights;

#[frame_support::pallet]
pub mod pallet {
    use super::*;
    use alloc::vec::Vec;
    use frame_support::{
        pallet_prelude::*,
        traits::{
            fungible::{Inspect, Mutate},
            SortedMembers,
        },
    };
    use frame_system::pallet_prelude::*;
    use sp_runtime::traits::{CheckedAdd, CheckedMul, Saturating, UniqueSaturatedInto, Zero};

    /// Balance type of the token sold.
    pub type BalanceOf<T> =
        <<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;

    /// A contribution as stored.
    pub type ContributionOf<T> =
        Contribution<<T as frame_system::Config>::AccountId, BalanceOf<T>, BlockNumberFor<T>>;

    /// The key of a contribution: the external chain's currency and tx id
    /// (normalised, see [`normalize_tx_id`]).
    pub type ContributionKey = (Currency, ExternalTxId);

    /// A payment that passed the checks of every attestation: its normalised
    /// key, the current block and the sale's schedule.
    pub(crate) type Validated<T> = (
        ContributionKey,
        BlockNumberFor<T>,
        SaleSchedule<BlockNumberFor<T>>,
    );

    /// The votes kept on one payment (at most `MaxAttesters`).
    pub type VotesOf<T> = BoundedVec<
        AttestationVote<<T as frame_system::Config>::AccountId>,
        <T as Config>::MaxAttesters,
    >;

    /// The layout of this pallet's storage. Bump it with every change to a
    /// stored type or key, together with a migration from the previous
    /// version (see pallets/README.md, "Storage versions and migrations").
    const STORAGE_VERSION: StorageVersion = StorageVersion::new(0);

    #[pallet::pallet]
    #[pallet::storage_version(STORAGE_VERSION)]
    pub struct Pallet<T>(_);

    /// A contribution about to be counted: every value computed and checked
    /// by [`Pallet::prepare_count`], written by [`Pallet::apply_count`].
    pub(crate) struct Counting<T: Config> {
        /// Its normalised `(currency, tx id)`.
        key: ContributionKey,
        /// The buyer's record with this contribution added.
        info: BuyerInfo<BalanceOf<T>>,
        /// The contribution as it will be stored.
        contribution: ContributionOf<T>,
        /// The sale day it is counted on.
        day: u32,
        /// USD raised with it.
        new_raised: UsdMicros,
        /// Tokens allocated with it.
        total_allocated: BalanceOf<T>,
        /// USD above the hard cap with it.
        total_excess: UsdMicros,
    }

    #[pallet::config]
    pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
        /// The token sold (MASP): minted only by [`Pallet::claim`].
        type Currency: Mutate<Self::AccountId>;

        /// Who attests contributions alone, schedules the sale, records
        /// refunds, sets the attesters' threshold and clears their votes (root
        /// on the dev chain).
        type SaleOrigin: EnsureOrigin<Self::RuntimeOrigin>;

        /// The attester committee: accounts that may [`Pallet::attest`]
        /// payments (a `pallet-membership` instance managed by governance).
        /// Only votes of current members count toward the threshold.
        type Attesters: SortedMembers<Self::AccountId>;

        /// Most votes kept on one payment (across all its claims), and the
        /// highest threshold. At least 2; should be at least the attester
        /// set's maximum size, or the set could fill a payment's votes
        /// without agreeing.
        #[pallet::constant]
        type MaxAttesters: Get<u32>;

        /// Most unfinished votes one attester may have open at a time: a
        /// hostile attester cannot bloat storage beyond this. At least 1.
        #[pallet::constant]
        type MaxPendingPerAttester: Get<u32>;

        /// Smallest units per whole token (10^12 for MASP).
        #[pallet::constant]
        type TokenUnit: Get<u128>;

        /// Weights of the calls, from the pallet's benchmarks.
        type WeightInfo: WeightInfo;
    }

    /// When the sale runs. Set once (genesis or `schedule_sale`), immutable
    /// from its start block on.
    #[pallet::storage]
    pub type Schedule<T: Config> = StorageValue<_, SaleSchedule<BlockNumberFor<T>>, OptionQuery>;

    /// USD counted toward the caps so far. Never above [`HARD_CAP_MICRO_USD`].
    #[pallet::storage]
    pub type Raised<T: Config> = StorageValue<_, UsdMicros, ValueQuery>;

    /// The block in which the hard cap was reached (the sale ended early).
    #[pallet::storage]
    pub type HardCapReachedAt<T: Config> = StorageValue<_, BlockNumberFor<T>, OptionQuery>;

    /// The sale's result, once finalized.
    #[pallet::storage]
    pub type Outcome<T: Config> = StorageValue<_, SaleOutcome<BlockNumberFor<T>>, OptionQuery>;

    /// Every attested contribution by `(currency, external tx id)`.
    #[pallet::storage]
    pub type Contributions<T: Config> =
        StorageMap<_, Blake2_128Concat, ContributionKey, ContributionOf<T>, OptionQuery>;

    /// Index of each buyer's contributions (for queries; never iterated on chain).
    #[pallet::storage]
    pub type ContributionsOf<T: Config> = StorageDoubleMap<
        _,
        Blake2_128Concat,
        T::AccountId,
        Blake2_128Concat,
        ContributionKey,
        (),
        OptionQuery,
    >;

    /// What each buyer has in the sale.
    #[pallet::storage]
    pub type Buyers<T: Config> =
        StorageMap<_, Blake2_128Concat, T::AccountId, BuyerInfo<BalanceOf<T>>, OptionQuery>;

    /// Recorded refund transactions `(currency, refund tx id)` and the
    /// contribution each one refunded: a refund tx is recorded once.
    #[pallet::storage]
    pub type RefundTxs<T: Config> =
        StorageMap<_, Blake2_128Concat, ContributionKey, ContributionKey, OptionQuery>;

    /// USD above the hard cap, recorded as refundable.
    #[pallet::storage]
    pub type ExcessUsd<T: Config> = StorageValue<_, UsdMicros, ValueQuery>;

    /// Tokens allocated to buyers (sum of all allocations).
    #[pallet::storage]
    pub type TotalAllocated<T: Config> = StorageValue<_, BalanceOf<T>, ValueQuery>;

    /// Tokens claimed, i.e. minted by this pallet. Never above [`TotalAllocated`].
    #[pallet::storage]
    pub type TotalClaimed<T: Config> = StorageValue<_, BalanceOf<T>, ValueQuery>;

    /// Total issuance at genesis, before the sale: issuance must always equal
    /// this plus [`TotalClaimed`].
    #[pallet::storage]
    pub type GenesisIssuance<T: Config> = StorageValue<_, BalanceOf<T>, ValueQuery>;

    /// The default attest threshold: [`MIN_ATTEST_THRESHOLD`].
    #[pallet::type_value]
    pub fn DefaultAttestThreshold() -> u32 {
        MIN_ATTEST_THRESHOLD
    }

    /// M: how many attesters (current members of `Config::Attesters`) must
    /// agree on the same claim for a payment to count. Between
    /// [`MIN_ATTEST_THRESHOLD`] and `MaxAttesters`; set at genesis or by
    /// [`Pallet::set_attest_threshold`].
    #[pallet::storage]
    pub type AttestThreshold<T: Config> = StorageValue<_, u32, ValueQuery, DefaultAttestThreshold>;

    /// The attesters' votes on payments not counted yet, by normalised
    /// `(currency, tx id)`: at most `MaxAttesters`, one per attester.
    #[pallet::storage]
    pub type Pending<T: Config> =
        StorageMap<_, Blake2_128Concat, ContributionKey, VotesOf<T>, OptionQuery>;

    /// How many votes each account has in [`Pending`] (at most
    /// `MaxPendingPerAttester` when it voted); no entry means none.
    #[pallet::storage]
    pub type PendingOf<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, u32, ValueQuery>;

    #[pallet::genesis_config]
    pub struct GenesisConfig<T: Config> {
        /// The sale schedule, if the chain starts with one.
        pub schedule: Option<SaleSchedule<BlockNumberFor<T>>>,
        /// M: agreeing attesters needed for a payment to count (2 by default;
        /// from [`MIN_ATTEST_THRESHOLD`] to `MaxAttesters`).
        pub attest_threshold: u32,
    }

    impl<T: Config> Default for GenesisConfig<T> {
        fn default() -> Self {
            Self {
                schedule: None,
                attest_threshold: MIN_ATTEST_THRESHOLD,
            }
        }
    }

    #[pallet::genesis_build]
    impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
        fn build(&self) {
            if let Some(schedule) = self.schedule {
                assert!(
                    Pallet::<T>::schedule_is_valid(&schedule),
                    "token sale genesis: day_length must be > 0 and the end block must fit"
                );
                Schedule::<T>::put(schedule);
            }
            assert!(
                Pallet::<T>::threshold_is_valid(self.attest_threshold).is_ok(),
                "token sale genesis: attest_threshold must be from 2 to MaxAttesters"
            );
            AttestThreshold::<T>::put(self.attest_threshold);
            // Balances' genesis runs first (lower pallet index): this is the
            // issuance before any sale.
            GenesisIssuance::<T>::put(T::Currency::total_issuance());
        }
    }

    #[pallet::event]
    #[pallet::generate_deposit(pub(super) fn deposit_event)]
    pub enum Event<T: Config> {
        /// The sale was scheduled.
        SaleScheduled {
            start: BlockNumberFor<T>,
            day_length: BlockNumberFor<T>,
            end: BlockNumberFor<T>,
        },
        /// A contribution was attested and counted (by the sale authority, or
        /// by the vote that made M attesters agree). `external_tx_id` is
        /// normalised.
        ContributionAttested {
            buyer: T::AccountId,
            currency: Currency,
            external_tx_id: ExternalTxId,
            amount_in_currency: u128,
            usd_value: UsdMicros,
            counted_usd: UsdMicros,
            excess_usd: UsdMicros,
            day: u32,
            bonus_percent: u8,
            tokens: BalanceOf<T>,
        },
        /// The hard cap was reached: the sale is over.
        HardCapReached { at: BlockNumberFor<T> },
        /// The sale was finalized with the soft cap met: tokens are claimable.
        SaleSucceeded {
            raised: UsdMicros,
            total_allocated: BalanceOf<T>,
            proceeds: ProceedsAllocation,
        },
        /// The sale was finalized with the soft cap missed: every contribution is refundable.
        SaleFailed { raised: UsdMicros },
        /// A buyer claimed (was minted) its tokens.
        Claimed {
            buyer: T::AccountId,
            amount: BalanceOf<T>,
        },
        /// The authority recorded an off-chain refund of a contribution.
        RefundRecorded {
            buyer: T::AccountId,
            currency: Currency,
            external_tx_id: ExternalTxId,
            refund_tx_id: ExternalTxId,
            usd_refunded: UsdMicros,
        },
        /// An attester voted for a claim on a payment. `votes` of the
        /// attesters agreeing on this claim are current attesters; the payment
        /// counts when they reach `threshold` (then `ContributionAttested`
        /// follows). `external_tx_id` is normalised.
        AttestationVoted {
            attester: T::AccountId,
            currency: Currency,
            external_tx_id: ExternalTxId,
            buyer: T::AccountId,
            amount_in_currency: u128,
            usd_value: UsdMicros,
            votes: u32,
            threshold: u32,
        },
        /// An attester withdrew its vote on a payment.
        AttestationWithdrawn {
            attester: T::AccountId,
            currency: Currency,
            external_tx_id: ExternalTxId,
        },
        /// The `votes` left on a payment that can no longer count (sale over)
        /// or was counted the other way were removed.
        AttestationPruned {
            currency: Currency,
            external_tx_id: ExternalTxId,
            votes: u32,
        },
        /// Governance removed the `votes` on a payment.
        AttestationCleared {
            currency: Currency,
            external_tx_id: ExternalTxId,
            votes: u32,
        },
        /// The attest threshold (M) was set.
        AttestThresholdSet { threshold: u32 },
    }

    #[pallet::error]
    pub enum Error<T> {
        /// `day_length` is zero or the sale's end block overflows.
        InvalidSchedule,
        /// The start block is in the past.
        StartInThePast,
        /// The sale has started (or ended): its schedule can no longer change.
        SaleAlreadyStarted,
        /// No sale is scheduled.
        NoSaleScheduled,
        /// The sale has not started yet (no pre-sale).
        SaleNotStarted,
        /// The sale's end block has passed.
        SaleEnded,
        /// The hard cap has been reached: the sale is over.
        HardCapReached,
        /// The sale has been finalized.
        AlreadyFinalized,
        /// A contribution is below the $35 minimum.
        ContributionTooSmall,
        /// The amount paid in the external currency is zero.
        ZeroAmount,
        /// The external transaction id is empty (or only `0x`).
        EmptyTxId,
        /// The external transaction id has a byte that is not an ASCII letter
        /// or digit (after an optional `0x` prefix).
        MalformedTxId,
        /// This `(currency, external tx id)` was already counted.
        DuplicateContribution,
        /// `finalize` before the end block with the hard cap not reached.
        SaleStillActive,
        /// The sale has not been finalized yet.
        NotFinalized,
        /// The sale failed (soft cap missed): there is nothing to claim.
        SaleFailed,
        /// The caller has no allocation.
        NothingToClaim,
        /// The caller has already claimed.
        AlreadyClaimed,
        /// No contribution with this `(currency, external tx id)`.
        UnknownContribution,
        /// The contribution has nothing refundable (sale succeeded, no excess
        /// over the hard cap) or the sale is not finalized yet.
        NothingToRefund,
        /// A refund of this contribution was already recorded.
        AlreadyRefunded,
        /// This refund transaction was already recorded.
        DuplicateRefundTx,
        /// An amount does not fit its type.
        Overflow,
        /// The caller is not a member of the attester committee.
        NotAnAttester,
        /// The caller already has a vote on this payment (withdraw it first to
        /// vote for another claim).
        AlreadyVoted,
        /// The caller has `MaxPendingPerAttester` unfinished votes open.
        TooManyPending,
        /// This payment already holds `MaxAttesters` votes: they must be
        /// withdrawn or cleared first.
        TooManyVotes,
        /// The caller has no vote on this payment.
        NotVoted,
        /// No votes are pending on this payment.
        NoPendingAttestation,
        /// The votes may still make the payment count: the sale is active and
        /// the payment is not counted yet.
        AttestationStillOpen,
        /// The threshold is below 2: one attester alone could mint.
        ThresholdTooLow,
        /// The threshold is above `MaxAttesters`: no payment could ever count.
        ThresholdTooHigh,
    }

    #[pallet::hooks]
    impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
        fn integrity_test() {
            assert!(T::TokenUnit::get() > 0, "TokenUnit must be > 0");
            assert!(
                T::MaxAttesters::get() >= MIN_ATTEST_THRESHOLD,
                "MaxAttesters must be >= 2 (the lowest threshold)"
            );
            assert!(
                T::MaxPendingPerAttester::get() >= 1,
                "MaxPendingPerAttester must be >= 1"
            );
            // The largest allocation (hard cap at +25%) must fit the balance type.
            let max = tokens_for(HARD_CAP_MICRO_USD, 25, T::TokenUnit::get());
            assert!(
                max.is_some_and(|m| BalanceOf::<T>::try_from(m).is_ok()),
                "the largest allocation (hard cap at +25%) must fit u128 and the Balance type"
            );
        }

        #[cfg(feature = "try-runtime")]
        fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
            Self::do_try_state()
        }
    }

    #[pallet::call]
    impl<T: Config> Pallet<T> {
        /// Schedules the sale: it starts at block `start` and lasts
        /// [`SALE_DAYS`] days of `day_length` blocks.
        ///
        /// Origin: the sale authority. Only while no sale has started; `start`
        /// may not be in the past.
        #[pallet::call_index(0)]
        #[pallet::weight(T::WeightInfo::schedule_sale())]
        pub fn schedule_sale(
            origin: OriginFor<T>,
            start: BlockNumberFor<T>,
            day_length: BlockNumberFor<T>,
        ) -> DispatchResult {
            T::SaleOrigin::ensure_origin(origin)?;
            let now = frame_system::Pallet::<T>::block_number();
            if let Some(current) = Schedule::<T>::get() {
                ensure!(now < current.start, Error::<T>::SaleAlreadyStarted);
            }
            ensure!(start >= now, Error::<T>::StartInThePast);
            let schedule = SaleSchedule { start, day_length };
            ensure!(
                Self::schedule_is_valid(&schedule),
                Error::<T>::InvalidSchedule
            );
            Schedule::<T>::put(schedule);
            Self::deposit_event(Event::SaleScheduled {
                start,
                day_length,
                end: Self::end_of(&schedule),
            });
            Ok(())
        }

        /// Attests a contribution paid off-chain: `buyer` paid
        /// `amount_in_currency` (smallest unit) of `currency` in transaction
        /// `external_tx_id`, worth `usd_value` micro-dollars.
        ///
        /// Origin: the sale authority (alone: no attester vote is needed). The
        /// sale must be active; the contribution at least $35; the
        /// `(currency, external_tx_id)` well formed and new once normalised
        /// ([`normalize_tx_id`]). The bonus is the one of the current sale day.
        /// The part above the hard cap is recorded as refundable and earns
        /// nothing; reaching the hard cap ends the sale. Votes of attesters on
        /// the same payment are left for [`Pallet::prune_attestation`].
        #[pallet::call_index(1)]
        #[pallet::weight(T::WeightInfo::attest_contribution())]
        pub fn attest_contribution(
            origin: OriginFor<T>,
            buyer: T::AccountId,
            currency: Currency,
            external_tx_id: ExternalTxId,
            amount_in_currency: u128,
            usd_value: UsdMicros,
        ) -> DispatchResult {
            T::SaleOrigin::ensure_origin(origin)?;
            let (key, now, schedule) = Self::validate_contribution(
                currency,
                &external_tx_id,
                amount_in_currency,
                usd_value,
            )?;
            let counting =
                Self::prepare_count(buyer, key, amount_in_currency, usd_value, now, &schedule)?;
            // Every check is done: from here on, only writes.
            Self::apply_count(counting);
            Ok(())
        }

        /// Ends the sale once its end block has passed or the hard cap was
        /// reached. Soft cap met: allocations become claimable and the proceeds
        /// allocation is recorded. Soft cap missed: every contribution becomes
        /// refundable and nothing will ever be minted.
        ///
        /// Origin: anyone (signed).
        #[pallet::call_index(2)]
        #[pallet::weight(T::WeightInfo::finalize())]
        pub fn finalize(origin: OriginFor<T>) -> DispatchResult {
            ensure_signed(origin)?;
            ensure!(Outcome::<T>::get().is_none(), Error::<T>::AlreadyFinalized);
            let schedule = Schedule::<T>::get().ok_or(Error::<T>::NoSaleScheduled)?;
            let now = frame_system::Pallet::<T>::block_number();
            ensure!(
                now >= Self::end_of(&schedule) || HardCapReachedAt::<T>::get().is_some(),
                Error::<T>::SaleStillActive
            );
            let raised = Raised::<T>::get();
            if raised >= SOFT_CAP_MICRO_USD {
                let proceeds = ProceedsAllocation::split(raised);
                Outcome::<T>::put(SaleOutcome::Succeeded {
                    at: now,
                    raised,
                    proceeds,
                });
                Self::deposit_event(Event::SaleSucceeded {
                    raised,
                    total_allocated: TotalAllocated::<T>::get(),
                    proceeds,
                });
            } else {
                Outcome::<T>::put(SaleOutcome::Failed { at: now, raised });
                Self::deposit_event(Event::SaleFailed { raised });
            }
            Ok(())
        }

        /// Mints the caller's allocation (tokens bought plus bonus) to it.
        ///
        /// Origin: a buyer, after a successful sale. Feeless while the caller
        /// has an unclaimed allocation, so a buyer holding no MASP can claim;
        /// anyone else pays the normal fee.
        #[pallet::call_index(3)]
        #[pallet::weight(T::WeightInfo::claim())]
        #[pallet::feeless_if(|origin: &OriginFor<T>| -> bool {
			match ensure_signed(origin.clone()) {
				Ok(who) => Pallet::<T>::claimable(&who).is_some(),
				Err(_) => false,
			}
		})]
        pub fn claim(origin: OriginFor<T>) -> DispatchResult {
            let buyer = ensure_signed(origin)?;
            match Outcome::<T>::get() {
                None => return Err(Error::<T>::NotFinalized.into()),
                Some(SaleOutcome::Failed { .. }) => return Err(Error::<T>::SaleFailed.into()),
                Some(SaleOutcome::Succeeded { .. }) => {}
            }
            let mut info = Buyers::<T>::get(&buyer).ok_or(Error::<T>::NothingToClaim)?;
            ensure!(!info.claimed, Error::<T>::AlreadyClaimed);
            ensure!(!info.allocation.is_zero(), Error::<T>::NothingToClaim);
            let claimed = TotalClaimed::<T>::get()
                .checked_add(&info.allocation)
                .ok_or(Error::<T>::Overflow)?;
            ensure!(claimed <= TotalAllocated::<T>::get(), Error::<T>::Overflow);

            T::Currency::mint_into(&buyer, info.allocation)?;
            TotalClaimed::<T>::put(claimed);
            info.claimed = true;
            if info.keeps_account_alive {
                // The minted balance now keeps the account alive.
                frame_system::Pallet::<T>::dec_sufficients(&buyer);
                info.keeps_account_alive = false;
            }
            let amount = info.allocation;
            Buyers::<T>::insert(&buyer, info);
            Self::deposit_event(Event::Claimed { buyer, amount });
            Ok(())
        }

        /// Records that the contribution `(currency, external_tx_id)` was
        /// refunded off-chain in transaction `refund_tx_id` (same currency).
        ///
        /// Origin: the sale authority. Allowed for the part above the hard cap
        /// at any time, and for whole contributions once the sale has failed.
        /// A contribution is refunded once, and a refund tx recorded once.
        #[pallet::call_index(4)]
        #[pallet::weight(T::WeightInfo::mark_refunded())]
        pub fn mark_refunded(
            origin: OriginFor<T>,
            currency: Currency,
            external_tx_id: ExternalTxId,
            refund_tx_id: ExternalTxId,
        ) -> DispatchResult {
            T::SaleOrigin::ensure_origin(origin)?;
            let refund_tx_id = Self::normalized(&refund_tx_id)?;
            let key = (currency, Self::normalized(&external_tx_id)?);
            let mut contribution =
                Contributions::<T>::get(&key).ok_or(Error::<T>::UnknownContribution)?;
            ensure!(contribution.refund.is_none(), Error::<T>::AlreadyRefunded);
            let usd_refunded = Self::refundable_usd(&contribution);
            ensure!(usd_refunded > 0, Error::<T>::NothingToRefund);
            let refund_key = (currency, refund_tx_id.clone());
            ensure!(
                !RefundTxs::<T>::contains_key(&refund_key),
                Error::<T>::DuplicateRefundTx
            );
            let mut info =
                Buyers::<T>::get(&contribution.buyer).ok_or(Error::<T>::UnknownContribution)?;
            info.refunded = info.refunded.checked_add(1).ok_or(Error::<T>::Overflow)?;

            let failed = matches!(Outcome::<T>::get(), Some(SaleOutcome::Failed { .. }));
            if failed && info.refunded >= info.contributions && info.keeps_account_alive {
                // A failed sale's buyer, refunded in full, has nothing left here.
                frame_system::Pallet::<T>::dec_sufficients(&contribution.buyer);
                info.keeps_account_alive = false;
            }
            Buyers::<T>::insert(&contribution.buyer, info);
            RefundTxs::<T>::insert(&refund_key, &key);
            contribution.refund = Some(refund_tx_id.clone());
            let buyer = contribution.buyer.clone();
            Contributions::<T>::insert(&key, contribution);
            Self::deposit_event(Event::RefundRecorded {
                buyer,
                currency,
                external_tx_id: key.1,
                refund_tx_id,
                usd_refunded,
            });
            Ok(())
        }

        /// Votes, as a member of the attester committee, that `buyer` paid
        /// `amount_in_currency` (smallest unit) of `currency` in transaction
        /// `external_tx_id`, worth `usd_value` micro-dollars.
        ///
        /// Origin: a current member of `Config::Attesters`. The payment must be
        /// countable now, exactly as for [`Pallet::attest_contribution`] (sale
        /// active, at least $35, a non-zero amount, a well-formed id not counted
        /// yet once normalised): nothing is recorded otherwise. An attester has
        /// one vote per payment (to change its claim it withdraws first) and
        /// at most `MaxPendingPerAttester` open votes.
        ///
        /// When the attesters agreeing on this claim who are still members
        /// reach [`AttestThreshold`] (M), the payment is counted as by
        /// [`Pallet::attest_contribution`] (the bonus of the current day) and
        /// every vote on it is dropped, freeing the voters' open slots.
        #[pallet::call_index(5)]
        #[pallet::weight(T::WeightInfo::attest())]
        pub fn attest(
            origin: OriginFor<T>,
            buyer: T::AccountId,
            currency: Currency,
            external_tx_id: ExternalTxId,
            amount_in_currency: u128,
            usd_value: UsdMicros,
        ) -> DispatchResult {
            let attester = ensure_signed(origin)?;
            ensure!(T::Attesters::contains(&attester), Error::<T>::NotAnAttester);
            let (key, now, schedule) = Self::validate_contribution(
                currency,
                &external_tx_id,
                amount_in_currency,
                usd_value,
            )?;
            let mut votes = Pending::<T>::get(&key).unwrap_or_default();
            ensure!(
                !votes.iter().any(|v| v.attester == attester),
                Error::<T>::AlreadyVoted
            );
            let claim = ContributionClaim {
                buyer,
                amount_in_currency,
                usd_value,
            };
            votes
                .try_push(AttestationVote {
                    attester: attester.clone(),
                    claim: claim.clone(),
                })
                .map_err(|_| Error::<T>::TooManyVotes)?;
            let agreeing = Self::counting_votes(&votes, &claim);
            let threshold = Self::attest_threshold();
            let voted = Event::AttestationVoted {
                attester: attester.clone(),
                currency,
                external_tx_id: key.1.clone(),
                buyer: claim.buyer.clone(),
                amount_in_currency,
                usd_value,
                votes: agreeing,
                threshold,
            };

            if agreeing >= threshold {
                let counting = Self::prepare_count(
                    claim.buyer,
                    key.clone(),
                    amount_in_currency,
                    usd_value,
                    now,
                    &schedule,
                )?;
                // Every check is done: from here on, only writes.
                Pending::<T>::remove(&key);
                // The caller's vote was never recorded as open.
                for vote in votes.iter().filter(|v| v.attester != attester) {
                    Self::release_vote(&vote.attester);
                }
                Self::deposit_event(voted);
                Self::apply_count(counting);
            } else {
                let open = PendingOf::<T>::get(&attester);
                ensure!(
                    open < T::MaxPendingPerAttester::get(),
                    Error::<T>::TooManyPending
                );
                let open = open.checked_add(1).ok_or(Error::<T>::Overflow)?;
                // Every check is done: from here on, only writes.
                Pending::<T>::insert(&key, votes);
                PendingOf::<T>::insert(&attester, open);
                Self::deposit_event(voted);
            }
            Ok(())
        }

        /// Withdraws the caller's vote on the payment
        /// `(currency, external_tx_id)`, freeing one of its open slots (it may
        /// then vote again, for another claim).
        ///
        /// Origin: the account that voted, even if it is no longer an
        /// attester.
        #[pallet::call_index(6)]
        #[pallet::weight(T::WeightInfo::withdraw_attestation())]
        pub fn withdraw_attestation(
            origin: OriginFor<T>,
            currency: Currency,
            external_tx_id: ExternalTxId,
        ) -> DispatchResult {
            let attester = ensure_signed(origin)?;
            let key = (currency, Self::normalized(&external_tx_id)?);
            let mut votes = Pending::<T>::get(&key).ok_or(Error::<T>::NotVoted)?;
            let position = votes
                .iter()
                .position(|v| v.attester == attester)
                .ok_or(Error::<T>::NotVoted)?;
            // Every check is done: from here on, only writes.
            votes.remove(position);
            if votes.is_empty() {
                Pending::<T>::remove(&key);
            } else {
                Pending::<T>::insert(&key, votes);
            }
            Self::release_vote(&attester);
            Self::deposit_event(Event::AttestationWithdrawn {
                attester,
                currency,
                external_tx_id: key.1,
            });
            Ok(())
        }

        /// Removes every vote on the payment `(currency, external_tx_id)` once
        /// they can no longer count: the sale is over (ended, hard cap
        /// reached, or finalized), or the payment was counted meanwhile (by
        /// the sale authority). Frees the voters' open slots.
        ///
        /// Origin: anyone (signed).
        #[pallet::call_index(7)]
        #[pallet::weight(T::WeightInfo::prune_attestation())]
        pub fn prune_attestation(
            origin: OriginFor<T>,
            currency: Currency,
            external_tx_id: ExternalTxId,
        ) -> DispatchResult {
            ensure_signed(origin)?;
            let key = (currency, Self::normalized(&external_tx_id)?);
            let votes = Pending::<T>::get(&key).ok_or(Error::<T>::NoPendingAttestation)?;
            let now = frame_system::Pallet::<T>::block_number();
            ensure!(
                Self::ensure_active(now).is_err() || Contributions::<T>::contains_key(&key),
                Error::<T>::AttestationStillOpen
            );
            let count = Self::drop_votes(&key, &votes);
            Self::deposit_event(Event::AttestationPruned {
                currency,
                external_tx_id: key.1,
                votes: count,
            });
            Ok(())
        }

        /// Removes every vote on the payment `(currency, external_tx_id)`, at
        /// any time (governance clean-up, e.g. after removing a hostile
        /// attester). Frees the voters' open slots.
        ///
        /// Origin: the sale authority.
        #[pallet::call_index(8)]
        #[pallet::weight(T::WeightInfo::clear_attestation())]
        pub fn clear_attestation(
            origin: OriginFor<T>,
            currency: Currency,
            external_tx_id: ExternalTxId,
        ) -> DispatchResult {
            T::SaleOrigin::ensure_origin(origin)?;
            let key = (currency, Self::normalized(&external_tx_id)?);
            let votes = Pending::<T>::get(&key).ok_or(Error::<T>::NoPendingAttestation)?;
            let count = Self::drop_votes(&key, &votes);
            Self::deposit_event(Event::AttestationCleared {
                currency,
                external_tx_id: key.1,
                votes: count,
            });
            Ok(())
        }

        /// Sets M, the number of agreeing attesters a payment needs to count.
        /// Applies to votes already cast too (it is checked at each vote).
        ///
        /// Origin: the sale authority. From 2 (one attester alone can never
        /// mint) to `MaxAttesters`.
        #[pallet::call_index(9)]
        #[pallet::weight(T::WeightInfo::set_attest_threshold())]
        pub fn set_attest_threshold(origin: OriginFor<T>, threshold: u32) -> DispatchResult {
            T::SaleOrigin::ensure_origin(origin)?;
            Self::threshold_is_valid(threshold)?;
            AttestThreshold::<T>::put(threshold);
            Self::deposit_event(Event::AttestThresholdSet { threshold });
            Ok(())
        }
    }

    impl<T: Config> Pallet<T> {
        /// A schedule is valid when days have at least one block and its end
        /// block is representable.
        pub fn schedule_is_valid(schedule: &SaleSchedule<BlockNumberFor<T>>) -> bool {
            !schedule.day_length.is_zero()
                && schedule
                    .day_length
                    .checked_mul(&SALE_DAYS.into())
                    .and_then(|d| schedule.start.checked_add(&d))
                    .is_some()
        }

        /// First block after the sale: `start + SALE_DAYS × day_length`.
        pub fn end_of(schedule: &SaleSchedule<BlockNumberFor<T>>) -> BlockNumberFor<T> {
            schedule
                .start
                .saturating_add(schedule.day_length.saturating_mul(SALE_DAYS.into()))
        }

        /// The 1-based sale day of block `now` (0 before the start).
        pub fn day_of(schedule: &SaleSchedule<BlockNumberFor<T>>, now: BlockNumberFor<T>) -> u32 {
            if now < schedule.start || schedule.day_length.is_zero() {
                return 0;
            }
            let elapsed = now.saturating_sub(schedule.start) / schedule.day_length;
            UniqueSaturatedInto::<u32>::unique_saturated_into(elapsed).saturating_add(1)
        }

        /// The phase of the sale at block `now`.
        pub fn phase_at(now: BlockNumberFor<T>) -> SalePhase {
            match Outcome::<T>::get() {
                Some(SaleOutcome::Succeeded { .. }) => return SalePhase::Succeeded,
                Some(SaleOutcome::Failed { .. }) => return SalePhase::Failed,
                None => {}
            }
            let Some(schedule) = Schedule::<T>::get() else {
                return SalePhase::NotScheduled;
            };
            if now < schedule.start {
                SalePhase::Scheduled
            } else if now >= Self::end_of(&schedule) || HardCapReachedAt::<T>::get().is_some() {
                SalePhase::Ended
            } else {
                SalePhase::Active
            }
        }

        /// The bonus (percent) a contribution attested at `now` gets; 0 outside
        /// an active sale.
        pub fn bonus_at(now: BlockNumberFor<T>) -> u8 {
            match (Self::phase_at(now), Schedule::<T>::get()) {
                (SalePhase::Active, Some(schedule)) => bonus_percent(Self::day_of(&schedule, now)),
                _ => 0,
            }
        }

        /// The unclaimed allocation of `who`, if it can be claimed now.
        pub fn claimable(who: &T::AccountId) -> Option<BalanceOf<T>> {
            if !matches!(Outcome::<T>::get(), Some(SaleOutcome::Succeeded { .. })) {
                return None;
            }
            Buyers::<T>::get(who)
                .filter(|info| !info.claimed && !info.allocation.is_zero())
                .map(|info| info.allocation)
        }

        /// USD of `contribution` that is owed back: all of it after a failed
        /// sale, the part above the hard cap otherwise. Zero once refunded.
        pub fn refundable_usd(contribution: &ContributionOf<T>) -> UsdMicros {
            if contribution.refund.is_some() {
                return 0;
            }
            match Outcome::<T>::get() {
                Some(SaleOutcome::Failed { .. }) => contribution.usd_value,
                _ => contribution.excess_usd,
            }
        }

        /// The sale's status at the current block (runtime API `status`).
        pub fn status() -> SaleStatus<BlockNumberFor<T>, BalanceOf<T>> {
            let now = frame_system::Pallet::<T>::block_number();
            let schedule = Schedule::<T>::get();
            let phase = Self::phase_at(now);
            SaleStatus {
                phase,
                start: schedule.map(|s| s.start),
                end: schedule.as_ref().map(Self::end_of),
                day_length: schedule.map(|s| s.day_length),
                current_day: match (phase, schedule) {
                    (SalePhase::Active, Some(s)) => Self::day_of(&s, now),
                    _ => 0,
                },
                current_bonus_percent: Self::bonus_at(now),
                raised_usd: Raised::<T>::get(),
                excess_usd: ExcessUsd::<T>::get(),
                soft_cap_usd: SOFT_CAP_MICRO_USD,
                hard_cap_usd: HARD_CAP_MICRO_USD,
                total_allocated: TotalAllocated::<T>::get(),
                total_claimed: TotalClaimed::<T>::get(),
            }
        }

        /// A buyer's state with at most `max_contributions` contributions
        /// (runtime API `buyer`); `None` if `who` never contributed.
        pub fn buyer_status(
            who: &T::AccountId,
            max_contributions: u32,
        ) -> Option<BuyerStatus<BalanceOf<T>>> {
            let info = Buyers::<T>::get(who)?;
            let contributions = ContributionsOf::<T>::iter_key_prefix(who)
                .take(max_contributions as usize)
                .filter_map(|key| {
                    let c = Contributions::<T>::get(&key)?;
                    Some(ContributionView {
                        currency: key.0,
                        external_tx_id: key.1,
                        usd_value: c.usd_value,
                        counted_usd: c.counted_usd,
                        bonus_percent: c.bonus_percent,
                        tokens: c.tokens,
                        refundable_usd: Self::refundable_usd(&c),
                        refund_tx_id: c.refund,
                    })
                })
                .collect();
            Some(BuyerStatus {
                counted_usd: info.counted_usd,
                allocation: info.allocation,
                claimed: info.claimed,
                claimable: Self::claimable(who).is_some(),
                contributions,
            })
        }

        /// The normalised form of `id` ([`normalize_tx_id`]) or the pallet
        /// error saying why it is refused.
        pub fn normalized(id: &ExternalTxId) -> Result<ExternalTxId, Error<T>> {
            normalize_tx_id(id).map_err(|e| match e {
                TxIdError::Empty => Error::<T>::EmptyTxId,
                TxIdError::Malformed => Error::<T>::MalformedTxId,
            })
        }

        /// M as applied: the stored threshold, never below
        /// [`MIN_ATTEST_THRESHOLD`] (one attester alone can never mint, whatever
        /// is in storage) nor above `MaxAttesters` (a payment holds no more
        /// votes than that).
        pub fn attest_threshold() -> u32 {
            AttestThreshold::<T>::get()
                .min(T::MaxAttesters::get())
                .max(MIN_ATTEST_THRESHOLD)
        }

        /// `Ok` if `threshold` may be M: from 2 to `MaxAttesters`.
        pub fn threshold_is_valid(threshold: u32) -> Result<(), Error<T>> {
            ensure!(
                threshold >= MIN_ATTEST_THRESHOLD,
                Error::<T>::ThresholdTooLow
            );
            ensure!(
                threshold <= T::MaxAttesters::get(),
                Error::<T>::ThresholdTooHigh
            );
            Ok(())
        }

        /// How many of `votes` are for `claim` and by a current attester.
        /// Bounded: `votes` holds at most `MaxAttesters`.
        fn counting_votes(votes: &VotesOf<T>, claim: &ContributionClaim<T::AccountId>) -> u32 {
            let n = votes
                .iter()
                .filter(|v| &v.claim == claim && T::Attesters::contains(&v.attester))
                .count();
            u32::try_from(n).unwrap_or(u32::MAX)
        }

        /// One fewer open vote for `who` (its entry removed at zero).
        fn release_vote(who: &T::AccountId) {
            PendingOf::<T>::mutate_exists(who, |open| {
                *open = open.map(|n| n.saturating_sub(1)).filter(|n| *n > 0);
            });
        }

        /// Removes the pending `votes` on `key`, freeing each voter's slot;
        /// returns how many there were. Bounded by `MaxAttesters`.
        fn drop_votes(key: &ContributionKey, votes: &VotesOf<T>) -> u32 {
            Pending::<T>::remove(key);
            for vote in votes.iter() {
                Self::release_vote(&vote.attester);
            }
            u32::try_from(votes.len()).unwrap_or(u32::MAX)
        }

        /// The checks every attestation (by the authority or by a vote) passes
        /// before anything is recorded: the sale is active, the tx id well
        /// formed, the amount non-zero, the USD value at least $35 and the
        /// normalised `(currency, tx id)` not counted yet. Returns the
        /// normalised key, the current block and the schedule.
        fn validate_contribution(
            currency: Currency,
            external_tx_id: &ExternalTxId,
            amount_in_currency: u128,
            usd_value: UsdMicros,
        ) -> Result<Validated<T>, DispatchError> {
            let now = frame_system::Pallet::<T>::block_number();
            let schedule = Self::ensure_active(now)?;
            let key = (currency, Self::normalized(external_tx_id)?);
            ensure!(amount_in_currency > 0, Error::<T>::ZeroAmount);
            ensure!(
                usd_value >= MIN_CONTRIBUTION_MICRO_USD,
                Error::<T>::ContributionTooSmall
            );
            ensure!(
                !Contributions::<T>::contains_key(&key),
                Error::<T>::DuplicateContribution
            );
            Ok((key, now, schedule))
        }

        /// Computes and checks everything counting a contribution changes,
        /// writing nothing: the part within the hard cap, the excess, the
        /// bonus of the day, the tokens and the new totals (overflow is an
        /// error, never a wrap). [`Self::apply_count`] then only writes.
        fn prepare_count(
            buyer: T::AccountId,
            key: ContributionKey,
            amount_in_currency: u128,
            usd_value: UsdMicros,
            now: BlockNumberFor<T>,
            schedule: &SaleSchedule<BlockNumberFor<T>>,
        ) -> Result<Counting<T>, DispatchError> {
            let raised = Raised::<T>::get();
            let room = HARD_CAP_MICRO_USD.saturating_sub(raised);
            let counted_usd = usd_value.min(room);
            let excess_usd = usd_value.saturating_sub(counted_usd);
            let day = Self::day_of(schedule, now);
            let bonus = bonus_percent(day);
            let tokens = tokens_for(counted_usd, bonus, T::TokenUnit::get())
                .and_then(|t| BalanceOf::<T>::try_from(t).ok())
                .ok_or(Error::<T>::Overflow)?;

            let mut info = Buyers::<T>::get(&buyer).unwrap_or_default();
            info.counted_usd = info
                .counted_usd
                .checked_add(counted_usd)
                .ok_or(Error::<T>::Overflow)?;
            info.allocation = info
                .allocation
                .checked_add(&tokens)
                .ok_or(Error::<T>::Overflow)?;
            info.contributions = info
                .contributions
                .checked_add(1)
                .ok_or(Error::<T>::Overflow)?;
            let total_allocated = TotalAllocated::<T>::get()
                .checked_add(&tokens)
                .ok_or(Error::<T>::Overflow)?;
            let total_excess = ExcessUsd::<T>::get()
                .checked_add(excess_usd)
                .ok_or(Error::<T>::Overflow)?;
            Ok(Counting {
                key,
                info,
                contribution: Contribution {
                    buyer,
                    amount_in_currency,
                    usd_value,
                    counted_usd,
                    excess_usd,
                    bonus_percent: bonus,
                    tokens,
                    attested_at: now,
                    refund: None,
                },
                day,
                new_raised: raised.saturating_add(counted_usd),
                total_allocated,
                total_excess,
            })
        }

        /// Counts a contribution prepared by [`Self::prepare_count`]: writes
        /// only, and announces it (and the hard cap when it is reached).
        fn apply_count(counting: Counting<T>) {
            let Counting {
                key,
                mut info,
                contribution,
                day,
                new_raised,
                total_allocated,
                total_excess,
            } = counting;
            let buyer = contribution.buyer.clone();
            if !info.keeps_account_alive {
                // Lets a buyer with no MASP sign `claim` (CheckNonce needs the
                // account to exist).
                frame_system::Pallet::<T>::inc_sufficients(&buyer);
                info.keeps_account_alive = true;
            }
            Raised::<T>::put(new_raised);
            ExcessUsd::<T>::put(total_excess);
            TotalAllocated::<T>::put(total_allocated);
            Buyers::<T>::insert(&buyer, info);
            ContributionsOf::<T>::insert(&buyer, &key, ());
            let now = contribution.attested_at;
            let event = Event::ContributionAttested {
                buyer,
                currency: key.0,
                external_tx_id: key.1.clone(),
                amount_in_currency: contribution.amount_in_currency,
                usd_value: contribution.usd_value,
                counted_usd: contribution.counted_usd,
                excess_usd: contribution.excess_usd,
                day,
                bonus_percent: contribution.bonus_percent,
                tokens: contribution.tokens,
            };
            Contributions::<T>::insert(&key, contribution);
            Self::deposit_event(event);
            if new_raised >= HARD_CAP_MICRO_USD {
                HardCapReachedAt::<T>::put(now);
                Self::deposit_event(Event::HardCapReached { at: now });
            }
        }

        /// Where the attester committee's attestation of the payment
        /// `(currency, external_tx_id)` stands: its pending claims with their
        /// voters, and whether it was counted. `None` if the id is malformed
        /// or empty. Reads two storage items; bounded by `MaxAttesters`.
        pub fn attestation(
            currency: Currency,
            external_tx_id: &ExternalTxId,
        ) -> Option<AttestationStatus<T::AccountId>> {
            let id = normalize_tx_id(external_tx_id).ok()?;
            let key = (currency, id);
            let votes = Pending::<T>::get(&key).unwrap_or_default();
            let mut claims: Vec<PendingClaimView<T::AccountId>> = Vec::new();
            for vote in votes.iter() {
                let counts = T::Attesters::contains(&vote.attester);
                let view = match claims.iter_mut().find(|c| {
                    c.buyer == vote.claim.buyer
                        && c.amount_in_currency == vote.claim.amount_in_currency
                        && c.usd_value == vote.claim.usd_value
                }) {
                    Some(view) => view,
                    None => {
                        claims.push(PendingClaimView {
                            buyer: vote.claim.buyer.clone(),
                            amount_in_currency: vote.claim.amount_in_currency,
                            usd_value: vote.claim.usd_value,
                            voters: Vec::new(),
                            counting_votes: 0,
                        });
                        match claims.last_mut() {
                            Some(view) => view,
                            None => continue,
                        }
                    }
                };
                view.voters.push(vote.attester.clone());
                if counts {
                    view.counting_votes = view.counting_votes.saturating_add(1);
                }
            }
            Some(AttestationStatus {
                currency,
                counted: Contributions::<T>::contains_key(&key),
                external_tx_id: key.1,
                threshold: Self::attest_threshold(),
                claims,
            })
        }

        fn ensure_active(
            now: BlockNumberFor<T>,
        ) -> Result<SaleSchedule<BlockNumberFor<T>>, DispatchError> {
            let schedule = Schedule::<T>::get().ok_or(Error::<T>::NoSaleScheduled)?;
            ensure!(Outcome::<T>::get().is_none(), Error::<T>::AlreadyFinalized);
            ensure!(now >= schedule.start, Error::<T>::SaleNotStarted);
            ensure!(
                HardCapReachedAt::<T>::get().is_none(),
                Error::<T>::HardCapReached
            );
            ensure!(now < Self::end_of(&schedule), Error::<T>::SaleEnded);
            Ok(schedule)
        }

        /// The sale's invariants (run by `try_state` and after every test):
        /// - no emission: `total issuance == genesis issuance + claimed`, and
        ///   `claimed <= allocated`;
        /// - the hard cap is never exceeded; reaching it is recorded;
        /// - stored totals equal the sums over contributions and buyers;
        /// - the outcome agrees with the soft cap; a failed sale minted nothing;
        /// - every stored tx id (contributions, refunds, pending votes) is
        ///   normalised;
        /// - the threshold is within 2..=`MaxAttesters`;
        /// - pending votes: no empty entry, one vote per attester per payment,
        ///   every claim a valid one, and each account's [`PendingOf`] equals
        ///   the number of payments it has a vote on (so the sum of
        ///   `PendingOf` is the number of votes).
        /// Always compiled: the runtime's tests run it over real chains'
        /// states (runtime/tests/try_state.rs).
        pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
            let claimed = TotalClaimed::<T>::get();
            let allocated = TotalAllocated::<T>::get();
            ensure!(
				T::Currency::total_issuance() == GenesisIssuance::<T>::get().saturating_add(claimed),
				"total issuance != genesis issuance + claimed: MASP was minted or burned outside the sale"
			);
            ensure!(claimed <= allocated, "claimed more than allocated");
            let raised = Raised::<T>::get();
            ensure!(raised <= HARD_CAP_MICRO_USD, "hard cap exceeded");
            ensure!(
                HardCapReachedAt::<T>::get().is_none() || raised == HARD_CAP_MICRO_USD,
                "hard cap marked reached but not raised"
            );

            let (mut sum_counted, mut sum_excess) = (0u128, 0u128);
            let mut sum_tokens: BalanceOf<T> = Zero::zero();
            for (key, c) in Contributions::<T>::iter() {
                ensure!(
                    c.counted_usd + c.excess_usd == c.usd_value,
                    "counted + excess != usd value"
                );
                ensure!(
                    c.usd_value >= MIN_CONTRIBUTION_MICRO_USD,
                    "contribution below minimum"
                );
                ensure!(
                    ContributionsOf::<T>::contains_key(&c.buyer, &key),
                    "contribution not indexed"
                );
                sum_counted += c.counted_usd as u128;
                sum_excess += c.excess_usd as u128;
                sum_tokens = sum_tokens.saturating_add(c.tokens);
            }
            ensure!(
                sum_counted == raised as u128,
                "raised != sum of counted contributions"
            );
            ensure!(
                sum_excess == ExcessUsd::<T>::get() as u128,
                "excess != sum of excess parts"
            );
            ensure!(
                sum_tokens == allocated,
                "allocated != sum of contribution tokens"
            );

            let mut sum_alloc: BalanceOf<T> = Zero::zero();
            let mut sum_claimed: BalanceOf<T> = Zero::zero();
            for (_, info) in Buyers::<T>::iter() {
                sum_alloc = sum_alloc.saturating_add(info.allocation);
                if info.claimed {
                    sum_claimed = sum_claimed.saturating_add(info.allocation);
                }
            }
            ensure!(
                sum_alloc == allocated,
                "allocated != sum of buyer allocations"
            );
            ensure!(
                sum_claimed == claimed,
                "claimed != sum of claimed allocations"
            );

            match Outcome::<T>::get() {
                Some(SaleOutcome::Succeeded {
                    raised: r,
                    proceeds,
                    ..
                }) => {
                    ensure!(r == raised, "raised changed after finalize");
                    ensure!(r >= SOFT_CAP_MICRO_USD, "succeeded below the soft cap");
                    ensure!(
                        proceeds.total() == r as u128,
                        "proceeds do not sum to the amount raised"
                    );
                }
                Some(SaleOutcome::Failed { raised: r, .. }) => {
                    ensure!(r == raised, "raised changed after finalize");
                    ensure!(r < SOFT_CAP_MICRO_USD, "failed above the soft cap");
                    ensure!(claimed.is_zero(), "a failed sale minted tokens");
                }
                None => ensure!(claimed.is_zero(), "tokens minted before finalize"),
            }

            Self::try_state_attestations()
        }

        /// The tx id and attestation part of [`Self::do_try_state`].
        fn try_state_attestations() -> Result<(), sp_runtime::TryRuntimeError> {
            let is_normal = |id: &ExternalTxId| normalize_tx_id(id).as_ref() == Ok(id);
            for (key, _) in Contributions::<T>::iter() {
                ensure!(
                    is_normal(&key.1),
                    "a contribution's tx id is not normalised"
                );
            }
            for (refund, contribution) in RefundTxs::<T>::iter() {
                ensure!(
                    is_normal(&refund.1) && is_normal(&contribution.1),
                    "a refund's tx id is not normalised"
                );
                ensure!(refund.0 == contribution.0, "a refund in another currency");
            }

            let threshold = AttestThreshold::<T>::get();
            ensure!(
                threshold >= MIN_ATTEST_THRESHOLD && threshold <= T::MaxAttesters::get(),
                "attest threshold outside 2..=MaxAttesters"
            );

            let mut open = alloc::collections::BTreeMap::<T::AccountId, u32>::new();
            let mut total_votes = 0u64;
            for (key, votes) in Pending::<T>::iter() {
                ensure!(is_normal(&key.1), "a pending tx id is not normalised");
                ensure!(!votes.is_empty(), "a pending entry with no vote");
                for (i, vote) in votes.iter().enumerate() {
                    ensure!(
                        !votes
                            .iter()
                            .skip(i + 1)
                            .any(|v| v.attester == vote.attester),
                        "an attester voted twice on one payment"
                    );
                    ensure!(
                        vote.claim.amount_in_currency > 0
                            && vote.claim.usd_value >= MIN_CONTRIBUTION_MICRO_USD,
                        "a pending claim that could never count"
                    );
                    let n = open.entry(vote.attester.clone()).or_default();
                    *n = n.saturating_add(1);
                    total_votes = total_votes.saturating_add(1);
                }
            }
            let mut total_open = 0u64;
            for (who, n) in PendingOf::<T>::iter() {
                ensure!(n > 0, "a zero PendingOf entry is kept");
                ensure!(
                    open.get(&who) == Some(&n),
                    "PendingOf != the number of payments the account has a vote on"
                );
                total_open = total_open.saturating_add(n.into());
            }
            ensure!(
                total_open == total_votes,
                "a voter has votes but no PendingOf entry"
            );
            Ok(())
        }
    }
}
