//! Where the export's rows go: CSV (a file per table, or one table to any
//! writer, such as an HTTP response), or one XLSX workbook with a sheet per
//! table. Both write each row as it comes: the CSV through buffered
//! writers, the workbook's sheets in rust_xlsxwriter's constant-memory mode
//! (each sheet's rows go to its own temporary file beside the output as
//! soon as the next row starts; the workbook is zipped from them at the
//! end, so it is whole only then).

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rust_xlsxwriter::{Workbook, XlsxError};

use super::ExportError;
use super::layout::{Cell, Table};

/// Excel's most rows in a sheet.
const XLSX_MAX_ROWS: u32 = 1_048_576;
/// Excel's longest sheet name.
const SHEET_NAME_CHARS: usize = 31;

/// Where rows go, table by table.
pub trait Sink {
    fn row(&mut self, table: usize, cells: &[Cell]) -> Result<(), ExportError>;
    /// Finishes the output; returns where it went (files, or the label
    /// given for a writer).
    fn finish(self: Box<Self>) -> Result<Vec<PathBuf>, ExportError>;
}

type CsvWriter<'w> = csv::Writer<Box<dyn Write + 'w>>;

/// CSV: one file per table (`visits.csv`, `visits-members.csv`…), or one
/// table to a writer.
pub struct CsvSink<'w> {
    /// Per table, where its rows go; `None` for a table left out.
    writers: Vec<Option<(PathBuf, CsvWriter<'w>)>>,
    /// Text that a spreadsheet would take for a formula gets a `'` first
    /// ([`CsvSink::for_spreadsheets`]).
    defuse_formulas: bool,
}

impl std::fmt::Debug for CsvSink<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CsvSink")
            .field("tables", &self.writers.len())
            .finish_non_exhaustive()
    }
}

impl<'w> CsvSink<'w> {
    /// Files beside `out` (or stdout, when there is only the visits' table
    /// and no `out`).
    pub fn files(out: Option<&Path>, tables: &[Table]) -> Result<CsvSink<'w>, ExportError> {
        let mut writers = Vec::new();
        for (index, table) in tables.iter().enumerate() {
            let (path, output): (PathBuf, Box<dyn Write + 'w>) = match out {
                Some(out) => {
                    let path = if index == 0 {
                        out.to_path_buf()
                    } else {
                        sibling(out, &table.name)
                    };
                    let file = File::create(&path).map_err(|error| {
                        ExportError::Write(format!("could not create {}: {error}", path.display()))
                    })?;
                    (path, Box::new(BufWriter::with_capacity(1 << 16, file)))
                }
                None => ("stdout".into(), Box::new(std::io::stdout().lock())),
            };
            writers.push(Some((path, header(output, table)?)));
        }
        Ok(CsvSink {
            writers,
            defuse_formulas: false,
        })
    }

    /// Only table `index` of `tables`, to `output` (`label` names it in
    /// [`Sink::finish`]'s answer); the other tables' rows are dropped.
    pub fn one(
        tables: &[Table],
        index: usize,
        label: impl Into<PathBuf>,
        output: Box<dyn Write + 'w>,
    ) -> Result<CsvSink<'w>, ExportError> {
        let mut writers: Vec<Option<(PathBuf, CsvWriter<'w>)>> =
            tables.iter().map(|_| None).collect();
        let table = tables
            .get(index)
            .ok_or_else(|| ExportError::Write(format!("no table number {index}")))?;
        writers[index] = Some((label.into(), header(output, table)?));
        Ok(CsvSink {
            writers,
            defuse_formulas: false,
        })
    }

    /// For a file that people open in Excel or WPS: a text cell that starts
    /// like a formula (`=`, `+`, `-`, `@`, a tab or a carriage return) gets
    /// a `'` before it, so that the spreadsheet shows it instead of running
    /// it (answers come from devices, and a device can be hostile; OWASP's
    /// "CSV injection"). Numbers stay numbers. An XLSX cell is a string and
    /// never a formula, so the workbook needs none of this.
    pub fn for_spreadsheets(mut self) -> CsvSink<'w> {
        self.defuse_formulas = true;
        self
    }
}

fn looks_like_formula(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// A CSV writer on `output` with `table`'s header written.
fn header<'w>(output: Box<dyn Write + 'w>, table: &Table) -> Result<CsvWriter<'w>, ExportError> {
    let mut writer = csv::Writer::from_writer(output);
    writer.write_record(&table.header).map_err(csv_error)?;
    Ok(writer)
}

fn csv_error(error: csv::Error) -> ExportError {
    if !error.is_io_error() {
        return ExportError::Write(format!("could not write the CSV: {error}"));
    }
    match error.into_kind() {
        csv::ErrorKind::Io(error) => ExportError::Io(error),
        other => ExportError::Write(format!("could not write the CSV: {other:?}")),
    }
}

