//! Reading forms written as XLSForm spreadsheets (`.xlsx`).
//!
//! Operators write forms in a spreadsheet, the way ODK, KoboToolbox and
//! SurveyCTO users already do, and publish the [`Form`] read from it: every
//! question kind the form engine has, groups and repeats (nested),
//! `relevant`, `required` (yes/no or an expression), `constraint`,
//! `calculation`, `default`, `appearance`, and labels, hints and messages in
//! several languages; `docs/forms.md` lists the subset. Anything else (a
//! type, a column, a sheet) that carries meaning is an error naming sheet,
//! row and column, never dropped in silence: a form that quietly lost its
//! `choice_filter` column would offer choices its authors meant to hide.
//! All problems are collected and returned together, so an operator fixes
//! the spreadsheet in one go.
//!
//! The reading has two halves: [`read_xlsx_bytes`] turns cells into text
//! rows with calamine, and [`from_sheets`] turns rows into a form, testable
//! without a file. Of the second, `sheets` reads headers, `settings` and
//! `choices`; `survey` builds the tree of questions; `checks` does what
//! spans rows (lists, `${name}` references) and places any error of
//! [`Form::check`](super::Form::check) on its row.

use std::fmt;
use std::io::{Cursor, Read};
use std::path::Path;

use calamine::{Data, Range, Reader, Xlsx};

use super::Form;

mod checks;
mod sheets;
mod survey;
mod vocabulary;

/// Sheets of XLSForm that carry meaning this version does not read yet.
const LATER_SHEETS: &[&str] = &["external_choices", "entities"];

/// Every problem found in a spreadsheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XlsFormError {
    pub problems: Vec<Problem>,
}

impl XlsFormError {
    /// Problems in sheet order (settings, survey, choices, others), then row
    /// order; the order found within a row.
    fn sorted(mut problems: Vec<Problem>) -> XlsFormError {
        let rank = |sheet: &str| match sheet {
            "" => 0,
            sheets::SETTINGS => 1,
            sheets::SURVEY => 2,
            sheets::CHOICES => 3,
            _ => 4,
        };
        problems.sort_by_key(|problem| (rank(&problem.sheet), problem.row));
        XlsFormError { problems }
    }
}

impl fmt::Display for XlsFormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for XlsFormError {}

/// One problem, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `settings`, `survey`, `choices`…; empty for the workbook as a whole.
    pub sheet: String,
    /// The spreadsheet's row number (1-based), if the problem is in a row.
    pub row: Option<u32>,
    /// The column's header (its letter when it has none), if the problem is
    /// in a column.
    pub column: Option<String>,
    pub message: String,
}

impl Problem {
    /// A problem in the cell of `rows[index]` under `column`.
    fn at(sheet: &str, index: usize, column: &str, message: String) -> Problem {
        Problem {
            sheet: sheet.to_owned(),
            row: Some(u32::try_from(index + 1).unwrap_or(u32::MAX)),
            column: Some(column.to_owned()).filter(|column| !column.is_empty()),
            message,
        }
    }

    /// A problem with a whole sheet (or, with `""`, the workbook).
    fn sheet(sheet: &str, message: &str) -> Problem {
        Problem {
            sheet: sheet.to_owned(),
            row: None,
            column: None,
            message: message.to_owned(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut place = Vec::new();
        if !self.sheet.is_empty() {
            place.push(format!("sheet `{}`", self.sheet));
        }
        if let Some(row) = self.row {
            place.push(format!("row {row}"));
        }
        if let Some(column) = &self.column {
            place.push(format!("column `{column}`"));
        }
        if place.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", place.join(", "), self.message)
        }
    }
}

/// Reads an XLSForm `.xlsx` file.
pub fn read_xlsx(path: &Path) -> Result<Form, XlsFormError> {
    match std::fs::read(path) {
        Ok(bytes) => read_xlsx_bytes(&bytes),
        Err(error) => Err(XlsFormError {
            problems: vec![Problem::sheet(
                "",
                &format!("cannot read {}: {error}", path.display()),
            )],
        }),
    }
}

/// Reads an XLSForm `.xlsx` workbook held in memory. Sheets are found by
/// name, in any case: `settings`, `survey`, `choices`.
pub fn read_xlsx_bytes(bytes: &[u8]) -> Result<Form, XlsFormError> {
    let workbook_problem = |message: String| XlsFormError {
        problems: vec![Problem::sheet("", &message)],
    };
    check_inflated_size(bytes).map_err(workbook_problem)?;
    let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes))
        .map_err(|error| workbook_problem(format!("not a readable .xlsx workbook: {error}")))?;
    let mut problems = Vec::new();
    let mut rows_of = |wanted: &str, problems: &mut Vec<Problem>| -> Vec<Vec<String>> {
        let Some(name) = workbook
            .sheet_names()
            .into_iter()
            .find(|name| name.trim().eq_ignore_ascii_case(wanted))
        else {
            return Vec::new();
        };
        match workbook.worksheet_range(&name) {
            Ok(range) => text_rows(wanted, &range, problems),
            Err(error) => {
                problems.push(Problem::sheet(
                    wanted,
                    &format!("cannot read the sheet: {error}"),
                ));
                Vec::new()
            }
        }
    };
    let settings = rows_of(sheets::SETTINGS, &mut problems);
    let survey = rows_of(sheets::SURVEY, &mut problems);
    let choices = rows_of(sheets::CHOICES, &mut problems);
    for later in LATER_SHEETS {
        let rows = rows_of(later, &mut problems);
        if rows.iter().flatten().any(|cell| !cell.trim().is_empty()) {
            problems.push(Problem::sheet(later, "this sheet is not supported yet"));
        }
    }
    sheets::convert(&settings, &survey, &choices, problems)
}

