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

/// The Merkle root of one ciphertext chunk (at most `CHUNK_SIZE` bytes).
#[wasm_bindgen]
pub fn chunk_root(cipher: &[u8]) -> Vec<u8> {
    masp_proofs::chunk_root(cipher).to_vec()
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
