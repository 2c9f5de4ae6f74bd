//! Doorstep for the Android and iOS apps: a thin uniffi layer over
//! `doorstep-core` (proc-macros, no UDL). Everything an app does goes
//! through one [`Doorstep`] object per store file; nothing here decides
//! anything the core does not (a missing capability goes into core first).
//!
//! - What talks to the server or may take long is `async` (Kotlin
//!   `suspend`, Swift `async`): `enroll`, `enrollFromQr`, `sync`, `wipe`,
//!   `rekey`. Each runs on a thread of its own and completes a future,
//!   with no async runtime.
//!   Cancelling the coroutine or task cancels a sync between two steps; it
//!   resumes where it stopped.
//! - The rest blocks its caller briefly and is safe from any thread (the
//!   [`Doorstep`] docs say which calls wait for what).
//! - Listeners are foreign traits: progress of a sync, changes of data (a
//!   [`Subscription`] that stops when dropped or cancelled), and the
//!   background sync's events.
//! - One error type, [`DoorstepError`], converted from core's in one place.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use doorstep_core::enrol_qr::EnrolQr;
use doorstep_core::sqlite::DatabaseKey;
use doorstep_core::sync::{AutoSync, CancelToken, SyncEngine};
use doorstep_core::transport::{Endpoint, HttpTimeouts, HttpTransport, Transport};
use doorstep_core::{NewVisit, Store, StoreOptions};

mod error;
mod files;
mod observe;
mod session;
mod storage;
mod types;

pub use error::{DoorstepError, ValidationIssue};
use error::{parse_answers, parse_id};
pub use observe::{AutoSyncListener, DataListener, StatusListener, Subscription, SyncListener};
pub use session::{
    AnswerValue, FormChanges, FormChoice, FormNode, FormRange, FormSession, FormViolation,
    NodeKind, ViolationRule,
};
pub use storage::{RetentionPolicy, RetentionReport, StorageReport};
pub use types::*;

uniffi::setup_scaffolding!();

type Result<T> = std::result::Result<T, DoorstepError>;

/// One device store: open it once per file and share it; every call is
/// safe from any thread.
///
/// Which calls wait, and for what:
/// - `enroll`, `enrollFromQr`, `sync`, `wipe` (the network) and `rekey`
///   (a copy of the whole store) are `suspend`/`async`.
/// - `open` blocks while it opens the file and brings its schema up to
///   date: call it off the main thread.
/// - Reads (`status`, `households`, `visits`, …) never wait for the writer
///   or a sync (a separate reader connection), only for another read.
/// - Writes (`recordVisit`, `saveDraft`, `updateDraft`, `finalise`,
///   `editHousehold`, `retryRejected`, `changeServer`) wait for the
///   store's one writer, which a running sync takes one page of data at a
///   time and never across a network exchange: brief, but call them from a
///   background dispatcher or task, not the main thread.
/// - `startAutoSync`, `networkChanged`, `syncNow`, `cancelSync` and
///   `stopAutoSync` never wait for a run.
#[derive(Debug, uniffi::Object)]
pub struct Doorstep {
    store: Arc<Store>,
    /// The manual sync in progress, if any.
    running: Mutex<Option<CancelToken>>,
    auto: Mutex<Option<AutoSync>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs blocking work on a thread of its own and completes when it ends.
async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("doorstep-call".into())
        .spawn(move || {
            // The caller may have gone (cancelled): nobody to tell.
            let _ = sender.send(work());
        })
        .map_err(|error| DoorstepError::Other {
            reason: format!("could not start a thread: {error}"),
        })?;
    receiver.await.map_err(|_| DoorstepError::Other {
        reason: "the work stopped unexpectedly".into(),
    })?
}

/// Cancels a sync when the future awaiting it is dropped (the coroutine or
/// task was cancelled) before it finished.
struct CancelOnDrop(Option<CancelToken>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(token) = self.0.take() {
            token.cancel();
        }
    }
}

