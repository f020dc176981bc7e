//! The rating rules, through the real market and proofs pallets: hosts store
//! real data, prove it (or not), and the rating follows. Every test ends with
//! all pallets' `try_state` and a check that no MASP was created or destroyed.

use crate::{mock::*, ContractStake, Metrics, Stakes, Top};
use frame_support::assert_ok;
use masp_primitives::{
    market::{ContractId, RATING_MAX},
    traits::{ContractEnd, ContractObserver, HostRatingProvider, ProofObserver},
};
use pallet_storage_market as market;
use pallet_storage_proofs::StorageProof;

const PRICE: Balance = UNIT;

/// A Sender's file: its bytes and tree.
type File = masp_proofs::SampleFile;

fn file(len: usize, seed: u8) -> File {
    File::new(len, seed.into())
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
    let (_, challenge) = Proofs::challenge_indices(contract).expect("seeded");
    let p = f
        .tree
        .prove_many_in(challenge.as_slice(), &f.bytes)
        .unwrap();
    let proof = StorageProof {
        leaf: p.leaves.try_into().unwrap(),
        path: p.nodes.try_into().unwrap(),
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
        Stakes::<Test>::insert(1, stake(UNIT, 5));
        Rating::contract_ended(1, &H1, &H1, ContractEnd::Completed, 50 * UNIT);
        assert!(Metrics::<Test>::get(H1).is_none());
        Stakes::<Test>::insert(2, stake(UNIT, 5));
        Rating::proof_passed(&H1, 2, 0);
        Rating::contract_ended(2, &H1, &ALICE, ContractEnd::Completed, 0);
        let m = Metrics::<Test>::get(H1).unwrap_or_default();
        assert_eq!((m.completed, m.proofs_passed, m.proven_stake), (0, 0, 0));
        assert_eq!(Rating::rating(&H1), 0);
        assert_eq!(
            Stakes::<Test>::iter().count(),
            0,
            "ended contracts leave no entry"
        );
    });
}

/// A stake entry as the market's confirmation would record it.
fn stake(deposit: Balance, epochs: u32) -> ContractStake {
    ContractStake { deposit, epochs }
}

/// Runs to the start of epoch `e`.
fn at_epoch(e: u64) {
    run_to(e * EPOCH);
}

#[test]
fn experience_is_deposit_epochs_proven_not_value_paid_or_senders() {
    build_and_execute(|| {
        // H1: one contract backed by FULL_EXPERIENCE / 10, proven for 10
        // epochs, each paying a single planck.
        Stakes::<Test>::insert(1, stake(FULL_EXPERIENCE / 10, 10));
        // H2: the same number of proofs, each paying 1,000 MASP, of a
        // contract with a tenth of the stake.
        Stakes::<Test>::insert(2, stake(FULL_EXPERIENCE / 100, 10));
        for e in 1..=10 {
            at_epoch(e);
            Rating::proof_passed(&H1, 1, 1);
            Rating::proof_passed(&H2, 2, 1_000 * UNIT);
        }
        Rating::contract_ended(1, &H1, &ALICE, ContractEnd::Completed, 10);
        Rating::contract_ended(2, &H2, &BOB, ContractEnd::Completed, 10_000 * UNIT);
        let (b1, b2) = (
            Rating::breakdown(&H1).unwrap(),
            Rating::breakdown(&H2).unwrap(),
        );
        assert_eq!(b1.metrics.proven_stake, FULL_EXPERIENCE);
        assert_eq!(b1.experience, RATING_MAX / 5);
        assert_eq!(b2.experience, RATING_MAX / 50);
        assert!(b1.rating > b2.rating);
        assert!(b1.completion > b2.completion);
    });
}

