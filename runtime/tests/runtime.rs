//! Rules of the MASP runtime, checked against the real runtime (natively
//! compiled) with genesis built from its own presets.
//!
//! - every genesis preset builds; sudo exists in `development` only, and
//!   `live` starts with nothing minted and no council;
//! - MASP has 12 decimals and an existential deposit of 0.001 MASP that holds;
//! - a signed transfer works and its fee goes to the block's author.

mod common;

use common::*;
use frame_support::{assert_noop, assert_ok};
use masp_runtime::{
    genesis_config_presets::{self, DEV_ENDOWMENT},
    AccountId, Balance, Balances, Executive, Runtime, RuntimeCall, RuntimeOrigin, System,
    UncheckedExtrinsic, EXISTENTIAL_DEPOSIT, MILLI_UNIT, UNIT,
};
use sp_keyring::Sr25519Keyring;
use sp_runtime::{BuildStorage, MultiAddress, TokenError};

#[test]
fn every_genesis_preset_builds() {
    for preset in genesis_config_presets::preset_names() {
        let name: String = preset;
        genesis_config(&name)
            .build_storage()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert!(genesis_config_presets::get_preset(&"no-such-preset".into()).is_none());
}

#[test]
fn development_preset_has_sudo_and_endowed_dev_accounts() {
    ext("development").execute_with(|| {
        assert_eq!(
            pallet_sudo::Key::<Runtime>::get(),
            Some(account(Sr25519Keyring::Alice))
        );
        for k in Sr25519Keyring::well_known() {
            assert_eq!(free(&k.to_account_id()), DEV_ENDOWMENT, "{k:?} endowed");
        }
        // Alice collates alone.
        assert_eq!(
            pallet_collator_selection::Invulnerables::<Runtime>::get().into_inner(),
            vec![account(Sr25519Keyring::Alice)]
        );
    });
}

#[test]
fn local_testnet_has_no_sudo_but_a_council() {
    ext("local_testnet").execute_with(|| {
        assert_eq!(pallet_sudo::Key::<Runtime>::get(), None);
        let mut three: Vec<AccountId> = [
            Sr25519Keyring::Alice,
            Sr25519Keyring::Bob,
            Sr25519Keyring::Charlie,
        ]
        .into_iter()
        .map(account)
        .collect();
        // The collective keeps its members sorted.
        three.sort();
        assert_eq!(
            pallet_collective::Members::<Runtime, pallet_collective::Instance1>::get(),
            three
        );
        assert_eq!(
            pallet_collator_selection::Invulnerables::<Runtime>::get().len(),
            2
        );
    });
}

#[test]
fn live_has_no_sudo_no_endowment_and_no_council_until_the_deployer_names_one() {
    ext("live").execute_with(|| {
        assert_eq!(pallet_sudo::Key::<Runtime>::get(), None);
        assert_eq!(
            Balances::total_issuance(),
            EXISTENTIAL_DEPOSIT,
            "no MASP exists before the token sale but the slash pot's existential deposit"
        );
        assert!(
            pallet_collective::Members::<Runtime, pallet_collective::Instance1>::get().is_empty()
        );
        assert!(
            pallet_membership::Members::<Runtime, pallet_membership::Instance2>::get().is_empty()
        );
    });
}

#[test]
fn masp_has_twelve_decimals_and_a_milli_masp_existential_deposit() {
    assert_eq!(masp_primitives::token::SYMBOL, "MASP");
    assert_eq!(masp_primitives::token::DECIMALS, 12);
    assert_eq!(UNIT, 10u128.pow(12));
    let ed: Balance = <Runtime as pallet_balances::Config>::ExistentialDeposit::get();
    assert_eq!(ed, EXISTENTIAL_DEPOSIT);
    assert_eq!(ed, MILLI_UNIT);
    assert_eq!(
        <Runtime as frame_system::Config>::SS58Prefix::get(),
        masp_primitives::token::SS58_PREFIX
    );
}

#[test]
fn existential_deposit_holds() {
    ext("development").execute_with(|| {
        let alice = account(Sr25519Keyring::Alice);
        let fresh: AccountId = [7u8; 32].into();

        // A new account cannot be created with less than the ED.
        assert_noop!(
            Balances::transfer_allow_death(
                RuntimeOrigin::signed(alice.clone()),
                MultiAddress::Id(fresh.clone()),
                EXISTENTIAL_DEPOSIT - 1
            ),
            TokenError::BelowMinimum
        );
        // Exactly the ED creates it.
        assert_ok!(Balances::transfer_allow_death(
            RuntimeOrigin::signed(alice.clone()),
            MultiAddress::Id(fresh.clone()),
            EXISTENTIAL_DEPOSIT
        ));
        assert_eq!(free(&fresh), EXISTENTIAL_DEPOSIT);
        assert!(System::account_exists(&fresh));

        // keep_alive refuses to take an account below the ED.
        assert_noop!(
            Balances::transfer_keep_alive(
                RuntimeOrigin::signed(fresh.clone()),
                MultiAddress::Id(alice.clone()),
                1
            ),
            TokenError::NotExpendable
        );

        // Sending everything reaps the account; issuance does not change.
        let issuance = Balances::total_issuance();
        assert_ok!(Balances::transfer_all(
            RuntimeOrigin::signed(fresh.clone()),
            MultiAddress::Id(alice.clone()),
            false
        ));
        assert!(!System::account_exists(&fresh));
        assert_eq!(Balances::total_issuance(), issuance);
    });
}

#[test]
fn dust_of_a_reaped_account_is_not_burned() {
    ext("development").execute_with(|| {
        start_block_authored_at(3);
        let (alice, bob) = (account(Sr25519Keyring::Alice), account(Sr25519Keyring::Bob));
        let fresh: AccountId = [9u8; 32].into();
        assert_ok!(Balances::transfer_allow_death(
            RuntimeOrigin::signed(bob.clone()),
            MultiAddress::Id(fresh.clone()),
            EXISTENTIAL_DEPOSIT + 5
        ));
        let issuance = Balances::total_issuance();
        let alice0 = free(&alice);
        // Leaves 5 units, below the ED: the account is reaped, its dust goes to
        // the block author (Alice).
        assert_ok!(Balances::transfer_allow_death(
            RuntimeOrigin::signed(fresh.clone()),
            MultiAddress::Id(bob.clone()),
            EXISTENTIAL_DEPOSIT
        ));
        assert!(!System::account_exists(&fresh));
        assert_eq!(free(&alice), alice0 + 5);
        assert_eq!(Balances::total_issuance(), issuance, "no MASP burned");
    });
}

#[test]
fn a_signed_transfer_pays_its_fee_to_the_block_author() {
    ext("development").execute_with(|| {
        let (alice, bob, charlie) = (
            account(Sr25519Keyring::Alice),
            account(Sr25519Keyring::Bob),
            account(Sr25519Keyring::Charlie),
        );
        start_block_authored_at(42);
        assert_eq!(
            pallet_authorship::Pallet::<Runtime>::author(),
            Some(alice.clone())
        );

        let issuance = Balances::total_issuance();
        let (alice0, bob0, charlie0) = (free(&alice), free(&bob), free(&charlie));
        let amount = 10 * UNIT;
        let tip = MILLI_UNIT;
        let call = RuntimeCall::Balances(pallet_balances::Call::transfer_keep_alive {
            dest: MultiAddress::Id(charlie.clone()),
            value: amount,
        });

        let result = Executive::apply_extrinsic(signed(Sr25519Keyring::Bob, call, tip));
        assert_ok!(result.expect("transaction is valid"));

        assert_eq!(
            free(&charlie),
            charlie0 + amount,
            "Charlie receives the transfer"
        );
        let paid_by_bob = bob0 - free(&bob) - amount;
        assert!(
            paid_by_bob > tip,
            "Bob paid a fee on top of the tip: {paid_by_bob}"
        );
        assert_eq!(
            free(&alice),
            alice0 + paid_by_bob,
            "the author receives fee and tip"
        );
        assert_eq!(
            Balances::total_issuance(),
            issuance,
            "fees move MASP, never burn or mint it"
        );
        assert_eq!(System::account_nonce(&bob), 1);
    });
}

#[test]
fn a_transfer_with_a_bad_signature_is_refused() {
    ext("development").execute_with(|| {
        start_block_authored_at(1);
        let call = RuntimeCall::Balances(pallet_balances::Call::transfer_keep_alive {
            dest: MultiAddress::Id(account(Sr25519Keyring::Charlie)),
            value: UNIT,
        });
        // Signed by Bob, claimed to come from Dave.
        let xt = signed(Sr25519Keyring::Bob, call, 0);
        let forged = match xt.preamble {
            sp_runtime::generic::Preamble::Signed(_, sig, ext) => UncheckedExtrinsic::new_signed(
                xt.function,
                MultiAddress::Id(account(Sr25519Keyring::Dave)),
                sig,
                ext,
            ),
            _ => unreachable!("built as signed"),
        };
        assert!(Executive::apply_extrinsic(forged).is_err());
    });
}
