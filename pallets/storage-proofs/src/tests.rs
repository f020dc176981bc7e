//! The proof rules, each stated as a test with real data: the host's proofs
//! are built with `masp_proofs::FileTree` over real bytes, exactly as the
//! daemon builds them. Every test ends with the three pallets' `try_state`
//! and a check that no MASP was created or destroyed.

use crate::{mock::*, EpochSeeds, Error, Event, Records, StorageProof};
use frame_support::{
    assert_noop, assert_ok,
    traits::{fungible::Inspect, Hooks},
};
use masp_primitives::{
    market::{epoch_cost, ContractId, GIB},
    traits::HostDeposits,
};
use masp_proofs::{leaf_count, CHUNK_SIZE};
use pallet_storage_market as market;

const PRICE: Balance = UNIT;
const DURATION: u32 = 6;

/// A Sender's file: its bytes and tree.
type File = masp_proofs::SampleFile;

fn file(len: usize, seed: u8) -> File {
    File::new(len, seed.into())
}

/// `host` (funded at genesis) stores `f` for ALICE; confirmed at block 1,
/// so the term is epochs 1..=DURATION.
fn stored(host: AccountId, f: &File) -> ContractId {
    stored_for(host, f, DURATION)
}

/// [`stored`] for `duration` epochs.
fn stored_for(host: AccountId, f: &File, duration: u32) -> ContractId {
    if !market::Hosts::<Test>::contains_key(host) {
        assert_ok!(Market::register_host(
            RuntimeOrigin::signed(host),
            b"https://h.example".to_vec().try_into().unwrap(),
            b"EU".to_vec().try_into().unwrap(),
            100 * GIB,
            [0; 32]
        ));
        assert_ok!(Deposits::deposit(RuntimeOrigin::signed(host), 1_000 * UNIT));
        assert_ok!(Market::post_offer(
            RuntimeOrigin::signed(host),
            PRICE,
            10 * GIB,
            1,
            100
        ));
    }
    let id = market::NextContractId::<Test>::get();
    assert_ok!(Market::place_request(
        RuntimeOrigin::signed(ALICE),
        f.bytes.len() as u64,
        f.tree.root(),
        f.tree.leaf_count(),
        1,
        duration,
        PRICE,
        0
    ));
    assert_ok!(Market::confirm_stored(RuntimeOrigin::signed(host), id));
    id
}

/// The multi-proof of `indices` of `f`.
fn proof_of(f: &File, indices: &[u64]) -> StorageProof {
    let p = f.tree.prove_many_in(indices, &f.bytes).unwrap();
    StorageProof {
        leaf: p.leaves.try_into().unwrap(),
        path: p.nodes.try_into().unwrap(),
    }
}

/// The proof of the current challenge (all its leaves), built from the
/// stored bytes.
fn proof(contract: ContractId, f: &File) -> StorageProof {
    let (_, challenge) = Proofs::challenge_indices(contract).expect("seeded");
    proof_of(f, challenge.as_slice())
}

fn submit(
    host: AccountId,
    proofs: Vec<(ContractId, StorageProof)>,
) -> frame_support::dispatch::DispatchResult {
    Proofs::submit_proofs(RuntimeOrigin::signed(host), proofs.try_into().unwrap())
        .map(|_| ())
        .map_err(|e| e.error)
}

/// A proof of other leaves (another contract's, another epoch's) is
/// refused without any change: `InvalidProof` when its shape fits the
/// challenge, `BadPathLength`/`BadLeafLength` when the other leaves share
/// fewer or more path nodes, or are fewer.
fn assert_refused(host: AccountId, proofs: Vec<(ContractId, StorageProof)>) {
    frame_support::assert_storage_noop!({
        let r = submit(host, proofs);
        assert!(
            r == Err(Error::<Test>::InvalidProof.into())
                || r == Err(Error::<Test>::BadPathLength.into())
                || r == Err(Error::<Test>::BadLeafLength.into()),
            "{r:?}"
        );
    });
}

fn backing(contract: ContractId) -> Balance {
    Deposits::backing(contract)
}

