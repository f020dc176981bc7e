//! The HTTP API (hyper): uploads and downloads against signed tickets,
//! contract status, health and metrics.
//!
//! | method | path | ticket |
//! | --- | --- | --- |
//! | GET | `/health` | — |
//! | GET | `/metrics` | — |
//! | GET | `/v1/contracts/{id}[?from=N]` | — (sizes and roots are public on chain; missing chunks in pages of [`STATUS_PAGE`]) |
//! | PUT | `/v1/contracts/{id}/roots` | upload |
//! | PUT | `/v1/contracts/{id}/chunks/{index}` | upload |
//! | GET | `/v1/contracts/{id}/chunks/{index}[?receipt=HEX]` | download or receive (once per chunk) |
//! | PUT, GET | `/v1/contracts/{id}/manifest` | upload, download |
//! | PUT | `/v1/contracts/{id}/listing-manifests/{hash}` | upload |
//! | GET | `/v1/contracts/{id}/listing-manifests/{hash}` | download or receive |
//! | GET | `/v1/egress/0x{payer}` | — (the price, the payer's channel, bytes served and redeemed) |
//!
//! The ticket travels in the `ticket` query parameter (see
//! `masp_primitives::ticket`). Every refusal is a 4xx with a one-line
//! reason in the body (a 5xx when the host cannot decide now); nothing is
//! written unless every check passed.
//!
//! A Receiver reads with its own ticket ([`TicketOp::Receive`], signed by
//! the Receiver it names) for a listing: served only if the chain shows the
//! listing names the contract (and, for a listing manifest, commits to
//! that `hash`: BLAKE2b-256 of its sealed bytes) and gives the signer
//! access ([`crate::listings::ReceiverGate`]). A Sender stores at most
//! [`crate::store::MAX_LISTING_MANIFESTS`] listing manifests per contract,
//! each under its hash, kept until the contract's data is deleted.
//!
//! A host whose egress price is above zero serves a chunk only with a
//! receipt of the ticket's signer covering it ([`crate::egress`]), checked
//! after the ticket and the Receiver's access; a refused payment gives the
//! ticket's use back (402 with the reason).
//!
//! Every connection starts on the download fast path ([`crate::fastpath`])
//! and comes here at its first other request. Downloads are checked and
//! their answers' heads chosen by the rules both paths share
//! ([`crate::download`]); this module writes them as hyper responses.
//!
//! What one client can hold is bounded ([`Limits`]): connections (in all
//! and per address), the time a request head and body may take, the bytes
//! of a refused body read, the size of a status answer; the file
//! descriptors the prover needs are kept out of the connections' reach
//! ([`connection_budget`]).

use std::{
    convert::Infallible,
    io,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, Limited};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use masp_primitives::{
    listing::listing_manifest_hash,
    market::ContractId,
    ticket::{SignedTicket, TicketOp},
};
use masp_proofs::{chunk_root, root_of_chunk_roots, Hash, CHUNK_SIZE};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

pub use crate::download::{AppState, Clock, Refuse, SystemClock, HEAD_TIMEOUT_SECS};
use crate::{
    download::{
        self, blocking, check_ticket, claim_in, contract, line, refuse, ticket_in, Answer, Ask,
        Head, Target, CORS, UNSATISFIABLE,
    },
    metrics::Metrics,
    store::{ContractRecord, ListingPut, MAX_LISTING_MANIFESTS},
};

/// Bytes of a sealed manifest beside its chunk roots: the name, the
/// replica list, the sealing (a `masp put` manifest's fixed part is a few
/// hundred bytes plus its file name).
pub const MANIFEST_BASE: usize = 16 << 10;

/// The largest sealed manifest a host keeps for a contract of `size` bytes:
/// [`MANIFEST_BASE`] plus 32 bytes per chunk (the chunk roots a manifest
/// lists). A contract's manifest so costs its host at most 16 KiB plus
/// 1/32768 of the contract's size, the overhead a host prices into its
/// capacity; it is written once ([`crate::store::Store::put_manifest`]).
pub fn max_manifest(size: u64) -> usize {
    let roots = (crate::store::chunk_count(size) as usize).saturating_mul(32);
    MANIFEST_BASE.saturating_add(roots)
}

