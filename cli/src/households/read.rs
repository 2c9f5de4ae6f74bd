//! The import side of the CSV: [`read_csv`] checks every row of a household
//! list before `doorstep admin import-households` sends it, and [`ReadError`]
//! says where the first problem is (line and column) without ever repeating
//! the cell, which may be personal data.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;

use uuid::Uuid;

use super::{CATEGORIES, COLUMNS, HouseholdRow};

/// A problem found by [`read_csv`]: the 1-based line where it is and what it
/// is. Never holds the content of a cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// 1-based line of the input (the header is line 1).
    pub line: u64,
    /// What is wrong, naming the column.
    pub message: String,
}

impl ReadError {
    fn new(line: u64, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }

    fn column(line: u64, column: &str, problem: impl fmt::Display) -> Self {
        Self::new(line, format!("column `{column}`: {problem}"))
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ReadError {}

/// Turns a CSV-level error into a [`ReadError`] without echoing any data.
fn csv_error(err: &csv::Error, fallback_line: u64) -> ReadError {
    let line = err.position().map_or(fallback_line, csv::Position::line);
    let message = match err.kind() {
        csv::ErrorKind::Utf8 { .. } => {
            "not UTF-8 text; save the file as “CSV UTF-8” and try again".to_string()
        }
        csv::ErrorKind::Io(io) => format!("could not read the input: {io}"),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} columns, found {len}"),
        _ => "malformed CSV".to_string(),
    };
    ReadError::new(line, message)
}

/// Reads rows written by [`write_csv`] (or by an operator in a spreadsheet,
/// same header; the columns may come in any order). Fields are trimmed, a
/// UTF-8 byte-order mark is ignored, and rows whose fields are all empty are
/// skipped. The first problem is returned with its line number and column,
/// e.g. "line 7: column `members`: invalid digit found in string". Rejects an
/// empty name, a code of the wrong length, a `village_code` that does not
/// start with its `township_code`, a `township_code` that does not start with
/// its `county_code`, an unknown category, a malformed id, ID-card suffix,
/// phone (empty is allowed) or coordinate, a household without members, and
/// an id used twice. Never panics.
///
/// [`write_csv`]: super::write_csv
pub fn read_csv<R: Read>(input: R) -> Result<Vec<HouseholdRow>, ReadError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let mut record = csv::StringRecord::new();

    let header_line = loop {
        match reader.read_record(&mut record) {
            Ok(false) => {
                return Err(ReadError::new(1, "empty input: expected a header row"));
            }
            Ok(true) if record.iter().all(str::is_empty) => continue,
            Ok(true) => break line_of(&record, reader.position().line()),
            Err(err) => return Err(csv_error(&err, reader.position().line())),
        }
    };
    let index = column_index(&record, header_line)?;
    let width = record.len();

    let mut rows = Vec::new();
    let mut seen: HashMap<Uuid, u64> = HashMap::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                if record.iter().all(str::is_empty) {
                    continue;
                }
                let line = line_of(&record, reader.position().line());
                if record.len() != width {
                    return Err(ReadError::new(
                        line,
                        format!("expected {width} columns, found {}", record.len()),
                    ));
                }
                let row = parse_row(&record, &index, line)?;
                if let Some(first) = seen.insert(row.id, line) {
                    return Err(ReadError::column(
                        line,
                        "id",
                        format_args!("the same id as line {first}"),
                    ));
                }
                rows.push(row);
            }
            Err(err) => return Err(csv_error(&err, reader.position().line())),
        }
    }
    Ok(rows)
}

fn line_of(record: &csv::StringRecord, fallback: u64) -> u64 {
    record.position().map_or(fallback, csv::Position::line)
}

/// For each of [`COLUMNS`], its position in the header.
fn column_index(header: &csv::StringRecord, line: u64) -> Result<[usize; 16], ReadError> {
    let mut index = [usize::MAX; 16];
    for (position, name) in header.iter().enumerate() {
        let name = name.trim_start_matches('\u{feff}').trim();
        let Some(column) = COLUMNS.iter().position(|c| *c == name) else {
            return Err(ReadError::new(
                line,
                // The cell itself is not shown: a file without a header
                // would put a household's name or phone here.
                format!(
                    "header cell {} is not a known column (is the header row missing?); \
                     expected the columns {}",
                    position + 1,
                    COLUMNS.join(", ")
                ),
            ));
        };
        if index[column] != usize::MAX {
            return Err(ReadError::new(
                line,
                format!("column `{name}` appears twice"),
            ));
        }
        index[column] = position;
    }
    if let Some(missing) = COLUMNS
        .iter()
        .zip(index)
        .find_map(|(name, at)| (at == usize::MAX).then_some(name))
    {
        return Err(ReadError::new(line, format!("missing column `{missing}`")));
    }
    Ok(index)
}

