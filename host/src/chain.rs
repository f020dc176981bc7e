//! The chain as the daemon sees it: a trait, so tests can put a failing or
//! scripted chain behind the daemon, and its implementation over subxt.
//!
//! The daemon follows *finalized* blocks only: it reads the host's
//! contracts at a finalized block's hash (the whole `HostContracts` prefix
//! of this host, fetched page by page, no cap), and from then on the
//! market's contract events of each newly finalized block tell it which
//! contracts to read again.

use std::time::Duration;

use masp_chain::api::runtime_types::masp_primitives::egress::Service as ChainService;
use masp_chain::{
    api::{
        self,
        runtime_types::{
            bounded_collections::bounded_vec::BoundedVec,
            pallet_storage_market::types::{Contract, ContractState},
            pallet_storage_proofs::pallet::StorageProof,
        },
    },
    subxt::{backend::BlockRef, client::OnlineClientAtBlock, utils::H256},
    AccountId32, ChainError, Client, Keypair, MaspConfig, Rpc,
};
use masp_primitives::market::ContractId;
use masp_proofs::Hash;

use crate::listings::{ListingAccess, ListingId, ListingView};

/// A contract of this host, as the chain has it at some block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainContract {
    /// Its id.
    pub id: ContractId,
    /// Its Sender.
    pub sender: [u8; 32],
    /// Bytes of ciphertext.
    pub size: u64,
    /// Merkle root.
    pub root: Hash,
    /// Leaves.
    pub leaf_count: u64,
    /// Whether it is active (confirmed).
    pub active: bool,
    /// Block by which an upload must be confirmed.
    pub upload_deadline: u32,
    /// First epoch of the term.
    pub first_epoch: u32,
    /// Last epoch of the term.
    pub last_epoch: u32,
}

/// A block: its number and hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct BlockId {
    /// Its number.
    pub number: u32,
    /// Its hash.
    pub hash: [u8; 32],
}

/// What the node says of its view of the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Its latest finalized block.
    pub finalized: BlockId,
    /// Whether it says it is still syncing (its view may be incomplete).
    pub syncing: bool,
}

/// A market event about a contract, in some block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContractEvent {
    /// `ContractCreated` naming this host.
    Created(ContractId),
    /// `ContractConfirmed` naming this host.
    Confirmed(ContractId),
    /// `ContractEnded` (the event does not name the host: any contract).
    Ended(ContractId),
}

/// A retrieval challenge this host must answer (the retrieval pallet):
/// leaves `first_leaf..first_leaf + leaves` of `contract`, on chain by block
/// `deadline`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retrieval {
    /// The challenge's id.
    pub id: u64,
    /// The storage contract.
    pub contract: ContractId,
    /// The piece's first leaf.
    pub first_leaf: u64,
    /// Leaves in the piece.
    pub leaves: u32,
    /// The last block an answer is accepted in.
    pub deadline: u32,
}

