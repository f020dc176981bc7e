//! Reading a sharded file: K of its hosts, the fastest first.

use std::{
    collections::{BTreeMap, BTreeSet},
    io,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Result};
use futures::{
    stream::{self, FuturesUnordered},
    StreamExt, TryStreamExt,
};
use indicatif::{ProgressBar, ProgressStyle};
use masp_chain::{AccountId32, Keypair};
use masp_primitives::{
    manifest::{Manifest, Shard},
    market::ContractId,
    ticket::TicketOp,
};
use masp_proofs::Hash;

use super::{check_manifest_layout, roots_by_shard, shard_set, ShardSet, CHUNK};
use crate::{
    erasure::Layout,
    hostapi::{sign_ticket, HostApi},
    ops::{self, ChainContract, Ctx},
};

/// A host holding a shard: where a [`Reader`] may fetch its chunks.
#[derive(Clone)]
pub struct Source {
    /// The shard it holds.
    pub shard: usize,
    /// Its contract.
    pub contract: ContractId,
    /// The host's account (as the chain has it).
    pub host: AccountId32,
    /// The host's API.
    pub api: HostApi,
}

/// What a reader learned of a source during one read.
#[derive(Default)]
struct SourceHealth {
    /// Served garbage, refused payment, or failed twice in a row: not asked
    /// again during this read.
    bad: AtomicBool,
    /// Failures in a row.
    failures: AtomicU32,
    /// Smoothed time per chunk, microseconds (0: not known yet).
    latency_us: AtomicU64,
}

impl SourceHealth {
    fn observe(&self, took: Duration) {
        let us = took.as_micros().min(u64::MAX as u128) as u64;
        let old = self.latency_us.load(Relaxed);
        let new = if old == 0 { us } else { (old * 3 + us) / 4 };
        self.latency_us.store(new.max(1), Relaxed);
    }
}

/// Reads a sharded file's stripes from its hosts: per stripe the K chunks
/// it needs from the fastest hosts, plus one spare host once they are
/// slower than usual (a hedged request: no extra download while hosts keep
/// their pace); the first K chunks that match their chunk roots and open
/// are used, the slow tail is dropped. A chunk that fails its root or does
/// not open is treated as missing, and its host is not asked again (nor a
/// host that failed twice in a row).
pub struct Reader {
    set: Arc<ShardSet>,
    roots: Vec<Vec<Hash>>,
    sources: Vec<Source>,
    health: Vec<SourceHealth>,
    op: TicketOp,
    keypair: Keypair,
    genesis: [u8; 32],
    payments: crate::egress::Payments,
    received: AtomicU64,
    via: String,
}

impl Reader {
    /// A reader of `set`'s shards (chunk roots `shards`) from `sources`,
    /// with tickets for `op` signed by this account, paying hosts that
    /// charge for egress ([`crate::egress`]).
    pub async fn new(
        ctx: &Ctx,
        set: Arc<ShardSet>,
        shards: &[Shard],
        sources: Vec<Source>,
        op: TicketOp,
    ) -> Result<Self> {
        let layout = *set.layout();
        let mut accounts: Vec<(AccountId32, HostApi)> = Vec::new();
        for s in &sources {
            if !accounts.iter().any(|(a, _)| *a == s.host) {
                accounts.push((s.host, s.api.clone()));
            }
        }
        let budget = shards.iter().map(|s| s.size).max().unwrap_or(0);
        let prepared = if accounts.is_empty() {
            crate::egress::Prepared::default()
        } else {
            crate::egress::prepare(ctx, &accounts, budget, ctx.max_egress_price).await?
        };
        let sources: Vec<Source> = sources
            .into_iter()
            .filter(|s| !prepared.skipped.contains_key(&s.host.0))
            .collect();
        let reachable: BTreeSet<usize> = sources.iter().map(|s| s.shard).collect();
        if reachable.len() < layout.needed() {
            let skipped: Vec<String> = prepared
                .skipped
                .iter()
                .map(|(h, why)| format!("{}: {why}", AccountId32(*h)))
                .collect();
            bail!(
                "only {} of the file's shards can be read (it needs {}): the others' contracts \
                 are gone or their hosts cannot be used{}",
                reachable.len(),
                layout.needed(),
                if skipped.is_empty() {
                    String::new()
                } else {
                    format!(":\n  {}", skipped.join("\n  "))
                }
            );
        }
        let via = match op {
            TicketOp::Receive { listing } => format!(" --listing {listing}"),
            _ => String::new(),
        };
        Ok(Self {
            roots: roots_by_shard(&layout, shards),
            health: sources.iter().map(|_| SourceHealth::default()).collect(),
            sources,
            set,
            op,
            keypair: ctx.id.keypair.clone(),
            genesis: ctx.chain.genesis_hash().0,
            payments: prepared.payments,
            received: AtomicU64::new(0),
            via,
        })
    }

