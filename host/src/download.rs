//! A download's rules, in one place: what a request's path names, the
//! parameters and headers that count, the contract, range, chunk, ticket
//! and payment checks, and the head of every answer. The daemon answers
//! downloads on two paths, the sendfile fast path ([`crate::fastpath`],
//! where every connection starts) and hyper's ([`crate::server`], a
//! connection's later requests); both are thin front ends over [`check`]
//! and [`Head`], so a download is answered the same (status, reason,
//! headers) whichever path it takes. Each front end only parses its
//! request and writes the answer its own way.
//!
//! Uploads (hyper's alone) use the same ticket rules ([`check_ticket`])
//! and contract lookup ([`contract`]).
//!
//! The state both front ends serve from ([`AppState`], with its
//! [`Clock`]) and a refusal ([`Refuse`]) live here too (the server
//! re-exports them).

use std::{
    fmt,
    fs::File,
    net::SocketAddr,
    sync::Arc,
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use http::{Method, StatusCode};
use masp_primitives::{
    market::ContractId,
    ticket::{SignedTicket, TicketError, TicketOp},
};

use crate::{
    egress::{Charge, Egress},
    listings::{Answered, Denied, ReceiverGate},
    metrics::Metrics,
    store::{ContractRecord, Store, StoreError},
    tickets::{self, Accept, Object, ReplayGuard},
};

/// Seconds a client has to send a whole request head (on either path).
pub const HEAD_TIMEOUT_SECS: u64 = 30;

/// Headers every answer carries so the web app (any origin: requests are
/// authorized by signed tickets in the URL, never by cookies) can read it
/// in the browser.
pub(crate) const CORS: [(&str, &str); 2] = [
    ("access-control-allow-origin", "*"),
    (
        "access-control-expose-headers",
        "content-length, content-range, accept-ranges",
    ),
];

/// The target refusals are logged under on either path (one access log:
/// `RUST_LOG=masp_host::server=...`).
const LOG_TARGET: &str = "masp_host::server";

/// The clock tickets are checked against.
pub trait Clock: Send + Sync + 'static {
    /// Unix seconds now.
    fn now(&self) -> u64;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// What the HTTP handlers share with the rest of the daemon.
pub struct AppState {
    /// The disk.
    pub store: Arc<dyn Store>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The ticket checker: the chain tickets are signed for, and the
    /// download tickets already used.
    pub replay: ReplayGuard,
    /// Whether a Receiver may read: the chain's answers about listings,
    /// kept a short while.
    pub receivers: ReceiverGate,
    /// What downloads cost, and what downloaders paid ([`Egress::free`]:
    /// nothing).
    pub egress: Arc<Egress>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Woken when a contract's data becomes complete (the follower confirms
    /// it on chain).
    pub complete: tokio::sync::Notify,
    /// The best block the follower has seen (health).
    pub best_block: std::sync::atomic::AtomicU32,
    /// When (clock seconds) the follower last heard from the chain; 0:
    /// never (health).
    pub chain_seen_at: std::sync::atomic::AtomicU64,
}

/// A refusal: status and reason.
#[derive(Debug)]
pub struct Refuse(pub StatusCode, pub String);

impl From<StoreError> for Refuse {
    fn from(e: StoreError) -> Self {
        tracing::error!(target: LOG_TARGET, error = %e, "store failed");
        Refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("host storage error: {e}"),
        )
    }
}

/// A refusal with `status` and `reason`, as an `Err`.
pub(crate) fn refuse<T>(status: StatusCode, reason: impl Into<String>) -> Result<T, Refuse> {
    Err(Refuse(status, reason.into()))
}

/// Logs a refusal (the access log of either path).
pub(crate) fn refused(
    peer: SocketAddr,
    method: &Method,
    route: &str,
    status: StatusCode,
    reason: &str,
) {
    tracing::info!(target: LOG_TARGET, %peer, %method, route, %status, %reason, "refused");
}

