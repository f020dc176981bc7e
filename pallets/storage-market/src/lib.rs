//! # Storage market pallet
//!
//! The market of the white paper: Hosts offer disk, Senders request storage,
//! and the chain matches them like an exchange, with no platform fee and no
//! fixed plans. A Sender pays only for bytes x time actually stored.
//!
//! - **Hosts** register an endpoint, a region, a capacity and the key their
//!   daemon signs tickets with ([`Pallet::register_host`],
//!   [`Pallet::update_host`], [`Pallet::unregister_host`] once no contract is
//!   live), and back their contracts with a deposit ([`Config::Deposits`]).
//! - **Offers** ([`Pallet::post_offer`], [`Pallet::update_offer`],
//!   [`Pallet::cancel_offer`]): a price per GiB per epoch, the capacity for
//!   sale and the contract lengths accepted. Each resting offer holds a small
//!   storage deposit.
//! - **Requests** ([`Pallet::place_request`], [`Pallet::cancel_request`]):
//!   size, Merkle root, replicas, term, max price and a minimum host rating.
//!   The Sender's funds for every replica's whole term at its max price are
//!   held on placement, so a request the Sender cannot fund fails and changes
//!   nothing.
//! - **Matching**, at placement and when an offer is posted or updated: the
//!   cheapest offer first, then the earliest; only offers at or under the max
//!   price, with the capacity, the free host deposit, the rating and the
//!   contract length needed; each replica on a distinct host, never the
//!   Sender's own. At most [`Config::MaxMatchScan`] book entries are examined
//!   per call (the weight says so). The unmatched remainder rests in the book
//!   until [`Config::RequestTtl`] passes.
//! - **No junk at the top of the book**: an offer rests only while it can
//!   take a contract of [`Config::MinContractSize`] (room on it and on its
//!   host, and the host's free deposit to back it); a request only while its
//!   `min_rating` is at most the best rating any host has
//!   ([`HostRatingProvider::best_rating`]). Entries that lost this are taken
//!   out of the book (refunded) when matching meets them, up to another
//!   `MaxMatchScan` per call, not counted against the bound. (Entries that
//!   could match other orders, e.g. an offer for longer terms only, still
//!   count: they are real orders.)
//! - **Contracts**: a match creates one, keeps its whole-term price held from
//!   the Sender (the rest of the bid returns) and reserves
//!   `size x DepositPerGiB` of the host's deposit. A contract smaller than
//!   [`Config::MinContractSize`] is priced, backed and counted against
//!   capacity as that size: a tiny contract costs what it weighs. The host
//!   confirms the upload ([`Pallet::confirm_stored`]) within
//!   [`Config::UploadWindow`] or the contract ends. The term starts at the next epoch boundary.
//! - **Payment**: the proofs pallet reports each proven epoch
//!   ([`StorageContracts::epoch_proven`]) and the host is paid that epoch's
//!   price from the held funds; unproven epochs are never paid. At the end of
//!   the term or on [`Pallet::cancel_contract`], every unspent unit returns to
//!   the Sender, except that a contract the Sender cancels, or that ends
//!   unconfirmed, pays its host at least one epoch's price: booking hosts
//!   and never uploading, or cancelling right after the upload, is not free.
//!
//! Nothing iterates over all hosts, offers, requests or contracts: the book is
//! kept in key order (`Identity`-hashed big-endian keys, see [`BookKey`]) so
//! the best entry is the first one; expiries, upload deadlines and term ends
//! sit in a per-block due-queue that a bounded hook drains.
//!
//! Invariants (`try_state`, run after every test): each Sender's held escrow
//! equals its resting requests' and live contracts' unspent funds; storage
//! deposits equal the resting offers' and requests' deposits; every book entry
//! and index points at a live record; hosts' used capacity and live contract
//! counts equal their contracts'.

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

// `place_request` takes the seven fields of a request; FRAME's generated call
// constructors inherit that arity.
#[allow(clippy::too_many_arguments)]
#[frame_support::pallet]
pub mod pallet {
    use super::*;
    use alloc::vec::Vec;
    use frame_support::{
        pallet_prelude::*,
        traits::{
            fungible::{Inspect, Mutate, MutateHold},
            tokens::{Fortitude, Precision, Restriction},
        },
    };
    use frame_system::pallet_prelude::*;
    use masp_primitives::{
        market::{self, ContractId, EpochIndex, OfferId, Rating, RequestId, RATING_MAX},
        traits::{
            ContractObserver, EpochClock, HostDeposits, HostRatingProvider, ProofTarget,
            StorageContracts,
        },
        Balance,
    };
    use sp_runtime::traits::{Saturating, Zero};

    /// A host as stored.
    pub type HostOf<T> = HostInfo<BlockNumberFor<T>, <T as Config>::MaxEndpointLen>;
    /// An offer as stored.
    pub type OfferOf<T> = Offer<<T as frame_system::Config>::AccountId, BlockNumberFor<T>>;
    /// A request as stored.
    pub type RequestOf<T> = Request<
        <T as frame_system::Config>::AccountId,
        BlockNumberFor<T>,
        <T as Config>::MaxReplicas,
    >;
    /// A request as the runtime API shows it.
    pub type RequestViewOf<T> =
        RequestView<<T as frame_system::Config>::AccountId, BlockNumberFor<T>>;
    /// A contract as stored.
    pub type ContractOf<T> = Contract<<T as frame_system::Config>::AccountId, BlockNumberFor<T>>;
    /// A host's endpoint.
    pub type EndpointOf<T> = BoundedVec<u8, <T as Config>::MaxEndpointLen>;

    #[pallet::pallet]
    pub struct Pallet<T>(_);

    #[pallet::config]
    pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
        /// MASP: escrow and storage deposits are holds on it.
        type Currency: Inspect<Self::AccountId, Balance = Balance>
            + Mutate<Self::AccountId>
            + MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

        /// The runtime's hold reasons (ours are [`HoldReason`]).
        type RuntimeHoldReason: From<HoldReason>;

        /// The hosts' insurance deposits (the deposits pallet).
        type Deposits: HostDeposits<Self::AccountId, Balance>;

        /// Hosts' ratings, for `min_rating` (`()` rates every host at the top).
        type Rating: HostRatingProvider<Self::AccountId>;

        /// Told when contracts are confirmed and end.
        type Observer: ContractObserver<Self::AccountId, Balance>;

        /// The market's epochs (the unit of contract terms and payment): the
        /// one clock the proofs, rating and insurance pallets share.
        type Epochs: EpochClock<BlockNumberFor<Self>>;

        /// Host deposit reserved per GiB a contract stores.
        #[pallet::constant]
        type DepositPerGiB: Get<Balance>;

        /// The smallest contract, in bytes: a contract of fewer bytes is
        /// priced, backed by host deposit and counted against the host's
        /// capacity as this many (its proofs, settlement and state cost the
        /// chain and the host the same whatever its size). Small files still
        /// store; they pay for what they weigh. Changing it on a live chain
        /// needs a migration of hosts' used capacity.
        #[pallet::constant]
        type MinContractSize: Get<u64>;

        /// Storage deposit held per resting offer (its book key is chosen by
        /// the host, so it pays for the trie space).
        #[pallet::constant]
        type OfferDeposit: Get<Balance>;

        /// Storage deposit held per resting request.
        #[pallet::constant]
        type RequestDeposit: Get<Balance>;

        /// Blocks a host has after a match to confirm it stores the data.
        #[pallet::constant]
        type UploadWindow: Get<BlockNumberFor<Self>>;

        /// Blocks an unmatched request rests in the book.
        #[pallet::constant]
        type RequestTtl: Get<BlockNumberFor<Self>>;

        /// Book entries examined per matching (placement, offer post/update).
        #[pallet::constant]
        type MaxMatchScan: Get<u32>;

        /// Most replicas per request.
        #[pallet::constant]
        type MaxReplicas: Get<u32>;

        /// Most resting offers per host.
        #[pallet::constant]
        type MaxOffersPerHost: Get<u32>;

        /// Longest host endpoint, in bytes.
        #[pallet::constant]
        type MaxEndpointLen: Get<u32>;

        /// Longest contract term, in epochs.
        #[pallet::constant]
        type MaxDuration: Get<u32>;

        /// Due items (expiries, deadlines, term ends) processed per block.
        #[pallet::constant]
        type MaxDuePerBlock: Get<u32>;

        /// Weights of the calls and the hook, from the pallet's benchmarks.
        type WeightInfo: WeightInfo;