/// What the daemon asks of the chain.
#[allow(async_fn_in_trait)]
pub trait ChainApi: Send + Sync + 'static {
    /// The node's latest finalized block, and whether it is syncing.
    async fn head(&self) -> Result<Head, ChainError>;
    /// The node's canonical block `number` (`None` if it has none: it is
    /// behind, or on another chain).
    async fn block(&self, number: u32) -> Result<Option<BlockId>, ChainError>;
    /// The market's contract events in `block`.
    async fn contract_events(&self, block: BlockId) -> Result<Vec<ContractEvent>, ChainError>;
    /// Contract `id` as the chain has it at `block`, if it exists there and
    /// is this host's.
    async fn contract_at(
        &self,
        id: ContractId,
        block: BlockId,
    ) -> Result<Option<ChainContract>, ChainError>;
    /// Every contract of this host at `block`, however many (read page by
    /// page, never capped).
    async fn host_contracts_at(&self, block: BlockId) -> Result<Vec<ChainContract>, ChainError>;
    /// The market's epoch now.
    async fn current_epoch(&self) -> Result<u32, ChainError>;
    /// Tells the chain this host holds the data of `id`.
    async fn confirm_stored(&self, id: ContractId) -> Result<(), ChainError>;
    /// The challenge seed of `epoch`, once the chain has drawn it: the daemon
    /// derives each contract's leaf from it with
    /// [`masp_proofs::challenge_index`], one read per epoch for all contracts.
    async fn epoch_seed(&self, epoch: u32) -> Result<Option<Hash>, ChainError>;
    /// Whether `epoch` of `id` is already proven on chain.
    async fn proven(&self, id: ContractId, epoch: u32) -> Result<bool, ChainError>;
    /// Submits proofs (leaf, path) for the current epoch in one call.
    async fn submit_proofs(
        &self,
        proofs: Vec<(ContractId, Vec<u8>, Vec<Hash>)>,
    ) -> Result<(), ChainError>;
    /// The retrieval challenges open on this host's contracts whose
    /// deadline has not passed, at the latest block the node has (they must
    /// be answered quickly, not once final).
    async fn open_retrievals(&self) -> Result<Vec<Retrieval>, ChainError> {
        Ok(Vec::new())
    }
    /// Answers retrieval challenge `id` with the piece's bytes and path.
    async fn answer_retrieval(
        &self,
        id: u64,
        piece: Vec<u8>,
        path: Vec<Hash>,
    ) -> Result<(), ChainError> {
        let _ = (id, piece, path);
        Err(ChainError::Subxt(
            "this chain cannot answer retrieval challenges".into(),
        ))
    }
}

/// The chain over subxt, signing as the host's account.
pub struct SubxtChain {
    url: String,
    conn: tokio::sync::RwLock<Option<(Client, Rpc)>>,
    signer: Keypair,
    /// How long to wait for a transaction to be included.
    pub tx_timeout: Duration,
}

/// Contract reads in flight at once while listing the host's contracts.
const READS_IN_FLIGHT: usize = 16;

impl SubxtChain {
    /// A chain client for the node at `url`, signing with `signer`. It
    /// connects on first use and again after the connection drops.
    pub fn new(url: &str, signer: Keypair) -> Self {
        Self {
            url: url.to_string(),
            conn: tokio::sync::RwLock::new(None),
            signer,
            tx_timeout: Duration::from_secs(60),
        }
    }

    /// The host's account.
    pub fn account(&self) -> AccountId32 {
        masp_chain::account(&self.signer)
    }

