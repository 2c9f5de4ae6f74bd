//! The server's side of the sync protocol: enrolment, token checks, push
//! (exactly once per device sequence), pull (the change log within a
//! device's scope) and snapshots of newly assigned households.

use std::collections::BTreeSet;
use std::sync::{Arc, PoisonError};

use chrono::{DateTime, Utc};
use doorstep_core::forms::{Form, Options, Stage};
use doorstep_core::sqlite::{
    count_column, json_column, optional_uuid_column, time_column, time_text, uuid_column,
};
use doorstep_protocol::{
    AreaLevel, AreaRecord, Change, ChangeResult, EnrollResponse, FormRecord, HouseholdRecord,
    Mutation, Outcome, PROTOCOL_VERSION, PullQuery, PullResponse, PulledChange, RejectCode,
    SnapshotResponse, VisitRecord, scope_digest,
};
use rand::Rng;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use uuid::Uuid;

use super::admin::{expired, normalise_code, secret_hash};
use super::{ServerStore, StoreError, StoreResult};

/// Pull pages hold at most this many changes, whatever the device asks.
pub const MAX_PULL_LIMIT: u32 = 5000;
/// A snapshot request names at most this many households.
pub const MAX_SNAPSHOT_HOUSEHOLDS: usize = 1000;
/// A push carries at most this many changes.
pub const MAX_PUSH_CHANGES: usize = 5000;

/// An authenticated device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceAuth {
    pub device_id: Uuid,
    pub cadre_id: Uuid,
}

pub(crate) const SELECT_HOUSEHOLD: &str =
    "SELECT id, village_code, head_name, id_card_suffix, group_name, members,
        phone, address, lat, lon, category, version FROM households";

/// How long after an unassignment a device may still push what it recorded
/// for the household (it may not have synced since).
pub const UNASSIGNED_GRACE_DAYS: i64 = 30;

/// Whether a cadre (`?1`) may push changes for a household (`?2`): it is
/// assigned now (directly or by its village), or was unassigned since `?3`
/// (the grace period). Looks only at the cadre's own pairings.
const IN_WRITE_SCOPE: &str = "SELECT EXISTS (
        SELECT 1 FROM households h WHERE h.id = ?2 AND (
            EXISTS (SELECT 1 FROM assignments a WHERE a.cadre_id = ?1
                    AND (a.household_id = h.id OR a.village_code = h.village_code))
            OR EXISTS (SELECT 1 FROM assignment_history a WHERE a.cadre_id = ?1 AND a.removed_at >= ?3
                    AND (a.household_id = h.id OR a.village_code = h.village_code))))";

/// The households assigned to a cadre (`?1`), directly or by village.
const SCOPE_CTE: &str = "WITH scope (id) AS (
        SELECT household_id FROM assignments WHERE cadre_id = ?1 AND household_id IS NOT NULL
        UNION
        SELECT h.id FROM households h JOIN assignments a ON a.village_code = h.village_code WHERE a.cadre_id = ?1)";