/// Seconds without word from the chain after which `/health` says the
/// host is degraded (it cannot confirm or prove meanwhile).
pub const CHAIN_STALE_SECS: u64 = 120;

type Body = BoxBody<Bytes, io::Error>;

fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into()).map_err(|e| match e {}).boxed()
}

fn reply(status: StatusCode, reason: impl Into<String>) -> Response<Body> {
    answer(&Head::text(status), line(reason))
}

/// A response with `head` (the rules both paths share) and `body`.
fn answer(head: &Head, body: Bytes) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = head.status;
    head.each_header(|name, value| {
        let value = http::HeaderValue::try_from(value.to_string()).expect("a header value");
        r.headers_mut().insert(name, value);
    });
    r
}

fn json(value: serde_json::Value) -> Response<Body> {
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(full(value.to_string()))
        .expect("static response")
}

/// The routes, parsed.
enum Route {
    Health,
    Metrics,
    Status(ContractId),
    Roots(ContractId),
    /// A chunk, a manifest or a listing manifest (the paths downloads and
    /// their uploads share).
    Object(Target),
    /// `/v1/egress/{payer}` (the account as given: checked by the handler).
    Egress(String),
}

impl Route {
    fn name(&self) -> &'static str {
        match self {
            Route::Health => "health",
            Route::Metrics => "metrics",
            Route::Status(_) => "status",
            Route::Roots(_) => "roots",
            Route::Object(target) => target.route(),
            Route::Egress(_) => "egress",
        }
    }

    fn parse(path: &str) -> Option<Route> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match parts.as_slice() {
            ["health"] => Some(Route::Health),
            ["metrics"] => Some(Route::Metrics),
            ["v1", "contracts", id] => Some(Route::Status(id.parse().ok()?)),
            ["v1", "contracts", id, "roots"] => Some(Route::Roots(id.parse().ok()?)),
            ["v1", "egress", payer] => Some(Route::Egress(payer.to_string())),
            parts => Target::from_parts(parts).map(Route::Object),
        }
    }
}

/// Bounds on what clients may hold of the daemon.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Connections served at once; further ones wait in the kernel's
    /// backlog until one closes.
    pub max_connections: usize,
    /// Connections one peer address (an IPv6 /64) may hold at once;
    /// further ones are answered 503 and closed.
    pub max_connections_per_ip: usize,
    /// How long a request body may take to arrive whole (408 after).
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_connections_per_ip: 128,
            body_timeout: Duration::from_secs(60),
        }
    }
}

/// File descriptors kept for everything but client connections: the
/// index, the chain client (and its reconnects), the prover's and the
/// scrubber's chunk reads, the blocking pool, logs.
pub const RESERVED_FDS: u64 = 256;

/// Descriptors one connection may hold: its socket and the chunk file it
/// is sending.
pub const FDS_PER_CONNECTION: u64 = 2;

/// The connections the daemon may serve at once with `nofile` file
/// descriptors (its open-file limit) when `wanted` are configured: never
/// so many that they leave the prover fewer than [`RESERVED_FDS`].
pub fn connection_budget(nofile: u64, wanted: usize) -> usize {
    let budget = nofile.saturating_sub(RESERVED_FDS) / FDS_PER_CONNECTION;
    (wanted as u64).min(budget).max(1) as usize
}

/// Where connections come from (a TCP listener; tests put a failing one
/// behind [`serve_with`]).
pub trait Listener: Send + 'static {
    /// The next connection.
    fn accept(
        &self,
    ) -> impl std::future::Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send;
}

impl Listener for TcpListener {
    fn accept(
        &self,
    ) -> impl std::future::Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send {
        TcpListener::accept(self)
    }
}

