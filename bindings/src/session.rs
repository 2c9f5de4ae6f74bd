//! The form session for the apps' screens: `Doorstep.startVisit`,
//! `resumeDraft` or `startCorrection` give a [`FormSession`]; the screen
//! renders its nodes, hands it typed answers and re-renders what each
//! change returns. The core decides relevance, calculations, constraints
//! and required answers; the app never evaluates a form itself.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Utc};
use doorstep_core::forms::session::{self, Answer, ChoiceOption, SessionError};
use doorstep_core::forms::{QuestionKind, Rule, Stage};
use doorstep_core::{Store, VisitSession};

use crate::{Doorstep, DoorstepError, Result, Visit, lock, off_thread};

/// One answer, typed.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum AnswerValue {
    Text {
        value: String,
    },
    Integer {
        value: i64,
    },
    Decimal {
        value: f64,
    },
    /// A calendar date (no time zone): `LocalDate` in Kotlin.
    Date {
        year: i32,
        month: i32,
        day: i32,
    },
    /// A time of day: `LocalTime` in Kotlin.
    Time {
        hour: i32,
        minute: i32,
        second: i32,
    },
    /// A moment (`Instant`) and the device's offset from UTC in minutes
    /// (`OffsetDateTime` in Kotlin: `instant.atOffset(…)`).
    DateTime {
        instant: SystemTime,
        offset_minutes: i32,
    },
    /// One choice, by name.
    Choice {
        name: String,
    },
    /// Choices by name, in the order picked.
    Choices {
        names: Vec<String>,
    },
    /// Degrees; altitude and accuracy in metres.
    Geopoint {
        lat: f64,
        lon: f64,
        altitude: Option<f64>,
        accuracy: Option<f64>,
    },
    /// A reference to a file (a photo): its name or SHA-256.
    Attachment {
        reference: String,
    },
}

/// What a node asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum NodeKind {
    Text,
    Integer,
    Decimal,
    Date,
    SelectOne,
    SelectMultiple,
    Geopoint,
    /// Text to show; no answer.
    Note,
    /// A calculated value, shown read-only (or not at all).
    Calculate,
    Photo,
    /// Questions shown together (a page, a card).
    Group,
    /// Questions asked once per item; its items follow it.
    Repeat,
    /// One item of a repeat (`members[2]`), holding the item's questions.
    RepeatItem,
    /// A time of day.
    Time,
    /// A date and time.
    DateTime,
    /// A number on a scale: `FormNode.range` has its bounds and step.
    Range,
    /// A scanned barcode, as text.
    Barcode,
    /// A recording, a video or a document: an attachment reference.
    Audio,
    Video,
    File,
    /// A question answered by confirming it ("OK").
    Acknowledge,
    /// Choices put in order: `Choices`, first the most important.
    Rank,
    /// Filled in by the core (start, end, device id…): shown read-only,
    /// if at all.
    Metadata,
}

/// The bounds and step of a `Range` question.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct FormRange {
    pub start: f64,
    pub end: f64,
    pub step: f64,
}

/// The rule a violation breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ViolationRule {
    Required,
    /// Not the question's kind of answer.
    Type,
    /// Not one of the question's choices.
    Choice,
    /// The form's constraint (its message says which).
    Constraint,
    TooLong,
    /// An answer for a question the form does not have.
    UnknownQuestion,
}

/// What is wrong with an answer, with the form's message in the store's
/// language. Never holds the answer itself.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FormViolation {
    pub path: String,
    pub rule: ViolationRule,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FormChoice {
    pub name: String,
    pub label: Option<String>,
}

/// One node of the form as a screen renders it. Nodes come in form order
/// (a flat pre-order list: `parent` and `depth` give the tree).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FormNode {
    /// `age`, `members[2]/age`, an item `members[2]`.
    pub path: String,
    pub parent: Option<String>,
    pub depth: i32,
    pub name: String,
    pub kind: NodeKind,
    /// For a repeat item: its number, from 1.
    pub item: Option<i32>,
    pub label: Option<String>,
    pub hint: Option<String>,
    /// XLSForm's `appearance`, passed through (`multiline`, `minimal`…).
    pub appearance: Option<String>,
    pub choices: Vec<FormChoice>,
    /// Whether to show it: a node that does not apply is not asked.
    pub relevant: bool,
    pub required: bool,
    pub read_only: bool,
    /// The answer, or a calculation's value.
    pub value: Option<AnswerValue>,
    /// What is wrong with the answer as it stands (not yet a missing
    /// required answer: see `FormSession.violations`).
    pub violations: Vec<FormViolation>,
    /// For a repeat: its items.
    pub items: i32,
    /// For a `Range`: its bounds and step.
    pub range: Option<FormRange>,
}

