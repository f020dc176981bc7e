//! Checking the tickets Senders (and Receivers) sign (format:
//! `masp_primitives::ticket`).
//!
//! A ticket is signed for one chain (its genesis hash is in the signed
//! payload): the host checks signatures against the chain it serves, which
//! it learns from its node at startup and records in its index, so a data
//! dir never serves two chains. The download uses of tickets are recorded
//! in the index too ([`ReplayLog`]), so a restart does not open used links
//! again.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, OnceLock},
};

use codec::{Decode, Encode};
use masp_primitives::{
    market::ContractId,
    ticket::{SignedTicket, Ticket, TicketError, TicketOp},
};
use subxt_signer::sr25519;

use crate::store::StoreError;

/// Verifies a ticket's sr25519 signature by `signer`, for the chain whose
/// genesis hash is `genesis`.
pub fn signature_ok(t: &SignedTicket, genesis: &[u8; 32]) -> bool {
    sr25519::verify(
        &sr25519::Signature(t.signature),
        t.ticket.signing_payload(genesis),
        &sr25519::PublicKey(t.signer),
    )
}

/// A link issued to another account ([`SignedTicket::needs_claim`]) is
/// served only with `claim`: its Receiver's sr25519 signature (64 bytes in
/// hex) of [`SignedTicket::claim_payload`] for the chain whose genesis hash
/// is `genesis`. Every other ticket passes.
pub fn check_claim(
    t: &SignedTicket,
    claim: Option<&str>,
    genesis: &[u8; 32],
) -> Result<(), TicketError> {
    if !t.needs_claim() {
        return Ok(());
    }
    let claim = claim.ok_or(TicketError::Unclaimed)?;
    let mut signature = [0u8; 64];
    hex::decode_to_slice(claim, &mut signature).map_err(|_| TicketError::BadClaim)?;
    if sr25519::verify(
        &sr25519::Signature(signature),
        t.claim_payload(genesis),
        &sr25519::PublicKey(t.ticket.receiver),
    ) {
        Ok(())
    } else {
        Err(TicketError::BadClaim)
    }
}

/// One entry of a [`ReplayLog`]: key and value bytes.
pub type LogEntry = (Vec<u8>, Vec<u8>);

/// Where the replay record and the chain a host serves are kept across
/// restarts (the daemon's redb index: [`crate::store::DiskStore`]).
/// Entries are opaque bytes to the store.
pub trait ReplayLog: Send + Sync + 'static {
    /// Every download use recorded: (key, value) as [`ReplayLog::save_uses`]
    /// wrote them.
    fn load_uses(&self) -> Result<Vec<LogEntry>, StoreError>;
    /// Writes (or replaces) `put` and removes `gone`, in one durable commit.
    fn save_uses(&self, put: &[LogEntry], gone: &[Vec<u8>]) -> Result<(), StoreError>;

    /// The genesis hash of the chain this data dir serves, once recorded.
    fn chain(&self) -> Result<Option<[u8; 32]>, StoreError>;
    /// Records the chain this data dir serves (durably).
    fn set_chain(&self, genesis: [u8; 32]) -> Result<(), StoreError>;
}

/// The node the host follows is on another chain than the one its data dir
/// (or this process) serves.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Another chain.
    #[error(
        "the node is on chain 0x{} but this host serves chain 0x{}: use a node of \
         that chain, or another data dir",
        hex::encode(.node),
        hex::encode(.serving)
    )]
    OtherChain {
        /// The node's genesis hash.
        node: [u8; 32],
        /// The genesis hash the host serves.
        serving: [u8; 32],
    },
    /// The record could not be read or written.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// What a ticket is used on: a chunk, the Sender's manifest, or a listing
/// manifest. Part of a read's replay record; its SCALE form extends that
/// of `Option<u32>` (`None` = the manifest, `Some(i)` = chunk `i`), the
/// form records were written in before listing manifests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum Object {
    /// The Sender's sealed manifest.
    #[codec(index = 0)]
    Manifest,
    /// Chunk `index`.
    #[codec(index = 1)]
    Chunk(u32),
    /// A listing manifest, by the first 8 bytes of its hash (a Receive
    /// ticket names one listing, so one manifest; a Sender's download
    /// ticket may read each of its contract's listing manifests once).
    #[codec(index = 2)]
    ListingManifest([u8; 8]),
}

