//! The files phase of a sync run (ADR 0011), after the visits: ask the
//! server what it holds of the files whose visits it has stored, then send
//! what it lacks in pieces of [`UPLOAD_PIECE_BYTES`], each from where the
//! server says it stands. A cut costs at most what was in flight; a file
//! the server holds (from any device) is never sent again.

use std::collections::HashSet;

use doorstep_protocol::files::MAX_STATUS_FILES;
use doorstep_protocol::{FileOffer, FileState, FileStatusRequest, PROTOCOL_VERSION};
use sha2::{Digest, Sha256};

use super::{CancelToken, FileProgress, SyncEngine, SyncPhase, SyncProgress, SyncReport};
use crate::error::{Error, Result};
use crate::store::{FileRef, Store, is_file_reference};
use crate::transport::{FileUpload, Transport, TransportError};

/// Bytes of one upload request at most: about 31 s at 50 kbit/s, well
/// inside the server's time for a body, and small enough that a phone
/// holds one piece in memory at a time.
pub const UPLOAD_PIECE_BYTES: usize = 192 * 1024;

/// Times one file's offset may be corrected (HTTP 409) or its upload
/// restarted (HTTP 422) in one run before the run gives up on it.
const MAX_FILE_RETRIES: u32 = 2;

impl SyncEngine<'_> {
    /// Sends every file the server lacks whose visit it has.
    pub(super) fn upload_files(
        &self,
        report: &mut SyncReport,
        progress: &mut dyn FnMut(SyncProgress),
        cancel: &CancelToken,
    ) -> Result<()> {
        let token = self.store.token()?;
        // Files the server will not take from this device now (no visit of
        // its names them there): left pending, not asked about again in
        // this run.
        let mut skipped: HashSet<String> = HashSet::new();
        let pending = self.store.files_pending()?;
        let total = pending.bytes;
        let count = u32::try_from(pending.files).unwrap_or(u32::MAX);
        let mut done_bytes = 0u64;
        let mut index = 0u32;
        loop {
            cancel.check()?;
            let ready: Vec<FileRef> = self
                .store
                .uploads_ready(MAX_STATUS_FILES + skipped.len())?
                .into_iter()
                .filter(|file| !skipped.contains(&file.sha256))
                .take(MAX_STATUS_FILES)
                .collect();
            if ready.is_empty() {
                return Ok(());
            }
            let states = match self.file_states(&token, &ready, report) {
                // A server from before files (no such route): the visits
                // went up; the files wait, pending, for one that takes them.
                Err(Error::Transport(TransportError::Refused { status: 404, .. })) => {
                    tracing::warn!("the server takes no files yet; they stay on this device");
                    return Ok(());
                }
                other => other?,
            };
            for (file, state) in ready.iter().zip(states) {
                cancel.check()?;
                index = index.saturating_add(1);
                if !state.complete && !state.expected {
                    tracing::warn!(file = %file.sha256, "the server does not take this file from this device yet");
                    skipped.insert(file.sha256.clone());
                    continue;
                }
                let base = done_bytes;
                let mut step = |sent: u64| {
                    progress(SyncProgress {
                        phase: SyncPhase::Files,
                        done: base.saturating_add(sent),
                        total: Some(total.max(base.saturating_add(sent))),
                        bytes: 0,
                        file: Some(FileProgress {
                            index,
                            count: count.max(index),
                            sent,
                            size: file.size,
                        }),
                    });
                };
                if !state.complete {
                    self.upload_file(&token, file, state.offset, report, &mut step, cancel)?;
                    report.files_uploaded += 1;
                }
                self.store.note_file_synced(&file.sha256)?;
                step(file.size);
                done_bytes = done_bytes.saturating_add(file.size);
            }
        }
    }

    /// The server's state of `files`, one each, in order.
    fn file_states(
        &self,
        token: &str,
        files: &[FileRef],
        report: &mut SyncReport,
    ) -> Result<Vec<FileState>> {
        let request = FileStatusRequest {
            protocol: PROTOCOL_VERSION,
            files: files
                .iter()
                .map(|file| FileOffer {
                    sha256: file.sha256.clone(),
                    size: file.size,
                })
                .collect(),
        };
        let response = self.transport.file_status(token, &request)?;
        report.requests += 1;
        super::check_protocol(response.protocol)?;
        let matches = response.files.len() == files.len()
            && response
                .files
                .iter()
                .zip(files)
                .all(|(state, file)| state.sha256 == file.sha256);
        if !matches {
            return Err(Error::Protocol(
                "the server's file status does not answer the files asked about".into(),
            ));
        }
        Ok(response.files)
    }

    /// Sends `file` from `offset` until the server holds it whole.
    fn upload_file(
        &self,
        token: &str,
        file: &FileRef,
        mut offset: u64,
        report: &mut SyncReport,
        step: &mut dyn FnMut(u64),
        cancel: &CancelToken,
    ) -> Result<()> {
        let mut retries = 0;
        if offset > file.size {
            offset = 0;
        }
        loop {
            cancel.check()?;
            step(offset);
            let length = usize::try_from(file.size - offset)
                .unwrap_or(usize::MAX)
                .min(UPLOAD_PIECE_BYTES);
            let bytes = self.store.file_piece(&file.sha256, offset, length)?;
            if bytes.len() != length {
                return Err(Error::Corrupt(format!(
                    "file {} is shorter than its size",
                    file.sha256
                )));
            }
            let upload = FileUpload {
                sha256: &file.sha256,
                size: file.size,
                media_type: &file.media_type,
                offset,
                bytes,
            };
            let result = self.transport.upload_file(token, upload);
            report.requests += 1;
            match result {
                Ok(answer) => {
                    super::check_protocol(answer.protocol)?;
                    if answer.complete {
                        return Ok(());
                    }
                    if answer.offset <= offset || answer.offset > file.size {
                        return Err(Error::Protocol(format!(
                            "the server's offset for file {} did not move past {offset}",
                            file.sha256
                        )));
                    }
                    offset = answer.offset;
                }
                // The server holds another offset (a piece that reached it
                // after the answer was lost): ask where it stands.
                Err(TransportError::Refused { status: 409, .. }) if retries < MAX_FILE_RETRIES => {
                    retries += 1;
                    let state = self.file_states(token, std::slice::from_ref(file), report)?;
                    match state.first() {
                        Some(state) if state.complete => return Ok(()),
                        Some(state) if state.expected => offset = state.offset.min(file.size),
                        _ => {
                            return Err(Error::Protocol(format!(
                                "the server no longer takes file {}",
                                file.sha256
                            )));
                        }
                    }
                }
                // What reached the server did not match the name; it
                // dropped its part. This device's copy is checked before
                // starting over.
                Err(TransportError::Refused { status: 422, .. }) if retries < MAX_FILE_RETRIES => {
                    retries += 1;
                    self.store.file_bytes(&file.sha256)?;
                    offset = 0;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }
}

/// Brings file `sha256` onto this device from the server (a photo of a
/// household in this device's scope, fetched when the cadre opens it), and
/// returns it; a file already here is not fetched. The bytes are checked
/// against the name before they are kept.
pub fn fetch_file(store: &Store, transport: &dyn Transport, sha256: &str) -> Result<FileRef> {
    if !is_file_reference(sha256) {
        return Err(Error::UnknownFile(sha256.to_owned()));
    }
    if let Some(file) = store.file(sha256)? {
        return Ok(file);
    }
    let token = store.token()?;
    let downloaded = transport.download_file(&token, sha256)?;
    let named: String = Sha256::digest(&downloaded.bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    if named != sha256 {
        return Err(Error::Protocol(format!(
            "the server's file {sha256} does not match its name"
        )));
    }
    let file = store.add_file(&downloaded.bytes, &downloaded.media_type)?;
    store.note_file_synced(sha256)?;
    Ok(file)
}
