//! Checking a visit's answers against its form.
//!
//! Answers are a JSON object, question name → value. A visit is checked as a
//! draft while the cadre fills it in (nothing is required yet) and in full
//! when it is finalised; the server repeats the full check on push.
//!
//! Answers are personal data: a [`Violation`] names the question and what was
//! expected, never the value that was given.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use doorstep_protocol::limits::{MAX_TEXT_ANSWER_CHARS, MAX_VISIT_BYTES};

use super::{Choice, Form, Question, QuestionKind};

/// How many choice names a message lists before it stops.
const LISTED_CHOICES: usize = 10;

/// One way in which answers break their form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The question's name (for [`Rule::UnknownQuestion`], the answer's key).
    pub question: String,
    pub rule: Rule,
    /// What was expected, for people, in the language asked for.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.question, self.message)
    }
}

/// The rule a [`Violation`] breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// An answer names no question of the form.
    UnknownQuestion,
    /// A required question has no answer (absent, `null`, or a blank string).
    Required,
    /// The answer is not of the question's type.
    Type,
    /// A select answer is not a choice of its list.
    Choice,
    /// The answer breaks the question's `constraint`.
    Constraint,
    /// A text is longer than any answer may be
    /// (`doorstep_protocol::limits::MAX_TEXT_ANSWER_CHARS`), or the answers
    /// together are larger than a visit may be.
    TooLong,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::UnknownQuestion => "unknown_question",
            Rule::Required => "required",
            Rule::Type => "type",
            Rule::Choice => "choice",
            Rule::Constraint => "constraint",
            Rule::TooLong => "too_long",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one answer is, against its question (not a note, calculation,
/// group or repeat: [`Form::evaluate`] handles those).
pub(super) fn check_value<'form>(
    form: &'form Form,
    question: &'form Question,
    value: Option<&Value>,
) -> Outcome<'form> {
    let Some(value) = value.filter(|value| !value.is_null()) else {
        return Outcome::Unanswered;
    };
    if let Value::String(text) = value
        && text.chars().count() > MAX_TEXT_ANSWER_CHARS
    {
        return Outcome::TooLong;
    }
    let is_choice = |list: &str, name: &str| {
        form.choice_list(list)
            .unwrap_or_default()
            .iter()
            .any(|choice| choice.name == name)
    };
    let not_a_choice = |list: &'form str| Outcome::NotAChoice {
        list,
        choices: form.choice_list(list).unwrap_or_default(),
    };
    match &question.kind {
        QuestionKind::Text
        | QuestionKind::Photo
        | QuestionKind::Barcode
        | QuestionKind::Audio
        | QuestionKind::Video
        | QuestionKind::File
        | QuestionKind::Metadata(_) => match value {
            Value::Object(point)
                if question.kind == QuestionKind::Metadata(crate::Metadata::StartGeopoint)
                    && is_geopoint(point) =>
            {
                Outcome::Fits
            }
            Value::String(text) if text.trim().is_empty() => Outcome::Unanswered,
            Value::String(_) => Outcome::Fits,
            _ => Outcome::WrongType,
        },
        QuestionKind::Integer => match value {
            Value::Number(number) if number.is_i64() || number.is_u64() => Outcome::Fits,
            _ => Outcome::WrongType,
        },
        QuestionKind::Decimal => match value {
            Value::Number(_) => Outcome::Fits,
            _ => Outcome::WrongType,
        },
        QuestionKind::SelectOne { list } => match value {
            Value::String(name) if name.trim().is_empty() => Outcome::Unanswered,
            Value::String(name) if is_choice(list, name) => Outcome::Fits,
            Value::String(_) => not_a_choice(list),
            _ => Outcome::WrongType,
        },
        QuestionKind::Acknowledge => match value {
            Value::String(text) if text.trim().is_empty() => Outcome::Unanswered,
            Value::String(text) if text == "OK" => Outcome::Fits,
            _ => Outcome::WrongType,
        },
        QuestionKind::SelectMultiple { list } | QuestionKind::Rank { list } => match value {
            Value::Array(names) if names.is_empty() => Outcome::Unanswered,
            Value::Array(names) => {
                let mut seen = BTreeSet::new();
                for name in names {
                    match name.as_str() {
                        Some(name) if !seen.insert(name) => return Outcome::WrongType,
                        Some(name) if is_choice(list, name) => {}
                        Some(_) => return not_a_choice(list),
                        None => return Outcome::WrongType,
                    }
                }
                Outcome::Fits
            }
            _ => Outcome::WrongType,
        },
        QuestionKind::Date => match value {
            Value::String(text) if text.trim().is_empty() => Outcome::Unanswered,
            Value::String(text) if chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok() => {
                Outcome::Fits
            }
            _ => Outcome::WrongType,
        },
        QuestionKind::Geopoint => match value {
            Value::Object(point) if is_geopoint(point) => Outcome::Fits,
            _ => Outcome::WrongType,
        },
        QuestionKind::Time => match value {
            Value::String(text) if text.trim().is_empty() => Outcome::Unanswered,
            Value::String(text) if is_time(text) => Outcome::Fits,
            _ => Outcome::WrongType,
        },
        QuestionKind::DateTime => match value {
            Value::String(text) if text.trim().is_empty() => Outcome::Unanswered,
            Value::String(text) if chrono::DateTime::parse_from_rfc3339(text).is_ok() => {
                Outcome::Fits
            }
            _ => Outcome::WrongType,
        },
        QuestionKind::Range { start, end, step } => match value.as_f64() {
            Some(number) if in_range(number, *start, *end, *step) => Outcome::Fits,
            _ => Outcome::WrongType,
        },
        QuestionKind::Note
        | QuestionKind::Calculate
        | QuestionKind::Group
        | QuestionKind::Repeat => Outcome::WrongType,
    }
}

