//! Talking to hosts over HTTP: uploads and downloads with signed tickets.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use masp_chain::Keypair;
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
/// for `ttl`, issued to `receiver` (the signer's own account if `None`).
pub fn sign_ticket(
    signer: &Keypair,
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
    let signature = signer.sign(&ticket.signing_payload()).0;
    SignedTicket {
        ticket,
        signer: signer.public_key().0,
        signature,
    }
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

/// One host's API.
#[derive(Clone)]
pub struct HostApi {
    base: String,
    http: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl HostApi {
    /// The API at `endpoint` (as registered on chain).
    pub fn new(endpoint: &str) -> Self {
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        Self {
            base: endpoint.trim_end_matches('/').to_string(),
            http: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(connector),
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
        let url = match ticket {
            Some(t) => format!("{}{path}?ticket={}", self.base, t.to_hex()),
            None => format!("{}{path}", self.base),
        };
        let shown = format!("{}{path}", self.base);
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
            .map_err(|e| unreachable(e.to_string()))?;
        let status = resp.status();
        let body = tokio::time::timeout(Duration::from_secs(120), resp.into_body().collect())
            .await
            .map_err(|_| unreachable("timed out reading the answer".into()))?
            .map_err(|e| unreachable(e.to_string()))?
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
