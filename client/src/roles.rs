//! The console of the roles besides Senders and Receivers (issue 23): the
//! hosts a Sender can pick from (`masp hosts`), the token sale for ICO
//! buyers (`masp sale`), and insurance for Senders (`masp insurance`).
//! Each reads the chain's runtime APIs and storage; the few calls are
//! signed with the user's key.

use anyhow::{anyhow, bail, Context, Result};
use masp_chain::{api, AccountId32, Client};

use crate::ops::Ctx;

/// A registered host, as `masp hosts` lists it.
#[derive(Clone, Debug)]
pub struct HostLine {
    /// Its account.
    pub account: AccountId32,
    /// Its endpoint.
    pub endpoint: String,
    /// Its region.
    pub region: String,
    /// Bytes offered in total.
    pub capacity: u64,
    /// Bytes under contract.
    pub used: u64,
    /// Its rating, 0 to 1,000,000.
    pub rating: u32,
    /// Deposit not backing contracts.
    pub free_deposit: u128,
    /// Its cheapest offer's price per GiB per epoch, if it has one.
    pub price: Option<u128>,
    /// Live contracts.
    pub contracts: u32,
}

/// The account a map keyed by `Blake2_128Concat(account)` stores under
/// `key` (its last 32 bytes).
fn account_at_tail(key: &[u8], map: &str) -> Result<AccountId32> {
    key.len()
        .checked_sub(32)
        .and_then(|s| key[s..].try_into().ok())
        .map(AccountId32)
        .ok_or_else(|| anyhow!("a short {map} key"))
}

/// Every registered host, best rated first (then cheapest).
pub async fn hosts(chain: &Client) -> Result<Vec<HostLine>> {
    let at = chain.at_current_block().await?;
    let mut accounts = Vec::new();
    let mut entries = at
        .storage()
        .iter(api::storage().storage_market().hosts(), ())
        .await?;
    while let Some(kv) = entries.next().await {
        let kv = kv?;
        accounts.push(account_at_tail(kv.key_bytes(), "Hosts")?);
    }
    let mut out = Vec::new();
    for who in accounts {
        let apis = at.runtime_apis();
        let Some(v) = apis
            .call(api::runtime_apis().storage_market_api().host(who))
            .await?
        else {
            continue;
        };
        let offers = apis
            .call(api::runtime_apis().storage_market_api().host_offers(who))
            .await?;
        out.push(HostLine {
            account: who,
            endpoint: String::from_utf8_lossy(&v.endpoint).into_owned(),
            region: String::from_utf8_lossy(&v.region).into_owned(),
            capacity: v.capacity,
            used: v.used,
            rating: v.rating,
            free_deposit: v.free_deposit,
            price: offers.iter().map(|(_, o)| o.price).min(),
            contracts: v.live_contracts,
        });
    }
    out.sort_by(|a, b| {
        b.rating.cmp(&a.rating).then(
            a.price
                .unwrap_or(u128::MAX)
                .cmp(&b.price.unwrap_or(u128::MAX)),
        )
    });
    Ok(out)
}

/// The sale as `TokenSaleApi.status` has it, printed.
pub async fn sale_status(chain: &Client) -> Result<Vec<String>> {
    let at = chain.at_current_block().await?;
    let s = at
        .runtime_apis()
        .call(api::runtime_apis().token_sale_api().status())
        .await?;
    let usd = |micros: u64| format!("${:.2}", micros as f64 / 1e6);
    let mut out = vec![format!("phase: {:?}", s.phase)];
    if let (Some(start), Some(end), Some(day)) = (s.start, s.end, s.day_length) {
        out.push(format!(
            "blocks {start}..{end}, {day} blocks a day; day {} now, bonus {}%",
            s.current_day, s.current_bonus_percent
        ));
    }
    out.push(format!(
        "raised {} of soft cap {} / hard cap {} ({} above it, refundable)",
        usd(s.raised_usd),
        usd(s.soft_cap_usd),
        usd(s.hard_cap_usd),
        usd(s.excess_usd)
    ));
    out.push(format!(
        "allocated {}, claimed {}",
        crate::units::fmt_masp(s.total_allocated),
        crate::units::fmt_masp(s.total_claimed)
    ));
    Ok(out)
}