/// What a change did: re-render `changed`, insert `added`, drop `removed`.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FormChanges {
    pub changed: Vec<FormNode>,
    pub added: Vec<FormNode>,
    pub removed: Vec<String>,
}

/// A visit being filled in. Reading nodes and setting answers is quick
/// (microseconds) and safe on the main thread; saving, finalising and
/// deleting write the store and are `suspend`/`async`.
#[derive(Debug, uniffi::Object)]
pub struct FormSession {
    doorstep: Arc<Doorstep>,
    inner: Arc<Mutex<VisitSession>>,
}

impl FormSession {
    pub(crate) fn new(doorstep: Arc<Doorstep>, session: VisitSession) -> Arc<FormSession> {
        Arc::new(FormSession {
            doorstep,
            inner: Arc::new(Mutex::new(session)),
        })
    }

    fn store(&self) -> Arc<Store> {
        Arc::clone(&self.doorstep.store)
    }
}

#[uniffi::export]
impl FormSession {
    pub fn household_id(&self) -> String {
        lock(&self.inner).household_id().to_string()
    }

    pub fn form_id(&self) -> String {
        lock(&self.inner).form_id().to_owned()
    }

    pub fn form_version(&self) -> String {
        lock(&self.inner).form_version().to_owned()
    }

    /// The draft holding it, once saved (or when resumed from one).
    pub fn draft_id(&self) -> Option<String> {
        lock(&self.inner).draft_id().map(|id| id.to_string())
    }

    /// Every node, in form order.
    pub fn nodes(&self) -> Vec<FormNode> {
        lock(&self.inner).nodes().into_iter().map(node).collect()
    }

    pub fn node(&self, path: String) -> Option<FormNode> {
        lock(&self.inner).node(&path).map(node)
    }

    /// Sets (or with `None` clears) the answer at `path` and returns the
    /// nodes that changed. A broken constraint is not refused: it shows
    /// in the node's violations. A path that is no question, or an answer
    /// of the wrong kind, is `InvalidInput` and changes nothing.
    #[uniffi::method(default(value = None))]
    pub fn set_answer(&self, path: String, value: Option<AnswerValue>) -> Result<FormChanges> {
        let value = value.map(answer).transpose()?;
        Ok(changes(lock(&self.inner).set_answer(&path, value)?))
    }

    /// Adds an item to the repeat at `path` (`members`); its nodes come back
    /// as added.
    pub fn add_repeat(&self, path: String) -> Result<FormChanges> {
        Ok(changes(lock(&self.inner).add_repeat(&path)?))
    }

    /// Removes the item at `path` (`members[2]`) and its answers.
    pub fn remove_repeat(&self, path: String) -> Result<FormChanges> {
        Ok(changes(lock(&self.inner).remove_repeat(&path)?))
    }

    /// Every violation finalising would meet, missing required answers
    /// included: of the whole form (`None`), or of one group, repeat or
    /// repeat item (a page's "next").
    #[uniffi::method(default(path = None))]
    pub fn violations(&self, path: Option<String>) -> Result<Vec<FormViolation>> {
        let violations = lock(&self.inner).violations(path.as_deref())?;
        Ok(violations.into_iter().map(violation).collect())
    }

    /// The form's calculated values as JSON, shaped like the answers.
    pub fn computed_json(&self) -> String {
        let computed = lock(&self.inner).evaluation(Stage::Draft).computed;
        serde_json::Value::Object(computed).to_string()
    }

    /// Saves the answers as a draft (created the first time), durably.
    pub async fn save_draft(&self) -> Result<Visit> {
        let (store, inner) = (self.store(), Arc::clone(&self.inner));
        off_thread(move || Ok(store.save_session(&mut lock(&inner))?.into())).await
    }

    /// Finalises the visit: validated as every visit is (`Validation` with
    /// every issue, nothing saved), then queued for the server.
    pub async fn finalise(&self) -> Result<Visit> {
        let (store, inner) = (self.store(), Arc::clone(&self.inner));
        let visit: Visit =
            off_thread(move || Ok(store.finalise_session(&mut lock(&inner))?.into())).await?;
        self.doorstep.local_change();
        Ok(visit)
    }

    /// Deletes the draft this session was saved in, if any; the session
    /// can still be saved again as a new draft.
    pub async fn delete_draft(&self) -> Result<()> {
        let (store, inner) = (self.store(), Arc::clone(&self.inner));
        off_thread(move || {
            let mut session = lock(&inner);
            if let Some(draft) = session.draft_id() {
                store.delete_draft(draft)?;
                session.forget_draft();
            }
            Ok(())
        })
        .await
    }
}

