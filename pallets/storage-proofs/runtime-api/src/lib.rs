//! Runtime API of the storage proofs, for the host daemon (which leaf to prove
//! now), clients and polkadot.js apps (`api.call.storageProofsApi`).

#![cfg_attr(not(feature = "std"), no_std)]

pub use pallet_storage_proofs::ProofRecord;

sp_api::decl_runtime_apis! {
    /// The MASP storage proofs.
    pub trait StorageProofsApi {
        /// The current epoch and the first of the leaves `contract` must
        /// prove in it (`None` before the epoch's seed is drawn at its reveal
        /// block, or for an unknown contract). All of them:
        /// `masp_proofs::challenge_indices(seed, contract, epoch, leaf_count,
        /// CHALLENGE_LEAVES)` with the seed in `StorageProofs::EpochSeeds`.
        fn challenge(contract: u64) -> Option<(u32, u64)>;
        /// `contract`'s proof record: next deadline, last proven epoch, misses.
        fn record(contract: u64) -> Option<ProofRecord>;
    }
}
