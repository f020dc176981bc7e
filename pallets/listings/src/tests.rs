//! The white paper's rules for distribution, and the attacks on them.
//!
//! "Receiver downloads the data from the System. Depending on the conditions
//! set by Sender, Receiver can download data either for a fee or free of
//! charge ... In order to download and decrypt the data, Receiver must
//! obtain a public key from Sender" — with no intermediary and no fee.

use crate::{
    mock::*, DueCount, Error, Event, HoldReason, ListingId, ListingTerms, Listings as ListingsMap,
    PurchaseState, Purchases, RefundReason,
};
use frame_support::{
    assert_noop, assert_ok,
    traits::{
        fungible::{Inspect, InspectHold},
        Hooks,
    },
};
use masp_primitives::seal::{self, Key32, SealedKey};
use proptest::prelude::*;

fn signed(who: AccountId) -> RuntimeOrigin {
    RuntimeOrigin::signed(who)
}

fn free(who: AccountId) -> Balance {
    Balances::balance(&who)
}

fn held(reason: HoldReason, who: AccountId) -> Balance {
    Balances::balance_on_hold(&reason.into(), &who)
}

fn last_event() -> Event<Test> {
    System::events()
        .into_iter()
        .filter_map(|r| match r.event {
            RuntimeEvent::Listings(e) => Some(e),
            _ => None,
        })
        .next_back()
        .expect("a listings event")
}

/// Options of a listing beyond its price.
#[derive(Default, Clone)]
struct Terms {
    open_key: Option<Key32>,
    to: Option<AccountId>,
    expires: Option<u64>,
    max_buyers: Option<u32>,
}

/// Alice lists her file (contracts 1 and 2, `FILE_KEY`) at `price`.
fn share(price: Balance, terms: Terms) -> ListingId {
    let id = crate::NextListingId::<Test>::get();
    assert_ok!(Listings::share(
        signed(ALICE),
        vec![1, 2].try_into().unwrap(),
        1,
        seal::key_commitment(&FILE_KEY),
        [9; 32],
        ListingTerms {
            price,
            open_key: terms.open_key,
            to: terms.to,
            expires: terms.expires,
            max_buyers: terms.max_buyers,
        },
        b"holiday photos".to_vec().try_into().unwrap(),
    ));
    id
}

/// Alice lists `contracts` at 1 MASP (one of them is enough to read).
fn alice_lists(contracts: Vec<u64>) -> sp_runtime::DispatchResult {
    alice_lists_needing(contracts, 1)
}

/// Alice lists `contracts` at 1 MASP, `need` of them needed to read.
fn alice_lists_needing(contracts: Vec<u64>, need: u32) -> sp_runtime::DispatchResult {
    Listings::share(
        signed(ALICE),
        contracts.try_into().unwrap(),
        need,
        seal::key_commitment(&FILE_KEY),
        [0; 32],
        ListingTerms {
            price: UNIT,
            open_key: None,
            to: None,
            expires: None,
            max_buyers: None,
        },
        Default::default(),
    )
}

/// `who` buys `listing` with its purchase key.
fn buy(
    who: AccountId,
    listing: ListingId,
) -> sp_runtime::DispatchResultWithInfo<frame_support::dispatch::PostDispatchInfo> {
    Listings::buy(
        signed(who),
        listing,
        seal::public_key(&purchase_secret(who)),
        Balance::MAX,
    )
}

/// `key` sealed for `buyer`'s purchase of `listing`, as the Sender's agent
/// seals it.
fn sealed_for(listing: ListingId, buyer: AccountId, key: &Key32) -> SealedKey {
    let recipient = seal::public_key(&purchase_secret(buyer));
    let context = seal::purchase_context(listing, &Listings::account_bytes(&buyer));
    seal::seal(key, &recipient, &[0x42; 32], &context).unwrap()
}

/// The key `buyer` gets out of its purchase of `listing`.
fn opened_by(listing: ListingId, buyer: AccountId) -> Option<Key32> {
    let p = Purchases::<Test>::get(listing, buyer)?;
    let sealed = match p.state {
        PurchaseState::Delivered { sealed, .. } | PurchaseState::Settled { sealed } => sealed,
        PurchaseState::AwaitingKey { .. } => return None,
    };
    let context = seal::purchase_context(listing, &Listings::account_bytes(&buyer));
    seal::open(&sealed, &purchase_secret(buyer), &context)
}

// ----- listing -----

