//! `masp-proxy` against real sockets on 127.0.0.0/8 and a scripted chain:
//! what a tunnel needs (a registered target, the payer's fresh
//! authorization, an open relay channel), how bytes are counted and paid
//! (credit beyond the best receipt, stall without receipts), and what a
//! hostile client cannot make it do.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::future::BoxFuture;
use masp_chain::ChainError;
use masp_host::{
    egress::{ChannelView, Egress, EgressChain, EgressLimits, MemEgressLog, Redemption},
    relay::{serve, Relay, RelayLimits, TargetSet},
};
use masp_primitives::{
    egress::{receipt_payload, Service, WireReceipt},
    relay::{tunnel_payload, TunnelAuth},
};
use subxt_signer::sr25519::{dev, Keypair};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

const GENESIS: [u8; 32] = [7; 32];
const CREDIT: u64 = 64 << 10;

#[derive(Default)]
struct Chain(Mutex<HashMap<[u8; 32], ChannelView>>);

impl EgressChain for Chain {
    fn price(&self) -> BoxFuture<'_, Result<u128, ChainError>> {
        Box::pin(async { Ok(1_000_000) })
    }

    fn channel(&self, payer: [u8; 32]) -> BoxFuture<'_, Result<Option<ChannelView>, ChainError>> {
        let c = self.0.lock().unwrap().get(&payer).copied();
        Box::pin(async move { Ok(c) })
    }

    fn redeem(&self, _: Vec<Redemption>) -> BoxFuture<'_, Result<(), ChainError>> {
        Box::pin(async { Ok(()) })
    }
}

struct Setup {
    proxy: Keypair,
    chain: Arc<Chain>,
    addr: std::net::SocketAddr,
    target: String,
    relay: Arc<Relay>,
    _stop: tokio::sync::watch::Sender<bool>,
}

