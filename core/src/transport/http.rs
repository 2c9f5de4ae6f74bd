//! The HTTP transport: JSON bodies compressed with zstd, a bearer token,
//! bounded timeouts, HTTPS through rustls (see [`super::tls`]). Built on
//! reqwest's blocking client; the store is blocking too, and an app runs
//! sync on a background thread.
//!
//! Plain `http://` is refused unless the server is on this machine
//! (loopback: development and tests) or the endpoint explicitly allows it.
//! Redirects are never followed: the API has none, and following one could
//! carry the token somewhere else.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use doorstep_protocol::{
    CaFingerprint, ENCODING_ZSTD, EnrollRequest, EnrollResponse, ErrorBody, FileStatusRequest,
    FileStatusResponse, FileUploadResponse, PullQuery, PullResponse, PushRequest, PushResponse,
    RetireRequest, RetireResponse, SnapshotRequest, SnapshotResponse, files, routes,
};
use reqwest::Url;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::{
    ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::pin::PinnedCa;
use super::push;
use super::{DownloadedFile, Endpoint, FileUpload, Transport, TransportError, WireBytes, tls};

/// Compression level for request bodies: fast enough for a cheap phone.
const ZSTD_LEVEL: i32 = 3;
/// Largest response body accepted, decompressed: well above the most the
/// server puts in one page (`doorstep_protocol::limits::MAX_PAGE_BYTES`).
pub const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;
/// The largest zstd window an answer may ask the device to allocate (16
/// MiB): a server answer needs no more, a hostile one gets no more.
const RESPONSE_WINDOW_LOG: u32 = 24;

/// Talks to a Doorstep server (e.g. `https://county.example:8686`).
#[derive(Debug, Clone)]
pub struct HttpTransport {
    base_url: String,
    client: Client,
    sent: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
    /// The server refused a columnar push: it is older than the columns,
    /// and gets JSON from now on (see [`push`]).
    json_only: Arc<AtomicBool>,
}

/// Time limits of the HTTP transport.
#[derive(Debug, Clone, Copy)]
pub struct HttpTimeouts {
    /// To establish a connection: a server that is down is reported this fast.
    pub connect: Duration,
    /// For a whole exchange.
    pub request: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        HttpTimeouts {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(60),
        }
    }
}

impl HttpTransport {
    /// A transport to `base_url` with the default trust (see [`Endpoint::new`]).
    pub fn new(base_url: &str) -> Result<Self, TransportError> {
        HttpTransport::connect(&Endpoint::new(base_url), HttpTimeouts::default())
    }

    pub fn with_timeouts(base_url: &str, timeouts: HttpTimeouts) -> Result<Self, TransportError> {
        HttpTransport::connect(&Endpoint::new(base_url), timeouts)
    }

    /// A transport to `endpoint`, trusting what it says to trust.
    pub fn connect(endpoint: &Endpoint, timeouts: HttpTimeouts) -> Result<Self, TransportError> {
        let base_url = endpoint.url.trim().trim_end_matches('/').to_string();
        check_address(&base_url, endpoint.allow_insecure_http)?;
        let tls = tls::client_config(endpoint.ca_pem.as_deref())?;
        HttpTransport::with_tls(base_url, tls, timeouts)
    }

    /// A transport to `https://` `url` that trusts only the certificate
    /// authority with this fingerprint, which the server must present
    /// (see [`super::pin`]); the pin says afterwards what it found.
    pub(crate) fn pinned(
        url: &str,
        fingerprint: CaFingerprint,
        timeouts: HttpTimeouts,
    ) -> Result<(Self, Arc<PinnedCa>), TransportError> {
        let base_url = url.trim().trim_end_matches('/').to_string();
        check_address(&base_url, false)?;
        if !base_url
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
        {
            return Err(TransportError::BadAddress(format!(
                "{base_url:?}: a certificate fingerprint can only be checked over https://"
            )));
        }
        let (tls, pin) = PinnedCa::client_config(fingerprint)?;
        Ok((HttpTransport::with_tls(base_url, tls, timeouts)?, pin))
    }