impl Object {
    /// The listing manifest whose BLAKE2b-256 is `hash`.
    pub fn listing_manifest(hash: &[u8; 32]) -> Self {
        let mut prefix = [0; 8];
        prefix.copy_from_slice(&hash[..8]);
        Self::ListingManifest(prefix)
    }
}

impl Object {
    /// The chunk it is, if any (what a ticket's range covers).
    pub fn chunk(self) -> Option<u32> {
        match self {
            Self::Chunk(i) => Some(i),
            _ => None,
        }
    }
}

impl From<Option<u32>> for Object {
    /// `None`: the manifest; `Some(i)`: chunk `i`.
    fn from(chunk: Option<u32>) -> Self {
        chunk.map_or(Self::Manifest, Self::Chunk)
    }
}

/// What a request accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accept {
    /// Exactly this operation.
    Op(TicketOp),
    /// A read: the Sender's [`TicketOp::Download`], or a Receiver's
    /// [`TicketOp::Receive`] for any listing (the caller then asks the chain
    /// about that listing: [`crate::listings::ReceiverGate`]).
    Read,
}

/// Every check a host makes on a ticket presented for `op` on `chunk` of
/// `contract` (bytes `range.0..range.1` of it), whose Sender is `sender`, at
/// `now` (Unix seconds): [`verify`], then for reads the replay record. Reads
/// are recorded in `seen` so each byte of a chunk is served at most once per
/// ticket nonce: a range request may read the parts of a chunk one by one,
/// never the same byte twice.
#[allow(clippy::too_many_arguments)]
pub fn check(
    wire: &str,
    op: TicketOp,
    contract: ContractId,
    sender: &[u8; 32],
    chunk: impl Into<Object>,
    range: (u64, u64),
    now: u64,
    seen: &ReplayGuard,
) -> Result<SignedTicket, TicketError> {
    let object = chunk.into();
    let t = verify(wire, Accept::Op(op), contract, sender, object, now, seen)?;
    if op.is_read() {
        seen.first_use(&t, object, range, now)?;
    }
    Ok(t)
}

/// A ticket's checks but the replay record (a read's caller records the use
/// with [`ReplayGuard::first_use`] once everything else allowed it): the
/// signer (the contract's Sender, or for a Receiver's ticket the Receiver it
/// names), the operation, the contract, the chunk range, the expiry, then
/// the signature for the chain this host serves.
pub fn verify(
    wire: &str,
    accept: Accept,
    contract: ContractId,
    sender: &[u8; 32],
    object: Object,
    now: u64,
    seen: &ReplayGuard,
) -> Result<SignedTicket, TicketError> {
    let t = SignedTicket::from_hex(wire)?;
    let op = match (accept, t.ticket.op) {
        (Accept::Op(op), _) => op,
        (Accept::Read, op @ TicketOp::Receive { .. }) => op,
        // An upload ticket on a read: refused below (after the signer, so
        // a stranger learns no more than before).
        (Accept::Read, _) => TicketOp::Download,
    };
    match op {
        TicketOp::Receive { .. } if t.signer != t.ticket.receiver => {
            return Err(TicketError::NotReceiver)
        }
        TicketOp::Receive { .. } => {}
        TicketOp::Upload | TicketOp::Download if &t.signer != sender => {
            return Err(TicketError::WrongSigner)
        }
        TicketOp::Upload | TicketOp::Download => {}
    }
    t.ticket.check(op, contract, object.chunk(), now)?;
    let genesis = seen.genesis().ok_or(TicketError::Unavailable)?;
    // A ticket covering many chunks is verified once (its signature is
    // remembered until it expires).
    if !seen.known_good(&t, now) {
        if !signature_ok(&t, &genesis) {
            return Err(TicketError::BadSignature);
        }
        seen.remember_good(&t, now);
    }
    Ok(t)
}

