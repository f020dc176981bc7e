//! The sale's rules, one test (or more) per rule of the white paper. Every test
//! ends with the pallet's `try_state` invariants (see `ExtBuilder::build_and_execute`).

use crate::{mock::*, *};
use frame_support::{
    assert_noop, assert_ok,
    dispatch::CheckIfFeeless,
    traits::{fungible::Inspect, Hooks},
};
use sp_runtime::DispatchError;

const USD: u64 = 1_000_000;
const ALICE: AccountId = 1;
const BOB: AccountId = 2;
const CHARLIE: AccountId = 3;

fn tx(id: &str) -> ExternalTxId {
    id.as_bytes().to_vec().try_into().expect("short id")
}

fn attest(
    buyer: AccountId,
    currency: Currency,
    id: &str,
    usd: UsdMicros,
) -> sp_runtime::DispatchResult {
    TokenSale::attest_contribution(RuntimeOrigin::root(), buyer, currency, tx(id), 1_000, usd)
}

/// The contribution stored for `id` (looked up by its normalised form).
fn contribution(currency: Currency, id: &str) -> ContributionOf<Test> {
    let id = normalize_tx_id(&tx(id)).expect("well-formed id");
    Contributions::<Test>::get((currency, id)).expect("contribution stored")
}

fn allocation(who: AccountId) -> Balance {
    Buyers::<Test>::get(who).map(|b| b.allocation).unwrap_or(0)
}

/// Fills the sale up to `usd` raised with contributions from `CHARLIE`.
fn raise(usd: UsdMicros) {
    let mut left = usd;
    let mut i = 0;
    while left > 0 {
        let part = left.min(10_000_000 * USD);
        assert_ok!(attest(CHARLIE, Currency::Btc, &format!("fill{i}"), part));
        left -= part;
        i += 1;
    }
}

// --- Schedule: one 6-week sale, no pre-sale -------------------------------------

#[test]
fn the_sale_lasts_42_days_of_day_length_blocks() {
    ExtBuilder::default().build_and_execute(|| {
        let schedule = Schedule::<Test>::get().unwrap();
        assert_eq!(TokenSale::end_of(&schedule), START + 42 * DAY);
        go_to(day_end(42));
        assert_eq!(TokenSale::phase_at(day_end(42)), SalePhase::Active);
        assert_ok!(attest(ALICE, Currency::Eth, "last", 35 * USD));
        go_to(START + 42 * DAY);
        assert_eq!(TokenSale::phase_at(START + 42 * DAY), SalePhase::Ended);
        assert_noop!(
            attest(ALICE, Currency::Eth, "late", 35 * USD),
            Error::<Test>::SaleEnded
        );
    });
}

#[test]
fn nothing_is_counted_before_the_start_block() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START - 1);
        assert_eq!(TokenSale::phase_at(START - 1), SalePhase::Scheduled);
        assert_noop!(
            attest(ALICE, Currency::Eth, "early", 100 * USD),
            Error::<Test>::SaleNotStarted
        );
        go_to(START);
        assert_ok!(attest(ALICE, Currency::Eth, "early", 100 * USD));
    });
}

#[test]
fn without_a_schedule_nothing_is_counted() {
    ExtBuilder::unscheduled().build_and_execute(|| {
        assert_eq!(TokenSale::phase_at(1), SalePhase::NotScheduled);
        assert_noop!(
            attest(ALICE, Currency::Eth, "x", 100 * USD),
            Error::<Test>::NoSaleScheduled
        );
        assert_noop!(
            TokenSale::finalize(RuntimeOrigin::signed(ALICE)),
            Error::<Test>::NoSaleScheduled
        );
    });
}

#[test]
fn the_authority_schedules_the_sale_once_and_never_after_it_starts() {
    ExtBuilder::unscheduled().build_and_execute(|| {
        go_to(3);
        assert_noop!(
            TokenSale::schedule_sale(RuntimeOrigin::signed(ALICE), 10, 5),
            DispatchError::BadOrigin
        );
        assert_noop!(
            TokenSale::schedule_sale(RuntimeOrigin::root(), 2, 5),
            Error::<Test>::StartInThePast
        );
        assert_noop!(
            TokenSale::schedule_sale(RuntimeOrigin::root(), 10, 0),
            Error::<Test>::InvalidSchedule
        );
        assert_noop!(
            TokenSale::schedule_sale(RuntimeOrigin::root(), u64::MAX - 10, 5),
            Error::<Test>::InvalidSchedule
        );
        assert_ok!(TokenSale::schedule_sale(RuntimeOrigin::root(), 10, 5));
        System::assert_last_event(
            Event::<Test>::SaleScheduled {
                start: 10,
                day_length: 5,
                end: 10 + 42 * 5,
            }
            .into(),
        );
        // Before the start it may still move.
        assert_ok!(TokenSale::schedule_sale(RuntimeOrigin::root(), 20, 5));
        go_to(20);
        assert_noop!(
            TokenSale::schedule_sale(RuntimeOrigin::root(), 30, 5),
            Error::<Test>::SaleAlreadyStarted
        );
    });
}

// --- Price, minimum, rounding ---------------------------------------------------

#[test]
fn one_masp_costs_35_cents() {
    assert_eq!(tokens_for(35 * USD, 0, UNIT), Some(100 * UNIT));
    assert_eq!(tokens_for(350_000, 0, UNIT), Some(UNIT));
    assert_eq!(tokens_for(35_000 * USD, 0, UNIT), Some(100_000 * UNIT));
}

#[test]
fn every_division_rounds_down_in_the_chains_favour() {
    // $35.000001 buys 100 MASP + 1e12/35e6 units = 100 MASP + 2,857,142.857... units.
    assert_eq!(
        tokens_for(35 * USD + 1, 0, UNIT),
        Some(100 * UNIT + 2_857_142)
    );
    // With +15%: 115 MASP + 3,285,714.285... units.
    assert_eq!(
        tokens_for(35 * USD + 1, 15, UNIT),
        Some(115 * UNIT + 3_285_714)
    );
    // 1 micro-dollar is worth 2,857,142.857 units: rounds to 2,857,142.
    assert_eq!(tokens_for(1, 0, UNIT), Some(2_857_142));
    // Never more than paid for: tokens × price <= usd × (100 + bonus) / 100.
    for usd in [35 * USD, 35 * USD + 1, 123_456_789, 99_999_999_999] {
        for bonus in [0u8, 10, 15, 25] {
            let t = tokens_for(usd, bonus, UNIT).unwrap();
            assert!(
                t * PRICE_MICRO_USD as u128 * 100 <= usd as u128 * (100 + bonus as u128) * UNIT
            );
            assert!(
                (t + 1) * PRICE_MICRO_USD as u128 * 100
                    > usd as u128 * (100 + bonus as u128) * UNIT
            );
        }
    }
}

#[test]
fn a_contribution_below_35_dollars_is_refused() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        assert_noop!(
            attest(ALICE, Currency::Eth, "small", 35 * USD - 1),
            Error::<Test>::ContributionTooSmall
        );
        assert_ok!(attest(ALICE, Currency::Eth, "small", 35 * USD));
        assert_eq!(
            allocation(ALICE),
            125 * UNIT,
            "$35 on day 1 = 100 MASP + 25%"
        );
    });
}

#[test]
fn a_buyers_allocation_is_the_sum_of_each_contributions_rounded_tokens() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(day_start(30));
        assert_ok!(attest(ALICE, Currency::Eth, "a", 35 * USD + 1));
        assert_ok!(attest(ALICE, Currency::Btc, "b", 35 * USD + 1));
        // Each rounds down separately: 2 × 2,857,142, not floor(2 × 2,857,142.857).
        assert_eq!(allocation(ALICE), 200 * UNIT + 2 * 2_857_142);
    });
}

// --- Bonus by day: both sides of every boundary -----------------------------------

#[test]
fn a_contribution_in_the_first_24_hours_gets_25_percent() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(day_start(1));
        assert_ok!(attest(ALICE, Currency::Eth, "d1first", 35 * USD));
        assert_eq!(contribution(Currency::Eth, "d1first").bonus_percent, 25);
        go_to(day_end(1));
        assert_ok!(attest(ALICE, Currency::Eth, "d1last", 35 * USD));
        assert_eq!(contribution(Currency::Eth, "d1last").tokens, 125 * UNIT);
    });
}

