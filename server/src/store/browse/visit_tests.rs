//! A household's visits on both backends: its page (record, field history,
//! visits with their corrections) and the export's filters, the export
//! paged on PostgreSQL.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use doorstep_protocol::{Change, Hlc, HouseholdEdit, HouseholdField, Mutation, Outcome};
use serde_json::json;
use uuid::Uuid;

use super::tests::{Visited, id, imported, not_found, township, visited};
use super::*;
use crate::store::testing::on_both_backends;
use crate::store::tests::{form, visit_change};
use crate::store::{FileRecord, ServerStore, VisitFilter};

const COUNTY: &str = "530626";
const TOWNSHIP: &str = "530626104";
const OTHER_TOWNSHIP: &str = "530626105";
const V1: &str = "530626104201";
const V2: &str = "530626104202";
const V3: &str = "530626105201";
const STORED: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const MISSING: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// [`visited`], then a minute later a correction of household 1's visit
/// (a day ago), a visit of form version 2 to household 6 (now) and an edit
/// of household 1's phone. Returns the visits as (household, id, received)
/// in the order an export gives them.
fn with_corrections(store: &ServerStore) -> (Visited, Vec<(u128, Uuid)>) {
    let visited = visited(store);
    let Visited { auth, now, .. } = visited;
    store.publish_form(&form("2", "second")).unwrap();
    let mut correction = visit_change(auth, 5, 1, "1", now - Duration::days(1));
    if let Mutation::Visit(visit) = &mut correction.mutation {
        visit.corrects = Some(visited.visits[0].2);
    }
    let second_version = visit_change(auth, 6, 6, "2", now);
    let edit = Change {
        seq: 7,
        mutation: Mutation::Household(HouseholdEdit {
            id: Uuid::now_v7(),
            household_id: id(1),
            base_version: 1,
            fields: BTreeMap::from([(HouseholdField::Phone, json!("13900000001"))]),
            hlc: Hlc(1 << 16),
        }),
    };
    let later = now + Duration::minutes(1);
    let (results, _) = store
        .push(
            auth,
            &[correction.clone(), second_version.clone(), edit],
            None,
            later,
        )
        .unwrap();
    assert!(
        results
            .iter()
            .all(|result| result.outcome == Outcome::Applied),
        "{results:?}"
    );
    // Received at `now`, then at `later`; ties by id.
    let visit_id = |change: &Change| match &change.mutation {
        Mutation::Visit(visit) => visit.id,
        _ => unreachable!("a visit"),
    };
    let mut first: Vec<(u128, Uuid)> = visited
        .visits
        .iter()
        .map(|(household, _, id)| (*household, *id))
        .collect();
    let mut second = vec![(1, visit_id(&correction)), (6, visit_id(&second_version))];
    first.sort_by_key(|(_, id)| id.to_string());
    second.sort_by_key(|(_, id)| id.to_string());
    first.extend(second);
    (visited, first)
}

type Exported = Vec<(Uuid, Option<String>, u64)>;

/// The visits an export hands out: id, village, files missing; read
/// `page` at a time on PostgreSQL.
fn exported(store: &ServerStore, filter: &VisitFilter, page: i64) -> StoreResult<Exported> {
    let mut seen = Vec::new();
    let count = store.export_visits_paged(
        filter,
        &mut |visit, village, missing| {
            seen.push((visit.id, village.map(str::to_owned), missing));
            Ok(())
        },
        page,
    )?;
    assert_eq!(count, seen.len() as u64);
    Ok(seen)
}

fn ids(exported: &Exported) -> Vec<Uuid> {
    exported.iter().map(|(id, _, _)| *id).collect()
}

/// The ids of `order` for the households `households`, in that order.
fn of(order: &[(u128, Uuid)], households: &[u128]) -> Vec<Uuid> {
    order
        .iter()
        .filter(|(household, _)| households.contains(household))
        .map(|(_, id)| *id)
        .collect()
}

