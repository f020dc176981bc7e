//! Reaching hosts through proxies (`--proxy`, `--hops`), so a host never
//! sees this machine's address, paying each proxy per byte it relays.
//!
//! - **Tunnels**: every connection to a host is an HTTP `CONNECT` tunnel
//!   through one proxy, or through two (`--hops 2`: the first sees this
//!   machine but not the host, the second the host but not this machine).
//!   TLS to an `https://` host runs end to end inside the tunnel. Each
//!   `CONNECT` carries this account's signed authorization for that proxy
//!   and target ([`masp_primitives::relay`]). There is no direct fallback:
//!   when no proxy answers, the request fails and says so.
//! - **TLS to the second proxy** (`--hops 2`): the tunnel through the first
//!   proxy carries TLS to the second, which accepts exactly the certificate
//!   the second proxy's account signed for ([`masp_primitives::relay::
//!   tls_binding_payload`], fetched from its `/v1/info`): the first proxy
//!   sees neither the host nor the second proxy's authorization.
//! - **Failover**: a proxy that cannot be reached, or is busy, is set aside
//!   for a while (5 s, doubling to 2 min) and the next route of the pool is
//!   tried, so a request retried after its proxy died goes through another
//!   (a put then completes through the survivors). A proxy that could not
//!   reach the host (`502`) is not blamed: that is the host's failure, and
//!   the request fails like a direct one would. Only a proxy this machine
//!   failed to reach or talk to itself is reported on chain.
//! - **Payment**: this account holds an allowance in a relay channel with
//!   each proxy (`pallet-egress`, [`Service::Relay`]). The bytes carried
//!   through a proxy after its `200` are counted here exactly as the proxy
//!   counts them (both ways, the inner proxies' handshakes included), and a
//!   cumulative receipt for them is signed and sent as they flow, and once
//!   more when the command ends ([`Relays::flush`]). The count starts from
//!   the most of: what this account signed before on the channel (kept in
//!   `~/.masp/relay/`), what the chain paid, and the best receipt the proxy
//!   holds if it shows this account's signature of it. A proxy's claim that
//!   it relayed more than that is paid only after a run of this machine
//!   was cut short (its record is still marked open), and only up to the
//!   proxy's credit (at most 16 MiB): the bytes that run carried but did
//!   not sign for. At the end of a run, a proxy that counts a little more
//!   than this side (at most 256 KiB: bytes it delivered that a closed
//!   connection never read) is paid that too, so the counts never drift
//!   apart until the proxy stalls.
//! - The chain node connection is not relayed: use a node you trust (your
//!   own, or one reached over a VPN).

use std::{
    collections::HashMap,
    io,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll},
    time::Duration,
};

