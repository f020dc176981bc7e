//! Follows the chain: the daemon's background work.
//!
//! Every poll it
//! 1. syncs the host's contracts from the chain into the index (new ones
//!    start accepting uploads; ones the chain no longer has are marked
//!    ended, and their data is deleted after the grace period);
//! 2. confirms each contract whose chunks are all stored (each chunk was
//!    checked against the chunk roots, and those against the on-chain root,
//!    when they arrived);
//! 3. proves each active contract once per epoch: the challenged leaf
//!    (derived from the epoch's on-chain seed with
//!    [`masp_proofs::challenge_index`]) and its path, built from the stored
//!    chunk (one chunk read) and the chunk roots, verified locally before it
//!    is submitted; all due proofs go in batches, one by one if a batch fails.
//!
//! Beside the polls, a task of its own scrubs on schedule (so a long scrub
//! never delays a proof): it re-hashes every stored chunk, and forgets (and
//! reports) any that no longer matches its root.
//!
//! Errors are logged and retried on the next poll; a dropped node
//! connection is re-made by the chain client.

use std::{collections::HashMap, sync::Arc};

use masp_primitives::market::ContractId;
use masp_proofs::{FileTree, LEAVES_PER_CHUNK};
use tokio::sync::watch;

use crate::{
    chain::{ChainApi, ChainContract},
    config::Config,
    server::AppState,
    store::{ContractRecord, Store, StoreError},
};

/// Proofs in one `submit_proofs` call (the runtime's `MaxProofsPerCall`).
pub const PROOFS_PER_CALL: usize = 32;

/// The follower's state between polls.
pub struct Follower<C: ChainApi> {
    chain: Arc<C>,
    state: Arc<AppState>,
    grace_secs: u64,
    scrub_every: Option<std::time::Duration>,
    /// The chain's view of each live contract, from the last sync.
    live: HashMap<ContractId, ChainContract>,
}

/// What one poll did (for logs and tests).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Contracts newly seen.
    pub added: u32,
    /// Contracts confirmed on chain.
    pub confirmed: u32,
    /// Proofs accepted on chain.
    pub proven: u32,
    /// Proofs that could not be built (data missing or corrupt).
    pub unprovable: u32,
    /// Contracts whose data was deleted.
    pub deleted: u32,
}

impl<C: ChainApi> Follower<C> {
    /// A follower for `chain`, sharing `state` with the HTTP API.
    pub fn new(chain: Arc<C>, state: Arc<AppState>, cfg: &Config) -> Self {
        Self {
            chain,
            state,
            grace_secs: cfg.grace_period_secs,
            scrub_every: (cfg.scrub_interval_secs > 0)
                .then(|| std::time::Duration::from_secs(cfg.scrub_interval_secs)),
            live: HashMap::new(),
        }
    }

    fn store(&self) -> &Arc<dyn Store> {
        &self.state.store
    }

