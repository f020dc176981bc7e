//! Talking to hosts over HTTP or HTTPS: uploads and downloads with signed
//! tickets.
//!
//! - **TLS**: rustls (ring) through hyper-rustls; the system's trusted roots
//!   (`SSL_CERT_FILE` / `SSL_CERT_DIR` are honoured) plus any CA
//!   certificates passed with `--ca-file` / `MASP_CA_FILE` (a private CA,
//!   as restic's `--cacert`).
//! - **Addresses**: an endpoint comes from the chain, i.e. from whoever
//!   registered it. [`HostNet::api`] refuses endpoints that are, or resolve
//!   to, loopback, private, link-local or otherwise non-public addresses
//!   unless told the chain is a development chain: a hostile host must not
//!   turn `masp` into a probe of the user's own machine or network. The
//!   check runs again on every connection (inside the resolver), so a name
//!   that resolves to a public address first and a private one later is
//!   refused too.

use std::{
    future::Future,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{
        connect::{dns::Name, HttpConnector},
        Client,
    },
    rt::TokioExecutor,
};
use masp_chain::Keypair;

use crate::relay::Relays;
use masp_primitives::{
    market::ContractId,
    ticket::{SignedTicket, Ticket, TicketOp},
};

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Signs a ticket for `op` on chunks `first..=last` of `contract`, valid
/// for `ttl`, issued to `receiver` (the signer's own account if `None`),
/// for the chain whose genesis block hash is `genesis` (a host serving
/// another chain refuses it).
#[allow(clippy::too_many_arguments)]
pub fn sign_ticket(
    signer: &Keypair,
    genesis: [u8; 32],
    op: TicketOp,
    contract: ContractId,
    first: u32,
    last: u32,
    receiver: Option<[u8; 32]>,
    ttl: Duration,
) -> SignedTicket {
    let ticket = Ticket {
        op,
        contract,
        first_chunk: first,
        last_chunk: last,
        receiver: receiver.unwrap_or(signer.public_key().0),
        expires: unix_now().saturating_add(ttl.as_secs().max(1)),
        nonce: rand::random(),
    };
    let signature = signer.sign(&ticket.signing_payload(&genesis)).0;
    SignedTicket {
        ticket,
        signer: signer.public_key().0,
        signature,
    }
}

/// A Receiver's claim of a link issued to it (the `claim` query
/// parameter): its signature of [`SignedTicket::claim_payload`] for the
/// chain whose genesis block hash is `genesis`. Without it a host refuses a
/// Sender's link issued to another account.
pub fn sign_claim(receiver: &Keypair, genesis: [u8; 32], ticket: &SignedTicket) -> [u8; 64] {
    receiver.sign(&ticket.claim_payload(&genesis)).0
}

/// A host's account of one downloader's egress channel.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct EgressStatus {
    /// The channel the host knows (none: no receipt seen yet).
    pub channel: Option<u64>,
    /// Bytes the host has served on it (what the next receipt must cover,
    /// plus the next request).
    pub served: u64,
}

/// What a host said no with, or why it could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// It answered with an error status and its reason.
    #[error("{url}: HTTP {status}: {reason}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: StatusCode,
        /// The host's reason.
        reason: String,
    },
    /// No answer.
    #[error("{url}: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
}

impl HostError {
    /// The HTTP status, if the host answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } => Some(*status),
            Self::Unreachable { .. } => None,
        }
    }
}

/// Upload status of a contract at a host.
#[derive(Debug, serde::Deserialize)]
pub struct UploadStatus {
    /// Chunks in the contract.
    pub chunks: u32,
    /// Whether the chunk roots are in.
    pub roots_uploaded: bool,
    /// Chunks not stored yet.
    pub missing: Vec<u32>,
    /// Whether the host confirmed it on chain.
    pub confirmed: bool,
}

/// Why a host endpoint cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The CA file could not be read or holds no usable certificate.
    #[error("CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Not an `http://` or `https://` URL with a host.
    #[error("host endpoint {endpoint:?} is not usable: {reason}")]
    BadEndpoint {
        /// The endpoint.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// It is (or resolves to) a loopback, private or link-local address.
    #[error(
        "host endpoint {endpoint} is {addr}, a loopback/private/link-local address: refused \
         (hosts on such addresses are only reached on a development chain)"
    )]
    Private {
        /// The endpoint.
        endpoint: String,
        /// The address.
        addr: IpAddr,
    },
}

