//! The PostgreSQL backend, for a prefecture or a province: a pool of
//! connections shared by the server's blocking workers, statements
//! prepared once per connection, write transactions run again when another
//! transaction got there first (a unique key, a serialisation failure, a
//! deadlock), and its own migrations (`migrations/postgres/`), applied
//! under an advisory lock so that several servers starting at once migrate
//! once.

use std::collections::HashMap;
use std::error::Error;
use std::str::FromStr;

use bytes::BytesMut;
use postgres::error::SqlState;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, Config, NoTls, Statement};

use super::pool::Pool;
use super::{DbError, DbErrorKind, ToValue, Tx, Value, ValueRef, numbered_parameters};
use crate::store::{StoreError, StoreResult};

/// Connections kept idle between requests.
const IDLE_CONNECTIONS: usize = 8;
/// Connections open at once, at most (PostgreSQL's default allows 100
/// for all the servers together).
const MAX_CONNECTIONS: usize = 16;
/// Statements kept prepared on one connection, at most.
const MAX_STATEMENTS: usize = 512;
/// A write transaction that lost a race is run again this many times.
const WRITE_ATTEMPTS: usize = 5;

/// One PostgreSQL migration: its version and its SQL.
#[derive(Debug, Clone, Copy)]
pub struct PgMigration {
    pub version: u32,
    pub sql: &'static str,
}

#[derive(Debug)]
pub(crate) struct PgBackend {
    config: Config,
    /// The URL without its password, for messages.
    shown: String,
    pool: Pool<PgConnection>,
}

/// A connection and the statements prepared on it.
pub(crate) struct PgConnection {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl std::fmt::Debug for PgConnection {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PgConnection")
            .field("statements", &self.statements.len())
            .finish_non_exhaustive()
    }
}

impl PgBackend {
    /// Connects to `url` (`postgres://user@host:port/database`, as libpq
    /// reads it) and migrates the database.
    pub(crate) fn connect(url: &str, migrations: &[PgMigration]) -> StoreResult<PgBackend> {
        let config = Config::from_str(url).map_err(|error| StoreError::Open {
            target: "the PostgreSQL URL".into(),
            source: DbError::other(error.to_string()),
        })?;
        let shown = shown_url(&config);
        let backend = PgBackend {
            config,
            shown,
            pool: Pool::new(IDLE_CONNECTIONS, MAX_CONNECTIONS),
        };
        let mut connection = backend.open().map_err(|source| StoreError::Open {
            target: backend.shown.clone(),
            source,
        })?;
        migrate(&mut connection, migrations)?;
        backend.pool.give_back(connection, true);
        Ok(backend)
    }

    /// Where the store is, for messages (no password).
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    fn open(&self) -> Result<PgConnection, DbError> {
        let client = self.config.connect(NoTls)?;
        Ok(PgConnection {
            client,
            statements: HashMap::new(),
        })
    }

    /// Runs `work` in one write transaction, committed on `Ok`; run again
    /// from the start when it lost a race with another transaction.
    pub(crate) fn write<T>(
        &self,
        work: &mut dyn FnMut(&Tx<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.transaction("BEGIN", work) {
                Err(StoreError::Database(error))
                    if error.kind == DbErrorKind::Retry && attempt < WRITE_ATTEMPTS =>
                {
                    tracing::debug!(attempt, "write transaction lost a race; running it again");
                }
                other => return other,
            }
        }
    }

    /// Runs `work` in one read-only transaction on one snapshot.
    pub(crate) fn read<T>(
        &self,
        work: &mut dyn FnMut(&Tx<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", work)
    }

    fn transaction<T>(
        &self,
        begin: &str,
        work: &mut dyn FnMut(&Tx<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut connection = self
            .pool
            .take(|| self.open())
            .map_err(StoreError::Database)?;
        let result = (|| {
            connection.batch(begin)?;
            let value = work(&Tx::postgres(&mut connection));
            match value {
                Ok(value) => {
                    connection.batch("COMMIT")?;
                    Ok(value)
                }
                Err(error) => {
                    connection.batch("ROLLBACK")?;
                    Err(error)
                }
            }
        })();
        let healthy = !connection.client.is_closed()
            && !matches!(&result, Err(StoreError::Database(error)) if error.kind == DbErrorKind::Unavailable);
        if result.is_err() && healthy {
            // A failed statement leaves the transaction aborted until rolled
            // back; a failure inside COMMIT or ROLLBACK leaves it unknown.
            let _ = connection.batch("ROLLBACK");
        }
        self.pool.give_back(connection, healthy);
        result
    }
}

impl PgConnection {
    fn statement(&mut self, sql: &str) -> Result<Statement, DbError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        // Statements whose text varies (a supervisor's area is written into
        // its scope's SQL) must not pile up on a long-lived connection.
        if self.statements.len() >= MAX_STATEMENTS {
            self.statements.clear();
        }
        let statement = self.client.prepare(&numbered_parameters(sql))?;
        self.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    pub(super) fn execute(&mut self, sql: &str, params: &[&dyn ToValue]) -> Result<u64, DbError> {
        let statement = self.statement(sql)?;
        let values = bind(params);
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|value| value as _).collect();
        Ok(self.client.execute(&statement, &refs)?)
    }

    pub(super) fn query(
        &mut self,
        sql: &str,
        params: &[&dyn ToValue],
    ) -> Result<Vec<postgres::Row>, DbError> {
        let statement = self.statement(sql)?;
        let values = bind(params);
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|value| value as _).collect();
        Ok(self.client.query(&statement, &refs)?)
    }

    pub(super) fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        Ok(self.client.batch_execute(sql)?)
    }
}

