//! What the apps hear from the store: listeners of a sync's progress, of
//! changes of data and of the status view, their subscriptions, and the
//! background sync.

use std::sync::{Arc, Mutex};

use doorstep_core::Store;
use doorstep_core::sync::{AutoSync, AutoSyncEvent, SyncOptions, SyncPolicy};
use doorstep_core::transport::{HttpTimeouts, HttpTransport, Transport};

use crate::{DataChange, Doorstep, DoorstepError, Result, Status, SyncProgress, SyncReport, lock};

/// Progress of one sync run, on the sync's thread: keep it short.
#[uniffi::export(with_foreign)]
pub trait SyncListener: Send + Sync {
    fn on_progress(&self, progress: SyncProgress);
}

/// Told after every committed change of the store's data, on the thread
/// that wrote: refresh the screens that show it.
#[uniffi::export(with_foreign)]
pub trait DataListener: Send + Sync {
    fn on_change(&self, change: DataChange);
}

/// Told the status view each time it changes, on the thread that changed
/// it: keep it short, and do not write to the store from it.
#[uniffi::export(with_foreign)]
pub trait StatusListener: Send + Sync {
    fn on_status(&self, status: Status);
}

/// The background sync's events, on its thread: keep them short.
#[uniffi::export(with_foreign)]
pub trait AutoSyncListener: Send + Sync {
    fn on_started(&self);
    fn on_progress(&self, progress: SyncProgress);
    /// `report` when the run went to the end; `error` when it stopped,
    /// typed as the calls' errors are (`Network`: it retries by itself;
    /// `Auth`, `Tls`: a person must act; `Cancelled`: it was stopped).
    fn on_finished(&self, report: Option<SyncReport>, error: Option<DoorstepError>);
}

/// A [`DataListener`]'s registration. Dropping it (`close()` in Kotlin,
/// releasing it in Swift) or [`Subscription::cancel`] stops the calls.
#[derive(Debug, uniffi::Object)]
pub struct Subscription {
    inner: Mutex<Option<doorstep_core::store::Subscription>>,
}

#[uniffi::export]
impl Subscription {
    pub fn cancel(&self) {
        lock(&self.inner).take();
    }
}

#[uniffi::export]
impl Doorstep {
    /// Calls `listener` after every committed change until the subscription
    /// is dropped or cancelled.
    pub fn subscribe(&self, listener: Arc<dyn DataListener>) -> Arc<Subscription> {
        let subscription = self
            .store
            .subscribe(Arc::new(move |change| listener.on_change(change.into())));
        Arc::new(Subscription {
            inner: Mutex::new(Some(subscription)),
        })
    }

    /// Calls `listener` with the status at once, then each time it changes
    /// (a visit recorded or a draft saved, a sync's step, its end or its
    /// failure), never twice in a row with the same status, until the
    /// subscription is dropped or cancelled. Each call reads the status
    /// anew (a small read); a read that fails is skipped, as the next
    /// change reads again. Kotlin's `statusUpdates()` and Swift's
    /// `statusUpdates()` wrap it as a `Flow` and an `AsyncThrowingStream`.
    pub fn subscribe_status(&self, listener: Arc<dyn StatusListener>) -> Result<Arc<Subscription>> {
        let feed = Arc::new(StatusFeed {
            store: Arc::downgrade(&self.store),
            listener,
            last: Mutex::new(None),
        });
        let subscription = {
            let feed = Arc::clone(&feed);
            self.store.subscribe(Arc::new(move |change| {
                if change.households || change.visits || change.forms || change.sync {
                    let _ = feed.publish();
                }
            }))
        };
        feed.publish()?;
        Ok(Arc::new(Subscription {
            inner: Mutex::new(Some(subscription)),
        }))
    }

    /// Starts syncing by itself: at once when online, shortly after each
    /// visit or correction, with backoff when the server is away, never
    /// while offline (docs/protocol.md, "Connectivity"). Report the network
    /// with [`Doorstep::network_changed`].
    pub fn start_auto_sync(&self, online: bool, listener: Arc<dyn AutoSyncListener>) -> Result<()> {
        let identity = self.store.require_identity()?;
        let transport: Arc<dyn Transport> = Arc::new(HttpTransport::connect(
            &self.store.endpoint()?,
            HttpTimeouts::default(),
        )?);
        let forward = move |event| match event {
            AutoSyncEvent::Started => listener.on_started(),
            AutoSyncEvent::Progress(progress) => listener.on_progress(progress.into()),
            AutoSyncEvent::Finished { report, error } => listener.on_finished(
                report.map(Into::into),
                error.map(|error| DoorstepError::from(error.error())),
            ),
            AutoSyncEvent::Scheduled(_) => {}
        };
        let auto = AutoSync::start(
            Arc::clone(&self.store),
            transport,
            SyncPolicy::default(),
            SyncOptions::default(),
            // Spread the retries of a village's phones.
            identity.device_id.as_u64_pair().1,
            Arc::new(forward),
        )
        .map_err(|error| DoorstepError::Other {
            reason: format!("could not start the sync thread: {error}"),
        })?;
        auto.network_changed(online);
        if let Some(previous) = lock(&self.auto).replace(auto) {
            previous.stop_without_waiting();
        }
        Ok(())
    }

    /// The network came (`true`) or went (`false`).
    pub fn network_changed(&self, online: bool) {
        if let Some(auto) = lock(&self.auto).as_ref() {
            auto.network_changed(online);
        }
    }

    /// The user asked to sync now (also after fixing a stalled sync).
    pub fn sync_now(&self) {
        if let Some(auto) = lock(&self.auto).as_ref() {
            auto.sync_now();
        }
    }

    /// Stops the background sync and returns at once, from any thread (the
    /// main one included): no run begins after it; one in progress is
    /// cancelled and ends by itself at its next step, and may still call
    /// `on_finished` (with `Cancelled`) after this returned.
    pub fn stop_auto_sync(&self) {
        if let Some(auto) = lock(&self.auto).take() {
            auto.stop_without_waiting();
        }
    }
}

/// A [`StatusListener`] and the last status it heard.
struct StatusFeed {
    /// Weak: the store holds this feed among its observers.
    store: std::sync::Weak<Store>,
    listener: Arc<dyn StatusListener>,
    last: Mutex<Option<Status>>,
}

impl StatusFeed {
    /// Reads the status and tells the listener if it changed. Read and
    /// told under one lock, so that concurrent writers cannot deliver an
    /// older status after a newer one.
    fn publish(&self) -> Result<()> {
        let Some(store) = self.store.upgrade() else {
            return Ok(());
        };
        let mut last = lock(&self.last);
        let status = Status::from(store.status()?);
        if last.as_ref() != Some(&status) {
            self.listener.on_status(status.clone());
            *last = Some(status);
        }
        Ok(())
    }
}
