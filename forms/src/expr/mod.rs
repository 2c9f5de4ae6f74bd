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
mod parser;
mod value;

#[cfg(test)]
mod eval_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use value::Value;

use ast::Node;
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
        let root = parser::parse(source)?;
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
        walk(&self.root, &mut |node| {
            if let Node::Reference(name) = node
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

/// Calls `visit` on `node` and every node below it, in source order.
fn walk<'a>(node: &'a Node, visit: &mut impl FnMut(&'a Node)) {
    visit(node);
    match node {
        Node::Number(_) | Node::Text(_) | Node::Reference(_) | Node::Current => {}
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
/// question being checked in a visit.
pub trait Scope {
    /// `${name}` as seen from the current position: a single value, or a
    /// [`Value::Nodes`] of every instance's value for a question inside a
    /// repeat seen from outside it (for `${repeat_name}` itself, one value per
    /// instance, so `count()` counts instances). An unanswered question is
    /// [`Value::empty`].
    fn reference(&self, name: &str) -> Value;

    /// `.`: the answer of the question being checked.
    fn current(&self) -> Value;

    /// The date `today()` gives.
    fn today(&self) -> chrono::NaiveDate;
}
