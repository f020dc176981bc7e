//! Relay tunnels: how a Sender asks a proxy (issue 22) to carry its
//! connection to a host, and who pays for the bytes.
//!
//! A client opens a tunnel with an HTTP `CONNECT host:port` to the proxy,
//! carrying `Proxy-Authorization: MASP <hex>` of a [`TunnelAuth`]: the
//! payer's sr25519 signature of [`tunnel_payload`], which names the chain
//! (its genesis hash), the proxy (so it is worthless at another proxy), the
//! target (so it opens no other tunnel), an expiry and a random nonce (a
//! proxy accepts each nonce once, so a copy seen on the wire opens nothing).
//!
//! Every byte carried after the proxy's `200` answer, in both directions,
//! is billed to the payer's relay channel ([`crate::egress::Service::Relay`]):
//! the client counts the same bytes on its side and signs cumulative relay
//! receipts ([`crate::egress::receipt_payload`]) as they flow; the proxy
//! relays at most a small credit beyond the best receipt it holds, and
//! redeems that receipt on chain.

use alloc::vec::Vec;

use blake2::{digest::consts::U32, Blake2b, Digest};

/// Domain separation for a tunnel's authorization.
pub const TUNNEL_CONTEXT: &[u8] = b"masp/relay-tunnel/v1";

/// The scheme of the `Proxy-Authorization` header carrying a [`TunnelAuth`].
pub const AUTH_SCHEME: &str = "MASP";

/// What a payer signs to open a tunnel: `TUNNEL_CONTEXT || genesis || proxy
/// (32) || expires (u64 LE, unix seconds) || nonce (16) || target (the
/// CONNECT authority, `host:port`, as sent)`.
pub fn tunnel_payload(
    genesis: &[u8],
    proxy: &[u8; 32],
    target: &[u8],
    expires: u64,
    nonce: &[u8; 16],
) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(TUNNEL_CONTEXT.len() + genesis.len() + 32 + 8 + 16 + target.len());
    out.extend_from_slice(TUNNEL_CONTEXT);
    out.extend_from_slice(genesis);
    out.extend_from_slice(proxy);
    out.extend_from_slice(&expires.to_le_bytes());
    out.extend_from_slice(nonce);
    out.extend_from_slice(target);
    out
}

/// Domain separation for a proxy's binding of its TLS certificate.
pub const TLS_CONTEXT: &[u8] = b"masp/proxy-tls/v1";

/// What a proxy signs (with its account key) to vouch for the TLS
/// certificate it serves: `TLS_CONTEXT || genesis || proxy (32) ||
/// blake2-256 of the certificate (DER)`.
///
/// A client that reaches a proxy through another one (`--hops 2`) speaks
/// TLS to it inside the first proxy's tunnel and accepts exactly the
/// certificate this signature names: the first proxy sees neither the
/// target nor the authorization, and cannot stand in for the second.
pub fn tls_binding_payload(genesis: &[u8], proxy: &[u8; 32], cert_hash: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(TLS_CONTEXT.len() + genesis.len() + 64);
    out.extend_from_slice(TLS_CONTEXT);
    out.extend_from_slice(genesis);
    out.extend_from_slice(proxy);
    out.extend_from_slice(cert_hash);
    out
}

/// BLAKE2b-256 of a certificate (DER): what [`tls_binding_payload`] names.
pub fn cert_hash(der: &[u8]) -> [u8; 32] {
    Blake2b::<U32>::digest(der).into()
}

/// A tunnel's authorization on the wire (lowercase hex of `payer (32) ||
/// expires (u64 LE) || nonce (16) || sr25519 signature (64)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelAuth {
    /// The account whose relay channel pays.
    pub payer: [u8; 32],
    /// Unix seconds after which the proxy refuses it.
    pub expires: u64,
    /// Random: a proxy accepts each once.
    pub nonce: [u8; 16],
    /// The payer's signature of [`tunnel_payload`].
    pub signature: [u8; 64],
}

impl TunnelAuth {
    /// Bytes of the binary form.
    pub const LEN: usize = 32 + 8 + 16 + 64;

    /// The binary form.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..32].copy_from_slice(&self.payer);
        out[32..40].copy_from_slice(&self.expires.to_le_bytes());
        out[40..56].copy_from_slice(&self.nonce);
        out[56..].copy_from_slice(&self.signature);
        out
    }

    /// Parses the binary form (exactly [`Self::LEN`] bytes).
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != Self::LEN {
            return None;
        }
        let mut payer = [0u8; 32];
        payer.copy_from_slice(&b[..32]);
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&b[40..56]);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&b[56..]);
        Some(Self {
            payer,
            expires: u64::from_le_bytes(b[32..40].try_into().ok()?),
            nonce,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_names_chain_proxy_expiry_nonce_and_target() {
        let p = tunnel_payload(&[1; 32], &[2; 32], b"h:1", 7, &[3; 16]);
        assert!(p.starts_with(TUNNEL_CONTEXT));
        let rest = &p[TUNNEL_CONTEXT.len()..];
        assert_eq!(&rest[..32], &[1; 32]);
        assert_eq!(&rest[32..64], &[2; 32]);
        assert_eq!(&rest[64..72], &7u64.to_le_bytes());
        assert_eq!(&rest[72..88], &[3; 16]);
        assert_eq!(&rest[88..], b"h:1");
        // Another target, proxy or nonce: other bytes.
        assert_ne!(p, tunnel_payload(&[1; 32], &[2; 32], b"h:2", 7, &[3; 16]));
        assert_ne!(p, tunnel_payload(&[1; 32], &[9; 32], b"h:1", 7, &[3; 16]));
        assert_ne!(p, tunnel_payload(&[1; 32], &[2; 32], b"h:1", 7, &[4; 16]));
    }

    #[test]
    fn the_wire_form_round_trips_and_refuses_other_lengths() {
        let a = TunnelAuth {
            payer: [5; 32],
            expires: u64::MAX - 1,
            nonce: [6; 16],
            signature: [7; 64],
        };
        assert_eq!(TunnelAuth::from_bytes(&a.to_bytes()), Some(a));
        assert_eq!(TunnelAuth::from_bytes(&a.to_bytes()[1..]), None);
        assert_eq!(TunnelAuth::from_bytes(&[0; TunnelAuth::LEN + 1]), None);
    }
}
