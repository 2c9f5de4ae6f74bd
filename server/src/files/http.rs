//! The device routes for files (docs/protocol.md, "Files"):
//!
//! - `POST /v1/files/status`: what the server holds of each file;
//! - `PATCH /v1/files/{sha256}`: the next bytes of an upload, written to
//!   the device's partial as they arrive (one frame in memory at a time),
//!   so that a cut connection keeps everything that reached the server;
//! - `GET /v1/files/{sha256}`: a whole file, to a device whose scope holds
//!   a household whose visit names it.
//!
//! Logs name files by their SHA-256 and sizes only.

use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use doorstep_protocol::files::{
    FileState, FileStatusRequest, FileStatusResponse, FileUploadResponse, MAX_STATUS_FILES,
    UPLOAD_CONTENT_TYPE, UPLOAD_LENGTH, UPLOAD_MEDIA_TYPE, UPLOAD_OFFSET,
};
use doorstep_protocol::limits::MAX_FILE_BYTES;
use doorstep_protocol::{PROTOCOL_VERSION, is_file_reference};
use hyper::body::Body as _;
use std::io::{Read, Write};
use uuid::Uuid;

use super::{Files, sanitize_media_type};
use crate::app::{AppState, FileDevice, check_protocol};
use crate::error::AppError;
use crate::net::body::BodyTimeout;
use crate::store::{FileRecord, StoreError};
use crate::wire::{AcceptZstd, WireJson, WireResponse};

/// Bytes of unfinished uploads one device may hold on the server: an
/// honest phone sends one file at a time (20 MiB at most); a hostile one
/// cannot fill the disk with uploads it never finishes.
pub const MAX_PARTIAL_BYTES_PER_DEVICE: u64 = 256 * 1024 * 1024;

/// A status request: up to [`MAX_STATUS_FILES`] references and sizes.
pub const STATUS_REQUEST_BYTES: usize = 128 * 1024;

/// What a device or an account is told of a file it may not have, or that
/// does not exist: the same words either way.
pub const NO_SUCH_FILE: &str = "no such file for this device";

fn io_error(error: std::io::Error) -> AppError {
    AppError::Internal(format!("file store: {error}"))
}

/// Runs blocking file work off the async workers.
async fn blocking_io<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| AppError::Internal(format!("worker failed: {error}")))?
        .map_err(io_error)
}

async fn blocking_store<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, AppError> {
    crate::app::blocking(work).await
}

fn check_reference(sha256: &str) -> Result<(), AppError> {
    if is_file_reference(sha256) {
        Ok(())
    } else {
        Err(AppError::BadRequest(
            "a file is named by its SHA-256: 64 lower-case hex digits".into(),
        ))
    }
}

#[tracing::instrument(skip_all, fields(device = %auth.device_id, files = request.files.len()))]
pub async fn status(
    State(state): State<AppState>,
    FileDevice(auth): FileDevice,
    accept: AcceptZstd,
    WireJson(request): WireJson<FileStatusRequest, STATUS_REQUEST_BYTES>,
) -> Result<WireResponse, AppError> {
    check_protocol(request.protocol)?;
    if request.files.len() > MAX_STATUS_FILES {
        return Err(AppError::BadRequest(format!(
            "a status request asks about at most {MAX_STATUS_FILES} files; this one asks about {}",
            request.files.len()
        )));
    }
    for offer in &request.files {
        check_reference(&offer.sha256)?;
    }
    let references: Vec<String> = request.files.iter().map(|f| f.sha256.clone()).collect();
    let store = Arc::clone(&state.store);
    let asked = references.clone();
    let known = blocking_store(move || store.file_states(auth, &asked)).await?;
    let partials = Arc::clone(&state.files.partials);
    let device = auth.device_id;
    let offsets = blocking_io(move || {
        references
            .iter()
            .map(|reference| partials.len(device, reference))
            .collect::<std::io::Result<Vec<u64>>>()
    })
    .await?;
    let files = request
        .files
        .into_iter()
        .zip(known)
        .zip(offsets)
        .map(|((offer, (stored, expected)), offset)| FileState {
            sha256: offer.sha256,
            complete: stored.is_some(),
            offset: stored.as_ref().map_or(offset, |file| file.size),
            expected: expected || stored.is_some(),
        })
        .collect();
    WireResponse::new(
        accept,
        &FileStatusResponse {
            protocol: PROTOCOL_VERSION,
            files,
        },
    )
}

/// A number in a request header.
fn number_header(headers: &HeaderMap, name: &str) -> Result<u64, AppError> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<u64>().ok())
        .ok_or_else(|| AppError::BadRequest(format!("an upload needs the {name} header (bytes)")))
}

