//! The device's local store: one SQLite file holding everything the phone
//! knows, and the outbox of what it still owes the server.
//!
//! One writer connection and one reader connection (WAL lets reads go on
//! while a sync writes). Every write that must reach the server appends to
//! the outbox in the same transaction as the write itself, so a crash leaves
//! both or neither. With `synchronous=FULL` a committed visit survives a
//! pulled battery.
//!
//! The file can be encrypted ([`StoreOptions::key`], SQLCipher): then every
//! page of it and of its WAL is unreadable without the key, the token
//! included. Files are created readable by their owner only.
//!
//! No connection leaves this module: callers get domain types.

mod codec;
mod edits;
mod files;
mod forms;
mod households;
mod lifecycle;
mod observe;
mod retention;
mod session;
pub(crate) mod sync;
mod uploads;
mod visits;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use doorstep_protocol::EnrollResponse;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use uuid::Uuid;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::forms::Form;
use crate::model::{DeviceIdentity, Status};
use crate::sqlite::{self, DatabaseKey, Durability, Migration, OpenError};
use crate::transport::Endpoint;
pub use codec::{parse_time, parse_uuid, time_text};
pub use files::{FileRef, MAX_FILE_BYTES, MAX_VISIT_FILE_BYTES, is_file_reference};
/// The household search rule, shared with the server's console.
pub use households::{FIELD_SEPARATOR as SEARCH_FIELD_SEPARATOR, normalise as normalise_search};
pub use lifecycle::Unsynced;
pub use observe::{DataChange, Observer, Subscription};
pub use retention::{RetentionPolicy, RetentionReport, StorageReport};
pub use session::VisitSession;
pub use sync::SyncFailure;
pub use uploads::FilesPending;

/// The device schema, one step per numbered file. Never edit a shipped step.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("migrations/0001_initial.sql"),
        after: None,
    },
    Migration {
        version: 2,
        sql: include_str!("migrations/0002_household_search.sql"),
        after: Some(households::reindex_all),
    },
    Migration {
        version: 3,
        sql: include_str!("migrations/0003_visit_computed.sql"),
        after: None,
    },
    Migration {
        version: 4,
        sql: include_str!("migrations/0004_enrollment_attempt.sql"),
        after: None,
    },
    Migration {
        version: 5,
        sql: include_str!("migrations/0005_sync_contact.sql"),
        after: None,
    },
    Migration {
        version: 6,
        sql: include_str!("migrations/0006_household_edits.sql"),
        after: None,
    },
    Migration {
        version: 7,
        sql: include_str!("migrations/0007_endpoint_trust.sql"),
        after: None,
    },
    Migration {
        version: 8,
        sql: include_str!("migrations/0008_files.sql"),
        after: None,
    },
    Migration {
        version: 9,
        sql: include_str!("migrations/0009_file_uploads.sql"),
        after: None,
    },
    Migration {
        version: 10,
        sql: include_str!("migrations/0010_fewer_pages_a_visit.sql"),
        after: None,
    },
];

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub durability: Durability,
    pub clock: Arc<dyn Clock>,
    /// Language for validation messages ("zh-CN", "en"); `None`: English.
    pub language: Option<String>,
    /// The key of an encrypted store; `None`: a plain file.
    pub key: Option<DatabaseKey>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            durability: Durability::Full,
            clock: Arc::new(SystemClock),
            language: None,
            key: None,
        }
    }
}

/// The device's store. `Send + Sync`: share it behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    durability: Durability,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    /// Set by [`Store::wipe`]: the files are gone, every call fails.
    wiped: AtomicBool,
    /// The key the file is encrypted with now (SQLCipher holds it too):
    /// to reopen the file when a rekey fails half-way.
    key: Mutex<Option<DatabaseKey>>,
    clock: Arc<dyn Clock>,
    language: Option<String>,
    /// Parsed form versions; a published version never changes, so the cache
    /// never goes stale.
    forms: Mutex<HashMap<(String, String), Arc<Form>>>,
    observers: Arc<observe::Observers>,
}

