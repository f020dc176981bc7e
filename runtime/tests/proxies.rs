//! Proxies (issue 22) as wired in the real runtime (`development` preset):
//! - a proxy registers, a Sender opens a relay channel with it, and the
//!   Sender's receipt, signed with its sr25519 key as the client signs it,
//!   pays the proxy exactly the signed bytes at its price;
//! - the same receipt is worthless as an egress receipt;
//! - only governance (root, or two thirds of the council) slashes, into the
//!   slash pot.

mod common;

use codec::Encode;
use common::*;
use frame_support::{assert_noop, assert_ok, traits::fungible::InspectHold};
use masp_primitives::egress::{cost, receipt_payload, Service};
use masp_runtime::{
    configs::{market::SlashPot, proxies::ProxyDeposit},
    AccountId, Balances, Egress, Proxies, Runtime, RuntimeHoldReason, RuntimeOrigin, System, UNIT,
};
use sp_core::Pair;
use sp_keyring::Sr25519Keyring::{Alice, Bob, Ferdie};
use sp_runtime::{DispatchError, MultiSignature};

/// Ferdie's price per GiB relayed.
const PRICE: u128 = UNIT / 10;

fn signed(k: sp_keyring::Sr25519Keyring) -> RuntimeOrigin {
    RuntimeOrigin::signed(account(k))
}

/// `payer`'s receipt for `bytes` on its `service` channel `channel` with
/// `payee`, signed as `masp` signs it.
fn receipt(
    payer: sp_keyring::Sr25519Keyring,
    service: Service,
    payee: &AccountId,
    channel: u64,
    bytes: u64,
) -> pallet_egress::Receipt<AccountId, MultiSignature> {
    let payload = receipt_payload(
        System::block_hash(0).as_ref(),
        service,
        channel,
        &payee.encode(),
        bytes,
    );
    pallet_egress::Receipt {
        payer: account(payer),
        channel,
        bytes,
        signature: MultiSignature::Sr25519(payer.pair().sign(&payload)),
    }
}

fn register_ferdie() {
    assert_ok!(Proxies::register(
        signed(Ferdie),
        b"https://proxy.example:8443".to_vec().try_into().unwrap(),
        PRICE
    ));
}

#[test]
fn a_relay_receipt_pays_the_proxy_exactly_the_signed_bytes_at_its_price() {
    ext("development").execute_with(|| {
        let proxy = account(Ferdie);
        let before = free(&proxy);
        register_ferdie();
        assert_eq!(
            Balances::balance_on_hold(
                &RuntimeHoldReason::Proxies(pallet_proxies::HoldReason::ProxyDeposit),
                &proxy
            ),
            ProxyDeposit::get()
        );
        assert_ok!(Egress::open_channel(
            signed(Bob),
            proxy.clone(),
            Service::Relay,
            UNIT,
            PRICE
        ));
        let ch = pallet_egress::Channels::<Runtime>::get((account(Bob), &proxy, Service::Relay))
            .expect("open")
            .id;
        let bytes = (5 << 30) / 3;
        // Signed for relay: worthless as egress (no such channel, nor such
        // a signature).
        assert!(Egress::redeem(
            signed(Ferdie),
            Service::Egress,
            vec![receipt(Bob, Service::Relay, &proxy, ch, bytes)]
                .try_into()
                .unwrap()
        )
        .is_err());
        let mut raised = receipt(Bob, Service::Relay, &proxy, ch, bytes);
        raised.bytes += 1;
        assert_noop!(
            Egress::redeem(
                signed(Ferdie),
                Service::Relay,
                vec![raised].try_into().unwrap()
            ),
            pallet_egress::Error::<Runtime>::BadSignature
        );
        assert_ok!(Egress::redeem(
            signed(Ferdie),
            Service::Relay,
            vec![receipt(Bob, Service::Relay, &proxy, ch, bytes)]
                .try_into()
                .unwrap()
        ));
        let paid = cost(bytes, PRICE).unwrap();
        assert_eq!(free(&proxy), before - ProxyDeposit::get() + paid);
        let view = Proxies::proxy(proxy.clone()).expect("listed");
        assert_eq!(
            (view.bytes_paid, view.paid, view.sessions, view.failures),
            (bytes, paid, 1, 0)
        );
        assert_eq!(Proxies::proxies(), vec![view]);
    });
}

#[test]
fn only_governance_slashes_a_proxy_into_the_slash_pot() {
    ext("development").execute_with(|| {
        register_ferdie();
        let proxy = account(Ferdie);
        // A council member alone, or a third of the council.
        assert_noop!(
            Proxies::slash(signed(Alice), proxy.clone(), UNIT),
            DispatchError::BadOrigin
        );
        let third: RuntimeOrigin =
            pallet_collective::RawOrigin::<AccountId, pallet_collective::Instance1>::Members(1, 3)
                .into();
        assert_noop!(
            Proxies::slash(third, proxy.clone(), UNIT),
            DispatchError::BadOrigin
        );
        let pot = free(&SlashPot::get());
        let two_thirds: RuntimeOrigin =
            pallet_collective::RawOrigin::<AccountId, pallet_collective::Instance1>::Members(2, 3)
                .into();
        assert_ok!(Proxies::slash(two_thirds, proxy.clone(), UNIT));
        assert_ok!(Proxies::slash(RuntimeOrigin::root(), proxy.clone(), UNIT));
        assert_eq!(free(&SlashPot::get()), pot + 2 * UNIT);
        assert_eq!(
            Proxies::proxy(proxy).unwrap().deposit,
            ProxyDeposit::get() - 2 * UNIT
        );
    });
}
