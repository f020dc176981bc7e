//! The daemon's background work against a scripted chain and a real disk
//! store (and a failing one):
//! - a contract matched on chain is taken, and confirmed once its data is
//!   complete — never before, and never when its on-chain size, root or
//!   leaf count is not the data's (a contract that could never be proven);
//! - each epoch the leaf the epoch's seed challenges is proven with a proof
//!   that verifies against the on-chain root, once per epoch;
//! - a host learns of all its contracts, however many (more than 10,000
//!   one-byte contracts cannot hide one), after a restart too;
//! - a contract ends only when a finalized block shows it gone: a node that
//!   is behind, rewound, on another chain, syncing, or whose list of the
//!   host's contracts leaves one out, never gets data deleted;
//! - a corrupt chunk is never proven: it is dropped and reported;
//! - an ended contract's data is deleted after the grace period, not before;
//! - a chain that fails changes nothing and the next poll recovers.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use masp_chain::ChainError;
use masp_host::{
    chain::{BlockId, ChainApi, ChainContract, ContractEvent, Head, Retrieval},
    config::{self, Overrides},
    follower::{scrub, Follower, PollError, PollReport},
    listings::{NoChain, ReceiverGate},
    metrics::Metrics,
    server::{AppState, Clock},
    store::{DiskStore, Store},
    tickets::ReplayGuard,
};
use masp_primitives::market::ContractId;
use masp_proofs::{
    challenge_indices, chunk_root, root_of_chunk_roots, CHALLENGE_LEAVES, CHUNK_SIZE,
    LEAVES_PER_CHUNK,
};

/// A proof the chain received: contract, epoch, leaf index, leaf, path.
type Submitted = (ContractId, u32, u64, Vec<u8>, Vec<[u8; 32]>);

/// A finalized block of the scripted chain: the host's contracts then, and
/// the events in it.
#[derive(Clone)]
struct Block {
    id: BlockId,
    contracts: Vec<ChainContract>,
    events: Vec<ContractEvent>,
}

#[derive(Default)]
struct Script {
    /// The host's contracts as the next block will have them.
    contracts: Vec<ChainContract>,
    /// Events of the next block.
    events: Vec<ContractEvent>,
    /// The node's blocks, by number (block 0: genesis, no contracts).
    blocks: Vec<Block>,
    /// The node's finalized block (it may go back: a rewound node).
    finalized: u32,
    /// While set, the node does not finalize a block on each `head`.
    frozen: bool,
    /// What the node says of its sync.
    syncing: bool,
    /// Tells one chain's block hashes from another's.
    chain_tag: u8,
    epoch: u32,
    seeds: HashMap<u32, [u8; 32]>,
    /// Contracts that exist on chain but are left out of `host_contracts_at`.
    unlisted: Vec<ContractId>,
    confirmed: Vec<ContractId>,
    proofs: Vec<Submitted>,
    /// Open retrieval challenges on this host's contracts.
    retrievals: Vec<Retrieval>,
    /// Answers received: challenge id, piece, path.
    answers: Vec<(u64, Vec<u8>, Vec<[u8; 32]>)>,
    /// Full reads of the host's contracts.
    full_reads: u32,
    fail: bool,
}

impl Script {
    /// Finalizes a block holding the working state and pending events.
    fn finalize(&mut self) {
        if self.blocks.is_empty() {
            self.blocks.push(Block {
                id: block_id(self.chain_tag, 0),
                contracts: vec![],
                events: vec![],
            });
        }
        let number = self.blocks.len() as u32;
        self.blocks.push(Block {
            id: block_id(self.chain_tag, number),
            contracts: self.contracts.clone(),
            events: std::mem::take(&mut self.events),
        });
        self.finalized = number;
    }
    /// A new contract of this host, with its `ContractCreated`.
    fn add(&mut self, c: ChainContract) {
        self.events.push(ContractEvent::Created(c.id));
        self.contracts.push(c);
    }
    /// Contract `id` ends, with its `ContractEnded`.
    fn end(&mut self, id: ContractId) {
        self.events.push(ContractEvent::Ended(id));
        self.contracts.retain(|c| c.id != id);
    }
    fn block(&self, b: BlockId) -> Result<&Block, ChainError> {
        self.blocks
            .get(b.number as usize)
            .filter(|k| k.id == b && b.number <= self.finalized)
            .ok_or_else(|| ChainError::Subxt(format!("unknown block {b:?}").into()))
    }
}

