//! `doorstep device sync`: one run of the core's sync engine, with progress
//! on stderr and the report on stdout.

use doorstep_core::Store;
use doorstep_core::sync::{CancelToken, SyncEngine, SyncOptions, SyncPhase};
use doorstep_core::transport::{HttpTimeouts, HttpTransport, TransportError};

use crate::output::print_json;

/// A transport to the server this device enrolled with, trusting what was
/// decided at enrolment (its CA, plain HTTP or not).
pub(super) fn transport(store: &Store) -> anyhow::Result<HttpTransport> {
    let endpoint = store.endpoint()?;
    Ok(HttpTransport::connect(&endpoint, HttpTimeouts::default())?)
}

pub(super) fn sync(store: &Store, json: bool, batch: usize) -> anyhow::Result<()> {
    let identity = store.require_identity()?;
    let transport = transport(store)?;
    let engine = SyncEngine::new(store, &transport).with_options(SyncOptions {
        max_batch_changes: batch,
        ..SyncOptions::default()
    });
    let mut progress = |step: doorstep_core::sync::SyncProgress| {
        let bytes = format_bytes(step.bytes);
        let phase = match step.phase {
            SyncPhase::Push => "pushed",
            SyncPhase::Pull => "pulled",
            SyncPhase::Snapshot => "fetched households",
            SyncPhase::Files => {
                if let Some(file) = step.file {
                    eprintln!(
                        "sync: file {}/{}: {}/{} ({bytes})",
                        file.index,
                        file.count,
                        format_bytes(file.sent),
                        format_bytes(file.size)
                    );
                }
                return;
            }
        };
        match step.total {
            Some(total) => eprintln!("sync: {phase} {}/{total} ({bytes})", step.done),
            None => eprintln!("sync: {phase} {} ({bytes})", step.done),
        }
    };
    let report = match engine.run(&mut progress, &CancelToken::new()) {
        Ok(report) => report,
        Err(error) if error.is_transient() => {
            let status = store.status()?;
            let pending = status.pending;
            let files = match status.files_pending {
                0 => String::new(),
                1 => " and 1 file".to_string(),
                count => format!(" and {count} files"),
            };
            let what = match &error {
                doorstep_core::Error::Transport(
                    TransportError::Unreachable(_) | TransportError::Interrupted(_),
                ) => format!("could not reach {}", identity.server_url),
                _ => "sync did not finish".to_string(),
            };
            return Err(anyhow::Error::new(error).context(format!(
                "{what}; {pending} changes{files} stay queued on this device and go with the next sync"
            )));
        }
        Err(error) => return Err(error.into()),
    };
    let status = store.status()?;
    eprintln!(
        "sync done: pushed {} (duplicates {}), rejected {}, pulled {}, households +{} -{}, files {}; {} sent, {} received; {} pending, {} rejected, {} files pending in all",
        report.pushed,
        report.duplicates,
        report.rejected,
        report.pulled,
        report.households_added,
        report.households_released,
        report.files_uploaded,
        format_bytes(report.bytes.sent),
        format_bytes(report.bytes.received),
        status.pending,
        status.rejected,
        status.files_pending
    );
    if json {
        print_json(&serde_json::json!({
            "pushed": report.pushed,
            "duplicates": report.duplicates,
            "rejected": report.rejected,
            "pulled": report.pulled,
            "households_added": report.households_added,
            "households_released": report.households_released,
            "files_uploaded": report.files_uploaded,
            "requests": report.requests,
            "bytes_sent": report.bytes.sent,
            "bytes_received": report.bytes.received,
            "pending": status.pending,
            "rejected_total": status.rejected,
            "files_pending": status.files_pending,
            "bytes_pending": status.bytes_pending,
        }))?;
    }
    Ok(())
}

pub(super) fn format_bytes(bytes: u64) -> String {
    if bytes < 10 * 1024 {
        format!("{bytes} B")
    } else if bytes < 10 * 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}
