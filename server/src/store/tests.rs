//! Server store tests: the conformance suite, on a real SQLite file and on
//! PostgreSQL (`testing`).

#![allow(clippy::unwrap_used)]

use chrono::{Duration, Utc};
use doorstep_forms::Form;
use doorstep_protocol::{
    AreaLevel, AreaRecord, HouseholdRecord, PullQuery, PulledChange, scope_digest,
};
use uuid::Uuid;

use super::testing::{TestDatabase, empty_store, on_both_backends};
use super::*;

const VILLAGE: &str = "530626104201";
const OTHER_VILLAGE: &str = "530626104202";

pub(super) fn store() -> (TestDatabase, ServerStore) {
    let (database, store) = empty_store();
    let area = |code: &str, level, parent: Option<&str>| AreaRecord {
        code: code.into(),
        name: format!("area {code}"),
        level,
        parent_code: parent.map(Into::into),
    };
    store
        .import_households(
            &[
                area("530626", AreaLevel::County, None),
                area("530626104", AreaLevel::Township, Some("530626")),
                area(VILLAGE, AreaLevel::Village, Some("530626104")),
                area(OTHER_VILLAGE, AreaLevel::Village, Some("530626104")),
            ],
            &[
                household(1, VILLAGE),
                household(2, VILLAGE),
                household(3, OTHER_VILLAGE),
            ],
        )
        .unwrap();
    (database, store)
}

pub(super) fn household(id: u128, village: &str) -> HouseholdRecord {
    HouseholdRecord {
        id: Uuid::from_u128(id),
        village_code: village.into(),
        head_name: "喻兰".into(),
        id_card_suffix: "123X".into(),
        group: "1组".into(),
        members: 3,
        phone: "13800000000".into(),
        address: "1组1号".into(),
        lat: None,
        lon: None,
        category: "general".into(),
        version: 0,
    }
}

pub(super) fn form(version: &str, title: &str) -> Form {
    let mut definition: serde_json::Value =
        serde_json::from_str(include_str!("../../../forms/household-check.json")).unwrap();
    definition["version"] = version.into();
    definition["title"] = title.into();
    Form::from_definition(&definition).unwrap()
}

pub(super) fn device(store: &ServerStore, village: &str) -> DeviceAuth {
    let cadre = store.add_cadre("测试").unwrap();
    store
        .assign(cadre, &AssignmentTarget::Village(village.into()))
        .unwrap();
    let code = store.enroll_code(cadre).unwrap();
    let response = store
        .enroll(&code.code, None, None, None, Utc::now())
        .unwrap();
    store.authenticate(&response.token, Utc::now()).unwrap()
}

/// A complete visit of the demo form to `household`, as `auth`'s change
/// number `seq`.
pub(super) fn visit_change(
    auth: DeviceAuth,
    seq: u64,
    household: u128,
    version: &str,
    recorded_at: chrono::DateTime<Utc>,
) -> doorstep_protocol::Change {
    use doorstep_protocol::{Change, Mutation, VisitRecord};
    let answers = serde_json::json!({
        "visit_date": "2024-12-28", "respondent": "head",
        "members": [{"member_name": "喻兰", "relation": "head", "age": 40, "able_to_work": "full"}],
        "food_clothing_ok": "yes", "education_ok": "yes", "medical_insurance_ok": "yes",
        "housing_safe": "yes", "drinking_water_safe": "yes", "risk_category": "none",
        "relocated": "no", "support_needed": ["none"]
    });
    Change {
        seq,
        mutation: Mutation::Visit(VisitRecord {
            id: Uuid::now_v7(),
            household_id: Uuid::from_u128(household),
            cadre_id: auth.cadre_id,
            device_id: auth.device_id,
            form_id: "household_check".into(),
            form_version: version.into(),
            answers: answers.as_object().cloned().unwrap_or_default(),
            computed: Default::default(),
            recorded_at,
            corrects: None,
            received_at: None,
            clock_ahead: false,
        }),
    }
}