/// The ticket checker's state: the chain tickets must be signed for, the
/// download tickets used so far (kept until they expire) and the
/// signatures already verified.
///
/// With a [`ReplayLog`] ([`ReplayGuard::open`]) the recorded uses are
/// written to it in one durable commit a second (and when the server stops
/// or the guard drops), so a restart does not open a used link again (a
/// crash of the daemon forgets at most the last second's uses). `Default`
/// keeps uses in memory only and serves no chain until
/// [`ReplayGuard::bind_chain`].
#[derive(Default)]
pub struct ReplayGuard {
    inner: Mutex<Seen>,
    genesis: OnceLock<[u8; 32]>,
    log: Option<Arc<dyn ReplayLog>>,
}

impl Drop for ReplayGuard {
    fn drop(&mut self) {
        self.flush();
    }
}

/// What a read ticket was used for: its signer, contract and nonce, and
/// the object read.
type Use = ([u8; 32], ContractId, [u8; 16], Object);

/// Entries kept at most (each kind; for uses, byte ranges); beyond, the
/// oldest expiries go first.
const MAX_ENTRIES: usize = 1 << 20;

/// Separate ranges one ticket may read of one chunk (a client reading a
/// chunk in parts needs a few, and consecutive parts merge into one;
/// beyond this, it asks for a new ticket).
pub const MAX_RANGES_PER_CHUNK: usize = 64;

/// The byte ranges served of one chunk by one ticket, and until when the
/// record is needed.
#[derive(Default)]
struct Served {
    expires: u64,
    /// Sorted, disjoint, and never adjacent (adjacent ranges merge).
    ranges: Vec<(u64, u64)>,
}

impl Served {
    /// Adds `start..end`; `false` (and no change) if it overlaps a range
    /// served before or would be one range too many.
    fn insert(&mut self, start: u64, end: u64) -> bool {
        let at = self.ranges.partition_point(|&(_, b)| b <= start);
        // Ranges from `at` on end after `start` (ranges are end-exclusive).
        if self.ranges.get(at).is_some_and(|&(a, _)| a < end) {
            return false;
        }
        let joins_left = at > 0 && self.ranges[at - 1].1 == start;
        let joins_right = self.ranges.get(at).is_some_and(|&(a, _)| a == end);
        match (joins_left, joins_right) {
            (true, true) => {
                self.ranges[at - 1].1 = self.ranges[at].1;
                self.ranges.remove(at);
            }
            (true, false) => self.ranges[at - 1].1 = end,
            (false, true) => self.ranges[at].0 = start,
            (false, false) => {
                if self.ranges.len() >= MAX_RANGES_PER_CHUNK {
                    return false;
                }
                self.ranges.insert(at, (start, end));
            }
        }
        true
    }

    /// Takes `start..end` out again (it was inserted and not served).
    fn remove(&mut self, start: u64, end: u64) {
        let mut kept = Vec::with_capacity(self.ranges.len() + 1);
        for &(a, b) in &self.ranges {
            if b <= start || end <= a {
                kept.push((a, b));
                continue;
            }
            if a < start {
                kept.push((a, start));
            }
            if end < b {
                kept.push((end, b));
            }
        }
        self.ranges = kept;
    }
}

#[derive(Default)]
struct Seen {
    /// The byte ranges served of each (signer, contract, nonce, object).
    used: HashMap<Use, Served>,
    used_by_expiry: BTreeMap<u64, Vec<Use>>,
    /// Ranges held in `used` (what its memory grows with).
    ranges: usize,
    /// Signatures already verified (the signature covers the whole ticket,
    /// and the signer is checked against the contract's Sender, or a
    /// Receiver's ticket against the Receiver it names, before this cache
    /// is consulted), with the ticket's expiry.
    good: HashMap<[u8; 64], (Ticket, [u8; 32])>,
    good_by_expiry: BTreeMap<u64, Vec<[u8; 64]>>,
    /// Uses changed, and forgotten, since the last flush to the log.
    changed: std::collections::HashSet<Use>,
    gone: std::collections::HashSet<Use>,
}

