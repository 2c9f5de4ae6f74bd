//! The built-in functions, and the regular expressions `regex()` compiles.
//!
//! Where ODK Collect (JavaRosa) and XPath 1.0 differ from each other, these
//! follow ODK Collect, since that is where authors test their forms: `sum`,
//! `min` and `max` skip values that are not numbers, `concat` joins every
//! value of a node-set, `substr` counts from 0 and a negative index counts
//! from the end.

use regex::{Regex, RegexBuilder};

use super::ast::{Function, Node};
use super::eval::Evaluation;
use super::value::{Value, format_number, parse_number};

pub(crate) use super::more_functions::named_in_text;

/// The compiled program size and lazy-DFA cache a pattern may use.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// `round(x, d)` with `d` beyond ±this gives NaN, as in ODK Collect.
const MAX_ROUND_DIGITS: f64 = 30.0;

impl Evaluation<'_> {
    /// Calls `function`; the parser checked the number of arguments (a
    /// missing one would read as `""`).
    pub(crate) fn call(&self, function: Function, arguments: &[Node]) -> Value {
        let argument = |index: usize| {
            arguments
                .get(index)
                .map_or_else(Value::empty, |node| self.eval(node))
        };
        let text = |index: usize| argument(index).as_text();
        let number = |index: usize| argument(index).as_number();
        let all_values =
            || -> Vec<Value> { arguments.iter().map(|node| self.eval(node)).collect() };
        match function {
            Function::If => {
                if argument(0).as_bool() {
                    argument(1)
                } else {
                    argument(2)
                }
            }
            Function::Coalesce => {
                let first = argument(0).into_single();
                let missing = match &first {
                    Value::Text(text) => text.is_empty(),
                    Value::Number(number) => number.is_nan(),
                    _ => false,
                };
                if missing {
                    argument(1).into_single()
                } else {
                    first
                }
            }
            Function::Selected => {
                let wanted = text(1);
                let wanted = wanted.trim();
                Value::Bool(
                    !wanted.is_empty() && text(0).split_whitespace().any(|name| name == wanted),
                )
            }
            Function::CountSelected => count(text(0).split_whitespace().count()),
            Function::Concat => {
                let values = all_values();
                let joined: String = values
                    .iter()
                    .flat_map(Value::flatten)
                    .map(Value::as_text)
                    .collect();
                Value::Text(joined)
            }
            Function::StringLength => count(text(0).chars().count()),
            Function::Regex => Value::Bool(self.patterns.is_match(&text(1), &text(0))),
            Function::Today => Value::Date(self.scope.today()),
            Function::Int => Value::Number(number(0).trunc()),
            Function::Round => {
                let digits = if arguments.len() > 1 { number(1) } else { 0.0 };
                Value::Number(round(number(0), digits))
            }
            Function::Number => Value::Number(number(0)),
            Function::Date => argument(0).as_date().map_or_else(Value::empty, Value::Date),
            Function::Not => Value::Bool(!argument(0).as_bool()),
            Function::True => Value::Bool(true),
            Function::False => Value::Bool(false),
            Function::Sum => {
                let nodes = argument(0);
                Value::Number(numbers(nodes.flatten()).sum())
            }
            Function::Count => match argument(0) {
                Value::Nodes(nodes) => count(nodes.len()),
                _ => Value::Number(1.0),
            },
            Function::String => Value::Text(text(0)),
            Function::Boolean => Value::Bool(argument(0).as_bool()),
            Function::Contains => Value::Bool(text(0).contains(&text(1))),
            Function::StartsWith => Value::Bool(text(0).starts_with(&text(1))),
            Function::Substr => {
                let end = (arguments.len() > 2).then(|| number(2));
                Value::Text(substr(&text(0), number(1), end))
            }
            Function::Min | Function::Max => {
                let values = all_values();
                let numbers = numbers(values.iter().flat_map(Value::flatten));
                let extreme = if function == Function::Min {
                    numbers.reduce(f64::min)
                } else {
                    numbers.reduce(f64::max)
                };
                Value::Number(extreme.unwrap_or(f64::NAN))
            }
            _ => self.call_more(function, arguments),
        }
    }
}

