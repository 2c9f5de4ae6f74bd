//! What the session fills in itself and the kinds of format 3: repeats
//! sized by `repeat_count`, metadata, choice filters, read-only questions,
//! times and ranks.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveTime};
use doorstep_protocol::Answers;

use super::*;
use crate::{Choice, Expr, Labels, Metadata, Question, Rule};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 2, 3).expect("a date")
}

fn expr(source: &str) -> Option<Expr> {
    Some(Expr::parse(source).expect("an expression"))
}

fn form(questions: Vec<Question>, choices: BTreeMap<String, Vec<Choice>>) -> Arc<Form> {
    Arc::new(Form {
        form_id: "fill".into(),
        version: "1".into(),
        title: "fill".into(),
        default_language: Some("en".into()),
        questions,
        choices,
        data: BTreeMap::new(),
        settings: BTreeMap::new(),
    })
}

fn choice(name: &str, county: &str) -> Choice {
    let mut choice = Choice::new(name, Labels::plain(name.to_uppercase()));
    choice.extra.insert("county".into(), county.into());
    choice
}

fn household() -> Arc<Form> {
    let roster = Question {
        repeat_count: expr("${people}"),
        children: vec![
            Question::new("name", QuestionKind::Text),
            Question {
                calculation: expr("position(..)"),
                ..Question::new("number", QuestionKind::Calculate)
            },
        ],
        ..Question::new("roster", QuestionKind::Repeat)
    };
    let questions = vec![
        Question::new("started", QuestionKind::Metadata(Metadata::Start)),
        Question::new("finished", QuestionKind::Metadata(Metadata::End)),
        Question::new("device", QuestionKind::Metadata(Metadata::DeviceId)),
        Question::new("people", QuestionKind::Integer),
        roster,
        Question {
            calculation: expr("indexed-repeat(${name}, ${roster}, 2)"),
            ..Question::new("second", QuestionKind::Calculate)
        },
        Question::new(
            "county",
            QuestionKind::SelectOne {
                list: "counties".into(),
            },
        ),
        Question {
            choice_filter: Some(Expr::parse_filter("county = ${county}").expect("a filter")),
            ..Question::new(
                "village",
                QuestionKind::SelectOne {
                    list: "villages".into(),
                },
            )
        },
        Question {
            read_only: true,
            ..Question::new("code", QuestionKind::Text)
        },
        Question::new("arrived", QuestionKind::Time),
        Question::new("left", QuestionKind::DateTime),
        Question::new(
            "priorities",
            QuestionKind::Rank {
                list: "counties".into(),
            },
        ),
    ];
    let mut choices = BTreeMap::new();
    choices.insert(
        "counties".into(),
        vec![
            Choice::new("zhaoyang", Labels::plain("昭阳区")),
            Choice::new("ludian", Labels::plain("鲁甸县")),
        ],
    );
    choices.insert(
        "villages".into(),
        vec![
            choice("a", "zhaoyang"),
            choice("b", "ludian"),
            choice("c", "zhaoyang"),
        ],
    );
    form(questions, choices)
}

fn node(session: &FormSession, path: &str) -> Node {
    session
        .node(path)
        .unwrap_or_else(|| panic!("no node at {path}"))
}

#[test]
fn a_counted_repeat_follows_its_count_and_cannot_be_resized_by_hand() {
    let mut session = FormSession::new(household(), Answers::new(), None, today());
    assert_eq!(node(&session, "roster").items, 0);
    let changes = session
        .set_answer("people", Some(Answer::Integer(3)))
        .expect("a count");
    assert!(
        changes
            .added
            .iter()
            .any(|node| node.path == "roster[3]/name")
    );
    assert_eq!(node(&session, "roster").items, 3);
    assert_eq!(
        node(&session, "roster[2]/number").value,
        Some(Answer::Integer(2))
    );
    session
        .set_answer("roster[2]/name", Some(Answer::Text("李娟".into())))
        .expect("a name");
    assert_eq!(
        node(&session, "second").value,
        Some(Answer::Text("李娟".into()))
    );

    let changes = session
        .set_answer("people", Some(Answer::Integer(1)))
        .expect("fewer");
    assert!(changes.removed.contains(&"roster[2]/name".to_owned()));
    assert_eq!(node(&session, "roster").items, 1);
    assert_eq!(
        node(&session, "second").value,
        Some(Answer::Text(String::new())),
        "item 2 is gone"
    );
    assert_eq!(
        session.add_repeat("roster"),
        Err(SessionError::Counted("roster".into()))
    );
    assert_eq!(
        session.remove_repeat("roster[1]"),
        Err(SessionError::Counted("roster".into()))
    );

    session
        .set_answer("people", Some(Answer::Integer(1_000_000)))
        .expect("a typo");
    assert_eq!(node(&session, "roster").items, fill::MAX_COUNTED_ITEMS);
    let fresh = FormSession::new(household(), session.answers().clone(), None, today());
    assert_eq!(session.nodes(), fresh.nodes());
}

