//! The operator's journey from the shell, with the real `doorstep` binary:
//! gen → import → add-cadre → assign → publish-form → enroll-code → serve →
//! enroll → sync → record offline → serve again → sync → export, and the
//! clear one-line errors on the way.

use serde_json::Value;

mod common;

use common::{ANSWERS, Shell, demo_form};

fn args(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

#[test]
fn the_operators_journey_from_the_shell() {
    let shell = Shell::new();
    let csv = shell.ok(&["gen", "households", "--count", "400", "--seed", "7"]);
    std::fs::write(shell.path("households.csv"), &csv).expect("write CSV");
    assert_eq!(csv.lines().count(), 401, "a header and 400 rows");
    let report = shell.json(&["admin", "import-households", "households.csv", "--json"]);
    assert_eq!(report["inserted"], 400);
    let again = shell.json(&["admin", "import-households", "households.csv", "--json"]);
    assert_eq!(
        (again["inserted"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(400))
    );

    let villages = shell.json(&["admin", "villages", "--json"]);
    let village = |index: usize| {
        villages[index]["code"]
            .as_str()
            .expect("a village code")
            .to_string()
    };
    let village_size = villages[0]["households"].as_u64().expect("households");
    let cadre = |name: &str| {
        shell
            .ok(&["admin", "add-cadre", "--name", name])
            .trim()
            .to_string()
    };
    let (first, second, third) = (cadre("张明"), cadre("李芳"), cadre("王强"));
    for (cadre, village) in [
        (&first, village(0)),
        (&second, village(0)),
        (&third, village(1)),
    ] {
        shell.ok(&["admin", "assign", "--cadre", cadre, "--village", &village]);
    }
    assert_eq!(
        shell.ok(&["admin", "publish-form", &demo_form()]).trim(),
        "household_check@2024122803"
    );
    let code = shell
        .ok(&["admin", "enroll-code", "--cadre", &first])
        .trim()
        .to_string();

    let server = shell.serve("127.0.0.1:0");
    let listen = server.listen_address();
    let device = |db: &str, args: &[&str]| -> Vec<String> {
        let mut all = vec!["device".to_string(), "--db".to_string(), db.to_string()];
        all.extend(args.iter().map(|arg| arg.to_string()));
        all
    };
    let enroll = device(
        "one.db",
        &["enroll", "--server", &server.url, "--code", &code],
    );
    let device_id = shell.ok(&args(&enroll)).trim().to_string();
    assert_eq!(device_id.len(), 36);
    let reused = shell.fails(
        &args(&device(
            "spare.db",
            &["enroll", "--server", &server.url, "--code", &code],
        )),
        4,
    );
    assert!(reused.contains("already used"), "{reused}");
    let wrong = shell.fails(
        &args(&device(
            "spare.db",
            &["enroll", "--server", &server.url, "--code", "WRONG-CODE1"],
        )),
        4,
    );
    assert!(wrong.contains("not recognised"), "{wrong}");

    // The first sync brings the village's households and the form.
    let synced = shell.json(&args(&device("one.db", &["sync", "--json"])));
    assert!(synced["pulled"].as_u64().expect("pulled") >= 1);
    let households = shell.json(&args(&device("one.db", &["households", "--json"])));
    let households = households.as_array().expect("an array");
    assert_eq!(households.len() as u64, village_size);
    let household = households[0]["id"].as_str().expect("an id").to_string();
    let surname: String = households[0]["head_name"]
        .as_str()
        .expect("a name")
        .chars()
        .take(1)
        .collect();
    let found = shell.json(&args(&device(
        "one.db",
        &["households", "--search", &surname, "--json"],
    )));
    assert!(
        found
            .as_array()
            .expect("an array")
            .iter()
            .any(|row| row["id"] == household.as_str())
    );

    // The signal goes: the server stops; visits are recorded and stay queued.
    drop(server);
    std::fs::write(shell.path("answers.json"), ANSWERS).expect("answers");
    let visits: Vec<String> = (0..3)
        .map(|_| {
            shell
                .ok(&args(&device(
                    "one.db",
                    &[
                        "visit",
                        "--household",
                        &household,
                        "--answers",
                        "answers.json",
                    ],
                )))
                .trim()
                .to_string()
        })
        .collect();
    let status = shell.json(&args(&device("one.db", &["status", "--json"])));
    assert_eq!(status["pending"], 3);
    assert_eq!(status["device_id"], device_id.as_str());
    let offline = shell.fails(&args(&device("one.db", &["sync"])), 3);
    assert!(
        offline.contains("unreachable") && offline.contains("3 changes stay queued"),
        "{offline}"
    );

    // Bad input: a clear error, nothing recorded.
    std::fs::write(shell.path("broken.json"), "{\"members_present\": ").expect("write");
    let broken = shell.fails(
        &args(&device(
            "one.db",
            &[
                "visit",
                "--household",
                &household,
                "--answers",
                "broken.json",
            ],
        )),
        5,
    );
    assert!(broken.contains("not valid JSON"), "{broken}");
    std::fs::write(
        shell.path("incomplete.json"),
        r#"{"members": [{"member_name": "张明", "relation": "head", "age": 148, "able_to_work": "full"}]}"#,
    )
    .expect("write");
    let invalid = shell.fails(
        &args(&device(
            "one.db",
            &[
                "visit",
                "--household",
                &household,
                "--answers",
                "incomplete.json",
            ],
        )),
        5,
    );
    assert!(
        invalid.contains("members[1]/age") && invalid.contains("food_clothing_ok"),
        "{invalid}"
    );
    let unknown = shell.fails(
        &args(&device(
            "one.db",
            &[
                "visit",
                "--household",
                "0190a000-0000-7000-8000-00000000beef",
                "--answers",
                "answers.json",
            ],
        )),
        5,
    );
    assert!(unknown.contains("not on this device"), "{unknown}");
    assert_eq!(
        shell.json(&args(&device("one.db", &["status", "--json"])))["pending"],
        3
    );

    // The server comes back; sync delivers every visit exactly once.
    let server = shell.serve(&listen);
    let synced = shell.json(&args(&device("one.db", &["sync", "--json"])));
    assert_eq!(synced["pushed"], 3);
    assert_eq!(
        shell.json(&args(&device("one.db", &["status", "--json"])))["pending"],
        0
    );
    let rows: Vec<Value> = shell.exported_visits();
    assert_eq!(rows.len(), 3);
    for id in &visits {
        assert_eq!(
            rows.iter().filter(|row| row["id"] == id.as_str()).count(),
            1,
            "visit {id} exactly once"
        );
    }
    for field in [
        "id",
        "household_id",
        "cadre_id",
        "device_id",
        "form_id",
        "form_version",
        "recorded_at",
        "received_at",
    ] {
        assert!(rows[0][field].is_string(), "export has {field}");
    }
    assert_eq!(rows[0]["answers"]["income_wages"], 42000);
    // The server computed the form's calculations: (42000 + 3000 + 1800 −
    // 2500) ÷ 5 members.
    assert_eq!(rows[0]["computed"]["per_capita_income"], 8860);
    assert_eq!(rows[0]["computed"]["below_line"], "yes");
    let again = shell.json(&args(&device("one.db", &["sync", "--json"])));
    assert_eq!(
        (again["pushed"].as_u64(), again["pulled"].as_u64()),
        (Some(0), Some(0))
    );

    // The second cadre of the village sees them; a cadre of another village does not.
    for (db, cadre, expected) in [("two.db", &second, 3), ("three.db", &third, 0)] {
        let code = shell
            .ok(&["admin", "enroll-code", "--cadre", cadre])
            .trim()
            .to_string();
        shell.ok(&args(&device(
            db,
            &["enroll", "--server", &server.url, "--code", &code],
        )));
        shell.ok(&args(&device(db, &["sync"])));
        let seen = shell.json(&args(&device(db, &["visits", "--json"])));
        let seen: Vec<&Value> = seen
            .as_array()
            .expect("an array")
            .iter()
            .filter(|visit| visits.iter().any(|id| visit["id"] == id.as_str()))
            .collect();
        assert_eq!(seen.len(), expected, "{db}");
    }

    // Two cadres correct the same household: different fields both
    // survive, the same field is settled and the losing value logged.
    let corrected = shell.ok(&args(&device(
        "one.db",
        &[
            "household",
            &household,
            "--set",
            "phone=13900000001",
            "--set",
            "members=6",
        ],
    )));
    assert!(corrected.contains("phone\t13900000001"), "{corrected}");
    let unknown_field = shell.fails(
        &args(&device(
            "one.db",
            &["household", &household, "--set", "village_code=1"],
        )),
        5,
    );
    assert!(
        unknown_field.contains("unknown household field"),
        "{unknown_field}"
    );
    let bad_members = shell.fails(
        &args(&device(
            "one.db",
            &["household", &household, "--set", "members=many"],
        )),
        5,
    );
    assert!(bad_members.contains("whole number"), "{bad_members}");
    shell.ok(&args(&device(
        "two.db",
        &[
            "household",
            &household,
            "--set",
            "phone=13900000002",
            "--set",
            "address=中坝村3组14号",
        ],
    )));
    for db in ["one.db", "two.db", "one.db"] {
        shell.ok(&args(&device(db, &["sync"])));
    }
    let conflicts = shell.json(&["admin", "conflicts", "--json"]);
    let conflicts = conflicts.as_array().expect("an array");
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0]["field"], "phone");
    assert_eq!(conflicts[0]["kept"], "13900000002");
    assert_eq!(conflicts[0]["lost"], "13900000001");
    let shown = shell.json(&args(&device(
        "one.db",
        &["household", &household, "--json"],
    )));
    assert_eq!(shown["household"]["phone"], "13900000002");
    assert_eq!(shown["household"]["members"], 6);
    assert_eq!(shown["household"]["address"], "中坝村3组14号");
    assert_eq!(shown["conflicts"].as_array().map(Vec::len), Some(1));
    let history = shell.json(&["admin", "history", &household, "--json"]);
    assert_eq!(history.as_array().map(Vec::len), Some(4), "{history}");
}