/// The first pause after a failed accept; it doubles up to
/// [`ACCEPT_BACKOFF_MAX`] while accepts keep failing.
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);

/// The longest pause after a failed accept.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Serves the API on `listener` with the default [`Limits`] (see
/// [`serve_with`]).
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    serve_with(listener, state, shutdown, Limits::default()).await
}

/// The peer address a connection counts against: the IPv4 address, or the
/// IPv6 /64 (one host's usual allocation).
fn peer_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
        },
        v4 => v4,
    }
}

/// Open connections by peer address.
type Peers = Arc<std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>>;

/// A connection's place: a global slot and one of its peer's; both given
/// back when dropped.
struct Admitted {
    _slot: tokio::sync::OwnedSemaphorePermit,
    peers: Peers,
    key: IpAddr,
    metrics: Arc<Metrics>,
}

impl Admitted {
    /// A place for a connection from `ip` holding `slot`; `None` if its
    /// address holds `per_ip` already.
    fn take(
        slot: tokio::sync::OwnedSemaphorePermit,
        peers: &Peers,
        ip: IpAddr,
        per_ip: usize,
        metrics: &Arc<Metrics>,
    ) -> Option<Self> {
        let key = peer_key(ip);
        let mut open = peers.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= per_ip {
            return None;
        }
        *n += 1;
        metrics.connections.inc();
        Some(Self {
            _slot: slot,
            peers: peers.clone(),
            key,
            metrics: metrics.clone(),
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.metrics.connections.dec();
        let mut open = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// Whether a failed accept concerns only the connection being accepted
/// (it went away first): the next accept is tried at once. Anything else
/// (out of descriptors or memory) is waited out.
fn connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Serves the API on `listener` until `shutdown` turns true; connections in
/// flight finish first (graceful shutdown). Each connection starts on the
/// chunk-download fast path ([`crate::fastpath`]) and is handed to hyper
/// at its first other request.
///
/// At most `limits.max_connections` are served at once (the listener is
/// not polled while they are: further clients wait in the kernel's
/// backlog), at most `limits.max_connections_per_ip` from one address
/// (further ones get a 503 and are closed). A failed accept (out of file
/// descriptors: EMFILE) is followed by a pause that doubles from
/// [`ACCEPT_BACKOFF_MIN`] to [`ACCEPT_BACKOFF_MAX`] while accepts fail,
/// never a busy loop.
pub async fn serve_with<L: Listener>(
    listener: L,
    state: Arc<AppState>,
    shutdown: watch::Receiver<bool>,
    limits: Limits,
) -> io::Result<()> {
    let mut stop = shutdown.clone();
    let mut connections = tokio::task::JoinSet::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let peers: Peers = Default::default();
    let per_ip = limits.max_connections_per_ip.max(1);
    let mut backoff = Duration::ZERO;
    // The ticket record is made durable every second (and at the end).
    let flusher = {
        let (state, mut stop) = (state.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
                let st = state.clone();
                let _ = tokio::task::spawn_blocking(move || st.replay.flush()).await;
            }
        })
    };
    loop {
        // Reap finished connections so the set stays small.
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            _ = stop.changed() => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => {
                backoff = Duration::ZERO;
                a
            }
            Err(e) if connection_error(&e) => continue,
            Err(e) => {
                backoff = (backoff * 2).clamp(ACCEPT_BACKOFF_MIN, ACCEPT_BACKOFF_MAX);
                state.metrics.accept_errors.inc();
                tracing::warn!(error = %e, pause = ?backoff, "accept failed; pausing");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => continue,
                    _ = stop.changed() => break,
                }
            }
        };
        let Some(admitted) = Admitted::take(slot, &peers, peer.ip(), per_ip, &state.metrics) else {
            state.metrics.connections_refused.inc();
            tracing::debug!(%peer, "too many connections from this address; refused");
            // Best effort, never waiting: the answer fits any socket buffer.
            let _ = stream.try_write(BUSY);
            continue;
        };
        // The access log (debug: `RUST_LOG=masp_host::server=debug`): which
        // address each connection came from.
        tracing::debug!(%peer, "connection accepted");
        let _ = stream.set_nodelay(true);
        let (state, shutdown, timeout) = (state.clone(), shutdown.clone(), limits.body_timeout);
        connections.spawn(async move {
            let _admitted = admitted;
            #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
            let mut stop = shutdown;
            // Downloads first (sendfile(2), Linux); at its first other
            // request, hyper serves the rest of the connection. Elsewhere
            // hyper serves everything.
            #[cfg(target_os = "linux")]
            let rest = crate::fastpath::connection(stream, peer, &state, &mut stop).await;
            #[cfg(not(target_os = "linux"))]
            let rest = Some(stream);
            if let Some(io) = rest {
                hyper_connection(io, peer, state, stop, timeout).await
            }
        });
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(std::time::Duration::from_secs(10), drain)
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 10 s; closing them");
        connections.abort_all();
    }
    flusher.abort();
    let st = state.clone();
    let _ = tokio::task::spawn_blocking(move || st.replay.flush()).await;
    Ok(())
}