on_both_backends! {
#[test]
fn enrolment_codes_are_single_use_and_expire() {
    let (_directory, store) = store();
    let cadre = store.add_cadre("测试").unwrap();
    let code = store.enroll_code(cadre).unwrap();
    assert_eq!(code.code.len(), 11, "XXXXX-XXXXX");
    let later = Utc::now() + Duration::days(8);
    assert!(
        matches!(store.enroll(&code.code, None, None, None, later), Err(StoreError::Enroll(message)) if message.contains("expired"))
    );
    let response = store
        .enroll(&code.code, Some("phone"), None, None, Utc::now())
        .unwrap();
    assert_eq!(response.cadre_id, cadre);
    assert!(
        matches!(store.enroll(&code.code, None, None, None, Utc::now()), Err(StoreError::Enroll(message)) if message.contains("already used"))
    );
    // Only hashes are kept.
    let kept: String = store
        .read(|tx| tx.value("SELECT token_hash FROM devices", &[]))
        .unwrap();
    assert_ne!(kept, response.token);
    assert_eq!(
        store
            .authenticate(&response.token, Utc::now())
            .unwrap()
            .device_id,
        response.device_id
    );
    assert!(matches!(
        store.authenticate("guess", Utc::now()),
        Err(StoreError::Unauthorized)
    ));
}

#[test]
fn a_published_version_never_changes() {
    let (_directory, store) = store();
    assert!(store.publish_form(&form("1", "first")).unwrap());
    assert!(
        !store.publish_form(&form("1", "first")).unwrap(),
        "the same content again is a no-op"
    );
    assert!(matches!(
        store.publish_form(&form("1", "changed")),
        Err(StoreError::Conflict(_))
    ));
    assert!(store.publish_form(&form("2", "changed")).unwrap());
}

#[test]
fn reimporting_a_changed_household_bumps_its_version_and_keeps_one_log_entry() {
    let (_directory, store) = store();
    let auth = device(&store, VILLAGE);
    let mut changed = household(1, VILLAGE);
    changed.phone = "13900000000".into();
    let report = store
        .import_households(&[], &[changed, household(2, VILLAGE)])
        .unwrap();
    assert_eq!(
        (report.inserted, report.updated, report.unchanged),
        (0, 1, 1)
    );
    let page = store.pull(auth, &PullQuery::default(), Utc::now()).unwrap();
    let households: Vec<&HouseholdRecord> = page
        .changes
        .iter()
        .filter_map(|change| match change {
            PulledChange::Household(household) => Some(household),
            _ => None,
        })
        .collect();
    assert_eq!(households.len(), 2, "one entry per household, the latest");
    let first = households
        .iter()
        .find(|household| household.id == Uuid::from_u128(1))
        .unwrap();
    assert_eq!((first.version, first.phone.as_str()), (2, "13900000000"));
    let unknown_village = store.import_households(&[], &[household(9, "999999999999")]);
    assert!(matches!(unknown_village, Err(StoreError::Invalid(_))));
}

#[test]
fn pull_pages_through_the_log_within_scope() {
    let (_directory, store) = store();
    let auth = device(&store, VILLAGE);
    store.publish_form(&form("1", "first")).unwrap();
    let mut cursor = 0;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = store
            .pull(
                auth,
                &PullQuery {
                    cursor,
                    scope: None,
                    limit: Some(1),
                    pending: None,
                },
                Utc::now(),
            )
            .unwrap();
        pages += 1;
        assert!(page.changes.len() <= 1);
        seen.extend(page.changes);
        assert!(page.cursor >= cursor, "the cursor never goes back");
        cursor = page.cursor;
        if !page.more {
            break;
        }
    }
    // Households 1 and 2 (village) and the form; household 3 is elsewhere.
    assert_eq!(seen.len(), 3);
    assert_eq!(pages, 3);
    assert!(!seen.iter().any(|change| matches!(change, PulledChange::Household(household) if household.id == Uuid::from_u128(3))));
    // Nothing new: an empty page at the same cursor.
    let empty = store
        .pull(
            auth,
            &PullQuery {
                cursor,
                scope: None,
                limit: None,
                pending: None,
            },
            Utc::now(),
        )
        .unwrap();
    assert!(empty.changes.is_empty() && !empty.more);
    assert_eq!(empty.cursor, cursor);
}

#[test]
fn the_scope_list_comes_only_when_the_device_digest_is_stale() {
    let (_directory, store) = store();
    let auth = device(&store, VILLAGE);
    let page = store.pull(auth, &PullQuery::default(), Utc::now()).unwrap();
    let scope = page.scope.unwrap();
    assert_eq!(scope, vec![Uuid::from_u128(1), Uuid::from_u128(2)]);
    let current = PullQuery {
        cursor: page.cursor,
        scope: Some(scope_digest(&scope)),
        limit: None,
        pending: None,
    };
    assert_eq!(store.pull(auth, &current, Utc::now()).unwrap().scope, None);
    store
        .assign(
            auth.cadre_id,
            &AssignmentTarget::Household(Uuid::from_u128(3)),
        )
        .unwrap();
    let stale = store.pull(auth, &current, Utc::now()).unwrap();
    assert_eq!(stale.scope.unwrap().len(), 3);
}