        /// Gives benchmark hosts an insurance deposit.
        #[cfg(feature = "runtime-benchmarks")]
        type BenchmarkHelper: BenchmarkHelper<Self::AccountId>;
    }

    /// What the benchmarks need from the runtime.
    #[cfg(feature = "runtime-benchmarks")]
    pub trait BenchmarkHelper<AccountId> {
        /// Adds `amount` to `host`'s insurance deposit (the host holds the MASP).
        fn deposit(host: &AccountId, amount: Balance);
    }

    /// Why this pallet holds MASP.
    #[pallet::composite_enum]
    pub enum HoldReason {
        /// A Sender's funds for its requests and contracts.
        #[codec(index = 0)]
        Escrow,
        /// The storage deposit of a resting offer or request.
        #[codec(index = 1)]
        BookDeposit,
    }

    /// Registered hosts.
    #[pallet::storage]
    pub type Hosts<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, HostOf<T>>;

    /// Resting offers.
    #[pallet::storage]
    pub type Offers<T: Config> = StorageMap<_, Twox64Concat, OfferId, OfferOf<T>>;

    /// The offer side of the book, cheapest then earliest first (iterates in
    /// key order: see [`BookKey`]).
    #[pallet::storage]
    pub type OfferBook<T: Config> = StorageMap<_, Identity, BookKey, OfferId>;

    /// Each host's resting offers.
    #[pallet::storage]
    pub type HostOffers<T: Config> = StorageMap<
        _,
        Blake2_128Concat,
        T::AccountId,
        BoundedVec<OfferId, T::MaxOffersPerHost>,
        ValueQuery,
    >;

    /// Requests with an unmatched remainder resting in the book.
    #[pallet::storage]
    pub type Requests<T: Config> = StorageMap<_, Twox64Concat, RequestId, RequestOf<T>>;

    /// The request side of the book, highest max price then earliest first.
    #[pallet::storage]
    pub type RequestBook<T: Config> = StorageMap<_, Identity, BookKey, RequestId>;

    /// Index of each Sender's resting requests (for queries).
    #[pallet::storage]
    pub type SenderRequests<T: Config> =
        StorageDoubleMap<_, Blake2_128Concat, T::AccountId, Twox64Concat, RequestId, ()>;

    /// Live contracts.
    #[pallet::storage]
    pub type Contracts<T: Config> = StorageMap<_, Twox64Concat, ContractId, ContractOf<T>>;

    /// Index of each host's live contracts (for queries).
    #[pallet::storage]
    pub type HostContracts<T: Config> =
        StorageDoubleMap<_, Blake2_128Concat, T::AccountId, Twox64Concat, ContractId, ()>;

    /// Index of each Sender's live contracts (for queries).
    #[pallet::storage]
    pub type SenderContracts<T: Config> =
        StorageDoubleMap<_, Blake2_128Concat, T::AccountId, Twox64Concat, ContractId, ()>;

    /// The next offer id.
    #[pallet::storage]
    pub type NextOfferId<T: Config> = StorageValue<_, OfferId, ValueQuery>;

    /// The next request id.
    #[pallet::storage]
    pub type NextRequestId<T: Config> = StorageValue<_, RequestId, ValueQuery>;

    /// The next contract id.
    #[pallet::storage]
    pub type NextContractId<T: Config> = StorageValue<_, ContractId, ValueQuery>;

    /// Orders book entries of equal price by time of entry.
    #[pallet::storage]
    pub type BookSeq<T: Config> = StorageValue<_, u64, ValueQuery>;

    /// Work due at a block: `(block, n) -> item`.
    #[pallet::storage]
    pub type DueQueue<T: Config> =
        StorageDoubleMap<_, Twox64Concat, BlockNumberFor<T>, Twox64Concat, u32, DueItem>;

    /// Number of items queued at each block.
    #[pallet::storage]
    pub type DueCount<T: Config> = StorageMap<_, Twox64Concat, BlockNumberFor<T>, u32, ValueQuery>;

    /// The next due item to process: `(block, n)`.
    #[pallet::storage]
    pub type DueCursor<T: Config> = StorageValue<_, (BlockNumberFor<T>, u32)>;

    #[pallet::event]
    #[pallet::generate_deposit(pub(super) fn deposit_event)]
    pub enum Event<T: Config> {
        /// `host` registered with `capacity` bytes.
        HostRegistered { host: T::AccountId, capacity: u64 },
        /// `host` changed its endpoint, region, capacity or ticket key.
        HostUpdated { host: T::AccountId, capacity: u64 },
        /// `host` left the market; its resting offers were cancelled.
        HostUnregistered { host: T::AccountId },
        /// `host` posted (or updated) `offer`.
        OfferPosted {
            offer: OfferId,
            host: T::AccountId,
            price: Balance,
            capacity: u64,
            min_duration: u32,
            max_duration: u32,
        },
        /// `offer` left the book: cancelled (`sold_out` false), or it can take
        /// no further contract of `MinContractSize` (its or its host's
        /// capacity, or the host's free deposit, ran out: `sold_out` true).
        OfferClosed {
            offer: OfferId,
            host: T::AccountId,
            sold_out: bool,
        },
        /// `sender` placed `request`: `matched` replicas matched now,
        /// `resting` rest in the book.
        RequestPlaced {
            request: RequestId,
            sender: T::AccountId,
            size: u64,
            replicas: u32,
            duration: u32,
            max_price: Balance,
            matched: u32,
            resting: u32,
        },
        /// Every replica of `request` is matched.
        RequestFilled { request: RequestId },
        /// `request`'s unmatched remainder left the book (cancelled, or
        /// `expired`: its time ran out, or its rating floor rose above every
        /// host's rating); `refunded` returned to the Sender.
        RequestClosed {
            request: RequestId,
            expired: bool,
            refunded: Balance,
        },
        /// A match: `contract` stores `size` bytes of `request` on `host` at
        /// `price` per GiB per epoch for the term `[start, end)`; `cost` (the
        /// whole term) is held from `sender`.
        ContractCreated {
            contract: ContractId,
            request: RequestId,
            sender: T::AccountId,
            host: T::AccountId,
            size: u64,
            price: Balance,
            cost: Balance,
            start: BlockNumberFor<T>,
            end: BlockNumberFor<T>,
            upload_deadline: BlockNumberFor<T>,
        },
        /// `host` confirmed it stores `contract`'s data.
        ContractConfirmed {
            contract: ContractId,
            host: T::AccountId,
        },
        /// `host` was paid `amount` for proving `epoch` of `contract`.
        EpochPaid {
            contract: ContractId,
            host: T::AccountId,
            epoch: EpochIndex,
            amount: Balance,
        },
        /// `contract` ended; its host earned `paid` in total (its proven
        /// epochs; at least one epoch's price if the Sender cancelled or the
        /// upload was never confirmed) and `refunded` returned to the Sender.
        ContractEnded {
            contract: ContractId,
            reason: EndReason,
            paid: Balance,
            refunded: Balance,
        },
    }

    #[pallet::error]
    pub enum Error<T> {
        /// The account is already a registered host.
        AlreadyRegistered,
        /// The account is not a registered host.
        NotRegistered,
        /// The endpoint must start with `http://` or `https://` and contain
        /// only printable ASCII without spaces.
        BadEndpoint,
        /// The region must be 1 to 8 ASCII letters, digits or `-`.
        BadRegion,
        /// Capacity must be above zero.
        ZeroCapacity,
        /// The new capacity is below the bytes the host's live contracts use.
        CapacityBelowUsed,
        /// The host still has live contracts.
        HostHasLiveContracts,
        /// An offer cannot sell more than the host's capacity.
        OfferAboveHostCapacity,
        /// Durations must satisfy `1 <= min_duration <= max_duration <= MaxDuration`.
        BadDurationBounds,
        /// The host has `MaxOffersPerHost` resting offers.
        TooManyOffers,
        /// No such offer.
        UnknownOffer,
        /// Only the offer's host may change it.
        NotOfferOwner,
        /// The size must be above zero.
        ZeroSize,
        /// The leaf count must be the number of 512-byte leaves of the size
        /// (`masp_proofs::leaf_count(size)`, `ceil(size / 512)`), and the tree
        /// at most `masp_proofs::MAX_DEPTH` levels deep: any other count makes
        /// the contract unprovable.
        BadLeafCount,
        /// Replicas (or shards) must be between 1 and `MaxReplicas`.
        BadReplicas,
        /// Two shards of one request have the same Merkle root: each shard
        /// is distinct data, told apart by its root.
        DuplicateRoot,
        /// The duration must be between 1 and `MaxDuration` epochs.
        BadDuration,
        /// The minimum rating is above the best rating any host has now
        /// (`HostRatingProvider::best_rating`): the request could match no
        /// host and would only sit in the book.
        BadMinRating,
        /// The account cannot fund this (its free MASP, keeping the existential
        /// deposit, is below the escrow or storage deposit needed).
        InsufficientFunds,
        /// No such resting request.
        UnknownRequest,
        /// Only the request's Sender may cancel it.
        NotRequestOwner,
        /// No such live contract.
        UnknownContract,
        /// Only the contract's host may do this.
        NotContractHost,
        /// Only the contract's Sender may do this.
        NotContractSender,
        /// The contract is already confirmed.
        AlreadyConfirmed,
        /// The upload window closed; the contract is ending.
        UploadWindowClosed,
        /// The contract is not confirmed yet.
        NotActive,
        /// The epoch is outside the contract's term.
        EpochOutOfTerm,
        /// That epoch (or a later one) is already paid.
        EpochAlreadyPaid,
        /// An amount does not fit its type.
        Overflow,
        /// The host's free insurance deposit does not back a contract of
        /// `MinContractSize` bytes (`MinContractSize x DepositPerGiB`): the
        /// offer could take no contract, so it may not rest in the book.
        InsufficientHostDeposit,
        /// The offer's capacity, or the host's capacity not used by its
        /// contracts, is below `MinContractSize`: the offer could take no
        /// contract, so it may not rest in the book.
        OfferTooSmall,
        /// `place_on_offers` needs exactly one offer per shard.
        OffersDoNotMatchShards,
        /// A picked offer asks more per GiB per epoch than the Sender's
        /// `max_price`.
        OfferAboveMaxPrice,
        /// Two picked offers are of the same host: every shard needs its own
        /// host.
        SameHostTwice,
        /// A picked offer cannot take its shard now: it is the Sender's own,
        /// its capacity or its host's free capacity is below the shard's
        /// billed size, the duration is outside its bounds, or its host's
        /// free deposit does not back the shard.
        OfferCannotTake,
    }

    #[pallet::extra_constants]
    impl<T: Config> Pallet<T> {
        /// Blocks per epoch: the unit of contract terms and payment.
        #[pallet::constant_name(EpochLength)]
        fn epoch_length() -> BlockNumberFor<T> {
            T::Epochs::length()
        }
    }

    #[pallet::hooks]
    impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
        /// Drains the due-queue: at most `MaxDuePerBlock` items per block.
        fn on_initialize(now: BlockNumberFor<T>) -> Weight {
            let (items, steps) = Self::process_due(now, T::MaxDuePerBlock::get());
            T::WeightInfo::process_due(items)
                .saturating_add(T::DbWeight::get().reads_writes(steps as u64 + 1, 2))
                .saturating_add(T::Observer::contract_ended_weight().saturating_mul(items as u64))
        }

        fn integrity_test() {
            assert!(!T::Epochs::length().is_zero(), "EpochLength must be > 0");
            assert!(
                !T::UploadWindow::get().is_zero(),
                "UploadWindow must be > 0"
            );
            assert!(!T::RequestTtl::get().is_zero(), "RequestTtl must be > 0");
            assert!(T::MaxMatchScan::get() > 0, "MaxMatchScan must be > 0");
            assert!(
                T::MaxReplicas::get() > 0 && T::MaxReplicas::get() <= T::MaxMatchScan::get(),
                "0 < MaxReplicas <= MaxMatchScan"
            );
            assert!(
                T::MaxOffersPerHost::get() > 0,
                "MaxOffersPerHost must be > 0"
            );
            assert!(T::MaxDuration::get() > 0, "MaxDuration must be > 0");
            assert!(T::MaxDuePerBlock::get() > 0, "MaxDuePerBlock must be > 0");
            assert!(T::MinContractSize::get() > 0, "MinContractSize must be > 0");
            assert!(
                T::MaxEndpointLen::get() >= 12,
                "MaxEndpointLen must fit at least https://a.b"
            );
        }

        #[cfg(feature = "try-runtime")]
        fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
            Self::do_try_state()
        }
    }

    #[pallet::call]
    impl<T: Config> Pallet<T> {
        /// Registers the caller as a host: its daemon's `endpoint`
        /// (`http(s)://...`), `region` code, `capacity` in bytes and the
        /// 32-byte public key its daemon signs tickets with.
        ///
        /// Emits [`Event::HostRegistered`].
        #[pallet::call_index(0)]
        #[pallet::weight(T::WeightInfo::register_host())]
        pub fn register_host(
            origin: OriginFor<T>,
            endpoint: EndpointOf<T>,
            region: Region,
            capacity: u64,
            ticket_key: [u8; 32],
        ) -> DispatchResult {
            let host = ensure_signed(origin)?;
            ensure!(
                !Hosts::<T>::contains_key(&host),
                Error::<T>::AlreadyRegistered
            );
            Self::validate_host(&endpoint, &region, capacity)?;
            Hosts::<T>::insert(
                &host,
                HostInfo {
                    endpoint,
                    region,
                    capacity,
                    used: 0,
                    ticket_key,
                    live_contracts: 0,
                    registered_at: frame_system::Pallet::<T>::block_number(),
                },
            );
            Self::deposit_event(Event::HostRegistered { host, capacity });
            Ok(())
        }

        /// Changes the caller's endpoint, region, capacity (not below the
        /// bytes its live contracts use) and ticket key.
        ///
        /// Emits [`Event::HostUpdated`].
        #[pallet::call_index(1)]
        #[pallet::weight(T::WeightInfo::update_host())]
        pub fn update_host(
            origin: OriginFor<T>,
            endpoint: EndpointOf<T>,
            region: Region,
            capacity: u64,
            ticket_key: [u8; 32],
        ) -> DispatchResult {
            let host = ensure_signed(origin)?;
            let mut info = Hosts::<T>::get(&host).ok_or(Error::<T>::NotRegistered)?;
            Self::validate_host(&endpoint, &region, capacity)?;
            ensure!(capacity >= info.used, Error::<T>::CapacityBelowUsed);
            info.endpoint = endpoint;
            info.region = region;
            info.capacity = capacity;
            info.ticket_key = ticket_key;
            Hosts::<T>::insert(&host, info);
            Self::deposit_event(Event::HostUpdated { host, capacity });
            Ok(())
        }

        /// Leaves the market. Only a host with no live contracts may; its
        /// resting offers are cancelled and their deposits returned, and the
        /// observers (the rating) forget it. (Its insurance deposit stays
        /// with the deposits pallet to withdraw.)
        ///
        /// Emits [`Event::OfferClosed`] per offer, then
        /// [`Event::HostUnregistered`].
        #[pallet::call_index(2)]
        #[pallet::weight(T::WeightInfo::unregister_host(T::MaxOffersPerHost::get()))]
        pub fn unregister_host(origin: OriginFor<T>) -> DispatchResultWithPostInfo {
            let host = ensure_signed(origin)?;
            let info = Hosts::<T>::get(&host).ok_or(Error::<T>::NotRegistered)?;
            ensure!(info.live_contracts == 0, Error::<T>::HostHasLiveContracts);
            let offers = HostOffers::<T>::take(&host);
            let count = offers.len() as u32;
            for id in offers {
                if let Some(offer) = Offers::<T>::take(id) {
                    Self::remove_offer(id, offer, false, false);
                }
            }
            Hosts::<T>::remove(&host);
            // Observers drop what they keep about the host (its rating).
            T::Observer::host_unregistered(&host);
            Self::deposit_event(Event::HostUnregistered { host });
            Ok(Some(T::WeightInfo::unregister_host(count)).into())
        }

        /// Posts an offer: `capacity` bytes at `price` per GiB per epoch, for
        /// contracts of `min_duration` to `max_duration` epochs. Holds
        /// `OfferDeposit` while the offer rests, then matches resting requests
        /// (highest max price first).
        ///
        /// Emits [`Event::OfferPosted`], and per match
        /// [`Event::ContractCreated`].
        #[pallet::call_index(3)]
        #[pallet::weight(T::WeightInfo::post_offer(T::MaxMatchScan::get().saturating_mul(3)))]
        pub fn post_offer(
            origin: OriginFor<T>,
            #[pallet::compact] price: Balance,
            capacity: u64,
            min_duration: u32,
            max_duration: u32,
        ) -> DispatchResultWithPostInfo {
            let host = ensure_signed(origin)?;
            let mut info = Hosts::<T>::get(&host).ok_or(Error::<T>::NotRegistered)?;
            Self::validate_offer(&host, &info, capacity, min_duration, max_duration)?;
            let id = NextOfferId::<T>::get();
            NextOfferId::<T>::put(id.checked_add(1).ok_or(Error::<T>::Overflow)?);
            HostOffers::<T>::try_mutate(&host, |ids| ids.try_push(id))
                .map_err(|_| Error::<T>::TooManyOffers)?;
            let deposit = T::OfferDeposit::get();
            Self::hold(HoldReason::BookDeposit, &host, deposit)?;
            let mut offer = Offer {
                host: host.clone(),
                price,
                capacity,
                min_duration,
                max_duration,
                book_key: offer_key(price, Self::next_seq()?),
                deposit,
                posted_at: frame_system::Pallet::<T>::block_number(),
            };
            Self::deposit_event(Event::OfferPosted {
                offer: id,
                host,
                price,
                capacity,
                min_duration,
                max_duration,
            });
            let scanned = Self::match_offer(&mut offer, &mut info)?;
            Self::store_offer(id, offer, info);
            Ok(Some(T::WeightInfo::post_offer(scanned)).into())
        }

        /// Changes an offer. A new price re-enters the book behind offers
        /// already at that price (like an exchange, time priority is lost).
        /// Then matches resting requests as a new offer would.
        ///
        /// Emits [`Event::OfferPosted`], and per match
        /// [`Event::ContractCreated`].
        #[pallet::call_index(4)]
        #[pallet::weight(T::WeightInfo::update_offer(T::MaxMatchScan::get().saturating_mul(3)))]
        pub fn update_offer(
            origin: OriginFor<T>,
            offer_id: OfferId,
            #[pallet::compact] price: Balance,
            capacity: u64,
            min_duration: u32,
            max_duration: u32,
        ) -> DispatchResultWithPostInfo {
            let host = ensure_signed(origin)?;
            let mut offer = Offers::<T>::get(offer_id).ok_or(Error::<T>::UnknownOffer)?;
            ensure!(offer.host == host, Error::<T>::NotOfferOwner);
            let mut info = Hosts::<T>::get(&host).ok_or(Error::<T>::NotRegistered)?;
            Self::validate_offer(&host, &info, capacity, min_duration, max_duration)?;
            if price != offer.price {
                OfferBook::<T>::remove(offer.book_key);
                offer.book_key = offer_key(price, Self::next_seq()?);
                offer.posted_at = frame_system::Pallet::<T>::block_number();
            }
            offer.price = price;
            offer.capacity = capacity;
            offer.min_duration = min_duration;
            offer.max_duration = max_duration;
            Self::deposit_event(Event::OfferPosted {
                offer: offer_id,
                host,
                price,
                capacity,
                min_duration,
                max_duration,
            });
            let scanned = Self::match_offer(&mut offer, &mut info)?;
            Self::store_offer(offer_id, offer, info);
            Ok(Some(T::WeightInfo::update_offer(scanned)).into())
        }

        /// Withdraws an offer from the book and returns its deposit.
        /// Contracts already matched are not affected.
        ///
        /// Emits [`Event::OfferClosed`].
        #[pallet::call_index(5)]
        #[pallet::weight(T::WeightInfo::cancel_offer())]
        pub fn cancel_offer(origin: OriginFor<T>, offer_id: OfferId) -> DispatchResult {
            let host = ensure_signed(origin)?;
            let offer = Offers::<T>::get(offer_id).ok_or(Error::<T>::UnknownOffer)?;
            ensure!(offer.host == host, Error::<T>::NotOfferOwner);
            Offers::<T>::remove(offer_id);
            Self::remove_offer(offer_id, offer, false, true);
            Ok(())
        }

        /// Places a request: `replicas` copies of `size` bytes of ciphertext
        /// with Merkle root `merkle_root` over `leaf_count` leaves (which must
        /// be `masp_proofs::leaf_count(size)`, else [`Error::BadLeafCount`]), each for
        /// `duration` epochs, at most `max_price` per GiB per epoch, on hosts
        /// rated at least `min_rating`.
        ///
        /// Holds every replica's whole term at `max_price` (fails, changing
        /// nothing, if the Sender cannot), matches the cheapest offers now, and
        /// leaves the unmatched remainder in the book (holding
        /// `RequestDeposit`) for `RequestTtl` blocks.
        ///
        /// Identical replicas let one operator behind several host accounts
        /// keep one copy and be paid for all: clients store distinct data
        /// per replica with [`Pallet::place_shards`].
        ///
        /// Emits [`Event::ContractCreated`] per match, then
        /// [`Event::RequestPlaced`] (and [`Event::RequestFilled`] if complete).
        #[pallet::call_index(6)]
        #[pallet::weight(T::WeightInfo::place_request(
            T::MaxMatchScan::get().saturating_mul(2),
            *replicas,
        ))]
        pub fn place_request(
            origin: OriginFor<T>,
            size: u64,
            merkle_root: [u8; 32],
            leaf_count: u64,
            replicas: u32,
            duration: u32,
            #[pallet::compact] max_price: Balance,
            min_rating: Rating,
        ) -> DispatchResultWithPostInfo {
            let sender = ensure_signed(origin)?;
            ensure!(
                replicas > 0 && replicas <= T::MaxReplicas::get(),
                Error::<T>::BadReplicas
            );
            let shard = ShardSpec {
                size,
                merkle_root,
                leaf_count,
            };
            let shards = BoundedVec::try_from(alloc::vec![shard; replicas as usize])
                .map_err(|_| Error::<T>::BadReplicas)?;
            Self::place(
                sender,
                shards,
                BoundedVec::new(),
                duration,
                max_price,
                min_rating,
                None,
                T::WeightInfo::place_request,
            )
        }

        /// Places a request for distinct data on distinct hosts, in one
        /// escrow: replica `i` stores `shards[i]` (its own size, Merkle root
        /// and leaf count), each for `duration` epochs, at most `max_price`
        /// per GiB per epoch, on hosts rated at least `min_rating` and not
        /// in `avoid` (a repair names the hosts that hold the file's other
        /// shards, so no host ends up with two, and hosts it found dead). For the
        /// shards of an erasure-coded file, or replicas sealed under
        /// distinct keys: a host operator behind several accounts must store
        /// every shard it takes to prove it.
        ///
        /// Every root must differ from the others ([`Error::DuplicateRoot`]:
        /// the Sender tells its contracts apart by root), every size be
        /// above zero and every leaf count be `masp_proofs::leaf_count(size)`.
        /// Holds each shard's whole term at `max_price` for its size; matches
        /// shards in order, each on a host that has none of the others; the
        /// unmatched remainder rests in the book like
        /// [`Pallet::place_request`]'s.
        ///
        /// Emits [`Event::ContractCreated`] per match (with the shard's size),
        /// then [`Event::RequestPlaced`] (`size` is the largest shard's, and
        /// [`Event::RequestFilled`] if complete).
        #[pallet::call_index(10)]
        #[pallet::weight(T::WeightInfo::place_shards(
            T::MaxMatchScan::get().saturating_mul(2),
            shards.len() as u32,
        ))]
        pub fn place_shards(
            origin: OriginFor<T>,
            shards: BoundedVec<ShardSpec, T::MaxReplicas>,
            avoid: BoundedVec<T::AccountId, T::MaxReplicas>,
            duration: u32,
            #[pallet::compact] max_price: Balance,
            min_rating: Rating,
        ) -> DispatchResultWithPostInfo {
            let sender = ensure_signed(origin)?;
            Self::ensure_distinct(&shards)?;
            Self::place(
                sender,
                shards,
                avoid,
                duration,
                max_price,
                min_rating,
                None,
                T::WeightInfo::place_shards,
            )
        }

        /// Places the shards of a file on offers the Sender picked from the
        /// market (the white paper's customer who "choose[s] a contractor
        /// with the best suitable price and rating"): `shards[i]` is stored
        /// by the host of `offers[i]`, at that offer's price, for
        /// `duration` epochs. Every offer must be of a different host, none
        /// the Sender's own. The shards follow [`Pallet::place_shards`]'s
        /// rules (distinct roots, sizes above zero, exact leaf counts).
        ///
        /// All or nothing: if an offer is gone ([`Error::UnknownOffer`]),
        /// asks more than `max_price` ([`Error::OfferAboveMaxPrice`]: a host
        /// that raised its price after the Sender looked cannot charge
        /// more) or cannot take its shard now ([`Error::OfferCannotTake`]),
        /// the call fails and changes nothing. Nothing rests in the book.
        /// Holds each shard's term at `max_price` and returns the
        /// difference to each offer's price at once.
        ///
        /// Emits [`Event::ContractCreated`] per shard, then
        /// [`Event::RequestPlaced`] and [`Event::RequestFilled`].
        #[pallet::call_index(11)]
        #[pallet::weight(T::WeightInfo::place_on_offers(offers.len() as u32))]
        pub fn place_on_offers(
            origin: OriginFor<T>,
            shards: BoundedVec<ShardSpec, T::MaxReplicas>,
            offers: BoundedVec<OfferId, T::MaxReplicas>,
            duration: u32,
            #[pallet::compact] max_price: Balance,
        ) -> DispatchResultWithPostInfo {
            let sender = ensure_signed(origin)?;
            ensure!(
                offers.len() == shards.len(),
                Error::<T>::OffersDoNotMatchShards
            );
            Self::ensure_distinct(&shards)?;
            Self::place(
                sender,
                shards,
                BoundedVec::new(),
                duration,
                max_price,
                0,
                Some(offers),
                |_, matched| T::WeightInfo::place_on_offers(matched),
            )
        }

        /// Withdraws the unmatched remainder of a request: its escrow and
        /// storage deposit return. Contracts already matched are not affected.
        ///
        /// Emits [`Event::RequestClosed`].
        #[pallet::call_index(7)]
        #[pallet::weight(T::WeightInfo::cancel_request())]
        pub fn cancel_request(origin: OriginFor<T>, request_id: RequestId) -> DispatchResult {
            let sender = ensure_signed(origin)?;
            let request = Requests::<T>::get(request_id).ok_or(Error::<T>::UnknownRequest)?;
            ensure!(request.sender == sender, Error::<T>::NotRequestOwner);
            Self::close_request(request_id, request, false);
            Ok(())
        }

        /// The host confirms it holds the data of `contract` (matching its
        /// Merkle root). Proofs are due from now on.
        ///
        /// Emits [`Event::ContractConfirmed`].
        #[pallet::call_index(8)]
        #[pallet::weight(T::WeightInfo::confirm_stored())]
        pub fn confirm_stored(origin: OriginFor<T>, contract: ContractId) -> DispatchResult {
            let host = ensure_signed(origin)?;
            let mut c = Contracts::<T>::get(contract).ok_or(Error::<T>::UnknownContract)?;
            ensure!(c.host == host, Error::<T>::NotContractHost);
            ensure!(
                c.state == ContractState::AwaitingUpload,
                Error::<T>::AlreadyConfirmed
            );
            let now = frame_system::Pallet::<T>::block_number();
            ensure!(now <= c.upload_deadline, Error::<T>::UploadWindowClosed);
            c.state = ContractState::Active;
            // Settled one block after the term, so the proofs pallet (which
            // checks the last epoch's deadline at `end`) sees it live first.
            Self::schedule(
                c.end.max(now).saturating_add(1u32.into()),
                DueItem::EndContract(contract),
            )?;
            Contracts::<T>::insert(contract, c);
            T::Observer::contract_confirmed(contract, &host);
            Self::deposit_event(Event::ContractConfirmed { contract, host });
            Ok(())
        }

        /// The Sender ends `contract` early: the host keeps at least the
        /// price of one epoch (its pay for taking the match and the upload:
        /// booking hosts and walking away is not free), epochs already paid
        /// stay paid, and every other unspent held unit returns to the Sender.
        ///
        /// Emits [`Event::ContractEnded`].
        #[pallet::call_index(9)]
        #[pallet::weight(T::WeightInfo::cancel_contract()
            .saturating_add(T::Observer::contract_ended_weight()))]
        pub fn cancel_contract(origin: OriginFor<T>, contract: ContractId) -> DispatchResult {
            let sender = ensure_signed(origin)?;
            let mut c = Contracts::<T>::get(contract).ok_or(Error::<T>::UnknownContract)?;
            ensure!(c.sender == sender, Error::<T>::NotContractSender);
            Self::pay_first_epoch(&mut c)?;
            Self::end_contract(contract, c, EndReason::Cancelled);
            Ok(())
        }
    }

    impl<T: Config> Pallet<T> {
        // ----- validation -----

        fn validate_host(endpoint: &[u8], region: &[u8], capacity: u64) -> DispatchResult {
            ensure!(
                masp_primitives::endpoint::is_valid(endpoint),
                Error::<T>::BadEndpoint
            );
            ensure!(
                !region.is_empty()
                    && region
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || *b == b'-'),
                Error::<T>::BadRegion
            );
            ensure!(capacity > 0, Error::<T>::ZeroCapacity);
            Ok(())
        }

        /// An offer must be able to take at least one contract of
        /// `MinContractSize` (on its capacity, the host's unused capacity and
        /// the host's free deposit), else it would only take room at the top
        /// of the book.
        fn validate_offer(
            who: &T::AccountId,
            host: &HostOf<T>,
            capacity: u64,
            min_duration: u32,
            max_duration: u32,
        ) -> DispatchResult {
            ensure!(capacity > 0, Error::<T>::ZeroCapacity);
            ensure!(
                capacity <= host.capacity,
                Error::<T>::OfferAboveHostCapacity
            );
            ensure!(
                min_duration >= 1
                    && min_duration <= max_duration
                    && max_duration <= T::MaxDuration::get(),
                Error::<T>::BadDurationBounds
            );
            let min = T::MinContractSize::get();
            ensure!(
                capacity >= min && host.capacity.saturating_sub(host.used) >= min,
                Error::<T>::OfferTooSmall
            );
            ensure!(
                T::Deposits::free_deposit(who) >= Self::min_backing(),
                Error::<T>::InsufficientHostDeposit
            );
            Ok(())
        }

        /// The host deposit a contract of `MinContractSize` bytes reserves.
        fn min_backing() -> Balance {
            market::per_gib(T::DepositPerGiB::get(), T::MinContractSize::get())
                .unwrap_or(Balance::MAX)
        }

        /// Whether `offer` (of `host`) can still take a contract of
        /// `MinContractSize`: room on the offer and the host, and free deposit
        /// to back it (read last: the costliest check). One that cannot is
        /// taken out of the book when matching meets it.
        fn can_rest(offer: &OfferOf<T>, host: &HostOf<T>) -> bool {
            let min = T::MinContractSize::get();
            offer.capacity >= min
                && host.capacity.saturating_sub(host.used) >= min
                && T::Deposits::free_deposit(&offer.host) >= Self::min_backing()
        }

        // ----- funds -----

        fn hold(reason: HoldReason, who: &T::AccountId, amount: Balance) -> DispatchResult {
            if amount.is_zero() {
                return Ok(());
            }
            T::Currency::hold(&reason.into(), who, amount)
                .map_err(|_| Error::<T>::InsufficientFunds.into())
        }

        /// Releases held funds. Our books say they are held; a shortfall would
        /// be a bug, so this releases what there is and logs it.
        fn release(reason: HoldReason, who: &T::AccountId, amount: Balance) {
            if amount.is_zero() {
                return;
            }
            match T::Currency::release(&reason.into(), who, amount, Precision::BestEffort) {
                Ok(released) if released == amount => {}
                other => log::error!(
                    target: "runtime::storage-market",
                    "released {other:?} of {amount} held: books and holds disagree"
                ),
            }
        }

        // ----- book -----

        pub(crate) fn next_seq() -> Result<u64, DispatchError> {
            let seq = BookSeq::<T>::get();
            BookSeq::<T>::put(seq.checked_add(1).ok_or(Error::<T>::Overflow)?);
            Ok(seq)
        }

        /// Writes back an offer (and its host) after matching: into the book if
        /// it can still take a minimum contract, out of it (sold out) if not.
        fn store_offer(id: OfferId, offer: OfferOf<T>, host: HostOf<T>) {
            let rests = Self::can_rest(&offer, &host);
            Hosts::<T>::insert(&offer.host, host);
            if !rests {
                Offers::<T>::remove(id);
                Self::remove_offer(id, offer, true, true);
            } else {
                OfferBook::<T>::insert(offer.book_key, id);
                Offers::<T>::insert(id, offer);
            }
        }

        /// Takes an offer (already removed from `Offers`) out of the book and
        /// the host's index, and returns its deposit.
        fn remove_offer(id: OfferId, offer: OfferOf<T>, sold_out: bool, unindex: bool) {
            OfferBook::<T>::remove(offer.book_key);
            if unindex {
                HostOffers::<T>::mutate(&offer.host, |ids| ids.retain(|i| *i != id));
            }
            Self::release(HoldReason::BookDeposit, &offer.host, offer.deposit);
            Self::deposit_event(Event::OfferClosed {
                offer: id,
                host: offer.host,
                sold_out,
            });
        }

        /// Takes a request out of the book and returns its escrow (of the
        /// unmatched replicas) and deposit.
        fn unlist_request(id: RequestId, request: &RequestOf<T>) {
            Requests::<T>::remove(id);
            RequestBook::<T>::remove(request.book_key);
            SenderRequests::<T>::remove(&request.sender, id);
            Self::release(HoldReason::Escrow, &request.sender, request.escrow);
            Self::release(HoldReason::BookDeposit, &request.sender, request.deposit);
        }

        /// Closes a request's unmatched remainder (cancelled or expired).
        fn close_request(id: RequestId, request: RequestOf<T>, expired: bool) {
            Self::unlist_request(id, &request);
            Self::deposit_event(Event::RequestClosed {
                request: id,
                expired,
                refunded: request.escrow.saturating_add(request.deposit),
            });
        }

        // ----- requests -----

        /// The escrow one replica storing `shard` holds: its whole term at
        /// `max_price`.
        fn bid(shard: &ShardSpec, max_price: Balance, duration: u32) -> Option<Balance> {
            market::term_cost(max_price, Self::billed(shard.size), duration)
        }

        /// Refuses shards of which two have the same Merkle root.
        fn ensure_distinct(shards: &[ShardSpec]) -> DispatchResult {
            ensure!(!shards.is_empty(), Error::<T>::BadReplicas);
            for (i, shard) in shards.iter().enumerate() {
                ensure!(
                    !shards
                        .iter()
                        .take(i)
                        .any(|other| other.merkle_root == shard.merkle_root),
                    Error::<T>::DuplicateRoot
                );
            }
            Ok(())
        }

        /// Places a request of `sender` for one replica per shard (see
        /// [`Pallet::place_request`]): on the offers in `picked` (one per
        /// shard, all or nothing, see [`Pallet::place_on_offers`]) or, if
        /// `None`, matched against the book. `weight` is the call's weight
        /// for (offers scanned, contracts made).
        #[allow(clippy::too_many_arguments)]
        fn place(
            sender: T::AccountId,
            shards: BoundedVec<ShardSpec, T::MaxReplicas>,
            avoid: BoundedVec<T::AccountId, T::MaxReplicas>,
            duration: u32,
            max_price: Balance,
            min_rating: Rating,
            picked: Option<BoundedVec<OfferId, T::MaxReplicas>>,
            weight: impl Fn(u32, u32) -> Weight,
        ) -> DispatchResultWithPostInfo {
            for shard in &shards {
                ensure!(shard.size > 0, Error::<T>::ZeroSize);
                // The host proves leaves of the tree over `size` bytes: a
                // different count makes every proof fail (the host is
                // slashed for the Sender's lie).
                ensure!(
                    expected_leaf_count(shard.size) == Some(shard.leaf_count),
                    Error::<T>::BadLeafCount
                );
            }
            ensure!(
                duration > 0 && duration <= T::MaxDuration::get(),
                Error::<T>::BadDuration
            );
            ensure!(
                min_rating <= RATING_MAX.min(T::Rating::best_rating()),
                Error::<T>::BadMinRating
            );
            let mut escrow: Balance = 0;
            for shard in &shards {
                let bid = Self::bid(shard, max_price, duration).ok_or(Error::<T>::Overflow)?;
                escrow = escrow.checked_add(bid).ok_or(Error::<T>::Overflow)?;
            }
            // The cost of the first contract's term decides `start`/`end`; it
            // must be representable in blocks.
            Self::term_bounds(frame_system::Pallet::<T>::block_number(), duration)?;
            Self::hold(HoldReason::Escrow, &sender, escrow)?;

            let id = NextRequestId::<T>::get();
            NextRequestId::<T>::put(id.checked_add(1).ok_or(Error::<T>::Overflow)?);
            let now = frame_system::Pallet::<T>::block_number();
            let mut request = Request {
                sender: sender.clone(),
                shards,
                duration,
                max_price,
                min_rating,
                escrow,
                hosts: BoundedVec::new(),
                avoid,
                deposit: 0,
                book_key: [0; 24],
                expires_at: now.saturating_add(T::RequestTtl::get()),
            };
            let scanned = match picked {
                Some(offers) => Self::match_picked(id, &mut request, &offers, now)?,
                None => Self::match_request(id, &mut request, now)?,
            };
            let matched = request.hosts.len() as u32;
            let resting = request.unmatched();
            let (size, replicas) = (request.largest(), request.replicas());
            if resting > 0 {
                let deposit = T::RequestDeposit::get();
                Self::hold(HoldReason::BookDeposit, &sender, deposit)?;
                request.deposit = deposit;
                request.book_key = request_key(max_price, Self::next_seq()?);
                RequestBook::<T>::insert(request.book_key, id);
                SenderRequests::<T>::insert(&sender, id, ());
                Self::schedule(request.expires_at, DueItem::ExpireRequest(id))?;
                Requests::<T>::insert(id, request);
            }
            Self::deposit_event(Event::RequestPlaced {
                request: id,
                sender,
                size,
                replicas,
                duration,
                max_price,
                matched,
                resting,
            });
            if resting == 0 {
                Self::deposit_event(Event::RequestFilled { request: id });
            }
            Ok(Some(weight(scanned.saturating_sub(matched), matched)).into())
        }

        // ----- matching -----

        /// The bytes a contract of `size` bytes is priced, backed and counted
        /// as: at least [`Config::MinContractSize`].
        pub fn billed(size: u64) -> u64 {
            size.max(T::MinContractSize::get())
        }

        /// Whether `offer` (of host `host`) can take a replica of a request
        /// for `size` bytes (billed as [`Pallet::billed`]) and `duration`
        /// epochs, from `sender` (if known), at `min_rating`, avoiding hosts
        /// in `exclude` and `avoid`. Returns the host deposit the contract
        /// reserves.
        #[allow(clippy::too_many_arguments)]
        fn fits(
            offer: &OfferOf<T>,
            host: &HostOf<T>,
            sender: Option<&T::AccountId>,
            exclude: &[T::AccountId],
            avoid: &[T::AccountId],
            size: u64,
            duration: u32,
            min_rating: Rating,
        ) -> Option<Balance> {
            let size = Self::billed(size);
            if sender == Some(&offer.host)
                || exclude.contains(&offer.host)
                || avoid.contains(&offer.host)
                || offer.capacity < size
                || duration < offer.min_duration
                || duration > offer.max_duration
                || host.capacity.saturating_sub(host.used) < size
                || T::Rating::rating(&offer.host) < min_rating
            {
                return None;
            }
            let deposit = market::per_gib(T::DepositPerGiB::get(), size)?;
            (T::Deposits::free_deposit(&offer.host) >= deposit).then_some(deposit)
        }

        /// Up to `n` offers of the book after `after` (from the start if
        /// `None`), cheapest first, at most `max_price`.
        fn offer_batch(
            after: Option<BookKey>,
            n: u32,
            max_price: Balance,
        ) -> Vec<(BookKey, OfferId)> {
            let iter = match after {
                Some(key) => OfferBook::<T>::iter_from(OfferBook::<T>::hashed_key_for(key)),
                None => OfferBook::<T>::iter(),
            };
            iter.take(n as usize)
                .take_while(|(key, _)| offer_key_price(key) <= max_price)
                .collect()
        }

        /// Up to `n` requests of the book after `after` (from the start if
        /// `None`), highest bid first, bidding at least `min_price`.
        fn request_batch(
            after: Option<BookKey>,
            n: u32,
            min_price: Balance,
        ) -> Vec<(BookKey, RequestId)> {
            let iter = match after {
                Some(key) => RequestBook::<T>::iter_from(RequestBook::<T>::hashed_key_for(key)),
                None => RequestBook::<T>::iter(),
            };
            iter.take(n as usize)
                .take_while(|(key, _)| request_key_price(key) >= min_price)
                .collect()
        }

        /// Matches `request` against the offer book, cheapest first. Returns
        /// the number of offers examined: at most `MaxMatchScan` that could
        /// take a contract, plus at most `MaxMatchScan` that could not
        /// (their host's free deposit or capacity, or their own capacity,
        /// is below a minimum contract), which are taken out of the book as
        /// sold out: such junk never holds the top of the book.
        fn match_request(
            id: RequestId,
            request: &mut RequestOf<T>,
            now: BlockNumberFor<T>,
        ) -> Result<u32, DispatchError> {
            let scan = T::MaxMatchScan::get();
            let (mut examined, mut evicted) = (0u32, 0u32);
            let mut after = None;
            while request.unmatched() > 0 && examined < scan {
                let want = scan - examined;
                let batch = Self::offer_batch(after, want, request.max_price);
                let full = batch.len() as u32 == want;
                for (key, offer_id) in batch {
                    after = Some(key);
                    if request.unmatched() == 0 {
                        break;
                    }
                    let Some(mut offer) = Offers::<T>::get(offer_id) else {
                        examined += 1;
                        continue;
                    };
                    let Some(mut host) = Hosts::<T>::get(&offer.host) else {
                        examined += 1;
                        continue;
                    };
                    if evicted < scan && !Self::can_rest(&offer, &host) {
                        evicted += 1;
                        Offers::<T>::remove(offer_id);
                        Self::remove_offer(offer_id, offer, true, true);
                        continue;
                    }
                    examined += 1;
                    let Some(shard) = request.next_shard().copied() else {
                        break;
                    };
                    let Some(deposit) = Self::fits(
                        &offer,
                        &host,
                        Some(&request.sender),
                        &request.hosts,
                        &request.avoid,
                        shard.size,
                        request.duration,
                        request.min_rating,
                    ) else {
                        continue;
                    };
                    Self::create_contract(id, request, &mut offer, &mut host, deposit, now)?;
                    Self::store_offer(offer_id, offer, host);
                }
                if !full {
                    break;
                }
            }
            Ok(examined.saturating_add(evicted))
        }

        /// Matches `request`'s shards, in order, on the Sender's `offers`
        /// (one each): fails unless every one takes its shard. Returns the
        /// number of offers examined.
        fn match_picked(
            id: RequestId,
            request: &mut RequestOf<T>,
            offers: &[OfferId],
            now: BlockNumberFor<T>,
        ) -> Result<u32, DispatchError> {
            for offer_id in offers {
                let mut offer = Offers::<T>::get(offer_id).ok_or(Error::<T>::UnknownOffer)?;
                ensure!(
                    offer.price <= request.max_price,
                    Error::<T>::OfferAboveMaxPrice
                );
                ensure!(
                    !request.hosts.contains(&offer.host),
                    Error::<T>::SameHostTwice
                );
                let mut host = Hosts::<T>::get(&offer.host).ok_or(Error::<T>::NotRegistered)?;
                let shard = *request.next_shard().ok_or(Error::<T>::BadReplicas)?;
                let deposit = Self::fits(
                    &offer,
                    &host,
                    Some(&request.sender),
                    &request.hosts,
                    &request.avoid,
                    shard.size,
                    request.duration,
                    request.min_rating,
                )
                .ok_or(Error::<T>::OfferCannotTake)?;
                Self::create_contract(id, request, &mut offer, &mut host, deposit, now)?;
                Self::store_offer(*offer_id, offer, host);
            }
            Ok(offers.len() as u32)
        }

        /// Matches a new or changed offer against resting requests, highest
        /// bid first. Returns the number of requests examined: at most
        /// `MaxMatchScan` that could match some host, plus at most
        /// `MaxMatchScan` whose rating floor is above every host's rating
        /// now, which are closed (refunded) on the way: such junk never
        /// holds the top of the book; plus at most `MaxMatchScan` that will
        /// not have this host (see `skipped`). At most 3 x `MaxMatchScan`
        /// in all, which the calls' weights assume.
        fn match_offer(offer: &mut OfferOf<T>, host: &mut HostOf<T>) -> Result<u32, DispatchError> {
            let now = frame_system::Pallet::<T>::block_number();
            let scan = T::MaxMatchScan::get();
            let best = T::Rating::best_rating();
            let (mut examined, mut evicted, mut skipped) = (0u32, 0u32, 0u32);
            let mut after = None;
            while examined < scan && Self::can_rest(offer, host) {
                let want = scan - examined;
                let batch = Self::request_batch(after, want, offer.price);
                let full = batch.len() as u32 == want;
                for (key, request_id) in batch {
                    after = Some(key);
                    if !Self::can_rest(offer, host) {
                        break;
                    }
                    let Some(mut request) = Requests::<T>::get(request_id) else {
                        examined += 1;
                        continue;
                    };
                    if evicted < scan && request.min_rating > best {
                        evicted += 1;
                        Self::close_request(request_id, request, true);
                        continue;
                    }
                    // A request that will not have this host (its own, one
                    // it already matched, or one its Sender avoids) is
                    // passed on its own budget: requests avoiding every
                    // good host cannot use up the scan and keep the honest
                    // ones below them from matching.
                    if skipped < scan
                        && (request.sender == offer.host
                            || request.hosts.contains(&offer.host)
                            || request.avoid.contains(&offer.host))
                    {
                        skipped += 1;
                        continue;
                    }
                    examined += 1;
                    let Some(shard) = request.next_shard().copied() else {
                        continue;
                    };
                    let Some(deposit) = Self::fits(
                        offer,
                        host,
                        Some(&request.sender),
                        &request.hosts,
                        &request.avoid,
                        shard.size,
                        request.duration,
                        request.min_rating,
                    ) else {
                        continue;
                    };
                    Self::create_contract(request_id, &mut request, offer, host, deposit, now)?;
                    if request.unmatched() == 0 {
                        Self::unlist_request(request_id, &request);
                        Self::deposit_event(Event::RequestFilled {
                            request: request_id,
                        });
                    } else {
                        Requests::<T>::insert(request_id, request);
                    }
                }
                if !full {
                    break;
                }
            }
            Ok(examined.saturating_add(evicted).saturating_add(skipped))
        }

        /// First and last epoch, first block and end block of a term of
        /// `duration` epochs matched at `now`: the term starts at the next
        /// epoch boundary.
        fn term_bounds(
            now: BlockNumberFor<T>,
            duration: u32,
        ) -> Result<(EpochIndex, EpochIndex, BlockNumberFor<T>, BlockNumberFor<T>), DispatchError>
        {
            let first = T::Epochs::epoch_of(now)
                .checked_add(1)
                .ok_or(Error::<T>::Overflow)?;
            let last = first
                .checked_add(duration.saturating_sub(1))
                .ok_or(Error::<T>::Overflow)?;
            let start = T::Epochs::checked_epoch_start(first).ok_or(Error::<T>::Overflow)?;
            let end = last
                .checked_add(1)
                .and_then(T::Epochs::checked_epoch_start)
                .ok_or(Error::<T>::Overflow)?;
            Ok((first, last, start, end))
        }

        /// One replica of `request` on `offer`'s host: reserves the host's
        /// deposit, keeps the term's cost held from the Sender (returning the
        /// rest of the bid) and records the contract.
        fn create_contract(
            request_id: RequestId,
            request: &mut RequestOf<T>,
            offer: &mut OfferOf<T>,
            host: &mut HostOf<T>,
            deposit: Balance,
            now: BlockNumberFor<T>,
        ) -> DispatchResult {
            let shard = *request.next_shard().ok_or(Error::<T>::BadReplicas)?;
            let bid = Self::bid(&shard, request.max_price, request.duration)
                .ok_or(Error::<T>::Overflow)?;
            let billed = Self::billed(shard.size);
            let epoch_cost = market::epoch_cost(offer.price, billed).ok_or(Error::<T>::Overflow)?;
            let cost = market::term_cost(offer.price, billed, request.duration)
                .ok_or(Error::<T>::Overflow)?;
            let (first_epoch, last_epoch, start, end) = Self::term_bounds(now, request.duration)?;
            let id = NextContractId::<T>::get();
            NextContractId::<T>::put(id.checked_add(1).ok_or(Error::<T>::Overflow)?);
            T::Deposits::reserve(&offer.host, id, deposit)?;
            request
                .hosts
                .try_push(offer.host.clone())
                .map_err(|_| Error::<T>::BadReplicas)?;
            // price <= max_price, so cost <= bid: the difference goes back.
            request.escrow = request.escrow.saturating_sub(bid);
            Self::release(
                HoldReason::Escrow,
                &request.sender,
                bid.saturating_sub(cost),
            );
            offer.capacity = offer.capacity.saturating_sub(billed);
            host.used = host.used.saturating_add(billed);
            host.live_contracts = host.live_contracts.saturating_add(1);
            let upload_deadline = now.saturating_add(T::UploadWindow::get());
            // Processed at the start of the block after the deadline, so a
            // confirmation in the deadline block itself still counts.
            Self::schedule(
                upload_deadline.saturating_add(1u32.into()),
                DueItem::UploadDeadline(id),
            )?;
            HostContracts::<T>::insert(&offer.host, id, ());
            SenderContracts::<T>::insert(&request.sender, id, ());
            Contracts::<T>::insert(
                id,
                Contract {
                    request: request_id,
                    sender: request.sender.clone(),
                    host: offer.host.clone(),
                    size: shard.size,
                    merkle_root: shard.merkle_root,
                    leaf_count: shard.leaf_count,
                    price: offer.price,
                    epoch_cost,
                    start,
                    end,
                    first_epoch,
                    last_epoch,
                    upload_deadline,
                    state: ContractState::AwaitingUpload,
                    escrow: cost,
                    paid: 0,
                    last_paid_epoch: None,
                },
            );
            Self::deposit_event(Event::ContractCreated {
                contract: id,
                request: request_id,
                sender: request.sender.clone(),
                host: offer.host.clone(),
                size: shard.size,
                price: offer.price,
                cost,
                start,
                end,
                upload_deadline,
            });
            Ok(())
        }

        /// Pays `c`'s host from the Sender's escrow whatever it lacks of one
        /// epoch's price, when the Sender cancels or the upload window closes
        /// unconfirmed: a match reserves the host's capacity and deposit (and
        /// confirmed, it received the upload), so it never ends unpaid.
        fn pay_first_epoch(c: &mut ContractOf<T>) -> DispatchResult {
            let amount = c.epoch_cost.saturating_sub(c.paid).min(c.escrow);
            if amount.is_zero() {
                return Ok(());
            }
            T::Currency::transfer_on_hold(
                &HoldReason::Escrow.into(),
                &c.sender,
                &c.host,
                amount,
                Precision::Exact,
                Restriction::Free,
                Fortitude::Force,
            )?;
            c.escrow = c.escrow.saturating_sub(amount);
            c.paid = c.paid.saturating_add(amount);
            Ok(())
        }

        /// Ends a contract: the Sender's unspent funds return, the host's
        /// deposit backing and capacity are freed.
        fn end_contract(id: ContractId, contract: ContractOf<T>, reason: EndReason) {
            Contracts::<T>::remove(id);
            HostContracts::<T>::remove(&contract.host, id);
            SenderContracts::<T>::remove(&contract.sender, id);
            Self::release(HoldReason::Escrow, &contract.sender, contract.escrow);
            // Observers first, while the deposit still backs the contract
            // (an insurer recovers a claim from it).
            T::Observer::contract_ended(
                id,
                &contract.host,
                &contract.sender,
                reason.into(),
                contract.paid,
            );
            T::Deposits::release(id);
            Hosts::<T>::mutate(&contract.host, |maybe| {
                if let Some(host) = maybe {
                    host.used = host.used.saturating_sub(Self::billed(contract.size));
                    host.live_contracts = host.live_contracts.saturating_sub(1);
                }
            });
            Self::deposit_event(Event::ContractEnded {
                contract: id,
                reason,
                paid: contract.paid,
                refunded: contract.escrow,
            });
        }

        // ----- due-queue -----

        /// Queues `item` for block `at`.
        fn schedule(at: BlockNumberFor<T>, item: DueItem) -> DispatchResult {
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

        fn process_item(item: DueItem, now: BlockNumberFor<T>) {
            match item {
                DueItem::ExpireRequest(id) => {
                    if let Some(request) = Requests::<T>::get(id) {
                        if request.expires_at <= now {
                            Self::close_request(id, request, true);
                        }
                    }
                }
                DueItem::UploadDeadline(id) => {
                    if let Some(mut c) = Contracts::<T>::get(id) {
                        if c.state == ContractState::AwaitingUpload {
                            // The chain cannot tell who failed; the Sender
                            // who booked the host pays it one epoch.
                            if let Err(e) = Self::pay_first_epoch(&mut c) {
                                log::error!(
                                    target: "runtime::storage-market",
                                    "contract {id}: first epoch not paid: {e:?}"
                                );
                            }
                            Self::end_contract(id, c, EndReason::NotConfirmed);
                        }
                    }
                }
                DueItem::EndContract(id) => {
                    if let Some(c) = Contracts::<T>::get(id) {
                        if c.state == ContractState::Active && c.end <= now {
                            Self::end_contract(id, c, EndReason::Completed);
                        }
                    }
                }
            }
        }

        // ----- epochs -----

        /// The epoch now, by [`Config::Epochs`] (the runtime API's
        /// `current_epoch`).
        pub fn current_epoch() -> EpochIndex {
            T::Epochs::epoch_of(frame_system::Pallet::<T>::block_number())
        }

        // ----- queries (runtime API) -----

        /// The offer book, cheapest first, at most `max` offers.
        pub fn order_book(max: u32) -> Vec<(OfferId, OfferOf<T>)> {
            OfferBook::<T>::iter_values()
                .take(max as usize)
                .filter_map(|id| Offers::<T>::get(id).map(|o| (id, o)))
                .collect()
        }

        /// Resting requests, highest max price first, at most `max`.
        pub fn request_book(max: u32) -> Vec<(RequestId, RequestViewOf<T>)> {
            RequestBook::<T>::iter_values()
                .take(max as usize)
                .filter_map(|id| Requests::<T>::get(id).map(|r| (id, (&r).into())))
                .collect()
        }

        /// A registered host, with its free deposit and rating.
        pub fn host(who: &T::AccountId) -> Option<HostView<BlockNumberFor<T>>> {
            Hosts::<T>::get(who).map(|h| HostView {
                endpoint: h.endpoint.into_inner(),
                region: h.region.into_inner(),
                capacity: h.capacity,
                used: h.used,
                ticket_key: h.ticket_key,
                live_contracts: h.live_contracts,
                registered_at: h.registered_at,
                free_deposit: T::Deposits::free_deposit(who),
                rating: T::Rating::rating(who),
            })
        }

        /// A host's resting offers.
        pub fn host_offers(host: &T::AccountId) -> Vec<(OfferId, OfferOf<T>)> {
            HostOffers::<T>::get(host)
                .into_iter()
                .filter_map(|id| Offers::<T>::get(id).map(|o| (id, o)))
                .collect()
        }

        /// A host's live contracts, at most `max`.
        pub fn host_contracts(host: &T::AccountId, max: u32) -> Vec<(ContractId, ContractOf<T>)> {
            HostContracts::<T>::iter_key_prefix(host)
                .take(max as usize)
                .filter_map(|id| Contracts::<T>::get(id).map(|c| (id, c)))
                .collect()
        }

        /// A Sender's live contracts, at most `max`.
        pub fn sender_contracts(
            sender: &T::AccountId,
            max: u32,
        ) -> Vec<(ContractId, ContractOf<T>)> {
            SenderContracts::<T>::iter_key_prefix(sender)
                .take(max as usize)
                .filter_map(|id| Contracts::<T>::get(id).map(|c| (id, c)))
                .collect()
        }

        /// A Sender's resting requests, at most `max`.
        pub fn sender_requests(
            sender: &T::AccountId,
            max: u32,
        ) -> Vec<(RequestId, RequestViewOf<T>)> {
            SenderRequests::<T>::iter_key_prefix(sender)
                .take(max as usize)
                .filter_map(|id| Requests::<T>::get(id).map(|r| (id, (&r).into())))
                .collect()
        }

        /// What a request of `replicas` x `size` bytes for `duration` epochs,
        /// at most `max_price` (any price if `None`), on hosts rated at least
        /// `min_rating`, would cost if placed now: the offers matching would
        /// pick, within the same `MaxMatchScan` bound.
        pub fn quote(
            size: u64,
            duration: u32,
            replicas: u32,
            max_price: Option<Balance>,
            min_rating: Rating,
        ) -> Quote<T::AccountId> {
            let max_price = max_price.unwrap_or(Balance::MAX);
            let replicas = replicas.min(T::MaxReplicas::get());
            let mut lines: Vec<QuoteLine<T::AccountId>> = Vec::new();
            let mut hosts: Vec<T::AccountId> = Vec::new();
            let mut total: Balance = 0;
            // The same walk as matching: ineligible offers (which matching
            // takes out of the book) do not count against the bound.
            let scan = T::MaxMatchScan::get();
            let (mut examined, mut skipped) = (0u32, 0u32);
            for (key, id) in OfferBook::<T>::iter().take(scan.saturating_mul(2) as usize) {
                if lines.len() as u32 >= replicas
                    || examined >= scan
                    || offer_key_price(&key) > max_price
                {
                    break;
                }
                let Some(offer) = Offers::<T>::get(id) else {
                    examined += 1;
                    continue;
                };
                let Some(host) = Hosts::<T>::get(&offer.host) else {
                    examined += 1;
                    continue;
                };
                if skipped < scan && !Self::can_rest(&offer, &host) {
                    skipped += 1;
                    continue;
                }
                examined += 1;
                if Self::fits(&offer, &host, None, &hosts, &[], size, duration, min_rating)
                    .is_none()
                {
                    continue;
                }
                let Some(cost) = market::term_cost(offer.price, Self::billed(size), duration)
                else {
                    continue;
                };
                total = total.saturating_add(cost);
                hosts.push(offer.host.clone());
                lines.push(QuoteLine {
                    offer: id,
                    host: offer.host,
                    price: offer.price,
                    cost,
                });
            }
            let unmatched = replicas.saturating_sub(lines.len() as u32);
            Quote {
                lines,
                total,
                unmatched,
            }
        }

        // ----- invariants -----

        /// The market's invariants (run by `try_state` and after every test):
        /// - each account's escrow hold == its resting requests' escrow + its
        ///   live contracts' unspent funds; its book-deposit hold == its
        ///   resting offers' and requests' deposits;
        /// - every book entry points at a record with that key and back;
        ///   requests in the book have unmatched replicas and distinct hosts;
        /// - hosts' used bytes and live contract counts equal their
        ///   contracts' (billed sizes, see [`Pallet::billed`]); each
        ///   contract's escrow + paid == its term's cost.
        /// Always compiled, so other pallets' tests can check it too.
        pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
            use alloc::collections::btree_map::BTreeMap;
            use frame_support::traits::fungible::InspectHold;
            let mut escrow: BTreeMap<T::AccountId, Balance> = BTreeMap::new();
            let mut deposits: BTreeMap<T::AccountId, Balance> = BTreeMap::new();
            let mut used: BTreeMap<T::AccountId, (u64, u32)> = BTreeMap::new();
            let add = |map: &mut BTreeMap<T::AccountId, Balance>, who: &T::AccountId, v| {
                let e = map.entry(who.clone()).or_default();
                *e = e.saturating_add(v);
            };

            for (id, offer) in Offers::<T>::iter() {
                ensure!(
                    OfferBook::<T>::get(offer.book_key) == Some(id),
                    "offer not in the book under its key"
                );
                ensure!(
                    offer_key_price(&offer.book_key) == offer.price,
                    "offer key price != offer price"
                );
                ensure!(offer.capacity > 0, "a sold-out offer rests in the book");
                ensure!(
                    HostOffers::<T>::get(&offer.host).contains(&id),
                    "offer not indexed under its host"
                );
                ensure!(
                    Hosts::<T>::contains_key(&offer.host),
                    "offer of an unregistered host"
                );
                add(&mut deposits, &offer.host, offer.deposit);
            }
            ensure!(
                OfferBook::<T>::iter().count() == Offers::<T>::iter().count(),
                "offer book and offers differ"
            );
            for (host, ids) in HostOffers::<T>::iter() {
                for id in ids {
                    ensure!(
                        Offers::<T>::get(id).is_some_and(|o| o.host == host),
                        "host index points at a missing offer"
                    );
                }
            }

            for (id, request) in Requests::<T>::iter() {
                ensure!(
                    RequestBook::<T>::get(request.book_key) == Some(id),
                    "request not in the book under its key"
                );
                ensure!(
                    request_key_price(&request.book_key) == request.max_price,
                    "request key price != max price"
                );
                ensure!(
                    request.unmatched() > 0,
                    "a filled request rests in the book"
                );
                let bids =
                    request
                        .unmatched_shards()
                        .iter()
                        .try_fold(0 as Balance, |sum, shard| {
                            Self::bid(shard, request.max_price, request.duration)
                                .and_then(|bid| sum.checked_add(bid))
                        });
                ensure!(
                    bids == Some(request.escrow),
                    "request escrow != the unmatched shards' bids"
                );
                let mut hosts = request.hosts.to_vec();
                hosts.sort();
                hosts.dedup();
                ensure!(
                    hosts.len() == request.hosts.len(),
                    "two replicas on one host"
                );
                ensure!(
                    !request.hosts.contains(&request.sender),
                    "a Sender matched to itself"
                );
                ensure!(
                    SenderRequests::<T>::contains_key(&request.sender, id),
                    "request not indexed under its Sender"
                );
                add(&mut escrow, &request.sender, request.escrow);
                add(&mut deposits, &request.sender, request.deposit);
            }
            ensure!(
                RequestBook::<T>::iter().count() == Requests::<T>::iter().count(),
                "request book and requests differ"
            );

            for (id, c) in Contracts::<T>::iter() {
                ensure!(c.host != c.sender, "a host stores its own request");
                ensure!(
                    c.epoch_cost.saturating_mul(
                        (c.last_epoch.saturating_sub(c.first_epoch) as Balance).saturating_add(1),
                    ) == c.escrow.saturating_add(c.paid),
                    "contract escrow + paid != term cost"
                );
                ensure!(
                    HostContracts::<T>::contains_key(&c.host, id)
                        && SenderContracts::<T>::contains_key(&c.sender, id),
                    "contract not indexed"
                );
                ensure!(
                    T::Deposits::backing(id)
                        <= market::per_gib(T::DepositPerGiB::get(), Self::billed(c.size))
                            .unwrap_or(0),
                    "contract backed by more than its deposit"
                );
                add(&mut escrow, &c.sender, c.escrow);
                let e = used.entry(c.host.clone()).or_default();
                e.0 = e.0.saturating_add(Self::billed(c.size));
                e.1 = e.1.saturating_add(1);
            }
            ensure!(
                HostContracts::<T>::iter().count() == Contracts::<T>::iter().count()
                    && SenderContracts::<T>::iter().count() == Contracts::<T>::iter().count(),
                "contract indexes and contracts differ"
            );

            for (host, info) in Hosts::<T>::iter() {
                let (bytes, count) = used.remove(&host).unwrap_or_default();
                ensure!(
                    info.used == bytes,
                    "host used bytes != its contracts' billed sizes"
                );
                ensure!(
                    info.live_contracts == count,
                    "host live contracts != its contracts"
                );
                ensure!(info.used <= info.capacity, "host over capacity");
            }
            ensure!(used.is_empty(), "contract of an unregistered host");

            for (who, amount) in escrow {
                ensure!(
                    T::Currency::balance_on_hold(&HoldReason::Escrow.into(), &who) == amount,
                    "escrow hold != requests' + contracts' unspent funds"
                );
            }
            for (who, amount) in deposits {
                ensure!(
                    T::Currency::balance_on_hold(&HoldReason::BookDeposit.into(), &who) == amount,
                    "book deposit hold != resting offers' and requests' deposits"
                );
            }
            Ok(())
        }
    }

    impl<T: Config> masp_primitives::traits::HostRegistry<T::AccountId> for Pallet<T> {
        fn is_host(who: &T::AccountId) -> bool {
            Hosts::<T>::contains_key(who)
        }
    }

    impl<T: Config> StorageContracts<T::AccountId, Balance> for Pallet<T> {
        fn proof_target(contract: ContractId) -> Option<ProofTarget<T::AccountId>> {
            Contracts::<T>::get(contract).map(|c| ProofTarget {
                host: c.host,
                sender: c.sender,
                merkle_root: c.merkle_root,
                leaf_count: c.leaf_count,
                size: c.size,
                first_epoch: c.first_epoch,
                last_epoch: c.last_epoch,
                confirmed: c.state == ContractState::Active,
            })
        }

        fn epoch_proven(contract: ContractId, epoch: EpochIndex) -> Result<Balance, DispatchError> {
            let mut c = Contracts::<T>::get(contract).ok_or(Error::<T>::UnknownContract)?;
            ensure!(c.state == ContractState::Active, Error::<T>::NotActive);
            ensure!(
                epoch >= c.first_epoch && epoch <= c.last_epoch,
                Error::<T>::EpochOutOfTerm
            );
            ensure!(
                c.last_paid_epoch.is_none_or(|paid| epoch > paid),
                Error::<T>::EpochAlreadyPaid
            );
            let amount = c.epoch_cost.min(c.escrow);
            if !amount.is_zero() {
                T::Currency::transfer_on_hold(
                    &HoldReason::Escrow.into(),
                    &c.sender,
                    &c.host,
                    amount,
                    Precision::Exact,
                    Restriction::Free,
                    Fortitude::Force,
                )?;
            }
            c.escrow = c.escrow.saturating_sub(amount);
            c.paid = c.paid.saturating_add(amount);
            c.last_paid_epoch = Some(epoch);
            let host = c.host.clone();
            Contracts::<T>::insert(contract, c);
            Self::deposit_event(Event::EpochPaid {
                contract,
                host,
                epoch,
                amount,
            });
            Ok(amount)
        }

        fn data_lost(contract: ContractId) -> DispatchResult {
            let c = Contracts::<T>::get(contract).ok_or(Error::<T>::UnknownContract)?;
            Self::end_contract(contract, c, EndReason::DataLost);
            Ok(())
        }

        fn data_lost_weight() -> Weight {
            T::Observer::contract_ended_weight()
        }
    }
}
