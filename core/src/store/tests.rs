//! Store tests on real SQLite files in temporary directories.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use doorstep_protocol::{
    AreaLevel, AreaRecord, EnrollResponse, FormRecord, HouseholdRecord, PROTOCOL_VERSION,
    SnapshotResponse,
};
use serde_json::json;
use tempfile::TempDir;
use uuid::Uuid;

use super::*;
use crate::forms::Rule;
use crate::model::{NewVisit, VisitStatus, VisitSync};

const DEMO_FORM: &str = include_str!("../../../forms/household-check.json");

pub(super) fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

pub(super) fn household(id: u128, head_name: &str, suffix: &str) -> HouseholdRecord {
    HouseholdRecord {
        id: Uuid::from_u128(id),
        village_code: "530626104201".into(),
        head_name: head_name.into(),
        id_card_suffix: suffix.into(),
        group: "3组".into(),
        members: 4,
        phone: "13800000000".into(),
        address: "绥江县南岸镇中坝村3组12号".into(),
        lat: Some(28.1),
        lon: Some(103.9),
        category: "relieved".into(),
        version: 1,
    }
}

pub(super) fn areas() -> Vec<AreaRecord> {
    vec![
        AreaRecord {
            code: "530626".into(),
            name: "绥江县".into(),
            level: AreaLevel::County,
            parent_code: None,
        },
        AreaRecord {
            code: "530626104201".into(),
            name: "中坝村".into(),
            level: AreaLevel::Village,
            parent_code: Some("530626104".into()),
        },
        AreaRecord {
            code: "530626104".into(),
            name: "南岸镇".into(),
            level: AreaLevel::Township,
            parent_code: Some("530626".into()),
        },
    ]
}

pub(crate) fn demo_form() -> FormRecord {
    let definition: serde_json::Value = serde_json::from_str(DEMO_FORM).unwrap();
    FormRecord {
        form_id: definition["form_id"].as_str().unwrap().into(),
        version: definition["version"].as_str().unwrap().into(),
        title: definition["title"].as_str().unwrap().into(),
        definition,
        published_at: at("2024-12-28T00:00:00Z"),
    }
}

/// An enrolled store holding households 1 (喻兰), 2 (王建国), 3 (欧阳娜娜)
/// and the demo form.
pub(crate) fn enrolled_store() -> (TempDir, Store) {
    let directory = tempfile::tempdir().unwrap();
    let store = Store::open(directory.path().join("device.db")).unwrap();
    fill(&store);
    (directory, store)
}

/// Enrols `store` (token "secret") and gives it households 1–3 and the
/// demo form.
pub(super) fn fill(store: &Store) {
    store
        .save_enrollment(
            &crate::transport::Endpoint::new("http://127.0.0.1:1"),
            &EnrollResponse {
                protocol: PROTOCOL_VERSION,
                device_id: Uuid::from_u128(0xd1),
                token: "secret".into(),
                cadre_id: Uuid::from_u128(0xc1),
                cadre_name: "测试".into(),
                server_time: at("2024-12-28T00:00:00Z"),
            },
        )
        .unwrap();
    store
        .apply_snapshot(
            &SnapshotResponse {
                protocol: PROTOCOL_VERSION,
                areas: areas(),
                households: vec![
                    household(1, "喻兰", "123X"),
                    household(2, "王建国", "4567"),
                    household(3, "欧阳娜娜", "8901"),
                ],
                forms: vec![demo_form()],
                visits: vec![],
                conflicts: vec![],
                refused: vec![],
                resume: None,
                position: 1,
                server_time: at("2024-12-28T00:00:00Z"),
            },
            Some(&[1, 2, 3].map(Uuid::from_u128)),
        )
        .unwrap();
}

