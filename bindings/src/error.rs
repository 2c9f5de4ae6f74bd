//! The one error the apps see, and the one place core's errors become it.

use doorstep_core::Error;
use doorstep_core::transport::TransportError;

use crate::types::{count, long};

/// What went wrong, in terms an app can act on. No variant carries an
/// answer, a name or an ID-card number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum DoorstepError {
    /// The server could not be reached or the exchange broke: nothing was
    /// lost; sync again later (`retry_after_seconds` when the server said).
    #[error("network: {reason}")]
    Network {
        reason: String,
        retry_after_seconds: Option<i64>,
    },
    /// The server refused this device (revoked, unknown token) or the
    /// enrolment code: a person must act (re-enrol, a new code).
    #[error("not authorised: {reason}")]
    Auth { reason: String },
    /// The answers (or a household correction) break the form's rules:
    /// show each issue at its question.
    #[error("{} answers need attention", issues.len())]
    Validation { issues: Vec<ValidationIssue> },
    /// The household, visit or form is not on this device.
    #[error("not found: {reason}")]
    NotFound { reason: String },
    /// The change contradicts the data: a finalised visit cannot be edited,
    /// a device cannot enrol twice.
    #[error("conflict: {reason}")]
    Conflict { reason: String },
    /// TLS failed: the server's certificate is not trusted
    /// ("certificate not trusted: …") or the address does not speak HTTPS.
    /// Permanent: retrying will not help until a person fixes the
    /// certificate, the CA given at enrolment, or the address.
    #[error("{reason}")]
    Tls { reason: String },
    /// The key does not open the store (wrong, missing, or given for a
    /// plain store); the file was not touched.
    #[error("key: {reason}")]
    Key { reason: String },
    /// A wipe was refused: this much has not reached the server. Sync
    /// first, or wipe with `force` to lose it.
    #[error("{changes} changes and {drafts} drafts have not reached the server")]
    Unsynced { changes: i32, drafts: i32 },
    /// The local database failed or is damaged; it is never deleted.
    #[error("storage: {reason}")]
    Storage { reason: String },
    /// A value the app passed cannot be used (an id that is not one, JSON
    /// that does not parse).
    #[error("invalid input: {reason}")]
    InvalidInput { reason: String },
    /// The sync was cancelled; it resumes where it stopped.
    #[error("cancelled")]
    Cancelled,
    #[error("{reason}")]
    Other { reason: String },
}

/// One problem with one answer.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ValidationIssue {
    /// The question's path, e.g. `members[2]/age`, or the household field.
    pub question: String,
    /// The form's message, in the store's language.
    pub message: String,
}

impl From<Error> for DoorstepError {
    fn from(error: Error) -> Self {
        DoorstepError::from(&error)
    }
}

/// By reference, for an error shared by events (a background run's).
impl From<&Error> for DoorstepError {
    fn from(error: &Error) -> Self {
        let reason = error.to_string();
        match error {
            Error::Transport(transport) => transport.into(),
            Error::Invalid(violations) => DoorstepError::Validation {
                issues: violations
                    .iter()
                    .map(|violation| ValidationIssue {
                        question: violation.question.clone(),
                        message: violation.message.clone(),
                    })
                    .collect(),
            },
            Error::InvalidEdit { field, reason } => DoorstepError::Validation {
                issues: vec![ValidationIssue {
                    question: field.clone().unwrap_or_default(),
                    message: reason.clone(),
                }],
            },
            Error::NotEnrolled => DoorstepError::Auth { reason },
            Error::FileTooLarge { .. } | Error::FileUnreadable { .. } => {
                DoorstepError::InvalidInput { reason }
            }
            Error::UnknownHousehold(_)
            | Error::UnknownFile(_)
            | Error::UnknownVisit(_)
            | Error::UnknownForm { .. }
            | Error::NoForm => DoorstepError::NotFound { reason },
            Error::Finalised(_) | Error::NotCorrectable(_) | Error::AlreadyEnrolled { .. } => {
                DoorstepError::Conflict { reason }
            }
            Error::Key(_) => DoorstepError::Key { reason },
            Error::Unsynced { changes, drafts } => DoorstepError::Unsynced {
                changes: count(*changes),
                drafts: count(*drafts),
            },
            Error::NoStore { .. } => DoorstepError::NotFound { reason },
            Error::Open { .. }
            | Error::Migrate(_)
            | Error::Sqlite(_)
            | Error::Corrupt(_)
            | Error::Wiped
            | Error::Busy(_) => DoorstepError::Storage { reason },
            Error::Cancelled => DoorstepError::Cancelled,
            Error::EnrolQr(_) => DoorstepError::InvalidInput { reason },
            Error::BadForm { .. } | Error::Protocol(_) => DoorstepError::Other { reason },
        }
    }
}

