//! Checks that span rows or sheets, placed on the row to fix: choice lists
//! named in `survey` but missing from `choices`, `${name}` references to no
//! question, and any [`FormError`] that [`Form::check`] still finds.

use std::collections::BTreeSet;

use super::choices::Lists;
use super::problem::{CHOICES, Problem, SETTINGS, SURVEY};
use super::survey::Survey;
use super::vocabulary::Source;
use crate::{Form, FormError};

/// Every select whose list is not in sheet `choices` (or
/// `external_choices`, or its file). A list read from a file that could
/// not be read was reported already.
pub(super) fn lists(survey: &Survey, lists: &Lists, problems: &mut Vec<Problem>) {
    for ((question, index), options) in survey.with_rows().zip(&survey.options) {
        if let Some(list) = question.kind.list()
            && !lists.contains_key(list)
        {
            let message = match options.source {
                Source::Choices => format!("choice list `{list}` is not in sheet `choices`"),
                Source::External => {
                    format!("choice list `{list}` is not in sheet `external_choices`")
                }
                Source::File => continue,
            };
            problems.push(Problem::at(SURVEY, index, "type", message));
        }
    }
}

/// Every choice name with a space in a list that a select_multiple or
/// rank uses: their answers are space-separated names in expressions.
pub(super) fn spaced_choices(survey: &Survey, lists: &Lists, problems: &mut Vec<Problem>) {
    let mut reported = BTreeSet::new();
    for (question, _) in survey.with_rows() {
        let Some(list) = question
            .kind
            .list()
            .filter(|_| question.kind.lists_several())
        else {
            continue;
        };
        if !reported.insert(list) {
            continue;
        }
        for placed in lists.get(list).into_iter().flatten() {
            if placed.choice.name.chars().any(char::is_whitespace) {
                problems.push(Problem::at(
                    &placed.sheet,
                    placed.row,
                    "name",
                    format!(
                        "a choice of list `{list}`, which a `{}` uses, must not contain spaces",
                        question.kind.as_str()
                    ),
                ));
            }
        }
    }
}

/// Every `${name}` in an expression that names no row of the survey (a row
/// with a problem in its name still counts, so one typo is one problem).
pub(super) fn references(survey: &Survey, problems: &mut Vec<Problem>) {
    let names: BTreeSet<&str> = survey
        .with_rows()
        .map(|(question, _)| question.name.as_str())
        .collect();
    for (question, index) in survey.with_rows() {
        for (column, expression) in question.expressions() {
            for name in expression.references() {
                if survey.renamed.contains_key(name) {
                    // pyxform's reason.
                    problems.push(Problem::at(
                        SURVEY,
                        index,
                        column,
                        format!(
                            "there has been a problem trying to replace ${{{name}}} with the \
                             XPath to the survey element named `{name}`: there are multiple \
                             survey elements with this name"
                        ),
                    ));
                } else if !names.contains(name) {
                    let error = FormError::UnknownReference {
                        question: question.name.clone(),
                        column,
                        name: name.to_owned(),
                    };
                    problems.push(Problem::at(SURVEY, index, column, error.to_string()));
                }
            }
        }
    }
}

/// Where the rows of a form read from a spreadsheet are.
pub(super) struct Places<'a> {
    /// The index of the settings' row of values, if there is one.
    pub(super) settings_row: Option<usize>,
    /// The row index of each question in `Form::all_questions` order.
    pub(super) question_rows: &'a [usize],
    pub(super) lists: &'a Lists,
}

/// `error`, found by `form.check()`, as a problem on the row and column
/// that cause it, as far as they can be told.
pub(super) fn place(error: &FormError, form: &Form, places: &Places<'_>) -> Problem {
    let message = error.to_string();
    let question = |name: &str, column: &str| {
        // The last row of that name: for a duplicate, the second one.
        let row = form
            .all_questions()
            .zip(places.question_rows)
            .filter(|(question, _)| question.name == name)
            .map(|(_, row)| *row)
            .last();
        match row {
            Some(row) => Problem::at(SURVEY, row, column, message.clone()),
            None => Problem::sheet(SURVEY, &message),
        }
    };
    let choice = |list: &str, found: &dyn Fn(usize, &str) -> bool, column: &str| {
        let placed = places.lists.get(list).and_then(|choices| {
            choices
                .iter()
                .enumerate()
                .filter(|(position, placed)| found(*position, &placed.choice.name))
                .map(|(_, placed)| placed)
                .last()
        });
        match placed {
            Some(placed) => Problem::at(&placed.sheet, placed.row, column, message.clone()),
            None => Problem::sheet(CHOICES, &message),
        }
    };
    match error {
        FormError::EmptyField { field } => {
            let column = if *field == "title" {
                "form_title"
            } else {
                field
            };
            match places.settings_row {
                Some(row) => Problem::at(SETTINGS, row, column, message.clone()),
                None => Problem::sheet(SETTINGS, &message),
            }
        }
        FormError::EmptyQuestionName { index } => match places.question_rows.get(*index) {
            Some(row) => Problem::at(SURVEY, *row, "name", message.clone()),
            None => Problem::sheet(SURVEY, &message),
        },
        FormError::InvalidQuestionName { name, .. } | FormError::DuplicateQuestion { name } => {
            question(name, "name")
        }
        FormError::MissingLabel { question: name } => question(name, "label"),
        FormError::EmptyContainer { question: name }
        | FormError::MissingList { question: name, .. } => question(name, "type"),
        FormError::MissingCalculation { question: name } => question(name, "calculation"),
        FormError::InvalidRange { question: name, .. } => question(name, "parameters"),
        FormError::Misplaced {
            question: name,
            what,
            ..
        } => {
            let column = match *what {
                "a calculation" => "calculation",
                "a constraint" => "constraint",
                "`required`" => "required",
                "a choice_filter" => "choice_filter",
                "a repeat_count" => "repeat_count",
                _ => "type",
            };
            question(name, column)
        }
        FormError::UnknownReference {
            question: name,
            column,
            ..
        } => question(name, column),
        FormError::InvalidListName { list, .. } | FormError::EmptyList { list } => {
            choice(list, &|position, _| position == 0, "list_name")
        }
        FormError::EmptyChoiceName { list, index } => {
            choice(list, &|position, _| position == *index, "name")
        }
        FormError::InvalidChoiceName { list, name, .. }
        | FormError::DuplicateChoice { list, name } => {
            choice(list, &|_, found| found == name, "name")
        }
        FormError::MissingChoiceLabel { list, name } => {
            choice(list, &|_, found| found == name, "label")
        }
        // The definition's own errors (format, JSON shape) cannot come
        // from a spreadsheet.
        _ => Problem::sheet("", &message),
    }
}