/// An echo server on 127.0.0.5 (the "host"), a proxy on 127.0.0.3 that
/// may reach only it; `payer` has a relay channel holding `held`.
async fn setup(payer: &Keypair, held: u128, limits: RelayLimits) -> Setup {
    let echo = TcpListener::bind("127.0.0.5:0").await.unwrap();
    let target = echo.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = echo.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let proxy = dev::dave();
    let chain = Arc::new(Chain::default());
    chain.0.lock().unwrap().insert(
        payer.public_key().0,
        ChannelView {
            id: 9,
            price: 1 << 30,
            held,
            bytes_paid: 0,
        },
    );
    let ledger = Arc::new(
        Egress::open(
            proxy.public_key().0,
            chain.clone(),
            Arc::new(MemEgressLog::default()),
            1 << 30,
            // The chain's answers kept briefly: tests change them.
            EgressLimits {
                channel_for: Duration::from_millis(50),
                missing_for: Duration::from_millis(50),
                ..EgressLimits::default()
            },
        )
        .unwrap()
        .for_service(Service::Relay),
    );
    let relay = Arc::new(Relay::new(
        proxy.public_key().0,
        GENESIS,
        ledger,
        Arc::new(TargetSet::new([format!("http://{target}").as_str()])),
        limits,
    ));
    let listener = TcpListener::bind("127.0.0.3:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(serve(listener, relay.clone(), rx));
    Setup {
        proxy,
        chain,
        addr,
        target,
        relay,
        _stop: stop,
    }
}

fn limits() -> RelayLimits {
    RelayLimits {
        credit_bytes: CREDIT,
        stall_timeout: Duration::from_millis(500),
        allow_private_targets: true,
        ..RelayLimits::default()
    }
}

fn auth(payer: &Keypair, proxy: &Keypair, target: &str) -> String {
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 60;
    let nonce: [u8; 16] = rand::random();
    let payload = tunnel_payload(
        &GENESIS,
        &proxy.public_key().0,
        target.as_bytes(),
        expires,
        &nonce,
    );
    let a = TunnelAuth {
        payer: payer.public_key().0,
        expires,
        nonce,
        signature: payer.sign(&payload).0,
    };
    format!("MASP {}", hex::encode(a.to_bytes()))
}

/// A CONNECT from 127.0.0.2: the status and, on 200, the open stream.
async fn connect(s: &Setup, target: &str, auth: Option<&str>) -> (u16, String, Option<TcpStream>) {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut c = sock.connect(s.addr).await.unwrap();
    let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(a) = auth {
        req.push_str(&format!("Proxy-Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    c.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(c.read(&mut b).await.unwrap(), 1, "closed mid-answer");
        head.push(b[0]);
    }
    let text = String::from_utf8(head).unwrap();
    let status: u16 = text.split(' ').nth(1).unwrap().parse().unwrap();
    if status == 200 {
        return (status, text, Some(c));
    }
    let len: usize = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    c.read_exact(&mut body).await.unwrap();
    (status, String::from_utf8(body).unwrap(), None)
}

async fn post_receipt(s: &Setup, payer: &Keypair, bytes: u64) -> u16 {
    let payload = receipt_payload(&GENESIS, Service::Relay, 9, &s.proxy.public_key().0, bytes);
    let r = WireReceipt {
        channel: 9,
        bytes,
        signature: payer.sign(&payload).0,
    };
    raw_post(s, payer, &hex::encode(r.to_bytes())).await
}

async fn raw_post(s: &Setup, payer: &Keypair, wire: &str) -> u16 {
    raw_post_answer(s, payer, wire).await.0
}

async fn raw_post_answer(s: &Setup, payer: &Keypair, wire: &str) -> (u16, String) {
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let req = format!(
        "POST /v1/relay/0x{}?receipt={wire} HTTP/1.1\r\nHost: p\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        hex::encode(payer.public_key().0)
    );
    c.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).await.unwrap();
    (out.split(' ').nth(1).unwrap().parse().unwrap(), out)
}

#[tokio::test]
async fn a_tunnel_carries_bytes_both_ways_and_counts_them() {
    let payer = dev::ferdie();
    let s = setup(&payer, 1 << 40, limits()).await;
    let (status, _, stream) =
        connect(&s, &s.target, Some(&auth(&payer, &s.proxy, &s.target))).await;
    assert_eq!(status, 200);
    let mut c = stream.unwrap();
    c.write_all(b"ciphertext").await.unwrap();
    let mut back = [0u8; 10];
    c.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"ciphertext");
    drop(c);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(s.relay.metrics.bytes.with_label_values(&["up"]).get(), 10);
    assert_eq!(s.relay.metrics.bytes.with_label_values(&["down"]).get(), 10);
    // A receipt for the 20 bytes is taken and kept.
    assert_eq!(post_receipt(&s, &payer, 20).await, 200);
    assert_eq!(
        s.relay
            .ledger()
            .account(&payer.public_key().0)
            .unwrap()
            .best,
        20
    );
}

#[tokio::test]
async fn never_an_open_proxy() {
    let payer = dev::ferdie();
    let s = setup(&payer, 1 << 40, limits()).await;
    // Anything not registered: refused, whoever signs.
    for target in ["127.0.0.1:22", "127.0.0.5:1", "example.org:443"] {
        let (status, body, _) = connect(&s, target, Some(&auth(&payer, &s.proxy, target))).await;
        assert_eq!(status, 403, "{target}: {body}");
        assert!(body.contains("registered on chain"), "{body}");
    }
    // Registered, but private addresses are refused outside a dev chain.
    let strict = setup(
        &payer,
        1 << 40,
        RelayLimits {
            allow_private_targets: false,
            ..limits()
        },
    )
    .await;
    let (status, body, _) = connect(
        &strict,
        &strict.target,
        Some(&auth(&payer, &strict.proxy, &strict.target)),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("loopback/private"), "{body}");
}

#[tokio::test]
async fn only_the_payers_fresh_authorization_opens_a_tunnel_once() {
    let payer = dev::ferdie();
    let s = setup(&payer, 1 << 40, limits()).await;
    let t = s.target.clone();
    // None.
    assert_eq!(connect(&s, &t, None).await.0, 407);
    // Garbage.
    assert_eq!(connect(&s, &t, Some("MASP 00ff")).await.0, 407);
    // Signed for another proxy, or another target.
    let other = dev::eve();
    assert_eq!(
        connect(&s, &t, Some(&auth(&payer, &other, &t))).await.0,
        407
    );
    assert_eq!(
        connect(&s, &t, Some(&auth(&payer, &s.proxy, "127.0.0.5:1")))
            .await
            .0,
        407
    );
    // Someone else's signature claiming the payer: the payer field is the
    // key checked.
    let mallory = dev::alice();
    let forged = auth(&mallory, &s.proxy, &t);
    let mut bytes = hex::decode(forged.trim_start_matches("MASP ")).unwrap();
    bytes[..32].copy_from_slice(&payer.public_key().0);
    assert_eq!(
        connect(&s, &t, Some(&format!("MASP {}", hex::encode(bytes))))
            .await
            .0,
        407
    );
    // A payer with no relay channel: 402.
    assert_eq!(connect(&s, &t, Some(&forged)).await.0, 402);
    // The real one, once.
    let a = auth(&payer, &s.proxy, &t);
    assert_eq!(connect(&s, &t, Some(&a)).await.0, 200);
    let (status, body, _) = connect(&s, &t, Some(&a)).await;
    assert_eq!(status, 407);
    assert!(body.contains("used already"), "{body}");
}

#[tokio::test]
async fn bytes_beyond_the_credit_wait_for_a_receipt_and_stop_without_one() {
    let payer = dev::ferdie();
    let s = setup(&payer, 1 << 40, limits()).await;
    let (status, _, stream) =
        connect(&s, &s.target, Some(&auth(&payer, &s.proxy, &s.target))).await;
    assert_eq!(status, 200);
    let c = stream.unwrap();
    let (mut r, mut w) = c.into_split();
    // Write 4x the credit while reading the echo; no receipt: the tunnel
    // stops within the credit (and its echo), then closes.
    let writer = tokio::spawn(async move {
        let chunk = vec![1u8; 4096];
        let mut sent = 0u64;
        while sent < 4 * CREDIT {
            if w.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len() as u64;
        }
        sent
    });
    let mut got = 0u64;
    let mut buf = vec![0u8; 65536];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), r.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got += n as u64,
            Err(_) => panic!("the tunnel neither relayed nor closed"),
        }
    }
    let _ = writer.await;
    // Up and down together stay within the credit (plus one read).
    assert!(got <= CREDIT, "echoed {got} bytes on a credit of {CREDIT}");
    assert!(s.relay.metrics.credit_waits.get() >= 1);

    // Uncovered bytes beyond the credit: no new tunnel until a receipt.
    let (status, body, _) = connect(&s, &s.target, Some(&auth(&payer, &s.proxy, &s.target))).await;
    assert_eq!(status, 402, "{body}");
    // With receipts as the bytes flow, it all goes through.
    // What the proxy counted so far for this payer (the stalled tunnel's
    // bytes included).
    let relayed_before = relay_status(&s, &payer).await["relayed"].as_u64().unwrap();
    let mut paid = relayed_before;
    let payload = receipt_payload(&GENESIS, Service::Relay, 9, &s.proxy.public_key().0, paid);
    let r = WireReceipt {
        channel: 9,
        bytes: paid,
        signature: payer.sign(&payload).0,
    };
    let (status, answer) = raw_post_answer(&s, &payer, &hex::encode(r.to_bytes())).await;
    assert_eq!(status, 200, "{answer}");
    let (status, _, stream) =
        connect(&s, &s.target, Some(&auth(&payer, &s.proxy, &s.target))).await;
    assert_eq!(status, 200);
    let mut c = stream.unwrap();

    let chunk = vec![2u8; 16 << 10];
    let mut back = vec![0u8; chunk.len()];
    for _ in 0..(4 * CREDIT / chunk.len() as u64) {
        c.write_all(&chunk).await.unwrap();
        c.read_exact(&mut back).await.unwrap();
        paid += 2 * chunk.len() as u64;
        assert_eq!(post_receipt(&s, &payer, paid).await, 200);
    }
}

