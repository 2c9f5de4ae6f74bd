//! The functions beyond the first two dozen: repeats by index, choices'
//! labels, published tables, UUIDs, dates and times, math and text, as ODK
//! Collect (JavaRosa) defines them. What reads the visit or the device goes
//! through the [`Scope`](super::Scope), so the engine stays deterministic.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

use super::ast::{Function, Node};
use super::eval::Evaluation;
use super::value::{Value, epoch_days, parse_date};

/// Seconds in a day.
const DAY_SECONDS: f64 = 86_400.0;

impl Evaluation<'_> {
    /// The functions `call` leaves to this module.
    pub(crate) fn call_more(&self, function: Function, arguments: &[Node]) -> Value {
        let argument = |index: usize| {
            arguments
                .get(index)
                .map_or_else(Value::empty, |node| self.eval(node))
        };
        let text = |index: usize| argument(index).as_text();
        let number = |index: usize| argument(index).as_number();
        let math = |operation: fn(f64) -> f64| Value::Number(operation(number(0)));
        match function {
            Function::IndexedRepeat => self.indexed_repeat(arguments),
            Function::Position => self
                .scope
                .position()
                .map_or(Value::Number(f64::NAN), |position| {
                    Value::Number(whole(position))
                }),
            Function::ChoiceName => {
                let question = match arguments.get(1) {
                    Some(Node::Reference(name)) => Some(name.clone()),
                    _ => named_in_text(&text(1)).map(str::to_owned),
                };
                match question {
                    Some(question) => self.scope.choice_label(&question, text(0).trim()),
                    None => Value::empty(),
                }
            }
            Function::Pulldata => {
                let file = text(0);
                let file = file.strip_suffix(".csv").unwrap_or(&file);
                self.scope.pulldata(file, &text(1), &text(2), &text(3))
            }
            Function::Uuid => Value::Text(self.scope.uuid()),
            Function::Once => {
                let current = self.scope.current();
                if current.is_empty() {
                    argument(0)
                } else {
                    current
                }
            }
            Function::FormatDate | Function::FormatDateTime => match date_time(&argument(0)) {
                Some(moment) => Value::Text(format_date(moment, &text(1))),
                None => Value::empty(),
            },
            Function::Now => Value::Text(
                self.scope
                    .now()
                    .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
                    .to_string(),
            ),
            Function::DecimalDateTime => Value::Number(
                date_time(&argument(0)).map_or(f64::NAN, |moment| decimal_days(&moment)),
            ),
            Function::DecimalTime => {
                Value::Number(time_of_day(&text(0)).map_or(f64::NAN, |time| {
                    f64::from(time.num_seconds_from_midnight()) / DAY_SECONDS
                }))
            }
            Function::DateTime => match date_time(&argument(0)) {
                Some(moment) => Value::Text(moment.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()),
                None => Value::empty(),
            },
            Function::Pow => Value::Number(number(0).powf(number(1))),
            Function::Log => math(f64::ln),
            Function::Log10 => math(f64::log10),
            Function::Abs => math(f64::abs),
            Function::Sin => math(f64::sin),
            Function::Cos => math(f64::cos),
            Function::Tan => math(f64::tan),
            Function::Asin => math(f64::asin),
            Function::Acos => math(f64::acos),
            Function::Atan => math(f64::atan),
            Function::Atan2 => Value::Number(number(0).atan2(number(1))),
            Function::Sqrt => math(f64::sqrt),
            Function::Exp => math(f64::exp),
            Function::Exp10 => Value::Number(10f64.powf(number(0))),
            Function::Pi => Value::Number(std::f64::consts::PI),
            Function::Ceiling => math(f64::ceil),
            Function::Floor => math(f64::floor),
            Function::NormalizeSpace => {
                Value::Text(text(0).split_whitespace().collect::<Vec<_>>().join(" "))
            }
            Function::Translate => Value::Text(translate(&text(0), &text(1), &text(2))),
            Function::SubstringBefore => {
                let (whole_text, wanted) = (text(0), text(1));
                Value::Text(
                    whole_text
                        .split_once(wanted.as_str())
                        .map(|(before, _)| before.to_owned())
                        .unwrap_or_default(),
                )
            }
            Function::SubstringAfter => {
                let (whole_text, wanted) = (text(0), text(1));
                Value::Text(
                    whole_text
                        .split_once(wanted.as_str())
                        .map(|(_, after)| after.to_owned())
                        .unwrap_or_default(),
                )
            }
            Function::Substring => {
                let length = (arguments.len() > 2).then(|| number(2));
                Value::Text(substring(&text(0), number(1), length))
            }
            Function::EndsWith => Value::Bool(text(0).ends_with(&text(1))),
            Function::SelectedAt => {
                let index = number(1);
                let chosen = text(0);
                let names: Vec<&str> = chosen.split_whitespace().collect();
                let found = (index.fract() == 0.0 && index >= 0.0)
                    .then(|| names.get(index_of(index)))
                    .flatten();
                Value::Text(found.map(|name| (*name).to_owned()).unwrap_or_default())
            }
            Function::CountNonEmpty => {
                let nodes = argument(0);
                let filled = nodes
                    .flatten()
                    .into_iter()
                    .filter(|v| !v.is_empty())
                    .count();
                Value::Number(whole(filled))
            }
            Function::Join => {
                let separator = text(0);
                let values: Vec<Value> = arguments.iter().skip(1).map(|n| self.eval(n)).collect();
                let texts: Vec<String> = values
                    .iter()
                    .flat_map(Value::flatten)
                    .map(Value::as_text)
                    .collect();
                Value::Text(texts.join(&separator))
            }
            Function::BooleanFromString => {
                let value = text(0);
                Value::Bool(value.trim() == "true" || value.trim() == "1")
            }
            Function::Random => Value::Number(self.scope.random()),
            // `call` handles the first two dozen.
            _ => Value::empty(),
        }
    }

    /// `indexed-repeat(${name}, ${repeat}, n, …)`.
    fn indexed_repeat(&self, arguments: &[Node]) -> Value {
        let Some(Node::Reference(name)) = arguments.first() else {
            return Value::empty();
        };
        let mut path = Vec::new();
        for pair in arguments[1..].chunks(2) {
            let [Node::Reference(repeat), index] = pair else {
                return Value::empty();
            };
            let index = self.eval(index).as_number();
            if !(index >= 1.0 && index.fract() == 0.0 && index < 1e9) {
                return Value::empty();
            }
            path.push((repeat.as_str(), index_of(index)));
        }
        self.scope.indexed(name, &path)
    }
}

