//! The client's encryption format: what hosts store is only this ciphertext.
//!
//! - **Per-file key**: `BLAKE2b-256(key = master key, "masp/file-key/v1" ||
//!   file id)`; the file id is 16 random bytes chosen at `put`, so no two
//!   files (not even two puts of the same file) share a key.
//! - **Chunks**: the plaintext is cut into [`PLAIN_CHUNK`] bytes
//!   (`CHUNK_SIZE - 16`), each sealed with AES-256-GCM, so every ciphertext
//!   chunk but the last is exactly [`masp_proofs::CHUNK_SIZE`] and lines up
//!   with a subtree of the storage-proof Merkle tree. An empty file is one
//!   empty chunk (16 bytes of tag): a contract never stores zero bytes.
//! - **Nonce**: the chunk index, big-endian, in the first 8 of the 12 bytes
//!   (unique per key since the key is unique per file).
//! - **Associated data**: `"masp/chunk/v1" || file id || index || chunk
//!   count`: a chunk moved to another index or file, or a file truncated or
//!   extended by whole chunks, fails authentication.
//!
//! - **Shards** (issue 20, [`ShardCipher`]): a file stored as K+M shards
//!   is cut into the same plaintext chunks, coded into shards (see
//!   [`crate::erasure`]), and chunk `i` of shard `t` is sealed under the
//!   shard key [`shard_key`]`(file key, t)` with nonce `i` and associated
//!   data `"masp/shard/v1" || file id || t || i || the shard's chunk count`.
//!   Every shard is thus its own ciphertext (its own Merkle root), even two
//!   copies of the same plaintext; a Receiver who holds the file key
//!   derives the shard keys. [`FileCipher`]'s format is unchanged: files
//!   stored by older clients open as before.
//!
//! Sealing uses `ring` (AES-NI + CLMUL assembly); tests check every
//! ciphertext against the RustCrypto `aes-gcm` crate as the reference.

use blake2::{digest::Mac, Blake2bMac};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

/// An AES-GCM tag.
pub const TAG_LEN: usize = 16;
/// Plaintext bytes per chunk: a sealed chunk is one storage-proof chunk.
pub const PLAIN_CHUNK: usize = masp_proofs::CHUNK_SIZE - TAG_LEN;
/// A file id: random per `put`.
pub type FileId = [u8; 16];
/// A 256-bit key.
pub type Key = [u8; 32];

/// Why a chunk did not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// Authentication failed: wrong key, tampered or misplaced chunk.
    #[error("chunk {0} failed authentication (wrong passphrase, or the data was altered)")]
    Tampered(u64),
    /// Shorter than a tag.
    #[error("chunk {0} is truncated")]
    Truncated(u64),
}

/// Chunks of a `size`-byte plaintext (at least one).
pub fn chunk_count(size: u64) -> u64 {
    size.div_ceil(PLAIN_CHUNK as u64).max(1)
}

/// Ciphertext bytes of a `size`-byte plaintext (what a contract stores).
pub fn ciphertext_size(size: u64) -> u64 {
    size + chunk_count(size) * TAG_LEN as u64
}

/// Plaintext bytes of chunk `index` of a `size`-byte file.
pub fn plain_len(size: u64, index: u64) -> usize {
    let start = index * PLAIN_CHUNK as u64;
    size.saturating_sub(start).min(PLAIN_CHUNK as u64) as usize
}

/// A keyed BLAKE2b-256 of `parts`: key derivation.
pub fn derive(key: &Key, parts: &[&[u8]]) -> Key {
    let mut mac = <Blake2bMac<blake2::digest::consts::U32> as Mac>::new_from_slice(key)
        .expect("32-byte key fits BLAKE2b");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// The associated data of chunk `index` of `count`.
fn aad(file: &FileId, index: u64, count: u64) -> [u8; 13 + 16 + 16] {
    let mut a = [0u8; 45];
    a[..13].copy_from_slice(b"masp/chunk/v1");
    a[13..29].copy_from_slice(file);
    a[29..37].copy_from_slice(&index.to_be_bytes());
    a[37..45].copy_from_slice(&count.to_be_bytes());
    a
}

/// The AES-GCM nonce of chunk `index`: its index, big-endian, then four
/// zero bytes (each chunk key seals each index once).
pub fn nonce(index: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(&index.to_be_bytes());
    n
}

/// An AES-256-GCM key.
fn aead_key(k: &Key) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, k).expect("a 32-byte key is an AES-256 key"))
}