fn node(node: session::Node) -> FormNode {
    let kind = match (&node.kind, node.item) {
        (_, Some(_)) => NodeKind::RepeatItem,
        (QuestionKind::Text, _) => NodeKind::Text,
        (QuestionKind::Integer, _) => NodeKind::Integer,
        (QuestionKind::Decimal, _) => NodeKind::Decimal,
        (QuestionKind::Date, _) => NodeKind::Date,
        (QuestionKind::SelectOne { .. }, _) => NodeKind::SelectOne,
        (QuestionKind::SelectMultiple { .. }, _) => NodeKind::SelectMultiple,
        (QuestionKind::Geopoint, _) => NodeKind::Geopoint,
        (QuestionKind::Note, _) => NodeKind::Note,
        (QuestionKind::Calculate, _) => NodeKind::Calculate,
        (QuestionKind::Photo, _) => NodeKind::Photo,
        (QuestionKind::Group, _) => NodeKind::Group,
        (QuestionKind::Repeat, _) => NodeKind::Repeat,
        (QuestionKind::Time, _) => NodeKind::Time,
        (QuestionKind::DateTime, _) => NodeKind::DateTime,
        (QuestionKind::Range { .. }, _) => NodeKind::Range,
        (QuestionKind::Barcode, _) => NodeKind::Barcode,
        (QuestionKind::Audio, _) => NodeKind::Audio,
        (QuestionKind::Video, _) => NodeKind::Video,
        (QuestionKind::File, _) => NodeKind::File,
        (QuestionKind::Acknowledge, _) => NodeKind::Acknowledge,
        (QuestionKind::Rank { .. }, _) => NodeKind::Rank,
        (QuestionKind::Metadata(_), _) => NodeKind::Metadata,
    };
    let range = match node.kind {
        QuestionKind::Range { start, end, step } => Some(FormRange { start, end, step }),
        _ => None,
    };
    FormNode {
        path: node.path,
        parent: node.parent,
        depth: count(node.depth),
        name: node.name,
        kind,
        item: node.item.map(count),
        label: node.label,
        hint: node.hint,
        appearance: node.appearance,
        choices: node
            .choices
            .into_iter()
            .map(|ChoiceOption { name, label }| FormChoice { name, label })
            .collect(),
        relevant: node.relevant,
        required: node.required,
        read_only: node.read_only,
        value: node.value.map(value),
        violations: node.violations.into_iter().map(violation).collect(),
        items: count(node.items),
        range,
    }
}

fn count(value: usize) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn changes(changes: session::Changes) -> FormChanges {
    FormChanges {
        changed: changes.changed.into_iter().map(node).collect(),
        added: changes.added.into_iter().map(node).collect(),
        removed: changes.removed,
    }
}

fn violation(violation: doorstep_core::forms::Violation) -> FormViolation {
    FormViolation {
        path: violation.question,
        rule: match violation.rule {
            Rule::Required => ViolationRule::Required,
            Rule::Type => ViolationRule::Type,
            Rule::Choice => ViolationRule::Choice,
            Rule::Constraint => ViolationRule::Constraint,
            Rule::TooLong => ViolationRule::TooLong,
            Rule::UnknownQuestion => ViolationRule::UnknownQuestion,
        },
        message: violation.message,
    }
}

fn value(answer: Answer) -> AnswerValue {
    use chrono::Datelike;
    match answer {
        Answer::Text(value) => AnswerValue::Text { value },
        Answer::Integer(value) => AnswerValue::Integer { value },
        Answer::Decimal(value) => AnswerValue::Decimal { value },
        Answer::Date(date) => AnswerValue::Date {
            year: date.year(),
            month: count(date.month() as usize),
            day: count(date.day() as usize),
        },
        Answer::Time(time) => {
            use chrono::Timelike;
            AnswerValue::Time {
                hour: count(time.hour() as usize),
                minute: count(time.minute() as usize),
                second: count(time.second() as usize),
            }
        }
        Answer::DateTime(moment) => AnswerValue::DateTime {
            instant: SystemTime::from(moment.with_timezone(&Utc)),
            offset_minutes: moment.offset().local_minus_utc() / 60,
        },
        Answer::Choice(name) => AnswerValue::Choice { name },
        Answer::Choices(names) => AnswerValue::Choices { names },
        Answer::Geopoint {
            lat,
            lon,
            altitude,
            accuracy,
        } => AnswerValue::Geopoint {
            lat,
            lon,
            altitude,
            accuracy,
        },
        Answer::Attachment(reference) => AnswerValue::Attachment { reference },
    }
}

