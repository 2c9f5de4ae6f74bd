//! The fixtures without repeats: income, languages, `required`
//! expressions, nested groups, notes, GPS and photos, skip-logic chains.

use serde_json::{Value, json};

use super::{REQUIRED, evaluate, evaluate_in, fixture, summary, today, valid, violations};
use doorstep_forms::{Options, QuestionKind, Requirement, Stage};

#[test]
fn income_check_computes_per_capita_net_income() {
    let form = fixture("income_check.xlsx");
    assert_eq!(summary(&form), (11, 1, 0, vec!["zh-CN"]));
    let income = form.question("income").expect("the group");
    assert_eq!(income.appearance.as_deref(), Some("field-list"));
    assert_eq!(income.children.len(), 5);
    assert_eq!(
        form.question("property")
            .expect("property")
            .default
            .as_deref(),
        Some("0")
    );
    // (38,000 + 6,200.5 + 800 + 3,600 − 2,400) ÷ 4 = 11,550.125: above the line.
    let evaluation = valid(
        &form,
        json!({"members": 4, "wages": 38000, "business": 6200.5, "property": 800,
               "transfers": 3600, "costs": 2400}),
    );
    assert_eq!(
        Value::Object(evaluation.computed),
        json!({"net_income": 46200.5, "per_capita": 11550.125, "below_line": "no"})
    );
    assert!(evaluation.not_relevant.contains(&"measures".to_owned()));
    // (30,000 + 8,000 + 0 + 9,000 − 3,000) ÷ 5 = 8,800: below, so measures.
    let evaluation = valid(
        &form,
        json!({"members": 5, "wages": 30000, "business": 8000, "property": 0,
               "transfers": 9000, "costs": 3000, "measures": ["workshop", "public_welfare_job"]}),
    );
    assert_eq!(evaluation.computed["per_capita"], json!(8800));
    assert_eq!(evaluation.computed["below_line"], json!("yes"));
    // Unanswered property and transfers count as 0.
    let evaluation = evaluate(
        &form,
        json!({"members": 3, "wages": 12000, "business": -500, "costs": 1500}),
    );
    assert_eq!(
        violations(&evaluation),
        [
            ("business", "constraint", "金额不能为负数"),
            (
                "measures",
                "required",
                "人均纯收入低于1万元，须选择增收措施"
            ),
        ]
    );
    let per_capita = evaluation.computed["per_capita"]
        .as_f64()
        .expect("a number");
    assert!((per_capita - 10000.0 / 3.0).abs() < 1e-9, "{per_capita}");
}

#[test]
fn two_assurances_in_three_label_columns() {
    let form = fixture("two_assurances.xlsx");
    assert_eq!(form.default_language, None);
    assert_eq!(summary(&form), (10, 0, 0, vec!["default", "en", "zh-CN"]));
    let county = form.question("county").expect("county");
    assert_eq!(county.label.get(Some("en")), Some("County"));
    assert_eq!(county.label.get(Some("zh-CN")), Some("县（市、区）"));
    let village = form.question("village").expect("village");
    assert_eq!(
        village.hint.get(Some("en")),
        Some("Down to the villagers' group")
    );
    let remarks = form.question("remarks").expect("remarks");
    assert_eq!(remarks.label.text("default"), Some("备注（可不填）"));
    let counties = form.choice_list("county").expect("counties");
    assert_eq!(counties.len(), 11);
    assert_eq!(counties[8].label.get(Some("en")), Some("Yiliang"));
    let all_yes = json!({
        "county": "yiliang", "village": "发界街道界安社区3组", "members_present": 5,
        "food_clothing_ok": "yes", "education_ok": "yes", "medical_ok": "yes",
        "housing_safe": "yes", "water_safe": "yes"
    });
    let evaluation = valid(&form, all_yes.clone());
    assert_eq!(evaluation.not_relevant, ["problem_detail"]);
    let mut answers = all_yes;
    answers["members_present"] = json!(25);
    answers["medical_ok"] = json!("no");
    let evaluation = evaluate(&form, answers.clone());
    assert_eq!(
        violations(&evaluation),
        [
            ("members_present", "constraint", "人数应在0到20之间"),
            ("problem_detail", "required", "有未保障的项目时须说明情况"),
        ]
    );
    let evaluation = evaluate_in(&form, answers, "en");
    assert_eq!(
        violations(&evaluation),
        [
            ("members_present", "constraint", "Between 0 and 20 people"),
            (
                "problem_detail",
                "required",
                "Describe what is not guaranteed"
            ),
        ]
    );
}

