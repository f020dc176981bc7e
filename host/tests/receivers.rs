//! Receivers reading with their own tickets, on 127.0.0.1 with a real disk
//! store and a chain double behind [`ListingAccess`], driven by the `masp`
//! client's own host API:
//! - a Receiver with access downloads chunks and the listing manifest, and
//!   the chain is asked once for a whole download;
//! - an outsider, a ticket not signed by its receiver, a contract or a
//!   manifest the listing does not name, a listing not on chain, and a
//!   replayed ticket are refused with their reasons;
//! - listing manifests are stored only under their own hash, with the
//!   Sender's upload ticket, at most 16 per contract;
//! - a chain that cannot be asked gives a 503, never a 200, and spends no
//!   link.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicUsize, Ordering::Relaxed},
        Arc, Mutex,
    },
    time::Duration,
};

use bytes::Bytes;
use futures::future::BoxFuture;
use masp_chain::ChainError;
use masp_client::hostapi::{sign_ticket, HostApi, HostError};
use masp_host::{
    listings::{GateLimits, ListingAccess, ListingId, ListingView, ReceiverGate},
    metrics::Metrics,
    server::{serve_with, AppState, Limits, SystemClock},
    store::{ContractRecord, DiskStore, Store, MAX_LISTING_MANIFESTS},
    tickets::ReplayGuard,
};
use masp_primitives::{
    listing::listing_manifest_hash,
    market::ContractId,
    ticket::{SignedTicket, TicketOp},
};
use masp_proofs::{chunk_root, root_of_chunk_roots, CHUNK_SIZE};
use subxt_signer::sr25519::{dev, Keypair};

/// The genesis hash of the chain the test host serves.
const GENESIS: [u8; 32] = [0x47; 32];

/// Chunks of contract 1.
const CHUNKS: usize = 4;

/// The listing of contract 1 (Bob has access), and one of contract 2.
const LISTING: ListingId = 5;
const OTHER_LISTING: ListingId = 6;

/// Listing 5's sealed manifest (the host never opens it).
const SEALED: &[u8] = b"listing 5: sealed listing manifest bytes";

/// The chain, as far as listings go: scripted, and counting questions.
#[derive(Default)]
struct Chain {
    state: Mutex<ChainState>,
    listing_asked: AtomicUsize,
}

#[derive(Default)]
struct ChainState {
    listings: HashMap<ListingId, ListingView>,
    access: HashSet<(ListingId, [u8; 32])>,
    /// The node cannot be reached.
    down: bool,
}

impl Chain {
    fn answer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ChainState) -> T,
    ) -> BoxFuture<'_, Result<T, ChainError>> {
        let s = self.state.lock().unwrap();
        let r = if s.down {
            Err(ChainError::Connect {
                url: "ws://127.0.0.1:9944".into(),
                reason: "connection refused".into(),
            })
        } else {
            Ok(f(&s))
        };
        Box::pin(async move { r })
    }

    fn with(&self, f: impl FnOnce(&mut ChainState)) {
        f(&mut self.state.lock().unwrap())
    }
}

impl ListingAccess for Chain {
    fn listing(&self, id: ListingId) -> BoxFuture<'_, Result<Option<ListingView>, ChainError>> {
        self.listing_asked.fetch_add(1, Relaxed);
        self.answer(|s| s.listings.get(&id).cloned())
    }

    fn has_access(&self, id: ListingId, who: [u8; 32]) -> BoxFuture<'_, Result<bool, ChainError>> {
        self.answer(|s| s.access.contains(&(id, who)))
    }
}

struct Host {
    _dir: tempfile::TempDir,
    api: HostApi,
    state: Arc<AppState>,
    chain: Arc<Chain>,
    data: Vec<u8>,
    _stop: tokio::sync::watch::Sender<bool>,
}