fn block_id(tag: u8, number: u32) -> BlockId {
    let mut hash = [tag; 32];
    hash[..4].copy_from_slice(&number.to_le_bytes());
    BlockId { number, hash }
}

#[derive(Default)]
struct ScriptedChain(Mutex<Script>);

impl ScriptedChain {
    fn with<T>(&self, f: impl FnOnce(&mut Script) -> T) -> T {
        f(&mut self.0.lock().unwrap())
    }
    fn check(&self) -> Result<(), ChainError> {
        if self.with(|s| s.fail) {
            Err(ChainError::Subxt("node unreachable".into()))
        } else {
            Ok(())
        }
    }
}

impl ChainApi for ScriptedChain {
    async fn head(&self) -> Result<Head, ChainError> {
        self.check()?;
        Ok(self.with(|s| {
            if !s.frozen || s.blocks.is_empty() {
                s.finalize();
            }
            Head {
                finalized: s.blocks[s.finalized as usize].id,
                syncing: s.syncing,
            }
        }))
    }
    async fn block(&self, number: u32) -> Result<Option<BlockId>, ChainError> {
        self.check()?;
        Ok(self.with(|s| match number <= s.finalized {
            true => s.blocks.get(number as usize).map(|b| b.id),
            false => None,
        }))
    }
    async fn contract_events(&self, block: BlockId) -> Result<Vec<ContractEvent>, ChainError> {
        self.check()?;
        self.with(|s| Ok(s.block(block)?.events.clone()))
    }
    async fn contract_at(
        &self,
        id: ContractId,
        block: BlockId,
    ) -> Result<Option<ChainContract>, ChainError> {
        self.check()?;
        self.with(|s| {
            Ok(s.block(block)?
                .contracts
                .iter()
                .find(|c| c.id == id)
                .cloned())
        })
    }
    async fn host_contracts_at(&self, block: BlockId) -> Result<Vec<ChainContract>, ChainError> {
        self.check()?;
        self.with(|s| {
            s.full_reads += 1;
            let b = s.block(block)?;
            Ok(b.contracts
                .iter()
                .filter(|c| !s.unlisted.contains(&c.id))
                .cloned()
                .collect())
        })
    }
    async fn current_epoch(&self) -> Result<u32, ChainError> {
        self.check()?;
        Ok(self.with(|s| s.epoch))
    }
    async fn confirm_stored(&self, id: ContractId) -> Result<(), ChainError> {
        self.check()?;
        self.with(|s| {
            s.confirmed.push(id);
            s.events.push(ContractEvent::Confirmed(id));
            for c in &mut s.contracts {
                if c.id == id {
                    c.active = true;
                }
            }
        });
        Ok(())
    }
    async fn epoch_seed(&self, epoch: u32) -> Result<Option<[u8; 32]>, ChainError> {
        self.check()?;
        Ok(self.with(|s| s.seeds.get(&epoch).copied()))
    }
    async fn proven(&self, id: ContractId, epoch: u32) -> Result<bool, ChainError> {
        Ok(self.with(|s| s.proofs.iter().any(|p| p.0 == id && p.1 == epoch)))
    }
    async fn submit_proofs(
        &self,
        proofs: Vec<(ContractId, Vec<u8>, Vec<[u8; 32]>)>,
    ) -> Result<(), ChainError> {
        self.check()?;
        self.with(|s| {
            for (id, leaf, path) in proofs {
                let c = s.contracts.iter().find(|c| c.id == id).unwrap();
                let seed = &s.seeds[&s.epoch];
                let index = challenge_indices(seed, id, s.epoch, c.leaf_count, CHALLENGE_LEAVES)
                    .as_slice()[0];
                s.proofs.push((id, s.epoch, index, leaf, path));
            }
        });
        Ok(())
    }
    async fn open_retrievals(&self) -> Result<Vec<Retrieval>, ChainError> {
        self.check()?;
        Ok(self.with(|s| s.retrievals.clone()))
    }
    async fn answer_retrieval(
        &self,
        id: u64,
        piece: Vec<u8>,
        path: Vec<[u8; 32]>,
    ) -> Result<(), ChainError> {
        self.check()?;
        self.with(|s| {
            // As the pallet does: an answered challenge is gone.
            let before = s.retrievals.len();
            s.retrievals.retain(|r| r.id != id);
            if s.retrievals.len() == before {
                return Err(ChainError::Module {
                    pallet: "Retrieval".into(),
                    error: "UnknownChallenge".into(),
                    docs: String::new(),
                });
            }
            s.answers.push((id, piece, path));
            Ok(())
        })
    }
}

