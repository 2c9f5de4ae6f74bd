//! Arbitrary JSON answers against the demo form: evaluation never panics,
//! whatever a device (or an attacker) pushes.
#![no_main]

use chrono::NaiveDate;
use doorstep_forms::{Form, Options, Stage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(serde_json::Value::Object(answers)) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    let definition: serde_json::Value =
        serde_json::from_str(include_str!("../../forms/household-check.json")).expect("demo form JSON");
    let form = Form::from_definition(&definition).expect("demo form");
    let options = Options {
        stage: Stage::Final,
        language: Some("zh-CN"),
        today: NaiveDate::from_ymd_opt(2024, 12, 28).unwrap_or_default(),
    };
    let _ = form.evaluate(&answers, &options);
});
