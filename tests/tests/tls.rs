//! Devices over HTTPS against the real server with a certificate from a CA
//! made in the test: enrolment and sync with the CA pinned at enrolment; a
//! certificate the device does not trust is a clear, permanent error; plain
//! HTTP to another machine is refused before anything is sent.

use doorstep_core::sync::{RunOutcome, run_outcome};
use doorstep_core::transport::{Endpoint, HttpTimeouts, HttpTransport, TransportError};
use doorstep_core::{Error, Store};
use doorstep_e2e::tls::TestCa;
use doorstep_e2e::{VILLAGE_A, World, record, sync};

fn enroll(world: &World, endpoint: &Endpoint, store: &Store) -> Result<(), Error> {
    let transport = HttpTransport::connect(endpoint, HttpTimeouts::default())?;
    let code = world
        .store
        .enroll_code(world.cadre(VILLAGE_A))
        .expect("code");
    doorstep_core::sync::enroll(store, &transport, endpoint, &code.code, None).map(|_| ())
}

#[test]
fn a_device_enrols_and_syncs_over_https_with_the_county_ca_it_pinned() {
    let ca = TestCa::new();
    let world = World::https(&ca);
    assert!(world.url().starts_with("https://127.0.0.1:"));
    let store = Store::open(world.directory().join("device.db")).expect("store");
    enroll(&world, &world.endpoint(), &store).expect("enrols over HTTPS");
    let first = sync(&store).expect("syncs over HTTPS");
    assert_eq!(first.households_added as usize, world.village_a.len());
    record(&store, world.village_a[0]);
    let second = sync(&store).expect("pushes over HTTPS");
    assert_eq!(second.pushed, 1);
    assert_eq!(world.server_visit_ids().len(), 1);
    // The CA is the device's from enrolment on: it is in the store.
    assert_eq!(
        store.endpoint().expect("endpoint").ca_pem,
        world.endpoint().ca_pem
    );
}

#[test]
fn a_certificate_the_device_does_not_trust_is_named_and_permanent() {
    let ca = TestCa::new();
    let world = World::https(&ca);
    let other = std::fs::read_to_string(ca.other_ca_path()).expect("PEM");
    for endpoint in [
        // Mozilla's roots only: a county's own CA is not among them.
        Endpoint::new(world.url()),
        // Another CA pinned.
        Endpoint {
            ca_pem: Some(other),
            ..Endpoint::new(world.url())
        },
    ] {
        let store = Store::open(
            world
                .directory()
                .join(format!("untrusting-{}.db", endpoint.ca_pem.is_some())),
        )
        .expect("store");
        let error = enroll(&world, &endpoint, &store).expect_err("not trusted");
        let message = error.to_string();
        assert!(
            matches!(&error, Error::Transport(TransportError::Tls(_))),
            "{message}"
        );
        assert!(
            message.starts_with("certificate not trusted: "),
            "{message}"
        );
        assert_eq!(run_outcome(&Err(error)), RunOutcome::Untrusted);
        assert!(
            store.identity().expect("reads").is_none(),
            "nothing enrolled"
        );
    }
    // The trusting device is not affected by the others' failures.
    let store = Store::open(world.directory().join("trusting.db")).expect("store");
    enroll(&world, &world.endpoint(), &store).expect("enrols");
}

#[test]
fn plain_http_to_another_machine_is_refused_before_anything_is_sent() {
    let error = HttpTransport::connect(
        &Endpoint::new("http://192.0.2.10:8686"),
        HttpTimeouts::default(),
    )
    .expect_err("refused");
    assert!(matches!(error, TransportError::BadAddress(_)), "{error}");
    assert!(error.to_string().contains("use https://"), "{error}");
    // Explicitly allowed, it is built (a test network).
    HttpTransport::connect(
        &Endpoint {
            allow_insecure_http: true,
            ..Endpoint::new("http://192.0.2.10:8686")
        },
        HttpTimeouts::default(),
    )
    .expect("allowed when asked for");
}