/// Bytes an `.xlsx` may hold once unzipped: far more than any real form
/// (the demo form's workbook is under 100 KB unzipped).
pub const MAX_XLSX_INFLATED_BYTES: u64 = 64 * 1024 * 1024;

/// Refuses a workbook that unzips to more than [`MAX_XLSX_INFLATED_BYTES`]
/// (a zip bomb), by inflating every entry once into nothing and counting:
/// the sizes an archive declares could lie.
fn check_inflated_size(bytes: &[u8]) -> Result<(), String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|error| format!("not a readable .xlsx workbook: {error}"))?;
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive
            .by_index(index)
            .map_err(|error| format!("not a readable .xlsx workbook: {error}"))?;
        let left = MAX_XLSX_INFLATED_BYTES.saturating_sub(total);
        let inflated = std::io::copy(&mut entry.take(left + 1), &mut std::io::sink())
            .map_err(|error| format!("not a readable .xlsx workbook: {error}"))?;
        total += inflated;
        if total > MAX_XLSX_INFLATED_BYTES {
            return Err(format!(
                "the workbook unzips to more than {} MiB: not a form",
                MAX_XLSX_INFLATED_BYTES / (1024 * 1024)
            ));
        }
    }
    Ok(())
}

/// Converts rows already read as text; see `docs/forms.md` for the columns.
/// `settings[0]` is the sheet's row 1. A missing sheet is an empty slice.
pub fn from_sheets(
    settings: &[Vec<String>],
    survey: &[Vec<String>],
    choices: &[Vec<String>],
) -> Result<Form, XlsFormError> {
    sheets::convert(settings, survey, choices, Vec::new())
}

/// The sheet's cells as text, placed so that `rows[i][j]` is the cell of
/// spreadsheet row `i + 1`, column `j + 1`. Cells that cannot be text (a
/// formula error, a date) become empty and a problem.
fn text_rows(sheet: &str, range: &Range<Data>, problems: &mut Vec<Problem>) -> Vec<Vec<String>> {
    let Some((first_row, first_column)) = range.start() else {
        return Vec::new();
    };
    let (first_row, first_column) = (first_row as usize, first_column as usize);
    let mut rows = vec![Vec::new(); first_row];
    let mut bad = Vec::new();
    for (row_offset, cells) in range.rows().enumerate() {
        let mut row = vec![String::new(); first_column];
        for (column_offset, cell) in cells.iter().enumerate() {
            match cell_text(cell) {
                Ok(text) => row.push(text),
                Err(message) => {
                    bad.push((
                        first_row + row_offset,
                        first_column + column_offset,
                        message,
                    ));
                    row.push(String::new());
                }
            }
        }
        rows.push(row);
    }
    let header = rows
        .iter()
        .find(|row| row.iter().any(|cell| !cell.trim().is_empty()));
    for (row, column, message) in bad {
        let name = header
            .and_then(|header| header.get(column))
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| vocabulary::column_letter(column));
        problems.push(Problem::at(sheet, row, &name, message));
    }
    rows
}

/// A cell as the text its author meant: numbers without a trailing `.0`
/// (a version typed as 2024122801 is stored as a float).
fn cell_text(cell: &Data) -> Result<String, String> {
    match cell {
        Data::Empty => Ok(String::new()),
        Data::String(text) | Data::DateTimeIso(text) | Data::DurationIso(text) => Ok(text.clone()),
        Data::Int(number) => Ok(number.to_string()),
        Data::Float(number) => Ok(number_text(*number)),
        Data::Bool(value) => Ok(value.to_string()),
        Data::DateTime(_) => {
            Err("a date cell; write the value as text (format the cell as Text)".to_owned())
        }
        Data::Error(error) => Err(format!("the cell holds the spreadsheet error {error}")),
    }
}

fn number_text(number: f64) -> String {
    // Below 2^53 every whole float is exactly an integer.
    if number.fract() == 0.0 && number.abs() < 9_007_199_254_740_992.0 {
        format!("{}", number as i64)
    } else {
        format!("{number}")
    }
}

#[cfg(test)]
mod survey_tests;
#[cfg(test)]
mod tests;
