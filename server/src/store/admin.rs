//! What operators do: load households, add cadres, pair them with villages
//! or households, publish forms, hand out enrolment codes, revoke devices
//! (households are loaded by `import.rs`).

use chrono::{Duration, Utc};
use doorstep_core::sqlite::time_text;
use doorstep_forms::Form;
use doorstep_protocol::AreaRecord;
use doorstep_protocol::limits::{MAX_CHANGE_BYTES, MAX_SHORT_TEXT_CHARS, check_short_text};
use rand::Rng;
use serde::Serialize;
use uuid::Uuid;

use super::audit::{self, AuditEvent, AuditKind};
use super::db::Tx;
use super::rows::{LogEntry, append_log};
use super::secrets::secret_hash;
use super::{ServerStore, StoreError, StoreResult};

/// How long an enrolment code stays valid.
pub const ENROLL_CODE_LIFETIME_DAYS: i64 = 7;
/// Code alphabet without look-alikes (no 0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const CODE_LENGTH: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CadreSummary {
    pub id: Uuid,
    pub name: String,
    pub role: String,
    pub households: u64,
    pub devices: u64,
}

/// What a cadre is paired with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentTarget {
    Village(String),
    Household(Uuid),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assignment {
    pub cadre_id: Uuid,
    #[serde(flatten)]
    pub target: AssignmentTarget,
}

/// An enrolled device, for operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceSummary {
    pub id: Uuid,
    pub cadre_id: Uuid,
    pub label: Option<String>,
    pub enrolled_at: String,
    pub last_seen_at: Option<String>,
    pub revoked_at: Option<String>,
    /// Visits the server received from it.
    pub visits: u64,
    /// Changes it last said it still had to send, and when (`None` until
    /// it reports: devices older than the report never do).
    pub pending_changes: Option<u64>,
    pub pending_reported_at: Option<String>,
}

/// A one-time code, shown to the operator once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnrollCode {
    pub code: String,
    pub cadre_id: Uuid,
    pub expires_at: chrono::DateTime<Utc>,
}

impl ServerStore {
    pub fn add_cadre(&self, name: &str) -> StoreResult<Uuid> {
        self.add_cadre_by(name, None)
    }