impl Seen {
    /// Forgets the download uses whose tickets have expired (they are
    /// refused as expired anyway; a key re-filed under a later expiry
    /// stays), then the earliest-expiring while more than `MAX_ENTRIES`
    /// ranges are held; the keys forgotten.
    fn forget_used(&mut self, now: u64) -> Vec<Use> {
        let mut gone = Vec::new();
        let live = self.used_by_expiry.split_off(&now.saturating_add(1));
        for key in std::mem::replace(&mut self.used_by_expiry, live)
            .into_values()
            .flatten()
        {
            if self.used.get(&key).is_some_and(|s| s.expires <= now) && self.drop_use(&key) {
                gone.push(key);
            }
        }
        while self.ranges > MAX_ENTRIES {
            let Some((_, keys)) = self.used_by_expiry.pop_first() else {
                break;
            };
            for key in keys {
                if self.drop_use(&key) {
                    gone.push(key);
                }
            }
        }
        gone
    }

    fn drop_use(&mut self, key: &Use) -> bool {
        match self.used.remove(key) {
            Some(s) => {
                self.ranges = self.ranges.saturating_sub(s.ranges.len());
                true
            }
            None => false,
        }
    }

    /// Files a use (loaded or changed) under its expiry.
    fn file(&mut self, key: Use, expires: u64, ranges: Vec<(u64, u64)>) {
        let served = self.used.entry(key).or_default();
        let before = served.ranges.len();
        served.ranges = ranges;
        self.ranges = (self.ranges + served.ranges.len()).saturating_sub(before);
        if served.expires < expires {
            served.expires = expires;
            self.used_by_expiry.entry(expires).or_default().push(key);
        }
    }

    /// The log entry of `key` as it is now.
    fn entry(&self, key: &Use) -> (Vec<u8>, Vec<u8>) {
        let value = self
            .used
            .get(key)
            .map(|s| (s.expires, s.ranges.clone()))
            .unwrap_or_default();
        (key.encode(), value.encode())
    }
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

fn use_of(t: &SignedTicket, object: Object) -> Use {
    (t.signer, t.ticket.contract, t.ticket.nonce, object)
}

impl ReplayGuard {
    /// A guard for the chain whose genesis hash is `genesis`, keeping its
    /// record in memory only (tests, tools).
    pub fn in_memory(genesis: [u8; 32]) -> Self {
        let guard = Self::default();
        let _ = guard.genesis.set(genesis);
        guard
    }

    /// A guard whose record is `log`'s: the uses recorded before (the
    /// expired ones are dropped from it) and the chain it serves, if known.
    pub fn open(log: Arc<dyn ReplayLog>, now: u64) -> Result<Self, StoreError> {
        let mut seen = Seen::default();
        let mut gone = Vec::new();
        for (k, v) in log.load_uses()? {
            let decoded = <Use as Decode>::decode(&mut &k[..])
                .ok()
                .zip(<(u64, Vec<(u64, u64)>)>::decode(&mut &v[..]).ok());
            match decoded {
                Some((key, (expires, ranges)))
                    if expires > now && ranges.len() <= MAX_RANGES_PER_CHUNK =>
                {
                    seen.file(key, expires, ranges)
                }
                _ => gone.push(k),
            }
        }
        // Beyond the bound (a log written with a larger one): the
        // earliest-expiring go.
        gone.extend(seen.forget_used(now).iter().map(Encode::encode));
        if !gone.is_empty() {
            log.save_uses(&[], &gone)?;
        }
        let genesis = OnceLock::new();
        if let Some(g) = log.chain()? {
            let _ = genesis.set(g);
        }
        Ok(Self {
            inner: Mutex::new(seen),
            genesis,
            log: Some(log),
        })
    }

    /// The genesis hash of the chain tickets must be signed for; `None`
    /// until known (tickets are then refused as
    /// [`TicketError::Unavailable`]).
    pub fn genesis(&self) -> Option<[u8; 32]> {
        self.genesis.get().copied()
    }

    /// Sets the chain tickets must be signed for (the node's genesis hash),
    /// recording it in the log; refuses a chain other than the one already
    /// served.
    pub fn bind_chain(&self, genesis: [u8; 32]) -> Result<(), BindError> {
        let serving = *self.genesis.get_or_init(|| genesis);
        if serving != genesis {
            return Err(BindError::OtherChain {
                node: genesis,
                serving,
            });
        }
        if let Some(log) = &self.log {
            match log.chain()? {
                Some(g) if g != genesis => {
                    return Err(BindError::OtherChain {
                        node: genesis,
                        serving: g,
                    })
                }
                Some(_) => {}
                None => log.set_chain(genesis)?,
            }
        }
        Ok(())
    }