/// The answer to a connection over its address's limit.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
content-length: 39\r\nconnection: close\r\nretry-after: 1\r\n\r\ntoo many connections from your address\n";

/// Serves the rest of a connection with hyper (every route), until it
/// closes or `stop` turns true (then the request in flight finishes first).
/// A request body has `body_timeout` to arrive.
async fn hyper_connection<I>(
    io: I,
    peer: SocketAddr,
    state: Arc<AppState>,
    mut stop: watch::Receiver<bool>,
    body_timeout: Duration,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(handle(state, peer, req, body_timeout).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(HEAD_TIMEOUT_SECS))
        .serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    let result = if *stop.borrow() {
        conn.as_mut().graceful_shutdown();
        conn.await
    } else {
        tokio::select! {
            r = conn.as_mut() => r,
            _ = stop.changed() => {
                // Finish the request in flight, then close.
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, %peer, "connection ended");
    }
}

/// A request whose body a handler takes when (and only if) it reads it,
/// and the time its body has to arrive.
type Req = Request<(Option<Incoming>, Duration)>;

/// The answer to a CORS preflight: any origin may `GET`, `PUT` and `POST`
/// with a body type and a byte range.
fn preflight() -> Response<Body> {
    let mut r = Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header("access-control-allow-methods", "GET, PUT, POST, OPTIONS")
        .header("access-control-allow-headers", "content-type, range")
        .header("access-control-max-age", "600");
    for (name, value) in CORS {
        r = r.header(name, value);
    }
    r.body(full(String::new())).expect("static response")
}

async fn handle(
    state: Arc<AppState>,
    peer: SocketAddr,
    req: Request<Incoming>,
    body_timeout: Duration,
) -> Response<Body> {
    let mut response = route_request(state, peer, req, body_timeout).await;
    for (name, value) in CORS {
        response
            .headers_mut()
            .insert(name, http::HeaderValue::from_static(value));
    }
    response
}

async fn route_request(
    state: Arc<AppState>,
    peer: SocketAddr,
    req: Request<Incoming>,
    body_timeout: Duration,
) -> Response<Body> {
    if req.method() == Method::OPTIONS {
        return preflight();
    }
    let mut req = req.map(|b| (Some(b), body_timeout));
    let started = Instant::now();
    let Some(route) = Route::parse(req.uri().path()) else {
        return reply(StatusCode::NOT_FOUND, "no such endpoint");
    };
    let name = route.name();
    let method = req.method().clone();
    let mut response = match dispatch(&state, route, &mut req).await {
        Ok(r) => r,
        Err(Refuse(status, reason)) => {
            download::refused(peer, &method, name, status, &reason);
            reply(status, reason)
        }
    };
    // A refused upload's body is read and dropped frame by frame (nothing
    // is kept), so the client sees the answer (not a reset) and the
    // connection stays usable; past DRAIN_LIMIT bytes, or the body timeout,
    // the connection closes. So does one whose body timed out.
    let close = match req.body_mut().0.take() {
        Some(rest) => !drain(rest, DRAIN_LIMIT, body_timeout).await,
        None => response.status() == StatusCode::REQUEST_TIMEOUT,
    };
    if close {
        response
            .headers_mut()
            .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    }
    download::observe(&state, name, response.status(), started);
    response
}

/// Bytes of a refused request's body read (and dropped) so the connection
/// stays usable (a chunk's worth); past them it closes.
const DRAIN_LIMIT: usize = CHUNK_SIZE;

/// Reads and drops up to `limit` bytes of `body` within `timeout`; whether
/// it ended cleanly.
async fn drain(mut body: Incoming, limit: usize, timeout: Duration) -> bool {
    let all = async {
        let mut read = 0usize;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => {
                    read = read.saturating_add(f.data_ref().map_or(0, |d| d.len()));
                    if read > limit {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
        true
    };
    tokio::time::timeout(timeout, all).await.unwrap_or(false)
}

async fn dispatch(
    state: &Arc<AppState>,
    route: Route,
    req: &mut Req,
) -> Result<Response<Body>, Refuse> {
    match (req.method().clone(), route) {
        (Method::GET, Route::Health) => Ok(health(state)),
        (Method::GET, Route::Metrics) => Ok(Response::builder()
            .header(header::CONTENT_TYPE, "text/plain; version=0.0.4")
            .body(full(state.metrics.render()))
            .expect("static response")),
        (Method::GET, Route::Status(id)) => status(state, id, req.uri().query()).await,
        (Method::PUT, Route::Roots(id)) => put_roots(state, id, req).await,
        (Method::GET, Route::Object(target)) => get(state, target, req).await,
        (Method::PUT, Route::Object(Target::Chunk(id, i))) => put_chunk(state, id, i, req).await,
        (Method::PUT, Route::Object(Target::Manifest(id))) => put_manifest(state, id, req).await,
        (Method::PUT, Route::Object(Target::ListingManifest(id, hash))) => {
            put_listing_manifest(state, id, hash, req).await
        }
        (Method::GET, Route::Egress(payer)) => egress_status(state, &payer).await,
        _ => refuse(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here"),
    }
}

/// `200 {"status":"ok"}` while the follower hears from the chain, `503`
/// with the reason when it has not yet or not for [`CHAIN_STALE_SECS`].
fn health(state: &AppState) -> Response<Body> {
    use std::sync::atomic::Ordering::Relaxed;
    let seen = state.chain_seen_at.load(Relaxed);
    let ago = state.clock.now().saturating_sub(seen);
    let (status, code, reason) = if seen == 0 {
        (
            "starting",
            StatusCode::SERVICE_UNAVAILABLE,
            Some("the chain has not been reached yet".to_string()),
        )
    } else if ago > CHAIN_STALE_SECS {
        (
            "degraded",
            StatusCode::SERVICE_UNAVAILABLE,
            Some(format!(
                "no word from the chain for {ago} s: uploads are not confirmed and proofs not sent"
            )),
        )
    } else {
        ("ok", StatusCode::OK, None)
    };
    let mut r = json(serde_json::json!({
        "status": status,
        "reason": reason,
        "best_block": state.best_block.load(Relaxed),
        "chain_seen_secs_ago": (seen != 0).then_some(ago),
    }));
    *r.status_mut() = code;
    r
}

fn authorize(
    state: &AppState,
    req: &Req,
    op: TicketOp,
    id: ContractId,
    c: &ContractRecord,
    chunk: Option<u32>,
    range: (u64, u64),
) -> Result<SignedTicket, Refuse> {
    let query = req.uri().query();
    check_ticket(
        state,
        ticket_in(query),
        claim_in(query),
        op,
        id,
        c,
        chunk,
        range,
    )
}

async fn body(req: &mut Req, limit: usize) -> Result<Bytes, Refuse> {
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body of {len} bytes is over the limit of {limit}"),
            );
        }
    }
    let timeout = req.body().1;
    let Some(incoming) = req.body_mut().0.take() else {
        return refuse(StatusCode::BAD_REQUEST, "the body was already read");
    };
    // A body that trickles in (or stalls) may not hold a connection
    // longer than the timeout.
    match tokio::time::timeout(timeout, Limited::new(incoming, limit).collect()).await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e)) => refuse(
            StatusCode::BAD_REQUEST,
            format!("reading the body failed: {e}"),
        ),
        Err(_) => refuse(
            StatusCode::REQUEST_TIMEOUT,
            format!("the body did not arrive within {} s", timeout.as_secs_f64()),
        ),
    }
}

