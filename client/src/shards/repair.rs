//! `masp repair` and the agent's automatic repair.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};
use indicatif::MultiProgress;
use masp_chain::{
    api::{
        self,
        runtime_types::{
            bounded_collections::bounded_vec::BoundedVec,
            pallet_storage_market::types::ContractState,
        },
    },
    AccountId32,
};
use masp_primitives::{
    manifest::{HistoryEntry, HistoryKind, Manifest, Replica, Shard},
    market::{ContractId, RequestId},
    ticket::TicketOp,
};

use super::{
    check_manifest_layout, health,
    read::{live_contracts, sources_of, Reader},
    shard_set,
    upload::{
        as_replicas, confirmations, failures, max_shards, prepare_target, specs, upload, HostDown,
        StripeSource, Target,
    },
    ChainContract,
};
use crate::{
    erasure::Layout,
    hostapi::unix_now,
    manifests,
    ops::{self, Ctx},
    units,
};

/// Options of `masp repair`.
#[derive(Clone, Debug)]
pub struct RepairOptions {
    /// Highest price per GiB per epoch accepted for the new shards
    /// (default: what matching offers ask now).
    pub max_price: Option<u128>,
    /// Lowest host rating accepted.
    pub min_rating: u32,
    /// How long to wait for matches, uploads and confirmations.
    pub wait: Duration,
    /// Stripes in flight.
    pub parallel: usize,
    /// Also rebuild shards whose contract is live but whose host does not
    /// answer for it (asked by hand; the agent waits for the chain to end
    /// such contracts).
    pub probe: bool,
}

/// Rounds of placing a lost shard when its new host turns out not to
/// answer (each round avoids the hosts found down before).
const PLACE_ROUNDS: u32 = 3;

/// One shard a repair rebuilt.
#[derive(Clone, Debug)]
pub struct Rebuilt {
    /// The shard.
    pub shard: u32,
    /// The contract it replaced, if any.
    pub old: Option<ContractId>,
    /// Its new contract.
    pub contract: ContractId,
    /// Its new host.
    pub host: AccountId32,
}

/// What a repair did.
#[derive(Clone, Debug, Default)]
pub struct RepairReport {
    /// The file.
    pub file: RequestId,
    /// Shards rebuilt and confirmed on new hosts.
    pub rebuilt: Vec<Rebuilt>,
    /// Shards that found no host this time (run the repair again).
    pub unplaced: Vec<u32>,
    /// Contracts of hosts that did not serve, cancelled once replaced.
    pub cancelled: Vec<ContractId>,
    /// Bytes read from the other shards' hosts.
    pub bytes_read: u64,
    /// Bytes written to the new hosts.
    pub bytes_written: u64,
    /// Shards alive afterwards, of `stored`.
    pub alive: usize,
    /// Stored shards.
    pub stored: usize,
    /// Shards needed to read the file.
    pub needed: usize,
    /// Hosts found not to answer, and so not used: candidates that did
    /// not answer `/health`, and new hosts that never answered (their
    /// contracts cancelled, the shards placed elsewhere).
    pub down: Vec<AccountId32>,
}

/// How a shard stands before a repair.
enum ShardState {
    /// A confirmed contract whose host serves.
    Alive,
    /// A contract being uploaded (an earlier repair or put stopped).
    Uploading(ContractId),
    /// No live contract that serves: rebuild and place it.
    Lost,
}

/// What a repair finds.
struct Survey {
    /// Shards with a confirmed contract whose host serves.
    alive: Vec<u32>,
    /// Shards to rebuild and place.
    to_place: Vec<u32>,
    /// Shards whose contract is still being uploaded: (shard, contract).
    uploading: Vec<(u32, ContractId)>,
    /// Live contracts whose hosts do not serve their shard (probed), of
    /// shards that are not alive elsewhere: (shard, contract).
    unserving: Vec<(u32, ContractId)>,
}