#[test]
fn bonus_boundaries_25_15_10_0() {
    // (block, expected bonus): both sides of each boundary.
    let cases = [
        (day_end(1), 25),
        (day_start(2), 15),
        (day_end(11), 15),
        (day_start(12), 10),
        (day_end(25), 10),
        (day_start(26), 0),
        (day_end(42), 0),
    ];
    ExtBuilder::default().build_and_execute(|| {
        for (i, (block, bonus)) in cases.into_iter().enumerate() {
            go_to(block);
            assert_eq!(TokenSale::bonus_at(block), bonus, "bonus at block {block}");
            let id = format!("boundary{i}");
            assert_ok!(attest(ALICE, Currency::Ltc, &id, 35 * USD));
            let c = contribution(Currency::Ltc, &id);
            assert_eq!(c.bonus_percent, bonus, "block {block}");
            assert_eq!(c.tokens, (100 + bonus as u128) * UNIT, "block {block}");
        }
    });
    assert_eq!(bonus_percent(1), 25);
    assert_eq!(bonus_percent(2), 15);
    assert_eq!(bonus_percent(11), 15);
    assert_eq!(bonus_percent(12), 10);
    assert_eq!(bonus_percent(25), 10);
    assert_eq!(bonus_percent(26), 0);
    assert_eq!(bonus_percent(42), 0);
}

// --- Attestation ----------------------------------------------------------------

#[test]
fn only_the_sale_authority_attests() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        assert_noop!(
            TokenSale::attest_contribution(
                RuntimeOrigin::signed(ALICE),
                ALICE,
                Currency::Eth,
                tx("x"),
                1,
                35 * USD
            ),
            DispatchError::BadOrigin
        );
    });
}

#[test]
fn the_same_external_transaction_is_never_counted_twice() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        assert_ok!(attest(ALICE, Currency::Eth, "0xabc", 100 * USD));
        assert_noop!(
            attest(BOB, Currency::Eth, "0xabc", 200 * USD),
            Error::<Test>::DuplicateContribution
        );
        // The same id on another chain is another transaction.
        assert_ok!(attest(BOB, Currency::Etc, "0xabc", 200 * USD));
        assert_eq!(Raised::<Test>::get(), 300 * USD);
    });
}

#[test]
fn every_accepted_currency_can_be_attested() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        for c in Currency::ALL {
            assert_ok!(attest(ALICE, c, "tx", 35 * USD));
        }
        assert_eq!(Buyers::<Test>::get(ALICE).unwrap().contributions, 8);
    });
}

#[test]
fn malformed_attestations_are_refused() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        assert_noop!(
            attest(ALICE, Currency::Eth, "", 35 * USD),
            Error::<Test>::EmptyTxId
        );
        assert_noop!(
            TokenSale::attest_contribution(
                RuntimeOrigin::root(),
                ALICE,
                Currency::Eth,
                tx("z"),
                0,
                35 * USD
            ),
            Error::<Test>::ZeroAmount
        );
    });
}

#[test]
fn an_attestation_records_and_announces_the_contribution() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(day_start(2));
        assert_ok!(TokenSale::attest_contribution(
            RuntimeOrigin::root(),
            ALICE,
            Currency::Btc,
            tx("btc1"),
            150_000,
            70 * USD
        ));
        System::assert_last_event(
            Event::<Test>::ContributionAttested {
                buyer: ALICE,
                currency: Currency::Btc,
                external_tx_id: tx("btc1"),
                amount_in_currency: 150_000,
                usd_value: 70 * USD,
                counted_usd: 70 * USD,
                excess_usd: 0,
                day: 2,
                bonus_percent: 15,
                tokens: 230 * UNIT,
            }
            .into(),
        );
        assert!(ContributionsOf::<Test>::contains_key(
            ALICE,
            (Currency::Btc, tx("btc1"))
        ));
        assert_eq!(TotalAllocated::<Test>::get(), 230 * UNIT);
    });
}

// --- Caps -----------------------------------------------------------------------

#[test]
fn bonuses_do_not_count_toward_the_caps() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        assert_ok!(attest(ALICE, Currency::Eth, "a", 1_000 * USD));
        assert_eq!(
            Raised::<Test>::get(),
            1_000 * USD,
            "USD raised, not USD × bonus"
        );
    });
}

#[test]
fn the_hard_cap_is_never_exceeded_and_the_excess_is_refundable() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(day_start(3));
        raise(HARD_CAP_MICRO_USD - 100 * USD);
        assert_ok!(attest(ALICE, Currency::Eth, "crossing", 350 * USD));
        assert_eq!(Raised::<Test>::get(), HARD_CAP_MICRO_USD);
        let c = contribution(Currency::Eth, "crossing");
        assert_eq!((c.counted_usd, c.excess_usd), (100 * USD, 250 * USD));
        assert_eq!(
            c.tokens,
            tokens_for(100 * USD, 15, UNIT).unwrap(),
            "only the counted part earns tokens"
        );
        assert_eq!(ExcessUsd::<Test>::get(), 250 * USD);
        assert_eq!(TokenSale::refundable_usd(&c), 250 * USD);
        System::assert_last_event(Event::<Test>::HardCapReached { at: day_start(3) }.into());
    });
}

#[test]
fn reaching_the_hard_cap_ends_the_sale_early() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(day_start(5));
        raise(HARD_CAP_MICRO_USD);
        assert_eq!(TokenSale::phase_at(day_start(5)), SalePhase::Ended);
        assert_noop!(
            attest(ALICE, Currency::Eth, "aftercap", 35 * USD),
            Error::<Test>::HardCapReached
        );
        // finalize needs no waiting for the end block.
        assert_ok!(TokenSale::finalize(RuntimeOrigin::signed(BOB)));
        assert_eq!(TokenSale::phase_at(day_start(5)), SalePhase::Succeeded);
    });
}

// --- Finalize ---------------------------------------------------------------------

#[test]
fn finalize_waits_for_the_end_block_unless_the_hard_cap_is_reached() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START + 42 * DAY - 1);
        assert_noop!(
            TokenSale::finalize(RuntimeOrigin::signed(ALICE)),
            Error::<Test>::SaleStillActive
        );
        go_to(START + 42 * DAY);
        assert_noop!(
            TokenSale::finalize(RuntimeOrigin::root()),
            DispatchError::BadOrigin
        );
        assert_ok!(TokenSale::finalize(RuntimeOrigin::signed(ALICE)));
        assert_noop!(
            TokenSale::finalize(RuntimeOrigin::signed(ALICE)),
            Error::<Test>::AlreadyFinalized
        );
    });
}

#[test]
fn soft_cap_met_makes_tokens_claimable_and_records_the_proceeds_split() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(day_start(30));
        let raised = SOFT_CAP_MICRO_USD + 7; // awkward remainder on purpose
        raise(raised - 35 * USD);
        assert_ok!(attest(ALICE, Currency::Eth, "alice", 35 * USD));
        go_to(START + 42 * DAY);
        assert_ok!(TokenSale::finalize(RuntimeOrigin::signed(BOB)));
        let proceeds = ProceedsAllocation::split(raised);
        assert_eq!(proceeds.development, raised * 67 / 100);
        assert_eq!(proceeds.bounty, raised * 3 / 100);
        assert_eq!(proceeds.representative_offices, raised * 5 / 100);
        assert_eq!(proceeds.infrastructure, raised * 15 / 100);
        assert_eq!(
            proceeds.total(),
            raised as u128,
            "the split sums exactly to the total"
        );
        assert_eq!(
            Outcome::<Test>::get(),
            Some(SaleOutcome::Succeeded {
                at: START + 42 * DAY,
                raised,
                proceeds
            })
        );
        System::assert_last_event(
            Event::<Test>::SaleSucceeded {
                raised,
                total_allocated: TotalAllocated::<Test>::get(),
                proceeds,
            }
            .into(),
        );
        assert_eq!(TokenSale::claimable(&ALICE), Some(100 * UNIT));
    });
}

#[test]
fn the_proceeds_split_is_67_3_5_15_10() {
    let p = ProceedsAllocation::split(100 * USD);
    assert_eq!(
        (
            p.development,
            p.bounty,
            p.representative_offices,
            p.infrastructure,
            p.reserve
        ),
        (67 * USD, 3 * USD, 5 * USD, 15 * USD, 10 * USD)
    );
    for raised in [
        0,
        1,
        99,
        101,
        SOFT_CAP_MICRO_USD + 3,
        HARD_CAP_MICRO_USD,
        u64::MAX,
    ] {
        assert_eq!(ProceedsAllocation::split(raised).total(), raised as u128);
    }
}

#[test]
fn soft_cap_missed_mints_nothing_and_makes_every_contribution_refundable() {
    ExtBuilder::default().build_and_execute(|| {
        let issuance = Balances::total_issuance();
        go_to(START);
        assert_ok!(attest(ALICE, Currency::Eth, "a", 1_000 * USD));
        assert_ok!(attest(BOB, Currency::Btc, "b", 2_000 * USD));
        go_to(START + 42 * DAY);
        assert_ok!(TokenSale::finalize(RuntimeOrigin::signed(ALICE)));
        System::assert_last_event(
            Event::<Test>::SaleFailed {
                raised: 3_000 * USD,
            }
            .into(),
        );
        assert_eq!(TokenSale::phase_at(START + 42 * DAY), SalePhase::Failed);
        assert_noop!(
            TokenSale::claim(RuntimeOrigin::signed(ALICE)),
            Error::<Test>::SaleFailed
        );
        assert_eq!(
            TokenSale::refundable_usd(&contribution(Currency::Eth, "a")),
            1_000 * USD
        );
        assert_eq!(
            TokenSale::refundable_usd(&contribution(Currency::Btc, "b")),
            2_000 * USD
        );
        assert_eq!(Balances::total_issuance(), issuance, "nothing minted");
        assert_eq!(TokenSale::claimable(&ALICE), None);
    });
}

