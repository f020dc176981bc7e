//! The `Config` of every pallet in the runtime, grouped by concern:
//! - this file: frame-system and the parachain basics (timestamp, parachain
//!   system, message queue, sudo);
//! - [`token`]: the MASP token, transaction fees and where they go;
//! - [`collators`]: block authorship, sessions, Aura, collator selection;
//! - [`governance`]: the council, root through its whitelist, the sale's attesters;
//! - [`token_sale`]: the MASP ICO;
//! - [`market`]: the storage market and the hosts' deposits;
//! - [`egress`]: payment channels (hosts serving, proxies relaying);
//! - [`proxies`]: the proxies' register and rating (issue 22);
//! - [`xcm_config`]: XCM with the relay chain and sibling parachains.

pub mod collators;
pub mod egress;
pub mod governance;
pub mod listings;
pub mod market;
pub mod proxies;
pub mod retrieval;
pub mod token;
pub mod token_sale;
pub mod xcm_config;

use cumulus_pallet_parachain_system::RelayNumberMonotonicallyIncreases;
use cumulus_primitives_core::AggregateMessageOrigin;
use frame_support::{
    derive_impl,
    dispatch::DispatchClass,
    parameter_types,
    traits::{ConstU32, ConstU64, Everything},
    weights::{
        constants::{BlockExecutionWeight, ExtrinsicBaseWeight, RocksDbWeight},
        Weight,
    },
};
use frame_system::limits::{BlockLength, BlockWeights};
use masp_primitives::token::SS58_PREFIX;
use sp_runtime::{traits::AccountIdLookup, Perbill};

use crate::{
    AccountId, Aura, Balance, Block, BlockNumber, Hash, MessageQueue, Nonce, PalletInfo, Runtime,
    RuntimeCall, RuntimeEvent, RuntimeOrigin, RuntimeTask, XcmpQueue, VERSION,
};

/// Up to 5% of a block's weight goes to `on_initialize`.
const AVERAGE_ON_INITIALIZE_RATIO: Perbill = Perbill::from_percent(5);
/// 75% of a block is for normal (user) calls; the rest is kept for operational ones.
pub const NORMAL_DISPATCH_RATIO: Perbill = Perbill::from_percent(75);
/// 2 s of compute per block (asynchronous backing) and the relay chain's PoV limit.
pub const MAXIMUM_BLOCK_WEIGHT: Weight = Weight::from_parts(
    frame_support::weights::constants::WEIGHT_REF_TIME_PER_SECOND.saturating_mul(2),
    cumulus_primitives_core::relay_chain::MAX_POV_SIZE as u64,
);

/// Relay chain slot duration: the parachain builds one block per relay slot.
pub const RELAY_CHAIN_SLOT_DURATION_MILLIS: u32 = 6_000;
/// Blocks the parachain may build on top of an unincluded parent.
pub const UNINCLUDED_SEGMENT_CAPACITY: u32 = 3;
/// Parachain blocks per relay chain block.
pub const BLOCK_PROCESSING_VELOCITY: u32 = 1;
/// How many relay blocks behind the tip the parachain builds on.
pub const RELAY_PARENT_OFFSET: u32 = 0;

/// Relay-chain-driven consensus rules for block production (asynchronous backing).
pub type ConsensusHook = cumulus_pallet_aura_ext::FixedVelocityConsensusHook<
    Runtime,
    RELAY_CHAIN_SLOT_DURATION_MILLIS,
    BLOCK_PROCESSING_VELOCITY,
    UNINCLUDED_SEGMENT_CAPACITY,
>;

parameter_types! {
    pub const Version: sp_version::RuntimeVersion = VERSION;
    /// Blocks are at most 5 MiB, 75% of it for normal calls.
    pub RuntimeBlockLength: BlockLength = BlockLength::builder()
        .max_length(5 * 1024 * 1024)
        .modify_max_length_for_class(DispatchClass::Normal, |m| *m = NORMAL_DISPATCH_RATIO * *m)
        .build();
    pub RuntimeBlockWeights: BlockWeights = BlockWeights::builder()
        .base_block(BlockExecutionWeight::get())
        .for_class(DispatchClass::all(), |weights| {
            weights.base_extrinsic = ExtrinsicBaseWeight::get();
        })
        .for_class(DispatchClass::Normal, |weights| {
            weights.max_total = Some(NORMAL_DISPATCH_RATIO * MAXIMUM_BLOCK_WEIGHT);
        })
        .for_class(DispatchClass::Operational, |weights| {
            weights.max_total = Some(MAXIMUM_BLOCK_WEIGHT);
            // Operational transactions have some extra reserved space, so that they
            // are included even if block reached `MAXIMUM_BLOCK_WEIGHT`.
            weights.reserved = Some(
                MAXIMUM_BLOCK_WEIGHT - NORMAL_DISPATCH_RATIO * MAXIMUM_BLOCK_WEIGHT
            );
        })
        .avg_block_initialization(AVERAGE_ON_INITIALIZE_RATIO)
        .build_or_panic();
    pub const SS58Prefix: u16 = SS58_PREFIX;
    /// Blocks kept for mortal transactions: 4096 blocks (~6.8 h at 6 s).
    pub const BlockHashCount: BlockNumber = 4096;
}

