//! Households as CSV: the row type shared by `doorstep gen households` and
//! `doorstep admin import-households`, and a deterministic generator of
//! synthetic households for demos, tests and load runs.
//!
//! Real household lists hold names, ID-card digits and phone numbers, so they
//! must never end up in a repository, a bug report or a demo. The generator
//! gives every environment realistic data instead: counties with their real
//! codes, townships and villages nested in Zhaotong's five levels (city,
//! county, township, village, group), Han, Yi, Miao and Hui names, household
//! sizes and categories in plausible proportions, and coordinates that put a
//! village's households close together. The same seed always gives the same
//! rows, byte for byte once written as CSV, with the same version of `rand`.
//!
//! The reader is the import side: it accepts what [`write_csv`] writes or what
//! an operator saved from a spreadsheet with the same header, and reports the
//! first problem with its line number and column — never with the cell's
//! content, which may be personal data.

use std::collections::HashMap;
use std::fmt;
use std::io::{Read, Write};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One household, one CSV row. Field order is the column order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HouseholdRow {
    /// The household id used everywhere (a UUIDv7).
    pub id: Uuid,
    /// 户主: name of the head of household.
    pub head_name: String,
    /// Last 4 characters of the head's 18-digit ID card: 3 digits, then a digit or `X`.
    pub id_card_suffix: String,
    /// 6-digit county code, e.g. `530626` for 绥江县.
    pub county_code: String,
    /// 县/区/市, e.g. 绥江县.
    pub county: String,
    /// 9 digits: the county code and 3 more.
    pub township_code: String,
    /// 乡/镇/街道, e.g. 南岸镇.
    pub township: String,
    /// 12 digits: the township code and 3 more.
    pub village_code: String,
    /// 村/社区, e.g. 中坝村.
    pub village: String,
    /// 村民小组, e.g. `3组`.
    pub group: String,
    /// 人口: persons in the household.
    pub members: u32,
    /// 11-digit mobile number.
    pub phone: String,
    /// Full address, e.g. `绥江县南岸镇中坝村3组17号`.
    pub address: String,
    /// Latitude, WGS84, 6 decimals.
    pub lat: f64,
    /// Longitude, WGS84, 6 decimals.
    pub lon: f64,
    /// One of [`CATEGORIES`].
    pub category: String,
}

/// 一般农户: an ordinary rural household.
const GENERAL: &str = "general";
/// 脱贫户: a poverty-relieved household, still monitored.
const RELIEVED: &str = "relieved";
/// 脱贫不稳定户: a poverty-relieved household at risk of falling back.
const UNSTABLE: &str = "unstable";
/// 边缘易致贫户: a household on the edge of poverty.
const EDGE: &str = "edge";
/// 突发严重困难户: a household hit by a sudden severe hardship.
const SUDDEN_HARDSHIP: &str = "sudden_hardship";

/// Household categories as codes:
/// `general` 一般农户, `relieved` 脱贫户, `unstable` 脱贫不稳定户,
/// `edge` 边缘易致贫户, `sudden_hardship` 突发严重困难户.
/// The last three are the three monitored categories (三类对象).
pub const CATEGORIES: [&str; 5] = [GENERAL, RELIEVED, UNSTABLE, EDGE, SUDDEN_HARDSHIP];

/// The CSV header, in the struct's field order.
const COLUMNS: [&str; 16] = [
    "id",
    "head_name",
    "id_card_suffix",
    "county_code",
    "county",
    "township_code",
    "township",
    "village_code",
    "village",
    "group",
    "members",
    "phone",
    "address",
    "lat",
    "lon",
    "category",
];

// ---------------------------------------------------------------------------
// Places
// ---------------------------------------------------------------------------

struct CountySpec {
    code: &'static str,
    name: &'static str,
    /// Roughly the middle of the county's populated area.
    lat: f64,
    lon: f64,
    /// How far (degrees) township centres may lie from (lat, lon).
    spread: f64,
    /// Relative share of rural households.
    weight: u32,
    townships: &'static [TownshipSpec],
}

struct TownshipSpec {
    name: &'static str,
    /// Villages known by name, used first (a `社区` name makes a community).
    villages: &'static [&'static str],
}

const fn t(name: &'static str) -> TownshipSpec {
    TownshipSpec {
        name,
        villages: &[],
    }
}

