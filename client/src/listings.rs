//! Content distribution: a Sender shares a stored file, a Receiver buys or
//! opens it and downloads it with only its own keys, and the Sender's
//! `masp agent` hands over the file key.
//!
//! - **Share** ([`share`]): the file's layout goes into a *listing
//!   manifest* ([`masp_primitives::listing`]) sealed under a key derived
//!   from the file key, uploaded to every host of the file; the chain gets
//!   the contracts, a commitment to the file key and the manifest's hash
//!   (`pallet-listings`). A Receiver never sees the Sender's master key or
//!   own manifest.
//! - **Buy / open** ([`buy`]): the Receiver names an X25519 key of its own
//!   for this purchase ([`purchase_secret`], derived from its master key
//!   and the listing id) and the price is held in escrow on chain.
//! - **Agent** ([`agent`]): the Sender's long-running service seals the
//!   file key to each new buyer's key and puts it on chain
//!   (`deliver_key`); the price reaches the Sender after the dispute
//!   period. If the agent is offline the buyer is refunded.
//! - **Get** ([`get`]): the Receiver opens the sealed key (or reads a
//!   public listing's key), checks it against the listing's commitment,
//!   fetches the listing manifest from a host (checked against the hash on
//!   chain, and its root against every contract's), then every chunk with
//!   tickets it signs itself (`TicketOp::Receive`): hosts serve them only
//!   to accounts the chain shows have access.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{anyhow, bail, Context, Result};
use masp_chain::{
    api::{
        self,
        runtime_types::{
            bounded_collections::bounded_vec::BoundedVec,
            masp_primitives::seal::SealedKey as ChainSealedKey,
            pallet_listings::pallet::{Listing, ListingTerms, Purchase, PurchaseState},
        },
    },
    AccountId32,
};
use masp_primitives::{
    listing::{
        listing_manifest_hash, open_listing_manifest, seal_listing_manifest, ListingManifest,
        LISTING_MANIFEST_VERSION,
    },
    manifest::ChunkSealing,
    market::{ContractId, RequestId},
    seal::{self, Key32, SealedKey},
    ticket::TicketOp,
};

use crate::{
    crypto::{self, FileCipher, Key},
    hostapi::{sign_ticket, HostApi},
    manifests::{self, find_manifest},
    ops::{self, Ctx, Layout},
    shards, units,
};

/// A listing's id on chain.
pub type ListingId = u64;

/// Seconds per block (the runtime's 6 s slots): turns `--expires 7d` into
/// blocks.
pub const BLOCK_SECS: u64 = 6;

/// The X25519 secret of this account's purchase of `listing`: derived from
/// the master key, so it is the same on any machine with the phrase, and
/// distinct per listing (revealing it in a dispute opens nothing else).
pub fn purchase_secret(master: &Key, listing: ListingId) -> Key32 {
    crypto::derive(master, &[b"masp/purchase-key/v1", &listing.to_be_bytes()])
}

/// The 32 bytes of an account as the chain binds them into a sealed key's
/// context (`pallet_listings::Pallet::account_bytes`).
fn account_bytes(who: &AccountId32) -> [u8; 32] {
    who.0
}

/// Options of `masp share`.
#[derive(Clone, Debug, Default)]
pub struct ShareOptions {
    /// Planck a Receiver pays (zero: free).
    pub price: u128,
    /// Publish the key on chain: anyone may read the file (free only).
    pub public: bool,
    /// The only account that may buy it.
    pub to: Option<AccountId32>,
    /// Blocks from now after which nobody can buy.
    pub expires_in: Option<u32>,
    /// The most purchases.
    pub max_buyers: Option<u32>,
    /// A short public description.
    pub meta: String,
}

/// What `masp share` did.
#[derive(Debug)]
pub struct Shared {
    /// The listing's id.
    pub listing: ListingId,
    /// The contracts listed.
    pub contracts: Vec<ContractId>,
    /// Hosts that keep the listing manifest.
    pub hosts_with_manifest: usize,
}

