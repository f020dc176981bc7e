//! What the `masp` commands do on the network: put, get, ls, rm, quote.
//!
//! The chain is reached through `masp-chain` (subxt, typed from our
//! runtime's metadata); hosts through [`crate::hostapi`] with tickets this
//! account signs.

use std::{
    collections::BTreeMap,
    fs::File,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use codec::Encode;
use futures::{stream, StreamExt, TryStreamExt};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use masp_chain::{
    api::{
        self,
        runtime_types::pallet_storage_market::types::{Contract, ContractState},
    },
    AccountId32, Client,
};
use masp_primitives::{
    manifest::{
        sealing_context, KdfParams, Manifest, Replica, LEGACY_SEALING_CONTEXT, MANIFEST_VERSION,
    },
    market::{ContractId, RequestId},
    ticket::{SignedTicket, TicketOp, MAX_TICKET_TTL},
    token::{DECIMALS, SYMBOL},
};

use crate::{
    crypto::{self, FileCipher, Key, PLAIN_CHUNK},
    fsutil,
    hostapi::{self, sign_ticket, HostApi, HostNet},
    keys::{Identity, MASTER_KDF},
    pipeline,
};

/// The key manifests are sealed with.
pub fn manifest_key(master: &Key) -> Key {
    crypto::derive(master, &[b"masp/manifest-key/v1"])
}

/// Seals the manifest of file `request` for upload and local storage,
/// bound to that file ([`sealing_context`]).
pub fn seal_manifest(master: &Key, request: RequestId, m: &Manifest) -> Vec<u8> {
    crypto::seal_object(
        &manifest_key(master),
        &sealing_context(request),
        &m.encode(),
    )
}

/// How a manifest was sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sealing {
    /// For this file ([`sealing_context`]).
    Bound,
    /// By a client before sealing contexts were bound to the file: it may
    /// be any file's manifest of this account; check it against the chain.
    Legacy,
}

