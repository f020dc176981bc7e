//! Egress: downloaders pay the host per byte served (`pallet-egress`,
//! format in [`masp_primitives::egress`]).
//!
//! While the host's price on chain (`EgressPrices`) is above zero, every
//! chunk download carries a *receipt* (`?receipt=`): the downloader's
//! signature of the cumulative bytes it asked this host for on its channel.
//! The payer is the ticket's signer (the Sender for its own download
//! tickets, the Receiver for its own). [`Egress::charge`] serves only while
//! the best receipt held covers everything served (this request included)
//! and the channel's allowance pays for it, and records the receipt and the
//! bytes served durably (one redb commit) before a byte is sent; a payer's
//! requests are charged one at a time, so two of them never pass on the
//! same headroom.
//!
//! The redeemer ([`Egress::run`]) redeems the best receipt of each channel
//! on chain every `redeem_interval_secs`, in batches of at most
//! [`MAX_BATCH`], and refreshes the host's price. Accounts of channels the
//! chain no longer has are dropped, so the ledger holds one entry per live
//! channel.
//!
//! The chain is behind a trait ([`EgressChain`]; [`crate::chain::SubxtChain`]
//! implements it over subxt). Its channels are kept a short while
//! ([`EgressLimits`]): a download of many chunks asks the chain once.

use std::{
    collections::HashMap,
    io,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use codec::{Decode, Encode};
use futures::{future::BoxFuture, StreamExt};
use http::StatusCode;
use masp_chain::ChainError;
use masp_primitives::egress::{cost, receipt_payload, Service, WireReceipt};
use subxt_signer::sr25519;
use tokio::sync::watch;

use prometheus::IntCounter;

use crate::{server::Refuse, store::StoreError};

/// The most receipts one `redeem` call takes (the runtime's `MaxReceipts`).
pub const MAX_BATCH: usize = 64;

/// A payer's channel with this host, as the chain has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelView {
    /// Its id (named in every receipt).
    pub id: u64,
    /// Planck per GiB, fixed when it opened.
    pub price: u128,
    /// What is still held for this host.
    pub held: u128,
    /// Cumulative bytes paid for already.
    pub bytes_paid: u64,
}

/// A receipt to redeem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Redemption {
    /// The payer (the channel's owner).
    pub payer: [u8; 32],
    /// Its channel.
    pub channel: u64,
    /// Cumulative bytes.
    pub bytes: u64,
    /// The payer's sr25519 signature of the receipt payload.
    pub signature: [u8; 64],
}

/// What the host asks of the chain about egress. Boxed futures, so the
/// daemon holds it as a trait object.
pub trait EgressChain: Send + Sync + 'static {
    /// This host's price per GiB served (0 when it has none).
    fn price(&self) -> BoxFuture<'_, Result<u128, ChainError>>;
    /// `payer`'s channel with this host, if open.
    fn channel(&self, payer: [u8; 32]) -> BoxFuture<'_, Result<Option<ChannelView>, ChainError>>;
    /// Redeems `receipts` (at most one per payer) in one call; fails as a
    /// whole if the chain refuses any.
    fn redeem(&self, receipts: Vec<Redemption>) -> BoxFuture<'_, Result<(), ChainError>>;
}

/// No chain (tools, tests that charge nothing): free, no channels.
pub struct NoEgress;

impl EgressChain for NoEgress {
    fn price(&self) -> BoxFuture<'_, Result<u128, ChainError>> {
        Box::pin(async { Ok(0) })
    }

    fn channel(&self, _: [u8; 32]) -> BoxFuture<'_, Result<Option<ChannelView>, ChainError>> {
        Box::pin(async { Ok(None) })
    }

    fn redeem(&self, _: Vec<Redemption>) -> BoxFuture<'_, Result<(), ChainError>> {
        Box::pin(async { Err(ChainError::Subxt("this host has no chain to ask".into())) })
    }
}

/// What the host holds of one payer's channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Account {
    /// The channel.
    pub channel: u64,
    /// Bytes served on it (what receipts must cover).
    pub served: u64,
    /// The best receipt's cumulative bytes.
    pub best: u64,
    /// Its signature (zeros while `best` is only what the chain paid).
    pub signature: [u8; 64],
    /// Bytes the chain has paid for (redeemed).
    pub redeemed: u64,
}