#[test]
fn health_screening_requires_by_expression() {
    let form = fixture("health_screening.xlsx");
    assert_eq!(summary(&form), (10, 0, 0, vec!["zh-CN"]));
    let diseases = form.question("diseases").expect("diseases");
    let Requirement::When(expression) = &diseases.required else {
        panic!("expected an expression, read {:?}", diseases.required);
    };
    assert_eq!(expression.references(), ["chronic_disease"]);
    let evaluation = valid(
        &form,
        json!({"person_name": "张桂兰", "age": 68, "chronic_disease": "yes",
               "diseases": ["hypertension", "diabetes"], "insured": "yes",
               "out_of_pocket": 12000, "family_doctor": "yes"}),
    );
    assert_eq!(evaluation.computed["high_risk"], json!("yes"));
    let evaluation = valid(
        &form,
        json!({"person_name": "刘勇", "age": 34, "chronic_disease": "no", "insured": "yes"}),
    );
    assert_eq!(evaluation.computed["high_risk"], json!("no"));
    let risky =
        json!({"person_name": "赵正芬", "age": 70, "chronic_disease": "yes", "insured": "no"});
    let evaluation = evaluate(&form, risky.clone());
    assert_eq!(
        violations(&evaluation),
        [
            ("diseases", "required", "患有慢性病时须选择所患疾病"),
            ("uninsured_reason", "required", "未参保时须说明原因"),
            (
                "out_of_pocket",
                "required",
                "慢性病患者和65岁以上老人须填写自付医疗费用"
            ),
            ("family_doctor", "required", REQUIRED),
        ]
    );
    assert_eq!(evaluation.computed["high_risk"], json!("yes"));
    // A draft requires nothing yet.
    let options = Options {
        stage: Stage::Draft,
        language: Some("zh-CN"),
        today: today(),
    };
    let draft = form.evaluate(risky.as_object().expect("an object"), &options);
    assert_eq!(draft.violations, []);
}

#[test]
fn school_attendance_nests_groups() {
    let form = fixture("school_attendance.xlsx");
    assert_eq!(summary(&form), (13, 4, 0, vec!["zh-CN"]));
    let top: Vec<&str> = form.questions.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(top, ["household", "child", "at_risk", "at_risk_note"]);
    let child: Vec<&str> = form.questions[1]
        .children
        .iter()
        .map(|q| q.name.as_str())
        .collect();
    assert_eq!(
        child,
        ["child_name", "child_age", "stage", "attendance", "aid"]
    );
    let evaluation = valid(
        &form,
        json!({"head_name": "陈永富", "township": "fajie", "child_name": "陈小梅", "child_age": 12,
               "stage": "primary", "enrolled": "yes", "school_name": "发界小学", "days_absent": 2,
               "aid_received": ["nutrition"], "aid_amount": 800}),
    );
    assert_eq!(Value::Object(evaluation.computed), json!({"at_risk": "no"}));
    let evaluation = evaluate(
        &form,
        json!({"head_name": "陈永富", "township": "fajie", "child_name": "陈小梅", "child_age": 17,
               "stage": "junior", "enrolled": "no", "school_name": "发界中学"}),
    );
    assert_eq!(
        violations(&evaluation),
        [
            ("child_age", "constraint", "义务教育适龄儿童年龄为6至16岁"),
            ("dropout_reason", "required", REQUIRED),
        ]
    );
    assert_eq!(evaluation.computed["at_risk"], json!("yes"));
    // The school of a child not in school is dropped; so is the aid group.
    assert!(!evaluation.answers.contains_key("school_name"));
    for hidden in [
        "aid",
        "aid_amount",
        "aid_received",
        "days_absent",
        "school_name",
    ] {
        assert!(
            evaluation.not_relevant.contains(&hidden.to_owned()),
            "{hidden}"
        );
    }
}

