//! What the `masp` commands do on the network: the context every command
//! shares ([`Ctx`]), get, ls, rm, quote (files stored as shards:
//! [`crate::shards`]; manifests: [`crate::manifests`]; links:
//! [`crate::links`]; amounts and sizes: [`crate::units`]).
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
    market::{ContractId, RequestId},
    ticket::TicketOp,
};

use crate::{
    crypto::{self, FileCipher, PLAIN_CHUNK},
    fsutil,
    hostapi::{self, sign_ticket, HostApi, HostNet},
    keys::Identity,
    shards::{self, ReplicaLine, ReplicaState},
};

/// A storage contract as the chain has it.
pub type ChainContract = Contract<AccountId32, u32>;

use crate::manifests::{find_manifest, sync_manifests, ManifestStore};
pub use masp_cipher::manifest::{manifest_key, seal_manifest, Sealing};

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

    pub(crate) fn local_manifest(&self, request: RequestId) -> Option<Vec<u8>> {
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
