//! Shared household records, merged per field against the version the edit
//! started from: the field log, the conflict log, and the store's side of
//! the rule, which is decided field by field by the pure
//! `doorstep_core::sync::merge::merge_field` (table-tested there; stated in
//! docs/protocol.md, "Merging household edits", and ADR 0007).
//!
//! The edit's clock reading is clamped to the server's time first, so a
//! phone whose clock is a year ahead cannot win by it; a losing value is
//! written to the conflict log, never dropped silently. Every applied edit
//! logs the household in the change log (even when it lost every field),
//! so the device that sent it pulls the merged record back in the same
//! sync.

use chrono::{DateTime, Utc};
use doorstep_core::sqlite::time_text;
use doorstep_core::sync::merge::{FieldClock, FieldMerge, IncomingEdit, merge_field};
use doorstep_protocol::{
    ConflictRecord, Hlc, HouseholdEdit, HouseholdField, HouseholdRecord, Outcome, RejectCode,
};
use serde_json::Value;
use uuid::Uuid;

use super::DeviceAuth;
use super::db::{Dialect, Json, Tx};
use super::rows::{
    CONFLICT_COLUMNS, LogEntry, SELECT_HOUSEHOLD, append_log, conflict_from, field_from,
    household_from, log_household_change,
};
use super::{ServerStore, StoreError, StoreResult};

/// One value that lost a same-field conflict, and the one that won.
struct Conflict {
    field: HouseholdField,
    kept: Value,
    lost: Value,
    kept_by: Option<Uuid>,
    lost_by: Option<Uuid>,
    kept_hlc: Hlc,
    lost_hlc: Hlc,
    lost_edit: Option<Uuid>,
}

/// Merges one device edit into the household (already checked to exist and
/// to be in the device's write scope).
pub(crate) fn apply_edit(
    tx: &Tx<'_>,
    auth: DeviceAuth,
    edit: &HouseholdEdit,
    now: DateTime<Utc>,
) -> StoreResult<Outcome> {
    if edit.fields.is_empty() {
        return Ok(rejected(
            RejectCode::Malformed,
            "a household edit changes at least one field".into(),
        ));
    }
    for (field, value) in &edit.fields {
        if let Err(problem) = field.check(value) {
            return Ok(rejected(RejectCode::Invalid, problem));
        }
    }
    let key = edit.household_id.to_string();
    let mut record = lock_household(tx, &key)?;
    if edit.base_version > record.version {
        return Ok(rejected(
            RejectCode::Malformed,
            format!(
                "the edit starts from version {} but the household is at version {}",
                edit.base_version, record.version
            ),
        ));
    }
    let device = auth.device_id.to_string();
    let incoming = IncomingEdit {
        base_version: edit.base_version,
        hlc: edit.hlc.clamp_to(now),
        origin: auth.device_id,
    };
    let hlc = incoming.hlc;
    let mut writes = Vec::new();
    let mut conflicts = Vec::new();
    for (field, value) in &edit.fields {
        let current = field.get(&record);
        let clock = field_clock(tx, &key, *field)?;
        let decision = merge_field(&current, clock.as_ref(), value, &incoming);
        let (theirs_hlc, theirs_by) =
            clock.map_or((Hlc::default(), None), |clock| (clock.hlc, clock.origin));
        match decision {
            FieldMerge::Unchanged => {}
            FieldMerge::Take => writes.push((*field, value)),
            FieldMerge::TakeOverConcurrent => {
                writes.push((*field, value));
                conflicts.push(Conflict {
                    field: *field,
                    kept: value.clone(),
                    lost: current,
                    kept_by: Some(auth.device_id),
                    lost_by: theirs_by,
                    kept_hlc: hlc,
                    lost_hlc: theirs_hlc,
                    lost_edit: None,
                });
            }
            FieldMerge::KeepConcurrent => conflicts.push(Conflict {
                field: *field,
                kept: current,
                lost: value.clone(),
                kept_by: theirs_by,
                lost_by: Some(auth.device_id),
                kept_hlc: theirs_hlc,
                lost_hlc: hlc,
                lost_edit: Some(edit.id),
            }),
        }
    }
    let now_text = time_text(now);
    if !writes.is_empty() {
        let base = edit.base_version;
        record.version += 1;
        for (field, value) in &writes {
            field.set(&mut record, value);
            record_write(
                tx,
                &FieldWrite {
                    household: &key,
                    field: *field,
                    version: record.version,
                    value,
                    hlc,
                    origin: Some(&device),
                    edit: Some(edit.id),
                    base,
                    at: &now_text,
                },
            )?;
        }
        store_record(tx, &record, &now_text)?;
    }
    log_household_change(tx, edit.household_id, Some(auth.device_id), &now_text)?;
    for conflict in &conflicts {
        log_conflict(tx, &key, record.version, conflict, &now_text)?;
    }
    Ok(Outcome::Applied)
}

