//! How the device reaches its server. The sync engine never opens a socket
//! itself: the app (or a test, or the simulator) hands it a [`Transport`],
//! by default [`HttpTransport`] (HTTPS through rustls; plain HTTP only to
//! the device's own machine unless explicitly allowed).
//!
//! This module is a leaf: it knows the wire types and nothing of the store,
//! the sync engine or the core's error type, which wrap it.

#[cfg(feature = "http")]
mod http;
#[cfg(feature = "http")]
mod pin;
#[cfg(feature = "http")]
mod push;
#[cfg(feature = "http")]
mod tls;

use std::time::Duration;

#[cfg(feature = "http")]
pub use http::{HttpTimeouts, HttpTransport, MAX_RESPONSE_BYTES};
#[cfg(feature = "http")]
pub use push::{COLUMNS_ZSTD_LEVEL, JSON_PUSH_CHANGES};

use doorstep_protocol::{
    EnrollRequest, EnrollResponse, FileStatusRequest, FileStatusResponse, FileUploadResponse,
    PullQuery, PullResponse, PushRequest, PushResponse, RetireRequest, RetireResponse,
    SnapshotRequest, SnapshotResponse,
};

/// One request/response exchange per call; implementations do their own
/// encoding and must not retry (retry policy belongs to the caller).
pub trait Transport: Send + Sync {
    fn enroll(&self, request: &EnrollRequest) -> Result<EnrollResponse, TransportError>;
    fn push(&self, token: &str, request: &PushRequest) -> Result<PushResponse, TransportError>;
    fn pull(&self, token: &str, query: &PullQuery) -> Result<PullResponse, TransportError>;
    fn snapshot(
        &self,
        token: &str,
        request: &SnapshotRequest,
    ) -> Result<SnapshotResponse, TransportError>;

    /// Asks the server to revoke this device's own token (the device is
    /// being wiped). A transport that cannot says so.
    fn retire(
        &self,
        token: &str,
        request: &RetireRequest,
    ) -> Result<RetireResponse, TransportError> {
        let _ = (token, request);
        Err(TransportError::Refused {
            status: 404,
            message: "this transport cannot retire a device".into(),
        })
    }

    /// What the server holds of some files (`POST /v1/files/status`).
    fn file_status(
        &self,
        token: &str,
        request: &FileStatusRequest,
    ) -> Result<FileStatusResponse, TransportError> {
        let _ = (token, request);
        Err(no_files())
    }

    /// Sends one piece of a file (`PATCH /v1/files/{sha256}`).
    fn upload_file(
        &self,
        token: &str,
        upload: FileUpload<'_>,
    ) -> Result<FileUploadResponse, TransportError> {
        let _ = (token, upload);
        Err(no_files())
    }

    /// Fetches a whole file (`GET /v1/files/{sha256}`).
    fn download_file(&self, token: &str, sha256: &str) -> Result<DownloadedFile, TransportError> {
        let _ = (token, sha256);
        Err(no_files())
    }

    /// Bytes this transport has sent and received on the wire so far
    /// (bodies as transferred, compressed). A transport that cannot tell
    /// says zero.
    fn bytes(&self) -> WireBytes {
        WireBytes::default()
    }
}

fn no_files() -> TransportError {
    TransportError::Refused {
        status: 404,
        message: "this transport carries no files".into(),
    }
}

/// One piece of a file on its way up: `bytes` start at `offset` of the
/// file's `size`.
#[derive(Debug, Clone)]
pub struct FileUpload<'a> {
    pub sha256: &'a str,
    pub size: u64,
    pub media_type: &'a str,
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// A file as the server sent it; its name is checked by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadedFile {
    pub bytes: Vec<u8>,
    pub media_type: String,
}

/// Bytes on the wire, each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WireBytes {
    pub sent: u64,
    pub received: u64,
}

impl WireBytes {
    /// What was transferred since `earlier`.
    pub fn since(self, earlier: WireBytes) -> WireBytes {
        WireBytes {
            sent: self.sent.saturating_sub(earlier.sent),
            received: self.received.saturating_sub(earlier.received),
        }
    }

    pub fn total(self) -> u64 {
        self.sent.saturating_add(self.received)
    }
}

/// Why an exchange failed, in terms the app can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No connection could be made (no signal, server down, wrong address).
    #[error("server unreachable ({0})")]
    Unreachable(String),
    /// The connection broke or stayed silent too long.
    #[error("the connection to the server failed ({0})")]
    Interrupted(String),
    /// The server address cannot be used: not http:// or https://, or
    /// plain http:// to another machine without the insecure option.
    #[error("bad server address: {0}")]
    BadAddress(String),
    /// TLS failed: the server's certificate is not trusted (the message
    /// says "certificate not trusted: …"), or the server does not speak
    /// TLS as this device expects. Permanent: retrying will not help until
    /// a person fixes the certificate or the address.
    #[error("{0}")]
    Tls(String),
    /// A CA certificate given to trust could not be read.
    #[error("bad CA certificate: {0}")]
    BadCertificate(String),
    /// The token (or enrolment code) was refused.
    #[error("refused by the server: {0}")]
    Unauthorized(String),
    /// The server will not take this request as it is.
    #[error("the server refused the request: {message}")]
    Refused { status: u16, message: String },
    /// The server is overloaded; try again after the delay, if given.
    #[error("the server is busy; try again later")]
    Busy { retry_after: Option<Duration> },
    /// The server failed.
    #[error("the server failed ({status}): {message}")]
    Server { status: u16, message: String },
    /// The answer could not be understood.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
}

impl TransportError {
    /// What an HTTP status of the server means to a device: the one
    /// mapping of the HTTP transport, shared by the simulator's in-process
    /// network so that both classify every refusal alike.
    pub fn from_status(
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    ) -> TransportError {
        match status {
            401 | 403 => TransportError::Unauthorized(message),
            429 | 503 => TransportError::Busy { retry_after },
            // The body came too slowly for the server: a weak link, worth
            // another try.
            408 => TransportError::Interrupted(message),
            500..=599 => TransportError::Server { status, message },
            _ => TransportError::Refused { status, message },
        }
    }

    /// Whether the server (not just something at its address) answered:
    /// the status view's "last contact".
    pub fn reached_server(&self) -> bool {
        matches!(
            self,
            TransportError::Unauthorized(_)
                | TransportError::Refused { .. }
                | TransportError::Busy { .. }
                | TransportError::Server { .. }
                | TransportError::Protocol(_)
        )
    }

    /// Whether the same request may succeed later unchanged.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            TransportError::Unreachable(_)
                | TransportError::Interrupted(_)
                | TransportError::Busy { .. }
                | TransportError::Server { .. }
        )
    }
}

/// Where a device's server is and how far to trust the way there: saved at
/// enrolment and used by every sync after it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://host[:port]`, or `http://` to this machine (loopback).
    pub url: String,
    /// A county CA (PEM) trusted beside Mozilla's roots, for a server whose
    /// certificate a public CA did not issue.
    pub ca_pem: Option<String>,
    /// Allow plain `http://` to another machine. Everything, the token
    /// included, then crosses the network readable: for a test network
    /// only.
    pub allow_insecure_http: bool,
}

impl Endpoint {
    /// An endpoint with the default trust: Mozilla's roots, no plain HTTP
    /// beyond loopback.
    pub fn new(url: impl Into<String>) -> Endpoint {
        Endpoint {
            url: url.into(),
            ..Endpoint::default()
        }
    }
}
