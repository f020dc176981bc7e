//! # masp-chain
//!
//! How the `masp` CLI and the `masp-host` daemon talk to a MASP node: a
//! subxt [`OnlineClient`] over a jsonrpsee WebSocket connection, with the
//! calls, storage items, events and runtime APIs of *our* runtime generated
//! at compile time from `metadata.scale` (which a runtime test keeps equal to
//! the runtime's metadata), so a renamed call or a changed type is a compile
//! error here, not a failure at a customer's.
//!
//! - [`connect`]: a client for a node's `ws://` or `wss://` URL.
//! - [`submit`]: sign, submit and wait until the transaction is in a block,
//!   returning its events, or the pallet error by name.
//! - [`api`]: the generated interface (`api::tx()`, `api::storage()`,
//!   `api::runtime_apis()`, `api::<pallet>::events::*`).

use std::{sync::Arc, time::Duration};

use futures::{StreamExt, TryStreamExt};
use jsonrpsee::{
    core::{
        client::{ClientT, SubscriptionClientT, SubscriptionKind},
        traits::ToRpcParams,
    },
    types::SubscriptionId,
    ws_client::{WsClient, WsClientBuilder},
};
use serde_json::value::RawValue;
use subxt::{
    backend::LegacyBackend,
    rpcs::{client::RawRpcFuture, client::RawRpcSubscription, RpcClient, RpcClientT},
    transactions::{Payload, TransactionStatus},
};

pub use subxt::{self, utils::AccountId32, OnlineClient, PolkadotConfig};
pub use subxt_signer::sr25519::Keypair;

/// The metadata file, read here only so that cargo rebuilds this crate when
/// it changes (the `subxt` macro below reads it without telling cargo).
const _METADATA: &[u8] = include_bytes!("../metadata.scale");

/// The interface generated from our runtime's metadata.
#[subxt::subxt(
    runtime_metadata_path = "metadata.scale",
    derive_for_all_types = "Clone, PartialEq, Eq"
)]
pub mod api {}

/// The chain's configuration: 32-byte accounts, `MultiSignature`,
/// `u32` block numbers — the same as Polkadot's.
pub type MaspConfig = PolkadotConfig;

/// A connected client.
pub type Client = OnlineClient<MaspConfig>;

/// What can go wrong talking to the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// No connection could be made.
    #[error("cannot connect to the node at {url}: {reason}")]
    Connect {
        /// The node's URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The runtime refused the transaction with this pallet error.
    #[error("{pallet}.{error}: {docs}")]
    Module {
        /// Pallet name, e.g. `StorageMarket`.
        pallet: String,
        /// Error name, e.g. `UploadWindowClosed`.
        error: String,
        /// The error's doc comment.
        docs: String,
    },
    /// The transaction was not included (invalid, dropped, usurped).
    #[error("transaction not included: {0}")]
    NotIncluded(String),
    /// Anything else subxt reports (RPC, decoding, metadata), or an answer
    /// this client cannot use; the underlying error is kept as the source.
    #[error(transparent)]
    Subxt(Box<dyn std::error::Error + Send + Sync>),
    /// Timed out waiting.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, &'static str),
}

impl ChainError {
    /// The pallet error's name, if the runtime refused the transaction.
    pub fn module_error(&self) -> Option<&str> {
        match self {
            Self::Module { error, .. } => Some(error),
            _ => None,
        }
    }
}

