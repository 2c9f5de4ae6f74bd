//! Devices: enrolment with a one-time code (and its retry after a lost
//! answer), token checks, and a device retiring its own token when it is
//! wiped.
//!
//! The retry rule: the same code with the same attempt id gets the same
//! device back, with a new token, only until that device's first
//! authenticated request of any kind. After it the device evidently has its
//! token, and whoever retries now (someone who saw the code and the attempt
//! id) would take the device over.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use doorstep_core::sqlite::time_text;
use doorstep_protocol::limits::check_short_text;
use doorstep_protocol::{EnrollResponse, PROTOCOL_VERSION};
use uuid::Uuid;

use super::db::Tx;

use super::audit::{self, AuditEvent, AuditKind};
use super::secrets::{expired, new_token, normalise_code, secret_hash};
use super::{DeviceAuth, ServerStore, StoreError, StoreResult};

/// Characters of a device label ("Android 13, Redmi").
const MAX_LABEL_CHARS: usize = 100;

/// How often an authenticated device's `last_seen_at` is written at most:
/// contact is shown to operators by the minute, not per request.
const CONTACT_PRECISION_SECONDS: i64 = 60;

const UNKNOWN_CODE: &str =
    "enrolment code not recognised; check it, or ask the operator for a new one";

/// An enrolment code as stored.
struct CodeRow {
    cadre_id: String,
    used: bool,
    expired: bool,
    /// The attempt that used it.
    attempt: Option<String>,
    /// The device it enrolled.
    device: Option<String>,
}

/// What an enrolment came to, decided inside the transaction so that a
/// refusal is audited too.
enum Enrolment {
    Done(EnrollResponse, AuditKind),
    Refused(String),
}

impl ServerStore {
    /// Trades a one-time code for a device identity and token. `client` is
    /// the requester's address, for the audit log.
    #[tracing::instrument(name = "store", level = "debug", skip_all, fields(attempt = ?attempt))]
    pub fn enroll(
        &self,
        code: &str,
        label: Option<&str>,
        attempt: Option<Uuid>,
        client: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> StoreResult<EnrollResponse> {
        if let Some(label) = label {
            check_short_text(label, MAX_LABEL_CHARS).map_err(|problem| {
                StoreError::Invalid(format!(
                    "device label {problem} (1 to {MAX_LABEL_CHARS} visible characters)"
                ))
            })?;
        }
        let code_hash = secret_hash(&normalise_code(code));
        // A code nobody issued (a guess) is refused from a read: guesses
        // never take the writer, and the HTTP layer audits them at a
        // bounded rate.
        let issued: bool = self.read(|tx| {
            tx.value(
                "SELECT EXISTS (SELECT 1 FROM enroll_codes WHERE code_hash = ?1)",
                &[&code_hash],
            )
        })?;
        if !issued {
            return Err(StoreError::Enroll(UNKNOWN_CODE.into()));
        }
        let token = new_token();
        let outcome = self.write(|tx| {
            let outcome = enroll_in(tx, &code_hash, label, attempt, &token, now)?;
            let event = match &outcome {
                Enrolment::Done(response, kind) => AuditEvent::new(*kind)
                    .device(response.device_id)
                    .cadre(response.cadre_id),
                Enrolment::Refused(why) => {
                    AuditEvent::new(AuditKind::EnrolRefused).detail(why.clone())
                }
            };
            audit::record(tx, now, &event.client(client))?;
            Ok(outcome)
        })?;
        match outcome {
            Enrolment::Done(response, _) => Ok(response),
            Enrolment::Refused(why) => Err(StoreError::Enroll(why)),
        }
    }

    /// The device a bearer token belongs to. Every authenticated request is
    /// contact: the first ends the enrolment-retry window, and operators see
    /// the last (to the minute).
    pub fn authenticate(&self, token: &str, now: DateTime<Utc>) -> StoreResult<DeviceAuth> {
        let hash = secret_hash(token);
        let found = self.read(|tx| {
            tx.query_opt(
                "SELECT id, cadre_id, first_seen_at IS NULL, last_seen_at < ?2
                 FROM devices WHERE token_hash = ?1 AND revoked_at IS NULL",
                &[
                    &hash,
                    &time_text(now - chrono::Duration::seconds(CONTACT_PRECISION_SECONDS)),
                ],
                |row| {
                    Ok((
                        DeviceAuth {
                            device_id: row.get(0)?,
                            cadre_id: row.get(1)?,
                        },
                        row.get::<bool>(2)?,
                        row.get::<Option<bool>>(3)?.unwrap_or(true),
                    ))
                },
            )
        })?;
        let (auth, first, stale) = found.ok_or(StoreError::Unauthorized)?;
        if first || stale {
            self.write(|tx| {
                tx.execute(
                    "UPDATE devices SET last_seen_at = ?2, first_seen_at = coalesce(first_seen_at, ?2)
                     WHERE id = ?1",
                    &[&auth.device_id, &now],
                )?;
                Ok(())
            })?;
        }
        Ok(auth)
    }

    /// What a device said it still has to send (`pending` of a push or a
    /// pull), for the console's device list; it is contact too, so
    /// `last_seen_at` moves in the same transaction. Written only when the
    /// count changed or the last report is older than the contact
    /// precision: a device that syncs often does not take the writer on
    /// every pull.
    pub fn record_pending(
        &self,
        device_id: Uuid,
        pending: u64,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let pending = i64::try_from(pending)
            .map_err(|_| StoreError::Invalid("pending count out of range".into()))?;
        let id = device_id.to_string();
        let stale = time_text(now - chrono::Duration::seconds(CONTACT_PRECISION_SECONDS));
        let current = self.read(|tx| {
            Ok(tx
                .query_opt(
                    "SELECT pending_changes IS NOT DISTINCT FROM ?2 AND pending_reported_at >= ?3
                     FROM devices WHERE id = ?1",
                    &[&id, &pending, &stale],
                    |row| row.get::<Option<bool>>(0),
                )?
                .flatten()
                .unwrap_or(false))
        })?;
        if current {
            return Ok(());
        }
        self.write(|tx| {
            tx.execute(
                "UPDATE devices SET pending_changes = ?2, pending_reported_at = ?3, last_seen_at = ?3,
                                    first_seen_at = coalesce(first_seen_at, ?3)
                 WHERE id = ?1",
                &[&id, &pending, &now],
            )?;
            Ok(())
        })
    }

    /// A device being wiped revokes its own token: a copy of it (in a
    /// backup of the phone) no longer works.
    pub fn retire(
        &self,
        auth: DeviceAuth,
        client: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE devices SET revoked_at = coalesce(revoked_at, ?2),
                                    revoked_reason = coalesce(revoked_reason, 'retired')
                 WHERE id = ?1",
                &[&auth.device_id, &now],
            )?;
            audit::record(
                tx,
                now,
                &AuditEvent::new(AuditKind::DeviceRetired)
                    .device(auth.device_id)
                    .cadre(auth.cadre_id)
                    .client(client),
            )
        })
    }
}