#[derive_impl(frame_system::config_preludes::ParaChainDefaultConfig)]
impl frame_system::Config for Runtime {
    type AccountId = AccountId;
    type Nonce = Nonce;
    type Hash = Hash;
    type Block = Block;
    type Lookup = AccountIdLookup<AccountId, ()>;
    type BlockHashCount = BlockHashCount;
    type BlockWeights = RuntimeBlockWeights;
    type BlockLength = RuntimeBlockLength;
    type DbWeight = RocksDbWeight;
    type Version = Version;
    type AccountData = pallet_balances::AccountData<Balance>;
    type SS58Prefix = SS58Prefix;
    type BaseCallFilter = Everything;
    type SystemWeightInfo = frame_system::weights::SubstrateWeight<Runtime>;
    /// Runtime upgrades go through parachain-system (validated by the relay chain).
    type OnSetCode = cumulus_pallet_parachain_system::ParachainSetCode<Self>;
    type MaxConsumers = ConstU32<16>;
    type RuntimeEvent = RuntimeEvent;
    type RuntimeOrigin = RuntimeOrigin;
    type RuntimeCall = RuntimeCall;
    type RuntimeTask = RuntimeTask;
    type PalletInfo = PalletInfo;
}

impl cumulus_pallet_weight_reclaim::Config for Runtime {
    type WeightInfo = ();
}

impl pallet_timestamp::Config for Runtime {
    type Moment = u64;
    type OnTimestampSet = Aura;
    /// Aura checks the slot; several parachain blocks may share a timestamp.
    type MinimumPeriod = ConstU64<0>;
    type WeightInfo = pallet_timestamp::weights::SubstrateWeight<Runtime>;
}

parameter_types! {
    pub const ReservedXcmpWeight: Weight = MAXIMUM_BLOCK_WEIGHT.saturating_div(4);
    pub const ReservedDmpWeight: Weight = MAXIMUM_BLOCK_WEIGHT.saturating_div(4);
    pub const RelayOrigin: AggregateMessageOrigin = AggregateMessageOrigin::Parent;
}

impl cumulus_pallet_parachain_system::Config for Runtime {
    type WeightInfo = ();
    type RuntimeEvent = RuntimeEvent;
    /// Keeps the relay parent's randomness from each block's relay state proof.
    type OnSystemEvent = crate::RelayRandomness;
    type SelfParaId = parachain_info::Pallet<Runtime>;
    type OutboundXcmpMessageSource = XcmpQueue;
    type DmpQueue = frame_support::traits::EnqueueWithOrigin<MessageQueue, RelayOrigin>;
    type ReservedDmpWeight = ReservedDmpWeight;
    type XcmpMessageHandler = XcmpQueue;
    type ReservedXcmpWeight = ReservedXcmpWeight;
    type CheckAssociatedRelayNumber = RelayNumberMonotonicallyIncreases;
    type ConsensusHook = ConsensusHook;
    type RelayParentOffset = ConstU32<RELAY_PARENT_OFFSET>;
    type SchedulingSignatureVerifier = ();
}

impl parachain_info::Config for Runtime {}

parameter_types! {
    pub MessageQueueServiceWeight: Weight =
        Perbill::from_percent(35) * RuntimeBlockWeights::get().max_block;
}

impl pallet_message_queue::Config for Runtime {
    type RuntimeEvent = RuntimeEvent;
    type WeightInfo = ();
    #[cfg(feature = "runtime-benchmarks")]
    type MessageProcessor = pallet_message_queue::mock_helpers::NoopMessageProcessor<
        cumulus_primitives_core::AggregateMessageOrigin,
    >;
    #[cfg(not(feature = "runtime-benchmarks"))]
    type MessageProcessor = xcm_builder::ProcessXcmMessage<
        AggregateMessageOrigin,
        xcm_executor::XcmExecutor<xcm_config::XcmConfig>,
        RuntimeCall,
    >;
    type Size = u32;
    // The XCMP queue pallet is only ever able to handle the `Sibling(ParaId)` origin:
    type QueueChangeHandler = xcm_config::NarrowOriginToSibling<XcmpQueue>;
    type QueuePausedQuery = xcm_config::NarrowOriginToSibling<XcmpQueue>;
    type HeapSize = ConstU32<{ 103 * 1024 }>;
    type MaxStale = ConstU32<8>;
    type ServiceWeight = MessageQueueServiceWeight;
    type IdleMaxServiceWeight = MessageQueueServiceWeight;
}

impl pallet_sudo::Config for Runtime {
    type RuntimeEvent = RuntimeEvent;
    type RuntimeCall = RuntimeCall;
    type WeightInfo = pallet_sudo::weights::SubstrateWeight<Runtime>;
}

/// Origin allowed to manage collators and XCM: root (sudo on the dev chain,
/// the relay chain's governance) or two thirds of the council.
pub type RootOrigin = governance::GovernanceOrigin;

impl pallet_relay_randomness::Config for Runtime {
    /// Before the first relay value (genesis; the dev chain's mocked relay
    /// proof has none): the parent hash, insecure against colluding
    /// collators, as its docs say.
    type Fallback = pallet_storage_proofs::ParentHashRandomness<Runtime>;
    type WeightInfo = pallet_relay_randomness::weights::SubstrateWeight<Runtime>;
}