on_both_backends! {
#[test]
fn a_household_page_shows_its_record_history_and_visits() {
    let (_database, store) = imported();
    let (Visited { auth, visits, .. }, _) = with_corrections(&store);
    let page = store.household_page(&Scope::All, id(1), "zh-CN").unwrap();
    assert_eq!(
        (page.record.head_name.as_str(), page.record.phone.as_str(), page.record.version),
        ("喻兰", "13900000001", 2)
    );
    assert_eq!(
        page.path.iter().map(|node| node.code.as_str()).collect::<Vec<_>>(),
        [COUNTY, TOWNSHIP, V1]
    );
    let device = auth.device_id.to_string()[..8].to_owned();
    assert_eq!(page.history.len(), 1);
    let change = &page.history[0];
    assert_eq!(
        (change.field.as_str(), &change.value, change.version),
        ("phone", &json!("13900000001"), 2)
    );
    assert_eq!(
        (change.cadre.as_deref(), change.device.as_deref()),
        (Some("测试"), Some(device.as_str()))
    );

    // Newest first; a correction and the visit it corrects name each other.
    assert_eq!(page.visit_count, 2);
    let original = visits[0].2.to_string();
    let [newer, older] = &page.visits[..] else {
        panic!("two visits");
    };
    assert_eq!(newer.corrects.as_deref(), Some(original.as_str()));
    assert!(newer.corrected_by.is_empty());
    assert_eq!(older.id, original);
    assert_eq!(older.corrected_by, std::slice::from_ref(&newer.id));
    assert!(older.recorded_at < newer.recorded_at);
    assert_eq!((older.cadre.as_str(), older.device.as_str()), ("测试", device.as_str()));
    assert_eq!(older.form, "first (1)");
    assert!(
        older
            .answers
            .iter()
            .any(|line| line.value.as_deref() == Some("喻兰")),
        "the answers, under the form's labels"
    );
    let english = store.household_page(&Scope::All, id(1), "en").unwrap();
    assert_eq!(english.visits.len(), 2);
    assert_ne!(english.visits[1].answers, older.answers, "labels in English");

    let unvisited = store.household_page(&township(), id(3), "zh-CN").unwrap();
    assert_eq!(
        (unvisited.visit_count, unvisited.visits.len(), unvisited.history.len()),
        (0, 0, 0)
    );
    assert_eq!(unvisited.path.len(), 2, "from the top of the scope");
    assert!(not_found(store.household_page(&township(), id(6), "zh-CN")));
    assert!(not_found(store.household_page(&Scope::All, id(99), "zh-CN")));
}

#[test]
fn exports_take_their_filters_and_read_in_pages() {
    let (_database, store) = imported();
    let (Visited { now, visits, .. }, order) = with_corrections(&store);
    // Household 2's visit names a file that arrived and one that did not;
    // household 6's first visit the one that arrived.
    store
        .write(|tx| {
            for (visit, sha256) in [(visits[1].2, STORED), (visits[1].2, MISSING), (visits[3].2, STORED)] {
                tx.execute(
                    "INSERT INTO visit_files (visit_id, sha256) VALUES (?1, ?2)",
                    &[&visit, &sha256],
                )?;
            }
            Ok(())
        })
        .unwrap();
    let file = FileRecord {
        sha256: STORED.into(),
        size: 3,
        media_type: "image/jpeg".into(),
    };
    store.record_stored_file(&file, now).unwrap();

    // Every visit, in the order received (ties by id), whatever the page.
    let all = VisitFilter::new(Scope::All);
    let whole = exported(&store, &all, 1_000).unwrap();
    assert_eq!(ids(&whole), of(&order, &[1, 2, 5, 6]));
    assert_eq!(whole.len(), 6);
    for page in [1, 2, 5, 6] {
        assert_eq!(exported(&store, &all, page).unwrap(), whole, "pages of {page}");
    }
    let of_household_2 = whole.iter().find(|(id, _, _)| *id == visits[1].2).unwrap();
    assert_eq!((of_household_2.1.as_deref(), of_household_2.2), (Some(V1), 1));
    let of_household_6 = whole.iter().find(|(id, _, _)| *id == visits[3].2).unwrap();
    assert_eq!((of_household_6.1.as_deref(), of_household_6.2), (Some(V3), 0));
    let mut counted = 0;
    assert_eq!(store.export_visits(&mut |_| { counted += 1; Ok(()) }).unwrap(), 6);
    assert_eq!(counted, 6);

    let filtered = |filter: VisitFilter| ids(&exported(&store, &filter, 2).unwrap());
    let area = |code: &str| VisitFilter {
        area: Some(code.into()),
        ..VisitFilter::new(Scope::All)
    };
    assert_eq!(filtered(area(TOWNSHIP)), of(&order, &[1, 2, 5]));
    assert_eq!(filtered(area(V2)), of(&order, &[5]));
    let since = |at: DateTime<Utc>| VisitFilter {
        since: Some(at),
        ..VisitFilter::new(Scope::All)
    };
    let recent = filtered(since(now - Duration::hours(36)));
    assert_eq!(recent.len(), 4, "the correction, households 5 and 6 twice");
    assert!(!recent.contains(&visits[0].2) && !recent.contains(&visits[1].2));
    let older = VisitFilter {
        until: Some(now - Duration::hours(36)),
        ..VisitFilter::new(Scope::All)
    };
    assert_eq!(filtered(older), of(&order[..4], &[1, 2]));
    let second_version = VisitFilter {
        form_version: Some("2".into()),
        ..VisitFilter::new(Scope::All)
    };
    assert_eq!(filtered(second_version), of(&order[4..], &[6]));

    // A scope narrows every filter; an area outside it is not found.
    let other = VisitFilter::new(Scope::Area(OTHER_TOWNSHIP.into()));
    assert_eq!(filtered(other.clone()), of(&order, &[6]));
    let outside = VisitFilter {
        area: Some(TOWNSHIP.into()),
        ..other.clone()
    };
    assert!(not_found(exported(&store, &outside, 2)));
    assert!(not_found(store.export_files(&outside)));
    assert!(not_found(store.export_form_versions(&outside)));
    assert!(not_found(exported(&store, &area("999"), 2)));

    let versions: Vec<(String, String, u64)> = store
        .export_form_versions(&all)
        .unwrap()
        .into_iter()
        .map(|count| (count.form_id, count.version, count.visits))
        .collect();
    assert_eq!(
        versions,
        [
            ("household_check".to_owned(), "1".to_owned(), 5),
            ("household_check".to_owned(), "2".to_owned(), 1)
        ]
    );
    assert_eq!(store.export_form_versions(&area(V2)).unwrap()[0].visits, 1);
    assert_eq!(store.export_files(&all).unwrap(), std::slice::from_ref(&file));
    assert_eq!(store.export_files(&other).unwrap(), [file]);
    assert!(store.export_files(&area(V2)).unwrap().is_empty());
    assert!(store.published_form("household_check", "2").unwrap().is_some());
    assert!(store.published_form("household_check", "3").unwrap().is_none());
}
}
