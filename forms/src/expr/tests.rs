//! Table-driven tests of parsing (good and bad, with exact positions), of
//! `references`, `uses_current` and `Value`'s conversions; and the scope the
//! evaluation tables in `eval_tests.rs` run in.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use chrono::NaiveDate;
use serde_json::json;

use super::{Expr, ParseError, Scope, Value};

/// A scope of named values, for tests.
#[derive(Debug, Clone)]
pub(super) struct TestScope {
    pub(super) values: HashMap<String, Value>,
    pub(super) current: Value,
    pub(super) today: NaiveDate,
}

impl Scope for TestScope {
    fn reference(&self, name: &str) -> Value {
        self.values.get(name).cloned().unwrap_or_else(Value::empty)
    }

    fn current(&self) -> Value {
        self.current.clone()
    }

    fn today(&self) -> NaiveDate {
        self.today
    }
}

pub(super) fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap()
}

pub(super) fn n(number: f64) -> Value {
    Value::Number(number)
}

pub(super) fn t(text: &str) -> Value {
    Value::Text(text.to_owned())
}

pub(super) fn b(value: bool) -> Value {
    Value::Bool(value)
}

pub(super) fn d(year: i32, month: u32, day: u32) -> Value {
    Value::Date(date(year, month, day))
}

/// A household visit: one adult, a `select_multiple`, a date of birth typed
/// as text, and a repeat of children.
pub(super) fn household() -> TestScope {
    let values = [
        ("age", n(34.0)),
        ("name", t("张三")),
        ("blank", t("")),
        ("crops", t("maize  rice\tbeans")),
        ("dob", t("1990-05-17")),
        ("visit_date", d(2024, 12, 28)),
        ("flag", b(true)),
        ("id_number", t("53060219900101123X")),
        ("income", n(38_000.5)),
        ("child_age", Value::Nodes(vec![n(3.0), n(7.0), t("")])),
        ("child_name", Value::Nodes(vec![t("小明"), t("小红")])),
        ("children", Value::Nodes(vec![t(""), t(""), t("")])),
        ("no_rows", Value::Nodes(vec![])),
    ];
    TestScope {
        values: values
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect(),
        current: n(5.0),
        today: date(2024, 12, 28),
    }
}

/// Equality where NaN equals NaN, so tables can expect NaN.
fn same(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(left), Value::Number(right)) => {
            left == right || (left.is_nan() && right.is_nan())
        }
        (Value::Nodes(left), Value::Nodes(right)) => {
            left.len() == right.len() && left.iter().zip(right).all(|(l, r)| same(l, r))
        }
        _ => left == right,
    }
}

