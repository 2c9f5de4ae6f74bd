//! What pyxform tolerates, read as pyxform reads it; what pyxform refuses,
//! refused with its reason; and problems grouped one line per problem and
//! column.

use super::tests::rows;
use super::*;
use crate::{Labels, Metadata, QuestionKind, Requirement};

fn yes_no() -> Vec<Vec<String>> {
    rows(&[
        &["list_name", "name", "label"],
        &["yes_no", "yes", "Yes"],
        &["yes_no", "no", "No"],
    ])
}

/// A form with no settings, and the files beside it.
fn read_with(
    survey: &[&[&str]],
    choices: &[Vec<String>],
    external: &[Vec<String>],
    files: &Attachments,
) -> Result<Form, XlsFormError> {
    let survey = rows(survey);
    let lookup = |name: &str| files.get(name).cloned();
    let workbook = Workbook {
        settings: &[],
        survey: &survey,
        choices,
        external_choices: external,
        file_stem: Some("household_survey"),
        files: &lookup,
    };
    convert::convert(&workbook, Vec::new())
}

fn read(survey: &[&[&str]]) -> Form {
    read_with(survey, &yes_no(), &[], &Attachments::new()).unwrap_or_else(|error| panic!("{error}"))
}

fn problems(survey: &[&[&str]]) -> Vec<Problem> {
    match read_with(survey, &yes_no(), &[], &Attachments::new()) {
        Ok(form) => panic!("expected problems, read {form:?}"),
        Err(error) => error.problems,
    }
}

#[test]
fn settings_are_optional_and_kept() {
    let form = read(&[&["type", "name", "label"], &["text", "notes", "Notes"]]);
    assert_eq!(form.form_id, "household_survey");
    assert_eq!(form.version, "1");
    assert_eq!(form.title, "household_survey");
    let settings = rows(&[
        &["id_string", "title", "style", "instance_name", "namespaces"],
        &["hh", "Household", "pages", "concat(${notes})", "esri=\"x\""],
    ]);
    let survey = rows(&[&["type", "name", "label"], &["text", "notes", "Notes"]]);
    let form = from_sheets(&settings, &survey, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (form.form_id.as_str(), form.title.as_str()),
        ("hh", "Household")
    );
    assert_eq!(
        form.settings.get("style").map(String::as_str),
        Some("pages")
    );
    assert_eq!(form.settings.len(), 3, "{:?}", form.settings);
    // Kept settings make a format-3 definition, which reads back.
    let definition = form.to_definition();
    assert_eq!(definition["format"], 3);
    assert_eq!(
        Form::from_definition(&definition).expect("reads back"),
        form
    );
}

#[test]
fn metadata_and_new_kinds_read_in_every_spelling() {
    let form = read(&[
        &["type", "name", "label", "parameters"],
        &["start", "started", "", ""],
        &["uri:deviceid", "device", "", ""],
        &["imei", "phone_id", "", ""],
        &["today", "day", "", ""],
        &["audit", "audit", "", ""],
        &["time", "at", "Time", ""],
        &["dateTime", "moment", "Moment", ""],
        &["range", "score", "Score", "start=0 end=100 step=5"],
        &["barcode", "code", "Code", ""],
        &["audio", "sound", "Sound", ""],
        &["video", "clip", "Clip", ""],
        &["file", "doc", "Doc", ""],
        &["gps", "where", "Where", ""],
        &["string", "name", "Name", ""],
        &["add integer prompt", "count", "Count", ""],
        &["select one from yes_no", "ok", "OK?", ""],
        &["select all that apply from yes_no", "oks", "OKs", ""],
        &["acknowledge", "ack", "Ack", ""],
        &["rank yes_no", "order", "Order", ""],
    ]);
    let kinds: Vec<&QuestionKind> = form.questions.iter().map(|q| &q.kind).collect();
    assert_eq!(
        kinds,
        [
            &QuestionKind::Metadata(Metadata::Start),
            &QuestionKind::Metadata(Metadata::DeviceId),
            &QuestionKind::Metadata(Metadata::DeviceId),
            &QuestionKind::Metadata(Metadata::Today),
            &QuestionKind::Metadata(Metadata::Audit),
            &QuestionKind::Time,
            &QuestionKind::DateTime,
            &QuestionKind::Range {
                start: 0.0,
                end: 100.0,
                step: 5.0
            },
            &QuestionKind::Barcode,
            &QuestionKind::Audio,
            &QuestionKind::Video,
            &QuestionKind::File,
            &QuestionKind::Geopoint,
            &QuestionKind::Text,
            &QuestionKind::Integer,
            &QuestionKind::SelectOne {
                list: "yes_no".into()
            },
            &QuestionKind::SelectMultiple {
                list: "yes_no".into()
            },
            &QuestionKind::Acknowledge,
            &QuestionKind::Rank {
                list: "yes_no".into()
            },
        ]
    );
    assert_eq!(
        form.questions[7].parameters.get("step").map(String::as_str),
        Some("5")
    );
    // A range parameter that is not a number is a problem on its column.
    let found = problems(&[
        &["type", "name", "label", "parameters"],
        &["range", "score", "Score", "start=a"],
    ]);
    assert_eq!(found[0].column.as_deref(), Some("parameters"));
    assert_eq!(found[0].message, "range parameter `start` must be a number");
}