    async fn conn(&self) -> Result<(Client, Rpc), ChainError> {
        if let Some(c) = self.conn.read().await.as_ref() {
            return Ok(c.clone());
        }
        let mut slot = self.conn.write().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = masp_chain::connect_with_rpc(&self.url).await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// The connected client, connecting if needed.
    pub async fn client(&self) -> Result<Client, ChainError> {
        Ok(self.conn().await?.0)
    }

    async fn rpc(&self) -> Result<Rpc, ChainError> {
        Ok(self.conn().await?.1)
    }

    /// Drops the connection after an error, so the next call reconnects
    /// (the node may have restarted).
    async fn on_error<T>(&self, r: Result<T, ChainError>) -> Result<T, ChainError> {
        if let Err(e) = &r {
            if !matches!(e, ChainError::Module { .. }) {
                *self.conn.write().await = None;
            }
        }
        r
    }

    /// The client at `block` (its number saves the node a header read).
    async fn at(&self, block: BlockId) -> Result<OnlineClientAtBlock<MaspConfig>, ChainError> {
        let c = self.client().await?;
        c.at_block_hash_and_number(
            BlockRef::from_hash(H256(block.hash)),
            u64::from(block.number),
        )
        .await
        .map_err(sub)
    }

    async fn try_head(&self) -> Result<Head, ChainError> {
        let rpc = self.rpc().await?;
        let hash = rpc.chain_get_finalized_head().await.map_err(sub)?;
        let header = rpc
            .chain_get_header(Some(hash))
            .await
            .map_err(sub)?
            .ok_or_else(|| ChainError::Subxt("the finalized head has no header".into()))?;
        let health = rpc.system_health().await.map_err(sub)?;
        Ok(Head {
            finalized: BlockId {
                number: u32::try_from(header.number).map_err(sub)?,
                hash: hash.0,
            },
            syncing: health.is_syncing,
        })
    }

    async fn try_block(&self, number: u32) -> Result<Option<BlockId>, ChainError> {
        let rpc = self.rpc().await?;
        let hash = rpc
            .chain_get_block_hash(Some(u64::from(number).into()))
            .await
            .map_err(sub)?;
        Ok(hash.map(|h| BlockId { number, hash: h.0 }))
    }

    async fn try_contract_events(&self, block: BlockId) -> Result<Vec<ContractEvent>, ChainError> {
        use api::storage_market::events::{ContractConfirmed, ContractCreated, ContractEnded};
        let at = self.at(block).await?;
        let events = at.events().fetch().await.map_err(sub)?;
        let me = self.account();
        let mut out = Vec::new();
        for e in events.find::<ContractCreated>() {
            let e = e.map_err(sub)?;
            if e.host == me {
                out.push(ContractEvent::Created(e.contract));
            }
        }
        for e in events.find::<ContractConfirmed>() {
            let e = e.map_err(sub)?;
            if e.host == me {
                out.push(ContractEvent::Confirmed(e.contract));
            }
        }
        for e in events.find::<ContractEnded>() {
            out.push(ContractEvent::Ended(e.map_err(sub)?.contract));
        }
        Ok(out)
    }

    async fn try_contract_at(
        &self,
        id: ContractId,
        block: BlockId,
    ) -> Result<Option<ChainContract>, ChainError> {
        let at = self.at(block).await?;
        let found = at
            .storage()
            .try_fetch(api::storage().storage_market().contracts(), (id,))
            .await
            .map_err(sub)?;
        let me = self.account();
        match found {
            Some(v) => {
                let contract = v.decode().map_err(sub)?;
                Ok((contract.host == me).then(|| to_chain(id, contract)))
            }
            None => Ok(None),
        }
    }

    async fn try_host_contracts_at(
        &self,
        block: BlockId,
    ) -> Result<Vec<ChainContract>, ChainError> {
        use futures::{StreamExt, TryStreamExt};
        let at = self.at(block).await?;
        let me = self.account();
        // `HostContracts` is (Blake2_128Concat host, Twox64Concat id): the
        // id is the key's last 8 bytes. The node hands the keys out in pages.
        let mut ids = Vec::new();
        let mut keys = at
            .storage()
            .iter(api::storage().storage_market().host_contracts(), (me,))
            .await
            .map_err(sub)?;
        while let Some(kv) = keys.next().await {
            let kv = kv.map_err(sub)?;
            let key = kv.key_bytes();
            let tail: [u8; 8] = key
                .len()
                .checked_sub(8)
                .and_then(|s| key[s..].try_into().ok())
                .ok_or_else(|| ChainError::Subxt("short HostContracts key".into()))?;
            ids.push(ContractId::from_le_bytes(tail));
        }
        let at = &at;
        let me = &me;
        let found: Vec<Option<ChainContract>> = futures::stream::iter(ids)
            .map(|id| async move {
                let v = at
                    .storage()
                    .try_fetch(api::storage().storage_market().contracts(), (id,))
                    .await
                    .map_err(sub)?;
                match v {
                    Some(v) => {
                        let contract = v.decode().map_err(sub)?;
                        Ok::<_, ChainError>((contract.host == *me).then(|| to_chain(id, contract)))
                    }
                    None => Ok(None),
                }
            })
            .buffered(READS_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// Submits `call` signed by the host.
    pub async fn submit<Call: masp_chain::subxt::transactions::Payload>(
        &self,
        call: &Call,
    ) -> Result<masp_chain::Events, ChainError> {
        let c = self.client().await?;
        let r = masp_chain::submit(&c, call, &self.signer, self.tx_timeout).await;
        self.on_error(r).await
    }
}

impl SubxtChain {
    async fn try_listing(&self, id: ListingId) -> Result<Option<ListingView>, ChainError> {
        let c = self.client().await?;
        let at = c.at_current_block().await.map_err(sub)?;
        match at
            .storage()
            .try_fetch(api::storage().listings().listings(), (id,))
            .await
            .map_err(sub)?
        {
            Some(v) => {
                let l = v.decode().map_err(sub)?;
                Ok(Some(ListingView {
                    sender: l.sender.0,
                    contracts: l.contracts.0,
                    manifest: l.manifest,
                }))
            }
            None => Ok(None),
        }
    }

    async fn try_has_access(&self, id: ListingId, who: [u8; 32]) -> Result<bool, ChainError> {
        let c = self.client().await?;
        let at = c.at_current_block().await.map_err(sub)?;
        let call = api::runtime_apis()
            .listings_api()
            .has_access(id, AccountId32(who));
        at.runtime_apis().call(call).await.map_err(sub)
    }
}

/// Listings as the node has them at its latest finalized block (what the
/// daemon follows everywhere: a purchase counts once it is final, and a
/// fork cannot give access that the chain then takes back).
impl ListingAccess for SubxtChain {
    fn listing(
        &self,
        id: ListingId,
    ) -> futures::future::BoxFuture<'_, Result<Option<ListingView>, ChainError>> {
        Box::pin(async move {
            let r = self.try_listing(id).await;
            self.on_error(r).await
        })
    }

    fn has_access(
        &self,
        id: ListingId,
        who: [u8; 32],
    ) -> futures::future::BoxFuture<'_, Result<bool, ChainError>> {
        Box::pin(async move {
            let r = self.try_has_access(id, who).await;
            self.on_error(r).await
        })
    }
}

fn to_chain(id: ContractId, c: Contract<AccountId32, u32>) -> ChainContract {
    ChainContract {
        id,
        sender: c.sender.0,
        size: c.size,
        root: c.merkle_root,
        leaf_count: c.leaf_count,
        active: matches!(c.state, ContractState::Active),
        upload_deadline: c.upload_deadline,
        first_epoch: c.first_epoch,
        last_epoch: c.last_epoch,
    }
}

fn sub(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ChainError {
    ChainError::Subxt(e.into())
}

impl SubxtChain {
    /// This host's egress price on chain (`None`: it never set one).
    pub async fn egress_price(&self) -> Result<Option<u128>, ChainError> {
        let r = async {
            let c = self.client().await?;
            let at = c.at_current_block().await.map_err(sub)?;
            match at
                .storage()
                .try_fetch(api::storage().egress().egress_prices(), (self.account(),))
                .await
                .map_err(sub)?
            {
                Some(v) => Ok(Some(v.decode().map_err(sub)?)),
                None => Ok(None),
            }
        }
        .await;
        self.on_error(r).await
    }

    /// Whether this host is registered on chain.
    pub async fn registered(&self) -> Result<bool, ChainError> {
        let r = async {
            let c = self.client().await?;
            let at = c.at_current_block().await.map_err(sub)?;
            let call = api::runtime_apis()
                .storage_market_api()
                .host(self.account());
            Ok(at.runtime_apis().call(call).await.map_err(sub)?.is_some())
        }
        .await;
        self.on_error(r).await
    }

    /// Makes the chain's egress price of this (registered) host `price`
    /// (`set_egress_price`) unless it is already; the price on chain after.
    /// An unregistered host sets none (and charges nothing).
    pub async fn sync_egress_price(&self, price: u128) -> Result<u128, ChainError> {
        let on_chain = self.egress_price().await?;
        if on_chain.unwrap_or(0) == price && (on_chain.is_some() || price == 0) {
            return Ok(price);
        }
        if !self.registered().await? {
            tracing::warn!(
                %price,
                "this host is not registered: its egress price is not set (run `masp-host register`)"
            );
            return Ok(on_chain.unwrap_or(0));
        }
        self.submit(&api::tx().egress().set_egress_price(price))
            .await?;
        tracing::info!(%price, before = ?on_chain, "egress price set on chain (planck per GiB served)");
        Ok(price)
    }

    async fn try_egress_channel(
        &self,
        payer: [u8; 32],
        service: ChainService,
    ) -> Result<Option<crate::egress::ChannelView>, ChainError> {
        let c = self.client().await?;
        let at = c.at_current_block().await.map_err(sub)?;
        match at
            .storage()
            .try_fetch(
                api::storage().egress().channels(),
                (AccountId32(payer), self.account(), service),
            )
            .await
            .map_err(sub)?
        {
            Some(v) => {
                let ch = v.decode().map_err(sub)?;
                Ok(Some(crate::egress::ChannelView {
                    id: ch.id,
                    price: ch.price,
                    held: ch.held,
                    bytes_paid: ch.bytes_paid,
                }))
            }
            None => Ok(None),
        }
    }
}

/// Egress as the node has it at its latest finalized block (a channel a
/// downloader opened counts once final, as everywhere in the daemon).
impl crate::egress::EgressChain for SubxtChain {
    fn price(&self) -> futures::future::BoxFuture<'_, Result<u128, ChainError>> {
        Box::pin(async move { Ok(self.egress_price().await?.unwrap_or(0)) })
    }

    fn channel(
        &self,
        payer: [u8; 32],
    ) -> futures::future::BoxFuture<'_, Result<Option<crate::egress::ChannelView>, ChainError>>
    {
        Box::pin(async move {
            let r = self.try_egress_channel(payer, ChainService::Egress).await;
            self.on_error(r).await
        })
    }

    fn redeem(
        &self,
        receipts: Vec<crate::egress::Redemption>,
    ) -> futures::future::BoxFuture<'_, Result<(), ChainError>> {
        Box::pin(self.redeem_service(ChainService::Egress, receipts))
    }
}

