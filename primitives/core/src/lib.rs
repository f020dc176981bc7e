//! # MASP primitives
//!
//! The types and constants that the runtime, the node, the host daemon and the
//! client must agree on byte for byte. `no_std`.
//!
//! - [`token`]: the MASP token (symbol, decimals, units, existential deposit).
//! - [`time`]: block time and the durations derived from it.
//! - [`market`]: storage market ids, units and pricing arithmetic.
//! - [`traits`]: how the MASP pallets talk to each other.
//! - [`manifest`]: a stored file's manifest (sealed by the client).
//! - [`ticket`]: signed upload/download tickets (temporary links to hosts).
//! - [`seal`]: file keys sealed to a Receiver's X25519 key.
//! - [`egress`]: signed byte receipts paying hosts (egress) and proxies (relay).
//! - [`endpoint`]: the validation of published endpoints (hosts, proxies).
//! - Account, balance and block types shared by every crate.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod egress;
pub mod endpoint;
pub mod market;
pub mod relay;
pub mod seal;
pub mod traits;

/// The client's file format (`masp-format`): file and listing manifests.
pub use masp_format::{listing, manifest, ticket};

use sp_runtime::{
    traits::{IdentifyAccount, Verify},
    MultiSignature,
};

/// Signature type of a MASP transaction (sr25519, ed25519 or ecdsa).
pub type Signature = MultiSignature;

/// An account on the MASP chain: a 32-byte public key (as polkadot.js derives it).
pub type AccountId = <<Signature as Verify>::Signer as IdentifyAccount>::AccountId;

/// An amount of MASP in its smallest unit (10^-12 MASP).
pub type Balance = u128;

/// A block number. The parachain node (omni-node) expects `u32`.
pub type BlockNumber = u32;

/// Transaction index of an account.
pub type Nonce = u32;

/// Block and extrinsic hash.
pub type Hash = sp_core::H256;

/// The MASP token.
pub mod token {
    use super::Balance;

    /// Ticker shown by wallets and polkadot.js apps (`tokenSymbol`).
    pub const SYMBOL: &str = "MASP";
    /// Number of decimals (`tokenDecimals`).
    pub const DECIMALS: u8 = 12;
    /// SS58 address prefix of the MASP chain. 42 is the generic Substrate prefix,
    /// under which polkadot.js apps and subkey show addresses without configuration.
    pub const SS58_PREFIX: u16 = 42;

    /// One MASP.
    pub const UNIT: Balance = 10u128.pow(DECIMALS as u32);
    /// 10^-3 MASP.
    pub const MILLI_UNIT: Balance = UNIT / 1_000;
    /// 10^-6 MASP.
    pub const MICRO_UNIT: Balance = UNIT / 1_000_000;

    /// The smallest balance an account may hold; below it the account is reaped.
    /// 0.001 MASP: large enough that dust accounts cost an attacker real money,
    /// small enough never to matter to a Sender or a Host.
    pub const EXISTENTIAL_DEPOSIT: Balance = MILLI_UNIT;

    /// Parses an amount written in MASP (`0.001`, `2`, `1.5 MASP`) into the
    /// smallest unit; `None` if it is not one (more than [`DECIMALS`]
    /// decimals, a sign, other characters) or does not fit.
    pub fn parse(s: &str) -> Option<Balance> {
        let s = s.trim().trim_end_matches(SYMBOL).trim();
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |t: &str| t.bytes().all(|c| c.is_ascii_digit());
        if frac.len() > DECIMALS as usize
            || (whole.is_empty() && frac.is_empty())
            || !digits(whole)
            || !digits(frac)
        {
            return None;
        }
        let whole: Balance = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        let mut f: Balance = if frac.is_empty() {
            0
        } else {
            frac.parse().ok()?
        };
        for _ in frac.len()..DECIMALS as usize {
            f = f.checked_mul(10)?;
        }
        whole.checked_mul(UNIT)?.checked_add(f)
    }
}

/// Block time and durations in blocks.
pub mod time {
    use super::BlockNumber;

    /// Target block time on a relay chain (asynchronous backing): 6 s.
    pub const MILLI_SECS_PER_BLOCK: u64 = 6_000;
    /// Aura slot duration: one block per slot.
    pub const SLOT_DURATION: u64 = MILLI_SECS_PER_BLOCK;

    /// Blocks per minute.
    pub const MINUTES: BlockNumber = 60_000 / (MILLI_SECS_PER_BLOCK as BlockNumber);
    /// Blocks per hour.
    pub const HOURS: BlockNumber = MINUTES * 60;
    /// Blocks per day (14,400 at 6 s).
    pub const DAYS: BlockNumber = HOURS * 24;
}

#[cfg(test)]
mod tests {
    use super::{time::*, token::*};

    #[test]
    fn amounts_in_masp_parse_to_planck() {
        assert_eq!(parse("1"), Some(UNIT));
        assert_eq!(parse("0.001"), Some(MILLI_UNIT));
        assert_eq!(parse(".5 MASP"), Some(UNIT / 2));
        assert_eq!(parse("0.000000000001"), Some(1));
        for bad in ["", ".", "-1", "1e3", "0.0000000000001", "1,5", "+1"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(parse(&u128::MAX.to_string()), None);
    }

    #[test]
    fn one_masp_has_twelve_decimals() {
        assert_eq!(UNIT, 1_000_000_000_000);
        assert_eq!(MILLI_UNIT * 1_000, UNIT);
        assert_eq!(MICRO_UNIT * 1_000_000, UNIT);
    }

    #[test]
    fn a_day_is_14400_blocks_of_6_seconds() {
        assert_eq!(MINUTES, 10);
        assert_eq!(DAYS, 14_400);
    }
}