impl Store {
    /// Opens the store at `path`, creating it if it does not exist, and brings
    /// its schema up to date. A file that cannot be opened is left untouched:
    /// it may hold the only copy of a week of visits.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(path, StoreOptions::default())
    }

    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        sqlite::create_private(&path).map_err(|error| Error::Open {
            path: path.display().to_string(),
            source: rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(error.to_string()),
            ),
        })?;
        Store::open_file(path, options)
    }

    /// Opens a store that must already exist: for every use but enrolment,
    /// so that a mistyped path is an error rather than a new empty store.
    pub fn open_existing(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(Error::NoStore {
                path: path.display().to_string(),
            });
        }
        Store::open_file(path, options)
    }

    fn open_file(path: PathBuf, options: StoreOptions) -> Result<Store> {
        let (mut writer, reader) =
            open_connections(&path, options.durability, options.key.as_ref())?;
        // Only once the key proved right: a wrong key changes nothing.
        for file in [
            path.clone(),
            lifecycle::sibling(&path, "wal"),
            lifecycle::sibling(&path, "shm"),
        ] {
            if file.exists() {
                let _ = sqlite::restrict_mode(&file);
            }
        }
        let observers = Arc::new(observe::Observers::default());
        watch_writes(&mut writer, &observers).map_err(|source| open_error(&path, source))?;
        Ok(Store {
            path,
            durability: options.durability,
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            wiped: AtomicBool::new(false),
            key: Mutex::new(options.key),
            clock: options.clock,
            language: options.language,
            forms: Mutex::new(HashMap::new()),
            observers,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The clock this store takes its time from.
    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.clock)
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub(crate) fn language(&self) -> Option<&str> {
        self.language.as_deref()
    }

    /// Runs `work` in one immediate write transaction, committed if it
    /// returns `Ok`.
    /// Observers hear what it changed once it committed.
    pub(crate) fn write<T>(&self, work: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        self.check_not_wiped()?;
        let outcome = {
            let mut connection = lock(&self.writer);
            (|| {
                let transaction =
                    connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let value = work(&transaction)?;
                transaction.commit()?;
                Ok(value)
            })()
        };
        // Rolled back: nothing changed, forget what the hook saw.
        let change = self.observers.take();
        if outcome.is_ok() {
            self.observers.notify(change);
        }
        outcome
    }

    /// Calls `observer` after every committed write with what it changed,
    /// until the returned subscription is dropped.
    pub fn subscribe(&self, observer: Observer) -> Subscription {
        self.observers.subscribe(observer)
    }

    /// Runs `work` on the reader connection inside one read transaction, so
    /// that it sees one consistent snapshot.
    pub(crate) fn read<T>(&self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.check_not_wiped()?;
        let mut connection = lock(&self.reader);
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let value = work(&transaction)?;
        transaction.finish()?;
        Ok(value)
    }

    /// The device's identity, or `None` before enrolment.
    pub fn identity(&self) -> Result<Option<DeviceIdentity>> {
        self.read(read_identity)
    }

    /// The identity, or [`Error::NotEnrolled`].
    pub fn require_identity(&self) -> Result<DeviceIdentity> {
        self.identity()?.ok_or(Error::NotEnrolled)
    }

    /// The bearer token, for the transport.
    pub(crate) fn token(&self) -> Result<String> {
        self.read(|connection| {
            connection
                .query_row("SELECT token FROM device", [], |row| row.get(0))
                .optional()?
                .ok_or(Error::NotEnrolled)
        })
    }

    /// Records the outcome of enrolment. Refuses a second enrolment: the
    /// device's id names every change it ever made.
    pub fn save_enrollment(
        &self,
        endpoint: &Endpoint,
        response: &EnrollResponse,
    ) -> Result<DeviceIdentity> {
        let now = self.now();
        self.write(|transaction| {
            if let Some(existing) = read_identity(transaction)? {
                return Err(Error::AlreadyEnrolled {
                    device_id: existing.device_id,
                });
            }
            transaction.execute(
                "INSERT INTO device (singleton, device_id, cadre_id, cadre_name, server_url, token, enrolled_at,
                                     ca_pem, allow_insecure_http)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    response.device_id.to_string(),
                    response.cadre_id.to_string(),
                    response.cadre_name,
                    endpoint.url.trim().trim_end_matches('/'),
                    response.token,
                    time_text(now),
                    endpoint.ca_pem,
                    endpoint.allow_insecure_http,
                ],
            )?;
            edits::observe_server_time(transaction, now, response.server_time)?;
            read_identity(transaction)?.ok_or(Error::NotEnrolled)
        })
    }

    /// The server this device enrolled with, and how far to trust the way
    /// there: what a transport for sync is built from.
    pub fn endpoint(&self) -> Result<Endpoint> {
        self.read(|connection| {
            connection
                .query_row(
                    "SELECT server_url, ca_pem, allow_insecure_http FROM device",
                    [],
                    |row| {
                        Ok(Endpoint {
                            url: row.get(0)?,
                            ca_pem: row.get(1)?,
                            allow_insecure_http: row.get(2)?,
                        })
                    },
                )
                .optional()?
                .ok_or(Error::NotEnrolled)
        })
    }

    /// Moves this device to another address of its server, or changes how
    /// far it trusts the way there (a county CA, plain HTTP), keeping its
    /// identity and token: for a county that moves its server to HTTPS.
    pub fn set_endpoint(&self, endpoint: &Endpoint) -> Result<DeviceIdentity> {
        self.write(|transaction| {
            let changed = transaction.execute(
                "UPDATE device SET server_url = ?1, ca_pem = ?2, allow_insecure_http = ?3",
                params![
                    endpoint.url.trim().trim_end_matches('/'),
                    endpoint.ca_pem,
                    endpoint.allow_insecure_http
                ],
            )?;
            if changed == 0 {
                return Err(Error::NotEnrolled);
            }
            read_identity(transaction)?.ok_or(Error::NotEnrolled)
        })
    }

    /// The id of this store's enrolment attempt, made on first use and the
    /// same on every retry.
    pub(crate) fn enrollment_attempt(&self) -> Result<Uuid> {
        let fresh = Uuid::now_v7();
        self.write(|transaction| {
            transaction.execute(
                "INSERT INTO enrollment_attempt (singleton, attempt) VALUES (1, ?1) ON CONFLICT DO NOTHING",
                [fresh.to_string()],
            )?;
            let attempt: String = transaction.query_row("SELECT attempt FROM enrollment_attempt", [], |row| row.get(0))?;
            parse_uuid(&attempt)
        })
    }

    /// Where the device stands: what is pending, when it last synced.
    pub fn status(&self) -> Result<Status> {
        self.read(|connection| {
            let identity = read_identity(connection)?;
            let count = |sql: &str| -> Result<u64> {
                Ok(connection.query_row(sql, [], |row| sqlite::count_column(row, 0))?)
            };
            let (cursor, last_sync, last_attempt, last_error, last_contact, permanent): (
                i64,
                Option<String>,
                Option<String>,
                Option<String>,
                Option<String>,
                bool,
            ) = connection.query_row(
                "SELECT cursor, last_sync_at, last_attempt_at, last_error, last_contact_at, last_error_permanent
                 FROM sync_state",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?)),
            )?;
            let oldest_pending: Option<String> = connection.query_row(
                "SELECT min(created_at) FROM outbox WHERE state = 'pending'",
                [],
                |row| row.get(0),
            )?;
            let files = uploads::files_pending(connection)?;
            Ok(Status {
                device_id: identity.as_ref().map(|identity| identity.device_id),
                cadre_id: identity.as_ref().map(|identity| identity.cadre_id),
                server_url: identity.map(|identity| identity.server_url),
                pending: count("SELECT count(*) FROM outbox WHERE state = 'pending'")?,
                rejected: count("SELECT count(*) FROM outbox WHERE state = 'rejected'")?,
                oldest_pending: oldest_pending.as_deref().map(parse_time).transpose()?,
                drafts: count("SELECT count(*) FROM visits WHERE status = 'draft'")?,
                households: count("SELECT count(*) FROM households")?,
                visits: count("SELECT count(*) FROM visits WHERE status = 'final'")?,
                forms: count("SELECT count(*) FROM forms")?,
                cursor: u64::try_from(cursor)
                    .map_err(|_| Error::Corrupt("negative cursor".into()))?,
                last_sync: last_sync.as_deref().map(parse_time).transpose()?,
                last_attempt: last_attempt.as_deref().map(parse_time).transpose()?,
                last_contact: last_contact.as_deref().map(parse_time).transpose()?,
                stalled: last_error.is_some() && permanent,
                last_error,
                files_pending: files.files,
                bytes_pending: files.bytes,
            })
        })
    }
}