/// A count as a number; counts here are far below 2^53.
#[allow(clippy::cast_precision_loss)]
fn whole(count: usize) -> f64 {
    count as f64
}

/// A whole, non-negative number below 1e9 as an index.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn index_of(number: f64) -> usize {
    number.clamp(0.0, 1e9) as usize
}

/// The question named by `'${name}'` (or a path `/data/group/name`), as
/// `jr:choice-name` takes it.
pub(crate) fn named_in_text(text: &str) -> Option<&str> {
    let text = text.trim();
    let name = match text
        .strip_prefix("${")
        .and_then(|rest| rest.strip_suffix('}'))
    {
        Some(name) => name,
        None => text.rsplit('/').next()?,
    };
    (!name.is_empty()).then_some(name)
}

/// A value as a moment: a date (midnight UTC), an RFC 3339 text, a
/// `YYYY-MM-DDTHH:MM[:SS]` text (UTC), or a number of days since
/// 1970-01-01 with a fraction.
pub(crate) fn date_time(value: &Value) -> Option<DateTime<FixedOffset>> {
    let utc = |moment: NaiveDateTime| moment.and_utc().fixed_offset();
    match value.single() {
        Value::Date(date) => Some(utc(date.and_time(NaiveTime::MIN))),
        Value::Text(text) => parse_date_time(text.trim()),
        Value::Number(days) if days.is_finite() && days.abs() < 1e8 => {
            // Within ±1e8 days by the check, so the milliseconds fit an i64.
            #[allow(clippy::cast_possible_truncation)]
            let millis = (days * DAY_SECONDS * 1000.0).round() as i64;
            DateTime::from_timestamp_millis(millis).map(|moment| moment.fixed_offset())
        }
        _ => None,
    }
}

