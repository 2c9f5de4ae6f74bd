#![cfg(feature = "xlsform")]
//! Real XLSForms that people use, from public repositories (each one's
//! repository, commit, path and licence in `tests/corpus/sources.json` and
//! `tests/corpus/README.md`), all accepted by pyxform: each must import,
//! and a plausible submission of each, filled in through a form session the
//! way a screen fills it, must evaluate without a violation.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use doorstep_forms::session::Stamp;
use doorstep_forms::xlsform::read_xlsx;
use doorstep_forms::{Answer, FormSession, Node, QuestionKind, Stage};
use doorstep_protocol::Answers;
use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, 14).expect("a date")
}

/// Every form of the corpus: (slug, the spreadsheet, whether Doorstep
/// imports it).
fn forms() -> Vec<(String, PathBuf, bool)> {
    let text = std::fs::read_to_string(corpus().join("sources.json")).expect("sources.json");
    let sources: Vec<Value> = serde_json::from_str(&text).expect("sources.json is JSON");
    sources
        .iter()
        .map(|source| {
            let slug = source["slug"].as_str().expect("a slug").to_owned();
            let file = source["file"].as_str().expect("a file");
            let path = corpus().join(&slug).join(file);
            assert!(path.exists(), "{} is listed but missing", path.display());
            let imports = match source["doorstep"].as_str() {
                Some("imports") => true,
                Some("refused") => false,
                other => panic!("{slug}: `doorstep` is {other:?}, not imports or refused"),
            };
            (slug, path, imports)
        })
        .collect()
}

/// Answers to try for a question, most plausible first.
fn candidates(node: &Node) -> Vec<Answer> {
    let day = |days: i64| Answer::Date(today() - Duration::days(days));
    match &node.kind {
        QuestionKind::Text => [
            "Amina Wanjiru",
            "12",
            "0712345678",
            "A",
            "1234567890",
            "amina.wanjiru@example.org",
            "ABC-123",
            "ABC-123-001",
            "test",
        ]
        .into_iter()
        .map(|text| Answer::Text(text.into()))
        .collect(),
        QuestionKind::Integer => [
            1, 2, 3, 0, 5, 10, 25, 50, 100, 1000, 2020, 12, 30, 60, 150, 170,
        ]
        .into_iter()
        .map(Answer::Integer)
        .collect(),
        QuestionKind::Decimal => [1.5, 1.0, 0.0, 10.0, 50.5, 100.0, 12.3, 65.0, 3.5]
            .into_iter()
            .map(Answer::Decimal)
            .collect(),
        QuestionKind::Date => vec![day(0), day(30), day(400), day(3_000), day(12_000)],
        QuestionKind::SelectOne { .. } => node
            .choices
            .iter()
            .map(|choice| Answer::Choice(choice.name.clone()))
            .collect(),
        QuestionKind::SelectMultiple { .. } => node
            .choices
            .iter()
            .map(|choice| Answer::Choices(vec![choice.name.clone()]))
            .collect(),
        QuestionKind::Geopoint => vec![Answer::Geopoint {
            lat: -1.2921,
            lon: 36.8219,
            altitude: Some(1_661.0),
            accuracy: Some(6.5),
        }],
        QuestionKind::Photo | QuestionKind::Audio | QuestionKind::Video | QuestionKind::File => {
            vec![Answer::Attachment("3f6c2a9e.jpg".into())]
        }
        QuestionKind::Barcode => vec![Answer::Text("6901234567892".into())],
        QuestionKind::Acknowledge => vec![Answer::Text("OK".into())],
        QuestionKind::Time => [(9, 30), (14, 5), (0, 0)]
            .into_iter()
            .filter_map(|(hour, minute)| chrono::NaiveTime::from_hms_opt(hour, minute, 0))
            .map(Answer::Time)
            .collect(),
        QuestionKind::DateTime => vec![Answer::DateTime(
            today()
                .and_hms_opt(9, 30, 0)
                .expect("a time")
                .and_utc()
                .fixed_offset(),
        )],
        QuestionKind::Range { start, end, step } => {
            let middle = start + ((end - start) / step / 2.0).floor() * step;
            vec![
                Answer::Decimal(*start),
                Answer::Decimal(middle),
                Answer::Decimal(*end),
            ]
        }
        QuestionKind::Rank { .. } => vec![Answer::Choices(
            node.choices
                .iter()
                .map(|choice| choice.name.clone())
                .collect(),
        )],
        _ => Vec::new(),
    }
}