#[test]
fn recent_epochs_weigh_more_and_lost_data_lowers_completion() {
    build_and_execute(|| {
        let s = 10 * STAKE_PRIOR;
        Stakes::<Test>::insert(1, stake(s, 20));
        Stakes::<Test>::insert(2, stake(s, 20));
        // H1 misses epoch 1, then proves nine; H2 proves nine, then misses.
        let mut before = Default::default();
        for e in 1..=10 {
            at_epoch(e);
            if e == 1 {
                Rating::proof_missed(&H1, 1, 1);
            } else {
                Rating::proof_passed(&H1, 1, UNIT);
            }
            if e < 10 {
                Rating::proof_passed(&H2, 2, UNIT);
            } else {
                before = Metrics::<Test>::get(H2).unwrap().reliability;
                Rating::proof_missed(&H2, 2, 1);
            }
        }
        let (r1, r2) = (
            Metrics::<Test>::get(H1).unwrap().reliability,
            Metrics::<Test>::get(H2).unwrap().reliability,
        );
        assert!(r2 < before, "a miss always lowers reliability");
        assert!(
            r1 > r2,
            "an old miss weighs less than a recent one: {r1:?} vs {r2:?}"
        );
        // A miss is weighed by its stake: the proven sum decayed by one
        // epoch, plus the stake missed and the prior.
        let m = Metrics::<Test>::get(H2).unwrap();
        assert_eq!(m.recent_missed, s);
        assert_eq!(
            r2,
            sp_runtime::Perbill::from_rational(m.recent_proven, m.recent_proven + s + STAKE_PRIOR)
        );
        // Completion weighs contracts by stake x term.
        Stakes::<Test>::insert(3, stake(s, 10));
        Stakes::<Test>::insert(4, stake(s, 10));
        Rating::contract_ended(3, &H1, &ALICE, ContractEnd::Completed, UNIT);
        Rating::contract_ended(4, &H1, &ALICE, ContractEnd::DataLost, UNIT);
        let completion = Rating::breakdown(&H1).unwrap().completion;
        assert_eq!(
            completion,
            sp_runtime::Perbill::from_rational(10 * s, 20 * s + STAKE_PRIOR)
                .mul_floor(RATING_MAX / 5)
        );
        Stakes::<Test>::remove(1);
        Stakes::<Test>::remove(2);
    });
}

#[test]
fn the_top_list_is_bounded_and_sorted() {
    build_and_execute(|| {
        Stakes::<Test>::insert(1, stake(STAKE_PRIOR, 100));
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
        Stakes::<Test>::remove(1);
    });
}

// ----- farming (issue 18, item 6) -----

/// `sender` asks for `f` for `duration` epochs at up to `max_price`; the
/// host it matches confirms. Returns the contract and its host.
fn bought(
    sender: AccountId,
    f: &File,
    duration: u32,
    max_price: Balance,
) -> (ContractId, AccountId) {
    let id = market::NextContractId::<Test>::get();
    assert_ok!(Market::place_request(
        RuntimeOrigin::signed(sender),
        f.bytes.len() as u64,
        f.tree.root(),
        f.tree.leaf_count(),
        1,
        duration,
        max_price,
        0
    ));
    let c = market::Contracts::<Test>::get(id).expect("matched");
    assert_ok!(Market::confirm_stored(RuntimeOrigin::signed(c.host), id));
    (id, c.host)
}

/// Closes every resting offer of `h` (so the next requests go elsewhere).
fn close_offers(h: AccountId) {
    for offer in market::HostOffers::<Test>::get(h) {
        assert_ok!(Market::cancel_offer(RuntimeOrigin::signed(h), offer));
    }
}

/// Runs `epochs` epochs from epoch 1, each host proving each of its
/// contracts every epoch, then past the end of every term.
fn prove_every_epoch(epochs: u32, stored: &[(AccountId, ContractId, &File)]) {
    for epoch in 1..=epochs as u64 {
        run_to(epoch * EPOCH);
        for (h, c, f) in stored {
            prove(*h, *c, f);
        }
    }
    run_to((epochs as u64 + 2) * EPOCH);
}

