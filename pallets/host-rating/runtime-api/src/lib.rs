//! Runtime API of the host rating, for clients choosing a `min_rating`, hosts
//! and polkadot.js apps (`api.call.hostRatingApi`).

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use codec::Codec;
pub use pallet_host_rating::{HostMetrics, RatingBreakdown};

sp_api::decl_runtime_apis! {
    /// The MASP host rating.
    pub trait HostRatingApi<AccountId, BlockNumber>
    where
        AccountId: Codec,
        BlockNumber: Codec,
    {
        /// `host`'s rating (0 to 1,000,000) with its parts and metrics.
        fn rating(host: AccountId) -> Option<RatingBreakdown<BlockNumber>>;
        /// The best `max` hosts, highest rating first.
        fn top(max: u32) -> Vec<(AccountId, u32)>;
    }
}
