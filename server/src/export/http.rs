//! The export as an HTTP download, for the routes that mount it (the
//! console's `GET /console/export/visits`, the admin API's
//! `GET /admin/v1/exports/visits`): [`visits_response`] with the caller's
//! [`Scope`] and its [`ExportQuery`].
//!
//! Everything that can be refused is checked before the first byte (the
//! area in the scope, the one form version, the table), so a refusal is a
//! plain `400`/`404` and not half a file. Then:
//!
//! - CSV and JSON lines stream: a blocking task reads the store's cursor
//!   and writes rows into a bounded channel of 64 KiB chunks that the
//!   response body drains, so at most a few chunks wait in memory however
//!   many visits there are, and a client that stops reading stops the
//!   reader. A failure half-way aborts the body: the client sees a broken
//!   transfer (no final chunk), never a file that merely looks short.
//! - An XLSX workbook is a zip that is whole only at its end, so it cannot
//!   be sent while it is written: it is built in a temporary directory
//!   beside the database (rust_xlsxwriter's constant-memory mode: each
//!   sheet spills to a file there), then sent from the file with its
//!   `Content-Length`, and the directory is deleted when the last byte is
//!   sent or the client goes. A client that goes while it is being built
//!   stops the build at the next row.
//!
//! At most [`EXPORTS_AT_ONCE`] exports run at once; more wait their turn.
//! While one streams it holds a read transaction open (SQLite's WAL grows
//! until it ends; a client that stops reading is cut off by the connection
//! layer's write-stall timeout).

use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use hyper::body::{Bytes, Frame, SizeHint};
use tokio::sync::{Semaphore, SemaphorePermit, mpsc};

use super::layout::{Cell, ChoiceText};
use super::query::{ExportFormat, ExportQuery};
use super::{CsvSink, ExportError, Sink, TableExport, XlsxSink, write_jsonl};
use crate::error::AppError;
use crate::files::Files;
use crate::store::{Scope, ServerStore, VisitFilter};

/// Exports running at once (each keeps a core busy; an XLSX one also
/// writes its sheets to disk).
pub const EXPORTS_AT_ONCE: usize = 2;
static EXPORTS: Semaphore = Semaphore::const_new(EXPORTS_AT_ONCE);

/// Bytes in one chunk of the body.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks waiting between the writer and the connection, at most.
const CHANNEL_CHUNKS: usize = 4;

