//! A stored file's manifest: what a Sender's client needs to find, verify
//! and decrypt the file again, from the secret phrase alone.
//!
//! SCALE-encoded, then sealed by the client under its master key (hosts
//! store it as one more opaque object): nothing in it is visible to hosts
//! or the chain.
//!
//! ## Versions
//!
//! - **3** (this crate writes it): the file is stored as K+M shards
//!   (issue 20), each its own storage contract with its own Merkle root,
//!   each sealed under its own shard key ([`ChunkSealing::ShardKeys`]);
//!   `--replicas N` is the layout K=1, M=N-1. The manifest lists the stored
//!   shards, where each is placed now (replicas) and what happened to them
//!   (history: placed, lost, repaired).
//! - **1 and 2** (older clients): every replica held the same ciphertext,
//!   sealed under the file key, with one Merkle root. They still decode
//!   ([`Manifest::decode_any`]), upgraded to this structure as one shard
//!   held by every replica, marked [`ChunkSealing::FileKey`] so the client
//!   reads them as before.

use alloc::vec::Vec;
use codec::{Decode, Encode};

use crate::{ContractId, RequestId};

/// The format version this crate writes.
pub const MANIFEST_VERSION: u8 = 3;

/// The most history entries a manifest keeps (the oldest are dropped).
pub const MAX_HISTORY: usize = 64;

/// What clients before sealing context 2 bound every manifest to: the same
/// bytes for every file of an account, so one file's manifest opened as any
/// other's. Such manifests still open, but a client must then check them
/// against the chain (root, size, leaf count) before it uses or keeps them.
pub const LEGACY_SEALING_CONTEXT: &[u8] = b"masp/manifest/v1";

/// The associated data a manifest kept for storage request `request` is
/// sealed with: `"masp/manifest/v2" || request (u64, big-endian)`. A
/// manifest sealed for another request of the same account does not open
/// as this one's, so a host cannot hand back a different file's manifest.
///
/// A host keeps the manifest sealed for its contract's request: the file's
/// own request for the shards its `put` placed, a repair's request for the
/// shards that repair placed (the manifest then names the file in
/// [`Manifest::request`]).
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

/// How a file's chunks are sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum ChunkSealing {
    /// Versions 1 and 2: the whole file sealed under the file key, the same
    /// ciphertext (and Merkle root) on every replica; one shard (index 0).
    FileKey,
    /// Version 3: shard `t` sealed under its own key derived from the file
    /// key and `t`, so no two shards (not even two replicas of K=1) are the
    /// same bytes.
    ShardKeys,
}

/// One stored shard: its ciphertext is one storage contract's data.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Shard {
    /// Its index: `0..K` data shards, `K..K+M` parity shards.
    pub index: u32,
    /// Ciphertext bytes (what its contract stores).
    pub size: u64,
    /// Merkle root of its ciphertext (its contract's root).
    pub root: [u8; 32],
    /// Merkle root of each 1 MiB ciphertext chunk, in order: every chunk
    /// downloaded is checked against its root before it is decrypted.
    pub chunk_roots: Vec<[u8; 32]>,
}

/// Where a shard is stored now: a contract and the host storing it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Replica {
    /// The storage contract.
    pub contract: ContractId,
    /// The host's account (32-byte public key).
    pub host: [u8; 32],
    /// The last epoch of the contract's term: a replica whose contract is
    /// gone before it ended was lost (or cancelled), not completed.
    pub last_epoch: u32,
    /// The shard it stores ([`Shard::index`]).
    pub shard: u32,
}

/// What happened to a shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum HistoryKind {
    /// Placed by `put` on a host.
    Placed,
    /// Its contract ended before its term (the host lost the data, never
    /// confirmed the upload, or does not serve it).
    Lost,
    /// Rebuilt from other shards and placed on a new host.
    Repaired,
    /// Its contract was extended or replaced for a longer term.
    Renewed,
}

