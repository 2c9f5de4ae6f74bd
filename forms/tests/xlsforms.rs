#![cfg(feature = "xlsform")]
//! The XLSForm fixtures of `tests/xlsforms/`, written by
//! `tools/xlsforms/make_fixtures.py`: realistic forms of the kinds ODK and
//! KoboToolbox users write, read from `.xlsx` and answered, two that lean on
//! what pyxform tolerates (one with CSV files beside it), and two broken
//! ones whose problems are asserted one by one.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use doorstep_forms::xlsform::{Problem, read_xlsx};
use doorstep_forms::{Evaluation, Form, Metadata, Options, QuestionKind, Stage};
use doorstep_protocol::Answers;
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/xlsforms")
}

/// A fixture that must import.
fn fixture(file: &str) -> Form {
    read_xlsx(&fixtures().join(file)).unwrap_or_else(|error| panic!("{file}:\n{error}"))
}

/// The problems of a fixture that must not import.
fn problems(file: &str) -> Vec<Problem> {
    match read_xlsx(&fixtures().join(file)) {
        Ok(_) => panic!("{file} should not import"),
        Err(error) => error.problems,
    }
}

/// `(sheet, row, column)` of each problem.
fn places(problems: &[Problem]) -> Vec<(&str, Option<u32>, Option<&str>)> {
    problems
        .iter()
        .map(|p| (p.sheet.as_str(), p.row, p.column.as_deref()))
        .collect()
}

/// Questions (neither group nor repeat), groups, repeats, and languages.
fn summary(form: &Form) -> (usize, usize, usize, Vec<&str>) {
    let count = |kind: QuestionKind| form.all_questions().filter(|q| q.kind == kind).count();
    let questions = form
        .all_questions()
        .filter(|q| !q.kind.is_container())
        .count();
    let languages = form.languages().into_iter().collect();
    (
        questions,
        count(QuestionKind::Group),
        count(QuestionKind::Repeat),
        languages,
    )
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 12, 28).expect("a date")
}

fn evaluate_in(form: &Form, answers: Value, language: &str) -> Evaluation {
    let answers: Answers = answers.as_object().expect("answers are an object").clone();
    let options = Options {
        stage: Stage::Final,
        language: Some(language),
        today: today(),
    };
    form.evaluate(&answers, &options)
}

fn evaluate(form: &Form, answers: Value) -> Evaluation {
    evaluate_in(form, answers, "zh-CN")
}

/// Evaluates answers that must be valid.
fn valid(form: &Form, answers: Value) -> Evaluation {
    let evaluation = evaluate(form, answers);
    assert_eq!(evaluation.violations, [], "{}", form.form_id);
    evaluation
}

/// `(path, rule, message)` of each violation.
fn violations(evaluation: &Evaluation) -> Vec<(&str, &str, &str)> {
    evaluation
        .violations
        .iter()
        .map(|v| (v.question.as_str(), v.rule.as_str(), v.message.as_str()))
        .collect()
}

const REQUIRED: &str = "此题必答";

/// The fixtures without repeats.
#[path = "xlsforms/flat.rs"]
mod flat;

