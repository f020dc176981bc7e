//! Tickets: what a Sender signs so that a host accepts an upload or serves a
//! download — the "temporary signed links" of the data path.
//!
//! A ticket names one contract, one operation, a range of chunks, who it was
//! issued to, when it expires and a random nonce. The Sender of the contract
//! signs `TICKET_CONTEXT ++ genesis_hash ++ SCALE(ticket)` with its account
//! key (sr25519, the key its chain account is): the chain's genesis hash is
//! part of what is signed (not of the wire form), so a ticket signed for one
//! chain (a test net) does not verify on a host serving another, where the
//! same account may hold contracts with the same ids. A host checks, in this order: the signature
//! (by the contract's Sender), the operation, the contract, the chunk range,
//! the expiry (`expires` is Unix seconds, at most [`MAX_TICKET_TTL`] ahead)
//! and, for downloads, that the (nonce, chunk) pair was not used before.
//!
//! On the wire a [`SignedTicket`] is its SCALE bytes in lowercase hex, in the
//! `ticket` query parameter of the chunk URL.
//!
//! **Links bound to their Receiver**: a Sender's download ticket issued to
//! another account (`receiver` != signer, `masp link --receiver X`) is not a
//! bearer link. The host serves it only to a request that also carries the
//! Receiver's sr25519 signature of [`SignedTicket::claim_payload`] (the
//! `claim` query parameter, 64 bytes in hex): a copied URL is useless to
//! anyone else. The Sender's own tickets (`receiver` = signer) need none.
//!
//! Signature verification needs sr25519, which this `no_std` crate leaves to
//! its users (the host daemon uses `subxt-signer`); the rest of the checks
//! are here, so the client and the host agree on them.

use alloc::vec::Vec;
use codec::{Decode, Encode, MaxEncodedLen};

use crate::ContractId;

/// Domain separation for ticket signatures (v2: the chain's genesis hash
/// follows it in the signed payload).
pub const TICKET_CONTEXT: &[u8] = b"masp/ticket/v2";

/// Domain separation for a Receiver's claim of a link issued to it.
pub const CLAIM_CONTEXT: &[u8] = b"masp/ticket-claim/v1";

/// The longest a ticket may live, seconds. A host refuses tickets that expire
/// later than this from its own clock, so a leaked link dies soon.
pub const MAX_TICKET_TTL: u64 = 24 * 3600;

/// What a ticket allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub enum TicketOp {
    /// Store chunks (and the sealed manifest) of the contract. May be used
    /// again until it expires: uploads resume, and a chunk is only accepted
    /// if it matches the contract's Merkle root.
    Upload,
    /// Read chunks (and the sealed manifest). Each chunk may be read once per
    /// nonce.
    Download,
    /// A Receiver reads chunks (and the listing's manifest) of a contract
    /// named by `listing`. The ticket is signed by the Receiver itself
    /// (`receiver` = signer), not by the Sender: the host serves it only if
    /// the chain shows that account has access to the listing (its Sender,
    /// a buyer whose key was delivered, or anyone for a public listing) and
    /// the listing names the contract. Each chunk may be read once per
    /// nonce, as for [`TicketOp::Download`].
    Receive {
        /// The listing (`pallet-listings` id).
        listing: u64,
    },
}

impl TicketOp {
    /// Whether it reads (a download by the Sender or a Receiver).
    pub fn is_read(&self) -> bool {
        !matches!(self, Self::Upload)
    }
}

/// A ticket, before signing.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct Ticket {
    /// What it allows.
    pub op: TicketOp,
    /// The storage contract.
    pub contract: ContractId,
    /// First chunk index it covers.
    pub first_chunk: u32,
    /// Last chunk index it covers (inclusive). `u32::MAX` covers every chunk.
    pub last_chunk: u32,
    /// Who it was issued to (a Receiver's account, or the Sender's own).
    pub receiver: [u8; 32],
    /// When it stops being valid, Unix seconds.
    pub expires: u64,
    /// Random; makes every ticket distinct and download reads single-use.
    pub nonce: [u8; 16],
}

/// A ticket with its signer's public key and sr25519 signature.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct SignedTicket {
    /// The ticket.
    pub ticket: Ticket,
    /// The signer's sr25519 public key (= its account id).
    pub signer: [u8; 32],
    /// sr25519 signature of [`Ticket::signing_payload`] for the chain the
    /// contract is on.
    pub signature: [u8; 64],
}

/// Why a ticket is refused (before its signature is checked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketError {
    /// It does not decode.
    Malformed,
    /// It is for another operation.
    WrongOp,
    /// It is for another contract.
    WrongContract,
    /// The chunk asked for is outside its range.
    OutOfRange,
    /// It has expired.
    Expired,
    /// It expires too far in the future ([`MAX_TICKET_TTL`]).
    TooLong,
    /// Its signer is not the contract's Sender.
    WrongSigner,
    /// Its signature does not verify.
    BadSignature,
    /// It (or this chunk of it) was used before.
    Replayed,
    /// A Receiver's ticket not signed by the Receiver it names.
    NotReceiver,
    /// A link issued to another account, presented without that
    /// Receiver's claim.
    Unclaimed,
    /// The claim is not the named Receiver's signature of this ticket.
    BadClaim,
    /// The host cannot check tickets now: it has not yet learned which
    /// chain it serves, or it cannot record a download's use (a retry
    /// later may succeed).
    Unavailable,
}

