//! The white paper's "all the participants of data transmission are
//! remunerated", for hosts serving downloads and proxies relaying uploads,
//! and the attacks on it: a payee claiming more than it was signed for,
//! twice, on another channel, for another payee or another service; a payer
//! closing to avoid paying; a proxy that takes no sessions opening one.

use crate::{mock::*, Channels, Error, Event, HoldReason, Receipt};
use frame_support::{
    assert_noop, assert_ok,
    traits::fungible::{Inspect, InspectHold},
    BoundedVec,
};
use masp_primitives::egress::{cost, receipt_payload, Service, GIB};
use proptest::prelude::*;
use sp_runtime::testing::TestSignature;

/// The two services.
const EG: Service = Service::Egress;
const RL: Service = Service::Relay;

fn signed(who: AccountId) -> RuntimeOrigin {
    RuntimeOrigin::signed(who)
}

fn free(who: AccountId) -> Balance {
    Balances::balance(&who)
}

fn held(who: AccountId) -> Balance {
    Balances::balance_on_hold(&HoldReason::Allowance.into(), &who)
}

fn last_event() -> Event<Test> {
    System::events()
        .into_iter()
        .filter_map(|r| match r.event {
            RuntimeEvent::Egress(e) => Some(e),
            _ => None,
        })
        .next_back()
        .expect("an egress event")
}

fn genesis() -> Vec<u8> {
    System::block_hash(0).as_ref().to_vec()
}

/// `payer`'s receipt for `bytes` on its egress channel `channel` with
/// `host`.
fn receipt(
    payer: AccountId,
    host: AccountId,
    channel: u64,
    bytes: u64,
) -> Receipt<AccountId, TestSignature> {
    service_receipt(EG, payer, host, channel, bytes)
}

/// `payer`'s receipt for `bytes` on its `service` channel `channel` with
/// `payee`.
fn service_receipt(
    service: Service,
    payer: AccountId,
    payee: AccountId,
    channel: u64,
    bytes: u64,
) -> Receipt<AccountId, TestSignature> {
    let payload = receipt_payload(
        &genesis(),
        service,
        channel,
        &codec::Encode::encode(&payee),
        bytes,
    );
    Receipt {
        payer,
        channel,
        bytes,
        signature: TestSignature(payer, payload),
    }
}

fn batch(
    r: Vec<Receipt<AccountId, TestSignature>>,
) -> BoundedVec<Receipt<AccountId, TestSignature>, frame_support::traits::ConstU32<MAX_RECEIPTS>> {
    r.try_into().unwrap()
}

/// HOST charges `PRICE`; `payer` opens a channel of `amount`; returns its id.
fn open(payer: AccountId, amount: Balance) -> u64 {
    if crate::EgressPrices::<Test>::get(HOST).is_none() {
        assert_ok!(Egress::set_egress_price(signed(HOST), PRICE));
    }
    assert_ok!(Egress::open_channel(signed(payer), HOST, EG, amount, PRICE));
    Channels::<Test>::get((payer, HOST, EG)).unwrap().id
}

#[test]
fn only_hosts_set_a_price_and_a_channel_needs_one() {
    build_and_execute(|| {
        assert_noop!(
            Egress::set_egress_price(signed(EVE), PRICE),
            Error::<Test>::NotAHost
        );
        assert_noop!(
            Egress::open_channel(signed(CAROL), HOST, EG, UNIT, PRICE),
            Error::<Test>::NoEgressPrice
        );
        assert_ok!(Egress::set_egress_price(signed(HOST), PRICE));
        assert_noop!(
            Egress::open_channel(signed(CAROL), HOST, EG, UNIT, PRICE - 1),
            Error::<Test>::PriceAboveMax
        );
        assert_noop!(
            Egress::open_channel(signed(CAROL), HOST, EG, MIN_ALLOWANCE - 1, PRICE),
            Error::<Test>::AllowanceTooSmall
        );
        assert_noop!(
            Egress::open_channel(signed(CAROL), HOST, EG, 2 * INITIAL, PRICE),
            Error::<Test>::InsufficientFunds
        );
    });
}

