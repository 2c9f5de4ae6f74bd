//! Request and response bodies on the wire: JSON, compressed with zstd when
//! the client says so (`Content-Encoding: zstd` on requests,
//! `Accept-Encoding: zstd` for responses), and for a push the columnar
//! encoding when the client sends or accepts it (`doorstep_protocol::columns`).
//! Decompression and decoding are bounded, so a small hostile body cannot
//! expand into gigabytes.

use std::io::Read;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use doorstep_protocol::limits::MAX_REQUEST_BYTES;
use doorstep_protocol::{COLUMNS_MEDIA_TYPE, ENCODING_ZSTD, PushRequest, PushResponse, columns};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::net::body::BodyTimeout;

/// Responses smaller than this are not worth compressing.
const COMPRESS_FROM: usize = 256;
const ZSTD_LEVEL: i32 = 3;

/// A JSON request body, zstd-compressed or not, of at most `LIMIT` bytes
/// both as received and after decompression (a small hostile body cannot
/// inflate into more).
#[derive(Debug)]
pub struct WireJson<T, const LIMIT: usize = MAX_REQUEST_BYTES>(pub T);

impl<T: DeserializeOwned + Send + 'static, S: Send + Sync, const LIMIT: usize> FromRequest<S>
    for WireJson<T, LIMIT>
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        let zstd = has_token(request.headers(), CONTENT_ENCODING, ENCODING_ZSTD);
        let bytes = read_body(request, state, LIMIT).await?;
        off_workers(LIMIT, move || decode(&bytes, zstd, LIMIT))
            .await
            .map(WireJson)
    }
}

/// A push body: JSON, or the columnar encoding when its `Content-Type` is
/// [`COLUMNS_MEDIA_TYPE`] (docs/protocol.md, "Columnar push"); zstd or
/// not. Either way at most [`MAX_REQUEST_BYTES`] as received, decompressed
/// and decoded (columns spend from the same budget as JSON would).
#[derive(Debug)]
pub struct WirePush(pub PushRequest);

impl<S: Send + Sync> FromRequest<S> for WirePush {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        let columns = body_is_columns(request.headers())?;
        let zstd = has_token(request.headers(), CONTENT_ENCODING, ENCODING_ZSTD);
        let bytes = read_body(request, state, MAX_REQUEST_BYTES).await?;
        off_workers(MAX_REQUEST_BYTES, move || {
            if columns {
                decode_columns(&bytes, zstd, MAX_REQUEST_BYTES)
            } else {
                decode(&bytes, zstd, MAX_REQUEST_BYTES)
            }
        })
        .await
        .map(WirePush)
    }
}

/// Whether a body is columnar; a Doorstep media type this server does not
/// know (a later version) is `415`, so that the device sends JSON instead.
/// Anything else is read as JSON, as before the columns existed.
fn body_is_columns(headers: &HeaderMap) -> Result<bool, AppError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(false);
    };
    let media_type = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    if media_type.eq_ignore_ascii_case(COLUMNS_MEDIA_TYPE) {
        Ok(true)
    } else if media_type
        .to_ascii_lowercase()
        .starts_with("application/vnd.doorstep.")
    {
        Err(AppError::UnsupportedMediaType(format!(
            "this server reads JSON and {COLUMNS_MEDIA_TYPE}, not {media_type}"
        )))
    } else {
        Ok(false)
    }
}

/// The body, at most `limit` bytes as received.
async fn read_body<S: Send + Sync>(
    request: Request,
    state: &S,
    limit: usize,
) -> Result<Bytes, AppError> {
    let bytes = Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::TooLarge { limit }
            } else if let Some(timeout) = BodyTimeout::find(&rejection) {
                AppError::Timeout(timeout.to_string())
            } else {
                AppError::BadRequest(format!("could not read the request body: {rejection}"))
            }
        })?;
    if bytes.len() > limit {
        return Err(AppError::TooLarge { limit });
    }
    Ok(bytes)
}

/// Runs a decoder: where the body arrived when its limit is small; large
/// bodies off the async workers, a few at a time, so that memory stays
/// bounded however many arrive at once.
async fn off_workers<T: Send + 'static>(
    limit: usize,
    decoder: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    if limit <= INLINE_DECODE_BYTES {
        return decoder();
    }
    let _permit = DECODING
        .acquire()
        .await
        .map_err(|_| AppError::Internal("the decoder is closed".into()))?;
    tokio::task::spawn_blocking(decoder)
        .await
        .map_err(|error| AppError::Internal(format!("decoder failed: {error}")))?
}

/// Bodies whose limit is at most this are decoded where they arrive.
const INLINE_DECODE_BYTES: usize = 64 * 1024;

/// Large bodies decoded at once, at most.
static DECODING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

fn decode_columns(bytes: &[u8], zstd: bool, limit: usize) -> Result<PushRequest, AppError> {
    let decompressed;
    let body = if zstd {
        decompressed = decompress(bytes, limit)?;
        decompressed.as_slice()
    } else {
        bytes
    };
    columns::decode_push(body, limit)
        .map_err(|error| AppError::BadRequest(format!("malformed columnar body: {error}")))
}

