//! What an attacker found, each as a regression test against the real
//! server on port 0: enrolment takeover, one device stopping its village,
//! fooling exactly-once, the phone's clock, loose household fields,
//! unthrottled enrolment guesses.

use chrono::{DateTime, Utc};
use doorstep_core::sqlite::Durability;
use doorstep_core::transport::{HttpTransport, Transport, TransportError};
use doorstep_core::{Error, NewVisit, Store, StoreOptions};
use doorstep_e2e::{VILLAGE_A, VILLAGE_B, World, answers, sync};
use doorstep_protocol::limits::{MAX_PAGE_BYTES, MAX_TEXT_ANSWER_CHARS, MAX_VISIT_BYTES};
use doorstep_protocol::{
    Change, EnrollRequest, EnrollResponse, HouseholdEdit, HouseholdField, Mutation, Outcome,
    PROTOCOL_VERSION, PullQuery, PushRequest, RejectCode, VisitRecord,
};
use serde_json::json;
use uuid::Uuid;

fn transport(world: &World) -> HttpTransport {
    HttpTransport::new(&world.url()).expect("transport")
}

fn visit(
    enrollment: &EnrollResponse,
    household: Uuid,
    answers: doorstep_protocol::Answers,
) -> VisitRecord {
    doorstep_e2e::visit_record(enrollment, household, answers)
}

/// Pushes `mutations` under sequence numbers from `first`; the outcomes.
fn push(world: &World, token: &str, first: u64, mutations: Vec<Mutation>) -> Vec<Outcome> {
    let changes: Vec<Change> = mutations
        .into_iter()
        .zip(first..)
        .map(|(mutation, seq)| Change { seq, mutation })
        .collect();
    transport(world)
        .push(
            token,
            &PushRequest {
                protocol: PROTOCOL_VERSION,
                changes,
                pending: None,
            },
        )
        .expect("push answered")
        .results
        .into_iter()
        .map(|result| result.outcome)
        .collect()
}

fn code_of(outcome: &Outcome) -> Option<RejectCode> {
    match outcome {
        Outcome::Rejected { code, .. } => Some(*code),
        _ => None,
    }
}

#[test]
fn an_enrolment_replayed_after_the_first_pull_is_refused_and_the_device_keeps_syncing() {
    let world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let code = world.store.enroll_code(cadre).expect("code").code;
    let attempt = Uuid::now_v7();
    let request = EnrollRequest {
        protocol: PROTOCOL_VERSION,
        code: code.clone(),
        device_label: None,
        attempt: Some(attempt),
    };
    let transport = transport(&world);
    let first = transport.enroll(&request).expect("enrols");
    // The answer was lost: the same attempt gets the same device back.
    let retried = transport.enroll(&request).expect("a retry before any use");
    assert_eq!(retried.device_id, first.device_id);
    // The device pulls (no push): that is use of the token.
    transport
        .pull(&retried.token, &PullQuery::default())
        .expect("pulls");
    let replay = transport.enroll(&request).expect_err("a replay after use");
    assert!(
        matches!(replay, TransportError::Unauthorized(_)),
        "{replay}"
    );
    // The real device is not locked out.
    transport
        .pull(&retried.token, &PullQuery::default())
        .expect("the device keeps syncing");
    let kinds: Vec<String> = world
        .store
        .audit(10, None)
        .expect("audit")
        .into_iter()
        .map(|entry| entry.kind)
        .collect();
    for kind in ["enrolled", "enrol_retried", "enrol_refused"] {
        assert!(kinds.iter().any(|seen| seen == kind), "{kind} in {kinds:?}");
    }
    // Every authenticated request is contact, pulls included.
    let device = world
        .store
        .devices()
        .expect("devices")
        .into_iter()
        .find(|device| device.id == first.device_id)
        .expect("listed");
    assert!(device.last_seen_at > Some(device.enrolled_at.clone()));
}

