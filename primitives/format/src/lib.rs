//! # masp-format
//!
//! The file format the MASP client writes and reads: a Sender's file
//! manifest ([`manifest`]), a listing's manifest ([`listing`]) and the
//! signed tickets that let it upload to and download from hosts
//! ([`ticket`]). Kept
//! apart from `masp-primitives` (which the runtime needs, with its
//! Substrate dependencies) so the web app's WASM build decodes exactly
//! what the `masp` CLI encodes; `masp-primitives` re-exports both modules.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod listing;
pub mod manifest;
pub mod ticket;

/// Identifies a storage contract (one replica of one request on one host).
pub type ContractId = u64;

/// Identifies a request of a Sender in the order book.
pub type RequestId = u64;