#[tokio::test]
async fn a_receipt_beyond_the_allowance_or_not_the_payers_is_refused() {
    let payer = dev::ferdie();
    // Holds what 1000 bytes cost at 1 GiB-price per GiB (1 planck a byte).
    let s = setup(&payer, 1000, limits()).await;
    assert_eq!(post_receipt(&s, &payer, 1000).await, 200);
    assert_eq!(post_receipt(&s, &payer, 1001).await, 402);
    // Signed by another account for the payer's channel.
    let payload = receipt_payload(&GENESIS, Service::Relay, 9, &s.proxy.public_key().0, 500);
    let forged = WireReceipt {
        channel: 9,
        bytes: 500,
        signature: dev::alice().sign(&payload).0,
    };
    assert_eq!(
        raw_post(&s, &payer, &hex::encode(forged.to_bytes())).await,
        401
    );
    // An egress receipt (another service) is worthless here.
    let payload = receipt_payload(&GENESIS, Service::Egress, 9, &s.proxy.public_key().0, 900);
    let egress = WireReceipt {
        channel: 9,
        bytes: 900,
        signature: payer.sign(&payload).0,
    };
    assert_eq!(
        raw_post(&s, &payer, &hex::encode(egress.to_bytes())).await,
        401
    );
    assert_eq!(raw_post(&s, &payer, "zz").await, 400);
    assert_eq!(
        s.relay
            .ledger()
            .account(&payer.public_key().0)
            .unwrap()
            .best,
        1000
    );
}

