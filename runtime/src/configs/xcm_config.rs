//! XCM: messages with the relay chain (DMP/UMP) and sibling parachains (XCMP).
//!
//! MASP speaks XCM only as far as a parachain must: the relay chain may send
//! governance and transact messages, siblings may send MASP (this chain's own
//! asset, `Here`) and pay execution in MASP. Fees for executing XCM go to the
//! block author, like transaction fees.

use core::marker::PhantomData;

use cumulus_primitives_core::{AggregateMessageOrigin, ParaId};
use frame_support::{
    parameter_types,
    traits::{
        ConstU32, Contains, Disabled, Everything, Nothing, QueueFootprint, QueuePausedQuery,
        TransformOrigin,
    },
    weights::Weight,
};
use pallet_message_queue::OnQueueChanged;
use pallet_xcm::XcmPassthrough;
use polkadot_parachain_primitives::primitives::Sibling;
use sp_runtime::traits::Convert;
use xcm::latest::prelude::*;
use xcm_builder::{
    AccountId32Aliases, AllowExplicitUnpaidExecutionFrom, AllowTopLevelPaidExecutionFrom,
    DenyRecursively, DenyReserveTransferToRelayChain, DenyThenTry, EnsureXcmOrigin,
    FixedWeightBounds, FrameTransactionalProcessor, FungibleAdapter, IsConcrete, NativeAsset,
    ParentAsSuperuser, ParentIsPreset, RelayChainAsNative, SiblingParachainAsNative,
    SiblingParachainConvertsVia, SignedAccountId32AsNative, SignedToAccountId32,
    SovereignSignedViaLocation, TakeWeightCredit, TrailingSetTopicAsId, UsingComponents,
    WithComputedOrigin, WithUniqueTopic,
};
use xcm_executor::XcmExecutor;

use super::{token::ToBlockAuthor, token::WeightToFee, RootOrigin};
use crate::{
    AccountId, AllPalletsWithSystem, Balances, MessageQueue, ParachainInfo, ParachainSystem,
    PolkadotXcm, Runtime, RuntimeCall, RuntimeEvent, RuntimeOrigin, XcmpQueue,
};

parameter_types! {
    pub const RelayLocation: Location = Location::parent();
    /// MASP, the native token, as XCM sees it from here.
    pub const MaspLocation: Location = Location::here();
    pub const RelayNetwork: Option<NetworkId> = None;
    pub RelayChainOrigin: RuntimeOrigin = cumulus_pallet_xcm::Origin::Relay.into();
    pub UniversalLocation: InteriorLocation = Parachain(ParachainInfo::parachain_id().into()).into();
}

/// How an XCM location maps to a local account.
pub type LocationToAccountId = (
    // The parent (relay chain) has its own sovereign account.
    ParentIsPreset<AccountId>,
    // Sibling parachains have sovereign accounts.
    SiblingParachainConvertsVia<Sibling, AccountId>,
    // A 32-byte account on our network is that account.
    AccountId32Aliases<RelayNetwork, AccountId>,
);

/// MASP moves in and out through pallet-balances.
pub type LocalAssetTransactor =
    FungibleAdapter<Balances, IsConcrete<MaspLocation>, LocationToAccountId, AccountId, ()>;

/// How an XCM origin becomes a local dispatch origin for `Transact`.
pub type XcmOriginToTransactDispatchOrigin = (
    SovereignSignedViaLocation<LocationToAccountId, RuntimeOrigin>,
    // The relay chain's own origin (its governance) acts as root here.
    ParentAsSuperuser<RuntimeOrigin>,
    RelayChainAsNative<RelayChainOrigin, RuntimeOrigin>,
    SiblingParachainAsNative<cumulus_pallet_xcm::Origin, RuntimeOrigin>,
    SignedAccountId32AsNative<RelayNetwork, RuntimeOrigin>,
    XcmPassthrough<RuntimeOrigin>,
);

