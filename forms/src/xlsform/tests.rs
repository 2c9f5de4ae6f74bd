use serde_json::Value;

use super::*;
use crate::{Labels, QuestionKind, Requirement};

/// Rows from string slices, `rows[0]` being spreadsheet row 1.
pub(super) fn rows(cells: &[&[&str]]) -> Vec<Vec<String>> {
    cells
        .iter()
        .map(|row| row.iter().map(|cell| (*cell).to_owned()).collect())
        .collect()
}

fn settings() -> Vec<Vec<String>> {
    rows(&[
        &["form_id", "version", "form_title", "default_language"],
        &["household_check", "2024122801", "百日攻坚入户核查", "zh-CN"],
    ])
}

fn survey() -> Vec<Vec<String>> {
    rows(&[
        &[
            "type",
            "name",
            "label::zh-CN",
            "label::English (en)",
            "required",
            "hint::zh-CN",
        ],
        &[
            "integer",
            "members_present",
            "家中常住人数",
            "Members living at home",
            "yes",
            "人",
        ],
        &[
            "select_one yes_no",
            "housing_safe",
            "住房安全",
            "Housing safe",
            "TRUE",
            "",
        ],
        &["", "", "", "", "", ""],
        &["text", "notes", "备注", "Notes", "", ""],
    ])
}

fn choices() -> Vec<Vec<String>> {
    rows(&[
        &["list_name", "name", "label::zh-CN", "label::English (en)"],
        &["yes_no", "yes", "是", "Yes"],
        &["yes_no", "no", "否", "No"],
    ])
}

fn problems(result: Result<Form, XlsFormError>) -> Vec<Problem> {
    match result {
        Ok(form) => panic!("expected problems, read {form:?}"),
        Err(error) => error.problems,
    }
}

/// `(sheet, row, column)` of each problem.
fn places(problems: &[Problem]) -> Vec<(&str, Option<u32>, Option<&str>)> {
    problems
        .iter()
        .map(|p| (p.sheet.as_str(), p.row, p.column.as_deref()))
        .collect()
}

#[test]
fn reads_a_valid_form() {
    let form = from_sheets(&settings(), &survey(), &choices()).expect("valid sheets");
    assert_eq!(form.form_id, "household_check");
    assert_eq!(form.version, "2024122801");
    assert_eq!(form.title, "百日攻坚入户核查");
    assert_eq!(form.default_language.as_deref(), Some("zh-CN"));
    let names: Vec<&str> = form.questions.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(names, ["members_present", "housing_safe", "notes"]);
    let members = &form.questions[0];
    assert_eq!(members.kind, QuestionKind::Integer);
    assert_eq!(members.required, Requirement::Always(true));
    assert_eq!(
        members.label.get(Some("en")),
        Some("Members living at home")
    );
    assert_eq!(members.label.get(Some("zh-CN")), Some("家中常住人数"));
    assert_eq!(members.hint, Labels::new().with("zh-CN", "人"));
    assert_eq!(
        form.questions[1].kind,
        QuestionKind::SelectOne {
            list: "yes_no".into()
        }
    );
    assert_eq!(form.questions[1].required, Requirement::Always(true));
    assert!(form.questions[2].required.is_never());
    assert!(form.questions[2].hint.is_empty());
    let yes_no = form.choice_list("yes_no").expect("list read");
    assert_eq!(yes_no[1].label.get(Some("en")), Some("No"));
}

#[test]
fn plain_label_is_in_the_default_language_or_has_none() {
    let survey = rows(&[&["type", "name", "label"], &["text", "notes", "备注"]]);
    let form = from_sheets(&settings(), &survey, &[]).expect("valid sheets");
    assert_eq!(form.questions[0].label, Labels::new().with("zh-CN", "备注"));
    let no_default = rows(&[&["form_id", "version"], &["f", "1"]]);
    let form = from_sheets(&no_default, &survey, &[]).expect("valid sheets");
    assert_eq!(form.questions[0].label, Labels::plain("备注"));
    assert_eq!(form.title, "f");
}

#[test]
fn required_accepts_the_usual_spellings() {
    for (cell, expected) in [
        ("yes", true),
        ("TRUE", true),
        ("true", true),
        ("1", true),
        ("true()", true),
        ("no", false),
        ("FALSE", false),
        ("0", false),
        ("", false),
    ] {
        let survey = rows(&[
            &["type", "name", "label", "required"],
            &["text", "notes", "备注", cell],
        ]);
        let form = from_sheets(&settings(), &survey, &[]).expect("valid sheets");
        assert_eq!(
            form.questions[0].required,
            Requirement::Always(expected),
            "{cell:?}"
        );
    }
    // Anything else is an expression: required when it holds.
    let survey = rows(&[
        &["type", "name", "label", "required"],
        &["integer", "members_present", "人数", "yes"],
        &["text", "notes", "备注", "${members_present} > 0"],
    ]);
    let form = from_sheets(&settings(), &survey, &[]).expect("valid sheets");
    let Requirement::When(expression) = &form.questions[1].required else {
        panic!(
            "expected an expression, read {:?}",
            form.questions[1].required
        );
    };
    assert_eq!(expression.references(), ["members_present"]);
    // An expression that does not parse, or names no question, is a problem.
    for cell in ["maybe", "${members_present} >", "${member_present} > 0"] {
        let mut survey = survey.clone();
        survey[2][3] = cell.into();
        let found = problems(from_sheets(&settings(), &survey, &[]));
        assert_eq!(
            places(&found),
            [("survey", Some(3), Some("required"))],
            "{cell}"
        );
    }
}