/// How each stored shard of `m` stands among this account's `live`
/// contracts (asking the hosts whether they serve if `probe`).
async fn survey(
    ctx: &Ctx,
    m: &Manifest,
    live: &BTreeMap<ContractId, ChainContract>,
    probe: bool,
) -> Survey {
    let mut states: BTreeMap<u32, ShardState> = BTreeMap::new();
    let mut unserving = Vec::new();
    for s in &m.shards {
        let mut state = ShardState::Lost;
        for r in m.replicas.iter().filter(|r| r.shard == s.index) {
            let Some(c) = live.get(&r.contract) else {
                continue;
            };
            if c.merkle_root != s.root || c.size != s.size {
                eprintln!(
                    "warning: contract {} does not store shard {} (another root or size on \
                     chain); not counted",
                    r.contract, s.index
                );
                continue;
            }
            if !matches!(c.state, ContractState::Active) {
                if matches!(state, ShardState::Lost) {
                    state = ShardState::Uploading(r.contract);
                }
                continue;
            }
            if probe && !serves(ctx, r.contract, &c.host).await {
                unserving.push((s.index, r.contract));
                continue;
            }
            state = ShardState::Alive;
        }
        states.insert(s.index, state);
    }
    unserving.retain(|(t, _)| !matches!(states.get(t), Some(ShardState::Alive)));
    let pick = |want: fn(&ShardState) -> bool| -> Vec<u32> {
        states
            .iter()
            .filter(|(_, s)| want(s))
            .map(|(t, _)| *t)
            .collect()
    };
    Survey {
        alive: pick(|s| matches!(s, ShardState::Alive)),
        to_place: pick(|s| matches!(s, ShardState::Lost)),
        uploading: states
            .iter()
            .filter_map(|(t, s)| match s {
                ShardState::Uploading(c) => Some((*t, *c)),
                _ => None,
            })
            .collect(),
        unserving,
    }
}

/// A contract a repair placed: (shard, contract, the contract it replaces).
type NewContract = (u32, ContractId, Option<ContractId>);

/// `masp repair`: see the module docs.
pub async fn repair(ctx: &Ctx, file: RequestId, opts: &RepairOptions) -> Result<RepairReport> {
    repair_avoiding(ctx, file, opts, &mut Vec::new()).await
}