    /// The layout read.
    pub fn layout(&self) -> &Layout {
        self.set.layout()
    }

    /// Bytes received from hosts so far.
    pub fn received(&self) -> u64 {
        self.received.load(Relaxed)
    }

    /// The untried source to ask next for stripe `stripe`: not bad, of a
    /// shard that has a chunk there and is neither at hand nor in flight;
    /// the fastest known first, then unknown ones, data shards before
    /// parity.
    fn next_source(
        &self,
        stripe: u64,
        tried: &[bool],
        busy: &BTreeSet<usize>,
        got: &BTreeMap<usize, Vec<u8>>,
    ) -> Option<usize> {
        let l = self.layout();
        (0..self.sources.len())
            .filter(|&i| {
                let t = self.sources[i].shard;
                !tried[i]
                    && !self.health[i].bad.load(Relaxed)
                    && l.has_chunk(stripe, t)
                    && !busy.contains(&t)
                    && !got.contains_key(&t)
            })
            .min_by_key(|&i| {
                (
                    self.health[i].latency_us.load(Relaxed),
                    self.sources[i].shard,
                )
            })
    }

    /// How long to wait for the sources `in_flight` before asking a spare:
    /// twice the slowest one's usual time per chunk (at least 20 ms), or
    /// 250 ms while one of them is not known yet.
    fn hedge_delay(&self, in_flight: impl Iterator<Item = usize>) -> Duration {
        let mut slowest = 0u64;
        for i in in_flight {
            match self.health[i].latency_us.load(Relaxed) {
                0 => return Duration::from_millis(250),
                us => slowest = slowest.max(us),
            }
        }
        Duration::from_micros(slowest.saturating_mul(2)).max(Duration::from_millis(20))
    }

