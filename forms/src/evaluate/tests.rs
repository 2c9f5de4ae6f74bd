//! The evaluation engine on a small household form with a repeat,
//! relevance, constraints and calculations.

#![allow(clippy::unwrap_used)]

use chrono::NaiveDate;
use doorstep_protocol::Answers;
use serde_json::{Value as Json, json};

use crate::{Form, Options, Rule, Stage};

fn form() -> Form {
    Form::from_definition(&json!({
        "format": 2,
        "form_id": "check",
        "version": "1",
        "title": "入户核查",
        "questions": [
            {"name": "visit_date", "kind": {"type": "date"}, "label": {"en": "Date"},
             "constraint": ". <= today()", "constraint_message": {"en": "not in the future", "zh-CN": "不能晚于今天"}},
            {"name": "members", "kind": {"type": "repeat"}, "label": {"en": "Members"}, "children": [
                {"name": "name", "kind": {"type": "text"}, "label": {"en": "Name"}, "required": true},
                {"name": "age", "kind": {"type": "integer"}, "label": {"en": "Age"}, "required": true,
                 "constraint": ". >= 0 and . <= 120",
                 "constraint_message": {"en": "age between 0 and 120", "zh-CN": "年龄应在0到120之间"}},
                {"name": "works_away", "kind": {"type": "select_one", "list": "yes_no"}, "label": {"en": "Away?"}},
                {"name": "destination", "kind": {"type": "text"}, "label": {"en": "Where"},
                 "relevant": "${works_away} = 'yes'", "required": true},
                {"name": "age_group", "kind": {"type": "calculate"},
                 "calculation": "if(${age} >= 60, 'elder', 'adult')"}
            ]},
            {"name": "money", "kind": {"type": "group"}, "label": {"en": "Income"}, "children": [
                {"name": "income_wages", "kind": {"type": "decimal"}, "label": {"en": "Wages"}},
                {"name": "costs", "kind": {"type": "decimal"}, "label": {"en": "Costs"}}
            ]},
            {"name": "below_line", "kind": {"type": "calculate"},
             "calculation": "if(${per_capita} < 10000, 'yes', 'no')"},
            {"name": "per_capita", "kind": {"type": "calculate"},
             "calculation": "if(count(${members}) > 0, (coalesce(${income_wages}, 0) - coalesce(${costs}, 0)) div count(${members}), 0)"},
            {"name": "elders", "kind": {"type": "calculate"}, "calculation": "count-selected(${support})"},
            {"name": "support", "kind": {"type": "select_multiple", "list": "support"}, "label": {"en": "Support"}},
            {"name": "loan_amount", "kind": {"type": "decimal"}, "label": {"en": "Loan"},
             "relevant": "selected(${support}, 'loans')", "required": "${below_line} = 'yes'"},
            {"name": "location", "kind": {"type": "geopoint"}, "label": {"en": "GPS"}}
        ],
        "choices": {
            "yes_no": [{"name": "yes", "label": {"en": "Yes"}}, {"name": "no", "label": {"en": "No"}}],
            "support": [{"name": "jobs", "label": {"en": "Jobs"}}, {"name": "loans", "label": {"en": "Loans"}}]
        }
    }))
    .unwrap()
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 12, 28).unwrap()
}

fn options(stage: Stage, language: Option<&str>) -> Options<'_> {
    Options {
        stage,
        language,
        today: today(),
    }
}

fn answers(value: Json) -> Answers {
    value.as_object().unwrap().clone()
}

fn valid() -> Answers {
    answers(json!({
        "visit_date": "2024-12-28",
        "members": [
            {"name": "喻兰", "age": 63, "works_away": "no"},
            {"name": "喻强", "age": 35, "works_away": "yes", "destination": "上海"},
            {"name": "喻小红", "age": 9}
        ],
        "income_wages": 36000,
        "costs": 3000,
        "support": ["jobs", "loans"],
        "loan_amount": 20000,
        "location": {"lat": 27.33, "lon": 103.72, "accuracy": 8.5}
    }))
}

fn rules(answers: &Answers, stage: Stage) -> Vec<(String, Rule)> {
    form()
        .evaluate(answers, &options(stage, None))
        .violations
        .into_iter()
        .map(|violation| (violation.question, violation.rule))
        .collect()
}

