//! Checking the tickets Senders sign (format: `masp_primitives::ticket`).

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
};

use masp_primitives::{
    market::ContractId,
    ticket::{SignedTicket, Ticket, TicketError, TicketOp},
};
use subxt_signer::sr25519;

/// Verifies a ticket's sr25519 signature by `signer`.
pub fn signature_ok(t: &SignedTicket) -> bool {
    sr25519::verify(
        &sr25519::Signature(t.signature),
        t.ticket.signing_payload(),
        &sr25519::PublicKey(t.signer),
    )
}

/// Every check a host makes on a ticket presented for `op` on `chunk` of
/// `contract` (bytes `range.0..range.1` of it), whose Sender is `sender`, at
/// `now` (Unix seconds). Download reads are recorded in `seen` so each byte
/// of a chunk is served at most once per ticket nonce: a range request may
/// read the parts of a chunk one by one, never the same byte twice.
#[allow(clippy::too_many_arguments)]
pub fn check(
    wire: &str,
    op: TicketOp,
    contract: ContractId,
    sender: &[u8; 32],
    chunk: Option<u32>,
    range: (u64, u64),
    now: u64,
    seen: &ReplayGuard,
) -> Result<SignedTicket, TicketError> {
    let t = SignedTicket::from_hex(wire)?;
    if &t.signer != sender {
        return Err(TicketError::WrongSigner);
    }
    t.ticket.check(op, contract, chunk, now)?;
    // A ticket covering many chunks is verified once (its signature is
    // remembered until it expires).
    if !seen.known_good(&t, now) {
        if !signature_ok(&t) {
            return Err(TicketError::BadSignature);
        }
        seen.remember_good(&t, now);
    }
    if op == TicketOp::Download {
        seen.first_use(&t, chunk, range, now)?;
    }
    Ok(t)
}

/// The download tickets used so far, kept until they expire.
///
/// In memory: a host restart forgets it, but only tickets issued before the
/// restart and still unexpired could then be used once more.
#[derive(Default)]
pub struct ReplayGuard {
    inner: Mutex<Seen>,
}

/// What a download ticket was used for: its nonce and the chunk (`None`:
/// the manifest).
type Use = ([u8; 16], Option<u32>);

/// Entries kept at most (each kind); beyond, the oldest expiries go first.
const MAX_ENTRIES: usize = 1 << 20;

/// Separate ranges one ticket may read of one chunk (a client reading a
/// chunk in parts needs a few; beyond this, it asks for a new ticket).
pub const MAX_RANGES_PER_CHUNK: usize = 64;

#[derive(Default)]
struct Seen {
    /// The byte ranges served of each (nonce, chunk).
    used: HashMap<Use, Vec<(u64, u64)>>,
    used_by_expiry: BTreeMap<u64, Vec<Use>>,
    /// Signatures already verified (the signature covers the whole ticket,
    /// and the signer is checked against the contract's Sender before this
    /// cache is consulted), with the ticket's expiry.
    good: HashMap<[u8; 64], (Ticket, [u8; 32])>,
    good_by_expiry: BTreeMap<u64, Vec<[u8; 64]>>,
}

/// Takes out of `by_expiry` the keys that expire at or before `now`, and
/// the earliest-expiring beyond `MAX_ENTRIES` (of `len` held).
fn expired<K>(by_expiry: &mut BTreeMap<u64, Vec<K>>, now: u64, len: usize) -> Vec<K> {
    let live = by_expiry.split_off(&now.saturating_add(1));
    let mut out: Vec<K> = std::mem::replace(by_expiry, live)
        .into_values()
        .flatten()
        .collect();
    let mut left = len.saturating_sub(out.len());
    while left > MAX_ENTRIES {
        let Some((_, keys)) = by_expiry.pop_first() else {
            break;
        };
        left = left.saturating_sub(keys.len());
        out.extend(keys);
    }
    out
}

impl ReplayGuard {
    /// Records that `t` served bytes `range.0..range.1` of `chunk`; refuses
    /// a range that overlaps one served before (or one range too many).
    pub fn first_use(
        &self,
        t: &SignedTicket,
        chunk: Option<u32>,
        range: (u64, u64),
        now: u64,
    ) -> Result<(), TicketError> {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let seen = &mut *guard;
        // Forget what has expired: it is refused as expired anyway.
        for key in expired(&mut seen.used_by_expiry, now, seen.used.len()) {
            seen.used.remove(&key);
        }
        let key = (t.ticket.nonce, chunk);
        let (start, end) = (range.0, range.1.max(range.0 + 1));
        match seen.used.get_mut(&key) {
            Some(served) => {
                if served.len() >= MAX_RANGES_PER_CHUNK
                    || served.iter().any(|&(a, b)| start < b && a < end)
                {
                    return Err(TicketError::Replayed);
                }
                served.push((start, end));
            }
            None => {
                seen.used.insert(key, vec![(start, end)]);
                seen.used_by_expiry
                    .entry(t.ticket.expires)
                    .or_default()
                    .push(key);
            }
        }
        Ok(())
    }

    /// Takes back a use recorded by [`ReplayGuard::first_use`] whose bytes
    /// could not be served after all (a disk error), so the link still works.
    pub fn release(&self, t: &SignedTicket, chunk: Option<u32>, range: (u64, u64)) {
        let mut seen = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let end = range.1.max(range.0 + 1);
        if let Some(served) = seen.used.get_mut(&(t.ticket.nonce, chunk)) {
            served.retain(|&r| r != (range.0, end));
        }
    }