    /// Fetches chunk `stripe` of source `i`'s shard, checks it against its
    /// root and opens it: its plaintext.
    async fn fetch(&self, i: usize, stripe: u64) -> Result<Vec<u8>, String> {
        let src = &self.sources[i];
        let health = &self.health[i];
        let t = src.shard;
        let expected = self.layout().sealed_len(stripe, t);
        let bad = |why: String| {
            health.bad.store(true, Relaxed);
            why
        };
        let receipt = match self.payments.get(&src.host.0) {
            None => None,
            Some(p) => match p.receipt(expected as u64) {
                Some(r) => Some(r),
                None => {
                    return Err(bad(format!(
                        "{}: this read's egress budget for the host is spent",
                        src.api.endpoint()
                    )))
                }
            },
        };
        let index = u32::try_from(stripe).map_err(|_| format!("chunk {stripe} is out of range"))?;
        let ticket = sign_ticket(
            &self.keypair,
            self.genesis,
            self.op,
            src.contract,
            index,
            index,
            None,
            Duration::from_secs(300),
        );
        let started = Instant::now();
        let data = match src
            .api
            .get_chunk_paid(src.contract, index, &ticket, receipt.as_ref())
            .await
        {
            Ok(data) => data,
            // The host counts more served than this account signed for:
            // never sign more to please it.
            Err(e) if e.status().map(|s| s.as_u16()) == Some(402) => {
                return Err(bad(e.to_string()))
            }
            Err(e) => {
                if health.failures.fetch_add(1, Relaxed) + 1 >= 2 {
                    health.bad.store(true, Relaxed);
                }
                return Err(e.to_string());
            }
        };
        self.received.fetch_add(data.len() as u64, Relaxed);
        if data.len() != expected {
            return Err(bad(format!(
                "{}: chunk {stripe} of shard {t} has {} bytes, expected {expected}",
                src.api.endpoint(),
                data.len()
            )));
        }
        let root = self.roots.get(t).and_then(|r| r.get(stripe as usize));
        if root != Some(&masp_proofs::chunk_root(&data)) {
            return Err(bad(format!(
                "{}: chunk {stripe} of shard {t} does not match its Merkle root (tampered)",
                src.api.endpoint()
            )));
        }
        let mut buf = data.to_vec();
        self.set
            .open(t, stripe, &mut buf)
            .map_err(|e| bad(format!("{}: shard {t}: {e}", src.api.endpoint())))?;
        health.failures.store(0, Relaxed);
        health.observe(started.elapsed());
        Ok(buf)
    }

    /// The data chunks of stripe `stripe` (plaintext, real lengths).
    pub async fn stripe(&self, stripe: u64) -> Result<Vec<Vec<u8>>> {
        let l = *self.layout();
        let need = l.stripe_data_chunks(stripe);
        if l.size() == 0 {
            // The empty file's one chunk is empty: nothing to fetch.
            return Ok(vec![Vec::new(); need]);
        }
        let mut got: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
        let mut tried = vec![false; self.sources.len()];
        let mut busy: BTreeSet<usize> = BTreeSet::new();
        let mut started: BTreeMap<usize, Instant> = BTreeMap::new();
        let mut pending = FuturesUnordered::new();
        let mut errors = Vec::new();
        // The chunks still missing are asked of as many hosts, the fastest
        // first (a failure is replaced at once); once they take longer
        // than those hosts usually do, one spare host is asked too, and
        // the first chunks to verify win.
        let mut spare = false;
        while got.len() < need {
            let width = need - got.len() + usize::from(spare);
            while pending.len() < width {
                let Some(i) = self.next_source(stripe, &tried, &busy, &got) else {
                    break;
                };
                tried[i] = true;
                busy.insert(self.sources[i].shard);
                started.insert(i, Instant::now());
                pending.push(async move { (i, self.fetch(i, stripe).await) });
            }
            let next = if spare || pending.is_empty() {
                pending.next().await
            } else {
                let delay = self.hedge_delay(started.keys().copied());
                tokio::select! {
                    next = pending.next() => next,
                    () = tokio::time::sleep(delay) => {
                        spare = true;
                        continue;
                    }
                }
            };
            let Some((i, result)) = next else {
                break;
            };
            started.remove(&i);
            let t = self.sources[i].shard;
            busy.remove(&t);
            match result {
                Ok(plain) => {
                    got.insert(t, plain);
                }
                Err(e) => errors.push(e),
            }
        }
        // The slow tail is dropped (cancelled), and remembered as slow.
        drop(pending);
        for (i, at) in started {
            self.health[i].observe(at.elapsed() * 2);
        }
        if got.len() < need {
            let contracts: Vec<String> = self
                .sources
                .iter()
                .map(|s| s.contract.to_string())
                .collect();
            bail!(
                "stripe {stripe} could not be read: {} of the {need} chunks it needs were \
                 fetched and verified:\n  {}\nA host paid to store this file must serve it: \
                 `masp challenge open CONTRACT{} --leaf {}` (CONTRACT one of {}) makes its host \
                 publish that piece on chain or be slashed",
                got.len(),
                errors.join("\n  "),
                self.via,
                stripe * masp_proofs::LEAVES_PER_CHUNK,
                contracts.join(", ")
            );
        }
        let set = self.set.clone();
        Ok(tokio::task::spawn_blocking(move || {
            let given: Vec<(usize, &[u8])> = got.iter().map(|(t, b)| (*t, &b[..])).collect();
            set.layout().reconstruct_stripe(stripe, &given)
        })
        .await??)
    }
}

