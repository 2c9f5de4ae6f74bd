//! PostgreSQL for end-to-end tests: `TEST_DATABASE_URL` names a server
//! (for example `postgres://postgres@127.0.0.1:5432/postgres`, trust auth
//! on this kind of machine and in CI). Each call makes a database of its
//! own there, so runs and tests never share rows; it stays afterwards for
//! inspection. Without the variable a test says that it skipped, unless
//! `DOORSTEP_REQUIRE_POSTGRES=1` (set by `.ci/run`) makes that a failure.

use std::sync::atomic::{AtomicUsize, Ordering};

use doorstep_server::store::db::url_with_database;

/// The URL of a new, empty database, or `None` (the test should return:
/// PostgreSQL is not configured here).
pub fn fresh_database(test: &str) -> Option<String> {
    let Some(url) = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        assert!(
            std::env::var_os("DOORSTEP_REQUIRE_POSTGRES").is_none(),
            "DOORSTEP_REQUIRE_POSTGRES is set but TEST_DATABASE_URL is not"
        );
        eprintln!("{test}: skipped, TEST_DATABASE_URL is not set");
        return None;
    };
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    let name = format!(
        "doorstep_e2e_{}_{}_{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S"),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut client =
        postgres::Client::connect(&url, postgres::NoTls).expect("TEST_DATABASE_URL is reachable");
    client
        .batch_execute(&format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C'"
        ))
        .expect("a test database");
    eprintln!("{test}: PostgreSQL database {name}");
    Some(url_with_database(&url, &name))
}

/// Drops a database made by [`fresh_database`] (after a test that passed,
/// when its rows are of no further interest), ending its connections.
pub fn drop_database(url: &str) {
    let Some(name) = url
        .split('?')
        .next()
        .and_then(|base| base.rsplit('/').next())
        .filter(|name| name.starts_with("doorstep_e2e_"))
    else {
        return;
    };
    let admin = url_with_database(url, "postgres");
    if let Ok(mut client) = postgres::Client::connect(&admin, postgres::NoTls) {
        let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}