/// `masp share`: lists file `request` on chain (see the module docs).
pub async fn share(ctx: &Ctx, request: RequestId, opts: &ShareOptions) -> Result<Shared> {
    if opts.public && (opts.price != 0 || opts.to.is_some()) {
        bail!("--public gives the key to everyone: it cannot have a price or --to");
    }
    if opts.max_buyers == Some(0) {
        bail!("--max-buyers must be at least 1");
    }
    let meta = opts.meta.as_bytes().to_vec();
    let max_meta = 256;
    if meta.len() > max_meta {
        bail!("--meta is {} bytes; at most {max_meta}", meta.len());
    }
    let m = find_manifest(ctx, request).await?;
    let layout = shards::check_manifest_layout(&m)
        .map_err(|e| anyhow!("the manifest of file {request}: {e}"))?;
    // The file's confirmed contracts: its manifest's replicas (a repair's
    // contracts belong to another request) whose contract stores its shard.
    let mine = shards::live_contracts(ctx).await?;
    let live: Vec<_> = m
        .replicas
        .iter()
        .filter_map(|r| Some((r.contract, mine.get(&r.contract)?.clone(), r.shard)))
        .filter(|(_, c, shard)| {
            matches!(
                c.state,
                api::runtime_types::pallet_storage_market::types::ContractState::Active
            ) && m.shard(*shard).is_some_and(|s| s.root == c.merkle_root)
        })
        .map(|(id, c, _)| (id, c))
        .collect();
    // Replicas: any one contract gives the file; shards: K of them.
    let need = if m.is_legacy() { 1 } else { layout.needed() };
    let held: std::collections::BTreeSet<u32> = live
        .iter()
        .filter_map(|(id, _)| m.replica(*id).map(|r| r.shard))
        .collect();
    if held.len() < need {
        bail!(
            "file {request} has {} shard(s) whose host confirmed the data, and {need} are needed \
             to read it: nothing to share (see `masp ls`; `masp repair {request}`)",
            held.len()
        );
    }
    let file_key = FileCipher::file_key(&ctx.id.master, &m.file_id);
    let lm = ListingManifest {
        version: LISTING_MANIFEST_VERSION,
        file_id: m.file_id,
        name: m.name.clone(),
        size: m.size,
        sealing: m.sealing,
        k: m.k,
        m: m.m,
        shards: m.shards.clone(),
    };
    let sealed = seal_listing_manifest(&lm, &file_key, rand::random());
    let hash = listing_manifest_hash(&sealed);

    // Every host of the file keeps the listing manifest: a Receiver can
    // start from any of them.
    let mut stored = 0;
    let mut errors = Vec::new();
    for (id, c) in &live {
        let result = async {
            let api = ctx.host_api(&c.host).await?;
            let t = sign_ticket(
                &ctx.id.keypair,
                ctx.chain.genesis_hash().0,
                TicketOp::Upload,
                *id,
                0,
                0,
                None,
                Duration::from_secs(300),
            );
            match api
                .put_listing_manifest(*id, &hash, &t, sealed.clone())
                .await
            {
                Err(e) if e.status().map(|s| s.as_u16()) == Some(409) => Ok(()),
                r => r.map_err(anyhow::Error::from),
            }
        }
        .await;
        match result {
            Ok(()) => stored += 1,
            Err(e) => errors.push(format!("contract {id}: {e:#}")),
        }
    }
    if stored == 0 {
        bail!(
            "no host of file {request} took the listing manifest, so nothing was listed:\n  {}",
            errors.join("\n  ")
        );
    }
    for e in &errors {
        eprintln!("warning: {e}");
    }

    let expires = match opts.expires_in {
        Some(blocks) => Some(current_block(ctx).await?.saturating_add(blocks)),
        None => None,
    };
    let contracts: Vec<ContractId> = live.iter().map(|(id, _)| *id).collect();
    let terms = ListingTerms {
        price: opts.price,
        open_key: opts.public.then_some(file_key),
        to: opts.to,
        expires,
        max_buyers: opts.max_buyers,
    };
    let events = ctx
        .submit(&api::tx().listings().share(
            BoundedVec(contracts.clone()),
            // Replicas: one contract is enough; shards: K of them.
            need as u32,
            seal::key_commitment(&file_key),
            hash,
            terms,
            BoundedVec(meta),
        ))
        .await
        .context("listing the file")?;
    let e = events
        .find_first::<api::listings::events::Shared>()
        .ok_or_else(|| anyhow!("the chain did not report the listing"))??;
    Ok(Shared {
        listing: e.listing,
        contracts,
        hosts_with_manifest: stored,
    })
}