/// The white paper's "objective rate system": a rating is earned by value at
/// stake, not by a count of contracts. A host's second account sending it
/// 1-byte contracts, all proven for every epoch of their term, must not lift
/// it meaningfully: it stays far below an honest host that stores real volume
/// for real Senders over the same epochs.
#[test]
fn one_byte_contracts_from_a_second_account_do_not_farm_a_rating() {
    build_and_execute(|| {
        // The honest host: two Senders, 512 KiB each, 8 epochs.
        host(H1, PRICE);
        let a = file(512 * 1024, 30);
        let b = file(512 * 1024, 31);
        let (ca, _) = bought(ALICE, &a, 8, 10 * PRICE);
        let (cb, _) = bought(BOB, &b, 8, 10 * PRICE);
        close_offers(H1);
        // The farmer: its second account (12) buys eight 1-byte contracts.
        host(H2, PRICE);
        let tiny: Vec<File> = (0..8).map(|i| file(1, 40 + i)).collect();
        let mut all = vec![(H1, ca, &a), (H1, cb, &b)];
        for f in &tiny {
            let (c, h) = bought(12, f, 8, 10 * PRICE);
            assert_eq!(h, H2);
            all.push((H2, c, f));
        }
        prove_every_epoch(8, &all);
        let (honest, farmed) = (Rating::rating(&H1), Rating::rating(&H2));
        println!("1-byte farming: honest host {honest}, farmer {farmed}");
        let m = Metrics::<Test>::get(H2).unwrap_or_default();
        assert_eq!(m.proofs_passed, 64, "the farmer proved every epoch");
        assert!(
            honest > RATING_MAX / 2,
            "the honest host is rated: {honest}"
        );
        assert!(
            farmed < RATING_MAX / 100,
            "1-byte contracts lifted the farmer to {farmed} (honest host: {honest})"
        );
        assert_eq!(Top::<Test>::get()[0].0, H1);
    });
}

/// Ten Sybil Senders paying a host a high price (money that flows back to
/// the host's owner) buy nothing: the host rates exactly like one storing
/// the same bytes for one Sender at an ordinary price, and below an honest
/// host with more value at stake. Only the host deposit locked behind proven
/// epochs (which cannot be recycled) counts.
#[test]
fn sybil_senders_paying_a_host_do_not_lift_it_to_the_top() {
    build_and_execute(|| {
        // The honest host: two Senders, 512 KiB each.
        host(H1, PRICE);
        let a = file(512 * 1024, 50);
        let b = file(512 * 1024, 51);
        let (ca, _) = bought(ALICE, &a, 8, 10 * PRICE);
        let (cb, _) = bought(BOB, &b, 8, 10 * PRICE);
        close_offers(H1);
        // A host storing ten 4 KiB files for one Sender at the same price.
        const H3: AccountId = 3;
        host(H3, PRICE);
        let plain: Vec<File> = (0..10).map(|i| file(4096, 60 + i)).collect();
        let mut all = vec![(H1, ca, &a), (H1, cb, &b)];
        for f in &plain {
            let (c, h) = bought(12, f, 8, 10 * PRICE);
            assert_eq!(h, H3);
            all.push((H3, c, f));
        }
        close_offers(H3);
        // The farmer: ten Sybil Senders, one 4 KiB file each, paying a
        // million times the price (it all flows back to the farmer).
        const HIGH: Balance = 1_000_000 * PRICE;
        host(H2, HIGH);
        let sybils: [AccountId; 10] = [4, 5, 6, 7, 8, 9, 13, 14, 15, 16];
        let farmed: Vec<File> = (0..10).map(|i| file(4096, 60 + i)).collect();
        for (s, f) in sybils.iter().zip(&farmed) {
            let (c, h) = bought(*s, f, 8, HIGH);
            assert_eq!(h, H2);
            all.push((H2, c, f));
        }
        prove_every_epoch(8, &all);
        let (honest, plain_host, farmer) = (
            Rating::rating(&H1),
            Rating::rating(&H3),
            Rating::rating(&H2),
        );
        println!("Sybil farming: honest {honest}, plain {plain_host}, farmer {farmer}");
        assert!(
            farmer < honest,
            "Sybil payments lifted the farmer to {farmer} (honest host: {honest})"
        );
        assert_eq!(Top::<Test>::get()[0].0, H1, "the honest host is on top");
        // Paying more, from more Senders, buys nothing beyond the stake: the
        // same parts as the plain host (the stored totals differ only by the
        // age points at each host's last update, a block or two apart).
        let (bf, bp) = (
            Rating::breakdown(&H2).unwrap(),
            Rating::breakdown(&H3).unwrap(),
        );
        assert_eq!(
            (bf.reliability, bf.completion, bf.experience),
            (bp.reliability, bp.completion, bp.experience),
            "Sybil payments bought rating points"
        );
        assert_eq!(bf.metrics.proven_stake, bp.metrics.proven_stake);
        assert!(farmer.abs_diff(plain_host) <= RATING_MAX / 1_000);
    });
}

