//! The market's rules, each stated as a test through the public calls (and the
//! traits the proofs pallet uses). Every test ends with both pallets'
//! `try_state` and a check that no MASP was created or destroyed.

use crate::{
    mock::*, Contracts, DueCount, Error, Event, HoldReason, HostOffers, Hosts, OfferBook, Offers,
    RequestBook, Requests, ShardSpec,
};
use frame_support::{
    assert_noop, assert_ok,
    traits::fungible::{Inspect, InspectHold},
    BoundedVec,
};
use masp_primitives::{
    market::{epoch_cost, per_gib, term_cost, ContractId, OfferId, RequestId},
    traits::{HostDeposits, StorageContracts},
};

const ROOT: [u8; 32] = [7; 32];
const PRICE: Balance = UNIT; // per GiB per epoch

fn signed(who: AccountId) -> RuntimeOrigin {
    RuntimeOrigin::signed(who)
}

fn endpoint(s: &str) -> BoundedVec<u8, frame_support::traits::ConstU32<64>> {
    s.as_bytes().to_vec().try_into().unwrap()
}

fn region(s: &str) -> crate::Region {
    s.as_bytes().to_vec().try_into().unwrap()
}

fn register(host: AccountId) {
    assert_ok!(Market::register_host(
        signed(host),
        endpoint("https://host.example:8443"),
        region("EU"),
        100 * GIB,
        [host as u8; 32]
    ));
}

/// A registered host with `deposit` MASP of insurance deposit.
fn host_with_deposit(host: AccountId, deposit: Balance) {
    register(host);
    assert_ok!(Deposits::deposit(signed(host), deposit));
}

/// The id the next offer gets.
fn next_offer() -> OfferId {
    crate::NextOfferId::<Test>::get()
}

/// A host with a large deposit and one offer at `price` (10 GiB, 1..=100 epochs).
fn offer(host: AccountId, price: Balance) -> OfferId {
    if !Hosts::<Test>::contains_key(host) {
        host_with_deposit(host, 10_000 * UNIT);
    }
    let id = next_offer();
    assert_ok!(Market::post_offer(signed(host), price, 10 * GIB, 1, 100));
    id
}

fn place(
    sender: AccountId,
    size: u64,
    replicas: u32,
    duration: u32,
    max_price: Balance,
) -> RequestId {
    let id = crate::NextRequestId::<Test>::get();
    assert_ok!(Market::place_request(
        signed(sender),
        size,
        ROOT,
        masp_proofs::leaf_count(size),
        replicas,
        duration,
        max_price,
        0
    ));
    id
}

/// Contracts created since the last `System::reset_events`: (id, host, price).
fn created() -> Vec<(ContractId, AccountId, Balance)> {
    System::events()
        .into_iter()
        .filter_map(|r| match r.event {
            RuntimeEvent::Market(Event::ContractCreated {
                contract,
                host,
                price,
                ..
            }) => Some((contract, host, price)),
            _ => None,
        })
        .collect()
}

fn hosts_of(created: &[(ContractId, AccountId, Balance)]) -> Vec<AccountId> {
    created.iter().map(|c| c.1).collect()
}

fn escrow(who: AccountId) -> Balance {
    Balances::balance_on_hold(&HoldReason::Escrow.into(), &who)
}

fn book_deposit(who: AccountId) -> Balance {
    Balances::balance_on_hold(&HoldReason::BookDeposit.into(), &who)
}

fn free(who: AccountId) -> Balance {
    Balances::balance(&who)
}

// ----- hosts -----

#[test]
fn a_host_registers_with_endpoint_region_capacity_and_ticket_key() {
    build_and_execute(|| {
        register(H1);
        let host = Hosts::<Test>::get(H1).unwrap();
        assert_eq!(&host.endpoint[..], b"https://host.example:8443");
        assert_eq!(&host.region[..], b"EU");
        assert_eq!(host.capacity, 100 * GIB);
        assert_eq!(host.ticket_key, [1; 32]);
        System::assert_last_event(
            Event::HostRegistered {
                host: H1,
                capacity: 100 * GIB,
            }
            .into(),
        );
        assert_noop!(
            Market::register_host(signed(H1), endpoint("http://a.b"), region("EU"), 1, [0; 32]),
            Error::<Test>::AlreadyRegistered
        );
    });
}

#[test]
fn bad_host_details_are_refused_and_change_nothing() {
    build_and_execute(|| {
        for bad in ["ftp://host", "http://", "https://a b", "host:80", ""] {
            assert_noop!(
                Market::register_host(signed(H1), endpoint(bad), region("EU"), GIB, [0; 32]),
                Error::<Test>::BadEndpoint
            );
        }
        for bad in ["", "E U", "EU!"] {
            assert_noop!(
                Market::register_host(signed(H1), endpoint("http://h"), region(bad), GIB, [0; 32]),
                Error::<Test>::BadRegion
            );
        }
        assert_noop!(
            Market::register_host(
                signed(H1),
                endpoint("http://h"),
                region("US-EAST"),
                0,
                [0; 32]
            ),
            Error::<Test>::ZeroCapacity
        );
        assert_noop!(
            Market::update_host(signed(H1), endpoint("http://h"), region("EU"), GIB, [0; 32]),
            Error::<Test>::NotRegistered
        );
    });
}

#[test]
fn a_host_cannot_shrink_below_what_its_contracts_use_or_leave_while_they_live() {
    build_and_execute(|| {
        offer(H1, PRICE);
        let _ = offer(H1, 2 * PRICE);
        place(ALICE, 3 * GIB, 1, 10, PRICE);
        assert_noop!(
            Market::update_host(
                signed(H1),
                endpoint("http://h"),
                region("EU"),
                2 * GIB,
                [9; 32]
            ),
            Error::<Test>::CapacityBelowUsed
        );
        assert_ok!(Market::update_host(
            signed(H1),
            endpoint("http://new.example"),
            region("US"),
            3 * GIB,
            [9; 32]
        ));
        assert_eq!(Hosts::<Test>::get(H1).unwrap().ticket_key, [9; 32]);
        assert_noop!(
            Market::unregister_host(signed(H1)),
            Error::<Test>::HostHasLiveContracts
        );
        // Once the contract ends, the host may leave; its offers go with it
        // and their deposits return.
        let (contract, ..) = created()[0];
        assert_ok!(Market::cancel_contract(signed(ALICE), contract));
        assert_ok!(Market::unregister_host(signed(H1)));
        assert!(!Hosts::<Test>::contains_key(H1));
        assert!(HostOffers::<Test>::get(H1).is_empty());
        assert_eq!(OfferBook::<Test>::iter().count(), 0);
        assert_eq!(book_deposit(H1), 0);
        System::assert_last_event(Event::HostUnregistered { host: H1 }.into());
    });
}

// ----- offers -----

#[test]
fn an_offer_rests_in_the_book_and_holds_a_storage_deposit() {
    build_and_execute(|| {
        let id = offer(H1, PRICE);
        assert_eq!(book_deposit(H1), BOOK_DEPOSIT);
        let stored = Offers::<Test>::get(id).unwrap();
        assert_eq!(OfferBook::<Test>::get(stored.book_key), Some(id));
        System::assert_last_event(
            Event::OfferPosted {
                offer: id,
                host: H1,
                price: PRICE,
                capacity: 10 * GIB,
                min_duration: 1,
                max_duration: 100,
            }
            .into(),
        );
        assert_noop!(
            Market::cancel_offer(signed(H2), id),
            Error::<Test>::NotOfferOwner
        );
        assert_ok!(Market::cancel_offer(signed(H1), id));
        assert_eq!(book_deposit(H1), 0);
        assert!(Offers::<Test>::get(id).is_none());
        assert_noop!(
            Market::cancel_offer(signed(H1), id),
            Error::<Test>::UnknownOffer
        );
    });
}

