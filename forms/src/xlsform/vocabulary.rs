//! The words of XLSForm as pyxform reads them: what a `type` cell and a
//! column header mean (old spellings included), which of them this version
//! does not read yet, and which it reads and drops as pyxform does.

use super::problem::{CHOICES, EXTERNAL_CHOICES, SETTINGS, SURVEY};
use crate::{Labels, Metadata, QuestionKind};

const SUPPORTED_TYPES: &str = "text, integer, decimal, range, select_one LIST, \
     select_multiple LIST, rank LIST, select_one_from_file FILE, select_one_external LIST, date, \
     time, datetime, geopoint, barcode, note, acknowledge, calculate, image, audio, video, file, \
     metadata \
     (start, end, today, deviceid…), begin_group/end_group, begin_repeat/end_repeat";

/// Question types of XLSForm that this version does not read yet.
const LATER_TYPES: &[&str] = &[
    "geotrace",
    "geoshape",
    "background-audio",
    "background-geopoint",
    "hidden",
    "begin_loop",
    "begin loop",
    "xml-external",
    "entity",
];

/// Columns of XLSForm that carry meaning this version cannot honour yet.
const LATER_COLUMNS: &[&str] = &["trigger", "entities::label", "save_to"];

/// Columns pyxform knows that change nothing on a phone here (media the
/// app does not show yet, print hints, XML attributes): read and dropped.
const IGNORED_COLUMNS: &[&str] = &[
    "guidance_hint",
    "image",
    "audio",
    "video",
    "big-image",
    "media",
    "autoplay",
    "flat",
    "tag",
    "intent",
    "note",
    "comments",
    "comment",
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
    ChoiceFilter,
    RepeatCount,
    ReadOnly,
    Parameters,
    /// SurveyCTO's name of a choice's `name`, used when there is no `name`.
    Value,
    FormId,
    Version,
    FormTitle,
    DefaultLanguage,
    /// A setting that changes nothing on a phone, kept under its header.
    Setting(String),
    /// A choice's other column, kept under its header (for choice_filter).
    Extra(String),
    /// A column pyxform reads or ignores that means nothing here.
    Ignored,
    /// An image shown with the label: not shown yet, but a note with only
    /// an image is labelled with its file's name.
    Media,
    /// A value in it is an error, with this message.
    Refused(String),
}

/// What a `type` cell says a row is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RowType {
    /// A question of this kind (not a group or repeat); for a select, the
    /// list and whether `or_other` follows it.
    Question(QuestionKind, Options),
    /// `csv-external NAME`: a table published beside the form for
    /// `pulldata()`; no question.
    External,
    /// `begin_group` or `begin_repeat`: the kind is `Group` or `Repeat`.
    Begin(QuestionKind),
    /// `end_group` or `end_repeat`.
    End(QuestionKind),
}

impl RowType {
    /// The kind the row begins, ends or asks (`csv-external`: a calculate).
    pub(super) fn kind(&self) -> &QuestionKind {
        match self {
            RowType::Question(kind, _) | RowType::Begin(kind) | RowType::End(kind) => kind,
            RowType::External => &QuestionKind::Calculate,
        }
    }

    /// How the row is spelt in messages: `begin_group`, `end_repeat`.
    pub(super) fn keyword(kind: &QuestionKind, begin: bool) -> String {
        let side = if begin { "begin" } else { "end" };
        format!("{side}_{}", kind.as_str())
    }
}

/// Where a select's choices come from, and whether it offers "other".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Options {
    pub(super) source: Source,
    pub(super) or_other: bool,
}

/// Where a select's choices come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Source {
    /// Sheet `choices`.
    #[default]
    Choices,
    /// Sheet `external_choices` (`select_one_external`).
    External,
    /// A CSV or XML file beside the form (`select_one_from_file`); the
    /// list is named after the file.
    File,
}

