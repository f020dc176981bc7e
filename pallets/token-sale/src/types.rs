//! Types of the token sale: currencies, schedule, contributions, buyers, and
//! the arithmetic of prices and bonuses (integers only, rounding down).

use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{traits::ConstU32, BoundedVec};
use scale_info::TypeInfo;
use serde::{Deserialize, Serialize};

/// An amount of US dollars in micro-dollars ($1 = 1,000,000).
pub type UsdMicros = u64;

/// Longest external transaction id accepted (bytes). A BTC/LTC/BCH/DASH txid is
/// 32 bytes (64 hex characters), an ETH/ETC hash 32 bytes (66 with `0x`); 128
/// leaves room for any chain's textual form.
pub const MAX_TX_ID_LEN: u32 = 128;

/// The id of a transaction on an external chain (contribution or refund), as
/// the sale authority or an attester reports it. Stored and announced in its
/// normalised form (see [`normalize_tx_id`]).
pub type ExternalTxId = BoundedVec<u8, ConstU32<MAX_TX_ID_LEN>>;

/// Why an external transaction id was refused by [`normalize_tx_id`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TxIdError {
    /// Nothing is left once the optional `0x` prefix is removed.
    Empty,
    /// A byte that is not an ASCII letter or digit.
    Malformed,
}

/// The canonical form of an external transaction id, so that one payment has
/// one key however it is spelt: ONE leading `0x`/`0X` is removed and ASCII
/// letters are lowercased (`"0xABCdef"`, `"0Xabcdef"`, `"ABCDEF"` and
/// `"abcdef"` are the same id).
///
/// Every accepted currency's transaction ids are hex (ETH/ETC/STORJ hashes,
/// BTC/BCH/LTC/DASH txids, Siacoin ids), so anything that is not an ASCII
/// letter or digit is refused ([`TxIdError::Malformed`]): no separator,
/// whitespace or non-ASCII byte can make a second spelling of the same id.
/// An empty id (or a bare `0x`) is [`TxIdError::Empty`]. Pure and total: it
/// never panics and the result is never longer than the input.
pub fn normalize_tx_id(id: &ExternalTxId) -> Result<ExternalTxId, TxIdError> {
    let bytes = id.as_slice();
    let rest = match bytes {
        [b'0', b'x' | b'X', rest @ ..] => rest,
        _ => bytes,
    };
    if rest.is_empty() {
        return Err(TxIdError::Empty);
    }
    if !rest.iter().all(u8::is_ascii_alphanumeric) {
        return Err(TxIdError::Malformed);
    }
    let lower: Vec<u8> = rest.iter().map(u8::to_ascii_lowercase).collect();
    // `lower` is no longer than `id`, so this cannot fail; mapped anyway.
    ExternalTxId::try_from(lower).map_err(|_| TxIdError::Malformed)
}

/// Attesting votes that must agree before a contribution counts can never be
/// fewer than this: one attester alone can never mint.
pub const MIN_ATTEST_THRESHOLD: u32 = 2;

/// What an attester says a payment was: who gets the tokens, how much was paid
/// (smallest unit of the currency) and its USD value. Attesters agree when
/// their claims are equal in every field.
#[derive(Clone, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo, Debug)]
pub struct ContributionClaim<AccountId> {
    /// Who receives the tokens.
    pub buyer: AccountId,
    /// Amount paid, in the currency's smallest unit.
    pub amount_in_currency: u128,
    /// USD value of the payment, micro-dollars.
    pub usd_value: UsdMicros,
}

/// One attester's vote on a payment, kept until the payment counts, the vote
/// is withdrawn, or the votes are pruned or cleared.
#[derive(Clone, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo, Debug)]
pub struct AttestationVote<AccountId> {
    /// Who voted (an attester when it voted).
    pub attester: AccountId,
    /// What it says the payment was.
    pub claim: ContributionClaim<AccountId>,
}