const fn tv(name: &'static str, villages: &'static [&'static str]) -> TownshipSpec {
    TownshipSpec { name, villages }
}

/// Zhaotong's districts and counties with their real codes and some of their
/// townships. Township and village codes are assigned by the national
/// convention (街道 0xx, 镇 1xx, 乡 2xx; 社区 0xx, 村 2xx and up), not looked up.
const COUNTIES: [CountySpec; 11] = [
    CountySpec {
        code: "530602",
        name: "昭阳区",
        lat: 27.32,
        lon: 103.72,
        spread: 0.20,
        weight: 14,
        townships: &[
            t("凤凰街道"),
            t("龙泉街道"),
            t("太平街道"),
            t("北闸镇"),
            t("永丰镇"),
            t("洒渔镇"),
            t("乐居镇"),
            t("靖安镇"),
            t("炎山镇"),
            t("苏甲乡"),
            t("大寨子乡"),
            t("田坝乡"),
            t("守望回族乡"),
            t("布嘎回族乡"),
        ],
    },
    CountySpec {
        code: "530621",
        name: "鲁甸县",
        lat: 27.19,
        lon: 103.56,
        spread: 0.16,
        weight: 9,
        townships: &[
            t("文屏镇"),
            t("龙头山镇"),
            t("水磨镇"),
            t("火德红镇"),
            t("小寨镇"),
            t("江底镇"),
            t("梭山镇"),
            t("乐红镇"),
            t("茨院回族乡"),
            t("桃源回族乡"),
        ],
    },
    CountySpec {
        code: "530622",
        name: "巧家县",
        lat: 26.98,
        lon: 103.08,
        spread: 0.18,
        weight: 11,
        townships: &[
            t("白鹤滩镇"),
            t("大寨镇"),
            t("药山镇"),
            t("老店镇"),
            t("茂租镇"),
            t("东坪镇"),
            t("小河镇"),
            t("蒙姑镇"),
            t("金塘镇"),
            t("马树镇"),
            t("炉房镇"),
            t("崇溪镇"),
            t("红山乡"),
            t("包谷垴乡"),
        ],
    },
    CountySpec {
        code: "530623",
        name: "盐津县",
        lat: 28.05,
        lon: 104.25,
        spread: 0.18,
        weight: 7,
        townships: &[
            t("盐井镇"),
            t("普洱镇"),
            t("豆沙镇"),
            t("中和镇"),
            t("庙坝镇"),
            t("柿子镇"),
            t("兴隆乡"),
            t("落雁乡"),
            tv("牛寨乡", &["牛塘村"]),
            t("滩头乡"),
        ],
    },
    CountySpec {
        code: "530624",
        name: "大关县",
        lat: 27.78,
        lon: 103.88,
        spread: 0.18,
        weight: 6,
        townships: &[
            t("翠华镇"),
            t("玉碗镇"),
            t("天星镇"),
            t("吉利镇"),
            t("木杆镇"),
            t("悦乐镇"),
            t("寿山镇"),
            t("上高桥回族彝族苗族乡"),
        ],
    },
    CountySpec {
        code: "530625",
        name: "永善县",
        lat: 28.10,
        lon: 103.55,
        spread: 0.20,
        weight: 8,
        townships: &[
            t("溪洛渡街道"),
            t("桧溪镇"),
            t("黄华镇"),
            t("茂林镇"),
            t("大兴镇"),
            t("莲峰镇"),
            t("务基镇"),
            t("码口镇"),
            t("团结乡"),
            t("细沙乡"),
            t("青胜乡"),
            t("水竹乡"),
            t("马楠苗族彝族乡"),
            t("伍寨彝族苗族乡"),
        ],
    },
    CountySpec {
        code: "530626",
        name: "绥江县",
        lat: 28.48,
        lon: 104.00,
        spread: 0.08,
        weight: 3,
        townships: &[
            tv("中城镇", &["凤池村", "后坝村", "田坝村", "大沙村"]),
            tv("南岸镇", &["中坝村"]),
            t("板栗镇"),
            t("会仪镇"),
            t("新滩镇"),
        ],
    },
    CountySpec {
        code: "530627",
        name: "镇雄县",
        lat: 27.44,
        lon: 104.87,
        spread: 0.24,
        weight: 30,
        townships: &[
            t("乌峰街道"),
            t("南台街道"),
            tv("旧府街道", &["南苑社区"]),
            t("中屯镇"),
            t("泼机镇"),
            t("黑树镇"),
            t("母享镇"),
            t("大湾镇"),
            t("以勒镇"),
            t("赤水源镇"),
            t("芒部镇"),
            t("雨河镇"),
            t("罗坎镇"),
            t("牛场镇"),
            t("五德镇"),
            t("坡头镇"),
            t("以古镇"),
            t("场坝镇"),
            t("塘房镇"),
            t("花朗乡"),
            t("尖山乡"),
            t("杉树乡"),
            t("鱼洞乡"),
            t("果珠彝族乡"),
            t("林口彝族苗族乡"),
        ],
    },
    CountySpec {
        code: "530628",
        name: "彝良县",
        lat: 27.62,
        lon: 104.05,
        spread: 0.20,
        weight: 11,
        townships: &[
            tv("发界街道", &["界安社区"]),
            t("角奎镇"),
            t("洛泽河镇"),
            t("牛街镇"),
            t("龙海镇"),
            t("海子镇"),
            t("钟鸣镇"),
            t("两河镇"),
            t("小草坝镇"),
            t("荞山镇"),
            t("龙街苗族彝族乡"),
            t("树林彝族苗族乡"),
            t("奎香苗族彝族乡"),
            t("洛旺苗族乡"),
            t("柳溪苗族乡"),
        ],
    },
    CountySpec {
        code: "530629",
        name: "威信县",
        lat: 27.84,
        lon: 105.05,
        spread: 0.14,
        weight: 8,
        townships: &[
            t("扎西镇"),
            t("旧城镇"),
            t("麟凤镇"),
            t("罗布镇"),
            t("长安镇"),
            t("庙沟镇"),
            t("水田镇"),
            t("三桃乡"),
            t("高田乡"),
            t("双河苗族彝族乡"),
        ],
    },
    CountySpec {
        code: "530681",
        name: "水富市",
        lat: 28.52,
        lon: 104.35,
        spread: 0.06,
        weight: 2,
        townships: &[t("云富街道"), t("向家坝镇"), t("太平镇"), t("两碗镇")],
    },
];

/// Zhaotong's bounding box (generated coordinates stay inside it).
const LAT_RANGE: (f64, f64) = (26.5, 28.6);
const LON_RANGE: (f64, f64) = (102.9, 105.3);
/// Village centres keep this far (degrees) from the box's edges, so that
/// households around them stay inside.
const EDGE_MARGIN: f64 = 0.03;
/// How far (degrees) village centres lie from their township's centre.
const VILLAGE_SPREAD: f64 = 0.05;
/// Households lie within this many km of their village's centre.
const HOUSEHOLD_RADIUS_KM: f64 = 1.5;
const KM_PER_DEGREE_LAT: f64 = 111.0;
/// cos(27.5°) × 111.3 km, good enough across Zhaotong (no trigonometry, so
/// the coordinates are the same on every platform).
const KM_PER_DEGREE_LON: f64 = 98.7;

/// 2024-01-02 09:00 Beijing time: the clock of the first generated id.
const START_MILLIS: u64 = 1_704_157_200_000;

const VILLAGE_SIZE: std::ops::RangeInclusive<usize> = 60..=150;
const VILLAGES_PER_VISIT: std::ops::RangeInclusive<usize> = 2..=6;
/// Community (社区) codes 001–199, village (村) codes 201–999.
const FIRST_COMMUNITY: u16 = 1;
const LAST_COMMUNITY: u16 = 199;
const FIRST_VILLAGE: u16 = 201;
const LAST_VILLAGE: u16 = 999;

// ---------------------------------------------------------------------------
// Names and numbers
// ---------------------------------------------------------------------------

/// Common surnames in Zhaotong, the most frequent first.
const HAN_COMMON: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "周", "吴", "徐", "喻", "兰", "许", "龙", "马", "罗",
];
const HAN_OTHER: &[&str] = &[
    "黄", "朱", "胡", "何", "高", "郭", "孙", "邓", "曾", "彭", "付", "蒋", "余", "潘", "熊", "肖",
    "陶", "苏", "范", "唐", "袁", "申", "钟", "邹", "谢", "韩", "毛", "汪", "孔", "夏",
];
const YI_SURNAMES: &[&str] = &[
    "禄", "陇", "安", "苏", "吉", "沙", "李", "罗", "杨", "龙", "普", "海",
];
const MIAO_SURNAMES: &[&str] = &[
    "王", "杨", "张", "陶", "朱", "熊", "吴", "韩", "马", "龙", "古", "项",
];
const HUI_SURNAMES: &[&str] = &[
    "马", "丁", "沙", "纳", "保", "何", "李", "王", "杨", "白", "锁", "海",
];
const MALE_GIVEN: &[&str] = &[
    "国", "明", "华", "文", "学", "兴", "忠", "富", "贵", "才", "德", "成", "林", "永", "安", "平",
    "光", "荣", "军", "强", "福", "发", "顺", "云", "正", "天", "友", "海", "金", "开", "志", "清",
    "仁", "武", "昌", "祥", "庆", "良", "洪", "中", "红", "勇", "刚", "伟", "财", "万", "朝", "登",
    "应", "绍",
];
const FEMALE_GIVEN: &[&str] = &[
    "秀", "芬", "英", "兰", "珍", "梅", "琼", "芳", "翠", "凤", "菊", "美", "桂", "春", "花", "莲",
    "艳", "丽", "琴", "会", "仙", "玉", "燕", "群", "香", "素", "银", "慧",
];