/// One event in a file's life.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct HistoryEntry {
    /// When (seconds since the Unix epoch).
    pub at: u64,
    /// What happened.
    pub kind: HistoryKind,
    /// To which shard.
    pub shard: u32,
    /// The contract it ended or replaced, if any.
    pub old_contract: Option<ContractId>,
    /// The contract it created, if any.
    pub new_contract: Option<ContractId>,
    /// The host concerned: the new one for `Placed`/`Repaired`/`Renewed`,
    /// the one that lost it for `Lost`.
    pub host: [u8; 32],
}

/// A stored file.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Manifest {
    /// [`MANIFEST_VERSION`].
    pub version: u8,
    /// The file's id as `masp` shows it: the request its `put` placed
    /// (repairs place further requests; their contracts are listed in
    /// `replicas`). 0 in a version 1 or 2 manifest as decoded: the client
    /// sets it to the request it opened the manifest for.
    pub request: RequestId,
    /// Random per put: selects the file's key.
    pub file_id: [u8; 16],
    /// The file's name (UTF-8).
    pub name: Vec<u8>,
    /// Plaintext bytes.
    pub size: u64,
    /// How the master key was derived from the phrase.
    pub master_kdf: KdfParams,
    /// When it was stored (seconds since the Unix epoch).
    pub created: u64,
    /// When this manifest was last changed (seconds since the Unix epoch):
    /// of several copies the newest is the one to trust.
    pub updated: u64,
    /// How the chunks are sealed.
    pub sealing: ChunkSealing,
    /// Data shards: any K shards give the file back.
    pub k: u32,
    /// Parity shards: how many may be lost.
    pub m: u32,
    /// The stored shards, by index (empty data shards of a file of fewer
    /// than K chunks are not stored, and not listed).
    pub shards: Vec<Shard>,
    /// Where the shards are now.
    pub replicas: Vec<Replica>,
    /// What happened, oldest first (at most [`MAX_HISTORY`] entries).
    pub history: Vec<HistoryEntry>,
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
#[derive(Encode, Decode)]
struct ReplicaV1 {
    contract: ContractId,
    host: [u8; 32],
}

/// Version 1 of [`Manifest`] (after its version byte).
#[derive(Encode, Decode)]
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

/// Version 2: a replica with its term.
#[derive(Encode, Decode)]
struct ReplicaV2 {
    contract: ContractId,
    host: [u8; 32],
    last_epoch: u32,
}

/// Version 2 of [`Manifest`] (after its version byte).
#[derive(Encode, Decode)]
struct ManifestV2 {
    file_id: [u8; 16],
    name: Vec<u8>,
    size: u64,
    cipher_size: u64,
    root: [u8; 32],
    chunk_roots: Vec<[u8; 32]>,
    master_kdf: KdfParams,
    replicas: Vec<ReplicaV2>,
    created: u64,
}

impl From<ManifestV2> for Manifest {
    /// One shard (the whole ciphertext, sealed under the file key) on every
    /// replica: K=1, M = replicas - 1.
    fn from(v2: ManifestV2) -> Self {
        let m = (v2.replicas.len() as u32).saturating_sub(1);
        Self {
            version: MANIFEST_VERSION,
            request: 0,
            file_id: v2.file_id,
            name: v2.name,
            size: v2.size,
            master_kdf: v2.master_kdf,
            created: v2.created,
            updated: v2.created,
            sealing: ChunkSealing::FileKey,
            k: 1,
            m,
            shards: alloc::vec![Shard {
                index: 0,
                size: v2.cipher_size,
                root: v2.root,
                chunk_roots: v2.chunk_roots,
            }],
            replicas: v2
                .replicas
                .into_iter()
                .map(|r| Replica {
                    contract: r.contract,
                    host: r.host,
                    last_epoch: r.last_epoch,
                    shard: 0,
                })
                .collect(),
            history: Vec::new(),
        }
    }
}

impl From<ManifestV1> for ManifestV2 {
    /// A version 1 replica's term is unknown: `u32::MAX`.
    fn from(v1: ManifestV1) -> Self {
        Self {
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
                .map(|r| ReplicaV2 {
                    contract: r.contract,
                    host: r.host,
                    last_epoch: u32::MAX,
                })
                .collect(),
            created: v1.created,
        }
    }
}

