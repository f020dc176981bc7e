//! Amounts of MASP and sizes in bytes, as people write and read them.

use anyhow::{anyhow, bail, Result};
use masp_primitives::token::{DECIMALS, SYMBOL};

/// MASP amounts as people read them.
pub fn fmt_masp(amount: u128) -> String {
    let unit = 10u128.pow(DECIMALS as u32);
    let whole = amount / unit;
    let frac = amount % unit;
    if frac == 0 {
        return format!("{whole} {SYMBOL}");
    }
    let frac = format!("{frac:0width$}", width = DECIMALS as usize);
    format!("{whole}.{} {SYMBOL}", frac.trim_end_matches('0'))
}

/// Bytes as people read them.
pub fn fmt_bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

/// Parses `10`, `10B`, `4KiB`, `1.5GiB`, `2MB`.
pub fn parse_size(s: &str) -> Result<u64> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| anyhow!("{s:?} is not a size (e.g. 100MiB)"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0f64.powi(4),
        u => bail!("unknown size unit {u:?} (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"),
    };
    if n.is_nan() || n < 0.0 {
        bail!("{s:?} is not a size");
    }
    Ok((n * mult).round() as u64)
}

/// Parses an amount in MASP (`0.001`, `2`) into the smallest unit.
pub fn parse_masp(s: &str) -> Result<u128> {
    masp_primitives::token::parse(s).ok_or_else(|| {
        anyhow!(
            "{:?} is not an amount of MASP (e.g. 0.001, at most {DECIMALS} decimals, at most \
             {} MASP)",
            s.trim(),
            u128::MAX / masp_primitives::token::UNIT
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn sizes_and_amounts_parse_as_people_write_them() {
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("1.5 GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("2MB").unwrap(), 2_000_000);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert_eq!(parse_masp("1").unwrap(), 10u128.pow(12));
        assert_eq!(parse_masp("0.001").unwrap(), 10u128.pow(9));
        assert_eq!(parse_masp("2.5 MASP").unwrap(), 25 * 10u128.pow(11));
        assert!(parse_masp("1.0000000000001").is_err());
        assert!(parse_masp("-1").is_err());
        assert_eq!(fmt_masp(25 * 10u128.pow(11)), "2.5 MASP");
        assert_eq!(fmt_masp(3 * 10u128.pow(12)), "3 MASP");
    }
}
