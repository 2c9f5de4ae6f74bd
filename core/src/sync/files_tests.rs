//! The files phase against a server in memory that keeps what reached it
//! and can cut a piece short: resumption from the server's offset, each
//! byte sent about once, files the server holds never sent, and what the
//! status view counts as pending.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Mutex;

use doorstep_protocol::{
    FileState, FileStatusRequest, FileStatusResponse, FileUploadResponse, PROTOCOL_VERSION,
    PullQuery, PullResponse, PushRequest, PushResponse, SnapshotRequest, SnapshotResponse,
};

use super::*;
use crate::store::tests::new_visit;
use crate::store::tests_files::{photo, store_with_a_photo_question};
use crate::transport::{FileUpload, Transport};

/// Files as the server holds them: bytes received per reference, and the
/// references a pushed visit named.
#[derive(Default)]
struct FileServer {
    held: Mutex<HashMap<String, Vec<u8>>>,
    complete: Mutex<HashMap<String, bool>>,
    /// Cut every piece after this many of its bytes (the rest never
    /// arrives), while `cuts` lasts.
    cut_after: Option<usize>,
    cuts: Mutex<u32>,
    /// Bytes of pieces offered to the server (sent by the device).
    sent: Mutex<u64>,
    requests: Mutex<u64>,
}

impl FileServer {
    fn state(&self, sha256: &str) -> FileState {
        let complete = *self.complete.lock().unwrap().get(sha256).unwrap_or(&false);
        FileState {
            sha256: sha256.to_owned(),
            complete,
            offset: self
                .held
                .lock()
                .unwrap()
                .get(sha256)
                .map_or(0, |bytes| bytes.len() as u64),
            expected: true,
        }
    }
}

impl Transport for FileServer {
    fn enroll(
        &self,
        _: &doorstep_protocol::EnrollRequest,
    ) -> std::result::Result<doorstep_protocol::EnrollResponse, TransportError> {
        unreachable!("not in these tests")
    }
    fn push(&self, _: &str, _: &PushRequest) -> std::result::Result<PushResponse, TransportError> {
        unreachable!("not in these tests")
    }
    fn pull(&self, _: &str, _: &PullQuery) -> std::result::Result<PullResponse, TransportError> {
        unreachable!("not in these tests")
    }
    fn snapshot(
        &self,
        _: &str,
        _: &SnapshotRequest,
    ) -> std::result::Result<SnapshotResponse, TransportError> {
        unreachable!("not in these tests")
    }

    fn file_status(
        &self,
        _: &str,
        request: &FileStatusRequest,
    ) -> std::result::Result<FileStatusResponse, TransportError> {
        *self.requests.lock().unwrap() += 1;
        Ok(FileStatusResponse {
            protocol: PROTOCOL_VERSION,
            files: request
                .files
                .iter()
                .map(|file| self.state(&file.sha256))
                .collect(),
        })
    }

    fn upload_file(
        &self,
        _: &str,
        upload: FileUpload<'_>,
    ) -> std::result::Result<FileUploadResponse, TransportError> {
        *self.requests.lock().unwrap() += 1;
        let mut held = self.held.lock().unwrap();
        let kept = held.entry(upload.sha256.to_owned()).or_default();
        if kept.len() as u64 != upload.offset {
            return Err(TransportError::Refused {
                status: 409,
                message: "offset".into(),
            });
        }
        let mut cuts = self.cuts.lock().unwrap();
        let arriving = match self.cut_after {
            Some(limit) if *cuts > 0 && upload.bytes.len() > limit => {
                *cuts -= 1;
                *self.sent.lock().unwrap() += limit as u64;
                kept.extend_from_slice(&upload.bytes[..limit]);
                return Err(TransportError::Interrupted("cut".into()));
            }
            _ => &upload.bytes[..],
        };
        *self.sent.lock().unwrap() += arriving.len() as u64;
        kept.extend_from_slice(arriving);
        let complete = kept.len() as u64 == upload.size;
        if complete {
            self.complete
                .lock()
                .unwrap()
                .insert(upload.sha256.to_owned(), true);
        }
        Ok(FileUploadResponse {
            protocol: PROTOCOL_VERSION,
            offset: kept.len() as u64,
            complete,
        })
    }
}

/// Three photos of a visit the server has stored (its `received_at` set,
/// as a push does).
fn store_with_three_photos() -> (tempfile::TempDir, Store, Vec<Vec<u8>>) {
    let (directory, store) = store_with_a_photo_question();
    let photos: Vec<Vec<u8>> = ["HOUSE", "WATER", "CARD"]
        .iter()
        .map(|marker| photo(300 * 1024 + marker.len(), marker))
        .collect();
    let mut visits = Vec::new();
    for bytes in &photos {
        let kept = store.add_file(bytes, "image/jpeg").unwrap();
        let mut new = new_visit(1, false);
        new.answers.insert("house_photo".into(), kept.sha256.into());
        visits.push(store.record_visit(new).unwrap().id);
    }
    let status = store.status().unwrap();
    assert_eq!(status.files_pending, 3);
    assert_eq!(
        status.bytes_pending,
        photos.iter().map(|bytes| bytes.len() as u64).sum::<u64>()
    );
    assert!(
        store.uploads_ready(10).unwrap().is_empty(),
        "nothing goes up before its visit"
    );
    store
        .write(|transaction| {
            transaction.execute(
                "UPDATE visits SET received_at = '2026-11-30T00:00:00Z' WHERE origin = 'own'",
                [],
            )?;
            Ok(())
        })
        .unwrap();
    (directory, store, photos)
}

