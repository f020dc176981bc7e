//! The token sale inside the real runtime: the development chain runs a sale
//! from block 1, and a buyer who holds no MASP claims its tokens with a signed,
//! feeless transaction (the account exists thanks to the sale; the fee check
//! is skipped for a caller with an unclaimed allocation).

mod common;

use common::*;
use frame_support::assert_ok;
use masp_runtime::{
    genesis_config_presets::DEV_SALE_DAY_LENGTH, Executive, Runtime, RuntimeCall, RuntimeOrigin,
    System, TokenSale, UNIT,
};
use masp_runtime::{AccountId, Balance, Block, BlockNumber};
use pallet_token_sale::{Currency, SalePhase, HARD_CAP_MICRO_USD, SOFT_CAP_MICRO_USD};
use pallet_token_sale_runtime_api::runtime_decl_for_token_sale_api::TokenSaleApiV2;
use sp_core::Pair;
use sp_keyring::Sr25519Keyring;
use sp_runtime::transaction_validity::{InvalidTransaction, TransactionValidityError};

const USD: u64 = 1_000_000;

fn tx(id: &str) -> pallet_token_sale::ExternalTxId {
    id.as_bytes().to_vec().try_into().unwrap()
}

#[test]
fn the_dev_chain_runs_a_sale_from_block_1() {
    ext("development").execute_with(|| {
        let status = TokenSale::status();
        assert_eq!(status.phase, SalePhase::Active);
        assert_eq!(status.start, Some(1));
        assert_eq!(status.day_length, Some(DEV_SALE_DAY_LENGTH));
        assert_eq!(status.current_bonus_percent, 25);
        assert_eq!(
            (status.soft_cap_usd, status.hard_cap_usd),
            (SOFT_CAP_MICRO_USD, HARD_CAP_MICRO_USD)
        );
    });
    ext("local_testnet").execute_with(|| {
        assert_eq!(TokenSale::status().phase, SalePhase::NotScheduled);
    });
}

#[test]
fn a_buyer_holding_zero_masp_claims_with_a_feeless_signed_transaction() {
    ext("development").execute_with(|| {
        let buyer = sp_core::sr25519::Pair::from_string("//masp-zero-balance-buyer", None).unwrap();
        let buyer_id: masp_runtime::AccountId = buyer.public().into();
        let stranger = sp_core::sr25519::Pair::from_string("//masp-stranger", None).unwrap();
        assert_eq!(free(&buyer_id), 0);

        // Day 1: the authority (root) attests a $35 contribution: 125 MASP.
        assert_ok!(TokenSale::attest_contribution(
            RuntimeOrigin::root(),
            buyer_id.clone(),
            Currency::Btc,
            tx("0xb7c1"),
            100_000,
            35 * USD
        ));
        assert_ok!(TokenSale::attest_contribution(
            RuntimeOrigin::root(),
            account(Sr25519Keyring::Bob),
            Currency::Eth,
            tx("0xe7a1"),
            1,
            SOFT_CAP_MICRO_USD
        ));
        let end = TokenSale::status().end.unwrap();
        System::set_block_number(end);
        assert_ok!(TokenSale::finalize(RuntimeOrigin::signed(account(
            Sr25519Keyring::Charlie
        ))));
        assert_eq!(TokenSale::status().phase, SalePhase::Succeeded);

        start_block(end + 1, u64::from(end) + 1);
        let claim = RuntimeCall::TokenSale(pallet_token_sale::Call::claim {});

        // Someone with no allocation and no MASP cannot even get `claim` in.
        let refused = Executive::apply_extrinsic(signed_by(&stranger, claim.clone(), 0));
        assert!(
            matches!(
                refused,
                Err(TransactionValidityError::Invalid(
                    InvalidTransaction::Payment
                )) | Err(TransactionValidityError::Invalid(
                    InvalidTransaction::BadSigner
                ))
            ),
            "{refused:?}"
        );

        // The buyer's claim is valid, free, and mints exactly the allocation.
        assert_ok!(Executive::apply_extrinsic(signed_by(&buyer, claim.clone(), 0)).expect("valid"));
        assert_eq!(free(&buyer_id), 125 * UNIT, "no fee was taken");
        assert_eq!(System::sufficients(&buyer_id), 0);
        assert!(
            pallet_token_sale::Buyers::<Runtime>::get(&buyer_id)
                .unwrap()
                .claimed
        );

        // A second claim is no longer feeless: it pays a fee and fails.
        let again =
            Executive::apply_extrinsic(signed_by(&buyer, claim, 0)).expect("valid: it can pay now");
        assert!(again.is_err());
        assert!(
            free(&buyer_id) < 125 * UNIT,
            "the failed claim paid its fee"
        );
    });
}

#[test]
fn two_of_the_attester_committee_count_a_payment_one_alone_cannot() {
    ext("development").execute_with(|| {
        let buyer = account(Sr25519Keyring::Ferdie);
        let vote = |who: Sr25519Keyring, id: &str| {
            TokenSale::attest(
                RuntimeOrigin::signed(account(who)),
                buyer.clone(),
                Currency::Btc,
                tx(id),
                100_000,
                35 * USD,
            )
        };
        // What the committee's view (runtime API v2) says about the payment.
        let view = |id: &str| {
            <Runtime as TokenSaleApiV2<Block, AccountId, BlockNumber, Balance>>::attestation(
                Currency::Btc,
                tx(id),
            )
        };
        // Alice alone: recorded, nothing counted.
        assert_ok!(vote(Sr25519Keyring::Alice, "0xABCDEF"));
        assert_eq!(TokenSale::status().raised_usd, 0);
        assert!(TokenSale::buyer_status(&buyer, 10).is_none());
        let pending = view("ABCDEF").expect("a well-formed id");
        assert_eq!((pending.threshold, pending.counted), (2, false));
        assert_eq!(pending.claims.len(), 1);
        assert_eq!(
            pending.claims[0].voters,
            vec![account(Sr25519Keyring::Alice)]
        );
        assert_eq!(pending.claims[0].counting_votes, 1);
        assert!(view("not hex!").is_none(), "a malformed id has no view");
        // Dave is no attester.
        assert!(vote(Sr25519Keyring::Dave, "abcdef").is_err());
        // Bob agrees (the same payment, written another way): counted once.
        assert_ok!(vote(Sr25519Keyring::Bob, "abcdef"));
        assert_eq!(TokenSale::status().raised_usd, 35 * USD);
        assert!(view("0xabcdef").expect("well formed").counted);
        // Charlie's late vote on the counted payment is a duplicate.
        assert!(vote(Sr25519Keyring::Charlie, "0xabcdef").is_err());
    });
}