/// Reads the whole file through `reader` into `out` (temporary file,
/// fsync, rename: nothing is written unless every stripe verifies), with
/// about `parallel` chunk requests in flight. Returns the path and size.
pub async fn read_to_file(
    ctx: &Ctx,
    reader: Arc<Reader>,
    out: &Path,
    parallel: usize,
) -> Result<(PathBuf, u64)> {
    let l = *reader.layout();
    let bar = if ctx.progress {
        ProgressBar::new(l.size())
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
    let in_flight = parallel.div_ceil(l.needed() + 1).max(2);
    let b = bar.clone();
    let result = ops::write_file(out, l.size(), move |file| async move {
        stream::iter(0..l.stripe_count())
            .map(|s| {
                let (reader, file, bar) = (reader.clone(), file.clone(), b.clone());
                async move {
                    let data = reader.stripe(s).await?;
                    let len: u64 = data.iter().map(|d| d.len() as u64).sum();
                    let k = l.k() as u64;
                    tokio::task::spawn_blocking(move || -> io::Result<()> {
                        for (j, chunk) in data.iter().enumerate() {
                            file.write_all_at(chunk, (s * k + j as u64) * CHUNK)?;
                        }
                        Ok(())
                    })
                    .await??;
                    bar.inc(len);
                    Ok::<_, anyhow::Error>(())
                }
            })
            .buffer_unordered(in_flight)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    })
    .await;
    bar.finish_and_clear();
    result
}

/// This account's live contracts, by id.
pub async fn live_contracts(ctx: &Ctx) -> Result<BTreeMap<ContractId, ChainContract>> {
    Ok(ctx.my_contracts().await?.into_iter().collect())
}

/// The sources of manifest `m`'s replicas among `live` contracts: each
/// checked against the chain (its contract must store exactly its shard's
/// root and size; a mismatch is a warning and the replica is skipped), with
/// its host's endpoint from the chain.
pub(super) async fn sources_of(
    ctx: &Ctx,
    m: &Manifest,
    live: &BTreeMap<ContractId, ChainContract>,
) -> Vec<Source> {
    let mut out = Vec::new();
    for r in &m.replicas {
        let (Some(c), Some(shard)) = (live.get(&r.contract), m.shard(r.shard)) else {
            continue;
        };
        if c.merkle_root != shard.root || c.size != shard.size {
            eprintln!(
                "warning: contract {} does not store shard {} of this file (another root or \
                 size on chain); not used",
                r.contract, r.shard
            );
            continue;
        }
        match ctx.host_api(&c.host).await {
            Ok(api) => out.push(Source {
                shard: r.shard as usize,
                contract: r.contract,
                host: c.host,
                api,
            }),
            Err(e) => eprintln!(
                "warning: shard {} (contract {}): {e:#}",
                r.shard, r.contract
            ),
        }
    }
    out
}

/// `masp get` of a file stored as shards (manifest version 3): reads it
/// from K of its hosts into `out`.
pub async fn get(ctx: &Ctx, m: &Manifest, out: &Path, parallel: usize) -> Result<(PathBuf, u64)> {
    let layout = check_manifest_layout(m).map_err(|e| anyhow!("the file's manifest: {e}"))?;
    let set = Arc::new(shard_set(&ctx.id.master, m, layout));
    let live = live_contracts(ctx).await?;
    let sources = sources_of(ctx, m, &live).await;
    let reader = Reader::new(ctx, set, &m.shards, sources, TicketOp::Download).await?;
    read_to_file(ctx, Arc::new(reader), out, parallel).await
}