/// Missing chunk indexes in one status answer; `next` says where the
/// rest starts (`?from=`). An answer so costs the host at most this many
/// entries whatever the contract's size, and anyone may ask.
pub const STATUS_PAGE: u32 = 16_384;

/// `GET /v1/contracts/{id}[?from=N]`: the upload's progress. `missing`
/// lists up to [`STATUS_PAGE`] chunks not stored yet, from chunk `from`
/// (0 if not given); `next` is where the rest of the list starts (`null`:
/// there is no more); `missing_count` counts them all.
async fn status(
    state: &Arc<AppState>,
    id: ContractId,
    query: Option<&str>,
) -> Result<Response<Body>, Refuse> {
    let from = match query
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("from="))
    {
        None => 0,
        Some(v) => match v.parse::<u32>() {
            Ok(n) => n,
            Err(_) => return refuse(StatusCode::BAD_REQUEST, "from= must be a chunk index"),
        },
    };
    let c = contract(state, id).await?;
    let store = state.store.clone();
    let count = c.chunk_count();
    let (roots, stored, (missing, next)) = blocking(move || {
        Ok((
            store.roots(id)?.is_some(),
            store.stored_chunks(id)?,
            store.missing_chunks(id, count, from, STATUS_PAGE)?,
        ))
    })
    .await?;
    Ok(json(serde_json::json!({
        "contract": id,
        "size": c.size,
        "chunks": count,
        "roots_uploaded": roots,
        "missing": missing,
        "missing_count": count.saturating_sub(stored),
        "next": next,
        "confirmed": c.confirmed,
    })))
}

