//! Any text through the expression parser; whatever parses is evaluated,
//! printed and parsed again. Nothing may panic.
#![no_main]

use chrono::NaiveDate;
use doorstep_forms::expr::{Expr, Scope, Value};
use libfuzzer_sys::fuzz_target;

struct FixedScope;

impl Scope for FixedScope {
    fn reference(&self, name: &str) -> Value {
        match name.len() % 5 {
            0 => Value::empty(),
            1 => Value::Number(-2.5),
            2 => Value::Text("maize rice 1990-05-17".to_owned()),
            3 => Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap_or_default()),
            _ => Value::Nodes(vec![Value::Number(3.0), Value::empty(), Value::Bool(true)]),
        }
    }

    fn current(&self) -> Value {
        Value::Text("53060219900101123X".to_owned())
    }

    fn today(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 12, 28).unwrap_or_default()
    }
}

fuzz_target!(|source: &str| {
    if let Ok(expr) = Expr::parse(source) {
        let value = expr.evaluate(&FixedScope);
        let _ = (value.as_bool(), value.as_number(), value.as_text(), value.to_json());
        let _ = (expr.references(), expr.uses_current());
        let printed = expr.to_string();
        // Canonical spacing can make a text near the length limit longer.
        if printed.chars().count() <= 10_000 {
            let again = Expr::parse(&printed).expect("the canonical form parses");
            assert_eq!(again, expr, "{printed}");
        }
    }
});