/// A valid visit of the demo form: four members, one working in Shanghai,
/// per-capita net income (38000 + 6200.5 + 800 + 3600 − 2400) ÷ 4.
pub(super) fn valid_answers() -> doorstep_protocol::Answers {
    json!({
        "visit_date": "2024-12-28",
        "respondent": "head",
        "members": [
            {"member_name": "喻兰", "relation": "head", "age": 52, "able_to_work": "full"},
            {"member_name": "王建国", "relation": "spouse", "age": 50, "able_to_work": "full"},
            {"member_name": "喻小红", "relation": "child", "age": 12, "in_school": "yes"},
            {"member_name": "喻强", "relation": "child", "age": 24, "able_to_work": "full"}
        ],
        "migrants": [{"migrant_name": "喻强", "destination": "outside_province", "city": "上海",
                      "monthly_income": 5200, "return_date": "2025-01-20"}],
        "income_wages": 38000,
        "income_business": 6200.5,
        "income_property": 800,
        "income_transfer": 3600,
        "production_costs": 2400,
        "food_clothing_ok": "yes",
        "education_ok": "yes",
        "medical_insurance_ok": "yes",
        "housing_safe": "no",
        "drinking_water_safe": "yes",
        "risk_category": "edge",
        "relocated": "no",
        "support_needed": ["jobs", "training"],
        "location": {"lat": 27.33, "lon": 103.72}
    })
    .as_object()
    .unwrap()
    .clone()
}

pub(crate) fn new_visit(household: u128, draft: bool) -> NewVisit {
    NewVisit {
        household_id: Uuid::from_u128(household),
        form_id: None,
        answers: valid_answers(),
        draft,
        corrects: None,
    }
}

#[test]
fn a_new_store_is_durable_and_migrated() {
    let (_directory, store) = enrolled_store();
    let connection = lock(&store.writer);
    let synchronous: i64 = connection
        .pragma_query_value(None, "synchronous", |row| row.get(0))
        .unwrap();
    let journal: String = connection
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    let foreign_keys: bool = connection
        .pragma_query_value(None, "foreign_keys", |row| row.get(0))
        .unwrap();
    assert_eq!(synchronous, 2, "synchronous=FULL");
    assert_eq!(journal, "wal");
    assert!(foreign_keys);
    assert_eq!(
        sqlite::schema_version(&connection).unwrap(),
        MIGRATIONS.len() as u32
    );
}

#[test]
fn a_frozen_version_1_database_upgrades_to_the_fresh_schema_and_keeps_its_data() {
    let directory = tempfile::tempdir().unwrap();
    let old = directory.path().join("old.db");
    {
        let connection = rusqlite::Connection::open(&old).unwrap();
        connection
            .execute_batch(include_str!("fixtures/device_v1.sql"))
            .unwrap();
        assert_eq!(sqlite::schema_version(&connection).unwrap(), 1);
    }
    let upgraded = Store::open(&old).unwrap();
    let fresh = Store::open(directory.path().join("fresh.db")).unwrap();
    let dump = |store: &Store| sqlite::schema_dump(&lock(&store.writer)).unwrap();
    assert_eq!(dump(&upgraded), dump(&fresh));

    // The unsynced visit is still queued, and the old household is found
    // by the search index that version 2 added.
    let status = upgraded.status().unwrap();
    assert_eq!(status.pending, 1);
    assert_eq!(
        status.device_id,
        Some(Uuid::parse_str("0190a000-0000-7000-8000-000000000001").unwrap())
    );
    let found = upgraded.households(Some("兰")).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].village.as_deref(), Some("中坝村"));
}

#[test]
fn a_database_newer_than_the_build_is_refused_and_left_alone() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("future.db");
    {
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection
            .execute_batch("CREATE TABLE kept (x); PRAGMA user_version = 99;")
            .unwrap();
    }
    let error = Store::open(&path).unwrap_err();
    assert!(error.to_string().contains("newer"), "{error}");
    let connection = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(sqlite::schema_version(&connection).unwrap(), 99);
}

