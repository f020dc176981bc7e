//! # MASP parachain runtime
//!
//! The state transition function of the MASP chain. It is a Cumulus parachain
//! runtime (parachain-system, Aura with collator selection, XCM message queues),
//! so the same WASM runs on a relay chain as a parachain and, through
//! omni-node's dev mode, as a one-node development chain.
//!
//! Layout, one concern per file:
//! - [`configs`]: the `Config` of every pallet, grouped by concern;
//! - [`apis`]: the runtime APIs the node, polkadot.js and wallets call;
//! - [`genesis_config_presets`]: the `development` and `local_testnet` presets.
//!
//! The token is MASP (see [`masp_primitives::token`]): 12 decimals; fees go to
//! the block author (the white paper's Miners).

#![cfg_attr(not(feature = "std"), no_std)]
// `construct_runtime` and `impl_runtime_apis` expand deeply.
#![recursion_limit = "256"]

#[cfg(feature = "std")]
include!(concat!(env!("OUT_DIR"), "/wasm_binary.rs"));

#[cfg(feature = "runtime-benchmarks")]
#[macro_use]
mod benchmarks;
pub mod apis;
pub mod configs;
pub mod genesis_config_presets;
pub mod weights;

extern crate alloc;

use alloc::vec::Vec;

use sp_runtime::{generic, impl_opaque_keys, traits::BlakeTwo256};
use sp_version::RuntimeVersion;

pub use masp_primitives::{
    token::{EXISTENTIAL_DEPOSIT, MICRO_UNIT, MILLI_UNIT, UNIT},
    AccountId, Balance, BlockNumber, Hash, Nonce, Signature,
};
pub use sp_consensus_aura::sr25519::AuthorityId as AuraId;
pub use sp_runtime::{MultiAddress, Perbill, Permill};

/// The address format for describing accounts.
pub type Address = MultiAddress<AccountId, ()>;

/// Block header type as expected by this runtime.
pub type Header = generic::Header<BlockNumber, BlakeTwo256>;

/// Block type as expected by this runtime.
pub type Block = generic::Block<Header, UncheckedExtrinsic>;

/// A Block signed with a Justification.
pub type SignedBlock = generic::SignedBlock<Block>;

/// The transaction extensions, in the order a signer includes them. Every one of
/// them is known to polkadot.js, so no custom type definitions are needed.
/// `StorageWeightReclaim` wraps the others and refunds unused proof size.
pub type TxExtension = cumulus_pallet_weight_reclaim::StorageWeightReclaim<
    Runtime,
    (
        frame_system::AuthorizeCall<Runtime>,
        frame_system::CheckNonZeroSender<Runtime>,
        frame_system::CheckSpecVersion<Runtime>,
        frame_system::CheckTxVersion<Runtime>,
        frame_system::CheckGenesis<Runtime>,
        frame_system::CheckEra<Runtime>,
        frame_system::CheckNonce<Runtime>,
        frame_system::CheckWeight<Runtime>,
        // Charges the fee, except for calls a pallet declares feeless for this
        // caller (a token sale buyer's `claim`). Encodes and is named exactly as
        // `ChargeTransactionPayment`, so wallets sign it as usual.
        pallet_skip_feeless_payment::SkipCheckIfFeeless<
            Runtime,
            pallet_transaction_payment::ChargeTransactionPayment<Runtime>,
        >,
        frame_metadata_hash_extension::CheckMetadataHash<Runtime>,
    ),
>;

/// Unchecked extrinsic type as expected by this runtime.
pub type UncheckedExtrinsic =
    generic::UncheckedExtrinsic<Address, RuntimeCall, Signature, TxExtension>;

/// Storage migrations run on runtime upgrade (none yet).
pub type Migrations = ();

/// Executive: dispatches calls to the pallets.
pub type Executive = frame_executive::Executive<
    Runtime,
    Block,
    frame_system::ChainContext<Runtime>,
    Runtime,
    AllPalletsWithSystem,
    Migrations,
>;

/// Opaque types: what the node sees without knowing the runtime's types.
pub mod opaque {
    use super::*;
    pub use sp_runtime::OpaqueExtrinsic as UncheckedExtrinsic;

    /// Opaque block header type.
    pub type Header = generic::Header<BlockNumber, BlakeTwo256>;
    /// Opaque block type.
    pub type Block = generic::Block<Header, UncheckedExtrinsic>;
}

impl_opaque_keys! {
    /// The session keys of a collator: its Aura key.
    pub struct SessionKeys {
        pub aura: Aura,
    }
}

/// Runtime version. `spec_version` must be bumped on every runtime change that
/// goes on a live chain.
#[sp_version::runtime_version]
pub const VERSION: RuntimeVersion = RuntimeVersion {
    spec_name: alloc::borrow::Cow::Borrowed("masp"),
    impl_name: alloc::borrow::Cow::Borrowed("masp"),
    authoring_version: 1,
    spec_version: 1,
    impl_version: 0,
    apis: apis::RUNTIME_API_VERSIONS,
    transaction_version: 1,
    system_version: 1,
};

