//! Receivers: who may read a contract's data with their own ticket.
//!
//! A Receiver signs its own ticket ([`TicketOp::Receive`]) naming a listing
//! (`pallet-listings`). The host serves it only if the chain says the
//! listing exists, names the contract asked for (and, for its manifest,
//! commits to the manifest asked for), and gives the ticket's signer access
//! (`ListingsApi::has_access`: the listing's Sender, anyone for a public
//! listing, a buyer whose key was delivered).
//!
//! The chain is behind a trait ([`ListingAccess`]; [`crate::chain::SubxtChain`]
//! implements it over subxt, tests put a double behind it). Its answers are
//! kept by [`ReceiverGate`]: a positive one for [`GateLimits::allowed_for`]
//! (a download of many chunks asks the chain once), a negative one for a
//! few seconds at most ([`GateLimits::refused_for`]: a buyer whose purchase
//! just went through is not kept waiting), a failure not at all. The cache
//! is bounded ([`GateLimits::max_entries`], the oldest answers go first), and
//! concurrent requests of one (listing, account) ask the chain once between
//! them.
//!
//! [`TicketOp::Receive`]: masp_primitives::ticket::TicketOp::Receive

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use masp_chain::{AccountId32, ChainError};
use masp_primitives::market::ContractId;

/// A listing's id (`pallet-listings`).
pub type ListingId = u64;

/// What the host needs of an on-chain listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListingView {
    /// Who listed it (the Sender of its contracts).
    pub sender: [u8; 32],
    /// The contracts holding the listed file.
    pub contracts: Vec<ContractId>,
    /// BLAKE2b-256 of its sealed listing manifest
    /// ([`masp_primitives::listing::listing_manifest_hash`]).
    pub manifest: [u8; 32],
}

/// The chain's answers about listings. Boxed futures, so the daemon's
/// shared state holds it as a trait object.
pub trait ListingAccess: Send + Sync + 'static {
    /// Listing `id` as the chain has it now (`None`: there is none).
    fn listing(&self, id: ListingId) -> BoxFuture<'_, Result<Option<ListingView>, ChainError>>;
    /// Whether the chain gives `who` access to listing `id` now.
    fn has_access(&self, id: ListingId, who: [u8; 32]) -> BoxFuture<'_, Result<bool, ChainError>>;
}

/// No chain to ask (tools, tests that serve no Receivers): every question
/// fails, so every Receiver's ticket is refused as unavailable.
pub struct NoChain;

impl ListingAccess for NoChain {
    fn listing(&self, _: ListingId) -> BoxFuture<'_, Result<Option<ListingView>, ChainError>> {
        Box::pin(async { Err(ChainError::Subxt("this host has no chain to ask".into())) })
    }

    fn has_access(&self, _: ListingId, _: [u8; 32]) -> BoxFuture<'_, Result<bool, ChainError>> {
        Box::pin(async { Err(ChainError::Subxt("this host has no chain to ask".into())) })
    }
}

/// Why a Receiver is not served.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The listing does not exist (any more).
    #[error("no listing {0} on chain")]
    NoListing(ListingId),
    /// The listing is of another file.
    #[error("listing {listing} does not name contract {contract}")]
    OtherContract {
        /// The listing.
        listing: ListingId,
        /// The contract asked for.
        contract: ContractId,
    },
    /// The listing is not by the contract's Sender (the chain allows no
    /// such listing; a host checks anyway).
    #[error("listing {listing} is not by the sender of contract {contract}")]
    OtherSender {
        /// The listing.
        listing: ListingId,
        /// The contract asked for.
        contract: ContractId,
    },
    /// The listing commits to another listing manifest.
    #[error("listing {listing} commits to manifest 0x{}, not 0x{}", hex::encode(.committed), hex::encode(.asked))]
    OtherManifest {
        /// The listing.
        listing: ListingId,
        /// What it commits to.
        committed: [u8; 32],
        /// What was asked for.
        asked: [u8; 32],
    },
    /// The signer has no access to the listing.
    #[error("account {} has no access to listing {listing} on chain (buy or open it first)", account(.who))]
    NoAccess {
        /// The listing.
        listing: ListingId,
        /// The ticket's signer.
        who: [u8; 32],
    },
    /// The chain could not be asked (a retry later may succeed).
    #[error("cannot ask the chain about listing {listing} now: {reason}")]
    Unavailable {
        /// The listing.
        listing: ListingId,
        /// Why.
        reason: String,
    },
}

