//! The rating rules, through the real market and proofs pallets: hosts store
//! real data, prove it (or not), and the rating follows. Every test ends with
//! all pallets' `try_state` and a check that no MASP was created or destroyed.

use crate::{mock::*, Metrics, SenderValue, Top};
use frame_support::assert_ok;
use masp_primitives::{
    market::{ContractId, RATING_MAX},
    traits::{ContractEnd, ContractObserver, HostRatingProvider, ProofObserver},
};
use masp_proofs::{FileTree, CHUNK_SIZE};
use pallet_storage_market as market;
use pallet_storage_proofs::StorageProof;

const PRICE: Balance = UNIT;

struct File {
    bytes: Vec<u8>,
    tree: FileTree,
}

fn file(len: usize, seed: u8) -> File {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ seed as u64;
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let tree = FileTree::build(&bytes[..]).unwrap();
    File { bytes, tree }
}

fn host(h: AccountId, price: Balance) {
    assert_ok!(Market::register_host(
        RuntimeOrigin::signed(h),
        b"https://h.example".to_vec().try_into().unwrap(),
        b"EU".to_vec().try_into().unwrap(),
        100 * GIB,
        [0; 32]
    ));
    assert_ok!(Deposits::deposit(RuntimeOrigin::signed(h), 1_000 * UNIT));
    assert_ok!(Market::post_offer(
        RuntimeOrigin::signed(h),
        price,
        10 * GIB,
        1,
        100
    ));
}

const GIB: u64 = 1 << 30;

/// `sender` stores `f` for `duration` epochs on the cheapest host rated at
/// least `min_rating`; returns the contract (confirmed by its host).
fn stored(sender: AccountId, f: &File, duration: u32, min_rating: u32) -> (ContractId, AccountId) {
    let id = market::NextContractId::<Test>::get();
    assert_ok!(Market::place_request(
        RuntimeOrigin::signed(sender),
        f.bytes.len() as u64,
        f.tree.root(),
        f.tree.leaf_count(),
        1,
        duration,
        10 * PRICE,
        min_rating
    ));
    let c = market::Contracts::<Test>::get(id).expect("matched");
    assert_ok!(Market::confirm_stored(RuntimeOrigin::signed(c.host), id));
    (id, c.host)
}

fn prove(host: AccountId, contract: ContractId, f: &File) {
    let (_, index) = Proofs::challenge(contract).expect("seeded");
    let (_, start) = f.tree.chunk_of(index);
    let end = (start as usize + CHUNK_SIZE).min(f.bytes.len());
    let p = f.tree.prove(index, &f.bytes[start as usize..end]).unwrap();
    let proof = StorageProof {
        leaf: p.leaf.try_into().unwrap(),
        path: p.path.try_into().unwrap(),
    };
    assert_ok!(Proofs::submit_proofs(
        RuntimeOrigin::signed(host),
        vec![(contract, proof)].try_into().unwrap()
    ));
}

#[test]
fn a_host_that_misses_proofs_falls_below_hosts_that_do_not() {
    build_and_execute(|| {
        host(H1, PRICE);
        host(H2, 2 * PRICE);
        let f = file(100_000, 1);
        let g = file(100_000, 2);
        // ALICE's file goes to H1 (cheapest); then H1's offer is withdrawn so
        // BOB's goes to H2.
        let (c1, h1) = stored(ALICE, &f, 5, 0);
        assert_eq!(h1, H1);
        let offer = market::HostOffers::<Test>::get(H1)[0];
        assert_ok!(Market::cancel_offer(RuntimeOrigin::signed(H1), offer));
        let (c2, h2) = stored(BOB, &g, 5, 0);
        assert_eq!(h2, H2);
        for epoch in 1..=4u64 {
            run_to(epoch * EPOCH);
            prove(H1, c1, &f);
            // H2 proves only the first epoch.
            if epoch == 1 {
                prove(H2, c2, &g);
            }
        }
        run_to(5 * EPOCH);
        let (r1, r2) = (Rating::rating(&H1), Rating::rating(&H2));
        assert!(r1 > r2, "{r1} should be above {r2}");
        assert_eq!(Top::<Test>::get()[0].0, H1);
        let m2 = Metrics::<Test>::get(H2).unwrap();
        assert_eq!((m2.proofs_passed, m2.proofs_missed), (1, 3));
    });
}

