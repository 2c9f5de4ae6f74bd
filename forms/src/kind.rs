//! What kind of answer a question takes, and how a kind reads and writes as
//! JSON (`{"type": "integer"}`, `{"type": "range", "start": 0, …}`).

use serde::{Deserialize, Serialize};

/// What kind of answer a question takes. In JSON: `{"type": "integer"}`,
/// `{"type": "select_one", "list": "yes_no"}`,
/// `{"type": "range", "start": 0, "end": 10, "step": 1}`,
/// `{"type": "metadata", "metadata": "start"}`.
///
/// `Eq` holds because a range's bounds are never NaN ([`Form::check`]
/// refuses them; JSON has no NaN).
///
/// [`Form::check`]: crate::Form::check
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "KindFields", into = "KindFields")]
pub enum QuestionKind {
    /// A JSON string.
    Text,
    /// A JSON integer (`3`, not `"3"`, not `3.5`, not `3.0`).
    Integer,
    /// Any JSON number.
    Decimal,
    /// A JSON string naming one choice of `list`.
    SelectOne { list: String },
    /// A JSON array of distinct choice names of `list`.
    SelectMultiple { list: String },
    /// The choices of `list` in the order the respondent ranks them: a JSON
    /// array of distinct choice names.
    Rank { list: String },
    /// A date as a JSON string `YYYY-MM-DD`.
    Date,
    /// A time of day as a JSON string `HH:MM` or `HH:MM:SS`.
    Time,
    /// A date and time as an RFC 3339 JSON string
    /// (`2024-12-28T09:30:00+08:00`).
    DateTime,
    /// A JSON number from `start` to `end` (either may be the larger), on
    /// a step of `step` from `start`.
    Range { start: f64, end: f64, step: f64 },
    /// A GPS point: `{"lat": 27.3, "lon": 103.7}`, optionally with
    /// `altitude` and `accuracy` (metres).
    Geopoint,
    /// A scanned barcode's text, as a JSON string.
    Barcode,
    /// Text shown to the cadre; takes no answer.
    Note,
    /// A statement the cadre confirms: the answer is the JSON string `"OK"`.
    Acknowledge,
    /// A value computed from `calculation`; takes no answer.
    Calculate,
    /// A reference to a photo (its file name or SHA-256) as a JSON string.
    Photo,
    /// A reference to a sound recording, as [`QuestionKind::Photo`].
    Audio,
    /// A reference to a video, as [`QuestionKind::Photo`].
    Video,
    /// A reference to any file, as [`QuestionKind::Photo`].
    File,
    /// A value the device records by itself (when the visit started, the
    /// device's id…): the cadre never answers it, the core fills it in and
    /// stores it in the answers under the question's name, as a JSON
    /// string (a geopoint object for [`Metadata::StartGeopoint`]).
    Metadata(Metadata),
    /// Questions shown together; answers stay flat (no nesting).
    Group,
    /// Questions asked once per item (a member, a migrant worker): the
    /// answer is a JSON array of objects, one per item.
    Repeat,
}

impl Eq for QuestionKind {}

/// What a [`QuestionKind::Metadata`] question records, filled in by the
/// core, never by the cadre. Values are JSON strings unless said otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metadata {
    /// When the visit was started (RFC 3339).
    Start,
    /// When the visit was finalised (RFC 3339).
    End,
    /// The date the visit was started (`YYYY-MM-DD`).
    Today,
    /// The device's id.
    DeviceId,
    /// The signed-in cadre's user name.
    Username,
    /// The device's phone number, when the platform tells it.
    PhoneNumber,
    /// The SIM's subscriber id, when the platform tells it.
    SubscriberId,
    /// The SIM's serial number, when the platform tells it.
    SimSerial,
    /// The signed-in cadre's e-mail address, when known.
    Email,
    /// A reference to the visit's audit log (an attachment).
    Audit,
    /// Where the device was when the visit started: a geopoint object.
    StartGeopoint,
}

