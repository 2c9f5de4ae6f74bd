//! `doorstep bench push`: a device that recorded a backlog of realistic
//! visits offline (`doorstep-synthetic`) pushes it to a real server on an
//! embedded SQLite file (`synchronous=FULL`) over loopback, through a relay
//! that counts every byte on the socket both ways, headers included. Both
//! stores are files in a temporary directory (or `--dir`).
//!
//! `seconds` runs from the first byte the device sends to the moment it
//! has applied the last push answer; `sync_seconds` is the whole run (the
//! pull after the pushes included). `--limits` adds what the same visits
//! cost at the machine's limits ([`limits`]). stdout carries the data,
//! stderr the progress.

mod limits;
mod relay;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, ensure};
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use doorstep_core::sqlite::Durability;
use doorstep_core::sync::{CancelToken, SyncEngine, SyncOptions, SyncPhase, enroll};
use doorstep_core::transport::{Endpoint, HttpTransport};
use doorstep_core::{NewVisit, Store, StoreOptions};
use doorstep_protocol::Answers;
use doorstep_server::store::AssignmentTarget;
use doorstep_server::{BackgroundServer, ServerStore};
use doorstep_synthetic::Draw;
use serde::Serialize;
use uuid::Uuid;

use crate::admin::records;
use crate::households;
use crate::output::print_json;
use relay::CountingRelay;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Push a backlog of realistic visits to a local server and count the
    /// time, the requests and the bytes on the wire.
    Push(PushArgs),
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Visits recorded offline, then pushed.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    visits: u32,
    /// Households the cadre visits.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    households: u32,
    /// Seed of the households and the answers.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also measure the same visits against the machine's limits: JSON and
    /// zstd of it, raw SQLite inserts, the loopback's bandwidth.
    #[arg(long)]
    limits: bool,
    /// Changes in one push at most.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=2000))]
    batch: u32,
    /// Push as JSON (as devices before the columnar encoding did), for
    /// comparison.
    #[arg(long)]
    json_pushes: bool,
    /// Push from a separate process, the real `doorstep device sync`, and
    /// report its peak memory (`device_peak_rss_bytes`): what a phone
    /// holds while it pushes the backlog. `seconds` is then the process's
    /// whole run.
    #[arg(long, conflicts_with = "json_pushes")]
    device_process: bool,
    /// Keep the server and device databases here (a new directory)
    /// instead of a temporary one.
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// What one push of the backlog measured.
#[derive(Debug, Serialize)]
struct PushReport {
    /// "columns" or "json".
    encoding: &'static str,
    batch: u32,
    visits: u64,
    /// From the first byte sent to the last push answer applied.
    seconds: f64,
    /// Every request of the run (the pushes and the pull after them).
    requests: u64,
    /// The pushes among them (not counted with `--device-process`).
    #[serde(skip_serializing_if = "Option::is_none")]
    push_requests: Option<u64>,
    /// Bytes on the socket, both ways, headers included, for the run.
    bytes_up: u64,
    bytes_down: u64,
    bytes_per_visit: f64,
    visits_per_second: f64,
    /// The whole sync run, the pull included.
    sync_seconds: f64,
    /// Seconds spent recording the backlog (not part of the push).
    record_seconds: f64,
    /// The pushing process's peak resident memory (`--device-process`).
    #[serde(skip_serializing_if = "Option::is_none")]
    device_peak_rss_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limits: Option<limits::Limits>,
}

/// What the push itself measured, in this process or in a child.
struct Pushed {
    seconds: f64,
    sync_seconds: f64,
    requests: u64,
    push_requests: Option<u64>,
    peak_rss_bytes: Option<u64>,
}

pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Push(args) => push(args),
    }
}

/// The day the bench's visits are dated before.
fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// The households and answers of the backlog, in order: the same for the
/// same seed, whether recorded or measured against the limits.
pub(super) fn backlog(seed: u64, households: &[Uuid], visits: u32) -> Vec<(Uuid, Answers)> {
    let mut draw = Draw::new(seed);
    let today = today();
    (0..visits)
        .map(|_| {
            let household = households[draw.below(households.len() as u64) as usize];
            (
                household,
                doorstep_synthetic::visit_answers(&mut draw, today),
            )
        })
        .collect()
}