pub use masp_primitives::endpoint::is_private_ip as is_private;

/// The parts of an endpoint URL `masp` needs.
struct Endpoint {
    base: String,
    host: String,
    port: u16,
}

fn parse_endpoint(endpoint: &str) -> Result<Endpoint, NetError> {
    let bad = |reason: &str| NetError::BadEndpoint {
        endpoint: endpoint.to_string(),
        reason: reason.to_string(),
    };
    let base = endpoint.trim_end_matches('/').to_string();
    let uri: Uri = base
        .parse()
        .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
    let port = match uri.scheme_str() {
        Some("https") => 443,
        Some("http") => 80,
        _ => return Err(bad("the scheme must be http:// or https://")),
    };
    let authority = uri.authority().ok_or_else(|| bad("no host"))?;
    if authority.as_str().contains('@') {
        return Err(bad("user names in host URLs are not accepted"));
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok(Endpoint {
        base,
        port: authority.port_u16().unwrap_or(port),
        host,
    })
}

/// The first loopback/private/link-local address `endpoint` is or resolves
/// to, if any (`None` also when the name does not resolve now: connecting
/// will then fail, or be checked again).
pub async fn private_address(endpoint: &str) -> Result<Option<IpAddr>, NetError> {
    let e = parse_endpoint(endpoint)?;
    if let Ok(ip) = e.host.parse::<IpAddr>() {
        return Ok(is_private(ip).then_some(ip));
    }
    let found = match tokio::net::lookup_host((e.host.as_str(), e.port)).await {
        Ok(addrs) => addrs.map(|a| a.ip()).find(|ip| is_private(*ip)),
        Err(_) => None,
    };
    Ok(found)
}

/// Resolves host names, refusing (unless allowed) names with a
/// loopback/private/link-local address: checked on every connection.
#[derive(Clone)]
pub struct GuardedResolver {
    allow_private: bool,
}

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private {
                if let Some(a) = addrs.iter().find(|a| is_private(a.ip())) {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::PermissionDenied,
                        format!(
                            "{host} resolves to {}, a loopback/private/link-local address: \
                             refused (hosts on such addresses are only reached on a \
                             development chain)",
                            a.ip()
                        ),
                    ));
                }
            }
            Ok(addrs.into_iter())
        })
    }
}

/// How connections are made: directly, or through the proxies.
#[derive(Clone)]
pub enum Dialer {
    /// Straight to the host (from the `--bind` address if given).
    Direct(HttpConnector<GuardedResolver>),
    /// Through the proxy pool (never directly).
    Relayed(Arc<Relays>),
    /// Through exactly these proxies (none: directly), to reach a proxy's
    /// own API.
    Via(Arc<Relays>, Vec<Arc<crate::relay::Proxy>>),
}

impl Dialer {
    /// Through exactly `via`.
    pub fn via(relays: Arc<Relays>, via: Vec<Arc<crate::relay::Proxy>>) -> Self {
        Self::Via(relays, via)
    }
}

impl tower_service::Service<Uri> for Dialer {
    type Response = crate::relay::Conn;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        use crate::relay::Conn;
        match self {
            Dialer::Direct(http) => {
                let fut = tower_service::Service::call(http, uri);
                Box::pin(async move {
                    let io = fut.await.map_err(std::io::Error::other)?;
                    Ok(Conn::new(Box::new(io.into_inner())))
                })
            }
            Dialer::Relayed(relays) => {
                let relays = relays.clone();
                Box::pin(async move {
                    let target = target_of(&uri)?;
                    Ok(Conn::new(relays.dial(&target.0).await?))
                })
            }
            Dialer::Via(relays, via) => {
                let (relays, via) = (relays.clone(), via.clone());
                Box::pin(async move {
                    let (target, host, port) = target_of(&uri)?;
                    Ok(Conn::new(
                        relays.dial_via(&via, &target, &host, port).await?,
                    ))
                })
            }
        }
    }
}

/// `host:port` (the scheme's port if none, lower case), host, port.
fn target_of(uri: &Uri) -> std::io::Result<(String, String, u16)> {
    let host = uri
        .host()
        .ok_or_else(|| std::io::Error::other(format!("{uri}: no host")))?
        .to_ascii_lowercase();
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    });
    Ok((format!("{host}:{port}"), host, port))
}

