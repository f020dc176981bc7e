//! A stored file's manifest: what a Sender's client needs to find, verify
//! and decrypt the file again, from the secret phrase alone.
//!
//! SCALE-encoded, then sealed by the client under its master key (hosts
//! store it as one more opaque object): nothing in it is visible to hosts
//! or the chain.

use alloc::vec::Vec;
use codec::{Decode, Encode};

use crate::market::{ContractId, RequestId};

/// The format version this crate writes.
pub const MANIFEST_VERSION: u8 = 2;

/// What clients before sealing context 2 bound every manifest to: the same
/// bytes for every file of an account, so one file's manifest opened as any
/// other's. Such manifests still open, but a client must then check them
/// against the chain (root, size, leaf count) before it uses or keeps them.
pub const LEGACY_SEALING_CONTEXT: &[u8] = b"masp/manifest/v1";

/// The associated data a manifest of file `request` (its storage request
/// id) is sealed with: `"masp/manifest/v2" || request (u64, big-endian)`.
/// A manifest sealed for another file of the same account does not open as
/// this one's, so a host cannot hand back a different file's manifest.
pub fn sealing_context(request: RequestId) -> [u8; 24] {
    let mut context = [0u8; 24];
    context[..16].copy_from_slice(b"masp/manifest/v2");
    context[16..].copy_from_slice(&request.to_be_bytes());
    context
}

/// Argon2id parameters a key was derived with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct KdfParams {
    /// Memory, KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

/// One replica: a contract and the host storing it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Replica {
    /// The storage contract.
    pub contract: ContractId,
    /// The host's account (32-byte public key).
    pub host: [u8; 32],
    /// The last epoch of the contract's term: a replica whose contract is
    /// gone before it ended was lost (or cancelled), not completed.
    pub last_epoch: u32,
}

/// A stored file.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Manifest {
    /// [`MANIFEST_VERSION`].
    pub version: u8,
    /// Random per put: selects the file's key.
    pub file_id: [u8; 16],
    /// The file's name (UTF-8).
    pub name: Vec<u8>,
    /// Plaintext bytes.
    pub size: u64,
    /// Ciphertext bytes (what each contract stores).
    pub cipher_size: u64,
    /// Merkle root of the ciphertext (each contract's root).
    pub root: [u8; 32],
    /// Merkle root of each 1 MiB ciphertext chunk, in order: every chunk
    /// downloaded is checked against its root before it is decrypted.
    pub chunk_roots: Vec<[u8; 32]>,
    /// How the master key was derived from the phrase.
    pub master_kdf: KdfParams,
    /// Where the replicas are.
    pub replicas: Vec<Replica>,
    /// When it was stored (seconds since the Unix epoch).
    pub created: u64,
}

/// Why a manifest's bytes are not a manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestError {
    /// Written by a newer (or unknown) format version.
    UnknownVersion(u8),
    /// The bytes do not decode (cut short or corrupt).
    Corrupt,
}

impl core::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::UnknownVersion(v) => write!(
                f,
                "format version {v} is newer than this program reads ({MANIFEST_VERSION}): upgrade"
            ),
            Self::Corrupt => write!(f, "does not decode: corrupt or cut short"),
        }
    }
}

/// Version 1: replicas without their term.
#[derive(Decode)]
struct ReplicaV1 {
    contract: ContractId,
    host: [u8; 32],
}

/// Version 1 of [`Manifest`].
#[derive(Decode)]
struct ManifestV1 {
    file_id: [u8; 16],
    name: Vec<u8>,
    size: u64,
    cipher_size: u64,
    root: [u8; 32],
    chunk_roots: Vec<[u8; 32]>,
    master_kdf: KdfParams,
    replicas: Vec<ReplicaV1>,
    created: u64,
}

