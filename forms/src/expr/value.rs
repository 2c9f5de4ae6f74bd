//! The values expressions compute with, and XPath 1.0's conversions between
//! them.

use chrono::{Datelike, NaiveDate, TimeDelta};

/// A value: an answer, a literal, or what an expression computes.
///
/// Conversions follow XPath 1.0 as ODK applies it. A node-set ([`Value::Nodes`],
/// the answers of a question inside a repeat seen from outside it) stands
/// for its first value wherever one value is wanted, or for `""` when it is
/// empty.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text; an unanswered question is `Text("")`, and a `select_multiple`
    /// answer is its choice names separated by spaces.
    Text(String),
    /// A number; XPath has one kind, a 64-bit float.
    Number(f64),
    /// A boolean, from a comparison or `true()`.
    Bool(bool),
    /// A calendar date; as a number it is its days since 1970-01-01.
    Date(NaiveDate),
    /// The values of one question in every instance of a repeat, in order.
    Nodes(Vec<Value>),
}

impl Value {
    /// The value of an unanswered question: `Text("")`.
    pub fn empty() -> Value {
        Value::Text(String::new())
    }

    /// XPath `boolean()`: text is true when not empty, a number when neither
    /// zero nor NaN, a date always; a node-set as its first value.
    pub fn as_bool(&self) -> bool {
        match self.single() {
            Value::Text(text) => !text.is_empty(),
            Value::Number(number) => *number != 0.0 && !number.is_nan(),
            Value::Bool(value) => *value,
            Value::Date(_) => true,
            Value::Nodes(_) => false,
        }
    }

    /// XPath `number()`: text that is a decimal number (`-12.5`, `.5`, with
    /// spaces around) is that number, a `YYYY-MM-DD` date its days since
    /// 1970-01-01, a date-time those days with the time as a fraction, anything else NaN (so is `""`); true is 1, false 0; a
    /// node-set as its first value.
    pub fn as_number(&self) -> f64 {
        match self.single() {
            Value::Text(text) => parse_number(text)
                .or_else(|| parse_date(text.trim()).map(epoch_days))
                .or_else(|| date_time_days(text.trim()))
                .unwrap_or(f64::NAN),
            Value::Number(number) => *number,
            Value::Bool(value) => f64::from(u8::from(*value)),
            Value::Date(date) => epoch_days(*date),
            Value::Nodes(_) => f64::NAN,
        }
    }

    /// XPath `string()`: whole numbers without `.0` (`3`), others in full
    /// decimal notation, never with an exponent; `NaN`, `Infinity`,
    /// `-Infinity`; `true`/`false`; a date as `YYYY-MM-DD`; a node-set as its
    /// first value.
    pub fn as_text(&self) -> String {
        match self.single() {
            Value::Text(text) => text.clone(),
            Value::Number(number) => format_number(*number),
            Value::Bool(value) => value.to_string(),
            Value::Date(date) => date.format("%Y-%m-%d").to_string(),
            Value::Nodes(_) => String::new(),
        }
    }