impl TicketError {
    /// A short reason, as a host puts it in its HTTP error.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed => "ticket does not decode",
            Self::WrongOp => "ticket is for another operation",
            Self::WrongContract => "ticket is for another contract",
            Self::OutOfRange => "chunk is outside the ticket's range",
            Self::Expired => "ticket has expired",
            Self::TooLong => "ticket expires too far in the future",
            Self::WrongSigner => "ticket is not signed by the contract's sender",
            Self::BadSignature => "ticket signature does not verify",
            Self::Replayed => "ticket was already used for this chunk",
            Self::NotReceiver => "a receiver's ticket must be signed by that receiver",
            Self::Unclaimed => {
                "this link was issued to another account: the request must carry that receiver's signature (?claim=)"
            }
            Self::BadClaim => "the claim is not the link's receiver's signature",
            Self::Unavailable => "the host cannot check tickets right now; try again shortly",
        }
    }
}

impl Ticket {
    /// The bytes its signer signs for the chain whose genesis block hash is
    /// `genesis`: `TICKET_CONTEXT ++ genesis ++ SCALE(ticket)`.
    pub fn signing_payload(&self, genesis: &[u8; 32]) -> Vec<u8> {
        let mut out = Vec::with_capacity(TICKET_CONTEXT.len() + 32 + Self::max_encoded_len());
        out.extend_from_slice(TICKET_CONTEXT);
        out.extend_from_slice(genesis);
        self.encode_to(&mut out);
        out
    }

    /// Whether it allows `op` on `chunk` of `contract` at `now` (Unix
    /// seconds). `chunk = None` asks for the contract's manifest object,
    /// which any ticket for the contract covers.
    pub fn check(
        &self,
        op: TicketOp,
        contract: ContractId,
        chunk: Option<u32>,
        now: u64,
    ) -> Result<(), TicketError> {
        if self.op != op {
            return Err(TicketError::WrongOp);
        }
        if self.contract != contract {
            return Err(TicketError::WrongContract);
        }
        if let Some(chunk) = chunk {
            if chunk < self.first_chunk || chunk > self.last_chunk {
                return Err(TicketError::OutOfRange);
            }
        }
        if now >= self.expires {
            return Err(TicketError::Expired);
        }
        if self.expires > now.saturating_add(MAX_TICKET_TTL) {
            return Err(TicketError::TooLong);
        }
        Ok(())
    }
}

impl SignedTicket {
    /// Whether a read with it needs its Receiver's claim: a Sender's
    /// download ticket issued to another account.
    pub fn needs_claim(&self) -> bool {
        matches!(self.ticket.op, TicketOp::Download) && self.ticket.receiver != self.signer
    }

    /// What the Receiver signs to use a link issued to it, for the chain
    /// whose genesis block hash is `genesis`: `CLAIM_CONTEXT ++ genesis ++
    /// SCALE(signed ticket)` (the Sender's signature included, so a claim
    /// is good for this one link only).
    pub fn claim_payload(&self, genesis: &[u8; 32]) -> Vec<u8> {
        let mut out = Vec::with_capacity(CLAIM_CONTEXT.len() + 32 + Self::max_encoded_len());
        out.extend_from_slice(CLAIM_CONTEXT);
        out.extend_from_slice(genesis);
        self.encode_to(&mut out);
        out
    }

