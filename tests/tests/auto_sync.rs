//! Sync that runs by itself: the app reports the network and local changes,
//! the core decides when to sync, backs off when the server is away, and
//! never runs while offline.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use doorstep_core::sync::{AutoSync, AutoSyncEvent, Decision, SyncOptions, SyncPolicy};
use doorstep_core::transport::{HttpTransport, Transport};
use doorstep_e2e::{VILLAGE_A, World, record};

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
fn next_finish(events: &Receiver<AutoSyncEvent>) -> Result<u64, String> {
    loop {
        match events.recv_timeout(PATIENCE).expect("a sync ran") {
            AutoSyncEvent::Finished { report, error } => {
                return match (report, error) {
                    (Some(report), _) => Ok(report.pushed),
                    (None, error) => Err(error.unwrap_or_default()),
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

    // The server goes away: the run fails and the next waits (backoff).
    world.stop_server();
    record(&device, world.village_a[2]);
    auto.local_change();
    assert!(next_finish(&events).is_err());
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
