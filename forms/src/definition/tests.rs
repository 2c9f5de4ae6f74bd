//! Tests of `definition.rs`.
use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::Labels;

fn yes_no() -> Vec<Choice> {
    vec![
        Choice::new("yes", Labels::new().with("zh-CN", "是").with("en", "Yes")),
        Choice::new("no", Labels::new().with("zh-CN", "否").with("en", "No")),
    ]
}

fn form() -> Form {
    Form {
        form_id: "household_check".into(),
        version: "2024122801".into(),
        title: "百日攻坚入户核查".into(),
        default_language: Some("zh-CN".into()),
        questions: vec![
            Question {
                label: Labels::new().with("zh-CN", "家中常住人数"),
                required: Requirement::Always(true),
                hint: Labels::new().with("en", "People living here now"),
                ..Question::new("members_present", QuestionKind::Integer)
            },
            Question {
                label: Labels::plain("住房安全"),
                ..Question::new(
                    "housing_safe",
                    QuestionKind::SelectOne {
                        list: "yes_no".into(),
                    },
                )
            },
        ],
        choices: [("yes_no".to_owned(), yes_no())].into_iter().collect(),
        data: BTreeMap::new(),
        settings: BTreeMap::new(),
    }
}

#[test]
fn definition_round_trips() {
    let definition = form().to_definition();
    assert_eq!(definition["format"], json!(2));
    assert_eq!(
        definition["questions"][1]["kind"],
        json!({"type": "select_one", "list": "yes_no"})
    );
    let back = Form::from_definition(&definition).expect("own definition parses");
    assert_eq!(back, form());
    assert_eq!(back.to_definition(), definition);
}

#[test]
fn shipped_demo_definition_is_valid() {
    let text = include_str!("../../household-check.json");
    let value: Value = serde_json::from_str(text).expect("demo is JSON");
    let demo = Form::from_definition(&value).expect("demo definition is valid");
    assert_eq!(demo.form_id, "household_check");
    assert_eq!(demo.version, "2024122803");
    assert_eq!(demo.to_definition(), value);
}

fn rejected(change: impl FnOnce(&mut Value)) -> FormError {
    let mut definition = form().to_definition();
    change(&mut definition);
    match Form::from_definition(&definition) {
        Ok(_) => panic!("definition should be refused"),
        Err(error) => error,
    }
}

#[test]
fn refuses_missing_or_unknown_format() {
    let error = rejected(|d| {
        d.as_object_mut().map(|o| o.remove("format"));
    });
    assert!(matches!(error, FormError::MissingFormat), "{error}");
    let error = rejected(|d| d["format"] = json!(4));
    assert!(
        matches!(error, FormError::UnsupportedFormat { .. }),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "form definition format 4 is not supported; this build reads formats 1 to 3"
    );
    let error = rejected(|d| d["format"] = json!("1"));
    assert!(
        matches!(error, FormError::UnsupportedFormat { .. }),
        "{error}"
    );
    assert!(matches!(
        Form::from_definition(&json!([])),
        Err(FormError::NotAnObject)
    ));
}

#[test]
fn refuses_fields_and_kinds_it_does_not_know() {
    let error = rejected(|d| d["questions"][0]["repeat_limit"] = json!("3"));
    assert!(matches!(error, FormError::Malformed { .. }), "{error}");
    assert!(
        error.to_string().starts_with(
            "the form definition does not match format 3 at question 1 (members_present): \
             unknown field `repeat_limit`"
        ),
        "{error}"
    );
    let error = rejected(|d| d["questions"][1]["kind"] = json!({"type": "geoshape"}));
    assert!(
        matches!(&error, FormError::Malformed { at, .. } if at == "question 2 (housing_safe)"),
        "{error}"
    );
    // An expression that does not parse is refused with its position.
    let error = rejected(|d| d["questions"][0]["relevant"] = json!("${x} >"));
    assert!(error.to_string().contains("expression `${x} >`"), "{error}");
    // One that names no question of the form is refused too.
    let error = rejected(|d| d["questions"][0]["relevant"] = json!("${x} > 1"));
    assert!(
        matches!(&error, FormError::UnknownReference { name, .. } if name == "x"),
        "{error}"
    );
    let error = rejected(|d| d["choices"]["yes_no"][1]["image"] = json!("no.png"));
    assert!(
        matches!(&error, FormError::Malformed { at, .. } if at == "choice 2 of list yes_no (no)"),
        "{error}"
    );
    let error = rejected(|d| d["groups"] = json!([]));
    assert!(
        matches!(&error, FormError::Malformed { at, .. } if at == "the top level"),
        "{error}"
    );
    let error = rejected(|d| {
        d["questions"][0]["kind"] = json!({"type": "integer", "constraint": ". > 0"});
    });
    assert!(matches!(error, FormError::Malformed { .. }), "{error}");
}