/// Counts a request in the metrics: by route and status, and its latency.
pub(crate) fn observe(state: &AppState, route: &str, status: StatusCode, started: Instant) {
    state
        .metrics
        .requests
        .with_label_values(&[route, status.as_str()])
        .inc();
    state
        .metrics
        .latency
        .with_label_values(&[route])
        .observe(started.elapsed().as_secs_f64());
}

/// Runs a blocking store call off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Refuse> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(Refuse::from),
        Err(e) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("task failed: {e}"),
        ),
    }
}

/// What a request's path names of a contract: a chunk, its sealed
/// manifest, or a listing manifest kept for it. Downloaded (`GET`) on
/// either path; uploaded (`PUT`) through hyper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// `/v1/contracts/{id}/chunks/{index}`.
    Chunk(ContractId, u32),
    /// `/v1/contracts/{id}/manifest` (read whole: a Range is ignored).
    Manifest(ContractId),
    /// `/v1/contracts/{id}/listing-manifests/{hash}`, by the hash of its
    /// sealed bytes (read whole).
    ListingManifest(ContractId, [u8; 32]),
}

impl Target {
    /// The target `path` names (no query), if any.
    pub(crate) fn parse(path: &str) -> Option<Target> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        Self::from_parts(&parts)
    }

    /// The target a path split at its slashes (the leading and trailing
    /// ones trimmed first) names, if any.
    pub(crate) fn from_parts(parts: &[&str]) -> Option<Target> {
        match parts {
            ["v1", "contracts", id, "manifest"] => Some(Target::Manifest(id.parse().ok()?)),
            ["v1", "contracts", id, "chunks", i] => {
                Some(Target::Chunk(id.parse().ok()?, i.parse().ok()?))
            }
            ["v1", "contracts", id, "listing-manifests", hash] => {
                let mut h = [0u8; 32];
                hex::decode_to_slice(hash, &mut h).ok()?;
                Some(Target::ListingManifest(id.parse().ok()?, h))
            }
            _ => None,
        }
    }

    /// Its route's name in the metrics and the access log.
    pub(crate) fn route(&self) -> &'static str {
        match self {
            Target::Chunk(..) => "chunk",
            Target::Manifest(_) => "manifest",
            Target::ListingManifest(..) => "listing_manifest",
        }
    }
}

/// The `ticket` parameter of a query string.
pub(crate) fn ticket_in(query: Option<&str>) -> Option<&str> {
    param_in(query, "ticket")
}

/// The `claim` parameter of a query string (a Receiver's claim of a link
/// issued to it).
pub(crate) fn claim_in(query: Option<&str>) -> Option<&str> {
    param_in(query, "claim")
}

/// The `receipt` parameter of a query string.
pub(crate) fn receipt_in(query: Option<&str>) -> Option<&str> {
    param_in(query, "receipt")
}

/// The first `name=` parameter of a query string (the query as the
/// request target has it, without a fragment: `http::uri::PathAndQuery`
/// drops one on either path).
fn param_in<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|kv| {
        kv.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('='))
    })
}

/// What a download request carries besides its [`Target`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ask<'a> {
    /// The signed ticket (`?ticket=`, hex).
    pub ticket: Option<&'a str>,
    /// A Receiver's claim of a link issued to it (`?claim=`).
    pub claim: Option<&'a str>,
    /// An egress receipt (`?receipt=`), paying for a chunk.
    pub receipt: Option<&'a str>,
    /// The first `Range` header's value (a chunk's; ignored for the
    /// manifests).
    pub range: Option<&'a str>,
}

impl<'a> Ask<'a> {
    /// The parameters in `query`, and `range`.
    pub(crate) fn new(query: Option<&'a str>, range: Option<&'a str>) -> Self {
        Self {
            ticket: ticket_in(query),
            claim: claim_in(query),
            receipt: receipt_in(query),
            range,
        }
    }
}

