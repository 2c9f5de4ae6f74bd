//! Retention on real store files with a clock that moves only when told:
//! what the server holds goes when the policy says, what it does not hold
//! never goes, and the file on disk really shrinks.
//!
//! The upload that sets `files.synced_at` is not part of the store's
//! public surface yet: these tests set it with SQL, as the upload will.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};
use doorstep_protocol::{PROTOCOL_VERSION, PullResponse, PulledChange, VisitRecord};
use uuid::Uuid;

use super::tests::{at, demo_form, fill, new_visit, valid_answers};
use super::tests_files::{add_photo_question, photo};
use super::*;
use crate::clock::ManualClock;
use crate::model::Visit;

const START: &str = "2025-03-01T08:00:00Z";

struct Phone {
    _directory: tempfile::TempDir,
    store: Store,
    clock: Arc<ManualClock>,
}

impl Phone {
    fn new(key: Option<sqlite::DatabaseKey>) -> Phone {
        let directory = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(at(START)));
        let store = Store::open_with(
            directory.path().join("device.db"),
            StoreOptions {
                durability: Durability::Normal,
                clock: clock.clone(),
                key,
                ..StoreOptions::default()
            },
        )
        .unwrap();
        fill(&store);
        add_photo_question(&store);
        Phone {
            _directory: directory,
            store,
            clock,
        }
    }

    fn days(&self, days: i64) {
        self.clock.advance(Duration::days(days));
    }

    /// A photo of `size` bytes, kept.
    fn photo(&self, size: usize, marker: &str) -> FileRef {
        self.store
            .add_file(&photo(size, marker), "image/jpeg")
            .unwrap()
    }

    fn visit(&self, household: u128, file: &FileRef, draft: bool) -> Visit {
        let mut new = new_visit(household, draft);
        new.answers
            .insert("house_photo".into(), file.sha256.as_str().into());
        self.store.record_visit(new).unwrap()
    }

    /// The server accepted every visit pushed so far (the outbox empties).
    fn accept_visits(&self) {
        self.sql("DELETE FROM outbox", &[]);
    }

    /// The server confirmed it holds `file`, now.
    fn synced(&self, file: &FileRef) {
        let now = time_text(self.store.now());
        self.sql(
            "UPDATE files SET synced_at = ?1 WHERE sha256 = ?2",
            &[&now, &file.sha256],
        );
    }

    fn sql(&self, sql: &str, parameters: &[&dyn rusqlite::ToSql]) {
        self.store
            .write(|transaction| {
                transaction.execute(sql, parameters)?;
                Ok(())
            })
            .unwrap();
    }

    fn has(&self, file: &FileRef) -> bool {
        let chunks: i64 = self
            .store
            .read(|connection| {
                Ok(connection.query_row(
                    "SELECT count(*) FROM file_chunks WHERE sha256 = ?1",
                    [&file.sha256],
                    |row| row.get(0),
                )?)
            })
            .unwrap();
        let kept = self.store.file(&file.sha256).unwrap().is_some();
        assert_eq!(kept, chunks > 0, "a file and its chunks go together");
        kept
    }

    fn policy(&self, days: Option<u32>, max_bytes: Option<u64>, visits: Option<u32>) {
        self.store
            .set_retention(&RetentionPolicy {
                synced_files_days: days,
                synced_files_max_bytes: max_bytes,
                visits_per_household: visits,
            })
            .unwrap();
    }

    /// A visit of `household` pulled from the server, recorded at `recorded_at`.
    fn pull_visit(
        &self,
        household: u128,
        recorded_at: DateTime<Utc>,
        file: Option<&FileRef>,
    ) -> Uuid {
        let mut answers = valid_answers();
        if let Some(file) = file {
            answers.insert("house_photo".into(), file.sha256.as_str().into());
        }
        let id = Uuid::now_v7();
        let form = demo_form();
        self.store
            .apply_pull(&PullResponse {
                protocol: PROTOCOL_VERSION,
                scope: None,
                changes: vec![PulledChange::Visit(VisitRecord {
                    id,
                    household_id: Uuid::from_u128(household),
                    cadre_id: Uuid::from_u128(0xc2),
                    device_id: Uuid::from_u128(0xd2),
                    form_id: form.form_id,
                    form_version: form.version,
                    answers,
                    computed: Default::default(),
                    recorded_at,
                    corrects: None,
                    received_at: Some(recorded_at),
                    clock_ahead: false,
                })],
                cursor: 2,
                more: false,
                server_time: self.store.now(),
            })
            .unwrap();
        id
    }
}

