use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::NaiveDate;
use doorstep_protocol::Answers;
use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::{Expr, Labels, Question, Rule};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 1, 20).expect("a date")
}

fn demo() -> Arc<Form> {
    let text = include_str!("../../household-check.json");
    let definition: Json = serde_json::from_str(text).expect("the demo form is JSON");
    Arc::new(Form::from_definition(&definition).expect("the demo form reads"))
}

fn session(language: Option<&str>) -> FormSession {
    FormSession::new(demo(), Answers::new(), language.map(str::to_owned), today())
}

fn paths(nodes: &[Node]) -> BTreeSet<&str> {
    nodes.iter().map(|node| node.path.as_str()).collect()
}

fn node(session: &FormSession, path: &str) -> Node {
    session
        .node(path)
        .unwrap_or_else(|| panic!("no node at {path}"))
}

/// Adds a member with an age.
fn add_member(session: &mut FormSession, age: i64) -> Changes {
    let mut changes = session.add_repeat("members").expect("members is a repeat");
    let item = session.node("members").expect("members").items;
    let set = session
        .set_answer(&format!("members[{item}]/age"), Some(Answer::Integer(age)))
        .expect("an age fits");
    changes.changed.extend(set.changed);
    changes
}

#[test]
fn the_nodes_are_the_form_in_order_with_labels_in_the_language() {
    let session = session(Some("zh-CN"));
    let nodes = session.nodes();
    let names: Vec<&str> = nodes
        .iter()
        .take(4)
        .map(|node| node.path.as_str())
        .collect();
    assert_eq!(
        names,
        ["visit_date", "respondent", "members", "member_count"]
    );
    let respondent = node(&session, "respondent");
    assert_eq!(respondent.depth, 0);
    assert!(respondent.required && respondent.relevant && !respondent.read_only);
    assert_eq!(
        respondent
            .choices
            .iter()
            .map(|choice| choice.name.as_str())
            .collect::<Vec<_>>(),
        ["head", "spouse", "other"]
    );
    let income = node(&session, "income_wages");
    assert_eq!(income.parent.as_deref(), Some("income"));
    assert_eq!(income.depth, 1);
    // No members yet: the migration group does not apply.
    assert!(!node(&session, "migration").relevant);
    assert!(node(&session, "member_count").read_only);
    let english = FormSession::new(demo(), Answers::new(), Some("en".into()), today());
    assert_ne!(
        node(&english, "respondent").label,
        node(&session, "respondent").label
    );
}

#[test]
fn members_bring_the_migration_group_and_their_ages_their_questions() {
    let mut session = session(Some("en"));
    let changes = add_member(&mut session, 34);
    let added = paths(&changes.added);
    assert!(added.contains("members[1]") && added.contains("members[1]/age"));
    let changed = paths(&changes.changed);
    assert!(changed.contains("migration"), "{changed:?}");
    assert!(changed.contains("member_count"));
    let member = node(&session, "members[1]/age");
    assert_eq!(member.parent.as_deref(), Some("members[1]"));
    assert_eq!(member.depth, 2);
    assert_eq!(member.value, Some(Answer::Integer(34)));
    assert!(node(&session, "migration").relevant);
    assert!(node(&session, "members[1]/able_to_work").relevant);
    assert!(!node(&session, "members[1]/in_school").relevant);

    let changes = session
        .set_answer("members[1]/age", Some(Answer::Integer(9)))
        .expect("an age");
    let changed = paths(&changes.changed);
    assert_eq!(
        changed,
        BTreeSet::from([
            "members[1]/age",
            "members[1]/able_to_work",
            "members[1]/in_school"
        ])
    );
    assert!(node(&session, "members[1]/in_school").relevant);
    assert!(!node(&session, "members[1]/able_to_work").relevant);
}

#[test]
fn a_bad_age_shows_the_forms_message_as_it_is_typed_and_clears_when_fixed() {
    let mut session = session(Some("zh-CN"));
    add_member(&mut session, 30);
    let changes = session
        .set_answer("members[1]/age", Some(Answer::Integer(130)))
        .expect("a number is an age, even a wrong one");
    let age = changes
        .changed
        .iter()
        .find(|node| node.path == "members[1]/age")
        .expect("the age changed");
    assert_eq!(age.violations.len(), 1);
    assert_eq!(age.violations[0].rule, Rule::Constraint);
    assert_eq!(age.violations[0].message, "年龄应在0到120岁之间");
    let changes = session
        .set_answer("members[1]/age", Some(Answer::Integer(13)))
        .expect("an age");
    let age = changes
        .changed
        .iter()
        .find(|node| node.path == "members[1]/age")
        .expect("the age changed");
    assert!(age.violations.is_empty());
}

