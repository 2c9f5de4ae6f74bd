//! Property tests: the parser never panics, printing and parsing round-trip
//! for any tree, evaluation never panics for any scope, and arithmetic keeps
//! the identities that hold for finite numbers.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::Config;

use super::ast::{Function, Node, Operator};
use super::parser::{parse, parse_with};
use super::tests::{TestScope, date};
use super::{Expr, Scope, Value};

fn config(cases: u32) -> Config {
    Config {
        cases,
        // A failure prints its minimal input; nothing is written to the tree.
        failure_persistence: None,
        ..Config::default()
    }
}

/// Every binary operator, by precedence level, loosest first.
const LEVELS: [&[Operator]; 6] = [
    &[Operator::Or],
    &[Operator::And],
    &[Operator::Equal, Operator::NotEqual],
    &[
        Operator::Less,
        Operator::LessOrEqual,
        Operator::Greater,
        Operator::GreaterOrEqual,
    ],
    &[Operator::Add, Operator::Subtract],
    &[Operator::Multiply, Operator::Divide, Operator::Modulo],
];

/// Pieces of the language, and near misses, to build texts from.
const TOKENS: &[&str] = &[
    "${a}",
    "${b}",
    "${名字}",
    "${",
    "}",
    "$",
    ".",
    "..",
    "3",
    "1.5",
    ".5",
    "0",
    "'x'",
    "\"y\"",
    "'",
    "\"",
    "'it''s'",
    "(",
    ")",
    ",",
    "+",
    "-",
    "*",
    "=",
    "!=",
    "!",
    "<",
    "<=",
    ">",
    ">=",
    "==",
    "div",
    "mod",
    "and",
    "or",
    "true",
    "/",
    "[",
    "]",
    "|",
    ":",
    "中",
    "，",
    "selected(",
    "count-selected(",
    "if(",
    "coalesce(",
    "concat(",
    "string-length(",
    "regex(",
    "today()",
    "int(",
    "round(",
    "number(",
    "date(",
    "not(",
    "true()",
    "false()",
    "sum(",
    "count(",
    "string(",
    "boolean(",
    "contains(",
    "starts-with(",
    "substr(",
    "min(",
    "max(",
    "jr:choice-name(",
    "'^[0-9]+$'",
    "'\\d'",
    "'('",
    "'2024-01-31'",
];

fn token_text() -> impl Strategy<Value = String> {
    prop::collection::vec((select(TOKENS), select(&["", " ", "\t"][..])), 0..40).prop_map(
        |pieces| {
            pieces
                .into_iter()
                .flat_map(|(token, space)| [token, space])
                .collect()
        },
    )
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_][a-z0-9_]{0,6}",
        "[a-z][a-z0-9_.-]{0,6}",
        "[\u{4e00}-\u{4e20}]{1,3}",
    ]
}

/// Text literals: one kind of quote at most, as the grammar allows; some
/// regex syntax so `regex()` compiles odd patterns.
fn text_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 '\\[\\](){}*+?.^$|\\\\-]{0,8}",
        "[a-z \"\u{4e00}-\u{4e05}]{0,6}",
        Just("2024-01-31".to_owned()),
        Just("rice beans".to_owned()),
    ]
}

fn number_literal() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0u32..1000).prop_map(f64::from),
        0.0f64..1e9,
        Just(0.5),
        Just(1e20),
    ]
}

/// Any tree the parser could produce.
fn node() -> impl Strategy<Value = Node> {
    tree(false)
}

/// A column name in a choice filter: never an operator or a boolean.
fn field() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,6}".prop_filter("not a keyword", |name| {
        !matches!(
            name.as_str(),
            "and" | "or" | "div" | "mod" | "true" | "false"
        )
    })
}