/// [`repair`], placing no shard on the hosts of `down`, and adding to it
/// every new host found not to answer (also when the repair fails).
async fn repair_avoiding(
    ctx: &Ctx,
    file: RequestId,
    opts: &RepairOptions,
    down: &mut Vec<AccountId32>,
) -> Result<RepairReport> {
    let mut m = manifests::find_manifest(ctx, file).await?;
    if m.is_legacy() {
        bail!(
            "file {file} was stored by an older masp as identical replicas under one key; repair \
             rebuilds files stored with --shards or --replicas since manifest version 3: \
             `masp get {file}`, put it again, then `masp rm {file}`"
        );
    }
    let layout = check_manifest_layout(&m).map_err(|e| anyhow!("the file's manifest: {e}"))?;
    let live = live_contracts(ctx).await?;
    let epoch = ctx.current_epoch().await?;
    let Some(term_end) = health(&m, &live, epoch).term_end.filter(|&e| e > epoch) else {
        bail!(
            "file {file}'s term is over (or never started): nothing to repair; put the file \
             again to store it longer"
        );
    };
    let survey = survey(ctx, &m, &live, opts.probe).await;
    let mut report = RepairReport {
        file,
        stored: m.shards.len(),
        needed: layout.needed(),
        ..Default::default()
    };
    // Replicas whose contract is gone leave the manifest (into its history).
    let now = unix_now();
    let gone: Vec<Replica> = m
        .replicas
        .iter()
        .filter(|r| !live.contains_key(&r.contract))
        .cloned()
        .collect();
    for r in &gone {
        record_lost(&mut m, r.shard, r.contract, r.host);
    }
    if survey.to_place.is_empty() && survey.uploading.is_empty() {
        if !gone.is_empty() {
            m.updated = now;
            ctx.save_manifest(file, &ops::seal_manifest(&ctx.id.master, file, &m))?;
        }
        report.alive = survey.alive.len();
        return Ok(report);
    }
    if survey.alive.len() < layout.needed() {
        bail!(
            "only {} of file {file}'s {} shards are alive and served, and {} are needed to \
             rebuild the others: it cannot be repaired now{}",
            survey.alive.len(),
            m.shards.len(),
            layout.needed(),
            if survey.uploading.is_empty() {
                String::new()
            } else {
                format!(
                    " (shard(s) {:?} are still being uploaded: finish their upload first)",
                    survey.uploading.iter().map(|u| u.0).collect::<Vec<_>>()
                )
            }
        );
    }

    // Place the lost shards, and get every new host ready. A host that
    // does not answer at all is given up at once: its contract is
    // cancelled, and its shard placed again avoiding it (a few rounds).
    let duration = term_end - epoch;
    let known_down = down.len();
    let mut new_contracts: Vec<NewContract> = Vec::new();
    let mut to_place = survey.to_place.clone();
    let mut batch: Vec<(u32, ContractId)> = survey.uploading.clone();
    let bars = MultiProgress::new();
    if !ctx.progress {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut targets = Vec::new();
    let mut failed = Vec::new();
    for round in 1..=PLACE_ROUNDS {
        if !to_place.is_empty() {
            let placed = place_lost(
                ctx,
                &mut m,
                &to_place,
                &survey.unserving,
                &gone,
                &live,
                down,
                duration,
                opts,
            )
            .await?;
            batch.extend(placed.iter().map(|n| (n.0, n.1)));
            new_contracts.extend(placed);
        }
        to_place.clear();
        for (t, contract) in std::mem::take(&mut batch) {
            let (Some(shard), Some(c)) = (m.shard(t), ctx.contract(contract).await?) else {
                continue;
            };
            let host = c.host;
            match prepare_target(ctx, shard, contract, c.request, &host, opts.wait, &bars).await {
                Ok(target) => targets.push(Arc::new(target)),
                Err(e) if e.downcast_ref::<HostDown>().is_some() && round < PLACE_ROUNDS => {
                    eprintln!(
                        "warning: shard {t} (contract {contract}): {e:#}; placing it elsewhere"
                    );
                    give_up_contract(ctx, &mut m, t, contract, &host).await;
                    new_contracts.retain(|n| n.1 != contract);
                    if !down.contains(&host) {
                        down.push(host);
                    }
                    to_place.push(t);
                }
                Err(e) => failed.push(format!("shard {t} (contract {contract}): {e:#}")),
            }
        }
        if to_place.is_empty() {
            break;
        }
    }
    report.down = down[known_down..].to_vec();
    let placed: BTreeSet<u32> = new_contracts.iter().map(|n| n.0).collect();
    report.unplaced = survey
        .to_place
        .iter()
        .copied()
        .filter(|t| !placed.contains(t))
        .collect();
    if !report.unplaced.is_empty() {
        eprintln!(
            "warning: shard(s) {:?} found no host this time (every other host avoided, or none \
             at the price): run `masp repair {file}` again later",
            report.unplaced
        );
    }

    // Rebuild from the alive shards and upload.
    let (read, written, confirmed) =
        rebuild(ctx, &m, layout, &survey, &live, targets, failed, opts).await?;
    report.bytes_read = read;
    report.bytes_written = written;
    for (id, c) in &confirmed {
        if let Some(r) = m.replica(*id) {
            report.rebuilt.push(Rebuilt {
                shard: r.shard,
                old: new_contracts.iter().find(|n| n.1 == *id).and_then(|n| n.2),
                contract: *id,
                host: c.host,
            });
        }
    }

    // Hosts that did not serve: their contracts end now that the shard
    // lives elsewhere (unspent escrow returns).
    let replaced: BTreeSet<u32> = report.rebuilt.iter().map(|r| r.shard).collect();
    for &(t, contract) in survey.unserving.iter().filter(|u| replaced.contains(&u.0)) {
        match ctx
            .submit(&api::tx().storage_market().cancel_contract(contract))
            .await
        {
            Ok(_) => {
                if let Some(r) = m.replica(contract).cloned() {
                    record_lost(&mut m, t, contract, r.host);
                }
                m.replicas.retain(|r| r.contract != contract);
                report.cancelled.push(contract);
            }
            Err(e) => eprintln!(
                "warning: cancelling contract {contract} of a host that does not serve shard \
                 {t}: {e:#}"
            ),
        }
    }
    m.updated = unix_now();
    ctx.save_manifest(file, &ops::seal_manifest(&ctx.id.master, file, &m))?;
    report.alive = health(&m, &live_contracts(ctx).await?, epoch).alive;
    Ok(report)
}

/// Places `survey`'s lost shards of `m` for `duration` epochs with one
/// `place_shards` call, on hosts that hold none of the file's shards and
/// did not lose one (`gone`), and records each contract in the manifest
/// (saved at once: an interrupted repair resumes their upload) as soon as
/// it matches; takes back what found no host within `opts.wait`.
#[allow(clippy::too_many_arguments)]
async fn place_lost(
    ctx: &Ctx,
    m: &mut Manifest,
    to_place: &[u32],
    unserving: &[(u32, ContractId)],
    gone: &[Replica],
    live: &BTreeMap<ContractId, ChainContract>,
    down: &mut Vec<AccountId32>,
    duration: u32,
    opts: &RepairOptions,
) -> Result<Vec<NewContract>> {
    let mut avoid: Vec<AccountId32> = Vec::new();
    let live_hosts = m
        .replicas
        .iter()
        .filter_map(|r| live.get(&r.contract))
        .map(|c| c.host);
    let lost_hosts = gone.iter().map(|r| AccountId32(r.host));
    for host in live_hosts.chain(down.iter().copied()).chain(lost_hosts) {
        if !avoid.contains(&host) {
            avoid.push(host);
        }
    }
    let shards: Vec<&Shard> = to_place.iter().filter_map(|t| m.shard(*t)).collect();
    // The offers that would match now, past every avoided host, and a few
    // more: their hosts are asked whether they are up, and those that do
    // not answer are avoided too (a host that died stays registered, and
    // often cheapest, until the chain notices).
    let largest = shards.iter().map(|s| s.size).max().unwrap_or(0);
    let quote = api::runtime_apis().storage_market_api().quote(
        largest,
        duration,
        (shards.len() + avoid.len() + PROBE_SPARE) as u32,
        opts.max_price,
        opts.min_rating,
    );
    let lines = ctx.at().await?.runtime_apis().call(quote).await?.lines;
    let mut candidates: Vec<AccountId32> = Vec::new();
    for l in &lines {
        if !avoid.contains(&l.host) && !candidates.contains(&l.host) {
            candidates.push(l.host);
        }
    }
    candidates.truncate(shards.len() + PROBE_SPARE);
    let probes = candidates
        .iter()
        .map(|h| async move { (*h, is_up(ctx, h).await) });
    for (host, up) in futures::future::join_all(probes).await {
        if !up {
            eprintln!("warning: host {host} does not answer: no shard is placed on it");
            avoid.push(host);
            if !down.contains(&host) {
                down.push(host);
            }
        }
    }
    avoid.truncate(max_shards(ctx).await?);
    let max_price = match opts.max_price {
        Some(p) => p,
        // Enough to price the shards past every avoided host.
        None => lines.iter().map(|l| l.price).max().ok_or_else(|| {
            anyhow!(
                "no host offers storage for {duration} epochs at rating >= {} now; see \
                 `masp quote`",
                opts.min_rating
            )
        })?,
    };
    let events = ctx
        .submit(&api::tx().storage_market().place_shards(
            BoundedVec(specs(shards.iter().copied())),
            BoundedVec(avoid),
            duration,
            max_price,
            opts.min_rating,
        ))
        .await
        .context("placing the lost shards")?;
    let request = events
        .find_first::<api::storage_market::events::RequestPlaced>()
        .ok_or_else(|| anyhow!("the chain did not report the request"))??
        .request;
    let mut placed = Vec::new();
    // What matched at once is recorded at once; then what matched while
    // the rest rested in the book.
    let first = ctx.file_contracts(request).await?;
    record_placed(ctx, m, &first, unserving, &mut placed)?;
    let all = ops::wait_for_matches(ctx, request, opts.wait).await?;
    record_placed(ctx, m, &all, unserving, &mut placed)?;
    Ok(placed)
}

/// Adds the new `contracts` of a repair to `m` (with a history entry each,
/// naming the contract each replaces), appends them to `placed` and saves
/// the manifest.
fn record_placed(
    ctx: &Ctx,
    m: &mut Manifest,
    contracts: &[(ContractId, ChainContract)],
    unserving: &[(u32, ContractId)],
    placed: &mut Vec<NewContract>,
) -> Result<()> {
    let now = unix_now();
    for r in as_replicas(m, contracts) {
        if m.replica(r.contract).is_some() {
            continue;
        }
        let old = m
            .history
            .iter()
            .rev()
            .find(|e| e.kind == HistoryKind::Lost && e.shard == r.shard)
            .and_then(|e| e.old_contract)
            .or_else(|| unserving.iter().find(|u| u.0 == r.shard).map(|u| u.1));
        m.record(HistoryEntry {
            at: now,
            kind: HistoryKind::Repaired,
            shard: r.shard,
            old_contract: old,
            new_contract: Some(r.contract),
            host: r.host,
        });
        placed.push((r.shard, r.contract, old));
        m.replicas.push(r);
    }
    m.updated = now;
    ctx.save_manifest(m.request, &ops::seal_manifest(&ctx.id.master, m.request, m))
}

/// Gives up `contract` (shard `t`) on a `host` that does not answer:
/// cancels it (the host keeps one epoch's price, the rest returns) and
/// records the shard as lost from it, so it is placed again elsewhere.
async fn give_up_contract(
    ctx: &Ctx,
    m: &mut Manifest,
    t: u32,
    contract: ContractId,
    host: &AccountId32,
) {
    if let Err(e) = ctx
        .submit(&api::tx().storage_market().cancel_contract(contract))
        .await
    {
        // Still recorded as lost: the host does not answer either way, and
        // the chain ends the contract when the host misses its proofs.
        eprintln!("warning: cancelling contract {contract} of host {host}: {e:#}");
    }
    record_lost(m, t, contract, host.0);
}

/// Records in `m`'s history that shard `t` was lost with `contract` on
/// `host`, and takes that replica out of `m`.
fn record_lost(m: &mut Manifest, t: u32, contract: ContractId, host: [u8; 32]) {
    m.record(HistoryEntry {
        at: unix_now(),
        kind: HistoryKind::Lost,
        shard: t,
        old_contract: Some(contract),
        new_contract: None,
        host,
    });
    m.replicas.retain(|r| r.contract != contract);
}

/// Rebuilds the shards of the prepared `targets` from `survey`'s alive
/// shards, uploads them to their hosts with the manifest `m`, and waits
/// for the hosts' confirmations; `failed` are the targets that could not
/// be prepared. Returns the bytes read and written and the confirmed
/// contracts.
#[allow(clippy::too_many_arguments)]
async fn rebuild(
    ctx: &Ctx,
    m: &Manifest,
    layout: Layout,
    survey: &Survey,
    live: &BTreeMap<ContractId, ChainContract>,
    targets: Vec<Arc<Target>>,
    mut failed: Vec<String>,
    opts: &RepairOptions,
) -> Result<(u64, u64, Vec<(ContractId, ChainContract)>)> {
    let (mut read, mut written) = (0, 0);
    if !targets.is_empty() {
        let set = Arc::new(shard_set(&ctx.id.master, m, layout));
        let mut sources = sources_of(ctx, m, live).await;
        sources.retain(|s| {
            survey.alive.contains(&(s.shard as u32))
                && !survey.unserving.iter().any(|u| u.1 == s.contract)
        });
        let reader =
            Arc::new(Reader::new(ctx, set.clone(), &m.shards, sources, TicketOp::Download).await?);
        written = upload(
            ctx,
            m,
            set,
            &targets,
            StripeSource::Net(reader.clone()),
            opts.parallel,
        )
        .await?;
        read = reader.received();
    }
    failed.extend(failures(&targets));
    let file = m.request;
    if !failed.is_empty() {
        bail!(
            "repair incomplete (run `masp repair {file}` again to resume):\n  {}",
            failed.join("\n  ")
        );
    }
    let ids: Vec<ContractId> = targets.iter().map(|t| t.contract).collect();
    let again = format!("run `masp repair {file}` again");
    let confirmed = confirmations(ctx, &ids, opts.wait, &again).await?;
    Ok((read, written, confirmed))
}

/// How long a candidate host has to answer `/health`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Candidate hosts asked whether they are up beyond the shards to place.
const PROBE_SPARE: usize = 4;

/// Whether `host` answers `/health` with success within
/// [`PROBE_TIMEOUT`].
async fn is_up(ctx: &Ctx, host: &AccountId32) -> bool {
    let Ok(api) = ctx.host_api(host).await else {
        return false;
    };
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, api.health()).await,
        Ok(Ok(_))
    )
}

