//! Files stored as K+M shards (issue 20, "supersafe storage"): `put`,
//! `get`, `repair` and the health `masp ls` shows.
//!
//! - **Layout** ([`crate::erasure`]): the plaintext's chunks in stripes of
//!   K, M Reed-Solomon parity chunks per stripe (copies for K = 1, which is
//!   what `--replicas N` stores), and chunk `i` of shard `t` sealed under
//!   shard `t`'s own key ([`crate::crypto::ShardCipher`]). Every stored
//!   shard is one storage contract with its own Merkle root on its own host;
//!   hosts and the chain see ordinary contracts.
//! - **Put** ([`put`]): seals the file once to learn every shard's chunk
//!   roots (on every core, a stripe at a time), places all shards with one
//!   `place_shards` call, saves the manifest and the resume record, waits
//!   for the matches, then uploads stripe by stripe to every host in
//!   parallel (reading the source again with `read_exact_at`: memory is a
//!   few stripes), hands each host its shard's chunk roots and the sealed
//!   manifest, and waits for the confirmations. Running it again resumes.
//! - **Get** ([`get`], [`Reader`]): per stripe, asks K hosts (the fastest
//!   first; a failure is replaced at once) and one spare once they take
//!   longer than they usually do, keeps the first K chunks that match their
//!   chunk root and open, drops the slow tail, and decodes if a data chunk
//!   is missing. Any M hosts may be dead or lying.
//! - **Repair** ([`repair`]): rebuilds every shard whose contract is gone
//!   (or, asked by hand, whose host does not serve) from K others, places
//!   them with one `place_shards` call avoiding every host that holds or
//!   lost a shard of the file, uploads them, and gives the new contracts
//!   the new manifest (hosts keep a contract's first manifest, so the old
//!   hosts keep theirs; the newest copy is the one with the latest
//!   `updated`). It never needs the original file. `masp agent` runs it by
//!   itself for files that lost a shard ([`auto_repair_pass`]).

use std::{
    collections::{BTreeMap, BTreeSet},
    fs::File,
    io,
    os::unix::fs::FileExt,
    sync::atomic::{AtomicU64, Ordering::Relaxed},
};

use anyhow::{bail, Result};
use masp_chain::{api::runtime_types::pallet_storage_market::types::ContractState, AccountId32};
use masp_primitives::{
    manifest::{Manifest, Shard},
    market::ContractId,
};
use masp_proofs::Hash;
use rayon::prelude::*;

use crate::{
    crypto::{CryptoError, FileCipher, FileId, Key, ShardCipher, PLAIN_CHUNK, TAG_LEN},
    erasure::{Layout, ShardError},
};

mod put;
mod read;
mod repair;
mod upload;

pub use put::{put, Placed, PutOptions, PutSummary};
pub use read::{get, live_contracts, read_to_file, Reader, Source};
pub use repair::{auto_repair_pass, repair, AutoRepair, Rebuilt, RepairOptions, RepairReport};

use crate::ops::ChainContract;

/// [`PLAIN_CHUNK`] as a `u64`.
const CHUNK: u64 = PLAIN_CHUNK as u64;

/// How a file is spread over hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redundancy {
    /// K data + M parity shards (`--shards K+M`): any K give the file back.
    Shards {
        /// Data shards.
        k: usize,
        /// Parity shards.
        m: usize,
    },
    /// N copies, each sealed under its own key (`--replicas N`): the layout
    /// 1+(N-1).
    Replicas(usize),
}

impl Redundancy {
    /// What `put` and `quote` use when neither `--shards` nor `--replicas`
    /// is given: 4+2 (1.5x the file; any 2 hosts may vanish).
    pub const DEFAULT: Self = Self::Shards { k: 4, m: 2 };

    /// The layout's (K, M).
    pub fn km(self) -> (usize, usize) {
        match self {
            Self::Shards { k, m } => (k, m),
            Self::Replicas(n) => (1, n.saturating_sub(1)),
        }
    }

