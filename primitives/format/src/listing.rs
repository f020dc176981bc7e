//! A listing's manifest: what a Receiver needs to fetch, verify and decrypt
//! one listed file, and nothing about the Sender's other files.
//!
//! The Sender's own manifest ([`crate::manifest::Manifest`]) is sealed under
//! its master key and names the Argon2 parameters of its phrase; a Receiver
//! gets neither. A listing manifest holds only the file's layout (file id,
//! name, sizes, Merkle roots) and is sealed under a key derived from the
//! file key ([`listing_manifest_key`]), the one key a Receiver obtains. Its
//! sealed bytes are kept by the hosts of the listed contracts, and their
//! BLAKE2b-256 ([`listing_manifest_hash`]) is the listing's `manifest` on
//! chain, so a host cannot hand a Receiver anything else.
//!
//! Sealed form: `nonce (12) || ChaCha20-Poly1305(SCALE(manifest)) || tag (16)`, with
//! associated data [`LISTING_MANIFEST_CONTEXT`]. The nonce is random per
//! sealing (one file may be listed several times).

use alloc::vec::Vec;
use blake2::{
    digest::{consts::U32, Digest, Mac},
    Blake2b, Blake2bMac,
};
use chacha20poly1305::{
    aead::{AeadInPlace, KeyInit},
    ChaCha20Poly1305, Nonce, Tag,
};
use codec::{Decode, Encode};

use crate::manifest::{ChunkSealing, Shard};

/// The format version this crate writes: 2, the layout of a file stored as
/// K+M shards (each sealed under its own key, which a Receiver derives from
/// the file key). Version 1 (one ciphertext under the file key on every
/// contract) still opens, as one shard.
pub const LISTING_MANIFEST_VERSION: u8 = 2;

/// Associated data of a sealed listing manifest (and the key's derivation
/// label).
pub const LISTING_MANIFEST_CONTEXT: &[u8] = b"masp/listing-manifest/v1";

/// Bytes before the ciphertext: the nonce.
pub const NONCE_LEN: usize = 12;

/// Bytes after it: the Poly1305 tag.
pub const TAG_LEN: usize = 16;

/// A listed file's layout.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ListingManifest {
    /// [`LISTING_MANIFEST_VERSION`].
    pub version: u8,
    /// The file's id: part of every chunk's associated data.
    pub file_id: [u8; 16],
    /// The file's name as the Sender stored it (UTF-8).
    pub name: Vec<u8>,
    /// Plaintext bytes.
    pub size: u64,
    /// How the chunks are sealed (a version 1 listing: the file key).
    pub sealing: ChunkSealing,
    /// Data shards: any K give the file back.
    pub k: u32,
    /// Parity shards.
    pub m: u32,
    /// The stored shards: a listed contract stores the shard whose root is
    /// its Merkle root.
    pub shards: Vec<Shard>,
}

/// Version 1 of [`ListingManifest`] (after its version byte): one
/// ciphertext on every listed contract.
#[derive(Encode, Decode)]
struct ListingManifestV1 {
    file_id: [u8; 16],
    name: Vec<u8>,
    size: u64,
    cipher_size: u64,
    root: [u8; 32],
    chunk_roots: Vec<[u8; 32]>,
}

impl From<ListingManifestV1> for ListingManifest {
    fn from(v1: ListingManifestV1) -> Self {
        Self {
            version: LISTING_MANIFEST_VERSION,
            file_id: v1.file_id,
            name: v1.name,
            size: v1.size,
            sealing: ChunkSealing::FileKey,
            k: 1,
            m: 0,
            shards: alloc::vec![Shard {
                index: 0,
                size: v1.cipher_size,
                root: v1.root,
                chunk_roots: v1.chunk_roots,
            }],
        }
    }
}

/// The key a listing manifest is sealed with: keyed BLAKE2b-256 of the
/// file key over [`LISTING_MANIFEST_CONTEXT`].
pub fn listing_manifest_key(file_key: &[u8; 32]) -> [u8; 32] {
    let mut mac =
        <Blake2bMac<U32> as Mac>::new_from_slice(file_key).expect("a 32-byte key fits BLAKE2b");
    mac.update(LISTING_MANIFEST_CONTEXT);
    mac.finalize().into_bytes().into()
}

/// BLAKE2b-256 of a sealed listing manifest: what a listing commits to.
pub fn listing_manifest_hash(sealed: &[u8]) -> [u8; 32] {
    Blake2b::<U32>::digest(sealed).into()
}

/// Seals `m` under `file_key` with `nonce` (random per sealing).
pub fn seal_listing_manifest(
    m: &ListingManifest,
    file_key: &[u8; 32],
    nonce: [u8; NONCE_LEN],
) -> Vec<u8> {
    let cipher = ChaCha20Poly1305::new(&listing_manifest_key(file_key).into());
    let mut out = Vec::with_capacity(NONCE_LEN + m.size_hint() + TAG_LEN);
    out.extend_from_slice(&nonce);
    m.encode_to(&mut out);
    let tag = cipher
        .encrypt_in_place_detached(
            Nonce::from_slice(&nonce),
            LISTING_MANIFEST_CONTEXT,
            &mut out[NONCE_LEN..],
        )
        .expect("a manifest is far below ChaCha20-Poly1305's length limit");
    out.extend_from_slice(&tag);
    out
}

/// Why sealed bytes are not a listing manifest of a file key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListingManifestError {
    /// It does not open under the key: another file's, altered or cut.
    DoesNotOpen,
    /// It opens but names a format version this crate does not read.
    UnknownVersion(u8),
    /// It opens but does not decode.
    Corrupt,
}

