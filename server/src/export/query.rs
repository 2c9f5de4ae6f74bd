//! What an HTTP export asks for, from the query string:
//! `format=csv|xlsx|jsonl`, `area`, `since`, `until` (days, `YYYY-MM-DD`,
//! both included), `form_version`, `choices=names|labels`, and for CSV
//! `table` (`visits`, or a repeat's name). Every mistake is a `400` that
//! says which parameter and what it takes; an empty value (a form's blank
//! field) is no filter.

use axum::extract::{FromRequestParts, Query};
use axum::http::Uri;
use axum::http::request::Parts;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::ChoiceText;
use crate::error::AppError;
use crate::store::{Scope, VisitFilter};

/// The longest area code or form version taken.
const MAX_CODE_CHARS: usize = 64;

/// The file an export is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One table (the visits', or a repeat's with `table`), UTF-8 with a
    /// byte-order mark (so that Excel and WPS read the Chinese right).
    Csv,
    /// One workbook, a sheet per table.
    Xlsx,
    /// One JSON object per visit, as stored.
    Jsonl,
    /// A ZIP of the arrived files the visits name, and `files.csv`.
    Files,
}

impl ExportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Files => "zip",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
            ExportFormat::Jsonl => "application/x-ndjson",
            ExportFormat::Files => "application/zip",
        }
    }
}

/// An export's parameters, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportQuery {
    /// `csv` when not given.
    pub format: ExportFormat,
    /// A county, township or village code.
    pub area: Option<String>,
    /// Visits recorded on or after this day (UTC).
    pub since: Option<NaiveDate>,
    /// Visits recorded on or before this day (UTC).
    pub until: Option<NaiveDate>,
    pub form_version: Option<String>,
    /// `names` when not given.
    pub choices: ChoiceText,
    /// CSV only: which table; the visits' when not given.
    pub table: Option<String>,
}

/// The query string as sent; unknown parameters are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    format: Option<String>,
    area: Option<String>,
    since: Option<String>,
    until: Option<String>,
    form_version: Option<String>,
    choices: Option<String>,
    table: Option<String>,
}

impl ExportQuery {
    /// The parameters of a request's query string.
    pub fn from_uri(uri: &Uri) -> Result<ExportQuery, AppError> {
        let Query(raw) = Query::<RawQuery>::try_from_uri(uri)
            .map_err(|rejection| AppError::BadRequest(rejection.body_text()))?;
        let format = match given(raw.format).as_deref() {
            None | Some("csv") => ExportFormat::Csv,
            Some("xlsx") => ExportFormat::Xlsx,
            Some("jsonl") => ExportFormat::Jsonl,
            Some("files") => ExportFormat::Files,
            Some(other) => {
                return Err(bad(format!(
                    "format must be csv, xlsx, jsonl or files, not {}",
                    quoted(other)
                )));
            }
        };
        let choices = match given(raw.choices).as_deref() {
            None | Some("names") => ChoiceText::Names,
            Some("labels") => ChoiceText::Labels,
            Some(other) => {
                return Err(bad(format!(
                    "choices must be names or labels, not {}",
                    quoted(other)
                )));
            }
        };
        let since = day("since", given(raw.since))?;
        let until = day("until", given(raw.until))?;
        if let (Some(since), Some(until)) = (since, until)
            && until < since
        {
            return Err(bad("until is before since"));
        }
        let table = code("table", given(raw.table))?;
        if table.is_some() && format != ExportFormat::Csv {
            return Err(bad(
                "table is for CSV only (a workbook has a sheet per table)",
            ));
        }
        Ok(ExportQuery {
            format,
            area: code("area", given(raw.area))?,
            since,
            until,
            form_version: code("form_version", given(raw.form_version))?,
            choices,
            table,
        })
    }

    /// The visits this export takes within `scope`.
    pub fn filter(&self, scope: Scope) -> VisitFilter {
        VisitFilter {
            scope,
            area: self.area.clone(),
            since: self.since.map(start_of),
            until: self.until.and_then(|day| day.succ_opt()).map(start_of),
            form_version: self.form_version.clone(),
        }
    }

    /// The question, for the audit log: format, area, days, version,
    /// table (codes and dates only).
    pub fn summary(&self) -> String {
        let or_any = |value: Option<String>| value.unwrap_or_else(|| "-".to_owned());
        format!(
            "{} area={} since={} until={} form_version={} table={}",
            self.format.extension(),
            or_any(self.area.clone()),
            or_any(self.since.map(|day| day.to_string())),
            or_any(self.until.map(|day| day.to_string())),
            or_any(self.form_version.clone()),
            or_any(self.table.clone()),
        )
    }

