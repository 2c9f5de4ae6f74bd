//! The device's view of its data: what the store hands to the app and the CLI.

use chrono::{DateTime, Utc};
use doorstep_protocol::{Answers, HouseholdRecord};
use serde::Serialize;
use uuid::Uuid;

/// Who this device is, once enrolled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceIdentity {
    pub device_id: Uuid,
    pub cadre_id: Uuid,
    pub cadre_name: String,
    pub server_url: String,
    pub enrolled_at: DateTime<Utc>,
}

/// A household as the device holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Household {
    #[serde(flatten)]
    pub record: HouseholdRecord,
    /// The village's name, when the device knows it.
    pub village: Option<String>,
    /// Assigned to this device's cadre (false: kept only until this device's
    /// changes about it reach the server).
    pub assigned: bool,
}

/// A village the device holds households of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Village {
    /// The 12-digit administrative code.
    pub code: String,
    pub name: String,
    pub households: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitStatus {
    Draft,
    Final,
}

/// Where a visit stands with the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum VisitSync {
    /// A draft: stays on the device.
    Local,
    /// Queued in the outbox.
    Pending,
    /// The server refused it; it stays here, visible, with the reason.
    Rejected { code: String, reason: String },
    /// The server has it.
    Synced,
}

/// A visit: this device's own, or pulled for one of its households.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Visit {
    pub id: Uuid,
    pub household_id: Uuid,
    pub cadre_id: Uuid,
    pub device_id: Uuid,
    pub form_id: String,
    pub form_version: String,
    pub status: VisitStatus,
    /// Recorded by this device (false: pulled from the server).
    pub own: bool,
    pub answers: Answers,
    /// What the form's calculations gave, shaped like the answers.
    pub computed: Answers,
    pub recorded_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub corrects: Option<Uuid>,
    pub received_at: Option<DateTime<Utc>>,
    pub sync: VisitSync,
}

/// What to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewVisit {
    pub household_id: Uuid,
    /// Form id; `None` takes the device's only (or newest) form.
    pub form_id: Option<String>,
    pub answers: Answers,
    /// Keep it as an editable draft instead of finalising it.
    pub draft: bool,
    /// The finalised visit this one corrects.
    pub corrects: Option<Uuid>,
}

/// A form version held on the device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormSummary {
    pub form_id: String,
    pub version: String,
    pub title: String,
    pub published_at: DateTime<Utc>,
}

/// The status view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub device_id: Option<Uuid>,
    pub cadre_id: Option<Uuid>,
    pub server_url: Option<String>,
    /// Changes not yet acknowledged by the server.
    pub pending: u64,
    /// Changes the server refused; they stay on the device.
    pub rejected: u64,
    pub oldest_pending: Option<DateTime<Utc>>,
    pub drafts: u64,
    pub households: u64,
    pub visits: u64,
    pub forms: u64,
    pub cursor: u64,
    pub last_sync: Option<DateTime<Utc>>,
    pub last_attempt: Option<DateTime<Utc>>,
    /// When the server last answered anything, errors included.
    pub last_contact: Option<DateTime<Utc>>,
    /// The last sync failed in a way time will not fix (a revoked token, an
    /// app too old): a person has to act.
    pub stalled: bool,
    pub last_error: Option<String>,
    /// Files this device's finalised visits name that the server does not
    /// hold yet, and their bytes.
    pub files_pending: u64,
    pub bytes_pending: u64,
}