#[tokio::test]
async fn connections_per_client_are_bounded() {
    let payer = dev::ferdie();
    let s = setup(
        &payer,
        1 << 40,
        RelayLimits {
            max_connections_per_client: 2,
            ..limits()
        },
    )
    .await;
    let t = s.target.clone();
    let (_, _, a) = connect(&s, &t, Some(&auth(&payer, &s.proxy, &t))).await;
    let (_, _, b) = connect(&s, &t, Some(&auth(&payer, &s.proxy, &t))).await;
    assert!(a.is_some() && b.is_some());
    let (status, _, _) = connect(&s, &t, Some(&auth(&payer, &s.proxy, &t))).await;
    assert_eq!(status, 429);
    drop((a, b));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        connect(&s, &t, Some(&auth(&payer, &s.proxy, &t))).await.0,
        200
    );
}

/// Opens (or replaces) `payer`'s relay channel on the scripted chain.
fn open_channel(s: &Setup, payer: &Keypair, id: u64) {
    s.chain.0.lock().unwrap().insert(
        payer.public_key().0,
        ChannelView {
            id,
            price: 1 << 30,
            held: 1 << 40,
            bytes_paid: 0,
        },
    );
}

#[tokio::test]
async fn an_authorization_refused_for_want_of_a_channel_is_not_spent() {
    // Nonces are recorded only for payers with a channel: strangers cannot
    // fill the proxy's memory of them, and a refused tunnel can be asked
    // again with the same authorization once the channel is open.
    let payer = dev::ferdie();
    let s = setup(&payer, 1 << 40, limits()).await;
    let stranger = dev::charlie();
    let a = auth(&stranger, &s.proxy, &s.target);
    assert_eq!(connect(&s, &s.target, Some(&a)).await.0, 402);
    open_channel(&s, &stranger, 11);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(connect(&s, &s.target, Some(&a)).await.0, 200);
    assert_eq!(connect(&s, &s.target, Some(&a)).await.0, 407);
}

#[tokio::test]
async fn a_refused_connect_closes_its_connection() {
    // One refusal per connection: a client cannot pipeline guesses.
    let payer = dev::ferdie();
    let s = setup(&payer, 1 << 40, limits()).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let target = "127.0.0.5:1";
    let a = auth(&payer, &s.proxy, target);
    let req =
        format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: {a}\r\n\r\n");
    // Two requests written at once: only the first is answered.
    c.write_all(format!("{req}{req}").as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), c.read_to_string(&mut out))
        .await
        .expect("the proxy closes the connection after a refusal")
        .unwrap();
    assert_eq!(out.matches("HTTP/1.1 403").count(), 1, "{out}");
}

