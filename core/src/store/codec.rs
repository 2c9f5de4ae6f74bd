//! How values are spelled in the store's TEXT columns: UUIDs hyphenated,
//! times as RFC 3339 UTC with milliseconds (they sort as text).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::{Error, Result};

pub use crate::sqlite::time_text;

pub fn parse_time(text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| Error::Corrupt(format!("bad timestamp {text:?}")))
}

pub fn parse_uuid(text: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|_| Error::Corrupt(format!("bad id {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_and_sort_as_text() {
        let earlier: DateTime<Utc> = "2024-01-02T03:04:05.678Z".parse().expect("valid");
        let later: DateTime<Utc> = "2024-01-02T03:04:06Z".parse().expect("valid");
        assert_eq!(parse_time(&time_text(earlier)).expect("parses"), earlier);
        assert!(time_text(earlier) < time_text(later));
    }

    #[test]
    fn garbage_is_reported_not_panicked() {
        assert!(parse_time("yesterday").is_err());
        assert!(parse_uuid("x").is_err());
    }
}
