//! The merge rule for shared household fields, apart from any storage: the
//! server's store asks it field by field (see `docs/protocol.md`,
//! "Merging household edits", and ADR 0007). Pure and table-tested, so a
//! second server store (PostgreSQL) applies exactly the same rule.

use doorstep_protocol::Hlc;
use serde_json::Value;
use uuid::Uuid;

/// The latest write of one field, as the server holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldClock {
    /// The household version that write made.
    pub version: u64,
    pub hlc: Hlc,
    /// The device that wrote it; `None` for the server's own write (an
    /// operator's import).
    pub origin: Option<Uuid>,
}

/// The edit being merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncomingEdit {
    /// The version the cadre was looking at.
    pub base_version: u64,
    /// Its clock reading, already clamped to the server's time.
    pub hlc: Hlc,
    pub origin: Uuid,
}

/// What happens to one field of an edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldMerge {
    /// The field already has this value.
    Unchanged,
    /// The editor had seen the current value: the new one replaces it.
    Take,
    /// Concurrent writes, and the edit wins: it replaces the current value,
    /// which goes to the conflict log.
    TakeOverConcurrent,
    /// Concurrent writes, and the current value wins: the edit's value goes
    /// to the conflict log.
    KeepConcurrent,
}

/// Decides one field. `clock` is `None` for a field not written since the
/// household was created.
pub fn merge_field(
    current: &Value,
    clock: Option<&FieldClock>,
    value: &Value,
    edit: &IncomingEdit,
) -> FieldMerge {
    if value == current {
        return FieldMerge::Unchanged;
    }
    let Some(clock) = clock else {
        return FieldMerge::Take;
    };
    let seen = clock.version <= edit.base_version || clock.origin == Some(edit.origin);
    if seen {
        FieldMerge::Take
    } else if (edit.hlc, Some(edit.origin)) > (clock.hlc, clock.origin) {
        FieldMerge::TakeOverConcurrent
    } else {
        FieldMerge::KeepConcurrent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_rule_field_by_field() {
        let (me, other) = (Uuid::from_u128(2), Uuid::from_u128(1));
        let edit = |base, hlc| IncomingEdit {
            base_version: base,
            hlc: Hlc(hlc),
            origin: me,
        };
        let clock = |version, hlc, origin| FieldClock {
            version,
            hlc: Hlc(hlc),
            origin,
        };
        // (name, current, clock, new value, edit, expected)
        let cases = [
            (
                "same value",
                "a",
                None,
                "a",
                edit(1, 10),
                FieldMerge::Unchanged,
            ),
            (
                "never written",
                "a",
                None,
                "b",
                edit(1, 10),
                FieldMerge::Take,
            ),
            (
                "written before the base",
                "a",
                Some(clock(2, 50, Some(other))),
                "b",
                edit(2, 10),
                FieldMerge::Take,
            ),
            (
                "my own earlier write",
                "a",
                Some(clock(5, 50, Some(me))),
                "b",
                edit(2, 10),
                FieldMerge::Take,
            ),
            (
                "concurrent, mine later",
                "a",
                Some(clock(3, 5, Some(other))),
                "b",
                edit(2, 10),
                FieldMerge::TakeOverConcurrent,
            ),
            (
                "concurrent, mine earlier",
                "a",
                Some(clock(3, 50, Some(other))),
                "b",
                edit(2, 10),
                FieldMerge::KeepConcurrent,
            ),
            (
                "concurrent tie: larger id wins",
                "a",
                Some(clock(3, 10, Some(other))),
                "b",
                edit(2, 10),
                FieldMerge::TakeOverConcurrent,
            ),
            (
                "concurrent with an import, mine later",
                "a",
                Some(clock(3, 5, None)),
                "b",
                edit(2, 10),
                FieldMerge::TakeOverConcurrent,
            ),
            (
                "concurrent with an import, tie",
                "a",
                Some(clock(3, 10, None)),
                "b",
                edit(2, 10),
                FieldMerge::TakeOverConcurrent,
            ),
            (
                "concurrent, same value",
                "b",
                Some(clock(3, 50, Some(other))),
                "b",
                edit(2, 10),
                FieldMerge::Unchanged,
            ),
        ];
        for (name, current, clock, value, edit, expected) in cases {
            assert_eq!(
                merge_field(&json!(current), clock.as_ref(), &json!(value), &edit),
                expected,
                "{name}"
            );
        }
    }
}