#[test]
fn a_sender_lists_its_stored_file_for_a_deposit_and_nothing_else() {
    build_and_execute(|| {
        let before = free(ALICE);
        let id = share(5 * UNIT, Terms::default());
        assert_eq!(free(ALICE), before - LISTING_DEPOSIT);
        assert_eq!(held(HoldReason::Listing, ALICE), LISTING_DEPOSIT);
        let l = ListingsMap::<Test>::get(id).unwrap();
        assert_eq!(
            (l.sender, l.terms.price, l.sold, l.closed),
            (ALICE, 5 * UNIT, 0, false)
        );
        assert_eq!(
            last_event(),
            Event::Shared {
                listing: id,
                sender: ALICE,
                price: 5 * UNIT,
                public: false
            }
        );
    });
}

#[test]
fn nobody_lists_a_file_that_is_not_theirs_or_not_stored() {
    build_and_execute(|| {
        let commit = seal::key_commitment(&FILE_KEY);
        let attempt = |who, contracts: Vec<u64>, price, open_key, to, expires, max_buyers| {
            Listings::share(
                signed(who),
                contracts.try_into().unwrap(),
                1,
                commit,
                [0; 32],
                ListingTerms {
                    price,
                    open_key,
                    to,
                    expires,
                    max_buyers,
                },
                Default::default(),
            )
        };
        // Bob's contract, listed by Alice (to sell Bob's file).
        assert_noop!(
            attempt(ALICE, vec![1, 3], 0, None, None, None, None),
            Error::<Test>::NotContractSender
        );
        assert_noop!(
            attempt(ALICE, vec![], 0, None, None, None, None),
            Error::<Test>::NoContracts
        );
        assert_noop!(
            attempt(ALICE, vec![1, 1], 0, None, None, None, None),
            Error::<Test>::DuplicateContract
        );
        assert_noop!(
            attempt(ALICE, vec![1, 99], 0, None, None, None, None),
            Error::<Test>::UnknownContract
        );
        // A public listing gives its key away: it cannot also be sold or private.
        assert_noop!(
            attempt(ALICE, vec![1], UNIT, Some(FILE_KEY), None, None, None),
            Error::<Test>::PublicListingNotFree
        );
        assert_noop!(
            attempt(ALICE, vec![1], 0, Some(FILE_KEY), Some(CAROL), None, None),
            Error::<Test>::PublicListingNotFree
        );
        assert_noop!(
            attempt(ALICE, vec![1], 0, Some([8; 32]), None, None, None),
            Error::<Test>::WrongOpenKey
        );
        assert_noop!(
            attempt(ALICE, vec![1], 0, None, None, Some(1), None),
            Error::<Test>::ExpiryInPast
        );
        assert_noop!(
            attempt(ALICE, vec![1], 0, None, None, None, Some(0)),
            Error::<Test>::ZeroMaxBuyers
        );
        MockContracts::create(50, POOR);
        assert_noop!(
            attempt(POOR, vec![50], 0, None, None, None, None),
            Error::<Test>::InsufficientFunds
        );
    });
}

#[test]
fn a_listing_is_one_file_so_a_junk_contract_cannot_keep_it_sold() {
    // Alice lists her 5 MiB film beside a long-lived 1-byte contract:
    // once the film's contracts end, the junk one would keep the listing
    // "stored".
    build_and_execute(|| {
        MockContracts::create_shard(70, ALICE, [5; 32], 5 << 20);
        MockContracts::create_shard(71, ALICE, [5; 32], 5 << 20);
        MockContracts::create_shard(72, ALICE, [6; 32], 1);
        assert_noop!(alice_lists(vec![70, 71, 72]), Error::<Test>::MixedFiles);
        // Replicas sealed under distinct keys: one size, distinct roots.
        MockContracts::create_shard(73, ALICE, [7; 32], 5 << 20);
        assert_ok!(alice_lists(vec![70, 71, 73]));
    });
}

/// The same attack on a sharded listing: a junk "shard" far smaller than
/// the real ones, or a copy of one shard counted twice towards `need`.
#[test]
fn a_junk_or_repeated_shard_cannot_keep_a_sharded_file_sold() {
    build_and_execute(|| {
        MockContracts::create_shard(70, ALICE, [5; 32], 9 << 20);
        MockContracts::create_shard(71, ALICE, [6; 32], 9 << 20);
        MockContracts::create_shard(72, ALICE, [7; 32], 1);
        MockContracts::create_shard(73, ALICE, [5; 32], 9 << 20);
        assert_noop!(
            alice_lists_needing(vec![70, 71, 72], 2),
            Error::<Test>::MixedFiles
        );
        assert_noop!(
            alice_lists_needing(vec![70, 71, 73], 2),
            Error::<Test>::MixedFiles
        );
        // Real shards differ by at most one chunk.
        MockContracts::create_shard(74, ALICE, [8; 32], 8 << 20);
        assert_ok!(alice_lists_needing(vec![70, 71, 74], 2));
    });
}