// --- Claims -------------------------------------------------------------------------

fn successful_sale_with_alice_and_bob() {
    go_to(day_start(1));
    assert_ok!(attest(ALICE, Currency::Eth, "alice", 35 * USD)); // 125 MASP
    go_to(day_start(12));
    assert_ok!(attest(BOB, Currency::Btc, "bob", 70 * USD)); // 220 MASP
    raise(SOFT_CAP_MICRO_USD);
    go_to(START + 42 * DAY);
    assert_ok!(TokenSale::finalize(RuntimeOrigin::signed(ALICE)));
}

#[test]
fn buyers_claim_their_tokens_price_plus_bonus() {
    ExtBuilder::default().build_and_execute(|| {
        successful_sale_with_alice_and_bob();
        let issuance = Balances::total_issuance();
        assert_ok!(TokenSale::claim(RuntimeOrigin::signed(ALICE)));
        System::assert_last_event(
            Event::<Test>::Claimed {
                buyer: ALICE,
                amount: 125 * UNIT,
            }
            .into(),
        );
        assert_ok!(TokenSale::claim(RuntimeOrigin::signed(BOB)));
        assert_eq!(Balances::balance(&ALICE), 125 * UNIT);
        assert_eq!(Balances::balance(&BOB), 220 * UNIT);
        assert_eq!(Balances::total_issuance(), issuance + 345 * UNIT);
        assert_eq!(TotalClaimed::<Test>::get(), 345 * UNIT);
    });
}

#[test]
fn a_buyer_claims_once() {
    ExtBuilder::default().build_and_execute(|| {
        successful_sale_with_alice_and_bob();
        assert_ok!(TokenSale::claim(RuntimeOrigin::signed(ALICE)));
        assert_noop!(
            TokenSale::claim(RuntimeOrigin::signed(ALICE)),
            Error::<Test>::AlreadyClaimed
        );
    });
}

#[test]
fn claims_wait_for_a_successful_finalize_and_need_an_allocation() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        assert_ok!(attest(ALICE, Currency::Eth, "alice", 35 * USD));
        assert_noop!(
            TokenSale::claim(RuntimeOrigin::signed(ALICE)),
            Error::<Test>::NotFinalized
        );
        raise(SOFT_CAP_MICRO_USD);
        go_to(START + 42 * DAY);
        assert_ok!(TokenSale::finalize(RuntimeOrigin::signed(ALICE)));
        assert_noop!(
            TokenSale::claim(RuntimeOrigin::signed(BOB)),
            Error::<Test>::NothingToClaim
        );
    });
}

#[test]
fn a_buyer_holding_zero_masp_can_claim_feelessly() {
    ExtBuilder::default().build_and_execute(|| {
        let buyer: AccountId = 77;
        assert!(!System::account_exists(&buyer));
        go_to(START);
        assert_ok!(attest(buyer, Currency::Eth, "b", 35 * USD));
        // The account exists (CheckNonce accepts its transactions) with no MASP.
        assert!(System::account_exists(&buyer));
        assert_eq!(Balances::balance(&buyer), 0);
        raise(SOFT_CAP_MICRO_USD);
        go_to(START + 42 * DAY);
        assert_ok!(TokenSale::finalize(RuntimeOrigin::signed(ALICE)));

        let claim = Call::<Test>::claim {};
        assert!(
            claim.is_feeless(&RuntimeOrigin::signed(buyer)),
            "unclaimed allocation: feeless"
        );
        assert!(
            !claim.is_feeless(&RuntimeOrigin::signed(BOB)),
            "no allocation: pays the fee"
        );
        assert!(!claim.is_feeless(&RuntimeOrigin::root()));

        assert_ok!(TokenSale::claim(RuntimeOrigin::signed(buyer)));
        assert!(
            !claim.is_feeless(&RuntimeOrigin::signed(buyer)),
            "claimed: pays the fee"
        );
        assert_eq!(
            System::sufficients(&buyer),
            0,
            "the sale no longer keeps the account"
        );
        assert!(System::account_exists(&buyer), "its MASP does");
    });
}

#[test]
fn claim_is_not_feeless_before_a_successful_finalize() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        assert_ok!(attest(ALICE, Currency::Eth, "a", 35 * USD));
        assert!(!Call::<Test>::claim {}.is_feeless(&RuntimeOrigin::signed(ALICE)));
    });
}

// --- Refunds ------------------------------------------------------------------------

#[test]
fn a_refund_is_recorded_once_per_contribution_and_per_refund_tx() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        assert_ok!(attest(ALICE, Currency::Eth, "a", 1_000 * USD));
        assert_ok!(attest(BOB, Currency::Eth, "b", 1_000 * USD));
        assert_noop!(
            TokenSale::mark_refunded(RuntimeOrigin::root(), Currency::Eth, tx("a"), tx("r1")),
            Error::<Test>::NothingToRefund
        );
        go_to(START + 42 * DAY);
        assert_ok!(TokenSale::finalize(RuntimeOrigin::signed(ALICE)));
        assert_noop!(
            TokenSale::mark_refunded(
                RuntimeOrigin::signed(ALICE),
                Currency::Eth,
                tx("a"),
                tx("r1")
            ),
            DispatchError::BadOrigin
        );
        assert_ok!(TokenSale::mark_refunded(
            RuntimeOrigin::root(),
            Currency::Eth,
            tx("a"),
            tx("r1")
        ));
        System::assert_last_event(
            Event::<Test>::RefundRecorded {
                buyer: ALICE,
                currency: Currency::Eth,
                external_tx_id: tx("a"),
                refund_tx_id: tx("r1"),
                usd_refunded: 1_000 * USD,
            }
            .into(),
        );
        assert_noop!(
            TokenSale::mark_refunded(RuntimeOrigin::root(), Currency::Eth, tx("a"), tx("r2")),
            Error::<Test>::AlreadyRefunded
        );
        assert_noop!(
            TokenSale::mark_refunded(RuntimeOrigin::root(), Currency::Eth, tx("b"), tx("r1")),
            Error::<Test>::DuplicateRefundTx
        );
        assert_noop!(
            TokenSale::mark_refunded(RuntimeOrigin::root(), Currency::Eth, tx("nope"), tx("r3")),
            Error::<Test>::UnknownContribution
        );
        assert_noop!(
            TokenSale::mark_refunded(RuntimeOrigin::root(), Currency::Eth, tx("b"), tx("")),
            Error::<Test>::EmptyTxId
        );
        assert_eq!(
            TokenSale::refundable_usd(&contribution(Currency::Eth, "a")),
            0
        );
    });
}

#[test]
fn a_fully_refunded_buyer_of_a_failed_sale_is_released() {
    ExtBuilder::default().build_and_execute(|| {
        let buyer: AccountId = 55;
        go_to(START);
        assert_ok!(attest(buyer, Currency::Eth, "a", 100 * USD));
        assert_ok!(attest(buyer, Currency::Btc, "b", 100 * USD));
        assert_eq!(System::sufficients(&buyer), 1);
        go_to(START + 42 * DAY);
        assert_ok!(TokenSale::finalize(RuntimeOrigin::signed(ALICE)));
        assert_ok!(TokenSale::mark_refunded(
            RuntimeOrigin::root(),
            Currency::Eth,
            tx("a"),
            tx("ra")
        ));
        assert_eq!(
            System::sufficients(&buyer),
            1,
            "one contribution still owed"
        );
        assert_ok!(TokenSale::mark_refunded(
            RuntimeOrigin::root(),
            Currency::Btc,
            tx("b"),
            tx("rb")
        ));
        assert_eq!(System::sufficients(&buyer), 0);
        assert!(!System::account_exists(&buyer));
    });
}

#[test]
fn after_a_successful_sale_only_the_excess_over_the_hard_cap_is_refundable() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        assert_ok!(attest(ALICE, Currency::Eth, "normal", 100 * USD));
        raise(HARD_CAP_MICRO_USD - 200 * USD);
        assert_ok!(attest(BOB, Currency::Btc, "crossing", 300 * USD));
        // The excess is refundable before finalize too.
        assert_ok!(TokenSale::mark_refunded(
            RuntimeOrigin::root(),
            Currency::Btc,
            tx("crossing"),
            tx("r")
        ));
        assert_ok!(TokenSale::finalize(RuntimeOrigin::signed(ALICE)));
        assert_noop!(
            TokenSale::mark_refunded(RuntimeOrigin::root(), Currency::Eth, tx("normal"), tx("r2")),
            Error::<Test>::NothingToRefund
        );
        assert_ok!(TokenSale::claim(RuntimeOrigin::signed(BOB)));
        assert_eq!(
            Balances::balance(&BOB),
            tokens_for(100 * USD, 25, UNIT).unwrap()
        );
    });
}