/// `HH:MM` or `HH:MM:SS`, a real time of day (00:00 to 23:59:59).
fn is_time(text: &str) -> bool {
    chrono::NaiveTime::parse_from_str(text, "%H:%M").is_ok()
        || (text.len() == 8 && chrono::NaiveTime::parse_from_str(text, "%H:%M:%S").is_ok())
}

/// Whether `number` lies between `start` and `end` (either order) and on
/// a step of `step` from `start` (within a millionth of a step, so that
/// 0.1 steps work in binary).
fn in_range(number: f64, start: f64, end: f64, step: f64) -> bool {
    let (low, high) = if start <= end {
        (start, end)
    } else {
        (end, start)
    };
    if !(number >= low && number <= high) || step <= 0.0 {
        return false;
    }
    let steps = (number - start).abs() / step;
    (steps - steps.round()).abs() < 1e-6
}

/// `{"lat": …, "lon": …}` in range, with optional `altitude` and
/// `accuracy`, and nothing else.
fn is_geopoint(point: &serde_json::Map<String, Value>) -> bool {
    let number = |key: &str| point.get(key).and_then(Value::as_f64);
    let in_range = |key: &str, limit: f64| number(key).is_some_and(|value| value.abs() <= limit);
    in_range("lat", 90.0)
        && in_range("lon", 180.0)
        && point.iter().all(|(key, value)| {
            matches!(key.as_str(), "lat" | "lon")
                || (matches!(key.as_str(), "altitude" | "accuracy") && value.is_number())
        })
}

/// What one answer is, against its question.
pub(super) enum Outcome<'form> {
    Fits,
    /// Absent, `null`, or a blank string for a text or select_one.
    Unanswered,
    WrongType,
    NotAChoice {
        list: &'form str,
        choices: &'form [Choice],
    },
    /// Text longer than [`MAX_TEXT_ANSWER_CHARS`].
    TooLong,
}

/// The built-in messages, in Chinese or English.
#[derive(Clone, Copy)]
pub(super) struct Messages {
    chinese: bool,
}

impl Messages {
    pub(super) fn new(language: Option<&str>) -> Messages {
        let chinese = language.is_some_and(|language| {
            let primary = language.split(['-', '_']).next().unwrap_or_default();
            primary.eq_ignore_ascii_case("zh")
        });
        Messages { chinese }
    }

    pub(super) fn too_long(self) -> String {
        if self.chinese {
            format!("过长：最多 {MAX_TEXT_ANSWER_CHARS} 个字")
        } else {
            format!("too long: at most {MAX_TEXT_ANSWER_CHARS} characters")
        }
    }

    /// The answers together are larger than a visit may be.
    pub(super) fn visit_too_large(self) -> String {
        let kib = MAX_VISIT_BYTES / 1024;
        if self.chinese {
            format!("本次走访的答案过大：最多 {kib} KiB")
        } else {
            format!("the answers are too large: at most {kib} KiB for one visit")
        }
    }

    pub(super) fn constraint(self) -> String {
        if self.chinese {
            "答案不符合本题的要求".to_owned()
        } else {
            "the answer does not meet the question's rule".to_owned()
        }
    }

    pub(super) fn takes_no_answer(self, kind: &QuestionKind) -> String {
        match (kind, self.chinese) {
            (QuestionKind::Calculate, true) => "此项由表单计算，不应填写".to_owned(),
            (QuestionKind::Calculate, false) => {
                "is calculated by the form and takes no answer".to_owned()
            }
            (_, true) => "此项为说明，不应填写".to_owned(),
            (_, false) => "is a note and takes no answer".to_owned(),
        }
    }

