//! Sync between the device store and the server.
//!
//! One run is: push the outbox in bounded batches until nothing is pending,
//! then pull the server's change log page by page; when the server says the
//! device's scope changed, fetch the new households whole and let go of the
//! old ones; then send the files the pushed visits name ([`files`]): the
//! answers go first, so a short window of signal carries them. A run that
//! ends well applies the store's retention policy. Every step is a short transaction of its own and idempotent: a
//! run killed at any point resumes from where the store says it stands.
//!
//! The engine holds no socket and reads no clock: the [`Transport`] and the
//! store's clock are injected, and the decisions live in [`plan`].

mod auto;
mod device;
mod files;
pub mod merge;
pub mod plan;
pub mod schedule;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use doorstep_protocol::{PROTOCOL_VERSION, PullQuery, PushRequest, SnapshotRequest, scope_digest};
use serde::Serialize;
use uuid::Uuid;

pub use auto::{AutoSync, AutoSyncEvent, AutoSyncListener, RunError};
#[cfg(feature = "http")]
pub use device::enroll_from_qr;
pub use device::{WipeReport, enroll, wipe};
pub use files::{UPLOAD_PIECE_BYTES, fetch_file};
pub use schedule::{Decision, RunOutcome, Scheduler, SyncPolicy};

use crate::error::{Error, Result};
use crate::store::{Store, SyncFailure};
use crate::transport::{Transport, TransportError, WireBytes};

/// Limits of one sync run.
#[derive(Debug, Clone, Copy)]
pub struct SyncOptions {
    /// Changes in one push request at most.
    pub max_batch_changes: usize,
    /// JSON bytes (before compression) in one push request at most, as
    /// the stored answers count them; a single larger change still goes
    /// alone. What a device holds in memory while it pushes grows with
    /// this: the batch's answers parsed, its columns and their
    /// compression come to about ten times its JSON.
    pub max_batch_bytes: usize,
    /// Changes in one pull page at most.
    pub pull_limit: u32,
    /// Households in one snapshot request at most.
    pub snapshot_chunk: usize,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            // Realistic visits (about 1.3 KB of JSON each) come about
            // 1,150 to a push: 10,000 in nine, about 80 KB each on the wire
            // in columns (ADR 0012), and a phone pushing any backlog stays
            // near 35 MB (docs/benchmarks.md). Smaller visits stop at
            // what every server takes.
            max_batch_changes: doorstep_protocol::limits::MAX_PUSH_CHANGES,
            max_batch_bytes: 1536 * 1024,
            pull_limit: 1000,
            snapshot_chunk: 200,
        }
    }
}

/// What a sync run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Changes the server stored now.
    pub pushed: u64,
    /// Changes the server already had (a replay after a lost answer).
    pub duplicates: u64,
    /// Changes the server refused; they stay on the device.
    pub rejected: u64,
    /// Changes applied from the server's log.
    pub pulled: u64,
    /// Households that arrived whole because they were newly assigned.
    pub households_added: u64,
    /// Households this device let go of.
    pub households_released: u64,
    /// Files the server now holds whole that it lacked (or held only in
    /// part) when the run began.
    pub files_uploaded: u64,
    /// Requests made.
    pub requests: u64,
    /// Bytes on the wire, each way (as the transport counts them).
    pub bytes: WireBytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncPhase {
    Push,
    Pull,
    Snapshot,
    /// Files going up; `done` and `total` count their bytes.
    Files,
}

/// Progress of a run, reported after every exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SyncProgress {
    pub phase: SyncPhase,
    /// Items done in this phase (bytes, for files).
    pub done: u64,
    /// Items in this phase, when known.
    pub total: Option<u64>,
    /// Bytes on the wire so far in this run, both ways.
    pub bytes: u64,
    /// The file going up, in the files phase.
    pub file: Option<FileProgress>,
}

/// Where the upload of one file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FileProgress {
    /// Which file of this run (from 1), of how many.
    pub index: u32,
    pub count: u32,
    /// Bytes of it the server holds, of its size.
    pub sent: u64,
    pub size: u64,
}

/// Cancels a sync run between two steps. Cheap to clone; any clone cancels.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        CancelToken::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// How a run's result counts for the [`Scheduler`].
pub fn run_outcome(result: &Result<SyncReport>) -> RunOutcome {
    match result {
        Ok(_) => RunOutcome::Succeeded,
        Err(Error::Cancelled) => RunOutcome::Cancelled,
        Err(Error::Transport(TransportError::Busy { retry_after })) => RunOutcome::Transient {
            retry_after: *retry_after,
        },
        Err(Error::Transport(TransportError::Tls(_))) => RunOutcome::Untrusted,
        Err(error) if error.is_transient() => RunOutcome::Transient { retry_after: None },
        Err(_) => RunOutcome::Permanent,
    }
}

