//! `doorstep simulate`: a load test of the whole system on this machine,
//! built on the real core. It seeds a county's worth of data (households,
//! one cadre per device paired with a few households, the demo form, one
//! enrolment code each), starts `--servers` real `doorstep serve` processes
//! on one database (the embedded SQLite file, or PostgreSQL), and runs
//! `--devices` devices, each a real store on disk, spread over the servers:
//! enrol, pull their households, record realistic visits offline
//! (`doorstep-synthetic`), push. Then it reads the server's export and
//! checks that every visit recorded is there exactly once.
//!
//! It reports throughput, latency percentiles (enrolment, first sync,
//! push) and errors; `--json` prints them on stdout. Everything stays in
//! the work directory (and the database) for inspection.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use clap::Args;
use doorstep_core::sqlite::Durability;
use doorstep_core::sync::{CancelToken, SyncEngine, SyncReport, enroll};
use doorstep_core::transport::{Endpoint, HttpTransport};
use doorstep_core::{NewVisit, Store, StoreOptions};
use doorstep_server::store::AssignmentTarget;
use doorstep_synthetic::Draw;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use uuid::Uuid;

use crate::admin::records;
use crate::households;
use crate::output::{out, print_json};

const DEMO_FORM: &[u8] = include_bytes!("../../forms/household-check.xlsx");
/// Transient failures (busy, a cut connection) of one step are tried
/// again this many times before the step counts as an error.
const ATTEMPTS: u32 = 8;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Devices, each a real store on disk.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    devices: u32,
    /// Visits each device records offline before it pushes.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    visits_per_device: u32,
    /// Server processes on the one database; devices are spread over them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    servers: u32,
    /// The embedded database file [default: server.db in the work
    /// directory].
    #[arg(long, conflicts_with = "database_url")]
    db: Option<PathBuf>,
    /// A PostgreSQL database instead (it should be empty: the simulation
    /// adds a county to it).
    #[arg(long, env = "DOORSTEP_DATABASE_URL", value_name = "URL")]
    database_url: Option<String>,
    /// Households each cadre is paired with.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    households_per_device: u32,
    /// Devices working at once (threads).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    concurrency: u32,
    /// Where the device stores (and the embedded database) go; kept
    /// afterwards [default: a new doorstep-simulate-<time> directory here].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Seed of the households and the answers.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Milliseconds at a few percentiles.
