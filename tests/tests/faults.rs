//! Sync through a faulty network: real device stores and the real server,
//! with a [`FaultyProxy`] in between that drops, cuts, truncates, delays and
//! answers 503s of its own.
//!
//! The fault draws are reproducible: set `DOORSTEP_FAULT_SEED` to replay a
//! failing run of `heavy_faults_deliver_every_visit_exactly_once`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use doorstep_core::sync::{
    CancelToken, RunOutcome, SyncEngine, SyncOptions, SyncReport, run_outcome,
};
use doorstep_core::transport::{Endpoint, HttpTimeouts, HttpTransport, Transport, TransportError};
use doorstep_core::{Error, Store};
use doorstep_e2e::proxy::{Faults, FaultyProxy, Stats};
use doorstep_e2e::{VILLAGE_A, World, record, sync};
use doorstep_protocol::{PullQuery, routes};
use uuid::Uuid;

const DEFAULT_SEED: u64 = 0x00D0_0257_E9F4_0175;

fn server_address(world: &World) -> SocketAddr {
    world
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("the world's address")
}

fn proxy(world: &World, faults: Faults, seed: u64) -> FaultyProxy {
    FaultyProxy::start(server_address(world), faults, seed).expect("proxy starts")
}

/// One sync run of `device` through `transport`, in batches of `batch`.
fn run(device: &Store, transport: &HttpTransport, batch: usize) -> Result<SyncReport, Error> {
    SyncEngine::new(device, transport)
        .with_options(SyncOptions {
            max_batch_changes: batch,
            ..Default::default()
        })
        .run(&mut |_| {}, &CancelToken::new())
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}

fn pending(device: &Store) -> u64 {
    device.status().expect("status").pending
}

/// A device of a new cadre of village A that has synced once directly, so
/// it holds the village's households and the form.
fn synced_device(world: &mut World) -> Store {
    let cadre = world.cadre(VILLAGE_A);
    let device = world.device(cadre);
    sync(&device).expect("first sync, without the proxy");
    device
}

#[test]
fn a_clean_proxy_passes_every_exchange_through() {
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let device = world.device(cadre);
    let proxy = proxy(&world, Faults::none(), DEFAULT_SEED);
    let transport = HttpTransport::new(&proxy.url()).expect("transport");

    // The first sync, through the proxy, brings the village and the form.
    run(&device, &transport, 500).expect("first sync through the proxy");
    assert_eq!(device.households(None).expect("households").len(), 3);

    let recorded: Vec<Uuid> = world
        .village_a
        .iter()
        .map(|household| record(&device, *household))
        .collect();
    assert_eq!(pending(&device), 3);
    let report = run(&device, &transport, 500).expect("push through the proxy");
    assert_eq!(
        (report.pushed, report.duplicates, report.rejected),
        (3, 0, 0)
    );
    assert_eq!(pending(&device), 0);
    assert_eq!(sorted(world.server_visit_ids()), sorted(recorded));

    let stats = proxy.stats();
    assert!(stats.connections >= 4, "{stats:?}");
    assert_eq!(
        stats,
        Stats {
            connections: stats.connections,
            forwarded: stats.connections,
            ..Stats::default()
        },
        "every exchange went through whole, and nothing else happened"
    );
}

