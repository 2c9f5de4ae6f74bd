//! Makes a server database of 100,000 realistic visits for measuring
//! exports by hand: `doorstep admin export visits`, and the HTTP download
//! (`tests/tests/export_http_volume.rs`); docs/benchmarks.md, "Exporting
//! visits". Not a timing assertion: it only builds the file.
//!
//! Answers vary as real ones do (a fixed pseudo-random sequence, the same
//! every run): names, ages, relations, incomes, migrant workers with their
//! cities, employers and return dates, notes of different lengths, so that
//! no column compresses to a repeated constant.

use std::path::PathBuf;

use chrono::{Duration, NaiveDate, Utc};
use doorstep_e2e::{VILLAGE_A, World, visit_record};
use doorstep_protocol::limits::MAX_PUSH_CHANGES;
use doorstep_protocol::{Answers, Change, Mutation, Outcome};
use doorstep_server::store::DeviceAuth;
use serde_json::{Value, json};

const SURNAMES: &[&str] = &[
    "张", "王", "李", "赵", "刘", "陈", "杨", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "罗", "郑", "谢", "唐", "韩", "邓", "彭", "曾", "肖", "田", "袁", "潘", "蒋", "余", "杜",
    "叶", "苏", "吕", "龙", "陶", "贺", "欧阳", "喻", "龚", "覃", "熊", "邹", "雷", "聂",
];
const GIVEN: &[&str] = &[
    "兰", "建国", "明", "华", "芳", "秀英", "桂英", "玉兰", "志强", "春花", "小红", "德才", "文",
    "永", "发", "娜", "海燕", "国富", "金凤", "家富", "光荣", "丽", "勇", "军", "成", "翠", "梅",
    "平", "红梅", "世杰", "正", "兴", "云", "秀", "辉", "涛", "婷", "宇航", "晓燕", "福",
];
const CITIES: [&[&str]; 3] = [
    &["绥江县城", "水富", "县工业园"],
    &["昆明", "曲靖", "昭通", "玉溪", "大理"],
    &[
        "东莞", "深圳", "宁波", "上海", "苏州", "成都", "重庆", "厦门", "佛山",
    ],
];
const EMPLOYERS: &[&str] = &[
    "电子厂",
    "建筑工地",
    "物流公司",
    "餐馆",
    "服装厂",
    "家政服务",
    "汽车配件厂",
    "快递站",
    "超市",
    "自己开店",
    "",
];
const SITES: &[&str] = &[
    "南岸镇安置点",
    "县城移民小区",
    "新滩安置点",
    "板栗乡集中安置区",
];
const NOTES: &[&str] = &[
    "户主腿脚不便，需要定期回访。",
    "今年种植魔芋{n}亩，收成较好。",
    "家中老人患慢性病，医疗费用约{n}元。",
    "孩子在县城读书，每月生活费{n}元。",
    "房屋已加固，饮水管网{n}月通到家。",
    "养猪{n}头，出栏价格偏低。",
    "申请小额信贷{n}元用于发展竹笋产业。",
    "外出务工人员春节前回家，预计{n}日到。",
    "低保已办理，每月{n}元。",
    "",
];

/// A fixed LCG: the same answers every run.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.next(items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next(100) < percent
    }

    fn name(&mut self, surname: &str) -> String {
        format!("{surname}{}", self.pick(GIVEN))
    }
}

