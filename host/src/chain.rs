//! The chain as the daemon sees it: a trait, so tests can put a failing or
//! scripted chain behind the daemon, and its implementation over subxt.

use std::time::Duration;

use masp_chain::{
    api::{
        self,
        runtime_types::{
            bounded_collections::bounded_vec::BoundedVec,
            pallet_storage_market::types::ContractState,
            pallet_storage_proofs::pallet::StorageProof,
        },
    },
    AccountId32, ChainError, Client, Keypair,
};
use masp_primitives::market::ContractId;
use masp_proofs::Hash;

/// A contract of this host, as the chain has it now.
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

/// What the daemon asks of the chain.
#[allow(async_fn_in_trait)]
pub trait ChainApi: Send + Sync + 'static {
    /// The best block number.
    async fn best_block(&self) -> Result<u32, ChainError>;
    /// The market's epoch now.
    async fn current_epoch(&self) -> Result<u32, ChainError>;
    /// Every live contract of this host.
    async fn host_contracts(&self) -> Result<Vec<ChainContract>, ChainError>;
    /// Tells the chain this host holds the data of `id`.
    async fn confirm_stored(&self, id: ContractId) -> Result<(), ChainError>;
    /// Whether contract `id` still exists on chain (asked before a contract
    /// missing from [`ChainApi::host_contracts`] is taken as ended: that list
    /// is capped, absence from it alone never deletes data).
    async fn contract_exists(&self, id: ContractId) -> Result<bool, ChainError>;
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
}

/// The chain over subxt, signing as the host's account.
pub struct SubxtChain {
    url: String,
    client: tokio::sync::RwLock<Option<Client>>,
    signer: Keypair,
    /// How long to wait for a transaction to be included.
    pub tx_timeout: Duration,
}

/// Contracts asked for at once (the runtime API's `max`).
const MAX_CONTRACTS: u32 = 10_000;

impl SubxtChain {
    /// A chain client for the node at `url`, signing with `signer`. It
    /// connects on first use and again after the connection drops.
    pub fn new(url: &str, signer: Keypair) -> Self {
        Self {
            url: url.to_string(),
            client: tokio::sync::RwLock::new(None),
            signer,
            tx_timeout: Duration::from_secs(60),
        }
    }

    /// The host's account.
    pub fn account(&self) -> AccountId32 {
        masp_chain::account(&self.signer)
    }

    /// The connected client, connecting if needed.
    pub async fn client(&self) -> Result<Client, ChainError> {
        if let Some(c) = self.client.read().await.as_ref() {
            return Ok(c.clone());
        }
        let mut slot = self.client.write().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = masp_chain::connect(&self.url).await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Drops the connection after an error, so the next call reconnects
    /// (the node may have restarted).
    async fn on_error<T>(&self, r: Result<T, ChainError>) -> Result<T, ChainError> {
        if let Err(e) = &r {
            if !matches!(e, ChainError::Module { .. }) {
                *self.client.write().await = None;
            }
        }
        r
    }

    async fn try_best_block(&self) -> Result<u32, ChainError> {
        let c = self.client().await?;
        let at = c.at_current_block().await.map_err(sub)?;
        Ok(at.block_number() as u32)
    }

    async fn try_host_contracts(&self) -> Result<Vec<ChainContract>, ChainError> {
        let c = self.client().await?;
        let at = c.at_current_block().await.map_err(sub)?;
        let call = api::runtime_apis()
            .storage_market_api()
            .host_contracts(self.account(), MAX_CONTRACTS);
        let list = at.runtime_apis().call(call).await.map_err(sub)?;
        Ok(list
            .into_iter()
            .map(|(id, c)| ChainContract {
                id,
                sender: c.sender.0,
                size: c.size,
                root: c.merkle_root,
                leaf_count: c.leaf_count,
                active: matches!(c.state, ContractState::Active),
                upload_deadline: c.upload_deadline,
                first_epoch: c.first_epoch,
                last_epoch: c.last_epoch,
            })
            .collect())
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

fn sub(e: impl std::fmt::Display) -> ChainError {
    ChainError::Subxt(e.to_string())
}

impl ChainApi for SubxtChain {
    async fn best_block(&self) -> Result<u32, ChainError> {
        let r = self.try_best_block().await;
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

    async fn host_contracts(&self) -> Result<Vec<ChainContract>, ChainError> {
        let r = self.try_host_contracts().await;
        self.on_error(r).await
    }

    async fn confirm_stored(&self, id: ContractId) -> Result<(), ChainError> {
        self.submit(&api::tx().storage_market().confirm_stored(id))
            .await
            .map(|_| ())
    }

    async fn contract_exists(&self, id: ContractId) -> Result<bool, ChainError> {
        let r = async {
            let c = self.client().await?;
            let at = c.at_current_block().await.map_err(sub)?;
            let found = at
                .storage()
                .try_fetch(api::storage().storage_market().contracts(), (id,))
                .await
                .map_err(sub)?;
            Ok(found.is_some())
        }
        .await;
        self.on_error(r).await
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
}
