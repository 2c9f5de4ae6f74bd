//! A device's push: each change applied at most once, in one transaction
//! per push. Every change is checked in this order, and the first check it
//! fails decides its answer (one refusal never stops the rest of the push):
//!
//! 1. its sequence number and ids (the nil id is no id);
//! 2. this device's own ledger (`device_changes`): the same change again is
//!    `duplicate`; other content under a used number is a `conflict`. The
//!    ledger holds only the caller's own past changes, so it tells nobody
//!    anything about other devices;
//! 3. what the change claims and its size (`doorstep_protocol::limits`);
//! 4. the cadre's write scope: a household that is not the cadre's (or
//!    does not exist: the answer is the same) is `out_of_scope`;
//! 5. for a visit, its id: taken by another visit (another device's, or
//!    this device's with other content) is a `conflict`, never
//!    `duplicate`; then the form's rules, with `today()` no later than the
//!    server's own date (a day's grace for time zones).

use std::net::IpAddr;
use std::sync::{Arc, PoisonError};

use chrono::{DateTime, Utc};
use doorstep_core::sqlite::time_text;
use doorstep_forms::{Form, Options, Rule, Stage};
use doorstep_protocol::limits::{MAX_CHANGE_BYTES, MAX_PUSH_CHANGES, MAX_VISIT_BYTES, json_size};
use doorstep_protocol::{Change, ChangeResult, Mutation, Outcome, RejectCode, VisitRecord};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::audit::{self, AuditEvent, AuditKind};
use super::db::Tx;
use super::rows::{LogEntry, append_log, log_position};
use super::secrets::hex;
use super::{DeviceAuth, ServerStore, StoreError, StoreResult};

/// How long after an unassignment a device may still push what it recorded
/// for the household (it may not have synced since).
pub const UNASSIGNED_GRACE_DAYS: i64 = 30;

/// How far ahead of the server's clock a phone's `recorded_at` may be
/// before the visit is flagged (time zones, a slightly fast clock).
const CLOCK_GRACE_HOURS: i64 = 24;

/// Whether a cadre (`?1`) may push changes for a household (`?2`): it is
/// assigned now (directly or by its village), or was unassigned since `?3`
/// (the grace period). Looks only at the cadre's own pairings.
const IN_WRITE_SCOPE: &str = "SELECT EXISTS (
        SELECT 1 FROM households h WHERE h.id = ?2 AND (
            EXISTS (SELECT 1 FROM assignments a WHERE a.cadre_id = ?1
                    AND (a.household_id = h.id OR a.village_code = h.village_code))
            OR EXISTS (SELECT 1 FROM assignment_history a WHERE a.cadre_id = ?1 AND a.removed_at >= ?3
                    AND (a.household_id = h.id OR a.village_code = h.village_code))))";

/// Refusals of one push named in its audit entry at most.
const AUDITED_REFUSALS: usize = 10;