#[test]
fn a_host_is_paid_exactly_for_the_bytes_signed_and_no_more() {
    build_and_execute(|| {
        let ch = open(CAROL, UNIT);
        assert_eq!(held(CAROL), UNIT);
        let host = free(HOST);
        // Half a GiB, then a whole one: paid the difference each time.
        assert_ok!(Egress::redeem(
            signed(HOST),
            EG,
            batch(vec![receipt(CAROL, HOST, ch, 1 << 29)])
        ));
        assert_eq!(free(HOST), host + PRICE / 2);
        assert_ok!(Egress::redeem(
            signed(HOST),
            EG,
            batch(vec![receipt(CAROL, HOST, ch, 1 << 30)])
        ));
        assert_eq!(free(HOST), host + PRICE);
        assert_eq!(held(CAROL), UNIT - PRICE);
        assert_eq!(
            last_event(),
            Event::Redeemed {
                payer: CAROL,
                payee: HOST,
                service: EG,
                channel: ch,
                bytes: 1 << 30,
                amount: PRICE / 2
            }
        );
        // The same receipt again, or an older one: nothing new.
        assert_noop!(
            Egress::redeem(
                signed(HOST),
                EG,
                batch(vec![receipt(CAROL, HOST, ch, 1 << 30)])
            ),
            Error::<Test>::NothingNew
        );
        assert_noop!(
            Egress::redeem(
                signed(HOST),
                EG,
                batch(vec![receipt(CAROL, HOST, ch, 1 << 29)])
            ),
            Error::<Test>::NothingNew
        );
    });
}

#[test]
fn a_host_cannot_claim_more_than_was_signed() {
    build_and_execute(|| {
        let ch = open(CAROL, UNIT);
        // A receipt for one byte with its count raised by the host.
        let mut forged = receipt(CAROL, HOST, ch, 1);
        forged.bytes = 1 << 40;
        assert_noop!(
            Egress::redeem(signed(HOST), EG, batch(vec![forged])),
            Error::<Test>::BadSignature
        );
        // Signed by someone else for the payer.
        let mut other = receipt(CAROL, HOST, ch, 1 << 30);
        other.signature = TestSignature(DAVE, other.signature.1.clone());
        assert_noop!(
            Egress::redeem(signed(HOST), EG, batch(vec![other])),
            Error::<Test>::BadSignature
        );
        // Signed for more than the allowance: paid the allowance, no more.
        let host = free(HOST);
        assert_ok!(Egress::redeem(
            signed(HOST),
            EG,
            batch(vec![receipt(CAROL, HOST, ch, u64::MAX / 2)])
        ));
        assert_eq!(free(HOST), host + UNIT);
        assert_eq!(held(CAROL), 0);
    });
}

#[test]
fn a_receipt_beyond_the_allowance_is_collected_in_full_after_a_top_up() {
    build_and_execute(|| {
        let ch = open(CAROL, MIN_ALLOWANCE);
        let host = free(HOST);
        // Two GiB signed; the allowance covers only part of it.
        let r = receipt(CAROL, HOST, ch, 2 << 30);
        assert_ok!(Egress::redeem(signed(HOST), EG, batch(vec![r.clone()])));
        assert_eq!(free(HOST), host + MIN_ALLOWANCE);
        assert_ok!(Egress::open_channel(signed(CAROL), HOST, EG, UNIT, PRICE));
        assert_ok!(Egress::redeem(signed(HOST), EG, batch(vec![r.clone()])));
        assert_eq!(free(HOST), host + 2 * PRICE, "the signed count, no more");
        assert_noop!(
            Egress::redeem(signed(HOST), EG, batch(vec![r])),
            Error::<Test>::NothingNew
        );
    });
}