/// Answers as large as a visit may be: a long note and members with long
/// names, each text within its limit.
fn largest_answers() -> doorstep_protocol::Answers {
    let mut answers = answers(7);
    let members = answers["members"].as_array_mut().expect("members");
    for (index, member) in members.iter_mut().enumerate() {
        member["member_name"] = json!(format!("{index}{}", "兰".repeat(9_000)));
    }
    answers.insert("notes".into(), json!("记".repeat(MAX_TEXT_ANSWER_CHARS)));
    let size = serde_json::to_vec(&answers).expect("json").len();
    assert!(
        size > MAX_VISIT_BYTES * 3 / 4 && size <= MAX_VISIT_BYTES,
        "{size} bytes"
    );
    answers
}

fn quick(world: &mut World, cadre: Uuid) -> Store {
    world.device_with(
        cadre,
        StoreOptions {
            durability: Durability::Normal,
            ..StoreOptions::default()
        },
    )
}

#[test]
fn the_largest_visits_stop_no_other_device_of_the_village() {
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let neighbour = world.cadre(VILLAGE_A);
    let hostile = quick(&mut world, cadre);
    let other = quick(&mut world, neighbour);
    sync(&hostile).expect("syncs");
    sync(&other).expect("syncs");
    let visits = 3 * MAX_PAGE_BYTES / MAX_VISIT_BYTES;
    let big = largest_answers();
    for number in 0..visits {
        hostile
            .record_visit(NewVisit {
                household_id: world.village_a[number % world.village_a.len()],
                form_id: None,
                answers: big.clone(),
                draft: false,
                corrects: None,
            })
            .expect("the largest visit the limits allow is recorded");
    }
    // One character more is refused on the phone, at its question.
    let mut over = big.clone();
    over.insert(
        "notes".into(),
        json!("记".repeat(MAX_TEXT_ANSWER_CHARS + 1)),
    );
    let refused = hostile
        .record_visit(NewVisit {
            household_id: world.village_a[0],
            form_id: None,
            answers: over,
            draft: false,
            corrects: None,
        })
        .expect_err("too long");
    assert!(
        matches!(&refused, Error::Invalid(violations) if violations.iter().any(|v| v.question == "notes")),
        "{refused}"
    );
    let pushed = sync(&hostile).expect("pushes");
    assert_eq!(pushed.pushed as usize, visits);

    // Another device of the village pulls all of it, in several pages.
    let pulled = sync(&other).expect("the other device is not stuck");
    assert_eq!(pulled.pulled as usize, visits, "{pulled:?}");
    assert!(pulled.requests >= 3, "paged: {pulled:?}");
    // A new device gets the households whole, every visit included.
    let third = world.cadre(VILLAGE_A);
    let newcomer = quick(&mut world, third);
    let fresh = sync(&newcomer).expect("a new device is not stuck");
    assert_eq!(fresh.households_added as usize, world.village_a.len());
    let received = newcomer.visits(None).expect("visits");
    assert_eq!(received.len(), visits);
    assert!(fresh.requests >= 4, "snapshots paged: {fresh:?}");
}

