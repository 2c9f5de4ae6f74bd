//! The embedded backend: one SQLite file (nothing to install). One writer
//! connection behind a mutex and a pool of readers; WAL lets pulls read
//! while a push writes. `synchronous=FULL` by default: a push is durable
//! before it is acknowledged. Admin commands open the same file from
//! another process and their writes take effect at once.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use doorstep_core::sqlite::{self, Durability, MigrateError, Migration};
use rusqlite::types::{ToSqlOutput, ValueRef as SqliteRef};
use rusqlite::{Connection, TransactionBehavior};

use super::pool::Pool;
use super::{DbError, DbErrorKind, ToValue, Tx, Value, ValueRef};
use crate::store::{StoreError, StoreResult};

/// Readers kept open between requests.
const IDLE_READERS: usize = 8;
/// Readers open at once, at most: more requests wait for one (each is a
/// file descriptor, and a few suffice for a disk).
const MAX_READERS: usize = 32;

#[derive(Debug)]
pub(crate) struct SqliteBackend {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Pool<Connection>,
}

impl SqliteBackend {
    pub(crate) fn open(
        path: &Path,
        durability: Durability,
        migrations: &[Migration],
    ) -> StoreResult<SqliteBackend> {
        let mut writer = sqlite::open(path, durability).map_err(|source| StoreError::Open {
            target: path.display().to_string(),
            source: source.into(),
        })?;
        sqlite::migrate(&mut writer, migrations).map_err(|error| match error {
            MigrateError::TooNew { .. } => StoreError::Migrate(error.to_string()),
            other => StoreError::Migrate(other.to_string()),
        })?;
        Ok(SqliteBackend {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers: Pool::new(IDLE_READERS, MAX_READERS),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` in one immediate write transaction, committed on `Ok`.
    pub(crate) fn write<T>(
        &self,
        work: &mut dyn FnMut(&Tx<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut connection = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = work(&Tx::sqlite(&transaction))?;
        transaction.commit()?;
        Ok(value)
    }

    /// Runs `work` in one read transaction (one consistent snapshot).
    pub(crate) fn read<T>(
        &self,
        work: &mut dyn FnMut(&Tx<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut connection = self
            .readers
            .take(|| sqlite::open_reader(&self.path).map_err(StoreError::from))?;
        let result = (|| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let value = work(&Tx::sqlite(&transaction))?;
            transaction.finish()?;
            Ok(value)
        })();
        self.readers.give_back(connection, true);
        result
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(error: rusqlite::Error) -> DbError {
        let kind = match error.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                DbErrorKind::Retry
            }
            Some(rusqlite::ErrorCode::CannotOpen) => DbErrorKind::Unavailable,
            _ => DbErrorKind::Other,
        };
        DbError {
            kind,
            message: error.to_string(),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> StoreError {
        StoreError::Database(error.into())
    }
}

struct Bind(Value);

impl rusqlite::ToSql for Bind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match &self.0 {
            Value::Null => ToSqlOutput::Borrowed(SqliteRef::Null),
            Value::Integer(number) => ToSqlOutput::Borrowed(SqliteRef::Integer(*number)),
            Value::Real(number) => ToSqlOutput::Borrowed(SqliteRef::Real(*number)),
            Value::Text(text) => ToSqlOutput::Borrowed(SqliteRef::Text(text.as_bytes())),
            Value::Blob(bytes) => ToSqlOutput::Borrowed(SqliteRef::Blob(bytes)),
        })
    }
}

fn bind(params: &[&dyn ToValue]) -> Vec<Bind> {
    params.iter().map(|param| Bind(param.to_value())).collect()
}

pub(super) fn execute(
    connection: &Connection,
    sql: &str,
    params: &[&dyn ToValue],
) -> Result<u64, DbError> {
    let changed = connection
        .prepare_cached(sql)?
        .execute(rusqlite::params_from_iter(bind(params)))?;
    Ok(changed as u64)
}

pub(super) fn batch(connection: &Connection, sql: &str) -> Result<(), DbError> {
    Ok(connection.execute_batch(sql)?)
}

pub(super) fn each(
    connection: &Connection,
    sql: &str,
    params: &[&dyn ToValue],
    visit: &mut dyn FnMut(&rusqlite::Row<'_>) -> StoreResult<bool>,
) -> StoreResult<()> {
    let mut statement = connection.prepare_cached(sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(bind(params)))?;
    while let Some(row) = rows.next()? {
        if !visit(row)? {
            break;
        }
    }
    Ok(())
}

pub(super) fn column<T>(
    row: &rusqlite::Row<'_>,
    index: usize,
    convert: impl FnOnce(ValueRef<'_>) -> Result<T, String>,
) -> Result<T, String> {
    let value = row.get_ref(index).map_err(|error| error.to_string())?;
    convert(match value {
        SqliteRef::Null => ValueRef::Null,
        SqliteRef::Integer(number) => ValueRef::Integer(number),
        SqliteRef::Real(number) => ValueRef::Real(number),
        SqliteRef::Text(bytes) => {
            ValueRef::Text(std::str::from_utf8(bytes).map_err(|_| "text that is not UTF-8")?)
        }
        SqliteRef::Blob(bytes) => ValueRef::Blob(bytes),
    })
}
