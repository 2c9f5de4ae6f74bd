//! Sync that runs by itself: the app reports the network and local changes,
//! the core decides when to sync, backs off when the server is away, and
//! never runs while offline.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use doorstep_core::Error;
use doorstep_core::sync::{AutoSync, AutoSyncEvent, Decision, RunError, SyncOptions, SyncPolicy};
use doorstep_core::transport::{HttpTransport, Transport, TransportError};
use doorstep_e2e::{VILLAGE_A, World, record};
use doorstep_protocol::{
    EnrollRequest, EnrollResponse, PullQuery, PullResponse, PushRequest, PushResponse,
    SnapshotRequest, SnapshotResponse,
};

/// Long enough for any sync on a loaded CI machine; the test only waits
/// this long when something is wrong.
const PATIENCE: Duration = Duration::from_secs(60);

fn policy() -> SyncPolicy {
    SyncPolicy {
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_secs(2),
        jitter: 0.0,
        debounce: Duration::from_millis(20),
        idle: Duration::from_secs(3600),
    }
}

/// The next run's end: its report's pushed count, or its error.
fn next_finish(events: &Receiver<AutoSyncEvent>) -> Result<u64, RunError> {
    loop {
        match events.recv_timeout(PATIENCE).expect("a sync ran") {
            AutoSyncEvent::Finished { report, error } => {
                return match (report, error) {
                    (Some(report), _) => Ok(report.pushed),
                    (None, Some(error)) => Err(error),
                    (None, None) => panic!("a run ended with neither a report nor an error"),
                };
            }
            _ => continue,
        }
    }
}

fn next_decision(events: &Receiver<AutoSyncEvent>) -> Decision {
    loop {
        if let AutoSyncEvent::Scheduled(decision) =
            events.recv_timeout(PATIENCE).expect("a decision")
        {
            return decision;
        }
    }
}

#[test]
fn the_core_syncs_when_the_network_comes_and_after_local_changes_and_backs_off_when_the_server_is_away()
 {
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let device = Arc::new(world.device(cadre));
    let transport: Arc<dyn Transport> =
        Arc::new(HttpTransport::new(&world.url()).expect("transport"));
    let (sender, events) = channel();
    let sender = std::sync::Mutex::new(sender);
    let auto = AutoSync::start(
        Arc::clone(&device),
        transport,
        policy(),
        SyncOptions::default(),
        7,
        Arc::new(move |event| {
            let _ = sender.lock().expect("sender").send(event);
        }),
    )
    .expect("sync thread");

    // Offline at start: nothing runs, even with a change waiting.
    assert_eq!(auto.decision(), Decision::WaitForNetwork);
    auto.local_change();
    assert!(
        events.recv_timeout(Duration::from_millis(300)).is_err(),
        "no sync while offline"
    );

    // The network comes: it syncs at once and gets the village.
    auto.network_changed(true);
    assert_eq!(next_finish(&events), Ok(0));
    assert_eq!(device.households(None).expect("households").len(), 3);
    assert!(matches!(next_decision(&events), Decision::SyncAt { .. }));

    // Recording while online: one sync shortly after, pushing the visits.
    record(&device, world.village_a[0]);
    record(&device, world.village_a[1]);
    auto.local_change();
    assert_eq!(next_finish(&events), Ok(2));
    assert_eq!(world.server_visit_ids().len(), 2);

    // The server goes away: the run fails, with core's error itself (not
    // only its text), and the next waits (backoff).
    world.stop_server();
    record(&device, world.village_a[2]);
    auto.local_change();
    let failure = next_finish(&events).expect_err("the server is away");
    assert!(
        matches!(
            failure.error(),
            Error::Transport(TransportError::Unreachable(_))
        ),
        "{failure:?}"
    );
    assert_eq!(
        serde_json::to_value(AutoSyncEvent::Finished {
            report: None,
            error: Some(failure.clone()),
        })
        .expect("json")["error"],
        failure.to_string(),
        "serialized as its message"
    );
    let Decision::SyncAt { .. } = next_decision(&events) else {
        panic!("a transient failure schedules a retry");
    };
    // It retries by itself and, once the server is back, delivers.
    world.restart_server();
    loop {
        if next_finish(&events) == Ok(1) {
            break;
        }
    }
    assert_eq!(world.server_visit_ids().len(), 3);
    assert_eq!(device.status().expect("status").pending, 0);

    // Offline again: a change waits for the network.
    auto.network_changed(false);
    record(&device, world.village_a[0]);
    auto.local_change();
    assert_eq!(auto.decision(), Decision::WaitForNetwork);
    auto.sync_now();
    assert_eq!(
        auto.decision(),
        Decision::WaitForNetwork,
        "asking does not make a network"
    );
    auto.network_changed(true);
    assert_eq!(next_finish(&events), Ok(1));
    auto.stop();
}

