//! A device back in range after days offline pushes a backlog of 10,000
//! finalised visits to a real server on loopback, over plain HTTP and over
//! HTTPS (a certificate from a CA made here; columnar bodies with zstd,
//! batches of the default size, 1.5 MiB of JSON, about 1,150 of these
//! visits; `synchronous=FULL` on the server). Each sample starts from copies of the
//! same device and server files, so every push is a first push.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use doorstep_core::sqlite::Durability;

use doorstep_core::sync::{CancelToken, SyncEngine};
use doorstep_core::transport::{Endpoint, HttpTimeouts, HttpTransport};
use doorstep_core::{NewVisit, Store, StoreOptions};
use doorstep_e2e::realistic::{self, Draw};
use doorstep_e2e::tls::TestCa;
use doorstep_e2e::{VILLAGE_A, World, sync};
use doorstep_server::{BackgroundServer, ServeOptions, ServerStore};

const BACKLOG: u64 = 10_000;

/// Copies a SQLite database with its WAL, if any.
fn copy_database(from: &Path, to: &Path) {
    std::fs::copy(from, to).expect("copy database");
    for suffix in ["-wal", "-shm"] {
        let wal = format!("{}{suffix}", from.display());
        if Path::new(&wal).exists() {
            std::fs::copy(&wal, format!("{}{suffix}", to.display())).expect("copy WAL");
        }
    }
}

fn push_backlog(criterion: &mut Criterion) {
    // The template: a device that synced once, then recorded the backlog.
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let device = world.device_with(
        cadre,
        StoreOptions {
            durability: Durability::Normal,
            ..StoreOptions::default()
        },
    );
    sync(&device).expect("first sync");
    // Realistic answers (doorstep-synthetic: names, incomes, migrants,
    // notes of 20 to 80 characters, all varied), or zstd would squeeze
    // identical visits to nothing.
    let mut draw = Draw::new(0x2024_1228);
    for index in 0..BACKLOG as usize {
        let answers = realistic::answers(&mut draw);
        device
            .record_visit(NewVisit {
                household_id: world.village_a[index % world.village_a.len()],
                form_id: None,
                answers,
                draft: false,
                corrects: None,
            })
            .expect("recorded");
    }
    assert_eq!(device.status().expect("status").pending, BACKLOG);
    drop(device);
    world.stop_server();
    let device_template = world.device_path(1);
    let server_template = world.server_path();
    let scratch = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("scratch directory");

    report_bytes(&device_template, &server_template, scratch.path());

    let ca = TestCa::new();
    let ca_pem = std::fs::read_to_string(ca.ca_path()).expect("the CA's PEM");
    let tls = doorstep_server::net::tls::server_config(&ca.cert_path(), &ca.key_path())
        .expect("the certificate loads");
    let mut group = criterion.benchmark_group("push_backlog");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(60));
    group.throughput(Throughput::Elements(BACKLOG));
    for https in [false, true] {
        let name = if https {
            "10000_visits_https"
        } else {
            "10000_visits"
        };
        let options = ServeOptions {
            tls: https.then(|| Arc::clone(&tls)),
            ..ServeOptions::default()
        };
        let ca_pem = https.then(|| ca_pem.clone());
        group.bench_function(name, |bencher| {
            bencher.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for iteration in 0..iterations {
                    let device_path = scratch.path().join(format!("device-{iteration}.db"));
                    let server_path = scratch.path().join(format!("server-{iteration}.db"));
                    copy_database(&device_template, &device_path);
                    copy_database(&server_template, &server_path);
                    let server_store =
                        Arc::new(ServerStore::open(&server_path).expect("server store"));
                    let server = BackgroundServer::start_with(
                        Arc::clone(&server_store),
                        SocketAddr::from(([127, 0, 0, 1], 0)),
                        options.clone(),
                    )
                    .expect("server");
                    let device = Store::open(&device_path).expect("device");
                    let endpoint = Endpoint {
                        ca_pem: ca_pem.clone(),
                        ..Endpoint::new(server.url())
                    };
                    let transport = HttpTransport::connect(&endpoint, HttpTimeouts::default())
                        .expect("transport");
                    let started = Instant::now();
                    let report = SyncEngine::new(&device, &transport)
                        .run(&mut |_| {}, &CancelToken::new())
                        .expect("push");
                    total += started.elapsed();
                    assert_eq!(report.pushed, BACKLOG);
                    server.stop().expect("stop");
                    drop(device);
                    drop(server_store);
                    for path in [&device_path, &server_path] {
                        for suffix in ["", "-wal", "-shm"] {
                            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                        }
                    }
                }
                total
            });
        });
    }
    group.finish();
}

/// One untimed push of the backlog, printing the body bytes the HTTP
/// transport sent and received (columns and zstd; headers left out: `doorstep
/// bench push` counts the socket), for docs/benchmarks.md.
fn report_bytes(device_template: &Path, server_template: &Path, scratch: &Path) {
    let device_path = scratch.join("bytes-device.db");
    let server_path = scratch.join("bytes-server.db");
    copy_database(device_template, &device_path);
    copy_database(server_template, &server_path);
    let server_store = Arc::new(ServerStore::open(&server_path).expect("server store"));
    let server = BackgroundServer::start(server_store, SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("server");
    let device = Store::open(&device_path).expect("device");
    let transport = HttpTransport::new(&server.url()).expect("transport");
    let report = SyncEngine::new(&device, &transport)
        .run(&mut |_| {}, &CancelToken::new())
        .expect("push");
    eprintln!(
        "push_backlog: {} visits in {} requests; request bodies {} bytes ({:.0} per visit), response bodies {} bytes",
        report.pushed,
        report.requests,
        report.bytes.sent,
        report.bytes.sent as f64 / report.pushed as f64,
        report.bytes.received
    );
    // A no-op sync right after: what an idle phone costs.
    let idle = SyncEngine::new(&device, &transport)
        .run(&mut |_| {}, &CancelToken::new())
        .expect("no-op sync");
    eprintln!(
        "no-op sync: {} requests; request bodies {} bytes, response bodies {} bytes",
        idle.requests, idle.bytes.sent, idle.bytes.received
    );
    server.stop().expect("stop");
}

criterion_group!(benches, push_backlog);
criterion_main!(benches);