// --- The attester committee: M of N, one vote each, normalised ids -----------------------

const A1: AccountId = ATTESTERS[0];
const A2: AccountId = ATTESTERS[1];
const A3: AccountId = ATTESTERS[2];
const A4: AccountId = ATTESTERS[3];

/// `attester` votes that `buyer` paid `amount` (Eth) worth `usd` in `id`.
fn vote(
    attester: AccountId,
    buyer: AccountId,
    id: &str,
    amount: u128,
    usd: UsdMicros,
) -> sp_runtime::DispatchResult {
    TokenSale::attest(
        RuntimeOrigin::signed(attester),
        buyer,
        Currency::Eth,
        tx(id),
        amount,
        usd,
    )
}

/// The normalised key of the Eth payment `id`.
fn eth_key(id: &str) -> ContributionKey {
    (
        Currency::Eth,
        normalize_tx_id(&tx(id)).expect("well-formed id"),
    )
}

/// Votes pending on the Eth payment `id`.
fn votes_on(id: &str) -> usize {
    Pending::<Test>::get(eth_key(id)).map_or(0, |v| v.len())
}

fn counted(id: &str) -> bool {
    Contributions::<Test>::contains_key(eth_key(id))
}

#[test]
fn a_payment_counts_exactly_once_at_the_mth_matching_vote() {
    ExtBuilder::default()
        .attest_threshold(3)
        .build_and_execute(|| {
            go_to(day_start(2));
            assert_ok!(vote(A1, ALICE, "0xAA01", 1_000, 70 * USD));
            System::assert_last_event(
                Event::<Test>::AttestationVoted {
                    attester: A1,
                    currency: Currency::Eth,
                    external_tx_id: tx("aa01"),
                    buyer: ALICE,
                    amount_in_currency: 1_000,
                    usd_value: 70 * USD,
                    votes: 1,
                    threshold: 3,
                }
                .into(),
            );
            assert_ok!(vote(A2, ALICE, "aa01", 1_000, 70 * USD));
            assert!(!counted("aa01"), "2 of 3: nothing counted");
            assert_eq!((Raised::<Test>::get(), allocation(ALICE)), (0, 0));
            assert_eq!(
                (PendingOf::<Test>::get(A1), PendingOf::<Test>::get(A2)),
                (1, 1)
            );

            assert_ok!(vote(A3, ALICE, "0Xaa01", 1_000, 70 * USD));
            assert!(counted("aa01"));
            assert_eq!(Raised::<Test>::get(), 70 * USD);
            assert_eq!(
                allocation(ALICE),
                230 * UNIT,
                "$70 on day 2 = 200 MASP + 15%"
            );
            System::assert_has_event(
                Event::<Test>::AttestationVoted {
                    attester: A3,
                    currency: Currency::Eth,
                    external_tx_id: tx("aa01"),
                    buyer: ALICE,
                    amount_in_currency: 1_000,
                    usd_value: 70 * USD,
                    votes: 3,
                    threshold: 3,
                }
                .into(),
            );
            System::assert_last_event(
                Event::<Test>::ContributionAttested {
                    buyer: ALICE,
                    currency: Currency::Eth,
                    external_tx_id: tx("aa01"),
                    amount_in_currency: 1_000,
                    usd_value: 70 * USD,
                    counted_usd: 70 * USD,
                    excess_usd: 0,
                    day: 2,
                    bonus_percent: 15,
                    tokens: 230 * UNIT,
                }
                .into(),
            );
            // The votes are gone and every slot is free.
            assert_eq!(votes_on("aa01"), 0);
            for a in ATTESTERS {
                assert_eq!(PendingOf::<Test>::get(a), 0);
            }
            // A 4th vote cannot count it again.
            assert_noop!(
                vote(A4, ALICE, "aa01", 1_000, 70 * USD),
                Error::<Test>::DuplicateContribution
            );
            assert_eq!(Buyers::<Test>::get(ALICE).unwrap().contributions, 1);
        });
}

#[test]
fn one_attester_alone_can_never_mint() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        assert_eq!(AttestThreshold::<Test>::get(), 2);
        assert_ok!(vote(A1, A1, "bb01", 1, 10_000 * USD));
        assert!(!counted("bb01"));
        assert_eq!((Raised::<Test>::get(), allocation(A1)), (0, 0));

        // The threshold cannot go below 2, nor above MaxAttesters.
        for m in [0, 1] {
            assert_noop!(
                TokenSale::set_attest_threshold(RuntimeOrigin::root(), m),
                Error::<Test>::ThresholdTooLow
            );
        }
        assert_noop!(
            TokenSale::set_attest_threshold(RuntimeOrigin::root(), MAX_ATTESTERS + 1),
            Error::<Test>::ThresholdTooHigh
        );
        assert_noop!(
            TokenSale::set_attest_threshold(RuntimeOrigin::signed(A1), 2),
            DispatchError::BadOrigin
        );
        assert_ok!(TokenSale::set_attest_threshold(
            RuntimeOrigin::root(),
            MAX_ATTESTERS
        ));
        System::assert_last_event(
            Event::<Test>::AttestThresholdSet {
                threshold: MAX_ATTESTERS,
            }
            .into(),
        );
        assert_ok!(TokenSale::set_attest_threshold(RuntimeOrigin::root(), 2));

        // Even a threshold of 0 or 1 in storage (a bad migration) is applied
        // as 2: one vote still counts nothing.
        for stored in [0, 1] {
            AttestThreshold::<Test>::put(stored);
            assert_eq!(TokenSale::attest_threshold(), 2);
            assert_ok!(vote(A2, A2, &format!("bb1{stored}"), 1, 10_000 * USD));
            assert_eq!((Raised::<Test>::get(), allocation(A2)), (0, 0));
        }
        AttestThreshold::<Test>::put(2);
    });
}

#[test]
fn the_genesis_threshold_cannot_let_one_attester_mint() {
    let built = std::panic::catch_unwind(|| ExtBuilder::default().attest_threshold(1).build());
    assert!(built.is_err(), "genesis refuses a threshold of 1");
    let built = std::panic::catch_unwind(|| {
        ExtBuilder::default()
            .attest_threshold(MAX_ATTESTERS + 1)
            .build()
    });
    assert!(
        built.is_err(),
        "genesis refuses a threshold above MaxAttesters"
    );
}

#[test]
fn attesters_who_disagree_on_buyer_amount_or_usd_count_nothing_until_m_agree() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        // (id, A1's claim, A2's claim): they differ in one field each time.
        let cases = [
            ("cc01", (ALICE, 1_000, 100 * USD), (ALICE, 1_001, 100 * USD)),
            ("cc02", (ALICE, 1_000, 100 * USD), (ALICE, 1_000, 101 * USD)),
            ("cc03", (ALICE, 1_000, 100 * USD), (BOB, 1_000, 100 * USD)),
        ];
        for (id, (b1, a1, u1), (b2, a2, u2)) in cases {
            assert_ok!(vote(A1, b1, id, a1, u1));
            assert_ok!(vote(A2, b2, id, a2, u2));
            assert!(!counted(id), "{id}: two claims, one vote each");
            assert_eq!(votes_on(id), 2, "{id}: both claims pending");
            let view = TokenSale::attestation(Currency::Eth, &tx(id)).unwrap();
            assert_eq!(view.claims.len(), 2);
            assert!(view.claims.iter().all(|c| c.counting_votes == 1));
        }
        assert_eq!(Raised::<Test>::get(), 0);

        // A third attester agreeing with A2 counts A2's claim, and only it.
        for (id, _, (b2, a2, u2)) in cases {
            assert_ok!(vote(A3, b2, id, a2, u2));
            let c = contribution(Currency::Eth, id);
            assert_eq!((c.buyer, c.amount_in_currency, c.usd_value), (b2, a2, u2));
            assert_eq!(votes_on(id), 0, "{id}: the losing claim is dropped too");
        }
        assert_eq!(Raised::<Test>::get(), 301 * USD);
        assert_eq!(PendingOf::<Test>::get(A1), 0, "A1's slots are free again");
    });
}