#[test]
fn a_valid_proof_pays_the_host_that_epochs_price() {
    build_and_execute(|| {
        let f = file(3 * CHUNK_SIZE + 100, 7);
        let c = stored(H1, &f);
        run_to(EPOCH); // epoch 1: the first of the term
        let host_before = Balances::balance(&H1);
        assert_ok!(submit(H1, vec![(c, proof(c, &f))]));
        let paid = epoch_cost(PRICE, f.bytes.len() as u64).unwrap();
        assert_eq!(Balances::balance(&H1), host_before + paid);
        System::assert_has_event(
            Event::Proven {
                contract: c,
                host: H1,
                epoch: 1,
                paid,
            }
            .into(),
        );
        // Once per epoch.
        assert_noop!(
            submit(H1, vec![(c, proof(c, &f))]),
            Error::<Test>::AlreadyProven
        );
        // Next epoch, a new challenge, paid again.
        run_to(2 * EPOCH);
        assert_ok!(submit(H1, vec![(c, proof(c, &f))]));
        assert_eq!(Balances::balance(&H1), host_before + 2 * paid);
    });
}

#[test]
fn a_bad_proof_is_rejected_with_its_reason_and_changes_nothing() {
    build_and_execute(|| {
        let f = file(2 * CHUNK_SIZE, 3);
        let c = stored(H1, &f);
        let g = file(1000, 5);
        let c2 = stored(H1, &g);
        run_to(EPOCH);
        let good = proof(c, &f);
        let mut tampered = good.clone();
        tampered.leaf[0] ^= 1;
        assert_noop!(submit(H1, vec![(c, tampered)]), Error::<Test>::InvalidProof);
        let mut short = good.clone();
        short.path.pop();
        assert_noop!(submit(H1, vec![(c, short)]), Error::<Test>::BadPathLength);
        let mut cut = good.clone();
        cut.leaf.pop();
        assert_noop!(submit(H1, vec![(c, cut)]), Error::<Test>::BadLeafLength);
        // A valid proof of other leaves is not an answer to this challenge.
        let (_, challenge) = Proofs::challenge_indices(c).unwrap();
        let others: Vec<u64> = challenge
            .as_slice()
            .iter()
            .map(|i| (i + 1) % f.tree.leaf_count())
            .collect();
        let mut others = others;
        others.sort();
        others.dedup();
        assert_eq!(
            others.len(),
            challenge.len(),
            "the test needs 4 other leaves"
        );
        assert_refused(H1, vec![(c, proof_of(&f, &others))]);
        // One bad proof in a batch fails the whole batch.
        let mut bad = proof(c2, &g);
        bad.leaf[3] ^= 0xff;
        assert_noop!(
            submit(H1, vec![(c, good), (c2, bad)]),
            Error::<Test>::InvalidProof
        );
    });
}

#[test]
fn a_proof_for_another_contract_or_a_past_epoch_is_rejected() {
    build_and_execute(|| {
        let f = file(4 * CHUNK_SIZE, 21);
        let g = file(4 * CHUNK_SIZE, 22);
        let c = stored(H1, &f);
        let d = stored(H1, &g);
        run_to(EPOCH);
        // c's proof offered as d's.
        assert_refused(H1, vec![(d, proof(c, &f))]);
        // A proof made in epoch 1 and sent late, in epoch 2 (a new challenge).
        let late = proof(c, &f);
        let (_, then) = Proofs::challenge_indices(c).unwrap();
        run_to(2 * EPOCH);
        let (_, now) = Proofs::challenge_indices(c).unwrap();
        assert_ne!(then, now, "the test needs a new challenge");
        assert_refused(H1, vec![(c, late)]);
        // The current challenge is answered; replaying it fails.
        let fresh = proof(c, &f);
        assert_ok!(submit(H1, vec![(c, fresh.clone())]));
        assert_noop!(submit(H1, vec![(c, fresh)]), Error::<Test>::AlreadyProven);
    });
}

