//! A hundred-day campaign on one phone: 30 visits a day, each with two
//! 300 KB photos (incompressible, like JPEGs), synced every evening with a
//! real server, with the retention policy an app would set. The phone's
//! storage for Doorstep (the database, its WAL and shared memory) is
//! measured after every visit and every sync; the peak is printed.
//!
//! Seven days of synced photos alone are 7 × 30 × 2 × 300 KB = 126 MB, more
//! than the 100 MB a phone should give Doorstep: the policy therefore also
//! caps synced files at 60 MiB (oldest confirmed first), and the test
//! asserts the 100 MB bound with both. The campaign with the seven days
//! alone, which shows what the cap is for, is the ignored measurement test
//! below (`cargo test -p doorstep-e2e --test campaign_storage -- --ignored`).

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use doorstep_core::StoreOptions;
use doorstep_core::clock::{Clock, ManualClock};
use doorstep_core::sqlite::Durability;
use doorstep_core::store::RetentionPolicy;
use doorstep_e2e::realistic::{self, Draw};
use doorstep_e2e::{VILLAGE_A, World, sync, sync_when_allowed};

const DAYS: u32 = 100;
const VISITS_PER_DAY: u32 = 30;
const PHOTO_BYTES: usize = 300 * 1024;
/// The most a phone should give Doorstep over a campaign.
const STORAGE_BOUND: u64 = 100 * 1000 * 1000;

/// The bytes of the store's files on disk.
fn on_disk(path: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| {
            std::fs::metadata(format!("{}{suffix}", path.display())).map_or(0, |meta| meta.len())
        })
        .sum()
}

/// What a campaign came to.
#[derive(Debug)]
struct Campaign {
    peak: u64,
    peak_day: u32,
    last: u64,
    photos: u64,
}

fn campaign(policy: &RetentionPolicy) -> Campaign {
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let start: DateTime<Utc> = "2026-09-01T08:00:00Z".parse().expect("a time");
    let clock = Arc::new(ManualClock::new(start));
    let device = world.device_with(
        cadre,
        StoreOptions {
            clock: clock.clone(),
            // Sizes do not depend on fsync; the campaign runs faster.
            durability: Durability::Normal,
            ..StoreOptions::default()
        },
    );
    let path = world.device_path(1);
    sync(&device).expect("first sync");
    device.set_retention(policy).expect("policy set");
    let mut draw = Draw::new(100);
    let mut campaign = Campaign {
        peak: 0,
        peak_day: 0,
        last: 0,
        photos: 0,
    };
    let note = |campaign: &mut Campaign, day: u32| {
        let size = on_disk(&path);
        if size > campaign.peak {
            campaign.peak = size;
            campaign.peak_day = day;
        }
        campaign.last = size;
    };
    for day in 1..=DAYS {
        for visit in 0..VISITS_PER_DAY {
            let mut answers = realistic::answers(&mut draw);
            for question in ["housing_photo", "water_photo"] {
                campaign.photos += 1;
                let photo = realistic::photo(PHOTO_BYTES, campaign.photos);
                let file = device.add_file(&photo, "image/jpeg").expect("photo kept");
                answers.insert(question.into(), file.sha256.into());
            }
            let household = world.village_a[visit as usize % world.village_a.len()];
            doorstep_e2e::record_answers(&device, household, answers);
            note(&mut campaign, day);
            clock.advance(Duration::minutes(15));
        }
        // The evening: back in signal, everything goes up, retention runs
        // (waiting as the app would when the server says it is busy: over
        // loopback, a day's photos go faster than a device's rate).
        sync_when_allowed(&device).expect("the evening's sync");
        let status = device.status().expect("status");
        assert_eq!((status.pending, status.files_pending), (0, 0), "day {day}");
        note(&mut campaign, day);
        let next_morning = start + Duration::days(i64::from(day));
        let now = clock.now();
        clock.advance(next_morning - now);
    }
    let storage = device.storage().expect("storage");
    eprintln!(
        "{DAYS} days × {VISITS_PER_DAY} visits × 2 photos of {PHOTO_BYTES} B, policy {policy:?}: peak {:.1} MB on day {}, {:.1} MB at the end ({} files, {:.1} MB of them, {} visits kept)",
        campaign.peak as f64 / 1e6,
        campaign.peak_day,
        campaign.last as f64 / 1e6,
        storage.files,
        storage.file_bytes as f64 / 1e6,
        storage.visits,
    );
    campaign
}

#[test]
fn a_hundred_day_campaign_keeps_the_phone_under_100_mb() {
    let campaign = campaign(&RetentionPolicy {
        synced_files_days: Some(7),
        synced_files_max_bytes: Some(60 * 1024 * 1024),
        visits_per_household: Some(20),
    });
    assert_eq!(campaign.photos, u64::from(DAYS * VISITS_PER_DAY * 2));
    assert!(
        campaign.peak < STORAGE_BOUND,
        "peak {} bytes on day {}",
        campaign.peak,
        campaign.peak_day
    );
    // Without retention the photos alone would be 1.8 GB.
    assert!(campaign.last < STORAGE_BOUND);
}

#[test]
#[ignore = "a measurement (about as long as the test above): the peak with seven days of synced photos and no byte cap"]
fn the_same_campaign_with_seven_days_alone() {
    let campaign = campaign(&RetentionPolicy {
        synced_files_days: Some(7),
        synced_files_max_bytes: None,
        visits_per_household: Some(20),
    });
    assert!(campaign.peak > 0);
}