#[test]
fn bad_offers_are_refused_and_change_nothing() {
    build_and_execute(|| {
        assert_noop!(
            Market::post_offer(signed(H1), PRICE, GIB, 1, 10),
            Error::<Test>::NotRegistered
        );
        register(H1);
        assert_noop!(
            Market::post_offer(signed(H1), PRICE, 0, 1, 10),
            Error::<Test>::ZeroCapacity
        );
        assert_noop!(
            Market::post_offer(signed(H1), PRICE, 101 * GIB, 1, 10),
            Error::<Test>::OfferAboveHostCapacity
        );
        for (min, max) in [(0, 10), (5, 4), (1, 101)] {
            assert_noop!(
                Market::post_offer(signed(H1), PRICE, GIB, min, max),
                Error::<Test>::BadDurationBounds
            );
        }
        // An offer must be able to take a minimum contract.
        assert_noop!(
            Market::post_offer(signed(H1), PRICE, GIB, 1, 10),
            Error::<Test>::InsufficientHostDeposit
        );
        assert_ok!(Deposits::deposit(signed(H1), UNIT));
        assert_noop!(
            Market::post_offer(signed(H1), PRICE, MIN_CONTRACT - 1, 1, 10),
            Error::<Test>::OfferTooSmall
        );
        for _ in 0..4 {
            assert_ok!(Market::post_offer(signed(H1), PRICE, GIB, 1, 10));
        }
        assert_noop!(
            Market::post_offer(signed(H1), PRICE, GIB, 1, 10),
            Error::<Test>::TooManyOffers
        );
    });
}

// ----- matching -----

#[test]
fn matching_takes_the_lowest_price_first() {
    build_and_execute(|| {
        offer(H1, 3 * PRICE);
        offer(H2, PRICE);
        offer(H3, 2 * PRICE);
        System::reset_events();
        place(ALICE, GIB, 2, 10, 5 * PRICE);
        assert_eq!(hosts_of(&created()), vec![H2, H3]);
        // Each contract is at its offer's price, not the Sender's max.
        assert_eq!(created()[0].2, PRICE);
        assert_eq!(created()[1].2, 2 * PRICE);
    });
}

#[test]
fn at_equal_prices_the_earliest_offer_wins() {
    build_and_execute(|| {
        offer(H2, PRICE);
        offer(H1, PRICE);
        System::reset_events();
        place(ALICE, GIB, 1, 10, PRICE);
        assert_eq!(hosts_of(&created()), vec![H2]);
    });
}

#[test]
fn no_match_above_the_max_price_and_the_remainder_rests() {
    build_and_execute(|| {
        offer(H1, PRICE);
        offer(H2, 3 * PRICE);
        System::reset_events();
        let id = place(ALICE, GIB, 2, 10, 2 * PRICE);
        assert_eq!(hosts_of(&created()), vec![H1]);
        let request = Requests::<Test>::get(id).unwrap();
        assert_eq!(request.unmatched(), 1);
        assert_eq!(RequestBook::<Test>::get(request.book_key), Some(id));
        System::assert_last_event(
            Event::RequestPlaced {
                request: id,
                sender: ALICE,
                size: GIB,
                replicas: 2,
                duration: 10,
                max_price: 2 * PRICE,
                matched: 1,
                resting: 1,
            }
            .into(),
        );
    });
}

#[test]
fn hosts_below_the_rating_floor_are_skipped() {
    build_and_execute(|| {
        offer(H1, PRICE);
        offer(H2, 2 * PRICE);
        set_rating(H1, 100);
        set_rating(H2, 900);
        System::reset_events();
        assert_ok!(Market::place_request(
            signed(ALICE),
            GIB,
            ROOT,
            GIB / 512,
            1,
            10,
            5 * PRICE,
            500
        ));
        assert_eq!(hosts_of(&created()), vec![H2]);
        assert_noop!(
            Market::place_request(signed(ALICE), GIB, ROOT, GIB / 512, 1, 10, PRICE, 1_000_001),
            Error::<Test>::BadMinRating
        );
    });
}

#[test]
fn a_host_matches_only_with_enough_free_deposit_which_the_contract_then_reserves() {
    build_and_execute(|| {
        // 2 GiB needs 2 x DEPOSIT_PER_GIB; H1 has less.
        host_with_deposit(H1, DEPOSIT_PER_GIB);
        assert_ok!(Market::post_offer(signed(H1), PRICE, 10 * GIB, 1, 100));
        offer(H2, 2 * PRICE);
        System::reset_events();
        place(ALICE, 2 * GIB, 1, 10, 5 * PRICE);
        let c = created();
        assert_eq!(hosts_of(&c), vec![H2]);
        assert_eq!(Deposits::backing(c[0].0), 2 * DEPOSIT_PER_GIB);
        assert_eq!(
            Deposits::free_deposit(&H2),
            10_000 * UNIT - 2 * DEPOSIT_PER_GIB
        );
        // The reserved part cannot be withdrawn while the contract lives.
        assert_noop!(
            Deposits::withdraw(signed(H2), 10_000 * UNIT),
            pallet_deposits::Error::<Test>::InsufficientFreeDeposit
        );
    });
}

#[test]
fn offers_without_the_capacity_or_the_duration_are_skipped() {
    build_and_execute(|| {
        host_with_deposit(H1, 10_000 * UNIT);
        assert_ok!(Market::post_offer(signed(H1), PRICE, GIB, 1, 100)); // too small
        host_with_deposit(H2, 10_000 * UNIT);
        assert_ok!(Market::post_offer(signed(H2), PRICE, 10 * GIB, 20, 100)); // too short a term
        host_with_deposit(H3, 10_000 * UNIT);
        assert_ok!(Market::post_offer(signed(H3), PRICE, 10 * GIB, 1, 5)); // too long a term
        offer(H4, 2 * PRICE);
        System::reset_events();
        place(ALICE, 2 * GIB, 1, 10, 5 * PRICE);
        assert_eq!(hosts_of(&created()), vec![H4]);
    });
}

#[test]
fn each_replica_goes_to_a_distinct_host() {
    build_and_execute(|| {
        offer(H1, PRICE);
        offer(H1, PRICE);
        offer(H1, PRICE);
        offer(H2, 2 * PRICE);
        System::reset_events();
        let id = place(ALICE, GIB, 3, 10, 5 * PRICE);
        assert_eq!(hosts_of(&created()), vec![H1, H2]);
        assert_eq!(Requests::<Test>::get(id).unwrap().unmatched(), 1);
    });
}

#[test]
fn a_host_is_never_matched_to_its_own_request() {
    build_and_execute(|| {
        offer(H1, PRICE);
        offer(H2, 2 * PRICE);
        System::reset_events();
        place(H1, GIB, 1, 10, 5 * PRICE);
        assert_eq!(hosts_of(&created()), vec![H2]);
    });
}

#[test]
fn a_resting_request_matches_when_an_offer_arrives_highest_bid_first() {
    build_and_execute(|| {
        let low = place(ALICE, GIB, 1, 10, PRICE);
        let high = place(BOB, GIB, 1, 10, 3 * PRICE);
        assert_eq!(RequestBook::<Test>::iter().count(), 2);
        System::reset_events();
        // Room for one contract only: the highest bid gets it.
        host_with_deposit(H1, 10_000 * UNIT);
        assert_ok!(Market::post_offer(signed(H1), PRICE, GIB, 1, 100));
        let c = created();
        assert_eq!(c.len(), 1);
        assert_eq!(Contracts::<Test>::get(c[0].0).unwrap().sender, BOB);
        assert_eq!(Contracts::<Test>::get(c[0].0).unwrap().request, high);
        assert!(Requests::<Test>::get(high).is_none());
        assert!(Requests::<Test>::get(low).is_some());
        // The sold-out offer left the book and its deposit returned.
        assert_eq!(OfferBook::<Test>::iter().count(), 0);
        assert_eq!(book_deposit(H1), 0);
        System::assert_has_event(Event::RequestFilled { request: high }.into());
    });
}