#[test]
fn exactly_once_cannot_be_fooled() {
    let world = World::new();
    let a = world.raw_enrollment(world.cadre(VILLAGE_A));
    let b = world.raw_enrollment(world.cadre(VILLAGE_B));
    let own = visit(&a, world.village_a[0], answers(2));
    let applied = push(&world, &a.token, 1, vec![Mutation::Visit(own.clone())]);
    assert_eq!(applied, vec![Outcome::Applied]);

    // Another device names that visit id for its own household: refused,
    // never `duplicate` (its content would be dropped on the phone).
    let stolen_id = VisitRecord {
        id: own.id,
        ..visit(&b, world.village_b[0], answers(3))
    };
    // …and for a household outside its scope, the scope answers first.
    let outside = VisitRecord {
        id: own.id,
        ..visit(&b, world.village_a[0], answers(3))
    };
    let outcomes = push(
        &world,
        &b.token,
        1,
        vec![Mutation::Visit(stolen_id), Mutation::Visit(outside)],
    );
    assert_eq!(code_of(&outcomes[0]), Some(RejectCode::Conflict));
    assert_eq!(code_of(&outcomes[1]), Some(RejectCode::OutOfScope));

    // The same id again from its own device: with other answers a
    // conflict, with the same content a duplicate (a rebuilt outbox).
    let changed = VisitRecord {
        answers: answers(5),
        ..own.clone()
    };
    let again = push(
        &world,
        &a.token,
        2,
        vec![Mutation::Visit(changed), Mutation::Visit(own.clone())],
    );
    assert_eq!(code_of(&again[0]), Some(RejectCode::Conflict));
    assert_eq!(again[1], Outcome::Duplicate);
    // A sequence number replayed with other content is no duplicate either.
    let reused = push(
        &world,
        &a.token,
        1,
        vec![Mutation::Visit(visit(&a, world.village_a[1], answers(2)))],
    );
    assert_eq!(code_of(&reused[0]), Some(RejectCode::Conflict));

    let nil = VisitRecord {
        id: Uuid::nil(),
        ..visit(&a, world.village_a[1], answers(2))
    };
    let refused = push(&world, &a.token, 10, vec![Mutation::Visit(nil)]);
    assert_eq!(code_of(&refused[0]), Some(RejectCode::Malformed));

    // One visit stored, once, with the content first pushed.
    let ids = world.server_visit_ids();
    assert_eq!(ids, vec![own.id]);
    let audit = world.store.audit(10, None).expect("audit");
    assert!(audit.iter().any(|entry| entry.kind == "change_refused"));
}

#[test]
fn the_phone_clock_is_advisory() {
    let world = World::new();
    let a = world.raw_enrollment(world.cadre(VILLAGE_A));
    let far: DateTime<Utc> = "9999-12-31T00:00:00Z".parse().expect("time");
    // A future visit date passes `. <= today()` only if the phone's clock
    // is believed.
    let mut future = answers(2);
    future.insert("visit_date".into(), json!("9999-12-30"));
    let cheating = VisitRecord {
        recorded_at: far,
        ..visit(&a, world.village_a[0], future)
    };
    let honest_but_wrong = VisitRecord {
        recorded_at: far,
        ..visit(&a, world.village_a[1], answers(2))
    };
    let outcomes = push(
        &world,
        &a.token,
        1,
        vec![
            Mutation::Visit(cheating),
            Mutation::Visit(honest_but_wrong.clone()),
        ],
    );
    assert_eq!(
        code_of(&outcomes[0]),
        Some(RejectCode::Invalid),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], Outcome::Applied);
    let mut stored = Vec::new();
    world
        .store
        .export_visits(&mut |visit| {
            stored.push(visit);
            Ok(())
        })
        .expect("export");
    assert_eq!(stored.len(), 1);
    assert!(stored[0].clock_ahead, "a recorded_at far ahead is flagged");
    assert!(stored[0].received_at.expect("received") < Utc::now() + chrono::Duration::seconds(5));
}