/// The pallets of the MASP runtime. Indices are part of the chain's encoding:
/// never renumber a pallet once a chain runs with it.
#[frame_support::runtime]
mod runtime {
    #[runtime::runtime]
    #[runtime::derive(
        RuntimeCall,
        RuntimeEvent,
        RuntimeError,
        RuntimeOrigin,
        RuntimeFreezeReason,
        RuntimeHoldReason,
        RuntimeSlashReason,
        RuntimeLockId,
        RuntimeTask,
        RuntimeViewFunction
    )]
    pub struct Runtime;

    // System support.
    #[runtime::pallet_index(0)]
    pub type System = frame_system;
    #[runtime::pallet_index(1)]
    pub type ParachainSystem = cumulus_pallet_parachain_system;
    #[runtime::pallet_index(2)]
    pub type Timestamp = pallet_timestamp;
    #[runtime::pallet_index(3)]
    pub type ParachainInfo = parachain_info;
    #[runtime::pallet_index(4)]
    pub type WeightReclaim = cumulus_pallet_weight_reclaim;
    /// The relay chain's randomness, from the relay state proof (the
    /// challenge seed's source).
    #[runtime::pallet_index(5)]
    pub type RelayRandomness = pallet_relay_randomness;
    /// Batches (`batchAll`), and the council's whitelist-then-dispatch motions.
    #[runtime::pallet_index(6)]
    pub type Utility = pallet_utility;

    // The MASP token and fees.
    #[runtime::pallet_index(10)]
    pub type Balances = pallet_balances;
    #[runtime::pallet_index(11)]
    pub type TransactionPayment = pallet_transaction_payment;
    #[runtime::pallet_index(12)]
    pub type SkipFeelessPayment = pallet_skip_feeless_payment;

    // Governance: sudo on the development chain only (the key is set in the
    // dev preset); the council (2/3 of its members) everywhere, root through
    // the whitelist; see `configs::governance`.
    #[runtime::pallet_index(15)]
    pub type Sudo = pallet_sudo;
    #[runtime::pallet_index(16)]
    pub type Council = pallet_collective<Instance1>;
    #[runtime::pallet_index(17)]
    pub type CouncilMembership = pallet_membership<Instance1>;
    #[runtime::pallet_index(18)]
    pub type Preimage = pallet_preimage;
    #[runtime::pallet_index(19)]
    pub type Whitelist = pallet_whitelist;

    // Collators (the white paper's Miners). The order matters: Authorship and
    // CollatorSelection before Session, Session before Aura.
    #[runtime::pallet_index(20)]
    pub type Authorship = pallet_authorship;
    #[runtime::pallet_index(21)]
    pub type CollatorSelection = pallet_collator_selection;
    #[runtime::pallet_index(22)]
    pub type Session = pallet_session;
    #[runtime::pallet_index(23)]
    pub type Aura = pallet_aura;
    #[runtime::pallet_index(24)]
    pub type AuraExt = cumulus_pallet_aura_ext;

    // XCM messaging with the relay chain and sibling parachains.
    #[runtime::pallet_index(30)]
    pub type XcmpQueue = cumulus_pallet_xcmp_queue;
    #[runtime::pallet_index(31)]
    pub type PolkadotXcm = pallet_xcm;
    #[runtime::pallet_index(32)]
    pub type CumulusXcm = cumulus_pallet_xcm;
    #[runtime::pallet_index(33)]
    pub type MessageQueue = pallet_message_queue;

    // MASP pallets, from index 50.
    /// The ICO: the only source of MASP after genesis.
    #[runtime::pallet_index(50)]
    pub type TokenSale = pallet_token_sale;
    /// Hosts' insurance deposits.
    #[runtime::pallet_index(51)]
    pub type Deposits = pallet_deposits;
    /// Hosts, offers, requests, matching, contracts and payment per proven epoch.
    #[runtime::pallet_index(52)]
    pub type StorageMarket = pallet_storage_market;
    /// Per-epoch challenges, proof verification, missed proofs and slashing.
    #[runtime::pallet_index(53)]
    pub type StorageProofs = pallet_storage_proofs;
    /// The objective host rating that matching uses.
    #[runtime::pallet_index(54)]
    pub type HostRating = pallet_host_rating;
    /// Insurers: capital, cover offers, premiums per live epoch, claims.
    #[runtime::pallet_index(55)]
    pub type Insurance = pallet_insurance;
    /// Content distribution: listings, purchases in escrow, sealed keys.
    #[runtime::pallet_index(56)]
    pub type Listings = pallet_listings;
    /// Egress: downloaders pay hosts per byte served, and Senders pay
    /// proxies per byte relayed (payment channels).
    #[runtime::pallet_index(57)]
    pub type Egress = pallet_egress;
    /// Retrieval challenges: a host that will not serve publishes a piece
    /// on chain or is slashed.
    #[runtime::pallet_index(58)]
    pub type Retrieval = pallet_retrieval;
    /// The token sale's attesters (a contribution counts when enough of
    /// them attest it), managed by the council.
    #[runtime::pallet_index(59)]
    pub type AttesterMembership = pallet_membership<Instance2>;
    /// Proxies (issue 22): relays that hide a Sender's address from hosts,
    /// with a slashable deposit, paid per byte through egress relay
    /// channels and rated on what they deliver.
    #[runtime::pallet_index(60)]
    pub type Proxies = pallet_proxies;
}

cumulus_pallet_parachain_system::register_validate_block! {
    Runtime = Runtime,
    BlockExecutor = cumulus_pallet_aura_ext::BlockExecutor::<Runtime, Executive>,
}