/// Seals chunk `index` in `buf` (tag appended) with `aad`.
fn seal_chunk(key: &LessSafeKey, index: u64, aad: &[u8], buf: &mut Vec<u8>) {
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce(index)),
            Aad::from(aad),
            buf,
        )
        .expect("a chunk is far below AES-GCM's length limit");
    buf.extend_from_slice(tag.as_ref());
}

/// Opens chunk `index` in `buf` in place with `aad`.
fn open_chunk(
    key: &LessSafeKey,
    index: u64,
    aad: &[u8],
    buf: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    if buf.len() < TAG_LEN {
        return Err(CryptoError::Truncated(index));
    }
    let len = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce(index)),
            Aad::from(aad),
            buf,
        )
        .map_err(|_| CryptoError::Tampered(index))?
        .len();
    buf.truncate(len);
    Ok(())
}

/// One file's sealing key and identity.
pub struct FileCipher {
    key: LessSafeKey,
    file: FileId,
    count: u64,
}

impl FileCipher {
    /// The cipher of file `file` of `size` plaintext bytes under `master`.
    pub fn new(master: &Key, file: FileId, size: u64) -> Self {
        Self::with_file_key(&Self::file_key(master, &file), file, size)
    }

    /// The cipher of file `file` of `size` plaintext bytes under its own
    /// key `k` (what a Receiver of a listing gets; no master key).
    pub fn with_file_key(k: &Key, file: FileId, size: u64) -> Self {
        Self {
            key: aead_key(k),
            file,
            count: chunk_count(size),
        }
    }

    /// The per-file key.
    pub fn file_key(master: &Key, file: &FileId) -> Key {
        derive(master, &[b"masp/file-key/v1", file])
    }

    /// Chunks in the file.
    pub fn chunk_count(&self) -> u64 {
        self.count
    }

    /// Seals chunk `index`: `buf` holds its plaintext and gets the tag
    /// appended (it must have room for [`TAG_LEN`] more bytes to avoid a
    /// reallocation).
    pub fn seal(&self, index: u64, buf: &mut Vec<u8>) {
        seal_chunk(&self.key, index, &aad(&self.file, index, self.count), buf);
    }

    /// Opens chunk `index` in place: on success `buf` holds the plaintext.
    pub fn open(&self, index: u64, buf: &mut Vec<u8>) -> Result<(), CryptoError> {
        open_chunk(&self.key, index, &aad(&self.file, index, self.count), buf)
    }
}

/// The key of shard `shard` of the file whose key is `file_key`.
pub fn shard_key(file_key: &Key, shard: u32) -> Key {
    derive(file_key, &[b"masp/shard-key/v1", &shard.to_be_bytes()])
}

/// The associated data of chunk `index` of `count` of shard `shard`.
pub fn shard_aad(file: &FileId, shard: u32, index: u64, count: u64) -> [u8; 13 + 16 + 4 + 16] {
    let mut a = [0u8; 49];
    a[..13].copy_from_slice(b"masp/shard/v1");
    a[13..29].copy_from_slice(file);
    a[29..33].copy_from_slice(&shard.to_be_bytes());
    a[33..41].copy_from_slice(&index.to_be_bytes());
    a[41..49].copy_from_slice(&count.to_be_bytes());
    a
}

/// One shard's sealing key and identity (see the module docs).
pub struct ShardCipher {
    key: LessSafeKey,
    file: FileId,
    shard: u32,
    count: u64,
}

impl ShardCipher {
    /// The cipher of shard `shard` (`count` chunks) of file `file` whose
    /// key is `file_key` ([`FileCipher::file_key`]).
    pub fn new(file_key: &Key, file: FileId, shard: u32, count: u64) -> Self {
        Self {
            key: aead_key(&shard_key(file_key, shard)),
            file,
            shard,
            count,
        }
    }