    /// `visits-AREA-DAY[-TABLE].EXT`: the area asked for, else the scope's,
    /// else `all`; only ASCII letters, digits, `-` and `_`.
    pub fn file_name(&self, scope: &Scope, today: NaiveDate) -> String {
        let area = match (&self.area, scope) {
            (Some(area), _) | (None, Scope::Area(area)) => area.as_str(),
            (None, Scope::All) => "all",
        };
        let mut name = format!("visits-{}-{today}", safe(area));
        if let Some(table) = self.table.as_deref().filter(|table| *table != "visits") {
            name.push('-');
            name.push_str(&safe(table));
        }
        name.push('.');
        name.push_str(self.format.extension());
        name
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ExportQuery {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        ExportQuery::from_uri(&parts.uri)
    }
}

fn bad(message: impl Into<String>) -> AppError {
    AppError::BadRequest(message.into())
}

/// A value, trimmed; none when blank.
fn given(value: Option<String>) -> Option<String> {
    value
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

/// A value quoted for a message, cut short.
fn quoted(value: &str) -> String {
    let short: String = value.chars().take(20).collect();
    format!("{short:?}")
}

fn day(parameter: &str, value: Option<String>) -> Result<Option<NaiveDate>, AppError> {
    value
        .map(|text| {
            NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                .map_err(|_| bad(format!("{parameter} must be a day, YYYY-MM-DD")))
        })
        .transpose()
}

/// An area code, form version or table name: short, no control characters.
fn code(parameter: &str, value: Option<String>) -> Result<Option<String>, AppError> {
    match value {
        Some(text)
            if text.chars().count() > MAX_CODE_CHARS || text.chars().any(char::is_control) =>
        {
            Err(bad(format!(
                "{parameter} must be a code of at most {MAX_CODE_CHARS} characters"
            )))
        }
        other => Ok(other),
    }
}

fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// `text` for a file name: other characters become `_`, at most 40.
fn safe(text: &str) -> String {
    text.chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<ExportQuery, String> {
        let uri: Uri = format!("/export?{query}").parse().expect("a URI");
        ExportQuery::from_uri(&uri).map_err(|error| match error {
            AppError::BadRequest(message) => message,
            other => panic!("not a 400: {other:?}"),
        })
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a day")
    }

    #[test]
    fn parameters_are_read_and_blank_ones_are_no_filter() {
        let query = parse(
            "format=xlsx&area=530626&since=2025-01-01&until=2025-01-31&form_version=2024120101&choices=labels",
        )
        .expect("valid");
        assert_eq!(
            query,
            ExportQuery {
                format: ExportFormat::Xlsx,
                area: Some("530626".into()),
                since: Some(day("2025-01-01")),
                until: Some(day("2025-01-31")),
                form_version: Some("2024120101".into()),
                choices: ChoiceText::Labels,
                table: None,
            }
        );
        let filter = query.filter(Scope::Area("530626104".into()));
        assert_eq!(filter.scope, Scope::Area("530626104".into()));
        assert_eq!(filter.until, Some(start_of(day("2025-02-01"))));
        let blank = parse("format=&area=+&since=&until=&form_version=&choices=&table=")
            .expect("blank is no filter");
        assert_eq!(blank, parse("").expect("nothing is no filter"));
        assert_eq!(blank.format, ExportFormat::Csv);
        assert_eq!(blank.choices, ChoiceText::Names);
        assert_eq!(
            parse("table=members").expect("a table").table.as_deref(),
            Some("members")
        );
    }

    #[test]
    fn mistakes_are_400s_that_name_the_parameter() {
        for (query, expected) in [
            ("format=pdf", "format must be csv, xlsx, jsonl or files"),
            ("choices=both", "choices must be names or labels"),
            ("since=28/12/2024", "since must be a day"),
            ("until=2025-02-30", "until must be a day"),
            ("since=2025-02-01&until=2025-01-01", "until is before since"),
            ("format=xlsx&table=members", "table is for CSV only"),
            ("format=jsonl&table=visits", "table is for CSV only"),
            ("area=5306%0A26", "area must be a code"),
            ("colour=red", "unknown field `colour`"),
            ("format=csv&format=xlsx", "duplicate field `format`"),
        ] {
            let message = parse(query).expect_err(query);
            assert!(message.contains(expected), "{query}: {message}");
        }
        let long = format!("form_version={}", "9".repeat(65));
        assert!(parse(&long).expect_err("too long").contains("form_version"));
    }

    #[test]
    fn file_names_say_what_the_file_holds_and_nothing_else() {
        let today = day("2026-12-01");
        let query = parse("format=xlsx").expect("valid");
        assert_eq!(
            query.file_name(&Scope::All, today),
            "visits-all-2026-12-01.xlsx"
        );
        assert_eq!(
            query.file_name(&Scope::Area("530626104".into()), today),
            "visits-530626104-2026-12-01.xlsx"
        );
        let query = parse("area=530626104201&table=members").expect("valid");
        assert_eq!(
            query.file_name(&Scope::All, today),
            "visits-530626104201-2026-12-01-members.csv"
        );
        let query = parse("area=a%22%3B+b%2F..&format=jsonl").expect("valid");
        assert_eq!(
            query.file_name(&Scope::All, today),
            "visits-a___b___-2026-12-01.jsonl"
        );
    }
}