#[test]
fn valid_answers_compute_per_capita_income_across_the_repeat() {
    let evaluation = form().evaluate(&valid(), &options(Stage::Final, None));
    assert_eq!(evaluation.violations, vec![]);
    // (36000 − 3000) ÷ 3 members
    assert_eq!(evaluation.computed["per_capita"], json!(11000));
    assert_eq!(evaluation.computed["below_line"], json!("no"));
    assert_eq!(evaluation.computed["elders"], json!(2));
    assert_eq!(
        evaluation.computed["members"],
        json!([{"age_group": "elder"}, {"age_group": "adult"}, {"age_group": "adult"}])
    );
    assert_eq!(
        evaluation.not_relevant,
        vec!["members[1]/destination", "members[3]/destination"]
    );
    assert_eq!(evaluation.answers, valid(), "nothing to drop");
}

#[test]
fn calculations_settle_whatever_their_order() {
    // `below_line` comes before the `per_capita` it reads.
    let mut poor = valid();
    poor.insert("income_wages".into(), json!(12000));
    let evaluation = form().evaluate(&poor, &options(Stage::Final, None));
    assert_eq!(evaluation.computed["per_capita"], json!(3000));
    assert_eq!(evaluation.computed["below_line"], json!("yes"));
}

#[test]
fn a_constraint_inside_a_repeat_names_the_item_and_speaks_the_language() {
    let mut given = valid();
    given["members"][1]["age"] = json!(150);
    let evaluation = form().evaluate(&given, &options(Stage::Final, Some("zh-CN")));
    assert_eq!(evaluation.violations.len(), 1);
    let violation = &evaluation.violations[0];
    assert_eq!(
        (violation.question.as_str(), violation.rule),
        ("members[2]/age", Rule::Constraint)
    );
    assert_eq!(violation.message, "年龄应在0到120之间");
    assert_eq!(
        violation.to_string(),
        "`members[2]/age`: 年龄应在0到120之间"
    );
    let english = form().evaluate(&given, &options(Stage::Final, Some("en")));
    assert_eq!(english.violations[0].message, "age between 0 and 120");
}

#[test]
fn relevance_decides_what_is_required_and_what_is_kept() {
    let mut given = valid();
    given["members"][1]
        .as_object_mut()
        .unwrap()
        .remove("destination");
    assert_eq!(
        rules(&given, Stage::Final),
        [("members[2]/destination".to_string(), Rule::Required)]
    );
    assert_eq!(rules(&given, Stage::Draft), [], "a draft may be incomplete");

    // An answer to a question that does not apply is dropped on finalise.
    let mut given = valid();
    given["members"][0]["destination"] = json!("昆明");
    given.insert("support".into(), json!(["jobs"]));
    let evaluation = form().evaluate(&given, &options(Stage::Final, None));
    assert_eq!(evaluation.violations, vec![]);
    assert!(
        evaluation.answers["members"][0]
            .get("destination")
            .is_none()
    );
    assert!(!evaluation.answers.contains_key("loan_amount"));
    assert!(evaluation.not_relevant.contains(&"loan_amount".to_string()));
}

#[test]
fn required_can_be_an_expression() {
    let mut given = valid();
    given.remove("loan_amount");
    assert_eq!(
        rules(&given, Stage::Final),
        [],
        "not required above the line"
    );
    given.insert("income_wages".into(), json!(6000));
    assert_eq!(
        rules(&given, Stage::Final),
        [("loan_amount".to_string(), Rule::Required)]
    );
}

#[test]
fn dates_are_checked_against_the_given_today() {
    let mut given = valid();
    given.insert("visit_date".into(), json!("2024-12-29"));
    let evaluation = form().evaluate(&given, &options(Stage::Draft, Some("en")));
    assert_eq!(evaluation.violations[0].question, "visit_date");
    assert_eq!(evaluation.violations[0].message, "not in the future");
    given.insert("visit_date".into(), json!("28/12/2024"));
    assert_eq!(
        rules(&given, Stage::Final),
        [("visit_date".to_string(), Rule::Type)]
    );
}

#[test]
fn wrong_shapes_are_violations_not_panics() {
    let cases = [
        ("members", json!({"name": "x"}), "members", Rule::Type),
        ("members", json!(["x"]), "members[1]", Rule::Type),
        ("support", json!("jobs"), "support", Rule::Type),
        ("support", json!(["jobs", "jobs"]), "support", Rule::Type),
        ("support", json!(["cash"]), "support", Rule::Choice),
        (
            "location",
            json!({"lat": 95, "lon": 103}),
            "location",
            Rule::Type,
        ),
        ("location", json!("27.3 103.7"), "location", Rule::Type),
        ("per_capita", json!(5), "per_capita", Rule::Type),
        ("shoe_size", json!(42), "shoe_size", Rule::UnknownQuestion),
    ];
    for (key, value, path, rule) in cases {
        let mut given = valid();
        given.insert(key.into(), value.clone());
        let found = rules(&given, Stage::Final);
        assert!(
            found.contains(&(path.to_string(), rule)),
            "{key} = {value}: {found:?}"
        );
    }
    let mut given = valid();
    given["members"][0]["shoe_size"] = json!(42);
    assert_eq!(
        rules(&given, Stage::Final),
        [("members[1]/shoe_size".to_string(), Rule::UnknownQuestion)]
    );
}