#[test]
fn cut_uploads_resume_from_the_servers_offset_and_send_each_byte_once() {
    let (_directory, store, photos) = store_with_three_photos();
    let server = FileServer {
        cut_after: Some(50_000),
        cuts: Mutex::new(4),
        ..FileServer::default()
    };
    let engine = SyncEngine::new(&store, &server);
    let mut runs = 0;
    let mut seen = Vec::new();
    loop {
        runs += 1;
        assert!(runs < 20, "the upload ends");
        let mut report = SyncReport::default();
        match engine.upload_files(
            &mut report,
            &mut |step| seen.push(step),
            &CancelToken::new(),
        ) {
            Ok(()) => break,
            Err(Error::Transport(TransportError::Interrupted(_))) => continue,
            Err(error) => panic!("{error}"),
        }
    }
    assert_eq!(runs, 5, "four cuts, then the rest");
    let held = server.held.lock().unwrap();
    for bytes in &photos {
        let kept = store.file(&hex_sha(bytes)).unwrap().unwrap();
        assert_eq!(held.get(&kept.sha256), Some(bytes), "arrived whole");
    }
    let total: u64 = photos.iter().map(|bytes| bytes.len() as u64).sum();
    assert_eq!(
        *server.sent.lock().unwrap(),
        total,
        "every byte that reached the server was kept, none sent twice"
    );
    let status = store.status().unwrap();
    assert_eq!((status.files_pending, status.bytes_pending), (0, 0));
    assert!(seen.iter().all(|step| step.phase == SyncPhase::Files));
    let last = seen.last().unwrap();
    assert_eq!(
        last.file.map(|file| (file.sent, file.size)),
        Some((photos[2].len() as u64, photos[2].len() as u64))
    );

    // Nothing left to send: one more run asks nothing.
    let before = *server.requests.lock().unwrap();
    let mut report = SyncReport::default();
    engine
        .upload_files(&mut report, &mut |_| {}, &CancelToken::new())
        .unwrap();
    assert_eq!(*server.requests.lock().unwrap(), before);
}

#[test]
fn a_file_the_server_holds_is_not_sent_again() {
    let (_directory, store, photos) = store_with_three_photos();
    let server = FileServer::default();
    for bytes in &photos[..2] {
        let sha = hex_sha(bytes);
        server
            .held
            .lock()
            .unwrap()
            .insert(sha.clone(), bytes.clone());
        server.complete.lock().unwrap().insert(sha, true);
    }
    let mut report = SyncReport::default();
    SyncEngine::new(&store, &server)
        .upload_files(&mut report, &mut |_| {}, &CancelToken::new())
        .unwrap();
    assert_eq!(report.files_uploaded, 1);
    assert_eq!(*server.sent.lock().unwrap(), photos[2].len() as u64);
    assert_eq!(store.status().unwrap().files_pending, 0);
}

#[test]
fn pieces_are_read_across_chunk_boundaries() {
    let (_directory, store, photos) = store_with_three_photos();
    let sha = hex_sha(&photos[0]);
    for (offset, length) in [
        (0, 10),
        (65_530, 20),
        (65_536, 65_536),
        (300_000, 100_000),
        (0, 400_000),
    ] {
        let piece = store.file_piece(&sha, offset, length).unwrap();
        let start = usize::try_from(offset).unwrap().min(photos[0].len());
        let end = (start + length).min(photos[0].len());
        assert_eq!(piece, photos[0][start..end], "{offset}+{length}");
    }
}

fn hex_sha(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A server from before files answers 404 to the status request: the run
/// still ends well, and the files stay pending for a server that takes them.
#[test]
fn a_server_without_files_leaves_them_pending_without_failing_the_run() {
    struct Older;
    impl Transport for Older {
        fn enroll(
            &self,
            _: &doorstep_protocol::EnrollRequest,
        ) -> std::result::Result<doorstep_protocol::EnrollResponse, TransportError> {
            unreachable!("not in this test")
        }
        fn push(
            &self,
            _: &str,
            _: &PushRequest,
        ) -> std::result::Result<PushResponse, TransportError> {
            unreachable!("not in this test")
        }
        fn pull(
            &self,
            _: &str,
            _: &PullQuery,
        ) -> std::result::Result<PullResponse, TransportError> {
            unreachable!("not in this test")
        }
        fn snapshot(
            &self,
            _: &str,
            _: &SnapshotRequest,
        ) -> std::result::Result<SnapshotResponse, TransportError> {
            unreachable!("not in this test")
        }
    }
    let (_directory, store, _photos) = store_with_three_photos();
    let mut report = SyncReport::default();
    SyncEngine::new(&store, &Older)
        .upload_files(&mut report, &mut |_| {}, &CancelToken::new())
        .expect("the run ends well");
    assert_eq!(report.files_uploaded, 0);
    assert_eq!(store.status().unwrap().files_pending, 3);
}
