//! A throw-away certificate authority for HTTPS tests: a CA, a server
//! certificate for `127.0.0.1` and `localhost` signed by it, written as PEM
//! files to a temporary directory, and a second, unrelated CA whose
//! clients must be refused.
//!
//! It needs only rcgen and tempfile, so that `doorstep-server`'s own tests
//! can include this file too (`server/tests/common/mod.rs`); a client's
//! trust store is built from [`TestCa::ca_der`] by whoever has rustls.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tempfile::TempDir;

#[derive(Debug)]
pub struct TestCa {
    directory: TempDir,
    ca_der: Vec<u8>,
    other_ca_der: Vec<u8>,
}

impl TestCa {
    pub fn new() -> TestCa {
        let directory = tempfile::tempdir().expect("a directory");
        let (ca, ca_params, ca_key) = authority("Doorstep test CA");
        let (other_ca, _, _) = authority("Somebody else's CA");
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let server_key = KeyPair::generate().expect("a server key");
        let server = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("server params")
            .signed_by(&server_key, &issuer)
            .expect("a server certificate");
        let write = |name: &str, text: String| {
            std::fs::write(directory.path().join(name), text).expect("write a PEM file");
        };
        // The chain as a CA hands it out: the server's certificate, then
        // the issuer's.
        write("server.pem", format!("{}{}", server.pem(), ca.pem()));
        write("server.key", server_key.serialize_pem());
        write("ca.pem", ca.pem());
        write("other-ca.pem", other_ca.pem());
        TestCa {
            directory,
            ca_der: ca.der().to_vec(),
            other_ca_der: other_ca.der().to_vec(),
        }
    }

    /// The server's certificate chain (PEM), for `--tls-cert`.
    pub fn cert_path(&self) -> PathBuf {
        self.directory.path().join("server.pem")
    }

    /// The server's private key (PKCS#8 PEM), for `--tls-key`.
    pub fn key_path(&self) -> PathBuf {
        self.directory.path().join("server.key")
    }

    /// The CA's certificate (PEM), what a device would pin.
    pub fn ca_path(&self) -> PathBuf {
        self.directory.path().join("ca.pem")
    }

    /// The unrelated CA's certificate (PEM).
    pub fn other_ca_path(&self) -> PathBuf {
        self.directory.path().join("other-ca.pem")
    }

    /// The CA's certificate (DER), for a client's trust store.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// The unrelated CA's certificate (DER).
    pub fn other_ca_der(&self) -> &[u8] {
        &self.other_ca_der
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

fn authority(name: &str) -> (rcgen::Certificate, CertificateParams, KeyPair) {
    let key = KeyPair::generate().expect("a CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let certificate = params.self_signed(&key).expect("a CA certificate");
    (certificate, params, key)
}
