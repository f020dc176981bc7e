//! Benchmarks (frame-benchmarking v2), each in its worst case: proofs of the
//! deepest tree the format allows (48 levels, 128 PiB), and misses that end
//! contracts as lost data.

use super::*;
use crate::Pallet as Proofs;
use alloc::vec::Vec;
use frame_benchmarking::v2::*;
use frame_support::{traits::Get, BoundedVec};
use frame_system::RawOrigin;
use masp_primitives::market::{ContractId, EpochIndex};
use masp_proofs::{hash_leaf, hash_node, Hash, LEAF_SIZE, MAX_DEPTH};

/// A tree of `2^MAX_DEPTH` identical leaves: every leaf has the same path, so
/// one proof answers any challenge. Verification costs what any proof of
/// that depth costs.
fn deepest_tree() -> (u64, Vec<u8>, Vec<Hash>, Hash) {
    let leaf = alloc::vec![7u8; LEAF_SIZE];
    let mut node = hash_leaf(&leaf);
    let mut path = Vec::with_capacity(MAX_DEPTH);
    for _ in 0..MAX_DEPTH {
        path.push(node);
        node = hash_node(&node, &node);
    }
    (1u64 << MAX_DEPTH, leaf, path, node)
}

/// `n` confirmed contracts of one host over the deepest tree.
fn contracts<T: Config>(n: u32) -> (T::AccountId, Vec<ContractId>, EpochIndex, StorageProof) {
    let (leaf_count, leaf, path, root) = deepest_tree();
    let host: T::AccountId = account("host", 0, 0);
    let sender: T::AccountId = account("sender", 0, 0);
    let mut ids = Vec::new();
    let mut first = 0;
    for _ in 0..n {
        let (id, epoch) = T::BenchmarkHelper::confirmed_contract(&host, &sender, root, leaf_count);
        ids.push(id);
        first = epoch;
    }
    let proof = StorageProof {
        leaf: leaf.try_into().expect("one leaf"),
        path: path.try_into().expect("MAX_DEPTH hashes"),
    };
    (host, ids, first, proof)
}

/// Moves to the first block of `epoch` and seeds it.
fn enter<T: Config>(epoch: EpochIndex) {
    let block = T::EpochLength::get() * epoch.into();
    frame_system::Pallet::<T>::set_block_number(block);
    EpochSeeds::<T>::insert(epoch, [9u8; 32]);
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

    /// `n` proofs of 48 levels, each paying its epoch.
    #[benchmark]
    fn submit_proofs(n: Linear<1, { T::MaxProofsPerCall::get() }>) {
        let (host, ids, first, proof) = contracts::<T>(n);
        enter::<T>(first);
        let batch: Vec<(ContractId, StorageProof)> =
            ids.iter().map(|id| (*id, proof.clone())).collect();
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
        let (_, ids, first, _) = contracts::<T>(1);
        on_the_brink::<T>(&ids);
        enter::<T>(first + 1);
        let reporter: T::AccountId = account("reporter", 0, 0);

        #[extrinsic_call]
        _(RawOrigin::Signed(reporter), ids[0], first);

        assert!(Records::<T>::get(ids[0]).is_none());
    }

    /// `n` deadlines settled by the hook, each a last miss.
    #[benchmark]
    fn process_due(n: Linear<0, { T::MaxDuePerBlock::get() }>) {
        let (_, ids, first, _) = contracts::<T>(n);
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
        let (_, ids, first, _) = contracts::<T>(n);
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
