//! The expression language of XLSForm's `relevant`, `constraint`,
//! `calculation`, `required`, `default` and `choice_filter` columns.
//!
//! XLSForm expressions are XPath 1.0 with ODK's functions. Full XPath is far
//! more than forms use (paths, axes, predicates, unions), and each extra is
//! code that the phone and the server must agree on, so this module reads the
//! subset that real ODK and KoboToolbox forms are written in, and refuses the
//! rest at parse time with the character where it starts:
//!
//! - references `${name}`, and `.` for the answer being checked;
//! - numbers (`3`, `1.5`, `.5`) and text in `'…'` or `"…"` (no escapes);
//! - `+ - * div mod`, unary minus, `= != < <= > >=`, `and`, `or`,
//!   parentheses, with XPath's precedence;
//! - the functions `selected`, `count-selected`, `if`, `coalesce`, `concat`,
//!   `string-length`, `regex`, `today`, `int`, `round`, `number`, `date`,
//!   `not`, `true`, `false`, `sum`, `count`, `string`, `boolean`, `contains`,
//!   `starts-with`, `substr`, `min` and `max`. An unknown function or a wrong
//!   number of arguments is a parse error, not a surprise in the field.
//!
//! Values follow XPath 1.0 as ODK Collect applies it ([`Value`]): an
//! unanswered question is `""`, `number('')` is NaN, dates are days since
//! 1970-01-01 when used as numbers, and a question inside a repeat seen from
//! outside it is a node-set of every instance's answer. Evaluation never
//! panics and never fails: what cannot be computed is NaN or `""`.
//! `docs/forms.md` describes the language for form authors.
//!
//! The phone and the server both run this code, so a visit that one accepts
//! the other accepts too.

use std::error::Error;
use std::fmt;

mod ast;
mod eval;
mod functions;
mod lexer;
mod more_functions;
mod parser;
mod value;

#[cfg(test)]
mod eval_tests;
#[cfg(test)]
mod more_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use value::Value;

use crate::Choice;

use ast::{Function, Node};
use eval::Evaluation;
use functions::Patterns;

/// A parsed expression. `Display` prints it back in canonical form: single
/// spaces around operators, `, ` between arguments, parentheses only where
/// needed, so `${a}+1` prints as `${a} + 1`. Printing and parsing again gives
/// an equal expression.
///
/// Two expressions are equal when their trees are, whatever their spacing or
/// redundant parentheses: `${a}+1` equals `(${a} + 1)`.
#[derive(Debug, Clone)]
pub struct Expr {
    /// The text it was parsed from, as written.
    source: String,
    root: Node,
    /// The `regex()` patterns written as literals, compiled once.
    patterns: Patterns,
}

impl PartialEq for Expr {
    fn eq(&self, other: &Expr) -> bool {
        self.root == other.root
    }
}

impl Expr {
    /// Parses `source`: at most 10,000 characters, nesting parentheses,
    /// calls and unary minus at most 64 levels deep.
    pub fn parse(source: &str) -> Result<Expr, ParseError> {
        Expr::parse_with(source, false)
    }

    /// Parses a `choice_filter`: as [`Expr::parse`], and a bare name
    /// (`state = ${state}`) is the choice's column of that name, which
    /// [`Scope::field`] gives (see [`choice_passes`]).
    pub fn parse_filter(source: &str) -> Result<Expr, ParseError> {
        Expr::parse_with(source, true)
    }

    fn parse_with(source: &str, fields: bool) -> Result<Expr, ParseError> {
        let root = parser::parse_with(source, fields)?;
        let patterns = Patterns::of(&root);
        Ok(Expr {
            source: source.to_owned(),
            root,
            patterns,
        })
    }

    /// The text it was parsed from, as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every `${name}` the expression refers to, each once, in order of first
    /// appearance (for checking a form: an unknown name is a form error).
    pub fn references(&self) -> Vec<&str> {
        let mut names = Vec::new();
        references(&self.root, &mut names);
        names
    }

    /// The tables `pulldata('file', …)` reads, as written in its first
    /// argument without `.csv`, each once (a file named by an expression
    /// rather than a literal cannot be known before the visit and is left
    /// out).
    pub fn pulldata_files(&self) -> Vec<&str> {
        let mut files = Vec::new();
        walk(&self.root, &mut |node| {
            if let Node::Call {
                function: Function::Pulldata,
                arguments,
            } = node
                && let Some(Node::Text(file)) = arguments.first()
            {
                let file = file.strip_suffix(".csv").unwrap_or(file);
                if !files.contains(&file) {
                    files.push(file);
                }
            }
        });
        files
    }

