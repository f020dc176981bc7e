//! `masp-host`: the storage provider's daemon.
//!
//! ```text
//! masp-host init [--config host.toml]      write a commented config
//! masp-host register [--config host.toml]  register, post the deposit and an offer
//! masp-host run [--config host.toml]       serve, follow the chain, prove
//! ```

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use masp_chain::{api, ChainError};
use masp_host::{
    chain::SubxtChain,
    config::{self, masp_amount, Config, Overrides},
    egress::{Egress, EgressLimits},
    follower::Follower,
    listings::ReceiverGate,
    metrics::Metrics,
    server::{self, AppState, SystemClock},
    store::{write_atomic, DiskStore, Store},
    tickets::ReplayGuard,
};

#[derive(Parser)]
#[command(name = "masp-host", version, about = "MASP storage host daemon")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes a commented configuration file (never overwrites one).
    Init {
        /// Where to write it.
        #[arg(long, default_value = "host.toml")]
        config: PathBuf,
    },
    /// Registers this host on chain (or updates it), keeps the configured
    /// insurance deposit posted and posts (or updates) its offer.
    Register(Common),
    /// Runs the daemon: HTTP API, chain follower, prover, scrubber.
    Run(Common),
}

#[derive(Args)]
struct Common {
    /// The configuration file.
    #[arg(long, default_value = "host.toml")]
    config: PathBuf,
    #[command(flatten)]
    flags: Overrides,
}

impl Common {
    fn load(&self) -> anyhow::Result<Config> {
        Ok(config::load(&self.config, std::env::vars(), &self.flags)?)
    }
}

use masp_host::load_key;

fn main() {
    masp_host::init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init { config } => init(&config),
        Command::Register(c) => masp_host::runtime(0).and_then(|rt| rt.block_on(register(&c))),
        Command::Run(c) => c
            .load()
            .and_then(|cfg| masp_host::runtime(cfg.workers)?.block_on(run(cfg))),
    };
    if let Err(e) = result {
        eprintln!("masp-host: {e:#}");
        std::process::exit(1);
    }
}

fn init(path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        bail!("{} exists; not overwriting it", path.display());
    }
    write_atomic(path, config::TEMPLATE.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}: edit it, put the host's secret phrase in its key_file, then run `masp-host register` and `masp-host run`", path.display());
    Ok(())
}

async fn register(c: &Common) -> anyhow::Result<()> {
    let cfg = c.load()?;
    let key = load_key(&cfg.key_file)?;
    let chain = SubxtChain::new(&cfg.node_url, key.clone());
    let client = chain.client().await?;
    let me = chain.account();
    let at = client.at_current_block().await?;
    let host = at
        .runtime_apis()
        .call(api::runtime_apis().storage_market_api().host(me))
        .await?;
    let endpoint = api::runtime_types::bounded_collections::bounded_vec::BoundedVec(
        cfg.public_url.as_bytes().to_vec(),
    );
    let region = api::runtime_types::bounded_collections::bounded_vec::BoundedVec(
        cfg.region.as_bytes().to_vec(),
    );
    let ticket_key = key.public_key().0;
    if host.is_none() {
        chain
            .submit(&api::tx().storage_market().register_host(
                endpoint,
                region,
                cfg.capacity,
                ticket_key,
            ))
            .await?;
        println!("registered host {me} at {}", cfg.public_url);
    } else {
        chain
            .submit(&api::tx().storage_market().update_host(
                endpoint,
                region,
                cfg.capacity,
                ticket_key,
            ))
            .await?;
        println!("updated host {me} at {}", cfg.public_url);
    }
    let posted = match at
        .storage()
        .try_fetch(api::storage().deposits().deposits(), (me,))
        .await?
    {
        Some(v) => v.decode()?.total,
        None => 0,
    };
    let want = cfg.deposit;
    if posted < want {
        chain
            .submit(&api::tx().deposits().deposit(want - posted))
            .await?;
        println!("deposit raised to {} MASP", masp_amount::fmt(want));
    }
    let offers = at
        .runtime_apis()
        .call(api::runtime_apis().storage_market_api().host_offers(me))
        .await?;
    match offers.first() {
        None => {
            chain
                .submit(&api::tx().storage_market().post_offer(
                    cfg.price,
                    cfg.capacity,
                    cfg.min_duration,
                    cfg.max_duration,
                ))
                .await?;
            println!(
                "offer posted: {} MASP per GiB per epoch",
                masp_amount::fmt(cfg.price)
            );
        }
        Some((id, _)) => {
            chain
                .submit(&api::tx().storage_market().update_offer(
                    *id,
                    cfg.price,
                    cfg.capacity,
                    cfg.min_duration,
                    cfg.max_duration,
                ))
                .await?;
            println!(
                "offer {id} updated: {} MASP per GiB per epoch",
                masp_amount::fmt(cfg.price)
            );
        }
    }
    let egress = chain.sync_egress_price(cfg.egress_price).await?;
    println!(
        "egress price: {} MASP per GiB served",
        masp_amount::fmt(egress)
    );
    Ok(())
}

