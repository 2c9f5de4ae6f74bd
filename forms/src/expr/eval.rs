//! Evaluating a tree against a [`Scope`]: operators here, functions in
//! `functions.rs`.
//!
//! Nothing here can panic: every conversion is total (NaN and `""` stand in
//! for what is not a number or a date), division by zero gives ±Infinity or
//! NaN as in XPath, and the tree's depth was bounded by the parser.

use super::Scope;
use super::ast::{Node, Operator};
use super::functions::Patterns;
use super::value::Value;

/// Two numbers closer than this are equal, as in ODK Collect (JavaRosa), so
/// `0.1 + 0.2 = 0.3` holds.
const EQUALITY_TOLERANCE: f64 = 1e-12;

/// One evaluation: what the expression sees, and its compiled patterns.
pub(crate) struct Evaluation<'a> {
    pub(crate) scope: &'a dyn Scope,
    pub(crate) patterns: &'a Patterns,
}

impl Evaluation<'_> {
    pub(crate) fn eval(&self, node: &Node) -> Value {
        match node {
            Node::Number(number) => Value::Number(*number),
            Node::Text(text) => Value::Text(text.clone()),
            Node::Reference(name) => self.scope.reference(name),
            Node::Current => self.scope.current(),
            Node::Field(name) => self.scope.field(name),
            Node::Negate(operand) => Value::Number(-self.eval(operand).as_number()),
            Node::Chain { first, rest } => self.chain(first, rest),
            Node::Call {
                function,
                arguments,
            } => self.call(*function, arguments),
        }
    }

    /// A chain of operators of one level, from the left; `and` and `or`
    /// stop at the first operand that decides.
    fn chain(&self, first: &Node, rest: &[(Operator, Node)]) -> Value {
        let mut accumulated = self.eval(first);
        for (operator, operand) in rest {
            accumulated = match operator {
                Operator::Or => {
                    if accumulated.as_bool() {
                        return Value::Bool(true);
                    }
                    Value::Bool(self.eval(operand).as_bool())
                }
                Operator::And => {
                    if !accumulated.as_bool() {
                        return Value::Bool(false);
                    }
                    Value::Bool(self.eval(operand).as_bool())
                }
                Operator::Equal => Value::Bool(equal(&accumulated, &self.eval(operand))),
                Operator::NotEqual => Value::Bool(!equal(&accumulated, &self.eval(operand))),
                Operator::Less
                | Operator::LessOrEqual
                | Operator::Greater
                | Operator::GreaterOrEqual => {
                    let (left, right) = (accumulated.as_number(), self.eval(operand).as_number());
                    Value::Bool(match operator {
                        Operator::Less => left < right,
                        Operator::LessOrEqual => left <= right,
                        Operator::Greater => left > right,
                        _ => left >= right,
                    })
                }
                Operator::Add
                | Operator::Subtract
                | Operator::Multiply
                | Operator::Divide
                | Operator::Modulo => Value::Number(arithmetic(
                    *operator,
                    accumulated.as_number(),
                    self.eval(operand).as_number(),
                )),
            };
        }
        accumulated
    }
}

/// `left op right` on numbers. Rust's float `/` and `%` are IEEE's, which is
/// what XPath asks: `1 div 0` is Infinity, `0 div 0` NaN, and `mod` takes
/// the sign of the dividend (`-5 mod 3` is -2), `x mod 0` is NaN.
pub(crate) fn arithmetic(operator: Operator, left: f64, right: f64) -> f64 {
    match operator {
        Operator::Add => left + right,
        Operator::Subtract => left - right,
        Operator::Multiply => left * right,
        Operator::Divide => left / right,
        Operator::Modulo => left % right,
        _ => f64::NAN,
    }
}

/// XPath `=` (ODK's flavour): a node-set is its first value; when either
/// side is a boolean both are compared as booleans, else when either is a
/// number both as numbers (equal within 1e-12, as ODK Collect), else as
/// text (a date as `YYYY-MM-DD`).
pub(crate) fn equal(left: &Value, right: &Value) -> bool {
    let (left, right) = (left.single(), right.single());
    match (left, right) {
        (Value::Bool(_), _) | (_, Value::Bool(_)) => left.as_bool() == right.as_bool(),
        (Value::Number(_), _) | (_, Value::Number(_)) => {
            let (left, right) = (left.as_number(), right.as_number());
            left == right || (left - right).abs() < EQUALITY_TOLERANCE
        }
        _ => left.as_text() == right.as_text(),
    }
}