/// The currencies the sale accepts (white paper: "Accepted funds").
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Encode,
    Decode,
    DecodeWithMemTracking,
    MaxEncodedLen,
    TypeInfo,
    Debug,
)]
pub enum Currency {
    /// Ether.
    Eth,
    /// Ether Classic.
    Etc,
    /// Bitcoin.
    Btc,
    /// Bitcoin Cash.
    Bch,
    /// Litecoin.
    Ltc,
    /// Dash.
    Dash,
    /// Siacoin.
    Sc,
    /// Storj.
    Storj,
}

impl Currency {
    /// Every accepted currency.
    pub const ALL: [Currency; 8] = [
        Currency::Eth,
        Currency::Etc,
        Currency::Btc,
        Currency::Bch,
        Currency::Ltc,
        Currency::Dash,
        Currency::Sc,
        Currency::Storj,
    ];
}

/// When the sale runs. Day `d` (1-based) spans blocks
/// `[start + (d-1)·day_length, start + d·day_length)`; the sale lasts
/// [`SALE_DAYS`] days.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Encode,
    Decode,
    DecodeWithMemTracking,
    MaxEncodedLen,
    TypeInfo,
    Debug,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SaleSchedule<BlockNumber> {
    /// First block of the sale: nothing is counted before it (no pre-sale).
    pub start: BlockNumber,
    /// Blocks in one sale day (14,400 at 6 s blocks).
    pub day_length: BlockNumber,
}

/// Days the sale lasts: 6 weeks.
pub const SALE_DAYS: u32 = 42;

/// Where the sale stands.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo, Debug)]
pub enum SalePhase {
    /// No sale has been scheduled.
    NotScheduled,
    /// Scheduled; the start block has not come yet.
    Scheduled,
    /// Contributions are being attested.
    Active,
    /// The end block has passed or the hard cap was reached; waiting for `finalize`.
    Ended,
    /// Finalized with the soft cap met: tokens are claimable.
    Succeeded,
    /// Finalized with the soft cap missed: nothing is minted, everything is refundable.
    Failed,
}

/// How the proceeds (in USD) are allocated once the sale succeeds
/// (white paper: "Token and proceeds allocation").
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Encode,
    Decode,
    DecodeWithMemTracking,
    MaxEncodedLen,
    TypeInfo,
    Debug,
    Default,
)]
pub struct ProceedsAllocation {
    /// 67%: development and launch of the system.
    pub development: UsdMicros,
    /// 3%: bounty program.
    pub bounty: UsdMicros,
    /// 5%: international network of representative offices.
    pub representative_offices: UsdMicros,
    /// 15%: initial infrastructure.
    pub infrastructure: UsdMicros,
    /// 10%: reserve. Receives the rounding remainder so the parts sum exactly
    /// to the amount raised.
    pub reserve: UsdMicros,
}

impl ProceedsAllocation {
    /// Splits `raised` 67/3/5/15/10; each share rounds down and the remainder
    /// (at most 4 micro-dollars) goes to the reserve.
    pub fn split(raised: UsdMicros) -> Self {
        let share = |percent: u64| -> UsdMicros {
            // raised <= u64::MAX, percent <= 100: the product fits in u128.
            ((raised as u128 * percent as u128) / 100) as UsdMicros
        };
        let development = share(67);
        let bounty = share(3);
        let representative_offices = share(5);
        let infrastructure = share(15);
        let reserve = raised
            .saturating_sub(development)
            .saturating_sub(bounty)
            .saturating_sub(representative_offices)
            .saturating_sub(infrastructure);
        Self {
            development,
            bounty,
            representative_offices,
            infrastructure,
            reserve,
        }
    }

    /// The sum of all shares.
    pub fn total(&self) -> u128 {
        self.development as u128
            + self.bounty as u128
            + self.representative_offices as u128
            + self.infrastructure as u128
            + self.reserve as u128
    }
}

