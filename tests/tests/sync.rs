//! End to end: real device stores sync with the real server over HTTP.

use doorstep_core::sync::{CancelToken, SyncEngine, SyncOptions, SyncPhase, SyncProgress};
use doorstep_core::transport::{HttpTransport, Transport, TransportError};
use doorstep_core::{Error, VisitSync};
use doorstep_e2e::{VILLAGE_A, VILLAGE_B, World, answers, record, sync};
use doorstep_protocol::{
    Change, Mutation, Outcome, PROTOCOL_VERSION, PullQuery, PushRequest, RejectCode,
    SnapshotRequest, VisitRecord,
};
use uuid::Uuid;

fn visit_record(enrollment: &doorstep_protocol::EnrollResponse, household: Uuid) -> VisitRecord {
    doorstep_e2e::visit_record(enrollment, household, answers(3))
}

fn push(seq: u64, visit: VisitRecord) -> PushRequest {
    PushRequest {
        protocol: PROTOCOL_VERSION,
        changes: vec![Change {
            seq,
            mutation: Mutation::Visit(visit),
        }],
        pending: None,
    }
}

#[test]
fn a_visit_travels_from_a_device_to_the_server_and_to_the_second_cadre_of_the_village() {
    let mut world = World::new();
    let first = world.cadre(VILLAGE_A);
    let second = world.cadre(VILLAGE_A);
    let elsewhere = world.cadre(VILLAGE_B);
    let first = world.device(first);
    let second = world.device(second);
    let elsewhere = world.device(elsewhere);

    // First sync: each device receives its village and the form.
    for device in [&first, &second, &elsewhere] {
        sync(device).expect("first sync");
        assert_eq!(device.forms().expect("forms").len(), 1);
    }
    assert_eq!(first.households(None).expect("households").len(), 3);
    assert_eq!(elsewhere.households(None).expect("households").len(), 2);

    let recorded: Vec<Uuid> = world
        .village_a
        .iter()
        .map(|household| record(&first, *household))
        .collect();
    assert_eq!(first.status().expect("status").pending, 3);
    let report = sync(&first).expect("push");
    assert_eq!(
        (report.pushed, report.duplicates, report.rejected),
        (3, 0, 0)
    );
    assert_eq!(first.status().expect("status").pending, 0);
    let mut on_server = world.server_visit_ids();
    on_server.sort();
    let mut expected = recorded.clone();
    expected.sort();
    assert_eq!(on_server, expected);

    // The device's own visits do not come back as news.
    let again = sync(&first).expect("second sync");
    assert_eq!((again.pushed, again.pulled), (0, 0));
    assert!(
        first
            .visits(None)
            .expect("visits")
            .iter()
            .all(|visit| visit.own && visit.sync == VisitSync::Synced)
    );

    // The second cadre of the village receives them; the other village does not.
    let report = sync(&second).expect("pull");
    assert_eq!(report.pulled, 3);
    let seen: Vec<Uuid> = second
        .visits(None)
        .expect("visits")
        .iter()
        .map(|visit| visit.id)
        .collect();
    assert_eq!(seen.len(), 3);
    assert!(recorded.iter().all(|id| seen.contains(id)));
    assert!(
        second
            .visits(None)
            .expect("visits")
            .iter()
            .all(|visit| !visit.own && visit.received_at.is_some())
    );
    sync(&elsewhere).expect("pull elsewhere");
    assert!(elsewhere.visits(None).expect("visits").is_empty());
}

