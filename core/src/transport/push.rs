//! A push over HTTP: in columns (`doorstep_protocol::columns`, compressed
//! with zstd), the answer asked for in columns too; JSON for a server that
//! refuses them.
//!
//! A server older than the columns reads the body as JSON and answers
//! `400`; a server that knows a later version only answers `415`. Either
//! way nothing was stored, and the same push goes again at once as JSON,
//! as many changes of it as every server takes ([`JSON_PUSH_CHANGES`]):
//! the engine sees an answer that settles the first part of its batch and
//! sends the rest next. The transport remembers the refusal and sends JSON
//! from then on. That is one exchange refused per transport (per sync run)
//! while a county's server is older than its phones.

use std::sync::atomic::Ordering;

use doorstep_protocol::columns::{self, COLUMNS_MEDIA_TYPE};
use doorstep_protocol::{PushRequest, PushResponse, routes};
use reqwest::header::ACCEPT;

use super::TransportError;
use super::http::HttpTransport;

/// Compression of a columnar push: the columns are small, so a higher
/// level than JSON's costs a phone little and saves bytes on a weak link.
pub const COLUMNS_ZSTD_LEVEL: i32 = 9;

/// Changes in one JSON push at most: what every server takes (a server
/// older than the columns takes no more than this in one push).
pub const JSON_PUSH_CHANGES: usize = 1000;

/// What the device accepts for a push's answer, best first.
const ACCEPT_ANSWER: &str = "application/vnd.doorstep.columns.v1, application/json;q=0.5";

pub(super) fn push(
    transport: &HttpTransport,
    token: &str,
    request: &PushRequest,
) -> Result<PushResponse, TransportError> {
    if !transport.json_only().load(Ordering::Relaxed) {
        match push_columns(transport, token, request) {
            Err(TransportError::Refused {
                status: status @ (400 | 415),
                message,
            }) => {
                tracing::warn!(
                    status,
                    %message,
                    "the server does not read columnar pushes; sending JSON"
                );
                transport.json_only().store(true, Ordering::Relaxed);
            }
            other => return other,
        }
    }
    push_json(transport, token, request)
}

fn push_columns(
    transport: &HttpTransport,
    token: &str,
    request: &PushRequest,
) -> Result<PushResponse, TransportError> {
    let body = columns::encode_push(request)
        .map_err(|error| TransportError::Protocol(error.to_string()))?;
    let http = transport
        .compressed_post(routes::PUSH, &body, COLUMNS_ZSTD_LEVEL, COLUMNS_MEDIA_TYPE)?
        .header(ACCEPT, ACCEPT_ANSWER);
    let (answer, content_type) = transport.fetch(http, Some(token))?;
    let in_columns = content_type
        .as_deref()
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case(COLUMNS_MEDIA_TYPE));
    if in_columns {
        columns::decode_push_response(&answer)
            .map_err(|error| TransportError::Protocol(error.to_string()))
    } else {
        serde_json::from_slice(&answer).map_err(|error| TransportError::Protocol(error.to_string()))
    }
}

fn push_json(
    transport: &HttpTransport,
    token: &str,
    request: &PushRequest,
) -> Result<PushResponse, TransportError> {
    if request.changes.len() <= JSON_PUSH_CHANGES {
        return transport.post(routes::PUSH, Some(token), request);
    }
    let left_out = (request.changes.len() - JSON_PUSH_CHANGES) as u64;
    let first = PushRequest {
        protocol: request.protocol,
        changes: request.changes[..JSON_PUSH_CHANGES].to_vec(),
        pending: request
            .pending
            .map(|pending| pending.saturating_add(left_out)),
    };
    transport.post(routes::PUSH, Some(token), &first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_asks_for_columns_first() {
        assert!(ACCEPT_ANSWER.starts_with(COLUMNS_MEDIA_TYPE));
    }
}
