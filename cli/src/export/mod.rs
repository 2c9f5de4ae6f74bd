//! `doorstep admin export visits`: the visits as JSON lines (the default),
//! CSV files or an XLSX workbook, read from a cursor and written row by row
//! so that memory stays flat however many visits there are.
//!
//! CSV and XLSX lay the visits out in tables whose columns come from the
//! form's definition ([`layout`]), so one export holds one form version:
//! when the visits chosen are of several versions, `--form-version` must
//! say which (each version has its own questions, and ODK Central and Kobo
//! export per version too).

mod layout;
mod sink;

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, ValueEnum};
use doorstep_server::ServerStore;
use doorstep_server::store::VisitFilter;

use crate::output::invalid;
use layout::{ChoiceText, Layout};
use sink::{CsvSink, Sink, XlsxSink};

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
    Ok(())
}

fn export_jsonl(
    store: &ServerStore,
    filter: &VisitFilter,
    out: &mut dyn Write,
) -> anyhow::Result<u64> {
    Ok(store.export_visits_where(filter, &mut |visit, _| {
        serde_json::to_writer(&mut *out, &visit)?;
        out.write_all(b"\n")
    })?)
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
    let versions = store.export_form_versions(filter)?;
    let version = match versions.as_slice() {
        [] => return Err(invalid("no visits match: nothing to export")),
        [one] => one,
        several => {
            let list: Vec<String> = several
                .iter()
                .map(|count| {
                    format!(
                        "{} {} ({} visits)",
                        count.form_id, count.version, count.visits
                    )
                })
                .collect();
            return Err(invalid(format!(
                "the visits chosen are of {} form versions, and each has its own columns: give --form-version (one of: {})",
                several.len(),
                list.join(", ")
            )));
        }
    };
    let form = store
        .published_form(&version.form_id, &version.version)?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "form {} version {} is not published on this server",
                version.form_id,
                version.version
            )
        })?;
    let choices = match args.choices {
        Choices::Names => ChoiceText::Names,
        Choices::Labels => ChoiceText::Labels,
    };
    let layout = Layout::new(&form, choices);
    let mut sink: Box<dyn Sink> = match args.format {
        ExportFormat::Xlsx => {
            let out = args.out.as_deref().context("--out")?;
            Box::new(XlsxSink::new(out, &layout.tables)?)
        }
        _ => {
            if args.out.is_none() && layout.tables.len() > 1 {
                return Err(invalid(
                    "the form has repeats, so the CSV export is several files: give --out FILE.csv",
                ));
            }
            Box::new(CsvSink::new(args.out.as_deref(), &layout.tables)?)
        }
    };
    let mut failure = None;
    let count = store.export_visits_where(filter, &mut |visit, village| {
        layout
            .rows(&visit, village, &mut |table, cells| sink.row(table, cells))
            .map_err(|error| {
                let text = error.to_string();
                failure = Some(error);
                std::io::Error::other(text)
            })
    });
    if let Some(error) = failure {
        return Err(error);
    }
    let count = count?;
    let paths = sink.finish()?;
    let names: Vec<String> = paths
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    eprintln!(
        "exported {count} visits of {} version {}: {}",
        version.form_id,
        version.version,
        names.join(", ")
    );
    Ok(())
}
