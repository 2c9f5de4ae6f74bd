//! Files attached to visits, from the operator's shell: `admin files
//! --missing` lists the visits still waiting for files, and `admin export
//! visits --files DIR` counts the missing ones and copies the arrived ones.

mod common;

use chrono::Utc;
use common::Shell;
use doorstep_e2e::{VILLAGE_A, World};
use doorstep_protocol::{Change, Mutation};
use doorstep_server::store::{DeviceAuth, FileRecord};
use serde_json::json;

/// `b"a small picture of a house"` and its name.
const PICTURE: &[u8] = b"a small picture of a house";
const PICTURE_NAME: &str = "f8614980db19620bc177f4a508fb47facbf0d7ad9b041038a78af09b4b70080b";

#[test]
fn missing_files_are_listed_and_arrived_ones_exported() {
    let world = World::new();
    let form: doorstep_forms::Form = serde_json::from_value(json!({
        "form_id": "photo_check", "version": "1", "title": "Photo check",
        "questions": [
            {"name": "house", "kind": {"type": "photo"}, "label": {"en": "The house"}},
            {"name": "water", "kind": {"type": "photo"}, "label": {"en": "The water source"}}
        ]
    }))
    .expect("form");
    world.store.publish_form(&form).expect("published");
    let enrolment = world.raw_enrollment(world.cadre(VILLAGE_A));
    let pending = "e".repeat(64);
    let mut answers = serde_json::Map::new();
    answers.insert("house".into(), json!(PICTURE_NAME));
    answers.insert("water".into(), json!(pending));
    let visit = doorstep_protocol::VisitRecord {
        form_id: "photo_check".into(),
        form_version: "1".into(),
        ..doorstep_e2e::visit_record(&enrolment, world.village_a[0], answers)
    };
    let visit_id = visit.id.to_string();
    let auth = DeviceAuth {
        device_id: enrolment.device_id,
        cadre_id: enrolment.cadre_id,
    };
    world
        .store
        .push(
            auth,
            &[Change {
                seq: 1,
                mutation: Mutation::Visit(visit),
            }],
            None,
            Utc::now(),
        )
        .expect("pushed");

    let shell = Shell::new();
    let db = world.server_path();
    let db = db.to_str().expect("a path");
    // Both files on their way.
    let listed = shell.json(&["admin", "--db", db, "files", "--missing", "--json"]);
    assert_eq!(listed[0]["visit_id"], visit_id.as_str());
    assert_eq!(listed[0]["missing"].as_array().map(Vec::len), Some(2));

    // The picture arrives (as the server keeps it).
    let kept = world.directory().join("files").join(&PICTURE_NAME[..2]);
    std::fs::create_dir_all(&kept).expect("directory");
    std::fs::write(kept.join(PICTURE_NAME), PICTURE).expect("file");
    world
        .store
        .record_stored_file(
            &FileRecord {
                sha256: PICTURE_NAME.into(),
                size: PICTURE.len() as u64,
                media_type: "image/jpeg".into(),
            },
            Utc::now(),
        )
        .expect("recorded");
    let text = shell.ok(&["admin", "--db", db, "files", "--missing"]);
    let line: Vec<&str> = text.trim().split('\t').collect();
    assert_eq!(line[0], visit_id);
    assert_eq!(line[4], "1");
    assert_eq!(line[5], pending);

    let out = shell.path("visits.csv");
    let files = shell.path("photos");
    let done = shell.run(&[
        "admin",
        "--db",
        db,
        "export",
        "visits",
        "--format",
        "csv",
        "--out",
        out.to_str().expect("a path"),
        "--files",
        files.to_str().expect("a path"),
    ]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let mut reader = csv::Reader::from_path(&out).expect("CSV");
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let column = header
        .iter()
        .position(|name| name == "files_missing")
        .expect("a files_missing column");
    let row = reader.records().next().expect("a row").expect("a row");
    assert_eq!(&row[column], "1");
    assert_eq!(
        std::fs::read(files.join(format!("{PICTURE_NAME}.jpg"))).expect("copied"),
        PICTURE
    );
    assert_eq!(std::fs::read_dir(&files).expect("dir").count(), 1);
}
