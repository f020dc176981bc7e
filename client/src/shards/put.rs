//! `masp put`: a file stored as shards.

use std::{collections::BTreeSet, fs::File, path::Path, sync::Arc, time::Duration};

use anyhow::{anyhow, bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use masp_chain::{
    api::{self, runtime_types::bounded_collections::bounded_vec::BoundedVec},
    AccountId32,
};
use masp_primitives::{
    manifest::{
        ChunkSealing, HistoryEntry, HistoryKind, KdfParams, Manifest, Replica, Shard,
        MANIFEST_VERSION,
    },
    market::{ContractId, RequestId},
};

use super::{
    check_manifest_layout, seal_shards, shard_set,
    upload::{
        as_replicas, confirmations, failures, max_shards, prepare_target, specs, suggestion,
        upload, StripeSource,
    },
    Redundancy, ShardSet,
};
use crate::{
    crypto::{FileCipher, FileId},
    erasure::Layout,
    hostapi::unix_now,
    keys::MASTER_KDF,
    manifests,
    ops::{self, Ctx},
    units,
};

/// Options of `masp put`.
#[derive(Clone, Debug)]
pub struct PutOptions {
    /// Shards or replicas.
    pub redundancy: Redundancy,
    /// Epochs to store.
    pub duration: u32,
    /// Highest price per GiB per epoch accepted (default: what the
    /// cheapest matching offers ask now).
    pub max_price: Option<u128>,
    /// Lowest host rating accepted.
    pub min_rating: u32,
    /// How long to wait for hosts to match, take and confirm the upload.
    pub wait: Duration,
    /// Stripes in flight during the upload.
    pub parallel: usize,
    /// Hosts picked by the Sender, one per stored shard in shard order
    /// (each shard on its host's cheapest offer that takes it); empty: the
    /// market's cheapest hosts.
    pub hosts: Vec<AccountId32>,
}

/// An offer as `pick_offer` weighs it: (id, price per GiB per epoch,
/// capacity, shortest and longest term).
pub type OfferTerms = (u64, u128, u64, u32, u32);

/// The cheapest of a host's offers that takes `billed` bytes for `duration`
/// epochs at most at `max_price` (any price if `None`).
pub fn pick_offer(
    offers: &[OfferTerms],
    billed: u64,
    duration: u32,
    max_price: Option<u128>,
) -> Option<OfferTerms> {
    offers
        .iter()
        .filter(|(_, price, capacity, min, max)| {
            *capacity >= billed
                && (*min..=*max).contains(&duration)
                && max_price.is_none_or(|m| *price <= m)
        })
        .min_by_key(|(id, price, ..)| (*price, *id))
        .copied()
}

/// The offer each picked host stores its shard on (see [`pick_offer`]),
/// in `hosts`' order, each checked against the host's free capacity; an
/// error that names the host and what to change if one cannot.
async fn picked_offers(
    ctx: &Ctx,
    hosts: &[AccountId32],
    largest: u64,
    opts: &PutOptions,
) -> Result<Vec<OfferTerms>> {
    let at = ctx.at().await?;
    let min = at
        .constants()
        .entry(api::constants().storage_market().min_contract_size())
        .map_err(|e| anyhow!("reading the chain's MinContractSize: {e}"))?;
    let billed = largest.max(min);
    let mut picked = Vec::new();
    for (i, who) in hosts.iter().enumerate() {
        if hosts[..i].contains(who) {
            bail!("--hosts names {who} twice: every shard needs its own host");
        }
        if *who == ctx.me() {
            bail!("--hosts names this account ({who}): a Sender cannot store with itself");
        }
        let apis = at.runtime_apis();
        let view = apis
            .call(api::runtime_apis().storage_market_api().host(*who))
            .await?
            .ok_or_else(|| anyhow!("{who} is not a registered host (see `masp hosts`)"))?;
        if view.capacity.saturating_sub(view.used) < billed {
            bail!(
                "host {who} has {} free, a shard needs {}: pick another host",
                units::fmt_bytes(view.capacity.saturating_sub(view.used)),
                units::fmt_bytes(billed)
            );
        }
        let offers: Vec<OfferTerms> = apis
            .call(api::runtime_apis().storage_market_api().host_offers(*who))
            .await?
            .into_iter()
            .map(|(id, o)| (id, o.price, o.capacity, o.min_duration, o.max_duration))
            .collect();
        let offer =
            pick_offer(&offers, billed, opts.duration, opts.max_price).ok_or_else(|| {
                anyhow!(
                "host {who} has no offer for {} over {} epochs{} ({} offer(s): see `masp hosts`)",
                units::fmt_bytes(billed),
                opts.duration,
                opts.max_price
                    .map(|p| format!(" at most {}/GiB/epoch", units::fmt_masp(p)))
                    .unwrap_or_default(),
                offers.len()
            )
            })?;
        picked.push(offer);
    }
    Ok(picked)
}

/// One shard placed by `put`.
#[derive(Debug, Clone)]
pub struct Placed {
    /// The shard.
    pub shard: u32,
    /// Its contract.
    pub contract: ContractId,
    /// Its host.
    pub host: AccountId32,
    /// Price per GiB per epoch.
    pub price: u128,
    /// The whole term's cost.
    pub cost: u128,
}

/// What a put did.
#[derive(Debug)]
pub struct PutSummary {
    /// The file's id (its request id).
    pub file: RequestId,
    /// Plaintext bytes.
    pub size: u64,
    /// Data shards.
    pub k: u32,
    /// Parity shards.
    pub m: u32,
    /// Bytes stored over all shards.
    pub stored: u64,
    /// The shards placed, with their contracts.
    pub placed: Vec<Placed>,
    /// Stored shards that found no host (`masp repair` places them).
    pub unplaced: Vec<u32>,
    /// Whether this resumed an interrupted put.
    pub resumed: bool,
    /// How long sealing and uploading the shards took (the chain's
    /// matching and confirmations not included).
    pub upload_time: std::time::Duration,
}

/// `masp put`: see the module docs. Resumes an interrupted put of the
/// same, unchanged file from wherever it stopped (matching, uploading or
/// confirming): the request and the sealed manifest are saved as soon as
/// the chain has the request.
pub async fn put(ctx: &Ctx, path: &Path, opts: &PutOptions) -> Result<PutSummary> {
    let source =
        std::fs::canonicalize(path).with_context(|| format!("cannot open {}", path.display()))?;
    let meta = std::fs::metadata(&source)?;
    if !meta.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    let size = meta.len();
    let pending_path = ctx.pending_path(&source);
    let resumable = ops::Pending::load(&pending_path)
        .filter(|p| p.path == source && p.size == size && p.modified == ops::modified_ns(&meta));

    let (request, mut manifest, resumed) = match resumable {
        Some(p) => {
            let sealed = ctx.manifests().load(p.request).ok_or_else(|| {
                anyhow!(
                    "the interrupted upload's manifest is gone; run put again after removing {}",
                    pending_path.display()
                )
            })?;
            let (m, _) = manifests::open_manifest(&ctx.id.master, p.request, &sealed)?;
            if m.is_legacy() {
                bail!(
                    "the interrupted upload of {} (file {}) was started by an older masp; \
                     remove it with `masp rm {}` and {}, then put it again",
                    path.display(),
                    p.request,
                    p.request,
                    pending_path.display()
                );
            }
            eprintln!(
                "Resuming the interrupted upload of {} (file {})",
                path.display(),
                p.request
            );
            (p.request, m, true)
        }
        None => {
            let record = |request| -> Result<()> {
                ops::Pending {
                    path: source.clone(),
                    size,
                    modified: ops::modified_ns(&meta),
                    request,
                }
                .save(&pending_path)
            };
            let (request, m) = place(ctx, &source, size, opts, record).await?;
            (request, m, false)
        }
    };
    let layout = check_manifest_layout(&manifest).map_err(|e| anyhow!("the manifest: {e}"))?;

    // The shards: what matched, after waiting for the rest while the
    // request rests in the book.
    let contracts = ops::wait_for_matches(ctx, request, opts.wait).await?;
    let replicas = as_replicas(&manifest, &contracts);
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
    let placed: BTreeSet<u32> = replicas.iter().map(|r| r.shard).collect();
    if placed.len() < layout.needed() {
        bail!(
            "only {} of the file's {} shards found a host, and it needs {} to be read: remove it \
             with `masp rm {request}` and put it again with fewer shards ({}) or a higher \
             --max-price (see `masp quote`)",
            placed.len(),
            manifest.shards.len(),
            layout.needed(),
            suggestion(placed.len())
        );
    }
    let unplaced: Vec<u32> = manifest
        .shards
        .iter()
        .map(|s| s.index)
        .filter(|t| !placed.contains(t))
        .collect();
    if !unplaced.is_empty() {
        eprintln!(
            "warning: shard(s) {unplaced:?} found no host: storing the other {} (the file \
             survives {} lost host(s) instead of {}); `masp repair {request}` places the rest",
            placed.len(),
            placed.len() - layout.needed(),
            manifest.shards.len() - layout.needed()
        );
    }
    if replicas != manifest.replicas {
        let now = unix_now();
        let new: Vec<Replica> = replicas
            .iter()
            .filter(|r| manifest.replica(r.contract).is_none())
            .cloned()
            .collect();
        for r in new {
            manifest.record(HistoryEntry {
                at: now,
                kind: HistoryKind::Placed,
                shard: r.shard,
                old_contract: None,
                new_contract: Some(r.contract),
                host: r.host,
            });
        }
        manifest.replicas = replicas;
        manifest.updated = now;
        ctx.save_manifest(
            request,
            &ops::seal_manifest(&ctx.id.master, request, &manifest),
        )?;
    }

    // Upload every shard to its host, a stripe at a time.
    let bars = MultiProgress::new();
    if !ctx.progress {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut targets = Vec::new();
    let mut failed = Vec::new();
    for r in &manifest.replicas {
        let Some(shard) = manifest.shard(r.shard) else {
            continue;
        };
        match prepare_target(
            ctx,
            shard,
            r.contract,
            request,
            &AccountId32(r.host),
            opts.wait,
            &bars,
        )
        .await
        {
            Ok(t) => targets.push(Arc::new(t)),
            Err(e) => failed.push(format!(
                "shard {} (contract {}): {e:#}",
                r.shard, r.contract
            )),
        }
    }
    let set = Arc::new(shard_set(&ctx.id.master, &manifest, layout));
    let file =
        Arc::new(File::open(&source).with_context(|| format!("cannot open {}", path.display()))?);
    let upload_started = std::time::Instant::now();
    upload(
        ctx,
        &manifest,
        set,
        &targets,
        StripeSource::File { file, layout },
        opts.parallel,
    )
    .await?;
    let upload_time = upload_started.elapsed();
    failed.extend(failures(&targets));
    if !failed.is_empty() {
        bail!(
            "upload incomplete (run the same `masp put` again to resume):\n  {}",
            failed.join("\n  ")
        );
    }

    // Wait for every host's confirmation on chain.
    let ids: Vec<ContractId> = manifest.replicas.iter().map(|r| r.contract).collect();
    let again =
        format!("run `masp put` again to check, or `masp rm {request}` and put the file again");
    let confirmed = confirmations(ctx, &ids, opts.wait, &again).await?;
    let _ = std::fs::remove_file(&pending_path);
    let placed = confirmed
        .into_iter()
        .zip(&manifest.replicas)
        .map(|((id, c), r)| Placed {
            shard: r.shard,
            contract: id,
            host: c.host,
            price: c.price,
            cost: c
                .epoch_cost
                .saturating_mul((c.last_epoch.saturating_sub(c.first_epoch) + 1) as u128),
        })
        .collect();
    Ok(PutSummary {
        file: request,
        size,
        k: manifest.k,
        m: manifest.m,
        stored: manifest.shards.iter().map(|s| s.size).sum(),
        placed,
        unplaced,
        resumed,
        upload_time,
    })
}

/// The market must give every stored shard its own host now: the highest
/// price accepted, `--max-price` or what the cheapest offers that do ask.
async fn market_max_price(
    ctx: &Ctx,
    layout: &Layout,
    stored: usize,
    size: u64,
    opts: &PutOptions,
) -> Result<u128> {
    let quote = api::runtime_apis().storage_market_api().quote(
        layout.largest_shard(),
        opts.duration,
        stored as u32,
        opts.max_price,
        opts.min_rating,
    );
    let quote = ctx.at().await?.runtime_apis().call(quote).await?;
    if quote.lines.len() < stored {
        bail!(
            "{} stores this file as {stored} shards, each on its own host, but only {} host(s) \
             offer storage for {} epochs at rating >= {}{} now: try {} (see `masp quote {} \
             --duration {}`)",
            opts.redundancy,
            quote.lines.len(),
            opts.duration,
            opts.min_rating,
            opts.max_price
                .map(|p| format!(" and at most {}/GiB/epoch", units::fmt_masp(p)))
                .unwrap_or_default(),
            suggestion(quote.lines.len()),
            size,
            opts.duration
        );
    }
    Ok(match opts.max_price {
        Some(p) => p,
        None => quote.lines.iter().map(|l| l.price).max().unwrap_or(0),
    })
}

/// Seals `source` (to learn every shard's Merkle root), prices and places
/// the shards with one `place_shards` call (`place_on_offers` on the hosts
/// the Sender picked), and at once saves the manifest
/// (no replicas yet) and, through `placed`, the record that lets an
/// interrupted put resume.
async fn place(
    ctx: &Ctx,
    source: &Path,
    size: u64,
    opts: &PutOptions,
    placed: impl FnOnce(RequestId) -> Result<()>,
) -> Result<(RequestId, Manifest)> {
    let (k, m) = opts.redundancy.km();
    let layout = Layout::new(k, m, size)?;
    let stored = layout.stored_shards().count();
    let most = max_shards(ctx).await?;
    if k + m > most {
        bail!(
            "{}: the chain places at most {most} shards (one host each); e.g. --shards 10+4",
            opts.redundancy
        );
    }
    if let Some(t) = layout
        .stored_shards()
        .find(|&t| layout.shard_chunks(t) > u64::from(u32::MAX))
    {
        bail!(
            "shard {t} would have more than {} chunks: use more data shards",
            u32::MAX
        );
    }
    // Hosts the Sender picked: one offer each, known before sealing.
    let picked = if opts.hosts.is_empty() {
        None
    } else {
        if opts.hosts.len() != stored {
            bail!(
                "{} stores this file as {stored} shards, each on its own host, but --hosts names \
                 {}: name {stored} hosts, or choose --shards/--replicas for {}",
                opts.redundancy,
                opts.hosts.len(),
                opts.hosts.len()
            );
        }
        Some(picked_offers(ctx, &opts.hosts, layout.largest_shard(), opts).await?)
    };
    let max_price = match &picked {
        Some(offers) => opts
            .max_price
            .unwrap_or_else(|| offers.iter().map(|o| o.1).max().unwrap_or(0)),
        None => market_max_price(ctx, &layout, stored, size, opts).await?,
    };

    let file_id: FileId = rand::random();
    let file_key = FileCipher::file_key(&ctx.id.master, &file_id);
    let set = Arc::new(ShardSet::new(&file_key, file_id, layout));
    let bar = if ctx.progress {
        ProgressBar::new(size)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("   sealing [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .map_err(|e| anyhow!("progress template: {e}"))?
            .progress_chars("=> "),
    );
    let (b, src, s) = (bar.clone(), source.to_path_buf(), set.clone());
    let shards = tokio::task::spawn_blocking(move || -> Result<Vec<Shard>> {
        let file = File::open(&src)?;
        let shards = seal_shards(&file, &s, &|done| b.set_position(done))?;
        if file.metadata()?.len() != size {
            bail!("the file changed while it was sealed (it was {size} bytes): put it again");
        }
        Ok(shards)
    })
    .await??;
    bar.finish_and_clear();

    let events = match &picked {
        Some(offers) => {
            ctx.submit(&api::tx().storage_market().place_on_offers(
                BoundedVec(specs(&shards)),
                BoundedVec(offers.iter().map(|o| o.0).collect()),
                opts.duration,
                max_price,
            ))
            .await
        }
        None => {
            ctx.submit(&api::tx().storage_market().place_shards(
                BoundedVec(specs(&shards)),
                BoundedVec(Vec::new()),
                opts.duration,
                max_price,
                opts.min_rating,
            ))
            .await
        }
    }
    .context("placing the storage request")?;
    let request = events
        .find_first::<api::storage_market::events::RequestPlaced>()
        .ok_or_else(|| anyhow!("the chain did not report the request"))??
        .request;
    let now = unix_now();
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        request,
        file_id,
        name: source
            .file_name()
            .map(|n| n.to_string_lossy().as_bytes().to_vec())
            .unwrap_or_default(),
        size,
        master_kdf: KdfParams {
            m_kib: MASTER_KDF.m_kib,
            t: MASTER_KDF.t,
            p: MASTER_KDF.p,
        },
        created: now,
        updated: now,
        sealing: ChunkSealing::ShardKeys,
        k: k as u32,
        m: m as u32,
        shards,
        replicas: Vec::new(),
        history: Vec::new(),
    };
    ctx.save_manifest(
        request,
        &ops::seal_manifest(&ctx.id.master, request, &manifest),
    )?;
    placed(request)?;
    Ok((request, manifest))
}

#[cfg(test)]
mod tests {
    use super::pick_offer;

    /// A picked host stores on its cheapest offer that takes the shard:
    /// one too small, outside its term bounds or above `--max-price` is
    /// passed over, and none at all is `None` (the CLI then says why).
    #[test]
    fn a_picked_host_stores_on_its_cheapest_offer_that_takes_the_shard() {
        let offers = [
            (1, 5, 100, 1, 10),  // dear
            (2, 1, 10, 1, 10),   // cheapest, too small
            (3, 2, 100, 20, 30), // term outside
            (4, 3, 100, 1, 10),
            (5, 3, 100, 1, 10), // as cheap, later id
        ];
        assert_eq!(pick_offer(&offers, 50, 5, None).map(|o| o.0), Some(4));
        assert_eq!(pick_offer(&offers, 50, 5, Some(3)).map(|o| o.0), Some(4));
        assert_eq!(pick_offer(&offers, 50, 5, Some(2)), None);
        assert_eq!(pick_offer(&offers, 50, 25, None).map(|o| o.0), Some(3));
        assert_eq!(pick_offer(&offers, 5, 5, None).map(|o| o.0), Some(2));
        assert_eq!(pick_offer(&offers, 500, 5, None), None);
        assert_eq!(pick_offer(&[], 5, 5, None), None);
    }
}