/// This account's part in the sale, printed (`None`: it never contributed).
pub async fn sale_me(ctx: &Ctx) -> Result<Option<Vec<String>>> {
    let at = ctx.chain.at_current_block().await?;
    let Some(b) = at
        .runtime_apis()
        .call(api::runtime_apis().token_sale_api().buyer(ctx.me(), 50))
        .await?
    else {
        return Ok(None);
    };
    let mut out = vec![format!(
        "counted ${:.2}; allocation {}; {}",
        b.counted_usd as f64 / 1e6,
        crate::units::fmt_masp(b.allocation),
        if b.claimed {
            "claimed"
        } else if b.claimable {
            "claimable now: `masp sale claim`"
        } else {
            "not claimable yet"
        },
    )];
    out.push(format!("{} contribution(s)", b.contributions.len()));
    Ok(Some(out))
}

/// Claims this account's tokens once the sale succeeded; the amount.
pub async fn sale_claim(ctx: &Ctx) -> Result<u128> {
    let events = ctx
        .submit(&api::tx().token_sale().claim())
        .await
        .context("claiming (the sale must have succeeded, and you must have an allocation)")?;
    Ok(events
        .find_first::<api::token_sale::events::Claimed>()
        .transpose()?
        .map_or(0, |e| e.amount))
}

/// An insurer's standing offer, as `masp insurance offers` lists it.
#[derive(Clone, Debug)]
pub struct OfferLine {
    /// The insurer.
    pub insurer: AccountId32,
    /// Premium per covered epoch, parts per billion of the cover.
    pub premium_ppb: u32,
    /// The most cover sold for one contract.
    pub max_cover: u128,
    /// The least host rating insured.
    pub min_rating: u32,
    /// Capital free to back new covers.
    pub free_capital: u128,
}

/// Every insurer's offer, cheapest premium first.
pub async fn insurance_offers(chain: &Client) -> Result<Vec<OfferLine>> {
    let at = chain.at_current_block().await?;
    let mut out = Vec::new();
    let mut entries = at
        .storage()
        .iter(api::storage().insurance().offers(), ())
        .await?;
    while let Some(kv) = entries.next().await {
        let kv = kv?;
        let who = account_at_tail(kv.key_bytes(), "Offers")?.0;
        let o = kv.value().decode()?;
        let info = at
            .storage()
            .try_fetch(api::storage().insurance().insurers(), (AccountId32(who),))
            .await?
            .map(|v| v.decode())
            .transpose()?;
        out.push(OfferLine {
            insurer: AccountId32(who),
            premium_ppb: o.premium.0,
            max_cover: o.max_cover,
            min_rating: o.min_rating,
            free_capital: info
                .map(|i| i.capital.saturating_sub(i.committed))
                .unwrap_or(0),
        });
    }
    out.sort_by_key(|o| o.premium_ppb);
    Ok(out)
}

/// Buys `amount` of cover for `contract` (one of this account's) from
/// `insurer`, at a premium of at most `max_premium_ppb` per epoch.
pub async fn insurance_buy(
    ctx: &Ctx,
    contract: u64,
    insurer: AccountId32,
    amount: u128,
    max_premium_ppb: u32,
) -> Result<()> {
    if amount == 0 {
        bail!("--amount must be above zero");
    }
    ctx.submit(&api::tx().insurance().buy_cover(
        contract,
        insurer,
        amount,
        api::runtime_types::sp_arithmetic::per_things::Perbill(max_premium_ppb),
    ))
    .await
    .with_context(|| format!("buying cover for contract {contract}"))?;
    Ok(())
}

/// A cover of one of this account's contracts.
#[derive(Clone, Debug)]
pub struct CoverLine {
    /// The contract.
    pub contract: u64,
    /// Who pays a claim.
    pub insurer: AccountId32,
    /// The contract's host.
    pub host: AccountId32,
    /// What a loss pays, at most.
    pub amount: u128,
    /// Premium per epoch.
    pub epoch_premium: u128,
    /// Epochs covered.
    pub epochs: (u32, u32),
    /// Premium still held.
    pub held: u128,
}

/// The covers of this account's live contracts. (A claim is paid by the
/// chain itself when the market ends a covered contract as lost: there is
/// nothing to file.)
pub async fn insurance_covers(ctx: &Ctx) -> Result<Vec<CoverLine>> {
    let at = ctx.at().await?;
    let mut out = Vec::new();
    for (id, _) in ctx.my_contracts().await? {
        if let Some(v) = at
            .storage()
            .try_fetch(api::storage().insurance().covers(), (id,))
            .await?
        {
            let c = v.decode()?;
            out.push(CoverLine {
                contract: id,
                insurer: c.insurer,
                host: c.host,
                amount: c.amount,
                epoch_premium: c.epoch_premium,
                epochs: (c.start, c.last),
                held: c.held,
            });
        }
    }
    Ok(out)
}
