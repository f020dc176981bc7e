//! The insurance rules, through the real market, deposits, proofs and rating
//! pallets: Senders store real data, hosts prove it (or lose it), and cover
//! pays. Every test ends with all pallets' `try_state` and a check that no
//! MASP was created or destroyed.

use crate::{mock::*, Covers, Error, Event, Insurers, Offers};
use frame_support::{
    assert_noop, assert_ok,
    traits::fungible::{Inspect, InspectHold},
};
use masp_primitives::{
    market::{epoch_cost, ContractId, GIB, RATING_MAX},
    traits::HostDeposits,
};
use masp_proofs::{FileTree, CHUNK_SIZE};
use pallet_storage_market as market;
use pallet_storage_proofs::StorageProof;
use proptest::prelude::*;

const PRICE: Balance = UNIT;
/// The insurer's premium: 1 MASP per GiB per epoch.
const PREMIUM: Balance = UNIT;

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

fn host(h: AccountId) {
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
        PRICE,
        10 * GIB,
        1,
        100
    ));
}

/// `sender` stores `f` for `duration` epochs; returns the contract
/// (confirmed by its host) and the host.
fn stored(sender: AccountId, f: &File, duration: u32) -> (ContractId, AccountId) {
    let id = market::NextContractId::<Test>::get();
    assert_ok!(Market::place_request(
        RuntimeOrigin::signed(sender),
        f.bytes.len() as u64,
        f.tree.root(),
        f.tree.leaf_count(),
        1,
        duration,
        10 * PRICE,
        0
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

/// `INSURER` holds `capital` and sells up to `max_cover` per contract.
fn insurer(who: AccountId, capital: Balance, max_cover: Balance, min_rating: u32) {
    assert_ok!(Insurance::deposit_capital(
        RuntimeOrigin::signed(who),
        capital
    ));
    assert_ok!(Insurance::set_offer(
        RuntimeOrigin::signed(who),
        PREMIUM,
        max_cover,
        min_rating
    ));
}

fn buy(sender: AccountId, contract: ContractId, from: AccountId, amount: Balance) {
    assert_ok!(Insurance::buy_cover(
        RuntimeOrigin::signed(sender),
        contract,
        from,
        amount,
        PREMIUM
    ));
}

fn free(who: AccountId) -> Balance {
    Balances::balance(&who)
}

fn capital_held(who: AccountId) -> Balance {
    Balances::balance_on_hold(
        &RuntimeHoldReason::Insurance(crate::HoldReason::Capital),
        &who,
    )
}

fn premium_held(who: AccountId) -> Balance {
    Balances::balance_on_hold(
        &RuntimeHoldReason::Insurance(crate::HoldReason::Premium),
        &who,
    )
}

/// Runs blocks until `contract`'s host has missed every check up to the
/// data-loss limit (it never proves): the market ends it as lost.
fn lose(contract: ContractId) {
    let first = market::Contracts::<Test>::get(contract)
        .unwrap()
        .first_epoch as u64;
    run_to((first + MAX_MISSES as u64) * EPOCH);
    assert!(market::Contracts::<Test>::get(contract).is_none(), "lost");
}

/// The events of this pallet so far.
fn events() -> Vec<Event<Test>> {
    System::events()
        .into_iter()
        .filter_map(|r| match r.event {
            RuntimeEvent::Insurance(e) => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn a_sender_with_cover_is_made_whole_up_to_the_cover_when_data_is_lost() {
    build_and_execute(|| {
        host(H1);
        insurer(INSURER, 100 * UNIT, 50 * UNIT, 0);
        let f = file(64 * 1024, 1);
        let (contract, h) = stored(ALICE, &f, 10);
        buy(ALICE, contract, INSURER, 20 * UNIT);
        let before = free(ALICE) + premium_held(ALICE);
        let insurer_before = free(INSURER) + capital_held(INSURER);

        lose(contract);

        // The host's slashes paid the Sender first, the insurer the rest:
        // together exactly the cover.
        let Some(Event::Claimed {
            paid, recovered, ..
        }) = events()
            .into_iter()
            .find(|e| matches!(e, Event::Claimed { .. }))
        else {
            panic!("no claim");
        };
        let slashed: Balance = System::events()
            .into_iter()
            .filter_map(|r| match r.event {
                RuntimeEvent::Proofs(pallet_storage_proofs::Event::Missed {
                    to_sender, ..
                }) => Some(to_sender),
                _ => None,
            })
            .sum();
        assert!(slashed > 0, "misses were slashed");
        assert_eq!(slashed + paid, 20 * UNIT, "made whole up to the cover");
        // Premium for the four live epochs (1..=4) was paid, the rest returned.
        let premium = 4 * epoch_cost(PREMIUM, f.bytes.len() as u64).unwrap();
        assert_eq!(premium_held(ALICE), 0);
        let escrow_back = free(ALICE) + premium_held(ALICE) - before;
        assert_eq!(
            escrow_back,
            20 * UNIT - premium + market_refund(contract),
            "Sender got cover, paid the live epochs' premium"
        );
        // The insurer paid `paid`, recovered what the host's deposit still
        // backing the contract gave, and earned the premium.
        assert!(recovered > 0 && recovered <= paid);
        assert_eq!(
            free(INSURER) + capital_held(INSURER),
            insurer_before - paid + recovered + premium
        );
        assert_eq!(capital_held(INSURER), 100 * UNIT - paid);
        assert_eq!(Insurers::<Test>::get(INSURER).unwrap().committed, 0);
        assert!(Covers::<Test>::get(contract).is_none());
        // The host's deposit no longer backs the lost contract.
        assert_eq!(Deposits::backing(contract), 0);
        let _ = h;
    });
}

/// What the market returned to the Sender when `contract` ended (its
/// unspent escrow).
fn market_refund(contract: ContractId) -> Balance {
    System::events()
        .into_iter()
        .find_map(|r| match r.event {
            RuntimeEvent::Market(market::Event::ContractEnded {
                contract: c,
                refunded,
                ..
            }) if c == contract => Some(refunded),
            _ => None,
        })
        .expect("contract ended")
}

#[test]
fn an_insurer_never_pays_more_than_the_cover_less_the_slashes() {
    build_and_execute(|| {
        host(H1);
        insurer(INSURER, 100 * UNIT, 50 * UNIT, 0);
        // A cover smaller than the slashes the Sender gets anyway.
        let f = file(64 * 1024, 2);
        let (contract, _) = stored(ALICE, &f, 10);
        buy(ALICE, contract, INSURER, 1);
        lose(contract);
        assert!(events().iter().any(|e| matches!(
            e,
            Event::Claimed {
                paid: 0,
                recovered: 0,
                ..
            }
        )));
        assert_eq!(capital_held(INSURER), 100 * UNIT, "nothing paid");
    });
}

#[test]
fn cover_is_never_sold_beyond_free_capital_nor_the_offers_maximum() {
    build_and_execute(|| {
        host(H1);
        insurer(INSURER, 30 * UNIT, 20 * UNIT, 0);
        let f = file(4096, 3);
        let (c1, _) = stored(ALICE, &f, 10);
        let (c2, _) = stored(ALICE, &f, 10);
        assert_noop!(
            Insurance::buy_cover(
                RuntimeOrigin::signed(ALICE),
                c1,
                INSURER,
                21 * UNIT,
                PREMIUM
            ),
            Error::<Test>::CoverTooLarge
        );
        buy(ALICE, c1, INSURER, 20 * UNIT);
        // 10 MASP of capital left uncommitted.
        assert_noop!(
            Insurance::buy_cover(
                RuntimeOrigin::signed(ALICE),
                c2,
                INSURER,
                11 * UNIT,
                PREMIUM
            ),
            Error::<Test>::InsufficientCapital
        );
        // Committed capital cannot be withdrawn either.
        assert_noop!(
            Insurance::withdraw_capital(RuntimeOrigin::signed(INSURER), 11 * UNIT),
            Error::<Test>::InsufficientCapital
        );
        buy(ALICE, c2, INSURER, 10 * UNIT);
        let info = Insurers::<Test>::get(INSURER).unwrap();
        assert_eq!(
            (info.capital, info.committed, info.covers),
            (30 * UNIT, 30 * UNIT, 2)
        );
    });
}

#[test]
fn an_insurer_never_loses_more_than_its_capital_when_all_its_covers_fail() {
    build_and_execute(|| {
        host(H1);
        host(H2);
        insurer(INSURER, 25 * UNIT, 25 * UNIT, 0);
        let f = file(8192, 4);
        let (c1, _) = stored(ALICE, &f, 10);
        let (c2, _) = stored(BOB, &f, 10);
        buy(ALICE, c1, INSURER, 15 * UNIT);
        buy(BOB, c2, INSURER, 10 * UNIT);
        let total_before = free(INSURER) + capital_held(INSURER);
        lose(c1);
        assert!(market::Contracts::<Test>::get(c2).is_none());
        let paid: Balance = events()
            .iter()
            .filter_map(|e| match e {
                Event::Claimed { paid, .. } => Some(*paid),
                _ => None,
            })
            .sum();
        assert!(paid <= 25 * UNIT);
        assert!(total_before - (free(INSURER) + capital_held(INSURER)) <= 25 * UNIT);
        assert!(Insurers::<Test>::get(INSURER).is_none_or(|i| i.committed == 0));
    });
}

#[test]
fn the_premium_is_paid_only_for_epochs_the_contract_is_live() {
    build_and_execute(|| {
        host(H1);
        insurer(INSURER, 100 * UNIT, 50 * UNIT, 0);
        let f = file(GIB as usize / 256, 5);
        let per_epoch = epoch_cost(PREMIUM, f.bytes.len() as u64).unwrap();
        let (contract, h) = stored(ALICE, &f, 6);
        let held_before = premium_held(ALICE);
        buy(ALICE, contract, INSURER, 5 * UNIT);
        // The whole term (epochs 1..=6) is held up front...
        assert_eq!(premium_held(ALICE) - held_before, 6 * per_epoch);
        let insurer_free = free(INSURER);
        // ... and paid as epochs end: nothing is due in epoch 0 or 1.
        assert_noop!(
            Insurance::collect_premium(RuntimeOrigin::signed(BOB), contract),
            Error::<Test>::NothingDue
        );
        for epoch in 1..=3u64 {
            run_to(epoch * EPOCH + 1);
            prove(h, contract, &f);
        }
        // In epoch 3, epochs 1 and 2 are over.
        assert_ok!(Insurance::collect_premium(
            RuntimeOrigin::signed(BOB),
            contract
        ));
        assert_eq!(free(INSURER) - insurer_free, 2 * per_epoch);
        // The Sender ends the contract in epoch 3: epoch 3 is paid (it had
        // begun), epochs 4..=6 return.
        let alice = free(ALICE);
        assert_ok!(Market::cancel_contract(
            RuntimeOrigin::signed(ALICE),
            contract
        ));
        assert_eq!(free(INSURER) - insurer_free, 3 * per_epoch);
        assert_eq!(premium_held(ALICE), 0);
        assert!(
            free(ALICE) - alice >= 3 * per_epoch,
            "unused premium returned"
        );
        assert!(events().iter().any(
            |e| matches!(e, Event::CoverEnded { refunded, .. } if *refunded == 3 * per_epoch)
        ));
        assert_eq!(Insurers::<Test>::get(INSURER).unwrap().committed, 0);
    });
}

#[test]
fn a_completed_contract_pays_its_whole_term_and_no_claim() {
    build_and_execute(|| {
        host(H1);
        insurer(INSURER, 100 * UNIT, 50 * UNIT, 0);
        let f = file(4096, 6);
        let per_epoch = epoch_cost(PREMIUM, f.bytes.len() as u64).unwrap();
        let (contract, h) = stored(ALICE, &f, 3);
        buy(ALICE, contract, INSURER, 5 * UNIT);
        let insurer_total = free(INSURER) + capital_held(INSURER);
        for epoch in 1..=3u64 {
            run_to(epoch * EPOCH + 1);
            prove(h, contract, &f);
        }
        run_to(5 * EPOCH);
        assert!(
            market::Contracts::<Test>::get(contract).is_none(),
            "completed"
        );
        assert_eq!(
            free(INSURER) + capital_held(INSURER) - insurer_total,
            3 * per_epoch
        );
        assert!(!events().iter().any(|e| matches!(e, Event::Claimed { .. })));
        assert!(Insurers::<Test>::get(INSURER).is_some_and(|i| i.committed == 0));
    });
}

#[test]
fn an_upload_never_confirmed_costs_no_premium() {
    build_and_execute(|| {
        host(H1);
        insurer(INSURER, 100 * UNIT, 50 * UNIT, 0);
        let f = file(4096, 7);
        let id = market::NextContractId::<Test>::get();
        assert_ok!(Market::place_request(
            RuntimeOrigin::signed(ALICE),
            f.bytes.len() as u64,
            f.tree.root(),
            f.tree.leaf_count(),
            1,
            5,
            10 * PRICE,
            0
        ));
        let alice = free(ALICE) + premium_held(ALICE);
        buy(ALICE, id, INSURER, 5 * UNIT);
        assert!(premium_held(ALICE) > 0);
        let insurer_free = free(INSURER);
        run_to(2 * EPOCH);
        assert!(
            market::Contracts::<Test>::get(id).is_none(),
            "not confirmed"
        );
        assert_eq!(free(INSURER), insurer_free, "no premium");
        assert_eq!(premium_held(ALICE), 0);
        assert!(free(ALICE) >= alice, "premium returned");
    });
}

#[test]
fn cover_bought_during_the_term_waits_so_a_failing_host_cannot_be_insured() {
    build_and_execute(|| {
        host(H1);
        insurer(INSURER, 100 * UNIT, 50 * UNIT, 0);
        let f = file(4096, 8);
        let (contract, _) = stored(ALICE, &f, 20);
        // The host misses epoch 1; in epoch 2 the Sender buys cover, which
        // starts after the next epoch plus the waiting epochs.
        run_to(2 * EPOCH + 1);
        buy(ALICE, contract, INSURER, 5 * UNIT);
        let cover = Covers::<Test>::get(contract).unwrap();
        assert_eq!(cover.start, 2 + 1 + MAX_MISSES);
        // The data is lost before that: no claim, the premium returns.
        run_to(4 * EPOCH);
        assert!(market::Contracts::<Test>::get(contract).is_none(), "lost");
        assert!(!events().iter().any(|e| matches!(e, Event::Claimed { .. })));
        assert_eq!(premium_held(ALICE), 0);
        assert_eq!(capital_held(INSURER), 100 * UNIT);
    });
}

#[test]
fn buying_cover_checks_who_what_and_the_offers_terms() {
    build_and_execute(|| {
        host(H1);
        insurer(INSURER, 100 * UNIT, 50 * UNIT, RATING_MAX / 2);
        insurer(INSURER2, 100 * UNIT, 50 * UNIT, 0);
        let f = file(4096, 9);
        let (contract, _) = stored(ALICE, &f, 10);
        let signed = RuntimeOrigin::signed;
        // A new host's rating is below the first insurer's floor.
        assert_noop!(
            Insurance::buy_cover(signed(ALICE), contract, INSURER, UNIT, PREMIUM),
            Error::<Test>::RatingTooLow
        );
        assert_noop!(
            Insurance::buy_cover(signed(BOB), contract, INSURER2, UNIT, PREMIUM),
            Error::<Test>::NotContractSender
        );
        assert_noop!(
            Insurance::buy_cover(signed(ALICE), 999, INSURER2, UNIT, PREMIUM),
            Error::<Test>::UnknownContract
        );
        assert_noop!(
            Insurance::buy_cover(signed(ALICE), contract, H2, UNIT, PREMIUM),
            Error::<Test>::NoOffer
        );
        assert_noop!(
            Insurance::buy_cover(signed(ALICE), contract, INSURER2, UNIT, PREMIUM - 1),
            Error::<Test>::PremiumTooHigh
        );
        assert_noop!(
            Insurance::buy_cover(signed(ALICE), contract, INSURER2, 0, PREMIUM),
            Error::<Test>::ZeroAmount
        );
        buy(ALICE, contract, INSURER2, UNIT);
        assert_noop!(
            Insurance::buy_cover(signed(ALICE), contract, INSURER2, UNIT, PREMIUM),
            Error::<Test>::AlreadyCovered
        );
        // A Sender who cannot pay the premium changes nothing.
        let f2 = file(GIB as usize / 1024, 10);
        assert_ok!(Balances::transfer_allow_death(
            signed(BOB),
            POOR,
            100 * UNIT
        ));
        let (c2, _) = stored(POOR, &f2, 100);
        let all = free(POOR);
        assert_ok!(Insurance::set_offer(
            signed(INSURER2),
            all * 1_000,
            50 * UNIT,
            0
        ));
        assert_noop!(
            Insurance::buy_cover(signed(POOR), c2, INSURER2, UNIT, Balance::MAX),
            Error::<Test>::InsufficientFunds
        );
        // Too late: the term is over before waiting ends.
        let (c3, _) = stored(ALICE, &f, 3);
        run_to(EPOCH + 1);
        assert_noop!(
            Insurance::buy_cover(signed(ALICE), c3, INSURER2, UNIT, Balance::MAX),
            Error::<Test>::TooLate
        );
        // Only the covered Sender cancels its cover.
        assert_noop!(
            Insurance::cancel_cover(signed(BOB), contract),
            Error::<Test>::NotCoverHolder
        );
        assert_ok!(Insurance::cancel_cover(signed(ALICE), contract));
        assert!(Covers::<Test>::get(contract).is_none());
        assert_eq!(Insurers::<Test>::get(INSURER2).unwrap().committed, 0);
    });
}

#[test]
fn capital_and_offers_reject_bad_input() {
    build_and_execute(|| {
        let signed = RuntimeOrigin::signed;
        assert_noop!(
            Insurance::deposit_capital(signed(INSURER), MIN_CAPITAL - 1),
            Error::<Test>::BelowMinCapital
        );
        assert_noop!(
            Insurance::deposit_capital(signed(POOR), MIN_CAPITAL),
            Error::<Test>::InsufficientFunds
        );
        assert_noop!(
            Insurance::set_offer(signed(INSURER), PREMIUM, UNIT, 0),
            Error::<Test>::NotInsurer
        );
        assert_ok!(Insurance::deposit_capital(signed(INSURER), MIN_CAPITAL));
        assert_noop!(
            Insurance::set_offer(signed(INSURER), PREMIUM, UNIT, RATING_MAX + 1),
            Error::<Test>::BadRating
        );
        assert_noop!(
            Insurance::set_offer(signed(INSURER), 0, UNIT, 0),
            Error::<Test>::ZeroAmount
        );
        assert_noop!(
            Insurance::remove_offer(signed(INSURER)),
            Error::<Test>::NoOffer
        );
        assert_ok!(Insurance::set_offer(signed(INSURER), PREMIUM, UNIT, 0));
        assert_ok!(Insurance::remove_offer(signed(INSURER)));
        assert!(Offers::<Test>::get(INSURER).is_none());
        // Withdrawing all capital withdraws the offer too.
        assert_ok!(Insurance::set_offer(signed(INSURER), PREMIUM, UNIT, 0));
        assert_noop!(
            Insurance::withdraw_capital(signed(INSURER), 1),
            Error::<Test>::BelowMinCapital
        );
        assert_noop!(
            Insurance::withdraw_capital(signed(INSURER), MIN_CAPITAL + 1),
            Error::<Test>::InsufficientCapital
        );
        assert_ok!(Insurance::withdraw_capital(signed(INSURER), MIN_CAPITAL));
        assert!(Insurers::<Test>::get(INSURER).is_none());
        assert!(Offers::<Test>::get(INSURER).is_none());
        assert_eq!(capital_held(INSURER), 0);
        assert_eq!(free(INSURER), INITIAL);
    });
}

#[derive(Clone, Debug)]
enum Op {
    Buy { contract: u8, amount: u8 },
    Cancel { contract: u8 },
    Collect { contract: u8 },
    Prove { contract: u8 },
    Withdraw { amount: u8 },
    Blocks(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..4, 1u8..40).prop_map(|(contract, amount)| Op::Buy { contract, amount }),
        (0u8..4).prop_map(|contract| Op::Cancel { contract }),
        (0u8..4).prop_map(|contract| Op::Collect { contract }),
        (0u8..4).prop_map(|contract| Op::Prove { contract }),
        (1u8..40).prop_map(|amount| Op::Withdraw { amount }),
        (1u8..25).prop_map(Op::Blocks),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever Senders, hosts and the insurer do, capital always covers
    /// committed cover, holds match the books and no MASP is created or
    /// destroyed (checked by `build_and_execute` after each case), and the
    /// insurer never pays out more than it locked.
    #[test]
    fn random_covers_keep_every_invariant(ops in prop::collection::vec(op(), 1..40)) {
        let mut outcome = Ok(());
        build_and_execute(|| outcome = (|| -> Result<(), TestCaseError> {
            host(H1);
            host(H2);
            host(H3);
            insurer(INSURER, 60 * UNIT, 30 * UNIT, 0);
            let locked = 60 * UNIT;
            let f = file(8192, 11);
            let contracts: Vec<(ContractId, AccountId)> =
                (0..4).map(|i| stored(ALICE + (i % 2), &f, 8)).collect();
            for op in ops {
                match op {
                    Op::Buy { contract, amount } => {
                        let (id, _) = contracts[contract as usize];
                        let sender = ALICE + (contract as u64 % 2);
                        let _ = Insurance::buy_cover(
                            RuntimeOrigin::signed(sender), id, INSURER,
                            amount as Balance * UNIT, PREMIUM);
                    }
                    Op::Cancel { contract } => {
                        let (id, _) = contracts[contract as usize];
                        let sender = ALICE + (contract as u64 % 2);
                        let _ = Insurance::cancel_cover(RuntimeOrigin::signed(sender), id);
                    }
                    Op::Collect { contract } => {
                        let (id, _) = contracts[contract as usize];
                        let _ = Insurance::collect_premium(RuntimeOrigin::signed(BOB), id);
                    }
                    Op::Prove { contract } => {
                        let (id, h) = contracts[contract as usize];
                        if market::Contracts::<Test>::get(id).is_some()
                            && Proofs::challenge(id).is_some()
                            && Proofs::current_epoch() >= 1
                            && Proofs::current_epoch() <= 8
                        {
                            let (_, index) = Proofs::challenge(id).unwrap();
                            let (_, start) = f.tree.chunk_of(index);
                            let end = (start as usize + CHUNK_SIZE).min(f.bytes.len());
                            let p = f.tree.prove(index, &f.bytes[start as usize..end]).unwrap();
                            let proof = StorageProof {
                                leaf: p.leaf.try_into().unwrap(),
                                path: p.path.try_into().unwrap(),
                            };
                            let _ = Proofs::submit_proofs(
                                RuntimeOrigin::signed(h),
                                vec![(id, proof)].try_into().unwrap(),
                            );
                        }
                    }
                    Op::Withdraw { amount } => {
                        let _ = Insurance::withdraw_capital(
                            RuntimeOrigin::signed(INSURER), amount as Balance * UNIT);
                    }
                    Op::Blocks(n) => run_to(System::block_number() + n as u64),
                }
                let info = Insurers::<Test>::get(INSURER).unwrap_or_default();
                prop_assert!(info.capital >= info.committed);
                let paid: Balance = events().iter().filter_map(|e| match e {
                    Event::Claimed { paid, .. } => Some(*paid),
                    _ => None,
                }).sum();
                prop_assert!(paid <= locked);
            }
            Ok(())
        })());
        outcome?;
    }
}
