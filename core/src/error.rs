//! The core's one error type. Messages name ids and question names, never
//! answers, names or ID-card numbers: they end up in logs and on screens.

use uuid::Uuid;

use crate::forms::Violation;
use crate::sqlite::{KeyError, MigrateError};
use crate::transport::TransportError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not open the store at {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    /// The key does not fit the store (wrong, missing, or given for a
    /// plain store). The file was not touched.
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("no device store at {path}: enroll this device first (doorstep device enroll)")]
    NoStore { path: String },
    #[error("this store was wiped; open or enroll a new one")]
    Wiped,
    #[error(
        "{changes} change(s) and {drafts} draft(s) on this device have not reached the server; sync first, or force the wipe to lose them"
    )]
    Unsynced { changes: u64, drafts: u64 },
    #[error("{0}")]
    Busy(String),
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    #[error("storage error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error("this device is not enrolled yet: enroll it with a code from the operator")]
    NotEnrolled,
    #[error(
        "this device is already enrolled (device {device_id}); use a new store file to enroll again"
    )]
    AlreadyEnrolled { device_id: Uuid },
    #[error("household {0} is not on this device (not assigned to this cadre, or not synced yet)")]
    UnknownHousehold(Uuid),
    #[error("household edit refused: {reason}")]
    InvalidEdit {
        /// The field at fault, if one is.
        field: Option<String>,
        reason: String,
    },
    #[error("visit {0} is not on this device")]
    UnknownVisit(Uuid),
    /// A file larger than a file may be (nothing was stored).
    #[error("the file is {size} bytes; a file may be at most {limit} bytes")]
    FileTooLarge { size: u64, limit: u64 },
    /// A file reference that names no file in this store.
    #[error("file {0} is not on this device")]
    UnknownFile(String),
    /// A file that cannot be read from where the app said it is.
    #[error("could not read the file {path}: {reason}")]
    FileUnreadable { path: String, reason: String },
    #[error("visit {0} is finalised: it cannot be changed; record a correction instead")]
    Finalised(Uuid),
    #[error(
        "visit {0} is not this device's own finalised visit, so it cannot be corrected from here"
    )]
    NotCorrectable(Uuid),
    #[error("no form on this device yet: sync to receive the forms")]
    NoForm,
    #[error("form {form_id} is not on this device{}", version.as_ref().map(|v| format!(" at version {v}")).unwrap_or_default())]
    UnknownForm {
        form_id: String,
        version: Option<String>,
    },
    #[error("form {form_id} {version} is damaged: {message}")]
    BadForm {
        form_id: String,
        version: String,
        message: String,
    },
    #[error("{}", describe_violations(.0))]
    Invalid(Vec<Violation>),
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A scanned enrolment QR code that cannot be used.
    #[error(transparent)]
    EnrolQr(#[from] crate::enrol_qr::EnrolQrError),
    #[error("the server answered something this device does not understand: {0}")]
    Protocol(String),
    #[error("sync cancelled; it resumes where it stopped next time")]
    Cancelled,
}

fn describe_violations(violations: &[Violation]) -> String {
    let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
    format!("the answers are not valid: {}", list.join("; "))
}

impl Error {
    /// Whether retrying later may succeed without anybody changing anything
    /// (the network came back, the server restarted).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Transport(error) if error.is_transient())
    }

    /// Whether the server answered before this error (for "last contact"):
    /// every failure but a cancelled run or an exchange that never
    /// completed.
    pub fn reached_server(&self) -> bool {
        match self {
            Error::Transport(error) => error.reached_server(),
            Error::Cancelled => false,
            _ => true,
        }
    }
}