#[derive(Debug, Default, Serialize)]
struct Latency {
    count: usize,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl Latency {
    fn of(mut samples: Vec<Duration>) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        samples.sort();
        let at = |fraction: f64| {
            let index = ((samples.len() as f64 * fraction).ceil() as usize).clamp(1, samples.len());
            samples[index - 1].as_secs_f64() * 1000.0
        };
        Latency {
            count: samples.len(),
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

#[derive(Debug, Serialize)]
struct Report {
    devices: u64,
    servers: u64,
    database: String,
    directory: String,
    /// Visits the devices recorded.
    visits: u64,
    /// Visits in the server's export.
    visits_on_server: u64,
    /// Recorded visits the export lacks.
    missing: u64,
    /// Export rows beyond the first of the same visit.
    duplicates: u64,
    /// Steps that failed for good (after retrying transient failures).
    errors: u64,
    /// Transient failures that a retry got past.
    retries: u64,
    seconds: f64,
    /// Pushed visits per second of the push phase (all devices at once).
    push_visits_per_second: f64,
    push_seconds: f64,
    enrol: Latency,
    first_sync: Latency,
    push: Latency,
}

/// What the device threads gather.
#[derive(Debug, Default)]
struct Tally {
    enrol: Vec<Duration>,
    first_sync: Vec<Duration>,
    push: Vec<Duration>,
    recorded: Vec<Uuid>,
    errors: Vec<String>,
    retries: u64,
}

pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let directory = match &args.dir {
        Some(directory) => directory.clone(),
        None => PathBuf::from(format!(
            "doorstep-simulate-{}",
            chrono::Utc::now().format("%Y%m%d-%H%M%S")
        )),
    };
    std::fs::create_dir_all(directory.join("devices"))
        .with_context(|| format!("could not make {}", directory.display()))?;
    let db = args
        .db
        .clone()
        .unwrap_or_else(|| directory.join("server.db"));
    let store = crate::database::open(&db, args.database_url.as_deref())?;
    let devices = args.devices as usize;
    eprintln!(
        "simulate: {devices} devices × {} visits on {} server(s), database {}, work directory {}",
        args.visits_per_device,
        args.servers,
        store.location(),
        directory.display()
    );

    // The county: households, a cadre per device paired with a few of
    // them, the demo form, a code each.
    let per = args.households_per_device as usize;
    let rows = households::generate(devices * per, args.seed);
    let (areas, records) = records(&rows);
    store.import_households(&areas, &records)?;
    let form = doorstep_forms::xlsform::read_xlsx_bytes(DEMO_FORM)
        .context("the demo form does not load")?;
    store.publish_form(&form)?;
    let seeding = ProgressBar::new(devices as u64).with_style(bar_style("seeding cadres"));
    let mut codes = Vec::with_capacity(devices);
    for (index, chunk) in records.chunks(per).enumerate().take(devices) {
        let cadre = store.add_cadre(&format!("模拟干部{}", index + 1))?;
        for household in chunk {
            store.assign(cadre, &AssignmentTarget::Household(household.id))?;
        }
        codes.push(store.enroll_code(cadre)?.code);
        seeding.inc(1);
    }
    seeding.finish_and_clear();

    // The servers, as separate processes on the same database.
    let servers = start_servers(&args, &db)?;
    let urls: Vec<String> = servers.iter().map(|server| server.url.clone()).collect();
    eprintln!("simulate: servers at {}", urls.join(", "));

    let tally = Mutex::new(Tally::default());
    let phones: Vec<Mutex<Option<Store>>> = (0..devices).map(|_| Mutex::new(None)).collect();
    let workers = (args.concurrency as usize).min(devices);
    each_device(devices, workers, "enrol and pull", |index| {
        let outcome = enrol_and_record(
            &directory,
            index,
            &urls[index % urls.len()],
            &codes[index],
            &args,
            &tally,
        );
        match outcome {
            Ok(phone) => *lock(&phones[index]) = Some(phone),
            Err(error) => lock(&tally)
                .errors
                .push(format!("device {index}: {error:#}")),
        }
    });

    // Everybody comes back into signal at once and pushes.
    let push_started = Instant::now();
    each_device(devices, workers, "push", |index| {
        if let Some(phone) = lock(&phones[index]).as_ref() {
            let begun = Instant::now();
            match sync_retrying(phone, &tally) {
                Ok(_) => lock(&tally).push.push(begun.elapsed()),
                Err(error) => lock(&tally)
                    .errors
                    .push(format!("device {index} push: {error}")),
            }
        }
    });
    let push_seconds = push_started.elapsed().as_secs_f64();
    drop(servers);

    // The server's export: every recorded visit exactly once.
    let mut on_server: HashMap<Uuid, u64> = HashMap::new();
    store.export_visits(&mut |visit| {
        *on_server.entry(visit.id).or_default() += 1;
        Ok(())
    })?;
    let tally = tally.into_inner().unwrap_or_else(PoisonError::into_inner);
    let missing = tally
        .recorded
        .iter()
        .filter(|id| !on_server.contains_key(id))
        .count() as u64;
    let duplicates = on_server.values().map(|count| count - 1).sum();
    for error in tally.errors.iter().take(10) {
        eprintln!("simulate: error: {error}");
    }
    let visits = tally.recorded.len() as u64;
    let report = Report {
        devices: devices as u64,
        servers: u64::from(args.servers),
        database: store.location(),
        directory: directory.display().to_string(),
        visits,
        visits_on_server: on_server.len() as u64,
        missing,
        duplicates,
        errors: tally.errors.len() as u64,
        retries: tally.retries,
        seconds: started.elapsed().as_secs_f64(),
        push_visits_per_second: visits as f64 / push_seconds.max(f64::EPSILON),
        push_seconds,
        enrol: Latency::of(tally.enrol),
        first_sync: Latency::of(tally.first_sync),
        push: Latency::of(tally.push),
    };
    if args.json {
        print_json(&report)?;
    } else {
        out!("devices\t{}", report.devices);
        out!("visits\t{}", report.visits);
        out!("visits_on_server\t{}", report.visits_on_server);
        out!("missing\t{}", report.missing);
        out!("duplicates\t{}", report.duplicates);
        out!("errors\t{}", report.errors);
        out!("seconds\t{:.1}", report.seconds);
        out!(
            "push\t{:.0} visits/s; p50 {:.0} ms, p99 {:.0} ms per device",
            report.push_visits_per_second,
            report.push.p50_ms,
            report.push.p99_ms
        );
    }
    ensure!(
        report.errors == 0 && report.missing == 0 && report.duplicates == 0,
        "the simulation found {} errors, {} missing and {} duplicated visits",
        report.errors,
        report.missing,
        report.duplicates
    );
    Ok(())
}

/// Runs `work` for every device index on `workers` threads, with a
/// progress bar named `what` on stderr.
fn each_device(devices: usize, workers: usize, what: &str, work: impl Fn(usize) + Sync) {
    let next = AtomicUsize::new(0);
    let bar = ProgressBar::new(devices as u64).with_style(bar_style(what));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    if index >= devices {
                        break;
                    }
                    work(index);
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
}

fn bar_style(what: &str) -> ProgressStyle {
    ProgressStyle::with_template(&format!(
        "{what:>14} [{{bar:40}}] {{pos}}/{{len}} devices, {{elapsed}}"
    ))
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

/// One device: enrol, first sync (its households), then visits recorded
/// offline. Returns its store, ready to push.
fn enrol_and_record(
    directory: &Path,
    index: usize,
    url: &str,
    code: &str,
    args: &SimulateArgs,
    tally: &Mutex<Tally>,
) -> anyhow::Result<Store> {
    let phone = Store::open_with(
        directory.join("devices").join(format!("{index:06}.db")),
        StoreOptions {
            durability: Durability::Full,
            ..StoreOptions::default()
        },
    )?;
    let transport = HttpTransport::new(url)?;
    let begun = Instant::now();
    retrying(tally, || {
        enroll(
            &phone,
            &transport,
            &Endpoint::new(url),
            code,
            Some(format!("simulated device {index}")),
        )
        .map(|_| ())
    })?;
    lock(tally).enrol.push(begun.elapsed());
    let begun = Instant::now();
    sync_retrying(&phone, tally)?;
    lock(tally).first_sync.push(begun.elapsed());
    let households = phone.households(None)?;
    ensure!(
        !households.is_empty(),
        "device {index} received no households"
    );
    let mut draw = Draw::new(args.seed.wrapping_mul(1_000_003).wrapping_add(index as u64));
    let today = chrono::Utc::now().date_naive();
    let mut recorded = Vec::with_capacity(args.visits_per_device as usize);
    for visit in 0..args.visits_per_device as usize {
        let household = &households[visit % households.len()];
        let visit = phone.record_visit(NewVisit {
            household_id: household.record.id,
            form_id: None,
            answers: doorstep_synthetic::visit_answers(&mut draw, today),
            draft: false,
            corrects: None,
        })?;
        recorded.push(visit.id);
    }
    lock(tally).recorded.extend(recorded);
    Ok(phone)
}

fn sync_retrying(phone: &Store, tally: &Mutex<Tally>) -> anyhow::Result<SyncReport> {
    let identity = phone.require_identity()?;
    let transport = HttpTransport::new(&identity.server_url)?;
    retrying(tally, || {
        SyncEngine::new(phone, &transport).run(&mut |_| {}, &CancelToken::new())
    })
}

/// Runs `step` again after a transient failure (busy, a cut connection),
/// waiting a little longer each time, as the app's scheduler does.
fn retrying<T>(
    tally: &Mutex<Tally>,
    mut step: impl FnMut() -> Result<T, doorstep_core::Error>,
) -> anyhow::Result<T> {
    let mut wait = Duration::from_millis(50);
    let mut attempt = 1;
    loop {
        match step() {
            Ok(value) => return Ok(value),
            Err(error) if error.is_transient() && attempt < ATTEMPTS => {
                lock(tally).retries += 1;
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(2));
                attempt += 1;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// A `doorstep serve` child process, stopped when dropped.
struct ServerProcess {
    child: Child,
    url: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_servers(args: &SimulateArgs, db: &Path) -> anyhow::Result<Vec<ServerProcess>> {
    let program = std::env::current_exe().context("could not find the doorstep binary")?;
    (0..args.servers)
        .map(|index| {
            let mut command = Command::new(&program);
            command.args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                // Every device comes from loopback.
                "--max-connections-per-address",
                "0",
            ]);
            match &args.database_url {
                Some(url) => command.env("DOORSTEP_DATABASE_URL", url),
                None => command
                    .env_remove("DOORSTEP_DATABASE_URL")
                    .arg("--db")
                    .arg(db),
            };
            let mut child = command
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .context("could not start a server")?;
            let mut line = String::new();
            BufReader::new(child.stdout.take().context("the server's stdout")?)
                .read_line(&mut line)
                .context("the server did not say its address")?;
            let url = line.trim().to_string();
            ensure!(
                url.starts_with("http"),
                "server {index} did not start (see `doorstep serve` with the same database)"
            );
            Ok(ServerProcess { child, url })
        })
        .collect()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_sorted_samples() {
        let samples = (1..=100).map(Duration::from_millis).collect();
        let latency = Latency::of(samples);
        assert_eq!(latency.count, 100);
        assert!((latency.p50_ms - 50.0).abs() < 1e-9);
        assert!((latency.p99_ms - 99.0).abs() < 1e-9);
        assert!((latency.max_ms - 100.0).abs() < 1e-9);
        assert_eq!(Latency::of(Vec::new()).count, 0);
    }
}
