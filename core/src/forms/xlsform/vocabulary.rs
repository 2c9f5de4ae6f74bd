//! The words of XLSForm: what a `type` cell and a column header mean, and
//! which of them this version does not read yet.

use super::sheets::{CHOICES, SETTINGS, SURVEY};
use crate::forms::{Labels, QuestionKind};

const SUPPORTED_TYPES: &str = "text, integer, decimal, select_one LIST";

/// Question types of XLSForm that this version does not read yet.
const LATER_TYPES: &[&str] = &[
    "note",
    "select_multiple",
    "select_one_from_file",
    "select_multiple_from_file",
    "rank",
    "date",
    "time",
    "datetime",
    "geopoint",
    "geotrace",
    "geoshape",
    "image",
    "audio",
    "background-audio",
    "video",
    "file",
    "barcode",
    "calculate",
    "acknowledge",
    "hidden",
    "range",
    "begin_group",
    "end_group",
    "begin_repeat",
    "end_repeat",
    "begin",
    "end",
    "start",
    "today",
    "deviceid",
    "phonenumber",
    "username",
    "email",
    "audit",
    "trigger",
    "xml-external",
    "csv-external",
    "start-geopoint",
    "subscriberid",
    "simserial",
];

/// Columns of XLSForm that carry meaning this version cannot honour yet.
const LATER_COLUMNS: &[&str] = &[
    "relevant",
    "constraint",
    "constraint_message",
    "calculation",
    "default",
    "readonly",
    "read_only",
    "appearance",
    "choice_filter",
    "parameters",
    "repeat_count",
    "trigger",
    "required_message",
    "guidance_hint",
    "image",
    "audio",
    "video",
    "big-image",
    "media",
    "instance_name",
    "style",
    "public_key",
    "submission_url",
    "allow_choice_duplicates",
    "namespaces",
    "clean_text_values",
    "auto_send",
    "auto_delete",
    "omit_instanceid",
    "bind",
    "body",
    "instance",
];

/// What a column of a sheet means.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Meaning {
    Type,
    Name,
    ListName,
    Required,
    /// A label in a language (the key it is stored under).
    Label(String),
    Hint(String),
    FormId,
    Version,
    FormTitle,
    DefaultLanguage,
    /// A value in it is an error, with this message.
    Refused(String),
}

/// Reads a `required` cell; `None` when it is not a yes or a no.
pub(super) fn required(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "no" | "false" | "0" | "false()" => Some(false),
        "yes" | "true" | "1" | "true()" => Some(true),
        _ => None,
    }
}

/// Reads a `type` cell.
pub(super) fn question_kind(text: &str) -> Result<QuestionKind, String> {
    let lowered = text.to_ascii_lowercase();
    let words: Vec<&str> = lowered.split_whitespace().collect();
    // The list name keeps its case; only the keywords are case-blind.
    let list = || QuestionKind::SelectOne {
        list: text
            .split_whitespace()
            .last()
            .unwrap_or_default()
            .to_owned(),
    };
    match words.as_slice() {
        [] => Err("the type is missing".into()),
        ["text"] => Ok(QuestionKind::Text),
        ["integer" | "int"] => Ok(QuestionKind::Integer),
        ["decimal"] => Ok(QuestionKind::Decimal),
        ["select_one"] | ["select", "one"] => {
            Err("select_one needs a choice list: `select_one LIST`".into())
        }
        ["select_one", _] | ["select", "one", _] => Ok(list()),
        ["select_one" | "select", ..] => Err(format!(
            "type `{text}` is not supported yet: write `select_one LIST` with one list name"
        )),
        [first, ..] if LATER_TYPES.contains(first) => Err(format!(
            "type `{text}` is not supported yet; supported now: {SUPPORTED_TYPES}"
        )),
        _ => Err(format!(
            "unknown type `{text}`; supported now: {SUPPORTED_TYPES}"
        )),
    }
}

/// What the header `text` of a column in `sheet` means.
pub(super) fn meaning(sheet: &str, text: &str, label_default: Option<&str>) -> Meaning {
    let (base, language) = match text.split_once("::") {
        Some((base, language)) => (
            base.trim().to_ascii_lowercase(),
            Some(language_key(language)).filter(|language| !language.is_empty()),
        ),
        None => (text.to_ascii_lowercase(), None),
    };
    let in_language = || {
        language
            .clone()
            .or(label_default.map(str::to_owned))
            .unwrap_or_else(|| Labels::DEFAULT.to_owned())
    };
    match (sheet, base.as_str()) {
        (_, "") => Meaning::Refused("a value in a column without a header".into()),
        (SURVEY | CHOICES, "label") => Meaning::Label(in_language()),
        (SURVEY, "hint") => Meaning::Hint(in_language()),
        (SURVEY | CHOICES, "name") if language.is_none() => Meaning::Name,
        (SURVEY, "type") if language.is_none() => Meaning::Type,
        (SURVEY, "required") if language.is_none() => Meaning::Required,
        (CHOICES, "list_name" | "list name") if language.is_none() => Meaning::ListName,
        (SETTINGS, "form_id") => Meaning::FormId,
        (SETTINGS, "version") => Meaning::Version,
        (SETTINGS, "form_title") => Meaning::FormTitle,
        (SETTINGS, "default_language") => Meaning::DefaultLanguage,
        (_, base) if LATER_COLUMNS.contains(&base) || base.contains(':') => Meaning::Refused(
            format!("column `{text}` is not supported yet; remove it or leave it empty"),
        ),
        _ => Meaning::Refused(format!(
            "unknown column `{text}`; remove it or leave it empty"
        )),
    }
}

/// The key a language column is stored under: the code in brackets when
/// there is one (`English (en)` → `en`), else the text (`zh-CN`).
pub(super) fn language_key(text: &str) -> String {
    let text = text.trim();
    if let Some(inner) = text
        .strip_suffix(')')
        .and_then(|rest| rest.rsplit_once('('))
        .map(|(_, code)| code.trim())
        && !inner.is_empty()
    {
        return inner.to_owned();
    }
    text.to_owned()
}

/// `0` → `A`, `25` → `Z`, `26` → `AA`.
pub(super) fn column_letter(index: usize) -> String {
    let mut letters = Vec::new();
    let mut rest = index + 1;
    while rest > 0 {
        let digit = (rest - 1) % 26;
        letters.push(char::from(b'A' + digit as u8));
        rest = (rest - 1) / 26;
    }
    letters.iter().rev().collect()
}
