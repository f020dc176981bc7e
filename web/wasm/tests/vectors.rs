//! Test vectors of the browser's sealing: computed here natively with the
//! `masp` CLI's code, kept in `vectors.json`, and checked again by the WASM
//! build in JavaScript (`tests/e2e/wasm.test.mjs`): the browser and the CLI
//! must produce the same bytes. `MASP_UPDATE_VECTORS=1` rewrites the file
//! (only when the format changes on purpose).

use masp_cipher::crypto::{self, ShardCipher};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn vectors() -> String {
    let master = [7u8; 32];
    let file_id = [9u8; 16];
    let file_key = crypto::FileCipher::file_key(&master, &file_id);
    let mut cases = Vec::new();
    // A shard of two chunks: one full, one short; and a one-chunk shard of
    // zero bytes.
    for (shard, plains) in [
        (
            0u32,
            vec![pattern(crypto::PLAIN_CHUNK, 1), pattern(1000, 2)],
        ),
        (5u32, vec![Vec::new()]),
    ] {
        let count = plains.len() as u64;
        let c = ShardCipher::new(&file_key, file_id, shard, count);
        let mut roots = Vec::new();
        let mut chunks = Vec::new();
        for (i, p) in plains.iter().enumerate() {
            let mut buf = p.clone();
            c.seal(i as u64, &mut buf);
            let root = masp_proofs::chunk_root(&buf);
            roots.push(root);
            chunks.push(format!(
                "{{\"plain_len\": {}, \"seed\": {}, \"cipher_blake2b\": \"{}\", \"chunk_root\": \"{}\"}}",
                p.len(),
                i + 1,
                hex(&blake2b(&buf)),
                hex(&root)
            ));
        }
        let root = masp_proofs::root_of_chunk_roots(&mut roots.clone());
        cases.push(format!(
            "    {{\"shard\": {shard}, \"count\": {count}, \"shard_key\": \"{}\", \"chunks\": [{}], \"root\": \"{}\"}}",
            hex(&crypto::shard_key(&file_key, shard)),
            chunks.join(", "),
            hex(&root)
        ));
    }
    format!(
        "{{\n  \"master\": \"{}\",\n  \"file_id\": \"{}\",\n  \"file_key\": \"{}\",\n  \"plain_chunk\": {},\n  \"pattern\": \"byte i of chunk n (seed n+1... as listed) is (i * 31 + seed) mod 256\",\n  \"cases\": [\n{}\n  ]\n}}\n",
        hex(&master),
        hex(&file_id),
        hex(&file_key),
        crypto::PLAIN_CHUNK,
        cases.join(",\n")
    )
}

fn blake2b(b: &[u8]) -> [u8; 32] {
    use masp_proofs::Hash;
    // The proofs crate's leaf hash is domain-separated; a plain digest of
    // the whole ciphertext is what the vectors pin.
    let mut h = blake2b_simd::Params::new().hash_length(32).to_state();
    h.update(b);
    let out: Hash = h.finalize().as_bytes().try_into().expect("32 bytes");
    out
}

#[test]
fn the_browser_seals_what_the_cli_seals() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors.json");
    let now = vectors();
    if std::env::var_os("MASP_UPDATE_VECTORS").is_some() {
        std::fs::write(&path, &now).unwrap();
    }
    let kept = std::fs::read_to_string(&path)
        .expect("vectors.json (MASP_UPDATE_VECTORS=1 cargo test -p masp-web-cipher writes it)");
    assert_eq!(
        kept, now,
        "the sealing format changed: if on purpose, MASP_UPDATE_VECTORS=1 rewrites vectors.json"
    );
}

