//! One secret phrase gives everything.
//!
//! - The **account** is the sr25519 key of a BIP-39 mnemonic, derived exactly
//!   as polkadot.js derives it (mini-secret from the entropy, empty
//!   password): the same phrase opens the same account in polkadot.js apps.
//! - The **master key** (for file keys and manifests) is Argon2id of the
//!   phrase, salted with `"masp/master/v1"` and the account's public key,
//!   with the parameters in [`MASTER_KDF`] (recorded in every key file and
//!   manifest): a new machine with the phrase derives the same key.
//! - On disk, the phrase is sealed with a key Argon2id derives from the
//!   user's **password** (random salt, parameters recorded in the file).
//!   The file is written atomically and readable by its owner only.

use crate::{crypto, fsutil};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::path::Path;
use subxt_signer::bip39::Mnemonic;
use subxt_signer::sr25519::Keypair;
use zeroize::Zeroizing;

/// Key-file and key-derivation errors.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not a valid BIP-39 phrase.
    #[error("not a valid BIP-39 mnemonic: {0}")]
    BadMnemonic(String),
    /// The password does not open the key file.
    #[error("wrong password for {0} (or the key file was altered)")]
    WrongPassword(String),
    /// No key file yet.
    #[error("no key at {0}: run `masp keys new` (or `masp keys import`)")]
    NoKey(String),
    /// A key file already exists.
    #[error("a key already exists at {0}; move it away first (it is the only copy of your files' keys unless you kept the phrase)")]
    Exists(String),
    /// The key file is not ours or is damaged.
    #[error("{0} is not a MASP key file: {1}")]
    BadFile(String, String),
    /// Argon2 refused its parameters.
    #[error("key derivation failed: {0}")]
    Kdf(String),
    /// Disk.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// Argon2id parameters, as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory, KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

/// The master key's derivation (fixed by the format version:
/// [`masp_cipher::keys`]).
pub const MASTER_KDF: KdfParams = KdfParams {
    m_kib: masp_cipher::keys::MASTER_M_KIB,
    t: masp_cipher::keys::MASTER_T,
    p: masp_cipher::keys::MASTER_P,
};

/// The key file's password derivation for new files.
pub const PASSWORD_KDF: KdfParams = KdfParams {
    m_kib: 64 * 1024,
    t: 3,
    p: 1,
};

/// Argon2id of `secret` with `salt` under `params`.
pub fn argon2id(secret: &[u8], salt: &[u8], params: KdfParams) -> Result<crypto::Key, KeyError> {
    masp_cipher::keys::argon2id(secret, salt, params.m_kib, params.t, params.p)
        .map_err(|e| KeyError::Kdf(e.0))
}

/// Everything one phrase gives.
pub struct Identity {
    phrase: Zeroizing<String>,
    /// The chain account.
    pub keypair: Keypair,
    /// The master key of files and manifests.
    pub master: Zeroizing<crypto::Key>,
}

impl Identity {
    /// A new random 24-word phrase.
    pub fn generate() -> Result<Self, KeyError> {
        let mut entropy = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut entropy[..]);
        let m = Mnemonic::from_entropy(&entropy[..])
            .map_err(|e| KeyError::BadMnemonic(e.to_string()))?;
        Self::from_phrase(&m.to_string())
    }

    /// The identity of an existing phrase. A derivation path may follow
    /// it, as polkadot.js writes it (`<phrase>//hard/soft`): the dev
    /// accounts are the dev phrase with `//Alice`, `//Bob`, ...
    pub fn from_phrase(phrase: &str) -> Result<Self, KeyError> {
        let normalized = masp_cipher::keys::normalize_phrase(phrase);
        let (words, path) = match normalized.find('/') {
            Some(i) => normalized.split_at(i),
            None => (normalized.as_str(), ""),
        };
        let m =
            Mnemonic::parse_normalized(words).map_err(|e| KeyError::BadMnemonic(e.to_string()))?;
        let keypair = if path.is_empty() {
            Keypair::from_phrase(&m, None)
        } else {
            let uri: subxt_signer::SecretUri = normalized
                .parse()
                .map_err(|e: subxt_signer::SecretUriError| KeyError::BadMnemonic(e.to_string()))?;
            Keypair::from_uri(&uri)
        }
        .map_err(|e| KeyError::BadMnemonic(e.to_string()))?;
        let master = Zeroizing::new(
            masp_cipher::keys::master_key(&normalized, &keypair.public_key().0)
                .map_err(|e| KeyError::Kdf(e.0))?,
        );
        Ok(Self {
            phrase: Zeroizing::new(normalized),
            keypair,
            master,
        })
    }

    /// The phrase (shown once by `masp keys new`).
    pub fn phrase(&self) -> &str {
        &self.phrase
    }

    /// The account's SS58 address (prefix 42, as polkadot.js shows it).
    pub fn address(&self) -> String {
        self.keypair.public_key().to_account_id().to_string()
    }
}

/// The key file.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyFile {
    /// Format version (1).
    pub version: u32,
    /// The account's address (readable without the password).
    pub address: String,
    /// The password derivation.
    pub kdf: KdfParams,
    /// Its salt, hex.
    pub salt: String,
    /// The sealed phrase, hex.
    pub sealed: String,
}

const KEY_CONTEXT: &[u8] = b"masp/keyfile/v1";