#[test]
fn only_the_host_proves_and_only_confirmed_contracts_in_their_term() {
    build_and_execute(|| {
        let f = file(5000, 9);
        let c = stored(H1, &f);
        // Before the term (epoch 0).
        assert_noop!(
            submit(H1, vec![(c, proof(c, &f))]),
            Error::<Test>::OutsideTerm
        );
        run_to(EPOCH);
        assert_noop!(
            submit(H2, vec![(c, proof(c, &f))]),
            Error::<Test>::NotContractHost
        );
        assert_noop!(
            submit(H1, vec![(99, proof(c, &f))]),
            Error::<Test>::UnknownContract
        );
        assert_noop!(submit(H1, vec![]), Error::<Test>::EmptyBatch);
        // An unconfirmed contract owes nothing yet.
        let g = file(5000, 11);
        let id = market::NextContractId::<Test>::get();
        assert_ok!(Market::place_request(
            RuntimeOrigin::signed(BOB),
            5000,
            g.tree.root(),
            leaf_count(5000),
            1,
            3,
            PRICE,
            0
        ));
        assert_noop!(
            submit(H1, vec![(id, proof(id, &g))]),
            Error::<Test>::NotConfirmed
        );
    });
}

#[test]
fn a_missed_proof_pays_the_sender_from_the_hosts_deposit() {
    build_and_execute(|| {
        let f = file(GIB as usize / 64, 1);
        let c = stored(H1, &f);
        let b0 = backing(c);
        let alice = Balances::balance(&ALICE);
        let host = Balances::balance(&H1);
        // Epoch 1 passes without a proof: settled at the first block of epoch 2.
        run_to(2 * EPOCH);
        let slashed = b0 / 10;
        assert_eq!(backing(c), b0 - slashed);
        assert_eq!(Balances::balance(&ALICE), alice + slashed);
        System::assert_has_event(
            Event::Missed {
                contract: c,
                host: H1,
                epoch: 1,
                consecutive: 1,
                slashed,
                to_sender: slashed,
            }
            .into(),
        );
        // The missed epoch is never paid: the host's free balance is unchanged
        // and a proof now can only be for the current epoch.
        assert_eq!(Balances::balance(&H1), host);
        assert_noop!(
            Proofs::report_missed(RuntimeOrigin::signed(BOB), c, 1),
            Error::<Test>::NotNextDue
        );
    });
}

#[test]
fn consecutive_misses_cost_more_and_a_proof_resets_the_count() {
    build_and_execute(|| {
        let f = file(GIB as usize / 64, 2);
        let c = stored(H1, &f);
        let b0 = backing(c);
        run_to(2 * EPOCH); // miss 1: 10%
        let first = b0 - backing(c);
        assert_eq!(first, b0 / 10);
        let b1 = backing(c);
        run_to(3 * EPOCH); // miss 2: 20% of what backs it now
        let second = b1 - backing(c);
        assert_eq!(second, b1 / 5);
        assert_eq!(Records::<Test>::get(c).unwrap().consecutive_misses, 2);
        // Epoch 3 proven: the streak ends.
        assert_ok!(submit(H1, vec![(c, proof(c, &f))]));
        run_to(4 * EPOCH);
        assert_eq!(Records::<Test>::get(c).unwrap().consecutive_misses, 0);
        assert_eq!(Records::<Test>::get(c).unwrap().total_misses, 2);
        let b3 = backing(c);
        run_to(5 * EPOCH); // a new first miss: 10% again
        assert_eq!(b3 - backing(c), b3 / 10);
    });
}

#[test]
fn after_max_misses_the_data_is_lost_the_contract_ends_and_the_sender_is_refunded() {
    build_and_execute(|| {
        let before = Balances::balance(&ALICE);
        let f = file(GIB as usize / 64, 4);
        let c = stored(H1, &f);
        run_to((1 + MAX_MISSES as u64) * EPOCH);
        System::assert_has_event(
            Event::DataLost {
                contract: c,
                host: H1,
                sender: ALICE,
                misses: MAX_MISSES,
            }
            .into(),
        );
        assert!(market::Contracts::<Test>::get(c).is_none());
        assert!(Records::<Test>::get(c).is_none());
        // Nothing was paid to the host; the Sender got its escrow back plus the slashes.
        assert!(Balances::balance(&ALICE) > before);
        assert_eq!(Deposits::backing(c), 0);
    });
}

#[test]
fn the_last_epoch_is_checked_before_the_contract_ends() {
    build_and_execute(|| {
        let f = file(GIB as usize / 64, 31);
        let c = stored(H1, &f);
        for epoch in 1..DURATION as u64 {
            run_to(epoch * EPOCH);
            assert_ok!(submit(H1, vec![(c, proof(c, &f))]));
        }
        // The last epoch (6) is not proven; the term ends at block 70.
        let b = backing(c);
        run_to((DURATION as u64 + 1) * EPOCH + 1);
        System::assert_has_event(
            Event::Missed {
                contract: c,
                host: H1,
                epoch: DURATION,
                consecutive: 1,
                slashed: b / 10,
                to_sender: b / 10,
            }
            .into(),
        );
        assert!(market::Contracts::<Test>::get(c).is_none());
    });
}