#[test]
fn an_attester_votes_once_per_payment() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        assert_ok!(vote(A1, ALICE, "dd01", 1_000, 100 * USD));
        assert_noop!(
            vote(A1, ALICE, "dd01", 1_000, 100 * USD),
            Error::<Test>::AlreadyVoted
        );
        // Not for another claim either, nor under another spelling.
        assert_noop!(
            vote(A1, BOB, "dd01", 1_000, 100 * USD),
            Error::<Test>::AlreadyVoted
        );
        assert_noop!(
            vote(A1, ALICE, "0XDD01", 1_000, 100 * USD),
            Error::<Test>::AlreadyVoted
        );
        // To change its claim, it withdraws first.
        assert_ok!(TokenSale::withdraw_attestation(
            RuntimeOrigin::signed(A1),
            Currency::Eth,
            tx("dd01")
        ));
        assert_ok!(vote(A1, BOB, "dd01", 1_000, 100 * USD));
        assert_eq!(PendingOf::<Test>::get(A1), 1);
    });
}

#[test]
fn a_removed_attesters_vote_does_not_count_toward_m() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        assert_ok!(vote(A1, ALICE, "ee01", 1_000, 100 * USD));
        set_attesters(&[A2, A3, A4]);
        assert_ok!(vote(A2, ALICE, "ee01", 1_000, 100 * USD));
        assert!(
            !counted("ee01"),
            "A1 is no longer an attester: 1 counting vote"
        );
        System::assert_last_event(
            Event::<Test>::AttestationVoted {
                attester: A2,
                currency: Currency::Eth,
                external_tx_id: tx("ee01"),
                buyer: ALICE,
                amount_in_currency: 1_000,
                usd_value: 100 * USD,
                votes: 1,
                threshold: 2,
            }
            .into(),
        );
        assert_noop!(
            vote(A1, ALICE, "ee02", 1_000, 100 * USD),
            Error::<Test>::NotAnAttester
        );
        assert_ok!(vote(A3, ALICE, "ee01", 1_000, 100 * USD));
        assert!(counted("ee01"));
        assert_eq!(
            PendingOf::<Test>::get(A1),
            0,
            "the removed attester's vote was dropped with the others"
        );
    });
}

#[test]
fn a_removed_attester_can_still_withdraw_its_votes() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        assert_ok!(vote(A1, ALICE, "ee11", 1_000, 100 * USD));
        set_attesters(&[A2, A3]);
        assert_ok!(TokenSale::withdraw_attestation(
            RuntimeOrigin::signed(A1),
            Currency::Eth,
            tx("EE11")
        ));
        assert_eq!((votes_on("ee11"), PendingOf::<Test>::get(A1)), (0, 0));
    });
}

#[test]
fn a_non_attester_cannot_vote_and_changes_nothing() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        // The cheapest attack of a hostile buyer: vote for its own payment.
        assert_noop!(
            vote(ALICE, ALICE, "ff01", 1_000, 100 * USD),
            Error::<Test>::NotAnAttester
        );
        assert_noop!(
            TokenSale::attest(
                RuntimeOrigin::root(),
                ALICE,
                Currency::Eth,
                tx("ff01"),
                1_000,
                100 * USD
            ),
            DispatchError::BadOrigin
        );
        assert_eq!(PendingOf::<Test>::get(ALICE), 0);
    });
}

#[test]
fn one_payment_spelt_differently_counts_once_whichever_path_attests_it() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        // A hostile buyer reports one payment twice, spelt two ways.
        assert_ok!(vote(A1, ALICE, "0xABCdef", 1_000, 100 * USD));
        assert_ok!(vote(A2, ALICE, "abcdef", 1_000, 100 * USD));
        assert!(counted("abcdef"));
        assert!(Contributions::<Test>::contains_key((
            Currency::Eth,
            tx("abcdef")
        )));
        for spelling in ["0xabcdef", "0XABCDEF", "ABCDEF", "abcdef"] {
            assert_noop!(
                vote(A3, BOB, spelling, 1_000, 100 * USD),
                Error::<Test>::DuplicateContribution
            );
            assert_noop!(
                attest(BOB, Currency::Eth, spelling, 100 * USD),
                Error::<Test>::DuplicateContribution
            );
        }
        // The other way round: the authority first, then the committee.
        assert_ok!(attest(BOB, Currency::Eth, "0XFEED", 100 * USD));
        System::assert_has_event(
            Event::<Test>::ContributionAttested {
                buyer: BOB,
                currency: Currency::Eth,
                external_tx_id: tx("feed"),
                amount_in_currency: 1_000,
                usd_value: 100 * USD,
                counted_usd: 100 * USD,
                excess_usd: 0,
                day: 1,
                bonus_percent: 25,
                tokens: tokens_for(100 * USD, 25, UNIT).unwrap(),
            }
            .into(),
        );
        assert_noop!(
            vote(A1, BOB, "feed", 1_000, 100 * USD),
            Error::<Test>::DuplicateContribution
        );
        assert_eq!(Raised::<Test>::get(), 200 * USD);
    });
}

#[test]
fn tx_ids_are_normalised_and_malformed_ones_refused() {
    let n = |id: &str| normalize_tx_id(&tx(id));
    assert_eq!(n("0xABCdef"), Ok(tx("abcdef")));
    assert_eq!(n("0Xabcdef"), Ok(tx("abcdef")));
    assert_eq!(n("ABCDEF"), Ok(tx("abcdef")));
    assert_eq!(n("00ab"), Ok(tx("00ab")), "a leading 0 is not a prefix");
    assert_eq!(n("0x0xab"), Ok(tx("0xab")), "only ONE prefix is removed");
    assert_eq!(n(""), Err(TxIdError::Empty));
    assert_eq!(n("0x"), Err(TxIdError::Empty));
    assert_eq!(n("0X"), Err(TxIdError::Empty));
    assert_eq!(n("x0x"), Ok(tx("x0x")), "a prefix only at the start");
    for bad in [
        "ab-cd", "ab cd", " abcd", "abcd\n", "ab:cd", "0x ab", "abçd", "0x-1",
    ] {
        assert_eq!(n(bad), Err(TxIdError::Malformed), "{bad:?}");
    }
    let max: String = "F".repeat(MAX_TX_ID_LEN as usize);
    assert_eq!(n(&max), Ok(tx(&"f".repeat(MAX_TX_ID_LEN as usize))));

    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        for (id, error) in [
            ("ab-cd", DispatchError::from(Error::<Test>::MalformedTxId)),
            ("0x", DispatchError::from(Error::<Test>::EmptyTxId)),
        ] {
            assert_noop!(vote(A1, ALICE, id, 1_000, 100 * USD), error);
            assert_noop!(attest(ALICE, Currency::Eth, id, 100 * USD), error);
            assert_noop!(
                TokenSale::withdraw_attestation(RuntimeOrigin::signed(A1), Currency::Eth, tx(id)),
                error
            );
            assert_noop!(
                TokenSale::clear_attestation(RuntimeOrigin::root(), Currency::Eth, tx(id)),
                error
            );
        }
        assert_eq!(TokenSale::attestation(Currency::Eth, &tx("ab-cd")), None);
    });
}

#[test]
fn refunds_are_recorded_under_normalised_ids() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        assert_ok!(attest(ALICE, Currency::Eth, "ab12", 100 * USD));
        assert_ok!(attest(BOB, Currency::Eth, "cd34", 100 * USD));
        go_to(START + 42 * DAY);
        assert_ok!(TokenSale::finalize(RuntimeOrigin::signed(ALICE)));
        assert_ok!(TokenSale::mark_refunded(
            RuntimeOrigin::root(),
            Currency::Eth,
            tx("0xAB12"),
            tx("0XEF56")
        ));
        System::assert_last_event(
            Event::<Test>::RefundRecorded {
                buyer: ALICE,
                currency: Currency::Eth,
                external_tx_id: tx("ab12"),
                refund_tx_id: tx("ef56"),
                usd_refunded: 100 * USD,
            }
            .into(),
        );
        // The same refund tx spelt another way is the same refund tx.
        assert_noop!(
            TokenSale::mark_refunded(RuntimeOrigin::root(), Currency::Eth, tx("cd34"), tx("ef56")),
            Error::<Test>::DuplicateRefundTx
        );
        assert_noop!(
            TokenSale::mark_refunded(RuntimeOrigin::root(), Currency::Eth, tx("AB12"), tx("0102")),
            Error::<Test>::AlreadyRefunded
        );
        assert_noop!(
            TokenSale::mark_refunded(RuntimeOrigin::root(), Currency::Eth, tx("cd34"), tx("r-1")),
            Error::<Test>::MalformedTxId
        );
    });
}

