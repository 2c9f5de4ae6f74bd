//! Arbitrary sheets (as the rows a spreadsheet holds) through the XLSForm
//! importer: every input is a form or a list of problems, never a panic.
#![no_main]

use doorstep_forms::xlsform::from_sheets;
use libfuzzer_sys::fuzz_target;

/// Cells drawn mostly from XLSForm's own vocabulary, so the fuzzer reaches
/// deep into the importer instead of stopping at the header row.
const WORDS: [&str; 40] = [
    "type", "name", "label", "label::zh-CN", "hint", "required", "relevant", "constraint",
    "constraint_message", "calculation", "default", "appearance", "list_name", "form_id", "version",
    "form_title", "text", "integer", "decimal", "select_one yes_no", "select_multiple yes_no", "date",
    "geopoint", "note", "calculate", "image", "begin_group", "end_group", "begin_repeat", "end_repeat",
    "yes", "no", "${a}", "${b} > 1", ". >= 0", "count(${r})", "a", "b", "r", "yes_no",
];

fn sheet(cells: &[(u8, u8, u8, String)]) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = vec![Vec::new(); 12];
    for (row, column, word, free) in cells {
        let row = &mut rows[usize::from(*row) % 12];
        let column = usize::from(*column) % 10;
        if row.len() <= column {
            row.resize(column + 1, String::new());
        }
        row[column] = if *word < 200 { WORDS[usize::from(*word) % WORDS.len()].to_string() } else { free.clone() };
    }
    rows
}

fuzz_target!(|input: (Vec<(u8, u8, u8, String)>, Vec<(u8, u8, u8, String)>, Vec<(u8, u8, u8, String)>)| {
    let (settings, survey, choices) = input;
    if let Ok(form) = from_sheets(&sheet(&settings), &sheet(&survey), &sheet(&choices)) {
        let definition = form.to_definition();
        doorstep_forms::Form::from_definition(&definition).expect("an imported form's definition reads back");
    }
});