    /// The shard's index.
    pub fn shard(&self) -> u32 {
        self.shard
    }

    /// Chunks in the shard.
    pub fn chunk_count(&self) -> u64 {
        self.count
    }

    /// Seals chunk `index` of the shard: `buf` holds its plaintext and gets
    /// the tag appended.
    pub fn seal(&self, index: u64, buf: &mut Vec<u8>) {
        let aad = shard_aad(&self.file, self.shard, index, self.count);
        seal_chunk(&self.key, index, &aad, buf);
    }

    /// Opens chunk `index` of the shard in place.
    pub fn open(&self, index: u64, buf: &mut Vec<u8>) -> Result<(), CryptoError> {
        let aad = shard_aad(&self.file, self.shard, index, self.count);
        open_chunk(&self.key, index, &aad, buf)
    }
}

/// Seals a small object (a manifest) under `key` with a random nonce:
/// `nonce || ciphertext || tag`. `context` is bound as associated data.
pub fn seal_object(key: &Key, context: &[u8], plain: &[u8]) -> Vec<u8> {
    let mut n = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut n);
    let k = aead_key(key);
    let mut buf = plain.to_vec();
    let tag = k
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(n),
            Aad::from(context),
            &mut buf,
        )
        .expect("small object");
    let mut out = Vec::with_capacity(12 + buf.len() + TAG_LEN);
    out.extend_from_slice(&n);
    out.extend_from_slice(&buf);
    out.extend_from_slice(tag.as_ref());
    out
}