/// Issue 20: a file's shards are distinct data (each its own root), so a
/// listing names contracts of different roots and how many of them make
/// the file readable; `need` must be 1..=contracts.
#[test]
fn a_sharded_file_is_listed_with_the_number_of_shards_it_needs() {
    build_and_execute(|| {
        MockContracts::create_with_root(70, ALICE, [5; 32]);
        MockContracts::create_with_root(71, ALICE, [6; 32]);
        assert_noop!(
            alice_lists_needing(vec![1, 70, 71], 0),
            Error::<Test>::BadNeed
        );
        assert_noop!(
            alice_lists_needing(vec![1, 70, 71], 4),
            Error::<Test>::BadNeed
        );
        let id = crate::NextListingId::<Test>::get();
        assert_ok!(alice_lists_needing(vec![1, 70, 71], 2));
        assert_eq!(crate::Listings::<Test>::get(id).unwrap().need, 2);
    });
}

/// A listed K+M file whose live shards fall below K is unreadable: it is
/// sold to nobody more (a junk or lone shard cannot keep it sold).
#[test]
fn a_sharded_file_below_its_needed_shards_is_not_sold() {
    build_and_execute(|| {
        MockContracts::create_with_root(70, ALICE, [5; 32]);
        MockContracts::create_with_root(71, ALICE, [6; 32]);
        let id = crate::NextListingId::<Test>::get();
        assert_ok!(alice_lists_needing(vec![1, 70, 71], 2));
        MockContracts::end(70);
        assert_ok!(buy(CAROL, id));
        MockContracts::end(1);
        assert_noop!(buy(DAVE, id), Error::<Test>::FileGone);
    });
}

#[test]
fn a_file_its_host_has_not_confirmed_cannot_be_listed() {
    // A Sender could otherwise sell a file whose request it cancels before
    // any host confirms it: the buyers would pay for nothing stored.
    build_and_execute(|| {
        MockContracts::create_unconfirmed(60, ALICE);
        assert_noop!(alice_lists(vec![1, 60]), Error::<Test>::NotConfirmed);
    });
}

// ----- paid purchase -----

#[test]
fn a_paid_purchase_pays_the_sender_in_full_once_the_key_is_on_chain_and_undisputed() {
    build_and_execute(|| {
        let price = 5 * UNIT;
        let id = share(price, Terms::default());
        let (alice, carol) = (free(ALICE), free(CAROL));
        assert_ok!(buy(CAROL, id));
        assert_eq!(free(CAROL), carol - price - PURCHASE_DEPOSIT);
        assert_eq!(held(HoldReason::Purchase, CAROL), price + PURCHASE_DEPOSIT);
        assert!(!Listings::has_access(id, &CAROL), "no key yet");

        run_to(3);
        assert_ok!(Listings::deliver_key(
            signed(ALICE),
            id,
            CAROL,
            sealed_for(id, CAROL, &FILE_KEY)
        ));
        assert_eq!(
            opened_by(id, CAROL),
            Some(FILE_KEY),
            "the Receiver opens the key with its own secret"
        );
        assert!(Listings::has_access(id, &CAROL));
        assert_eq!(free(ALICE), alice, "not paid during the dispute period");

        run_to(3 + DISPUTE_PERIOD);
        assert_eq!(
            free(ALICE),
            alice + price,
            "the Sender gets the whole price: no fee"
        );
        assert_eq!(free(CAROL), carol - price - PURCHASE_DEPOSIT);
        assert_eq!(held(HoldReason::Purchase, CAROL), PURCHASE_DEPOSIT);
        assert!(matches!(
            Purchases::<Test>::get(id, CAROL).unwrap().state,
            PurchaseState::Settled { .. }
        ));
        assert_eq!(
            last_event(),
            Event::Paid {
                listing: id,
                buyer: CAROL,
                sender: ALICE,
                amount: price
            }
        );
        assert_eq!(
            opened_by(id, CAROL),
            Some(FILE_KEY),
            "the key stays for later downloads"
        );
        assert_eq!(ListingsMap::<Test>::get(id).unwrap().pending, 0);
    });
}

#[test]
fn a_sender_whose_agent_is_offline_is_not_paid_and_the_buyer_is_refunded() {
    build_and_execute(|| {
        let id = share(5 * UNIT, Terms::default());
        let (alice, carol) = (free(ALICE), free(CAROL));
        assert_ok!(buy(CAROL, id));
        run_to(1 + KEY_DEADLINE);
        assert_eq!(free(CAROL), carol, "refunded in full, deposit included");
        assert_eq!(free(ALICE), alice);
        assert!(Purchases::<Test>::get(id, CAROL).is_none());
        assert_eq!(
            last_event(),
            Event::Refunded {
                listing: id,
                buyer: CAROL,
                amount: 5 * UNIT + PURCHASE_DEPOSIT,
                reason: RefundReason::KeyNotDelivered
            }
        );
        // A late key is refused; the buyer may simply buy again.
        assert_noop!(
            Listings::deliver_key(signed(ALICE), id, CAROL, sealed_for(id, CAROL, &FILE_KEY)),
            Error::<Test>::UnknownPurchase
        );
        assert_ok!(buy(CAROL, id));
    });
}

