//! The JSON definition of a form version, and the checks a form must pass
//! before anyone can answer it.

use std::collections::BTreeSet;

use serde_json::Value;

use serde::{Deserialize, Serialize};

use super::{Choice, Expr, Form, Question, QuestionKind, Requirement};

/// The definition format this build writes and reads. A definition of any
/// other format is refused: a phone must never half-understand a form.
///
/// Format 3 added kinds (`time`, `datetime`, `range`, `barcode`, `audio`,
/// `video`, `file`, `metadata`), question fields (`choice_filter`,
/// `repeat_count`, `read_only`, `parameters`), choices' `extra` columns and
/// the form's `data` and `settings`. A form that uses none of them is still
/// written as format 2, so phones of the previous build keep reading it; one
/// that does is written as format 3, which those phones refuse by its
/// number rather than half-understand.
pub const FORMAT: u64 = 3;

/// The format of a form that uses nothing added since it.
const PREVIOUS_FORMAT: u64 = 2;

/// Older formats this build still reads. Format 1 (flat questions of four
/// kinds) is a subset of format 2, which is a subset of format 3.
const READABLE_FORMATS: [u64; 3] = [1, 2, 3];

/// Why a form definition cannot be used. The texts name questions, lists and
/// choices, never answers.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error("a form definition must be a JSON object")]
    NotAnObject,
    #[error("the form definition has no `format` number")]
    MissingFormat,
    #[error(
        "form definition format {found} is not supported; this build reads formats 1 to {FORMAT}"
    )]
    UnsupportedFormat { found: String },
    #[error("the form definition does not match format {FORMAT} at {at}: {source}")]
    Malformed {
        /// Where: `the top level`, `question 2 (members_present)`…
        at: String,
        source: serde_json::Error,
    },
    #[error("the form's {field} is empty")]
    EmptyField { field: &'static str },
    #[error("question {index} has no name")]
    EmptyQuestionName { index: usize },
    #[error("question name `{name}` {reason}")]
    InvalidQuestionName { name: String, reason: &'static str },
    #[error("two questions are named `{name}`")]
    DuplicateQuestion { name: String },
    #[error("question `{question}` has no label")]
    MissingLabel { question: String },
    #[error("`{question}` is a group or repeat without questions")]
    EmptyContainer { question: String },
    #[error("`{question}` is a calculate question without a calculation")]
    MissingCalculation { question: String },
    #[error("`{question}` ({kind}) cannot have {what}")]
    Misplaced {
        question: String,
        kind: &'static str,
        what: &'static str,
    },
    #[error(
        "the {column} of `{question}` refers to `${{{name}}}`, which is not a question of the form"
    )]
    UnknownReference {
        question: String,
        column: &'static str,
        name: String,
    },
    #[error("question `{question}` uses choice list `{list}`, which the form does not have")]
    MissingList { question: String, list: String },
    #[error("choice list name `{list}` {reason}")]
    InvalidListName { list: String, reason: &'static str },
    #[error("choice list `{list}` has no choices")]
    EmptyList { list: String },
    #[error("choice {index} of list `{list}` has no name")]
    EmptyChoiceName { list: String, index: usize },
    #[error("choice name `{name}` in list `{list}` {reason}")]
    InvalidChoiceName {
        list: String,
        name: String,
        reason: &'static str,
    },
    #[error("list `{list}` has two choices named `{name}`")]
    DuplicateChoice { list: String, name: String },
    #[error("choice `{name}` of list `{list}` has no label")]
    MissingChoiceLabel { list: String, name: String },
    #[error("the range `{question}` {reason}")]
    InvalidRange {
        question: String,
        reason: &'static str,
    },
}

impl Form {
    /// The JSON document stored by the server and sent to devices: the form
    /// serialised, plus its `"format"`: 2 when it uses nothing format 3
    /// added (so older phones read it), else [`FORMAT`].
    pub fn to_definition(&self) -> Value {
        let mut value = match serde_json::to_value(self) {
            Ok(value) => value,
            // A Form holds only strings, bools, vecs and string-keyed maps,
            // all of which serde_json can always represent.
            Err(error) => unreachable!("a Form always serialises: {error}"),
        };
        if let Value::Object(object) = &mut value {
            object.insert("format".to_owned(), Value::from(self.format()));
        }
        value
    }

    /// The oldest definition format that can hold this form.
    pub fn format(&self) -> u64 {
        let newer_question = |question: &Question| {
            !question.kind.in_format_2()
                || question.choice_filter.is_some()
                || question.repeat_count.is_some()
                || question.read_only
                || !question.parameters.is_empty()
        };
        let newer = !self.data.is_empty()
            || !self.settings.is_empty()
            || self.all_questions().any(newer_question)
            || self
                .choices
                .values()
                .flatten()
                .any(|choice| !choice.extra.is_empty());
        if newer { FORMAT } else { PREVIOUS_FORMAT }
    }