#[test]
fn files_the_server_has_not_confirmed_survive_any_policy() {
    let phone = Phone::new(None);
    let files: Vec<FileRef> = (0..3)
        .map(|index| phone.photo(100_000 + index, "HOUSE"))
        .collect();
    for file in &files {
        phone.visit(1, file, false);
    }
    phone.accept_visits();
    phone.days(400);
    phone.policy(Some(0), Some(0), Some(0));
    let report = phone.store.apply_retention().unwrap();
    assert_eq!((report.files_removed, report.bytes_removed), (0, 0));
    assert!(files.iter().all(|file| phone.has(file)));
    assert_eq!(phone.store.storage().unwrap().files_pending, 3);
}

#[test]
fn a_crash_orphan_goes_after_thirty_days_and_not_before() {
    let phone = Phone::new(None);
    // Added, then the app died before the visit naming it was committed.
    let orphan = phone.photo(50_000, "ORPHAN");
    // Named only by a draft: not an orphan, however old.
    let drafted = phone.photo(50_001, "DRAFTED");
    phone.visit(2, &drafted, true);
    phone.days(29);
    assert_eq!(phone.store.apply_retention().unwrap().files_removed, 0);
    assert!(phone.has(&orphan));
    phone.days(2);
    let report = phone.store.apply_retention().unwrap();
    assert_eq!((report.files_removed, report.bytes_removed), (1, 50_000));
    assert!(!phone.has(&orphan));
    assert!(phone.has(&drafted));
}

#[test]
fn synced_files_go_n_days_after_the_server_confirmed_them() {
    let phone = Phone::new(None);
    let early = phone.photo(120_000, "EARLY");
    let late = phone.photo(130_000, "LATE");
    let visit = phone.visit(1, &early, false);
    phone.visit(2, &late, false);
    phone.accept_visits();
    phone.synced(&early);
    phone.days(5);
    phone.synced(&late);
    phone.policy(Some(7), None, None);
    phone.days(2); // early confirmed 7 days ago, late 2
    let report = phone.store.apply_retention().unwrap();
    assert_eq!((report.files_removed, report.bytes_removed), (1, 120_000));
    assert!(!phone.has(&early));
    assert!(phone.has(&late));
    let kept = phone.store.visit(visit.id).unwrap().unwrap();
    assert_eq!(
        kept.answers["house_photo"],
        early.sha256.as_str(),
        "the visit stays, naming the file the server holds"
    );
    phone.days(5);
    assert_eq!(phone.store.apply_retention().unwrap().files_removed, 1);
    assert!(!phone.has(&late));
}

#[test]
fn the_byte_cap_removes_the_oldest_confirmed_first() {
    let phone = Phone::new(None);
    let files: Vec<FileRef> = ["A", "B", "C", "D"]
        .iter()
        .map(|marker| phone.photo(100_000, marker))
        .collect();
    let pending = phone.photo(400_000, "PENDING");
    for file in files.iter().chain([&pending]) {
        phone.visit(1, file, false);
    }
    phone.accept_visits();
    // Confirmed in the order D, A, C, B.
    for index in [3, 0, 2, 1] {
        phone.synced(&files[index]);
        phone.days(1);
    }
    phone.policy(None, Some(250_000), None);
    let report = phone.store.apply_retention().unwrap();
    assert_eq!((report.files_removed, report.bytes_removed), (2, 200_000));
    assert_eq!(
        files.iter().map(|file| phone.has(file)).collect::<Vec<_>>(),
        [false, true, true, false],
        "D and A, the first confirmed, went"
    );
    assert!(
        phone.has(&pending),
        "an unconfirmed file counts for nothing and stays"
    );
    assert_eq!(phone.store.apply_retention().unwrap().files_removed, 0);
}

#[test]
fn files_a_draft_or_an_unaccepted_visit_names_stay() {
    let phone = Phone::new(None);
    let shared = phone.photo(100_000, "SHARED");
    let again = phone.photo(100_001, "AGAIN");
    phone.visit(1, &shared, false);
    phone.visit(1, &again, false);
    phone.accept_visits();
    phone.synced(&shared);
    phone.synced(&again);
    // The same pictures, named again: by a draft, and by a visit still in
    // the outbox.
    let draft = phone.visit(2, &shared, true);
    phone.visit(3, &again, false);
    phone.days(10);
    phone.policy(Some(0), Some(0), Some(0));
    assert_eq!(phone.store.apply_retention().unwrap().files_removed, 0);
    assert!(phone.has(&shared) && phone.has(&again));
    phone.store.finalise_draft(draft.id).unwrap();
    phone.accept_visits();
    let report = phone.store.apply_retention().unwrap();
    assert_eq!(report.files_removed, 2, "accepted, nothing holds them back");
}

