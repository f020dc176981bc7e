//! The white paper's "instant and round-the-clock data access", held against
//! a host that stores (and proves) but will not serve; and the attacks on
//! the remedy: a stranger or the host itself challenging, a host answering
//! with wrong bytes or another piece, a challenger flooding a host, a
//! challenger settling early or twice.

use crate::{mock::*, ByHost, Challenges, Error, Event, HoldReason, OpenPerContract, PIECE_LEAVES};
use frame_support::{
    assert_noop, assert_ok,
    dispatch::Pays,
    traits::fungible::{Inspect, InspectHold},
};
use masp_primitives::traits::HostDeposits;

fn signed(who: AccountId) -> RuntimeOrigin {
    RuntimeOrigin::signed(who)
}

fn free(who: AccountId) -> Balance {
    Balances::balance(&who)
}

fn held(who: AccountId) -> Balance {
    Balances::balance_on_hold(&HoldReason::ChallengeDeposit.into(), &who)
}

fn events() -> Vec<Event<Test>> {
    System::events()
        .into_iter()
        .filter_map(|r| match r.event {
            RuntimeEvent::Retrieval(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn last_event() -> Event<Test> {
    events().pop().expect("a retrieval event")
}

fn run_to(n: u64) {
    System::set_block_number(n);
}

/// A 3-chunk-and-a-bit file (6,200 leaves, the last one short) stored by
/// [`HOST`] for [`ALICE`] as [`CONTRACT`], readable by [`BOB`] through
/// [`LISTING`].
fn stored() -> Tree {
    let tree = Tree::new(3 * (1 << 20) + 30_000 + 77);
    MockContracts::add(CONTRACT, HOST, ALICE, &tree, BACKING);
    MockAccess::grant(BOB, LISTING, CONTRACT);
    tree
}

#[test]
fn a_host_that_serves_answers_on_chain_and_keeps_its_deposit() {
    build_and_execute(|| {
        let tree = stored();
        let first = 2048 * 2 + 5;
        assert_ok!(Retrieval::open(signed(BOB), CONTRACT, first, Some(LISTING)));
        assert_eq!(held(BOB), DEPOSIT);
        assert_eq!(
            last_event(),
            Event::Opened {
                id: 0,
                contract: CONTRACT,
                host: HOST,
                challenger: BOB,
                first_leaf: first,
                leaves: PIECE_LEAVES as u32,
                deadline: 1 + PERIOD,
            }
        );
        let (host_before, bob_before) = (free(HOST), free(BOB));
        let backing = Deposits::backing(CONTRACT);

        let (piece, path) = tree.piece(first);
        let post = Retrieval::answer(signed(HOST), 0, piece.clone(), path).unwrap();
        assert_eq!(post.pays_fee, Pays::No, "answering costs the host no fee");

        // The challenger reads the ciphertext it asked for from the event.
        let start = first as usize * 512;
        assert_eq!(&piece[..], &tree.bytes[start..start + 8 * 512]);
        let reward = DEPOSIT / 10;
        assert_eq!(
            last_event(),
            Event::Answered {
                id: 0,
                contract: CONTRACT,
                host: HOST,
                piece,
                to_host: reward,
            }
        );
        assert_eq!(
            free(HOST),
            host_before + reward,
            "the host earns its reward"
        );
        assert_eq!(held(BOB), 0);
        assert_eq!(
            free(BOB),
            bob_before + DEPOSIT - reward,
            "a needless challenge costs its opener"
        );
        assert_eq!(
            Deposits::backing(CONTRACT),
            backing,
            "an answering host is not slashed"
        );
        assert_eq!(MockObserver::outcomes(), vec![(HOST, CONTRACT, true)]);
        assert!(Challenges::<Test>::get(0).is_none());
        assert!(!ByHost::<Test>::contains_key(HOST, 0));
        assert_eq!(OpenPerContract::<Test>::get(CONTRACT), 0);
    });
}

#[test]
fn a_host_that_refuses_is_slashed_and_the_challenger_paid() {
    build_and_execute(|| {
        stored();
        assert_ok!(Retrieval::open(signed(ALICE), CONTRACT, 0, None));
        let alice_before = free(ALICE);
        run_to(1 + PERIOD);
        assert_noop!(Retrieval::settle(signed(EVE), 0), Error::<Test>::TooEarly);

        run_to(2 + PERIOD);
        // Too late to answer now.
        let tree = Tree::new(3 * (1 << 20) + 30_000 + 77);
        let (piece, path) = tree.piece(0);
        assert_noop!(
            Retrieval::answer(signed(HOST), 0, piece, path),
            Error::<Test>::TooLate
        );
        // Anyone settles; the challenger is paid.
        assert_ok!(Retrieval::settle(signed(EVE), 0));
        // 5% of the backing: the challenger's bounty (at most its
        // deposit), the rest to the Sender (here both are Alice).
        let slashed = BACKING / 20;
        assert_eq!(
            last_event(),
            Event::Failed {
                id: 0,
                contract: CONTRACT,
                host: HOST,
                challenger: ALICE,
                slashed,
                to_challenger: DEPOSIT,
                to_sender: slashed - DEPOSIT,
            }
        );
        assert_eq!(Deposits::backing(CONTRACT), BACKING - slashed);
        assert_eq!(held(ALICE), 0);
        assert_eq!(free(ALICE), alice_before + DEPOSIT + slashed);
        assert_eq!(MockObserver::outcomes(), vec![(HOST, CONTRACT, false)]);
        assert_noop!(
            Retrieval::settle(signed(ALICE), 0),
            Error::<Test>::UnknownChallenge
        );
    });
}

#[test]
fn an_answer_in_the_last_block_counts() {
    build_and_execute(|| {
        let tree = stored();
        assert_ok!(Retrieval::open(signed(ALICE), CONTRACT, 9, None));
        run_to(1 + PERIOD);
        let (piece, path) = tree.piece(9);
        assert_ok!(Retrieval::answer(signed(HOST), 0, piece, path));
        run_to(10 + PERIOD);
        assert_noop!(
            Retrieval::settle(signed(ALICE), 0),
            Error::<Test>::UnknownChallenge
        );
    });
}

#[test]
fn the_files_last_short_piece_is_answered() {
    build_and_execute(|| {
        let tree = stored();
        let last = tree.leaf_count() - 1;
        let first = last - 2;
        assert_ok!(Retrieval::open(signed(ALICE), CONTRACT, first, None));
        match last_event() {
            Event::Opened { leaves, .. } => assert_eq!(leaves, 3),
            e => panic!("unexpected {e:?}"),
        }
        let (piece, path) = tree.piece(first);
        assert_eq!(piece.len(), 2 * 512 + (tree.bytes.len() % 512));
        assert_ok!(Retrieval::answer(signed(HOST), 0, piece, path));
        assert_noop!(
            Retrieval::open(signed(ALICE), CONTRACT, last + 1, None),
            Error::<Test>::LeafOutOfRange
        );
    });
}

#[test]
fn only_those_the_host_owes_the_data_may_challenge() {
    build_and_execute(|| {
        stored();
        let other = Tree::new(1 << 20);
        MockContracts::add(6, HOST, EVE, &other, BACKING);
        // A stranger, with or without a listing.
        assert_noop!(
            Retrieval::open(signed(EVE), CONTRACT, 0, None),
            Error::<Test>::NoAccess
        );
        assert_noop!(
            Retrieval::open(signed(EVE), CONTRACT, 0, Some(LISTING)),
            Error::<Test>::NoAccess
        );
        // Bob's listing does not name Eve's contract.
        assert_noop!(
            Retrieval::open(signed(BOB), 6, 0, Some(LISTING)),
            Error::<Test>::NoAccess
        );
        // Bob without naming his listing.
        assert_noop!(
            Retrieval::open(signed(BOB), CONTRACT, 0, None),
            Error::<Test>::NoAccess
        );
        // The host cannot challenge itself (to be paid its own slash, or to
        // earn the reward).
        MockAccess::grant(HOST, LISTING, CONTRACT);
        assert_noop!(
            Retrieval::open(signed(HOST), CONTRACT, 0, Some(LISTING)),
            Error::<Test>::OwnContract
        );
        assert_noop!(
            Retrieval::open(signed(ALICE), 77, 0, None),
            Error::<Test>::UnknownContract
        );
        MockContracts::unconfirm(6);
        assert_noop!(
            Retrieval::open(signed(EVE), 6, 0, None),
            Error::<Test>::NotConfirmed
        );
    });
}

#[test]
fn a_challenger_who_cannot_pay_the_deposit_changes_nothing() {
    build_and_execute(|| {
        stored();
        use frame_support::traits::{fungible::Mutate, tokens::Preservation};
        <Balances as Mutate<_>>::transfer(
            &BOB,
            &POT,
            INITIAL - DEPOSIT / 2,
            Preservation::Expendable,
        )
        .unwrap();
        assert_noop!(
            Retrieval::open(signed(BOB), CONTRACT, 0, Some(LISTING)),
            Error::<Test>::InsufficientFunds
        );
    });
}

#[test]
fn wrong_bytes_another_piece_or_another_host_never_pass() {
    build_and_execute(|| {
        let tree = stored();
        MockContracts::add(6, OTHER_HOST, ALICE, &tree, BACKING);
        assert_ok!(Retrieval::open(signed(ALICE), CONTRACT, 100, None));
        let (piece, path) = tree.piece(100);

        let mut flipped = piece.clone();
        flipped[700] ^= 1;
        assert_noop!(
            Retrieval::answer(signed(HOST), 0, flipped, path.clone()),
            Error::<Test>::InvalidPiece
        );
        // A genuine piece of the file, but not the one asked for.
        let (other_piece, other_path) = tree.piece(108);
        let e = Retrieval::answer(signed(HOST), 0, other_piece, other_path).unwrap_err();
        assert!(
            e.error == Error::<Test>::InvalidPiece.into()
                || e.error == Error::<Test>::BadPathLength.into(),
            "{e:?}"
        );
        assert!(Challenges::<Test>::get(0).is_some(), "still open");
        let mut short = piece.clone();
        short.truncate(512 * 7);
        assert_noop!(
            Retrieval::answer(signed(HOST), 0, short, path.clone()),
            Error::<Test>::BadPieceLength
        );
        let mut long_path = path.clone();
        long_path.try_push([0; 32]).unwrap();
        assert_noop!(
            Retrieval::answer(signed(HOST), 0, piece.clone(), long_path),
            Error::<Test>::BadPathLength
        );
        // Another host that holds the same file cannot answer for this one.
        assert_noop!(
            Retrieval::answer(signed(OTHER_HOST), 0, piece.clone(), path.clone()),
            Error::<Test>::NotHost
        );
        assert_noop!(
            Retrieval::answer(signed(HOST), 9, piece.clone(), path.clone()),
            Error::<Test>::UnknownChallenge
        );
        assert_ok!(Retrieval::answer(signed(HOST), 0, piece, path));
    });
}

#[test]
fn a_challenger_cannot_flood_a_host_or_lock_the_sender_out_and_every_answer_costs_it() {
    build_and_execute(|| {
        let tree = stored();
        MockAccess::grant(EVE, LISTING, CONTRACT);
        MockAccess::grant(OTHER_HOST, LISTING, CONTRACT);
        let host_before = free(HOST);
        assert_ok!(Retrieval::open(signed(BOB), CONTRACT, 0, Some(LISTING)));
        // One open challenge per challenger and contract.
        assert_noop!(
            Retrieval::open(signed(BOB), CONTRACT, 8, Some(LISTING)),
            Error::<Test>::AlreadyOpen
        );
        assert_ok!(Retrieval::open(signed(EVE), CONTRACT, 8, Some(LISTING)));
        // The readers' slots are full (a host's own accounts could fill
        // them), but the Sender is never locked out.
        assert_noop!(
            Retrieval::open(signed(OTHER_HOST), CONTRACT, 16, Some(LISTING)),
            Error::<Test>::TooManyOpen
        );
        assert_ok!(Retrieval::open(signed(ALICE), CONTRACT, 16, None));
        // Each answer frees a slot; each costs the challenger its reward.
        for round in 0..5u64 {
            let id = Challenges::<Test>::iter()
                .find(|(_, c)| c.challenger == BOB)
                .map(|(id, _)| id)
                .expect("Bob's is open");
            let c = Challenges::<Test>::get(id).expect("open");
            let (piece, path) = tree.piece(c.first_leaf);
            assert_ok!(Retrieval::answer(signed(HOST), id, piece, path));
            assert_ok!(Retrieval::open(
                signed(BOB),
                CONTRACT,
                24 + round * 8,
                Some(LISTING)
            ));
        }
        let answered = MockObserver::outcomes().len() as u128;
        assert_eq!(answered, 5);
        assert_eq!(free(HOST), host_before + answered * (DEPOSIT / 10));
        assert_eq!(held(BOB), DEPOSIT);
        assert_eq!(
            OpenPerContract::<Test>::get(CONTRACT),
            2,
            "the Sender's is not counted"
        );
    });
}

#[test]
fn a_contract_that_ended_owes_nothing_more() {
    build_and_execute(|| {
        stored();
        assert_ok!(Retrieval::open(signed(BOB), CONTRACT, 0, Some(LISTING)));
        let bob_before = free(BOB);
        let host_free_deposit = Deposits::free_deposit(&HOST);
        MockContracts::end(CONTRACT);
        run_to(2 + PERIOD);
        assert_ok!(Retrieval::settle(signed(BOB), 0));
        assert_eq!(
            last_event(),
            Event::Dropped {
                id: 0,
                contract: CONTRACT
            }
        );
        assert_eq!(free(BOB), bob_before + DEPOSIT);
        assert_eq!(
            Deposits::free_deposit(&HOST),
            host_free_deposit + BACKING,
            "nothing slashed from a released deposit"
        );
        assert!(MockObserver::outcomes().is_empty());
    });
}

#[test]
fn one_outage_is_punished_once_and_only_from_the_contracts_backing() {
    build_and_execute(|| {
        stored();
        let other = Tree::new(1 << 20);
        // Another contract of the same host: its backing is untouched.
        MockContracts::add(6, HOST, EVE, &other, BACKING);
        assert_ok!(Retrieval::open(signed(ALICE), CONTRACT, 0, None));
        assert_ok!(Retrieval::open(signed(BOB), CONTRACT, 0, Some(LISTING)));
        let bob_before = free(BOB);
        run_to(2 + PERIOD);
        assert_ok!(Retrieval::settle(signed(EVE), 0));
        // Bob's challenge of the same outage: his deposit back, no bounty,
        // no second slash, no second mark on the rating.
        assert_ok!(Retrieval::settle(signed(EVE), 1));
        assert_eq!(
            last_event(),
            Event::Dropped {
                id: 1,
                contract: CONTRACT
            }
        );
        assert_eq!(free(BOB), bob_before + DEPOSIT);
        let after_one = BACKING - BACKING / 20;
        assert_eq!(Deposits::backing(CONTRACT), after_one);
        assert_eq!(MockObserver::outcomes(), vec![(HOST, CONTRACT, false)]);
        // A later outage is punished again, from what is left.
        assert_ok!(Retrieval::open(signed(BOB), CONTRACT, 0, Some(LISTING)));
        run_to(3 + 2 * PERIOD);
        assert_ok!(Retrieval::settle(signed(BOB), 2));
        assert_eq!(
            Deposits::backing(CONTRACT),
            after_one - after_one / 20,
            "each failure takes its part of what is left"
        );
        assert_eq!(Deposits::backing(6), BACKING);
    });
}

#[test]
fn an_answer_after_the_contract_ended_earns_nothing() {
    build_and_execute(|| {
        let tree = stored();
        assert_ok!(Retrieval::open(signed(BOB), CONTRACT, 0, Some(LISTING)));
        let bob_before = free(BOB);
        MockContracts::end(CONTRACT);
        let (piece, path) = tree.piece(0);
        assert_ok!(Retrieval::answer(signed(HOST), 0, piece, path));
        assert_eq!(free(BOB), bob_before + DEPOSIT, "the whole deposit returns");
        assert!(MockObserver::outcomes().is_empty());
    });
}
