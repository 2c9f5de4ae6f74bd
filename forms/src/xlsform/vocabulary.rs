//! The words of XLSForm: what a `type` cell and a column header mean, and
//! which of them this version does not read yet.

use super::sheets::{CHOICES, SETTINGS, SURVEY};
use crate::{Labels, QuestionKind};

const SUPPORTED_TYPES: &str = "text, integer, decimal, select_one LIST, select_multiple LIST, \
     date, geopoint, note, calculate, image, begin_group/end_group, begin_repeat/end_repeat";

/// Question types of XLSForm that this version does not read yet.
const LATER_TYPES: &[&str] = &[
    "select_one_from_file",
    "select_multiple_from_file",
    "rank",
    "time",
    "datetime",
    "geotrace",
    "geoshape",
    "audio",
    "background-audio",
    "video",
    "file",
    "barcode",
    "acknowledge",
    "hidden",
    "range",
    "start",
    "end",
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
    "readonly",
    "read_only",
    "choice_filter",
    "parameters",
    "repeat_count",
    "trigger",
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

/// The columns that hold a text in some language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Text {
    Label,
    Hint,
    RequiredMessage,
    ConstraintMessage,
}

/// The columns that hold an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Formula {
    Relevant,
    Constraint,
    Calculation,
}

impl Formula {
    /// The column's name, as problems and `FormError` name it.
    pub(super) fn column(self) -> &'static str {
        match self {
            Formula::Relevant => "relevant",
            Formula::Constraint => "constraint",
            Formula::Calculation => "calculation",
        }
    }
}

/// What a column of a sheet means.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Meaning {
    Type,
    Name,
    ListName,
    Required,
    /// A text in a language (the key it is stored under).
    Translated(Text, String),
    Expression(Formula),
    Default,
    Appearance,
    FormId,
    Version,
    FormTitle,
    DefaultLanguage,
    /// A value in it is an error, with this message.
    Refused(String),
}

/// What a `type` cell says a row is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RowType {
    /// A question of this kind (not a group or repeat).
    Question(QuestionKind),
    /// `begin_group` or `begin_repeat`: the kind is `Group` or `Repeat`.
    Begin(QuestionKind),
    /// `end_group` or `end_repeat`.
    End(QuestionKind),
}

impl RowType {
    /// The kind the row begins, ends or asks.
    pub(super) fn kind(&self) -> &QuestionKind {
        match self {
            RowType::Question(kind) | RowType::Begin(kind) | RowType::End(kind) => kind,
        }
    }

    /// How the row is spelt in messages: `begin_group`, `end_repeat`.
    pub(super) fn keyword(kind: &QuestionKind, begin: bool) -> String {
        let side = if begin { "begin" } else { "end" };
        format!("{side}_{}", kind.as_str())
    }
}

/// Reads a `required` cell; `None` when it is not a yes or a no (then it
/// may be an expression).
pub(super) fn required(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "no" | "false" | "0" | "false()" => Some(false),
        "yes" | "true" | "1" | "true()" => Some(true),
        _ => None,
    }
}

/// Reads a `type` cell.
pub(super) fn row_type(text: &str) -> Result<RowType, String> {
    let lowered = text.to_ascii_lowercase();
    let words: Vec<&str> = lowered.split_whitespace().collect();
    // The list name keeps its case; only the keywords are case-blind.
    let list = || {
        text.split_whitespace()
            .last()
            .unwrap_or_default()
            .to_owned()
    };
    let question = |kind| Ok(RowType::Question(kind));
    match words.as_slice() {
        [] => Err("the type is missing".into()),
        ["text"] => question(QuestionKind::Text),
        ["integer" | "int"] => question(QuestionKind::Integer),
        ["decimal"] => question(QuestionKind::Decimal),
        ["date"] => question(QuestionKind::Date),
        ["geopoint"] => question(QuestionKind::Geopoint),
        ["note"] => question(QuestionKind::Note),
        ["calculate"] => question(QuestionKind::Calculate),
        ["image" | "photo"] => question(QuestionKind::Photo),
        ["begin_group"] | ["begin", "group"] => Ok(RowType::Begin(QuestionKind::Group)),
        ["begin_repeat"] | ["begin", "repeat"] => Ok(RowType::Begin(QuestionKind::Repeat)),
        ["end_group"] | ["end", "group"] => Ok(RowType::End(QuestionKind::Group)),
        ["end_repeat"] | ["end", "repeat"] => Ok(RowType::End(QuestionKind::Repeat)),
        ["select_one"] | ["select", "one"] => {
            Err("select_one needs a choice list: `select_one LIST`".into())
        }
        ["select_multiple"] | ["select", "multiple"] => {
            Err("select_multiple needs a choice list: `select_multiple LIST`".into())
        }
        ["select_one", _] | ["select", "one", _] => {
            question(QuestionKind::SelectOne { list: list() })
        }
        ["select_multiple", _] | ["select", "multiple", _] => {
            question(QuestionKind::SelectMultiple { list: list() })
        }
        ["select_one" | "select_multiple" | "select", ..] => Err(format!(
            "type `{text}` is not supported yet: write `select_one LIST` or \
             `select_multiple LIST` with one list name (no `or_other`)"
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
    let in_language = |column| {
        let language = language
            .clone()
            .or(label_default.map(str::to_owned))
            .unwrap_or_else(|| Labels::DEFAULT.to_owned());
        Meaning::Translated(column, language)
    };
    let plain = language.is_none();
    match (sheet, base.as_str()) {
        (_, "") => Meaning::Refused("a value in a column without a header".into()),
        (SURVEY | CHOICES, "label") => in_language(Text::Label),
        (SURVEY, "hint") => in_language(Text::Hint),
        (SURVEY, "required_message" | "required message" | "jr:requiredmsg") => {
            in_language(Text::RequiredMessage)
        }
        (SURVEY, "constraint_message" | "constraint message" | "jr:constraintmsg") => {
            in_language(Text::ConstraintMessage)
        }
        (SURVEY | CHOICES, "name") if plain => Meaning::Name,
        (SURVEY, "type") if plain => Meaning::Type,
        (SURVEY, "required") if plain => Meaning::Required,
        (SURVEY, "relevant") if plain => Meaning::Expression(Formula::Relevant),
        (SURVEY, "constraint") if plain => Meaning::Expression(Formula::Constraint),
        (SURVEY, "calculation") if plain => Meaning::Expression(Formula::Calculation),
        (SURVEY, "default") if plain => Meaning::Default,
        (SURVEY, "appearance") if plain => Meaning::Appearance,
        (CHOICES, "list_name" | "list name") if plain => Meaning::ListName,
        (SETTINGS, "form_id") => Meaning::FormId,
        (SETTINGS, "version") => Meaning::Version,
        (SETTINGS, "form_title") => Meaning::FormTitle,
        (SETTINGS, "default_language") => Meaning::DefaultLanguage,
        (_, base) if LATER_COLUMNS.contains(&base) || base.contains(':') => Meaning::Refused(
            format!("column `{text}` is not supported yet; remove it or leave it empty"),
        ),
        (CHOICES, _) => Meaning::Refused(format!(
            "column `{text}` is not supported yet (extra choice columns serve \
             choice_filter, which is not supported yet); remove it or leave it empty"
        )),
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