#[test]
fn lowering_an_offer_matches_resting_requests_and_repricing_loses_time_priority() {
    build_and_execute(|| {
        let a = offer(H1, 3 * PRICE);
        offer(H2, 2 * PRICE);
        let id = place(ALICE, GIB, 1, 10, PRICE);
        assert!(created().is_empty());
        System::reset_events();
        assert_ok!(Market::update_offer(signed(H1), a, PRICE, 10 * GIB, 1, 100));
        assert_eq!(hosts_of(&created()), vec![H1]);
        assert!(Requests::<Test>::get(id).is_none());
        // Re-pricing to an existing price queues behind the earlier offer.
        let b = offer(H3, PRICE);
        assert_ok!(Market::update_offer(
            signed(H2),
            next_offer() - 2,
            PRICE,
            10 * GIB,
            1,
            100
        ));
        let order: Vec<_> = Market::order_book(10)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(order, vec![a, b, next_offer() - 2]);
        assert_noop!(
            Market::update_offer(signed(H3), a, PRICE, GIB, 1, 100),
            Error::<Test>::NotOfferOwner
        );
    });
}

/// Issue 18 item 5 (offers): matching examines at most `MaxMatchScan`
/// offers, so zero-price offers that can take no contract (their hosts
/// withdrew their deposit) used to hold the top of the book and halt the
/// market for ~3 MASP of refundable deposits. An offer now needs the free
/// deposit of a minimum contract to be posted, and one that has lost it is
/// taken out of the book when matching meets it (not counted against the
/// bound): a real request behind more junk than the bound still matches.
#[test]
fn junk_offers_cannot_rest_and_do_not_halt_matching() {
    build_and_execute(|| {
        register(H1);
        assert_noop!(
            Market::post_offer(signed(H1), 0, GIB, 1, 100),
            Error::<Test>::InsufficientHostDeposit
        );
        // 12 zero-price offers (more than MAX_SCAN = 8), whose hosts then
        // withdraw the deposit that let them post.
        let junk_hosts = [H1, H2, H4];
        for h in junk_hosts {
            if h != H1 {
                register(h);
            }
            assert_ok!(Deposits::deposit(signed(h), UNIT));
            for _ in 0..4 {
                assert_ok!(Market::post_offer(signed(h), 0, GIB, 1, 100));
            }
            assert_ok!(Deposits::withdraw(signed(h), UNIT));
        }
        assert!(OfferBook::<Test>::iter().count() > MAX_SCAN as usize);
        // An honest offer behind them.
        offer(H3, PRICE);
        assert_eq!(
            Market::quote(GIB, 10, 1, None, 0)
                .lines
                .iter()
                .map(|l| l.host)
                .collect::<Vec<_>>(),
            vec![H3]
        );
        System::reset_events();
        let id = place(ALICE, GIB, 1, 10, PRICE);
        assert_eq!(hosts_of(&created()), vec![H3]);
        assert!(Requests::<Test>::get(id).is_none());
        // MAX_SCAN junk offers left the book, their storage deposits returned.
        assert_eq!(
            OfferBook::<Test>::iter().count(),
            12 - MAX_SCAN as usize + 1
        );
        assert_eq!(book_deposit(H1), 0);
        assert!(HostOffers::<Test>::get(H1).is_empty());
        // A host whose contracts use its whole capacity cannot post either.
        assert_ok!(Market::update_host(
            signed(H3),
            endpoint("https://h3.example"),
            region("EU"),
            GIB,
            [3; 32]
        ));
        assert_noop!(
            Market::post_offer(signed(H3), 0, GIB, 1, 100),
            Error::<Test>::OfferTooSmall
        );
    });
}

/// Issue 18 item 5 (requests): one-byte requests with a rating floor no host
/// meets used to rest at the top of the request book and stop every new
/// offer from matching. A floor above the best rating that exists is
/// refused, and a resting request whose floor the best rating fell below is
/// closed (refunded) when matching meets it: a real request behind more
/// junk than the bound still matches.
#[test]
fn junk_requests_cannot_rest_and_do_not_halt_matching() {
    build_and_execute(|| {
        set_default_rating(500_000);
        assert_noop!(
            Market::place_request(signed(ALICE), 1, ROOT, 1, 1, 10, 100 * PRICE, 600_000),
            Error::<Test>::BadMinRating
        );
        // Junk placed while some host was rated that high...
        set_default_rating(950_000);
        for _ in 0..MAX_SCAN + 2 {
            assert_ok!(Market::place_request(
                signed(ALICE),
                1,
                ROOT,
                1,
                1,
                10,
                100 * PRICE,
                900_000
            ));
        }
        // ...then no host is any more.
        set_default_rating(500_000);
        let real = place(BOB, GIB, 1, 10, PRICE);
        assert_eq!(RequestBook::<Test>::iter().count() as u32, MAX_SCAN + 3);
        System::reset_events();
        offer(H1, PRICE);
        let c = created();
        assert_eq!(c.len(), 1);
        assert_eq!(Contracts::<Test>::get(c[0].0).unwrap().request, real);
        // MAX_SCAN junk requests were closed and refunded on the way.
        assert_eq!(RequestBook::<Test>::iter().count(), 2);
        let bid = term_cost(100 * PRICE, MIN_CONTRACT, 10).unwrap();
        assert_eq!(escrow(ALICE), 2 * bid);
        assert_eq!(book_deposit(ALICE), 2 * BOOK_DEPOSIT);
    });
}

// ----- shards: distinct data per replica -----

/// A shard of `size` bytes whose root is `tag` repeated.
fn shard(size: u64, tag: u8) -> ShardSpec {
    ShardSpec {
        size,
        merkle_root: [tag; 32],
        leaf_count: masp_proofs::leaf_count(size),
    }
}

fn place_shards(sender: AccountId, shards: Vec<ShardSpec>, max_price: Balance) -> RequestId {
    let id = crate::NextRequestId::<Test>::get();
    assert_ok!(Market::place_shards(
        signed(sender),
        shards.try_into().unwrap(),
        Default::default(),
        10,
        max_price,
        0
    ));
    id
}

/// Issue 20: a sharded request stores distinct data on distinct hosts in
/// one call and one escrow. Shard `i` goes to the `i`-th host matched, and
/// its contract carries that shard's root, size and leaf count (so a host
/// proves, and is paid for, exactly the shard it took).
#[test]
fn each_shard_is_its_own_contract_on_a_distinct_host_priced_on_its_size() {
    build_and_execute(|| {
        offer(H1, PRICE);
        offer(H2, PRICE);
        offer(H3, 2 * PRICE);
        System::reset_events();
        let before = free(ALICE);
        let shards = vec![shard(GIB, 1), shard(GIB / 2, 2), shard(3 * GIB / 4 + 5, 3)];
        let id = place_shards(ALICE, shards.clone(), 2 * PRICE);
        let c = created();
        assert_eq!(hosts_of(&c), vec![H1, H2, H3]);
        let mut held = 0;
        for ((contract, _, price), s) in c.iter().zip(&shards) {
            let k = Contracts::<Test>::get(contract).unwrap();
            assert_eq!(
                (k.size, k.merkle_root, k.leaf_count, k.request),
                (s.size, s.merkle_root, s.leaf_count, id)
            );
            assert_eq!(k.escrow, term_cost(*price, s.size, 10).unwrap());
            held += k.escrow;
        }
        // Filled at once: only the contracts' terms stay held, the rest of
        // each bid (at the max price) returned.
        assert!(Requests::<Test>::get(id).is_none());
        assert_eq!(escrow(ALICE), held);
        assert_eq!(free(ALICE), before - held);
        System::assert_has_event(
            Event::RequestPlaced {
                request: id,
                sender: ALICE,
                size: GIB,
                replicas: 3,
                duration: 10,
                max_price: 2 * PRICE,
                matched: 3,
                resting: 0,
            }
            .into(),
        );
    });
}

// ----- a Sender picks its hosts -----

