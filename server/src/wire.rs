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
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::net::body::BodyTimeout;

/// Largest request body accepted after decompression.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Responses smaller than this are not worth compressing.
const COMPRESS_FROM: usize = 256;
const ZSTD_LEVEL: i32 = 3;

/// A JSON request body, zstd-compressed or not.
#[derive(Debug)]
pub struct WireJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for WireJson<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        let zstd = has_token(request.headers(), CONTENT_ENCODING, ENCODING_ZSTD);
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::TooLarge {
                        limit: MAX_BODY_BYTES,
                    }
                } else if let Some(timeout) = BodyTimeout::find(&rejection) {
                    AppError::Timeout(timeout.to_string())
                } else {
                    AppError::BadRequest(format!("could not read the request body: {rejection}"))
                }
            })?;
        let json = if zstd {
            decompress(&bytes)?
        } else {
            bytes.to_vec()
        };
        serde_json::from_slice(&json)
            .map(WireJson)
            .map_err(|error| AppError::BadRequest(format!("malformed request body: {error}")))
    }
}

fn decompress(bytes: &[u8]) -> Result<Vec<u8>, AppError> {
    let decoder = zstd::stream::read::Decoder::new(bytes)
        .map_err(|error| AppError::BadRequest(format!("bad zstd body: {error}")))?;
    let mut json = Vec::new();
    decoder
        .take(MAX_BODY_BYTES as u64 + 1)
        .read_to_end(&mut json)
        .map_err(|error| AppError::BadRequest(format!("bad zstd body: {error}")))?;
    if json.len() > MAX_BODY_BYTES {
        return Err(AppError::TooLarge {
            limit: MAX_BODY_BYTES,
        });
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
