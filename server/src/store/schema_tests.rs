//! The two backends' schemas stay equivalent: every table has the same
//! columns, each of the same kind (text, integer, real, bytes) and the same
//! NOT NULL, and the same named indexes, on SQLite (migrations/) and on
//! PostgreSQL (migrations/postgres/). A migration added to one and not the
//! other fails here.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use super::ServerStore;
use super::testing::{Backend, TestDatabase, empty_store, run};

/// Table → column → (kind, not null).
type Columns = BTreeMap<String, BTreeMap<String, (String, bool)>>;

/// Tables of one backend only: PostgreSQL keeps its migration versions in
/// a table (SQLite in `user_version`).
const ONLY_POSTGRES: &[&str] = &["schema_migrations"];

/// Indexes named on one side only, with the reason: SQLite's `UNIQUE
/// COLLATE NOCASE` on users.name is an expression index on PostgreSQL.
const ONLY_POSTGRES_INDEXES: &[&str] = &["users_name"];

fn kind(declared: &str) -> String {
    match declared.to_ascii_lowercase().as_str() {
        "text" => "text",
        "integer" | "bigint" => "integer",
        "real" | "double precision" => "real",
        "blob" | "bytea" => "bytes",
        other => return format!("unknown {other}"),
    }
    .to_owned()
}

fn sqlite_schema(store: &ServerStore) -> (Columns, Vec<String>) {
    store
        .read(|tx| {
            let mut columns = Columns::new();
            tx.each(
                "SELECT m.name, p.name, p.type, p.\"notnull\", p.pk FROM sqlite_master m
                 JOIN pragma_table_info(m.name) p
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid",
                &[],
                |row| {
                    let primary: i64 = row.get(4)?;
                    let not_null: bool = row.get(3)?;
                    columns.entry(row.get(0)?).or_default().insert(
                        row.get(1)?,
                        (kind(&row.get::<String>(2)?), not_null || primary > 0),
                    );
                    Ok(true)
                },
            )?;
            let indexes = tx.query(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
                &[],
                |row| row.get(0),
            )?;
            Ok((columns, indexes))
        })
        .unwrap()
}

fn postgres_schema(store: &ServerStore, schema: &str) -> (Columns, Vec<String>) {
    store
        .read(|tx| {
            let mut columns = Columns::new();
            tx.each(
                "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text
                 FROM information_schema.columns WHERE table_schema = ?1
                 ORDER BY table_name, ordinal_position",
                &[&schema],
                |row| {
                    let table: String = row.get(0)?;
                    if !ONLY_POSTGRES.contains(&table.as_str()) {
                        columns.entry(table).or_default().insert(
                            row.get(1)?,
                            (kind(&row.get::<String>(2)?), row.get::<String>(3)? == "NO"),
                        );
                    }
                    Ok(true)
                },
            )?;
            let indexes = tx.query(
                "SELECT indexname::text FROM pg_indexes WHERE schemaname = ?1
                   AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE '%\\_key'
                 ORDER BY indexname",
                &[&schema],
                |row| row.get::<String>(0),
            )?;
            Ok((
                columns,
                indexes
                    .into_iter()
                    .filter(|name| !ONLY_POSTGRES_INDEXES.contains(&name.as_str()))
                    .collect(),
            ))
        })
        .unwrap()
}

#[test]
fn the_sqlite_and_postgresql_schemas_have_the_same_tables_columns_and_indexes() {
    let (_sqlite_database, sqlite) = empty_store();
    let (sqlite_columns, sqlite_indexes) = sqlite_schema(&sqlite);
    assert!(sqlite_columns.contains_key("visits"));
    run(Backend::Postgres, || {
        let (database, postgres) = empty_store();
        let TestDatabase::Postgres(schema) = &database else {
            panic!("a PostgreSQL store");
        };
        let (columns, indexes) = postgres_schema(&postgres, schema);
        for (table, sqlite_table) in &sqlite_columns {
            assert_eq!(
                columns.get(table),
                Some(sqlite_table),
                "table {table} differs between SQLite and PostgreSQL"
            );
        }
        assert_eq!(
            columns.keys().collect::<Vec<_>>(),
            sqlite_columns.keys().collect::<Vec<_>>(),
            "the same tables"
        );
        assert_eq!(indexes, sqlite_indexes, "the same named indexes");
    });
}