/// What the status view keeps of a failed run, judged by [`run_outcome`].
fn failure_note(result: &Result<SyncReport>) -> Option<SyncFailure> {
    let error = result.as_ref().err()?;
    Some(SyncFailure {
        message: error.to_string(),
        permanent: matches!(
            run_outcome(result),
            RunOutcome::Permanent | RunOutcome::Untrusted
        ),
        reached_server: error.reached_server(),
    })
}

/// Refuses an answer in another protocol version than this build speaks.
pub(crate) fn check_protocol(version: u32) -> Result<()> {
    if version == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(Error::Protocol(format!(
            "the server speaks protocol {version}, this device {PROTOCOL_VERSION}; update the app"
        )))
    }
}

/// Runs sync for one store over one transport.
pub struct SyncEngine<'a> {
    store: &'a Store,
    transport: &'a dyn Transport,
    options: SyncOptions,
}

impl std::fmt::Debug for SyncEngine<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SyncEngine")
            .field("store", &self.store.path())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<'a> SyncEngine<'a> {
    pub fn new(store: &'a Store, transport: &'a dyn Transport) -> Self {
        SyncEngine {
            store,
            transport,
            options: SyncOptions::default(),
        }
    }

    pub fn with_options(mut self, options: SyncOptions) -> Self {
        self.options = options;
        self
    }

    /// Pushes everything pending, then pulls everything new. On failure the
    /// store keeps what was done so far; the error is remembered for the
    /// status view.
    pub fn run(
        &self,
        progress: &mut dyn FnMut(SyncProgress),
        cancel: &CancelToken,
    ) -> Result<SyncReport> {
        self.store.require_identity()?;
        self.store.note_sync_attempt()?;
        let mut report = SyncReport::default();
        let start = self.transport.bytes();
        let mut progress = |mut step: SyncProgress| {
            step.bytes = self.transport.bytes().since(start).total();
            progress(step);
        };
        let result = self
            .push(&mut report, &mut progress, cancel)
            .and_then(|()| self.pull(&mut report, &mut progress, cancel))
            .and_then(|()| self.upload_files(&mut report, &mut progress, cancel))
            // What the server now holds may leave the phone (the app's
            // retention policy; nothing unsynced ever does).
            .and_then(|()| self.store.apply_retention().map(|_| ()));
        report.bytes = self.transport.bytes().since(start);
        let result = result.map(|()| report);
        self.store.note_sync_result(failure_note(&result))?;
        result
    }

    fn push(
        &self,
        report: &mut SyncReport,
        progress: &mut dyn FnMut(SyncProgress),
        cancel: &CancelToken,
    ) -> Result<()> {
        let token = self.store.token()?;
        let total = self.store.status()?.pending;
        let mut done = 0;
        loop {
            cancel.check()?;
            let changes = self
                .store
                .next_push_batch(self.options.max_batch_changes, self.options.max_batch_bytes)?;
            if changes.is_empty() {
                return Ok(());
            }
            // Counted after the batch was read: everything pending that is
            // not in it, a visit recorded meanwhile included.
            let pending = self
                .store
                .pending_count()?
                .saturating_sub(changes.len() as u64);
            let request = PushRequest {
                protocol: PROTOCOL_VERSION,
                changes,
                pending: Some(pending),
            };
            let response = self.transport.push(&token, &request)?;
            report.requests += 1;
            check_protocol(response.protocol)?;
            let changes = request.changes;
            let verdicts =
                plan::match_verdicts(&changes, &response.results).map_err(Error::Protocol)?;
            let tally = self.store.settle_push(&verdicts, response.server_time)?;
            report.pushed += tally.applied;
            report.duplicates += tally.duplicate;
            report.rejected += tally.rejected;
            done += verdicts.len() as u64;
            progress(SyncProgress {
                phase: SyncPhase::Push,
                done,
                total: Some(total.max(done)),
                bytes: 0,
                file: None,
            });
            if verdicts.len() < changes.len() {
                // The server settled only part of the batch: the rest is
                // still pending and goes first in the next batch. Every
                // round settles at least one change (`match_verdicts`
                // refuses an answer that settles none), so this ends.
                tracing::warn!(
                    sent = changes.len(),
                    settled = verdicts.len(),
                    "partial push answer"
                );
            }
        }
    }

    fn pull(
        &self,
        report: &mut SyncReport,
        progress: &mut dyn FnMut(SyncProgress),
        cancel: &CancelToken,
    ) -> Result<()> {
        let token = self.store.token()?;
        let mut done = 0;
        loop {
            cancel.check()?;
            let (cursor, assigned) = self.store.pull_position()?;
            let page = self.transport.pull(
                &token,
                &PullQuery {
                    cursor,
                    scope: Some(scope_digest(&assigned)),
                    limit: Some(self.options.pull_limit),
                    pending: Some(self.store.pending_count()?),
                },
            )?;
            report.requests += 1;
            check_protocol(page.protocol)?;
            let applied = self.store.apply_pull(&page)?;
            report.pulled += applied;
            done += page.changes.len() as u64;
            progress(SyncProgress {
                phase: SyncPhase::Pull,
                done,
                total: None,
                bytes: 0,
                file: None,
            });
            if let Some(scope) = &page.scope {
                self.change_scope(&token, &assigned, scope, report, progress, cancel)?;
            }
            if page.more && page.cursor <= cursor {
                return Err(Error::Protocol(
                    "the server said more changes wait but its cursor did not move".into(),
                ));
            }
            if !page.more {
                // Households kept only for changes that have now reached
                // the server can go.
                report.households_released += self.store.release(&[])?;
                return Ok(());
            }
        }
    }

    fn change_scope(
        &self,
        token: &str,
        assigned: &[Uuid],
        scope: &[Uuid],
        report: &mut SyncReport,
        progress: &mut dyn FnMut(SyncProgress),
        cancel: &CancelToken,
    ) -> Result<()> {
        let plan = plan::plan_scope(assigned, scope);
        let total = plan.fetch.len() as u64;
        let mut done = 0;
        for chunk in plan.fetch.chunks(self.options.snapshot_chunk.max(1)) {
            // A chunk's snapshot comes in pages bounded in bytes; its
            // households become this device's with the last one.
            let mut after = None;
            let mut refused = Vec::new();
            loop {
                cancel.check()?;
                let snapshot = self.transport.snapshot(
                    token,
                    &SnapshotRequest {
                        protocol: PROTOCOL_VERSION,
                        households: chunk.to_vec(),
                        after,
                    },
                )?;
                report.requests += 1;
                check_protocol(snapshot.protocol)?;
                refused.extend_from_slice(&snapshot.refused);
                let whole: Option<Vec<Uuid>> = snapshot.resume.is_none().then(|| {
                    chunk
                        .iter()
                        .filter(|id| !refused.contains(id))
                        .copied()
                        .collect()
                });
                report.households_added +=
                    self.store.apply_snapshot(&snapshot, whole.as_deref())?;
                match snapshot.resume {
                    Some(resume) if Some(resume) == after => {
                        return Err(Error::Protocol(
                            "the server's snapshot did not move past where it stopped".into(),
                        ));
                    }
                    Some(resume) => after = Some(resume),
                    None => break,
                }
            }
            done += chunk.len() as u64;
            progress(SyncProgress {
                phase: SyncPhase::Snapshot,
                done,
                total: Some(total),
                bytes: 0,
                file: None,
            });
        }
        report.households_released += self.store.release(&plan.release)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn run_results_map_to_scheduling_outcomes() {
        let busy = Err(Error::Transport(TransportError::Busy {
            retry_after: Some(Duration::from_secs(60)),
        }));
        assert_eq!(
            run_outcome(&busy),
            RunOutcome::Transient {
                retry_after: Some(Duration::from_secs(60))
            }
        );
        let down = Err(Error::Transport(TransportError::Unreachable(
            "refused".into(),
        )));
        assert_eq!(
            run_outcome(&down),
            RunOutcome::Transient { retry_after: None }
        );
        let refused = Err(Error::Transport(TransportError::Unauthorized(
            "revoked".into(),
        )));
        assert_eq!(run_outcome(&refused), RunOutcome::Permanent);
        assert_eq!(run_outcome(&Err(Error::Cancelled)), RunOutcome::Cancelled);
        assert_eq!(
            run_outcome(&Ok(SyncReport::default())),
            RunOutcome::Succeeded
        );
    }
}

#[cfg(test)]
mod files_tests;
