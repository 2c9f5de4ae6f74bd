//! `doorstep admin export visits` as CSV and XLSX: visits with repeats
//! recorded on devices and pushed through the real server, exported by the
//! real binary, and read back.

mod common;

use std::collections::HashMap;

use calamine::{Data, Reader, Xlsx};
use common::Shell;
use doorstep_core::NewVisit;
use doorstep_e2e::{VILLAGE_A, VILLAGE_B, World, answers, demo_form_version, sync};
use serde_json::json;

/// Records a visit with `members` members (ages 30, 31, …) and pushes it.
fn visit(
    device: &doorstep_core::Store,
    household: uuid::Uuid,
    members: i64,
    migrant: bool,
) -> String {
    let mut answers = answers(members);
    if migrant {
        answers.insert(
            "migrants".into(),
            json!([{"migrant_name": "外出一", "destination": "in_province", "city": "昆明",
                    "employer": "建筑公司", "monthly_income": 4200, "return_date": "2025-02-01"}]),
        );
    }
    answers.insert(
        "location".into(),
        json!({"lat": 28.5, "lon": 104.1, "accuracy": 6}),
    );
    let id = device
        .record_visit(NewVisit {
            household_id: household,
            form_id: None,
            answers,
            draft: false,
            corrects: None,
        })
        .expect("visit recorded")
        .id;
    id.to_string()
}

fn read_csv(path: &std::path::Path) -> (Vec<String>, Vec<HashMap<String, String>>) {
    let mut reader = csv::Reader::from_path(path).expect("a CSV file");
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let rows = reader
        .records()
        .map(|record| {
            let record = record.expect("a row");
            header
                .iter()
                .cloned()
                .zip(record.iter().map(String::from))
                .collect()
        })
        .collect();
    (header, rows)
}

