//! Shared household records: the edits a device sends, the clock that
//! orders them, and the conflicts the server settles. The merge rule itself
//! lives in the server; `docs/protocol.md` states it.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A hybrid logical clock reading: milliseconds since the Unix epoch in the
/// high 48 bits, a counter in the low 16. Orders edits without trusting a
/// phone's clock: a device merges the server's time into its clock on every
/// answer and corrects its wall clock by the offset it saw, and the server
/// clamps a reading from the future to its own time.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Hlc(pub u64);

const COUNTER_BITS: u32 = 16;
const COUNTER_MASK: u64 = (1 << COUNTER_BITS) - 1;

impl Hlc {
    /// The reading for a wall time and counter. Times before 1970 read as 0.
    pub fn new(wall: DateTime<Utc>, counter: u16) -> Hlc {
        let millis = u64::try_from(wall.timestamp_millis()).unwrap_or(0);
        Hlc((millis << COUNTER_BITS) | u64::from(counter))
    }

    pub fn wall_millis(self) -> u64 {
        self.0 >> COUNTER_BITS
    }

    pub fn counter(self) -> u16 {
        u16::try_from(self.0 & COUNTER_MASK).unwrap_or(u16::MAX)
    }

    pub fn wall(self) -> DateTime<Utc> {
        i64::try_from(self.wall_millis())
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .unwrap_or(DateTime::UNIX_EPOCH)
    }

    /// A local event at (corrected) wall time `now`: later than every
    /// reading before it.
    pub fn tick(self, now: DateTime<Utc>) -> Hlc {
        let physical = Hlc::new(now, 0);
        if physical.wall_millis() > self.wall_millis() {
            physical
        } else {
            Hlc(self.0.saturating_add(1))
        }
    }

    /// A reading received from elsewhere (the server's time): the clock
    /// never runs behind what it has seen.
    pub fn observe(self, seen: Hlc) -> Hlc {
        self.max(seen)
    }

    /// No later than `limit`'s last counter value: what the server does
    /// with a reading from the future.
    pub fn clamp_to(self, limit: DateTime<Utc>) -> Hlc {
        self.min(Hlc::new(limit, u16::MAX))
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}+{}",
            self.wall().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            self.counter()
        )
    }
}

/// The fields of a household a cadre may correct on the doorstep. The id,
/// the village and the ID-card suffix identify the household and change
/// only through the operator's import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HouseholdField {
    HeadName,
    Group,
    Members,
    Phone,
    Address,
    Category,
}

impl HouseholdField {
    pub const ALL: [HouseholdField; 6] = [
        HouseholdField::HeadName,
        HouseholdField::Group,
        HouseholdField::Members,
        HouseholdField::Phone,
        HouseholdField::Address,
        HouseholdField::Category,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HouseholdField::HeadName => "head_name",
            HouseholdField::Group => "group",
            HouseholdField::Members => "members",
            HouseholdField::Phone => "phone",
            HouseholdField::Address => "address",
            HouseholdField::Category => "category",
        }
    }

    pub fn parse(name: &str) -> Option<HouseholdField> {
        HouseholdField::ALL
            .into_iter()
            .find(|field| field.as_str() == name)
    }

    /// Checks a new value's type and size; the error is one sentence for
    /// a person, without the value itself.
    pub fn check(self, value: &Value) -> Result<(), String> {
        use crate::limits::{MAX_SHORT_TEXT_CHARS, check_short_text};
        match self {
            HouseholdField::Members => match value.as_u64() {
                Some(count) if count <= 99 => Ok(()),
                _ => Err("members must be a whole number from 0 to 99".into()),
            },
            HouseholdField::Phone => match value.as_str() {
                Some(text)
                    if (1..=20).contains(&text.chars().count())
                        && text
                            .chars()
                            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ')) =>
                {
                    Ok(())
                }
                _ => Err("phone must be 1 to 20 digits (with + - or spaces)".into()),
            },
            HouseholdField::Category => match value.as_str() {
                Some(code) if HOUSEHOLD_CATEGORIES.contains(&code) => Ok(()),
                _ => Err(format!(
                    "category must be one of {}",
                    HOUSEHOLD_CATEGORIES.join(", ")
                )),
            },
            _ => match value.as_str() {
                Some(text) => check_short_text(text, MAX_SHORT_TEXT_CHARS).map_err(|problem| {
                    format!(
                        "{} {problem} (1 to {MAX_SHORT_TEXT_CHARS} visible characters)",
                        self.as_str()
                    )
                }),
                None => Err(format!("{} must be text", self.as_str())),
            },
        }
    }

    /// The field's value in a record.
    pub fn get(self, record: &crate::HouseholdRecord) -> Value {
        match self {
            HouseholdField::HeadName => Value::from(record.head_name.clone()),
            HouseholdField::Group => Value::from(record.group.clone()),
            HouseholdField::Members => Value::from(record.members),
            HouseholdField::Phone => Value::from(record.phone.clone()),
            HouseholdField::Address => Value::from(record.address.clone()),
            HouseholdField::Category => Value::from(record.category.clone()),
        }
    }

    /// Sets the field in a record; `value` must have passed [`Self::check`].
    pub fn set(self, record: &mut crate::HouseholdRecord, value: &Value) {
        let text = || value.as_str().unwrap_or_default().to_string();
        match self {
            HouseholdField::HeadName => record.head_name = text(),
            HouseholdField::Group => record.group = text(),
            HouseholdField::Members => {
                record.members = value
                    .as_u64()
                    .and_then(|count| u32::try_from(count).ok())
                    .unwrap_or(record.members);
            }
            HouseholdField::Phone => record.phone = text(),
            HouseholdField::Address => record.address = text(),
            HouseholdField::Category => record.category = text(),
        }
    }
}