    /// [`ServerStore::add_cadre`] on behalf of a console account, named in
    /// the audit log.
    pub fn add_cadre_by(&self, name: &str, user: Option<Uuid>) -> StoreResult<Uuid> {
        let name = name.trim();
        check_short_text(name, MAX_SHORT_TEXT_CHARS).map_err(|problem| {
            StoreError::Invalid(format!(
                "a cadre's name {problem} (1 to {MAX_SHORT_TEXT_CHARS} visible characters)"
            ))
        })?;
        let id = Uuid::now_v7();
        let now = self.now();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO cadres (id, name, created_at) VALUES (?1, ?2, ?3)",
                &[&id, &name, &now],
            )?;
            audit::record(
                tx,
                now,
                &AuditEvent {
                    user,
                    ..AuditEvent::new(AuditKind::CadreAdded).cadre(id)
                },
            )?;
            Ok(id)
        })
    }

    pub fn cadres(&self) -> StoreResult<Vec<CadreSummary>> {
        self.read(|tx| {
            tx.query(
                "SELECT c.id, c.name, c.role,
                        (SELECT count(*) FROM households h WHERE h.id IN
                            (SELECT household_id FROM assignments a WHERE a.cadre_id = c.id)
                         OR h.village_code IN (SELECT village_code FROM assignments a WHERE a.cadre_id = c.id)),
                        (SELECT count(*) FROM devices d WHERE d.cadre_id = c.id AND d.revoked_at IS NULL)
                 FROM cadres c ORDER BY c.created_at, c.id",
                &[],
                |row| {
                    Ok(CadreSummary {
                        id: row.get(0)?,
                        name: row.get(1)?,
                        role: row.get(2)?,
                        households: row.get(3)?,
                        devices: row.get(4)?,
                    })
                },
            )
        })
    }

    /// Pairs a cadre with a village or a household. Assigning twice is not
    /// an error (returns `false`).
    pub fn assign(&self, cadre_id: Uuid, target: &AssignmentTarget) -> StoreResult<bool> {
        let now = self.now();
        self.write(|tx| {
            require_cadre(tx, cadre_id)?;
            require_target(tx, target)?;
            let (village, household) = target_columns(target);
            let added = tx.execute(
                "INSERT INTO assignments (cadre_id, village_code, household_id, created_at)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                &[&cadre_id, &village, &household, &now],
            )?;
            if added > 0 {
                audit::record(
                    tx,
                    now,
                    &AuditEvent::new(AuditKind::Assigned)
                        .cadre(cadre_id)
                        .subject(target_subject(target)),
                )?;
            }
            Ok(added > 0)
        })
    }

    /// Removes a pairing. Returns whether there was one.
    pub fn unassign(&self, cadre_id: Uuid, target: &AssignmentTarget) -> StoreResult<bool> {
        let now = self.now();
        self.write(|tx| {
            require_cadre(tx, cadre_id)?;
            let (village, household) = target_columns(target);
            let moved = tx.execute(
                "INSERT INTO assignment_history (cadre_id, village_code, household_id, assigned_at, removed_at)
                 SELECT cadre_id, village_code, household_id, created_at, ?4 FROM assignments
                 WHERE cadre_id = ?1 AND village_code IS NOT DISTINCT FROM ?2
                   AND household_id IS NOT DISTINCT FROM ?3",
                &[&cadre_id, &village, &household, &now],
            )?;
            if moved > 0 {
                audit::record(
                    tx,
                    now,
                    &AuditEvent::new(AuditKind::Unassigned)
                        .cadre(cadre_id)
                        .subject(target_subject(target)),
                )?;
            }
            tx.execute(
                "DELETE FROM assignments WHERE cadre_id = ?1 AND village_code IS NOT DISTINCT FROM ?2
                   AND household_id IS NOT DISTINCT FROM ?3",
                &[&cadre_id, &village, &household],
            )?;
            Ok(moved > 0)
        })
    }

    pub fn assignments(&self) -> StoreResult<Vec<Assignment>> {
        self.read(|tx| {
            tx.query(
                "SELECT cadre_id, village_code, household_id FROM assignments ORDER BY cadre_id, id",
                &[],
                |row| {
                    let village: Option<String> = row.get(1)?;
                    let target = match village {
                        Some(code) => AssignmentTarget::Village(code),
                        None => AssignmentTarget::Household(row.get(2)?),
                    };
                    Ok(Assignment {
                        cadre_id: row.get(0)?,
                        target,
                    })
                },
            )
        })
    }

    /// Publishes a form version. Publishing the same version again with the
    /// same content is a no-op (returns `false`); with other content it is
    /// refused: a published version never changes.
    pub fn publish_form(&self, form: &Form) -> StoreResult<bool> {
        self.publish_form_by(form, None)
    }

    /// [`ServerStore::publish_form`] on behalf of a console account, named
    /// in the audit log.
    pub fn publish_form_by(&self, form: &Form, user: Option<Uuid>) -> StoreResult<bool> {
        form.check()
            .map_err(|error| StoreError::Invalid(error.to_string()))?;
        let definition = form.to_definition();
        let text = serde_json::to_string(&definition)
            .map_err(|error| StoreError::Invalid(error.to_string()))?;
        // A form travels in one pull page: it must fit one.
        if text.len() > MAX_CHANGE_BYTES / 2 {
            return Err(StoreError::Invalid(format!(
                "form {} version {} is {} KiB; a form may be at most {} KiB",
                form.form_id,
                form.version,
                text.len() / 1024,
                MAX_CHANGE_BYTES / 2 / 1024
            )));
        }
        let clock = self.now();
        let now = time_text(clock);
        self.write(|tx| {
            let existing: Option<String> = tx.query_opt(
                "SELECT definition FROM forms WHERE form_id = ?1 AND version = ?2",
                &[&form.form_id, &form.version],
                |row| row.get(0),
            )?;
            if let Some(existing) = existing {
                let same = serde_json::from_str::<serde_json::Value>(&existing).ok() == Some(definition.clone());
                return if same {
                    Ok(false)
                } else {
                    Err(StoreError::Conflict(format!(
                        "form {} version {} is already published with other content; a published version never changes, so give the new one a new version",
                        form.form_id, form.version
                    )))
                };
            }
            let id: i64 = tx.value(
                "INSERT INTO forms (form_id, version, title, definition, published_at)
                 VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                &[&form.form_id, &form.version, &form.title, &text, &now],
            )?;
            append_log(
                tx,
                &[LogEntry {
                    entity: "form",
                    entity_id: id.to_string(),
                    household: None,
                    origin: None,
                }],
                &now,
            )?;
            audit::record(
                tx,
                clock,
                &AuditEvent {
                    user,
                    ..AuditEvent::new(AuditKind::FormPublished)
                        .subject(format!("{}@{}", form.form_id, form.version))
                },
            )?;
            Ok(true)
        })
    }

    /// Makes a one-time enrolment code for a cadre's device.
    pub fn enroll_code(&self, cadre_id: Uuid) -> StoreResult<EnrollCode> {
        self.enroll_code_by(cadre_id, None)
    }

    /// [`ServerStore::enroll_code`] on behalf of a console account, named
    /// in the audit log.
    pub fn enroll_code_by(&self, cadre_id: Uuid, user: Option<Uuid>) -> StoreResult<EnrollCode> {
        let mut rng = rand::rng();
        let code: String = (0..CODE_LENGTH)
            .map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())]))
            .collect();
        let now = self.now();
        let expires_at = now + Duration::days(ENROLL_CODE_LIFETIME_DAYS);
        self.write(|tx| {
            require_cadre(tx, cadre_id)?;
            tx.execute(
                "INSERT INTO enroll_codes (code_hash, cadre_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                &[&secret_hash(&code), &cadre_id, &now, &expires_at],
            )?;
            // The code itself is a secret: only who it is for.
            audit::record(
                tx,
                now,
                &AuditEvent {
                    user,
                    ..AuditEvent::new(AuditKind::EnrolCodeIssued).cadre(cadre_id)
                },
            )?;
            Ok(())
        })?;
        let shown = format!("{}-{}", &code[..CODE_LENGTH / 2], &code[CODE_LENGTH / 2..]);
        Ok(EnrollCode {
            code: shown,
            cadre_id,
            expires_at,
        })
    }

    /// Enrolled devices, oldest first.
    pub fn devices(&self) -> StoreResult<Vec<DeviceSummary>> {
        self.read(|tx| {
            tx.query(
                "SELECT d.id, d.cadre_id, d.label, d.enrolled_at, d.last_seen_at, d.revoked_at,
                        (SELECT count(*) FROM visits v WHERE v.device_id = d.id),
                        d.pending_changes, d.pending_reported_at
                 FROM devices d ORDER BY d.enrolled_at, d.id",
                &[],
                |row| {
                    Ok(DeviceSummary {
                        id: row.get(0)?,
                        cadre_id: row.get(1)?,
                        label: row.get(2)?,
                        enrolled_at: row.get(3)?,
                        last_seen_at: row.get(4)?,
                        revoked_at: row.get(5)?,
                        visits: row.get(6)?,
                        pending_changes: row.get(7)?,
                        pending_reported_at: row.get(8)?,
                    })
                },
            )
        })
    }

    /// Revokes a device's token (a lost or stolen phone): it can no longer
    /// push or pull. What it pushed before stays.
    pub fn revoke_device(&self, device_id: Uuid) -> StoreResult<()> {
        let clock = self.now();
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE devices SET revoked_at = coalesce(revoked_at, ?2),
                                    revoked_reason = coalesce(revoked_reason, 'revoked')
                 WHERE id = ?1",
                &[&device_id, &clock],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!("no device {device_id}")));
            }
            audit::record(
                tx,
                clock,
                &AuditEvent::new(AuditKind::DeviceRevoked).device(device_id),
            )?;
            Ok(())
        })
    }

    /// Villages with their household counts, for operators.
    pub fn villages(&self) -> StoreResult<Vec<(AreaRecord, u64)>> {
        self.read(|tx| {
            tx.query(
                "SELECT a.code, a.name, a.parent_code, (SELECT count(*) FROM households h WHERE h.village_code = a.code)
                 FROM areas a WHERE a.level = 'village' ORDER BY a.code",
                &[],
                |row| {
                    Ok((
                        AreaRecord {
                            code: row.get(0)?,
                            name: row.get(1)?,
                            level: doorstep_protocol::AreaLevel::Village,
                            parent_code: row.get(2)?,
                        },
                        row.get(3)?,
                    ))
                },
            )
        })
    }
}