#[test]
fn an_unsupported_type_names_its_row_and_column() {
    let mut survey = survey();
    survey[2][0] = "geoshape".into();
    let found = problems(from_sheets(&settings(), &survey, &choices()));
    assert_eq!(places(&found), [("survey", Some(3), Some("type"))]);
    assert!(
        found[0].to_string().starts_with(
            "sheet `survey`, row 3, column `type`: type `geoshape` is not supported yet; \
             supported now: text, integer, decimal, range,"
        ),
        "{}",
        found[0]
    );
    for later in [
        "geotrace",
        "geoshape",
        "hidden",
        "background-audio",
        "begin loop",
    ] {
        survey[2][0] = later.into();
        let found = problems(from_sheets(&settings(), &survey, &choices()));
        assert_eq!(
            places(&found),
            [("survey", Some(3), Some("type"))],
            "{later}"
        );
        assert!(
            found[0].message.contains("not supported yet"),
            "{}",
            found[0]
        );
    }
    survey[2][0] = "txet".into();
    let found = problems(from_sheets(&settings(), &survey, &choices()));
    assert!(
        found[0].message.starts_with("unknown type `txet`"),
        "{}",
        found[0]
    );
}

#[test]
fn reports_every_problem_at_once() {
    // An empty version is defaulted, as pyxform leaves it optional.
    let settings = rows(&[&["form_id", "version"], &["household_check", ""]]);
    let survey = rows(&[
        &["type", "name", "label", "relevant", "required"],
        &["integer", "members_present", "人数", "", "yes"],
        &["integer", "members_present", "人数", "", ""],
        &[
            "select_one risk",
            "risk_category",
            "",
            "${members_present} >",
            "maybe",
        ],
        &["text", "has space", "备注", "", ""],
    ]);
    let choices = rows(&[
        &["list_name", "name", "label", "filter"],
        &["yes_no", "yes", "是", ""],
        &["yes_no", "yes", "是", "x"],
    ]);
    let found = problems(from_sheets(&settings, &survey, &choices));
    assert_eq!(
        places(&found),
        [
            ("survey", Some(3), Some("name")),
            ("survey", Some(4), Some("label")),
            ("survey", Some(4), Some("required")),
            ("survey", Some(4), Some("relevant")),
            ("survey", Some(4), Some("type")),
            ("survey", Some(5), Some("name")),
            ("choices", Some(3), Some("name")),
        ],
        "{}",
        XlsFormError {
            problems: found.clone()
        }
    );
    // pyxform's reason for two siblings of one name.
    assert!(
        found[0]
            .message
            .starts_with("there are more than one survey elements named `members_present`"),
        "{}",
        found[0]
    );
    // The parser's own words may change; the position is the importer's.
    assert!(
        found[3]
            .message
            .starts_with("`${members_present} >` is not a valid expression: at character 21: "),
        "{}",
        found[3]
    );
    assert!(found[4].message.contains("`risk`"), "{}", found[4]);
    let shown = XlsFormError { problems: found }.to_string();
    assert_eq!(shown.lines().count(), 7, "{shown}");
}

#[test]
fn an_empty_unsupported_column_is_harmless() {
    let mut survey = survey();
    for row in &mut survey {
        row.push(String::new());
    }
    survey[0][6] = "trigger".into();
    assert!(from_sheets(&settings(), &survey, &choices()).is_ok());
    survey[4][6] = "${members_present}".into();
    let found = problems(from_sheets(&settings(), &survey, &choices()));
    assert_eq!(places(&found), [("survey", Some(5), Some("trigger"))]);
    assert_eq!(
        found[0].message,
        "column `trigger` is not supported yet; remove it or leave it empty"
    );
}

#[test]
fn missing_sheets_and_columns_are_named() {
    // Settings are optional; a survey is not.
    let found = problems(from_sheets(&[], &[], &[]));
    assert_eq!(places(&found), [("survey", None, None)]);
    let survey = rows(&[&["type", "label"], &["text", "备注"]]);
    let found = problems(from_sheets(&settings(), &survey, &[]));
    assert_eq!(places(&found), [("survey", Some(1), Some("name"))]);
    let found = problems(from_sheets(&settings(), &self::survey(), &[]));
    assert_eq!(places(&found), [("survey", Some(3), Some("type"))]);
}

