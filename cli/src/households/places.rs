//! Places: Zhaotong's counties with their real codes and some of their
//! townships, the bounds generated coordinates stay within, and the ranges of
//! village codes. These are fixed tables that the generator draws from; they
//! live apart from it so that a change of geography does not read as a change
//! of how households are drawn, and so that the tests can check generated
//! rows against the same tables.

pub(super) struct CountySpec {
    pub(super) code: &'static str,
    pub(super) name: &'static str,
    /// Roughly the middle of the county's populated area.
    pub(super) lat: f64,
    pub(super) lon: f64,
    /// How far (degrees) township centres may lie from (lat, lon).
    pub(super) spread: f64,
    /// Relative share of rural households.
    pub(super) weight: u32,
    pub(super) townships: &'static [TownshipSpec],
}

pub(super) struct TownshipSpec {
    pub(super) name: &'static str,
    /// Villages known by name, used first (a `社区` name makes a community).
    pub(super) villages: &'static [&'static str],
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
pub(super) const COUNTIES: [CountySpec; 11] = [
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
pub(super) const LAT_RANGE: (f64, f64) = (26.5, 28.6);
pub(super) const LON_RANGE: (f64, f64) = (102.9, 105.3);
/// Village centres keep this far (degrees) from the box's edges, so that
/// households around them stay inside.
pub(super) const EDGE_MARGIN: f64 = 0.03;
/// How far (degrees) village centres lie from their township's centre.
pub(super) const VILLAGE_SPREAD: f64 = 0.05;
/// Households lie within this many km of their village's centre.
pub(super) const HOUSEHOLD_RADIUS_KM: f64 = 1.5;
pub(super) const KM_PER_DEGREE_LAT: f64 = 111.0;
/// cos(27.5°) × 111.3 km, good enough across Zhaotong (no trigonometry, so
/// the coordinates are the same on every platform).
pub(super) const KM_PER_DEGREE_LON: f64 = 98.7;

/// Community (社区) codes 001–199, village (村) codes 201–999.
pub(super) const FIRST_COMMUNITY: u16 = 1;
pub(super) const LAST_COMMUNITY: u16 = 199;
pub(super) const FIRST_VILLAGE: u16 = 201;
pub(super) const LAST_VILLAGE: u16 = 999;