#[test]
fn refuses_kinds_with_a_missing_or_stray_list() {
    let error = rejected(|d| d["questions"][1]["kind"] = json!({"type": "select_one"}));
    assert!(error.to_string().contains("needs a `list`"), "{error}");
    let error = rejected(|d| {
        d["questions"][0]["kind"] = json!({"type": "integer", "list": "yes_no"});
    });
    assert!(error.to_string().contains("takes no `list`"), "{error}");
}

#[test]
fn refuses_duplicate_question_names() {
    let error = rejected(|d| d["questions"][1]["name"] = json!("members_present"));
    assert!(
        matches!(&error, FormError::DuplicateQuestion { name } if name == "members_present"),
        "{error}"
    );
}

#[test]
fn refuses_a_select_one_naming_a_missing_list() {
    let error = rejected(|d| d["questions"][1]["kind"]["list"] = json!("yes_no_maybe"));
    assert!(
        matches!(&error, FormError::MissingList { question, list }
            if question == "housing_safe" && list == "yes_no_maybe"),
        "{error}"
    );
}

#[test]
fn refuses_empty_and_malformed_names() {
    let error = rejected(|d| d["questions"][0]["name"] = json!(""));
    assert!(
        matches!(error, FormError::EmptyQuestionName { index: 0 }),
        "{error}"
    );
    let error = rejected(|d| d["questions"][0]["name"] = json!("members present"));
    assert!(
        matches!(error, FormError::InvalidQuestionName { .. }),
        "{error}"
    );
    let error = rejected(|d| d["questions"][0]["name"] = json!("1st"));
    assert!(
        matches!(error, FormError::InvalidQuestionName { .. }),
        "{error}"
    );
    let error = rejected(|d| d["choices"]["yes_no"][0]["name"] = json!(""));
    assert!(
        matches!(error, FormError::EmptyChoiceName { index: 0, .. }),
        "{error}"
    );
    let error = rejected(|d| d["form_id"] = json!(" "));
    assert!(
        matches!(error, FormError::EmptyField { field: "form_id" }),
        "{error}"
    );
    let error = rejected(|d| d["version"] = json!(""));
    assert!(
        matches!(error, FormError::EmptyField { field: "version" }),
        "{error}"
    );
}

#[test]
fn refuses_duplicate_choices_empty_lists_and_missing_labels() {
    let error = rejected(|d| d["choices"]["yes_no"][1]["name"] = json!("yes"));
    assert!(
        matches!(error, FormError::DuplicateChoice { .. }),
        "{error}"
    );
    let error = rejected(|d| d["choices"]["yes_no"] = json!([]));
    assert!(matches!(error, FormError::EmptyList { .. }), "{error}");
    let error = rejected(|d| d["questions"][0]["label"] = json!({}));
    assert!(matches!(error, FormError::MissingLabel { .. }), "{error}");
    let error = rejected(|d| d["choices"]["yes_no"][0]["label"] = json!({"en": ""}));
    assert!(
        matches!(error, FormError::MissingChoiceLabel { .. }),
        "{error}"
    );
}

#[test]
fn accepts_chinese_question_names() {
    let mut form = form();
    form.questions[0].name = "常住人数".into();
    assert!(form.check().is_ok());
}

