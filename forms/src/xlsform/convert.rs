//! Puts a workbook's sheets together into a [`Form`]: settings, survey,
//! choices (from sheets and files), `pulldata()` tables, `or_other`
//! choices, then the checks that span sheets and [`Form::check`].

use std::collections::BTreeMap;

use super::checks::{self, Places};
use super::choices::{self, Lists, Placed, Table};
use super::problem::{CHOICES, EXTERNAL_CHOICES, Problem, SURVEY, XlsFormError};
use super::row::file_of_list;
use super::survey::{self, Survey};
use super::vocabulary::Source;
use super::{Workbook, settings};
use crate::{Choice, Form, Labels, Requirement};

/// Converts the workbook's rows into a form, or returns every problem
/// found (with `extra`, problems found while reading the cells).
pub(super) fn convert(workbook: &Workbook<'_>, extra: Vec<Problem>) -> Result<Form, XlsFormError> {
    let mut problems = extra;
    let head = settings::read(workbook.settings, workbook.file_stem, &mut problems);
    let label_default = head.as_ref().and_then(|h| h.default_language.clone());
    let survey = survey::read(workbook.survey, label_default.as_deref(), &mut problems);
    let mut lists = choices::read_sheet(
        CHOICES,
        workbook.choices,
        label_default.as_deref(),
        &mut problems,
    );
    let external = choices::read_sheet(
        EXTERNAL_CHOICES,
        workbook.external_choices,
        label_default.as_deref(),
        &mut problems,
    );
    for (list, choices) in external {
        match lists.entry(list) {
            std::collections::btree_map::Entry::Vacant(entry) => {
                entry.insert(choices);
            }
            std::collections::btree_map::Entry::Occupied(entry) => {
                if let Some(first) = choices.first() {
                    problems.push(Problem::at(
                        EXTERNAL_CHOICES,
                        first.row,
                        "list_name",
                        format!(
                            "list `{}` is also in sheet `choices`; rename one of them",
                            entry.key()
                        ),
                    ));
                }
            }
        }
    }
    file_lists(&survey, workbook, &mut lists, &mut problems);
    other_choices(&survey, &mut lists);
    let data = tables(&survey, workbook, &mut problems);
    checks::lists(&survey, &lists, &mut problems);
    checks::references(&survey, &mut problems);
    let Some(head) = head.filter(|_| problems.is_empty()) else {
        return Err(XlsFormError::sorted(problems));
    };
    let form = Form {
        form_id: head.form_id,
        version: head.version,
        title: head.title,
        default_language: head.default_language,
        questions: survey.questions.clone(),
        choices: lists
            .iter()
            .map(|(list, placed)| {
                let choices = placed.iter().map(|placed| placed.choice.clone()).collect();
                (list.clone(), choices)
            })
            .collect(),
        data,
        settings: head.kept,
    };
    // The rules of `check` that a spreadsheet can break were reported above
    // with their rows; this is a net, placed as precisely as it can be.
    form.check().map_err(|error| {
        let places = Places {
            settings_row: head.row,
            question_rows: &survey.rows,
            lists: &lists,
        };
        XlsFormError::sorted(vec![checks::place(&error, &form, &places)])
    })?;
    Ok(form)
}

/// Reads a file published beside the form, reporting on `row` of the
/// survey when it is missing or unreadable.
fn table(
    workbook: &Workbook<'_>,
    file: &str,
    row: usize,
    column: &str,
    problems: &mut Vec<Problem>,
) -> Option<Table> {
    let Some(bytes) = (workbook.files)(file) else {
        problems.push(Problem::at(
            SURVEY,
            row,
            column,
            format!("`{file}` is not beside the form: publish it with the form"),
        ));
        return None;
    };
    let lowered = file.to_ascii_lowercase();
    let read = if lowered.ends_with(".csv") {
        choices::read_csv(&bytes)
    } else if lowered.ends_with(".xml") {
        choices::read_xml(&bytes)
    } else {
        Err("only .csv and .xml files can be read".to_owned())
    };
    match read {
        Ok(table) => Some(table),
        Err(message) => {
            problems.push(Problem::at(
                SURVEY,
                row,
                column,
                format!("`{file}`: {message}"),
            ));
            None
        }
    }
}

/// The choices of every `select_one_from_file`, read into `lists`.
fn file_lists(
    survey: &Survey,
    workbook: &Workbook<'_>,
    lists: &mut Lists,
    problems: &mut Vec<Problem>,
) {
    for ((question, row), options) in survey.with_rows().zip(&survey.options) {
        let Some(list) = question.kind.list() else {
            continue;
        };
        if options.source != Source::File || lists.contains_key(list) {
            continue;
        }
        let (file, value, label) = file_of_list(list);
        if let Some(table) = table(workbook, file, row, "type", problems) {
            choices::table_choices(&table, file, list, value, label, lists, problems);
        }
    }
}

/// pyxform's `or_other`: the choice `other` added to the select's list.
fn other_choices(survey: &Survey, lists: &mut Lists) {
    for ((question, row), options) in survey.with_rows().zip(&survey.options) {
        let (true, Some(list)) = (options.or_other, question.kind.list()) else {
            continue;
        };
        if let Some(choices) = lists.get_mut(list)
            && !choices.iter().any(|placed| placed.choice.name == "other")
        {
            choices.push(Placed {
                sheet: SURVEY.to_owned(),
                row,
                choice: Choice::new("other", Labels::plain("Other")),
            });
        }
    }
}

/// The tables `pulldata()` and `csv-external` rows read, by file name
/// without `.csv`.
fn tables(
    survey: &Survey,
    workbook: &Workbook<'_>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
    let mut wanted: Vec<(String, usize, &str)> = survey
        .tables
        .iter()
        .map(|(row, file)| (file.clone(), *row, "name"))
        .collect();
    for (question, row) in survey.with_rows() {
        let mut expressions = vec![
            ("relevant", question.relevant.as_ref()),
            ("constraint", question.constraint.as_ref()),
            ("calculation", question.calculation.as_ref()),
            ("choice_filter", question.choice_filter.as_ref()),
            ("repeat_count", question.repeat_count.as_ref()),
        ];
        if let Requirement::When(expression) = &question.required {
            expressions.push(("required", Some(expression)));
        }
        for (column, expression) in expressions {
            for file in expression.map(|e| e.pulldata_files()).unwrap_or_default() {
                wanted.push((format!("{file}.csv"), row, column));
            }
        }
    }
    let mut data = BTreeMap::new();
    for (file, row, column) in wanted {
        let key = file.strip_suffix(".csv").unwrap_or(&file).to_owned();
        if data.contains_key(&key) {
            continue;
        }
        if let Some(table) = table(workbook, &file, row, column, problems) {
            data.insert(key, choices::table_records(&table));
        }
    }
    data
}
