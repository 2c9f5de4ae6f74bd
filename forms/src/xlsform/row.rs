//! One question row of the `survey` sheet → a [`Question`]: its texts,
//! expressions, `required`, `read_only`, `parameters`, and pyxform's
//! tolerances (a note's `required` dropped, a hint standing in for a
//! missing label).

use std::collections::BTreeMap;

use super::problem::{Problem, SURVEY};
use super::sheet::Sheet;
use super::vocabulary::{self, Formula, Meaning, Options, Source, Text};
use crate::{Expr, Labels, Question, QuestionKind, Requirement};

/// A row being read.
pub(super) struct Row<'a, 'rows> {
    pub(super) sheet: &'a Sheet<'rows>,
    pub(super) index: usize,
    pub(super) cells: &'rows [String],
    /// Its name, as it will be stored (renamed when used before).
    pub(super) name: &'a str,
}

/// Reads the columns of one question row; `None` when its kind is unknown.
pub(super) fn read(
    row: &Row<'_, '_>,
    kind: Option<&QuestionKind>,
    options: Options,
    problems: &mut Vec<Problem>,
) -> Option<Question> {
    let (sheet, cells) = (row.sheet, row.cells);
    let mut problem = |column: &str, message: String| {
        problems.push(Problem::at(SURVEY, row.index, column, message));
    };
    let mut label = sheet.texts(cells, Text::Label);
    let mut hint = sheet.texts(cells, Text::Hint);
    // A row of unknown type is held to the rules of a question.
    let needs_label = kind.is_none_or(|kind| kind.takes_answer() || *kind == QuestionKind::Note);
    let media = sheet.values_by(cells, |meaning| {
        (*meaning == Meaning::Media).then(String::new)
    });
    if needs_label && label.is_empty() {
        if let Some((_, image)) = media.first().filter(|_| hint.is_empty()) {
            // A note that shows only an image (not shown yet): its file.
            label = Labels::plain(*image);
        } else if hint.is_empty() {
            // pyxform's reason.
            problem(
                "label",
                "the survey element has no label or hint".to_owned(),
            );
        } else {
            // pyxform accepts a hint alone; it is what the cadre reads.
            label = std::mem::take(&mut hint);
        }
    }
    let mut parse = |column: &str, text: &str, what: &str, filter: bool| {
        let parsed = if filter {
            Expr::parse_filter(text)
        } else {
            Expr::parse(text)
        };
        match parsed {
            Ok(expression) => Some(expression),
            Err(error) => {
                problem(column, format!("`{text}` is not {what}: {error}"));
                None
            }
        }
    };
    let required_text = sheet.cell(cells, &Meaning::Required);
    let mut required = match vocabulary::required(required_text) {
        Some(always) => Requirement::Always(always),
        None => parse(
            "required",
            required_text,
            "yes, no or a valid expression",
            false,
        )
        .map_or(Requirement::Always(false), Requirement::When),
    };
    let mut formula = |meaning: Meaning, column: &str, filter: bool| {
        let text = sheet.cell(cells, &meaning);
        (!text.is_empty())
            .then(|| parse(column, text, "a valid expression", filter))
            .flatten()
    };
    let relevant = formula(Meaning::Expression(Formula::Relevant), "relevant", false);
    let mut constraint = formula(
        Meaning::Expression(Formula::Constraint),
        "constraint",
        false,
    );
    let calculation = formula(
        Meaning::Expression(Formula::Calculation),
        "calculation",
        false,
    );
    let choice_filter = formula(Meaning::ChoiceFilter, "choice_filter", true);
    let repeat_count = formula(Meaning::RepeatCount, "repeat_count", false);
    let read_only_text = sheet.cell(cells, &Meaning::ReadOnly);
    let read_only = match vocabulary::required(read_only_text) {
        Some(read_only) => read_only,
        None => {
            problem(
                "read_only",
                "an expression in `read_only` is not supported yet; write yes or no".to_owned(),
            );
            false
        }
    };
    let parameters = parameters(sheet.cell(cells, &Meaning::Parameters));
    let mut kind = kind?.clone();
    // As the author wrote it: `begin_group`, `image`.
    let what = sheet.cell(cells, &Meaning::Type);
    let has_calculation = !sheet
        .cell(cells, &Meaning::Expression(Formula::Calculation))
        .is_empty();
    match (&kind, has_calculation) {
        (QuestionKind::Calculate, false) => problem(
            "calculation",
            "a `calculate` row needs a calculation".into(),
        ),
        (QuestionKind::Calculate, true) | (_, false) => {}
        (QuestionKind::Group | QuestionKind::Repeat, true) => problem(
            "calculation",
            format!("a `{what}` row takes no calculation"),
        ),
        (_, true) => {
            // pyxform computes a question that has a calculation, and ODK
            // Collect recomputes it over whatever is typed: it is a
            // calculation, shown with its label.
            kind = QuestionKind::Calculate;
        }
    }
    if !kind.takes_answer() {
        // pyxform accepts `required` and `constraint` on a note or a group,
        // and `required` on a calculation, where they mean nothing; a
        // calculation's constraint checks the computed value.
        required = Requirement::Always(false);
        if kind != QuestionKind::Calculate {
            constraint = None;
        }
    }
    // pyxform ignores a choice_filter on a row that is no select.
    let choice_filter = choice_filter.filter(|_| kind.list().is_some());
    let repeat_count = repeat_count.filter(|_| kind == QuestionKind::Repeat);
    if let QuestionKind::Range { start, end, step } = &mut kind {
        for (key, slot) in [("start", start), ("end", end), ("step", step)] {
            if let Some(text) = parameters.get(key) {
                match text.parse::<f64>() {
                    Ok(number) if number.is_finite() => *slot = number,
                    _ => problem(
                        "parameters",
                        format!("range parameter `{key}` must be a number"),
                    ),
                }
            }
        }
    }
    if options.source == Source::External {
        let list = vocabulary::external_list(kind.list().unwrap_or_default());
        kind = QuestionKind::SelectOne { list };
    }
    if options.source == Source::File {
        let file = kind.list().unwrap_or_default().to_owned();
        let list = file_list(&file, &parameters);
        kind = match kind {
            QuestionKind::SelectMultiple { .. } => QuestionKind::SelectMultiple { list },
            _ => QuestionKind::SelectOne { list },
        };
    }
    let optional = |meaning: &Meaning| {
        Some(sheet.cell(cells, meaning))
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    Some(Question {
        label,
        hint,
        required,
        required_message: sheet.texts(cells, Text::RequiredMessage),
        relevant,
        constraint,
        constraint_message: sheet.texts(cells, Text::ConstraintMessage),
        calculation,
        default: optional(&Meaning::Default),
        appearance: optional(&Meaning::Appearance),
        choice_filter,
        repeat_count,
        read_only,
        parameters,
        ..Question::new(row.name, kind)
    })
}

/// The list a `select_one_from_file FILE` reads: the file's name, and
/// the columns when `parameters` name other than `name` and `label`.
pub(super) fn file_list(file: &str, parameters: &BTreeMap<String, String>) -> String {
    let value = parameters.get("value").map_or("name", String::as_str);
    let label = parameters.get("label").map_or("label", String::as_str);
    if value == "name" && label == "label" {
        file.to_owned()
    } else {
        format!("{file}:{value}:{label}")
    }
}

/// The file, name column and label column of a list `file_list` made.
pub(super) fn file_of_list(list: &str) -> (&str, &str, &str) {
    let mut parts = list.splitn(3, ':');
    let file = parts.next().unwrap_or(list);
    // A GeoJSON feature's choice is its `id`, labelled by its `title`.
    let geojson = file.to_ascii_lowercase().ends_with(".geojson");
    let value = parts.next().unwrap_or(if geojson { "id" } else { "name" });
    let label = parts
        .next()
        .unwrap_or(if geojson { "title" } else { "label" });
    (file, value, label)
}

/// XLSForm `parameters`: `key=value` pairs separated by spaces, commas
/// or semicolons (`start=0 end=10 step=1`).
pub(super) fn parameters(text: &str) -> BTreeMap<String, String> {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.trim().to_lowercase(), value.trim().to_owned()))
        .filter(|(key, _)| !key.is_empty())
        .collect()
}

/// What pyxform adds after a select with `or_other`: a text question
/// `NAME_other`, asked when `other` is chosen.
pub(super) fn other_question(select: &Question) -> Question {
    let relevant = Expr::parse(&format!("selected(${{{}}}, 'other')", select.name)).ok();
    Question {
        label: Labels::plain("Specify other."),
        relevant,
        ..Question::new(format!("{}_other", select.name), QuestionKind::Text)
    }
}
