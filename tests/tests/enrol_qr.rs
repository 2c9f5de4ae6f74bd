//! Enrolment by QR code against the real server over HTTPS with a CA made
//! in the test: the fingerprint in the code pins the county CA, which the
//! server must present and must have certified the server; a wrong one is
//! refused before the code is sent (it stays usable), and the pinned CA is
//! the device's from then on, exactly as a CA file given at enrolment.

use std::net::SocketAddr;
use std::sync::Arc;

use doorstep_core::enrol_qr::{CaFingerprint, EnrolQr};
use doorstep_core::sync::enroll_from_qr;
use doorstep_core::transport::{HttpTimeouts, TransportError};
use doorstep_core::{Error, Store};
use doorstep_e2e::tls::TestCa;
use doorstep_e2e::{VILLAGE_A, World, record, sync};
use doorstep_server::enrol::EnrolSettings;
use doorstep_server::{BackgroundServer, ServeOptions};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// What the console would show: the payload for a fresh code, read back as
/// the app's scanner hands it over.
fn scanned(world: &World, url: &str, ca: Option<CaFingerprint>) -> EnrolQr {
    let code = world
        .store
        .enroll_code(world.cadre(VILLAGE_A))
        .expect("code");
    let payload = EnrolSettings::new(Some(url), ca)
        .expect("settings")
        .payload(&code.code)
        .expect("a payload");
    EnrolQr::parse(&payload).expect("the payload reads back")
}

fn fresh_store(world: &World, name: &str) -> Store {
    Store::open(world.directory().join(format!("{name}.db"))).expect("store")
}

fn enrol(store: &Store, qr: &EnrolQr) -> Result<(), Error> {
    enroll_from_qr(store, qr, Some("QR test".into()), HttpTimeouts::default()).map(|_| ())
}

/// The TLS failure's words, or a panic.
fn tls_failure(result: Result<(), Error>) -> String {
    match result {
        Err(Error::Transport(TransportError::Tls(message))) => message,
        other => panic!("expected a TLS failure, got {other:?}"),
    }
}

/// A server over the world's database with the certificate chain in
/// `chain_pem` and `key_pem`, sending `ca` after it when given.
fn serve_with_chain(
    world: &World,
    chain_pem: &str,
    key_pem: &str,
    ca: Option<&CertificateDer<'static>>,
) -> BackgroundServer {
    let directory = tempfile::tempdir().expect("a directory");
    let cert = directory.path().join("chain.pem");
    let key = directory.path().join("key.pem");
    std::fs::write(&cert, chain_pem).expect("write");
    std::fs::write(&key, key_pem).expect("write");
    let config =
        doorstep_server::net::tls::server_config_with_ca(&cert, &key, ca).expect("the chain loads");
    BackgroundServer::start_with(
        Arc::clone(&world.store),
        SocketAddr::from(([127, 0, 0, 1], 0)),
        ServeOptions {
            tls: Some(config),
            ..ServeOptions::default()
        },
    )
    .expect("the server starts")
}

#[test]
fn the_right_fingerprint_enrols_and_the_device_keeps_that_ca() {
    let ca = TestCa::new();
    let world = World::https(&ca);
    let qr = scanned(
        &world,
        &world.url(),
        Some(CaFingerprint::of_der(ca.ca_der())),
    );
    let store = fresh_store(&world, "pinned");
    enrol(&store, &qr).expect("enrols");
    let identity = store.identity().expect("reads").expect("enrolled");
    assert_eq!(identity.server_url, world.url());
    // The CA the server presented, with that fingerprint, is the device's
    // CA now: every sync trusts it as if it had been given as a file.
    let kept = store.endpoint().expect("endpoint").ca_pem.expect("a CA");
    let kept = CertificateDer::from_pem_slice(kept.as_bytes()).expect("PEM");
    assert_eq!(kept.as_ref(), ca.ca_der());
    sync(&store).expect("syncs");
    record(&store, world.village_a[0]);
    assert_eq!(sync(&store).expect("pushes").pushed, 1);
    assert_eq!(world.server_visit_ids().len(), 1);
}

