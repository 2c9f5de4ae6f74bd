//! The form engine: what a visit asks, and whether a visit's answers fit.
//!
//! A form version is a JSON document (a *definition*, see
//! [`Form::to_definition`]) that the server stores and sends to devices. The
//! device evaluates a visit against it while the cadre fills it in and
//! before it is finalised, and the server evaluates it again on push with
//! the same code, so both sides agree on what "valid" means and compute the
//! same values.
//!
//! A form is a tree: questions, groups and repeats (household members,
//! members working away), each with XLSForm's `relevant`, `required`,
//! `constraint` and `calculation` written in the expression language of
//! [`expr`]. [`Form::evaluate`] says, for a set of answers, which questions
//! apply, what the calculations give, and every violation with its question
//! path (`age`, `members[2]/age`) and a message in the asked language.
//! `docs/forms.md` describes the formats and the supported XLSForm subset.
//!
//! With the `xlsform` feature, the `xlsform` module reads forms written as
//! XLSForm spreadsheets, the format ODK and KoboToolbox users already write.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod definition;
mod evaluate;
pub mod expr;
mod labels;
pub mod session;
mod validate;
#[cfg(feature = "xlsform")]
pub mod xlsform;

pub use definition::{FORMAT, FormError};
pub use evaluate::{Evaluation, Options, Stage};
pub use expr::Expr;
pub use labels::Labels;
pub use session::{Answer, Changes, FormSession, Node, SessionError};
pub use validate::{Rule, Violation};

/// One version of a form. Published versions never change: a change is a new
/// `version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Form {
    /// Stable id of the form across its versions, e.g. `household_check`.
    pub form_id: String,
    /// The version, conventionally `YYYYMMDDNN`, e.g. `2024122801`.
    pub version: String,
    pub title: String,
    /// The language the form's authors wrote first (XLSForm's
    /// `default_language`), if they said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_language: Option<String>,
    /// The questions, in the order they are asked; groups and repeats hold
    /// theirs in `children`.
    pub questions: Vec<Question>,
    /// Choice lists by list name, for `select_one` and `select_multiple`.
    #[serde(default)]
    pub choices: BTreeMap<String, Vec<Choice>>,
}

/// One question of a form, or a group or repeat of questions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// The key of its answer in a visit's answers; unique in the form.
    pub name: String,
    pub kind: QuestionKind,
    /// What the cadre reads; calculations and groups may have none.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub label: Labels,
    /// Help shown under the label.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub hint: Labels,
    /// Whether a finalised visit must answer it: always, never, or when an
    /// expression holds.
    #[serde(default, skip_serializing_if = "Requirement::is_never")]
    pub required: Requirement,
    /// Shown instead of the built-in message when a required answer is missing.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub required_message: Labels,
    /// When the question applies at all (skip logic). A question that does
    /// not apply is not asked, and its answer is dropped on finalise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relevant: Option<Expr>,
    /// A rule every answer must meet; `.` is the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<Expr>,
    /// Shown when the constraint fails.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub constraint_message: Labels,
    /// For `calculate` questions: the value, computed, never answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calculation: Option<Expr>,
    /// The answer a new visit starts with (XLSForm's `default`), as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// A display hint for the app (XLSForm's `appearance`), passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appearance: Option<String>,
    /// The questions of a group or repeat.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Question>,
}

impl Question {
    /// A question with nothing but a name and a kind; set the rest with
    /// struct update syntax.
    pub fn new(name: impl Into<String>, kind: QuestionKind) -> Question {
        Question {
            name: name.into(),
            kind,
            label: Labels::new(),
            hint: Labels::new(),
            required: Requirement::default(),
            required_message: Labels::new(),
            relevant: None,
            constraint: None,
            constraint_message: Labels::new(),
            calculation: None,
            default: None,
            appearance: None,
            children: Vec::new(),
        }
    }
}

/// Whether a question must be answered. In JSON: `true`, `false`, or an
/// expression as a string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Requirement {
    /// `true`: always; `false`: never.
    Always(bool),
    /// When the expression holds.
    When(Expr),
}

impl Default for Requirement {
    fn default() -> Self {
        Requirement::Always(false)
    }
}

impl Requirement {
    pub fn is_never(&self) -> bool {
        matches!(self, Requirement::Always(false))
    }
}

/// What kind of answer a question takes. In JSON: `{"type": "integer"}`,
/// `{"type": "select_one", "list": "yes_no"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", try_from = "KindFields")]
pub enum QuestionKind {
    /// A JSON string.
    Text,
    /// A JSON integer (`3`, not `"3"`, not `3.5`, not `3.0`).
    Integer,
    /// Any JSON number.
    Decimal,
    /// A JSON string naming one choice of `list`.
    SelectOne { list: String },
    /// A JSON array of distinct choice names of `list`.
    SelectMultiple { list: String },
    /// A date as a JSON string `YYYY-MM-DD`.
    Date,
    /// A GPS point: `{"lat": 27.3, "lon": 103.7}`, optionally with
    /// `altitude` and `accuracy` (metres).
    Geopoint,
    /// Text shown to the cadre; takes no answer.
    Note,
    /// A value computed from `calculation`; takes no answer.
    Calculate,
    /// A reference to a photo (its file name or SHA-256) as a JSON string.
    Photo,
    /// Questions shown together; answers stay flat (no nesting).
    Group,
    /// Questions asked once per item (a member, a migrant worker): the
    /// answer is a JSON array of objects, one per item.
    Repeat,
}

