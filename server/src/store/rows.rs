//! How the server's rows read and the change log is kept: the statements
//! and row mappers that the sync, merge and admin code share, and the
//! queries of a cadre's scope. A leaf: it imports nothing of its siblings.

use std::collections::BTreeSet;

use doorstep_core::sqlite::{json_column, optional_uuid_column, time_column, uuid_column};
use doorstep_protocol::{AreaLevel, AreaRecord, FormRecord, VisitRecord};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use uuid::Uuid;

use super::StoreResult;

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

/// Appends a household's change to the log, dropping its older entries (a
/// device needs only the latest version).
pub(crate) fn log_household_change(
    transaction: &Transaction<'_>,
    household: Uuid,
    origin: Option<Uuid>,
    now: &str,
) -> StoreResult<()> {
    let key = household.to_string();
    transaction
        .prepare_cached("DELETE FROM changes WHERE entity = 'household' AND entity_id = ?1")?
        .execute([&key])?;
    transaction
        .prepare_cached(
            "INSERT INTO changes (entity, entity_id, household_id, origin_device, created_at)
             VALUES ('household', ?1, ?1, ?2, ?3)",
        )?
        .execute(params![key, origin.map(|id| id.to_string()), now])?;
    Ok(())
}

pub(crate) fn log_position(connection: &Connection) -> StoreResult<u64> {
    // AUTOINCREMENT keeps the highest position ever used in sqlite_sequence,
    // even when the latest rows were deleted.
    let position: Option<i64> = connection
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'changes'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    Ok(position.unwrap_or(0).unsigned_abs())
}

pub(crate) fn scope_ids(connection: &Connection, cadre: &str) -> StoreResult<Vec<Uuid>> {
    let mut statement =
        connection.prepare_cached(&format!("{SCOPE_CTE} SELECT id FROM scope ORDER BY id"))?;
    let rows = statement.query_map([cadre], |row| uuid_column(row, 0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn areas_with_parents(
    connection: &Connection,
    codes: &BTreeSet<String>,
) -> StoreResult<Vec<AreaRecord>> {
    let mut statement = connection
        .prepare_cached("SELECT code, name, level, parent_code FROM areas WHERE code = ?1")?;
    let mut seen = BTreeSet::new();
    let mut areas = Vec::new();
    let mut queue: Vec<String> = codes.iter().cloned().collect();
    while let Some(code) = queue.pop() {
        if !seen.insert(code.clone()) {
            continue;
        }
        let area = statement
            .query_row([&code], |row| {
                let level: String = row.get(2)?;
                Ok(AreaRecord {
                    code: row.get(0)?,
                    name: row.get(1)?,
                    level: AreaLevel::parse(&level).unwrap_or(AreaLevel::Village),
                    parent_code: row.get(3)?,
                })
            })
            .optional()?;
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

pub(crate) const SELECT_VISIT: &str =
    "SELECT id, household_id, cadre_id, device_id, form_id, form_version, answers,
        recorded_at, received_at, corrects, computed, clock_ahead FROM visits";

pub(crate) fn visit_from_row(row: &Row<'_>) -> rusqlite::Result<VisitRecord> {
    Ok(VisitRecord {
        id: uuid_column(row, 0)?,
        household_id: uuid_column(row, 1)?,
        cadre_id: uuid_column(row, 2)?,
        device_id: uuid_column(row, 3)?,
        form_id: row.get(4)?,
        form_version: row.get(5)?,
        answers: json_column(row, 6)?,
        recorded_at: time_column(row, 7)?,
        received_at: Some(time_column(row, 8)?),
        corrects: optional_uuid_column(row, 9)?,
        computed: json_column(row, 10)?,
        clock_ahead: row.get(11)?,
    })
}

pub(crate) const SELECT_FORM: &str =
    "SELECT form_id, version, title, definition, published_at FROM forms";

pub(crate) fn form_from_row(row: &Row<'_>) -> rusqlite::Result<FormRecord> {
    Ok(FormRecord {
        form_id: row.get(0)?,
        version: row.get(1)?,
        title: row.get(2)?,
        definition: json_column(row, 3)?,
        published_at: time_column(row, 4)?,
    })
}