/// Reliability is the share of the value at stake that was proven: a host
/// that loses a large contract cannot hide the misses behind many tiny
/// contracts it proves for itself.
#[test]
fn misses_on_a_large_contract_are_not_diluted_by_tiny_proven_ones() {
    build_and_execute(|| {
        host(H1, PRICE);
        let big = file(512 * 1024, 70);
        let (cbig, _) = bought(ALICE, &big, 8, 10 * PRICE);
        let tiny: Vec<File> = (0..8).map(|i| file(1, 80 + i)).collect();
        let mut mine = Vec::new();
        for f in &tiny {
            let (c, h) = bought(12, f, 8, 10 * PRICE);
            assert_eq!(h, H1);
            mine.push((H1, c, f));
        }
        close_offers(H1);
        // A host that proves its one real contract, for comparison.
        host(H2, PRICE);
        let other = file(512 * 1024, 71);
        let (cother, _) = bought(BOB, &other, 8, 10 * PRICE);
        // Epoch 1: everything proven; from epoch 2 H1 drops the big file.
        for epoch in 1..=3u64 {
            run_to(epoch * EPOCH);
            if epoch == 1 {
                prove(H1, cbig, &big);
            }
            for (h, c, f) in &mine {
                prove(*h, *c, f);
            }
            prove(H2, cother, &other);
        }
        run_to(4 * EPOCH + 1);
        let m = Metrics::<Test>::get(H1).unwrap();
        assert!(m.proofs_missed >= 1 && m.proofs_passed > 8 * m.proofs_missed);
        let (dropped, kept) = (
            Rating::breakdown(&H1).unwrap().reliability,
            Rating::breakdown(&H2).unwrap().reliability,
        );
        println!("dilution: reliability points {dropped} (dropped) vs {kept} (kept)");
        assert!(
            dropped < kept / 2,
            "tiny proofs hid the misses: reliability {dropped} vs {kept}"
        );
    });
}

// ----- bounded storage (issue 18, item 3) -----

/// Storage stays bounded: a contract's stake entry goes when the contract
/// ends (completed or cancelled), a host's record when it unregisters; there
/// is no per-Sender entry at all.
#[test]
fn rating_entries_go_when_they_no_longer_matter() {
    build_and_execute(|| {
        host(H1, PRICE);
        let f = file(100_000, 90);
        let (c, _) = stored(ALICE, &f, 2, 0);
        assert!(Stakes::<Test>::contains_key(c));
        prove_every_epoch(2, &[(H1, c, &f)]);
        assert!(
            market::Contracts::<Test>::get(c).is_none(),
            "the term ended"
        );
        assert!(!Stakes::<Test>::contains_key(c));
        assert!(Rating::rating(&H1) > 0);
        assert_eq!(Top::<Test>::get()[0].0, H1);
        let (c2, _) = stored(BOB, &f, 5, 0);
        assert!(Stakes::<Test>::contains_key(c2));
        assert_ok!(Market::cancel_contract(RuntimeOrigin::signed(BOB), c2));
        assert!(!Stakes::<Test>::contains_key(c2));
        // The host leaves (the market tells its observers): its record goes.
        assert_ok!(Market::unregister_host(RuntimeOrigin::signed(H1)));
        assert!(Metrics::<Test>::get(H1).is_none());
        assert!(Top::<Test>::get().is_empty());
        assert_eq!(Rating::rating(&H1), 0);
        assert_eq!(Stakes::<Test>::iter().count(), 0);
    });
}