#[test]
fn income_changes_reach_the_per_capita_income_and_the_below_the_line_note_only() {
    let mut session = session(None);
    add_member(&mut session, 40);
    add_member(&mut session, 38);
    let changes = session
        .set_answer("income_wages", Some(Answer::Decimal(30_000.0)))
        .expect("wages");
    assert_eq!(
        paths(&changes.changed),
        BTreeSet::from([
            "income_wages",
            "net_income",
            "per_capita_income",
            "below_line",
            "below_line_note"
        ]),
        "30,000 for two is 15,000 each: no longer below the line, the note goes"
    );
    assert!(!node(&session, "below_line_note").relevant);
    assert_eq!(
        node(&session, "per_capita_income").value,
        Some(Answer::Integer(15_000))
    );
    assert_eq!(
        node(&session, "below_line").value,
        Some(Answer::Text("no".into()))
    );
    let changes = session
        .set_answer("production_costs", Some(Answer::Integer(12_000)))
        .expect("costs");
    let changed = paths(&changes.changed);
    assert!(changed.contains("below_line_note"), "{changed:?}");
    assert!(node(&session, "below_line_note").relevant);
    assert_eq!(
        node(&session, "per_capita_income").value,
        Some(Answer::Integer(9_000))
    );
}

#[test]
fn relocation_questions_apply_when_the_household_was_relocated() {
    let mut session = session(None);
    assert!(!node(&session, "resettlement_site").relevant);
    let changes = session
        .set_answer("relocated", Some(Answer::Choice("yes".into())))
        .expect("relocated");
    let changed = paths(&changes.changed);
    assert!(changed.contains("relocation") && changed.contains("resettlement_site"));
    assert!(node(&session, "resettlement_site").required);
    let page = session.violations(Some("relocation")).expect("a group");
    assert_eq!(
        page.iter()
            .map(|violation| (violation.question.as_str(), violation.rule))
            .collect::<Vec<_>>(),
        [
            ("resettlement_site", Rule::Required),
            ("works_at_site", Rule::Required)
        ]
    );
    session
        .set_answer("relocated", Some(Answer::Choice("no".into())))
        .expect("not relocated");
    assert_eq!(session.violations(Some("relocation")).expect("a group"), []);
}