    /// Every bare name (a choice's column, in a `choice_filter`), each
    /// once, in order of first appearance.
    pub fn fields(&self) -> Vec<&str> {
        let mut names = Vec::new();
        walk(&self.root, &mut |node| {
            if let Node::Field(name) = node
                && !names.contains(&name.as_str())
            {
                names.push(name.as_str());
            }
        });
        names
    }

    /// Whether the expression uses `.`, the answer of the question being
    /// checked.
    pub fn uses_current(&self) -> bool {
        let mut found = false;
        walk(&self.root, &mut |node| found |= *node == Node::Current);
        found
    }

    /// The value of the expression in `scope`. Never panics, whatever the
    /// expression and the scope's values: what cannot be computed is NaN or
    /// `""`. The result is a [`Value::Nodes`] only when the expression is
    /// (or `if`/`coalesce` picks) a reference to a question inside a repeat
    /// seen from outside it; callers that want one value take
    /// [`Value::as_text`] and the like, which read a node-set's first value.
    pub fn evaluate(&self, scope: &dyn Scope) -> Value {
        Evaluation {
            scope,
            patterns: &self.patterns,
        }
        .eval(&self.root)
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.root, f)
    }
}

/// The `${name}`s in `node`, in source order, added to `names` once each;
/// `jr:choice-name(x, '${q}')` names its question in text.
fn references<'a>(node: &'a Node, names: &mut Vec<&'a str>) {
    match node {
        Node::Reference(name) => {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        Node::Call {
            function: Function::ChoiceName,
            arguments,
        } => {
            for (index, argument) in arguments.iter().enumerate() {
                match argument {
                    Node::Text(text) if index == 1 => {
                        if let Some(name) = functions::named_in_text(text)
                            && !names.contains(&name)
                        {
                            names.push(name);
                        }
                    }
                    other => references(other, names),
                }
            }
        }
        _ => {
            let mut children = Vec::new();
            match node {
                Node::Negate(operand) => children.push(operand.as_ref()),
                Node::Chain { first, rest } => {
                    children.push(first.as_ref());
                    children.extend(rest.iter().map(|(_, operand)| operand));
                }
                Node::Call { arguments, .. } => children.extend(arguments),
                _ => {}
            }
            for child in children {
                references(child, names);
            }
        }
    }
}

/// Calls `visit` on `node` and every node below it, in source order.
fn walk<'a>(node: &'a Node, visit: &mut impl FnMut(&'a Node)) {
    visit(node);
    match node {
        Node::Number(_) | Node::Text(_) | Node::Reference(_) | Node::Current | Node::Field(_) => {}
        Node::Negate(operand) => walk(operand, visit),
        Node::Chain { first, rest } => {
            walk(first, visit);
            for (_, operand) in rest {
                walk(operand, visit);
            }
        }
        Node::Call { arguments, .. } => {
            for argument in arguments {
                walk(argument, visit);
            }
        }
    }
}

/// Why a text is not an expression, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The 0-based character (not byte) offset in the source where the
    /// problem starts; the source's length when the text ends too early.
    pub position: usize,
    /// What is wrong, for the form's author.
    pub message: String,
}

/// `at character {position + 1}: {message}`: characters counted from 1, as
/// a person counts.
impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}", self.position + 1, self.message)
    }
}

impl Error for ParseError {}

/// What an expression can see. The form engine implements it for the
/// question being checked in a visit. Every method past `today` has a
/// default, so a scope that needs none of them (a test, the server's
/// re-check of old forms) implements three.
pub trait Scope {
    /// `${name}` as seen from the current position: a single value, or a
    /// [`Value::Nodes`] of every instance's value for a question inside a
    /// repeat seen from outside it (for `${repeat_name}` itself, one value per
    /// instance, so `count()` counts instances). An unanswered question is
    /// [`Value::empty`].
    fn reference(&self, name: &str) -> Value;

    /// `.`: the answer of the question being checked (for a calculation,
    /// its value as stored now, which `once()` reads).
    fn current(&self) -> Value;

    /// The date `today()` gives.
    fn today(&self) -> chrono::NaiveDate;

    /// `position(..)`: the 1-based number of the repeat item the
    /// expression is evaluated in (the innermost repeat around the
    /// question); `None` outside any repeat, which evaluates as NaN.
    /// Default: `None`.
    fn position(&self) -> Option<usize> {
        None
    }