parameter_types! {
    /// Flat weight of one XCM instruction until XCM is benchmarked for MASP.
    pub UnitWeightCost: Weight = Weight::from_parts(1_000_000_000, 64 * 1024);
    pub const MaxInstructions: u32 = 100;
    pub const MaxAssetsIntoHolding: u32 = 64;
}

/// The relay chain and its executive body may execute unpaid.
pub struct ParentOrParentsExecutivePlurality;
impl Contains<Location> for ParentOrParentsExecutivePlurality {
    fn contains(location: &Location) -> bool {
        matches!(
            location.unpack(),
            (1, [])
                | (
                    1,
                    [Plurality {
                        id: BodyId::Executive,
                        ..
                    }]
                )
        )
    }
}

/// Which messages may execute at all.
pub type Barrier = TrailingSetTopicAsId<
    DenyThenTry<
        DenyRecursively<DenyReserveTransferToRelayChain>,
        (
            TakeWeightCredit,
            WithComputedOrigin<
                (
                    AllowTopLevelPaidExecutionFrom<Everything>,
                    AllowExplicitUnpaidExecutionFrom<ParentOrParentsExecutivePlurality>,
                ),
                UniversalLocation,
                ConstU32<8>,
            >,
        ),
    >,
>;

/// The XCM executor's configuration.
pub struct XcmConfig;
impl xcm_executor::Config for XcmConfig {
    type RuntimeCall = RuntimeCall;
    type XcmSender = XcmRouter;
    type XcmEventEmitter = PolkadotXcm;
    type AssetTransactor = LocalAssetTransactor;
    type OriginConverter = XcmOriginToTransactDispatchOrigin;
    type IsReserve = NativeAsset;
    /// Teleporting is disabled.
    type IsTeleporter = ();
    type UniversalLocation = UniversalLocation;
    type Barrier = Barrier;
    type Weigher = FixedWeightBounds<UnitWeightCost, RuntimeCall, MaxInstructions>;
    /// Execution is paid in MASP; the fee goes to the block author.
    type Trader = UsingComponents<WeightToFee, MaspLocation, AccountId, Balances, ToBlockAuthor>;
    type ResponseHandler = PolkadotXcm;
    type AssetTrap = PolkadotXcm;
    type SubscriptionService = PolkadotXcm;
    type PalletInstancesInfo = AllPalletsWithSystem;
    type MaxAssetsIntoHolding = MaxAssetsIntoHolding;
    type AssetLocker = ();
    type AssetExchanger = ();
    type FeeManager = ();
    type MessageExporter = ();
    type UniversalAliases = Nothing;
    type CallDispatcher = RuntimeCall;
    type SafeCallFilter = Everything;
    type Aliasers = Nothing;
    type TransactionalProcessor = FrameTransactionalProcessor;
    type HrmpNewChannelOpenRequestHandler = ();
    type HrmpChannelAcceptedHandler = ();
    type HrmpChannelClosingHandler = ();
    type XcmRecorder = PolkadotXcm;
}

/// Converts a local signed origin into an XCM location.
pub type LocalOriginToLocation = SignedToAccountId32<RuntimeOrigin, AccountId, RelayNetwork>;

/// Where outgoing messages go: the relay chain by UMP, siblings by XCMP.
pub type XcmRouter = WithUniqueTopic<(
    cumulus_primitives_utility::ParentAsUmp<ParachainSystem, (), ()>,
    XcmpQueue,
)>;