/// First and second halves of village names (大 + 坪 → 大坪村).
const VILLAGE_FIRST: &[&str] = &[
    "大", "小", "新", "老", "上", "下", "高", "红", "青", "白", "黑", "石", "松", "龙", "马", "凤",
    "金", "水", "沙", "花", "杉", "柏", "竹", "茶", "麻", "羊", "牛", "鹿", "梨", "桃", "双", "三",
    "中", "河", "岔", "平", "长", "团", "响", "碓",
];
const VILLAGE_SECOND: &[&str] = &[
    "坪", "坝", "湾", "沟", "岩", "箐", "河", "田", "山", "林", "井", "塘", "桥", "寨", "营", "街",
    "口", "梁", "包", "堡",
];
const COMMUNITY_NAMES: &[&str] = &[
    "南苑", "东风", "新城", "迎宾", "滨江", "凤凰", "龙泉", "团结", "光明", "西街", "北门", "和平",
    "兴隆", "幸福", "振兴", "民族", "建设", "青年", "锦绣", "安居", "康乐", "文化", "同心", "顺河",
];

/// Mobile prefixes of the three carriers.
const PHONE_PREFIXES: &[&str] = &[
    "134", "135", "136", "137", "138", "139", "147", "150", "151", "152", "157", "158", "159",
    "178", "182", "183", "184", "187", "188", "198", "130", "131", "132", "155", "156", "166",
    "175", "176", "185", "186", "133", "153", "173", "177", "180", "181", "189", "191", "199",
];

/// Weights of household sizes 1..=8 (most 3–5).
const MEMBER_WEIGHTS: [u32; 8] = [6, 14, 20, 24, 19, 10, 5, 2];

/// Shares of the three monitored categories (a few percent each).
const SHARE_UNSTABLE: f64 = 0.020;
const SHARE_EDGE: f64 = 0.025;
const SHARE_SUDDEN: f64 = 0.010;

// ---------------------------------------------------------------------------
// Generator
// ---------------------------------------------------------------------------

/// A township while generating: where it is and which codes it has used.
struct TownshipState {
    county: usize,
    spec: &'static TownshipSpec,
    code: String,
    centre: Option<(f64, f64)>,
    visits: u32,
    known_used: usize,
    next_community: u16,
    next_village: u16,
    village_names: Vec<String>,
}

impl TownshipState {
    fn is_full(&self) -> bool {
        self.next_community > LAST_COMMUNITY && self.next_village > LAST_VILLAGE
    }
}

fn township_states() -> Vec<TownshipState> {
    let mut states = Vec::new();
    for (county, spec) in COUNTIES.iter().enumerate() {
        let (mut street, mut town, mut xiang) = (1u16, 101u16, 201u16);
        for township in spec.townships {
            let counter = if township.name.ends_with("街道") {
                &mut street
            } else if township.name.ends_with('镇') {
                &mut town
            } else {
                &mut xiang
            };
            let code = format!("{}{:03}", spec.code, *counter);
            *counter += 1;
            states.push(TownshipState {
                county,
                spec: township,
                code,
                centre: None,
                visits: 0,
                known_used: 0,
                next_community: FIRST_COMMUNITY,
                next_village: FIRST_VILLAGE,
                village_names: Vec::new(),
            });
        }
    }
    states
}

/// Picks a county by weight, then one of its least visited townships.
fn pick_township(rng: &mut StdRng, towns: &[TownshipState]) -> Option<usize> {
    let open = |county: usize| {
        towns
            .iter()
            .any(|town| town.county == county && !town.is_full())
    };
    let weights: Vec<u32> = (0..COUNTIES.len())
        .map(|c| if open(c) { COUNTIES[c].weight } else { 0 })
        .collect();
    let county = pick_weighted(rng, &weights)?;
    let candidates: Vec<usize> = (0..towns.len())
        .filter(|&i| towns[i].county == county && !towns[i].is_full())
        .collect();
    let fewest = candidates.iter().map(|&i| towns[i].visits).min()?;
    let least: Vec<usize> = candidates
        .into_iter()
        .filter(|&i| towns[i].visits == fewest)
        .collect();
    Some(least[rng.random_range(0..least.len())])
}