#[test]
fn a_receipt_pays_only_its_own_host_on_its_own_channel() {
    build_and_execute(|| {
        let ch = open(CAROL, UNIT);
        assert_ok!(Egress::set_egress_price(signed(OTHER_HOST), PRICE));
        assert_ok!(Egress::open_channel(
            signed(CAROL),
            OTHER_HOST,
            EG,
            UNIT,
            PRICE
        ));
        let other_ch = Channels::<Test>::get((CAROL, OTHER_HOST, EG)).unwrap().id;
        // HOST's receipt presented by the other host, on either channel id.
        assert_noop!(
            Egress::redeem(
                signed(OTHER_HOST),
                EG,
                batch(vec![receipt(CAROL, HOST, ch, 1 << 30)])
            ),
            Error::<Test>::WrongChannel
        );
        let mut moved = receipt(CAROL, HOST, ch, 1 << 30);
        moved.channel = other_ch;
        assert_noop!(
            Egress::redeem(signed(OTHER_HOST), EG, batch(vec![moved])),
            Error::<Test>::BadSignature
        );
        // Someone with no channel at all.
        assert_noop!(
            Egress::redeem(
                signed(EVE),
                EG,
                batch(vec![receipt(CAROL, EVE, 0, 1 << 30)])
            ),
            Error::<Test>::UnknownChannel
        );
    });
}

#[test]
fn receipts_of_a_closed_channel_are_worthless_in_the_next() {
    build_and_execute(|| {
        let first = open(CAROL, UNIT);
        let old = receipt(CAROL, HOST, first, 1 << 30);
        assert_ok!(Egress::release_channel(signed(HOST), CAROL, EG));
        assert_eq!(held(CAROL), 0);
        let second = open(CAROL, UNIT);
        assert_ne!(first, second);
        assert_noop!(
            Egress::redeem(signed(HOST), EG, batch(vec![old])),
            Error::<Test>::WrongChannel
        );
    });
}

#[test]
fn a_downloader_that_closes_still_pays_what_it_signed() {
    build_and_execute(|| {
        let ch = open(CAROL, UNIT);
        let r = receipt(CAROL, HOST, ch, 1 << 30);
        assert_ok!(Egress::close_channel(signed(CAROL), HOST, EG));
        assert_noop!(
            Egress::close_channel(signed(CAROL), HOST, EG),
            Error::<Test>::ChannelClosing
        );
        assert_noop!(
            Egress::open_channel(signed(CAROL), HOST, EG, UNIT, PRICE),
            Error::<Test>::ChannelClosing
        );
        // Not before the host had its time.
        System::set_block_number(1 + CLOSE_PERIOD - 1);
        assert_noop!(
            Egress::finish_close(signed(CAROL), CAROL, HOST, EG),
            Error::<Test>::TooEarly
        );
        let host = free(HOST);
        assert_ok!(Egress::redeem(signed(HOST), EG, batch(vec![r])));
        assert_eq!(free(HOST), host + PRICE);
        System::set_block_number(1 + CLOSE_PERIOD);
        let carol = free(CAROL);
        assert_ok!(Egress::finish_close(signed(DAVE), CAROL, HOST, EG));
        assert_eq!(free(CAROL), carol + UNIT - PRICE);
        assert_eq!(held(CAROL), 0);
        assert!(Channels::<Test>::get((CAROL, HOST, EG)).is_none());
        assert_noop!(
            Egress::finish_close(signed(DAVE), CAROL, HOST, EG),
            Error::<Test>::UnknownChannel
        );
    });
}

#[test]
fn an_open_channel_keeps_its_price_and_tops_up() {
    build_and_execute(|| {
        let ch = open(CAROL, UNIT);
        assert_ok!(Egress::set_egress_price(signed(HOST), 10 * PRICE));
        assert_ok!(Egress::open_channel(signed(CAROL), HOST, EG, UNIT, PRICE));
        let c = Channels::<Test>::get((CAROL, HOST, EG)).unwrap();
        assert_eq!((c.id, c.price, c.held), (ch, PRICE, 2 * UNIT));
        let host = free(HOST);
        assert_ok!(Egress::redeem(
            signed(HOST),
            EG,
            batch(vec![receipt(CAROL, HOST, ch, 1 << 30)])
        ));
        assert_eq!(free(HOST), host + PRICE, "the old price");
    });
}

