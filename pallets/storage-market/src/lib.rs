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
//!
//! ## Layout
//!
//! This file holds the pallet's declarations (config, storage, events,
//! errors, hooks) and its calls; the rest is split along its seams, each
//! an `impl Pallet<T>` block: `book.rs` (validation, held funds, the books'
//! keys), `matching.rs` (placing requests and picks, matching, contracts),
//! `due.rs` (the due-queue and the epoch), `queries.rs` (what the runtime
//! API reads), `invariants.rs` (`do_try_state`), `impls.rs` (the traits
//! other pallets use), `types.rs`.

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

// The pallet's functions, by seam (each an `impl Pallet<T>` block).
mod book;
mod due;
mod impls;
mod invariants;
mod matching;
mod queries;

// `place_request` takes the seven fields of a request; FRAME's generated call
// constructors inherit that arity.
#[allow(clippy::too_many_arguments)]
#[frame_support::pallet]
pub mod pallet {
    use super::*;

    use frame_support::{
        pallet_prelude::*,
        traits::fungible::{Inspect, Mutate, MutateHold},
    };
    use frame_system::pallet_prelude::*;
    use masp_primitives::{
        market::{ContractId, EpochIndex, OfferId, Rating, RequestId},
        traits::{ContractObserver, EpochClock, HostDeposits, HostRatingProvider},
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

    /// Defaults for test runtimes: every constant of the market at a small
    /// test value (`#[derive_impl(pallet_storage_market::config_preludes::
    /// TestDefaultConfig)]`), so a pallet's mock declares only what ties
    /// the market to its runtime. The values are public for the tests.
    pub mod config_preludes {
        use super::*;
        use frame_support::{
            derive_impl,
            traits::{ConstU128, ConstU32, ConstU64},
        };
        use masp_primitives::token::UNIT;

        /// Host deposit per GiB stored.
        pub const DEPOSIT_PER_GIB: Balance = 10 * UNIT;
        /// Storage deposit of an offer or a request.
        pub const BOOK_DEPOSIT: Balance = UNIT / 10;
        /// Blocks to confirm an upload (`UploadWindow`, set by the mock:
        /// block numbers are the runtime's type).
        pub const UPLOAD_WINDOW: u64 = 5;
        /// Blocks a request rests (`RequestTtl`, set by the mock).
        pub const REQUEST_TTL: u64 = 50;
        /// Book entries examined per matching.
        pub const MAX_SCAN: u32 = 8;
        /// Replicas per request.
        pub const MAX_REPLICAS: u32 = 4;
        /// Due items per block.
        pub const MAX_DUE: u32 = 4;

        /// The test defaults.
        pub struct TestDefaultConfig;

        #[derive_impl(frame_system::config_preludes::TestDefaultConfig, no_aggregated_types)]
        impl frame_system::DefaultConfig for TestDefaultConfig {}

        #[frame_support::register_default_impl(TestDefaultConfig)]
        impl DefaultConfig for TestDefaultConfig {
            type DepositPerGiB = ConstU128<DEPOSIT_PER_GIB>;
            /// No minimum: other pallets' rules are tested on contracts of
            /// any size (the runtime's minimum only makes tiny contracts
            /// lock more).
            type MinContractSize = ConstU64<1>;
            type OfferDeposit = ConstU128<BOOK_DEPOSIT>;
            type RequestDeposit = ConstU128<BOOK_DEPOSIT>;
            type MaxMatchScan = ConstU32<MAX_SCAN>;
            type MaxReplicas = ConstU32<MAX_REPLICAS>;
            type MaxOffersPerHost = ConstU32<4>;
            type MaxEndpointLen = ConstU32<64>;
            type MaxDuration = ConstU32<100>;
            type MaxDuePerBlock = ConstU32<MAX_DUE>;
            type WeightInfo = ();
        }
    }

    #[pallet::config(with_default)]
    pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
        /// MASP: escrow and storage deposits are holds on it.
        #[pallet::no_default]
        type Currency: Inspect<Self::AccountId, Balance = Balance>
            + Mutate<Self::AccountId>
            + MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

        /// The runtime's hold reasons (ours are [`HoldReason`]).
        #[pallet::no_default]
        type RuntimeHoldReason: From<HoldReason>;

        /// The hosts' insurance deposits (the deposits pallet).
        #[pallet::no_default]
        type Deposits: HostDeposits<Self::AccountId, Balance>;

        /// Hosts' ratings, for `min_rating` (`()` rates every host at the top).
        #[pallet::no_default]
        type Rating: HostRatingProvider<Self::AccountId>;

        /// Told when contracts are confirmed and end.
        #[pallet::no_default]
        type Observer: ContractObserver<Self::AccountId, Balance>;

        /// The market's epochs (the unit of contract terms and payment): the
        /// one clock the proofs, rating and insurance pallets share.
        #[pallet::no_default]
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
        #[pallet::no_default]
        type UploadWindow: Get<BlockNumberFor<Self>>;

        /// Blocks an unmatched request rests in the book.
        #[pallet::constant]
        #[pallet::no_default]
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
        #[pallet::no_default]
        type BenchmarkHelper: masp_primitives::traits::BenchmarkDeposits<Self::AccountId, Balance>;
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
}
