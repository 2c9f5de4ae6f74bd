//! The functions beyond the first two dozen, the scope methods they call
//! (with a scope that answers them, and with the defaults), bare names in
//! choice filters, absolute paths and typographic quotes.

use std::collections::BTreeMap;

use chrono::{FixedOffset, NaiveDate, TimeZone};

use super::tests::{b, check_evaluations, household, n, t};
use super::{Expr, Scope, Value, choice_passes};
use crate::{Choice, Labels};

#[test]
fn math_text_and_date_functions_compute_as_odk_does() {
    check_evaluations(&[
        ("pow(2, 10)", n(1024.0)),
        ("sqrt(16)", n(4.0)),
        ("sqrt(-1)", n(f64::NAN)),
        ("abs(-3.5)", n(3.5)),
        ("log10(1000)", n(3.0)),
        ("exp10(2)", n(100.0)),
        ("round(log(exp(2)), 6)", n(2.0)),
        ("round(sin(pi() div 2), 6)", n(1.0)),
        ("round(cos(0), 6)", n(1.0)),
        ("atan2(1, 1) * 4 = pi()", b(true)),
        ("ceiling(2.1)", n(3.0)),
        ("floor(-2.1)", n(-3.0)),
        ("normalize-space('  a   b ')", t("a b")),
        ("translate('abc', 'ab', 'AB')", t("ABc")),
        ("translate('abc', 'abc', 'A')", t("A")),
        ("substring-before('2024-12-28', '-')", t("2024")),
        ("substring-after('2024-12-28', '-')", t("12-28")),
        ("substring-after('abc', 'x')", t("")),
        ("substring('12345', 2, 3)", t("234")),
        ("substring('12345', 0)", t("12345")),
        ("ends-with('household', 'hold')", b(true)),
        ("selected-at(${crops}, 1)", t("rice")),
        ("selected-at(${crops}, 7)", t("")),
        ("count-non-empty(${child_age})", n(2.0)),
        ("count-non-empty(${no_rows})", n(0.0)),
        ("join(', ', 'a', 'b')", t("a, b")),
        ("boolean-from-string('true')", b(true)),
        ("boolean-from-string('yes')", b(false)),
        (
            "format-date('2024-12-08', '%Y/%m/%d %e %n %b %a')",
            t("2024/12/08 8 12 Dec Sun"),
        ),
        ("format-date('x', '%Y')", t("")),
        (
            "format-date-time('2024-12-28T09:05:07+08:00', '%H:%M:%S %h')",
            t("09:05:07 9"),
        ),
        ("decimal-date-time('1970-01-02T12:00:00Z')", n(1.5)),
        ("decimal-time('06:00:00')", n(0.25)),
        ("date-time(1.5)", t("1970-01-02T12:00:00.000+00:00")),
        ("'2024-12-28T12:00:00Z' > '2024-12-28'", b(true)),
        // `.` is 5 here: once() keeps what is stored.
        ("once(${age} + 1)", n(5.0)),
    ]);
}

/// A scope that answers every method, deterministically.
struct Visit {
    current: Value,
}

impl Scope for Visit {
    fn reference(&self, name: &str) -> Value {
        household().reference(name)
    }
    fn current(&self) -> Value {
        self.current.clone()
    }
    fn today(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 12, 28).expect("a date")
    }
    fn position(&self) -> Option<usize> {
        Some(3)
    }
    fn indexed(&self, name: &str, path: &[(&str, usize)]) -> Value {
        Value::Text(format!("{name}@{path:?}"))
    }
    fn choice_label(&self, question: &str, choice: &str) -> Value {
        Value::Text(format!("{question}:{choice}"))
    }
    fn pulldata(&self, file: &str, column: &str, key_column: &str, key: &str) -> Value {
        Value::Text(format!("{file}.{column}[{key_column}={key}]"))
    }
    fn uuid(&self) -> String {
        "00000000-0000-4000-8000-000000000001".to_owned()
    }
    fn random(&self) -> f64 {
        0.25
    }
    fn now(&self) -> chrono::DateTime<FixedOffset> {
        let offset = FixedOffset::east_opt(8 * 3600).expect("+08:00");
        offset
            .with_ymd_and_hms(2024, 12, 28, 9, 30, 0)
            .single()
            .expect("a moment")
    }
}

fn in_visit(source: &str, current: Value) -> Value {
    let expr = Expr::parse(source).unwrap_or_else(|error| panic!("{source}: {error}"));
    expr.evaluate(&Visit { current })
}

