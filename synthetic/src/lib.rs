//! Visits of the demo form that vary as real ones do — names, ages,
//! incomes, dates, migrant workers with their cities and employers, a note
//! of 20 to 80 Chinese characters — drawn from a seeded generator, so that
//! compression and byte counts are measured on data that does not squeeze
//! away: no answer is a constant repeated in every visit.

use chrono::NaiveDate;
use serde_json::{Map, Value, json};

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

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const SURNAMES: [&str; 16] = [
    "张", "王", "李", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "欧阳", "朱", "马", "胡",
    "罗",
];
const GIVEN: [&str; 24] = [
    "明", "芳", "建国", "秀英", "强", "兰", "海", "娜", "志勇", "春花", "发", "小燕", "德贵",
    "玉梅", "永福", "桂英", "小红", "德华", "丽", "国富", "家豪", "晓雪", "红梅", "成林",
];
const CITIES: [(&str, &str); 8] = [
    ("outside_province", "上海"),
    ("outside_province", "深圳"),
    ("outside_province", "宁波"),
    ("outside_province", "东莞"),
    ("outside_province", "成都"),
    ("in_province", "昆明"),
    ("in_province", "曲靖"),
    ("in_county", "昭阳区"),
];
const EMPLOYERS: [&str; 12] = [
    "建筑工地",
    "电子厂",
    "餐馆",
    "物流公司",
    "服装厂",
    "装修队",
    "快递站",
    "汽车配件厂",
    "酒店",
    "家政服务",
    "鞋厂",
    "蔬菜基地",
];
const SITES: [&str; 4] = ["界安安置区", "靖安新区", "卯家湾安置区", "青岗岭新村"];
const NOTE_PHRASES: [&str; 24] = [
    "户主在家，配合走访",
    "长子在外务工，春节返乡",
    "房屋墙体有裂缝，需复核",
    "饮水管道去年冬天冻裂",
    "已落实医疗保险",
    "孙子在镇中学住校",
    "希望参加养殖技术培训",
    "家中老人行动不便",
    "收成一般",
    "申请小额信贷扩大养殖",
    "女儿在县城读高中",
    "儿媳外出打工，孩子由老人照看",
    "慢性病需长期服药",
    "屋顶漏雨，已报村委会",
    "自来水已通到户",
    "希望安排公益性岗位",
    "残疾证已办理",
    "今年新修了猪圈",
    "户主腿脚受伤，暂不能干重活",
    "低保已按时发放",
    "家里有一台旧拖拉机",
    "想在附近找临时工",
    "村里组织了技能培训，已报名",
    "与邻居合伙种植魔芋",
];
/// Phrases with a number in them: the same words, different facts.
const COUNTED: [(&str, &str, u64); 6] = [
    ("种植花椒", "亩", 12),
    ("养猪", "头", 15),
    ("养牛", "头", 6),
    ("种植玉米", "亩", 9),
    ("去年看病花了", "元", 9000),
    ("养鸡", "只", 80),
];

/// The day the default visits are dated before (the demo form refuses a
/// visit dated after the day it is recorded).
pub const DEFAULT_TODAY: NaiveDate = match NaiveDate::from_ymd_opt(2024, 12, 28) {
    Some(date) => date,
    None => NaiveDate::MIN,
};

/// Valid answers of the demo form, different from one call to the next,
/// dated on or before [`DEFAULT_TODAY`].
pub fn answers(draw: &mut Draw) -> Map<String, Value> {
    visit_answers(draw, DEFAULT_TODAY)
}

