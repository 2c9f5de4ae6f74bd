//! The transport the sync engine is driven through. The engine never opens
//! a socket itself: the app (or a test, or the simulator) hands it a
//! [`Transport`], by default [`super::HttpTransport`].

use std::time::Duration;

use doorstep_protocol::{
    EnrollRequest, EnrollResponse, PullQuery, PullResponse, PushRequest, PushResponse,
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

    /// Bytes this transport has sent and received on the wire so far
    /// (bodies as transferred, compressed). A transport that cannot tell
    /// says zero.
    fn bytes(&self) -> WireBytes {
        WireBytes::default()
    }
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
    /// The server address cannot be used (not http:// or https://).
    #[error("bad server address: {0}")]
    BadAddress(String),
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
