//! How the device's records are shown as lines of text.

use doorstep_core::{Visit, VisitSync};
use doorstep_protocol::ConflictRecord;

pub(super) fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// One conflict, one line: when, household, field, kept value, lost value.
pub fn conflict_line(conflict: &ConflictRecord) -> String {
    format!(
        "{}\t{}\t{}\tkept {}\tlost {}\tby {}",
        conflict.decided_at.to_rfc3339(),
        conflict.household_id,
        conflict.field,
        plain(&conflict.kept),
        plain(&conflict.lost),
        conflict
            .lost_by
            .map_or("the server".to_string(), |device| format!(
                "device {device}"
            ))
    )
}

pub(super) fn visit_line(visit: &Visit) -> String {
    let state = match &visit.sync {
        VisitSync::Local => "draft".to_string(),
        VisitSync::Pending => "pending".to_string(),
        VisitSync::Synced => "synced".to_string(),
        VisitSync::Rejected { reason, .. } => format!("rejected: {reason}"),
    };
    format!(
        "{}\t{}\t{}\t{}@{}\t{}\t{}",
        visit.id,
        visit.household_id,
        visit.recorded_at.to_rfc3339(),
        visit.form_id,
        visit.form_version,
        if visit.own { "own" } else { "pulled" },
        state
    )
}