#[test]
fn recording_needs_an_enrolled_device() {
    let directory = tempfile::tempdir().unwrap();
    let store = Store::open(directory.path().join("device.db")).unwrap();
    assert!(matches!(
        store.record_visit(new_visit(1, false)),
        Err(Error::NotEnrolled)
    ));
}

#[test]
fn a_finalised_visit_is_queued_in_the_same_transaction_and_immutable() {
    let (_directory, store) = enrolled_store();
    let visit = store.record_visit(new_visit(1, false)).unwrap();
    assert_eq!(visit.status, VisitStatus::Final);
    assert_eq!(visit.sync, VisitSync::Pending);
    assert_eq!(visit.form_id, "household_check");
    assert_eq!(visit.device_id, Uuid::from_u128(0xd1));
    let status = store.status().unwrap();
    assert_eq!((status.pending, status.visits, status.drafts), (1, 1, 0));
    assert!(
        matches!(store.update_draft(visit.id, &valid_answers()), Err(Error::Finalised(id)) if id == visit.id)
    );
    assert!(matches!(
        store.finalise_draft(visit.id),
        Err(Error::Finalised(_))
    ));
}

#[test]
fn drafts_stay_local_and_editable_until_finalised() {
    let (_directory, store) = enrolled_store();
    let mut incomplete = new_visit(2, true);
    incomplete.answers.remove("food_clothing_ok");
    let draft = store.record_visit(incomplete).unwrap();
    assert_eq!(draft.sync, VisitSync::Local);
    assert_eq!(store.status().unwrap().pending, 0);

    // Finalising an incomplete draft is refused and leaves it a draft.
    let error = store.finalise_draft(draft.id).unwrap_err();
    assert!(
        matches!(&error, Error::Invalid(violations) if violations.iter().any(|v| v.question == "food_clothing_ok" && v.rule == Rule::Required))
    );
    assert_eq!(
        store.visit(draft.id).unwrap().unwrap().status,
        VisitStatus::Draft
    );

    let edited = store.update_draft(draft.id, &valid_answers()).unwrap();
    assert_eq!(edited.answers, valid_answers());
    let finalised = store.finalise_draft(draft.id).unwrap();
    assert_eq!(finalised.sync, VisitSync::Pending);
    assert_eq!(store.status().unwrap().pending, 1);
}

#[test]
fn invalid_answers_are_refused_and_change_nothing() {
    let (_directory, store) = enrolled_store();
    let cases: Vec<(&str, serde_json::Value, &str, Rule)> = vec![
        (
            "unknown question",
            json!({"shoe_size": 42}),
            "shoe_size",
            Rule::UnknownQuestion,
        ),
        (
            "integer as text",
            json!({"members": [{"member_name": "喻兰", "relation": "head", "age": "52", "able_to_work": "full"}]}),
            "members[1]/age",
            Rule::Type,
        ),
        (
            "age out of range",
            json!({"members": [{"member_name": "喻兰", "relation": "head", "age": 152, "able_to_work": "full"}]}),
            "members[1]/age",
            Rule::Constraint,
        ),
        (
            "unknown choice",
            json!({"housing_safe": "maybe"}),
            "housing_safe",
            Rule::Choice,
        ),
        (
            "text for a decimal",
            json!({"income_wages": "lots"}),
            "income_wages",
            Rule::Type,
        ),
    ];
    for (name, change, question, rule) in cases {
        let mut visit = new_visit(1, false);
        for (key, value) in change.as_object().unwrap() {
            visit.answers.insert(key.clone(), value.clone());
        }
        let error = store.record_visit(visit).unwrap_err();
        match &error {
            Error::Invalid(violations) => assert!(
                violations
                    .iter()
                    .any(|violation| violation.question == question && violation.rule == rule),
                "{name}: {violations:?}"
            ),
            other => panic!("{name}: expected a validation error, got {other}"),
        }
    }
    let mut missing = new_visit(1, false);
    missing.answers.remove("support_needed");
    assert!(matches!(
        store.record_visit(missing),
        Err(Error::Invalid(_))
    ));
    let status = store.status().unwrap();
    assert_eq!(
        (status.pending, status.visits),
        (0, 0),
        "nothing was written"
    );
}

