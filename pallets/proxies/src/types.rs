//! The pallet's records and the rating arithmetic.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{traits::Get, BoundedVec};
use masp_primitives::Balance;
use scale_info::TypeInfo;

/// The best score: a proxy none of whose sessions was reported failed,
/// with infinitely many sessions.
pub const SCORE_MAX: u32 = 1_000_000;

/// A registered proxy.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
#[scale_info(skip_type_params(MaxEndpoint))]
#[codec(mel_bound(BlockNumber: MaxEncodedLen))]
pub struct ProxyInfo<BlockNumber, MaxEndpoint: Get<u32>> {
    /// Where Senders reach it (`http://` or `https://`).
    pub endpoint: BoundedVec<u8, MaxEndpoint>,
    /// Planck per GiB relayed (what a relay channel opens at).
    pub price_per_gib: Balance,
    /// Held from the proxy (`HoldReason::ProxyDeposit`); slashable until
    /// withdrawn.
    pub deposit: Balance,
    /// When it registered.
    pub registered_at: BlockNumber,
    /// Set by `deregister`: from this block the deposit can be withdrawn.
    /// Until then it takes no new sessions and can still be slashed.
    pub unbonding_until: Option<BlockNumber>,
    /// Cumulative bytes relayed that its payers' receipts paid for.
    pub bytes_paid: u64,
    /// What those receipts paid it.
    pub paid: Balance,
    /// Relay channels opened with it.
    pub sessions: u32,
    /// Sessions whose payer reported a failure (at most one per session).
    pub failures: u32,
}

impl<BlockNumber, MaxEndpoint: Get<u32>> ProxyInfo<BlockNumber, MaxEndpoint> {
    /// The proxy's score, 0 to [`SCORE_MAX`]: the share of its sessions
    /// that no payer reported failed, counted as if it had one more good and
    /// one more failed session (so a new proxy scores half, and a few
    /// sessions move the score less than many).
    pub fn score(&self) -> u32 {
        score(self.sessions, self.failures)
    }
}

/// `(sessions - failures + 1) / (sessions + 2)` in millionths.
pub fn score(sessions: u32, failures: u32) -> u32 {
    let good = u64::from(sessions.saturating_sub(failures)).saturating_add(1);
    let all = u64::from(sessions).saturating_add(2);
    let s = good.saturating_mul(u64::from(SCORE_MAX)) / all;
    u32::try_from(s).unwrap_or(SCORE_MAX).min(SCORE_MAX)
}

/// A relay session: a relay channel a payer opened with a proxy, which its
/// payer may report failed once, while it is open and for
/// `Config::ReportWindow` blocks after it ended.
#[derive(
    Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct Session<AccountId, BlockNumber> {
    /// Who opened the channel (the only one who may report it).
    pub payer: AccountId,
    /// Set when the channel ends: the last block a report is taken.
    pub report_until: Option<BlockNumber>,
}

/// A proxy as the runtime API lists it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
pub struct ProxyView<AccountId, BlockNumber> {
    /// The proxy's account (the payee of its relay channels).
    pub account: AccountId,
    /// Where Senders reach it.
    pub endpoint: alloc::vec::Vec<u8>,
    /// Planck per GiB relayed.
    pub price_per_gib: Balance,
    /// Its deposit still held.
    pub deposit: Balance,
    /// Whether it takes new sessions (registered, not deregistering, its
    /// deposit whole).
    pub active: bool,
    /// When its deposit can be withdrawn, if it is deregistering.
    pub unbonding_until: Option<BlockNumber>,
    /// Cumulative bytes relayed and paid for.
    pub bytes_paid: u64,
    /// What it was paid for them.
    pub paid: Balance,
    /// Relay channels opened with it.
    pub sessions: u32,
    /// Sessions reported failed.
    pub failures: u32,
    /// [`score`] of those counts, 0 to [`SCORE_MAX`].
    pub score: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_score_is_the_smoothed_share_of_good_sessions() {
        assert_eq!(score(0, 0), SCORE_MAX / 2);
        assert_eq!(score(8, 0), 900_000);
        assert_eq!(score(8, 8), 100_000);
        assert_eq!(score(98, 0), 990_000);
        assert!(score(100, 1) > score(10, 0));
        assert!(score(u32::MAX, 0) <= SCORE_MAX);
        // More failures than sessions cannot happen; it scores as none good.
        assert_eq!(score(1, 5), score(1, 1));
    }
}
