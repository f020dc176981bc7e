//! Uploading shards to their hosts, a stripe at a time, and waiting for
//! their confirmations.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs::File,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Result};
use bytes::Bytes;
use futures::{stream, StreamExt, TryStreamExt};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use masp_chain::{
    api::{
        self,
        runtime_types::pallet_storage_market::types::{ContractState, ShardSpec},
    },
    AccountId32,
};
use masp_primitives::{
    manifest::{Manifest, Replica, Shard},
    market::{ContractId, RequestId},
    ticket::{SignedTicket, TicketOp, MAX_TICKET_TTL},
};

use super::{read::Reader, read_stripe, roots_by_shard, ShardSet};
use crate::{
    erasure::Layout,
    hostapi::{sign_ticket, HostApi, HostError},
    ops::{self, ChainContract, Ctx},
};

/// How long a contract's host may go without answering at all before it
/// counts as down. A host that answers but does not know the contract yet
/// (it follows the chain a few blocks behind) is waited for the whole
/// `wait`; one that refuses connections is not worth minutes.
pub(super) const DOWN_AFTER: Duration = Duration::from_secs(15);

/// How long a host whose chain follower is past the block that holds the
/// contract may still say it does not know the contract (its follower
/// records a block's contracts right after it sees the block: seconds at
/// most). Longer, it is refusing the contract and counts as down.
pub(super) const REFUSED_AFTER: Duration = Duration::from_secs(10);

/// A contract's host that could not be reached at all for [`DOWN_AFTER`],
/// or that followed the chain past the contract and still did not take it
/// for [`REFUSED_AFTER`]: the shard has to go elsewhere.
#[derive(Debug, thiserror::Error)]
#[error("host {host} {why} (tried for {secs} s)")]
pub(super) struct HostDown {
    /// The host.
    pub(super) host: AccountId32,
    /// What it did.
    why: &'static str,
    /// Seconds it was tried.
    secs: u64,
    /// The last failure.
    #[source]
    source: HostError,
}

/// One contract to upload a shard to.
pub(super) struct Target {
    shard: usize,
    /// Its contract.
    pub(super) contract: ContractId,
    /// Its request: the manifest it gets is sealed for it.
    request: RequestId,
    api: HostApi,
    ticket: SignedTicket,
    missing: BTreeSet<u64>,
    bar: ProgressBar,
    failed: Mutex<Option<String>>,
}

impl Target {
    fn failed(&self) -> bool {
        self.failed.lock().map(|f| f.is_some()).unwrap_or(true)
    }

    fn fail(&self, why: String) {
        if let Ok(mut f) = self.failed.lock() {
            f.get_or_insert(why);
        }
    }
}

/// Where the plaintext of the stripes to upload comes from.
pub(super) enum StripeSource {
    /// The Sender's file (`put`).
    File {
        /// The file.
        file: Arc<File>,
        /// Its layout.
        layout: Layout,
    },
    /// Other shards on their hosts (repair).
    Net(Arc<Reader>),
}

impl StripeSource {
    async fn stripe(&self, s: u64) -> Result<Vec<Vec<u8>>> {
        match self {
            Self::File { file, layout } => {
                let (file, layout) = (file.clone(), *layout);
                Ok(tokio::task::spawn_blocking(move || read_stripe(&file, &layout, s)).await??)
            }
            Self::Net(reader) => reader.stripe(s).await,
        }
    }

    /// What it means when a sealed chunk is not the one the manifest lists.
    fn mismatch(&self, shard: usize, stripe: u64) -> String {
        match self {
            Self::File { .. } => "the file changed since this upload started; remove it with \
                                  `masp rm` and put it again"
                .to_string(),
            Self::Net(_) => format!(
                "chunk {stripe} of shard {shard} rebuilt from the other shards does not match \
                 its root in the manifest: the manifest is not this file's"
            ),
        }
    }
}

/// The style of an upload's progress bars.
fn bar_style() -> Result<ProgressStyle> {
    Ok(ProgressStyle::with_template(
        "{prefix:>18} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
    )
    .map_err(|e| anyhow!("progress template: {e}"))?
    .progress_chars("=> "))
}