#[test]
fn anyone_reports_a_passed_deadline_at_once() {
    build_and_execute(|| {
        let f = file(GIB as usize / 64, 6);
        let c = stored(H1, &f);
        run_to(EPOCH + 3);
        assert_noop!(
            Proofs::report_missed(RuntimeOrigin::signed(BOB), c, 1),
            Error::<Test>::DeadlineNotPassed
        );
        assert_noop!(
            Proofs::report_missed(RuntimeOrigin::signed(BOB), c, 2),
            Error::<Test>::NotNextDue
        );
        // Epoch 2 began; the hook has not run yet: anyone settles epoch 1.
        System::set_block_number(2 * EPOCH);
        let b0 = backing(c);
        assert_ok!(Proofs::report_missed(RuntimeOrigin::signed(BOB), c, 1));
        assert_eq!(backing(c), b0 - b0 / 10);
        assert_eq!(Records::<Test>::get(c).unwrap().consecutive_misses, 1);
        assert_noop!(
            Proofs::report_missed(RuntimeOrigin::signed(BOB), c, 1),
            Error::<Test>::NotNextDue
        );
        // The queued check is now stale: the hook does not count it twice.
        Proofs::on_initialize(2 * EPOCH);
        assert_eq!(Records::<Test>::get(c).unwrap().total_misses, 1);
        assert_eq!(backing(c), b0 - b0 / 10);
    });
}

#[test]
fn a_proven_epoch_cannot_be_reported_missed() {
    build_and_execute(|| {
        let f = file(10_000, 12);
        let c = stored(H1, &f);
        run_to(EPOCH);
        assert_ok!(submit(H1, vec![(c, proof(c, &f))]));
        System::set_block_number(2 * EPOCH);
        assert_noop!(
            Proofs::report_missed(RuntimeOrigin::signed(BOB), c, 1),
            Error::<Test>::WasProven
        );
    });
}

#[test]
fn one_call_proves_a_batch_of_contracts() {
    build_and_execute(|| {
        let files: Vec<File> = (1..=4)
            .map(|s| file(CHUNK_SIZE + s * 1000, s as u8))
            .collect();
        let ids: Vec<ContractId> = files.iter().map(|f| stored(H1, f)).collect();
        run_to(EPOCH);
        let batch = ids
            .iter()
            .zip(&files)
            .map(|(c, f)| (*c, proof(*c, f)))
            .collect();
        assert_ok!(submit(H1, batch));
        for c in ids {
            assert!(Records::<Test>::get(c).unwrap().proven(1));
        }
    });
}

#[test]
fn each_epoch_has_its_own_seed_and_only_two_are_kept() {
    build_and_execute(|| {
        run_to(3 * EPOCH);
        assert_eq!(EpochSeeds::<Test>::iter().count(), 2);
        let s3 = EpochSeeds::<Test>::get(3).unwrap();
        let s2 = EpochSeeds::<Test>::get(2).unwrap();
        assert_ne!(s2, s3);
        assert!(EpochSeeds::<Test>::get(1).is_none());
    });
}

#[test]
fn the_hook_settles_a_bounded_number_of_deadlines_per_block() {
    build_and_execute(|| {
        let files: Vec<File> = (1..=(2 * MAX_DUE))
            .map(|s| file(1000 + s as usize, s as u8))
            .collect();
        let ids: Vec<ContractId> = files.iter().map(|f| stored(H1, f)).collect();
        run_to(2 * EPOCH);
        let settled = ids
            .iter()
            .filter(|c| Records::<Test>::get(**c).unwrap().total_misses == 1)
            .count();
        assert_eq!(settled, MAX_DUE as usize);
        run_to(2 * EPOCH + 1);
        assert!(ids
            .iter()
            .all(|c| Records::<Test>::get(*c).unwrap().total_misses == 1));
    });
}

// ---------------------------------------------------------------------------
// Issue 18, item 7: several leaves per challenge, a seed unknown until the
// proof window opens.