impl SubxtChain {
    /// Redeems `receipts` of channels of `service` paying this account.
    async fn redeem_service(
        &self,
        service: ChainService,
        receipts: Vec<crate::egress::Redemption>,
    ) -> Result<(), ChainError> {
        use api::runtime_types::{pallet_egress::pallet::Receipt, sp_runtime::MultiSignature};
        let batch = receipts
            .into_iter()
            .map(|r| Receipt {
                payer: AccountId32(r.payer),
                channel: r.channel,
                bytes: r.bytes,
                signature: MultiSignature::Sr25519(r.signature),
            })
            .collect();
        self.submit(&api::tx().egress().redeem(service, BoundedVec(batch)))
            .await
            .map(|_| ())
    }

    /// This account's registration as a proxy, if any.
    pub async fn proxy_info(&self) -> Result<Option<ProxyInfo>, ChainError> {
        let r = async {
            let c = self.client().await?;
            let at = c.at_current_block().await.map_err(sub)?;
            let call = api::runtime_apis().proxies_api().proxy(self.account());
            let v = at.runtime_apis().call(call).await.map_err(sub)?;
            Ok(v.map(|p| ProxyInfo {
                endpoint: String::from_utf8_lossy(&p.endpoint).into_owned(),
                price_per_gib: p.price_per_gib,
                active: p.active,
            }))
        }
        .await;
        self.on_error(r).await
    }