// ----- the best rating that exists (issue 18, item 5) -----

/// The market refuses a request whose rating floor no host meets; the best
/// rating it checks against is never below any host's rating, also when
/// that host was left out of the bounded top list.
#[test]
fn best_rating_is_never_below_a_hosts_rating() {
    build_and_execute(|| {
        assert_eq!(Rating::best_rating(), 0, "no host is rated yet");
        Stakes::<Test>::insert(1, stake(STAKE_PRIOR, 100));
        for (h, n) in [(1u64, 1), (2, 5), (3, 3), (4, 7)] {
            for _ in 0..n {
                Rating::proof_passed(&h, 1, UNIT);
            }
        }
        // Host 1 was left out of the full list (MaxTop = 3).
        assert!(!Rating::top(10).iter().any(|(h, _)| *h == 1));
        assert_eq!(Rating::best_rating(), Rating::rating(&4));
        // Every listed host falls below host 1.
        for h in [2u64, 3, 4] {
            for _ in 0..20 {
                Rating::proof_missed(&h, 1, 1);
            }
            assert!(Rating::rating(&h) < Rating::rating(&1));
        }
        assert!(Rating::best_rating() >= Rating::rating(&1));
        Stakes::<Test>::remove(1);
    });
}

#[test]
fn a_host_that_leaves_a_retrieval_challenge_unanswered_falls_below_one_that_answers() {
    build_and_execute(|| {
        host(H1, PRICE);
        host(H2, PRICE);
        let f = file(100_000, 1);
        let g = file(100_000, 2);
        let (c1, h1) = stored(ALICE, &f, 5, 0);
        let offer = market::HostOffers::<Test>::get(h1)[0];
        assert_ok!(Market::cancel_offer(RuntimeOrigin::signed(h1), offer));
        let (c2, h2) = stored(BOB, &g, 5, 0);
        assert_ne!(h1, h2, "one contract each");
        for epoch in 1..=4u64 {
            run_to(epoch * EPOCH);
            prove(h1, c1, &f);
            prove(h2, c2, &g);
        }
        let (before1, before2) = (Rating::rating(&h1), Rating::rating(&h2));
        let b = Rating::breakdown(&h1).unwrap();
        assert!(b.metrics.first_seen.is_some(), "both hosts are established");
        assert_eq!(
            b.availability,
            RATING_MAX / 10,
            "full availability at first"
        );

        <Rating as ProofObserver<_, _>>::retrieval_answered(&h1, c1);
        <Rating as ProofObserver<_, _>>::retrieval_failed(&h2, c2);
        assert_eq!(
            Rating::rating(&h1),
            before1,
            "answering is expected: it earns nothing"
        );
        assert!(
            Rating::rating(&h2) < before2,
            "a refusal costs availability"
        );
        let m2 = Metrics::<Test>::get(h2).unwrap();
        assert_eq!((m2.retrievals_failed, m2.retrievals_answered), (1, 0));
        assert!(Rating::breakdown(&h2).unwrap().availability < RATING_MAX / 10);
    });
}

#[test]
fn challenges_alone_earn_no_rating() {
    build_and_execute(|| {
        host(H1, PRICE);
        // A host's own second account challenging it, and it answering, as
        // often as it likes: no stake proven, no points.
        for _ in 0..50 {
            <Rating as ProofObserver<_, _>>::retrieval_answered(&H1, 0);
        }
        assert_eq!(Rating::rating(&H1), 0);
    });
}
