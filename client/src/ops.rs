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
    manifest::{KdfParams, Manifest, Replica, MANIFEST_VERSION},
    market::{ContractId, RequestId},
    ticket::{TicketOp, MAX_TICKET_TTL},
    token::{DECIMALS, SYMBOL},
};

use crate::{
    crypto::{self, FileCipher, Key, PLAIN_CHUNK},
    fsutil,
    hostapi::{sign_ticket, HostApi},
    keys::{Identity, MASTER_KDF},
    pipeline,
};

/// Associated data of a sealed manifest.
pub const MANIFEST_CONTEXT: &[u8] = b"masp/manifest/v1";

/// The key manifests are sealed with.
pub fn manifest_key(master: &Key) -> Key {
    crypto::derive(master, &[b"masp/manifest-key/v1"])
}

/// Seals a manifest for upload and local storage.
pub fn seal_manifest(master: &Key, m: &Manifest) -> Vec<u8> {
    crypto::seal_object(&manifest_key(master), MANIFEST_CONTEXT, &m.encode())
}

/// Opens a sealed manifest; a clear error if it is not this account's or
/// was altered or cut short.
pub fn open_manifest(master: &Key, sealed: &[u8]) -> Result<Manifest> {
    let plain =
        crypto::open_object(&manifest_key(master), MANIFEST_CONTEXT, sealed).ok_or_else(|| {
            anyhow!(
                "cannot decrypt the file's manifest: wrong secret phrase, or the manifest was \
                 altered or truncated"
            )
        })?;
    let m = Manifest::decode_any(&plain).map_err(|e| anyhow!("the file's manifest: {e}"))?;
    if m.chunk_roots.len() as u64 != crypto::chunk_count(m.size) {
        bail!("the manifest's chunk list does not match its size: corrupt");
    }
    Ok(m)
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
    /// The user's keys.
    pub id: Identity,
    /// `~/.masp` (or `--home`).
    pub home: PathBuf,
    /// Draw progress bars.
    pub progress: bool,
}

impl Ctx {
    /// This account.
    pub fn me(&self) -> AccountId32 {
        masp_chain::account(&self.id.keypair)
    }

    fn manifests_dir(&self) -> PathBuf {
        self.home.join("manifests")
    }

    fn manifest_path(&self, request: RequestId) -> PathBuf {
        self.manifests_dir().join(format!("{request}.manifest"))
    }

    fn pending_path(&self, source: &Path) -> PathBuf {
        let key = crypto::derive(&[0; 32], &[source.as_os_str().as_encoded_bytes()]);
        self.home
            .join("uploads")
            .join(format!("{}.json", hex::encode(&key[..8])))
    }

    /// Saves a sealed manifest locally (atomic).
    pub fn save_manifest(&self, request: RequestId, sealed: &[u8]) -> Result<()> {
        std::fs::create_dir_all(self.manifests_dir())?;
        fsutil::write_atomic(&self.manifest_path(request), sealed, 0o600)
            .with_context(|| format!("saving the manifest of file {request}"))
    }

    fn local_manifest(&self, request: RequestId) -> Option<Vec<u8>> {
        std::fs::read(self.manifest_path(request)).ok()
    }

    async fn at(
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
        Ok(HostApi::new(&endpoint))
    }

    async fn submit<Call: masp_chain::subxt::transactions::Payload>(
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
            let m = open_manifest(&ctx.id.master, &sealed)?;
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
            let _ = std::fs::remove_file(ctx.manifest_path(request));
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
        ctx.save_manifest(request, &seal_manifest(&ctx.id.master, &manifest))?;
    }

    // Upload to every replica's host in parallel.
    let sealed_manifest = seal_manifest(&ctx.id.master, &manifest);
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
    ctx.save_manifest(request, &seal_manifest(&ctx.id.master, &manifest))?;
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
    api.put_manifest(contract, &ticket, sealed_manifest).await?;
    bar.finish_with_message("uploaded");
    Ok(())
}