#[test]
fn a_batch_pays_many_downloaders_or_nothing() {
    build_and_execute(|| {
        let c1 = open(CAROL, UNIT);
        let c2 = open(DAVE, UNIT);
        let host = free(HOST);
        assert_noop!(
            Egress::redeem(
                signed(HOST),
                EG,
                batch(vec![
                    receipt(CAROL, HOST, c1, 1 << 30),
                    receipt(CAROL, HOST, c1, 2 << 30)
                ])
            ),
            Error::<Test>::DuplicatePayer
        );
        let mut bad = receipt(DAVE, HOST, c2, 1);
        bad.bytes = 2;
        assert_noop!(
            Egress::redeem(
                signed(HOST),
                EG,
                batch(vec![receipt(CAROL, HOST, c1, 1 << 30), bad])
            ),
            Error::<Test>::BadSignature
        );
        assert_ok!(Egress::redeem(
            signed(HOST),
            EG,
            batch(vec![
                receipt(CAROL, HOST, c1, 1 << 30),
                receipt(DAVE, HOST, c2, 1 << 29)
            ])
        ));
        assert_eq!(free(HOST), host + PRICE + PRICE / 2);
    });
}

/// PROXY relays at `RELAY_PRICE`; `payer` opens a relay channel of
/// `amount`; returns its id.
fn open_relay(payer: AccountId, amount: Balance) -> u64 {
    MockProxies::set_price(PROXY, Some(RELAY_PRICE));
    assert_ok!(Egress::open_channel(
        signed(payer),
        PROXY,
        RL,
        amount,
        RELAY_PRICE
    ));
    Channels::<Test>::get((payer, PROXY, RL)).unwrap().id
}

/// A proxy's price per GiB relayed.
const RELAY_PRICE: Balance = UNIT / 20;

#[test]
fn a_relay_channel_opens_only_with_a_proxy_taking_sessions() {
    build_and_execute(|| {
        // Not a proxy (a host is not one either).
        assert_noop!(
            Egress::open_channel(signed(CAROL), PROXY, RL, UNIT, RELAY_PRICE),
            Error::<Test>::NotARelay
        );
        assert_noop!(
            Egress::open_channel(signed(CAROL), HOST, RL, UNIT, RELAY_PRICE),
            Error::<Test>::NotARelay
        );
        MockProxies::set_price(PROXY, Some(RELAY_PRICE));
        assert_noop!(
            Egress::open_channel(signed(CAROL), PROXY, RL, UNIT, RELAY_PRICE - 1),
            Error::<Test>::PriceAboveMax
        );
        // A proxy's relay price is not an egress price.
        assert_noop!(
            Egress::open_channel(signed(CAROL), PROXY, EG, UNIT, RELAY_PRICE),
            Error::<Test>::NoEgressPrice
        );
        let ch = open_relay(CAROL, UNIT);
        assert_eq!(MockProxies::record(PROXY).opened, vec![(CAROL, ch)]);
        assert_eq!(held(CAROL), UNIT);
        assert_eq!(
            last_event(),
            Event::ChannelOpened {
                payer: CAROL,
                payee: PROXY,
                service: RL,
                channel: ch,
                price: RELAY_PRICE,
                held: UNIT
            }
        );
        // Deregistering (or slashed): no new channel, no top-up; the open
        // one is still paid.
        MockProxies::set_price(PROXY, None);
        assert_noop!(
            Egress::open_channel(signed(DAVE), PROXY, RL, UNIT, RELAY_PRICE),
            Error::<Test>::NotARelay
        );
        assert_noop!(
            Egress::open_channel(signed(CAROL), PROXY, RL, UNIT, RELAY_PRICE),
            Error::<Test>::NotARelay
        );
        assert_ok!(Egress::redeem(
            signed(PROXY),
            RL,
            batch(vec![service_receipt(RL, CAROL, PROXY, ch, 1 << 30)])
        ));
        // A top-up does not count as a new session.
        assert_eq!(MockProxies::record(PROXY).opened.len(), 1);
    });
}

