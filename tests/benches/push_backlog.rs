//! A device back in range after days offline pushes a backlog of 10,000
//! finalised visits to a real server over HTTP on loopback (zstd bodies,
//! batches of 500, `synchronous=FULL` on the server). Each sample starts from
//! copies of the same device and server files, so every push is a first push.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use doorstep_core::sqlite::Durability;
use doorstep_core::sync::{CancelToken, HttpTransport, SyncEngine};
use doorstep_core::{Store, StoreOptions};
use doorstep_e2e::{VILLAGE_A, World, record, sync};
use doorstep_server::{BackgroundServer, ServerStore};

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
    for index in 0..BACKLOG as usize {
        record(&device, world.village_a[index % world.village_a.len()]);
    }
    assert_eq!(device.status().expect("status").pending, BACKLOG);
    drop(device);
    world.stop_server();
    let device_template = world.device_path(1);
    let server_template = world.server_path();
    let scratch = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("scratch directory");

    let mut group = criterion.benchmark_group("push_backlog");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(60));
    group.throughput(Throughput::Elements(BACKLOG));
    group.bench_function("10000_visits", |bencher| {
        bencher.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for iteration in 0..iterations {
                let device_path = scratch.path().join(format!("device-{iteration}.db"));
                let server_path = scratch.path().join(format!("server-{iteration}.db"));
                copy_database(&device_template, &device_path);
                copy_database(&server_template, &server_path);
                let server_store = Arc::new(ServerStore::open(&server_path).expect("server store"));
                let server = BackgroundServer::start(
                    Arc::clone(&server_store),
                    SocketAddr::from(([127, 0, 0, 1], 0)),
                )
                .expect("server");
                let device = Store::open(&device_path).expect("device");
                let transport = HttpTransport::new(&server.url()).expect("transport");
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
    group.finish();
}

criterion_group!(benches, push_backlog);
criterion_main!(benches);
