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
mod tests;