    /// Registers this account as a proxy at `endpoint` relaying at `price`
    /// planck per GiB, or updates its registration; what the chain has after.
    pub async fn register_proxy(
        &self,
        endpoint: &str,
        price: u128,
    ) -> Result<ProxyInfo, ChainError> {
        let bytes = endpoint.as_bytes().to_vec();
        match self.proxy_info().await? {
            None => {
                self.submit(&api::tx().proxies().register(BoundedVec(bytes), price))
                    .await?;
            }
            Some(p) if p.endpoint != endpoint || p.price_per_gib != price => {
                self.submit(&api::tx().proxies().update(BoundedVec(bytes), price))
                    .await?;
            }
            Some(_) => {}
        }
        self.proxy_info()
            .await?
            .ok_or_else(|| ChainError::Subxt("the registration is not on chain after it".into()))
    }

    /// Every endpoint a proxy may relay to: each registered host's, and
    /// each active proxy's (the next hop of a two-hop route), read at the
    /// latest block.
    pub async fn relay_targets(&self) -> Result<Vec<String>, ChainError> {
        let r = async {
            let c = self.client().await?;
            let at = c.at_current_block().await.map_err(sub)?;
            let mut out = Vec::new();
            let mut hosts = at
                .storage()
                .iter(api::storage().storage_market().hosts(), ())
                .await
                .map_err(sub)?;
            while let Some(kv) = hosts.next().await {
                let host = kv.map_err(sub)?.value().decode().map_err(sub)?;
                out.push(String::from_utf8_lossy(&host.endpoint.0).into_owned());
            }
            let call = api::runtime_apis().proxies_api().proxies();
            for p in at.runtime_apis().call(call).await.map_err(sub)? {
                if p.active {
                    out.push(String::from_utf8_lossy(&p.endpoint).into_owned());
                }
            }
            Ok(out)
        }
        .await;
        self.on_error(r).await
    }
}