/// A manifest the CLI sealed, and the master key of a phrase: kept in
/// `manifest-vector.json` (sealing is randomized, so the sealed bytes are
/// made once, or again with `MASP_UPDATE_VECTORS=1`); here the CLI's code
/// must open it to the content kept beside it, and
/// `tests/e2e/wasm.test.mjs` checks that the WASM build does too.
#[test]
fn the_browser_opens_the_manifests_the_cli_seals() {
    use masp_format::manifest::{ChunkSealing, KdfParams, Manifest, Replica, Shard};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("manifest-vector.json");
    let master = [7u8; 32];
    let request = 5u64;
    let phrase =
        "  bottom drive obey lake curtain smoke basket hold race lonely fit walk //Ferdie ";
    let public = [0x11u8; 32];
    if std::env::var_os("MASP_UPDATE_VECTORS").is_some() || !path.exists() {
        let size = crypto::PLAIN_CHUNK as u64 + 1000;
        let layout = masp_cipher::erasure::Layout::new(1, 0, size).unwrap();
        let chunk_roots: Vec<[u8; 32]> = (0..layout.shard_chunks(0))
            .map(|i| [i as u8 + 1; 32])
            .collect();
        let m = Manifest {
            version: masp_format::manifest::MANIFEST_VERSION,
            request,
            file_id: [9; 16],
            name: b"notes.txt".to_vec(),
            size,
            master_kdf: KdfParams {
                m_kib: masp_cipher::keys::MASTER_M_KIB,
                t: masp_cipher::keys::MASTER_T,
                p: masp_cipher::keys::MASTER_P,
            },
            created: 1000,
            updated: 2000,
            sealing: ChunkSealing::ShardKeys,
            k: 1,
            m: 0,
            shards: vec![Shard {
                index: 0,
                size: layout.shard_size(0),
                root: masp_proofs::root_of_chunk_roots(&mut chunk_roots.clone()),
                chunk_roots,
            }],
            replicas: vec![Replica {
                contract: 3,
                host: [4; 32],
                last_epoch: 20,
                shard: 0,
            }],
            history: Vec::new(),
        };
        let sealed = masp_cipher::manifest::seal_manifest(&master, request, &m);
        let normalized = masp_cipher::keys::normalize_phrase(phrase);
        let v = serde_json::json!({
            "master": hex(&master),
            "request": request,
            "sealed": hex(&sealed),
            "content": masp_web_cipher::manifest_json(&m, masp_cipher::manifest::Sealing::Bound),
            "phrase": phrase,
            "normalized": normalized,
            "public": hex(&public),
            "master_key": hex(&masp_cipher::keys::master_key(&normalized, &public).unwrap()),
        });
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap() + "\n").unwrap();
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let unhex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let sealed = unhex(v["sealed"].as_str().unwrap());
    let (m, sealing) = masp_cipher::manifest::open_manifest(&master, request, &sealed).unwrap();
    assert_eq!(masp_web_cipher::manifest_json(&m, sealing), v["content"]);
    // Another file's request: refused, as in the CLI.
    assert!(masp_cipher::manifest::open_manifest(&master, request + 1, &sealed).is_err());
    let normalized = masp_cipher::keys::normalize_phrase(v["phrase"].as_str().unwrap());
    assert_eq!(normalized, v["normalized"].as_str().unwrap());
    let public: [u8; 32] = unhex(v["public"].as_str().unwrap()).try_into().unwrap();
    assert_eq!(
        hex(&masp_cipher::keys::master_key(&normalized, &public).unwrap()),
        v["master_key"].as_str().unwrap(),
        "the master key's derivation changed: every stored file would be lost to its owner"
    );
}

/// A ticket made in the browser (its JSON form, signed there) is the one
/// the CLI would send: the same bytes signed, the same wire form.
#[test]
fn the_browser_makes_the_tickets_the_cli_makes() {
    use masp_format::ticket::{SignedTicket, Ticket, TicketOp};
    let genesis = [3u8; 32];
    for (op, json_op) in [
        (TicketOp::Upload, "\"upload\"".to_string()),
        (TicketOp::Download, "\"download\"".to_string()),
        (
            TicketOp::Receive { listing: 77 },
            "{\"receive\":77}".to_string(),
        ),
    ] {
        let t = Ticket {
            op,
            contract: 9_007_199_254_740_991,
            first_chunk: 2,
            last_chunk: u32::MAX,
            receiver: [0xab; 32],
            expires: 1_800_000_000,
            nonce: [0x5c; 16],
        };
        let json = format!(
            "{{\"op\":{json_op},\"contract\":{},\"first_chunk\":2,\"last_chunk\":{},\
             \"receiver\":\"0x{}\",\"expires\":1800000000,\"nonce\":\"{}\"}}",
            t.contract,
            u32::MAX,
            hex(&[0xab; 32]),
            hex(&[0x5c; 16])
        );
        assert_eq!(
            masp_web_cipher::native::ticket_payload(&json, &genesis).unwrap(),
            t.signing_payload(&genesis)
        );
        let signed = SignedTicket {
            ticket: t,
            signer: [0x11; 32],
            signature: [0x22; 64],
        };
        assert_eq!(
            masp_web_cipher::native::ticket_wire(&json, &[0x11; 32], &[0x22; 64]).unwrap(),
            signed.to_hex()
        );
    }
}

