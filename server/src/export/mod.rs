//! Exports of visits: JSON lines (each visit as stored), CSV or an XLSX
//! workbook, read from the store's cursor and written row by row, so that
//! memory stays flat however many visits there are. One implementation for
//! `doorstep admin export visits` and for the HTTP download ([`http`]).
//!
//! CSV and XLSX lay the visits out in tables whose columns come from the
//! form's definition ([`layout`]): one row per visit, and a table per
//! repeat joined by `visit_id`, as ODK Central and Kobo do. So one export
//! holds one form version: when the visits chosen are of several versions,
//! the caller must say which ([`ExportError::SeveralVersions`]; each
//! version has its own questions, and ODK Central and Kobo export per
//! version too). [`sink`] writes the tables out.
//!
//! Modules: `store` ← `export` ← (the CLI, the console, the admin API);
//! nothing in `store` knows of this one.

mod files_zip;
pub mod http;
pub mod layout;
mod query;
pub mod sink;

use std::io::Write;

use doorstep_forms::Form;

use crate::store::{FormVersionCount, ServerStore, StoreError, VisitFilter};
pub use files_zip::write_files_zip;
pub use http::{EXPORTS_AT_ONCE, visits_response};
pub use layout::{Cell, ChoiceText, Layout, Table};
pub use query::{ExportFormat, ExportQuery};
pub use sink::{CsvSink, Sink, XlsxSink};

/// Why an export could not be made. None carries personal data.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no visits match: nothing to export")]
    NoVisits,
    /// CSV and XLSX take one form version; these are the ones chosen.
    #[error("the visits chosen are of {} form versions, and each has its own columns", .0.len())]
    SeveralVersions(Vec<FormVersionCount>),
    #[error("form {form_id} version {version} is not published on this server")]
    Unpublished { form_id: String, version: String },
    /// More rows than a sheet holds.
    #[error("{0}")]
    TooManyRows(String),
    /// The output could not be written (a file, the workbook).
    #[error("{0}")]
    Write(String),
    /// Writing failed (a full disk, a closed pipe or connection).
    #[error("could not write the export: {0}")]
    Io(#[from] std::io::Error),
    /// The one who asked went away.
    #[error("the export was cancelled")]
    Cancelled,
}

impl ExportError {
    /// `each version (n visits), …`, for a message that asks for one.
    pub fn version_list(versions: &[FormVersionCount]) -> String {
        versions
            .iter()
            .map(|count| {
                format!(
                    "{} {} ({} visits)",
                    count.form_id, count.version, count.visits
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A CSV or XLSX export ready to run: the one form version the filter
/// takes and the tables of its layout.
#[derive(Debug)]
pub struct TableExport {
    /// The caller's filter, narrowed to the one form version (so that a
    /// visit of another version pushed meanwhile stays out).
    pub filter: VisitFilter,
    pub form_id: String,
    pub version: String,
    pub layout: Layout,
}

impl TableExport {
    /// Finds the one form version `filter` takes and lays out its tables.
    /// Fails, writing nothing, when no visit matches, when they are of
    /// several versions, or when the area is not found (in the scope).
    pub fn prepare(
        store: &ServerStore,
        filter: &VisitFilter,
        choices: ChoiceText,
    ) -> Result<TableExport, ExportError> {
        let versions = store.export_form_versions(filter)?;
        let version = match versions.as_slice() {
            [] => return Err(ExportError::NoVisits),
            [one] => one.clone(),
            _ => return Err(ExportError::SeveralVersions(versions)),
        };
        let form: Form = store
            .published_form(&version.form_id, &version.version)?
            .ok_or_else(|| ExportError::Unpublished {
                form_id: version.form_id.clone(),
                version: version.version.clone(),
            })?;
        Ok(TableExport {
            filter: VisitFilter {
                form_version: Some(version.version.clone()),
                ..filter.clone()
            },
            form_id: version.form_id,
            version: version.version,
            layout: Layout::new(&form, choices),
        })
    }

    /// Writes every visit's rows to `sink`, one visit at a time; returns
    /// how many visits. The sink is not finished.
    pub fn write(&self, store: &ServerStore, sink: &mut dyn Sink) -> Result<u64, ExportError> {
        let mut failure = None;
        let count = store.export_visits_where(&self.filter, &mut |visit, village, missing| {
            self.layout
                .rows(&visit, village, missing, &mut |table, cells| {
                    sink.row(table, cells)
                })
                .map_err(|error| {
                    let text = error.to_string();
                    failure = Some(error);
                    std::io::Error::other(text)
                })
        });
        if let Some(error) = failure {
            return Err(error);
        }
        Ok(count?)
    }
}

/// Writes the visits `filter` takes as JSON lines (each visit as stored,
/// with `files_missing`: how many of the files it names have not
/// arrived); returns how many.
pub fn write_jsonl(
    store: &ServerStore,
    filter: &VisitFilter,
    out: &mut dyn Write,
) -> Result<u64, ExportError> {
    let mut failure = None;
    let count = store.export_visits_where(filter, &mut |visit, _, missing| {
        let mut line = serde_json::to_value(&visit).map_err(std::io::Error::from)?;
        if let Some(object) = line.as_object_mut() {
            object.insert("files_missing".into(), missing.into());
        }
        serde_json::to_writer(&mut *out, &line)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
            .inspect_err(|error| {
                failure = Some(std::io::Error::new(error.kind(), error.to_string()));
            })
    });
    if let Some(error) = failure {
        return Err(ExportError::Io(error));
    }
    Ok(count?)
}
