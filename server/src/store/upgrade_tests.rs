//! Every earlier server schema upgrades to the current one: a frozen copy
//! of a database at each version (`fixtures/server_vN.sql`, written once by
//! tools/server_fixtures.py) is opened by this build, and must come out
//! with the schema of a fresh database, its rows kept, the change log's
//! head where sqlite_sequence had it, and its device still able to pull.

#![allow(clippy::unwrap_used)]

use chrono::Utc;
use doorstep_core::sqlite;
use doorstep_protocol::{PullQuery, PulledChange};
use uuid::Uuid;

use super::ServerStore;
use super::rows::log_position;

const FIXTURES: [&str; 8] = [
    include_str!("fixtures/server_v1.sql"),
    include_str!("fixtures/server_v2.sql"),
    include_str!("fixtures/server_v3.sql"),
    include_str!("fixtures/server_v4.sql"),
    include_str!("fixtures/server_v5.sql"),
    include_str!("fixtures/server_v6.sql"),
    include_str!("fixtures/server_v7.sql"),
    include_str!("fixtures/server_v8.sql"),
];

fn schema(path: &std::path::Path) -> Vec<String> {
    let connection = rusqlite::Connection::open(path).unwrap();
    sqlite::schema_dump(&connection).unwrap()
}

#[test]
fn every_frozen_server_schema_upgrades_to_the_fresh_one_and_keeps_its_data() {
    let directory = tempfile::tempdir().unwrap();
    let fresh = directory.path().join("fresh.db");
    drop(ServerStore::open(&fresh).unwrap());
    let expected = schema(&fresh);
    for (index, fixture) in FIXTURES.iter().enumerate() {
        let version = index + 1;
        let path = directory.path().join(format!("v{version}.db"));
        {
            let connection = rusqlite::Connection::open(&path).unwrap();
            connection.execute_batch(fixture).unwrap();
            assert_eq!(
                sqlite::schema_version(&connection).unwrap() as usize,
                version
            );
        }
        let store = ServerStore::open(&path)
            .unwrap_or_else(|error| panic!("version {version} does not upgrade: {error}"));
        assert_eq!(schema(&path), expected, "version {version}'s schema");

        // The head of the change log continues from sqlite_sequence: four
        // entries were written (two households, the form, the visit).
        assert_eq!(store.read(log_position).unwrap(), 4, "version {version}");
        let household = Uuid::parse_str("0190a000-0000-7000-8000-000000000011").unwrap();
        let record = store.household(household).unwrap().unwrap();
        assert_eq!(record.head_name, "喻兰", "version {version}");

        // Its device still authenticates and pulls everything but its own
        // visit; a new entry takes the next position.
        let token = format!("token-of-a-v{version}-server-device");
        let auth = store.authenticate(&token, Utc::now()).unwrap();
        let page = store
            .pull(
                auth,
                &PullQuery {
                    cursor: 0,
                    limit: None,
                    scope: None,
                    pending: None,
                },
                Utc::now(),
            )
            .unwrap();
        let kinds: Vec<&str> = page
            .changes
            .iter()
            .map(|change| match change {
                PulledChange::Household(_) => "household",
                PulledChange::Form(_) => "form",
                PulledChange::Visit(_) => "visit",
                PulledChange::Conflict(_) => "conflict",
            })
            .collect();
        assert_eq!(
            kinds,
            ["household", "household", "form"],
            "version {version}"
        );
        assert_eq!(page.cursor, 4);
        let cadre = store.add_cadre("新干部").unwrap();
        store
            .assign(cadre, &super::AssignmentTarget::Household(household))
            .unwrap();
        assert_eq!(
            store.read(log_position).unwrap(),
            4,
            "an assignment is not a change"
        );
        store
            .import_households(
                &[],
                &[doorstep_protocol::HouseholdRecord {
                    phone: "13900000000".into(),
                    ..record
                }],
            )
            .unwrap();
        assert_eq!(store.read(log_position).unwrap(), 5, "version {version}");
    }
}