#[test]
fn wash_checklist_notes_and_selects() {
    let form = fixture("wash_checklist.xlsx");
    assert_eq!(summary(&form), (11, 0, 0, vec!["zh-CN"]));
    assert_eq!(
        form.question("intro").expect("note").kind,
        QuestionKind::Note
    );
    assert_eq!(
        form.question("remarks")
            .expect("remarks")
            .appearance
            .as_deref(),
        Some("multiline")
    );
    let evaluation = valid(
        &form,
        json!({"water_source": "tap", "water_enough": "yes", "water_near": "yes",
               "water_quality": "good", "toilet_type": "three_compartment", "toilet_in_use": "yes"}),
    );
    assert_eq!(
        Value::Object(evaluation.computed),
        json!({"water_safe": "yes"})
    );
    assert_eq!(evaluation.not_relevant, ["toilet_warning", "water_warning"]);
    let evaluation = evaluate(
        &form,
        json!({"intro": "已读", "water_source": "river", "water_enough": "no", "water_near": "yes",
               "water_quality": "poor", "toilet_type": "none", "water_safe": "yes"}),
    );
    assert_eq!(
        violations(&evaluation),
        [
            ("intro", "type", "此项为说明，不应填写"),
            (
                "water_source",
                "choice",
                "不是选项列表 `water_source` 中的选项；应为：tap、well、spring、cistern、other"
            ),
            ("water_safe", "type", "此项由表单计算，不应填写"),
        ]
    );
    assert_eq!(evaluation.computed["water_safe"], json!("no"));
    assert_eq!(evaluation.not_relevant, ["toilet_in_use"]);
}

#[test]
fn site_visit_with_gps_and_photos() {
    let form = fixture("site_visit.xlsx");
    assert_eq!(summary(&form), (9, 0, 0, vec!["zh-CN"]));
    let location = form.question("location").expect("location");
    assert_eq!(location.kind, QuestionKind::Geopoint);
    assert_eq!(location.appearance.as_deref(), Some("maps"));
    assert_eq!(
        form.question("site_photo").expect("photo").kind,
        QuestionKind::Photo
    );
    valid(
        &form,
        json!({"project_type": "workshop", "project_name": "界安安置区帮扶车间（服装加工）",
               "location": {"lat": 27.6253, "lon": 104.0481, "altitude": 1120.0, "accuracy": 4.5},
               "site_photo": "site-20241228-0931.jpg", "progress": "in_use", "jobs_created": 86,
               "visit_date": "2024-12-28"}),
    );
    let evaluation = evaluate(
        &form,
        json!({"project_type": "workshop", "project_name": "牛塘村帮扶车间",
               "location": {"lat": 127.3, "lon": 104.0}, "site_photo": 42, "progress": "in_use",
               "jobs_created": -3, "visit_date": "2024-12-28"}),
    );
    assert_eq!(
        violations(&evaluation),
        [
            (
                "location",
                "type",
                "应为位置（lat、lon，可含 altitude、accuracy）"
            ),
            ("site_photo", "type", "应为照片的引用（文本）"),
            ("jobs_created", "constraint", "答案不符合本题的要求"),
        ]
    );
}

#[test]
fn relocation_followup_follows_skip_logic_chains() {
    let form = fixture("relocation_followup.xlsx");
    assert_eq!(summary(&form), (13, 0, 0, vec!["zh-CN"]));
    // Lives at the site → not employed → wants training → which training.
    let evaluation = valid(
        &form,
        json!({"site": "jiean", "moved_in": "2020-06-18", "lives_at_site": "yes", "employed": "no",
               "wants_training": "yes", "training": ["elderly_care", "ecommerce"], "satisfaction": "partly"}),
    );
    assert_eq!(
        evaluation.not_relevant,
        [
            "away_city",
            "away_reason",
            "complaint",
            "job_type",
            "workshop_name"
        ]
    );
    assert_eq!(evaluation.computed["needs_followup"], json!("yes"));
    // Does not live there → why; the whole employment chain is skipped.
    let evaluation = valid(
        &form,
        json!({"site": "nanyuan", "moved_in": "2019-12-10", "lives_at_site": "no",
               "away_reason": "working_away", "satisfaction": "yes"}),
    );
    assert_eq!(
        evaluation.not_relevant,
        [
            "away_city",
            "complaint",
            "employed",
            "job_type",
            "training",
            "wants_training",
            "workshop_name"
        ]
    );
    // Employed in a support workshop: no follow-up needed.
    let evaluation = valid(
        &form,
        json!({"site": "jingan", "moved_in": "2021-03-01", "lives_at_site": "yes", "employed": "yes",
               "job_type": "workshop", "workshop_name": "靖安服装加工车间", "satisfaction": "yes"}),
    );
    assert_eq!(evaluation.computed["needs_followup"], json!("no"));
    let evaluation = evaluate(
        &form,
        json!({"site": "jiean", "moved_in": "2025-03-01", "lives_at_site": "yes", "employed": "yes",
               "job_type": "workshop", "away_reason": "old_home", "satisfaction": "no"}),
    );
    assert_eq!(
        violations(&evaluation),
        [
            ("moved_in", "constraint", "入住日期不能晚于今天"),
            ("workshop_name", "required", REQUIRED),
            ("complaint", "required", REQUIRED),
        ]
    );
    assert!(!evaluation.answers.contains_key("away_reason"));
}