#[test]
fn a_hostile_attester_is_held_to_max_pending_while_honest_attestations_still_count() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        // The cheapest harm a hostile attester can do: a vote for a made-up
        // payment, as many as it may (one per payment, each cheap).
        for i in 0..MAX_PENDING_PER_ATTESTER {
            assert_ok!(vote(A1, A1, &format!("bad{i}"), 1, HARD_CAP_MICRO_USD));
        }
        assert_noop!(
            vote(A1, A1, "bad9", 1, HARD_CAP_MICRO_USD),
            Error::<Test>::TooManyPending
        );
        assert_eq!(PendingOf::<Test>::get(A1), MAX_PENDING_PER_ATTESTER);
        assert_eq!(
            Pending::<Test>::iter().count() as u32,
            MAX_PENDING_PER_ATTESTER
        );
        // It cannot front-run a real payment with its own claim either...
        assert_noop!(
            vote(A1, A1, "90001", 1_000, 100 * USD),
            Error::<Test>::TooManyPending
        );
        // ...and honest attesters still count real payments.
        assert_ok!(vote(A2, ALICE, "90001", 1_000, 100 * USD));
        assert_ok!(vote(A3, ALICE, "90001", 1_000, 100 * USD));
        assert_eq!(contribution(Currency::Eth, "90001").buyer, ALICE);
        assert_eq!(
            Raised::<Test>::get(),
            100 * USD,
            "nothing of the hostile's counted"
        );
        assert_eq!(allocation(A1), 0);
    });
}

#[test]
fn a_hostile_claim_on_a_real_payment_loses_to_m_honest_votes() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        // Front-running: the hostile attester votes first, naming itself.
        assert_ok!(vote(A1, A1, "90002", 1_000, 100 * USD));
        assert_ok!(vote(A2, ALICE, "90002", 1_000, 100 * USD));
        assert!(!counted("90002"));
        assert_ok!(vote(A3, ALICE, "90002", 1_000, 100 * USD));
        assert_eq!(contribution(Currency::Eth, "90002").buyer, ALICE);
        assert_eq!(allocation(A1), 0);
        assert_eq!(
            PendingOf::<Test>::get(A1),
            0,
            "its vote is dropped with the payment"
        );
    });
}

#[test]
fn a_vote_that_completes_a_payment_is_accepted_at_the_open_vote_limit() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        for i in 0..MAX_PENDING_PER_ATTESTER {
            assert_ok!(vote(A1, ALICE, &format!("a{i}"), 1_000, 100 * USD));
        }
        assert_ok!(vote(A2, BOB, "b0", 1_000, 100 * USD));
        // A1 is at its limit, but this vote leaves nothing open.
        assert_ok!(vote(A1, BOB, "b0", 1_000, 100 * USD));
        assert!(counted("b0"));
        assert_eq!(PendingOf::<Test>::get(A1), MAX_PENDING_PER_ATTESTER);
        // A vote that would stay open is still refused.
        assert_noop!(
            vote(A1, BOB, "b1", 1_000, 100 * USD),
            Error::<Test>::TooManyPending
        );
    });
}

#[test]
fn withdrawing_a_vote_frees_its_slot() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        for i in 0..MAX_PENDING_PER_ATTESTER {
            assert_ok!(vote(A1, ALICE, &format!("a{i}"), 1_000, 100 * USD));
        }
        assert_ok!(vote(A2, BOB, "a0", 1_000, 100 * USD));
        assert_noop!(
            vote(A1, ALICE, "a9", 1_000, 100 * USD),
            Error::<Test>::TooManyPending
        );
        assert_ok!(TokenSale::withdraw_attestation(
            RuntimeOrigin::signed(A1),
            Currency::Eth,
            tx("0xA0")
        ));
        System::assert_last_event(
            Event::<Test>::AttestationWithdrawn {
                attester: A1,
                currency: Currency::Eth,
                external_tx_id: tx("a0"),
            }
            .into(),
        );
        assert_eq!(PendingOf::<Test>::get(A1), MAX_PENDING_PER_ATTESTER - 1);
        assert_eq!(votes_on("a0"), 1, "A2's vote stays");
        assert_ok!(vote(A1, ALICE, "a9", 1_000, 100 * USD));
        // The last vote on a payment withdrawn: the entry goes.
        assert_ok!(TokenSale::withdraw_attestation(
            RuntimeOrigin::signed(A1),
            Currency::Eth,
            tx("a1")
        ));
        assert!(!Pending::<Test>::contains_key(eth_key("a1")));
        // Nothing to withdraw.
        assert_noop!(
            TokenSale::withdraw_attestation(RuntimeOrigin::signed(A1), Currency::Eth, tx("a1")),
            Error::<Test>::NotVoted
        );
        assert_noop!(
            TokenSale::withdraw_attestation(RuntimeOrigin::signed(A3), Currency::Eth, tx("a0")),
            Error::<Test>::NotVoted
        );
    });
}

#[test]
fn votes_are_pruned_only_once_they_can_no_longer_count() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        assert_ok!(vote(A1, ALICE, "aa01", 1_000, 100 * USD));
        assert_ok!(vote(A2, BOB, "aa01", 1_000, 100 * USD));
        assert_ok!(vote(A1, ALICE, "aa02", 1_000, 100 * USD));
        assert_noop!(
            TokenSale::prune_attestation(RuntimeOrigin::signed(CHARLIE), Currency::Eth, tx("aa01")),
            Error::<Test>::AttestationStillOpen
        );
        // Counted by the sale authority meanwhile: prunable at once.
        assert_ok!(attest(ALICE, Currency::Eth, "0xAA02", 100 * USD));
        assert_ok!(TokenSale::prune_attestation(
            RuntimeOrigin::signed(CHARLIE),
            Currency::Eth,
            tx("aa02")
        ));
        System::assert_last_event(
            Event::<Test>::AttestationPruned {
                currency: Currency::Eth,
                external_tx_id: tx("aa02"),
                votes: 1,
            }
            .into(),
        );
        // The sale over: anyone prunes.
        go_to(START + 42 * DAY);
        assert_ok!(TokenSale::prune_attestation(
            RuntimeOrigin::signed(CHARLIE),
            Currency::Eth,
            tx("AA01")
        ));
        assert_eq!(
            (PendingOf::<Test>::get(A1), PendingOf::<Test>::get(A2)),
            (0, 0)
        );
        assert_eq!(Pending::<Test>::iter().count(), 0);
        assert_noop!(
            TokenSale::prune_attestation(RuntimeOrigin::signed(CHARLIE), Currency::Eth, tx("aa01")),
            Error::<Test>::NoPendingAttestation
        );
        assert_noop!(
            TokenSale::prune_attestation(RuntimeOrigin::root(), Currency::Eth, tx("aa01")),
            DispatchError::BadOrigin
        );
    });
}

#[test]
fn votes_are_prunable_once_the_hard_cap_ends_the_sale() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        assert_ok!(vote(A1, ALICE, "aa03", 1_000, 100 * USD));
        raise(HARD_CAP_MICRO_USD);
        assert_noop!(
            vote(A2, ALICE, "aa03", 1_000, 100 * USD),
            Error::<Test>::HardCapReached
        );
        assert_ok!(TokenSale::prune_attestation(
            RuntimeOrigin::signed(CHARLIE),
            Currency::Eth,
            tx("aa03")
        ));
        assert_eq!(PendingOf::<Test>::get(A1), 0);
    });
}

#[test]
fn governance_clears_votes_at_any_time() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        assert_ok!(vote(A1, ALICE, "aa01", 1_000, 100 * USD));
        assert_ok!(vote(A2, BOB, "aa01", 1_000, 100 * USD));
        assert_noop!(
            TokenSale::clear_attestation(RuntimeOrigin::signed(A3), Currency::Eth, tx("aa01")),
            DispatchError::BadOrigin
        );
        assert_ok!(TokenSale::clear_attestation(
            RuntimeOrigin::root(),
            Currency::Eth,
            tx("0xaa01")
        ));
        System::assert_last_event(
            Event::<Test>::AttestationCleared {
                currency: Currency::Eth,
                external_tx_id: tx("aa01"),
                votes: 2,
            }
            .into(),
        );
        assert_eq!(
            (PendingOf::<Test>::get(A1), PendingOf::<Test>::get(A2)),
            (0, 0)
        );
        assert_noop!(
            TokenSale::clear_attestation(RuntimeOrigin::root(), Currency::Eth, tx("aa01")),
            Error::<Test>::NoPendingAttestation
        );
    });
}

#[test]
fn no_vote_is_recorded_for_a_payment_that_could_not_count() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START - 1);
        assert_noop!(
            vote(A1, ALICE, "aa01", 1_000, 100 * USD),
            Error::<Test>::SaleNotStarted
        );
        go_to(START);
        assert_noop!(
            vote(A1, ALICE, "aa01", 1_000, 35 * USD - 1),
            Error::<Test>::ContributionTooSmall
        );
        assert_noop!(
            vote(A1, ALICE, "aa01", 0, 100 * USD),
            Error::<Test>::ZeroAmount
        );
        go_to(START + 42 * DAY);
        assert_noop!(
            vote(A1, ALICE, "aa01", 1_000, 100 * USD),
            Error::<Test>::SaleEnded
        );
        assert_ok!(TokenSale::finalize(RuntimeOrigin::signed(ALICE)));
        assert_noop!(
            vote(A1, ALICE, "aa01", 1_000, 100 * USD),
            Error::<Test>::AlreadyFinalized
        );
    });
}

