//! # masp-host
//!
//! The daemon a MASP storage provider runs next to a chain node.
//!
//! - [`config`]: settings from a TOML file, the environment and flags.
//! - [`store`]: chunk files (atomic writes) and their index (redb).
//! - [`tickets`]: checking the Senders' signed upload/download tickets
//!   and the Receivers' own.
//! - [`listings`]: whether a Receiver may read, from the chain's listings
//!   (answers kept a short while).
//! - [`server`]: the HTTP API (hyper): uploads, downloads, status, health,
//!   metrics.
//! - [`fastpath`]: chunk downloads answered with sendfile(2) before a
//!   connection is handed to hyper.
//! - [`download`]: a download's rules (its route, ticket, range and
//!   payment checks, its answer's head), which both paths follow.
//! - [`egress`]: charging downloaders per byte served (receipts checked
//!   with each chunk, redeemed on chain in batches).
//! - [`chain`]: the chain behind a trait, and its subxt implementation.
//! - [`follower`]: follows the chain: takes new contracts, confirms complete
//!   uploads, proves every epoch, scrubs, deletes ended contracts' data.
//! - [`metrics`]: Prometheus metrics.
//! - [`relay`]: `masp-proxy`, the relay a Sender may put between itself
//!   and hosts (paid per byte relayed).
//! - [`crash_point`]: where crash tests stop the daemon.

pub mod chain;
pub mod config;
pub mod download;
pub mod egress;
#[cfg(target_os = "linux")]
pub mod fastpath;
pub mod follower;
pub mod listings;
pub mod metrics;
pub mod prove;
pub mod relay;
pub mod server;
pub mod store;
pub mod tickets;

/// A crash test's hook: with `MASP_HOST_CRASH_AT=<name>` set, the daemon
/// dies at the point called `name` the way `kill -9` would stop it (abort:
/// no destructor, no flush, no cleanup). The points are the moments a crash
/// hurts most:
/// - `chunk-written`: a chunk file is in place, its index entry not yet;
/// - `proofs-submitted`: the chain took a batch of proofs, the host has not
///   recorded them;
/// - `delete-indexed`: an ended contract is out of the index, its files are
///   still on disk.
///
/// Unset (always, outside tests) it costs one cached lookup.
pub fn crash_point(name: &str) {
    static AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if AT
        .get_or_init(|| std::env::var("MASP_HOST_CRASH_AT").ok())
        .as_deref()
        == Some(name)
    {
        eprintln!("MASP_HOST_CRASH_AT={name}: aborting here (crash test)");
        std::process::abort();
    }
}

/// The account key in `path`: a secret phrase or URI (`//Alice` on a dev
/// chain), as `masp-host` and `masp-proxy` keep it.
pub fn load_key(path: &std::path::Path) -> anyhow::Result<masp_chain::Keypair> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the key file {} (put the account's secret phrase in it, mode 0600)",
            path.display()
        )
    })?;
    let uri: subxt_signer::SecretUri = text
        .trim()
        .parse()
        .map_err(|e| anyhow::anyhow!("{}: not a secret phrase or URI: {e}", path.display()))?;
    subxt_signer::sr25519::Keypair::from_uri(&uri)
        .map_err(|e| anyhow::anyhow!("{}: cannot derive the key: {e}", path.display()))
}

/// The daemons' logging (`RUST_LOG`, default `info`), set up once.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
}

/// The daemons' async runtime: `workers` threads (0: one per CPU core).
pub fn runtime(workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if workers > 0 {
        b.worker_threads(workers);
    }
    b.enable_all()
        .build()
        .context("cannot start the async runtime")
}