fn decode<T: DeserializeOwned>(bytes: &[u8], zstd: bool, limit: usize) -> Result<T, AppError> {
    let decompressed;
    let json = if zstd {
        decompressed = decompress(bytes, limit)?;
        decompressed.as_slice()
    } else {
        bytes
    };
    serde_json::from_slice(json)
        .map_err(|error| AppError::BadRequest(format!("malformed request body: {error}")))
}

/// The window a zstd frame may ask the decoder to allocate, as a power of
/// two: no more than the body may hold (a frame that asks for more is
/// refused before anything is allocated).
fn window_log(limit: usize) -> u32 {
    (usize::BITS - limit.saturating_sub(1).leading_zeros()).clamp(10, 27)
}

fn decompress(bytes: &[u8], limit: usize) -> Result<Vec<u8>, AppError> {
    let mut decoder = zstd::stream::read::Decoder::new(bytes)
        .map_err(|error| AppError::BadRequest(format!("bad zstd body: {error}")))?;
    decoder
        .window_log_max(window_log(limit))
        .map_err(|error| AppError::BadRequest(format!("bad zstd body: {error}")))?;
    // A frame whose window is larger than the body may be is refused by the
    // decoder before it allocates: that is a body too large.
    let too_large = |error: &std::io::Error| error.to_string().contains("too much memory");
    let mut json = Vec::new();
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut json)
        .map_err(|error| {
            if too_large(&error) {
                AppError::TooLarge { limit }
            } else {
                AppError::BadRequest(format!("bad zstd body: {error}"))
            }
        })?;
    if json.len() > limit {
        return Err(AppError::TooLarge { limit });
    }
    Ok(json)
}

/// Whether the client accepts zstd-compressed responses.
#[derive(Debug, Clone, Copy)]
pub struct AcceptZstd(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for AcceptZstd {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(AcceptZstd(has_token(
            &parts.headers,
            ACCEPT_ENCODING,
            ENCODING_ZSTD,
        )))
    }
}

/// Whether the client accepts a push's answer in columns (`Accept` names
/// [`COLUMNS_MEDIA_TYPE`]).
#[derive(Debug, Clone, Copy)]
pub struct AcceptColumns(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for AcceptColumns {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(AcceptColumns(has_token(
            &parts.headers,
            ACCEPT,
            COLUMNS_MEDIA_TYPE,
        )))
    }
}

/// A response body, compressed when the client accepts zstd: JSON, or a
/// push's answer in columns.
#[derive(Debug)]
pub struct WireResponse {
    body: Vec<u8>,
    zstd: bool,
    content_type: &'static str,
}

impl WireResponse {
    pub fn new<T: Serialize>(accept: AcceptZstd, value: &T) -> Result<WireResponse, AppError> {
        let json =
            serde_json::to_vec(value).map_err(|error| AppError::Internal(error.to_string()))?;
        WireResponse::compressed(accept, json, "application/json")
    }

    /// A push's answer: in columns when the client accepts them.
    pub fn push(
        accept: AcceptZstd,
        columns: AcceptColumns,
        value: &PushResponse,
    ) -> Result<WireResponse, AppError> {
        if columns.0 {
            let body = columns::encode_push_response(value);
            WireResponse::compressed(accept, body, COLUMNS_MEDIA_TYPE)
        } else {
            WireResponse::new(accept, value)
        }
    }

    fn compressed(
        accept: AcceptZstd,
        body: Vec<u8>,
        content_type: &'static str,
    ) -> Result<WireResponse, AppError> {
        if accept.0 && body.len() >= COMPRESS_FROM {
            let body = zstd::encode_all(body.as_slice(), ZSTD_LEVEL)
                .map_err(|error| AppError::Internal(error.to_string()))?;
            Ok(WireResponse {
                body,
                zstd: true,
                content_type,
            })
        } else {
            Ok(WireResponse {
                body,
                zstd: false,
                content_type,
            })
        }
    }
}

impl IntoResponse for WireResponse {
    fn into_response(self) -> Response {
        let mut response = self.body.into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        if self.zstd {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static(ENCODING_ZSTD));
        }
        response
    }
}

fn has_token(headers: &HeaderMap, name: axum::http::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .to_str()
            .map(|text| {
                text.split(',').any(|part| {
                    part.split(';')
                        .next()
                        .is_some_and(|name| name.trim().eq_ignore_ascii_case(token))
                })
            })
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_body_cannot_inflate_or_ask_for_a_large_window() {
        let limit = 4 * 1024;
        assert_eq!(window_log(limit), 12);
        assert_eq!(window_log(8 * 1024 * 1024), 23);
        // What a device sends: compressed in one go, so the frame names its
        // size and needs no larger window.
        let json = br#"{"protocol":1,"code":"ABCDE-FGHJK"}"#;
        let body = zstd::bulk::compress(json, 3).expect("compress");
        assert_eq!(decompress(&body, limit).expect("fits"), json);
        // A bomb: 1 KB that inflates to 32 MiB.
        let bomb = zstd::encode_all(vec![0u8; 32 * 1024 * 1024].as_slice(), 19).expect("bomb");
        assert!(bomb.len() < 4 * 1024);
        assert!(matches!(
            decompress(&bomb, limit),
            Err(AppError::TooLarge { .. } | AppError::BadRequest(_))
        ));
    }
}
