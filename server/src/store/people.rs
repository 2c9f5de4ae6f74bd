//! Cadres and their devices as a console account (or its API token) sees
//! and changes them: through a [`Scope`]. A supervisor sees the cadres
//! paired with a village (or a household) of the area, only the villages
//! of the area among each cadre's pairings, and those cadres' devices; a
//! cadre or device outside the area is "not found", like one that does
//! not exist. Changes are audited with the account that made them.
//!
//! Shared by the admin HTTP API (`crate::api`) and the console's pages.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::audit::{self, AuditEvent, AuditKind};
use super::browse::Page;
use super::db::{Row, Tx};
use super::{EnrollCode, Scope, ServerStore, StoreError, StoreResult};

/// A village, named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VillageRef {
    pub code: String,
    pub name: String,
}

/// A cadre with the villages of the scope it is paired with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CadreRow {
    pub id: Uuid,
    pub name: String,
    /// Its villages in the caller's scope, by code.
    pub villages: Vec<VillageRef>,
    /// Households it is paired with one by one, in the caller's scope.
    pub households: u64,
    /// Its devices that are not revoked.
    pub devices: u64,
}

/// A device, with what the console shows of its contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceRow {
    pub id: Uuid,
    pub cadre_id: Uuid,
    pub cadre_name: String,
    pub label: Option<String>,
    pub enrolled_at: String,
    /// Its last authenticated request (to the minute).
    pub last_seen_at: Option<String>,
    pub revoked: bool,
    pub revoked_at: Option<String>,
    /// The changes it last said it still had to send, and when.
    pub pending_changes: Option<u64>,
    pub pending_reported_at: Option<String>,
}

/// An SQL condition true when the cadre whose id is in `column` has a
/// pairing in `scope` (a village of it, or a household of one of its
/// villages). Every cadre for the whole server.
fn cadre_in_scope_sql(scope: &Scope, column: &str) -> String {
    if scope.is_all() {
        return "TRUE".to_owned();
    }
    format!(
        "EXISTS (SELECT 1 FROM assignments a LEFT JOIN households h ON h.id = a.household_id
                 WHERE a.cadre_id = {column} AND {})",
        scope.villages_sql("coalesce(a.village_code, h.village_code)")
    )
}

/// Whether a cadre exists and is in `scope`.
fn cadre_visible(tx: &Tx<'_>, scope: &Scope, cadre: Uuid) -> StoreResult<bool> {
    Ok(tx
        .query_opt(
            &format!(
                "SELECT 1 FROM cadres c WHERE c.id = ?1 AND {}",
                cadre_in_scope_sql(scope, "c.id")
            ),
            &[&cadre],
            |_| Ok(()),
        )?
        .is_some())
}

/// A village of `scope`, or "not found" (whether it exists elsewhere or not).
fn village_in_scope(tx: &Tx<'_>, scope: &Scope, code: &str) -> StoreResult<()> {
    let found = tx.query_opt(
        &format!(
            "SELECT 1 FROM areas WHERE code = ?1 AND level = 'village' AND {}",
            scope.villages_sql("code")
        ),
        &[&code],
        |_| Ok(()),
    )?;
    found.ok_or_else(|| StoreError::NotFound(format!("no village {code}")))
}

fn no_cadre(cadre: Uuid) -> StoreError {
    StoreError::NotFound(format!("no cadre {cadre}"))
}

const DEVICE_COLUMNS: &str = "d.id, d.cadre_id, c.name, d.label, d.enrolled_at, d.last_seen_at,
     d.revoked_at, d.pending_changes, d.pending_reported_at";

fn device_from_row(row: &Row<'_>) -> StoreResult<DeviceRow> {
    let revoked_at: Option<String> = row.get(6)?;
    Ok(DeviceRow {
        id: row.get(0)?,
        cadre_id: row.get(1)?,
        cadre_name: row.get(2)?,
        label: row.get(3)?,
        enrolled_at: row.get(4)?,
        last_seen_at: row.get(5)?,
        revoked: revoked_at.is_some(),
        revoked_at,
        pending_changes: row.get(7)?,
        pending_reported_at: row.get(8)?,
    })
}

impl ServerStore {
    /// The cadres of `scope` (every cadre for the whole server, those with
    /// no pairing too), oldest first, each with its villages in the scope.
    pub fn cadres_in_scope(&self, scope: &Scope) -> StoreResult<Vec<CadreRow>> {
        self.read(|tx| cadres_where(tx, scope, None, None))
    }

