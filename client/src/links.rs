//! Temporary signed download links (`masp link`) and fetching the chunk
//! behind one (`masp fetch`): a Sender hands a Receiver links to the
//! ciphertext of a file's chunks, each carrying a ticket the host checks.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use masp_chain::AccountId32;
use masp_primitives::{
    market::{ContractId, RequestId},
    ticket::{SignedTicket, TicketOp, MAX_TICKET_TTL},
};

use crate::{
    hostapi::{self, sign_ticket},
    manifests::find_manifest,
    ops::Ctx,
};

/// `masp link`: temporary signed download links to every chunk of file
/// `request` on every replica (every shard's contract: the links give
/// ciphertext, of its shard): one ticket per replica and copy, valid for
/// `ttl`, issued to `receiver`. Each link works once (per byte range).
pub async fn links(
    ctx: &Ctx,
    request: RequestId,
    ttl: Duration,
    copies: u32,
    receiver: Option<[u8; 32]>,
) -> Result<Vec<String>> {
    if ttl.as_secs() > MAX_TICKET_TTL {
        bail!("--ttl may be at most {MAX_TICKET_TTL} s (hosts refuse longer tickets)");
    }
    let m = find_manifest(ctx, request).await?;
    let mut out = Vec::new();
    for r in &m.replicas {
        let count = m.shard(r.shard).map_or(0, |s| {
            u32::try_from(s.chunk_roots.len()).unwrap_or(u32::MAX)
        });
        if count == 0 {
            continue;
        }
        let api = ctx.host_api(&AccountId32(r.host)).await?;
        for _ in 0..copies {
            let t = sign_ticket(
                &ctx.id.keypair,
                ctx.chain.genesis_hash().0,
                TicketOp::Download,
                r.contract,
                0,
                count - 1,
                receiver,
                ttl,
            );
            let hex = t.to_hex();
            for i in 0..count {
                out.push(format!(
                    "{}/v1/contracts/{}/chunks/{i}?ticket={hex}",
                    api.endpoint(),
                    r.contract
                ));
            }
        }
    }
    Ok(out)
}

/// A download link as `masp link` prints it, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The host's endpoint.
    pub endpoint: String,
    /// The contract.
    pub contract: ContractId,
    /// The chunk.
    pub chunk: u32,
    /// The signed ticket.
    pub ticket: SignedTicket,
}

/// Parses a link `ENDPOINT/v1/contracts/C/chunks/I?ticket=HEX`.
pub fn parse_link(url: &str) -> Result<Link> {
    let bad = || {
        anyhow!("{url:?} is not a MASP download link (ENDPOINT/v1/contracts/C/chunks/I?ticket=...)")
    };
    let (path, query) = url.split_once('?').ok_or_else(bad)?;
    let (endpoint, rest) = path.split_once("/v1/contracts/").ok_or_else(bad)?;
    let (contract, chunk) = rest.split_once("/chunks/").ok_or_else(bad)?;
    let wire = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("ticket="))
        .ok_or_else(bad)?;
    Ok(Link {
        endpoint: endpoint.to_owned(),
        contract: contract.parse().map_err(|_| bad())?,
        chunk: chunk.parse().map_err(|_| bad())?,
        ticket: SignedTicket::from_hex(wire)
            .map_err(|e| anyhow!("the link's ticket: {}", e.reason()))?,
    })
}

/// `masp fetch`: downloads the chunk behind a link a Sender issued to this
/// account (`masp link --receiver`), claiming it with this account's
/// signature (a copied link is refused to anyone else). Returns the
/// ciphertext chunk, as stored.
pub async fn fetch_link(ctx: &Ctx, url: &str) -> Result<Bytes> {
    let link = parse_link(url)?;
    let me = ctx.me().0;
    if link.ticket.ticket.receiver != me {
        bail!(
            "this link was issued to {}, not to you ({}): only that account can use it",
            AccountId32(link.ticket.ticket.receiver),
            ctx.me()
        );
    }
    let c = ctx.contract(link.contract).await?.ok_or_else(|| {
        anyhow!(
            "contract {} is not live on chain: the link is dead",
            link.contract
        )
    })?;
    // Only ever to the contract's host at the endpoint the chain has: a
    // link rewritten to point elsewhere would hand the claim (and a
    // receipt) to whoever wrote it.
    let api = ctx.host_api(&c.host).await?;
    if api.endpoint().trim_end_matches('/') != link.endpoint.trim_end_matches('/') {
        bail!(
            "the link points to {}, but contract {}'s host {} is at {} on chain: refused \
             (a rewritten link would hand your signature to someone else)",
            link.endpoint,
            link.contract,
            c.host,
            api.endpoint()
        );
    }
    let len = c
        .size
        .saturating_sub(u64::from(link.chunk) * masp_proofs::CHUNK_SIZE as u64)
        .min(masp_proofs::CHUNK_SIZE as u64);
    // A host that charges for egress is paid by the Receiver who claims
    // the link, from its own channel.
    let prepared =
        crate::egress::prepare(ctx, &[(c.host, api.clone())], len, ctx.max_egress_price).await?;
    if let Some(why) = prepared.skipped.get(&c.host.0) {
        bail!("host {} is not used: {why}", c.host);
    }
    let receipt = match prepared.payments.get(&c.host.0) {
        Some(p) => Some(
            p.receipt(len)
                .ok_or_else(|| anyhow!("the egress budget for host {} is spent", c.host))?,
        ),
        None => None,
    };
    let claim = hostapi::sign_claim(&ctx.id.keypair, ctx.chain.genesis_hash().0, &link.ticket);
    let data = api
        .get_chunk_claimed(
            link.contract,
            link.chunk,
            &link.ticket,
            &claim,
            receipt.as_ref(),
        )
        .await
        .with_context(|| {
            format!(
                "fetching chunk {} of contract {}",
                link.chunk, link.contract
            )
        })?;
    if data.len() as u64 != len {
        bail!(
            "host {} sent {} bytes of chunk {}, expected {len}",
            c.host,
            data.len(),
            link.chunk
        );
    }
    Ok(data)
}
