//! A Sender's file manifest as the client keeps it: sealed under the
//! manifest key (derived from the master key) and bound to its file, and
//! checked to describe a file before anything uses it. The CLI and the web
//! app's WASM build open and check manifests with these same functions.

use std::collections::BTreeSet;

use codec::Encode;
use masp_format::{
    manifest::{sealing_context, ChunkSealing, Manifest, Shard, LEGACY_SEALING_CONTEXT},
    ContractId, RequestId,
};

use crate::{
    crypto::{self, Key},
    erasure::{Layout, ShardError},
};

/// The key manifests are sealed with.
pub fn manifest_key(master: &Key) -> Key {
    crypto::derive(master, &[b"masp/manifest-key/v1"])
}

/// Seals the manifest of file `request`, bound to that file
/// ([`sealing_context`]).
pub fn seal_manifest(master: &Key, request: RequestId, m: &Manifest) -> Vec<u8> {
    crypto::seal_object(
        &manifest_key(master),
        &sealing_context(request),
        &m.encode(),
    )
}

/// How a manifest was sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sealing {
    /// For this file ([`sealing_context`]).
    Bound,
    /// By a client before sealing contexts were bound to the file: it may
    /// be any file's manifest of this account; check it against the chain.
    Legacy,
}

/// Why a sealed manifest could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// It does not open under this key for this file.
    #[error("cannot decrypt the manifest of file {0}: wrong secret phrase, another file's manifest, or the manifest was altered or truncated")]
    Decrypt(RequestId),
    /// It opens but does not decode.
    #[error("the file's manifest: {0}")]
    Decode(String),
    /// Its shards do not describe a file.
    #[error("the manifest of file {0} does not add up ({1}): corrupt")]
    Layout(RequestId, BadManifest),
}

/// Opens the manifest sealed for request `request` and checks its layout
/// ([`check_manifest_layout`]). Manifests sealed by older clients
/// ([`Sealing::Legacy`]) still open; a version 1 or 2 manifest (which does
/// not name its request) gets `request` as its file.
pub fn open_manifest(
    master: &Key,
    request: RequestId,
    sealed: &[u8],
) -> Result<(Manifest, Sealing), ManifestError> {
    let key = manifest_key(master);
    let (plain, sealing) = match crypto::open_object(&key, &sealing_context(request), sealed) {
        Some(plain) => (plain, Sealing::Bound),
        None => (
            crypto::open_object(&key, LEGACY_SEALING_CONTEXT, sealed)
                .ok_or(ManifestError::Decrypt(request))?,
            Sealing::Legacy,
        ),
    };
    let mut m = Manifest::decode_any(&plain).map_err(|e| ManifestError::Decode(e.to_string()))?;
    if m.is_legacy() {
        m.request = request;
    }
    check_manifest_layout(&m).map_err(|e| ManifestError::Layout(request, e))?;
    Ok((m, sealing))
}

/// Why a manifest's shards do not describe a file.
#[derive(Debug, thiserror::Error)]
pub enum BadManifest {
    /// K, M or the size is out of range.
    #[error("its layout: {0}")]
    Layout(#[from] ShardError),
    /// A shard the layout does not store.
    #[error("it lists shard {0}, which its layout does not store")]
    Unexpected(u32),
    /// A shard listed twice.
    #[error("it lists shard {0} twice")]
    Duplicate(u32),
    /// A stored shard missing from the list.
    #[error("it does not list shard {0}, which its layout stores")]
    Missing(usize),
    /// A shard of the wrong size.
    #[error("shard {shard} has {got} bytes, its layout {expected}")]
    Size {
        /// The shard.
        shard: u32,
        /// Bytes listed.
        got: u64,
        /// Bytes of the layout.
        expected: u64,
    },
    /// A shard with the wrong number of chunk roots.
    #[error("shard {shard} has {got} chunk roots, its size makes {expected} chunks")]
    Chunks {
        /// The shard.
        shard: u32,
        /// Roots listed.
        got: usize,
        /// Chunks of its size.
        expected: u64,
    },
    /// Chunk roots that do not make up the shard's root.
    #[error("the chunk roots of shard {0} do not make up its Merkle root: altered")]
    Roots(u32),
    /// A replica of a shard that is not listed.
    #[error("contract {contract} holds shard {shard}, which is not listed")]
    Replica {
        /// The replica's contract.
        contract: ContractId,
        /// The shard it names.
        shard: u32,
    },
}

/// Checks that `shards` are exactly the stored shards of a `size`-byte file
/// laid out K+M (sealed as `sealing`: a file key file is one K=1 shard),
/// with sizes, chunk counts and chunk roots that make up their roots; returns
/// the layout.
pub fn check_shards(
    sealing: ChunkSealing,
    k: u32,
    m: u32,
    size: u64,
    shards: &[Shard],
) -> Result<Layout, BadManifest> {
    let layout = Layout::new(k as usize, m as usize, size)?;
    let stored: BTreeSet<usize> = match sealing {
        // One ciphertext (the K = 1 shard 0's size), on every replica.
        ChunkSealing::FileKey if k == 1 => [0].into(),
        ChunkSealing::FileKey => return Err(BadManifest::Missing(0)),
        ChunkSealing::ShardKeys => layout.stored_shards().collect(),
    };
    let mut seen = BTreeSet::new();
    for s in shards {
        let t = s.index as usize;
        if !stored.contains(&t) {
            return Err(BadManifest::Unexpected(s.index));
        }
        if !seen.insert(t) {
            return Err(BadManifest::Duplicate(s.index));
        }
        if s.size != layout.shard_size(t) {
            return Err(BadManifest::Size {
                shard: s.index,
                got: s.size,
                expected: layout.shard_size(t),
            });
        }
        if s.chunk_roots.len() as u64 != layout.shard_chunks(t) {
            return Err(BadManifest::Chunks {
                shard: s.index,
                got: s.chunk_roots.len(),
                expected: layout.shard_chunks(t),
            });
        }
        if masp_proofs::root_of_chunk_roots(&mut s.chunk_roots.clone()) != s.root {
            return Err(BadManifest::Roots(s.index));
        }
    }
    if let Some(t) = stored.difference(&seen).next() {
        return Err(BadManifest::Missing(*t));
    }
    Ok(layout)
}

/// [`check_shards`] of a whole manifest, and its replicas' shards.
pub fn check_manifest_layout(m: &Manifest) -> Result<Layout, BadManifest> {
    let layout = check_shards(m.sealing, m.k, m.m, m.size, &m.shards)?;
    if let Some(r) = m.replicas.iter().find(|r| m.shard(r.shard).is_none()) {
        return Err(BadManifest::Replica {
            contract: r.contract,
            shard: r.shard,
        });
    }
    Ok(layout)
}