    /// From `--shards` and `--replicas` (at most one given; neither:
    /// [`Redundancy::DEFAULT`]).
    pub fn from_args(shards: Option<&str>, replicas: Option<u32>) -> Result<Self> {
        match (shards, replicas) {
            (Some(_), Some(_)) => bail!("--shards and --replicas conflict: give one of them"),
            (Some(s), None) => {
                let (k, m) = crate::erasure::parse_shards(s)?;
                Ok(Self::Shards { k, m })
            }
            (None, Some(0)) => bail!("--replicas must be at least 1"),
            (None, Some(n)) => Ok(Self::Replicas(n as usize)),
            (None, None) => Ok(Self::DEFAULT),
        }
    }
}

impl std::fmt::Display for Redundancy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Shards { k, m } => write!(f, "--shards {k}+{m}"),
            Self::Replicas(n) => write!(f, "--replicas {n}"),
        }
    }
}

pub use masp_cipher::manifest::{check_manifest_layout, check_shards, BadManifest};

/// Why a stripe could not be sealed from the source file.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// Reading the file failed (it shrank, or a disk error).
    #[error("reading the file: {0}")]
    Io(#[from] io::Error),
    /// The layout refused the stripe (not expected: the lengths are its own).
    #[error(transparent)]
    Shard(#[from] ShardError),
}

/// A file's shards: its layout and each shard's cipher.
pub struct ShardSet {
    layout: Layout,
    ciphers: Vec<ShardCipher>,
}

impl ShardSet {
    /// The shards of file `file` (whose key is `file_key`) laid out as
    /// `layout`.
    pub fn new(file_key: &Key, file: FileId, layout: Layout) -> Self {
        let ciphers = (0..layout.shards())
            .map(|t| ShardCipher::new(file_key, file, t as u32, layout.shard_chunks(t)))
            .collect();
        Self { layout, ciphers }
    }

    /// The layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The sealed chunks of stripe `stripe` of the shards in `want`, from
    /// the stripe's data chunks (parity is encoded only if a parity shard is
    /// wanted).
    pub fn seal_stripe(
        &self,
        stripe: u64,
        data: &[Vec<u8>],
        want: &[usize],
    ) -> Result<Vec<(usize, Vec<u8>)>, ShardError> {
        let l = &self.layout;
        let refs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
        let parity = if want.iter().any(|&t| l.is_parity(t)) {
            l.encode_stripe(stripe, &refs)?
        } else {
            Vec::new()
        };
        want.iter()
            .map(|&t| {
                let cipher = self.ciphers.get(t).ok_or(ShardError::NoSuchShard {
                    shard: t,
                    shards: l.shards(),
                })?;
                let plain = if t < l.k() {
                    refs.get(t).copied()
                } else {
                    parity.get(t - l.k()).map(Vec::as_slice)
                }
                .filter(|_| l.has_chunk(stripe, t))
                .ok_or(ShardError::NoSuchChunk { stripe, shard: t })?;
                let mut buf = Vec::with_capacity(plain.len() + TAG_LEN);
                buf.extend_from_slice(plain);
                cipher.seal(stripe, &mut buf);
                Ok((t, buf))
            })
            .collect()
    }

    /// Opens sealed chunk `stripe` of shard `shard` in place.
    pub fn open(&self, shard: usize, stripe: u64, buf: &mut Vec<u8>) -> Result<(), CryptoError> {
        match self.ciphers.get(shard) {
            Some(c) => c.open(stripe, buf),
            None => Err(CryptoError::Tampered(stripe)),
        }
    }
}

/// The data chunks of stripe `stripe` of `file` laid out as `layout`.
pub fn read_stripe(file: &File, layout: &Layout, stripe: u64) -> io::Result<Vec<Vec<u8>>> {
    (0..layout.stripe_data_chunks(stripe))
        .map(|j| {
            let len = layout.plain_len(stripe, j);
            let mut buf = Vec::with_capacity(len + TAG_LEN);
            buf.resize(len, 0);
            file.read_exact_at(&mut buf, (stripe * layout.k() as u64 + j as u64) * CHUNK)?;
            Ok(buf)
        })
        .collect()
}

/// Seals `file` as `set`'s shards on every core, a stripe at a time (memory:
/// a stripe per core), and returns every stored shard with its chunk roots
/// and Merkle root. `progress(bytes)` reports plaintext read so far.
pub fn seal_shards(
    file: &File,
    set: &ShardSet,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<Shard>, SealError> {
    let l = set.layout();
    let stored: Vec<usize> = l.stored_shards().collect();
    let done = AtomicU64::new(0);
    let per_stripe: Vec<Vec<(usize, Hash)>> = (0..l.stripe_count())
        .into_par_iter()
        .map(|s| {
            let data = read_stripe(file, l, s)?;
            let want: Vec<usize> = stored
                .iter()
                .copied()
                .filter(|&t| l.has_chunk(s, t))
                .collect();
            let sealed = set.seal_stripe(s, &data, &want)?;
            let plain: u64 = data.iter().map(|d| d.len() as u64).sum();
            progress(done.fetch_add(plain, Relaxed) + plain);
            Ok(sealed
                .into_iter()
                .map(|(t, c)| (t, masp_proofs::chunk_root(&c)))
                .collect())
        })
        .collect::<Result<_, SealError>>()?;
    let mut roots: Vec<Vec<Hash>> = vec![Vec::new(); l.shards()];
    for stripe in per_stripe {
        for (t, root) in stripe {
            roots[t].push(root);
        }
    }
    Ok(stored
        .into_iter()
        .map(|t| {
            let chunk_roots = std::mem::take(&mut roots[t]);
            Shard {
                index: t as u32,
                size: l.shard_size(t),
                root: masp_proofs::root_of_chunk_roots(&mut chunk_roots.clone()),
                chunk_roots,
            }
        })
        .collect())
}

/// Chunk roots by shard index (empty for shards not stored).
fn roots_by_shard(layout: &Layout, shards: &[Shard]) -> Vec<Vec<Hash>> {
    let mut roots = vec![Vec::new(); layout.shards()];
    for s in shards {
        if let Some(r) = roots.get_mut(s.index as usize) {
            r.clone_from(&s.chunk_roots);
        }
    }
    roots
}

/// The [`ShardSet`] of manifest `m` with this account's `master` key.
fn shard_set(master: &Key, m: &Manifest, layout: Layout) -> ShardSet {
    ShardSet::new(&FileCipher::file_key(master, &m.file_id), m.file_id, layout)
}

// ---------------------------------------------------------------------
// Health.
// ---------------------------------------------------------------------

/// Where a replica is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaState {
    /// Confirmed by its host; proven every epoch.
    Active,
    /// Matched; the upload is not confirmed yet.
    AwaitingUpload,
    /// Its contract ended after its term.
    Completed,
    /// Its contract ended before its term: the host lost the data, never
    /// confirmed it, or it was cancelled.
    Lost,
    /// Its contract ended; its term is unknown (a version 1 manifest).
    Ended,
}

impl ReplicaState {
    /// As `masp ls --json` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::AwaitingUpload => "awaiting_upload",
            Self::Completed => "completed",
            Self::Lost => "lost",
            Self::Ended => "ended",
        }
    }

    /// Whether the contract is live (a shard held or being uploaded).
    pub fn is_live(self) -> bool {
        matches!(self, Self::Active | Self::AwaitingUpload)
    }
}