/// UTF-8's byte-order mark, which Excel and WPS need to read a CSV file as
/// UTF-8 (without it they take the Chinese for GBK).
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The export `query` asks for, of the visits `scope` reaches, as a
/// download: a streamed `200`, or an error response when it cannot be
/// made (`400` for a question it cannot answer, `404` for an area outside
/// the scope or no visits to lay out).
pub async fn visits_response(
    store: Arc<ServerStore>,
    files: Files,
    scope: Scope,
    query: ExportQuery,
) -> Response {
    match respond(store, files, scope, query).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn respond(
    store: Arc<ServerStore>,
    files: Files,
    scope: Scope,
    query: ExportQuery,
) -> Result<Response, AppError> {
    let permit = EXPORTS
        .acquire()
        .await
        .map_err(|error| AppError::Internal(format!("export permits: {error}")))?;
    let started = Instant::now();
    let name = query.file_name(&scope, Utc::now().date_naive());
    let filter = query.filter(scope);
    let head = Head {
        format: query.format,
        name,
        started,
    };
    match query.format {
        ExportFormat::Jsonl => {
            // The area is checked ("not found") before the first byte.
            let checked = filter.clone();
            let reader = Arc::clone(&store);
            blocking(move || Ok(reader.export_form_versions(&checked)?)).await?;
            Ok(stream(head, None, permit, move |out| {
                write_jsonl(&store, &filter, out)
            }))
        }
        ExportFormat::Csv => {
            let reader = Arc::clone(&store);
            let choices = query.choices;
            let prepared =
                blocking(move || TableExport::prepare(&reader, &filter, choices)).await?;
            let table = match &query.table {
                None => 0,
                Some(table) => prepared.layout.table(table).ok_or_else(|| {
                    AppError::BadRequest(format!(
                        "table must be one of this form's: {}",
                        prepared.layout.table_names().join(", ")
                    ))
                })?,
            };
            Ok(stream(head, None, permit, move |out| {
                out.write_all(BOM)?;
                let mut sink =
                    CsvSink::one(&prepared.layout.tables, table, "response", Box::new(out))?
                        .for_spreadsheets();
                let count = prepared.write(&store, &mut sink)?;
                Box::new(sink).finish()?;
                Ok(count)
            }))
        }
        ExportFormat::Files => {
            let reader = Arc::clone(&store);
            let list = blocking(move || Ok(reader.export_files(&filter)?)).await?;
            if list.is_empty() {
                return Err(AppError::NotFound(
                    "none of these visits' files has arrived".into(),
                ));
            }
            Ok(stream(head, None, permit, move |out| {
                super::write_files_zip(&files, &list, out)
            }))
        }
        ExportFormat::Xlsx => {
            let cancelled = CancelOnDrop::default();
            let flag = Arc::clone(&cancelled.0);
            let choices = query.choices;
            let workbook =
                blocking(move || build_workbook(&store, &filter, choices, &flag)).await?;
            drop(cancelled);
            let size = workbook.bytes;
            Ok(stream(head, Some(size), permit, move |out| {
                std::io::copy(&mut &workbook.file, out)?;
                // The directory (and the workbook in it) goes once it is sent.
                let visits = workbook.visits;
                drop(workbook);
                Ok(visits)
            }))
        }
    }
}

/// Runs export work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ExportError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| AppError::Internal(format!("export worker failed: {error}")))?
        .map_err(refusal)
}

/// The response for an export that cannot be made.
fn refusal(error: ExportError) -> AppError {
    match error {
        ExportError::Store(error) => AppError::from(error),
        ExportError::NoVisits => AppError::NotFound("no visits match these filters".into()),
        ExportError::SeveralVersions(versions) => AppError::BadRequest(format!(
            "the visits chosen are of {} form versions, and each has its own columns: \
             give form_version (one of: {})",
            versions.len(),
            ExportError::version_list(&versions)
        )),
        ExportError::TooManyRows(message) => AppError::BadRequest(message),
        other => AppError::Internal(other.to_string()),
    }
}

/// What the response says of itself.
struct Head {
    format: ExportFormat,
    name: String,
    started: Instant,
}

/// A `200` whose body `produce` writes from a blocking task, through a
/// bounded channel. `size`: the body's exact length, when known.
fn stream(
    head: Head,
    size: Option<u64>,
    permit: SemaphorePermit<'static>,
    produce: impl FnOnce(&mut ChannelWriter) -> Result<u64, ExportError> + Send + 'static,
) -> Response {
    let (sender, receiver) = mpsc::channel(CHANNEL_CHUNKS);
    let format = head.format;
    let started = head.started;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut writer = ChannelWriter::new(sender);
        let result = produce(&mut writer).and_then(|visits| {
            writer.flush()?;
            Ok(visits)
        });
        match result {
            Ok(visits) => tracing::info!(
                ?format,
                visits,
                bytes = writer.sent,
                elapsed_ms = started.elapsed().as_millis(),
                "export sent"
            ),
            Err(ExportError::Io(error)) if writer.closed => {
                tracing::info!(?format, %error, "export abandoned by the client");
            }
            Err(error) => {
                tracing::error!(?format, %error, "export failed while it was being sent");
                // The body ends in an error: the connection is cut before
                // the end, so the client cannot take it for a whole file.
                let _ = writer
                    .sender
                    .blocking_send(Err(std::io::Error::other("the export failed")));
            }
        }
    });
    let mut response = Response::new(Body::new(ChannelBody { receiver, size }));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(head.format.content_type()),
    );
    // The name holds only ASCII letters, digits, `-`, `_` and `.`.
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", head.name)) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Writes into the channel in chunks of [`CHUNK_BYTES`], waiting while it
/// is full; fails once the body is gone.
#[derive(Debug)]
struct ChannelWriter {
    sender: mpsc::Sender<std::io::Result<Bytes>>,
    buffer: Vec<u8>,
    /// Bytes handed to the body.
    sent: u64,
    /// The body was dropped (the client went).
    closed: bool,
}

