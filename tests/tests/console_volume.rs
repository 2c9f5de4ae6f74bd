//! Measures the console at a county's scale, by hand (docs/benchmarks.md,
//! "The console at 100,000 households"): 100,000 households in 10
//! townships of 20 villages, 300,000 realistic visits pushed through the
//! store as devices push them, then the pages timed over HTTP against the
//! real server. Not a timing assertion: it prints what it measured.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, Utc};
use doorstep_e2e::console::{get, signed_in_to};
use doorstep_e2e::{answers, demo_form_version};
use doorstep_protocol::limits::MAX_PUSH_CHANGES;
use doorstep_protocol::{AreaLevel, AreaRecord, Change, HouseholdRecord, Mutation, VisitRecord};
use doorstep_server::store::{AssignmentTarget, Role};
use doorstep_server::{BackgroundServer, ServerStore};
use serde_json::json;
use uuid::Uuid;

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁",
    "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石", "廖", "贾", "夏",
    "韦", "付", "方", "白", "邹", "孟", "熊", "秦", "邱", "江", "尹", "薛", "闫", "段", "雷", "侯",
    "龙", "史", "陶", "黎", "贺", "顾", "毛", "郝", "龚", "邵", "万", "钱", "严", "覃", "武", "戴",
    "莫", "孔", "向", "汤", "欧阳",
];
const GIVEN: &[&str] = &[
    "建国", "春花", "兰", "发", "娜娜", "秀英", "桂英", "明", "伟", "芳", "军", "丽", "强", "敏",
    "静", "磊", "洋", "艳", "勇", "杰", "娟", "涛", "超", "霞", "平", "刚", "玉兰", "德胜", "开富",
    "国华", "正林", "家富", "小红", "文斌", "光明", "永平", "天顺", "绍华", "朝友", "应芬",
];
const CITIES: &[(&str, &str)] = &[
    ("outside_province", "上海"),
    ("outside_province", "深圳"),
    ("outside_province", "宁波"),
    ("outside_province", "东莞"),
    ("outside_province", "杭州"),
    ("in_province", "昆明"),
    ("in_province", "曲靖"),
    ("in_county", "昭阳区"),
];
const EMPLOYERS: &[&str] = &[
    "建筑工地",
    "电子厂",
    "服装厂",
    "快递公司",
    "餐馆",
    "物流园",
    "家政服务",
    "汽车配件厂",
    "矿山",
    "种植基地",
];

const NOTES: &[&str] = &[
    "户主腿脚不便需跟进医疗报销",
    "家中老人常年服药",
    "子女在县城读高中",
    "房屋已完成危改",
    "饮水管道冬季易冻裂",
    "申请了小额信贷发展养殖",
    "今年种植魔芋收成较好",
    "家中有残疾人需关注",
    "务工收入比去年减少",
    "已参加新农合",
    "计划春节后外出务工",
    "养牛三头猪五头",
    "搬迁后在安置点附近打零工",
    "因病支出较大",
    "孩子享受雨露计划补助",
];