/// One replica as `masp ls` shows it.
#[derive(Clone, Debug)]
pub struct ReplicaLine {
    /// The contract.
    pub contract: ContractId,
    /// The shard (`None`: a contract no manifest lists).
    pub shard: Option<u32>,
    /// The host.
    pub host: AccountId32,
    /// Its state.
    pub state: ReplicaState,
    /// The last epoch of its term (`u32::MAX`: unknown).
    pub last_epoch: u32,
    /// Paid to the host so far (live contracts only).
    pub paid: u128,
    /// Escrow left (live contracts only).
    pub escrow: u128,
}

/// A file's health.
#[derive(Clone, Debug)]
pub struct Health {
    /// Stored shards with a confirmed (active) contract.
    pub alive: usize,
    /// Stored shards.
    pub stored: usize,
    /// Stored shards it takes to read the file.
    pub needed: usize,
    /// Stored shards with no live contract while the file's term runs: what
    /// a repair rebuilds.
    pub lost: Vec<u32>,
    /// The last epoch of the file's term (the latest of its replicas';
    /// `None` if unknown).
    pub term_end: Option<u32>,
    /// Every replica of the manifest.
    pub replicas: Vec<ReplicaLine>,
}

/// The health of the file of manifest `m` given this account's `live`
/// contracts at epoch `epoch`.
pub fn health(m: &Manifest, live: &BTreeMap<ContractId, ChainContract>, epoch: u32) -> Health {
    let replicas: Vec<ReplicaLine> = m
        .replicas
        .iter()
        .map(|r| {
            let (state, last_epoch, paid, escrow) = match live.get(&r.contract) {
                Some(c) => (
                    if matches!(c.state, ContractState::Active) {
                        ReplicaState::Active
                    } else {
                        ReplicaState::AwaitingUpload
                    },
                    c.last_epoch,
                    c.paid,
                    c.escrow,
                ),
                None if r.last_epoch == u32::MAX => (ReplicaState::Ended, r.last_epoch, 0, 0),
                None if epoch > r.last_epoch => (ReplicaState::Completed, r.last_epoch, 0, 0),
                None => (ReplicaState::Lost, r.last_epoch, 0, 0),
            };
            ReplicaLine {
                contract: r.contract,
                shard: Some(r.shard),
                host: live
                    .get(&r.contract)
                    .map(|c| c.host)
                    .unwrap_or(AccountId32(r.host)),
                state,
                last_epoch,
                paid,
                escrow,
            }
        })
        .collect();
    let alive: BTreeSet<u32> = replicas
        .iter()
        .filter(|r| r.state == ReplicaState::Active)
        .filter_map(|r| r.shard)
        .collect();
    let held: BTreeSet<u32> = replicas
        .iter()
        .filter(|r| r.state.is_live())
        .filter_map(|r| r.shard)
        .collect();
    let term_end = replicas
        .iter()
        .map(|r| r.last_epoch)
        .filter(|&e| e != u32::MAX)
        .max();
    let running = term_end.is_some_and(|e| e > epoch);
    let lost = m
        .shards
        .iter()
        .map(|s| s.index)
        .filter(|t| running && !held.contains(t))
        .collect();
    let needed = check_manifest_layout(m).map_or(m.k as usize, |l| l.needed());
    Health {
        alive: m.shards.iter().filter(|s| alive.contains(&s.index)).count(),
        stored: m.shards.len(),
        needed,
        lost,
        term_end,
        replicas,
    }
}