/// The household as it is now, its row locked until the transaction ends
/// (on PostgreSQL another server's merge of the same household waits; on
/// SQLite the one writer already excludes it), so no merge is lost.
pub(crate) fn lock_household(tx: &Tx<'_>, key: &str) -> StoreResult<HouseholdRecord> {
    let lock = match tx.dialect() {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE",
    };
    tx.query_opt(
        &format!("{SELECT_HOUSEHOLD} WHERE id = ?1{lock}"),
        &[&key],
        household_from,
    )?
    .ok_or_else(|| StoreError::NotFound(format!("household {key} does not exist")))
}

/// One write of one field, for the field log.
pub(crate) struct FieldWrite<'a> {
    pub household: &'a str,
    pub field: HouseholdField,
    pub version: u64,
    pub value: &'a Value,
    pub hlc: Hlc,
    pub origin: Option<&'a str>,
    pub edit: Option<Uuid>,
    pub base: u64,
    pub at: &'a str,
}

pub(crate) fn record_write(tx: &Tx<'_>, write: &FieldWrite<'_>) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO household_fields (household_id, field, version, value, hlc, origin_device, edit_id,
                                       base_version, changed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        &[
            &write.household,
            &write.field.as_str(),
            &signed(write.version)?,
            &write.value.to_string(),
            &signed(write.hlc.0)?,
            &write.origin,
            &write.edit,
            &signed(write.base)?,
            &write.at,
        ],
    )?;
    Ok(())
}

pub(crate) fn store_record(tx: &Tx<'_>, record: &HouseholdRecord, now: &str) -> StoreResult<()> {
    tx.execute(
        "UPDATE households SET head_name = ?2, group_name = ?3, members = ?4, phone = ?5, address = ?6,
                               category = ?7, version = ?8, updated_at = ?9
         WHERE id = ?1",
        &[
            &record.id,
            &record.head_name,
            &record.group,
            &record.members,
            &record.phone,
            &record.address,
            &record.category,
            &signed(record.version)?,
            &now,
        ],
    )?;
    super::facts::refresh_household(tx, &record.id.to_string())?;
    Ok(())
}

pub(crate) fn field_clock(
    tx: &Tx<'_>,
    household: &str,
    field: HouseholdField,
) -> StoreResult<Option<FieldClock>> {
    tx.query_opt(
        "SELECT version, hlc, origin_device FROM household_fields
         WHERE household_id = ?1 AND field = ?2 ORDER BY version DESC LIMIT 1",
        &[&household, &field.as_str()],
        |row| {
            Ok(FieldClock {
                version: row.get(0)?,
                hlc: Hlc(row.get(1)?),
                origin: row.get(2)?,
            })
        },
    )
}

fn log_conflict(
    tx: &Tx<'_>,
    household: &str,
    version: u64,
    conflict: &Conflict,
    now: &str,
) -> StoreResult<()> {
    let id: i64 = tx.value(
        "INSERT INTO conflicts (household_id, field, version, kept, lost, kept_by, lost_by, kept_hlc, lost_hlc,
                                lost_edit, decided_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id",
        &[
            &household,
            &conflict.field.as_str(),
            &signed(version)?,
            &conflict.kept.to_string(),
            &conflict.lost.to_string(),
            &conflict.kept_by,
            &conflict.lost_by,
            &signed(conflict.kept_hlc.0)?,
            &signed(conflict.lost_hlc.0)?,
            &conflict.lost_edit,
            &now,
        ],
    )?;
    append_log(
        tx,
        &[LogEntry {
            entity: "conflict",
            entity_id: id.to_string(),
            household: Some(household.to_string()),
            origin: conflict
                .lost_by
                .or(conflict.kept_by)
                .map(|id| id.to_string()),
        }],
        now,
    )
}