async fn put_roots(
    state: &Arc<AppState>,
    id: ContractId,
    req: &mut Req,
) -> Result<Response<Body>, Refuse> {
    let c = contract(state, id).await?;
    authorize(state, req, TicketOp::Upload, id, &c, None, (0, 0))?;
    let count = c.chunk_count() as usize;
    let data = body(req, count * 32).await?;
    if data.len() != count * 32 {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "expected {count} chunk roots ({} bytes), got {} bytes",
                count * 32,
                data.len()
            ),
        );
    }
    let mut roots: Vec<Hash> = data
        .chunks_exact(32)
        .map(|r| r.try_into().expect("chunks_exact(32)"))
        .collect();
    let list = roots.clone();
    if root_of_chunk_roots(&mut roots) != c.root {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the chunk roots do not make the contract's Merkle root",
        );
    }
    let store = state.store.clone();
    blocking(move || store.put_roots(id, &list)).await?;
    Ok(reply(StatusCode::OK, "roots stored"))
}

async fn put_chunk(
    state: &Arc<AppState>,
    id: ContractId,
    index: u32,
    req: &mut Req,
) -> Result<Response<Body>, Refuse> {
    let c = contract(state, id).await?;
    authorize(state, req, TicketOp::Upload, id, &c, Some(index), (0, 0))?;
    if index >= c.chunk_count() {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("chunk {index} is past the last chunk ({})", c.chunk_count()),
        );
    }
    let store = state.store.clone();
    let Some(roots) = blocking(move || store.roots(id)).await? else {
        return refuse(
            StatusCode::CONFLICT,
            "upload the chunk roots first (PUT .../roots)",
        );
    };
    let expected = c.chunk_len(index);
    let data = body(req, CHUNK_SIZE).await?;
    if data.len() != expected {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("chunk {index} must be {expected} bytes, got {}", data.len()),
        );
    }
    let check = data.clone();
    let root = tokio::task::spawn_blocking(move || chunk_root(&check))
        .await
        .map_err(|e| Refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if root != roots[index as usize] {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("chunk {index} does not match its Merkle root"),
        );
    }
    let store = state.store.clone();
    let len = data.len() as u64;
    let count = c.chunk_count();
    let complete = blocking(move || {
        store.put_chunk(id, index, &data)?;
        Ok(store.stored_chunks(id)? == count)
    })
    .await?;
    state.metrics.bytes_received.inc_by(len);
    state.metrics.bytes_stored.add(len as i64);
    if complete {
        state.complete.notify_one();
    }
    Ok(reply(StatusCode::OK, "chunk stored"))
}