    /// Runs until `shutdown` turns true (the scrub task stops with it).
    pub async fn run(mut self, interval: std::time::Duration, mut shutdown: watch::Receiver<bool>) {
        if let Some(every) = self.scrub_every {
            tokio::spawn(scrub_task(self.state.clone(), every, shutdown.clone()));
        }
        loop {
            match self.poll().await {
                Ok(r) if r != PollReport::default() => tracing::info!(?r, "chain poll"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "chain poll failed; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = self.state.complete.notified() => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// One round: sync, confirm, prove, clean up.
    pub async fn poll(&mut self) -> Result<PollReport, PollError> {
        let mut report = PollReport::default();
        let best = self.chain.best_block().await?;
        let now = self.state.clock.now();
        self.state
            .best_block
            .store(best, std::sync::atomic::Ordering::Relaxed);
        self.state
            .chain_seen_at
            .store(now.max(1), std::sync::atomic::Ordering::Relaxed);

        // 1. Sync.
        let on_chain = self.chain.host_contracts().await?;
        let mut known: HashMap<ContractId, ContractRecord> =
            self.store().contracts()?.into_iter().collect();
        self.live = on_chain.iter().map(|c| (c.id, c.clone())).collect();
        for c in &on_chain {
            match known.get_mut(&c.id) {
                None => {
                    let record = ContractRecord {
                        sender: c.sender,
                        size: c.size,
                        root: c.root,
                        leaf_count: c.leaf_count,
                        confirmed: c.active,
                        ended_at: None,
                        last_proven: None,
                    };
                    self.store().put_contract(c.id, &record)?;
                    tracing::info!(contract = c.id, size = c.size, "new contract");
                    known.insert(c.id, record);
                    report.added += 1;
                }
                Some(r) if r.confirmed != c.active || r.ended_at.is_some() => {
                    r.confirmed = c.active;
                    r.ended_at = None;
                    self.store().put_contract(c.id, r)?;
                }
                Some(_) => {}
            }
        }
        for (id, r) in known.iter_mut() {
            if self.live.contains_key(id) {
                continue;
            }
            match r.ended_at {
                // The list is capped: only the chain's own word ends a contract.
                None if self.chain.contract_exists(*id).await? => {}
                None => {
                    r.ended_at = Some(now);
                    self.store().put_contract(*id, r)?;
                    tracing::info!(
                        contract = id,
                        "contract ended on chain; data kept for the grace period"
                    );
                }
                Some(t) if now >= t.saturating_add(self.grace_secs) => {
                    self.store().delete_contract(*id)?;
                    tracing::info!(contract = id, "ended contract's data deleted");
                    report.deleted += 1;
                }
                Some(_) => {}
            }
        }
        self.state.metrics.contracts.set(self.live.len() as i64);
        self.state
            .metrics
            .bytes_stored
            .set(self.store().bytes_stored()? as i64);

        // 2. Confirm complete uploads.
        for c in on_chain
            .iter()
            .filter(|c| !c.active && c.upload_deadline >= best)
        {
            let Some(r) = known.get(&c.id) else { continue };
            if self.store().roots(c.id)?.is_none()
                || self.store().stored_chunks(c.id)? != r.chunk_count()
            {
                continue;
            }
            match self.chain.confirm_stored(c.id).await {
                Ok(()) => {
                    let mut r = r.clone();
                    r.confirmed = true;
                    self.store().put_contract(c.id, &r)?;
                    tracing::info!(contract = c.id, "upload complete; confirmed on chain");
                    report.confirmed += 1;
                }
                Err(e) => tracing::warn!(contract = c.id, error = %e, "confirm_stored failed"),
            }
        }

        // 3. Prove.
        let epoch = self.chain.current_epoch().await?;
        let seed = self.chain.epoch_seed(epoch).await?;
        let mut due = Vec::new();
        for c in on_chain.iter().filter(|c| c.active && seed.is_some()) {
            if epoch < c.first_epoch || epoch > c.last_epoch {
                continue;
            }
            let Some(r) = self.store().contract(c.id)? else {
                continue;
            };
            if r.last_proven.is_some_and(|e| e >= epoch) {
                continue;
            }
            let Some(seed) = &seed else { continue };
            let index = masp_proofs::challenge_index(seed, c.id, epoch, c.leaf_count);
            let store = self.store().clone();
            let id = c.id;
            let built =
                tokio::task::spawn_blocking(move || build_proof(&*store, id, &r, index)).await;
            match built {
                Ok(Ok(p)) => due.push((id, p.0, p.1)),
                Ok(Err(e)) => {
                    report.unprovable += 1;
                    self.state
                        .metrics
                        .proofs
                        .with_label_values(&["failed"])
                        .inc();
                    tracing::error!(contract = id, epoch, index, error = %e, "cannot prove");
                }
                Err(e) => tracing::error!(contract = id, error = %e, "proof task failed"),
            }
        }
        for batch in due.chunks(PROOFS_PER_CALL) {
            let ids: Vec<ContractId> = batch.iter().map(|p| p.0).collect();
            let proven = match self.chain.submit_proofs(batch.to_vec()).await {
                Ok(()) => {
                    crate::crash_point("proofs-submitted");
                    ids
                }
                Err(e) => {
                    tracing::warn!(error = %e, "proof batch failed; submitting one by one");
                    let mut ok = Vec::new();
                    for p in batch {
                        match self.chain.submit_proofs(vec![p.clone()]).await {
                            Ok(()) => ok.push(p.0),
                            Err(e) if e.module_error() == Some("AlreadyProven") => ok.push(p.0),
                            Err(e) => {
                                self.state
                                    .metrics
                                    .proofs
                                    .with_label_values(&["failed"])
                                    .inc();
                                tracing::error!(contract = p.0, error = %e, "proof refused");
                            }
                        }
                    }
                    ok
                }
            };
            for id in proven {
                if let Some(mut r) = self.store().contract(id)? {
                    r.last_proven = Some(epoch);
                    self.store().put_contract(id, &r)?;
                }
                self.state.metrics.proofs.with_label_values(&["ok"]).inc();
                report.proven += 1;
            }
        }
        Ok(report)
    }
}

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// The chain.
    #[error("chain: {0}")]
    Chain(#[from] masp_chain::ChainError),
    /// The disk.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a proof could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    /// No chunk roots were uploaded.
    #[error("no chunk roots stored")]
    NoRoots,
    /// The chunk holding the leaf is not stored.
    #[error("chunk {0} is not stored")]
    MissingChunk(u32),
    /// The chunk or the proof does not check out: the data is corrupt. The
    /// chunk is dropped so it is never served.
    #[error("chunk {0} is corrupt: {1:?}")]
    Corrupt(u32, masp_proofs::ProofError),
    /// The disk.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Builds and checks the proof of leaf `index` of contract `id`: reads one
/// chunk, proves with the stored chunk roots, verifies against the on-chain
/// root. Returns (leaf, path).
pub fn build_proof(
    store: &dyn Store,
    id: ContractId,
    r: &ContractRecord,
    index: u64,
) -> Result<(Vec<u8>, Vec<[u8; 32]>), ProveError> {
    let roots = store.roots(id)?.ok_or(ProveError::NoRoots)?;
    let chunk = (index / LEAVES_PER_CHUNK) as u32;
    if !store.has_chunk(id, chunk)? {
        return Err(ProveError::MissingChunk(chunk));
    }
    let data = store.read_chunk(id, chunk)?;
    let tree = FileTree::from_chunk_roots(r.size, roots);
    let proof = match tree.prove(index, &data) {
        Ok(p) => p,
        Err(e) => {
            store.drop_chunk(id, chunk)?;
            return Err(ProveError::Corrupt(chunk, e));
        }
    };
    masp_proofs::verify(&r.root, r.leaf_count, index, &proof.leaf, &proof.path)
        .map_err(|e| ProveError::Corrupt(chunk, e))?;
    Ok((proof.leaf, proof.path))
}

/// Scrubs every `every` until `shutdown`, logging and counting what it finds.
async fn scrub_task(
    state: Arc<AppState>,
    every: std::time::Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        let store = state.store.clone();
        match tokio::task::spawn_blocking(move || scrub(&*store)).await {
            Ok(Ok(bad)) => {
                state.metrics.corrupt_chunks.inc_by(bad.len() as u64);
                for (id, i) in bad {
                    tracing::error!(contract = id, chunk = i, "scrub: chunk corrupt; dropped");
                }
            }
            Ok(Err(e)) => tracing::error!(error = %e, "scrub failed"),
            Err(e) => tracing::error!(error = %e, "scrub task failed"),
        }
    }
}

/// Re-hashes every stored chunk of every contract with roots; drops and
/// returns those that no longer match. A chunk deleted while the scrub runs
/// (its contract's grace period ended) is skipped, not reported.
pub fn scrub(store: &dyn Store) -> Result<Vec<(ContractId, u32)>, StoreError> {
    let mut bad = Vec::new();
    for (id, r) in store.contracts()? {
        let Some(roots) = store.roots(id)? else {
            continue;
        };
        for i in 0..r.chunk_count() {
            if !store.has_chunk(id, i)? {
                continue;
            }
            let ok = match store.read_chunk(id, i) {
                Ok(data) => {
                    data.len() == r.chunk_len(i)
                        && roots.get(i as usize) == Some(&masp_proofs::chunk_root(&data))
                }
                Err(_) if !store.has_chunk(id, i)? => continue,
                Err(_) => false,
            };
            if !ok {
                store.drop_chunk(id, i)?;
                bad.push((id, i));
            }
        }
    }
    Ok(bad)
}
