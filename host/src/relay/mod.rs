//! `masp-proxy`: relays a Sender's connections to hosts, so a host never
//! sees the Sender's address (white paper: "Proxy is an optional contractor
//! lending their device and Internet channel as one of the nodes during
//! data transfer from Sender to Host(s)"), paid per byte relayed.
//!
//! | Method | Path | |
//! |---|---|---|
//! | CONNECT | `host:port` | a tunnel to a registered host's (or proxy's) endpoint, `Proxy-Authorization: MASP <hex>` ([`masp_primitives::relay`]) |
//! | GET | `/v1/relay/0x{payer}` | the price, the payer's relay channel, bytes relayed, best receipt, redeemed, credit |
//! | POST | `/v1/relay/0x{payer}?receipt=<hex>` | a relay receipt ([`masp_primitives::egress::WireReceipt`]) |
//! | GET | `/v1/info` | the proxy's account, price, credit, and its TLS certificate's hash signed by its account ([`tls`]) |
//! | GET | `/metrics` | Prometheus |
//!
//! - **Never an open proxy**: a tunnel goes only to an endpoint registered
//!   on chain by a host or an active proxy ([`Directory`]), and (unless
//!   `allow_private_targets`, a development chain) never to one that is or
//!   resolves to a loopback, private or link-local address: a hostile host
//!   must not turn the proxy into a probe of the proxy's own network.
//! - **Only ciphertext**: the tunnel carries the client's TLS (or, to an
//!   `http://` host, chunks sealed on the client); the proxy reads nothing
//!   of it.
//! - **Paid per byte**: every byte carried after the `200`, both ways, is
//!   billed to the payer the tunnel's authorization names. The client
//!   counts the same bytes and sends cumulative receipts as they flow; the
//!   proxy relays at most `credit_bytes` beyond the best receipt it holds
//!   (a tunnel then waits for the next receipt, and closes after
//!   `stall_timeout_secs`), keeps receipts durably and redeems the best
//!   one on chain ([`crate::egress::Egress`] for
//!   [`masp_primitives::egress::Service::Relay`]).
//! - **Bounded**: connections in total and per client address, idle
//!   tunnels closed; client addresses are not logged unless
//!   `log_client_addresses`; a refused `CONNECT` closes its connection.
//! - **TLS on the same port** ([`tls`]): a connection that opens with a TLS
//!   handshake is served over TLS with the certificate the proxy's account
//!   vouches for. Clients use it when they reach this proxy through another
//!   (`--hops 2`), so the first proxy learns neither target nor
//!   authorization.

pub mod config;
pub mod tls;

use std::{
    collections::{HashMap, HashSet},
    convert::Infallible,
    net::{IpAddr, SocketAddr},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, RwLock,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use masp_primitives::{
    endpoint::is_private_ip,
    relay::{tunnel_payload, TunnelAuth, AUTH_SCHEME},
};
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use subxt_signer::sr25519;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::{watch, Notify, Semaphore},
};

use crate::{egress::Egress, server::Refuse};

/// Where a tunnel may go: the endpoints registered on chain.
pub trait Directory: Send + Sync + 'static {
    /// Whether `authority` (`host:port`, as in a CONNECT) is a registered
    /// host's or proxy's endpoint.
    fn allows<'a>(&'a self, authority: &'a str) -> BoxFuture<'a, bool>;
}

/// `endpoint`'s `host:port` (the scheme's port if none), lower case; `None`
/// if it is not an `http://` or `https://` URL with a host.
pub fn authority_of(endpoint: &str) -> Option<String> {
    let uri: http::Uri = endpoint.trim().trim_end_matches('/').parse().ok()?;
    let default = match uri.scheme_str()? {
        "https" => 443,
        "http" => 80,
        _ => return None,
    };
    let a = uri.authority()?;
    if a.as_str().contains('@') || a.host().is_empty() {
        return None;
    }
    Some(format!(
        "{}:{}",
        a.host().to_ascii_lowercase(),
        a.port_u16().unwrap_or(default)
    ))
}

/// A fixed set of endpoints (tests, and the chain's set between refreshes).
#[derive(Default)]
pub struct TargetSet(RwLock<HashSet<String>>);

impl TargetSet {
    /// The set of `endpoints` (URLs; unusable ones are left out).
    pub fn new<'a>(endpoints: impl IntoIterator<Item = &'a str>) -> Self {
        let s = Self::default();
        s.replace(endpoints);
        s
    }

    /// Replaces the set; how many endpoints it holds after.
    pub fn replace<'a>(&self, endpoints: impl IntoIterator<Item = &'a str>) -> usize {
        let set: HashSet<String> = endpoints.into_iter().filter_map(authority_of).collect();
        let n = set.len();
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = set;
        n
    }

    /// Whether it holds `authority`.
    pub fn contains(&self, authority: &str) -> bool {
        let a = authority.to_ascii_lowercase();
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&a)
    }
}

impl Directory for TargetSet {
    fn allows<'a>(&'a self, authority: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move { self.contains(authority) })
    }
}

