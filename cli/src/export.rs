//! `doorstep admin export visits`: the visits as JSON lines (the default),
//! CSV files or an XLSX workbook, read from a cursor and written row by row
//! so that memory stays flat however many visits there are. The tables and
//! writers are the server's (`doorstep_server::export`, shared with the
//! HTTP download); this module is the command's flags, files and messages.
//!
//! CSV and XLSX lay the visits out in tables whose columns come from the
//! form's definition, so one export holds one form version: when the
//! visits chosen are of several versions, `--form-version` must say which
//! (each version has its own questions, and ODK Central and Kobo export per
//! version too). An operator at the server's shell sees every area.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, ValueEnum};
use doorstep_server::ServerStore;
use doorstep_server::export::{
    ChoiceText, CsvSink, ExportError, Sink, TableExport, XlsxSink, write_jsonl,
};
use doorstep_server::files::{FileStore, FsFileStore};
use doorstep_server::store::{Scope, VisitFilter};

use crate::output::invalid;

#[derive(Debug, Args)]
pub struct VisitsExport {
    /// jsonl: one JSON object per visit, as stored. csv: one file per
    /// table (`--out visits.csv` also writes `visits-members.csv`, … one
    /// per repeat). xlsx: one workbook, a sheet per table; needs --out.
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    format: ExportFormat,
    /// Write to this file instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only visits of households in this county, township or village
    /// (its code).
    #[arg(long)]
    area: Option<String>,
    /// Only visits recorded on or after this day (YYYY-MM-DD, UTC).
    #[arg(long, value_parser = parse_day)]
    since: Option<NaiveDate>,
    /// Only visits recorded on or before this day (YYYY-MM-DD, UTC).
    #[arg(long, value_parser = parse_day)]
    until: Option<NaiveDate>,
    /// Only visits filled in with this form version. CSV and XLSX need it
    /// when the visits chosen are of several versions.
    #[arg(long)]
    form_version: Option<String>,
    /// CSV and XLSX: write selects' answers as choice names or as labels
    /// (in the form's default language).
    #[arg(long, value_enum, default_value_t = Choices::Names)]
    choices: Choices,
    /// Also copy every arrived file the exported visits name (photos,
    /// audio notes) to DIR/<sha256>.<ext> (created if missing); the
    /// answers name them by their sha256.
    #[arg(long, value_name = "DIR")]
    files: Option<PathBuf>,
    /// Where the server keeps files (its `serve --files`): a directory,
    /// or s3://BUCKET/PREFIX with the same environment as the server's.
    /// [default: a directory `files` beside the --db file]
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    files_store: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
    Jsonl,
    Csv,
    Xlsx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Choices {
    Names,
    Labels,
}

fn parse_day(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("{text:?} is no day: write YYYY-MM-DD"))
}

fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

impl VisitsExport {
    fn filter(&self) -> anyhow::Result<VisitFilter> {
        if let (Some(since), Some(until)) = (self.since, self.until)
            && until < since
        {
            return Err(invalid("--until is before --since"));
        }
        Ok(VisitFilter {
            scope: Scope::All,
            area: self.area.as_ref().map(|code| code.trim().to_string()),
            since: self.since.map(start_of),
            until: self.until.and_then(|day| day.succ_opt()).map(start_of),
            form_version: self.form_version.clone(),
        })
    }
}

pub fn run(store: &ServerStore, args: &VisitsExport) -> anyhow::Result<()> {
    let filter = args.filter()?;
    match args.format {
        ExportFormat::Jsonl => {
            let count = match &args.out {
                Some(path) => {
                    let file = File::create(path)
                        .with_context(|| format!("could not create {}", path.display()))?;
                    let mut writer = BufWriter::new(file);
                    let count = export_jsonl(store, &filter, &mut writer)?;
                    writer.flush()?;
                    count
                }
                None => export_jsonl(store, &filter, &mut std::io::stdout().lock())?,
            };
            eprintln!("exported {count} visits");
        }
        ExportFormat::Csv | ExportFormat::Xlsx => export_tables(store, args, &filter)?,
    }
    if let Some(directory) = &args.files {
        let from = args
            .files_store
            .clone()
            .unwrap_or_else(|| doorstep_server::files::default_directory(store.path()));
        copy_files(store, &filter, &from, directory)?;
    }
    Ok(())
}