#[test]
fn assigning_twice_is_harmless_and_unassigning_nothing_says_so() {
    let (_directory, store) = store();
    let cadre = store.add_cadre("测试").unwrap();
    let village = AssignmentTarget::Village(VILLAGE.into());
    assert!(store.assign(cadre, &village).unwrap());
    assert!(!store.assign(cadre, &village).unwrap());
    assert_eq!(store.assignments().unwrap().len(), 1);
    assert!(store.unassign(cadre, &village).unwrap());
    assert!(!store.unassign(cadre, &village).unwrap());
    assert!(matches!(
        store.assign(cadre, &AssignmentTarget::Village("1".into())),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.assign(Uuid::nil(), &village),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(store.add_cadre("  "), Err(StoreError::Invalid(_))));
}

#[test]
fn visits_of_an_unassigned_household_are_taken_for_a_grace_period_only() {
    use doorstep_protocol::{Mutation, Outcome, RejectCode};
    let (_directory, store) = store();
    store.publish_form(&form("1", "first")).unwrap();
    let auth = device(&store, VILLAGE);
    store
        .unassign(auth.cadre_id, &AssignmentTarget::Village(VILLAGE.into()))
        .unwrap();
    let change = |seq: u64| visit_change(auth, seq, 1, "1", Utc::now());
    let (within, _) = store
        .push(auth, &[change(1)], None, Utc::now() + Duration::days(29))
        .unwrap();
    assert_eq!(within[0].outcome, Outcome::Applied);
    let (after, _) = store
        .push(auth, &[change(2)], None, Utc::now() + Duration::days(31))
        .unwrap();
    assert!(matches!(
        after[0].outcome,
        Outcome::Rejected {
            code: RejectCode::OutOfScope,
            ..
        }
    ));
    // Never assigned at all: rejected at once.
    let mut elsewhere = change(3);
    if let Mutation::Visit(visit) = &mut elsewhere.mutation {
        visit.household_id = Uuid::from_u128(3);
    }
    let (never, _) = store.push(auth, &[elsewhere], None, Utc::now()).unwrap();
    assert!(matches!(
        never[0].outcome,
        Outcome::Rejected {
            code: RejectCode::OutOfScope,
            ..
        }
    ));
}

#[test]
fn a_retried_enrolment_gets_its_device_back_once_and_only_if_unused() {
    let (_directory, store) = store();
    let cadre = store.add_cadre("测试").unwrap();
    let code = store.enroll_code(cadre).unwrap();
    let attempt = Uuid::now_v7();
    let first = store
        .enroll(&code.code, None, Some(attempt), None, Utc::now())
        .unwrap();
    // The answer was lost; the device retries with the same attempt.
    let again = store
        .enroll(&code.code, None, Some(attempt), None, Utc::now())
        .unwrap();
    assert_eq!(again.device_id, first.device_id);
    assert_ne!(again.token, first.token);
    assert!(
        matches!(
            store.authenticate(&first.token, Utc::now()),
            Err(StoreError::Unauthorized)
        ),
        "the lost token is dead"
    );
    assert_eq!(
        store
            .authenticate(&again.token, Utc::now())
            .unwrap()
            .device_id,
        first.device_id
    );
    // Another attempt with the same code is a reused code.
    let other = store.enroll(&code.code, None, Some(Uuid::now_v7()), None, Utc::now());
    assert!(matches!(other, Err(StoreError::Enroll(message)) if message.contains("already used")));
    // Once the token has been used, a retry no longer takes the device over.
    let auth = store.authenticate(&again.token, Utc::now()).unwrap();
    store
        .push(auth, &[], None, Utc::now() + Duration::seconds(1))
        .unwrap();
    let late = store.enroll(&code.code, None, Some(attempt), None, Utc::now());
    assert!(matches!(late, Err(StoreError::Enroll(message)) if message.contains("already used")));
}

#[test]
fn exports_choose_visits_by_scope_area_day_and_form_version() {
    use doorstep_protocol::Outcome;
    let (_directory, store) = store();
    store.publish_form(&form("1", "first")).unwrap();
    store.publish_form(&form("2", "second")).unwrap();
    let auth = device(&store, VILLAGE);
    store
        .assign(
            auth.cadre_id,
            &AssignmentTarget::Village(OTHER_VILLAGE.into()),
        )
        .unwrap();
    let now = Utc::now();
    let visit = |seq: u64, household: u128, version: &str, days_ago: i64| {
        visit_change(
            auth,
            seq,
            household,
            version,
            now - Duration::days(days_ago),
        )
    };
    let changes = [
        visit(1, 1, "1", 10),
        visit(2, 3, "1", 0),
        visit(3, 1, "2", 0),
    ];
    let (results, _) = store.push(auth, &changes, None, now).unwrap();
    assert!(
        results
            .iter()
            .all(|result| result.outcome == Outcome::Applied)
    );

    let villages = |filter: &VisitFilter| {
        let mut seen = Vec::new();
        store
            .export_visits_where(filter, &mut |visit, village, _| {
                seen.push((visit.form_version, village.map(str::to_string)));
                Ok(())
            })
            .unwrap();
        seen
    };
    assert_eq!(villages(&VisitFilter::new(Scope::All)).len(), 3);
    let other = VisitFilter {
        area: Some(OTHER_VILLAGE.into()),
        ..VisitFilter::new(Scope::All)
    };
    assert_eq!(
        villages(&other),
        [("1".to_string(), Some(OTHER_VILLAGE.to_string()))]
    );
    let township = VisitFilter {
        area: Some("530626104".into()),
        ..VisitFilter::new(Scope::All)
    };
    assert_eq!(villages(&township).len(), 3);
    let recent = VisitFilter {
        since: Some(now - Duration::days(1)),
        ..VisitFilter::new(Scope::All)
    };
    assert_eq!(villages(&recent).len(), 2);
    let older = VisitFilter {
        until: Some(now - Duration::days(1)),
        form_version: Some("1".into()),
        ..VisitFilter::new(Scope::All)
    };
    assert_eq!(
        villages(&older),
        [("1".to_string(), Some(VILLAGE.to_string()))]
    );
    let versions = store.export_form_versions(&recent).unwrap();
    assert_eq!(
        versions
            .iter()
            .map(|count| (count.version.as_str(), count.visits))
            .collect::<Vec<_>>(),
        [("1", 1), ("2", 1)]
    );
    assert!(
        store
            .published_form("household_check", "2")
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .published_form("household_check", "3")
            .unwrap()
            .is_none()
    );
    let unknown = VisitFilter {
        area: Some("999".into()),
        ..VisitFilter::new(Scope::All)
    };
    assert!(matches!(
        store.export_form_versions(&unknown),
        Err(StoreError::NotFound(message)) if message == "no area 999"
    ));

    // A scope (here one village's) narrows every filter, and an area
    // outside it, above it included, is "not found" like an unknown one.
    let scoped = VisitFilter::new(Scope::Area(OTHER_VILLAGE.into()));
    assert_eq!(
        villages(&scoped),
        [("1".to_string(), Some(OTHER_VILLAGE.to_string()))]
    );
    let recent_scoped = VisitFilter {
        since: Some(now - Duration::days(1)),
        ..scoped.clone()
    };
    let versions = store.export_form_versions(&recent_scoped).unwrap();
    assert_eq!(
        versions
            .iter()
            .map(|count| (count.version.as_str(), count.visits))
            .collect::<Vec<_>>(),
        [("1", 1)]
    );
    for outside in [VILLAGE, "530626104", "530626"] {
        let asked = VisitFilter {
            area: Some(outside.into()),
            ..scoped.clone()
        };
        let expected = format!("no area {outside}");
        assert!(matches!(
            store.export_form_versions(&asked),
            Err(StoreError::NotFound(message)) if message == expected
        ));
        assert!(matches!(
            store.export_visits_where(&asked, &mut |_, _, _| Ok(())),
            Err(StoreError::NotFound(_))
        ));
    }
    let inside = VisitFilter {
        area: Some(OTHER_VILLAGE.into()),
        ..scoped.clone()
    };
    assert_eq!(villages(&inside).len(), 1);
    let nothing = VisitFilter::new(Scope::Area(String::new()));
    assert!(villages(&nothing).is_empty());
}


#[test]
fn a_pending_count_is_written_when_it_changes_or_the_last_report_is_stale() {
    let (_directory, store) = store();
    let auth = device(&store, VILLAGE);
    let shown = |store: &ServerStore| {
        let device = store
            .devices()
            .unwrap()
            .into_iter()
            .find(|device| device.id == auth.device_id)
            .unwrap();
        (device.pending_changes, device.pending_reported_at)
    };
    assert_eq!(shown(&store), (None, None), "nothing reported yet");
    let start = Utc::now();
    store.record_pending(auth.device_id, 4, start).unwrap();
    assert_eq!(
        shown(&store),
        (Some(4), Some(doorstep_core::sqlite::time_text(start)))
    );
    // The same count soon after: not worth the writer.
    let soon = start + Duration::seconds(10);
    store.record_pending(auth.device_id, 4, soon).unwrap();
    assert_eq!(
        shown(&store),
        (Some(4), Some(doorstep_core::sqlite::time_text(start)))
    );
    // Another count: written at once, with the contact.
    store.record_pending(auth.device_id, 1, soon).unwrap();
    assert_eq!(
        shown(&store),
        (Some(1), Some(doorstep_core::sqlite::time_text(soon)))
    );
    // The same count a while later: the report is refreshed.
    let later = soon + Duration::seconds(61);
    store.record_pending(auth.device_id, 1, later).unwrap();
    assert_eq!(
        shown(&store),
        (Some(1), Some(doorstep_core::sqlite::time_text(later)))
    );
    let device = store.devices().unwrap().remove(0);
    assert_eq!(
        device.last_seen_at,
        Some(doorstep_core::sqlite::time_text(later))
    );
}
}