/// A contract found (`found`: the index's answer for `id`) that has not
/// ended: 404 when it is not matched to this host, 410 when it has ended.
fn live(id: ContractId, found: Option<ContractRecord>) -> Result<ContractRecord, Refuse> {
    match found {
        Some(c) if c.ended_at.is_none() => Ok(c),
        Some(_) => refuse(StatusCode::GONE, format!("contract {id} has ended")),
        None => refuse(
            StatusCode::NOT_FOUND,
            format!("contract {id} is not (yet) matched to this host"),
        ),
    }
}

/// Contract `id`, looked up in the blocking pool, if it is matched to this
/// host and has not ended (else 404 or 410).
pub(crate) async fn contract(state: &AppState, id: ContractId) -> Result<ContractRecord, Refuse> {
    let store = state.store.clone();
    live(id, blocking(move || store.contract(id)).await?)
}

/// Checks a ticket presented for `op` on contract `id` (`c`), on `chunk`
/// (`None`: the manifest or the whole contract) and its bytes `range`:
/// the signature, signer, operation, chunks and expiry; for a read, the
/// Receiver's claim of a link issued to it, then the ticket's use of these
/// bytes is recorded (the caller gives it back if it then cannot serve
/// them).
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_ticket(
    state: &AppState,
    wire: Option<&str>,
    claim: Option<&str>,
    op: TicketOp,
    id: ContractId,
    c: &ContractRecord,
    chunk: Option<u32>,
    range: (u64, u64),
) -> Result<SignedTicket, Refuse> {
    let Some(wire) = wire else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "a signed ticket is required (?ticket=)",
        );
    };
    let now = state.clock.now();
    let object: Object = chunk.into();
    let t = tickets::verify(
        wire,
        Accept::Op(op),
        id,
        &c.sender,
        object,
        now,
        &state.replay,
    )
    .map_err(ticket_refused)?;
    if op.is_read() {
        claim_and_use(state, &t, claim, object, range, now)?;
    }
    Ok(t)
}

/// The last checks of a read's ticket, after everything else allowed it:
/// a link's claim (a link issued to a Receiver is that Receiver's), then
/// its use of `object`'s bytes `range`, recorded once.
fn claim_and_use(
    state: &AppState,
    t: &SignedTicket,
    claim: Option<&str>,
    object: Object,
    range: (u64, u64),
    now: u64,
) -> Result<(), Refuse> {
    let genesis = state.replay.genesis().ok_or(TicketError::Unavailable);
    genesis
        .and_then(|g| tickets::check_claim(t, claim, &g))
        .map_err(ticket_refused)?;
    state
        .replay
        .first_use(t, object, range, now)
        .map_err(ticket_refused)
}

/// A refused ticket's answer.
fn ticket_refused(e: TicketError) -> Refuse {
    let status = match e {
        TicketError::Malformed => StatusCode::BAD_REQUEST,
        TicketError::BadSignature | TicketError::WrongSigner | TicketError::NotReceiver => {
            StatusCode::UNAUTHORIZED
        }
        TicketError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::FORBIDDEN,
    };
    Refuse(status, e.reason().to_string())
}

/// A refused Receiver's answer.
fn receiver_refused(e: Denied) -> Refuse {
    let status = match e {
        Denied::NoListing(_) => StatusCode::NOT_FOUND,
        Denied::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        Denied::OtherContract { .. }
        | Denied::OtherSender { .. }
        | Denied::OtherManifest { .. }
        | Denied::NoAccess { .. } => StatusCode::FORBIDDEN,
    };
    Refuse(status, e.to_string())
}

