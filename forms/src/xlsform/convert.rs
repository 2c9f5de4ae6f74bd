//! Puts a workbook's sheets together into a [`Form`]: settings, survey,
//! choices (from sheets and files), `pulldata()` tables, `or_other`
//! choices, then the checks that span sheets and [`Form::check`].

use std::collections::BTreeMap;

use super::checks::{self, Places};
use super::choices::{self, Lists, Placed, Table};
use super::problem::{CHOICES, EXTERNAL_CHOICES, Problem, SURVEY, XlsFormError};
use super::row::file_of_list;
use super::settings;
use super::survey::{self, Survey};
use super::vocabulary::{Source, external_list};
use crate::{Choice, Form, Labels, Requirement};

/// A workbook's sheets as text rows, and how to reach the files beside it.
pub(super) struct Workbook<'a> {
    pub(super) settings: &'a [Vec<String>],
    pub(super) survey: &'a [Vec<String>],
    pub(super) choices: &'a [Vec<String>],
    pub(super) external_choices: &'a [Vec<String>],
    /// The workbook's file name without `.xlsx`: the form's id when the
    /// settings give none.
    pub(super) file_stem: Option<&'a str>,
    /// A file beside the form, by name; `None` when there is none.
    pub(super) files: &'a dyn Fn(&str) -> Option<Vec<u8>>,
}

/// Converts the workbook's rows into a form, or returns every problem
/// found (with `extra`, problems found while reading the cells).
pub(super) fn convert(workbook: &Workbook<'_>, extra: Vec<Problem>) -> Result<Form, XlsFormError> {
    let mut problems = extra;
    let head = settings::read(workbook.settings, workbook.file_stem, &mut problems);
    let label_default = head.as_ref().and_then(|h| h.default_language.clone());
    let mut survey = survey::read(workbook.survey, label_default.as_deref(), &mut problems);
    qualify_first_uses(&mut survey);
    resolve_paths(&mut survey);
    let allow_duplicates = head.as_ref().is_some_and(|head| {
        head.kept
            .get("allow_choice_duplicates")
            .is_some_and(|value| matches!(value.to_ascii_lowercase().as_str(), "yes" | "true"))
    });
    let mut lists = choices::read_sheet(
        CHOICES,
        workbook.choices,
        label_default.as_deref(),
        allow_duplicates,
        &mut problems,
    );
    let external = choices::read_sheet(
        EXTERNAL_CHOICES,
        workbook.external_choices,
        label_default.as_deref(),
        true,
        &mut problems,
    );
    // select_one_external reads its own namespace: a list of the same
    // name in `choices` serves the selects before it.
    for (list, choices) in external {
        lists.insert(external_list(&list), choices);
    }
    file_lists(&survey, workbook, &mut lists, &mut problems);
    other_choices(&survey, &mut lists);
    let data = tables(&survey, workbook, &mut problems);
    checks::lists(&survey, &lists, &mut problems);
    checks::spaced_choices(&survey, &lists, &mut problems);
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

/// A name used in several groups is ambiguous as `${name}` (pyxform
/// refuses it) and told apart by paths: its first use is stored as
/// `group.name` too, as the later ones already are, so that only a path
/// names any of them.
fn qualify_first_uses(survey: &mut Survey) {
    if survey.renamed.is_empty() {
        return;
    }
    let renamed: std::collections::BTreeSet<String> = survey.renamed.keys().cloned().collect();
    let paths = survey.paths.clone();
    let mut position = 0;
    survey::visit_mut(&mut survey.questions, &mut |question| {
        let path = paths.get(position).map_or("", String::as_str);
        position += 1;
        if !renamed.contains(&question.name) {
            return;
        }
        let mut segments = path.rsplit('/');
        let (Some(_), Some(parent)) = (segments.next(), segments.next()) else {
            return;
        };
        question.name = format!("{parent}.{}", question.name);
    });
}

/// Absolute paths in expressions (`/data/household/head_name`, which
/// pyxform passes through) as references to the questions they name, so
/// that a name used in two groups is told apart by its path. The first
/// segment is the form's root, whatever its name.
fn resolve_paths(survey: &mut Survey) {
    let by_path: BTreeMap<String, String> = survey
        .paths
        .iter()
        .zip(survey.with_rows())
        .map(|(path, (question, _))| (path.clone(), question.name.clone()))
        .collect();
    let Ok(pattern) = regex::Regex::new(r#"(?:/[^/\s=!<>()+*,'"|\[\]{}$]+){2,}"#) else {
        return;
    };
    let resolve = |expression: &mut Option<crate::Expr>, filter: bool| {
        let Some(source) = expression.as_ref().map(|e| e.source().to_owned()) else {
            return;
        };
        if !source.contains('/') {
            return;
        }
        let rewritten = pattern.replace_all(&source, |found: &regex::Captures<'_>| {
            let path = &found[0];
            // Past the root's segment.
            let inner = path[1..].split_once('/').map_or("", |(_, rest)| rest);
            match by_path.get(inner) {
                Some(name) => format!("${{{name}}}"),
                None => path.to_owned(),
            }
        });
        if rewritten != source {
            let parsed = if filter {
                crate::Expr::parse_filter(&rewritten)
            } else {
                crate::Expr::parse(&rewritten)
            };
            if let Ok(parsed) = parsed {
                *expression = Some(parsed);
            }
        }
    };
    survey::visit_mut(&mut survey.questions, &mut |question| {
        resolve(&mut question.relevant, false);
        resolve(&mut question.constraint, false);
        resolve(&mut question.calculation, false);
        resolve(&mut question.choice_filter, true);
        resolve(&mut question.repeat_count, false);
        if let Requirement::When(expression) = &mut question.required {
            let mut wrapped = Some(expression.clone());
            resolve(&mut wrapped, false);
            if let Some(resolved) = wrapped {
                *expression = resolved;
            }
        }
    });
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
    } else if lowered.ends_with(".geojson") {
        choices::read_geojson(&bytes)
    } else {
        Err("only .csv, .xml and .geojson files can be read".to_owned())
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
        for (column, expression) in question.expressions() {
            for file in expression.pulldata_files() {
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
