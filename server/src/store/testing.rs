//! The conformance suite's harness: the store's tests run against every
//! backend. A test written inside [`on_both_backends!`] runs twice, once
//! on an SQLite file on disk and once on PostgreSQL, and asks for its
//! store with [`empty_store`] (which the backend under test answers).
//!
//! PostgreSQL is `TEST_DATABASE_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/postgres`): each run of the test
//! binary creates a database of its own there (`doorstep_test_…`), and
//! each test a schema of its own in it, so tests run in parallel and a run
//! never sees another's rows; the next run on the machine drops the
//! databases of runs that have ended. Without the variable the PostgreSQL half of
//! each test says that it skipped and passes; `.ci/run` sets it, and with
//! `DOORSTEP_REQUIRE_POSTGRES=1` a missing variable fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use tempfile::TempDir;

use super::ServerStore;
use super::db::url_with_database;

/// The backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

thread_local! {
    static BACKEND: Cell<Backend> = const { Cell::new(Backend::Sqlite) };
}

/// What keeps a test's database alive: its directory, or its schema.
#[derive(Debug)]
pub(crate) enum TestDatabase {
    Sqlite(TempDir),
    Postgres(String),
}

impl TestDatabase {
    /// The SQLite file's directory (tests that reopen the file run on
    /// SQLite alone).
    #[allow(dead_code)]
    pub(crate) fn path(&self) -> &std::path::Path {
        match self {
            TestDatabase::Sqlite(directory) => directory.path(),
            TestDatabase::Postgres(_) => panic!("a PostgreSQL test database has no path"),
        }
    }
}

impl Drop for TestDatabase {
    /// A passed test's schema is dropped; a failed test's stays in the
    /// run's database for inspection.
    fn drop(&mut self) {
        if let TestDatabase::Postgres(schema) = self {
            if std::thread::panicking() {
                eprintln!(
                    "the failed test's rows stay in schema {schema} of {}",
                    run_database()
                );
                return;
            }
            if let Ok(mut client) = postgres::Client::connect(run_database(), postgres::NoTls) {
                let _ = client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
            }
        }
    }
}

/// Runs `test` with [`empty_store`] answering `backend`; on PostgreSQL
/// without `TEST_DATABASE_URL`, says that it skipped.
pub(crate) fn run(backend: Backend, test: impl FnOnce()) {
    if backend == Backend::Postgres && database_url().is_none() {
        assert!(
            std::env::var_os("DOORSTEP_REQUIRE_POSTGRES").is_none(),
            "DOORSTEP_REQUIRE_POSTGRES is set but TEST_DATABASE_URL is not"
        );
        eprintln!("skipped on PostgreSQL: TEST_DATABASE_URL is not set");
        return;
    }
    BACKEND.with(|cell| cell.set(backend));
    test();
    BACKEND.with(|cell| cell.set(Backend::Sqlite));
}

/// A new, empty, migrated store on the backend under test.
pub(crate) fn empty_store() -> (TestDatabase, ServerStore) {
    match BACKEND.with(Cell::get) {
        Backend::Sqlite => {
            let directory = tempfile::tempdir().unwrap();
            let store = ServerStore::open(directory.path().join("server.db")).unwrap();
            (TestDatabase::Sqlite(directory), store)
        }
        Backend::Postgres => {
            let (url, schema) = new_schema();
            let store = ServerStore::connect(&url).unwrap();
            (TestDatabase::Postgres(schema), store)
        }
    }
}

fn database_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// This run's database: created on first use, named by the time and the
/// process, so that runs never share one. Returns its URL.
fn run_database() -> &'static str {
    static DATABASE: OnceLock<String> = OnceLock::new();
    DATABASE.get_or_init(|| {
        let url = database_url().expect("TEST_DATABASE_URL");
        let name = format!(
            "doorstep_test_{}_{}",
            chrono::Utc::now().format("%Y%m%d%H%M%S%f"),
            std::process::id()
        );
        let mut client =
            postgres::Client::connect(&url, postgres::NoTls).expect("TEST_DATABASE_URL reachable");
        drop_finished_runs(&mut client);
        client
            .batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C'"
            ))
            .expect("a test database created");
        url_with_database(&url, &name)
    })
}

/// Drops the databases of earlier runs on this machine whose process has
/// ended (the name carries the process id): a run's database outlives it,
/// for a look at a failed test's rows until the next run.
fn drop_finished_runs(client: &mut postgres::Client) {
    let Ok(rows) = client.query(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'doorstep\\_test\\_%'",
        &[],
    ) else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let finished = name
            .rsplit('_')
            .next()
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| {
                pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            });
        if finished {
            let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// A fresh schema in this run's database; returns a URL whose connections
/// use it, and its name.
fn new_schema() -> (String, String) {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    let url = run_database();
    let schema = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let mut client =
        postgres::Client::connect(url, postgres::NoTls).expect("the test database reachable");
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .expect("a test schema created");
    let separator = if url.contains('?') { '&' } else { '?' };
    (
        format!("{url}{separator}options=-c%20search_path%3D{schema}"),
        schema,
    )
}

/// Tests that run on every backend: each `#[test] fn name() { … }` inside
/// becomes a module `name` with a test `sqlite` and a test `postgres`.
macro_rules! on_both_backends {
    ($($(#[$meta:meta])* fn $name:ident() $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn sqlite() {
                $crate::store::testing::run($crate::store::testing::Backend::Sqlite, || $body);
            }

            #[test]
            fn postgres() {
                $crate::store::testing::run($crate::store::testing::Backend::Postgres, || $body);
            }
        }
    )*};
}

pub(crate) use on_both_backends;