struct TestClock(AtomicU64);

impl Clock for TestClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

struct Rig {
    _dir: tempfile::TempDir,
    cfg: config::Config,
    chain: Arc<ScriptedChain>,
    state: Arc<AppState>,
    clock: Arc<TestClock>,
    follower: Follower<ScriptedChain>,
    data: Vec<u8>,
    roots: Vec<[u8; 32]>,
}

/// A contract of `size` bytes of pseudo-random ciphertext.
fn rig(size: usize) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("host.toml");
    std::fs::write(&cfg_path, config::TEMPLATE).unwrap();
    let mut cfg = config::load(&cfg_path, [], &Overrides::default()).unwrap();
    cfg.grace_period_secs = 100;
    cfg.scrub_interval_secs = 0;
    let store: Arc<dyn Store> = Arc::new(DiskStore::open(&cfg.data_dir).unwrap());
    let clock = Arc::new(TestClock(AtomicU64::new(1_000)));
    let state = Arc::new(AppState {
        store,
        clock: clock.clone(),
        replay: ReplayGuard::default(),
        receivers: ReceiverGate::new(Arc::new(NoChain)),
        egress: Arc::new(masp_host::egress::Egress::free()),
        metrics: Arc::new(Metrics::new()),
        complete: tokio::sync::Notify::new(),
        best_block: Default::default(),
        chain_seen_at: Default::default(),
    });
    let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
    let roots: Vec<[u8; 32]> = data.chunks(CHUNK_SIZE).map(chunk_root).collect();
    let chain = Arc::new(ScriptedChain::default());
    chain.with(|s| {
        s.add(ChainContract {
            id: 7,
            sender: [1; 32],
            size: size as u64,
            root: root_of_chunk_roots(&mut roots.clone()),
            leaf_count: masp_proofs::leaf_count(size as u64),
            active: false,
            upload_deadline: 100,
            first_epoch: 1,
            last_epoch: 5,
        })
    });
    let follower = Follower::new(chain.clone(), state.clone(), &cfg);
    Rig {
        _dir: dir,
        cfg,
        chain,
        state,
        clock,
        follower,
        data,
        roots,
    }
}

impl Rig {
    /// A new daemon on the same data folder and chain.
    fn restart(&mut self) {
        self.follower = Follower::new(self.chain.clone(), self.state.clone(), &self.cfg);
    }

    fn upload(&self, chunks: std::ops::Range<usize>) {
        self.upload_as(7, chunks)
    }

    /// Stores the rig's data (`chunks` of it) as contract `id`'s.
    fn upload_as(&self, id: ContractId, chunks: std::ops::Range<usize>) {
        let store = &self.state.store;
        store.put_roots(id, &self.roots).unwrap();
        for i in chunks {
            let end = ((i + 1) * CHUNK_SIZE).min(self.data.len());
            store
                .put_chunk(id, i as u32, &self.data[i * CHUNK_SIZE..end])
                .unwrap();
        }
    }
}

#[tokio::test]
async fn a_contract_is_confirmed_only_once_its_data_is_complete() {
    let mut r = rig(3 * CHUNK_SIZE - 100);
    let report = r.follower.poll().await.unwrap();
    assert_eq!(report.added, 1);
    assert_eq!(report.confirmed, 0, "nothing uploaded yet");
    r.upload(0..2);
    assert_eq!(
        r.follower.poll().await.unwrap().confirmed,
        0,
        "one chunk missing"
    );
    r.upload(2..3);
    assert_eq!(r.follower.poll().await.unwrap().confirmed, 1);
    assert_eq!(r.chain.with(|s| s.confirmed.clone()), vec![7]);
    assert!(r.state.store.contract(7).unwrap().unwrap().confirmed);
}

