//! Enrolment by QR code, the server's side: the address devices use to
//! reach this server and the county CA's fingerprint, which go into every
//! enrolment QR code beside the one-time code (docs/protocol.md,
//! "Enrolment by QR code"). `doorstep serve --public-url/--public-ca` set
//! them; the console reads them from [`crate::AppState`], and
//! `doorstep admin enroll-code` takes the same options.

use std::path::{Path, PathBuf};

use doorstep_protocol::{CaFingerprint, EnrolQr};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// What an enrolment QR code says besides the code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnrolSettings {
    /// The address devices reach this server at (`https://…`), which may
    /// differ from the one it listens on (a reverse proxy, a public name).
    /// `None` when unknown: then there is no QR code, only the code.
    pub public_url: Option<String>,
    /// The county CA's fingerprint, when the server's certificate is from
    /// the county's own CA: devices pin it.
    pub ca_sha256: Option<CaFingerprint>,
}

/// Why the enrolment settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EnrolSetupError {
    #[error("--public-url {url:?} cannot go into an enrolment QR code: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("could not read the CA certificate {}: {reason}", .path.display())]
    BadCa { path: PathBuf, reason: String },
}

impl EnrolSettings {
    /// Settings with `public_url` checked (trailing slashes dropped).
    pub fn new(
        public_url: Option<&str>,
        ca_sha256: Option<CaFingerprint>,
    ) -> Result<EnrolSettings, EnrolSetupError> {
        let public_url = public_url
            .map(|url| {
                let url = url.trim().trim_end_matches('/').to_string();
                EnrolQr::check_server(&url)
                    .map(|()| url.clone())
                    .map_err(|error| EnrolSetupError::BadUrl {
                        url,
                        reason: error.to_string(),
                    })
            })
            .transpose()?;
        Ok(EnrolSettings {
            public_url,
            ca_sha256,
        })
    }

    /// These settings, with `url` as the public address if none was given.
    pub fn or_url(mut self, url: String) -> EnrolSettings {
        self.public_url.get_or_insert(url);
        self
    }

    /// The QR payload for a one-time code, when the public address is
    /// known. A secret until the code is used: show it only to whoever may
    /// enrol a device, and never log it.
    pub fn payload(&self, code: &str) -> Option<String> {
        let server = self.public_url.clone()?;
        Some(
            EnrolQr {
                server,
                code: code.to_string(),
                ca_sha256: self.ca_sha256,
            }
            .to_payload(),
        )
    }
}

/// The CA certificate in a PEM file (the first one if it holds several,
/// as a bundle does), for its fingerprint and to send in the handshake.
pub fn read_ca(path: &Path) -> Result<CertificateDer<'static>, EnrolSetupError> {
    let bad = |reason: String| EnrolSetupError::BadCa {
        path: path.to_path_buf(),
        reason,
    };
    let mut certificates = CertificateDer::pem_file_iter(path)
        .map_err(|error| bad(error.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| bad(error.to_string()))?;
    if certificates.is_empty() {
        return Err(bad(
            "no certificate in it (expected -----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(certificates.swap_remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_carries_the_public_address_and_the_fingerprint() {
        let fingerprint = CaFingerprint::of_der(b"a CA");
        let settings = EnrolSettings::new(Some("https://county.example:8686/"), Some(fingerprint))
            .expect("settings");
        let payload = settings.payload("ABCD-EFGH").expect("a payload");
        let qr = EnrolQr::parse(&payload).expect("reads back");
        assert_eq!(qr.server, "https://county.example:8686");
        assert_eq!(qr.code, "ABCD-EFGH");
        assert_eq!(qr.ca_sha256, Some(fingerprint));
        // A given address wins over the listening one; none, none at all.
        assert_eq!(
            settings.clone().or_url("http://0.0.0.0:8686".into()),
            settings
        );
        assert_eq!(EnrolSettings::default().payload("ABCD-EFGH"), None);
        let error = EnrolSettings::new(Some("county.example"), None).expect_err("no scheme");
        assert!(error.to_string().contains("https://"), "{error}");
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let directory = tempfile::tempdir().expect("a directory");
        let empty = directory.path().join("empty.pem");
        std::fs::write(&empty, "").expect("write");
        let error = read_ca(&empty).expect_err("empty").to_string();
        assert!(error.contains("no certificate"), "{error}");
        let missing = directory.path().join("missing.pem");
        let error = read_ca(&missing).expect_err("missing").to_string();
        assert!(error.contains("missing.pem"), "{error}");
    }
}