/// An index drawn with the given weights; `None` when they are all zero.
fn pick_weighted(rng: &mut StdRng, weights: &[u32]) -> Option<usize> {
    let total: u32 = weights.iter().sum();
    if total == 0 {
        return None;
    }
    let mut ticket = rng.random_range(0..total);
    for (i, &w) in weights.iter().enumerate() {
        if ticket < w {
            return Some(i);
        }
        ticket -= w;
    }
    None
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// A point in the unit disk (rejection sampling: plain arithmetic only).
fn unit_disk(rng: &mut StdRng) -> (f64, f64) {
    loop {
        let x: f64 = rng.random_range(-1.0..=1.0);
        let y: f64 = rng.random_range(-1.0..=1.0);
        if x * x + y * y <= 1.0 {
            return (x, y);
        }
    }
}

fn round6(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}

/// One village being filled with households.
struct Village {
    county_code: &'static str,
    county: &'static str,
    township_code: String,
    township: &'static str,
    code: String,
    name: String,
    centre: (f64, f64),
    /// Last house number used in each group (index 0 is 1组).
    house_numbers: Vec<u32>,
    /// Share of poverty-relieved households, which varies between villages.
    relieved_share: f64,
    /// Weights of Han, Yi, Miao and Hui heads of household.
    ethnic_weights: [u32; 4],
}

/// Opens the township's next village; `None` when its codes are used up.
fn new_village(rng: &mut StdRng, town: &mut TownshipState) -> Option<Village> {
    if town.is_full() {
        return None;
    }
    let county = &COUNTIES[town.county];
    let centre = match town.centre {
        Some(centre) => centre,
        None => {
            let (x, y) = unit_disk(rng);
            let centre = (
                county.lat + x * county.spread,
                county.lon + y * county.spread,
            );
            town.centre = Some(centre);
            centre
        }
    };

    let name = if town.known_used < town.spec.villages.len() {
        town.known_used += 1;
        town.spec.villages[town.known_used - 1].to_string()
    } else {
        let community_chance = if town.spec.name.ends_with("街道") {
            0.6
        } else if town.spec.name.ends_with('镇') {
            0.08
        } else {
            0.03
        };
        let community = rng.random_bool(community_chance);
        village_name(rng, community, &town.village_names)
    };
    let wants_community = name.ends_with("社区");
    let counter = if (wants_community && town.next_community <= LAST_COMMUNITY)
        || town.next_village > LAST_VILLAGE
    {
        &mut town.next_community
    } else {
        &mut town.next_village
    };
    let code = format!("{}{:03}", town.code, *counter);
    *counter += 1;
    town.village_names.push(name.clone());

    let (x, y) = unit_disk(rng);
    let lat =
        (centre.0 + x * VILLAGE_SPREAD).clamp(LAT_RANGE.0 + EDGE_MARGIN, LAT_RANGE.1 - EDGE_MARGIN);
    let lon =
        (centre.1 + y * VILLAGE_SPREAD).clamp(LON_RANGE.0 + EDGE_MARGIN, LON_RANGE.1 - EDGE_MARGIN);

    let township = town.spec.name;
    let mut ethnic_weights = [86, 5, 5, 4];
    if township.contains("彝族") {
        ethnic_weights[1] += 25;
    }
    if township.contains("苗族") {
        ethnic_weights[2] += 25;
    }
    if township.contains("回族") {
        ethnic_weights[3] += 45;
    }

    Some(Village {
        county_code: county.code,
        county: county.name,
        township_code: town.code.clone(),
        township,
        code,
        name,
        centre: (lat, lon),
        house_numbers: vec![0; rng.random_range(4..=12)],
        relieved_share: rng.random_range(0.25..0.60),
        ethnic_weights,
    })
}

/// A village name not yet used in the township.
fn village_name(rng: &mut StdRng, community: bool, used: &[String]) -> String {
    let taken = |name: &str| used.iter().any(|u| u == name);
    for _ in 0..40 {
        let name = if community {
            format!("{}社区", pick(rng, COMMUNITY_NAMES))
        } else {
            format!(
                "{}{}村",
                pick(rng, VILLAGE_FIRST),
                pick(rng, VILLAGE_SECOND)
            )
        };
        if !taken(&name) {
            return name;
        }
    }
    // Crowded township: the first free name in order, then numbered ones.
    for first in VILLAGE_FIRST {
        for second in VILLAGE_SECOND {
            let name = format!("{first}{second}村");
            if !taken(&name) {
                return name;
            }
        }
    }
    format!("新建{}村", used.len() + 1)
}

impl Village {
    /// Appends `size` households, group by group, each with the next id.
    fn add(
        &mut self,
        rng: &mut StdRng,
        size: usize,
        clock: &mut u64,
        rows: &mut Vec<HouseholdRow>,
    ) {
        let groups = self.house_numbers.len();
        let mut per_group = vec![0usize; groups];
        for _ in 0..size {
            per_group[rng.random_range(0..groups)] += 1;
        }
        for (g, &n) in per_group.iter().enumerate() {
            for _ in 0..n {
                self.house_numbers[g] += rng.random_range(1..=2);
                let row = self.household(rng, g as u32 + 1, self.house_numbers[g], clock);
                rows.push(row);
            }
        }
    }

    fn household(
        &self,
        rng: &mut StdRng,
        group: u32,
        number: u32,
        clock: &mut u64,
    ) -> HouseholdRow {
        *clock += rng.random_range(1..=50);
        let mut random_bytes = [0u8; 10];
        rng.fill(&mut random_bytes);
        let id = uuid::Builder::from_unix_timestamp_millis(*clock, &random_bytes).into_uuid();

        let female = rng.random_bool(0.15);
        let head_name = self.head_name(rng, female);
        // 17th digit: odd for men, even for women; then the check character.
        let sex_digit = 2 * rng.random_range(0..5u32) + u32::from(!female);
        let check = rng.random_range(0..11u32);
        let id_card_suffix = format!(
            "{:02}{}{}",
            rng.random_range(0..100u32),
            sex_digit,
            if check == 10 {
                "X".to_string()
            } else {
                check.to_string()
            }
        );

        let members = pick_weighted(rng, &MEMBER_WEIGHTS).map_or(4, |i| i as u32 + 1);
        let phone = format!(
            "{}{:08}",
            pick(rng, PHONE_PREFIXES),
            rng.random_range(0..100_000_000u32)
        );

        let (x, y) = unit_disk(rng);
        let lat = round6(self.centre.0 + x * HOUSEHOLD_RADIUS_KM / KM_PER_DEGREE_LAT);
        let lon = round6(self.centre.1 + y * HOUSEHOLD_RADIUS_KM / KM_PER_DEGREE_LON);

        let draw: f64 = rng.random_range(0.0..1.0);
        let category = if draw < SHARE_UNSTABLE {
            UNSTABLE
        } else if draw < SHARE_UNSTABLE + SHARE_EDGE {
            EDGE
        } else if draw < SHARE_UNSTABLE + SHARE_EDGE + SHARE_SUDDEN {
            SUDDEN_HARDSHIP
        } else if draw < SHARE_UNSTABLE + SHARE_EDGE + SHARE_SUDDEN + self.relieved_share {
            RELIEVED
        } else {
            GENERAL
        };

        HouseholdRow {
            id,
            head_name,
            id_card_suffix,
            county_code: self.county_code.to_string(),
            county: self.county.to_string(),
            township_code: self.township_code.clone(),
            township: self.township.to_string(),
            village_code: self.code.clone(),
            village: self.name.clone(),
            group: format!("{group}组"),
            members,
            phone,
            address: format!(
                "{}{}{}{group}组{number}号",
                self.county, self.township, self.name
            ),
            lat,
            lon,
            category: category.to_string(),
        }
    }

    fn head_name(&self, rng: &mut StdRng, female: bool) -> String {
        let surname = match pick_weighted(rng, &self.ethnic_weights) {
            Some(1) => pick(rng, YI_SURNAMES),
            Some(2) => pick(rng, MIAO_SURNAMES),
            Some(3) => pick(rng, HUI_SURNAMES),
            _ if rng.random_bool(0.7) => pick(rng, HAN_COMMON),
            _ => pick(rng, HAN_OTHER),
        };
        let given = if female { FEMALE_GIVEN } else { MALE_GIVEN };
        let mut name = String::from(surname);
        name.push_str(pick(rng, given));
        if rng.random_bool(0.8) {
            name.push_str(pick(rng, given));
        }
        name
    }
}

/// `count` households, the same for the same `seed` (byte for byte in CSV).
/// Villages hold 60–150 households each (the last village may be smaller
/// when count runs out); villages belong to townships (a few villages each)
/// which belong to counties.
/// Ids are UUIDv7 built deterministically from the seeded rng
/// (`uuid::Builder::from_unix_timestamp_millis` with a timestamp that starts
/// on 2 January 2024 and increases per household, and seeded random bytes),
/// so ids sort in generation order.
/// Realistic proportions: most households "relieved" or "general", a few
/// percent in each of the three monitored categories.
///
/// Only beyond roughly nine million households, when every township's
/// village codes are used up, do the remaining households join the last
/// village.
pub fn generate(count: usize, seed: u64) -> Vec<HouseholdRow> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut towns = township_states();
    let mut rows = Vec::with_capacity(count);
    let mut clock = START_MILLIS;
    let mut last: Option<Village> = None;
    'fill: while rows.len() < count {
        let Some(town) = pick_township(&mut rng, &towns) else {
            break;
        };
        towns[town].visits += 1;
        for _ in 0..rng.random_range(VILLAGES_PER_VISIT) {
            if rows.len() >= count {
                break 'fill;
            }
            let Some(mut village) = new_village(&mut rng, &mut towns[town]) else {
                break;
            };
            let size = rng.random_range(VILLAGE_SIZE).min(count - rows.len());
            village.add(&mut rng, size, &mut clock, &mut rows);
            last = Some(village);
        }
    }
    if let Some(village) = last.as_mut() {
        let rest = count - rows.len();
        village.add(&mut rng, rest, &mut clock, &mut rows);
    }
    rows
}