    fn with_tls(
        base_url: String,
        tls: rustls::ClientConfig,
        timeouts: HttpTimeouts,
    ) -> Result<Self, TransportError> {
        let client = Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would see plain HTTP to this
            // machine (the token included), and has no place on a phone.
            .no_proxy()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request)
            // The server closes a connection idle for 10 s; reusing one it
            // is closing would fail the exchange for nothing.
            .pool_idle_timeout(Duration::from_secs(5))
            .user_agent(concat!("doorstep/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| TransportError::Protocol(error.to_string()))?;
        Ok(HttpTransport {
            base_url,
            client,
            sent: Arc::default(),
            received: Arc::default(),
            json_only: Arc::default(),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub(super) fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        route: &str,
        token: Option<&str>,
        body: &B,
    ) -> Result<R, TransportError> {
        let json = serde_json::to_vec(body)
            .map_err(|error| TransportError::Protocol(error.to_string()))?;
        let request = self.compressed_post(route, &json, ZSTD_LEVEL, "application/json")?;
        self.exchange(request, token)
    }

    /// A POST of `body` compressed with zstd at `level`, counted as sent.
    pub(super) fn compressed_post(
        &self,
        route: &str,
        body: &[u8],
        level: i32,
        content_type: &'static str,
    ) -> Result<RequestBuilder, TransportError> {
        // In one go: the frame then names its size, so the server's decoder
        // needs no window larger than the body.
        let compressed = zstd::bulk::compress(body, level)
            .map_err(|error| TransportError::Protocol(error.to_string()))?;
        self.sent
            .fetch_add(compressed.len() as u64, Ordering::Relaxed);
        Ok(self
            .client
            .post(format!("{}{route}", self.base_url))
            .header(CONTENT_TYPE, content_type)
            .header(CONTENT_ENCODING, ENCODING_ZSTD)
            .body(compressed))
    }

    /// Pushes go as JSON from now on, as they do once a server refused
    /// columns: for comparisons and tests.
    pub fn send_json_pushes(&self) {
        self.json_only.store(true, Ordering::Relaxed);
    }

    /// Whether pushes go as JSON (the server refused columns).
    pub(super) fn json_only(&self) -> &AtomicBool {
        &self.json_only
    }

    fn exchange<R: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        token: Option<&str>,
    ) -> Result<R, TransportError> {
        let (body, _) = self.fetch(request, token)?;
        serde_json::from_slice(&body).map_err(|error| TransportError::Protocol(error.to_string()))
    }

    /// Sends `request`; a success's body (decompressed) and content type,
    /// or the failure the status means.
    pub(super) fn fetch(
        &self,
        request: RequestBuilder,
        token: Option<&str>,
    ) -> Result<(Vec<u8>, Option<String>), TransportError> {
        let mut request = request.header(ACCEPT_ENCODING, ENCODING_ZSTD);
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = request.send().map_err(send_error)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| retry_after(value, chrono::Utc::now()));
        let zstd = response
            .headers()
            .get(CONTENT_ENCODING)
            .is_some_and(|value| {
                value
                    .as_bytes()
                    .eq_ignore_ascii_case(ENCODING_ZSTD.as_bytes())
            });
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let counted = Counted {
            inner: response,
            count: &self.received,
        };
        let body = read_body(counted, zstd)?;
        if status.is_success() {
            return Ok((body, content_type));
        }
        let message = serde_json::from_slice::<ErrorBody>(&body)
            .map(|error| error.message)
            .unwrap_or_else(|_| status.canonical_reason().unwrap_or("error").to_string());
        Err(TransportError::from_status(
            status.as_u16(),
            message,
            retry_after,
        ))
    }
}

/// Refuses an address that is not http(s), and plain http to another
/// machine unless allowed.
fn check_address(base_url: &str, allow_insecure_http: bool) -> Result<(), TransportError> {
    let url = Url::parse(base_url).map_err(|error| {
        TransportError::BadAddress(format!("{base_url:?} is not a server address: {error}"))
    })?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure_http || is_loopback(&url) => Ok(()),
        "http" => Err(TransportError::BadAddress(format!(
            "plain http:// to {} would send the token and households' data readable by anyone on the network; \
             use https:// (or, on a test network only, the insecure-http option)",
            url.host_str().unwrap_or("the server")
        ))),
        _ => Err(TransportError::BadAddress(format!(
            "{base_url:?} must start with https:// (or http:// to this machine)"
        ))),
    }
}

/// Whether the URL names this machine: `localhost`, 127.0.0.0/8 or ::1.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// `Retry-After` as seconds or as an HTTP date (RFC 9110 §10.2.3); a date
/// in the past means now.
fn retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// Counts the bytes read through it, as they came off the wire.
struct Counted<'a, R> {
    inner: R,
    count: &'a AtomicU64,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.count.fetch_add(read as u64, Ordering::Relaxed);
        Ok(read)
    }
}

fn read_body(response: impl Read, zstd: bool) -> Result<Vec<u8>, TransportError> {
    let mut body = Vec::new();
    let interrupted = |error: std::io::Error| TransportError::Interrupted(error.to_string());
    // One byte more than allowed tells an oversized answer from one that
    // fits exactly.
    if zstd {
        let mut decoder = zstd::stream::read::Decoder::new(response).map_err(interrupted)?;
        // No answer needs a larger window than what the device accepts.
        decoder
            .window_log_max(RESPONSE_WINDOW_LOG)
            .map_err(interrupted)?;
        decoder
            .take(MAX_RESPONSE_BYTES + 1)
            .read_to_end(&mut body)
            .map_err(interrupted)?;
    } else {
        response
            .take(MAX_RESPONSE_BYTES + 1)
            .read_to_end(&mut body)
            .map_err(interrupted)?;
    }
    if body.len() as u64 > MAX_RESPONSE_BYTES {
        return Err(TransportError::Protocol(format!(
            "the server's answer is larger than this device accepts ({} MiB); the server must send less at once",
            MAX_RESPONSE_BYTES / (1024 * 1024)
        )));
    }
    Ok(body)
}