fn rejected(code: RejectCode, reason: String) -> Outcome {
    Outcome::Rejected { code, reason }
}

pub(crate) fn signed(value: u64) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| StoreError::Invalid(format!("{value} is out of range")))
}

pub(crate) fn load_conflict(tx: &Tx<'_>, id: i64) -> StoreResult<Option<ConflictRecord>> {
    tx.query_opt(
        &format!("SELECT {CONFLICT_COLUMNS} FROM conflicts WHERE id = ?1"),
        &[&id],
        conflict_from,
    )
}

/// The conflicts settled about one household, oldest first.
/// Conflicts a snapshot carries for one household at most: the latest.
/// A device with a token could make a household's conflict log long on
/// purpose; a snapshot must stay small enough for every phone. The whole
/// log stays on the server (`doorstep admin conflicts`).
pub(crate) const SNAPSHOT_CONFLICTS: i64 = 20;

/// The latest conflicts of a household (at most [`SNAPSHOT_CONFLICTS`]),
/// oldest first.
pub(crate) fn household_conflicts(
    tx: &Tx<'_>,
    household: Uuid,
) -> StoreResult<Vec<ConflictRecord>> {
    tx.query(
        &format!(
            "SELECT {CONFLICT_COLUMNS} FROM (
                 SELECT * FROM conflicts WHERE household_id = ?1 ORDER BY id DESC LIMIT ?2
             ) latest ORDER BY id"
        ),
        &[&household, &SNAPSHOT_CONFLICTS],
        conflict_from,
    )
}

/// One write in a household's field log.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldHistory {
    pub household_id: Uuid,
    pub field: HouseholdField,
    pub version: u64,
    pub value: Value,
    pub hlc: Hlc,
    /// `None`: the server (an operator's import).
    pub origin: Option<Uuid>,
    pub edit: Option<Uuid>,
    pub base_version: u64,
    pub changed_at: DateTime<Utc>,
}

impl ServerStore {
    /// A household as the server holds it now.
    pub fn household(&self, id: Uuid) -> StoreResult<Option<HouseholdRecord>> {
        self.read(|tx| {
            tx.query_opt(
                &format!("{SELECT_HOUSEHOLD} WHERE id = ?1"),
                &[&id],
                household_from,
            )
        })
    }

    /// Same-field conflicts the merge settled, oldest first; of one
    /// household, or all.
    pub fn conflicts(&self, household: Option<Uuid>) -> StoreResult<Vec<ConflictRecord>> {
        self.read(|tx| {
            tx.query(
                &format!(
                    "SELECT {CONFLICT_COLUMNS} FROM conflicts
                     WHERE CAST(?1 AS TEXT) IS NULL OR household_id = ?1 ORDER BY id"
                ),
                &[&household],
                conflict_from,
            )
        })
    }

    /// Every write of every field of one household, in version order: who
    /// changed what, from which base.
    pub fn household_history(&self, household: Uuid) -> StoreResult<Vec<FieldHistory>> {
        self.read(|tx| {
            tx.query(
                "SELECT household_id, field, version, value, hlc, origin_device, edit_id, base_version, changed_at
                 FROM household_fields WHERE household_id = ?1 ORDER BY version, field",
                &[&household],
                |row| {
                    Ok(FieldHistory {
                        household_id: row.get(0)?,
                        field: field_from(row, 1)?,
                        version: row.get(2)?,
                        value: row.get::<Json<Value>>(3)?.0,
                        hlc: Hlc(row.get(4)?),
                        origin: row.get(5)?,
                        edit: row.get(6)?,
                        base_version: row.get(7)?,
                        changed_at: row.get(8)?,
                    })
                },
            )
        })
    }
}
