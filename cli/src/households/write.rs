//! The export side of the CSV: [`write_csv`] writes the header and the rows
//! in the struct's field order. Its bytes are what `doorstep gen households`
//! prints, so they must not change for the same rows.

use std::io::Write;

use super::{COLUMNS, HouseholdRow};

/// Writes the rows as CSV with a header row, columns in the struct's order.
pub fn write_csv<W: Write>(rows: &[HouseholdRow], out: W) -> Result<(), csv::Error> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(out);
    writer.write_record(COLUMNS)?;
    for row in rows {
        writer.serialize(row)?;
    }
    writer.flush()?;
    Ok(())
}