/// Stripes split, encoded and rebuilt in the browser are the CLI's: a file
/// split natively into 3+2 shards comes back from any 3 of them, stripe by
/// stripe, through the WASM API; the parity the WASM API computes is the
/// native parity.
#[test]
fn the_browser_splits_and_joins_stripes_as_the_cli_does() {
    let size = 3 * crypto::PLAIN_CHUNK as u64 + 12_345;
    let plain = pattern(size as usize, 9);
    let l = masp_cipher::erasure::Layout::new(3, 2, size).unwrap();
    let shards = l.split(&plain).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&masp_web_cipher::native::shard_layout(3, 2, size).unwrap()).unwrap();
    assert_eq!(json["stripes"], l.stripe_count());
    for t in 0..5 {
        assert_eq!(json["shards"][t]["chunks"], l.shard_chunks(t));
        assert_eq!(json["shards"][t]["size"], l.shard_size(t));
    }
    let mut back = Vec::new();
    for s in 0..l.stripe_count() {
        let lens = masp_web_cipher::native::stripe_lens(3, 2, size, s).unwrap();
        let chunk = |t: usize| {
            let from = (s * crypto::PLAIN_CHUNK as u64) as usize;
            shards[t][from..from + lens[t] as usize].to_vec()
        };
        // Parity from the stripe's plaintext, as the CLI made it.
        let data: Vec<u8> = (0..3).flat_map(chunk).collect();
        let parity = masp_web_cipher::native::stripe_parity(3, 2, size, s, &data).unwrap();
        assert_eq!(parity, [chunk(3), chunk(4)].concat(), "stripe {s}");
        // Shards 0 and 2 lost: 1, 3, 4 give it back (as many of them as
        // the stripe has data chunks: those a short stripe lacks are known
        // zeros).
        let d = (0..3).filter(|&t| lens[t] > 0).count();
        let given: Vec<u32> = [1u32, 3, 4]
            .into_iter()
            .filter(|&t| lens[t as usize] > 0)
            .take(d)
            .collect();
        let chunks: Vec<u8> = given.iter().flat_map(|&t| chunk(t as usize)).collect();
        back.extend(masp_web_cipher::native::stripe_plain(3, 2, size, s, &given, &chunks).unwrap());
    }
    assert_eq!(back, plain);
}

/// A manifest sealed in the browser after a put is one the CLI opens, with
/// the content it was given and a "placed" history entry per replica, as
/// `masp put` records them.
#[test]
fn the_cli_opens_the_manifests_the_browser_seals() {
    use masp_format::manifest::{ChunkSealing, HistoryKind};
    let size = crypto::PLAIN_CHUNK as u64 + 10;
    let l = masp_cipher::erasure::Layout::new(1, 1, size).unwrap();
    let chunk_roots = |seed: u8| -> Vec<[u8; 32]> {
        (0..l.shard_chunks(0))
            .map(|i| [seed + i as u8; 32])
            .collect()
    };
    let roots = |seed: u8| -> Vec<String> { chunk_roots(seed).iter().map(|r| hex(r)).collect() };
    let root = |seed: u8| hex(&masp_proofs::root_of_chunk_roots(&mut chunk_roots(seed)));
    let json = serde_json::json!({
        "request": 12,
        "file_id": hex(&[4; 16]),
        "name": "photo.jpg",
        "size": size,
        "k": 1,
        "m": 1,
        "now": 1_700_000_000u64,
        "shards": [
            {"index": 0, "size": l.shard_size(0), "root": root(10), "chunk_roots": roots(10)},
            {"index": 1, "size": l.shard_size(1), "root": root(20), "chunk_roots": roots(20)},
        ],
        "replicas": [
            {"contract": 30, "host": hex(&[5; 32]), "last_epoch": 99, "shard": 0},
            {"contract": 31, "host": hex(&[6; 32]), "last_epoch": 99, "shard": 1},
        ],
    });
    let master = [8u8; 32];
    let sealed = masp_web_cipher::native::seal_new_manifest(&master, &json.to_string()).unwrap();
    let (m, sealing) = masp_cipher::manifest::open_manifest(&master, 12, &sealed).unwrap();
    assert_eq!(sealing, masp_cipher::manifest::Sealing::Bound);
    assert_eq!(
        (m.request, m.name.as_slice(), m.size),
        (12, &b"photo.jpg"[..], size)
    );
    assert_eq!((m.k, m.m, m.sealing), (1, 1, ChunkSealing::ShardKeys));
    assert_eq!(m.shards[1].chunk_roots[0], [20; 32]);
    assert_eq!(m.replicas.len(), 2);
    assert_eq!(m.replicas[1].host, [6; 32]);
    assert_eq!(m.history.len(), 2);
    assert!(m
        .history
        .iter()
        .all(|h| h.kind == HistoryKind::Placed && h.at == 1_700_000_000));
    // For another file, it does not open.
    assert!(masp_cipher::manifest::open_manifest(&master, 13, &sealed).is_err());
}