#[test]
fn an_empty_visit_lacks_only_what_is_required() {
    let evaluation = form().evaluate(&Answers::new(), &options(Stage::Final, None));
    assert_eq!(
        evaluation.violations,
        vec![],
        "nothing top-level is required; no members, no member questions"
    );
    assert_eq!(evaluation.computed["per_capita"], json!(0));
    let members = answers(json!({"members": [{}]}));
    assert_eq!(
        rules(&members, Stage::Final),
        [
            ("members[1]/name".to_string(), Rule::Required),
            ("members[1]/age".to_string(), Rule::Required)
        ]
    );
}

mod properties {
    use proptest::prelude::*;
    use serde_json::{Map, Value as Json};

    use super::*;

    /// Any JSON value, biased towards the shapes answers take.
    fn json_value() -> impl Strategy<Value = Json> {
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::from),
            any::<i64>().prop_map(Json::from),
            any::<f64>().prop_map(
                |number| serde_json::Number::from_f64(number).map_or(Json::Null, Json::Number)
            ),
            "[a-z0-9 -]{0,12}".prop_map(Json::from),
            prop_oneof![
                Just("yes"),
                Just("no"),
                Just("jobs"),
                Just("loans"),
                Just("2024-12-28")
            ]
            .prop_map(Json::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
                prop::collection::btree_map(key(), inner, 0..5)
                    .prop_map(|entries| Json::Object(entries.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    /// Keys that are mostly the form's own question names.
    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "visit_date",
                "members",
                "name",
                "age",
                "works_away",
                "destination",
                "age_group",
                "income_wages",
                "costs",
                "per_capita",
                "support",
                "loan_amount",
                "location",
                "lat",
                "lon",
            ])
            .prop_map(str::to_owned),
            "[a-z_]{1,8}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Whatever a device (or anyone) sends, evaluation answers with
        /// violations, never a panic; the kept answers are then valid or
        /// only lack what is required; and evaluating is deterministic.
        #[test]
        fn evaluation_never_panics_and_is_deterministic(
            entries in prop::collection::btree_map(key(), json_value(), 0..10),
            draft in any::<bool>(),
        ) {
            let answers: Answers = entries.into_iter().collect();
            let stage = if draft { Stage::Draft } else { Stage::Final };
            let first = form().evaluate(&answers, &options(stage, Some("zh-CN")));
            let second = form().evaluate(&answers, &options(stage, Some("zh-CN")));
            prop_assert_eq!(&first, &second);
            let kept = form().evaluate(&first.answers, &options(Stage::Draft, None));
            prop_assert!(kept.violations.iter().all(|violation| violation.rule != Rule::UnknownQuestion));
        }
    }
}

#[test]
fn no_answer_and_no_visit_may_exceed_the_size_limits() {
    use doorstep_protocol::limits::{MAX_TEXT_ANSWER_CHARS, MAX_VISIT_BYTES};
    let with_name = |name: String| -> Answers {
        json!({"members": [{"name": name, "age": 40}]})
            .as_object()
            .unwrap()
            .clone()
    };
    let fits = form().evaluate(
        &with_name("兰".repeat(MAX_TEXT_ANSWER_CHARS)),
        &options(Stage::Final, Some("en")),
    );
    assert!(fits.is_valid(), "{:?}", fits.violations);
    let long = form().evaluate(
        &with_name("兰".repeat(MAX_TEXT_ANSWER_CHARS + 1)),
        &options(Stage::Final, Some("zh-CN")),
    );
    assert_eq!(long.violations.len(), 1, "{:?}", long.violations);
    assert_eq!(long.violations[0].question, "members[1]/name");
    assert_eq!(long.violations[0].rule, Rule::TooLong);
    assert!(
        long.violations[0].message.contains("最多"),
        "{}",
        long.violations[0].message
    );
    // Many answers that each fit, together larger than a visit may be.
    let mut big = Answers::new();
    let members: Vec<Json> = (0..(MAX_VISIT_BYTES / 3_000 + 10))
        .map(|_| json!({"name": "x".repeat(3_000), "age": 40}))
        .collect();
    big.insert("members".into(), Json::Array(members));
    let huge = form().evaluate(&big, &options(Stage::Final, Some("en")));
    assert_eq!(huge.violations.len(), 1);
    assert_eq!(huge.violations[0].rule, Rule::TooLong);
    assert!(huge.violations[0].message.contains("too large"));
}