fn parse_row(
    record: &csv::StringRecord,
    index: &[usize; 16],
    line: u64,
) -> Result<HouseholdRow, ReadError> {
    let field = |column: usize| record.get(index[column]).unwrap_or("");
    let non_empty = |column: usize| {
        let value = field(column);
        if value.is_empty() {
            Err(ReadError::column(
                line,
                COLUMNS[column],
                "must not be empty",
            ))
        } else {
            Ok(value.to_string())
        }
    };
    let digits = |column: usize, len: usize| {
        let value = field(column);
        if value.len() == len && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(value.to_string())
        } else {
            Err(ReadError::column(
                line,
                COLUMNS[column],
                format_args!("expected {len} digits"),
            ))
        }
    };
    let coordinate = |column: usize, limit: f64| {
        let value: f64 = field(column)
            .parse()
            .map_err(|err| ReadError::column(line, COLUMNS[column], err))?;
        if value.is_finite() && value.abs() <= limit {
            Ok(value)
        } else {
            Err(ReadError::column(
                line,
                COLUMNS[column],
                format_args!("must be between -{limit} and {limit}"),
            ))
        }
    };

    let id =
        Uuid::parse_str(field(0)).map_err(|_| ReadError::column(line, "id", "not a valid UUID"))?;
    let head_name = non_empty(1)?;
    let id_card_suffix = field(2).to_ascii_uppercase();
    let suffix = id_card_suffix.as_bytes();
    if !(suffix.len() == 4
        && suffix[..3].iter().all(u8::is_ascii_digit)
        && (suffix[3].is_ascii_digit() || suffix[3] == b'X'))
    {
        return Err(ReadError::column(
            line,
            "id_card_suffix",
            "expected 3 digits then a digit or X (a spreadsheet may have dropped a leading zero)",
        ));
    }
    let county_code = digits(3, 6)?;
    let county = non_empty(4)?;
    let township_code = digits(5, 9)?;
    if !township_code.starts_with(&county_code) {
        return Err(ReadError::column(
            line,
            "township_code",
            "does not start with the row's `county_code`",
        ));
    }
    let township = non_empty(6)?;
    let village_code = digits(7, 12)?;
    if !village_code.starts_with(&township_code) {
        return Err(ReadError::column(
            line,
            "village_code",
            "does not start with the row's `township_code`",
        ));
    }
    let village = non_empty(8)?;
    let group = field(9).to_string();
    let members: u32 = field(10)
        .parse()
        .map_err(|err| ReadError::column(line, "members", err))?;
    if members == 0 {
        return Err(ReadError::column(line, "members", "must be at least 1"));
    }
    let phone = field(11).to_string();
    if !(phone.is_empty()
        || (phone.len() == 11
            && phone.starts_with('1')
            && phone.bytes().all(|b| b.is_ascii_digit())))
    {
        return Err(ReadError::column(
            line,
            "phone",
            "expected an 11-digit mobile number starting with 1, or nothing \
             (a spreadsheet may have turned it into a number like 1.38E+10)",
        ));
    }
    let address = field(12).to_string();
    let lat = coordinate(13, 90.0)?;
    let lon = coordinate(14, 180.0)?;
    let category = field(15);
    if !CATEGORIES.contains(&category) {
        return Err(ReadError::column(
            line,
            "category",
            format_args!(
                "unknown category; expected one of {}",
                CATEGORIES.join(", ")
            ),
        ));
    }

    Ok(HouseholdRow {
        id,
        head_name,
        id_card_suffix,
        county_code,
        county,
        township_code,
        township,
        village_code,
        village,
        group,
        members,
        phone,
        address,
        lat,
        lon,
        category: category.to_string(),
    })
}
