//! # masp-web-cipher
//!
//! The web app's WASM module (`wasm-bindgen`): the same sealing and Merkle
//! code as the `masp` command line ([`masp_cipher`], [`masp_proofs`]), so a
//! file sealed in the browser is byte-for-byte what `masp put` would have
//! sent, and `masp get` reads it (and the reverse). Keys and plaintext stay
//! in the browser; only ciphertext and roots leave it.
//!
//! Every function takes and returns byte arrays (`Uint8Array` in
//! JavaScript); a wrong length is a JavaScript error that says which.

use masp_cipher::crypto::{self, FileId, Key, ShardCipher};
use masp_cipher::manifest::Sealing;
use wasm_bindgen::prelude::*;

fn key(b: &[u8], what: &str) -> Result<Key, JsError> {
    b.try_into()
        .map_err(|_| JsError::new(&format!("{what} must be 32 bytes, not {}", b.len())))
}

fn file_id(b: &[u8]) -> Result<FileId, JsError> {
    b.try_into()
        .map_err(|_| JsError::new(&format!("a file id is 16 bytes, not {}", b.len())))
}

/// Chunks of a `size`-byte plaintext (at least one).
#[wasm_bindgen]
pub fn chunk_count(size: u64) -> u64 {
    crypto::chunk_count(size)
}

/// Plaintext bytes in a chunk (the last may be shorter).
#[wasm_bindgen]
pub fn plain_chunk() -> usize {
    crypto::PLAIN_CHUNK
}

/// Ciphertext bytes of a `size`-byte plaintext.
#[wasm_bindgen]
pub fn ciphertext_size(size: u64) -> u64 {
    crypto::ciphertext_size(size)
}

/// The key of file `file_id` under the `master` key.
#[wasm_bindgen]
pub fn file_key(master: &[u8], file_id_bytes: &[u8]) -> Result<Vec<u8>, JsError> {
    Ok(
        crypto::FileCipher::file_key(&key(master, "the master key")?, &file_id(file_id_bytes)?)
            .to_vec(),
    )
}

/// The key of shard `shard` under a file key.
#[wasm_bindgen]
pub fn shard_key(file_key_bytes: &[u8], shard: u32) -> Result<Vec<u8>, JsError> {
    Ok(crypto::shard_key(&key(file_key_bytes, "a file key")?, shard).to_vec())
}

/// Seals chunk `index` of shard `shard` (of `count` chunks) of file
/// `file_id`: the ciphertext (plaintext and 16 bytes of tag).
#[wasm_bindgen]
pub fn seal_shard_chunk(
    file_key_bytes: &[u8],
    file_id_bytes: &[u8],
    shard: u32,
    count: u64,
    index: u64,
    plain: &[u8],
) -> Result<Vec<u8>, JsError> {
    if index >= count {
        return Err(JsError::new(&format!(
            "chunk {index} of a shard of {count} chunks"
        )));
    }
    if plain.len() > crypto::PLAIN_CHUNK {
        return Err(JsError::new(&format!(
            "a chunk holds at most {} bytes of plaintext, not {}",
            crypto::PLAIN_CHUNK,
            plain.len()
        )));
    }
    let c = ShardCipher::new(
        &key(file_key_bytes, "a file key")?,
        file_id(file_id_bytes)?,
        shard,
        count,
    );
    let mut buf = Vec::with_capacity(plain.len() + crypto::TAG_LEN);
    buf.extend_from_slice(plain);
    c.seal(index, &mut buf);
    Ok(buf)
}