/// Whether `host` answers for `contract` and holds all of it.
async fn serves(ctx: &Ctx, contract: ContractId, host: &AccountId32) -> bool {
    let Ok(api) = ctx.host_api(host).await else {
        return false;
    };
    matches!(api.status(contract).await, Ok(s) if s.missing.is_empty())
}

/// What the agent remembers between repair passes: when a file may be
/// tried again after a failed repair, and which hosts were found down.
#[derive(Default)]
pub struct AutoRepair {
    retry: BTreeMap<RequestId, (Instant, Duration)>,
    down: BTreeMap<AccountId32, Instant>,
}

/// How long a host found down is avoided by later repairs.
const DOWN_FOR: Duration = Duration::from_secs(3600);

/// The longest one file's repair may take in an agent pass: a file whose
/// repair hangs (a host that accepts connections and never answers) does
/// not starve the others; what it placed is resumed next time.
const REPAIR_TIME_BOX: Duration = Duration::from_secs(900);

/// One repair pass of `masp agent`: every local file (stored as shards)
/// that lost a shard while its term runs is repaired, unless a put of it is
/// still under way. A failed repair is retried later (1 minute, doubling
/// up to an hour); a new host that does not answer is given up at once
/// and avoided for an hour. Returns what was repaired; failures are logged.
pub async fn auto_repair_pass(ctx: &Ctx, state: &mut AutoRepair) -> Result<Vec<RepairReport>> {
    let live = live_contracts(ctx).await?;
    let epoch = ctx.current_epoch().await?;
    let busy = ops::Pending::requests(ctx);
    let mut done = Vec::new();
    let now = Instant::now();
    state
        .down
        .retain(|_, since| now.duration_since(*since) < DOWN_FOR);
    for file in ctx.manifests().files() {
        if busy.contains(&file) {
            continue;
        }
        if state
            .retry
            .get(&file)
            .is_some_and(|(at, _)| Instant::now() < *at)
        {
            continue;
        }
        let Some(sealed) = ctx.manifests().load(file) else {
            continue;
        };
        let Ok((m, _)) = manifests::open_manifest(&ctx.id.master, file, &sealed) else {
            continue;
        };
        if m.is_legacy() {
            continue;
        }
        let h = health(&m, &live, epoch);
        if h.lost.is_empty() {
            continue;
        }
        tracing::info!(
            file,
            "file {file}: shard(s) {:?} lost ({}/{} alive, needs {}); repairing",
            h.lost,
            h.alive,
            h.stored,
            h.needed
        );
        let opts = RepairOptions {
            max_price: None,
            min_rating: 0,
            wait: Duration::from_secs(300),
            parallel: 4,
            probe: false,
        };
        let mut down: Vec<AccountId32> = state.down.keys().copied().collect();
        let repaired = repair_avoiding(ctx, file, &opts, &mut down);
        let result = match tokio::time::timeout(REPAIR_TIME_BOX, repaired).await {
            Ok(r) => r,
            Err(_) => Err(anyhow!(
                "it took longer than {REPAIR_TIME_BOX:?}; what it placed is resumed next time"
            )),
        };
        for host in down {
            state.down.entry(host).or_insert_with(Instant::now);
        }
        let result = result.and_then(|r| {
            if r.unplaced.is_empty() {
                Ok(r)
            } else {
                Err(anyhow!(
                    "shard(s) {:?} found no host (rebuilt: {:?})",
                    r.unplaced,
                    r.rebuilt.iter().map(|b| b.shard).collect::<Vec<_>>()
                ))
            }
        });
        match result {
            Ok(r) => {
                state.retry.remove(&file);
                tracing::info!(
                    file,
                    "repaired file {file}: rebuilt shard(s) {:?} on {}; read {}, wrote {}; {}/{} \
                     shards alive (needs {})",
                    r.rebuilt.iter().map(|b| b.shard).collect::<Vec<_>>(),
                    r.rebuilt
                        .iter()
                        .map(|b| b.host.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    units::fmt_bytes(r.bytes_read),
                    units::fmt_bytes(r.bytes_written),
                    r.alive,
                    r.stored,
                    r.needed
                );
                done.push(r);
            }
            Err(e) => {
                let backoff = state
                    .retry
                    .get(&file)
                    .map_or(Duration::from_secs(60), |(_, b)| {
                        (*b * 2).min(Duration::from_secs(3600))
                    });
                state
                    .retry
                    .insert(file, (Instant::now() + backoff, backoff));
                tracing::warn!(
                    file,
                    "the repair of file {file} failed (retrying in {backoff:?}): {e:#}"
                );
            }
        }
    }
    Ok(done)
}
