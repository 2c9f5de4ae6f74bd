//! Recording visits. A draft stays on the device and can be edited; a
//! finalised visit is validated, immutable, and queued in the outbox in the
//! same transaction that stores it.

use chrono::{DateTime, Utc};
use doorstep_protocol::Answers;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use uuid::Uuid;

use super::Store;
use super::forms::resolve_form;
use crate::error::{Error, Result};
use crate::forms::{Options, Stage};
use crate::model::{DeviceIdentity, NewVisit, Visit, VisitStatus, VisitSync};
use crate::sqlite::{
    json_column, optional_time_column, optional_uuid_column, time_column, time_text, uuid_column,
};

const SELECT_VISIT: &str =
    "SELECT v.id, v.household_id, v.cadre_id, v.device_id, v.form_id, v.form_version,
        v.status, v.origin, v.answers, v.recorded_at, v.updated_at, v.corrects, v.received_at,
        o.state, o.reject_code, o.reject_reason, v.computed
    FROM visits v LEFT JOIN outbox o ON o.seq = v.outbox_seq";

impl Store {
    /// Records a visit: a draft, or a finalised visit that is validated
    /// against its form and queued for the server. Durable when it returns.
    pub fn record_visit(&self, new: NewVisit) -> Result<Visit> {
        self.record_visit_on(new, None)
    }