/// Where the registered endpoints come from.
pub trait TargetSource: Send + Sync + 'static {
    /// Every endpoint a proxy may relay to now.
    fn targets(&self) -> BoxFuture<'_, Result<Vec<String>, masp_chain::ChainError>>;
}

impl TargetSource for crate::chain::SubxtChain {
    fn targets(&self) -> BoxFuture<'_, Result<Vec<String>, masp_chain::ChainError>> {
        Box::pin(self.relay_targets())
    }
}

/// The chain's endpoints, read every `refresh` and again when a tunnel
/// asks for one not in the set (a host that registered a moment ago is
/// reachable at once), but at most once per [`ChainDirectory::MISS_GAP`]
/// and by one reader at a time: tunnels to made-up targets cannot make the
/// proxy read the chain more often than that.
pub struct ChainDirectory {
    source: Arc<dyn TargetSource>,
    set: TargetSet,
    read_at: Mutex<Option<Instant>>,
    reading: tokio::sync::Mutex<()>,
    refresh: Duration,
}

impl ChainDirectory {
    /// A directory over `source`, read again every `refresh`.
    pub fn new(source: Arc<dyn TargetSource>, refresh: Duration) -> Self {
        Self {
            source,
            set: TargetSet::default(),
            read_at: Mutex::new(None),
            reading: tokio::sync::Mutex::new(()),
            refresh,
        }
    }

    /// The shortest time between two reads caused by unknown targets.
    pub const MISS_GAP: Duration = Duration::from_secs(5);

    /// Reads the endpoints now; how many there are.
    pub async fn refresh(&self) -> Result<usize, masp_chain::ChainError> {
        *self.read_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let t = self.source.targets().await?;
        Ok(self.set.replace(t.iter().map(String::as_str)))
    }

    fn age(&self) -> Option<Duration> {
        self.read_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|t| t.elapsed())
    }

    /// Reads the endpoints every `refresh` until `stop`.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "cannot read the registered endpoints; keeping the last set");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.refresh) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

impl Directory for ChainDirectory {
    fn allows<'a>(&'a self, authority: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            if self.set.contains(authority) {
                return true;
            }
            // One reader: the others wait for its set rather than read too.
            let _one = self.reading.lock().await;
            if self.age().is_none_or(|a| a >= Self::MISS_GAP) {
                if let Err(e) = self.refresh().await {
                    tracing::warn!(error = %e, "cannot read the registered endpoints");
                }
            }
            self.set.contains(authority)
        })
    }
}

/// How much the proxy takes on.
#[derive(Clone, Debug)]
pub struct RelayLimits {
    /// Connections (tunnels and API requests) at once; more wait in the
    /// kernel's backlog.
    pub max_connections: usize,
    /// Connections one client address (an IPv6 /64) may hold at once; more
    /// are answered 429.
    pub max_connections_per_client: usize,
    /// A tunnel with no byte either way for this long is closed.
    pub idle_timeout: Duration,
    /// How long reaching a target may take.
    pub connect_timeout: Duration,
    /// Bytes relayed for a payer beyond its best receipt.
    pub credit_bytes: u64,
    /// How long a tunnel out of credit waits for a receipt before closing.
    pub stall_timeout: Duration,
    /// The furthest in the future a tunnel authorization may expire.
    pub max_auth_ttl: Duration,
    /// Whether targets on loopback/private/link-local addresses are
    /// reached (a development chain).
    pub allow_private_targets: bool,
    /// Whether client addresses appear in the log.
    pub log_client_addresses: bool,
    /// The local address connections to targets leave from (none: the
    /// system's choice).
    pub outgoing_address: Option<IpAddr>,
    /// Live tunnel authorizations kept per payer (to refuse replays until
    /// they expire); a payer holding more is answered 429 until some
    /// expire.
    pub nonces_per_payer: usize,
}

impl Default for RelayLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_connections_per_client: 64,
            idle_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            credit_bytes: 16 << 20,
            stall_timeout: Duration::from_secs(30),
            max_auth_ttl: Duration::from_secs(600),
            allow_private_targets: false,
            log_client_addresses: false,
            outgoing_address: None,
            nonces_per_payer: 4096,
        }
    }
}

/// The proxy's Prometheus metrics (prefix `masp_proxy_`).
pub struct RelayMetrics {
    registry: Registry,
    /// Tunnels open now.
    pub tunnels_open: IntGauge,
    /// Tunnel requests by result (`opened`, `target`, `auth`, `payment`,
    /// `upstream`, `busy`).
    pub tunnels: IntCounterVec,
    /// Bytes relayed, by direction (`up`: client to target, `down`).
    pub bytes: IntCounterVec,
    /// Receipts received, by result (`accepted`, `refused`).
    pub receipts: IntCounterVec,
    /// Planck the chain paid for redeemed receipts.
    pub redeemed_planck: IntCounter,
    /// Times a tunnel waited for a receipt.
    pub credit_waits: IntCounter,
    /// Connections refused for the per-client bound.
    pub refused_connections: IntCounter,
    /// Connections served, by transport (`plain`, `tls`).
    pub connections: IntCounterVec,
}