#[test]
fn visits_export_as_csv_files_and_an_xlsx_workbook() {
    let mut world = World::new();
    let (cadre_a, cadre_b) = (world.cadre(VILLAGE_A), world.cadre(VILLAGE_B));
    let (device_a, device_b) = (world.device(cadre_a), world.device(cadre_b));
    sync(&device_a).expect("sync a");
    sync(&device_b).expect("sync b");
    let two = visit(&device_a, world.village_a[0], 2, false);
    let three = visit(&device_a, world.village_a[1], 3, true);
    let one = visit(&device_b, world.village_b[0], 1, false);
    sync(&device_a).expect("push a");
    sync(&device_b).expect("push b");

    let shell = Shell::new();
    let db = world.server_path();
    let db = db.to_str().expect("a path");
    let out = shell.path("visits.csv");
    let out = out.to_str().expect("a path");
    let export = |extra: &[&str]| {
        let mut args = vec!["admin", "--db", db, "export", "visits"];
        args.extend_from_slice(extra);
        shell.run(&args)
    };

    let done = export(&["--format", "csv", "--out", out]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let said = String::from_utf8_lossy(&done.stderr);
    assert!(
        said.contains("exported 3 visits") && said.contains("visits-members.csv"),
        "{said}"
    );
    assert!(!said.contains("成员"), "no answers in messages: {said}");

    let (header, visits) = read_csv(&shell.path("visits.csv"));
    assert_eq!(
        header[..11],
        [
            "visit_id",
            "household_id",
            "village_code",
            "cadre_id",
            "device_id",
            "form_id",
            "form_version",
            "recorded_at",
            "received_at",
            "corrects",
            "files_missing"
        ]
    );
    let position = |name: &str| header.iter().position(|column| column == name);
    // Form order, groups flattened, repeats in their own tables, the
    // computed values after the questions.
    assert!(position("visit_date") < position("respondent"));
    assert!(position("income_wages") < position("support_needed"));
    assert!(position("location") < position("per_capita_income"));
    assert_eq!(position("members"), None);
    assert_eq!(position("member_name"), None);
    assert_eq!(visits.len(), 3);
    let by_id: HashMap<&str, &HashMap<String, String>> = visits
        .iter()
        .map(|row| (row["visit_id"].as_str(), row))
        .collect();
    assert_eq!(by_id[two.as_str()]["village_code"], VILLAGE_A);
    assert_eq!(by_id[one.as_str()]["village_code"], VILLAGE_B);
    assert_eq!(by_id[two.as_str()]["support_needed"], "jobs");
    assert_eq!(by_id[two.as_str()]["location"], "28.5 104.1 0 6");
    assert_eq!(by_id[two.as_str()]["member_count"], "2");
    assert_eq!(by_id[two.as_str()]["form_version"], demo_form_version());

    let (header, members) = read_csv(&shell.path("visits-members.csv"));
    assert_eq!(header[..3], ["visit_id", "members_index", "member_name"]);
    assert_eq!(members.len(), 2 + 3 + 1);
    let member = |visit: &str, index: &str| {
        members
            .iter()
            .find(|row| row["visit_id"] == visit && row["members_index"] == index)
            .unwrap_or_else(|| panic!("member {index} of {visit}"))
    };
    assert_eq!(member(&three, "3")["age"], "32");
    assert_eq!(member(&three, "1")["relation"], "head");
    assert_eq!(member(&one, "1")["age"], "30");
    let (header, migrants) = read_csv(&shell.path("visits-migrants.csv"));
    assert_eq!(header[..3], ["visit_id", "migrants_index", "migrant_name"]);
    assert_eq!(migrants.len(), 1);
    assert_eq!(migrants[0]["visit_id"], three);
    assert_eq!(migrants[0]["monthly_income"], "4200");

    // Labels in the form's default language.
    let done = export(&["--format", "csv", "--out", out, "--choices", "labels"]);
    assert!(done.status.success());
    let (_, visits) = read_csv(&shell.path("visits.csv"));
    let row = visits
        .iter()
        .find(|row| row["visit_id"] == two)
        .expect("row");
    assert_eq!(row["support_needed"], "就业岗位");
    assert_eq!(row["respondent"], "户主");

    // Filters: an area (a county), days, a version.
    let done = export(&["--format", "csv", "--out", out, "--area", "530623"]);
    assert!(done.status.success());
    let (_, visits) = read_csv(&shell.path("visits.csv"));
    assert_eq!(
        visits
            .iter()
            .map(|row| row["visit_id"].as_str())
            .collect::<Vec<_>>(),
        [one.as_str()]
    );
    let (_, members) = read_csv(&shell.path("visits-members.csv"));
    assert_eq!(members.len(), 1);
    let today = chrono::Utc::now().date_naive();
    let (yesterday, tomorrow) = (
        today.pred_opt().expect("a day"),
        today.succ_opt().expect("a day"),
    );
    let done = export(&[
        "--format",
        "csv",
        "--out",
        out,
        "--since",
        &today.to_string(),
        "--until",
        &today.to_string(),
        "--form-version",
        &demo_form_version(),
    ]);
    assert!(done.status.success());
    assert_eq!(read_csv(&shell.path("visits.csv")).1.len(), 3);
    let none = shell.fails(
        &[
            "admin",
            "--db",
            db,
            "export",
            "visits",
            "--format",
            "csv",
            "--out",
            out,
            "--since",
            &tomorrow.to_string(),
        ],
        5,
    );
    assert!(none.contains("no visits match"), "{none}");
    let jsonl = export(&["--until", &yesterday.to_string()]);
    assert!(jsonl.status.success() && jsonl.stdout.is_empty());
    let other = shell.fails(
        &[
            "admin",
            "--db",
            db,
            "export",
            "visits",
            "--format",
            "xlsx",
            "--out",
            out,
            "--form-version",
            "1999010101",
        ],
        5,
    );
    assert!(other.contains("no visits match"), "{other}");
    let unknown = shell.fails(
        &[
            "admin", "--db", db, "export", "visits", "--format", "csv", "--area", "999",
        ],
        5,
    );
    assert!(unknown.contains("no area 999"), "{unknown}");

    // XLSX: one workbook, a sheet per table, cells as in the CSV files.
    let book = shell.path("visits.xlsx");
    let done = export(&["--format", "xlsx", "--out", book.to_str().expect("a path")]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let mut workbook: Xlsx<_> = calamine::open_workbook(&book).expect("an XLSX workbook");
    assert_eq!(workbook.sheet_names(), ["visits", "members", "migrants"]);
    let sheet = workbook.worksheet_range("members").expect("members sheet");
    let rows: Vec<&[Data]> = sheet.rows().collect();
    assert_eq!(rows.len(), 1 + 6);
    let header: Vec<String> = rows[0].iter().map(|cell| cell.to_string()).collect();
    let age = header
        .iter()
        .position(|column| column == "age")
        .expect("age");
    let row = rows
        .iter()
        .find(|row| row[0].to_string() == three && row[1] == Data::Float(2.0))
        .expect("the second member of the visit with three");
    assert_eq!(row[age], Data::Float(31.0));
    let visits = workbook.worksheet_range("visits").expect("visits sheet");
    assert_eq!(visits.rows().count(), 1 + 3);
    assert_eq!(visits.get((0, 0)), Some(&Data::String("visit_id".into())));

    // A second form version: one export holds one version, so the
    // command asks which.
    let mut definition: serde_json::Value =
        serde_json::from_str(doorstep_e2e::DEMO_FORM).expect("demo form");
    definition["version"] = "2099010101".into();
    let form = doorstep_forms::Form::from_definition(&definition).expect("a form");
    world.store.publish_form(&form).expect("publish");
    let enrollment = world.raw_enrollment(cadre_a);
    let mut newer = doorstep_e2e::visit_record(&enrollment, world.village_a[2], answers(1));
    newer.form_version = "2099010101".into();
    let auth = doorstep_server::store::DeviceAuth {
        device_id: enrollment.device_id,
        cadre_id: enrollment.cadre_id,
    };
    let change = doorstep_protocol::Change {
        seq: 1,
        mutation: doorstep_protocol::Mutation::Visit(newer),
    };
    world
        .store
        .push(auth, &[change], None, chrono::Utc::now())
        .expect("push");
    let several = shell.fails(
        &[
            "admin", "--db", db, "export", "visits", "--format", "csv", "--out", out,
        ],
        5,
    );
    assert!(
        several.contains("2 form versions") && several.contains("--form-version"),
        "{several}"
    );
    let done = export(&[
        "--format",
        "csv",
        "--out",
        out,
        "--form-version",
        "2099010101",
    ]);
    assert!(done.status.success());
    assert_eq!(read_csv(&shell.path("visits.csv")).1.len(), 1);
}

#[test]
fn bad_formats_and_a_missing_out_are_clear_errors() {
    let shell = Shell::new();
    shell.county();
    let bad = shell.run(&["admin", "export", "visits", "--format", "pdf"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid value 'pdf'"));
    let binary = shell.fails(&["admin", "export", "visits", "--format", "xlsx"], 5);
    assert!(binary.contains("--out"), "{binary}");
    let day = shell.run(&["admin", "export", "visits", "--since", "28/12/2024"]);
    assert_eq!(day.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&day.stderr).contains("YYYY-MM-DD"));
}