fn subxt_err(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ChainError {
    ChainError::Subxt(e.into())
}

/// jsonrpsee's WebSocket client driving subxt (subxt's own jsonrpsee adapter
/// is behind a feature the node's build does not enable; this is the same
/// twenty lines, without re-building the node with it).
struct Ws(WsClient);

struct Params(Option<Box<RawValue>>);

impl ToRpcParams for Params {
    fn to_rpc_params(self) -> Result<Option<Box<RawValue>>, serde_json::Error> {
        Ok(self.0)
    }
}

fn rpc_err(e: jsonrpsee::core::client::Error) -> subxt::rpcs::Error {
    match e {
        jsonrpsee::core::client::Error::Call(e) => {
            subxt::rpcs::Error::User(subxt::rpcs::UserError {
                code: e.code(),
                message: e.message().to_owned(),
                data: e.data().map(|d| d.to_owned()),
            })
        }
        e => subxt::rpcs::Error::Client(Box::new(e)),
    }
}

impl RpcClientT for Ws {
    fn request_raw<'a>(
        &'a self,
        method: &'a str,
        params: Option<Box<RawValue>>,
    ) -> RawRpcFuture<'a, Box<RawValue>> {
        Box::pin(async move {
            ClientT::request(&self.0, method, Params(params))
                .await
                .map_err(rpc_err)
        })
    }

    fn subscribe_raw<'a>(
        &'a self,
        sub: &'a str,
        params: Option<Box<RawValue>>,
        unsub: &'a str,
    ) -> RawRpcFuture<'a, RawRpcSubscription> {
        Box::pin(async move {
            let stream = SubscriptionClientT::subscribe::<Box<RawValue>, _>(
                &self.0,
                sub,
                Params(params),
                unsub,
            )
            .await
            .map_err(rpc_err)?;
            let id = match stream.kind() {
                SubscriptionKind::Subscription(SubscriptionId::Str(id)) => {
                    Some(id.clone().into_owned())
                }
                _ => None,
            };
            let stream = stream
                .map_err(|e| subxt::rpcs::Error::Client(Box::new(e)))
                .boxed();
            Ok(RawRpcSubscription { stream, id })
        })
    }
}

/// The node's plain JSON-RPC methods (finalized head, block hash by number,
/// health), typed for our chain: cheap reads that need no runtime call.
pub type Rpc = subxt::rpcs::LegacyRpcMethods<subxt::config::RpcConfigFor<MaspConfig>>;

/// Connects to the node at `url` (`ws://` or `wss://`).
pub async fn connect(url: &str) -> Result<Client, ChainError> {
    connect_with_rpc(url).await.map(|(client, _)| client)
}

/// Connects to the node at `url` like [`connect`], and also returns the
/// node's plain RPC methods over the same connection.
pub async fn connect_with_rpc(url: &str) -> Result<(Client, Rpc), ChainError> {
    let fail = |reason: String| ChainError::Connect {
        url: url.to_string(),
        reason,
    };
    let ws = WsClientBuilder::default()
        .max_request_size(64 << 20)
        .max_response_size(64 << 20)
        .request_timeout(Duration::from_secs(120))
        .build(url)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let rpc = RpcClient::new(Ws(ws));
    let methods = Rpc::new(rpc.clone());
    let backend = LegacyBackend::builder().build(rpc);
    let client = OnlineClient::from_backend(Arc::new(backend))
        .await
        .map_err(|e| fail(e.to_string()))?;
    Ok((client, methods))
}

/// Events of an included transaction.
pub type Events = subxt::extrinsics::ExtrinsicEvents<MaspConfig>;

/// Signs `call` with `signer`, submits it and waits (at most `timeout`) until
/// it is in a block. Returns its events; a dispatch error comes back as
/// [`ChainError::Module`] with the pallet error's name and docs.
pub async fn submit<Call: Payload>(
    client: &Client,
    call: &Call,
    signer: &Keypair,
    timeout: Duration,
) -> Result<Events, ChainError> {
    let account = <Keypair as subxt::transactions::Signer<MaspConfig>>::account_id(signer);
    let work = async {
        let mut tx = client.tx().await.map_err(subxt_err)?;
        let nonce = next_nonce(
            &account,
            tx.account_nonce(&account).await.map_err(subxt_err)?,
        );
        let params = subxt::config::DefaultExtrinsicParamsBuilder::<MaspConfig>::new()
            .nonce(nonce)
            .build();
        let mut progress = match tx.sign_and_submit_then_watch(call, signer, params).await {
            Ok(progress) => progress,
            Err(e) => {
                forget_nonce(&account);
                return Err(subxt_err(e));
            }
        };
        used_nonce(&account, nonce);
        while let Some(status) = progress.next().await {
            match status.map_err(subxt_err)? {
                TransactionStatus::InBestBlock(block)
                | TransactionStatus::InFinalizedBlock(block) => {
                    return block.wait_for_success().await.map_err(dispatch_err);
                }
                TransactionStatus::Error { message }
                | TransactionStatus::Invalid { message }
                | TransactionStatus::Dropped { message } => {
                    forget_nonce(&account);
                    return Err(ChainError::NotIncluded(message));
                }
                _ => {}
            }
        }
        Err(ChainError::NotIncluded(
            "the node closed the subscription".into(),
        ))
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| {
        // It may never be included: let the chain's nonce decide next time.
        forget_nonce(&account);
        ChainError::Timeout(timeout, "the transaction to be included")
    })?
}

