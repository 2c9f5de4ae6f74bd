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
//!
//! The forms' judgements are made before the transaction, in parallel
//! (`push_eval`); what the database says about the changes is read in bulk
//! at its start and the accepted visits written in bulk at its end
//! (`push_batch`); the order of the checks above is kept change by change.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use doorstep_core::sqlite::time_text;
use doorstep_protocol::limits::{MAX_PUSH_CHANGES, MAX_VISIT_BYTES, json_size};
use doorstep_protocol::{Change, ChangeResult, Mutation, Outcome, RejectCode, VisitRecord};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::audit::{self, AuditEvent, AuditKind};
use super::db::{Tx, Value};
use super::push_batch::Batch;
use super::push_eval::Judged;
pub(crate) use super::push_eval::load_form;
use super::rows::log_position;
use super::secrets::hex;
use super::{DeviceAuth, ServerStore, StoreError, StoreResult};

/// How long after an unassignment a device may still push what it recorded
/// for the household (it may not have synced since).
pub const UNASSIGNED_GRACE_DAYS: i64 = 30;

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
        let grace_start = time_text(now - chrono::Duration::days(UNASSIGNED_GRACE_DAYS));
        let now_text = time_text(now);
        self.write(|tx| {
            let mut batch = Batch::prefetch(tx, auth, changes, &grace_start)?;
            let mut results = Vec::with_capacity(changes.len());
            let mut refused = Vec::new();
            for (index, (change, judged)) in changes.iter().zip(&judged).enumerate() {
                let context = Context {
                    store: self,
                    tx,
                    auth,
                    now,
                    now_text: &now_text,
                };
                let outcome = context.apply_change(change, index, judged.as_ref(), &mut batch)?;
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
            batch.flush(tx, &judged, &now_text)?;
            Ok((results, log_position(tx)?))
        })
    }
}

/// What every change of one push is checked and applied with.
struct Context<'a, 't> {
    store: &'a ServerStore,
    tx: &'a Tx<'t>,
    auth: DeviceAuth,
    now: DateTime<Utc>,
    now_text: &'a str,
}

impl Context<'_, '_> {
    fn apply_change(
        &self,
        change: &Change,
        index: usize,
        judged: Option<&Judged>,
        batch: &mut Batch,
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
        let device = self.auth.device_id.to_string();
        let key_text = key.to_string();
        // 2. This device's own history.
        if let Some((id, stored)) = batch.ledger.get(&seq) {
            return Ok(
                if *id == key_text && stored.as_ref().is_none_or(|stored| *stored == digest) {
                    Outcome::Duplicate
                } else if *id == key_text {
                    rejected(
                        RejectCode::Conflict,
                        &format!("change {seq} was received before with other content"),
                    )
                } else {
                    // The device's sequence went back (a restored backup?): a
                    // new change under an old number. Never `duplicate`, or
                    // the device would drop a change the server does not have.
                    rejected(
                        RejectCode::Conflict,
                        &format!(
                            "sequence {seq} of this device was already used for another change"
                        ),
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
        };
        // 3 and 4 for a visit come after its own checks of what it claims.
        match &change.mutation {
            Mutation::Visit(visit) => self.apply_visit(visit, index, judged, &ledger, batch),
            Mutation::Household(edit) => {
                if let Some(refusal) = out_of_scope(batch, household) {
                    return Ok(refusal);
                }
                let outcome = super::merge::apply_edit(self.tx, self.auth, edit, self.now)?;
                if matches!(outcome, Outcome::Applied) {
                    ledger.record(batch, self.now_text);
                }
                Ok(outcome)
            }
        }
    }

    fn apply_visit(
        &self,
        visit: &VisitRecord,
        index: usize,
        judged_before: Option<&Judged>,
        ledger: &Ledger<'_>,
        batch: &mut Batch,
    ) -> StoreResult<Outcome> {
        if visit.device_id != self.auth.device_id || visit.cadre_id != self.auth.cadre_id {
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
        if let Some(refusal) = out_of_scope(batch, visit.household_id) {
            return Ok(refusal);
        }
        if let Some(taken) = batch.taken.get(ledger.key) {
            let same = taken.device == ledger.device
                && taken
                    .digest
                    .as_ref()
                    .is_none_or(|stored| stored == ledger.digest);
            if same {
                // This device's own visit again under a new sequence number
                // (a lost answer and a rebuilt outbox): it is here already.
                ledger.record(batch, self.now_text);
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
        let inline = match judged_before {
            Some(_) => None,
            None => Some(super::push_eval::judge_one(
                self.store, self.tx, visit, self.now,
            )?),
        };
        let Some(judged) = judged_before.or(inline.as_ref()) else {
            return Err(StoreError::Invalid("a visit was not judged".into()));
        };
        let accepted = match judged {
            Judged::Refused(outcome) => return Ok(outcome.clone()),
            Judged::Accepted(accepted) => accepted,
        };
        let household = visit.household_id.to_string();
        if let Some(corrected) = visit.corrects {
            let of_household = batch
                .taken
                .get(&corrected.to_string())
                .is_some_and(|taken| taken.household == household);
            if !of_household {
                return Ok(rejected(
                    RejectCode::Malformed,
                    &format!("the corrected visit {corrected} is not a visit of this household"),
                ));
            }
        }
        let recorded_at = time_text(visit.recorded_at);
        let text = |text: &str| Value::Text(text.to_string());
        let row = [
            text(ledger.key),
            text(&household),
            Value::Text(self.auth.cadre_id.to_string()),
            text(ledger.device),
            text(&visit.form_id),
            text(&visit.form_version),
            text(&accepted.answers_json),
            text(&recorded_at),
            text(self.now_text),
            visit
                .corrects
                .map_or(Value::Null, |id| Value::Text(id.to_string())),
            text(&accepted.computed_json),
            text(ledger.digest),
            Value::Integer(i64::from(accepted.clock_ahead)),
        ];
        batch.add_visit(
            index,
            ledger.key,
            &household,
            ledger.device,
            ledger.digest,
            &recorded_at,
            &accepted.files,
            row,
        );
        ledger.record(batch, self.now_text);
        if let Some(Judged::Accepted(accepted)) = inline {
            batch.inline.insert(index, accepted);
        }
        Ok(Outcome::Applied)
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
}

impl Ledger<'_> {
    fn record(&self, batch: &mut Batch, now: &str) {
        batch.record_ledger(
            self.device,
            self.seq,
            self.entity,
            self.key,
            now,
            self.digest,
        );
    }
}

/// Refuses a write to a household that is not the cadre's (now, or within
/// the grace period: `Batch::prefetch` read which are). A household that
/// does not exist gets the same answer: a device learns nothing of ids
/// outside its scope.
fn out_of_scope(batch: &Batch, household: Uuid) -> Option<Outcome> {
    if batch.in_scope.contains(&household.to_string()) {
        None
    } else {
        Some(rejected(
            RejectCode::OutOfScope,
            &format!("household {household} is not assigned to this cadre"),
        ))
    }
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
