//! Runtime API of the token sale, for wallets, polkadot.js apps (`api.call.tokenSaleApi`)
//! and scripts. Every type is described in the metadata: no custom types needed.

#![cfg_attr(not(feature = "std"), no_std)]

use codec::Codec;
pub use pallet_token_sale::{
    AttestationStatus, BuyerStatus, ContributionView, Currency, ExternalTxId, PendingClaimView,
    SaleStatus,
};

sp_api::decl_runtime_apis! {
    /// The MASP token sale.
    ///
    /// Version 2 added [`TokenSaleApi::attestation`].
    #[api_version(2)]
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
        /// Where the attester committee stands on one payment: each claim
        /// made about it, who made it, how many of those votes count (their
        /// authors are attesters now) against the threshold M, and whether
        /// it has been counted. The tx id is normalised as the pallet does
        /// (one `0x`, case); `None` if it is malformed.
        #[api_version(2)]
        fn attestation(
            currency: Currency,
            external_tx_id: ExternalTxId,
        ) -> Option<AttestationStatus<AccountId>>;
    }
}
