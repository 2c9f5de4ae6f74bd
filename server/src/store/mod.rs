//! The server's embedded store: one SQLite file (nothing to install).
//!
//! One writer connection behind a mutex and a small pool of readers; WAL lets
//! pulls read while a push writes. `synchronous=FULL`: a push is durable
//! before it is acknowledged. Admin commands open the same file from another
//! process and their writes take effect at once (the server caches nothing
//! that they change).
//!
//! All methods are blocking; the HTTP layer calls them from
//! `spawn_blocking`.

mod admin;
mod audit;
pub mod browse;
mod enroll;
mod export;
mod facts;
mod files;
mod import;
mod merge;
pub mod people;
mod published;
mod pull;
mod push;
mod review;
mod rows;
pub mod scope;
mod secrets;
pub mod tokens;
pub mod users;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use doorstep_core::sqlite::{self, Durability, MigrateError, Migration};
use doorstep_forms::Form;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use uuid::Uuid;

pub use admin::{Assignment, AssignmentTarget, CadreSummary, DeviceSummary, EnrollCode};
pub use audit::{AuditEntry, AuditEvent, AuditKind};
pub use export::{FormVersionCount, VisitFilter};
pub use files::{FileRecord, MissingFiles, NamedFile};
pub use import::ImportReport;
pub use merge::FieldHistory;
pub use people::{CadreRow, DeviceRow, VillageRef};
pub use published::FormRow;
pub use pull::{MAX_PULL_LIMIT, MAX_SNAPSHOT_HOUSEHOLDS};
pub use push::UNASSIGNED_GRACE_DAYS;
pub use review::{
    CadreDevice, ConflictFilter, ConflictRow, RejectedFilter, RejectedRow, Resolution,
    ResolveOutcome,
};
pub use scope::Scope;
pub use tokens::{API_TOKEN_PREFIX, ApiTokenRow};
pub use users::{ConsoleSession, NewUser, Role, User};

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("migrations/0001_initial.sql"),
        after: None,
    },
    Migration {
        version: 2,
        sql: include_str!("migrations/0002_visit_computed.sql"),
        after: None,
    },
    Migration {
        version: 3,
        sql: include_str!("migrations/0003_enrollment_attempt.sql"),
        after: None,
    },
    Migration {
        version: 4,
        sql: include_str!("migrations/0004_household_merge.sql"),
        after: None,
    },
    Migration {
        version: 5,
        sql: include_str!("migrations/0005_security.sql"),
        after: None,
    },
    Migration {
        version: 6,
        sql: include_str!("migrations/0006_console_users.sql"),
        after: None,
    },
    Migration {
        version: 7,
        sql: include_str!("migrations/0007_console.sql"),
        after: Some(facts::fill_all),
    },
    Migration {
        version: 8,
        sql: include_str!("migrations/0008_files.sql"),
        after: None,
    },
];

/// An authenticated device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceAuth {
    pub device_id: Uuid,
    pub cadre_id: Uuid,
}

/// Readers kept open between requests.
const IDLE_READERS: usize = 8;
/// Readers open at once, at most: more requests wait for one (each is a
/// file descriptor, and a few suffice for a disk).
const MAX_READERS: usize = 32;

/// Errors of the server store, each with the words a client or operator
/// should see. None carries personal data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("could not open the server database at {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Enroll(String),
    #[error("unknown or revoked device token")]
    Unauthorized,
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug)]
pub struct ServerStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Readers>,
    /// Signalled when a reader is returned.
    reader_returned: Condvar,
    /// Parsed form versions (a published version never changes).
    forms: Mutex<HashMap<(String, String), Arc<Form>>>,
}

impl ServerStore {
    /// Opens (or creates) the database and migrates it.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<ServerStore> {
        ServerStore::open_with(path, Durability::Full)
    }

    pub fn open_with(path: impl AsRef<Path>, durability: Durability) -> StoreResult<ServerStore> {
        let path = path.as_ref().to_path_buf();
        let mut writer = sqlite::open(&path, durability).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        sqlite::migrate(&mut writer, MIGRATIONS)?;
        Ok(ServerStore {
            path,
            writer: Mutex::new(writer),
            readers: Mutex::new(Readers::default()),
            reader_returned: Condvar::new(),
            forms: Mutex::new(HashMap::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` in one immediate write transaction, committed on `Ok`.
    fn write<T>(&self, work: impl FnOnce(&Transaction<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let mut connection = lock(&self.writer);
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = work(&transaction)?;
        transaction.commit()?;
        Ok(value)
    }

    /// Runs `work` in one read transaction (one consistent snapshot).
    fn read<T>(&self, work: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let pooled = {
            let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Some(connection) = readers.idle.pop() {
                    break Some(connection);
                }
                if readers.open < MAX_READERS {
                    readers.open += 1;
                    break None;
                }
                readers = self
                    .reader_returned
                    .wait(readers)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        let mut connection = match pooled {
            Some(connection) => connection,
            None => match sqlite::open_reader(&self.path) {
                Ok(connection) => connection,
                Err(error) => {
                    self.forget_reader();
                    return Err(error.into());
                }
            },
        };
        let result = (|| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let value = work(&transaction)?;
            transaction.finish()?;
            Ok(value)
        })();
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if readers.idle.len() < IDLE_READERS {
            readers.idle.push(connection);
        } else {
            readers.open -= 1;
        }
        drop(readers);
        self.reader_returned.notify_one();
        result
    }

    /// A reader that could not be opened no longer counts.
    fn forget_reader(&self) {
        self.readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open -= 1;
        self.reader_returned.notify_one();
    }
}

/// The reader connections: those idle, and how many exist in all.
#[derive(Debug, Default)]
struct Readers {
    idle: Vec<Connection>,
    open: usize,
}

fn lock(mutex: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod facts_tests;
