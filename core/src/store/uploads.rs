//! What goes up after the visits (ADR 0011): a file is sent once a visit
//! of this device's that names it has reached the server (the server takes
//! only files its visits name), and is marked synced once the server holds
//! it whole. Reads come in pieces, so an upload never holds a whole large
//! file in memory.

use rusqlite::{Connection, params};

use super::Store;
use super::codec::time_text;
use super::files::{CHUNK_BYTES, FileRef};
use crate::error::{Error, Result};

/// Files, and their bytes, not yet on the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FilesPending {
    pub files: u64,
    pub bytes: u64,
}

/// Unsynced files named by this device's finalised visits: what the status
/// view calls pending, whether or not their visits have gone up yet.
const PENDING: &str = "FROM files f
     WHERE f.synced_at IS NULL
       AND EXISTS (SELECT 1 FROM visit_files vf JOIN visits v ON v.id = vf.visit_id
                   WHERE vf.sha256 = f.sha256 AND v.origin = 'own' AND v.status = 'final')";

impl Store {
    /// Files this device still owes the server.
    pub fn files_pending(&self) -> Result<FilesPending> {
        self.read(files_pending)
    }

    /// Up to `limit` files ready to go up: unsynced, named by a visit of
    /// this device's that the server has stored; oldest first.
    pub(crate) fn uploads_ready(&self, limit: usize) -> Result<Vec<FileRef>> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT f.sha256, f.size, f.media_type FROM files f
                 WHERE f.synced_at IS NULL
                   AND EXISTS (SELECT 1 FROM visit_files vf JOIN visits v ON v.id = vf.visit_id
                               WHERE vf.sha256 = f.sha256 AND v.origin = 'own'
                                 AND v.received_at IS NOT NULL)
                 ORDER BY f.added_at, f.sha256
                 LIMIT ?1",
            )?;
            let rows = statement.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
                Ok(FileRef {
                    sha256: row.get(0)?,
                    size: row.get::<_, i64>(1)?.unsigned_abs(),
                    media_type: row.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// `length` bytes of file `sha256` from `offset` (fewer at its end).
    pub(crate) fn file_piece(&self, sha256: &str, offset: u64, length: usize) -> Result<Vec<u8>> {
        let chunk = CHUNK_BYTES as u64;
        let first = offset / chunk;
        let end = offset.saturating_add(length as u64);
        let last = end.div_ceil(chunk);
        let chunks: Vec<(i64, Vec<u8>)> = self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT idx, bytes FROM file_chunks WHERE sha256 = ?1 AND idx >= ?2 AND idx < ?3
                 ORDER BY idx",
            )?;
            let rows = statement.query_map(
                params![
                    sha256,
                    i64::try_from(first).unwrap_or(i64::MAX),
                    i64::try_from(last).unwrap_or(i64::MAX)
                ],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        let mut piece = Vec::with_capacity(length);
        for (expected, (index, bytes)) in (first..).zip(chunks) {
            if index.unsigned_abs() != expected {
                return Err(Error::Corrupt(format!("file {sha256} misses a chunk")));
            }
            let start = expected * chunk;
            let from = usize::try_from(offset.saturating_sub(start)).unwrap_or(usize::MAX);
            let to = usize::try_from(end.saturating_sub(start))
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            if from < to {
                piece.extend_from_slice(&bytes[from..to]);
            }
        }
        Ok(piece)
    }

    /// The server holds file `sha256` whole: it no longer counts as
    /// pending, and retention may remove it.
    pub(crate) fn note_file_synced(&self, sha256: &str) -> Result<()> {
        let now = time_text(self.now());
        self.write(|transaction| {
            transaction
                .prepare_cached(
                    "UPDATE files SET synced_at = coalesce(synced_at, ?2) WHERE sha256 = ?1",
                )?
                .execute(params![sha256, now])?;
            Ok(())
        })
    }
}

pub(super) fn files_pending(connection: &Connection) -> Result<FilesPending> {
    Ok(connection
        .prepare_cached(&format!(
            "SELECT count(*), coalesce(sum(f.size), 0) {PENDING}"
        ))?
        .query_row([], |row| {
            Ok(FilesPending {
                files: row.get::<_, i64>(0)?.unsigned_abs(),
                bytes: row.get::<_, i64>(1)?.unsigned_abs(),
            })
        })?)
}
