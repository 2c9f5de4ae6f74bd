//! The form's judgement of pushed visits, made before the push's write
//! transaction and on every core at once: evaluation (about 90 µs a visit
//! for the demo form) is pure, given the published form version (which
//! never changes) and the server's clock, so it needs neither the database
//! nor the writer. The write transaction then only checks what needs the
//! database (the ledger, the scope, the visit id) and writes.
//!
//! A change already in this device's ledger (a replay) is not judged: the
//! ledger answers it. A visit judged here but found a duplicate or out of
//! scope in the transaction simply does not use its judgement; one not
//! judged here (it can only be a race with another push of the same
//! device) is judged inline, so the outcome never depends on this step.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, PoisonError};

use chrono::{DateTime, Utc};
use doorstep_forms::{Form, Options, Rule, Stage};
use doorstep_protocol::limits::{MAX_CHANGE_BYTES, json_size};
use doorstep_protocol::{Answers, Change, Mutation, Outcome, RejectCode, VisitRecord};

use super::db::Tx;
use super::push::rejected;
use super::{DeviceAuth, ServerStore, StoreError, StoreResult};

/// How far ahead of the server's clock a phone's `recorded_at` may be
/// before the visit is flagged (time zones, a slightly fast clock).
const CLOCK_GRACE_HOURS: i64 = 24;

/// Visits judged on one thread at least (below this, threads cost more
/// than they save).
const VISITS_PER_THREAD: usize = 64;

/// What the form makes of a visit.
#[derive(Debug)]
pub(crate) enum Judged {
    /// Refused: unknown form, invalid answers, too large.
    Refused(Outcome),
    Accepted(Box<Accepted>),
}

/// A visit the form accepts, ready to write.
#[derive(Debug)]
pub(crate) struct Accepted {
    /// The answers that apply, and what the form computes from them.
    pub answers: Answers,
    pub computed: Answers,
    pub answers_json: String,
    pub computed_json: String,
    /// The file references its answers name.
    pub files: Vec<String>,
    /// The phone's clock put the visit more than a day ahead of the server.
    pub clock_ahead: bool,
}

/// The judgement of each change of a push that is a visit not yet in the
/// device's ledger (`None` for the others), in the order of `changes`.
pub(crate) fn judge_visits(
    store: &ServerStore,
    auth: DeviceAuth,
    changes: &[Change],
    now: DateTime<Utc>,
) -> StoreResult<Vec<Option<Judged>>> {
    let visits: Vec<(usize, &VisitRecord, i64)> = changes
        .iter()
        .enumerate()
        .filter_map(|(index, change)| match &change.mutation {
            Mutation::Visit(visit)
                if visit.device_id == auth.device_id && visit.cadre_id == auth.cadre_id =>
            {
                i64::try_from(change.seq)
                    .ok()
                    .filter(|seq| *seq > 0)
                    .map(|seq| (index, visit, seq))
            }
            _ => None,
        })
        .collect();
    let mut judged: Vec<Option<Judged>> = changes.iter().map(|_| None).collect();
    if visits.is_empty() {
        return Ok(judged);
    }
    let (low, high) = visits
        .iter()
        .fold((i64::MAX, i64::MIN), |(low, high), (_, _, seq)| {
            (low.min(*seq), high.max(*seq))
        });
    let mut forms: BTreeMap<(String, String), Option<Arc<Form>>> = BTreeMap::new();
    for (_, visit, _) in &visits {
        forms
            .entry((visit.form_id.clone(), visit.form_version.clone()))
            .or_default();
    }
    // The ledger is read here only to skip judging replays (a whole batch
    // comes again after a lost answer): a hint, from a snapshot taken
    // before the write. The write transaction reads it again for the
    // answer that counts (`Batch::prefetch`), since another run of the
    // same device may have stored some of these changes in between; a
    // change judged here for nothing is only work lost, and a change
    // skipped here and found new there is judged there.
    let known: HashSet<i64> = store.read(|tx| {
        for ((form_id, version), form) in &mut forms {
            *form = load_form(store, tx, form_id, version)?;
        }
        tx.query(
            "SELECT seq FROM device_changes WHERE device_id = ?1 AND seq >= ?2 AND seq <= ?3",
            &[&auth.device_id, &low, &high],
            |row| row.get(0),
        )
        .map(|seqs: Vec<i64>| seqs.into_iter().collect())
    })?;
    let work: Vec<(usize, &VisitRecord, Option<&Arc<Form>>)> = visits
        .into_iter()
        .filter(|(_, _, seq)| !known.contains(seq))
        .map(|(index, visit, _)| {
            let form = forms
                .get(&(visit.form_id.clone(), visit.form_version.clone()))
                .and_then(Option::as_ref);
            (index, visit, form)
        })
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(work.len().div_ceil(VISITS_PER_THREAD))
        .max(1);
    let chunk = work.len().div_ceil(threads).max(1);
    let results: Vec<(usize, Judged)> = std::thread::scope(|scope| {
        let handles: Vec<_> = work
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(index, visit, form)| (*index, judge(*form, visit, now)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap_or_default())
            .collect()
    });
    for (index, judgement) in results {
        judged[index] = Some(judgement);
    }
    Ok(judged)
}