#[tokio::test]
async fn each_epoch_the_challenged_leaf_is_proven_once_with_a_valid_proof() {
    let mut r = rig(3 * CHUNK_SIZE - 100);
    r.upload(0..3);
    r.follower.poll().await.unwrap();
    let root = r.chain.with(|s| s.contracts[0].root);
    let leaves = masp_proofs::leaf_count(r.data.len() as u64);
    // Before the epoch's seed is drawn there is nothing to prove.
    r.chain.with(|s| s.epoch = 1);
    assert_eq!(r.follower.poll().await.unwrap().proven, 0);
    let mut chunks_hit = std::collections::BTreeSet::new();
    for epoch in 1..=5u32 {
        let seed = [epoch as u8 * 37; 32];
        r.chain.with(|s| {
            s.epoch = epoch;
            s.seeds.insert(epoch, seed);
        });
        assert_eq!(r.follower.poll().await.unwrap().proven, 1, "epoch {epoch}");
        assert_eq!(r.follower.poll().await.unwrap().proven, 0, "once per epoch");
        let (id, e, _, leaf, path) = r.chain.with(|s| s.proofs.last().unwrap().clone());
        assert_eq!(e, epoch);
        // The submitted multi-proof proves the leaves the seed challenges,
        // nothing else.
        let ch = challenge_indices(&seed, id, epoch, leaves, CHALLENGE_LEAVES);
        masp_proofs::verify_multi(&root, leaves, ch.as_slice(), &leaf, &path).unwrap();
        for i in ch.as_slice() {
            chunks_hit.insert(i / LEAVES_PER_CHUNK);
        }
    }
    assert!(chunks_hit.len() > 1, "challenges reach several chunks");
    // Outside the term: nothing is submitted.
    r.chain.with(|s| {
        s.epoch = 6;
        s.seeds.insert(6, [1; 32]);
    });
    assert_eq!(r.follower.poll().await.unwrap().proven, 0);
}

#[tokio::test]
async fn a_corrupt_chunk_is_never_proven_and_is_dropped() {
    let mut r = rig(2 * CHUNK_SIZE);
    r.upload(0..2);
    r.follower.poll().await.unwrap();
    // Flip a byte of chunk 1 on disk.
    let path = r.state.store.chunk_path(7, 1);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[9] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    // A seed that challenges a leaf of chunk 1.
    let leaves = masp_proofs::leaf_count(r.data.len() as u64);
    let seed = (0..=255u8)
        .map(|b| [b; 32])
        .find(|s| {
            challenge_indices(s, 7, 1, leaves, CHALLENGE_LEAVES)
                .as_slice()
                .iter()
                .any(|i| i / LEAVES_PER_CHUNK == 1)
        })
        .unwrap();
    r.chain.with(|s| {
        s.epoch = 1;
        s.seeds.insert(1, seed);
    });
    let report = r.follower.poll().await.unwrap();
    assert_eq!(
        report,
        PollReport {
            unprovable: 1,
            ..Default::default()
        }
    );
    assert!(
        r.chain.with(|s| s.proofs.is_empty()),
        "no unverified proof is submitted"
    );
    assert!(
        !r.state.store.has_chunk(7, 1).unwrap(),
        "the corrupt chunk is never served"
    );
}

#[tokio::test]
async fn a_scrub_finds_and_drops_corrupt_chunks() {
    let mut r = rig(3 * CHUNK_SIZE);
    r.upload(0..3);
    r.follower.poll().await.unwrap();
    assert!(scrub(&*r.state.store).unwrap().is_empty());
    std::fs::write(r.state.store.chunk_path(7, 2), b"garbage").unwrap();
    assert_eq!(scrub(&*r.state.store).unwrap(), vec![(7, 2)]);
    assert!(!r.state.store.has_chunk(7, 2).unwrap());
    assert!(r.state.store.has_chunk(7, 1).unwrap());
}

#[tokio::test]
async fn an_ended_contract_is_deleted_after_the_grace_period() {
    let mut r = rig(1000);
    r.upload(0..1);
    r.follower.poll().await.unwrap();
    r.chain.with(|s| s.end(7));
    r.follower.poll().await.unwrap();
    assert!(
        r.state.store.has_chunk(7, 0).unwrap(),
        "kept during the grace period"
    );
    r.clock.0.fetch_add(99, Ordering::Relaxed);
    assert_eq!(r.follower.poll().await.unwrap().deleted, 0);
    r.clock.0.fetch_add(1, Ordering::Relaxed);
    assert_eq!(r.follower.poll().await.unwrap().deleted, 1);
    assert_eq!(r.state.store.contract(7).unwrap(), None);
    assert!(!r.state.store.chunk_path(7, 0).exists());
}

