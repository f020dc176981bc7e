//! The HTTP API on 127.0.0.1 with a real disk store, driven by the `masp`
//! client's own host API:
//! - uploads are checked against the chunk roots and those against the
//!   contract's root; a bad chunk is refused and not stored;
//! - 64 clients uploading and downloading at once: no errors, and the
//!   server's memory stays bounded;
//! - a disk that fails gives a 500 with a reason and indexes nothing; a
//!   download the disk could not read does not use up the link;
//! - a download link serves each byte of a chunk once: shifted ranges
//!   that re-read served bytes are refused; a link issued to a Receiver
//!   serves only requests that Receiver signs;
//! - health and metrics answer;
//! - downloads answer the same on the sendfile fast path and on hyper's
//!   (after another request on the connection): status, reason and every
//!   header, for each kind of refusal (ticket missing, malformed, forged,
//!   expired, for other chunks or another operation, unclaimed; contract
//!   unknown or ended; chunk not stored; range not satisfiable) and for
//!   what is served; pipelined ones in order, and a connection closes when
//!   the client asks; bytes not in memory are read from disk first.

use std::{
    sync::{atomic::AtomicU32, Arc},
    time::Duration,
};

use bytes::Bytes;
use masp_client::hostapi::{sign_claim, sign_ticket, HostApi, HostError};
use masp_host::{
    listings::{NoChain, ReceiverGate},
    metrics::Metrics,
    server::{serve_with, AppState, Limits, SystemClock},
    store::{ContractRecord, DiskStore, ListingPut, Store, StoreError},
    tickets::ReplayGuard,
};
use masp_primitives::{market::ContractId, ticket::TicketOp};
use masp_proofs::{chunk_root, root_of_chunk_roots, CHUNK_SIZE};
use subxt_signer::sr25519::{dev, Keypair};

const CHUNKS: usize = 8;

/// The genesis hash of the chain the test host serves.
const GENESIS: [u8; 32] = [0x47; 32];