fn enroll_in(
    tx: &Tx<'_>,
    code_hash: &str,
    label: Option<&str>,
    attempt: Option<Uuid>,
    token: &str,
    now: DateTime<Utc>,
) -> StoreResult<Enrolment> {
    let found: Option<CodeRow> = tx.query_opt(
        "SELECT cadre_id, used_at IS NOT NULL, expires_at, attempt, device_id
         FROM enroll_codes WHERE code_hash = ?1",
        &[&code_hash],
        |row| {
            Ok(CodeRow {
                cadre_id: row.get(0)?,
                used: row.get(1)?,
                expired: expired(row, 2, now)?,
                attempt: row.get(3)?,
                device: row.get(4)?,
            })
        },
    )?;
    let attempt_text = attempt.map(|attempt| attempt.to_string());
    let refuse = |why: &str| Ok(Enrolment::Refused(format!("enrolment code {why}")));
    let Some(code) = found else {
        return Ok(Enrolment::Refused(UNKNOWN_CODE.into()));
    };
    if code.used {
        // The same attempt again: its answer was lost on the way.
        return match (&code.attempt, &code.device) {
            (Some(used_by), Some(device)) if attempt_text.as_deref() == Some(used_by.as_str()) => {
                retry(tx, &code.cadre_id, device, token, now)
            }
            _ => refuse("already used; ask the operator for a new one"),
        };
    }
    if code.expired {
        return refuse("expired; ask the operator for a new one");
    }
    let device_id = Uuid::now_v7();
    let now_text = time_text(now);
    tx.execute(
        "INSERT INTO devices (id, cadre_id, token_hash, label, enrolled_at, last_seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        &[
            &device_id,
            &code.cadre_id,
            &secret_hash(token),
            &label,
            &now_text,
        ],
    )?;
    tx.execute(
        "UPDATE enroll_codes SET used_at = ?2, device_id = ?3, attempt = ?4 WHERE code_hash = ?1",
        &[&code_hash, &now_text, &device_id, &attempt_text],
    )?;
    let response = response(tx, &device_id.to_string(), &code.cadre_id, token, now)?;
    Ok(Enrolment::Done(response, AuditKind::Enrolled))
}

/// A retried enrolment whose first answer was lost: the same device with a
/// new token, provided its token was never used and it is not revoked.
/// The old token stops working.
fn retry(
    tx: &Tx<'_>,
    cadre_id: &str,
    device: &str,
    token: &str,
    now: DateTime<Utc>,
) -> StoreResult<Enrolment> {
    let unused: bool = tx.value(
        "SELECT first_seen_at IS NULL AND revoked_at IS NULL FROM devices WHERE id = ?1",
        &[&device],
    )?;
    if !unused {
        return Ok(Enrolment::Refused(
            "enrolment code already used; ask the operator for a new one".into(),
        ));
    }
    tx.execute(
        "UPDATE devices SET token_hash = ?2 WHERE id = ?1",
        &[&device, &secret_hash(token)],
    )?;
    let response = response(tx, device, cadre_id, token, now)?;
    Ok(Enrolment::Done(response, AuditKind::EnrolRetried))
}

fn response(
    tx: &Tx<'_>,
    device: &str,
    cadre_id: &str,
    token: &str,
    now: DateTime<Utc>,
) -> StoreResult<EnrollResponse> {
    let cadre_name: String = tx.value("SELECT name FROM cadres WHERE id = ?1", &[&cadre_id])?;
    let parse =
        |text: &str| Uuid::parse_str(text).map_err(|error| StoreError::Invalid(error.to_string()));
    Ok(EnrollResponse {
        protocol: PROTOCOL_VERSION,
        device_id: parse(device)?,
        token: token.to_string(),
        cadre_id: parse(cadre_id)?,
        cadre_name,
        server_time: now,
    })
}