impl ServerStore {
    /// Applies a device's changes in order, in one transaction: a replayed
    /// change (same device and sequence) is a duplicate and changes nothing.
    /// Returns one result per change and the log position after the push.
    #[tracing::instrument(name = "store", level = "debug", skip_all, fields(device = %auth.device_id, changes = changes.len()))]
    pub fn push(
        &self,
        auth: DeviceAuth,
        changes: &[Change],
        client: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> StoreResult<(Vec<ChangeResult>, u64)> {
        if changes.len() > MAX_PUSH_CHANGES {
            return Err(StoreError::Invalid(format!(
                "a push carries at most {MAX_PUSH_CHANGES} changes; this one has {}",
                changes.len()
            )));
        }
        self.write(|tx| {
            let mut results = Vec::with_capacity(changes.len());
            let mut refused = Vec::new();
            // The visits' entries in the change log, appended at the end in
            // one go (the log's head is held only from there to the commit).
            let mut log = Vec::new();
            for change in changes {
                let outcome = apply_change(self, tx, auth, change, &mut log, now)?;
                if let Outcome::Rejected { code, reason } = &outcome {
                    refused.push(format!("{} {}", change.seq, code.as_str()));
                    keep_rejection(tx, auth, change, *code, reason, now)?;
                }
                results.push(ChangeResult {
                    seq: change.seq,
                    outcome,
                });
            }
            if !refused.is_empty() {
                let count = refused.len();
                refused.truncate(AUDITED_REFUSALS);
                audit::record(
                    tx,
                    now,
                    &AuditEvent::new(AuditKind::ChangeRefused)
                        .device(auth.device_id)
                        .cadre(auth.cadre_id)
                        .client(client)
                        .detail(format!(
                            "{count} of {} refused: {}",
                            changes.len(),
                            refused.join(", ")
                        )),
                )?;
            }
            append_log(tx, &log, &time_text(now))?;
            Ok((results, log_position(tx)?))
        })
    }
}

fn apply_change(
    store: &ServerStore,
    tx: &Tx<'_>,
    auth: DeviceAuth,
    change: &Change,
    log: &mut Vec<LogEntry>,
    now: DateTime<Utc>,
) -> StoreResult<Outcome> {
    let seq = match i64::try_from(change.seq) {
        Ok(seq) if seq > 0 => seq,
        _ => {
            return Ok(rejected(
                RejectCode::Malformed,
                "sequence numbers are whole numbers from 1",
            ));
        }
    };
    let (entity, key, household, digest) = match &change.mutation {
        Mutation::Visit(visit) => ("visit", visit.id, visit.household_id, visit_digest(visit)),
        Mutation::Household(edit) => (
            "household_edit",
            edit.id,
            edit.household_id,
            hex(&Sha256::digest(
                serde_json::to_vec(edit).unwrap_or_default(),
            )),
        ),
    };
    if key.is_nil()
        || household.is_nil()
        || matches!(&change.mutation, Mutation::Visit(visit) if visit.corrects.is_some_and(|id| id.is_nil()))
    {
        return Ok(rejected(RejectCode::Malformed, "the nil id is not an id"));
    }
    let device = auth.device_id.to_string();
    let key_text = key.to_string();
    // 2. This device's own history.
    let seen: Option<(String, Option<String>)> = tx.query_opt(
        "SELECT entity_id, digest FROM device_changes WHERE device_id = ?1 AND seq = ?2",
        &[&device, &seq],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    if let Some((id, stored)) = seen {
        return Ok(
            if id == key_text && stored.as_ref().is_none_or(|stored| *stored == digest) {
                Outcome::Duplicate
            } else if id == key_text {
                rejected(
                    RejectCode::Conflict,
                    &format!("change {seq} was received before with other content"),
                )
            } else {
                // The device's sequence went back (a restored backup?): a new
                // change under an old number. Never `duplicate`, or the device
                // would drop a change the server does not have.
                rejected(
                    RejectCode::Conflict,
                    &format!("sequence {seq} of this device was already used for another change"),
                )
            },
        );
    }
    let ledger = Ledger {
        device: &device,
        seq,
        entity,
        key: &key_text,
        digest: &digest,
        now: &time_text(now),
    };
    // 3 and 4 for a visit come after its own checks of what it claims.
    match &change.mutation {
        Mutation::Visit(visit) => apply_visit(store, tx, auth, visit, &ledger, log, now),
        Mutation::Household(edit) => {
            if let Some(refusal) = check_write_scope(tx, auth, household, now)? {
                return Ok(refusal);
            }
            let outcome = super::merge::apply_edit(tx, auth, edit, now)?;
            if matches!(outcome, Outcome::Applied) {
                ledger.record(tx)?;
            }
            Ok(outcome)
        }
    }
}

/// SHA-256 of a visit as pushed: the fields a device sends, as a JSON
/// array (answers' keys sorted), so that the same visit always has the
/// same digest whatever optional fields the protocol gains.
fn visit_digest(visit: &VisitRecord) -> String {
    let content = (
        visit.id,
        visit.household_id,
        visit.cadre_id,
        visit.device_id,
        &visit.form_id,
        &visit.form_version,
        &visit.answers,
        visit.recorded_at,
        visit.corrects,
    );
    hex(&Sha256::digest(
        serde_json::to_vec(&content).unwrap_or_default(),
    ))
}

/// Where an applied change is written in the exactly-once ledger.
struct Ledger<'a> {
    device: &'a str,
    seq: i64,
    entity: &'static str,
    key: &'a str,
    digest: &'a str,
    now: &'a str,
}

impl Ledger<'_> {
    fn record(&self, tx: &Tx<'_>) -> StoreResult<()> {
        tx.execute(
            "INSERT INTO device_changes (device_id, seq, entity, entity_id, applied_at, digest)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[
                &self.device,
                &self.seq,
                &self.entity,
                &self.key,
                &self.now,
                &self.digest,
            ],
        )?;
        Ok(())
    }
}

