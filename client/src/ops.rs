//! What the `masp` commands do on the network: manifests, get, ls, rm,
//! quote, links (files stored as shards: [`crate::shards`]).
//!
//! The chain is reached through `masp-chain` (subxt, typed from our
//! runtime's metadata); hosts through [`crate::hostapi`] with tickets this
//! account signs.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs::File,
    future::Future,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use futures::{stream, StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use masp_chain::{
    api::{
        self,
        runtime_types::pallet_storage_market::types::{Contract, ContractState},
    },
    AccountId32, Client,
};
use masp_primitives::{
    manifest::Manifest,
    market::{ContractId, RequestId},
    ticket::{SignedTicket, TicketOp, MAX_TICKET_TTL},
    token::{DECIMALS, SYMBOL},
};

use crate::{
    crypto::{self, FileCipher, Key, PLAIN_CHUNK},
    fsutil,
    hostapi::{self, sign_ticket, HostApi, HostNet},
    keys::Identity,
    shards::{self, ReplicaLine, ReplicaState},
};

/// A storage contract as the chain has it.
pub type ChainContract = Contract<AccountId32, u32>;

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

/// Whether a node's `system_chainType` is a development chain
/// (`Development` or `Local`): only there may hosts sit on loopback or
/// private addresses.
pub fn is_dev_chain_type(chain_type: &str) -> bool {
    matches!(chain_type, "Development" | "Local")
}

/// The node's `system_chainType` (`Development`, `Local`, `Live`, or a
/// custom one as JSON).
pub async fn fetch_chain_type(node_url: &str) -> Result<String> {
    use jsonrpsee::core::client::ClientT;
    let ws = jsonrpsee::ws_client::WsClientBuilder::default()
        .request_timeout(Duration::from_secs(30))
        .build(node_url)
        .await
        .with_context(|| format!("connecting to the node at {node_url}"))?;
    let t: serde_json::Value = ws
        .request("system_chainType", jsonrpsee::rpc_params![])
        .await
        .context("asking the node for its chain type (system_chainType)")?;
    Ok(match t {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    })
}

/// MASP amounts as people read them.
pub fn fmt_masp(amount: u128) -> String {
    let unit = 10u128.pow(DECIMALS as u32);
    let whole = amount / unit;
    let frac = amount % unit;
    if frac == 0 {
        return format!("{whole} {SYMBOL}");
    }
    let frac = format!("{frac:0width$}", width = DECIMALS as usize);
    format!("{whole}.{} {SYMBOL}", frac.trim_end_matches('0'))
}

/// Bytes as people read them.
pub fn fmt_bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

/// Everything a networked command needs.
pub struct Ctx {
    /// The chain.
    pub chain: Client,
    /// The node's RPC URL (asked for its chain type when a host's endpoint
    /// is a private address).
    pub node_url: String,
    /// The node's chain type, once asked.
    pub chain_type: tokio::sync::OnceCell<String>,
    /// TLS roots for hosts.
    pub net: HostNet,
    /// The user's keys.
    pub id: Identity,
    /// `~/.masp` (or `--home`).
    pub home: PathBuf,
    /// Draw progress bars.
    pub progress: bool,
    /// The most a download pays a host per GiB served (planck).
    pub max_egress_price: u128,
}

impl Ctx {
    /// This account.
    pub fn me(&self) -> AccountId32 {
        masp_chain::account(&self.id.keypair)
    }

    /// The manifests kept on this machine.
    pub fn manifests(&self) -> ManifestStore {
        ManifestStore::new(self.home.join("manifests"))
    }

    /// Where the resume record of a put of `source` is kept.
    pub(crate) fn pending_path(&self, source: &Path) -> PathBuf {
        let key = crypto::derive(&[0; 32], &[source.as_os_str().as_encoded_bytes()]);
        self.home
            .join("uploads")
            .join(format!("{}.json", hex::encode(&key[..8])))
    }

    /// Saves a sealed manifest locally (atomic).
    pub fn save_manifest(&self, request: RequestId, sealed: &[u8]) -> Result<()> {
        self.manifests().save(request, sealed)
    }

    fn local_manifest(&self, request: RequestId) -> Option<Vec<u8>> {
        self.manifests().load(request)
    }

    /// The market's current epoch.
    pub async fn current_epoch(&self) -> Result<u32> {
        let call = api::runtime_apis().storage_market_api().current_epoch();
        Ok(self.at().await?.runtime_apis().call(call).await?)
    }

    /// The node's chain type (asked once).
    pub async fn chain_type(&self) -> Result<&str> {
        Ok(self
            .chain_type
            .get_or_try_init(|| fetch_chain_type(&self.node_url))
            .await?
            .as_str())
    }

    pub(crate) async fn at(
        &self,
    ) -> Result<
        masp_chain::subxt::client::ClientAtBlock<
            masp_chain::MaspConfig,
            masp_chain::subxt::client::OnlineClientAtBlockImpl<masp_chain::MaspConfig>,
        >,
    > {
        Ok(self.chain.at_current_block().await?)
    }

    /// This account's live contracts.
    pub async fn my_contracts(&self) -> Result<Vec<(ContractId, Contract<AccountId32, u32>)>> {
        let call = api::runtime_apis()
            .storage_market_api()
            .sender_contracts(self.me(), 10_000);
        Ok(self.at().await?.runtime_apis().call(call).await?)
    }

    /// The live contracts of file `request` (its replicas).
    pub async fn file_contracts(
        &self,
        request: RequestId,
    ) -> Result<Vec<(ContractId, Contract<AccountId32, u32>)>> {
        let mut list: Vec<_> = self
            .my_contracts()
            .await?
            .into_iter()
            .filter(|(_, c)| c.request == request)
            .collect();
        list.sort_by_key(|(id, _)| *id);
        Ok(list)
    }

    /// A contract, if live.
    pub async fn contract(&self, id: ContractId) -> Result<Option<Contract<AccountId32, u32>>> {
        let call = api::runtime_apis().storage_market_api().contract(id);
        Ok(self.at().await?.runtime_apis().call(call).await?)
    }

    /// A host's API endpoint, from the chain.
    pub async fn host_api(&self, host: &AccountId32) -> Result<HostApi> {
        let call = api::runtime_apis().storage_market_api().host(*host);
        let view = self
            .at()
            .await?
            .runtime_apis()
            .call(call)
            .await?
            .ok_or_else(|| anyhow!("host {host} is not registered (any more)"))?;
        let endpoint = String::from_utf8(view.endpoint)
            .map_err(|_| anyhow!("host {host} registered an endpoint that is not UTF-8"))?;
        // Hosts on loopback/private addresses only on a development chain
        // (the node is asked only when an endpoint is one).
        let allow_private = match hostapi::private_address(&endpoint)
            .await
            .with_context(|| format!("host {host}"))?
        {
            None => false,
            Some(addr) => {
                let chain_type = self.chain_type().await?;
                if !is_dev_chain_type(chain_type) {
                    bail!(
                        "host {host}'s endpoint {endpoint} is {addr}, a loopback/private/\
                         link-local address: refused, since the node's chain is not a \
                         development chain (chain type {chain_type}); a host must register a \
                         public endpoint"
                    );
                }
                true
            }
        };
        self.net
            .api(&endpoint, allow_private)
            .with_context(|| format!("host {host}"))
    }

    pub(crate) async fn submit<Call: masp_chain::subxt::transactions::Payload>(
        &self,
        call: &Call,
    ) -> Result<masp_chain::Events> {
        Ok(
            masp_chain::submit(&self.chain, call, &self.id.keypair, Duration::from_secs(90))
                .await?,
        )
    }
}

/// The record that lets an interrupted put resume (`<home>/uploads/`).
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct Pending {
    /// The source file (canonical).
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// Its modification time (ns since the Unix epoch).
    pub modified: u128,
    /// The file's request.
    pub request: RequestId,
}

impl Pending {
    /// The record at `path`, if any.
    pub fn load(path: &Path) -> Option<Self> {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Saves it at `path` (atomic).
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        fsutil::write_atomic(path, &serde_json::to_vec(self)?, 0o600)
            .context("saving the upload's resume record")
    }

    /// The files with a put under way (a resume record).
    pub fn requests(ctx: &Ctx) -> BTreeSet<RequestId> {
        let Ok(dir) = std::fs::read_dir(ctx.home.join("uploads")) else {
            return BTreeSet::new();
        };
        dir.flatten()
            .filter_map(|e| Self::load(&e.path()))
            .map(|p| p.request)
            .collect()
    }
}

/// A file's modification time, ns since the Unix epoch.
pub(crate) fn modified_ns(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Whether request `request` still rests in the book (replicas unmatched).
async fn resting(ctx: &Ctx, request: RequestId) -> Result<bool> {
    let call = api::runtime_apis()
        .storage_market_api()
        .sender_requests(ctx.me(), 10_000);
    let book = ctx.at().await?.runtime_apis().call(call).await?;
    Ok(book.iter().any(|(id, _)| *id == request))
}

/// Waits (up to `wait`) while part of `request` rests in the book; then
/// takes back the unmatched remainder's escrow, and returns the contracts
/// that matched (none: nothing is stored, all escrow returned).
pub(crate) async fn wait_for_matches(
    ctx: &Ctx,
    request: RequestId,
    wait: Duration,
) -> Result<Vec<(ContractId, Contract<AccountId32, u32>)>> {
    let deadline = Instant::now() + wait;
    while resting(ctx, request).await? && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    if resting(ctx, request).await? {
        let cancelled = ctx
            .submit(&api::tx().storage_market().cancel_request(request))
            .await;
        // It may have matched or expired meanwhile: only an error while it
        // still rests is one.
        if let Err(e) = cancelled {
            if resting(ctx, request).await? {
                return Err(e.context("taking back the unmatched part of the request"));
            }
        }
    }
    ctx.file_contracts(request).await
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

/// `masp get`: downloads file `request` to `out` (default: its name in
/// the current directory). Every chunk is checked against its Merkle root
/// before it is decrypted; any failure falls back to another replica (of a
/// file stored as shards: to another shard, [`shards::get`]). Nothing is
/// written unless the whole file verifies.
pub async fn get(
    ctx: &Ctx,
    request: RequestId,
    out: Option<&Path>,
    parallel: usize,
) -> Result<(PathBuf, u64)> {
    let m = find_manifest(ctx, request).await?;
    let out = out_path(out, &m.name)?;
    if !m.is_legacy() {
        return shards::get(ctx, &m, &out, parallel).await;
    }
    // Stored by an older client: the same ciphertext on every replica.
    let shard = m
        .shards
        .first()
        .ok_or_else(|| anyhow!("the manifest lists no ciphertext"))?;
    let mut hosts = Vec::new();
    for r in &m.replicas {
        match ctx.host_api(&AccountId32(r.host)).await {
            Ok(api) => hosts.push((r.contract, AccountId32(r.host), api)),
            Err(e) => eprintln!("warning: replica {}: {e}", r.contract),
        }
    }
    let cipher = FileCipher::new(&ctx.id.master, m.file_id, m.size);
    let layout = Layout {
        size: m.size,
        cipher_size: shard.size,
        chunk_roots: shard.chunk_roots.clone(),
    };
    download(
        ctx,
        layout,
        hosts,
        cipher,
        TicketOp::Download,
        &out,
        parallel,
    )
    .await
}

/// `out`, else the file's own `name` (its last component only) in the
/// current directory.
pub(crate) fn out_path(out: Option<&Path>, name: &[u8]) -> Result<PathBuf> {
    if let Some(o) = out {
        return Ok(o.to_path_buf());
    }
    let name = String::from_utf8_lossy(name).to_string();
    let name = Path::new(&name)
        .file_name()
        .ok_or_else(|| anyhow!("the manifest has no file name; pass -o OUT"))?
        .to_owned();
    Ok(PathBuf::from(name))
}

/// What a download needs to know of a file: its sizes and chunk roots.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Plaintext bytes.
    pub size: u64,
    /// Ciphertext bytes (what each replica stores).
    pub cipher_size: u64,
    /// Merkle root of each ciphertext chunk.
    pub chunk_roots: Vec<[u8; 32]>,
}

/// Downloads a file laid out as `layout` from `hosts` (contract, host
/// account, its API) to `out`, with tickets for `op` signed by this
/// account, paying each host that charges for egress with receipts
/// ([`crate::egress`]): every chunk is checked against its root and opened
/// with `cipher` before it is written; a failure falls back to another
/// replica. Nothing is written unless the whole file verifies.
pub(crate) async fn download(
    ctx: &Ctx,
    layout: Layout,
    hosts: Vec<(ContractId, AccountId32, HostApi)>,
    cipher: FileCipher,
    op: TicketOp,
    out: &Path,
    parallel: usize,
) -> Result<(PathBuf, u64)> {
    if hosts.is_empty() {
        bail!("none of the file's hosts is reachable through the chain");
    }
    if layout.chunk_roots.len() as u64 != crypto::chunk_count(layout.size)
        || layout.cipher_size != crypto::ciphertext_size(layout.size)
    {
        bail!("the file's chunk list does not match its size: corrupt manifest");
    }
    let accounts: Vec<(AccountId32, HostApi)> = hosts
        .iter()
        .map(|(_, who, api)| (*who, api.clone()))
        .collect();
    let prepared =
        crate::egress::prepare(ctx, &accounts, layout.cipher_size, ctx.max_egress_price).await?;
    let mut hosts = hosts;
    hosts.retain(|(_, who, _)| !prepared.skipped.contains_key(&who.0));
    if hosts.is_empty() {
        bail!(
            "no host of the file can be used:\n  {}",
            prepared
                .skipped
                .iter()
                .map(|(h, why)| format!("{}: {why}", AccountId32(*h)))
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
    let payments = Arc::new(prepared.payments);
    // Hosts that served garbage or refused payment are not asked again
    // (nor paid again) during this download.
    let bad: Arc<Vec<std::sync::atomic::AtomicBool>> =
        Arc::new(hosts.iter().map(|_| Default::default()).collect());
    let m = Arc::new(layout);
    let hosts = Arc::new(hosts);
    let cipher = Arc::new(cipher);
    let bar = if ctx.progress {
        ProgressBar::new(m.size)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "downloading [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .map_err(|e| anyhow!("progress template: {e}"))?
        .progress_chars("=> "),
    );
    let count = m.chunk_roots.len() as u64;
    let size = m.size;
    let b = bar.clone();
    let result = write_file(out, size, move |file| async move {
        stream::iter(0..count)
            .map(|i| {
                let (m, hosts, file, cipher, bar, payments, bad) = (
                    m.clone(),
                    hosts.clone(),
                    file.clone(),
                    cipher.clone(),
                    b.clone(),
                    payments.clone(),
                    bad.clone(),
                );
                let keypair = ctx.id.keypair.clone();
                let genesis = ctx.chain.genesis_hash().0;
                async move {
                    let plain = fetch_chunk(
                        &keypair, genesis, op, &m, &hosts, &payments, &bad, &cipher, i,
                    )
                    .await?;
                    let len = plain.len() as u64;
                    tokio::task::spawn_blocking(move || {
                        file.write_all_at(&plain, i * PLAIN_CHUNK as u64)
                    })
                    .await??;
                    bar.inc(len);
                    Ok::<_, anyhow::Error>(())
                }
            })
            .buffer_unordered(parallel.max(1))
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    })
    .await;
    bar.finish_and_clear();
    result
}

/// Writes a `size`-byte file to `out` with no risk to what is there: `fill`
/// writes into a temporary sibling (at any offsets, from any task); only
/// if it succeeds is the file cut to `size`, synced and renamed over `out`
/// (and the directory synced). On failure the temporary file is removed and
/// nothing is written.
pub(crate) async fn write_file<F, Fut>(out: &Path, size: u64, fill: F) -> Result<(PathBuf, u64)>
where
    F: FnOnce(Arc<File>) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let (file, tmp) = fsutil::create_temp(out, 0o644)
        .with_context(|| format!("cannot write next to {}", out.display()))?;
    let file = Arc::new(file);
    let filled = fill(file.clone()).await;
    let done = filled.and_then(|()| {
        let file =
            Arc::try_unwrap(file).map_err(|_| anyhow!("download tasks still hold the file"))?;
        file.set_len(size)?;
        fsutil::commit(file, &tmp, out)?;
        Ok(())
    });
    match done {
        Ok(()) => Ok((out.to_path_buf(), size)),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e.context(format!("nothing was written to {}", out.display())))
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn fetch_chunk(
    keypair: &masp_chain::Keypair,
    genesis: [u8; 32],
    op: TicketOp,
    m: &Layout,
    hosts: &[(ContractId, AccountId32, HostApi)],
    payments: &crate::egress::Payments,
    bad: &[std::sync::atomic::AtomicBool],
    cipher: &FileCipher,
    i: u64,
) -> Result<Vec<u8>> {
    use std::sync::atomic::Ordering::Relaxed;
    let expected_len = (m.cipher_size - i * masp_proofs::CHUNK_SIZE as u64)
        .min(masp_proofs::CHUNK_SIZE as u64) as usize;
    let mut errors = Vec::new();
    // Spread chunks over replicas; fall back to the others in turn (two
    // rounds, each try with a fresh ticket).
    for k in 0..2 * hosts.len() {
        let h = (i as usize + k) % hosts.len();
        let (contract, who, api) = &hosts[h];
        if bad[h].load(Relaxed) {
            continue;
        }
        let drop_host = |why: String| {
            bad[h].store(true, Relaxed);
            why
        };
        let payment = payments.get(&who.0);
        let receipt = match payment.map(|p| p.receipt(expected_len as u64)) {
            None => None,
            Some(Some(r)) => Some(r),
            Some(None) => {
                errors.push(drop_host(format!(
                    "{}: this download's egress budget for the host is spent",
                    api.endpoint()
                )));
                continue;
            }
        };
        let t = sign_ticket(
            keypair,
            genesis,
            op,
            *contract,
            i as u32,
            i as u32,
            None,
            Duration::from_secs(300),
        );
        match api
            .get_chunk_paid(*contract, i as u32, &t, receipt.as_ref())
            .await
        {
            // The host counts more served than this account signed for (or
            // wants more than the allowance): never sign more to please it.
            Err(e) if e.status().map(|s| s.as_u16()) == Some(402) => {
                errors.push(drop_host(e.to_string()))
            }
            Ok(data) if data.len() != expected_len => errors.push(drop_host(format!(
                "{}: chunk {i} has {} bytes, expected {expected_len}",
                api.endpoint(),
                data.len()
            ))),
            Ok(data) if masp_proofs::chunk_root(&data) != m.chunk_roots[i as usize] => {
                errors.push(drop_host(format!(
                    "{}: chunk {i} does not match its Merkle root (tampered)",
                    api.endpoint()
                )))
            }
            Ok(data) => {
                let mut buf = data.to_vec();
                match cipher.open(i, &mut buf) {
                    Ok(()) => return Ok(buf),
                    Err(e) => errors.push(drop_host(format!("{}: {e}", api.endpoint()))),
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    let via = match op {
        TicketOp::Receive { listing } => format!(" --listing {listing}"),
        _ => String::new(),
    };
    let contracts: Vec<String> = hosts.iter().map(|(c, ..)| c.to_string()).collect();
    bail!(
        "chunk {i} could not be fetched from any replica:\n  {}\n\
         A host paid to store this file must serve it: `masp challenge open CONTRACT{via} \
         --leaf {}` (CONTRACT one of {}) makes its host publish that piece on chain or be \
         slashed",
        errors.join("\n  "),
        i * masp_proofs::LEAVES_PER_CHUNK,
        contracts.join(", ")
    )
}

/// `masp link`: temporary signed download links to every chunk of file
/// `request` on every replica (every shard's contract: the links give
/// ciphertext, of its shard): one ticket per replica and copy, valid for
/// `ttl`, issued to `receiver`. Each link works once (per byte range).
pub async fn links(
    ctx: &Ctx,
    request: RequestId,
    ttl: Duration,
    copies: u32,
    receiver: Option<[u8; 32]>,
) -> Result<Vec<String>> {
    if ttl.as_secs() > MAX_TICKET_TTL {
        bail!("--ttl may be at most {MAX_TICKET_TTL} s (hosts refuse longer tickets)");
    }
    let m = find_manifest(ctx, request).await?;
    let mut out = Vec::new();
    for r in &m.replicas {
        let count = m.shard(r.shard).map_or(0, |s| {
            u32::try_from(s.chunk_roots.len()).unwrap_or(u32::MAX)
        });
        if count == 0 {
            continue;
        }
        let api = ctx.host_api(&AccountId32(r.host)).await?;
        for _ in 0..copies {
            let t = sign_ticket(
                &ctx.id.keypair,
                ctx.chain.genesis_hash().0,
                TicketOp::Download,
                r.contract,
                0,
                count - 1,
                receiver,
                ttl,
            );
            let hex = t.to_hex();
            for i in 0..count {
                out.push(format!(
                    "{}/v1/contracts/{}/chunks/{i}?ticket={hex}",
                    api.endpoint(),
                    r.contract
                ));
            }
        }
    }
    Ok(out)
}

/// A download link as `masp link` prints it, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The host's endpoint.
    pub endpoint: String,
    /// The contract.
    pub contract: ContractId,
    /// The chunk.
    pub chunk: u32,
    /// The signed ticket.
    pub ticket: SignedTicket,
}

/// Parses a link `ENDPOINT/v1/contracts/C/chunks/I?ticket=HEX`.
pub fn parse_link(url: &str) -> Result<Link> {
    let bad = || {
        anyhow!("{url:?} is not a MASP download link (ENDPOINT/v1/contracts/C/chunks/I?ticket=...)")
    };
    let (path, query) = url.split_once('?').ok_or_else(bad)?;
    let (endpoint, rest) = path.split_once("/v1/contracts/").ok_or_else(bad)?;
    let (contract, chunk) = rest.split_once("/chunks/").ok_or_else(bad)?;
    let wire = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("ticket="))
        .ok_or_else(bad)?;
    Ok(Link {
        endpoint: endpoint.to_owned(),
        contract: contract.parse().map_err(|_| bad())?,
        chunk: chunk.parse().map_err(|_| bad())?,
        ticket: SignedTicket::from_hex(wire)
            .map_err(|e| anyhow!("the link's ticket: {}", e.reason()))?,
    })
}

/// `masp fetch`: downloads the chunk behind a link a Sender issued to this
/// account (`masp link --receiver`), claiming it with this account's
/// signature (a copied link is refused to anyone else). Returns the
/// ciphertext chunk, as stored.
pub async fn fetch_link(ctx: &Ctx, url: &str) -> Result<Bytes> {
    let link = parse_link(url)?;
    let me = ctx.me().0;
    if link.ticket.ticket.receiver != me {
        bail!(
            "this link was issued to {}, not to you ({}): only that account can use it",
            AccountId32(link.ticket.ticket.receiver),
            ctx.me()
        );
    }
    let c = ctx.contract(link.contract).await?.ok_or_else(|| {
        anyhow!(
            "contract {} is not live on chain: the link is dead",
            link.contract
        )
    })?;
    // Only ever to the contract's host at the endpoint the chain has: a
    // link rewritten to point elsewhere would hand the claim (and a
    // receipt) to whoever wrote it.
    let api = ctx.host_api(&c.host).await?;
    if api.endpoint().trim_end_matches('/') != link.endpoint.trim_end_matches('/') {
        bail!(
            "the link points to {}, but contract {}'s host {} is at {} on chain: refused \
             (a rewritten link would hand your signature to someone else)",
            link.endpoint,
            link.contract,
            c.host,
            api.endpoint()
        );
    }
    let len = c
        .size
        .saturating_sub(u64::from(link.chunk) * masp_proofs::CHUNK_SIZE as u64)
        .min(masp_proofs::CHUNK_SIZE as u64);
    // A host that charges for egress is paid by the Receiver who claims
    // the link, from its own channel.
    let prepared =
        crate::egress::prepare(ctx, &[(c.host, api.clone())], len, ctx.max_egress_price).await?;
    if let Some(why) = prepared.skipped.get(&c.host.0) {
        bail!("host {} is not used: {why}", c.host);
    }
    let receipt = match prepared.payments.get(&c.host.0) {
        Some(p) => Some(
            p.receipt(len)
                .ok_or_else(|| anyhow!("the egress budget for host {} is spent", c.host))?,
        ),
        None => None,
    };
    let claim = hostapi::sign_claim(&ctx.id.keypair, ctx.chain.genesis_hash().0, &link.ticket);
    let data = api
        .get_chunk_claimed(
            link.contract,
            link.chunk,
            &link.ticket,
            &claim,
            receipt.as_ref(),
        )
        .await
        .with_context(|| {
            format!(
                "fetching chunk {} of contract {}",
                link.chunk, link.contract
            )
        })?;
    if data.len() as u64 != len {
        bail!(
            "host {} sent {} bytes of chunk {}, expected {len}",
            c.host,
            data.len(),
            link.chunk
        );
    }
    Ok(data)
}

/// One file as `masp ls` shows it.
#[derive(Debug)]
pub struct FileLine {
    /// The file id.
    pub file: RequestId,
    /// Its name, if the manifest could be read.
    pub name: Option<String>,
    /// Plaintext size, if known.
    pub size: Option<u64>,
    /// Data and parity shards (K, M), if known (`--replicas N`: 1, N-1).
    pub km: Option<(u32, u32)>,
    /// Stored by an older client: identical replicas under one key.
    pub legacy: bool,
    /// Stored shards with a confirmed contract.
    pub alive: usize,
    /// Stored shards (contracts, if the manifest is unknown).
    pub stored: usize,
    /// Stored shards it takes to read the file (if known).
    pub needed: Option<usize>,
    /// Shards with no live contract while the term runs: `masp repair`.
    pub lost: Vec<u32>,
    /// Its contracts: the manifest's replicas with their state on chain
    /// (and live contracts of its request the manifest does not list).
    pub contracts: Vec<ReplicaLine>,
}

/// `masp ls`: this account's files, their health and contracts.
pub async fn ls(ctx: &Ctx) -> Result<Vec<FileLine>> {
    let live = ctx.my_contracts().await?;
    let (manifests, errors) = sync_manifests(ctx, &live).await;
    for e in &errors {
        eprintln!("warning: {e}");
    }
    let epoch = ctx.current_epoch().await?;
    let by_id: BTreeMap<ContractId, Contract<AccountId32, u32>> = live.iter().cloned().collect();
    let mut out: BTreeMap<RequestId, FileLine> = BTreeMap::new();
    let mut listed = BTreeSet::new();
    for (file, m) in &manifests {
        let h = shards::health(m, &by_id, epoch);
        listed.extend(h.replicas.iter().map(|r| r.contract));
        out.insert(
            *file,
            FileLine {
                file: *file,
                name: Some(String::from_utf8_lossy(&m.name).to_string()),
                size: Some(m.size),
                km: Some((m.k, m.m)),
                legacy: m.is_legacy(),
                alive: h.alive,
                stored: h.stored,
                needed: Some(h.needed),
                lost: h.lost,
                contracts: h.replicas,
            },
        );
    }
    // Live contracts no manifest lists: under their request.
    for (id, c) in &live {
        if listed.contains(id) {
            continue;
        }
        let line = out.entry(c.request).or_insert_with(|| FileLine {
            file: c.request,
            name: None,
            size: None,
            km: None,
            legacy: false,
            alive: 0,
            stored: 0,
            needed: None,
            lost: Vec::new(),
            contracts: Vec::new(),
        });
        let active = matches!(c.state, ContractState::Active);
        if line.km.is_none() {
            line.stored += 1;
            line.alive += usize::from(active);
        }
        line.contracts.push(ReplicaLine {
            contract: *id,
            shard: None,
            host: c.host,
            state: if active {
                ReplicaState::Active
            } else {
                ReplicaState::AwaitingUpload
            },
            last_epoch: c.last_epoch,
            paid: c.paid,
            escrow: c.escrow,
        });
    }
    Ok(out.into_values().collect())
}

/// `masp rm`: cancels every contract of file `request` (its manifest's
/// replicas and its request's contracts; unspent escrow returns), takes
/// back what of its requests still rests in the book, and forgets its
/// manifest. Returns the escrow released.
pub async fn rm(ctx: &Ctx, request: RequestId) -> Result<u128> {
    let live = ctx.my_contracts().await?;
    let manifest = match ctx.local_manifest(request) {
        Some(_) => Some(find_manifest(ctx, request).await?),
        None => find_manifest(ctx, request).await.ok(),
    };
    let listed: BTreeSet<ContractId> = manifest
        .iter()
        .flat_map(|m| m.replicas.iter().map(|r| r.contract))
        .collect();
    let contracts: Vec<_> = live
        .into_iter()
        .filter(|(id, c)| c.request == request || listed.contains(id))
        .collect();
    if contracts.is_empty() && manifest.is_none() {
        bail!("no file {request} (see `masp ls`)");
    }
    let mut released = 0u128;
    let mut requests = BTreeSet::from([request]);
    for (id, c) in contracts {
        ctx.submit(&api::tx().storage_market().cancel_contract(id))
            .await
            .with_context(|| format!("cancelling contract {id}"))?;
        released = released.saturating_add(c.escrow);
        requests.insert(c.request);
    }
    // Also take back what still rests in the book.
    for r in requests {
        if resting(ctx, r).await.unwrap_or(true) {
            let _ = ctx
                .submit(&api::tx().storage_market().cancel_request(r))
                .await;
        }
    }
    ctx.manifests().remove(request);
    Ok(released)
}

/// What `masp quote` found.
#[derive(Debug)]
pub struct Quote {
    /// (host, price per GiB per epoch, term cost of its shard) per shard,
    /// cheapest first.
    pub lines: Vec<(AccountId32, u128, u128)>,
    /// Their total.
    pub total: u128,
    /// Shards no offer would take now.
    pub unmatched: u32,
    /// Stored shards (each on its own host).
    pub shards: usize,
    /// The largest shard (each line is priced at it: an upper bound).
    pub shard_size: u64,
    /// Bytes stored over all shards.
    pub stored: u64,
}

/// `masp quote`: what storing `size` plaintext bytes laid out as
/// `redundancy` would cost now, each stored shard on its own host (priced
/// at the largest shard's size).
pub async fn quote(
    chain: &Client,
    size: u64,
    redundancy: shards::Redundancy,
    duration: u32,
    max_price: Option<u128>,
    min_rating: u32,
) -> Result<Quote> {
    let (k, m) = redundancy.km();
    let layout = crate::erasure::Layout::new(k, m, size)?;
    let count = layout.stored_shards().count();
    let call = api::runtime_apis().storage_market_api().quote(
        layout.largest_shard(),
        duration,
        count as u32,
        max_price,
        min_rating,
    );
    let q = chain
        .at_current_block()
        .await?
        .runtime_apis()
        .call(call)
        .await?;
    Ok(Quote {
        lines: q
            .lines
            .into_iter()
            .map(|l| (l.host, l.price, l.cost))
            .collect(),
        total: q.total,
        unmatched: q.unmatched,
        shards: count,
        shard_size: layout.largest_shard(),
        stored: layout.stored_size(),
    })
}

/// Parses `10`, `10B`, `4KiB`, `1.5GiB`, `2MB`.
pub fn parse_size(s: &str) -> Result<u64> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| anyhow!("{s:?} is not a size (e.g. 100MiB)"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0f64.powi(4),
        u => bail!("unknown size unit {u:?} (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"),
    };
    if n.is_nan() || n < 0.0 {
        bail!("{s:?} is not a size");
    }
    Ok((n * mult).round() as u64)
}

/// Parses an amount in MASP (`0.001`, `2`) into the smallest unit.
pub fn parse_masp(s: &str) -> Result<u128> {
    masp_primitives::token::parse(s).ok_or_else(|| {
        anyhow!(
            "{:?} is not an amount of MASP (e.g. 0.001, at most {DECIMALS} decimals, at most \
             {} MASP)",
            s.trim(),
            u128::MAX / masp_primitives::token::UNIT
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use codec::Encode;
    use masp_primitives::manifest::{
        ChunkSealing, KdfParams, Replica, Shard, LEGACY_SEALING_CONTEXT, MANIFEST_VERSION,
    };

    #[test]
    fn sizes_and_amounts_parse_as_people_write_them() {
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("1.5 GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("2MB").unwrap(), 2_000_000);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert_eq!(parse_masp("1").unwrap(), 10u128.pow(12));
        assert_eq!(parse_masp("0.001").unwrap(), 10u128.pow(9));
        assert_eq!(parse_masp("2.5 MASP").unwrap(), 25 * 10u128.pow(11));
        assert!(parse_masp("1.0000000000001").is_err());
        assert!(parse_masp("-1").is_err());
        assert_eq!(fmt_masp(25 * 10u128.pow(11)), "2.5 MASP");
        assert_eq!(fmt_masp(3 * 10u128.pow(12)), "3 MASP");
    }

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