/// `GET /v1/egress/0x{payer}`: what this host charges, and where `payer`'s
/// channel with it stands (`served`: what the next receipt must cover,
/// before the next request's bytes).
async fn egress_status(state: &Arc<AppState>, payer: &str) -> Result<Response<Body>, Refuse> {
    let mut who = [0u8; 32];
    if hex::decode_to_slice(payer.strip_prefix("0x").unwrap_or(payer), &mut who).is_err() {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("malformed account {payer:?}: expected 0x and 64 hex digits"),
        );
    }
    Ok(json(state.egress.status(who).await))
}

/// A download on a connection hyper serves (one that sent another request
/// before): the rules both paths share ([`download::check`]), a chunk's
/// bytes read off the async threads. Most downloads take
/// [`crate::fastpath`] instead.
async fn get(state: &AppState, target: Target, req: &Req) -> Result<Response<Body>, Refuse> {
    let range = req
        .headers()
        .get(header::RANGE)
        .map(|v| v.to_str().unwrap_or(""));
    let ask = Ask::new(req.uri().query(), range);
    match download::check(state, target, &ask).await? {
        Answer::Chunk(serve) => {
            let data = serve.read(state).await?;
            serve.served(state);
            Ok(answer(&serve.head(), data))
        }
        Answer::Whole(data) => Ok(answer(&Head::whole(), data)),
        Answer::Unsatisfiable(len) => Ok(answer(&Head::unsatisfiable(len), line(UNSATISFIABLE))),
    }
}

async fn put_manifest(
    state: &Arc<AppState>,
    id: ContractId,
    req: &mut Req,
) -> Result<Response<Body>, Refuse> {
    let c = contract(state, id).await?;
    authorize(state, req, TicketOp::Upload, id, &c, None, (0, 0))?;
    let data = body(req, max_manifest(c.size)).await?;
    if data.is_empty() {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, "empty manifest");
    }
    // Written once: an upload ticket (reusable until it expires, and
    // possibly leaked with a URL) cannot replace the manifest the Sender's
    // client stored; the same bytes again (a retry) are fine.
    let store = state.store.clone();
    let (written, data) = blocking(move || Ok((store.put_manifest(id, &data)?, data))).await?;
    if written {
        return Ok(reply(StatusCode::OK, "manifest stored"));
    }
    let store = state.store.clone();
    match blocking(move || store.manifest(id)).await? {
        Some(kept) if kept[..] == data[..] => Ok(reply(StatusCode::OK, "manifest stored")),
        _ => refuse(
            StatusCode::CONFLICT,
            "this contract's manifest is already stored; it is written once",
        ),
    }
}

