"""Writes the XLSForm fixtures of forms/tests/xlsforms/: realistic forms of the
kinds ODK and KoboToolbox users write, two broken ones, and two that lean on
what pyxform tolerates (with the CSV files published beside one).

Each form is one function below, readable as the spreadsheet it writes. The
integration test forms/tests/xlsforms.rs imports every file, evaluates answers
against it, and (for the broken ones) asserts the problems found. After
changing a form here, run the script and then the test:

    pip install openpyxl pyxform
    python3 tools/xlsforms/make_fixtures.py
    cargo test -p doorstep-forms --features xlsform --test xlsforms
"""

import pathlib

from openpyxl import Workbook
from openpyxl.styles import Font

OUT = pathlib.Path(__file__).resolve().parents[2] / "forms" / "tests" / "xlsforms"

# Header as the spreadsheet spells it ← key used in the rows below. A column
# is written only when some row uses it.
SURVEY_COLUMNS = [
    ("type", "type"),
    ("name", "name"),
    ("label", "label"),
    ("label::zh-CN", "zh"),
    ("label::English (en)", "en"),
    ("hint", "hint"),
    ("hint::zh-CN", "hint_zh"),
    ("hint::English (en)", "hint_en"),
    ("required", "required"),
    ("required_message", "required_message"),
    ("required_message::zh-CN", "required_message_zh"),
    ("required_message::English (en)", "required_message_en"),
    ("relevant", "relevant"),
    ("constraint", "constraint"),
    ("constraint_message", "constraint_message"),
    ("constraint_message::zh-CN", "constraint_message_zh"),
    ("constraint_message::English (en)", "constraint_message_en"),
    ("calculation", "calculation"),
    ("default", "default"),
    ("appearance", "appearance"),
    ("repeat_count", "repeat_count"),
]

CHOICE_COLUMNS = [
    ("list_name", "list"),
    ("name", "name"),
    ("label", "label"),
    ("label::zh-CN", "zh"),
    ("label::English (en)", "en"),
    ("county", "county"),
]


def q(type_, name="", label="", **columns):
    """One survey row."""
    return {"type": type_, "name": name, "label": label, **columns}


def choice(list_name, name, label="", **columns):
    """One choices row."""
    return {"list": list_name, "name": name, "label": label, **columns}


def choices(list_name, *pairs):
    """A choice list from (name, label) pairs."""
    return [choice(list_name, name, label) for name, label in pairs]


def yes_no():
    return choices("yes_no", ("yes", "是"), ("no", "否"))


