//! Tests of `validate.rs`.
use serde_json::json;

use super::*;
use crate::{Options, Stage};
use doorstep_protocol::Answers;

fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2024, 12, 28).expect("a date")
}

fn validate(form: &Form, answers: &Answers, language: Option<&str>) -> Vec<Violation> {
    form.validate(answers, language, today())
}

fn validate_draft(form: &Form, answers: &Answers, language: Option<&str>) -> Vec<Violation> {
    let options = Options {
        stage: Stage::Draft,
        language,
        today: today(),
    };
    form.evaluate(answers, &options).violations
}

/// A small form with one question of each kind.
fn form() -> Form {
    let definition = json!({
        "format": 1,
        "form_id": "household_check",
        "version": "2024122801",
        "title": "百日攻坚入户核查",
        "questions": [
            {"name": "members_present", "kind": {"type": "integer"}, "required": true,
             "label": {"zh-CN": "家中常住人数", "en": "Members living at home"}},
            {"name": "income_wages", "kind": {"type": "decimal"},
             "label": {"zh-CN": "工资性收入", "en": "Wage income"}},
            {"name": "housing_safe", "kind": {"type": "select_one", "list": "yes_no"},
             "required": true, "label": {"zh-CN": "住房安全", "en": "Housing safe"}},
            {"name": "notes", "kind": {"type": "text"}, "required": true,
             "label": {"zh-CN": "备注", "en": "Notes"}}
        ],
        "choices": {
            "yes_no": [
                {"name": "yes", "label": {"zh-CN": "是", "en": "Yes"}},
                {"name": "no", "label": {"zh-CN": "否", "en": "No"}}
            ]
        }
    });
    Form::from_definition(&definition).expect("test form is valid")
}

fn answers(value: Value) -> Answers {
    match value {
        Value::Object(answers) => answers,
        other => panic!("answers must be an object, not {other}"),
    }
}

fn valid() -> Answers {
    answers(json!({
        "members_present": 4,
        "income_wages": 38_500.5,
        "housing_safe": "yes",
        "notes": "长子在上海务工，腊月二十回家",
    }))
}

fn rules(violations: &[Violation]) -> Vec<(&str, Rule)> {
    violations
        .iter()
        .map(|violation| (violation.question.as_str(), violation.rule))
        .collect()
}

#[test]
fn valid_answers_pass() {
    assert_eq!(validate(&form(), &valid(), None), vec![]);
    assert_eq!(validate_draft(&form(), &valid(), Some("zh-CN")), vec![]);
    let mut optional_left_out = valid();
    optional_left_out.remove("income_wages");
    assert_eq!(validate(&form(), &optional_left_out, None), vec![]);
    let mut integral_decimal = valid();
    integral_decimal.insert("income_wages".into(), json!(12_000));
    assert_eq!(validate(&form(), &integral_decimal, None), vec![]);
}

#[test]
fn an_unknown_question_is_reported_by_its_name() {
    let mut given = valid();
    given.insert("id_card_number".into(), json!("530602199001011234"));
    let violations = validate(&form(), &given, None);
    assert_eq!(
        rules(&violations),
        [("id_card_number", Rule::UnknownQuestion)]
    );
    assert!(!violations[0].message.contains("5306"), "{}", violations[0]);
    assert_eq!(
        violations[0].to_string(),
        "`id_card_number`: no such question in form household_check version 2024122801"
    );
}

#[test]
fn required_questions_must_be_answered_when_finalised() {
    let mut given = valid();
    given.remove("members_present");
    given.insert("housing_safe".into(), Value::Null);
    given.insert("notes".into(), json!("  "));
    let violations = validate(&form(), &given, Some("en"));
    assert_eq!(
        rules(&violations),
        [
            ("members_present", Rule::Required),
            ("housing_safe", Rule::Required),
            ("notes", Rule::Required),
        ]
    );
    assert_eq!(
        violations[0].to_string(),
        "`members_present`: an answer is required"
    );
}

#[test]
fn a_draft_skips_required_but_not_types() {
    let draft = answers(json!({"members_present": "4", "notes": ""}));
    let violations = validate_draft(&form(), &draft, None);
    assert_eq!(rules(&violations), [("members_present", Rule::Type)]);
    assert_eq!(validate_draft(&form(), &Answers::new(), None), vec![]);
    assert_eq!(validate(&form(), &Answers::new(), None).len(), 3);
}