fn record(sender: &Keypair, data: &[u8]) -> ContractRecord {
    let roots: Vec<[u8; 32]> = data.chunks(CHUNK_SIZE).map(chunk_root).collect();
    ContractRecord {
        sender: sender.public_key().0,
        size: data.len() as u64,
        root: root_of_chunk_roots(&mut roots.clone()),
        leaf_count: masp_proofs::leaf_count(data.len() as u64),
        confirmed: true,
        ended_at: None,
        last_proven: None,
    }
}

/// A host keeping Alice's contract 1 (all chunks uploaded, listing 5's
/// manifest stored) and contract 2 (chunk 0 stored); on chain, listing 5
/// names contract 1 and Bob has access to it, listing 6 names contract 2.
async fn start() -> Host {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(DiskStore::open(dir.path()).unwrap());
    let data: Vec<u8> = (0..CHUNKS * CHUNK_SIZE).map(|i| (i % 251) as u8).collect();
    let alice = dev::alice();
    store.put_contract(1, &record(&alice, &data)).unwrap();
    let other = vec![7u8; CHUNK_SIZE];
    store.put_contract(2, &record(&alice, &other)).unwrap();
    store.put_chunk(2, 0, &other).unwrap();
    let chain = Arc::new(Chain::default());
    chain.with(|s| {
        for (id, contract) in [(LISTING, 1), (OTHER_LISTING, 2)] {
            s.listings.insert(
                id,
                ListingView {
                    sender: alice.public_key().0,
                    contracts: vec![contract],
                    manifest: listing_manifest_hash(SEALED),
                },
            );
        }
        s.access.insert((LISTING, dev::bob().public_key().0));
    });
    // Refusals are kept briefly; short here so a test sees access granted.
    let limits = GateLimits {
        refused_for: Duration::from_millis(200),
        ..GateLimits::default()
    };
    let state = Arc::new(AppState {
        store,
        clock: Arc::new(SystemClock),
        replay: ReplayGuard::in_memory(GENESIS),
        receivers: ReceiverGate::with_limits(chain.clone(), limits),
        egress: Arc::new(masp_host::egress::Egress::free()),
        metrics: Arc::new(Metrics::new()),
        complete: tokio::sync::Notify::new(),
        best_block: Default::default(),
        chain_seen_at: Default::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(serve_with(listener, state.clone(), rx, Limits::default()));
    let host = Host {
        _dir: dir,
        api: HostApi::new(&format!("http://{addr}")),
        state,
        chain,
        data,
        _stop: stop,
    };
    let up = ticket(&alice, TicketOp::Upload, 1, None);
    let roots: Vec<[u8; 32]> = host.data.chunks(CHUNK_SIZE).map(chunk_root).collect();
    host.api.put_roots(1, &up, &roots).await.unwrap();
    for i in 0..CHUNKS {
        host.api
            .put_chunk(1, i as u32, &up, host.chunk(i))
            .await
            .unwrap();
    }
    host.api
        .put_listing_manifest(1, &listing_manifest_hash(SEALED), &up, SEALED.to_vec())
        .await
        .unwrap();
    host
}

impl Host {
    fn chunk(&self, i: usize) -> Bytes {
        Bytes::copy_from_slice(&self.data[i * CHUNK_SIZE..(i + 1) * CHUNK_SIZE])
    }

    fn served(&self, reader: &str) -> u64 {
        self.state
            .metrics
            .bytes_served
            .with_label_values(&[reader])
            .get()
    }
}

/// A ticket signed by `who` for every chunk of `contract`, naming
/// `receiver` (default: `who`).
fn ticket(
    who: &Keypair,
    op: TicketOp,
    contract: ContractId,
    receiver: Option<&Keypair>,
) -> SignedTicket {
    sign_ticket(
        who,
        GENESIS,
        op,
        contract,
        0,
        u32::MAX,
        receiver.map(|r| r.public_key().0),
        Duration::from_secs(600),
    )
}

/// `who`'s own Receive ticket for `listing` on `contract`.
fn receive(who: &Keypair, listing: ListingId, contract: ContractId) -> SignedTicket {
    ticket(who, TicketOp::Receive { listing }, contract, None)
}

/// The status a refusal came with, and its text.
fn refusal(r: Result<impl std::fmt::Debug, HostError>) -> (u16, String) {
    let e = r.expect_err("refused");
    let text = e.to_string();
    (e.status().map(|s| s.as_u16()).unwrap_or(0), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_with_access_downloads_chunks_and_the_listing_manifest() {
    let h = start().await;
    let hash = listing_manifest_hash(SEALED);
    let bob = receive(&dev::bob(), LISTING, 1);
    let got = h.api.get_listing_manifest(1, &hash, &bob).await.unwrap();
    assert_eq!(&got[..], SEALED);
    // Every chunk at once, as a client does: the chain is asked once.
    let reads: Vec<_> = (0..CHUNKS)
        .map(|i| {
            let (api, t) = (HostApi::new(h.api.endpoint()), bob.clone());
            tokio::spawn(async move { api.get_chunk(1, i as u32, &t).await })
        })
        .collect();
    for (i, r) in reads.into_iter().enumerate() {
        assert_eq!(r.await.unwrap().unwrap(), h.chunk(i), "chunk {i}");
    }
    assert_eq!(h.chain.listing_asked.load(Relaxed), 1);
    // Counted apart from the Sender's downloads.
    assert_eq!(h.served("receiver"), (CHUNKS * CHUNK_SIZE) as u64);
    assert_eq!(h.served("sender"), 0);
    // The Sender reads the listing manifest with a download ticket (no
    // chain needed), and its chunks count as the Sender's.
    let down = ticket(&dev::alice(), TicketOp::Download, 1, None);
    let got = h.api.get_listing_manifest(1, &hash, &down).await.unwrap();
    assert_eq!(&got[..], SEALED);
    assert_eq!(h.api.get_chunk(1, 0, &down).await.unwrap(), h.chunk(0));
    assert_eq!(h.served("sender"), CHUNK_SIZE as u64);
    assert_eq!(h.chain.listing_asked.load(Relaxed), 1);
    // A listing manifest the host does not keep: 404 with a reason.
    let (status, text) = refusal(h.api.get_listing_manifest(1, &[3; 32], &down).await);
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("no listing manifest"), "{text}");
    // A Receiver's ticket does not read the Sender's own manifest.
    let bob2 = receive(&dev::bob(), LISTING, 1);
    assert!(h.api.get_manifest(1, &bob2).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outsider_signing_its_own_receive_ticket_gets_403_with_the_reason() {
    let h = start().await;
    let charlie = dev::charlie();
    let t = receive(&charlie, LISTING, 1);
    let (status, text) = refusal(h.api.get_chunk(1, 0, &t).await);
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("has no access to listing 5 on chain (buy or open it first)"),
        "{text}"
    );
    let hash = listing_manifest_hash(SEALED);
    let (status, text) = refusal(h.api.get_listing_manifest(1, &hash, &t).await);
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("has no access to listing 5"), "{text}");
    assert_eq!(h.served("receiver"), 0);
    // A listing that is not on chain: 404.
    let none = receive(&charlie, 99, 1);
    let (status, text) = refusal(h.api.get_chunk(1, 0, &none).await);
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("no listing 99 on chain"), "{text}");
    // A refusal is not kept long: once Charlie buys, the same ticket
    // reads (its refused reads did not spend it).
    h.chain
        .with(|s| _ = s.access.insert((LISTING, charlie.public_key().0)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.api.get_chunk(1, 0, &t).await.unwrap(), h.chunk(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receive_ticket_signed_by_someone_other_than_its_receiver_is_refused() {
    let h = start().await;
    // Bob has access, and signs a ticket naming Charlie as its receiver.
    let t = ticket(
        &dev::bob(),
        TicketOp::Receive { listing: LISTING },
        1,
        Some(&dev::charlie()),
    );
    let (status, text) = refusal(h.api.get_chunk(1, 0, &t).await);
    assert_eq!(status, 401, "{text}");
    assert!(
        text.contains("a receiver's ticket must be signed by that receiver"),
        "{text}"
    );
    let hash = listing_manifest_hash(SEALED);
    let (status, _) = refusal(h.api.get_listing_manifest(1, &hash, &t).await);
    assert_eq!(status, 401);
    assert_eq!(h.served("receiver"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receive_ticket_for_a_contract_or_manifest_the_listing_does_not_name_is_refused() {
    let h = start().await;
    // Bob may read listing 5 (contract 1), not contract 2 through it.
    let t = receive(&dev::bob(), LISTING, 2);
    let (status, text) = refusal(h.api.get_chunk(2, 0, &t).await);
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("listing 5 does not name contract 2"),
        "{text}"
    );
    // Listing 6 names contract 2, but Bob has no access to it.
    let t6 = receive(&dev::bob(), OTHER_LISTING, 2);
    let (status, text) = refusal(h.api.get_chunk(2, 0, &t6).await);
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("no access to listing 6"), "{text}");
    // A listing manifest kept for contract 1 that listing 5 does not
    // commit to.
    let up = ticket(&dev::alice(), TicketOp::Upload, 1, None);
    let stray = b"another listing's manifest".to_vec();
    let stray_hash = listing_manifest_hash(&stray);
    h.api
        .put_listing_manifest(1, &stray_hash, &up, stray)
        .await
        .unwrap();
    let t = receive(&dev::bob(), LISTING, 1);
    let (status, text) = refusal(h.api.get_listing_manifest(1, &stray_hash, &t).await);
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("commits to manifest"), "{text}");
    // The one it commits to reads with the same ticket.
    let hash = listing_manifest_hash(SEALED);
    assert_eq!(
        &h.api.get_listing_manifest(1, &hash, &t).await.unwrap()[..],
        SEALED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_a_used_receive_ticket_on_the_same_chunk_is_refused() {
    let h = start().await;
    let t = receive(&dev::bob(), LISTING, 1);
    assert_eq!(h.api.get_chunk(1, 2, &t).await.unwrap(), h.chunk(2));
    let (status, text) = refusal(h.api.get_chunk(1, 2, &t).await);
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("already used"), "{text}");
    // Its other chunks, and its listing manifest, once each.
    assert_eq!(h.api.get_chunk(1, 3, &t).await.unwrap(), h.chunk(3));
    let hash = listing_manifest_hash(SEALED);
    h.api.get_listing_manifest(1, &hash, &t).await.unwrap();
    let (status, _) = refusal(h.api.get_listing_manifest(1, &hash, &t).await);
    assert_eq!(status, 403);
    assert_eq!(h.served("receiver"), 2 * CHUNK_SIZE as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_manifest_is_stored_only_under_its_own_hash() {
    let h = start().await;
    let up = ticket(&dev::alice(), TicketOp::Upload, 1, None);
    let body = b"a sealed listing manifest".to_vec();
    let wrong = listing_manifest_hash(b"other bytes");
    let (status, text) = refusal(h.api.put_listing_manifest(1, &wrong, &up, body).await);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("BLAKE2b-256"), "{text}");
    assert_eq!(h.state.store.listing_manifest(1, &wrong).unwrap(), None);
    // Over the contract's manifest bound: 413.
    let big = vec![1u8; masp_host::server::max_manifest(h.data.len() as u64) + 1];
    let (status, _) = refusal(
        h.api
            .put_listing_manifest(1, &listing_manifest_hash(&big), &up, big)
            .await,
    );
    assert_eq!(status, 413);
    assert_eq!(h.state.store.listing_manifests(1).unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_manifest_put_needs_the_senders_upload_ticket() {
    let h = start().await;
    let body = b"a sealed listing manifest".to_vec();
    let hash = listing_manifest_hash(&body);
    // A Receiver's own ticket (Bob has access to the listing).
    let bob = receive(&dev::bob(), LISTING, 1);
    let (status, text) = refusal(
        h.api
            .put_listing_manifest(1, &hash, &bob, body.clone())
            .await,
    );
    assert_eq!(status, 401, "{text}");
    // The Sender's own Receive and Download tickets: not uploads.
    for op in [TicketOp::Receive { listing: LISTING }, TicketOp::Download] {
        let t = ticket(&dev::alice(), op, 1, None);
        let (status, text) = refusal(h.api.put_listing_manifest(1, &hash, &t, body.clone()).await);
        assert_eq!(status, 403, "{op:?}: {text}");
        assert!(text.contains("another operation"), "{text}");
    }
    assert_eq!(h.state.store.listing_manifest(1, &hash).unwrap(), None);
    let up = ticket(&dev::alice(), TicketOp::Upload, 1, None);
    h.api
        .put_listing_manifest(1, &hash, &up, body)
        .await
        .unwrap();
    assert!(h.state.store.listing_manifest(1, &hash).unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seventeenth_listing_manifest_is_refused() {
    let h = start().await;
    let up = ticket(&dev::alice(), TicketOp::Upload, 1, None);
    // One is stored by `start`.
    for i in 1..MAX_LISTING_MANIFESTS {
        let body = format!("listing manifest {i}").into_bytes();
        h.api
            .put_listing_manifest(1, &listing_manifest_hash(&body), &up, body)
            .await
            .unwrap();
    }
    // The same one again: fine (a retry).
    h.api
        .put_listing_manifest(1, &listing_manifest_hash(SEALED), &up, SEALED.to_vec())
        .await
        .unwrap();
    let body = b"listing manifest 17".to_vec();
    let hash = listing_manifest_hash(&body);
    let (status, text) = refusal(h.api.put_listing_manifest(1, &hash, &up, body).await);
    assert_eq!(status, 507, "{text}");
    assert!(text.contains("holds 16 listing manifests"), "{text}");
    assert_eq!(h.state.store.listing_manifest(1, &hash).unwrap(), None);
    assert_eq!(
        h.state.store.listing_manifests(1).unwrap(),
        MAX_LISTING_MANIFESTS
    );
    // Another contract has room of its own.
    let up2 = ticket(&dev::alice(), TicketOp::Upload, 2, None);
    let body = b"listing manifest of contract 2".to_vec();
    h.api
        .put_listing_manifest(2, &listing_manifest_hash(&body), &up2, body)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_chain_gives_503_not_200() {
    let h = start().await;
    h.chain.with(|s| s.down = true);
    let t = receive(&dev::bob(), LISTING, 1);
    let (status, text) = refusal(h.api.get_chunk(1, 0, &t).await);
    assert_eq!(status, 503, "{text}");
    assert!(
        text.contains("cannot ask the chain about listing 5"),
        "{text}"
    );
    let hash = listing_manifest_hash(SEALED);
    let (status, _) = refusal(h.api.get_listing_manifest(1, &hash, &t).await);
    assert_eq!(status, 503);
    assert_eq!(h.served("receiver"), 0);
    // The Sender's downloads do not need the chain.
    let down = ticket(&dev::alice(), TicketOp::Download, 1, None);
    assert_eq!(h.api.get_chunk(1, 0, &down).await.unwrap(), h.chunk(0));
    // Back: the failure was not kept, and the link was not spent.
    h.chain.with(|s| s.down = false);
    assert_eq!(h.api.get_chunk(1, 0, &t).await.unwrap(), h.chunk(0));
    let metrics = h.state.metrics.render();
    assert!(
        metrics.contains("masp_host_receiver_checks_total{result=\"unavailable\"} 2"),
        "{metrics}"
    );
}
