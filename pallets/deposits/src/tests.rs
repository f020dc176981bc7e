//! The deposit rules, each stated as a test through the public calls and the
//! traits the market, proofs and insurance pallets use. Every test ends with
//! `try_state` and a check that no MASP was created or destroyed.

use crate::{mock::*, Backings, DepositInfo, Deposits as DepositsMap, Error, Event, HoldReason};
use frame_support::{
    assert_noop, assert_ok,
    traits::fungible::{Inspect, InspectHold},
};
use masp_primitives::traits::{HostDeposits, SlashDeposit, SlashOutcome};

fn held(who: AccountId) -> Balance {
    Balances::balance_on_hold(&HoldReason::HostDeposit.into(), &who)
}

fn deposit(who: AccountId, amount: Balance) {
    assert_ok!(Deposits::deposit(RuntimeOrigin::signed(who), amount));
}

#[test]
fn a_deposit_is_a_hold_on_the_hosts_own_masp() {
    build_and_execute(|| {
        deposit(HOST, 100 * UNIT);
        assert_eq!(held(HOST), 100 * UNIT);
        assert_eq!(Balances::balance(&HOST), INITIAL - 100 * UNIT);
        assert_eq!(Balances::total_balance(&HOST), INITIAL);
        deposit(HOST, 50 * UNIT);
        assert_eq!(
            Deposits::deposit_of(&HOST),
            DepositInfo {
                total: 150 * UNIT,
                reserved: 0,
                contracts: 0
            }
        );
        System::assert_last_event(
            Event::Deposited {
                host: HOST,
                amount: 50 * UNIT,
                total: 150 * UNIT,
            }
            .into(),
        );
    });
}

#[test]
fn a_bad_deposit_is_refused_and_changes_nothing() {
    build_and_execute(|| {
        assert_noop!(
            Deposits::deposit(RuntimeOrigin::signed(HOST), 0),
            Error::<Test>::ZeroAmount
        );
        assert_noop!(
            Deposits::deposit(RuntimeOrigin::signed(HOST), MIN_DEPOSIT - 1),
            Error::<Test>::BelowMinimumDeposit
        );
        // The host must keep the existential deposit free.
        assert_noop!(
            Deposits::deposit(RuntimeOrigin::signed(HOST), INITIAL),
            Error::<Test>::InsufficientBalance
        );
        deposit(HOST, INITIAL - EXISTENTIAL_DEPOSIT);
        assert_eq!(Balances::balance(&HOST), EXISTENTIAL_DEPOSIT);
    });
}

#[test]
fn only_the_free_part_of_a_deposit_can_be_withdrawn() {
    build_and_execute(|| {
        assert_noop!(
            Deposits::withdraw(RuntimeOrigin::signed(HOST), UNIT),
            Error::<Test>::NoDeposit
        );
        deposit(HOST, 100 * UNIT);
        assert_ok!(Deposits::reserve(&HOST, 7, 60 * UNIT));
        assert_eq!(Deposits::free_deposit(&HOST), 40 * UNIT);
        assert_noop!(
            Deposits::withdraw(RuntimeOrigin::signed(HOST), 41 * UNIT),
            Error::<Test>::InsufficientFreeDeposit
        );
        assert_noop!(
            Deposits::withdraw(RuntimeOrigin::signed(HOST), 0),
            Error::<Test>::ZeroAmount
        );
        assert_ok!(Deposits::withdraw(RuntimeOrigin::signed(HOST), 40 * UNIT));
        assert_eq!(held(HOST), 60 * UNIT);
        assert_eq!(Balances::balance(&HOST), INITIAL - 60 * UNIT);
        System::assert_last_event(
            Event::Withdrawn {
                host: HOST,
                amount: 40 * UNIT,
                total: 60 * UNIT,
            }
            .into(),
        );
        // Once the contract ends, the rest can go too, and the record with it.
        assert_eq!(Deposits::release(7), 60 * UNIT);
        assert_ok!(Deposits::withdraw(RuntimeOrigin::signed(HOST), 60 * UNIT));
        assert_eq!(held(HOST), 0);
        assert!(!DepositsMap::<Test>::contains_key(HOST));
    });
}

#[test]
fn a_contract_reserves_free_deposit_only() {
    build_and_execute(|| {
        assert_noop!(Deposits::reserve(&HOST, 1, UNIT), Error::<Test>::NoDeposit);
        deposit(HOST, 10 * UNIT);
        assert_ok!(Deposits::reserve(&HOST, 1, 6 * UNIT));
        System::assert_last_event(
            Event::Reserved {
                host: HOST,
                contract: 1,
                amount: 6 * UNIT,
            }
            .into(),
        );
        assert_noop!(
            Deposits::reserve(&HOST, 2, 5 * UNIT),
            Error::<Test>::InsufficientFreeDeposit
        );
        assert_noop!(
            Deposits::reserve(&HOST, 1, UNIT),
            Error::<Test>::AlreadyBacked
        );
        assert_ok!(Deposits::reserve(&HOST, 2, 4 * UNIT));
        assert_eq!(Deposits::free_deposit(&HOST), 0);
        assert_eq!(Deposits::backing(1), 6 * UNIT);
        assert_eq!(Deposits::deposit_of(&HOST).contracts, 2);
    });
}