#[test]
fn a_proof_must_answer_every_challenged_leaf() {
    build_and_execute(|| {
        let f = file(3 * CHUNK_SIZE + 100, 41);
        let c = stored(H1, &f);
        run_to(EPOCH);
        let (_, challenge) = Proofs::challenge_indices(c).unwrap();
        let ix = challenge.as_slice();
        // The white paper's audit: 4 leaves drawn across the whole file.
        assert_eq!(ix.len(), masp_proofs::CHALLENGE_LEAVES);
        // Proving only some of them (the old one-leaf proof) is refused.
        assert_noop!(
            submit(H1, vec![(c, proof_of(&f, &ix[..1]))]),
            Error::<Test>::BadLeafLength
        );
        assert_noop!(
            submit(H1, vec![(c, proof_of(&f, &ix[..3]))]),
            Error::<Test>::BadLeafLength
        );
        // The same leaf sent twice in place of another.
        let mut twice = proof(c, &f);
        let first: Vec<u8> = twice.leaf[..512].to_vec();
        twice.leaf[512..1024].copy_from_slice(&first);
        assert_noop!(submit(H1, vec![(c, twice)]), Error::<Test>::InvalidProof);
        // Extended or truncated node lists.
        let mut long = proof(c, &f);
        long.path.try_push([0; 32]).unwrap();
        assert_noop!(submit(H1, vec![(c, long)]), Error::<Test>::BadPathLength);
        let mut short = proof(c, &f);
        short.path.pop();
        assert_noop!(submit(H1, vec![(c, short)]), Error::<Test>::BadPathLength);
        // All four, sharing path nodes: accepted and paid.
        let p = proof(c, &f);
        let singles: usize = ix
            .iter()
            .map(|i| masp_proofs::path_len(f.tree.leaf_count(), *i))
            .sum();
        assert!(p.path.len() < singles, "shared nodes are sent once");
        assert_ok!(submit(H1, vec![(c, p)]));
        assert!(Records::<Test>::get(c).unwrap().proven(1));
    });
}

#[test]
fn a_host_missing_a_chunk_is_caught_within_days() {
    // A host that dropped one chunk of ten (10%) cannot answer a challenge
    // that touches it: with 4 leaves per epoch that is 34% of epochs (one
    // leaf per epoch: 10%).
    build_and_execute(|| {
        let f = file(10 * CHUNK_SIZE, 43);
        let c = stored_for(H1, &f, 100);
        let dropped = 7u64; // the chunk the host no longer has (10% here)
        let mut caught = 0;
        for e in 1..=20u64 {
            run_to(e * EPOCH);
            let (_, ch) = Proofs::challenge_indices(c).unwrap();
            if ch
                .as_slice()
                .iter()
                .any(|i| i / masp_proofs::LEAVES_PER_CHUNK == dropped)
            {
                caught += 1;
            } else {
                assert_ok!(submit(H1, vec![(c, proof(c, &f))]));
            }
            if Records::<Test>::get(c).is_none() {
                break;
            }
        }
        // 1 - 0.9^4 = 34% of epochs touch the dropped 10%.
        assert!(caught >= 2, "caught {caught} times in 20 epochs");
    });
}

#[test]
fn the_seed_is_unknown_until_the_proof_window_opens() {
    build_and_execute(|| {
        // One-hour epochs of 600 blocks, as in the runtime.
        EpochLen::set(&600);
        let f = file(CHUNK_SIZE, 44);
        let c = stored_for(H1, &f, 5);
        let reveal = Proofs::reveal_block(1);
        assert_eq!(reveal, 600 + 300, "the window is the second half");
        run_to(reveal - 1);
        // Epoch 1 started 299 blocks ago; nobody knows its challenge yet.
        assert_eq!(Proofs::current_epoch(), 1);
        assert!(EpochSeeds::<Test>::get(1).is_none());
        assert!(Proofs::challenge_indices(c).is_none());
        assert_noop!(
            submit(H1, vec![(c, proof_of(&f, &[0, 1, 2, 3]))]),
            Error::<Test>::NoChallengeYet
        );
        // The window opens: the seed is drawn from the block that opens it.
        run_to(reveal);
        assert!(EpochSeeds::<Test>::get(1).is_some());
        assert_ok!(submit(H1, vec![(c, proof(c, &f))]));
        // A proof made now is useless next epoch (new seed, new leaves).
        let late = proof(c, &f);
        run_to(Proofs::reveal_block(2));
        assert_refused(H1, vec![(c, late)]);
        // The first half of epoch 2 was for settling epoch 1, proven.
        assert_eq!(Records::<Test>::get(c).unwrap().total_misses, 0);
    });
}