/// The result of `finalize`.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo, Debug)]
pub enum SaleOutcome<BlockNumber> {
    /// Soft cap met: tokens claimable, proceeds allocated.
    Succeeded {
        at: BlockNumber,
        raised: UsdMicros,
        proceeds: ProceedsAllocation,
    },
    /// Soft cap missed: every contribution is refundable, nothing is minted.
    Failed { at: BlockNumber, raised: UsdMicros },
}

/// One attested contribution, keyed by `(currency, external_tx_id)`.
#[derive(Clone, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo, Debug)]
pub struct Contribution<AccountId, Balance, BlockNumber> {
    /// Who receives the tokens.
    pub buyer: AccountId,
    /// Amount paid, in the currency's smallest unit (wei, satoshi, ...).
    pub amount_in_currency: u128,
    /// USD value of the payment as attested.
    pub usd_value: UsdMicros,
    /// Part of `usd_value` counted toward the caps and paid in tokens.
    pub counted_usd: UsdMicros,
    /// Part of `usd_value` above the hard cap: refundable, earns no tokens.
    pub excess_usd: UsdMicros,
    /// Bonus of the day it was attested on, in percent.
    pub bonus_percent: u8,
    /// Tokens it earned: floor(counted_usd / price × (100 + bonus) / 100).
    pub tokens: Balance,
    /// Block it was attested in.
    pub attested_at: BlockNumber,
    /// The refund transaction, once the authority has recorded one.
    pub refund: Option<ExternalTxId>,
}

/// What a buyer has in the sale.
#[derive(Clone, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo, Debug, Default)]
pub struct BuyerInfo<Balance> {
    /// USD counted toward the caps over all of the buyer's contributions.
    pub counted_usd: UsdMicros,
    /// Tokens earned (the sum of each contribution's rounded-down tokens).
    pub allocation: Balance,
    /// Whether the allocation has been claimed.
    pub claimed: bool,
    /// Number of contributions attested.
    pub contributions: u32,
    /// Number of those with a refund recorded.
    pub refunded: u32,
    /// The pallet keeps the account alive (a `sufficients` reference) so that a
    /// buyer holding no MASP can still sign `claim`; released on claim, or when
    /// a failed sale has refunded everything.
    pub keeps_account_alive: bool,
}

/// Price of one MASP: $0.35.
pub const PRICE_MICRO_USD: UsdMicros = 350_000;
/// Minimum contribution: $35.
pub const MIN_CONTRIBUTION_MICRO_USD: UsdMicros = 35_000_000;
/// Soft cap: $15,000,000 raised.
pub const SOFT_CAP_MICRO_USD: UsdMicros = 15_000_000 * 1_000_000;
/// Hard cap: $50,000,000 raised.
pub const HARD_CAP_MICRO_USD: UsdMicros = 50_000_000 * 1_000_000;

// The white paper's figures are consistent: checked at compile time.
const _: () = {
    assert!(MIN_CONTRIBUTION_MICRO_USD <= SOFT_CAP_MICRO_USD);
    assert!(SOFT_CAP_MICRO_USD <= HARD_CAP_MICRO_USD);
};

/// Bonus, in percent, for a contribution attested on sale day `day` (1-based):
/// +25% on day 1, +15% on days 2-11, +10% on days 12-25, none from day 26.
pub const fn bonus_percent(day: u32) -> u8 {
    match day {
        0 => 0,
        1 => 25,
        2..=11 => 15,
        12..=25 => 10,
        _ => 0,
    }
}

/// Tokens (in the token's smallest unit, `unit` per MASP) bought with
/// `usd` micro-dollars at [`PRICE_MICRO_USD`] plus `bonus` percent:
/// `floor(usd × (100 + bonus) × unit / (price × 100))`. One division, so the
/// result is the exact rounded-down value, never more than was paid for.
/// `None` on overflow.
pub fn tokens_for(usd: UsdMicros, bonus: u8, unit: u128) -> Option<u128> {
    (usd as u128)
        .checked_mul(100 + bonus as u128)?
        .checked_mul(unit)?
        .checked_div(PRICE_MICRO_USD as u128 * 100)
}