impl Metadata {
    /// Every kind of metadata.
    pub const ALL: [Metadata; 11] = [
        Metadata::Start,
        Metadata::End,
        Metadata::Today,
        Metadata::DeviceId,
        Metadata::Username,
        Metadata::PhoneNumber,
        Metadata::SubscriberId,
        Metadata::SimSerial,
        Metadata::Email,
        Metadata::Audit,
        Metadata::StartGeopoint,
    ];

    /// The XLSForm type: `start`, `deviceid`, `start-geopoint`.
    pub fn as_str(self) -> &'static str {
        match self {
            Metadata::Start => "start",
            Metadata::End => "end",
            Metadata::Today => "today",
            Metadata::DeviceId => "deviceid",
            Metadata::Username => "username",
            Metadata::PhoneNumber => "phonenumber",
            Metadata::SubscriberId => "subscriberid",
            Metadata::SimSerial => "simserial",
            Metadata::Email => "email",
            Metadata::Audit => "audit",
            Metadata::StartGeopoint => "start-geopoint",
        }
    }

    /// The metadata XLSForm spells `text` (`deviceid`, case-blind).
    pub fn from_xlsform(text: &str) -> Option<Metadata> {
        Metadata::ALL
            .into_iter()
            .find(|metadata| metadata.as_str().eq_ignore_ascii_case(text))
    }
}

impl QuestionKind {
    /// The XLSForm spelling of the kind, without its list: `select_one`;
    /// a metadata kind's own type (`start`).
    pub fn as_str(&self) -> &'static str {
        match self {
            QuestionKind::Text => "text",
            QuestionKind::Integer => "integer",
            QuestionKind::Decimal => "decimal",
            QuestionKind::SelectOne { .. } => "select_one",
            QuestionKind::SelectMultiple { .. } => "select_multiple",
            QuestionKind::Rank { .. } => "rank",
            QuestionKind::Date => "date",
            QuestionKind::Time => "time",
            QuestionKind::DateTime => "datetime",
            QuestionKind::Range { .. } => "range",
            QuestionKind::Geopoint => "geopoint",
            QuestionKind::Barcode => "barcode",
            QuestionKind::Note => "note",
            QuestionKind::Acknowledge => "acknowledge",
            QuestionKind::Calculate => "calculate",
            QuestionKind::Photo => "photo",
            QuestionKind::Audio => "audio",
            QuestionKind::Video => "video",
            QuestionKind::File => "file",
            QuestionKind::Metadata(metadata) => metadata.as_str(),
            QuestionKind::Group => "group",
            QuestionKind::Repeat => "repeat",
        }
    }

    /// The choice list of a select.
    pub fn list(&self) -> Option<&str> {
        match self {
            QuestionKind::SelectOne { list }
            | QuestionKind::SelectMultiple { list }
            | QuestionKind::Rank { list } => Some(list),
            _ => None,
        }
    }

    /// Whether a cadre answers it (not a note, calculation, metadata, group
    /// or repeat). Metadata takes no answer from the cadre, but the core
    /// stores its value in the answers.
    pub fn takes_answer(&self) -> bool {
        !matches!(
            self,
            QuestionKind::Note
                | QuestionKind::Calculate
                | QuestionKind::Metadata(_)
                | QuestionKind::Group
                | QuestionKind::Repeat
        )
    }

    /// Whether it holds other questions.
    pub fn is_container(&self) -> bool {
        matches!(self, QuestionKind::Group | QuestionKind::Repeat)
    }

    /// Whether a format-2 definition can hold it (the kinds older phones
    /// know).
    pub(crate) fn in_format_2(&self) -> bool {
        matches!(
            self,
            QuestionKind::Text
                | QuestionKind::Integer
                | QuestionKind::Decimal
                | QuestionKind::SelectOne { .. }
                | QuestionKind::SelectMultiple { .. }
                | QuestionKind::Date
                | QuestionKind::Geopoint
                | QuestionKind::Note
                | QuestionKind::Calculate
                | QuestionKind::Photo
                | QuestionKind::Group
                | QuestionKind::Repeat
        )
    }
}

