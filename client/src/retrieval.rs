//! `masp challenge`: makes a host that will not serve a download publish a
//! piece of the file on chain, or be slashed (the retrieval pallet).
//!
//! The Sender of a contract, or a Receiver of a listing that names it,
//! opens a challenge on one piece (8 leaves, 4 KiB of ciphertext) and holds
//! the chain's challenge deposit. The host answers on chain with the piece
//! and its Merkle path within the response period: the chain checks it
//! against the contract's root and the challenger reads the bytes from the
//! `Answered` event (it paid a tenth of the deposit for a challenge that was
//! not needed). If the host does not answer, anyone settles the challenge
//! after the deadline: the host's deposit is slashed and the challenger
//! paid, its deposit returned in full.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use masp_chain::{api, AccountId32};
use masp_primitives::market::ContractId;

use crate::ops::Ctx;

/// A challenge this account opened.
#[derive(Debug, Clone)]
pub struct Opened {
    /// Its id.
    pub id: u64,
    /// The contract's host, who must answer.
    pub host: AccountId32,
    /// The piece's first leaf.
    pub first_leaf: u64,
    /// Leaves in the piece.
    pub leaves: u32,
    /// The last block an answer is accepted in.
    pub deadline: u32,
    /// The block it was opened in.
    pub opened_at: u32,
}

/// How a challenge ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The host answered: the piece's ciphertext (verified on chain), and
    /// what of the deposit it earned.
    Answered { piece: Vec<u8>, to_host: u128 },
    /// The host did not answer: slashed, what of it paid the challenger
    /// (a bounty) and what the contract's Sender.
    Failed {
        slashed: u128,
        to_challenger: u128,
        to_sender: u128,
    },
    /// The contract ended first: nothing owed, the deposit returned.
    Dropped,
}

/// Opens a challenge on `contract`'s piece at `leaf` (a random one if
/// `None`), as its Sender or, with `listing`, as a reader of that listing.
pub async fn open(
    ctx: &Ctx,
    contract: ContractId,
    listing: Option<u64>,
    leaf: Option<u64>,
) -> Result<Opened> {
    let c = ctx
        .contract(contract)
        .await?
        .ok_or_else(|| anyhow!("contract {contract} is not live on chain (see `masp ls`)"))?;
    if c.host == ctx.me() {
        bail!("contract {contract} is stored by this account: a host cannot challenge itself");
    }
    if c.sender != ctx.me() && listing.is_none() {
        bail!(
            "contract {contract} is not yours: pass --listing L, the listing you read it through"
        );
    }
    let first_leaf = match leaf {
        Some(l) if l >= c.leaf_count => bail!(
            "leaf {l} is past the file's end: contract {contract} has {} leaves (0..{})",
            c.leaf_count,
            c.leaf_count.saturating_sub(1)
        ),
        Some(l) => l,
        None => rand::random::<u64>() % c.leaf_count.max(1),
    };
    // The outcome is looked for from here on (the challenge is in a later
    // block).
    let before = u32::try_from(ctx.at().await?.block_number()).unwrap_or(0);
    let events = ctx
        .submit(&api::tx().retrieval().open(contract, first_leaf, listing))
        .await
        .with_context(|| format!("opening a retrieval challenge on contract {contract}"))?;
    let e = events
        .find_first::<api::retrieval::events::Opened>()
        .ok_or_else(|| anyhow!("the chain did not report the challenge"))??;
    Ok(Opened {
        id: e.id,
        host: e.host,
        first_leaf: e.first_leaf,
        leaves: e.leaves,
        deadline: e.deadline,
        opened_at: before,
    })
}

/// Challenge `id` as the chain has it now, if open.
pub async fn status(ctx: &Ctx, id: u64) -> Result<Option<(ContractId, u32, AccountId32)>> {
    let at = ctx.at().await?;
    let found = at
        .storage()
        .try_fetch(api::storage().retrieval().challenges(), (id,))
        .await?;
    match found {
        Some(v) => {
            let c = v.decode()?;
            Ok(Some((c.contract, c.deadline, c.challenger)))
        }
        None => Ok(None),
    }
}

/// Waits until challenge `o` ends: answered (the piece read from the
/// chain's event), or, once its deadline has passed unanswered, settled by
/// this account. Polls every `every`.
pub async fn wait(ctx: &Ctx, o: &Opened, every: Duration) -> Result<Outcome> {
    loop {
        let at = ctx.at().await?;
        let now = u32::try_from(at.block_number()).map_err(|_| anyhow!("block number"))?;
        match status(ctx, o.id).await? {
            None => {
                return find_outcome(ctx, o.id, o.opened_at, now)
                    .await?
                    .ok_or_else(|| anyhow!("challenge {} closed, but its outcome was not found in blocks {}..={now}", o.id, o.opened_at));
            }
            Some((_, deadline, _)) if now > deadline => {
                match settle(ctx, o.id).await {
                    Ok(outcome) => return Ok(outcome),
                    // Someone settled it first: read how.
                    Err(e) if status(ctx, o.id).await?.is_none() => {
                        let now = u32::try_from(ctx.at().await?.block_number()).unwrap_or(now);
                        return find_outcome(ctx, o.id, o.opened_at, now).await?.ok_or(e);
                    }
                    Err(e) => return Err(e),
                }
            }
            Some(_) => tokio::time::sleep(every).await,
        }
    }
}

/// Settles challenge `id` after its deadline (anyone may).
pub async fn settle(ctx: &Ctx, id: u64) -> Result<Outcome> {
    let events = ctx
        .submit(&api::tx().retrieval().settle(id))
        .await
        .with_context(|| format!("settling retrieval challenge {id}"))?;
    if let Some(e) = events.find_first::<api::retrieval::events::Failed>() {
        let e = e?;
        return Ok(Outcome::Failed {
            slashed: e.slashed,
            to_challenger: e.to_challenger,
            to_sender: e.to_sender,
        });
    }
    if events
        .find_first::<api::retrieval::events::Dropped>()
        .is_some()
    {
        return Ok(Outcome::Dropped);
    }
    bail!("the chain did not report how challenge {id} was settled")
}

/// The event that ended challenge `id`, in blocks `from..=to`.
async fn find_outcome(ctx: &Ctx, id: u64, from: u32, to: u32) -> Result<Option<Outcome>> {
    use api::retrieval::events::{Answered, Dropped, Failed};
    for n in (from..=to).rev() {
        let at = ctx.chain.at_block(n).await?;
        let events = at.events().fetch().await?;
        for e in events.find::<Answered>() {
            let e = e?;
            if e.id == id {
                return Ok(Some(Outcome::Answered {
                    piece: e.piece.0,
                    to_host: e.to_host,
                }));
            }
        }
        for e in events.find::<Failed>() {
            let e = e?;
            if e.id == id {
                return Ok(Some(Outcome::Failed {
                    slashed: e.slashed,
                    to_challenger: e.to_challenger,
                    to_sender: e.to_sender,
                }));
            }
        }
        for e in events.find::<Dropped>() {
            if e?.id == id {
                return Ok(Some(Outcome::Dropped));
            }
        }
    }
    Ok(None)
}