def write(file_name, settings, survey, choice_rows=()):
    """Writes one workbook: settings, survey and choices sheets."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "survey"
    table(sheet, SURVEY_COLUMNS, survey)
    table(workbook.create_sheet("choices"), CHOICE_COLUMNS, list(choice_rows))
    settings_sheet = workbook.create_sheet("settings")
    settings_sheet.append(list(settings.keys()))
    settings_sheet.append(list(settings.values()))
    for cell in settings_sheet[1]:
        cell.font = Font(bold=True)
    workbook.save(OUT / file_name)


def table(sheet, columns, rows):
    used = [(header, key) for header, key in columns if any(row.get(key) for row in rows)]
    sheet.append([header for header, _ in used])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([row.get(key, "") for _, key in used])
    sheet.freeze_panes = "A2"


def household_roster():
    """A household roster: one repeat of members with age constraints."""
    write(
        "household_roster.xlsx",
        {"form_id": "household_roster", "version": 2024122801,
         "form_title": "家庭成员花名册", "default_language": "zh-CN"},
        [
            q("text", "village", "村（社区）", required="yes"),
            q("text", "head_name", "户主姓名", required="yes"),
            q("integer", "members_count", "家庭人口数（人）", required="yes",
              constraint=". >= 1 and . <= 20", constraint_message="家庭人口应在1到20人之间"),
            q("begin_repeat", "members", "家庭成员"),
            q("text", "member_name", "姓名", required="yes"),
            q("select_one relation", "relation", "与户主关系", required="yes"),
            q("select_one sex", "sex", "性别", required="yes"),
            q("integer", "age", "年龄（周岁）", required="yes", hint="按身份证上的出生日期计算",
              constraint=". >= 0 and . <= 110", constraint_message="年龄应在0到110岁之间"),
            q("select_one yes_no", "in_school", "是否在校", required="yes",
              relevant="${age} >= 6 and ${age} <= 18"),
            q("select_one yes_no", "can_work", "是否有劳动能力", relevant="${age} >= 16"),
            q("end_repeat"),
            q("calculate", "roster_count", calculation="count(${members})"),
            q("note", "roster_mismatch", "登记的成员人数与家庭人口数不一致，请核实",
              relevant="${roster_count} != ${members_count}"),
        ],
        choices("relation", ("head", "户主"), ("spouse", "配偶"), ("child", "子女"),
                ("parent", "父母"), ("grandchild", "孙子女"), ("other", "其他"))
        + choices("sex", ("male", "男"), ("female", "女"))
        + yes_no(),
    )


def migrant_followup():
    """Members working away: a repeat, dates, select_multiple, relevance."""
    away = "${works_away} = 'yes'"
    write(
        "migrant_followup.xlsx",
        {"form_id": "migrant_followup", "version": "2024010501",
         "form_title": "外出务工人员跟踪", "default_language": "zh-CN"},
        [
            q("date", "visit_date", "走访日期", required="yes", constraint=". <= today()",
              constraint_message="走访日期不能晚于今天"),
            q("begin repeat", "workers", "家庭劳动力"),
            q("text", "worker_name", "姓名", required="yes"),
            q("select_one yes_no", "works_away", "是否外出务工", required="yes"),
            q("select_one destination", "destination", "务工地点", required="yes", relevant=away),
            q("date", "left_date", "外出日期", relevant=away, constraint=". <= ${visit_date}",
              constraint_message="外出日期不能晚于走访日期"),
            q("select_one yes_no", "return_for_festival", "春节前是否返乡", required="yes", relevant=away),
            q("date", "return_date", "预计返乡日期", required="yes",
              relevant="${return_for_festival} = 'yes'", constraint=". >= ${visit_date}",
              constraint_message="预计返乡日期不能早于走访日期"),
            q("select_multiple needs", "needs", "需要的帮扶", hint="可多选", relevant="${works_away} = 'no'",
              constraint="not(selected(., 'none') and count-selected(.) > 1)",
              constraint_message="选了“暂不需要”就不能再选其他帮扶"),
            q("calculate", "away_flag", calculation="if(" + away + ", 1, 0)"),
            q("end repeat"),
            q("calculate", "away_count", calculation="sum(${away_flag})"),
        ],
        yes_no()
        + choices("destination", ("shanghai", "上海"), ("shenzhen", "深圳"), ("guizhou", "贵州"),
                  ("kunming", "昆明"), ("in_county", "县内"), ("other", "其他"))
        + choices("needs", ("jobs", "就业岗位"), ("training", "技能培训"), ("public_welfare_job", "公益性岗位"),
                  ("workshop", "帮扶车间就业"), ("none", "暂不需要")),
    )


def income_check():
    """Income in a group, and per-capita net income against the 10,000 line."""
    amount = dict(constraint=". >= 0", constraint_message="金额不能为负数")
    write(
        "income_check.xlsx",
        {"form_id": "income_check", "version": 2024122803,
         "form_title": "家庭人均纯收入测算", "default_language": "zh-CN"},
        [
            q("integer", "members", "家庭人口（人）", required="yes", constraint=". > 0",
              constraint_message="家庭人口至少1人"),
            q("begin_group", "income", "家庭全年收入（元）", appearance="field-list"),
            q("decimal", "wages", "工资性收入", required="yes", **amount),
            q("decimal", "business", "生产经营性收入", required="yes", **amount),
            q("decimal", "property", "财产性收入", hint="如土地流转、入股分红", default="0", **amount),
            q("decimal", "transfers", "转移性收入", hint="如养老金、低保、各类补贴", **amount),
            q("decimal", "costs", "生产经营性支出", required="yes", **amount),
            q("end_group"),
            q("calculate", "net_income",
              calculation="${wages} + ${business} + coalesce(${property}, 0)"
                          " + coalesce(${transfers}, 0) - ${costs}"),
            q("calculate", "per_capita", calculation="${net_income} div ${members}"),
            q("calculate", "below_line", calculation="if(${per_capita} < 10000, 'yes', 'no')"),
            q("note", "below_line_note", "人均纯收入 ${per_capita} 元，低于1万元，请纳入增收清单",
              relevant="${below_line} = 'yes'"),
            q("select_multiple measures", "measures", "增收措施", relevant="${below_line} = 'yes'",
              required="yes", required_message="人均纯收入低于1万元，须选择增收措施"),
        ],
        choices("measures", ("jobs", "转移就业"), ("workshop", "帮扶车间就业"), ("industry", "产业奖补"),
                ("public_welfare_job", "公益性岗位"), ("loans", "小额信贷")),
    )


def two_assurances():
    """Chinese, English and a plain label column; no default language."""
    not_guaranteed = " or ".join(
        f"${{{name}}} = 'no'"
        for name in ("food_clothing_ok", "education_ok", "medical_ok", "housing_safe", "water_safe"))
    check = [
        ("food_clothing_ok", "不愁吃、不愁穿", "No worry about food or clothing"),
        ("education_ok", "义务教育有保障", "Compulsory education guaranteed"),
        ("medical_ok", "基本医疗有保障", "Basic medical care guaranteed"),
        ("housing_safe", "住房安全有保障", "Housing is safe"),
        ("water_safe", "饮水安全有保障", "Drinking water is safe"),
    ]
    write(
        "two_assurances.xlsx",
        {"form_id": "two_assurances", "version": "2024030101", "form_title": "两不愁三保障核查"},
        [
            q("select_one county", "county", zh="县（市、区）", en="County", required="yes"),
            q("text", "village", zh="村（社区）", en="Village", required="yes",
              hint_zh="写到村民小组", hint_en="Down to the villagers' group"),
            q("integer", "members_present", zh="家中常住人口（人）", en="Members living at home",
              required="yes", constraint=". >= 0 and . <= 20",
              constraint_message_zh="人数应在0到20之间", constraint_message_en="Between 0 and 20 people"),
            *[q("select_one yes_no", name, zh=zh, en=en, required="yes") for name, zh, en in check],
            q("text", "problem_detail", zh="存在问题说明", en="What is not guaranteed", required="yes",
              relevant=not_guaranteed, required_message_zh="有未保障的项目时须说明情况",
              required_message_en="Describe what is not guaranteed"),
            q("text", "remarks", "备注（可不填）"),
        ],
        [choice("county", name, zh=zh, en=en) for name, zh, en in [
            ("zhaoyang", "昭阳区", "Zhaoyang"), ("ludian", "鲁甸县", "Ludian"),
            ("qiaojia", "巧家县", "Qiaojia"), ("yanjin", "盐津县", "Yanjin"),
            ("daguan", "大关县", "Daguan"), ("yongshan", "永善县", "Yongshan"),
            ("suijiang", "绥江县", "Suijiang"), ("zhenxiong", "镇雄县", "Zhenxiong"),
            ("yiliang", "彝良县", "Yiliang"), ("weixin", "威信县", "Weixin"),
            ("shuifu", "水富市", "Shuifu")]]
        + [choice("yes_no", "yes", zh="是", en="Yes"), choice("yes_no", "no", zh="否", en="No")],
    )


def health_screening():
    """Required only when an expression holds, each with its own message."""
    write(
        "health_screening.xlsx",
        {"form_id": "health_screening", "version": "2024031501",
         "form_title": "因病返贫致贫风险筛查", "default_language": "zh-CN"},
        [
            q("text", "person_name", "被筛查人姓名", required="yes"),
            q("integer", "age", "年龄（周岁）", required="yes", constraint=". >= 0 and . <= 110"),
            q("select_one yes_no", "chronic_disease", "是否患有慢性病", required="yes"),
            q("select_multiple disease", "diseases", "所患疾病", required="${chronic_disease} = 'yes'",
              required_message="患有慢性病时须选择所患疾病"),
            q("select_one yes_no", "insured", "是否参加基本医疗保险", required="yes"),
            q("text", "uninsured_reason", "未参保原因", required="${insured} = 'no'",
              required_message="未参保时须说明原因"),
            q("decimal", "out_of_pocket", "年度自付医疗费用（元）",
              required="${chronic_disease} = 'yes' or ${age} >= 65",
              required_message="慢性病患者和65岁以上老人须填写自付医疗费用",
              constraint=". >= 0"),
            q("select_one yes_no", "family_doctor", "是否签约家庭医生",
              required="${age} >= 65 or ${chronic_disease} = 'yes'"),
            q("calculate", "high_risk",
              calculation="if(${out_of_pocket} > 10000 or (${chronic_disease} = 'yes' and "
                          "${insured} = 'no'), 'yes', 'no')"),
            q("note", "high_risk_note", "该人员存在因病返贫致贫风险，请纳入监测清单",
              relevant="${high_risk} = 'yes'"),
        ],
        yes_no()
        + choices("disease", ("hypertension", "高血压"), ("diabetes", "糖尿病"), ("heart", "心脏病"),
                  ("stroke", "脑卒中"), ("tuberculosis", "肺结核"), ("other", "其他")),
    )


def school_attendance():
    """Groups inside groups (控辍保学); answers stay flat."""
    enrolled = "${enrolled} = 'yes'"
    write(
        "school_attendance.xlsx",
        {"form_id": "school_attendance", "version": "2024090201",
         "form_title": "控辍保学入户核查", "default_language": "zh-CN"},
        [
            q("begin group", "household", "户基本情况", appearance="field-list"),
            q("text", "head_name", "户主姓名", required="yes"),
            q("select_one township", "township", "乡镇（街道）", required="yes"),
            q("end group"),
            q("begin group", "child", "适龄儿童情况"),
            q("text", "child_name", "儿童姓名", required="yes"),
            q("integer", "child_age", "年龄（周岁）", required="yes", constraint=". >= 6 and . <= 16",
              constraint_message="义务教育适龄儿童年龄为6至16岁"),
            q("select_one stage", "stage", "学段", required="yes"),
            q("begin group", "attendance", "就学情况"),
            q("select_one yes_no", "enrolled", "是否在校就读", required="yes"),
            q("text", "school_name", "就读学校", required="yes", relevant=enrolled),
            q("integer", "days_absent", "本学期缺课天数", relevant=enrolled, default="0",
              constraint=". >= 0 and . <= 120", constraint_message="缺课天数应在0到120之间"),
            q("select_one dropout_reason", "dropout_reason", "未就学原因", required="yes",
              relevant="${enrolled} = 'no'"),
            q("end group"),
            q("begin group", "aid", "资助情况", relevant=enrolled),
            q("select_multiple aid", "aid_received", "已享受的资助", hint="可多选"),
            q("decimal", "aid_amount", "本年度资助金额（元）", relevant="count-selected(${aid_received}) > 0",
              constraint=". > 0", constraint_message="资助金额应大于0"),
            q("end group"),
            q("end group"),
            q("calculate", "at_risk", calculation="if(${enrolled} = 'no' or ${days_absent} > 10, 'yes', 'no')"),
            q("note", "at_risk_note", "存在辍学风险，请落实“一生一案”", relevant="${at_risk} = 'yes'"),
        ],
        yes_no()
        + choices("township", ("fajie", "发界街道"), ("jiaokui", "角奎街道"), ("luozehe", "洛泽河镇"),
                  ("longhai", "龙海镇"))
        + choices("stage", ("primary", "小学"), ("junior", "初中"))
        + choices("dropout_reason", ("illness", "因病"), ("disability", "残疾"), ("working", "外出务工"),
                  ("weariness", "厌学"), ("other", "其他"))
        + choices("aid", ("living_allowance", "生活补助"), ("nutrition", "营养改善计划"),
                  ("rain_dew", "雨露计划"), ("other", "其他")),
    )


def wash_checklist():
    """Drinking water and toilets: select_one answers and notes."""
    write(
        "wash_checklist.xlsx",
        {"form_id": "wash_checklist", "version": "2024050801",
         "form_title": "饮水安全和卫生厕所排查", "default_language": "zh-CN"},
        [
            q("note", "intro", "请现场查看水源和厕所，逐项核实"),
            q("select_one water_source", "water_source", "主要饮用水来源", required="yes"),
            q("select_one yes_no", "water_enough", "水量是否充足（每人每天不少于20升）", required="yes"),
            q("select_one yes_no", "water_near", "取水是否方便（往返不超过20分钟）", required="yes"),
            q("select_one quality", "water_quality", "水质情况", required="yes"),
            q("note", "water_warning", "饮水安全不达标，请登记并报告水务部门",
              relevant="${water_enough} = 'no' or ${water_near} = 'no' or ${water_quality} = 'poor'"),
            q("select_one toilet", "toilet_type", "厕所类型", required="yes"),
            q("select_one yes_no", "toilet_in_use", "厕所是否正常使用", required="yes",
              relevant="${toilet_type} != 'none'"),
            q("note", "toilet_warning", "无卫生厕所，请纳入改厕计划",
              relevant="${toilet_type} = 'none' or ${toilet_type} = 'dry_pit'"),
            q("calculate", "water_safe",
              calculation="if(${water_enough} = 'yes' and ${water_near} = 'yes' and "
                          "${water_quality} != 'poor', 'yes', 'no')"),
            q("text", "remarks", "备注", appearance="multiline"),
        ],
        yes_no()
        + choices("water_source", ("tap", "集中供水（自来水）"), ("well", "水井"), ("spring", "山泉水"),
                  ("cistern", "水窖"), ("other", "其他"))
        + choices("quality", ("good", "良好"), ("fair", "一般"), ("poor", "浑浊或有异味"))
        + choices("toilet", ("flush", "水冲式"), ("three_compartment", "三格化粪池式"),
                  ("dry_pit", "旱厕"), ("none", "无厕所")),
    )


def site_visit():
    """A project site: GPS point and photos."""
    write(
        "site_visit.xlsx",
        {"form_id": "site_visit", "version": "2024061001",
         "form_title": "帮扶项目现场核查", "default_language": "zh-CN"},
        [
            q("select_one project_type", "project_type", "项目类型", required="yes"),
            q("text", "project_name", "项目名称", required="yes"),
            q("geopoint", "location", "项目位置", required="yes", appearance="maps",
              hint="在项目现场定位，精度优于10米"),
            q("image", "site_photo", "现场照片", required="yes"),
            q("image", "sign_photo", "项目公示牌照片", appearance="new"),
            q("select_one progress", "progress", "建设进度", required="yes"),
            q("integer", "jobs_created", "带动就业人数", relevant="${project_type} = 'workshop'",
              constraint=". >= 0"),
            q("date", "visit_date", "核查日期", required="yes"),
            q("text", "findings", "发现的问题", appearance="multiline"),
        ],
        choices("project_type", ("workshop", "帮扶车间"), ("road", "产业路"), ("irrigation", "灌溉设施"),
                ("housing", "安置住房"), ("greenhouse", "蔬菜大棚"))
        + choices("progress", ("planned", "未开工"), ("building", "在建"), ("done", "已完工"),
                  ("in_use", "已投入使用")),
    )


def household_jobs():
    """Repeats inside repeats: household → members → jobs."""
    write(
        "household_jobs.xlsx",
        {"form_id": "household_jobs", "version": "2024122802",
         "form_title": "家庭成员就业情况", "default_language": "zh-CN"},
        [
            q("text", "head_name", "户主姓名", required="yes"),
            q("begin_repeat", "members", "家庭成员"),
            q("text", "member_name", "姓名", required="yes"),
            q("integer", "age", "年龄（周岁）", required="yes", constraint=". >= 0 and . <= 110",
              constraint_message="年龄应在0到110岁之间"),
            q("begin_repeat", "jobs", "本年度务工情况", relevant="${age} >= 16"),
            q("select_one job_place", "job_place", "就业地点", required="yes"),
            q("text", "employer", "用工单位"),
            q("integer", "months", "务工月数", required="yes", constraint=". >= 1 and . <= 12",
              constraint_message="务工月数应在1到12之间"),
            q("decimal", "monthly_wage", "月均工资（元）", required="yes", constraint=". > 0"),
            q("calculate", "job_income", calculation="${months} * ${monthly_wage}"),
            q("end_repeat"),
            q("calculate", "member_income", calculation="sum(${job_income})"),
            q("end_repeat"),
            q("calculate", "household_wages", calculation="sum(${member_income})"),
            q("calculate", "job_count", calculation="count(${jobs})"),
        ],
        choices("job_place", ("workshop", "帮扶车间"), ("in_county", "县内"),
                ("in_province", "省内县外"), ("out_of_province", "省外")),
    )


def relocation_followup():
    """易地搬迁 follow-up: chains of skip logic, each step depending on the last."""
    write(
        "relocation_followup.xlsx",
        {"form_id": "relocation_followup", "version": "2024041201",
         "form_title": "易地扶贫搬迁后续扶持走访", "default_language": "zh-CN"},
        [
            q("select_one site", "site", "安置点", required="yes"),
            q("date", "moved_in", "搬迁入住日期", required="yes", constraint=". <= today()",
              constraint_message="入住日期不能晚于今天"),
            q("select_one yes_no", "lives_at_site", "是否在安置点常住", required="yes"),
            q("select_one away_reason", "away_reason", "未常住的原因", required="yes",
              relevant="${lives_at_site} = 'no'"),
            q("select_one yes_no", "employed", "家中劳动力是否已就业", required="yes",
              relevant="${lives_at_site} = 'yes'"),
            q("select_one job_type", "job_type", "主要就业方式", required="yes", relevant="${employed} = 'yes'"),
            q("text", "workshop_name", "帮扶车间名称", required="yes", relevant="${job_type} = 'workshop'"),
            q("text", "away_city", "务工城市", required="yes", relevant="${job_type} = 'away'"),
            q("select_one yes_no", "wants_training", "是否需要技能培训", required="yes",
              relevant="${employed} = 'no'"),
            q("select_multiple training", "training", "培训意向", required="yes",
              relevant="${wants_training} = 'yes'"),
            q("select_one satisfaction", "satisfaction", "对安置点生活是否满意", required="yes"),
            q("text", "complaint", "不满意的原因", required="yes", relevant="${satisfaction} = 'no'"),
            q("calculate", "needs_followup",
              calculation="if(${lives_at_site} = 'no' or ${employed} = 'no' or "
                          "${satisfaction} = 'no', 'yes', 'no')"),
        ],
        yes_no()
        + choices("site", ("jiean", "彝良县界安安置区"), ("nanyuan", "镇雄县南苑社区"),
                  ("jingan", "昭阳区靖安安置区"))
        + choices("away_reason", ("old_home", "回原籍居住"), ("working_away", "外出务工"),
                  ("relatives", "投亲靠友"), ("other", "其他"))
        + choices("job_type", ("workshop", "帮扶车间"), ("public_welfare", "公益性岗位"),
                  ("away", "外出务工"), ("local", "就近打零工"))
        + choices("training", ("cooking", "中式烹调"), ("construction", "建筑技能"),
                  ("elderly_care", "养老护理"), ("ecommerce", "电子商务"), ("driving", "驾驶"))
        + choices("satisfaction", ("yes", "满意"), ("partly", "基本满意"), ("no", "不满意")),
    )


def broken_types():
    """BROKEN: an unknown type, an unsupported one, a bad expression, an
    unknown reference, a repeat_count and a choice_filter column."""
    write(
        "broken_types.xlsx",
        {"form_id": "broken_types", "version": "2024122899",
         "form_title": "错误示例：类型与表达式", "default_language": "zh-CN"},
        [
            q("text", "village", "村（社区）", required="yes"),
            q("integr", "members_count", "家庭人口数（人）", required="yes"),
            q("select_one_from_file villages.csv", "village_code", "村代码"),
            q("integer", "age", "年龄", constraint=". >= 0 and and . <= 110"),
            q("select_one yes_no", "works_away", "是否外出务工", relevant="${age} >= 16"),
            q("text", "destination", "务工地点", relevant="${work_away} = 'yes'"),
            q("begin_repeat", "children", "子女", repeat_count="${children_count}"),
            q("text", "child_name", "姓名"),
            q("end_repeat"),
        ],
        yes_no() + [choice("town", "fajie", "发界街道", county="yiliang")],
    )


def broken_structure():
    """BROKEN: a group closed by end_repeat, an end_group that closes
    nothing, a repeat never closed, a calculate without calculation."""
    write(
        "broken_structure.xlsx",
        {"form_id": "broken_structure", "version": "2024122898",
         "form_title": "错误示例：分组与重复", "default_language": "zh-CN"},
        [
            q("begin_group", "household", "户基本情况"),
            q("text", "head_name", "户主姓名", required="yes"),
            q("end_repeat"),
            q("end_group"),
            q("end_group"),
            q("calculate", "per_capita"),
            q("begin_repeat", "members", "家庭成员"),
            q("text", "member_name", "姓名", required="${per_capita} <"),
        ],
    )


def raw(file_name, sheets):
    """Writes a workbook sheet by sheet, as given: {sheet name: [row, ...]}."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    workbook.save(OUT / file_name)


