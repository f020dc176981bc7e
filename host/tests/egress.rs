//! Paying for downloads (egress receipts), on 127.0.0.1 with a real disk
//! store and a chain double behind [`EgressChain`], driven by the `masp`
//! client's own host API:
//! - a charging host serves a chunk only with a receipt of the ticket's
//!   signer covering everything served, within the channel's allowance;
//!   a refused payment does not spend the ticket;
//! - payments are refused (402, 400, 401) and taken the same on the
//!   sendfile fast path and on hyper's, and a refusal spends nothing on
//!   either;
//! - a free host serves without receipts;
//! - `/v1/egress/0x{payer}` says where the channel stands;
//! - the redeemer redeems the best receipt once; receipts survive a restart.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use futures::future::BoxFuture;
use masp_chain::ChainError;
use masp_client::hostapi::{sign_ticket, HostApi, HostError};
use masp_host::{
    egress::{ChannelView, Egress, EgressChain, EgressLimits, EgressLog, MemEgressLog, Redemption},
    listings::{NoChain, ReceiverGate},
    metrics::Metrics,
    server::{serve_with, AppState, Limits, SystemClock},
    store::{ContractRecord, DiskStore, Store},
    tickets::ReplayGuard,
};
use masp_primitives::{
    egress::{cost, receipt_payload, Service, WireReceipt},
    ticket::{SignedTicket, TicketOp},
};
use masp_proofs::{chunk_root, root_of_chunk_roots, CHUNK_SIZE};
use subxt_signer::sr25519::{self, dev, Keypair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const GENESIS: [u8; 32] = [0x47; 32];
/// The host's account.
const HOST: [u8; 32] = [0x33; 32];
const CHUNKS: usize = 4;
const CHUNK: u64 = CHUNK_SIZE as u64;
/// Alice's channel with the host.
const CHANNEL: u64 = 3;
/// One planck per byte.
const PRICE: u128 = 1 << 30;

/// The chain, as far as egress goes: scripted, and redeeming as the pallet
/// does.
#[derive(Default)]
struct Chain(Mutex<ChainState>);

#[derive(Default)]
struct ChainState {
    price: u128,
    channels: HashMap<[u8; 32], ChannelView>,
    /// What reads of a channel answer instead (a view behind the chain).
    reads: HashMap<[u8; 32], ChannelView>,
    /// Every `redeem` call.
    calls: Vec<Vec<Redemption>>,
}

impl Chain {
    fn with<T>(&self, f: impl FnOnce(&mut ChainState) -> T) -> T {
        f(&mut self.0.lock().unwrap())
    }
}

fn module(error: &str) -> ChainError {
    ChainError::Module {
        pallet: "Egress".into(),
        error: error.into(),
        docs: String::new(),
    }
}

impl EgressChain for Chain {
    fn price(&self) -> BoxFuture<'_, Result<u128, ChainError>> {
        let p = self.with(|s| s.price);
        Box::pin(async move { Ok(p) })
    }

    fn channel(&self, payer: [u8; 32]) -> BoxFuture<'_, Result<Option<ChannelView>, ChainError>> {
        let c = self.with(|s| s.reads.get(&payer).or(s.channels.get(&payer)).copied());
        Box::pin(async move { Ok(c) })
    }

    fn redeem(&self, receipts: Vec<Redemption>) -> BoxFuture<'_, Result<(), ChainError>> {
        let r = self.with(|s| {
            s.calls.push(receipts.clone());
            let mut channels = s.channels.clone();
            for r in &receipts {
                let c = channels
                    .get_mut(&r.payer)
                    .ok_or_else(|| module("UnknownChannel"))?;
                if c.id != r.channel {
                    return Err(module("WrongChannel"));
                }
                if r.bytes <= c.bytes_paid {
                    return Err(module("NothingNew"));
                }
                let payload = receipt_payload(&GENESIS, Service::Egress, c.id, &HOST, r.bytes);
                if !sr25519::verify(
                    &sr25519::Signature(r.signature),
                    payload,
                    &sr25519::PublicKey(r.payer),
                ) {
                    return Err(module("BadSignature"));
                }
                let due = cost(r.bytes, c.price).unwrap() - cost(c.bytes_paid, c.price).unwrap();
                c.held -= due.min(c.held);
                c.bytes_paid = r.bytes;
            }
            s.channels = channels;
            Ok(())
        });
        Box::pin(async move { r })
    }
}

