//! The storage market's units and pricing arithmetic.
//!
//! One implementation shared by the runtime (which charges), the client
//! (which quotes) and the host daemon (which checks what it is paid), so a
//! quote shown to a Sender is exactly what the chain holds.
//!
//! Prices are quoted per GiB per epoch, but a Sender pays for the bytes it
//! stores: the cost of one epoch is `price * size / GiB`, rounded **up** to
//! the smallest unit (a host is never paid less than the quoted rate; a
//! Sender overpays by at most one unit per epoch). Every function returns
//! `None` instead of overflowing.

use crate::Balance;
use sp_runtime::{helpers_128bit::multiply_by_rational_with_rounding, Rounding};

/// Bytes in a GiB: the unit of price and deposit quotes.
pub const GIB: u64 = 1 << 30;

pub use masp_format::{ContractId, RequestId};

/// Identifies an offer of a Host in the order book.
pub type OfferId = u64;

/// A global epoch number: epoch `e` covers blocks `[e * L, (e + 1) * L)` for
/// the runtime's epoch length `L`.
pub type EpochIndex = u32;

/// A host's rating, in points from 0 to [`RATING_MAX`].
pub type Rating = u32;

/// The best possible rating (a new market with no rating pallet rates every
/// host at this value, so every host passes any floor).
pub const RATING_MAX: Rating = 1_000_000;

/// `rate_per_gib * size / GiB`, rounded up: the cost of storing `size`
/// bytes for one epoch at `rate_per_gib` per GiB per epoch, or the deposit
/// a host backs `size` bytes with at `rate_per_gib` per GiB.
pub fn per_gib(rate_per_gib: Balance, size: u64) -> Option<Balance> {
    multiply_by_rational_with_rounding(rate_per_gib, size as u128, GIB as u128, Rounding::Up)
}

/// What one epoch of a contract of `size` bytes costs at `price_per_gib`.
pub fn epoch_cost(price_per_gib: Balance, size: u64) -> Option<Balance> {
    per_gib(price_per_gib, size)
}

/// What a whole term of `epochs` costs: [`epoch_cost`] times `epochs`
/// (each epoch is paid separately, so the total is the sum of the parts).
pub fn term_cost(price_per_gib: Balance, size: u64, epochs: u32) -> Option<Balance> {
    epoch_cost(price_per_gib, size)?.checked_mul(epochs as Balance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_gib_for_one_epoch_costs_the_quoted_price() {
        assert_eq!(epoch_cost(1_000, GIB), Some(1_000));
        assert_eq!(term_cost(1_000, GIB, 24), Some(24_000));
    }

    #[test]
    fn a_sender_pays_for_bytes_not_whole_gib() {
        // Half a GiB costs half the price.
        assert_eq!(epoch_cost(1_000, GIB / 2), Some(500));
        // One byte costs one unit (rounded up), never zero.
        assert_eq!(epoch_cost(1_000, 1), Some(1));
        assert_eq!(epoch_cost(0, GIB), Some(0));
    }

    #[test]
    fn overflow_is_none_not_a_wrap() {
        assert_eq!(term_cost(u128::MAX, u64::MAX, 2), None);
        assert_eq!(term_cost(u128::MAX / 2, GIB, 3), None);
    }
}