impl ServerStore {
    /// Trades a one-time code for a device identity and token.
    pub fn enroll(
        &self,
        code: &str,
        label: Option<&str>,
        attempt: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> StoreResult<EnrollResponse> {
        let code_hash = secret_hash(&normalise_code(code));
        let device_id = Uuid::now_v7();
        let token: String = {
            let bytes: [u8; 32] = rand::rng().random();
            bytes.iter().map(|byte| format!("{byte:02x}")).collect()
        };
        let label = label.map(|label| label.chars().take(100).collect::<String>());
        self.write(|transaction| {
            let found: Option<CodeRow> = transaction
                .query_row(
                    "SELECT cadre_id, used_at IS NOT NULL, expires_at, attempt, device_id
                     FROM enroll_codes WHERE code_hash = ?1",
                    [&code_hash],
                    |row| {
                        Ok(CodeRow {
                            cadre_id: row.get(0)?,
                            used: row.get(1)?,
                            expired: expired(row, 2, now)?,
                            attempt: row.get(3)?,
                            device: row.get(4)?,
                        })
                    },
                )
                .optional()?;
            let attempt_text = attempt.map(|attempt| attempt.to_string());
            let refuse = |why: &str| Err(StoreError::Enroll(format!("enrolment code {why}")));
            let Some(code) = found else {
                return refuse("not recognised; check it, or ask the operator for a new one");
            };
            if code.used {
                // The same attempt again: its answer was lost on the way.
                // Give the device back with a new token, if the first token
                // was never used (then it never arrived).
                return match (&code.attempt, &code.device) {
                    (Some(used_by), Some(device)) if attempt_text.as_deref() == Some(used_by.as_str()) => {
                        retry_enrollment(transaction, &code.cadre_id, device, &token, now)
                    }
                    _ => refuse("already used; ask the operator for a new one"),
                };
            }
            if code.expired {
                return refuse("expired; ask the operator for a new one");
            }
            let cadre_id = code.cadre_id;
            let now_text = time_text(now);
            transaction.execute(
                "INSERT INTO devices (id, cadre_id, token_hash, label, enrolled_at, last_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![device_id.to_string(), cadre_id, secret_hash(&token), label, now_text],
            )?;
            transaction.execute(
                "UPDATE enroll_codes SET used_at = ?2, device_id = ?3, attempt = ?4 WHERE code_hash = ?1",
                params![code_hash, now_text, device_id.to_string(), attempt_text],
            )?;
            let cadre_name: String =
                transaction.query_row("SELECT name FROM cadres WHERE id = ?1", [&cadre_id], |row| row.get(0))?;
            Ok(EnrollResponse {
                protocol: PROTOCOL_VERSION,
                device_id,
                token: token.clone(),
                cadre_id: Uuid::parse_str(&cadre_id).map_err(|error| StoreError::Invalid(error.to_string()))?,
                cadre_name,
                server_time: now,
            })
        })
    }

    /// The device a bearer token belongs to.
    pub fn authenticate(&self, token: &str) -> StoreResult<DeviceAuth> {
        let hash = secret_hash(token);
        self.read(|connection| {
            connection
                .prepare_cached(
                    "SELECT id, cadre_id FROM devices WHERE token_hash = ?1 AND revoked_at IS NULL",
                )?
                .query_row([&hash], |row| {
                    Ok(DeviceAuth {
                        device_id: uuid_column(row, 0)?,
                        cadre_id: uuid_column(row, 1)?,
                    })
                })
                .optional()?
                .ok_or(StoreError::Unauthorized)
        })
    }

    /// Applies a device's changes in order, in one transaction: a replayed
    /// change (same device and sequence) is a duplicate and changes nothing.
    /// Returns one result per change and the log position after the push.
    pub fn push(
        &self,
        auth: DeviceAuth,
        changes: &[Change],
        now: DateTime<Utc>,
    ) -> StoreResult<(Vec<ChangeResult>, u64)> {
        if changes.len() > MAX_PUSH_CHANGES {
            return Err(StoreError::Invalid(format!(
                "a push carries at most {MAX_PUSH_CHANGES} changes; this one has {}",
                changes.len()
            )));
        }
        let now_text = time_text(now);
        self.write(|transaction| {
            let mut results = Vec::with_capacity(changes.len());
            for change in changes {
                let outcome = apply_change(self, transaction, auth, change, now)?;
                results.push(ChangeResult {
                    seq: change.seq,
                    outcome,
                });
            }
            transaction.execute(
                "UPDATE devices SET last_seen_at = ?2 WHERE id = ?1",
                params![auth.device_id.to_string(), now_text],
            )?;
            Ok((results, log_position(transaction)?))
        })
    }

    /// One page of the change log after `query.cursor`, within the device's
    /// scope, leaving out the device's own visits (it has them). When the
    /// device's scope digest is stale, the page also lists the whole scope.
    pub fn pull(
        &self,
        auth: DeviceAuth,
        query: &PullQuery,
        now: DateTime<Utc>,
    ) -> StoreResult<PullResponse> {
        let limit = query.limit.unwrap_or(1000).clamp(1, MAX_PULL_LIMIT);
        let cursor = i64::try_from(query.cursor)
            .map_err(|_| StoreError::Invalid("cursor out of range".into()))?;
        let cadre = auth.cadre_id.to_string();
        self.read(|connection| {
            let scope = scope_ids(connection, &cadre)?;
            let stale = query.scope.as_deref() != Some(scope_digest(&scope).as_str());
            let end = log_position(connection)?;
            let end_signed = i64::try_from(end).unwrap_or(i64::MAX);
            let mut statement = connection.prepare_cached(&format!(
                "{SCOPE_CTE}
                 SELECT c.seq, c.entity, c.entity_id FROM changes c
                 WHERE c.seq > ?2 AND c.seq <= ?3
                   AND (c.household_id IS NULL OR c.household_id IN (SELECT id FROM scope))
                   AND NOT (c.entity = 'visit' AND c.origin_device IS ?4)
                 ORDER BY c.seq LIMIT ?5"
            ))?;
            let rows: Vec<(u64, String, String)> = statement
                .query_map(
                    params![
                        cadre,
                        cursor,
                        end_signed,
                        auth.device_id.to_string(),
                        i64::from(limit) + 1
                    ],
                    |row| Ok((count_column(row, 0)?, row.get(1)?, row.get(2)?)),
                )?
                .collect::<rusqlite::Result<_>>()?;
            let more = rows.len() > limit as usize;
            let rows = &rows[..rows.len().min(limit as usize)];
            let mut changes = Vec::with_capacity(rows.len());
            for (_, entity, entity_id) in rows {
                if let Some(change) = load_change(connection, entity, entity_id)? {
                    changes.push(change);
                }
            }
            let next = if more {
                rows.last().map_or(query.cursor, |row| row.0)
            } else {
                end.max(query.cursor)
            };
            Ok(PullResponse {
                protocol: PROTOCOL_VERSION,
                scope: stale.then_some(scope),
                changes,
                cursor: next,
                more,
                server_time: now,
            })
        })
    }

    /// Households newly in the device's scope, whole: with their areas,
    /// every visit, and the forms those visits use.
    pub fn snapshot(
        &self,
        auth: DeviceAuth,
        requested: &[Uuid],
        now: DateTime<Utc>,
    ) -> StoreResult<SnapshotResponse> {
        if requested.len() > MAX_SNAPSHOT_HOUSEHOLDS {
            return Err(StoreError::Invalid(format!(
                "a snapshot names at most {MAX_SNAPSHOT_HOUSEHOLDS} households; this one names {}",
                requested.len()
            )));
        }
        let cadre = auth.cadre_id.to_string();
        self.read(|connection| {
            let scope: BTreeSet<Uuid> = scope_ids(connection, &cadre)?.into_iter().collect();
            let position = log_position(connection)?;
            let mut response = SnapshotResponse {
                protocol: PROTOCOL_VERSION,
                areas: Vec::new(),
                households: Vec::new(),
                forms: Vec::new(),
                visits: Vec::new(),
                conflicts: Vec::new(),
                refused: Vec::new(),
                position,
                server_time: now,
            };
            let mut area_codes = BTreeSet::new();
            let mut form_keys = BTreeSet::new();
            let mut household_statement =
                connection.prepare_cached(&format!("{SELECT_HOUSEHOLD} WHERE id = ?1"))?;
            let mut visit_statement = connection.prepare_cached(&format!(
                "{SELECT_VISIT} WHERE household_id = ?1 ORDER BY received_at, id"
            ))?;
            for id in requested.iter().collect::<BTreeSet<_>>() {
                let household = scope
                    .contains(id)
                    .then(|| {
                        household_statement
                            .query_row([id.to_string()], household_from_row)
                            .optional()
                    })
                    .transpose()?
                    .flatten();
                let Some(household) = household else {
                    response.refused.push(*id);
                    continue;
                };
                area_codes.insert(household.village_code.clone());
                for visit in visit_statement.query_map([id.to_string()], visit_from_row)? {
                    let visit = visit?;
                    form_keys.insert((visit.form_id.clone(), visit.form_version.clone()));
                    response.visits.push(visit);
                }
                response
                    .conflicts
                    .extend(super::merge::household_conflicts(connection, *id)?);
                response.households.push(household);
            }
            response.areas = areas_with_parents(connection, &area_codes)?;
            for (form_id, version) in form_keys {
                let form = connection
                    .prepare_cached(&format!(
                        "{SELECT_FORM} WHERE form_id = ?1 AND version = ?2"
                    ))?
                    .query_row(params![form_id, version], form_from_row)?;
                response.forms.push(form);
            }
            Ok(response)
        })
    }
}

/// An enrolment code as stored.
struct CodeRow {
    cadre_id: String,
    used: bool,
    expired: bool,
    /// The attempt that used it.
    attempt: Option<String>,
    /// The device it enrolled.
    device: Option<String>,
}

/// A retried enrolment whose first answer was lost: the same device with a
/// new token, provided the first token was never used (a device that used
/// it has it, and does not retry). The old token stops working.
fn retry_enrollment(
    transaction: &Transaction<'_>,
    cadre_id: &str,
    device: &str,
    token: &str,
    now: DateTime<Utc>,
) -> StoreResult<EnrollResponse> {
    let unused: bool = transaction.query_row(
        "SELECT last_seen_at = enrolled_at AND revoked_at IS NULL
                AND NOT EXISTS (SELECT 1 FROM device_changes WHERE device_id = ?1)
         FROM devices WHERE id = ?1",
        [device],
        |row| row.get(0),
    )?;
    if !unused {
        return Err(StoreError::Enroll(
            "enrolment code already used; ask the operator for a new one".into(),
        ));
    }
    transaction.execute(
        "UPDATE devices SET token_hash = ?2 WHERE id = ?1",
        params![device, secret_hash(token)],
    )?;
    let cadre_name: String =
        transaction.query_row("SELECT name FROM cadres WHERE id = ?1", [cadre_id], |row| {
            row.get(0)
        })?;
    let parse =
        |text: &str| Uuid::parse_str(text).map_err(|error| StoreError::Invalid(error.to_string()));
    Ok(EnrollResponse {
        protocol: PROTOCOL_VERSION,
        device_id: parse(device)?,
        token: token.to_string(),
        cadre_id: parse(cadre_id)?,
        cadre_name,
        server_time: now,
    })
}

fn apply_change(
    store: &ServerStore,
    transaction: &Transaction<'_>,
    auth: DeviceAuth,
    change: &Change,
    now: DateTime<Utc>,
) -> StoreResult<Outcome> {
    let grace_start = time_text(now - chrono::Duration::days(UNASSIGNED_GRACE_DAYS));
    let received = now;
    let now_text = time_text(now);
    let now = now_text.as_str();
    let device = auth.device_id.to_string();
    let seq = i64::try_from(change.seq)
        .map_err(|_| StoreError::Invalid("sequence out of range".into()))?;
    if seq <= 0 {
        return Ok(rejected(
            RejectCode::Malformed,
            "sequence numbers start at 1",
        ));
    }
    let (entity, key) = match &change.mutation {
        Mutation::Visit(visit) => ("visit", visit.id.to_string()),
        Mutation::Household(edit) => ("household_edit", edit.id.to_string()),
    };
    let seen: Option<String> = transaction
        .prepare_cached("SELECT entity_id FROM device_changes WHERE device_id = ?1 AND seq = ?2")?
        .query_row(params![device, seq], |row| row.get(0))
        .optional()?;
    match seen {
        Some(entity) if entity == key => return Ok(Outcome::Duplicate),
        // The device's sequence went back (a restored backup?): this is a
        // new change under an old number. Never answer `duplicate` for it,
        // or the device would drop a visit the server does not have.
        Some(_) => {
            return Ok(rejected(
                RejectCode::Malformed,
                &format!("sequence {seq} of this device was already used for another change"),
            ));
        }
        None => {}
    }
    let applied = Applied {
        device: &device,
        seq,
        entity,
        key: &key,
        now,
    };
    match &change.mutation {
        Mutation::Visit(visit) => {
            apply_visit(store, transaction, auth, visit, &applied, &grace_start)
        }
        Mutation::Household(edit) => {
            let household = edit.household_id.to_string();
            if let Some(refusal) = check_write_scope(transaction, auth, &household, &grace_start)? {
                return Ok(refusal);
            }
            let outcome = super::merge::apply_edit(transaction, auth, edit, received)?;
            if matches!(outcome, Outcome::Applied) {
                applied.record(transaction)?;
            }
            Ok(outcome)
        }
    }
}

/// Where an applied change is written in the exactly-once ledger.
struct Applied<'a> {
    device: &'a str,
    seq: i64,
    entity: &'static str,
    key: &'a str,
    now: &'a str,
}

