//! Sync that runs by itself: the app reports what happens (the network came
//! or went, something was recorded, the user asked) and one background
//! thread syncs when the [`Scheduler`] says so.
//!
//! The thread sleeps on a condition variable until the scheduler's next
//! time or the next event; offline or stalled it sleeps until an event.
//! There is no polling. One run at a time; reads of the store go on while a
//! run writes (WAL, separate reader connection).

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use serde::{Serialize, Serializer};

use super::{
    CancelToken, Decision, Scheduler, SyncEngine, SyncOptions, SyncPolicy, SyncProgress,
    SyncReport, run_outcome,
};
use crate::Error;
use crate::clock::Clock;
use crate::store::Store;
use crate::transport::Transport;

/// What the background sync reports to the app (for a status line, a
/// progress bar, a refresh of the lists).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AutoSyncEvent {
    /// A run started.
    Started,
    /// A run made progress.
    Progress(SyncProgress),
    /// A run ended: its report, or why it stopped (the status view has the
    /// same, as text).
    Finished {
        report: Option<SyncReport>,
        error: Option<RunError>,
    },
    /// What the scheduler decided after the run.
    Scheduled(Decision),
}

/// Why a run stopped: core's [`Error`] itself, shared, so that a listener
/// can tell a network failure from a revoked device without reading text
/// (the bindings turn it into their typed error). Serialized as its
/// message; two are equal when they read the same.
#[derive(Debug, Clone)]
pub struct RunError(Arc<Error>);

impl RunError {
    pub fn error(&self) -> &Error {
        &self.0
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(formatter)
    }
}

impl PartialEq for RunError {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.to_string() == other.to_string()
    }
}

impl Serialize for RunError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Receives [`AutoSyncEvent`]s, on the sync thread: keep it short.
pub type AutoSyncListener = Arc<dyn Fn(AutoSyncEvent) + Send + Sync>;

struct State {
    scheduler: Scheduler,
    stop: bool,
    /// Cancels the run in progress, if any.
    current: Option<CancelToken>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    clock: Arc<dyn Clock>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies an event to the scheduler and wakes the thread.
    fn event(&self, apply: impl FnOnce(&mut Scheduler, chrono::DateTime<chrono::Utc>)) {
        let now = self.clock.now();
        apply(&mut self.lock().scheduler, now);
        self.wake.notify_all();
    }
}

/// The background sync of one store. Stops (cancelling a run in progress
/// and waiting for it to wind down) when dropped or on [`AutoSync::stop`].
pub struct AutoSync {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for AutoSync {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("AutoSync").finish_non_exhaustive()
    }
}

impl AutoSync {
    /// Starts the thread, offline: tell it when the network is there.
    /// `seed` spreads the retry jitter (the device id's low bits).
    pub fn start(
        store: Arc<Store>,
        transport: Arc<dyn Transport>,
        policy: SyncPolicy,
        options: SyncOptions,
        seed: u64,
        listener: AutoSyncListener,
    ) -> std::io::Result<AutoSync> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                scheduler: Scheduler::new(policy, seed),
                stop: false,
                current: None,
            }),
            wake: Condvar::new(),
            clock: store.clock(),
        });
        let worker = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("doorstep-sync".into())
                .spawn(move || work(&shared, &store, transport.as_ref(), options, &*listener))?
        };
        Ok(AutoSync {
            shared,
            worker: Some(worker),
        })
    }

    /// The network came (`true`) or went (`false`). Going offline also
    /// cancels a run in progress (it resumes where it stopped).
    pub fn network_changed(&self, online: bool) {
        if !online && let Some(run) = &self.shared.lock().current {
            run.cancel();
        }
        self.shared.event(|scheduler, now| {
            scheduler.network_changed(online, now);
        });
    }

    /// Something was recorded: sync soon (debounced).
    pub fn local_change(&self) {
        self.shared.event(|scheduler, now| {
            scheduler.local_change(now);
        });
    }

    /// The user asked to sync now; also clears a stall once they acted on it.
    pub fn sync_now(&self) {
        self.shared.event(|scheduler, now| {
            scheduler.resume(now);
        });
    }

    /// Cancels the run in progress, if any; the next starts at the next
    /// event or after the idle period.
    pub fn cancel(&self) {
        if let Some(run) = &self.shared.lock().current {
            run.cancel();
        }
    }

    /// What the scheduler would do now.
    pub fn decision(&self) -> Decision {
        let now = self.shared.clock.now();
        self.shared.lock().scheduler.due(now)
    }

    /// Stops the thread and waits for it (for a run in progress, until it
    /// reaches its next step).
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Stops the thread without waiting for it, for a caller that must not
    /// block (an app's main thread): no run begins after this returns; one
    /// in progress (or beginning) is cancelled and winds down on its own,
    /// and may still report its `Finished`.
    pub fn stop_without_waiting(mut self) {
        self.signal_stop();
        // Dropping the handle detaches the thread; it ends by itself.
        self.worker = None;
    }

    fn signal_stop(&self) {
        {
            let mut state = self.shared.lock();
            state.stop = true;
            if let Some(run) = &state.current {
                run.cancel();
            }
        }
        self.shared.wake.notify_all();
    }

    fn shutdown(&mut self) {
        self.signal_stop();
        if let Some(worker) = self.worker.take() {
            // A panic in the thread has already been reported by it.
            let _ = worker.join();
        }
    }
}

impl Drop for AutoSync {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn work(
    shared: &Shared,
    store: &Store,
    transport: &dyn Transport,
    options: SyncOptions,
    listener: &(dyn Fn(AutoSyncEvent) + Send + Sync),
) {
    let mut state = shared.lock();
    loop {
        if state.stop {
            return;
        }
        let now = shared.clock.now();
        match state.scheduler.due(now) {
            Decision::SyncNow => {
                let cancel = CancelToken::new();
                state.current = Some(cancel.clone());
                drop(state);
                listener(AutoSyncEvent::Started);
                let result = SyncEngine::new(store, transport)
                    .with_options(options)
                    .run(&mut |step| listener(AutoSyncEvent::Progress(step)), &cancel);
                let outcome = run_outcome(&result);
                let (report, error) = match result {
                    Ok(report) => (Some(report), None),
                    Err(error) => (None, Some(RunError(Arc::new(error)))),
                };
                listener(AutoSyncEvent::Finished { report, error });
                state = shared.lock();
                state.current = None;
                let decision = state.scheduler.run_finished(outcome, shared.clock.now());
                listener(AutoSyncEvent::Scheduled(decision));
            }
            Decision::SyncAt { at } => {
                let wait = (at - now).to_std().unwrap_or_default();
                state = shared
                    .wake
                    .wait_timeout(state, wait)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            Decision::WaitForNetwork | Decision::Stalled => {
                state = shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }
}