impl Default for RelayMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl RelayMetrics {
    /// Fresh metrics in a registry of their own.
    pub fn new() -> Self {
        let registry = Registry::new();
        let opts = |n: &str, h: &str| Opts::new(format!("masp_proxy_{n}"), h);
        let reg = |c: Box<dyn prometheus::core::Collector>| {
            registry.register(c).expect("metric names are distinct")
        };
        let tunnels_open =
            IntGauge::with_opts(opts("tunnels_open", "Tunnels open now.")).expect("valid metric");
        let tunnels = IntCounterVec::new(
            opts("tunnels_total", "Tunnel requests by result."),
            &["result"],
        )
        .expect("valid metric");
        let bytes = IntCounterVec::new(
            opts("bytes_relayed_total", "Bytes relayed by direction."),
            &["direction"],
        )
        .expect("valid metric");
        let receipts = IntCounterVec::new(
            opts("receipts_total", "Relay receipts received by result."),
            &["result"],
        )
        .expect("valid metric");
        let redeemed_planck = IntCounter::with_opts(opts(
            "redeemed_planck_total",
            "Planck paid on chain for redeemed relay receipts.",
        ))
        .expect("valid metric");
        let credit_waits = IntCounter::with_opts(opts(
            "credit_waits_total",
            "Times a tunnel out of credit waited for a receipt.",
        ))
        .expect("valid metric");
        let refused_connections = IntCounter::with_opts(opts(
            "refused_connections_total",
            "Connections refused for the per-client bound.",
        ))
        .expect("valid metric");
        reg(Box::new(tunnels_open.clone()));
        reg(Box::new(tunnels.clone()));
        reg(Box::new(bytes.clone()));
        reg(Box::new(receipts.clone()));
        reg(Box::new(redeemed_planck.clone()));
        reg(Box::new(credit_waits.clone()));
        let connections = IntCounterVec::new(
            opts("connections_total", "Connections served by transport."),
            &["transport"],
        )
        .expect("valid metric");
        reg(Box::new(refused_connections.clone()));
        reg(Box::new(connections.clone()));
        Self {
            connections,
            registry,
            tunnels_open,
            tunnels,
            bytes,
            receipts,
            redeemed_planck,
            credit_waits,
            refused_connections,
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let enc = prometheus::TextEncoder::new();
        let _ = enc.encode_utf8(&self.registry.gather(), &mut out);
        out
    }
}

/// One payer's bytes relayed on one relay channel, and the signal a
/// receipt arrived.
struct Meter {
    /// The channel it counts for (a reopened channel starts a new meter).
    channel: u64,
    relayed: AtomicU64,
    /// Bytes read and let through the credit check, not yet written:
    /// counted against the credit with `relayed`, so that tunnels copying
    /// at once cannot all pass on the same room.
    reserved: AtomicU64,
    /// What was covered when it started (the chain's payment, or the best
    /// receipt held then): bytes up to it need no new receipt.
    floor: u64,
    receipt: Notify,
}

impl Meter {
    /// Counts `n` reserved bytes carried (written to the other side).
    fn carried(&self, n: u64) {
        self.relayed.fetch_add(n, Ordering::AcqRel);
        self.release(n);
    }

    /// Gives back `n` reserved bytes not carried (the write failed).
    fn release(&self, n: u64) {
        let _ = self
            .reserved
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| {
                Some(r.saturating_sub(n))
            });
    }

    /// Bytes carried plus those reserved.
    fn committed(&self) -> u64 {
        self.relayed
            .load(Ordering::Acquire)
            .saturating_add(self.reserved.load(Ordering::Acquire))
    }
}

/// Whether a nonce was new.
#[derive(Debug, PartialEq, Eq)]
enum NonceUse {
    /// First seen: recorded.
    Fresh,
    /// Seen before (a replay).
    Seen,
    /// The payer (or the proxy) holds too many live ones: try later.
    Full,
}

/// One payer's live nonces and when each expires.
type PayerNonces = HashMap<[u8; 16], u64>;

/// Nonces of tunnel authorizations seen, per payer, until they expire.
///
/// Only payers with an open relay channel get here (the channel is checked
/// first), and each holds at most `per_payer` live nonces: a payer that
/// floods the proxy with authorizations locks out only itself.
struct Nonces {
    seen: Mutex<HashMap<[u8; 32], PayerNonces>>,
    per_payer: usize,
    payers: usize,
}

impl Nonces {
    fn new(per_payer: usize, payers: usize) -> Self {
        Self {
            seen: Mutex::default(),
            per_payer,
            payers,
        }
    }

    /// Records `payer`'s `nonce` (valid until `expires`), unless it was
    /// seen or too many live ones are held.
    fn first_use(&self, payer: [u8; 32], nonce: [u8; 16], expires: u64, now: u64) -> NonceUse {
        let mut all = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if !all.contains_key(&payer) && all.len() >= self.payers {
            all.retain(|_, m| {
                m.retain(|_, e| *e >= now);
                !m.is_empty()
            });
            if all.len() >= self.payers {
                return NonceUse::Full;
            }
        }
        let m = all.entry(payer).or_default();
        if m.contains_key(&nonce) {
            return NonceUse::Seen;
        }
        if m.len() >= self.per_payer {
            m.retain(|_, e| *e >= now);
            if m.len() >= self.per_payer {
                return NonceUse::Full;
            }
        }
        m.insert(nonce, expires);
        NonceUse::Fresh
    }
}