#[test]
fn household_roster() {
    let form = fixture("household_roster.xlsx");
    assert_eq!(
        (form.form_id.as_str(), form.version.as_str()),
        ("household_roster", "2024122801")
    );
    assert_eq!(summary(&form), (11, 0, 1, vec!["zh-CN"]));
    let members = form.question("members").expect("the repeat");
    let names: Vec<&str> = members.children.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "member_name",
            "relation",
            "sex",
            "age",
            "in_school",
            "can_work"
        ]
    );
    let evaluation = valid(
        &form,
        json!({
            "village": "绥江县中坝村", "head_name": "王德明", "members_count": 3,
            "members": [
                {"member_name": "王德明", "relation": "head", "sex": "male", "age": 52, "can_work": "yes"},
                {"member_name": "李秀英", "relation": "spouse", "sex": "female", "age": 49, "can_work": "yes"},
                {"member_name": "王小龙", "relation": "child", "sex": "male", "age": 14, "in_school": "yes"}
            ]
        }),
    );
    assert_eq!(
        Value::Object(evaluation.computed),
        json!({"roster_count": 3})
    );
    assert_eq!(
        evaluation.not_relevant,
        [
            "members[1]/in_school",
            "members[2]/in_school",
            "members[3]/can_work",
            "roster_mismatch"
        ]
    );
    let evaluation = evaluate(
        &form,
        json!({
            "village": "绥江县中坝村", "head_name": "王德明", "members_count": 2,
            "members": [
                {"member_name": "王德明", "relation": "head", "sex": "male", "age": 52},
                {"member_name": "王奶奶", "relation": "parent", "sex": "female", "age": 130},
                {"member_name": "王小龙", "relation": "child", "sex": "boy", "age": 14}
            ]
        }),
    );
    assert_eq!(
        violations(&evaluation),
        [
            ("members[2]/age", "constraint", "年龄应在0到110岁之间"),
            (
                "members[3]/sex",
                "choice",
                "不是选项列表 `sex` 中的选项；应为：male、female"
            ),
            ("members[3]/in_school", "required", REQUIRED),
        ]
    );
    // Three members listed, two counted: the note shows.
    assert!(
        !evaluation
            .not_relevant
            .contains(&"roster_mismatch".to_owned())
    );
}

#[test]
fn migrant_followup() {
    let form = fixture("migrant_followup.xlsx");
    assert_eq!(summary(&form), (10, 0, 1, vec!["zh-CN"]));
    assert_eq!(
        form.question("needs").expect("needs").kind,
        QuestionKind::SelectMultiple {
            list: "needs".into()
        }
    );
    assert_eq!(
        form.question("left_date").expect("date").kind,
        QuestionKind::Date
    );
    let evaluation = valid(
        &form,
        json!({
            "visit_date": "2024-12-28",
            "workers": [
                {"worker_name": "杨光华", "works_away": "yes", "destination": "shanghai",
                 "left_date": "2024-02-20", "return_for_festival": "yes", "return_date": "2025-01-20"},
                {"worker_name": "杨光明", "works_away": "no", "needs": ["training", "public_welfare_job"]}
            ]
        }),
    );
    assert_eq!(
        Value::Object(evaluation.computed),
        json!({"workers": [{"away_flag": 1}, {"away_flag": 0}], "away_count": 1})
    );
    let evaluation = evaluate(
        &form,
        json!({
            "visit_date": "2024-12-30",
            "workers": [
                {"worker_name": "杨光华", "works_away": "yes", "left_date": "2025-01-02",
                 "return_for_festival": "yes", "return_date": "2024-12-01"},
                {"worker_name": "杨光明", "works_away": "no", "needs": ["none", "jobs"]}
            ]
        }),
    );
    assert_eq!(
        violations(&evaluation),
        [
            ("visit_date", "constraint", "走访日期不能晚于今天"),
            ("workers[1]/destination", "required", REQUIRED),
            (
                "workers[1]/left_date",
                "constraint",
                "外出日期不能晚于走访日期"
            ),
            (
                "workers[1]/return_date",
                "constraint",
                "预计返乡日期不能早于走访日期"
            ),
            (
                "workers[2]/needs",
                "constraint",
                "选了“暂不需要”就不能再选其他帮扶"
            ),
        ]
    );
}

