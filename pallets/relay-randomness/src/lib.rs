//! # Relay randomness pallet
//!
//! Where the challenge seed comes from on a relay network: the relay chain's
//! BABE VRF output of the relay parent (`Babe::AuthorVrfRandomness`, the
//! well-known key `CURRENT_BLOCK_RANDOMNESS`), read from the relay chain state
//! proof that every parachain block carries and that the relay chain's
//! validators check against the relay parent's state root. Cumulus collators
//! put that key in every proof.
//!
//! - **Hook**: `cumulus-pallet-parachain-system` calls
//!   [`OnSystemEvent::on_relay_state_proof`] once per block with the verified
//!   proof; the pallet keeps the value and the para block it was seen in, in
//!   [`Latest`].
//! - **[`Randomness`]**: `random(subject)` is
//!   `blake2_256("masp/relay-randomness" ++ randomness ++ subject)`, with the
//!   para block in which it was seen. Until a relay value was seen (genesis; the
//!   dev chain, whose mocked proof carries none) it answers from
//!   [`Config::Fallback`] and says so in [`Pallet::source`].
//!
//! **Why a collator cannot choose it.** The relay parent's VRF output is not
//! known before that relay block exists, and a collator picks only which of
//! the few relay blocks it may build on (the relay chain's allowed ancestry:
//! about three) it uses. It cannot forge the value (the proof must match the
//! relay parent's state root) and leaving the key out of its proof only keeps
//! the older value, marked by its older `seen_at`: a consumer that needs a
//! fresh value (the proofs pallet draws a seed only from randomness seen in
//! the previous block) then waits a block for another author. It never falls
//! back to the fallback once a relay value was seen.
//!
//! (Not `ONE_EPOCH_AGO_RANDOMNESS`: that is BABE's `NextRandomness`, public
//! for a whole relay epoch — four hours on Polkadot — so challenges drawn
//! from it would be known hours before their proof window opens.)

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod weights;
pub use weights::WeightInfo;

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use cumulus_pallet_parachain_system::{relay_state_snapshot::RelayChainStateProof, OnSystemEvent};
use cumulus_primitives_core::{relay_chain, PersistedValidationData};
use frame_support::{traits::Randomness, weights::Weight};
use scale_info::TypeInfo;
use sp_core::H256;

/// Domain separation of [`Pallet::random_of`].
pub const DOMAIN: &[u8] = b"masp/relay-randomness";

/// The relay chain's randomness as last seen in a relay state proof.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Debug,
    Encode,
    Decode,
    DecodeWithMemTracking,
    TypeInfo,
    MaxEncodedLen,
)]
pub struct RelayRandomness<BlockNumber> {
    /// The relay parent's BABE VRF output (`Babe::AuthorVrfRandomness`).
    pub randomness: H256,
    /// The para block whose relay state proof carried it.
    pub seen_at: BlockNumber,
}

/// Where [`Pallet`]'s randomness came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Source {
    /// The relay chain's BABE randomness.
    Relay,
    /// [`Config::Fallback`]: no relay randomness was seen yet.
    Fallback,
}

#[frame_support::pallet]
pub mod pallet {
    use super::*;
    use frame_support::pallet_prelude::*;
    use frame_system::pallet_prelude::*;

    /// The layout of this pallet's storage. Bump it with every change to a
    /// stored type or key, together with a migration from the previous
    /// version (see pallets/README.md, "Storage versions and migrations").
    const STORAGE_VERSION: StorageVersion = StorageVersion::new(0);

    #[pallet::pallet]
    #[pallet::storage_version(STORAGE_VERSION)]
    pub struct Pallet<T>(_);

    #[pallet::config]
    pub trait Config: frame_system::Config {
        /// Answers [`Randomness::random`] until the first relay randomness is
        /// seen (the dev chain's parent-hash source, for instance).
        type Fallback: Randomness<Self::Hash, BlockNumberFor<Self>>;
        /// Weight of the hook, from the pallet's benchmark.
        type WeightInfo: WeightInfo;
    }

    /// The relay chain's randomness as last seen, with the para block that
    /// saw it. `None` until the first relay state proof carrying it.
    #[pallet::storage]
    pub type Latest<T: Config> = StorageValue<_, RelayRandomness<BlockNumberFor<T>>, OptionQuery>;

    #[pallet::hooks]
    impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
        #[cfg(feature = "try-runtime")]
        fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
            Self::do_try_state()
        }
    }

    impl<T: Config> Pallet<T> {
        /// Where [`Randomness::random`] answers from now.
        pub fn source() -> Source {
            if Latest::<T>::exists() {
                Source::Relay
            } else {
                Source::Fallback
            }
        }

        /// `blake2_256(DOMAIN ++ randomness ++ subject)` (SCALE-encoded): what
        /// [`Randomness::random`] answers for `subject` from `r`.
        pub fn random_of(r: &RelayRandomness<BlockNumberFor<T>>, subject: &[u8]) -> H256 {
            let material = (DOMAIN, r.randomness, subject).encode();
            <sp_runtime::traits::BlakeTwo256 as sp_runtime::traits::Hash>::hash(&material)
        }

        /// Keeps the relay parent's randomness from a verified relay state
        /// proof. A proof without it (proven absent, as on the dev chain, or
        /// left out by its author) changes nothing.
        pub(crate) fn note_proof(proof: &RelayChainStateProof) -> Weight {
            // `AuthorVrfRandomness` is an `Option<[u8; 32]>` value.
            let read = proof.read_optional_entry::<Option<[u8; 32]>>(
                relay_chain::well_known_keys::CURRENT_BLOCK_RANDOMNESS,
            );
            if let Ok(Some(Some(randomness))) = read {
                Latest::<T>::put(RelayRandomness {
                    randomness: H256(randomness),
                    seen_at: frame_system::Pallet::<T>::block_number(),
                });
            }
            T::WeightInfo::on_relay_state_proof()
        }

        /// Checks the pallet's invariants: the kept randomness was seen no
        /// later than now.
        /// Always compiled: the runtime's tests run it over real chains'
        /// states (runtime/tests/try_state.rs).
        pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
            if let Some(r) = Latest::<T>::get() {
                ensure!(
                    r.seen_at <= frame_system::Pallet::<T>::block_number(),
                    "relay randomness seen in the future"
                );
            }
            Ok(())
        }
    }
}

impl<T: Config> Randomness<T::Hash, frame_system::pallet_prelude::BlockNumberFor<T>> for Pallet<T>
where
    T::Hash: From<H256>,
{
    /// The relay chain's epoch randomness mixed with `subject`, and the para
    /// block from which it was known; [`Config::Fallback`]'s answer before
    /// any was seen.
    fn random(subject: &[u8]) -> (T::Hash, frame_system::pallet_prelude::BlockNumberFor<T>) {
        match Latest::<T>::get() {
            Some(r) => (Self::random_of(&r, subject).into(), r.seen_at),
            None => T::Fallback::random(subject),
        }
    }
}

impl<T: Config> OnSystemEvent for Pallet<T> {
    fn on_validation_data(_data: &PersistedValidationData) {}

    fn on_validation_code_applied() {}

    fn on_relay_state_proof(relay_state_proof: &RelayChainStateProof) -> Weight {
        Self::note_proof(relay_state_proof)
    }
}
