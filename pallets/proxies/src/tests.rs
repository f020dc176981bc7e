//! Proxies register, relay for pay through egress relay channels, are rated
//! and leave; and the attacks on it: a proxy that is not (or no longer)
//! one opening channels for itself, a non-payer or a repeated failure
//! report, a proxy dodging a report, a slash by anyone but governance.

use crate::{mock::*, Error, Event, HoldReason, Proxies as ProxiesMap, Sessions, SCORE_MAX};
use frame_support::{
    assert_noop, assert_ok,
    traits::fungible::{Inspect, InspectHold},
    BoundedVec,
};
use masp_primitives::{
    egress::{cost, receipt_payload, Service},
    traits::ProxyRegistry,
};
use pallet_egress::{Channels, Receipt};
use sp_runtime::{testing::TestSignature, DispatchError};

fn signed(who: AccountId) -> RuntimeOrigin {
    RuntimeOrigin::signed(who)
}

fn endpoint(s: &str) -> BoundedVec<u8, frame_support::traits::ConstU32<64>> {
    s.as_bytes().to_vec().try_into().unwrap()
}

fn deposit_held(who: AccountId) -> Balance {
    Balances::balance_on_hold(&HoldReason::ProxyDeposit.into(), &who)
}

fn last_event() -> Event<Test> {
    System::events()
        .into_iter()
        .filter_map(|r| match r.event {
            RuntimeEvent::Proxies(e) => Some(e),
            _ => None,
        })
        .next_back()
        .expect("a proxies event")
}

fn register(who: AccountId) {
    assert_ok!(Proxies::register(
        signed(who),
        endpoint("https://proxy.example:8443"),
        PRICE
    ));
}

/// `payer` opens a relay channel of one MASP with `proxy`; returns its id.
fn open(payer: AccountId, proxy: AccountId) -> u64 {
    assert_ok!(Egress::open_channel(
        signed(payer),
        proxy,
        Service::Relay,
        UNIT,
        PRICE
    ));
    Channels::<Test>::get((payer, proxy, Service::Relay))
        .unwrap()
        .id
}

/// `payer`'s relay receipt for `bytes` on `channel` with `proxy`.
fn receipt(
    payer: AccountId,
    proxy: AccountId,
    channel: u64,
    bytes: u64,
) -> BoundedVec<Receipt<AccountId, TestSignature>, frame_support::traits::ConstU32<8>> {
    let payload = receipt_payload(
        System::block_hash(0).as_ref(),
        Service::Relay,
        channel,
        &codec::Encode::encode(&proxy),
        bytes,
    );
    vec![Receipt {
        payer,
        channel,
        bytes,
        signature: TestSignature(payer, payload),
    }]
    .try_into()
    .unwrap()
}

#[test]
fn a_proxy_registers_with_a_valid_endpoint_and_its_deposit() {
    build_and_execute(|| {
        for bad in ["ftp://a.b", "https://", "https://a b", "proxy.example"] {
            assert_noop!(
                Proxies::register(signed(PROXY), endpoint(bad), PRICE),
                Error::<Test>::BadEndpoint
            );
        }
        // Nothing to hold the deposit with.
        assert_noop!(
            Proxies::register(signed(99), endpoint("https://p.example"), PRICE),
            Error::<Test>::InsufficientFunds
        );
        register(PROXY);
        assert_eq!(deposit_held(PROXY), PROXY_DEPOSIT);
        assert_eq!(
            last_event(),
            Event::Registered {
                proxy: PROXY,
                endpoint: endpoint("https://proxy.example:8443"),
                price_per_gib: PRICE,
                deposit: PROXY_DEPOSIT
            }
        );
        assert_eq!(
            <Proxies as ProxyRegistry<AccountId>>::relay_price(&PROXY),
            Some(PRICE)
        );
        assert_noop!(
            Proxies::register(signed(PROXY), endpoint("https://p.example"), PRICE),
            Error::<Test>::AlreadyRegistered
        );
    });
}

#[test]
fn at_most_max_proxies_register() {
    build_and_execute(|| {
        for who in 1..=MAX_PROXIES as AccountId {
            register(who);
        }
        assert_noop!(
            Proxies::register(signed(EVE), endpoint("https://p.example"), PRICE),
            Error::<Test>::TooManyProxies
        );
        assert_eq!(Proxies::proxies().len(), MAX_PROXIES as usize);
    });
}

