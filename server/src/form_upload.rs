//! Reading a form someone uploads (the console's forms page, the admin
//! API): an XLSForm workbook or a JSON definition, with every problem as
//! `doorstep form check --json` lists it.

use doorstep_forms::Form;
use serde::Serialize;

/// The content type of an `.xlsx` workbook.
pub const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// One problem of a form, as `doorstep form check --json` gives it.
#[derive(Debug, Clone, Serialize)]
pub struct FormProblem {
    /// `survey`, `choices`…; empty for the workbook as a whole (and for a
    /// JSON definition).
    pub sheet: String,
    /// Spreadsheet rows (from 1); empty for a whole sheet.
    pub rows: Vec<u32>,
    pub column: Option<String>,
    pub message: String,
    /// The line a person reads.
    pub text: String,
}

impl FormProblem {
    /// A problem of the form as a whole.
    pub fn whole(message: String) -> FormProblem {
        FormProblem {
            sheet: String::new(),
            rows: Vec::new(),
            column: None,
            text: message.clone(),
            message,
        }
    }
}

/// Whether `body` is a workbook: by its content type, or because it is a
/// ZIP file.
pub fn is_workbook(content_type: &str, body: &[u8]) -> bool {
    content_type.to_ascii_lowercase().starts_with(XLSX_TYPE) || body.starts_with(b"PK\x03\x04")
}

/// The form in `body`, a workbook (`xlsx`) or a JSON definition; or every
/// problem that keeps it from importing. `name` is the uploaded file's
/// name, if known: a workbook whose settings give no form id takes its
/// stem, as `doorstep admin publish-form` does. Blocking (a workbook is
/// parsed).
pub fn read_form(body: &[u8], xlsx: bool, name: Option<&str>) -> Result<Form, Vec<FormProblem>> {
    if xlsx {
        let attachments = doorstep_forms::xlsform::Attachments::new();
        return doorstep_forms::xlsform::read_xlsx_files(body, name, &attachments).map_err(
            |error| {
                error
                    .groups()
                    .iter()
                    .map(|group| FormProblem {
                        sheet: group.sheet.clone(),
                        rows: group.rows.clone(),
                        column: group.column.clone(),
                        message: group.message.clone(),
                        text: group.to_string(),
                    })
                    .collect()
            },
        );
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|error| vec![FormProblem::whole(format!("not JSON: {error}"))])?;
    Form::from_definition(&value).map_err(|error| vec![FormProblem::whole(error.to_string())])
}