#[test]
fn household_fields_are_checked_by_type_on_the_device_and_the_server() {
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let device = world.device(cadre);
    sync(&device).expect("syncs");
    let household = world.village_a[0];
    for (field, value) in [
        (HouseholdField::Category, json!("rich")),
        (HouseholdField::HeadName, json!("王\u{0}国")),
        (HouseholdField::Address, json!("3组\u{202E}12号")),
    ] {
        let error = device
            .edit_household(household, &[(field, value)])
            .expect_err("refused on the device");
        assert!(matches!(error, Error::InvalidEdit { .. }), "{error}");
    }
    // A device that skips its own checks meets the server's.
    let raw = world.raw_enrollment(cadre);
    let edit = |field: HouseholdField, value: serde_json::Value| {
        Mutation::Household(HouseholdEdit {
            id: Uuid::now_v7(),
            household_id: household,
            base_version: 1,
            fields: [(field, value)].into_iter().collect(),
            hlc: doorstep_protocol::Hlc::new(Utc::now(), 0),
        })
    };
    let outcomes = push(
        &world,
        &raw.token,
        1,
        vec![
            edit(HouseholdField::Category, json!("rich")),
            edit(HouseholdField::HeadName, json!("王\u{0}国")),
            edit(HouseholdField::Category, json!("edge")),
        ],
    );
    assert!(code_of(&outcomes[0]).is_some(), "{outcomes:?}");
    assert!(code_of(&outcomes[1]).is_some(), "{outcomes:?}");
    assert_eq!(outcomes[2], Outcome::Applied);
    let stored = world
        .store
        .household(household)
        .expect("reads")
        .expect("there");
    assert_eq!(stored.category, "edge");
    assert!(!stored.head_name.contains('\u{0}'));
}

#[test]
fn wrong_enrolment_codes_are_throttled_per_address() {
    let world = World::new();
    let transport = transport(&world);
    let guess = |code: &str| {
        transport.enroll(&EnrollRequest {
            protocol: PROTOCOL_VERSION,
            code: code.into(),
            device_label: None,
            attempt: None,
        })
    };
    let mut refused = 0;
    let mut throttled = None;
    for attempt in 0..20 {
        match guess(&format!("WRONG-{attempt:05}")) {
            Err(TransportError::Unauthorized(_)) => refused += 1,
            Err(TransportError::Busy { retry_after }) => {
                throttled = Some(retry_after);
                break;
            }
            other => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!(refused, 10, "the burst is 10 attempts");
    let wait = throttled.flatten().expect("a 429 with Retry-After");
    assert!(wait.as_secs() >= 1);
    // Even a right code waits now: guesses cannot hide among real ones.
    let real = world
        .store
        .enroll_code(world.cadre(VILLAGE_A))
        .expect("code");
    assert!(matches!(
        guess(&real.code),
        Err(TransportError::Busy { .. })
    ));
    let audit = world.store.audit(100, None).expect("audit");
    let count = |kind: &str| audit.iter().filter(|entry| entry.kind == kind).count();
    // Guesses are audited once a minute per address, not once each.
    assert_eq!(count("enrol_refused"), 1);
    assert_eq!(
        count("client_throttled"),
        1,
        "throttling is audited once a minute"
    );
}

#[test]
fn an_unauthenticated_request_takes_only_a_small_body() {
    let world = World::new();
    let label = "x".repeat(8 * 1024);
    let error = transport(&world)
        .enroll(&EnrollRequest {
            protocol: PROTOCOL_VERSION,
            code: "ABCDE-FGHJK".into(),
            device_label: Some(label),
            attempt: None,
        })
        .expect_err("too large");
    assert!(
        matches!(&error, TransportError::Refused { status: 413, .. }),
        "{error}"
    );
}

#[test]
fn a_visit_pushed_over_the_limits_is_refused_and_the_rest_applies() {
    let world = World::new();
    let a = world.raw_enrollment(world.cadre(VILLAGE_A));
    let mut huge = largest_answers();
    let members = huge["members"].as_array_mut().expect("members");
    members.push(members[0].clone());
    members.push(members[0].clone());
    let outcomes = push(
        &world,
        &a.token,
        1,
        vec![
            Mutation::Visit(visit(&a, world.village_a[0], huge)),
            Mutation::Visit(visit(&a, world.village_a[1], answers(2))),
        ],
    );
    assert_eq!(
        code_of(&outcomes[0]),
        Some(RejectCode::TooLarge),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], Outcome::Applied);
    assert_eq!(world.server_visit_ids().len(), 1);
}
