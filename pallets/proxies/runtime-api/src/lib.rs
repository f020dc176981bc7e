//! Runtime API of the proxies pallet, for clients choosing a proxy (`masp
//! put --proxy auto`), proxy daemons and polkadot.js apps
//! (`api.call.proxiesApi`).

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use codec::Codec;
pub use pallet_proxies::{ProxyView, SCORE_MAX};

sp_api::decl_runtime_apis! {
    /// MASP proxies (issue 22).
    pub trait ProxiesApi<AccountId, BlockNumber>
    where
        AccountId: Codec,
        BlockNumber: Codec,
    {
        /// Every registered proxy (deregistering ones included, `active`
        /// false), highest score first, then most bytes paid.
        fn proxies() -> Vec<ProxyView<AccountId, BlockNumber>>;
        /// One proxy.
        fn proxy(who: AccountId) -> Option<ProxyView<AccountId, BlockNumber>>;
    }
}