fn send_error(error: reqwest::Error) -> TransportError {
    if let Some(failure) = tls::tls_failure(&error) {
        TransportError::Tls(failure)
    } else if error.is_connect() {
        TransportError::Unreachable(root_cause(&error))
    } else if error.is_builder() {
        TransportError::BadAddress(root_cause(&error))
    } else {
        TransportError::Interrupted(root_cause(&error))
    }
}

/// The innermost error's message: "Connection refused" rather than reqwest's
/// outer "error sending request".
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

impl Transport for HttpTransport {
    fn enroll(&self, request: &EnrollRequest) -> Result<EnrollResponse, TransportError> {
        self.post(routes::ENROLL, None, request)
    }

    fn push(&self, token: &str, request: &PushRequest) -> Result<PushResponse, TransportError> {
        push::push(self, token, request)
    }

    fn pull(&self, token: &str, query: &PullQuery) -> Result<PullResponse, TransportError> {
        let mut url = format!("{}{}?cursor={}", self.base_url, routes::PULL, query.cursor);
        if let Some(scope) = &query.scope {
            url.push_str(&format!("&scope={scope}"));
        }
        if let Some(limit) = query.limit {
            url.push_str(&format!("&limit={limit}"));
        }
        if let Some(pending) = query.pending {
            url.push_str(&format!("&pending={pending}"));
        }
        self.exchange(self.client.get(url), Some(token))
    }

    fn snapshot(
        &self,
        token: &str,
        request: &SnapshotRequest,
    ) -> Result<SnapshotResponse, TransportError> {
        self.post(routes::SNAPSHOT, Some(token), request)
    }

    fn retire(
        &self,
        token: &str,
        request: &RetireRequest,
    ) -> Result<RetireResponse, TransportError> {
        self.post(routes::RETIRE, Some(token), request)
    }

    fn file_status(
        &self,
        token: &str,
        request: &FileStatusRequest,
    ) -> Result<FileStatusResponse, TransportError> {
        self.post(routes::FILES_STATUS, Some(token), request)
    }

    fn upload_file(
        &self,
        token: &str,
        upload: FileUpload<'_>,
    ) -> Result<FileUploadResponse, TransportError> {
        // Raw bytes: photos and recordings are compressed already.
        self.sent
            .fetch_add(upload.bytes.len() as u64, Ordering::Relaxed);
        let request = self
            .client
            .patch(format!("{}{}", self.base_url, routes::file(upload.sha256)))
            .header(CONTENT_TYPE, files::UPLOAD_CONTENT_TYPE)
            .header(files::UPLOAD_OFFSET, upload.offset)
            .header(files::UPLOAD_LENGTH, upload.size)
            .header(files::UPLOAD_MEDIA_TYPE, upload.media_type)
            .body(upload.bytes);
        self.exchange(request, Some(token))
    }

    fn download_file(&self, token: &str, sha256: &str) -> Result<DownloadedFile, TransportError> {
        let request = self
            .client
            .get(format!("{}{}", self.base_url, routes::file(sha256)));
        let (bytes, media_type) = self.fetch(request, Some(token))?;
        Ok(DownloadedFile {
            bytes,
            media_type: media_type.unwrap_or_else(|| "application/octet-stream".into()),
        })
    }

    fn bytes(&self) -> WireBytes {
        WireBytes {
            sent: self.sent.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_only_for_this_machine_unless_allowed() {
        for allowed in [
            "http://127.0.0.1:8686",
            "http://127.8.9.10",
            "http://localhost:1",
            "http://[::1]:8686",
            "https://county.example",
            "https://10.0.0.5:8686",
        ] {
            assert!(check_address(allowed, false).is_ok(), "{allowed}");
        }
        for refused in [
            "http://10.0.0.5:8686",
            "http://county.example",
            "http://[2001:db8::1]",
        ] {
            let error = check_address(refused, false).expect_err(refused);
            assert!(
                matches!(&error, TransportError::BadAddress(message) if message.contains("https://")),
                "{refused}: {error}"
            );
            assert!(
                check_address(refused, true).is_ok(),
                "{refused} when allowed"
            );
        }
        for bad in ["ftp://county.example", "county.example:8686", ""] {
            assert!(matches!(
                check_address(bad, true),
                Err(TransportError::BadAddress(_))
            ));
        }
    }

    #[test]
    fn an_answer_larger_than_the_limit_is_named_as_such() {
        let limit = usize::try_from(MAX_RESPONSE_BYTES).expect("fits");
        let fits = vec![b' '; limit];
        assert_eq!(
            read_body(fits.as_slice(), false)
                .map(|body| body.len())
                .ok(),
            Some(limit)
        );
        let larger = vec![b' '; limit + 1];
        let error = read_body(larger.as_slice(), false).expect_err("too large");
        assert!(
            error
                .to_string()
                .contains("larger than this device accepts"),
            "{error}"
        );
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_a_date() {
        let now: chrono::DateTime<chrono::Utc> = "2026-01-01T00:00:00Z".parse().expect("time");
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Thu, 01 Jan 2026 00:01:30 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }
}
