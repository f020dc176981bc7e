//! Benchmarks (frame-benchmarking v2), each in its worst case: multi-proofs
//! of [`CHALLENGE_LEAVES`] leaves of the deepest tree the format allows (48
//! levels, 128 PiB), each item with its own Sender (and, in the hook, its own
//! host), and misses that end contracts as lost data.

use super::*;
use crate::Pallet as Proofs;
use alloc::vec::Vec;
use frame_benchmarking::v2::*;
use frame_support::{traits::Get, BoundedVec};
use frame_system::RawOrigin;
use masp_primitives::{
    market::{ContractId, EpochIndex},
    traits::BenchmarkContracts,
};
use masp_proofs::{build_multi_with, challenge_indices, DeepestTree, Hash, CHALLENGE_LEAVES};

/// The seed the benchmarks' epochs get.
const SEED: Hash = [9u8; 32];

const DEEPEST_LEAVES: u64 = DeepestTree::LEAVES;

fn deepest_tree() -> DeepestTree {
    DeepestTree::new()
}

/// The proof `contract` owes in `epoch` (seeded with [`SEED`]).
fn proof_for(tree: &DeepestTree, contract: ContractId, epoch: EpochIndex) -> StorageProof {
    let challenge = challenge_indices(&SEED, contract, epoch, DEEPEST_LEAVES, CHALLENGE_LEAVES);
    let mut leaves = Vec::new();
    for _ in challenge.as_slice() {
        leaves.extend_from_slice(&tree.leaf);
    }
    let mut nodes = Vec::new();
    let root = build_multi_with(
        DEEPEST_LEAVES,
        challenge.as_slice(),
        &leaves,
        |level, _| tree.levels.get(level).copied(),
        |node| nodes.push(node),
    );
    assert_eq!(root, Ok(tree.root));
    StorageProof {
        leaf: leaves.try_into().expect("CHALLENGE_LEAVES leaves"),
        path: nodes.try_into().expect("at most MAX_MULTI_NODES"),
    }
}

/// `n` confirmed contracts over the deepest tree, each with its own Sender,
/// and each with its own host if `distinct_hosts` (else all of host 0).
fn contracts<T: Config>(
    n: u32,
    distinct_hosts: bool,
) -> (T::AccountId, Vec<ContractId>, EpochIndex, DeepestTree) {
    let tree = deepest_tree();
    let host0: T::AccountId = account("host", 0, 0);
    let mut ids = Vec::new();
    let mut first = 0;
    for i in 0..n {
        let host: T::AccountId = account("host", if distinct_hosts { i } else { 0 }, 0);
        let sender: T::AccountId = account("sender", i, 0);
        let (id, epoch) =
            T::BenchmarkHelper::confirmed_contract(&host, &sender, tree.root, DEEPEST_LEAVES)
                .expect("the market makes a benchmark contract");
        ids.push(id);
        first = epoch;
    }
    (host0, ids, first, tree)
}

/// Moves into `epoch`'s proof window and seeds it.
fn enter<T: Config>(epoch: EpochIndex) {
    frame_system::Pallet::<T>::set_block_number(Proofs::<T>::reveal_block(epoch));
    EpochSeeds::<T>::insert(epoch, SEED);
}

/// Makes each contract's next miss its last.
fn on_the_brink<T: Config>(ids: &[ContractId]) {
    for id in ids {
        Records::<T>::mutate(id, |r| {
            if let Some(r) = r {
                r.consecutive_misses = T::MaxConsecutiveMisses::get().saturating_sub(1);
            }
        });
    }
}

#[benchmarks]
mod benchmarks {
    use super::*;

    /// `n` multi-proofs of `CHALLENGE_LEAVES` leaves of 48 levels, each
    /// paying its epoch out of its own Sender's escrow.
    #[benchmark]
    fn submit_proofs(n: Linear<1, { T::MaxProofsPerCall::get() }>) {
        let (host, ids, first, tree) = contracts::<T>(n, false);
        enter::<T>(first);
        let batch: Vec<(ContractId, StorageProof)> = ids
            .iter()
            .map(|id| (*id, proof_for(&tree, *id, first)))
            .collect();
        let batch: BoundedVec<_, T::MaxProofsPerCall> = batch.try_into().expect("n <= max");

        #[extrinsic_call]
        _(RawOrigin::Signed(host), batch);

        for id in ids {
            assert!(Records::<T>::get(id).is_some_and(|r| r.proven(first)));
        }
    }

    /// A reported miss that is the last one: slash, then the contract ends.
    #[benchmark]
    fn report_missed() {
        let (_, ids, first, _) = contracts::<T>(1, true);
        on_the_brink::<T>(&ids);
        enter::<T>(first + 1);
        let reporter: T::AccountId = account("reporter", 0, 0);

        #[extrinsic_call]
        _(RawOrigin::Signed(reporter), ids[0], first);

        assert!(Records::<T>::get(ids[0]).is_none());
    }

    /// `n` deadlines settled by the hook, each a last miss of its own host
    /// and Sender.
    #[benchmark]
    fn process_due(n: Linear<0, { T::MaxDuePerBlock::get() }>) {
        let (_, ids, first, _) = contracts::<T>(n, true);
        on_the_brink::<T>(&ids);
        let deadline = Proofs::<T>::deadline_of(first);
        frame_system::Pallet::<T>::set_block_number(deadline);
        DueCursor::<T>::put((deadline, 0));

        #[block]
        {
            Proofs::<T>::process_due(deadline, n);
        }

        assert_eq!(Records::<T>::iter().count(), 0);
    }

    /// The hook settling `MaxDuePerBlock` last misses while `c` contracts
    /// (their proof records) exist: its cost depends on the items settled,
    /// not on how many contracts the chain stores. Extra: run by
    /// `scripts/bench-proofs` (10^3 vs 10^6), not by the weight generation.
    #[benchmark(extra)]
    fn process_due_at_scale(c: Linear<1_000, 1_000_000>) {
        let n = T::MaxDuePerBlock::get();
        let (_, ids, first, _) = contracts::<T>(n, true);
        on_the_brink::<T>(&ids);
        for i in 0..c {
            Records::<T>::insert(u64::MAX - i as u64, ProofRecord::default());
        }
        let deadline = Proofs::<T>::deadline_of(first);
        frame_system::Pallet::<T>::set_block_number(deadline);
        DueCursor::<T>::put((deadline, 0));

        #[block]
        {
            Proofs::<T>::process_due(deadline, n);
        }

        for id in ids {
            assert!(Records::<T>::get(id).is_none());
        }
    }

    impl_benchmark_test_suite!(Proofs, crate::mock::new_test_ext(), crate::mock::Test);
}
