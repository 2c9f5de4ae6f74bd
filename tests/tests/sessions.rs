//! A visit filled in through a form session, the way an app's screens do,
//! reaches the real server (on port 0) and is stored with the calculated
//! values the phone computed: the server evaluates it again with the same
//! engine and comes to the same values.

use chrono::NaiveDate;
use doorstep_core::forms::{Answer, Rule};
use doorstep_e2e::{VILLAGE_A, World, sync};

fn choice(name: &str) -> Option<Answer> {
    Some(Answer::Choice(name.into()))
}

#[test]
fn a_visit_made_through_a_session_is_stored_with_the_same_computed_values() {
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let device = world.device(cadre);
    sync(&device).expect("households and the form");
    let household = world.village_a[1];

    let mut session = device.start_visit(household, None).expect("a session");
    let date = NaiveDate::from_ymd_opt(2024, 12, 26).expect("a date");
    session
        .set_answer("visit_date", Some(Answer::Date(date)))
        .expect("date");
    session
        .set_answer("respondent", choice("spouse"))
        .expect("respondent");
    for (item, (name, relation, age)) in [
        ("欧阳娜娜", "head", 44),
        ("李德明", "spouse", 46),
        ("欧阳小川", "child", 12),
    ]
    .into_iter()
    .enumerate()
    {
        session.add_repeat("members").expect("members");
        let at = |question: &str| format!("members[{}]/{question}", item + 1);
        session
            .set_answer(&at("member_name"), Some(Answer::Text(name.into())))
            .expect("name");
        session
            .set_answer(&at("relation"), choice(relation))
            .expect("relation");
        session
            .set_answer(&at("age"), Some(Answer::Integer(age)))
            .expect("age");
        let follow_up = if age >= 16 {
            ("able_to_work", "partial")
        } else {
            ("in_school", "yes")
        };
        session
            .set_answer(&at(follow_up.0), choice(follow_up.1))
            .expect("follow-up");
    }
    session.add_repeat("migrants").expect("migrants");
    session
        .set_answer(
            "migrants[1]/migrant_name",
            Some(Answer::Text("李德明".into())),
        )
        .expect("migrant");
    session
        .set_answer("migrants[1]/destination", choice("in_province"))
        .expect("destination");
    session
        .set_answer("migrants[1]/monthly_income", Some(Answer::Decimal(3_450.5)))
        .expect("income");
    for (question, amount) in [
        ("income_wages", 21_406.0),
        ("income_business", 3_310.75),
        ("production_costs", 1_950.0),
    ] {
        session
            .set_answer(question, Some(Answer::Decimal(amount)))
            .expect("income");
    }
    for question in [
        "food_clothing_ok",
        "education_ok",
        "medical_insurance_ok",
        "drinking_water_safe",
    ] {
        session
            .set_answer(question, choice("yes"))
            .expect("assurance");
    }
    session
        .set_answer("housing_safe", choice("no"))
        .expect("housing");
    session
        .set_answer("risk_category", choice("unstable"))
        .expect("risk");
    session
        .set_answer("relocated", choice("no"))
        .expect("relocated");
    session
        .set_answer(
            "support_needed",
            Some(Answer::Choices(vec!["industry".into(), "loans".into()])),
        )
        .expect("support");
    assert_eq!(session.violations(None).expect("the form"), []);
    assert!(
        session.node("below_line_note").expect("the note").relevant,
        "7,588.92 a head"
    );

    let visit = device.finalise_session(&mut session).expect("finalised");
    let report = sync(&device).expect("pushed");
    assert_eq!(report.pushed, 1);

    let mut stored = Vec::new();
    world
        .store
        .export_visits(&mut |record| {
            stored.push(record);
            Ok(())
        })
        .expect("export");
    let record = stored
        .iter()
        .find(|record| record.id == visit.id)
        .expect("on the server");
    assert_eq!(
        record.computed, visit.computed,
        "the server computes what the phone did"
    );
    assert_eq!(record.answers, visit.answers);
    assert_eq!(
        record.computed["per_capita_income"],
        serde_json::json!(7588.92)
    );
}

#[test]
fn a_session_refuses_to_finalise_what_the_server_would_reject() {
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let device = world.device(cadre);
    sync(&device).expect("households and the form");
    let mut session = device
        .start_visit(world.village_a[0], None)
        .expect("a session");
    session.add_repeat("members").expect("members");
    session
        .set_answer("members[1]/age", Some(Answer::Integer(131)))
        .expect("an age, a wrong one");
    let violations = session.violations(None).expect("the form");
    assert!(
        violations
            .iter()
            .any(|violation| violation.question == "members[1]/age"
                && violation.rule == Rule::Constraint)
    );
    match device.finalise_session(&mut session) {
        Err(doorstep_core::Error::Invalid(refused)) => assert_eq!(refused, violations),
        other => panic!("expected the violations, got {other:?}"),
    }
    assert_eq!(sync(&device).expect("nothing to push").pushed, 0);
    assert!(world.server_visit_ids().is_empty());
}