fn place_on(
    sender: AccountId,
    shards: Vec<ShardSpec>,
    offers: Vec<OfferId>,
    max_price: Balance,
) -> frame_support::dispatch::DispatchResultWithPostInfo {
    Market::place_on_offers(
        signed(sender),
        shards.try_into().unwrap(),
        offers.try_into().unwrap(),
        10,
        max_price,
    )
}

/// Issue 23 (white paper: customers "choose a contractor with the best
/// suitable price and rating"): a Sender may pick its hosts, not only the
/// cheapest. Shard `i` goes to the host of the `i`-th picked offer at that
/// offer's price, however many cheaper offers rest in the book, and the
/// rest of the bid is returned at once.
#[test]
fn a_sender_places_shards_on_the_offers_it_picked_at_their_prices() {
    build_and_execute(|| {
        offer(H1, PRICE);
        offer(H2, PRICE);
        let o3 = offer(H3, 2 * PRICE);
        let o4 = offer(H4, 3 * PRICE);
        System::reset_events();
        let before = free(ALICE);
        let id = crate::NextRequestId::<Test>::get();
        assert_ok!(place_on(
            ALICE,
            vec![shard(GIB, 1), shard(GIB / 2, 2)],
            vec![o4, o3],
            3 * PRICE
        ));
        let c = created();
        assert_eq!(hosts_of(&c), vec![H4, H3]);
        assert_eq!(
            c.iter().map(|c| c.2).collect::<Vec<_>>(),
            vec![3 * PRICE, 2 * PRICE]
        );
        let held =
            term_cost(3 * PRICE, GIB, 10).unwrap() + term_cost(2 * PRICE, GIB / 2, 10).unwrap();
        assert_eq!(escrow(ALICE), held);
        assert_eq!(free(ALICE), before - held);
        assert_eq!(Contracts::<Test>::get(c[1].0).unwrap().merkle_root, [2; 32]);
        assert!(Requests::<Test>::get(id).is_none());
        assert_eq!(book_deposit(ALICE), 0);
        System::assert_has_event(Event::RequestFilled { request: id }.into());
    });
}

/// A host that raises its price after the Sender looked (or front-runs its
/// call with `update_offer`) cannot charge more than the Sender's
/// `max_price`: the call fails and nothing is held or matched.
#[test]
fn a_host_raising_its_price_before_the_call_lands_gets_nothing() {
    build_and_execute(|| {
        let o1 = offer(H1, PRICE);
        let o2 = offer(H2, PRICE);
        assert_ok!(Market::update_offer(
            signed(H2),
            o2,
            5 * PRICE,
            10 * GIB,
            1,
            100
        ));
        let before = free(ALICE);
        assert_noop!(
            place_on(
                ALICE,
                vec![shard(GIB, 1), shard(GIB, 2)],
                vec![o1, o2],
                2 * PRICE
            ),
            Error::<Test>::OfferAboveMaxPrice
        );
        assert_eq!(free(ALICE), before);
        assert!(Contracts::<Test>::iter().next().is_none());
    });
}

/// All or nothing, and each refusal says why: no offer per shard, an offer
/// gone, two offers of one host (one operator would hold two shards), the
/// Sender's own offer (paying itself), an offer too small or outside its
/// duration bounds, a host whose deposit cannot back the shard. None of
/// them matches anything, holds anything or touches the offers.
#[test]
fn a_pick_that_cannot_be_placed_whole_changes_nothing() {
    build_and_execute(|| {
        let o1 = offer(H1, PRICE);
        let o1b = offer(H1, PRICE);
        let o2 = offer(H2, PRICE);
        let own = offer(ALICE, PRICE);
        host_with_deposit(H3, 10_000 * UNIT);
        let short = next_offer();
        assert_ok!(Market::post_offer(signed(H3), PRICE, 10 * GIB, 1, 5));
        let small = next_offer();
        assert_ok!(Market::post_offer(signed(H3), PRICE, GIB / 2, 1, 100));
        // H4 backs a minimum contract, not a GiB.
        host_with_deposit(H4, DEPOSIT_PER_GIB / 2);
        let poor = next_offer();
        assert_ok!(Market::post_offer(signed(H4), PRICE, 10 * GIB, 1, 100));
        let two = vec![shard(GIB, 1), shard(GIB, 2)];
        let book: Vec<_> = OfferBook::<Test>::iter().collect();
        let before = free(ALICE);
        for (offers, error) in [
            (vec![o1], Error::<Test>::OffersDoNotMatchShards),
            (vec![o1, 999], Error::<Test>::UnknownOffer),
            (vec![o1, o1b], Error::<Test>::SameHostTwice),
            (vec![o1, own], Error::<Test>::OfferCannotTake),
            (vec![o1, short], Error::<Test>::OfferCannotTake),
            (vec![o1, small], Error::<Test>::OfferCannotTake),
            (vec![o2, poor], Error::<Test>::OfferCannotTake),
        ] {
            assert_noop!(place_on(ALICE, two.clone(), offers, PRICE), error);
        }
        assert_noop!(
            place_on(
                ALICE,
                vec![shard(GIB, 1), shard(GIB, 1)],
                vec![o1, o2],
                PRICE
            ),
            Error::<Test>::DuplicateRoot
        );
        assert_eq!(free(ALICE), before);
        assert_eq!(OfferBook::<Test>::iter().collect::<Vec<_>>(), book);
    });
}

/// A Sender with too little MASP for the terms at its `max_price` is
/// refused before anything is matched.
#[test]
fn picking_offers_needs_the_whole_escrow() {
    build_and_execute(|| {
        let o1 = offer(H1, PRICE);
        assert_noop!(
            place_on(POOR, vec![shard(GIB, 1)], vec![o1], PRICE),
            Error::<Test>::InsufficientFunds
        );
    });
}

/// The unmatched shards rest with their own bids held and match, in
/// order, each on a host that has none of the others, as offers arrive.
#[test]
fn unmatched_shards_rest_and_match_in_order_on_new_hosts() {
    build_and_execute(|| {
        offer(H1, PRICE);
        let shards = vec![shard(GIB, 1), shard(GIB / 4, 2), shard(GIB / 8, 3)];
        let id = place_shards(ALICE, shards, PRICE);
        let r = Requests::<Test>::get(id).unwrap();
        assert_eq!((r.hosts.to_vec(), r.unmatched()), (vec![H1], 2));
        assert_eq!(
            r.escrow,
            term_cost(PRICE, GIB / 4, 10).unwrap() + term_cost(PRICE, GIB / 8, 10).unwrap()
        );
        // H1 offering again cannot take a second shard of the same request.
        System::reset_events();
        assert_ok!(Market::post_offer(signed(H1), PRICE, 10 * GIB, 1, 100));
        assert!(created().is_empty());
        System::reset_events();
        offer(H2, PRICE);
        offer(H3, PRICE);
        let c = created();
        assert_eq!(hosts_of(&c), vec![H2, H3]);
        let roots: Vec<_> = c
            .iter()
            .map(|(id, ..)| Contracts::<Test>::get(id).unwrap().merkle_root)
            .collect();
        assert_eq!(roots, vec![[2; 32], [3; 32]]);
        assert!(Requests::<Test>::get(id).is_none());
        System::assert_has_event(Event::RequestFilled { request: id }.into());
    });
}

/// A repair places the lost shards of a file on hosts that hold none of
/// its other shards and that the Sender found dead: `avoid` keeps them
/// out, even when they are the cheapest (else one host could end up with
/// two shards, and a file meant to survive two losses would not).
#[test]
fn a_repair_avoids_the_hosts_it_names() {
    build_and_execute(|| {
        offer(H1, PRICE);
        offer(H2, PRICE);
        offer(H3, 2 * PRICE);
        offer(H4, 2 * PRICE);
        System::reset_events();
        let id = crate::NextRequestId::<Test>::get();
        assert_ok!(Market::place_shards(
            signed(ALICE),
            vec![shard(GIB, 8), shard(GIB, 9)].try_into().unwrap(),
            vec![H1, H2].try_into().unwrap(),
            10,
            2 * PRICE,
            0
        ));
        assert_eq!(hosts_of(&created()), vec![H3, H4]);
        assert!(Requests::<Test>::get(id).is_none());
        // Avoided hosts are never matched to the resting remainder either.
        System::reset_events();
        let rest = crate::NextRequestId::<Test>::get();
        assert_ok!(Market::place_shards(
            signed(BOB),
            vec![shard(GIB, 1)].try_into().unwrap(),
            vec![H1, H2, H3, H4].try_into().unwrap(),
            10,
            2 * PRICE,
            0
        ));
        assert!(created().is_empty());
        assert_ok!(Market::post_offer(signed(H1), PRICE, GIB, 1, 100));
        assert!(created().is_empty());
        assert_eq!(Requests::<Test>::get(rest).unwrap().unmatched(), 1);
    });
}

