//! A device back in range after days offline pushes a backlog of 10,000
//! finalised visits to a real server on loopback, over plain HTTP and over
//! HTTPS (a certificate from a CA made here; zstd bodies, batches of 500,
//! `synchronous=FULL` on the server). Each sample starts from copies of the
//! same device and server files, so every push is a first push.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use doorstep_core::sqlite::Durability;
use std::sync::atomic::{AtomicU64, Ordering};

use doorstep_core::sync::{CancelToken, SyncEngine};
use doorstep_core::transport::{Endpoint, HttpTimeouts, HttpTransport, Transport, TransportError};
use doorstep_core::{NewVisit, Store, StoreOptions};
use doorstep_e2e::tls::TestCa;
use doorstep_e2e::{VILLAGE_A, World, answers, sync};
use doorstep_protocol::{
    EnrollRequest, EnrollResponse, PullQuery, PullResponse, PushRequest, PushResponse,
    SnapshotRequest, SnapshotResponse,
};
use doorstep_server::{BackgroundServer, ServeOptions, ServerStore};
use serde_json::json;

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
    // Answers vary like real ones do (a fixed LCG, so every run is the
    // same), or zstd would squeeze identical visits to nothing.
    let mut state: u64 = 0x2024_1228;
    let mut next = |bound: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % bound
    };
    for index in 0..BACKLOG as usize {
        let mut answers = answers(1 + next(6) as i64);
        answers.insert("income_wages".into(), json!(next(400) * 100));
        answers.insert("income_business".into(), json!(next(200) * 50));
        answers.insert("income_transfer".into(), json!(next(5000) as f64 / 2.0));
        answers.insert("production_costs".into(), json!(next(60) * 100));
        for (question, choices) in [
            ("housing_safe", &["yes", "no"][..]),
            ("drinking_water_safe", &["yes", "no"]),
            (
                "risk_category",
                &["none", "unstable", "edge", "sudden_hardship"],
            ),
        ] {
            answers.insert(
                question.into(),
                json!(choices[next(choices.len() as u64) as usize]),
            );
        }
        let support = [
            "jobs",
            "training",
            "industry",
            "loans",
            "medical",
            "education",
        ];
        answers.insert(
            "support_needed".into(),
            json!([support[next(support.len() as u64) as usize]]),
        );
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

/// One untimed push of the backlog through a transport that counts the
/// zstd-compressed JSON bodies (what HttpTransport sends and receives, HTTP
/// headers left out), printed for docs/benchmarks.md.
fn report_bytes(device_template: &Path, server_template: &Path, scratch: &Path) {
    let device_path = scratch.join("bytes-device.db");
    let server_path = scratch.join("bytes-server.db");
    copy_database(device_template, &device_path);
    copy_database(server_template, &server_path);
    let server_store = Arc::new(ServerStore::open(&server_path).expect("server store"));
    let server = BackgroundServer::start(server_store, SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("server");
    let device = Store::open(&device_path).expect("device");
    let transport = Counting::new(HttpTransport::new(&server.url()).expect("transport"));
    let report = SyncEngine::new(&device, &transport)
        .run(&mut |_| {}, &CancelToken::new())
        .expect("push");
    let (up, down) = transport.totals();
    eprintln!(
        "push_backlog: {} visits in {} requests; request bodies {up} bytes ({:.0} per visit), response bodies {down} bytes",
        report.pushed,
        report.requests,
        up as f64 / report.pushed as f64
    );
    // A no-op sync right after: what an idle phone costs.
    let transport = Counting::new(HttpTransport::new(&server.url()).expect("transport"));
    let idle = SyncEngine::new(&device, &transport)
        .run(&mut |_| {}, &CancelToken::new())
        .expect("no-op sync");
    let (up, down) = transport.totals();
    eprintln!(
        "no-op sync: {} requests; request bodies {up} bytes, response bodies {down} bytes",
        idle.requests
    );
    server.stop().expect("stop");
}

/// Counts body bytes as the HTTP transport puts them on the wire.
struct Counting {
    inner: HttpTransport,
    up: AtomicU64,
    down: AtomicU64,
}

impl Counting {
    fn new(inner: HttpTransport) -> Self {
        Counting {
            inner,
            up: AtomicU64::new(0),
            down: AtomicU64::new(0),
        }
    }

    fn totals(&self) -> (u64, u64) {
        (
            self.up.load(Ordering::Relaxed),
            self.down.load(Ordering::Relaxed),
        )
    }

    fn count<T: serde::Serialize>(counter: &AtomicU64, value: &T) {
        let json = serde_json::to_vec(value).expect("json");
        let size = zstd::encode_all(json.as_slice(), 3).expect("zstd").len();
        // Bodies under 256 bytes go uncompressed (server) -- count the smaller.
        counter.fetch_add(size.min(json.len()) as u64, Ordering::Relaxed);
    }
}

impl Transport for Counting {
    fn enroll(&self, request: &EnrollRequest) -> Result<EnrollResponse, TransportError> {
        self.inner.enroll(request)
    }

    fn push(&self, token: &str, request: &PushRequest) -> Result<PushResponse, TransportError> {
        Self::count(&self.up, request);
        let response = self.inner.push(token, request)?;
        Self::count(&self.down, &response);
        Ok(response)
    }

    fn pull(&self, token: &str, query: &PullQuery) -> Result<PullResponse, TransportError> {
        let response = self.inner.pull(token, query)?;
        Self::count(&self.down, &response);
        Ok(response)
    }

    fn snapshot(
        &self,
        token: &str,
        request: &SnapshotRequest,
    ) -> Result<SnapshotResponse, TransportError> {
        Self::count(&self.up, request);
        let response = self.inner.snapshot(token, request)?;
        Self::count(&self.down, &response);
        Ok(response)
    }
}

criterion_group!(benches, push_backlog);
criterion_main!(benches);