pub(super) fn check_evaluations(cases: &[(&str, Value)]) {
    let scope = household();
    let mut failures = Vec::new();
    for (source, expected) in cases {
        match Expr::parse(source) {
            Ok(expr) => {
                let got = expr.evaluate(&scope);
                if !same(&got, expected) {
                    failures.push(format!("{source}: expected {expected:?}, got {got:?}"));
                }
            }
            Err(error) => failures.push(format!("{source}: does not parse: {error}")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn good_expressions_print_back_in_canonical_form() {
    let cases = [
        ("${a}+1", "${a} + 1"),
        ("1+2*3", "1 + 2 * 3"),
        ("(1+2)*3", "(1 + 2) * 3"),
        ("1-(2-3)", "1 - (2 - 3)"),
        ("1 - 2 - 3", "1 - 2 - 3"),
        ("((1))", "1"),
        ("-.5", "-0.5"),
        ("3.", "3"),
        ("007.50", "7.5"),
        ("${a} div 2 mod 3", "${a} div 2 mod 3"),
        ("2 div-1", "2 div -1"),
        ("- - 3", "--3"),
        ("-(1 + 2)", "-(1 + 2)"),
        ("1 = 2 = 3", "1 = 2 = 3"),
        ("1 or 2 and 3", "1 or 2 and 3"),
        ("(1 or 2) and 3", "(1 or 2) and 3"),
        ("selected(${crops}, \"rice\")", "selected(${crops}, 'rice')"),
        ("\"it's\"", "\"it's\""),
        (
            "count-selected(${crops})>=2 and .<=10",
            "count-selected(${crops}) >= 2 and . <= 10",
        ),
        ("count-selected (${crops})", "count-selected(${crops})"),
        ("${名字}　=　'是'", "${名字} = '是'"),
        ("${a.b-c_d}!=''", "${a.b-c_d} != ''"),
        ("concat()", "concat()"),
        (
            "if(${age}>=18,'adult',if(${age}>=6,'child','infant'))",
            "if(${age} >= 18, 'adult', if(${age} >= 6, 'child', 'infant'))",
        ),
        (
            "regex(., '^1[3-9][0-9]{9}$')",
            "regex(., '^1[3-9][0-9]{9}$')",
        ),
        ("today()-date(${dob})", "today() - date(${dob})"),
        ("1<2 != 2>1", "1 < 2 != 2 > 1"),
    ];
    for (source, canonical) in cases {
        let expr = Expr::parse(source).unwrap_or_else(|error| panic!("{source}: {error}"));
        assert_eq!(expr.to_string(), canonical, "{source}");
        assert_eq!(expr.source(), source);
        let again = Expr::parse(canonical).unwrap();
        assert_eq!(again, expr, "{source}");
        assert_eq!(again.to_string(), canonical, "{source}");
    }
}

#[test]
fn bad_expressions_fail_at_the_right_character() {
    let deep_parens = format!("{}1{}", "(".repeat(65), ")".repeat(65));
    let deep_minus = format!("{}1", "-".repeat(65));
    let deep_calls = format!("{}1{}", "not(".repeat(65), ")".repeat(65));
    let too_long = format!("1{}", " + 1".repeat(2500));
    let too_large = "9".repeat(400);
    let cases: Vec<(&str, usize, &str)> = vec![
        ("", 0, "the expression is empty"),
        ("  \t ", 0, "the expression is empty"),
        (
            "${a} +",
            6,
            "expected a value, found the end of the expression",
        ),
        ("(1 + 2", 6, "expected `)`, found the end of the expression"),
        ("1 + 2)", 5, "`)` closes nothing"),
        (
            "1 2",
            2,
            "expected an operator or the end of the expression, found the number `2`",
        ),
        (
            "${a} ${b}",
            5,
            "expected an operator or the end of the expression, found `${b}`",
        ),
        ("${a", 0, "`${` is not closed with `}`"),
        ("${}", 0, "`${}` names no question"),
        ("${1a}", 2, "a question's name starts with a letter or `_`"),
        ("${a b}", 3, "` ` cannot be part of a question's name"),
        ("$a", 0, "`$` must start a reference such as ${name}"),
        ("'abc", 0, "text is not closed with '"),
        ("concat('a', \"b)", 12, "text is not closed with \""),
        ("foo(1)", 0, "unknown function `foo`"),
        ("1 + jr:label(${a})", 4, "unknown function `jr:label`"),
        ("1 + jr:(2)", 6, "unexpected character `:`"),
        ("position(.)", 0, "`position` takes no arguments, not 1"),
        (
            "indexed-repeat(${a}, ${r}, 1, ${s})",
            0,
            "`indexed-repeat` takes a question",
        ),
        (
            "${a} + ..",
            7,
            "`..` (the parent) is supported only in position(..)",
        ),
        ("round(1, 2, 3)", 0, "`round` takes 1 or 2 arguments, not 3"),
        ("1 + if(1, 2)", 4, "`if` takes 3 arguments, not 2"),
        ("today(1)", 0, "`today` takes no arguments, not 1"),
        ("min()", 0, "`min` takes at least 1 argument, not 0"),
        (
            "string-length()",
            0,
            "`string-length` takes 1 argument, not 0",
        ),
        (
            "yes",
            0,
            "a bare name `yes`: refer to a question as ${yes}, or write text in quotes: 'yes'",
        ),
        ("'张三' = yes", 7, "a bare name `yes`"),
        ("中文 = 1", 0, "a bare name `中文`"),
        ("true", 0, "write `true()` for the boolean value"),
        ("div 2", 0, "expected a value, found the operator `div`"),
        (
            "2 div",
            5,
            "expected a value, found the end of the expression",
        ),
        ("* 2", 0, "expected a value, found `*`"),
        (
            ". = 1 and",
            9,
            "expected a value, found the end of the expression",
        ),
        ("concat(1,)", 9, "expected a value, found `)`"),
        (
            "concat(1 2)",
            9,
            "expected `,` or `)`, found the number `2`",
        ),
        (
            "${a} / 2",
            5,
            "unexpected character `/`: paths are not supported: refer to a question as ${name}, and divide with `div`",
        ),
        (
            "../a",
            0,
            "`..` (the parent) is supported only in position(..)",
        ),
        (
            "..",
            0,
            "`..` (the parent) is supported only in position(..)",
        ),
        ("${a} == 1", 5, "compare with `=`, not `==`"),
        ("${a} ! 1", 5, "`!` must be followed by `=`"),
        (
            "${a} | ${b}",
            5,
            "unexpected character `|`: `|` (node-set union) is not supported; for “or” write `or`",
        ),
        (
            "${a} && ${b}",
            5,
            "unexpected character `&`: for “and” write `and`",
        ),
        (
            "${a}[1]",
            4,
            "unexpected character `[`: predicates `[…]` are not supported",
        ),
        (
            "selected(${a}，'x')",
            13,
            "unexpected character `，`: a full-width character: use the ASCII one",
        ),
        (
            &deep_parens,
            64,
            "the expression nests more than 64 levels deep",
        ),
        (
            &deep_minus,
            64,
            "the expression nests more than 64 levels deep",
        ),
        (
            &deep_calls,
            259,
            "the expression nests more than 64 levels deep",
        ),
        (
            &too_long,
            10_000,
            "the expression is longer than 10000 characters",
        ),
        (&too_large, 0, "the number is too large"),
    ];
    let mut failures = Vec::new();
    for (source, position, message) in &cases {
        match Expr::parse(source) {
            Ok(expr) => failures.push(format!("{source}: parsed as {expr}")),
            Err(error) => {
                if error.position != *position || !error.message.starts_with(message) {
                    failures.push(format!(
                        "{source}: expected {message:?} at {position}, got {:?} at {}",
                        error.message, error.position
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_limits_themselves_are_accepted() {
    let deepest = format!("{}1{}", "(".repeat(64), ")".repeat(64));
    assert!(Expr::parse(&deepest).is_ok());
    let longest = format!("1{}", " ".repeat(9_999));
    assert_eq!(longest.chars().count(), 10_000);
    assert!(Expr::parse(&longest).is_ok());
    // Characters, not bytes: 10,000 Chinese characters are 30,000 bytes.
    let chinese = format!("'{}'", "张".repeat(9_998));
    assert!(Expr::parse(&chinese).is_ok());
}

#[test]
fn the_deepest_expression_evaluates_prints_and_drops_without_overflow() {
    // Every nesting level holds a chain of each precedence level, so the
    // tree is about 7 × 63 nodes deep.
    let mut source = "${x}".to_owned();
    for _ in 0..63 {
        source = format!("(1 or 1 and 1 = 1 < 1 + 1 * {source})");
    }
    let expr = Expr::parse(&source).unwrap();
    assert_eq!(expr.evaluate(&household()), b(true));
    assert_eq!(Expr::parse(&expr.to_string()).unwrap(), expr);
    assert_eq!(expr.references(), ["x"]);
    let copy = expr.clone();
    drop(expr);
    assert!(!copy.uses_current());
}

#[test]
fn expressions_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Expr>();
    shareable::<Value>();
    shareable::<ParseError>();
}

#[test]
fn parse_errors_display_a_position_counted_from_one() {
    let error = Expr::parse("${a} +").unwrap_err();
    assert_eq!(
        error,
        ParseError {
            position: 6,
            message: "expected a value, found the end of the expression".to_owned(),
        }
    );
    assert_eq!(
        error.to_string(),
        "at character 7: expected a value, found the end of the expression"
    );
    let boxed: Box<dyn std::error::Error> = Box::new(error);
    assert!(boxed.source().is_none());
}

#[test]
fn references_are_distinct_in_order_of_first_appearance() {
    let cases: [(&str, &[&str]); 5] = [
        ("1 + 2", &[]),
        (". > 0", &[]),
        ("${b} + ${a} + ${b}", &["b", "a"]),
        (
            "if(selected(${crops}, 'rice'), sum(${child_age}), -${b}) = count(${crops})",
            &["crops", "child_age", "b"],
        ),
        ("concat(${名字}, '${not_a_reference}')", &["名字"]),
    ];
    for (source, expected) in cases {
        assert_eq!(
            Expr::parse(source).unwrap().references(),
            expected,
            "{source}"
        );
    }
}

#[test]
fn uses_current_finds_the_dot_anywhere() {
    for (source, expected) in [
        (". > 0", true),
        ("string-length(.) <= 20", true),
        ("if(${a}, 1, -.)", true),
        ("${a} > 0", false),
        ("'.' = .5", false),
    ] {
        assert_eq!(
            Expr::parse(source).unwrap().uses_current(),
            expected,
            "{source}"
        );
    }
}

#[test]
fn equality_ignores_spelling_but_not_meaning() {
    let parse = |source: &str| Expr::parse(source).unwrap();
    assert_eq!(parse("${a}+1"), parse("(${a} + 1)"));
    assert_eq!(parse("'x'"), parse("\"x\""));
    assert_ne!(parse("1 - 2 - 3"), parse("1 - (2 - 3)"));
    assert_ne!(parse("${a} + 1"), parse("${a} + 2"));
}

#[test]
fn every_function_is_reachable_by_name() {
    use super::ast::Function;
    for function in Function::ALL {
        assert_eq!(Function::from_name(function.name()), Some(function));
    }
    assert_eq!(
        Function::from_name("jr:choice-name"),
        Some(Function::ChoiceName)
    );
    assert_eq!(Function::from_name("choice-name"), None);
}

#[test]
fn values_convert_like_xpath() {
    assert_eq!(Value::empty(), t(""));
    assert!(Value::empty().is_empty());
    assert!(Value::Nodes(vec![]).is_empty());
    assert!(!Value::Nodes(vec![t("")]).is_empty());
    assert!(!n(0.0).is_empty());
    assert!(!t(" ").is_empty());
    assert_eq!(Value::Nodes(vec![]).as_text(), "");
    assert_eq!(
        Value::Nodes(vec![Value::Nodes(vec![n(2.0)])]).as_number(),
        2.0
    );
    assert_eq!(d(1970, 1, 11).as_number(), 10.0);
    assert_eq!(d(1969, 12, 31).as_number(), -1.0);
    assert_eq!(t("2024-12-28").as_number(), 20_085.0);
    assert_eq!(b(true).as_text(), "true");
    assert_eq!(n(-0.0).as_text(), "0");
    assert_eq!(n(1.5e-7).as_text(), "0.00000015");
    assert!(!n(f64::NAN).as_bool());
    assert!(n(-0.1).as_bool());
    assert!(d(1970, 1, 1).as_bool());
}

#[test]
fn json_answers_become_values_and_back() {
    let from = |value: serde_json::Value| Value::from_json(&value);
    assert_eq!(from(json!("yes")), t("yes"));
    assert_eq!(from(json!(4)), n(4.0));
    assert_eq!(from(json!(-6200.5)), n(-6200.5));
    assert_eq!(from(json!(true)), b(true));
    assert_eq!(from(json!(null)), t(""));
    assert_eq!(from(json!({"lat": 1})), t(""));
    assert_eq!(
        from(json!([1, "a", [null]])),
        Value::Nodes(vec![n(1.0), t("a"), Value::Nodes(vec![t("")])])
    );

    let cases = [
        (n(3.0), json!(3)),
        (n(-0.0), json!(0)),
        (n(2.5), json!(2.5)),
        (n(9_007_199_254_740_992.0), json!(9_007_199_254_740_992_i64)),
        (n(1e300), json!(1e300)),
        (n(f64::NAN), json!(null)),
        (n(f64::INFINITY), json!(null)),
        (t("张三"), json!("张三")),
        (b(false), json!(false)),
        (d(2024, 1, 31), json!("2024-01-31")),
        (Value::Nodes(vec![n(1.0), t("")]), json!([1, ""])),
    ];
    for (value, expected) in cases {
        assert_eq!(value.to_json(), expected, "{value:?}");
    }
    assert!(n(3.0).to_json().is_i64());
}