    /// Its wire form: SCALE bytes as lowercase hex.
    pub fn to_hex(&self) -> alloc::string::String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let bytes = self.encode();
        let mut out = alloc::string::String::with_capacity(bytes.len() * 2);
        for b in bytes {
            out.push(DIGITS[(b >> 4) as usize] as char);
            out.push(DIGITS[(b & 15) as usize] as char);
        }
        out
    }

    /// Parses its wire form; anything but exactly one ticket is
    /// [`TicketError::Malformed`].
    pub fn from_hex(s: &str) -> Result<Self, TicketError> {
        let s = s.as_bytes();
        if !s.len().is_multiple_of(2) || s.len() > 2 * Self::max_encoded_len() {
            return Err(TicketError::Malformed);
        }
        let digit = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(TicketError::Malformed),
        };
        let mut bytes = Vec::with_capacity(s.len() / 2);
        for pair in s.chunks_exact(2) {
            bytes.push(digit(pair[0])? << 4 | digit(pair[1])?);
        }
        let mut input = &bytes[..];
        let ticket = Self::decode(&mut input).map_err(|_| TicketError::Malformed)?;
        if !input.is_empty() {
            return Err(TicketError::Malformed);
        }
        Ok(ticket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(op: TicketOp) -> Ticket {
        Ticket {
            op,
            contract: 7,
            first_chunk: 2,
            last_chunk: 5,
            receiver: [1; 32],
            expires: 1_000,
            nonce: [9; 16],
        }
    }

    #[test]
    fn a_ticket_allows_only_its_op_contract_range_and_time() {
        let t = ticket(TicketOp::Download);
        assert_eq!(t.check(TicketOp::Download, 7, Some(2), 999), Ok(()));
        assert_eq!(t.check(TicketOp::Download, 7, Some(5), 0), Ok(()));
        assert_eq!(t.check(TicketOp::Download, 7, None, 0), Ok(()));
        assert_eq!(
            t.check(TicketOp::Upload, 7, Some(2), 0),
            Err(TicketError::WrongOp)
        );
        assert_eq!(
            t.check(TicketOp::Download, 8, Some(2), 0),
            Err(TicketError::WrongContract)
        );
        assert_eq!(
            t.check(TicketOp::Download, 7, Some(1), 0),
            Err(TicketError::OutOfRange)
        );
        assert_eq!(
            t.check(TicketOp::Download, 7, Some(6), 0),
            Err(TicketError::OutOfRange)
        );
        assert_eq!(
            t.check(TicketOp::Download, 7, Some(2), 1_000),
            Err(TicketError::Expired)
        );
    }

    #[test]
    fn a_receivers_ticket_is_for_its_listing_only() {
        let t = ticket(TicketOp::Receive { listing: 3 });
        assert_eq!(
            t.check(TicketOp::Receive { listing: 3 }, 7, Some(2), 0),
            Ok(())
        );
        assert_eq!(
            t.check(TicketOp::Receive { listing: 4 }, 7, Some(2), 0),
            Err(TicketError::WrongOp)
        );
        assert_eq!(
            t.check(TicketOp::Download, 7, Some(2), 0),
            Err(TicketError::WrongOp)
        );
        // The Sender's tickets keep their encoding.
        assert_eq!(TicketOp::Upload.encode(), [0]);
        assert_eq!(TicketOp::Download.encode(), [1]);
        assert!(TicketOp::Receive { listing: 3 }.is_read() && !TicketOp::Upload.is_read());
    }

    #[test]
    fn a_ticket_may_not_live_longer_than_the_max_ttl() {
        let mut t = ticket(TicketOp::Upload);
        t.expires = 10 + MAX_TICKET_TTL;
        assert_eq!(t.check(TicketOp::Upload, 7, Some(3), 10), Ok(()));
        assert_eq!(
            t.check(TicketOp::Upload, 7, Some(3), 9),
            Err(TicketError::TooLong)
        );
    }

    #[test]
    fn the_wire_form_round_trips_and_rejects_garbage() {
        let s = SignedTicket {
            ticket: ticket(TicketOp::Upload),
            signer: [3; 32],
            signature: [4; 64],
        };
        let hex = s.to_hex();
        assert_eq!(SignedTicket::from_hex(&hex), Ok(s.clone()));
        assert_eq!(SignedTicket::from_hex(&hex.to_uppercase()), Ok(s.clone()));
        assert_eq!(
            SignedTicket::from_hex(&hex[..hex.len() - 2]),
            Err(TicketError::Malformed)
        );
        assert_eq!(
            SignedTicket::from_hex(&(hex.clone() + "00")),
            Err(TicketError::Malformed)
        );
        assert_eq!(
            SignedTicket::from_hex(&hex.replace('0', "g")),
            Err(TicketError::Malformed)
        );
        assert_eq!(SignedTicket::from_hex(""), Err(TicketError::Malformed));
    }

    #[test]
    fn only_a_senders_link_issued_to_someone_else_needs_a_claim() {
        let mut s = SignedTicket {
            ticket: ticket(TicketOp::Download),
            signer: [1; 32],
            signature: [4; 64],
        };
        assert!(!s.needs_claim(), "the Sender's own link");
        s.ticket.receiver = [2; 32];
        assert!(s.needs_claim());
        let payload = s.claim_payload(&[5; 32]);
        assert!(payload.starts_with(CLAIM_CONTEXT));
        assert_eq!(&payload[CLAIM_CONTEXT.len()..][..32], &[5; 32]);
        // Another link of the same Sender: another payload.
        let mut other = s.clone();
        other.signature = [6; 64];
        assert_ne!(other.claim_payload(&[5; 32]), payload);
        // Receivers' own tickets and uploads never do.
        s.ticket.op = TicketOp::Receive { listing: 1 };
        assert!(!s.needs_claim());
        s.ticket.op = TicketOp::Upload;
        assert!(!s.needs_claim());
    }

    #[test]
    fn the_signed_payload_is_context_then_genesis_then_scale() {
        let t = ticket(TicketOp::Download);
        let payload = t.signing_payload(&[5; 32]);
        assert!(payload.starts_with(TICKET_CONTEXT));
        let rest = &payload[TICKET_CONTEXT.len()..];
        assert_eq!(&rest[..32], &[5; 32]);
        assert_eq!(&rest[32..], &t.encode()[..]);
        // Another chain: other bytes to sign, so another signature.
        assert_ne!(t.signing_payload(&[6; 32]), payload);
    }
}
