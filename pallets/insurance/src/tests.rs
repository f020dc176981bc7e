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
    market::{ContractId, GIB, RATING_MAX},
    traits::HostDeposits,
};
use pallet_storage_market as market;
use pallet_storage_proofs::StorageProof;
use proptest::prelude::*;
use sp_runtime::Perbill;

const PRICE: Balance = UNIT;
/// The insurer's premium: 1% of the cover per epoch.
const PREMIUM: Perbill = Perbill::from_percent(1);
/// The highest premium rate a test Sender accepts.
const MAX_RATE: Perbill = Perbill::one();

/// A Sender's file: its bytes and tree.
type File = masp_proofs::SampleFile;

fn file(len: usize, seed: u8) -> File {
    File::new(len, seed.into())
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

/// `sender` stores `size` bytes it never shows anyone (its host will never
/// prove them) for `duration` epochs; returns the contract (confirmed) and
/// its host. The deposit backing it is `size x DEPOSIT_PER_GIB`.
fn unproven(sender: AccountId, size: u64, duration: u32) -> (ContractId, AccountId) {
    let id = market::NextContractId::<Test>::get();
    assert_ok!(Market::place_request(
        RuntimeOrigin::signed(sender),
        size,
        [size as u8; 32],
        masp_proofs::leaf_count(size),
        1,
        duration,
        10 * PRICE,
        0
    ));
    let c = market::Contracts::<Test>::get(id).expect("matched");
    assert_ok!(Market::confirm_stored(RuntimeOrigin::signed(c.host), id));
    (id, c.host)
}

/// The multi-proof of `contract`'s current challenge (all its leaves).
fn proof_of(contract: ContractId, f: &File) -> StorageProof {
    let (_, challenge) = Proofs::challenge_indices(contract).expect("seeded");
    let p = f
        .tree
        .prove_many_in(challenge.as_slice(), &f.bytes)
        .unwrap();
    StorageProof {
        leaf: p.leaves.try_into().unwrap(),
        path: p.nodes.try_into().unwrap(),
    }
}

fn prove(host: AccountId, contract: ContractId, f: &File) {
    let proof = proof_of(contract, f);
    assert_ok!(Proofs::submit_proofs(
        RuntimeOrigin::signed(host),
        vec![(contract, proof)].try_into().unwrap()
    ));
}

/// `who` holds `capital` and sells up to `max_cover` per contract at
/// [`PREMIUM`].
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

/// Everything `who` owns: free and held.
fn total(who: AccountId) -> Balance {
    <Balances as Inspect<AccountId>>::total_balance(&who)
}

/// "The insurance deposit guarantees contractors' liability": an insurer
/// never pays more than its premiums and what it recovers from the host's
/// deposit, even when the Sender and the host are one party that loses the
/// data on purpose. Here a Sender buys the most cover the insurer sells for
/// a 1-byte contract stored on its own host, and the host never proves.
#[test]
fn a_sender_and_its_own_host_cannot_drain_an_insurer_through_a_one_byte_contract() {
    build_and_execute(|| {
        host(H1); // the attacker's host
        insurer(INSURER, 100 * UNIT, 50 * UNIT, 0);
        let id = market::NextContractId::<Test>::get();
        assert_ok!(Market::place_request(
            RuntimeOrigin::signed(ALICE),
            1,
            [1; 32],
            1,
            1,
            10,
            10 * PRICE,
            0
        ));
        assert_ok!(Market::confirm_stored(RuntimeOrigin::signed(H1), id));
        let attacker = total(ALICE) + total(H1);
        let insurer_before = total(INSURER);
        // The most cover the insurer sells for this contract.
        let mut amount = 50 * UNIT;
        while amount > 0
            && Insurance::buy_cover(RuntimeOrigin::signed(ALICE), id, INSURER, amount, MAX_RATE)
                .is_err()
        {
            amount /= 2;
        }
        assert!(amount > 0, "some cover is sold");
        lose(id);
        assert!(
            total(INSURER) >= insurer_before,
            "the insurer lost {} on a {} cover of a 1-byte contract",
            insurer_before - total(INSURER),
            amount
        );
        assert!(total(ALICE) + total(H1) <= attacker, "the attacker gained");
    });
}

#[test]
fn a_sender_with_cover_is_made_whole_up_to_the_cover_when_data_is_lost() {
    build_and_execute(|| {
        host(H1);
        insurer(INSURER, 100 * UNIT, 50 * UNIT, 0);
        // 4 GiB: the host's deposit backing it (40 MASP) is above the cover.
        let (contract, h) = unproven(ALICE, 4 * GIB, 10);
        assert_eq!(Deposits::backing(contract), 40 * UNIT);
        buy(ALICE, contract, INSURER, 30 * UNIT);
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
        assert_eq!(slashed + paid, 30 * UNIT, "made whole up to the cover");
        // A total loss earns the insurer the premium of the whole covered
        // term (epochs 1..=10): 1% of the cover per epoch.
        let premium = 10 * (30 * UNIT / 100);
        assert_eq!(premium_held(ALICE), 0);
        let escrow_back = free(ALICE) + premium_held(ALICE) - before;
        assert_eq!(
            escrow_back,
            30 * UNIT - premium + market_refund(contract),
            "Sender got cover, paid the term's premium"
        );
        // The insurer paid `paid` and recovered it all from the host's
        // deposit still backing the contract (cover <= backing), and earned
        // the premium.
        assert!(paid > 0);
        assert_eq!(recovered, paid);
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
        let (c1, _) = unproven(ALICE, 4 * GIB, 10);
        let (c2, _) = unproven(ALICE, 4 * GIB, 10);
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
        let (c1, _) = unproven(ALICE, 2 * GIB, 10);
        let (c2, _) = unproven(BOB, 2 * GIB, 10);
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
        assert!(total_before.saturating_sub(free(INSURER) + capital_held(INSURER)) <= 25 * UNIT);
        // Cover within the backing: it recovered all it paid.
        assert!(free(INSURER) + capital_held(INSURER) >= total_before);
        assert!(Insurers::<Test>::get(INSURER).is_none_or(|i| i.committed == 0));
    });
}

#[test]
fn the_premium_is_paid_only_for_epochs_the_contract_is_live() {
    build_and_execute(|| {
        host(H1);
        insurer(INSURER, 100 * UNIT, 50 * UNIT, 0);
        let f = file(GIB as usize / 256, 5);
        let (contract, h) = stored(ALICE, &f, 6);
        // As much cover as the host's deposit backs: the premium is a share
        // of the cover, whatever the size.
        let cover = Deposits::backing(contract);
        let per_epoch = PREMIUM.mul_ceil(cover);
        let held_before = premium_held(ALICE);
        buy(ALICE, contract, INSURER, cover);
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
        let (contract, h) = stored(ALICE, &f, 3);
        let cover = Deposits::backing(contract);
        let per_epoch = PREMIUM.mul_ceil(cover);
        buy(ALICE, contract, INSURER, cover);
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
        buy(ALICE, id, INSURER, Deposits::backing(id));
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
        buy(ALICE, contract, INSURER, Deposits::backing(contract));
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
        let (contract, _) = unproven(ALICE, GIB, 10);
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
            Insurance::buy_cover(
                signed(ALICE),
                contract,
                INSURER2,
                UNIT,
                Perbill::from_parts(PREMIUM.deconstruct() - 1)
            ),
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
        // The whole cover per epoch: 100 epochs of 2 MASP is more than all.
        assert_ok!(Insurance::set_offer(
            signed(INSURER2),
            Perbill::one(),
            50 * UNIT,
            0
        ));
        assert!(all < 200 * UNIT);
        assert_noop!(
            Insurance::buy_cover(signed(POOR), c2, INSURER2, 2 * UNIT, MAX_RATE),
            Error::<Test>::InsufficientFunds
        );
        // More cover than the deposit backing a small contract (plus the
        // premium) could ever repay.
        let (c4, _) = stored(ALICE, &f, 10);
        assert_ok!(Insurance::set_offer(
            signed(INSURER2),
            PREMIUM,
            50 * UNIT,
            0
        ));
        assert_noop!(
            Insurance::buy_cover(signed(ALICE), c4, INSURER2, 50 * UNIT, MAX_RATE),
            Error::<Test>::CoverExceedsBacking
        );
        // Too late: the term is over before waiting ends.
        let (c3, _) = stored(ALICE, &f, 3);
        run_to(EPOCH + 1);
        assert_noop!(
            Insurance::buy_cover(signed(ALICE), c3, INSURER2, UNIT, MAX_RATE),
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
            Insurance::set_offer(signed(INSURER), Perbill::zero(), UNIT, 0),
            Error::<Test>::ZeroAmount
        );
        assert_noop!(
            Insurance::set_offer(signed(INSURER), PREMIUM, 0, 0),
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
    /// destroyed (checked by `build_and_execute` after each case), the
    /// insurer never pays out more than it locked, and it never ends up
    /// with less than it started with (cover is bounded by the deposits
    /// backing the contracts plus the premiums).
    #[test]
    fn random_covers_keep_every_invariant(ops in prop::collection::vec(op(), 1..40)) {
        let mut outcome = Ok(());
        build_and_execute(|| outcome = (|| -> Result<(), TestCaseError> {
            host(H1);
            host(H2);
            host(H3);
            insurer(INSURER, 20 * UNIT, 15 * UNIT, 0);
            let locked = 20 * UNIT;
            let start = total(INSURER);
            let f = file(8192, 11);
            // Two contracts of real data (their hosts may prove), two of
            // 1 GiB (10 MASP of backing) whose hosts never prove.
            let contracts: Vec<(ContractId, AccountId)> = (0..4)
                .map(|i| if i < 2 {
                    stored(ALICE + (i % 2), &f, 8)
                } else {
                    unproven(ALICE + (i % 2), GIB, 8)
                })
                .collect();
            for op in ops {
                match op {
                    Op::Buy { contract, amount } => {
                        let (id, _) = contracts[contract as usize];
                        let sender = ALICE + (contract as u64 % 2);
                        // From 1/16 of the backing to 2.5 times it.
                        let amount = Deposits::backing(id) * amount as Balance / 16;
                        let _ = Insurance::buy_cover(
                            RuntimeOrigin::signed(sender), id, INSURER, amount, PREMIUM);
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
                        let (id, h) = contracts[contract as usize % 2];
                        if market::Contracts::<Test>::get(id).is_some()
                            && Proofs::challenge(id).is_some()
                            && Proofs::current_epoch() >= 1
                            && Proofs::current_epoch() <= 8
                        {
                            let proof = proof_of(id, &f);
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
                prop_assert!(total(INSURER) >= start, "the insurer lost money");
            }
            Ok(())
        })());
        outcome?;
    }
}

/// A size an attacker might pick: the smallest, around a leaf, or any.
fn attack_size() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(1u64),
        Just(511),
        Just(512),
        Just(513),
        1u64..=2 << 20,
        1u64..=16 * GIB,
    ]
}

/// Whether `sender` could buy `amount` of cover for `contract` from
/// `INSURER` now (the attempt is rolled back).
fn cover_sold(sender: AccountId, contract: ContractId, amount: Balance) -> bool {
    use frame_support::storage::{with_transaction, TransactionOutcome};
    with_transaction(|| {
        let sold = Insurance::buy_cover(
            RuntimeOrigin::signed(sender),
            contract,
            INSURER,
            amount,
            MAX_RATE,
        )
        .is_ok();
        TransactionOutcome::Rollback(Ok::<_, sp_runtime::DispatchError>(sold))
    })
    .unwrap()
}

/// The most cover `sender` can buy for `contract` (binary search between
/// what is always sold, the deposit backing it, and the offer's maximum).
fn most_cover(sender: AccountId, contract: ContractId, max: Balance) -> Balance {
    let (mut lo, mut hi) = (0, max);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if cover_sold(sender, contract, mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The rule: cover is at most the host's deposit backing the contract
    /// (when the cover is bought) plus the premium of the covered epochs,
    /// and a claim earns the insurer the whole premium. So on every single
    /// policy, what the insurer pays is at most its premium plus what it
    /// recovers from that deposit; it never loses, even when the Sender and
    /// the host are one party (ALICE stores on her own host H1) that picks
    /// the size, the price, the term, the premium rate, the cover (up to
    /// the most it can buy), when to buy and when to stop proving, and then
    /// loses the data on purpose. Cover up to the backing is always sold.
    #[test]
    fn an_insurer_never_loses_on_a_policy_even_to_a_sender_that_is_its_own_host(
        size in attack_size(),
        price in prop_oneof![Just(1u128), 1u128..=100 * UNIT],
        duration in 1u32..=12,
        rate in prop_oneof![Just(1u32), Just(1_000_000_000u32), 1u32..=1_000_000_000],
        share in prop_oneof![Just(1_000u128), 1u128..=1_000],
        proven in 0u32..=12,
        buy_in in 0u32..=8,
    ) {
        let mut outcome = Ok(());
        build_and_execute(|| outcome = (|| -> Result<(), TestCaseError> {
            let signed = RuntimeOrigin::signed;
            // The insurer sells up to 100,000 MASP of cover per contract.
            let max_cover = 100_000 * UNIT;
            assert_ok!(Insurance::deposit_capital(signed(INSURER), max_cover));
            assert_ok!(Insurance::set_offer(
                signed(INSURER),
                Perbill::from_parts(rate),
                max_cover,
                0
            ));
            // ALICE's own host H1, at her price.
            assert_ok!(Market::register_host(
                signed(H1),
                b"https://h.example".to_vec().try_into().unwrap(),
                b"EU".to_vec().try_into().unwrap(),
                100 * GIB,
                [0; 32]
            ));
            assert_ok!(Deposits::deposit(signed(H1), 1_000 * UNIT));
            assert_ok!(Market::post_offer(signed(H1), price, 20 * GIB, 1, 100));
            // Real data when it is small enough to prove; otherwise H1
            // never proves.
            let f = (size <= 2 << 20).then(|| file(size as usize, size as u8));
            let id = market::NextContractId::<Test>::get();
            assert_ok!(Market::place_request(
                signed(ALICE),
                size,
                f.as_ref().map_or([9; 32], |f| f.tree.root()),
                masp_proofs::leaf_count(size),
                1,
                duration,
                price,
                0
            ));
            let c = market::Contracts::<Test>::get(id).expect("matched");
            prop_assert_eq!(c.host, H1);
            assert_ok!(Market::confirm_stored(signed(H1), id));
            let last = c.last_epoch;
            let insurer_before = total(INSURER);
            let attacker_before = total(ALICE) + total(H1);

            let mut bought = None;
            for epoch in 0..=last + 1 {
                run_to((epoch as u64 * EPOCH).max(1) + 1);
                if market::Contracts::<Test>::get(id).is_none() {
                    break;
                }
                if epoch >= 1 && epoch <= proven {
                    if let Some(f) = &f {
                        prove(H1, id, f);
                    }
                }
                if epoch == buy_in && bought.is_none() {
                    let backing = Deposits::backing(id);
                    let most = most_cover(ALICE, id, max_cover);
                    // Cover up to the backing is always sold (if the
                    // term has epochs left and ALICE can pay).
                    let affordable = cover_sold(ALICE, id, backing.max(1));
                    prop_assert!(!affordable || most >= backing);
                    let amount = most * share / 1_000;
                    if amount > 0 && cover_sold(ALICE, id, amount) {
                        assert_ok!(Insurance::buy_cover(
                            signed(ALICE), id, INSURER, amount, MAX_RATE));
                        bought = Some(amount);
                    }
                }
            }
            run_to((last as u64 + 2) * EPOCH);
            prop_assert!(market::Contracts::<Test>::get(id).is_none(), "ended");

            // Every claim paid at most the premium plus the recovery.
            let premium: Balance = events().iter().filter_map(|e| match e {
                Event::PremiumPaid { amount, .. } => Some(*amount),
                _ => None,
            }).sum();
            for e in events() {
                if let Event::Claimed { paid, recovered, .. } = e {
                    prop_assert!(
                        paid <= premium + recovered,
                        "paid {} > premium {} + recovered {} (cover {:?})",
                        paid, premium, recovered, bought
                    );
                }
            }
            prop_assert!(
                total(INSURER) >= insurer_before,
                "the insurer lost {} (cover {:?})",
                insurer_before - total(INSURER), bought
            );
            prop_assert!(
                total(ALICE) + total(H1) <= attacker_before,
                "the attacker gained {} (cover {:?})",
                total(ALICE) + total(H1) - attacker_before, bought
            );
            Ok(())
        })());
        outcome?;
    }
}
