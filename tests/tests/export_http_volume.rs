//! Measures the export over HTTP by hand (docs/benchmarks.md, "Exporting
//! visits"): the database of 100,000 visits that
//! `cli/tests/export_volume.rs` makes, served by this process through the
//! real connection layer, downloaded as a supervisor of the township (so
//! the scope's condition is in every query) by a client that counts the
//! bytes and keeps none. A thread samples this process's resident memory
//! while each download runs. Not a timing assertion: it prints the
//! numbers.

mod export_server;

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use doorstep_server::ServerStore;
use export_server::ExportServer;

/// A `/proc/self/status` field in kB.
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or_default()
}

/// The most resident memory seen while `work` runs, sampled every 5 ms,
/// in kB.
fn peak_rss_during<T>(work: impl FnOnce() -> T) -> (T, u64) {
    let peak = Arc::new(AtomicU64::new(status_kb("VmRSS")));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (Arc::clone(&peak), Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(status_kb("VmRSS"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let value = work();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    (value, peak.load(Ordering::Relaxed))
}

#[test]
#[ignore = "measurement, run by hand after cli/tests/export_volume.rs made the database: \
            DOORSTEP_EXPORT_DB=/var/tmp/visits-100k.db cargo test --release -p doorstep-e2e \
            --test export_http_volume -- --ignored --nocapture"]
fn export_100_000_visits_over_http() {
    let path =
        std::env::var("DOORSTEP_EXPORT_DB").unwrap_or_else(|_| "/var/tmp/visits-100k.db".into());
    assert!(
        std::path::Path::new(&path).exists(),
        "no {path}: make it with DOORSTEP_EXPORT_DB={path} cargo test --release -p doorstep \
         --test export_volume -- --ignored"
    );
    let store = Arc::new(ServerStore::open(&path).expect("the database"));
    let server = ExportServer::start(store);
    let week_ago = chrono::Utc::now().date_naive() - chrono::Duration::days(6);
    eprintln!(
        "before: resident {} kB, high-water mark {} kB",
        status_kb("VmRSS"),
        status_kb("VmHWM")
    );
    for query in [
        format!("format=xlsx&since={week_ago}"),
        "format=xlsx".to_string(),
        "format=xlsx&choices=labels".to_string(),
        "format=csv".to_string(),
        "format=csv&table=members".to_string(),
        "format=jsonl".to_string(),
    ] {
        let before = status_kb("VmRSS");
        let ((bytes, first_byte, elapsed), peak) = peak_rss_during(|| {
            let started = Instant::now();
            let mut response = server.get("supervisor", &query);
            assert!(
                response.status().is_success(),
                "{query}: {}",
                response.status()
            );
            let first_byte = started.elapsed();
            let mut buffer = vec![0; 64 * 1024];
            let mut bytes = 0u64;
            loop {
                let read = response.read(&mut buffer).expect("the body");
                if read == 0 {
                    break;
                }
                bytes += read as u64;
            }
            (bytes, first_byte, started.elapsed())
        });
        eprintln!(
            "{query}: {:.2} s (headers after {:.2} s), {bytes} bytes, resident {before} kB before, \
             peak {peak} kB, high-water mark {} kB",
            elapsed.as_secs_f64(),
            first_byte.as_secs_f64(),
            status_kb("VmHWM")
        );
    }
}
