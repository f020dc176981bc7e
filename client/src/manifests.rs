//! A file's manifest (its name, size, layout, shards' roots and replicas,
//! sealed under the Sender's key): opened and checked against the chain,
//! kept on this machine (`<home>/manifests`), fetched from a host when
//! missing, and synced for every file the chain holds contracts for.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    time::Duration,
};

use anyhow::{anyhow, bail, Context, Result};
use masp_chain::{api::runtime_types::pallet_storage_market::types::Contract, AccountId32};
use masp_primitives::{
    manifest::Manifest,
    market::{ContractId, RequestId},
    ticket::TicketOp,
};

use crate::{
    crypto::Key,
    fsutil,
    hostapi::{sign_ticket, HostApi},
    ops::{ChainContract, Ctx},
};

pub use masp_cipher::manifest::{manifest_key, seal_manifest, Sealing};

/// Opens the manifest sealed for request `request`; a clear error if it is
/// not this account's, is another file's, was altered or cut short, or its
/// shards do not add up ([`masp_cipher::manifest::open_manifest`]).
/// Manifests sealed by older clients ([`Sealing::Legacy`]) still open; a
/// version 1 or 2 manifest (which does not name its request) gets
/// `request` as its file. A version 3 manifest names its file
/// ([`Manifest::request`]): `request` itself, or the file a repair placed
/// request `request` for.
pub fn open_manifest(
    master: &Key,
    request: RequestId,
    sealed: &[u8],
) -> Result<(Manifest, Sealing)> {
    Ok(masp_cipher::manifest::open_manifest(
        master, request, sealed,
    )?)
}

/// What the chain says about one replica of a file: what a manifest
/// fetched from its host must match before it is used or cached.
#[derive(Clone, Debug)]
pub struct OnChainReplica {
    /// The file (storage request) it belongs to.
    pub request: RequestId,
    /// The contract.
    pub contract: ContractId,
    /// Bytes of ciphertext the contract stores.
    pub size: u64,
    /// The contract's Merkle root.
    pub merkle_root: [u8; 32],
    /// The contract's leaf count.
    pub leaf_count: u64,
}

impl OnChainReplica {
    /// Of contract `id`.
    pub fn of(id: ContractId, c: &Contract<AccountId32, u32>) -> Self {
        Self {
            request: c.request,
            contract: id,
            size: c.size,
            merkle_root: c.merkle_root,
            leaf_count: c.leaf_count,
        }
    }
}

/// Checks manifest `m` against the contract it was fetched for: the shard
/// that contract holds (the replica naming it, else the shard with its
/// root) has the contract's ciphertext size, leaf count and Merkle root,
/// and chunk roots that make up that root (so every chunk checked against
/// them is the contract's).
pub fn check_manifest(m: &Manifest, on_chain: &OnChainReplica) -> Result<()> {
    let id = on_chain.contract;
    let shard = m
        .replica(id)
        .and_then(|r| m.shard(r.shard))
        .or_else(|| m.shard_with_root(&on_chain.merkle_root))
        .or_else(|| m.shards.first())
        .ok_or_else(|| anyhow!("the manifest lists no shard: it is not this file's manifest"))?;
    if shard.size != on_chain.size {
        bail!(
            "the manifest describes {} bytes of ciphertext but contract {id} stores {}: it is \
             not this file's manifest",
            shard.size,
            on_chain.size
        );
    }
    if masp_proofs::leaf_count(shard.size) != on_chain.leaf_count {
        bail!(
            "the manifest's {} bytes make {} leaves but contract {id} has {}: it is not this \
             file's manifest",
            shard.size,
            masp_proofs::leaf_count(shard.size),
            on_chain.leaf_count
        );
    }
    if shard.root != on_chain.merkle_root {
        bail!(
            "the manifest's Merkle root 0x{} is not contract {id}'s 0x{}: it is not this file's \
             manifest",
            hex::encode(shard.root),
            hex::encode(on_chain.merkle_root)
        );
    }
    if masp_proofs::root_of_chunk_roots(&mut shard.chunk_roots.clone()) != shard.root {
        bail!("the manifest's chunk roots do not make up its Merkle root: altered");
    }
    Ok(())
}

/// Sealed manifests kept on this machine (`<home>/manifests`).
#[derive(Clone, Debug)]
pub struct ManifestStore {
    dir: PathBuf,
}