/// Refuses a write to a household that is not the cadre's (now, or within
/// the grace period). A household that does not exist gets the same
/// answer: a device learns nothing of ids outside its scope.
fn check_write_scope(
    tx: &Tx<'_>,
    auth: DeviceAuth,
    household: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<Option<Outcome>> {
    let grace_start = time_text(now - chrono::Duration::days(UNASSIGNED_GRACE_DAYS));
    let in_scope: bool = tx.value(IN_WRITE_SCOPE, &[&auth.cadre_id, &household, &grace_start])?;
    if in_scope {
        Ok(None)
    } else {
        Ok(Some(rejected(
            RejectCode::OutOfScope,
            &format!("household {household} is not assigned to this cadre"),
        )))
    }
}

fn apply_visit(
    store: &ServerStore,
    tx: &Tx<'_>,
    auth: DeviceAuth,
    visit: &VisitRecord,
    ledger: &Ledger<'_>,
    log: &mut Vec<LogEntry>,
    now: DateTime<Utc>,
) -> StoreResult<Outcome> {
    if visit.device_id != auth.device_id || visit.cadre_id != auth.cadre_id {
        return Ok(rejected(
            RejectCode::Malformed,
            "the visit names another device or cadre",
        ));
    }
    if json_size(&visit.answers) > MAX_VISIT_BYTES {
        return Ok(rejected(
            RejectCode::TooLarge,
            &format!(
                "the answers are larger than a visit may be ({} KiB)",
                MAX_VISIT_BYTES / 1024
            ),
        ));
    }
    if let Some(refusal) = check_write_scope(tx, auth, visit.household_id, now)? {
        return Ok(refusal);
    }
    let taken: Option<(String, Option<String>)> = tx.query_opt(
        "SELECT device_id, digest FROM visits WHERE id = ?1",
        &[&ledger.key],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    if let Some((owner, stored)) = taken {
        let same =
            owner == ledger.device && stored.as_ref().is_none_or(|stored| stored == ledger.digest);
        if same {
            // This device's own visit again under a new sequence number (a
            // lost answer and a rebuilt outbox): it is here already.
            ledger.record(tx)?;
            return Ok(Outcome::Duplicate);
        }
        return Ok(rejected(
            RejectCode::Conflict,
            &format!(
                "visit id {} is already taken by another visit; record it again (a new visit gets a new id)",
                visit.id
            ),
        ));
    }
    let Some(form) = load_form(store, tx, &visit.form_id, &visit.form_version)? else {
        return Ok(rejected(
            RejectCode::UnknownForm,
            &format!(
                "form {} version {} is not published",
                visit.form_id, visit.form_version
            ),
        ));
    };
    // `today()` is the day the cadre recorded the visit, so the server
    // judges the answers as the device did, but never later than the
    // server's own date (a day's grace for time zones): a phone's clock
    // set ahead cannot make a future date valid. Reasons are in the form's
    // own language, which its cadres read.
    let latest = now + chrono::Duration::hours(CLOCK_GRACE_HOURS);
    let clock_ahead = visit.recorded_at > latest;
    let options = Options {
        stage: Stage::Final,
        language: form.default_language.as_deref(),
        today: visit.recorded_at.min(latest).date_naive(),
    };
    let evaluation = form.evaluate(&visit.answers, &options);
    if !evaluation.is_valid() {
        let code = if evaluation
            .violations
            .iter()
            .any(|violation| violation.rule == Rule::TooLong)
        {
            RejectCode::TooLarge
        } else {
            RejectCode::Invalid
        };
        let list: Vec<String> = evaluation
            .violations
            .iter()
            .map(ToString::to_string)
            .collect();
        return Ok(rejected(code, &list.join("; ")));
    }
    // What is stored (the answers that apply and the computed values) must
    // fit one pulled change, or no device could ever receive it.
    if json_size(&evaluation.answers) + json_size(&evaluation.computed) > MAX_CHANGE_BYTES / 2 {
        return Ok(rejected(
            RejectCode::TooLarge,
            "the answers with what the form computes from them are larger than a visit may be",
        ));
    }
    let household = visit.household_id.to_string();
    if let Some(corrected) = visit.corrects {
        let same_household: Option<String> = tx.query_opt(
            "SELECT household_id FROM visits WHERE id = ?1",
            &[&corrected],
            |row| row.get(0),
        )?;
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
    tx.execute(
        "INSERT INTO visits (id, household_id, cadre_id, device_id, form_id, form_version, answers, recorded_at,
                             received_at, corrects, computed, digest, clock_ahead)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        &[
            &ledger.key,
            &household,
            &auth.cadre_id,
            &ledger.device,
            &visit.form_id,
            &visit.form_version,
            &json(&evaluation.answers)?,
            &visit.recorded_at,
            &ledger.now,
            &visit.corrects,
            &json(&evaluation.computed)?,
            &ledger.digest,
            &clock_ahead,
        ],
    )?;
    super::files::record_visit_files(tx, ledger.key, &form.named_files(&evaluation.answers))?;
    super::facts::record_visit(
        tx,
        &household,
        ledger.key,
        &time_text(visit.recorded_at),
        &evaluation.answers,
        &evaluation.computed,
    )?;
    ledger.record(tx)?;
    log.push(LogEntry {
        entity: "visit",
        entity_id: ledger.key.to_string(),
        household: Some(household),
        origin: Some(ledger.device.to_string()),
    });
    Ok(Outcome::Applied)
}

/// Keeps a refused change for the console's review page: one row per
/// (device, sequence), its attempts counted. The household is named only
/// when this server has it (a supervisor's scope is decided by it).
fn keep_rejection(
    tx: &Tx<'_>,
    auth: DeviceAuth,
    change: &Change,
    code: RejectCode,
    reason: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let Ok(seq) = i64::try_from(change.seq) else {
        return Ok(());
    };
    if seq <= 0 {
        return Ok(());
    }
    let (entity, key, household) = match &change.mutation {
        Mutation::Visit(visit) => ("visit", visit.id, visit.household_id),
        Mutation::Household(edit) => ("household_edit", edit.id, edit.household_id),
    };
    let now = time_text(now);
    tx.execute(
        "INSERT INTO rejected_changes (device_id, seq, entity, entity_id, household_id, code, reason, first_at, last_at)
         VALUES (?1, ?2, ?3, ?4, (SELECT id FROM households WHERE id = ?5), ?6, ?7, ?8, ?8)
         ON CONFLICT (device_id, seq) DO UPDATE SET entity = excluded.entity, entity_id = excluded.entity_id,
             household_id = excluded.household_id, code = excluded.code, reason = excluded.reason,
             last_at = excluded.last_at, attempts = rejected_changes.attempts + 1",
        &[
            &auth.device_id,
            &seq,
            &entity,
            &key,
            &household,
            &code.as_str(),
            &reason,
            &now,
        ],
    )?;
    Ok(())
}

pub(crate) fn rejected(code: RejectCode, reason: &str) -> Outcome {
    Outcome::Rejected {
        code,
        reason: reason.to_string(),
    }
}

/// A published form version, parsed once and cached (versions never change).
pub(crate) fn load_form(
    store: &ServerStore,
    tx: &Tx<'_>,
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
    let definition: Option<String> = tx.query_opt(
        "SELECT definition FROM forms WHERE form_id = ?1 AND version = ?2",
        &[&form_id, &version],
        |row| row.get(0),
    )?;
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