/// A hostile Sender parks requests that avoid the best hosts at the top of
/// the book (high bids, a rating floor only those hosts meet): they can
/// never match, but they must not use up every new offer's scan and keep
/// the honest requests below them from matching.
#[test]
fn requests_avoiding_a_host_do_not_block_the_honest_ones_below() {
    build_and_execute(|| {
        host_with_deposit(H1, 10_000 * UNIT);
        for i in 0..MAX_SCAN {
            assert_ok!(Market::place_shards(
                signed(BOB),
                vec![shard(GIB, i as u8 + 1)].try_into().unwrap(),
                vec![H1].try_into().unwrap(),
                10,
                3 * PRICE,
                0
            ));
        }
        let honest = place(ALICE, GIB, 1, 10, 2 * PRICE);
        System::reset_events();
        assert_ok!(Market::post_offer(signed(H1), PRICE, 10 * GIB, 1, 100));
        let c = created();
        assert_eq!(c.len(), 1, "the honest request below matched");
        assert_eq!(Contracts::<Test>::get(c[0].0).unwrap().request, honest);
    });
}

/// A Sender tells its contracts apart by root, and a host proves against
/// its contract's leaf count: two equal roots, an empty list, an empty
/// shard or a lying leaf count on ANY shard (not only the first) are
/// refused and change nothing.
#[test]
fn bad_shard_lists_are_refused_and_change_nothing() {
    build_and_execute(|| {
        offer(H1, PRICE);
        offer(H2, PRICE);
        let bad = |shards: Vec<ShardSpec>| {
            Market::place_shards(
                signed(ALICE),
                shards.try_into().unwrap(),
                Default::default(),
                10,
                PRICE,
                0,
            )
        };
        assert_noop!(bad(vec![]), Error::<Test>::BadReplicas);
        assert_noop!(
            bad(vec![shard(GIB, 1), shard(GIB / 2, 1)]),
            Error::<Test>::DuplicateRoot
        );
        assert_noop!(
            bad(vec![shard(GIB, 1), shard(0, 2)]),
            Error::<Test>::ZeroSize
        );
        let mut liar = shard(GIB, 2);
        liar.leaf_count += 1;
        assert_noop!(bad(vec![shard(GIB, 1), liar]), Error::<Test>::BadLeafCount);
        assert_noop!(
            Market::place_shards(
                signed(ALICE),
                vec![shard(GIB, 1)].try_into().unwrap(),
                Default::default(),
                0,
                PRICE,
                0
            ),
            Error::<Test>::BadDuration
        );
        assert_noop!(
            Market::place_shards(
                signed(POOR),
                vec![shard(GIB, 1), shard(GIB, 2)].try_into().unwrap(),
                Default::default(),
                10,
                PRICE,
                0
            ),
            Error::<Test>::InsufficientFunds
        );
    });
}

/// A host whose offer can hold only the small shards is skipped for the
/// big one in front of them (shards match in order), and the request
/// rests; the host is not matched out of order.
#[test]
fn a_shard_matches_only_a_host_with_room_for_its_own_size() {
    build_and_execute(|| {
        host_with_deposit(H1, 10_000 * UNIT);
        let small = next_offer();
        assert_ok!(Market::post_offer(signed(H1), PRICE, GIB / 2, 1, 100));
        System::reset_events();
        let id = place_shards(ALICE, vec![shard(GIB, 1), shard(GIB / 4, 2)], PRICE);
        assert!(created().is_empty());
        assert_eq!(Requests::<Test>::get(id).unwrap().unmatched(), 2);
        System::reset_events();
        offer(H2, PRICE);
        // H2 takes the big shard; H1's offer then fits the small one.
        assert_eq!(hosts_of(&created()), vec![H2]);
        assert_ok!(Market::update_offer(
            signed(H1),
            small,
            PRICE,
            GIB / 2,
            1,
            100
        ));
        assert!(Requests::<Test>::get(id).is_none());
    });
}

// ----- funds -----

#[test]
fn the_bid_is_held_at_placement_and_the_contract_keeps_only_its_price() {
    build_and_execute(|| {
        offer(H1, PRICE);
        let before = free(ALICE);
        let id = place(ALICE, GIB, 2, 10, 2 * PRICE);
        // One replica matched at PRICE: its term is held; the resting replica
        // holds its bid at the max price; the storage deposit too.
        let cost = term_cost(PRICE, GIB, 10).unwrap();
        let bid = term_cost(2 * PRICE, GIB, 10).unwrap();
        assert_eq!(escrow(ALICE), cost + bid);
        assert_eq!(book_deposit(ALICE), BOOK_DEPOSIT);
        assert_eq!(free(ALICE), before - cost - bid - BOOK_DEPOSIT);
        // Cancelling the remainder returns its bid and deposit, not the contract's funds.
        assert_noop!(
            Market::cancel_request(signed(BOB), id),
            Error::<Test>::NotRequestOwner
        );
        assert_ok!(Market::cancel_request(signed(ALICE), id));
        assert_eq!(escrow(ALICE), cost);
        assert_eq!(free(ALICE), before - cost);
        System::assert_last_event(
            Event::RequestClosed {
                request: id,
                expired: false,
                refunded: bid + BOOK_DEPOSIT,
            }
            .into(),
        );
        assert_noop!(
            Market::cancel_request(signed(ALICE), id),
            Error::<Test>::UnknownRequest
        );
    });
}

#[test]
fn a_request_the_sender_cannot_fund_fails_and_changes_nothing() {
    build_and_execute(|| {
        offer(H1, PRICE);
        assert_noop!(
            Market::place_request(
                signed(POOR),
                10 * GIB,
                ROOT,
                10 * GIB / 512,
                1,
                10,
                PRICE,
                0
            ),
            Error::<Test>::InsufficientFunds
        );
        assert_noop!(
            Market::place_request(signed(ALICE), GIB, ROOT, GIB / 512, 1, 10, u128::MAX / 2, 0),
            Error::<Test>::Overflow
        );
    });
}

#[test]
fn bad_requests_are_refused_and_change_nothing() {
    build_and_execute(|| {
        let bad = |size, leaves, replicas, duration| {
            Market::place_request(
                signed(ALICE),
                size,
                ROOT,
                leaves,
                replicas,
                duration,
                PRICE,
                0,
            )
        };
        const L: u64 = GIB / 512;
        assert_noop!(bad(0, 1, 1, 1), Error::<Test>::ZeroSize);
        assert_noop!(bad(GIB, 0, 1, 1), Error::<Test>::BadLeafCount);
        assert_noop!(bad(10, 11, 1, 1), Error::<Test>::BadLeafCount);
        assert_noop!(bad(GIB, L, 0, 1), Error::<Test>::BadReplicas);
        assert_noop!(bad(GIB, L, MAX_REPLICAS + 1, 1), Error::<Test>::BadReplicas);
        assert_noop!(bad(GIB, L, 1, 0), Error::<Test>::BadDuration);
        assert_noop!(bad(GIB, L, 1, 101), Error::<Test>::BadDuration);
    });
}

