//! Where the export's rows go: one CSV file per table, or one XLSX
//! workbook with a sheet per table. Both write each row as it comes: the
//! CSV files through buffered writers, the workbook's sheets in
//! rust_xlsxwriter's constant-memory mode (each sheet's rows go to its own
//! temporary file beside the output as soon as the next row starts; the
//! workbook is zipped from them at the end).

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rust_xlsxwriter::{Workbook, XlsxError};

use super::layout::{Cell, Table};

/// Excel's most rows in a sheet.
const XLSX_MAX_ROWS: u32 = 1_048_576;
/// Excel's longest sheet name.
const SHEET_NAME_CHARS: usize = 31;

pub trait Sink {
    fn row(&mut self, table: usize, cells: &[Cell]) -> anyhow::Result<()>;
    /// Finishes the files; returns their paths.
    fn finish(self: Box<Self>) -> anyhow::Result<Vec<PathBuf>>;
}

/// One CSV file per table: `visits.csv`, `visits-members.csv`…
pub struct CsvSink {
    writers: Vec<(PathBuf, csv::Writer<Box<dyn Write>>)>,
}

impl CsvSink {
    /// Files beside `out` (or stdout, when there is only the visits' table
    /// and no `out`).
    pub fn new(out: Option<&Path>, tables: &[Table]) -> anyhow::Result<CsvSink> {
        let mut writers = Vec::new();
        for (index, table) in tables.iter().enumerate() {
            let (path, output): (PathBuf, Box<dyn Write>) = match out {
                Some(out) => {
                    let path = if index == 0 {
                        out.to_path_buf()
                    } else {
                        sibling(out, &table.name)
                    };
                    let file = File::create(&path)
                        .with_context(|| format!("could not create {}", path.display()))?;
                    (path, Box::new(BufWriter::with_capacity(1 << 16, file)))
                }
                None => ("stdout".into(), Box::new(std::io::stdout().lock())),
            };
            let mut writer = csv::Writer::from_writer(output);
            writer.write_record(&table.header)?;
            writers.push((path, writer));
        }
        Ok(CsvSink { writers })
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

impl Sink for CsvSink {
    fn row(&mut self, table: usize, cells: &[Cell]) -> anyhow::Result<()> {
        let mut number = String::new();
        let writer = &mut self.writers[table].1;
        for cell in cells {
            match cell {
                Cell::Empty => writer.write_field("")?,
                Cell::Text(text) => writer.write_field(text)?,
                Cell::Number(value) => {
                    number.clear();
                    use std::fmt::Write as _;
                    write!(number, "{value}")?;
                    writer.write_field(&number)?;
                }
            }
        }
        writer.write_record(None::<&[u8]>)?;
        Ok(())
    }

    fn finish(self: Box<Self>) -> anyhow::Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        for (path, mut writer) in self.writers {
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

impl XlsxSink {
    pub fn new(out: &Path, tables: &[Table]) -> anyhow::Result<XlsxSink> {
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

fn xlsx(error: XlsxError) -> anyhow::Error {
    anyhow::anyhow!("could not write the workbook: {error}")
}

fn column_index(column: usize) -> anyhow::Result<u16> {
    u16::try_from(column).context("too many columns for a sheet")
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
    fn row(&mut self, table: usize, cells: &[Cell]) -> anyhow::Result<()> {
        let row = self.rows[table];
        if row >= XLSX_MAX_ROWS {
            anyhow::bail!(
                "sheet {} would pass Excel's {XLSX_MAX_ROWS} rows: export fewer visits (--area, --since, --until) or as CSV",
                self.names[table]
            );
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

    fn finish(mut self: Box<Self>) -> anyhow::Result<Vec<PathBuf>> {
        self.workbook.save(&self.path).map_err(xlsx)?;
        Ok(vec![self.path])
    }
}
