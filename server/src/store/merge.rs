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
use doorstep_core::sqlite::{
    CONFLICT_COLUMNS, conflict_from_row, count_column, household_field_column,
    household_record_from_row, json_column, optional_uuid_column, time_column, time_text,
    uuid_column,
};
use doorstep_core::sync::merge::{FieldClock, FieldMerge, IncomingEdit, merge_field};
use doorstep_protocol::{
    ConflictRecord, Hlc, HouseholdEdit, HouseholdField, HouseholdRecord, Outcome, RejectCode,
};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::Value;
use uuid::Uuid;

use super::DeviceAuth;
use super::rows::{SELECT_HOUSEHOLD, log_household_change};
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
    transaction: &Transaction<'_>,
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
    let mut record = transaction
        .prepare_cached(&format!("{SELECT_HOUSEHOLD} WHERE id = ?1"))?
        .query_row([&key], household_record_from_row)?;
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
        let clock = field_clock(transaction, &key, *field)?;
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
                transaction,
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
        store_record(transaction, &record, &now_text)?;
    }
    log_household_change(
        transaction,
        edit.household_id,
        Some(auth.device_id),
        &now_text,
    )?;
    for conflict in &conflicts {
        log_conflict(transaction, &key, record.version, conflict, &now_text)?;
    }
    Ok(Outcome::Applied)
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

pub(crate) fn record_write(
    transaction: &Transaction<'_>,
    write: &FieldWrite<'_>,
) -> StoreResult<()> {
    transaction
        .prepare_cached(
            "INSERT INTO household_fields (household_id, field, version, value, hlc, origin_device, edit_id,
                                           base_version, changed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            write.household,
            write.field.as_str(),
            signed(write.version)?,
            write.value.to_string(),
            signed(write.hlc.0)?,
            write.origin,
            write.edit.map(|id| id.to_string()),
            signed(write.base)?,
            write.at,
        ])?;
    Ok(())
}

pub(crate) fn store_record(
    transaction: &Transaction<'_>,
    record: &HouseholdRecord,
    now: &str,
) -> StoreResult<()> {
    transaction
        .prepare_cached(
            "UPDATE households SET head_name = ?2, group_name = ?3, members = ?4, phone = ?5, address = ?6,
                                   category = ?7, version = ?8, updated_at = ?9
             WHERE id = ?1",
        )?
        .execute(params![
            record.id.to_string(),
            record.head_name,
            record.group,
            record.members,
            record.phone,
            record.address,
            record.category,
            signed(record.version)?,
            now,
        ])?;
    super::facts::refresh_household(transaction, &record.id.to_string())?;
    Ok(())
}

pub(crate) fn field_clock(
    transaction: &Transaction<'_>,
    household: &str,
    field: HouseholdField,
) -> StoreResult<Option<FieldClock>> {
    Ok(transaction
        .prepare_cached(
            "SELECT version, hlc, origin_device FROM household_fields
             WHERE household_id = ?1 AND field = ?2 ORDER BY version DESC LIMIT 1",
        )?
        .query_row(params![household, field.as_str()], |row| {
            Ok(FieldClock {
                version: count_column(row, 0)?,
                hlc: Hlc(count_column(row, 1)?),
                origin: optional_uuid_column(row, 2)?,
            })
        })
        .optional()?)
}

fn log_conflict(
    transaction: &Transaction<'_>,
    household: &str,
    version: u64,
    conflict: &Conflict,
    now: &str,
) -> StoreResult<()> {
    transaction
        .prepare_cached(
            "INSERT INTO conflicts (household_id, field, version, kept, lost, kept_by, lost_by, kept_hlc, lost_hlc,
                                    lost_edit, decided_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            household,
            conflict.field.as_str(),
            signed(version)?,
            conflict.kept.to_string(),
            conflict.lost.to_string(),
            conflict.kept_by.map(|id| id.to_string()),
            conflict.lost_by.map(|id| id.to_string()),
            signed(conflict.kept_hlc.0)?,
            signed(conflict.lost_hlc.0)?,
            conflict.lost_edit.map(|id| id.to_string()),
            now,
        ])?;
    let id = transaction.last_insert_rowid();
    transaction
        .prepare_cached(
            "INSERT INTO changes (entity, entity_id, household_id, origin_device, created_at)
             VALUES ('conflict', ?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            id.to_string(),
            household,
            conflict
                .lost_by
                .or(conflict.kept_by)
                .map(|id| id.to_string()),
            now
        ])?;
    Ok(())
}

fn rejected(code: RejectCode, reason: String) -> Outcome {
    Outcome::Rejected { code, reason }
}

pub(crate) fn signed(value: u64) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| StoreError::Invalid(format!("{value} is out of range")))
}

pub(crate) fn load_conflict(
    connection: &Connection,
    id: &str,
) -> StoreResult<Option<ConflictRecord>> {
    Ok(connection
        .prepare_cached(&format!(
            "SELECT {CONFLICT_COLUMNS} FROM conflicts WHERE id = ?1"
        ))?
        .query_row([id], conflict_from_row)
        .optional()?)
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
    connection: &Connection,
    household: Uuid,
) -> StoreResult<Vec<ConflictRecord>> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {CONFLICT_COLUMNS} FROM (
             SELECT * FROM conflicts WHERE household_id = ?1 ORDER BY id DESC LIMIT ?2
         ) ORDER BY id"
    ))?;
    let rows = statement.query_map(
        params![household.to_string(), SNAPSHOT_CONFLICTS],
        conflict_from_row,
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
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
        self.read(|connection| {
            Ok(connection
                .prepare_cached(&format!("{SELECT_HOUSEHOLD} WHERE id = ?1"))?
                .query_row([id.to_string()], household_record_from_row)
                .optional()?)
        })
    }

    /// Same-field conflicts the merge settled, oldest first; of one
    /// household, or all.
    pub fn conflicts(&self, household: Option<Uuid>) -> StoreResult<Vec<ConflictRecord>> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {CONFLICT_COLUMNS} FROM conflicts WHERE ?1 IS NULL OR household_id = ?1 ORDER BY id"
            ))?;
            let rows =
                statement.query_map([household.map(|id| id.to_string())], conflict_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Every write of every field of one household, in version order: who
    /// changed what, from which base.
    pub fn household_history(&self, household: Uuid) -> StoreResult<Vec<FieldHistory>> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT household_id, field, version, value, hlc, origin_device, edit_id, base_version, changed_at
                 FROM household_fields WHERE household_id = ?1 ORDER BY version, field",
            )?;
            let rows = statement.query_map([household.to_string()], |row| {
                Ok(FieldHistory {
                    household_id: uuid_column(row, 0)?,
                    field: household_field_column(row, 1)?,
                    version: row.get::<_, i64>(2)?.unsigned_abs(),
                    value: json_column(row, 3)?,
                    hlc: Hlc(row.get::<_, i64>(4)?.unsigned_abs()),
                    origin: optional_uuid_column(row, 5)?,
                    edit: optional_uuid_column(row, 6)?,
                    base_version: row.get::<_, i64>(7)?.unsigned_abs(),
                    changed_at: time_column(row, 8)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}
