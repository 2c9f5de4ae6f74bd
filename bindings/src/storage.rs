//! Bounded storage on the phone (ADR 0011, "Space is given back"): the
//! retention policy the app sets, applying it (the sync engine also does
//! after each successful sync), and what the store takes on disk, for a
//! settings screen.

use std::sync::Arc;

use doorstep_core::store;

use crate::types::{count, long};
use crate::{Doorstep, DoorstepError, Result, off_thread};

/// What the phone keeps; `null`/`nil` everywhere keeps for ever. Never
/// removed whatever the policy: files the server has not confirmed, files
/// a draft names, this device's own visits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, uniffi::Record)]
pub struct RetentionPolicy {
    /// Files the server holds are removed this many days after it
    /// confirmed them (0: at the next retention).
    #[uniffi(default = None)]
    pub synced_files_days: Option<i32>,
    /// … and, oldest confirmed first, while together they take more bytes
    /// than this.
    #[uniffi(default = None)]
    pub synced_files_max_bytes: Option<i64>,
    /// Visits pulled from the server beyond the newest this many of a
    /// household are removed.
    #[uniffi(default = None)]
    pub visits_per_household: Option<i32>,
}

impl From<store::RetentionPolicy> for RetentionPolicy {
    fn from(policy: store::RetentionPolicy) -> Self {
        RetentionPolicy {
            synced_files_days: policy.synced_files_days.map(count),
            synced_files_max_bytes: policy.synced_files_max_bytes.map(long),
            visits_per_household: policy.visits_per_household.map(count),
        }
    }
}

impl TryFrom<RetentionPolicy> for store::RetentionPolicy {
    type Error = DoorstepError;

    fn try_from(policy: RetentionPolicy) -> Result<Self> {
        fn not_negative<T: TryFrom<i64>>(name: &str, value: Option<i64>) -> Result<Option<T>> {
            value
                .map(|value| {
                    T::try_from(value).map_err(|_| DoorstepError::InvalidInput {
                        reason: format!("{name} must be 0 or more, not {value}"),
                    })
                })
                .transpose()
        }
        Ok(store::RetentionPolicy {
            synced_files_days: not_negative(
                "synced_files_days",
                policy.synced_files_days.map(i64::from),
            )?,
            synced_files_max_bytes: not_negative(
                "synced_files_max_bytes",
                policy.synced_files_max_bytes,
            )?,
            visits_per_household: not_negative(
                "visits_per_household",
                policy.visits_per_household.map(i64::from),
            )?,
        })
    }
}

/// What one `applyRetention` removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct RetentionReport {
    pub files_removed: i32,
    /// The sizes of the files removed.
    pub bytes_removed: i64,
    pub visits_removed: i32,
    /// How much smaller the store is on disk afterwards.
    pub bytes_reclaimed: i64,
}

impl From<store::RetentionReport> for RetentionReport {
    fn from(report: store::RetentionReport) -> Self {
        RetentionReport {
            files_removed: count(report.files_removed),
            bytes_removed: long(report.bytes_removed),
            visits_removed: count(report.visits_removed),
            bytes_reclaimed: long(report.bytes_reclaimed),
        }
    }
}

/// What the store takes on disk, and what of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct StorageReport {
    /// The database file and its WAL.
    pub disk_bytes: i64,
    /// Space inside the file that holds nothing (given back at the next
    /// retention).
    pub free_bytes: i64,
    pub files: i32,
    pub file_bytes: i64,
    /// Files the server has not confirmed yet: never removed.
    pub files_pending: i32,
    pub bytes_pending: i64,
    /// Every visit (own, pulled, drafts) and the size of its answers.
    pub visits: i32,
    pub visit_bytes: i64,
    /// Visits pulled from the server (what `visitsPerHousehold` bounds).
    pub pulled_visits: i32,
    pub households: i32,
    pub policy: RetentionPolicy,
}

impl From<store::StorageReport> for StorageReport {
    fn from(report: store::StorageReport) -> Self {
        StorageReport {
            disk_bytes: long(report.disk_bytes),
            free_bytes: long(report.free_bytes),
            files: count(report.files),
            file_bytes: long(report.file_bytes),
            files_pending: count(report.files_pending),
            bytes_pending: long(report.bytes_pending),
            visits: count(report.visits),
            visit_bytes: long(report.visit_bytes),
            pulled_visits: count(report.pulled_visits),
            households: count(report.households),
            policy: report.policy.into(),
        }
    }
}

#[uniffi::export]
impl Doorstep {
    /// What the store takes on disk, by kind, and the policy in force. A
    /// read: never waits for the writer.
    pub fn storage(&self) -> Result<StorageReport> {
        Ok(self.store.storage()?.into())
    }

    /// The retention policy in force.
    pub fn retention(&self) -> Result<RetentionPolicy> {
        Ok(self.store.retention()?.into())
    }

    /// Sets the retention policy (a negative value is `InvalidInput`). It
    /// applies after the next successful sync, or at `applyRetention`.
    pub fn set_retention(&self, policy: RetentionPolicy) -> Result<()> {
        let policy = store::RetentionPolicy::try_from(policy)?;
        Ok(self.store.set_retention(&policy)?)
    }

    /// Removes what the policy lets go now and gives the space back to
    /// the phone. Waits for the writer.
    pub async fn apply_retention(&self) -> Result<RetentionReport> {
        let store = Arc::clone(&self.store);
        off_thread(move || Ok(store.apply_retention()?.into())).await
    }
}
