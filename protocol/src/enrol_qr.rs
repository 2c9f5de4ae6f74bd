//! What an enrolment QR code says: where the server is, the one-time code,
//! and, when the county runs its own certificate authority, the SHA-256
//! fingerprint of that CA's certificate, which the device pins.
//!
//! ```text
//! doorstep://enrol?v=1&server=https%3A%2F%2Fcounty.example%3A8686&code=ABCD-EFGH&ca=<64 hex digits>
//! ```
//!
//! The console and `doorstep admin enroll-code` write it; the app's scanner
//! hands it to the device core (`enrollFromQr`). Parsing is strict: an
//! unknown version, parameter or character is refused with words a cadre
//! can pass on, never guessed at. A new parameter comes with a new `v`.
//!
//! The payload holds a one-time code: it is a secret until used, so the
//! [`Debug`] of an [`EnrolQr`] leaves the code out and no error quotes it.

use std::fmt;

use sha2::{Digest, Sha256};

/// The payload's version this crate writes and reads.
pub const ENROL_QR_VERSION: u32 = 1;

/// The longest payload accepted, in bytes: a real one is under 250, and a
/// QR code a phone scans well holds far less than the largest QR.
pub const MAX_ENROL_QR_BYTES: usize = 1024;

/// The longest server address accepted, in bytes.
const MAX_SERVER_BYTES: usize = 512;

/// The longest code accepted (the server's are 9 characters with the dash).
const MAX_CODE_CHARS: usize = 64;

const PREFIX: &str = "doorstep://enrol?";

/// An enrolment QR code's content.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrolQr {
    /// `https://host[:port][/path]` (or `http://`, which the device accepts
    /// only to its own machine).
    pub server: String,
    /// The one-time enrolment code.
    pub code: String,
    /// The county CA's certificate fingerprint, when it has its own CA.
    pub ca_sha256: Option<CaFingerprint>,
}

/// The SHA-256 of a certificate (its DER bytes), written as 64 lower-case
/// hex digits: what `openssl x509 -noout -fingerprint -sha256` prints,
/// without the colons.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CaFingerprint(pub [u8; 32]);

/// Why a scanned payload cannot be used to enrol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrolQrError {
    /// Not a Doorstep enrolment code at all (another app's QR code, say).
    #[error("this is not a Doorstep enrolment QR code")]
    NotEnrolment,
    /// Written for a newer app: update the app, or ask for a code typed in.
    #[error(
        "this enrolment QR code is of version {found}, newer than this app understands (version {ENROL_QR_VERSION}); update the app"
    )]
    NewerVersion { found: String },
    /// A Doorstep enrolment code, but damaged or badly written.
    #[error("this enrolment QR code cannot be used: {0}")]
    Invalid(String),
}

impl EnrolQr {
    /// An enrolment QR code's content, checked as [`EnrolQr::parse`]
    /// checks a scanned one: what this returns always reads back.
    pub fn new(
        server: &str,
        code: &str,
        ca_sha256: Option<CaFingerprint>,
    ) -> Result<EnrolQr, EnrolQrError> {
        EnrolQr::check_server(server)?;
        check_code(code)?;
        Ok(EnrolQr {
            server: server.to_string(),
            code: code.to_string(),
            ca_sha256,
        })
    }