    /// One page of [`ServerStore::cadres_in_scope`], and how many there are.
    pub fn cadres_page(&self, scope: &Scope, page: Page) -> StoreResult<(Vec<CadreRow>, u64)> {
        self.read(|tx| {
            let total: u64 = tx.value(
                &format!(
                    "SELECT count(*) FROM cadres c WHERE {}",
                    cadre_in_scope_sql(scope, "c.id")
                ),
                &[],
            )?;
            let rows = cadres_where(tx, scope, None, Some(page))?;
            Ok((rows, total))
        })
    }

    /// One cadre of `scope`, or "not found".
    pub fn cadre_in_scope(&self, scope: &Scope, cadre: Uuid) -> StoreResult<CadreRow> {
        self.read(|tx| cadres_where(tx, scope, Some(cadre), None))?
            .pop()
            .ok_or_else(|| no_cadre(cadre))
    }

    /// One page of [`ServerStore::devices_in_scope`], and how many there
    /// are.
    pub fn devices_page(&self, scope: &Scope, page: Page) -> StoreResult<(Vec<DeviceRow>, u64)> {
        self.read(|tx| {
            let filter = cadre_in_scope_sql(scope, "d.cadre_id");
            let total: u64 = tx.value(
                &format!("SELECT count(*) FROM devices d WHERE {filter}"),
                &[],
            )?;
            let rows = tx.query(
                &format!(
                    "SELECT {DEVICE_COLUMNS} FROM devices d JOIN cadres c ON c.id = d.cadre_id
                     WHERE {filter} ORDER BY d.enrolled_at, d.id LIMIT {} OFFSET {}",
                    page.limit, page.offset
                ),
                &[],
                device_from_row,
            )?;
            Ok((rows, total))
        })
    }

    /// The devices of the cadres of `scope`, oldest first.
    pub fn devices_in_scope(&self, scope: &Scope) -> StoreResult<Vec<DeviceRow>> {
        self.read(|tx| {
            tx.query(
                &format!(
                    "SELECT {DEVICE_COLUMNS} FROM devices d JOIN cadres c ON c.id = d.cadre_id
                     WHERE {} ORDER BY d.enrolled_at, d.id",
                    cadre_in_scope_sql(scope, "d.cadre_id")
                ),
                &[],
                device_from_row,
            )
        })
    }