#[test]
fn unknown_households_forms_and_corrections_are_refused() {
    let (_directory, store) = enrolled_store();
    assert!(matches!(
        store.record_visit(new_visit(99, false)),
        Err(Error::UnknownHousehold(_))
    ));
    let mut other_form = new_visit(1, false);
    other_form.form_id = Some("no_such_form".into());
    assert!(matches!(
        store.record_visit(other_form),
        Err(Error::UnknownForm { .. })
    ));
    let mut correction = new_visit(1, false);
    correction.corrects = Some(Uuid::from_u128(12345));
    assert!(matches!(
        store.record_visit(correction),
        Err(Error::UnknownVisit(_))
    ));
}

#[test]
fn a_correction_names_the_visit_it_corrects() {
    let (_directory, store) = enrolled_store();
    let original = store.record_visit(new_visit(1, false)).unwrap();
    let mut correction = new_visit(1, false);
    correction.corrects = Some(original.id);
    let corrected = store.record_visit(correction).unwrap();
    assert_eq!(corrected.corrects, Some(original.id));
    // A correction must be of the same household.
    let mut elsewhere = new_visit(2, false);
    elsewhere.corrects = Some(original.id);
    assert!(matches!(
        store.record_visit(elsewhere),
        Err(Error::NotCorrectable(_))
    ));
}

#[test]
fn search_finds_chinese_names_by_any_part() {
    let (_directory, store) = enrolled_store();
    let names = |query: &str| -> Vec<String> {
        store
            .households(Some(query))
            .unwrap()
            .into_iter()
            .map(|household| household.record.head_name)
            .collect()
    };
    let cases: &[(&str, &[&str])] = &[
        ("喻", &["喻兰"]),         // surname of a two-character name
        ("兰", &["喻兰"]),         // given name alone
        ("喻兰", &["喻兰"]),       // a whole two-character name
        ("建", &["王建国"]),       // middle character
        ("建国", &["王建国"]),     // given name of a three-character name
        ("欧阳", &["欧阳娜娜"]),   // compound surname
        ("阳娜娜", &["欧阳娜娜"]), // three characters across the name
        ("王国", &[]),             // both characters present, but not adjacent
        ("李", &[]),
        ("123x", &["喻兰"]), // ID suffix, any case
        ("4567", &["王建国"]),
        ("中坝", &["喻兰", "欧阳娜娜", "王建国"]), // village and address match everyone
        ("  ", &["喻兰", "欧阳娜娜", "王建国"]),   // blank lists everything
    ];
    for (query, expected) in cases {
        let mut found = names(query);
        found.sort();
        let mut expected: Vec<String> = expected.iter().map(|name| (*name).to_string()).collect();
        expected.sort();
        assert_eq!(found, expected, "query {query:?}");
    }
}

#[test]
fn a_changed_household_is_reindexed() {
    let (_directory, store) = enrolled_store();
    let mut renamed = household(1, "喻红", "123X");
    renamed.version = 2;
    store
        .write(|transaction| households::put_household(transaction, &renamed))
        .unwrap();
    assert!(store.households(Some("兰")).unwrap().is_empty());
    assert_eq!(store.households(Some("红")).unwrap().len(), 1);
    // An older version never overwrites a newer one.
    store
        .write(|transaction| households::put_household(transaction, &household(1, "喻兰", "123X")))
        .unwrap();
    assert_eq!(
        store
            .household(Uuid::from_u128(1))
            .unwrap()
            .unwrap()
            .record
            .head_name,
        "喻红"
    );
}