#[test]
fn a_key_delivered_at_the_deadline_is_refused_and_the_refund_goes_ahead() {
    build_and_execute(|| {
        let id = share(UNIT, Terms::default());
        assert_ok!(buy(CAROL, id));
        System::set_block_number(1 + KEY_DEADLINE);
        assert_noop!(
            Listings::deliver_key(signed(ALICE), id, CAROL, sealed_for(id, CAROL, &FILE_KEY)),
            Error::<Test>::DeadlinePassed
        );
        Listings::on_initialize(1 + KEY_DEADLINE);
        assert!(Purchases::<Test>::get(id, CAROL).is_none());
    });
}

// ----- wrong keys -----

#[test]
fn a_sender_who_delivers_a_wrong_key_does_not_keep_the_money() {
    build_and_execute(|| {
        let price = 5 * UNIT;
        let id = share(price, Terms::default());
        let (alice, carol) = (free(ALICE), free(CAROL));
        assert_ok!(buy(CAROL, id));
        assert_ok!(Listings::deliver_key(
            signed(ALICE),
            id,
            CAROL,
            sealed_for(id, CAROL, &[8; 32])
        ));
        assert_ne!(opened_by(id, CAROL), Some(FILE_KEY));

        assert_ok!(Listings::dispute_key(
            signed(CAROL),
            id,
            purchase_secret(CAROL)
        ));
        assert_eq!(
            free(CAROL),
            carol + LISTING_DEPOSIT,
            "made whole, and paid the listing's deposit"
        );
        assert_eq!(free(ALICE), alice);
        assert_eq!(held(HoldReason::Listing, ALICE), 0);
        let l = ListingsMap::<Test>::get(id).unwrap();
        assert!(
            l.closed,
            "a listing that delivered a wrong key sells no more"
        );
        assert_noop!(buy(DAVE, id), Error::<Test>::ListingClosed);
        // The payment that was due never happens.
        run_to(1 + DISPUTE_PERIOD + 1);
        assert_eq!(free(ALICE), alice);
    });
}

#[test]
fn a_key_sealed_for_another_buyer_is_a_wrong_key() {
    build_and_execute(|| {
        let id = share(UNIT, Terms::default());
        assert_ok!(buy(CAROL, id));
        assert_ok!(buy(DAVE, id));
        // The Sender replays Carol's sealed key to Dave.
        let carols = sealed_for(id, CAROL, &FILE_KEY);
        assert_ok!(Listings::deliver_key(signed(ALICE), id, CAROL, carols));
        assert_ok!(Listings::deliver_key(signed(ALICE), id, DAVE, carols));
        assert_eq!(opened_by(id, DAVE), None);
        let dave = free(DAVE);
        assert_ok!(Listings::dispute_key(
            signed(DAVE),
            id,
            purchase_secret(DAVE)
        ));
        assert_eq!(free(DAVE), dave + UNIT + PURCHASE_DEPOSIT + LISTING_DEPOSIT);
        // Carol's key was right: she keeps her access and Alice is paid for it.
        let alice = free(ALICE);
        run_to(1 + DISPUTE_PERIOD);
        assert_eq!(free(ALICE), alice + UNIT);
        assert!(Listings::has_access(id, &CAROL));
    });
}

#[test]
fn a_buyer_cannot_dispute_a_right_key_to_get_the_file_for_free() {
    build_and_execute(|| {
        let id = share(5 * UNIT, Terms::default());
        assert_ok!(buy(CAROL, id));
        assert_ok!(Listings::deliver_key(
            signed(ALICE),
            id,
            CAROL,
            sealed_for(id, CAROL, &FILE_KEY)
        ));
        // A made-up secret is not the purchase's.
        assert_noop!(
            Listings::dispute_key(signed(CAROL), id, [1; 32]),
            Error::<Test>::WrongSecret
        );
        // The real one shows the key is right.
        assert_noop!(
            Listings::dispute_key(signed(CAROL), id, purchase_secret(CAROL)),
            Error::<Test>::KeyIsValid
        );
        // Someone else's purchase cannot be disputed.
        assert_noop!(
            Listings::dispute_key(signed(DAVE), id, purchase_secret(DAVE)),
            Error::<Test>::UnknownPurchase
        );
        let alice = free(ALICE);
        run_to(1 + DISPUTE_PERIOD);
        assert_eq!(free(ALICE), alice + 5 * UNIT);
        // After the period the price is the Sender's for good.
        assert_noop!(
            Listings::dispute_key(signed(CAROL), id, purchase_secret(CAROL)),
            Error::<Test>::NotDisputable
        );
    });
}