/// A read's ticket, checked whole: the contract's Sender's download
/// ticket, or a Receiver's own ticket for a listing the chain shows it may
/// read (`manifest`: the listing manifest asked for). Its use of `object`'s
/// bytes `range` is recorded last, once everything else allowed it (the
/// caller gives it back if it then cannot serve them).
#[allow(clippy::too_many_arguments)]
async fn read_ticket(
    state: &AppState,
    wire: Option<&str>,
    claim: Option<&str>,
    id: ContractId,
    c: &ContractRecord,
    object: Object,
    manifest: Option<&[u8; 32]>,
    range: (u64, u64),
) -> Result<SignedTicket, Refuse> {
    let Some(wire) = wire else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "a signed ticket is required (?ticket=)",
        );
    };
    let now = state.clock.now();
    let t = tickets::verify(
        wire,
        Accept::Read,
        id,
        &c.sender,
        object,
        now,
        &state.replay,
    )
    .map_err(ticket_refused)?;
    if let TicketOp::Receive { listing } = t.ticket.op {
        let answer = state
            .receivers
            .check(listing, t.signer, id, &c.sender, manifest)
            .await;
        let result = match &answer {
            Ok(Answered::Cache) => "cache",
            Ok(Answered::Chain) => "chain",
            Err(Denied::Unavailable { .. }) => "unavailable",
            Err(_) => "refused",
        };
        state
            .metrics
            .receiver_checks
            .with_label_values(&[result])
            .inc();
        answer.map_err(receiver_refused)?;
    }
    claim_and_use(state, &t, claim, object, range, now)?;
    Ok(t)
}

/// Who pays for a read with `t`: its signer, or for a link issued to a
/// Receiver, the Receiver who claimed it (a Sender's link does not spend
/// the Sender's allowance).
fn payer(t: &SignedTicket) -> [u8; 32] {
    if t.needs_claim() {
        t.ticket.receiver
    } else {
        t.signer
    }
}

/// Whether `t` is a Receiver's own ticket, or a link issued to a Receiver
/// (its bytes are counted apart).
fn is_receiver(t: &SignedTicket) -> bool {
    matches!(t.ticket.op, TicketOp::Receive { .. }) || t.needs_claim()
}

/// Parses a single `bytes=a-b` range over `len` bytes: bytes `start..end`,
/// or `None` when it is not one range within them (416).
pub(crate) fn parse_range(value: &str, len: u64) -> Option<(u64, u64)> {
    let spec = value.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.is_empty() {
        let suffix: u64 = b.parse().ok()?;
        (len.saturating_sub(suffix), len)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            len
        } else {
            b.parse::<u64>().ok()?.saturating_add(1).min(len)
        };
        (start, end)
    };
    (start < end).then_some((start, end))
}

/// How a checked download is answered.
pub(crate) enum Answer {
    /// Bytes of a chunk: the front end sends them from the page cache
    /// ([`Serve::resident`]) or reads them ([`Serve::read`]).
    Chunk(Serve),
    /// A manifest or listing manifest, read whole (200).
    Whole(Bytes),
    /// The range asked for is not within the chunk's `len` bytes (416, see
    /// [`Head::unsatisfiable`] and [`UNSATISFIABLE`]).
    Unsatisfiable(u64),
}

/// The body of a 416 answer (a line, see [`line`]).
pub(crate) const UNSATISFIABLE: &str = "range not satisfiable";

/// A chunk download allowed: bytes `start..end` of chunk `index` of
/// contract `id`, `len` bytes long.
pub(crate) struct Serve {
    id: ContractId,
    index: u32,
    /// The first byte served.
    pub start: u64,
    /// One past the last byte served.
    pub end: u64,
    len: u64,
    /// A Range asked for them (206), else the whole chunk (200).
    ranged: bool,
    /// The link whose use of these bytes is now recorded (a Receiver's
    /// own, or the Sender's).
    ticket: Box<SignedTicket>,
    /// What the ticket's signer was charged for these bytes (`None`: the
    /// host charges nothing), given back if they cannot be read.
    charge: Option<Charge>,
}

impl Serve {
    /// The answer's head: 200 or 206 with its Content-Range.
    pub(crate) fn head(&self) -> Head {
        Head {
            status: if self.ranged {
                StatusCode::PARTIAL_CONTENT
            } else {
                StatusCode::OK
            },
            content_type: OCTET_STREAM,
            accept_ranges: true,
            content_range: self.ranged.then_some(ContentRange::Bytes {
                start: self.start,
                end: self.end,
                len: self.len,
            }),
        }
    }

