//! Paying hosts for what they serve (`pallet-egress`, format in
//! [`masp_primitives::egress`]).
//!
//! Before a download, [`prepare`] makes sure this account has a channel
//! with every host that charges, holding enough for the whole file at that
//! host's price (a host may end up serving all of it when others fail);
//! what is not spent stays in the channel for the next download, or comes
//! back when the channel closes. During the download every chunk request
//! carries a receipt for the cumulative bytes asked of that host so far
//! (this request included), signed with the account key. A host that
//! charges nothing gets no channel and no receipts.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use anyhow::{anyhow, bail, Context, Result};
use masp_chain::{api, AccountId32, Keypair};
use masp_primitives::egress::{cost, receipt_payload, WireReceipt};

use crate::{hostapi::HostApi, ops::Ctx};

/// How one host is paid during a download.
pub struct HostPayment {
    channel: u64,
    host: [u8; 32],
    genesis: [u8; 32],
    keypair: Keypair,
    /// Cumulative bytes signed for so far.
    signed: AtomicU64,
}

impl HostPayment {
    /// A receipt for `len` more bytes (the request about to be sent).
    pub fn receipt(&self, len: u64) -> WireReceipt {
        let bytes = self
            .signed
            .fetch_add(len, Ordering::SeqCst)
            .saturating_add(len);
        let payload = receipt_payload(&self.genesis, self.channel, &self.host, bytes);
        WireReceipt {
            channel: self.channel,
            bytes,
            signature: self.keypair.sign(&payload).0,
        }
    }

    /// The host says it has served `served` bytes: later receipts start
    /// from there.
    pub fn resync(&self, served: u64) {
        self.signed.fetch_max(served, Ordering::SeqCst);
    }
}

/// The runtime's `MinAllowance` (0.01 MASP): the least a channel opens with.
pub const MIN_ALLOWANCE: u128 = 10_000_000_000;

/// The payments of one download, by host account (hosts that charge only).
pub type Payments = BTreeMap<[u8; 32], Arc<HostPayment>>;

/// Opens or tops up this account's channel with each charging host among
/// `hosts` so it holds enough for `bytes` of egress, and learns from each
/// host where its receipts stand.
pub async fn prepare(ctx: &Ctx, hosts: &[(AccountId32, HostApi)], bytes: u64) -> Result<Payments> {
    let me = ctx.me();
    let mut out = Payments::new();
    for (host, api_) in hosts {
        if out.contains_key(&host.0) {
            continue;
        }
        let at = ctx.at().await?;
        let price: u128 = match at
            .storage()
            .try_fetch(api::storage().egress().egress_prices(), (*host,))
            .await?
        {
            Some(v) => v.decode()?,
            None => 0,
        };
        if price == 0 {
            continue;
        }
        let channel = at
            .storage()
            .try_fetch(api::storage().egress().channels(), (me, *host))
            .await?
            .map(|v| v.decode())
            .transpose()?;
        let need = |p: u128| cost(bytes, p).ok_or_else(|| anyhow!("egress cost overflows"));
        let top_up = match &channel {
            Some(c) if c.closes_at.is_some() => bail!(
                "your egress channel with host {host} is closing; download again once it has \
                 closed (the rest of its allowance returns to you)"
            ),
            // An open channel keeps the price it opened at.
            Some(c) => need(c.price)?.saturating_sub(c.held),
            None => need(price)?.max(MIN_ALLOWANCE),
        };
        if top_up > 0 {
            ctx.submit(&api::tx().egress().open_channel(
                *host,
                top_up,
                channel.as_ref().map_or(price, |c| c.price),
            ))
            .await
            .with_context(|| format!("holding an egress allowance for host {host}"))?;
        }
        let c = ctx
            .at()
            .await?
            .storage()
            .try_fetch(api::storage().egress().channels(), (me, *host))
            .await?
            .ok_or_else(|| anyhow!("the egress channel with host {host} did not open"))?
            .decode()?;
        // Receipts continue from what the host has served on this channel
        // (a previous download, maybe from another machine), never from
        // less than what the chain paid.
        let mut start = c.bytes_paid;
        match api_.egress_status(&me.0).await {
            Ok(s) if s.channel == Some(c.id) => start = start.max(s.served),
            Ok(_) => {}
            Err(e) => {
                eprintln!("warning: host {host}: {e} (receipts start from the chain's count)")
            }
        }
        out.insert(
            host.0,
            Arc::new(HostPayment {
                channel: c.id,
                host: host.0,
                genesis: ctx.chain.genesis_hash().0,
                keypair: ctx.id.keypair.clone(),
                signed: AtomicU64::new(start),
            }),
        );
    }
    Ok(out)
}