/// Where the accounts are kept across restarts (the daemon's redb index:
/// [`crate::store::DiskStore`]).
pub trait EgressLog: Send + Sync + 'static {
    /// Every account recorded.
    fn load_egress(&self) -> Result<Vec<([u8; 32], Account)>, StoreError>;
    /// Writes (or replaces) `put` and removes `gone`, in one durable commit.
    fn save_egress(&self, put: &[([u8; 32], Account)], gone: &[[u8; 32]])
        -> Result<(), StoreError>;
}

/// Accounts in memory only (tools, tests).
#[derive(Default)]
pub struct MemEgressLog(Mutex<HashMap<[u8; 32], Account>>);

impl EgressLog for MemEgressLog {
    fn load_egress(&self) -> Result<Vec<([u8; 32], Account)>, StoreError> {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Ok(m.iter().map(|(k, v)| (*k, *v)).collect())
    }

    fn save_egress(
        &self,
        put: &[([u8; 32], Account)],
        gone: &[[u8; 32]],
    ) -> Result<(), StoreError> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for k in gone {
            m.remove(k);
        }
        for (k, v) in put {
            m.insert(*k, *v);
        }
        Ok(())
    }
}

/// How long the chain's answers are kept, and how many.
#[derive(Clone, Debug)]
pub struct EgressLimits {
    /// An open channel (a top-up or a redemption since is seen after this
    /// at the latest; a refusal for the allowance forgets it at once).
    pub channel_for: Duration,
    /// No channel (a payer that just opened one is not kept waiting).
    pub missing_for: Duration,
    /// Channels kept at most.
    pub max_cached: usize,
    /// Payers the ledger holds at most (each has a live channel on chain,
    /// which cost it the chain's minimum allowance).
    pub max_payers: usize,
    /// How long a chain question may take.
    pub chain_timeout: Duration,
}

impl Default for EgressLimits {
    fn default() -> Self {
        Self {
            channel_for: Duration::from_secs(10),
            missing_for: Duration::from_secs(2),
            max_cached: 1 << 16,
            max_payers: 1 << 20,
            chain_timeout: Duration::from_secs(10),
        }
    }
}

/// A channel as the chain answered (`None`: no channel), and when.
type Kept = (Instant, Option<ChannelView>);

/// Locks serializing the charges of one payer (striped: bounded).
const STRIPES: usize = 64;

/// A charge made for a request (given back with [`Egress::refund`] if its
/// bytes cannot be served after all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Charge {
    /// The payer.
    pub payer: [u8; 32],
    /// Its channel.
    pub channel: u64,
    /// Bytes charged.
    pub len: u64,
}

/// The host's egress: its price, the payers' accounts, the chain's
/// channels (kept a short while).
pub struct Egress {
    me: [u8; 32],
    service: Service,
    chain: Arc<dyn EgressChain>,
    log: Arc<dyn EgressLog>,
    price: Mutex<u128>,
    accounts: Mutex<HashMap<[u8; 32], Account>>,
    channels: Mutex<HashMap<[u8; 32], Kept>>,
    stripes: Vec<tokio::sync::Mutex<()>>,
    limits: EgressLimits,
}

fn payment_required(reason: impl Into<String>) -> Refuse {
    Refuse(StatusCode::PAYMENT_REQUIRED, reason.into())
}

fn account_hex(a: &[u8; 32]) -> String {
    format!("0x{}", hex::encode(a))
}

impl Egress {
    /// The egress of host `me` (its account's 32 bytes) charging `price`
    /// until the chain says otherwise, with the accounts kept in `log`.
    pub fn open(
        me: [u8; 32],
        chain: Arc<dyn EgressChain>,
        log: Arc<dyn EgressLog>,
        price: u128,
        limits: EgressLimits,
    ) -> Result<Self, StoreError> {
        let accounts = log.load_egress()?.into_iter().collect();
        Ok(Self {
            me,
            service: Service::Egress,
            chain,
            log,
            price: Mutex::new(price),
            accounts: Mutex::new(accounts),
            channels: Mutex::default(),
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            limits,
        })
    }

    /// The same ledger for channels of `service` (a proxy's: [`Service::Relay`]):
    /// receipts are checked under that service's context and the chain's
    /// channels of that service are asked.
    pub fn for_service(mut self, service: Service) -> Self {
        self.service = service;
        self
    }

    /// The service its channels pay for.
    pub fn service(&self) -> Service {
        self.service
    }

