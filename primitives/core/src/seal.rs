//! Handing a file key to a Receiver: the white paper's "in order to download
//! and decrypt the data, Receiver must obtain a public key from Sender".
//!
//! A Receiver names an X25519 public key (for a purchase, one derived from
//! its phrase for that purchase alone); the Sender seals the file key to it
//! with an ephemeral X25519 key, ECIES style, as `age` and HPKE's base mode
//! do:
//!
//! - `shared = X25519(ephemeral secret, recipient)`; a recipient of small
//!   order (whose shared secret would be known to everyone) is refused;
//! - `k = BLAKE2b-256("masp/sealed-key/v1" || shared || ephemeral public ||
//!   recipient)`;
//! - the 32-byte file key is sealed with ChaCha20-Poly1305 under `k`, a zero
//!   nonce (`k` is used once: the ephemeral key is fresh per seal) and the
//!   caller's context (listing and buyer) as associated data, so a sealed key
//!   cannot be replayed to another purchase.
//!
//! Everything here is `no_std` and deterministic given the ephemeral secret:
//! the runtime runs [`open`] to judge a disputed delivery (the buyer reveals
//! the purchase's secret key, which opens nothing else), and the client runs
//! [`seal`] and [`open`].
//!
//! A listing commits to its file key with [`key_commitment`], so the chain can
//! tell whether the key a Sender delivered is the one it listed.

use blake2::{digest::consts::U32, Blake2b, Digest};
use chacha20poly1305::{
    aead::{AeadInPlace, KeyInit},
    ChaCha20Poly1305, Key, Nonce, Tag,
};
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;
use x25519_dalek::{x25519, X25519_BASEPOINT_BYTES};

/// A 32-byte key: a file key, or an X25519 secret or public key.
pub type Key32 = [u8; 32];

/// A file key sealed to one recipient (80 bytes on chain).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Encode,
    Decode,
    DecodeWithMemTracking,
    MaxEncodedLen,
    TypeInfo,
)]
pub struct SealedKey {
    /// The sealer's ephemeral X25519 public key.
    pub ephemeral: Key32,
    /// The file key, encrypted.
    pub ciphertext: Key32,
    /// The Poly1305 tag over `ciphertext` and the context.
    pub tag: [u8; 16],
}

/// The X25519 public key of `secret` (clamped as X25519 requires).
pub fn public_key(secret: &Key32) -> Key32 {
    x25519(*secret, X25519_BASEPOINT_BYTES)
}

/// Whether `public` is a point of small order: any secret meets it in a
/// shared secret of all zeros, which everyone knows. Keys are never sealed
/// to such a point, and the chain refuses it as a purchase's key.
pub fn is_weak(public: &Key32) -> bool {
    // A clamped scalar is a multiple of the cofactor: it maps exactly the
    // small-order points (and no other) to zero.
    x25519([0x55; 32], *public) == [0; 32]
}

/// Whether `public` is the one canonical encoding of its point: the top bit
/// clear and the value below 2^255 - 19. X25519 reads other encodings as
/// some canonical key, so two byte strings would name one key; the chain
/// takes only canonical ones.
pub fn is_canonical(public: &Key32) -> bool {
    if public[31] & 0x80 != 0 {
        return false;
    }
    // Below p unless it is 0x7fff..ff with a low byte of 0xed or more.
    !(public[31] == 0x7f && public[1..31].iter().all(|b| *b == 0xff) && public[0] >= 0xed)
}

/// What a listing publishes about its file key: `BLAKE2b-256(
/// "masp/key-commitment/v1" || key)`.
pub fn key_commitment(key: &Key32) -> Key32 {
    let mut h = Blake2b::<U32>::new();
    h.update(b"masp/key-commitment/v1");
    h.update(key);
    h.finalize().into()
}

/// The associated data of the key sealed for `buyer`'s purchase of
/// `listing`: `"masp/listing-key/v1" || listing (u64, big-endian) || buyer`.
pub fn purchase_context(listing: u64, buyer: &[u8; 32]) -> [u8; 59] {
    let mut c = [0u8; 59];
    c[..19].copy_from_slice(b"masp/listing-key/v1");
    c[19..27].copy_from_slice(&listing.to_be_bytes());
    c[27..].copy_from_slice(buyer);
    c
}

fn sealing_key(shared: &Key32, ephemeral: &Key32, recipient: &Key32) -> Key {
    let mut h = Blake2b::<U32>::new();
    h.update(b"masp/sealed-key/v1");
    h.update(shared);
    h.update(ephemeral);
    h.update(recipient);
    h.finalize()
}

/// Seals `key` to `recipient` with the (fresh, random, used once)
/// `ephemeral_secret`, binding `context`. `None` if `recipient` is weak.
pub fn seal(
    key: &Key32,
    recipient: &Key32,
    ephemeral_secret: &Key32,
    context: &[u8],
) -> Option<SealedKey> {
    if is_weak(recipient) {
        return None;
    }
    let ephemeral = public_key(ephemeral_secret);
    let shared = x25519(*ephemeral_secret, *recipient);
    let k = sealing_key(&shared, &ephemeral, recipient);
    let mut ciphertext = *key;
    let tag = ChaCha20Poly1305::new(&k)
        .encrypt_in_place_detached(&Nonce::default(), context, &mut ciphertext)
        .ok()?;
    Some(SealedKey {
        ephemeral,
        ciphertext,
        tag: tag.into(),
    })
}