#[test]
fn heavy_faults_deliver_every_visit_exactly_once() {
    let seed = std::env::var("DOORSTEP_FAULT_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let mut world = World::new();
    let device = synced_device(&mut world);
    let households = world.village_a.clone();
    let recorded: Vec<Uuid> = (0..30)
        .map(|index| record(&device, households[index % households.len()]))
        .collect();
    assert_eq!(pending(&device), 30);

    let faults = Faults {
        drop_before: 0.2,
        reset_mid_request: 0.2,
        truncate_response: 0.2,
        delay: Some(Duration::from_millis(1)),
        status: Some((503, Some(1), 0.2)),
    };
    let proxy = proxy(&world, faults, seed);
    let transport = HttpTransport::new(&proxy.url()).expect("transport");

    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    let mut succeeded = None;
    let mut last_pending = pending(&device);
    for attempt in 1..=200 {
        match run(&device, &transport, 2) {
            Ok(report) => {
                succeeded = Some((attempt, report));
                break;
            }
            Err(error) => {
                assert!(
                    error.is_transient(),
                    "seed {seed}, attempt {attempt}: a network fault must be transient, got {error:?}"
                );
                *failures.entry(kind(&error)).or_default() += 1;
            }
        }
        let now = pending(&device);
        assert!(now <= last_pending, "seed {seed}: pending grew");
        last_pending = now;
        let on_server = world.server_visit_ids();
        let mut distinct = sorted(on_server.clone());
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            on_server.len(),
            "seed {seed}: a visit stored twice on the server"
        );
        // Never lost: each visit is on the server, or still pending (or both,
        // after a lost answer).
        assert!(
            now as usize + on_server.len() >= recorded.len(),
            "seed {seed}: {now} pending and {} on the server of {}",
            on_server.len(),
            recorded.len()
        );
    }
    let stats = proxy.stats();
    let Some((attempts, report)) = succeeded else {
        panic!("seed {seed}: no run succeeded in 200 attempts; {failures:?}, {stats:?}");
    };
    eprintln!("seed {seed}: run {attempts} succeeded; failures {failures:?}; {stats:?}");
    assert_eq!(
        pending(&device),
        0,
        "seed {seed}: run {attempts} succeeded ({report:?}) with changes still pending"
    );
    assert_eq!(
        sorted(world.server_visit_ids()),
        sorted(recorded),
        "seed {seed}: every visit on the server exactly once"
    );
    // Not vacuous: every kind of fault happened, and the runs failed.
    assert!(attempts > 1, "seed {seed}: the first run succeeded");
    for (name, count) in [
        ("dropped", stats.dropped),
        ("reset", stats.reset),
        ("truncated", stats.truncated),
        ("delayed", stats.delayed),
        ("status_injected", stats.status_injected),
    ] {
        assert!(
            count > 0,
            "seed {seed}: no connection was {name}: {stats:?}"
        );
    }
    assert_eq!(stats.refused, 0, "{stats:?}");
}

/// A short name for the error, to tally the failures.
fn kind(error: &Error) -> String {
    match error {
        Error::Transport(error) => format!("{error:?}")
            .split(['(', ' ', '{'])
            .next()
            .unwrap_or_default()
            .to_string(),
        other => format!("{other:?}"),
    }
}