#[test]
fn metadata_is_stamped_once_at_the_start_and_end_is_set_when_finishing() {
    let mut session = FormSession::new(household(), Answers::new(), None, today());
    let morning = DateTime::parse_from_rfc3339("2025-02-03T08:15:00+08:00").expect("a time");
    let stamp = Stamp {
        now: morning,
        device_id: Some("0190b4c1-device".into()),
        username: Some("张明".into()),
        phone_number: None,
        email: None,
    };
    let changes = session.stamp_start(&stamp);
    assert!(changes.changed.iter().any(|node| node.path == "started"));
    assert_eq!(
        node(&session, "started").value,
        Some(Answer::Text(morning.to_rfc3339()))
    );
    assert_eq!(
        node(&session, "device").value,
        Some(Answer::Text("0190b4c1-device".into()))
    );
    assert!(node(&session, "started").read_only);
    assert!(matches!(
        session.set_answer("started", Some(Answer::Text("x".into()))),
        Err(SessionError::NotAnswerable { .. })
    ));
    // Taken up again later, it keeps its start.
    let later = Stamp {
        now: morning + chrono::Duration::hours(3),
        ..stamp
    };
    assert!(session.stamp_start(&later).is_empty());
    assert_eq!(
        node(&session, "started").value,
        Some(Answer::Text(morning.to_rfc3339()))
    );
    session.stamp_end(later.now);
    assert_eq!(
        node(&session, "finished").value,
        Some(Answer::Text(later.now.to_rfc3339()))
    );
    assert!(
        session.evaluation(Stage::Final).is_valid(),
        "{:?}",
        session.evaluation(Stage::Final).violations
    );
}

#[test]
fn a_choice_filter_offers_the_choices_of_the_answer_it_reads() {
    let mut session = FormSession::new(household(), Answers::new(), None, today());
    let names = |session: &FormSession| -> Vec<String> {
        node(session, "village")
            .choices
            .into_iter()
            .map(|choice| choice.name)
            .collect()
    };
    assert!(names(&session).is_empty(), "no county yet: nothing passes");
    let changes = session
        .set_answer("county", Some(Answer::Choice("zhaoyang".into())))
        .expect("a county");
    assert!(changes.changed.iter().any(|node| node.path == "village"));
    assert_eq!(names(&session), ["a", "c"]);
    session
        .set_answer("county", Some(Answer::Choice("ludian".into())))
        .expect("another");
    assert_eq!(names(&session), ["b"]);
}

#[test]
fn read_only_times_date_times_and_ranks_cross_as_typed_answers() {
    let mut session = FormSession::new(household(), Answers::new(), None, today());
    assert!(node(&session, "code").read_only);
    let time = NaiveTime::from_hms_opt(9, 30, 0).expect("a time");
    session
        .set_answer("arrived", Some(Answer::Time(time)))
        .expect("a time");
    assert_eq!(session.answers()["arrived"], serde_json::json!("09:30"));
    assert_eq!(node(&session, "arrived").value, Some(Answer::Time(time)));
    let moment = DateTime::parse_from_rfc3339("2025-02-03T17:05:09+08:00").expect("a moment");
    session
        .set_answer("left", Some(Answer::DateTime(moment)))
        .expect("a moment");
    assert_eq!(node(&session, "left").value, Some(Answer::DateTime(moment)));
    let ranked = Answer::Choices(vec!["ludian".into(), "zhaoyang".into()]);
    session
        .set_answer("priorities", Some(ranked.clone()))
        .expect("a ranking");
    assert_eq!(node(&session, "priorities").value, Some(ranked));
    assert!(matches!(
        session.set_answer("arrived", Some(Answer::Text("9.30".into()))),
        Err(SessionError::WrongKind {
            kind: "time",
            given: "text",
            ..
        })
    ));
    let evaluation = session.evaluation(Stage::Draft);
    assert!(
        !evaluation
            .violations
            .iter()
            .any(|violation| violation.rule == Rule::Type)
    );
}