/// Bytes read at once from either side of a tunnel.
const READ_BUF: usize = 64 << 10;

/// Meters kept at most (beyond those of open tunnels or owing payers).
const MAX_METERS: usize = 1 << 16;

/// The proxy: its ledger, where it may relay, its bounds.
pub struct Relay {
    me: [u8; 32],
    genesis: [u8; 32],
    ledger: Arc<Egress>,
    directory: Arc<dyn Directory>,
    limits: RelayLimits,
    /// Its metrics.
    pub metrics: Arc<RelayMetrics>,
    nonces: Nonces,
    meters: Mutex<HashMap<[u8; 32], Arc<Meter>>>,
    tls: Option<Arc<tls::ProxyTls>>,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Full<Bytes>> {
    let mut body = body.into();
    body.push('\n');
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn json(v: serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn refuse(r: Refuse) -> Response<Full<Bytes>> {
    text(r.0, r.1)
}

fn parse_account(s: &str) -> Option<[u8; 32]> {
    let s = s.strip_prefix("0x")?;
    hex::decode(s).ok()?.try_into().ok()
}

/// The address a client counts against: the IPv4 address, or the IPv6 /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl Relay {
    /// A proxy for account `me` on the chain whose genesis hash is
    /// `genesis`, keeping its relay receipts in `ledger`.
    pub fn new(
        me: [u8; 32],
        genesis: [u8; 32],
        ledger: Arc<Egress>,
        directory: Arc<dyn Directory>,
        limits: RelayLimits,
    ) -> Self {
        Self {
            me,
            genesis,
            ledger,
            directory,
            nonces: Nonces::new(limits.nonces_per_payer.max(1), 1 << 16),
            limits,
            metrics: Arc::new(RelayMetrics::new()),
            meters: Mutex::default(),
            tls: None,
        }
    }

    /// Serves TLS too, with `tls` (a connection that opens with a TLS
    /// handshake).
    pub fn with_tls(mut self, tls: Arc<tls::ProxyTls>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The ledger (receipts, the redeemer).
    pub fn ledger(&self) -> &Arc<Egress> {
        &self.ledger
    }

    /// The bounds it runs with.
    pub fn limits(&self) -> &RelayLimits {
        &self.limits
    }

    /// `payer`'s meter for `channel`, starting (if new) from what the
    /// ledger holds of it. A meter of an older channel is replaced; when
    /// many are kept, those of payers with no open tunnel and nothing owed
    /// are dropped.
    fn meter(&self, payer: [u8; 32], channel: u64, start: u64, floor: u64) -> Arc<Meter> {
        let mut m = self.meters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = m.get(&payer) {
            if k.channel == channel {
                return k.clone();
            }
        }
        if m.len() >= MAX_METERS {
            m.retain(|p, k| {
                Arc::strong_count(k) > 1 || k.relayed.load(Ordering::Acquire) > self.covered(p, k)
            });
        }
        let k = Arc::new(Meter {
            channel,
            relayed: AtomicU64::new(start),
            reserved: AtomicU64::new(0),
            floor,
            receipt: Notify::new(),
        });
        m.insert(payer, k.clone());
        k
    }

    fn known_meter(&self, payer: &[u8; 32]) -> Option<Arc<Meter>> {
        let m = self.meters.lock().unwrap_or_else(|e| e.into_inner());
        m.get(payer).cloned()
    }

    /// What `payer`'s receipts cover (the best receipt held, or what the
    /// chain paid if none).
    fn covered(&self, payer: &[u8; 32], meter: &Meter) -> u64 {
        self.ledger
            .account(payer)
            .filter(|a| a.channel == meter.channel)
            .map(|a| a.best)
            .unwrap_or(0)
            .max(meter.floor)
    }

    /// Waits (up to the stall timeout) until `n` more bytes for `payer`
    /// stay within the credit, and reserves them. `false`: no receipt
    /// came, close the tunnel. Once written, the bytes are counted
    /// ([`Meter::carried`]); if not, given back ([`Meter::release`]).
    async fn may_carry(&self, payer: &[u8; 32], meter: &Meter, n: u64) -> bool {
        self.within_credit(payer, meter, n, true).await
    }

    /// Whether receipts cover what is carried and reserved plus `n` bytes,
    /// less the credit (reserving the `n` bytes if `reserve`), waiting for
    /// a receipt up to the stall timeout.
    async fn within_credit(&self, payer: &[u8; 32], meter: &Meter, n: u64, reserve: bool) -> bool {
        let deadline = tokio::time::Instant::now() + self.limits.stall_timeout;
        let mut waited = false;
        loop {
            let notified = meter.receipt.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let room = self
                .covered(payer, meter)
                .saturating_add(self.limits.credit_bytes);
            if reserve {
                // Reserved first, then checked: of two copies racing for
                // the last room, at most one gets it.
                meter.reserved.fetch_add(n, Ordering::AcqRel);
                if meter.committed() <= room {
                    return true;
                }
                meter.release(n);
            } else if meter.committed().saturating_add(n) <= room {
                return true;
            }
            if !waited {
                self.metrics.credit_waits.inc();
                waited = true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }

    /// Checks a CONNECT: the target is registered (and public unless
    /// allowed), the authorization is the payer's for this proxy, chain and
    /// target, fresh and not seen before, the payer has a relay channel
    /// with this proxy and is within its credit. The payer and the address
    /// to dial.
    async fn admit(
        &self,
        authority: &str,
        auth: Option<&str>,
    ) -> Result<([u8; 32], Arc<Meter>, Vec<SocketAddr>), (&'static str, Refuse)> {
        let target = |r: Refuse| ("target", r);
        if !self.directory.allows(authority).await {
            return Err(target(Refuse(
                StatusCode::FORBIDDEN,
                format!(
                    "{authority} is not the endpoint of a host or proxy registered on chain: \
                     this proxy relays only to those"
                ),
            )));
        }
        let bad_auth = |why: &str| {
            (
                "auth",
                Refuse(
                    StatusCode::PROXY_AUTHENTICATION_REQUIRED,
                    format!("{why} (Proxy-Authorization: {AUTH_SCHEME} <hex of payer, expiry, nonce, signature>)"),
                ),
            )
        };
        let auth = auth
            .and_then(|v| v.strip_prefix(AUTH_SCHEME))
            .map(str::trim)
            .ok_or_else(|| bad_auth("a tunnel needs the payer's authorization"))?;
        let a = hex::decode(auth)
            .ok()
            .and_then(|b| TunnelAuth::from_bytes(&b))
            .ok_or_else(|| bad_auth("malformed authorization"))?;
        let now = now_secs();
        if a.expires < now || a.expires > now.saturating_add(self.limits.max_auth_ttl.as_secs()) {
            return Err(bad_auth(
                "the authorization has expired or expires too far ahead (check the clock)",
            ));
        }
        let payload = tunnel_payload(
            &self.genesis,
            &self.me,
            authority.as_bytes(),
            a.expires,
            &a.nonce,
        );
        if !sr25519::verify(
            &sr25519::Signature(a.signature),
            payload,
            &sr25519::PublicKey(a.payer),
        ) {
            return Err(bad_auth(
                "the authorization is not the payer's signature for this chain, proxy and target",
            ));
        }
        // The channel first: only a payer with one can fill nonce slots
        // (its own).
        let ch = self
            .ledger
            .open_channel(a.payer)
            .await
            .map_err(|r| ("payment", r))?;
        match self.nonces.first_use(a.payer, a.nonce, a.expires, now) {
            NonceUse::Fresh => {}
            NonceUse::Seen => return Err(bad_auth("this authorization was used already")),
            NonceUse::Full => {
                return Err((
                    "busy",
                    Refuse(
                        StatusCode::TOO_MANY_REQUESTS,
                        "too many live tunnel authorizations for this payer (or for this proxy): \
                         try again once they expire"
                            .into(),
                    ),
                ))
            }
        }
        let held = self
            .ledger
            .account(&a.payer)
            .filter(|acc| acc.channel == ch.id);
        let start = held
            .map(|acc| acc.served.max(acc.best))
            .unwrap_or(ch.bytes_paid);
        let meter = self.meter(
            a.payer,
            ch.id,
            start,
            held.map(|a| a.best).unwrap_or(ch.bytes_paid),
        );
        // No room in the credit for one read: a new tunnel waits for the
        // receipt that makes some, like a tunnel under way.
        if !self
            .within_credit(&a.payer, &meter, READ_BUF as u64, false)
            .await
        {
            let relayed = meter.relayed.load(Ordering::Acquire);
            let owed = relayed.saturating_sub(self.covered(&a.payer, &meter));
            return Err((
                "payment",
                Refuse(
                    StatusCode::PAYMENT_REQUIRED,
                    format!(
                        "{owed} bytes relayed for this payer are not covered by a receipt: send \
                         one (POST /v1/relay/0x{}?receipt=)",
                        hex::encode(a.payer)
                    ),
                ),
            ));
        }
        let addrs: Vec<SocketAddr> = match tokio::net::lookup_host(authority).await {
            Ok(a) => a.collect(),
            Err(e) => {
                return Err((
                    "upstream",
                    Refuse(
                        StatusCode::BAD_GATEWAY,
                        format!("cannot resolve {authority}: {e}"),
                    ),
                ))
            }
        };
        if !self.limits.allow_private_targets {
            if let Some(ip) = addrs.iter().map(|a| a.ip()).find(|ip| is_private_ip(*ip)) {
                return Err(target(Refuse(
                    StatusCode::FORBIDDEN,
                    format!(
                        "{authority} resolves to {ip}, a loopback/private/link-local address: \
                         refused"
                    ),
                )));
            }
        }
        Ok((a.payer, meter, addrs))
    }

    async fn dial(&self, addrs: &[SocketAddr]) -> Result<TcpStream, String> {
        let mut last = "no address".to_string();
        for a in addrs {
            let socket = match if a.is_ipv4() {
                tokio::net::TcpSocket::new_v4()
            } else {
                tokio::net::TcpSocket::new_v6()
            } {
                Ok(s) => s,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            if let Some(ip) = self.limits.outgoing_address {
                if ip.is_ipv4() == a.is_ipv4() {
                    if let Err(e) = socket.bind(SocketAddr::new(ip, 0)) {
                        last = format!("cannot bind to {ip}: {e}");
                        continue;
                    }
                }
            }
            match tokio::time::timeout(self.limits.connect_timeout, socket.connect(*a)).await {
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "timed out".into(),
            }
        }
        Err(last)
    }

    /// One request on the proxy's port.
    async fn handle(
        self: Arc<Self>,
        peer: SocketAddr,
        slot: Arc<Slot>,
        req: Request<Incoming>,
    ) -> Response<Full<Bytes>> {
        if req.method() == Method::CONNECT {
            return self.connect(peer, slot, req).await;
        }
        let path = req.uri().path().to_string();
        match (req.method(), path.as_str()) {
            (&Method::GET, "/metrics") => {
                let mut r = text(StatusCode::OK, self.metrics.render());
                r.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/plain; version=0.0.4"),
                );
                r
            }
            (&Method::GET, "/v1/info") => json(serde_json::json!({
                "account": format!("0x{}", hex::encode(self.me)),
                "price": self.ledger.price().to_string(),
                "credit": self.limits.credit_bytes,
                "tls": self.tls.as_ref().map(|t| t.info()),
                "version": env!("CARGO_PKG_VERSION"),
            })),
            (m, p) if p.starts_with("/v1/relay/") => {
                let Some(payer) = parse_account(&p["/v1/relay/".len()..]) else {
                    return text(
                        StatusCode::BAD_REQUEST,
                        "expected /v1/relay/0x<64 hex digits of the payer's account>",
                    );
                };
                match *m {
                    Method::GET => self.status(payer).await,
                    Method::POST => {
                        let receipt = req.uri().query().and_then(|q| {
                            q.split('&')
                                .find_map(|kv| kv.strip_prefix("receipt="))
                                .map(str::to_string)
                        });
                        match receipt {
                            Some(r) => self.receipt(payer, &r).await,
                            None => text(StatusCode::BAD_REQUEST, "expected ?receipt=<hex>"),
                        }
                    }
                    _ => text(StatusCode::METHOD_NOT_ALLOWED, "GET or POST"),
                }
            }
            _ => text(
                StatusCode::NOT_FOUND,
                "not a proxy route (CONNECT host:port, /v1/relay/0x{payer}, /v1/info, /metrics)",
            ),
        }
    }

    async fn status(&self, payer: [u8; 32]) -> Response<Full<Bytes>> {
        let ch = self.ledger.open_channel(payer).await.ok();
        let acc = self
            .ledger
            .account(&payer)
            .filter(|a| ch.is_some_and(|c| c.id == a.channel));
        let paid = ch.map(|c| c.bytes_paid).unwrap_or(0);
        let relayed = self
            .known_meter(&payer)
            .filter(|m| ch.is_some_and(|c| c.id == m.channel))
            .map(|m| m.relayed.load(Ordering::Acquire))
            .unwrap_or(0)
            .max(acc.map(|a| a.served).unwrap_or(paid));
        json(serde_json::json!({
            "price": self.ledger.price().to_string(),
            "channel": ch.map(|c| c.id),
            "relayed": relayed,
            "best": acc.map(|a| a.best).unwrap_or(paid),
            // The payer's own signature of `best` (so it can check the
            // count it resumes from is one it signed); zeros when `best`
            // is only what the chain paid.
            "best_signature": format!("0x{}", hex::encode(acc.map(|a| a.signature).unwrap_or([0; 64]))),
            "redeemed": acc.map(|a| a.redeemed).unwrap_or(paid).max(paid),
            "credit": self.limits.credit_bytes,
        }))
    }

    async fn receipt(&self, payer: [u8; 32], wire: &str) -> Response<Full<Bytes>> {
        // The meter counts for the payer's open channel only: one left from
        // an earlier channel says nothing of this one.
        let channel = self.ledger.open_channel(payer).await.ok().map(|c| c.id);
        let relayed = self
            .known_meter(&payer)
            .filter(|m| Some(m.channel) == channel)
            .map(|m| m.relayed.load(Ordering::Acquire))
            .unwrap_or(0);
        match self
            .ledger
            .accept(Some(self.genesis), payer, wire, relayed)
            .await
        {
            Ok(acc) => {
                self.metrics.receipts.with_label_values(&["accepted"]).inc();
                if let Some(m) = self.known_meter(&payer) {
                    m.receipt.notify_waiters();
                }
                json(serde_json::json!({ "best": acc.best, "relayed": acc.served }))
            }
            Err(r) => {
                self.metrics.receipts.with_label_values(&["refused"]).inc();
                refuse(r)
            }
        }
    }

    /// A `CONNECT`: admitted, the target dialled, then `200` and the
    /// tunnel (which keeps the connection's `slot` until it closes).
    async fn connect(
        self: Arc<Self>,
        peer: SocketAddr,
        slot: Arc<Slot>,
        req: Request<Incoming>,
    ) -> Response<Full<Bytes>> {
        let Some(authority) = req.uri().authority().map(|a| a.as_str().to_string()) else {
            return text(StatusCode::BAD_REQUEST, "CONNECT needs host:port");
        };
        let auth = req
            .headers()
            .get(http::header::PROXY_AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let (payer, meter, addrs) = match self.admit(&authority, auth.as_deref()).await {
            Ok(x) => x,
            Err((why, r)) => {
                self.metrics.tunnels.with_label_values(&[why]).inc();
                if self.limits.log_client_addresses {
                    tracing::info!(%peer, target = %authority, status = %r.0, reason = %r.1, "tunnel refused");
                } else {
                    tracing::info!(target = %authority, status = %r.0, reason = %r.1, "tunnel refused");
                }
                let mut resp = refuse(r);
                // Nothing more on this connection: a refused client dials
                // again (and cannot pipeline guesses on one connection).
                resp.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
                if resp.status() == StatusCode::PROXY_AUTHENTICATION_REQUIRED {
                    resp.headers_mut().insert(
                        http::header::PROXY_AUTHENTICATE,
                        http::HeaderValue::from_static(AUTH_SCHEME),
                    );
                }
                return resp;
            }
        };
        let upstream = match self.dial(&addrs).await {
            Ok(s) => s,
            Err(e) => {
                self.metrics.tunnels.with_label_values(&["upstream"]).inc();
                let mut resp = text(
                    StatusCode::BAD_GATEWAY,
                    format!("cannot reach {authority}: {e}"),
                );
                resp.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
                return resp;
            }
        };
        self.metrics.tunnels.with_label_values(&["opened"]).inc();
        let relay = self.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match hyper::upgrade::on(req).await {
                Ok(upgraded) => {
                    relay.metrics.tunnels_open.inc();
                    let (up, down) = relay
                        .clone()
                        .pipe(TokioIo::new(upgraded), upstream, payer, meter)
                        .await;
                    relay.metrics.tunnels_open.dec();
                    tracing::debug!(target = %authority, up, down, payer = %format!("0x{}", hex::encode(payer)), "tunnel closed");
                }
                Err(e) => tracing::debug!(error = %e, "the tunnel was not taken up"),
            }
        });
        Response::new(Full::new(Bytes::new()))
    }

    /// Carries bytes both ways until either side closes, the tunnel idles
    /// or runs out of credit; the bytes carried (up, down).
    async fn pipe<C>(
        self: Arc<Self>,
        client: C,
        upstream: TcpStream,
        payer: [u8; 32],
        meter: Arc<Meter>,
    ) -> (u64, u64)
    where
        C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (cr, cw) = tokio::io::split(client);
        let (ur, uw) = upstream.into_split();
        let active = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let up_bytes = self.metrics.bytes.with_label_values(&["up"]);
        let down_bytes = self.metrics.bytes.with_label_values(&["down"]);
        let up = self.copy(cr, uw, payer, &meter, &active, started, up_bytes);
        let down = self.copy(ur, cw, payer, &meter, &active, started, down_bytes);
        tokio::pin!(up, down);
        let idle = self.limits.idle_timeout;
        let watchdog = async {
            loop {
                tokio::time::sleep(idle / 4 + Duration::from_millis(10)).await;
                let last = Duration::from_millis(active.load(Ordering::Relaxed));
                if started.elapsed().saturating_sub(last) >= idle {
                    return;
                }
            }
        };
        tokio::pin!(watchdog);
        let (mut a, mut b) = (None, None);
        loop {
            tokio::select! {
                r = &mut up, if a.is_none() => {
                    let (n, stalled) = r;
                    a = Some(n);
                    // Out of credit: the whole tunnel ends. (The client
                    // closing its side lets the answer still come back.)
                    if stalled || b.is_some() { break; }
                }
                r = &mut down, if b.is_none() => {
                    b = Some(r.0);
                    // The target closed, or credit ran out: nothing more
                    // comes back.
                    break;
                }
                _ = &mut watchdog => break,
            }
        }
        (a.unwrap_or(0), b.unwrap_or(0))
    }

    /// Copies `from` to `to`: each read waits for room in `payer`'s credit
    /// before it is written, and is counted once written; the bytes
    /// carried, and whether it stopped for want of a receipt.
    #[allow(clippy::too_many_arguments)]
    async fn copy<R, W>(
        &self,
        mut from: R,
        mut to: W,
        payer: [u8; 32],
        meter: &Meter,
        active: &AtomicU64,
        started: Instant,
        counter: IntCounter,
    ) -> (u64, bool)
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut buf = vec![0u8; READ_BUF];
        let mut total = 0u64;
        let mut stalled = false;
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            active.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
            if !self.may_carry(&payer, meter, n as u64).await {
                tracing::info!(
                    payer = %format!("0x{}", hex::encode(payer)),
                    "no receipt within the stall timeout: tunnel closed"
                );
                stalled = true;
                break;
            }
            if to.write_all(&buf[..n]).await.is_err() {
                meter.release(n as u64);
                break;
            }
            meter.carried(n as u64);
            total = total.saturating_add(n as u64);
            counter.inc_by(n as u64);
        }
        let _ = to.shutdown().await;
        (total, stalled)
    }
}

/// Open connections by client address.
type Clients = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// A connection's place, given back when it closes.
struct Slot {
    clients: Clients,
    key: IpAddr,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut m = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.key);
            }
        }
    }
}

