//! The development chain's randomness source.

use core::marker::PhantomData;
use frame_support::traits::Randomness;
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::traits::{Hash, One, Saturating};

/// Randomness from the parent block's hash, mixed with the subject.
///
/// **Insecure against colluding block authors**: the author of the block
/// before an epoch starts knows (and, by withholding blocks, can choose
/// between) the seeds, so a host that is also a collator could learn its
/// challenges early and keep only the challenged leaves. Good enough for the
/// one-collator development chain and tests. A production parachain plugs the
/// relay chain's BABE VRF output in instead: `cumulus-pallet-parachain-system`
/// exposes the relay chain state proof, from which the relay chain's
/// `Babe::Randomness` of one epoch ago can be read (as `pallet-babe`'s
/// `RandomnessFromOneEpochAgo` does on the relay chain), and no collator can
/// bias it.
pub struct ParentHashRandomness<T>(PhantomData<T>);

impl<T: frame_system::Config> Randomness<T::Hash, BlockNumberFor<T>> for ParentHashRandomness<T> {
    fn random(subject: &[u8]) -> (T::Hash, BlockNumberFor<T>) {
        let parent = frame_system::Pallet::<T>::parent_hash();
        let mut material = subject.to_vec();
        material.extend_from_slice(parent.as_ref());
        (
            T::Hashing::hash(&material),
            frame_system::Pallet::<T>::block_number().saturating_sub(One::one()),
        )
    }
}