#[test]
fn a_form_is_written_in_the_oldest_format_that_holds_it() {
    // Nothing new: format 2, so phones of the previous build read it.
    assert_eq!(form().format(), 2);
    let mut newer = form();
    newer.questions[0].read_only = true;
    let definition = newer.to_definition();
    assert_eq!(definition["format"], json!(3));
    assert_eq!(definition["questions"][0]["read_only"], json!(true));
    assert_eq!(
        Form::from_definition(&definition).expect("reads back"),
        newer
    );
    // A new kind, a filter, data: format 3 too, and each reads back.
    let mut newer = form();
    newer.questions[0].kind = QuestionKind::Range {
        start: 0.0,
        end: 10.0,
        step: 0.5,
    };
    newer.questions[1].choice_filter =
        Some(Expr::parse_filter("name != ${members_present}").expect("a filter"));
    newer.data.insert(
        "households".into(),
        vec![BTreeMap::from([("id".to_owned(), "7".to_owned())])],
    );
    newer.choices.get_mut("yes_no").expect("list")[0]
        .extra
        .insert("county".into(), "yiliang".into());
    let definition = newer.to_definition();
    assert_eq!(definition["format"], json!(3));
    assert_eq!(
        definition["questions"][0]["kind"],
        json!({"type": "range", "start": 0.0, "end": 10.0, "step": 0.5})
    );
    assert_eq!(
        definition["questions"][1]["choice_filter"],
        json!("name != ${members_present}")
    );
    assert_eq!(
        Form::from_definition(&definition).expect("reads back"),
        newer
    );
    // A metadata kind's JSON.
    let kind: QuestionKind =
        serde_json::from_value(json!({"type": "metadata", "metadata": "device_id"})).expect("kind");
    assert_eq!(kind, QuestionKind::Metadata(crate::Metadata::DeviceId));
    assert_eq!(
        serde_json::to_value(&kind).expect("json"),
        json!({"type": "metadata", "metadata": "device_id"})
    );
}

#[test]
fn format_3_fields_are_checked() {
    let error = rejected(|d| {
        d["questions"][0]["kind"] = json!({"type": "range", "start": 0, "end": 5, "step": 0})
    });
    assert!(matches!(error, FormError::InvalidRange { .. }), "{error}");
    let error = rejected(|d| d["questions"][0]["kind"] = json!({"type": "range", "start": 0}));
    assert!(
        error
            .to_string()
            .contains("needs `start`, `end` and `step`"),
        "{error}"
    );
    let error = rejected(|d| d["questions"][0]["kind"] = json!({"type": "text", "step": 1}));
    assert!(error.to_string().contains("takes no `step`"), "{error}");
    let error = rejected(|d| d["questions"][0]["repeat_count"] = json!("3"));
    assert!(
        matches!(&error, FormError::Misplaced { what, .. } if *what == "a repeat_count"),
        "{error}"
    );
    let error = rejected(|d| d["questions"][0]["choice_filter"] = json!("x = 1"));
    assert!(
        matches!(&error, FormError::Misplaced { what, .. } if *what == "a choice_filter"),
        "{error}"
    );
    let error = rejected(|d| d["questions"][1]["choice_filter"] = json!("x = ${nobody}"));
    assert!(
        matches!(
            &error,
            FormError::UnknownReference {
                column: "choice_filter",
                ..
            }
        ),
        "{error}"
    );
    // A bare name is a column only in a choice_filter.
    let error = rejected(|d| d["questions"][0]["relevant"] = json!("x = 1"));
    assert!(matches!(error, FormError::Malformed { .. }), "{error}");
    // Choice names may repeat when their columns tell them apart.
    let mut definition = form().to_definition();
    definition["choices"]["yes_no"] = json!([
        {"name": "yes", "label": {"en": "Yes"}, "extra": {"county": "a"}},
        {"name": "yes", "label": {"en": "Yes"}, "extra": {"county": "b"}}
    ]);
    assert!(Form::from_definition(&definition).is_ok());
    definition["choices"]["yes_no"][1]["extra"]["county"] = json!("a");
    assert!(matches!(
        Form::from_definition(&definition),
        Err(FormError::DuplicateChoice { .. })
    ));
}