/// Fills `session` as a cadre would: every question shown gets the first
/// candidate that breaks no rule, every repeat one item, until nothing is
/// left to answer.
fn fill(session: &mut FormSession) {
    for _ in 0..50 {
        let mut progressed = false;
        for node in session.nodes() {
            if !node.relevant || node.read_only {
                continue;
            }
            if node.kind == QuestionKind::Repeat && node.item.is_none() {
                if node.items == 0 && session.add_repeat(&node.path).is_ok() {
                    progressed = true;
                }
                continue;
            }
            if node.value.is_some() || !node.kind.takes_answer() {
                continue;
            }
            for answer in candidates(&node) {
                let fits = session
                    .set_answer(&node.path, Some(answer))
                    .ok()
                    .and_then(|changes| {
                        changes
                            .changed
                            .into_iter()
                            .find(|changed| changed.path == node.path)
                    })
                    .is_some_and(|changed| changed.violations.is_empty());
                if fits {
                    progressed = true;
                    break;
                }
                session
                    .set_answer(&node.path, None)
                    .expect("clearing an answer");
            }
        }
        if !progressed {
            return;
        }
    }
}

#[test]
fn every_form_of_the_corpus_imports_and_a_plausible_submission_evaluates() {
    let forms: Vec<_> = forms()
        .into_iter()
        .filter(|(_, _, imports)| *imports)
        .collect();
    assert!(
        forms.len() >= 20,
        "the corpus has {} forms that import",
        forms.len()
    );
    let mut failures = Vec::new();
    for (slug, path, _) in &forms {
        let form = match read_xlsx(path) {
            Ok(form) => Arc::new(form),
            Err(error) => {
                failures.push(format!("{slug}: does not import:\n{error}"));
                continue;
            }
        };
        let language = form.default_language.clone();
        let mut session = FormSession::new(Arc::clone(&form), Answers::new(), language, today());
        let now = today()
            .and_hms_opt(9, 40, 0)
            .expect("a time")
            .and_utc()
            .fixed_offset();
        session.stamp_start(&Stamp {
            now,
            device_id: Some("0192f1c4-5d7e-7a31-9e44-3f0d2c9b8a61".into()),
            username: Some("Amina Wanjiru".into()),
            phone_number: Some("0712345678".into()),
            email: Some("amina.wanjiru@example.org".into()),
        });
        fill(&mut session);
        session.stamp_end(now + Duration::minutes(25));
        let evaluation = session.evaluation(Stage::Final);
        if !evaluation.is_valid() {
            let problems: Vec<String> = evaluation
                .violations
                .iter()
                .take(5)
                .map(ToString::to_string)
                .collect();
            failures.push(format!(
                "{slug}: the filled-in submission has {} violations: {}",
                evaluation.violations.len(),
                problems.join("; ")
            ));
            continue;
        }
        let answered = session.answers().len();
        assert!(answered > 0, "{slug}: nothing was answered");
        // After all those answers, one at a time, the incremental state is
        // the one a session opened afresh on the same answers has.
        let language = form.default_language.clone();
        let fresh = FormSession::new(
            Arc::clone(&form),
            session.answers().clone(),
            language,
            today(),
        );
        if fresh.nodes() != session.nodes() {
            let differ = fresh
                .nodes()
                .into_iter()
                .zip(session.nodes())
                .find(|(fresh, kept)| fresh != kept)
                .map(|(fresh, kept)| format!("{fresh:?}\nkept as\n{kept:?}"));
            failures.push(format!(
                "{slug}: the incremental state is not the fresh one: {differ:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} forms fail:\n\n{}",
        failures.len(),
        forms.len(),
        failures.join("\n\n")
    );
}

/// The forms pyxform accepts that Doorstep refuses are refused with a few
/// lines, one per feature and column, naming the rows: never a line per
/// cell.
#[test]
fn a_refused_form_is_refused_in_a_few_lines_naming_what_and_where() {
    let refused: Vec<_> = forms()
        .into_iter()
        .filter(|(_, _, imports)| !*imports)
        .collect();
    assert!(!refused.is_empty());
    for (slug, path, _) in refused {
        let error = read_xlsx(&path).expect_err(&format!("{slug} is listed as refused"));
        let text = error.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            (1..=5).contains(&lines.len()),
            "{slug}: {} lines:\n{text}",
            lines.len()
        );
        for line in lines {
            assert!(
                line.starts_with("sheet `"),
                "{slug}: a line that says not where: {line}"
            );
        }
    }
}