    /// Reads a scanned payload (surrounding white space, which scanners
    /// add, is ignored).
    pub fn parse(payload: &str) -> Result<EnrolQr, EnrolQrError> {
        let invalid = |why: &str| EnrolQrError::Invalid(why.to_string());
        let payload = payload.trim();
        if payload.len() > MAX_ENROL_QR_BYTES {
            return Err(invalid("it is longer than any Doorstep writes"));
        }
        let query = payload
            .get(..PREFIX.len())
            .filter(|prefix| prefix.eq_ignore_ascii_case(PREFIX))
            .and_then(|_| payload.get(PREFIX.len()..))
            .ok_or(EnrolQrError::NotEnrolment)?;
        let (mut version, mut server, mut code, mut ca) = (None, None, None, None);
        for pair in query.split('&') {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| invalid("a parameter has no value"))?;
            let slot = match key {
                "v" => &mut version,
                "server" => &mut server,
                "code" => &mut code,
                "ca" => &mut ca,
                _ => return Err(invalid("it has a parameter this app does not know")),
            };
            if slot.is_some() {
                return Err(invalid("a parameter is given twice"));
            }
            *slot = Some(percent_decode(value).ok_or_else(|| invalid("it is badly encoded"))?);
        }
        match version.as_deref() {
            Some("1") => {}
            Some(found) if is_version_number(found) => {
                return Err(EnrolQrError::NewerVersion {
                    found: found.to_string(),
                });
            }
            Some(_) => return Err(invalid("its version is not a number")),
            None => return Err(invalid("it has no version (v=)")),
        }
        let server = server.ok_or_else(|| invalid("it has no server address"))?;
        EnrolQr::check_server(&server)?;
        let code = code.ok_or_else(|| invalid("it has no enrolment code"))?;
        check_code(&code)?;
        let ca_sha256 = ca
            .map(|hex| {
                CaFingerprint::from_hex(&hex).ok_or_else(|| {
                    invalid("the certificate fingerprint (ca=) is not 64 hex digits")
                })
            })
            .transpose()?;
        Ok(EnrolQr {
            server,
            code,
            ca_sha256,
        })
    }

    /// The payload to draw as a QR code. [`EnrolQr::parse`] reads it back
    /// as it was, for any server address and code that parsing accepts.
    pub fn to_payload(&self) -> String {
        let mut payload = format!(
            "{PREFIX}v={ENROL_QR_VERSION}&server={}&code={}",
            percent_encode(&self.server),
            percent_encode(&self.code)
        );
        if let Some(ca) = &self.ca_sha256 {
            payload.push_str(&format!("&ca={ca}"));
        }
        payload
    }

    /// Whether a server address can go into a payload: `http(s)://` and a
    /// host, no user name or password, no query or fragment, no white
    /// space or control characters. The device's transport parses it fully
    /// when it connects.
    pub fn check_server(server: &str) -> Result<(), EnrolQrError> {
        let invalid = |why: &str| Err(EnrolQrError::Invalid(format!("the server address {why}")));
        if server.len() > MAX_SERVER_BYTES {
            return invalid("is too long");
        }
        let rest = ["https://", "http://"].iter().find_map(|scheme| {
            server
                .get(..scheme.len())
                .filter(|prefix| prefix.eq_ignore_ascii_case(scheme))
                .map(|_| &server[scheme.len()..])
        });
        let Some(rest) = rest else {
            return invalid("does not start with https:// or http://");
        };
        if server
            .chars()
            .any(|character| character.is_whitespace() || character.is_control())
        {
            return invalid("has white space or control characters in it");
        }
        if server.contains(['?', '#']) {
            return invalid("has a query or a fragment");
        }
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.contains('@') {
            return invalid("has a user name in it");
        }
        if authority.is_empty() || authority.starts_with(':') {
            return invalid("has no host");
        }
        Ok(())
    }
}

/// The code is a secret until used: left out.
impl fmt::Debug for EnrolQr {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("EnrolQr")
            .field("server", &self.server)
            .field("code", &"<secret>")
            .field("ca_sha256", &self.ca_sha256)
            .finish()
    }
}

impl CaFingerprint {
    /// The fingerprint of a certificate given as DER.
    pub fn of_der(certificate_der: &[u8]) -> CaFingerprint {
        CaFingerprint(Sha256::digest(certificate_der).into())
    }

    /// 64 hex digits, either case; nothing else (no colons, no spaces).
    pub fn from_hex(text: &str) -> Option<CaFingerprint> {
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks(2)) {
            *byte = hex_value(pair[0])? << 4 | hex_value(pair[1])?;
        }
        Some(CaFingerprint(bytes))
    }
}

impl fmt::Display for CaFingerprint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0
            .iter()
            .try_for_each(|byte| write!(formatter, "{byte:02x}"))
    }
}

impl fmt::Debug for CaFingerprint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "CaFingerprint({self})")
    }
}

fn is_version_number(text: &str) -> bool {
    !text.is_empty() && text.len() <= 9 && text.bytes().all(|byte| byte.is_ascii_digit())
}