impl Manifest {
    /// Decodes a manifest of any version this crate knows, upgraded to the
    /// current structure (see the module docs: a version 1 replica's term
    /// is unknown, `u32::MAX`; a version 1 or 2 manifest's `request` is 0).
    /// The whole input must be used.
    pub fn decode_any(bytes: &[u8]) -> Result<Self, ManifestError> {
        let (&version, rest) = bytes.split_first().ok_or(ManifestError::Corrupt)?;
        let mut input = rest;
        let m = match version {
            MANIFEST_VERSION => {
                input = bytes;
                Self::decode(&mut input).map_err(|_| ManifestError::Corrupt)?
            }
            2 => ManifestV2::decode(&mut input)
                .map_err(|_| ManifestError::Corrupt)?
                .into(),
            1 => ManifestV2::from(
                ManifestV1::decode(&mut input).map_err(|_| ManifestError::Corrupt)?,
            )
            .into(),
            v => return Err(ManifestError::UnknownVersion(v)),
        };
        if !input.is_empty() {
            return Err(ManifestError::Corrupt);
        }
        Ok(m)
    }

    /// Whether this is a version 1 or 2 file: one ciphertext under the file
    /// key on every replica.
    pub fn is_legacy(&self) -> bool {
        self.sealing == ChunkSealing::FileKey
    }

    /// Stored shard `index`, if listed.
    pub fn shard(&self, index: u32) -> Option<&Shard> {
        self.shards.iter().find(|s| s.index == index)
    }

    /// The stored shard whose Merkle root is `root`, if any.
    pub fn shard_with_root(&self, root: &[u8; 32]) -> Option<&Shard> {
        self.shards.iter().find(|s| &s.root == root)
    }

    /// The replica on contract `contract`, if listed.
    pub fn replica(&self, contract: ContractId) -> Option<&Replica> {
        self.replicas.iter().find(|r| r.contract == contract)
    }

