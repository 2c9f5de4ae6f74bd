//! Read-outs for the console, the admin API and the metrics that no other
//! module owns: the published form versions with the visits of each in a
//! scope, and how many conflicts one push settled.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{Scope, ServerStore, StoreResult};

/// A published form version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormRow {
    pub form_id: String,
    pub version: String,
    pub title: String,
    pub published_at: String,
    /// Visits of this version to households of the caller's scope.
    pub visits: u64,
}

impl ServerStore {
    /// Every published form version (forms are the whole server's),
    /// newest first, with its visits in `scope`.
    pub fn published_forms(&self, scope: &Scope) -> StoreResult<Vec<FormRow>> {
        self.read(|tx| {
            tx.query(
                &format!(
                    "SELECT f.form_id, f.version, f.title, f.published_at,
                            (SELECT count(*) FROM visits v JOIN households h ON h.id = v.household_id
                             WHERE v.form_id = f.form_id AND v.form_version = f.version AND {})
                     FROM forms f ORDER BY f.published_at DESC, f.id DESC",
                    scope.villages_sql("h.village_code")
                ),
                &[],
                |row| {
                    Ok(FormRow {
                        form_id: row.get(0)?,
                        version: row.get(1)?,
                        title: row.get(2)?,
                        published_at: row.get(3)?,
                        visits: row.get(4)?,
                    })
                },
            )
        })
    }

    /// The same-field conflicts a push of `device` at `at` settled (the
    /// merge stamps them with the push's time and names the device on one
    /// side), for the metrics.
    pub fn conflicts_settled_by(&self, device: Uuid, at: DateTime<Utc>) -> StoreResult<u64> {
        self.read(|tx| {
            tx.value(
                "SELECT count(*) FROM conflicts
                 WHERE decided_at = ?2 AND (kept_by = ?1 OR lost_by = ?1)",
                &[&device, &at],
            )
        })
    }
}
