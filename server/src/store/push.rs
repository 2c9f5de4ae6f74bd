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

use chrono::{DateTime, Utc};
use doorstep_core::sqlite::time_text;
use doorstep_protocol::limits::{MAX_PUSH_CHANGES, MAX_VISIT_BYTES, json_size};
use doorstep_protocol::{Change, ChangeResult, Mutation, Outcome, RejectCode, VisitRecord};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::audit::{self, AuditEvent, AuditKind};
use super::db::Tx;
use super::push_eval::Judged;
pub(crate) use super::push_eval::load_form;
use super::rows::{LogEntry, append_log, log_position};
use super::secrets::hex;
use super::{DeviceAuth, ServerStore, StoreError, StoreResult};

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
        // The visits are judged by their forms before the write begins, on
        // every core (published versions never change): the writer is held
        // only for the checks that need the database and the writes.
        let judged = super::push_eval::judge_visits(self, auth, changes, now)?;
        self.write(|tx| {
            let mut results = Vec::with_capacity(changes.len());
            let mut refused = Vec::new();
            // The visits' entries in the change log, appended at the end in
            // one go (the log's head is held only from there to the commit).
            let mut log = Vec::new();
            for (change, judged) in changes.iter().zip(&judged) {
                let outcome = apply_change(self, tx, auth, change, judged.as_ref(), &mut log, now)?;
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

#[allow(clippy::too_many_arguments)]
fn apply_change(
    store: &ServerStore,
    tx: &Tx<'_>,
    auth: DeviceAuth,
    change: &Change,
    judged: Option<&Judged>,
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
        Mutation::Visit(visit) => apply_visit(store, tx, auth, visit, judged, &ledger, log, now),
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

#[allow(clippy::too_many_arguments)]
fn apply_visit(
    store: &ServerStore,
    tx: &Tx<'_>,
    auth: DeviceAuth,
    visit: &VisitRecord,
    judged_before: Option<&Judged>,
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
    let judged;
    let judged = match judged_before {
        Some(judged) => judged,
        None => {
            judged = super::push_eval::judge_one(store, tx, visit, now)?;
            &judged
        }
    };
    let accepted = match judged {
        Judged::Refused(outcome) => return Ok(outcome.clone()),
        Judged::Accepted(accepted) => accepted,
    };
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
            &accepted.answers_json,
            &visit.recorded_at,
            &ledger.now,
            &visit.corrects,
            &accepted.computed_json,
            &ledger.digest,
            &accepted.clock_ahead,
        ],
    )?;
    super::files::record_visit_files(tx, ledger.key, &accepted.files)?;
    super::facts::record_visit(
        tx,
        &household,
        ledger.key,
        &time_text(visit.recorded_at),
        &accepted.answers,
        &accepted.computed,
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