#[test]
fn an_update_changes_endpoint_and_price_not_open_channels() {
    build_and_execute(|| {
        assert_noop!(
            Proxies::update(signed(PROXY), endpoint("https://p.example"), PRICE),
            Error::<Test>::NotAProxy
        );
        register(PROXY);
        let ch = open(CAROL, PROXY);
        assert_noop!(
            Proxies::update(signed(PROXY), endpoint("ftp://p.example"), PRICE),
            Error::<Test>::BadEndpoint
        );
        assert_ok!(Proxies::update(
            signed(PROXY),
            endpoint("http://10.0.0.3:9000"),
            3 * PRICE
        ));
        let p = ProxiesMap::<Test>::get(PROXY).unwrap();
        assert_eq!(
            (p.endpoint, p.price_per_gib),
            (endpoint("http://10.0.0.3:9000"), 3 * PRICE)
        );
        // The open channel keeps its price; a new one pays the new price.
        let proxy = Balances::balance(&PROXY);
        assert_ok!(Egress::redeem(
            signed(PROXY),
            Service::Relay,
            receipt(CAROL, PROXY, ch, 1 << 30)
        ));
        assert_eq!(Balances::balance(&PROXY), proxy + PRICE);
        assert_noop!(
            Egress::open_channel(signed(DAVE), PROXY, Service::Relay, UNIT, PRICE),
            pallet_egress::Error::<Test>::PriceAboveMax
        );
    });
}

#[test]
fn an_unregistered_or_deregistering_proxy_gets_no_new_channel() {
    build_and_execute(|| {
        assert_noop!(
            Egress::open_channel(signed(CAROL), PROXY, Service::Relay, UNIT, PRICE),
            pallet_egress::Error::<Test>::NotARelay
        );
        // Not even one the proxy opens with itself as payee from another
        // account of its own before it registered.
        assert_noop!(
            Egress::open_channel(signed(OTHER_PROXY), PROXY, Service::Relay, UNIT, PRICE),
            pallet_egress::Error::<Test>::NotARelay
        );
        register(PROXY);
        let ch = open(CAROL, PROXY);
        assert_ok!(Proxies::deregister(signed(PROXY)));
        assert_eq!(
            last_event(),
            Event::Deregistered {
                proxy: PROXY,
                unbonding_until: 1 + UNBOND_PERIOD
            }
        );
        assert_noop!(
            Egress::open_channel(signed(DAVE), PROXY, Service::Relay, UNIT, PRICE),
            pallet_egress::Error::<Test>::NotARelay
        );
        assert_noop!(
            Egress::open_channel(signed(CAROL), PROXY, Service::Relay, UNIT, PRICE),
            pallet_egress::Error::<Test>::NotARelay
        );
        // What was relayed is still paid.
        assert_ok!(Egress::redeem(
            signed(PROXY),
            Service::Relay,
            receipt(CAROL, PROXY, ch, 1 << 30)
        ));
        assert_eq!(ProxiesMap::<Test>::get(PROXY).unwrap().bytes_paid, 1 << 30);
    });
}

#[test]
fn a_deposit_stays_held_and_slashable_while_unbonding() {
    build_and_execute(|| {
        register(PROXY);
        assert_noop!(
            Proxies::withdraw(signed(PROXY)),
            Error::<Test>::NotDeregistering
        );
        assert_ok!(Proxies::deregister(signed(PROXY)));
        assert_noop!(
            Proxies::deregister(signed(PROXY)),
            Error::<Test>::Deregistering
        );
        assert_noop!(
            Proxies::update(signed(PROXY), endpoint("https://p.example"), PRICE),
            Error::<Test>::Deregistering
        );
        System::set_block_number(UNBOND_PERIOD);
        assert_noop!(Proxies::withdraw(signed(PROXY)), Error::<Test>::TooEarly);
        assert_ok!(Proxies::slash(RuntimeOrigin::root(), PROXY, UNIT));
        assert_eq!(deposit_held(PROXY), PROXY_DEPOSIT - UNIT);
        System::set_block_number(1 + UNBOND_PERIOD);
        let free = Balances::balance(&PROXY);
        assert_ok!(Proxies::withdraw(signed(PROXY)));
        assert_eq!(
            last_event(),
            Event::Withdrawn {
                proxy: PROXY,
                released: PROXY_DEPOSIT - UNIT
            }
        );
        assert_eq!(Balances::balance(&PROXY), free + PROXY_DEPOSIT - UNIT);
        assert_eq!(deposit_held(PROXY), 0);
        assert!(ProxiesMap::<Test>::get(PROXY).is_none());
        assert_noop!(
            Proxies::slash(RuntimeOrigin::root(), PROXY, UNIT),
            Error::<Test>::NotAProxy
        );
        // It may register again, from scratch.
        register(PROXY);
    });
}

