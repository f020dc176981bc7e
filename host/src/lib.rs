//! # masp-host
//!
//! The daemon a MASP storage provider runs next to a chain node.
//!
//! - [`config`]: settings from a TOML file, the environment and flags.
//! - [`store`]: chunk files (atomic writes) and their index (redb).
//! - [`tickets`]: checking the Senders' signed upload/download tickets.
//! - [`server`]: the HTTP API (hyper): uploads, downloads, status, health,
//!   metrics.
//! - [`chain`]: the chain behind a trait, and its subxt implementation.
//! - [`follower`]: follows the chain: takes new contracts, confirms complete
//!   uploads, proves every epoch, scrubs, deletes ended contracts' data.
//! - [`metrics`]: Prometheus metrics.

pub mod chain;
pub mod config;
pub mod follower;
pub mod metrics;
pub mod server;
pub mod store;
pub mod tickets;