#[uniffi::export]
impl Doorstep {
    /// Opens (or creates) the store at `path` and brings its schema up to
    /// date. `key`: the store is encrypted with it (created encrypted, and
    /// opened only with the same key); keep 32 random bytes in the Android
    /// Keystore or the iOS Keychain (android/README.md, ios/README.md).
    /// `None`: a plain file. `language` ("zh-CN", "en") is for validation
    /// messages. A file that cannot be opened (a wrong key included) is
    /// left untouched. Blocks while it opens and migrates: call it off the
    /// main thread.
    #[uniffi::constructor(default(key = None, language = None))]
    pub fn open(path: String, key: Option<Vec<u8>>, language: Option<String>) -> Result<Arc<Self>> {
        let key = key
            .map(|bytes| DatabaseKey::derive(&bytes))
            .transpose()
            .map_err(|error| DoorstepError::Key {
                reason: error.to_string(),
            })?;
        let store = Store::open_with(
            path,
            StoreOptions {
                language,
                key,
                ..StoreOptions::default()
            },
        )?;
        Ok(Arc::new(Doorstep {
            store: Arc::new(store),
            running: Mutex::new(None),
            auto: Mutex::new(None),
        }))
    }

    /// Who this device is, or `None` before enrolment.
    pub fn identity(&self) -> Result<Option<DeviceIdentity>> {
        Ok(self.store.identity()?.map(Into::into))
    }

    /// Enrols this store with a one-time code from the operator. Retrying
    /// after a lost answer with the same code gets the same device back.
    /// `server_url` is `https://…` (plain `http://` only to this machine,
    /// unless `allow_insecure_http`, for a test network). `ca_pem`: the
    /// county's CA certificate when its server's certificate is not from a
    /// public CA; trusted beside Mozilla's roots from now on.
    #[uniffi::method(default(device_label = None, ca_pem = None, allow_insecure_http = false))]
    pub async fn enroll(
        &self,
        server_url: String,
        code: String,
        device_label: Option<String>,
        ca_pem: Option<String>,
        allow_insecure_http: bool,
    ) -> Result<DeviceIdentity> {
        let store = Arc::clone(&self.store);
        off_thread(move || {
            let endpoint = Endpoint {
                url: server_url,
                ca_pem,
                allow_insecure_http,
            };
            let transport = HttpTransport::connect(&endpoint, HttpTimeouts::default())?;
            let identity =
                doorstep_core::sync::enroll(&store, &transport, &endpoint, &code, device_label)?;
            Ok(identity.into())
        })
        .await
    }

    /// Enrols this store with a scanned enrolment QR code (its text, as the
    /// scanner gives it): the server address, the one-time code and, when
    /// the county runs its own CA, that CA's fingerprint. The same as
    /// `enroll`; with a fingerprint, the server must present that CA, which
    /// is then trusted from now on as a `ca_pem` would be. A payload that is
    /// not a Doorstep enrolment code, or is damaged, is `InvalidInput`
    /// (nothing is sent); a server that does not present the CA is `Tls`.
    #[uniffi::method(default(device_label = None))]
    pub async fn enroll_from_qr(
        &self,
        payload: String,
        device_label: Option<String>,
    ) -> Result<DeviceIdentity> {
        let qr = EnrolQr::parse(&payload).map_err(doorstep_core::Error::from)?;
        let store = Arc::clone(&self.store);
        off_thread(move || {
            let identity = doorstep_core::sync::enroll_from_qr(
                &store,
                &qr,
                device_label,
                HttpTimeouts::default(),
            )?;
            Ok(identity.into())
        })
        .await
    }

    /// Moves this device to another address of its server (a county moving
    /// to HTTPS), or changes the CA it trusts, keeping its identity, token
    /// and unsynced visits. The address is checked (not contacted) before
    /// it is saved. Waits for the writer.
    #[uniffi::method(default(ca_pem = None, allow_insecure_http = false))]
    pub fn change_server(
        &self,
        server_url: String,
        ca_pem: Option<String>,
        allow_insecure_http: bool,
    ) -> Result<DeviceIdentity> {
        let endpoint = Endpoint {
            url: server_url,
            ca_pem,
            allow_insecure_http,
        };
        HttpTransport::connect(&endpoint, HttpTimeouts::default())?;
        Ok(self.store.set_endpoint(&endpoint)?.into())
    }

    /// Encrypts the store with `new_key`, or changes its key, or (`None`)
    /// decrypts it. Save the new key (as pending, beside the old one)
    /// before calling this, and drop the old one only when it returns: if
    /// the app is killed during it, the store opens with one of the two
    /// (try the old, then the new: a wrong one is `DoorstepError.Key` and
    /// changes nothing).
    /// `async`: it copies the whole store.
    pub async fn rekey(&self, new_key: Option<Vec<u8>>) -> Result<()> {
        let key = new_key
            .map(|bytes| DatabaseKey::derive(&bytes))
            .transpose()
            .map_err(|error| DoorstepError::Key {
                reason: error.to_string(),
            })?;
        let store = Arc::clone(&self.store);
        off_thread(move || Ok(store.rekey(key.as_ref())?)).await
    }