/// Any tree the parser could produce; with `fields`, bare names too (a
/// choice filter).
fn tree(fields: bool) -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        number_literal().prop_map(Node::Number),
        text_literal().prop_map(Node::Text),
        name().prop_map(Node::Reference),
        Just(Node::Current),
        field().prop_map(move |name| if fields {
            Node::Field(name)
        } else {
            Node::Reference(name)
        }),
    ];
    leaf.prop_recursive(4, 48, 4, |inner| {
        prop_oneof![
            inner
                .clone()
                .prop_map(|operand| Node::Negate(Box::new(operand))),
            (
                0..LEVELS.len(),
                inner.clone(),
                prop::collection::vec((any::<Index>(), inner.clone()), 1..4),
            )
                .prop_map(|(level, first, rest)| Node::Chain {
                    first: Box::new(first),
                    rest: rest
                        .into_iter()
                        .map(|(index, operand)| (*index.get(LEVELS[level]), operand))
                        .collect(),
                }),
            (
                select(Function::ALL.to_vec()),
                prop::collection::vec(inner, 0..4)
            )
                .prop_map(|(function, mut arguments)| {
                    let (least, most) = function.arity();
                    arguments.truncate(most.unwrap_or(usize::MAX));
                    while arguments.len() < least {
                        arguments.push(Node::Number(1.0));
                    }
                    // A question, then pairs of a repeat and an item number.
                    if function == Function::IndexedRepeat && arguments.len() % 2 == 0 {
                        arguments.pop();
                    }
                    Node::Call {
                        function,
                        arguments,
                    }
                }),
        ]
    })
}

fn value() -> impl Strategy<Value = Value> {
    let single = prop_oneof![
        any::<String>().prop_map(Value::Text),
        "[0-9 .-]{0,6}".prop_map(Value::Text),
        Just(Value::Text("1990-05-17".to_owned())),
        Just(Value::Text("maize rice".to_owned())),
        any::<f64>().prop_map(Value::Number),
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(-0.0),
            Just(f64::MAX),
            Just(f64::MIN_POSITIVE),
        ]
        .prop_map(Value::Number),
        any::<bool>().prop_map(Value::Bool),
        (-1_000_000i32..1_000_000).prop_map(|days| {
            Value::Date(date(1970, 1, 1) + chrono::TimeDelta::days(i64::from(days)))
        }),
    ];
    single.prop_recursive(2, 12, 4, |inner| {
        prop::collection::vec(inner, 0..4).prop_map(Value::Nodes)
    })
}

/// A scope that answers every name with one of its values, chosen by the
/// name's length, so any generated reference finds something.
#[derive(Debug, Clone)]
struct AnyScope {
    values: Vec<Value>,
    current: Value,
    today: chrono::NaiveDate,
}

impl Scope for AnyScope {
    fn reference(&self, name: &str) -> Value {
        match self.values.len() {
            0 => Value::empty(),
            count => self.values[name.len() % count].clone(),
        }
    }

    fn current(&self) -> Value {
        self.current.clone()
    }

    fn today(&self) -> chrono::NaiveDate {
        self.today
    }
}

fn any_scope() -> impl Strategy<Value = AnyScope> {
    (
        prop::collection::vec(value(), 0..6),
        value(),
        -1_000_000i64..1_000_000,
    )
        .prop_map(|(values, current, days)| AnyScope {
            values,
            current,
            today: date(1970, 1, 1) + chrono::TimeDelta::days(days),
        })
}

/// Finite numbers of every magnitude, signs and zeros included.
fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |number| number.is_finite()),
        -1e6f64..1e6,
        (-1000i32..1000).prop_map(f64::from),
    ]
}

fn two_numbers(a: f64, b: f64) -> TestScope {
    TestScope {
        values: HashMap::from([
            ("a".to_owned(), Value::Number(a)),
            ("b".to_owned(), Value::Number(b)),
        ]),
        current: Value::Number(a),
        today: date(2024, 12, 28),
    }
}

fn number(source: &str, scope: &TestScope) -> f64 {
    Expr::parse(source).unwrap().evaluate(scope).as_number()
}

