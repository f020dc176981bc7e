//! A stored file's manifest: what a Sender's client needs to find, verify
//! and decrypt the file again, from the secret phrase alone.
//!
//! SCALE-encoded, then sealed by the client under its master key (hosts
//! store it as one more opaque object): nothing in it is visible to hosts
//! or the chain.

use alloc::vec::Vec;
use codec::{Decode, Encode};

use crate::market::ContractId;

/// The format version this crate writes.
pub const MANIFEST_VERSION: u8 = 2;

/// Argon2id parameters a key was derived with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct KdfParams {
    /// Memory, KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

/// One replica: a contract and the host storing it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Replica {
    /// The storage contract.
    pub contract: ContractId,
    /// The host's account (32-byte public key).
    pub host: [u8; 32],
    /// The last epoch of the contract's term: a replica whose contract is
    /// gone before it ended was lost (or cancelled), not completed.
    pub last_epoch: u32,
}

/// A stored file.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Manifest {
    /// [`MANIFEST_VERSION`].
    pub version: u8,
    /// Random per put: selects the file's key.
    pub file_id: [u8; 16],
    /// The file's name (UTF-8).
    pub name: Vec<u8>,
    /// Plaintext bytes.
    pub size: u64,
    /// Ciphertext bytes (what each contract stores).
    pub cipher_size: u64,
    /// Merkle root of the ciphertext (each contract's root).
    pub root: [u8; 32],
    /// Merkle root of each 1 MiB ciphertext chunk, in order: every chunk
    /// downloaded is checked against its root before it is decrypted.
    pub chunk_roots: Vec<[u8; 32]>,
    /// How the master key was derived from the phrase.
    pub master_kdf: KdfParams,
    /// Where the replicas are.
    pub replicas: Vec<Replica>,
    /// When it was stored (seconds since the Unix epoch).
    pub created: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_round_trips_and_a_truncated_one_does_not_decode() {
        let m = Manifest {
            version: MANIFEST_VERSION,
            file_id: [1; 16],
            name: b"photo.jpg".to_vec(),
            size: 5,
            cipher_size: 21,
            root: [2; 32],
            chunk_roots: alloc::vec![[2; 32]],
            master_kdf: KdfParams {
                m_kib: 65536,
                t: 3,
                p: 1,
            },
            replicas: alloc::vec![Replica {
                contract: 7,
                host: [3; 32],
                last_epoch: 30,
            }],
            created: 1_700_000_000,
        };
        let bytes = m.encode();
        assert_eq!(Manifest::decode(&mut &bytes[..]), Ok(m));
        assert!(Manifest::decode(&mut &bytes[..bytes.len() - 1]).is_err());
    }
}