    /// Erases the store for handing the phone to another cadre: refuses
    /// with `Unsynced` while visits or changes have not reached the server
    /// (unless `force`), asks the server to revoke this device's token
    /// (best effort: the report says whether it could), then deletes the
    /// files. Delete the key from the Keystore/Keychain afterwards. This
    /// object is unusable after it.
    #[uniffi::method(default(force = false))]
    pub async fn wipe(&self, force: bool) -> Result<WipeReport> {
        let auto = lock(&self.auto).take();
        let store = Arc::clone(&self.store);
        off_thread(move || {
            // The background sync ends before the files go.
            if let Some(auto) = auto {
                auto.stop();
            }
            let transport = match store.identity()? {
                Some(_) => Some(HttpTransport::connect(
                    &store.endpoint()?,
                    HttpTimeouts::default(),
                )?),
                None => None,
            };
            let report = doorstep_core::sync::wipe(
                &store,
                transport
                    .as_ref()
                    .map(|transport| transport as &dyn Transport),
                force,
            )?;
            Ok(report.into())
        })
        .await
    }

    /// The villages of the households on this device.
    pub fn villages(&self) -> Result<Vec<Village>> {
        Ok(into_all(self.store.villages()?))
    }

    /// Households, of one village (its code) or all, matching `search` (any
    /// part of the head's name, ID-card suffix, phone, address or village).
    #[uniffi::method(default(village = None, search = None))]
    pub fn households(
        &self,
        village: Option<String>,
        search: Option<String>,
    ) -> Result<Vec<Household>> {
        Ok(into_all(
            self.store
                .households_in(village.as_deref(), search.as_deref())?,
        ))
    }

    /// One household with its visits and conflicts.
    pub fn household(&self, id: String) -> Result<HouseholdDetail> {
        let id = parse_id(&id)?;
        let household = self
            .store
            .household(id)?
            .ok_or(doorstep_core::Error::UnknownHousehold(id))?;
        Ok(HouseholdDetail {
            household: household.into(),
            visits: into_all(self.store.visits(Some(id))?),
            conflicts: into_all(self.store.conflicts(Some(id))?),
        })
    }

    /// Corrects fields of an assigned household; merged per field by the
    /// server. Refused values come back as `Validation`. Waits for the
    /// writer.
    pub fn edit_household(&self, id: String, changes: Vec<FieldChange>) -> Result<Household> {
        let id = parse_id(&id)?;
        let changes = changes
            .into_iter()
            .map(|change| {
                let field = doorstep_protocol::HouseholdField::from(change.field);
                let value = match field {
                    doorstep_protocol::HouseholdField::Members => change
                        .value
                        .trim()
                        .parse::<u64>()
                        .map(serde_json::Value::from)
                        .map_err(|_| DoorstepError::Validation {
                            issues: vec![ValidationIssue {
                                question: field.as_str().into(),
                                message: "members must be a whole number from 0 to 99".into(),
                            }],
                        })?,
                    _ => serde_json::Value::from(change.value),
                };
                Ok((field, value))
            })
            .collect::<Result<Vec<_>>>()?;
        let household = self.store.edit_household(id, &changes)?;
        self.local_change();
        Ok(household.into())
    }

    /// Same-field conflicts the server settled for this device's households.
    pub fn conflicts(&self) -> Result<Vec<Conflict>> {
        Ok(into_all(self.store.conflicts(None)?))
    }

    pub fn forms(&self) -> Result<Vec<FormSummary>> {
        Ok(into_all(self.store.forms()?))
    }

    /// A form version's definition as JSON (docs/forms.md), for the app's
    /// form renderer.
    pub fn form_definition(&self, form_id: String, version: String) -> Result<String> {
        Ok(self
            .store
            .form(&form_id, &version)?
            .to_definition()
            .to_string())
    }

    /// Records a finalised visit: validated against its form (issues come
    /// back as `Validation`), durable and queued for the server when it
    /// returns. `form_id` `None` takes the device's only or newest form;
    /// `corrects`: the id of this device's finalised visit it corrects.
    /// Waits for the writer (see [`Doorstep`]).
    #[uniffi::method(default(form_id = None, corrects = None))]
    pub fn record_visit(
        &self,
        household_id: String,
        answers_json: String,
        form_id: Option<String>,
        corrects: Option<String>,
    ) -> Result<Visit> {
        self.record(household_id, form_id, answers_json, corrects, false)
    }