#[test]
fn help_is_there_for_every_command() {
    let shell = Shell::new();
    for command in [
        vec!["--help"],
        vec!["admin", "--help"],
        vec!["device", "--help"],
        vec!["demo", "--help"],
    ] {
        let help = shell.ok(&command);
        assert!(help.contains("Usage:"), "{command:?}");
    }
    let output = shell.run(&["admin", "no-such-command"]);
    assert_eq!(output.status.code(), Some(2));
    let address = shell.fails(
        &[
            "device",
            "enroll",
            "--server",
            "localhost:8686",
            "--code",
            "X",
        ],
        5,
    );
    assert!(address.contains("http://"), "{address}");
    assert!(
        !shell.path("doorstep-device.db").exists(),
        "a failed enrolment leaves no store behind"
    );
    // A command that needs an enrolled store never creates one.
    let missing = shell.fails(&["device", "--db", "fresh.db", "sync"], 5);
    assert!(missing.contains("no device store at fresh.db"), "{missing}");
    assert!(!shell.path("fresh.db").exists());
    let plain_http = shell.fails(
        &[
            "device",
            "enroll",
            "--server",
            "http://10.1.2.3:8686",
            "--code",
            "X",
        ],
        5,
    );
    assert!(plain_http.contains("use https://"), "{plain_http}");
}