    /// Parses and checks a definition: its `format` must be [`FORMAT`], it
    /// must have no field this build does not know, and the form must pass
    /// [`Form::check`].
    pub fn from_definition(value: &Value) -> Result<Form, FormError> {
        let Value::Object(object) = value else {
            return Err(FormError::NotAnObject);
        };
        match object.get("format") {
            None => return Err(FormError::MissingFormat),
            Some(format)
                if format
                    .as_u64()
                    .is_some_and(|found| READABLE_FORMATS.contains(&found)) => {}
            Some(format) => {
                return Err(FormError::UnsupportedFormat {
                    found: format.to_string(),
                });
            }
        }
        let mut object = object.clone();
        object.remove("format");
        let object = Value::Object(object);
        let form: Form =
            serde_json::from_value(object.clone()).map_err(|source| FormError::Malformed {
                at: malformed_part(&object),
                source,
            })?;
        form.check()?;
        Ok(form)
    }

    /// Checks that the form can be answered: ids and names present and
    /// well-formed, question names unique in the whole form, answerable
    /// questions labelled, every select's list present with unique, labelled
    /// choices, groups and repeats holding questions, calculations only on
    /// `calculate`, and every `${name}` in an expression naming a question.
    /// Returns the first problem found.
    pub fn check(&self) -> Result<(), FormError> {
        for (field, value) in [
            ("form_id", &self.form_id),
            ("version", &self.version),
            ("title", &self.title),
        ] {
            if value.trim().is_empty() {
                return Err(FormError::EmptyField { field });
            }
        }
        let mut names = BTreeSet::new();
        for (index, question) in self.all_questions().enumerate() {
            self.check_question(index, question, &mut names)?;
        }
        for question in self.all_questions() {
            for (column, expression) in expressions(question) {
                if let Some(name) = expression
                    .references()
                    .into_iter()
                    .find(|name| !names.contains(*name))
                {
                    return Err(FormError::UnknownReference {
                        question: question.name.clone(),
                        column,
                        name: name.to_owned(),
                    });
                }
            }
        }
        self.check_choices()
    }