// --- Views returned by the runtime API -------------------------------------------

/// Where the sale stands now.
#[derive(Clone, PartialEq, Eq, Encode, Decode, TypeInfo, Debug)]
pub struct SaleStatus<BlockNumber, Balance> {
    /// The phase at the current block.
    pub phase: SalePhase,
    /// First block of the sale, if scheduled.
    pub start: Option<BlockNumber>,
    /// First block after the sale, if scheduled.
    pub end: Option<BlockNumber>,
    /// Blocks per sale day, if scheduled.
    pub day_length: Option<BlockNumber>,
    /// The current 1-based sale day (0 outside the sale).
    pub current_day: u32,
    /// The bonus a contribution attested now gets, in percent.
    pub current_bonus_percent: u8,
    /// USD raised (micro-dollars), counted toward the caps.
    pub raised_usd: UsdMicros,
    /// USD above the hard cap, refundable.
    pub excess_usd: UsdMicros,
    /// Soft cap (micro-dollars).
    pub soft_cap_usd: UsdMicros,
    /// Hard cap (micro-dollars).
    pub hard_cap_usd: UsdMicros,
    /// Tokens allocated to buyers.
    pub total_allocated: Balance,
    /// Tokens claimed (minted).
    pub total_claimed: Balance,
}

/// One contribution of a buyer.
#[derive(Clone, PartialEq, Eq, Encode, Decode, TypeInfo, Debug)]
pub struct ContributionView<Balance> {
    /// The currency paid.
    pub currency: Currency,
    /// The payment's transaction id.
    pub external_tx_id: ExternalTxId,
    /// USD value attested.
    pub usd_value: UsdMicros,
    /// USD counted toward the caps.
    pub counted_usd: UsdMicros,
    /// Bonus, percent.
    pub bonus_percent: u8,
    /// Tokens earned.
    pub tokens: Balance,
    /// USD owed back now (excess over the hard cap, or all after a failed sale).
    pub refundable_usd: UsdMicros,
    /// The refund transaction, once recorded.
    pub refund_tx_id: Option<ExternalTxId>,
}

/// What a buyer has in the sale.
#[derive(Clone, PartialEq, Eq, Encode, Decode, TypeInfo, Debug)]
pub struct BuyerStatus<Balance> {
    /// USD counted toward the caps.
    pub counted_usd: UsdMicros,
    /// Tokens earned.
    pub allocation: Balance,
    /// Whether they were claimed.
    pub claimed: bool,
    /// Whether `claim` would succeed now.
    pub claimable: bool,
    /// Up to `max_contributions` of the buyer's contributions.
    pub contributions: Vec<ContributionView<Balance>>,
}

/// One claim pending for a payment, with its voters.
#[derive(Clone, PartialEq, Eq, Encode, Decode, TypeInfo, Debug)]
pub struct PendingClaimView<AccountId> {
    /// Who would receive the tokens.
    pub buyer: AccountId,
    /// Amount paid, smallest unit of the currency.
    pub amount_in_currency: u128,
    /// USD value, micro-dollars.
    pub usd_value: UsdMicros,
    /// Every account that voted for this claim.
    pub voters: Vec<AccountId>,
    /// How many of `voters` are attesters now (only those count).
    pub counting_votes: u32,
}

/// Where the committee's attestation of one payment stands.
#[derive(Clone, PartialEq, Eq, Encode, Decode, TypeInfo, Debug)]
pub struct AttestationStatus<AccountId> {
    /// The payment's currency.
    pub currency: Currency,
    /// The payment's transaction id, normalised.
    pub external_tx_id: ExternalTxId,
    /// Agreeing attesters needed for the payment to count (M).
    pub threshold: u32,
    /// Whether the payment has been counted already.
    pub counted: bool,
    /// The distinct claims voted for, in order of their first vote.
    pub claims: Vec<PendingClaimView<AccountId>>,
}
