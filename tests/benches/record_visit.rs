//! How long `record_visit` takes on a real device store file: the visit and
//! its outbox entry in one transaction, validated against the demo form,
//! durable when it returns (`synchronous=FULL`, one fsync of the WAL), and
//! the same without the fsync to show what durability costs, and in an
//! encrypted store (SQLCipher with libtomcrypt) to show what encryption
//! costs.

use criterion::{Criterion, criterion_group, criterion_main};
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

criterion_group!(benches, record_visit, evaluate);
criterion_main!(benches);