pub(crate) type Connector = HttpsConnector<Dialer>;

/// How `masp` reaches hosts: the TLS roots it trusts, and the proxies and
/// local address it goes through. Cheap to clone.
#[derive(Clone)]
pub struct HostNet {
    tls: Arc<rustls::ClientConfig>,
    relays: Option<Arc<Relays>>,
    bind: Option<IpAddr>,
}

impl HostNet {
    /// Trusts the system's roots and, if given, the CA certificates (PEM)
    /// in `ca_file`.
    pub fn new(ca_file: Option<&Path>) -> Result<Self, NetError> {
        let mut roots = rustls::RootCertStore::empty();
        // Unreadable system certificates are skipped: an HTTPS host whose
        // CA is missing then fails with "UnknownIssuer", which says why.
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        if let Some(path) = ca_file {
            use rustls::pki_types::{pem::PemObject, CertificateDer};
            let fail = |reason: String| NetError::CaFile {
                path: path.to_path_buf(),
                reason,
            };
            let mut added = 0;
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| fail(e.to_string()))? {
                let cert = cert.map_err(|e| fail(e.to_string()))?;
                roots.add(cert).map_err(|e| fail(e.to_string()))?;
                added += 1;
            }
            if added == 0 {
                return Err(fail("no PEM certificate in it".into()));
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| NetError::CaFile {
                path: ca_file.map(Path::to_path_buf).unwrap_or_default(),
                reason: e.to_string(),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            tls: Arc::new(tls),
            relays: None,
            bind: None,
        })
    }

    /// Connections leave from `bind` (`--bind`).
    pub fn with_bind(mut self, bind: Option<IpAddr>) -> Self {
        self.bind = bind;
        self
    }

    /// Every host connection goes through `relays` (`--proxy`), never
    /// directly.
    pub fn with_relays(mut self, relays: Arc<Relays>) -> Self {
        self.relays = Some(relays);
        self
    }

    /// The proxies host connections go through, if any.
    pub fn relays(&self) -> Option<&Arc<Relays>> {
        self.relays.as_ref()
    }

    /// The TLS settings.
    pub fn tls(&self) -> Arc<rustls::ClientConfig> {
        self.tls.clone()
    }

    /// The system's roots only (loaded once per process).
    pub fn system() -> Self {
        static SYSTEM: OnceLock<HostNet> = OnceLock::new();
        SYSTEM
            .get_or_init(|| Self::new(None).expect("no CA file, nothing to fail on"))
            .clone()
    }

    /// The API at `endpoint` (as registered on chain): `http://` or
    /// `https://`. Unless `allow_private` (a development chain), an
    /// endpoint that is or resolves to a loopback, private or link-local
    /// address is refused, now and on every connection.
    pub fn api(&self, endpoint: &str, allow_private: bool) -> Result<HostApi, NetError> {
        let e = parse_endpoint(endpoint)?;
        if let Ok(ip) = e.host.parse::<IpAddr>() {
            if !allow_private && is_private(ip) {
                return Err(NetError::Private {
                    endpoint: e.base,
                    addr: ip,
                });
            }
        }
        Ok(HostApi {
            base: e.base,
            http: self.client(allow_private),
        })
    }

    fn client(&self, allow_private: bool) -> Client<Connector, Full<Bytes>> {
        let dialer = match &self.relays {
            Some(r) => Dialer::Relayed(r.clone()),
            None => {
                let mut http = HttpConnector::new_with_resolver(GuardedResolver { allow_private });
                http.set_nodelay(true);
                http.set_connect_timeout(Some(Duration::from_secs(10)));
                http.enforce_http(false);
                http.set_local_address(self.bind);
                Dialer::Direct(http)
            }
        };
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(HttpsConnector::from((dialer, self.tls.clone())))
    }
}

/// `e` and its sources, as one line.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// One host's API.
#[derive(Clone)]
pub struct HostApi {
    base: String,
    http: Client<Connector, Full<Bytes>>,
}

impl HostApi {
    /// The API at `endpoint` with the system's TLS roots and no address
    /// policy (any address): for tests and tools that name the host
    /// themselves. Endpoints read from the chain go through
    /// [`HostNet::api`].
    pub fn new(endpoint: &str) -> Self {
        Self {
            base: endpoint.trim_end_matches('/').to_string(),
            http: HostNet::system().client(true),
        }
    }