#[test]
fn an_integer_must_be_a_json_integer() {
    for wrong in [json!("3"), json!(1.5), json!(3.0), json!(true), json!([3])] {
        let mut given = valid();
        given.insert("members_present".into(), wrong.clone());
        let violations = validate(&form(), &given, None);
        assert_eq!(
            rules(&violations),
            [("members_present", Rule::Type)],
            "{wrong}"
        );
    }
    let mut negative = valid();
    negative.insert("members_present".into(), json!(-1));
    assert_eq!(validate(&form(), &negative, None), vec![]);
}

#[test]
fn decimal_text_and_select_one_types() {
    let given = answers(json!({
        "members_present": 4,
        "income_wages": "38500",
        "housing_safe": 1,
        "notes": 7,
    }));
    let violations = validate(&form(), &given, None);
    assert_eq!(
        rules(&violations),
        [
            ("income_wages", Rule::Type),
            ("housing_safe", Rule::Type),
            ("notes", Rule::Type),
        ]
    );
}

#[test]
fn select_one_must_name_a_choice_of_its_list() {
    let mut given = valid();
    given.insert("housing_safe".into(), json!("maybe"));
    let violations = validate(&form(), &given, None);
    assert_eq!(rules(&violations), [("housing_safe", Rule::Choice)]);
    assert_eq!(
        violations[0].message,
        "not a choice of list `yes_no`; expected one of: yes, no"
    );
    assert!(!violations[0].message.contains("maybe"));
    let draft = validate_draft(&form(), &given, None);
    assert_eq!(rules(&draft), [("housing_safe", Rule::Choice)]);
}

#[test]
fn messages_follow_the_language_and_never_hold_the_value() {
    let given = answers(json!({
        "members_present": "张三",
        "housing_safe": "张三",
        "notes": null,
        "张三": "张三",
    }));
    for language in [Some("zh-CN"), Some("zh"), Some("en"), None] {
        for violation in validate(&form(), &given, language) {
            let shown = violation.message.clone();
            assert!(!shown.contains("张三"), "{language:?}: {shown}");
        }
    }
    let chinese = validate(&form(), &given, Some("zh-CN"));
    assert_eq!(chinese[0].message, "应为整数（如 3，不能是文本或小数）");
    assert_eq!(chinese[2].message, "此题必答");
    assert_eq!(
        chinese[1].message,
        "不是选项列表 `yes_no` 中的选项；应为：yes、no"
    );
    let english = validate(&form(), &given, Some("en"));
    assert_eq!(english[2].message, "an answer is required");
    let unknown_language = validate(&form(), &given, Some("zhuang"));
    assert_eq!(unknown_language[2].message, "an answer is required");
}

#[test]
fn the_demo_form_accepts_a_realistic_visit() {
    let text = include_str!("../../household-check.json");
    let definition: Value = serde_json::from_str(text).expect("demo is JSON");
    let demo = Form::from_definition(&definition).expect("demo is valid");
    // Per-capita net income (38000 + 6200.5 + 800 + 3600 − 2400) ÷ 4 ≈ 11,550 yuan.
    let visit = answers(json!({
        "visit_date": "2024-12-28",
        "respondent": "spouse",
        "members": [
            {"member_name": "喻兰", "relation": "head", "age": 52, "able_to_work": "full"},
            {"member_name": "王建国", "relation": "spouse", "age": 50, "able_to_work": "full"},
            {"member_name": "喻小红", "relation": "child", "age": 12, "in_school": "yes"},
            {"member_name": "喻强", "relation": "child", "age": 24, "able_to_work": "full"}
        ],
        "migrants": [{"migrant_name": "喻强", "destination": "outside_province", "city": "上海",
                      "employer": "建筑工地", "monthly_income": 5200, "return_date": "2025-01-24"}],
        "income_wages": 38_000,
        "income_business": 6_200.5,
        "income_property": 800,
        "income_transfer": 3_600,
        "production_costs": 2_400,
        "food_clothing_ok": "yes",
        "education_ok": "yes",
        "medical_insurance_ok": "yes",
        "housing_safe": "yes",
        "drinking_water_safe": "no",
        "risk_category": "edge",
        "relocated": "yes",
        "resettlement_site": "界安安置区",
        "works_at_site": "yes",
        "support_needed": ["training", "jobs"],
        "notes": "长子在上海务工，腊月廿五返乡",
        "location": {"lat": 27.7, "lon": 103.9, "accuracy": 12}
    }));
    assert_eq!(validate(&demo, &visit, Some("zh-CN")), vec![]);
    let mut no_checklist = visit.clone();
    no_checklist.remove("housing_safe");
    assert_eq!(
        rules(&validate(&demo, &no_checklist, None)),
        [("housing_safe", Rule::Required)]
    );
}