#[test]
fn releasing_a_household_keeps_it_while_its_changes_are_pending() {
    let (_directory, store) = enrolled_store();
    let visit = store.record_visit(new_visit(1, false)).unwrap();
    store
        .release(&[Uuid::from_u128(1), Uuid::from_u128(2)])
        .unwrap();
    // Household 2 had nothing pending: gone. Household 1 stays, unassigned.
    assert!(store.household(Uuid::from_u128(2)).unwrap().is_none());
    let kept = store.household(Uuid::from_u128(1)).unwrap().unwrap();
    assert!(!kept.assigned);
    // Once the server has the visit, the household goes too.
    let seq = store.next_push_batch(10, 1 << 20).unwrap()[0].seq;
    store
        .settle_push(
            &[(seq, doorstep_protocol::Outcome::Applied)],
            at("2024-12-29T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(
        store.visit(visit.id).unwrap().unwrap().sync,
        VisitSync::Synced
    );
    store.release(&[]).unwrap();
    assert!(store.household(Uuid::from_u128(1)).unwrap().is_none());
}

#[test]
fn push_batches_are_bounded_and_settled_per_change() {
    let (_directory, store) = enrolled_store();
    let ids: Vec<Uuid> = (0..5)
        .map(|_| store.record_visit(new_visit(1, false)).unwrap().id)
        .collect();
    let batch = store.next_push_batch(3, 1 << 20).unwrap();
    assert_eq!(batch.len(), 3);
    let one = store.next_push_batch(10, 1).unwrap();
    assert_eq!(
        one.len(),
        1,
        "a single change larger than the byte limit still goes alone"
    );
    let rejected = doorstep_protocol::Outcome::Rejected {
        code: doorstep_protocol::RejectCode::OutOfScope,
        reason: "household not assigned".into(),
    };
    let tally = store
        .settle_push(
            &[
                (batch[0].seq, doorstep_protocol::Outcome::Applied),
                (batch[1].seq, doorstep_protocol::Outcome::Duplicate),
                (batch[2].seq, rejected),
            ],
            at("2024-12-29T00:00:00Z"),
        )
        .unwrap();
    assert_eq!((tally.applied, tally.duplicate, tally.rejected), (1, 1, 1));
    let status = store.status().unwrap();
    assert_eq!((status.pending, status.rejected), (2, 1));
    let rejected_visit = store.visit(ids[2]).unwrap().unwrap();
    assert!(
        matches!(rejected_visit.sync, VisitSync::Rejected { ref reason, .. } if reason == "household not assigned")
    );
    // Rejected changes are not sent again by themselves.
    let rest = store.next_push_batch(10, 1 << 20).unwrap();
    assert_eq!(
        rest.iter().map(|change| change.seq).collect::<Vec<_>>(),
        vec![batch[2].seq + 1, batch[2].seq + 2]
    );
}

#[test]
fn rejected_changes_can_be_queued_again() {
    let (_directory, store) = enrolled_store();
    let visit = store.record_visit(new_visit(1, false)).unwrap();
    let seq = store.next_push_batch(10, 1 << 20).unwrap()[0].seq;
    let rejected = doorstep_protocol::Outcome::Rejected {
        code: doorstep_protocol::RejectCode::OutOfScope,
        reason: "household not assigned".into(),
    };
    store
        .settle_push(&[(seq, rejected)], at("2024-12-29T00:00:00Z"))
        .unwrap();
    assert!(store.next_push_batch(10, 1 << 20).unwrap().is_empty());
    assert_eq!(store.retry_rejected().unwrap(), 1);
    let again = store.next_push_batch(10, 1 << 20).unwrap();
    assert_eq!(
        again.iter().map(|change| change.seq).collect::<Vec<_>>(),
        vec![seq],
        "the same sequence number"
    );
    assert_eq!(
        store.visit(visit.id).unwrap().unwrap().sync,
        VisitSync::Pending
    );
    assert_eq!(store.retry_rejected().unwrap(), 0);
}

#[test]
fn a_finalised_visit_keeps_its_calculations_and_drops_what_does_not_apply() {
    let (_directory, store) = enrolled_store();
    let mut new = new_visit(1, false);
    // The head is 52: whether she is in school does not apply.
    new.answers["members"][0]["in_school"] = json!("no");
    let visit = store.record_visit(new).unwrap();
    assert_eq!(visit.computed["per_capita_income"], json!(11550.13));
    assert_eq!(visit.computed["below_line"], json!("no"));
    assert_eq!(visit.computed["member_count"], json!(4));
    assert!(visit.answers["members"][0].get("in_school").is_none());
    assert_eq!(visit.answers["members"][2]["in_school"], json!("yes"));
}

#[test]
fn a_draft_keeps_its_form_version_when_a_newer_one_arrives() {
    let (_directory, store) = enrolled_store();
    let draft = store.record_visit(new_visit(1, true)).unwrap();
    let mut newer = demo_form();
    newer.version = "2099010101".into();
    newer.definition["version"] = json!("2099010101");
    newer.published_at = at("2025-01-01T00:00:00Z");
    store
        .apply_pull(&doorstep_protocol::PullResponse {
            protocol: PROTOCOL_VERSION,
            scope: None,
            changes: vec![doorstep_protocol::PulledChange::Form(newer)],
            cursor: 2,
            more: false,
            server_time: at("2025-01-01T00:00:00Z"),
        })
        .unwrap();
    assert_eq!(store.forms().unwrap().len(), 2);
    let finalised = store.finalise_draft(draft.id).unwrap();
    assert_eq!(
        finalised.form_version, draft.form_version,
        "finalised on the version it was started with"
    );
    let fresh = store.record_visit(new_visit(2, false)).unwrap();
    assert_eq!(
        fresh.form_version, "2099010101",
        "a new visit takes the newest version"
    );
}

/// A server that settles only the first change of every push.
struct Stingy;

impl crate::transport::Transport for Stingy {
    fn enroll(
        &self,
        _: &doorstep_protocol::EnrollRequest,
    ) -> Result<EnrollResponse, crate::transport::TransportError> {
        Err(crate::transport::TransportError::Protocol(
            "not used".into(),
        ))
    }

    fn push(
        &self,
        _: &str,
        request: &doorstep_protocol::PushRequest,
    ) -> Result<doorstep_protocol::PushResponse, crate::transport::TransportError> {
        Ok(doorstep_protocol::PushResponse {
            protocol: PROTOCOL_VERSION,
            results: request
                .changes
                .iter()
                .take(1)
                .map(|change| doorstep_protocol::ChangeResult {
                    seq: change.seq,
                    outcome: doorstep_protocol::Outcome::Applied,
                })
                .collect(),
            position: 1,
            server_time: at("2024-12-29T00:00:00Z"),
        })
    }

    fn pull(
        &self,
        _: &str,
        query: &doorstep_protocol::PullQuery,
    ) -> Result<doorstep_protocol::PullResponse, crate::transport::TransportError> {
        Ok(doorstep_protocol::PullResponse {
            protocol: PROTOCOL_VERSION,
            scope: None,
            changes: vec![],
            cursor: query.cursor,
            more: false,
            server_time: at("2024-12-29T00:00:00Z"),
        })
    }

    fn snapshot(
        &self,
        _: &str,
        _: &doorstep_protocol::SnapshotRequest,
    ) -> Result<doorstep_protocol::SnapshotResponse, crate::transport::TransportError> {
        Err(crate::transport::TransportError::Protocol(
            "not used".into(),
        ))
    }
}

#[test]
fn a_run_does_not_end_while_a_partly_answered_batch_leaves_changes_pending() {
    let (_directory, store) = enrolled_store();
    for _ in 0..4 {
        store.record_visit(new_visit(1, false)).unwrap();
    }
    let report = crate::sync::SyncEngine::new(&store, &Stingy)
        .run(&mut |_| {}, &crate::sync::CancelToken::new())
        .unwrap();
    assert_eq!(report.pushed, 4);
    assert_eq!(
        report.requests, 5,
        "four pushes of one settled change each, then a pull"
    );
    assert_eq!(store.status().unwrap().pending, 0);
}

#[test]
fn a_pending_household_edit_stays_shown_over_newer_server_records_until_acknowledged() {
    use doorstep_protocol::{HouseholdField, Mutation};
    let (_directory, store) = enrolled_store();
    let id = Uuid::from_u128(1);
    let edited = store
        .edit_household(id, &[(HouseholdField::Phone, json!("13900000001"))])
        .unwrap();
    assert_eq!(edited.record.phone, "13900000001");
    assert_eq!(
        edited.record.version, 1,
        "the base stays the server's version"
    );
    // The server's next version (another cadre changed the members) arrives
    // before the edit was pushed: both show.
    let mut newer = household(1, "喻兰", "123X");
    newer.version = 2;
    newer.members = 6;
    store
        .write(|transaction| households::put_household(transaction, &newer))
        .unwrap();
    let shown = store.household(id).unwrap().unwrap().record;
    assert_eq!(
        (shown.phone.as_str(), shown.members, shown.version),
        ("13900000001", 6, 2)
    );
    // Searching by the new phone finds it.
    assert_eq!(store.households(Some("13900000001")).unwrap().len(), 1);
    // The edit goes out with its base version; the household cannot be
    // released while it is pending.
    let batch = store.next_push_batch(10, 1 << 20).unwrap();
    let Mutation::Household(edit) = &batch[0].mutation else {
        panic!("expected a household edit");
    };
    assert_eq!(edit.base_version, 1);
    assert_eq!(edit.fields.len(), 1);
    store.release(&[id]).unwrap();
    assert!(store.household(id).unwrap().is_some());
    // Once acknowledged, the server's record is shown as it is.
    store
        .settle_push(
            &[(batch[0].seq, doorstep_protocol::Outcome::Applied)],
            at("2024-12-29T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(store.status().unwrap().pending, 0);
    store.release(&[]).unwrap();
    assert!(store.household(id).unwrap().is_none());
}

#[test]
fn observers_hear_what_each_committed_write_changed_until_unsubscribed() {
    use std::sync::Mutex;
    let (_directory, store) = enrolled_store();
    let heard: Arc<Mutex<Vec<DataChange>>> = Arc::default();
    let subscription = {
        let heard = Arc::clone(&heard);
        store.subscribe(Arc::new(move |change| heard.lock().unwrap().push(change)))
    };
    store.record_visit(new_visit(1, false)).unwrap();
    // A refused write changes nothing and says nothing.
    assert!(store.record_visit(new_visit(99, false)).is_err());
    store
        .edit_household(
            Uuid::from_u128(2),
            &[(
                doorstep_protocol::HouseholdField::Phone,
                json!("13900000009"),
            )],
        )
        .unwrap();
    drop(subscription);
    store.record_visit(new_visit(3, false)).unwrap();
    let heard = heard.lock().unwrap().clone();
    assert_eq!(
        heard,
        vec![
            DataChange {
                visits: true,
                sync: true,
                ..DataChange::default()
            },
            DataChange {
                households: true,
                sync: true,
                ..DataChange::default()
            },
        ]
    );
}

#[test]
fn households_are_listed_by_village() {
    let (_directory, store) = enrolled_store();
    let villages = store.villages().unwrap();
    assert_eq!(villages.len(), 1);
    assert_eq!(
        (
            villages[0].code.as_str(),
            villages[0].name.as_str(),
            villages[0].households
        ),
        ("530626104201", "中坝村", 3)
    );
    assert_eq!(
        store
            .households_in(Some("530626104201"), None)
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        store
            .households_in(Some("530626104201"), Some("兰"))
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .households_in(Some("530626104202"), None)
            .unwrap()
            .is_empty()
    );
}