    /// Records a visit on `version` of its form (the newest when `None`):
    /// a session keeps the version it was opened with.
    pub(super) fn record_visit_on(&self, new: NewVisit, version: Option<&str>) -> Result<Visit> {
        let now = self.now();
        let id = Uuid::now_v7();
        self.write(|transaction| {
            let identity = self.require_identity_in(transaction)?;
            let known: Option<i64> = transaction
                .prepare_cached("SELECT 1 FROM households WHERE id = ?1")?
                .query_row([new.household_id.to_string()], |row| row.get(0))
                .optional()?;
            if known.is_none() {
                return Err(Error::UnknownHousehold(new.household_id));
            }
            if let Some(corrected) = new.corrects {
                check_correctable(transaction, corrected, new.household_id)?;
            }
            let (form_id, form_version) = match (new.form_id.as_deref(), version) {
                (Some(form_id), Some(version)) => (form_id.to_owned(), version.to_owned()),
                (form_id, _) => resolve_form(transaction, form_id)?,
            };
            let stage = if new.draft { Stage::Draft } else { Stage::Final };
            let evaluated = self.evaluate(transaction, &form_id, &form_version, &new.answers, stage, now)?;
            // Stored to the millisecond: the visit returned reads as it will.
            let stamp = time_text(now);
            let recorded_at = super::codec::parse_time(&stamp)?;
            // A finalised visit is queued with it, and names its entry.
            let outbox_seq = if new.draft { None } else { Some(enqueue(transaction, id, &stamp)?) };
            transaction
                .prepare_cached(
                    "INSERT INTO visits (id, household_id, cadre_id, device_id, form_id, form_version, status,
                                         origin, answers, recorded_at, updated_at, corrects, computed, outbox_seq)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'own', ?8, ?9, ?9, ?10, ?11, ?12)",
                )?
                .execute(params![
                    id.to_string(),
                    new.household_id.to_string(),
                    identity.cadre_id.to_string(),
                    identity.device_id.to_string(),
                    form_id,
                    form_version,
                    if new.draft { "draft" } else { "final" },
                    evaluated.answers_json,
                    stamp,
                    new.corrects.map(|corrected| corrected.to_string()),
                    evaluated.computed_json,
                    outbox_seq,
                ])?;
            if !new.draft {
                super::files::note_visit_files(transaction, &id.to_string(), &evaluated.files)?;
            }
            // The visit as stored, without reading it back.
            Ok(Visit {
                id,
                household_id: new.household_id,
                cadre_id: identity.cadre_id,
                device_id: identity.device_id,
                form_id,
                form_version,
                status: if new.draft { VisitStatus::Draft } else { VisitStatus::Final },
                own: true,
                answers: evaluated.answers,
                computed: evaluated.computed,
                recorded_at,
                updated_at: recorded_at,
                corrects: new.corrects,
                received_at: None,
                sync: if new.draft { VisitSync::Local } else { VisitSync::Pending },
            })
        })
    }

    /// Replaces a draft's answers. Drafts may be incomplete.
    pub fn update_draft(&self, id: Uuid, answers: &Answers) -> Result<Visit> {
        let now = self.now();
        self.write(|transaction| {
            let draft = own_draft(transaction, id, &self.require_identity_in(transaction)?)?;
            let evaluated = self.evaluate(
                transaction,
                &draft.form_id,
                &draft.form_version,
                answers,
                Stage::Draft,
                now,
            )?;
            transaction.execute(
                "UPDATE visits SET answers = ?2, computed = ?3, updated_at = ?4 WHERE id = ?1",
                params![
                    id.to_string(),
                    evaluated.answers_json,
                    evaluated.computed_json,
                    time_text(now)
                ],
            )?;
            visit(transaction, id)?.ok_or(Error::UnknownVisit(id))
        })
    }

    /// Finalises a draft on the form version it was started with: validates
    /// it and queues it for the server.
    pub fn finalise_draft(&self, id: Uuid) -> Result<Visit> {
        self.finalise_draft_with(id, None)
    }

    /// Finalises a draft with `answers` in place of its stored ones (a
    /// session's), in one transaction.
    pub(super) fn finalise_draft_with(&self, id: Uuid, answers: Option<&Answers>) -> Result<Visit> {
        let now = self.now();
        self.write(|transaction| {
            let draft = own_draft(transaction, id, &self.require_identity_in(transaction)?)?;
            let given = answers.unwrap_or(&draft.answers);
            let evaluated =
                self.evaluate(transaction, &draft.form_id, &draft.form_version, given, Stage::Final, now)?;
            super::files::note_visit_files(transaction, &id.to_string(), &evaluated.files)?;
            let now = time_text(now);
            let outbox_seq = enqueue(transaction, id, &now)?;
            transaction.execute(
                "UPDATE visits SET status = 'final', answers = ?2, computed = ?3, recorded_at = ?4, updated_at = ?4,
                                   outbox_seq = ?5
                 WHERE id = ?1",
                params![id.to_string(), evaluated.answers_json, evaluated.computed_json, now, outbox_seq],
            )?;
            visit(transaction, id)?.ok_or(Error::UnknownVisit(id))
        })
    }

    /// Deletes one of this device's drafts, answers and all. A finalised
    /// visit is never deleted (`Error::Finalised`).
    pub fn delete_draft(&self, id: Uuid) -> Result<()> {
        self.write(|transaction| {
            own_draft(transaction, id, &self.require_identity_in(transaction)?)?;
            transaction.execute(
                "DELETE FROM visits WHERE id = ?1 AND status = 'draft'",
                [id.to_string()],
            )?;
            Ok(())
        })
    }

    /// Every visit on the device (own and pulled), oldest first, optionally
    /// of one household.
    pub fn visits(&self, household: Option<Uuid>) -> Result<Vec<Visit>> {
        self.read(|connection| {
            let sql = format!(
                "{SELECT_VISIT} WHERE ?1 IS NULL OR v.household_id = ?1 ORDER BY v.recorded_at, v.id"
            );
            let mut statement = connection.prepare(&sql)?;
            let rows = statement.query_map([household.map(|id| id.to_string())], visit_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    pub fn visit(&self, id: Uuid) -> Result<Option<Visit>> {
        self.read(|connection| visit(connection, id))
    }

    pub(super) fn require_identity_in(&self, connection: &Connection) -> Result<DeviceIdentity> {
        super::read_identity(connection)?.ok_or(Error::NotEnrolled)
    }

    /// Evaluates answers against a form version. A draft keeps its answers
    /// as given; a finalised visit must be valid and keeps only the answers
    /// that apply.
    fn evaluate(
        &self,
        connection: &Connection,
        form_id: &str,
        version: &str,
        answers: &Answers,
        stage: Stage,
        now: DateTime<Utc>,
    ) -> Result<Evaluated> {
        let form = self.load_form(connection, form_id, version)?;
        let options = Options {
            stage,
            language: self.language(),
            today: now.date_naive(),
        };
        let evaluation = form.evaluate(answers, &options);
        let kept = match stage {
            Stage::Draft => answers.clone(),
            Stage::Final if evaluation.is_valid() => evaluation.answers,
            Stage::Final => return Err(Error::Invalid(evaluation.violations)),
        };
        let files = if stage == Stage::Final {
            // Every file the visit names is on this device (ADR 0011).
            super::files::check_visit_files(connection, &form, &kept)?
        } else {
            Vec::new()
        };
        let text = |value: &Answers| {
            serde_json::to_string(value).map_err(|error| Error::Corrupt(error.to_string()))
        };
        Ok(Evaluated {
            answers_json: text(&kept)?,
            computed_json: text(&evaluation.computed)?,
            answers: kept,
            computed: evaluation.computed,
            files,
        })
    }
}

/// A visit's answers judged by its form: what is stored, as values and
/// as JSON, and (finalised) the files the answers name.
struct Evaluated {
    answers: Answers,
    computed: Answers,
    answers_json: String,
    computed_json: String,
    files: Vec<String>,
}

/// Queues the finalised visit `id` for the server; its outbox `seq`.
fn enqueue(transaction: &Transaction<'_>, id: Uuid, now: &str) -> Result<i64> {
    transaction
        .prepare_cached(
            "INSERT INTO outbox (entity, entity_id, created_at) VALUES ('visit', ?1, ?2)",
        )?
        .execute(params![id.to_string(), now])?;
    Ok(transaction.last_insert_rowid())
}

fn own_draft(connection: &Connection, id: Uuid, identity: &DeviceIdentity) -> Result<Visit> {
    let draft = visit(connection, id)?.ok_or(Error::UnknownVisit(id))?;
    if draft.status != VisitStatus::Draft || draft.device_id != identity.device_id {
        return Err(Error::Finalised(id));
    }
    Ok(draft)
}

pub(super) fn check_correctable(
    connection: &Connection,
    corrected: Uuid,
    household: Uuid,
) -> Result<()> {
    match visit(connection, corrected)? {
        Some(original)
            if original.status == VisitStatus::Final && original.household_id == household =>
        {
            Ok(())
        }
        Some(_) => Err(Error::NotCorrectable(corrected)),
        None => Err(Error::UnknownVisit(corrected)),
    }
}

pub(crate) fn visit(connection: &Connection, id: Uuid) -> Result<Option<Visit>> {
    let sql = format!("{SELECT_VISIT} WHERE v.id = ?1");
    Ok(connection
        .prepare_cached(&sql)?
        .query_row([id.to_string()], visit_from_row)
        .optional()?)
}

fn visit_from_row(row: &Row<'_>) -> rusqlite::Result<Visit> {
    let status: String = row.get(6)?;
    let origin: String = row.get(7)?;
    let status = if status == "draft" {
        VisitStatus::Draft
    } else {
        VisitStatus::Final
    };
    let outbox_state: Option<String> = row.get(13)?;
    let sync = match (status, outbox_state.as_deref()) {
        (VisitStatus::Draft, _) => VisitSync::Local,
        (_, Some("pending")) => VisitSync::Pending,
        (_, Some(_)) => VisitSync::Rejected {
            code: row.get::<_, Option<String>>(14)?.unwrap_or_default(),
            reason: row.get::<_, Option<String>>(15)?.unwrap_or_default(),
        },
        (_, None) => VisitSync::Synced,
    };
    Ok(Visit {
        id: uuid_column(row, 0)?,
        household_id: uuid_column(row, 1)?,
        cadre_id: uuid_column(row, 2)?,
        device_id: uuid_column(row, 3)?,
        form_id: row.get(4)?,
        form_version: row.get(5)?,
        status,
        own: origin == "own",
        answers: json_column(row, 8)?,
        computed: json_column(row, 16)?,
        recorded_at: time_column(row, 9)?,
        updated_at: time_column(row, 10)?,
        corrects: optional_uuid_column(row, 11)?,
        received_at: optional_time_column(row, 12)?,
        sync,
    })
}
