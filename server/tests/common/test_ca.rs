//! A throw-away certificate authority for HTTPS tests: a CA, a server
//! certificate for `127.0.0.1` and `localhost` signed by it, both written as
//! PEM files, and a second, unrelated CA that a stranger's client trusts.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use tempfile::TempDir;

#[derive(Debug)]
pub struct TestCa {
    directory: TempDir,
    ca: CertificateDer<'static>,
    other_ca: CertificateDer<'static>,
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
        // The chain: the server's certificate, then the CA's.
        let chain = format!("{}{}", server.pem(), ca.pem());
        std::fs::write(directory.path().join("server.pem"), chain).expect("write the chain");
        std::fs::write(
            directory.path().join("server.key"),
            server_key.serialize_pem(),
        )
        .expect("write the key");
        TestCa {
            directory,
            ca: ca.der().clone(),
            other_ca: other_ca.der().clone(),
        }
    }

    /// The server's certificate chain (PEM).
    pub fn cert_path(&self) -> PathBuf {
        self.directory.path().join("server.pem")
    }

    /// The server's private key (PKCS#8 PEM).
    pub fn key_path(&self) -> PathBuf {
        self.directory.path().join("server.key")
    }

    /// A client that trusts this CA only.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        client_trusting(&self.ca)
    }

    /// A client that trusts only the other, unrelated CA.
    pub fn stranger_config(&self) -> Arc<ClientConfig> {
        client_trusting(&self.other_ca)
    }
}

fn authority(name: &str) -> (rcgen::Certificate, CertificateParams, KeyPair) {
    let key = KeyPair::generate().expect("a CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let certificate = params.self_signed(&key).expect("a CA certificate");
    (certificate, params, key)
}

fn client_trusting(ca: &CertificateDer<'static>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).expect("a root");
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}