#[test]
fn pulled_visits_beyond_the_newest_k_of_a_household_go_and_their_files_with_them() {
    let phone = Phone::new(None);
    let old_photo = phone.photo(80_000, "OLD");
    let new_photo = phone.photo(80_001, "NEW");
    phone.synced(&old_photo);
    phone.synced(&new_photo);
    let base = at("2025-01-01T00:00:00Z");
    let first = phone.pull_visit(1, base, Some(&old_photo));
    let pulled: Vec<Uuid> = (1..5)
        .map(|day| phone.pull_visit(1, base + Duration::days(day), None))
        .collect();
    let newest = phone.pull_visit(1, base + Duration::days(9), Some(&new_photo));
    let other = phone.pull_visit(2, base, None);
    // The cadre's own visit of household 1 is the newest of all.
    let own_photo = phone.photo(80_002, "OWN");
    let own = phone.visit(1, &own_photo, false);
    phone.accept_visits();
    // A correction of an old pulled visit, still a draft: finalising it
    // needs the visit it corrects.
    let mut correction = new_visit(1, true);
    correction.corrects = Some(pulled[0]);
    let correction = phone.store.record_visit(correction).unwrap();
    phone.policy(None, None, Some(3));
    let report = phone.store.apply_retention().unwrap();
    assert_eq!(
        report.visits_removed, 3,
        "household 1 keeps its newest 3, and the one a draft corrects"
    );
    let kept = |id: Uuid| phone.store.visit(id).unwrap().is_some();
    assert!(kept(own.id) && kept(newest) && kept(pulled[3]) && kept(other));
    assert!(kept(pulled[0]) && kept(correction.id));
    assert!(!kept(first) && !kept(pulled[1]) && !kept(pulled[2]));
    assert!(!phone.has(&old_photo), "named by no visit left");
    assert!(phone.has(&new_photo) && phone.has(&own_photo));
    assert_eq!(report.files_removed, 1);
    phone.store.finalise_draft(correction.id).unwrap();
    phone.policy(None, None, Some(0));
    assert_eq!(
        phone.store.apply_retention().unwrap().visits_removed,
        4,
        "every pulled visit; own visits are never purged"
    );
    assert!(kept(own.id) && kept(correction.id));
}

#[test]
fn a_released_households_synced_files_go_and_its_unsynced_ones_stay() {
    let phone = Phone::new(None);
    let sent = phone.photo(90_000, "SENT");
    let unsent = phone.photo(90_001, "UNSENT");
    phone.visit(3, &sent, false);
    phone.visit(3, &unsent, false);
    phone.accept_visits();
    phone.synced(&sent);
    phone.store.release(&[Uuid::from_u128(3)]).unwrap();
    // No policy set: keep for ever, but nothing names these any more.
    let report = phone.store.apply_retention().unwrap();
    assert_eq!((report.files_removed, report.bytes_removed), (1, 90_000));
    assert!(!phone.has(&sent));
    assert!(phone.has(&unsent), "the server has not confirmed it yet");
}

/// Twenty visits with a 300 KB photo each, all accepted and confirmed,
/// then removed: the database and its WAL end several MB smaller.
fn the_file_shrinks(key: Option<sqlite::DatabaseKey>) {
    let phone = Phone::new(key);
    for index in 0..20 {
        let file = phone.photo(300_000 + index, "CAMPAIGN");
        phone.visit(1 + (index as u128 % 3), &file, false);
        phone.synced(&file);
    }
    phone.accept_visits();
    phone.policy(Some(7), None, None);
    sqlite::reclaim_space(&lock(&phone.store.writer)).unwrap();
    let before = phone.store.storage().unwrap();
    assert_eq!(
        before.file_bytes,
        (0..20).map(|index| 300_000 + index).sum::<u64>()
    );
    assert!(before.disk_bytes > before.file_bytes, "{before:?}");
    phone.days(8);
    let report = phone.store.apply_retention().unwrap();
    assert_eq!(report.files_removed, 20);
    let after = phone.store.storage().unwrap();
    assert_eq!((after.files, after.file_bytes), (0, 0));
    assert_eq!(report.bytes_reclaimed, before.disk_bytes - after.disk_bytes);
    assert!(
        after.disk_bytes + before.file_bytes <= before.disk_bytes + 64 * 1024,
        "the space of the files went back: {before:?} → {after:?}"
    );
    assert!(after.free_bytes < 64 * 1024, "{after:?}");
    let on_disk = std::fs::metadata(phone.store.path()).unwrap().len();
    assert!(on_disk <= after.disk_bytes && on_disk > 0);
}

