//! TLS for the device: rustls with the ring provider, Mozilla's root
//! certificates (webpki-roots) and, when the county runs its own CA, that
//! CA beside them. A certificate the device does not trust is a permanent,
//! named failure ("certificate not trusted: …"), never "unreachable".

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{CertificateError, ClientConfig, RootCertStore};

use super::TransportError;

/// The client configuration for one server: Mozilla's roots plus `ca_pem`.
pub(super) fn client_config(ca_pem: Option<&str>) -> Result<ClientConfig, TransportError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = ca_pem {
        for certificate in parse_ca(pem)? {
            roots
                .add(certificate)
                .map_err(|error| TransportError::BadCertificate(error.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| TransportError::Tls(format!("TLS set-up failed: {error}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The certificates of a PEM file, at least one.
pub(super) fn parse_ca(pem: &str) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TransportError::BadCertificate(format!("not a PEM file: {error}")))?;
    if certificates.is_empty() {
        return Err(TransportError::BadCertificate(
            "no certificate in it (expected -----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(certificates)
}

/// The TLS failure behind a connection error, in words, if TLS is what
/// failed. rustls errors reach us wrapped in `std::io::Error`, whose
/// `source()` skips the payload, so payloads are looked into too.
pub(super) fn tls_failure(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(error);
    while let Some(node) = current {
        if let Some(tls) = find(node) {
            return Some(describe(tls));
        }
        current = node.source();
    }
    None
}

/// The rustls error in `node`, or in the payload of an `io::Error` (which
/// may wrap another `io::Error`: hyper's connector does).
fn find<'a>(node: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = node.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let payload = node.downcast_ref::<std::io::Error>()?.get_ref()?;
    find(payload)
}

fn describe(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(certificate) => {
            let why = match certificate {
                CertificateError::UnknownIssuer => {
                    "no CA this device trusts issued it (a county CA is given with --ca-file at enrolment)"
                        .to_string()
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "it has expired".to_string()
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    "it is not valid yet (or this phone's clock is wrong)".to_string()
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => {
                    "it is not valid for this server's name".to_string()
                }
                CertificateError::Other(other) => other.to_string(),
                other => format!("{other:?}"),
            };
            format!("certificate not trusted: {why}")
        }
        rustls::Error::InvalidMessage(_) => {
            format!("TLS failed: {error} (does the server speak HTTPS at this address?)")
        }
        other => format!("TLS failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        assert!(matches!(
            parse_ca("not a certificate"),
            Err(TransportError::BadCertificate(_))
        ));
        assert!(matches!(
            parse_ca("-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----\n"),
            Err(TransportError::BadCertificate(_))
        ));
    }

    #[test]
    fn certificate_failures_are_named_as_such() {
        // As hyper's connector hands it over: an io::Error in an io::Error.
        let wrapped = std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        ));
        let message = tls_failure(&wrapped).expect("a TLS failure");
        assert!(
            message.starts_with("certificate not trusted: "),
            "{message}"
        );
        let other = std::io::Error::other("connection reset");
        assert_eq!(tls_failure(&other), None);
    }
}
