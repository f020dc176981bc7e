//! The daemon's background work against a scripted chain and a real disk
//! store (and a failing one):
//! - a contract matched on chain is taken, and confirmed once its data is
//!   complete — never before;
//! - each epoch the leaf the epoch's seed challenges is proven with a proof
//!   that verifies against the on-chain root, once per epoch;
//! - a contract missing from the (capped) list of the host's contracts is
//!   only ended when the chain no longer has it;
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
    chain::{ChainApi, ChainContract},
    config::{self, Overrides},
    follower::{scrub, Follower, PollReport},
    metrics::Metrics,
    server::{AppState, Clock},
    store::{DiskStore, Store},
    tickets::ReplayGuard,
};
use masp_primitives::market::ContractId;
use masp_proofs::{challenge_index, chunk_root, root_of_chunk_roots, CHUNK_SIZE, LEAVES_PER_CHUNK};

/// A proof the chain received: contract, epoch, leaf index, leaf, path.
type Submitted = (ContractId, u32, u64, Vec<u8>, Vec<[u8; 32]>);

#[derive(Default)]
struct Script {
    contracts: Vec<ChainContract>,
    epoch: u32,
    seeds: HashMap<u32, [u8; 32]>,
    /// Contracts that exist on chain but are left out of `host_contracts`.
    unlisted: Vec<ContractId>,
    confirmed: Vec<ContractId>,
    proofs: Vec<Submitted>,
    fail: bool,
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
    async fn best_block(&self) -> Result<u32, ChainError> {
        self.check()?;
        Ok(10)
    }
    async fn current_epoch(&self) -> Result<u32, ChainError> {
        self.check()?;
        Ok(self.with(|s| s.epoch))
    }
    async fn host_contracts(&self) -> Result<Vec<ChainContract>, ChainError> {
        self.check()?;
        Ok(self.with(|s| {
            s.contracts
                .iter()
                .filter(|c| !s.unlisted.contains(&c.id))
                .cloned()
                .collect()
        }))
    }
    async fn contract_exists(&self, id: ContractId) -> Result<bool, ChainError> {
        self.check()?;
        Ok(self.with(|s| s.contracts.iter().any(|c| c.id == id)))
    }
    async fn confirm_stored(&self, id: ContractId) -> Result<(), ChainError> {
        self.check()?;
        self.with(|s| {
            s.confirmed.push(id);
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
                let index = challenge_index(&s.seeds[&s.epoch], id, s.epoch, c.leaf_count);
                s.proofs.push((id, s.epoch, index, leaf, path));
            }
        });
        Ok(())
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
        metrics: Arc::new(Metrics::new()),
        complete: tokio::sync::Notify::new(),
        best_block: Default::default(),
        chain_seen_at: Default::default(),
    });
    let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
    let roots: Vec<[u8; 32]> = data.chunks(CHUNK_SIZE).map(chunk_root).collect();
    let chain = Arc::new(ScriptedChain::default());
    chain.with(|s| {
        s.contracts.push(ChainContract {
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
        chain,
        state,
        clock,
        follower,
        data,
        roots,
    }
}

impl Rig {
    fn upload(&self, chunks: std::ops::Range<usize>) {
        let store = &self.state.store;
        store.put_roots(7, &self.roots).unwrap();
        for i in chunks {
            let end = ((i + 1) * CHUNK_SIZE).min(self.data.len());
            store
                .put_chunk(7, i as u32, &self.data[i * CHUNK_SIZE..end])
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
        let (_, e, i, leaf, path) = r.chain.with(|s| s.proofs.last().unwrap().clone());
        assert_eq!(e, epoch);
        // The submitted path proves the leaf the seed challenges, nothing else.
        masp_proofs::verify(&root, leaves, i, &leaf, &path).unwrap();
        chunks_hit.insert(i / LEAVES_PER_CHUNK);
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
        .find(|s| challenge_index(s, 7, 1, leaves) / LEAVES_PER_CHUNK == 1)
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
    r.chain.with(|s| s.contracts.clear());
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
async fn a_contract_left_out_of_the_capped_list_is_not_ended() {
    let mut r = rig(1000);
    r.upload(0..1);
    r.follower.poll().await.unwrap();
    // The chain still has it, but the host's list did not include it.
    r.chain.with(|s| s.unlisted.push(7));
    r.clock.0.fetch_add(1_000, Ordering::Relaxed);
    r.follower.poll().await.unwrap();
    r.clock.0.fetch_add(1_000, Ordering::Relaxed);
    assert_eq!(r.follower.poll().await.unwrap().deleted, 0);
    assert_eq!(r.state.store.contract(7).unwrap().unwrap().ended_at, None);
    assert!(r.state.store.has_chunk(7, 0).unwrap());
}