impl ManifestStore {
    /// The store in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn path(&self, request: RequestId) -> PathBuf {
        self.dir.join(format!("{request}.manifest"))
    }

    /// Saves the sealed manifest of file `request` (atomic).
    pub fn save(&self, request: RequestId, sealed: &[u8]) -> Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        fsutil::write_atomic(&self.path(request), sealed, 0o600)
            .with_context(|| format!("saving the manifest of file {request}"))
    }

    /// The sealed manifest of file `request`, if kept.
    pub fn load(&self, request: RequestId) -> Option<Vec<u8>> {
        std::fs::read(self.path(request)).ok()
    }

    /// Forgets file `request`'s manifest.
    pub fn remove(&self, request: RequestId) {
        let _ = std::fs::remove_file(self.path(request));
    }

    /// Files with a kept manifest.
    pub fn files(&self) -> Vec<RequestId> {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                name.strip_suffix(".manifest").and_then(|s| s.parse().ok())
            })
            .collect()
    }
}

/// Fetches the manifest of `on_chain`'s file from its host `api`, opens it
/// and checks it against the contract ([`check_manifest`]); only then keeps
/// it in `store`, sealed for its file ([`Manifest::request`]), unless a copy
/// kept there is newer (a later `updated`). A manifest of another file, or
/// an altered one, is an error and nothing is kept.
pub async fn fetch_manifest(
    api: &HostApi,
    keypair: &masp_chain::Keypair,
    genesis: [u8; 32],
    master: &Key,
    on_chain: &OnChainReplica,
    store: &ManifestStore,
) -> Result<Manifest> {
    let t = sign_ticket(
        keypair,
        genesis,
        TicketOp::Download,
        on_chain.contract,
        0,
        0,
        None,
        Duration::from_secs(300),
    );
    let sealed = api.get_manifest(on_chain.contract, &t).await?;
    let request = on_chain.request;
    let (m, sealing) = open_manifest(master, request, &sealed)
        .and_then(|(m, sealing)| check_manifest(&m, on_chain).map(|()| (m, sealing)))
        .with_context(|| {
            format!(
                "{}: the manifest of file {request} (contract {})",
                api.endpoint(),
                on_chain.contract
            )
        })?;
    let file = m.request;
    let kept = store
        .load(file)
        .and_then(|s| open_manifest(master, file, &s).ok())
        .map(|(k, _)| k.updated);
    if kept.is_none_or(|updated| updated < m.updated) {
        match sealing {
            Sealing::Bound if file == request => store.save(file, &sealed)?,
            _ => store.save(file, &seal_manifest(master, file, &m))?,
        }
    }
    Ok(m)
}

/// Finds and opens the manifest of file `request`: the local copy while
/// it is current (every stored shard has a live contract it lists), else
/// the newest copy found (latest `updated`) among the local one and those
/// the hosts of this account's other contracts keep ([`sync_manifests`]:
/// a new machine, from the phrase alone, or a file repaired elsewhere).
pub async fn find_manifest(ctx: &Ctx, request: RequestId) -> Result<Manifest> {
    let live = ctx.my_contracts().await?;
    if let Some(sealed) = ctx.local_manifest(request) {
        // Written by this account's own client (`put`, `repair`, or a
        // manifest checked against the chain when it was fetched).
        let (m, _) = open_manifest(&ctx.id.master, request, &sealed)?;
        let ids: BTreeSet<ContractId> = live.iter().map(|(id, _)| *id).collect();
        let current = m.replicas.iter().all(|r| ids.contains(&r.contract))
            && m.shards
                .iter()
                .all(|s| m.replicas.iter().any(|r| r.shard == s.index));
        if current {
            return Ok(m);
        }
    }
    let (mut files, errors) = sync_manifests(ctx, &live).await;
    files.remove(&request).ok_or_else(|| {
        if errors.is_empty() {
            anyhow!(
                "no file {request}: no local manifest and no live contract of this account \
                 (see `masp ls`)"
            )
        } else {
            anyhow!(
                "no manifest of file {request} was found:\n  {}",
                errors.join("\n  ")
            )
        }
    })
}

/// The file whose local manifest lists contract `contract`, if any (a
/// repair's contracts belong to another request than their file's).
pub fn file_of_contract(ctx: &Ctx, contract: ContractId) -> Option<RequestId> {
    let store = ctx.manifests();
    store.files().into_iter().find(|&file| {
        store
            .load(file)
            .and_then(|sealed| open_manifest(&ctx.id.master, file, &sealed).ok())
            .is_some_and(|(m, _)| m.replica(contract).is_some())
    })
}