/// One visit judged inside a transaction (when [`judge_visits`] did not).
pub(crate) fn judge_one(
    store: &ServerStore,
    tx: &Tx<'_>,
    visit: &VisitRecord,
    now: DateTime<Utc>,
) -> StoreResult<Judged> {
    let form = load_form(store, tx, &visit.form_id, &visit.form_version)?;
    Ok(judge(form.as_ref(), visit, now))
}

/// The form's judgement of a visit: its rules, with `today()` the day the
/// cadre recorded the visit (so the server judges the answers as the
/// device did) but never later than the server's own date (a day's grace
/// for time zones): a phone's clock set ahead cannot make a future date
/// valid. Reasons are in the form's own language, which its cadres read.
fn judge(form: Option<&Arc<Form>>, visit: &VisitRecord, now: DateTime<Utc>) -> Judged {
    let Some(form) = form else {
        return Judged::Refused(rejected(
            RejectCode::UnknownForm,
            &format!(
                "form {} version {} is not published",
                visit.form_id, visit.form_version
            ),
        ));
    };
    let latest = now + chrono::Duration::hours(CLOCK_GRACE_HOURS);
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
        return Judged::Refused(rejected(code, &list.join("; ")));
    }
    // What is stored (the answers that apply and the computed values) must
    // fit one pulled change, or no device could ever receive it.
    if json_size(&evaluation.answers) + json_size(&evaluation.computed) > MAX_CHANGE_BYTES / 2 {
        return Judged::Refused(rejected(
            RejectCode::TooLarge,
            "the answers with what the form computes from them are larger than a visit may be",
        ));
    }
    let (Ok(answers_json), Ok(computed_json)) = (
        serde_json::to_string(&evaluation.answers),
        serde_json::to_string(&evaluation.computed),
    ) else {
        return Judged::Refused(rejected(
            RejectCode::Malformed,
            "the answers cannot be written as JSON",
        ));
    };
    Judged::Accepted(Box::new(Accepted {
        files: form.named_files(&evaluation.answers),
        answers_json,
        computed_json,
        answers: evaluation.answers,
        computed: evaluation.computed,
        clock_ahead: visit.recorded_at > latest,
    }))
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
    let Some(text) = definition else {
        return Ok(None);
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|error| StoreError::Invalid(error.to_string()))?;
    let form = Arc::new(
        Form::from_definition(&value).map_err(|error| StoreError::Invalid(error.to_string()))?,
    );
    store
        .forms
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key, Arc::clone(&form));
    Ok(Some(form))
}