#[cfg(test)]
mod tests {
    use super::{upload::suggestion, *};
    use masp_chain::api::runtime_types::pallet_storage_market::types::Contract;
    use masp_primitives::manifest::{ChunkSealing, KdfParams, Replica, MANIFEST_VERSION};

    fn layout_file(k: usize, m: usize, size: u64) -> (Vec<u8>, tempfile::NamedTempFile) {
        let data: Vec<u8> = (0..size).map(|i| (i * 131 % 251) as u8).collect();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, &data).unwrap();
        let _ = (k, m);
        (data, f)
    }

    #[test]
    fn sealed_shards_have_the_layouts_sizes_and_roots_and_open_back() {
        let file_key = [4; 32];
        for (k, m, size) in [
            (4, 2, 100_000u64),
            (4, 2, 9 * CHUNK + 12_345),
            (1, 2, 2 * CHUNK + 77),
            (2, 1, 0),
        ] {
            let (data, f) = layout_file(k, m, size);
            let layout = Layout::new(k, m, size).unwrap();
            let set = ShardSet::new(&file_key, [1; 16], layout);
            let file = File::open(f.path()).unwrap();
            let shards = seal_shards(&file, &set, &|_| {}).unwrap();
            assert_eq!(
                shards.iter().map(|s| s.index as usize).collect::<Vec<_>>(),
                layout.stored_shards().collect::<Vec<_>>()
            );
            check_shards(ChunkSealing::ShardKeys, k as u32, m as u32, size, &shards).unwrap();
            // Distinct roots: the chain refuses duplicates.
            let roots: BTreeSet<_> = shards.iter().map(|s| s.root).collect();
            assert_eq!(roots.len(), shards.len(), "{k}+{m} {size}");
            // Re-sealing a stripe gives the same chunks; they open and
            // rebuild the file from the parity shards alone when K = 1, or
            // from any K.
            let mut plain = Vec::new();
            for s in 0..layout.stripe_count() {
                let d = read_stripe(&file, &layout, s).unwrap();
                let want: Vec<usize> = layout
                    .stored_shards()
                    .filter(|&t| layout.has_chunk(s, t))
                    .collect();
                let sealed = set.seal_stripe(s, &d, &want).unwrap();
                let mut opened = Vec::new();
                for (t, c) in sealed {
                    assert_eq!(
                        masp_proofs::chunk_root(&c),
                        shards
                            .iter()
                            .find(|x| x.index as usize == t)
                            .unwrap()
                            .chunk_roots[s as usize]
                    );
                    let mut b = c.clone();
                    set.open(t, s, &mut b).unwrap();
                    opened.push((t, b));
                }
                // Keep the last `need` (parity first).
                let need = layout.stripe_data_chunks(s);
                let given: Vec<(usize, &[u8])> = opened
                    .iter()
                    .rev()
                    .take(need)
                    .map(|(t, b)| (*t, &b[..]))
                    .collect();
                for c in layout.reconstruct_stripe(s, &given).unwrap() {
                    plain.extend(c);
                }
            }
            assert_eq!(plain, data);
        }
    }

    #[test]
    fn a_manifests_shards_must_match_its_layout() {
        let layout = Layout::new(4, 2, 100_000).unwrap();
        let set = ShardSet::new(&[4; 32], [1; 16], layout);
        let (_, f) = layout_file(4, 2, 100_000);
        let shards = seal_shards(&File::open(f.path()).unwrap(), &set, &|_| {}).unwrap();
        let check = |s: &[Shard]| check_shards(ChunkSealing::ShardKeys, 4, 2, 100_000, s);
        assert!(check(&shards).is_ok());
        assert!(matches!(check(&shards[1..]), Err(BadManifest::Missing(0))));
        let mut dup = shards.clone();
        dup.push(shards[0].clone());
        assert!(matches!(check(&dup), Err(BadManifest::Duplicate(0))));
        let mut extra = shards.clone();
        extra[1].index = 1;
        assert!(matches!(check(&extra), Err(BadManifest::Unexpected(1))));
        let mut size = shards.clone();
        size[0].size += 1;
        assert!(matches!(check(&size), Err(BadManifest::Size { .. })));
        let mut roots = shards.clone();
        roots[2].chunk_roots[0][0] ^= 1;
        assert!(matches!(check(&roots), Err(BadManifest::Roots(5))));
        let mut chunks = shards.clone();
        chunks[2].chunk_roots.push([0; 32]);
        assert!(matches!(check(&chunks), Err(BadManifest::Chunks { .. })));
        // A file key (legacy) file is one K = 1 shard.
        let legacy = vec![Shard {
            index: 0,
            size: crate::crypto::ciphertext_size(100_000),
            root: shards[0].root,
            chunk_roots: shards[0].chunk_roots.clone(),
        }];
        assert!(check_shards(ChunkSealing::FileKey, 1, 2, 100_000, &legacy).is_ok());
        assert!(check_shards(ChunkSealing::FileKey, 2, 2, 100_000, &legacy).is_err());
    }

    #[test]
    fn redundancy_comes_from_shards_or_replicas() {
        assert_eq!(
            Redundancy::from_args(None, None).unwrap(),
            Redundancy::DEFAULT
        );
        assert_eq!(Redundancy::DEFAULT.km(), (4, 2));
        assert_eq!(
            Redundancy::from_args(Some("2+1"), None).unwrap(),
            Redundancy::Shards { k: 2, m: 1 }
        );
        assert_eq!(Redundancy::from_args(None, Some(3)).unwrap().km(), (1, 2));
        assert!(Redundancy::from_args(Some("2+1"), Some(3)).is_err());
        assert!(Redundancy::from_args(None, Some(0)).is_err());
        assert!(Redundancy::from_args(Some("0+1"), None).is_err());
        assert_eq!(Redundancy::Replicas(2).to_string(), "--replicas 2");
        assert!(suggestion(3).contains("--shards 2+1"));
        assert!(suggestion(6).contains("--shards 4+2"));
        assert!(suggestion(2).contains("--replicas 2"));
    }

    fn contract(root: [u8; 32], state: ContractState, last_epoch: u32) -> ChainContract {
        Contract {
            request: 1,
            sender: AccountId32([0; 32]),
            host: AccountId32([9; 32]),
            size: 16,
            merkle_root: root,
            leaf_count: 1,
            price: 1,
            epoch_cost: 1,
            start: 0,
            end: 100,
            first_epoch: 1,
            last_epoch,
            upload_deadline: 10,
            state,
            escrow: 5,
            paid: 2,
            last_paid_epoch: None,
        }
    }

    #[test]
    fn health_counts_alive_shards_and_finds_the_lost_ones() {
        let layout = Layout::new(2, 1, 2 * CHUNK).unwrap();
        let set = ShardSet::new(&[4; 32], [1; 16], layout);
        let (_, f) = layout_file(2, 1, 2 * CHUNK);
        let shards = seal_shards(&File::open(f.path()).unwrap(), &set, &|_| {}).unwrap();
        let replica = |contract, shard| Replica {
            contract,
            host: [contract as u8; 32],
            last_epoch: 20,
            shard,
        };
        let m = Manifest {
            version: MANIFEST_VERSION,
            request: 1,
            file_id: [1; 16],
            name: b"x".to_vec(),
            size: 2 * CHUNK,
            master_kdf: KdfParams {
                m_kib: 1,
                t: 1,
                p: 1,
            },
            created: 0,
            updated: 0,
            sealing: ChunkSealing::ShardKeys,
            k: 2,
            m: 1,
            replicas: vec![replica(10, 0), replica(11, 1), replica(12, 2)],
            shards: shards.clone(),
            history: Vec::new(),
        };
        let mut live = BTreeMap::new();
        live.insert(10, contract(shards[0].root, ContractState::Active, 20));
        live.insert(
            11,
            contract(shards[1].root, ContractState::AwaitingUpload, 20),
        );
        let h = health(&m, &live, 5);
        assert_eq!((h.alive, h.stored, h.needed), (1, 3, 2));
        assert_eq!(h.lost, vec![2]);
        assert_eq!(h.term_end, Some(20));
        assert_eq!(
            h.replicas.iter().map(|r| r.state).collect::<Vec<_>>(),
            [
                ReplicaState::Active,
                ReplicaState::AwaitingUpload,
                ReplicaState::Lost
            ]
        );
        // After the term, a gone contract completed: nothing to repair.
        let h = health(&m, &BTreeMap::new(), 21);
        assert!(h.lost.is_empty());
        assert!(h
            .replicas
            .iter()
            .all(|r| r.state == ReplicaState::Completed));
    }
}