#[tokio::test]
async fn a_failing_chain_changes_nothing_and_the_next_poll_recovers() {
    let mut r = rig(1000);
    r.chain.with(|s| s.fail = true);
    assert!(r.follower.poll().await.is_err());
    assert_eq!(r.state.store.contracts().unwrap(), vec![]);
    r.chain.with(|s| s.fail = false);
    assert_eq!(r.follower.poll().await.unwrap().added, 1);
}

#[tokio::test]
async fn a_contract_left_out_of_the_list_of_the_hosts_contracts_is_not_ended() {
    let mut r = rig(1000);
    r.upload(0..1);
    r.follower.poll().await.unwrap();
    // The chain still has it, but the host's list did not include it when
    // the restarted daemon read it.
    r.chain.with(|s| s.unlisted.push(7));
    r.restart();
    r.clock.0.fetch_add(1_000, Ordering::Relaxed);
    r.follower.poll().await.unwrap();
    r.clock.0.fetch_add(1_000, Ordering::Relaxed);
    assert_eq!(r.follower.poll().await.unwrap().deleted, 0);
    assert_eq!(r.state.store.contract(7).unwrap().unwrap().ended_at, None);
    assert!(r.state.store.has_chunk(7, 0).unwrap());
}

/// A 1-byte contract of this host, awaiting its upload.
fn tiny(id: ContractId) -> ChainContract {
    ChainContract {
        id,
        sender: [2; 32],
        size: 1,
        root: chunk_root(&[0]),
        leaf_count: 1,
        active: false,
        upload_deadline: 1_000_000,
        first_epoch: 1,
        last_epoch: 5,
    }
}

#[tokio::test]
async fn more_than_ten_thousand_tiny_contracts_cannot_hide_a_contract_from_its_host() {
    // The attack: anyone matches the host's offer with 1-byte contracts
    // until it has more than the 10,000 the old daemon listed; contracts
    // beyond its cap were never proven.
    let mut r = rig(2 * CHUNK_SIZE);
    r.chain.with(|s| {
        s.contracts.clear();
        s.events.clear();
        for id in 1_000..7_000 {
            s.add(tiny(id));
        }
    });
    assert_eq!(r.follower.poll().await.unwrap().added, 6_000);
    // More arrive while the daemon runs: it learns of them from the
    // finalized blocks' events, then the real contract, the 10,002nd.
    r.chain.with(|s| {
        for id in 7_000..11_001 {
            s.add(tiny(id));
        }
    });
    assert_eq!(r.follower.poll().await.unwrap().added, 4_001);
    let real = rig_contract(&r, 20_000);
    r.chain.with(|s| s.add(real));
    assert_eq!(r.follower.poll().await.unwrap().added, 1);
    assert_eq!(r.state.store.contracts().unwrap().len(), 10_002);
    assert_eq!(r.chain.with(|s| s.full_reads), 1, "one full read at start");

    // Its data arrives: confirmed, then proven.
    r.upload_as(20_000, 0..2);
    assert_eq!(r.follower.poll().await.unwrap().confirmed, 1);
    r.chain.with(|s| {
        s.epoch = 1;
        s.seeds.insert(1, [5; 32]);
    });
    assert_eq!(r.follower.poll().await.unwrap().proven, 1);
    assert_eq!(r.chain.with(|s| s.proofs[0].0), 20_000);

    // A restarted daemon reads them all again (the node pages them).
    r.restart();
    r.chain.with(|s| {
        s.epoch = 2;
        s.seeds.insert(2, [6; 32]);
    });
    let report = r.follower.poll().await.unwrap();
    assert_eq!((report.added, report.proven), (0, 1));
    assert_eq!(r.chain.with(|s| s.full_reads), 2);
    assert_eq!(r.state.metrics.contracts.get(), 10_002);
}

