//! The files of an export as one ZIP (the console's and the admin API's
//! `format=files`): every arrived file the chosen visits name, as
//! `<sha256>.<ext>` (the name the CSV, XLSX and JSON lines give in the
//! answer's column), and `files.csv` listing them with their media type
//! and size. Written as a stream (no seeking back), the files stored
//! without compression: photos and recordings are compressed already.

use std::io::Write;

use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

use super::ExportError;
use crate::files::{Files, extension};
use crate::store::FileRecord;

/// Writes the ZIP of `list` to `out`; returns how many files it holds.
pub fn write_files_zip(
    files: &Files,
    list: &[FileRecord],
    out: &mut dyn Write,
) -> Result<u64, ExportError> {
    let zip_error = |error: zip::result::ZipError| ExportError::Write(error.to_string());
    let mut zip = zip::ZipWriter::new_stream(out);
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .large_file(false);
    let mut manifest = String::from("file,sha256,media_type,size\n");
    for file in list {
        let name = format!("{}.{}", file.sha256, extension(&file.media_type));
        let mut reader = files.store.open(&file.sha256, file.size)?;
        zip.start_file(name.as_str(), options).map_err(zip_error)?;
        let copied = std::io::copy(&mut reader, &mut zip)?;
        if copied != file.size {
            return Err(ExportError::Write(format!(
                "file {} held {copied} bytes, not {}",
                file.sha256, file.size
            )));
        }
        // The media type was sanitised when the file was kept: no comma,
        // no quote, no line break.
        manifest.push_str(&format!(
            "{name},{},{},{}\n",
            file.sha256, file.media_type, file.size
        ));
    }
    zip.start_file("files.csv", SimpleFileOptions::default())
        .map_err(zip_error)?;
    zip.write_all(manifest.as_bytes())?;
    zip.finish().map_err(zip_error)?;
    Ok(list.len() as u64)
}