#[test]
fn a_dispute_before_the_key_arrives_is_refused() {
    build_and_execute(|| {
        let id = share(UNIT, Terms::default());
        assert_ok!(buy(CAROL, id));
        assert_noop!(
            Listings::dispute_key(signed(CAROL), id, purchase_secret(CAROL)),
            Error::<Test>::NotDisputable
        );
    });
}

#[test]
fn only_the_listings_sender_delivers_and_only_once() {
    build_and_execute(|| {
        let id = share(UNIT, Terms::default());
        assert_ok!(buy(CAROL, id));
        // Bob delivers a key of his choosing to get Carol's payment released.
        assert_noop!(
            Listings::deliver_key(signed(BOB), id, CAROL, sealed_for(id, CAROL, &[8; 32])),
            Error::<Test>::NotListingSender
        );
        assert_noop!(
            Listings::deliver_key(signed(ALICE), id, DAVE, sealed_for(id, DAVE, &FILE_KEY)),
            Error::<Test>::UnknownPurchase
        );
        assert_ok!(Listings::deliver_key(
            signed(ALICE),
            id,
            CAROL,
            sealed_for(id, CAROL, &FILE_KEY)
        ));
        // A second delivery cannot swap in another key or restart the period.
        assert_noop!(
            Listings::deliver_key(signed(ALICE), id, CAROL, sealed_for(id, CAROL, &[8; 32])),
            Error::<Test>::NotAwaitingKey
        );
    });
}

// ----- who may buy what -----

#[test]
fn bad_purchases_are_refused_and_change_nothing() {
    build_and_execute(|| {
        let id = share(
            5 * UNIT,
            Terms {
                max_buyers: Some(1),
                ..Default::default()
            },
        );
        assert_noop!(buy(CAROL, 99), Error::<Test>::UnknownListing);
        assert_noop!(buy(ALICE, id), Error::<Test>::OwnListing);
        assert_noop!(buy(POOR, id), Error::<Test>::InsufficientFunds);
        assert_noop!(
            Listings::buy(
                signed(CAROL),
                id,
                seal::public_key(&purchase_secret(CAROL)),
                UNIT
            ),
            Error::<Test>::PriceAboveMax
        );
        // A key of small order would let anyone read the sealed file key.
        assert_noop!(
            Listings::buy(signed(CAROL), id, [0; 32], Balance::MAX),
            Error::<Test>::WeakKey
        );
        assert_ok!(buy(CAROL, id));
        assert_noop!(buy(CAROL, id), Error::<Test>::AlreadyBought);
        assert_noop!(buy(DAVE, id), Error::<Test>::SoldOut);
    });
}

#[test]
fn a_private_grant_is_for_its_receiver_only() {
    build_and_execute(|| {
        let id = share(
            0,
            Terms {
                to: Some(CAROL),
                ..Default::default()
            },
        );
        assert_noop!(buy(DAVE, id), Error::<Test>::NotForYou);
        let carol = free(CAROL);
        assert_ok!(buy(CAROL, id));
        assert_eq!(
            free(CAROL),
            carol - PURCHASE_DEPOSIT,
            "free: only the record's deposit"
        );
        assert_ok!(Listings::deliver_key(
            signed(ALICE),
            id,
            CAROL,
            sealed_for(id, CAROL, &FILE_KEY)
        ));
        run_to(1 + DISPUTE_PERIOD);
        assert_eq!(opened_by(id, CAROL), Some(FILE_KEY));
        assert!(Listings::has_access(id, &CAROL));
        assert!(!Listings::has_access(id, &DAVE));
    });
}

#[test]
fn a_public_listing_is_open_to_all_and_sells_nothing() {
    build_and_execute(|| {
        let id = share(
            0,
            Terms {
                open_key: Some(FILE_KEY),
                ..Default::default()
            },
        );
        assert!(Listings::has_access(id, &DAVE));
        assert_eq!(
            ListingsMap::<Test>::get(id).unwrap().terms.open_key,
            Some(FILE_KEY)
        );
        assert_noop!(buy(DAVE, id), Error::<Test>::PublicListing);
    });
}

#[test]
fn an_expired_listing_sells_nothing() {
    build_and_execute(|| {
        let id = share(
            UNIT,
            Terms {
                expires: Some(5),
                ..Default::default()
            },
        );
        run_to(5);
        assert_noop!(buy(CAROL, id), Error::<Test>::ListingExpired);
    });
}