    /// Records that `t` served bytes `range.0..range.1` of `object` (a
    /// chunk: `Some(index)`; the manifest: `None`; or an [`Object`]);
    /// refuses a range that overlaps one served before (or one range too
    /// many). With a log, the use is written to it at the next
    /// [`ReplayGuard::flush`] (within a second).
    pub fn first_use(
        &self,
        t: &SignedTicket,
        object: impl Into<Object>,
        range: (u64, u64),
        now: u64,
    ) -> Result<(), TicketError> {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let seen = &mut *guard;
        let gone = seen.forget_used(now);
        let key = use_of(t, object.into());
        let (start, end) = (range.0, range.1.max(range.0.saturating_add(1)));
        let served = seen.used.entry(key).or_default();
        let before = served.ranges.len();
        if !served.insert(start, end) {
            self.save(seen, &[], &gone);
            return Err(TicketError::Replayed);
        }
        seen.ranges = (seen.ranges + served.ranges.len()).saturating_sub(before);
        if served.expires < t.ticket.expires {
            served.expires = t.ticket.expires;
            seen.used_by_expiry
                .entry(t.ticket.expires)
                .or_default()
                .push(key);
        }
        if !self.save(seen, &[key], &gone) {
            if let Some(served) = seen.used.get_mut(&key) {
                let before = served.ranges.len();
                served.remove(start, end);
                seen.ranges = (seen.ranges + served.ranges.len()).saturating_sub(before);
            }
            return Err(TicketError::Unavailable);
        }
        Ok(())
    }

    /// Files `changed` and `gone` for the next [`ReplayGuard::flush`] to
    /// write to the log, if there is one; whether that worked (always).
    fn save(&self, seen: &mut Seen, changed: &[Use], gone: &[Use]) -> bool {
        if self.log.is_none() {
            return true;
        }
        for k in gone {
            seen.changed.remove(k);
            seen.gone.insert(*k);
        }
        for k in changed {
            seen.gone.remove(k);
            seen.changed.insert(*k);
        }
        true
    }

    /// Writes the uses recorded since the last flush to the log in one
    /// durable commit (the server calls it every second and when it stops,
    /// and so does dropping the guard; blocking: call it off the async
    /// threads). A crash of the daemon loses at most the last second's
    /// uses; a restart loses none. If the write fails, it is retried on the
    /// next flush.
    pub fn flush(&self) {
        let Some(log) = &self.log else { return };
        let (put, gone, keys) = {
            let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let seen = &mut *guard;
            if seen.changed.is_empty() && seen.gone.is_empty() {
                return;
            }
            let changed = std::mem::take(&mut seen.changed);
            let gone = std::mem::take(&mut seen.gone);
            let put: Vec<_> = changed.iter().map(|k| seen.entry(k)).collect();
            let enc: Vec<_> = gone.iter().map(Encode::encode).collect();
            (put, enc, (changed, gone))
        };
        if let Err(e) = log.save_uses(&put, &gone) {
            tracing::error!(error = %e, "cannot write the ticket record; retrying");
            let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let (changed, gone) = keys;
            for k in gone {
                if !guard.changed.contains(&k) {
                    guard.gone.insert(k);
                }
            }
            for k in changed {
                if !guard.gone.contains(&k) {
                    guard.changed.insert(k);
                }
            }
        }
    }