/// The writer (migrated) and the reader of the file at `path`.
fn open_connections(
    path: &Path,
    durability: Durability,
    key: Option<&DatabaseKey>,
) -> Result<(Connection, Connection)> {
    let opened = |result: std::result::Result<Connection, OpenError>| match result {
        Ok(connection) => Ok(connection),
        Err(OpenError::Key(error)) => Err(Error::Key(error)),
        Err(OpenError::Sqlite(source)) => Err(open_error(path, source)),
    };
    let mut writer = opened(sqlite::open_keyed(path, durability, key))?;
    retention::give_space_back_from_now_on(&writer);
    sqlite::migrate(&mut writer, MIGRATIONS)?;
    let reader = opened(sqlite::open_reader_keyed(path, key))?;
    Ok((writer, reader))
}

fn open_error(path: &Path, source: rusqlite::Error) -> Error {
    Error::Open {
        path: path.display().to_string(),
        source,
    }
}

/// SQLite's update hook on the writer collects the tables a transaction
/// touched, for the observers.
fn watch_writes(writer: &mut Connection, observers: &observe::Observers) -> rusqlite::Result<()> {
    let touched = Arc::clone(&observers.touched);
    writer.update_hook(Some(
        move |_: rusqlite::hooks::Action, _: &str, table: &str, _: i64| {
            let mut tables = touched.lock().unwrap_or_else(PoisonError::into_inner);
            if !tables.contains(table) {
                tables.insert(table.to_string());
            }
        },
    ))
}

fn lock(mutex: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock rolled its transaction back when the
    // transaction dropped, so the connection is still sound.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read_identity(connection: &Connection) -> Result<Option<DeviceIdentity>> {
    let row: Option<(String, String, String, String, String)> = connection
        .prepare_cached(
            "SELECT device_id, cadre_id, cadre_name, server_url, enrolled_at FROM device",
        )?
        .query_row([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })
        .optional()?;
    row.map(
        |(device_id, cadre_id, cadre_name, server_url, enrolled_at)| {
            Ok(DeviceIdentity {
                device_id: parse_uuid(&device_id)?,
                cadre_id: parse_uuid(&cadre_id)?,
                cadre_name,
                server_url,
                enrolled_at: parse_time(&enrolled_at)?,
            })
        },
    )
    .transpose()
}

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_lifecycle;
#[cfg(test)]
mod tests_outbox;
#[cfg(test)]
mod tests_session;

#[cfg(test)]
pub(crate) mod tests_files;
#[cfg(test)]
mod tests_retention;