/// Opens what [`seal_object`] sealed; `None` if the key or context is wrong
/// or the object was altered.
pub fn open_object(key: &Key, context: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < 12 + TAG_LEN {
        return None;
    }
    let (n, rest) = sealed.split_at(12);
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).ok()?);
    let mut buf = rest.to_vec();
    let len = k
        .open_in_place(
            Nonce::assume_unique_for_key(n.try_into().ok()?),
            Aad::from(context),
            &mut buf,
        )
        .ok()?
        .len();
    buf.truncate(len);
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::{aead::Aead, aead::Payload, Aes256Gcm, KeyInit};

    const MASTER: Key = [42; 32];
    const FILE: FileId = [7; 16];

    fn reference_open(
        master: &Key,
        file: &FileId,
        size: u64,
        index: u64,
        sealed: &[u8],
    ) -> Vec<u8> {
        let key = FileCipher::file_key(master, file);
        let cipher = Aes256Gcm::new_from_slice(&key).unwrap();
        cipher
            .decrypt(
                &nonce(index).into(),
                Payload {
                    msg: sealed,
                    aad: &aad(file, index, chunk_count(size)),
                },
            )
            .expect("the reference implementation opens every chunk ring seals")
    }

    #[test]
    fn every_sealed_chunk_opens_with_the_reference_aes_gcm() {
        for size in [
            0u64,
            1,
            PLAIN_CHUNK as u64 - 1,
            PLAIN_CHUNK as u64,
            PLAIN_CHUNK as u64 + 1,
            3 * PLAIN_CHUNK as u64 + 17,
        ] {
            let cipher = FileCipher::new(&MASTER, FILE, size);
            assert_eq!(cipher.chunk_count(), chunk_count(size));
            let mut total = 0u64;
            for index in 0..cipher.chunk_count() {
                let plain: Vec<u8> = (0..plain_len(size, index))
                    .map(|i| (i * 7 + index as usize) as u8)
                    .collect();
                let mut buf = plain.clone();
                cipher.seal(index, &mut buf);
                assert_eq!(buf.len(), plain.len() + TAG_LEN);
                total += buf.len() as u64;
                assert_eq!(reference_open(&MASTER, &FILE, size, index, &buf), plain);
                cipher.open(index, &mut buf).unwrap();
                assert_eq!(buf, plain);
            }
            assert_eq!(total, ciphertext_size(size), "size {size}");
        }
    }

    #[test]
    fn a_full_sealed_chunk_is_one_storage_proof_chunk() {
        assert_eq!(PLAIN_CHUNK + TAG_LEN, masp_proofs::CHUNK_SIZE);
        assert_eq!(chunk_count(0), 1);
        assert_eq!(ciphertext_size(0), TAG_LEN as u64);
    }

    #[test]
    fn a_tampered_moved_or_foreign_chunk_does_not_open() {
        let size = 2 * PLAIN_CHUNK as u64;
        let cipher = FileCipher::new(&MASTER, FILE, size);
        let mut sealed = vec![1u8; PLAIN_CHUNK];
        cipher.seal(0, &mut sealed);
        // A flipped bit.
        let mut bad = sealed.clone();
        bad[100] ^= 1;
        assert_eq!(cipher.open(0, &mut bad), Err(CryptoError::Tampered(0)));
        // The right bytes at another index.
        let mut moved = sealed.clone();
        assert_eq!(cipher.open(1, &mut moved), Err(CryptoError::Tampered(1)));
        // Another file id, another master key, a truncated file.
        for other in [
            FileCipher::new(&MASTER, [8; 16], size),
            FileCipher::new(&[43; 32], FILE, size),
            FileCipher::new(&MASTER, FILE, PLAIN_CHUNK as u64),
        ] {
            let mut b = sealed.clone();
            assert_eq!(other.open(0, &mut b), Err(CryptoError::Tampered(0)));
        }
        let mut short = vec![0u8; 5];
        assert_eq!(cipher.open(0, &mut short), Err(CryptoError::Truncated(0)));
    }

    #[test]
    fn every_shard_chunk_opens_with_the_reference_aes_gcm_and_shards_differ() {
        let file_key = FileCipher::file_key(&MASTER, &FILE);
        let plain = vec![5u8; 1000];
        let mut sealed = Vec::new();
        for shard in 0..3u32 {
            let c = ShardCipher::new(&file_key, FILE, shard, 4);
            assert_eq!((c.shard(), c.chunk_count()), (shard, 4));
            let mut buf = plain.clone();
            c.seal(2, &mut buf);
            let reference = Aes256Gcm::new_from_slice(&shard_key(&file_key, shard)).unwrap();
            let opened = reference
                .decrypt(
                    &nonce(2).into(),
                    Payload {
                        msg: &buf,
                        aad: &shard_aad(&FILE, shard, 2, 4),
                    },
                )
                .unwrap();
            assert_eq!(opened, plain);
            let mut back = buf.clone();
            c.open(2, &mut back).unwrap();
            assert_eq!(back, plain);
            sealed.push(buf);
        }
        // The same plaintext is other bytes in every shard.
        assert_ne!(sealed[0], sealed[1]);
        assert_ne!(sealed[1], sealed[2]);
        assert_ne!(shard_key(&file_key, 0), file_key);
        // Another shard, index, count, file or key: no.
        let mut b = sealed[0].clone();
        assert_eq!(
            ShardCipher::new(&file_key, FILE, 1, 4).open(2, &mut b),
            Err(CryptoError::Tampered(2))
        );
        for (c, i) in [
            (ShardCipher::new(&file_key, FILE, 0, 4), 1),
            (ShardCipher::new(&file_key, FILE, 0, 5), 2),
            (ShardCipher::new(&file_key, [8; 16], 0, 4), 2),
            (ShardCipher::new(&[1; 32], FILE, 0, 4), 2),
        ] {
            let mut b = sealed[0].clone();
            assert!(c.open(i, &mut b).is_err());
        }
        // Not a FileCipher chunk either.
        let mut b = sealed[0].clone();
        assert!(
            FileCipher::with_file_key(&file_key, FILE, 4 * PLAIN_CHUNK as u64)
                .open(2, &mut b)
                .is_err()
        );
    }

    #[test]
    fn objects_open_only_with_their_key_and_context() {
        let sealed = seal_object(&MASTER, b"manifest", b"hello");
        assert_eq!(
            open_object(&MASTER, b"manifest", &sealed).as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(open_object(&[1; 32], b"manifest", &sealed), None);
        assert_eq!(open_object(&MASTER, b"other", &sealed), None);
        assert_eq!(
            open_object(&MASTER, b"manifest", &sealed[..sealed.len() - 1]),
            None
        );
    }
}