#[test]
fn tolerances_of_the_survey_sheet() {
    let form = read(&[
        &[
            "type",
            "name",
            "label",
            "hint",
            "required",
            "comments",
            "",
            "read_only",
        ],
        // A note with `required`; a note without a name.
        &["note", "intro", "Hello", "", "yes", "ignored", "x", ""],
        &["note", "", "Unnamed", "", "", "", "", ""],
        // A hint without a label; read_only.
        &["text", "remark", "", "Say more", "", "", "", "yes"],
        // A row with neither type nor name is skipped.
        &["", "", "stray", "", "", "", "", ""],
        // Values on an end row are ignored.
        &["begin group", "g", "G", "", "", "", "", ""],
        &["integer", "age", "Age", "", "", "", "", ""],
        &["end group", "g", "G again", "", "yes", "", "", ""],
    ]);
    assert!(form.questions[0].required.is_never());
    assert_eq!(form.questions[1].name, "generated_note_name_3");
    assert_eq!(form.questions[2].label, Labels::plain("Say more"));
    assert!(form.questions[2].hint.is_empty() && form.questions[2].read_only);
    assert_eq!(form.questions.len(), 4);
    // A label nowhere: pyxform's reason.
    let found = problems(&[&["type", "name", "label"], &["text", "remark", ""]]);
    assert_eq!(found[0].message, "the survey element has no label or hint");
    // read_only as an expression is not supported yet.
    let found = problems(&[
        &["type", "name", "label", "read_only"],
        &["text", "remark", "R", "${remark} != ''"],
    ]);
    assert_eq!(found[0].column.as_deref(), Some("read_only"));
}

#[test]
fn the_same_name_in_different_groups_is_told_apart_by_its_group() {
    let form = read(&[
        &["type", "name", "label", "relevant"],
        &["begin_group", "left", "Left", ""],
        &["decimal", "score", "Score", ""],
        &["end_group", "", "", ""],
        &["begin_group", "right", "Right", ""],
        &["decimal", "score", "Score", ""],
        &["end_group", "", "", ""],
        &[
            "note",
            "low",
            "Low",
            "/data/right/score < 1 and /data/left/score < 1",
        ],
    ]);
    let names: Vec<&str> = form.all_questions().map(|q| q.name.as_str()).collect();
    assert_eq!(names, ["left", "left.score", "right", "right.score", "low"]);
    assert_eq!(
        form.questions[2].relevant.as_ref().map(|e| e.references()),
        Some(vec!["right.score", "left.score"])
    );
    // `${score}` is ambiguous: pyxform's reason.
    let found = problems(&[
        &["type", "name", "label", "relevant"],
        &["begin_group", "left", "Left", ""],
        &["decimal", "score", "Score", ""],
        &["end_group", "", "", ""],
        &["decimal", "score", "Score", ""],
        &["note", "low", "Low", "${score} < 1"],
    ]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0]
            .message
            .contains("there are multiple survey elements with this name"),
        "{}",
        found[0]
    );
    // Siblings may not share a name, in any case: pyxform's reason.
    let found = problems(&[
        &["type", "name", "label"],
        &["begin_group", "g", "G"],
        &["text", "Name", "Name"],
        &["text", "name", "Name"],
        &["end_group", "", ""],
    ]);
    assert_eq!(
        found[0].message,
        "there are more than one survey elements named `name` (case-insensitive) in the section named `g`"
    );
}

