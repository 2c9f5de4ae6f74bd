//! The server's store: the rules (who may read and write what, the
//! exactly-once ledger, merges, scopes) over one of two backends (`db`):
//! the embedded SQLite file (the default, nothing to install) or
//! PostgreSQL (a prefecture or a province, several servers on one
//! database). Admin commands open the same database from another process
//! and their writes take effect at once (the server caches nothing that
//! they change).
//!
//! All methods are blocking; the HTTP layer calls them from
//! `spawn_blocking`.

mod admin;
mod audit;
pub mod browse;
pub mod db;
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
mod push_batch;
mod push_eval;
mod review;
mod rows;
pub mod scope;
mod secrets;
pub mod tokens;
pub mod users;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use doorstep_core::sqlite::{Durability, Migration};
use doorstep_forms::Form;
use uuid::Uuid;

use db::Tx;
use db::pg::PgMigration;
pub use db::{DbError, DbErrorKind, Dialect};

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
    Migration {
        version: 9,
        sql: include_str!("migrations/0009_log_head.sql"),
        after: None,
    },
];

/// PostgreSQL's migrations: its first is the SQLite schema at version 9.
pub const PG_MIGRATIONS: &[PgMigration] = &[PgMigration {
    version: 1,
    sql: include_str!("migrations/postgres/0001_schema.sql"),
}];

/// An authenticated device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceAuth {
    pub device_id: Uuid,
    pub cadre_id: Uuid,
}

/// Errors of the server store, each with the words a client or operator
/// should see. None carries personal data, nor a driver's own error type.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("could not open the server database at {target}: {source}")]
    Open {
        target: String,
        #[source]
        source: DbError,
    },
    #[error("{0}")]
    Migrate(String),
    #[error("database error: {0}")]
    Database(#[from] DbError),
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

/// The store's one clock: admin methods read it, and the HTTP layer hands
/// its reading to sync methods as `now`. Tests inject their own.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Where the store keeps its rows.
#[derive(Debug)]
enum Backend {
    Sqlite(db::sqlite::SqliteBackend),
    Postgres(db::pg::PgBackend),
}

pub struct ServerStore {
    backend: Backend,
    clock: Clock,
    /// Parsed form versions (a published version never changes).
    forms: Mutex<HashMap<(String, String), Arc<Form>>>,
}

impl std::fmt::Debug for ServerStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ServerStore")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl ServerStore {
    /// Opens (or creates) the embedded database and migrates it.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<ServerStore> {
        ServerStore::open_with(path, Durability::Full)
    }

    pub fn open_with(path: impl AsRef<Path>, durability: Durability) -> StoreResult<ServerStore> {
        let backend = db::sqlite::SqliteBackend::open(path.as_ref(), durability, MIGRATIONS)?;
        Ok(ServerStore::with_backend(Backend::Sqlite(backend)))
    }

    /// Connects to a PostgreSQL database (`postgres://user@host:port/name`)
    /// and migrates it. Several servers may share one database.
    pub fn connect(url: &str) -> StoreResult<ServerStore> {
        let backend = db::pg::PgBackend::connect(url, PG_MIGRATIONS)?;
        Ok(ServerStore::with_backend(Backend::Postgres(backend)))
    }

    fn with_backend(backend: Backend) -> ServerStore {
        ServerStore {
            backend,
            clock: Arc::new(Utc::now),
            forms: Mutex::new(HashMap::new()),
        }
    }

    /// The same store reading `clock` instead of the system's.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> ServerStore {
        self.clock = clock;
        self
    }

    /// The time by the store's clock.
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// The embedded database's file; `None` on PostgreSQL.
    pub fn path(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Sqlite(backend) => Some(backend.path()),
            Backend::Postgres(_) => None,
        }
    }

    /// Where the store is, for messages: a file, or a PostgreSQL URL
    /// without its password.
    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Sqlite(backend) => backend.path().display().to_string(),
            Backend::Postgres(backend) => backend.shown().to_string(),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match &self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs `work` in one write transaction, committed on `Ok`. On
    /// PostgreSQL it may run more than once (a lost race is run again), so
    /// it must do nothing outside the transaction.
    fn write<T>(&self, mut work: impl FnMut(&Tx<'_>) -> StoreResult<T>) -> StoreResult<T> {
        match &self.backend {
            Backend::Sqlite(backend) => backend.write(&mut work),
            Backend::Postgres(backend) => backend.write(&mut work),
        }
    }

    /// Runs `work` in one read transaction (one consistent snapshot).
    fn read<T>(&self, mut work: impl FnMut(&Tx<'_>) -> StoreResult<T>) -> StoreResult<T> {
        match &self.backend {
            Backend::Sqlite(backend) => backend.read(&mut work),
            Backend::Postgres(backend) => backend.read(&mut work),
        }
    }

    /// Whether the database answers.
    pub fn ping(&self) -> StoreResult<()> {
        self.read(|tx| tx.value::<i64>("SELECT 1", &[]).map(|_| ()))
    }
}

#[cfg(test)]
mod testing;

#[cfg(test)]
mod upgrade_tests;

#[cfg(test)]
mod schema_tests;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod facts_tests;
