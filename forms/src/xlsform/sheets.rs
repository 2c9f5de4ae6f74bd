//! XLSForm rows (already text) → [`Form`]: no file, no spreadsheet library.
//!
//! Rows are indexed from the top of the sheet: `rows[0]` is spreadsheet
//! row 1. The first row with any text is the header row. This module reads
//! the header of each sheet, the `settings` and `choices` sheets, and puts
//! the halves together; `survey` reads the questions and `checks` what
//! spans sheets.

use std::collections::BTreeMap;

use super::checks::{self, Places};
use super::survey;
use super::vocabulary::{Meaning, Text, column_letter, language_key, meaning};
use super::{Problem, XlsFormError};
use crate::definition::choice_name_problem;
use crate::{Choice, Form, Labels};

pub(super) const SETTINGS: &str = "settings";
pub(super) const SURVEY: &str = "survey";
pub(super) const CHOICES: &str = "choices";

/// One sheet with its header understood.
pub(super) struct Sheet<'rows> {
    name: &'static str,
    rows: &'rows [Vec<String>],
    /// Index of the header row in `rows`.
    pub(super) header: usize,
    /// `(column index, header text, meaning)`.
    columns: Vec<(usize, String, Meaning)>,
}

impl<'rows> Sheet<'rows> {
    /// `None` when the sheet has no text at all.
    pub(super) fn new(
        name: &'static str,
        rows: &'rows [Vec<String>],
        label_default: Option<&str>,
        problems: &mut Vec<Problem>,
    ) -> Option<Sheet<'rows>> {
        let header = rows
            .iter()
            .position(|row| row.iter().any(|c| !c.trim().is_empty()))?;
        let width = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut columns: Vec<(usize, String, Meaning)> = Vec::new();
        for index in 0..width {
            let text = rows[header].get(index).map_or("", |c| c.trim()).to_owned();
            let meaning = meaning(name, &text, label_default);
            if let Some((_, first, _)) = columns
                .iter()
                .find(|(_, _, m)| *m == meaning && !matches!(m, Meaning::Refused(_)))
            {
                problems.push(Problem::at(
                    name,
                    header,
                    &text,
                    format!("says the same as column `{first}`"),
                ));
                continue;
            }
            columns.push((index, text, meaning));
        }
        Some(Sheet {
            name,
            rows,
            header,
            columns,
        })
    }

    fn column(&self, wanted: &Meaning) -> Option<usize> {
        self.columns
            .iter()
            .find(|(_, _, m)| m == wanted)
            .map(|(i, _, _)| *i)
    }

    /// Reports each missing column; true when all are present. A label
    /// column in any language counts as `label`.
    pub(super) fn has_columns(
        &self,
        wanted: &[(Meaning, &str)],
        problems: &mut Vec<Problem>,
    ) -> bool {
        let mut complete = true;
        for (meaning, header) in wanted {
            let present = match meaning {
                Meaning::Translated(text, _) => self
                    .columns
                    .iter()
                    .any(|(_, _, m)| matches!(m, Meaning::Translated(t, _) if t == text)),
                other => self.column(other).is_some(),
            };
            if !present {
                problems.push(Problem::at(
                    self.name,
                    self.header,
                    header,
                    "this column is missing".into(),
                ));
                complete = false;
            }
        }
        complete
    }

    /// The data rows that hold any text, with their index.
    pub(super) fn data_rows(&self) -> impl Iterator<Item = (usize, &'rows Vec<String>)> {
        self.rows
            .iter()
            .enumerate()
            .skip(self.header + 1)
            .filter(|(_, row)| row.iter().any(|c| !c.trim().is_empty()))
    }

    /// The trimmed text of `row` in the column that means `meaning`; empty
    /// when the sheet has no such column.
    pub(super) fn cell<'row>(&self, row: &'row [String], meaning: &Meaning) -> &'row str {
        self.column(meaning)
            .and_then(|index| row.get(index))
            .map_or("", |c| c.trim())
    }

    /// The texts of `row` in every language of the `wanted` column.
    pub(super) fn texts(&self, row: &[String], wanted: Text) -> Labels {
        self.columns
            .iter()
            .filter_map(|(index, _, meaning)| match meaning {
                Meaning::Translated(text, language) if *text == wanted => Some((*index, language)),
                _ => None,
            })
            .filter_map(|(index, language)| {
                let text = row.get(index).map_or("", |c| c.trim());
                (!text.is_empty()).then(|| (language.clone(), text.to_owned()))
            })
            .collect()
    }

    /// The headers of the columns where `row` holds a value, other than
    /// those meaning one of `allowed` and those refused (which
    /// [`Sheet::refuse_values`] reports).
    pub(super) fn other_values(&self, row: &[String], allowed: &[Meaning]) -> Vec<&str> {
        self.columns
            .iter()
            .filter(|(_, _, meaning)| {
                !allowed.contains(meaning) && !matches!(meaning, Meaning::Refused(_))
            })
            .filter(|(index, _, _)| row.get(*index).is_some_and(|c| !c.trim().is_empty()))
            .map(|(_, header, _)| header.as_str())
            .collect()
    }

    /// A problem for every value in a column this version refuses.
    pub(super) fn refuse_values(&self, index: usize, row: &[String], problems: &mut Vec<Problem>) {
        for (column, header, meaning) in &self.columns {
            if let Meaning::Refused(message) = meaning
                && row.get(*column).is_some_and(|c| !c.trim().is_empty())
            {
                let header = if header.is_empty() {
                    column_letter(*column)
                } else {
                    header.clone()
                };
                problems.push(Problem::at(self.name, index, &header, message.clone()));
            }
        }
    }
}