    /// The chunk file, open, when all the bytes are in the page cache now
    /// (to send with sendfile(2)); `None` when they must be read. A store
    /// failure gives back what the download took.
    #[cfg(target_os = "linux")]
    pub(crate) async fn resident(&self, state: &AppState) -> Result<Option<File>, Refuse> {
        let found = state
            .store
            .resident_file(self.id, self.index, self.start, self.end);
        match found {
            Ok(file) => Ok(file),
            Err(e) => Err(self.give_back(state, e.into()).await),
        }
    }

    /// The bytes, read in the blocking pool (counted in
    /// `download_disk_reads_total`). A failed read gives back what the
    /// download took.
    pub(crate) async fn read(&self, state: &AppState) -> Result<Bytes, Refuse> {
        state.metrics.download_disk_reads.inc();
        let store = state.store.clone();
        let (id, index, start, end) = (self.id, self.index, self.start, self.end);
        match blocking(move || store.read_range(id, index, start, end)).await {
            Ok(data) => Ok(data),
            Err(refused) => Err(self.give_back(state, refused).await),
        }
    }

    /// Counts the bytes as served.
    pub(crate) fn served(&self, state: &AppState) {
        state
            .metrics
            .served(is_receiver(&self.ticket), self.end - self.start);
    }

    /// Gives back what the download took (its ticket's use of the bytes,
    /// and their charge) when its bytes could not be read: `refused`.
    async fn give_back(&self, state: &AppState, refused: Refuse) -> Refuse {
        let range = (self.start, self.end);
        state.replay.release(&self.ticket, Some(self.index), range);
        if let Some(c) = &self.charge {
            state.egress.refund(c).await;
        }
        refused
    }
}

/// Checks a download of `target` with what the request carries (`ask`)
/// and says how to answer it; both paths answer every download with this.
/// A chunk's bytes are left to the front end ([`Answer::Chunk`]); a
/// manifest's are read here, in the blocking pool (a manifest is small and
/// read once per file).
pub(crate) async fn check(
    state: &AppState,
    target: Target,
    ask: &Ask<'_>,
) -> Result<Answer, Refuse> {
    match target {
        Target::Chunk(id, index) => chunk(state, id, index, ask).await,
        Target::Manifest(id) => manifest(state, id, ask).await.map(Answer::Whole),
        Target::ListingManifest(id, hash) => listing_manifest(state, id, &hash, ask)
            .await
            .map(Answer::Whole),
    }
}

/// Checks a download of chunk `index` of contract `id`: the contract, the
/// range, whether the chunk is stored, then the ticket (its bytes are
/// counted as served only for a chunk this host has; a Receiver's, with
/// the chain's answer about its listing, mostly from the cache). Index
/// lookups and a ticket whose signature was verified before are
/// microseconds, so this runs on the async threads. Last, if the host
/// charges for egress, the `receipt` of the ticket's signer pays for the
/// bytes ([`Egress::charge`]); a refused payment gives the ticket's use
/// back (the same ticket works with a receipt). A front end that then
/// fails to read the bytes gives the link's use and the charge back
/// ([`Serve::resident`], [`Serve::read`]).
async fn chunk(
    state: &AppState,
    id: ContractId,
    index: u32,
    ask: &Ask<'_>,
) -> Result<Answer, Refuse> {
    let c = live(id, state.store.contract(id)?)?;
    let len = c.chunk_len(index) as u64;
    let (ranged, start, end) = match ask.range {
        None => (false, 0, len),
        Some(v) => match parse_range(v, len) {
            Some((s, e)) => (true, s, e),
            None => return Ok(Answer::Unsatisfiable(len)),
        },
    };
    if !state.store.has_chunk(id, index)? {
        return refuse(
            StatusCode::NOT_FOUND,
            format!("chunk {index} is not stored here"),
        );
    }
    let ticket = read_ticket(
        state,
        ask.ticket,
        ask.claim,
        id,
        &c,
        Object::Chunk(index),
        None,
        (start, end),
    )
    .await?;
    let charged = state
        .egress
        .charge(
            state.replay.genesis(),
            payer(&ticket),
            ask.receipt,
            end - start,
        )
        .await;
    let charge = match charged {
        Ok(c) => c,
        Err(refused) => {
            state.replay.release(&ticket, Some(index), (start, end));
            return Err(refused);
        }
    };
    if charge.is_some() {
        state.metrics.egress_bytes_charged.inc_by(end - start);
    }
    Ok(Answer::Chunk(Serve {
        id,
        index,
        start,
        end,
        len,
        ranged,
        ticket: Box::new(ticket),
        charge,
    }))
}

