//! Checking the tickets Senders sign (format: `masp_primitives::ticket`).

use std::{
    collections::{BTreeMap, HashSet},
    sync::Mutex,
};

use masp_primitives::{
    market::ContractId,
    ticket::{SignedTicket, TicketError, TicketOp},
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
/// `contract`, whose Sender is `sender`, at `now` (Unix seconds). Download
/// reads are recorded in `seen` so a (nonce, chunk) pair works once.
pub fn check(
    wire: &str,
    op: TicketOp,
    contract: ContractId,
    sender: &[u8; 32],
    chunk: Option<u32>,
    now: u64,
    seen: &ReplayGuard,
) -> Result<SignedTicket, TicketError> {
    let t = SignedTicket::from_hex(wire)?;
    if &t.signer != sender {
        return Err(TicketError::WrongSigner);
    }
    if !signature_ok(&t) {
        return Err(TicketError::BadSignature);
    }
    t.ticket.check(op, contract, chunk, now)?;
    if op == TicketOp::Download {
        seen.first_use(&t, chunk, now)?;
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

#[derive(Default)]
struct Seen {
    used: HashSet<([u8; 16], Option<u32>)>,
    by_expiry: BTreeMap<u64, Vec<([u8; 16], Option<u32>)>>,
}

impl ReplayGuard {
    /// Records the use of `t` for `chunk`; refuses a second use.
    pub fn first_use(
        &self,
        t: &SignedTicket,
        chunk: Option<u32>,
        now: u64,
    ) -> Result<(), TicketError> {
        let mut seen = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // Forget what has expired: it is refused as expired anyway.
        let live = seen.by_expiry.split_off(&now.saturating_add(1));
        let expired = std::mem::replace(&mut seen.by_expiry, live);
        for key in expired.into_values().flatten() {
            seen.used.remove(&key);
        }
        let key = (t.ticket.nonce, chunk);
        if !seen.used.insert(key) {
            return Err(TicketError::Replayed);
        }
        seen.by_expiry
            .entry(t.ticket.expires)
            .or_default()
            .push(key);
        Ok(())
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
    use masp_primitives::ticket::Ticket;
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
        assert!(check(&wire, TicketOp::Upload, 3, &alice, Some(0), 50, &guard).is_ok());
        assert_eq!(
            check(&wire, TicketOp::Upload, 3, &bob, Some(0), 50, &guard),
            Err(TicketError::WrongSigner)
        );
        // A forged ticket: the same signature over a widened range.
        let mut forged = t.clone();
        forged.ticket.last_chunk = 99;
        assert_eq!(
            check(
                &forged.to_hex(),
                TicketOp::Upload,
                3,
                &alice,
                Some(50),
                50,
                &guard
            ),
            Err(TicketError::BadSignature)
        );
        assert_eq!(
            check(&wire, TicketOp::Upload, 3, &alice, Some(0), 100, &guard),
            Err(TicketError::Expired)
        );
    }

    #[test]
    fn a_download_ticket_reads_each_chunk_once() {
        let alice = dev::alice().public_key().0;
        let guard = ReplayGuard::default();
        let wire = signed(TicketOp::Download, 100, 2).to_hex();
        assert!(check(&wire, TicketOp::Download, 3, &alice, Some(4), 10, &guard).is_ok());
        assert!(check(&wire, TicketOp::Download, 3, &alice, Some(5), 10, &guard).is_ok());
        assert_eq!(
            check(&wire, TicketOp::Download, 3, &alice, Some(4), 11, &guard),
            Err(TicketError::Replayed)
        );
        // Upload tickets may be reused (uploads resume; chunks are verified).
        let up = signed(TicketOp::Upload, 100, 3).to_hex();
        assert!(check(&up, TicketOp::Upload, 3, &alice, Some(4), 10, &guard).is_ok());
        assert!(check(&up, TicketOp::Upload, 3, &alice, Some(4), 10, &guard).is_ok());
    }

    #[test]
    fn expired_uses_are_forgotten() {
        let guard = ReplayGuard::default();
        let t = signed(TicketOp::Download, 100, 4);
        guard.first_use(&t, Some(0), 10).unwrap();
        assert_eq!(guard.len(), 1);
        guard
            .first_use(&signed(TicketOp::Download, 500, 5), Some(0), 101)
            .unwrap();
        assert_eq!(guard.len(), 1);
    }
}