/// Valid answers of the demo form for a visit made within the 30 days up
/// to `today`: a household of one to six, some working away and coming
/// home within four months, incomes in the range of the Zhaotong figures,
/// and a note of 20 to 80 characters.
pub fn visit_answers(draw: &mut Draw, today: NaiveDate) -> Map<String, Value> {
    let surname = draw.pick(&SURNAMES);
    let size = 1 + draw.below(6);
    let mut members = Vec::new();
    let mut migrants = Vec::new();
    let mut wages = 0;
    for index in 0..size {
        let (relation, age) = match index {
            0 => ("head", 28 + draw.below(50)),
            1 => ("spouse", 26 + draw.below(48)),
            2 | 3 => ("child", draw.below(26)),
            4 => ("parent", 60 + draw.below(31)),
            _ => ("grandchild", draw.below(13)),
        };
        let name = format!("{surname}{}", draw.pick(&GIVEN));
        let mut member = json!({"member_name": name, "relation": relation, "age": age});
        if age >= 16 {
            let able = match age {
                16..=59 if draw.chance(90) => "full",
                16..=69 => "partial",
                _ => "none",
            };
            member["able_to_work"] = json!(able);
        } else if age >= 6 {
            member["in_school"] = json!(if draw.chance(97) { "yes" } else { "no" });
        }
        if (18..=55).contains(&age) && draw.chance(40) {
            let (destination, city) = CITIES[draw.below(CITIES.len() as u64) as usize];
            let monthly = (25 + draw.below(66)) * 100;
            wages += monthly * 10;
            let home = today + chrono::Duration::days(5 + draw.below(116) as i64);
            migrants.push(json!({
                "migrant_name": name,
                "destination": destination,
                "city": city,
                "employer": draw.pick(&EMPLOYERS),
                "monthly_income": monthly,
                "return_date": home.format("%Y-%m-%d").to_string(),
            }));
        }
        members.push(member);
    }
    let mostly_yes = |draw: &mut Draw| if draw.chance(93) { "yes" } else { "no" };
    let day = today - chrono::Duration::days(draw.below(30) as i64);
    let mut answers = json!({
        "visit_date": day.format("%Y-%m-%d").to_string(),
        "respondent": draw.pick(&["head", "head", "spouse", "other"]),
        "members": members,
        "income_wages": wages + draw.below(80) * 100,
        "income_business": draw.below(150) * 100,
        "income_property": draw.below(20) * 100,
        "income_transfer": draw.below(16_000) as f64 / 2.0,
        "production_costs": draw.below(50) * 100,
        "food_clothing_ok": mostly_yes(draw),
        "education_ok": mostly_yes(draw),
        "medical_insurance_ok": mostly_yes(draw),
        "housing_safe": mostly_yes(draw),
        "drinking_water_safe": mostly_yes(draw),
        "risk_category": draw.pick(&["none", "none", "none", "none", "unstable", "edge", "sudden_hardship"]),
        "relocated": "no",
        "support_needed": support(draw),
        "notes": note(draw),
        "location": {
            // Four decimals (about 10 m), each the nearest double to its
            // decimal text, as a phone's JSON would carry it.
            "lat": (270_000 + draw.below(10_000)) as f64 / 10_000.0,
            "lon": (1_032_000 + draw.below(10_000)) as f64 / 10_000.0,
            "accuracy": (3 + draw.below(28)) as f64,
        },
    });
    if !migrants.is_empty() {
        answers["migrants"] = json!(migrants);
    }
    if draw.chance(20) {
        answers["relocated"] = json!("yes");
        answers["resettlement_site"] = json!(draw.pick(&SITES));
        answers["works_at_site"] = json!(mostly_yes(draw));
    }
    match answers {
        Value::Object(answers) => answers,
        _ => Map::new(),
    }
}

/// "none", or one or two kinds of support.
fn support(draw: &mut Draw) -> Vec<&'static str> {
    const ALL: [&str; 6] = [
        "jobs",
        "training",
        "industry",
        "loans",
        "medical",
        "education",
    ];
    if draw.chance(35) {
        return vec!["none"];
    }
    let first = draw.below(ALL.len() as u64) as usize;
    if draw.chance(50) {
        return vec![ALL[first]];
    }
    let second = (first + 1 + draw.below(ALL.len() as u64 - 1) as usize) % ALL.len();
    vec![ALL[first], ALL[second]]
}

/// A note of 20 to 80 characters: phrases, some with a number, joined
/// with "；".
pub fn note(draw: &mut Draw) -> String {
    let target = 20 + draw.below(61) as usize;
    let mut note = String::new();
    while note.chars().count() < target {
        if !note.is_empty() {
            note.push('；');
        }
        if draw.chance(30) {
            let (words, unit, most) = COUNTED[draw.below(COUNTED.len() as u64) as usize];
            note.push_str(&format!("{words}{}{unit}", 1 + draw.below(most)));
        } else {
            note.push_str(draw.pick(&NOTE_PHRASES));
        }
    }
    note.chars().take(80).collect()
}

/// A photo-sized run of bytes that nothing compresses (a seeded LCG),
/// different for each `seed`.
pub fn photo(size: usize, seed: u64) -> Vec<u8> {
    let mut draw = Draw::new(seed ^ 0x9e37_79b9_7f4a_7c15);
    (0..size).map(|_| draw.below(256) as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_20_to_80_characters_and_visits_differ() {
        let mut draw = Draw::new(7);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let note = note(&mut draw);
            let length = note.chars().count();
            assert!((20..=80).contains(&length), "{length}: {note}");
            let answers = answers(&mut draw);
            assert!(seen.insert(serde_json::to_string(&answers).expect("json")));
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_visits() {
        let first = answers(&mut Draw::new(3));
        assert_eq!(first, answers(&mut Draw::new(3)));
        assert_ne!(first, answers(&mut Draw::new(4)));
    }
}