fn truth(source: &str, scope: &TestScope) -> bool {
    Expr::parse(source).unwrap().evaluate(scope).as_bool()
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn parse_never_panics_on_any_text(source in any::<String>()) {
        let _ = Expr::parse(&source);
    }

    #[test]
    fn parse_never_panics_on_token_soup_and_what_parses_round_trips(source in token_text()) {
        if let Ok(expr) = Expr::parse(&source) {
            let printed = expr.to_string();
            let again = Expr::parse(&printed);
            prop_assert!(again.is_ok(), "{source:?} printed as {printed:?}: {again:?}");
            prop_assert_eq!(again.unwrap(), expr);
        }
    }
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn printing_a_tree_and_parsing_it_gives_the_same_tree(tree in node()) {
        let printed = tree.to_string();
        let parsed = parse(&printed);
        prop_assert!(parsed.is_ok(), "{printed:?}: {parsed:?}");
        prop_assert_eq!(parsed.unwrap(), tree);
        // The canonical form is a fixed point.
        prop_assert_eq!(Expr::parse(&printed).unwrap().to_string(), printed);
    }

    #[test]
    fn a_filter_prints_and_parses_back_and_never_panics(
        tree in tree(true),
        scope in any_scope(),
        extra in prop::collection::btree_map("[a-z]{1,3}", ".{0,4}", 0..4),
    ) {
        let printed = tree.to_string();
        let parsed = parse_with(&printed, true);
        prop_assert!(parsed.is_ok(), "{printed:?}: {parsed:?}");
        prop_assert_eq!(parsed.unwrap(), tree);
        let filter = Expr::parse_filter(&printed).unwrap();
        let choice = crate::Choice { name: "c".into(), label: crate::Labels::plain("C"), extra };
        let _ = crate::expr::choice_passes(&filter, &choice, &scope);
    }

    #[test]
    fn evaluation_never_panics_in_any_scope(tree in node(), scope in any_scope()) {
        let expr = Expr::parse(&tree.to_string()).unwrap();
        let value = expr.evaluate(&scope);
        // Every value converts and serialises, too.
        let _ = (value.as_bool(), value.as_number(), value.as_text(), value.to_json());
    }
}

proptest! {
    #![proptest_config(config(500))]

    #[test]
    fn addition_and_multiplication_commute(a in finite(), b in finite()) {
        let scope = two_numbers(a, b);
        prop_assert_eq!(number("${a} + ${b}", &scope), number("${b} + ${a}", &scope));
        prop_assert_eq!(number("${a} * ${b}", &scope), number("${b} * ${a}", &scope));
        prop_assert!(truth("${a} + ${b} = ${b} + ${a}", &scope), "{a} + {b}");
    }

    #[test]
    fn subtraction_is_antisymmetric_and_zero_is_neutral(a in finite(), b in finite()) {
        let scope = two_numbers(a, b);
        prop_assert_eq!(number("${a} - ${b}", &scope), number("-(${b} - ${a})", &scope));
        prop_assert_eq!(number("${a} + 0", &scope), a);
        prop_assert_eq!(number("${a} * 1", &scope), a);
        prop_assert_eq!(number("- -${a}", &scope), a);
    }

    #[test]
    fn comparisons_are_consistent(a in finite(), b in finite()) {
        let scope = two_numbers(a, b);
        prop_assert!(truth("${a} = ${a}", &scope), "{a} = {a}");
        prop_assert!(!truth("${a} != ${a}", &scope), "{a} != {a}");
        prop_assert_eq!(truth("${a} < ${b}", &scope), !truth("${a} >= ${b}", &scope));
        prop_assert_eq!(truth("${a} > ${b}", &scope), truth("${b} < ${a}", &scope));
        prop_assert_eq!(truth("${a} <= ${b}", &scope), a <= b);
    }

    #[test]
    fn a_number_survives_string_and_back(a in finite()) {
        let scope = two_numbers(a, 0.0);
        prop_assert_eq!(number("number(string(${a}))", &scope), a);
        prop_assert_eq!(number("number(concat('', ${a}))", &scope), a);
    }

    #[test]
    fn mod_takes_the_sign_of_the_dividend(
        a in finite(),
        b in finite().prop_filter("a divisor", |b| *b != 0.0),
    ) {
        let scope = two_numbers(a, b);
        let remainder = number("${a} mod ${b}", &scope);
        prop_assert!(remainder.abs() < b.abs(), "{a} mod {b} = {remainder}");
        prop_assert!(remainder == 0.0 || remainder.signum() == a.signum());
        prop_assert!(number("${a} mod 0", &scope).is_nan(), "{a} mod 0");
    }

    #[test]
    fn int_truncates_and_round_stays_within_a_half(a in finite()) {
        let scope = two_numbers(a, 0.0);
        prop_assert_eq!(number("int(${a})", &scope), a.trunc());
        let rounded = number("round(${a})", &scope);
        prop_assert_eq!(rounded.fract(), 0.0);
        prop_assert!((rounded - a).abs() <= 0.5, "round({a}) = {rounded}");
        let cents = number("round(${a}, 2)", &scope);
        prop_assert!((cents - a).abs() <= 0.005 * (1.0 + 1e-9) + a.abs() * 1e-15, "round({a}, 2) = {cents}");
    }
}
