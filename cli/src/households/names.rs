//! Names and numbers: the surnames (Han, Yi, Miao and Hui), given-name
//! characters, village and community name halves and mobile prefixes that
//! generated households are made of. Plain tables, kept apart from the
//! generator so that its logic is not buried under them.

/// Common surnames in Zhaotong, the most frequent first.
pub(super) const HAN_COMMON: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "周", "吴", "徐", "喻", "兰", "许", "龙", "马", "罗",
];
pub(super) const HAN_OTHER: &[&str] = &[
    "黄", "朱", "胡", "何", "高", "郭", "孙", "邓", "曾", "彭", "付", "蒋", "余", "潘", "熊", "肖",
    "陶", "苏", "范", "唐", "袁", "申", "钟", "邹", "谢", "韩", "毛", "汪", "孔", "夏",
];
pub(super) const YI_SURNAMES: &[&str] = &[
    "禄", "陇", "安", "苏", "吉", "沙", "李", "罗", "杨", "龙", "普", "海",
];
pub(super) const MIAO_SURNAMES: &[&str] = &[
    "王", "杨", "张", "陶", "朱", "熊", "吴", "韩", "马", "龙", "古", "项",
];
pub(super) const HUI_SURNAMES: &[&str] = &[
    "马", "丁", "沙", "纳", "保", "何", "李", "王", "杨", "白", "锁", "海",
];
pub(super) const MALE_GIVEN: &[&str] = &[
    "国", "明", "华", "文", "学", "兴", "忠", "富", "贵", "才", "德", "成", "林", "永", "安", "平",
    "光", "荣", "军", "强", "福", "发", "顺", "云", "正", "天", "友", "海", "金", "开", "志", "清",
    "仁", "武", "昌", "祥", "庆", "良", "洪", "中", "红", "勇", "刚", "伟", "财", "万", "朝", "登",
    "应", "绍",
];
pub(super) const FEMALE_GIVEN: &[&str] = &[
    "秀", "芬", "英", "兰", "珍", "梅", "琼", "芳", "翠", "凤", "菊", "美", "桂", "春", "花", "莲",
    "艳", "丽", "琴", "会", "仙", "玉", "燕", "群", "香", "素", "银", "慧",
];

/// First and second halves of village names (大 + 坪 → 大坪村).
pub(super) const VILLAGE_FIRST: &[&str] = &[
    "大", "小", "新", "老", "上", "下", "高", "红", "青", "白", "黑", "石", "松", "龙", "马", "凤",
    "金", "水", "沙", "花", "杉", "柏", "竹", "茶", "麻", "羊", "牛", "鹿", "梨", "桃", "双", "三",
    "中", "河", "岔", "平", "长", "团", "响", "碓",
];
pub(super) const VILLAGE_SECOND: &[&str] = &[
    "坪", "坝", "湾", "沟", "岩", "箐", "河", "田", "山", "林", "井", "塘", "桥", "寨", "营", "街",
    "口", "梁", "包", "堡",
];
pub(super) const COMMUNITY_NAMES: &[&str] = &[
    "南苑", "东风", "新城", "迎宾", "滨江", "凤凰", "龙泉", "团结", "光明", "西街", "北门", "和平",
    "兴隆", "幸福", "振兴", "民族", "建设", "青年", "锦绣", "安居", "康乐", "文化", "同心", "顺河",
];

/// Mobile prefixes of the three carriers.
pub(super) const PHONE_PREFIXES: &[&str] = &[
    "134", "135", "136", "137", "138", "139", "147", "150", "151", "152", "157", "158", "159",
    "178", "182", "183", "184", "187", "188", "198", "130", "131", "132", "155", "156", "166",
    "175", "176", "185", "186", "133", "153", "173", "177", "180", "181", "189", "191", "199",
];
