//! One error type for every handler. The client gets a status and one clear
//! sentence; the detail of an internal failure goes to the log only.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use doorstep_protocol::ErrorBody;

use crate::store::{DbError, DbErrorKind, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Understood but refused as it is (an upload whose bytes do not
    /// match their name).
    #[error("{0}")]
    Unprocessable(String),
    /// A body in a format this server does not read (a later encoding):
    /// the client may send it again as JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("request body too large: at most {limit} bytes")]
    TooLarge { limit: usize },
    /// Too many requests from this client or device: wait `retry_after`.
    #[error("too many requests; try again in {} s", retry_after.as_secs().max(1))]
    Throttled { retry_after: std::time::Duration },
    /// The request body came too slowly (`net::body`).
    #[error("the request body came too slowly: {0}")]
    Timeout(String),
    #[error("protocol version {found} is not supported (this server speaks {supported})")]
    Protocol { found: u32, supported: u32 },
    /// The database does not answer: another server (behind the same
    /// load balancer) may.
    #[error("the server's database is unavailable; try again later")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// The HTTP status and message a store error becomes, for the simulator's
/// in-process network (which must refuse exactly as HTTP does).
pub fn status_of(error: StoreError) -> (u16, String) {
    let error = AppError::from(error);
    let message = match &error {
        AppError::Internal(_) => "the server failed; try again later".to_string(),
        other => other.to_string(),
    };
    (error.parts().0.as_u16(), message)
}

impl AppError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"),
            AppError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            AppError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            AppError::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
            AppError::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, "timeout"),
            AppError::Protocol { .. } => (StatusCode::BAD_REQUEST, "protocol"),
            AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(message) => AppError::NotFound(message),
            StoreError::Invalid(message) => AppError::BadRequest(message),
            StoreError::Conflict(message) => AppError::Conflict(message),
            StoreError::Enroll(message) => AppError::Unauthorized(message),
            StoreError::Unauthorized => AppError::Unauthorized(error.to_string()),
            StoreError::Database(DbError {
                kind: DbErrorKind::Unavailable,
                message,
            }) => AppError::Unavailable(message),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let message = match &self {
            AppError::Internal(detail) => {
                tracing::error!(%detail, "request failed");
                "the server failed; try again later".to_string()
            }
            AppError::Unavailable(detail) => {
                tracing::error!(%detail, "the database is unavailable");
                self.to_string()
            }
            other => {
                // Anyone can provoke a refusal: one line each would let a
                // flood fill the disk (the handlers log at a bounded rate).
                tracing::debug!(status = status.as_u16(), message = %other, "request refused");
                other.to_string()
            }
        };
        let mut response = (
            status,
            Json(ErrorBody {
                error: code.to_string(),
                message,
            }),
        )
            .into_response();
        if let AppError::Throttled { retry_after } = &self {
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            if let Ok(value) = axum::http::HeaderValue::from_str(&seconds.max(1).to_string()) {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, value);
            }
        }
        response
    }
}