/// One household's answers to the demo form, valid (the server evaluates
/// them as it does a device's), recorded on `day`.
fn household_answers(random: &mut Sequence, day: NaiveDate) -> Answers {
    let surname = random.pick(SURNAMES);
    let size = 1 + random.next(6);
    let mut adults = Vec::new();
    let members: Vec<Value> = (0..size)
        .map(|index| {
            let (relation, age) = if index == 0 {
                ("head", 25 + random.next(56))
            } else {
                match random.next(5) {
                    0 => ("spouse", 22 + random.next(55)),
                    1 | 2 => ("child", random.next(40)),
                    3 => ("parent", 55 + random.next(40)),
                    _ => ("grandchild", random.next(15)),
                }
            };
            let own_surname = if relation == "spouse" || relation == "parent" {
                random.pick(SURNAMES)
            } else {
                surname
            };
            let name = random.name(own_surname);
            let mut member = json!({"member_name": name, "relation": relation, "age": age});
            if age >= 16 {
                member["able_to_work"] = random.pick(&["full", "full", "partial", "none"]).into();
                if age < 55 {
                    adults.push(name);
                }
            } else if age >= 6 {
                member["in_school"] = (if random.chance(95) { "yes" } else { "no" }).into();
            }
            member
        })
        .collect();
    let mut answers = json!({
        "visit_date": day.to_string(),
        "respondent": random.pick(&["head", "head", "spouse", "other"]),
        "members": members,
        "income_wages": random.next(600) * 100,
        "income_business": random.next(40_000) as f64 / 2.0,
        "income_property": random.next(3000),
        "income_transfer": random.next(16_000) as f64 / 2.0,
        "production_costs": random.next(6000),
        "food_clothing_ok": if random.chance(97) { "yes" } else { "no" },
        "education_ok": if random.chance(95) { "yes" } else { "no" },
        "medical_insurance_ok": if random.chance(93) { "yes" } else { "no" },
        "housing_safe": if random.chance(90) { "yes" } else { "no" },
        "drinking_water_safe": if random.chance(85) { "yes" } else { "no" },
        "risk_category": random.pick(&["none", "none", "none", "unstable", "edge", "sudden_hardship"]),
        "location": {"lat": 28.0 + random.next(10_000) as f64 / 1e4,
                     "lon": 103.9 + random.next(10_000) as f64 / 1e4,
                     "accuracy": 3 + random.next(30)},
    });
    if !adults.is_empty() && random.chance(35) {
        let migrants: Vec<Value> = adults
            .iter()
            .take(1 + random.next(2) as usize)
            .map(|name| {
                let destination = random.next(3) as usize;
                let destination_name =
                    ["in_county", "in_province", "outside_province"][destination];
                json!({
                    "migrant_name": name,
                    "destination": destination_name,
                    "city": random.pick(CITIES[destination]),
                    "employer": random.pick(EMPLOYERS),
                    "monthly_income": 2000 + random.next(70) * 100,
                    "return_date": (NaiveDate::from_ymd_opt(2026, 1, 10).unwrap_or_default()
                        + Duration::days(random.next(45) as i64)).to_string(),
                })
            })
            .collect();
        answers["migrants"] = migrants.into();
    }
    if random.chance(12) {
        answers["relocated"] = "yes".into();
        answers["resettlement_site"] = random.pick(SITES).into();
        answers["works_at_site"] = (if random.chance(60) { "yes" } else { "no" }).into();
    } else {
        answers["relocated"] = "no".into();
    }
    let support: Vec<&str> = [
        "jobs",
        "training",
        "industry",
        "loans",
        "medical",
        "education",
    ]
    .into_iter()
    .filter(|_| random.chance(25))
    .collect();
    answers["support_needed"] = if support.is_empty() {
        json!(["none"])
    } else {
        json!(support)
    };
    let note = random
        .pick(NOTES)
        .replace("{n}", &(1 + random.next(3000)).to_string());
    if !note.is_empty() {
        answers["notes"] = note.into();
    }
    answers.as_object().cloned().unwrap_or_default()
}

#[test]
#[ignore = "measurement, run by hand: DOORSTEP_EXPORT_DB=/var/tmp/visits-100k.db \
            cargo test --release -p doorstep --test export_volume -- --ignored"]
fn make_a_server_database_of_100_000_visits() {
    let visits: usize = std::env::var("DOORSTEP_EXPORT_VISITS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(100_000);
    let target = PathBuf::from(
        std::env::var("DOORSTEP_EXPORT_DB").unwrap_or_else(|_| "/var/tmp/visits-100k.db".into()),
    );
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let enrollment = world.raw_enrollment(cadre);
    let auth = DeviceAuth {
        device_id: enrollment.device_id,
        cadre_id: enrollment.cadre_id,
    };
    let mut random = Sequence(0x2024_1228);
    let now = Utc::now();
    let mut seq = 0;
    while seq < visits {
        let batch: Vec<Change> = (0..MAX_PUSH_CHANGES.min(visits - seq))
            .map(|_| {
                seq += 1;
                let recorded = now - Duration::minutes((visits - seq) as i64);
                let answers = household_answers(&mut random, recorded.date_naive());
                let household = world.village_a[seq % world.village_a.len()];
                let mut visit = visit_record(&enrollment, household, answers);
                visit.recorded_at = recorded;
                Change {
                    seq: seq as u64,
                    mutation: Mutation::Visit(visit),
                }
            })
            .collect();
        // Each batch arrives a minute after its last visit was recorded, as
        // a device that syncs often pushes: received_at orders the export,
        // and visits received together are sorted by id among themselves.
        let received = now - Duration::minutes((visits - seq) as i64) + Duration::minutes(1);
        let (results, _) = world
            .store
            .push(auth, &batch, None, received)
            .expect("push");
        assert_eq!(results.len(), batch.len());
        if let Some(refused) = results
            .iter()
            .find(|result| result.outcome != Outcome::Applied)
        {
            panic!("a generated visit was refused: {refused:?}");
        }
    }
    world.stop_server();
    // The writer is idle: the file and its WAL together are a whole copy.
    let source = world.server_path();
    for suffix in ["", "-wal"] {
        let from = PathBuf::from(format!("{}{suffix}", source.display()));
        let to = PathBuf::from(format!("{}{suffix}", target.display()));
        let _ = std::fs::remove_file(&to);
        if from.exists() {
            std::fs::copy(&from, &to).expect("copy the server database");
        }
    }
    eprintln!("{visits} visits in {}", target.display());
}