fn push(args: PushArgs) -> anyhow::Result<()> {
    let temporary;
    let directory: &Path = match &args.dir {
        Some(directory) => {
            std::fs::create_dir(directory)
                .with_context(|| format!("could not make {}", directory.display()))?;
            directory
        }
        None => {
            temporary = tempfile::tempdir().context("could not make a temporary directory")?;
            temporary.path()
        }
    };
    // The county: households in their villages, the demo form, one cadre
    // assigned every village.
    let store = Arc::new(ServerStore::open(directory.join("server.db"))?);
    let rows = households::generate(args.households as usize, args.seed);
    let (areas, household_records) = records(&rows);
    store.import_households(&areas, &household_records)?;
    let form = doorstep_forms::xlsform::read_xlsx_bytes(crate::demo::DEMO_FORM)
        .context("the demo form does not load")?;
    store.publish_form(&form)?;
    let cadre = store.add_cadre("基准干部")?;
    let mut villages: Vec<&str> = rows.iter().map(|row| row.village_code.as_str()).collect();
    villages.dedup();
    for village in villages {
        store.assign(cadre, &AssignmentTarget::Village(village.to_string()))?;
    }
    let server =
        BackgroundServer::start(Arc::clone(&store), SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let relay = CountingRelay::start(server.address())?;

    // The phone enrols and receives its households, then records offline
    // (without an fsync a visit, to make the backlog faster; the push
    // below runs at synchronous=FULL as on a phone).
    let device_path = directory.join("device.db");
    let phone = Store::open_with(
        &device_path,
        StoreOptions {
            durability: Durability::Normal,
            ..StoreOptions::default()
        },
    )?;
    let transport = HttpTransport::new(&relay.url())?;
    let code = store.enroll_code(cadre)?;
    enroll(
        &phone,
        &transport,
        &Endpoint::new(relay.url()),
        &code.code,
        Some("bench device".into()),
    )?;
    SyncEngine::new(&phone, &transport).run(&mut |_| {}, &CancelToken::new())?;
    let identity = phone.require_identity()?;
    let households: Vec<Uuid> = phone
        .households(None)?
        .into_iter()
        .map(|household| household.record.id)
        .collect();
    ensure!(
        !households.is_empty(),
        "the bench device received no households"
    );
    let started = Instant::now();
    let backlog = backlog(args.seed, &households, args.visits);
    for (index, (household, answers)) in backlog.iter().enumerate() {
        phone.record_visit(NewVisit {
            household_id: *household,
            form_id: None,
            answers: answers.clone(),
            draft: false,
            corrects: None,
        })?;
        if (index + 1) % 1000 == 0 {
            eprintln!("bench: recorded {} of {} visits", index + 1, args.visits);
        }
    }
    let record_seconds = started.elapsed().as_secs_f64();
    drop(phone);

    relay.reset();
    let pushed = if args.device_process {
        push_in_child(&device_path, args.batch)?
    } else {
        push_here(&device_path, &relay, &args)?
    };
    let crossed = relay.crossed();
    drop(relay);
    server.stop().context("could not stop the server")?;
    let visits = u64::from(args.visits);
    let limits = if args.limits {
        eprintln!("bench: measuring the same visits against the machine's limits");
        Some(limits::measure(
            &args,
            &households,
            (cadre, identity.device_id),
            directory,
        )?)
    } else {
        None
    };
    let result = PushReport {
        encoding: if args.json_pushes { "json" } else { "columns" },
        batch: args.batch,
        visits,
        seconds: pushed.seconds,
        requests: pushed.requests,
        push_requests: pushed.push_requests,
        bytes_up: crossed.up,
        bytes_down: crossed.down,
        bytes_per_visit: (crossed.up + crossed.down) as f64 / visits as f64,
        visits_per_second: visits as f64 / pushed.seconds,
        sync_seconds: pushed.sync_seconds,
        record_seconds,
        device_peak_rss_bytes: pushed.peak_rss_bytes,
        limits,
    };
    if args.json {
        print_json(&result)
    } else {
        eprintln!(
            "bench: {visits} visits in {:.3} s ({:.0} visits/s), {} requests{}, {} bytes up and {} down ({:.1} a visit); the whole sync {:.3} s{}",
            result.seconds,
            result.visits_per_second,
            result.requests,
            result
                .push_requests
                .map(|pushes| format!(" ({pushes} pushes)"))
                .unwrap_or_default(),
            result.bytes_up,
            result.bytes_down,
            result.bytes_per_visit,
            result.sync_seconds,
            result
                .device_peak_rss_bytes
                .map(|bytes| format!(
                    "; the pushing process's peak memory {:.1} MB",
                    bytes as f64 / 1e6
                ))
                .unwrap_or_default()
        );
        if let Some(limits) = &result.limits {
            print_json(limits)?;
        }
        Ok(())
    }
}

/// The push, as a phone does it, in this process: a fresh transport, the
/// store at FULL.
fn push_here(device_path: &Path, relay: &CountingRelay, args: &PushArgs) -> anyhow::Result<Pushed> {
    let phone = Store::open(device_path)?;
    ensure!(
        phone.status()?.pending == u64::from(args.visits),
        "the backlog is not pending"
    );
    let transport = HttpTransport::new(&relay.url())?;
    if args.json_pushes {
        transport.send_json_pushes();
    }
    let mut last_answer = None;
    let mut push_requests = 0;
    let run_started = Instant::now();
    let options = SyncOptions {
        max_batch_changes: args.batch as usize,
        ..SyncOptions::default()
    };
    let report = SyncEngine::new(&phone, &transport)
        .with_options(options)
        .run(
            &mut |step| {
                if step.phase == SyncPhase::Push {
                    last_answer = Some(Instant::now());
                    push_requests += 1;
                    eprintln!("bench: pushed {} of {}", step.done, step.total.unwrap_or(0));
                }
            },
            &CancelToken::new(),
        )?;
    let sync_seconds = run_started.elapsed().as_secs_f64();
    ensure!(
        report.pushed == u64::from(args.visits) && phone.status()?.pending == 0,
        "not every visit was applied: {} of {}",
        report.pushed,
        args.visits
    );
    let seconds = match (relay.crossed().first_up, last_answer) {
        (Some(first), Some(last)) => last.duration_since(first).as_secs_f64(),
        _ => sync_seconds,
    };
    Ok(Pushed {
        seconds,
        sync_seconds,
        requests: report.requests,
        push_requests: Some(push_requests),
        peak_rss_bytes: None,
    })
}

/// The push from a child process, the real `doorstep device sync`: its
/// whole run, and its peak resident memory (the kernel's high-water mark,
/// `VmHWM` in `/proc/PID/status`, read every few milliseconds while it
/// runs: the peak comes with every batch, so the last reading holds it).
fn push_in_child(device_path: &Path, batch: u32) -> anyhow::Result<Pushed> {
    #[derive(serde::Deserialize)]
    struct ChildReport {
        pushed: u64,
        requests: u64,
    }
    let pending = Store::open(device_path)?.status()?.pending;
    let started = Instant::now();
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .arg("device")
        .arg("--db")
        .arg(device_path)
        .args(["sync", "--json", "--batch", &batch.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("could not run `doorstep device sync`")?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = None;
    let status = loop {
        if let Some(high_water) = std::fs::read_to_string(&status_file)
            .ok()
            .as_deref()
            .and_then(high_water_mark)
        {
            peak = Some(high_water);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let seconds = started.elapsed().as_secs_f64();
    ensure!(status.success(), "`doorstep device sync` failed: {status}");
    let mut stdout = Vec::new();
    if let Some(mut pipe) = child.stdout.take() {
        std::io::Read::read_to_end(&mut pipe, &mut stdout)?;
    }
    let report: ChildReport = serde_json::from_slice(&stdout)
        .context("`doorstep device sync --json` printed no report")?;
    ensure!(
        report.pushed == pending,
        "not every visit was applied: {} of {pending}",
        report.pushed
    );
    Ok(Pushed {
        seconds,
        sync_seconds: seconds,
        requests: report.requests,
        push_requests: None,
        peak_rss_bytes: peak,
    })
}

/// `VmHWM` of a `/proc/PID/status`, in bytes.
fn high_water_mark(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