/// Issue 18 item 1: the chain stores the leaf count the host must prove
/// against; a count that is not `ceil(size / 512)` makes every proof fail
/// (`BadPathLength`) or asks for a leaf past the end, and the honest host
/// would be slashed for the Sender's lie. Such a request is refused.
#[test]
fn a_leaf_count_that_does_not_match_the_size_is_refused() {
    build_and_execute(|| {
        offer(H1, PRICE);
        let place_with = |size: u64, leaves: u64| {
            Market::place_request(signed(ALICE), size, ROOT, leaves, 1, 10, PRICE, 0)
        };
        // Too few leaves (the old rule accepted any 0 < leaves <= size).
        assert_noop!(place_with(GIB, GIB / 1024), Error::<Test>::BadLeafCount);
        assert_noop!(place_with(GIB, 1), Error::<Test>::BadLeafCount);
        assert_noop!(place_with(513, 1), Error::<Test>::BadLeafCount);
        // Too many leaves (the host would fail to build a proof).
        assert_noop!(place_with(GIB, GIB / 512 + 1), Error::<Test>::BadLeafCount);
        assert_noop!(place_with(4096, 4096), Error::<Test>::BadLeafCount);
        // A tree deeper than any proof can be.
        let too_big = (1u64 << masp_proofs::MAX_DEPTH) * 512 + 1;
        assert_noop!(
            place_with(too_big, masp_proofs::leaf_count(too_big)),
            Error::<Test>::BadLeafCount
        );
        // The one count that matches is accepted: ceil(size / 512).
        System::reset_events();
        assert_ok!(place_with(513, 2));
        let (id, ..) = created()[0];
        assert_eq!(Contracts::<Test>::get(id).unwrap().leaf_count, 2);
    });
}

#[test]
fn an_unmatched_request_expires_and_releases_its_funds() {
    build_and_execute(|| {
        let before = free(ALICE);
        let id = place(ALICE, GIB, 1, 10, PRICE);
        assert!(free(ALICE) < before);
        run_to(1 + REQUEST_TTL - 1);
        assert!(Requests::<Test>::get(id).is_some());
        run_to(1 + REQUEST_TTL);
        assert!(Requests::<Test>::get(id).is_none());
        assert_eq!(RequestBook::<Test>::iter().count(), 0);
        assert_eq!(free(ALICE), before);
        System::assert_has_event(
            Event::RequestClosed {
                request: id,
                expired: true,
                refunded: term_cost(PRICE, GIB, 10).unwrap() + BOOK_DEPOSIT,
            }
            .into(),
        );
    });
}

/// Issue 18 item 3: a contract's proofs, settlement and state cost the
/// same whatever its size, so one-byte contracts must not be nearly free
/// (pushing a host past what its daemon follows cost ~1 planck each). A
/// contract below `MinContractSize` is priced, backed by host deposit and
/// counted against capacity as the minimum; small files still store.
#[test]
fn tiny_contracts_cost_at_least_the_minimum_contract_size() {
    build_and_execute(|| {
        offer(H1, PRICE);
        let n: u64 = 5;
        let before = free(ALICE);
        System::reset_events();
        for _ in 0..n {
            place(ALICE, 1, 1, 10, PRICE);
        }
        let contracts = created();
        assert_eq!(contracts.len() as u64, n, "one-byte files still store");
        let min_term = term_cost(PRICE, MIN_CONTRACT, 10).unwrap();
        assert!(
            min_term > 10,
            "the minimum is worth more than a planck an epoch"
        );
        assert!(before - free(ALICE) >= n as Balance * min_term);
        assert_eq!(escrow(ALICE), n as Balance * min_term);
        for (id, ..) in &contracts {
            let c = Contracts::<Test>::get(id).unwrap();
            assert_eq!(c.size, 1, "the contract records the real size");
            assert_eq!(c.epoch_cost, epoch_cost(PRICE, MIN_CONTRACT).unwrap());
            assert_eq!(
                Deposits::backing(*id),
                per_gib(DEPOSIT_PER_GIB, MIN_CONTRACT).unwrap()
            );
        }
        assert_eq!(Hosts::<Test>::get(H1).unwrap().used, n * MIN_CONTRACT);
        // The quote says the same.
        assert_eq!(Market::quote(1, 10, 1, None, 0).total, min_term);
        // A host's capacity bounds its contracts: 2 minimum contracts fill
        // a 2 MiB host, whatever their real size.
        host_with_deposit(H2, 10_000 * UNIT);
        assert_ok!(Market::update_host(
            signed(H2),
            endpoint("https://h2.example"),
            region("EU"),
            2 * MIN_CONTRACT,
            [2; 32]
        ));
        assert_ok!(Market::post_offer(signed(H2), 0, 2 * MIN_CONTRACT, 1, 100));
        System::reset_events();
        for _ in 0..3 {
            place(BOB, 1, 1, 10, 0);
        }
        assert_eq!(hosts_of(&created()), vec![H2, H2]);
    });
}

// ----- contracts -----

/// A confirmed contract of ALICE on H1 (1 GiB, 3 epochs at PRICE).
fn active_contract() -> ContractId {
    offer(H1, PRICE);
    System::reset_events();
    place(ALICE, GIB, 1, 3, PRICE);
    let (id, ..) = created()[0];
    assert_ok!(Market::confirm_stored(signed(H1), id));
    id
}

#[test]
fn a_contract_records_sender_host_size_root_price_and_term() {
    build_and_execute(|| {
        offer(H1, PRICE);
        System::reset_events();
        run_to(14); // epoch 1
        let request = place(ALICE, GIB, 1, 3, PRICE);
        let (id, ..) = created()[0];
        let c = Contracts::<Test>::get(id).unwrap();
        assert_eq!(
            (c.sender, c.host, c.size, c.merkle_root),
            (ALICE, H1, GIB, ROOT)
        );
        assert_eq!((c.request, c.price), (request, PRICE));
        // The term starts at the next epoch boundary: epochs 2..=4.
        assert_eq!((c.first_epoch, c.last_epoch), (2, 4));
        assert_eq!((c.start, c.end), (2 * EPOCH, 5 * EPOCH));
        assert_eq!(c.upload_deadline, 14 + UPLOAD_WINDOW);
        assert_eq!(c.escrow, 3 * epoch_cost(PRICE, GIB).unwrap());
        assert_eq!(Market::sender_contracts(&ALICE, 10).len(), 1);
        assert_eq!(Market::host_contracts(&H1, 10).len(), 1);
    });
}

#[test]
fn only_the_host_confirms_and_only_within_the_upload_window() {
    build_and_execute(|| {
        offer(H1, PRICE);
        System::reset_events();
        place(ALICE, GIB, 1, 3, PRICE);
        let (id, ..) = created()[0];
        assert_noop!(
            Market::confirm_stored(signed(ALICE), id),
            Error::<Test>::NotContractHost
        );
        run_to(1 + UPLOAD_WINDOW);
        assert_ok!(Market::confirm_stored(signed(H1), id));
        System::assert_last_event(
            Event::ContractConfirmed {
                contract: id,
                host: H1,
            }
            .into(),
        );
        assert_noop!(
            Market::confirm_stored(signed(H1), id),
            Error::<Test>::AlreadyConfirmed
        );
    });
}

/// Issue 18 item 15: a Sender could book the cheapest hosts (reserving
/// their capacity and deposit) and never upload, for free. A contract whose
/// upload window closes unconfirmed ends, frees both sides, and pays the
/// host the first epoch's price from the Sender's escrow; the rest returns.
#[test]
fn a_contract_not_confirmed_in_time_ends_and_pays_the_host_the_first_epoch() {
    build_and_execute(|| {
        let before = free(ALICE);
        offer(H1, PRICE);
        let host_before = free(H1);
        System::reset_events();
        place(ALICE, GIB, 1, 3, PRICE);
        let (id, ..) = created()[0];
        let per_epoch = epoch_cost(PRICE, GIB).unwrap();
        run_to(1 + UPLOAD_WINDOW + 1);
        assert!(Contracts::<Test>::get(id).is_none());
        assert_eq!(free(ALICE), before - per_epoch);
        assert_eq!(escrow(ALICE), 0);
        assert_eq!(free(H1), host_before + per_epoch);
        assert_eq!(Deposits::backing(id), 0);
        assert_eq!(Deposits::free_deposit(&H1), 10_000 * UNIT);
        assert_eq!(Hosts::<Test>::get(H1).unwrap().used, 0);
        System::assert_has_event(
            Event::ContractEnded {
                contract: id,
                reason: crate::EndReason::NotConfirmed,
                paid: per_epoch,
                refunded: 2 * per_epoch,
            }
            .into(),
        );
    });
}