    /// Takes back a use recorded by [`ReplayGuard::first_use`] whose bytes
    /// could not be served after all (a disk error), so the link still works.
    pub fn release(&self, t: &SignedTicket, object: impl Into<Object>, range: (u64, u64)) {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let seen = &mut *guard;
        let end = range.1.max(range.0.saturating_add(1));
        let key = use_of(t, object.into());
        if let Some(served) = seen.used.get_mut(&key) {
            let before = served.ranges.len();
            served.remove(range.0, end);
            seen.ranges = (seen.ranges + served.ranges.len()).saturating_sub(before);
            // Best effort: if this write fails the link stays spent.
            self.save(seen, &[key], &[]);
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

    /// Download uses remembered (ticket and chunk pairs).
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

    const GENESIS: [u8; 32] = [0x47; 32];

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
        let signature = alice.sign(&ticket.signing_payload(&GENESIS)).0;
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
        let guard = ReplayGuard::in_memory(GENESIS);
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
        let guard = ReplayGuard::in_memory(GENESIS);
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

    /// A Receiver's ticket for listing 4, signed by `signer`, naming
    /// `receiver`.
    fn receive(signer: &sr25519::Keypair, receiver: [u8; 32], nonce: u8) -> SignedTicket {
        let ticket = Ticket {
            op: TicketOp::Receive { listing: 4 },
            contract: 3,
            first_chunk: 0,
            last_chunk: 9,
            receiver,
            expires: 100,
            nonce: [nonce; 16],
        };
        let signature = signer.sign(&ticket.signing_payload(&GENESIS)).0;
        SignedTicket {
            ticket,
            signer: signer.public_key().0,
            signature,
        }
    }

    #[test]
    fn a_receivers_ticket_is_signed_by_its_receiver_and_read_once() {
        let alice = dev::alice().public_key().0;
        let bob = dev::bob();
        let guard = ReplayGuard::in_memory(GENESIS);
        let read = |t: &SignedTicket, object: Object| {
            verify(&t.to_hex(), Accept::Read, 3, &alice, object, 50, &guard)
        };
        // Bob's own ticket: a read, though Bob is not the Sender.
        let own = receive(&bob, bob.public_key().0, 1);
        assert_eq!(read(&own, Object::Chunk(2)), Ok(own.clone()));
        assert_eq!(
            read(&own, Object::listing_manifest(&[7; 32])),
            Ok(own.clone())
        );
        // Signed by Bob for Charlie: refused, whoever it names.
        let other = receive(&bob, dev::charlie().public_key().0, 2);
        assert_eq!(
            read(&other, Object::Chunk(2)),
            Err(TicketError::NotReceiver)
        );
        // Claiming Charlie signed it: the signature does not verify.
        let mut forged = own.clone();
        forged.ticket.receiver = dev::charlie().public_key().0;
        forged.signer = forged.ticket.receiver;
        assert_eq!(
            read(&forged, Object::Chunk(2)),
            Err(TicketError::BadSignature)
        );
        // Not an upload, and not where a Download ticket is asked for.
        let wire = own.to_hex();
        assert_eq!(
            check(
                &wire,
                TicketOp::Upload,
                3,
                &alice,
                Some(2),
                (0, 0),
                50,
                &guard
            ),
            Err(TicketError::WrongSigner)
        );
        assert_eq!(
            check(
                &wire,
                TicketOp::Download,
                3,
                &alice,
                Some(2),
                (0, 0),
                50,
                &guard
            ),
            Err(TicketError::WrongSigner)
        );
        // Each byte once, as a Sender's download.
        let op = TicketOp::Receive { listing: 4 };
        assert!(check(&wire, op, 3, &alice, Some(2), (0, 10), 50, &guard).is_ok());
        assert_eq!(
            check(&wire, op, 3, &alice, Some(2), (5, 10), 50, &guard),
            Err(TicketError::Replayed)
        );
        assert_eq!(
            check(
                &wire,
                TicketOp::Receive { listing: 5 },
                3,
                &alice,
                Some(3),
                (0, 10),
                50,
                &guard
            ),
            Err(TicketError::WrongOp)
        );
        // The Sender's upload ticket reads nothing.
        let up = signed(TicketOp::Upload, 100, 3);
        assert_eq!(read(&up, Object::Chunk(2)), Err(TicketError::WrongOp));
    }

    #[test]
    fn objects_keep_the_record_format_of_chunk_options() {
        assert_eq!(Object::Manifest.encode(), None::<u32>.encode());
        assert_eq!(Object::Chunk(7).encode(), Some(7u32).encode());
        assert_eq!(Object::from(Some(7)), Object::Chunk(7));
        let old: Use = ([1; 32], 2, [3; 16], Object::Chunk(9));
        let written = ([1u8; 32], 2u64, [3u8; 16], Some(9u32)).encode();
        assert_eq!(<Use as Decode>::decode(&mut &written[..]).unwrap(), old);
        assert_ne!(
            Object::listing_manifest(&[0; 32]).encode(),
            Object::Manifest.encode()
        );
    }

    #[test]
    fn a_chunk_read_in_tiny_scattered_ranges_runs_out_and_a_released_range_reads_again() {
        let guard = ReplayGuard::in_memory(GENESIS);
        let t = signed(TicketOp::Download, 100, 6);
        // Ranges with gaps between them (consecutive ones would merge).
        for i in 0..MAX_RANGES_PER_CHUNK as u64 {
            guard
                .first_use(&t, Some(1), (2 * i, 2 * i + 1), 10)
                .unwrap();
        }
        let next = (1000, 1001);
        assert_eq!(
            guard.first_use(&t, Some(1), next, 10),
            Err(TicketError::Replayed)
        );
        guard.release(&t, Some(1), (0, 1));
        guard.first_use(&t, Some(1), (0, 1), 10).unwrap();
    }

    #[test]
    fn consecutive_parts_merge_and_a_released_middle_reads_again() {
        let mut s = Served::default();
        for i in 0..200u64 {
            assert!(s.insert(i * 10, i * 10 + 10), "part {i}");
        }
        assert_eq!(
            s.ranges,
            vec![(0, 2000)],
            "a sequential reader holds one range"
        );
        assert!(!s.insert(1999, 2001));
        s.remove(500, 510);
        assert_eq!(s.ranges, vec![(0, 500), (510, 2000)]);
        assert!(s.insert(500, 510));
        assert_eq!(s.ranges, vec![(0, 2000)]);
        // Gaps count against the limit; filling one does not.
        let mut g = Served::default();
        for i in 0..MAX_RANGES_PER_CHUNK as u64 {
            assert!(g.insert(i * 10, i * 10 + 5));
        }
        assert!(!g.insert(10_000, 10_001));
        assert!(g.insert(5, 10), "joins two ranges");
    }

    #[test]
    fn another_senders_ticket_with_the_same_nonce_is_its_own() {
        let guard = ReplayGuard::in_memory(GENESIS);
        let alice = signed(TicketOp::Download, 100, 8);
        let mut bob = alice.clone();
        bob.signer = dev::bob().public_key().0;
        guard.first_use(&alice, Some(0), (0, 10), 10).unwrap();
        guard.first_use(&bob, Some(0), (0, 10), 10).unwrap();
        assert_eq!(
            guard.first_use(&alice, Some(0), (0, 10), 10),
            Err(TicketError::Replayed)
        );
    }

    #[test]
    fn a_later_ticket_with_the_same_nonce_keeps_the_record_alive() {
        let guard = ReplayGuard::in_memory(GENESIS);
        let early = signed(TicketOp::Download, 100, 9);
        let late = signed(TicketOp::Download, 500, 9);
        guard.first_use(&early, Some(0), (0, 10), 10).unwrap();
        guard.first_use(&late, Some(0), (10, 20), 10).unwrap();
        // After the first ticket expired, the second still may not replay.
        assert_eq!(
            guard.first_use(&late, Some(0), (0, 10), 200),
            Err(TicketError::Replayed)
        );
    }

    #[test]
    fn a_ticket_signed_for_another_chain_does_not_verify() {
        let alice = dev::alice().public_key().0;
        let t = signed(TicketOp::Download, 100, 10);
        let check_on = |guard: &ReplayGuard| {
            check(
                &t.to_hex(),
                TicketOp::Download,
                3,
                &alice,
                Some(0),
                (0, 10),
                50,
                guard,
            )
        };
        // A test net's ticket on another chain (same account, same ids).
        let other = ReplayGuard::in_memory([0x99; 32]);
        assert_eq!(check_on(&other), Err(TicketError::BadSignature));
        // A host that does not know its chain yet checks no ticket.
        let unbound = ReplayGuard::default();
        assert_eq!(check_on(&unbound), Err(TicketError::Unavailable));
        unbound.bind_chain(GENESIS).unwrap();
        assert!(check_on(&unbound).is_ok());
        assert!(unbound.bind_chain([0x99; 32]).is_err());
    }

    /// A log in memory; fails every write while `fail` is set.
    #[derive(Default)]
    struct MemLog {
        uses: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
        chain: Mutex<Option<[u8; 32]>>,
        fail: std::sync::atomic::AtomicBool,
    }

    impl ReplayLog for MemLog {
        fn load_uses(&self) -> Result<Vec<LogEntry>, StoreError> {
            Ok(self.uses.lock().unwrap().clone().into_iter().collect())
        }
        fn save_uses(&self, put: &[LogEntry], gone: &[Vec<u8>]) -> Result<(), StoreError> {
            if self.fail.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(std::io::Error::other("disk full").into());
            }
            let mut uses = self.uses.lock().unwrap();
            for k in gone {
                uses.remove(k);
            }
            for (k, v) in put {
                uses.insert(k.clone(), v.clone());
            }
            Ok(())
        }
        fn chain(&self) -> Result<Option<[u8; 32]>, StoreError> {
            Ok(*self.chain.lock().unwrap())
        }
        fn set_chain(&self, genesis: [u8; 32]) -> Result<(), StoreError> {
            *self.chain.lock().unwrap() = Some(genesis);
            Ok(())
        }
    }

    #[test]
    fn used_links_stay_used_across_a_restart_until_they_expire() {
        let log = Arc::new(MemLog::default());
        let t = signed(TicketOp::Download, 100, 11);
        let short = signed(TicketOp::Download, 30, 12);
        {
            let guard = ReplayGuard::open(log.clone(), 10).unwrap();
            assert_eq!(guard.genesis(), None);
            guard.bind_chain(GENESIS).unwrap();
            guard.first_use(&t, Some(0), (0, 10), 10).unwrap();
            guard.first_use(&t, Some(1), (0, 10), 10).unwrap();
            guard.first_use(&short, Some(0), (0, 10), 10).unwrap();
            // Given back: readable again after the restart too.
            guard.release(&t, Some(1), (0, 10));
            guard.flush();
        }
        // The restart: the chain is known at once, the uses are refused.
        let guard = ReplayGuard::open(log.clone(), 40).unwrap();
        assert_eq!(guard.genesis(), Some(GENESIS));
        assert_eq!(
            guard.first_use(&t, Some(0), (5, 6), 40),
            Err(TicketError::Replayed)
        );
        guard.first_use(&t, Some(0), (10, 20), 40).unwrap();
        guard.first_use(&t, Some(1), (0, 10), 40).unwrap();
        // The expired ticket's record was pruned from the log on open.
        assert_eq!(log.uses.lock().unwrap().len(), 2);
        // Another chain's node is refused for this data dir.
        let again = ReplayGuard::open(log.clone(), 40).unwrap();
        assert!(matches!(
            again.bind_chain([1; 32]),
            Err(BindError::OtherChain { .. })
        ));
        // A failed write is retried on the next flush.
        log.fail.store(true, std::sync::atomic::Ordering::Relaxed);
        guard.first_use(&t, Some(2), (0, 10), 40).unwrap();
        guard.flush();
        assert_eq!(log.uses.lock().unwrap().len(), 2);
        log.fail.store(false, std::sync::atomic::Ordering::Relaxed);
        guard.flush();
        assert_eq!(log.uses.lock().unwrap().len(), 3);
        // Dropping the guard (a stop) writes what is left.
        guard.first_use(&t, Some(3), (0, 10), 40).unwrap();
        drop(guard);
        assert_eq!(log.uses.lock().unwrap().len(), 4);
    }

    #[test]
    fn expired_uses_are_forgotten() {
        let guard = ReplayGuard::in_memory(GENESIS);
        let t = signed(TicketOp::Download, 100, 4);
        guard.first_use(&t, Some(0), (0, 10), 10).unwrap();
        assert_eq!(guard.len(), 1);
        guard
            .first_use(&signed(TicketOp::Download, 500, 5), Some(0), (0, 10), 101)
            .unwrap();
        assert_eq!(guard.len(), 1);
    }
}
