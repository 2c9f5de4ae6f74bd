//! Files attached to answers (ADR 0011): named by the SHA-256 of their
//! bytes, kept in the store itself in chunks of [`CHUNK_BYTES`], so they
//! are encrypted, durable and wiped with it. `add_file` commits a file in
//! its own transaction before any visit can name it; the same bytes added
//! twice are one file.

use std::io::Read;
use std::path::Path;

use doorstep_forms::Form;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::Store;
use super::codec::time_text;
use crate::error::{Error, Result};

/// The largest file a store takes.
pub const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;
/// The bytes of one chunk (the last one of a file may be shorter).
pub const CHUNK_BYTES: usize = 64 * 1024;
/// The most bytes of distinct files one visit may name.
pub const MAX_VISIT_FILE_BYTES: u64 = 60 * 1024 * 1024;
/// The longest media type kept.
const MAX_MEDIA_TYPE: usize = 127;

/// A file in the store: what an answer names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// The SHA-256 of the bytes, lower-case hex: the answer's value.
    pub sha256: String,
    pub size: u64,
    pub media_type: String,
}

pub use doorstep_protocol::is_file_reference;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn media_type(text: &str) -> String {
    let cleaned: String = text
        .trim()
        .chars()
        .filter(|character| !character.is_control())
        .take(MAX_MEDIA_TYPE)
        .collect();
    if cleaned.is_empty() {
        "application/octet-stream".to_owned()
    } else {
        cleaned.to_ascii_lowercase()
    }
}

impl Store {
    /// Keeps `bytes` as a file and returns its reference, durable when
    /// this returns. The same bytes again change nothing.
    pub fn add_file(&self, bytes: &[u8], media_type_text: &str) -> Result<FileRef> {
        let size = bytes.len() as u64;
        if size > MAX_FILE_BYTES {
            return Err(Error::FileTooLarge {
                size,
                limit: MAX_FILE_BYTES,
            });
        }
        let sha256 = hex(&Sha256::digest(bytes));
        let media_type = media_type(media_type_text);
        let now = time_text(self.clock.now());
        self.write(|transaction| {
            let inserted = transaction
                .prepare_cached(
                    "INSERT INTO files (sha256, size, media_type, added_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (sha256) DO NOTHING",
                )?
                .execute(params![
                    sha256,
                    i64::try_from(size).unwrap_or(i64::MAX),
                    media_type,
                    now
                ])?;
            if inserted == 1 {
                let mut insert = transaction.prepare_cached(
                    "INSERT INTO file_chunks (sha256, idx, bytes) VALUES (?1, ?2, ?3)",
                )?;
                for (index, chunk) in bytes.chunks(CHUNK_BYTES).enumerate() {
                    insert.execute(params![
                        sha256,
                        i64::try_from(index).unwrap_or(i64::MAX),
                        chunk
                    ])?;
                }
            }
            Ok(())
        })?;
        self.file(&sha256)?
            .ok_or_else(|| Error::UnknownFile(sha256.clone()))
    }

    /// Keeps the file at `path` (read whole, at most [`MAX_FILE_BYTES`]).
    pub fn add_file_from_path(&self, path: &Path, media_type: &str) -> Result<FileRef> {
        let unreadable = |reason: String| Error::FileUnreadable {
            path: path.display().to_string(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|error| unreadable(error.to_string()))?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| unreadable(error.to_string()))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            let size = std::fs::metadata(path).map_or(bytes.len() as u64, |meta| meta.len());
            return Err(Error::FileTooLarge {
                size,
                limit: MAX_FILE_BYTES,
            });
        }
        self.add_file(&bytes, media_type)
    }

    /// The file named `sha256`, if the store has it.
    pub fn file(&self, sha256: &str) -> Result<Option<FileRef>> {
        self.read(|connection| {
            Ok(connection
                .prepare_cached("SELECT size, media_type FROM files WHERE sha256 = ?1")?
                .query_row([sha256], |row| {
                    Ok(FileRef {
                        sha256: sha256.to_owned(),
                        size: row.get::<_, i64>(0)?.unsigned_abs(),
                        media_type: row.get(1)?,
                    })
                })
                .optional()?)
        })
    }

    /// The bytes of file `sha256`, checked against its name: a damaged
    /// file is an error, never wrong bytes.
    pub fn file_bytes(&self, sha256: &str) -> Result<Vec<u8>> {
        let (size, chunks) = self.read(|connection| {
            let size: Option<i64> = connection
                .prepare_cached("SELECT size FROM files WHERE sha256 = ?1")?
                .query_row([sha256], |row| row.get(0))
                .optional()?;
            let Some(size) = size else {
                return Ok((None, Vec::new()));
            };
            let chunks: Vec<Vec<u8>> = connection
                .prepare_cached("SELECT bytes FROM file_chunks WHERE sha256 = ?1 ORDER BY idx")?
                .query_map([sha256], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok((Some(size.unsigned_abs()), chunks))
        })?;
        let Some(size) = size else {
            return Err(Error::UnknownFile(sha256.to_owned()));
        };
        let bytes = chunks.concat();
        if bytes.len() as u64 != size || hex(&Sha256::digest(&bytes)) != sha256 {
            return Err(Error::Corrupt(format!(
                "file {sha256} does not match its name"
            )));
        }
        Ok(bytes)
    }
}

/// Checks, before a visit is finalised, that every file it names is in
/// the store (a file named by anything but its reference is not) and
/// that together they stay within [`MAX_VISIT_FILE_BYTES`].
/// Returns the references, each once.
pub(crate) fn check_visit_files(
    connection: &Connection,
    form: &Form,
    answers: &Map<String, Value>,
) -> Result<Vec<String>> {
    let named = form.named_files(answers);
    let mut total: u64 = 0;
    for reference in &named {
        let size: Option<i64> = if is_file_reference(reference) {
            connection
                .prepare_cached("SELECT size FROM files WHERE sha256 = ?1")?
                .query_row([reference], |row| row.get(0))
                .optional()?
        } else {
            None
        };
        let Some(size) = size else {
            return Err(Error::UnknownFile(reference.clone()));
        };
        total = total.saturating_add(size.unsigned_abs());
    }
    if total > MAX_VISIT_FILE_BYTES {
        return Err(Error::FileTooLarge {
            size: total,
            limit: MAX_VISIT_FILE_BYTES,
        });
    }
    Ok(named)
}

/// Notes which files the visit `visit_id` names (written with the visit):
/// what an upload sends once the visit has reached the server, and what
/// retention keeps.
pub(crate) fn note_visit_files(
    connection: &Connection,
    visit_id: &str,
    named: &[String],
) -> Result<()> {
    let mut insert = connection.prepare_cached(
        "INSERT INTO visit_files (visit_id, sha256) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?;
    for reference in named {
        insert.execute(params![visit_id, reference])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_are_trimmed_and_lower_case() {
        assert_eq!(media_type(" Image/JPEG\n"), "image/jpeg");
        assert_eq!(media_type(""), "application/octet-stream");
    }
}