impl ChannelWriter {
    fn new(sender: mpsc::Sender<std::io::Result<Bytes>>) -> ChannelWriter {
        ChannelWriter {
            sender,
            buffer: Vec::with_capacity(CHUNK_BYTES),
            sent: 0,
            closed: false,
        }
    }

    fn send_buffer(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_BYTES));
        let length = chunk.len() as u64;
        if self.sender.blocking_send(Ok(Bytes::from(chunk))).is_err() {
            self.closed = true;
            return Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the client went away",
            ));
        }
        self.sent += length;
        Ok(())
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let room = CHUNK_BYTES - self.buffer.len();
        let taken = bytes.len().min(room);
        self.buffer.extend_from_slice(&bytes[..taken]);
        if self.buffer.len() >= CHUNK_BYTES {
            self.send_buffer()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send_buffer()
    }
}

/// The response body: the chunks from the channel, in order; an error
/// item aborts it.
struct ChannelBody {
    receiver: mpsc::Receiver<std::io::Result<Bytes>>,
    size: Option<u64>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.receiver
            .poll_recv(context)
            .map(|item| item.map(|chunk| chunk.map(Frame::data)))
    }

    fn size_hint(&self) -> SizeHint {
        self.size
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}

/// A workbook built and waiting to be sent; its directory is deleted on
/// drop.
struct BuiltWorkbook {
    _directory: tempfile::TempDir,
    file: std::fs::File,
    bytes: u64,
    visits: u64,
}

/// Builds the workbook in a temporary directory beside the database (not
/// in a `/tmp` that may be memory).
fn build_workbook(
    store: &ServerStore,
    filter: &VisitFilter,
    choices: ChoiceText,
    cancelled: &AtomicBool,
) -> Result<BuiltWorkbook, ExportError> {
    let prepared = TableExport::prepare(store, filter, choices)?;
    // On PostgreSQL there is no database file: the system's temporary
    // directory.
    let beside = match store.path().map(|path| path.parent()) {
        Some(Some(parent)) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        Some(_) => std::path::PathBuf::from("."),
        None => std::env::temp_dir(),
    };
    let directory = tempfile::Builder::new()
        .prefix(".doorstep-export-")
        .tempdir_in(&beside)?;
    let path = directory.path().join("visits.xlsx");
    let mut sink = Cancellable {
        inner: XlsxSink::new(&path, &prepared.layout.tables)?,
        cancelled,
    };
    let visits = prepared.write(store, &mut sink)?;
    Box::new(sink.inner).finish()?;
    let file = std::fs::File::open(&path)?;
    let bytes = file.metadata()?.len();
    Ok(BuiltWorkbook {
        _directory: directory,
        file,
        bytes,
        visits,
    })
}

/// A sink that stops at the next row once `cancelled` is set.
struct Cancellable<'c, S> {
    inner: S,
    cancelled: &'c AtomicBool,
}

impl<S: Sink> Sink for Cancellable<'_, S> {
    fn row(&mut self, table: usize, cells: &[Cell]) -> Result<(), ExportError> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(ExportError::Cancelled);
        }
        self.inner.row(table, cells)
    }

    fn finish(self: Box<Self>) -> Result<Vec<std::path::PathBuf>, ExportError> {
        let this = *self;
        Box::new(this.inner).finish()
    }
}

/// Set when dropped: the request that waits on a build went away.
#[derive(Default)]
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