struct Server {
    dir: Arc<tempfile::TempDir>,
    api: HostApi,
    state: Arc<AppState>,
    data: Vec<u8>,
    roots: Vec<[u8; 32]>,
    _stop: tokio::sync::watch::Sender<bool>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(store: impl FnOnce(&std::path::Path) -> Arc<dyn Store>) -> Server {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let store = store(dir.path());
    // Many clients on one address (127.0.0.1) in some tests.
    let limits = Limits {
        max_connections_per_ip: 1024,
        ..Limits::default()
    };
    launch_with(dir, store, ReplayGuard::in_memory(GENESIS), limits).await
}

/// Serves `store` (contract 1 put in it) with `replay`, data under `dir`.
async fn launch(dir: Arc<tempfile::TempDir>, store: Arc<dyn Store>, replay: ReplayGuard) -> Server {
    launch_with(dir, store, replay, Limits::default()).await
}

/// [`launch`] with `limits`.
async fn launch_with(
    dir: Arc<tempfile::TempDir>,
    store: Arc<dyn Store>,
    replay: ReplayGuard,
    limits: Limits,
) -> Server {
    let data: Vec<u8> = (0..CHUNKS * CHUNK_SIZE).map(|i| (i % 253) as u8).collect();
    let roots: Vec<[u8; 32]> = data.chunks(CHUNK_SIZE).map(chunk_root).collect();
    store
        .put_contract(
            1,
            &ContractRecord {
                sender: dev::alice().public_key().0,
                size: data.len() as u64,
                root: root_of_chunk_roots(&mut roots.clone()),
                leaf_count: masp_proofs::leaf_count(data.len() as u64),
                confirmed: false,
                ended_at: None,
                last_proven: None,
            },
        )
        .unwrap();
    let state = Arc::new(AppState {
        store,
        clock: Arc::new(SystemClock),
        replay,
        receivers: ReceiverGate::new(Arc::new(NoChain)),
        egress: Arc::new(masp_host::egress::Egress::free()),
        metrics: Arc::new(Metrics::new()),
        complete: tokio::sync::Notify::new(),
        best_block: AtomicU32::new(0),
        chain_seen_at: Default::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let served = tokio::spawn(serve_with(listener, state.clone(), rx, limits));
    Server {
        dir,
        api: HostApi::new(&format!("http://{addr}")),
        state,
        data,
        roots,
        _stop: stop,
        served,
    }
}

fn ticket(
    who: &Keypair,
    op: TicketOp,
    contract: ContractId,
) -> masp_primitives::ticket::SignedTicket {
    sign_ticket(
        who,
        GENESIS,
        op,
        contract,
        0,
        u32::MAX,
        None,
        Duration::from_secs(600),
    )
}

impl Server {
    fn chunk(&self, i: usize) -> Bytes {
        Bytes::copy_from_slice(&self.data[i * CHUNK_SIZE..(i + 1) * CHUNK_SIZE])
    }
}

fn status(e: HostError) -> u16 {
    e.status().map(|s| s.as_u16()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_checked_against_the_contract_root() {
    let s = start(|d| Arc::new(DiskStore::open(d).unwrap())).await;
    let up = ticket(&dev::alice(), TicketOp::Upload, 1);
    // Chunks before roots: refused.
    let e = s.api.put_chunk(1, 0, &up, s.chunk(0)).await.unwrap_err();
    assert_eq!(status(e), 409);
    // Roots that do not make the contract's root: refused.
    let mut wrong = s.roots.clone();
    wrong[3][0] ^= 1;
    assert_eq!(
        status(s.api.put_roots(1, &up, &wrong).await.unwrap_err()),
        422
    );
    s.api.put_roots(1, &up, &s.roots).await.unwrap();
    // A chunk that is not the one its root names: refused, not stored.
    let e = s.api.put_chunk(1, 0, &up, s.chunk(1)).await.unwrap_err();
    assert_eq!(status(e), 422);
    assert!(!s.state.store.has_chunk(1, 0).unwrap());
    // Someone else's ticket: refused.
    let bob = ticket(&dev::bob(), TicketOp::Upload, 1);
    assert_eq!(
        status(s.api.put_chunk(1, 0, &bob, s.chunk(0)).await.unwrap_err()),
        401
    );
    // A download ticket does not upload.
    let down = ticket(&dev::alice(), TicketOp::Download, 1);
    assert_eq!(
        status(s.api.put_chunk(1, 0, &down, s.chunk(0)).await.unwrap_err()),
        403
    );
    s.api.put_chunk(1, 0, &up, s.chunk(0)).await.unwrap();
    let st = s.api.status(1).await.unwrap();
    assert_eq!(st.missing, (1..CHUNKS as u32).collect::<Vec<_>>());
    // Unknown contract: 404 with a reason.
    let e = s.api.status(99).await.unwrap_err();
    assert_eq!(status(e), 404);
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_clients_upload_and_download_at_once_without_errors() {
    let s = Arc::new(start(|d| Arc::new(DiskStore::open(d).unwrap())).await);
    let up = ticket(&dev::alice(), TicketOp::Upload, 1);
    s.api.put_roots(1, &up, &s.roots).await.unwrap();
    for i in 0..CHUNKS {
        s.api.put_chunk(1, i as u32, &up, s.chunk(i)).await.unwrap();
    }
    let before = peak_rss_kib();
    let mut tasks = Vec::new();
    for client in 0..64 {
        let s = s.clone();
        let up = up.clone();
        tasks.push(tokio::spawn(async move {
            let api = HostApi::new(s.api.endpoint());
            let down = ticket(&dev::alice(), TicketOp::Download, 1);
            for k in 0..CHUNKS {
                let i = (client + k) % CHUNKS;
                if client % 2 == 0 {
                    api.put_chunk(1, i as u32, &up, s.chunk(i)).await?;
                }
                let got = api.get_chunk(1, i as u32, &down).await?;
                assert!(got == s.chunk(i), "client {client} chunk {i}");
            }
            Ok::<_, HostError>(())
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // 64 clients moved 768 MiB; the process grew by far less than that.
    let grown_mib = peak_rss_kib().saturating_sub(before) / 1024;
    assert!(grown_mib < 256, "peak memory grew by {grown_mib} MiB");
    let metrics = s.state.metrics.render();
    assert!(
        metrics.contains("masp_host_bytes_served_total"),
        "{metrics}"
    );
    assert!(metrics.contains("status=\"200\""), "{metrics}");
}

/// A disk that fails every write, and every download read while
/// `reads_fail` is set.
struct FailingStore(DiskStore, std::sync::atomic::AtomicBool);

impl FailingStore {
    fn new(dir: &std::path::Path) -> Self {
        Self(DiskStore::open(dir).unwrap(), Default::default())
    }
}

impl Store for FailingStore {
    fn contract(&self, id: ContractId) -> Result<Option<ContractRecord>, StoreError> {
        self.0.contract(id)
    }
    fn contracts(&self) -> Result<Vec<(ContractId, ContractRecord)>, StoreError> {
        self.0.contracts()
    }
    fn put_contract(&self, id: ContractId, r: &ContractRecord) -> Result<(), StoreError> {
        self.0.put_contract(id, r)
    }
    fn roots(&self, id: ContractId) -> Result<Option<Vec<[u8; 32]>>, StoreError> {
        self.0.roots(id)
    }
    fn put_roots(&self, id: ContractId, roots: &[[u8; 32]]) -> Result<(), StoreError> {
        self.0.put_roots(id, roots)
    }
    fn has_chunk(&self, id: ContractId, i: u32) -> Result<bool, StoreError> {
        self.0.has_chunk(id, i)
    }
    fn stored_chunks(&self, id: ContractId) -> Result<u32, StoreError> {
        self.0.stored_chunks(id)
    }
    fn missing_chunks(
        &self,
        id: ContractId,
        n: u32,
        from: u32,
        max: u32,
    ) -> Result<(Vec<u32>, Option<u32>), StoreError> {
        self.0.missing_chunks(id, n, from, max)
    }
    fn put_chunk(&self, _: ContractId, _: u32, _: &[u8]) -> Result<(), StoreError> {
        Err(std::io::Error::other("disk full").into())
    }
    fn chunk_path(&self, id: ContractId, i: u32) -> std::path::PathBuf {
        self.0.chunk_path(id, i)
    }
    fn read_chunk(&self, id: ContractId, i: u32) -> Result<Vec<u8>, StoreError> {
        self.0.read_chunk(id, i)
    }
    fn read_range(
        &self,
        id: ContractId,
        i: u32,
        start: u64,
        end: u64,
    ) -> Result<Bytes, StoreError> {
        if self.1.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(std::io::Error::other("read error").into());
        }
        self.0.read_range(id, i, start, end)
    }
    fn put_manifest(&self, _: ContractId, _: &[u8]) -> Result<bool, StoreError> {
        Err(std::io::Error::other("disk full").into())
    }
    fn manifest(&self, id: ContractId) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.manifest(id)
    }
    fn put_listing_manifest(
        &self,
        _: ContractId,
        _: &[u8; 32],
        _: &[u8],
    ) -> Result<ListingPut, StoreError> {
        Err(std::io::Error::other("disk full").into())
    }
    fn listing_manifest(
        &self,
        id: ContractId,
        hash: &[u8; 32],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.listing_manifest(id, hash)
    }
    fn listing_manifests(&self, id: ContractId) -> Result<usize, StoreError> {
        self.0.listing_manifests(id)
    }
    fn drop_chunk(&self, id: ContractId, i: u32) -> Result<(), StoreError> {
        self.0.drop_chunk(id, i)
    }
    fn delete_contract(&self, id: ContractId) -> Result<(), StoreError> {
        self.0.delete_contract(id)
    }
    fn bytes_stored(&self) -> Result<u64, StoreError> {
        self.0.bytes_stored()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_disk_gives_a_500_with_a_reason_and_indexes_nothing() {
    let s = start(|d| Arc::new(FailingStore::new(d))).await;
    let up = ticket(&dev::alice(), TicketOp::Upload, 1);
    s.api.put_roots(1, &up, &s.roots).await.unwrap();
    let e = s.api.put_chunk(1, 0, &up, s.chunk(0)).await.unwrap_err();
    let text = e.to_string();
    assert_eq!(status(e), 500);
    assert!(text.contains("disk full"), "{text}");
    assert!(!s.state.store.has_chunk(1, 0).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_answer() {
    let s = start(|d| Arc::new(DiskStore::open(d).unwrap())).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<Bytes>>();
    // Before the chain is reached, and when it has been silent too long:
    // 503 with the reason.
    let health = format!("{}/health", s.api.endpoint());
    let resp = client.get(health.parse().unwrap()).await.unwrap();
    assert_eq!(resp.status(), 503);
    let now = masp_client::hostapi::unix_now();
    let seen = &s.state.chain_seen_at;
    seen.store(now - 1000, std::sync::atomic::Ordering::Relaxed);
    let resp = client.get(health.parse().unwrap()).await.unwrap();
    assert_eq!(resp.status(), 503);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap();
    let text = String::from_utf8(body.to_bytes().to_vec()).unwrap();
    assert!(text.contains("no word from the chain"), "{text}");
    seen.store(now, std::sync::atomic::Ordering::Relaxed);
    for path in ["/health", "/metrics"] {
        let uri = format!("{}{path}", s.api.endpoint()).parse().unwrap();
        let resp = client.get(uri).await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_the_disk_could_not_read_does_not_use_up_the_link() {
    let mut failing = None;
    let s = start(|d| {
        let f = Arc::new(FailingStore::new(d));
        failing = Some(f.clone());
        f
    })
    .await;
    let failing = failing.unwrap();
    // The failing store refuses writes: put the chunk under it directly.
    failing.0.put_chunk(1, 2, &s.chunk(2)).unwrap();
    let down = ticket(&dev::alice(), TicketOp::Download, 1);
    failing.1.store(true, std::sync::atomic::Ordering::Relaxed);
    let e = s.api.get_chunk(1, 2, &down).await.unwrap_err();
    assert_eq!(status(e), 500);
    failing.1.store(false, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(s.api.get_chunk(1, 2, &down).await.unwrap(), s.chunk(2));
    // A chunk the host does not have: 404, and the link is not spent on it.
    assert_eq!(status(s.api.get_chunk(1, 3, &down).await.unwrap_err()), 404);
    failing.0.put_chunk(1, 3, &s.chunk(3)).unwrap();
    assert_eq!(s.api.get_chunk(1, 3, &down).await.unwrap(), s.chunk(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_link_serves_each_byte_of_a_chunk_once() {
    let s = start(|d| Arc::new(DiskStore::open(d).unwrap())).await;
    let up = ticket(&dev::alice(), TicketOp::Upload, 1);
    s.api.put_roots(1, &up, &s.roots).await.unwrap();
    s.api.put_chunk(1, 0, &up, s.chunk(0)).await.unwrap();
    let down = ticket(&dev::alice(), TicketOp::Download, 1);
    let url = format!(
        "{}/v1/contracts/1/chunks/0?ticket={}",
        s.api.endpoint(),
        down.to_hex()
    );
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<Bytes>>();
    let get = |range: &'static str| {
        let req = http::Request::get(&url)
            .header(http::header::RANGE, range)
            .body(http_body_util::Empty::new())
            .unwrap();
        let client = client.clone();
        async move { client.request(req).await.unwrap().status().as_u16() }
    };
    assert_eq!(get("bytes=0-262143").await, 206);
    assert_eq!(get("bytes=262144-524287").await, 206);
    // The same range again, and ranges shifted by a byte: replays.
    assert_eq!(get("bytes=0-262143").await, 403);
    assert_eq!(get("bytes=1-").await, 403);
    assert_eq!(get("bytes=524287-").await, 403);
    // The rest of the chunk, once.
    assert_eq!(get("bytes=524288-").await, 206);
    assert_eq!(get("bytes=-1").await, 403);
}

/// A raw HTTP/1.1 connection, to see exactly what the server sends.
struct Raw(tokio::io::BufReader<tokio::net::TcpStream>);

/// A response: status, headers (names in lower case), body.
struct Resp {
    status: u16,
    headers: std::collections::HashMap<String, String>,
    body: Vec<u8>,
}

impl Raw {
    async fn open(s: &Server) -> Self {
        let addr = s.api.endpoint().trim_start_matches("http://").to_owned();
        Raw(tokio::io::BufReader::new(
            tokio::net::TcpStream::connect(addr).await.unwrap(),
        ))
    }

    async fn send(&mut self, requests: &str) {
        use tokio::io::AsyncWriteExt;
        self.0
            .get_mut()
            .write_all(requests.as_bytes())
            .await
            .unwrap();
    }

    async fn read(&mut self) -> Resp {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt};
        let mut line = String::new();
        self.0.read_line(&mut line).await.unwrap();
        assert!(line.starts_with("HTTP/1.1 "), "status line {line:?}");
        let status = line[9..12].parse().unwrap();
        let mut headers = std::collections::HashMap::new();
        loop {
            line.clear();
            self.0.read_line(&mut line).await.unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap();
            headers.insert(k.to_ascii_lowercase(), v.trim().to_owned());
        }
        // None on a 204.
        let len: usize = headers
            .get("content-length")
            .map_or(0, |v| v.parse().unwrap());
        let mut body = vec![0; len];
        self.0.read_exact(&mut body).await.unwrap();
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn get(&mut self, path: &str, extra: &str) -> Resp {
        self.send(&format!("GET {path} HTTP/1.1\r\nHost: h\r\n{extra}\r\n"))
            .await;
        self.read().await
    }

    /// Whether the server closed the connection.
    async fn closed(&mut self) -> bool {
        use tokio::io::AsyncReadExt;
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), self.0.read(&mut b)).await,
            Ok(Ok(0))
        )
    }
}

/// Uploads contract 1's roots and chunks.
async fn chunks_stored(s: &Server) {
    let up = ticket(&dev::alice(), TicketOp::Upload, 1);
    s.api.put_roots(1, &up, &s.roots).await.unwrap();
    for i in 0..CHUNKS {
        s.api.put_chunk(1, i as u32, &up, s.chunk(i)).await.unwrap();
    }
}

/// Uploads contract 1's roots, chunks and manifest.
async fn stored(s: &Server) {
    chunks_stored(s).await;
    let up = ticket(&dev::alice(), TicketOp::Upload, 1);
    s.api
        .put_manifest(1, &up, b"the sealed manifest".to_vec())
        .await
        .unwrap();
}

fn counter(s: &Server, name: &str) -> u64 {
    let text = s.state.metrics.render();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("masp_host_{name} ")))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// The answers a download gets on connection `c`, using chunks `a` and
/// `b`: a whole chunk, a range, a replayed range, a forged ticket and a
/// range past the end. Returns the headers that must not depend on the path.
async fn download_answers(s: &Server, c: &mut Raw, a: u32, b: u32) -> Vec<(u16, Vec<String>)> {
    let t = ticket(&dev::alice(), TicketOp::Download, 1).to_hex();
    let url = |i: u32| format!("/v1/contracts/1/chunks/{i}?ticket={t}");
    let mut seen = Vec::new();
    let mut note = |r: &Resp| {
        let mut h: Vec<String> = [
            "content-type",
            "accept-ranges",
            "content-range",
            "content-length",
            "access-control-allow-origin",
            "access-control-expose-headers",
        ]
        .iter()
        .filter_map(|k| r.headers.get(*k).map(|v| format!("{k}: {v}")))
        .collect();
        h.push(format!("date: {}", r.headers.contains_key("date")));
        seen.push((r.status, h));
    };
    let r = c.get(&url(a), "").await;
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &s.chunk(a as usize)[..])
    );
    note(&r);
    let r = c.get(&url(b), "Range: bytes=10-19\r\n").await;
    assert_eq!(
        (r.status, r.body.as_slice()),
        (206, &s.chunk(b as usize)[10..20])
    );
    note(&r);
    // Refusals keep the connection usable and say why.
    let r = c.get(&url(b), "Range: bytes=15-25\r\n").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body, b"ticket was already used for this chunk\n");
    note(&r);
    let mut forged = t.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).unwrap();
    let r = c
        .get(&format!("/v1/contracts/1/chunks/{a}?ticket={forged}"), "")
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body, b"ticket signature does not verify\n");
    note(&r);
    let r = c.get(&url(b), "Range: bytes=9999999-\r\n").await;
    assert_eq!(r.status, 416);
    note(&r);
    // The manifest: read whole, once per ticket.
    let manifest = format!("/v1/contracts/1/manifest?ticket={t}");
    let r = c.get(&manifest, "").await;
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"the sealed manifest"[..])
    );
    note(&r);
    let r = c.get(&manifest, "").await;
    assert_eq!(r.status, 403);
    note(&r);
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_answer_the_same_before_and_after_a_connection_goes_to_hyper() {
    let s = start(|d| Arc::new(DiskStore::open(d).unwrap())).await;
    stored(&s).await;
    let mut c = Raw::open(&s).await;
    // The fast path: sent from the page cache, nothing read into memory.
    let fast = download_answers(&s, &mut c, 0, 1).await;
    assert_eq!(counter(&s, "download_disk_reads_total"), 0);
    assert_eq!(
        fast[1].1[2],
        format!("content-range: bytes 10-19/{CHUNK_SIZE}")
    );
    assert_eq!(fast[4].1[1], format!("content-range: bytes */{CHUNK_SIZE}"));
    // Another request hands the connection to hyper: the same answers.
    let r = c.get("/v1/contracts/1", "").await;
    assert_eq!(r.status, 200);
    let hyper = download_answers(&s, &mut c, 2, 3).await;
    assert_eq!(fast, hyper);
    // The web app reads every answer, refusals included, from any origin.
    for (status, h) in &fast {
        assert!(
            h.contains(&"access-control-allow-origin: *".to_string()),
            "{status}: {h:?}"
        );
    }
    assert!(counter(&s, "download_disk_reads_total") > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_a_body_behind_a_download_goes_whole_to_hyper() {
    let s = start(|d| Arc::new(DiskStore::open(d).unwrap())).await;
    chunks_stored(&s).await;
    let down = ticket(&dev::alice(), TicketOp::Download, 1).to_hex();
    let up = ticket(&dev::alice(), TicketOp::Upload, 1).to_hex();
    let mut c = Raw::open(&s).await;
    // Three requests in one segment: a download (fast path), an upload
    // with a body (hyper from here on), a download again.
    c.send(&format!(
        "GET /v1/contracts/1/chunks/0?ticket={down} HTTP/1.1\r\nHost: h\r\n\r\n\
         PUT /v1/contracts/1/manifest?ticket={up} HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\nsealed\
         GET /v1/contracts/1/chunks/1?ticket={down} HTTP/1.1\r\nHost: h\r\nRange: bytes=0-9\r\n\r\n"
    ))
    .await;
    let r = c.read().await;
    assert_eq!((r.status, r.body.len()), (200, CHUNK_SIZE));
    let r = c.read().await;
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"manifest stored\n"[..])
    );
    let r = c.read().await;
    assert_eq!((r.status, r.body.as_slice()), (206, &s.chunk(1)[..10]));
    assert_eq!(s.state.store.manifest(1).unwrap().unwrap(), b"sealed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_downloads_answer_in_order_and_close_when_asked() {
    let s = start(|d| Arc::new(DiskStore::open(d).unwrap())).await;
    stored(&s).await;
    let t = ticket(&dev::alice(), TicketOp::Download, 1).to_hex();
    let mut c = Raw::open(&s).await;
    let mut all = String::new();
    for (i, extra) in [(4, ""), (5, ""), (6, "Connection: close\r\n")] {
        all += &format!(
            "GET /v1/contracts/1/chunks/{i}?ticket={t} HTTP/1.1\r\nHost: h\r\n{extra}\r\n"
        );
    }
    c.send(&all).await;
    for i in [4, 5, 6] {
        let r = c.read().await;
        assert_eq!((r.status, r.body.len()), (200, CHUNK_SIZE), "chunk {i}");
        assert!(r.body == s.chunk(i), "chunk {i}");
        assert_eq!(r.headers.contains_key("connection"), i == 6);
    }
    assert!(
        c.closed().await,
        "the server keeps a connection it was asked to close"
    );
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_dropped_from_the_page_cache_is_read_from_disk_first() {
    let s = start(|d| Arc::new(DiskStore::open(d).unwrap())).await;
    stored(&s).await;
    let f = std::fs::File::open(s.state.store.chunk_path(1, 5)).unwrap();
    rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
    let t = ticket(&dev::alice(), TicketOp::Download, 1).to_hex();
    let mut c = Raw::open(&s).await;
    let r = c
        .get(&format!("/v1/contracts/1/chunks/5?ticket={t}"), "")
        .await;
    assert_eq!((r.status, r.body.as_slice()), (200, &s.chunk(5)[..]));
    let reads = counter(&s, "download_disk_reads_total");
    // tmpfs keeps its pages whatever the advice; a disk's cache drops them.
    assert!(reads <= 1);
    if reads == 0 {
        eprintln!("this filesystem kept the pages; the disk read was not exercised");
    }
    // Read once, the chunk is in memory again: sent from the page cache.
    let r = c
        .get(&format!("/v1/contracts/1/chunks/6?ticket={t}"), "")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(counter(&s, "download_disk_reads_total"), reads);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_not_in_memory_is_read_from_disk_off_the_async_threads() {
    // FailingStore cannot tell what is in the page cache: every download
    // takes the disk read.
    let mut failing = None;
    let s = start(|d| {
        let f = Arc::new(FailingStore::new(d));
        failing = Some(f.clone());
        f
    })
    .await;
    failing.unwrap().0.put_chunk(1, 7, &s.chunk(7)).unwrap();
    let t = ticket(&dev::alice(), TicketOp::Download, 1).to_hex();
    let mut c = Raw::open(&s).await;
    let r = c
        .get(
            &format!("/v1/contracts/1/chunks/7?ticket={t}"),
            "Range: bytes=-100\r\n",
        )
        .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, s.chunk(7)[CHUNK_SIZE - 100..]);
    assert_eq!(counter(&s, "download_disk_reads_total"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_closes_idle_connections_and_finishes_the_server() {
    let s = start(|d| Arc::new(DiskStore::open(d).unwrap())).await;
    stored(&s).await;
    let t = ticket(&dev::alice(), TicketOp::Download, 1).to_hex();
    let mut fast = Raw::open(&s).await;
    let r = fast
        .get(&format!("/v1/contracts/1/chunks/0?ticket={t}"), "")
        .await;
    assert_eq!(r.status, 200);
    // One connection on each side of the hand-off, both idle.
    let mut handed = Raw::open(&s).await;
    assert_eq!(handed.get("/v1/contracts/1", "").await.status, 200);
    s._stop.send(true).unwrap();
    assert!(
        fast.closed().await,
        "an idle fast-path connection stays open"
    );
    assert!(handed.closed().await, "an idle hyper connection stays open");
    let done = tokio::time::timeout(Duration::from_secs(5), s.served).await;
    assert!(matches!(done, Ok(Ok(Ok(())))), "the server did not finish");
}

/// Cuts chunk `i`'s file short in place (a failing disk, an operator's
/// mistake), under the running daemon.
fn cut_short(s: &Server, i: u32) {
    std::fs::File::options()
        .write(true)
        .open(s.state.store.chunk_path(1, i))
        .unwrap()
        .set_len(100)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_cut_short_under_the_daemon_is_a_500_and_the_rest_is_served() {
    let s = start(|d| Arc::new(DiskStore::open(d).unwrap())).await;
    stored(&s).await;
    let t = ticket(&dev::alice(), TicketOp::Download, 1).to_hex();
    let url = |i: u32| format!("/v1/contracts/1/chunks/{i}?ticket={t}");
    cut_short(&s, 2);
    cut_short(&s, 3);
    let mut c = Raw::open(&s).await;
    // The fast path: a 500 with the reason, and the connection still serves.
    let r = c.get(&url(2), "").await;
    assert_eq!(r.status, 500);
    assert!(String::from_utf8_lossy(&r.body).contains("short"));
    let r = c.get(&url(0), "").await;
    assert_eq!((r.status, r.body.as_slice()), (200, &s.chunk(0)[..]));
    // Hyper's path (bytes read from disk): the same.
    assert_eq!(c.get("/v1/contracts/1", "").await.status, 200);
    let r = c.get(&url(3), "Range: bytes=50-200000\r\n").await;
    assert_eq!(r.status, 500);
    let r = c.get(&url(1), "").await;
    assert_eq!((r.status, r.body.as_slice()), (200, &s.chunk(1)[..]));
    // A chunk cut short while a slow client is still reading it: the
    // client gets the bytes read before the cut (or a cut connection),
    // and the daemon lives on.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let addr = s
        .api
        .endpoint()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let mut slow = Raw(tokio::io::BufReader::with_capacity(
        1024,
        sock.connect(addr).await.unwrap(),
    ));
    assert_eq!(slow.get("/v1/contracts/1", "").await.status, 200);
    slow.send(&format!(
        "GET {} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        url(4)
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    cut_short(&s, 4);
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read_to_end(&mut slow.0, &mut rest),
    )
    .await;
    let r = c.get(&url(5), "").await;
    assert_eq!((r.status, r.body.as_slice()), (200, &s.chunk(5)[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_used_before_a_restart_is_refused_after_it() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let t = ticket(&dev::alice(), TicketOp::Download, 1).to_hex();
    let url = |i: u32| format!("/v1/contracts/1/chunks/{i}?ticket={t}");
    let now = masp_client::hostapi::unix_now();
    {
        let disk = Arc::new(DiskStore::open(dir.path()).unwrap());
        let replay = ReplayGuard::open(disk.clone(), now).unwrap();
        replay.bind_chain(GENESIS).unwrap();
        let s = launch(dir.clone(), disk, replay).await;
        stored(&s).await;
        let mut c = Raw::open(&s).await;
        assert_eq!(c.get(&url(0), "").await.status, 200);
        let r = c.get(&url(1), "Range: bytes=0-99\r\n").await;
        assert_eq!(r.status, 206);
        drop(c);
        s._stop.send(true).unwrap();
        let done = tokio::time::timeout(Duration::from_secs(10), s.served).await;
        assert!(matches!(done, Ok(Ok(Ok(())))));
    }
    // The daemon restarts on the same data dir: it knows its chain before
    // reaching the node, and the link's used bytes stay used.
    let disk = Arc::new(DiskStore::open(dir.path()).unwrap());
    let replay = ReplayGuard::open(disk.clone(), now).unwrap();
    assert_eq!(replay.genesis(), Some(GENESIS));
    assert!(
        replay.bind_chain([0x99; 32]).is_err(),
        "another chain's node"
    );
    let s = launch(dir.clone(), disk, replay).await;
    let mut c = Raw::open(&s).await;
    let r = c.get(&url(0), "").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body, b"ticket was already used for this chunk\n");
    assert_eq!(c.get(&url(1), "Range: bytes=50-60\r\n").await.status, 403);
    // What it had not served, it still serves, once.
    let r = c.get(&url(1), "Range: bytes=100-\r\n").await;
    assert_eq!((r.status, r.body.as_slice()), (206, &s.chunk(1)[100..]));
    assert_eq!(c.get(&url(2), "").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_signed_for_another_chain_is_refused() {
    let s = start(|d| Arc::new(DiskStore::open(d).unwrap())).await;
    stored(&s).await;
    let other = |op| {
        sign_ticket(
            &dev::alice(),
            [0x99; 32],
            op,
            1,
            0,
            u32::MAX,
            None,
            Duration::from_secs(600),
        )
    };
    // The same account, contract id and chunks, on a test net: useless here.
    let e = s
        .api
        .get_chunk(1, 0, &other(TicketOp::Download))
        .await
        .unwrap_err();
    let text = e.to_string();
    assert_eq!(status(e), 401);
    assert!(text.contains("signature does not verify"), "{text}");
    let e = s
        .api
        .put_manifest(1, &other(TicketOp::Upload), b"junk".to_vec())
        .await
        .unwrap_err();
    assert_eq!(status(e), 401);
    // A host that has not learned its chain yet checks no ticket: 503.
    let unbound = launch(s.dir.clone(), s.state.store.clone(), ReplayGuard::default()).await;
    let down = ticket(&dev::alice(), TicketOp::Download, 1);
    assert_eq!(
        status(unbound.api.get_chunk(1, 0, &down).await.unwrap_err()),
        503
    );
    unbound.state.replay.bind_chain(GENESIS).unwrap();
    assert_eq!(
        unbound.api.get_chunk(1, 0, &down).await.unwrap(),
        s.chunk(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_is_small_and_written_once() {
    let s = start(|d| Arc::new(DiskStore::open(d).unwrap())).await;
    chunks_stored(&s).await;
    let up = ticket(&dev::alice(), TicketOp::Upload, 1);
    // Bounded by the contract: 16 KiB plus 32 bytes per chunk, not 16 MiB
    // outside the host's capacity.
    let limit = masp_host::server::max_manifest((CHUNKS * CHUNK_SIZE) as u64);
    assert_eq!(limit, (16 << 10) + 32 * CHUNKS);
    let e = s
        .api
        .put_manifest(1, &up, vec![1; limit + 1])
        .await
        .unwrap_err();
    assert_eq!(status(e), 413);
    let sealed = vec![7u8; limit];
    s.api.put_manifest(1, &up, sealed.clone()).await.unwrap();
    // A retry of the same bytes: fine. Anything else with the same
    // (reusable, maybe leaked) upload ticket: refused, nothing changed.
    s.api.put_manifest(1, &up, sealed.clone()).await.unwrap();
    let e = s
        .api
        .put_manifest(1, &up, b"an attacker's manifest".to_vec())
        .await
        .unwrap_err();
    let text = e.to_string();
    assert_eq!(status(e), 409);
    assert!(text.contains("written once"), "{text}");
    let fresh = ticket(&dev::alice(), TicketOp::Upload, 1);
    let e = s
        .api
        .put_manifest(1, &fresh, vec![8; 10])
        .await
        .unwrap_err();
    assert_eq!(status(e), 409);
    assert_eq!(s.state.store.manifest(1).unwrap().unwrap(), sealed);
    let down = ticket(&dev::alice(), TicketOp::Download, 1);
    assert_eq!(s.api.get_manifest(1, &down).await.unwrap(), sealed);
}

/// A connection to the server from loopback address `from` (127.x.y.z).
async fn connect_from(s: &Server, from: [u8; 4]) -> tokio::net::TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(std::net::SocketAddr::from((from, 0))).unwrap();
    let addr = s
        .api
        .endpoint()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    sock.connect(addr).await.unwrap()
}

/// Starts a chunk upload whose body never comes: the head and 10 bytes of
/// a 1 MiB chunk.
async fn stall(c: &mut tokio::net::TcpStream, ticket: &str) {
    use tokio::io::AsyncWriteExt;
    let head = format!(
        "PUT /v1/contracts/1/chunks/0?ticket={ticket} HTTP/1.1\r\nHost: h\r\n\
         Content-Length: {CHUNK_SIZE}\r\n\r\n0123456789"
    );
    c.write_all(head.as_bytes()).await.unwrap();
}

/// What the server sent on `c` before closing it, if it closed it within
/// `wait` (a reset counts as closed, with what was read before).
async fn closed_within(c: &mut tokio::net::TcpStream, wait: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let read = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 4096];
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limits_with_stalled_bodies_do_not_starve_the_host() {
    let limits = Limits {
        max_connections: 6,
        max_connections_per_ip: 3,
        body_timeout: Duration::from_secs(2),
    };
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let store = Arc::new(DiskStore::open(dir.path()).unwrap());
    let s = launch_with(dir, store, ReplayGuard::in_memory(GENESIS), limits).await;
    chunks_stored(&s).await;
    let up = ticket(&dev::alice(), TicketOp::Upload, 1).to_hex();
    // One address opens 10 uploads and stalls their bodies (with a valid
    // ticket, and with junk: a refusal whose body is drained).
    let started = std::time::Instant::now();
    let mut a = Vec::new();
    for k in 0..10 {
        let mut c = connect_from(&s, [127, 0, 0, 2]).await;
        stall(&mut c, if k % 2 == 0 { &up } else { "00" }).await;
        a.push(c);
    }
    // Past its 3, each is answered 503 and closed at once.
    let mut held = Vec::new();
    let mut refused = 0;
    for mut c in a {
        match closed_within(&mut c, Duration::from_millis(300)).await {
            Some(text) => {
                assert!(
                    text.is_empty() || text.starts_with("HTTP/1.1 503"),
                    "{text}"
                );
                refused += 1;
            }
            None => held.push(c),
        }
    }
    assert_eq!((refused, held.len()), (7, 3));
    assert_eq!(
        counter(&s, "connections_refused_total"),
        7,
        "every refusal counted"
    );
    // The host still serves others meanwhile: status, downloads, and the
    // prover's reads of the store.
    assert_eq!(s.api.status(1).await.unwrap().missing, Vec::<u32>::new());
    let down = ticket(&dev::alice(), TicketOp::Download, 1);
    assert_eq!(s.api.get_chunk(1, 0, &down).await.unwrap(), s.chunk(0));
    assert_eq!(s.state.store.read_chunk(1, 3).unwrap(), s.chunk(3));
    // Another address takes every slot left: the next client waits in the
    // backlog only until the stalled bodies time out.
    let mut b = Vec::new();
    for _ in 0..3 {
        let mut c = connect_from(&s, [127, 0, 0, 3]).await;
        stall(&mut c, &up).await;
        b.push(c);
    }
    let waited = std::time::Instant::now();
    let mut c = Raw::open(&s).await;
    let t = down.to_hex();
    let r = tokio::time::timeout(
        Duration::from_secs(8),
        c.get(&format!("/v1/contracts/1/chunks/1?ticket={t}"), ""),
    )
    .await
    .expect("a client waited past the stalled bodies' timeout");
    assert_eq!((r.status, r.body.as_slice()), (200, &s.chunk(1)[..]));
    assert!(waited.elapsed() < Duration::from_secs(8));
    assert_eq!(s.state.store.read_chunk(1, 4).unwrap(), s.chunk(4));
    // Every stalled upload was answered (408: the body did not arrive in
    // time; 400: the junk ticket, its body drained until the timeout) and
    // closed, about 2 s after it began.
    for mut c in held.into_iter().chain(b) {
        let text = closed_within(&mut c, Duration::from_secs(6))
            .await
            .expect("a stalled upload held its connection past the body timeout");
        assert!(
            text.starts_with("HTTP/1.1 408") || text.starts_with("HTTP/1.1 400"),
            "{text}"
        );
        assert!(
            text.to_ascii_lowercase().contains("connection: close"),
            "{text}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(12));
}

/// A listener that fails (out of file descriptors) while `failing` is set,
/// counting its accepts.
struct Exhausted {
    inner: tokio::net::TcpListener,
    failing: Arc<std::sync::atomic::AtomicBool>,
    calls: Arc<std::sync::atomic::AtomicU32>,
}

impl masp_host::server::Listener for Exhausted {
    async fn accept(&self) -> std::io::Result<(tokio::net::TcpStream, std::net::SocketAddr)> {
        use std::sync::atomic::Ordering::SeqCst;
        self.calls.fetch_add(1, SeqCst);
        if self.failing.load(SeqCst) {
            return Err(std::io::Error::from_raw_os_error(libc::EMFILE));
        }
        self.inner.accept().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_accepts_pause_instead_of_spinning() {
    use std::sync::atomic::Ordering::SeqCst;
    let s = start(|d| Arc::new(DiskStore::open(d).unwrap())).await;
    let inner = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = inner.local_addr().unwrap();
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let listener = Exhausted {
        inner,
        failing: failing.clone(),
        calls: calls.clone(),
    };
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let served = tokio::spawn(serve_with(listener, s.state.clone(), rx, Limits::default()));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Pauses of 10, 20, 40 ... ms up to 1 s: a handful of tries, not a
    // core spinning on EMFILE.
    let tries = calls.load(SeqCst);
    assert!((3..=12).contains(&tries), "{tries} accepts in 1.5 s");
    assert!(counter(&s, "accept_errors_total").abs_diff(tries as u64) <= 1);
    // Descriptors free again: connections are taken within the pause.
    failing.store(false, SeqCst);
    let mut c = Raw(tokio::io::BufReader::new(
        tokio::net::TcpStream::connect(addr).await.unwrap(),
    ));
    let r = tokio::time::timeout(Duration::from_secs(3), c.get("/health", ""))
        .await
        .expect("not served after the descriptors came back");
    assert_eq!(r.status, 503, "served (the chain is not reached in tests)");
    assert!(!served.is_finished());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_answer_is_paged() {
    let s = start(|d| Arc::new(DiskStore::open(d).unwrap())).await;
    let up = ticket(&dev::alice(), TicketOp::Upload, 1);
    s.api.put_roots(1, &up, &s.roots).await.unwrap();
    s.api.put_chunk(1, 6, &up, s.chunk(6)).await.unwrap();
    let mut c = Raw::open(&s).await;
    let r = c.get("/v1/contracts/1?from=3", "").await;
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["missing"], serde_json::json!([3, 4, 5, 7]));
    assert_eq!(v["missing_count"], 7);
    assert_eq!(v["next"], serde_json::Value::Null);
    assert_eq!(c.get("/v1/contracts/1?from=x", "").await.status, 400);
    assert_eq!(masp_host::server::STATUS_PAGE, 16_384);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_issued_to_a_receiver_serves_only_that_receiver() {
    let s = start(|d| Arc::new(DiskStore::open(d).unwrap())).await;
    stored(&s).await;
    let (bob, eve) = (dev::bob(), dev::eve());
    // Alice's link for Bob: chunk 0 (and every other).
    let link = sign_ticket(
        &dev::alice(),
        GENESIS,
        TicketOp::Download,
        1,
        0,
        u32::MAX,
        Some(bob.public_key().0),
        Duration::from_secs(600),
    );
    // Copied by Eve: without a claim, or with her own, refused with the
    // reason; neither uses the link up.
    let e = s.api.get_chunk(1, 0, &link).await.unwrap_err();
    let text = e.to_string();
    assert_eq!(status(e), 403);
    assert!(text.contains("issued to another account"), "{text}");
    let eves = sign_claim(&eve, GENESIS, &link);
    let e = s
        .api
        .get_chunk_claimed(1, 0, &link, &eves, None)
        .await
        .unwrap_err();
    let text = e.to_string();
    assert_eq!(status(e), 403);
    assert!(
        text.contains("not the link's receiver's signature"),
        "{text}"
    );
    // Bob's claim of another link does not open this one.
    let other = sign_ticket(
        &dev::alice(),
        GENESIS,
        TicketOp::Download,
        1,
        0,
        u32::MAX,
        Some(bob.public_key().0),
        Duration::from_secs(600),
    );
    let wrong = sign_claim(&bob, GENESIS, &other);
    assert_eq!(
        status(
            s.api
                .get_chunk_claimed(1, 0, &link, &wrong, None)
                .await
                .unwrap_err()
        ),
        403
    );
    // Bob, signing: served, on the fast path and on hyper's alike.
    let claim = sign_claim(&bob, GENESIS, &link);
    assert_eq!(
        s.api
            .get_chunk_claimed(1, 0, &link, &claim, None)
            .await
            .unwrap(),
        s.chunk(0)
    );
    // Once per chunk, as any link.
    assert_eq!(
        status(
            s.api
                .get_chunk_claimed(1, 0, &link, &claim, None)
                .await
                .unwrap_err()
        ),
        403
    );
    assert_eq!(
        s.api
            .get_chunk_claimed(1, 1, &link, &claim, None)
            .await
            .unwrap(),
        s.chunk(1)
    );
    // The Sender's own links need no claim.
    let own = ticket(&dev::alice(), TicketOp::Download, 1);
    assert_eq!(s.api.get_chunk(1, 2, &own).await.unwrap(), s.chunk(2));
    // Nor does the manifest escape: a link for Bob reads it only with his
    // claim.
    assert_eq!(status(s.api.get_manifest(1, &link).await.unwrap_err()), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_may_upload_and_download_from_any_origin() {
    // The web app's preflight before a PUT of a chunk: allowed, for any
    // origin (tickets in the URL authorize, never cookies).
    let s = start(|d| Arc::new(DiskStore::open(d).unwrap())).await;
    let mut c = Raw::open(&s).await;
    c.send(
        "OPTIONS /v1/contracts/1/chunks/0?ticket=00 HTTP/1.1\r\nHost: h\r\nOrigin: http://127.0.0.1:8080\r\n\
         Access-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: content-type\r\n\r\n",
    )
    .await;
    let r = c.read().await;
    assert_eq!(r.status, 204);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    assert!(r.headers["access-control-allow-methods"].contains("PUT"));
    assert!(r.headers["access-control-allow-headers"].contains("content-type"));
    assert!(r.headers["access-control-allow-headers"].contains("range"));
    // Nothing was stored or changed by it.
    let r = c.get("/v1/contracts/1", "").await;
    assert_eq!(r.headers["access-control-allow-origin"], "*");
}

/// A ticket signed by `who` for `op` on contract `contract`'s chunks
/// `first..=last`, expiring at `expires` (Unix seconds; in the past
/// too).
fn ticket_until(
    who: &Keypair,
    op: TicketOp,
    contract: ContractId,
    (first, last): (u32, u32),
    expires: u64,
) -> masp_primitives::ticket::SignedTicket {
    let ticket = masp_primitives::ticket::Ticket {
        op,
        contract,
        first_chunk: first,
        last_chunk: last,
        receiver: who.public_key().0,
        expires,
        nonce: rand::random(),
    };
    let signature = who.sign(&ticket.signing_payload(&GENESIS)).0;
    masp_primitives::ticket::SignedTicket {
        ticket,
        signer: who.public_key().0,
        signature,
    }
}

/// Download requests (target and extra header lines), each with tickets
/// of its own (signed anew on every call): every kind of refusal, and a
/// few served. Contract 1 is stored whole, 2 is matched but has no data,
/// 3 has ended, 99 is unknown.
fn download_cases() -> Vec<(String, &'static str)> {
    let alice = dev::alice();
    let fresh = |op| ticket(&alice, op, 1).to_hex();
    let now = masp_client::hostapi::unix_now();
    let expired = ticket_until(&alice, TicketOp::Download, 1, (0, u32::MAX), now - 10).to_hex();
    let chunk_5 = ticket_until(&alice, TicketOp::Download, 1, (5, 5), now + 600).to_hex();
    let mut forged = fresh(TicketOp::Download).into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).unwrap();
    let for_bob = sign_ticket(
        &alice,
        GENESIS,
        TicketOp::Download,
        1,
        0,
        u32::MAX,
        Some(dev::bob().public_key().0),
        Duration::from_secs(600),
    )
    .to_hex();
    let eves_own = ticket(&dev::eve(), TicketOp::Receive { listing: 7 }, 1).to_hex();
    let down = || fresh(TicketOp::Download);
    let chunk = |c: u32, i: u32, t: &str| format!("/v1/contracts/{c}/chunks/{i}?ticket={t}");
    let no_listing = "00".repeat(32);
    vec![
        // Tickets.
        ("/v1/contracts/1/chunks/0".into(), ""),
        (chunk(1, 0, "zz"), ""),
        (chunk(1, 0, &forged), ""),
        (chunk(1, 0, &expired), ""),
        (chunk(1, 0, &chunk_5), ""),
        (chunk(1, 0, &fresh(TicketOp::Upload)), ""),
        (chunk(1, 0, &for_bob), ""),
        (format!("{}&claim=zz", chunk(1, 0, &for_bob)), ""),
        (chunk(1, 0, &eves_own), ""),
        // Contracts and chunks.
        (chunk(99, 0, &down()), ""),
        (chunk(3, 0, &down()), ""),
        (chunk(2, 0, &down()), ""),
        (chunk(1, 100, &down()), ""),
        (chunk(99, 0, &down()), "Range: bytes=0-9\r\n"),
        // Ranges.
        (chunk(1, 0, &down()), "Range: bytes=0-1,5-6\r\n"),
        (chunk(1, 0, &down()), "Range: items=0-1\r\n"),
        (chunk(1, 0, &down()), "Range: bytes=9-3\r\n"),
        (chunk(1, 0, &down()), "Range: bytes=\r\n"),
        (chunk(1, 0, &down()), "Range: bytes=99999999-\r\n"),
        (chunk(1, 100, &down()), "Range: bytes=0-9\r\n"),
        (chunk(1, 1, &down()), "Range: bytes=0-\r\n"),
        (
            chunk(1, 2, &down()),
            "Range: bytes=-7\r\nRange: bytes=0-1\r\n",
        ),
        // Served whole; a free host ignores a receipt; a fragment is no
        // part of the query.
        (chunk(1, 3, &down()), ""),
        (format!("{}&receipt=00", chunk(1, 4, &down())), ""),
        (format!("{}#part", chunk(1, 5, &down())), ""),
        // Manifests.
        ("/v1/contracts/1/manifest".into(), ""),
        (format!("/v1/contracts/1/manifest?ticket={}", down()), ""),
        (format!("/v1/contracts/1/manifest?ticket={expired}"), ""),
        (format!("/v1/contracts/1/manifest?ticket={for_bob}"), ""),
        (
            format!(
                "/v1/contracts/2/manifest?ticket={}",
                ticket(&alice, TicketOp::Download, 2).to_hex()
            ),
            "",
        ),
        (format!("/v1/contracts/3/manifest?ticket={}", down()), ""),
        (
            format!(
                "/v1/contracts/1/listing-manifests/{no_listing}?ticket={}",
                down()
            ),
            "",
        ),
        (
            format!("/v1/contracts/1/listing-manifests/{no_listing}"),
            "",
        ),
    ]
}

/// All of an answer but the date's value: status, headers (sorted), body.
type Whole = (u16, Vec<(String, String)>, Vec<u8>);

fn whole(r: Resp) -> Whole {
    let mut headers: Vec<(String, String)> = r
        .headers
        .into_iter()
        .map(|(k, v)| {
            let v = if k == "date" { "(a date)".into() } else { v };
            (k, v)
        })
        .collect();
    headers.sort();
    (r.status, headers, r.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_download_refusal_is_the_same_on_the_fast_path_and_on_hypers() {
    let s = start(|d| Arc::new(DiskStore::open(d).unwrap())).await;
    stored(&s).await;
    let c1 = s.state.store.contract(1).unwrap().unwrap();
    s.state.store.put_contract(2, &c1).unwrap();
    let ended = ContractRecord {
        ended_at: Some(1),
        ..c1
    };
    s.state.store.put_contract(3, &ended).unwrap();
    let mut fast = Raw::open(&s).await;
    let mut slow = Raw::open(&s).await;
    assert_eq!(slow.get("/v1/contracts/1", "").await.status, 200);
    let fast_answers: Vec<Whole> = {
        let mut all = Vec::new();
        for (path, extra) in download_cases() {
            all.push(whole(fast.get(&path, extra).await));
        }
        all
    };
    // Nothing on the first connection left the fast path.
    assert_eq!(counter(&s, "download_disk_reads_total"), 0);
    let mut hyper_answers = Vec::new();
    for (path, extra) in download_cases() {
        hyper_answers.push(whole(slow.get(&path, extra).await));
    }
    assert!(counter(&s, "download_disk_reads_total") > 0);
    let statuses: Vec<u16> = fast_answers.iter().map(|a| a.0).collect();
    assert_eq!(
        statuses,
        [
            401, 400, 401, 403, 403, 403, 403, 403, 503, //
            404, 410, 404, 404, 404, //
            416, 416, 416, 416, 416, 416, 206, 206, //
            200, 200, 200, //
            401, 200, 403, 403, 404, 410, 404, 401,
        ]
    );
    for (i, ((fast, hyper), (path, extra))) in fast_answers
        .iter()
        .zip(&hyper_answers)
        .zip(download_cases())
        .enumerate()
    {
        if fast != hyper {
            let text = |a: &Whole| {
                let body = if a.2.len() > 200 {
                    format!("{} bytes", a.2.len())
                } else {
                    String::from_utf8_lossy(&a.2).into_owned()
                };
                format!("{} {:?} {body:?}", a.0, a.1)
            };
            panic!(
                "case {i}: GET {path} {extra:?}\n fast path: {}\n hyper:     {}",
                text(fast),
                text(hyper)
            );
        }
    }
    let reason = |i: usize| String::from_utf8(fast_answers[i].2.clone()).unwrap();
    assert_eq!(reason(3), "ticket has expired\n");
    assert_eq!(reason(4), "chunk is outside the ticket's range\n");
    assert_eq!(reason(10), "contract 3 has ended\n");
    assert_eq!(reason(11), "chunk 0 is not stored here\n");
    assert_eq!(reason(14), "range not satisfiable\n");
    let header = |i: usize, name: &str| {
        let h = &fast_answers[i].1;
        h.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    };
    assert_eq!(
        header(14, "content-range"),
        Some(format!("bytes */{CHUNK_SIZE}"))
    );
    assert_eq!(header(19, "content-range"), Some("bytes */0".into()));
    assert_eq!(
        header(20, "content-range"),
        Some(format!("bytes 0-{}/{CHUNK_SIZE}", CHUNK_SIZE - 1))
    );
    assert_eq!(fast_answers[21].2, s.chunk(2)[CHUNK_SIZE - 7..]);
    assert_eq!(fast_answers[24].2, s.chunk(5));
    assert_eq!(header(24, "content-range"), None);
    assert_eq!(fast_answers[26].2, b"the sealed manifest");
    assert_eq!(reason(29), "no manifest was uploaded for this contract\n");
}
