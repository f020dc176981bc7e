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
    path::PathBuf,
    sync::{Arc, Mutex},
};

use anyhow::{anyhow, bail, Context, Result};
use masp_chain::api::runtime_types::masp_primitives::egress::Service as ChainService;
use masp_chain::{api, AccountId32, Keypair};
use masp_primitives::egress::{cost, receipt_payload, Service, WireReceipt};

use crate::{fsutil, hostapi::HostApi, ops::Ctx};

/// How one host is paid during a download.
///
/// The count only ever grows from what this account itself signed on the
/// channel (kept in `~/.masp/egress/`) or what the chain paid: a host's
/// claim that it served more never raises it, so a host cannot make the
/// client sign for bytes it did not ask for. Signing stops at the budget of
/// this download.
pub struct HostPayment {
    channel: u64,
    host: [u8; 32],
    genesis: [u8; 32],
    keypair: Keypair,
    /// (cumulative bytes signed, the most this download may sign).
    count: Mutex<(u64, u64)>,
    /// Where the signed count is kept between runs.
    record: PathBuf,
}

impl HostPayment {
    /// A receipt for `len` more bytes (the request about to be sent), or
    /// `None` once this download's budget for the host is spent.
    pub fn receipt(&self, len: u64) -> Option<WireReceipt> {
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = count.0.checked_add(len)?;
        if bytes > count.1 {
            return None;
        }
        count.0 = bytes;
        // Kept before the receipt leaves: a later run never signs a count
        // this one already signed for other bytes. (Not synced: a crash
        // may lose the latest, and the next run then meets a host that
        // served more than it remembers, and fails over to other hosts.)
        let _ =
            std::fs::create_dir_all(self.record.parent().unwrap_or(&self.record)).and_then(|_| {
                let tmp = fsutil::temp_sibling(&self.record);
                std::fs::write(&tmp, bytes.to_string())?;
                std::fs::rename(&tmp, &self.record)
            });
        let payload = receipt_payload(
            &self.genesis,
            Service::Egress,
            self.channel,
            &self.host,
            bytes,
        );
        Some(WireReceipt {
            channel: self.channel,
            bytes,
            signature: self.keypair.sign(&payload).0,
        })
    }
}

/// The runtime's `MinAllowance` (0.01 MASP): the least a channel opens with.
pub const MIN_ALLOWANCE: u128 = 10_000_000_000;

/// The default `--max-egress-price`: 5 MASP per GiB served.
pub const DEFAULT_MAX_EGRESS_PRICE: u128 = 5_000_000_000_000;

/// The payments of one download, by host account (hosts that charge only).
pub type Payments = BTreeMap<[u8; 32], Arc<HostPayment>>;

/// What [`prepare`] decided.
#[derive(Default)]
pub struct Prepared {
    /// How to pay each charging host.
    pub payments: Payments,
    /// Hosts not to use, with the reason (too dear, or no channel).
    pub skipped: BTreeMap<[u8; 32], String>,
}

fn record_path(ctx: &Ctx, channel: u64) -> PathBuf {
    ctx.home.join("egress").join(format!("{channel}.count"))
}

fn read_record(path: &PathBuf) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Opens or tops up this account's channel with each host among `hosts`
/// that charges at most `max_price` per GiB, so it holds enough for
/// `bytes` of egress. Hosts that charge more, or whose channel cannot be
/// opened, are skipped (with the reason), not fatal: other replicas serve.
pub async fn prepare(
    ctx: &Ctx,
    hosts: &[(AccountId32, HostApi)],
    bytes: u64,
    max_price: u128,
) -> Result<Prepared> {
    let mut out = Prepared::default();
    for (host, _) in hosts {
        if out.payments.contains_key(&host.0) || out.skipped.contains_key(&host.0) {
            continue;
        }
        match prepare_one(ctx, host, bytes, max_price).await {
            Ok(Some(p)) => {
                out.payments.insert(host.0, Arc::new(p));
            }
            Ok(None) => {}
            Err(e) => {
                eprintln!("warning: host {host} is skipped: {e:#}");
                out.skipped.insert(host.0, format!("{e:#}"));
            }
        }
    }
    Ok(out)
}