#[test]
fn a_file_no_longer_stored_is_not_sold() {
    build_and_execute(|| {
        let id = share(UNIT, Terms::default());
        MockContracts::end(1);
        // One replica is enough.
        assert_ok!(buy(CAROL, id));
        MockContracts::end(2);
        assert_noop!(buy(DAVE, id), Error::<Test>::FileGone);
    });
}

// ----- unsharing and clean-up -----

#[test]
fn after_unshare_a_new_buy_is_refused_and_an_old_buyer_keeps_access() {
    build_and_execute(|| {
        let id = share(UNIT, Terms::default());
        assert_ok!(buy(CAROL, id));
        assert_ok!(buy(DAVE, id));
        assert_ok!(Listings::deliver_key(
            signed(ALICE),
            id,
            CAROL,
            sealed_for(id, CAROL, &FILE_KEY)
        ));
        assert_noop!(
            Listings::unshare(signed(BOB), id),
            Error::<Test>::NotListingSender
        );
        assert_ok!(Listings::unshare(signed(ALICE), id));
        assert_noop!(
            Listings::unshare(signed(ALICE), id),
            Error::<Test>::ListingClosed
        );
        assert_noop!(buy(BOB, id), Error::<Test>::ListingClosed);
        // Purchases in flight still complete.
        assert_ok!(Listings::deliver_key(
            signed(ALICE),
            id,
            DAVE,
            sealed_for(id, DAVE, &FILE_KEY)
        ));
        run_to(1 + DISPUTE_PERIOD);
        assert!(Listings::has_access(id, &CAROL));
        assert!(Listings::has_access(id, &DAVE));
        // The Sender cannot take the listing away while the file is stored.
        assert_noop!(
            Listings::remove_listing(signed(ALICE), id),
            Error::<Test>::ListingInUse
        );
    });
}

#[test]
fn a_listing_goes_once_its_file_is_gone_and_every_deposit_returns() {
    build_and_execute(|| {
        let id = share(UNIT, Terms::default());
        assert_ok!(buy(CAROL, id));
        assert_ok!(Listings::deliver_key(
            signed(ALICE),
            id,
            CAROL,
            sealed_for(id, CAROL, &FILE_KEY)
        ));
        run_to(1 + DISPUTE_PERIOD);
        assert_ok!(buy(DAVE, id));
        MockContracts::end(1);
        MockContracts::end(2);
        // A purchase in flight keeps the listing.
        assert_noop!(
            Listings::remove_listing(signed(DAVE), id),
            Error::<Test>::ListingInUse
        );
        run_to(1 + DISPUTE_PERIOD + KEY_DEADLINE);
        assert_eq!(free(DAVE), INITIAL, "the late key is refunded");
        assert_noop!(
            Listings::remove_purchase(signed(DAVE), id, CAROL),
            Error::<Test>::ListingExists
        );
        assert_ok!(Listings::remove_listing(signed(DAVE), id));
        assert_eq!(held(HoldReason::Listing, ALICE), 0);
        assert_ok!(Listings::remove_purchase(signed(DAVE), id, CAROL));
        assert_eq!(held(HoldReason::Purchase, CAROL), 0);
        assert_noop!(
            Listings::remove_purchase(signed(DAVE), id, CAROL),
            Error::<Test>::UnknownPurchase
        );
    });
}

#[test]
fn a_sender_who_drops_the_file_after_delivering_is_not_paid() {
    // Deliver the key, cancel the contracts, wait out the dispute period:
    // the buyer would have paid for a file nobody stores.
    build_and_execute(|| {
        let id = share(5 * UNIT, Terms::default());
        assert_ok!(buy(CAROL, id));
        let carol = free(CAROL);
        assert_ok!(Listings::deliver_key(
            signed(ALICE),
            id,
            CAROL,
            sealed_for(id, CAROL, &FILE_KEY)
        ));
        MockContracts::end(1);
        MockContracts::end(2);
        let alice = free(ALICE);
        run_to(1 + DISPUTE_PERIOD + 1);
        assert_eq!(free(ALICE), alice, "the Sender is not paid");
        assert_eq!(free(CAROL), carol + 5 * UNIT + PURCHASE_DEPOSIT);
        assert_eq!(held(HoldReason::Purchase, CAROL), 0);
        assert_eq!(
            last_event(),
            Event::Refunded {
                listing: id,
                buyer: CAROL,
                amount: 5 * UNIT + PURCHASE_DEPOSIT,
                reason: RefundReason::FileGone
            }
        );
        assert!(Purchases::<Test>::get(id, CAROL).is_none());
    });
}