/// Converts the three sheets' rows into a form, or returns every problem
/// found (with `extra`, problems found while reading the cells).
pub(super) fn convert(
    settings: &[Vec<String>],
    survey: &[Vec<String>],
    choices: &[Vec<String>],
    extra: Vec<Problem>,
) -> Result<Form, XlsFormError> {
    let mut problems = extra;
    let head = read_settings(settings, &mut problems);
    let label_default = head.as_ref().and_then(|h| h.default_language.clone());
    let survey = survey::read(survey, label_default.as_deref(), &mut problems);
    let lists = read_choices(choices, label_default.as_deref(), &mut problems);
    checks::lists(&survey, &lists, &mut problems);
    checks::references(&survey, &mut problems);
    if !problems.is_empty() {
        return Err(XlsFormError::sorted(problems));
    }
    let Some(head) = head else {
        return Err(XlsFormError::sorted(vec![Problem::sheet(
            SETTINGS,
            "no settings",
        )]));
    };
    let form = Form {
        form_id: head.form_id,
        version: head.version,
        title: head.title,
        default_language: head.default_language,
        questions: survey.questions.clone(),
        choices: lists
            .iter()
            .map(|(list, rows)| {
                let choices = rows.iter().map(|(_, choice)| choice.clone()).collect();
                (list.clone(), choices)
            })
            .collect(),
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

struct Head {
    /// The index of the row of values.
    row: usize,
    form_id: String,
    version: String,
    title: String,
    default_language: Option<String>,
}

fn read_settings(rows: &[Vec<String>], problems: &mut Vec<Problem>) -> Option<Head> {
    let Some(sheet) = Sheet::new(SETTINGS, rows, None, problems) else {
        problems.push(Problem::sheet(
            SETTINGS,
            "the sheet is missing or empty; it needs columns form_id and version",
        ));
        return None;
    };
    let wanted = [(Meaning::FormId, "form_id"), (Meaning::Version, "version")];
    let complete = sheet.has_columns(&wanted, problems);
    let mut data = sheet.data_rows();
    let Some((index, row)) = data.next() else {
        problems.push(Problem::at(
            SETTINGS,
            sheet.header + 1,
            "form_id",
            "the row of values is missing".into(),
        ));
        return None;
    };
    for (extra, _) in data {
        problems.push(Problem::at(
            SETTINGS,
            extra,
            "",
            "settings take one row of values; this one is extra".into(),
        ));
    }
    sheet.refuse_values(index, row, problems);
    let form_id = sheet.cell(row, &Meaning::FormId).to_owned();
    let version = sheet.cell(row, &Meaning::Version).to_owned();
    for (value, column) in [(&form_id, "form_id"), (&version, "version")] {
        if complete && value.is_empty() {
            problems.push(Problem::at(
                SETTINGS,
                index,
                column,
                "a value is required".into(),
            ));
        }
    }
    let title = match sheet.cell(row, &Meaning::FormTitle) {
        "" => form_id.clone(),
        title => title.to_owned(),
    };
    let default_language = Some(sheet.cell(row, &Meaning::DefaultLanguage))
        .filter(|language| !language.is_empty())
        .map(language_key);
    Some(Head {
        row: index,
        form_id,
        version,
        title,
        default_language,
    })
}

/// Choice lists by name, each choice with the index of its row.
pub(super) type Lists = BTreeMap<String, Vec<(usize, Choice)>>;

fn read_choices(
    rows: &[Vec<String>],
    label_default: Option<&str>,
    problems: &mut Vec<Problem>,
) -> Lists {
    let mut lists = Lists::new();
    let Some(sheet) = Sheet::new(CHOICES, rows, label_default, problems) else {
        return lists;
    };
    let wanted = [
        (Meaning::ListName, "list_name"),
        (Meaning::Name, "name"),
        (Meaning::Translated(Text::Label, String::new()), "label"),
    ];
    if !sheet.has_columns(&wanted, problems) {
        return lists;
    }
    for (index, row) in sheet.data_rows() {
        sheet.refuse_values(index, row, problems);
        let list = sheet.cell(row, &Meaning::ListName);
        let name = sheet.cell(row, &Meaning::Name);
        let label = sheet.texts(row, Text::Label);
        let mut fine = true;
        if let Some(reason) = choice_name_problem(list) {
            problems.push(Problem::at(
                CHOICES,
                index,
                "list_name",
                format!("the list name {reason}"),
            ));
            fine = false;
        }
        if let Some(reason) = choice_name_problem(name) {
            problems.push(Problem::at(
                CHOICES,
                index,
                "name",
                format!("the choice name {reason}"),
            ));
            fine = false;
        } else if let Some((first, _)) = lists
            .get(list)
            .and_then(|l| l.iter().find(|(_, c)| c.name == name))
        {
            problems.push(Problem::at(
                CHOICES,
                index,
                "name",
                format!("list `{list}` already has `{name}` on row {}", first + 1),
            ));
            fine = false;
        }
        if label.is_empty() {
            problems.push(Problem::at(
                CHOICES,
                index,
                "label",
                "a choice needs a label".into(),
            ));
        }
        if fine {
            lists.entry(list.to_owned()).or_default().push((
                index,
                Choice {
                    name: name.to_owned(),
                    label,
                },
            ));
        }
    }
    lists
}
