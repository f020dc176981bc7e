//! # Listings pallet
//!
//! The white paper's content distribution: "authentic content can be
//! distributed seamlessly and securely bypassing intermediaries and their
//! fees". A Sender lists a file it stores; a Receiver gets it free or at the
//! Sender's price, with the file key sealed to it, and nobody in between
//! takes a cut.
//!
//! - **Listings** ([`Pallet::share`], [`Pallet::unshare`]): a Sender lists
//!   the storage contracts of one of its files with a price (zero for free),
//!   a commitment to the file key ([`masp_primitives::seal::key_commitment`])
//!   and the hash of the listing manifest (the file's layout, sealed under
//!   the file key and kept by the hosts). Optional: an expiry, a most number
//!   of buyers, one account it is meant for (`to`, a private grant). A free
//!   listing may publish its key (`open_key`): the content is then public,
//!   as the Sender chose. The only cost is the listing's deposit
//!   ([`Config::ListingDeposit`], held, returned when the listing goes).
//!   Unsharing closes a listing to new buyers; buyers keep their access for
//!   as long as the file is stored.
//! - **Purchases** ([`Pallet::buy`]): the buyer names an X25519 key of its
//!   own for this purchase (derived from its phrase) and the price is held
//!   in escrow, with a small deposit for the purchase's record
//!   ([`Config::PurchaseDeposit`]). Nothing else is paid: no platform fee.
//! - **Key hand-off** ([`Pallet::deliver_key`]): the Sender (its `masp
//!   agent`) puts the file key sealed to the buyer's key on chain within
//!   [`Config::KeyDeadline`] blocks, or the purchase refunds itself. The
//!   price is paid to the Sender [`Config::DisputePeriod`] blocks later.
//! - **Wrong keys** ([`Pallet::dispute_key`]): within that period the buyer
//!   may reveal the purchase's secret key (it opens nothing but this
//!   purchase's sealed key). The chain opens the sealed key itself; if it
//!   does not open, or is not the key the listing committed to, the buyer is
//!   refunded in full, is paid the listing's deposit, and the listing
//!   closes. If the key is right the dispute fails and changes nothing.
//! - **Clean-up** ([`Pallet::remove_listing`], [`Pallet::remove_purchase`]):
//!   once every contract of a listing has ended and no purchase is in
//!   flight, anyone may remove it (the deposit returns to the Sender), then
//!   its purchase records (each deposit returns to its buyer).
//!
//! Deadlines and payments sit in a per-block due-queue that a bounded hook
//! drains; no call or hook iterates over listings or purchases.
//!
//! Invariants (`try_state`, run after every test): each Sender's listing hold
//! equals the deposits of its listings; each buyer's purchase hold equals the
//! prices in escrow plus the record deposits of its purchases; each
//! listing's counts match its purchases.

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
            fungible::{Inspect, Mutate, MutateHold},
            tokens::{Fortitude, Precision, Restriction},
        },
    };
    use frame_system::pallet_prelude::*;
    use masp_primitives::{
        market::ContractId,
        seal::{self, Key32, SealedKey},
        traits::{ReadAccess, StorageContracts},
        Balance,
    };
    use sp_runtime::traits::{Saturating, Zero};

    /// A listing's id (counts up from 0).
    pub type ListingId = u64;

    /// Who may buy a listing, and for how much.
    #[derive(
        Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
    )]
    pub struct ListingTerms<AccountId, BlockNumber> {
        /// MASP a buyer pays the Sender; zero for free.
        pub price: Balance,
        /// The file key itself, for a free public listing.
        pub open_key: Option<Key32>,
        /// The only account that may buy (a private grant).
        pub to: Option<AccountId>,
        /// The block from which nobody can buy.
        pub expires: Option<BlockNumber>,
        /// The most purchases ever made.
        pub max_buyers: Option<u32>,
    }

    /// A Sender's offer of one file.
    #[derive(
        CloneNoBound,
        PartialEqNoBound,
        EqNoBound,
        DebugNoBound,
        Encode,
        Decode,
        DecodeWithMemTracking,
        MaxEncodedLen,
        TypeInfo,
    )]
    #[scale_info(skip_type_params(T))]
    pub struct Listing<T: Config> {
        /// Who lists the file (every contract's Sender); paid by buyers.
        pub sender: T::AccountId,
        /// The file's storage contracts (its replicas or shards).
        pub contracts: BoundedVec<ContractId, T::MaxContracts>,
        /// How many of `contracts` must be stored for the file to be
        /// readable (1 for replicas, K for K+M shards): with fewer, the
        /// listing sells nothing more.
        pub need: u32,
        /// `seal::key_commitment` of the file key: a delivered key is judged
        /// against it.
        pub key_commitment: Key32,
        /// BLAKE2b-256 of the listing manifest (the file's layout sealed
        /// under its key) that hosts serve to Receivers.
        pub manifest: Key32,
        /// Price, public key, private grant, expiry, most buyers.
        pub terms: ListingTerms<T::AccountId, BlockNumberFor<T>>,
        /// Purchases made (refunded ones excluded).
        pub sold: u32,
        /// Purchase records kept for this listing.
        pub records: u32,
        /// Purchases whose key is not delivered yet or not paid for yet.
        pub pending: u32,
        /// Closed to new buyers (unshared, or a wrong key was delivered).
        pub closed: bool,
        /// The Sender's deposit held for this listing.
        pub deposit: Balance,
        /// A short public description, as the Sender wrote it (UTF-8).
        pub meta: BoundedVec<u8, T::MaxMeta>,
    }

    /// Where a purchase stands.
    #[derive(
        Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
    )]
    pub enum PurchaseState<BlockNumber> {
        /// The Sender must deliver the key before `deadline`.
        AwaitingKey {
            /// The block at which the purchase refunds itself.
            deadline: BlockNumber,
        },
        /// The key is on chain; the price goes to the Sender at
        /// `release_at` unless the buyer shows it is wrong before then.
        Delivered {
            /// The file key sealed to the purchase's key.
            sealed: SealedKey,
            /// The block at which the Sender is paid.
            release_at: BlockNumber,
        },
        /// Paid for: the buyer keeps access while the file is stored.
        Settled {
            /// The file key sealed to the purchase's key.
            sealed: SealedKey,
        },
    }

    /// One buyer's purchase of one listing.
    #[derive(
        Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
    )]
    pub struct Purchase<BlockNumber> {
        /// The price held in escrow (zero once paid).
        pub escrow: Balance,
        /// The record's deposit held from the buyer.
        pub deposit: Balance,
        /// The buyer's X25519 key for this purchase.
        pub recipient: Key32,
        /// Where it stands.
        pub state: PurchaseState<BlockNumber>,
    }

    /// Work due at a block.
    #[derive(
        Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
    )]
    pub enum DueItem<AccountId> {
        /// Refund the purchase if its key is still not delivered.
        KeyDeadline(ListingId, AccountId),
        /// Pay the Sender for a delivered key nobody disputed.
        Release(ListingId, AccountId),
    }

    /// The layout of this pallet's storage. Bump it with every change to a
    /// stored type or key, together with a migration from the previous
    /// version (see pallets/README.md, "Storage versions and migrations").
    const STORAGE_VERSION: StorageVersion = StorageVersion::new(0);

    #[pallet::pallet]
    #[pallet::storage_version(STORAGE_VERSION)]
    pub struct Pallet<T>(_);

    #[pallet::config]
    pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
        /// MASP: prices and deposits are held in it.
        type Currency: Inspect<Self::AccountId, Balance = Balance>
            + Mutate<Self::AccountId>
            + MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

        /// The runtime's hold reasons (ours are [`HoldReason`]).
        type RuntimeHoldReason: From<HoldReason>;

        /// The market's contracts: who stores what, for whom.
        type Contracts: StorageContracts<Self::AccountId, Balance>;

        /// The most contracts (replicas or shards) one listing names.
        #[pallet::constant]
        type MaxContracts: Get<u32>;

        /// The longest description.
        #[pallet::constant]
        type MaxMeta: Get<u32>;

        /// Held from the Sender for each listing.
        #[pallet::constant]
        type ListingDeposit: Get<Balance>;

        /// Held from a buyer for each purchase record.
        #[pallet::constant]
        type PurchaseDeposit: Get<Balance>;

        /// Blocks a Sender has to deliver a bought key (shorter than
        /// `DisputePeriod`).
        #[pallet::constant]
        type KeyDeadline: Get<BlockNumberFor<Self>>;

        /// Blocks after a delivery during which the buyer may show the key
        /// is wrong; the Sender is paid after them.
        #[pallet::constant]
        type DisputePeriod: Get<BlockNumberFor<Self>>;

        /// Due items (deadlines, payments) processed per block.
        #[pallet::constant]
        type MaxDuePerBlock: Get<u32>;

        /// Weights of the calls and the hook, from the pallet's benchmarks.
        type WeightInfo: WeightInfo;

        /// Creates contracts for the benchmarks.
        #[cfg(feature = "runtime-benchmarks")]
        type BenchmarkHelper: BenchmarkHelper<Self::AccountId>;
    }

    /// What the benchmarks need from the runtime.
    #[cfg(feature = "runtime-benchmarks")]
    pub trait BenchmarkHelper<AccountId> {
        /// A live contract whose Sender is `sender` (`n` distinguishes
        /// several of one Sender).
        fn contract(sender: &AccountId, n: u32) -> ContractId;
        /// Ends `contract` (it is no longer stored).
        fn end(contract: ContractId);
    }

    /// Why this pallet holds MASP.
    #[pallet::composite_enum]
    pub enum HoldReason {
        /// A Sender's listing deposits.
        #[codec(index = 0)]
        Listing,
        /// A buyer's prices in escrow and purchase record deposits.
        #[codec(index = 1)]
        Purchase,
    }

    /// The next listing's id.
    #[pallet::storage]
    pub type NextListingId<T: Config> = StorageValue<_, ListingId, ValueQuery>;

    /// Every listing.
    #[pallet::storage]
    pub type Listings<T: Config> = StorageMap<_, Twox64Concat, ListingId, Listing<T>>;

    /// Purchases: `(listing, buyer) -> purchase`.
    #[pallet::storage]
    pub type Purchases<T: Config> = StorageDoubleMap<
        _,
        Twox64Concat,
        ListingId,
        Blake2_128Concat,
        T::AccountId,
        Purchase<BlockNumberFor<T>>,
    >;

    /// Work due at a block: `(block, n) -> item`.
    #[pallet::storage]
    pub type DueQueue<T: Config> = StorageDoubleMap<
        _,
        Twox64Concat,
        BlockNumberFor<T>,
        Twox64Concat,
        u32,
        DueItem<T::AccountId>,
    >;

    /// How many items were queued at a block.
    #[pallet::storage]
    pub type DueCount<T: Config> = StorageMap<_, Twox64Concat, BlockNumberFor<T>, u32, ValueQuery>;

    /// The next due item to process: `(block, n)`.
    #[pallet::storage]
    pub type DueCursor<T: Config> = StorageValue<_, (BlockNumberFor<T>, u32)>;

    /// Why a purchase was refunded.
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
    pub enum RefundReason {
        /// The Sender did not deliver the key in time.
        KeyNotDelivered,
        /// The key delivered was not the listed one.
        WrongKey,
        /// The file was no longer stored when the Sender was to be paid.
        FileGone,
    }

    #[pallet::event]
    #[pallet::generate_deposit(pub(super) fn deposit_event)]
    pub enum Event<T: Config> {
        /// `sender` listed a file as `listing` at `price` (zero: free).
        Shared {
            listing: ListingId,
            sender: T::AccountId,
            price: Balance,
            public: bool,
        },
        /// `listing` takes no new buyers; existing ones keep access.
        Unshared { listing: ListingId },
        /// `buyer` bought `listing`; `price` is held until the key arrives.
        Bought {
            listing: ListingId,
            buyer: T::AccountId,
            price: Balance,
        },
        /// The Sender put `buyer`'s sealed key of `listing` on chain.
        KeyDelivered {
            listing: ListingId,
            buyer: T::AccountId,
        },
        /// `sender` was paid `amount` for `buyer`'s purchase of `listing`.
        Paid {
            listing: ListingId,
            buyer: T::AccountId,
            sender: T::AccountId,
            amount: Balance,
        },
        /// `buyer`'s purchase of `listing` was refunded (`amount`, deposit
        /// included) and its record removed.
        Refunded {
            listing: ListingId,
            buyer: T::AccountId,
            amount: Balance,
            reason: RefundReason,
        },
        /// The key delivered to `buyer` was wrong: the listing closed and its
        /// deposit, `compensation`, went to the buyer.
        KeyRejected {
            listing: ListingId,
            buyer: T::AccountId,
            compensation: Balance,
        },
        /// `listing` was removed (its file is no longer stored).
        ListingRemoved { listing: ListingId },
        /// `buyer`'s record of a removed `listing` was removed.
        PurchaseRemoved {
            listing: ListingId,
            buyer: T::AccountId,
        },
    }

    #[pallet::error]
    pub enum Error<T> {
        /// A listing names at least one contract.
        NoContracts,
        /// A contract is named twice.
        DuplicateContract,
        /// No live contract with that id.
        UnknownContract,
        /// Only a contract's Sender may list it.
        NotContractSender,
        /// A public listing (with its key) must be free and not private.
        PublicListingNotFree,
        /// The open key does not match the key commitment.
        WrongOpenKey,
        /// The expiry is not in the future.
        ExpiryInPast,
        /// `max_buyers` must be at least one.
        ZeroMaxBuyers,
        /// No such listing.
        UnknownListing,
        /// Only the listing's Sender may do this.
        NotListingSender,
        /// The listing takes no new buyers.
        ListingClosed,
        /// The listing has expired.
        ListingExpired,
        /// The listing sold as many as it allows.
        SoldOut,
        /// The listing is meant for another account.
        NotForYou,
        /// A public listing's key is on chain: nothing to buy.
        PublicListing,
        /// The Sender does not buy its own listing.
        OwnListing,
        /// The caller already bought this listing.
        AlreadyBought,
        /// That X25519 key is not canonical (top bit set or not below
        /// 2^255 - 19) or is of small order (a key sealed to it would be
        /// readable by everyone).
        WeakKey,
        /// None of the listing's contracts is stored any more.
        FileGone,
        /// The caller cannot pay the price and the deposit.
        InsufficientFunds,
        /// The listing's price is above the caller's `max_price`.
        PriceAboveMax,
        /// No such purchase.
        UnknownPurchase,
        /// The purchase is not waiting for its key.
        NotAwaitingKey,
        /// The key deadline passed; the purchase is being refunded.
        DeadlinePassed,
        /// The purchase has no delivered key in its dispute period.
        NotDisputable,
        /// The secret is not the purchase key's.
        WrongSecret,
        /// The delivered key opens and is the listed one: nothing to dispute.
        KeyIsValid,
        /// The listing's file is still stored, or a purchase is in flight.
        ListingInUse,
        /// The listing still exists.
        ListingExists,
        /// An amount or count does not fit its type.
        Overflow,
        /// A listed contract's host has not confirmed it stores the data.
        NotConfirmed,
        /// Nothing is due for that purchase yet (or it is settled).
        NotDue,
        /// `need` must be between 1 and the number of contracts.
        BadNeed,
        /// The contracts do not store one file: their sizes must be within
        /// one chunk (1 MiB) of the largest, and with `need` K > 1 (shards)
        /// their roots distinct. So a cheap live junk contract cannot keep a
        /// gone file sold.
        MixedFiles,
    }

    #[pallet::hooks]
    impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
        /// Drains the due-queue: at most `MaxDuePerBlock` items per block.
        fn on_initialize(now: BlockNumberFor<T>) -> Weight {
            let (items, steps) = Self::process_due(now, T::MaxDuePerBlock::get());
            // Each step beyond an item passes a block: one count read and
            // removed.
            let passed = steps.saturating_sub(items) as u64;
            T::WeightInfo::process_due(items)
                .saturating_add(T::DbWeight::get().reads_writes(passed, passed))
        }

        fn integrity_test() {
            assert!(T::MaxContracts::get() > 0, "MaxContracts must be > 0");
            assert!(!T::KeyDeadline::get().is_zero(), "KeyDeadline must be > 0");
            assert!(
                T::DisputePeriod::get() > T::KeyDeadline::get(),
                "DisputePeriod must be longer than KeyDeadline"
            );
            assert!(T::MaxDuePerBlock::get() > 0, "MaxDuePerBlock must be > 0");
            assert!(
                !T::PurchaseDeposit::get().is_zero(),
                "PurchaseDeposit must be > 0 (it pays for the record)"
            );
        }

        #[cfg(feature = "try-runtime")]
        fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
            Self::do_try_state()
        }
    }

    #[pallet::call]
    impl<T: Config> Pallet<T> {
        /// Lists a file the caller stores: `contracts` (every one live,
        /// confirmed and the caller's: the file's replicas or its shards),
        /// of which `need` must stay stored for the file to be readable (1
        /// for replicas, K for K+M shards; fewer stored and nobody can buy
        /// it, and a delivered key is refunded), committing to the file key (`key_commitment`) and
        /// to the listing manifest hosts serve (`manifest`, its BLAKE2b-256),
        /// on `terms`: a `price` (zero: free); `open_key` publishes the key
        /// (a free public listing: no price, no `to`, and the key must match
        /// `key_commitment`); `to` makes a private grant (only that account
        /// may buy); `expires` (a future block) and `max_buyers` limit sales.
        /// `meta` is a short public description. Holds `ListingDeposit`.
        #[pallet::call_index(0)]
        #[pallet::weight(T::WeightInfo::share(contracts.len() as u32))]
        pub fn share(
            origin: OriginFor<T>,
            contracts: BoundedVec<ContractId, T::MaxContracts>,
            need: u32,
            key_commitment: Key32,
            manifest: Key32,
            terms: ListingTerms<T::AccountId, BlockNumberFor<T>>,
            meta: BoundedVec<u8, T::MaxMeta>,
        ) -> DispatchResult {
            let sender = ensure_signed(origin)?;
            ensure!(!contracts.is_empty(), Error::<T>::NoContracts);
            ensure!(
                need >= 1 && need as usize <= contracts.len(),
                Error::<T>::BadNeed
            );
            // (root, size) of each contract, to judge what they store.
            let mut files = alloc::vec::Vec::with_capacity(contracts.len());
            for (i, c) in contracts.iter().enumerate() {
                ensure!(
                    !contracts.iter().take(i).any(|d| d == c),
                    Error::<T>::DuplicateContract
                );
                let target = T::Contracts::proof_target(*c).ok_or(Error::<T>::UnknownContract)?;
                ensure!(target.sender == sender, Error::<T>::NotContractSender);
                ensure!(target.confirmed, Error::<T>::NotConfirmed);
                files.push((target.merkle_root, target.size));
            }
            Self::check_layout(&files, need)?;
            if let Some(key) = terms.open_key {
                ensure!(
                    terms.price.is_zero() && terms.to.is_none(),
                    Error::<T>::PublicListingNotFree
                );
                ensure!(
                    seal::key_commitment(&key) == key_commitment,
                    Error::<T>::WrongOpenKey
                );
            }
            let now = frame_system::Pallet::<T>::block_number();
            ensure!(
                terms.expires.is_none_or(|e| e > now),
                Error::<T>::ExpiryInPast
            );
            ensure!(terms.max_buyers != Some(0), Error::<T>::ZeroMaxBuyers);

            let id = NextListingId::<T>::get();
            let next = id.checked_add(1).ok_or(Error::<T>::Overflow)?;
            let (price, public) = (terms.price, terms.open_key.is_some());
            let deposit = T::ListingDeposit::get();
            T::Currency::hold(&HoldReason::Listing.into(), &sender, deposit)
                .map_err(|_| Error::<T>::InsufficientFunds)?;
            NextListingId::<T>::put(next);
            Listings::<T>::insert(
                id,
                Listing {
                    sender: sender.clone(),
                    contracts,
                    need,
                    key_commitment,
                    manifest,
                    terms,
                    sold: 0,
                    records: 0,
                    pending: 0,
                    closed: false,
                    deposit,
                    meta,
                },
            );
            Self::deposit_event(Event::Shared {
                listing: id,
                sender,
                price,
                public,
            });
            Ok(())
        }

        /// Closes `listing` to new buyers (its Sender only). Buyers keep their
        /// access for as long as the file is stored; purchases in flight
        /// still get their key (or their refund).
        #[pallet::call_index(1)]
        #[pallet::weight(T::WeightInfo::unshare())]
        pub fn unshare(origin: OriginFor<T>, listing: ListingId) -> DispatchResult {
            let who = ensure_signed(origin)?;
            Listings::<T>::try_mutate(listing, |l| -> DispatchResult {
                let l = l.as_mut().ok_or(Error::<T>::UnknownListing)?;
                ensure!(l.sender == who, Error::<T>::NotListingSender);
                ensure!(!l.closed, Error::<T>::ListingClosed);
                l.closed = true;
                Ok(())
            })?;
            Self::deposit_event(Event::Unshared { listing });
            Ok(())
        }

        /// Buys `listing`: holds its price (in escrow until the key arrives)
        /// and `PurchaseDeposit`. `recipient` is the caller's X25519 key for
        /// this purchase, to which the Sender seals the file key; `max_price`
        /// guards against paying more than the caller saw.
        ///
        /// The Sender must deliver within `KeyDeadline` blocks, else the
        /// purchase refunds itself.
        #[pallet::call_index(2)]
        #[pallet::weight(T::WeightInfo::buy(T::MaxContracts::get()))]
        pub fn buy(
            origin: OriginFor<T>,
            listing: ListingId,
            recipient: Key32,
            max_price: Balance,
        ) -> DispatchResultWithPostInfo {
            let buyer = ensure_signed(origin)?;
            let mut l = Listings::<T>::get(listing).ok_or(Error::<T>::UnknownListing)?;
            ensure!(l.terms.open_key.is_none(), Error::<T>::PublicListing);
            ensure!(l.sender != buyer, Error::<T>::OwnListing);
            ensure!(
                !Purchases::<T>::contains_key(listing, &buyer),
                Error::<T>::AlreadyBought
            );
            ensure!(!l.closed, Error::<T>::ListingClosed);
            let now = frame_system::Pallet::<T>::block_number();
            ensure!(
                l.terms.expires.is_none_or(|e| now < e),
                Error::<T>::ListingExpired
            );
            ensure!(
                l.terms.max_buyers.is_none_or(|m| l.sold < m),
                Error::<T>::SoldOut
            );
            ensure!(
                l.terms.to.as_ref().is_none_or(|to| *to == buyer),
                Error::<T>::NotForYou
            );
            ensure!(l.terms.price <= max_price, Error::<T>::PriceAboveMax);
            ensure!(
                seal::is_canonical(&recipient) && !seal::is_weak(&recipient),
                Error::<T>::WeakKey
            );
            let (stored, checked) = Self::stored(&l);
            ensure!(stored, Error::<T>::FileGone);

            let deposit = T::PurchaseDeposit::get();
            let held = l
                .terms
                .price
                .checked_add(deposit)
                .ok_or(Error::<T>::Overflow)?;
            l.sold = l.sold.checked_add(1).ok_or(Error::<T>::Overflow)?;
            l.records = l.records.checked_add(1).ok_or(Error::<T>::Overflow)?;
            l.pending = l.pending.checked_add(1).ok_or(Error::<T>::Overflow)?;
            let deadline = Self::after(now, T::KeyDeadline::get());
            T::Currency::hold(&HoldReason::Purchase.into(), &buyer, held)
                .map_err(|_| Error::<T>::InsufficientFunds)?;
            Self::schedule(deadline, DueItem::KeyDeadline(listing, buyer.clone()))?;
            let price = l.terms.price;
            Listings::<T>::insert(listing, l);
            Purchases::<T>::insert(
                listing,
                &buyer,
                Purchase {
                    escrow: price,
                    deposit,
                    recipient,
                    state: PurchaseState::AwaitingKey { deadline },
                },
            );
            Self::deposit_event(Event::Bought {
                listing,
                buyer,
                price,
            });
            Ok(Some(T::WeightInfo::buy(checked)).into())
        }

        /// Puts the file key, sealed to `buyer`'s purchase key, on chain (the
        /// listing's Sender only, before the deadline). The Sender is paid
        /// `DisputePeriod` blocks later unless the buyer shows the key is
        /// wrong. A delivery pays no fee: each answers one purchase its buyer
        /// paid the fee and a deposit for, so buyers of a free listing
        /// (Sybils included) cannot drain the Sender's agent with fees.
        #[pallet::call_index(3)]
        #[pallet::weight(T::WeightInfo::deliver_key())]
        pub fn deliver_key(
            origin: OriginFor<T>,
            listing: ListingId,
            buyer: T::AccountId,
            sealed: SealedKey,
        ) -> DispatchResultWithPostInfo {
            let who = ensure_signed(origin)?;
            let l = Listings::<T>::get(listing).ok_or(Error::<T>::UnknownListing)?;
            ensure!(l.sender == who, Error::<T>::NotListingSender);
            let mut p = Purchases::<T>::get(listing, &buyer).ok_or(Error::<T>::UnknownPurchase)?;
            let PurchaseState::AwaitingKey { deadline } = p.state else {
                return Err(Error::<T>::NotAwaitingKey.into());
            };
            let now = frame_system::Pallet::<T>::block_number();
            ensure!(now < deadline, Error::<T>::DeadlinePassed);
            let release_at = Self::after(now, T::DisputePeriod::get());
            Self::schedule(release_at, DueItem::Release(listing, buyer.clone()))?;
            p.state = PurchaseState::Delivered { sealed, release_at };
            Purchases::<T>::insert(listing, &buyer, p);
            Self::deposit_event(Event::KeyDelivered { listing, buyer });
            Ok(Pays::No.into())
        }

        /// Shows that the key delivered for the caller's purchase of
        /// `listing` is wrong, by revealing the purchase's X25519 `secret`
        /// (it opens this sealed key and nothing else). The chain opens the
        /// sealed key: if it does not open or is not the key the listing
        /// committed to, the caller gets back the price and the deposit, is
        /// paid the listing's deposit, and the listing closes. If the key is
        /// right, the call fails ([`Error::KeyIsValid`]) and changes nothing.
        #[pallet::call_index(4)]
        #[pallet::weight(T::WeightInfo::dispute_key())]
        pub fn dispute_key(
            origin: OriginFor<T>,
            listing: ListingId,
            secret: Key32,
        ) -> DispatchResult {
            let buyer = ensure_signed(origin)?;
            let mut l = Listings::<T>::get(listing).ok_or(Error::<T>::UnknownListing)?;
            let p = Purchases::<T>::get(listing, &buyer).ok_or(Error::<T>::UnknownPurchase)?;
            let now = frame_system::Pallet::<T>::block_number();
            let PurchaseState::Delivered { sealed, release_at } = p.state else {
                return Err(Error::<T>::NotDisputable.into());
            };
            ensure!(now < release_at, Error::<T>::NotDisputable);
            ensure!(
                seal::public_key(&secret) == p.recipient,
                Error::<T>::WrongSecret
            );
            let context = seal::purchase_context(listing, &Self::account_bytes(&buyer));
            let opened = seal::open(&sealed, &secret, &context);
            ensure!(
                opened.is_none_or(|key| seal::key_commitment(&key) != l.key_commitment),
                Error::<T>::KeyIsValid
            );

            // The Sender delivered a wrong key: the buyer is made whole and
            // paid the listing's deposit; the listing sells no more.
            let compensation = if l.deposit.is_zero() {
                0
            } else {
                T::Currency::transfer_on_hold(
                    &HoldReason::Listing.into(),
                    &l.sender,
                    &buyer,
                    l.deposit,
                    Precision::Exact,
                    Restriction::Free,
                    Fortitude::Force,
                )?
            };
            l.deposit = l.deposit.saturating_sub(compensation);
            l.closed = true;
            let refunded = Self::refund(listing, &buyer, &p, &mut l)?;
            Listings::<T>::insert(listing, l);
            Self::deposit_event(Event::KeyRejected {
                listing,
                buyer: buyer.clone(),
                compensation,
            });
            Self::deposit_event(Event::Refunded {
                listing,
                buyer,
                amount: refunded,
                reason: RefundReason::WrongKey,
            });
            Ok(())
        }

        /// Removes `listing` once none of its contracts is stored any more
        /// and no purchase is in flight (anyone may call): the deposit left
        /// returns to the Sender.
        #[pallet::call_index(5)]
        #[pallet::weight(T::WeightInfo::remove_listing(T::MaxContracts::get()))]
        pub fn remove_listing(origin: OriginFor<T>, listing: ListingId) -> DispatchResult {
            ensure_signed(origin)?;
            let l = Listings::<T>::get(listing).ok_or(Error::<T>::UnknownListing)?;
            ensure!(l.pending == 0, Error::<T>::ListingInUse);
            ensure!(
                l.contracts
                    .iter()
                    .all(|c| T::Contracts::proof_target(*c).is_none()),
                Error::<T>::ListingInUse
            );
            if !l.deposit.is_zero() {
                T::Currency::release(
                    &HoldReason::Listing.into(),
                    &l.sender,
                    l.deposit,
                    Precision::Exact,
                )?;
            }
            Listings::<T>::remove(listing);
            Self::deposit_event(Event::ListingRemoved { listing });
            Ok(())
        }

        /// Removes `buyer`'s record of a removed `listing` (anyone may call):
        /// its deposit returns to the buyer.
        #[pallet::call_index(6)]
        #[pallet::weight(T::WeightInfo::remove_purchase())]
        pub fn remove_purchase(
            origin: OriginFor<T>,
            listing: ListingId,
            buyer: T::AccountId,
        ) -> DispatchResult {
            ensure_signed(origin)?;
            ensure!(
                !Listings::<T>::contains_key(listing),
                Error::<T>::ListingExists
            );
            let p = Purchases::<T>::take(listing, &buyer).ok_or(Error::<T>::UnknownPurchase)?;
            let held = p.escrow.saturating_add(p.deposit);
            T::Currency::release(&HoldReason::Purchase.into(), &buyer, held, Precision::Exact)?;
            Self::deposit_event(Event::PurchaseRemoved { listing, buyer });
            Ok(())
        }

        /// Does what is due for `buyer`'s purchase of `listing` now that its
        /// block has passed (anyone may call; the due-queue does the same
        /// when it reaches the item): refunds a purchase whose key is late;
        /// pays the Sender for a delivered key nobody disputed, or refunds
        /// the buyer if the file is no longer stored. A busy queue therefore
        /// never keeps anyone's money waiting.
        #[pallet::call_index(7)]
        #[pallet::weight(T::WeightInfo::settle())]
        pub fn settle(
            origin: OriginFor<T>,
            listing: ListingId,
            buyer: T::AccountId,
        ) -> DispatchResult {
            ensure_signed(origin)?;
            Self::settle_due(listing, &buyer, frame_system::Pallet::<T>::block_number())
        }
    }

    impl<T: Config> Pallet<T> {
        /// Whether `who` may download `listing`'s file: its Sender, anyone
        /// for a public listing, a buyer whose key was delivered.
        pub fn has_access(listing: ListingId, who: &T::AccountId) -> bool {
            Listings::<T>::get(listing).is_some_and(|l| Self::reads(&l, listing, who))
        }

        /// Whether `who` reads `l` (listing `listing`): its Sender, anyone
        /// if it is public, a buyer whose key was delivered.
        fn reads(l: &Listing<T>, listing: ListingId, who: &T::AccountId) -> bool {
            l.sender == *who
                || l.terms.open_key.is_some()
                || matches!(
                    Purchases::<T>::get(listing, who).map(|p| p.state),
                    Some(PurchaseState::Delivered { .. } | PurchaseState::Settled { .. })
                )
        }

        /// Whether `who` may download `contract` through `listing`: the
        /// listing names the contract and `who` has access to it.
        pub fn may_read_contract(
            listing: ListingId,
            who: &T::AccountId,
            contract: ContractId,
        ) -> bool {
            Listings::<T>::get(listing)
                .is_some_and(|l| l.contracts.contains(&contract) && Self::reads(&l, listing, who))
        }

        /// The 32 bytes of an account id as the client binds them into a
        /// sealed key's context (its SCALE encoding, padded or cut to 32).
        pub fn account_bytes(who: &T::AccountId) -> [u8; 32] {
            let mut out = [0u8; 32];
            let encoded = who.encode();
            let n = encoded.len().min(32);
            out[..n].copy_from_slice(&encoded[..n]);
            out
        }

        /// Whether at least `l.need` of `l`'s contracts are still stored
        /// (live and confirmed by their hosts): the file is readable. Also
        /// how many were looked at.
        fn stored(l: &Listing<T>) -> (bool, u32) {
            let (mut checked, mut live) = (0u32, 0u32);
            for c in l.contracts.iter() {
                checked = checked.saturating_add(1);
                if T::Contracts::proof_target(*c).is_some_and(|t| t.confirmed) {
                    live = live.saturating_add(1);
                    if live >= l.need {
                        return (true, checked);
                    }
                }
            }
            (false, checked)
        }

        /// What the listed contracts store must fit `need`, so that no live
        /// junk contract keeps a gone file sold cheaply:
        /// - every contract is at least the largest minus one chunk (1 MiB),
        ///   as one file's replicas (one size) and shards (within a chunk)
        ///   are: a junk contract costs the Sender as much as a real one for
        ///   as long as it keeps the listing alive;
        /// - `need > 1` (K of K+M shards): every root differs, so each
        ///   shard counts once towards `need`. With `need == 1` (replicas)
        ///   roots may repeat (copies of one ciphertext) or differ (copies
        ///   sealed under distinct keys).
        fn check_layout(files: &[([u8; 32], u64)], need: u32) -> DispatchResult {
            /// One storage-proof chunk (`masp_proofs::CHUNK_SIZE`): shards of
            /// one file differ by at most that much.
            const SHARD_SLACK: u64 = 1 << 20;
            if need > 1 {
                for (i, (root, _)) in files.iter().enumerate() {
                    ensure!(
                        !files.iter().take(i).any(|(r, _)| r == root),
                        Error::<T>::MixedFiles
                    );
                }
            }
            let largest = files.iter().map(|(_, size)| *size).max().unwrap_or(0);
            let floor = largest.saturating_sub(SHARD_SLACK);
            ensure!(
                files.iter().all(|(_, size)| *size >= floor),
                Error::<T>::MixedFiles
            );
            Ok(())
        }

        /// `period` blocks after `now`, at least one: a deadline is never
        /// behind the due-queue's cursor, whatever the runtime sets.
        fn after(now: BlockNumberFor<T>, period: BlockNumberFor<T>) -> BlockNumberFor<T> {
            now.saturating_add(period.max(1u32.into()))
        }

        /// Returns the purchase's escrow and deposit to the buyer, removes
        /// its record and updates `l`'s counts. Returns the amount released;
        /// on an error nothing changed.
        fn refund(
            listing: ListingId,
            buyer: &T::AccountId,
            p: &Purchase<BlockNumberFor<T>>,
            l: &mut Listing<T>,
        ) -> Result<Balance, DispatchError> {
            let held = p.escrow.saturating_add(p.deposit);
            let released =
                T::Currency::release(&HoldReason::Purchase.into(), buyer, held, Precision::Exact)?;
            Purchases::<T>::remove(listing, buyer);
            l.sold = l.sold.saturating_sub(1);
            l.records = l.records.saturating_sub(1);
            l.pending = l.pending.saturating_sub(1);
            Ok(released)
        }

        /// What [`Pallet::settle`] and the due-queue do: whatever is due at
        /// `now` for `buyer`'s purchase of `listing`. On an error nothing
        /// changed.
        fn settle_due(
            listing: ListingId,
            buyer: &T::AccountId,
            now: BlockNumberFor<T>,
        ) -> DispatchResult {
            let mut l = Listings::<T>::get(listing).ok_or(Error::<T>::UnknownListing)?;
            let mut p = Purchases::<T>::get(listing, buyer).ok_or(Error::<T>::UnknownPurchase)?;
            let reason = match p.state {
                PurchaseState::AwaitingKey { deadline } => {
                    ensure!(deadline <= now, Error::<T>::NotDue);
                    RefundReason::KeyNotDelivered
                }
                PurchaseState::Delivered { sealed, release_at } => {
                    ensure!(release_at <= now, Error::<T>::NotDue);
                    if Self::stored(&l).0 {
                        let amount = if p.escrow.is_zero() {
                            0
                        } else {
                            T::Currency::transfer_on_hold(
                                &HoldReason::Purchase.into(),
                                buyer,
                                &l.sender,
                                p.escrow,
                                Precision::Exact,
                                Restriction::Free,
                                Fortitude::Force,
                            )?
                        };
                        p.escrow = p.escrow.saturating_sub(amount);
                        p.state = PurchaseState::Settled { sealed };
                        l.pending = l.pending.saturating_sub(1);
                        let sender = l.sender.clone();
                        Purchases::<T>::insert(listing, buyer, p);
                        Listings::<T>::insert(listing, l);
                        Self::deposit_event(Event::Paid {
                            listing,
                            buyer: buyer.clone(),
                            sender,
                            amount,
                        });
                        return Ok(());
                    }
                    RefundReason::FileGone
                }
                PurchaseState::Settled { .. } => return Err(Error::<T>::NotDue.into()),
            };
            let amount = Self::refund(listing, buyer, &p, &mut l)?;
            Listings::<T>::insert(listing, l);
            Self::deposit_event(Event::Refunded {
                listing,
                buyer: buyer.clone(),
                amount,
                reason,
            });
            Ok(())
        }

        // ----- due-queue -----

        /// Queues `item` for block `at`.
        fn schedule(at: BlockNumberFor<T>, item: DueItem<T::AccountId>) -> DispatchResult {
            let n = DueCount::<T>::get(at);
            DueQueue::<T>::insert(at, n, item);
            DueCount::<T>::insert(at, n.checked_add(1).ok_or(Error::<T>::Overflow)?);
            Ok(())
        }

        /// Processes due items up to block `now`, at most `max_items` of them
        /// (a backlog carries over to the next blocks). Returns the items
        /// processed and the steps taken (items plus blocks passed).
        pub fn process_due(now: BlockNumberFor<T>, max_items: u32) -> (u32, u32) {
            let (mut block, mut index) = DueCursor::<T>::get().unwrap_or((now, 0));
            let (mut items, mut steps) = (0u32, 0u32);
            let max_steps = max_items.saturating_mul(2).saturating_add(2);
            while block <= now && steps < max_steps {
                steps += 1;
                if index >= DueCount::<T>::get(block) {
                    DueCount::<T>::remove(block);
                    block = block.saturating_add(1u32.into());
                    index = 0;
                    continue;
                }
                if items >= max_items {
                    break;
                }
                if let Some(item) = DueQueue::<T>::take(block, index) {
                    Self::process_item(item, now);
                }
                items += 1;
                index += 1;
            }
            DueCursor::<T>::put((block, index));
            (items, steps)
        }

        /// Settles the purchase `item` names if it is due. Anything else
        /// (a key delivered before its deadline, a purchase already
        /// settled through [`Pallet::settle`], a refunded one) is a no-op.
        fn process_item(item: DueItem<T::AccountId>, now: BlockNumberFor<T>) {
            let (DueItem::KeyDeadline(listing, buyer) | DueItem::Release(listing, buyer)) = item;
            // Atomic: a failing settlement leaves the purchase as it was, for
            // `settle` to retry.
            let _ = frame_support::storage::with_storage_layer(|| {
                Self::settle_due(listing, &buyer, now)
            });
        }

        /// The pallet's invariants: every hold matches what the records say,
        /// every count matches the purchases, every pending purchase is due.
        /// Always compiled: the runtime's tests run it over real chains'
        /// states (runtime/tests/try_state.rs).
        pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
            use alloc::collections::btree_map::BTreeMap;
            use frame_support::traits::fungible::InspectHold;
            let mut listing_holds: BTreeMap<T::AccountId, Balance> = BTreeMap::new();
            let mut counts: BTreeMap<ListingId, (u32, u32)> = BTreeMap::new();
            let mut purchase_holds: BTreeMap<T::AccountId, Balance> = BTreeMap::new();
            for (listing, buyer, p) in Purchases::<T>::iter() {
                let held = purchase_holds.entry(buyer).or_default();
                *held = held.saturating_add(p.escrow).saturating_add(p.deposit);
                let c = counts.entry(listing).or_default();
                c.0 = c.0.saturating_add(1);
                match p.state {
                    PurchaseState::AwaitingKey { .. } | PurchaseState::Delivered { .. } => {
                        c.1 = c.1.saturating_add(1)
                    }
                    PurchaseState::Settled { .. } => {
                        ensure!(p.escrow.is_zero(), "a settled purchase still in escrow")
                    }
                }
            }
            for (id, l) in Listings::<T>::iter() {
                ensure!(
                    id < NextListingId::<T>::get(),
                    "a listing id not yet issued"
                );
                ensure!(
                    l.need >= 1 && l.need as usize <= l.contracts.len(),
                    "a listing needs more contracts than it names, or none"
                );
                let h = listing_holds.entry(l.sender.clone()).or_default();
                *h = h.saturating_add(l.deposit);
                let (records, pending) = counts.remove(&id).unwrap_or_default();
                ensure!(records == l.records, "a listing's record count is wrong");
                ensure!(pending == l.pending, "a listing's pending count is wrong");
                ensure!(l.records <= l.sold, "more records than purchases");
                ensure!(
                    l.terms.open_key.is_none() || l.records == 0,
                    "a purchase of a public listing"
                );
            }
            // Records of removed listings: none may be in flight.
            for (_, (_, pending)) in counts {
                ensure!(pending == 0, "a purchase in flight for a removed listing");
            }
            for (who, held) in listing_holds {
                ensure!(
                    T::Currency::balance_on_hold(&HoldReason::Listing.into(), &who) == held,
                    "listing hold != the Sender's listing deposits"
                );
            }
            for (who, held) in purchase_holds {
                ensure!(
                    T::Currency::balance_on_hold(&HoldReason::Purchase.into(), &who) == held,
                    "purchase hold != the buyer's escrow and deposits"
                );
            }
            Ok(())
        }
    }

    /// Readers of a listing may challenge its contracts' hosts to serve
    /// (the retrieval pallet).
    impl<T: Config> ReadAccess<T::AccountId> for Pallet<T> {
        fn may_read(who: &T::AccountId, listing: u64, contract: ContractId) -> bool {
            Self::may_read_contract(listing, who, contract)
        }
    }
}
