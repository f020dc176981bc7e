//! # Host rating pallet
//!
//! The white paper's objective host rating: a score from 0 to
//! [`RATING_MAX`] computed on chain, deterministically, from metrics only.
//! There is no call: nobody can set a rating.
//!
//! - **Reliability** (50%): an exponentially weighted average of proof
//!   outcomes, each new outcome weighing [`Config::RecentWeight`] (recent
//!   epochs count more). A new host starts at zero.
//! - **Completion** (20%): contracts completed / (completed + lost).
//! - **Experience** (20%): value paid to the host by Senders, up to
//!   [`Config::FullExperienceValue`]; each Sender counts for at most
//!   [`Config::MaxSenderShare`] of it, so the weight of completed work
//!   depends on value paid by *distinct* Senders.
//! - **Age** (10%): blocks since the host's first contract, up to
//!   [`Config::FullAge`].
//!
//! Hard to game: a contract whose Sender is its host, or for which the Sender
//! paid nothing, counts for nothing; proofs of epochs that paid nothing do not
//! raise reliability (misses always lower it).
//!
//! Updated incrementally from what the market ([`ContractObserver`]) and the
//! proofs pallet ([`ProofObserver`]) report; no hook scans hosts. The best
//! [`Config::MaxTop`] hosts are kept sorted as scores change.

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
        market::{ContractId, Rating, RATING_MAX},
        traits::{ContractEnd, ContractObserver, HostRatingProvider, ProofObserver},
        Balance,
    };
    use sp_runtime::{
        traits::{Saturating, UniqueSaturatedInto, Zero},
        Perbill,
    };

    /// What the score is made of.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
    pub struct HostMetrics<BlockNumber> {
        /// When the host's first contract was confirmed.
        pub first_seen: BlockNumber,
        /// Weighted average of proof outcomes (1 = every recent proof passed).
        pub reliability: Perbill,
        /// Paid epochs proven, over the host's life.
        pub proofs_passed: u32,
        /// Epochs missed, over the host's life.
        pub proofs_missed: u32,
        /// Paid contracts that ran their term.
        pub completed: u32,
        /// Contracts that ended with the data lost.
        pub lost: u32,
        /// Value paid by Senders that counts (capped per Sender).
        pub value_served: Balance,
        /// The score from these metrics.
        pub rating: Rating,
    }

    /// A host's rating and its parts, in points of [`RATING_MAX`].
    #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
    pub struct RatingBreakdown<BlockNumber> {
        /// The score.
        pub rating: Rating,
        /// Reliability points (of 500,000).
        pub reliability: Rating,
        /// Completion points (of 200,000).
        pub completion: Rating,
        /// Experience points (of 200,000).
        pub experience: Rating,
        /// Age points (of 100,000).
        pub age: Rating,
        /// The metrics behind them.
        pub metrics: HostMetrics<BlockNumber>,
    }

    #[pallet::pallet]
    pub struct Pallet<T>(_);

    #[pallet::config]
    pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
        /// Weight of the newest proof outcome in the reliability average.
        #[pallet::constant]
        type RecentWeight: Get<Perbill>;

        /// Value served (by distinct Senders) that earns full experience.
        #[pallet::constant]
        type FullExperienceValue: Get<Balance>;

        /// The most of [`Config::FullExperienceValue`] one Sender can count for.
        #[pallet::constant]
        type MaxSenderShare: Get<Perbill>;

        /// Blocks after which a host has full age points.
        #[pallet::constant]
        type FullAge: Get<BlockNumberFor<Self>>;

        /// How many best hosts are kept sorted.
        #[pallet::constant]
        type MaxTop: Get<u32>;
    }

    /// Each rated host's metrics and score.
    #[pallet::storage]
    pub type Metrics<T: Config> =
        StorageMap<_, Blake2_128Concat, T::AccountId, HostMetrics<BlockNumberFor<T>>>;

    /// Value each Sender has counted for toward a host's experience.
    #[pallet::storage]
    pub type SenderValue<T: Config> = StorageDoubleMap<
        _,
        Blake2_128Concat,
        T::AccountId,
        Blake2_128Concat,
        T::AccountId,
        Balance,
        ValueQuery,
    >;

    /// The best hosts, highest rating first.
    #[pallet::storage]
    pub type Top<T: Config> =
        StorageValue<_, BoundedVec<(T::AccountId, Rating), T::MaxTop>, ValueQuery>;

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
            assert!(!T::FullAge::get().is_zero(), "FullAge must be > 0");
            assert!(T::MaxTop::get() > 0, "MaxTop must be > 0");
            assert!(
                !T::MaxSenderShare::get().is_zero(),
                "MaxSenderShare must be > 0"
            );
        }

        #[cfg(feature = "try-runtime")]
        fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
            Self::do_try_state()
        }
    }

    impl<T: Config> Pallet<T> {
        /// The parts of `m`'s score now.
        fn parts(m: &HostMetrics<BlockNumberFor<T>>) -> (Rating, Rating, Rating, Rating) {
            let points = |share: Perbill, weight: Rating| share.mul_floor(weight);
            let reliability = points(m.reliability, RATING_MAX / 2);
            let outcomes = m.completed.saturating_add(m.lost);
            let completion = if outcomes == 0 {
                0
            } else {
                points(
                    Perbill::from_rational(m.completed, outcomes),
                    RATING_MAX / 5,
                )
            };
            let experience = points(
                Perbill::from_rational(
                    m.value_served.min(T::FullExperienceValue::get()),
                    T::FullExperienceValue::get(),
                ),
                RATING_MAX / 5,
            );
            let now = frame_system::Pallet::<T>::block_number();
            let age: u64 = now.saturating_sub(m.first_seen).unique_saturated_into();
            let full: u64 = T::FullAge::get().unique_saturated_into();
            let age = points(
                Perbill::from_rational(age.min(full), full.max(1)),
                RATING_MAX / 10,
            );
            (reliability, completion, experience, age)
        }

        /// Recomputes `host`'s score from `m`, stores both and updates the top list.
        fn store(host: &T::AccountId, mut m: HostMetrics<BlockNumberFor<T>>) {
            let (a, b, c, d) = Self::parts(&m);
            let rating = a
                .saturating_add(b)
                .saturating_add(c)
                .saturating_add(d)
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
        /// none rated zero.
        fn update_top(host: &T::AccountId, rating: Rating) {
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
                        top.pop();
                    }
                    let _ = top.try_insert(at, (host.clone(), rating));
                }
            });
        }

        /// `host`'s metrics, or fresh ones starting now.
        fn metrics(host: &T::AccountId) -> HostMetrics<BlockNumberFor<T>> {
            Metrics::<T>::get(host).unwrap_or_else(|| HostMetrics {
                first_seen: frame_system::Pallet::<T>::block_number(),
                ..Default::default()
            })
        }

        /// `host`'s score and its parts (for the runtime API).
        pub fn breakdown(host: &T::AccountId) -> Option<RatingBreakdown<BlockNumberFor<T>>> {
            let metrics = Metrics::<T>::get(host)?;
            let (reliability, completion, experience, age) = Self::parts(&metrics);
            Some(RatingBreakdown {
                rating: metrics.rating,
                reliability,
                completion,
                experience,
                age,
                metrics,
            })
        }

        /// The best `max` hosts, highest rating first.
        pub fn top(max: u32) -> Vec<(T::AccountId, Rating)> {
            Top::<T>::get().into_iter().take(max as usize).collect()
        }

        /// The pallet's invariants: ratings within range and equal to what
        /// their stored metrics give when stored; the top list sorted, each
        /// host once, each entry matching the host's rating.
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
            for (_, m) in Metrics::<T>::iter() {
                ensure!(m.rating <= RATING_MAX, "rating above the maximum");
            }
            Ok(())
        }
    }

    impl<T: Config> HostRatingProvider<T::AccountId> for Pallet<T> {
        fn rating(host: &T::AccountId) -> Rating {
            Metrics::<T>::get(host).map_or(0, |m| m.rating)
        }
    }

    impl<T: Config> ProofObserver<T::AccountId, Balance> for Pallet<T> {
        /// A paid epoch proven: reliability moves toward 1.
        fn proof_passed(host: &T::AccountId, _contract: ContractId, paid: Balance) {
            if paid.is_zero() {
                return;
            }
            let mut m = Self::metrics(host);
            let alpha = T::RecentWeight::get();
            let gap = Perbill::one().saturating_sub(m.reliability);
            m.reliability = m.reliability.saturating_add(alpha * gap);
            m.proofs_passed = m.proofs_passed.saturating_add(1);
            Self::store(host, m);
        }

        /// A missed epoch: reliability moves toward 0.
        fn proof_missed(host: &T::AccountId, _contract: ContractId, _consecutive: u32) {
            let mut m = Self::metrics(host);
            let keep = Perbill::one().saturating_sub(T::RecentWeight::get());
            m.reliability = keep * m.reliability;
            m.proofs_missed = m.proofs_missed.saturating_add(1);
            Self::store(host, m);
        }
    }

    impl<T: Config> ContractObserver<T::AccountId, Balance> for Pallet<T> {
        fn contract_ended(
            _contract: ContractId,
            host: &T::AccountId,
            sender: &T::AccountId,
            how: ContractEnd,
            paid: Balance,
        ) {
            // Storing for oneself, or for free, counts for nothing.
            if host == sender {
                return;
            }
            let mut m = Self::metrics(host);
            match how {
                ContractEnd::Completed if !paid.is_zero() => {
                    m.completed = m.completed.saturating_add(1);
                }
                ContractEnd::DataLost => m.lost = m.lost.saturating_add(1),
                _ => {}
            }
            if !paid.is_zero() {
                let cap = T::MaxSenderShare::get().mul_floor(T::FullExperienceValue::get());
                let counted = SenderValue::<T>::get(host, sender);
                let add = paid.min(cap.saturating_sub(counted));
                if !add.is_zero() {
                    SenderValue::<T>::insert(host, sender, counted.saturating_add(add));
                    m.value_served = m.value_served.saturating_add(add);
                }
            }
            Self::store(host, m);
        }
    }
}
