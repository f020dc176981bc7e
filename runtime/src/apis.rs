//! The runtime APIs: what the node (omni-node), polkadot.js apps, wallets and
//! our own daemons call into the runtime for.
//!
//! The set matches what polkadot-omni-node-lib requires of a parachain runtime
//! (Aura, unincluded segment, collation info, parachain info, relay parent
//! offset, scheduling) plus what polkadot.js needs (metadata v15+, account
//! nonce, fee estimation, genesis presets).

use alloc::vec::Vec;

use cumulus_primitives_core::VerifySchedulingSignature;
use frame_support::{
    genesis_builder_helper::{build_state, get_preset},
    weights::Weight,
};
use sp_api::impl_runtime_apis;
use sp_core::{crypto::KeyTypeId, OpaqueMetadata};
use sp_runtime::{
    traits::Block as BlockT,
    transaction_validity::{TransactionSource, TransactionValidity},
    ApplyExtrinsicResult,
};
use sp_version::RuntimeVersion;

#[cfg(feature = "runtime-benchmarks")]
use crate::Insurance;
use crate::{
    configs::{ConsensusHook, RELAY_PARENT_OFFSET},
    genesis_config_presets, AccountId, AuraId, Balance, Block, BlockNumber, Executive, HostRating,
    InherentDataExt, Listings, Nonce, ParachainInfo, ParachainSystem, Proxies, Runtime,
    RuntimeCall, RuntimeGenesisConfig, SessionKeys, StorageMarket, StorageProofs, System,
    TokenSale, TransactionPayment, VERSION,
};
// Named by `benchmarks.rs` only.
#[cfg(feature = "runtime-benchmarks")]
use crate::{
    Council, CouncilMembership, Deposits, Egress, Preimage, RelayRandomness, Retrieval, Utility,
    Whitelist,
};