impl pallet_xcm::Config for Runtime {
    type RuntimeEvent = RuntimeEvent;
    type SendXcmOrigin = EnsureXcmOrigin<RuntimeOrigin, LocalOriginToLocation>;
    type XcmRouter = XcmRouter;
    type ExecuteXcmOrigin = EnsureXcmOrigin<RuntimeOrigin, LocalOriginToLocation>;
    type XcmExecuteFilter = Nothing;
    type XcmExecutor = XcmExecutor<XcmConfig>;
    type XcmTeleportFilter = Nothing;
    /// No cross-chain transfers of MASP yet: the relay chain refuses MASP
    /// as a reserve asset and no sibling is set up to receive it, so the
    /// benchmarks (`runtime/src/benchmarks.rs`) give these calls no usable
    /// weight. Enable together with a reserve location and its benchmarks.
    type XcmReserveTransferFilter = Nothing;
    type Weigher = FixedWeightBounds<UnitWeightCost, RuntimeCall, MaxInstructions>;
    type UniversalLocation = UniversalLocation;
    type RuntimeOrigin = RuntimeOrigin;
    type RuntimeCall = RuntimeCall;
    const VERSION_DISCOVERY_QUEUE_SIZE: u32 = 100;
    type AdvertisedXcmVersion = pallet_xcm::CurrentXcmVersion;
    type Currency = Balances;
    type CurrencyMatcher = ();
    type TrustedLockers = ();
    type SovereignAccountOf = LocationToAccountId;
    type MaxLockers = ConstU32<8>;
    /// Generated for this runtime (`scripts/benchmark pallet_xcm`).
    type WeightInfo = crate::weights::pallet_xcm::WeightInfo<Runtime>;
    type AdminOrigin = RootOrigin;
    type MaxRemoteLockConsumers = ConstU32<0>;
    type RemoteLockConsumerIdentifier = ();
    type AuthorizedAliasConsideration = Disabled;
}

impl cumulus_pallet_xcm::Config for Runtime {
    type RuntimeEvent = RuntimeEvent;
    type XcmExecutor = XcmExecutor<XcmConfig>;
}

impl cumulus_pallet_xcmp_queue::Config for Runtime {
    type RuntimeEvent = RuntimeEvent;
    type ChannelInfo = ParachainSystem;
    type VersionWrapper = PolkadotXcm;
    /// Incoming sibling messages are queued in the message queue pallet.
    type XcmpQueue = TransformOrigin<MessageQueue, AggregateMessageOrigin, ParaId, ParaIdToSibling>;
    type MaxInboundSuspended = ConstU32<1_000>;
    type MaxActiveOutboundChannels = ConstU32<128>;
    /// At most 103 KiB per page (the relay chain's limit on HRMP messages).
    type MaxPageSize = ConstU32<{ 103 * 1024 }>;
    type ControllerOrigin = RootOrigin;
    type ControllerOriginConverter = XcmOriginToTransactDispatchOrigin;
    type WeightInfo = ();
    type PriceForSiblingDelivery =
        polkadot_runtime_common::xcm_sender::NoPriceForMessageDelivery<ParaId>;
}

/// Narrows a message-queue origin to a sibling `ParaId` for the XCMP queue
/// (which only handles `Sibling` origins); every other origin is ignored.
pub struct NarrowOriginToSibling<Inner>(PhantomData<Inner>);

impl<Inner: QueuePausedQuery<ParaId>> QueuePausedQuery<AggregateMessageOrigin>
    for NarrowOriginToSibling<Inner>
{
    fn is_paused(origin: &AggregateMessageOrigin) -> bool {
        match origin {
            AggregateMessageOrigin::Sibling(id) => Inner::is_paused(id),
            _ => false,
        }
    }
}

impl<Inner: OnQueueChanged<ParaId>> OnQueueChanged<AggregateMessageOrigin>
    for NarrowOriginToSibling<Inner>
{
    fn on_queue_changed(origin: AggregateMessageOrigin, footprint: QueueFootprint) {
        if let AggregateMessageOrigin::Sibling(id) = origin {
            Inner::on_queue_changed(id, footprint)
        }
    }
}

/// A sibling `ParaId` as a message-queue origin.
pub struct ParaIdToSibling;
impl Convert<ParaId, AggregateMessageOrigin> for ParaIdToSibling {
    fn convert(para_id: ParaId) -> AggregateMessageOrigin {
        AggregateMessageOrigin::Sibling(para_id)
    }
}
