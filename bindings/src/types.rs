//! The records and enums the apps see, each beside its `From` the core
//! type. Ids are strings (UUIDs), times are timestamps (`Instant` in
//! Kotlin, `Date` in Swift), answers are JSON text (the app's form renderer
//! speaks JSON; the shapes are in docs/forms.md).
//!
//! Counts are `i32` (Kotlin `Int`, Swift `Int32`) and byte sizes, versions
//! and ids `i64` (`Long`, `Int64`): uniffi would turn unsigned types into
//! `UInt`/`ULong`, which Kotlin code cannot mix with `Int` and `List.size`.
//! Core's unsigned values are converted here, saturating (a count above
//! `i32::MAX` reads as `i32::MAX`), never panicking.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use doorstep_core::sync::{self, SyncPhase as CoreSyncPhase};
use doorstep_core::{model, store};
use doorstep_protocol as protocol;

fn time(value: DateTime<Utc>) -> SystemTime {
    value.into()
}

/// A count for the apps: `i32`, saturating.
pub(crate) fn count(value: impl TryInto<i32>) -> i32 {
    value.try_into().unwrap_or(i32::MAX)
}

/// A size, version or id for the apps: `i64`, saturating.
pub(crate) fn long(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceIdentity {
    pub device_id: String,
    pub cadre_id: String,
    pub cadre_name: String,
    pub server_url: String,
    pub enrolled_at: SystemTime,
}

impl From<model::DeviceIdentity> for DeviceIdentity {
    fn from(identity: model::DeviceIdentity) -> Self {
        DeviceIdentity {
            device_id: identity.device_id.to_string(),
            cadre_id: identity.cadre_id.to_string(),
            cadre_name: identity.cadre_name,
            server_url: identity.server_url,
            enrolled_at: time(identity.enrolled_at),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Village {
    pub code: String,
    pub name: String,
    pub households: i32,
}

impl From<model::Village> for Village {
    fn from(village: model::Village) -> Self {
        Village {
            code: village.code,
            name: village.name,
            households: count(village.households),
        }
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Household {
    pub id: String,
    pub village_code: String,
    pub village_name: Option<String>,
    pub head_name: String,
    pub id_card_suffix: String,
    /// 村民小组, e.g. "3组".
    pub group: String,
    pub members: i32,
    pub phone: String,
    pub address: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub category: String,
    /// The server version this copy is at.
    pub version: i64,
    /// Assigned to this cadre (false: kept until this device's changes
    /// about it reach the server).
    pub assigned: bool,
}

impl From<model::Household> for Household {
    fn from(household: model::Household) -> Self {
        let record = household.record;
        Household {
            id: record.id.to_string(),
            village_code: record.village_code,
            village_name: household.village,
            head_name: record.head_name,
            id_card_suffix: record.id_card_suffix,
            group: record.group,
            members: count(record.members),
            phone: record.phone,
            address: record.address,
            lat: record.lat,
            lon: record.lon,
            category: record.category,
            version: long(record.version),
            assigned: household.assigned,
        }
    }
}

/// The household fields a cadre may correct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum HouseholdField {
    HeadName,
    Group,
    Members,
    Phone,
    Address,
    Category,
}

impl From<HouseholdField> for protocol::HouseholdField {
    fn from(field: HouseholdField) -> Self {
        match field {
            HouseholdField::HeadName => protocol::HouseholdField::HeadName,
            HouseholdField::Group => protocol::HouseholdField::Group,
            HouseholdField::Members => protocol::HouseholdField::Members,
            HouseholdField::Phone => protocol::HouseholdField::Phone,
            HouseholdField::Address => protocol::HouseholdField::Address,
            HouseholdField::Category => protocol::HouseholdField::Category,
        }
    }
}

impl From<protocol::HouseholdField> for HouseholdField {
    fn from(field: protocol::HouseholdField) -> Self {
        match field {
            protocol::HouseholdField::HeadName => HouseholdField::HeadName,
            protocol::HouseholdField::Group => HouseholdField::Group,
            protocol::HouseholdField::Members => HouseholdField::Members,
            protocol::HouseholdField::Phone => HouseholdField::Phone,
            protocol::HouseholdField::Address => HouseholdField::Address,
            protocol::HouseholdField::Category => HouseholdField::Category,
        }
    }
}

/// One correction: the field and its new value as typed (`members` as
/// digits).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FieldChange {
    pub field: HouseholdField,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Conflict {
    pub id: i64,
    pub household_id: String,
    pub field: HouseholdField,
    /// The value kept and the value that lost, as JSON text.
    pub kept: String,
    pub lost: String,
    pub kept_by_device: Option<String>,
    pub lost_by_device: Option<String>,
    pub decided_at: SystemTime,
}

impl From<protocol::ConflictRecord> for Conflict {
    fn from(conflict: protocol::ConflictRecord) -> Self {
        Conflict {
            id: long(conflict.id),
            household_id: conflict.household_id.to_string(),
            field: conflict.field.into(),
            kept: conflict.kept.to_string(),
            lost: conflict.lost.to_string(),
            kept_by_device: conflict.kept_by.map(|id| id.to_string()),
            lost_by_device: conflict.lost_by.map(|id| id.to_string()),
            decided_at: time(conflict.decided_at),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum VisitStatus {
    Draft,
    Final,
}

/// Where a visit stands with the server.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum VisitSync {
    /// A draft: stays on the device.
    Local,
    Pending,
    /// Refused by the server; kept, with the reason.
    Rejected {
        code: String,
        reason: String,
    },
    Synced,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Visit {
    pub id: String,
    pub household_id: String,
    pub cadre_id: String,
    pub device_id: String,
    pub form_id: String,
    pub form_version: String,
    pub status: VisitStatus,
    /// Recorded on this device (false: pulled from the server).
    pub own: bool,
    /// The answers, as a JSON object.
    pub answers_json: String,
    /// What the form's calculations gave, shaped like the answers.
    pub computed_json: String,
    pub recorded_at: SystemTime,
    pub updated_at: SystemTime,
    pub corrects: Option<String>,
    pub received_at: Option<SystemTime>,
    pub sync: VisitSync,
}

impl From<model::Visit> for Visit {
    fn from(visit: model::Visit) -> Self {
        Visit {
            id: visit.id.to_string(),
            household_id: visit.household_id.to_string(),
            cadre_id: visit.cadre_id.to_string(),
            device_id: visit.device_id.to_string(),
            form_id: visit.form_id,
            form_version: visit.form_version,
            status: match visit.status {
                model::VisitStatus::Draft => VisitStatus::Draft,
                model::VisitStatus::Final => VisitStatus::Final,
            },
            own: visit.own,
            answers_json: serde_json::Value::Object(visit.answers).to_string(),
            computed_json: serde_json::Value::Object(visit.computed).to_string(),
            recorded_at: time(visit.recorded_at),
            updated_at: time(visit.updated_at),
            corrects: visit.corrects.map(|id| id.to_string()),
            received_at: visit.received_at.map(time),
            sync: match visit.sync {
                model::VisitSync::Local => VisitSync::Local,
                model::VisitSync::Pending => VisitSync::Pending,
                model::VisitSync::Rejected { code, reason } => VisitSync::Rejected { code, reason },
                model::VisitSync::Synced => VisitSync::Synced,
            },
        }
    }
}

/// One household with its visit history (each visit's answers hold the
/// member roster as recorded) and the conflicts settled about it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HouseholdDetail {
    pub household: Household,
    pub visits: Vec<Visit>,
    pub conflicts: Vec<Conflict>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FormSummary {
    pub form_id: String,
    pub version: String,
    pub title: String,
    pub published_at: SystemTime,
}

impl From<model::FormSummary> for FormSummary {
    fn from(form: model::FormSummary) -> Self {
        FormSummary {
            form_id: form.form_id,
            version: form.version,
            title: form.title,
            published_at: time(form.published_at),
        }
    }
}

/// The status view.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Status {
    pub device_id: Option<String>,
    pub server_url: Option<String>,
    /// Changes not yet acknowledged by the server.
    pub pending: i32,
    /// Changes the server refused; they stay on the device.
    pub rejected: i32,
    pub oldest_pending: Option<SystemTime>,
    pub drafts: i32,
    pub households: i32,
    pub visits: i32,
    pub forms: i32,
    pub last_sync: Option<SystemTime>,
    pub last_attempt: Option<SystemTime>,
    /// When the server last answered anything, errors included.
    pub last_contact: Option<SystemTime>,
    pub last_error: Option<String>,
    /// The last error needs a person (re-enrol, update the app).
    pub stalled: bool,
    /// Files this device's visits name that the server does not hold yet,
    /// and their bytes.
    pub files_pending: i32,
    pub bytes_pending: i64,
}

impl From<model::Status> for Status {
    fn from(status: model::Status) -> Self {
        Status {
            device_id: status.device_id.map(|id| id.to_string()),
            server_url: status.server_url,
            pending: count(status.pending),
            rejected: count(status.rejected),
            oldest_pending: status.oldest_pending.map(time),
            drafts: count(status.drafts),
            households: count(status.households),
            visits: count(status.visits),
            forms: count(status.forms),
            last_sync: status.last_sync.map(time),
            last_attempt: status.last_attempt.map(time),
            last_contact: status.last_contact.map(time),
            last_error: status.last_error,
            stalled: status.stalled,
            files_pending: count(status.files_pending),
            bytes_pending: long(status.bytes_pending),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SyncPhase {
    Push,
    Pull,
    Snapshot,
    /// Files going up after the visits; `done` and `total` count bytes.
    Files,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct SyncProgress {
    pub phase: SyncPhase,
    /// Items done in this phase (bytes, for files).
    pub done: i64,
    pub total: Option<i64>,
    /// Bytes on the wire so far in this run, both ways.
    pub bytes: i64,
    /// The file going up, in the files phase.
    pub file: Option<FileProgress>,
}

/// Where the upload of one file stands: file `index` (from 1) of `count`
/// in this run, `sent` of its `size` bytes held by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct FileProgress {
    pub index: u32,
    pub count: u32,
    pub sent: i64,
    pub size: i64,
}

impl From<sync::SyncProgress> for SyncProgress {
    fn from(progress: sync::SyncProgress) -> Self {
        SyncProgress {
            phase: match progress.phase {
                CoreSyncPhase::Push => SyncPhase::Push,
                CoreSyncPhase::Pull => SyncPhase::Pull,
                CoreSyncPhase::Snapshot => SyncPhase::Snapshot,
                CoreSyncPhase::Files => SyncPhase::Files,
            },
            done: long(progress.done),
            total: progress.total.map(long),
            bytes: long(progress.bytes),
            file: progress.file.map(|file| FileProgress {
                index: file.index,
                count: file.count,
                sent: long(file.sent),
                size: long(file.size),
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    pub pushed: i32,
    pub duplicates: i32,
    pub rejected: i32,
    pub pulled: i32,
    pub households_added: i32,
    pub households_released: i32,
    /// Files the server now holds whole that it lacked.
    pub files_uploaded: i32,
    pub requests: i32,
    pub bytes_sent: i64,
    pub bytes_received: i64,
}

impl From<sync::SyncReport> for SyncReport {
    fn from(report: sync::SyncReport) -> Self {
        SyncReport {
            pushed: count(report.pushed),
            duplicates: count(report.duplicates),
            rejected: count(report.rejected),
            pulled: count(report.pulled),
            households_added: count(report.households_added),
            households_released: count(report.households_released),
            files_uploaded: count(report.files_uploaded),
            requests: count(report.requests),
            bytes_sent: long(report.bytes.sent),
            bytes_received: long(report.bytes.received),
        }
    }
}

/// Which kinds of data a committed write changed, for refreshing screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct DataChange {
    pub households: bool,
    pub visits: bool,
    pub forms: bool,
    /// The status view (pending, last sync) may have changed.
    pub sync: bool,
    pub conflicts: bool,
}

impl From<store::DataChange> for DataChange {
    fn from(change: store::DataChange) -> Self {
        DataChange {
            households: change.households,
            visits: change.visits,
            forms: change.forms,
            sync: change.sync,
            conflicts: change.conflicts,
        }
    }
}

/// What a wipe did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WipeReport {
    /// The server revoked this device's token.
    pub server_told: bool,
    /// Why the server could not be told (then the operator should revoke
    /// the device).
    pub server_error: Option<String>,
    /// Changes and drafts erased without reaching the server (only when
    /// forced).
    pub lost_changes: i32,
    pub lost_drafts: i32,
}

impl From<sync::WipeReport> for WipeReport {
    fn from(report: sync::WipeReport) -> Self {
        WipeReport {
            server_told: report.server_told,
            server_error: report.server_error,
            lost_changes: count(report.lost.changes),
            lost_drafts: count(report.lost.drafts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_sizes_saturate_instead_of_wrapping() {
        assert_eq!(count(7_u64), 7);
        assert_eq!(count(u64::from(u32::MAX)), i32::MAX);
        assert_eq!(count(u64::MAX), i32::MAX);
        assert_eq!(count(u32::MAX), i32::MAX);
        assert_eq!(long(1 << 40), 1 << 40);
        assert_eq!(long(u64::MAX), i64::MAX);
        let report = SyncReport::from(sync::SyncReport {
            pushed: u64::MAX,
            ..sync::SyncReport::default()
        });
        assert_eq!(report.pushed, i32::MAX);
        assert_eq!(report.pulled, 0);
    }
}
