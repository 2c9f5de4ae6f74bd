//! Request and response bodies on the wire: JSON, compressed with zstd when
//! the client says so (`Content-Encoding: zstd` on requests,
//! `Accept-Encoding: zstd` for responses). Decompression is bounded, so a
//! small hostile body cannot expand into gigabytes.

use std::io::Read;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use doorstep_protocol::ENCODING_ZSTD;
use doorstep_protocol::limits::MAX_REQUEST_BYTES;
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
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::TooLarge { limit: LIMIT }
                } else if let Some(timeout) = BodyTimeout::find(&rejection) {
                    AppError::Timeout(timeout.to_string())
                } else {
                    AppError::BadRequest(format!("could not read the request body: {rejection}"))
                }
            })?;
        if bytes.len() > LIMIT {
            return Err(AppError::TooLarge { limit: LIMIT });
        }
        if LIMIT <= INLINE_DECODE_BYTES {
            return decode(&bytes, zstd, LIMIT).map(WireJson);
        }
        // Large bodies are decoded off the async workers, a few at a time:
        // memory stays bounded however many arrive at once.
        let _permit = DECODING
            .acquire()
            .await
            .map_err(|_| AppError::Internal("the decoder is closed".into()))?;
        tokio::task::spawn_blocking(move || decode(&bytes, zstd, LIMIT))
            .await
            .map_err(|error| AppError::Internal(format!("decoder failed: {error}")))?
            .map(WireJson)
    }
}

/// Bodies whose limit is at most this are decoded where they arrive.
const INLINE_DECODE_BYTES: usize = 64 * 1024;

/// Large bodies decoded at once, at most.
static DECODING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

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

/// A JSON response, compressed when the client accepts zstd.
#[derive(Debug)]
pub struct WireResponse {
    body: Vec<u8>,
    zstd: bool,
}

impl WireResponse {
    pub fn new<T: Serialize>(accept: AcceptZstd, value: &T) -> Result<WireResponse, AppError> {
        let json =
            serde_json::to_vec(value).map_err(|error| AppError::Internal(error.to_string()))?;
        if accept.0 && json.len() >= COMPRESS_FROM {
            let body = zstd::encode_all(json.as_slice(), ZSTD_LEVEL)
                .map_err(|error| AppError::Internal(error.to_string()))?;
            Ok(WireResponse { body, zstd: true })
        } else {
            Ok(WireResponse {
                body: json,
                zstd: false,
            })
        }
    }
}

impl IntoResponse for WireResponse {
    fn into_response(self) -> Response {
        let mut response = self.body.into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
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