#[test]
fn a_replayed_push_changes_nothing_even_after_a_server_restart() {
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let enrollment = world.raw_enrollment(cadre);
    let transport = HttpTransport::new(&world.url()).expect("transport");
    let request = push(1, visit_record(&enrollment, world.village_a[0]));

    let first = transport.push(&enrollment.token, &request).expect("push");
    assert_eq!(first.results[0].outcome, Outcome::Applied);
    let replay = transport.push(&enrollment.token, &request).expect("replay");
    assert_eq!(replay.results[0].outcome, Outcome::Duplicate);
    assert_eq!(
        replay.position, first.position,
        "a replay writes nothing to the log"
    );

    world.restart_server();
    let after_restart = transport
        .push(&enrollment.token, &request)
        .expect("replay after restart");
    assert_eq!(after_restart.results[0].outcome, Outcome::Duplicate);
    // The same visit under a new sequence number (a device that lost its
    // acknowledgement and renumbered) is still one visit.
    let renumbered = transport
        .push(&enrollment.token, &push(2, visit_record_with_id(&request)))
        .expect("renumbered");
    assert_eq!(renumbered.results[0].outcome, Outcome::Duplicate);
    assert_eq!(world.server_visit_ids().len(), 1);

    // A different visit under a sequence number already used (a device
    // restored from an old copy) is refused, never taken for a duplicate:
    // a duplicate would make the device drop a visit the server lacks.
    let reused = transport
        .push(
            &enrollment.token,
            &push(1, visit_record(&enrollment, world.village_a[1])),
        )
        .expect("reused sequence");
    assert!(
        matches!(&reused.results[0].outcome, Outcome::Rejected { code: RejectCode::Conflict, reason } if reason.contains("already used"))
    );
    assert_eq!(world.server_visit_ids().len(), 1);
}

fn visit_record_with_id(request: &PushRequest) -> VisitRecord {
    match &request.changes[0].mutation {
        Mutation::Visit(visit) => visit.clone(),
        other => panic!("expected a visit, got {other:?}"),
    }
}

#[test]
fn a_device_writes_and_reads_only_its_cadres_households() {
    let world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let other = world.cadre(VILLAGE_B);
    let enrollment = world.raw_enrollment(cadre);
    let other_enrollment = world.raw_enrollment(other);
    let transport = HttpTransport::new(&world.url()).expect("transport");

    // A crafted push for a household of another village is rejected, with the reason.
    let response = transport
        .push(
            &enrollment.token,
            &push(1, visit_record(&enrollment, world.village_b[0])),
        )
        .expect("push");
    assert!(
        matches!(&response.results[0].outcome, Outcome::Rejected { code: RejectCode::OutOfScope, reason } if reason.contains("not assigned"))
    );
    // A visit claiming another device is rejected too.
    let forged = visit_record(&other_enrollment, world.village_a[0]);
    let response = transport
        .push(&enrollment.token, &push(2, forged))
        .expect("push");
    assert!(matches!(
        &response.results[0].outcome,
        Outcome::Rejected {
            code: RejectCode::Malformed,
            ..
        }
    ));
    assert!(world.server_visit_ids().is_empty());

    // The other village's visit does not reach this device's pull, and its
    // households cannot be fetched.
    let theirs = transport
        .push(
            &other_enrollment.token,
            &push(1, visit_record(&other_enrollment, world.village_b[0])),
        )
        .expect("push");
    assert_eq!(theirs.results[0].outcome, Outcome::Applied);
    let page = transport
        .pull(
            &enrollment.token,
            &PullQuery {
                cursor: 0,
                scope: None,
                limit: None,
                pending: None,
            },
        )
        .expect("pull");
    let mut scope = page.scope.clone().expect("a first pull lists the scope");
    scope.sort();
    let mut village_a = world.village_a.clone();
    village_a.sort();
    assert_eq!(scope, village_a);
    assert!(
        page.changes
            .iter()
            .all(|change| !matches!(change, doorstep_protocol::PulledChange::Visit(_)))
    );
    let snapshot = transport
        .snapshot(
            &enrollment.token,
            &SnapshotRequest {
                protocol: PROTOCOL_VERSION,
                households: vec![world.village_b[0], world.village_a[0]],
                after: None,
            },
        )
        .expect("snapshot");
    assert_eq!(snapshot.refused, vec![world.village_b[0]]);
    assert_eq!(snapshot.households.len(), 1);
    assert_eq!(snapshot.households[0].id, world.village_a[0]);
}