/// A proxy's registration, as the chain has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyInfo {
    /// Where Senders reach it.
    pub endpoint: String,
    /// Planck per GiB relayed.
    pub price_per_gib: u128,
    /// Whether it takes new sessions.
    pub active: bool,
}

/// The relay channels paying this account as a proxy
/// ([`crate::egress::EgressChain`] over [`SubxtChain`] for
/// [`masp_primitives::egress::Service::Relay`]): its price is its
/// registration's.
pub struct RelayChain(pub std::sync::Arc<SubxtChain>);

impl crate::egress::EgressChain for RelayChain {
    fn price(&self) -> futures::future::BoxFuture<'_, Result<u128, ChainError>> {
        Box::pin(async move {
            Ok(self
                .0
                .proxy_info()
                .await?
                .map(|p| p.price_per_gib)
                .unwrap_or(0))
        })
    }

    fn channel(
        &self,
        payer: [u8; 32],
    ) -> futures::future::BoxFuture<'_, Result<Option<crate::egress::ChannelView>, ChainError>>
    {
        Box::pin(async move {
            let r = self.0.try_egress_channel(payer, ChainService::Relay).await;
            self.0.on_error(r).await
        })
    }

    fn redeem(
        &self,
        receipts: Vec<crate::egress::Redemption>,
    ) -> futures::future::BoxFuture<'_, Result<(), ChainError>> {
        Box::pin(self.0.redeem_service(ChainService::Relay, receipts))
    }
}

impl ChainApi for SubxtChain {
    async fn head(&self) -> Result<Head, ChainError> {
        let r = self.try_head().await;
        self.on_error(r).await
    }

    async fn block(&self, number: u32) -> Result<Option<BlockId>, ChainError> {
        let r = self.try_block(number).await;
        self.on_error(r).await
    }

    async fn contract_events(&self, block: BlockId) -> Result<Vec<ContractEvent>, ChainError> {
        let r = self.try_contract_events(block).await;
        self.on_error(r).await
    }

    async fn contract_at(
        &self,
        id: ContractId,
        block: BlockId,
    ) -> Result<Option<ChainContract>, ChainError> {
        let r = self.try_contract_at(id, block).await;
        self.on_error(r).await
    }

    async fn host_contracts_at(&self, block: BlockId) -> Result<Vec<ChainContract>, ChainError> {
        let r = self.try_host_contracts_at(block).await;
        self.on_error(r).await
    }

    async fn current_epoch(&self) -> Result<u32, ChainError> {
        let r = async {
            let c = self.client().await?;
            let at = c.at_current_block().await.map_err(sub)?;
            let call = api::runtime_apis().storage_market_api().current_epoch();
            at.runtime_apis().call(call).await.map_err(sub)
        }
        .await;
        self.on_error(r).await
    }

