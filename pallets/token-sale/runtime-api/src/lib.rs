//! Runtime API of the token sale, for wallets, polkadot.js apps (`api.call.tokenSaleApi`)
//! and scripts. Every type is described in the metadata: no custom types needed.

#![cfg_attr(not(feature = "std"), no_std)]

use codec::Codec;
pub use pallet_token_sale::{BuyerStatus, ContributionView, SaleStatus};

sp_api::decl_runtime_apis! {
    /// The MASP token sale.
    pub trait TokenSaleApi<AccountId, BlockNumber, Balance>
    where
        AccountId: Codec,
        BlockNumber: Codec,
        Balance: Codec,
    {
        /// The sale's phase, schedule, amounts raised and current bonus.
        fn status() -> SaleStatus<BlockNumber, Balance>;
        /// A buyer's allocation, claim state and (at most `max_contributions`)
        /// contributions; `None` if the account never contributed.
        fn buyer(who: AccountId, max_contributions: u32) -> Option<BuyerStatus<Balance>>;
    }
}