#[test]
fn a_key_that_x25519_reads_as_another_is_refused() {
    build_and_execute(|| {
        let id = share(UNIT, Terms::default());
        let mut high = seal::public_key(&purchase_secret(CAROL));
        high[31] |= 0x80;
        assert_noop!(
            Listings::buy(signed(CAROL), id, high, Balance::MAX),
            Error::<Test>::WeakKey
        );
        let mut p = [0xff; 32];
        p[31] = 0x7f;
        p[0] = 0xee;
        assert_noop!(
            Listings::buy(signed(CAROL), id, p, Balance::MAX),
            Error::<Test>::WeakKey
        );
    });
}

// ----- the due-queue -----

#[test]
fn anyone_settles_an_overdue_purchase_without_waiting_for_a_backlogged_queue() {
    // A crowd of purchases fills the queue at one block; the last buyer's
    // refund (and a Sender's payment) does not wait for it to drain.
    build_and_execute(|| {
        let id = share(UNIT, Terms::default());
        let buyers: Vec<AccountId> = CROWD.take(3 * MAX_DUE as usize).collect();
        for b in &buyers {
            assert_ok!(buy(*b, id));
        }
        let last = *buyers.last().unwrap();
        assert_noop!(
            Listings::settle(signed(DAVE), id, last),
            Error::<Test>::NotDue
        );
        run_to(1 + KEY_DEADLINE);
        assert!(free(last) < CROWD_FUNDS, "still queued");
        assert_ok!(Listings::settle(signed(DAVE), id, last));
        assert_eq!(free(last), CROWD_FUNDS);
        assert_noop!(
            Listings::settle(signed(DAVE), id, last),
            Error::<Test>::UnknownPurchase
        );
        // The queued item for it is now a no-op; the rest clear.
        run_to(1 + KEY_DEADLINE + 3);
        assert!(buyers.iter().all(|b| free(*b) == CROWD_FUNDS));

        // A delivered key: the Sender is paid on `settle` once due.
        assert_ok!(buy(CAROL, id));
        let now = System::block_number();
        assert_ok!(Listings::deliver_key(
            signed(ALICE),
            id,
            CAROL,
            sealed_for(id, CAROL, &FILE_KEY)
        ));
        assert_noop!(
            Listings::settle(signed(DAVE), id, CAROL),
            Error::<Test>::NotDue
        );
        System::set_block_number(now + DISPUTE_PERIOD);
        let alice = free(ALICE);
        assert_ok!(Listings::settle(signed(DAVE), id, CAROL));
        assert_eq!(free(ALICE), alice + UNIT);
        assert_noop!(
            Listings::settle(signed(DAVE), id, CAROL),
            Error::<Test>::NotDue
        );
        run_to(now + DISPUTE_PERIOD + 2);
        assert_eq!(free(ALICE), alice + UNIT, "paid once");
    });
}

#[test]
fn zero_deadlines_set_by_governance_never_lock_escrow() {
    // A deadline at the current block would sit behind the queue's cursor
    // and never be processed.
    build_and_execute(|| {
        KeyDeadline::set(&0);
        DisputePeriod::set(&0);
        let id = share(UNIT, Terms::default());
        run_to(2);
        assert_ok!(buy(CAROL, id));
        run_to(3);
        assert_eq!(free(CAROL), INITIAL, "refunded the next block");
        assert_ok!(buy(DAVE, id));
        assert_ok!(Listings::deliver_key(
            signed(ALICE),
            id,
            DAVE,
            sealed_for(id, DAVE, &FILE_KEY)
        ));
        let alice = free(ALICE);
        run_to(5);
        assert_eq!(free(ALICE), alice + UNIT, "paid the next block");
        assert_eq!(ListingsMap::<Test>::get(id).unwrap().pending, 0);
    });
}

#[test]
fn deadlines_beyond_the_per_block_limit_are_all_refunded_in_later_blocks() {
    build_and_execute(|| {
        let id = share(UNIT, Terms::default());
        let buyers: Vec<AccountId> = CROWD.take(3 * MAX_DUE as usize).collect();
        for b in &buyers {
            assert_ok!(buy(*b, id));
        }
        assert_eq!(DueCount::<Test>::get(1 + KEY_DEADLINE), 3 * MAX_DUE);
        run_to(1 + KEY_DEADLINE);
        let refunded = buyers.iter().filter(|b| free(**b) == CROWD_FUNDS).count();
        assert_eq!(refunded, MAX_DUE as usize, "a bounded number per block");
        run_to(1 + KEY_DEADLINE + 2);
        assert!(
            buyers.iter().all(|b| free(*b) == CROWD_FUNDS),
            "the backlog clears"
        );
        assert_eq!(ListingsMap::<Test>::get(id).unwrap().pending, 0);
    });
}

// ----- property: nobody loses to anyone -----