#[test]
fn household_jobs_nests_repeats() {
    let form = fixture("household_jobs.xlsx");
    assert_eq!(summary(&form), (11, 0, 2, vec!["zh-CN"]));
    let members = form.question("members").expect("members");
    let jobs = members
        .children
        .iter()
        .find(|q| q.name == "jobs")
        .expect("jobs inside members");
    assert_eq!(jobs.kind, QuestionKind::Repeat);
    assert_eq!(jobs.children.len(), 5);
    let evaluation = valid(
        &form,
        json!({"head_name": "喻德才", "members": [
            {"member_name": "喻德才", "age": 45, "jobs": [
                {"job_place": "out_of_province", "employer": "上海某电子厂", "months": 10, "monthly_wage": 5200},
                {"job_place": "in_county", "months": 2, "monthly_wage": 3000}
            ]},
            {"member_name": "兰秀珍", "age": 43, "jobs": [
                {"job_place": "workshop", "employer": "界安安置区帮扶车间", "months": 12, "monthly_wage": 2200}
            ]},
            {"member_name": "喻小芳", "age": 12}
        ]}),
    );
    let computed = Value::Object(evaluation.computed);
    assert_eq!(computed["members"][0]["jobs"][1]["job_income"], json!(6000));
    assert_eq!(computed["members"][0]["member_income"], json!(58000));
    assert_eq!(computed["members"][1]["member_income"], json!(26400));
    assert_eq!(computed["members"][2]["member_income"], json!(0));
    assert_eq!(computed["household_wages"], json!(84400));
    assert_eq!(computed["job_count"], json!(3));
    let evaluation = evaluate(
        &form,
        json!({"head_name": "喻德才", "members": [
            {"member_name": "喻德才", "age": 45, "jobs": [
                {"months": 10, "monthly_wage": 5200},
                {"job_place": "in_county", "months": 13, "monthly_wage": 3000}
            ]},
            {"member_name": "喻小芳", "age": -1, "jobs": [{"job_place": "workshop"}]}
        ]}),
    );
    assert_eq!(
        violations(&evaluation),
        [
            ("members[1]/jobs[1]/job_place", "required", REQUIRED),
            (
                "members[1]/jobs[2]/months",
                "constraint",
                "务工月数应在1到12之间"
            ),
            ("members[2]/age", "constraint", "年龄应在0到110岁之间"),
        ]
    );
    // The jobs of a member under 16 do not apply and are dropped.
    assert!(
        evaluation
            .not_relevant
            .contains(&"members[2]/jobs".to_owned())
    );
    assert_eq!(
        evaluation.answers["members"][1],
        json!({"member_name": "喻小芳", "age": -1})
    );
}

#[test]
fn broken_types_and_expressions_are_each_placed() {
    let found = problems("broken_types.xlsx");
    assert_eq!(
        places(&found),
        [
            ("survey", Some(3), Some("type")),
            ("survey", Some(4), Some("type")),
            ("survey", Some(5), Some("constraint")),
            ("survey", Some(7), Some("relevant")),
            ("survey", Some(8), Some("repeat_count")),
        ],
        "{found:#?}"
    );
    let messages: Vec<&str> = found.iter().map(|p| p.message.as_str()).collect();
    assert!(
        messages[0].starts_with("unknown type `integr`"),
        "{}",
        messages[0]
    );
    assert_eq!(
        messages[1],
        "`villages.csv` is not beside the form: publish it with the form"
    );
    assert!(
        messages[2]
            .starts_with("`. >= 0 and and . <= 110` is not a valid expression: at character 12: "),
        "{}",
        messages[2]
    );
    assert_eq!(
        messages[3],
        "the relevant of `destination` refers to `${work_away}`, which is not a question of the form"
    );
    assert_eq!(
        messages[4],
        "the repeat_count of `children` refers to `${children_count}`, which is not a question of the form"
    );
    // The extra choice column `county` is kept for choice_filter: no problem.
    assert_eq!(messages.len(), 5, "{messages:?}");
}

#[test]
fn broken_structure_names_each_unmatched_row() {
    let found = problems("broken_structure.xlsx");
    let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(
        places(&found),
        [
            ("survey", Some(4), Some("type")),
            ("survey", Some(6), Some("type")),
            ("survey", Some(7), Some("calculation")),
            ("survey", Some(8), Some("type")),
            ("survey", Some(9), Some("required")),
        ],
        "{shown:#?}"
    );
    assert_eq!(
        shown[..4],
        [
            "sheet `survey`, row 4, column `type`: `end_repeat` closes nothing: \
             the innermost open block is `begin_group` `household` on row 2",
            "sheet `survey`, row 6, column `type`: `end_group` without a `begin_group` before it",
            "sheet `survey`, row 7, column `calculation`: a `calculate` row needs a calculation",
            "sheet `survey`, row 8, column `type`: `begin_repeat` `members` is never closed: \
             add an `end_repeat` row",
        ]
    );
    assert!(
        shown[4].starts_with(
            "sheet `survey`, row 9, column `required`: `${per_capita} <` is not yes, no or a \
             valid expression: at character 16: "
        ),
        "{}",
        shown[4]
    );
}