/// Issue 18 item 15: cancelling before the upload, or right after the host
/// confirmed it (having received it), pays the host the first epoch; a
/// Sender cannot make hosts take uploads for nothing.
#[test]
fn cancelling_before_or_right_after_confirmation_pays_the_host_the_first_epoch() {
    build_and_execute(|| {
        let per_epoch = epoch_cost(PRICE, GIB).unwrap();
        // Right after confirmation.
        let before = free(ALICE);
        let id = active_contract();
        let host_before = free(H1);
        assert_ok!(Market::cancel_contract(signed(ALICE), id));
        assert_eq!(free(H1), host_before + per_epoch);
        assert_eq!(free(ALICE), before - per_epoch);
        assert_eq!(escrow(ALICE), 0);
        System::assert_has_event(
            Event::ContractEnded {
                contract: id,
                reason: crate::EndReason::Cancelled,
                paid: per_epoch,
                refunded: 2 * per_epoch,
            }
            .into(),
        );
        // Before confirmation.
        let before = free(BOB);
        System::reset_events();
        place(BOB, GIB, 1, 3, PRICE);
        let (id, ..) = created()[0];
        let host_before = free(H1);
        assert_ok!(Market::cancel_contract(signed(BOB), id));
        assert_eq!(free(H1), host_before + per_epoch);
        assert_eq!(free(BOB), before - per_epoch);
        // Once an epoch is paid, cancelling costs nothing more.
        let id = active_contract();
        assert_ok!(Market::epoch_proven(id, 1));
        let host_before = free(H1);
        assert_ok!(Market::cancel_contract(signed(ALICE), id));
        assert_eq!(free(H1), host_before);
    });
}

#[test]
fn a_proven_epoch_pays_the_host_that_epochs_price_once() {
    build_and_execute(|| {
        let id = active_contract();
        let per_epoch = epoch_cost(PRICE, GIB).unwrap();
        let host_before = free(H1);
        assert_eq!(Market::epoch_proven(id, 1), Ok(per_epoch));
        assert_eq!(free(H1), host_before + per_epoch);
        assert_eq!(escrow(ALICE), 2 * per_epoch);
        System::assert_last_event(
            Event::EpochPaid {
                contract: id,
                host: H1,
                epoch: 1,
                amount: per_epoch,
            }
            .into(),
        );
        assert_noop!(Market::epoch_proven(id, 1), Error::<Test>::EpochAlreadyPaid);
        assert_noop!(Market::epoch_proven(id, 0), Error::<Test>::EpochOutOfTerm);
        assert_noop!(Market::epoch_proven(id, 4), Error::<Test>::EpochOutOfTerm);
        assert_noop!(Market::epoch_proven(99, 1), Error::<Test>::UnknownContract);
    });
}

#[test]
fn an_unconfirmed_contract_earns_nothing() {
    build_and_execute(|| {
        offer(H1, PRICE);
        System::reset_events();
        place(ALICE, GIB, 1, 3, PRICE);
        let (id, ..) = created()[0];
        assert_noop!(Market::epoch_proven(id, 1), Error::<Test>::NotActive);
    });
}

#[test]
fn unproven_epochs_are_not_paid_and_return_to_the_sender_at_the_end() {
    build_and_execute(|| {
        let before = free(ALICE);
        let id = active_contract();
        let per_epoch = epoch_cost(PRICE, GIB).unwrap();
        // Epochs 1 and 3 proven, epoch 2 missed.
        assert_ok!(Market::epoch_proven(id, 1));
        assert_ok!(Market::epoch_proven(id, 3));
        let host_before = free(H1);
        run_to(4 * EPOCH);
        assert!(
            Contracts::<Test>::get(id).is_some(),
            "live through its end block"
        );
        run_to(4 * EPOCH + 1);
        assert!(Contracts::<Test>::get(id).is_none());
        assert_eq!(free(ALICE), before - 2 * per_epoch);
        assert_eq!(free(H1), host_before);
        assert_eq!(Deposits::backing(id), 0);
        assert_eq!(Hosts::<Test>::get(H1).unwrap().live_contracts, 0);
        System::assert_has_event(
            Event::ContractEnded {
                contract: id,
                reason: crate::EndReason::Completed,
                paid: 2 * per_epoch,
                refunded: per_epoch,
            }
            .into(),
        );
    });
}

#[test]
fn the_sender_cancels_and_every_unspent_unit_returns() {
    build_and_execute(|| {
        let before = free(ALICE);
        let id = active_contract();
        let per_epoch = epoch_cost(PRICE, GIB).unwrap();
        assert_ok!(Market::epoch_proven(id, 1));
        assert_noop!(
            Market::cancel_contract(signed(BOB), id),
            Error::<Test>::NotContractSender
        );
        assert_ok!(Market::cancel_contract(signed(ALICE), id));
        assert_eq!(free(ALICE), before - per_epoch);
        assert_eq!(escrow(ALICE), 0);
        assert_noop!(
            Market::cancel_contract(signed(ALICE), id),
            Error::<Test>::UnknownContract
        );
    });
}

#[test]
fn lost_data_ends_the_contract_and_refunds_the_rest() {
    build_and_execute(|| {
        let before = free(ALICE);
        let id = active_contract();
        assert_ok!(Market::epoch_proven(id, 1));
        assert_ok!(Market::data_lost(id));
        assert!(Contracts::<Test>::get(id).is_none());
        assert_eq!(free(ALICE), before - epoch_cost(PRICE, GIB).unwrap());
        let target = Market::proof_target(id);
        assert!(target.is_none());
    });
}

#[test]
fn the_proofs_pallet_sees_what_to_prove() {
    build_and_execute(|| {
        let id = active_contract();
        let t = Market::proof_target(id).unwrap();
        assert_eq!(
            (t.host, t.merkle_root, t.first_epoch, t.last_epoch),
            (H1, ROOT, 1, 3)
        );
        assert!(t.confirmed);
        assert_eq!(t.leaf_count, GIB / 512);
    });
}

// ----- bounds -----

#[test]
fn matching_examines_at_most_max_match_scan_offers() {
    build_and_execute(|| {
        // MAX_SCAN cheap offers the request cannot use (too short a term)...
        for h in 1..=MAX_SCAN as u64 {
            host_with_deposit(h, 10_000 * UNIT);
            assert_ok!(Market::post_offer(signed(h), PRICE, 10 * GIB, 50, 100));
        }
        // ...hide a usable one behind them: the request rests instead.
        offer(9, 2 * PRICE);
        System::reset_events();
        let id = place(ALICE, GIB, 1, 10, 5 * PRICE);
        assert!(created().is_empty());
        assert!(Requests::<Test>::get(id).is_some());
        // The quote obeys the same bound.
        assert_eq!(Market::quote(GIB, 10, 1, None, 0).unmatched, 1);
    });
}

#[test]
fn the_due_queue_is_drained_a_bounded_number_per_block() {
    build_and_execute(|| {
        // 2 x MAX_DUE requests expiring in the same block.
        for _ in 0..2 * MAX_DUE {
            place(ALICE, GIB, 1, 10, PRICE);
        }
        assert_eq!(DueCount::<Test>::get(1 + REQUEST_TTL), 2 * MAX_DUE);
        run_to(1 + REQUEST_TTL);
        assert_eq!(Requests::<Test>::iter().count(), MAX_DUE as usize);
        run_to(2 + REQUEST_TTL);
        assert_eq!(Requests::<Test>::iter().count(), 0);
        assert_eq!(escrow(ALICE), 0);
    });
}