impl KeyFile {
    /// Seals `id`'s phrase under `password`.
    pub fn seal(id: &Identity, password: &str) -> Result<Self, KeyError> {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let key = Zeroizing::new(argon2id(password.as_bytes(), &salt, PASSWORD_KDF)?);
        Ok(Self {
            version: 1,
            address: id.address(),
            kdf: PASSWORD_KDF,
            salt: hex::encode(salt),
            sealed: hex::encode(crypto::seal_object(
                &key,
                KEY_CONTEXT,
                id.phrase().as_bytes(),
            )),
        })
    }

    /// Opens the phrase with `password`.
    pub fn open(&self, path: &Path, password: &str) -> Result<Identity, KeyError> {
        let bad = |why: &str| KeyError::BadFile(path.display().to_string(), why.into());
        if self.version != 1 {
            return Err(bad("unknown version"));
        }
        let salt = hex::decode(&self.salt).map_err(|_| bad("salt is not hex"))?;
        let sealed = hex::decode(&self.sealed).map_err(|_| bad("sealed phrase is not hex"))?;
        let key = Zeroizing::new(argon2id(password.as_bytes(), &salt, self.kdf)?);
        let phrase = crypto::open_object(&key, KEY_CONTEXT, &sealed)
            .ok_or_else(|| KeyError::WrongPassword(path.display().to_string()))?;
        let phrase =
            Zeroizing::new(String::from_utf8(phrase).map_err(|_| bad("phrase is not UTF-8"))?);
        let id = Identity::from_phrase(&phrase)?;
        if id.address() != self.address {
            return Err(bad("the sealed phrase is not the recorded account's"));
        }
        Ok(id)
    }

    /// Reads a key file.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let bytes = std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => KeyError::NoKey(path.display().to_string()),
            _ => KeyError::Io(path.display().to_string(), e),
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| KeyError::BadFile(path.display().to_string(), e.to_string()))
    }

    /// Writes a new key file (never over an existing one), atomically and
    /// readable by its owner only.
    pub fn create(&self, path: &Path) -> Result<(), KeyError> {
        if path.exists() {
            return Err(KeyError::Exists(path.display().to_string()));
        }
        let json = serde_json::to_vec_pretty(self).expect("serializable");
        fsutil::write_atomic(path, &json, 0o600)
            .map_err(|e| KeyError::Io(path.display().to_string(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_derivation_path_gives_the_polkadot_js_account() {
        // The dev phrase with //Alice is Alice, as polkadot.js derives it.
        let dev = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";
        let alice = Identity::from_phrase(&format!("{dev}//Alice")).unwrap();
        assert_eq!(
            alice.address(),
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
        );
        let plain = Identity::from_phrase(dev).unwrap();
        assert_ne!(plain.address(), alice.address());
        assert_ne!(
            *plain.master, *alice.master,
            "each account has its own master key"
        );
        assert!(Identity::from_phrase("not a phrase//Alice").is_err());
    }

    /// polkadot.js: `keyring.addFromUri(PHRASE).address` (sr25519, ss58 42),
    /// the well-known development phrase and Alice's root account... of the
    /// phrase itself (no `//Alice` derivation).
    const DEV_PHRASE: &str =
        "bottom drive obey lake curtain smoke basket hold race lonely fit walk";
    const DEV_ADDRESS: &str = "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV";

    #[test]
    fn the_account_is_the_one_polkadot_js_derives_from_the_phrase() {
        let id = Identity::from_phrase(DEV_PHRASE).unwrap();
        assert_eq!(id.address(), DEV_ADDRESS);
        // Extra spaces and line breaks do not change it.
        let messy = DEV_PHRASE.replace(' ', "  \n");
        assert_eq!(
            Identity::from_phrase(&messy).unwrap().address(),
            DEV_ADDRESS
        );
    }

    #[test]
    fn the_same_phrase_gives_the_same_master_key_another_phrase_another() {
        let a = Identity::from_phrase(DEV_PHRASE).unwrap();
        let b = Identity::from_phrase(DEV_PHRASE).unwrap();
        assert_eq!(*a.master, *b.master);
        let c = Identity::generate().unwrap();
        assert_ne!(*a.master, *c.master);
        assert_eq!(c.phrase().split(' ').count(), 24);
    }

    #[test]
    fn a_bad_phrase_is_refused() {
        assert!(matches!(
            Identity::from_phrase("bottom drive obey lake"),
            Err(KeyError::BadMnemonic(_))
        ));
    }

    #[test]
    fn a_key_file_opens_with_its_password_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        let id = Identity::from_phrase(DEV_PHRASE).unwrap();
        KeyFile::seal(&id, "correct horse")
            .unwrap()
            .create(&path)
            .unwrap();
        assert!(matches!(
            KeyFile::seal(&id, "x").unwrap().create(&path),
            Err(KeyError::Exists(_))
        ));
        let file = KeyFile::load(&path).unwrap();
        assert_eq!(file.address, DEV_ADDRESS);
        assert!(
            !std::fs::read_to_string(&path).unwrap().contains("bottom"),
            "phrase sealed"
        );
        assert!(matches!(
            file.open(&path, "wrong"),
            Err(KeyError::WrongPassword(_))
        ));
        assert_eq!(
            *file.open(&path, "correct horse").unwrap().master,
            *id.master
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