impl_runtime_apis! {
    impl sp_consensus_aura::AuraApi<Block, AuraId> for Runtime {
        fn slot_duration() -> sp_consensus_aura::SlotDuration {
            sp_consensus_aura::SlotDuration::from_millis(masp_primitives::time::SLOT_DURATION)
        }

        fn authorities() -> Vec<AuraId> {
            pallet_aura::Authorities::<Runtime>::get().into_inner()
        }
    }

    impl cumulus_primitives_aura::AuraUnincludedSegmentApi<Block> for Runtime {
        fn can_build_upon(
            included_hash: <Block as BlockT>::Hash,
            slot: cumulus_primitives_aura::Slot,
        ) -> bool {
            ConsensusHook::can_build_upon(included_hash, slot)
        }
    }

    impl sp_api::Core<Block> for Runtime {
        fn version() -> RuntimeVersion {
            VERSION
        }

        fn execute_block(block: <Block as BlockT>::LazyBlock) {
            Executive::execute_block(block)
        }

        fn initialize_block(header: &<Block as BlockT>::Header) -> sp_runtime::ExtrinsicInclusionMode {
            Executive::initialize_block(header)
        }
    }

    impl sp_api::Metadata<Block> for Runtime {
        fn metadata() -> OpaqueMetadata {
            OpaqueMetadata::new(Runtime::metadata().into())
        }

        fn metadata_at_version(version: u32) -> Option<OpaqueMetadata> {
            Runtime::metadata_at_version(version)
        }

        fn metadata_versions() -> Vec<u32> {
            Runtime::metadata_versions()
        }
    }

    impl sp_block_builder::BlockBuilder<Block> for Runtime {
        fn apply_extrinsic(extrinsic: <Block as BlockT>::Extrinsic) -> ApplyExtrinsicResult {
            Executive::apply_extrinsic(extrinsic)
        }

        fn finalize_block() -> <Block as BlockT>::Header {
            Executive::finalize_block()
        }

        fn inherent_extrinsics(data: sp_inherents::InherentData) -> Vec<<Block as BlockT>::Extrinsic> {
            data.create_extrinsics()
        }

        fn check_inherents(
            block: <Block as BlockT>::LazyBlock,
            data: sp_inherents::InherentData,
        ) -> sp_inherents::CheckInherentsResult {
            data.check_extrinsics(&block)
        }
    }

    impl sp_transaction_pool::runtime_api::TaggedTransactionQueue<Block> for Runtime {
        fn validate_transaction(
            source: TransactionSource,
            tx: <Block as BlockT>::Extrinsic,
            block_hash: <Block as BlockT>::Hash,
        ) -> TransactionValidity {
            Executive::validate_transaction(source, tx, block_hash)
        }
    }

    impl sp_offchain::OffchainWorkerApi<Block> for Runtime {
        fn offchain_worker(header: &<Block as BlockT>::Header) {
            Executive::offchain_worker(header)
        }
    }

    impl sp_session::SessionKeys<Block> for Runtime {
        fn generate_session_keys(
            owner: Vec<u8>,
            seed: Option<Vec<u8>>,
        ) -> sp_session::OpaqueGeneratedSessionKeys {
            SessionKeys::generate(&owner, seed).into()
        }

        fn decode_session_keys(encoded: Vec<u8>) -> Option<Vec<(Vec<u8>, KeyTypeId)>> {
            SessionKeys::decode_into_raw_public_keys(&encoded)
        }
    }

    impl frame_system_rpc_runtime_api::AccountNonceApi<Block, AccountId, Nonce> for Runtime {
        fn account_nonce(account: AccountId) -> Nonce {
            System::account_nonce(account)
        }
    }

    impl pallet_transaction_payment_rpc_runtime_api::TransactionPaymentApi<Block, Balance> for Runtime {
        fn query_info(
            uxt: <Block as BlockT>::Extrinsic,
            len: u32,
        ) -> pallet_transaction_payment_rpc_runtime_api::RuntimeDispatchInfo<Balance> {
            TransactionPayment::query_info(uxt, len)
        }
        fn query_fee_details(
            uxt: <Block as BlockT>::Extrinsic,
            len: u32,
        ) -> pallet_transaction_payment::FeeDetails<Balance> {
            TransactionPayment::query_fee_details(uxt, len)
        }
        fn query_weight_to_fee(weight: Weight) -> Balance {
            TransactionPayment::weight_to_fee(weight)
        }
        fn query_length_to_fee(length: u32) -> Balance {
            TransactionPayment::length_to_fee(length)
        }
    }

    impl pallet_transaction_payment_rpc_runtime_api::TransactionPaymentCallApi<Block, Balance, RuntimeCall>
        for Runtime
    {
        fn query_call_info(
            call: RuntimeCall,
            len: u32,
        ) -> pallet_transaction_payment::RuntimeDispatchInfo<Balance> {
            TransactionPayment::query_call_info(call, len)
        }
        fn query_call_fee_details(
            call: RuntimeCall,
            len: u32,
        ) -> pallet_transaction_payment::FeeDetails<Balance> {
            TransactionPayment::query_call_fee_details(call, len)
        }
        fn query_weight_to_fee(weight: Weight) -> Balance {
            TransactionPayment::weight_to_fee(weight)
        }
        fn query_length_to_fee(length: u32) -> Balance {
            TransactionPayment::length_to_fee(length)
        }
    }

    impl cumulus_primitives_core::CollectCollationInfo<Block> for Runtime {
        fn collect_collation_info(header: &<Block as BlockT>::Header) -> cumulus_primitives_core::CollationInfo {
            ParachainSystem::collect_collation_info(header)
        }
    }

    impl cumulus_primitives_core::GetParachainInfo<Block> for Runtime {
        fn parachain_id() -> cumulus_primitives_core::ParaId {
            ParachainInfo::parachain_id()
        }
    }

    impl cumulus_primitives_core::RelayParentOffsetApi<Block> for Runtime {
        fn relay_parent_offset() -> u32 {
            RELAY_PARENT_OFFSET
        }

        fn max_claim_queue_offset() -> u8 {
            cumulus_pallet_parachain_system::Pallet::<Runtime>::max_claim_queue_offset()
        }
    }

    impl cumulus_primitives_core::SchedulingV3EnabledApi<Block> for Runtime {
        fn scheduling_v3_enabled() -> bool {
            <Runtime as cumulus_pallet_parachain_system::Config>::SchedulingSignatureVerifier::V3_SCHEDULING_ENABLED
        }
    }

    impl pallet_token_sale_runtime_api::TokenSaleApi<Block, AccountId, BlockNumber, Balance> for Runtime {
        fn status() -> pallet_token_sale_runtime_api::SaleStatus<BlockNumber, Balance> {
            TokenSale::status()
        }

        fn buyer(
            who: AccountId,
            max_contributions: u32,
        ) -> Option<pallet_token_sale_runtime_api::BuyerStatus<Balance>> {
            TokenSale::buyer_status(&who, max_contributions)
        }

        fn attestation(
            currency: pallet_token_sale_runtime_api::Currency,
            external_tx_id: pallet_token_sale_runtime_api::ExternalTxId,
        ) -> Option<pallet_token_sale_runtime_api::AttestationStatus<AccountId>> {
            TokenSale::attestation(currency, &external_tx_id)
        }
    }

    impl pallet_storage_market_runtime_api::StorageMarketApi<Block, AccountId, BlockNumber, Balance> for Runtime {
        fn current_epoch() -> u32 {
            StorageMarket::current_epoch()
        }

        fn order_book(max: u32) -> Vec<(u64, pallet_storage_market_runtime_api::Offer<AccountId, BlockNumber>)> {
            StorageMarket::order_book(max)
        }

        fn request_book(max: u32) -> Vec<(u64, pallet_storage_market_runtime_api::RequestView<AccountId, BlockNumber>)> {
            StorageMarket::request_book(max)
        }

        fn host(who: AccountId) -> Option<pallet_storage_market_runtime_api::HostView<BlockNumber>> {
            StorageMarket::host(&who)
        }

        fn host_offers(who: AccountId) -> Vec<(u64, pallet_storage_market_runtime_api::Offer<AccountId, BlockNumber>)> {
            StorageMarket::host_offers(&who)
        }

        fn host_contracts(who: AccountId, max: u32) -> Vec<(u64, pallet_storage_market_runtime_api::Contract<AccountId, BlockNumber>)> {
            StorageMarket::host_contracts(&who, max)
        }

        fn sender_requests(who: AccountId, max: u32) -> Vec<(u64, pallet_storage_market_runtime_api::RequestView<AccountId, BlockNumber>)> {
            StorageMarket::sender_requests(&who, max)
        }

        fn sender_contracts(who: AccountId, max: u32) -> Vec<(u64, pallet_storage_market_runtime_api::Contract<AccountId, BlockNumber>)> {
            StorageMarket::sender_contracts(&who, max)
        }

        fn contract(id: u64) -> Option<pallet_storage_market_runtime_api::Contract<AccountId, BlockNumber>> {
            pallet_storage_market::Contracts::<Runtime>::get(id)
        }

        fn quote(
            size: u64,
            duration: u32,
            replicas: u32,
            max_price: Option<Balance>,
            min_rating: u32,
        ) -> pallet_storage_market_runtime_api::Quote<AccountId> {
            StorageMarket::quote(size, duration, replicas, max_price, min_rating)
        }
    }

    impl pallet_host_rating_runtime_api::HostRatingApi<Block, AccountId, BlockNumber> for Runtime {
        fn rating(host: AccountId) -> Option<pallet_host_rating_runtime_api::RatingBreakdown<BlockNumber>> {
            HostRating::breakdown(&host)
        }

        fn top(max: u32) -> Vec<(AccountId, u32)> {
            HostRating::top(max)
        }
    }

    impl pallet_listings_runtime_api::ListingsApi<Block, AccountId> for Runtime {
        fn has_access(listing: u64, who: AccountId) -> bool {
            Listings::has_access(listing, &who)
        }
    }

    impl pallet_proxies_runtime_api::ProxiesApi<Block, AccountId, BlockNumber> for Runtime {
        fn proxies() -> Vec<pallet_proxies_runtime_api::ProxyView<AccountId, BlockNumber>> {
            Proxies::proxies()
        }

        fn proxy(who: AccountId) -> Option<pallet_proxies_runtime_api::ProxyView<AccountId, BlockNumber>> {
            Proxies::proxy(who)
        }
    }

    impl pallet_storage_proofs_runtime_api::StorageProofsApi<Block> for Runtime {
        fn challenge(contract: u64) -> Option<(u32, u64)> {
            StorageProofs::challenge(contract)
        }

        fn record(contract: u64) -> Option<pallet_storage_proofs_runtime_api::ProofRecord> {
            pallet_storage_proofs::Records::<Runtime>::get(contract)
        }
    }

    #[cfg(feature = "runtime-benchmarks")]
    impl frame_benchmarking::Benchmark<Block> for Runtime {
        fn benchmark_metadata(extra: bool) -> (
            Vec<frame_benchmarking::BenchmarkList>,
            Vec<frame_support::traits::StorageInfo>,
        ) {
            use crate::benchmarks::PalletXcmExtrinsicsBenchmark;
            use frame_benchmarking::BenchmarkList;
            use frame_support::traits::StorageInfoTrait;

            let mut list = Vec::<BenchmarkList>::new();
            list_benchmarks!(list, extra);
            let storage_info = crate::AllPalletsWithSystem::storage_info();
            (list, storage_info)
        }

        fn dispatch_benchmark(
            config: frame_benchmarking::BenchmarkConfig,
        ) -> Result<Vec<frame_benchmarking::BenchmarkBatch>, alloc::string::String> {
            use crate::benchmarks::PalletXcmExtrinsicsBenchmark;
            use frame_benchmarking::BenchmarkBatch;
            use frame_support::traits::WhitelistedStorageKeys;

            let whitelist = crate::AllPalletsWithSystem::whitelisted_storage_keys();
            let mut batches = Vec::<BenchmarkBatch>::new();
            let params = (&config, &whitelist);
            add_benchmarks!(params, batches);
            Ok(batches)
        }
    }

    #[cfg(feature = "try-runtime")]
    impl frame_try_runtime::TryRuntime<Block> for Runtime {
        fn on_runtime_upgrade(checks: frame_try_runtime::UpgradeCheckSelect) -> (Weight, Weight) {
            let weight = Executive::try_runtime_upgrade(checks).unwrap();
            (weight, crate::configs::RuntimeBlockWeights::get().max_block)
        }

        fn execute_block(
            block: <Block as BlockT>::LazyBlock,
            state_root_check: bool,
            signature_check: bool,
            select: frame_try_runtime::TryStateSelect,
        ) -> Weight {
            Executive::try_execute_block(block, state_root_check, signature_check, select).unwrap()
        }
    }

    impl sp_genesis_builder::GenesisBuilder<Block> for Runtime {
        fn build_state(config: Vec<u8>) -> sp_genesis_builder::Result {
            build_state::<RuntimeGenesisConfig>(config)
        }

        fn get_preset(id: &Option<sp_genesis_builder::PresetId>) -> Option<Vec<u8>> {
            get_preset::<RuntimeGenesisConfig>(id, &genesis_config_presets::get_preset)
        }

        fn preset_names() -> Vec<sp_genesis_builder::PresetId> {
            genesis_config_presets::preset_names()
        }
    }
}