#[test]
fn a_proxy_is_paid_exactly_the_bytes_signed_at_its_price() {
    build_and_execute(|| {
        let ch = open_relay(CAROL, UNIT);
        let proxy = free(PROXY);
        assert_ok!(Egress::redeem(
            signed(PROXY),
            RL,
            batch(vec![service_receipt(RL, CAROL, PROXY, ch, 3 << 29)])
        ));
        let paid = cost(3 << 29, RELAY_PRICE).unwrap();
        assert_eq!(free(PROXY), proxy + paid);
        assert_eq!(held(CAROL), UNIT - paid);
        let r = MockProxies::record(PROXY);
        assert_eq!((r.bytes, r.paid), (3 << 29, paid));
        // More than signed: the count raised by the proxy.
        let mut forged = service_receipt(RL, CAROL, PROXY, ch, 1 << 31);
        forged.bytes = 1 << 40;
        assert_noop!(
            Egress::redeem(signed(PROXY), RL, batch(vec![forged])),
            Error::<Test>::BadSignature
        );
        // The same receipt again.
        assert_noop!(
            Egress::redeem(
                signed(PROXY),
                RL,
                batch(vec![service_receipt(RL, CAROL, PROXY, ch, 3 << 29)])
            ),
            Error::<Test>::NothingNew
        );
        // The next one pays the difference only, and counts only new bytes.
        assert_ok!(Egress::redeem(
            signed(PROXY),
            RL,
            batch(vec![service_receipt(RL, CAROL, PROXY, ch, 1 << 31)])
        ));
        let paid = cost(1 << 31, RELAY_PRICE).unwrap();
        assert_eq!(free(PROXY), proxy + paid);
        let r = MockProxies::record(PROXY);
        assert_eq!((r.bytes, r.paid), (1 << 31, paid));
    });
}

#[test]
fn a_receipt_of_one_service_is_worthless_for_the_other() {
    build_and_execute(|| {
        // HOST serves and relays: CAROL has a channel of each with it.
        assert_ok!(Egress::set_egress_price(signed(HOST), PRICE));
        MockProxies::set_price(HOST, Some(RELAY_PRICE));
        assert_ok!(Egress::open_channel(signed(CAROL), HOST, EG, UNIT, PRICE));
        assert_ok!(Egress::open_channel(
            signed(CAROL),
            HOST,
            RL,
            UNIT,
            RELAY_PRICE
        ));
        let eg = Channels::<Test>::get((CAROL, HOST, EG)).unwrap().id;
        let rl = Channels::<Test>::get((CAROL, HOST, RL)).unwrap().id;
        // An egress receipt redeemed as relay, and a relay receipt as egress.
        assert_noop!(
            Egress::redeem(
                signed(HOST),
                RL,
                batch(vec![service_receipt(EG, CAROL, HOST, eg, 1 << 30)])
            ),
            Error::<Test>::WrongChannel
        );
        assert_noop!(
            Egress::redeem(
                signed(HOST),
                EG,
                batch(vec![service_receipt(RL, CAROL, HOST, rl, 1 << 30)])
            ),
            Error::<Test>::WrongChannel
        );
        // Even naming the right channel id, the signature binds the service.
        let mut moved = service_receipt(EG, CAROL, HOST, rl, 1 << 30);
        moved.channel = rl;
        assert_noop!(
            Egress::redeem(signed(HOST), RL, batch(vec![moved])),
            Error::<Test>::BadSignature
        );
        let mut moved = service_receipt(RL, CAROL, HOST, eg, 1 << 30);
        moved.channel = eg;
        assert_noop!(
            Egress::redeem(signed(HOST), EG, batch(vec![moved])),
            Error::<Test>::BadSignature
        );
        // Each in its own service pays at its own price.
        let host = free(HOST);
        assert_ok!(Egress::redeem(
            signed(HOST),
            RL,
            batch(vec![service_receipt(RL, CAROL, HOST, rl, 1 << 30)])
        ));
        assert_ok!(Egress::redeem(
            signed(HOST),
            EG,
            batch(vec![service_receipt(EG, CAROL, HOST, eg, 1 << 30)])
        ));
        assert_eq!(free(HOST), host + PRICE + RELAY_PRICE);
        assert_eq!(held(CAROL), 2 * UNIT - PRICE - RELAY_PRICE);
        assert_eq!(MockProxies::record(HOST).bytes, 1 << 30);
    });
}

