//! Telling the app what changed, for UI refresh: after every committed
//! write the store calls its observers with the kinds of data the write
//! touched (learnt from SQLite's update hook, so no write can forget to
//! tell). Observers run on the writing thread, after the commit and outside
//! every lock: they may read the store, and should be quick.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use serde::Serialize;

/// Which kinds of data a committed write changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DataChange {
    /// Households (their fields, assignments, search index, areas).
    pub households: bool,
    pub visits: bool,
    pub forms: bool,
    /// The outbox or sync state: what the status view shows.
    pub sync: bool,
    /// Conflicts the server settled.
    pub conflicts: bool,
}

impl DataChange {
    fn from_tables(tables: &BTreeSet<String>) -> DataChange {
        let mut change = DataChange::default();
        for table in tables {
            match table.as_str() {
                "households" | "household_search" | "areas" | "assignments" => {
                    change.households = true;
                }
                "household_edits" => {
                    change.households = true;
                    change.sync = true;
                }
                "visits" => change.visits = true,
                "forms" => change.forms = true,
                "outbox" | "sync_state" | "device" => change.sync = true,
                "conflicts" => change.conflicts = true,
                _ => {}
            }
        }
        change
    }

    pub fn is_empty(&self) -> bool {
        *self == DataChange::default()
    }
}

/// Called with what changed.
pub type Observer = Arc<dyn Fn(DataChange) + Send + Sync>;

#[derive(Default)]
pub(crate) struct Observers {
    next: AtomicU64,
    observers: Mutex<BTreeMap<u64, Observer>>,
    /// Tables the open write transaction touched, filled by the hook.
    pub(crate) touched: Arc<Mutex<BTreeSet<String>>>,
}

impl std::fmt::Debug for Observers {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Observers")
            .field("count", &lock(&self.observers).len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Observers {
    /// What the last transaction touched, forgetting it.
    pub(crate) fn take(&self) -> DataChange {
        let tables = std::mem::take(&mut *lock(&self.touched));
        DataChange::from_tables(&tables)
    }

    /// Calls every observer (outside the observers' lock).
    pub(crate) fn notify(&self, change: DataChange) {
        if change.is_empty() {
            return;
        }
        let observers: Vec<Observer> = lock(&self.observers).values().cloned().collect();
        for observer in observers {
            observer(change);
        }
    }

    pub(crate) fn subscribe(self: &Arc<Self>, observer: Observer) -> Subscription {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        lock(&self.observers).insert(id, observer);
        Subscription {
            observers: Arc::downgrade(self),
            id,
        }
    }
}

/// An observer's registration: dropping it (or [`Subscription::cancel`])
/// stops the calls.
#[derive(Debug)]
pub struct Subscription {
    observers: Weak<Observers>,
    id: u64,
}

impl Subscription {
    pub fn cancel(&self) {
        if let Some(observers) = self.observers.upgrade() {
            lock(&observers.observers).remove(&self.id);
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.cancel();
    }
}