    /// `indexed-repeat(${name}, ${repeat1}, n1[, ${repeat2}, n2…])`: the
    /// value of question `name` in item `n1` (1-based) of `repeat1`, and
    /// within it item `n2` of `repeat2`, and so on, outermost first. `path`
    /// holds the pairs as written; an item number that is not a whole
    /// number ≥ 1 has already made the call `""`. A repeat or item that
    /// does not exist, or a `name` not inside the last repeat, is
    /// [`Value::empty`]. Repeats around the current position not named in
    /// `path` are those of the current position. Default: `""`.
    fn indexed(&self, name: &str, path: &[(&str, usize)]) -> Value {
        let _ = (name, path);
        Value::empty()
    }

    /// `jr:choice-name(choice, '${question}')`: the label of the choice
    /// named `choice` in the list of select `question`, in the form's
    /// `default_language` ([`crate::Labels::get`]: the same text on every
    /// phone and on the server, which compute the same values); `""` when the
    /// question is no select or the list has no such choice. Default: `""`.
    fn choice_label(&self, question: &str, choice: &str) -> Value {
        let _ = (question, choice);
        Value::empty()
    }

    /// `pulldata('file', 'column', 'key_column', key)`: what
    /// [`crate::Form::pulldata`] gives for the form's inlined table, as
    /// text; `""` when nothing matches. Default: `""`.
    fn pulldata(&self, file: &str, column: &str, key_column: &str, key: &str) -> Value {
        let _ = (file, column, key_column, key);
        Value::empty()
    }

    /// `uuid()`: a new random (version 4) UUID in its 36-character
    /// lower-case form, different at each call (forms write
    /// `once(uuid())` to keep one). Injectable so that tests are
    /// deterministic. Default: `""`.
    fn uuid(&self) -> String {
        String::new()
    }

    /// `random()`: a number in [0, 1), new at each call. Default: NaN.
    fn random(&self) -> f64 {
        f64::NAN
    }

    /// `now()`: the current date and time with the device's offset.
    /// Default: midnight UTC of [`Scope::today`].
    fn now(&self) -> chrono::DateTime<chrono::FixedOffset> {
        self.today()
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .fixed_offset()
    }

    /// A bare name in a `choice_filter` (`state` in `state = ${state}`):
    /// the column of that name of the choice being filtered. Outside a
    /// filter there are none. Default: `""`; [`choice_passes`] answers it.
    fn field(&self, name: &str) -> Value {
        let _ = name;
        Value::empty()
    }
}

/// Whether `choice` is offered under `filter` (a question's
/// `choice_filter`): the filter evaluated in `outer`, the question's scope,
/// with each bare name read from the choice: `name` is its name, `label`
/// its label as [`crate::Labels::get`] with no language gives, any other its extra column of that name
/// (`""` when it has none). An extra column called `name` or `label`
/// wins over the choice's own.
pub fn choice_passes(filter: &Expr, choice: &Choice, outer: &dyn Scope) -> bool {
    filter.evaluate(&ChoiceScope { choice, outer }).as_bool()
}

/// A scope that answers bare names from a choice and the rest from the
/// question's scope.
struct ChoiceScope<'a> {
    choice: &'a Choice,
    outer: &'a dyn Scope,
}

impl Scope for ChoiceScope<'_> {
    fn reference(&self, name: &str) -> Value {
        self.outer.reference(name)
    }
    fn current(&self) -> Value {
        self.outer.current()
    }
    fn today(&self) -> chrono::NaiveDate {
        self.outer.today()
    }
    fn position(&self) -> Option<usize> {
        self.outer.position()
    }
    fn indexed(&self, name: &str, path: &[(&str, usize)]) -> Value {
        self.outer.indexed(name, path)
    }
    fn choice_label(&self, question: &str, choice: &str) -> Value {
        self.outer.choice_label(question, choice)
    }
    fn pulldata(&self, file: &str, column: &str, key_column: &str, key: &str) -> Value {
        self.outer.pulldata(file, column, key_column, key)
    }
    fn uuid(&self) -> String {
        self.outer.uuid()
    }
    fn random(&self) -> f64 {
        self.outer.random()
    }
    fn now(&self) -> chrono::DateTime<chrono::FixedOffset> {
        self.outer.now()
    }
    fn field(&self, name: &str) -> Value {
        if let Some(value) = self.choice.extra.get(name) {
            return Value::Text(value.clone());
        }
        match name {
            "name" => Value::Text(self.choice.name.clone()),
            "label" => Value::Text(self.choice.label.get(None).unwrap_or_default().to_owned()),
            _ => Value::empty(),
        }
    }
}
