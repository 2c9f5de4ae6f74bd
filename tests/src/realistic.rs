//! Visits of the demo form that vary as real ones do — names, ages,
//! incomes, choices and a note in Chinese drawn from a seeded generator —
//! so that compression and byte counts are measured on data that does not
//! squeeze away.

use doorstep_protocol::Answers;
use serde_json::json;

/// A seeded generator (an LCG: every run the same).
#[derive(Debug, Clone)]
pub struct Draw(u64);

impl Draw {
    pub fn new(seed: u64) -> Draw {
        Draw(seed)
    }

    /// A number below `bound` (at least 1).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const SURNAMES: [&str; 12] = [
    "张", "王", "李", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "欧阳",
];
const GIVEN: [&str; 16] = [
    "明", "芳", "建国", "秀英", "强", "兰", "海", "娜", "志勇", "春花", "发", "小燕", "德贵",
    "玉梅", "永福", "桂英",
];
const NOTE_PHRASES: [&str; 10] = [
    "户主在家，配合走访",
    "长子在外务工，春节返乡",
    "房屋墙体有裂缝，需复核",
    "饮水管道去年冬天冻裂",
    "已落实医疗保险",
    "孙子在镇中学住校",
    "希望参加养殖技术培训",
    "家中老人行动不便",
    "种植花椒两亩，收成一般",
    "申请小额信贷扩大养殖",
];

/// Valid answers of the demo form, different from one call to the next.
pub fn answers(draw: &mut Draw) -> Answers {
    let surname = draw.pick(&SURNAMES);
    let members = 1 + draw.below(6);
    let roster: Vec<serde_json::Value> = (0..members)
        .map(|index| {
            let age = if index == 0 {
                30 + draw.below(50)
            } else {
                1 + draw.below(85)
            };
            let name = format!("{surname}{}", draw.pick(&GIVEN));
            let mut member = json!({
                "member_name": name,
                "relation": if index == 0 { "head" } else { draw.pick(&["spouse", "child", "parent", "grandchild"]) },
                "age": age,
            });
            if age >= 16 {
                member["able_to_work"] = json!(draw.pick(&["full", "partial", "none"]));
            } else if age >= 6 {
                member["in_school"] = json!(draw.pick(&["yes", "yes", "no"]));
            }
            member
        })
        .collect();
    let note: String = (0..1 + draw.below(3))
        .map(|_| draw.pick(&NOTE_PHRASES))
        .collect::<Vec<_>>()
        .join("；");
    let mut answers = json!({
        "visit_date": format!("2024-12-{:02}", 1 + draw.below(28)),
        "respondent": draw.pick(&["head", "spouse", "other"]),
        "members": roster,
        "income_wages": draw.below(400) * 100,
        "income_business": draw.below(200) * 50,
        "income_property": draw.below(30) * 100,
        "income_transfer": draw.below(5000) as f64 / 2.0,
        "production_costs": draw.below(60) * 100,
        "food_clothing_ok": "yes",
        "education_ok": "yes",
        "medical_insurance_ok": draw.pick(&["yes", "yes", "no"]),
        "housing_safe": draw.pick(&["yes", "no"]),
        "drinking_water_safe": draw.pick(&["yes", "no"]),
        "risk_category": draw.pick(&["none", "unstable", "edge", "sudden_hardship"]),
        "relocated": "no",
        "support_needed": [draw.pick(&["jobs", "training", "industry", "loans", "medical", "education"])],
        "notes": note,
    });
    answers
        .as_object_mut()
        .map(std::mem::take)
        .unwrap_or_default()
}

/// A photo-sized run of bytes that nothing compresses (a seeded LCG),
/// different for each `seed`.
pub fn photo(size: usize, seed: u64) -> Vec<u8> {
    let mut draw = Draw::new(seed ^ 0x9e37_79b9_7f4a_7c15);
    (0..size).map(|_| draw.below(256) as u8).collect()
}
