//! # Host rating pallet
//!
//! The white paper's objective host rating: a score from 0 to
//! [`RATING_MAX`] computed on chain, deterministically, from metrics only.
//! There is no call: nobody can set a rating.
//!
//! Everything is weighed by **value at stake**, never by a count: a
//! contract's stake is the host deposit backing it when it is confirmed
//! (`size x DepositPerGiB`: bytes, not price). Payments are not counted at
//! all (only as a gate: an epoch that paid nothing counts for nothing),
//! because money a Sender pays can flow straight back to the host's owner
//! and be paid again; locked deposit cannot be locked twice at once.
//!
//! - **Reliability** (40%): the share of the recent stake that was proven,
//!   `proven / (proven + missed + StakePrior)`, where `proven` and `missed`
//!   sum the stake of each proven or missed epoch and lose
//!   [`Config::RecentWeight`] of their weight each epoch (recent epochs
//!   count more). A miss of a large contract is not hidden by many tiny
//!   proven ones; [`Config::StakePrior`] keeps a host with little at stake
//!   from full reliability.
//! - **Completion** (20%): `completed / (completed + lost + StakePrior)`,
//!   each contract weighing its stake x term (deposit-epochs).
//! - **Experience** (20%): stake x epochs proven over the host's life (host
//!   deposit-epochs), up to [`Config::FullExperienceValue`].
//! - **Age** (10%): blocks since the host's proven stake first reached
//!   [`Config::StakePrior`], up to [`Config::FullAge`].
//! - **Availability** (10%): whether the host serves what it stores, from
//!   retrieval challenges (the retrieval pallet): `StakePrior /
//!   (StakePrior + unanswered)`, where `unanswered` sums the stake of each
//!   contract whose challenge went unanswered, decayed like reliability.
//!   Penalty only: answering is what every host is expected to do, so it
//!   earns nothing (a host's own second account could challenge it at will
//!   and be answered); failing to answer a downloader costs. Earned, like
//!   age, only once the host's proven stake reached the prior.
//!
//! What farming costs: self-funded volume (a host's own second account, or
//! Sybil Senders whose payments flow back) earns exactly what the host
//! deposit it locks for that time earns an honest host, no more; the
//! payments, their size and the number of Senders buy nothing. A contract
//! whose Sender is its host, or an epoch that paid nothing, counts for
//! nothing; misses always lower reliability.
//!
//! Updated incrementally from what the market ([`ContractObserver`]) and the
//! proofs pallet ([`ProofObserver`]) report; no hook scans hosts. The best
//! [`Config::MaxTop`] hosts are kept sorted as scores change. Storage is
//! bounded: a contract's stake entry lives while the contract does, a host's
//! metrics until it unregisters ([`ContractObserver::host_unregistered`]).

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;

#[frame_support::pallet]
pub mod pallet {
    use alloc::vec::Vec;
    use frame_support::pallet_prelude::*;
    use frame_system::pallet_prelude::*;
    use masp_primitives::{
        market::{ContractId, EpochIndex, Rating, RATING_MAX},
        traits::{
            ContractEnd, ContractObserver, EpochClock, HostDeposits, HostRatingProvider,
            ProofObserver, StorageContracts,
        },
        Balance,
    };
    use sp_runtime::{
        traits::{Saturating, UniqueSaturatedInto, Zero},
        Perbill,
    };

    /// What the score is made of. Stakes are in planck of host deposit
    /// (`... x epochs` where said).
    #[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
    pub struct HostMetrics<BlockNumber> {
        /// When the host's proven stake (deposit x epochs) first reached
        /// [`Config::StakePrior`]; age counts from here.
        pub first_seen: Option<BlockNumber>,
        /// Share of the recent stake that was proven (as of the last update).
        pub reliability: Perbill,
        /// Paid epochs proven, over the host's life.
        pub proofs_passed: u32,
        /// Epochs missed, over the host's life.
        pub proofs_missed: u32,
        /// Paid contracts that ran their term.
        pub completed: u32,
        /// Contracts that ended with the data lost.
        pub lost: u32,
        /// Stake of proven epochs, each epoch's sum losing `RecentWeight` of
        /// its weight per epoch since.
        pub recent_proven: Balance,
        /// Stake of missed epochs, decayed the same way.
        pub recent_missed: Balance,
        /// The epoch `recent_proven` and `recent_missed` were decayed to.
        pub epoch: EpochIndex,
        /// Stake x term of the paid contracts that ran their term.
        pub completed_stake: Balance,
        /// Stake x term of the contracts that ended with the data lost.
        pub lost_stake: Balance,
        /// Stake x epochs proven over the host's life (experience).
        pub proven_stake: Balance,
        /// Retrieval challenges answered, over the host's life.
        pub retrievals_answered: u32,
        /// Retrieval challenges left unanswered, over the host's life.
        pub retrievals_failed: u32,
        /// Stake of the contracts whose retrieval challenge went unanswered,
        /// decayed like `recent_missed`.
        pub recent_unanswered: Balance,
        /// The score from these metrics.
        pub rating: Rating,
    }