#[test]
fn a_vote_after_the_hard_cap_is_refused() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        raise(HARD_CAP_MICRO_USD - 50 * USD);
        assert_ok!(vote(A1, ALICE, "cap1", 1_000, 100 * USD));
        // The vote that crosses the cap counts the part within it.
        assert_ok!(vote(A2, ALICE, "cap1", 1_000, 100 * USD));
        let c = contribution(Currency::Eth, "cap1");
        assert_eq!((c.counted_usd, c.excess_usd), (50 * USD, 50 * USD));
        assert!(HardCapReachedAt::<Test>::get().is_some());
        assert_noop!(
            vote(A1, ALICE, "cap2", 1_000, 100 * USD),
            Error::<Test>::HardCapReached
        );
    });
}

#[test]
fn a_payment_keeps_at_most_max_attesters_votes() {
    ExtBuilder::default().build_and_execute(|| {
        go_to(START);
        let committee: Vec<AccountId> = (21..=21 + MAX_ATTESTERS as u64).collect();
        set_attesters(&committee);
        for (i, a) in committee.iter().take(MAX_ATTESTERS as usize).enumerate() {
            assert_ok!(vote(*a, ALICE, "full", 1_000, 100 * USD + i as u64));
        }
        assert_noop!(
            vote(
                committee[MAX_ATTESTERS as usize],
                ALICE,
                "full",
                1_000,
                100 * USD
            ),
            Error::<Test>::TooManyVotes
        );
        assert_eq!(votes_on("full"), MAX_ATTESTERS as usize);
    });
}

#[test]
fn the_attestation_view_shows_each_claim_and_its_counting_votes() {
    ExtBuilder::default()
        .attest_threshold(3)
        .build_and_execute(|| {
            go_to(START);
            assert_ok!(vote(A1, ALICE, "0xAB", 1_000, 100 * USD));
            assert_ok!(vote(A2, BOB, "ab", 1_000, 100 * USD));
            assert_ok!(vote(A3, ALICE, "AB", 1_000, 100 * USD));
            set_attesters(&[A2, A3, A4]);
            assert_eq!(
                TokenSale::attestation(Currency::Eth, &tx("0XaB")),
                Some(AttestationStatus {
                    currency: Currency::Eth,
                    external_tx_id: tx("ab"),
                    threshold: 3,
                    counted: false,
                    claims: vec![
                        PendingClaimView {
                            buyer: ALICE,
                            amount_in_currency: 1_000,
                            usd_value: 100 * USD,
                            voters: vec![A1, A3],
                            counting_votes: 1,
                        },
                        PendingClaimView {
                            buyer: BOB,
                            amount_in_currency: 1_000,
                            usd_value: 100 * USD,
                            voters: vec![A2],
                            counting_votes: 1,
                        },
                    ],
                })
            );
            let none = TokenSale::attestation(Currency::Btc, &tx("ab")).unwrap();
            assert!(none.claims.is_empty() && !none.counted);
        });
}

#[test]
fn try_state_catches_inconsistent_vote_counts() {
    ExtBuilder::default().build().execute_with(|| {
        go_to(START);
        assert_ok!(vote(A1, ALICE, "aa01", 1_000, 100 * USD));
        assert_ok!(TokenSale::do_try_state());
        PendingOf::<Test>::insert(A1, 2);
        assert!(TokenSale::do_try_state().is_err());
        PendingOf::<Test>::remove(A1);
        assert!(TokenSale::do_try_state().is_err());
        PendingOf::<Test>::insert(A1, 1);
        assert_ok!(TokenSale::do_try_state());
        AttestThreshold::<Test>::put(1);
        assert!(TokenSale::do_try_state().is_err());
    });
}

// --- No emission after the ICO ---------------------------------------------------------

#[test]
fn issuance_only_grows_by_claims_and_never_beyond_the_allocation() {
    ExtBuilder::default().build_and_execute(|| {
        let genesis = Balances::total_issuance();
        assert_eq!(genesis, HOLDER_BALANCE);
        assert_eq!(GenesisIssuance::<Test>::get(), genesis);
        successful_sale_with_alice_and_bob();
        assert_eq!(
            Balances::total_issuance(),
            genesis,
            "finalize mints nothing"
        );
        assert_ok!(TokenSale::claim(RuntimeOrigin::signed(ALICE)));
        assert_ok!(TokenSale::claim(RuntimeOrigin::signed(BOB)));
        assert_ok!(TokenSale::claim(RuntimeOrigin::signed(CHARLIE)));
        assert_eq!(TotalClaimed::<Test>::get(), TotalAllocated::<Test>::get());
        assert_eq!(
            Balances::total_issuance(),
            genesis + TotalAllocated::<Test>::get()
        );
        // Everything claimed: no call can mint any more.
        for who in [ALICE, BOB, CHARLIE, HOLDER] {
            assert!(TokenSale::claim(RuntimeOrigin::signed(who)).is_err());
        }
        assert_eq!(
            Balances::total_issuance(),
            genesis + TotalAllocated::<Test>::get()
        );
    });
}

#[test]
fn try_state_catches_minting_outside_the_sale() {
    ExtBuilder::default().build().execute_with(|| {
        use frame_support::traits::fungible::Mutate;
        assert_ok!(TokenSale::do_try_state());
        assert_ok!(<Balances as Mutate<AccountId>>::mint_into(&ALICE, UNIT));
        assert!(TokenSale::do_try_state().is_err());
    });
}

#[test]
fn integrity_test_passes() {
    <TokenSale as Hooks<u64>>::integrity_test();
}

#[test]
fn phases_follow_the_schedule_and_the_outcome() {
    ExtBuilder::default().build_and_execute(|| {
        assert_eq!(TokenSale::phase_at(START - 1), SalePhase::Scheduled);
        assert_eq!(TokenSale::phase_at(START), SalePhase::Active);
        assert_eq!(TokenSale::phase_at(START + 42 * DAY), SalePhase::Ended);
        assert_eq!(TokenSale::bonus_at(START + 42 * DAY), 0);
        go_to(START + 42 * DAY);
        assert_ok!(TokenSale::finalize(RuntimeOrigin::signed(ALICE)));
        assert_eq!(TokenSale::phase_at(START), SalePhase::Failed);
    });
}

// --- Property test: random sequences of calls ------------------------------------------

