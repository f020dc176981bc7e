//! # Insurance pallet
//!
//! The white paper's optional Insurers: they underwrite a Sender's risk of
//! losing data for a premium, and pay when it happens.
//!
//! - **Capital** ([`Pallet::deposit_capital`], [`Pallet::withdraw_capital`]):
//!   an insurer's own MASP under a hold ([`HoldReason::Capital`]). Every cover
//!   it sells commits part of it; only the uncommitted part can be withdrawn
//!   or back new cover, so cover is never sold beyond capital and an insurer
//!   never loses more than it locked.
//! - **Offers** ([`Pallet::set_offer`], [`Pallet::remove_offer`]): one per
//!   insurer: a premium rate per epoch as a share of the cover (a
//!   [`Perbill`]), the most cover it sells per contract and the least host
//!   rating it insures.
//! - **Cover** ([`Pallet::buy_cover`]): a contract's Sender buys `amount` of
//!   cover from an offer. The premium is priced on the cover, not on the
//!   bytes stored: `rate x amount` (rounded up) per covered epoch. The
//!   premium for the rest of the term is held from the Sender and paid to
//!   the insurer for epochs the contract is live ([`Pallet::collect_premium`]
//!   any time, the rest when the contract ends; what was not used returns,
//!   except on a claim). Cover bought before the term starts covers it all;
//!   cover bought later starts [`Config::WaitingEpochs`] after the next
//!   epoch, so a Sender cannot insure a host it already sees failing.
//! - **Cover is bounded by what backs the contract**: at most the host's
//!   deposit backing the contract when the cover is bought plus the premium
//!   for the covered epochs ([`Error::CoverExceedsBacking`]). A Sender and a
//!   host acting together can lose the data on purpose, and the term's price
//!   flows from one to the other, so neither the contract's size nor its
//!   price says what an insurer can get back; the deposit and the premium
//!   do. With this bound an insurer never loses on a policy: what it pays
//!   on a claim is at most what the slash of that deposit recovers plus the
//!   premium it keeps.
//! - **Claims**: when the market ends a covered contract as lost data
//!   ([`ContractEnd::DataLost`]), the Sender has already been paid the host's
//!   slashes; the insurer pays the rest up to the cover from its capital and
//!   keeps the whole premium of the covered term (a total loss earns the
//!   premium, as in any insurance). The insurer then takes what a further
//!   slash of the deposit backing that contract yields, up to what it paid
//!   ([`SlashDeposit`]): it is the contract's victim now.
//!
//! Invariants (`try_state`, run after every test): each insurer's capital
//! hold equals its recorded capital and covers its committed cover, which is
//! the sum of its live covers; each Sender's premium hold equals the unpaid
//! premiums of its covers.
//!
//! No call or hook iterates over insurers, offers or covers.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod weights;

#[frame_support::pallet]
pub mod pallet {
    use super::*;
    use frame_support::{
        pallet_prelude::*,
        traits::{
            fungible::{Inspect, InspectHold, Mutate, MutateHold},
            tokens::{Fortitude, Precision, Restriction},
        },
    };
    use frame_system::pallet_prelude::*;
    use masp_primitives::{
        market::{ContractId, EpochIndex, Rating, RATING_MAX},
        traits::{
            ContractEnd, ContractObserver, EpochClock, HostDeposits, HostRatingProvider,
            SlashDeposit, StorageContracts,
        },
        Balance,
    };
    use sp_runtime::{traits::Zero, Perbill};