/// Where an allowing answer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answered {
    /// A recent answer of the chain, kept.
    Cache,
    /// The chain, asked now.
    Chain,
}

/// An account as the chain shows it (SS58).
fn account(who: &[u8; 32]) -> AccountId32 {
    AccountId32(*who)
}

/// Bounds of a [`ReceiverGate`].
#[derive(Clone, Debug)]
pub struct GateLimits {
    /// How long an account's access to a listing (and the listing's
    /// contracts and manifest) is taken from the cache.
    pub allowed_for: Duration,
    /// How long a refusal (no listing, no access) is; kept short so a
    /// purchase that just went through is served at once.
    pub refused_for: Duration,
    /// (listing, account) answers kept at most; beyond, the oldest go.
    pub max_entries: usize,
    /// How long the chain may take to answer, waiting for a turn
    /// included (a 503 after).
    pub chain_timeout: Duration,
    /// Questions asked of the chain at once (each read of a new
    /// (listing, account) asks two); further ones wait their turn, so
    /// strangers signing tickets with fresh accounts cannot flood the node.
    pub max_asking: usize,
}

impl Default for GateLimits {
    fn default() -> Self {
        Self {
            allowed_for: Duration::from_secs(30),
            refused_for: Duration::from_secs(2),
            max_entries: 10_000,
            chain_timeout: Duration::from_secs(10),
            max_asking: 32,
        }
    }
}

/// A (listing, account) pair.
type Key = (ListingId, [u8; 32]);

/// The chain's answer for one (listing, account).
#[derive(Clone)]
struct Answer {
    /// The listing (`None`: it does not exist).
    view: Option<Arc<ListingView>>,
    /// Whether the account has access to it.
    access: bool,
    /// When it was asked.
    asked: Instant,
    /// Until when it is used.
    until: Instant,
}

impl Answer {
    /// Whether a read of `contract` (whose Sender is `sender`; and, for a
    /// listing manifest, of `manifest`) by `key.1` is allowed.
    fn allows(
        &self,
        (listing, who): Key,
        contract: ContractId,
        sender: &[u8; 32],
        manifest: Option<&[u8; 32]>,
    ) -> Result<(), Denied> {
        let Some(view) = &self.view else {
            return Err(Denied::NoListing(listing));
        };
        if !view.contracts.contains(&contract) {
            return Err(Denied::OtherContract { listing, contract });
        }
        if &view.sender != sender {
            return Err(Denied::OtherSender { listing, contract });
        }
        if let Some(asked) = manifest {
            if asked != &view.manifest {
                return Err(Denied::OtherManifest {
                    listing,
                    committed: view.manifest,
                    asked: *asked,
                });
            }
        }
        if !self.access {
            return Err(Denied::NoAccess { listing, who });
        }
        Ok(())
    }
}

/// Decides whether a Receiver may read, from the chain's answers
/// ([`ListingAccess`]), kept for a bounded time in a bounded cache (see the
/// module's docs).
pub struct ReceiverGate {
    source: Arc<dyn ListingAccess>,
    limits: GateLimits,
    /// Turns to ask the chain ([`GateLimits::max_asking`]).
    turns: tokio::sync::Semaphore,
    cache: Mutex<HashMap<Key, Answer>>,
    /// The (listing, account) pairs being asked now, so that concurrent
    /// requests wait for one answer (at most one entry per request in
    /// flight).
    asking: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
}

/// A place in [`ReceiverGate::asking`], given back when dropped (also when
/// the request is dropped while it waits).
struct Asking<'a> {
    gate: &'a ReceiverGate,
    key: Key,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for Asking<'_> {
    fn drop(&mut self) {
        let mut asking = self.gate.asking.lock().unwrap_or_else(|e| e.into_inner());
        // The map's reference and this one: nobody else waits.
        if Arc::strong_count(&self.lock) == 2 {
            asking.remove(&self.key);
        }
    }
}