/// Opens what [`seal_shard_chunk`] sealed; an error if it was altered.
#[wasm_bindgen]
pub fn open_shard_chunk(
    file_key_bytes: &[u8],
    file_id_bytes: &[u8],
    shard: u32,
    count: u64,
    index: u64,
    sealed: &[u8],
) -> Result<Vec<u8>, JsError> {
    let c = ShardCipher::new(
        &key(file_key_bytes, "a file key")?,
        file_id(file_id_bytes)?,
        shard,
        count,
    );
    let mut buf = sealed.to_vec();
    c.open(index, &mut buf)
        .map_err(|e| JsError::new(&e.to_string()))?;
    Ok(buf)
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd;

/// The Merkle root of one ciphertext chunk (at most `CHUNK_SIZE` bytes):
/// [`masp_proofs::chunk_root`], two hashes at a time on WASM SIMD where
/// the module is built with it (simd.rs).
#[wasm_bindgen]
pub fn chunk_root(cipher: &[u8]) -> Vec<u8> {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let root = simd::chunk_root(cipher);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    let root = masp_proofs::chunk_root(cipher);
    root.to_vec()
}

/// The root over chunk roots (32 bytes each, concatenated, in order): the
/// contract's Merkle root.
#[wasm_bindgen]
pub fn root_of_chunk_roots(roots: &[u8]) -> Result<Vec<u8>, JsError> {
    if roots.is_empty() || !roots.len().is_multiple_of(32) {
        return Err(JsError::new("chunk roots are 32 bytes each, at least one"));
    }
    let mut r: Vec<[u8; 32]> = roots
        .chunks_exact(32)
        .map(|c| c.try_into().expect("chunks of 32"))
        .collect();
    Ok(masp_proofs::root_of_chunk_roots(&mut r).to_vec())
}

/// Leaves of a `size`-byte ciphertext (what the chain's `leaf_count` must be).
#[wasm_bindgen]
pub fn leaf_count(size: u64) -> u64 {
    masp_proofs::leaf_count(size)
}

/// A secret phrase as the master key is derived from it (words joined by
/// single spaces, then a derivation path such as `//Alice`).
#[wasm_bindgen]
pub fn normalize_phrase(phrase: &str) -> String {
    masp_cipher::keys::normalize_phrase(phrase)
}

/// The master key of the account whose public key is `public`, from its
/// normalized phrase ([`normalize_phrase`]): Argon2id, 64 MiB, as the CLI.
#[wasm_bindgen]
pub fn master_key(normalized: &str, public: &[u8]) -> Result<Vec<u8>, JsError> {
    let public: [u8; 32] = public
        .try_into()
        .map_err(|_| JsError::new(&format!("a public key is 32 bytes, not {}", public.len())))?;
    masp_cipher::keys::master_key(normalized, &public)
        .map(|k| k.to_vec())
        .map_err(|e| JsError::new(&e.to_string()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Opens and checks the manifest sealed for file (request) `request` under
/// `master`, as the CLI does; its content as JSON: `request`, `file_id`,
/// `name`, `size`, `sealing` (`"FileKey"` or `"ShardKeys"`), `k`, `m`,
/// `created`, `updated`, `legacy` (sealed before manifests were bound to
/// their file: check it against the chain), `shards` (`index`, `size`,
/// `root`, `chunk_roots`, hex) and `replicas` (`contract`, `host`,
/// `last_epoch`, `shard`). An error says why it cannot be used.
#[wasm_bindgen]
pub fn open_manifest(master: &[u8], request: u64, sealed: &[u8]) -> Result<String, JsError> {
    let (m, sealing) =
        masp_cipher::manifest::open_manifest(&key(master, "the master key")?, request, sealed)
            .map_err(|e| JsError::new(&e.to_string()))?;
    Ok(manifest_json(&m, sealing).to_string())
}

/// The JSON form of a manifest ([`open_manifest`]).
pub fn manifest_json(m: &masp_format::manifest::Manifest, sealing: Sealing) -> serde_json::Value {
    use masp_format::manifest::ChunkSealing;
    serde_json::json!({
        "request": m.request,
        "file_id": hex(&m.file_id),
        "name": String::from_utf8_lossy(&m.name),
        "size": m.size,
        "sealing": match m.sealing {
            ChunkSealing::FileKey => "FileKey",
            ChunkSealing::ShardKeys => "ShardKeys",
        },
        "k": m.k,
        "m": m.m,
        "created": m.created,
        "updated": m.updated,
        "legacy": sealing == Sealing::Legacy,
        "shards": m.shards.iter().map(|s| serde_json::json!({
            "index": s.index,
            "size": s.size,
            "root": hex(&s.root),
            "chunk_roots": s.chunk_roots.iter().map(|r| hex(r)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "replicas": m.replicas.iter().map(|r| serde_json::json!({
            "contract": r.contract,
            "host": hex(&r.host),
            "last_epoch": r.last_epoch,
            "shard": r.shard,
        })).collect::<Vec<_>>(),
    })
}

/// The functions below with `String` errors, for Rust callers and native
/// tests (a `JsError` exists only in a JavaScript engine); the
/// `#[wasm_bindgen]` functions of the same names wrap them.
pub mod native {
    use super::*;

    fn unhex(s: &str, what: &str) -> Result<Vec<u8>, String> {
        let s = s.trim_start_matches("0x");
        if !s.len().is_multiple_of(2) {
            return Err(format!("{what}: an odd number of hex digits"));
        }
        (0..s.len())
            .step_by(2)
            .map(|i| {
                u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16)
                    .map_err(|_| format!("{what}: not hex"))
            })
            .collect()
    }

    /// A ticket from its JSON form: `op` (`"upload"`, `"download"` or
    /// `{"receive": listing}`), `contract`, `first_chunk`, `last_chunk`,
    /// `receiver` (32 bytes, hex), `expires` (Unix seconds), `nonce` (16
    /// bytes, hex).
    fn ticket_of(json: &str) -> Result<masp_format::ticket::Ticket, String> {
        use masp_format::ticket::{Ticket, TicketOp};
        let v: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("ticket: {e}"))?;
        let num = |k: &str| {
            v[k].as_u64()
                .ok_or_else(|| format!("ticket: `{k}` must be a whole number"))
        };
        let bytes = |k: &str, n: usize| -> Result<Vec<u8>, String> {
            let b = unhex(v[k].as_str().unwrap_or(""), k)?;
            if b.len() != n {
                return Err(format!("ticket: `{k}` must be {n} bytes, not {}", b.len()));
            }
            Ok(b)
        };
        let op = match &v["op"] {
            serde_json::Value::String(s) if s == "upload" => TicketOp::Upload,
            serde_json::Value::String(s) if s == "download" => TicketOp::Download,
            o if o["receive"].is_u64() => TicketOp::Receive {
                listing: o["receive"].as_u64().unwrap_or_default(),
            },
            other => return Err(format!("ticket: unknown `op` {other}")),
        };
        let chunk =
            |k: &str| u32::try_from(num(k)?).map_err(|_| format!("ticket: `{k}` exceeds u32"));
        let mut receiver = [0u8; 32];
        receiver.copy_from_slice(&bytes("receiver", 32)?);
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&bytes("nonce", 16)?);
        Ok(Ticket {
            op,
            contract: num("contract")?,
            first_chunk: chunk("first_chunk")?,
            last_chunk: chunk("last_chunk")?,
            receiver,
            expires: num("expires")?,
            nonce,
        })
    }

    /// The bytes a ticket's signer signs (sr25519, with its account key) for
    /// the chain whose genesis hash is `genesis`: the ticket as JSON (see
    /// `ticket_wire`).
    pub fn ticket_payload(ticket: &str, genesis: &[u8]) -> Result<Vec<u8>, String> {
        let genesis: [u8; 32] = genesis
            .try_into()
            .map_err(|_| format!("a genesis hash is 32 bytes, not {}", genesis.len()))?;
        Ok(ticket_of(ticket)?.signing_payload(&genesis))
    }

    /// A signed ticket's wire form (the `ticket` query parameter of a host's
    /// URLs), from the ticket as JSON (`op`: `"upload"`, `"download"` or
    /// `{"receive": listing}`; `contract`, `first_chunk`, `last_chunk`,
    /// `receiver` hex, `expires`, `nonce` hex), its signer's public key and its
    /// signature of [`ticket_payload`].
    pub fn ticket_wire(ticket: &str, signer: &[u8], signature: &[u8]) -> Result<String, String> {
        let signer: [u8; 32] = signer
            .try_into()
            .map_err(|_| format!("a public key is 32 bytes, not {}", signer.len()))?;
        let signature: [u8; 64] = signature
            .try_into()
            .map_err(|_| format!("a signature is 64 bytes, not {}", signature.len()))?;
        Ok(masp_format::ticket::SignedTicket {
            ticket: ticket_of(ticket)?,
            signer,
            signature,
        }
        .to_hex())
    }

    fn layout(k: u32, m: u32, size: u64) -> Result<masp_cipher::erasure::Layout, String> {
        masp_cipher::erasure::Layout::new(k as usize, m as usize, size).map_err(|e| e.to_string())
    }

    /// The shard layout of a `size`-byte file in `k`+`m` shards, as JSON:
    /// `stripes` and, per shard, `chunks` (its chunk count: what its chunks
    /// are sealed with, and what it is fetched as) and `size` (sealed bytes:
    /// the contract's size). Stripe `s` of the file is chunk `s` of every
    /// shard that has one ([`stripe_lens`]).
    pub fn shard_layout(k: u32, m: u32, size: u64) -> Result<String, String> {
        let l = layout(k, m, size)?;
        Ok(serde_json::json!({
            "stripes": l.stripe_count(),
            "shards": (0..l.shards()).map(|t| serde_json::json!({
                "chunks": l.shard_chunks(t),
                "size": l.shard_size(t),
            })).collect::<Vec<_>>(),
        })
        .to_string())
    }

    /// The plaintext length of each shard's chunk of stripe `stripe` (0: that
    /// shard has none there).
    pub fn stripe_lens(k: u32, m: u32, size: u64, stripe: u64) -> Result<Vec<u32>, String> {
        let l = layout(k, m, size)?;
        Ok((0..l.shards())
            .map(|t| l.plain_len(stripe, t) as u32)
            .collect())
    }

    /// The plaintext of stripe `stripe` (its data chunks, in order: the file's
    /// bytes there) from any `k` of its chunks, opened and checked against
    /// their chunk roots first: `chunks` holds them one after the other, each
    /// as long as [`stripe_lens`] says, and `shards` which shard each is.
    pub fn stripe_plain(
        k: u32,
        m: u32,
        size: u64,
        stripe: u64,
        shards: &[u32],
        chunks: &[u8],
    ) -> Result<Vec<u8>, String> {
        let l = layout(k, m, size)?;
        let mut given = Vec::with_capacity(shards.len());
        let mut at = 0usize;
        for &t in shards {
            let len = l.plain_len(stripe, t as usize);
            let chunk = chunks
                .get(at..at + len)
                .ok_or_else(|| "fewer bytes than the chunks' lengths".to_string())?;
            given.push((t as usize, chunk));
            at += len;
        }
        if at != chunks.len() {
            return Err("more bytes than the chunks' lengths".to_string());
        }
        let data = l
            .reconstruct_stripe(stripe, &given)
            .map_err(|e| e.to_string())?;
        Ok(data.concat())
    }

    /// The parity chunks of stripe `stripe` (one after the other, each as long
    /// as [`stripe_lens`] says) from its plaintext (the file's bytes there).
    pub fn stripe_parity(
        k: u32,
        m: u32,
        size: u64,
        stripe: u64,
        plain: &[u8],
    ) -> Result<Vec<u8>, String> {
        let l = layout(k, m, size)?;
        let d = l.stripe_data_chunks(stripe);
        let mut data = Vec::with_capacity(d);
        let mut at = 0usize;
        for j in 0..d {
            let len = l.plain_len(stripe, j);
            data.push(
                plain
                    .get(at..at + len)
                    .ok_or_else(|| "fewer bytes than the stripe holds".to_string())?,
            );
            at += len;
        }
        if at != plain.len() {
            return Err("more bytes than the stripe holds".to_string());
        }
        let parity = l.encode_stripe(stripe, &data).map_err(|e| e.to_string())?;
        Ok(parity.concat())
    }

    /// The sealed manifest of a file just put (what `masp put` seals, so `masp
    /// ls`/`get` read it): from JSON with `request`, `file_id` (hex), `name`,
    /// `size`, `k`, `m`, `now` (Unix seconds: created, updated, and when each
    /// replica was placed), `shards` (`index`, `size`, `root`, `chunk_roots`,
    /// hex) and `replicas` (`contract`, `host` hex, `last_epoch`, `shard`).
    /// Checked as the CLI checks a manifest it opens, before it is sealed.
    pub fn seal_new_manifest(master: &[u8], json: &str) -> Result<Vec<u8>, String> {
        use masp_format::manifest::{
            ChunkSealing, HistoryEntry, HistoryKind, KdfParams, Manifest, Replica, Shard,
            MANIFEST_VERSION,
        };
        let bad = |what: &str| format!("manifest: `{what}` is missing or malformed");
        let v: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("manifest: {e}"))?;
        let num = |v: &serde_json::Value, k: &str| v[k].as_u64().ok_or_else(|| bad(k));
        let small = |v: &serde_json::Value, k: &str| {
            num(v, k).and_then(|n| u32::try_from(n).map_err(|_| bad(k)))
        };
        let fixed = |v: &serde_json::Value, k: &str, n: usize| -> Result<Vec<u8>, String> {
            let b = unhex(v[k].as_str().ok_or_else(|| bad(k))?, k)?;
            if b.len() != n {
                return Err(bad(k));
            }
            Ok(b)
        };
        let hash = |b: Vec<u8>| -> [u8; 32] {
            let mut h = [0u8; 32];
            h.copy_from_slice(&b);
            h
        };
        let mut file_id = [0u8; 16];
        file_id.copy_from_slice(&fixed(&v, "file_id", 16)?);
        let now = num(&v, "now")?;
        let mut shards = Vec::new();
        for s in v["shards"].as_array().ok_or_else(|| bad("shards"))? {
            let mut chunk_roots = Vec::new();
            for r in s["chunk_roots"]
                .as_array()
                .ok_or_else(|| bad("chunk_roots"))?
            {
                let b = unhex(r.as_str().ok_or_else(|| bad("chunk_roots"))?, "chunk_roots")?;
                if b.len() != 32 {
                    return Err(bad("chunk_roots"));
                }
                chunk_roots.push(hash(b));
            }
            shards.push(Shard {
                index: small(s, "index")?,
                size: num(s, "size")?,
                root: hash(fixed(s, "root", 32)?),
                chunk_roots,
            });
        }
        let mut replicas = Vec::new();
        let mut history = Vec::new();
        for r in v["replicas"].as_array().ok_or_else(|| bad("replicas"))? {
            let replica = Replica {
                contract: num(r, "contract")?,
                host: hash(fixed(r, "host", 32)?),
                last_epoch: small(r, "last_epoch")?,
                shard: small(r, "shard")?,
            };
            history.push(HistoryEntry {
                at: now,
                kind: HistoryKind::Placed,
                shard: replica.shard,
                old_contract: None,
                new_contract: Some(replica.contract),
                host: replica.host,
            });
            replicas.push(replica);
        }
        let request = num(&v, "request")?;
        let m = Manifest {
            version: MANIFEST_VERSION,
            request,
            file_id,
            name: v["name"].as_str().unwrap_or_default().as_bytes().to_vec(),
            size: num(&v, "size")?,
            master_kdf: KdfParams {
                m_kib: masp_cipher::keys::MASTER_M_KIB,
                t: masp_cipher::keys::MASTER_T,
                p: masp_cipher::keys::MASTER_P,
            },
            created: now,
            updated: now,
            sealing: ChunkSealing::ShardKeys,
            k: small(&v, "k")?,
            m: small(&v, "m")?,
            shards,
            replicas,
            history,
        };
        masp_cipher::manifest::check_manifest_layout(&m).map_err(|e| e.to_string())?;
        let master: Key = master
            .try_into()
            .map_err(|_| format!("the master key must be 32 bytes, not {}", master.len()))?;
        Ok(masp_cipher::manifest::seal_manifest(&master, request, &m))
    }

    /// What AES-256-GCM binds chunk `index` (of `count`) of shard `shard` of
    /// file `file_id` to: its nonce (12 bytes) then its associated data, so
    /// the browser's own AES-GCM (WebCrypto, in hardware where there is some)
    /// seals with the shard's key ([`shard_key`]) exactly what
    /// [`seal_shard_chunk`] does.
    pub fn shard_chunk_params(
        file_id_bytes: &[u8],
        shard: u32,
        count: u64,
        index: u64,
    ) -> Result<Vec<u8>, String> {
        let f: FileId = file_id_bytes
            .try_into()
            .map_err(|_| format!("a file id is 16 bytes, not {}", file_id_bytes.len()))?;
        let mut out = crypto::nonce(index).to_vec();
        out.extend_from_slice(&crypto::shard_aad(&f, shard, index, count));
        Ok(out)
    }

    // Receivers (the Listings page): the CLI's `masp buy` / `masp get
    // --listing` key handling (client/src/listings.rs).

    fn key32(b: &[u8], what: &str) -> Result<[u8; 32], String> {
        b.try_into()
            .map_err(|_| format!("{what} must be 32 bytes, not {}", b.len()))
    }

    /// The X25519 secret of the purchase of `listing` by the account of
    /// `master`: the CLI's `listings::purchase_secret` (`BLAKE2b(master,
    /// "masp/purchase-key/v1" || listing)`), the same on any machine with
    /// the phrase and distinct per listing. It never leaves this module.
    fn purchase_secret(master: &[u8], listing: u64) -> Result<Key, String> {
        let master = key32(master, "the master key")?;
        Ok(crypto::derive(
            &master,
            &[b"masp/purchase-key/v1", &listing.to_be_bytes()],
        ))
    }

    /// The X25519 public key the account of `master` names when it buys
    /// (or opens) `listing` (`listings.buy`'s `recipient`), as `masp buy`.
    pub fn purchase_public_key(master: &[u8], listing: u64) -> Result<Vec<u8>, String> {
        Ok(crate::seal::public_key(&purchase_secret(master, listing)?).to_vec())
    }

    /// The file key of `listing` delivered to `buyer` (its 32 account
    /// bytes): `sealed` (80 bytes: the chain's `ephemeral`, `ciphertext`
    /// and `tag`, one after the other) opened with the purchase's secret and
    /// checked against the listing's `commitment`, as `masp get --listing`
    /// does; an error that says what to do if it is wrong.
    pub fn open_purchase_key(
        master: &[u8],
        listing: u64,
        buyer: &[u8],
        sealed: &[u8],
        commitment: &[u8],
    ) -> Result<Vec<u8>, String> {
        use crate::seal;
        let buyer = key32(buyer, "an account")?;
        let commitment = key32(commitment, "a key commitment")?;
        if sealed.len() != 80 {
            return Err(format!(
                "a sealed key is 80 bytes (ephemeral key, ciphertext, tag), not {}",
                sealed.len()
            ));
        }
        let mut s = seal::SealedKey {
            ephemeral: [0; 32],
            ciphertext: [0; 32],
            tag: [0; 16],
        };
        s.ephemeral.copy_from_slice(&sealed[..32]);
        s.ciphertext.copy_from_slice(&sealed[32..64]);
        s.tag.copy_from_slice(&sealed[64..]);
        let secret = purchase_secret(master, listing)?;
        match seal::open(&s, &secret, &seal::purchase_context(listing, &buyer)) {
            Some(k) if seal::key_commitment(&k) == commitment => Ok(k.to_vec()),
            _ => Err(format!(
                "the key the Sender delivered for listing {listing} is wrong (it does not open, \
                 or is not the key the listing committed to): `masp dispute {listing}` within \
                 the dispute period refunds you and pays you the listing's deposit"
            )),
        }
    }

    /// What a listing publishes about its file key
    /// (`seal::key_commitment`): a public listing's key is checked
    /// against it.
    pub fn key_commitment(file_key: &[u8]) -> Result<Vec<u8>, String> {
        Ok(crate::seal::key_commitment(&key32(file_key, "a file key")?).to_vec())
    }

    /// A listing manifest as a host served it, checked as `masp get
    /// --listing` checks it: its BLAKE2b-256 must be `hash` (the listing's
    /// `manifest` on chain), it must open under `file_key`, and its shards
    /// must add up. Its content as JSON: `file_id`, `name`, `size`,
    /// `sealing` (`"FileKey"` or `"ShardKeys"`), `k`, `m`, `shards`
    /// (`index`, `size`, `root`, `chunk_roots`, hex).
    pub fn open_listing_manifest(
        file_key: &[u8],
        sealed: &[u8],
        hash: &[u8],
    ) -> Result<String, String> {
        use masp_format::listing;
        use masp_format::manifest::ChunkSealing;
        let file_key = key32(file_key, "a file key")?;
        if listing::listing_manifest_hash(sealed).as_slice() != hash {
            return Err("the listing manifest does not match its hash on chain".into());
        }
        let m = listing::open_listing_manifest(sealed, &file_key).map_err(|e| {
            format!(
                "the listing manifest {e}: the Sender listed a file key that is not this file's"
            )
        })?;
        masp_cipher::manifest::check_shards(m.sealing, m.k, m.m, m.size, &m.shards).map_err(
            |e| {
                format!(
                    "the listing manifest does not add up ({e}): the Sender listed a broken file"
                )
            },
        )?;
        Ok(serde_json::json!({
            "file_id": hex(&m.file_id),
            "name": String::from_utf8_lossy(&m.name),
            "size": m.size,
            "sealing": match m.sealing {
                ChunkSealing::FileKey => "FileKey",
                ChunkSealing::ShardKeys => "ShardKeys",
            },
            "k": m.k,
            "m": m.m,
            "shards": m.shards.iter().map(|s| serde_json::json!({
                "index": s.index,
                "size": s.size,
                "root": hex(&s.root),
                "chunk_roots": s.chunk_roots.iter().map(|r| hex(r)).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
        .to_string())
    }
}

/// The bytes a ticket's signer signs (sr25519, with its account key) for
/// the chain whose genesis hash is `genesis`: the ticket as JSON (see
/// [`ticket_wire`]).
#[wasm_bindgen]
pub fn ticket_payload(ticket: &str, genesis: &[u8]) -> Result<Vec<u8>, JsError> {
    native::ticket_payload(ticket, genesis).map_err(|e| JsError::new(&e))
}

/// A signed ticket's wire form (the `ticket` query parameter of a host's
/// URLs), from the ticket as JSON (`op`: `"upload"`, `"download"` or
/// `{"receive": listing}`; `contract`, `first_chunk`, `last_chunk`,
/// `receiver` hex, `expires`, `nonce` hex), its signer's public key and its
/// signature of [`ticket_payload`].
#[wasm_bindgen]
pub fn ticket_wire(ticket: &str, signer: &[u8], signature: &[u8]) -> Result<String, JsError> {
    native::ticket_wire(ticket, signer, signature).map_err(|e| JsError::new(&e))
}

/// The shard layout of a `size`-byte file in `k`+`m` shards, as JSON:
/// `stripes` and, per shard, `chunks` and `size` (sealed bytes).
#[wasm_bindgen]
pub fn shard_layout(k: u32, m: u32, size: u64) -> Result<String, JsError> {
    native::shard_layout(k, m, size).map_err(|e| JsError::new(&e))
}

/// The plaintext length of each shard's chunk of stripe `stripe` (0: none).
#[wasm_bindgen]
pub fn stripe_lens(k: u32, m: u32, size: u64, stripe: u64) -> Result<Vec<u32>, JsError> {
    native::stripe_lens(k, m, size, stripe).map_err(|e| JsError::new(&e))
}

/// The plaintext of stripe `stripe` from any `k` of its chunks (opened and
/// checked first), one after the other in `chunks`, `shards` saying whose.
#[wasm_bindgen]
pub fn stripe_plain(
    k: u32,
    m: u32,
    size: u64,
    stripe: u64,
    shards: &[u32],
    chunks: &[u8],
) -> Result<Vec<u8>, JsError> {
    native::stripe_plain(k, m, size, stripe, shards, chunks).map_err(|e| JsError::new(&e))
}

/// The parity chunks of stripe `stripe`, one after the other, from its
/// plaintext.
#[wasm_bindgen]
pub fn stripe_parity(
    k: u32,
    m: u32,
    size: u64,
    stripe: u64,
    plain: &[u8],
) -> Result<Vec<u8>, JsError> {
    native::stripe_parity(k, m, size, stripe, plain).map_err(|e| JsError::new(&e))
}

/// The sealed manifest of a file just put, from JSON (see
/// [`native::seal_new_manifest`]).
#[wasm_bindgen]
pub fn seal_new_manifest(master: &[u8], json: &str) -> Result<Vec<u8>, JsError> {
    native::seal_new_manifest(master, json).map_err(|e| JsError::new(&e))
}

/// Chunk `index` (of `count`) of shard `shard` of file `file_id`: its
/// AES-GCM nonce (12 bytes) then its associated data, for WebCrypto.
#[wasm_bindgen]
pub fn shard_chunk_params(
    file_id_bytes: &[u8],
    shard: u32,
    count: u64,
    index: u64,
) -> Result<Vec<u8>, JsError> {
    native::shard_chunk_params(file_id_bytes, shard, count, index).map_err(|e| JsError::new(&e))
}

/// The chain's sealed keys (`masp_primitives::seal`: a file key sealed to a
/// Receiver's X25519 key, ECIES style), compiled from that very source file:
/// `masp-primitives` itself depends on the runtime's Substrate crates
/// (sp-core, sp-io), which do not build for a browser. `tests/vectors.rs`
/// checks it against `masp_primitives::seal` and the CLI's purchase keys.
#[path = "../../../primitives/core/src/seal.rs"]
pub mod seal;

/// The X25519 public key this account names when it buys (or opens)
/// `listing` (`listings.buy`'s `recipient`), derived from its master key
/// exactly as `masp buy` does.
#[wasm_bindgen]
pub fn purchase_public_key(master: &[u8], listing: u64) -> Result<Vec<u8>, JsError> {
    native::purchase_public_key(master, listing).map_err(|e| JsError::new(&e))
}

/// The file key of `listing` delivered to `buyer` (32 account bytes):
/// `sealed` (80 bytes: ephemeral, ciphertext, tag) opened with the
/// purchase's secret and checked against the listing's `commitment`; an
/// error if it is wrong (see [`native::open_purchase_key`]).
#[wasm_bindgen]
pub fn open_purchase_key(
    master: &[u8],
    listing: u64,
    buyer: &[u8],
    sealed: &[u8],
    commitment: &[u8],
) -> Result<Vec<u8>, JsError> {
    native::open_purchase_key(master, listing, buyer, sealed, commitment)
        .map_err(|e| JsError::new(&e))
}

/// `BLAKE2b-256("masp/key-commitment/v1" || file_key)`: what a listing
/// publishes about its key.
#[wasm_bindgen]
pub fn key_commitment(file_key: &[u8]) -> Result<Vec<u8>, JsError> {
    native::key_commitment(file_key).map_err(|e| JsError::new(&e))
}

/// A listing manifest checked against the listing's `hash` on chain,
/// opened with `file_key` and its shards checked; its content as JSON (see
/// [`native::open_listing_manifest`]).
#[wasm_bindgen]
pub fn open_listing_manifest(
    file_key: &[u8],
    sealed: &[u8],
    hash: &[u8],
) -> Result<String, JsError> {
    native::open_listing_manifest(file_key, sealed, hash).map_err(|e| JsError::new(&e))
}
