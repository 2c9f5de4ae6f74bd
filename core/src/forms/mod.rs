//! The form engine: what a visit asks, and whether a visit's answers fit.
//!
//! A form version is a JSON document (a *definition*, see
//! [`Form::to_definition`]) that the server stores and sends to devices. The
//! device checks a visit against it before the visit is finalised, and the
//! server checks it again on push with the same code, so both sides agree on
//! what "valid" means.
//!
//! This is the first, thin version: flat questions of four kinds (text,
//! integer, decimal, select_one), `required`, and labels in several
//! languages. The types are shaped for what comes next (groups, repeats,
//! relevance, constraints, calculations, more kinds): a question's kind is an
//! enum, labels are a language → text map, and the definition carries a
//! `format` number that a build refuses when it does not know it, so an old
//! phone never half-understands a newer form. `docs/forms.md` describes the
//! formats and the rules.
//!
//! With the `xlsform` feature, the `xlsform` module reads forms written as
//! XLSForm spreadsheets, the format ODK and KoboToolbox users already write.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod definition;
mod labels;
mod validate;
#[cfg(feature = "xlsform")]
pub mod xlsform;

pub use definition::{FORMAT, FormError};
pub use labels::Labels;
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
    /// The questions, in the order they are asked.
    pub questions: Vec<Question>,
    /// Choice lists by list name, for `select_one` questions.
    #[serde(default)]
    pub choices: BTreeMap<String, Vec<Choice>>,
}

/// One question of a form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// The key of its answer in a visit's answers; unique in the form.
    pub name: String,
    pub kind: QuestionKind,
    pub label: Labels,
    /// Whether a finalised visit must answer it.
    #[serde(default)]
    pub required: bool,
    /// Help shown under the label; may be empty.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub hint: Labels,
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
}

impl QuestionKind {
    /// The XLSForm spelling of the kind, without its list: `select_one`.
    pub fn as_str(&self) -> &'static str {
        match self {
            QuestionKind::Text => "text",
            QuestionKind::Integer => "integer",
            QuestionKind::Decimal => "decimal",
            QuestionKind::SelectOne { .. } => "select_one",
        }
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
            "select_one" => {
                return match fields.list {
                    Some(list) => Ok(QuestionKind::SelectOne { list }),
                    None => Err("a select_one kind needs a `list`".to_owned()),
                };
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
    /// The question called `name`, if the form has one.
    pub fn question(&self, name: &str) -> Option<&Question> {
        self.questions.iter().find(|question| question.name == name)
    }

    /// The choices of the list called `list`, if the form has it.
    pub fn choice_list(&self, list: &str) -> Option<&[Choice]> {
        self.choices.get(list).map(Vec::as_slice)
    }

    /// The choices a question offers: its list for a `select_one`, nothing
    /// for other kinds.
    pub fn choices_of(&self, question: &Question) -> Option<&[Choice]> {
        match &question.kind {
            QuestionKind::SelectOne { list } => self.choice_list(list),
            _ => None,
        }
    }
}