/// Opens `sealed` with the recipient's `secret` and the `context` it was
/// sealed with. `None` if the secret, the context or the sealed bytes are
/// wrong (or the ephemeral key is of small order).
pub fn open(sealed: &SealedKey, secret: &Key32, context: &[u8]) -> Option<Key32> {
    let shared = x25519(*secret, sealed.ephemeral);
    if shared == [0; 32] {
        return None;
    }
    let k = sealing_key(&shared, &sealed.ephemeral, &public_key(secret));
    let mut key = sealed.ciphertext;
    ChaCha20Poly1305::new(&k)
        .decrypt_in_place_detached(
            &Nonce::default(),
            context,
            &mut key,
            Tag::from_slice(&sealed.tag),
        )
        .ok()?;
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE_KEY: Key32 = [7; 32];
    const RECEIVER: Key32 = [1; 32];
    const EPHEMERAL: Key32 = [2; 32];

    fn ctx(listing: u64) -> [u8; 59] {
        purchase_context(listing, &[9; 32])
    }

    #[test]
    fn the_recipient_opens_what_was_sealed_to_it() {
        let sealed = seal(&FILE_KEY, &public_key(&RECEIVER), &EPHEMERAL, &ctx(1)).unwrap();
        assert_eq!(open(&sealed, &RECEIVER, &ctx(1)), Some(FILE_KEY));
        assert_ne!(sealed.ciphertext, FILE_KEY);
    }

    #[test]
    fn another_secret_or_purchase_opens_nothing() {
        let sealed = seal(&FILE_KEY, &public_key(&RECEIVER), &EPHEMERAL, &ctx(1)).unwrap();
        assert_eq!(open(&sealed, &[3; 32], &ctx(1)), None);
        assert_eq!(open(&sealed, &RECEIVER, &ctx(2)), None);
        assert_eq!(
            open(&sealed, &RECEIVER, &purchase_context(1, &[8; 32])),
            None
        );
        let mut tampered = sealed;
        tampered.ciphertext[0] ^= 1;
        assert_eq!(open(&tampered, &RECEIVER, &ctx(1)), None);
        let mut tampered = sealed;
        tampered.ephemeral[0] ^= 1;
        assert_eq!(open(&tampered, &RECEIVER, &ctx(1)), None);
    }

    #[test]
    fn keys_of_small_order_are_refused() {
        // The identity, a point of order 2 and one of order 8 (from the list
        // in Bernstein's "How do I validate Curve25519 public keys?").
        let mut order8 = [0u8; 32];
        order8.copy_from_slice(&hex_literal(
            b"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        ));
        let mut order2 = [0u8; 32];
        order2[0] = 1;
        for weak in [[0u8; 32], order2, order8] {
            assert!(is_weak(&weak));
            assert_eq!(seal(&FILE_KEY, &weak, &EPHEMERAL, &ctx(1)), None);
        }
        assert!(!is_weak(&public_key(&RECEIVER)));
    }

    #[test]
    fn only_canonical_encodings_are_keys() {
        let good = public_key(&RECEIVER);
        assert!(is_canonical(&good));
        // The same point with the top bit set: X25519 ignores that bit.
        let mut high = good;
        high[31] |= 0x80;
        assert!(!is_canonical(&high));
        assert_eq!(x25519(EPHEMERAL, high), x25519(EPHEMERAL, good));
        // p itself and p + 1 are 0 and 1 again; p - 1 is a key.
        let mut p = [0xff; 32];
        p[31] = 0x7f;
        p[0] = 0xed;
        assert!(!is_canonical(&p));
        p[0] = 0xee;
        assert!(!is_canonical(&p));
        p[0] = 0xec;
        assert!(is_canonical(&p));
    }

    #[test]
    fn the_commitment_names_one_key() {
        assert_eq!(key_commitment(&FILE_KEY), key_commitment(&FILE_KEY));
        assert_ne!(key_commitment(&FILE_KEY), key_commitment(&[8; 32]));
    }

    #[test]
    fn the_format_is_pinned_by_a_known_answer() {
        // Computed independently by tests/e2e/lib/seal.mjs (@noble/curves'
        // X25519, Node's ChaCha20-Poly1305, @polkadot's BLAKE2b): a change of
        // either side breaks the other's sealed keys.
        let sealed = seal(&FILE_KEY, &public_key(&RECEIVER), &EPHEMERAL, &ctx(1)).unwrap();
        assert_eq!(
            sealed.ephemeral,
            hex_literal(b"ce8d3ad1ccb633ec7b70c17814a5c76ecd029685050d344745ba05870e587d59")
        );
        assert_eq!(
            sealed.ciphertext,
            hex_literal(b"04589122a564a361499798d63f9aede4cae05c9ab0fcc2ad06ec303bd9dceab4")
        );
        let tag = hex_literal(b"b957d7f26d8054df8721b559fca9fc5500000000000000000000000000000000");
        assert_eq!(sealed.tag, tag[..16]);
    }

    #[test]
    fn public_keys_match_x25519_test_vectors() {
        // RFC 7748, section 6.1: Alice's key pair.
        let secret =
            hex_literal(b"77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let public =
            hex_literal(b"8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        assert_eq!(public_key(&secret), public);
    }

    fn hex_literal(hex: &[u8; 64]) -> Key32 {
        let mut out = [0u8; 32];
        for (i, pair) in hex.chunks(2).enumerate() {
            let digit = |c: u8| (c as char).to_digit(16).unwrap() as u8;
            out[i] = digit(pair[0]) << 4 | digit(pair[1]);
        }
        out
    }
}