impl ReceiverGate {
    /// A gate asking `source`, with the default [`GateLimits`].
    pub fn new(source: Arc<dyn ListingAccess>) -> Self {
        Self::with_limits(source, GateLimits::default())
    }

    /// A gate asking `source` within `limits`.
    pub fn with_limits(source: Arc<dyn ListingAccess>, limits: GateLimits) -> Self {
        Self {
            source,
            turns: tokio::sync::Semaphore::new(limits.max_asking.max(1)),
            limits,
            cache: Mutex::default(),
            asking: Mutex::default(),
        }
    }

    /// Whether `who` may read `contract`, whose Sender is `sender`
    /// (`manifest`: its listing manifest of that hash), as a Receiver of
    /// `listing`: from the cache, else from the chain (and where the answer
    /// came from).
    pub async fn check(
        &self,
        listing: ListingId,
        who: [u8; 32],
        contract: ContractId,
        sender: &[u8; 32],
        manifest: Option<&[u8; 32]>,
    ) -> Result<Answered, Denied> {
        let key = (listing, who);
        if let Some(a) = self.cached(&key) {
            return a
                .allows(key, contract, sender, manifest)
                .map(|()| Answered::Cache);
        }
        let lock = {
            let mut asking = self.asking.lock().unwrap_or_else(|e| e.into_inner());
            asking.entry(key).or_default().clone()
        };
        let place = Asking {
            gate: self,
            key,
            lock,
        };
        let _turn = place.lock.lock().await;
        // Another request may have asked meanwhile.
        if let Some(a) = self.cached(&key) {
            return a
                .allows(key, contract, sender, manifest)
                .map(|()| Answered::Cache);
        }
        let answer = self.ask(key).await?;
        let verdict = answer.allows(key, contract, sender, manifest);
        self.keep(key, answer);
        verdict.map(|()| Answered::Chain)
    }