/// What the Sender does with one purchase.
#[derive(Clone, Copy, Debug)]
enum SenderMove {
    /// Never delivers.
    Nothing,
    /// Delivers the listed key.
    Right,
    /// Delivers another key.
    Wrong,
    /// Delivers garbage that does not open.
    Garbage,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the Sender delivers and whether the buyer disputes: a
    /// buyer that ends with the listed key paid exactly the price; a buyer
    /// that got no key, or disputed a wrong one in time, paid nothing; the
    /// Sender is paid exactly the price for each key that was right or that
    /// nobody disputed, and never more.
    #[test]
    fn a_buyer_pays_exactly_for_a_right_key_and_nothing_for_a_disputed_wrong_one(
        moves in proptest::collection::vec((0u8..4, any::<bool>()), 1..5),
        price in 0u128..10 * UNIT,
    ) {
        build_and_execute(|| {
            let id = share(price, Terms::default());
            let buyers: Vec<AccountId> = CROWD.take(moves.len()).collect();
            let alice = free(ALICE) + held(HoldReason::Listing, ALICE);
            for b in &buyers {
                assert_ok!(buy(*b, id));
            }
            let mut paid_for = 0u128;
            for (b, (m, dispute)) in buyers.iter().zip(&moves) {
                let sealed = match [SenderMove::Nothing, SenderMove::Right, SenderMove::Wrong, SenderMove::Garbage][*m as usize] {
                    SenderMove::Nothing => continue,
                    SenderMove::Right => sealed_for(id, *b, &FILE_KEY),
                    SenderMove::Wrong => sealed_for(id, *b, &[8; 32]),
                    SenderMove::Garbage => SealedKey { ephemeral: seal::public_key(&[3; 32]), ciphertext: [1; 32], tag: [2; 16] },
                };
                assert_ok!(Listings::deliver_key(signed(ALICE), id, *b, sealed));
                let disputed = *dispute && Listings::dispute_key(signed(*b), id, purchase_secret(*b)).is_ok();
                assert_eq!(disputed, *dispute && *m != 1, "a dispute succeeds exactly against a wrong key");
                if !disputed {
                    paid_for += 1;
                }
            }
            run_to(1 + KEY_DEADLINE + DISPUTE_PERIOD + 2);
            for (b, (m, dispute)) in buyers.iter().zip(&moves) {
                let total = free(*b) + held(HoldReason::Purchase, *b);
                match (*m, *dispute) {
                    (1, _) => {
                        assert_eq!(opened_by(id, *b), Some(FILE_KEY));
                        assert_eq!(total, CROWD_FUNDS - price, "a right key costs exactly the price");
                    }
                    (0, _) | (_, true) => {
                        assert!(total >= CROWD_FUNDS, "a buyer without a key lost {}", CROWD_FUNDS - total);
                        assert!(!Listings::has_access(id, b));
                    }
                    _ => assert_eq!(total, CROWD_FUNDS - price, "an undisputed key is paid for"),
                }
            }
            let alice_now = free(ALICE) + held(HoldReason::Listing, ALICE);
            assert!(alice_now <= alice + paid_for * price, "the Sender was paid for more than it delivered");
            assert!(alice_now + LISTING_DEPOSIT >= alice + paid_for * price, "the Sender lost more than its deposit");
        });
    }
}

#[test]
fn only_a_reader_of_a_listing_that_names_a_contract_may_challenge_its_host() {
    use masp_primitives::traits::ReadAccess;
    build_and_execute(|| {
        let id = share(UNIT, Terms::default());
        assert_ok!(buy(CAROL, id));
        // Awaiting the key: no access yet, so no challenge.
        assert!(!<Listings as ReadAccess<_>>::may_read(&CAROL, id, 1));
        let post =
            Listings::deliver_key(signed(ALICE), id, CAROL, sealed_for(id, CAROL, &FILE_KEY))
                .unwrap();
        assert_eq!(
            post.pays_fee,
            frame_support::dispatch::Pays::No,
            "a delivery costs the Sender no fee (buyers of a free listing cannot drain it)"
        );
        assert!(<Listings as ReadAccess<_>>::may_read(&CAROL, id, 1));
        assert!(<Listings as ReadAccess<_>>::may_read(&CAROL, id, 2));
        // A contract the listing does not name, another listing, another
        // account.
        assert!(!<Listings as ReadAccess<_>>::may_read(&CAROL, id, 3));
        assert!(!<Listings as ReadAccess<_>>::may_read(&CAROL, id + 1, 1));
        assert!(!<Listings as ReadAccess<_>>::may_read(&DAVE, id, 1));
        // The Sender reads its own listing.
        assert!(<Listings as ReadAccess<_>>::may_read(&ALICE, id, 1));
    });
}
