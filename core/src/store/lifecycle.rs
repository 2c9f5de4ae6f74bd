//! A store's life beyond its data: changing the key it is encrypted with,
//! and wiping it when the phone goes to another cadre.
//!
//! Both replace the file under the store's feet, so both hold the writer
//! and the reader lock for their whole duration: no other call runs
//! meanwhile.

use std::path::{Path, PathBuf};
use std::sync::PoisonError;
use std::sync::atomic::Ordering;

use rusqlite::Connection;
use serde::Serialize;

use super::{Store, lock, open_connections, watch_writes};
use crate::error::{Error, Result};
use crate::sqlite::{self, DatabaseKey};

/// What on this device has not reached the server yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Unsynced {
    /// Outbox changes not acknowledged (pending or rejected).
    pub changes: u64,
    /// Visits still drafts: never sent.
    pub drafts: u64,
}

impl Unsynced {
    pub fn is_empty(&self) -> bool {
        self.changes == 0 && self.drafts == 0
    }
}

impl Store {
    pub(super) fn check_not_wiped(&self) -> Result<()> {
        if self.wiped.load(Ordering::SeqCst) {
            Err(Error::Wiped)
        } else {
            Ok(())
        }
    }

    /// What would be lost if this store went now.
    pub fn unsynced(&self) -> Result<Unsynced> {
        self.read(count_unsynced)
    }

    /// Encrypts the store with `key`, or with another key, or (`None`)
    /// decrypts it. The data is copied into a new file with the new key,
    /// which then replaces the old one in one rename: a crash leaves the
    /// old file with the old key, or the new file with the new key, never
    /// a mix. Keep the old key until this returns.
    pub fn rekey(&self, key: Option<&DatabaseKey>) -> Result<()> {
        let mut writer = lock(&self.writer);
        let mut reader = lock(&self.reader);
        let mut current = self.key.lock().unwrap_or_else(PoisonError::into_inner);
        self.check_not_wiped()?;
        // Everything into the main file first; a reader elsewhere (another
        // process) would keep the WAL alive, and replacing the file under
        // it could lose its writes.
        let (busy, _, _): (i64, i64, i64) =
            writer.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?;
        if busy != 0 {
            return Err(Error::Busy(
                "the store is open elsewhere; close it there and rekey again".into(),
            ));
        }
        // An absolute path in UTF-8: ATTACH takes a file name as text, and
        // a relative one could be read as a URI (`file:…`).
        let copy = std::path::absolute(sibling(&self.path, "rekey")).map_err(io_error)?;
        if copy.to_str().is_none() {
            return Err(Error::Corrupt(
                "the store's path is not UTF-8: it cannot be rekeyed in place".into(),
            ));
        }
        remove_if_present(&copy)?;
        sqlite::create_private(&copy).map_err(io_error)?;
        let expected = (sqlite::schema_version(&writer)?, outbox_rows(&writer)?);
        let replaced = export(&writer, &copy, key).and_then(|()| {
            // The copy must open with the new key and hold what the store
            // holds before it may replace it.
            let check = sqlite::open_reader_keyed(&copy, key).map_err(|error| match error {
                sqlite::OpenError::Key(error) => Error::Key(error),
                sqlite::OpenError::Sqlite(error) => Error::Sqlite(error),
            })?;
            let found = (sqlite::schema_version(&check)?, outbox_rows(&check)?);
            drop(check);
            if found != expected {
                return Err(Error::Corrupt(format!(
                    "the rekeyed copy does not match the store (schema {}, {} outbox rows; expected {}, {}); the store is unchanged",
                    found.0, found.1, expected.0, expected.1
                )));
            }
            std::fs::File::open(&copy)
                .and_then(|file| file.sync_all())
                .map_err(io_error)?;
            // Close both connections, then put the copy in place.
            *writer = Connection::open_in_memory()?;
            *reader = Connection::open_in_memory()?;
            std::fs::rename(&copy, &self.path).map_err(io_error)?;
            remove_if_present(&sibling(&self.path, "wal"))?;
            remove_if_present(&sibling(&self.path, "shm"))?;
            sync_directory(&self.path);
            Ok(())
        });
        let key_now = match &replaced {
            Ok(()) => key,
            Err(_) => {
                let _ = std::fs::remove_file(&copy);
                current.as_ref()
            }
        };
        // Reopened in every case: after a failure, the old file with the
        // old key.
        let (new_writer, new_reader) = self.reopen(key_now)?;
        *writer = new_writer;
        *reader = new_reader;
        replaced?;
        *current = key.cloned();
        tracing::info!(encrypted = key.is_some(), "store rekeyed");
        Ok(())
    }