/// Bad input from the page changes nothing and says why: a manifest whose
/// chunk roots do not make up its shard's root is not sealed, and chunks
/// of the wrong lengths are not joined.
#[test]
fn the_browser_api_refuses_what_does_not_add_up() {
    use masp_web_cipher::native;
    let size = 1000u64;
    let json = serde_json::json!({
        "request": 1, "file_id": hex(&[4; 16]), "name": "x", "size": size,
        "k": 1, "m": 0, "now": 1,
        "shards": [{"index": 0, "size": size + 16, "root": hex(&[1; 32]), "chunk_roots": [hex(&[2; 32])]}],
        "replicas": [],
    });
    let err = native::seal_new_manifest(&[8; 32], &json.to_string()).unwrap_err();
    assert!(err.contains("Merkle root"), "{err}");
    assert!(native::seal_new_manifest(&[8; 3], "{}").is_err());
    let err = native::stripe_plain(1, 0, size, 0, &[0], &[0u8; 999]).unwrap_err();
    assert!(err.contains("fewer bytes"), "{err}");
    let err = native::stripe_plain(1, 0, size, 0, &[0], &[0u8; 1001]).unwrap_err();
    assert!(err.contains("more bytes"), "{err}");
    let err = native::ticket_payload("{\"op\":\"steal\"}", &[0; 32]).unwrap_err();
    assert!(err.contains("op"), "{err}");
}