/// Opens the sealed manifest of file `request`; a clear error if it is not
/// this account's, is another file's, or was altered or cut short.
/// Manifests sealed by older clients ([`Sealing::Legacy`]) still open.
pub fn open_manifest(
    master: &Key,
    request: RequestId,
    sealed: &[u8],
) -> Result<(Manifest, Sealing)> {
    let key = manifest_key(master);
    let (plain, sealing) = match crypto::open_object(&key, &sealing_context(request), sealed) {
        Some(plain) => (plain, Sealing::Bound),
        None => (
            crypto::open_object(&key, LEGACY_SEALING_CONTEXT, sealed).ok_or_else(|| {
                anyhow!(
                    "cannot decrypt the manifest of file {request}: wrong secret phrase, another \
                     file's manifest, or the manifest was altered or truncated"
                )
            })?,
            Sealing::Legacy,
        ),
    };
    let m = Manifest::decode_any(&plain).map_err(|e| anyhow!("the file's manifest: {e}"))?;
    if m.chunk_roots.len() as u64 != crypto::chunk_count(m.size)
        || m.cipher_size != crypto::ciphertext_size(m.size)
    {
        bail!("the manifest's chunk list does not match its size: corrupt");
    }
    Ok((m, sealing))
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

/// Checks manifest `m` against the contract it was fetched for: the same
/// ciphertext size, leaf count and Merkle root, and chunk roots that make
/// up that root (so every chunk checked against them is the contract's).
pub fn check_manifest(m: &Manifest, on_chain: &OnChainReplica) -> Result<()> {
    let id = on_chain.contract;
    if m.cipher_size != on_chain.size {
        bail!(
            "the manifest describes {} bytes of ciphertext but contract {id} stores {}: it is \
             not this file's manifest",
            m.cipher_size,
            on_chain.size
        );
    }
    if masp_proofs::leaf_count(m.cipher_size) != on_chain.leaf_count {
        bail!(
            "the manifest's {} bytes make {} leaves but contract {id} has {}: it is not this \
             file's manifest",
            m.cipher_size,
            masp_proofs::leaf_count(m.cipher_size),
            on_chain.leaf_count
        );
    }
    if m.root != on_chain.merkle_root {
        bail!(
            "the manifest's Merkle root 0x{} is not contract {id}'s 0x{}: it is not this file's \
             manifest",
            hex::encode(m.root),
            hex::encode(on_chain.merkle_root)
        );
    }
    if masp_proofs::root_of_chunk_roots(&mut m.chunk_roots.clone()) != m.root {
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
/// it in `store`, sealed for this file. A manifest of another file, or an
/// altered one, is an error and nothing is kept.
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
    match sealing {
        Sealing::Bound => store.save(request, &sealed)?,
        Sealing::Legacy => store.save(request, &seal_manifest(master, request, &m))?,
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

    fn pending_path(&self, source: &Path) -> PathBuf {
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

/// Options of `masp put`.
#[derive(Clone, Debug)]
pub struct PutOptions {
    /// Copies on distinct hosts.
    pub replicas: u32,
    /// Epochs to store.
    pub duration: u32,
    /// Highest price per GiB per epoch accepted (default: what the
    /// cheapest matching offers ask now).
    pub max_price: Option<u128>,
    /// Lowest host rating accepted.
    pub min_rating: u32,
    /// How long to wait for hosts to match, take and confirm the upload.
    pub wait: Duration,
    /// Chunks in flight per host.
    pub parallel: usize,
}

/// What a put did.
#[derive(Debug)]
pub struct PutSummary {
    /// The file's id (its request id).
    pub file: RequestId,
    /// (contract, host, price, term cost) per replica.
    pub replicas: Vec<(ContractId, AccountId32, u128, u128)>,
    /// Plaintext bytes.
    pub size: u64,
    /// Whether this resumed an interrupted put.
    pub resumed: bool,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Pending {
    path: PathBuf,
    size: u64,
    modified: u128,
    request: RequestId,
}

fn modified_ns(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// `masp put`: seal, place the request, wait for the replicas to match,
/// upload to every matched host, wait for their confirmations. Resumes an
/// interrupted put of the same, unchanged file from wherever it stopped
/// (matching, uploading or confirming): the request and the sealed
/// manifest are saved as soon as the chain has the request.
pub async fn put(ctx: &Ctx, path: &Path, opts: &PutOptions) -> Result<PutSummary> {
    let source =
        std::fs::canonicalize(path).with_context(|| format!("cannot open {}", path.display()))?;
    let meta = std::fs::metadata(&source)?;
    if !meta.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    let size = meta.len();
    let pending_path = ctx.pending_path(&source);
    let resumable = std::fs::read(&pending_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Pending>(&b).ok())
        .filter(|p| p.path == source && p.size == size && p.modified == modified_ns(&meta));

    let (request, mut manifest, resumed) = match resumable {
        Some(p) => {
            let sealed = ctx.local_manifest(p.request).ok_or_else(|| {
                anyhow!(
                    "the interrupted upload's manifest is gone; run put again after removing {}",
                    pending_path.display()
                )
            })?;
            let (m, _) = open_manifest(&ctx.id.master, p.request, &sealed)?;
            eprintln!(
                "Resuming the interrupted upload of {} (file {})",
                path.display(),
                p.request
            );
            (p.request, m, true)
        }
        None => {
            let pending = |request| -> Result<()> {
                let pending = Pending {
                    path: source.clone(),
                    size,
                    modified: modified_ns(&meta),
                    request,
                };
                std::fs::create_dir_all(pending_path.parent().expect("has a parent"))?;
                fsutil::write_atomic(&pending_path, &serde_json::to_vec(&pending)?, 0o600)
                    .context("saving the upload's resume record")
            };
            let (request, m) = place(ctx, &source, size, opts, pending).await?;
            (request, m, false)
        }
    };

    // The replicas: what has matched, after waiting for the rest while the
    // request rests in the book.
    let replicas = wait_for_matches(ctx, request, opts).await?;
    if replicas.is_empty() {
        if manifest.replicas.is_empty() {
            // Nothing ever matched, so nothing is stored anywhere: forget
            // the put so the next one starts anew.
            let _ = std::fs::remove_file(&pending_path);
            ctx.manifests().remove(request);
            bail!(
                "no host took the request within {:?}; nothing is stored and the escrow was \
                 returned (try a higher --max-price or a lower --min-rating; see `masp quote`)",
                opts.wait
            );
        }
        bail!(
            "every contract of file {request} has ended before its upload was confirmed; \
             remove it with `masp rm {request}` and put the file again"
        );
    }
    if replicas != manifest.replicas {
        manifest.replicas = replicas;
        ctx.save_manifest(request, &seal_manifest(&ctx.id.master, request, &manifest))?;
    }

    // Upload to every replica's host in parallel.
    let sealed_manifest = seal_manifest(&ctx.id.master, request, &manifest);
    let bars = MultiProgress::new();
    if !ctx.progress {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let manifest = Arc::new(manifest);
    let mut uploads = Vec::new();
    for replica in &manifest.replicas {
        let host = AccountId32(replica.host);
        let api = ctx.host_api(&host).await?;
        let bar = bars.add(ProgressBar::new(manifest.cipher_size));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("contract {}", replica.contract));
        uploads.push(upload_replica(
            ctx,
            api,
            replica.contract,
            source.clone(),
            manifest.clone(),
            sealed_manifest.clone(),
            opts,
            bar,
        ));
    }
    let results = futures::future::join_all(uploads).await;
    let mut failures = Vec::new();
    for (replica, r) in manifest.replicas.iter().zip(results) {
        if let Err(e) = r {
            failures.push(format!("contract {}: {e:#}", replica.contract));
        }
    }
    if !failures.is_empty() {
        bail!(
            "upload incomplete (run the same `masp put` again to resume):\n  {}",
            failures.join("\n  ")
        );
    }

    // Wait for every host's confirmation on chain.
    let deadline = Instant::now() + opts.wait;
    let mut summary = Vec::new();
    for replica in &manifest.replicas {
        loop {
            match ctx.contract(replica.contract).await? {
                Some(c) if matches!(c.state, ContractState::Active) => {
                    let cost = c
                        .epoch_cost
                        .saturating_mul((c.last_epoch.saturating_sub(c.first_epoch) + 1) as u128);
                    summary.push((replica.contract, c.host, c.price, cost));
                    break;
                }
                Some(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(500)).await
                }
                Some(_) => bail!(
                    "contract {} is uploaded but its host has not confirmed it within {:?}; \
                     run `masp put` again to check",
                    replica.contract,
                    opts.wait
                ),
                None => bail!(
                    "contract {} ended before its host confirmed the upload (upload window \
                     closed?); remove the file with `masp rm {request}` and put it again",
                    replica.contract
                ),
            }
        }
    }
    let _ = std::fs::remove_file(&pending_path);
    Ok(PutSummary {
        file: request,
        replicas: summary,
        size,
        resumed,
    })
}

/// Seals `source` (to learn its Merkle root), prices and places the
/// request, and at once saves the manifest (no replicas yet) and, through
/// `placed`, the record that lets an interrupted put resume.
async fn place(
    ctx: &Ctx,
    source: &Path,
    size: u64,
    opts: &PutOptions,
    placed: impl FnOnce(RequestId) -> Result<()>,
) -> Result<(RequestId, Manifest)> {
    let file_id: crypto::FileId = rand::random();
    let master = *ctx.id.master;
    let src = source.to_path_buf();
    let bar = if ctx.progress {
        ProgressBar::new(size)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("   sealing [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .expect("static template")
            .progress_chars("=> "),
    );
    let b = bar.clone();
    let sealed = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
        let input = File::open(&src)?;
        pipeline::seal(
            input,
            size,
            &master,
            file_id,
            64,
            |_, _| Ok(()),
            |done| b.set_position(done),
        )
    })
    .await??;
    bar.finish_and_clear();

    // Price: the cheapest offers that match now, unless a cap is given.
    let quote = api::runtime_apis().storage_market_api().quote(
        sealed.cipher_size,
        opts.duration,
        opts.replicas,
        opts.max_price,
        opts.min_rating,
    );
    let quote = ctx.at().await?.runtime_apis().call(quote).await?;
    let max_price = match opts.max_price {
        Some(p) => p,
        None => {
            if quote.lines.is_empty() {
                bail!(
                    "no host offers storage for {} epochs at rating >= {} now; see `masp quote`",
                    opts.duration,
                    opts.min_rating
                );
            }
            quote.lines.iter().map(|l| l.price).max().unwrap_or(0)
        }
    };
    let events = ctx
        .submit(&api::tx().storage_market().place_request(
            sealed.cipher_size,
            sealed.root,
            sealed.leaf_count,
            opts.replicas,
            opts.duration,
            max_price,
            opts.min_rating,
        ))
        .await
        .context("placing the storage request")?;
    let placed_event = events
        .find_first::<api::storage_market::events::RequestPlaced>()
        .ok_or_else(|| anyhow!("the chain did not report the request"))??;
    let request = placed_event.request;
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        file_id,
        name: source
            .file_name()
            .map(|n| n.to_string_lossy().as_bytes().to_vec())
            .unwrap_or_default(),
        size,
        cipher_size: sealed.cipher_size,
        root: sealed.root,
        chunk_roots: sealed.chunk_roots,
        master_kdf: KdfParams {
            m_kib: MASTER_KDF.m_kib,
            t: MASTER_KDF.t,
            p: MASTER_KDF.p,
        },
        replicas: Vec::new(),
        created: crate::hostapi::unix_now(),
    };
    ctx.save_manifest(request, &seal_manifest(&ctx.id.master, request, &manifest))?;
    placed(request)?;
    Ok((request, manifest))
}

/// The replicas of file `request` matched so far (its live contracts).
async fn matched(ctx: &Ctx, request: RequestId) -> Result<Vec<Replica>> {
    Ok(ctx
        .file_contracts(request)
        .await?
        .into_iter()
        .map(|(id, c)| Replica {
            contract: id,
            host: c.host.0,
            last_epoch: c.last_epoch,
        })
        .collect())
}

/// Whether request `request` still rests in the book (replicas unmatched).
async fn resting(ctx: &Ctx, request: RequestId) -> Result<bool> {
    let call = api::runtime_apis()
        .storage_market_api()
        .sender_requests(ctx.me(), 10_000);
    let book = ctx.at().await?.runtime_apis().call(call).await?;
    Ok(book.iter().any(|(id, _)| *id == request))
}

/// Waits (up to `opts.wait`) while part of `request` rests in the book;
/// then takes back the unmatched remainder's escrow, and returns the
/// replicas that matched (none: nothing is stored, all escrow returned).
async fn wait_for_matches(
    ctx: &Ctx,
    request: RequestId,
    opts: &PutOptions,
) -> Result<Vec<Replica>> {
    let deadline = Instant::now() + opts.wait;
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
    let replicas = matched(ctx, request).await?;
    if !replicas.is_empty() && (replicas.len() as u32) < opts.replicas {
        eprintln!(
            "warning: only {} of {} replicas matched; storing those",
            replicas.len(),
            opts.replicas
        );
    }
    Ok(replicas)
}

/// Seals chunk `index` of `source` again (sealing is deterministic).
fn reseal_chunk(
    source: &File,
    cipher: &FileCipher,
    size: u64,
    index: u64,
) -> std::io::Result<Vec<u8>> {
    let len = crypto::plain_len(size, index);
    let mut buf = Vec::with_capacity(len + crypto::TAG_LEN);
    buf.resize(len, 0);
    source.read_exact_at(&mut buf, index * PLAIN_CHUNK as u64)?;
    cipher.seal(index, &mut buf);
    Ok(buf)
}

#[allow(clippy::too_many_arguments)]
async fn upload_replica(
    ctx: &Ctx,
    api: HostApi,
    contract: ContractId,
    source: PathBuf,
    m: Arc<Manifest>,
    sealed_manifest: Vec<u8>,
    opts: &PutOptions,
    bar: ProgressBar,
) -> Result<()> {
    let ticket = sign_ticket(
        &ctx.id.keypair,
        ctx.chain.genesis_hash().0,
        TicketOp::Upload,
        contract,
        0,
        u32::MAX,
        None,
        Duration::from_secs(MAX_TICKET_TTL / 4),
    );
    // The host learns of the contract from the chain within a few blocks.
    let deadline = Instant::now() + opts.wait;
    let status = loop {
        match api.status(contract).await {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline => {
                bar.set_message(format!("waiting for the host ({e})"));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    bar.set_message("");
    let count = m.chunk_roots.len();
    if status.chunks as usize != count || status.missing.iter().any(|&i| i as usize >= count) {
        bail!(
            "host {} reports {} chunks (missing {:?}) for a file of {count}: not uploading to it",
            api.endpoint(),
            status.chunks,
            status.missing
        );
    }
    if !status.roots_uploaded {
        api.put_roots(contract, &ticket, &m.chunk_roots).await?;
    }
    let missing = status.missing.clone();
    let done = (status.chunks as u64 - missing.len() as u64) * masp_proofs::CHUNK_SIZE as u64;
    bar.set_position(done.min(m.cipher_size));
    let file = Arc::new(File::open(&source)?);
    let cipher = Arc::new(FileCipher::new(&ctx.id.master, m.file_id, m.size));
    stream::iter(missing)
        .map(|i| {
            let (file, cipher, m, api, ticket, bar) = (
                file.clone(),
                cipher.clone(),
                m.clone(),
                api.clone(),
                ticket.clone(),
                bar.clone(),
            );
            async move {
                let data = tokio::task::spawn_blocking(move || -> Result<Vec<u8>> {
                    let data = reseal_chunk(&file, &cipher, m.size, i as u64)?;
                    if masp_proofs::chunk_root(&data) != m.chunk_roots[i as usize] {
                        bail!("the file changed since this upload started; remove it with `masp rm` and put it again");
                    }
                    Ok(data)
                })
                .await??;
                let len = data.len() as u64;
                api.put_chunk(contract, i, &ticket, Bytes::from(data)).await?;
                bar.inc(len);
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(opts.parallel.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    // A host keeps a contract's first manifest (written once): one stored
    // by an earlier run of this put (409) is fine.
    match api.put_manifest(contract, &ticket, sealed_manifest).await {
        Err(e) if e.status().map(|s| s.as_u16()) == Some(409) => {}
        r => r?,
    }
    bar.finish_with_message("uploaded");
    Ok(())
}

/// Finds and opens the manifest of file `request`: the local copy, else
/// the copy on one of its hosts (a new machine, from the phrase alone).
pub async fn find_manifest(ctx: &Ctx, request: RequestId) -> Result<Manifest> {
    if let Some(sealed) = ctx.local_manifest(request) {
        // Written by this account's own client (`put`, or a manifest
        // checked against the chain when it was fetched).
        return open_manifest(&ctx.id.master, request, &sealed).map(|(m, _)| m);
    }
    let contracts = ctx.file_contracts(request).await?;
    if contracts.is_empty() {
        bail!("no file {request}: no local manifest and no live contract of this account (see `masp ls`)");
    }
    let mut errors = Vec::new();
    for (id, c) in contracts {
        let api = match ctx.host_api(&c.host).await {
            Ok(a) => a,
            Err(e) => {
                errors.push(e.to_string());
                continue;
            }
        };
        // Checked against the contract before it is used or kept: a host
        // cannot substitute another file's (or an altered) manifest.
        match fetch_manifest(
            &api,
            &ctx.id.keypair,
            ctx.chain.genesis_hash().0,
            &ctx.id.master,
            &OnChainReplica::of(id, &c),
            &ctx.manifests(),
        )
        .await
        {
            Ok(m) => return Ok(m),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    bail!(
        "no host returned the manifest of file {request}:\n  {}",
        errors.join("\n  ")
    )
}

/// `masp get`: downloads file `request` to `out` (default: its name in
/// the current directory). Every chunk is checked against its Merkle root
/// before it is decrypted; any failure falls back to another replica.
/// Nothing is written unless the whole file verifies.
pub async fn get(
    ctx: &Ctx,
    request: RequestId,
    out: Option<&Path>,
    parallel: usize,
) -> Result<(PathBuf, u64)> {
    let m = Arc::new(find_manifest(ctx, request).await?);
    let out = out_path(out, &m.name)?;
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
        cipher_size: m.cipher_size,
        chunk_roots: m.chunk_roots.clone(),
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
    let (file, tmp) = fsutil::create_temp(out, 0o644)
        .with_context(|| format!("cannot write next to {}", out.display()))?;
    let file = Arc::new(file);
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
        .expect("static template")
        .progress_chars("=> "),
    );
    let count = m.chunk_roots.len() as u64;
    let result = stream::iter(0..count)
        .map(|i| {
            let (m, hosts, file, cipher, bar, payments, bad) = (
                m.clone(),
                hosts.clone(),
                file.clone(),
                cipher.clone(),
                bar.clone(),
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
        .await;
    bar.finish_and_clear();
    match result {
        Ok(_) => {
            let file =
                Arc::try_unwrap(file).map_err(|_| anyhow!("download tasks still hold the file"))?;
            file.set_len(m.size)?;
            fsutil::commit(file, &tmp, out)?;
            Ok((out.to_path_buf(), m.size))
        }
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
/// `request` on every replica: one ticket per replica and copy, valid for
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
    let count = m.chunk_roots.len() as u32;
    let mut out = Vec::new();
    for r in &m.replicas {
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

/// One line of `masp ls`.
#[derive(Debug)]
pub struct FileLine {
    /// The file id.
    pub file: RequestId,
    /// Its name, if the manifest could be read.
    pub name: Option<String>,
    /// Plaintext size, if known.
    pub size: Option<u64>,
    /// (contract, active, paid so far, escrow left).
    pub contracts: Vec<(ContractId, bool, u128, u128)>,
    /// Replicas (from the manifest) whose contract is gone before its term
    /// ended: the host lost the data (or it was cancelled outside `masp`).
    pub lost: usize,
    /// Replicas whose term is over.
    pub completed: usize,
}

/// `masp ls`: this account's files with their contracts.
pub async fn ls(ctx: &Ctx) -> Result<Vec<FileLine>> {
    let mut files: BTreeMap<RequestId, FileLine> = BTreeMap::new();
    let line = |file| FileLine {
        file,
        name: None,
        size: None,
        contracts: Vec::new(),
        lost: 0,
        completed: 0,
    };
    for (id, c) in ctx.my_contracts().await? {
        files
            .entry(c.request)
            .or_insert_with(|| line(c.request))
            .contracts
            .push((
                id,
                matches!(c.state, ContractState::Active),
                c.paid,
                c.escrow,
            ));
    }
    // Files known locally whose contracts all ended.
    for id in ctx.manifests().files() {
        files.entry(id).or_insert_with(|| line(id));
    }
    let call = api::runtime_apis().storage_market_api().current_epoch();
    let epoch = ctx.at().await?.runtime_apis().call(call).await?;
    let mut out = Vec::new();
    for (id, mut line) in files {
        if let Ok(m) = find_manifest(ctx, id).await {
            line.name = Some(String::from_utf8_lossy(&m.name).to_string());
            line.size = Some(m.size);
            for r in &m.replicas {
                if line.contracts.iter().any(|c| c.0 == r.contract) || r.last_epoch == u32::MAX {
                    // Live, or its term unknown (a version 1 manifest).
                    continue;
                }
                if epoch > r.last_epoch {
                    line.completed += 1;
                } else {
                    line.lost += 1;
                }
            }
        }
        out.push(line);
    }
    Ok(out)
}

/// `masp rm`: cancels every contract of file `request` (unspent escrow
/// returns) and forgets its manifest. Returns the escrow released.
pub async fn rm(ctx: &Ctx, request: RequestId) -> Result<u128> {
    let contracts = ctx.file_contracts(request).await?;
    if contracts.is_empty() && ctx.local_manifest(request).is_none() {
        bail!("no file {request} (see `masp ls`)");
    }
    let mut released = 0u128;
    for (id, c) in contracts {
        ctx.submit(&api::tx().storage_market().cancel_contract(id))
            .await
            .with_context(|| format!("cancelling contract {id}"))?;
        released = released.saturating_add(c.escrow);
    }
    // Also take back a request still resting in the book.
    let _ = ctx
        .submit(&api::tx().storage_market().cancel_request(request))
        .await;
    ctx.manifests().remove(request);
    Ok(released)
}

/// `masp quote`: what storing `size` plaintext bytes would cost now:
/// (host, price, term cost) per replica, the total, and replicas no
/// offer would take.
pub async fn quote(
    chain: &Client,
    size: u64,
    replicas: u32,
    duration: u32,
    max_price: Option<u128>,
    min_rating: u32,
) -> Result<(Vec<(AccountId32, u128, u128)>, u128, u32)> {
    let call = api::runtime_apis().storage_market_api().quote(
        crypto::ciphertext_size(size),
        duration,
        replicas,
        max_price,
        min_rating,
    );
    let q = chain
        .at_current_block()
        .await?
        .runtime_apis()
        .call(call)
        .await?;
    Ok((
        q.lines
            .into_iter()
            .map(|l| (l.host, l.price, l.cost))
            .collect(),
        q.total,
        q.unmatched,
    ))
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
    let s = s.trim().trim_end_matches(SYMBOL).trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > DECIMALS as usize
        || whole.is_empty() && frac.is_empty()
        || !whole
            .chars()
            .chain(frac.chars())
            .all(|c| c.is_ascii_digit())
    {
        bail!("{s:?} is not an amount of MASP (e.g. 0.001, at most {DECIMALS} decimals)");
    }
    let unit = 10u128.pow(DECIMALS as u32);
    let whole: u128 = if whole.is_empty() { 0 } else { whole.parse()? };
    let frac: u128 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<width$}", width = DECIMALS as usize).parse()?
    };
    whole
        .checked_mul(unit)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(|| anyhow!("{s:?} MASP is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn manifest() -> Manifest {
        let chunk = vec![9u8; 21];
        let chunk_root = masp_proofs::chunk_root(&chunk);
        Manifest {
            version: MANIFEST_VERSION,
            file_id: [1; 16],
            name: b"a.txt".to_vec(),
            size: 5,
            cipher_size: 21,
            root: masp_proofs::root_of_chunk_roots(&mut [chunk_root]),
            chunk_roots: vec![chunk_root],
            master_kdf: KdfParams {
                m_kib: 1,
                t: 1,
                p: 1,
            },
            replicas: vec![Replica {
                contract: 4,
                host: [5; 32],
                last_epoch: 9,
            }],
            created: 6,
        }
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
            merkle_root: m.root,
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
        forged.chunk_roots = vec![[3; 32]];
        let e = refused(chain, &forged);
        assert!(e.contains("chunk roots"), "{e}");
    }
}