impl Applied<'_> {
    fn record(&self, transaction: &Transaction<'_>) -> StoreResult<()> {
        transaction
            .prepare_cached(
                "INSERT INTO device_changes (device_id, seq, entity, entity_id, applied_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![self.device, self.seq, self.entity, self.key, self.now])?;
        Ok(())
    }
}

/// Refuses a write to a household that does not exist or is not the
/// cadre's (now, or within the grace period).
fn check_write_scope(
    transaction: &Transaction<'_>,
    auth: DeviceAuth,
    household: &str,
    grace_start: &str,
) -> StoreResult<Option<Outcome>> {
    let known: bool = transaction
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM households WHERE id = ?1)")?
        .query_row([household], |row| row.get(0))?;
    if !known {
        return Ok(Some(rejected(
            RejectCode::UnknownHousehold,
            &format!("household {household} does not exist"),
        )));
    }
    let in_scope: bool = transaction.prepare_cached(IN_WRITE_SCOPE)?.query_row(
        params![auth.cadre_id.to_string(), household, grace_start],
        |row| row.get(0),
    )?;
    if !in_scope {
        return Ok(Some(rejected(
            RejectCode::OutOfScope,
            &format!("household {household} is not assigned to this cadre"),
        )));
    }
    Ok(None)
}

