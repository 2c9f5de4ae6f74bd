//! SQLite plumbing shared by the device store and the server's embedded
//! store: opening a connection with Doorstep's pragmas (and, for an
//! encrypted device store, its key) and running forward-only numbered
//! migrations.
//!
//! The SQLite linked in is SQLCipher (ADR 0009). A connection opened
//! without a key is plain SQLite; with a [`DatabaseKey`], every page of the
//! file and of its WAL is encrypted (AES-256, HMAC-SHA512 per page).
//!
//! Migrations are tracked with `PRAGMA user_version`. Each step runs in its
//! own transaction together with the version bump, so a crash leaves the
//! database at one version or the next, never between.

use std::io::Read;
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

/// The key of an encrypted database: 256 bits, derived from whatever bytes
/// the app holds (a random key from Android's Keystore or iOS's Keychain,
/// a key file). Given to SQLCipher as a raw key, so opening costs no key
/// stretching: the bytes must be a secret with enough entropy, not a
/// password a person remembers. Debug output never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseKey([u8; 32]);

impl DatabaseKey {
    /// The key for `material`: SHA-256 over a fixed label and the bytes.
    pub fn derive(material: &[u8]) -> Result<DatabaseKey, KeyError> {
        use sha2::{Digest, Sha256};
        if material.is_empty() {
            return Err(KeyError::Empty);
        }
        let mut hasher = Sha256::new();
        hasher.update(b"doorstep device store key v1\0");
        hasher.update(material);
        Ok(DatabaseKey(hasher.finalize().into()))
    }

    /// SQLCipher's raw-key literal, `x'…'`: used as is, no key derivation.
    pub(crate) fn literal(&self) -> String {
        let hex: String = self.0.iter().map(|byte| format!("{byte:02x}")).collect();
        format!("x'{hex}'")
    }
}

impl std::fmt::Debug for DatabaseKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("DatabaseKey(…)")
    }
}

/// Why a database could not be opened with the key given (or without one).
/// In each case the file is left exactly as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the store is encrypted and this key does not open it")]
    Wrong,
    #[error("the store is encrypted (or damaged): open it with its key")]
    Missing,
    #[error("the store is not encrypted: open it without a key (then rekey it to encrypt it)")]
    NotEncrypted,
    #[error("the key is empty")]
    Empty,
}

/// Why [`open_keyed`] failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// The first 16 bytes of every plain SQLite file.
const PLAIN_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Whether the file at `path` exists and is a plain (unencrypted) SQLite
/// file; `None` when it is missing or empty (a new database).
pub fn is_plain(path: &Path) -> std::io::Result<Option<bool>> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let mut header = [0u8; 16];
    let mut read = 0;
    while read < header.len() {
        match file.read(&mut header[read..])? {
            0 => break,
            count => read += count,
        }
    }
    Ok(match read {
        0 => None,
        _ => Some(read == header.len() && &header == PLAIN_HEADER),
    })
}

/// Creates the file, if it is missing, readable and writable by its owner
/// only (0600); SQLite then makes the WAL and shared-memory files with the
/// same mode. An existing file is not touched.
pub fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

/// Takes group and other permissions off an existing file (a store made
/// before files were created private).
pub fn restrict_mode(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Opens (creating if needed) a read-write connection with WAL, foreign keys
/// and a busy timeout, so that a second process (an admin command next to a
/// running server) waits instead of failing.
pub fn open(path: &Path, durability: Durability) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(path, read_write_flags())?;
    configure(&connection, durability)?;
    Ok(connection)
}

/// [`open`], with a key for an encrypted database (`None`: plain). The key
/// is checked before anything else runs, so a wrong key (or a missing one,
/// or a key for a plain file) fails without writing to the file.
pub fn open_keyed(
    path: &Path,
    durability: Durability,
    key: Option<&DatabaseKey>,
) -> Result<Connection, OpenError> {
    let connection = Connection::open_with_flags(path, read_write_flags())?;
    unlock(&connection, path, key)?;
    configure(&connection, durability)?;
    Ok(connection)
}

fn read_write_flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI
}

/// Opens a connection for reading only (it still sees WAL writes).
pub fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    open_reader_keyed(path, None).map_err(|error| match error {
        OpenError::Sqlite(error) => error,
        OpenError::Key(error) => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_NOTADB),
            Some(error.to_string()),
        ),
    })
}