    /// An insurer's capital.
    #[derive(
        Clone,
        Copy,
        Debug,
        Default,
        PartialEq,
        Eq,
        Encode,
        Decode,
        DecodeWithMemTracking,
        MaxEncodedLen,
        TypeInfo,
    )]
    pub struct InsurerInfo {
        /// MASP held as capital.
        pub capital: Balance,
        /// Of which backs live covers (cannot be withdrawn or sold again).
        pub committed: Balance,
        /// Live covers.
        pub covers: u32,
    }

    impl InsurerInfo {
        /// Capital not backing any cover.
        pub fn free(&self) -> Balance {
            self.capital.saturating_sub(self.committed)
        }
    }

    /// An insurer's terms.
    #[derive(
        Clone,
        Copy,
        Debug,
        PartialEq,
        Eq,
        Encode,
        Decode,
        DecodeWithMemTracking,
        MaxEncodedLen,
        TypeInfo,
    )]
    pub struct CoverOffer {
        /// Premium per covered epoch, as a share of the cover (rounded up to
        /// the next planck).
        pub premium: Perbill,
        /// The most cover sold for one contract.
        pub max_cover: Balance,
        /// The least host rating insured.
        pub min_rating: Rating,
    }

    /// A contract's cover.
    #[derive(
        Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
    )]
    pub struct Cover<AccountId> {
        /// Who pays a claim.
        pub insurer: AccountId,
        /// Who is covered (the contract's Sender).
        pub sender: AccountId,
        /// The contract's host.
        pub host: AccountId,
        /// What a loss pays, at most (slashes included).
        pub amount: Balance,
        /// Premium per covered epoch (the offer's rate times `amount`).
        pub epoch_premium: Balance,
        /// First epoch covered.
        pub start: EpochIndex,
        /// Last epoch covered (the contract's last).
        pub last: EpochIndex,
        /// First epoch whose premium the insurer has not been paid yet.
        pub next_unpaid: EpochIndex,
        /// Premium still held from the Sender.
        pub held: Balance,
    }

    #[pallet::pallet]
    pub struct Pallet<T>(_);

    #[pallet::config]
    pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
        /// MASP, in which capital and premiums are held.
        type Currency: Inspect<Self::AccountId, Balance = Balance>
            + Mutate<Self::AccountId>
            + MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

        /// The runtime's hold reasons (ours are [`HoldReason`]).
        type RuntimeHoldReason: From<HoldReason>;

        /// The market's contracts: who stores what, for which term.
        type Contracts: StorageContracts<Self::AccountId, Balance>;

        /// The hosts' deposits: what slashes paid the Sender, and the
        /// insurer's recovery.
        type Deposits: HostDeposits<Self::AccountId, Balance>
            + SlashDeposit<Self::AccountId, Balance>;

        /// Host ratings, checked against an offer's `min_rating`.
        type Rating: HostRatingProvider<Self::AccountId>;

        /// The market's epochs (the runtime gives every pallet the same clock).
        type Epochs: EpochClock<BlockNumberFor<Self>>;

        /// Epochs after the next one before cover bought during a term
        /// starts (at least the proofs pallet's misses to lose data, so a
        /// loss it pays for began after it was bought).
        #[pallet::constant]
        type WaitingEpochs: Get<EpochIndex>;

        /// The least capital an insurer may hold (keeps dust out of storage).
        #[pallet::constant]
        type MinCapital: Get<Balance>;

        /// Weights of the calls and the claim, from the pallet's benchmarks.
        type WeightInfo: WeightInfo;

        /// Creates market contracts for the benchmarks (the market pallet).
        #[cfg(feature = "runtime-benchmarks")]
        type BenchmarkHelper: masp_primitives::traits::BenchmarkContracts<Self::AccountId>;
    }

    /// Why this pallet holds MASP.
    #[pallet::composite_enum]
    pub enum HoldReason {
        /// An insurer's capital.
        #[codec(index = 0)]
        Capital,
        /// A Sender's premiums not yet paid.
        #[codec(index = 1)]
        Premium,
    }

    /// Each insurer's capital.
    #[pallet::storage]
    pub type Insurers<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, InsurerInfo>;

    /// Each insurer's offer.
    #[pallet::storage]
    pub type Offers<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, CoverOffer>;

    /// Each covered contract's cover.
    #[pallet::storage]
    pub type Covers<T: Config> = StorageMap<_, Twox64Concat, ContractId, Cover<T::AccountId>>;

    #[pallet::event]
    #[pallet::generate_deposit(pub(super) fn deposit_event)]
    pub enum Event<T: Config> {
        /// `insurer` added `amount` to its capital.
        CapitalDeposited {
            insurer: T::AccountId,
            amount: Balance,
        },
        /// `insurer` took `amount` of free capital back.
        CapitalWithdrawn {
            insurer: T::AccountId,
            amount: Balance,
        },
        /// `insurer` offers cover on these terms.
        OfferSet {
            insurer: T::AccountId,
            offer: CoverOffer,
        },
        /// `insurer` sells no more cover (live covers stay).
        OfferRemoved { insurer: T::AccountId },
        /// `sender` bought `amount` of cover for `contract` from `insurer`,
        /// from epoch `start`; `premium` is held for the rest of the term.
        CoverBought {
            contract: ContractId,
            sender: T::AccountId,
            insurer: T::AccountId,
            amount: Balance,
            start: EpochIndex,
            premium: Balance,
        },
        /// `insurer` was paid `amount` of `contract`'s premium, for epochs
        /// up to `through`.
        PremiumPaid {
            contract: ContractId,
            insurer: T::AccountId,
            amount: Balance,
            through: EpochIndex,
        },
        /// `contract`'s cover ended without a claim; `refunded` unused
        /// premium returned to its Sender.
        CoverEnded {
            contract: ContractId,
            refunded: Balance,
        },
        /// `contract`'s data was lost: `insurer` paid `sender` `paid` (after
        /// the slashes the Sender already had) and recovered `recovered`
        /// from the host's deposit.
        Claimed {
            contract: ContractId,
            insurer: T::AccountId,
            sender: T::AccountId,
            paid: Balance,
            recovered: Balance,
        },
    }

    #[pallet::error]
    pub enum Error<T> {
        /// An amount is zero.
        ZeroAmount,
        /// The first capital deposit must reach `MinCapital`, and a
        /// withdrawal may not leave less than it (withdraw all instead).
        BelowMinCapital,
        /// The caller holds no capital.
        NotInsurer,
        /// Not that much uncommitted capital.
        InsufficientCapital,
        /// The caller cannot pay that (free balance).
        InsufficientFunds,
        /// A rating above the maximum (1,000,000).
        BadRating,
        /// That insurer has no offer.
        NoOffer,
        /// No live contract with that id.
        UnknownContract,
        /// Only the contract's Sender may insure it.
        NotContractSender,
        /// The contract already has cover.
        AlreadyCovered,
        /// More cover than the offer sells per contract.
        CoverTooLarge,
        /// More cover than the host's deposit backing the contract plus the
        /// premium for the covered epochs: the excess could never be
        /// recovered, so a Sender and its own host would collect it.
        CoverExceedsBacking,
        /// The offer's premium rate is above the caller's limit.
        PremiumTooHigh,
        /// The host's rating is below the offer's minimum.
        RatingTooLow,
        /// The term ends before the cover would start.
        TooLate,
        /// No cover for that contract.
        NotCovered,
        /// Only the covered Sender may do that.
        NotCoverHolder,
        /// No premium is due yet.
        NothingDue,
        /// An amount does not fit its type.
        Overflow,
    }

    #[pallet::hooks]
    impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
        fn integrity_test() {
            assert!(!T::Epochs::length().is_zero(), "EpochLength must be > 0");
            assert!(!T::MinCapital::get().is_zero(), "MinCapital must be > 0");
        }

        #[cfg(feature = "try-runtime")]
        fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
            Self::do_try_state()
        }
    }

    #[pallet::call]
    impl<T: Config> Pallet<T> {
        /// Adds `amount` of the caller's MASP to its insurance capital (a
        /// hold). The first deposit must be at least `MinCapital`.
        ///
        /// Emits [`Event::CapitalDeposited`].
        #[pallet::call_index(0)]
        #[pallet::weight(T::WeightInfo::deposit_capital())]
        pub fn deposit_capital(origin: OriginFor<T>, amount: Balance) -> DispatchResult {
            let who = ensure_signed(origin)?;
            ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
            let mut info = Insurers::<T>::get(&who).unwrap_or_default();
            let capital = info
                .capital
                .checked_add(amount)
                .ok_or(Error::<T>::Overflow)?;
            ensure!(capital >= T::MinCapital::get(), Error::<T>::BelowMinCapital);
            T::Currency::hold(&HoldReason::Capital.into(), &who, amount)
                .map_err(|_| Error::<T>::InsufficientFunds)?;
            info.capital = capital;
            Insurers::<T>::insert(&who, info);
            Self::deposit_event(Event::CapitalDeposited {
                insurer: who,
                amount,
            });
            Ok(())
        }

        /// Takes `amount` of uncommitted capital back. What remains must be
        /// zero or at least `MinCapital`.
        ///
        /// Emits [`Event::CapitalWithdrawn`].
        #[pallet::call_index(1)]
        #[pallet::weight(T::WeightInfo::withdraw_capital())]
        pub fn withdraw_capital(origin: OriginFor<T>, amount: Balance) -> DispatchResult {
            let who = ensure_signed(origin)?;
            ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
            let mut info = Insurers::<T>::get(&who).ok_or(Error::<T>::NotInsurer)?;
            ensure!(amount <= info.free(), Error::<T>::InsufficientCapital);
            let rest = info.capital.saturating_sub(amount);
            ensure!(
                rest.is_zero() || rest >= T::MinCapital::get(),
                Error::<T>::BelowMinCapital
            );
            T::Currency::release(&HoldReason::Capital.into(), &who, amount, Precision::Exact)?;
            info.capital = rest;
            Self::put_insurer(&who, info);
            Self::deposit_event(Event::CapitalWithdrawn {
                insurer: who,
                amount,
            });
            Ok(())
        }

        /// Offers cover (replacing the caller's previous offer): a premium
        /// of `premium` of the cover per covered epoch (e.g. 1% of 100 MASP
        /// of cover is 1 MASP an epoch, whatever the contract's size), at
        /// most `max_cover` per contract, for hosts rated at least
        /// `min_rating`. Covers already sold keep their terms.
        ///
        /// Errors: [`Error::NotInsurer`] without capital,
        /// [`Error::ZeroAmount`] for a zero rate or `max_cover`,
        /// [`Error::BadRating`] above [`RATING_MAX`].
        ///
        /// Emits [`Event::OfferSet`].
        #[pallet::call_index(2)]
        #[pallet::weight(T::WeightInfo::set_offer())]
        pub fn set_offer(
            origin: OriginFor<T>,
            premium: Perbill,
            max_cover: Balance,
            min_rating: Rating,
        ) -> DispatchResult {
            let who = ensure_signed(origin)?;
            ensure!(Insurers::<T>::contains_key(&who), Error::<T>::NotInsurer);
            ensure!(
                premium.deconstruct() != 0 && !max_cover.is_zero(),
                Error::<T>::ZeroAmount
            );
            ensure!(min_rating <= RATING_MAX, Error::<T>::BadRating);
            let offer = CoverOffer {
                premium,
                max_cover,
                min_rating,
            };
            Offers::<T>::insert(&who, offer);
            Self::deposit_event(Event::OfferSet {
                insurer: who,
                offer,
            });
            Ok(())
        }

        /// Stops selling cover. Covers already sold run on.
        ///
        /// Emits [`Event::OfferRemoved`].
        #[pallet::call_index(3)]
        #[pallet::weight(T::WeightInfo::remove_offer())]
        pub fn remove_offer(origin: OriginFor<T>) -> DispatchResult {
            let who = ensure_signed(origin)?;
            Offers::<T>::take(&who).ok_or(Error::<T>::NoOffer)?;
            Self::deposit_event(Event::OfferRemoved { insurer: who });
            Ok(())
        }

        /// The Sender of `contract` buys `amount` of cover from `insurer`'s
        /// offer, if the offer's premium rate is at most `max_premium` (a
        /// share of the cover per epoch). The premium, `rate x amount`
        /// (rounded up) per covered epoch, is held now for every covered
        /// epoch and paid per live epoch; the insurer commits `amount` of its
        /// capital.
        ///
        /// `amount` may not exceed the offer's `max_cover`, the insurer's
        /// uncommitted capital, nor the host's deposit now backing the
        /// contract plus that premium ([`Error::CoverExceedsBacking`]): what
        /// the insurer may have to pay is always what it can recover from
        /// the host or has been paid.
        ///
        /// Emits [`Event::CoverBought`].
        #[pallet::call_index(4)]
        #[pallet::weight(T::WeightInfo::buy_cover())]
        pub fn buy_cover(
            origin: OriginFor<T>,
            contract: ContractId,
            insurer: T::AccountId,
            amount: Balance,
            max_premium: Perbill,
        ) -> DispatchResult {
            let sender = ensure_signed(origin)?;
            ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
            let target = T::Contracts::proof_target(contract).ok_or(Error::<T>::UnknownContract)?;
            ensure!(target.sender == sender, Error::<T>::NotContractSender);
            ensure!(
                !Covers::<T>::contains_key(contract),
                Error::<T>::AlreadyCovered
            );
            let offer = Offers::<T>::get(&insurer).ok_or(Error::<T>::NoOffer)?;
            ensure!(offer.premium <= max_premium, Error::<T>::PremiumTooHigh);
            ensure!(amount <= offer.max_cover, Error::<T>::CoverTooLarge);
            ensure!(
                T::Rating::rating(&target.host) >= offer.min_rating,
                Error::<T>::RatingTooLow
            );
            let mut info = Insurers::<T>::get(&insurer).ok_or(Error::<T>::NotInsurer)?;
            ensure!(amount <= info.free(), Error::<T>::InsufficientCapital);
            let now = Self::current_epoch();
            let start = if now < target.first_epoch {
                target.first_epoch
            } else {
                now.saturating_add(1)
                    .saturating_add(T::WaitingEpochs::get())
            };
            ensure!(start <= target.last_epoch, Error::<T>::TooLate);
            let epoch_premium = offer.premium.mul_ceil(amount);
            let epochs = target.last_epoch.saturating_sub(start).saturating_add(1);
            let premium = epoch_premium
                .checked_mul(epochs as Balance)
                .ok_or(Error::<T>::Overflow)?;
            // What a claim can cost the insurer beyond the premium it keeps
            // must be recoverable from the deposit backing the contract.
            ensure!(
                amount <= T::Deposits::backing(contract).saturating_add(premium),
                Error::<T>::CoverExceedsBacking
            );
            if !premium.is_zero() {
                T::Currency::hold(&HoldReason::Premium.into(), &sender, premium)
                    .map_err(|_| Error::<T>::InsufficientFunds)?;
            }
            info.committed = info.committed.saturating_add(amount);
            info.covers = info.covers.checked_add(1).ok_or(Error::<T>::Overflow)?;
            Insurers::<T>::insert(&insurer, info);
            Covers::<T>::insert(
                contract,
                Cover {
                    insurer: insurer.clone(),
                    sender: sender.clone(),
                    host: target.host,
                    amount,
                    epoch_premium,
                    start,
                    last: target.last_epoch,
                    next_unpaid: start,
                    held: premium,
                },
            );
            Self::deposit_event(Event::CoverBought {
                contract,
                sender,
                insurer,
                amount,
                start,
                premium,
            });
            Ok(())
        }

        /// Pays `contract`'s insurer the premium of the covered epochs that
        /// have ended. Anyone may call it (the rest is paid when the
        /// contract ends).
        ///
        /// Emits [`Event::PremiumPaid`].
        #[pallet::call_index(5)]
        #[pallet::weight(T::WeightInfo::collect_premium())]
        pub fn collect_premium(origin: OriginFor<T>, contract: ContractId) -> DispatchResult {
            ensure_signed(origin)?;
            let mut cover = Covers::<T>::get(contract).ok_or(Error::<T>::NotCovered)?;
            let now = Self::current_epoch();
            ensure!(now > cover.next_unpaid, Error::<T>::NothingDue);
            let paid = Self::pay_premium(contract, &mut cover, now.saturating_sub(1));
            ensure!(!paid.is_zero(), Error::<T>::NothingDue);
            Covers::<T>::insert(contract, cover);
            Ok(())
        }

        /// The covered Sender ends `contract`'s cover: the premium of the
        /// epochs begun is paid, the rest returns, the insurer's capital is
        /// freed. The contract itself runs on.
        ///
        /// Emits [`Event::CoverEnded`].
        #[pallet::call_index(6)]
        #[pallet::weight(T::WeightInfo::cancel_cover())]
        pub fn cancel_cover(origin: OriginFor<T>, contract: ContractId) -> DispatchResult {
            let who = ensure_signed(origin)?;
            let cover = Covers::<T>::get(contract).ok_or(Error::<T>::NotCovered)?;
            ensure!(cover.sender == who, Error::<T>::NotCoverHolder);
            Covers::<T>::remove(contract);
            let now = Self::current_epoch();
            Self::close(contract, cover, Some(now));
            Ok(())
        }
    }

    impl<T: Config> Pallet<T> {
        /// The epoch now, by [`Config::Epochs`].
        pub fn current_epoch() -> EpochIndex {
            T::Epochs::epoch_of(frame_system::Pallet::<T>::block_number())
        }

        /// Stores `info`, or removes it (and its offer) once it holds nothing.
        fn put_insurer(who: &T::AccountId, info: InsurerInfo) {
            if info.capital.is_zero() && info.covers == 0 {
                Insurers::<T>::remove(who);
                if Offers::<T>::take(who).is_some() {
                    Self::deposit_event(Event::OfferRemoved {
                        insurer: who.clone(),
                    });
                }
            } else {
                Insurers::<T>::insert(who, info);
            }
        }

        /// Pays `cover`'s insurer the premium of its unpaid epochs up to
        /// `through` (inclusive, capped at the last covered epoch) from the
        /// Sender's held premium. Returns the amount paid.
        fn pay_premium(
            contract: ContractId,
            cover: &mut Cover<T::AccountId>,
            through: EpochIndex,
        ) -> Balance {
            let through = through.min(cover.last);
            if through < cover.next_unpaid {
                return 0;
            }
            let epochs = through.saturating_sub(cover.next_unpaid).saturating_add(1);
            let due = cover
                .epoch_premium
                .saturating_mul(epochs as Balance)
                .min(cover.held);
            let paid = if due.is_zero() {
                0
            } else {
                T::Currency::transfer_on_hold(
                    &HoldReason::Premium.into(),
                    &cover.sender,
                    &cover.insurer,
                    due,
                    Precision::Exact,
                    Restriction::Free,
                    Fortitude::Force,
                )
                .unwrap_or(0)
            };
            cover.held = cover.held.saturating_sub(paid);
            cover.next_unpaid = through.saturating_add(1);
            if !paid.is_zero() {
                Self::deposit_event(Event::PremiumPaid {
                    contract,
                    insurer: cover.insurer.clone(),
                    amount: paid,
                    through,
                });
            }
            paid
        }

        /// Ends a cover (already taken out of [`Covers`]): the premium up to
        /// `through` is paid, the rest returns to the Sender, the insurer's
        /// committed capital is freed.
        fn close(
            contract: ContractId,
            mut cover: Cover<T::AccountId>,
            through: Option<EpochIndex>,
        ) {
            if let Some(through) = through {
                Self::pay_premium(contract, &mut cover, through);
            }
            let refunded = Self::refund(&cover);
            Self::uncommit(&cover);
            Self::deposit_event(Event::CoverEnded { contract, refunded });
        }

        /// Returns `cover`'s unused premium to its Sender.
        fn refund(cover: &Cover<T::AccountId>) -> Balance {
            if cover.held.is_zero() {
                return 0;
            }
            T::Currency::release(
                &HoldReason::Premium.into(),
                &cover.sender,
                cover.held,
                Precision::BestEffort,
            )
            .unwrap_or(0)
        }

        /// Frees the capital `cover` committed.
        fn uncommit(cover: &Cover<T::AccountId>) {
            if let Some(mut info) = Insurers::<T>::get(&cover.insurer) {
                info.committed = info.committed.saturating_sub(cover.amount);
                info.covers = info.covers.saturating_sub(1);
                Self::put_insurer(&cover.insurer, info);
            }
        }

        /// A covered contract lost its data: the insurer keeps the premium
        /// of the whole covered term, pays the Sender the cover minus what
        /// the host's slashes already paid it, then recovers up to that from
        /// the deposit still backing the contract.
        fn claim(contract: ContractId, mut cover: Cover<T::AccountId>) {
            let last = cover.last;
            Self::pay_premium(contract, &mut cover, last);
            let refunded = Self::refund(&cover);
            let slashed = T::Deposits::paid_to_victims(contract);
            let due = cover.amount.saturating_sub(slashed);
            let mut info = Insurers::<T>::get(&cover.insurer).unwrap_or_default();
            let paid = if due.is_zero() {
                0
            } else {
                T::Currency::transfer_on_hold(
                    &HoldReason::Capital.into(),
                    &cover.insurer,
                    &cover.sender,
                    due.min(info.capital),
                    Precision::BestEffort,
                    Restriction::Free,
                    Fortitude::Force,
                )
                .unwrap_or(0)
            };
            info.capital = info.capital.saturating_sub(paid);
            info.committed = info.committed.saturating_sub(cover.amount);
            info.covers = info.covers.saturating_sub(1);
            Self::put_insurer(&cover.insurer, info);
            let recovered = if paid.is_zero() {
                0
            } else {
                T::Deposits::slash(contract, paid, &cover.insurer, paid).to_victim
            };
            if !refunded.is_zero() {
                Self::deposit_event(Event::CoverEnded { contract, refunded });
            }
            Self::deposit_event(Event::Claimed {
                contract,
                insurer: cover.insurer,
                sender: cover.sender,
                paid,
                recovered,
            });
        }

        /// The pallet's invariants: every insurer's hold equals its capital,
        /// which covers its committed cover, which is the sum of its covers;
        /// every Sender's premium hold equals its covers' held premiums.
        pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
            use alloc::collections::btree_map::BTreeMap;
            let mut committed: BTreeMap<T::AccountId, (Balance, u32)> = BTreeMap::new();
            let mut premiums: BTreeMap<T::AccountId, Balance> = BTreeMap::new();
            for (_, cover) in Covers::<T>::iter() {
                ensure!(
                    cover.start <= cover.last,
                    "a cover that starts after its term"
                );
                ensure!(
                    cover.next_unpaid >= cover.start,
                    "premium paid before the cover started"
                );
                let c = committed.entry(cover.insurer.clone()).or_default();
                c.0 = c.0.saturating_add(cover.amount);
                c.1 = c.1.saturating_add(1);
                let p = premiums.entry(cover.sender.clone()).or_default();
                *p = p.saturating_add(cover.held);
            }
            for (who, info) in Insurers::<T>::iter() {
                ensure!(
                    T::Currency::balance_on_hold(&HoldReason::Capital.into(), &who) == info.capital,
                    "capital hold != recorded capital"
                );
                ensure!(
                    info.capital >= info.committed,
                    "an insurer committed more cover than its capital"
                );
                let (sum, n) = committed.remove(&who).unwrap_or_default();
                ensure!(
                    sum == info.committed && n == info.covers,
                    "committed capital != the insurer's covers"
                );
                ensure!(
                    !(info.capital.is_zero() && info.covers == 0),
                    "an empty insurer record"
                );
            }
            ensure!(committed.is_empty(), "a cover of an unknown insurer");
            for (who, _) in Offers::<T>::iter() {
                ensure!(
                    Insurers::<T>::contains_key(&who),
                    "an offer of an insurer without capital"
                );
            }
            for (who, held) in premiums {
                ensure!(
                    T::Currency::balance_on_hold(&HoldReason::Premium.into(), &who) == held,
                    "premium hold != the Sender's covers' held premiums"
                );
            }
            Ok(())
        }
    }

    impl<T: Config> ContractObserver<T::AccountId, Balance> for Pallet<T> {
        /// A covered contract ended: with its data lost (during the cover)
        /// the insurer keeps the term's premium and pays the claim;
        /// otherwise the premium of the epochs it was live is paid (none if
        /// the host never confirmed the upload) and the rest returns.
        fn contract_ended(
            contract: ContractId,
            _host: &T::AccountId,
            _sender: &T::AccountId,
            how: ContractEnd,
            _paid: Balance,
        ) {
            let Some(cover) = Covers::<T>::take(contract) else {
                return;
            };
            let now = Self::current_epoch();
            match how {
                ContractEnd::DataLost if now >= cover.start => Self::claim(contract, cover),
                ContractEnd::NotConfirmed => Self::close(contract, cover, None),
                _ => Self::close(contract, cover, Some(now)),
            }
        }

        fn contract_ended_weight() -> Weight {
            T::WeightInfo::claim()
        }
    }
}
