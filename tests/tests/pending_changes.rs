//! Devices tell the server how many changes they still hold to send, with
//! each push and pull, and the server keeps the last count for the
//! console's device list: a phone whose sync broke off after one batch
//! shows what it still holds; one that synced everything shows none; an
//! older device that never reports shows nothing rather than zero.

use std::sync::atomic::{AtomicUsize, Ordering};

use doorstep_core::Store;
use doorstep_core::sync::{CancelToken, SyncEngine, SyncOptions};
use doorstep_core::transport::{HttpTimeouts, HttpTransport, Transport, TransportError};
use doorstep_e2e::{VILLAGE_A, World, record, sync};
use doorstep_protocol::{
    EnrollRequest, EnrollResponse, PROTOCOL_VERSION, PullQuery, PullResponse, PushRequest,
    PushResponse, SnapshotRequest, SnapshotResponse,
};
use doorstep_server::store::DeviceSummary;
use uuid::Uuid;

/// The real transport, until it has let `pushes` pushes through: then the
/// signal is gone.
struct SignalLost {
    inner: HttpTransport,
    pushes: AtomicUsize,
}

impl Transport for SignalLost {
    fn enroll(&self, request: &EnrollRequest) -> Result<EnrollResponse, TransportError> {
        self.inner.enroll(request)
    }

    fn push(&self, token: &str, request: &PushRequest) -> Result<PushResponse, TransportError> {
        let left = self.pushes.load(Ordering::SeqCst);
        if left == 0 {
            return Err(TransportError::Unreachable("no signal".into()));
        }
        self.pushes.store(left - 1, Ordering::SeqCst);
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

fn row(world: &World, device: Uuid) -> DeviceSummary {
    world
        .store
        .devices()
        .expect("devices")
        .into_iter()
        .find(|summary| summary.id == device)
        .expect("the device's row")
}

#[test]
fn a_sync_cut_off_after_one_batch_leaves_the_rest_reported_and_a_full_one_reports_none() {
    let mut world = World::new();
    let store: Store = world.device(world.cadre(VILLAGE_A));
    let device = store.require_identity().expect("enrolled").device_id;
    sync(&store).expect("the first sync brings the households");
    assert_eq!(
        row(&world, device).pending_changes,
        Some(0),
        "the pull said 0"
    );

    for index in 0..5 {
        record(&store, world.village_a[index % world.village_a.len()]);
    }
    let transport = SignalLost {
        inner: HttpTransport::connect(
            &store.endpoint().expect("endpoint"),
            HttpTimeouts::default(),
        )
        .expect("transport"),
        pushes: AtomicUsize::new(1),
    };
    let options = SyncOptions {
        max_batch_changes: 2,
        ..SyncOptions::default()
    };
    let error = SyncEngine::new(&store, &transport)
        .with_options(options)
        .run(&mut |_| {}, &CancelToken::new())
        .expect_err("the signal goes after one batch");
    assert!(error.to_string().contains("no signal"), "{error}");
    assert_eq!(store.status().expect("status").pending, 3);
    let cut_off = row(&world, device);
    assert_eq!(cut_off.pending_changes, Some(3), "5 recorded, 2 sent");
    assert_eq!(cut_off.visits, 2);
    assert!(cut_off.pending_reported_at.is_some());
    assert_eq!(
        cut_off.pending_reported_at, cut_off.last_seen_at,
        "a report is contact, written together"
    );

    let report = sync(&store).expect("the signal is back");
    assert_eq!(report.pushed, 3);
    let synced = row(&world, device);
    assert_eq!(synced.pending_changes, Some(0));
    assert_eq!(synced.visits, 5);
}

#[test]
fn a_device_that_does_not_report_shows_no_count() {
    let world = World::new();
    let enrollment = world.raw_enrollment(world.cadre(VILLAGE_A));
    let transport = HttpTransport::new(&world.url()).expect("transport");
    // As a device from before the count: no `pending` in its requests.
    transport
        .push(
            &enrollment.token,
            &PushRequest {
                protocol: PROTOCOL_VERSION,
                changes: Vec::new(),
                pending: None,
            },
        )
        .expect("push");
    transport
        .pull(&enrollment.token, &PullQuery::default())
        .expect("pull");
    let summary = row(&world, enrollment.device_id);
    assert_eq!(summary.pending_changes, None);
    assert_eq!(summary.pending_reported_at, None);
    assert!(summary.last_seen_at.is_some(), "contact is still seen");
}