fn apply_visit(
    store: &ServerStore,
    transaction: &Transaction<'_>,
    auth: DeviceAuth,
    visit: &VisitRecord,
    applied: &Applied<'_>,
    grace_start: &str,
) -> StoreResult<Outcome> {
    let (device, key, now) = (applied.device, applied.key, applied.now);
    if visit.device_id != auth.device_id || visit.cadre_id != auth.cadre_id {
        return Ok(rejected(
            RejectCode::Malformed,
            "the visit names another device or cadre",
        ));
    }
    let exists: bool = transaction
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM visits WHERE id = ?1)")?
        .query_row([&key], |row| row.get(0))?;
    if exists {
        applied.record(transaction)?;
        return Ok(Outcome::Duplicate);
    }
    let household = visit.household_id.to_string();
    if let Some(refusal) = check_write_scope(transaction, auth, &household, grace_start)? {
        return Ok(refusal);
    }
    let Some(form) = load_form(store, transaction, &visit.form_id, &visit.form_version)? else {
        return Ok(rejected(
            RejectCode::UnknownForm,
            &format!(
                "form {} version {} is not published",
                visit.form_id, visit.form_version
            ),
        ));
    };
    // `today()` is the day the cadre recorded the visit, so the server
    // judges the answers as the device did; reasons are in the form's own
    // language, which its cadres read.
    let options = Options {
        stage: Stage::Final,
        language: form.default_language.as_deref(),
        today: visit.recorded_at.date_naive(),
    };
    let evaluation = form.evaluate(&visit.answers, &options);
    if !evaluation.is_valid() {
        let list: Vec<String> = evaluation
            .violations
            .iter()
            .map(ToString::to_string)
            .collect();
        return Ok(rejected(RejectCode::Invalid, &list.join("; ")));
    }
    if let Some(corrected) = visit.corrects {
        let same_household: Option<String> = transaction
            .prepare_cached("SELECT household_id FROM visits WHERE id = ?1")?
            .query_row([corrected.to_string()], |row| row.get(0))
            .optional()?;
        if same_household.as_deref() != Some(household.as_str()) {
            return Ok(rejected(
                RejectCode::Malformed,
                &format!("the corrected visit {corrected} is not a visit of this household"),
            ));
        }
    }
    let json = |value: &doorstep_protocol::Answers| {
        serde_json::to_string(value).map_err(|error| StoreError::Invalid(error.to_string()))
    };
    let answers = json(&evaluation.answers)?;
    let computed = json(&evaluation.computed)?;
    transaction
        .prepare_cached(
            "INSERT INTO visits (id, household_id, cadre_id, device_id, form_id, form_version, answers, recorded_at,
                                 received_at, corrects, computed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            key,
            household,
            auth.cadre_id.to_string(),
            device,
            visit.form_id,
            visit.form_version,
            answers,
            time_text(visit.recorded_at),
            now,
            visit.corrects.map(|id| id.to_string()),
            computed,
        ])?;
    applied.record(transaction)?;
    transaction
        .prepare_cached(
            "INSERT INTO changes (entity, entity_id, household_id, origin_device, created_at)
             VALUES ('visit', ?1, ?2, ?3, ?4)",
        )?
        .execute(params![key, household, device, now])?;
    Ok(Outcome::Applied)
}