/// A fixed LCG: the same data every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn name(&mut self) -> String {
        format!("{}{}", self.pick(SURNAMES), self.pick(GIVEN))
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore = "measurement, run by hand: cargo test --release -p doorstep-e2e --test console_volume -- --ignored --nocapture"]
fn the_console_at_100_000_households_and_300_000_visits() {
    let households_wanted = env("DOORSTEP_HOUSEHOLDS", 100_000);
    let visits_wanted = env("DOORSTEP_VISITS", 300_000);
    let directory = tempfile::tempdir().expect("a directory");
    let store = Arc::new(ServerStore::open(directory.path().join("server.db")).expect("a store"));
    let mut rng = Rng(0x2024_1228);

    // The county, 10 townships of 20 villages, households in 8 groups.
    let county = "530602";
    let mut areas = vec![area(county, "昭阳区", AreaLevel::County, None)];
    let mut villages = Vec::new();
    for township in 0..10 {
        let township_code = format!("{county}{:03}", 100 + township);
        areas.push(area(
            &township_code,
            &format!("{}镇", rng.name()),
            AreaLevel::Township,
            Some(county),
        ));
        for village in 0..20 {
            let code = format!("{township_code}{:03}", 200 + village);
            areas.push(area(
                &code,
                &format!("{}村", rng.name()),
                AreaLevel::Village,
                Some(&township_code),
            ));
            villages.push(code);
        }
    }
    let started = Instant::now();
    let mut households = Vec::with_capacity(households_wanted);
    for index in 0..households_wanted {
        let group = 1 + rng.below(8);
        households.push(HouseholdRecord {
            id: Uuid::now_v7(),
            village_code: villages[index % villages.len()].clone(),
            head_name: rng.name(),
            id_card_suffix: format!("{:03}{}", rng.below(1000), rng.pick(&["1", "5", "X", "8"])),
            group: format!("{group}组"),
            members: 1 + rng.below(7) as u32,
            phone: format!("13{:09}", rng.below(1_000_000_000)),
            address: format!("{group}组{}号", 1 + rng.below(90)),
            lat: None,
            lon: None,
            category: "relieved".into(),
            version: 0,
        });
    }
    for chunk in households.chunks(10_000) {
        store.import_households(&areas, chunk).expect("an import");
    }
    eprintln!(
        "{} households imported in {:.1} s",
        households.len(),
        started.elapsed().as_secs_f64()
    );

    // One cadre per township, each with one device, pushing as phones do.
    let definition: serde_json::Value =
        serde_json::from_str(doorstep_e2e::DEMO_FORM).expect("the demo form");
    let form = doorstep_forms::Form::from_definition(&definition).expect("the demo form");
    store.publish_form(&form).expect("published");
    let version = demo_form_version();
    let mut devices = Vec::new();
    for township in 0..10 {
        let cadre = store.add_cadre(&rng.name()).expect("a cadre");
        for village in &villages[township * 20..township * 20 + 20] {
            store
                .assign(cadre, &AssignmentTarget::Village(village.clone()))
                .expect("assigned");
        }
        let code = store.enroll_code(cadre).expect("a code");
        let enrolled = store
            .enroll(&code.code, None, None, None, Utc::now())
            .expect("enrolled");
        devices.push(
            store
                .authenticate(&enrolled.token, Utc::now())
                .expect("a device"),
        );
    }
    // 30 % of households are not visited yet; the others have 1 to 7
    // visits, over the last 100 days.
    let now = Utc::now();
    let started = Instant::now();
    let mut seqs = vec![0u64; devices.len()];
    let mut pending: Vec<Vec<Change>> = vec![Vec::new(); devices.len()];
    let mut pushed = 0;
    let mut index = 0;
    while pushed + pending.iter().map(Vec::len).sum::<usize>() < visits_wanted {
        let household = &households[index % households.len()];
        index += 1;
        if rng.below(10) < 3 && index <= households.len() {
            continue;
        }
        let village = villages
            .iter()
            .position(|code| *code == household.village_code)
            .expect("a village");
        let device = village / 20;
        let auth = devices[device];
        seqs[device] += 1;
        let answers = realistic_answers(&mut rng, now);
        pending[device].push(Change {
            seq: seqs[device],
            mutation: Mutation::Visit(VisitRecord {
                id: Uuid::now_v7(),
                household_id: household.id,
                cadre_id: auth.cadre_id,
                device_id: auth.device_id,
                form_id: "household_check".into(),
                form_version: version.clone(),
                answers,
                computed: Default::default(),
                recorded_at: now - Duration::minutes(rng.below(100 * 24 * 60) as i64),
                corrects: None,
                received_at: None,
                clock_ahead: false,
            }),
        });
        if pending[device].len() == MAX_PUSH_CHANGES {
            let batch = std::mem::take(&mut pending[device]);
            store.push(auth, &batch, None, now).expect("a push");
            pushed += batch.len();
        }
    }
    for (device, batch) in pending.into_iter().enumerate() {
        if !batch.is_empty() {
            pushed += batch.len();
            store
                .push(devices[device], &batch, None, now)
                .expect("a push");
        }
    }
    eprintln!(
        "{pushed} visits pushed in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let server = BackgroundServer::start(Arc::clone(&store), SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("a server");
    let url = server.url();
    let admin = signed_in_to(&url, &store, "operator", Role::Admin, None);
    let township = &villages[0][..9];
    let supervisor = signed_in_to(&url, &store, "supervisor", Role::Supervisor, Some(township));
    let pages = [
        ("admin", "/console/progress".to_owned()),
        ("admin", format!("/console/progress?area={county}")),
        ("supervisor", "/console/progress".to_owned()),
        (
            "supervisor",
            format!("/console/progress?area={}", villages[0]),
        ),
        ("admin", "/console/households".to_owned()),
        (
            "admin",
            "/console/households?filter=below_line&sort=income".to_owned(),
        ),
        (
            "admin",
            "/console/households?filter=unvisited&page=40".to_owned(),
        ),
        (
            "admin",
            "/console/households?q=%E5%BB%BA%E5%9B%BD".to_owned(),
        ),
        (
            "supervisor",
            "/console/households?filter=gap&sort=last_visit".to_owned(),
        ),
        ("supervisor", "/console/households?risk=edge".to_owned()),
        ("admin", "/console/risk".to_owned()),
        ("admin", "/console/coming-home".to_owned()),
    ];
    eprintln!("| page | account | median ms | slowest ms | bytes |");
    eprintln!("|---|---|---:|---:|---:|");
    for (who, path) in pages {
        let cookie = if who == "admin" { &admin } else { &supervisor };
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..7 {
            let started = Instant::now();
            let response = get(&format!("{url}{path}"), Some(cookie));
            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            bytes = response.bytes().expect("a body").len();
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        eprintln!(
            "| `{path}` | {who} | {:.0} | {:.0} | {bytes} |",
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
    server.stop().expect("stopped");
}

fn realistic_answers(rng: &mut Rng, now: chrono::DateTime<Utc>) -> doorstep_protocol::Answers {
    let members = 1 + rng.below(6) as i64;
    let mut answers = answers(members);
    answers.insert("income_wages".into(), json!(rng.below(600) * 100));
    answers.insert("income_business".into(), json!(rng.below(200) * 50));
    answers.insert(
        "income_transfer".into(),
        json!(rng.below(8000) as f64 / 2.0),
    );
    answers.insert("production_costs".into(), json!(rng.below(60) * 100));
    let yes = |rng: &mut Rng| if rng.below(20) == 0 { "no" } else { "yes" };
    for question in [
        "food_clothing_ok",
        "education_ok",
        "medical_insurance_ok",
        "housing_safe",
        "drinking_water_safe",
    ] {
        answers.insert(question.into(), json!(yes(rng)));
    }
    answers.insert(
        "risk_category".into(),
        json!(*rng.pick(&[
            "none",
            "none",
            "none",
            "none",
            "none",
            "none",
            "unstable",
            "edge",
            "sudden_hardship"
        ])),
    );
    answers.insert(
        "relocated".into(),
        json!(if rng.below(5) == 0 { "yes" } else { "no" }),
    );
    if answers["relocated"] == "yes" {
        answers.insert(
            "resettlement_site".into(),
            json!(format!("{}安置点", rng.name())),
        );
        answers.insert("works_at_site".into(), json!("yes"));
    }
    let notes: Vec<&str> = (0..2 + rng.below(4)).map(|_| *rng.pick(NOTES)).collect();
    answers.insert("notes".into(), json!(notes.join("，")));
    let away = rng.below(3);
    if away > 0 {
        let migrants: Vec<serde_json::Value> = (0..away)
            .map(|_| {
                let (destination, city) = *rng.pick(CITIES);
                let back = now.date_naive() + Duration::days(rng.below(120) as i64);
                json!({"migrant_name": rng.name(), "destination": destination, "city": city,
                       "employer": rng.pick(EMPLOYERS), "monthly_income": 2500 + rng.below(60) * 100,
                       "return_date": back.format("%Y-%m-%d").to_string()})
            })
            .collect();
        answers.insert("migrants".into(), json!(migrants));
    }
    answers
}

fn area(code: &str, name: &str, level: AreaLevel, parent: Option<&str>) -> AreaRecord {
    AreaRecord {
        code: code.into(),
        name: name.into(),
        level,
        parent_code: parent.map(Into::into),
    }
}
