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
//! - **Failover**: a proxy that cannot be reached is set aside and the next
//!   route of the pool is tried, so a request retried after its proxy died
//!   goes through another (a put then completes through the survivors).
//! - **Payment**: this account holds an allowance in a relay channel with
//!   each proxy (`pallet-egress`, [`Service::Relay`]). The bytes carried
//!   through a proxy after its `200` are counted here exactly as the proxy
//!   counts them (both ways, the inner proxies' handshakes included), and a
//!   cumulative receipt for them is signed and sent as they flow, and once
//!   more when the command ends ([`Relays::flush`]). The count starts from
//!   what this account signed before on the channel (kept in
//!   `~/.masp/relay/`) or what the chain paid; a proxy's claim that it
//!   relayed more than that is paid only up to the credit it announces
//!   (bytes a killed run carried but did not sign for).
//! - The chain node connection is not relayed: use a node you trust (your
//!   own, or one reached over a VPN).

use std::{
    io,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
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
    relay::{tunnel_payload, TunnelAuth, AUTH_SCHEME},
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
    meter: Arc<Meter>,
    session: tokio::sync::OnceCell<Session>,
    /// The highest count signed (the absolute receipt count).
    signed: tokio::sync::Mutex<u64>,
    dead: AtomicBool,
    /// Where the count signed is kept between runs.
    record: PathBuf,
    /// The route prefix its API is reached through (none: directly).
    via: Mutex<Vec<Arc<Proxy>>>,
    /// The client its API calls go through (kept: one tunnel for many
    /// receipts), with the route it was made for.
    api: Mutex<Option<(Vec<[u8; 32]>, ApiClient)>>,
}

type ApiClient = Client<crate::hostapi::Connector, Full<Bytes>>;

impl Proxy {
    /// Bytes carried through it by this process.
    pub fn relayed(&self) -> u64 {
        self.meter.counted()
    }

    /// Whether it was found unreachable.
    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }
}

/// Why a route could not be used.
#[derive(Debug)]
enum DialError {
    /// The proxy at this position is unreachable or broke the handshake:
    /// set it aside, try another route.
    Proxy(usize, String),
    /// A proxy answered with a refusal that another route would get too
    /// (an unregistered target, no allowance).
    Refused(String),
}

/// The pool of proxies and how routes are made of it.
pub struct Relays {
    proxies: Vec<Arc<Proxy>>,
    hops: usize,
    genesis: [u8; 32],
    keypair: Keypair,
    bind: Option<IpAddr>,
    allow_private: bool,
    tls: Arc<rustls::ClientConfig>,
}

