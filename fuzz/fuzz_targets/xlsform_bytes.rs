//! Arbitrary bytes as an .xlsx file: the importer answers with problems,
//! never a panic (a spreadsheet comes from anyone's laptop).
#![no_main]

use doorstep_forms::xlsform::read_xlsx_bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = read_xlsx_bytes(bytes);
});
