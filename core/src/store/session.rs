//! Form sessions kept by the store: a new visit of a household, a draft
//! taken up again, or a correction of a finalised visit, each driven by
//! the app's screens through [`FormSession`] and saved, finalised or
//! deleted here with the same rules as every other visit.

use std::ops::{Deref, DerefMut};

use doorstep_protocol::Answers;
use uuid::Uuid;

use super::Store;
use super::forms::resolve_form;
use super::visits::{check_correctable, visit};
use crate::error::{Error, Result};
use crate::forms::FormSession;
use crate::forms::session::Stamp;
use crate::model::{NewVisit, Visit, VisitStatus};

/// A visit being filled in: its [`FormSession`] (reached through `Deref`)
/// and where it goes when saved.
#[derive(Debug)]
pub struct VisitSession {
    session: FormSession,
    household_id: Uuid,
    form_version: String,
    /// The draft it is saved in, once saved.
    draft: Option<Uuid>,
    /// The finalised visit it corrects.
    corrects: Option<Uuid>,
}

impl VisitSession {
    pub fn household_id(&self) -> Uuid {
        self.household_id
    }

    pub fn form_id(&self) -> &str {
        &self.session.form().form_id
    }

    /// The version it was opened with; saved and finalised on it.
    pub fn form_version(&self) -> &str {
        &self.form_version
    }

    /// The draft holding it, once saved (or when it was opened from one).
    pub fn draft_id(&self) -> Option<Uuid> {
        self.draft
    }

    pub fn corrects(&self) -> Option<Uuid> {
        self.corrects
    }

    /// Forgets the draft it was saved in (after the draft was deleted):
    /// saved again, it becomes a new draft.
    pub fn forget_draft(&mut self) {
        self.draft = None;
    }
}

impl Deref for VisitSession {
    type Target = FormSession;

    fn deref(&self) -> &FormSession {
        &self.session
    }
}

impl DerefMut for VisitSession {
    fn deref_mut(&mut self) -> &mut FormSession {
        &mut self.session
    }
}

impl Store {
    /// A session for a new visit of `household`, on the newest version of
    /// `form_id` (of the device's newest form when `None`).
    pub fn start_visit(&self, household: Uuid, form_id: Option<&str>) -> Result<VisitSession> {
        let (form_id, version) = self.read(|connection| {
            if super::households::household(connection, household)?.is_none() {
                return Err(Error::UnknownHousehold(household));
            }
            resolve_form(connection, form_id)
        })?;
        self.open_session(household, &form_id, &version, Answers::new(), None, None)
    }

    /// The session of one of this device's drafts, with its answers.
    pub fn resume_draft(&self, draft: Uuid) -> Result<VisitSession> {
        let visit = self.read(|connection| visit(connection, draft))?;
        let visit = visit.ok_or(Error::UnknownVisit(draft))?;
        let own = self
            .identity()?
            .is_some_and(|me| me.device_id == visit.device_id);
        if visit.status != VisitStatus::Draft || !own {
            return Err(Error::Finalised(draft));
        }
        self.open_session(
            visit.household_id,
            &visit.form_id,
            &visit.form_version,
            visit.answers,
            Some(draft),
            visit.corrects,
        )
    }

    /// A session that corrects a finalised visit (this device's or pulled),
    /// starting from its answers, on its form version.
    pub fn start_correction(&self, corrected: Uuid) -> Result<VisitSession> {
        let original = self.read(|connection| {
            let original = visit(connection, corrected)?.ok_or(Error::UnknownVisit(corrected))?;
            check_correctable(connection, corrected, original.household_id)?;
            Ok(original)
        })?;
        self.open_session(
            original.household_id,
            &original.form_id,
            &original.form_version,
            original.answers,
            None,
            Some(corrected),
        )
    }

    /// Saves the session's answers as a draft (creating it the first time),
    /// durably.
    pub fn save_session(&self, session: &mut VisitSession) -> Result<Visit> {
        let answers = session.answers().clone();
        let visit = match session.draft {
            Some(draft) => self.update_draft(draft, &answers)?,
            None => self.record_visit_on(
                NewVisit {
                    household_id: session.household_id,
                    form_id: Some(session.form_id().to_owned()),
                    answers,
                    draft: true,
                    corrects: session.corrects,
                },
                Some(&session.form_version),
            )?,
        };
        session.draft = Some(visit.id);
        Ok(visit)
    }

    /// Finalises the session's visit: `end` stamped, validated as every
    /// visit is (`Error::Invalid` with every violation, nothing saved),
    /// then queued for the server; its draft, if any, becomes the visit.
    pub fn finalise_session(&self, session: &mut VisitSession) -> Result<Visit> {
        session.stamp_end(self.now().fixed_offset());
        match session.draft {
            Some(draft) => self.finalise_draft_with(draft, Some(session.answers())),
            None => self.record_visit_on(
                NewVisit {
                    household_id: session.household_id,
                    form_id: Some(session.form_id().to_owned()),
                    answers: session.answers().clone(),
                    draft: false,
                    corrects: session.corrects,
                },
                Some(&session.form_version),
            ),
        }
    }

    fn open_session(
        &self,
        household: Uuid,
        form_id: &str,
        version: &str,
        answers: Answers,
        draft: Option<Uuid>,
        corrects: Option<Uuid>,
    ) -> Result<VisitSession> {
        let form = self.read(|connection| self.load_form(connection, form_id, version))?;
        let mut session = FormSession::new(
            form,
            answers,
            self.language().map(str::to_owned),
            self.now().date_naive(),
        );
        // Metadata the visit has not got yet (a draft keeps its start).
        let identity = self.identity()?;
        session.stamp_start(&Stamp {
            now: self.now().fixed_offset(),
            device_id: identity.as_ref().map(|me| me.device_id.to_string()),
            username: identity.map(|me| me.cadre_name),
            phone_number: None,
            email: None,
        });
        Ok(VisitSession {
            session,
            household_id: household,
            form_version: version.to_owned(),
            draft,
            corrects,
        })
    }
}
