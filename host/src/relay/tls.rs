//! The proxy's TLS: what a client that reaches this proxy through another
//! one (`--hops 2`) speaks to it inside the first proxy's tunnel, so the
//! first proxy sees neither the target nor the authorization.
//!
//! The certificate is self-signed and kept in the data directory
//! (`tls-key.der`, `tls-cert.der`, made on first run); the proxy's account
//! key vouches for it ([`masp_primitives::relay::tls_binding_payload`],
//! published at `GET /v1/info`), and clients accept exactly the certificate
//! the signature names: no certificate authority is involved, and the
//! first proxy cannot stand in for the second.

use std::{io, path::Path, sync::Arc};

use masp_primitives::relay::{cert_hash, tls_binding_payload};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use subxt_signer::sr25519;

/// Why the TLS identity cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading or writing the key or certificate.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Making a certificate.
    #[error("cannot make the TLS certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// The key or certificate is not usable.
    #[error("the TLS key or certificate in the data directory is not usable ({0}); remove tls-key.der and tls-cert.der to make new ones")]
    Config(#[from] rustls::Error),
}

/// The proxy's TLS identity.
pub struct ProxyTls {
    /// Accepts TLS connections with the certificate.
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// BLAKE2b-256 of the certificate (DER).
    pub cert_hash: [u8; 32],
    /// The account's signature of [`tls_binding_payload`].
    pub signature: [u8; 64],
}

const KEY_FILE: &str = "tls-key.der";
const CERT_FILE: &str = "tls-cert.der";

fn read(path: &Path) -> Result<Option<Vec<u8>>, TlsError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TlsError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl ProxyTls {
    /// The identity kept in `dir` (made there, durably, if absent), vouched
    /// for by `key` on the chain whose genesis hash is `genesis`.
    pub fn load_or_create(
        dir: &Path,
        key: &sr25519::Keypair,
        genesis: &[u8; 32],
    ) -> Result<Self, TlsError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TlsError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let (key_path, cert_path) = (dir.join(KEY_FILE), dir.join(CERT_FILE));
        let (key_der, cert_der) = match (read(&key_path)?, read(&cert_path)?) {
            (Some(k), Some(c)) => (k, c),
            // None yet, or a crash between the two writes: a new pair (the
            // key first, so a certificate never names a lost key).
            _ => {
                let made = rcgen::generate_simple_self_signed(vec!["masp-proxy".to_string()])?;
                let (k, c) = (made.key_pair.serialize_der(), made.cert.der().to_vec());
                crate::store::write_private(&key_path, &k).map_err(io_err(&key_path))?;
                crate::store::write_atomic(&cert_path, &c).map_err(io_err(&cert_path))?;
                (k, c)
            }
        };
        let hash = cert_hash(&cert_der);
        let payload = tls_binding_payload(genesis, &key.public_key().0, &hash);
        let signature = key.sign(&payload).0;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert_der)],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der)),
            )?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            cert_hash: hash,
            signature,
        })
    }

    /// What `GET /v1/info` publishes of it.
    pub fn info(&self) -> serde_json::Value {
        serde_json::json!({
            "cert": format!("0x{}", hex::encode(self.cert_hash)),
            "signature": format!("0x{}", hex::encode(self.signature)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_kept_and_vouched_for() {
        let dir = tempfile::tempdir().unwrap();
        let key = sr25519::dev::eve();
        let genesis = [7u8; 32];
        let a = ProxyTls::load_or_create(dir.path(), &key, &genesis).unwrap();
        let b = ProxyTls::load_or_create(dir.path(), &key, &genesis).unwrap();
        // The private key is its owner's alone.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "tls-key.der is mode {mode:o}");
        assert_eq!(
            a.cert_hash, b.cert_hash,
            "a restart serves the same certificate"
        );
        let payload = tls_binding_payload(&genesis, &key.public_key().0, &a.cert_hash);
        assert!(sr25519::verify(
            &sr25519::Signature(a.signature),
            payload,
            &key.public_key()
        ));
        // A crash between the two writes: a new pair, not a mismatched one.
        std::fs::remove_file(dir.path().join(CERT_FILE)).unwrap();
        let c = ProxyTls::load_or_create(dir.path(), &key, &genesis).unwrap();
        assert_ne!(c.cert_hash, a.cert_hash);
    }
}