    pub(super) fn required(self) -> String {
        if self.chinese {
            "此题必答".to_owned()
        } else {
            "an answer is required".to_owned()
        }
    }

    pub(super) fn wrong_type(self, kind: &QuestionKind) -> String {
        let text = match (kind, self.chinese) {
            (QuestionKind::Text, true) => "应为文本",
            (QuestionKind::Text, false) => "expected text (a JSON string)",
            (QuestionKind::Integer, true) => "应为整数（如 3，不能是文本或小数）",
            (QuestionKind::Integer, false) => {
                "expected a whole number (a JSON integer such as 3, not text or a fraction)"
            }
            (QuestionKind::Decimal, true) => "应为数字",
            (QuestionKind::Decimal, false) => "expected a number (a JSON number)",
            (QuestionKind::SelectOne { .. }, true) => "应为一个选项的名称（文本）",
            (QuestionKind::SelectOne { .. }, false) => {
                "expected the name of one choice (a JSON string)"
            }
            (QuestionKind::Acknowledge, true) => "应为确认（\"OK\"）",
            (QuestionKind::Acknowledge, false) => "expected the text \"OK\" (acknowledged)",
            (QuestionKind::SelectMultiple { .. } | QuestionKind::Rank { .. }, true) => {
                "应为若干不重复选项名称的列表"
            }
            (QuestionKind::SelectMultiple { .. } | QuestionKind::Rank { .. }, false) => {
                "expected a list of distinct choice names (a JSON array of strings)"
            }
            (QuestionKind::Date, true) => "应为日期（如 2024-02-10）",
            (QuestionKind::Date, false) => "expected a date as YYYY-MM-DD",
            (QuestionKind::Geopoint, true) => "应为位置（lat、lon，可含 altitude、accuracy）",
            (QuestionKind::Geopoint, false) => {
                "expected a point {\"lat\": …, \"lon\": …} (optionally altitude, accuracy)"
            }
            (QuestionKind::Photo, true) => "应为照片的引用（文本）",
            (QuestionKind::Photo, false) => "expected a reference to a photo (a JSON string)",
            (QuestionKind::Audio | QuestionKind::Video | QuestionKind::File, true) => {
                "应为文件的引用（文本）"
            }
            (QuestionKind::Audio | QuestionKind::Video | QuestionKind::File, false) => {
                "expected a reference to a file (a JSON string)"
            }
            (QuestionKind::Barcode, true) => "应为条码内容（文本）",
            (QuestionKind::Barcode, false) => "expected a barcode's text (a JSON string)",
            (QuestionKind::Time, true) => "应为时间（如 09:30 或 09:30:15）",
            (QuestionKind::Time, false) => "expected a time as HH:MM or HH:MM:SS",
            (QuestionKind::DateTime, true) => "应为日期和时间（如 2024-02-10T09:30:00+08:00）",
            (QuestionKind::DateTime, false) => {
                "expected a date and time as RFC 3339 (2024-02-10T09:30:00+08:00)"
            }
            (QuestionKind::Range { .. }, true) => "应为范围内、符合步长的数字",
            (QuestionKind::Range { .. }, false) => {
                "expected a number within the range and on its step"
            }
            (QuestionKind::Metadata(_), true) => "应为设备记录的值（文本）",
            (QuestionKind::Metadata(_), false) => {
                "expected a value recorded by the device (a JSON string)"
            }
            (QuestionKind::Repeat, true) => "应为列表，每项为一个对象",
            (QuestionKind::Repeat, false) => "expected a list of items (a JSON array of objects)",
            (QuestionKind::Note | QuestionKind::Calculate | QuestionKind::Group, true) => {
                "此项不应填写"
            }
            (QuestionKind::Note | QuestionKind::Calculate | QuestionKind::Group, false) => {
                "takes no answer"
            }
        };
        text.to_owned()
    }

    pub(super) fn not_a_choice(self, list: &str, choices: &[Choice]) -> String {
        let mut names: Vec<&str> = choices
            .iter()
            .take(LISTED_CHOICES)
            .map(|choice| choice.name.as_str())
            .collect();
        if choices.len() > LISTED_CHOICES {
            names.push("…");
        }
        if self.chinese {
            format!("不是选项列表 `{list}` 中的选项；应为：{}", names.join("、"))
        } else {
            format!(
                "not a choice of list `{list}`; expected one of: {}",
                names.join(", ")
            )
        }
    }

    pub(super) fn unknown_question(self, form: &Form) -> String {
        let (id, version) = (&form.form_id, &form.version);
        if self.chinese {
            format!("表单 {id}（版本 {version}）中没有这道题")
        } else {
            format!("no such question in form {id} version {version}")
        }
    }
}

#[cfg(test)]
mod tests {
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
        let text = include_str!("../household-check.json");
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
}