/// The rig's contract under another id (the same data).
fn rig_contract(r: &Rig, id: ContractId) -> ChainContract {
    ChainContract {
        id,
        sender: [1; 32],
        size: r.data.len() as u64,
        root: root_of_chunk_roots(&mut r.roots.clone()),
        leaf_count: masp_proofs::leaf_count(r.data.len() as u64),
        active: false,
        upload_deadline: 1_000_000,
        first_epoch: 1,
        last_epoch: 5,
    }
}

#[tokio::test]
async fn a_node_that_is_behind_rewound_or_on_another_chain_never_gets_data_deleted() {
    let mut r = rig(1000);
    r.upload(0..1);
    r.follower.poll().await.unwrap();
    r.follower.poll().await.unwrap();
    let seen = r.state.chain_seen_at.load(Ordering::Relaxed);
    let kept = |r: &Rig| {
        let c = r.state.store.contract(7).unwrap().expect("record kept");
        assert_eq!(c.ended_at, None, "not taken as ended");
        assert!(r.state.store.has_chunk(7, 0).unwrap(), "data kept");
    };

    // The node restarts and resyncs from genesis: its finalized block is
    // back at 0, where the contract does not exist yet.
    r.chain.with(|s| {
        s.frozen = true;
        s.finalized = 0;
    });
    for _ in 0..3 {
        r.clock.0.fetch_add(1_000, Ordering::Relaxed);
        let e = r.follower.poll().await.unwrap_err();
        assert!(matches!(e, PollError::Behind { head: 0, .. }), "{e}");
        kept(&r);
    }
    // A restarted daemon remembers how far it followed.
    r.restart();
    r.clock.0.fetch_add(1_000, Ordering::Relaxed);
    assert!(matches!(
        r.follower.poll().await.unwrap_err(),
        PollError::Behind { .. }
    ));
    kept(&r);
    assert_eq!(
        r.state.chain_seen_at.load(Ordering::Relaxed),
        seen,
        "/health sees the chain silent meanwhile"
    );

    // A node of another chain (a wiped dev chain) past that height, where
    // the host has no contracts at all.
    let real = r.chain.with(|s| std::mem::take(&mut s.blocks));
    r.chain.with(|s| {
        s.chain_tag = 9;
        s.contracts.clear();
        s.events.clear();
        for _ in 0..real.len() + 3 {
            s.finalize();
        }
    });
    for _ in 0..2 {
        r.restart();
        r.clock.0.fetch_add(1_000, Ordering::Relaxed);
        let e = r.follower.poll().await.unwrap_err();
        assert!(matches!(e, PollError::OtherChain { .. }), "{e}");
        kept(&r);
    }

    // Back on the real chain, where the contract still exists.
    r.chain.with(|s| {
        s.chain_tag = 0;
        s.blocks = real;
        s.contracts = s.blocks.last().unwrap().contracts.clone();
        s.frozen = false;
    });
    r.clock.0.fetch_add(1_000, Ordering::Relaxed);
    assert_eq!(r.follower.poll().await.unwrap(), PollReport::default());
    kept(&r);
}

#[tokio::test]
async fn a_syncing_node_never_ends_a_contract_a_finalized_block_then_does() {
    let mut r = rig(1000);
    r.upload(0..1);
    r.follower.poll().await.unwrap();
    // The contract ends on chain, but the node says it is still syncing.
    r.chain.with(|s| {
        s.end(7);
        s.syncing = true;
    });
    for _ in 0..3 {
        r.clock.0.fetch_add(1_000, Ordering::Relaxed);
        assert_eq!(r.follower.poll().await.unwrap().deleted, 0);
        assert_eq!(r.state.store.contract(7).unwrap().unwrap().ended_at, None);
    }
    // Synced: the finalized block lacks it; its data goes after the grace.
    r.chain.with(|s| s.syncing = false);
    assert_eq!(r.follower.poll().await.unwrap().deleted, 0);
    let ended = r.state.store.contract(7).unwrap().unwrap().ended_at;
    assert_eq!(ended, Some(r.clock.0.load(Ordering::Relaxed)));
    r.clock.0.fetch_add(100, Ordering::Relaxed);
    assert_eq!(r.follower.poll().await.unwrap().deleted, 1);
    assert!(!r.state.store.chunk_path(7, 0).exists());
}