impl fmt::Display for HouseholdField {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Household categories, as codes: `general` 一般农户, `relieved` 脱贫户,
/// `unstable` 脱贫不稳定户, `edge` 边缘易致贫户, `sudden_hardship`
/// 突发严重困难户 (the last three are the three monitored categories,
/// 三类对象).
pub const HOUSEHOLD_CATEGORIES: [&str; 5] =
    ["general", "relieved", "unstable", "edge", "sudden_hardship"];

/// A cadre's correction of a household: only the fields it changes, and
/// the server version the device showed when the cadre began. `id` names
/// the edit for ever (like a visit's id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HouseholdEdit {
    pub id: Uuid,
    pub household_id: Uuid,
    pub base_version: u64,
    pub fields: BTreeMap<HouseholdField, Value>,
    pub hlc: Hlc,
}

/// A same-field conflict the server settled: two edits from the same base
/// changed one field to different values. `kept` is the field's value now;
/// `lost` went nowhere but here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictRecord {
    pub id: u64,
    pub household_id: Uuid,
    pub field: HouseholdField,
    /// The household version after the merge.
    pub version: u64,
    pub kept: Value,
    pub lost: Value,
    /// The device whose value was kept or lost; `None` for the server's own
    /// change (an operator's import).
    pub kept_by: Option<Uuid>,
    pub lost_by: Option<Uuid>,
    pub kept_hlc: Hlc,
    pub lost_hlc: Hlc,
    pub decided_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("valid timestamp")
    }

    #[test]
    fn the_clock_never_goes_back() {
        let start = Hlc::new(at("2026-01-01T00:00:00Z"), 0);
        // A wall clock that went back: the counter moves instead.
        let next = start.tick(at("2025-01-01T00:00:00Z"));
        assert!(next > start);
        assert_eq!(next.wall_millis(), start.wall_millis());
        assert_eq!(next.counter(), 1);
        // A wall clock ahead wins, with the counter reset.
        let later = next.tick(at("2026-01-01T00:00:01Z"));
        assert_eq!(later, Hlc::new(at("2026-01-01T00:00:01Z"), 0));
        // Seeing a later reading moves the clock up to it.
        let seen = Hlc::new(at("2027-01-01T00:00:00Z"), 3);
        assert_eq!(later.observe(seen), seen);
        assert_eq!(seen.observe(later), seen);
    }

    #[test]
    fn a_reading_from_the_future_is_clamped() {
        let now = at("2026-01-01T00:00:00Z");
        let future = Hlc::new(at("2027-01-01T00:00:00Z"), 0);
        assert_eq!(future.clamp_to(now).wall(), now);
        let past = Hlc::new(at("2025-06-01T00:00:00Z"), 7);
        assert_eq!(past.clamp_to(now), past);
        assert_eq!(past.to_string(), "2025-06-01T00:00:00.000Z+7");
    }

    #[test]
    fn field_values_are_checked() {
        assert!(HouseholdField::Members.check(&json!(5)).is_ok());
        assert!(HouseholdField::Members.check(&json!(-1)).is_err());
        assert!(HouseholdField::Members.check(&json!("5")).is_err());
        assert!(HouseholdField::Phone.check(&json!("138 0000 0000")).is_ok());
        assert!(HouseholdField::Phone.check(&json!("call me")).is_err());
        assert!(HouseholdField::Address.check(&json!("  ")).is_err());
        assert!(HouseholdField::Category.check(&json!("unstable")).is_ok());
        // Categories are codes from the list, not labels or anything else.
        assert!(
            HouseholdField::Category
                .check(&json!("脱贫不稳定户"))
                .is_err()
        );
        assert!(HouseholdField::HeadName.check(&json!("王\u{0}国")).is_err());
        assert!(
            HouseholdField::Address
                .check(&json!("3组\u{202E}12号"))
                .is_err()
        );
        assert!(HouseholdField::HeadName.check(&json!("欧阳娜娜")).is_ok());
        assert_eq!(HouseholdField::parse("group"), Some(HouseholdField::Group));
        assert_eq!(HouseholdField::parse("village_code"), None);
    }

    #[test]
    fn an_edit_has_a_stable_shape() {
        let edit = HouseholdEdit {
            id: Uuid::from_u128(1),
            household_id: Uuid::from_u128(2),
            base_version: 3,
            fields: BTreeMap::from([(HouseholdField::Phone, json!("13800000000"))]),
            hlc: Hlc(5 << 16),
        };
        let value = serde_json::to_value(&edit).expect("serialises");
        assert_eq!(
            value,
            json!({
                "id": "00000000-0000-0000-0000-000000000001",
                "household_id": "00000000-0000-0000-0000-000000000002",
                "base_version": 3,
                "fields": {"phone": "13800000000"},
                "hlc": 327680
            })
        );
        let back: HouseholdEdit = serde_json::from_value(value).expect("parses");
        assert_eq!(back, edit);
    }
}