fn uploaded(accept: AcceptZstd, offset: u64, complete: bool) -> Result<Response, AppError> {
    Ok(WireResponse::new(
        accept,
        &FileUploadResponse {
            protocol: PROTOCOL_VERSION,
            offset,
            complete,
        },
    )?
    .into_response())
}

/// 409 with the offset the server holds, for a device to resume from.
fn wrong_offset(held: u64, sent: u64) -> Response {
    let mut response = AppError::Conflict(format!(
        "the server holds {held} bytes of this upload, not {sent}; resume from {held}"
    ))
    .into_response();
    response
        .headers_mut()
        .insert(UPLOAD_OFFSET, HeaderValue::from(held));
    response
}

#[tracing::instrument(skip_all, fields(device = %auth.device_id, file = %sha256))]
pub async fn upload(
    State(state): State<AppState>,
    FileDevice(auth): FileDevice,
    accept: AcceptZstd,
    Path(sha256): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    check_reference(&sha256)?;
    let offset = number_header(&headers, UPLOAD_OFFSET)?;
    let length = number_header(&headers, UPLOAD_LENGTH)?;
    if length > MAX_FILE_BYTES {
        return Err(AppError::TooLarge {
            limit: usize::try_from(MAX_FILE_BYTES).unwrap_or(usize::MAX),
        });
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if !content_type.eq_ignore_ascii_case(UPLOAD_CONTENT_TYPE) {
        return Err(AppError::BadRequest(format!(
            "an upload's body is raw bytes, sent as {UPLOAD_CONTENT_TYPE}"
        )));
    }
    let media_type = sanitize_media_type(
        headers
            .get(UPLOAD_MEDIA_TYPE)
            .and_then(|value| value.to_str().ok()),
    );
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    let files = state.files.clone();

    // Already here (from any device): nothing to keep.
    let store = Arc::clone(&state.store);
    let reference = sha256.clone();
    let (stored, expected) = blocking_store(move || {
        Ok(store
            .file_states(auth, &[reference])?
            .pop()
            .unwrap_or((None, false)))
    })
    .await?;
    if let Some(stored) = stored {
        // Another device finished it: this device's part is not needed.
        let partials = Arc::clone(&files.partials);
        let (device, reference) = (auth.device_id, sha256.clone());
        blocking_io(move || partials.remove(device, &reference)).await?;
        return uploaded(accept, stored.size, true);
    }
    if !expected {
        return Err(AppError::Conflict(
            "no visit pushed by this device names this file: push the visit that names this file first"
                .into(),
        ));
    }
    // In the store but not recorded (a crash between the two): record it.
    let store_files = Arc::clone(&files.store);
    let reference = sha256.clone();
    if let Some(size) = blocking_io(move || store_files.size(&reference)).await?
        && size == length
    {
        let file = record(&state, &sha256, size, &media_type).await?;
        return uploaded(accept, file.size, true);
    }

    let device = auth.device_id;
    let _guard = files.locks.of(device, &sha256).lock().await;
    let partials = Arc::clone(&files.partials);
    let reference = sha256.clone();
    let held = blocking_io(move || partials.len(device, &reference)).await?;
    if held > length {
        // Kept under another length: it cannot be this file. Start again.
        let partials = Arc::clone(&files.partials);
        let reference = sha256.clone();
        blocking_io(move || partials.remove(device, &reference)).await?;
        return Ok(wrong_offset(0, offset));
    }
    if offset != held {
        return Ok(wrong_offset(held, offset));
    }
    let partials = Arc::clone(&files.partials);
    let others = blocking_io(move || partials.held_by(device))
        .await?
        .saturating_sub(held);
    if others.saturating_add(length) > MAX_PARTIAL_BYTES_PER_DEVICE {
        tracing::warn!(others, length, "a device holds too many unfinished uploads");
        return Err(AppError::Throttled {
            retry_after: std::time::Duration::from_secs(3600),
        });
    }
    if announced.is_some_and(|bytes| offset.saturating_add(bytes) > length) {
        return Err(AppError::BadRequest(format!(
            "the body runs past the file's length ({length} bytes)"
        )));
    }

    let received = receive(&state, &files, device, &sha256, offset, length, body).await?;
    let now_held = offset + received;
    tracing::debug!(received, held = now_held, length, "upload bytes kept");
    if now_held < length {
        return uploaded(accept, now_held, false);
    }
    let partials = Arc::clone(&files.partials);
    let reference = sha256.clone();
    let matches = blocking_io(move || partials.matches(device, &reference)).await?;
    if !matches {
        let partials = Arc::clone(&files.partials);
        let reference = sha256.clone();
        blocking_io(move || partials.remove(device, &reference)).await?;
        tracing::warn!(
            length,
            "an upload did not match its name; its bytes were dropped"
        );
        return Err(AppError::Unprocessable(
            "the bytes do not match their name; upload again from the start".into(),
        ));
    }
    let store_files = Arc::clone(&files.store);
    let from = files.partials.path(device, &sha256);
    let reference = sha256.clone();
    blocking_io(move || store_files.keep(&reference, &from)).await?;
    let file = record(&state, &sha256, length, &media_type).await?;
    tracing::info!(size = file.size, "file arrived whole");
    uploaded(accept, file.size, true)
}

async fn record(
    state: &AppState,
    sha256: &str,
    size: u64,
    media_type: &str,
) -> Result<FileRecord, AppError> {
    let store = Arc::clone(&state.store);
    let file = FileRecord {
        sha256: sha256.to_owned(),
        size,
        media_type: media_type.to_owned(),
    };
    blocking_store(move || store.record_stored_file(&file, Utc::now())).await
}

/// Appends the body to the device's partial as it arrives, each piece
/// written and flushed before the next is read. When the body breaks off,
/// what was written is flushed to disk and kept; the request then fails.
/// Returns the bytes written.
async fn receive(
    state: &AppState,
    files: &Files,
    device: Uuid,
    sha256: &str,
    offset: u64,
    length: u64,
    mut body: Body,
) -> Result<u64, AppError> {
    let partials = Arc::clone(&files.partials);
    let reference = sha256.to_owned();
    let mut file = Some(blocking_io(move || partials.open_append(device, &reference)).await?);
    let mut written: u64 = 0;
    let outcome = loop {
        let frame = std::future::poll_fn(|context| Pin::new(&mut body).poll_frame(context)).await;
        let data = match frame {
            None => break Ok(()),
            Some(Err(error)) => {
                break Err(match BodyTimeout::find(&error) {
                    Some(timeout) => AppError::Timeout(timeout.to_string()),
                    None => AppError::BadRequest(format!("the body broke off: {error}")),
                });
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
        };
        let size = data.len() as u64;
        if offset + written + size > length {
            break Err(AppError::BadRequest(format!(
                "the body runs past the file's length ({length} bytes)"
            )));
        }
        let Some(mut open) = file.take() else {
            break Err(AppError::Internal("the upload's file was lost".into()));
        };
        match blocking_io(move || {
            open.write_all(&data)?;
            open.flush()?;
            Ok(open)
        })
        .await
        {
            Ok(open) => file = Some(open),
            Err(error) => break Err(error),
        }
        written += size;
    };
    // Durable before it is acknowledged, and kept when the body broke off.
    let synced = match file {
        Some(open) => blocking_io(move || open.sync_data()).await,
        None => Ok(()),
    };
    state.metrics.record_file_bytes(written);
    if let Err(error) = &outcome {
        tracing::info!(written, kept = offset + written, %error, "upload cut; its bytes are kept");
    }
    outcome?;
    synced?;
    Ok(written)
}

#[tracing::instrument(skip_all, fields(device = %auth.device_id, file = %sha256))]
pub async fn download(
    State(state): State<AppState>,
    FileDevice(auth): FileDevice,
    Path(sha256): Path<String>,
) -> Result<Response, AppError> {
    if !is_file_reference(&sha256) {
        return Err(AppError::NotFound(NO_SUCH_FILE.into()));
    }
    let store = Arc::clone(&state.store);
    let reference = sha256.clone();
    let Some(file) = blocking_store(move || store.device_file(auth, &reference)).await? else {
        return Err(AppError::NotFound(NO_SUCH_FILE.into()));
    };
    let body = file_body(&state.files, &file).await?;
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&file.media_type) {
        headers.insert(CONTENT_TYPE, value);
    }
    headers.insert(CONTENT_LENGTH, HeaderValue::from(file.size));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

/// A whole file as a response body, read in 64 KiB pieces as it is sent.
pub async fn file_body(files: &Files, file: &FileRecord) -> Result<Body, AppError> {
    let store = Arc::clone(&files.store);
    let reference = file.sha256.clone();
    let size = file.size;
    let mut reader = blocking_io(move || store.open(&reference, size)).await?;
    let (sender, receiver) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(2);
    tokio::task::spawn_blocking(move || {
        loop {
            let mut buffer = vec![0u8; 64 * 1024];
            match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => {
                    buffer.truncate(read);
                    if sender.blocking_send(Ok(buffer)).is_err() {
                        break;
                    }
                }
                Err(error) => {
                    let _ = sender.blocking_send(Err(error));
                    break;
                }
            }
        }
    });
    Ok(Body::new(ReceivedBody(receiver)))
}

/// The pieces a reading thread sends, as a response body.
struct ReceivedBody(tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>);

impl hyper::body::Body for ReceivedBody {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        self.0.poll_recv(context).map(|piece| {
            piece.map(|piece| piece.map(|bytes| hyper::body::Frame::data(bytes.into())))
        })
    }
}