#[test]
fn removing_a_member_moves_the_next_up_and_drops_the_last_path() {
    let mut session = session(None);
    add_member(&mut session, 70);
    add_member(&mut session, 8);
    let changes = session.remove_repeat("members[1]").expect("an item");
    assert!(changes.removed.contains(&"members[2]".to_owned()));
    assert!(changes.removed.contains(&"members[2]/age".to_owned()));
    assert_eq!(
        node(&session, "members[1]/age").value,
        Some(Answer::Integer(8))
    );
    assert_eq!(
        session.answers()["members"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        session.remove_repeat("members[2]"),
        Err(SessionError::NoSuchPath("members[2]".into()))
    );
}

#[test]
fn refused_changes_change_nothing() {
    let mut session = session(None);
    add_member(&mut session, 30);
    let before = session.answers().clone();
    let nodes = session.nodes();
    let refusals = [
        session.set_answer("members[1]/age", Some(Answer::Text("thirty".into()))),
        session.set_answer("members[2]/age", Some(Answer::Integer(3))),
        session.set_answer("age", Some(Answer::Integer(3))),
        session.set_answer("members[0]/age", Some(Answer::Integer(3))),
        session.set_answer("member_count", Some(Answer::Integer(3))),
        session.set_answer("below_line_note", Some(Answer::Text("x".into()))),
        session.set_answer("nothing", None),
        session.set_answer("income_wages", Some(Answer::Decimal(f64::NAN))),
        session.add_repeat("age"),
        session.remove_repeat("members"),
    ];
    for refusal in &refusals {
        assert!(refusal.is_err(), "{refusal:?}");
    }
    assert!(matches!(
        refusals[0],
        Err(SessionError::WrongKind {
            kind: "integer",
            given: "text",
            ..
        })
    ));
    assert_eq!(session.answers(), &before);
    assert_eq!(session.nodes(), nodes);
}

#[test]
fn a_session_evaluates_as_the_form_does() {
    let mut session = session(Some("zh-CN"));
    add_member(&mut session, 52);
    add_member(&mut session, 17);
    session
        .set_answer("income_business", Some(Answer::Decimal(8_500.5)))
        .expect("income");
    let evaluation = session.evaluation(Stage::Draft);
    let options = Options {
        stage: Stage::Draft,
        language: Some("zh-CN"),
        today: today(),
    };
    assert_eq!(evaluation, demo().evaluate(session.answers(), &options));
    assert_eq!(
        evaluation.computed["per_capita_income"],
        json!(4250.25),
        "the node shows what the evaluation computes"
    );
    assert_eq!(
        node(&session, "per_capita_income").value,
        Some(Answer::Decimal(4250.25))
    );
}

/// A form whose relevance goes round in a circle: evaluated whole after
/// each change, still what `Form::evaluate` gives.
#[test]
fn a_form_with_a_cycle_is_evaluated_whole() {
    let expr = |source: &str| Some(Expr::parse(source).expect("an expression"));
    let form = Form {
        form_id: "cycle".into(),
        version: "1".into(),
        title: "cycle".into(),
        default_language: None,
        questions: vec![
            Question {
                relevant: expr("${b} != 'x'"),
                ..Question::new("a", QuestionKind::Text)
            },
            Question {
                relevant: expr("${a} != 'x'"),
                ..Question::new("b", QuestionKind::Text)
            },
            Question {
                label: Labels::plain("C"),
                ..Question::new("c", QuestionKind::Text)
            },
        ],
        choices: Default::default(),
        data: Default::default(),
        settings: Default::default(),
    };
    let form = Arc::new(form);
    let mut session = FormSession::new(Arc::clone(&form), Answers::new(), None, today());
    session
        .set_answer("a", Some(Answer::Text("x".into())))
        .expect("text");
    let fresh = FormSession::new(form, session.answers().clone(), None, today());
    assert_eq!(session.nodes(), fresh.nodes());
    assert!(!node(&session, "b").relevant);
}

/// One step a screen may take.
#[derive(Debug, Clone)]
enum Step {
    AddMember,
    AddMigrant,
    RemoveMember(usize),
    Age(usize, i64),
    Income(&'static str, i64),
    Choice(&'static str, &'static str),
    Clear(&'static str),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::AddMember),
        Just(Step::AddMigrant),
        (1usize..4).prop_map(Step::RemoveMember),
        ((1usize..4), (-5i64..130)).prop_map(|(item, age)| Step::Age(item, age)),
        (
            prop::sample::select(vec!["income_wages", "income_business", "production_costs"]),
            -100i64..60_000
        )
            .prop_map(|(question, amount)| Step::Income(question, amount)),
        (
            prop::sample::select(vec!["relocated", "food_clothing_ok", "housing_safe"]),
            prop::sample::select(vec!["yes", "no"])
        )
            .prop_map(|(question, choice)| Step::Choice(question, choice)),
        prop::sample::select(vec!["relocated", "income_wages", "respondent"]).prop_map(Step::Clear),
    ]
}

fn take(session: &mut FormSession, step: &Step) -> Result<Changes, SessionError> {
    match step {
        Step::AddMember => session.add_repeat("members"),
        Step::AddMigrant => session.add_repeat("migrants"),
        Step::RemoveMember(item) => session.remove_repeat(&format!("members[{item}]")),
        Step::Age(item, age) => {
            session.set_answer(&format!("members[{item}]/age"), Some(Answer::Integer(*age)))
        }
        Step::Income(question, amount) => {
            session.set_answer(question, Some(Answer::Integer(*amount)))
        }
        Step::Choice(question, choice) => {
            session.set_answer(question, Some(Answer::Choice((*choice).into())))
        }
        Step::Clear(question) => session.set_answer(question, None),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever a screen does, the incremental state is the one a session
    /// started afresh from the same answers has, and every change it
    /// reported brought the screen to that state.
    #[test]
    fn incremental_evaluation_matches_a_fresh_one(steps in prop::collection::vec(step(), 1..40)) {
        let mut session = session(Some("en"));
        let mut screen: std::collections::BTreeMap<String, Node> = session
            .nodes()
            .into_iter()
            .map(|node| (node.path.clone(), node))
            .collect();
        for step in &steps {
            let before = session.answers().clone();
            // Steps on items that do not exist are refused, changing nothing.
            match take(&mut session, step) {
                Ok(changes) => {
                    for node in changes.changed.into_iter().chain(changes.added) {
                        screen.insert(node.path.clone(), node);
                    }
                    for path in changes.removed {
                        screen.remove(&path);
                    }
                }
                Err(_) => prop_assert_eq!(session.answers(), &before),
            }
            let shown: Vec<Node> = screen.values().cloned().collect();
            let mut expected = session.nodes();
            expected.sort_by(|a, b| a.path.cmp(&b.path));
            prop_assert_eq!(shown, expected, "the screen follows the changes");
            let fresh = FormSession::new(demo(), session.answers().clone(), Some("en".into()), today());
            prop_assert_eq!(session.nodes(), fresh.nodes());
            prop_assert_eq!(&session.live, &fresh.live);
        }
    }
}
