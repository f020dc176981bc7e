//! The MASP token (pallet-balances) and transaction fees (pallet-transaction-payment).
//!
//! Fees and tips go to the author of the block that includes the transaction:
//! the white paper's Miners (our collators) earn them. Nothing is minted here.

use frame_support::{
    parameter_types,
    traits::{
        fungible::{Balanced, Credit},
        ConstU32, ConstU8, Imbalance, OnUnbalanced, VariantCountOf,
    },
    weights::{
        constants::ExtrinsicBaseWeight, ConstantMultiplier, WeightToFeeCoefficient,
        WeightToFeeCoefficients, WeightToFeePolynomial,
    },
};
use pallet_transaction_payment::{FungibleAdapter, Multiplier, TargetedFeeAdjustment};
use smallvec::smallvec;
use sp_runtime::{traits::Bounded, FixedPointNumber, Perbill, Perquintill};

use crate::{
    AccountId, Balance, Balances, Runtime, RuntimeEvent, RuntimeFreezeReason, RuntimeHoldReason,
    EXISTENTIAL_DEPOSIT, MICRO_UNIT, MILLI_UNIT,
};

parameter_types! {
    pub const ExistentialDeposit: Balance = EXISTENTIAL_DEPOSIT;
}

impl pallet_balances::Config for Runtime {
    type MaxLocks = ConstU32<50>;
    type Balance = Balance;
    type RuntimeEvent = RuntimeEvent;
    /// Dust of reaped accounts goes to the block author like fees: MASP is
    /// never burned, so total issuance changes only through the token sale.
    type DustRemoval = ToBlockAuthor;
    type ExistentialDeposit = ExistentialDeposit;
    type AccountStore = frame_system::Pallet<Runtime>;
    type WeightInfo = pallet_balances::weights::SubstrateWeight<Runtime>;
    type MaxReserves = ConstU32<50>;
    type ReserveIdentifier = [u8; 8];
    /// Holds (host deposits, sender escrow, insurer capital) are keyed by the
    /// pallet that places them.
    type RuntimeHoldReason = RuntimeHoldReason;
    type RuntimeFreezeReason = RuntimeFreezeReason;
    type FreezeIdentifier = RuntimeFreezeReason;
    type MaxFreezes = VariantCountOf<RuntimeFreezeReason>;
    type DoneSlashHandler = ();
}

/// Converts a weight into a fee: one base extrinsic costs 0.1 milli-MASP.
pub struct WeightToFee;
impl WeightToFeePolynomial for WeightToFee {
    type Balance = Balance;
    fn polynomial() -> WeightToFeeCoefficients<Self::Balance> {
        // The base weight of an extrinsic maps to MILLI_UNIT / 10.
        let p = MILLI_UNIT / 10;
        let q = Balance::from(ExtrinsicBaseWeight::get().ref_time());
        smallvec![WeightToFeeCoefficient {
            degree: 1,
            negative: false,
            coeff_frac: Perbill::from_rational(p % q, q),
            coeff_integer: p / q,
        }]
    }
}

/// Sends a transaction's fee and tip to the author of the current block.
///
/// If the author cannot receive it (no author known, or an author account
/// with no balance receiving less than the existential deposit), the credit
/// goes to the collators' pot (pallet-collator-selection), which pays it out to
/// authors of later blocks. MASP is never burned or created here, so total
/// issuance only changes through the token sale.
pub struct ToBlockAuthor;
impl OnUnbalanced<Credit<AccountId, Balances>> for ToBlockAuthor {
    fn on_unbalanceds(mut fees_then_tips: impl Iterator<Item = Credit<AccountId, Balances>>) {
        let Some(mut total) = fees_then_tips.next() else {
            return;
        };
        for tip in fees_then_tips {
            total = total.merge(tip);
        }
        Self::on_unbalanced(total);
    }

    fn on_nonzero_unbalanced(credit: Credit<AccountId, Balances>) {
        let credit = match pallet_authorship::Pallet::<Runtime>::author() {
            Some(author) => match <Balances as Balanced<AccountId>>::resolve(&author, credit) {
                Ok(()) => return,
                Err(unpaid) => unpaid,
            },
            None => credit,
        };
        let pot = pallet_collator_selection::Pallet::<Runtime>::account_id();
        if let Err(lost) = <Balances as Balanced<AccountId>>::resolve(&pot, credit) {
            // The pot is kept above the existential deposit by collator
            // selection, so this does not happen on a running chain.
            log::error!(target: "runtime::fees", "fee of {} could not be credited: burned", lost.peek());
        }
    }
}

parameter_types! {
    /// 1 micro-MASP per byte of transaction.
    pub const TransactionByteFee: Balance = MICRO_UNIT;
    /// Blocks are targeted at 25% full; the fee multiplier rises above that.
    pub const TargetBlockFullness: Perquintill = Perquintill::from_percent(25);
    pub AdjustmentVariable: Multiplier = Multiplier::saturating_from_rational(75, 1_000_000);
    pub MinimumMultiplier: Multiplier = Multiplier::saturating_from_rational(1, 10u128);
    pub MaximumMultiplier: Multiplier = Bounded::max_value();
}

/// Fee multiplier that adjusts slowly to block fullness (as Polkadot's).
pub type SlowAdjustingFeeUpdate<R> = TargetedFeeAdjustment<
    R,
    TargetBlockFullness,
    AdjustmentVariable,
    MinimumMultiplier,
    MaximumMultiplier,
>;

impl pallet_transaction_payment::Config for Runtime {
    type RuntimeEvent = RuntimeEvent;
    type OnChargeTransaction = FungibleAdapter<Balances, ToBlockAuthor>;
    type WeightToFee = WeightToFee;
    type LengthToFee = ConstantMultiplier<Balance, TransactionByteFee>;
    type FeeMultiplierUpdate = SlowAdjustingFeeUpdate<Self>;
    type OperationalFeeMultiplier = ConstU8<5>;
    type WeightInfo = pallet_transaction_payment::weights::SubstrateWeight<Runtime>;
}