/// The best block's number.
async fn current_block(ctx: &Ctx) -> Result<u32> {
    let at = ctx.at().await?;
    u32::try_from(at.block_number()).map_err(|_| anyhow!("block number out of range"))
}

/// A listing as `masp listings` shows it.
#[derive(Debug, Clone)]
pub struct ListingLine {
    /// Its id.
    pub id: ListingId,
    /// The record on chain.
    pub listing: Listing,
}

impl ListingLine {
    /// "free", "public" or the price.
    pub fn price(&self) -> String {
        let t = &self.listing.terms;
        if t.open_key.is_some() {
            "public".into()
        } else if t.price == 0 {
            "free".into()
        } else {
            units::fmt_masp(t.price)
        }
    }

    /// Its description as text.
    pub fn meta(&self) -> String {
        String::from_utf8_lossy(&self.listing.meta.0).into_owned()
    }
}

/// Reads listing `id` from the chain.
pub async fn listing(ctx: &Ctx, id: ListingId) -> Result<Listing> {
    let at = ctx.at().await?;
    let v = at
        .storage()
        .try_fetch(api::storage().listings().listings(), (id,))
        .await?
        .ok_or_else(|| anyhow!("no listing {id} on chain (see `masp listings`)"))?;
    Ok(v.decode()?)
}

/// `masp listings`: every listing on chain (oldest first), optionally only
/// `sender`'s, only open ones, or only those whose description contains
/// `search` (case-insensitive).
pub async fn listings(
    ctx: &Ctx,
    sender: Option<&AccountId32>,
    open_only: bool,
    search: Option<&str>,
) -> Result<Vec<ListingLine>> {
    let at = ctx.at().await?;
    let mut out = Vec::new();
    let mut entries = at
        .storage()
        .iter(api::storage().listings().listings(), ())
        .await?;
    let search = search.map(str::to_lowercase);
    while let Some(kv) = entries.next().await {
        let kv = kv?;
        // `Listings` is Twox64Concat: the id is the key's last 8 bytes.
        let key = kv.key_bytes();
        let id = key
            .len()
            .checked_sub(8)
            .and_then(|s| key[s..].try_into().ok())
            .map(ListingId::from_le_bytes)
            .ok_or_else(|| anyhow!("short Listings key"))?;
        let listing = kv.value().decode()?;
        let line = ListingLine { id, listing };
        if sender.is_some_and(|s| *s != line.listing.sender)
            || (open_only && line.listing.closed)
            || search
                .as_deref()
                .is_some_and(|q| !line.meta().to_lowercase().contains(q))
        {
            continue;
        }
        out.push(line);
    }
    out.sort_by_key(|l| l.id);
    Ok(out)
}

/// This account's purchase of `listing`, if any.
async fn my_purchase(ctx: &Ctx, id: ListingId) -> Result<Option<Purchase<u32>>> {
    let at = ctx.at().await?;
    let v = at
        .storage()
        .try_fetch(api::storage().listings().purchases(), (id, ctx.me()))
        .await?;
    Ok(v.map(|v| v.decode()).transpose()?)
}

/// What `masp buy` / `masp open` did.
#[derive(Debug)]
pub struct Bought {
    /// The price held in escrow.
    pub price: u128,
    /// The block by which the key must arrive, else the price is refunded.
    pub deadline: Option<u32>,
}

/// `masp buy` (and `masp open`, with `max_price` zero): buys `listing`
/// with this account's purchase key for it. A public listing needs no
/// purchase: that is an error that says so.
pub async fn buy(ctx: &Ctx, id: ListingId, max_price: u128) -> Result<Bought> {
    let l = listing(ctx, id).await?;
    if l.terms.open_key.is_some() {
        bail!("listing {id} is public: nothing to buy; download it with `masp get --listing {id}`");
    }
    if l.sender == ctx.me() {
        bail!("listing {id} is your own");
    }
    if l.terms.price > max_price {
        bail!(
            "listing {id} costs {}, above your limit of {} (pass --max-price)",
            units::fmt_masp(l.terms.price),
            units::fmt_masp(max_price)
        );
    }
    let recipient = seal::public_key(&purchase_secret(&ctx.id.master, id));
    let events = ctx
        .submit(&api::tx().listings().buy(id, recipient, max_price))
        .await
        .with_context(|| format!("buying listing {id}"))?;
    let e = events
        .find_first::<api::listings::events::Bought>()
        .ok_or_else(|| anyhow!("the chain did not report the purchase"))??;
    let deadline = match my_purchase(ctx, id).await?.map(|p| p.state) {
        Some(PurchaseState::AwaitingKey { deadline }) => Some(deadline),
        _ => None,
    };
    Ok(Bought {
        price: e.price,
        deadline,
    })
}

