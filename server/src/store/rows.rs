//! How the server's rows read and the change log is kept: the statements
//! and row mappers that the sync, merge and admin code share, and the
//! queries of a cadre's scope. A leaf: it imports nothing of its siblings.

use std::collections::BTreeSet;

use doorstep_protocol::{
    AreaLevel, AreaRecord, ConflictRecord, FormRecord, Hlc, HouseholdField, HouseholdRecord,
    VisitRecord,
};
use uuid::Uuid;

use super::db::{self, Json, Tx};
use super::{StoreError, StoreResult};

/// Selects [`doorstep_core::sqlite::HOUSEHOLD_COLUMNS`], for
/// [`doorstep_core::sqlite::household_record_from_row`].
pub(crate) const SELECT_HOUSEHOLD: &str =
    "SELECT id, village_code, head_name, id_card_suffix, group_name, members,
        phone, address, lat, lon, category, version FROM households";

/// The households assigned to a cadre (`?1`), directly or by village.
pub(crate) const SCOPE_CTE: &str = "WITH scope (id) AS (
        SELECT household_id FROM assignments WHERE cadre_id = ?1 AND household_id IS NOT NULL
        UNION
        SELECT h.id FROM households h JOIN assignments a ON a.village_code = h.village_code WHERE a.cadre_id = ?1)";

/// One entry for the change log.
#[derive(Debug, Clone)]
pub(crate) struct LogEntry {
    pub entity: &'static str,
    pub entity_id: String,
    pub household: Option<String>,
    pub origin: Option<String>,
}

/// Appends entries to the change log, at positions taken from `log_head`
/// in one statement. The head's row stays locked until the transaction
/// commits (SQLite has one writer anyway; on PostgreSQL a second writer
/// waits here), so positions commit in the order they were handed out and
/// a pull that read the head never skips a change below it that commits
/// later. Writers call this as late as they can, to hold the row briefly.
pub(crate) fn append_log(tx: &Tx<'_>, entries: &[LogEntry], now: &str) -> StoreResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let count = i64::try_from(entries.len())
        .map_err(|_| StoreError::Invalid("too many changes at once".into()))?;
    let head: i64 = tx.value(
        "UPDATE log_head SET seq = seq + ?1 WHERE id = 1 RETURNING seq",
        &[&count],
    )?;
    let mut position = head - count;
    for entry in entries {
        position += 1;
        tx.execute(
            "INSERT INTO changes (seq, entity, entity_id, household_id, origin_device, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[
                &position,
                &entry.entity,
                &entry.entity_id,
                &entry.household,
                &entry.origin,
                &now,
            ],
        )?;
    }
    Ok(())
}

/// Appends a household's change to the log, dropping its older entries (a
/// device needs only the latest version).
pub(crate) fn log_household_change(
    tx: &Tx<'_>,
    household: Uuid,
    origin: Option<Uuid>,
    now: &str,
) -> StoreResult<()> {
    let key = household.to_string();
    tx.execute(
        "DELETE FROM changes WHERE entity = 'household' AND entity_id = ?1",
        &[&key],
    )?;
    append_log(
        tx,
        &[LogEntry {
            entity: "household",
            entity_id: key.clone(),
            household: Some(key),
            origin: origin.map(|id| id.to_string()),
        }],
        now,
    )
}

/// The highest position ever handed out in the change log (positions of
/// deleted entries included).
pub(crate) fn log_position(tx: &Tx<'_>) -> StoreResult<u64> {
    tx.value("SELECT seq FROM log_head WHERE id = 1", &[])
}

pub(crate) fn scope_ids(tx: &Tx<'_>, cadre: &str) -> StoreResult<Vec<Uuid>> {
    tx.query(
        &format!("{SCOPE_CTE} SELECT id FROM scope ORDER BY id"),
        &[&cadre],
        |row| row.get(0),
    )
}