/// `visits.csv` → `visits-members.csv`.
fn sibling(out: &Path, table: &str) -> PathBuf {
    let stem = out
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or("visits");
    let name = match out.extension().and_then(|extension| extension.to_str()) {
        Some(extension) => format!("{stem}-{table}.{extension}"),
        None => format!("{stem}-{table}"),
    };
    out.with_file_name(name)
}

impl Sink for CsvSink<'_> {
    fn row(&mut self, table: usize, cells: &[Cell]) -> Result<(), ExportError> {
        let Some((_, writer)) = self.writers.get_mut(table).and_then(Option::as_mut) else {
            return Ok(());
        };
        let mut number = String::new();
        for cell in cells {
            match cell {
                Cell::Empty => writer.write_field("").map_err(csv_error)?,
                Cell::Text(text) if self.defuse_formulas && looks_like_formula(text) => {
                    writer.write_field(format!("'{text}")).map_err(csv_error)?
                }
                Cell::Text(text) => writer.write_field(text).map_err(csv_error)?,
                Cell::Number(value) => {
                    number.clear();
                    use std::fmt::Write as _;
                    let _ = write!(number, "{value}");
                    writer.write_field(&number).map_err(csv_error)?;
                }
            }
        }
        writer.write_record(None::<&[u8]>).map_err(csv_error)?;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Vec<PathBuf>, ExportError> {
        let mut paths = Vec::new();
        for (path, mut writer) in self.writers.into_iter().flatten() {
            writer.flush()?;
            paths.push(path);
        }
        Ok(paths)
    }
}

/// One workbook, a sheet per table, every sheet in constant-memory mode.
pub struct XlsxSink {
    workbook: Workbook,
    path: PathBuf,
    rows: Vec<u32>,
    names: Vec<String>,
}

impl std::fmt::Debug for XlsxSink {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("XlsxSink")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl XlsxSink {
    /// A workbook to be saved at `out`; the sheets' temporary files go to
    /// `out`'s directory.
    pub fn new(out: &Path, tables: &[Table]) -> Result<XlsxSink, ExportError> {
        let mut workbook = Workbook::new();
        // The sheets' temporary files go beside the output, not to a /tmp
        // that may be memory.
        let directory = match out.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        workbook.set_tempdir(&directory).map_err(xlsx)?;
        let mut used = HashSet::new();
        let mut names = Vec::new();
        for table in tables {
            let name = sheet_name(&table.name, &mut used);
            let sheet = workbook
                .add_worksheet_with_constant_memory()
                .map_err(xlsx)?;
            sheet.set_name(&name).map_err(xlsx)?;
            for (column, title) in table.header.iter().enumerate() {
                sheet
                    .write_string(0, column_index(column)?, title)
                    .map_err(xlsx)?;
            }
            names.push(name);
        }
        Ok(XlsxSink {
            workbook,
            path: out.to_path_buf(),
            rows: vec![1; tables.len()],
            names,
        })
    }
}

fn xlsx(error: XlsxError) -> ExportError {
    ExportError::Write(format!("could not write the workbook: {error}"))
}

fn column_index(column: usize) -> Result<u16, ExportError> {
    u16::try_from(column).map_err(|_| ExportError::Write("too many columns for a sheet".into()))
}

/// A sheet name Excel accepts: at most 31 characters, none of `[]:*?/\`,
/// unique in the workbook (in any case).
pub fn sheet_name(table: &str, used: &mut HashSet<String>) -> String {
    let clean: String = table
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { '_' } else { c })
        .collect();
    let clean = clean.trim_matches('\'');
    let clean = if clean.is_empty() { "sheet" } else { clean };
    let mut suffix = 1;
    loop {
        let tail = if suffix == 1 {
            String::new()
        } else {
            format!("~{suffix}")
        };
        let keep = SHEET_NAME_CHARS - tail.chars().count();
        let name: String = clean.chars().take(keep).chain(tail.chars()).collect();
        if used.insert(name.to_lowercase()) {
            return name;
        }
        suffix += 1;
    }
}

impl Sink for XlsxSink {
    fn row(&mut self, table: usize, cells: &[Cell]) -> Result<(), ExportError> {
        let row = self.rows[table];
        if row >= XLSX_MAX_ROWS {
            return Err(ExportError::TooManyRows(format!(
                "sheet {} would pass Excel's {XLSX_MAX_ROWS} rows: export fewer visits (by area or days) or as CSV",
                self.names[table]
            )));
        }
        let sheet = self.workbook.worksheet_from_index(table).map_err(xlsx)?;
        for (column, cell) in cells.iter().enumerate() {
            let column = column_index(column)?;
            match cell {
                Cell::Empty => {}
                Cell::Text(text) => {
                    sheet.write_string(row, column, text).map_err(xlsx)?;
                }
                Cell::Number(value) => {
                    sheet.write_number(row, column, *value).map_err(xlsx)?;
                }
            }
        }
        self.rows[table] = row + 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<PathBuf>, ExportError> {
        self.workbook.save(&self.path).map_err(xlsx)?;
        Ok(vec![self.path])
    }
}
