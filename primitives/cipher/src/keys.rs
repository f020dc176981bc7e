//! The master key: Argon2id of the account's secret phrase, salted with
//! `"masp/master/v1"` and the account's public key. Every file key and
//! manifest key derives from it, so the CLI and the browser, given the same
//! phrase, open the same files.

use argon2::{Algorithm, Argon2, Params, Version};

use crate::crypto::Key;

/// The master key's Argon2id memory, KiB (fixed by the format version).
pub const MASTER_M_KIB: u32 = 64 * 1024;
/// Its passes.
pub const MASTER_T: u32 = 3;
/// Its lanes.
pub const MASTER_P: u32 = 1;

/// Argon2 refused its parameters or input.
#[derive(Debug, thiserror::Error)]
#[error("key derivation failed: {0}")]
pub struct KdfError(pub String);

/// Argon2id (v1.3) of `secret` with `salt`: `m_kib` KiB, `t` passes, `p`
/// lanes, 32 bytes out.
pub fn argon2id(secret: &[u8], salt: &[u8], m_kib: u32, t: u32, p: u32) -> Result<Key, KdfError> {
    let params = Params::new(m_kib, t, p, Some(32)).map_err(|e| KdfError(e.to_string()))?;
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(secret, salt, &mut out)
        .map_err(|e| KdfError(e.to_string()))?;
    Ok(out)
}

/// A secret phrase as the master key is derived from it: its words joined
/// by single spaces, then its derivation path (`//Alice`) as written.
pub fn normalize_phrase(phrase: &str) -> String {
    let (words, path) = match phrase.find('/') {
        Some(i) => phrase.split_at(i),
        None => (phrase, ""),
    };
    let words = words.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("{words}{}", path.trim())
}

/// The master key of the account whose public key is `public` and whose
/// phrase, normalized ([`normalize_phrase`]), is `normalized`.
pub fn master_key(normalized: &str, public: &[u8; 32]) -> Result<Key, KdfError> {
    let mut salt = b"masp/master/v1".to_vec();
    salt.extend_from_slice(public);
    argon2id(
        normalized.as_bytes(),
        &salt,
        MASTER_M_KIB,
        MASTER_T,
        MASTER_P,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_normalize_as_the_cli_always_did() {
        assert_eq!(normalize_phrase("  a  b\tc "), "a b c");
        assert_eq!(normalize_phrase("a b c//Ferdie"), "a b c//Ferdie");
        assert_eq!(normalize_phrase("a  b c //Ferdie "), "a b c//Ferdie");
    }
}