#[tokio::test]
async fn a_contract_ended_while_the_daemon_was_down_is_ended_by_a_full_read() {
    let mut r = rig(1000);
    r.upload(0..1);
    r.follower.poll().await.unwrap();
    r.chain.with(|s| {
        s.end(7);
        for _ in 0..100 {
            s.finalize();
        }
    });
    r.restart();
    r.follower.poll().await.unwrap();
    assert!(r
        .state
        .store
        .contract(7)
        .unwrap()
        .unwrap()
        .ended_at
        .is_some());
    r.clock.0.fetch_add(100, Ordering::Relaxed);
    assert_eq!(r.follower.poll().await.unwrap().deleted, 1);
}

#[tokio::test]
async fn a_contract_whose_leaf_count_or_root_does_not_match_its_data_is_never_confirmed() {
    // The attack: a Sender places a contract whose leaf_count is not the
    // one of its size (or whose root is not its data's); a host that
    // confirms it can never prove it, and is slashed until it loses it.
    for (more_leaves, root) in [(-1i64, None), (1, None), (0, Some([9u8; 32]))] {
        let mut r = rig(3 * CHUNK_SIZE - 100);
        let size = r.data.len() as u64;
        r.chain.with(|s| {
            let c = &mut s.contracts[0];
            c.leaf_count = (masp_proofs::leaf_count(size) as i64 + more_leaves) as u64;
            if let Some(root) = root {
                c.root = root;
            }
        });
        r.follower.poll().await.unwrap();
        r.upload(0..3);
        for _ in 0..3 {
            assert_eq!(r.follower.poll().await.unwrap().confirmed, 0);
        }
        assert!(r.chain.with(|s| s.confirmed.is_empty()));
        assert!(!r.state.store.contract(7).unwrap().unwrap().confirmed);
    }
}

#[tokio::test]
async fn an_open_retrieval_challenge_is_answered_with_the_piece_and_its_path() {
    let mut r = rig(3 * CHUNK_SIZE - 100);
    r.upload(0..3);
    r.follower.poll().await.unwrap();
    let root = r.chain.with(|s| s.contracts[0].root);
    let leaves = masp_proofs::leaf_count(r.data.len() as u64);
    // One piece across a chunk boundary, one at the file's short end, and
    // one on a contract this host has no record of.
    let across = LEAVES_PER_CHUNK - 3;
    let end = leaves - 2;
    r.chain.with(|s| {
        s.retrievals = vec![
            Retrieval {
                id: 4,
                contract: 7,
                first_leaf: across,
                leaves: 8,
                deadline: 50,
            },
            Retrieval {
                id: 5,
                contract: 7,
                first_leaf: end,
                leaves: 2,
                deadline: 50,
            },
            Retrieval {
                id: 6,
                contract: 99,
                first_leaf: 0,
                leaves: 8,
                deadline: 50,
            },
        ]
    });
    let report = r.follower.poll().await.unwrap();
    assert_eq!(report.answered, 2);
    let answers = r.chain.with(|s| s.answers.clone());
    for (id, piece, path) in &answers {
        let (first, n) = if *id == 4 { (across, 8) } else { (end, 2) };
        let indices: Vec<u64> = (first..first + n).collect();
        masp_proofs::verify_multi(&root, leaves, &indices, piece, path).unwrap();
        let start = first as usize * 512;
        assert_eq!(
            &piece[..],
            &r.data[start..(start + n as usize * 512).min(r.data.len())]
        );
    }
    // The unanswerable one is reported once, not retried into the log.
    let failed = r
        .state
        .metrics
        .retrievals
        .with_label_values(&["failed"])
        .get();
    assert_eq!(failed, 1);
    assert_eq!(r.follower.poll().await.unwrap().answered, 0);
    assert_eq!(
        r.state
            .metrics
            .retrievals
            .with_label_values(&["failed"])
            .get(),
        1
    );
}

#[tokio::test]
async fn a_challenge_and_an_epoch_proof_are_both_answered_in_one_poll() {
    let mut r = rig(CHUNK_SIZE);
    r.upload(0..1);
    r.follower.poll().await.unwrap();
    r.chain.with(|s| {
        s.epoch = 1;
        s.seeds.insert(1, [3; 32]);
        s.retrievals = vec![Retrieval {
            id: 1,
            contract: 7,
            first_leaf: 0,
            leaves: 8,
            deadline: 5,
        }];
    });
    let report = r.follower.poll().await.unwrap();
    assert_eq!((report.answered, report.proven), (1, 1));
}