def market_prices():
    """What pyxform accepts and real forms do: no settings sheet (the id is the
    file's name), metadata, old spellings, a list and a table in CSV files
    beside the form, choice_filter, pulldata, range, or_other, repeat_count,
    indexed-repeat and position, the same name in two groups, a note with
    `required`, values on an end row, and columns pyxform ignores."""
    raw("market_prices.xlsx", {"survey": [
        ["type", "name", "label", "hint", "required", "relevant", "constraint",
         "calculation", "choice_filter", "repeat_count", "parameters", "media::image",
         "guidance_hint"],
        ["start", "started"], ["end", "ended"], ["deviceid", "device"],
        ["today", "day"],
        ["note", "intro", "Market price survey", "", "yes", "", "", "", "", "", "",
         "logo.png"],
        ["select one from county", "county", "County", "", "yes"],
        ["select_one_from_file markets.csv", "market", "Market", "", "yes", "", "", "",
         "county = ${county}"],
        ["calculate", "trader_name", "", "", "", "", "", "pulldata('traders', 'name', 'market', ${market})"],
        ["gps", "location", "Where is the market?"],
        ["range", "crowding", "How crowded is it?", "", "", "", "", "", "", "",
         "start=0 end=10 step=2"],
        ["select_one crop or_other", "main_crop", "Main crop"],
        ["integer", "stall_count", "How many stalls did you visit?", "", "yes", "", ". >= 1"],
        ["begin repeat", "stall", "Stall", "", "", "", "", "", "", "${stall_count}"],
        ["decimal", "price", "Price per kg", "", "yes", "", ". > 0"],
        ["calculate", "previous_price", "", "", "", "", "",
         "if(position(..) > 1, indexed-repeat(${price}, ${stall}, position(..) - 1), '')"],
        ["end repeat", "stall", "ignored", "", "yes"],
        ["begin group", "morning", "Morning"],
        ["time", "arrival", "Arrival time"],
        ["end group"],
        ["begin group", "evening", "Evening"],
        ["time", "arrival", "Arrival time"],
        ["end group"],
        ["calculate", "mean_price", "", "", "", "", "", "round(sum(${price}) div count(${stall}), 2)"],
    ], "choices": [
        ["list_name", "name", "label"],
        ["county", "yiliang", "Yiliang"], ["county", "zhaoyang", "Zhaoyang"],
        ["crop", "maize", "Maize"], ["crop", "potato", "Potato"],
    ]})
    (OUT / "markets.csv").write_text(
        "name,label,county\nfajie,Fajie market,yiliang\nluohan,Luohan market,yiliang\n"
        "fengxiang,Fengxiang market,zhaoyang\n", encoding="utf-8")
    (OUT / "traders.csv").write_text(
        "market,name\nfajie,Wang Li\nluohan,Zhang Wei\n", encoding="utf-8")


def lone_sheet():
    """A workbook whose only sheet is the survey, under another name."""
    raw("lone_sheet.xlsx", {"Form": [
        ["type", "name", "label"],
        ["text", "village", "Village"],
        ["integer", "households", "Households"],
    ]})


FORMS = [
    household_roster, migrant_followup, income_check, two_assurances, health_screening,
    school_attendance, wash_checklist, site_visit, household_jobs, relocation_followup,
    broken_types, broken_structure, market_prices, lone_sheet,
]

if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for form in FORMS:
        form()
    print(f"wrote {len(FORMS)} forms to {OUT}")