    /// Appends `entry` to the history, dropping the oldest entries beyond
    /// [`MAX_HISTORY`].
    pub fn record(&mut self, entry: HistoryEntry) {
        self.history.push(entry);
        if self.history.len() > MAX_HISTORY {
            let excess = self.history.len() - MAX_HISTORY;
            self.history.drain(..excess);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kdf() -> KdfParams {
        KdfParams {
            m_kib: 65536,
            t: 3,
            p: 1,
        }
    }

    fn sample() -> Manifest {
        Manifest {
            version: MANIFEST_VERSION,
            request: 12,
            file_id: [1; 16],
            name: b"photo.jpg".to_vec(),
            size: 5,
            master_kdf: kdf(),
            created: 1_700_000_000,
            updated: 1_700_000_100,
            sealing: ChunkSealing::ShardKeys,
            k: 4,
            m: 2,
            shards: alloc::vec![
                Shard {
                    index: 0,
                    size: 21,
                    root: [2; 32],
                    chunk_roots: alloc::vec![[2; 32]],
                },
                Shard {
                    index: 4,
                    size: 22,
                    root: [3; 32],
                    chunk_roots: alloc::vec![[3; 32]],
                },
            ],
            replicas: alloc::vec![
                Replica {
                    contract: 7,
                    host: [3; 32],
                    last_epoch: 30,
                    shard: 0,
                },
                Replica {
                    contract: 8,
                    host: [4; 32],
                    last_epoch: 30,
                    shard: 4,
                },
            ],
            history: alloc::vec![HistoryEntry {
                at: 1_700_000_000,
                kind: HistoryKind::Placed,
                shard: 0,
                old_contract: None,
                new_contract: Some(7),
                host: [3; 32],
            }],
        }
    }

    #[test]
    fn a_manifest_round_trips_and_a_truncated_one_does_not_decode() {
        let m = sample();
        let bytes = m.encode();
        assert_eq!(bytes[0], 3);
        assert_eq!(Manifest::decode(&mut &bytes[..]), Ok(m.clone()));
        assert!(Manifest::decode(&mut &bytes[..bytes.len() - 1]).is_err());
        assert_eq!(Manifest::decode_any(&bytes), Ok(m.clone()));
        assert_eq!(
            Manifest::decode_any(&bytes[..bytes.len() - 1]),
            Err(ManifestError::Corrupt)
        );
        assert_eq!(Manifest::decode_any(&[]), Err(ManifestError::Corrupt));
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Manifest::decode_any(&longer), Err(ManifestError::Corrupt));
        let mut newer = bytes.clone();
        newer[0] = 9;
        assert_eq!(
            Manifest::decode_any(&newer),
            Err(ManifestError::UnknownVersion(9))
        );
        assert_eq!(m.shard(4).map(|s| s.size), Some(22));
        assert_eq!(m.shard(1), None);
        assert_eq!(m.shard_with_root(&[3; 32]).map(|s| s.index), Some(4));
        assert_eq!(m.replica(8).map(|r| r.shard), Some(4));
        assert!(!m.is_legacy());
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
        assert!(m.is_legacy());
        assert_eq!(m.name, b"a.txt".to_vec());
        assert_eq!((m.k, m.m, m.request), (1, 0, 0));
        assert_eq!(
            m.shards,
            alloc::vec![Shard {
                index: 0,
                size: 21,
                root: [2; 32],
                chunk_roots: alloc::vec![[3; 32]],
            }]
        );
        assert_eq!(
            m.replicas,
            alloc::vec![Replica {
                contract: 7,
                host: [4; 32],
                last_epoch: u32::MAX,
                shard: 0,
            }]
        );
        assert_eq!((m.created, m.updated), (6, 6));
        let mut cut = v1.clone();
        cut.pop();
        assert_eq!(Manifest::decode_any(&cut), Err(ManifestError::Corrupt));
    }

    #[test]
    fn a_version_2_manifest_opens_as_one_shard_on_every_replica() {
        let v2 = ManifestV2 {
            file_id: [5; 16],
            name: b"b.bin".to_vec(),
            size: 100,
            cipher_size: 116,
            root: [6; 32],
            chunk_roots: alloc::vec![[6; 32]],
            master_kdf: kdf(),
            replicas: alloc::vec![
                ReplicaV2 {
                    contract: 1,
                    host: [7; 32],
                    last_epoch: 40,
                },
                ReplicaV2 {
                    contract: 2,
                    host: [8; 32],
                    last_epoch: 41,
                },
            ],
            created: 9,
        };
        let mut bytes = alloc::vec![2u8];
        bytes.extend(v2.encode());
        let m = Manifest::decode_any(&bytes).unwrap();
        assert!(m.is_legacy());
        assert_eq!((m.k, m.m), (1, 1));
        assert_eq!(m.shards.len(), 1);
        assert_eq!((m.shards[0].size, m.shards[0].root), (116, [6; 32]));
        assert_eq!(
            m.replicas
                .iter()
                .map(|r| (r.contract, r.last_epoch, r.shard))
                .collect::<Vec<_>>(),
            alloc::vec![(1, 40, 0), (2, 41, 0)]
        );
        // Re-encoded, it is a version 3 manifest that keeps its sealing.
        let again = Manifest::decode_any(&m.encode()).unwrap();
        assert_eq!(again, m);
        let mut longer = bytes.clone();
        longer.push(1);
        assert_eq!(Manifest::decode_any(&longer), Err(ManifestError::Corrupt));
    }

    #[test]
    fn the_history_keeps_the_latest_entries() {
        let mut m = sample();
        for i in 0..(MAX_HISTORY as u64 + 10) {
            m.record(HistoryEntry {
                at: i,
                kind: HistoryKind::Repaired,
                shard: 1,
                old_contract: Some(i),
                new_contract: Some(i + 1),
                host: [9; 32],
            });
        }
        assert_eq!(m.history.len(), MAX_HISTORY);
        assert_eq!(m.history.last().map(|e| e.at), Some(MAX_HISTORY as u64 + 9));
        assert_eq!(m.history.first().map(|e| e.at), Some(10));
    }
}