    /// Its base URL.
    pub fn endpoint(&self) -> &str {
        &self.base
    }

    /// One request; retried (three tries in all) when the host cannot be
    /// reached, unless it spends a download ticket.
    async fn call(
        &self,
        method: Method,
        path: &str,
        ticket: Option<&SignedTicket>,
        body: Bytes,
    ) -> Result<Bytes, HostError> {
        let idempotent = ticket.is_none_or(|t| t.ticket.op == TicketOp::Upload);
        let mut delay = Duration::from_millis(200);
        for _ in 0..2 {
            match self
                .call_once(method.clone(), path, ticket, body.clone())
                .await
            {
                Err(HostError::Unreachable { .. }) if idempotent => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                other => return other,
            }
        }
        self.call_once(method, path, ticket, body).await
    }

    async fn call_once(
        &self,
        method: Method,
        path: &str,
        ticket: Option<&SignedTicket>,
        body: Bytes,
    ) -> Result<Bytes, HostError> {
        // `path` may carry a query of its own (a receipt): the ticket joins it.
        let url = match ticket {
            Some(t) if path.contains('?') => format!("{}{path}&ticket={}", self.base, t.to_hex()),
            Some(t) => format!("{}{path}?ticket={}", self.base, t.to_hex()),
            None => format!("{}{path}", self.base),
        };
        let shown = format!("{}{}", self.base, path.split('?').next().unwrap_or(path));
        let unreachable = |reason: String| HostError::Unreachable {
            url: shown.clone(),
            reason,
        };
        let req = Request::builder()
            .method(method)
            .uri(&url)
            .body(Full::new(body))
            .map_err(|e| unreachable(e.to_string()))?;
        let resp = tokio::time::timeout(Duration::from_secs(120), self.http.request(req))
            .await
            .map_err(|_| unreachable("timed out".into()))?
            .map_err(|e| unreachable(error_chain(&e)))?;
        let status = resp.status();
        let body = tokio::time::timeout(Duration::from_secs(120), resp.into_body().collect())
            .await
            .map_err(|_| unreachable("timed out reading the answer".into()))?
            .map_err(|e| unreachable(error_chain(&e)))?
            .to_bytes();
        if !status.is_success() {
            return Err(HostError::Status {
                url: shown,
                status,
                reason: String::from_utf8_lossy(&body).trim().to_string(),
            });
        }
        Ok(body)
    }

