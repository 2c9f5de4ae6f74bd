//! Cadres' corrections of shared household records, the device's hybrid
//! logical clock, and the conflicts the server settled.
//!
//! An edit names only the fields it changes and the server version the
//! cadre was looking at (the base); it is queued in the outbox in the same
//! transaction that shows it on the household. Until the server has it,
//! every record of that household pulled from the server is shown with the
//! edit laid on top, so a pull never hides what the cadre typed. The server
//! merges per field (see `docs/protocol.md`); the merged record comes back
//! in the next pull.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use doorstep_protocol::{ConflictRecord, Hlc, HouseholdEdit, HouseholdField};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::Value;
use uuid::Uuid;

use super::Store;
use super::households::{household, reindex};
use crate::error::{Error, Result};
use crate::model::Household;
use crate::sqlite::{
    CONFLICT_COLUMNS, conflict_from_row, count_column, json_column, time_text, uuid_column,
};

impl Store {
    /// Corrects fields of an assigned household (a new phone number, a
    /// member who moved away, a changed category). Durable and queued for
    /// the server when it returns; values equal to the current ones are
    /// left out, and an edit that changes nothing queues nothing.
    pub fn edit_household(
        &self,
        id: Uuid,
        changes: &[(HouseholdField, Value)],
    ) -> Result<Household> {
        if changes.is_empty() {
            return Err(Error::InvalidEdit {
                field: None,
                reason: "name at least one field to change".into(),
            });
        }
        let mut fields = BTreeMap::new();
        for (field, value) in changes {
            field.check(value).map_err(|reason| Error::InvalidEdit {
                field: Some(field.as_str().to_string()),
                reason,
            })?;
            if fields.insert(*field, value.clone()).is_some() {
                return Err(Error::InvalidEdit {
                    field: Some(field.as_str().to_string()),
                    reason: format!("{field} is named twice"),
                });
            }
        }
        let now = self.now();
        self.write(|transaction| {
            self.require_identity_in(transaction)?;
            let current = household(transaction, id)?
                .filter(|household| household.assigned)
                .ok_or(Error::UnknownHousehold(id))?;
            fields.retain(|field, value| field.get(&current.record) != *value);
            if fields.is_empty() {
                return Ok(current);
            }
            let hlc = next_hlc(transaction, now)?;
            let edit_id = Uuid::now_v7();
            let now_text = time_text(now);
            transaction
                .prepare_cached(
                    "INSERT INTO household_edits (id, household_id, base_version, fields, hlc, edited_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    edit_id.to_string(),
                    id.to_string(),
                    signed(current.record.version)?,
                    serde_json::to_string(&fields).map_err(|error| Error::Corrupt(error.to_string()))?,
                    signed(hlc.0)?,
                    now_text,
                ])?;
            transaction
                .prepare_cached(
                    "INSERT INTO outbox (entity, entity_id, created_at) VALUES ('household_edit', ?1, ?2)",
                )?
                .execute(params![edit_id.to_string(), now_text])?;
            overlay(transaction, id)?;
            reindex(transaction, id)?;
            household(transaction, id)?.ok_or(Error::UnknownHousehold(id))
        })
    }

    /// Same-field conflicts the server settled for this device's
    /// households (of one household, or all), oldest first.
    pub fn conflicts(&self, household: Option<Uuid>) -> Result<Vec<ConflictRecord>> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {CONFLICT_COLUMNS} FROM conflicts WHERE ?1 IS NULL OR household_id = ?1 ORDER BY id"
            ))?;
            let rows = statement.query_map([household.map(|id| id.to_string())], conflict_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The device's clock reading now, corrected by the offset to the
    /// server's clock: what an edit made now is stamped with.
    pub fn hlc(&self) -> Result<Hlc> {
        self.read(|connection| {
            let (hlc, _) = clock_state(connection)?;
            Ok(hlc)
        })
    }
}

/// The next reading of the device's clock for a local edit, stored.
fn next_hlc(transaction: &Transaction<'_>, now: DateTime<Utc>) -> Result<Hlc> {
    let (last, offset) = clock_state(transaction)?;
    let next = last.tick(now + offset);
    transaction.execute("UPDATE sync_state SET hlc = ?1", [signed(next.0)?])?;
    Ok(next)
}

