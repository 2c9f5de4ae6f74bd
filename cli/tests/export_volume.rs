//! Makes a server database of 100,000 realistic visits for measuring
//! `doorstep admin export visits` by hand (docs/benchmarks.md, "Exporting
//! visits"). Not a timing assertion: it only builds the file.

use std::path::PathBuf;

use chrono::{Duration, Utc};
use doorstep_e2e::{VILLAGE_A, World, answers, visit_record};
use doorstep_protocol::limits::MAX_PUSH_CHANGES;
use doorstep_protocol::{Change, Mutation};
use doorstep_server::store::DeviceAuth;
use serde_json::json;

#[test]
#[ignore = "measurement, run by hand: DOORSTEP_EXPORT_DB=/var/tmp/visits-100k.db \
            cargo test --release -p doorstep --test export_volume -- --ignored"]
fn make_a_server_database_of_100_000_visits() {
    let visits: usize = std::env::var("DOORSTEP_EXPORT_VISITS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(100_000);
    let target = PathBuf::from(
        std::env::var("DOORSTEP_EXPORT_DB").unwrap_or_else(|_| "/var/tmp/visits-100k.db".into()),
    );
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let enrollment = world.raw_enrollment(cadre);
    let auth = DeviceAuth {
        device_id: enrollment.device_id,
        cadre_id: enrollment.cadre_id,
    };
    // Answers vary as real ones do (a fixed LCG, the same every run).
    let mut state: u64 = 0x2024_1228;
    let mut next = |bound: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % bound
    };
    let now = Utc::now();
    let mut seq = 0;
    while seq < visits {
        let batch: Vec<Change> = (0..MAX_PUSH_CHANGES.min(visits - seq))
            .map(|_| {
                seq += 1;
                let mut answers = answers(1 + next(6) as i64);
                answers.insert("income_wages".into(), json!(next(400) * 100));
                answers.insert("income_transfer".into(), json!(next(5000) as f64 / 2.0));
                answers.insert(
                    "risk_category".into(),
                    json!(["none", "unstable", "edge", "sudden_hardship"][next(4) as usize]),
                );
                answers.insert(
                    "location".into(),
                    json!({"lat": 28.5 + next(1000) as f64 / 1e4, "lon": 104.1, "accuracy": 5}),
                );
                if next(3) == 0 {
                    answers.insert(
                        "migrants".into(),
                        json!([{"migrant_name": "外出务工人员", "destination": "outside_province",
                                "city": "上海", "employer": "电子厂", "monthly_income": 4000 + next(40) * 100,
                                "return_date": "2025-02-01"}]),
                    );
                }
                let household = world.village_a[seq % world.village_a.len()];
                let mut visit = visit_record(&enrollment, household, answers);
                visit.recorded_at = now - Duration::minutes((visits - seq) as i64);
                Change {
                    seq: seq as u64,
                    mutation: Mutation::Visit(visit),
                }
            })
            .collect();
        // Each batch arrives a minute after its last visit was recorded, as
        // a device that syncs often pushes: received_at orders the export,
        // and visits received together are sorted by id among themselves.
        let received = now - Duration::minutes((visits - seq) as i64) + Duration::minutes(1);
        let (results, _) = world
            .store
            .push(auth, &batch, None, received)
            .expect("push");
        assert_eq!(results.len(), batch.len());
    }
    world.stop_server();
    // The writer is idle: the file and its WAL together are a whole copy.
    let source = world.server_path();
    for suffix in ["", "-wal"] {
        let from = PathBuf::from(format!("{}{suffix}", source.display()));
        let to = PathBuf::from(format!("{}{suffix}", target.display()));
        let _ = std::fs::remove_file(&to);
        if from.exists() {
            std::fs::copy(&from, &to).expect("copy the server database");
        }
    }
    eprintln!("{visits} visits in {}", target.display());
}