/// Copies the arrived files the visits name to `directory`, one line of
/// progress on stderr a file (ids and sizes only).
fn copy_files(
    store: &ServerStore,
    filter: &VisitFilter,
    from: &std::path::Path,
    directory: &std::path::Path,
) -> anyhow::Result<()> {
    let files = store.export_files(filter)?;
    std::fs::create_dir_all(directory)
        .with_context(|| format!("could not create {}", directory.display()))?;
    // A bucket's blocking reads run their requests on this runtime, which
    // lives until the copy is done.
    let mut runtime = None;
    let kept: Arc<dyn FileStore> = match from
        .to_str()
        .filter(|from| doorstep_server::files::is_object_store(from))
    {
        Some(bucket) => {
            let started = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .context("could not start the async runtime")?;
            let store = started
                .block_on(doorstep_server::files::connect_store(bucket))
                .map_err(crate::output::file_store_error)?;
            runtime = Some(started);
            store
        }
        None => Arc::new(FsFileStore::new(from)),
    };
    let total = files.len();
    let mut bytes = 0;
    for (index, file) in files.iter().enumerate() {
        let target = directory.join(format!(
            "{}.{}",
            file.sha256,
            doorstep_server::files::extension(&file.media_type)
        ));
        let mut reader = kept.open(&file.sha256, file.size).with_context(|| {
            format!(
                "could not read file {} from {}",
                file.sha256,
                from.display()
            )
        })?;
        let mut writer = BufWriter::new(
            File::create(&target)
                .with_context(|| format!("could not create {}", target.display()))?,
        );
        bytes += std::io::copy(&mut reader, &mut writer)?;
        writer.flush()?;
        eprint!("\rfiles: {}/{total}", index + 1);
    }
    if total > 0 {
        eprintln!();
    }
    eprintln!(
        "copied {total} files ({bytes} bytes) to {}",
        directory.display()
    );
    drop(runtime);
    Ok(())
}

fn export_jsonl(
    store: &ServerStore,
    filter: &VisitFilter,
    out: &mut dyn Write,
) -> anyhow::Result<u64> {
    write_jsonl(store, filter, out).map_err(command_error)
}

/// An export's failure as the command reports it: the filters' mistakes
/// are the caller's (exit code 5), in the command's words.
fn command_error(error: ExportError) -> anyhow::Error {
    match error {
        ExportError::Store(error) => error.into(),
        ExportError::NoVisits => invalid("no visits match: nothing to export"),
        ExportError::SeveralVersions(versions) => invalid(format!(
            "the visits chosen are of {} form versions, and each has its own columns: give --form-version (one of: {})",
            versions.len(),
            ExportError::version_list(&versions)
        )),
        other => other.into(),
    }
}

fn export_tables(
    store: &ServerStore,
    args: &VisitsExport,
    filter: &VisitFilter,
) -> anyhow::Result<()> {
    if args.format == ExportFormat::Xlsx {
        match &args.out {
            None if std::io::stdout().is_terminal() => {
                return Err(invalid("an XLSX workbook is binary: give --out FILE.xlsx"));
            }
            None => return Err(invalid("--format xlsx needs --out FILE.xlsx")),
            Some(_) => {}
        }
    }
    let choices = match args.choices {
        Choices::Names => ChoiceText::Names,
        Choices::Labels => ChoiceText::Labels,
    };
    let export = TableExport::prepare(store, filter, choices).map_err(command_error)?;
    let layout = &export.layout;
    let mut sink: Box<dyn Sink> = match args.format {
        ExportFormat::Xlsx => {
            let out = args.out.as_deref().context("--out")?;
            Box::new(XlsxSink::new(out, &layout.tables).map_err(command_error)?)
        }
        _ => {
            if args.out.is_none() && layout.tables.len() > 1 {
                return Err(invalid(
                    "the form has repeats, so the CSV export is several files: give --out FILE.csv",
                ));
            }
            Box::new(CsvSink::files(args.out.as_deref(), &layout.tables).map_err(command_error)?)
        }
    };
    let count = export.write(store, sink.as_mut()).map_err(command_error)?;
    let paths = sink.finish().map_err(command_error)?;
    let names: Vec<String> = paths
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    eprintln!(
        "exported {count} visits of {} version {}: {}",
        export.form_id,
        export.version,
        names.join(", ")
    );
    Ok(())
}