mod property {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Advance(u64),
        Attest {
            buyer: AccountId,
            currency: usize,
            tx: u8,
            usd: UsdMicros,
        },
        Finalize,
        Claim(AccountId),
        Refund {
            currency: usize,
            tx: u8,
            refund_tx: u8,
        },
        /// An attester (or, for index 4, a buyer) votes for claim `variant`,
        /// spelling the id one of three ways.
        Vote {
            who: usize,
            currency: usize,
            tx: u8,
            variant: usize,
            spelling: usize,
        },
        Withdraw {
            who: usize,
            currency: usize,
            tx: u8,
            spelling: usize,
        },
        Prune {
            currency: usize,
            tx: u8,
        },
        /// Governance sets the committee to the attesters whose bit is set.
        Committee(u8),
    }

    /// Who may vote in the property test: the 4 attesters and a buyer.
    const VOTERS: [AccountId; 5] = [A1, A2, A3, A4, ALICE];
    /// The claims voted for: (buyer, USD).
    const CLAIMS: [(AccountId, UsdMicros); 3] = [
        (ALICE, 35 * USD),
        (BOB, 10_000 * USD),
        (CHARLIE, 20_000_000 * USD),
    ];

    /// The id `t{t}` spelt three ways (one payment).
    fn spelt(t: u8, spelling: usize) -> String {
        match spelling {
            0 => format!("t{t}"),
            1 => format!("T{t}"),
            _ => format!("0xT{t}"),
        }
    }

    fn op() -> impl Strategy<Value = Op> {
        let usd = prop_oneof![
            1u64..=MIN_CONTRIBUTION_MICRO_USD,
            MIN_CONTRIBUTION_MICRO_USD..=10_000 * USD,
            1_000_000 * USD..=20_000_000 * USD,
        ];
        prop_oneof![
            3 => (1u64..=4 * DAY).prop_map(Op::Advance),
            6 => (1u64..=5, 0usize..8, 0u8..12, usd)
                .prop_map(|(buyer, currency, tx, usd)| Op::Attest { buyer, currency, tx, usd }),
            1 => Just(Op::Finalize),
            2 => (1u64..=5).prop_map(Op::Claim),
            2 => (0usize..8, 0u8..12, 0u8..12).prop_map(|(currency, tx, refund_tx)| Op::Refund { currency, tx, refund_tx }),
            8 => (0usize..5, 0usize..2, 0u8..4, 0usize..3, 0usize..3)
                .prop_map(|(who, currency, tx, variant, spelling)| Op::Vote { who, currency, tx, variant, spelling }),
            2 => (0usize..5, 0usize..2, 0u8..4, 0usize..3)
                .prop_map(|(who, currency, tx, spelling)| Op::Withdraw { who, currency, tx, spelling }),
            1 => (0usize..2, 0u8..4).prop_map(|(currency, tx)| Op::Prune { currency, tx }),
            1 => (0u8..16).prop_map(Op::Committee),
        ]
    }

    /// A reference model of the sale, written independently of the pallet.
    #[derive(Default)]
    struct Model {
        raised: u128,
        seen: std::collections::BTreeSet<(usize, u8)>,
        alloc: std::collections::BTreeMap<AccountId, u128>,
        claimed: std::collections::BTreeSet<AccountId>,
        /// Votes per payment: (voter, claim variant).
        pending: std::collections::BTreeMap<(usize, u8), Vec<(AccountId, usize)>>,
        open: std::collections::BTreeMap<AccountId, u32>,
        members: std::collections::BTreeSet<AccountId>,
    }

    impl Model {
        fn count(&mut self, key: (usize, u8), buyer: AccountId, usd: UsdMicros, block: u64) {
            self.seen.insert(key);
            let counted = (usd as u128).min(HARD_CAP_MICRO_USD as u128 - self.raised);
            self.raised += counted;
            let tokens = counted * (100 + bonus_for_block(block)) * UNIT / 35_000_000;
            *self.alloc.entry(buyer).or_default() += tokens;
        }

        fn release(&mut self, who: AccountId) {
            let n = self.open.entry(who).or_default();
            *n -= 1;
            if *n == 0 {
                self.open.remove(&who);
            }
        }
    }

    fn bonus_for_block(block: u64) -> u128 {
        let day = (block - START) / DAY + 1;
        match day {
            1 => 25,
            2..=11 => 15,
            12..=25 => 10,
            _ => 0,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10_000, .. ProptestConfig::default() })]

        #[test]
        fn random_sequences_keep_every_rule(ops in proptest::collection::vec(op(), 1..40)) {
            ExtBuilder::default().build().execute_with(|| -> Result<(), TestCaseError> {
                let genesis = Balances::total_issuance();
                let mut m = Model { members: ATTESTERS.into_iter().collect(), ..Model::default() };
                let mut block = START;
                go_to(block);
                for op in ops {
                    match op {
                        Op::Advance(n) => { block += n; go_to(block); },
                        Op::Attest { buyer, currency, tx: t, usd } => {
                            let r = attest(buyer, Currency::ALL[currency], &format!("t{t}"), usd);
                            let active = block < START + 42 * DAY
                                && m.raised < HARD_CAP_MICRO_USD as u128
                                && Outcome::<Test>::get().is_none();
                            let ok = active && usd >= MIN_CONTRIBUTION_MICRO_USD && !m.seen.contains(&(currency, t));
                            prop_assert_eq!(r.is_ok(), ok, "attest {:?}", r);
                            if ok {
                                m.count((currency, t), buyer, usd, block);
                            }
                        },
                        Op::Vote { who, currency, tx: t, variant, spelling } => {
                            let voter = VOTERS[who];
                            let (buyer, usd) = CLAIMS[variant];
                            let r = TokenSale::attest(
                                RuntimeOrigin::signed(voter),
                                buyer,
                                Currency::ALL[currency],
                                super::tx(&spelt(t, spelling)),
                                1_000,
                                usd,
                            );
                            let key = (currency, t);
                            let active = block < START + 42 * DAY
                                && m.raised < HARD_CAP_MICRO_USD as u128
                                && Outcome::<Test>::get().is_none();
                            let votes = m.pending.get(&key).cloned().unwrap_or_default();
                            let agreeing = 1 + votes
                                .iter()
                                .filter(|(a, v)| *v == variant && m.members.contains(a))
                                .count();
                            let open = m.open.get(&voter).copied().unwrap_or(0);
                            let ok = m.members.contains(&voter)
                                && active
                                && !m.seen.contains(&key)
                                && !votes.iter().any(|(a, _)| *a == voter)
                                && (agreeing >= 2 || open < MAX_PENDING_PER_ATTESTER);
                            prop_assert_eq!(r.is_ok(), ok, "vote {:?}", r);
                            if ok && agreeing >= 2 {
                                m.count(key, buyer, usd, block);
                                for (a, _) in votes {
                                    m.release(a);
                                }
                                m.pending.remove(&key);
                            } else if ok {
                                m.pending.entry(key).or_default().push((voter, variant));
                                *m.open.entry(voter).or_default() += 1;
                            }
                        },
                        Op::Withdraw { who, currency, tx: t, spelling } => {
                            let voter = VOTERS[who];
                            let r = TokenSale::withdraw_attestation(
                                RuntimeOrigin::signed(voter),
                                Currency::ALL[currency],
                                super::tx(&spelt(t, spelling)),
                            );
                            let key = (currency, t);
                            let votes = m.pending.get(&key).cloned().unwrap_or_default();
                            let ok = votes.iter().any(|(a, _)| *a == voter);
                            prop_assert_eq!(r.is_ok(), ok, "withdraw {:?}", r);
                            if ok {
                                let rest: Vec<_> = votes.into_iter().filter(|(a, _)| *a != voter).collect();
                                if rest.is_empty() { m.pending.remove(&key); } else { m.pending.insert(key, rest); }
                                m.release(voter);
                            }
                        },
                        Op::Prune { currency, tx: t } => {
                            let r = TokenSale::prune_attestation(
                                RuntimeOrigin::signed(9),
                                Currency::ALL[currency],
                                super::tx(&spelt(t, 0)),
                            );
                            let key = (currency, t);
                            let active = block < START + 42 * DAY
                                && m.raised < HARD_CAP_MICRO_USD as u128
                                && Outcome::<Test>::get().is_none();
                            let ok = m.pending.contains_key(&key) && (!active || m.seen.contains(&key));
                            prop_assert_eq!(r.is_ok(), ok, "prune {:?}", r);
                            if ok {
                                for (a, _) in m.pending.remove(&key).unwrap_or_default() {
                                    m.release(a);
                                }
                            }
                        },
                        Op::Committee(mask) => {
                            let members: Vec<AccountId> = ATTESTERS
                                .into_iter()
                                .enumerate()
                                .filter(|(i, _)| mask & (1 << i) != 0)
                                .map(|(_, a)| a)
                                .collect();
                            set_attesters(&members);
                            m.members = members.into_iter().collect();
                        },
                        Op::Finalize => {
                            let can = Outcome::<Test>::get().is_none()
                                && (block >= START + 42 * DAY || m.raised == HARD_CAP_MICRO_USD as u128);
                            prop_assert_eq!(TokenSale::finalize(RuntimeOrigin::signed(9)).is_ok(), can);
                        },
                        Op::Claim(who) => {
                            let succeeded = matches!(Outcome::<Test>::get(), Some(SaleOutcome::Succeeded { .. }));
                            let can = succeeded && m.alloc.get(&who).copied().unwrap_or(0) > 0 && !m.claimed.contains(&who);
                            let before = Balances::balance(&who);
                            prop_assert_eq!(TokenSale::claim(RuntimeOrigin::signed(who)).is_ok(), can);
                            if can {
                                m.claimed.insert(who);
                                prop_assert_eq!(Balances::balance(&who) - before, m.alloc[&who]);
                            }
                        },
                        Op::Refund { currency, tx: t, refund_tx } => {
                            let _ = TokenSale::mark_refunded(
                                RuntimeOrigin::root(),
                                Currency::ALL[currency],
                                super::tx(&format!("t{t}")),
                                super::tx(&format!("r{refund_tx}")),
                            );
                        },
                    }
                    // Rules that hold after every call.
                    prop_assert!(Raised::<Test>::get() as u128 <= HARD_CAP_MICRO_USD as u128, "hard cap exceeded");
                    prop_assert_eq!(Raised::<Test>::get() as u128, m.raised);
                    prop_assert_eq!(Contributions::<Test>::iter().count(), m.seen.len(), "one count per external tx");
                    prop_assert_eq!(Pending::<Test>::iter().count(), m.pending.len(), "pending payments");
                    for voter in VOTERS {
                        prop_assert_eq!(PendingOf::<Test>::get(voter), m.open.get(&voter).copied().unwrap_or(0), "open votes");
                        prop_assert!(PendingOf::<Test>::get(voter) <= MAX_PENDING_PER_ATTESTER);
                    }
                    for (who, a) in &m.alloc {
                        prop_assert_eq!(allocation(*who), *a, "allocation = sum floor(usd / 0.35 × (1 + bonus))");
                    }
                    let claimed: u128 = m.claimed.iter().map(|w| m.alloc[w]).sum();
                    prop_assert_eq!(Balances::total_issuance(), genesis + claimed, "issuance = genesis + claimed");
                    prop_assert!(TokenSale::do_try_state().is_ok(), "{:?}", TokenSale::do_try_state());
                }
                Ok(())
            })?;
        }
    }
}