    /// What a confirmed contract puts at stake (kept while it is live).
    #[derive(
        Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo,
    )]
    pub struct ContractStake {
        /// The host deposit backing the contract when it was confirmed.
        pub deposit: Balance,
        /// Epochs of its term.
        pub epochs: u32,
    }

    /// A host's rating and its parts, in points of [`RATING_MAX`].
    #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
    pub struct RatingBreakdown<BlockNumber> {
        /// The score.
        pub rating: Rating,
        /// Reliability points (of 400,000).
        pub reliability: Rating,
        /// Completion points (of 200,000).
        pub completion: Rating,
        /// Experience points (of 200,000).
        pub experience: Rating,
        /// Age points (of 100,000).
        pub age: Rating,
        /// Availability points (of 100,000).
        pub availability: Rating,
        /// The metrics behind them.
        pub metrics: HostMetrics<BlockNumber>,
    }

    #[pallet::pallet]
    pub struct Pallet<T>(_);

    #[pallet::config]
    pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
        /// The weight the stake of each epoch's outcomes loses per epoch in
        /// the reliability sums (the newest epoch weighs most).
        #[pallet::constant]
        type RecentWeight: Get<Perbill>;

        /// Stake x epochs proven (planck of host deposit x epochs) that earns
        /// full experience.
        #[pallet::constant]
        type FullExperienceValue: Get<Balance>;

        /// The stake a host's record must outweigh before it counts: added
        /// to the denominators of reliability (in deposit) and completion
        /// (in deposit x epochs); age starts once the proven stake reaches it.
        #[pallet::constant]
        type StakePrior: Get<Balance>;

        /// Blocks after which a host has full age points.
        #[pallet::constant]
        type FullAge: Get<BlockNumberFor<Self>>;

        /// The market's epochs (the reliability sums decay per epoch; the
        /// runtime gives every pallet the same clock).
        type Epochs: EpochClock<BlockNumberFor<Self>>;

        /// How many best hosts are kept sorted.
        #[pallet::constant]
        type MaxTop: Get<u32>;

        /// The hosts' deposits: a contract's stake is what backs it.
        type Deposits: HostDeposits<Self::AccountId, Balance>;

        /// The market's contracts: a contract's Sender and term.
        type Contracts: StorageContracts<Self::AccountId, Balance>;
    }

    /// Each rated host's metrics and score (removed when it unregisters).
    #[pallet::storage]
    pub type Metrics<T: Config> =
        StorageMap<_, Blake2_128Concat, T::AccountId, HostMetrics<BlockNumberFor<T>>>;

    /// What each live confirmed contract puts at stake (removed when it ends).
    #[pallet::storage]
    pub type Stakes<T: Config> = StorageMap<_, Twox64Concat, ContractId, ContractStake>;

    /// The best hosts, highest rating first.
    #[pallet::storage]
    pub type Top<T: Config> =
        StorageValue<_, BoundedVec<(T::AccountId, Rating), T::MaxTop>, ValueQuery>;

    /// At least the rating of every rated host that is not in [`Top`] (a
    /// host pushed out of, or never let into, the full list), so that the
    /// best rating that exists is known without a scan. It never falls.
    #[pallet::storage]
    pub type OutsideTop<T: Config> = StorageValue<_, Rating, ValueQuery>;

    #[pallet::event]
    #[pallet::generate_deposit(pub(super) fn deposit_event)]
    pub enum Event<T: Config> {
        /// `host`'s rating changed to `rating`.
        RatingChanged { host: T::AccountId, rating: Rating },
    }

    #[pallet::hooks]
    impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
        fn integrity_test() {
            assert!(
                !T::FullExperienceValue::get().is_zero(),
                "FullExperienceValue must be > 0"
            );
            assert!(!T::StakePrior::get().is_zero(), "StakePrior must be > 0");
            assert!(!T::FullAge::get().is_zero(), "FullAge must be > 0");
            assert!(!T::Epochs::length().is_zero(), "EpochLength must be > 0");
            assert!(T::MaxTop::get() > 0, "MaxTop must be > 0");
        }

        #[cfg(feature = "try-runtime")]
        fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
            Self::do_try_state()
        }
    }

    impl<T: Config> Pallet<T> {
        /// Share of the recent stake that was proven.
        fn reliability_of(m: &HostMetrics<BlockNumberFor<T>>) -> Perbill {
            let total = m
                .recent_proven
                .saturating_add(m.recent_missed)
                .saturating_add(T::StakePrior::get());
            Perbill::from_rational(m.recent_proven, total.max(1))
        }

        /// The parts of `m`'s score now: reliability, completion,
        /// experience, age, availability.
        fn parts(m: &HostMetrics<BlockNumberFor<T>>) -> (Rating, Rating, Rating, Rating, Rating) {
            let points = |share: Perbill, weight: Rating| share.mul_floor(weight);
            let reliability = points(Self::reliability_of(m), RATING_MAX / 5 * 2);
            let outcomes = m
                .completed_stake
                .saturating_add(m.lost_stake)
                .saturating_add(T::StakePrior::get());
            let completion = points(
                Perbill::from_rational(m.completed_stake, outcomes.max(1)),
                RATING_MAX / 5,
            );
            let full = T::FullExperienceValue::get().max(1);
            let experience = points(
                Perbill::from_rational(m.proven_stake.min(full), full),
                RATING_MAX / 5,
            );
            let age = match m.first_seen {
                Some(first) => {
                    let now = frame_system::Pallet::<T>::block_number();
                    let age: u64 = now.saturating_sub(first).unique_saturated_into();
                    let full: u64 = T::FullAge::get().unique_saturated_into();
                    points(
                        Perbill::from_rational(age.min(full), full.max(1)),
                        RATING_MAX / 10,
                    )
                }
                None => 0,
            };
            // Earned like age: only once the host has put real stake behind
            // proofs, so a record made of challenges alone is worth nothing.
            let prior = T::StakePrior::get();
            let availability = if m.first_seen.is_some() {
                points(
                    Perbill::from_rational(prior, prior.saturating_add(m.recent_unanswered).max(1)),
                    RATING_MAX / 10,
                )
            } else {
                0
            };
            (reliability, completion, experience, age, availability)
        }

        /// Recomputes `host`'s score from `m`, stores both and updates the top list.
        fn store(host: &T::AccountId, mut m: HostMetrics<BlockNumberFor<T>>) {
            m.reliability = Self::reliability_of(&m);
            let (a, b, c, d, e) = Self::parts(&m);
            let rating = a
                .saturating_add(b)
                .saturating_add(c)
                .saturating_add(d)
                .saturating_add(e)
                .min(RATING_MAX);
            let changed = rating != m.rating;
            m.rating = rating;
            Metrics::<T>::insert(host, m);
            if changed {
                Self::update_top(host, rating);
                Self::deposit_event(Event::RatingChanged {
                    host: host.clone(),
                    rating,
                });
            }
        }

        /// Keeps [`Top`] sorted: at most `MaxTop` entries, each host once,
        /// none rated zero; a host left out raises [`OutsideTop`] to its
        /// rating.
        fn update_top(host: &T::AccountId, rating: Rating) {
            let mut left_out: Rating = 0;
            Top::<T>::mutate(|top| {
                top.retain(|(h, _)| h != host);
                if rating == 0 {
                    return;
                }
                let at = top
                    .iter()
                    .position(|(_, r)| *r < rating)
                    .unwrap_or(top.len());
                if (at as u32) < T::MaxTop::get() {
                    if top.is_full() {
                        if let Some((_, popped)) = top.pop() {
                            left_out = popped;
                        }
                    }
                    if top.try_insert(at, (host.clone(), rating)).is_err() {
                        left_out = left_out.max(rating);
                    }
                } else {
                    left_out = rating;
                }
            });
            if left_out > OutsideTop::<T>::get() {
                OutsideTop::<T>::put(left_out);
            }
        }

        /// `host`'s metrics (fresh ones if it has none), with the
        /// reliability sums decayed to the current epoch.
        fn metrics(host: &T::AccountId) -> HostMetrics<BlockNumberFor<T>> {
            let epoch = T::Epochs::epoch_of(frame_system::Pallet::<T>::block_number());
            let mut m = Metrics::<T>::get(host).unwrap_or_else(|| HostMetrics {
                epoch,
                ..Default::default()
            });
            let elapsed = epoch.saturating_sub(m.epoch);
            if elapsed > 0 {
                let keep = Perbill::one()
                    .saturating_sub(T::RecentWeight::get())
                    .saturating_pow(elapsed as usize);
                m.recent_proven = keep.mul_floor(m.recent_proven);
                m.recent_missed = keep.mul_floor(m.recent_missed);
                m.recent_unanswered = keep.mul_floor(m.recent_unanswered);
                m.epoch = epoch;
            }
            m
        }

        /// What `contract` puts at stake per epoch (zero if nothing: not
        /// confirmed through the market, or stored for its own host).
        fn stake(contract: ContractId) -> Balance {
            Stakes::<T>::get(contract).map_or(0, |s| s.deposit)
        }

        /// `host`'s score and its parts (for the runtime API).
        pub fn breakdown(host: &T::AccountId) -> Option<RatingBreakdown<BlockNumberFor<T>>> {
            let metrics = Metrics::<T>::get(host)?;
            let (reliability, completion, experience, age, availability) = Self::parts(&metrics);
            Some(RatingBreakdown {
                rating: metrics.rating,
                reliability,
                completion,
                experience,
                age,
                availability,
                metrics,
            })
        }

        /// The best `max` hosts, highest rating first.
        pub fn top(max: u32) -> Vec<(T::AccountId, Rating)> {
            Top::<T>::get().into_iter().take(max as usize).collect()
        }

        /// The pallet's invariants: ratings within range and never above
        /// the best rating (a host outside the top list at most
        /// [`OutsideTop`]), each host's stored reliability what its sums
        /// give; the top list sorted, each host once, each entry matching the
        /// host's rating; a stake entry only for a live, confirmed contract.
        pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
            let top = Top::<T>::get();
            for pair in top.windows(2) {
                ensure!(pair[0].1 >= pair[1].1, "top list not sorted");
            }
            let mut hosts: Vec<_> = top.iter().map(|(h, _)| h.clone()).collect();
            hosts.sort();
            hosts.dedup();
            ensure!(hosts.len() == top.len(), "a host twice in the top list");
            for (host, rating) in top.iter() {
                ensure!(
                    Metrics::<T>::get(host).is_some_and(|m| m.rating == *rating),
                    "top list rating differs from the host's"
                );
            }
            let best = <Self as HostRatingProvider<T::AccountId>>::best_rating();
            let outside = OutsideTop::<T>::get();
            for (host, m) in Metrics::<T>::iter() {
                ensure!(m.rating <= RATING_MAX, "rating above the maximum");
                ensure!(m.rating <= best, "a rating above the best rating");
                ensure!(
                    m.rating <= outside || top.iter().any(|(h, _)| *h == host),
                    "a host outside the top list rated above OutsideTop"
                );
                ensure!(
                    m.reliability == Self::reliability_of(&m),
                    "stored reliability differs from its sums"
                );
            }
            for (contract, _) in Stakes::<T>::iter() {
                ensure!(
                    T::Contracts::proof_target(contract).is_some_and(|t| t.confirmed),
                    "a stake entry of a contract that is not live and confirmed"
                );
            }
            Ok(())
        }
    }

    impl<T: Config> HostRatingProvider<T::AccountId> for Pallet<T> {
        fn rating(host: &T::AccountId) -> Rating {
            Metrics::<T>::get(host).map_or(0, |m| m.rating)
        }

        /// The best listed rating, or the bound on those outside the list
        /// if higher: never below any host's rating.
        fn best_rating() -> Rating {
            let listed = Top::<T>::get().first().map_or(0, |(_, r)| *r);
            listed.max(OutsideTop::<T>::get())
        }
    }

    impl<T: Config> ProofObserver<T::AccountId, Balance> for Pallet<T> {
        /// A paid epoch proven: its stake adds to the proven sums.
        fn proof_passed(host: &T::AccountId, contract: ContractId, paid: Balance) {
            if paid.is_zero() {
                return;
            }
            let stake = Self::stake(contract);
            let mut m = Self::metrics(host);
            m.recent_proven = m.recent_proven.saturating_add(stake);
            m.proven_stake = m.proven_stake.saturating_add(stake);
            m.proofs_passed = m.proofs_passed.saturating_add(1);
            if m.first_seen.is_none() && m.proven_stake >= T::StakePrior::get() {
                m.first_seen = Some(frame_system::Pallet::<T>::block_number());
            }
            Self::store(host, m);
        }

        /// A missed epoch: its stake adds to the missed sum.
        fn proof_missed(host: &T::AccountId, contract: ContractId, _consecutive: u32) {
            let stake = Self::stake(contract);
            let mut m = Self::metrics(host);
            m.recent_missed = m.recent_missed.saturating_add(stake);
            m.proofs_missed = m.proofs_missed.saturating_add(1);
            Self::store(host, m);
        }

        /// An answered retrieval challenge: counted, worth nothing (see the
        /// crate docs).
        fn retrieval_answered(host: &T::AccountId, _contract: ContractId) {
            let mut m = Self::metrics(host);
            m.retrievals_answered = m.retrievals_answered.saturating_add(1);
            Self::store(host, m);
        }

        /// An unanswered retrieval challenge: the contract's stake adds to
        /// the unanswered sum. A contract that puts nothing at stake (stored
        /// for its own host) costs nothing.
        fn retrieval_failed(host: &T::AccountId, contract: ContractId) {
            let stake = Self::stake(contract);
            let mut m = Self::metrics(host);
            m.recent_unanswered = m.recent_unanswered.saturating_add(stake);
            m.retrievals_failed = m.retrievals_failed.saturating_add(1);
            Self::store(host, m);
        }
    }

    impl<T: Config> ContractObserver<T::AccountId, Balance> for Pallet<T> {
        /// Records what the contract puts at stake: the deposit backing it,
        /// for its term. Storing for oneself puts nothing at stake.
        fn contract_confirmed(contract: ContractId, host: &T::AccountId) {
            let Some(target) = T::Contracts::proof_target(contract) else {
                return;
            };
            if target.sender == *host || target.host != *host {
                return;
            }
            let deposit = T::Deposits::backing(contract);
            if deposit.is_zero() {
                return;
            }
            let epochs = target
                .last_epoch
                .saturating_sub(target.first_epoch)
                .saturating_add(1);
            Stakes::<T>::insert(contract, ContractStake { deposit, epochs });
        }

        fn contract_ended(
            contract: ContractId,
            host: &T::AccountId,
            sender: &T::AccountId,
            how: ContractEnd,
            paid: Balance,
        ) {
            let stake = Stakes::<T>::take(contract).unwrap_or_default();
            // Storing for oneself counts for nothing.
            if host == sender {
                return;
            }
            let weight = stake.deposit.saturating_mul(stake.epochs.into());
            let mut m = Self::metrics(host);
            match how {
                ContractEnd::Completed if !paid.is_zero() => {
                    m.completed = m.completed.saturating_add(1);
                    m.completed_stake = m.completed_stake.saturating_add(weight);
                }
                ContractEnd::DataLost => {
                    m.lost = m.lost.saturating_add(1);
                    m.lost_stake = m.lost_stake.saturating_add(weight);
                }
                _ => return,
            }
            Self::store(host, m);
        }

        /// A host that leaves takes its record with it (it has no live
        /// contract, so no stake entry either).
        fn host_unregistered(host: &T::AccountId) {
            if Metrics::<T>::take(host).is_some() {
                Top::<T>::mutate(|top| top.retain(|(h, _)| h != host));
            }
        }
    }
}