#[test]
fn or_other_adds_the_choice_and_the_question() {
    let form = read(&[
        &["type", "name", "label"],
        &["select_one yes_no or_other", "ok", "OK?"],
    ]);
    assert_eq!(form.questions[1].name, "ok_other");
    assert_eq!(
        form.questions[1].relevant.as_ref().map(ToString::to_string),
        Some("selected(${ok}, 'other')".to_owned())
    );
    let names: Vec<&str> = form.choices["yes_no"]
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["yes", "no", "other"]);
}

#[test]
fn choice_filter_repeat_count_and_extra_columns() {
    let choices = rows(&[
        &["list_name", "name", "label", "county", "image"],
        &["county", "yiliang", "彝良", "", ""],
        &["county", "zhaoyang", "昭阳", "", ""],
        &["town", "fajie", "发界", "yiliang", "f.png"],
        &["town", "fengxiang", "凤翔", "zhaoyang", ""],
    ]);
    let form = read_with(
        &[
            &["type", "name", "label", "choice_filter", "repeat_count"],
            &["select_one county", "county", "County", "", ""],
            &["select_one town", "town", "Town", "county = ${county}", ""],
            &["integer", "members", "Members", "", ""],
            &["begin_repeat", "member", "Member", "", "${members}"],
            &["text", "member_name", "Name", "", ""],
            &["end_repeat", "", "", "", ""],
        ],
        &choices,
        &[],
        &Attachments::new(),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let filter = form.questions[1].choice_filter.as_ref().expect("a filter");
    assert_eq!(filter.fields(), ["county"]);
    assert!(form.questions[3].repeat_count.is_some());
    assert_eq!(
        form.choices["town"][0]
            .extra
            .get("county")
            .map(String::as_str),
        Some("yiliang")
    );
    // The media column is not an extra column.
    assert!(!form.choices["town"][0].extra.contains_key("image"));
    // A filter naming no question is a problem on its column.
    let found = match read_with(
        &[
            &["type", "name", "label", "choice_filter"],
            &["select_one town", "town", "Town", "county = ${county}"],
        ],
        &choices,
        &[],
        &Attachments::new(),
    ) {
        Ok(form) => panic!("expected problems, read {form:?}"),
        Err(error) => error.problems,
    };
    assert_eq!(found[0].column.as_deref(), Some("choice_filter"));
}

#[test]
fn surveycto_value_column_and_external_choices() {
    let choices = rows(&[
        &["list_name", "value", "label"],
        &["state", "wa", "Washington"],
    ]);
    let external = rows(&[
        &["list_name", "name", "label", "state"],
        &["state", "wa", "Washington", ""],
        &["county", "king", "King", "wa"],
        &["county", "king", "King", "tx"],
    ]);
    let form = read_with(
        &[
            &["type", "name", "label", "choice_filter"],
            &["select_one state", "state", "State", ""],
            &[
                "select_one_external county",
                "county",
                "County",
                "state = ${state}",
            ],
        ],
        &choices,
        &external,
        &Attachments::new(),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(form.choices["state"][0].name, "wa");
    assert_eq!(
        form.questions[1].kind,
        QuestionKind::SelectOne {
            list: "external:county".into()
        }
    );
    // Names may repeat in external choices, told apart by their columns.
    assert_eq!(form.choices["external:county"].len(), 2);
}

#[test]
fn files_beside_the_form_are_inlined() {
    let files = Attachments::from([
        (
            "villages.csv".to_owned(),
            "name,label,label::zh,county\nv1,Village 1,一村,yiliang\nv2,\"Village, 2\",二村,zhaoyang\n"
                .as_bytes()
                .to_vec(),
        ),
        (
            "towns.xml".to_owned(),
            b"<root><item><code>t1</code><title>Town &amp; 1</title></item></root>".to_vec(),
        ),
        (
            "households.csv".to_owned(),
            "\u{feff}id,head\n7,Wang\n".as_bytes().to_vec(),
        ),
    ]);
    let form = read_with(
        &[
            &["type", "name", "label", "parameters", "calculation"],
            &[
                "select_one_from_file villages.csv",
                "village",
                "Village",
                "",
                "",
            ],
            &[
                "select_multiple_from_file towns.xml",
                "towns",
                "Towns",
                "value=code label=title",
                "",
            ],
            &[
                "calculate",
                "head",
                "",
                "",
                "pulldata('households', 'head', 'id', 7)",
            ],
        ],
        &yes_no(),
        &[],
        &files,
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let villages = &form.choices["villages.csv"];
    assert_eq!(villages[1].label.text("default"), Some("Village, 2"));
    assert_eq!(villages[1].label.text("zh"), Some("二村"));
    assert_eq!(
        villages[1].extra.get("county").map(String::as_str),
        Some("zhaoyang")
    );
    let towns = &form.choices["towns.xml:code:title"];
    assert_eq!(
        (towns[0].name.as_str(), towns[0].label.text("default")),
        ("t1", Some("Town & 1"))
    );
    assert_eq!(form.pulldata("households", "head", "id", "7"), Some("Wang"));
    assert_eq!(form.pulldata("households.csv", "head", "id", "8"), None);
    // A file that is not there is one problem per file, on the rows using it.
    let found = match read_with(
        &[
            &["type", "name", "label", "calculation"],
            &["calculate", "a", "", "pulldata('missing', 'x', 'y', 1)"],
            &["calculate", "b", "", "pulldata('missing', 'z', 'y', 1)"],
        ],
        &yes_no(),
        &[],
        &Attachments::new(),
    ) {
        Ok(form) => panic!("expected problems, read {form:?}"),
        Err(error) => error,
    };
    assert_eq!(found.groups().len(), 1, "{found}");
    assert_eq!(
        found.to_string(),
        "sheet `survey`, rows 2, 3, column `calculation`: `missing.csv` is not beside the form: \
         publish it with the form"
    );
}

#[test]
fn geojson_features_are_choices_by_id_and_title() {
    let geojson = r#"{"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "m1", "geometry": {"type": "Point", "coordinates": [103.72, 27.34]},
         "properties": {"title": "昭通博物馆", "town": "昭阳"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [103.5, 27.1]},
         "properties": {"id": 2, "title": "鲁甸文化馆", "town": "鲁甸"}}]}"#;
    let files = Attachments::from([("museums.geojson".to_owned(), geojson.as_bytes().to_vec())]);
    let form = read_with(
        &[
            &["type", "name", "label"],
            &["select_one_from_file museums.geojson", "museum", "Museum"],
        ],
        &yes_no(),
        &[],
        &files,
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let museums = form
        .choice_list("museums.geojson")
        .expect("the file's list");
    let read: Vec<(&str, Option<&str>)> = museums
        .iter()
        .map(|choice| (choice.name.as_str(), choice.label.text("default")))
        .collect();
    assert_eq!(
        read,
        [("m1", Some("昭通博物馆")), ("2", Some("鲁甸文化馆"))]
    );
    assert_eq!(
        museums[0].extra.get("geometry").map(String::as_str),
        Some("27.34 103.72 0 0")
    );
    assert_eq!(
        museums[1].extra.get("town").map(String::as_str),
        Some("鲁甸")
    );
    let broken = Attachments::from([("museums.geojson".to_owned(), b"[1, 2]".to_vec())]);
    let error = read_with(
        &[
            &["type", "name", "label"],
            &["select_one_from_file museums.geojson", "museum", "Museum"],
        ],
        &yes_no(),
        &[],
        &broken,
    )
    .expect_err("not a FeatureCollection");
    assert!(error.to_string().contains("no `features` list"), "{error}");
}

#[test]
fn or_other_is_read_in_every_spelling_pyxform_knows() {
    for spelling in ["or_other", "or other", "or specify other"] {
        let form = read(&[
            &["type", "name", "label"],
            &[&format!("select_one yes_no {spelling}"), "ok", "OK?"],
        ]);
        assert_eq!(form.questions[1].name, "ok_other", "{spelling}");
        assert_eq!(form.questions[0].kind.list(), Some("yes_no"), "{spelling}");
    }
}

#[test]
fn problems_are_grouped_one_line_per_problem_and_column() {
    let mut survey: Vec<Vec<&str>> = vec![vec!["type", "name", "label"]];
    let names: Vec<String> = (0..12).map(|index| format!("shape_{index}")).collect();
    for (index, name) in names.iter().enumerate() {
        let kind = if index == 5 { "text" } else { "geoshape" };
        survey.push(vec![kind, name, "Shape"]);
    }
    let survey: Vec<&[&str]> = survey.iter().map(Vec::as_slice).collect();
    let error = match read_with(&survey, &yes_no(), &[], &Attachments::new()) {
        Ok(form) => panic!("expected problems, read {form:?}"),
        Err(error) => error,
    };
    assert_eq!(error.problems.len(), 11);
    let shown = error.to_string();
    assert_eq!(shown.lines().count(), 1, "{shown}");
    assert!(
        shown.starts_with(
            "sheet `survey`, rows 2–6, 8–13, column `type`: type `geoshape` is not supported yet"
        ),
        "{shown}"
    );
    assert_eq!(
        error.groups()[0].rows,
        [2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13]
    );
}

#[test]
fn select_multiple_choices_may_not_hold_spaces_but_select_one_choices_may() {
    let choices = rows(&[
        &["list_name", "name", "label"],
        &["place", "new york", "New York"],
    ]);
    let one = read_with(
        &[
            &["type", "name", "label"],
            &["select_one place", "place", "Place"],
        ],
        &choices,
        &[],
        &Attachments::new(),
    );
    assert!(one.is_ok(), "{one:?}");
    let many = read_with(
        &[
            &["type", "name", "label"],
            &["select_multiple place", "places", "Places"],
        ],
        &choices,
        &[],
        &Attachments::new(),
    );
    let Err(error) = many else {
        panic!("expected problems");
    };
    assert_eq!(error.problems[0].sheet, "choices");
    assert_eq!(error.problems[0].row, Some(2));
    // Duplicates in sheet `choices`: pyxform's reason.
    let choices = rows(&[
        &["list_name", "name", "label"],
        &["place", "x", "X"],
        &["place", "x", "X again"],
    ]);
    let Err(error) = read_with(
        &[
            &["type", "name", "label"],
            &["select_one place", "place", "Place"],
        ],
        &choices,
        &[],
        &Attachments::new(),
    ) else {
        panic!("expected problems");
    };
    assert!(
        error.problems[0]
            .message
            .contains("duplicate names will be impossible to identify")
    );
}

#[test]
fn a_required_expression_and_a_calculations_constraint_are_kept() {
    let form = read(&[
        &[
            "type",
            "name",
            "label",
            "required",
            "constraint",
            "calculation",
        ],
        &["integer", "a", "A", "${b} > 1", "", ""],
        &["integer", "b", "B", "", "", ""],
        &["calculate", "total", "", "", ". = 100", "${a} + ${b}"],
    ]);
    assert!(matches!(form.questions[0].required, Requirement::When(_)));
    assert!(form.questions[2].constraint.is_some());
}
