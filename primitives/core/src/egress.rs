//! Egress receipts: how a downloader pays a host for the bytes it serves.
//!
//! A downloader (a Receiver, or a Sender reading its own file) opens a
//! payment channel with a host on chain (`pallet-egress`), holding an
//! allowance at the host's price per GiB. With each request it signs a
//! *receipt*: the cumulative bytes it has asked that host for on that
//! channel. The host serves only while the best receipt it holds covers
//! everything it served, and redeems its latest receipt on chain in
//! batches; the chain pays `price x bytes` (rounded up to the planck) less
//! what it paid before, never more than the allowance. A host cannot claim
//! more than the downloader signed; a downloader cannot take back what it
//! signed (the allowance stays held until the channel closes, and a
//! closing channel waits for the host's last redemption).
//!
//! The same channels pay a proxy (issue 22) for the bytes it relays
//! between a Sender and hosts: a channel is for a [`Service`], and a
//! receipt names its service through its context string (domain
//! separation), so a receipt signed for one service is worthless for the
//! other.
//!
//! The signed bytes ([`receipt_payload`]) name the service, the chain (its
//! genesis hash), the channel (a fresh id per opening, so receipts of an
//! earlier channel between the same two accounts are worthless), the payee
//! (host or proxy), and the cumulative count.

use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

/// Domain separation for receipts of [`Service::Egress`] (unchanged since
/// the first egress receipts).
pub const RECEIPT_CONTEXT: &[u8] = b"masp/egress-receipt/v1";

/// Domain separation for receipts of [`Service::Relay`].
pub const RELAY_RECEIPT_CONTEXT: &[u8] = b"masp/relay-receipt/v1";

/// What a payment channel pays for.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Encode,
    Decode,
    DecodeWithMemTracking,
    MaxEncodedLen,
    TypeInfo,
)]
pub enum Service {
    /// A host serving data (its price: the egress pallet's `EgressPrices`).
    #[codec(index = 0)]
    Egress,
    /// A proxy relaying data between a Sender and hosts (its price: the
    /// proxies pallet's, per GiB relayed).
    #[codec(index = 1)]
    Relay,
}

impl Service {
    /// The context string its receipts start with.
    pub fn context(self) -> &'static [u8] {
        match self {
            Service::Egress => RECEIPT_CONTEXT,
            Service::Relay => RELAY_RECEIPT_CONTEXT,
        }
    }
}

/// Bytes in a GiB: prices are per GiB served.
pub const GIB: u128 = 1 << 30;

/// What a payer signs: `service.context() || genesis || channel (u64 LE) ||
/// payee (its SCALE encoding) || bytes (u64 LE)`. For [`Service::Egress`]
/// these are exactly the bytes of the first egress receipts
/// (`"masp/egress-receipt/v1" || ...`).
pub fn receipt_payload(
    genesis: &[u8],
    service: Service,
    channel: u64,
    payee: &[u8],
    bytes: u64,
) -> Vec<u8> {
    let context = service.context();
    let mut out = Vec::with_capacity(context.len() + genesis.len() + 8 + payee.len() + 8);
    out.extend_from_slice(context);
    out.extend_from_slice(genesis);
    out.extend_from_slice(&channel.to_le_bytes());
    out.extend_from_slice(payee);
    out.extend_from_slice(&bytes.to_le_bytes());
    out
}

/// What `bytes` served cost at `price` planck per GiB, rounded up to the
/// planck; `None` if it does not fit a `u128`.
pub fn cost(bytes: u64, price: u128) -> Option<u128> {
    let product = (bytes as u128).checked_mul(price)?;
    Some(product.div_ceil(GIB))
}

/// A receipt on the wire (in a chunk request's `receipt` query parameter,
/// as lowercase hex of `channel (u64 LE) || bytes (u64 LE) || sr25519
/// signature (64)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireReceipt {
    /// The channel.
    pub channel: u64,
    /// Cumulative bytes asked for on it.
    pub bytes: u64,
    /// The downloader's sr25519 signature of [`receipt_payload`].
    pub signature: [u8; 64],
}

impl WireReceipt {
    /// Bytes of the binary form.
    pub const LEN: usize = 8 + 8 + 64;

    /// The binary form.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..8].copy_from_slice(&self.channel.to_le_bytes());
        out[8..16].copy_from_slice(&self.bytes.to_le_bytes());
        out[16..].copy_from_slice(&self.signature);
        out
    }

    /// Parses the binary form (exactly [`Self::LEN`] bytes).
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != Self::LEN {
            return None;
        }
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&b[16..]);
        Some(Self {
            channel: u64::from_le_bytes(b[..8].try_into().ok()?),
            bytes: u64::from_le_bytes(b[8..16].try_into().ok()?),
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_rounds_up_and_refuses_overflow() {
        assert_eq!(cost(0, 1_000), Some(0));
        assert_eq!(cost(1, 1_000), Some(1));
        assert_eq!(cost(1 << 30, 1_000), Some(1_000));
        assert_eq!(cost((1 << 30) + 1, 1_000), Some(1_001));
        assert_eq!(cost(u64::MAX, u128::MAX), None);
    }

    #[test]
    fn the_payload_names_service_chain_channel_payee_and_count() {
        use Service::*;
        let p = receipt_payload(&[1; 32], Egress, 7, &[2; 32], 9);
        assert!(p.starts_with(RECEIPT_CONTEXT));
        assert_ne!(p, receipt_payload(&[1; 32], Egress, 8, &[2; 32], 9));
        assert_ne!(p, receipt_payload(&[1; 32], Egress, 7, &[3; 32], 9));
        assert_ne!(p, receipt_payload(&[1; 32], Egress, 7, &[2; 32], 10));
        assert_ne!(p, receipt_payload(&[0; 32], Egress, 7, &[2; 32], 9));
        let r = receipt_payload(&[1; 32], Relay, 7, &[2; 32], 9);
        assert!(r.starts_with(RELAY_RECEIPT_CONTEXT));
        assert_ne!(p, r);
    }

    #[test]
    fn an_egress_payload_is_the_first_receipts_bytes() {
        let mut v1 = b"masp/egress-receipt/v1".to_vec();
        v1.extend_from_slice(&[1; 32]);
        v1.extend_from_slice(&7u64.to_le_bytes());
        v1.extend_from_slice(&[2; 32]);
        v1.extend_from_slice(&9u64.to_le_bytes());
        assert_eq!(
            receipt_payload(&[1; 32], Service::Egress, 7, &[2; 32], 9),
            v1
        );
    }

    #[test]
    fn the_wire_form_round_trips() {
        let r = WireReceipt {
            channel: 3,
            bytes: 1 << 40,
            signature: [5; 64],
        };
        assert_eq!(WireReceipt::from_bytes(&r.to_bytes()), Some(r));
        assert_eq!(WireReceipt::from_bytes(&r.to_bytes()[1..]), None);
    }
}