/// The next nonce each signer of this process used, beyond what the chain's
/// finalized state says. subxt reads the nonce at the latest *finalized*
/// block; on a relay network finality trails the best block by several
/// blocks, so a second transaction sent once the first is in a (best)
/// block would reuse its nonce and be refused as stale (1010). Sending
/// `max(finalized nonce, last used + 1)` fixes that for every transaction a
/// process sends in turn.
static NONCES: std::sync::Mutex<std::collections::BTreeMap<subxt::utils::AccountId32, u64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

fn next_nonce(account: &subxt::utils::AccountId32, finalized: u64) -> u64 {
    let map = NONCES.lock().unwrap_or_else(|e| e.into_inner());
    map.get(account).copied().unwrap_or(0).max(finalized)
}

fn used_nonce(account: &subxt::utils::AccountId32, nonce: u64) {
    let mut map = NONCES.lock().unwrap_or_else(|e| e.into_inner());
    let next = nonce.saturating_add(1);
    let entry = map.entry(*account).or_insert(next);
    *entry = (*entry).max(next);
}

/// A transaction that never made it: the chain's nonce is right again.
fn forget_nonce(account: &subxt::utils::AccountId32) {
    NONCES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(account);
}

fn dispatch_err(e: subxt::error::TransactionEventsError) -> ChainError {
    use subxt::error::{DispatchError, TransactionEventsError};
    if let TransactionEventsError::ExtrinsicFailed(DispatchError::Module(m)) = &e {
        if let Ok(details) = m.details() {
            return ChainError::Module {
                pallet: details.pallet.name().to_string(),
                error: details.variant.name.clone(),
                docs: details.variant.docs.join(" "),
            };
        }
    }
    ChainError::Subxt(e.into())
}

/// The account id of a key pair.
pub fn account(signer: &Keypair) -> AccountId32 {
    signer.public_key().to_account_id()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nonce_is_the_finalized_one_or_past_this_process_last_and_forgotten_on_failure() {
        let a = subxt::utils::AccountId32([1; 32]);
        let b = subxt::utils::AccountId32([2; 32]);
        // Nothing sent yet: the chain's (finalized) nonce.
        assert_eq!(next_nonce(&a, 5), 5);
        // Sent 5: the next is 6 even while the finalized state still says 5
        // (finality trails: the case that reused nonces on a relay network).
        used_nonce(&a, 5);
        assert_eq!(next_nonce(&a, 5), 6);
        used_nonce(&a, 6);
        assert_eq!(next_nonce(&a, 5), 7);
        // The chain ahead of this process (another process sent): the chain's.
        assert_eq!(next_nonce(&a, 9), 9);
        // An older nonce reported late never moves it back.
        used_nonce(&a, 3);
        assert_eq!(next_nonce(&a, 5), 7);
        // Accounts are kept apart.
        assert_eq!(next_nonce(&b, 0), 0);
        // A transaction that never made it: back to the chain's nonce.
        forget_nonce(&a);
        assert_eq!(next_nonce(&a, 5), 5);
    }
}