pub(crate) fn areas_with_parents(
    tx: &Tx<'_>,
    codes: &BTreeSet<String>,
) -> StoreResult<Vec<AreaRecord>> {
    let mut seen = BTreeSet::new();
    let mut areas = Vec::new();
    let mut queue: Vec<String> = codes.iter().cloned().collect();
    while let Some(code) = queue.pop() {
        if !seen.insert(code.clone()) {
            continue;
        }
        let area = tx.query_opt(
            "SELECT code, name, level, parent_code FROM areas WHERE code = ?1",
            &[&code],
            |row| {
                let level: String = row.get(2)?;
                Ok(AreaRecord {
                    code: row.get(0)?,
                    name: row.get(1)?,
                    level: AreaLevel::parse(&level).unwrap_or(AreaLevel::Village),
                    parent_code: row.get(3)?,
                })
            },
        )?;
        if let Some(area) = area {
            if let Some(parent) = &area.parent_code {
                queue.push(parent.clone());
            }
            areas.push(area);
        }
    }
    areas.sort_by(|a, b| (a.code.len(), &a.code).cmp(&(b.code.len(), &b.code)));
    Ok(areas)
}

/// A household row (selected with [`SELECT_HOUSEHOLD`]) as the wire type.
pub(crate) fn household_from(row: &db::Row<'_>) -> StoreResult<HouseholdRecord> {
    Ok(HouseholdRecord {
        id: row.get(0)?,
        village_code: row.get(1)?,
        head_name: row.get(2)?,
        id_card_suffix: row.get(3)?,
        group: row.get(4)?,
        members: row.get(5)?,
        phone: row.get(6)?,
        address: row.get(7)?,
        lat: row.get(8)?,
        lon: row.get(9)?,
        category: row.get(10)?,
        version: row.get(11)?,
    })
}

/// The columns [`conflict_from`] reads, in its order (the device's
/// `conflicts` table shares them).
pub(crate) use doorstep_core::sqlite::CONFLICT_COLUMNS;

/// A conflict row (selected with [`CONFLICT_COLUMNS`]) as the wire type.
pub(crate) fn conflict_from(row: &db::Row<'_>) -> StoreResult<ConflictRecord> {
    Ok(ConflictRecord {
        id: row.get(0)?,
        household_id: row.get(1)?,
        field: field_from(row, 2)?,
        version: row.get(3)?,
        kept: row.get(4)?,
        lost: row.get(5)?,
        kept_by: row.get(6)?,
        lost_by: row.get(7)?,
        kept_hlc: Hlc(row.get(8)?),
        lost_hlc: Hlc(row.get(9)?),
        decided_at: row.get(10)?,
    })
}

/// A household field's name in column `index`.
pub(crate) fn field_from(row: &db::Row<'_>, index: usize) -> StoreResult<HouseholdField> {
    let name: String = row.get(index)?;
    HouseholdField::parse(&name).ok_or_else(|| {
        StoreError::Invalid(format!("unknown household field {name} in a stored row"))
    })
}

/// A visit row (selected with [`SELECT_VISIT`]) as the wire type.
pub(crate) fn visit_from(row: &db::Row<'_>) -> StoreResult<VisitRecord> {
    Ok(VisitRecord {
        id: row.get(0)?,
        household_id: row.get(1)?,
        cadre_id: row.get(2)?,
        device_id: row.get(3)?,
        form_id: row.get(4)?,
        form_version: row.get(5)?,
        answers: row.get::<Json<_>>(6)?.0,
        recorded_at: row.get(7)?,
        received_at: Some(row.get(8)?),
        corrects: row.get(9)?,
        computed: row.get::<Json<_>>(10)?.0,
        clock_ahead: row.get(11)?,
    })
}

/// A form row (selected with [`SELECT_FORM`]) as the wire type.
pub(crate) fn form_from(row: &db::Row<'_>) -> StoreResult<FormRecord> {
    Ok(FormRecord {
        form_id: row.get(0)?,
        version: row.get(1)?,
        title: row.get(2)?,
        definition: row.get(3)?,
        published_at: row.get(4)?,
    })
}

pub(crate) const SELECT_VISIT: &str =
    "SELECT id, household_id, cadre_id, device_id, form_id, form_version, answers,
        recorded_at, received_at, corrects, computed, clock_ahead FROM visits";

pub(crate) const SELECT_FORM: &str =
    "SELECT form_id, version, title, definition, published_at FROM forms";
