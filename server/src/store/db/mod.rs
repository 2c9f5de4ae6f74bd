//! The storage under the store's rules (ADR 0013): a transaction that runs
//! SQL and hands back rows, on the embedded SQLite or on PostgreSQL. The
//! rules (the exactly-once ledger, visit checks, enrolment, merges, scopes)
//! are written once above it, in one dialect both engines speak: `?N`
//! parameters (rewritten to `$N` for PostgreSQL), ids, times and JSON as
//! text, counts as 64-bit integers, `ON CONFLICT` upserts, `RETURNING`.
//! Where the engines differ the rules ask [`Tx::dialect`] (a handful of
//! places: substring search, row locks, the change log's head).
//!
//! Both backends give the same guarantees to the rules: a write
//! transaction sees its own writes and commits all or nothing; a read sees
//! one consistent snapshot; positions in the change log commit in order
//! (`log_head`, see `rows::append_log`).

pub(crate) mod pg;
mod pool;
pub(crate) mod sqlite;
mod value;

use std::cell::RefCell;

pub use value::{FromValue, Json, ToValue, Value, ValueRef};

use super::{StoreError, StoreResult};

/// Which SQL engine a transaction runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// An error of the engine, as words (never a value that was bound).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DbError {
    pub kind: DbErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbErrorKind {
    /// Another transaction got there first (a unique key, a serialisation
    /// failure, a deadlock): running the whole transaction again decides
    /// it afresh.
    Retry,
    /// The database cannot be reached.
    Unavailable,
    Other,
}

impl DbError {
    pub(crate) fn other(message: impl Into<String>) -> DbError {
        DbError {
            kind: DbErrorKind::Other,
            message: message.into(),
        }
    }
}

/// One transaction, read or write.
#[derive(Debug)]
pub struct Tx<'a> {
    inner: TxInner<'a>,
}

#[derive(Debug)]
enum TxInner<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(RefCell<&'a mut pg::PgConnection>),
}