/// Gets `contract`'s host (`host`) ready for shard `shard`: waits until it
/// knows the contract, hands it the chunk roots, and learns which chunks
/// it still misses.
pub(super) async fn prepare_target(
    ctx: &Ctx,
    shard: &Shard,
    contract: ContractId,
    request: RequestId,
    host: &AccountId32,
    wait: Duration,
    bars: &MultiProgress,
) -> Result<Target> {
    let api = ctx.host_api(host).await?;
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
    let bar = bars.add(ProgressBar::new(shard.size));
    bar.set_style(bar_style()?);
    bar.set_prefix(format!("shard {} contract {contract}", shard.index));
    // The host learns of the contract from the chain within a few blocks.
    // The chain holds the contract by this block: a host that says it has
    // followed the chain past it and still does not know the contract is
    // refusing it (a hostile or broken host that answers `/health` but
    // takes no upload), not behind.
    let known_by = ctx.at().await.ok().map(|at| at.block_number());
    let started = Instant::now();
    let deadline = started + wait;
    let mut silent_since: Option<Instant> = None;
    let mut refusing_since: Option<Instant> = None;
    let mut next_look = started;
    let status = loop {
        match api.status(contract).await {
            Ok(s) => break s,
            Err(e) => {
                let now = Instant::now();
                let down = |why, e| {
                    bar.finish_and_clear();
                    HostDown {
                        host: *host,
                        why,
                        secs: now.duration_since(started).as_secs(),
                        source: e,
                    }
                };
                if e.status() == Some(http::StatusCode::NOT_FOUND) {
                    silent_since = None;
                    if refusing_since.is_none() && now >= next_look {
                        next_look = now + Duration::from_secs(2);
                        if let (Some(known), Ok(Some(best))) = (known_by, api.health().await) {
                            if best >= known {
                                refusing_since = Some(now);
                            }
                        }
                    }
                    if refusing_since.is_some_and(|t| now.duration_since(t) >= REFUSED_AFTER) {
                        let why = "follows the chain past the contract but does not take it";
                        return Err(down(why, e).into());
                    }
                } else if e.status().is_some() {
                    silent_since = None;
                } else if now.duration_since(*silent_since.get_or_insert(now)) >= DOWN_AFTER {
                    return Err(down("has not answered", e).into());
                }
                if now >= deadline {
                    return Err(e.into());
                }
                bar.set_message(format!("waiting for the host ({e})"));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    bar.set_message("");
    let count = shard.chunk_roots.len();
    if status.chunks as usize != count || status.missing.iter().any(|&i| i as usize >= count) {
        bail!(
            "host {} reports {} chunks (missing {:?}) for shard {} of {count}: not uploading to it",
            api.endpoint(),
            status.chunks,
            status.missing,
            shard.index
        );
    }
    if !status.roots_uploaded {
        api.put_roots(contract, &ticket, &shard.chunk_roots).await?;
    }
    let missing: BTreeSet<u64> = status.missing.iter().map(|&i| u64::from(i)).collect();
    let full = masp_proofs::CHUNK_SIZE as u64;
    let done = (count as u64 - missing.len() as u64).saturating_mul(full);
    bar.set_position(done.min(shard.size));
    Ok(Target {
        shard: shard.index as usize,
        contract,
        request,
        api,
        ticket,
        missing,
        bar,
        failed: Mutex::new(None),
    })
}

/// Uploads every chunk `targets` miss, a stripe at a time (`parallel`
/// stripes in flight), sealed from `source` and checked against the
/// manifest's chunk roots; then gives each host the sealed manifest (a
/// host keeps a contract's first one: 409 is fine). A target whose host
/// fails is marked failed and the others go on; an unreadable source stops
/// everything. Returns the bytes sent.
pub(super) async fn upload(
    ctx: &Ctx,
    m: &Manifest,
    set: Arc<ShardSet>,
    targets: &[Arc<Target>],
    source: StripeSource,
    parallel: usize,
) -> Result<u64> {
    let l = *set.layout();
    let roots = Arc::new(roots_by_shard(&l, &m.shards));
    let stripes: BTreeSet<u64> = targets
        .iter()
        .flat_map(|t| t.missing.iter().copied())
        .collect();
    let written = AtomicU64::new(0);
    let source = Arc::new(source);
    stream::iter(stripes)
        .map(|s| {
            let (set, roots, source, written) =
                (set.clone(), roots.clone(), source.clone(), &written);
            async move {
                let want: Vec<&Arc<Target>> = targets
                    .iter()
                    .filter(|t| t.missing.contains(&s) && !t.failed())
                    .collect();
                if want.is_empty() {
                    return Ok(());
                }
                let mut shards: Vec<usize> = want.iter().map(|t| t.shard).collect();
                shards.sort_unstable();
                shards.dedup();
                let data = source.stripe(s).await?;
                let src = source.clone();
                let sealed =
                    tokio::task::spawn_blocking(move || -> Result<BTreeMap<usize, Bytes>> {
                        let mut out = BTreeMap::new();
                        for (t, chunk) in set.seal_stripe(s, &data, &shards)? {
                            let expected = roots.get(t).and_then(|r| r.get(s as usize));
                            if expected != Some(&masp_proofs::chunk_root(&chunk)) {
                                bail!("{}", src.mismatch(t, s));
                            }
                            out.insert(t, Bytes::from(chunk));
                        }
                        Ok(out)
                    })
                    .await??;
                let index = u32::try_from(s).map_err(|_| anyhow!("chunk {s} is out of range"))?;
                futures::future::join_all(want.into_iter().map(|t| {
                    let data = sealed.get(&t.shard).cloned().unwrap_or_default();
                    async move {
                        let len = data.len() as u64;
                        match t.api.put_chunk(t.contract, index, &t.ticket, data).await {
                            Ok(()) => {
                                t.bar.inc(len);
                                written.fetch_add(len, Relaxed);
                            }
                            Err(e) => t.fail(format!("chunk {s}: {e}")),
                        }
                    }
                }))
                .await;
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(parallel.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    for t in targets.iter().filter(|t| !t.failed()) {
        let sealed = ops::seal_manifest(&ctx.id.master, t.request, m);
        match t.api.put_manifest(t.contract, &t.ticket, sealed).await {
            Err(e) if e.status().map(|s| s.as_u16()) == Some(409) => {}
            Err(e) => t.fail(format!("the manifest: {e}")),
            Ok(()) => {}
        }
        if !t.failed() {
            t.bar.finish_with_message("uploaded");
        }
    }
    Ok(written.into_inner())
}

/// The failures of `targets`, one line each; empty if none failed.
pub(super) fn failures(targets: &[Arc<Target>]) -> Vec<String> {
    targets
        .iter()
        .filter_map(|t| {
            let why = t.failed.lock().ok()?.clone()?;
            Some(format!(
                "shard {} (contract {}): {why}",
                t.shard, t.contract
            ))
        })
        .collect()
}

/// Waits (up to `wait`) until every contract in `contracts` is confirmed
/// by its host; returns them as the chain has them.
pub(super) async fn confirmations(
    ctx: &Ctx,
    contracts: &[ContractId],
    wait: Duration,
    again: &str,
) -> Result<Vec<(ContractId, ChainContract)>> {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    for &id in contracts {
        loop {
            match ctx.contract(id).await? {
                Some(c) if matches!(c.state, ContractState::Active) => {
                    out.push((id, c));
                    break;
                }
                Some(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(500)).await
                }
                Some(_) => bail!(
                    "contract {id} is uploaded but its host has not confirmed it within {wait:?}; \
                     {again}"
                ),
                None => bail!(
                    "contract {id} ended before its host confirmed the upload (upload window \
                     closed?); {again}"
                ),
            }
        }
    }
    Ok(out)
}

/// `contracts` (of one request) as replicas of `m`'s shards, matched by
/// Merkle root (a contract of another root is ignored).
pub(super) fn as_replicas(m: &Manifest, contracts: &[(ContractId, ChainContract)]) -> Vec<Replica> {
    contracts
        .iter()
        .filter_map(|(id, c)| {
            let shard = m.shard_with_root(&c.merkle_root)?;
            Some(Replica {
                contract: *id,
                host: c.host.0,
                last_epoch: c.last_epoch,
                shard: shard.index,
            })
        })
        .collect()
}

/// The chain's description of `shards`.
pub(super) fn specs<'a>(shards: impl IntoIterator<Item = &'a Shard>) -> Vec<ShardSpec> {
    shards
        .into_iter()
        .map(|s| ShardSpec {
            size: s.size,
            merkle_root: s.root,
            leaf_count: masp_proofs::leaf_count(s.size),
        })
        .collect()
}

/// The most shards the chain places in one request (`MaxReplicas`).
pub(super) async fn max_shards(ctx: &Ctx) -> Result<usize> {
    let at = ctx.at().await?;
    let n = at
        .constants()
        .entry(api::constants().storage_market().max_replicas())
        .map_err(|e| anyhow!("reading the chain's MaxReplicas: {e}"))?;
    Ok(n as usize)
}

/// A `--shards` that `hosts` hosts can take, for messages.
pub(super) fn suggestion(hosts: usize) -> String {
    match hosts {
        0 => "no host offers storage on these terms now: try a higher --max-price or a lower \
              --min-rating"
            .to_string(),
        1 => "`--replicas 1` (one host, no redundancy)".to_string(),
        2 => "`--replicas 2`".to_string(),
        n => {
            let m = (n / 3).max(1);
            format!("`--shards {}+{m}` or `--replicas {n}`", n - m)
        }
    }
}
