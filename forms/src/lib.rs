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
mod files;
mod kind;
mod labels;
pub mod session;
mod validate;
#[cfg(feature = "xlsform")]
pub mod xlsform;

pub use definition::{FORMAT, FormError};
pub use evaluate::{Evaluation, Options, Stage};
pub use expr::{Expr, choice_passes};
pub use kind::{Metadata, QuestionKind};
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
    /// Choice lists by list name, for `select_one` and `select_multiple`
    /// (a list read from a CSV or XML file published beside the form is
    /// inlined here under the file's name, `markets.csv`; one of XLSForm's
    /// sheet `external_choices` under `external:LIST`).
    #[serde(default)]
    pub choices: BTreeMap<String, Vec<Choice>>,
    /// Tables published beside the form for `pulldata()`, by file name
    /// without extension (`households` for `households.csv`): rows of
    /// column → value. Inlined so that a phone needs nothing but the
    /// definition. See [`Form::pulldata`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, Vec<BTreeMap<String, String>>>,
    /// XLSForm settings that change nothing on a phone (`style`,
    /// `instance_name`, `public_key`…), kept as written, by column.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, String>,
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
    /// Which choices of a select's list are offered: those for which the
    /// expression holds, a bare name (`state = ${state}`) reading the
    /// choice's column ([`choice_passes`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "definition::filter_expression"
    )]
    pub choice_filter: Option<Expr>,
    /// For a repeat: how many items it has, computed; the cadre neither
    /// adds nor removes items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_count: Option<Expr>,
    /// Shown but not answerable (XLSForm's `read_only: yes`); its
    /// `default` or a `calculation` elsewhere gives the value.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// XLSForm's `parameters` (`start=0 end=10 step=1`, `max-pixels=1024`),
    /// kept as written; those that change the engine's behaviour (a
    /// range's bounds) are also read into the kind.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// The questions of a group or repeat.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Question>,
}

impl Question {
    /// A question with nothing but a name and a kind; set the rest with
    /// struct update syntax.
    /// Every expression the question has, with the XLSForm column it is
    /// written in: `relevant`, `constraint`, `calculation`,
    /// `choice_filter`, `repeat_count`, `required`.
    pub fn expressions(&self) -> Vec<(&'static str, &Expr)> {
        let required = match &self.required {
            Requirement::When(expression) => Some(expression),
            Requirement::Always(_) => None,
        };
        [
            ("relevant", self.relevant.as_ref()),
            ("constraint", self.constraint.as_ref()),
            ("calculation", self.calculation.as_ref()),
            ("choice_filter", self.choice_filter.as_ref()),
            ("repeat_count", self.repeat_count.as_ref()),
            ("required", required),
        ]
        .into_iter()
        .filter_map(|(column, expression)| Some((column, expression?)))
        .collect()
    }

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
            choice_filter: None,
            repeat_count: None,
            read_only: false,
            parameters: BTreeMap::new(),
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

/// One choice of a choice list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// What is stored in the answers; unique in its list.
    pub name: String,
    pub label: Labels,
    /// The choice's other columns (XLSForm's extra `choices` columns, a
    /// CSV's other columns), by column: what a `choice_filter` reads.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

impl Choice {
    /// A choice with a name and a label, and no other columns.
    pub fn new(name: impl Into<String>, label: Labels) -> Choice {
        Choice {
            name: name.into(),
            label,
            extra: BTreeMap::new(),
        }
    }
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

    /// `pulldata(file, column, key_column, key)`: the `column` of the first
    /// row of table `file` (see [`Form::data`]) whose `key_column` is
    /// `key`; `None` when there is no such table, row or column.
    pub fn pulldata(&self, file: &str, column: &str, key_column: &str, key: &str) -> Option<&str> {
        let file = file.strip_suffix(".csv").unwrap_or(file);
        self.data
            .get(file)?
            .iter()
            .find(|row| row.get(key_column).is_some_and(|value| value == key))?
            .get(column)
            .map(String::as_str)
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
