//! The store's side of sync: reading the outbox into changes, and applying
//! what the server answered. Each step is one short transaction and is
//! idempotent, so a sync killed between any two steps resumes correctly.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use doorstep_protocol::{
    AreaRecord, Change, Mutation, Outcome, PullResponse, PulledChange, SnapshotResponse,
    VisitRecord,
};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use uuid::Uuid;

use super::Store;
use super::edits::{forget_edit, load_edit, observe_server_time, put_conflict};
use super::forms::put_form;
use super::households::{put_area, put_household};
use crate::error::{Error, Result};
use crate::sqlite::{count_column, optional_uuid_column, time_column, time_text, uuid_column};

/// How a failed sync run ended, for the status view; the sync engine
/// judges it (`sync::run_outcome`), the store only keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncFailure {
    pub message: String,
    /// A person must act before a retry can succeed.
    pub permanent: bool,
    /// The server answered (the status view's last contact).
    pub reached_server: bool,
}

/// How many outbox entries a push applied, found duplicate, or saw rejected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PushTally {
    pub applied: u64,
    pub duplicate: u64,
    pub rejected: u64,
}

impl Store {
    /// The next pending outbox entries, oldest first, as wire changes: at
    /// most `max_changes`, and no more than `max_bytes` of JSON (but always
    /// at least one). Counts the attempt.
    pub(crate) fn next_push_batch(
        &self,
        max_changes: usize,
        max_bytes: usize,
    ) -> Result<Vec<Change>> {
        self.write(|transaction| {
            let mut statement = transaction.prepare_cached(
                "SELECT seq, entity, entity_id FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT ?1",
            )?;
            let limit = i64::try_from(max_changes).unwrap_or(i64::MAX);
            let entries: Vec<(u64, String, String)> = statement
                .query_map([limit], |row| Ok((count_column(row, 0)?, row.get(1)?, row.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            drop(statement);
            let mut changes = Vec::new();
            let mut bytes = 0;
            for (seq, entity, entity_id) in entries {
                let loaded = match entity.as_str() {
                    "visit" => load_visit(transaction, &entity_id)?
                        .map(|(visit, answers)| (Mutation::Visit(visit), answers)),
                    "household_edit" => load_edit(transaction, &entity_id)?
                        .map(|edit| (Mutation::Household(edit), 0)),
                    _ => None,
                };
                let Some((mutation, answers_bytes)) = loaded else {
                    return Err(Error::Corrupt(format!("outbox entry {seq} names a missing {entity}")));
                };
                // The change's size in JSON, near enough: its answers as
                // stored and what surrounds them (ids, times, the form).
                bytes += answers_bytes + CHANGE_ENVELOPE_BYTES;
                let change = Change { seq, mutation };
                if !changes.is_empty() && bytes > max_bytes {
                    break;
                }
                changes.push(change);
            }
            let mut count = transaction.prepare_cached("UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?1")?;
            for change in &changes {
                count.execute([i64::try_from(change.seq).unwrap_or(i64::MAX)])?;
            }
            Ok(changes)
        })
    }

    /// Settles outbox entries by the server's verdicts: applied and
    /// duplicate ones leave the outbox (the server has them); rejected ones
    /// stay, marked with the reason.
    pub(crate) fn settle_push(
        &self,
        verdicts: &[(u64, Outcome)],
        server_time: DateTime<Utc>,
    ) -> Result<PushTally> {
        let now = self.now();
        let received_at = time_text(server_time);
        self.write(|transaction| {
            observe_server_time(transaction, now, server_time)?;
            let mut tally = PushTally::default();
            for (seq, outcome) in verdicts {
                let seq = i64::try_from(*seq).map_err(|_| Error::Protocol("sequence out of range".into()))?;
                let entry: Option<(String, String)> = transaction
                    .prepare_cached("SELECT entity, entity_id FROM outbox WHERE seq = ?1")?
                    .query_row([seq], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()?;
                let Some((entity, entity_id)) = entry else {
                    continue; // settled by an earlier, interrupted sync
                };
                match outcome {
                    Outcome::Applied | Outcome::Duplicate => {
                        transaction.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?.execute([seq])?;
                        if entity == "household_edit" {
                            forget_edit(transaction, &entity_id)?;
                        } else {
                            transaction
                                .prepare_cached("UPDATE visits SET received_at = coalesce(received_at, ?2) WHERE id = ?1")?
                                .execute(params![entity_id, received_at])?;
                        }
                        if matches!(outcome, Outcome::Applied) {
                            tally.applied += 1;
                        } else {
                            tally.duplicate += 1;
                        }
                    }
                    Outcome::Rejected { code, reason } => {
                        transaction
                            .prepare_cached(
                                "UPDATE outbox SET state = 'rejected', reject_code = ?2, reject_reason = ?3 WHERE seq = ?1",
                            )?
                            .execute(params![seq, code.as_str(), reason])?;
                        tally.rejected += 1;
                    }
                }
            }
            Ok(tally)
        })
    }

    /// Outbox entries waiting to be sent (rejected ones wait for a
    /// person, not for the network, and are not counted): what the device
    /// reports to the server with each push and pull.
    pub(crate) fn pending_count(&self) -> Result<u64> {
        self.read(|connection| {
            Ok(connection
                .prepare_cached("SELECT count(*) FROM outbox WHERE state = 'pending'")?
                .query_row([], |row| count_column(row, 0))?)
        })
    }

    /// The pull cursor and the households held as assigned.
    pub(crate) fn pull_position(&self) -> Result<(u64, Vec<Uuid>)> {
        self.read(|connection| {
            let cursor: i64 =
                connection.query_row("SELECT cursor FROM sync_state", [], |row| row.get(0))?;
            Ok((
                u64::try_from(cursor).map_err(|_| Error::Corrupt("negative cursor".into()))?,
                assigned(connection)?,
            ))
        })
    }

    /// Applies one page of the server's change log and moves the cursor
    /// past it, in one transaction. Changes about households this device
    /// does not hold are skipped: a snapshot brings those whole.
    pub(crate) fn apply_pull(&self, page: &PullResponse) -> Result<u64> {
        let now = self.now();
        self.write(|transaction| {
            observe_server_time(transaction, now, page.server_time)?;
            let held: HashSet<Uuid> = held(transaction)?;
            let mut applied = 0;
            for change in &page.changes {
                match change {
                    PulledChange::Form(form) => put_form(transaction, form)?,
                    PulledChange::Household(household) if held.contains(&household.id) => {
                        put_household(transaction, household)?;
                    }
                    PulledChange::Visit(visit) if held.contains(&visit.household_id) => {
                        put_pulled_visit(transaction, visit)?;
                    }
                    PulledChange::Conflict(conflict) if held.contains(&conflict.household_id) => {
                        put_conflict(transaction, conflict)?;
                    }
                    PulledChange::Household(_)
                    | PulledChange::Visit(_)
                    | PulledChange::Conflict(_) => continue,
                }
                applied += 1;
            }
            let cursor = i64::try_from(page.cursor)
                .map_err(|_| Error::Protocol("cursor out of range".into()))?;
            transaction.execute("UPDATE sync_state SET cursor = max(cursor, ?1)", [cursor])?;
            Ok(applied)
        })
    }

    /// Stores one page of households that entered the device's scope:
    /// their areas, the forms their visits use, their visits. With the last
    /// page, `assign` names the households that are now whole and this
    /// device's; until then a household is only held, and
    /// [`Store::release`] lets go of it, so a kill between pages makes the
    /// next sync fetch it whole again. Returns how many became assigned.
    pub(crate) fn apply_snapshot(
        &self,
        snapshot: &SnapshotResponse,
        assign: Option<&[Uuid]>,
    ) -> Result<u64> {
        let clock = self.now();
        let now = time_text(clock);
        self.write(|transaction| {
            observe_server_time(transaction, clock, snapshot.server_time)?;
            let mut areas: Vec<&AreaRecord> = snapshot.areas.iter().collect();
            areas.sort_by_key(|area| area.code.len()); // parents (shorter codes) first
            for area in areas {
                put_area(transaction, area)?;
            }
            for form in &snapshot.forms {
                put_form(transaction, form)?;
            }
            for household in &snapshot.households {
                put_household(transaction, household)?;
            }
            // Only visits and conflicts of households held (a household
            // back in scope between two pages comes whole next time).
            let held: HashSet<Uuid> = held(transaction)?;
            for visit in snapshot
                .visits
                .iter()
                .filter(|visit| held.contains(&visit.household_id))
            {
                put_pulled_visit(transaction, visit)?;
            }
            for conflict in snapshot
                .conflicts
                .iter()
                .filter(|conflict| held.contains(&conflict.household_id))
            {
                put_conflict(transaction, conflict)?;
            }
            let Some(ids) = assign else {
                return Ok(0);
            };
            let mut insert = transaction.prepare_cached(
                "INSERT INTO assignments (household_id, assigned_at)
                 SELECT id, ?2 FROM households WHERE id = ?1
                 ON CONFLICT (household_id) DO NOTHING",
            )?;
            let mut assigned = 0;
            for id in ids {
                assigned += insert.execute(params![id.to_string(), now])? as u64;
            }
            Ok(assigned)
        })
    }

    /// Lets go of households no longer assigned, and of every unassigned
    /// household whose own changes have all reached the server. A household
    /// with a draft, a pending or a rejected change, or a visit whose files
    /// the server does not hold yet, stays.
    pub(crate) fn release(&self, ids: &[Uuid]) -> Result<u64> {
        self.write(|transaction| {
            let mut unassign =
                transaction.prepare_cached("DELETE FROM assignments WHERE household_id = ?1")?;
            for id in ids {
                unassign.execute([id.to_string()])?;
            }
            transaction.execute(
                "DELETE FROM visits WHERE status = 'final'
                   AND household_id NOT IN (SELECT household_id FROM assignments)
                   AND id NOT IN (SELECT entity_id FROM outbox WHERE entity = 'visit')
                   AND id NOT IN (SELECT vf.visit_id FROM visit_files vf JOIN files f ON f.sha256 = vf.sha256
                                  WHERE f.synced_at IS NULL)",
                [],
            )?;
            let removed = transaction.execute(
                "DELETE FROM households
                 WHERE id NOT IN (SELECT household_id FROM assignments)
                   AND id NOT IN (SELECT household_id FROM visits)
                   AND id NOT IN (SELECT household_id FROM household_edits)",
                [],
            )?;
            transaction.execute(
                "DELETE FROM conflicts WHERE household_id NOT IN (SELECT id FROM households)",
                [],
            )?;
            Ok(removed as u64)
        })
    }

    /// Puts every change the server rejected back in the queue, for after
    /// the cause was fixed (the household assigned again, a form
    /// published). Returns how many.
    pub fn retry_rejected(&self) -> Result<u64> {
        self.write(|transaction| {
            let count = transaction.execute(
                "UPDATE outbox SET state = 'pending', reject_code = NULL, reject_reason = NULL
                 WHERE state = 'rejected'",
                [],
            )?;
            Ok(count as u64)
        })
    }

    pub(crate) fn note_sync_attempt(&self) -> Result<()> {
        let now = time_text(self.now());
        self.write(|transaction| {
            transaction.execute("UPDATE sync_state SET last_attempt_at = ?1", [now])?;
            Ok(())
        })
    }

    /// Remembers how a run ended, as the sync engine judged it.
    pub(crate) fn note_sync_result(&self, failure: Option<SyncFailure>) -> Result<()> {
        let now = time_text(self.now());
        self.write(|transaction| {
            match failure {
                None => transaction.execute(
                    "UPDATE sync_state SET last_sync_at = ?1, last_contact_at = ?1, last_error = NULL,
                                           last_error_permanent = 0",
                    [now],
                )?,
                Some(failure) => transaction.execute(
                    "UPDATE sync_state SET last_error = ?1, last_error_permanent = ?2,
                                           last_contact_at = CASE WHEN ?3 THEN ?4 ELSE last_contact_at END",
                    params![failure.message, failure.permanent, failure.reached_server, now],
                )?,
            };
            Ok(())
        })
    }
}

/// A finalised visit of this device's, as it goes on the wire.
/// What a change's JSON holds beside a visit's answers (its ids, times
/// and form), or a household edit at most: the size a push batch counts.
pub(super) const CHANGE_ENVELOPE_BYTES: usize = 400;

/// A visit to push, and the length of its answers' JSON.
fn load_visit(connection: &Connection, id: &str) -> Result<Option<(VisitRecord, usize)>> {
    Ok(connection
        .prepare_cached(
            "SELECT id, household_id, cadre_id, device_id, form_id, form_version, answers, recorded_at, corrects
             FROM visits WHERE id = ?1",
        )?
        .query_row([id], |row| {
            let unreadable = |error: Box<dyn std::error::Error + Send + Sync>| {
                rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, error)
            };
            let answers = row.get_ref(6)?.as_str().map_err(|error| unreadable(Box::new(error)))?;
            let answers_bytes = answers.len();
            let answers = serde_json::from_str(answers).map_err(|error| unreadable(Box::new(error)))?;
            let visit = VisitRecord {
                id: uuid_column(row, 0)?,
                household_id: uuid_column(row, 1)?,
                cadre_id: uuid_column(row, 2)?,
                device_id: uuid_column(row, 3)?,
                form_id: row.get(4)?,
                form_version: row.get(5)?,
                answers,
                computed: Default::default(),
                recorded_at: time_column(row, 7)?,
                corrects: optional_uuid_column(row, 8)?,
                received_at: None,
                clock_ahead: false,
            };
            Ok((visit, answers_bytes))
        })
        .optional()?)
}

/// A visit from the server. Our own visit coming back only learns when the
/// server received it.
fn put_pulled_visit(transaction: &Transaction<'_>, visit: &VisitRecord) -> Result<()> {
    let answers = serde_json::to_string(&visit.answers)
        .map_err(|error| Error::Protocol(error.to_string()))?;
    let received = visit.received_at.map(time_text);
    let computed = serde_json::to_string(&visit.computed)
        .map_err(|error| Error::Protocol(error.to_string()))?;
    transaction
        .prepare_cached(
            "INSERT INTO visits (id, household_id, cadre_id, device_id, form_id, form_version, status, origin,
                                 answers, recorded_at, updated_at, corrects, received_at, computed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'final', 'pulled', ?7, ?8, ?8, ?9, ?10, ?11)
             ON CONFLICT (id) DO UPDATE SET received_at = coalesce(visits.received_at, excluded.received_at)",
        )?
        .execute(params![
            visit.id.to_string(),
            visit.household_id.to_string(),
            visit.cadre_id.to_string(),
            visit.device_id.to_string(),
            visit.form_id,
            visit.form_version,
            answers,
            time_text(visit.recorded_at),
            visit.corrects.map(|id| id.to_string()),
            received,
            computed,
        ])?;
    Ok(())
}

fn assigned(connection: &Connection) -> Result<Vec<Uuid>> {
    let mut statement = connection.prepare_cached("SELECT household_id FROM assignments")?;
    let rows = statement.query_map([], |row| uuid_column(row, 0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn held(connection: &Connection) -> Result<HashSet<Uuid>> {
    let mut statement = connection.prepare_cached("SELECT id FROM households")?;
    let rows = statement.query_map([], |row| uuid_column(row, 0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