    /// Saves an editable draft (checked only for the answers' types).
    /// Waits for the writer.
    #[uniffi::method(default(form_id = None))]
    pub fn save_draft(
        &self,
        household_id: String,
        answers_json: String,
        form_id: Option<String>,
    ) -> Result<Visit> {
        self.record(household_id, form_id, answers_json, None, true)
    }

    /// Replaces a draft's answers. Waits for the writer.
    pub fn update_draft(&self, visit_id: String, answers_json: String) -> Result<Visit> {
        let answers = parse_answers(&answers_json)?;
        Ok(self
            .store
            .update_draft(parse_id(&visit_id)?, &answers)?
            .into())
    }

    /// Finalises a draft: validates it and queues it for the server. Waits
    /// for the writer.
    pub fn finalise(&self, visit_id: String) -> Result<Visit> {
        let visit = self.store.finalise_draft(parse_id(&visit_id)?)?;
        self.local_change();
        Ok(visit.into())
    }

    /// Visits on this device (own and pulled), of one household or all.
    #[uniffi::method(default(household_id = None))]
    pub fn visits(&self, household_id: Option<String>) -> Result<Vec<Visit>> {
        let household = household_id.as_deref().map(parse_id).transpose()?;
        Ok(into_all(self.store.visits(household)?))
    }

    /// Pushes what is pending, then pulls what is new. Cancelling the
    /// coroutine or task (or [`Doorstep::cancel_sync`]) stops it between
    /// two steps with `Cancelled`; nothing is lost and the next sync
    /// resumes. `listener` hears its progress.
    #[uniffi::method(default(listener = None))]
    pub async fn sync(&self, listener: Option<Arc<dyn SyncListener>>) -> Result<SyncReport> {
        let store = Arc::clone(&self.store);
        store.require_identity()?;
        let cancel = CancelToken::new();
        *lock(&self.running) = Some(cancel.clone());
        let mut guard = CancelOnDrop(Some(cancel.clone()));
        let result = off_thread(move || {
            let transport = HttpTransport::connect(&store.endpoint()?, HttpTimeouts::default())?;
            let report = SyncEngine::new(&store, &transport).run(
                &mut |progress| {
                    if let Some(listener) = &listener {
                        listener.on_progress(progress.into());
                    }
                },
                &cancel,
            )?;
            Ok(report.into())
        })
        .await;
        guard.0 = None;
        lock(&self.running).take();
        result
    }

    /// Cancels the sync in progress, if any.
    pub fn cancel_sync(&self) {
        if let Some(token) = lock(&self.running).as_ref() {
            token.cancel();
        }
    }

    /// Queues again the changes the server rejected (after the cause was
    /// fixed); returns how many. Waits for the writer.
    pub fn retry_rejected(&self) -> Result<i32> {
        let queued = self.store.retry_rejected()?;
        self.local_change();
        Ok(types::count(queued))
    }

    /// Pending, rejected, last sync, last server contact, last error,
    /// stalled.
    pub fn status(&self) -> Result<Status> {
        Ok(self.store.status()?.into())
    }
}

impl Drop for Doorstep {
    /// Released on whichever thread let it go last (Swift's main thread,
    /// Kotlin's cleaner): the background sync is told to stop, not waited
    /// for.
    fn drop(&mut self) {
        let auto = self.auto.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(auto) = auto.take() {
            auto.stop_without_waiting();
        }
    }
}

impl Doorstep {
    fn record(
        &self,
        household_id: String,
        form_id: Option<String>,
        answers_json: String,
        corrects: Option<String>,
        draft: bool,
    ) -> Result<Visit> {
        let visit = self.store.record_visit(NewVisit {
            household_id: parse_id(&household_id)?,
            form_id,
            answers: parse_answers(&answers_json)?,
            draft,
            corrects: corrects.as_deref().map(parse_id).transpose()?,
        })?;
        if !draft {
            self.local_change();
        }
        Ok(visit.into())
    }

    /// Tells the background sync that something waits in the outbox.
    fn local_change(&self) {
        if let Some(auto) = lock(&self.auto).as_ref() {
            auto.local_change();
        }
    }
}

fn into_all<T, U: From<T>>(items: Vec<T>) -> Vec<U> {
    items.into_iter().map(Into::into).collect()
}
