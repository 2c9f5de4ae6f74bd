//! Any sequence of what a screen may do to a form session on the demo
//! form (answers of any kind at any path, repeat items added and removed)
//! never panics, refuses what does not fit without changing anything, and
//! leaves the incremental state equal to a session opened afresh on the
//! same answers.
#![no_main]

use std::sync::Arc;

use arbitrary::Arbitrary;
use chrono::NaiveDate;
use doorstep_forms::{Answer, Form, FormSession};
use libfuzzer_sys::fuzz_target;

const PATHS: &[&str] = &[
    "visit_date", "respondent", "member_count", "migration", "income_wages", "income_business",
    "production_costs", "relocated", "resettlement_site", "support_needed", "location", "notes",
    "below_line_note", "members", "migrants", "nothing", "members[0]/age",
];
const ITEM_QUESTIONS: &[&str] = &["age", "relation", "member_name", "able_to_work", "in_school"];
const CHOICES: &[&str] = &["yes", "no", "head", "child", "none", "jobs", "full", "other", ""];

#[derive(Debug, Arbitrary)]
enum Value {
    Text(String),
    Integer(i64),
    Decimal(f64),
    Date(i32, u32, u32),
    Choice(u8),
    Choices(Vec<u8>),
    Geopoint(f64, f64),
    Attachment(String),
}

#[derive(Debug, Arbitrary)]
enum Step {
    Top(u8, Option<Value>),
    Member(u8, u8, Option<Value>),
    AddMember,
    AddMigrant,
    Remove(u8),
}

fn answer(value: Value) -> Option<Answer> {
    let choice = |index: u8| CHOICES[usize::from(index) % CHOICES.len()].to_owned();
    Some(match value {
        Value::Text(text) => Answer::Text(text),
        Value::Integer(number) => Answer::Integer(number),
        Value::Decimal(number) => Answer::Decimal(number),
        Value::Date(year, month, day) => Answer::Date(NaiveDate::from_ymd_opt(year, month, day)?),
        Value::Choice(index) => Answer::Choice(choice(index)),
        Value::Choices(indexes) => Answer::Choices(indexes.into_iter().map(choice).collect()),
        Value::Geopoint(lat, lon) => Answer::Geopoint { lat, lon, altitude: None, accuracy: None },
        Value::Attachment(reference) => Answer::Attachment(reference),
    })
}

fuzz_target!(|steps: Vec<Step>| {
    let definition: serde_json::Value =
        serde_json::from_str(include_str!("../../forms/household-check.json")).expect("demo form JSON");
    let form = Arc::new(Form::from_definition(&definition).expect("demo form"));
    let today = NaiveDate::from_ymd_opt(2024, 12, 28).unwrap_or_default();
    let mut session = FormSession::new(Arc::clone(&form), Default::default(), Some("zh-CN".into()), today);
    for step in steps.into_iter().take(64) {
        let before = session.answers().clone();
        let outcome = match step {
            Step::Top(index, value) => {
                let path = PATHS[usize::from(index) % PATHS.len()];
                session.set_answer(path, value.and_then(answer))
            }
            Step::Member(item, question, value) => {
                let question = ITEM_QUESTIONS[usize::from(question) % ITEM_QUESTIONS.len()];
                let path = format!("members[{}]/{question}", item % 8);
                session.set_answer(&path, value.and_then(answer))
            }
            Step::AddMember => session.add_repeat("members"),
            Step::AddMigrant => session.add_repeat("migrants"),
            Step::Remove(item) => session.remove_repeat(&format!("members[{}]", item % 8)),
        };
        if outcome.is_err() {
            assert_eq!(session.answers(), &before, "a refused step changed the answers");
        }
    }
    let fresh = FormSession::new(form, session.answers().clone(), Some("zh-CN".into()), today);
    assert_eq!(session.nodes(), fresh.nodes(), "the incremental state is not the fresh one");
});