#[test]
fn the_database_file_shrinks_after_retention() {
    the_file_shrinks(None);
}

#[test]
fn an_encrypted_database_file_shrinks_after_retention() {
    the_file_shrinks(Some(sqlite::DatabaseKey::derive(b"keystore").unwrap()));
}

fn auto_vacuum(store: &Store) -> i64 {
    lock(&store.writer)
        .pragma_query_value(None, "auto_vacuum", |row| row.get(0))
        .unwrap()
}

#[test]
fn an_older_store_is_rebuilt_once_to_give_space_back_and_keeps_its_data() {
    let directory = tempfile::tempdir().unwrap();
    let key = sqlite::DatabaseKey::derive(b"keystore").unwrap();
    for (name, key) in [("plain.db", None), ("encrypted.db", Some(key))] {
        let path = directory.path().join(name);
        {
            let connection = rusqlite::Connection::open(&path).unwrap();
            if let Some(key) = &key {
                connection
                    .execute_batch(&format!("PRAGMA key = \"{}\";", key.literal()))
                    .unwrap();
            }
            connection
                .execute_batch(include_str!("fixtures/device_v1.sql"))
                .unwrap();
            let mode: i64 = connection
                .pragma_query_value(None, "auto_vacuum", |row| row.get(0))
                .unwrap();
            assert_eq!(mode, 0, "made as stores were before");
        }
        let options = || StoreOptions {
            key: key.clone(),
            ..StoreOptions::default()
        };
        let store = Store::open_with(&path, options()).unwrap();
        assert_eq!(auto_vacuum(&store), 2, "{name}");
        assert_eq!(
            store.status().unwrap().pending,
            1,
            "{name}: the visit is still queued"
        );
        drop(store);
        let store = Store::open_with(&path, options()).unwrap();
        assert_eq!(auto_vacuum(&store), 2, "{name}");
        if key.is_some() {
            store.rekey(None).unwrap();
            assert_eq!(auto_vacuum(&store), 2, "{name}, decrypted");
        }
    }
}

#[test]
fn storage_reports_what_was_added() {
    let phone = Phone::new(None);
    assert_eq!(
        auto_vacuum(&phone.store),
        2,
        "a new store gives freed space back"
    );
    let empty = phone.store.storage().unwrap();
    assert_eq!((empty.files, empty.visits, empty.households), (0, 0, 3));
    assert_eq!(empty.policy, RetentionPolicy::default());
    let sent = phone.photo(200_000, "SENT");
    let unsent = phone.photo(150_000, "UNSENT");
    phone.photo(10_000, "LOOSE");
    let final_visit = phone.visit(1, &sent, false);
    let draft = phone.visit(2, &unsent, true);
    phone.synced(&sent);
    phone.pull_visit(3, at("2025-01-01T00:00:00Z"), None);
    let policy = RetentionPolicy {
        synced_files_days: Some(7),
        synced_files_max_bytes: Some(50 * 1024 * 1024),
        visits_per_household: Some(5),
    };
    phone.store.set_retention(&policy).unwrap();
    let report = phone.store.storage().unwrap();
    assert_eq!((report.files, report.file_bytes), (3, 360_000));
    assert_eq!((report.files_pending, report.bytes_pending), (2, 160_000));
    assert_eq!(
        (report.visits, report.pulled_visits, report.households),
        (3, 1, 3)
    );
    let answers = |visit: &Visit| {
        serde_json::to_string(&visit.answers).unwrap().len()
            + serde_json::to_string(&visit.computed).unwrap().len()
    };
    let own_bytes = (answers(&final_visit) + answers(&draft)) as u64;
    assert!(
        report.visit_bytes > own_bytes && report.visit_bytes < own_bytes * 2,
        "{report:?}, own visits {own_bytes}"
    );
    assert_eq!(report.policy, policy);
    assert_eq!(phone.store.retention().unwrap(), policy);
    let path = phone.store.path();
    let wal =
        std::fs::metadata(super::lifecycle::sibling(path, "wal")).map_or(0, |meta| meta.len());
    assert_eq!(
        report.disk_bytes,
        std::fs::metadata(path).unwrap().len() + wal
    );
    assert!(report.disk_bytes >= report.file_bytes);
    let json = serde_json::to_value(report).unwrap();
    assert_eq!(json["bytes_pending"], 160_000);
    assert_eq!(json["policy"]["synced_files_days"], 7);
}