/// A count as a number; counts here are far below 2^53.
fn count(count: usize) -> Value {
    #[allow(clippy::cast_precision_loss)]
    Value::Number(count as f64)
}

/// The values as numbers, leaving out those that are not (NaN), as ODK
/// Collect's `sum`, `min` and `max` do.
fn numbers<'a>(values: impl IntoIterator<Item = &'a Value>) -> impl Iterator<Item = f64> {
    values
        .into_iter()
        .map(Value::as_number)
        .filter(|number| !number.is_nan())
}

/// ODK's `substr(s, start, end)`: characters from `start` (0-based) up to
/// `end` (exclusive, default the end); a negative index counts from the end;
/// indices are truncated (NaN is 0) and clamped to the text.
fn substr(text: &str, start: f64, end: Option<f64>) -> String {
    let chars: Vec<char> = text.chars().collect();
    let length = chars.len();
    let index = |position: f64| -> usize {
        // `as` saturates, and NaN becomes 0, as Java's `(int)` does.
        #[allow(clippy::cast_possible_truncation)]
        let position = position.trunc() as i64;
        let from_start = if position < 0 {
            i64::try_from(length)
                .unwrap_or(i64::MAX)
                .saturating_add(position)
        } else {
            position
        };
        usize::try_from(from_start.max(0))
            .unwrap_or(usize::MAX)
            .min(length)
    };
    let start = index(start);
    let end = end.map_or(length, index);
    chars
        .get(start..end)
        .map(String::from_iter)
        .unwrap_or_default()
}

/// `round(number, digits)` as ODK Collect: to `digits` decimals (a
/// negative count rounds to tens, hundreds…), a tie going up (2.5 → 3,
/// -2.5 → -2, as XPath 1.0 says). Positive digit counts round the number's
/// shortest decimal spelling, so `round(2.675, 2)` is 2.68 as a person
/// expects, not 2.67 as its binary value would give.
fn round(number: f64, digits: f64) -> f64 {
    if !number.is_finite() {
        return number;
    }
    let digits = digits.trunc();
    if digits.is_nan() || digits.abs() > MAX_ROUND_DIGITS {
        return f64::NAN;
    }
    if digits < 0.0 {
        let factor = 10f64.powf(-digits);
        return ((number / factor) + 0.5).floor() * factor;
    }
    // Between 0 and 30 by the checks above.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let digits = digits as usize;
    let spelt = format_number(number.abs());
    let (whole, fraction) = spelt.split_once('.').unwrap_or((spelt.as_str(), ""));
    if fraction.len() <= digits {
        return number;
    }
    let (kept, dropped) = fraction.split_at(digits);
    // A tie rounds the magnitude up for positive numbers only.
    let round_up = match dropped.as_bytes() {
        [first, rest @ ..] => {
            *first > b'5' || (*first == b'5' && (number > 0.0 || rest.iter().any(|&d| d != b'0')))
        }
        [] => false,
    };
    let mut digits_kept: Vec<u8> = whole.bytes().chain(kept.bytes()).collect();
    if round_up {
        let mut carry = true;
        for digit in digits_kept.iter_mut().rev() {
            if *digit == b'9' {
                *digit = b'0';
            } else {
                *digit += 1;
                carry = false;
                break;
            }
        }
        if carry {
            digits_kept.insert(0, b'1');
        }
    }
    let split = digits_kept.len() - digits;
    let (whole, fraction) = digits_kept.split_at(split);
    let rounded = format!(
        "{}.{}0",
        String::from_utf8_lossy(whole),
        String::from_utf8_lossy(fraction)
    );
    let magnitude = parse_number(&rounded).unwrap_or(f64::NAN);
    if number < 0.0 { -magnitude } else { magnitude }
}