#[test]
fn matching_skips_hosts_below_the_senders_rating_floor() {
    build_and_execute(|| {
        host(H1, PRICE);
        host(H2, 2 * PRICE);
        let f = file(50_000, 3);
        // H2 earns a rating; H1 (cheaper) has none.
        let offer = market::HostOffers::<Test>::get(H1)[0];
        assert_ok!(Market::cancel_offer(RuntimeOrigin::signed(H1), offer));
        let (c, _) = stored(ALICE, &f, 3, 0);
        run_to(EPOCH);
        prove(H2, c, &f);
        assert_ok!(Market::post_offer(
            RuntimeOrigin::signed(H1),
            PRICE,
            10 * GIB,
            1,
            100
        ));
        let floor = Rating::rating(&H2);
        assert!(floor > 0 && Rating::rating(&H1) == 0);
        let g = file(50_000, 4);
        let (_, chosen) = stored(BOB, &g, 3, floor);
        assert_eq!(chosen, H2, "the cheaper but unrated host is skipped");
        let h = file(50_000, 5);
        let (_, chosen) = stored(BOB, &h, 3, 0);
        assert_eq!(chosen, H1, "without a floor the cheapest wins");
    });
}

#[test]
fn storing_for_oneself_or_for_free_counts_for_nothing() {
    build_and_execute(|| {
        // (The market never matches a host to itself; a runtime could still
        // report such a contract, and the rating ignores it.)
        Rating::contract_ended(1, &H1, &H1, ContractEnd::Completed, 50 * UNIT);
        assert!(Metrics::<Test>::get(H1).is_none());
        Rating::contract_ended(2, &H1, &ALICE, ContractEnd::Completed, 0);
        Rating::proof_passed(&H1, 2, 0);
        let m = Metrics::<Test>::get(H1).unwrap_or_default();
        assert_eq!((m.completed, m.proofs_passed, m.value_served), (0, 0, 0));
        assert_eq!(Rating::rating(&H1), 0);
    });
}

#[test]
fn experience_depends_on_value_paid_by_distinct_senders() {
    build_and_execute(|| {
        // One Sender counts for at most 25% of full experience.
        for c in 0..10 {
            Rating::contract_ended(c, &H1, &ALICE, ContractEnd::Completed, 20 * UNIT);
        }
        assert_eq!(
            Metrics::<Test>::get(H1).unwrap().value_served,
            FULL_EXPERIENCE / 4
        );
        assert_eq!(SenderValue::<Test>::get(H1, ALICE), FULL_EXPERIENCE / 4);
        let one_sender = Rating::rating(&H1);
        // The same value from four Senders is full experience.
        for (c, s) in [ALICE, BOB, 12, 13].into_iter().enumerate() {
            Rating::contract_ended(100 + c as u64, &H2, &s, ContractEnd::Completed, 25 * UNIT);
        }
        assert_eq!(
            Metrics::<Test>::get(H2).unwrap().value_served,
            FULL_EXPERIENCE
        );
        assert!(Rating::rating(&H2) > one_sender);
        let b = Rating::breakdown(&H2).unwrap();
        assert_eq!(b.experience, RATING_MAX / 5);
        assert_eq!(b.completion, RATING_MAX / 5);
    });
}

#[test]
fn recent_proofs_weigh_more_and_lost_data_lowers_completion() {
    build_and_execute(|| {
        for _ in 0..10 {
            Rating::proof_passed(&H1, 1, UNIT);
        }
        let high = Metrics::<Test>::get(H1).unwrap().reliability;
        Rating::proof_missed(&H1, 1, 1);
        let after_miss = Metrics::<Test>::get(H1).unwrap().reliability;
        // A miss after ten passes costs 20% of the reliability at once.
        assert!(after_miss < high);
        assert_eq!(after_miss, sp_runtime::Perbill::from_percent(80) * high);
        Rating::contract_ended(1, &H1, &ALICE, ContractEnd::Completed, UNIT);
        Rating::contract_ended(2, &H1, &ALICE, ContractEnd::DataLost, UNIT);
        assert_eq!(Rating::breakdown(&H1).unwrap().completion, RATING_MAX / 10);
    });
}

#[test]
fn the_top_list_is_bounded_and_sorted() {
    build_and_execute(|| {
        for (h, n) in [(1u64, 1), (2, 5), (3, 3), (4, 7), (5, 2)] {
            for _ in 0..n {
                Rating::proof_passed(&h, 1, UNIT);
            }
        }
        let top = Rating::top(10);
        assert_eq!(
            top.iter().map(|(h, _)| *h).collect::<Vec<_>>(),
            vec![4, 2, 3]
        );
        assert!(top.windows(2).all(|w| w[0].1 >= w[1].1));
        // A fall is reflected: host 4 misses until it is last of the list.
        for _ in 0..10 {
            Rating::proof_missed(&4, 1, 1);
        }
        let top = Rating::top(10);
        assert_eq!(
            top.iter().map(|(h, _)| *h).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        assert!(top.windows(2).all(|w| w[0].1 >= w[1].1));
        // Host 5 (not listed since it was pushed out) comes back with its next update.
        Rating::proof_passed(&5, 1, UNIT);
        assert_eq!(Rating::top(10)[2].0, 5);
    });
}
