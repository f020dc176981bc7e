//! Benchmarks (frame-benchmarking v2), each in its worst case: a challenge
//! opened through a listing (the costliest access check), an answer of a
//! full piece of the deepest tree the format allows (48 levels, 128 PiB)
//! placed so it needs a sibling on both sides at every level, and a failure
//! that slashes the host's deposit.

use super::*;
use crate::Pallet as Retrieval;
use alloc::vec::Vec;
use frame_benchmarking::v2::*;
use frame_support::traits::{fungible::Mutate, Get};
use frame_system::RawOrigin;
use masp_primitives::market::ContractId;
use masp_proofs::{build_multi_with, DeepestTree};
use sp_runtime::traits::{One, Saturating};

const DEEPEST_LEAVES: u64 = DeepestTree::LEAVES;

fn deepest_tree() -> DeepestTree {
    DeepestTree::new()
}

/// A piece across the middle of the tree whose first leaf is a right child
/// at every level (`0111...1`): it needs a left sibling at every level and
/// a right one at most of them, near the most a piece needs.
const WORST_FIRST_LEAF: u64 = DEEPEST_LEAVES / 2 - 1;

/// A live contract over the deepest tree, its host and Sender funded.
fn contract<T: Config>() -> (T::AccountId, T::AccountId, ContractId, DeepestTree) {
    let tree = deepest_tree();
    let host: T::AccountId = account("host", 0, 0);
    let sender: T::AccountId = account("sender", 0, 0);
    let id = T::BenchmarkHelper::confirmed_contract(&host, &sender, tree.root, DEEPEST_LEAVES);
    (host, sender, id, tree)
}

/// A reader with access through a listing, funded for the deposit.
fn reader<T: Config>(sender: &T::AccountId, contract: ContractId) -> (T::AccountId, u64) {
    let reader: T::AccountId = account("reader", 0, 0);
    let _ = T::Currency::set_balance(&reader, T::ChallengeDeposit::get().saturating_mul(1_000));
    let listing = T::BenchmarkHelper::grant_access(sender, &reader, contract);
    (reader, listing)
}

/// The answer to the piece at `first` of `tree`.
fn piece_of(tree: &DeepestTree, first: u64) -> (PieceBytes, PiecePath) {
    let indices: Vec<u64> = (first..first + PIECE_LEAVES).collect();
    let mut leaves = Vec::new();
    for _ in &indices {
        leaves.extend_from_slice(&tree.leaf);
    }
    let mut nodes = Vec::new();
    let root = build_multi_with(
        DEEPEST_LEAVES,
        &indices,
        &leaves,
        |level, _| tree.levels.get(level).copied(),
        |node| nodes.push(node),
    );
    assert_eq!(root, Ok(tree.root));
    (
        leaves.try_into().expect("a full piece"),
        nodes.try_into().expect("at most MAX_PIECE_NODES"),
    )
}

#[benchmarks]
mod benchmarks {
    use super::*;

    /// A Receiver opens a challenge through a listing.
    #[benchmark]
    fn open() {
        let (_, sender, id, _) = contract::<T>();
        let (reader, listing) = reader::<T>(&sender, id);

        #[extrinsic_call]
        _(
            RawOrigin::Signed(reader),
            id,
            WORST_FIRST_LEAF,
            Some(listing),
        );

        assert_eq!(OpenPerContract::<T>::get(id), 1);
    }

    /// The host answers a full piece of 48 levels with the most siblings.
    #[benchmark]
    fn answer() {
        let (host, sender, id, tree) = contract::<T>();
        let (reader, listing) = reader::<T>(&sender, id);
        Retrieval::<T>::open(
            RawOrigin::Signed(reader).into(),
            id,
            WORST_FIRST_LEAF,
            Some(listing),
        )
        .expect("opens");
        let (piece, path) = piece_of(&tree, WORST_FIRST_LEAF);
        assert!(
            path.len() as u32 >= MAX_PIECE_NODES - 2 * 3,
            "near the most siblings"
        );

        #[extrinsic_call]
        _(RawOrigin::Signed(host), 0, piece, path);

        assert_eq!(OpenPerContract::<T>::get(id), 0);
    }

    /// An unanswered challenge settled: the host's deposit is slashed and
    /// the challenger paid.
    #[benchmark]
    fn settle() {
        let (_, sender, id, _) = contract::<T>();
        let (reader, listing) = reader::<T>(&sender, id);
        Retrieval::<T>::open(
            RawOrigin::Signed(reader.clone()).into(),
            id,
            WORST_FIRST_LEAF,
            Some(listing),
        )
        .expect("opens");
        let after = frame_system::Pallet::<T>::block_number()
            .saturating_add(T::ResponsePeriod::get())
            .saturating_add(One::one());
        frame_system::Pallet::<T>::set_block_number(after);

        #[extrinsic_call]
        _(RawOrigin::Signed(reader), 0);

        assert!(Challenges::<T>::get(0).is_none());
    }

    impl_benchmark_test_suite!(Retrieval, crate::mock::new_test_ext(), crate::mock::Test);
}
