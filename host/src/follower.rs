//! Follows the chain: the daemon's background work.
//!
//! Every poll it
//! 1. follows the *finalized* chain: after a start (or when far behind, and
//!    once an hour) it reads every contract of this host at the finalized
//!    head (the node's `HostContracts` entries of this host, page by page,
//!    no cap); in between, the market's contract events of each newly
//!    finalized block name the contracts to read again at the head. New
//!    contracts start accepting uploads. A contract ends only when a
//!    finalized block at or after the one where the host saw it lacks it
//!    (after a `ContractEnded`, or missing from a full read), read from a
//!    node that is not syncing; its data is deleted after the grace period.
//!    The highest finalized block followed is kept on disk: a node whose
//!    finalized head is behind it, or that does not have it (another chain,
//!    a node resyncing from scratch), changes nothing;
//! 2. confirms each contract whose chunks are all stored (each chunk was
//!    checked against the chunk roots, and those against the on-chain root,
//!    when they arrived), and whose on-chain size, root and leaf count are
//!    the ones the data has (`leaf_count` = [`masp_proofs::leaf_count`] of
//!    the size): a contract that could never be proven is never confirmed;
//! 3. proves each active contract once per epoch, once the epoch's seed is
//!    drawn: one multi-proof of the challenged leaves (derived from the
//!    epoch's on-chain seed with [`masp_proofs::challenge_indices`]), built
//!    from the challenged chunks and the chunk roots, verified locally before
//!    it is submitted; all due proofs go in batches, one by one if a batch
//!    fails;
//! 4. answers the retrieval challenges open on its contracts (the retrieval
//!    pallet: a downloader that says this host refused it asks for a piece
//!    on chain): the piece and its path, built and checked like a proof,
//!    before the challenge's deadline (an hour on the production chain; a
//!    poll is seconds). This runs first in each poll, right after the
//!    node's head is read, so nothing else that fails a poll delays it; at
//!    most [`ANSWERS_PER_POLL`] a poll, earliest deadline first, so a flood
//!    of challenges cannot hold up the epoch's proofs for long.
//!
//! Beside the polls, a task of its own scrubs on schedule (so a long scrub
//! never delays a proof): it re-hashes every stored chunk, and forgets (and
//! reports) any that no longer matches its root.
//!
//! Errors are logged and retried on the next poll; a dropped node
//! connection is re-made by the chain client.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    path::PathBuf,
    sync::Arc,
};

use masp_primitives::market::ContractId;
use masp_proofs::Hash;
use tokio::sync::watch;

use crate::{
    chain::{BlockId, ChainApi, ChainContract, ContractEvent, Retrieval},
    config::Config,
    server::AppState,
    store::{ContractRecord, Store, StoreError},
};

/// Proofs in one `submit_proofs` call (the runtime's `MaxProofsPerCall`).
pub const PROOFS_PER_CALL: usize = 32;

/// Retrieval challenges answered in one poll at most (each waits for its
/// transaction to be included).
pub const ANSWERS_PER_POLL: usize = 8;

/// Finalized blocks read one by one for their events; further behind, the
/// host's contracts are read afresh instead.
pub const MAX_WALK: u32 = 64;

/// Finalized blocks after which the host's contracts are read afresh anyway
/// (about an hour of 6 s blocks).
pub const RESYNC_EVERY: u32 = 600;

/// The file (in the data folder) that keeps the highest finalized block
/// this host followed.
pub const MARK_FILE: &str = "chain-mark.json";

/// The follower's state between polls.
pub struct Follower<C: ChainApi> {
    chain: Arc<C>,
    state: Arc<AppState>,
    grace_secs: u64,
    scrub_every: Option<std::time::Duration>,
    /// The chain's view of each live contract, at `at`.
    live: HashMap<ContractId, ChainContract>,
    /// The finalized block `live` reflects; `None` until the first full read.
    at: Option<BlockId>,
    /// The block of the last full read.
    synced_at: u32,
    /// Known contracts that may have ended (a `ContractEnded`, or missing
    /// from a full read): ended once a finalized view lacks them.
    suspects: BTreeSet<ContractId>,
    /// Contracts ended on chain, with when (clock seconds).
    ending: HashMap<ContractId, u64>,
    /// Contracts refused confirmation (logged once).
    refused: HashSet<ContractId>,
    /// Retrieval challenges this host could not answer (logged once).
    unanswerable: HashSet<u64>,
    /// The highest finalized block this host followed, and its file.
    mark: Option<BlockId>,
    mark_path: PathBuf,
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
    /// Retrieval challenges answered on chain.
    pub answered: u32,
}