/// Serves the proxy on `listener` until `stop` turns true.
pub async fn serve(listener: TcpListener, relay: Arc<Relay>, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(relay.limits.max_connections.max(1)));
    let clients: Clients = Arc::default();
    let per_client = relay.limits.max_connections_per_client.max(1);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = stop.changed() => return,
        };
        let (stream, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed; pausing");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let key = client_key(peer.ip());
        let admitted = {
            let mut m = clients.lock().unwrap_or_else(|e| e.into_inner());
            let n = m.entry(key).or_insert(0);
            if *n >= per_client {
                false
            } else {
                *n += 1;
                true
            }
        };
        if !admitted {
            relay.metrics.refused_connections.inc();
            tokio::spawn(async move {
                let mut s = stream;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 47\r\nconnection: close\r\n\r\ntoo many connections from this address; later\n\n",
                    )
                    .await;
            });
            continue;
        }
        // Held by the connection and, once it becomes a tunnel, by the
        // tunnel: given back when both are done.
        let slot = Arc::new(Slot {
            clients: clients.clone(),
            key,
            _permit: permit,
        });
        let _ = stream.set_nodelay(true);
        let relay = relay.clone();
        tokio::spawn(async move {
            let Some(tls) = relay.tls.clone() else {
                return serve_connection(relay, peer, slot, stream, "plain").await;
            };
            // A TLS handshake opens with a handshake record (0x16); plain
            // HTTP with a method name.
            let mut first = [0u8; 1];
            match tokio::time::timeout(Duration::from_secs(30), stream.peek(&mut first)).await {
                Ok(Ok(1)) if first[0] == 0x16 => {}
                Ok(Ok(_)) => return serve_connection(relay, peer, slot, stream, "plain").await,
                _ => return,
            }
            match tokio::time::timeout(Duration::from_secs(30), tls.acceptor.accept(stream)).await {
                Ok(Ok(s)) => serve_connection(relay, peer, slot, s, "tls").await,
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
        });
    }
}