fn clock_state(connection: &Connection) -> Result<(Hlc, Duration)> {
    let (hlc, offset): (u64, i64) =
        connection.query_row("SELECT hlc, clock_offset_ms FROM sync_state", [], |row| {
            Ok((count_column(row, 0)?, row.get(1)?))
        })?;
    Ok((Hlc(hlc), Duration::milliseconds(offset)))
}

/// Learns the server's time from an answer: the clock never runs behind
/// it, and the offset between the device's clock and the server's is kept
/// for stamping edits (a phone set a year wrong stamps sensible times).
pub(crate) fn observe_server_time(
    transaction: &Transaction<'_>,
    local_now: DateTime<Utc>,
    server_time: DateTime<Utc>,
) -> Result<()> {
    let (last, _) = clock_state(transaction)?;
    let seen = last.observe(Hlc::new(server_time, 0));
    let offset = (server_time - local_now).num_milliseconds();
    transaction.execute(
        "UPDATE sync_state SET hlc = ?1, clock_offset_ms = ?2",
        params![signed(seen.0)?, offset],
    )?;
    Ok(())
}

/// Lays the household's unacknowledged edits, oldest first, over its
/// stored fields (after a record from the server was written).
pub(crate) fn overlay(transaction: &Transaction<'_>, id: Uuid) -> Result<()> {
    let mut statement = transaction.prepare_cached(
        "SELECT e.fields FROM household_edits e JOIN outbox o ON o.entity = 'household_edit' AND o.entity_id = e.id
         WHERE e.household_id = ?1 ORDER BY o.seq",
    )?;
    let edits: Vec<BTreeMap<HouseholdField, Value>> = statement
        .query_map([id.to_string()], |row| json_column(row, 0))?
        .collect::<rusqlite::Result<_>>()?;
    drop(statement);
    if edits.is_empty() {
        return Ok(());
    }
    let Some(mut shown) = household(transaction, id)? else {
        return Ok(());
    };
    for (field, value) in edits.iter().flatten() {
        field.set(&mut shown.record, value);
    }
    let record = &shown.record;
    transaction
        .prepare_cached(
            "UPDATE households SET head_name = ?2, group_name = ?3, members = ?4, phone = ?5, address = ?6,
                                   category = ?7
             WHERE id = ?1",
        )?
        .execute(params![
            id.to_string(),
            record.head_name,
            record.group,
            record.members,
            record.phone,
            record.address,
            record.category,
        ])?;
    Ok(())
}

/// A queued edit as it goes on the wire.
pub(crate) fn load_edit(connection: &Connection, id: &str) -> Result<Option<HouseholdEdit>> {
    Ok(connection
        .prepare_cached(
            "SELECT id, household_id, base_version, fields, hlc FROM household_edits WHERE id = ?1",
        )?
        .query_row([id], |row| {
            Ok(HouseholdEdit {
                id: uuid_column(row, 0)?,
                household_id: uuid_column(row, 1)?,
                base_version: count_column(row, 2)?,
                fields: json_column(row, 3)?,
                hlc: Hlc(count_column(row, 4)?),
            })
        })
        .optional()?)
}

/// Forgets an edit the server has (its outbox entry goes separately).
pub(crate) fn forget_edit(transaction: &Transaction<'_>, id: &str) -> Result<()> {
    transaction
        .prepare_cached("DELETE FROM household_edits WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// Stores a conflict the server settled for a household held here.
pub(crate) fn put_conflict(transaction: &Transaction<'_>, conflict: &ConflictRecord) -> Result<()> {
    let json = |value: &Value| value.to_string();
    transaction
        .prepare_cached(
            "INSERT INTO conflicts (id, household_id, field, version, kept, lost, kept_by, lost_by, kept_hlc,
                                    lost_hlc, decided_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            signed(conflict.id)?,
            conflict.household_id.to_string(),
            conflict.field.as_str(),
            signed(conflict.version)?,
            json(&conflict.kept),
            json(&conflict.lost),
            conflict.kept_by.map(|id| id.to_string()),
            conflict.lost_by.map(|id| id.to_string()),
            signed(conflict.kept_hlc.0)?,
            signed(conflict.lost_hlc.0)?,
            time_text(conflict.decided_at),
        ])?;
    Ok(())
}

fn signed(value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::Protocol(format!("{value} is out of range")))
}