async fn prepare_one(
    ctx: &Ctx,
    host: &AccountId32,
    bytes: u64,
    max_price: u128,
) -> Result<Option<HostPayment>> {
    let me = ctx.me();
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
        return Ok(None);
    }
    let channel = at
        .storage()
        .try_fetch(
            api::storage().egress().channels(),
            (me, *host, ChainService::Egress),
        )
        .await?
        .map(|v| v.decode())
        .transpose()?;
    // An open channel keeps the price it opened at.
    let price = channel.as_ref().map_or(price, |c| c.price);
    if price > max_price {
        bail!(
            "it charges {}/GiB for egress, above --max-egress-price {}/GiB",
            crate::units::fmt_masp(price),
            crate::units::fmt_masp(max_price)
        );
    }
    let need = cost(bytes, price).ok_or_else(|| anyhow!("the egress cost overflows"))?;
    let top_up = match &channel {
        Some(c) if c.closes_at.is_some() => bail!(
            "your egress channel with it is closing; download again once it has closed (the \
             rest of its allowance returns to you)"
        ),
        // Receipts count up from every byte this account ever signed for
        // on the channel, redeemed or not (a spare request cancelled
        // mid-chunk, a host that has not redeemed yet): the allowance must
        // cover the whole count after this download, less what was paid.
        Some(c) => {
            let signed = c.bytes_paid.max(read_record(&record_path(ctx, c.id)));
            let total = cost(signed.saturating_add(bytes), price)
                .ok_or_else(|| anyhow!("the egress cost overflows"))?;
            total.saturating_sub(c.paid).saturating_sub(c.held)
        }
        None => need.max(MIN_ALLOWANCE),
    };
    if top_up > 0 {
        ctx.submit(
            &api::tx()
                .egress()
                .open_channel(*host, ChainService::Egress, top_up, price),
        )
        .await
        .context("holding an egress allowance")?;
    }
    let c = ctx
        .at()
        .await?
        .storage()
        .try_fetch(
            api::storage().egress().channels(),
            (me, *host, ChainService::Egress),
        )
        .await?
        .ok_or_else(|| anyhow!("the egress channel did not open"))?
        .decode()?;
    let record = record_path(ctx, c.id);
    let start = c.bytes_paid.max(read_record(&record));
    Ok(Some(HostPayment {
        channel: c.id,
        host: host.0,
        genesis: ctx.chain.genesis_hash().0,
        keypair: ctx.id.keypair.clone(),
        count: Mutex::new((start, start.saturating_add(bytes))),
        record,
    }))
}

/// One of this account's egress channels, as `masp egress ls` shows it.
#[derive(Debug, Clone)]
pub struct ChannelLine {
    /// The payee: a host (egress) or a proxy (relay).
    pub host: AccountId32,
    /// What it pays for.
    pub service: Service,
    /// The channel's id.
    pub id: u64,
    /// Planck per GiB, fixed when it opened.
    pub price: u128,
    /// Still held for the host.
    pub held: u128,
    /// Bytes paid for so far.
    pub bytes_paid: u64,
    /// Paid to the host so far.
    pub paid: u128,
    /// The block from which the rest can return, once closing.
    pub closes_at: Option<u32>,
}

/// This account's payment channels: with hosts (egress) and with proxies
/// (relay).
pub async fn channels(ctx: &Ctx) -> Result<Vec<ChannelLine>> {
    let at = ctx.at().await?;
    let mut out = Vec::new();
    // `Channels` is (Blake2_128Concat payer, Blake2_128Concat payee,
    // Twox64Concat service): the key ends with the payee's 32 bytes, the
    // service's 8-byte hash and its 1-byte index (0: egress).
    let mut entries = at
        .storage()
        .iter(api::storage().egress().channels(), (ctx.me(),))
        .await?;
    while let Some(kv) = entries.next().await {
        let kv = kv?;
        let key = kv.key_bytes();
        let (host, service) = key
            .len()
            .checked_sub(32 + 8 + 1)
            .and_then(|s| Some((<[u8; 32]>::try_from(&key[s..s + 32]).ok()?, *key.last()?)))
            .ok_or_else(|| anyhow!("a short Channels key"))?;
        let service = match service {
            0 => Service::Egress,
            1 => Service::Relay,
            _ => continue,
        };
        let c = kv.value().decode()?;
        out.push(ChannelLine {
            host: AccountId32(host),
            service,
            id: c.id,
            price: c.price,
            held: c.held,
            bytes_paid: c.bytes_paid,
            paid: c.paid,
            closes_at: c.closes_at,
        });
    }
    out.sort_by_key(|c| c.id);
    Ok(out)
}