#[tokio::test]
async fn a_reopened_channel_starts_its_own_count() {
    // Bytes owed on a channel that closed are not held against the payer's
    // next channel (the proxy's meter belongs to a channel).
    let payer = dev::ferdie();
    let s = setup(&payer, 1 << 40, limits()).await;
    let (status, _, stream) =
        connect(&s, &s.target, Some(&auth(&payer, &s.proxy, &s.target))).await;
    assert_eq!(status, 200);
    let mut c = stream.unwrap();
    // Past the credit with no receipt: the tunnel stalls and closes.
    let chunk = vec![3u8; 16 << 10];
    for _ in 0..(2 * CREDIT / chunk.len() as u64) {
        if c.write_all(&chunk).await.is_err() {
            break;
        }
    }
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut sink)).await;
    assert_eq!(
        connect(&s, &s.target, Some(&auth(&payer, &s.proxy, &s.target)))
            .await
            .0,
        402
    );
    open_channel(&s, &payer, 10);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A receipt on the new channel before any tunnel on it: the old
    // channel's count is not taken as the new one's.
    let payload = receipt_payload(&GENESIS, Service::Relay, 10, &s.proxy.public_key().0, 1000);
    let r = WireReceipt {
        channel: 10,
        bytes: 1000,
        signature: payer.sign(&payload).0,
    };
    let (status, answer) = raw_post_answer(&s, &payer, &hex::encode(r.to_bytes())).await;
    assert_eq!(status, 200, "{answer}");
    let st = relay_status(&s, &payer).await;
    assert_eq!(st["channel"], 10);
    assert!(
        st["relayed"].as_u64().unwrap() <= 1000,
        "the old channel's bytes counted on the new one: {st}"
    );
    assert_eq!(
        connect(&s, &s.target, Some(&auth(&payer, &s.proxy, &s.target)))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn tunnels_copying_at_once_stay_within_one_credit() {
    // Each read is reserved against the credit before it is let through:
    // tunnels racing for the last room cannot all pass on it.
    let payer = dev::ferdie();
    let s = setup(&payer, 1 << 40, limits()).await;
    let mut streams = Vec::new();
    for _ in 0..8 {
        let (status, body, stream) =
            connect(&s, &s.target, Some(&auth(&payer, &s.proxy, &s.target))).await;
        assert_eq!(status, 200, "{body}");
        streams.push(stream.unwrap());
    }
    let go = Arc::new(tokio::sync::Barrier::new(streams.len()));
    let mut tasks = Vec::new();
    for c in streams {
        let go = go.clone();
        tasks.push(tokio::spawn(async move {
            let (mut r, mut w) = c.into_split();
            go.wait().await;
            let writer = tokio::spawn(async move {
                let chunk = vec![1u8; 16 << 10];
                for _ in 0..16 {
                    if w.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
                w
            });
            let mut buf = vec![0u8; 64 << 10];
            while let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_secs(5), r.read(&mut buf)).await
            {
                if n == 0 {
                    break;
                }
            }
            drop(writer.await);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let relayed = relay_status(&s, &payer).await["relayed"].as_u64().unwrap();
    assert!(
        relayed <= CREDIT,
        "{relayed} bytes relayed on a credit of {CREDIT} with no receipt"
    );
    assert!(relayed > 0);
}

#[tokio::test]
async fn a_payer_out_of_live_authorizations_is_told_to_wait_not_that_its_authorization_is_bad() {
    let payer = dev::ferdie();
    let s = setup(
        &payer,
        1 << 40,
        RelayLimits {
            nonces_per_payer: 2,
            ..limits()
        },
    )
    .await;
    for _ in 0..2 {
        assert_eq!(
            connect(&s, &s.target, Some(&auth(&payer, &s.proxy, &s.target)))
                .await
                .0,
            200
        );
    }
    let (status, body, _) = connect(&s, &s.target, Some(&auth(&payer, &s.proxy, &s.target))).await;
    assert_eq!(status, 429, "{body}");
}

#[tokio::test]
async fn the_status_counts_what_a_tunnel_carried_both_ways() {
    // What `GET /v1/relay/0x{payer}` reports as relayed (the count a client
    // settles against) is every byte carried, up and down.
    let payer = dev::ferdie();
    let s = setup(&payer, 1 << 40, limits()).await;
    let (status, _, stream) =
        connect(&s, &s.target, Some(&auth(&payer, &s.proxy, &s.target))).await;
    assert_eq!(status, 200);
    let mut c = stream.unwrap();
    c.write_all(&[5u8; 1000]).await.unwrap();
    let mut back = vec![0u8; 1000];
    c.read_exact(&mut back).await.unwrap();
    drop(c);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(relay_status(&s, &payer).await["relayed"], 2000);
}

#[tokio::test]
async fn tls_on_the_same_port_with_the_certificate_its_account_vouches_for() {
    // A client that reaches the proxy through another one speaks TLS to it
    // and accepts only the certificate the proxy's account signed for.
    let payer = dev::ferdie();
    let dir = tempfile::tempdir().unwrap();
    let proxy = dev::dave();
    let tls =
        masp_host::relay::tls::ProxyTls::load_or_create(dir.path(), &proxy, &GENESIS).unwrap();
    let (hash, signature) = (tls.cert_hash, tls.signature);
    let s = setup_tls(&payer, Some(Arc::new(tls))).await;
    // /v1/info publishes the binding, signed by the proxy's account.
    let info = plain_get(&s, "/v1/info").await;
    assert_eq!(info["tls"]["cert"], format!("0x{}", hex::encode(hash)));
    assert_eq!(
        info["tls"]["signature"],
        format!("0x{}", hex::encode(signature))
    );
    let payload =
        masp_primitives::relay::tls_binding_payload(&GENESIS, &proxy.public_key().0, &hash);
    assert!(subxt_signer::sr25519::verify(
        &subxt_signer::sr25519::Signature(signature),
        payload,
        &proxy.public_key()
    ));
    // Over TLS with the pinned certificate: a tunnel, carrying bytes.
    let name = rustls::pki_types::ServerName::try_from("masp-proxy").unwrap();
    let pinned = masp_client::relay::pinned_tls(hash).unwrap();
    let tcp = TcpStream::connect(s.addr).await.unwrap();
    let mut t = tokio_rustls::TlsConnector::from(pinned)
        .connect(name.clone(), tcp)
        .await
        .unwrap();
    let a = auth(&payer, &s.proxy, &s.target);
    t.write_all(
        format!(
            "CONNECT {0} HTTP/1.1\r\nHost: {0}\r\nProxy-Authorization: {a}\r\n\r\n",
            s.target
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        t.read_exact(&mut b).await.unwrap();
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    t.write_all(b"sealed").await.unwrap();
    let mut back = [0u8; 6];
    t.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"sealed");
    // Any other certificate (a proxy on the way standing in): refused.
    let wrong = masp_client::relay::pinned_tls([0u8; 32]).unwrap();
    let tcp = TcpStream::connect(s.addr).await.unwrap();
    assert!(tokio_rustls::TlsConnector::from(wrong)
        .connect(name, tcp)
        .await
        .is_err());
}

async fn setup_tls(payer: &Keypair, tls: Option<Arc<masp_host::relay::tls::ProxyTls>>) -> Setup {
    let mut s = setup(payer, 1 << 40, limits()).await;
    if let Some(tls) = tls {
        // The same proxy again, serving TLS too, on a port of its own.
        let relay = Arc::new(
            Relay::new(
                s.proxy.public_key().0,
                GENESIS,
                s.relay.ledger().clone(),
                Arc::new(TargetSet::new([format!("http://{}", s.target).as_str()])),
                limits(),
            )
            .with_tls(tls),
        );
        let listener = TcpListener::bind("127.0.0.3:0").await.unwrap();
        s.addr = listener.local_addr().unwrap();
        let (stop, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(serve(listener, relay.clone(), rx));
        s.relay = relay;
        s._stop = stop;
    }
    s
}

/// What the proxy says of `payer` (`GET /v1/relay/0x{payer}`).
async fn relay_status(s: &Setup, payer: &Keypair) -> serde_json::Value {
    plain_get(
        s,
        &format!("/v1/relay/0x{}", hex::encode(payer.public_key().0)),
    )
    .await
}

async fn plain_get(s: &Setup, path: &str) -> serde_json::Value {
    let mut h = TcpStream::connect(s.addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n");
    h.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    h.read_to_string(&mut out).await.unwrap();
    serde_json::from_str(out.split("\r\n\r\n").nth(1).unwrap()).unwrap()
}