#[test]
fn invalid_visits_are_rejected_by_the_server_and_the_rest_of_the_batch_applies() {
    let world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let enrollment = world.raw_enrollment(cadre);
    let transport = HttpTransport::new(&world.url()).expect("transport");
    let good = visit_record(&enrollment, world.village_a[0]);
    let mut missing = visit_record(&enrollment, world.village_a[1]);
    missing.answers.remove("support_needed");
    let mut wrong_type = visit_record(&enrollment, world.village_a[2]);
    wrong_type.answers["members"][1]["age"] = serde_json::json!(150);
    let mut unknown_form = visit_record(&enrollment, world.village_a[0]);
    unknown_form.form_version = "1999".into();
    let request = PushRequest {
        protocol: PROTOCOL_VERSION,
        changes: [missing, good.clone(), wrong_type, unknown_form]
            .into_iter()
            .enumerate()
            .map(|(index, visit)| Change {
                seq: index as u64 + 1,
                mutation: Mutation::Visit(visit),
            })
            .collect(),
        pending: None,
    };
    let response = transport.push(&enrollment.token, &request).expect("push");
    let outcomes: Vec<&Outcome> = response
        .results
        .iter()
        .map(|result| &result.outcome)
        .collect();
    assert!(
        matches!(outcomes[0], Outcome::Rejected { code: RejectCode::Invalid, reason } if reason.contains("`support_needed`"))
    );
    assert_eq!(outcomes[1], &Outcome::Applied);
    assert!(
        matches!(outcomes[2], Outcome::Rejected { code: RejectCode::Invalid, reason } if reason.contains("`members[2]/age`: 年龄应在0到120岁之间"))
    );
    assert!(matches!(
        outcomes[3],
        Outcome::Rejected {
            code: RejectCode::UnknownForm,
            ..
        }
    ));
    assert_eq!(world.server_visit_ids(), vec![good.id]);
}

#[test]
fn assignment_changes_bring_households_whole_and_take_them_away() {
    let mut world = World::new();
    let cadre_a = world.cadre(VILLAGE_A);
    let cadre_b = world.cadre(VILLAGE_B);
    let device_a = world.device(cadre_a);
    let device_b = world.device(cadre_b);
    sync(&device_a).expect("sync");
    sync(&device_b).expect("sync");
    let history = record(&device_b, world.village_b[0]);
    sync(&device_b).expect("push");

    // Household B0 is paired with cadre A as well: it arrives with its history.
    let household = world.village_b[0];
    world
        .store
        .assign(
            cadre_a,
            &doorstep_server::store::AssignmentTarget::Household(household),
        )
        .expect("assign");
    let report = sync(&device_a).expect("sync after assignment");
    assert_eq!(report.households_added, 1);
    assert!(
        device_a
            .household(household)
            .expect("read")
            .is_some_and(|household| household.assigned)
    );
    assert!(
        device_a
            .visits(Some(household))
            .expect("visits")
            .iter()
            .any(|visit| visit.id == history)
    );
    assert_eq!(
        device_a
            .households(Some("牛塘"))
            .expect("search by village")
            .len(),
        1
    );

    // Unassigned while cadre A has a visit of it pending: the visit still
    // reaches the server (it was recorded in good faith), then the household
    // leaves the device with its history.
    let pending = record(&device_a, household);
    world
        .store
        .unassign(
            cadre_a,
            &doorstep_server::store::AssignmentTarget::Household(household),
        )
        .expect("unassign");
    let report = sync(&device_a).expect("sync after unassignment");
    assert_eq!(
        (report.pushed, report.rejected, report.households_released),
        (1, 0, 1)
    );
    assert!(world.server_visit_ids().contains(&pending));
    assert!(device_a.household(household).expect("read").is_none());
    assert!(
        device_a.visit(history).expect("read").is_none(),
        "the other cadre's visit left with the household"
    );
    assert!(
        device_a.visit(pending).expect("read").is_none(),
        "the server has it"
    );

    // A draft keeps a household on the device even when unassigned.
    let draft_household = world.village_a[0];
    device_a
        .record_visit(doorstep_core::NewVisit {
            household_id: draft_household,
            form_id: None,
            answers: answers(2),
            draft: true,
            corrects: None,
        })
        .expect("draft");

    // A household of the device's own village it never touched leaves at once.
    world
        .store
        .unassign(
            cadre_a,
            &doorstep_server::store::AssignmentTarget::Village(VILLAGE_A.into()),
        )
        .expect("unassign village");
    let report = sync(&device_a).expect("sync after the village is taken away");
    assert_eq!(report.households_released, 2);
    let left: Vec<_> = device_a.households(None).expect("households");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].record.id, draft_household);
    assert!(!left[0].assigned);

    // Once the draft is finalised and pushed, the household goes at the end
    // of that sync, with no further change of scope.
    let draft = device_a
        .visits(Some(draft_household))
        .expect("visits")
        .into_iter()
        .find(|visit| visit.own)
        .expect("the draft");
    device_a.finalise_draft(draft.id).expect("finalise");
    let report = sync(&device_a).expect("sync");
    assert_eq!((report.pushed, report.households_released), (1, 1));
    assert!(device_a.households(None).expect("households").is_empty());
}