fn chain_service(s: Service) -> ChainService {
    match s {
        Service::Egress => ChainService::Egress,
        Service::Relay => ChainService::Relay,
    }
}

/// Closes this account's open channels with `host` (a host or a proxy;
/// every open one if `None`): each payee then has the chain's close period
/// to redeem its last receipt, after which `finish` returns the rest. Returns the channels
/// closed, with the block each can be finished from.
pub async fn close(ctx: &Ctx, host: Option<AccountId32>) -> Result<Vec<(AccountId32, u32)>> {
    let open: Vec<ChannelLine> = channels(ctx)
        .await?
        .into_iter()
        .filter(|c| c.closes_at.is_none() && host.is_none_or(|h| h == c.host))
        .collect();
    if open.is_empty() {
        match host {
            Some(h) => bail!("you have no open channel with {h} (see `masp egress ls`)"),
            None => return Ok(Vec::new()),
        }
    }
    let mut out = Vec::new();
    for c in open {
        let events = ctx
            .submit(
                &api::tx()
                    .egress()
                    .close_channel(c.host, chain_service(c.service)),
            )
            .await
            .with_context(|| format!("closing the channel with {}", c.host))?;
        let e = events
            .find_first::<api::egress::events::ChannelClosing>()
            .ok_or_else(|| anyhow!("the chain did not report the close"))??;
        out.push((c.host, e.at));
    }
    Ok(out)
}

/// Returns what is left in every closing channel whose close period is
/// over. Returns the hosts and the amounts refunded; channels still in
/// their close period are left (with the block they can be finished from).
pub async fn finish(ctx: &Ctx) -> Result<(Vec<(AccountId32, u128)>, Vec<(AccountId32, u32)>)> {
    let now = u32::try_from(ctx.at().await?.block_number()).unwrap_or(u32::MAX);
    let (mut done, mut waiting) = (Vec::new(), Vec::new());
    for c in channels(ctx).await? {
        match c.closes_at {
            Some(at) if at <= now => {
                let events = ctx
                    .submit(&api::tx().egress().finish_close(
                        ctx.me(),
                        c.host,
                        chain_service(c.service),
                    ))
                    .await
                    .with_context(|| format!("finishing the channel with {}", c.host))?;
                let refunded = events
                    .find_first::<api::egress::events::ChannelClosed>()
                    .transpose()?
                    .map_or(0, |e| e.refunded);
                done.push((c.host, refunded));
            }
            Some(at) => waiting.push((c.host, at)),
            None => {}
        }
    }
    Ok((done, waiting))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(dir: &std::path::Path, budget: u64) -> HostPayment {
        HostPayment {
            channel: 3,
            host: [1; 32],
            genesis: [2; 32],
            keypair: Keypair::from_uri(&"//Alice".parse().unwrap()).unwrap(),
            count: Mutex::new((100, 100 + budget)),
            record: dir.join("egress").join("3.count"),
        }
    }

    #[test]
    fn receipts_count_up_are_kept_and_stop_at_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let p = payment(dir.path(), 10);
        let r = p.receipt(4).unwrap();
        assert_eq!((r.channel, r.bytes), (3, 104));
        let payload = receipt_payload(&[2; 32], Service::Egress, 3, &[1; 32], 104);
        assert!(subxt_signer::sr25519::verify(
            &subxt_signer::sr25519::Signature(r.signature),
            payload,
            &p.keypair.public_key()
        ));
        assert_eq!(p.receipt(6).unwrap().bytes, 110);
        assert!(p.receipt(1).is_none(), "the budget is spent");
        assert_eq!(read_record(&p.record), 110, "a later run starts from here");
    }
}