#[test]
fn a_quote_is_what_placing_would_cost_now() {
    build_and_execute(|| {
        offer(H1, 3 * PRICE);
        offer(H2, PRICE);
        offer(H3, 2 * PRICE);
        let quote = Market::quote(GIB / 2, 10, 2, Some(5 * PRICE), 0);
        assert_eq!(quote.unmatched, 0);
        assert_eq!(
            quote.lines.iter().map(|l| l.host).collect::<Vec<_>>(),
            vec![H2, H3]
        );
        let expected =
            term_cost(PRICE, GIB / 2, 10).unwrap() + term_cost(2 * PRICE, GIB / 2, 10).unwrap();
        assert_eq!(quote.total, expected);
        let before = free(ALICE);
        place(ALICE, GIB / 2, 2, 10, 5 * PRICE);
        assert_eq!(before - free(ALICE), expected);
        assert_eq!(per_gib(DEPOSIT_PER_GIB, GIB / 2), Some(DEPOSIT_PER_GIB / 2));
    });
}

// ----- random sequences -----

mod random {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Offer {
            host: u64,
            price: u8,
            gib: u8,
            min: u8,
            span: u8,
        },
        CancelOffer {
            nth: u8,
        },
        Request {
            sender: u64,
            mib: u16,
            replicas: u8,
            duration: u8,
            max_price: u8,
            min_rating: u8,
        },
        CancelRequest {
            nth: u8,
        },
        Confirm {
            nth: u8,
        },
        Prove {
            nth: u8,
            ahead: u8,
        },
        Cancel {
            nth: u8,
        },
        Rate {
            host: u64,
            rating: u8,
        },
        Blocks {
            n: u8,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1u64..6, 1u8..10, 1u8..8, 1u8..5, 0u8..20).prop_map(
                |(host, price, gib, min, span)| Op::Offer {
                    host,
                    price,
                    gib,
                    min,
                    span
                }
            ),
            any::<u8>().prop_map(|nth| Op::CancelOffer { nth }),
            (1u64..8, 1u16..3000, 1u8..5, 1u8..12, 0u8..10, 0u8..10).prop_map(
                |(sender, mib, replicas, duration, max_price, min_rating)| Op::Request {
                    sender,
                    mib,
                    replicas,
                    duration,
                    max_price,
                    min_rating
                }
            ),
            any::<u8>().prop_map(|nth| Op::CancelRequest { nth }),
            any::<u8>().prop_map(|nth| Op::Confirm { nth }),
            (any::<u8>(), 0u8..3).prop_map(|(nth, ahead)| Op::Prove { nth, ahead }),
            any::<u8>().prop_map(|nth| Op::Cancel { nth }),
            (1u64..6, 0u8..10).prop_map(|(host, rating)| Op::Rate { host, rating }),
            (1u8..15).prop_map(|n| Op::Blocks { n }),
        ]
    }

    fn nth<K: Clone>(keys: Vec<K>, n: u8) -> Option<K> {
        (!keys.is_empty()).then(|| keys[n as usize % keys.len()].clone())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Any sequence of offers, requests, cancels, confirmations, proofs
        /// and epochs passing: no value created or lost (try_state: holds ==
        /// books; total issuance unchanged), each replica on a distinct host,
        /// no match above max price or below min rating.
        #[test]
        fn random_market_sequences_keep_every_rule(ops in proptest::collection::vec(op(), 1..50)) {
            build_and_execute(|| {
                for h in 1..6u64 {
                    host_with_deposit(h, (h as u128) * 20 * UNIT);
                }
                for op in ops {
                    System::reset_events();
                    match op {
                        Op::Offer { host, price, gib, min, span } => {
                            let _ = Market::post_offer(signed(host), price as u128 * PRICE, gib as u64 * GIB, min as u32, min as u32 + span as u32);
                        }
                        Op::CancelOffer { nth: n } => {
                            if let Some((id, o)) = nth(Offers::<Test>::iter().collect(), n) {
                                assert_ok!(Market::cancel_offer(signed(o.host), id));
                            }
                        }
                        Op::Request { sender, mib, replicas, duration, max_price, min_rating } => {
                            let max_price = max_price as u128 * PRICE;
                            let min_rating = min_rating as u32 * 100_000;
                            let size = mib as u64 * (1 << 20);
                            // Even senders store distinct shards (sizes
                            // shrinking by a quarter each), odd ones copies.
                            let picked = sender % 3 == 0;
                            let r = if picked {
                                // Every third Sender picks its offers (any
                                // in the book, cheap or not, fit or not).
                                let offers: Vec<OfferId> = Offers::<Test>::iter().map(|(id, _)| id).take(replicas as usize).collect();
                                let shards: Vec<ShardSpec> = (0..offers.len() as u64)
                                    .map(|i| ShardSpec { size, merkle_root: [i as u8; 32], leaf_count: masp_proofs::leaf_count(size) })
                                    .collect();
                                let r = Market::place_on_offers(signed(sender), shards.try_into().unwrap(), offers.clone().try_into().unwrap(), duration as u32, max_price);
                                if r.is_ok() {
                                    assert_eq!(created().len(), offers.len(), "a pick placed in part");
                                }
                                r
                            } else if sender % 2 == 0 {
                                let shards: Vec<ShardSpec> = (0..replicas as u64)
                                    .map(|i| {
                                        let size = (size >> i.min(2)).max(1);
                                        ShardSpec { size, merkle_root: [i as u8; 32], leaf_count: masp_proofs::leaf_count(size) }
                                    })
                                    .collect();
                                // A repair's exclusion list: host 1 never takes these.
                                let r = Market::place_shards(signed(sender), shards.try_into().unwrap(), vec![1].try_into().unwrap(), duration as u32, max_price, min_rating);
                                if r.is_ok() {
                                    assert!(created().iter().all(|c| c.1 != 1), "matched a host the Sender avoids");
                                }
                                r
                            } else {
                                Market::place_request(signed(sender), size, ROOT, mib as u64 * 2048, replicas as u32, duration as u32, max_price, min_rating)
                            };
                            if r.is_ok() {
                                let mut hosts = Vec::new();
                                for (id, host, price) in created() {
                                    assert!(price <= max_price, "matched above max price");
                                    // A Sender that picked its hosts set no floor.
                                    assert!(picked || TestRatings::rating(&host) >= min_rating, "matched below min rating");
                                    assert_ne!(host, sender, "matched to itself");
                                    assert!(!hosts.contains(&host), "two replicas on one host");
                                    hosts.push(host);
                                    let _ = id;
                                }
                            }
                        }
                        Op::CancelRequest { nth: n } => {
                            if let Some((id, r)) = nth(Requests::<Test>::iter().collect(), n) {
                                assert_ok!(Market::cancel_request(signed(r.sender), id));
                            }
                        }
                        Op::Confirm { nth: n } => {
                            if let Some((id, c)) = nth(Contracts::<Test>::iter().collect(), n) {
                                let _ = Market::confirm_stored(signed(c.host), id);
                            }
                        }
                        Op::Prove { nth: n, ahead } => {
                            if let Some((id, _)) = nth(Contracts::<Test>::iter().collect(), n) {
                                let _ = Market::epoch_proven(id, Market::current_epoch() + ahead as u32);
                            }
                        }
                        Op::Cancel { nth: n } => {
                            if let Some((id, c)) = nth(Contracts::<Test>::iter().collect(), n) {
                                assert_ok!(Market::cancel_contract(signed(c.sender), id));
                            }
                        }
                        Op::Rate { host, rating } => set_rating(host, rating as u32 * 100_000),
                        Op::Blocks { n } => run_to(System::block_number() + n as u64),
                    }
                    Market::do_try_state().unwrap();
                    Deposits::do_try_state().unwrap();
                }
            });
        }
    }

    use masp_primitives::traits::HostRatingProvider;
}