    /// Whether the host is up: it answers `/health` with success (it
    /// serves and follows the chain). `Ok` holds the last block its chain
    /// follower saw, as it reports it (`None`: it did not say).
    pub async fn health(&self) -> Result<Option<u64>, HostError> {
        let body = self
            .call(Method::GET, "/health", None, Bytes::new())
            .await?;
        Ok(serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("best_block")?.as_u64()))
    }

    /// The upload status of `contract`.
    pub async fn status(&self, contract: ContractId) -> Result<UploadStatus, HostError> {
        let path = format!("/v1/contracts/{contract}");
        let body = self.call(Method::GET, &path, None, Bytes::new()).await?;
        serde_json::from_slice(&body).map_err(|e| HostError::Unreachable {
            url: format!("{}{path}", self.base),
            reason: format!("bad status answer: {e}"),
        })
    }

    /// Uploads the chunk roots.
    pub async fn put_roots(
        &self,
        contract: ContractId,
        ticket: &SignedTicket,
        roots: &[[u8; 32]],
    ) -> Result<(), HostError> {
        let body: Vec<u8> = roots.iter().flatten().copied().collect();
        self.call(
            Method::PUT,
            &format!("/v1/contracts/{contract}/roots"),
            Some(ticket),
            body.into(),
        )
        .await
        .map(|_| ())
    }

    /// Uploads chunk `index`.
    pub async fn put_chunk(
        &self,
        contract: ContractId,
        index: u32,
        ticket: &SignedTicket,
        data: Bytes,
    ) -> Result<(), HostError> {
        self.call(
            Method::PUT,
            &format!("/v1/contracts/{contract}/chunks/{index}"),
            Some(ticket),
            data,
        )
        .await
        .map(|_| ())
    }

    /// Uploads the sealed manifest.
    pub async fn put_manifest(
        &self,
        contract: ContractId,
        ticket: &SignedTicket,
        sealed: Vec<u8>,
    ) -> Result<(), HostError> {
        self.call(
            Method::PUT,
            &format!("/v1/contracts/{contract}/manifest"),
            Some(ticket),
            sealed.into(),
        )
        .await
        .map(|_| ())
    }

    /// Uploads a listing's sealed manifest, stored under its BLAKE2b-256
    /// `hash` (the host checks it) beside `contract`'s data.
    pub async fn put_listing_manifest(
        &self,
        contract: ContractId,
        hash: &[u8; 32],
        ticket: &SignedTicket,
        sealed: Vec<u8>,
    ) -> Result<(), HostError> {
        self.call(
            Method::PUT,
            &format!(
                "/v1/contracts/{contract}/listing-manifests/{}",
                hex::encode(hash)
            ),
            Some(ticket),
            sealed.into(),
        )
        .await
        .map(|_| ())
    }

    /// Downloads the listing manifest `hash` kept beside `contract`.
    pub async fn get_listing_manifest(
        &self,
        contract: ContractId,
        hash: &[u8; 32],
        ticket: &SignedTicket,
    ) -> Result<Bytes, HostError> {
        self.call(
            Method::GET,
            &format!(
                "/v1/contracts/{contract}/listing-manifests/{}",
                hex::encode(hash)
            ),
            Some(ticket),
            Bytes::new(),
        )
        .await
    }

    /// Downloads chunk `index`, paying with `receipt` (see
    /// [`masp_primitives::egress`]) if the host charges for egress.
    pub async fn get_chunk_paid(
        &self,
        contract: ContractId,
        index: u32,
        ticket: &SignedTicket,
        receipt: Option<&masp_primitives::egress::WireReceipt>,
    ) -> Result<Bytes, HostError> {
        let path = match receipt {
            Some(r) => format!(
                "/v1/contracts/{contract}/chunks/{index}?receipt={}",
                hex::encode(r.to_bytes())
            ),
            None => format!("/v1/contracts/{contract}/chunks/{index}"),
        };
        self.call(Method::GET, &path, Some(ticket), Bytes::new())
            .await
    }

    /// Downloads chunk `index` of `contract` with a link issued to this
    /// account, carrying its `claim` ([`sign_claim`]) and, for a host that
    /// charges, this account's egress `receipt`.
    pub async fn get_chunk_claimed(
        &self,
        contract: ContractId,
        index: u32,
        ticket: &SignedTicket,
        claim: &[u8; 64],
        receipt: Option<&masp_primitives::egress::WireReceipt>,
    ) -> Result<Bytes, HostError> {
        let mut path = format!(
            "/v1/contracts/{contract}/chunks/{index}?claim={}",
            hex::encode(claim)
        );
        if let Some(r) = receipt {
            path.push_str(&format!("&receipt={}", hex::encode(r.to_bytes())));
        }
        self.call(Method::GET, &path, Some(ticket), Bytes::new())
            .await
    }

    /// What the host has served `payer` on its egress channel:
    /// `GET /v1/egress/{payer}` (0x-hex account).
    pub async fn egress_status(&self, payer: &[u8; 32]) -> Result<EgressStatus, HostError> {
        let body = self
            .call(
                Method::GET,
                &format!("/v1/egress/0x{}", hex::encode(payer)),
                None,
                Bytes::new(),
            )
            .await?;
        serde_json::from_slice(&body).map_err(|e| HostError::Unreachable {
            url: format!("{}/v1/egress", self.base),
            reason: format!("bad answer: {e}"),
        })
    }

    /// Downloads chunk `index`.
    pub async fn get_chunk(
        &self,
        contract: ContractId,
        index: u32,
        ticket: &SignedTicket,
    ) -> Result<Bytes, HostError> {
        self.call(
            Method::GET,
            &format!("/v1/contracts/{contract}/chunks/{index}"),
            Some(ticket),
            Bytes::new(),
        )
        .await
    }

    /// Downloads the sealed manifest.
    pub async fn get_manifest(
        &self,
        contract: ContractId,
        ticket: &SignedTicket,
    ) -> Result<Bytes, HostError> {
        self.call(
            Method::GET,
            &format!("/v1/contracts/{contract}/manifest"),
            Some(ticket),
            Bytes::new(),
        )
        .await
    }
}
