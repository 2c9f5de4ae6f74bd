//! The audit log: who did what to the server's data and its devices, for
//! the county's security officer. Enrolments and retries, revocations,
//! operators' actions, refused pushes, throttled clients. Entries carry
//! ids, codes and reasons, never answers, names or ID-card numbers.
//!
//! Events inside a store transaction are written in it (they commit or
//! roll back with what they record); events of the HTTP layer (a throttled
//! client) go through [`ServerStore::note`].

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::db::Tx;
use super::{ServerStore, StoreError, StoreResult};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    Enrolled,
    /// An enrolment retried after a lost answer: the same device, a new token.
    EnrolRetried,
    EnrolRefused,
    DeviceRevoked,
    /// A device revoked its own token because it was wiped.
    DeviceRetired,
    /// One change of a push refused (the code and reason in `detail`).
    ChangeRefused,
    /// A stored change too large to serve, skipped in a pull.
    ChangeSkipped,
    ClientThrottled,
    HouseholdsImported,
    CadreAdded,
    Assigned,
    Unassigned,
    FormPublished,
    EnrolCodeIssued,
    /// A console account created (`doorstep admin add-user`).
    UserAdded,
    SignedIn,
    SignInRefused,
    PasswordChanged,
    /// A supervisor kept or restored a value of a same-field conflict.
    ConflictResolved,
    ApiTokenIssued,
    ApiTokenRevoked,
    /// Visits downloaded from the console or the admin API (the query in
    /// `detail`, never the rows).
    VisitsExported,
}

impl AuditKind {
    pub const ALL: [AuditKind; 22] = [
        AuditKind::Enrolled,
        AuditKind::EnrolRetried,
        AuditKind::EnrolRefused,
        AuditKind::DeviceRevoked,
        AuditKind::DeviceRetired,
        AuditKind::ChangeRefused,
        AuditKind::ChangeSkipped,
        AuditKind::ClientThrottled,
        AuditKind::HouseholdsImported,
        AuditKind::CadreAdded,
        AuditKind::Assigned,
        AuditKind::Unassigned,
        AuditKind::FormPublished,
        AuditKind::EnrolCodeIssued,
        AuditKind::UserAdded,
        AuditKind::SignedIn,
        AuditKind::SignInRefused,
        AuditKind::PasswordChanged,
        AuditKind::ConflictResolved,
        AuditKind::ApiTokenIssued,
        AuditKind::ApiTokenRevoked,
        AuditKind::VisitsExported,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Enrolled => "enrolled",
            AuditKind::EnrolRetried => "enrol_retried",
            AuditKind::EnrolRefused => "enrol_refused",
            AuditKind::DeviceRevoked => "device_revoked",
            AuditKind::DeviceRetired => "device_retired",
            AuditKind::ChangeRefused => "change_refused",
            AuditKind::ChangeSkipped => "change_skipped",
            AuditKind::ClientThrottled => "client_throttled",
            AuditKind::HouseholdsImported => "households_imported",
            AuditKind::CadreAdded => "cadre_added",
            AuditKind::Assigned => "assigned",
            AuditKind::Unassigned => "unassigned",
            AuditKind::FormPublished => "form_published",
            AuditKind::EnrolCodeIssued => "enrol_code_issued",
            AuditKind::UserAdded => "user_added",
            AuditKind::SignedIn => "signed_in",
            AuditKind::SignInRefused => "sign_in_refused",
            AuditKind::PasswordChanged => "password_changed",
            AuditKind::ConflictResolved => "conflict_resolved",
            AuditKind::ApiTokenIssued => "api_token_issued",
            AuditKind::ApiTokenRevoked => "api_token_revoked",
            AuditKind::VisitsExported => "visits_exported",
        }
    }

    pub fn parse(text: &str) -> Option<AuditKind> {
        AuditKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// One event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub kind: AuditKind,
    pub device: Option<Uuid>,
    pub cadre: Option<Uuid>,
    pub client: Option<IpAddr>,
    pub subject: Option<String>,
    pub detail: Option<String>,
    /// The console account (or its API token) that acted.
    pub user: Option<Uuid>,
}

impl AuditEvent {
    pub fn new(kind: AuditKind) -> AuditEvent {
        AuditEvent {
            kind,
            device: None,
            cadre: None,
            client: None,
            subject: None,
            detail: None,
            user: None,
        }
    }

    pub fn user(mut self, user: Uuid) -> Self {
        self.user = Some(user);
        self
    }

    pub fn device(mut self, device: Uuid) -> Self {
        self.device = Some(device);
        self
    }

    pub fn cadre(mut self, cadre: Uuid) -> Self {
        self.cadre = Some(cadre);
        self
    }

    pub fn client(mut self, client: Option<IpAddr>) -> Self {
        self.client = client;
        self
    }

    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// One recorded entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: u64,
    pub at: String,
    pub kind: String,
    pub device_id: Option<Uuid>,
    pub cadre_id: Option<Uuid>,
    pub client: Option<String>,
    pub subject: Option<String>,
    pub detail: Option<String>,
    pub user_id: Option<Uuid>,
}

/// Records `event` in `tx`.
pub(crate) fn record(tx: &Tx<'_>, at: DateTime<Utc>, event: &AuditEvent) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO audit (at, kind, device_id, cadre_id, client, subject, detail, user_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        &[
            &at,
            &event.kind.as_str(),
            &event.device,
            &event.cadre,
            &event.client.map(|address| address.to_string()),
            &event.subject,
            &event.detail,
            &event.user,
        ],
    )?;
    Ok(())
}

impl ServerStore {
    /// Records an event of the HTTP layer in a transaction of its own.
    pub fn note(&self, at: DateTime<Utc>, event: &AuditEvent) -> StoreResult<()> {
        self.write(|tx| record(tx, at, event))
    }

    /// The newest `limit` entries, newest first; of one kind, or all.
    pub fn audit(&self, limit: usize, kind: Option<AuditKind>) -> StoreResult<Vec<AuditEntry>> {
        let limit =
            i64::try_from(limit).map_err(|_| StoreError::Invalid("limit too large".into()))?;
        self.read(|tx| {
            tx.query(
                "SELECT id, at, kind, device_id, cadre_id, client, subject, detail, user_id FROM audit
                 WHERE CAST(?1 AS TEXT) IS NULL OR kind = ?1 ORDER BY id DESC LIMIT ?2",
                &[&kind.map(AuditKind::as_str), &limit],
                |row| {
                    Ok(AuditEntry {
                        id: row.get(0)?,
                        at: row.get(1)?,
                        kind: row.get(2)?,
                        device_id: row.get(3)?,
                        cadre_id: row.get(4)?,
                        client: row.get(5)?,
                        subject: row.get(6)?,
                        detail: row.get(7)?,
                        user_id: row.get(8)?,
                    })
                },
            )
        })
    }
}