/// The patterns an expression gives `regex()` as literals, compiled once
/// when it is parsed. Other patterns are compiled at each evaluation.
#[derive(Debug, Clone, Default)]
pub(crate) struct Patterns {
    /// Each literal pattern, and its program (`None`: it does not compile).
    compiled: Vec<(String, Option<Regex>)>,
}

impl Patterns {
    /// Compiles the literal patterns of every `regex()` call in `root`.
    pub(crate) fn of(root: &Node) -> Patterns {
        let mut patterns = Patterns::default();
        patterns.collect(root);
        patterns
    }

    fn collect(&mut self, node: &Node) {
        match node {
            Node::Number(_)
            | Node::Text(_)
            | Node::Reference(_)
            | Node::Current
            | Node::Field(_) => {}
            Node::Negate(operand) => self.collect(operand),
            Node::Chain { first, rest } => {
                self.collect(first);
                for (_, operand) in rest {
                    self.collect(operand);
                }
            }
            Node::Call {
                function,
                arguments,
            } => {
                if let (Function::Regex, Some(Node::Text(pattern))) = (function, arguments.get(1))
                    && !self.compiled.iter().any(|(known, _)| known == pattern)
                {
                    self.compiled.push((pattern.clone(), compile(pattern)));
                }
                for argument in arguments {
                    self.collect(argument);
                }
            }
        }
    }

    /// Whether `pattern` matches anywhere in `text`; false when the pattern
    /// does not compile.
    pub(crate) fn is_match(&self, pattern: &str, text: &str) -> bool {
        match self.compiled.iter().find(|(known, _)| known == pattern) {
            Some((_, program)) => program.as_ref().is_some_and(|regex| regex.is_match(text)),
            None => compile(pattern).is_some_and(|regex| regex.is_match(text)),
        }
    }
}

/// The program for `pattern`, within the size limits; `None` when it is not
/// a valid pattern (or uses what the regex crate lacks: look-around and
/// back-references).
pub(crate) fn compile(pattern: &str) -> Option<Regex> {
    RegexBuilder::new(&ascii_classes(pattern))
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .ok()
}

/// `pattern` with `\d`, `\w`, `\s` (and `\D`, `\W`, `\S`) made ASCII-only,
/// as in Java and so ODK Collect: `^\d{18}$` must refuse an ID number typed
/// in full-width digits (`１２３…`), which the regex crate's Unicode `\d`
/// would accept. `.` and literal characters stay Unicode, so `^.{2,4}$` still
/// counts Chinese characters.
fn ascii_classes(pattern: &str) -> String {
    let mut rewritten = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    // How many character classes `[…]` enclose the current position.
    let mut depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(class @ ('d' | 'D' | 'w' | 'W' | 's' | 'S')) => {
                    let name = match class.to_ascii_lowercase() {
                        'd' => "digit",
                        'w' => "word",
                        _ => "space",
                    };
                    let negated = if class.is_ascii_uppercase() { "^" } else { "" };
                    if depth == 0 {
                        rewritten.push_str(&format!("[[:{negated}{name}:]]"));
                    } else {
                        rewritten.push_str(&format!("[:{negated}{name}:]"));
                    }
                }
                Some(other) => {
                    rewritten.push('\\');
                    rewritten.push(other);
                }
                None => rewritten.push('\\'),
            },
            '[' if depth > 0 && chars.peek() == Some(&':') => {
                // An ASCII class such as `[:alpha:]`, copied up to its `:]`.
                rewritten.push('[');
                let mut previous = '[';
                for inner in chars.by_ref() {
                    rewritten.push(inner);
                    if previous == ':' && inner == ']' {
                        break;
                    }
                    previous = inner;
                }
            }
            '[' => {
                depth += 1;
                rewritten.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    rewritten.push('^');
                }
                // A `]` first in a class is a literal `]`.
                if chars.peek() == Some(&']') {
                    chars.next();
                    rewritten.push(']');
                }
            }
            ']' if depth > 0 => {
                depth -= 1;
                rewritten.push(']');
            }
            other => rewritten.push(other),
        }
    }
    rewritten
}
