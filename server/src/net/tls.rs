//! HTTPS without a reverse proxy: the server's certificate chain and key,
//! read from PEM files, as a rustls config with the ring provider (no
//! aws-lc, no OpenSSL: the same provider as the devices).
//!
//! The errors name the file and say what is wrong with it, because the
//! person reading them is an operator at a county office with two files
//! from a certificate authority and no idea which one is which.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why the certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("could not read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not valid PEM: {detail}", .path.display())]
    Pem { path: PathBuf, detail: String },
    #[error("no certificate in {} (expected PEM blocks \"BEGIN CERTIFICATE\")", .path.display())]
    NoCertificate { path: PathBuf },
    #[error(
        "no private key in {} (expected a PEM \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\")",
        .path.display()
    )]
    NoKey { path: PathBuf },
    #[error(
        "the key does not match the certificate: the key in {} is not the one certified in {}",
        .key.display(),
        .cert.display()
    )]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("the certificate in {} or the key in {} cannot be used: {detail}", .cert.display(), .key.display())]
    Unusable {
        cert: PathBuf,
        key: PathBuf,
        detail: String,
    },
}

/// A server config from a PEM certificate chain (the server's certificate
/// first, then the intermediates) and a PEM private key (PKCS#8, PKCS#1 or
/// SEC1). HTTP/1.1 only, TLS 1.2 and 1.3.
pub fn server_config(
    cert_pem_path: &Path,
    key_pem_path: &Path,
) -> Result<Arc<ServerConfig>, TlsSetupError> {
    server_config_with_ca(cert_pem_path, key_pem_path, None)
}

/// [`server_config`], sending `ca` (the county CA's certificate) after the
/// chain unless the chain holds it already: a device enrolling by QR code
/// pins the CA by its fingerprint and must see it in the handshake.
pub fn server_config_with_ca(
    cert_pem_path: &Path,
    key_pem_path: &Path,
    ca: Option<&CertificateDer<'static>>,
) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let mut chain = CertificateDer::pem_file_iter(cert_pem_path)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|error| pem_error(cert_pem_path, error))?;
    if chain.is_empty() {
        return Err(TlsSetupError::NoCertificate {
            path: cert_pem_path.to_path_buf(),
        });
    }
    if let Some(ca) = ca
        && !chain.contains(ca)
    {
        chain.push(ca.clone());
    }
    let key = PrivateKeyDer::from_pem_file(key_pem_path).map_err(|error| match error {
        pem::Error::NoItemsFound => TlsSetupError::NoKey {
            path: key_pem_path.to_path_buf(),
        },
        other => pem_error(key_pem_path, other),
    })?;
    let unusable = |error: rustls::Error| match error {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            TlsSetupError::KeyMismatch {
                cert: cert_pem_path.to_path_buf(),
                key: key_pem_path.to_path_buf(),
            }
        }
        other => TlsSetupError::Unusable {
            cert: cert_pem_path.to_path_buf(),
            key: key_pem_path.to_path_buf(),
            detail: other.to_string(),
        },
    };
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(unusable)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(unusable)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn pem_error(path: &Path, error: pem::Error) -> TlsSetupError {
    let path = path.to_path_buf();
    match error {
        pem::Error::Io(source) => TlsSetupError::Read { path, source },
        pem::Error::NoItemsFound => TlsSetupError::NoCertificate { path },
        other => TlsSetupError::Pem {
            path,
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate for localhost, and its key as PKCS#8 PEM.
    fn certificate() -> (String, String, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().expect("a key");
        let certificate = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("a certificate");
        (certificate.pem(), key.serialize_pem(), key)
    }

    /// The SEC1 `ECPrivateKey` inside a P-256 PKCS#8 key, as
    /// "EC PRIVATE KEY" PEM (what `openssl ecparam -genkey` writes).
    fn sec1_pem(key: &rcgen::KeyPair) -> String {
        // A DER element at `at`: its tag, where its content starts, and its
        // length.
        fn element(der: &[u8], at: usize) -> (u8, usize, usize) {
            let tag = der[at];
            let first = der[at + 1] as usize;
            if first < 0x80 {
                return (tag, at + 2, first);
            }
            let octets = first & 0x7f;
            let length = der[at + 2..at + 2 + octets]
                .iter()
                .fold(0, |length, byte| length << 8 | *byte as usize);
            (tag, at + 2 + octets, length)
        }
        let der = key.serialize_der();
        // PrivateKeyInfo ::= SEQUENCE { INTEGER 0, AlgorithmIdentifier,
        // OCTET STRING { ECPrivateKey } }.
        let (tag, content, _) = element(&der, 0);
        assert_eq!(tag, 0x30, "a SEQUENCE");
        let (tag, start, length) = element(&der, content);
        assert_eq!(tag, 0x02, "the version");
        let (tag, start, length) = element(&der, start + length);
        assert_eq!(tag, 0x30, "the AlgorithmIdentifier");
        let (tag, start, length) = element(&der, start + length);
        assert_eq!(tag, 0x04, "the OCTET STRING");
        let encoded = base64(&der[start..start + length]);
        format!("-----BEGIN EC PRIVATE KEY-----\n{encoded}\n-----END EC PRIVATE KEY-----\n")
    }

    fn base64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let value = chunk.iter().enumerate().fold(0u32, |value, (index, byte)| {
                value | u32::from(*byte) << (16 - 8 * index)
            });
            for index in 0..4 {
                if index <= chunk.len() {
                    out.push(ALPHABET[(value >> (18 - 6 * index) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn a_certificate_and_its_key_make_a_config_and_wrong_files_say_which_file() {
        let directory = tempfile::tempdir().expect("a directory");
        let write = |name: &str, text: &str| {
            let path = directory.path().join(name);
            std::fs::write(&path, text).expect("write");
            path
        };
        let (cert, key, key_pair) = certificate();
        let (_, other_key, _) = certificate();
        let cert = write("cert.pem", &cert);
        let key = write("key.pem", &key);
        let sec1 = write("sec1.pem", &sec1_pem(&key_pair));
        let other_key = write("other-key.pem", &other_key);
        let empty = write("empty.pem", "");
        let garbage = write("garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n");
        let missing = directory.path().join("missing.pem");

        assert!(server_config(&cert, &key).is_ok(), "PKCS#8");
        assert!(server_config(&cert, &sec1).is_ok(), "SEC1");

        let cases = [
            ("no certificate", &empty, &key, "no certificate in", &empty),
            (
                "a key as the certificate",
                &key,
                &key,
                "no certificate in",
                &key,
            ),
            ("no key", &cert, &empty, "no private key in", &empty),
            (
                "a certificate as the key",
                &cert,
                &cert,
                "no private key in",
                &cert,
            ),
            (
                "another key",
                &cert,
                &other_key,
                "the key does not match the certificate",
                &other_key,
            ),
            ("a missing file", &missing, &key, "could not read", &missing),
            ("broken PEM", &garbage, &key, "is not valid PEM", &garbage),
        ];
        for (name, cert_path, key_path, says, names) in cases {
            let error = server_config(cert_path, key_path)
                .expect_err(name)
                .to_string();
            assert!(error.contains(says), "{name}: {error}");
            assert!(
                error.contains(&names.display().to_string()),
                "{name} names the file: {error}"
            );
        }
    }
}