fn check_code(code: &str) -> Result<(), EnrolQrError> {
    let invalid = |why: &str| Err(EnrolQrError::Invalid(format!("the enrolment code {why}")));
    if code.is_empty() {
        return invalid("is empty");
    }
    if code.chars().count() > MAX_CODE_CHARS {
        return invalid("is too long");
    }
    if !code
        .chars()
        .all(|character| character.is_ascii_alphanumeric() || character == '-')
    {
        return invalid("may hold only letters, digits and '-'");
    }
    Ok(())
}

/// Everything but RFC 3986's unreserved characters as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// `%XX` as bytes; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(byte) = input.next() {
        if byte == b'%' {
            let high = hex_value(input.next()?)?;
            let low = hex_value(input.next()?)?;
            bytes.push(high << 4 | low);
        } else {
            bytes.push(byte);
        }
    }
    String::from_utf8(bytes).ok()
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FINGERPRINT: &str = "3f1a6c0e9b2d4f5a7c8e0b1d2f3a4c5e6b7d8f9a0c1e2b3d4f5a6c7e8b9d0f1a";

    fn county() -> EnrolQr {
        EnrolQr {
            server: "https://county.example:8686".into(),
            code: "ABCD-EFGH".into(),
            ca_sha256: CaFingerprint::from_hex(FINGERPRINT),
        }
    }

    #[test]
    fn the_payload_shape_is_stable() {
        assert_eq!(
            county().to_payload(),
            format!(
                "doorstep://enrol?v=1&server=https%3A%2F%2Fcounty.example%3A8686&code=ABCD-EFGH&ca={FINGERPRINT}"
            )
        );
        let without_ca = EnrolQr {
            ca_sha256: None,
            ..county()
        };
        assert_eq!(
            without_ca.to_payload(),
            "doorstep://enrol?v=1&server=https%3A%2F%2Fcounty.example%3A8686&code=ABCD-EFGH"
        );
        assert_eq!(EnrolQr::parse(&county().to_payload()), Ok(county()));
    }

    #[test]
    fn scanners_white_space_upper_case_hex_and_parameter_order_are_accepted() {
        let payload = format!(
            "  DOORSTEP://enrol?code=ABCD-EFGH&ca={}&server=https://county.example:8686&v=1\n",
            FINGERPRINT.to_uppercase()
        );
        assert_eq!(EnrolQr::parse(&payload), Ok(county()));
    }

    #[test]
    fn what_cannot_be_used_is_refused_with_its_reason() {
        let ca = format!("&ca={FINGERPRINT}");
        let server = "server=https%3A%2F%2Fcounty.example";
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "another app's code",
                "https://example.com/?a=1".into(),
                "not a Doorstep",
            ),
            (
                "another scheme",
                "doorstep://sync?v=1".into(),
                "not a Doorstep",
            ),
            (
                "no version",
                format!("doorstep://enrol?{server}&code=A"),
                "no version",
            ),
            (
                "a newer version",
                format!("doorstep://enrol?v=2&{server}&code=A"),
                "version 2, newer",
            ),
            (
                "a version that is no number",
                format!("doorstep://enrol?v=x&{server}&code=A"),
                "not a number",
            ),
            (
                "no server",
                "doorstep://enrol?v=1&code=A".into(),
                "no server address",
            ),
            (
                "no code",
                format!("doorstep://enrol?v=1&{server}"),
                "no enrolment code",
            ),
            (
                "an empty code",
                format!("doorstep://enrol?v=1&{server}&code="),
                "is empty",
            ),
            (
                "a code with a space",
                format!("doorstep://enrol?v=1&{server}&code=AB%20CD"),
                "only letters",
            ),
            (
                "a long code",
                format!("doorstep://enrol?v=1&{server}&code={}", "A".repeat(65)),
                "too long",
            ),
            (
                "an ftp server",
                "doorstep://enrol?v=1&server=ftp%3A%2F%2Fx&code=A".into(),
                "https://",
            ),
            (
                "a bare host",
                "doorstep://enrol?v=1&server=county.example&code=A".into(),
                "https://",
            ),
            (
                "no host",
                "doorstep://enrol?v=1&server=https%3A%2F%2F%3A8686&code=A".into(),
                "no host",
            ),
            (
                "a user name",
                "doorstep://enrol?v=1&server=https%3A%2F%2Fme%40evil.example&code=A".into(),
                "user name",
            ),
            (
                "a query",
                "doorstep://enrol?v=1&server=https%3A%2F%2Fx%2F%3Fa%3D1&code=A".into(),
                "query",
            ),
            (
                "a newline",
                "doorstep://enrol?v=1&server=https%3A%2F%2Fx%0A&code=A".into(),
                "white space",
            ),
            (
                "a short fingerprint",
                format!("doorstep://enrol?v=1&{server}&code=A&ca=abcd"),
                "64 hex",
            ),
            (
                "a fingerprint with colons",
                format!(
                    "doorstep://enrol?v=1&{server}&code=A&ca={}",
                    "ab:".repeat(21)
                ),
                "64 hex",
            ),
            (
                "a fingerprint that is not hex",
                format!("doorstep://enrol?v=1&{server}&code=A&ca={}", "g".repeat(64)),
                "64 hex",
            ),
            (
                "a broken escape",
                format!("doorstep://enrol?v=1&{server}%2&code=A"),
                "badly encoded",
            ),
            (
                "bytes that are not UTF-8",
                format!("doorstep://enrol?v=1&{server}%FF&code=A"),
                "badly encoded",
            ),
            (
                "a parameter twice",
                format!("doorstep://enrol?v=1&{server}&code=A&code=B"),
                "twice",
            ),
            (
                "an unknown parameter",
                format!("doorstep://enrol?v=1&{server}&code=A&pin=1"),
                "does not know",
            ),
            (
                "a parameter without value",
                format!("doorstep://enrol?v=1&{server}&code=A&"),
                "no value",
            ),
            (
                "a huge payload",
                format!(
                    "doorstep://enrol?v=1&{server}&code=A{ca}{}",
                    "&v=1".repeat(300)
                ),
                "longer than",
            ),
        ];
        for (name, payload, says) in cases {
            let error = EnrolQr::parse(&payload).expect_err(name).to_string();
            assert!(error.contains(says), "{name}: {error}");
            assert!(!error.contains("ABCD"), "{name}: the code is never quoted");
        }
    }

    #[test]
    fn new_checks_what_parse_checks() {
        assert_eq!(
            EnrolQr::new(
                "https://county.example:8686",
                "ABCD-EFGH",
                county().ca_sha256
            ),
            Ok(county())
        );
        for (server, code) in [
            ("county.example", "A"),
            ("https://x", "A B"),
            ("https://x", ""),
        ] {
            assert!(EnrolQr::new(server, code, None).is_err(), "{server} {code}");
        }
    }

    #[test]
    fn the_code_stays_out_of_debug_output() {
        let shown = format!("{:?}", county());
        assert!(!shown.contains("ABCD-EFGH"), "{shown}");
        assert!(shown.contains("county.example"), "{shown}");
    }

    #[test]
    fn a_fingerprint_is_the_sha256_of_the_der() {
        // SHA-256 of the empty string, a known answer.
        assert_eq!(
            CaFingerprint::of_der(b"").to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    fn server() -> impl Strategy<Value = String> {
        (
            prop_oneof![Just("https://"), Just("http://"), Just("HTTPS://")],
            "[a-z0-9][a-z0-9.-]{0,40}|\\[::1\\]|县政府\\.example",
            proptest::option::of(1u16..),
            "(/[a-zA-Z0-9._~%!$&'()*+,;=:-]{0,12}){0,3}",
        )
            .prop_map(|(scheme, host, port, path)| {
                let port = port.map(|port| format!(":{port}")).unwrap_or_default();
                format!("{scheme}{host}{port}{path}")
            })
    }

    proptest! {
        #[test]
        fn every_payload_written_reads_back_as_it_was(
            server in server(),
            code in "[A-Za-z0-9-]{1,64}",
            ca in proptest::option::of(any::<[u8; 32]>()),
        ) {
            let qr = EnrolQr { server, code, ca_sha256: ca.map(CaFingerprint) };
            let payload = qr.to_payload();
            prop_assert!(payload.len() <= MAX_ENROL_QR_BYTES);
            prop_assert_eq!(EnrolQr::parse(&payload), Ok(qr));
        }

        #[test]
        fn any_text_is_read_or_refused_without_panicking(text in "\\PC{0,300}") {
            let _ = EnrolQr::parse(&text);
            let _ = EnrolQr::parse(&format!("doorstep://enrol?{text}"));
        }
    }
}