impl QuestionKind {
    /// The XLSForm spelling of the kind, without its list: `select_one`.
    pub fn as_str(&self) -> &'static str {
        match self {
            QuestionKind::Text => "text",
            QuestionKind::Integer => "integer",
            QuestionKind::Decimal => "decimal",
            QuestionKind::SelectOne { .. } => "select_one",
            QuestionKind::SelectMultiple { .. } => "select_multiple",
            QuestionKind::Date => "date",
            QuestionKind::Geopoint => "geopoint",
            QuestionKind::Note => "note",
            QuestionKind::Calculate => "calculate",
            QuestionKind::Photo => "photo",
            QuestionKind::Group => "group",
            QuestionKind::Repeat => "repeat",
        }
    }

    /// The choice list of a select.
    pub fn list(&self) -> Option<&str> {
        match self {
            QuestionKind::SelectOne { list } | QuestionKind::SelectMultiple { list } => Some(list),
            _ => None,
        }
    }

    /// Whether a cadre answers it (not a note, calculation, group or repeat).
    pub fn takes_answer(&self) -> bool {
        !matches!(
            self,
            QuestionKind::Note
                | QuestionKind::Calculate
                | QuestionKind::Group
                | QuestionKind::Repeat
        )
    }

    /// Whether it holds other questions.
    pub fn is_container(&self) -> bool {
        matches!(self, QuestionKind::Group | QuestionKind::Repeat)
    }
}

/// A kind as read from JSON. serde's `deny_unknown_fields` does not reach
/// the unit variants of an internally tagged enum, so a kind is read through
/// this struct: `{"type": "integer", "constraint": "…"}` must be refused,
/// not read as a plain integer.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KindFields {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    list: Option<String>,
}

impl TryFrom<KindFields> for QuestionKind {
    type Error = String;

    fn try_from(fields: KindFields) -> Result<QuestionKind, String> {
        let kind = match fields.kind.as_str() {
            "text" => QuestionKind::Text,
            "integer" => QuestionKind::Integer,
            "decimal" => QuestionKind::Decimal,
            "date" => QuestionKind::Date,
            "geopoint" => QuestionKind::Geopoint,
            "note" => QuestionKind::Note,
            "calculate" => QuestionKind::Calculate,
            "photo" => QuestionKind::Photo,
            "group" => QuestionKind::Group,
            "repeat" => QuestionKind::Repeat,
            "select_one" | "select_multiple" => {
                let Some(list) = fields.list else {
                    return Err(format!("a {} kind needs a `list`", fields.kind));
                };
                return Ok(if fields.kind == "select_one" {
                    QuestionKind::SelectOne { list }
                } else {
                    QuestionKind::SelectMultiple { list }
                });
            }
            other => return Err(format!("unknown question type `{other}`")),
        };
        match fields.list {
            Some(_) => Err(format!("a {} kind takes no `list`", kind.as_str())),
            None => Ok(kind),
        }
    }
}

/// One choice of a choice list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// What is stored in the answers; unique in its list.
    pub name: String,
    pub label: Labels,
}

impl Form {
    /// The question (or group or repeat) called `name`, wherever it is.
    pub fn question(&self, name: &str) -> Option<&Question> {
        self.all_questions().find(|question| question.name == name)
    }

    /// Every question, group and repeat, depth first in form order.
    pub fn all_questions(&self) -> impl Iterator<Item = &Question> {
        let mut stack: Vec<&Question> = self.questions.iter().rev().collect();
        std::iter::from_fn(move || {
            let question = stack.pop()?;
            stack.extend(question.children.iter().rev());
            Some(question)
        })
    }

    /// The choices of the list called `list`, if the form has it.
    pub fn choice_list(&self, list: &str) -> Option<&[Choice]> {
        self.choices.get(list).map(Vec::as_slice)
    }

    /// The choices a question offers: its list for a select, nothing for
    /// other kinds.
    pub fn choices_of(&self, question: &Question) -> Option<&[Choice]> {
        question.kind.list().and_then(|list| self.choice_list(list))
    }

    /// Every language the form's labels are written in.
    pub fn languages(&self) -> std::collections::BTreeSet<&str> {
        let mut languages = std::collections::BTreeSet::new();
        for question in self.all_questions() {
            languages.extend(question.label.languages());
        }
        languages
    }
}
