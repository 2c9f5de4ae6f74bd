//! Reading forms written as XLSForm spreadsheets (`.xlsx`).
//!
//! Operators write forms in a spreadsheet, the way ODK, KoboToolbox and
//! SurveyCTO users already do, and publish the [`Form`] read from it. The
//! reader accepts what pyxform accepts (old spellings, a missing settings
//! sheet, columns pyxform ignores, the same name in different groups…) and
//! refuses what pyxform refuses with pyxform's reason; `docs/forms.md`
//! lists what is supported, what is not yet and what never will be.
//! Anything it cannot honour that carries meaning (a type, a column) is a
//! problem naming sheet, row and column, never dropped in silence, and all
//! problems are returned together, so an operator fixes the spreadsheet in
//! one go; [`XlsFormError`]'s `Display` groups them, one line per problem
//! and column with the rows it is on.
//!
//! The reading has two halves: [`read_xlsx_files`] turns cells into text
//! rows with calamine, and [`from_sheets`] turns rows into a form, testable
//! without a file. The modules form no cycle: `problem` (sheet names,
//! problems) ← `vocabulary` (types, columns) ← `sheet` (a sheet's header)
//! ← `settings`, `choices` (sheets and published files), `row` ← `survey`
//! (the tree) ← `checks` (what spans sheets) ← `convert` (the whole) ← this
//! module (the workbook).

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::Path;

use calamine::{Data, Range, Reader, Xlsx};

use super::Form;

mod checks;
mod choices;
mod convert;
mod problem;
mod row;
mod settings;
mod sheet;
mod survey;
mod vocabulary;

use convert::Workbook;
use problem::{CHOICES, EXTERNAL_CHOICES, SETTINGS, SURVEY};
pub use problem::{Problem, ProblemGroup, XlsFormError};

/// Files published beside a form (CSV and XML for `pulldata()` and
/// `select_one_from_file`), by file name (`households.csv`).
pub type Attachments = BTreeMap<String, Vec<u8>>;

/// Largest file beside a form that is read (64 MiB).
const MAX_ATTACHMENT_BYTES: u64 = 64 * 1024 * 1024;

/// Reads an XLSForm `.xlsx` file. Files the form reads (`pulldata()`
/// tables, `select_one_from_file` lists) are read from its directory; the
/// file's name is the form's id when sheet `settings` gives none.
pub fn read_xlsx(path: &Path) -> Result<Form, XlsFormError> {
    let bytes = std::fs::read(path).map_err(|error| XlsFormError {
        problems: vec![Problem::sheet(
            "",
            &format!("cannot read {}: {error}", path.display()),
        )],
    })?;
    let directory = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let beside = move |name: &str| -> Option<Vec<u8>> {
        // Only a plain name: never a path out of the form's directory.
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return None;
        }
        let file = std::fs::File::open(directory.join(name)).ok()?;
        let mut bytes = Vec::new();
        file.take(MAX_ATTACHMENT_BYTES)
            .read_to_end(&mut bytes)
            .ok()?;
        Some(bytes)
    };
    let stem = path.file_stem().and_then(|stem| stem.to_str());
    read_workbook(&bytes, stem, &beside)
}

/// Reads an XLSForm `.xlsx` workbook held in memory, with no files beside
/// it and no file name. Sheets are found by name, in any case: `settings`,
/// `survey`, `choices`, `external_choices`.
pub fn read_xlsx_bytes(bytes: &[u8]) -> Result<Form, XlsFormError> {
    read_xlsx_files(bytes, None, &Attachments::new())
}

/// Reads an XLSForm `.xlsx` workbook held in memory, `name` its file name
/// (`household_check.xlsx`, whose stem is the form's id when the settings
/// give none) and `attachments` the files published beside it.
pub fn read_xlsx_files(
    bytes: &[u8],
    name: Option<&str>,
    attachments: &Attachments,
) -> Result<Form, XlsFormError> {
    let stem = name.map(|name| {
        Path::new(name)
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or(name)
    });
    let files = |file: &str| attachments.get(file).cloned();
    read_workbook(bytes, stem, &files)
}

fn read_workbook(
    bytes: &[u8],
    file_stem: Option<&str>,
    files: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<Form, XlsFormError> {
    let workbook_problem = |message: String| XlsFormError {
        problems: vec![Problem::sheet("", &message)],
    };
    check_inflated_size(bytes).map_err(workbook_problem)?;
    let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes))
        .map_err(|error| workbook_problem(format!("not a readable .xlsx workbook: {error}")))?;
    let mut problems = Vec::new();
    let names = workbook.sheet_names();
    // pyxform reads a workbook whose only sheet is the survey.
    let lone = match names.as_slice() {
        [only] if !only.trim().eq_ignore_ascii_case(SETTINGS) => Some(only.clone()),
        _ => None,
    };
    let mut rows_of = |wanted: &str, problems: &mut Vec<Problem>| -> Vec<Vec<String>> {
        let found = names
            .iter()
            .find(|name| name.trim().eq_ignore_ascii_case(wanted))
            .cloned()
            .or_else(|| lone.clone().filter(|_| wanted == SURVEY));
        let Some(name) = found else {
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
    let settings = rows_of(SETTINGS, &mut problems);
    let survey = rows_of(SURVEY, &mut problems);
    let choices = rows_of(CHOICES, &mut problems);
    let external_choices = rows_of(EXTERNAL_CHOICES, &mut problems);
    // Sheet `entities` (ODK Central's entity lists) is read by nobody:
    // Doorstep keeps its own register of households.
    let workbook = Workbook {
        settings: &settings,
        survey: &survey,
        choices: &choices,
        external_choices: &external_choices,
        file_stem,
        files,
    };
    convert::convert(&workbook, problems)
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
/// With no settings the form's id is `form`.
pub fn from_sheets(
    settings: &[Vec<String>],
    survey: &[Vec<String>],
    choices: &[Vec<String>],
) -> Result<Form, XlsFormError> {
    let workbook = Workbook {
        settings,
        survey,
        choices,
        external_choices: &[],
        file_stem: Some("form"),
        files: &|_| None,
    };
    convert::convert(&workbook, Vec::new())
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
        // A date typed into a cell: as pyxform reads it, in ISO form.
        Data::DateTime(moment) => match excel_moment(moment.as_f64()) {
            Some(moment) if moment.time() == chrono::NaiveTime::MIN => {
                Ok(moment.format("%Y-%m-%d").to_string())
            }
            Some(moment) => Ok(moment.format("%Y-%m-%dT%H:%M:%S").to_string()),
            None => Err("a date cell out of range; write the value as text".to_owned()),
        },
        Data::Error(error) => Err(format!("the cell holds the spreadsheet error {error}")),
    }
}

/// An Excel date serial (days since 1899-12-30, the time as a fraction)
/// as a date and time, to the second.
fn excel_moment(serial: f64) -> Option<chrono::NaiveDateTime> {
    if !serial.is_finite() || !(0.0..3_000_000.0).contains(&serial) {
        return None;
    }
    let epoch = chrono::NaiveDate::from_ymd_opt(1899, 12, 30)?.and_time(chrono::NaiveTime::MIN);
    // Within 0..3e6 days by the check, so the seconds fit an i64.
    #[allow(clippy::cast_possible_truncation)]
    let seconds = (serial * 86_400.0).round() as i64;
    epoch.checked_add_signed(chrono::TimeDelta::try_seconds(seconds)?)
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
mod pyxform_tests;
#[cfg(test)]
mod survey_tests;
#[cfg(test)]
mod tests;
