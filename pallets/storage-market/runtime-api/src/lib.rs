//! Runtime API of the storage market, for the `masp` client, the host daemon,
//! polkadot.js apps (`api.call.storageMarketApi`) and scripts. Every type is
//! described in the metadata: no custom types needed.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use codec::Codec;
pub use pallet_storage_market::{Contract, HostView, Offer, Quote, QuoteLine, RequestView};

sp_api::decl_runtime_apis! {
    /// The MASP storage market.
    pub trait StorageMarketApi<AccountId, BlockNumber, Balance>
    where
        AccountId: Codec,
        BlockNumber: Codec,
        Balance: Codec,
    {
        /// The current epoch.
        fn current_epoch() -> u32;
        /// The offer book, cheapest first (then earliest), at most `max` offers.
        fn order_book(max: u32) -> Vec<(u64, Offer<AccountId, BlockNumber>)>;
        /// Resting requests, highest max price first, at most `max`.
        fn request_book(max: u32) -> Vec<(u64, RequestView<AccountId, BlockNumber>)>;
        /// A registered host, with its free deposit and rating.
        fn host(who: AccountId) -> Option<HostView<BlockNumber>>;
        /// A host's resting offers.
        fn host_offers(who: AccountId) -> Vec<(u64, Offer<AccountId, BlockNumber>)>;
        /// A host's live contracts, at most `max`.
        fn host_contracts(who: AccountId, max: u32) -> Vec<(u64, Contract<AccountId, BlockNumber>)>;
        /// A Sender's resting requests, at most `max`.
        fn sender_requests(who: AccountId, max: u32) -> Vec<(u64, RequestView<AccountId, BlockNumber>)>;
        /// A Sender's live contracts, at most `max`.
        fn sender_contracts(who: AccountId, max: u32) -> Vec<(u64, Contract<AccountId, BlockNumber>)>;
        /// A live contract.
        fn contract(id: u64) -> Option<Contract<AccountId, BlockNumber>>;
        /// What `replicas` x `size` bytes for `duration` epochs would cost
        /// now, at most `max_price` per GiB per epoch (any if `None`), on
        /// hosts rated at least `min_rating`.
        fn quote(size: u64, duration: u32, replicas: u32, max_price: Option<Balance>, min_rating: u32) -> Quote<AccountId>;
    }
}
