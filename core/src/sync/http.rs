//! The HTTP transport: JSON bodies compressed with zstd, a bearer token,
//! bounded timeouts. Built on reqwest's blocking client; the store is
//! blocking too, and an app runs sync on a background thread.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use doorstep_protocol::{
    ENCODING_ZSTD, EnrollRequest, EnrollResponse, ErrorBody, PullQuery, PullResponse, PushRequest,
    PushResponse, SnapshotRequest, SnapshotResponse, routes,
};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::{
    ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::transport::{Transport, TransportError, WireBytes};

/// Compression level for request bodies: fast enough for a cheap phone.
const ZSTD_LEVEL: i32 = 3;
/// Largest response body accepted, decompressed.
const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// Talks to a Doorstep server at `base_url` (e.g. `http://10.0.0.5:8686`).
#[derive(Debug, Clone)]
pub struct HttpTransport {
    base_url: String,
    client: Client,
    sent: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
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
    pub fn new(base_url: &str) -> Result<Self, TransportError> {
        HttpTransport::with_timeouts(base_url, HttpTimeouts::default())
    }

    pub fn with_timeouts(base_url: &str, timeouts: HttpTimeouts) -> Result<Self, TransportError> {
        let base_url = base_url.trim_end_matches('/').to_string();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(TransportError::BadAddress(format!(
                "{base_url:?} must start with http:// or https://"
            )));
        }
        let client = Client::builder()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request)
            .user_agent(concat!("doorstep/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| TransportError::Protocol(error.to_string()))?;
        Ok(HttpTransport {
            base_url,
            client,
            sent: Arc::default(),
            received: Arc::default(),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        route: &str,
        token: Option<&str>,
        body: &B,
    ) -> Result<R, TransportError> {
        let json = serde_json::to_vec(body)
            .map_err(|error| TransportError::Protocol(error.to_string()))?;
        let compressed = zstd::encode_all(json.as_slice(), ZSTD_LEVEL)
            .map_err(|error| TransportError::Protocol(error.to_string()))?;
        self.sent
            .fetch_add(compressed.len() as u64, Ordering::Relaxed);
        let request = self
            .client
            .post(format!("{}{route}", self.base_url))
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, ENCODING_ZSTD)
            .body(compressed);
        self.exchange(request, token)
    }

    fn exchange<R: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        token: Option<&str>,
    ) -> Result<R, TransportError> {
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
        let counted = Counted {
            inner: response,
            count: &self.received,
        };
        let body = read_body(counted, zstd)?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|error| TransportError::Protocol(error.to_string()));
        }
        let message = serde_json::from_slice::<ErrorBody>(&body)
            .map(|error| error.message)
            .unwrap_or_else(|_| status.canonical_reason().unwrap_or("error").to_string());
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                TransportError::Unauthorized(message)
            }
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                TransportError::Busy { retry_after }
            }
            status if status.is_server_error() => TransportError::Server {
                status: status.as_u16(),
                message,
            },
            status => TransportError::Refused {
                status: status.as_u16(),
                message,
            },
        })
    }
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
    if zstd {
        let decoder = zstd::stream::read::Decoder::new(response).map_err(interrupted)?;
        decoder
            .take(MAX_RESPONSE_BYTES)
            .read_to_end(&mut body)
            .map_err(interrupted)?;
    } else {
        response
            .take(MAX_RESPONSE_BYTES)
            .read_to_end(&mut body)
            .map_err(interrupted)?;
    }
    Ok(body)
}

fn send_error(error: reqwest::Error) -> TransportError {
    if error.is_connect() {
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
        self.post(routes::PUSH, Some(token), request)
    }

    fn pull(&self, token: &str, query: &PullQuery) -> Result<PullResponse, TransportError> {
        let mut url = format!("{}{}?cursor={}", self.base_url, routes::PULL, query.cursor);
        if let Some(scope) = &query.scope {
            url.push_str(&format!("&scope={scope}"));
        }
        if let Some(limit) = query.limit {
            url.push_str(&format!("&limit={limit}"));
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