    async fn confirm_stored(&self, id: ContractId) -> Result<(), ChainError> {
        self.submit(&api::tx().storage_market().confirm_stored(id))
            .await
            .map(|_| ())
    }

    async fn epoch_seed(&self, epoch: u32) -> Result<Option<Hash>, ChainError> {
        let r = async {
            let c = self.client().await?;
            let at = c.at_current_block().await.map_err(sub)?;
            match at
                .storage()
                .try_fetch(api::storage().storage_proofs().epoch_seeds(), (epoch,))
                .await
                .map_err(sub)?
            {
                Some(v) => Ok(Some(v.decode().map_err(sub)?)),
                None => Ok(None),
            }
        }
        .await;
        self.on_error(r).await
    }

    async fn proven(&self, id: ContractId, epoch: u32) -> Result<bool, ChainError> {
        let r = async {
            let c = self.client().await?;
            let at = c.at_current_block().await.map_err(sub)?;
            let call = api::runtime_apis().storage_proofs_api().record(id);
            let record = at.runtime_apis().call(call).await.map_err(sub)?;
            Ok(record.is_some_and(|r| {
                r.last_proven.is_some_and(|last| {
                    last >= epoch
                        && (last - epoch >= 32 || r.proven_bits & (1 << (last - epoch)) != 0)
                })
            }))
        }
        .await;
        self.on_error(r).await
    }

    async fn submit_proofs(
        &self,
        proofs: Vec<(ContractId, Vec<u8>, Vec<Hash>)>,
    ) -> Result<(), ChainError> {
        let batch = proofs
            .into_iter()
            .map(|(id, leaf, path)| {
                (
                    id,
                    StorageProof {
                        leaf: BoundedVec(leaf),
                        path: BoundedVec(path),
                    },
                )
            })
            .collect();
        self.submit(&api::tx().storage_proofs().submit_proofs(BoundedVec(batch)))
            .await
            .map(|_| ())
    }

    async fn open_retrievals(&self) -> Result<Vec<Retrieval>, ChainError> {
        let r = self.try_open_retrievals().await;
        self.on_error(r).await
    }

    async fn answer_retrieval(
        &self,
        id: u64,
        piece: Vec<u8>,
        path: Vec<Hash>,
    ) -> Result<(), ChainError> {
        self.submit(
            &api::tx()
                .retrieval()
                .answer(id, BoundedVec(piece), BoundedVec(path)),
        )
        .await
        .map(|_| ())
    }
}

impl SubxtChain {
    async fn try_open_retrievals(&self) -> Result<Vec<Retrieval>, ChainError> {
        let c = self.client().await?;
        let at = c.at_current_block().await.map_err(sub)?;
        let me = self.account();
        // `ByHost` is (Blake2_128Concat host, Twox64Concat id): the id is
        // the key's last 8 bytes.
        let mut ids = Vec::new();
        let mut keys = at
            .storage()
            .iter(api::storage().retrieval().by_host(), (me,))
            .await
            .map_err(sub)?;
        while let Some(kv) = keys.next().await {
            let kv = kv.map_err(sub)?;
            let key = kv.key_bytes();
            let tail: [u8; 8] = key
                .len()
                .checked_sub(8)
                .and_then(|s| key[s..].try_into().ok())
                .ok_or_else(|| ChainError::Subxt("short ByHost key".into()))?;
            ids.push(u64::from_le_bytes(tail));
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(v) = at
                .storage()
                .try_fetch(api::storage().retrieval().challenges(), (id,))
                .await
                .map_err(sub)?
            else {
                continue;
            };
            let c = v.decode().map_err(sub)?;
            // Too late to answer: an answer would only pay a fee.
            if u64::from(c.deadline) < at.block_number() {
                continue;
            }
            out.push(Retrieval {
                id,
                contract: c.contract,
                first_leaf: c.first_leaf,
                leaves: c.leaves,
                deadline: c.deadline,
            });
        }
        Ok(out)
    }
}
