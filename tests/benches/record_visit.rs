//! How long `record_visit` takes on a real device store file: the visit and
//! its outbox entry in one transaction, validated against the demo form,
//! durable when it returns (`synchronous=FULL`, one fsync of the WAL), and
//! the same without the fsync to show what durability costs, and in an
//! encrypted store (SQLCipher with libtomcrypt) to show what encryption
//! costs.

use std::time::Instant;

use criterion::{Criterion, criterion_group};
use doorstep_core::sqlite::{DatabaseKey, Durability};
use doorstep_core::{NewVisit, StoreOptions};
use doorstep_e2e::{VILLAGE_A, World, answers, sync};

fn record_visit(criterion: &mut Criterion) {
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let mut group = criterion.benchmark_group("record_visit");
    for (name, durability, draft, encrypted) in [
        ("final_synchronous_full", Durability::Full, false, false),
        ("final_synchronous_normal", Durability::Normal, false, false),
        ("draft_synchronous_full", Durability::Full, true, false),
        (
            "final_synchronous_full_encrypted",
            Durability::Full,
            false,
            true,
        ),
        (
            "final_synchronous_normal_encrypted",
            Durability::Normal,
            false,
            true,
        ),
    ] {
        let key = encrypted.then(|| DatabaseKey::derive(&[42u8; 32]).expect("a key"));
        let device = world.device_with(
            cadre,
            StoreOptions {
                durability,
                key,
                ..StoreOptions::default()
            },
        );
        sync(&device).expect("households and form");
        let household = world.village_a[0];
        let answers = answers(4);
        group.bench_function(name, |bencher| {
            bencher.iter(|| {
                device
                    .record_visit(NewVisit {
                        household_id: household,
                        form_id: None,
                        answers: answers.clone(),
                        draft,
                        corrects: None,
                    })
                    .expect("recorded")
            });
        });
    }
    group.finish();
}

/// The validation inside `record_visit`: evaluating the demo form (two
/// repeats, six calculations, relevance, constraints) for one visit. The
/// call without validation costs `record_visit` minus this.
fn evaluate(criterion: &mut Criterion) {
    let definition: serde_json::Value =
        serde_json::from_str(doorstep_e2e::DEMO_FORM).expect("demo form JSON");
    let form = doorstep_forms::Form::from_definition(&definition).expect("demo form");
    let answers = answers(5);
    let options = doorstep_forms::Options {
        stage: doorstep_forms::Stage::Final,
        language: Some("zh-CN"),
        today: chrono::NaiveDate::from_ymd_opt(2024, 12, 28).expect("a date"),
    };
    assert!(form.evaluate(&answers, &options).is_valid());
    criterion.bench_function("form_evaluate/demo_form_5_members", |bencher| {
        bencher.iter(|| form.evaluate(&answers, &options))
    });
}

/// `record_visit` timed call by call on a durable store (2,000 visits
/// after 200 to warm up), beside the floor under it: the same store file
/// settings committing one small row at `synchronous=FULL`, what the disk
/// makes any durable commit wait. Printed to stderr: the issue asks for
/// p50, which criterion's mean does not give.
fn percentiles() {
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let device = world.device_with(cadre, StoreOptions::default());
    sync(&device).expect("households and form");
    let household = world.village_a[0];
    let answers = answers(4);
    let mut record = || {
        device
            .record_visit(NewVisit {
                household_id: household,
                form_id: None,
                answers: answers.clone(),
                draft: false,
                corrects: None,
            })
            .expect("recorded");
    };
    let directory = tempfile::tempdir().expect("a directory");
    let floor = doorstep_core::sqlite::open(&directory.path().join("floor.db"), Durability::Full)
        .expect("a store file");
    floor
        .execute_batch("CREATE TABLE rows (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
        .expect("a table");
    let mut commit = || {
        floor
            .execute("INSERT INTO rows (text) VALUES ('一户一策')", [])
            .expect("a row");
    };
    for (name, call) in [
        ("record_visit, FULL", &mut record as &mut dyn FnMut()),
        ("a one-row commit, FULL (the floor)", &mut commit),
    ] {
        (0..200).for_each(|_| call());
        let mut times: Vec<u128> = (0..2_000)
            .map(|_| {
                let start = Instant::now();
                call();
                start.elapsed().as_nanos()
            })
            .collect();
        times.sort_unstable();
        let at = |share: f64| times[((times.len() as f64 * share) as usize).min(times.len() - 1)];
        eprintln!(
            "{name} over 2,000 calls: p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs",
            at(0.50) as f64 / 1e3,
            at(0.90) as f64 / 1e3,
            at(0.99) as f64 / 1e3
        );
    }
}

criterion_group!(benches, record_visit, evaluate);

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs each once.
    if std::env::args().any(|argument| argument == "--bench") {
        percentiles();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