fn read_record(path: &PathBuf) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
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
    /// pair of two of them (two hops), in pool order.
    fn routes(&self) -> Vec<Vec<Arc<Proxy>>> {
        let alive: Vec<&Arc<Proxy>> = self.proxies.iter().filter(|p| !p.is_dead()).collect();
        if self.hops == 1 {
            return alive.into_iter().map(|p| vec![p.clone()]).collect();
        }
        let mut out = Vec::new();
        for a in &alive {
            for b in &alive {
                if !Arc::ptr_eq(a, b) {
                    out.push(vec![(*a).clone(), (*b).clone()]);
                }
            }
        }
        out
    }

    /// A stream to `target` (`host:port`) through the first route that
    /// works; an error naming every proxy tried if none does. Never a
    /// direct connection.
    pub async fn dial(self: &Arc<Self>, target: &str) -> io::Result<Box<dyn Io>> {
        let mut tried = Vec::new();
        loop {
            let Some(route) = self.routes().into_iter().next() else {
                let why = if tried.is_empty() {
                    "every proxy was found unreachable earlier".to_string()
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
                Ok(s) => return Ok(s),
                Err(DialError::Refused(why)) => {
                    return Err(io::Error::new(io::ErrorKind::PermissionDenied, why))
                }
                Err(DialError::Proxy(i, why)) => {
                    let p = &route[i];
                    if !p.dead.swap(true, Ordering::AcqRel) {
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
        target: &str,
    ) -> Result<Box<dyn Io>, DialError> {
        let broken = |why: String| DialError::Proxy(i, why);
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
            // Overloaded or broken: another proxy may do.
            429 | 500..=599 => Err(DialError::Proxy(i, why)),
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
            for (i, p) in route.iter().enumerate() {
                self.session(p, &route[..i])
                    .await
                    .map_err(|e| DialError::Proxy(i, format!("{e:#}")))?;
            }
            let first = &route[0];
            let tcp = self.tcp(first).await.map_err(|e| DialError::Proxy(0, e))?;
            let mut io: Box<dyn Io> = Box::new(tcp);
            for (i, p) in route.iter().enumerate() {
                let next = match route.get(i + 1) {
                    Some(n) => n.authority.as_str(),
                    None => target,
                };
                io = self.handshake(io, p, i, next).await?;
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
            return self
                .tcp(p)
                .await
                .map(|s| Box::new(s) as Box<dyn Io>)
                .map_err(|e| io::Error::new(io::ErrorKind::ConnectionRefused, e));
        }
        self.dial_route(via, target).await.map_err(|e| match e {
            DialError::Proxy(_, why) | DialError::Refused(why) => {
                io::Error::new(io::ErrorKind::ConnectionRefused, why)
            }
        })
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
    /// asked of the proxy through `via` (the route's proxies before it).
    async fn session(self: &Arc<Self>, p: &Arc<Proxy>, via: &[Arc<Proxy>]) -> Result<Session> {
        *p.via.lock().unwrap_or_else(|e| e.into_inner()) = via.to_vec();
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
                        .context("asking the proxy for this account's relay status")?;
                    if status["channel"].as_u64() == Some(p.channel) {
                        break status;
                    }
                    if tokio::time::Instant::now() >= until {
                        bail!(
                            "the proxy does not see relay channel {} (it sees {}) a minute \
                             after it opened",
                            p.channel,
                            status["channel"]
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                };
                let relayed = status["relayed"].as_u64().unwrap_or(0);
                let credit = status["credit"].as_u64().unwrap_or(0);
                let mut base = read_record(&p.record).max(*p.signed.lock().await);
                if relayed > base && relayed - base <= credit.min(64 << 20) {
                    // Bytes an earlier run carried and did not sign for
                    // (it was killed): paid, up to the credit.
                    base = relayed;
                }
                *p.signed.lock().await = base;
                p.meter
                    .step
                    .store((credit / 4).clamp(64 << 10, 8 << 20), Ordering::Relaxed);
                Ok(Session { base })
            })
            .await
            .copied()
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
        let _ = std::fs::create_dir_all(p.record.parent().unwrap_or(&p.record)).and_then(|_| {
            let tmp = fsutil::temp_sibling(&p.record);
            std::fs::write(&tmp, count.to_string())?;
            std::fs::rename(&tmp, &p.record)
        });
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
        let via = p.via.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let via: Vec<Arc<Proxy>> = if via.iter().any(|v| v.is_dead()) {
            // The route it was reached through lost a proxy: through any
            // other live one (never directly, if it was reached through one).
            self.proxies
                .iter()
                .filter(|o| !o.is_dead() && !Arc::ptr_eq(o, p))
                .take(via.len())
                .cloned()
                .collect()
        } else {
            via
        };
        let me = hex::encode(self.keypair.public_key().0);
        self.call_api(
            p,
            &via,
            Method::POST,
            &format!("/v1/relay/0x{me}?receipt={}", hex::encode(r.to_bytes())),
        )
        .await?;
        *signed = count;
        Ok(count)
    }

    /// Sends every proxy its receipt as its bytes flow, until dropped.
    pub fn spawn_receipts(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let wakers: Vec<_> = me.proxies.iter().map(|p| p.meter.due.notified()).collect();
                let any = futures::future::select_all(wakers.into_iter().map(Box::pin));
                let _ = tokio::time::timeout(Duration::from_millis(500), any).await;
                for p in &me.proxies {
                    if p.is_dead() || p.session.get().is_none() {
                        continue;
                    }
                    if let Err(e) = me.send_receipt(p).await {
                        tracing::debug!(proxy = %p.endpoint, error = %format!("{e:#}"), "receipt not sent; next time");
                    }
                }
            }
        })
    }

    /// Sends the last receipts (exit proxies first: their receipts travel
    /// through the entry proxies, which are paid for those bytes too).
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
            if let Err(e) = self.send_receipt(p).await {
                eprintln!(
                    "warning: the last relay receipt for proxy {} ({}) was not delivered: {e:#}",
                    p.account, p.endpoint
                );
            }
        }
    }
}

impl Relays {
    /// Reports each proxy found unreachable on chain (its rating counts a
    /// failure, once per relay channel); a report that fails is a warning.
    pub async fn report_failures(&self, ctx: &Ctx) {
        for p in self.proxies.iter().filter(|p| p.is_dead()) {
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
                        crate::ops::fmt_masp(p.price_per_gib),
                        crate::ops::fmt_masp(opts.max_price)
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
        let channel = ensure_channel(ctx, &me, &p.account, p.price_per_gib, opts).await?;
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
            dead: AtomicBool::new(false),
            record: ctx.home.join("relay").join(format!("{channel}.count")),
            via: Mutex::new(Vec::new()),
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
    }))
}

/// This account's relay channel with `proxy`, opened or topped up so that
/// it holds enough for `opts.bytes` more; its id.
async fn ensure_channel(
    ctx: &Ctx,
    me: &AccountId32,
    proxy: &AccountId32,
    price: u128,
    opts: &RelayOptions,
) -> Result<u64> {
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
            let signed = c.bytes_paid.max(read_record(
                &ctx.home.join("relay").join(format!("{}.count", c.id)),
            ));
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
    Ok(c.id)
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