    /// The cached answer for `key`, if still good.
    fn cached(&self, key: &Key) -> Option<Answer> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(key).filter(|a| a.until > Instant::now()).cloned()
    }

    /// Asks the chain (both questions at once, in turn, within the
    /// timeout).
    async fn ask(&self, (listing, who): Key) -> Result<Answer, Denied> {
        let both = async {
            let _turn = self.turns.acquire().await;
            futures::future::try_join(
                self.source.listing(listing),
                self.source.has_access(listing, who),
            )
            .await
        };
        let unavailable = |reason: String| Denied::Unavailable { listing, reason };
        let (view, access) = match tokio::time::timeout(self.limits.chain_timeout, both).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                // The details (the node's address among them) are the
                // operator's, in the log.
                tracing::warn!(error = %e, listing, "cannot ask the chain about a listing");
                return Err(unavailable(
                    "the host's node is unreachable or failing; try again shortly".into(),
                ));
            }
            Err(_) => {
                return Err(unavailable(format!(
                    "the chain did not answer within {} s",
                    self.limits.chain_timeout.as_secs_f64()
                )))
            }
        };
        let asked = Instant::now();
        let good_for = if view.is_some() && access {
            self.limits.allowed_for
        } else {
            self.limits.refused_for
        };
        Ok(Answer {
            view: view.map(Arc::new),
            access,
            asked,
            until: asked + good_for,
        })
    }

    /// Keeps `answer`, making room if the cache is full: the expired
    /// answers go, then the oldest.
    fn keep(&self, key: Key, answer: Answer) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if !cache.contains_key(&key) && cache.len() >= self.limits.max_entries {
            let now = Instant::now();
            cache.retain(|_, a| a.until > now);
            while cache.len() >= self.limits.max_entries.max(1) {
                let Some(oldest) = cache.iter().min_by_key(|(_, a)| a.asked).map(|(k, _)| *k)
                else {
                    break;
                };
                cache.remove(&oldest);
            }
        }
        cache.insert(key, answer);
    }

    /// Answers kept now.
    pub fn cached_answers(&self) -> usize {
        self.cache.lock().map(|c| c.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    /// Listing 1 names contracts 7 and 8 with manifest [9; 32]; account
    /// [1; 32] has access. Counts the questions.
    #[derive(Default)]
    struct Chain {
        asked: AtomicUsize,
    }

    impl ListingAccess for Chain {
        fn listing(&self, id: ListingId) -> BoxFuture<'_, Result<Option<ListingView>, ChainError>> {
            self.asked.fetch_add(1, Relaxed);
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok((id == 1).then(|| ListingView {
                    sender: [2; 32],
                    contracts: vec![7, 8],
                    manifest: [9; 32],
                }))
            })
        }

        fn has_access(
            &self,
            id: ListingId,
            who: [u8; 32],
        ) -> BoxFuture<'_, Result<bool, ChainError>> {
            Box::pin(async move { Ok(id == 1 && who == [1; 32]) })
        }
    }

    #[tokio::test]
    async fn many_reads_ask_the_chain_once_and_each_check_holds() {
        let chain = Arc::new(Chain::default());
        let gate = Arc::new(ReceiverGate::new(chain.clone()));
        let reads: Vec<_> = (0..16)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn(async move { gate.check(1, [1; 32], 7, &[2; 32], None).await })
            })
            .collect();
        let mut asked = 0;
        for r in reads {
            asked += usize::from(r.await.unwrap().unwrap() == Answered::Chain);
        }
        assert_eq!(asked, 1);
        assert_eq!(chain.asked.load(Relaxed), 1, "concurrent reads ask once");
        assert_eq!(
            gate.check(1, [1; 32], 8, &[2; 32], Some(&[9; 32])).await,
            Ok(Answered::Cache)
        );
        assert_eq!(
            gate.check(1, [1; 32], 6, &[2; 32], None).await,
            Err(Denied::OtherContract {
                listing: 1,
                contract: 6
            })
        );
        assert!(matches!(
            gate.check(1, [1; 32], 7, &[2; 32], Some(&[8; 32])).await,
            Err(Denied::OtherManifest { .. })
        ));
        assert_eq!(
            gate.check(1, [1; 32], 7, &[5; 32], None).await,
            Err(Denied::OtherSender {
                listing: 1,
                contract: 7
            })
        );
        assert_eq!(chain.asked.load(Relaxed), 1, "all from the cache");
        assert!(matches!(
            gate.check(1, [3; 32], 7, &[2; 32], None).await,
            Err(Denied::NoAccess { .. })
        ));
        assert_eq!(
            gate.check(2, [1; 32], 7, &[2; 32], None).await,
            Err(Denied::NoListing(2))
        );
    }

    #[tokio::test]
    async fn refusals_are_kept_briefly_and_the_cache_is_bounded() {
        let chain = Arc::new(Chain::default());
        let limits = GateLimits {
            refused_for: Duration::from_millis(50),
            max_entries: 4,
            ..GateLimits::default()
        };
        let gate = ReceiverGate::with_limits(chain.clone(), limits);
        assert!(gate.check(1, [3; 32], 7, &[2; 32], None).await.is_err());
        assert!(gate.check(1, [3; 32], 7, &[2; 32], None).await.is_err());
        assert_eq!(chain.asked.load(Relaxed), 1);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(gate.check(1, [3; 32], 7, &[2; 32], None).await.is_err());
        assert_eq!(chain.asked.load(Relaxed), 2, "asked again once expired");
        for who in 10..30u8 {
            let _ = gate.check(1, [who; 32], 7, &[2; 32], None).await;
            assert!(gate.cached_answers() <= 4);
        }
    }

    #[tokio::test]
    async fn a_chain_failure_is_unavailable_and_not_kept() {
        let gate = ReceiverGate::new(Arc::new(NoChain));
        let e = gate.check(1, [1; 32], 7, &[2; 32], None).await.unwrap_err();
        assert!(matches!(e, Denied::Unavailable { .. }), "{e}");
        assert_eq!(gate.cached_answers(), 0);
    }
}