/// [`open_reader`] for a database encrypted with `key`.
pub fn open_reader_keyed(path: &Path, key: Option<&DatabaseKey>) -> Result<Connection, OpenError> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    unlock(&connection, path, key)?;
    connection.busy_timeout(Duration::from_secs(10))?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    connection.pragma_update(None, "foreign_keys", "ON")?;
    Ok(connection)
}

/// Gives SQLCipher the key (the first statement on the connection), then
/// reads the schema to prove that the key opens the file.
fn unlock(
    connection: &Connection,
    path: &Path,
    key: Option<&DatabaseKey>,
) -> Result<(), OpenError> {
    let plain = is_plain(path).map_err(|error| {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(error.to_string()),
        )
    })?;
    match (key, plain) {
        (Some(_), Some(true)) => return Err(KeyError::NotEncrypted.into()),
        (None, Some(false)) => return Err(KeyError::Missing.into()),
        _ => {}
    }
    if let Some(key) = key {
        // SQLCipher would log a wrong key's failed page checks on stderr
        // (logcat on Android): the caller gets the error instead.
        connection.execute_batch(&format!(
            "PRAGMA cipher_log_level = NONE; PRAGMA key = \"{}\";",
            key.literal()
        ))?;
    }
    match connection.query_row("SELECT count(*) FROM sqlite_master", [], |row| {
        row.get::<_, i64>(0)
    }) {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(error, _))
            if error.code == rusqlite::ErrorCode::NotADatabase && key.is_some() =>
        {
            Err(KeyError::Wrong.into())
        }
        Err(error) => Err(error.into()),
    }
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

/// Makes the database give the pages it frees back to the file system
/// (`auto_vacuum = INCREMENTAL`; [`reclaim_space`] then returns them).
/// Takes effect at once on a new database, before its first table; an
/// existing one is rebuilt once with `VACUUM` (which needs free space
/// about the size of the file, and keeps the key of an encrypted one).
/// Returns whether it rebuilt the file.
pub fn use_incremental_vacuum(connection: &Connection) -> rusqlite::Result<bool> {
    let mode = |connection: &Connection| -> rusqlite::Result<i64> {
        connection.pragma_query_value(None, "auto_vacuum", |row| row.get(0))
    };
    if mode(connection)? == INCREMENTAL {
        return Ok(false);
    }
    connection.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    if mode(connection)? == INCREMENTAL {
        return Ok(false);
    }
    connection.execute_batch("VACUUM")?;
    Ok(true)
}

/// `PRAGMA auto_vacuum`'s value for INCREMENTAL.
const INCREMENTAL: i64 = 2;

/// Gives the free pages of a database in incremental auto-vacuum mode back
/// to the file system, then copies the WAL into the database and empties
/// it, so that both files shrink. Run outside any transaction. Returns
/// whether the checkpoint finished (a reader elsewhere can hold it back;
/// the next one finishes it).
pub fn reclaim_space(connection: &Connection) -> rusqlite::Result<bool> {
    // One result row for each page given back: stepped to the end, or it
    // gives back one page only.
    let mut vacuum = connection.prepare("PRAGMA incremental_vacuum")?;
    let mut pages = vacuum.query([])?;
    while pages.next()?.is_some() {}
    drop(pages);
    drop(vacuum);
    let busy: i64 =
        connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
    Ok(busy == 0)
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

/// The first twelve columns of a household row, in the order
/// [`household_record_from_row`] reads them: the device's and the server's
/// `households` tables share this layout (the device's queries prefix each
/// column with its table alias and append columns of their own after these).
pub const HOUSEHOLD_COLUMNS: &str = "id, village_code, head_name, id_card_suffix, group_name, members, phone, address, lat, lon, category, version";

/// A household row (its first columns as [`HOUSEHOLD_COLUMNS`]) as the wire type.
pub fn household_record_from_row(
    row: &Row<'_>,
) -> rusqlite::Result<doorstep_protocol::HouseholdRecord> {
    Ok(doorstep_protocol::HouseholdRecord {
        id: uuid_column(row, 0)?,
        village_code: row.get(1)?,
        head_name: row.get(2)?,
        id_card_suffix: row.get(3)?,
        group: row.get(4)?,
        members: count_column(row, 5)?,
        phone: row.get(6)?,
        address: row.get(7)?,
        lat: row.get(8)?,
        lon: row.get(9)?,
        category: row.get(10)?,
        version: count_column(row, 11)?,
    })
}