/// A transport whose pushes wait at a gate while it is closed.
struct Gated {
    inner: HttpTransport,
    entered: Mutex<Sender<()>>,
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gated {
    fn open(&self) {
        *self.open.lock().expect("gate") = true;
        self.opened.notify_all();
    }
}

impl Transport for Gated {
    fn enroll(&self, request: &EnrollRequest) -> Result<EnrollResponse, TransportError> {
        self.inner.enroll(request)
    }

    fn push(&self, token: &str, request: &PushRequest) -> Result<PushResponse, TransportError> {
        let _ = self.entered.lock().expect("entered").send(());
        let mut open = self.open.lock().expect("gate");
        while !*open {
            open = self.opened.wait(open).expect("gate");
        }
        drop(open);
        self.inner.push(token, request)
    }

    fn pull(&self, token: &str, query: &PullQuery) -> Result<PullResponse, TransportError> {
        self.inner.pull(token, query)
    }

    fn snapshot(
        &self,
        token: &str,
        request: &SnapshotRequest,
    ) -> Result<SnapshotResponse, TransportError> {
        self.inner.snapshot(token, request)
    }
}

#[test]
fn stopping_without_waiting_returns_while_a_push_hangs_and_the_run_winds_down_after() {
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let device = Arc::new(world.device(cadre));
    let (entered, pushes) = channel();
    let transport = Arc::new(Gated {
        inner: HttpTransport::new(&world.url()).expect("transport"),
        entered: Mutex::new(entered),
        open: Mutex::new(true),
        opened: Condvar::new(),
    });
    let (sender, events) = channel();
    let sender = Mutex::new(sender);
    let auto = AutoSync::start(
        Arc::clone(&device),
        Arc::clone(&transport) as Arc<dyn Transport>,
        policy(),
        SyncOptions::default(),
        7,
        Arc::new(move |event| {
            let _ = sender.lock().expect("sender").send(event);
        }),
    )
    .expect("sync thread");
    auto.network_changed(true);
    assert_eq!(next_finish(&events), Ok(0), "the village arrives");
    *transport.open.lock().expect("gate") = false;
    pushes.try_iter().for_each(drop);
    record(&device, world.village_a[0]);
    auto.local_change();
    pushes.recv_timeout(PATIENCE).expect("the push started");
    // What came before: the first run's decision, this run's start.
    events.try_iter().for_each(drop);

    // Were `stop_without_waiting` to wait for the run, only this watchdog
    // could let it return, and the gate would be open when it did.
    let (stopped, watchdog) = channel::<()>();
    let opened_by_watchdog = Arc::new(AtomicBool::new(false));
    let guard = {
        let transport = Arc::clone(&transport);
        let opened_by_watchdog = Arc::clone(&opened_by_watchdog);
        std::thread::spawn(move || {
            if watchdog.recv_timeout(PATIENCE) == Err(RecvTimeoutError::Timeout) {
                opened_by_watchdog.store(true, Ordering::SeqCst);
                transport.open();
            }
        })
    };
    auto.stop_without_waiting();
    let _ = stopped.send(());
    guard.join().expect("watchdog");
    assert!(
        !opened_by_watchdog.load(Ordering::SeqCst),
        "stop_without_waiting waited for the hanging push"
    );

    // Let the push go: the run ends (cancelled, or done if the push was
    // its last step) and no other begins; the thread ends, dropping the
    // listener and so the channel.
    transport.open();
    let mut finished = 0;
    loop {
        match events.recv_timeout(PATIENCE) {
            Ok(AutoSyncEvent::Started) => panic!("a run began after the stop"),
            Ok(AutoSyncEvent::Finished { .. }) => finished += 1,
            Ok(_) => {}
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => panic!("the sync thread did not end"),
        }
    }
    assert_eq!(finished, 1, "the hanging run reported its end");
}