impl<'a> Tx<'a> {
    pub(crate) fn sqlite(connection: &'a rusqlite::Connection) -> Tx<'a> {
        Tx {
            inner: TxInner::Sqlite(connection),
        }
    }

    pub(crate) fn postgres(connection: &'a mut pg::PgConnection) -> Tx<'a> {
        Tx {
            inner: TxInner::Postgres(RefCell::new(connection)),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self.inner {
            TxInner::Sqlite(_) => Dialect::Sqlite,
            TxInner::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs one statement; returns the rows it changed.
    pub fn execute(&self, sql: &str, params: &[&dyn ToValue]) -> StoreResult<u64> {
        match &self.inner {
            TxInner::Sqlite(connection) => sqlite::execute(connection, sql, params),
            TxInner::Postgres(connection) => connection.borrow_mut().execute(sql, params),
        }
        .map_err(StoreError::from)
    }

    /// Runs statements without parameters (schema changes, pragmas).
    pub fn batch(&self, sql: &str) -> StoreResult<()> {
        match &self.inner {
            TxInner::Sqlite(connection) => sqlite::batch(connection, sql),
            TxInner::Postgres(connection) => connection.borrow_mut().batch(sql),
        }
        .map_err(StoreError::from)
    }

    /// Every row of a query, each mapped. `map` may run other statements on
    /// this transaction.
    pub fn query<T>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        mut map: impl FnMut(&Row<'_>) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let mut out = Vec::new();
        self.each(sql, params, |row| {
            out.push(map(row)?);
            Ok(true)
        })?;
        Ok(out)
    }

    /// Rows one at a time until `visit` returns `false`. On SQLite the
    /// rows stream from the statement; on PostgreSQL they arrive whole
    /// first (a connection runs one statement at a time).
    pub fn each(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        mut visit: impl FnMut(&Row<'_>) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        match &self.inner {
            TxInner::Sqlite(connection) => sqlite::each(connection, sql, params, &mut |row| {
                visit(&Row {
                    inner: RowInner::Sqlite(row),
                })
            }),
            TxInner::Postgres(connection) => {
                let rows = connection.borrow_mut().query(sql, params)?;
                for row in &rows {
                    if !visit(&Row {
                        inner: RowInner::Postgres(row),
                    })? {
                        break;
                    }
                }
                Ok(())
            }
        }
    }

    /// The first row of a query, if there is one.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        map: impl FnOnce(&Row<'_>) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        let mut map = Some(map);
        let mut out = None;
        self.each(sql, params, |row| {
            if let Some(map) = map.take() {
                out = Some(map(row)?);
            }
            Ok(false)
        })?;
        Ok(out)
    }

    /// The one row a query must return.
    pub fn query_one<T>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        map: impl FnOnce(&Row<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.query_opt(sql, params, map)?.ok_or_else(|| {
            StoreError::from(DbError::other(
                "a query expected to return a row returned none",
            ))
        })
    }

    /// The first column of the one row a query returns.
    pub fn value<T: FromValue>(&self, sql: &str, params: &[&dyn ToValue]) -> StoreResult<T> {
        self.query_one(sql, params, |row| row.get(0))
    }

    /// Inserts rows of `width` values each (`values` holds them one after
    /// the other): `head` is `INSERT INTO t (a, b) VALUES`, `tail` what
    /// follows the rows (`ON CONFLICT DO NOTHING`, or nothing). Up to 64
    /// rows go in one statement, in a few fixed sizes so that each size is
    /// prepared once per connection. Returns the rows inserted.
    pub fn insert_rows(
        &self,
        head: &str,
        tail: &str,
        width: usize,
        values: &[Value],
    ) -> StoreResult<u64> {
        const SIZES: [usize; 4] = [64, 16, 4, 1];
        if width == 0 || !values.len().is_multiple_of(width) {
            return Err(StoreError::from(DbError::other(
                "rows of unequal width for one insert",
            )));
        }
        let mut rows = values.len() / width;
        let mut at = 0;
        let mut inserted = 0;
        for size in SIZES {
            while rows >= size {
                let mut sql = String::with_capacity(head.len() + tail.len() + size * width * 6);
                sql.push_str(head);
                for row in 0..size {
                    sql.push_str(if row == 0 { " (" } else { ", (" });
                    for column in 0..width {
                        if column > 0 {
                            sql.push_str(", ");
                        }
                        sql.push('?');
                        sql.push_str(&(row * width + column + 1).to_string());
                    }
                    sql.push(')');
                }
                sql.push(' ');
                sql.push_str(tail);
                let params: Vec<&dyn ToValue> = values[at..at + size * width]
                    .iter()
                    .map(|value| value as &dyn ToValue)
                    .collect();
                inserted += self.execute(&sql, &params)?;
                at += size * width;
                rows -= size;
            }
        }
        Ok(inserted)
    }
}

/// One row of a result.
#[derive(Debug)]
pub struct Row<'a> {
    inner: RowInner<'a>,
}

#[derive(Debug)]
enum RowInner<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a ::postgres::Row),
}

impl Row<'_> {
    /// Column `index`, converted; the error names the column, not its value.
    pub fn get<T: FromValue>(&self, index: usize) -> StoreResult<T> {
        let converted = match &self.inner {
            RowInner::Sqlite(row) => sqlite::column(row, index, T::from_value),
            RowInner::Postgres(row) => pg::column(row, index, T::from_value),
        };
        converted.map_err(|problem| {
            StoreError::from(DbError::other(format!(
                "column {index} of a stored row: {problem}"
            )))
        })
    }
}

/// Rewrites `?N` parameters as `$N` (PostgreSQL's), leaving quoted text
/// and identifiers alone.
pub(crate) fn numbered_parameters(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    for character in sql.chars() {
        match quote {
            Some(open) => {
                if character == open {
                    quote = None;
                }
                out.push(character);
            }
            None => match character {
                '\'' | '"' => {
                    quote = Some(character);
                    out.push(character);
                }
                '?' => out.push('$'),
                _ => out.push(character),
            },
        }
    }
    out
}

/// A PostgreSQL `url` naming the database `name` instead of its own (its
/// query, `?sslmode=…`, kept): for tools and tests that make a database of
/// their own on the same server.
pub fn url_with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(base, query)| (base, Some(query)));
    let after_scheme = base.find("://").map_or(0, |index| index + 3);
    let end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |slash| after_scheme + slash);
    match query {
        Some(query) => format!("{}/{name}?{query}", &base[..end]),
        None => format!("{}/{name}", &base[..end]),
    }
}

#[cfg(test)]
mod tests {
    use super::{numbered_parameters, url_with_database};

    #[test]
    fn a_url_names_another_database() {
        assert_eq!(
            url_with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            url_with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(url_with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }

    #[test]
    fn parameters_are_renumbered_outside_quotes_only() {
        assert_eq!(
            numbered_parameters("SELECT '?1', \"a?\" FROM t WHERE a = ?1 AND b = ?12"),
            "SELECT '?1', \"a?\" FROM t WHERE a = $1 AND b = $12"
        );
    }
}