/// The key of a list of sheet `external_choices` among the form's lists:
/// `select_one_external` reads its own namespace.
pub(super) fn external_list(list: &str) -> String {
    format!("external:{list}")
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

/// Reads a `type` cell, in the spellings pyxform accepts (`select one
/// from LIST`, `gps`, `string`, `add text prompt`…).
pub(super) fn row_type(text: &str) -> Result<RowType, String> {
    let lowered = text.trim().to_ascii_lowercase();
    let mut words: Vec<&str> = lowered.split_whitespace().collect();
    // The list or file name keeps its case; only the keywords are case-blind.
    let original: Vec<&str> = text.split_whitespace().collect();
    // pyxform's spellings: `or_other`, `or other`, `or specify other`.
    let or_other = if words.len() > 1 && words.last() == Some(&"or_other") {
        words.pop();
        true
    } else if words.len() > 3 && words.ends_with(&["or", "specify", "other"]) {
        words.truncate(words.len() - 3);
        true
    } else if words.len() > 2 && words.ends_with(&["or", "other"]) {
        words.truncate(words.len() - 2);
        true
    } else {
        false
    };
    let list_at = |index: usize| original.get(index).map(|s| (*s).to_owned());
    let plain = |kind| Ok(RowType::Question(kind, Options::default()));
    let select = |multiple: bool, source: Source, rest: &[&str], at: usize| {
        let what = if multiple {
            "select_multiple"
        } else {
            "select_one"
        };
        match rest {
            [] => Err(format!("{what} needs a choice list: `{what} LIST`")),
            [_] => {
                let list = list_at(at).unwrap_or_default();
                let options = Options { source, or_other };
                let kind = if multiple {
                    QuestionKind::SelectMultiple { list }
                } else {
                    QuestionKind::SelectOne { list }
                };
                Ok(RowType::Question(kind, options))
            }
            _ => Err(format!(
                "type `{text}`: write `{what} LIST` with one list name (and optionally `or_other`)"
            )),
        }
    };
    // `add text prompt`, `q text`: old spellings of `text`.
    let stem: Vec<&str> = match words.as_slice() {
        ["add", middle @ .., "prompt"] => middle.to_vec(),
        ["q", rest @ ..] => rest.to_vec(),
        _ => words.clone(),
    };
    if let [single] = stem.as_slice()
        && let Some(metadata) = metadata(single)
    {
        return plain(QuestionKind::Metadata(metadata));
    }
    match stem.as_slice() {
        [] => Err("the type is missing".into()),
        ["text" | "string"] => plain(QuestionKind::Text),
        ["integer" | "int"] => plain(QuestionKind::Integer),
        ["decimal"] => plain(QuestionKind::Decimal),
        ["date"] => plain(QuestionKind::Date),
        ["time"] => plain(QuestionKind::Time),
        ["datetime"] => plain(QuestionKind::DateTime),
        ["range"] => plain(QuestionKind::Range {
            start: 1.0,
            end: 10.0,
            step: 1.0,
        }),
        ["geopoint" | "gps" | "location"] => plain(QuestionKind::Geopoint),
        ["barcode"] => plain(QuestionKind::Barcode),
        ["note"] => plain(QuestionKind::Note),
        ["acknowledge" | "trigger"] => plain(QuestionKind::Acknowledge),
        ["calculate"] => plain(QuestionKind::Calculate),
        ["image" | "photo" | "picture"] => plain(QuestionKind::Photo),
        ["audio"] => plain(QuestionKind::Audio),
        ["video"] => plain(QuestionKind::Video),
        ["file"] => plain(QuestionKind::File),
        ["imei"] => plain(QuestionKind::Metadata(Metadata::DeviceId)),
        ["csv-external"] => Ok(RowType::External),
        ["begin_group" | "begin_lgroup"] | ["begin", "group" | "lgroup"] => {
            Ok(RowType::Begin(QuestionKind::Group))
        }
        ["begin_repeat"] | ["begin", "repeat"] => Ok(RowType::Begin(QuestionKind::Repeat)),
        ["end_group" | "end_lgroup"] | ["end", "group" | "lgroup"] => {
            Ok(RowType::End(QuestionKind::Group))
        }
        ["end_repeat"] | ["end", "repeat"] => Ok(RowType::End(QuestionKind::Repeat)),
        ["select_one" | "select1", rest @ ..] => select(false, Source::Choices, rest, 1),
        ["select", "one", "from", rest @ ..] => select(false, Source::Choices, rest, 3),
        ["select", "one", "external", rest @ ..] => select(false, Source::External, rest, 3),
        ["select", "one", rest @ ..] => select(false, Source::Choices, rest, 2),
        ["select_multiple", rest @ ..] => select(true, Source::Choices, rest, 1),
        ["select", "multiple", rest @ ..] => select(true, Source::Choices, rest, 2),
        ["select", "all", "that", "apply", "from", rest @ ..] => {
            select(true, Source::Choices, rest, 5)
        }
        ["select", "all", "that", "apply", rest @ ..] => select(true, Source::Choices, rest, 4),
        ["rank", list] => Ok(RowType::Question(
            QuestionKind::Rank {
                list: list_at(1).unwrap_or_else(|| (*list).to_owned()),
            },
            Options::default(),
        )),
        ["rank"] => Err("rank needs a choice list: `rank LIST`".into()),
        ["select_one_external", rest @ ..] => select(false, Source::External, rest, 1),
        ["select_one_from_file", rest @ ..] => select(false, Source::File, rest, 1),
        ["select_multiple_from_file", rest @ ..] => select(true, Source::File, rest, 1),
        [first, ..] if LATER_TYPES.contains(first) || LATER_TYPES.contains(&lowered.as_str()) => {
            Err(format!(
                "type `{}` is not supported yet; supported now: {SUPPORTED_TYPES}",
                text.trim()
            ))
        }
        _ => Err(format!(
            "unknown type `{}`; supported now: {SUPPORTED_TYPES}",
            text.trim()
        )),
    }
}

/// A metadata type in any of pyxform's spellings (`deviceid`,
/// `uri:deviceid`, `start-geopoint`).
fn metadata(word: &str) -> Option<Metadata> {
    let word = word.strip_prefix("uri:").unwrap_or(word);
    Metadata::from_xlsform(word)
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
        // pyxform reads no column without a header.
        (_, "") => Meaning::Ignored,
        (SURVEY | CHOICES | EXTERNAL_CHOICES, "label") => in_language(Text::Label),
        (SURVEY, "hint") => in_language(Text::Hint),
        (SURVEY, "required_message" | "required message" | "jr:requiredmsg") => {
            in_language(Text::RequiredMessage)
        }
        (SURVEY, "constraint_message" | "constraint message" | "jr:constraintmsg") => {
            in_language(Text::ConstraintMessage)
        }
        (SURVEY | CHOICES | EXTERNAL_CHOICES, "name") if plain => Meaning::Name,
        (SURVEY, "type") if plain => Meaning::Type,
        (SURVEY, "required") if plain => Meaning::Required,
        (SURVEY, "relevant" | "relevance") if plain => Meaning::Expression(Formula::Relevant),
        (SURVEY, "constraint") if plain => Meaning::Expression(Formula::Constraint),
        (SURVEY, "calculation" | "calculate") if plain => Meaning::Expression(Formula::Calculation),
        (SURVEY, "default") if plain => Meaning::Default,
        (SURVEY, "appearance") if plain => Meaning::Appearance,
        (SURVEY, "choice_filter" | "choice filter") if plain => Meaning::ChoiceFilter,
        (SURVEY, "repeat_count" | "repeat count" | "jr:count") if plain => Meaning::RepeatCount,
        (SURVEY, "read_only" | "readonly" | "read only") if plain => Meaning::ReadOnly,
        (SURVEY, "parameters" | "params") if plain => Meaning::Parameters,
        (CHOICES | EXTERNAL_CHOICES, "list_name" | "list name") if plain => Meaning::ListName,
        (CHOICES, "value") if plain => Meaning::Value,
        (SETTINGS, "form_id" | "id_string") => Meaning::FormId,
        (SETTINGS, "version") => Meaning::Version,
        (SETTINGS, "form_title" | "title") => Meaning::FormTitle,
        (SETTINGS, "default_language") => Meaning::DefaultLanguage,
        (SETTINGS, _) => Meaning::Setting(text.trim().to_owned()),
        (_, base) if LATER_COLUMNS.contains(&base) => Meaning::Refused(format!(
            "column `{text}` is not supported yet; remove it or leave it empty"
        )),
        (SURVEY, "image" | "big-image") => Meaning::Media,
        (SURVEY | CHOICES | EXTERNAL_CHOICES, base)
            if IGNORED_COLUMNS.contains(&base)
                || base.starts_with("media")
                || ["bind", "body", "instance", "control"].contains(&base) =>
        {
            Meaning::Ignored
        }
        (CHOICES | EXTERNAL_CHOICES, _) => Meaning::Extra(text.trim().to_owned()),
        // pyxform ignores columns it does not know.
        _ => Meaning::Ignored,
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