// ---------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------

/// Writes the rows as CSV with a header row, columns in the struct's order.
pub fn write_csv<W: Write>(rows: &[HouseholdRow], out: W) -> Result<(), csv::Error> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(out);
    writer.write_record(COLUMNS)?;
    for row in rows {
        writer.serialize(row)?;
    }
    writer.flush()?;
    Ok(())
}

/// A problem found by [`read_csv`]: the 1-based line where it is and what it
/// is. Never holds the content of a cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// 1-based line of the input (the header is line 1).
    pub line: u64,
    /// What is wrong, naming the column.
    pub message: String,
}

impl ReadError {
    fn new(line: u64, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }

    fn column(line: u64, column: &str, problem: impl fmt::Display) -> Self {
        Self::new(line, format!("column `{column}`: {problem}"))
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ReadError {}

/// Turns a CSV-level error into a [`ReadError`] without echoing any data.
fn csv_error(err: &csv::Error, fallback_line: u64) -> ReadError {
    let line = err.position().map_or(fallback_line, csv::Position::line);
    let message = match err.kind() {
        csv::ErrorKind::Utf8 { .. } => {
            "not UTF-8 text; save the file as “CSV UTF-8” and try again".to_string()
        }
        csv::ErrorKind::Io(io) => format!("could not read the input: {io}"),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} columns, found {len}"),
        _ => "malformed CSV".to_string(),
    };
    ReadError::new(line, message)
}

/// Reads rows written by [`write_csv`] (or by an operator in a spreadsheet,
/// same header; the columns may come in any order). Fields are trimmed, a
/// UTF-8 byte-order mark is ignored, and rows whose fields are all empty are
/// skipped. The first problem is returned with its line number and column,
/// e.g. "line 7: column `members`: invalid digit found in string". Rejects an
/// empty name, a code of the wrong length, a `village_code` that does not
/// start with its `township_code`, a `township_code` that does not start with
/// its `county_code`, an unknown category, a malformed id, ID-card suffix,
/// phone (empty is allowed) or coordinate, a household without members, and
/// an id used twice. Never panics.
pub fn read_csv<R: Read>(input: R) -> Result<Vec<HouseholdRow>, ReadError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let mut record = csv::StringRecord::new();

    let header_line = loop {
        match reader.read_record(&mut record) {
            Ok(false) => {
                return Err(ReadError::new(1, "empty input: expected a header row"));
            }
            Ok(true) if record.iter().all(str::is_empty) => continue,
            Ok(true) => break line_of(&record, reader.position().line()),
            Err(err) => return Err(csv_error(&err, reader.position().line())),
        }
    };
    let index = column_index(&record, header_line)?;
    let width = record.len();

    let mut rows = Vec::new();
    let mut seen: HashMap<Uuid, u64> = HashMap::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                if record.iter().all(str::is_empty) {
                    continue;
                }
                let line = line_of(&record, reader.position().line());
                if record.len() != width {
                    return Err(ReadError::new(
                        line,
                        format!("expected {width} columns, found {}", record.len()),
                    ));
                }
                let row = parse_row(&record, &index, line)?;
                if let Some(first) = seen.insert(row.id, line) {
                    return Err(ReadError::column(
                        line,
                        "id",
                        format_args!("the same id as line {first}"),
                    ));
                }
                rows.push(row);
            }
            Err(err) => return Err(csv_error(&err, reader.position().line())),
        }
    }
    Ok(rows)
}

fn line_of(record: &csv::StringRecord, fallback: u64) -> u64 {
    record.position().map_or(fallback, csv::Position::line)
}