fn rejected(code: RejectCode, reason: &str) -> Outcome {
    Outcome::Rejected {
        code,
        reason: reason.to_string(),
    }
}

/// A published form version, parsed once and cached (versions never change).
fn load_form(
    store: &ServerStore,
    connection: &Connection,
    form_id: &str,
    version: &str,
) -> StoreResult<Option<Arc<Form>>> {
    let key = (form_id.to_string(), version.to_string());
    if let Some(form) = store
        .forms
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
    {
        return Ok(Some(Arc::clone(form)));
    }
    let definition: Option<String> = connection
        .prepare_cached("SELECT definition FROM forms WHERE form_id = ?1 AND version = ?2")?
        .query_row(params![form_id, version], |row| row.get(0))
        .optional()?;
    definition
        .map(|text| {
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|error| StoreError::Invalid(error.to_string()))?;
            Form::from_definition(&value).map_err(|error| StoreError::Invalid(error.to_string()))
        })
        .transpose()
        .map(|form| {
            form.map(|form| {
                let form = Arc::new(form);
                store
                    .forms
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key, Arc::clone(&form));
                form
            })
        })
}

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

fn log_position(connection: &Connection) -> StoreResult<u64> {
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

fn scope_ids(connection: &Connection, cadre: &str) -> StoreResult<Vec<Uuid>> {
    let mut statement =
        connection.prepare_cached(&format!("{SCOPE_CTE} SELECT id FROM scope ORDER BY id"))?;
    let rows = statement.query_map([cadre], |row| uuid_column(row, 0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn load_change(
    connection: &Connection,
    entity: &str,
    entity_id: &str,
) -> StoreResult<Option<PulledChange>> {
    Ok(match entity {
        "household" => connection
            .prepare_cached(&format!("{SELECT_HOUSEHOLD} WHERE id = ?1"))?
            .query_row([entity_id], household_from_row)
            .optional()?
            .map(PulledChange::Household),
        "visit" => connection
            .prepare_cached(&format!("{SELECT_VISIT} WHERE id = ?1"))?
            .query_row([entity_id], visit_from_row)
            .optional()?
            .map(PulledChange::Visit),
        "conflict" => {
            super::merge::load_conflict(connection, entity_id)?.map(PulledChange::Conflict)
        }
        "form" => connection
            .prepare_cached(&format!("{SELECT_FORM} WHERE id = ?1"))?
            .query_row([entity_id], form_from_row)
            .optional()?
            .map(PulledChange::Form),
        _ => None,
    })
}

fn areas_with_parents(
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

pub(crate) fn household_from_row(row: &Row<'_>) -> rusqlite::Result<HouseholdRecord> {
    Ok(HouseholdRecord {
        id: uuid_column(row, 0)?,
        village_code: row.get(1)?,
        head_name: row.get(2)?,
        id_card_suffix: row.get(3)?,
        group: row.get(4)?,
        members: count_column(row, 5)?,
        phone: row.get(6)?,
        address: row.get(7)?,
        lat: row.get(8)?,
        lon: row.get(9)?,
        category: row.get(10)?,
        version: count_column(row, 11)?,
    })
}

const SELECT_VISIT: &str =
    "SELECT id, household_id, cadre_id, device_id, form_id, form_version, answers,
        recorded_at, received_at, corrects, computed FROM visits";

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
    })
}

const SELECT_FORM: &str = "SELECT form_id, version, title, definition, published_at FROM forms";

fn form_from_row(row: &Row<'_>) -> rusqlite::Result<FormRecord> {
    Ok(FormRecord {
        form_id: row.get(0)?,
        version: row.get(1)?,
        title: row.get(2)?,
        definition: json_column(row, 3)?,
        published_at: time_column(row, 4)?,
    })
}