/// Every fixture the generator writes is covered here.
#[test]
fn every_fixture_is_tested() {
    let mut files: Vec<String> = std::fs::read_dir(fixtures())
        .expect("the fixtures directory")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".xlsx"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "broken_structure.xlsx",
            "broken_types.xlsx",
            "health_screening.xlsx",
            "household_jobs.xlsx",
            "household_roster.xlsx",
            "income_check.xlsx",
            "lone_sheet.xlsx",
            "market_prices.xlsx",
            "migrant_followup.xlsx",
            "relocation_followup.xlsx",
            "school_attendance.xlsx",
            "site_visit.xlsx",
            "two_assurances.xlsx",
            "wash_checklist.xlsx",
        ]
    );
}

#[test]
fn market_prices_imports_as_pyxform_reads_it() {
    let form = fixture("market_prices.xlsx");
    // No settings sheet: the file's name is the id, the version defaulted.
    assert_eq!(
        (
            form.form_id.as_str(),
            form.version.as_str(),
            form.title.as_str()
        ),
        ("market_prices", "1", "market_prices")
    );
    assert_eq!(form.format(), 3);
    let kind = |name: &str| form.question(name).map(|q| q.kind.clone());
    assert_eq!(
        kind("started"),
        Some(QuestionKind::Metadata(Metadata::Start))
    );
    assert_eq!(kind("location"), Some(QuestionKind::Geopoint));
    assert_eq!(
        kind("crowding"),
        Some(QuestionKind::Range {
            start: 0.0,
            end: 10.0,
            step: 2.0
        })
    );
    // The markets' list and the traders' table travel in the definition.
    let markets = form.choice_list("markets.csv").expect("markets inlined");
    assert_eq!(markets.len(), 3);
    assert_eq!(
        form.pulldata("traders", "name", "market", "luohan"),
        Some("Zhang Wei")
    );
    // or_other: a choice and a question; the same name in two groups.
    assert!(form.question("main_crop_other").is_some());
    assert!(form.question("morning.arrival").is_some());
    assert!(form.question("evening.arrival").is_some());
    assert!(
        form.question("stall")
            .is_some_and(|q| q.repeat_count.is_some())
    );
    // The definition reads back as it was.
    let definition = form.to_definition();
    assert_eq!(
        Form::from_definition(&definition).expect("reads back"),
        form
    );

    let answers = json!({
        "started": "2024-12-28T09:00:00+08:00", "ended": "2024-12-28T09:40:00+08:00",
        "device": "android-7f3a", "day": "2024-12-28",
        "county": "yiliang", "market": "luohan",
        "location": {"lat": 27.6, "lon": 104.0},
        "crowding": 4, "main_crop": "other", "main_crop_other": "buckwheat",
        "stall_count": 2,
        "stall": [{"price": 3.5}, {"price": 4.5}],
        "morning.arrival": "07:30", "evening.arrival": "18:05"
    });
    let evaluation = evaluate_in(&form, answers.clone(), "en");
    assert_eq!(evaluation.violations, [], "{:?}", evaluation.violations);
    assert_eq!(evaluation.computed["mean_price"], json!(4));
    // A crowding off the step, an arrival that is no time: type violations.
    let mut wrong = answers;
    wrong["crowding"] = json!(3);
    wrong["morning.arrival"] = json!("7h30");
    let evaluation = evaluate_in(&form, wrong, "en");
    let found: Vec<(&str, &str)> = evaluation
        .violations
        .iter()
        .map(|v| (v.question.as_str(), v.rule.as_str()))
        .collect();
    assert_eq!(found, [("crowding", "type"), ("morning.arrival", "type")]);
}

#[test]
fn a_lone_sheet_is_the_survey() {
    let form = fixture("lone_sheet.xlsx");
    assert_eq!(form.form_id, "lone_sheet");
    let names: Vec<&str> = form.questions.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(names, ["village", "households"]);
}