    /// Revokes a device of `scope` (a lost phone) on behalf of `user`: its
    /// token opens nothing from now on; what it pushed stays. Revoking it
    /// again changes nothing. Returns the device as it is now.
    pub fn revoke_device_in_scope(
        &self,
        scope: &Scope,
        device: Uuid,
        user: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<DeviceRow> {
        let select = format!(
            "SELECT {DEVICE_COLUMNS} FROM devices d JOIN cadres c ON c.id = d.cadre_id
             WHERE d.id = ?1 AND {}",
            cadre_in_scope_sql(scope, "d.cadre_id")
        );
        self.write(|tx| {
            let Some(row) = tx.query_opt(&select, &[&device], device_from_row)? else {
                return Err(StoreError::NotFound(format!("no device {device}")));
            };
            if row.revoked {
                return Ok(row);
            }
            // Only if still not revoked: on PostgreSQL another revocation
            // may have committed since the row was read.
            let revoked = tx.execute(
                "UPDATE devices SET revoked_at = ?2, revoked_reason = 'revoked'
                 WHERE id = ?1 AND revoked_at IS NULL",
                &[&device, &now],
            )?;
            if revoked > 0 {
                audit::record(
                    tx,
                    now,
                    &AuditEvent::new(AuditKind::DeviceRevoked)
                        .device(device)
                        .cadre(row.cadre_id)
                        .user(user),
                )?;
            }
            tx.query_one(&select, &[&device], device_from_row)
        })
    }

    /// Pairs a cadre with a village of `scope` on behalf of `user`. The
    /// cadre must be of the scope too, or paired with nothing yet (a new
    /// cadre an admin added): a supervisor cannot take another area's
    /// cadre. Returns `false` when they were paired already.
    pub fn assign_in_scope(
        &self,
        scope: &Scope,
        cadre: Uuid,
        village: &str,
        user: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.write(|tx| {
            village_in_scope(tx, scope, village)?;
            let paired_nowhere: Option<bool> = tx.query_opt(
                "SELECT NOT EXISTS (SELECT 1 FROM assignments WHERE cadre_id = ?1)
                 FROM cadres WHERE id = ?1",
                &[&cadre],
                |row| row.get(0),
            )?;
            match paired_nowhere {
                None => return Err(no_cadre(cadre)),
                Some(false) if !cadre_visible(tx, scope, cadre)? => {
                    return Err(no_cadre(cadre));
                }
                Some(_) => {}
            }
            let added = tx.execute(
                "INSERT INTO assignments (cadre_id, village_code, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
                &[&cadre, &village, &now],
            )?;
            if added > 0 {
                audit::record(
                    tx,
                    now,
                    &AuditEvent::new(AuditKind::Assigned)
                        .cadre(cadre)
                        .user(user)
                        .subject(format!("village {village}")),
                )?;
            }
            Ok(added > 0)
        })
    }

    /// Undoes a cadre's pairing with a village of `scope` on behalf of
    /// `user` (kept in the pairing history: the cadre's devices may still
    /// push what they recorded there for a grace period). A pairing that
    /// does not exist is "not found".
    pub fn unassign_in_scope(
        &self,
        scope: &Scope,
        cadre: Uuid,
        village: &str,
        user: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(|tx| {
            village_in_scope(tx, scope, village)?;
            if !cadre_visible(tx, scope, cadre)? {
                return Err(no_cadre(cadre));
            }
            // Deleted first, so that of two servers undoing the same
            // pairing at once (PostgreSQL) one finds it gone.
            let Some(assigned_at) = tx.query_opt(
                "DELETE FROM assignments WHERE cadre_id = ?1 AND village_code = ?2
                 RETURNING created_at",
                &[&cadre, &village],
                |row| row.get::<String>(0),
            )?
            else {
                return Err(StoreError::NotFound(format!(
                    "cadre {cadre} is not paired with village {village}"
                )));
            };
            tx.execute(
                "INSERT INTO assignment_history (cadre_id, village_code, assigned_at, removed_at)
                 VALUES (?1, ?2, ?3, ?4)",
                &[&cadre, &village, &assigned_at, &now],
            )?;
            audit::record(
                tx,
                now,
                &AuditEvent::new(AuditKind::Unassigned)
                    .cadre(cadre)
                    .user(user)
                    .subject(format!("village {village}")),
            )?;
            Ok(())
        })
    }

    /// A one-time enrolment code for a device of a cadre of `scope`,
    /// issued on behalf of `user`.
    pub fn enrol_code_in_scope(
        &self,
        scope: &Scope,
        cadre: Uuid,
        user: Uuid,
    ) -> StoreResult<EnrollCode> {
        if !self.read(|tx| cadre_visible(tx, scope, cadre))? {
            return Err(no_cadre(cadre));
        }
        self.enroll_code_by(cadre, Some(user))
    }
}

/// Cadres of `scope` (one, or all), each with its pairings in the scope.
fn cadres_where(
    tx: &Tx<'_>,
    scope: &Scope,
    only: Option<Uuid>,
    page: Option<Page>,
) -> StoreResult<Vec<CadreRow>> {
    let limit = page.map_or_else(String::new, |page| {
        format!("LIMIT {} OFFSET {}", page.limit, page.offset)
    });
    let mut cadres: Vec<CadreRow> = tx.query(
        &format!(
            "SELECT c.id, c.name,
                    (SELECT count(*) FROM devices d WHERE d.cadre_id = c.id AND d.revoked_at IS NULL)
             FROM cadres c WHERE (CAST(?1 AS TEXT) IS NULL OR c.id = ?1) AND {}
             ORDER BY c.created_at, c.id {limit}",
            cadre_in_scope_sql(scope, "c.id")
        ),
        &[&only],
        |row| {
            Ok(CadreRow {
                id: row.get(0)?,
                name: row.get(1)?,
                villages: Vec::new(),
                households: 0,
                devices: row.get(2)?,
            })
        },
    )?;
    let index: HashMap<Uuid, usize> = cadres
        .iter()
        .enumerate()
        .map(|(position, cadre)| (cadre.id, position))
        .collect();
    let pairings: Vec<(Uuid, Option<String>, Option<String>)> = tx.query(
        &format!(
            "SELECT a.cadre_id, a.village_code, v.name
             FROM assignments a LEFT JOIN areas v ON v.code = a.village_code
                  LEFT JOIN households h ON h.id = a.household_id
             WHERE (CAST(?1 AS TEXT) IS NULL OR a.cadre_id = ?1) AND {}
             ORDER BY a.cadre_id, a.village_code, a.id",
            scope.villages_sql("coalesce(a.village_code, h.village_code)")
        ),
        &[&only],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    for (cadre, village, name) in pairings {
        let Some(&position) = index.get(&cadre) else {
            continue;
        };
        match village {
            Some(code) => cadres[position].villages.push(VillageRef {
                name: name.unwrap_or_default(),
                code,
            }),
            None => cadres[position].households += 1,
        }
    }
    Ok(cadres)
}

#[cfg(test)]
#[path = "people_tests.rs"]
mod tests;