/// A manifest download: the contract, the ticket (the Sender's download
/// ticket; the manifest is read whole: one use of it, given back when
/// there is nothing to read), then the sealed manifest from the blocking
/// pool.
async fn manifest(state: &AppState, id: ContractId, ask: &Ask<'_>) -> Result<Bytes, Refuse> {
    let c = contract(state, id).await?;
    let whole = (0, u64::MAX);
    let t = check_ticket(
        state,
        ask.ticket,
        ask.claim,
        TicketOp::Download,
        id,
        &c,
        None,
        whole,
    )?;
    let store = state.store.clone();
    let found = blocking(move || store.manifest(id)).await;
    if !matches!(found, Ok(Some(_))) {
        state.replay.release(&t, None, whole);
    }
    match found? {
        Some(data) => Ok(data.into()),
        None => refuse(
            StatusCode::NOT_FOUND,
            "no manifest was uploaded for this contract",
        ),
    }
}

/// A listing manifest download: the contract, the ticket (the Sender's,
/// or a Receiver's for a listing that commits to `hash`; one use, given
/// back when there is nothing to read), then the bytes from the blocking
/// pool.
async fn listing_manifest(
    state: &AppState,
    id: ContractId,
    hash: &[u8; 32],
    ask: &Ask<'_>,
) -> Result<Bytes, Refuse> {
    let c = contract(state, id).await?;
    let whole = (0, u64::MAX);
    let object = Object::listing_manifest(hash);
    let t = read_ticket(
        state,
        ask.ticket,
        ask.claim,
        id,
        &c,
        object,
        Some(hash),
        whole,
    )
    .await?;
    let store = state.store.clone();
    let key = *hash;
    let found = blocking(move || store.listing_manifest(id, &key)).await;
    if !matches!(found, Ok(Some(_))) {
        state.replay.release(&t, object, whole);
    }
    match found? {
        Some(data) => Ok(data.into()),
        None => refuse(
            StatusCode::NOT_FOUND,
            format!(
                "no listing manifest {} is kept for contract {id}",
                hex::encode(hash)
            ),
        ),
    }
}

/// The type of downloaded bytes.
const OCTET_STREAM: &str = "application/octet-stream";

/// The type of a one-line text answer (a refusal, a confirmation).
const TEXT: &str = "text/plain; charset=utf-8";

/// The head of an answer, both paths write: its status and the headers
/// that depend on it. Each front end adds [`CORS`], `content-length` and
/// `date` (and `connection: close` when closing).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Head {
    /// The status.
    pub status: StatusCode,
    content_type: &'static str,
    accept_ranges: bool,
    content_range: Option<ContentRange>,
}

impl Head {
    /// A one-line text answer with `status` (a refusal; its body:
    /// [`line`]).
    pub(crate) fn text(status: StatusCode) -> Head {
        Head {
            status,
            content_type: TEXT,
            accept_ranges: false,
            content_range: None,
        }
    }

    /// A 416: the range is not within the chunk's `len` bytes (body:
    /// [`UNSATISFIABLE`]).
    pub(crate) fn unsatisfiable(len: u64) -> Head {
        Head {
            content_range: Some(ContentRange::Unsatisfiable(len)),
            ..Head::text(StatusCode::RANGE_NOT_SATISFIABLE)
        }
    }

    /// A manifest read whole (200).
    pub(crate) fn whole() -> Head {
        Head {
            status: StatusCode::OK,
            content_type: OCTET_STREAM,
            accept_ranges: false,
            content_range: None,
        }
    }

