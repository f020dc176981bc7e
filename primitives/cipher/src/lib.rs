//! # masp-cipher
//!
//! What a MASP file becomes before it leaves the Sender's machine, in one
//! crate with no I/O, so the `masp` command line and the web app (compiled
//! to WASM) seal the same bytes:
//!
//! - [`crypto`]: keys (per file, per shard, for manifests), chunks sealed
//!   with AES-256-GCM, sealed objects (manifests).
//! - [`erasure`]: the K+M shard layout, Reed-Solomon coding of stripes,
//!   and a whole shard set's sealing.

pub mod crypto;
pub mod erasure;
pub mod keys;
pub mod manifest;