/// For each of [`COLUMNS`], its position in the header.
fn column_index(header: &csv::StringRecord, line: u64) -> Result<[usize; 16], ReadError> {
    let mut index = [usize::MAX; 16];
    for (position, name) in header.iter().enumerate() {
        let name = name.trim_start_matches('\u{feff}').trim();
        let Some(column) = COLUMNS.iter().position(|c| *c == name) else {
            return Err(ReadError::new(
                line,
                // The cell itself is not shown: a file without a header
                // would put a household's name or phone here.
                format!(
                    "header cell {} is not a known column (is the header row missing?); \
                     expected the columns {}",
                    position + 1,
                    COLUMNS.join(", ")
                ),
            ));
        };
        if index[column] != usize::MAX {
            return Err(ReadError::new(
                line,
                format!("column `{name}` appears twice"),
            ));
        }
        index[column] = position;
    }
    if let Some(missing) = COLUMNS
        .iter()
        .zip(index)
        .find_map(|(name, at)| (at == usize::MAX).then_some(name))
    {
        return Err(ReadError::new(line, format!("missing column `{missing}`")));
    }
    Ok(index)
}

fn parse_row(
    record: &csv::StringRecord,
    index: &[usize; 16],
    line: u64,
) -> Result<HouseholdRow, ReadError> {
    let field = |column: usize| record.get(index[column]).unwrap_or("");
    let non_empty = |column: usize| {
        let value = field(column);
        if value.is_empty() {
            Err(ReadError::column(
                line,
                COLUMNS[column],
                "must not be empty",
            ))
        } else {
            Ok(value.to_string())
        }
    };
    let digits = |column: usize, len: usize| {
        let value = field(column);
        if value.len() == len && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(value.to_string())
        } else {
            Err(ReadError::column(
                line,
                COLUMNS[column],
                format_args!("expected {len} digits"),
            ))
        }
    };
    let coordinate = |column: usize, limit: f64| {
        let value: f64 = field(column)
            .parse()
            .map_err(|err| ReadError::column(line, COLUMNS[column], err))?;
        if value.is_finite() && value.abs() <= limit {
            Ok(value)
        } else {
            Err(ReadError::column(
                line,
                COLUMNS[column],
                format_args!("must be between -{limit} and {limit}"),
            ))
        }
    };

    let id =
        Uuid::parse_str(field(0)).map_err(|_| ReadError::column(line, "id", "not a valid UUID"))?;
    let head_name = non_empty(1)?;
    let id_card_suffix = field(2).to_ascii_uppercase();
    let suffix = id_card_suffix.as_bytes();
    if !(suffix.len() == 4
        && suffix[..3].iter().all(u8::is_ascii_digit)
        && (suffix[3].is_ascii_digit() || suffix[3] == b'X'))
    {
        return Err(ReadError::column(
            line,
            "id_card_suffix",
            "expected 3 digits then a digit or X (a spreadsheet may have dropped a leading zero)",
        ));
    }
    let county_code = digits(3, 6)?;
    let county = non_empty(4)?;
    let township_code = digits(5, 9)?;
    if !township_code.starts_with(&county_code) {
        return Err(ReadError::column(
            line,
            "township_code",
            "does not start with the row's `county_code`",
        ));
    }
    let township = non_empty(6)?;
    let village_code = digits(7, 12)?;
    if !village_code.starts_with(&township_code) {
        return Err(ReadError::column(
            line,
            "village_code",
            "does not start with the row's `township_code`",
        ));
    }
    let village = non_empty(8)?;
    let group = field(9).to_string();
    let members: u32 = field(10)
        .parse()
        .map_err(|err| ReadError::column(line, "members", err))?;
    if members == 0 {
        return Err(ReadError::column(line, "members", "must be at least 1"));
    }
    let phone = field(11).to_string();
    if !(phone.is_empty()
        || (phone.len() == 11
            && phone.starts_with('1')
            && phone.bytes().all(|b| b.is_ascii_digit())))
    {
        return Err(ReadError::column(
            line,
            "phone",
            "expected an 11-digit mobile number starting with 1, or nothing \
             (a spreadsheet may have turned it into a number like 1.38E+10)",
        ));
    }
    let address = field(12).to_string();
    let lat = coordinate(13, 90.0)?;
    let lon = coordinate(14, 180.0)?;
    let category = field(15);
    if !CATEGORIES.contains(&category) {
        return Err(ReadError::column(
            line,
            "category",
            format_args!(
                "unknown category; expected one of {}",
                CATEGORIES.join(", ")
            ),
        ));
    }

    Ok(HouseholdRow {
        id,
        head_name,
        id_card_suffix,
        county_code,
        county,
        township_code,
        township,
        village_code,
        village,
        group,
        members,
        phone,
        address,
        lat,
        lon,
        category: category.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::collections::{BTreeMap, BTreeSet, HashSet};

    fn csv_bytes(rows: &[HouseholdRow]) -> Vec<u8> {
        let mut out = Vec::new();
        write_csv(rows, &mut out).unwrap();
        out
    }

    fn csv_text(rows: &[HouseholdRow]) -> String {
        String::from_utf8(csv_bytes(rows)).unwrap()
    }

    /// The CSV with line `line` (1-based) changed by `edit`.
    fn edit_line(text: &str, line: usize, edit: impl Fn(&str) -> String) -> String {
        text.lines()
            .enumerate()
            .map(|(i, l)| {
                if i + 1 == line {
                    edit(l)
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Replaces field `column` of a CSV line without quotes or commas in it.
    fn set_field(line: &str, column: usize, value: &str) -> String {
        let mut fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), COLUMNS.len(), "test line has quoted commas");
        fields[column] = value;
        fields.join(",")
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let a = csv_bytes(&generate(500, 42));
        let b = csv_bytes(&generate(500, 42));
        let c = csv_bytes(&generate(500, 43));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn count_is_exact() {
        for count in [0, 1, 59, 150, 1000] {
            assert_eq!(generate(count, 7).len(), count, "count {count}");
        }
        assert_eq!(csv_text(&generate(0, 7)).lines().count(), 1, "header only");
    }

    #[test]
    fn header_matches_struct_order() {
        let rows = generate(1, 1);
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.serialize(&rows[0]).unwrap();
        let serde_text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
        let text = csv_text(&rows);
        assert_eq!(serde_text.lines().next(), text.lines().next());
        assert_eq!(text.lines().next().unwrap(), COLUMNS.join(","));
    }

    #[test]
    fn villages_hold_60_to_150_households_except_maybe_the_last() {
        for seed in 0..5 {
            let rows = generate(3000, seed);
            let mut runs: Vec<(String, usize)> = Vec::new();
            for row in &rows {
                match runs.last_mut() {
                    Some((code, n)) if *code == row.village_code => *n += 1,
                    _ => runs.push((row.village_code.clone(), 1)),
                }
            }
            let distinct: HashSet<&String> = runs.iter().map(|(code, _)| code).collect();
            assert_eq!(
                distinct.len(),
                runs.len(),
                "a village's rows are contiguous"
            );
            let (_, last) = runs.pop().unwrap();
            assert!((1..=150).contains(&last));
            for (code, n) in runs {
                assert!((60..=150).contains(&n), "village {code} has {n}");
            }
        }
    }

    #[test]
    fn codes_and_names_nest() {
        let rows = generate(5000, 3);
        let mut village_names: BTreeMap<&str, &str> = BTreeMap::new();
        let mut township_names: BTreeMap<&str, &str> = BTreeMap::new();
        for row in &rows {
            let county = COUNTIES.iter().find(|c| c.code == row.county_code).unwrap();
            assert_eq!(county.name, row.county);
            assert_eq!(row.township_code.len(), 9);
            assert_eq!(row.village_code.len(), 12);
            assert!(row.township_code.starts_with(&row.county_code));
            assert!(row.village_code.starts_with(&row.township_code));
            assert!(county.townships.iter().any(|t| t.name == row.township));
            assert_eq!(
                *township_names
                    .entry(&row.township_code)
                    .or_insert(&row.township),
                row.township
            );
            assert_eq!(
                *village_names
                    .entry(&row.village_code)
                    .or_insert(&row.village),
                row.village
            );
            assert!(row.address.starts_with(&format!(
                "{}{}{}{}",
                row.county, row.township, row.village, row.group
            )));
            assert!(row.address.ends_with('号'));
        }
    }

    #[test]
    fn fields_are_well_formed() {
        let rows = generate(3000, 11);
        let mut by_category: BTreeMap<&str, usize> = BTreeMap::new();
        for row in &rows {
            assert!(
                CATEGORIES.contains(&row.category.as_str()),
                "{}",
                row.category
            );
            *by_category.entry(&row.category).or_default() += 1;
            assert!((1..=8).contains(&row.members));
            let name_len = row.head_name.chars().count();
            assert!((2..=3).contains(&name_len), "name length {name_len}");
            let suffix = row.id_card_suffix.as_bytes();
            assert_eq!(suffix.len(), 4);
            assert!(suffix[..3].iter().all(u8::is_ascii_digit));
            assert!(suffix[3].is_ascii_digit() || suffix[3] == b'X');
            assert_eq!(row.phone.len(), 11);
            assert!(row.phone.starts_with('1'));
            assert!(row.phone.bytes().all(|b| b.is_ascii_digit()));
            assert!(row.group.ends_with('组'));
        }
        let share = |c: &str| by_category.get(c).copied().unwrap_or(0) as f64 / rows.len() as f64;
        assert!(share(GENERAL) + share(RELIEVED) > 0.85);
        assert!(share(GENERAL) > 0.2 && share(RELIEVED) > 0.2);
        for monitored in [UNSTABLE, EDGE, SUDDEN_HARDSHIP] {
            assert!((0.002..0.06).contains(&share(monitored)), "{monitored}");
        }
        let sizes_3_to_5 = rows.iter().filter(|r| (3..=5).contains(&r.members)).count();
        assert!(
            sizes_3_to_5 * 2 > rows.len(),
            "most households have 3–5 members"
        );
    }

    #[test]
    fn ids_are_v7_unique_and_sorted_in_generation_order() {
        let rows = generate(2000, 5);
        for pair in rows.windows(2) {
            assert!(pair[0].id < pair[1].id);
        }
        for row in &rows {
            assert_eq!(row.id.get_version_num(), 7);
            let (secs, _) = row.id.get_timestamp().unwrap().to_unix();
            // Within 2024.
            assert!((1_704_067_200..1_735_689_600).contains(&secs));
        }
    }

    #[test]
    fn coordinates_in_zhaotong_and_villages_compact() {
        let rows = generate(4000, 9);
        let mut by_village: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
        for row in &rows {
            assert!((26.5..=28.6).contains(&row.lat), "lat {}", row.lat);
            assert!((102.9..=105.3).contains(&row.lon), "lon {}", row.lon);
            assert_eq!(round6(row.lat), row.lat);
            assert_eq!(round6(row.lon), row.lon);
            by_village
                .entry(&row.village_code)
                .or_default()
                .push((row.lat, row.lon));
        }
        for (code, points) in by_village {
            let n = points.len() as f64;
            let centre = (
                points.iter().map(|p| p.0).sum::<f64>() / n,
                points.iter().map(|p| p.1).sum::<f64>() / n,
            );
            for (lat, lon) in points {
                let km = (((lat - centre.0) * KM_PER_DEGREE_LAT).powi(2)
                    + ((lon - centre.1) * KM_PER_DEGREE_LON).powi(2))
                .sqrt();
                assert!(km < 4.0, "village {code}: {km} km between two households");
            }
        }
    }

    #[test]
    fn thousands_of_households_span_several_counties() {
        for seed in 0..5 {
            let rows = generate(3000, seed);
            let counties: BTreeSet<&str> = rows.iter().map(|r| r.county_code.as_str()).collect();
            assert!(counties.len() >= 3, "seed {seed}: {counties:?}");
            let townships: BTreeSet<&str> = rows.iter().map(|r| r.township_code.as_str()).collect();
            assert!(townships.len() >= 4, "seed {seed}");
        }
    }

    #[test]
    fn write_then_read_round_trips() {
        let rows = generate(1200, 21);
        assert_eq!(read_csv(csv_bytes(&rows).as_slice()).unwrap(), rows);
        assert_eq!(read_csv(csv_bytes(&[]).as_slice()).unwrap(), Vec::new());
    }

    #[test]
    fn read_trims_and_accepts_spreadsheet_quirks() {
        let rows = generate(3, 8);
        let text = csv_text(&rows);
        // BOM, spaces around fields, CRLF, blank and all-empty lines, lower-case x.
        let mut messy = String::from("\u{feff}");
        for (i, line) in text.lines().enumerate() {
            let spaced: Vec<String> = line.split(',').map(|f| format!("  {f} ")).collect();
            messy.push_str(&spaced.join(","));
            messy.push_str("\r\n");
            if i == 1 {
                messy.push_str("\r\n,,,,,,,,,,,,,,,\r\n");
            }
        }
        assert_eq!(read_csv(messy.as_bytes()).unwrap(), rows);

        let mut with_x = rows[0].clone();
        with_x.id_card_suffix = "123x".to_string();
        let read = read_csv(csv_bytes(&[with_x]).as_slice()).unwrap();
        assert_eq!(read[0].id_card_suffix, "123X");
    }

    #[test]
    fn read_accepts_columns_in_any_order() {
        let rows = generate(4, 2);
        let mut writer = csv::Writer::from_writer(Vec::new());
        let mut reversed = COLUMNS;
        reversed.reverse();
        writer.write_record(reversed).unwrap();
        for row in &rows {
            let text = csv_text(std::slice::from_ref(row));
            let record = text.lines().nth(1).unwrap();
            let mut fields: Vec<&str> = record.split(',').collect();
            fields.reverse();
            writer.write_record(fields).unwrap();
        }
        let bytes = writer.into_inner().unwrap();
        assert_eq!(read_csv(bytes.as_slice()).unwrap(), rows);
    }

    #[test]
    fn bad_members_names_its_line() {
        let rows = generate(10, 4);
        let text = csv_text(&rows);
        let bad = edit_line(&text, 7, |l| set_field(l, 10, "4x"));
        let err = read_csv(bad.as_bytes()).unwrap_err();
        assert_eq!(err.line, 7);
        assert_eq!(
            err.to_string(),
            "line 7: column `members`: invalid digit found in string"
        );

        let zero = edit_line(&text, 3, |l| set_field(l, 10, "0"));
        let err = read_csv(zero.as_bytes()).unwrap_err();
        assert_eq!(
            (err.line, err.message.as_str()),
            (3, "column `members`: must be at least 1")
        );
    }

    #[test]
    fn bad_category_names_its_line_and_not_the_value() {
        let rows = generate(10, 4);
        let text = csv_text(&rows);
        let bad = edit_line(&text, 5, |l| set_field(l, 15, "poor"));
        let err = read_csv(bad.as_bytes()).unwrap_err();
        assert_eq!(err.line, 5);
        let shown = err.to_string();
        assert!(
            shown.starts_with("line 5: column `category`: unknown category"),
            "{shown}"
        );
        assert!(!shown.contains("poor"));
    }

    #[test]
    fn nesting_and_empty_name_are_rejected_without_personal_data() {
        let rows = generate(5, 6);
        let text = csv_text(&rows);
        let row = &rows[1];

        let cases = [
            (1, "", "column `head_name`: must not be empty"),
            (
                7,
                "530999001001",
                "column `village_code`: does not start with the row's `township_code`",
            ),
            (
                5,
                "530999001",
                "column `township_code`: does not start with the row's `county_code`",
            ),
            (3, "5306", "column `county_code`: expected 6 digits"),
            (0, "not-a-uuid", "column `id`: not a valid UUID"),
            (
                11,
                "1.38E+10",
                "column `phone`: expected an 11-digit mobile",
            ),
            (2, "123", "column `id_card_suffix`: expected 3 digits"),
            (13, "91", "column `lat`: must be between -90 and 90"),
            (14, "east", "column `lon`: invalid float literal"),
        ];
        for (column, value, expected) in cases {
            let bad = edit_line(&text, 3, |l| set_field(l, column, value));
            let err = read_csv(bad.as_bytes()).unwrap_err();
            assert_eq!(err.line, 3, "{expected}");
            assert!(
                err.message.starts_with(expected),
                "{} vs {expected}",
                err.message
            );
            let shown = err.to_string();
            for private in [&row.head_name, &row.phone, &row.id_card_suffix] {
                assert!(!shown.contains(private.as_str()), "{shown}");
            }
        }
    }

    #[test]
    fn header_and_shape_problems_are_reported() {
        let text = csv_text(&generate(3, 1));
        let err = read_csv("".as_bytes()).unwrap_err();
        assert_eq!(err.line, 1);

        let missing = edit_line(&text, 1, |l| l.replace(",phone,", ",mobile,"));
        let err = read_csv(missing.as_bytes()).unwrap_err();
        assert_eq!(err.line, 1);
        assert!(
            err.message
                .starts_with("header cell 12 is not a known column"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("mobile"));

        let no_header = text.lines().skip(1).collect::<Vec<_>>().join("\n");
        let err = read_csv(no_header.as_bytes()).unwrap_err();
        assert_eq!(err.line, 1);
        assert!(
            err.message
                .starts_with("header cell 1 is not a known column"),
            "{}",
            err.message
        );

        let twice = edit_line(&text, 1, |l| l.replace(",phone,", ",lat,"));
        let err = read_csv(twice.as_bytes()).unwrap_err();
        assert_eq!(err.message, "column `lat` appears twice");

        let short = edit_line(&text, 4, |l| l.rsplit_once(',').unwrap().0.to_string());
        let err = read_csv(short.as_bytes()).unwrap_err();
        assert_eq!(
            (err.line, err.message.as_str()),
            (4, "expected 16 columns, found 15")
        );

        let duplicate = format!("{text}{}\n", text.lines().nth(1).unwrap());
        let err = read_csv(duplicate.as_bytes()).unwrap_err();
        assert_eq!(
            (err.line, err.message.as_str()),
            (5, "column `id`: the same id as line 2")
        );

        let mut gbk = text.clone().into_bytes();
        gbk.extend_from_slice(b"\xd5\xc5\xc8\xfd,x\n");
        let err = read_csv(gbk.as_slice()).unwrap_err();
        assert_eq!(err.line, 5);
        assert!(err.message.contains("UTF-8"));
    }

    #[test]
    fn read_never_panics_on_garbage() {
        let mut rng = StdRng::seed_from_u64(99);
        let valid = csv_bytes(&generate(3, 1));
        for _ in 0..2000 {
            let mut bytes = valid.clone();
            for _ in 0..rng.random_range(1..8) {
                let at = rng.random_range(0..bytes.len());
                match rng.random_range(0..3) {
                    0 => bytes[at] = rng.random(),
                    1 => {
                        bytes.remove(at);
                    }
                    _ => {
                        let special = b",\"\n\r x0";
                        bytes.insert(at, special[rng.random_range(0..special.len())]);
                    }
                }
            }
            let _ = read_csv(bytes.as_slice());
        }
        for len in 0..64 {
            let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            let _ = read_csv(bytes.as_slice());
        }
    }
}
