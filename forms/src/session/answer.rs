//! Answers as typed values, the way an app's screens hold them, and their
//! JSON spelling in a visit's answers.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime};
use serde_json::{Value as Json, json};

use crate::QuestionKind;

/// One answer, typed. A screen hands these to
/// [`FormSession::set_answer`](super::FormSession::set_answer) and reads
/// them back from each node.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Text(String),
    Integer(i64),
    Decimal(f64),
    Date(NaiveDate),
    /// A time of day (seconds kept when not zero).
    Time(NaiveTime),
    /// A moment with the device's offset from UTC.
    DateTime(DateTime<FixedOffset>),
    /// One choice of a `select_one`, by name.
    Choice(String),
    /// The choices of a `select_multiple`, by name, in the order picked.
    Choices(Vec<String>),
    Geopoint {
        lat: f64,
        lon: f64,
        altitude: Option<f64>,
        accuracy: Option<f64>,
    },
    /// A reference to a file (a photo, a recording, a document): its name
    /// or SHA-256.
    Attachment(String),
}

impl Answer {
    /// The answer as a visit stores it for a question of `kind`, or `None`
    /// when this kind of answer does not fit the question (an integer is a
    /// fine decimal; nothing else converts).
    pub fn to_json(&self, kind: &QuestionKind) -> Option<Json> {
        let json = match (self, kind) {
            (Answer::Text(text), QuestionKind::Text | QuestionKind::Barcode) => json!(text),
            // An acknowledgement is the text "OK".
            (Answer::Text(text), QuestionKind::Acknowledge) => json!(text),
            (Answer::Integer(number), QuestionKind::Range { .. }) => json!(number),
            (Answer::Decimal(number), QuestionKind::Range { .. }) => {
                serde_json::Number::from_f64(*number).map(Json::Number)?
            }
            (Answer::Time(time), QuestionKind::Time) => json!(time_text(*time)),
            (Answer::DateTime(moment), QuestionKind::DateTime) => json!(moment.to_rfc3339()),
            (Answer::Choices(names), QuestionKind::Rank { .. }) => json!(names),
            (Answer::Integer(number), QuestionKind::Integer | QuestionKind::Decimal) => {
                json!(number)
            }
            (Answer::Decimal(number), QuestionKind::Decimal) => {
                serde_json::Number::from_f64(*number).map(Json::Number)?
            }
            (Answer::Date(date), QuestionKind::Date) => json!(date.format("%Y-%m-%d").to_string()),
            (Answer::Choice(name), QuestionKind::SelectOne { .. }) => json!(name),
            (Answer::Choices(names), QuestionKind::SelectMultiple { .. }) => json!(names),
            (
                Answer::Geopoint {
                    lat,
                    lon,
                    altitude,
                    accuracy,
                },
                QuestionKind::Geopoint,
            ) => {
                let mut point = serde_json::Map::new();
                point.insert("lat".into(), finite(*lat)?);
                point.insert("lon".into(), finite(*lon)?);
                if let Some(altitude) = altitude {
                    point.insert("altitude".into(), finite(*altitude)?);
                }
                if let Some(accuracy) = accuracy {
                    point.insert("accuracy".into(), finite(*accuracy)?);
                }
                Json::Object(point)
            }
            (
                Answer::Attachment(reference),
                QuestionKind::Photo
                | QuestionKind::Audio
                | QuestionKind::Video
                | QuestionKind::File,
            ) => json!(reference),
            _ => return None,
        };
        Some(json)
    }

    /// A stored answer (or calculated value) of a question of `kind` as a
    /// typed answer; `None` for JSON that is no answer of that kind (the
    /// node's violations say what is wrong with it).
    pub fn from_json(value: &Json, kind: &QuestionKind) -> Option<Answer> {
        let answer = match (kind, value) {
            (
                QuestionKind::Text
                | QuestionKind::Barcode
                | QuestionKind::Acknowledge
                | QuestionKind::Metadata(_),
                Json::String(text),
            ) => Answer::Text(text.clone()),
            (QuestionKind::Range { .. }, Json::Number(number)) => match number.as_i64() {
                Some(whole) => Answer::Integer(whole),
                None => Answer::Decimal(number.as_f64()?),
            },
            (QuestionKind::Time, Json::String(text)) => Answer::Time(
                NaiveTime::parse_from_str(text, "%H:%M:%S")
                    .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
                    .ok()?,
            ),
            (QuestionKind::DateTime, Json::String(text)) => {
                Answer::DateTime(DateTime::parse_from_rfc3339(text).ok()?)
            }
            (QuestionKind::Integer, Json::Number(number)) => Answer::Integer(number.as_i64()?),
            (QuestionKind::Decimal, Json::Number(number)) => Answer::Decimal(number.as_f64()?),
            (QuestionKind::Date, Json::String(text)) => {
                Answer::Date(NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?)
            }
            (QuestionKind::SelectOne { .. }, Json::String(name)) => Answer::Choice(name.clone()),
            (
                QuestionKind::SelectMultiple { .. } | QuestionKind::Rank { .. },
                Json::Array(names),
            ) => Answer::Choices(
                names
                    .iter()
                    .map(|name| name.as_str().map(str::to_owned))
                    .collect::<Option<_>>()?,
            ),
            (QuestionKind::Geopoint, Json::Object(point)) => Answer::Geopoint {
                lat: point.get("lat")?.as_f64()?,
                lon: point.get("lon")?.as_f64()?,
                altitude: point.get("altitude").and_then(Json::as_f64),
                accuracy: point.get("accuracy").and_then(Json::as_f64),
            },
            (
                QuestionKind::Photo
                | QuestionKind::Audio
                | QuestionKind::Video
                | QuestionKind::File,
                Json::String(reference),
            ) => Answer::Attachment(reference.clone()),
            (QuestionKind::Metadata(_), Json::Object(point)) => Answer::Geopoint {
                lat: point.get("lat")?.as_f64()?,
                lon: point.get("lon")?.as_f64()?,
                altitude: point.get("altitude").and_then(Json::as_f64),
                accuracy: point.get("accuracy").and_then(Json::as_f64),
            },
            // A calculation gives a number or a text.
            (QuestionKind::Calculate, Json::Number(number)) => match number.as_i64() {
                Some(whole) => Answer::Integer(whole),
                None => Answer::Decimal(number.as_f64()?),
            },
            (QuestionKind::Calculate, Json::String(text)) => Answer::Text(text.clone()),
            (QuestionKind::Calculate, Json::Bool(value)) => Answer::Text(value.to_string()),
            _ => return None,
        };
        Some(answer)
    }

    /// What kind of answer this is, for messages: `text`, `integer`…
    pub fn kind_name(&self) -> &'static str {
        match self {
            Answer::Text(_) => "text",
            Answer::Integer(_) => "integer",
            Answer::Decimal(_) => "decimal",
            Answer::Date(_) => "date",
            Answer::Time(_) => "time",
            Answer::DateTime(_) => "datetime",
            Answer::Choice(_) => "choice",
            Answer::Choices(_) => "choices",
            Answer::Geopoint { .. } => "geopoint",
            Answer::Attachment(_) => "attachment",
        }
    }
}

/// `HH:MM`, or `HH:MM:SS` when there are seconds.
fn time_text(time: NaiveTime) -> String {
    use chrono::Timelike;
    if time.second() == 0 {
        time.format("%H:%M").to_string()
    } else {
        time.format("%H:%M:%S").to_string()
    }
}

fn finite(number: f64) -> Option<Json> {
    serde_json::Number::from_f64(number).map(Json::Number)
}
