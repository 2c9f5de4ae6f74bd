//! The pull watermark under concurrent writers: a change that commits while
//! a device is paging through the log is never skipped and never repeated.
//!
//! `ServerStore::pull` reads a page and the log position (`end`, from
//! `sqlite_sequence`) in one read transaction, and a page that is not
//! followed by `more` moves the device's cursor to `end`. If `end` were read
//! from a newer state than the page (outside the snapshot), the cursor
//! would jump over changes that committed in between, and the device would
//! never receive them. Here several devices push small batches of visits on
//! their own threads (and an operator re-imports households from a second
//! store on the same file, as `doorstep admin` does from another process)
//! while devices of another cadre pull with small pages in a loop. Every
//! reader must end up with every visit of its village exactly once, and
//! the latest version of every household, with a cursor that only moved
//! forward.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use chrono::Utc;
use doorstep_e2e::{DEMO_FORM, answers};
use doorstep_forms::Form;
use doorstep_protocol::{
    Answers, AreaLevel, AreaRecord, Change, HouseholdRecord, Mutation, Outcome, PullQuery,
    PulledChange, VisitRecord, scope_digest,
};
use doorstep_server::ServerStore;
use doorstep_server::store::{AssignmentTarget, DeviceAuth};
use uuid::Uuid;

/// The readers' village; the writers' cadre has it and `OTHER_VILLAGE`.
const VILLAGE: &str = "530626104201";
const OTHER_VILLAGE: &str = "530626104202";

const WRITERS: usize = 4;
const BATCHES_PER_WRITER: usize = 40;
/// Page sizes of the readers, one reader each: small, so that a reader
/// pages while writers commit, and reaches the end of the log (`more ==
/// false`, where the watermark matters) many times.
const READER_LIMITS: [u32; 3] = [1, 3, 8];
/// Re-imports of the village's households by the operator, each changing
/// every household (its older log entry is deleted, a new one appended).
const IMPORT_ROUNDS: usize = 25;
/// Whatever happens, the readers give up after this long.
const READER_DEADLINE: Duration = Duration::from_secs(120);

/// The visits one writer got `applied`, with their households.
#[derive(Debug, Default)]
struct Written {
    applied: Vec<(Uuid, Uuid)>,
    pushes: usize,
    replays: usize,
}

/// What one reader saw.
#[derive(Debug)]
struct Seen {
    limit: u32,
    /// Every visit id pulled, in order, repeats included.
    visits: Vec<Uuid>,
    /// Every visit pulled, by id: its household.
    visit_households: HashMap<Uuid, Uuid>,
    /// The newest version of each household pulled, and that record.
    households: BTreeMap<Uuid, HouseholdRecord>,
    cursor: u64,
    pages: usize,
    /// Pages answered with `more == false` while the writers were running:
    /// the reader had caught up with a log that was still growing.
    caught_up_while_writing: usize,
    /// Pages with at least one visit, pulled while the writers were running.
    visits_while_writing: usize,
}

