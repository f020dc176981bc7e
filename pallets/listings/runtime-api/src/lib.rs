//! Runtime API of the listings pallet, for hosts deciding whether to serve a
//! Receiver and for polkadot.js apps (`api.call.listingsApi`).

#![cfg_attr(not(feature = "std"), no_std)]

use codec::Codec;

sp_api::decl_runtime_apis! {
    /// MASP content distribution.
    pub trait ListingsApi<AccountId>
    where
        AccountId: Codec,
    {
        /// Whether `who` may download `listing`'s file: its Sender, anyone
        /// for a public listing, a buyer whose key was delivered.
        fn has_access(listing: u64, who: AccountId) -> bool;
    }
}
