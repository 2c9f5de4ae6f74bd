//! Files and visits over an emulated weak mobile link (50 kbit/s each way,
//! 500 ms round trip; [`doorstep_e2e::link`]) between a real device store
//! and a real server on port 0:
//!
//! - a visit with three 300 KB photos arrives whole through a link cut
//!   every 200 KB: the answers first, then every file, each byte sent about
//!   once (under 1.2× the files' size on the wire, all requests included);
//! - 1,000 visits recorded offline go up before any of their photos (the
//!   seconds they take are printed; docs/benchmarks.md keeps the figure);
//! - the same photo attached twice, or sent again after a cut, is one file
//!   on the phone and one on the server.
//!
//! The killed-process variant runs the real binary: cli/tests/weak_link_kill.rs.

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use doorstep_core::sync::{CancelToken, SyncEngine, SyncPhase};
use doorstep_core::transport::{Endpoint, HttpTimeouts, HttpTransport};
use doorstep_core::{Error, Store};
use doorstep_e2e::link::{LinkShape, WeakLink};
use doorstep_e2e::realistic::{self, Draw};
use doorstep_e2e::{VILLAGE_A, World, sync};

/// Bytes of each photo.
const PHOTO_BYTES: usize = 300 * 1024;

/// Points `device` at `link` (it enrolled and first synced over loopback).
fn through(device: &Store, link: &WeakLink) {
    device
        .set_endpoint(&Endpoint::new(link.url()))
        .expect("the device now goes through the link");
}

/// A visit of household `household` with a photo of each of `photos`.
fn visit_with_photos(device: &Store, household: uuid::Uuid, draw: &mut Draw, photos: &[Vec<u8>]) {
    let mut answers = realistic::answers(draw);
    for (question, bytes) in ["housing_photo", "water_photo", "support_card_photo"]
        .iter()
        .zip(photos)
    {
        let file = device.add_file(bytes, "image/jpeg").expect("photo kept");
        answers.insert((*question).into(), file.sha256.into());
    }
    doorstep_e2e::record_answers(device, household, answers);
}

/// Files the server holds whole: files named by a SHA-256 under its
/// directory, outside the partial uploads.
fn server_files(directory: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![directory.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).expect("read directory").flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|name| name != "partial") {
                    stack.push(path);
                }
            } else if let Some(name) = path.file_name().and_then(|name| name.to_str())
                && doorstep_protocol::is_file_reference(name)
            {
                found.push(name.to_owned());
            }
        }
    }
    found.sort();
    found
}

/// Syncs until a run ends without a transient error; returns the runs.
fn sync_until_done(device: &Store, progress: &Mutex<Vec<(SyncPhase, u64)>>) -> u32 {
    let transport = HttpTransport::connect(
        &device.endpoint().expect("endpoint"),
        HttpTimeouts::default(),
    )
    .expect("transport");
    let engine = SyncEngine::new(device, &transport);
    for run in 1..=60 {
        let result = engine.run(
            &mut |step| {
                progress
                    .lock()
                    .expect("progress")
                    .push((step.phase, step.done));
            },
            &CancelToken::new(),
        );
        match result {
            Ok(_) => return run,
            Err(error) if error.is_transient() => {
                eprintln!("run {run}: {error}");
            }
            Err(error) => panic!("run {run} failed for good: {error}"),
        }
    }
    panic!("sixty runs did not finish");
}

#[test]
fn three_photos_arrive_whole_over_a_weak_link_cut_every_200_kb() {
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let device = world.device(cadre);
    sync(&device).expect("first sync, over loopback");
    let mut draw = Draw::new(12);
    let photos: Vec<Vec<u8>> = (0..3)
        .map(|seed| realistic::photo(PHOTO_BYTES, seed))
        .collect();
    visit_with_photos(&device, world.village_a[0], &mut draw, &photos);
    let status = device.status().expect("status");
    assert_eq!((status.pending, status.files_pending), (1, 3));

    let upstream = world
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let link = WeakLink::start(upstream, LinkShape::weak_2g().with_cuts(200_000)).expect("link");
    through(&device, &link);
    let progress = Mutex::new(Vec::new());
    let runs = sync_until_done(&device, &progress);

    let stats = link.stats();
    let files_size = (3 * PHOTO_BYTES) as u64;
    let ratio = stats.bytes_up as f64 / files_size as f64;
    eprintln!(
        "three 300 KB photos over 50 kbit/s, 500 ms, cut every 200 KB: {runs} runs, {} cuts, {} connections, {} bytes up ({ratio:.3}× the files), {} down",
        stats.cuts, stats.connections, stats.bytes_up, stats.bytes_down
    );
    assert!(stats.cuts >= 4, "the link was cut along the way: {stats:?}");
    assert!(
        ratio < 1.2,
        "each byte sent about once: {} bytes up for {files_size} bytes of files",
        stats.bytes_up
    );

    // The answers went first: no file byte before the push was settled.
    let phases = progress.lock().expect("progress");
    let first_file = phases
        .iter()
        .position(|(phase, _)| *phase == SyncPhase::Files)
        .expect("files went up");
    let last_push = phases
        .iter()
        .rposition(|(phase, _)| *phase == SyncPhase::Push)
        .expect("the visit went up");
    assert!(last_push < first_file, "answers before pictures");

    // Every file arrived whole, once.
    let status = device.status().expect("status");
    assert_eq!(
        (status.pending, status.files_pending, status.bytes_pending),
        (0, 0, 0)
    );
    let mut expected: Vec<String> = photos
        .iter()
        .map(|bytes| device.add_file(bytes, "image/jpeg").expect("named").sha256)
        .collect();
    expected.sort();
    assert_eq!(server_files(world.directory()), expected);
    assert_eq!(world.server_visit_ids().len(), 1);
}