#[test]
fn only_governance_slashes_and_the_slash_goes_to_the_pot() {
    build_and_execute(|| {
        register(PROXY);
        for origin in [signed(EVE), signed(PROXY), RuntimeOrigin::none()] {
            assert_noop!(
                Proxies::slash(origin, PROXY, UNIT),
                DispatchError::BadOrigin
            );
        }
        let pot = Balances::balance(&SLASH_POT);
        assert_ok!(Proxies::slash(RuntimeOrigin::root(), PROXY, 2 * UNIT));
        assert_eq!(Balances::balance(&SLASH_POT), pot + 2 * UNIT);
        assert_eq!(
            last_event(),
            Event::Slashed {
                proxy: PROXY,
                amount: 2 * UNIT
            }
        );
        // A deposit no longer whole: no new sessions until it is topped up.
        assert_eq!(
            <Proxies as ProxyRegistry<AccountId>>::relay_price(&PROXY),
            None
        );
        assert!(!Proxies::proxy(PROXY).unwrap().active);
        assert_ok!(Proxies::update(
            signed(PROXY),
            endpoint("https://p.example"),
            PRICE
        ));
        assert_eq!(deposit_held(PROXY), PROXY_DEPOSIT);
        assert!(Proxies::proxy(PROXY).unwrap().active);
        // More than the deposit takes the deposit, then there is nothing.
        assert_ok!(Proxies::slash(
            RuntimeOrigin::root(),
            PROXY,
            100 * PROXY_DEPOSIT
        ));
        assert_eq!(deposit_held(PROXY), 0);
        assert_noop!(
            Proxies::slash(RuntimeOrigin::root(), PROXY, 1),
            Error::<Test>::NothingToSlash
        );
    });
}

#[test]
fn a_proxy_is_paid_per_byte_relayed_and_rated_on_it() {
    build_and_execute(|| {
        register(PROXY);
        register(OTHER_PROXY);
        let c1 = open(CAROL, PROXY);
        let c2 = open(DAVE, PROXY);
        open(CAROL, OTHER_PROXY);
        let free = Balances::balance(&PROXY);
        assert_ok!(Egress::redeem(
            signed(PROXY),
            Service::Relay,
            receipt(CAROL, PROXY, c1, 3 << 29)
        ));
        assert_ok!(Egress::redeem(
            signed(PROXY),
            Service::Relay,
            receipt(DAVE, PROXY, c2, 1 << 30)
        ));
        let paid = cost(3 << 29, PRICE).unwrap() + cost(1 << 30, PRICE).unwrap();
        assert_eq!(Balances::balance(&PROXY), free + paid);
        let v = Proxies::proxy(PROXY).unwrap();
        assert_eq!(
            (v.bytes_paid, v.paid, v.sessions, v.failures),
            ((3 << 29) + (1 << 30), paid, 2, 0)
        );
        assert_eq!(v.score, 3 * SCORE_MAX / 4);
        assert!(v.active);
        // DAVE reports its session failed: PROXY now ranks below the other.
        assert_ok!(Proxies::report_failure(signed(DAVE), PROXY, c2));
        let list = Proxies::proxies();
        assert_eq!(
            list.iter().map(|v| v.account).collect::<Vec<_>>(),
            vec![OTHER_PROXY, PROXY]
        );
        assert_eq!(list[1].score, SCORE_MAX / 2);
        assert_eq!(list[0].endpoint, b"https://proxy.example:8443".to_vec());
    });
}

