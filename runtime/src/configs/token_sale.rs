//! The MASP token sale (ICO) and the feeless `claim` it relies on.

use frame_support::{parameter_types, traits::ConstU32};

use crate::{Balances, Runtime, RuntimeEvent, UNIT};

parameter_types! {
    pub const TokenUnit: u128 = UNIT;
}

impl pallet_token_sale::Config for Runtime {
    type Currency = Balances;
    /// The sale authority: root (sudo on the development chain) or two
    /// thirds of the council.
    type SaleOrigin = super::governance::GovernanceOrigin;
    /// The attesters: a membership set the council manages.
    type Attesters = crate::AttesterMembership;
    /// As many as the attester set may hold, so a full set can always
    /// vote on one payment.
    type MaxAttesters = super::governance::MaxAttesters;
    /// Unfinished attestations one attester may have open.
    type MaxPendingPerAttester = ConstU32<1_000>;
    type TokenUnit = TokenUnit;
    type WeightInfo = pallet_token_sale::weights::SubstrateWeight<Runtime>;
}

impl pallet_skip_feeless_payment::Config for Runtime {
    type RuntimeEvent = RuntimeEvent;
}