fn to_sealed(s: &ChainSealedKey) -> SealedKey {
    SealedKey {
        ephemeral: s.ephemeral,
        ciphertext: s.ciphertext,
        tag: s.tag,
    }
}

/// The file key of `listing` for this account: the public key, or the one
/// sealed to this account's purchase (waiting up to `wait` for the Sender's
/// agent to deliver it). Checked against the listing's commitment.
async fn file_key(ctx: &Ctx, id: ListingId, l: &Listing, wait: Duration) -> Result<Key32> {
    if let Some(key) = l.terms.open_key {
        return Ok(key);
    }
    let started = std::time::Instant::now();
    let sealed = loop {
        match my_purchase(ctx, id).await?.map(|p| p.state) {
            None => bail!(
                "you have no purchase of listing {id}: `masp buy {id}` (or `masp open {id}` if \
                 it is free) first"
            ),
            Some(PurchaseState::Delivered { sealed, .. } | PurchaseState::Settled { sealed }) => {
                break sealed
            }
            Some(PurchaseState::AwaitingKey { deadline }) => {
                if started.elapsed() >= wait {
                    bail!(
                        "the Sender has not delivered the key of listing {id} yet (its agent \
                         may be offline); if it is not on chain by block {deadline} your \
                         payment is refunded. Try again later, or wait longer with --wait"
                    );
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    };
    let secret = purchase_secret(&ctx.id.master, id);
    let context = seal::purchase_context(id, &account_bytes(&ctx.me()));
    let key = seal::open(&to_sealed(&sealed), &secret, &context);
    match key {
        Some(k) if seal::key_commitment(&k) == l.key_commitment => Ok(k),
        _ => bail!(
            "the key the Sender delivered for listing {id} is wrong (it does not open, or is not \
             the key the listing committed to): `masp dispute {id}` within the dispute period \
             refunds you and pays you the listing's deposit"
        ),
    }
}

/// `masp get --listing`: downloads `listing`'s file as a Receiver (see the
/// module docs). Returns where it was written and its size.
pub async fn get(
    ctx: &Ctx,
    id: ListingId,
    out: Option<&Path>,
    parallel: usize,
    wait: Duration,
) -> Result<(PathBuf, u64)> {
    let l = listing(ctx, id).await?;
    let key = file_key(ctx, id, &l, wait).await?;
    // The listed contracts still stored, and their hosts.
    let mut hosts: Vec<(ContractId, HostApi, [u8; 32], AccountId32)> = Vec::new();
    let mut errors = Vec::new();
    for c in &l.contracts.0 {
        match ctx.contract(*c).await? {
            None => errors.push(format!("contract {c} has ended")),
            Some(contract) => match ctx.host_api(&contract.host).await {
                Ok(api) => hosts.push((*c, api, contract.merkle_root, contract.host)),
                Err(e) => errors.push(format!("contract {c}: {e:#}")),
            },
        }
    }
    if hosts.is_empty() {
        bail!(
            "no host of listing {id} can be reached:\n  {}",
            errors.join("\n  ")
        );
    }
    let op = TicketOp::Receive { listing: id };
    let genesis = ctx.chain.genesis_hash().0;
    // The listing manifest, from the first host that has it: checked
    // against the hash on chain, then opened with the file key.
    let mut lm = None;
    for (c, api, _, _) in &hosts {
        let t = sign_ticket(
            &ctx.id.keypair,
            genesis,
            op,
            *c,
            0,
            0,
            None,
            Duration::from_secs(300),
        );
        match api.get_listing_manifest(*c, &l.manifest, &t).await {
            Ok(bytes) if listing_manifest_hash(&bytes) != l.manifest => errors.push(format!(
                "{}: the listing manifest does not match its hash on chain",
                api.endpoint()
            )),
            Ok(bytes) => match open_listing_manifest(&bytes, &key) {
                Ok(m) => {
                    lm = Some(m);
                    break;
                }
                Err(e) => errors.push(format!(
                    "the listing manifest {e}: the Sender listed a file key that is not this \
                     file's"
                )),
            },
            Err(e) => errors.push(e.to_string()),
        }
    }
    let lm = lm.ok_or_else(|| {
        anyhow!(
            "no host returned listing {id}'s manifest:\n  {}",
            errors.join("\n  ")
        )
    })?;
    let out = match out {
        Some(o) => o.to_path_buf(),
        None => receiver_out_path(&lm.name)?,
    };
    let layout =
        shards::check_shards(lm.sealing, lm.k, lm.m, lm.size, &lm.shards).map_err(|e| {
            anyhow!(
                "listing {id}'s manifest does not add up ({e}): the Sender listed a broken file"
            )
        })?;
    // Every listed contract must store one of this file's shards.
    let mut sources = Vec::new();
    for (c, api, root, who) in hosts {
        match lm.shards.iter().find(|s| s.root == root) {
            Some(s) => sources.push(shards::Source {
                shard: s.index as usize,
                contract: c,
                host: who,
                api,
            }),
            None => eprintln!(
                "warning: contract {c} at {} stores another file than the listing names; skipped",
                api.endpoint()
            ),
        }
    }
    if lm.sealing == ChunkSealing::ShardKeys {
        let set = std::sync::Arc::new(shards::ShardSet::new(&key, lm.file_id, layout));
        let reader = shards::Reader::new(ctx, set, &lm.shards, sources, op).await?;
        return shards::read_to_file(ctx, std::sync::Arc::new(reader), &out, parallel).await;
    }
    // Listed by an older client: one ciphertext under the file key on
    // every contract.
    let shard = lm
        .shards
        .first()
        .ok_or_else(|| anyhow!("listing {id}'s manifest lists no ciphertext"))?;
    let cipher = FileCipher::with_file_key(&key, lm.file_id, lm.size);
    let layout = Layout {
        size: lm.size,
        cipher_size: shard.size,
        chunk_roots: shard.chunk_roots.clone(),
    };
    let hosts = sources
        .into_iter()
        .map(|s| (s.contract, s.host, s.api))
        .collect();
    ops::download(ctx, layout, hosts, cipher, op, &out, parallel).await
}

/// Where a Receiver's download goes without `-o`: the name the Sender
/// gave, only if it is a plain name (no leading dot, no control
/// characters) and no file of that name exists here. The Sender chooses
/// that name: it must not replace a Receiver's `.bashrc`.
fn receiver_out_path(name: &[u8]) -> Result<PathBuf> {
    let out = ops::out_path(None, name)?;
    let shown = out.display().to_string();
    if shown.starts_with('.') || shown.chars().any(char::is_control) {
        bail!("the listed file is named {shown:?}: pass -o OUT to choose where it goes");
    }
    if out.exists() {
        bail!("{shown} exists here; pass -o OUT to choose where the listed file goes");
    }
    Ok(out)
}

/// `masp unshare`: closes `listing` to new buyers.
pub async fn unshare(ctx: &Ctx, id: ListingId) -> Result<()> {
    ctx.submit(&api::tx().listings().unshare(id))
        .await
        .with_context(|| format!("unsharing listing {id}"))?;
    Ok(())
}

/// `masp dispute`: shows the chain that the key delivered for this
/// account's purchase of `listing` is wrong, by revealing the purchase's
/// secret (it opens nothing else). Checked here first: a right key is not
/// disputed (the secret would be published for nothing).
pub async fn dispute(ctx: &Ctx, id: ListingId) -> Result<u128> {
    // The secret goes public with the dispute: reveal it only for a key
    // that is on chain, in its dispute period, and wrong.
    let l = listing(ctx, id).await?;
    let now = current_block(ctx).await?;
    let sealed = match my_purchase(ctx, id).await?.map(|p| p.state) {
        None => bail!("you have no purchase of listing {id}"),
        Some(PurchaseState::AwaitingKey { .. }) => {
            bail!("no key was delivered for listing {id} yet: nothing to dispute")
        }
        Some(PurchaseState::Settled { .. }) => {
            bail!("the dispute period of listing {id} is over: the purchase is settled")
        }
        Some(PurchaseState::Delivered { release_at, .. }) if release_at <= now => {
            bail!("the dispute period of listing {id} is over")
        }
        Some(PurchaseState::Delivered { sealed, .. }) => sealed,
    };
    let secret = purchase_secret(&ctx.id.master, id);
    let context = seal::purchase_context(id, &account_bytes(&ctx.me()));
    if seal::open(&to_sealed(&sealed), &secret, &context)
        .is_some_and(|k| seal::key_commitment(&k) == l.key_commitment)
    {
        bail!("the key delivered for listing {id} is right: nothing to dispute");
    }
    let events = ctx
        .submit(&api::tx().listings().dispute_key(id, secret))
        .await
        .with_context(|| format!("disputing the key of listing {id}"))?;
    let e = events
        .find_first::<api::listings::events::Refunded>()
        .ok_or_else(|| anyhow!("the chain did not report the refund"))??;
    Ok(e.amount)
}

/// Where the agent keeps what it learned (none of it secret).
#[derive(Default)]
struct AgentState {
    /// This account's listings and the file each lists.
    mine: BTreeMap<ListingId, RequestId>,
}

/// One purchase the agent delivered a key for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The listing.
    pub listing: ListingId,
    /// The buyer.
    pub buyer: AccountId32,
}

/// One pass of `masp agent`: finds this account's listings with purchases
/// waiting for their key and delivers each (the file key sealed to the
/// buyer's purchase key). Returns what it delivered; failures are logged
/// and retried on the next pass.
async fn agent_pass(ctx: &Ctx, state: &mut AgentState, rescan: bool) -> Result<Vec<Delivery>> {
    let me = ctx.me();
    if rescan {
        for line in listings(ctx, Some(&me), false, None).await? {
            if state.mine.contains_key(&line.id) {
                continue;
            }
            // The file each listing names: the file whose manifest lists
            // one of its contracts, else the request of its contracts.
            let mut request = None;
            for c in &line.listing.contracts.0 {
                if let Some(contract) = ctx.contract(*c).await? {
                    request =
                        Some(manifests::file_of_contract(ctx, *c).unwrap_or(contract.request));
                    break;
                }
            }
            if let Some(r) = request {
                state.mine.insert(line.id, r);
            }
        }
    }
    let mut delivered = Vec::new();
    let at = ctx.at().await?;
    let now = u32::try_from(at.block_number()).unwrap_or(u32::MAX);
    for (&id, &request) in &state.mine {
        match deliver_listing(ctx, &at, id, request, now).await {
            Ok(mut done) => delivered.append(&mut done),
            // One listing's trouble (its file's hosts down) must not stop
            // the others' deliveries.
            Err(e) => tracing::warn!(listing = id, "{e:#}"),
        }
    }
    Ok(delivered)
}

/// Delivers the key to every buyer of listing `id` (of file `request`)
/// still waiting for it at block `now`.
async fn deliver_listing(
    ctx: &Ctx,
    at: &masp_chain::subxt::client::ClientAtBlock<
        masp_chain::MaspConfig,
        masp_chain::subxt::client::OnlineClientAtBlockImpl<masp_chain::MaspConfig>,
    >,
    id: ListingId,
    request: RequestId,
    now: u32,
) -> Result<Vec<Delivery>> {
    let mut delivered = Vec::new();
    let Some(l) = at
        .storage()
        .try_fetch(api::storage().listings().listings(), (id,))
        .await?
    else {
        return Ok(delivered);
    };
    let l: Listing = l.decode()?;
    if l.pending == 0 {
        return Ok(delivered);
    }
    let mut waiting = Vec::new();
    let mut entries = at
        .storage()
        .iter(api::storage().listings().purchases(), (id,))
        .await?;
    while let Some(kv) = entries.next().await {
        let kv = kv?;
        let p = kv.value().decode()?;
        // Past its deadline the purchase is being refunded: a delivery
        // would only fail and cost a fee.
        if matches!(p.state, PurchaseState::AwaitingKey { deadline } if deadline > now) {
            // `Purchases` is (Twox64Concat listing, Blake2_128Concat
            // buyer): the buyer is the key's last 32 bytes.
            let key = kv.key_bytes();
            let buyer: [u8; 32] = key
                .len()
                .checked_sub(32)
                .and_then(|s| key[s..].try_into().ok())
                .ok_or_else(|| anyhow!("short Purchases key"))?;
            waiting.push((AccountId32(buyer), p.recipient));
        }
    }
    if waiting.is_empty() {
        return Ok(delivered);
    }
    let m = find_manifest(ctx, request)
        .await
        .with_context(|| format!("the file of listing {id}"))?;
    let key = FileCipher::file_key(&ctx.id.master, &m.file_id);
    if seal::key_commitment(&key) != l.key_commitment {
        tracing::error!(
            listing = id,
            file = request,
            "the listing committed to another key than the file's; not delivering (buyers \
             will be refunded)"
        );
        return Ok(delivered);
    }
    for (buyer, recipient) in waiting {
        let context = seal::purchase_context(id, &account_bytes(&buyer));
        let Some(sealed) = seal::seal(&key, &recipient, &rand::random(), &context) else {
            tracing::warn!(listing = id, %buyer, "the buyer named a weak key; skipped");
            continue;
        };
        let chain_sealed = ChainSealedKey {
            ephemeral: sealed.ephemeral,
            ciphertext: sealed.ciphertext,
            tag: sealed.tag,
        };
        match ctx
            .submit(&api::tx().listings().deliver_key(id, buyer, chain_sealed))
            .await
        {
            Ok(_) => delivered.push(Delivery { listing: id, buyer }),
            Err(e) => {
                tracing::warn!(listing = id, %buyer, "delivering the key failed: {e:#}")
            }
        }
    }
    Ok(delivered)
}

/// `masp agent`: the Sender's long-running service. Every `interval` it
/// delivers keys for new purchases of this account's listings (rescanning
/// the chain for new listings every `rescan` passes), logging each
/// delivery on standard output, and (with `repair`) rebuilds the lost
/// shards of this account's files on new hosts
/// ([`shards::auto_repair_pass`]). Runs until interrupted; `once` makes one
/// pass and returns (for scripts and tests).
pub async fn agent(ctx: &Ctx, interval: Duration, once: bool, repair: bool) -> Result<usize> {
    let mut state = AgentState::default();
    let mut repairs = shards::AutoRepair::default();
    let mut total = 0usize;
    let mut pass = 0u64;
    loop {
        if repair {
            // Files stored as shards that lost one are rebuilt (logged
            // there; one file's failure is retried later).
            match shards::auto_repair_pass(ctx, &mut repairs).await {
                Ok(_) => {}
                Err(e) if !once => tracing::warn!("repair pass: {e:#} (retrying)"),
                Err(e) => return Err(e),
            }
        }
        let rescan = pass.is_multiple_of(10);
        match agent_pass(ctx, &mut state, rescan).await {
            Ok(done) => {
                for d in &done {
                    tracing::info!(
                        listing = d.listing,
                        buyer = %d.buyer,
                        "delivered the key of listing {} to {}",
                        d.listing,
                        d.buyer
                    );
                }
                total += done.len();
            }
            Err(e) if !once => tracing::warn!("{e:#} (retrying)"),
            Err(e) => return Err(e),
        }
        if once {
            return Ok(total);
        }
        pass += 1;
        tokio::time::sleep(interval).await;
    }
}

/// Parses `--expires`: a duration such as `90m`, `12h`, `7d` (or plain
/// seconds), as blocks from now.
pub fn parse_expiry(s: &str) -> Result<u32> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: u64 = num
        .parse()
        .map_err(|_| anyhow!("--expires {s:?}: use e.g. 90m, 12h or 7d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => bail!("--expires {s:?}: use e.g. 90m, 12h or 7d"),
    };
    let blocks = secs.div_ceil(BLOCK_SECS).max(1);
    u32::try_from(blocks).map_err(|_| anyhow!("--expires {s:?} is too far away"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purchase_keys_are_per_listing_and_strong() {
        let master = [5; 32];
        let a = purchase_secret(&master, 1);
        assert_ne!(a, purchase_secret(&master, 2));
        assert_ne!(a, purchase_secret(&[6; 32], 1));
        let public = seal::public_key(&a);
        assert!(seal::is_canonical(&public) && !seal::is_weak(&public));
    }

    #[test]
    fn expiries_parse_to_blocks() {
        assert_eq!(parse_expiry("60").unwrap(), 10);
        assert_eq!(parse_expiry("90m").unwrap(), 900);
        assert_eq!(parse_expiry("1d").unwrap(), 14_400);
        assert!(parse_expiry("soon").is_err());
        assert!(parse_expiry("5y").is_err());
    }
}
