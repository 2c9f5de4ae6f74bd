//! What goes wrong in a workbook, and where: the leaf every other part of
//! the reader imports (sheet names, [`Problem`], [`XlsFormError`]), so that
//! the reader's modules form no cycle.

use std::fmt;

pub(super) const SETTINGS: &str = "settings";
pub(super) const SURVEY: &str = "survey";
pub(super) const CHOICES: &str = "choices";
pub(super) const EXTERNAL_CHOICES: &str = "external_choices";

/// Every problem found in a spreadsheet. `Display` groups them: one line
/// per sheet, column and message, listing the rows
/// (`sheet `survey`, rows 12, 15, 40–52, column `type`: …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XlsFormError {
    /// Every problem, one per cell, in sheet then row order.
    pub problems: Vec<Problem>,
}

impl XlsFormError {
    /// Problems in sheet order (the workbook, settings, survey, choices,
    /// others), then row order; the order found within a row.
    pub(super) fn sorted(mut problems: Vec<Problem>) -> XlsFormError {
        let rank = |sheet: &str| match sheet {
            "" => 0,
            SETTINGS => 1,
            SURVEY => 2,
            CHOICES => 3,
            _ => 4,
        };
        problems.sort_by_key(|problem| (rank(&problem.sheet), problem.row));
        problems.dedup();
        XlsFormError { problems }
    }

    /// The problems grouped: those of one sheet, column and message become
    /// one group listing their rows, in the order the first of each was
    /// found. This is what people read; [`XlsFormError::problems`] keeps
    /// every cell for tools.
    pub fn groups(&self) -> Vec<ProblemGroup> {
        let mut groups: Vec<ProblemGroup> = Vec::new();
        for problem in &self.problems {
            let same = groups.iter_mut().find(|group| {
                group.sheet == problem.sheet
                    && group.column == problem.column
                    && group.message == problem.message
                    && group.rows.is_empty() == problem.row.is_none()
            });
            match same {
                Some(group) => group.rows.extend(problem.row),
                None => groups.push(ProblemGroup {
                    sheet: problem.sheet.clone(),
                    rows: problem.row.into_iter().collect(),
                    column: problem.column.clone(),
                    message: problem.message.clone(),
                }),
            }
        }
        groups
    }
}

impl fmt::Display for XlsFormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, group) in self.groups().iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{group}")?;
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
    pub(super) fn at(sheet: &str, index: usize, column: &str, message: String) -> Problem {
        Problem {
            sheet: sheet.to_owned(),
            row: Some(u32::try_from(index + 1).unwrap_or(u32::MAX)),
            column: Some(column.to_owned()).filter(|column| !column.is_empty()),
            message,
        }
    }

    /// A problem with a whole sheet (or, with `""`, the workbook).
    pub(super) fn sheet(sheet: &str, message: &str) -> Problem {
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
        let group = ProblemGroup {
            sheet: self.sheet.clone(),
            rows: self.row.into_iter().collect(),
            column: self.column.clone(),
            message: self.message.clone(),
        };
        fmt::Display::fmt(&group, f)
    }
}

/// Problems of one sheet, column and message, with every row they are on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemGroup {
    pub sheet: String,
    /// Spreadsheet row numbers (1-based), ascending; empty for a problem
    /// with a whole sheet or the workbook.
    pub rows: Vec<u32>,
    pub column: Option<String>,
    pub message: String,
}

impl fmt::Display for ProblemGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut place = Vec::new();
        if !self.sheet.is_empty() {
            place.push(format!("sheet `{}`", self.sheet));
        }
        match self.rows.as_slice() {
            [] => {}
            [row] => place.push(format!("row {row}")),
            rows => place.push(format!("rows {}", row_ranges(rows))),
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

/// `3, 5, 7–9`: runs of three or more consecutive rows as a range.
fn row_ranges(rows: &[u32]) -> String {
    let mut sorted = rows.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut start = 0;
    while start < sorted.len() {
        let mut end = start;
        while end + 1 < sorted.len() && sorted[end + 1] == sorted[end] + 1 {
            end += 1;
        }
        match end - start {
            0 => parts.push(sorted[start].to_string()),
            1 => {
                parts.push(sorted[start].to_string());
                parts.push(sorted[end].to_string());
            }
            _ => parts.push(format!("{}–{}", sorted[start], sorted[end])),
        }
        start = end + 1;
    }
    parts.join(", ")
}
