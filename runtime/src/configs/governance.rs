//! Governance: who may act as the chain's root, upgrade the runtime and
//! change its parameters, and who attests the token sale's contributions.
//!
//! - **The council** (`pallet-collective`, members kept by
//!   `pallet-membership`): a motion passes with at least two thirds of the
//!   members ([`GovernanceOrigin`]); no single key controls the chain. The
//!   council manages its own membership, the collators (collator-selection),
//!   XCM, the token sale's schedule and its attesters.
//! - **Root through the council**: `pallet-whitelist` dispatches a call as
//!   root when the council has whitelisted it, so one motion of
//!   `utility.batchAll([whitelist.whitelistCall(h),
//!   whitelist.dispatchWhitelistedCallWithPreimage(call)])` runs `call` as root
//!   (a runtime upgrade: `system.authorizeUpgrade(hash)`, then anyone sends
//!   `system.applyAuthorizedUpgrade(code)`).
//! - **The relay chain's governance** is root here too (XCM `ParentAsSuperuser`,
//!   see [`super::xcm_config`]): on a real network it can install or replace a
//!   council that can no longer act.
//! - **Sudo** exists on the development chain only (its preset alone has a
//!   key).
//! - **Attesters** (a second `pallet-membership` set, managed by the council):
//!   the token sale counts a contribution when `AttestThreshold` of them
//!   attest the same payment.

use frame_support::{
    parameter_types,
    traits::{EitherOfDiverse, LinearStoragePrice},
    weights::Weight,
};
use frame_system::EnsureRoot;
use masp_primitives::time::DAYS;
use sp_runtime::Perbill;

use super::RuntimeBlockWeights;
use crate::{
    AccountId, Balance, Balances, BlockNumber, Council, OriginCaller, Preimage, Runtime,
    RuntimeCall, RuntimeEvent, RuntimeHoldReason, RuntimeOrigin, System, UNIT,
};

/// The council's collective instance.
pub type CouncilCollective = pallet_collective::Instance1;
/// The council's membership instance.
pub type CouncilMembershipInstance = pallet_membership::Instance1;
/// The token sale attesters' membership instance.
pub type AttesterMembershipInstance = pallet_membership::Instance2;

/// Root, or at least two thirds of the council.
pub type GovernanceOrigin = EitherOfDiverse<
    EnsureRoot<AccountId>,
    pallet_collective::EnsureProportionAtLeast<AccountId, CouncilCollective, 2, 3>,
>;

parameter_types! {
    /// A motion not decided in 3 days can be closed as it stands.
    pub const CouncilMotionDuration: BlockNumber = 3 * DAYS;
    /// Open motions at a time.
    pub const CouncilMaxProposals: u32 = 100;
    /// Council members at most.
    pub const CouncilMaxMembers: u32 = 100;
    /// A motion may dispatch at most half a block's weight.
    pub MaxProposalWeight: Weight = Perbill::from_percent(50) * RuntimeBlockWeights::get().max_block;
}

impl pallet_collective::Config<CouncilCollective> for Runtime {
    type RuntimeOrigin = RuntimeOrigin;
    type Proposal = RuntimeCall;
    type RuntimeEvent = RuntimeEvent;
    type MotionDuration = CouncilMotionDuration;
    type MaxProposals = CouncilMaxProposals;
    type MaxMembers = CouncilMaxMembers;
    /// A member who did not vote counts as the prime member voted.
    type DefaultVote = pallet_collective::PrimeDefaultVote;
    type WeightInfo = crate::weights::pallet_collective::WeightInfo<Runtime>;
    /// Membership is managed by `CouncilMembership`; root may reset it.
    type SetMembersOrigin = EnsureRoot<AccountId>;
    type MaxProposalWeight = MaxProposalWeight;
    type DisapproveOrigin = GovernanceOrigin;
    type KillOrigin = GovernanceOrigin;
    /// Proposing costs the fee only: members are few and known.
    type Consideration = ();
}

impl pallet_membership::Config<CouncilMembershipInstance> for Runtime {
    type RuntimeEvent = RuntimeEvent;
    type AddOrigin = GovernanceOrigin;
    type RemoveOrigin = GovernanceOrigin;
    type SwapOrigin = GovernanceOrigin;
    type ResetOrigin = GovernanceOrigin;
    type PrimeOrigin = GovernanceOrigin;
    type MembershipInitialized = Council;
    type MembershipChanged = Council;
    type MaxMembers = CouncilMaxMembers;
    type WeightInfo = crate::weights::pallet_membership::WeightInfo<Runtime>;
}

parameter_types! {
    /// Attesters at most (the token sale's `MaxAttesters` too).
    pub const MaxAttesters: u32 = 16;
}

impl pallet_membership::Config<AttesterMembershipInstance> for Runtime {
    type RuntimeEvent = RuntimeEvent;
    type AddOrigin = GovernanceOrigin;
    type RemoveOrigin = GovernanceOrigin;
    type SwapOrigin = GovernanceOrigin;
    type ResetOrigin = GovernanceOrigin;
    type PrimeOrigin = GovernanceOrigin;
    type MembershipInitialized = ();
    type MembershipChanged = ();
    type MaxMembers = MaxAttesters;
    type WeightInfo = crate::weights::pallet_membership::WeightInfo<Runtime>;
}

parameter_types! {
    /// A noted preimage holds 1 MASP plus 1/1000 MASP per byte from its author.
    pub const PreimageBaseDeposit: Balance = UNIT;
    pub const PreimageByteDeposit: Balance = UNIT / 1_000;
    pub const PreimageHoldReason: RuntimeHoldReason =
        RuntimeHoldReason::Preimage(pallet_preimage::HoldReason::Preimage);
}

impl pallet_preimage::Config for Runtime {
    type RuntimeEvent = RuntimeEvent;
    type WeightInfo = crate::weights::pallet_preimage::WeightInfo<Runtime>;
    type Currency = Balances;
    type ManagerOrigin = GovernanceOrigin;
    type Consideration = frame_support::traits::fungible::HoldConsideration<
        AccountId,
        Balances,
        PreimageHoldReason,
        LinearStoragePrice<PreimageBaseDeposit, PreimageByteDeposit, Balance>,
    >;
}

impl pallet_whitelist::Config for Runtime {
    type RuntimeEvent = RuntimeEvent;
    type RuntimeCall = RuntimeCall;
    /// The council whitelists...
    type WhitelistOrigin = GovernanceOrigin;
    /// ...and dispatches as root what it whitelisted.
    type DispatchWhitelistedOrigin = GovernanceOrigin;
    type Preimages = Preimage;
    /// A deferred dispatch (a whitelisted call too heavy for its block) expires after a day.
    type DeferredDispatchExpiration = frame_support::traits::ConstU32<DAYS>;
    type BlockNumberProvider = System;
    type WeightInfo = crate::weights::pallet_whitelist::WeightInfo<Runtime>;
}

impl pallet_utility::Config for Runtime {
    type RuntimeEvent = RuntimeEvent;
    type RuntimeCall = RuntimeCall;
    type PalletsOrigin = OriginCaller;
    type WeightInfo = crate::weights::pallet_utility::WeightInfo<Runtime>;
}
