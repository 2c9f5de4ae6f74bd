//! The status subscription on a store of its own (the Kotlin tests follow
//! it through recording and syncing against a real server).

use std::sync::{Arc, Mutex};

use doorstep_ffi::{Doorstep, Status, StatusListener};

#[derive(Default)]
struct Heard(Mutex<Vec<Status>>);

impl StatusListener for Heard {
    fn on_status(&self, status: Status) {
        self.0.lock().expect("heard").push(status);
    }
}

impl Heard {
    fn all(&self) -> Vec<Status> {
        self.0.lock().expect("heard").clone()
    }
}

#[test]
fn a_status_subscription_hears_the_current_status_at_once() {
    let directory = tempfile::tempdir().expect("directory");
    let path = directory.path().join("device.db").display().to_string();
    let doorstep = Doorstep::open(path, None, None).expect("open");
    let heard = Arc::new(Heard::default());
    let subscription = doorstep
        .subscribe_status(Arc::clone(&heard) as Arc<dyn StatusListener>)
        .expect("subscribe");
    let status = doorstep.status().expect("status");
    assert_eq!(heard.all(), vec![status.clone()]);
    assert_eq!(status.device_id, None, "not enrolled");
    assert_eq!((status.pending, status.households), (0, 0));

    // A second subscriber starts with the same; cancelling one leaves the
    // other.
    let other = Arc::new(Heard::default());
    let _kept = doorstep
        .subscribe_status(Arc::clone(&other) as Arc<dyn StatusListener>)
        .expect("subscribe");
    assert_eq!(other.all(), vec![status]);
    subscription.cancel();
    doorstep.stop_auto_sync();
    assert_eq!(heard.all().len(), 1);
}