impl Manifest {
    /// Decodes a manifest of any version this crate knows, upgraded to the
    /// current one (a version 1 replica's term is unknown: `u32::MAX`). The
    /// whole input must be used.
    pub fn decode_any(bytes: &[u8]) -> Result<Self, ManifestError> {
        let mut input = bytes;
        let m = match bytes.first() {
            Some(&MANIFEST_VERSION) => {
                Self::decode(&mut input).map_err(|_| ManifestError::Corrupt)?
            }
            Some(1) => {
                input = &bytes[1..];
                let v1 = ManifestV1::decode(&mut input).map_err(|_| ManifestError::Corrupt)?;
                Self {
                    version: MANIFEST_VERSION,
                    file_id: v1.file_id,
                    name: v1.name,
                    size: v1.size,
                    cipher_size: v1.cipher_size,
                    root: v1.root,
                    chunk_roots: v1.chunk_roots,
                    master_kdf: v1.master_kdf,
                    replicas: v1
                        .replicas
                        .into_iter()
                        .map(|r| Replica {
                            contract: r.contract,
                            host: r.host,
                            last_epoch: u32::MAX,
                        })
                        .collect(),
                    created: v1.created,
                }
            }
            Some(&v) => return Err(ManifestError::UnknownVersion(v)),
            None => return Err(ManifestError::Corrupt),
        };
        if !input.is_empty() {
            return Err(ManifestError::Corrupt);
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_round_trips_and_a_truncated_one_does_not_decode() {
        let m = Manifest {
            version: MANIFEST_VERSION,
            file_id: [1; 16],
            name: b"photo.jpg".to_vec(),
            size: 5,
            cipher_size: 21,
            root: [2; 32],
            chunk_roots: alloc::vec![[2; 32]],
            master_kdf: KdfParams {
                m_kib: 65536,
                t: 3,
                p: 1,
            },
            replicas: alloc::vec![Replica {
                contract: 7,
                host: [3; 32],
                last_epoch: 30,
            }],
            created: 1_700_000_000,
        };
        let bytes = m.encode();
        assert_eq!(Manifest::decode(&mut &bytes[..]), Ok(m.clone()));
        assert!(Manifest::decode(&mut &bytes[..bytes.len() - 1]).is_err());
        assert_eq!(Manifest::decode_any(&bytes), Ok(m.clone()));
        assert_eq!(
            Manifest::decode_any(&bytes[..bytes.len() - 1]),
            Err(ManifestError::Corrupt)
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Manifest::decode_any(&longer), Err(ManifestError::Corrupt));
        let mut newer = bytes.clone();
        newer[0] = 9;
        assert_eq!(
            Manifest::decode_any(&newer),
            Err(ManifestError::UnknownVersion(9))
        );
    }

    #[test]
    fn each_file_has_its_own_sealing_context() {
        assert_eq!(&sealing_context(7)[..16], b"masp/manifest/v2");
        assert_eq!(&sealing_context(7)[16..], &7u64.to_be_bytes());
        assert_ne!(sealing_context(7), sealing_context(8));
        assert_ne!(&sealing_context(7)[..], LEGACY_SEALING_CONTEXT);
    }

    #[test]
    fn a_version_1_manifest_still_opens_with_its_terms_unknown() {
        // Version 1 wrote replicas as (contract, host) only.
        let mut v1 = alloc::vec![1u8];
        v1.extend([1u8; 16]);
        v1.extend(b"a.txt".to_vec().encode());
        v1.extend(5u64.encode());
        v1.extend(21u64.encode());
        v1.extend([2u8; 32]);
        v1.extend(alloc::vec![[3u8; 32]].encode());
        v1.extend(
            KdfParams {
                m_kib: 1,
                t: 2,
                p: 3,
            }
            .encode(),
        );
        v1.extend(alloc::vec![(7u64, [4u8; 32])].encode());
        v1.extend(6u64.encode());
        let m = Manifest::decode_any(&v1).unwrap();
        assert_eq!(m.version, MANIFEST_VERSION);
        assert_eq!(m.name, b"a.txt".to_vec());
        assert_eq!(
            m.replicas,
            alloc::vec![Replica {
                contract: 7,
                host: [4; 32],
                last_epoch: u32::MAX
            }]
        );
        assert_eq!(m.created, 6);
    }
}
