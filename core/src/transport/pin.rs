//! Enrolment by QR code with a county CA: the code names the CA only by
//! its certificate's SHA-256 fingerprint (a QR code cannot hold the PEM),
//! so the device learns the CA from the server and checks it against the
//! fingerprint.
//!
//! The server sends its chain in the TLS handshake. This verifier accepts
//! it only if one certificate of the chain has the fingerprint, and the
//! server's certificate is valid for the server's name under that
//! certificate alone (the usual checks: signatures, dates, the name;
//! Mozilla's roots play no part). It keeps that certificate: the device
//! then saves it as its CA, and every later sync trusts it exactly as if it
//! had been given as a PEM file at enrolment.
//!
//! A man in the middle cannot pass: he would need a chain under a
//! certificate with the same SHA-256 and the CA's key. A server that does
//! not send the CA's certificate (only its own and the intermediates)
//! cannot be pinned: `doorstep serve --public-ca` sends it; a reverse
//! proxy must be set up to (docs/security.md).

use std::sync::{Arc, Mutex, PoisonError};

use doorstep_protocol::CaFingerprint;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore,
    SignatureScheme,
};

use super::TransportError;

/// Accepts a server chain that holds the pinned certificate and validates
/// under it; remembers that certificate.
#[derive(Debug)]
pub(crate) struct PinnedCa {
    fingerprint: CaFingerprint,
    provider: Arc<CryptoProvider>,
    found: Mutex<Option<CertificateDer<'static>>>,
}

/// The pinned certificate is not in the server's chain.
#[derive(Debug, thiserror::Error)]
#[error(
    "the server did not present the certificate authority named by the enrolment QR code (no certificate in its chain has that fingerprint)"
)]
struct NotPresented;

impl PinnedCa {
    /// The client configuration that pins `fingerprint`, and the pin to ask
    /// afterwards what it found.
    pub(crate) fn client_config(
        fingerprint: CaFingerprint,
    ) -> Result<(ClientConfig, Arc<PinnedCa>), TransportError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let pin = Arc::new(PinnedCa {
            fingerprint,
            provider: Arc::clone(&provider),
            found: Mutex::new(None),
        });
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| TransportError::Tls(format!("TLS set-up failed: {error}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::clone(&pin) as Arc<dyn ServerCertVerifier>)
            .with_no_client_auth();
        Ok((config, pin))
    }

    /// The pinned certificate as PEM, once a handshake presented it.
    pub(crate) fn certificate_pem(&self) -> Option<String> {
        self.found
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|certificate| pem(certificate))
    }
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let pinned = std::iter::once(end_entity)
            .chain(intermediates)
            .find(|certificate| CaFingerprint::of_der(certificate) == self.fingerprint)
            .ok_or_else(|| {
                rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
                    NotPresented,
                ))))
            })?;
        let mut roots = RootCertStore::empty();
        roots.add(pinned.clone().into_owned())?;
        let verifier = WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::clone(&self.provider),
        )
        .build()
        .map_err(|error| rustls::Error::General(error.to_string()))?;
        let verified = verifier.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        *self.found.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(pinned.clone().into_owned());
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A certificate as PEM (base64 in lines of 64), as `--ca-file` takes it.
fn pem(certificate: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = Vec::with_capacity(certificate.len().div_ceil(3) * 4);
    for chunk in certificate.chunks(3) {
        let bytes = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let value = u32::from(bytes[0]) << 16 | u32::from(bytes[1]) << 8 | u32::from(bytes[2]);
        for index in 0..4 {
            encoded.push(if index <= chunk.len() {
                ALPHABET[(value >> (18 - 6 * index) & 63) as usize]
            } else {
                b'='
            });
        }
    }
    let mut text = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in encoded.chunks(64) {
        text.extend(line.iter().map(|byte| char::from(*byte)));
        text.push('\n');
    }
    text.push_str("-----END CERTIFICATE-----\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_reads_back_as_the_same_bytes() {
        for length in [1, 2, 3, 47, 48, 49, 700] {
            let bytes: Vec<u8> = (0..length).map(|index| (index * 7 % 256) as u8).collect();
            let text = pem(&bytes);
            let back = super::super::tls::parse_ca(&text).expect("parses");
            assert_eq!(back.len(), 1, "{length}");
            assert_eq!(back[0].as_ref(), bytes.as_slice(), "{length}");
            assert!(text.lines().all(|line| line.len() <= 64), "{text}");
        }
    }
}
