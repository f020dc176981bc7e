//! Proxies (issue 22): relays that hide a Sender's address from hosts,
//! paid per byte relayed through egress relay channels.

use frame_support::{parameter_types, traits::ConstU32};
use masp_primitives::time::{DAYS, HOURS};

use super::{governance::GovernanceOrigin, market::SlashPot};
use crate::{Balance, Balances, BlockNumber, Runtime, RuntimeHoldReason, UNIT};

parameter_types! {
    /// Held from each proxy, slashable by governance until withdrawn.
    pub const ProxyDeposit: Balance = 10 * UNIT;
    /// A deregistered proxy's deposit stays held (and slashable) a week:
    /// long enough for a misbehaviour seen in its last sessions to reach a
    /// council motion.
    pub const ProxyUnbondPeriod: BlockNumber = 7 * DAYS;
    /// A payer may report a relay session failed up to a day after the
    /// channel ended (the egress close period is 6 hours).
    pub const ProxyReportWindow: BlockNumber = 24 * HOURS;
}

impl pallet_proxies::Config for Runtime {
    type Currency = Balances;
    type RuntimeHoldReason = RuntimeHoldReason;
    type SlashOrigin = GovernanceOrigin;
    type SlashPot = SlashPot;
    type ProxyDeposit = ProxyDeposit;
    type UnbondPeriod = ProxyUnbondPeriod;
    type ReportWindow = ProxyReportWindow;
    /// Proxies at once (the runtime API lists them all).
    type MaxProxies = ConstU32<1_000>;
    /// As a host's endpoint.
    type MaxEndpointLen = ConstU32<256>;
    type WeightInfo = pallet_proxies::weights::SubstrateWeight<Runtime>;
}