#[test]
fn a_duplicate_language_column_is_refused() {
    let survey = rows(&[
        &["type", "name", "label", "label::中文 (zh-CN)"],
        &["text", "notes", "备注", "备注"],
    ]);
    let found = problems(from_sheets(&settings(), &survey, &[]));
    assert_eq!(
        places(&found),
        [("survey", Some(1), Some("label::中文 (zh-CN)"))]
    );
}

#[test]
fn language_columns_are_keyed_by_their_code() {
    assert_eq!(vocabulary::language_key("English (en)"), "en");
    assert_eq!(vocabulary::language_key(" zh-CN "), "zh-CN");
    assert_eq!(vocabulary::language_key("Nuosu"), "Nuosu");
    assert_eq!(vocabulary::column_letter(0), "A");
    assert_eq!(vocabulary::column_letter(27), "AB");
}

#[test]
fn a_numeric_version_cell_reads_without_a_fraction() {
    assert_eq!(
        cell_text(&Data::Float(2_024_122_801.0)),
        Ok("2024122801".into())
    );
    assert_eq!(
        cell_text(&Data::Int(2_024_122_801)),
        Ok("2024122801".into())
    );
    assert_eq!(cell_text(&Data::Float(1.5)), Ok("1.5".into()));
    assert_eq!(cell_text(&Data::Bool(true)), Ok("true".into()));
    assert!(cell_text(&Data::Error(calamine::CellErrorType::Ref)).is_err());
}

#[test]
fn cells_keep_their_spreadsheet_position() {
    let mut range: Range<Data> = Range::new((1, 1), (2, 2));
    range.set_value((1, 1), Data::String("form_id".into()));
    range.set_value((1, 2), Data::String("version".into()));
    range.set_value((2, 1), Data::String("f".into()));
    range.set_value((2, 2), Data::Error(calamine::CellErrorType::NA));
    let mut found = Vec::new();
    let rows = text_rows("settings", &range, &mut found);
    assert_eq!(rows[1], ["", "form_id", "version"]);
    assert_eq!(rows[2], ["", "f", ""]);
    assert_eq!(places(&found), [("settings", Some(3), Some("version"))]);
}

#[test]
fn a_file_that_is_not_a_workbook_is_one_problem() {
    let found = problems(read_xlsx_bytes(b"not a zip"));
    assert_eq!(places(&found), [("", None, None)]);
    let found = problems(read_xlsx(Path::new("/nonexistent/form.xlsx")));
    assert!(
        found[0].message.contains("/nonexistent/form.xlsx"),
        "{}",
        found[0]
    );
}

/// The shipped spreadsheet and the shipped JSON definition are the same
/// form; regenerate the JSON from the spreadsheet when it changes.
#[test]
fn shipped_demo_spreadsheet_matches_its_definition() {
    let spreadsheet = include_bytes!("../../household-check.xlsx");
    let form = read_xlsx_bytes(spreadsheet).unwrap_or_else(|error| panic!("{error}"));
    let text = include_str!("../../household-check.json");
    let definition: Value = serde_json::from_str(text).expect("demo is JSON");
    assert_eq!(form.to_definition(), definition);
    assert_eq!(form.version, "2024122803");
}

#[test]
fn type_keywords_ignore_case_but_list_names_keep_theirs() {
    let survey = rows(&[
        &["type", "name", "label"],
        &["Select_One Yes_No", "housing_safe", "住房安全"],
        &["INTEGER", "members_present", "人数"],
    ]);
    let choices = rows(&[&["list_name", "name", "label"], &["Yes_No", "yes", "是"]]);
    let form = from_sheets(&settings(), &survey, &choices).expect("valid sheets");
    assert_eq!(
        form.questions[0].kind,
        QuestionKind::SelectOne {
            list: "Yes_No".into()
        }
    );
    assert_eq!(form.questions[1].kind, QuestionKind::Integer);
}

#[test]
fn a_workbook_that_unzips_to_too_much_is_refused_before_it_is_read() {
    use std::io::Write;
    let mut bomb = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1))
        .large_file(true);
    bomb.start_file("xl/worksheets/sheet1.xml", options)
        .expect("an entry");
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..=MAX_XLSX_INFLATED_BYTES / (1024 * 1024) {
        bomb.write_all(&zeros).expect("written");
    }
    let bytes = bomb.finish().expect("a zip").into_inner();
    assert!(
        bytes.len() < 1024 * 1024,
        "a small file: {} bytes",
        bytes.len()
    );
    let problems = problems(read_xlsx_bytes(&bytes));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].message.contains("unzips to more than"),
        "{}",
        problems[0].message
    );
}