/// An RFC 3339 text, a date-time without offset (UTC), or a date.
pub(crate) fn parse_date_time(text: &str) -> Option<DateTime<FixedOffset>> {
    if let Ok(moment) = DateTime::parse_from_rfc3339(text) {
        return Some(moment);
    }
    if let Ok(moment) = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(moment);
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(moment) = NaiveDateTime::parse_from_str(text, format) {
            return Some(moment.and_utc().fixed_offset());
        }
    }
    parse_date(text).map(|date| date.and_time(NaiveTime::MIN).and_utc().fixed_offset())
}

/// Days since 1970-01-01 in the moment's own offset, with the time of day
/// as a fraction, as ODK's `decimal-date-time`.
pub(crate) fn decimal_days(moment: &DateTime<FixedOffset>) -> f64 {
    let local = moment.naive_local();
    epoch_days(local.date()) + f64::from(local.time().num_seconds_from_midnight()) / DAY_SECONDS
}

/// `HH:MM[:SS]`, optionally with fractions and an offset, as a time.
fn time_of_day(text: &str) -> Option<NaiveTime> {
    let text = text.trim();
    let seconds = text
        .get(..8)
        .and_then(|clock| NaiveTime::parse_from_str(clock, "%H:%M:%S").ok());
    seconds.or_else(|| NaiveTime::parse_from_str(text.get(..5)?, "%H:%M").ok())
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// ODK's `format-date`: `%Y` year, `%y` two-digit year, `%m` month 01–12,
/// `%n` month 1–12, `%b` month's short name, `%d` day 01–31, `%e` day
/// 1–31, `%H` hour 00–23, `%h` hour 0–23, `%M` minute, `%S` second, `%3`
/// milliseconds, `%a` day's short name; anything else as written.
pub(crate) fn format_date(moment: DateTime<FixedOffset>, format: &str) -> String {
    let local = moment.naive_local();
    let date: NaiveDate = local.date();
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(code) = chars.next() else {
            out.push('%');
            break;
        };
        let piece = match code {
            'Y' => format!("{:04}", date.year()),
            'y' => format!("{:02}", date.year().rem_euclid(100)),
            'm' => format!("{:02}", date.month()),
            'n' => date.month().to_string(),
            'b' => MONTHS[date.month0() as usize % 12].to_owned(),
            'd' => format!("{:02}", date.day()),
            'e' => date.day().to_string(),
            'H' => format!("{:02}", local.hour()),
            'h' => local.hour().to_string(),
            'M' => format!("{:02}", local.minute()),
            'S' => format!("{:02}", local.second()),
            '3' => format!("{:03}", local.nanosecond() / 1_000_000 % 1000),
            'a' => DAYS[date.weekday().num_days_from_monday() as usize % 7].to_owned(),
            '%' => "%".to_owned(),
            other => format!("%{other}"),
        };
        out.push_str(&piece);
    }
    out
}

/// XPath `translate(s, from, to)`: each character of `from` in `s`
/// becomes the character at its place in `to`, or goes when `to` is
/// shorter.
fn translate(text: &str, from: &str, to: &str) -> String {
    let from: Vec<char> = from.chars().collect();
    let to: Vec<char> = to.chars().collect();
    text.chars()
        .filter_map(|c| match from.iter().position(|&f| f == c) {
            Some(index) => to.get(index).copied(),
            None => Some(c),
        })
        .collect()
}

/// XPath `substring(s, start[, length])`: characters counted from 1,
/// positions rounded, as XPath 1.0 says.
fn substring(text: &str, start: f64, length: Option<f64>) -> String {
    let start = start.round();
    let end = length.map_or(f64::INFINITY, |length| start + length.round());
    if start.is_nan() || end.is_nan() {
        return String::new();
    }
    text.chars()
        .enumerate()
        .filter(|(index, _)| {
            let position = whole(*index) + 1.0;
            position >= start && position < end
        })
        .map(|(_, c)| c)
        .collect()
}