/// Applies the migrations not yet applied, each in its own transaction,
/// under an advisory lock (another server may be starting too).
fn migrate(connection: &mut PgConnection, migrations: &[PgMigration]) -> StoreResult<()> {
    const LOCK: i64 = 0x646f_6f72_7374_6570; // "doorstep"
    let failed = |error: DbError| StoreError::Migrate(error.to_string());
    connection
        .client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK])
        .map_err(|error| failed(error.into()))?;
    let result = (|| {
        connection
            .batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                     version    BIGINT PRIMARY KEY,
                     applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            )
            .map_err(failed)?;
        let applied: i64 = connection
            .client
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )
            .map_err(|error| failed(error.into()))?
            .get(0);
        let known = migrations.last().map_or(0, |step| i64::from(step.version));
        if applied > known {
            return Err(StoreError::Migrate(format!(
                "the database is at schema version {applied}, newer than this build knows ({known}); update the server"
            )));
        }
        for step in migrations
            .iter()
            .filter(|step| i64::from(step.version) > applied)
        {
            let mut transaction = connection
                .client
                .transaction()
                .map_err(|error| failed(error.into()))?;
            transaction
                .batch_execute(step.sql)
                .and_then(|()| {
                    transaction.execute(
                        "INSERT INTO schema_migrations (version) VALUES ($1)",
                        &[&i64::from(step.version)],
                    )
                })
                .and_then(|_| transaction.commit())
                .map_err(|error| {
                    StoreError::Migrate(format!(
                        "schema migration to version {} failed: {}",
                        step.version,
                        DbError::from(error)
                    ))
                })?;
            tracing::info!(version = step.version, "schema migrated (PostgreSQL)");
        }
        Ok(())
    })();
    let _ = connection
        .client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK]);
    result
}

fn shown_url(config: &Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

impl From<postgres::Error> for DbError {
    fn from(error: postgres::Error) -> DbError {
        let kind = match error.code() {
            Some(code)
                if *code == SqlState::UNIQUE_VIOLATION
                    || *code == SqlState::T_R_SERIALIZATION_FAILURE
                    || *code == SqlState::T_R_DEADLOCK_DETECTED =>
            {
                DbErrorKind::Retry
            }
            Some(code) if code.code().starts_with("08") => DbErrorKind::Unavailable,
            None if error.is_closed() || error.as_db_error().is_none() => DbErrorKind::Unavailable,
            _ => DbErrorKind::Other,
        };
        // The database's own message (and detail, which for a unique key
        // names the value: it is left out).
        let message = match error.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => error.to_string(),
        };
        DbError { kind, message }
    }
}

/// A parameter bound as the type the statement expects: the rules bind
/// integers, reals, text and bytes; PostgreSQL's columns say which width.
#[derive(Debug)]
struct Bind(Value);

fn bind(params: &[&dyn ToValue]) -> Vec<Bind> {
    params.iter().map(|param| Bind(param.to_value())).collect()
}

impl ToSql for Bind {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match &self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(number) => match *ty {
                Type::INT8 => number.to_sql(ty, out),
                Type::INT4 => i32::try_from(*number)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*number)?.to_sql(ty, out),
                Type::BOOL => (*number != 0).to_sql(ty, out),
                #[allow(clippy::cast_precision_loss)]
                Type::FLOAT8 => (*number as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => number.to_string().to_sql(ty, out),
                _ => Err(format!("an integer cannot be bound as {ty}").into()),
            },
            Value::Real(number) => match *ty {
                Type::FLOAT8 => number.to_sql(ty, out),
                #[allow(clippy::cast_possible_truncation)]
                Type::FLOAT4 => (*number as f32).to_sql(ty, out),
                _ => Err(format!("a real number cannot be bound as {ty}").into()),
            },
            Value::Text(text) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    text.as_str().to_sql(ty, out)
                }
                _ => Err(format!("text cannot be bound as {ty}").into()),
            },
            Value::Blob(bytes) => match *ty {
                Type::BYTEA => bytes.as_slice().to_sql(ty, out),
                _ => Err(format!("bytes cannot be bound as {ty}").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

pub(super) fn column<T>(
    row: &postgres::Row,
    index: usize,
    convert: impl FnOnce(ValueRef<'_>) -> Result<T, String>,
) -> Result<T, String> {
    let Some(column) = row.columns().get(index) else {
        return Err(format!("no column {index}"));
    };
    let failed = |error: postgres::Error| error.to_string();
    let value = match *column.type_() {
        Type::INT8 => row
            .try_get::<_, Option<i64>>(index)
            .map_err(failed)?
            .map_or(ValueRef::Null, ValueRef::Integer),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(index)
            .map_err(failed)?
            .map_or(ValueRef::Null, |number| ValueRef::Integer(number.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(index)
            .map_err(failed)?
            .map_or(ValueRef::Null, |number| ValueRef::Integer(number.into())),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(index)
            .map_err(failed)?
            .map_or(ValueRef::Null, ValueRef::Bool),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(index)
            .map_err(failed)?
            .map_or(ValueRef::Null, ValueRef::Real),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(index)
            .map_err(failed)?
            .map_or(ValueRef::Null, |number| ValueRef::Real(number.into())),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => row
            .try_get::<_, Option<&str>>(index)
            .map_err(failed)?
            .map_or(ValueRef::Null, ValueRef::Text),
        Type::BYTEA => row
            .try_get::<_, Option<&[u8]>>(index)
            .map_err(failed)?
            .map_or(ValueRef::Null, ValueRef::Blob),
        ref other => {
            return Err(format!(
                "a column of type {other} (cast it to BIGINT, DOUBLE PRECISION or TEXT in the query)"
            ));
        }
    };
    convert(value)
}
