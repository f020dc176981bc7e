//! Issue 18, items 10 and 11: how `masp` reaches hosts.
//!
//! - Item 11: an `https://` host endpoint works end to end (a local rustls
//!   server whose certificate a test CA signed, trusted through the CA file
//!   `--ca-file` / `MASP_CA_FILE` names); an untrusted certificate is
//!   refused; endpoints on loopback/private/link-local addresses are refused
//!   unless the chain is a development chain.
//! - Item 10: a manifest fetched from a host is checked against the
//!   contract on chain before it is used or kept: another file's manifest,
//!   or an altered one, is a clear error and nothing is cached.
//!
//! `tests/tls/` holds the test CA (`ca.pem`) and the host's certificate
//! (`host.pem`, for `localhost` and `127.0.0.1`, valid until 2126) and key,
//! made with:
//!
//! ```text
//! openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key
//! openssl req -x509 -new -key ca.key -sha256 -days 36500 -subj "/CN=MASP test CA" \
//!   -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign -out ca.pem
//! openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out host.key
//! openssl req -new -key host.key -subj /CN=localhost -out host.csr
//! openssl x509 -req -in host.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 36500 -sha256 \
//!   -extfile <(printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n') -out host.pem
//! ```

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use bytes::Bytes;
use codec::Encode;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use masp_client::{
    crypto,
    hostapi::{is_private, private_address, sign_ticket, HostApi, HostError, HostNet, NetError},
    manifests::{self, ManifestStore, OnChainReplica, Sealing},
    ops,
};
use masp_primitives::{
    manifest::{
        ChunkSealing, KdfParams, Manifest, Replica, Shard, LEGACY_SEALING_CONTEXT, MANIFEST_VERSION,
    },
    ticket::TicketOp,
};
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

fn tls_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tls")
}

/// A fake host: answers `GET`/`PUT` on the paths in `routes` (query
/// ignored), counts the requests it was sent.
#[derive(Clone, Default)]
struct FakeHost {
    routes: Arc<Mutex<HashMap<String, Bytes>>>,
    requests: Arc<AtomicUsize>,
}

impl FakeHost {
    fn set(&self, path: &str, body: impl Into<Bytes>) {
        self.routes
            .lock()
            .unwrap()
            .insert(path.to_string(), body.into());
    }

    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let body = self.routes.lock().unwrap().get(req.uri().path()).cloned();
        match (req.method().as_str(), body) {
            ("PUT", _) => Response::new(Full::new(Bytes::new())),
            ("GET", Some(b)) => Response::new(Full::new(b)),
            _ => Response::builder()
                .status(StatusCode::NOT_FOUND)
                .body(Full::new(Bytes::from_static(b"no such thing")))
                .unwrap(),
        }
    }
}