impl From<TransportError> for DoorstepError {
    fn from(error: TransportError) -> Self {
        DoorstepError::from(&error)
    }
}

impl From<&TransportError> for DoorstepError {
    fn from(error: &TransportError) -> Self {
        let reason = error.to_string();
        match error {
            TransportError::Unauthorized(_) => DoorstepError::Auth { reason },
            TransportError::Busy { retry_after } => DoorstepError::Network {
                reason,
                retry_after_seconds: retry_after.map(|wait| long(wait.as_secs())),
            },
            TransportError::Unreachable(_)
            | TransportError::Interrupted(_)
            | TransportError::Server { .. } => DoorstepError::Network {
                reason,
                retry_after_seconds: None,
            },
            TransportError::BadAddress(_) | TransportError::BadCertificate(_) => {
                DoorstepError::InvalidInput { reason }
            }
            TransportError::Tls(_) => DoorstepError::Tls { reason },
            TransportError::Refused { .. } | TransportError::Protocol(_) => {
                DoorstepError::Other { reason }
            }
        }
    }
}

/// An id from the app.
pub(crate) fn parse_id(text: &str) -> Result<uuid::Uuid, DoorstepError> {
    uuid::Uuid::parse_str(text.trim()).map_err(|_| DoorstepError::InvalidInput {
        reason: format!("{text:?} is not an id"),
    })
}

/// Answers from the app, as a JSON object.
pub(crate) fn parse_answers(json: &str) -> Result<doorstep_protocol::Answers, DoorstepError> {
    serde_json::from_str(json).map_err(|error| DoorstepError::InvalidInput {
        reason: format!("answers must be a JSON object: {error}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn core_errors_become_what_an_app_can_act_on() {
        let busy: DoorstepError = Error::Transport(TransportError::Busy {
            retry_after: Some(Duration::from_secs(30)),
        })
        .into();
        assert!(matches!(
            busy,
            DoorstepError::Network {
                retry_after_seconds: Some(30),
                ..
            }
        ));
        let revoked: DoorstepError =
            Error::Transport(TransportError::Unauthorized("revoked".into())).into();
        assert!(matches!(revoked, DoorstepError::Auth { .. }));
        let edit: DoorstepError = Error::InvalidEdit {
            field: Some("phone".into()),
            reason: "phone must be digits".into(),
        }
        .into();
        assert_eq!(
            edit,
            DoorstepError::Validation {
                issues: vec![ValidationIssue {
                    question: "phone".into(),
                    message: "phone must be digits".into()
                }]
            }
        );
        let finalised: DoorstepError = Error::Finalised(uuid::Uuid::nil()).into();
        assert!(matches!(finalised, DoorstepError::Conflict { .. }));
        assert!(matches!(
            parse_id("nope"),
            Err(DoorstepError::InvalidInput { .. })
        ));
        assert!(matches!(
            parse_answers("[1]"),
            Err(DoorstepError::InvalidInput { .. })
        ));
    }
}