#[test]
fn a_thousand_visits_go_up_over_the_weak_link_before_their_photos() {
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let device = world.device(cadre);
    sync(&device).expect("first sync, over loopback");
    let mut draw = Draw::new(1000);
    for index in 0..1000 {
        let household = world.village_a[index % world.village_a.len()];
        if index % 500 == 0 {
            // Some visits carry photos (small ones: this test measures the
            // visits); they must not hold the others up.
            visit_with_photos(
                &device,
                household,
                &mut draw,
                &[realistic::photo(20_000, index as u64)],
            );
        } else {
            doorstep_e2e::record_answers(&device, household, realistic::answers(&mut draw));
        }
    }
    let upstream = world
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let link = WeakLink::start(upstream, LinkShape::weak_2g()).expect("link");
    through(&device, &link);
    let transport = HttpTransport::connect(
        &device.endpoint().expect("endpoint"),
        HttpTimeouts::default(),
    )
    .expect("transport");
    let started = Instant::now();
    let mut pushed_at = None;
    let mut first_file_at = None;
    let mut bytes_at_push = 0;
    let result = SyncEngine::new(&device, &transport).run(
        &mut |step| match step.phase {
            SyncPhase::Push => {
                pushed_at = Some(started.elapsed());
                bytes_at_push = link.stats().bytes_up + link.stats().bytes_down;
            }
            SyncPhase::Files if first_file_at.is_none() => first_file_at = Some(started.elapsed()),
            _ => {}
        },
        &CancelToken::new(),
    );
    result.expect("the sync ends");
    let pushed_at = pushed_at.expect("the visits went up");
    let first_file_at = first_file_at.expect("then the photos");
    eprintln!(
        "1,000 realistic visits over 50 kbit/s, 500 ms: all on the server after {:.1} s ({bytes_at_push} bytes both ways); first photo byte after {:.1} s; everything after {:.1} s",
        pushed_at.as_secs_f64(),
        first_file_at.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert!(pushed_at <= first_file_at, "visits before photos");
    assert_eq!(world.server_visit_ids().len(), 1000);
    assert_eq!(server_files(world.directory()).len(), 2);
}

#[test]
fn the_same_photo_twice_is_one_file_on_the_phone_and_on_the_server() {
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let device = world.device(cadre);
    sync(&device).expect("first sync");
    let mut draw = Draw::new(2);
    let photo = realistic::photo(PHOTO_BYTES, 7);
    visit_with_photos(
        &device,
        world.village_a[0],
        &mut draw,
        std::slice::from_ref(&photo),
    );
    visit_with_photos(
        &device,
        world.village_a[1],
        &mut draw,
        &[photo.clone(), photo.clone()],
    );
    assert_eq!(device.status().expect("status").files_pending, 1);
    // A second device sends the same photo: the server has it already.
    let other = world.device(cadre);
    sync(&other).expect("first sync of the second device");
    visit_with_photos(
        &other,
        world.village_a[2],
        &mut draw,
        std::slice::from_ref(&photo),
    );
    let first = sync(&device).expect("sync");
    let second = sync(&other).expect("sync");
    assert_eq!((first.files_uploaded, second.files_uploaded), (1, 0));
    assert_eq!(server_files(world.directory()).len(), 1);
    assert_eq!(other.status().expect("status").files_pending, 0);
    // What a device holds of a file the server has is never fetched again.
    match doorstep_core::sync::fetch_file(
        &other,
        &HttpTransport::connect(
            &other.endpoint().expect("endpoint"),
            HttpTimeouts::default(),
        )
        .expect("transport"),
        &"0".repeat(64),
    ) {
        Err(Error::Transport(_)) => {}
        other => panic!("an unknown file is not found: {other:?}"),
    }
}