#[test]
fn releasing_a_contract_frees_its_backing() {
    build_and_execute(|| {
        deposit(HOST, 10 * UNIT);
        assert_ok!(Deposits::reserve(&HOST, 1, 6 * UNIT));
        assert_eq!(Deposits::release(1), 6 * UNIT);
        System::assert_last_event(
            Event::Released {
                host: HOST,
                contract: 1,
                amount: 6 * UNIT,
            }
            .into(),
        );
        assert_eq!(Deposits::free_deposit(&HOST), 10 * UNIT);
        assert_eq!(Deposits::backing(1), 0);
        // Releasing twice (or an unknown contract) does nothing.
        assert_eq!(Deposits::release(1), 0);
        assert_eq!(held(HOST), 10 * UNIT);
    });
}

#[test]
fn a_slash_pays_the_sender_first_and_the_rest_to_the_pot() {
    build_and_execute(|| {
        deposit(HOST, 10 * UNIT);
        assert_ok!(Deposits::reserve(&HOST, 1, 6 * UNIT));
        let pot = Balances::balance(&POT);
        let outcome = Deposits::slash(1, 3 * UNIT, &SENDER, 2 * UNIT);
        assert_eq!(
            outcome,
            SlashOutcome {
                slashed: 3 * UNIT,
                to_victim: 2 * UNIT,
                to_remainder: UNIT
            }
        );
        assert_eq!(Balances::balance(&SENDER), INITIAL + 2 * UNIT);
        assert_eq!(Balances::balance(&POT), pot + UNIT);
        assert_eq!(held(HOST), 7 * UNIT);
        assert_eq!(Deposits::backing(1), 3 * UNIT);
        assert_eq!(Deposits::deposit_of(&HOST).reserved, 3 * UNIT);
        // The host's free MASP is untouched: it is never pushed into debt.
        assert_eq!(Balances::balance(&HOST), INITIAL - 10 * UNIT);
        System::assert_last_event(
            Event::Slashed {
                host: HOST,
                contract: 1,
                slashed: 3 * UNIT,
                victim: SENDER,
                to_victim: 2 * UNIT,
                to_remainder: UNIT,
            }
            .into(),
        );
        // What victims were paid is kept with the backing (an insurer's
        // claim counts the slashes the Sender already had).
        assert_eq!(Deposits::paid_to_victims(1), 2 * UNIT);
        Deposits::slash(1, UNIT, &SENDER, UNIT);
        assert_eq!(Deposits::paid_to_victims(1), 3 * UNIT);
        Deposits::release(1);
        assert_eq!(Deposits::paid_to_victims(1), 0);
    });
}

#[test]
fn a_slash_never_exceeds_the_deposit_backing_that_contract() {
    build_and_execute(|| {
        deposit(HOST, 10 * UNIT);
        assert_ok!(Deposits::reserve(&HOST, 1, 4 * UNIT));
        assert_ok!(Deposits::reserve(&HOST, 2, 5 * UNIT));
        let outcome = Deposits::slash(1, 100 * UNIT, &SENDER, 100 * UNIT);
        assert_eq!(outcome.slashed, 4 * UNIT);
        assert_eq!(outcome.to_victim, 4 * UNIT);
        // Contract 2's backing and the free part are untouched.
        assert_eq!(Deposits::backing(2), 5 * UNIT);
        assert_eq!(Deposits::free_deposit(&HOST), UNIT);
        // A fully slashed backing yields nothing more.
        assert_eq!(
            Deposits::slash(1, UNIT, &SENDER, UNIT),
            SlashOutcome::default()
        );
        // Unknown contracts cannot be slashed.
        assert_eq!(
            Deposits::slash(42, UNIT, &SENDER, UNIT),
            SlashOutcome::default()
        );
        assert_eq!(held(HOST), 6 * UNIT);
    });
}

#[test]
fn a_victim_that_cannot_receive_sends_everything_to_the_pot() {
    build_and_execute(|| {
        deposit(HOST, 10 * UNIT);
        assert_ok!(Deposits::reserve(&HOST, 1, 4 * UNIT));
        // A new account cannot be created with less than the existential deposit.
        let nobody: AccountId = 12345;
        let outcome = Deposits::slash(1, EXISTENTIAL_DEPOSIT / 2, &nobody, UNIT);
        assert_eq!(outcome.to_victim, 0);
        assert_eq!(outcome.to_remainder, EXISTENTIAL_DEPOSIT / 2);
        assert_eq!(Balances::total_balance(&nobody), 0);
    });
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

    /// Any sequence of deposits, withdrawals, reservations, releases and
    /// slashes keeps the invariants: hold == deposit, reserved == sum of
    /// backings <= deposit, and no MASP is created or destroyed.
    #[test]
    fn random_sequences_keep_the_books(ops in proptest::collection::vec(
        (0u8..5, 0u64..3, 0u64..6, 0u128..20), 1..60)
    ) {
        build_and_execute(|| {
            for (op, who, contract, units) in ops {
                let host = 1 + who % 2;
                let amount = units * UNIT / 2;
                match op {
                    0 => { let _ = Deposits::deposit(RuntimeOrigin::signed(host), amount); }
                    1 => { let _ = Deposits::withdraw(RuntimeOrigin::signed(host), amount); }
                    2 => {
                        let free = Deposits::free_deposit(&host);
                        let backed = Backings::<Test>::contains_key(contract);
                        let known = DepositsMap::<Test>::contains_key(host);
                        let r = Deposits::reserve(&host, contract, amount);
                        assert_eq!(r.is_ok(), !backed && known && amount <= free);
                    }
                    3 => { Deposits::release(contract); }
                    _ => {
                        let before = Deposits::backing(contract);
                        let out = Deposits::slash(contract, amount, &SENDER, amount / 2);
                        assert!(out.slashed <= before);
                        assert!(out.to_victim <= amount / 2);
                        assert_eq!(out.slashed, out.to_victim + out.to_remainder);
                    }
                }
                Deposits::do_try_state().unwrap();
            }
        });
    }
}