    /// Whether this is `""` or an empty node-set.
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Text(text) => text.is_empty(),
            Value::Nodes(nodes) => nodes.is_empty(),
            _ => false,
        }
    }

    /// The value of an answer as stored in a visit: a string is text, a
    /// number a number, a bool a bool, `null` the empty text, an array a
    /// node-set of its items. An object (no answer is one) is the empty text.
    pub fn from_json(value: &serde_json::Value) -> Value {
        match value {
            serde_json::Value::String(text) => Value::Text(text.clone()),
            serde_json::Value::Number(number) => Value::Number(number.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::Bool(value) => Value::Bool(*value),
            serde_json::Value::Array(items) => {
                Value::Nodes(items.iter().map(Value::from_json).collect())
            }
            serde_json::Value::Null | serde_json::Value::Object(_) => Value::empty(),
        }
    }

    /// The value as JSON, for storing a computed answer: a whole number as a
    /// JSON integer (`3`, not `3.0`), other numbers as they are, NaN and
    /// infinities as `null`; text as a string; a bool as a bool; a date as
    /// `"YYYY-MM-DD"`; a node-set as an array.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Text(text) => serde_json::Value::String(text.clone()),
            Value::Number(number) => number_to_json(*number),
            Value::Bool(value) => serde_json::Value::Bool(*value),
            Value::Date(_) => serde_json::Value::String(self.as_text()),
            Value::Nodes(nodes) => {
                serde_json::Value::Array(nodes.iter().map(Value::to_json).collect())
            }
        }
    }

    /// The value that stands for this one where one value is wanted: itself,
    /// or a node-set's first value (nested node-sets unwrapped), or `""` for
    /// an empty one.
    pub(crate) fn single(&self) -> &Value {
        const EMPTY: &Value = &Value::Text(String::new());
        let mut value = self;
        while let Value::Nodes(nodes) = value {
            match nodes.first() {
                Some(first) => value = first,
                None => return EMPTY,
            }
        }
        value
    }

    /// [`Value::single`], owned.
    pub(crate) fn into_single(self) -> Value {
        match self {
            Value::Nodes(_) => self.single().clone(),
            other => other,
        }
    }

    /// Every value a node-set holds, nested node-sets flattened; a single
    /// value is a set of one.
    pub(crate) fn flatten(&self) -> Vec<&Value> {
        let mut values = Vec::new();
        let mut pending = vec![self];
        while let Some(value) = pending.pop() {
            match value {
                Value::Nodes(nodes) => pending.extend(nodes.iter().rev()),
                other => values.push(other),
            }
        }
        values
    }

    /// The value as a date: a date itself, text `YYYY-MM-DD` (or the date of
    /// a `YYYY-MM-DDThh:mm…` date-time), or a number of days since 1970-01-01
    /// (fractions dropped, towards zero); `None` for anything else, or out of
    /// range.
    pub(crate) fn as_date(&self) -> Option<NaiveDate> {
        match self.single() {
            Value::Date(date) => Some(*date),
            Value::Text(text) => {
                let trimmed = text.trim();
                let date_part = match trimmed.split_once('T') {
                    Some((date, _time)) => date,
                    None => trimmed,
                };
                parse_date(date_part).or_else(|| days_to_date(parse_number(trimmed)?))
            }
            Value::Number(number) => days_to_date(*number),
            Value::Bool(_) | Value::Nodes(_) => None,
        }
    }
}

/// A date-time text (`2024-12-28T09:30:00+08:00`) as days since
/// 1970-01-01 with the time of day as a fraction; `None` for other text.
fn date_time_days(text: &str) -> Option<f64> {
    if !text.contains('T') {
        return None;
    }
    super::more_functions::parse_date_time(text)
        .map(|moment| super::more_functions::decimal_days(&moment))
}

/// 1970-01-01's day number counted from 0001-01-01 (day 1), as chrono counts.
const EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// Days since 1970-01-01.
pub(crate) fn epoch_days(date: NaiveDate) -> f64 {
    f64::from(date.num_days_from_ce() - EPOCH_DAYS_FROM_CE)
}

/// The date `days` days after 1970-01-01, fractions dropped; `None` when not
/// finite or out of chrono's range.
pub(crate) fn days_to_date(days: f64) -> Option<NaiveDate> {
    if !days.is_finite() || days.abs() > 1e9 {
        return None;
    }
    let epoch = NaiveDate::from_num_days_from_ce_opt(EPOCH_DAYS_FROM_CE)?;
    // In range of i64 by the check above.
    #[allow(clippy::cast_possible_truncation)]
    let whole = days.trunc() as i64;
    epoch.checked_add_signed(TimeDelta::try_days(whole)?)
}

/// Exactly `YYYY-MM-DD`, a real calendar date.
pub(crate) fn parse_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(index, byte)| index == 4 || index == 7 || byte.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    let year = text.get(0..4)?.parse().ok()?;
    let month = text.get(5..7)?.parse().ok()?;
    let day = text.get(8..10)?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// XPath's number syntax: optional spaces, an optional `-`, digits with an
/// optional `.` and more digits (or `.` and digits), optional spaces. No
/// `+`, exponent, `Infinity` or thousands separator.
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    let trimmed = text.trim();
    let unsigned = trimmed.strip_prefix('-').unwrap_or(trimmed);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    let valid = digits(whole)
        && fraction.is_none_or(digits)
        && !(whole.is_empty() && fraction.is_none_or(str::is_empty));
    if valid { trimmed.parse().ok() } else { None }
}

/// XPath `string()` of a number.
pub(crate) fn format_number(number: f64) -> String {
    if number.is_nan() {
        "NaN".to_owned()
    } else if number.is_infinite() {
        if number > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        }
        .to_owned()
    } else if number == 0.0 {
        // Also -0.
        "0".to_owned()
    } else {
        // Rust prints floats in full decimal notation, shortest form that
        // reads back exactly, and whole numbers without `.0`.
        number.to_string()
    }
}

fn number_to_json(number: f64) -> serde_json::Value {
    /// 2^53: beyond it not every integer is a float.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if number.fract() == 0.0 && number.abs() <= EXACT {
        // Whole and within ±2^53, so it converts exactly.
        #[allow(clippy::cast_possible_truncation)]
        let whole = number as i64;
        serde_json::Value::from(whole)
    } else {
        serde_json::Number::from_f64(number)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}
