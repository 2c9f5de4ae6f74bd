//! Evaluates the demo visit of a household of six members and three
//! migrants 2,000 times: run under `valgrind --tool=callgrind` to count the
//! instructions `Form::evaluate` takes, whatever else the machine does.

use chrono::NaiveDate;
use doorstep_forms::{Form, Options, Stage};
use serde_json::{Value, json};

fn main() {
    let definition: Value =
        serde_json::from_str(include_str!("../household-check.json")).expect("JSON");
    let form = Form::from_definition(&definition).expect("the demo form");
    let members: Vec<Value> = (0..6)
        .map(|index| json!({"member_name": format!("成员{index}"), "relation": if index == 0 {"head"} else {"child"},
                            "age": 9 + index * 11, "able_to_work": "full", "in_school": "yes"}))
        .collect();
    let migrants: Vec<Value> = (0..3)
        .map(|index| json!({"migrant_name": format!("外出{index}"), "destination": "in_province",
                            "monthly_income": 3000.5 + index as f64 * 410.0, "return_date": "2025-01-25"}))
        .collect();
    let answers = json!({"visit_date": "2025-01-18", "respondent": "head", "members": members, "migrants": migrants,
        "income_wages": 62400.0, "income_business": 8150.0, "production_costs": 9875.0,
        "food_clothing_ok": "yes", "education_ok": "yes", "medical_insurance_ok": "yes", "housing_safe": "no",
        "drinking_water_safe": "yes", "risk_category": "edge", "relocated": "no", "support_needed": ["jobs"]});
    let answers = answers.as_object().cloned().expect("an object");
    let options = Options {
        stage: Stage::Final,
        language: Some("zh-CN"),
        today: NaiveDate::from_ymd_opt(2025, 1, 20).expect("a date"),
    };
    let mut violations = 0;
    for _ in 0..2_000 {
        violations += std::hint::black_box(form.evaluate(&answers, &options))
            .violations
            .len();
    }
    eprintln!("{violations} violations");
}