impl<C: ChainApi> Follower<C> {
    /// A follower for `chain`, sharing `state` with the HTTP API.
    pub fn new(chain: Arc<C>, state: Arc<AppState>, cfg: &Config) -> Self {
        let mark_path = cfg.data_dir.join(MARK_FILE);
        Self {
            chain,
            state,
            grace_secs: cfg.grace_period_secs,
            scrub_every: (cfg.scrub_interval_secs > 0)
                .then(|| std::time::Duration::from_secs(cfg.scrub_interval_secs)),
            live: HashMap::new(),
            at: None,
            synced_at: 0,
            suspects: BTreeSet::new(),
            ending: HashMap::new(),
            refused: HashSet::new(),
            unanswerable: HashSet::new(),
            mark: load_mark(&mark_path),
            mark_path,
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

    /// One round: follow the chain, confirm, prove, clean up.
    pub async fn poll(&mut self) -> Result<PollReport, PollError> {
        let mut report = PollReport::default();
        let head = self.chain.head().await?;
        // Retrieval challenges have a deadline in blocks: answer them before
        // anything that may fail the poll.
        self.answer_retrievals(&mut report).await;
        let fin = head.finalized;
        let now = self.state.clock.now();
        // A node that is behind what this host followed, or on another
        // chain, changes nothing (its silence shows in /health).
        self.check_view(fin).await?;
        self.state
            .best_block
            .store(fin.number, std::sync::atomic::Ordering::Relaxed);
        self.state
            .chain_seen_at
            .store(now.max(1), std::sync::atomic::Ordering::Relaxed);

        // 1. Follow the finalized chain.
        match self.at {
            Some(at) if at == fin => {}
            Some(at)
                if fin.number > at.number
                    && fin.number - at.number <= MAX_WALK
                    && fin.number.saturating_sub(self.synced_at) < RESYNC_EVERY =>
            {
                self.walk(at.number + 1, fin, &mut report).await?
            }
            _ => self.resync(fin, &mut report).await?,
        }
        if !head.syncing {
            // Only a node that says its view is complete ends contracts.
            self.settle(fin, now).await?;
            report.deleted += self.delete_after_grace(now)?;
        }
        self.state.metrics.contracts.set(self.live.len() as i64);
        self.state
            .metrics
            .bytes_stored
            .set(self.store().bytes_stored()? as i64);

        // 2. Confirm complete uploads whose on-chain fields match the data.
        let mut pending: Vec<ChainContract> = self
            .live
            .values()
            .filter(|c| !c.active && c.upload_deadline >= fin.number)
            .cloned()
            .collect();
        pending.sort_by_key(|c| c.id);
        for c in pending {
            let Some(mut r) = self.store().contract(c.id)? else {
                continue;
            };
            let Some(roots) = self.store().roots(c.id)? else {
                continue;
            };
            if self.store().stored_chunks(c.id)? != r.chunk_count() {
                continue;
            }
            if let Err(why) = check_fields(&c, &r, &roots) {
                if self.refused.insert(c.id) {
                    tracing::error!(contract = c.id, %why, "not confirming: the contract on chain does not match the data");
                }
                continue;
            }
            match self.chain.confirm_stored(c.id).await {
                Ok(()) => {
                    r.confirmed = true;
                    self.store().put_contract(c.id, &r)?;
                    if let Some(l) = self.live.get_mut(&c.id) {
                        l.active = true;
                    }
                    tracing::info!(contract = c.id, "upload complete; confirmed on chain");
                    report.confirmed += 1;
                }
                Err(e) => tracing::warn!(contract = c.id, error = %e, "confirm_stored failed"),
            }
        }
        let mut on_chain: Vec<ChainContract> =
            self.live.values().filter(|c| c.active).cloned().collect();
        on_chain.sort_by_key(|c| c.id);

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
            let index = masp_proofs::challenge_indices(
                seed,
                c.id,
                epoch,
                c.leaf_count,
                masp_proofs::CHALLENGE_LEAVES,
            );
            let store = self.store().clone();
            let id = c.id;
            let built =
                tokio::task::spawn_blocking(move || build_proof(&*store, id, &r, index.as_slice()))
                    .await;
            match built {
                Ok(Ok(p)) => due.push((id, p.0, p.1)),
                Ok(Err(e)) => {
                    report.unprovable += 1;
                    self.state
                        .metrics
                        .proofs
                        .with_label_values(&["failed"])
                        .inc();
                    tracing::error!(
                        contract = id,
                        epoch,
                        index = ?index.as_slice(),
                        error = %e,
                        "cannot prove"
                    );
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

impl<C: ChainApi> Follower<C> {
    /// Answers every open retrieval challenge on this host's contracts
    /// (step 4 of the crate docs). Errors are logged; the next poll tries
    /// again while the challenge is open.
    async fn answer_retrievals(&mut self, report: &mut PollReport) {
        let mut open = match self.chain.open_retrievals().await {
            Ok(open) => open,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read retrieval challenges");
                return;
            }
        };
        // Never more than a piece's leaves (a hostile node's answer could
        // ask for any count); earliest deadline first, a bounded number.
        open.retain(|ch| (1..=8).contains(&ch.leaves));
        // What is logged as unanswerable is kept only while it is open.
        self.unanswerable
            .retain(|id| open.iter().any(|ch| ch.id == *id));
        open.sort_by_key(|ch| (ch.deadline, ch.id));
        open.truncate(ANSWERS_PER_POLL);
        for ch in open {
            match self.answer_one(ch).await {
                Ok(()) => {
                    self.state
                        .metrics
                        .retrievals
                        .with_label_values(&["answered"])
                        .inc();
                    tracing::info!(
                        challenge = ch.id,
                        contract = ch.contract,
                        first_leaf = ch.first_leaf,
                        "retrieval challenge answered on chain"
                    );
                    report.answered += 1;
                }
                // Answered already (by an earlier poll whose reply was
                // lost), or too late: nothing left to do.
                Err(AnswerError::Chain(e))
                    if matches!(e.module_error(), Some("UnknownChallenge" | "TooLate")) => {}
                Err(e) => {
                    if self.unanswerable.insert(ch.id) {
                        self.state
                            .metrics
                            .retrievals
                            .with_label_values(&["failed"])
                            .inc();
                        tracing::error!(
                            challenge = ch.id,
                            contract = ch.contract,
                            deadline = ch.deadline,
                            error = %e,
                            "cannot answer a retrieval challenge: the deposit backing the contract will be slashed"
                        );
                    }
                }
            }
        }
    }

    async fn answer_one(&self, ch: Retrieval) -> Result<(), AnswerError> {
        let r = self
            .store()
            .contract(ch.contract)?
            .ok_or(AnswerError::UnknownContract)?;
        let indices: Vec<u64> = (0..u64::from(ch.leaves))
            .map(|k| ch.first_leaf.saturating_add(k))
            .collect();
        let store = self.store().clone();
        let id = ch.contract;
        let (piece, path) =
            tokio::task::spawn_blocking(move || build_proof(&*store, id, &r, &indices))
                .await
                .map_err(|e| AnswerError::Task(e.to_string()))??;
        self.chain.answer_retrieval(ch.id, piece, path).await?;
        Ok(())
    }
}

/// Why a retrieval challenge was not answered.
#[derive(Debug, thiserror::Error)]
enum AnswerError {
    #[error("no record of the contract on this host")]
    UnknownContract,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Prove(#[from] ProveError),
    #[error("the chain refused the answer: {0}")]
    Chain(#[from] masp_chain::ChainError),
    #[error("the proof task failed: {0}")]
    Task(String),
}

/// The highest finalized block this host followed, from `path` (none if
/// the file is missing or unreadable: a first start).
fn load_mark(path: &std::path::Path) -> Option<BlockId> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "unreadable chain mark; ignored");
            None
        }
    }
}

/// Why the on-chain contract and the data this host holds disagree.
fn check_fields(c: &ChainContract, r: &ContractRecord, roots: &[Hash]) -> Result<(), String> {
    if c.size != r.size || c.root != r.root || c.leaf_count != r.leaf_count {
        return Err(format!(
            "on chain: {} bytes, {} leaves, root {}; taken as: {} bytes, {} leaves, root {}",
            c.size,
            c.leaf_count,
            hex::encode(c.root),
            r.size,
            r.leaf_count,
            hex::encode(r.root)
        ));
    }
    let leaves = masp_proofs::leaf_count(c.size);
    if c.leaf_count != leaves {
        return Err(format!(
            "leaf_count {} on chain, but {} bytes make {leaves} leaves: the contract could never be proven",
            c.leaf_count, c.size
        ));
    }
    if roots.len() != r.chunk_count() as usize
        || masp_proofs::root_of_chunk_roots(&mut roots.to_vec()) != c.root
    {
        return Err("the uploaded chunk roots do not make the on-chain root".into());
    }
    Ok(())
}

impl<C: ChainApi> Follower<C> {
    /// Refuses a node whose finalized view is behind the block this host
    /// already followed, or does not contain it (another chain).
    async fn check_view(&self, fin: BlockId) -> Result<(), PollError> {
        let Some(mark) = self.mark else {
            return Ok(());
        };
        if fin.number < mark.number {
            return Err(PollError::Behind {
                head: fin.number,
                mark: mark.number,
            });
        }
        let canon = if fin.number == mark.number {
            Some(fin)
        } else {
            self.chain.block(mark.number).await?
        };
        if canon.map(|b| b.hash) != Some(mark.hash) {
            return Err(PollError::OtherChain {
                number: mark.number,
            });
        }
        Ok(())
    }

    /// Remembers (on disk, before anything learned at `fin` is written)
    /// that this host follows `fin`.
    fn save_mark(&mut self, fin: BlockId) -> Result<(), PollError> {
        if self.mark.is_some_and(|m| m.number >= fin.number) {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&fin).map_err(std::io::Error::other);
        bytes
            .and_then(|b| crate::store::write_atomic(&self.mark_path, &b))
            .map_err(|source| PollError::Mark {
                path: self.mark_path.clone(),
                source,
            })?;
        self.mark = Some(fin);
        Ok(())
    }

    /// Reads every contract of this host at `fin` (no cap: the node hands
    /// them out page by page) and takes it as the live set. Known contracts
    /// missing from it become suspects ([`Self::settle`] ends them).
    async fn resync(&mut self, fin: BlockId, report: &mut PollReport) -> Result<(), PollError> {
        let list = self.chain.host_contracts_at(fin).await?;
        self.save_mark(fin)?;
        let known: HashMap<ContractId, ContractRecord> =
            self.store().contracts()?.into_iter().collect();
        self.live.clear();
        for c in list {
            let r = known.get(&c.id);
            self.take(c, r, report)?;
        }
        self.ending.clear();
        for (id, r) in known {
            if self.live.contains_key(&id) {
                continue;
            }
            match r.ended_at {
                Some(t) => {
                    self.ending.insert(id, t);
                }
                None => {
                    self.suspects.insert(id);
                }
            }
        }
        self.at = Some(fin);
        self.synced_at = fin.number;
        tracing::info!(
            block = fin.number,
            contracts = self.live.len(),
            "read this host's contracts"
        );
        Ok(())
    }

    /// Reads the contract events of finalized blocks `from..=fin`, then
    /// each contract they name at `fin`.
    async fn walk(
        &mut self,
        from: u32,
        fin: BlockId,
        report: &mut PollReport,
    ) -> Result<(), PollError> {
        let mut touched = BTreeSet::new();
        for n in from..=fin.number {
            let block = if n == fin.number {
                fin
            } else {
                self.chain
                    .block(n)
                    .await?
                    .ok_or(PollError::OtherChain { number: n })?
            };
            for e in self.chain.contract_events(block).await? {
                match e {
                    ContractEvent::Created(id) | ContractEvent::Confirmed(id) => {
                        touched.insert(id);
                    }
                    ContractEvent::Ended(id) if self.live.contains_key(&id) => {
                        self.suspects.insert(id);
                    }
                    ContractEvent::Ended(_) => {}
                }
            }
        }
        self.save_mark(fin)?;
        for id in touched {
            match self.chain.contract_at(id, fin).await? {
                Some(c) => {
                    let r = self.store().contract(id)?;
                    self.take(c, r.as_ref(), report)?;
                }
                None if self.live.contains_key(&id) => {
                    self.suspects.insert(id);
                }
                // Created and ended between two polls: never taken.
                None => {}
            }
        }
        self.at = Some(fin);
        Ok(())
    }

    /// Takes `c` (as the chain has it at a finalized block) into the live
    /// set and the index.
    fn take(
        &mut self,
        c: ChainContract,
        known: Option<&ContractRecord>,
        report: &mut PollReport,
    ) -> Result<(), PollError> {
        match known {
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
                report.added += 1;
            }
            Some(r) if r.confirmed != c.active || r.ended_at.is_some() => {
                let mut r = r.clone();
                r.confirmed = c.active;
                r.ended_at = None;
                self.store().put_contract(c.id, &r)?;
                self.ending.remove(&c.id);
            }
            Some(_) => {}
        }
        self.suspects.remove(&c.id);
        self.live.insert(c.id, c);
        Ok(())
    }

    /// Ends each suspect the chain no longer has at `fin` (a finalized
    /// block at or after every block where this host saw it); its data is
    /// kept for the grace period.
    async fn settle(&mut self, fin: BlockId, now: u64) -> Result<(), PollError> {
        let suspects: Vec<ContractId> = self.suspects.iter().copied().collect();
        for id in suspects {
            if let Some(c) = self.chain.contract_at(id, fin).await? {
                let r = self.store().contract(id)?;
                self.take(c, r.as_ref(), &mut PollReport::default())?;
                continue;
            }
            self.suspects.remove(&id);
            self.live.remove(&id);
            if let Some(mut r) = self.store().contract(id)? {
                let at = *r.ended_at.get_or_insert(now);
                self.store().put_contract(id, &r)?;
                self.ending.insert(id, at);
                tracing::info!(
                    contract = id,
                    block = fin.number,
                    "contract ended on chain; data kept for the grace period"
                );
            }
        }
        Ok(())
    }

    /// Deletes the data of contracts ended a grace period ago.
    fn delete_after_grace(&mut self, now: u64) -> Result<u32, PollError> {
        let due: Vec<ContractId> = self
            .ending
            .iter()
            .filter(|(_, t)| now >= t.saturating_add(self.grace_secs))
            .map(|(id, _)| *id)
            .collect();
        for id in &due {
            self.store().delete_contract(*id)?;
            self.ending.remove(id);
            tracing::info!(contract = id, "ended contract's data deleted");
        }
        Ok(due.len() as u32)
    }
}

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// The chain.
    #[error("chain: {0}")]
    Chain(#[from] masp_chain::ChainError),
    /// The node's finalized head is behind a block this host already
    /// followed (it is resyncing, or rewound): nothing changes meanwhile.
    #[error("the node's finalized block #{head} is behind #{mark}, which this host already followed: the node is resyncing or rewound; waiting for it")]
    Behind {
        /// The node's finalized block number.
        head: u32,
        /// The highest finalized block this host followed.
        mark: u32,
    },
    /// The node's block `number` is not the one this host followed: it is
    /// on another chain (or has no such block); nothing changes.
    #[error("the node's block #{number} is not the one this host followed: it is on another chain; nothing is changed (a host follows one chain: point it at a node of that chain, or start it on a fresh data folder)")]
    OtherChain {
        /// The block number.
        number: u32,
    },
    /// The followed block could not be kept on disk.
    #[error("cannot write {}: {source}", path.display())]
    Mark {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The disk.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Proof building (several leaves per challenge, one multi-proof) lives in
/// [`crate::prove`]; re-exported here for existing callers.
pub use crate::prove::{build_proof, ProveError};

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
