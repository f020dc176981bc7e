//! Block production: Aura slots, sessions, collator selection and authorship.
//!
//! Collators are the white paper's Miners: they author blocks and earn the
//! transaction fees (see [`super::token::ToBlockAuthor`]).

use frame_support::{
    parameter_types,
    traits::{ConstBool, ConstU32, ConstU64},
    PalletId,
};
use masp_primitives::time::{HOURS, SLOT_DURATION};

use super::RootOrigin;
use crate::{
    AccountId, Aura, AuraId, Balance, Balances, BlockNumber, CollatorSelection, Runtime,
    RuntimeEvent, Session, SessionKeys, EXISTENTIAL_DEPOSIT,
};

impl pallet_authorship::Config for Runtime {
    type FindAuthor = pallet_session::FindAccountFromAuthorIndex<Self, Aura>;
    type EventHandler = (CollatorSelection,);
}

parameter_types! {
    /// A session lasts 6 hours.
    pub const Period: BlockNumber = 6 * HOURS;
    pub const Offset: BlockNumber = 0;
}

impl pallet_session::Config for Runtime {
    type RuntimeEvent = RuntimeEvent;
    type ValidatorId = AccountId;
    type ValidatorIdOf = pallet_collator_selection::IdentityCollator;
    type ShouldEndSession = pallet_session::PeriodicSessions<Period, Offset>;
    type NextSessionRotation = pallet_session::PeriodicSessions<Period, Offset>;
    type SessionManager = CollatorSelection;
    /// Essentially just Aura, but let's be pedantic.
    type SessionHandler = <SessionKeys as sp_runtime::traits::OpaqueKeys>::KeyTypeIdProviders;
    type Keys = SessionKeys;
    type DisablingStrategy = ();
    type WeightInfo = pallet_session::weights::SubstrateWeight<Runtime>;
    type Currency = Balances;
    type KeyDeposit = ();
}

impl pallet_aura::Config for Runtime {
    type AuthorityId = AuraId;
    type DisabledValidators = ();
    type MaxAuthorities = ConstU32<100_000>;
    /// Asynchronous backing: several parachain blocks may be built in one slot.
    type AllowMultipleBlocksPerSlot = ConstBool<true>;
    type SlotDuration = ConstU64<SLOT_DURATION>;
}

impl cumulus_pallet_aura_ext::Config for Runtime {}

parameter_types! {
    pub const PotId: PalletId = PalletId(*b"PotStake");
    /// Bond a collator candidate puts up.
    pub const CandidacyBond: Balance = EXISTENTIAL_DEPOSIT * 16;
}

impl pallet_collator_selection::Config for Runtime {
    type RuntimeEvent = RuntimeEvent;
    type Currency = Balances;
    type UpdateOrigin = RootOrigin;
    type PotId = PotId;
    type MaxCandidates = ConstU32<100>;
    type MinEligibleCollators = ConstU32<1>;
    type MaxInvulnerables = ConstU32<20>;
    /// A candidate that authored no block in a session is kicked.
    type KickThreshold = Period;
    type ValidatorId = AccountId;
    type ValidatorIdOf = pallet_collator_selection::IdentityCollator;
    type ValidatorRegistration = Session;
    type WeightInfo = pallet_collator_selection::weights::SubstrateWeight<Runtime>;
}