/// A kind as JSON. serde's `deny_unknown_fields` does not reach the unit
/// variants of an internally tagged enum, so a kind is read through this
/// struct: `{"type": "integer", "constraint": "…"}` must be refused, not
/// read as a plain integer.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KindFields {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    list: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    step: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata>,
}

impl From<QuestionKind> for KindFields {
    fn from(kind: QuestionKind) -> KindFields {
        let mut fields = KindFields {
            kind: kind.as_str().to_owned(),
            list: kind.list().map(str::to_owned),
            start: None,
            end: None,
            step: None,
            metadata: None,
        };
        match kind {
            QuestionKind::Range { start, end, step } => {
                fields.start = Some(start);
                fields.end = Some(end);
                fields.step = Some(step);
            }
            QuestionKind::Metadata(metadata) => {
                fields.kind = "metadata".to_owned();
                fields.metadata = Some(metadata);
            }
            _ => {}
        }
        fields
    }
}

impl TryFrom<KindFields> for QuestionKind {
    type Error = String;

    fn try_from(fields: KindFields) -> Result<QuestionKind, String> {
        let kind = match fields.kind.as_str() {
            "text" => QuestionKind::Text,
            "integer" => QuestionKind::Integer,
            "decimal" => QuestionKind::Decimal,
            "date" => QuestionKind::Date,
            "time" => QuestionKind::Time,
            "datetime" => QuestionKind::DateTime,
            "geopoint" => QuestionKind::Geopoint,
            "barcode" => QuestionKind::Barcode,
            "note" => QuestionKind::Note,
            "acknowledge" => QuestionKind::Acknowledge,
            "calculate" => QuestionKind::Calculate,
            "photo" => QuestionKind::Photo,
            "audio" => QuestionKind::Audio,
            "video" => QuestionKind::Video,
            "file" => QuestionKind::File,
            "group" => QuestionKind::Group,
            "repeat" => QuestionKind::Repeat,
            "select_one" | "select_multiple" | "rank" => {
                let Some(list) = fields.list.clone() else {
                    return Err(format!("a {} kind needs a `list`", fields.kind));
                };
                QuestionKind::from_list(&fields.kind, list)
            }
            "range" => match (fields.start, fields.end, fields.step) {
                (Some(start), Some(end), Some(step)) => QuestionKind::Range { start, end, step },
                _ => return Err("a range kind needs `start`, `end` and `step`".to_owned()),
            },
            "metadata" => match fields.metadata {
                Some(metadata) => QuestionKind::Metadata(metadata),
                None => return Err("a metadata kind needs `metadata`".to_owned()),
            },
            other => return Err(format!("unknown question type `{other}`")),
        };
        let stray = [
            ("list", fields.list.is_some() && kind.list().is_none()),
            (
                "start",
                fields.start.is_some() && !matches!(kind, QuestionKind::Range { .. }),
            ),
            (
                "end",
                fields.end.is_some() && !matches!(kind, QuestionKind::Range { .. }),
            ),
            (
                "step",
                fields.step.is_some() && !matches!(kind, QuestionKind::Range { .. }),
            ),
            (
                "metadata",
                fields.metadata.is_some() && !matches!(kind, QuestionKind::Metadata(_)),
            ),
        ];
        match stray.iter().find(|(_, stray)| *stray) {
            Some((field, _)) => Err(format!("a {} kind takes no `{field}`", fields.kind)),
            None => Ok(kind),
        }
    }
}

impl QuestionKind {
    fn from_list(kind: &str, list: String) -> QuestionKind {
        match kind {
            "select_one" => QuestionKind::SelectOne { list },
            "rank" => QuestionKind::Rank { list },
            _ => QuestionKind::SelectMultiple { list },
        }
    }

    /// Whether its answer lists several choice names, which therefore
    /// cannot hold spaces (expressions see them separated by spaces).
    pub fn lists_several(&self) -> bool {
        matches!(
            self,
            QuestionKind::SelectMultiple { .. } | QuestionKind::Rank { .. }
        )
    }
}
