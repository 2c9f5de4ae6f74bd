//! Form sessions through the store: a new visit, a draft saved and taken
//! up again, a correction, on real files.

#![allow(clippy::unwrap_used)]

use uuid::Uuid;

use super::tests::{enrolled_store, new_visit};
use crate::Error;
use crate::forms::{Answer, Options, Rule, Stage};
use crate::model::VisitStatus;

/// Answers the demo form's required questions for one adult member.
fn fill_in(session: &mut super::VisitSession) {
    let choice = |name: &str| Some(Answer::Choice(name.into()));
    session
        .set_answer(
            "visit_date",
            Some(Answer::Date(
                chrono::NaiveDate::from_ymd_opt(2024, 12, 27).unwrap(),
            )),
        )
        .unwrap();
    session.set_answer("respondent", choice("head")).unwrap();
    session.add_repeat("members").unwrap();
    session
        .set_answer("members[1]/member_name", Some(Answer::Text("喻兰".into())))
        .unwrap();
    session
        .set_answer("members[1]/relation", choice("head"))
        .unwrap();
    session
        .set_answer("members[1]/age", Some(Answer::Integer(47)))
        .unwrap();
    session
        .set_answer("members[1]/able_to_work", choice("full"))
        .unwrap();
    for question in [
        "food_clothing_ok",
        "education_ok",
        "medical_insurance_ok",
        "housing_safe",
        "drinking_water_safe",
    ] {
        session.set_answer(question, choice("yes")).unwrap();
    }
    session.set_answer("risk_category", choice("none")).unwrap();
    session.set_answer("relocated", choice("no")).unwrap();
    session
        .set_answer("support_needed", Some(Answer::Choices(vec!["jobs".into()])))
        .unwrap();
    session
        .set_answer("income_wages", Some(Answer::Decimal(12_600.0)))
        .unwrap();
}

#[test]
fn a_draft_saved_from_a_session_comes_back_and_finalises_with_the_forms_values() {
    let (_directory, store) = enrolled_store();
    let household = Uuid::from_u128(1);
    let mut session = store.start_visit(household, None).unwrap();
    assert_eq!(session.form_id(), "household_check");
    session
        .set_answer("respondent", Some(Answer::Choice("spouse".into())))
        .unwrap();
    let draft = store.save_session(&mut session).unwrap();
    assert_eq!(draft.status, VisitStatus::Draft);
    assert_eq!(session.draft_id(), Some(draft.id));

    let mut session = store.resume_draft(draft.id).unwrap();
    assert_eq!(
        session.node("respondent").unwrap().value,
        Some(Answer::Choice("spouse".into()))
    );
    // Not yet complete: refused with every violation, nothing saved.
    match store.finalise_session(&mut session) {
        Err(Error::Invalid(violations)) => {
            assert!(
                violations
                    .iter()
                    .any(|violation| violation.rule == Rule::Required)
            );
        }
        other => panic!("expected the violations, got {other:?}"),
    }
    assert_eq!(
        store.visit(draft.id).unwrap().unwrap().status,
        VisitStatus::Draft
    );

    fill_in(&mut session);
    let computed = session.evaluation(Stage::Final).computed;
    let visit = store.finalise_session(&mut session).unwrap();
    assert_eq!(visit.id, draft.id, "the draft becomes the visit");
    assert_eq!(visit.status, VisitStatus::Final);
    assert_eq!(visit.computed, computed);
    assert_eq!(
        visit.computed["per_capita_income"],
        serde_json::json!(12_600)
    );
    assert_eq!(store.status().unwrap().pending, 1);
    assert!(matches!(
        store.resume_draft(visit.id),
        Err(Error::Finalised(_))
    ));
}

#[test]
fn a_session_without_a_draft_finalises_straight_to_a_visit_on_its_version() {
    let (_directory, store) = enrolled_store();
    let mut session = store
        .start_visit(Uuid::from_u128(2), Some("household_check"))
        .unwrap();
    fill_in(&mut session);
    let visit = store.finalise_session(&mut session).unwrap();
    assert_eq!(visit.status, VisitStatus::Final);
    assert_eq!(visit.form_version, session.form_version());
    let form = session.form();
    let options = Options {
        stage: Stage::Final,
        language: None,
        today: chrono::Utc::now().date_naive(),
    };
    assert_eq!(
        visit.answers,
        form.evaluate(session.answers(), &options).answers
    );
}

#[test]
fn a_deleted_draft_is_gone_and_a_finalised_visit_cannot_be_deleted() {
    let (_directory, store) = enrolled_store();
    let mut session = store.start_visit(Uuid::from_u128(1), None).unwrap();
    let draft = store.save_session(&mut session).unwrap();
    store.delete_draft(draft.id).unwrap();
    assert_eq!(store.visit(draft.id).unwrap(), None);
    assert!(matches!(
        store.delete_draft(draft.id),
        Err(Error::UnknownVisit(_))
    ));
    let visit = store.record_visit(new_visit(1, false)).unwrap();
    assert!(matches!(
        store.delete_draft(visit.id),
        Err(Error::Finalised(_))
    ));
    assert!(store.visit(visit.id).unwrap().is_some());
}

#[test]
fn a_correction_starts_from_the_visit_it_corrects() {
    let (_directory, store) = enrolled_store();
    let original = store.record_visit(new_visit(3, false)).unwrap();
    let mut session = store.start_correction(original.id).unwrap();
    assert_eq!(session.corrects(), Some(original.id));
    assert_eq!(session.answers(), &original.answers);
    session
        .set_answer("income_wages", Some(Answer::Integer(20_000)))
        .unwrap();
    let correction = store.finalise_session(&mut session).unwrap();
    assert_eq!(correction.corrects, Some(original.id));
    assert_eq!(correction.household_id, original.household_id);
    assert!(matches!(
        store.start_correction(Uuid::from_u128(99)),
        Err(Error::UnknownVisit(_))
    ));
    assert!(matches!(
        store.start_visit(Uuid::from_u128(99), None),
        Err(Error::UnknownHousehold(_))
    ));
}