#[test]
fn only_the_payer_reports_its_session_and_only_once() {
    build_and_execute(|| {
        register(PROXY);
        let ch = open(CAROL, PROXY);
        assert_eq!(
            Sessions::<Test>::get(PROXY, ch).map(|s| s.payer),
            Some(CAROL)
        );
        // A hostile Sender with no session with this proxy, or naming
        // someone else's.
        assert_noop!(
            Proxies::report_failure(signed(EVE), PROXY, ch),
            Error::<Test>::NotThePayer
        );
        assert_noop!(
            Proxies::report_failure(signed(EVE), PROXY, ch + 1),
            Error::<Test>::UnknownSession
        );
        assert_noop!(
            Proxies::report_failure(signed(CAROL), OTHER_PROXY, ch),
            Error::<Test>::UnknownSession
        );
        assert_ok!(Proxies::report_failure(signed(CAROL), PROXY, ch));
        assert_eq!(
            last_event(),
            Event::FailureReported {
                proxy: PROXY,
                payer: CAROL,
                channel: ch
            }
        );
        assert_noop!(
            Proxies::report_failure(signed(CAROL), PROXY, ch),
            Error::<Test>::UnknownSession
        );
        // Topping the channel up is no new session to report.
        assert_ok!(Egress::open_channel(
            signed(CAROL),
            PROXY,
            Service::Relay,
            UNIT,
            PRICE
        ));
        assert_noop!(
            Proxies::report_failure(signed(CAROL), PROXY, ch),
            Error::<Test>::UnknownSession
        );
        let p = ProxiesMap::<Test>::get(PROXY).unwrap();
        assert_eq!((p.sessions, p.failures), (1, 1));
    });
}

#[test]
fn a_proxy_cannot_dodge_a_report_by_releasing_the_channel() {
    build_and_execute(|| {
        register(PROXY);
        let ch = open(CAROL, PROXY);
        assert_ok!(Egress::release_channel(
            signed(PROXY),
            CAROL,
            Service::Relay
        ));
        assert_eq!(
            Sessions::<Test>::get(PROXY, ch).unwrap().report_until,
            Some(1 + REPORT_WINDOW)
        );
        // Nobody can forget it while it may be reported.
        assert_noop!(
            Proxies::forget_session(signed(PROXY), PROXY, ch),
            Error::<Test>::StillReportable
        );
        System::set_block_number(1 + REPORT_WINDOW);
        assert_ok!(Proxies::report_failure(signed(CAROL), PROXY, ch));
        assert_eq!(ProxiesMap::<Test>::get(PROXY).unwrap().failures, 1);
    });
}

#[test]
fn a_report_comes_within_the_window_then_the_session_is_forgotten() {
    build_and_execute(|| {
        register(PROXY);
        let ch = open(CAROL, PROXY);
        assert_noop!(
            Proxies::forget_session(signed(EVE), PROXY, ch),
            Error::<Test>::StillReportable
        );
        assert_ok!(Egress::close_channel(signed(CAROL), PROXY, Service::Relay));
        System::set_block_number(1 + CLOSE_PERIOD);
        assert_ok!(Egress::finish_close(
            signed(EVE),
            CAROL,
            PROXY,
            Service::Relay
        ));
        System::set_block_number(1 + CLOSE_PERIOD + REPORT_WINDOW + 1);
        assert_noop!(
            Proxies::report_failure(signed(CAROL), PROXY, ch),
            Error::<Test>::ReportWindowOver
        );
        assert_ok!(Proxies::forget_session(signed(EVE), PROXY, ch));
        assert!(Sessions::<Test>::get(PROXY, ch).is_none());
        assert_noop!(
            Proxies::forget_session(signed(EVE), PROXY, ch),
            Error::<Test>::UnknownSession
        );
        assert_eq!(ProxiesMap::<Test>::get(PROXY).unwrap().failures, 0);
    });
}

#[test]
fn the_sessions_of_a_proxy_that_left_can_be_forgotten() {
    build_and_execute(|| {
        register(PROXY);
        let ch = open(CAROL, PROXY);
        assert_ok!(Proxies::deregister(signed(PROXY)));
        System::set_block_number(1 + UNBOND_PERIOD);
        assert_ok!(Proxies::withdraw(signed(PROXY)));
        assert_noop!(
            Proxies::report_failure(signed(CAROL), PROXY, ch),
            Error::<Test>::NotAProxy
        );
        assert_ok!(Proxies::forget_session(signed(EVE), PROXY, ch));
        // Its open channel still pays it and returns the rest.
        assert_ok!(Egress::redeem(
            signed(PROXY),
            Service::Relay,
            receipt(CAROL, PROXY, ch, 1 << 30)
        ));
        assert_ok!(Egress::release_channel(
            signed(PROXY),
            CAROL,
            Service::Relay
        ));
    });
}