/// Serves HTTP (requests and `CONNECT` tunnels) on one accepted connection.
async fn serve_connection<S>(
    relay: Arc<Relay>,
    peer: SocketAddr,
    slot: Arc<Slot>,
    stream: S,
    transport: &str,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    relay
        .metrics
        .connections
        .with_label_values(&[transport])
        .inc();
    let held = slot.clone();
    let svc = hyper::service::service_fn(move |req| {
        let (relay, slot) = (relay.clone(), held.clone());
        async move { Ok::<_, Infallible>(relay.handle(peer, slot, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "proxy connection ended");
    }
    drop(slot);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_become_host_port() {
        assert_eq!(
            authority_of("http://127.0.0.5:9100/").as_deref(),
            Some("127.0.0.5:9100")
        );
        assert_eq!(
            authority_of("https://Host.Example").as_deref(),
            Some("host.example:443")
        );
        assert_eq!(authority_of("http://[::1]:80").as_deref(), Some("[::1]:80"));
        assert_eq!(authority_of("ftp://x:1"), None);
        assert_eq!(authority_of("http://u@x:1"), None);
        let set = TargetSet::new(["http://a:1", "junk", "https://b"]);
        assert!(set.contains("a:1") && set.contains("B:443"));
        assert!(!set.contains("a:2") && !set.contains("junk"));
    }

    #[test]
    fn a_nonce_opens_one_tunnel() {
        let n = Nonces::new(2, 2);
        let (alice, bob, carol) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        use NonceUse::*;
        assert_eq!(n.first_use(alice, [1; 16], 100, 10), Fresh);
        assert_eq!(n.first_use(alice, [1; 16], 100, 10), Seen);
        assert_eq!(n.first_use(alice, [2; 16], 100, 10), Fresh);
        // Full of live nonces: refused (busy, not a bad authorization)
        // rather than forgetting one.
        assert_eq!(n.first_use(alice, [3; 16], 100, 10), Full);
        // A replay is still a replay when full.
        assert_eq!(n.first_use(alice, [1; 16], 100, 10), Seen);
        // ... for that payer only: another's first tunnel opens.
        assert_eq!(n.first_use(bob, [3; 16], 100, 10), Fresh);
        // The same nonce of another payer is another authorization.
        assert_eq!(n.first_use(bob, [1; 16], 100, 10), Fresh);
        // Payers bounded too, until their nonces expire.
        assert_eq!(n.first_use(carol, [1; 16], 100, 10), Full);
        assert_eq!(n.first_use(carol, [1; 16], 100, 200), Fresh);
        // Expired ones make room.
        assert_eq!(n.first_use(alice, [3; 16], 100, 200), Fresh);
    }

    #[test]
    fn clients_count_by_ipv4_or_ipv6_slash_64() {
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::2".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        let m: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client_key(m), "10.0.0.1".parse::<IpAddr>().unwrap());
    }
}
