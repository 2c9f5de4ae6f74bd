//! SQLite plumbing shared by the device store and the server's embedded
//! store: opening a connection with Doorstep's pragmas and running
//! forward-only numbered migrations.
//!
//! Migrations are tracked with `PRAGMA user_version`. Each step runs in its
//! own transaction together with the version bump, so a crash leaves the
//! database at one version or the next, never between.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Error::FromSqlConversionFailure;
use rusqlite::types::Type;
use rusqlite::{Connection, OpenFlags, Row, Transaction};
use uuid::Uuid;

/// Prepared statements kept per connection: every statement of a hot path
/// is parsed once.
const STATEMENT_CACHE: usize = 64;

/// One forward step of a schema.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The schema version this step produces (1, 2, …; no gaps).
    pub version: u32,
    pub sql: &'static str,
    /// Work that SQL alone cannot do (backfills computed in Rust), run in the
    /// same transaction after `sql`.
    pub after: Option<fn(&Transaction<'_>) -> rusqlite::Result<()>>,
}

/// How much durability a connection promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: a committed transaction survives power loss.
    Full,
    /// `synchronous=NORMAL`: for tests and benchmarks of everything but fsync.
    Normal,
}

/// Errors of [`migrate`].
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "the database is at schema version {found}, newer than this build knows ({known}); update the app"
    )]
    TooNew { found: u32, known: u32 },
    #[error("schema migration to version {version} failed: {source}")]
    Step {
        version: u32,
        #[source]
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// Opens (creating if needed) a read-write connection with WAL, foreign keys
/// and a busy timeout, so that a second process (an admin command next to a
/// running server) waits instead of failing.
pub fn open(path: &Path, durability: Durability) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    configure(&connection, durability)?;
    Ok(connection)
}

/// Opens a connection for reading only (it still sees WAL writes).
pub fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(Duration::from_secs(10))?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    connection.pragma_update(None, "foreign_keys", "ON")?;
    Ok(connection)
}

fn configure(connection: &Connection, durability: Durability) -> rusqlite::Result<()> {
    connection.busy_timeout(Duration::from_secs(10))?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let mode: String =
        connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(%mode, "SQLite refused WAL mode");
    }
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    connection.pragma_update(None, "synchronous", synchronous)?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// The schema version of a connection's database.
pub fn schema_version(connection: &Connection) -> rusqlite::Result<u32> {
    connection.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Brings the database up to the last of `migrations`. Returns the version it
/// started at.
pub fn migrate(connection: &mut Connection, migrations: &[Migration]) -> Result<u32, MigrateError> {
    let known = migrations.last().map_or(0, |step| step.version);
    let start = schema_version(connection)?;
    if start > known {
        return Err(MigrateError::TooNew {
            found: start,
            known,
        });
    }
    for step in migrations.iter().filter(|step| step.version > start) {
        let run = |connection: &mut Connection| -> rusqlite::Result<()> {
            let transaction =
                connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // Another process may have migrated while we waited for the lock.
            if schema_version(&transaction)? >= step.version {
                return Ok(());
            }
            transaction.execute_batch(step.sql)?;
            if let Some(after) = step.after {
                after(&transaction)?;
            }
            transaction.pragma_update(None, "user_version", step.version)?;
            transaction.commit()
        };
        run(connection).map_err(|source| MigrateError::Step {
            version: step.version,
            source,
        })?;
        tracing::info!(version = step.version, "schema migrated");
    }
    Ok(start)
}

/// The schema as text (`sqlite_master` sorted), for comparing a migrated
/// database with a fresh one in tests.
pub fn schema_dump(connection: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut statement = connection.prepare(
        "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master
         WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
    )?;
    let rows = statement.query_map([], |row| {
        Ok(format!(
            "{} {} on {}: {}",
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            normalise_sql(&row.get::<_, String>(3)?)
        ))
    })?;
    rows.collect()
}

/// Folds whitespace so that the same statement formatted differently (as a
/// frozen fixture and a migration file may be) compares equal.
fn normalise_sql(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Times are stored as RFC 3339 UTC text with milliseconds: they sort as text.
pub fn time_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads a UUID column inside a row mapper.
pub fn uuid_column(row: &Row<'_>, index: usize) -> rusqlite::Result<Uuid> {
    let text: String = row.get(index)?;
    Uuid::parse_str(&text)
        .map_err(|error| FromSqlConversionFailure(index, Type::Text, Box::new(error)))
}

/// Reads a timestamp column inside a row mapper.
pub fn time_column(row: &Row<'_>, index: usize) -> rusqlite::Result<DateTime<Utc>> {
    let text: String = row.get(index)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|error| FromSqlConversionFailure(index, Type::Text, Box::new(error)))
}

/// Reads an optional timestamp column inside a row mapper.
pub fn optional_time_column(
    row: &Row<'_>,
    index: usize,
) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match row.get_ref(index)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => time_column(row, index).map(Some),
    }
}

/// Reads a non-negative integer column inside a row mapper.
pub fn count_column<T: TryFrom<i64>>(row: &Row<'_>, index: usize) -> rusqlite::Result<T> {
    let value: i64 = row.get(index)?;
    T::try_from(value).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(index, value))
}

/// Reads an optional UUID column inside a row mapper.
pub fn optional_uuid_column(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<Uuid>> {
    match row.get_ref(index)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => uuid_column(row, index).map(Some),
    }
}

/// Reads a JSON text column into a value inside a row mapper.
pub fn json_column<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    index: usize,
) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text)
        .map_err(|error| FromSqlConversionFailure(index, Type::Text, Box::new(error)))
}

/// Reads a household field name inside a row mapper.
pub fn household_field_column(
    row: &Row<'_>,
    index: usize,
) -> rusqlite::Result<doorstep_protocol::HouseholdField> {
    let name: String = row.get(index)?;
    doorstep_protocol::HouseholdField::parse(&name).ok_or_else(|| {
        FromSqlConversionFailure(
            index,
            Type::Text,
            format!("unknown household field {name}").into(),
        )
    })
}

/// The columns of a conflict row, in the order [`conflict_from_row`]
/// reads them: the device's and the server's `conflicts` tables share this
/// layout on purpose.
pub const CONFLICT_COLUMNS: &str = "id, household_id, field, version, kept, lost, kept_by, lost_by, kept_hlc, lost_hlc, decided_at";

/// A conflict row (selected with [`CONFLICT_COLUMNS`]) as the wire type.
pub fn conflict_from_row(row: &Row<'_>) -> rusqlite::Result<doorstep_protocol::ConflictRecord> {
    use doorstep_protocol::Hlc;
    Ok(doorstep_protocol::ConflictRecord {
        id: count_column(row, 0)?,
        household_id: uuid_column(row, 1)?,
        field: household_field_column(row, 2)?,
        version: count_column(row, 3)?,
        kept: json_column(row, 4)?,
        lost: json_column(row, 5)?,
        kept_by: optional_uuid_column(row, 6)?,
        lost_by: optional_uuid_column(row, 7)?,
        kept_hlc: Hlc(count_column(row, 8)?),
        lost_hlc: Hlc(count_column(row, 9)?),
        decided_at: time_column(row, 10)?,
    })
}