/// Finds and opens the manifest of file `request`: the local copy, else
/// the copy on one of its hosts (a new machine, from the phrase alone).
pub async fn find_manifest(ctx: &Ctx, request: RequestId) -> Result<Manifest> {
    if let Some(sealed) = ctx.local_manifest(request) {
        return open_manifest(&ctx.id.master, &sealed);
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
        let t = sign_ticket(
            &ctx.id.keypair,
            TicketOp::Download,
            id,
            0,
            0,
            None,
            Duration::from_secs(300),
        );
        match api.get_manifest(id, &t).await {
            Ok(sealed) => {
                let m = open_manifest(&ctx.id.master, &sealed)?;
                ctx.save_manifest(request, &sealed)?;
                return Ok(m);
            }
            Err(e) => errors.push(e.to_string()),
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
    let out = match out {
        Some(o) => o.to_path_buf(),
        None => {
            let name = String::from_utf8_lossy(&m.name).to_string();
            let name = Path::new(&name)
                .file_name()
                .ok_or_else(|| anyhow!("the manifest has no file name; pass -o OUT"))?
                .to_owned();
            PathBuf::from(name)
        }
    };
    let mut hosts = Vec::new();
    for r in &m.replicas {
        match ctx.host_api(&AccountId32(r.host)).await {
            Ok(api) => hosts.push((r.contract, api)),
            Err(e) => eprintln!("warning: replica {}: {e}", r.contract),
        }
    }
    if hosts.is_empty() {
        bail!("none of the file's hosts is reachable through the chain");
    }
    let hosts = Arc::new(hosts);
    let (file, tmp) = fsutil::create_temp(&out, 0o644)
        .with_context(|| format!("cannot write next to {}", out.display()))?;
    let file = Arc::new(file);
    let cipher = Arc::new(FileCipher::new(&ctx.id.master, m.file_id, m.size));
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
            let (m, hosts, file, cipher, bar) = (
                m.clone(),
                hosts.clone(),
                file.clone(),
                cipher.clone(),
                bar.clone(),
            );
            let keypair = ctx.id.keypair.clone();
            async move {
                let plain = fetch_chunk(&keypair, &m, &hosts, &cipher, i).await?;
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
            fsutil::commit(file, &tmp, &out)?;
            Ok((out, m.size))
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e.context(format!("nothing was written to {}", out.display())))
        }
    }
}

async fn fetch_chunk(
    keypair: &masp_chain::Keypair,
    m: &Manifest,
    hosts: &[(ContractId, HostApi)],
    cipher: &FileCipher,
    i: u64,
) -> Result<Vec<u8>> {
    let expected_len = (m.cipher_size - i * masp_proofs::CHUNK_SIZE as u64)
        .min(masp_proofs::CHUNK_SIZE as u64) as usize;
    let mut errors = Vec::new();
    // Spread chunks over replicas; fall back to the others in turn (two
    // rounds, each try with a fresh ticket).
    for k in 0..2 * hosts.len() {
        let (contract, api) = &hosts[(i as usize + k) % hosts.len()];
        let t = sign_ticket(
            keypair,
            TicketOp::Download,
            *contract,
            i as u32,
            i as u32,
            None,
            Duration::from_secs(300),
        );
        match api.get_chunk(*contract, i as u32, &t).await {
            Ok(data) if data.len() != expected_len => errors.push(format!(
                "{}: chunk {i} has {} bytes, expected {expected_len}",
                api.endpoint(),
                data.len()
            )),
            Ok(data) if masp_proofs::chunk_root(&data) != m.chunk_roots[i as usize] => {
                errors.push(format!(
                    "{}: chunk {i} does not match its Merkle root (tampered)",
                    api.endpoint()
                ))
            }
            Ok(data) => {
                let mut buf = data.to_vec();
                match cipher.open(i, &mut buf) {
                    Ok(()) => return Ok(buf),
                    Err(e) => errors.push(format!("{}: {e}", api.endpoint())),
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    bail!(
        "chunk {i} could not be fetched from any replica:\n  {}",
        errors.join("\n  ")
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
    if let Ok(dir) = std::fs::read_dir(ctx.manifests_dir()) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(id) = name.strip_suffix(".manifest").and_then(|s| s.parse().ok()) {
                files.entry(id).or_insert_with(|| line(id));
            }
        }
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
    let _ = std::fs::remove_file(ctx.manifest_path(request));
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

    #[test]
    fn a_manifest_opens_only_with_its_key_and_whole() {
        let m = Manifest {
            version: MANIFEST_VERSION,
            file_id: [1; 16],
            name: b"a.txt".to_vec(),
            size: 5,
            cipher_size: 21,
            root: [2; 32],
            chunk_roots: vec![[3; 32]],
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
        };
        let sealed = seal_manifest(&[7; 32], &m);
        assert_eq!(open_manifest(&[7; 32], &sealed).unwrap(), m);
        let wrong = open_manifest(&[8; 32], &sealed).unwrap_err().to_string();
        assert!(wrong.contains("wrong secret phrase"), "{wrong}");
        let cut = open_manifest(&[7; 32], &sealed[..sealed.len() - 1]).unwrap_err();
        assert!(cut.to_string().contains("truncated"), "{cut}");
        let mut flipped = sealed.clone();
        flipped[20] ^= 1;
        assert!(open_manifest(&[7; 32], &flipped).is_err());
    }
}
