//! Values crossing the storage boundary: parameters the rules bind and
//! columns they read, the same for every backend. Both schemas keep ids,
//! times and JSON as text and counts as 64-bit integers (ADR 0013), so one
//! conversion serves both.

use chrono::{DateTime, Utc};
use doorstep_core::sqlite::time_text;
use uuid::Uuid;

/// A parameter, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// What can be bound as a parameter.
pub trait ToValue {
    fn to_value(&self) -> Value;
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl ToValue for i64 {
    fn to_value(&self) -> Value {
        Value::Integer(*self)
    }
}

impl ToValue for i32 {
    fn to_value(&self) -> Value {
        Value::Integer(i64::from(*self))
    }
}

impl ToValue for u32 {
    fn to_value(&self) -> Value {
        Value::Integer(i64::from(*self))
    }
}

impl ToValue for u16 {
    fn to_value(&self) -> Value {
        Value::Integer(i64::from(*self))
    }
}

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Integer(i64::from(*self))
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}

impl ToValue for Uuid {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl ToValue for DateTime<Utc> {
    fn to_value(&self) -> Value {
        Value::Text(time_text(*self))
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

/// A column as read, borrowed from its row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Bool(bool),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// What a column can be read as. Errors name what was found, never the
/// value (it may be personal data).
pub trait FromValue: Sized {
    fn from_value(value: ValueRef<'_>) -> Result<Self, String>;
}

fn found(value: ValueRef<'_>) -> &'static str {
    match value {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "an integer",
        ValueRef::Real(_) => "a real number",
        ValueRef::Bool(_) => "a boolean",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a blob",
    }
}

impl FromValue for i64 {
    fn from_value(value: ValueRef<'_>) -> Result<Self, String> {
        match value {
            ValueRef::Integer(number) => Ok(number),
            ValueRef::Bool(flag) => Ok(i64::from(flag)),
            other => Err(format!("expected an integer, found {}", found(other))),
        }
    }
}

macro_rules! integer_from_value {
    ($($type:ty),*) => {$(
        impl FromValue for $type {
            fn from_value(value: ValueRef<'_>) -> Result<Self, String> {
                let number = i64::from_value(value)?;
                <$type>::try_from(number)
                    .map_err(|_| format!("{number} is out of range for {}", stringify!($type)))
            }
        }
    )*};
}

integer_from_value!(i32, u32, u64, u16, usize);

impl FromValue for bool {
    fn from_value(value: ValueRef<'_>) -> Result<Self, String> {
        match value {
            ValueRef::Bool(flag) => Ok(flag),
            ValueRef::Integer(number) => Ok(number != 0),
            other => Err(format!("expected a boolean, found {}", found(other))),
        }
    }
}

impl FromValue for f64 {
    fn from_value(value: ValueRef<'_>) -> Result<Self, String> {
        match value {
            ValueRef::Real(number) => Ok(number),
            #[allow(clippy::cast_precision_loss)]
            ValueRef::Integer(number) => Ok(number as f64),
            other => Err(format!("expected a number, found {}", found(other))),
        }
    }
}

impl FromValue for String {
    fn from_value(value: ValueRef<'_>) -> Result<Self, String> {
        match value {
            ValueRef::Text(text) => Ok(text.to_string()),
            other => Err(format!("expected text, found {}", found(other))),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: ValueRef<'_>) -> Result<Self, String> {
        match value {
            ValueRef::Blob(bytes) => Ok(bytes.to_vec()),
            ValueRef::Text(text) => Ok(text.as_bytes().to_vec()),
            other => Err(format!("expected a blob, found {}", found(other))),
        }
    }
}

impl FromValue for Uuid {
    fn from_value(value: ValueRef<'_>) -> Result<Self, String> {
        match value {
            ValueRef::Text(text) => {
                Uuid::parse_str(text).map_err(|error| format!("not a UUID: {error}"))
            }
            other => Err(format!("expected a UUID, found {}", found(other))),
        }
    }
}

impl FromValue for DateTime<Utc> {
    fn from_value(value: ValueRef<'_>) -> Result<Self, String> {
        match value {
            ValueRef::Text(text) => DateTime::parse_from_rfc3339(text)
                .map(|time| time.with_timezone(&Utc))
                .map_err(|error| format!("not a time: {error}")),
            other => Err(format!("expected a time, found {}", found(other))),
        }
    }
}

impl FromValue for serde_json::Value {
    fn from_value(value: ValueRef<'_>) -> Result<Self, String> {
        match value {
            ValueRef::Text(text) => {
                serde_json::from_str(text).map_err(|error| format!("not JSON: {error}"))
            }
            other => Err(format!("expected JSON text, found {}", found(other))),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: ValueRef<'_>) -> Result<Self, String> {
        match value {
            ValueRef::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// A JSON text column read into any deserialisable type.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: serde::de::DeserializeOwned> FromValue for Json<T> {
    fn from_value(value: ValueRef<'_>) -> Result<Self, String> {
        match value {
            ValueRef::Text(text) => serde_json::from_str(text)
                .map(Json)
                .map_err(|error| format!("not the JSON expected: {error}")),
            other => Err(format!("expected JSON text, found {}", found(other))),
        }
    }
}