/// `PUT /v1/contracts/{id}/listing-manifests/{hash}`: a listing's sealed
/// manifest, stored under its BLAKE2b-256 (checked) beside the contract's
/// data, at most [`MAX_LISTING_MANIFESTS`] per contract and
/// [`max_manifest`] bytes each. The same one again is fine (its hash names
/// its bytes).
async fn put_listing_manifest(
    state: &Arc<AppState>,
    id: ContractId,
    hash: [u8; 32],
    req: &mut Req,
) -> Result<Response<Body>, Refuse> {
    let c = contract(state, id).await?;
    authorize(state, req, TicketOp::Upload, id, &c, None, (0, 0))?;
    let data = body(req, max_manifest(c.size)).await?;
    if data.is_empty() {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, "empty listing manifest");
    }
    let check = data.clone();
    let actual = tokio::task::spawn_blocking(move || listing_manifest_hash(&check))
        .await
        .map_err(|e| Refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if actual != hash {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!(
                "the body's BLAKE2b-256 is {}, not the {} named in the URL",
                hex::encode(actual),
                hex::encode(hash)
            ),
        );
    }
    let store = state.store.clone();
    match blocking(move || store.put_listing_manifest(id, &hash, &data)).await? {
        ListingPut::Stored | ListingPut::AlreadyStored => {
            Ok(reply(StatusCode::OK, "listing manifest stored"))
        }
        ListingPut::Full => refuse(
            StatusCode::INSUFFICIENT_STORAGE,
            format!(
                "contract {id} holds {MAX_LISTING_MANIFESTS} listing manifests already, \
                 the most a host keeps for one contract"
            ),
        ),
        ListingPut::NoContract => refuse(StatusCode::GONE, format!("contract {id} has ended")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_leave_the_prover_its_file_descriptors() {
        // A usual soft limit: 1024 descriptors, 256 kept, 2 per connection.
        assert_eq!(connection_budget(1024, 1024), 384);
        assert_eq!(connection_budget(1 << 20, 1024), 1024);
        assert_eq!(connection_budget(100, 1024), 1);
        assert_eq!(connection_budget(0, 5), 1);
        // What the connections may hold plus the reserve fits the limit.
        for nofile in [300u64, 1024, 4096, 65_536] {
            let n = connection_budget(nofile, usize::MAX) as u64;
            assert!(n * FDS_PER_CONNECTION + RESERVED_FDS <= nofile, "{nofile}");
        }
    }

    #[test]
    fn peers_count_by_ipv4_address_or_ipv6_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(peer_key(a), peer_key(b));
        assert_ne!(peer_key(a), peer_key(c));
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(peer_key(mapped), v4);
        assert_eq!(peer_key(v4), v4);
    }

    #[test]
    fn manifests_are_bounded_by_the_contract() {
        assert_eq!(max_manifest(1), MANIFEST_BASE + 32);
        assert_eq!(max_manifest(1 << 30), MANIFEST_BASE + 32 * 1024);
    }

    #[test]
    fn routes_parse_and_reject_junk() {
        assert!(matches!(
            Route::parse("/v1/contracts/4/chunks/7"),
            Some(Route::Object(Target::Chunk(4, 7)))
        ));
        assert!(matches!(
            Route::parse("/v1/contracts/4/manifest"),
            Some(Route::Object(Target::Manifest(4)))
        ));
        assert!(matches!(Route::parse("/health/"), Some(Route::Health)));
        assert!(matches!(
            Route::parse("/v1/egress/0xab"),
            Some(Route::Egress(p)) if p == "0xab"
        ));
        assert!(matches!(
            Route::parse("/v1/contracts/4"),
            Some(Route::Status(4))
        ));
        let hash = "ab".repeat(32);
        assert!(matches!(
            Route::parse(&format!("/v1/contracts/4/listing-manifests/{hash}")),
            Some(Route::Object(Target::ListingManifest(4, h))) if h == [0xab; 32]
        ));
        assert!(Route::parse("/v1/contracts/4/listing-manifests/abcd").is_none());
        assert!(Route::parse(&format!("/v1/contracts/4/listing-manifests/{hash}00")).is_none());
        assert!(Route::parse("/v1/contracts/x/chunks/7").is_none());
        assert!(Route::parse("/v1/contracts/4/chunks/-1").is_none());
        assert!(Route::parse("/etc/passwd").is_none());
    }
}