    /// A host that charges nothing and has no chain to ask (tools, tests).
    pub fn free() -> Self {
        Self::open(
            [0; 32],
            Arc::new(NoEgress),
            Arc::new(MemEgressLog::default()),
            0,
            EgressLimits::default(),
        )
        .expect("an in-memory log loads")
    }

    /// The price charged now (planck per GiB; 0: free).
    pub fn price(&self) -> u128 {
        *self.price.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the price charged (the chain's value for this host).
    pub fn set_price(&self, price: u128) {
        *self.price.lock().unwrap_or_else(|e| e.into_inner()) = price;
    }

    /// What the host holds of `payer`'s channel.
    pub fn account(&self, payer: &[u8; 32]) -> Option<Account> {
        let m = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        m.get(payer).copied()
    }

    /// Payers with an account.
    pub fn payers(&self) -> usize {
        self.accounts.lock().map(|m| m.len()).unwrap_or(0)
    }

    fn stripe(&self, payer: &[u8; 32]) -> &tokio::sync::Mutex<()> {
        let i = u16::from_le_bytes([payer[0], payer[1]]) as usize % STRIPES;
        &self.stripes[i]
    }

    /// `payer`'s channel: the kept answer if younger than `max_age` (and
    /// than the limits), else the chain's.
    async fn channel(
        &self,
        payer: [u8; 32],
        max_age: Duration,
    ) -> Result<Option<ChannelView>, ChainError> {
        {
            let m = self.channels.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, c)) = m.get(&payer) {
                if at.elapsed() < max_age.min(self.ttl(c)) {
                    return Ok(*c);
                }
            }
        }
        let c = tokio::time::timeout(self.limits.chain_timeout, self.chain.channel(payer))
            .await
            .map_err(|_| ChainError::Timeout(self.limits.chain_timeout, "an egress channel"))??;
        self.keep(payer, c);
        Ok(c)
    }

    fn ttl(&self, c: &Option<ChannelView>) -> Duration {
        if c.is_some() {
            self.limits.channel_for
        } else {
            self.limits.missing_for
        }
    }

    fn keep(&self, payer: [u8; 32], c: Option<ChannelView>) {
        let mut m = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= self.limits.max_cached && !m.contains_key(&payer) {
            let (live, missing) = (self.limits.channel_for, self.limits.missing_for);
            m.retain(|_, (at, c)| at.elapsed() < if c.is_some() { live } else { missing });
            if m.len() >= self.limits.max_cached {
                m.clear();
            }
        }
        m.insert(payer, (Instant::now(), c));
    }

    fn forget_channel(&self, payer: &[u8; 32]) {
        let mut m = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        m.remove(payer);
    }

