//! The MASP client library behind the `masp` command line.
//!
//! Zero knowledge: everything a host or the chain receives is produced here
//! from the user's secret phrase, and is ciphertext, a size or a Merkle
//! root.
//!
//! - [`keys`]: one phrase gives the chain account (as polkadot.js derives
//!   it) and the master key; the key file on disk is sealed with a password.
//! - [`crypto`] (from `masp-cipher`, shared with the web app's WASM): the
//!   per-file AES-256-GCM chunk format.
//! - [`pipeline`]: read + chunk + encrypt + Merkle on every core.
//! - [`erasure`] (from `masp-cipher`): K data + M parity shards of a file
//!   (Reed-Solomon over stripes of K plaintext chunks; copies for K = 1).
//! - [`shards`]: put, get and repair of files stored as shards, each
//!   sealed under its own key and stored as its own contract on its own
//!   host; the health `masp ls` shows; `masp agent`'s automatic repair.
//! - [`fsutil`]: atomic writes (temp + fsync + rename).
//! - [`hostapi`]: hosts' HTTP(S) API with signed tickets (rustls; no
//!   loopback/private endpoints off a development chain).
//! - [`egress`]: paying hosts per byte served (channels and receipts).
//! - [`ops`]: manifests, get, ls, rm, quote against the chain and the hosts.
//! - [`listings`]: share, buy/open, get as a Receiver, and the Sender's
//!   `masp agent` that delivers keys.
//! - [`retrieval`]: `masp challenge`, for a host that will not serve: a
//!   piece on chain, or the host slashed.
//! - [`relay`]: `--proxy`/`--hops`: host connections through paid proxies.
//! - [`roles`]: `masp hosts`, `masp sale`, `masp insurance`.

pub use masp_cipher::crypto;
pub mod egress;
pub use masp_cipher::erasure;
pub mod fsutil;
pub mod hostapi;
pub mod keys;
pub mod links;
pub mod listings;
pub mod manifests;
pub mod ops;
pub mod pipeline;
pub mod relay;
pub mod retrieval;
pub mod roles;
pub mod shards;
pub mod units;

pub use subxt_signer::bip39;