#[test]
fn pulls_skip_nothing_and_repeat_nothing_while_devices_push() {
    let started = Instant::now();
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("server.db");
    let store = Arc::new(ServerStore::open(&path).expect("server store"));
    let village: Vec<Uuid> = (0..6).map(|_| Uuid::now_v7()).collect();
    let other_village: Vec<Uuid> = (0..2).map(|_| Uuid::now_v7()).collect();
    let mut households: Vec<HouseholdRecord> = village
        .iter()
        .map(|id| household(*id, VILLAGE, 0))
        .collect();
    households.extend(
        other_village
            .iter()
            .map(|id| household(*id, OTHER_VILLAGE, 0)),
    );
    store
        .import_households(&areas(), &households)
        .expect("import households");
    let definition: serde_json::Value = serde_json::from_str(DEMO_FORM).expect("demo form JSON");
    let form = Form::from_definition(&definition).expect("demo form");
    assert!(store.publish_form(&form).expect("publish the demo form"));

    let writer_cadre = store.add_cadre("采集员").expect("writer cadre");
    for target in [VILLAGE, OTHER_VILLAGE] {
        store
            .assign(writer_cadre, &AssignmentTarget::Village(target.into()))
            .expect("assign the writers' villages");
    }
    let reader_cadre = store.add_cadre("查看员").expect("reader cadre");
    store
        .assign(reader_cadre, &AssignmentTarget::Village(VILLAGE.into()))
        .expect("assign the readers' village");
    let writers: Vec<DeviceAuth> = (0..WRITERS)
        .map(|_| enrolled(&store, writer_cadre))
        .collect();
    let readers: Vec<DeviceAuth> = READER_LIMITS
        .iter()
        .map(|_| enrolled(&store, reader_cadre))
        .collect();

    let writing = Arc::new(AtomicBool::new(true));
    // Writers, the operator and readers start together.
    let barrier = Arc::new(Barrier::new(WRITERS + 1 + READER_LIMITS.len()));

    let writer_threads: Vec<_> = writers
        .iter()
        .enumerate()
        .map(|(number, auth)| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            let auth = *auth;
            let village = village.clone();
            let other_village = other_village.clone();
            thread::Builder::new()
                .name(format!("writer-{number}"))
                .spawn(move || write(&store, auth, &barrier, number, &village, &other_village))
                .expect("spawn a writer")
        })
        .collect();
    let operator_thread = {
        let barrier = Arc::clone(&barrier);
        let path = path.clone();
        let village = village.clone();
        thread::Builder::new()
            .name("operator".into())
            .spawn(move || reimport(&path, &barrier, &village))
            .expect("spawn the operator")
    };
    let reader_threads: Vec<_> = readers
        .iter()
        .zip(READER_LIMITS)
        .enumerate()
        .map(|(number, (auth, limit))| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            let writing = Arc::clone(&writing);
            let auth = *auth;
            thread::Builder::new()
                .name(format!("reader-{number}"))
                .spawn(move || read(&store, auth, limit, &barrier, &writing))
                .expect("spawn a reader")
        })
        .collect();

    let written: Vec<Written> = writer_threads
        .into_iter()
        .map(|handle| handle.join().expect("a writer panicked"))
        .collect();
    let imports = operator_thread.join().expect("the operator panicked");
    writing.store(false, Ordering::SeqCst);
    let seen: Vec<Seen> = reader_threads
        .into_iter()
        .map(|handle| handle.join().expect("a reader panicked"))
        .collect();

    // What the server holds, read once everything is quiet.
    let mut stored = BTreeSet::new();
    store
        .export_visits(&mut |visit| {
            assert!(stored.insert(visit.id), "visit {} stored twice", visit.id);
            Ok(())
        })
        .expect("export visits");
    let applied: BTreeMap<Uuid, Uuid> = written
        .iter()
        .flat_map(|written| written.applied.iter().copied())
        .collect();
    let applied_count: usize = written.iter().map(|written| written.applied.len()).sum();
    assert_eq!(applied.len(), applied_count, "a visit id applied twice");
    assert_eq!(
        applied.keys().copied().collect::<BTreeSet<_>>(),
        stored,
        "the server stores exactly the visits it answered `applied` for"
    );
    let expected: BTreeSet<Uuid> = applied
        .iter()
        .filter(|(_, household)| village.contains(household))
        .map(|(visit, _)| *visit)
        .collect();
    assert!(
        expected.len() < applied.len(),
        "some visits are outside the readers' village"
    );
    // The truth about the log, read from scratch by a device of the readers'
    // cadre that pulled nothing so far, in one page.
    let fresh = enrolled(&store, reader_cadre);
    let full = store
        .pull(
            fresh,
            &PullQuery {
                cursor: 0,
                scope: None,
                limit: Some(5000),
                pending: None,
            },
            Utc::now(),
        )
        .expect("a full pull");
    assert!(!full.more, "the whole log fits in one page");
    let full_visits: BTreeSet<Uuid> = full
        .changes
        .iter()
        .filter_map(|change| match change {
            PulledChange::Visit(visit) => Some(visit.id),
            _ => None,
        })
        .collect();
    assert_eq!(
        full_visits, expected,
        "a quiet pull from 0 brings every visit of the village"
    );
    let latest: BTreeMap<Uuid, HouseholdRecord> = full
        .changes
        .iter()
        .filter_map(|change| match change {
            PulledChange::Household(household) => Some((household.id, household.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        latest.keys().copied().collect::<BTreeSet<_>>(),
        village.iter().copied().collect::<BTreeSet<_>>()
    );
    for household in latest.values() {
        assert_eq!(
            household.version,
            1 + imports as u64,
            "household {} has its last import's version",
            household.id
        );
    }

    let pushes: usize = written.iter().map(|written| written.pushes).sum();
    let replays: usize = written.iter().map(|written| written.replays).sum();
    eprintln!(
        "{WRITERS} writers: {pushes} pushes ({replays} replays), {} visits applied, {} in the readers' village; {imports} imports; log position {}",
        applied.len(),
        expected.len(),
        full.cursor
    );
    for (number, seen) in seen.iter().enumerate() {
        eprintln!(
            "reader {number} (limit {}): {} pages, {} visits, {} pages caught up while writers ran, {} pages with visits while writers ran, cursor {}",
            seen.limit,
            seen.pages,
            seen.visits.len(),
            seen.caught_up_while_writing,
            seen.visits_while_writing,
            seen.cursor
        );
    }

    for (number, seen) in seen.iter().enumerate() {
        let mut counts: HashMap<Uuid, usize> = HashMap::new();
        for visit in &seen.visits {
            *counts.entry(*visit).or_default() += 1;
        }
        let repeated: Vec<(&Uuid, &usize)> =
            counts.iter().filter(|(_, count)| **count > 1).collect();
        assert!(
            repeated.is_empty(),
            "reader {number} (limit {}) got visits more than once: {repeated:?}",
            seen.limit
        );
        let got: BTreeSet<Uuid> = counts.keys().copied().collect();
        let missing: Vec<&Uuid> = expected.difference(&got).collect();
        let extra: Vec<&Uuid> = got.difference(&expected).collect();
        assert!(
            missing.is_empty(),
            "reader {number} (limit {}) skipped {} of {} visits: {missing:?}",
            seen.limit,
            missing.len(),
            expected.len()
        );
        assert!(
            extra.is_empty(),
            "reader {number} (limit {}) got visits that are not its village's: {extra:?}",
            seen.limit
        );
        for (visit, household) in &seen.visit_households {
            assert!(
                village.contains(household),
                "reader {number} got visit {visit} of household {household}, outside its scope"
            );
        }
        assert_eq!(
            &seen.households, &latest,
            "reader {number} (limit {}) ends with the latest version of every household",
            seen.limit
        );
        assert_eq!(
            seen.cursor, full.cursor,
            "reader {number} (limit {}) ends at the end of the log",
            seen.limit
        );
    }
    let interleaved: usize = seen.iter().map(|seen| seen.visits_while_writing).sum();
    let caught_up: usize = seen.iter().map(|seen| seen.caught_up_while_writing).sum();
    assert!(
        interleaved > 0 && caught_up > 0,
        "the readers pulled visits and reached the end of the log while the writers ran \
         ({interleaved} pages with visits, {caught_up} caught up): the test really was concurrent"
    );
    eprintln!("took {:.2?}", started.elapsed());
}

/// One writer device: batches of one to four visits, most for the readers'
/// village, every fourth for the other one; every tenth batch is sent again
/// (a lost answer) and must be all duplicates.
fn write(
    store: &ServerStore,
    auth: DeviceAuth,
    barrier: &Barrier,
    number: usize,
    village: &[Uuid],
    other_village: &[Uuid],
) -> Written {
    let mut written = Written::default();
    let mut seq = 0_u64;
    let mut visits = 0_usize;
    let mut position = 0_u64;
    barrier.wait();
    for batch in 0..BATCHES_PER_WRITER {
        let size = 1 + (batch + number) % 4;
        let mut sent = Vec::with_capacity(size);
        let changes: Vec<Change> = (0..size)
            .map(|_| {
                seq += 1;
                visits += 1;
                let household = if visits.is_multiple_of(4) {
                    other_village[visits % other_village.len()]
                } else {
                    village[(visits + number) % village.len()]
                };
                let visit = visit(auth, household, visits);
                sent.push((visit.id, household));
                Change {
                    seq,
                    mutation: Mutation::Visit(visit),
                }
            })
            .collect();
        let (results, after) = store
            .push(auth, &changes, None, Utc::now())
            .expect("a push succeeds");
        written.pushes += 1;
        assert_eq!(results.len(), changes.len(), "one result per change");
        for ((change, result), sent) in changes.iter().zip(&results).zip(&sent) {
            assert_eq!(result.seq, change.seq);
            assert_eq!(
                result.outcome,
                Outcome::Applied,
                "writer {number}: a valid visit is applied"
            );
            written.applied.push(*sent);
        }
        assert!(
            after > position,
            "writer {number}: the log position grows with every applied push ({position} -> {after})"
        );
        position = after;
        if batch % 10 == 9 {
            let (replayed, after) = store
                .push(auth, &changes, None, Utc::now())
                .expect("a replayed push succeeds");
            written.pushes += 1;
            written.replays += 1;
            assert!(
                replayed
                    .iter()
                    .all(|result| result.outcome == Outcome::Duplicate),
                "writer {number}: a replay is all duplicates: {replayed:?}"
            );
            assert!(after >= position, "the log position never goes back");
            position = after;
        }
    }
    written
}

/// The operator, through its own store on the same file (as `doorstep
/// admin` from another process): re-imports the village's households with
/// a new phone number, again and again. Returns the rounds done.
fn reimport(path: &Path, barrier: &Barrier, village: &[Uuid]) -> usize {
    let store = ServerStore::open(path).expect("the operator's store");
    barrier.wait();
    for round in 1..=IMPORT_ROUNDS {
        let households: Vec<HouseholdRecord> = village
            .iter()
            .map(|id| household(*id, VILLAGE, round))
            .collect();
        let report = store
            .import_households(&[], &households)
            .expect("a re-import succeeds");
        assert_eq!(report.updated as usize, village.len(), "{report:?}");
        thread::sleep(Duration::from_millis(5));
    }
    IMPORT_ROUNDS
}

/// One reader device: pulls pages of `limit` until the writers are done and
/// a pull that started after that says there is nothing more.
fn read(
    store: &ServerStore,
    auth: DeviceAuth,
    limit: u32,
    barrier: &Barrier,
    writing: &AtomicBool,
) -> Seen {
    let mut seen = Seen {
        limit,
        visits: Vec::new(),
        visit_households: HashMap::new(),
        households: BTreeMap::new(),
        cursor: 0,
        pages: 0,
        caught_up_while_writing: 0,
        visits_while_writing: 0,
    };
    let mut digest: Option<String> = None;
    let deadline = Instant::now() + READER_DEADLINE;
    barrier.wait();
    loop {
        assert!(
            Instant::now() < deadline,
            "reader (limit {limit}) still pulling after {READER_DEADLINE:?}"
        );
        // Read before the pull: a pull that starts after the writers are
        // done sees all of their changes.
        let still_writing = writing.load(Ordering::SeqCst);
        let page = store
            .pull(
                auth,
                &PullQuery {
                    cursor: seen.cursor,
                    scope: digest.clone(),
                    limit: Some(limit),
                    pending: None,
                },
                Utc::now(),
            )
            .expect("a pull succeeds");
        seen.pages += 1;
        match (&digest, &page.scope) {
            (None, Some(scope)) => digest = Some(scope_digest(scope)),
            (None, None) => panic!("the first pull of a device lists its scope"),
            (Some(_), Some(scope)) => {
                panic!("the scope did not change, yet the server sent it again: {scope:?}")
            }
            (Some(_), None) => {}
        }
        assert!(
            page.changes.len() <= limit as usize,
            "a page holds at most `limit` changes"
        );
        assert!(
            page.cursor >= seen.cursor,
            "the cursor went back: {} -> {}",
            seen.cursor,
            page.cursor
        );
        if page.more {
            assert!(
                page.cursor > seen.cursor && !page.changes.is_empty(),
                "a page with `more` moves the cursor and carries changes"
            );
        }
        let mut had_visits = false;
        for change in &page.changes {
            match change {
                PulledChange::Visit(visit) => {
                    had_visits = true;
                    seen.visits.push(visit.id);
                    seen.visit_households.insert(visit.id, visit.household_id);
                }
                PulledChange::Household(household) => {
                    let newer = seen
                        .households
                        .get(&household.id)
                        .is_none_or(|known| known.version <= household.version);
                    assert!(
                        newer,
                        "household {} went back to version {}",
                        household.id, household.version
                    );
                    seen.households.insert(household.id, household.clone());
                }
                _ => {}
            }
        }
        seen.cursor = page.cursor;
        if still_writing {
            if had_visits {
                seen.visits_while_writing += 1;
            }
            if !page.more {
                seen.caught_up_while_writing += 1;
                // Caught up: let the writers get ahead a little.
                thread::yield_now();
            }
        } else if !page.more && page.changes.is_empty() {
            return seen;
        }
    }
}

fn enrolled(store: &ServerStore, cadre: Uuid) -> DeviceAuth {
    let code = store.enroll_code(cadre).expect("enrolment code");
    let response = store
        .enroll(&code.code, Some("test device"), None, None, Utc::now())
        .expect("enrol");
    store
        .authenticate(&response.token, Utc::now())
        .expect("authenticate")
}

fn visit(auth: DeviceAuth, household: Uuid, number: usize) -> VisitRecord {
    VisitRecord {
        id: Uuid::now_v7(),
        household_id: household,
        cadre_id: auth.cadre_id,
        device_id: auth.device_id,
        form_id: "household_check".into(),
        form_version: demo_form_version(),
        answers: answers(1 + (number % 3) as i64),
        computed: Answers::default(),
        recorded_at: Utc::now(),
        corrects: None,
        received_at: None,
        clock_ahead: false,
    }
}

fn demo_form_version() -> String {
    let definition: serde_json::Value = serde_json::from_str(DEMO_FORM).expect("demo form JSON");
    definition["version"]
        .as_str()
        .expect("the demo form has a version")
        .to_string()
}

fn areas() -> Vec<AreaRecord> {
    let area = |code: &str, level, parent: Option<&str>| AreaRecord {
        code: code.into(),
        name: format!("area {code}"),
        level,
        parent_code: parent.map(Into::into),
    };
    vec![
        area("530626", AreaLevel::County, None),
        area("530626104", AreaLevel::Township, Some("530626")),
        area(VILLAGE, AreaLevel::Village, Some("530626104")),
        area(OTHER_VILLAGE, AreaLevel::Village, Some("530626104")),
    ]
}

/// A household; `round` changes its phone number (each re-import is a new
/// version).
fn household(id: Uuid, village: &str, round: usize) -> HouseholdRecord {
    HouseholdRecord {
        id,
        village_code: village.into(),
        head_name: "喻兰".into(),
        id_card_suffix: "123X".into(),
        group: "1组".into(),
        members: 3,
        phone: format!("138{round:08}"),
        address: "1组1号".into(),
        lat: None,
        lon: None,
        category: "general".into(),
        version: 0,
    }
}