fn answer(value: AnswerValue) -> Result<Answer> {
    Ok(match value {
        AnswerValue::Text { value } => Answer::Text(value),
        AnswerValue::Integer { value } => Answer::Integer(value),
        AnswerValue::Decimal { value } => Answer::Decimal(value),
        AnswerValue::Date { year, month, day } => {
            let date = u32::try_from(month)
                .ok()
                .zip(u32::try_from(day).ok())
                .and_then(|(month, day)| NaiveDate::from_ymd_opt(year, month, day));
            Answer::Date(date.ok_or_else(|| DoorstepError::InvalidInput {
                reason: format!("{year:04}-{month:02}-{day:02} is not a date"),
            })?)
        }
        AnswerValue::Time {
            hour,
            minute,
            second,
        } => {
            let time = [hour, minute, second]
                .map(|part| u32::try_from(part).ok())
                .into_iter()
                .collect::<Option<Vec<u32>>>()
                .and_then(|parts| NaiveTime::from_hms_opt(parts[0], parts[1], parts[2]));
            Answer::Time(time.ok_or_else(|| DoorstepError::InvalidInput {
                reason: format!("{hour:02}:{minute:02}:{second:02} is not a time of day"),
            })?)
        }
        AnswerValue::DateTime {
            instant,
            offset_minutes,
        } => {
            let offset = offset_minutes
                .checked_mul(60)
                .and_then(FixedOffset::east_opt)
                .ok_or_else(|| DoorstepError::InvalidInput {
                    reason: format!("{offset_minutes} minutes is no offset from UTC"),
                })?;
            Answer::DateTime(DateTime::<Utc>::from(instant).with_timezone(&offset))
        }
        AnswerValue::Choice { name } => Answer::Choice(name),
        AnswerValue::Choices { names } => Answer::Choices(names),
        AnswerValue::Geopoint {
            lat,
            lon,
            altitude,
            accuracy,
        } => Answer::Geopoint {
            lat,
            lon,
            altitude,
            accuracy,
        },
        AnswerValue::Attachment { reference } => Answer::Attachment(reference),
    })
}

impl From<SessionError> for DoorstepError {
    fn from(error: SessionError) -> Self {
        DoorstepError::InvalidInput {
            reason: error.to_string(),
        }
    }
}

#[uniffi::export]
impl Doorstep {
    /// A form session for a new visit of a household, on the newest
    /// version of `form_id` (the device's newest form when `None`).
    #[uniffi::method(default(form_id = None))]
    pub fn start_visit(
        self: Arc<Self>,
        household_id: String,
        form_id: Option<String>,
    ) -> Result<Arc<FormSession>> {
        let household = crate::error::parse_id(&household_id)?;
        let session = self.store.start_visit(household, form_id.as_deref())?;
        Ok(FormSession::new(self, session))
    }

    /// The session of one of this device's drafts.
    pub fn resume_draft(self: Arc<Self>, visit_id: String) -> Result<Arc<FormSession>> {
        let session = self
            .store
            .resume_draft(crate::error::parse_id(&visit_id)?)?;
        Ok(FormSession::new(self, session))
    }

    /// A session correcting a finalised visit, starting from its answers.
    pub fn start_correction(self: Arc<Self>, visit_id: String) -> Result<Arc<FormSession>> {
        let session = self
            .store
            .start_correction(crate::error::parse_id(&visit_id)?)?;
        Ok(FormSession::new(self, session))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_answers_cross_and_come_back_unchanged() {
        let moment = DateTime::parse_from_rfc3339("2025-02-03T17:05:09+08:00").expect("a moment");
        let answers = [
            Answer::Date(NaiveDate::from_ymd_opt(2024, 12, 27).expect("a date")),
            Answer::Time(NaiveTime::from_hms_opt(9, 30, 15).expect("a time")),
            Answer::DateTime(moment),
            Answer::Choices(vec!["jobs".into(), "loans".into()]),
            Answer::Geopoint {
                lat: 27.338,
                lon: 103.717,
                altitude: None,
                accuracy: Some(8.5),
            },
        ];
        for original in answers {
            let crossed = answer(value(original.clone())).expect("it converts back");
            assert_eq!(crossed, original);
        }
        if let Answer::DateTime(back) = answer(value(Answer::DateTime(moment))).expect("back") {
            assert_eq!(
                back.offset().local_minus_utc(),
                8 * 3600,
                "the offset is kept"
            );
        }
    }

    #[test]
    fn impossible_dates_times_and_offsets_are_invalid_input() {
        let refused = [
            AnswerValue::Date {
                year: 2025,
                month: 2,
                day: 30,
            },
            AnswerValue::Time {
                hour: 24,
                minute: 0,
                second: 0,
            },
            AnswerValue::Time {
                hour: 9,
                minute: -1,
                second: 0,
            },
            AnswerValue::DateTime {
                instant: SystemTime::UNIX_EPOCH,
                offset_minutes: 60 * 48,
            },
        ];
        for value in refused {
            assert!(
                matches!(
                    answer(value.clone()),
                    Err(DoorstepError::InvalidInput { .. })
                ),
                "{value:?}"
            );
        }
    }
}