async fn run(cfg: Config) -> anyhow::Result<()> {
    let key = load_key(&cfg.key_file)?;
    let disk = Arc::new(
        DiskStore::open(&cfg.data_dir)
            .with_context(|| format!("opening the data dir {}", cfg.data_dir.display()))?,
    );
    // The download uses of tickets recorded before a restart, and the chain
    // this data dir serves.
    let replay = ReplayGuard::open(disk.clone(), server::Clock::now(&SystemClock))
        .context("reading the ticket record")?;
    let store: Arc<dyn Store> = disk.clone();
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {} (is the port taken?)", cfg.listen))?;
    let chain = Arc::new(SubxtChain::new(&cfg.node_url, key));
    // Charged at the configured price until the chain says otherwise.
    let egress = Arc::new(
        Egress::open(
            chain.account().0,
            chain.clone(),
            disk,
            cfg.egress_price,
            EgressLimits::default(),
        )
        .context("reading the egress record")?,
    );
    let state = Arc::new(AppState {
        store,
        clock: Arc::new(SystemClock),
        replay,
        receivers: ReceiverGate::new(chain.clone()),
        egress: egress.clone(),
        metrics: Arc::new(Metrics::new()),
        complete: tokio::sync::Notify::new(),
        best_block: Default::default(),
        chain_seen_at: Default::default(),
    });
    // Tickets are signed for one chain: learn which from the node (already
    // known if this data dir served before), and never serve another.
    loop {
        match chain.client().await {
            Ok(c) => {
                state.replay.bind_chain(c.genesis_hash().0)?;
                break;
            }
            Err(e) if state.replay.genesis().is_some() => {
                tracing::warn!(error = %e, "node not reachable; serving the recorded chain meanwhile");
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot reach the node to learn its chain; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
    // The egress price: the configured one, set on chain if it differs;
    // the host charges the chain's value (refreshed by the redeemer).
    match chain.sync_egress_price(cfg.egress_price).await {
        Ok(price) => egress.set_price(price),
        Err(e) => {
            tracing::warn!(error = %e, "cannot set the egress price on chain now; the redeemer reads it later")
        }
    }
    tracing::info!(
        account = %chain.account(),
        egress_price = %egress.price(),
        listen = %cfg.listen,
        node = %cfg.node_url,
        data = %cfg.data_dir.display(),
        "masp-host starting"
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let follower = Follower::new(chain, state.clone(), &cfg);
    let follow = tokio::spawn(follower.run(cfg.poll_interval(), stop_rx.clone()));
    let redeem = tokio::spawn(egress.run(
        state.metrics.egress_redeemed_planck.clone(),
        cfg.redeem_interval(),
        stop_rx.clone(),
    ));
    let limits = server::Limits {
        max_connections: connection_limit(cfg.max_connections),
        max_connections_per_ip: cfg.max_connections_per_ip,
        body_timeout: Duration::from_secs(cfg.body_timeout_secs),
    };
    let serve = tokio::spawn(server::serve_with(listener, state, stop_rx, limits));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(15), async {
        let _ = serve.await;
        let _ = follow.await;
        let _ = redeem.await;
    })
    .await;
    tracing::info!("stopped");
    Ok(())
}

/// The connections to serve at once: `wanted`, or fewer if the open-file
/// limit (raised to its hard limit first) would not leave the prover its
/// descriptors ([`server::connection_budget`]).
fn connection_limit(wanted: usize) -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    // `None`: no limit.
    let lim = getrlimit(Resource::Nofile);
    let (mut nofile, hard) = (
        lim.current.unwrap_or(u64::MAX),
        lim.maximum.unwrap_or(u64::MAX),
    );
    // Raising the soft limit up to the hard one needs no privilege (a
    // system that refuses an unlimited one keeps its limit).
    if nofile < hard {
        let raised = Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            nofile = hard;
        }
    }
    let n = server::connection_budget(nofile, wanted);
    if n < wanted {
        tracing::warn!(
            nofile,
            max_connections = n,
            "the open-file limit allows fewer connections than configured (raise `ulimit -n`)"
        );
    }
    n
}

#[allow(dead_code)]
fn is_module(e: &ChainError, name: &str) -> bool {
    e.module_error() == Some(name)
}