    /// Calls `f` with each header's name (lower case) and value, beside
    /// those every answer carries.
    pub(crate) fn each_header(&self, mut f: impl FnMut(&'static str, &dyn fmt::Display)) {
        f("content-type", &self.content_type);
        if self.accept_ranges {
            f("accept-ranges", &"bytes");
        }
        if let Some(range) = &self.content_range {
            f("content-range", range);
        }
    }
}

/// A Content-Range value, written as it is sent (no string kept).
#[derive(Debug, PartialEq, Eq)]
enum ContentRange {
    /// `bytes {start}-{end - 1}/{len}`.
    Bytes { start: u64, end: u64, len: u64 },
    /// `bytes */{len}` (with a 416).
    Unsatisfiable(u64),
}

impl fmt::Display for ContentRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContentRange::Bytes { start, end, len } => {
                write!(f, "bytes {start}-{}/{len}", end - 1)
            }
            ContentRange::Unsatisfiable(len) => write!(f, "bytes */{len}"),
        }
    }
}

/// A one-line text answer's body: `text` and a newline.
pub(crate) fn line(text: impl Into<String>) -> Bytes {
    let mut text = text.into();
    text.push('\n');
    text.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_like_http_says() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=95-200", 100), Some((95, 100)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }

    #[test]
    fn targets_parse_and_reject_junk() {
        assert_eq!(
            Target::parse("/v1/contracts/4/chunks/7"),
            Some(Target::Chunk(4, 7))
        );
        assert_eq!(
            Target::parse("/v1/contracts/4/manifest/"),
            Some(Target::Manifest(4))
        );
        let hash = "ab".repeat(32);
        assert_eq!(
            Target::parse(&format!("/v1/contracts/4/listing-manifests/{hash}")),
            Some(Target::ListingManifest(4, [0xab; 32]))
        );
        assert_eq!(
            Target::parse("/v1/contracts/4/listing-manifests/abcd"),
            None
        );
        assert_eq!(
            Target::parse(&format!("/v1/contracts/4/listing-manifests/{hash}00")),
            None
        );
        assert_eq!(Target::parse("/v1/contracts/x/chunks/7"), None);
        assert_eq!(Target::parse("/v1/contracts/4/chunks/-1"), None);
        assert_eq!(Target::parse("/v1/contracts/4"), None);
        assert_eq!(Target::parse("/etc/passwd"), None);
    }

    #[test]
    fn parameters_are_found_by_their_whole_name() {
        let q = Some("x=1&tickets=no&ticket=ab&claim=cd&receipt=ef&ticket=zz");
        let ask = Ask::new(q, Some("bytes=0-9"));
        assert_eq!(ask.ticket, Some("ab"));
        assert_eq!(ask.claim, Some("cd"));
        assert_eq!(ask.receipt, Some("ef"));
        assert_eq!(ask.range, Some("bytes=0-9"));
        assert_eq!(ticket_in(None), None);
        assert_eq!(ticket_in(Some("ticket")), None);
    }

    #[test]
    fn heads_say_what_the_answer_is() {
        let headers = |h: &Head| {
            let mut all = Vec::new();
            h.each_header(|name, value| all.push(format!("{name}: {value}")));
            all
        };
        let h = Head::unsatisfiable(100);
        assert_eq!(h.status, StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(
            headers(&h),
            [
                "content-type: text/plain; charset=utf-8",
                "content-range: bytes */100"
            ]
        );
        assert_eq!(
            headers(&Head::whole()),
            ["content-type: application/octet-stream"]
        );
        assert_eq!(
            headers(&Head::text(StatusCode::FORBIDDEN)),
            ["content-type: text/plain; charset=utf-8"]
        );
        let range = ContentRange::Bytes {
            start: 10,
            end: 20,
            len: 100,
        };
        assert_eq!(range.to_string(), "bytes 10-19/100");
        assert_eq!(line("no"), "no\n");
    }
}