/// This account's files' manifests by file: the local copies, and for every
/// request among `live` contracts that no local manifest accounts for (not
/// a local file, no contract a local manifest lists), the manifest one of
/// its hosts keeps, checked against its contract (a file repaired
/// elsewhere, or stored from another machine). Of two copies of a file's
/// manifest the newer (latest `updated`) wins and is kept locally. Also
/// returns what could not be read.
pub async fn sync_manifests(
    ctx: &Ctx,
    live: &[(ContractId, Contract<AccountId32, u32>)],
) -> (BTreeMap<RequestId, Manifest>, Vec<String>) {
    let store = ctx.manifests();
    let mut files = BTreeMap::new();
    let mut errors = Vec::new();
    for id in store.files() {
        let Some(sealed) = store.load(id) else {
            continue;
        };
        match open_manifest(&ctx.id.master, id, &sealed) {
            Ok((m, _)) => {
                files.insert(id, m);
            }
            Err(e) => errors.push(format!("the local manifest of file {id}: {e:#}")),
        }
    }
    let known: BTreeSet<ContractId> = files
        .values()
        .flat_map(|m| m.replicas.iter().map(|r| r.contract))
        .collect();
    let mut unknown: BTreeMap<RequestId, Vec<(ContractId, &ChainContract)>> = BTreeMap::new();
    for (id, c) in live {
        if !known.contains(id) && !files.contains_key(&c.request) {
            unknown.entry(c.request).or_default().push((*id, c));
        }
    }
    for (request, contracts) in unknown {
        let mut tried = Vec::new();
        let mut found = None;
        for (id, c) in contracts {
            let fetched = async {
                let api = ctx.host_api(&c.host).await?;
                // Checked against the contract before it is used or kept: a
                // host cannot substitute another file's (or an altered)
                // manifest.
                fetch_manifest(
                    &api,
                    &ctx.id.keypair,
                    ctx.chain.genesis_hash().0,
                    &ctx.id.master,
                    &OnChainReplica::of(id, c),
                    &store,
                )
                .await
            }
            .await;
            match fetched {
                Ok(m) => {
                    found = Some(m);
                    break;
                }
                Err(e) => tried.push(format!("{e:#}")),
            }
        }
        match found {
            Some(m) => {
                let newer = files
                    .get(&m.request)
                    .is_none_or(|kept: &Manifest| kept.updated < m.updated);
                if newer {
                    files.insert(m.request, m);
                }
            }
            None => errors.push(format!(
                "no host returned the manifest of file {request}:\n    {}",
                tried.join("\n    ")
            )),
        }
    }
    (files, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto;
    use codec::Encode;
    use masp_primitives::manifest::{
        ChunkSealing, KdfParams, Replica, Shard, LEGACY_SEALING_CONTEXT, MANIFEST_VERSION,
    };

    /// Shard `index` of a 5-byte file: one 21-byte chunk of `fill`.
    fn shard(index: u32, fill: u8) -> Shard {
        let chunk_root = masp_proofs::chunk_root(&[fill; 21]);
        Shard {
            index,
            size: 21,
            root: masp_proofs::root_of_chunk_roots(&mut [chunk_root]),
            chunk_roots: vec![chunk_root],
        }
    }

    /// File 3: two replicas (K=1, M=1) of a 5-byte file.
    fn manifest() -> Manifest {
        Manifest {
            version: MANIFEST_VERSION,
            request: 3,
            file_id: [1; 16],
            name: b"a.txt".to_vec(),
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
            m: 1,
            shards: vec![shard(0, 9), shard(1, 8)],
            replicas: vec![
                Replica {
                    contract: 4,
                    host: [5; 32],
                    last_epoch: 9,
                    shard: 0,
                },
                Replica {
                    contract: 5,
                    host: [6; 32],
                    last_epoch: 9,
                    shard: 1,
                },
            ],
            history: Vec::new(),
        }
    }

    #[test]
    fn a_manifest_whose_shards_do_not_add_up_does_not_open() {
        let mut m = manifest();
        m.shards.pop();
        let e = open_manifest(&[7; 32], 3, &seal_manifest(&[7; 32], 3, &m)).unwrap_err();
        assert!(e.to_string().contains("does not add up"), "{e}");
        let mut m = manifest();
        m.replicas[1].shard = 7;
        assert!(open_manifest(&[7; 32], 3, &seal_manifest(&[7; 32], 3, &m)).is_err());
        // A repair's manifest, sealed for the repair's request, names its
        // file.
        let m = manifest();
        let (opened, _) = open_manifest(&[7; 32], 12, &seal_manifest(&[7; 32], 12, &m)).unwrap();
        assert_eq!(opened.request, 3);
    }

    #[test]
    fn each_contract_is_checked_against_its_own_shard() {
        let m = manifest();
        let on_chain = |contract, shard: &Shard| OnChainReplica {
            request: 3,
            contract,
            size: 21,
            merkle_root: shard.root,
            leaf_count: masp_proofs::leaf_count(21),
        };
        check_manifest(&m, &on_chain(4, &m.shards[0])).unwrap();
        check_manifest(&m, &on_chain(5, &m.shards[1])).unwrap();
        // Contract 5 holds shard 1: shard 0's root is not its.
        let e = check_manifest(&m, &on_chain(5, &m.shards[0]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("Merkle root"), "{e}");
        // A contract the manifest does not list is checked by its root.
        check_manifest(&m, &on_chain(9, &m.shards[1])).unwrap();
        let mut other = on_chain(9, &m.shards[1]);
        other.merkle_root = [0; 32];
        assert!(check_manifest(&m, &other).is_err());
    }

    #[test]
    fn a_manifest_opens_only_with_its_key_and_whole() {
        let m = manifest();
        let sealed = seal_manifest(&[7; 32], 3, &m);
        assert_eq!(
            open_manifest(&[7; 32], 3, &sealed).unwrap(),
            (m.clone(), Sealing::Bound)
        );
        let wrong = open_manifest(&[8; 32], 3, &sealed).unwrap_err().to_string();
        assert!(wrong.contains("wrong secret phrase"), "{wrong}");
        let cut = open_manifest(&[7; 32], 3, &sealed[..sealed.len() - 1]).unwrap_err();
        assert!(cut.to_string().contains("truncated"), "{cut}");
        let mut flipped = sealed.clone();
        flipped[20] ^= 1;
        assert!(open_manifest(&[7; 32], 3, &flipped).is_err());
    }

    /// Item 10 (issue 18): a manifest is sealed for its file; another file's
    /// manifest of the same account does not open as this one's.
    #[test]
    fn a_manifest_sealed_for_another_file_does_not_open() {
        let m = manifest();
        let other_file = seal_manifest(&[7; 32], 4, &m);
        let e = open_manifest(&[7; 32], 3, &other_file)
            .unwrap_err()
            .to_string();
        assert!(e.contains("another file's manifest"), "{e}");
        // What clients sealed before the context named the file still opens,
        // marked so that it is checked against the chain.
        let legacy =
            crypto::seal_object(&manifest_key(&[7; 32]), LEGACY_SEALING_CONTEXT, &m.encode());
        assert_eq!(
            open_manifest(&[7; 32], 3, &legacy).unwrap(),
            (m, Sealing::Legacy)
        );
    }

    /// Item 10 (issue 18): a manifest must match the contract it was fetched
    /// for: size, leaf count, Merkle root, and chunk roots making that root.
    #[test]
    fn a_manifest_must_match_its_contract_on_chain() {
        let m = manifest();
        let chain = OnChainReplica {
            request: 3,
            contract: 4,
            size: 21,
            merkle_root: m.shards[0].root,
            leaf_count: masp_proofs::leaf_count(21),
        };
        check_manifest(&m, &chain).unwrap();
        let refused = |chain: OnChainReplica, m: &Manifest| {
            check_manifest(m, &chain).unwrap_err().to_string()
        };
        let e = refused(
            OnChainReplica {
                merkle_root: [0; 32],
                ..chain.clone()
            },
            &m,
        );
        assert!(
            e.contains("Merkle root") && e.contains("not this file's"),
            "{e}"
        );
        let e = refused(
            OnChainReplica {
                size: 22,
                ..chain.clone()
            },
            &m,
        );
        assert!(e.contains("stores 22"), "{e}");
        let e = refused(
            OnChainReplica {
                leaf_count: 7,
                ..chain.clone()
            },
            &m,
        );
        assert!(e.contains("leaves"), "{e}");
        // The right root, but chunk roots that do not make it up.
        let mut forged = m.clone();
        forged.shards[0].chunk_roots = vec![[3; 32]];
        let e = refused(chain, &forged);
        assert!(e.contains("chunk roots"), "{e}");
    }
}