struct Host {
    _dir: tempfile::TempDir,
    api: HostApi,
    addr: std::net::SocketAddr,
    state: Arc<AppState>,
    chain: Arc<Chain>,
    data: Vec<u8>,
    _stop: tokio::sync::watch::Sender<bool>,
}

fn alice() -> [u8; 32] {
    dev::alice().public_key().0
}

/// A host charging `price` keeping Alice's contract 1 (all chunks stored);
/// Alice's channel with it holds `held` planck at one planck per byte.
async fn start(price: u128, held: u128) -> Host {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(DiskStore::open(dir.path()).unwrap());
    let data: Vec<u8> = (0..CHUNKS * CHUNK_SIZE).map(|i| (i % 249) as u8).collect();
    let roots: Vec<[u8; 32]> = data.chunks(CHUNK_SIZE).map(chunk_root).collect();
    store
        .put_contract(
            1,
            &ContractRecord {
                sender: alice(),
                size: data.len() as u64,
                root: root_of_chunk_roots(&mut roots.clone()),
                leaf_count: masp_proofs::leaf_count(data.len() as u64),
                confirmed: true,
                ended_at: None,
                last_proven: None,
            },
        )
        .unwrap();
    store.put_roots(1, &roots).unwrap();
    for (i, c) in data.chunks(CHUNK_SIZE).enumerate() {
        store.put_chunk(1, i as u32, c).unwrap();
    }
    let chain = Arc::new(Chain::default());
    chain.with(|s| {
        s.price = price;
        s.channels.insert(
            alice(),
            ChannelView {
                id: CHANNEL,
                price: PRICE,
                held,
                bytes_paid: 0,
            },
        );
    });
    let egress = Egress::open(
        HOST,
        chain.clone(),
        Arc::new(MemEgressLog::default()),
        price,
        EgressLimits::default(),
    )
    .unwrap();
    let state = Arc::new(AppState {
        store,
        clock: Arc::new(SystemClock),
        replay: ReplayGuard::in_memory(GENESIS),
        receivers: ReceiverGate::new(Arc::new(NoChain)),
        egress: Arc::new(egress),
        metrics: Arc::new(Metrics::new()),
        complete: tokio::sync::Notify::new(),
        best_block: Default::default(),
        chain_seen_at: Default::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(serve_with(listener, state.clone(), rx, Limits::default()));
    Host {
        _dir: dir,
        api: HostApi::new(&format!("http://{addr}")),
        addr,
        state,
        chain,
        data,
        _stop: stop,
    }
}

impl Host {
    fn chunk(&self, i: usize) -> Bytes {
        Bytes::copy_from_slice(&self.data[i * CHUNK_SIZE..(i + 1) * CHUNK_SIZE])
    }

    /// A plain GET on its own connection: status and body.
    async fn get(&self, path: &str) -> (u16, String) {
        self.get_with(path, "").await
    }

    /// [`Host::get`] with more header lines (each ending in CRLF).
    async fn get_with(&self, path: &str, headers: &str) -> (u16, String) {
        let mut c = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nhost: x\r\n{headers}connection: close\r\n\r\n");
        c.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8_lossy(&out).to_string();
        let status = text[9..12].parse().unwrap();
        let body = text.split_once("\r\n\r\n").unwrap().1.to_string();
        (status, body)
    }

    async fn status(&self, payer: &[u8; 32]) -> serde_json::Value {
        let (code, body) = self
            .get(&format!("/v1/egress/0x{}", hex::encode(payer)))
            .await;
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    fn counter(&self, name: &str) -> u64 {
        let text = self.state.metrics.render();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("masp_host_{name} ")))
            .map_or(0, |v| v.parse().unwrap())
    }
}

/// Alice's download ticket for every chunk of contract 1.
fn ticket() -> SignedTicket {
    sign_ticket(
        &dev::alice(),
        GENESIS,
        TicketOp::Download,
        1,
        0,
        u32::MAX,
        None,
        Duration::from_secs(600),
    )
}

/// `who`'s receipt for `bytes` on `channel` with the host.
fn receipt(who: &Keypair, channel: u64, bytes: u64) -> WireReceipt {
    let payload = receipt_payload(&GENESIS, Service::Egress, channel, &HOST, bytes);
    WireReceipt {
        channel,
        bytes,
        signature: who.sign(&payload).0,
    }
}

fn refusal(r: Result<Bytes, HostError>) -> (u16, String) {
    let e = r.expect_err("refused");
    (e.status().map(|s| s.as_u16()).unwrap_or(0), e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_chunk_needs_a_covering_receipt_and_a_refused_payment_spends_no_ticket() {
    let h = start(1_000, 100 * PRICE).await;
    let t = ticket();
    // No receipt: 402 with the reason.
    let (status, text) = refusal(h.api.get_chunk(1, 0, &t).await);
    assert_eq!(status, 402, "{text}");
    assert!(text.contains("a receipt is required"), "{text}");
    // The same ticket then reads with a receipt: the refusal spent nothing.
    let alice = dev::alice();
    let r = receipt(&alice, CHANNEL, CHUNK);
    let got = h.api.get_chunk_paid(1, 0, &t, Some(&r)).await.unwrap();
    assert_eq!(got, h.chunk(0));
    let acc = h.state.egress.account(&alice.public_key().0).unwrap();
    assert_eq!((acc.channel, acc.served, acc.best), (CHANNEL, CHUNK, CHUNK));
    assert_eq!(acc.signature, r.signature);
    // And only once.
    let (status, text) = refusal(h.api.get_chunk_paid(1, 0, &t, Some(&r)).await);
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("already used"), "{text}");
    // A receipt signed by someone else.
    let forged = receipt(&dev::bob(), CHANNEL, 2 * CHUNK);
    let (status, text) = refusal(h.api.get_chunk_paid(1, 1, &t, Some(&forged)).await);
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("not signed by the ticket's signer"), "{text}");
    // One that does not cover what was served and this chunk.
    let short = receipt(&alice, CHANNEL, 2 * CHUNK - 1);
    let (status, text) = refusal(h.api.get_chunk_paid(1, 1, &t, Some(&short)).await);
    assert_eq!(status, 402, "{text}");
    assert!(
        text.contains(&format!("must cover at least {} bytes", 2 * CHUNK)),
        "{text}"
    );
    // A malformed one.
    let (status, body) = h
        .get(&format!(
            "/v1/contracts/1/chunks/1?receipt=abcd&ticket={}",
            t.to_hex()
        ))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("malformed receipt"), "{body}");
    // A range costs its bytes; the ticket still reads chunk 1 (none of the
    // refusals spent it).
    let ranged = receipt(&alice, CHANNEL, CHUNK + 10);
    let (status, body) = h
        .get_with(
            &format!(
                "/v1/contracts/1/chunks/1?receipt={}&ticket={}",
                hex::encode(ranged.to_bytes()),
                t.to_hex()
            ),
            "range: bytes=0-9\r\n",
        )
        .await;
    assert_eq!(status, 206, "{body}");
    let r = receipt(&alice, CHANNEL, 2 * CHUNK + 10);
    let got = h.api.get_chunk_paid(1, 2, &t, Some(&r)).await.unwrap();
    assert_eq!(got, h.chunk(2));
    assert_eq!(h.counter("egress_bytes_charged_total"), 2 * CHUNK + 10);
    // The host says where the channel stands.
    let s = h.status(&alice.public_key().0).await;
    assert_eq!(s["price"], "1000");
    assert_eq!(s["channel"], CHANNEL);
    assert_eq!(s["served"], 2 * CHUNK + 10);
    assert_eq!(s["redeemed"], 0);
    let seen = h.api.egress_status(&alice.public_key().0).await.unwrap();
    assert_eq!((seen.channel, seen.served), (Some(CHANNEL), 2 * CHUNK + 10));
    // Nobody's channel: null; a malformed account: 400.
    let s = h.status(&[9; 32]).await;
    assert_eq!((s["channel"].is_null(), &s["served"]), (true, &0.into()));
    let (status, body) = h.get("/v1/egress/0x1234").await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_allowance_or_a_missing_channel_is_402() {
    // Enough for one chunk and a bit.
    let h = start(1_000, (CHUNK as u128) + 5).await;
    let t = ticket();
    let alice = dev::alice();
    let r = receipt(&alice, CHANNEL, CHUNK);
    h.api.get_chunk_paid(1, 0, &t, Some(&r)).await.unwrap();
    let r = receipt(&alice, CHANNEL, 2 * CHUNK);
    let (status, text) = refusal(h.api.get_chunk_paid(1, 1, &t, Some(&r)).await);
    assert_eq!(status, 402, "{text}");
    assert!(
        text.contains("egress allowance exhausted: top up"),
        "{text}"
    );
    // Topped up: the refusal forgot the channel, the next request sees it.
    h.chain
        .with(|s| s.channels.get_mut(&alice.public_key().0).unwrap().held = 10 * CHUNK as u128);
    let got = h.api.get_chunk_paid(1, 1, &t, Some(&r)).await.unwrap();
    assert_eq!(got, h.chunk(1));
    // A receipt for another channel.
    let other = receipt(&alice, CHANNEL + 1, 3 * CHUNK);
    let (status, text) = refusal(h.api.get_chunk_paid(1, 2, &t, Some(&other)).await);
    assert_eq!(status, 402, "{text}");
    assert!(
        text.contains("no egress channel 4 with this host"),
        "{text}"
    );
    // No channel at all.
    h.chain.with(|s| s.channels.clear());
    let r = receipt(&alice, CHANNEL, 3 * CHUNK);
    let (status, text) = refusal(h.api.get_chunk_paid(1, 2, &t, Some(&r)).await);
    assert_eq!(status, 402, "{text}");
    assert!(
        text.contains("no egress channel with this host: open one"),
        "{text}"
    );
    assert_eq!(h.counter("egress_bytes_charged_total"), 2 * CHUNK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_top_up_is_seen_before_the_host_refuses() {
    // Enough for one chunk; the host keeps that view of the channel.
    let h = start(1_000, CHUNK as u128).await;
    let t = ticket();
    let alice = dev::alice();
    let r = receipt(&alice, CHANNEL, CHUNK);
    h.api.get_chunk_paid(1, 0, &t, Some(&r)).await.unwrap();
    // The payer tops up on chain; the host's kept view is older. The next
    // receipt exceeds the kept allowance but not the chain's: served, on
    // the first try, because the host asks the chain once before refusing.
    h.chain
        .with(|s| s.channels.get_mut(&alice.public_key().0).unwrap().held = 10 * CHUNK as u128);
    let r = receipt(&alice, CHANNEL, 2 * CHUNK);
    let got = h.api.get_chunk_paid(1, 1, &t, Some(&r)).await.unwrap();
    assert_eq!(got, h.chunk(1));
    // A receipt beyond what the chain holds is still refused.
    let r = receipt(&alice, CHANNEL, 11 * CHUNK);
    let (status, text) = refusal(h.api.get_chunk_paid(1, 2, &t, Some(&r)).await);
    assert_eq!(status, 402, "{text}");
    assert!(text.contains("egress allowance exhausted"), "{text}");
    assert_eq!(h.counter("egress_bytes_charged_total"), 2 * CHUNK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_free_host_serves_without_receipts() {
    let h = start(0, 0).await;
    let t = ticket();
    assert_eq!(h.api.get_chunk(1, 0, &t).await.unwrap(), h.chunk(0));
    assert!(h.state.egress.account(&alice()).is_none());
    assert_eq!(h.status(&alice()).await["price"], "0");
    // The redeemer learns a price from the chain, and then charges.
    h.chain.with(|s| s.price = 7);
    assert_eq!(
        h.state
            .egress
            .redeem_once(&h.state.metrics.egress_redeemed_planck)
            .await,
        0
    );
    assert_eq!(h.state.egress.price(), 7);
    let (status, _) = refusal(h.api.get_chunk(1, 1, &t).await);
    assert_eq!(status, 402);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redeemer_redeems_the_best_receipt_once() {
    let h = start(1_000, 100 * PRICE).await;
    let t = ticket();
    let alice = dev::alice();
    // Two requests whose receipts arrive out of order: both served, the
    // best receipt covers both.
    let late = receipt(&alice, CHANNEL, 2 * CHUNK);
    h.api.get_chunk_paid(1, 1, &t, Some(&late)).await.unwrap();
    let early = receipt(&alice, CHANNEL, CHUNK);
    h.api.get_chunk_paid(1, 0, &t, Some(&early)).await.unwrap();
    let acc = h.state.egress.account(&alice.public_key().0).unwrap();
    assert_eq!((acc.served, acc.best), (2 * CHUNK, 2 * CHUNK));
    let egress = &h.state.egress;
    assert_eq!(
        egress
            .redeem_once(&h.state.metrics.egress_redeemed_planck)
            .await,
        1
    );
    let calls = h.chain.with(|s| s.calls.clone());
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0],
        vec![Redemption {
            payer: alice.public_key().0,
            channel: CHANNEL,
            bytes: 2 * CHUNK,
            signature: late.signature,
        }]
    );
    let paid = h.chain.with(|s| s.channels[&alice.public_key().0]);
    assert_eq!(paid.bytes_paid, 2 * CHUNK);
    assert_eq!(
        h.counter("egress_redeemed_planck_total"),
        2 * CHUNK,
        "one planck a byte"
    );
    // Paid: not submitted again.
    assert_eq!(
        egress
            .redeem_once(&h.state.metrics.egress_redeemed_planck)
            .await,
        0
    );
    assert_eq!(h.chain.with(|s| s.calls.len()), 1);
    assert_eq!(h.status(&alice.public_key().0).await["redeemed"], 2 * CHUNK);
    // A channel the chain no longer has: its account goes.
    h.chain.with(|s| s.channels.clear());
    egress
        .redeem_once(&h.state.metrics.egress_redeemed_planck)
        .await;
    assert!(egress.account(&alice.public_key().0).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_the_chain_refuses_is_redeemed_one_by_one() {
    let h = start(1_000, 100 * PRICE).await;
    let t = ticket();
    let alice = dev::alice();
    let r = receipt(&alice, CHANNEL, CHUNK);
    h.api.get_chunk_paid(1, 0, &t, Some(&r)).await.unwrap();
    // Bob's account, for a channel the chain then replaced (the host's
    // reads still show the old one).
    let bob = dev::bob();
    let old = ChannelView {
        id: 9,
        price: PRICE,
        held: 100 * PRICE,
        bytes_paid: 0,
    };
    h.chain.with(|s| {
        s.reads.insert(bob.public_key().0, old);
        s.channels
            .insert(bob.public_key().0, ChannelView { id: 10, ..old });
    });
    let wire = hex::encode(receipt(&bob, 9, CHUNK).to_bytes());
    h.state
        .egress
        .charge(Some(GENESIS), bob.public_key().0, Some(&wire), CHUNK)
        .await
        .unwrap();
    // The batch of both fails; one by one, Alice's is redeemed and Bob's,
    // refused for good, dropped.
    assert_eq!(
        h.state
            .egress
            .redeem_once(&h.state.metrics.egress_redeemed_planck)
            .await,
        1
    );
    let calls = h
        .chain
        .with(|s| s.calls.iter().map(Vec::len).collect::<Vec<_>>());
    assert_eq!(calls, vec![2, 1, 1]);
    assert!(h.state.egress.account(&bob.public_key().0).is_none());
    assert_eq!(
        h.chain
            .with(|s| s.channels[&alice.public_key().0].bytes_paid),
        CHUNK
    );
    assert_eq!(
        h.state
            .egress
            .redeem_once(&h.state.metrics.egress_redeemed_planck)
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_payers_concurrent_requests_do_not_share_headroom() {
    let h = start(1_000, 100 * PRICE).await;
    let wire = hex::encode(receipt(&dev::alice(), CHANNEL, CHUNK).to_bytes());
    let egress = h.state.egress.clone();
    let charge = |e: Arc<Egress>, w: String| async move {
        e.charge(Some(GENESIS), alice(), Some(&w), CHUNK)
            .await
            .is_ok()
    };
    let mut passed = 0;
    for _ in 0..5 {
        let (a, b) = tokio::join!(
            tokio::spawn(charge(egress.clone(), wire.clone())),
            tokio::spawn(charge(egress.clone(), wire.clone()))
        );
        passed += a.unwrap() as usize + b.unwrap() as usize;
    }
    // One receipt for one chunk paid for one chunk, however the requests
    // raced.
    assert_eq!(passed, 1);
    assert_eq!(egress.account(&alice()).unwrap().served, CHUNK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Arc::new(Chain::default());
    chain.with(|s| {
        s.price = 1_000;
        s.channels.insert(
            alice(),
            ChannelView {
                id: CHANNEL,
                price: PRICE,
                held: 100 * PRICE,
                bytes_paid: 0,
            },
        );
    });
    let alice_key = dev::alice();
    let r = receipt(&alice_key, CHANNEL, 3 * CHUNK);
    {
        let disk: Arc<dyn EgressLog> = Arc::new(DiskStore::open(dir.path()).unwrap());
        let e = Egress::open(HOST, chain.clone(), disk, 1_000, EgressLimits::default()).unwrap();
        let wire = hex::encode(r.to_bytes());
        e.charge(Some(GENESIS), alice(), Some(&wire), 3 * CHUNK)
            .await
            .unwrap();
    }
    let disk: Arc<dyn EgressLog> = Arc::new(DiskStore::open(dir.path()).unwrap());
    let e = Egress::open(HOST, chain.clone(), disk, 1_000, EgressLimits::default()).unwrap();
    let acc = e.account(&alice()).expect("kept across the restart");
    assert_eq!(
        (acc.served, acc.best, acc.signature),
        (3 * CHUNK, 3 * CHUNK, r.signature)
    );
    // The next request must cover what was served before the restart.
    let wire = hex::encode(receipt(&alice_key, CHANNEL, 3 * CHUNK + 1).to_bytes());
    let refused = e
        .charge(Some(GENESIS), alice(), Some(&wire), CHUNK)
        .await
        .unwrap_err();
    assert_eq!(refused.0.as_u16(), 402, "{}", refused.1);
    // And the redeemer redeems what was kept.
    assert_eq!(
        e.redeem_once(&Metrics::new().egress_redeemed_planck).await,
        1
    );
    assert_eq!(chain.with(|s| s.channels[&alice()].bytes_paid), 3 * CHUNK);
}

/// A kept-open HTTP/1.1 connection to the host.
struct Conn(tokio::io::BufReader<tokio::net::TcpStream>);

impl Conn {
    async fn open(h: &Host) -> Self {
        Conn(tokio::io::BufReader::new(
            tokio::net::TcpStream::connect(h.addr).await.unwrap(),
        ))
    }

    /// GET `path` with more header lines: status, headers but the date
    /// (sorted, names in lower case), body.
    async fn get(&mut self, path: &str, headers: &str) -> (u16, Vec<String>, Vec<u8>) {
        use tokio::io::AsyncBufReadExt;
        let req = format!("GET {path} HTTP/1.1\r\nhost: x\r\n{headers}\r\n");
        self.0.get_mut().write_all(req.as_bytes()).await.unwrap();
        let mut line = String::new();
        self.0.read_line(&mut line).await.unwrap();
        let status = line[9..12].parse().unwrap();
        let (mut all, mut len) = (Vec::new(), 0);
        loop {
            line.clear();
            self.0.read_line(&mut line).await.unwrap();
            let Some((k, v)) = line.trim_end().split_once(':') else {
                break;
            };
            let (k, v) = (k.to_ascii_lowercase(), v.trim());
            if k == "content-length" {
                len = v.parse().unwrap();
            }
            if k != "date" {
                all.push(format!("{k}: {v}"));
            }
        }
        all.sort();
        let mut body = vec![0; len];
        self.0.read_exact(&mut body).await.unwrap();
        (status, all, body)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_are_refused_and_taken_the_same_on_the_fast_path_and_on_hypers() {
    let h = start(1_000, 100 * PRICE).await;
    let alice = dev::alice();
    // The fast path's connection, and one hyper serves from its first
    // request on.
    let mut conns = [Conn::open(&h).await, Conn::open(&h).await];
    let egress = format!("/v1/egress/0x{}", hex::encode(alice.public_key().0));
    assert_eq!(conns[1].get(&egress, "").await.0, 200);
    let t = ticket().to_hex();
    let url = |i: u32, receipt: Option<&WireReceipt>| match receipt {
        Some(r) => format!(
            "/v1/contracts/1/chunks/{i}?ticket={t}&receipt={}",
            hex::encode(r.to_bytes())
        ),
        None => format!("/v1/contracts/1/chunks/{i}?ticket={t}"),
    };
    let mut served = 0;
    for i in 0..2u32 {
        let (this, that) = (i as usize, 1 - i as usize);
        // Refusals, each asked on both paths in turn: nothing is spent, so
        // the second answer is the first's, word for word.
        let forged = receipt(&dev::bob(), CHANNEL, served + CHUNK);
        let short = receipt(&alice, CHANNEL, served + CHUNK - 1);
        let other_channel = receipt(&alice, CHANNEL + 1, served + CHUNK);
        let refusals = [
            (url(i, None), 402),
            (url(i, Some(&forged)), 401),
            (url(i, Some(&short)), 402),
            (url(i, Some(&other_channel)), 402),
            (format!("{}&receipt=abcd", url(i, None)), 400),
        ];
        for (path, status) in refusals {
            let a = conns[this].get(&path, "").await;
            let b = conns[that].get(&path, "").await;
            assert_eq!(a.0, status, "{path}: {}", String::from_utf8_lossy(&a.2));
            assert_eq!(a, b, "{path}");
        }
        // Paid: served on this path (a range: its bytes), then the link is
        // spent for those bytes on both.
        let paid = receipt(&alice, CHANNEL, served + 10);
        let ranged = "range: bytes=0-9\r\n";
        let (status, _, body) = conns[this].get(&url(i, Some(&paid)), ranged).await;
        assert_eq!((status, &body[..]), (206, &h.chunk(i as usize)[..10]));
        served += 10;
        let again = receipt(&alice, CHANNEL, served + 10);
        for c in [this, that] {
            let (status, _, body) = conns[c].get(&url(i, Some(&again)), ranged).await;
            assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
        }
    }
    assert_eq!(h.counter("egress_bytes_charged_total"), served);
    // The first connection never left the fast path; the second was
    // hyper's from its first request.
    assert_eq!(h.counter("download_disk_reads_total"), 1);
}
