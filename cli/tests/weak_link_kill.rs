//! The real binary over an emulated weak link (50 kbit/s each way, 500 ms
//! round trip, the connection cut every 200 KB; `doorstep_e2e::link`): a
//! visit with three 300 KB photos, recorded with `device visit --file`,
//! reaches a real `doorstep serve` whole although the syncing process is
//! SIGKILLed in the middle of the upload. The server shows the visit with
//! its files pending as soon as the answers arrive; every byte goes up
//! about once (under 1.2× the photos' size on the wire, all requests
//! included): what reached the server before the kill is never sent again.
#![cfg(unix)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use doorstep_e2e::link::{LinkShape, WeakLink};
use serde_json::Value;

mod common;

use common::{ANSWERS, Shell};

const PHOTO_BYTES: usize = 300 * 1024;
/// Exit code of a sync that could not finish for a transient reason.
const EXIT_UNREACHABLE: i32 = 3;

/// A link fast enough not to matter, for enrolment and the first sync.
fn fast() -> LinkShape {
    LinkShape {
        up_bytes_per_sec: 50_000_000,
        down_bytes_per_sec: 50_000_000,
        one_way_delay: Duration::from_millis(1),
        cut_every: None,
    }
}

#[test]
fn photos_arrive_whole_over_a_cut_weak_link_after_the_sync_is_killed_mid_upload() {
    let shell = Shell::new();
    let code = shell.county();
    let server = shell.serve("127.0.0.1:0");
    let upstream = server
        .listen_address()
        .parse()
        .expect("the server's address");
    let link = WeakLink::start(upstream, fast()).expect("link");
    let device = |rest: &[&str]| -> Vec<String> {
        let mut args = vec!["device".to_string(), "--db".into(), "phone.db".into()];
        args.extend(rest.iter().map(|arg| (*arg).to_string()));
        args
    };
    let run = |args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        shell.ok(&args)
    };
    run(&device(&[
        "enroll",
        "--server",
        &link.url(),
        "--code",
        &code,
    ]));
    run(&device(&["sync"]));
    let households: Value =
        serde_json::from_str(&run(&device(&["households", "--json"]))).expect("JSON");
    let household = households[0]["id"]
        .as_str()
        .expect("a household")
        .to_string();
    std::fs::write(shell.path("answers.json"), ANSWERS).expect("answers");
    let mut photos = Vec::new();
    for (index, name) in ["house.jpg", "water.jpg", "card.jpg"].iter().enumerate() {
        let bytes = doorstep_e2e::realistic::photo(PHOTO_BYTES, 40 + index as u64);
        std::fs::write(shell.path(name), &bytes).expect("photo");
        photos.push(bytes);
    }
    run(&device(&[
        "visit",
        "--household",
        &household,
        "--answers",
        "answers.json",
        "--file",
        "housing_photo=house.jpg",
        "--file",
        "water_photo=water.jpg",
        "--file",
        "support_card_photo=card.jpg",
    ]));
    let status: Value = serde_json::from_str(&run(&device(&["status", "--json"]))).expect("JSON");
    assert_eq!(status["files_pending"], 3);
    assert_eq!(status["bytes_pending"], 3 * PHOTO_BYTES);

    // The weak link, cut every 200 KB; a sync killed once 350 KB went up.
    link.set_shape(LinkShape::weak_2g().with_cuts(200_000));
    let before = link.stats();
    let args = device(&["sync"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let spawn = || {
        shell
            .command(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sync starts")
    };
    let mut syncing = spawn();
    let started = Instant::now();
    let mut killed = false;
    while started.elapsed() < Duration::from_secs(600) {
        if syncing.try_wait().expect("wait").is_some() {
            // A cut ended this run before the kill: start another.
            syncing = spawn();
        } else if link.stats().bytes_up - before.bytes_up > 350_000 {
            syncing.kill().expect("SIGKILL");
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = syncing.kill();
    syncing.wait().expect("reaped");
    assert!(killed, "the sync was killed mid-upload");

    // The answers are on the server, their files pending.
    let missing: Value =
        serde_json::from_str(&shell.ok(&["admin", "files", "--missing", "--json"])).expect("JSON");
    let missing = missing.as_array().expect("a list");
    assert_eq!(missing.len(), 1, "{missing:?}");
    let waiting = missing[0]["missing"].as_array().expect("references").len();
    assert!((1..=3).contains(&waiting), "{missing:?}");

    // Sync again until done: the upload resumes where the server stands.
    let mut runs = 0;
    loop {
        runs += 1;
        assert!(runs <= 60, "sixty runs did not finish");
        let output = shell.run(&args);
        if output.status.success() {
            break;
        }
        assert_eq!(
            output.status.code(),
            Some(EXIT_UNREACHABLE),
            "only the link may fail: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stats = link.stats();
    let up = stats.bytes_up - before.bytes_up;
    let ratio = up as f64 / (3 * PHOTO_BYTES) as f64;
    eprintln!(
        "killed once, then {runs} runs; {} cuts; {up} bytes up for {} bytes of photos ({ratio:.3}×)",
        stats.cuts - before.cuts,
        3 * PHOTO_BYTES
    );
    assert!(stats.cuts > before.cuts, "the link was cut");
    assert!(ratio < 1.2, "each byte about once: {up} bytes up");
    let missing: Value =
        serde_json::from_str(&shell.ok(&["admin", "files", "--missing", "--json"])).expect("JSON");
    assert_eq!(missing, serde_json::json!([]));
    let status: Value = serde_json::from_str(&run(&device(&["status", "--json"]))).expect("JSON");
    assert_eq!(
        (status["files_pending"].clone(), status["pending"].clone()),
        (0.into(), 0.into())
    );

    // The export names the photos and copies them whole.
    shell.ok(&[
        "admin",
        "export",
        "visits",
        "--format",
        "jsonl",
        "--out",
        "visits.jsonl",
        "--files",
        "photos",
    ]);
    let mut copied: Vec<Vec<u8>> = std::fs::read_dir(shell.path("photos"))
        .expect("the photos directory")
        .map(|entry| std::fs::read(entry.expect("entry").path()).expect("photo"))
        .collect();
    copied.sort();
    photos.sort();
    assert_eq!(copied, photos, "the three photos, byte for byte");
}