#[test]
fn a_wrong_fingerprint_is_refused_before_the_code_is_sent() {
    let ca = TestCa::new();
    let world = World::https(&ca);
    let other = CaFingerprint::of_der(ca.other_ca_der());
    let qr = scanned(&world, &world.url(), Some(other));
    let store = fresh_store(&world, "wrong");
    let message = tls_failure(enrol(&store, &qr));
    assert!(
        message
            .contains("did not present the certificate authority named by the enrolment QR code"),
        "{message}"
    );
    assert!(store.identity().expect("reads").is_none(), "not enrolled");
    assert!(world.store.devices().expect("devices").is_empty());
    // The code never left the device: with the right fingerprint it works.
    let right = EnrolQr {
        ca_sha256: Some(CaFingerprint::of_der(ca.ca_der())),
        ..qr
    };
    enrol(&store, &right).expect("the same code enrols");
    assert_eq!(world.store.devices().expect("devices").len(), 1);
}

#[test]
fn a_server_that_shows_the_ca_without_being_certified_by_it_is_refused() {
    // A man in the middle has the county CA's certificate (it is public)
    // and sends it after a certificate of his own for the same address.
    let ca = TestCa::new();
    let world = World::https(&ca);
    let key = rcgen::KeyPair::generate().expect("a key");
    let own = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("a certificate");
    let county_ca = std::fs::read_to_string(ca.ca_path()).expect("the CA's PEM");
    let impostor = serve_with_chain(
        &world,
        &format!("{}{county_ca}", own.pem()),
        &key.serialize_pem(),
        None,
    );
    let qr = scanned(
        &world,
        &impostor.url(),
        Some(CaFingerprint::of_der(ca.ca_der())),
    );
    let store = fresh_store(&world, "impostor");
    let message = tls_failure(enrol(&store, &qr));
    assert!(
        message.starts_with("certificate not trusted: "),
        "{message}"
    );
    assert!(store.identity().expect("reads").is_none(), "not enrolled");
    assert!(world.store.devices().expect("devices").is_empty());
}

#[test]
fn the_ca_must_be_in_the_handshake_and_public_ca_puts_it_there() {
    let ca = TestCa::new();
    let world = World::https(&ca);
    // The server's own certificate only, as many CAs hand it out.
    let chain = std::fs::read_to_string(ca.cert_path()).expect("the chain");
    let end = chain
        .find("-----END CERTIFICATE-----")
        .expect("a certificate")
        + "-----END CERTIFICATE-----\n".len();
    let key = std::fs::read_to_string(ca.key_path()).expect("the key");
    let fingerprint = Some(CaFingerprint::of_der(ca.ca_der()));

    let without = serve_with_chain(&world, &chain[..end], &key, None);
    let qr = scanned(&world, &without.url(), fingerprint);
    let store = fresh_store(&world, "without");
    let message = tls_failure(enrol(&store, &qr));
    assert!(message.contains("did not present"), "{message}");
    drop(without);

    let county_ca = CertificateDer::from(ca.ca_der().to_vec());
    let with = serve_with_chain(&world, &chain[..end], &key, Some(&county_ca));
    let qr = scanned(&world, &with.url(), fingerprint);
    enrol(&store, &qr).expect("enrols once the server sends the CA");
    // The full chain given and the CA given too: sent once, still fine.
    let both = serve_with_chain(&world, &chain, &key, Some(&county_ca));
    let qr = scanned(&world, &both.url(), fingerprint);
    enrol(&fresh_store(&world, "both"), &qr).expect("enrols");
}

#[test]
fn without_a_fingerprint_a_qr_code_enrols_like_a_typed_code() {
    let world = World::new();
    let qr = scanned(&world, &world.url(), None);
    let store = fresh_store(&world, "plain");
    enrol(&store, &qr).expect("enrols");
    assert_eq!(store.endpoint().expect("endpoint").ca_pem, None);
    assert_eq!(
        sync(&store).expect("syncs").households_added as usize,
        world.village_a.len()
    );
}

#[test]
fn a_fingerprint_cannot_be_checked_over_plain_http() {
    let world = World::new();
    let qr = scanned(&world, &world.url(), Some(CaFingerprint::of_der(b"a CA")));
    let store = fresh_store(&world, "http");
    let error = enrol(&store, &qr).expect_err("refused");
    assert!(
        matches!(&error, Error::Transport(TransportError::BadAddress(message)) if message.contains("https://")),
        "{error}"
    );
    assert!(world.store.devices().expect("devices").is_empty());
}