/// Serves `host` over TLS (the test CA's `localhost` certificate) on a
/// free 127.0.0.1 port.
async fn serve_tls(host: FakeHost) -> SocketAddr {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(tls_dir().join("host.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(tls_dir().join("host.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, host) = (acceptor.clone(), host.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate just hangs up.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req| {
                    let host = host.clone();
                    async move { Ok::<_, std::convert::Infallible>(host.answer(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

fn alice() -> masp_chain::Keypair {
    subxt_signer::sr25519::dev::alice()
}

fn ticket(op: TicketOp) -> masp_primitives::ticket::SignedTicket {
    sign_ticket(
        &alice(),
        [0; 32],
        op,
        7,
        0,
        0,
        None,
        Duration::from_secs(60),
    )
}

const STATUS: &str = r#"{"chunks":1,"roots_uploaded":true,"missing":[],"confirmed":true}"#;

/// Item 11: an `https://` endpoint works end to end when its CA is trusted
/// through the CA file, by name and by IP address.
#[tokio::test]
async fn an_https_host_endpoint_works_end_to_end_with_the_ca_file() {
    let host = FakeHost::default();
    host.set("/v1/contracts/7", STATUS);
    host.set("/v1/contracts/7/chunks/0", vec![5u8; 1000]);
    let addr = serve_tls(host.clone()).await;
    let net = HostNet::new(Some(&tls_dir().join("ca.pem"))).unwrap();
    for endpoint in [
        format!("https://localhost:{}", addr.port()),
        format!("https://127.0.0.1:{}/", addr.port()),
    ] {
        // 127.0.0.1: allowed as on a development chain.
        let api = net.api(&endpoint, true).unwrap();
        let status = api.status(7).await.unwrap();
        assert_eq!(status.chunks, 1);
        assert!(status.confirmed);
        let chunk = api
            .get_chunk(7, 0, &ticket(TicketOp::Download))
            .await
            .unwrap();
        assert_eq!(&chunk[..], &[5u8; 1000][..]);
        api.put_chunk(7, 0, &ticket(TicketOp::Upload), Bytes::from_static(b"x"))
            .await
            .unwrap();
        // A host error still comes back with its status and reason.
        let missing = api.get_chunk(7, 1, &ticket(TicketOp::Download)).await;
        match missing {
            Err(HostError::Status { status, reason, .. }) => {
                assert_eq!(status, StatusCode::NOT_FOUND);
                assert_eq!(reason, "no such thing");
            }
            other => panic!("expected a 404, got {other:?}"),
        }
    }
}

/// Item 11: without the CA the certificate is not trusted, and the error
/// says so; plain HTTP to a TLS port gets no answer either.
#[tokio::test]
async fn an_https_host_with_an_untrusted_certificate_is_refused() {
    let host = FakeHost::default();
    host.set("/v1/contracts/7", STATUS);
    let addr = serve_tls(host.clone()).await;
    let api = HostNet::system()
        .api(&format!("https://localhost:{}", addr.port()), true)
        .unwrap();
    let e = api.status(7).await.unwrap_err().to_string();
    assert!(
        e.contains("certificate") && e.contains("UnknownIssuer"),
        "{e}"
    );
    let plain = HostApi::new(&format!("http://127.0.0.1:{}", addr.port()));
    assert!(plain.status(7).await.is_err());
    assert_eq!(
        host.requests.load(Ordering::SeqCst),
        0,
        "no request was served"
    );
}

/// Item 11: a CA file that cannot be read or holds no certificate is a
/// clear error.
#[test]
fn a_bad_ca_file_is_a_clear_error() {
    let missing = HostNet::new(Some(&tls_dir().join("nothing.pem"))).err();
    assert!(
        matches!(missing, Some(NetError::CaFile { .. })),
        "{missing:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let e = HostNet::new(Some(&empty)).err().unwrap().to_string();
    assert!(e.contains("no PEM certificate"), "{e}");
}

/// Item 11: endpoints on loopback, private or link-local addresses are
/// refused off a development chain: as literals at once, as names when they
/// resolve (before any connection is made).
#[tokio::test]
async fn private_endpoints_are_refused_off_a_dev_chain() {
    let net = HostNet::new(Some(&tls_dir().join("ca.pem"))).unwrap();
    for endpoint in [
        "http://127.0.0.1:9000",
        "https://10.1.2.3",
        "http://172.16.0.9:80",
        "http://192.168.1.10:8080/",
        "http://169.254.169.254",
        "http://100.64.0.1",
        "http://0.0.0.0:9000",
        "http://[::1]:9000",
        "http://[fe80::1]",
        "http://[fd00::5]:80",
        "http://[::ffff:192.168.0.1]",
        "http://[64:ff9b::a00:1]",
    ] {
        let e = net.api(endpoint, false).err();
        assert!(
            matches!(e, Some(NetError::Private { .. })),
            "{endpoint}: {e:?}"
        );
        let text = e.unwrap().to_string();
        assert!(
            text.contains("loopback/private/link-local") && text.contains("development chain"),
            "{text}"
        );
        assert!(
            private_address(endpoint).await.unwrap().is_some(),
            "{endpoint}"
        );
        // On a development chain they are fine.
        net.api(endpoint, true).unwrap();
    }
    for public in [
        "https://8.8.8.8",
        "http://[2001:4860:4860::8888]:80",
        "https://1.1.1.1:8443",
    ] {
        net.api(public, false).unwrap();
        assert_eq!(private_address(public).await.unwrap(), None, "{public}");
    }
    for bad in [
        "ftp://example.com",
        "example.com",
        "http://user@example.com",
        "https://",
    ] {
        assert!(
            matches!(net.api(bad, true), Err(NetError::BadEndpoint { .. })),
            "{bad}"
        );
    }
    assert!(!is_private("203.0.113.7".parse().unwrap()));

    // A name that resolves to loopback: refused by the resolver, before any
    // connection reaches the host.
    let host = FakeHost::default();
    host.set("/v1/contracts/7", STATUS);
    let addr = serve_tls(host.clone()).await;
    let endpoint = format!("https://localhost:{}", addr.port());
    assert!(private_address(&endpoint).await.unwrap().is_some());
    let e = net
        .api(&endpoint, false)
        .unwrap()
        .status(7)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("resolves to") && e.contains("loopback/private/link-local"),
        "{e}"
    );
    assert_eq!(host.requests.load(Ordering::SeqCst), 0);
    // Development chains: `--dev` is "Development", a local testnet "Local".
    assert!(ops::is_dev_chain_type("Development"));
    assert!(ops::is_dev_chain_type("Local"));
    assert!(!ops::is_dev_chain_type("Live"));
    assert!(!ops::is_dev_chain_type(r#"{"Custom":"Development"}"#));
}

const MASTER: crypto::Key = [7; 32];

/// File `request`'s manifest: one 5-byte replica (K=1, M=0) on contract 7.
fn file_manifest(fill: u8, request: u64) -> Manifest {
    let chunk = vec![fill; 21];
    let chunk_root = masp_proofs::chunk_root(&chunk);
    Manifest {
        version: MANIFEST_VERSION,
        request,
        file_id: [fill; 16],
        name: format!("file-{fill}.txt").into_bytes(),
        size: 5,
        master_kdf: KdfParams {
            m_kib: 1,
            t: 1,
            p: 1,
        },
        created: 6,
        updated: 6,
        sealing: ChunkSealing::ShardKeys,
        k: 1,
        m: 0,
        shards: vec![Shard {
            index: 0,
            size: 21,
            root: masp_proofs::root_of_chunk_roots(&mut [chunk_root]),
            chunk_roots: vec![chunk_root],
        }],
        replicas: vec![Replica {
            contract: 7,
            host: [5; 32],
            last_epoch: 9,
            shard: 0,
        }],
        history: Vec::new(),
    }
}

/// Item 10: the client checks a fetched manifest against the contract on
/// chain before caching or using it: a host serving another file's
/// manifest (sealed for that file, or by an older client), or an altered
/// one, gets a clear error and nothing is cached; the right one is cached,
/// sealed for its file.
#[tokio::test]
async fn a_host_serving_another_files_manifest_is_refused_and_nothing_is_cached() {
    let host = FakeHost::default();
    let addr = serve_tls(host.clone()).await;
    let api = HostNet::new(Some(&tls_dir().join("ca.pem")))
        .unwrap()
        .api(&format!("https://localhost:{}", addr.port()), true)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = ManifestStore::new(dir.path().join("manifests"));
    let mine = file_manifest(1, 3);
    let other = file_manifest(2, 4);
    // File 3's contract 7 on chain.
    let on_chain = OnChainReplica {
        request: 3,
        contract: 7,
        size: 21,
        merkle_root: mine.shards[0].root,
        leaf_count: masp_proofs::leaf_count(21),
    };
    let keypair = alice();
    let fetch = || manifests::fetch_manifest(&api, &keypair, [0; 32], &MASTER, &on_chain, &store);
    let path = "/v1/contracts/7/manifest";
    let legacy = |m: &Manifest| {
        crypto::seal_object(
            &manifests::manifest_key(&MASTER),
            LEGACY_SEALING_CONTEXT,
            &m.encode(),
        )
    };

    // Another file's manifest, sealed for that file (request 4).
    host.set(path, manifests::seal_manifest(&MASTER, 4, &other));
    let e = format!("{:#}", fetch().await.unwrap_err());
    assert!(e.contains("another file's manifest"), "{e}");
    assert_eq!(store.load(3), None);
    // Another file's manifest as an older client sealed it (it opens, but
    // its root is not the contract's).
    host.set(path, legacy(&other));
    let e = format!("{:#}", fetch().await.unwrap_err());
    assert!(
        e.contains("Merkle root") && e.contains("not this file's manifest"),
        "{e}"
    );
    assert_eq!(store.load(3), None);
    // Altered in transit or at rest.
    let mut tampered = manifests::seal_manifest(&MASTER, 3, &mine);
    tampered[30] ^= 1;
    host.set(path, tampered);
    let e = format!("{:#}", fetch().await.unwrap_err());
    assert!(e.contains("altered"), "{e}");
    assert_eq!(store.load(3), None);
    assert!(store.files().is_empty(), "nothing was cached");

    // The right one is cached as served...
    let sealed = manifests::seal_manifest(&MASTER, 3, &mine);
    host.set(path, sealed.clone());
    assert_eq!(fetch().await.unwrap(), mine);
    assert_eq!(store.load(3), Some(sealed));
    store.remove(3);
    // ...and an older client's copy of it is cached sealed for its file.
    host.set(path, legacy(&mine));
    assert_eq!(fetch().await.unwrap(), mine);
    let cached = store.load(3).unwrap();
    assert_eq!(
        manifests::open_manifest(&MASTER, 3, &cached).unwrap(),
        (mine, Sealing::Bound)
    );
}

/// Issue 20: a repair's contracts belong to another request than their
/// file. The manifest their hosts keep is sealed for that request and
/// names the file: fetched for such a contract it is checked against it
/// and kept under the file's id. Of two copies the newer (`updated`) is
/// kept: an older copy a host serves never replaces a newer local one.
#[tokio::test]
async fn a_repairs_manifest_is_kept_under_its_file_and_never_replaces_a_newer_copy() {
    let host = FakeHost::default();
    let addr = serve_tls(host.clone()).await;
    let api = HostNet::new(Some(&tls_dir().join("ca.pem")))
        .unwrap()
        .api(&format!("https://localhost:{}", addr.port()), true)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = ManifestStore::new(dir.path().join("manifests"));
    let keypair = alice();
    // File 3, repaired: contract 7 now comes from the repair's request 12.
    let mut repaired = file_manifest(1, 3);
    repaired.updated = 20;
    let on_chain = OnChainReplica {
        request: 12,
        contract: 7,
        size: 21,
        merkle_root: repaired.shards[0].root,
        leaf_count: masp_proofs::leaf_count(21),
    };
    let path = "/v1/contracts/7/manifest";
    host.set(path, manifests::seal_manifest(&MASTER, 12, &repaired));
    let fetched = manifests::fetch_manifest(&api, &keypair, [0; 32], &MASTER, &on_chain, &store)
        .await
        .unwrap();
    assert_eq!(fetched.request, 3);
    assert_eq!(store.load(12), None, "not kept under the repair's request");
    let kept = store.load(3).expect("kept under its file");
    assert_eq!(
        manifests::open_manifest(&MASTER, 3, &kept).unwrap().0,
        repaired
    );

    // An older copy (the file's first manifest, as a host of its put keeps
    // it) is served: it is returned, but the newer copy stays.
    let older = file_manifest(1, 3);
    let first = OnChainReplica {
        request: 3,
        ..on_chain.clone()
    };
    host.set(path, manifests::seal_manifest(&MASTER, 3, &older));
    let fetched = manifests::fetch_manifest(&api, &keypair, [0; 32], &MASTER, &first, &store)
        .await
        .unwrap();
    assert_eq!(fetched.updated, 6);
    let kept = store.load(3).unwrap();
    assert_eq!(
        manifests::open_manifest(&MASTER, 3, &kept)
            .unwrap()
            .0
            .updated,
        20
    );
}