#[test]
fn functions_that_read_the_visit_ask_the_scope() {
    let empty = Value::empty;
    assert_eq!(in_visit("position(..)", empty()), n(3.0));
    assert_eq!(
        in_visit(
            "indexed-repeat(${age}, ${members}, position(..) - 1)",
            empty()
        ),
        t("age@[(\"members\", 2)]")
    );
    assert_eq!(
        in_visit("indexed-repeat(${age}, ${a}, 1, ${b}, 2)", empty()),
        t("age@[(\"a\", 1), (\"b\", 2)]")
    );
    // Not a whole number from 1: no lookup at all.
    assert_eq!(in_visit("indexed-repeat(${age}, ${a}, 0)", empty()), t(""));
    assert_eq!(
        in_visit("indexed-repeat(${age}, ${a}, 1.5)", empty()),
        t("")
    );
    assert_eq!(
        in_visit("jr:choice-name(${crops}, '${crops}')", empty()),
        t("crops:maize  rice\tbeans")
    );
    assert_eq!(
        in_visit("jr:choice-name('yes', '/data/group/consent')", empty()),
        t("consent:yes")
    );
    assert_eq!(
        in_visit("pulldata('households.csv', 'head', 'id', ${age})", empty()),
        t("households.head[id=34]")
    );
    assert_eq!(
        in_visit("once(uuid())", empty()),
        t("00000000-0000-4000-8000-000000000001")
    );
    // once() keeps what is stored.
    assert_eq!(in_visit("once(uuid())", t("kept")), t("kept"));
    assert_eq!(in_visit("random()", empty()), n(0.25));
    assert_eq!(
        in_visit("now()", empty()),
        t("2024-12-28T09:30:00.000+08:00")
    );
    assert_eq!(
        in_visit("format-date(now(), '%Y-%m-%d %H:%M')", empty()),
        t("2024-12-28 09:30")
    );
}

#[test]
fn a_scope_that_answers_only_the_required_methods_gets_empty_values() {
    let scope = household();
    let value = |source: &str| Expr::parse(source).expect(source).evaluate(&scope);
    assert!(value("position(..)").as_number().is_nan());
    assert_eq!(value("indexed-repeat(${age}, ${members}, 1)"), t(""));
    assert_eq!(value("jr:choice-name('a', '${crops}')"), t(""));
    assert_eq!(value("pulldata('f', 'c', 'k', 1)"), t(""));
    assert_eq!(value("uuid()"), t(""));
    assert!(value("random()").as_number().is_nan());
    // now() defaults to midnight UTC of today().
    assert_eq!(
        value("now()").as_text(),
        format!("{}T00:00:00.000+00:00", value("today()").as_text())
    );
}

#[test]
fn references_include_choice_names_questions_and_pulldata_files() {
    let expr = Expr::parse("jr:choice-name(${a}, '${b}') + pulldata('hh.csv', 'x', 'y', ${c})")
        .expect("parses");
    assert_eq!(expr.references(), ["a", "b", "c"]);
    assert_eq!(expr.pulldata_files(), ["hh"]);
}

#[test]
fn bare_names_are_a_choices_columns_in_a_filter_only() {
    assert!(Expr::parse("state = ${state}").is_err());
    let filter = Expr::parse_filter("state = ${state} and name != 'x'").expect("a filter");
    assert_eq!(filter.fields(), ["state", "name"]);
    assert_eq!(filter.references(), ["state"]);
    assert_eq!(filter.to_string(), "state = ${state} and name != 'x'");
    // `true` and the operators are never columns.
    assert!(Expr::parse_filter("true").is_err());
    assert!(Expr::parse_filter("and").is_err());
}

#[test]
fn choice_passes_reads_the_choice_and_delegates_the_rest() {
    let filter = Expr::parse_filter("county = ${county} and label != 'hidden'").expect("filter");
    let choice = |name: &str, county: &str, label: &str| Choice {
        name: name.to_owned(),
        label: Labels::plain(label),
        extra: BTreeMap::from([("county".to_owned(), county.to_owned())]),
    };
    let mut outer = household();
    outer.values.insert("county".into(), t("yiliang"));
    assert!(choice_passes(
        &filter,
        &choice("fajie", "yiliang", "发界"),
        &outer
    ));
    assert!(!choice_passes(
        &filter,
        &choice("x", "zhaoyang", "x"),
        &outer
    ));
    assert!(!choice_passes(
        &filter,
        &choice("y", "yiliang", "hidden"),
        &outer
    ));
    // A column the choice lacks is empty.
    let by_name = Expr::parse_filter("name = 'fajie' and missing = ''").expect("filter");
    assert!(choice_passes(
        &by_name,
        &choice("fajie", "", "发界"),
        &outer
    ));
}

#[test]
fn paths_and_typographic_quotes_read_as_pyxform_passes_them() {
    let expr = Expr::parse("/data/household/age > 3 and ${name} = ’张三’").expect("parses");
    assert_eq!(expr.references(), ["age", "name"]);
    assert!(expr.evaluate(&household()).as_bool());
    assert_eq!(
        Expr::parse("“a” = ‘a’")
            .expect("parses")
            .evaluate(&household()),
        b(true)
    );
    // A typographic quote closes only its kind.
    assert!(Expr::parse("‘a\"").is_err());
}