#[test]
fn a_stale_randomness_delays_the_seed_to_the_next_fresh_block() {
    build_and_execute(|| {
        EpochLen::set(&600);
        let reveal = Proofs::reveal_block(1);
        run_to(reveal - 1);
        // The author of the block before the reveal block withheld the relay
        // randomness: the seed is not drawn from the older value...
        STALE_RANDOMNESS.with(|s| s.set(true));
        run_to(reveal + 1);
        assert!(EpochSeeds::<Test>::get(1).is_none());
        // ...but from the first block whose randomness is fresh.
        STALE_RANDOMNESS.with(|s| s.set(false));
        run_to(reveal + 2);
        assert!(EpochSeeds::<Test>::get(1).is_some());
        System::assert_has_event(
            Event::EpochSeeded {
                epoch: 1,
                seed: EpochSeeds::<Test>::get(1).unwrap(),
            }
            .into(),
        );
    });
}

#[test]
fn short_test_network_epochs_keep_a_whole_epoch_window() {
    build_and_execute(|| {
        assert_eq!(Proofs::reveal_block(3), 3 * EPOCH);
        run_to(3 * EPOCH);
        assert!(EpochSeeds::<Test>::get(3).is_some());
    });
}

// ---------------------------------------------------------------------------
// Issue 18, item 14: a deadline hook more than 32 epochs behind must not turn
// missed epochs into proven ones.

#[test]
fn a_miss_is_slashed_even_when_the_hook_is_more_than_32_epochs_behind() {
    build_and_execute(|| {
        let f = file(GIB as usize / 64, 51);
        let c = stored_for(H1, &f, 50);
        let b0 = backing(c);
        let alice = Balances::balance(&ALICE);
        // The hook is stalled (far behind its queue) from the start. The
        // host proves epoch 1, skips epoch 2, proves 3..=40.
        for e in 1..=40u64 {
            run_stalled_to(e * EPOCH);
            if e != 2 {
                assert_ok!(submit(H1, vec![(c, proof(c, &f))]));
            }
        }
        // Epoch 2 was settled as the miss it was, by the proof that would
        // have pushed it out of the record's reach.
        let r = Records::<Test>::get(c).unwrap();
        assert_eq!(r.total_misses, 1);
        assert!(r.next_check > 2);
        assert_eq!(backing(c), b0 - b0 / 10);
        assert_eq!(Balances::balance(&ALICE), alice + b0 / 10);
        System::assert_has_event(
            Event::Missed {
                contract: c,
                host: H1,
                epoch: 2,
                consecutive: 1,
                slashed: b0 / 10,
                to_sender: b0 / 10,
            }
            .into(),
        );
        // The hook catches up: no epoch is settled twice, none is lost.
        for e in 41..=44u64 {
            run_to(e * EPOCH);
            assert_ok!(submit(H1, vec![(c, proof(c, &f))]));
        }
        run_to(45 * EPOCH + 5);
        let r = Records::<Test>::get(c).unwrap();
        assert_eq!(r.total_misses, 1);
        assert_eq!(r.next_check, 45);
    });
}

#[test]
fn a_proof_too_far_ahead_of_settlement_waits_for_report_missed() {
    build_and_execute(|| {
        let f = file(5000, 52);
        let c = stored_for(H1, &f, 60);
        // Hook stalled; the host proves nothing for 40 epochs (it would have
        // lost the data three epochs in, had the hook run).
        run_stalled_to(40 * EPOCH);
        assert_noop!(
            submit(H1, vec![(c, proof(c, &f))]),
            Error::<Test>::SettlementBehind
        );
        // Anyone settles the backlog; the third miss ends the contract.
        for e in 1..=MAX_MISSES {
            assert_ok!(Proofs::report_missed(RuntimeOrigin::signed(BOB), c, e));
        }
        assert!(market::Contracts::<Test>::get(c).is_none());
        assert!(Records::<Test>::get(c).is_none());
    });
}