#[test]
fn rule_names_are_snake_case() {
    assert_eq!(Rule::UnknownQuestion.as_str(), "unknown_question");
    assert_eq!(json!(Rule::UnknownQuestion), json!("unknown_question"));
    assert_eq!(json!(Rule::Choice), json!(Rule::Choice.as_str()));
}

#[test]
fn a_form_built_in_code_without_its_list_does_not_panic() {
    let mut form = form();
    form.choices.clear();
    let violations = validate(&form, &valid(), None);
    assert_eq!(rules(&violations), [("housing_safe", Rule::Choice)]);
}

/// A format-3 form with one question of each kind format 3 added.
fn format_3() -> Form {
    let definition = json!({
        "format": 3,
        "form_id": "kinds",
        "version": "1",
        "title": "Kinds",
        "questions": [
            {"name": "at", "kind": {"type": "time"}, "label": {"en": "At"}},
            {"name": "moment", "kind": {"type": "datetime"}, "label": {"en": "Moment"}},
            {"name": "score", "kind": {"type": "range", "start": 10, "end": 0, "step": 2.5},
             "label": {"en": "Score"}},
            {"name": "code", "kind": {"type": "barcode"}, "label": {"en": "Code"}},
            {"name": "sound", "kind": {"type": "audio"}, "label": {"en": "Sound"}},
            {"name": "ack", "kind": {"type": "acknowledge"}, "label": {"en": "Ack"}},
            {"name": "order", "kind": {"type": "rank", "list": "yes_no"}, "label": {"en": "Order"}},
            {"name": "started", "kind": {"type": "metadata", "metadata": "start"}},
            {"name": "total", "kind": {"type": "calculate"}, "calculation": "2 + 3",
             "constraint": ". = 100", "constraint_message": {"en": "must be 100"}}
        ],
        "choices": {"yes_no": [{"name": "yes", "label": {"en": "Yes"}},
                               {"name": "no", "label": {"en": "No"}}]}
    });
    Form::from_definition(&definition).expect("a valid format-3 form")
}

#[test]
fn format_3_kinds_check_their_answers() {
    let form = format_3();
    let good = answers(json!({
        "at": "09:30", "moment": "2024-12-28T09:30:00+08:00", "score": 7.5,
        "code": "6901234567892", "sound": "rec.m4a", "ack": "OK",
        "order": ["no", "yes"], "started": "2024-12-28T09:00:00+08:00"
    }));
    let found = validate(&form, &good, Some("en"));
    // The calculation gives 5, not 100: its constraint fails, nothing else.
    assert_eq!(rules(&found), [("total", Rule::Constraint)]);
    assert_eq!(found[0].message, "must be 100");
    let bad = answers(json!({
        "at": "25:00", "moment": "2024-12-28 09:30", "score": 8, "code": 5,
        "sound": [], "ack": "yes", "order": ["yes", "yes"], "started": 1
    }));
    let found = validate(&form, &bad, Some("en"));
    assert_eq!(
        rules(&found),
        [
            ("at", Rule::Type),
            ("moment", Rule::Type),
            ("score", Rule::Type),
            ("code", Rule::Type),
            ("sound", Rule::Type),
            ("ack", Rule::Type),
            ("order", Rule::Type),
            ("started", Rule::Type),
            ("total", Rule::Constraint),
        ]
    );
    // On the step from `start`, within bounds in either order.
    for (score, fits) in [
        (0.0, true),
        (10.0, true),
        (2.5, true),
        (11.0, false),
        (-2.5, false),
    ] {
        let found = validate(&form, &answers(json!({ "score": score })), None);
        let type_error = found.iter().any(|v| v.question == "score");
        assert_eq!(!type_error, fits, "{score}");
    }
}