/// The Listings page's keys (a Receiver in the browser): the purchase key
/// named in `listings.buy` is the one `masp buy` names (the CLI's
/// `listings::purchase_secret`, the chain's `seal::public_key`); a file key
/// sealed to it as the Sender's `masp agent` seals it opens in the browser
/// and is checked against the listing's commitment; a listing manifest
/// `masp share` sealed opens only with the hash on chain and the file key.
/// Kept in `listing-vector.json` (deterministic: fixed ephemeral key and
/// nonce), which `tests/e2e/wasm.test.mjs` checks against the WASM build.
#[test]
fn the_browser_buys_and_opens_listings_as_the_cli_does() {
    use masp_format::listing::{
        listing_manifest_hash, seal_listing_manifest, ListingManifest, LISTING_MANIFEST_VERSION,
    };
    use masp_format::manifest::{ChunkSealing, Shard};
    use masp_primitives::seal;
    use masp_web_cipher::native;

    let master = [7u8; 32];
    let listing = 42u64;
    let buyer = [0x33u8; 32];
    // The CLI's purchase keys, per listing and per master key.
    for (m, l) in [
        (master, listing),
        (master, 0),
        ([8u8; 32], listing),
        (master, u64::MAX),
    ] {
        let cli = seal::public_key(&masp_client::listings::purchase_secret(&m, l));
        assert_eq!(native::purchase_public_key(&m, l).unwrap(), cli.to_vec());
        assert!(seal::is_canonical(&cli) && !seal::is_weak(&cli));
    }
    let recipient: [u8; 32] = native::purchase_public_key(&master, listing)
        .unwrap()
        .try_into()
        .unwrap();
    // The agent seals the file key to it (client/src/listings.rs,
    // `deliver_listing`); the browser opens it.
    let file_key = masp_cipher::crypto::FileCipher::file_key(&[5; 32], &[9; 16]);
    let commitment = seal::key_commitment(&file_key);
    assert_eq!(
        native::key_commitment(&file_key).unwrap(),
        commitment.to_vec()
    );
    let sealed = seal::seal(
        &file_key,
        &recipient,
        &[0x44; 32],
        &seal::purchase_context(listing, &buyer),
    )
    .unwrap();
    let wire = [&sealed.ephemeral[..], &sealed.ciphertext, &sealed.tag].concat();
    assert_eq!(
        native::open_purchase_key(&master, listing, &buyer, &wire, &commitment).unwrap(),
        file_key.to_vec()
    );
    // Another buyer's, another listing's, another master key's, a key the
    // listing did not commit to, altered bytes: refused, with what to do.
    for err in [
        native::open_purchase_key(&master, listing, &[0x34; 32], &wire, &commitment),
        native::open_purchase_key(&master, listing + 1, &buyer, &wire, &commitment),
        native::open_purchase_key(&[8; 32], listing, &buyer, &wire, &commitment),
        native::open_purchase_key(&master, listing, &buyer, &wire, &[0; 32]),
        native::open_purchase_key(
            &master,
            listing,
            &buyer,
            &{
                let mut w = wire.clone();
                w[40] ^= 1;
                w
            },
            &commitment,
        ),
    ] {
        assert!(err.unwrap_err().contains("masp dispute"));
    }
    assert!(
        native::open_purchase_key(&master, listing, &buyer, &wire[..79], &commitment)
            .unwrap_err()
            .contains("80 bytes")
    );

    // A listing manifest as `masp share` seals it.
    let size = 2 * masp_cipher::crypto::PLAIN_CHUNK as u64 + 777;
    let layout = masp_cipher::erasure::Layout::new(2, 1, size).unwrap();
    let shards: Vec<Shard> = (0..3)
        .map(|t| {
            let chunk_roots: Vec<[u8; 32]> = (0..layout.shard_chunks(t))
                .map(|i| [(10 * t + i as usize) as u8 + 1; 32])
                .collect();
            Shard {
                index: t as u32,
                size: layout.shard_size(t),
                root: masp_proofs::root_of_chunk_roots(&mut chunk_roots.clone()),
                chunk_roots,
            }
        })
        .collect();
    let lm = ListingManifest {
        version: LISTING_MANIFEST_VERSION,
        file_id: [9; 16],
        name: b"film.mkv".to_vec(),
        size,
        sealing: ChunkSealing::ShardKeys,
        k: 2,
        m: 1,
        shards,
    };
    let sealed_lm = seal_listing_manifest(&lm, &file_key, [0x55; 12]);
    let hash = listing_manifest_hash(&sealed_lm);
    let content: serde_json::Value =
        serde_json::from_str(&native::open_listing_manifest(&file_key, &sealed_lm, &hash).unwrap())
            .unwrap();
    assert_eq!(content["file_id"], hex(&lm.file_id));
    assert_eq!(content["name"], "film.mkv");
    assert_eq!(content["size"], size);
    assert_eq!(
        (content["k"].as_u64(), content["m"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(content["sealing"], "ShardKeys");
    for (s, j) in lm.shards.iter().zip(content["shards"].as_array().unwrap()) {
        assert_eq!(j["index"], s.index);
        assert_eq!(j["size"], s.size);
        assert_eq!(j["root"], hex(&s.root));
        let roots: Vec<String> = s.chunk_roots.iter().map(|r| hex(r)).collect();
        assert_eq!(j["chunk_roots"], serde_json::json!(roots));
    }
    // Not the hash on chain; not this file's key; shards that do not add
    // up: refused, saying which.
    assert!(
        native::open_listing_manifest(&file_key, &sealed_lm, &[0; 32])
            .unwrap_err()
            .contains("does not match its hash on chain")
    );
    assert!(native::open_listing_manifest(&[1; 32], &sealed_lm, &hash)
        .unwrap_err()
        .contains("not this file's"));
    let mut broken = lm.clone();
    broken.shards[1].chunk_roots[0] = [0xee; 32];
    let sealed_broken = seal_listing_manifest(&broken, &file_key, [0x55; 12]);
    assert!(native::open_listing_manifest(
        &file_key,
        &sealed_broken,
        &listing_manifest_hash(&sealed_broken)
    )
    .unwrap_err()
    .contains("does not add up"));

    // Kept for the WASM build's check (tests/e2e/wasm.test.mjs).
    let v = serde_json::json!({
        "master": hex(&master),
        "listing": listing,
        "buyer": hex(&buyer),
        "purchase_public_key": hex(&recipient),
        "file_key": hex(&file_key),
        "key_commitment": hex(&commitment),
        "sealed_key": hex(&wire),
        "listing_manifest": hex(&sealed_lm),
        "listing_manifest_hash": hex(&hash),
        "content": content,
    });
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("listing-vector.json");
    let now = serde_json::to_string_pretty(&v).unwrap() + "\n";
    if std::env::var_os("MASP_UPDATE_VECTORS").is_some() || !path.exists() {
        std::fs::write(&path, &now).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        now,
        "the purchase key, sealed key or listing manifest format changed: if on purpose, \
         MASP_UPDATE_VECTORS=1 rewrites listing-vector.json"
    );
}