    /// Erases this store: the database file, its WAL and shared memory.
    /// Refuses while anything recorded here has not reached the server
    /// ([`Error::Unsynced`]) unless `force`. Afterwards every call on this
    /// store fails with [`Error::Wiped`]. With an encrypted store, also
    /// delete the key (the Keystore/Keychain entry): without it, any copy
    /// of the file that flash storage kept is unreadable.
    pub fn wipe(&self, force: bool) -> Result<Unsynced> {
        let lost = self.close_for_wipe(force)?;
        self.erase()?;
        Ok(lost)
    }

    /// The first half of a wipe: under the writer's lock, checks what has
    /// not reached the server (refusing unless `force`) and closes the store
    /// to every later call, so that nothing can be recorded between the
    /// check and the erasure (a visit finalised then would fail with
    /// [`Error::Wiped`] instead of vanishing). Returns what will be lost.
    pub(crate) fn close_for_wipe(&self, force: bool) -> Result<Unsynced> {
        let writer = lock(&self.writer);
        self.check_not_wiped()?;
        let unsynced = count_unsynced(&writer)?;
        if !force && !unsynced.is_empty() {
            return Err(Error::Unsynced {
                changes: unsynced.changes,
                drafts: unsynced.drafts,
            });
        }
        self.wiped.store(true, Ordering::SeqCst);
        Ok(unsynced)
    }

    /// The second half of a wipe: deletes the files of a store closed by
    /// [`Store::close_for_wipe`].
    pub(crate) fn erase(&self) -> Result<()> {
        let mut writer = lock(&self.writer);
        let mut reader = lock(&self.reader);
        *writer = Connection::open_in_memory()?;
        *reader = Connection::open_in_memory()?;
        for path in [
            self.path.clone(),
            sibling(&self.path, "wal"),
            sibling(&self.path, "shm"),
            sibling(&self.path, "rekey"),
        ] {
            remove_if_present(&path)?;
        }
        sync_directory(&self.path);
        tracing::info!("store wiped");
        Ok(())
    }

    /// Fresh connections to the file, with the hook that tells observers.
    fn reopen(&self, key: Option<&DatabaseKey>) -> Result<(Connection, Connection)> {
        let (mut writer, reader) = open_connections(&self.path, self.durability, key)?;
        watch_writes(&mut writer, &self.observers)?;
        Ok((writer, reader))
    }
}

fn outbox_rows(connection: &Connection) -> Result<u64> {
    Ok(
        connection.query_row("SELECT count(*) FROM outbox", [], |row| {
            sqlite::count_column(row, 0)
        })?,
    )
}

fn count_unsynced(connection: &Connection) -> Result<Unsynced> {
    let count = |sql: &str| -> Result<u64> {
        Ok(connection.query_row(sql, [], |row| sqlite::count_column(row, 0))?)
    };
    Ok(Unsynced {
        changes: count("SELECT count(*) FROM outbox")?,
        drafts: count("SELECT count(*) FROM visits WHERE status = 'draft'")?,
    })
}

/// Copies everything (schema, rows, sequences, the schema version) into a
/// new database at `copy` encrypted with `key` (plain for `None`).
fn export(connection: &Connection, copy: &Path, key: Option<&DatabaseKey>) -> Result<()> {
    let literal = key.map(DatabaseKey::literal).unwrap_or_default();
    let name = copy
        .to_str()
        .ok_or_else(|| Error::Corrupt("the store's path is not UTF-8".into()))?;
    connection.execute(
        "ATTACH DATABASE ?1 AS rekeyed KEY ?2",
        rusqlite::params![name, literal],
    )?;
    let copied = (|| -> Result<()> {
        // The copy gives freed space back too (set before its first table).
        connection.pragma_update(Some("rekeyed"), "auto_vacuum", "INCREMENTAL")?;
        connection.query_row("SELECT sqlcipher_export('rekeyed')", [], |_| Ok(()))?;
        let version = sqlite::schema_version(connection)?;
        connection.pragma_update(Some("rekeyed"), "user_version", version)?;
        Ok(())
    })();
    connection.execute("DETACH DATABASE rekeyed", [])?;
    copied
}

/// `store.db` → `store.db-wal` and the like.
pub(super) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-");
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io_error(error)),
    }
}

/// Makes a rename or removal in the store's directory durable. Best effort:
/// not every platform lets a directory be opened.
fn sync_directory(path: &Path) {
    if let Some(directory) = path.parent() {
        let directory = if directory.as_os_str().is_empty() {
            Path::new(".")
        } else {
            directory
        };
        if let Ok(handle) = std::fs::File::open(directory) {
            let _ = handle.sync_all();
        }
    }
}

fn io_error(error: std::io::Error) -> Error {
    Error::Corrupt(format!("file operation failed: {error}"))
}