#[test]
fn an_injected_503_with_retry_after_is_busy_for_that_long() {
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let enrollment = world.raw_enrollment(cadre);
    let proxy = proxy(
        &world,
        Faults {
            status: Some((503, Some(7), 1.0)),
            ..Faults::none()
        },
        DEFAULT_SEED,
    );
    let transport = HttpTransport::new(&proxy.url()).expect("transport");
    let pull = || {
        transport.pull(
            &enrollment.token,
            &PullQuery {
                cursor: 0,
                scope: None,
                limit: None,
                pending: None,
            },
        )
    };

    let error = pull().expect_err("the proxy answers 503");
    assert_eq!(
        error,
        TransportError::Busy {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert!(error.is_transient());

    // Without Retry-After, and as 429.
    proxy.set_faults(Faults {
        status: Some((429, None, 1.0)),
        ..Faults::none()
    });
    assert_eq!(pull(), Err(TransportError::Busy { retry_after: None }));
    // Another 5xx is a server failure, with the message of the ErrorBody.
    proxy.set_faults(Faults {
        status: Some((500, Some(7), 1.0)),
        ..Faults::none()
    });
    assert_eq!(
        pull(),
        Err(TransportError::Server {
            status: 500,
            message: "injected".into()
        })
    );

    // Through the engine: the run fails as Busy, and the scheduler hears
    // the server's delay. Nothing reached the server.
    proxy.set_faults(Faults {
        status: Some((503, Some(7), 1.0)),
        ..Faults::none()
    });
    let device = synced_device(&mut world);
    record(&device, world.village_a[0]);
    let result = run(&device, &transport, 500);
    assert!(
        matches!(
            result,
            Err(Error::Transport(TransportError::Busy {
                retry_after: Some(delay)
            })) if delay == Duration::from_secs(7)
        ),
        "{result:?}"
    );
    assert_eq!(
        run_outcome(&result),
        RunOutcome::Transient {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert_eq!(pending(&device), 1);
    assert!(world.server_visit_ids().is_empty());
    let stats = proxy.stats();
    assert_eq!(
        (stats.connections, stats.status_injected, stats.forwarded),
        (4, 4, 0),
        "{stats:?}"
    );
}

#[test]
fn a_truncated_push_answer_settles_nothing_and_comes_back_as_duplicates() {
    let mut world = World::new();
    let device = synced_device(&mut world);
    let recorded: Vec<Uuid> = world
        .village_a
        .iter()
        .map(|household| record(&device, *household))
        .collect();
    let proxy = proxy(
        &world,
        Faults {
            truncate_response: 1.0,
            ..Faults::none()
        },
        DEFAULT_SEED,
    );
    let transport = HttpTransport::new(&proxy.url()).expect("transport");

    // The server applies the push; the device never hears of it. Every cut
    // of the answer (each attempt cuts it elsewhere) is an interrupted
    // exchange, never a confused answer.
    for attempt in 0..20 {
        let result = run(&device, &transport, 500);
        assert!(
            matches!(
                result,
                Err(Error::Transport(TransportError::Interrupted(_)))
            ),
            "attempt {attempt}: {result:?}"
        );
        assert_eq!(pending(&device), 3, "attempt {attempt}");
        assert_eq!(
            sorted(world.server_visit_ids()),
            sorted(recorded.clone()),
            "attempt {attempt}"
        );
    }
    assert_eq!(proxy.stats().truncated, 20);

    proxy.set_faults(Faults::none());
    let report = run(&device, &transport, 500).expect("clean sync");
    assert_eq!((report.pushed, report.duplicates), (0, 3), "{report:?}");
    assert!(report.duplicates > 0);
    assert_eq!(pending(&device), 0);
    assert_eq!(sorted(world.server_visit_ids()), sorted(recorded));
}

#[test]
fn a_push_that_times_out_on_the_device_may_still_land() {
    let mut world = World::new();
    let device = synced_device(&mut world);
    let visit = record(&device, world.village_a[0]);
    let proxy = proxy(
        &world,
        Faults {
            delay: Some(Duration::from_millis(400)),
            ..Faults::none()
        },
        DEFAULT_SEED,
    );
    let impatient = HttpTransport::with_timeouts(
        &proxy.url(),
        HttpTimeouts {
            connect: Duration::from_secs(2),
            request: Duration::from_millis(100),
        },
    )
    .expect("transport");
    let result = run(&device, &impatient, 500);
    assert!(
        matches!(
            result,
            Err(Error::Transport(TransportError::Interrupted(_)))
        ),
        "{result:?}"
    );
    assert!(result.as_ref().is_err_and(Error::is_transient));
    assert_eq!(pending(&device), 1);

    // The proxy forwards the request after its delay, to nobody's ear.
    let deadline = Instant::now() + Duration::from_secs(5);
    while world.server_visit_ids().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(world.server_visit_ids(), vec![visit]);

    proxy.set_faults(Faults::none());
    let patient = HttpTransport::new(&proxy.url()).expect("transport");
    let report = run(&device, &patient, 500).expect("clean sync");
    assert_eq!((report.pushed, report.duplicates), (0, 1), "{report:?}");
    assert_eq!(pending(&device), 0);
    assert_eq!(world.server_visit_ids(), vec![visit]);
    assert_eq!(proxy.stats().delayed, 1);
}

/// Sends `request` raw and returns everything the proxy answers.
fn exchange(address: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // The proxy may answer before reading everything: a failed write is fine.
    let _ = stream.write_all(request);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn the_proxy_refuses_malformed_requests_and_keeps_serving() {
    let world = World::new();
    let proxy = proxy(&world, Faults::none(), DEFAULT_SEED);
    let address = proxy.address();
    let health = format!("GET {} HTTP/1.1\r\nHost: proxy\r\n\r\n", routes::HEALTH);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not HTTP", b"hello\r\n\r\n".to_vec(), "HTTP/1.1 400 "),
        (
            "no colon",
            b"GET / HTTP/1.1\r\nnonsense\r\n\r\n".to_vec(),
            "HTTP/1.1 400 ",
        ),
        (
            "bad length",
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n".to_vec(),
            "HTTP/1.1 400 ",
        ),
        (
            "two lengths",
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec(),
            "HTTP/1.1 400 ",
        ),
        (
            "huge length",
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n".to_vec(),
            "HTTP/1.1 400 ",
        ),
        (
            "body over the limit",
            b"POST / HTTP/1.1\r\nContent-Length: 1000000000\r\n\r\n".to_vec(),
            "HTTP/1.1 413 ",
        ),
        (
            "chunked",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
            "HTTP/1.1 501 ",
        ),
        (
            "endless head",
            [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 70 * 1024]].concat(),
            "HTTP/1.1 431 ",
        ),
        ("binary", (0..=255_u8).cycle().take(4096).collect(), ""),
        ("nothing", Vec::new(), ""),
    ];
    for (name, request, expected) in &cases {
        let answer = exchange(address, request);
        assert!(answer.starts_with(expected), "{name}: {answer:?}");
        if !expected.is_empty() {
            assert!(
                answer.contains("Connection: close\r\n"),
                "{name}: {answer:?}"
            );
        }
    }
    // A client that leaves half way through its body.
    let mut half = TcpStream::connect(address).expect("connect");
    half.write_all(b"POST /v1/sync/push HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc")
        .expect("write");
    drop(half);

    let answer = exchange(address, health.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("connection: close\r\n"),
        "{answer:?}"
    );
    let stats = proxy.stats();
    assert_eq!(stats.refused, 8, "{stats:?}");
    assert_eq!(stats.forwarded, 1, "{stats:?}");
}

#[test]
fn the_same_seed_meets_the_same_faults() {
    let world = World::new();
    let faults = Faults {
        drop_before: 0.25,
        reset_mid_request: 0.25,
        truncate_response: 0.25,
        delay: None,
        status: Some((503, None, 0.25)),
    };
    // A 404 from the server: an answer of the same length every time.
    let request = b"GET /v1/nowhere HTTP/1.1\r\nHost: proxy\r\n\r\n";
    let answers = |seed: u64| {
        let proxy = proxy(&world, faults, seed);
        let answers: Vec<String> = (0..40)
            .map(|_| exchange(proxy.address(), request))
            .collect();
        (answers, proxy.stats())
    };
    let (first, first_stats) = answers(7);
    let (again, again_stats) = answers(7);
    let (other, other_stats) = answers(8);
    assert_eq!(first_stats, again_stats);
    assert_eq!(
        first.iter().map(String::len).collect::<Vec<_>>(),
        again.iter().map(String::len).collect::<Vec<_>>()
    );
    assert_ne!(
        (
            first.iter().map(String::len).collect::<Vec<_>>(),
            first_stats
        ),
        (
            other.iter().map(String::len).collect::<Vec<_>>(),
            other_stats
        )
    );
    assert_eq!(first_stats.connections, 40);
}

#[test]
fn an_enrolment_whose_answer_is_lost_can_be_retried_with_the_same_code() {
    let world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let code = world.store.enroll_code(cadre).expect("code").code;
    let proxy = proxy(
        &world,
        Faults {
            truncate_response: 1.0,
            ..Faults::none()
        },
        11,
    );
    let directory = tempfile::tempdir().expect("directory");
    let device = Store::open(directory.path().join("device.db")).expect("store");
    let transport = HttpTransport::new(&proxy.url()).expect("transport");
    let lost = doorstep_core::sync::enroll(
        &device,
        &transport,
        &Endpoint::new(proxy.url()),
        &code,
        None,
    )
    .expect_err("the answer is cut off");
    assert!(lost.is_transient(), "{lost}");
    assert!(device.identity().expect("read").is_none());
    assert_eq!(
        proxy.stats().truncated,
        1,
        "the server answered; the answer was lost"
    );

    // Back in range: the same code again gets the device enrolled.
    proxy.set_faults(Faults::none());
    let identity = doorstep_core::sync::enroll(
        &device,
        &transport,
        &Endpoint::new(proxy.url()),
        &code,
        None,
    )
    .expect("a retry with the same code works");
    let report = run(&device, &transport, 500).expect("the new token works");
    assert!(report.households_added > 0);
    assert_eq!(
        device.require_identity().expect("enrolled").device_id,
        identity.device_id
    );
}