#[test]
fn a_receipt_of_an_old_relay_channel_is_worthless() {
    build_and_execute(|| {
        let first = open_relay(CAROL, UNIT);
        let old = service_receipt(RL, CAROL, PROXY, first, 1 << 30);
        assert_ok!(Egress::release_channel(signed(PROXY), CAROL, RL));
        assert_eq!(MockProxies::record(PROXY).ended, vec![(CAROL, first)]);
        let second = open_relay(CAROL, UNIT);
        assert_ne!(first, second);
        assert_noop!(
            Egress::redeem(signed(PROXY), RL, batch(vec![old])),
            Error::<Test>::WrongChannel
        );
    });
}

#[test]
fn a_sender_cannot_take_back_signed_relay_bytes_before_the_close_period() {
    build_and_execute(|| {
        let ch = open_relay(CAROL, UNIT);
        let r = service_receipt(RL, CAROL, PROXY, ch, 1 << 30);
        assert_ok!(Egress::close_channel(signed(CAROL), PROXY, RL));
        System::set_block_number(CLOSE_PERIOD);
        assert_noop!(
            Egress::finish_close(signed(CAROL), CAROL, PROXY, RL),
            Error::<Test>::TooEarly
        );
        let proxy = free(PROXY);
        assert_ok!(Egress::redeem(signed(PROXY), RL, batch(vec![r])));
        assert_eq!(free(PROXY), proxy + RELAY_PRICE);
        System::set_block_number(1 + CLOSE_PERIOD);
        let carol = free(CAROL);
        assert_ok!(Egress::finish_close(signed(CAROL), CAROL, PROXY, RL));
        assert_eq!(free(CAROL), carol + UNIT - RELAY_PRICE);
        assert_eq!(MockProxies::record(PROXY).ended, vec![(CAROL, ch)]);
        assert!(Channels::<Test>::get((CAROL, PROXY, RL)).is_none());
    });
}

#[test]
fn the_hold_covers_channels_of_both_services() {
    build_and_execute(|| {
        open(CAROL, UNIT);
        open_relay(CAROL, 2 * UNIT);
        assert_eq!(held(CAROL), 3 * UNIT);
        assert_ok!(Egress::release_channel(signed(HOST), CAROL, EG));
        assert_eq!(held(CAROL), 2 * UNIT);
        // Closing one service leaves the other open.
        assert!(Channels::<Test>::get((CAROL, PROXY, RL)).is_some());
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever receipts the host redeems, in whatever order: it is paid
    /// exactly the cost of the largest count it redeemed (capped by the
    /// allowance), the downloader gets the rest back on close, and no MASP
    /// is created or lost.
    #[test]
    fn the_host_gets_exactly_the_cost_of_the_largest_count_signed(
        counts in proptest::collection::vec(0u64..(4 * GIB as u64), 1..8),
        allowance in MIN_ALLOWANCE..(UNIT / 2),
    ) {
        build_and_execute(|| {
            let ch = open(CAROL, allowance);
            let (host, carol) = (free(HOST), free(CAROL));
            let mut best = 0u64;
            for c in &counts {
                let r = Egress::redeem(signed(HOST), EG, batch(vec![receipt(CAROL, HOST, ch, *c)]));
                if *c > best {
                    assert!(r.is_ok());
                    best = *c;
                } else {
                    assert!(r.is_err());
                }
            }
            let paid = cost(best, PRICE).unwrap().min(allowance);
            assert_eq!(free(HOST), host + paid);
            assert_ok!(Egress::release_channel(signed(HOST), CAROL, EG));
            assert_eq!(free(CAROL), carol + allowance - paid);
        });
    }
}
