//! `masp-proxy`: relays Senders' connections to hosts, paid per byte.
//!
//! ```text
//! masp-proxy init [--config proxy.toml]      write the settings, every one at its default
//! masp-proxy register [--config proxy.toml]  register (or update) on chain, holding the deposit
//! masp-proxy run [--config proxy.toml]       relay, keep receipts, redeem them
//! ```

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use masp_host::{
    chain::{RelayChain, SubxtChain},
    config::masp_amount,
    egress::{Egress, EgressLimits},
    load_key,
    relay::{
        self,
        config::{self, ProxyConfig, ProxyFlags},
        tls::ProxyTls,
        ChainDirectory, Relay,
    },
    store::{write_atomic, LedgerFile},
};
use masp_primitives::egress::Service;

#[derive(Parser)]
#[command(
    name = "masp-proxy",
    version,
    about = "MASP proxy: relays Senders' connections to hosts so hosts never see their addresses, paid per byte relayed"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes the settings file, every setting at its default (never
    /// overwrites one).
    Init {
        /// Where to write it.
        #[arg(long, default_value = "proxy.toml")]
        config: PathBuf,
    },
    /// Registers this proxy on chain at `public_url` and `price` (or
    /// updates its registration), holding the chain's proxy deposit.
    Register(Common),
    /// Runs the proxy: tunnels to registered hosts, receipts, redemption.
    Run(Common),
}

#[derive(Args)]
struct Common {
    /// The settings file (optional: every setting has a default).
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    flags: ProxyFlags,
}

impl Common {
    fn load(&self) -> anyhow::Result<ProxyConfig> {
        let (path, required) = match &self.config {
            Some(p) => (p.clone(), true),
            None => (PathBuf::from("proxy.toml"), false),
        };
        Ok(config::load(
            &path,
            required,
            std::env::vars(),
            &self.flags,
        )?)
    }
}

fn main() {
    masp_host::init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init { config } => init(&config),
        Command::Register(c) => c
            .load()
            .and_then(|cfg| masp_host::runtime(0)?.block_on(register(cfg))),
        Command::Run(c) => c
            .load()
            .and_then(|cfg| masp_host::runtime(cfg.workers)?.block_on(run(cfg))),
    };
    if let Err(e) = result {
        eprintln!("masp-proxy: {e:#}");
        std::process::exit(1);
    }
}

fn init(path: &std::path::Path) -> anyhow::Result<()> {
    if path.exists() {
        bail!("{} exists; not overwriting it", path.display());
    }
    write_atomic(path, config::template().as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "wrote {}: set public_url and price, put the proxy's secret phrase in its key_file, \
         then run `masp-proxy register` and `masp-proxy run`",
        path.display()
    );
    Ok(())
}

async fn register(cfg: ProxyConfig) -> anyhow::Result<()> {
    let key = load_key(&cfg.key_file)?;
    let chain = SubxtChain::new(&cfg.node_url, key);
    let info = chain
        .register_proxy(&cfg.public_url, cfg.price)
        .await
        .context("registering the proxy")?;
    println!(
        "proxy {} registered at {} relaying at {} MASP per GiB (active: {})",
        chain.account(),
        info.endpoint,
        masp_amount::fmt(info.price_per_gib),
        info.active
    );
    Ok(())
}

async fn run(cfg: ProxyConfig) -> anyhow::Result<()> {
    let key = load_key(&cfg.key_file)?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {} (is the port taken?)", cfg.listen))?;
    let chain = Arc::new(SubxtChain::new(&cfg.node_url, key.clone()));
    let me = chain.account();
    let genesis = loop {
        match chain.client().await {
            Ok(c) => break c.genesis_hash().0,
            Err(e) => {
                tracing::warn!(error = %e, "cannot reach the node to learn its chain; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    };
    match chain.proxy_info().await {
        Ok(Some(p)) if p.active => {}
        Ok(Some(_)) => tracing::warn!("this proxy is deregistering or its deposit is short: Senders will not pick it"),
        Ok(None) => tracing::warn!("this proxy is not registered: run `masp-proxy register`; Senders cannot pay it meanwhile"),
        Err(e) => tracing::warn!(error = %e, "cannot read this proxy's registration now"),
    }
    let ledger = LedgerFile::open(&cfg.data_dir.join("ledger.redb"))
        .with_context(|| format!("opening the ledger in {}", cfg.data_dir.display()))?;
    let egress = Arc::new(
        Egress::open(
            me.0,
            Arc::new(RelayChain(chain.clone())),
            Arc::new(ledger),
            cfg.price,
            EgressLimits::default(),
        )
        .context("reading the ledger")?
        .for_service(Service::Relay),
    );
    let directory = Arc::new(ChainDirectory::new(
        chain.clone(),
        Duration::from_secs(cfg.directory_refresh_secs.max(1)),
    ));
    let mut relay = Relay::new(
        me.0,
        genesis,
        egress.clone(),
        directory.clone(),
        cfg.limits(),
    );
    if cfg.tls {
        let tls = ProxyTls::load_or_create(&cfg.data_dir, &key, &genesis)
            .context("setting up the proxy's TLS (tls = false to run without)")?;
        tracing::info!(cert = %format!("0x{}", hex::encode(tls.cert_hash)), "serving TLS on the same port");
        relay = relay.with_tls(Arc::new(tls));
    }
    let relay = Arc::new(relay);
    tracing::info!(
        account = %me,
        listen = %cfg.listen,
        node = %cfg.node_url,
        credit = cfg.credit_bytes,
        "masp-proxy starting"
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let dir = tokio::spawn(directory.run(stop_rx.clone()));
    let redeem = tokio::spawn(egress.run(
        relay.metrics.redeemed_planck.clone(),
        Duration::from_secs(cfg.redeem_interval_secs.max(1)),
        stop_rx.clone(),
    ));
    let serve = tokio::spawn(relay::serve(listener, relay.clone(), stop_rx));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down; redeeming the receipts held");
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = serve.await;
        let _ = dir.await;
        let _ = redeem.await;
    })
    .await;
    let _ = tokio::time::timeout(
        Duration::from_secs(30),
        relay.ledger().redeem_once(&relay.metrics.redeemed_planck),
    )
    .await;
    Ok(())
}