    /// Records `acc` (or removes the account) durably, then in memory. The
    /// caller holds the payer's stripe.
    async fn persist(&self, payer: [u8; 32], acc: Option<Account>) -> Result<(), StoreError> {
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || match acc {
            Some(a) => log.save_egress(&[(payer, a)], &[]),
            None => log.save_egress(&[], &[payer]),
        })
        .await
        .unwrap_or_else(|e| Err(StoreError::Io(io::Error::other(e.to_string()))))?;
        let mut m = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        match acc {
            Some(a) => m.insert(payer, a),
            None => m.remove(&payer),
        };
        Ok(())
    }

    /// Charges `payer` (the ticket's signer) for `len` bytes about to be
    /// served against the receipt `wire` (hex), for the chain whose genesis
    /// hash is `genesis`. `Ok(None)`: the host charges nothing. The
    /// receipt and the bytes served are recorded durably before it
    /// returns; one payer's charges are made one at a time.
    pub async fn charge(
        &self,
        genesis: Option<[u8; 32]>,
        payer: [u8; 32],
        wire: Option<&str>,
        len: u64,
    ) -> Result<Option<Charge>, Refuse> {
        let price = self.price();
        if price == 0 {
            return Ok(None);
        }
        let Some(wire) = wire else {
            return Err(payment_required(format!(
                "a receipt is required: this host charges {price} planck per GiB served \
                 (?receipt=; GET /v1/egress/{} says what it must cover)",
                account_hex(&payer)
            )));
        };
        let (r, ch) = self.verify(genesis, payer, wire).await?;
        let _one_at_a_time = self.stripe(&payer).lock().await;
        let acc = self.account_for(payer, &ch)?;
        let need = acc.served.saturating_add(len);
        let best = acc.best.max(r.bytes);
        if best < need {
            return Err(payment_required(format!(
                "the receipt must cover at least {need} bytes ({} served on channel {} so far, \
                 {len} now; it covers {})",
                acc.served, ch.id, r.bytes
            )));
        }
        let ch = self.afford(payer, ch, best).await?;
        let mut next = acc;
        next.served = need;
        if r.bytes > acc.best {
            next.best = r.bytes;
            next.signature = r.signature;
        }
        self.persist(payer, Some(next)).await?;
        Ok(Some(Charge {
            payer,
            channel: ch.id,
            len,
        }))
    }

    /// Takes a receipt that arrives on its own rather than with a request
    /// (a proxy's relay receipts, sent as the bytes flow): checked as in
    /// [`Self::charge`] (signed by `payer` under this ledger's service for
    /// this payee and chain, naming the payer's open channel, paid for by
    /// its allowance) and recorded durably with `served`, the bytes carried
    /// for the payer so far, before it returns. The account after.
    pub async fn accept(
        &self,
        genesis: Option<[u8; 32]>,
        payer: [u8; 32],
        wire: &str,
        served: u64,
    ) -> Result<Account, Refuse> {
        let (r, ch) = self.verify(genesis, payer, wire).await?;
        let _one_at_a_time = self.stripe(&payer).lock().await;
        let acc = self.account_for(payer, &ch)?;
        let best = acc.best.max(r.bytes);
        self.afford(payer, ch, best).await?;
        let mut next = acc;
        next.served = acc.served.max(served);
        if r.bytes > acc.best {
            next.best = r.bytes;
            next.signature = r.signature;
        }
        self.persist(payer, Some(next)).await?;
        Ok(next)
    }

    /// `payer`'s open channel with this payee, as the chain has it (kept a
    /// short while), or why there is none.
    pub async fn open_channel(&self, payer: [u8; 32]) -> Result<ChannelView, Refuse> {
        match self.channel(payer, self.limits.channel_for).await {
            Ok(Some(c)) => Ok(c),
            Ok(None) => {
                self.forget_channel(&payer);
                Err(payment_required(format!(
                    "no {} channel with this {}: open one",
                    self.noun(),
                    self.payee()
                )))
            }
            Err(e) => Err(Refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "cannot ask the chain about the {} channel now: {e}",
                    self.noun()
                ),
            )),
        }
    }

    fn noun(&self) -> &'static str {
        match self.service {
            Service::Egress => "egress",
            Service::Relay => "relay",
        }
    }

    fn payee(&self) -> &'static str {
        match self.service {
            Service::Egress => "host",
            Service::Relay => "proxy",
        }
    }

    /// Parses `wire`, checks its signature and that it names `payer`'s open
    /// channel.
    async fn verify(
        &self,
        genesis: Option<[u8; 32]>,
        payer: [u8; 32],
        wire: &str,
    ) -> Result<(WireReceipt, ChannelView), Refuse> {
        let Some(r) = hex::decode(wire.strip_prefix("0x").unwrap_or(wire))
            .ok()
            .and_then(|b| WireReceipt::from_bytes(&b))
        else {
            return Err(Refuse(
                StatusCode::BAD_REQUEST,
                format!(
                    "malformed receipt: expected {} hex digits (channel, bytes, signature)",
                    2 * WireReceipt::LEN
                ),
            ));
        };
        let Some(genesis) = genesis else {
            return Err(Refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("this {} does not know its chain yet", self.payee()),
            ));
        };
        let payload = receipt_payload(&genesis, self.service, r.channel, &self.me, r.bytes);
        if !sr25519::verify(
            &sr25519::Signature(r.signature),
            payload,
            &sr25519::PublicKey(payer),
        ) {
            let signer = match self.service {
                Service::Egress => "the ticket's signer",
                Service::Relay => "the payer",
            };
            return Err(Refuse(
                StatusCode::UNAUTHORIZED,
                format!(
                    "the receipt is not signed by {signer} for this chain, {} and channel",
                    self.payee()
                ),
            ));
        }
        let ch = self.open_channel(payer).await?;
        if ch.id != r.channel {
            self.forget_channel(&payer);
            return Err(payment_required(format!(
                "no {} channel {} with this {}: open one (the open channel is {})",
                self.noun(),
                r.channel,
                self.payee(),
                ch.id
            )));
        }
        Ok((r, ch))
    }

    /// What is held of `payer`'s channel `ch` (a fresh account if none or
    /// an older channel's). The caller holds the payer's stripe.
    fn account_for(&self, payer: [u8; 32], ch: &ChannelView) -> Result<Account, Refuse> {
        let stored = self.account(&payer);
        if stored.is_none() && self.payers() >= self.limits.max_payers {
            return Err(Refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "this {} holds accounts of too many payers now; try later",
                    self.payee()
                ),
            ));
        }
        Ok(stored.filter(|a| a.channel == ch.id).unwrap_or(Account {
            channel: ch.id,
            served: ch.bytes_paid,
            best: ch.bytes_paid,
            signature: [0; 64],
            redeemed: ch.bytes_paid,
        }))
    }

    /// `ch` (asked again if the kept view is short) if its allowance pays
    /// for `best` bytes; else 402.
    async fn afford(
        &self,
        payer: [u8; 32],
        ch: ChannelView,
        best: u64,
    ) -> Result<ChannelView, Refuse> {
        let due = |ch: &ChannelView| {
            cost(best, ch.price)
                .unwrap_or(u128::MAX)
                .saturating_sub(cost(ch.bytes_paid, ch.price).unwrap_or(0))
        };
        let mut ch = ch;
        if due(&ch) > ch.held {
            // The kept view may predate a top-up the payer just made: ask
            // the chain once more before refusing.
            self.forget_channel(&payer);
            if let Ok(Some(fresh)) = self.channel(payer, Duration::ZERO).await {
                if fresh.id == ch.id {
                    ch = fresh;
                }
            }
        }
        let due = due(&ch);
        if due > ch.held {
            self.forget_channel(&payer);
            return Err(payment_required(format!(
                "{} allowance exhausted: top up (the channel holds {} planck; {best} bytes \
                 cost {due} more than was paid)",
                self.noun(),
                ch.held
            )));
        }
        Ok(ch)
    }

    /// Gives back a charge whose bytes were not served (a disk error).
    pub async fn refund(&self, c: &Charge) {
        let _one_at_a_time = self.stripe(&c.payer).lock().await;
        if let Some(mut a) = self.account(&c.payer).filter(|a| a.channel == c.channel) {
            a.served = a.served.saturating_sub(c.len);
            if let Err(e) = self.persist(c.payer, Some(a)).await {
                tracing::warn!(error = %e, "cannot give back an egress charge");
            }
        }
    }

    /// `GET /v1/egress/{payer}`: the price, `payer`'s channel with this
    /// host, the bytes served on it and those the chain paid for.
    pub async fn status(&self, payer: [u8; 32]) -> serde_json::Value {
        let ch = self
            .channel(payer, Duration::from_secs(1))
            .await
            .ok()
            .flatten();
        let (channel, served, redeemed) = match (ch, self.account(&payer)) {
            (Some(c), Some(a)) if a.channel == c.id => (
                Some(c.id),
                a.served.max(c.bytes_paid),
                a.redeemed.max(c.bytes_paid),
            ),
            (Some(c), _) => (Some(c.id), c.bytes_paid, c.bytes_paid),
            (None, Some(a)) => (Some(a.channel), a.served, a.redeemed),
            (None, None) => (None, 0, 0),
        };
        serde_json::json!({
            "price": self.price().to_string(),
            "channel": channel,
            "served": served,
            "redeemed": redeemed,
        })
    }

    /// Redeems every receipt the chain has not paid for yet; the receipts
    /// redeemed. Also refreshes the price, and drops the accounts of
    /// channels the chain no longer has.
    pub async fn redeem_once(&self, redeemed_planck: &IntCounter) -> usize {
        match tokio::time::timeout(self.limits.chain_timeout, self.chain.price()).await {
            Ok(Ok(p)) => {
                if p != self.price() {
                    tracing::info!(price = %p, "egress price (planck per GiB served) from the chain");
                    self.set_price(p);
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot read this host's egress price"),
            Err(_) => tracing::warn!("reading this host's egress price timed out"),
        }
        let held: Vec<([u8; 32], Account)> = {
            let m = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
            m.iter().map(|(k, v)| (*k, *v)).collect()
        };
        let looked: Vec<_> =
            futures::stream::iter(held)
                .map(|(payer, acc)| async move {
                    (payer, acc, self.channel(payer, Duration::ZERO).await)
                })
                .buffer_unordered(16)
                .collect()
                .await;
        let mut due = Vec::new();
        for (payer, acc, found) in looked {
            match found {
                Err(e) => {
                    tracing::debug!(error = %e, "cannot read an egress channel; later");
                }
                Ok(None) => {
                    self.drop_account(payer, acc.channel, "the channel is gone")
                        .await
                }
                Ok(Some(c)) if c.id != acc.channel => {
                    self.drop_account(payer, acc.channel, "another channel is open")
                        .await
                }
                Ok(Some(c)) if acc.best > c.bytes_paid => {
                    let r = Redemption {
                        payer,
                        channel: acc.channel,
                        bytes: acc.best,
                        signature: acc.signature,
                    };
                    due.push((r, c));
                }
                Ok(Some(c)) => self.mark_redeemed(payer, c.id, c.bytes_paid).await,
            }
        }
        let mut redeemed = 0;
        for batch in due.chunks(MAX_BATCH) {
            let receipts: Vec<Redemption> = batch.iter().map(|(r, _)| *r).collect();
            match self.chain.redeem(receipts).await {
                Ok(()) => {
                    for (r, c) in batch {
                        self.redeemed(r, c, redeemed_planck).await;
                        redeemed += 1;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, receipts = batch.len(), "redeeming a batch failed; one at a time");
                    for (r, c) in batch {
                        match self.chain.redeem(vec![*r]).await {
                            Ok(()) => {
                                self.redeemed(r, c, redeemed_planck).await;
                                redeemed += 1;
                            }
                            Err(e) => match e.module_error() {
                                Some("WrongChannel" | "UnknownChannel") => {
                                    self.drop_account(r.payer, r.channel, "the chain refuses it")
                                        .await
                                }
                                Some("NothingNew") => {
                                    self.mark_redeemed(r.payer, r.channel, r.bytes).await
                                }
                                _ => tracing::warn!(
                                    error = %e,
                                    payer = %account_hex(&r.payer),
                                    "cannot redeem an egress receipt; retrying later"
                                ),
                            },
                        }
                    }
                }
            }
        }
        redeemed
    }

    async fn redeemed(&self, r: &Redemption, c: &ChannelView, redeemed_planck: &IntCounter) {
        let due = cost(r.bytes, c.price)
            .unwrap_or(u128::MAX)
            .saturating_sub(cost(c.bytes_paid, c.price).unwrap_or(0));
        let amount = due.min(c.held);
        redeemed_planck.inc_by(u64::try_from(amount).unwrap_or(u64::MAX));
        tracing::info!(
            payer = %account_hex(&r.payer),
            channel = r.channel,
            bytes = r.bytes,
            planck = %amount,
            "egress receipt redeemed"
        );
        self.forget_channel(&r.payer);
        self.mark_redeemed(r.payer, r.channel, r.bytes).await;
    }

    async fn mark_redeemed(&self, payer: [u8; 32], channel: u64, bytes: u64) {
        let _one_at_a_time = self.stripe(&payer).lock().await;
        if let Some(mut a) = self.account(&payer).filter(|a| a.channel == channel) {
            if a.redeemed < bytes {
                a.redeemed = bytes;
                if let Err(e) = self.persist(payer, Some(a)).await {
                    tracing::warn!(error = %e, "cannot record an egress redemption");
                }
            }
        }
    }

    async fn drop_account(&self, payer: [u8; 32], channel: u64, why: &str) {
        let _one_at_a_time = self.stripe(&payer).lock().await;
        let Some(a) = self.account(&payer).filter(|a| a.channel == channel) else {
            return;
        };
        if a.best > a.redeemed {
            tracing::warn!(payer = %account_hex(&payer), channel, bytes = a.best, redeemed = a.redeemed, why, "dropping an egress receipt the chain will not pay");
        } else {
            tracing::debug!(payer = %account_hex(&payer), channel, why, "egress account dropped");
        }
        if let Err(e) = self.persist(payer, None).await {
            tracing::warn!(error = %e, "cannot drop an egress account");
        }
    }

    /// Redeems every `every` until `stop` turns true.
    pub async fn run(
        self: Arc<Self>,
        redeemed_planck: IntCounter,
        every: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            self.redeem_once(&redeemed_planck).await;
        }
    }
}