#[test]
fn a_server_that_is_down_is_reported_quickly_and_nothing_is_lost() {
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let device = world.device(cadre);
    sync(&device).expect("sync");
    world.stop_server();
    let visits: Vec<Uuid> = (0..3)
        .map(|_| record(&device, world.village_a[1]))
        .collect();
    let contact = device.status().expect("status").last_contact;
    assert!(contact.is_some(), "the first sync reached the server");
    let error = sync(&device).expect_err("the server is down");
    assert!(error.is_transient(), "{error}");
    assert!(
        matches!(error, Error::Transport(TransportError::Unreachable(_))),
        "{error}"
    );
    let status = device.status().expect("status");
    assert_eq!(status.pending, 3);
    assert!(status.last_error.is_some());
    assert!(!status.stalled, "a server that is down is a matter of time");
    assert_eq!(
        status.last_contact, contact,
        "no contact while the server was down"
    );

    world.restart_server();
    let report = sync(&device).expect("sync after the server is back");
    assert_eq!(report.pushed, 3);
    let status = device.status().expect("status");
    assert_eq!((status.pending, status.last_error), (0, None));
    let mut on_server = world.server_visit_ids();
    on_server.sort();
    let mut expected = visits;
    expected.sort();
    assert_eq!(on_server, expected);
}

#[test]
fn a_large_backlog_goes_in_bounded_batches() {
    let world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let mut world = world;
    let device = world.device(cadre);
    sync(&device).expect("sync");
    for index in 0..1200 {
        record(&device, world.village_a[index % 3]);
    }
    let transport = HttpTransport::new(&world.url()).expect("transport");
    let mut steps = Vec::new();
    // Batches of 500 (the default is 2,000: ADR 0012).
    let options = SyncOptions {
        max_batch_changes: 500,
        ..SyncOptions::default()
    };
    let report = SyncEngine::new(&device, &transport)
        .with_options(options)
        .run(&mut |step| steps.push(step), &CancelToken::new())
        .expect("push the backlog");
    assert_eq!(report.pushed, 1200);
    assert!(
        report.requests >= 3,
        "1200 changes need at least three pushes of 500: {report:?}"
    );
    assert_eq!(world.server_visit_ids().len(), 1200);
    // Progress after every exchange: pushes counted against the total,
    // then the pull; bytes only grow, and end where the report ends.
    let pushes: Vec<&SyncProgress> = steps
        .iter()
        .filter(|step| step.phase == SyncPhase::Push)
        .collect();
    assert_eq!(pushes.len(), 3, "{steps:?}");
    assert_eq!(
        pushes
            .iter()
            .map(|step| (step.done, step.total))
            .collect::<Vec<_>>(),
        [(500, Some(1200)), (1000, Some(1200)), (1200, Some(1200))]
    );
    assert!(
        steps.windows(2).all(|pair| pair[0].bytes < pair[1].bytes),
        "{steps:?}"
    );
    assert_eq!(
        steps.last().map(|step| step.bytes),
        Some(report.bytes.total())
    );
    // The same answers in every visit: in columns with zstd, little more
    // than the ids.
    assert!(report.bytes.sent > 1200 * 8, "{:?}", report.bytes);
}