impl core::fmt::Display for ListingManifestError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::DoesNotOpen => write!(
                f,
                "does not open under the file key (another file's, altered or cut short)"
            ),
            Self::UnknownVersion(v) => write!(
                f,
                "format version {v} is newer than this program reads \
                 ({LISTING_MANIFEST_VERSION}): upgrade"
            ),
            Self::Corrupt => write!(f, "opens but does not decode: corrupt"),
        }
    }
}

/// Opens a sealed listing manifest with `file_key` (version 1 upgraded to
/// one shard sealed under the file key).
pub fn open_listing_manifest(
    sealed: &[u8],
    file_key: &[u8; 32],
) -> Result<ListingManifest, ListingManifestError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(ListingManifestError::DoesNotOpen);
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
    let cipher = ChaCha20Poly1305::new(&listing_manifest_key(file_key).into());
    let mut plain = body.to_vec();
    cipher
        .decrypt_in_place_detached(
            Nonce::from_slice(nonce),
            LISTING_MANIFEST_CONTEXT,
            &mut plain,
            Tag::from_slice(tag),
        )
        .map_err(|_| ListingManifestError::DoesNotOpen)?;
    let mut input = &plain[..];
    let m = match plain.first() {
        Some(&LISTING_MANIFEST_VERSION) => {
            ListingManifest::decode(&mut input).map_err(|_| ListingManifestError::Corrupt)?
        }
        Some(1) => {
            input = &plain[1..];
            ListingManifestV1::decode(&mut input)
                .map_err(|_| ListingManifestError::Corrupt)?
                .into()
        }
        Some(v) => return Err(ListingManifestError::UnknownVersion(*v)),
        None => return Err(ListingManifestError::Corrupt),
    };
    if !input.is_empty() {
        return Err(ListingManifestError::Corrupt);
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ListingManifest {
        ListingManifest {
            version: LISTING_MANIFEST_VERSION,
            file_id: [3; 16],
            name: b"film.mkv".to_vec(),
            size: 10,
            sealing: ChunkSealing::ShardKeys,
            k: 4,
            m: 2,
            shards: alloc::vec![
                Shard {
                    index: 0,
                    size: 26,
                    root: [4; 32],
                    chunk_roots: alloc::vec![[4; 32]],
                },
                Shard {
                    index: 4,
                    size: 26,
                    root: [5; 32],
                    chunk_roots: alloc::vec![[5; 32]],
                },
            ],
        }
    }

    /// Seals raw `plain` bytes as `seal_listing_manifest` does.
    fn seal_raw(plain: &[u8], file_key: &[u8; 32]) -> Vec<u8> {
        let cipher = ChaCha20Poly1305::new(&listing_manifest_key(file_key).into());
        let nonce = [9u8; NONCE_LEN];
        let mut out = nonce.to_vec();
        out.extend_from_slice(plain);
        let tag = cipher
            .encrypt_in_place_detached(
                Nonce::from_slice(&nonce),
                LISTING_MANIFEST_CONTEXT,
                &mut out[NONCE_LEN..],
            )
            .unwrap();
        out.extend_from_slice(&tag);
        out
    }

    #[test]
    fn a_version_1_listing_manifest_opens_as_one_shard_under_the_file_key() {
        let v1 = ListingManifestV1 {
            file_id: [3; 16],
            name: b"old.txt".to_vec(),
            size: 10,
            cipher_size: 26,
            root: [4; 32],
            chunk_roots: alloc::vec![[4; 32]],
        };
        let mut plain = alloc::vec![1u8];
        plain.extend(v1.encode());
        let m = open_listing_manifest(&seal_raw(&plain, &[7; 32]), &[7; 32]).unwrap();
        assert_eq!(m.sealing, ChunkSealing::FileKey);
        assert_eq!((m.k, m.m, m.size), (1, 0, 10));
        assert_eq!(m.shards.len(), 1);
        assert_eq!((m.shards[0].size, m.shards[0].root), (26, [4; 32]));
        plain.push(0);
        assert_eq!(
            open_listing_manifest(&seal_raw(&plain, &[7; 32]), &[7; 32]),
            Err(ListingManifestError::Corrupt)
        );
        assert_eq!(
            open_listing_manifest(&seal_raw(&[3, 1, 2], &[7; 32]), &[7; 32]),
            Err(ListingManifestError::UnknownVersion(3))
        );
    }

    #[test]
    fn it_opens_with_the_file_key_only() {
        let sealed = seal_listing_manifest(&sample(), &[7; 32], [1; 12]);
        assert_eq!(open_listing_manifest(&sealed, &[7; 32]), Ok(sample()));
        assert_eq!(
            open_listing_manifest(&sealed, &[8; 32]),
            Err(ListingManifestError::DoesNotOpen)
        );
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(
            open_listing_manifest(&altered, &[7; 32]),
            Err(ListingManifestError::DoesNotOpen)
        );
        assert_eq!(
            open_listing_manifest(&sealed[..5], &[7; 32]),
            Err(ListingManifestError::DoesNotOpen)
        );
    }

    #[test]
    fn two_sealings_differ_and_so_do_their_hashes() {
        let a = seal_listing_manifest(&sample(), &[7; 32], [1; 12]);
        let b = seal_listing_manifest(&sample(), &[7; 32], [2; 12]);
        assert_ne!(listing_manifest_hash(&a), listing_manifest_hash(&b));
    }

    #[test]
    fn the_key_is_not_the_file_key() {
        assert_ne!(listing_manifest_key(&[7; 32]), [7; 32]);
    }
}
