//! One sheet's rows (already text) with its header understood.
//!
//! Rows are indexed from the top of the sheet: `rows[0]` is spreadsheet
//! row 1. The first row with any text is the header row.

use super::problem::Problem;
use super::vocabulary::{Meaning, Text, column_letter, meaning};
use crate::Labels;

/// One sheet with its header understood.
pub(super) struct Sheet<'rows> {
    pub(super) name: &'static str,
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
            let mut meaning = meaning(name, &text, label_default);
            let clashes = |meaning: &Meaning, columns: &[(usize, String, Meaning)]| {
                columns
                    .iter()
                    .find(|(_, _, m)| {
                        *m == *meaning
                            && !matches!(m, Meaning::Refused(_) | Meaning::Ignored | Meaning::Media)
                    })
                    .map(|(_, first, _)| first.clone())
            };
            // A plain `label` beside `label::LANG` of the default language:
            // pyxform keeps both, the plain one as the language "default".
            if let Meaning::Translated(text_column, _) = &meaning
                && !text.contains("::")
                && clashes(&meaning, &columns).is_some()
            {
                meaning = Meaning::Translated(*text_column, Labels::DEFAULT.to_owned());
            }
            if let Some(first) = clashes(&meaning, &columns) {
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

    /// Whether the sheet has a column meaning `wanted`.
    pub(super) fn has(&self, wanted: &Meaning) -> bool {
        self.column(wanted).is_some()
    }

    /// The non-empty values of `row` in columns whose meaning `pick`
    /// turns into a key: `(key, value)`.
    pub(super) fn values_by<'row>(
        &self,
        row: &'row [String],
        pick: impl Fn(&Meaning) -> Option<String>,
    ) -> Vec<(String, &'row str)> {
        self.columns
            .iter()
            .filter_map(|(index, _, meaning)| {
                let key = pick(meaning)?;
                let value = row.get(*index).map_or("", |c| c.trim());
                (!value.is_empty()).then_some((key, value))
            })
            .collect()
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