#[test]
fn a_cancelled_sync_resumes_where_it_stopped() {
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let device = world.device(cadre);
    sync(&device).expect("sync");
    for index in 0..30 {
        record(&device, world.village_a[index % 3]);
    }
    let transport = HttpTransport::new(&world.url()).expect("transport");
    let engine = SyncEngine::new(&device, &transport).with_options(SyncOptions {
        max_batch_changes: 10,
        ..SyncOptions::default()
    });
    // The app cancels as soon as the first batch is through (the user
    // closed the screen, the OS ends the background task).
    let cancel = CancelToken::new();
    let stopped = engine.run(
        &mut |step| {
            if step.phase == SyncPhase::Push {
                cancel.cancel();
            }
        },
        &cancel,
    );
    assert!(matches!(stopped, Err(Error::Cancelled)), "{stopped:?}");
    assert_eq!(device.status().expect("status").pending, 20);
    assert_eq!(world.server_visit_ids().len(), 10);
    // The next run starts after what was settled: no change goes twice.
    let resumed = engine
        .run(&mut |_| {}, &CancelToken::new())
        .expect("resumed");
    assert_eq!((resumed.pushed, resumed.duplicates), (20, 0));
    assert_eq!(world.server_visit_ids().len(), 30);
    assert_eq!(device.status().expect("status").pending, 0);
}

#[test]
fn a_revoked_or_unknown_token_is_refused() {
    let world = World::new();
    let transport = HttpTransport::new(&world.url()).expect("transport");
    let error = transport
        .pull(
            "not-a-token",
            &PullQuery {
                cursor: 0,
                scope: None,
                limit: None,
                pending: None,
            },
        )
        .expect_err("refused");
    assert!(matches!(error, TransportError::Unauthorized(_)), "{error}");
}

#[test]
fn enrolment_codes_work_once() {
    let world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let transport = HttpTransport::new(&world.url()).expect("transport");
    let code = world.store.enroll_code(cadre).expect("code");
    let request = |code: &str| doorstep_protocol::EnrollRequest {
        protocol: PROTOCOL_VERSION,
        code: code.to_string(),
        device_label: Some("test".into()),
        attempt: None,
    };
    // Typed in lower case without the dash: still the same code.
    let typed = code.code.replace('-', "").to_lowercase();
    transport.enroll(&request(&typed)).expect("first use");
    let reused = transport
        .enroll(&request(&code.code))
        .expect_err("second use");
    assert!(
        matches!(&reused, TransportError::Unauthorized(message) if message.contains("already used")),
        "{reused}"
    );
    let wrong = transport
        .enroll(&request("AAAAA-BBBBB"))
        .expect_err("wrong code");
    assert!(
        matches!(&wrong, TransportError::Unauthorized(message) if message.contains("not recognised")),
        "{wrong}"
    );
}

#[test]
fn a_revoked_device_can_no_longer_sync_and_keeps_its_visits() {
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let device = world.device(cadre);
    sync(&device).expect("sync");
    let visit = record(&device, world.village_a[0]);
    let identity = device.require_identity().expect("enrolled");
    world
        .store
        .revoke_device(identity.device_id)
        .expect("revoke");
    let error = sync(&device).expect_err("revoked");
    assert!(
        matches!(error, Error::Transport(TransportError::Unauthorized(_))),
        "{error}"
    );
    assert!(!error.is_transient());
    let status = device.status().expect("status");
    assert!(
        status.stalled,
        "a revoked device needs a person, not a retry"
    );
    assert!(
        status.last_contact.is_some(),
        "the server answered, with a refusal"
    );
    assert_eq!(
        device.visit(visit).expect("read").expect("kept").sync,
        VisitSync::Pending
    );
    assert!(world.server_visit_ids().is_empty());
}