    /// Whether this exact ticket (content, signer and signature) was
    /// verified before and has not expired.
    pub fn known_good(&self, t: &SignedTicket, now: u64) -> bool {
        let seen = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        seen.good.get(&t.signature).is_some_and(|(ticket, signer)| {
            ticket == &t.ticket && signer == &t.signer && ticket.expires > now
        })
    }

    /// Remembers a verified ticket until it expires.
    pub fn remember_good(&self, t: &SignedTicket, now: u64) {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let seen = &mut *guard;
        for key in expired(&mut seen.good_by_expiry, now, seen.good.len()) {
            seen.good.remove(&key);
        }
        if seen
            .good
            .insert(t.signature, (t.ticket.clone(), t.signer))
            .is_none()
        {
            seen.good_by_expiry
                .entry(t.ticket.expires)
                .or_default()
                .push(t.signature);
        }
    }

    /// Tickets remembered.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|s| s.used.len()).unwrap_or(0)
    }

    /// Whether none are remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use subxt_signer::sr25519::dev;

    fn signed(op: TicketOp, expires: u64, nonce: u8) -> SignedTicket {
        let alice = dev::alice();
        let ticket = Ticket {
            op,
            contract: 3,
            first_chunk: 0,
            last_chunk: 9,
            receiver: alice.public_key().0,
            expires,
            nonce: [nonce; 16],
        };
        let signature = alice.sign(&ticket.signing_payload()).0;
        SignedTicket {
            ticket,
            signer: alice.public_key().0,
            signature,
        }
    }

    #[test]
    fn only_the_senders_valid_signature_is_accepted() {
        let alice = dev::alice().public_key().0;
        let bob = dev::bob().public_key().0;
        let guard = ReplayGuard::default();
        let t = signed(TicketOp::Upload, 100, 1);
        let wire = t.to_hex();
        assert!(check(
            &wire,
            TicketOp::Upload,
            3,
            &alice,
            Some(0),
            (0, 0),
            50,
            &guard
        )
        .is_ok());
        assert_eq!(
            check(
                &wire,
                TicketOp::Upload,
                3,
                &bob,
                Some(0),
                (0, 0),
                50,
                &guard
            ),
            Err(TicketError::WrongSigner)
        );
        // A forged ticket: the same signature (already verified once, so
        // remembered) over a widened range.
        let mut forged = t.clone();
        forged.ticket.last_chunk = 99;
        assert_eq!(
            check(
                &forged.to_hex(),
                TicketOp::Upload,
                3,
                &alice,
                Some(50),
                (0, 0),
                50,
                &guard
            ),
            Err(TicketError::BadSignature)
        );
        assert_eq!(
            check(
                &wire,
                TicketOp::Upload,
                3,
                &alice,
                Some(0),
                (0, 0),
                100,
                &guard
            ),
            Err(TicketError::Expired)
        );
    }

    #[test]
    fn a_download_ticket_serves_each_byte_of_a_chunk_once() {
        let alice = dev::alice().public_key().0;
        let guard = ReplayGuard::default();
        let wire = signed(TicketOp::Download, 100, 2).to_hex();
        let read = |chunk, range, now| {
            check(
                &wire,
                TicketOp::Download,
                3,
                &alice,
                Some(chunk),
                range,
                now,
                &guard,
            )
        };
        const K: u64 = 262_144;
        assert!(read(4, (0, K), 10).is_ok());
        assert!(read(5, (0, 4 * K), 10).is_ok());
        assert_eq!(read(4, (0, K), 11), Err(TicketError::Replayed));
        // The other parts of the same chunk: once each.
        assert!(read(4, (K, 2 * K), 11).is_ok());
        assert_eq!(read(4, (K, 2 * K), 12), Err(TicketError::Replayed));
        // Shifted ranges that re-read served bytes are replays too.
        assert_eq!(read(4, (1, 4 * K), 12), Err(TicketError::Replayed));
        assert_eq!(read(4, (2 * K - 1, 3 * K), 12), Err(TicketError::Replayed));
        assert!(read(4, (2 * K, 4 * K), 12).is_ok());
        assert_eq!(read(5, (4 * K - 1, 4 * K), 12), Err(TicketError::Replayed));
        // Upload tickets may be reused (uploads resume; chunks are verified).
        let up = signed(TicketOp::Upload, 100, 3).to_hex();
        let write = || {
            check(
                &up,
                TicketOp::Upload,
                3,
                &alice,
                Some(4),
                (0, 0),
                10,
                &guard,
            )
        };
        assert!(write().is_ok());
        assert!(write().is_ok());
    }

    #[test]
    fn a_chunk_read_in_tiny_ranges_runs_out_and_a_released_range_reads_again() {
        let guard = ReplayGuard::default();
        let t = signed(TicketOp::Download, 100, 6);
        for i in 0..MAX_RANGES_PER_CHUNK as u64 {
            guard.first_use(&t, Some(1), (i, i + 1), 10).unwrap();
        }
        let next = (MAX_RANGES_PER_CHUNK as u64, MAX_RANGES_PER_CHUNK as u64 + 1);
        assert_eq!(
            guard.first_use(&t, Some(1), next, 10),
            Err(TicketError::Replayed)
        );
        guard.release(&t, Some(1), (0, 1));
        guard.first_use(&t, Some(1), (0, 1), 10).unwrap();
    }

    #[test]
    fn expired_uses_are_forgotten() {
        let guard = ReplayGuard::default();
        let t = signed(TicketOp::Download, 100, 4);
        guard.first_use(&t, Some(0), (0, 10), 10).unwrap();
        assert_eq!(guard.len(), 1);
        guard
            .first_use(&signed(TicketOp::Download, 500, 5), Some(0), (0, 10), 101)
            .unwrap();
        assert_eq!(guard.len(), 1);
    }
}