#[test]
fn admin_errors_are_clear_and_change_nothing() {
    let shell = Shell::new();
    std::fs::write(shell.path("bad.csv"), "id,head_name\nnot-a-uuid,x\n").expect("write");
    let bad = shell.fails(&["admin", "import-households", "bad.csv"], 5);
    assert!(bad.contains("bad.csv"), "{bad}");
    let missing = shell.fails(
        &[
            "admin",
            "assign",
            "--cadre",
            "0190a000-0000-7000-8000-000000000001",
            "--village",
            "1",
        ],
        5,
    );
    assert!(missing.contains("no cadre"), "{missing}");
    std::fs::write(shell.path("form.txt"), "x").expect("write");
    let form = shell.fails(&["admin", "publish-form", "form.txt"], 5);
    assert!(form.contains(".xlsx"), "{form}");
    assert_eq!(
        shell.json(&["admin", "cadres", "--json"]),
        serde_json::json!([])
    );
}

#[test]
fn the_demo_reports_every_visit_exactly_once() {
    let shell = Shell::new();
    let summary = shell.json(&["demo", "--devices", "3", "--visits", "4", "--json"]);
    assert_eq!(summary["visits_recorded"], 12);
    assert_eq!(summary["visits_on_server"], 12);
    assert_eq!(summary["duplicates"], 0);
    assert_eq!(summary["second_cadre_sees"], 4);
    assert_eq!(summary["other_village_sees"], 0);
}

#[test]
fn bench_push_counts_the_requests_and_the_bytes_on_the_socket() {
    let shell = Shell::new();
    let result = shell.json(&[
        "bench",
        "push",
        "--visits",
        "30",
        "--batch",
        "20",
        "--households",
        "12",
        "--json",
    ]);
    assert_eq!(result["visits"], 30);
    assert_eq!(result["encoding"], "columns");
    // Two pushes (20 and 10) and the pull.
    assert_eq!(result["push_requests"], 2);
    assert_eq!(result["requests"], 3);
    let up = result["bytes_up"].as_u64().expect("bytes up");
    let down = result["bytes_down"].as_u64().expect("bytes down");
    // Every request's line and headers are counted, not only the bodies:
    // three requests' heads alone are some hundreds of bytes each way.
    assert!(up > 30 * 20 + 3 * 150, "{result}");
    assert!(down > 3 * 100, "{result}");
    let per_visit = result["bytes_per_visit"].as_f64().expect("per visit");
    assert!((per_visit - (up + down) as f64 / 30.0).abs() < 1e-9);
    assert!(result["seconds"].as_f64().expect("seconds") > 0.0);
    // Nothing goes to stdout but the JSON.
    let json = shell.json(&["bench", "push", "--visits", "5", "--json-pushes", "--json"]);
    assert_eq!(json["encoding"], "json");
    assert_eq!(json["push_requests"], 1);
}

#[test]
fn bench_push_from_a_device_process_reports_its_peak_memory() {
    let shell = Shell::new();
    let result = shell.json(&[
        "bench",
        "push",
        "--visits",
        "40",
        "--batch",
        "25",
        "--households",
        "12",
        "--device-process",
        "--json",
    ]);
    assert_eq!(result["visits"], 40);
    // `doorstep device sync` made two pushes and a pull; its report says
    // every visit was stored, or the bench fails.
    assert_eq!(result["requests"], 3, "{result}");
    assert!(result.get("push_requests").is_none(), "{result}");
    // A Rust process with SQLite and an HTTP client holds megabytes, not
    // bytes: the reading is the child's, in bytes.
    let peak = result["device_peak_rss_bytes"]
        .as_u64()
        .expect("peak memory");
    assert!(peak > 1_000_000, "{result}");
}