use anyhow::{anyhow, bail, Context as _, Result};
use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{
        connect::{Connected, Connection},
        Client,
    },
    rt::{TokioExecutor, TokioIo},
};
use masp_chain::api::runtime_types::masp_primitives::egress::Service as ChainService;
use masp_chain::{api, AccountId32, Keypair};
use masp_primitives::{
    egress::{cost, receipt_payload, Service, WireReceipt},
    relay::{tls_binding_payload, tunnel_payload, TunnelAuth, AUTH_SCHEME},
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::{fsutil, hostapi::is_private, ops::Ctx};

/// A byte stream a connection runs over (a TCP stream, or a tunnel).
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A connection as hyper's client takes it.
pub struct Conn(TokioIo<Box<dyn Io>>);

impl Conn {
    /// `io` as a connection.
    pub fn new(io: Box<dyn Io>) -> Self {
        Self(TokioIo::new(io))
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

/// Bytes carried through one proxy by this process.
pub struct Meter {
    counted: AtomicU64,
    /// Woken every `step` bytes: time for a receipt.
    due: tokio::sync::Notify,
    step: AtomicU64,
}

impl Meter {
    fn new() -> Self {
        Self {
            counted: AtomicU64::new(0),
            due: tokio::sync::Notify::new(),
            step: AtomicU64::new(1 << 20),
        }
    }

    fn add(&self, n: usize) {
        let n = n as u64;
        let after = self
            .counted
            .fetch_add(n, Ordering::AcqRel)
            .saturating_add(n);
        let step = self.step.load(Ordering::Relaxed).max(1);
        if after / step != after.saturating_sub(n) / step {
            self.due.notify_one();
        }
    }

    /// Bytes counted so far.
    pub fn counted(&self) -> u64 {
        self.counted.load(Ordering::Acquire)
    }
}

/// A stream whose bytes (both ways) are counted into a proxy's meter.
struct Metered {
    inner: Box<dyn Io>,
    meter: Arc<Meter>,
}

impl AsyncRead for Metered {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut me.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            me.meter.add(buf.filled().len().saturating_sub(before));
        }
        r
    }
}

impl AsyncWrite for Metered {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        let r = Pin::new(&mut me.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            me.meter.add(n);
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        let r = Pin::new(&mut me.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            me.meter.add(n);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// What this run knows of its account at a proxy.
#[derive(Clone, Copy, Debug)]
struct Session {
    /// The count receipts start from (this process's bytes go on top).
    base: u64,
}

/// One proxy of the pool.
pub struct Proxy {
    /// Its account (the payee of the relay channel).
    pub account: AccountId32,
    /// Its endpoint, as registered.
    pub endpoint: String,
    /// `host:port` of the endpoint (what a `CONNECT` to it names).
    authority: String,
    host: String,
    port: u16,
    /// The relay channel this account pays it through.
    pub channel: u64,
    /// Bytes the chain had paid on the channel when this run began.
    paid: u64,
    meter: Arc<Meter>,
    session: tokio::sync::OnceCell<Session>,
    /// The highest count signed (the absolute receipt count).
    signed: tokio::sync::Mutex<u64>,
    health: Mutex<Health>,
    settled: AtomicU64,
    /// TLS to it inside another proxy's tunnel: accepts only the
    /// certificate its account vouched for (set by its session when it is
    /// reached through another proxy).
    pin: std::sync::OnceLock<Arc<rustls::ClientConfig>>,
    /// Where the count signed is kept between runs.
    record: PathBuf,
    /// The route prefix its last working route reached it through (none:
    /// directly); its receipts go the same way.
    via: Mutex<Vec<Arc<Proxy>>>,
    /// The part it plays in this run's two-hop routes (see [`Role`]).
    role: Mutex<Option<Role>>,
    /// The client its API calls go through (kept: one tunnel for many
    /// receipts), with the route it was made for.
    api: Mutex<Option<(Vec<[u8; 32]>, ApiClient)>>,
}

type ApiClient = Client<crate::hostapi::Connector, Full<Bytes>>;

/// The part a proxy plays in a run with two hops, fixed the first time it
/// plays one, so that no proxy learns both this machine's address (an
/// entry's) and a host it talks to (an exit's). A proxy reached only
/// through another one for its own API plays neither.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Dialled directly: it knows this machine's address.
    Entry,
    /// Asked for a tunnel to a host: it knows the host.
    Exit,
}

/// How a proxy has fared in this run.
#[derive(Default, Debug)]
struct Health {
    /// Set aside until then (no route through it before).
    until: Option<std::time::Instant>,
    /// Failures in a row (each doubles the time set aside).
    strikes: u32,
    /// Failures seen in this run.
    failures: u32,
    /// Whether this machine itself failed to reach or talk to it (what
    /// is reported on chain).
    unreachable: bool,
    /// As an entry: the exits that failed behind it since it last carried
    /// a tunnel (an entry that fails with every exit is the likelier
    /// culprit; at most the pool's size).
    exits_failed: Vec<[u8; 32]>,
}

/// Distinct exits failing behind one entry, in a row, that set it aside.
const ENTRY_BLAME: usize = 2;

/// How long a pair of proxies whose route failed (beyond the entry, where
/// either may be the cause) is not tried together.
const PAIR_ASIDE: Duration = Duration::from_secs(60);

/// How long a proxy that failed `strikes` times in a row is set aside.
fn backoff(strikes: u32) -> Duration {
    let secs = 5u64.saturating_mul(1 << strikes.saturating_sub(1).min(5));
    Duration::from_secs(secs.min(120))
}

impl Proxy {
    /// Bytes carried through it by this process.
    pub fn relayed(&self) -> u64 {
        self.meter.counted()
    }

    /// Bytes paid at the end of the run beyond this side's count, as the
    /// proxy counted them (at most [`SETTLE_SLACK`]).
    pub fn settled(&self) -> u64 {
        self.settled.load(Ordering::Relaxed)
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether it is set aside now (failed a moment ago).
    pub fn is_set_aside(&self) -> bool {
        self.is_set_aside_at(std::time::Instant::now())
    }

    fn is_set_aside_at(&self, now: std::time::Instant) -> bool {
        self.health().until.is_some_and(|t| now < t)
    }

    /// Whether it failed at least once in this run.
    pub fn failed(&self) -> bool {
        self.health().failures > 0
    }

    /// Sets it aside after a failure (`unreachable`: this machine could not
    /// reach or talk to it); whether it was in use until now.
    fn set_aside(&self, unreachable: bool) -> bool {
        self.set_aside_at(std::time::Instant::now(), unreachable)
    }

    fn set_aside_at(&self, now: std::time::Instant, unreachable: bool) -> bool {
        let mut h = self.health();
        let was_up = h.until.is_none_or(|t| now >= t);
        if was_up {
            h.strikes = h.strikes.saturating_add(1);
            h.failures = h.failures.saturating_add(1);
            h.until = Some(now + backoff(h.strikes));
        }
        h.unreachable |= unreachable;
        was_up
    }

    /// It carried a tunnel: failures in a row start again.
    fn worked(&self) {
        let mut h = self.health();
        h.strikes = 0;
        h.until = None;
        h.exits_failed.clear();
    }

    /// As an entry, `exit` failed behind it: whether that makes enough
    /// distinct exits in a row to set the entry aside.
    fn exit_failed_behind(&self, exit: [u8; 32]) -> bool {
        let mut h = self.health();
        if !h.exits_failed.contains(&exit) {
            h.exits_failed.push(exit);
        }
        h.exits_failed.len() >= ENTRY_BLAME
    }

    fn role(&self) -> Option<Role> {
        *self.role.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes on `role` unless it plays the other one: whether it may.
    fn claim(&self, role: Role) -> bool {
        let mut r = self.role.lock().unwrap_or_else(|e| e.into_inner());
        match *r {
            Some(had) => had == role,
            None => {
                *r = Some(role);
                true
            }
        }
    }

    /// Whether it may play `role` (it plays it, or none yet).
    fn may_be(&self, role: Role) -> bool {
        self.role().is_none_or(|r| r == role)
    }
}

/// Why a route could not be used.
#[derive(Debug)]
enum DialError {
    /// The proxy at `index` of the route failed: set it aside, try another
    /// route. `unreachable`: this machine itself could not reach or talk to
    /// it (a failure to report on chain); otherwise it was busy, or the
    /// failure may be another proxy's doing.
    Proxy {
        index: usize,
        why: String,
        unreachable: bool,
    },
    /// The last proxy could not reach the target (`502`): the target's
    /// failure, not the proxy's.
    Upstream(String),
    /// A proxy answered with a refusal that another route would get too
    /// (an unregistered target, no allowance), or this machine could not
    /// keep its count.
    Refused(String),
    /// The route would give a proxy both parts (another dial claimed one
    /// a moment ago): pick the routes again.
    Role,
}

impl DialError {
    fn proxy(index: usize, why: impl Into<String>) -> Self {
        Self::Proxy {
            index,
            why: why.into(),
            unreachable: false,
        }
    }
}

/// What this machine keeps of its count on a relay channel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Record {
    /// The highest count signed.
    count: u64,
    /// A run was under way (and may have carried bytes it did not sign
    /// for, if it was killed).
    open: bool,
}

fn read_record(path: &std::path::Path) -> Record {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut words = text.split_whitespace();
    Record {
        count: words.next().and_then(|w| w.parse().ok()).unwrap_or(0),
        open: words.next() == Some("open"),
    }
}

fn write_record(path: &std::path::Path, r: Record) -> io::Result<()> {
    let text = if r.open {
        format!("{} open\n", r.count)
    } else {
        format!("{}\n", r.count)
    };
    fsutil::write_atomic(path, text.as_bytes(), 0o600)
}

/// The most paid, beyond this side's count, for bytes a killed run carried
/// but did not sign for.
const MAX_UNSIGNED: u64 = 16 << 20;

/// The most paid at the end of a run for bytes the proxy counts and this
/// side does not (delivered, never read by a closed connection).
const SETTLE_SLACK: u64 = 256 << 10;

/// Two proxies' accounts: an entry and an exit.
type Pair = ([u8; 32], [u8; 32]);

/// The pool of proxies and how routes are made of it.
pub struct Relays {
    proxies: Vec<Arc<Proxy>>,
    hops: usize,
    genesis: [u8; 32],
    keypair: Keypair,
    bind: Option<IpAddr>,
    allow_private: bool,
    tls: Arc<rustls::ClientConfig>,
    /// Pairs (entry, exit) set aside until then: their route failed beyond
    /// the entry, where either may be the cause.
    pairs: Mutex<HashMap<Pair, std::time::Instant>>,
}

/// `host:port` of `uri` (the scheme's port if none), lower case.
fn authority(uri: &Uri) -> Option<(String, String, u16)> {
    let host = uri.host()?.to_ascii_lowercase();
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    });
    Some((format!("{host}:{port}"), host, port))
}

impl Relays {
    /// The proxies, in the order they are tried.
    pub fn proxies(&self) -> &[Arc<Proxy>] {
        &self.proxies
    }

    /// Proxies per route.
    pub fn hops(&self) -> usize {
        self.hops
    }

    /// The routes to try now: every proxy not set aside (one hop), or every
    /// pair of two of them (two hops) whose entry may be an entry and exit
    /// an exit ([`Role`]) and that is not set aside as a pair, in pool
    /// order.
    fn routes(&self) -> Vec<Vec<Arc<Proxy>>> {
        let now = std::time::Instant::now();
        let alive: Vec<&Arc<Proxy>> = self
            .proxies
            .iter()
            .filter(|p| !p.is_set_aside_at(now))
            .collect();
        if self.hops == 1 {
            return alive.into_iter().map(|p| vec![p.clone()]).collect();
        }
        let pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for a in alive.iter().filter(|a| a.may_be(Role::Entry)) {
            for b in alive.iter().filter(|b| b.may_be(Role::Exit)) {
                let aside = pairs
                    .get(&(a.account.0, b.account.0))
                    .is_some_and(|t| now < *t);
                if !Arc::ptr_eq(a, b) && !aside {
                    out.push(vec![(*a).clone(), (*b).clone()]);
                }
            }
        }
        out
    }

    /// The route `p`'s receipts and API calls take now: directly to an
    /// entry (or with one hop); else the route its last tunnel took, or,
    /// if a proxy of that one is set aside, through another proxy that may
    /// be an entry. `None`: no such route now (never directly to a proxy
    /// that is not an entry).
    fn receipt_route(&self, p: &Arc<Proxy>) -> Option<Vec<Arc<Proxy>>> {
        if self.hops == 1 || p.role() == Some(Role::Entry) {
            return Some(Vec::new());
        }
        let via = p.via.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if !via.is_empty() && via.iter().all(|v| !v.is_set_aside()) {
            return Some(via);
        }
        self.proxies
            .iter()
            .find(|o| !Arc::ptr_eq(o, p) && !o.is_set_aside() && o.may_be(Role::Entry))
            .map(|o| vec![o.clone()])
    }

    /// After a failure beyond the entry of a two-hop route: that pair is
    /// not tried again for a while, and an entry behind which
    /// [`ENTRY_BLAME`] distinct exits failed in a row is set aside (neither
    /// is reported: which one failed is not known). Whether the entry was.
    fn pair_failed(&self, entry: &Proxy, exit: &Proxy) -> bool {
        self.pairs.lock().unwrap_or_else(|e| e.into_inner()).insert(
            (entry.account.0, exit.account.0),
            std::time::Instant::now() + PAIR_ASIDE,
        );
        entry.exit_failed_behind(exit.account.0) && entry.set_aside(false)
    }

    /// A stream to `target` (`host:port`) through the first route that
    /// works; an error naming every proxy tried if none does. Never a
    /// direct connection.
    pub async fn dial(self: &Arc<Self>, target: &str) -> io::Result<Box<dyn Io>> {
        let mut tried = Vec::new();
        loop {
            let Some(route) = self.routes().into_iter().next() else {
                let why = if tried.is_empty() {
                    "every proxy failed a moment ago and is set aside for a while".to_string()
                } else {
                    tried.join("; ")
                };
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!(
                        "no proxy route to {target} ({why}); not connecting directly since \
                         --proxy was given"
                    ),
                ));
            };
            match self.dial_route(&route, target).await {
                Ok(s) => {
                    for (i, p) in route.iter().enumerate() {
                        p.worked();
                        *p.via.lock().unwrap_or_else(|e| e.into_inner()) = route[..i].to_vec();
                    }
                    return Ok(s);
                }
                Err(DialError::Role) => continue,
                Err(DialError::Refused(why)) => {
                    return Err(io::Error::new(io::ErrorKind::PermissionDenied, why))
                }
                Err(DialError::Upstream(why)) => {
                    return Err(io::Error::new(io::ErrorKind::ConnectionRefused, why))
                }
                Err(DialError::Proxy {
                    index,
                    why,
                    unreachable,
                }) => {
                    let Some(p) = route.get(index).or(route.last()) else {
                        return Err(io::Error::other("an empty proxy route"));
                    };
                    if let Some(entry) = index.checked_sub(1).and_then(|e| route.get(e)) {
                        if self.pair_failed(entry, p) {
                            eprintln!(
                                "warning: proxy {} ({}) failed with {ENTRY_BLAME} exits behind it \
                                 ({why}); using other entries",
                                entry.account, entry.endpoint
                            );
                        }
                        tried.push(format!("{} behind {}: {why}", p.endpoint, entry.endpoint));
                        continue;
                    }
                    if p.set_aside(unreachable) {
                        eprintln!(
                            "warning: proxy {} ({}) failed: {why}; using the others",
                            p.account, p.endpoint
                        );
                    }
                    tried.push(format!("{}: {why}", p.endpoint));
                }
            }
        }
    }

    async fn tcp(&self, p: &Proxy) -> Result<tokio::net::TcpStream, String> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((p.host.as_str(), p.port))
            .await
            .map_err(|e| format!("cannot resolve {}: {e}", p.host))?
            .collect();
        if !self.allow_private {
            if let Some(a) = addrs.iter().find(|a| is_private(a.ip())) {
                return Err(format!(
                    "{} resolves to {}, a loopback/private/link-local address: refused outside \
                     a development chain",
                    p.host,
                    a.ip()
                ));
            }
        }
        let mut last = "no address".to_string();
        for a in addrs {
            let socket = if a.is_ipv4() {
                tokio::net::TcpSocket::new_v4()
            } else {
                tokio::net::TcpSocket::new_v6()
            }
            .map_err(|e| e.to_string())?;
            if let Some(ip) = self.bind {
                if ip.is_ipv4() == a.is_ipv4() {
                    socket
                        .bind(SocketAddr::new(ip, 0))
                        .map_err(|e| format!("cannot bind to {ip}: {e}"))?;
                }
            }
            match tokio::time::timeout(Duration::from_secs(10), socket.connect(a)).await {
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Ok(Err(e)) => last = format!("{a}: {e}"),
                Err(_) => last = format!("{a}: timed out"),
            }
        }
        Err(last)
    }

    fn authorization(&self, p: &Proxy, target: &str) -> String {
        let expires = crate::hostapi::unix_now().saturating_add(300);
        let nonce: [u8; 16] = rand::random();
        let payload = tunnel_payload(
            &self.genesis,
            &p.account.0,
            target.as_bytes(),
            expires,
            &nonce,
        );
        let auth = TunnelAuth {
            payer: self.keypair.public_key().0,
            expires,
            nonce,
            signature: self.keypair.sign(&payload).0,
        };
        format!("{AUTH_SCHEME} {}", hex::encode(auth.to_bytes()))
    }

    /// Asks `p` (reached over `io`) for a tunnel to `target`.
    async fn handshake(
        &self,
        mut io: Box<dyn Io>,
        p: &Arc<Proxy>,
        i: usize,
        last: bool,
        target: &str,
    ) -> Result<Box<dyn Io>, DialError> {
        // Only a proxy this machine talks to directly can be blamed for a
        // broken exchange: further in, the proxy before it may be the cause.
        let broken = |why: String| DialError::Proxy {
            index: i,
            why,
            unreachable: i == 0,
        };
        let req = format!(
            "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: {}\r\n\r\n",
            self.authorization(p, target)
        );
        let head = async {
            io.write_all(req.as_bytes()).await?;
            // The answer's head, read byte by byte: nothing of the tunnel
            // after it may be consumed here.
            let mut head = Vec::with_capacity(256);
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if head.len() > 16 << 10 {
                    return Err(io::Error::other("answer head too long"));
                }
                if io.read(&mut byte).await? == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "closed before answering",
                    ));
                }
                head.push(byte[0]);
            }
            Ok::<_, io::Error>(head)
        };
        let head = tokio::time::timeout(Duration::from_secs(30), head)
            .await
            .map_err(|_| broken("no answer to CONNECT within 30 s".into()))?
            .map_err(|e| broken(e.to_string()))?;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        resp.parse(&head)
            .map_err(|e| broken(format!("bad answer to CONNECT: {e}")))?;
        let code = resp.code.unwrap_or(0);
        if code == 200 {
            return Ok(Box::new(Metered {
                inner: io,
                meter: p.meter.clone(),
            }));
        }
        let len = resp
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| {
                std::str::from_utf8(h.value)
                    .ok()?
                    .trim()
                    .parse::<usize>()
                    .ok()
            })
            .unwrap_or(0)
            .min(4096);
        let mut body = vec![0u8; len];
        let _ = tokio::time::timeout(Duration::from_secs(5), io.read_exact(&mut body)).await;
        let reason = String::from_utf8_lossy(&body).trim().to_string();
        let why = format!(
            "proxy {} refused the tunnel to {target}: HTTP {code}: {reason}",
            p.endpoint
        );
        match code {
            // It could not reach the next proxy: that one is set aside (not
            // reported: this one's word is all there is).
            502 if !last => Err(DialError::proxy(i + 1, why)),
            // It could not reach the host: the host's failure.
            502 => Err(DialError::Upstream(why)),
            // Busy, or the chain slow to answer it: another proxy may do.
            429 | 500..=599 => Err(DialError::proxy(i, why)),
            _ => Err(DialError::Refused(why)),
        }
    }

    /// A stream to `target` through `route` (its proxies' sessions set up
    /// first).
    fn dial_route<'a>(
        self: &'a Arc<Self>,
        route: &'a [Arc<Proxy>],
        target: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn Io>, DialError>> {
        Box::pin(async move {
            let Some(first) = route.first() else {
                return Err(DialError::Refused("an empty route".into()));
            };
            if self.hops > 1 {
                let to_host = !self.proxies.iter().any(|p| p.authority == target);
                if to_host && route.len() < 2 {
                    return Err(DialError::Refused(format!(
                        "a route of one proxy to {target} with --hops {}",
                        self.hops
                    )));
                }
                let exit_ok = !to_host || route.last().is_some_and(|l| l.claim(Role::Exit));
                if !first.claim(Role::Entry) || !exit_ok {
                    return Err(DialError::Role);
                }
            }
            for (i, p) in route.iter().enumerate() {
                self.session(p, &route[..i], i).await?;
            }
            let tcp = self.tcp(first).await.map_err(|why| DialError::Proxy {
                index: 0,
                why,
                unreachable: true,
            })?;
            let mut io: Box<dyn Io> = Box::new(tcp);
            for (i, p) in route.iter().enumerate() {
                if i > 0 {
                    io = tls_to(p, io).await.map_err(|e| DialError::proxy(i, e))?;
                }
                let last = i + 1 == route.len();
                let next = match route.get(i + 1) {
                    Some(n) => n.authority.as_str(),
                    None => target,
                };
                io = self.handshake(io, p, i, last, next).await?;
            }
            Ok(io)
        })
    }

    /// An HTTP client for `p`'s own API, reached through `via` (none:
    /// directly).
    fn api_client(self: &Arc<Self>, p: &Proxy, via: &[Arc<Proxy>]) -> ApiClient {
        let route: Vec<[u8; 32]> = via.iter().map(|v| v.account.0).collect();
        let mut kept = p.api.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((r, c)) = kept.as_ref() {
            if *r == route {
                return c.clone();
            }
        }
        let dialer = crate::hostapi::Dialer::via(self.clone(), via.to_vec());
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(hyper_rustls::HttpsConnector::from((
                dialer,
                self.tls.clone(),
            )));
        *kept = Some((route, client.clone()));
        client
    }

    /// A stream to `target` through `via` exactly (the API of a proxy).
    pub(crate) async fn dial_via(
        self: &Arc<Self>,
        via: &[Arc<Proxy>],
        target: &str,
        host: &str,
        port: u16,
    ) -> io::Result<Box<dyn Io>> {
        if via.is_empty() {
            let p = self
                .proxies
                .iter()
                .find(|p| p.authority == target)
                .ok_or_else(|| io::Error::other(format!("{target} is not a proxy of the pool")))?;
            debug_assert!(p.host == host && p.port == port);
            if self.hops > 1 && p.role() != Some(Role::Entry) {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "proxy {} is not an entry of this run's routes: not dialled directly",
                        p.endpoint
                    ),
                ));
            }
            return self
                .tcp(p)
                .await
                .map(|s| Box::new(s) as Box<dyn Io>)
                .map_err(|e| io::Error::new(io::ErrorKind::ConnectionRefused, e));
        }
        let p = self
            .proxies
            .iter()
            .find(|p| p.authority == target)
            .ok_or_else(|| io::Error::other(format!("{target} is not a proxy of the pool")))?;
        self.ensure_pin(p, via)
            .await
            .map_err(|e| io::Error::new(io::ErrorKind::ConnectionRefused, format!("{e:#}")))?;
        let io = self.dial_route(via, target).await.map_err(|e| match e {
            DialError::Proxy { why, .. } | DialError::Refused(why) | DialError::Upstream(why) => {
                io::Error::new(io::ErrorKind::ConnectionRefused, why)
            }
            DialError::Role => io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("{target} plays another part in this run's routes"),
            ),
        })?;
        tls_to(p, io)
            .await
            .map_err(|e| io::Error::new(io::ErrorKind::ConnectionRefused, e))
    }

    async fn call_api(
        self: &Arc<Self>,
        p: &Proxy,
        via: &[Arc<Proxy>],
        method: Method,
        path: &str,
    ) -> Result<serde_json::Value> {
        let client = self.api_client(p, via);
        let url = format!("{}{path}", p.endpoint.trim_end_matches('/'));
        let req = Request::builder()
            .method(method)
            .uri(&url)
            .body(Full::new(Bytes::new()))?;
        let resp = tokio::time::timeout(Duration::from_secs(30), client.request(req))
            .await
            .map_err(|_| anyhow!("{}: no answer within 30 s", p.endpoint))??;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            bail!(
                "{}: HTTP {status}: {}",
                p.endpoint,
                String::from_utf8_lossy(&body).trim()
            );
        }
        Ok(serde_json::from_slice(&body)?)
    }

    /// `p`'s session, set up on first use: where this run's count starts,
    /// asked of the proxy through `via` (the route's proxies before it, `i`
    /// of them; if any, the proxy's TLS identity is learnt first, and
    /// everything after goes over TLS to it). A proxy that fails to answer
    /// is the route's proxy `i` failing (reported if reached directly).
    async fn session(
        self: &Arc<Self>,
        p: &Arc<Proxy>,
        via: &[Arc<Proxy>],
        i: usize,
    ) -> Result<Session, DialError> {
        let fault = move |e: anyhow::Error| DialError::Proxy {
            index: i,
            why: format!("{e:#}"),
            unreachable: i == 0,
        };
        self.ensure_pin(p, via).await.map_err(fault)?;
        p.session
            .get_or_try_init(|| async {
                let me = hex::encode(self.keypair.public_key().0);
                // A channel opened a moment ago counts at the proxy once the
                // block holding it is final: wait for that a while.
                let until = tokio::time::Instant::now() + Duration::from_secs(60);
                let status = loop {
                    let status = self
                        .call_api(p, via, Method::GET, &format!("/v1/relay/0x{me}"))
                        .await
                        .context("asking the proxy for this account's relay status")
                        .map_err(fault)?;
                    if status["channel"].as_u64() == Some(p.channel) {
                        break status;
                    }
                    if tokio::time::Instant::now() >= until {
                        return Err(fault(anyhow!(
                            "the proxy does not see relay channel {} (it sees {}) a minute \
                             after it opened",
                            p.channel,
                            status["channel"]
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                };
                let relayed = status["relayed"].as_u64().unwrap_or(0);
                let credit = status["credit"].as_u64().unwrap_or(0);
                let mut signed = p.signed.lock().await;
                let known = p.paid.max(self.own_best(p, &status)).max(*signed);
                let base = start_count(read_record(&p.record), known, relayed, credit);
                // Open until the run's last receipt is signed.
                write_record(
                    &p.record,
                    Record {
                        count: base,
                        open: true,
                    },
                )
                .map_err(|e| {
                    DialError::Refused(format!(
                        "cannot keep the relay count in {}: {e}",
                        p.record.display()
                    ))
                })?;
                *signed = base;
                p.meter
                    .step
                    .store((credit / 4).clamp(64 << 10, 8 << 20), Ordering::Relaxed);
                Ok(Session { base })
            })
            .await
            .copied()
    }

    /// Learns `p`'s TLS identity if it is reached through `via` (not
    /// directly) and it is not known yet, whatever part it played before.
    async fn ensure_pin(self: &Arc<Self>, p: &Arc<Proxy>, via: &[Arc<Proxy>]) -> Result<()> {
        if via.is_empty() || p.pin.get().is_some() {
            return Ok(());
        }
        let pin = self
            .fetch_pin(p, via)
            .await
            .context("learning the proxy's TLS identity")?;
        let _ = p.pin.set(pin);
        Ok(())
    }

    /// The best receipt `p` says it holds, if it shows this account's
    /// signature of it (else 0: a proxy's word alone raises no count).
    fn own_best(&self, p: &Proxy, status: &serde_json::Value) -> u64 {
        let best = status["best"].as_u64().unwrap_or(0);
        let signature: Option<[u8; 64]> = status["best_signature"]
            .as_str()
            .and_then(|h| hex::decode(h.trim_start_matches("0x")).ok())
            .and_then(|b| b.try_into().ok());
        let Some(signature) = signature else {
            return 0;
        };
        let payload = receipt_payload(&self.genesis, Service::Relay, p.channel, &p.account.0, best);
        let ok = subxt_signer::sr25519::verify(
            &subxt_signer::sr25519::Signature(signature),
            payload,
            &self.keypair.public_key(),
        );
        if ok {
            best
        } else {
            0
        }
    }

    /// `p`'s TLS identity, from its `/v1/info` fetched through `via` (in
    /// the clear: what matters is its account's signature, which the proxies
    /// of `via` cannot make), as a client configuration that accepts only
    /// that certificate.
    async fn fetch_pin(
        self: &Arc<Self>,
        p: &Arc<Proxy>,
        via: &[Arc<Proxy>],
    ) -> Result<Arc<rustls::ClientConfig>> {
        let io = self
            .dial_route(via, &p.authority)
            .await
            .map_err(|e| anyhow!("{e:?}"))?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(Conn::new(io)).await?;
        let driver = tokio::spawn(conn);
        let req = Request::get("/v1/info")
            .header(http::header::HOST, &p.authority)
            .body(Full::new(Bytes::new()))?;
        let info = tokio::time::timeout(Duration::from_secs(30), async {
            let resp = send.send_request(req).await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            if !status.is_success() {
                bail!("HTTP {status}: {}", String::from_utf8_lossy(&body).trim());
            }
            Ok::<_, anyhow::Error>(serde_json::from_slice::<serde_json::Value>(&body)?)
        })
        .await
        .map_err(|_| anyhow!("{}: no answer within 30 s", p.endpoint))??;
        driver.abort();
        let field = |name: &str| {
            info["tls"][name]
                .as_str()
                .and_then(|h| hex::decode(h.trim_start_matches("0x")).ok())
        };
        let (Some(cert), Some(signature)) = (field("cert"), field("signature")) else {
            bail!(
                "proxy {} serves no TLS (its `tls` setting is off), so it cannot be the second \
                 of two hops; pick another with --proxy",
                p.endpoint
            );
        };
        let cert: [u8; 32] = cert
            .try_into()
            .map_err(|_| anyhow!("proxy {}: a certificate hash is 32 bytes", p.endpoint))?;
        let signature: [u8; 64] = signature
            .try_into()
            .map_err(|_| anyhow!("proxy {}: a signature is 64 bytes", p.endpoint))?;
        let payload = tls_binding_payload(&self.genesis, &p.account.0, &cert);
        if !subxt_signer::sr25519::verify(
            &subxt_signer::sr25519::Signature(signature),
            payload,
            &subxt_signer::sr25519::PublicKey(p.account.0),
        ) {
            bail!(
                "the TLS identity offered for proxy {} is not signed by its account: a proxy on \
                 the way may be standing in for it",
                p.endpoint
            );
        }
        pinned_tls(cert)
    }

    /// Signs a receipt for `count` on `p`'s channel and sends it (by
    /// [`Relays::receipt_route`]).
    async fn deliver(self: &Arc<Self>, p: &Arc<Proxy>, count: u64) -> Result<()> {
        let payload = receipt_payload(
            &self.genesis,
            Service::Relay,
            p.channel,
            &p.account.0,
            count,
        );
        let r = WireReceipt {
            channel: p.channel,
            bytes: count,
            signature: self.keypair.sign(&payload).0,
        };
        let via = self.receipt_route(p).ok_or_else(|| {
            anyhow!(
                "no route to proxy {} for its receipt now (the proxy it was reached through \
                 failed, and no other may be an entry)",
                p.endpoint
            )
        })?;
        let me = hex::encode(self.keypair.public_key().0);
        self.call_api(
            p,
            &via,
            Method::POST,
            &format!("/v1/relay/0x{me}?receipt={}", hex::encode(r.to_bytes())),
        )
        .await?;
        Ok(())
    }

    /// Signs and sends `p` a receipt for everything counted so far, if
    /// anything is new. The count it covers.
    async fn send_receipt(self: &Arc<Self>, p: &Arc<Proxy>) -> Result<u64> {
        let Some(session) = p.session.get().copied() else {
            return Ok(0);
        };
        let mut signed = p.signed.lock().await;
        let count = session.base.saturating_add(p.meter.counted());
        if count <= *signed {
            return Ok(*signed);
        }
        // Kept before the receipt leaves: a later run never signs this count
        // again for other bytes.
        write_record(&p.record, Record { count, open: true })
            .with_context(|| format!("keeping the relay count in {}", p.record.display()))?;
        self.deliver(p, count).await?;
        *signed = count;
        Ok(count)
    }

    /// Sends every proxy its receipts as its bytes flow (each proxy on its
    /// own: a receipt stuck on its way to one never holds up another's,
    /// which may be what it is stuck behind), until the handle is aborted.
    pub fn spawn_receipts(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut each = tokio::task::JoinSet::new();
            for p in me.proxies.clone() {
                let me = me.clone();
                each.spawn(async move {
                    loop {
                        let due = p.meter.due.notified();
                        let _ = tokio::time::timeout(Duration::from_millis(500), due).await;
                        // A proxy set aside still gets its receipts: tunnels
                        // through it may be under way, and stall without.
                        if p.session.get().is_none() {
                            continue;
                        }
                        if let Err(e) = me.send_receipt(&p).await {
                            tracing::debug!(proxy = %p.endpoint, error = %format!("{e:#}"), "receipt not sent; next time");
                        }
                    }
                });
            }
            // Aborting this task drops the set, which aborts them all.
            while each.join_next().await.is_some() {}
        })
    }

    /// Sends the last receipts (exit proxies first: their receipts travel
    /// through the entry proxies, which are paid for those bytes too), pays
    /// what a proxy counts beyond this side up to [`SETTLE_SLACK`], and
    /// closes each record, whatever the proxy made of its last receipt (a
    /// proxy that refuses it gets nothing more for it from a later run).
    /// Call it while [`Relays::spawn_receipts`] still runs: the entries'
    /// receipts keep flowing while the exits' last ones pass through them.
    /// Failures are reported, not fatal: the proxy then holds an older
    /// receipt and the allowance keeps the rest.
    pub async fn flush(self: &Arc<Self>) {
        let mut order: Vec<&Arc<Proxy>> = self.proxies.iter().collect();
        order.sort_by_key(|p| {
            std::cmp::Reverse(p.via.lock().unwrap_or_else(|e| e.into_inner()).len())
        });
        for p in order {
            if p.session.get().is_none() {
                continue;
            }
            if let Err(e) = self.settle(p).await {
                eprintln!(
                    "warning: the last relay receipt for proxy {} ({}) was not delivered: {e:#}",
                    p.account, p.endpoint
                );
            }
            let signed = *p.signed.lock().await;
            let count = read_record(&p.record).count.max(signed);
            if let Err(e) = write_record(&p.record, Record { count, open: false }) {
                eprintln!(
                    "warning: cannot close the relay count in {}: {e}",
                    p.record.display()
                );
            }
        }
    }

    async fn settle(self: &Arc<Self>, p: &Arc<Proxy>) -> Result<()> {
        let count = self.send_receipt(p).await?;
        let via = self
            .receipt_route(p)
            .ok_or_else(|| anyhow!("no route to proxy {} now", p.endpoint))?;
        let me = hex::encode(self.keypair.public_key().0);
        let status = self
            .call_api(p, &via, Method::GET, &format!("/v1/relay/0x{me}"))
            .await?;
        let relayed = status["relayed"].as_u64().unwrap_or(0);
        let to = settle_count(count, relayed);
        if to > count {
            let mut signed = p.signed.lock().await;
            write_record(
                &p.record,
                Record {
                    count: to,
                    open: true,
                },
            )?;
            self.deliver(p, to).await?;
            *signed = to;
            p.settled.store(to - count, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Where a run's count at a proxy starts: the highest of this machine's
/// `record` and what is `known` to be signed or paid (the chain's payment,
/// the proxy's copy of this account's best receipt); plus, if the last run
/// was cut short (its record still open), what the proxy counts beyond
/// that, up to its `credit` and [`MAX_UNSIGNED`]: bytes that run carried
/// and never signed for. After a run that ended normally nothing is added
/// here: its settle paid what the proxy counted beyond it, up to
/// [`SETTLE_SLACK`] ([`settle_count`]), and the rest is paid down by later
/// settles.
fn start_count(record: Record, known: u64, relayed: u64, credit: u64) -> u64 {
    let base = record.count.max(known);
    if record.open && relayed > base {
        base.saturating_add((relayed - base).min(credit).min(MAX_UNSIGNED))
    } else {
        base
    }
}

/// The count a run's last receipt signs: this side's `count`, plus what the
/// proxy counts beyond it (`relayed`: bytes delivered that a closing
/// connection never read) up to [`SETTLE_SLACK`]. A gap larger than that,
/// from one run or several, shrinks by the slack each run, so it never
/// grows into the proxy's credit and stops the tunnels; a proxy that
/// counts bytes it never carried gains at most the slack per run.
fn settle_count(count: u64, relayed: u64) -> u64 {
    count.saturating_add(relayed.saturating_sub(count).min(SETTLE_SLACK))
}

/// A TLS client configuration that accepts exactly the certificate whose
/// BLAKE2b-256 is `cert` (its handshake signature checked as usual).
pub fn pinned_tls(cert: [u8; 32]) -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCert { cert, provider }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts the one certificate a proxy's account vouched for.
#[derive(Debug)]
struct PinnedCert {
    cert: [u8; 32],
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if masp_primitives::relay::cert_hash(end_entity.as_ref()) == self.cert {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// TLS to `p` over `io` (a tunnel through the proxies before it), with the
/// certificate its account vouched for.
async fn tls_to(p: &Proxy, io: Box<dyn Io>) -> Result<Box<dyn Io>, String> {
    let config = p.pin.get().cloned().ok_or_else(|| {
        format!(
            "proxy {}'s TLS identity is not known yet (its session did not start)",
            p.endpoint
        )
    })?;
    let name = rustls::pki_types::ServerName::try_from("masp-proxy")
        .map_err(|e| format!("server name: {e}"))?;
    let tls = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_rustls::TlsConnector::from(config).connect(name, io),
    )
    .await
    .map_err(|_| format!("no TLS handshake with proxy {} within 30 s", p.endpoint))?
    .map_err(|e| format!("TLS with proxy {}: {e}", p.endpoint))?;
    Ok(Box::new(tls))
}

impl Relays {
    /// Reports on chain each proxy this machine could not reach or talk to
    /// (its rating counts a failure, once per relay channel); a proxy that
    /// was busy, or failed only behind another proxy, is not reported. A
    /// report that fails is a warning.
    pub async fn report_failures(&self, ctx: &Ctx) {
        for p in self.proxies.iter().filter(|p| p.health().unreachable) {
            let call = api::tx().proxies().report_failure(p.account, p.channel);
            if let Err(e) = ctx.submit(&call).await {
                eprintln!(
                    "warning: cannot report proxy {}'s failure: {e:#}",
                    p.account
                );
            }
        }
    }
}

/// Which proxies to use (`--proxy`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyChoice {
    /// The active proxies the chain lists, best score then cheapest first.
    Auto,
    /// These, in this order.
    Accounts(Vec<AccountId32>),
}

impl ProxyChoice {
    /// Parses `auto` or a comma-separated list of account addresses.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("auto") {
            return Ok(Self::Auto);
        }
        let accounts = s
            .split(',')
            .map(|a| {
                a.trim()
                    .parse::<AccountId32>()
                    .map_err(|e| anyhow!("--proxy: {a:?} is not an account address ({e}); give `auto` or proxy accounts separated by commas"))
            })
            .collect::<Result<Vec<_>>>()?;
        if accounts.is_empty() {
            bail!("--proxy: give `auto` or proxy accounts separated by commas");
        }
        Ok(Self::Accounts(accounts))
    }
}

/// How `--proxy` is set up.
#[derive(Clone, Debug)]
pub struct RelayOptions {
    /// Which proxies.
    pub choice: ProxyChoice,
    /// Proxies per route (1 or 2).
    pub hops: usize,
    /// The most paid per GiB relayed (planck).
    pub max_price: u128,
    /// Bytes each proxy's allowance must cover for this command.
    pub bytes: u64,
    /// The local address connections leave from.
    pub bind: Option<IpAddr>,
}

/// The default `--max-relay-price`: 1 MASP per GiB relayed.
pub const DEFAULT_MAX_RELAY_PRICE: u128 = 1_000_000_000_000;

/// Picks the proxies, makes sure this account has a relay channel with
/// each holding enough for `opts.bytes`, and returns the pool. Fails, saying
/// what to change, if fewer than `opts.hops` proxies can be used.
pub async fn prepare(ctx: &Ctx, opts: &RelayOptions) -> Result<Arc<Relays>> {
    if !(1..=2).contains(&opts.hops) {
        bail!("--hops must be 1 or 2");
    }
    let at = ctx.at().await?;
    let listed = at
        .runtime_apis()
        .call(api::runtime_apis().proxies_api().proxies())
        .await?;
    let picked: Vec<_> = match &opts.choice {
        ProxyChoice::Auto => {
            let mut l: Vec<_> = listed
                .into_iter()
                .filter(|p| p.active && p.price_per_gib <= opts.max_price)
                .collect();
            l.sort_by(|a, b| {
                b.score
                    .cmp(&a.score)
                    .then(a.price_per_gib.cmp(&b.price_per_gib))
            });
            l.truncate(8);
            l
        }
        ProxyChoice::Accounts(accounts) => {
            let mut out = Vec::new();
            for a in accounts {
                let p = listed
                    .iter()
                    .find(|p| p.account == *a)
                    .ok_or_else(|| anyhow!("proxy {a} is not registered on chain"))?;
                if !p.active {
                    bail!("proxy {a} takes no new sessions (deregistering, or its deposit was slashed)");
                }
                if p.price_per_gib > opts.max_price {
                    bail!(
                        "proxy {a} asks {}/GiB relayed, above --max-relay-price {}/GiB",
                        crate::units::fmt_masp(p.price_per_gib),
                        crate::units::fmt_masp(opts.max_price)
                    );
                }
                out.push(p.clone());
            }
            out
        }
    };
    if picked.len() < opts.hops {
        bail!(
            "--hops {} needs at least {} usable proxies; {} found (registered, active, at most \
             --max-relay-price)",
            opts.hops,
            opts.hops,
            picked.len()
        );
    }
    let me = ctx.me();
    let mut proxies = Vec::new();
    let mut allow_private = false;
    for p in picked {
        let endpoint = String::from_utf8(p.endpoint.clone()).map_err(|_| {
            anyhow!(
                "proxy {} registered an endpoint that is not UTF-8",
                p.account
            )
        })?;
        let uri: Uri = endpoint
            .trim_end_matches('/')
            .parse()
            .with_context(|| format!("proxy {}'s endpoint {endpoint:?}", p.account))?;
        let (auth, host, port) = authority(&uri)
            .ok_or_else(|| anyhow!("proxy {}'s endpoint {endpoint:?} has no host", p.account))?;
        if let Some(addr) = crate::hostapi::private_address(&endpoint).await? {
            let chain_type = ctx.chain_type().await?;
            if !crate::ops::is_dev_chain_type(chain_type) {
                bail!(
                    "proxy {}'s endpoint {endpoint} is {addr}, a loopback/private/link-local \
                     address: refused outside a development chain",
                    p.account
                );
            }
            allow_private = true;
        }
        let (channel, paid) = ensure_channel(ctx, &me, &p.account, p.price_per_gib, opts).await?;
        proxies.push(Arc::new(Proxy {
            account: p.account,
            endpoint,
            authority: auth,
            host,
            port,
            channel,
            meter: Arc::new(Meter::new()),
            session: tokio::sync::OnceCell::new(),
            signed: tokio::sync::Mutex::new(0),
            health: Mutex::default(),
            settled: AtomicU64::new(0),
            pin: std::sync::OnceLock::new(),
            paid,
            record: ctx.home.join("relay").join(format!("{channel}.count")),
            via: Mutex::new(Vec::new()),
            role: Mutex::new(None),
            api: Mutex::new(None),
        }));
    }
    Ok(Arc::new(Relays {
        proxies,
        hops: opts.hops,
        genesis: ctx.chain.genesis_hash().0,
        keypair: ctx.id.keypair.clone(),
        bind: opts.bind,
        allow_private,
        tls: ctx.net.tls(),
        pairs: Mutex::default(),
    }))
}

/// This account's relay channel with `proxy`, opened or topped up so that
/// it holds enough for `opts.bytes` more; its id and the bytes the chain
/// paid on it.
async fn ensure_channel(
    ctx: &Ctx,
    me: &AccountId32,
    proxy: &AccountId32,
    price: u128,
    opts: &RelayOptions,
) -> Result<(u64, u64)> {
    let read = || async {
        Ok::<_, anyhow::Error>(
            ctx.at()
                .await?
                .storage()
                .try_fetch(
                    api::storage().egress().channels(),
                    (*me, *proxy, ChainService::Relay),
                )
                .await?
                .map(|v| v.decode())
                .transpose()?,
        )
    };
    let channel = read().await?;
    let price = channel.as_ref().map_or(price, |c| c.price);
    let top_up = match &channel {
        Some(c) if c.closes_at.is_some() => bail!(
            "your relay channel with proxy {proxy} is closing; use it again once it has closed"
        ),
        Some(c) => {
            let signed = c
                .bytes_paid
                .max(read_record(&ctx.home.join("relay").join(format!("{}.count", c.id))).count);
            let total = cost(signed.saturating_add(opts.bytes), price)
                .ok_or_else(|| anyhow!("the relay cost overflows"))?;
            total.saturating_sub(c.paid).saturating_sub(c.held)
        }
        None => cost(opts.bytes, price)
            .ok_or_else(|| anyhow!("the relay cost overflows"))?
            .max(crate::egress::MIN_ALLOWANCE),
    };
    if top_up > 0 {
        ctx.submit(
            &api::tx()
                .egress()
                .open_channel(*proxy, ChainService::Relay, top_up, price),
        )
        .await
        .with_context(|| format!("holding a relay allowance for proxy {proxy}"))?;
    }
    let c = read()
        .await?
        .ok_or_else(|| anyhow!("the relay channel with proxy {proxy} did not open"))?;
    Ok((c.id, c.bytes_paid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse() {
        assert_eq!(ProxyChoice::parse(" AUTO ").unwrap(), ProxyChoice::Auto);
        let alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
        let bob = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
        match ProxyChoice::parse(&format!("{alice}, {bob}")).unwrap() {
            ProxyChoice::Accounts(a) => assert_eq!(a.len(), 2),
            other => panic!("{other:?}"),
        }
        assert!(ProxyChoice::parse("nope").is_err());
        assert!(ProxyChoice::parse("").is_err());
    }

    #[test]
    fn a_meter_counts_and_wakes_each_step() {
        let m = Meter::new();
        m.step.store(10, Ordering::Relaxed);
        m.add(5);
        assert_eq!(m.counted(), 5);
        m.add(5);
        m.add(25);
        assert_eq!(m.counted(), 35);
    }

    fn a_proxy() -> Proxy {
        proxy_at(1, "http://127.0.0.3:1", PathBuf::from("/nonexistent"))
    }

    /// A proxy of account `[n; 32]` at `endpoint`, on channel 1.
    fn proxy_at(n: u8, endpoint: &str, record: PathBuf) -> Proxy {
        let (authority, host, port) = authority(&endpoint.parse().unwrap()).unwrap();
        Proxy {
            account: AccountId32([n; 32]),
            endpoint: endpoint.into(),
            authority,
            host,
            port,
            channel: 1,
            paid: 0,
            meter: Arc::new(Meter::new()),
            session: tokio::sync::OnceCell::new(),
            signed: tokio::sync::Mutex::new(0),
            health: Mutex::default(),
            settled: AtomicU64::new(0),
            pin: std::sync::OnceLock::new(),
            record,
            via: Mutex::new(Vec::new()),
            role: Mutex::new(None),
            api: Mutex::new(None),
        }
    }

    fn pool(proxies: Vec<Proxy>, hops: usize) -> Arc<Relays> {
        Arc::new(Relays {
            proxies: proxies.into_iter().map(Arc::new).collect(),
            hops,
            genesis: [7; 32],
            keypair: Keypair::from_secret_key([9; 32]).unwrap(),
            bind: None,
            allow_private: true,
            tls: pinned_tls([0; 32]).unwrap(),
            pairs: Mutex::default(),
        })
    }

    /// A hostile (or broken) proxy on `ip`: its API answers this run's
    /// session, and it answers every CONNECT with `502` (whatever the
    /// target: another proxy or a host).
    async fn proxy_that_answers_502(ip: &str) -> String {
        let l = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut b = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if c.read(&mut b).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(b[0]);
                    }
                    let (status, body) = if head.starts_with(b"CONNECT ") {
                        ("502 Bad Gateway", "cannot reach it".to_string())
                    } else if head.starts_with(b"GET /v1/relay/0x") {
                        (
                            "200 OK",
                            r#"{"channel":1,"relayed":0,"credit":1048576,"best":0}"#.to_string(),
                        )
                    } else {
                        ("404 Not Found", String::new())
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = c.write_all(answer.as_bytes()).await;
                });
            }
        });
        format!("http://{addr}")
    }

    #[test]
    fn a_run_starts_from_the_highest_count_known_and_pays_a_cut_run_once() {
        let closed = |count| Record { count, open: false };
        let open = |count| Record { count, open: true };
        // The highest of the record and what is known signed or paid.
        assert_eq!(start_count(closed(100), 40, 100, 1 << 20), 100);
        assert_eq!(start_count(closed(40), 100, 100, 1 << 20), 100);
        // A run that ended normally: the proxy's higher count adds nothing
        // (its settle paid the slack already; not twice).
        assert_eq!(start_count(closed(100), 0, 100 + 200_000, 1 << 20), 100);
        assert_eq!(start_count(closed(100), 0, 100 + (64 << 20), 1 << 20), 100);
        // A run cut short: what the proxy counts beyond, up to its credit
        // and to MAX_UNSIGNED.
        assert_eq!(start_count(open(100), 0, 5100, 1 << 20), 5100);
        assert_eq!(
            start_count(open(100), 0, 100 + (8 << 20), 1 << 20),
            100 + (1 << 20)
        );
        assert_eq!(
            start_count(open(100), 0, u64::MAX, 1 << 40),
            100 + MAX_UNSIGNED
        );
        // A proxy counting less than this side: this side's count.
        assert_eq!(start_count(open(100), 0, 50, 1 << 20), 100);
    }

    #[test]
    fn a_settle_pays_the_proxys_extra_count_a_slack_at_a_time() {
        assert_eq!(settle_count(1000, 900), 1000, "never below this side");
        assert_eq!(settle_count(1000, 1000 + 4096), 1000 + 4096);
        // A larger gap (from this run or earlier ones) shrinks by the
        // slack each run rather than staying to eat the proxy's credit.
        let mut count = 1000;
        let relayed = 1000 + 3 * SETTLE_SLACK + 10;
        for _ in 0..3 {
            count = settle_count(count, relayed);
        }
        assert_eq!(count, relayed - 10);
        assert_eq!(settle_count(count, relayed), relayed);
    }

    #[test]
    fn with_two_hops_no_proxy_is_both_an_entry_and_an_exit() {
        let r = pool(
            (1..=3)
                .map(|n| proxy_at(n, &format!("http://127.0.0.{n}:1"), "/x".into()))
                .collect(),
            2,
        );
        let [a, b, c] = [0, 1, 2].map(|i| r.proxies[i].clone());
        let names = |routes: Vec<Vec<Arc<Proxy>>>| -> Vec<(u8, u8)> {
            routes
                .iter()
                .map(|x| (x[0].account.0[0], x[1].account.0[0]))
                .collect()
        };
        assert_eq!(r.routes().len(), 6);
        assert!(a.claim(Role::Entry) && b.claim(Role::Exit));
        assert!(!a.claim(Role::Exit) && !b.claim(Role::Entry));
        assert_eq!(names(r.routes()), [(1, 2), (1, 3), (3, 2)]);
        // The entry's receipts go directly; the exit's through an entry,
        // never directly.
        assert!(r.receipt_route(&a).unwrap().is_empty());
        *b.via.lock().unwrap() = vec![a.clone()];
        assert!(Arc::ptr_eq(&r.receipt_route(&b).unwrap()[0], &a));
        // Its entry set aside: through another that may be one.
        a.set_aside(false);
        assert!(Arc::ptr_eq(&r.receipt_route(&b).unwrap()[0], &c));
        // None left: no route (not directly to the exit).
        assert!(c.claim(Role::Exit));
        assert!(r.receipt_route(&b).is_none());
    }

    #[test]
    fn a_failure_beyond_the_entry_sets_the_pair_aside_and_blames_an_entry_failing_every_exit() {
        let r = pool(
            (1..=3)
                .map(|n| proxy_at(n, &format!("http://127.0.0.{n}:1"), "/x".into()))
                .collect(),
            2,
        );
        let [a, b, c] = [0, 1, 2].map(|i| r.proxies[i].clone());
        assert!(!r.pair_failed(&a, &b), "one exit failing: the pair only");
        assert!(!a.is_set_aside() && !b.is_set_aside());
        assert!(!r
            .routes()
            .iter()
            .any(|x| Arc::ptr_eq(&x[0], &a) && Arc::ptr_eq(&x[1], &b)));
        // Another exit failing behind the same entry: the entry is set
        // aside (not reported: it may be the exits after all).
        assert!(r.pair_failed(&a, &c));
        assert!(a.is_set_aside() && !a.health().unreachable);
        assert!(!b.is_set_aside() && !c.is_set_aside());
        // A tunnel through it forgives it.
        a.worked();
        assert!(!r.pair_failed(&a, &b));
    }

    #[tokio::test]
    async fn a_hostile_entry_cannot_get_the_exits_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let entry = proxy_that_answers_502("127.0.0.3").await;
        // The exits are never reached (the entry answers for them).
        let r = pool(
            vec![
                proxy_at(1, &entry, dir.path().join("1")),
                proxy_at(2, "http://127.0.0.4:9", dir.path().join("2")),
                proxy_at(3, "http://127.0.0.6:9", dir.path().join("3")),
            ],
            2,
        );
        let err = match r.dial("127.0.0.9:1").await {
            Ok(_) => panic!("a route through a proxy that refuses every tunnel"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("not connecting directly"), "{err}");
        let [a, b, c] = [0, 1, 2].map(|i| r.proxies[i].clone());
        assert!(a.is_set_aside(), "the entry behind which every exit failed");
        assert!(!b.is_set_aside() && !c.is_set_aside(), "{err}");
        // Nothing to report on chain: no proxy was unreachable from here.
        assert!([&a, &b, &c].iter().all(|p| !p.health().unreachable));
    }

    #[tokio::test]
    async fn a_502_for_the_host_is_the_hosts_failure_not_the_proxys() {
        let dir = tempfile::tempdir().unwrap();
        let p = proxy_that_answers_502("127.0.0.3").await;
        let r = pool(vec![proxy_at(1, &p, dir.path().join("1"))], 1);
        let err = match r.dial("127.0.0.9:1").await {
            Ok(_) => panic!("the proxy answered 502"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        assert!(err.to_string().contains("HTTP 502"), "{err}");
        assert!(!r.proxies[0].is_set_aside() && !r.proxies[0].failed());
        // Its session started, its record is open for this run.
        assert!(read_record(&dir.path().join("1")).open);
    }

    #[tokio::test]
    async fn a_run_closes_its_record_even_if_the_proxy_refuses_the_last_receipt() {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("1");
        // Nothing listens there: the last receipt cannot be delivered.
        let r = pool(vec![proxy_at(1, "http://127.0.0.3:9", record.clone())], 1);
        let p = r.proxies[0].clone();
        p.session.set(Session { base: 100 }).unwrap();
        *p.signed.lock().await = 100;
        p.meter.add(50);
        r.flush().await;
        // Closed, at the count signed for the bytes carried: the next run
        // adds nothing for them.
        assert_eq!(
            read_record(&record),
            Record {
                count: 150,
                open: false
            }
        );
        assert_eq!(
            start_count(read_record(&record), 0, 150 + (8 << 20), 1 << 20),
            150
        );
    }

    #[test]
    fn a_failed_proxy_is_set_aside_for_a_while_not_for_good() {
        assert_eq!(backoff(1), Duration::from_secs(5));
        assert_eq!(backoff(2), Duration::from_secs(10));
        assert_eq!(backoff(40), Duration::from_secs(120));
        let p = a_proxy();
        let t0 = std::time::Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        // Busy (a 429/503, or a failure behind another proxy): set aside,
        // not to be reported.
        assert!(p.set_aside_at(at(0), false));
        assert!(p.is_set_aside_at(at(1)) && p.failed());
        assert!(
            !p.set_aside_at(at(1), false),
            "one warning per setting aside"
        );
        assert!(!p.health().unreachable);
        assert!(!p.is_set_aside_at(at(6)), "back in use after 5 s");
        // Failing again: twice as long.
        assert!(p.set_aside_at(at(6), true));
        assert!(p.is_set_aside_at(at(12)));
        assert!(!p.is_set_aside_at(at(17)));
        assert!(p.health().unreachable, "unreachable from here: reported");
        // A tunnel through it: failures in a row start again.
        p.worked();
        assert_eq!(p.health().strikes, 0);
    }

    #[test]
    fn records_keep_the_count_and_whether_a_run_was_cut_short() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("7.count");
        assert_eq!(read_record(&path), Record::default());
        let open = Record {
            count: 1234,
            open: true,
        };
        write_record(&path, open).unwrap();
        assert_eq!(read_record(&path), open);
        write_record(
            &path,
            Record {
                count: 99,
                open: false,
            },
        )
        .unwrap();
        assert_eq!(
            read_record(&path),
            Record {
                count: 99,
                open: false
            }
        );
        // The format of earlier versions: a bare count, closed.
        std::fs::write(&path, "555").unwrap();
        assert_eq!(
            read_record(&path),
            Record {
                count: 555,
                open: false
            }
        );
    }

    #[test]
    fn authorities_name_the_scheme_port() {
        let u: Uri = "https://Example.org".parse().unwrap();
        assert_eq!(authority(&u).unwrap().0, "example.org:443");
        let u: Uri = "http://127.0.0.3:9000/x".parse().unwrap();
        assert_eq!(authority(&u).unwrap().0, "127.0.0.3:9000");
        let u: Uri = "http://[::1]:80".parse().unwrap();
        assert_eq!(authority(&u).unwrap().0, "[::1]:80");
    }
}