    fn check_question<'form>(
        &self,
        index: usize,
        question: &'form Question,
        names: &mut BTreeSet<&'form str>,
    ) -> Result<(), FormError> {
        let name = &question.name;
        if name.is_empty() {
            return Err(FormError::EmptyQuestionName { index });
        }
        if let Some(reason) = question_name_problem(name) {
            return Err(FormError::InvalidQuestionName {
                name: name.clone(),
                reason,
            });
        }
        if !names.insert(name.as_str()) {
            return Err(FormError::DuplicateQuestion { name: name.clone() });
        }
        let kind = &question.kind;
        let misplaced = |what: &'static str| FormError::Misplaced {
            question: name.clone(),
            kind: kind.as_str(),
            what,
        };
        if (kind.takes_answer() || *kind == QuestionKind::Note) && question.label.is_empty() {
            return Err(FormError::MissingLabel {
                question: name.clone(),
            });
        }
        if kind.is_container() && question.children.is_empty() {
            return Err(FormError::EmptyContainer {
                question: name.clone(),
            });
        }
        if !kind.is_container() && !question.children.is_empty() {
            return Err(misplaced("children"));
        }
        match (kind, &question.calculation) {
            (QuestionKind::Calculate, None) => {
                return Err(FormError::MissingCalculation {
                    question: name.clone(),
                });
            }
            (QuestionKind::Calculate, Some(_)) | (_, None) => {}
            (_, Some(_)) => return Err(misplaced("a calculation")),
        }
        if !kind.takes_answer() {
            // A calculation's constraint checks the computed value.
            if question.constraint.is_some() && *kind != QuestionKind::Calculate {
                return Err(misplaced("a constraint"));
            }
            if !question.required.is_never() {
                return Err(misplaced("`required`"));
            }
        }
        if let Some(list) = kind.list()
            && !self.choices.contains_key(list)
        {
            return Err(FormError::MissingList {
                question: name.clone(),
                list: list.to_owned(),
            });
        }
        if question.choice_filter.is_some() && kind.list().is_none() {
            return Err(misplaced("a choice_filter"));
        }
        if question.repeat_count.is_some() && *kind != QuestionKind::Repeat {
            return Err(misplaced("a repeat_count"));
        }
        if let QuestionKind::Range { start, end, step } = kind {
            let reason = if !(start.is_finite() && end.is_finite() && step.is_finite()) {
                Some("needs finite `start`, `end` and `step`")
            } else if *step <= 0.0 {
                Some("needs a `step` above 0")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(FormError::InvalidRange {
                    question: name.clone(),
                    reason,
                });
            }
        }
        Ok(())
    }

    fn check_choices(&self) -> Result<(), FormError> {
        // Lists whose answers hold several names, space-separated in
        // expressions: their names cannot hold spaces.
        let several: BTreeSet<&str> = self
            .all_questions()
            .filter(|question| question.kind.lists_several())
            .filter_map(|question| question.kind.list())
            .collect();
        for (list, choices) in &self.choices {
            if let Some(reason) = choice_name_problem(list) {
                return Err(FormError::InvalidListName {
                    list: list.clone(),
                    reason,
                });
            }
            if choices.is_empty() {
                return Err(FormError::EmptyList { list: list.clone() });
            }
            let mut seen: Vec<&Choice> = Vec::new();
            for (index, choice) in choices.iter().enumerate() {
                let name = &choice.name;
                if name.trim().is_empty() {
                    return Err(FormError::EmptyChoiceName {
                        list: list.clone(),
                        index,
                    });
                }
                if several.contains(list.as_str())
                    && let Some(reason) = choice_name_problem(name)
                {
                    return Err(FormError::InvalidChoiceName {
                        list: list.clone(),
                        name: name.clone(),
                        reason,
                    });
                }
                // The same name twice is one choice told apart by nothing;
                // cascading lists repeat names told apart by their columns.
                if seen
                    .iter()
                    .any(|other| other.name == *name && other.extra == choice.extra)
                {
                    return Err(FormError::DuplicateChoice {
                        list: list.clone(),
                        name: name.clone(),
                    });
                }
                seen.push(choice);
                if choice.label.is_empty() {
                    return Err(FormError::MissingChoiceLabel {
                        list: list.clone(),
                        name: name.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The expressions of a question, with the column they come from.
fn expressions(question: &Question) -> Vec<(&'static str, &Expr)> {
    let mut found = Vec::new();
    if let Some(expression) = &question.relevant {
        found.push(("relevant", expression));
    }
    if let Some(expression) = &question.constraint {
        found.push(("constraint", expression));
    }
    if let Some(expression) = &question.calculation {
        found.push(("calculation", expression));
    }
    if let Requirement::When(expression) = &question.required {
        found.push(("required", expression));
    }
    if let Some(expression) = &question.choice_filter {
        found.push(("choice_filter", expression));
    }
    if let Some(expression) = &question.repeat_count {
        found.push(("repeat_count", expression));
    }
    found
}

/// Reads a `choice_filter`: an expression in which bare names (`state`)
/// are the choice's columns.
pub(crate) fn filter_expression<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Expr>, D::Error> {
    let source = String::deserialize(deserializer)?;
    Expr::parse_filter(&source)
        .map(Some)
        .map_err(|error| serde::de::Error::custom(format!("expression `{source}`: {error}")))
}

impl Serialize for Expr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.source())
    }
}

impl<'de> Deserialize<'de> for Expr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Expr, D::Error> {
        let source = String::deserialize(deserializer)?;
        Expr::parse(&source)
            .map_err(|error| serde::de::Error::custom(format!("expression `{source}`: {error}")))
    }
}

/// Where in a definition that failed to parse the failure is: the first
/// question or choice that does not parse on its own, else the top level.
fn malformed_part(definition: &Value) -> String {
    let name = |item: &Value| match item.get("name").and_then(Value::as_str) {
        Some(name) => format!(" ({name})"),
        None => String::new(),
    };
    if let Some(questions) = definition.get("questions").and_then(Value::as_array) {
        for (index, question) in questions.iter().enumerate() {
            if serde_json::from_value::<Question>(question.clone()).is_err() {
                return format!("question {}{}", index + 1, name(question));
            }
        }
    }
    if let Some(lists) = definition.get("choices").and_then(Value::as_object) {
        for (list, choices) in lists {
            for (index, choice) in choices.as_array().into_iter().flatten().enumerate() {
                if serde_json::from_value::<Choice>(choice.clone()).is_err() {
                    return format!("choice {} of list {list}{}", index + 1, name(choice));
                }
            }
        }
    }
    "the top level".to_owned()
}

/// Why `name` cannot name a question, if it cannot. Question names follow
/// XLSForm (they become `${name}` in expressions later): a letter or `_`,
/// then letters, digits, `_`, `-` or `.`.
pub(crate) fn question_name_problem(name: &str) -> Option<&'static str> {
    let mut chars = name.chars();
    match chars.next() {
        None => Some("is empty"),
        Some(first) if !(first.is_alphabetic() || first == '_') => {
            Some("must start with a letter or `_`")
        }
        _ if !chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.')) => {
            Some("may hold only letters, digits, `_`, `-` and `.`")
        }
        _ => None,
    }
}

/// Why `name` cannot name a choice list, or a choice of a list that a
/// select_multiple or rank uses, if it cannot: it must not be empty nor hold
/// spaces (such answers are space-separated choice names in expressions).
/// A select_one's choices may hold spaces, as pyxform allows.
pub(crate) fn choice_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.chars().any(char::is_whitespace) {
        Some("must not contain spaces")
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