fn target_subject(target: &AssignmentTarget) -> String {
    match target {
        AssignmentTarget::Village(code) => format!("village {code}"),
        AssignmentTarget::Household(id) => format!("household {id}"),
    }
}

fn require_cadre(tx: &Tx<'_>, cadre_id: Uuid) -> StoreResult<()> {
    let known: bool = tx.value(
        "SELECT EXISTS (SELECT 1 FROM cadres WHERE id = ?1)",
        &[&cadre_id],
    )?;
    if known {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("no cadre {cadre_id}")))
    }
}

fn require_target(tx: &Tx<'_>, target: &AssignmentTarget) -> StoreResult<()> {
    let (sql, key, what) = match target {
        AssignmentTarget::Village(code) => (
            "SELECT EXISTS (SELECT 1 FROM areas WHERE code = ?1 AND level = 'village')",
            code.clone(),
            "village",
        ),
        AssignmentTarget::Household(id) => (
            "SELECT EXISTS (SELECT 1 FROM households WHERE id = ?1)",
            id.to_string(),
            "household",
        ),
    };
    let known: bool = tx.value(sql, &[&key])?;
    if known {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("no {what} {key}")))
    }
}

fn target_columns(target: &AssignmentTarget) -> (Option<String>, Option<String>) {
    match target {
        AssignmentTarget::Village(code) => (Some(code.clone()), None),
        AssignmentTarget::Household(id) => (None, Some(id.to_string())),
    }
}
