"""Writes forms/household-check.xlsx: the "百日攻坚" household check, Doorstep's demo form.

The spreadsheet is what a county's form author would edit in Excel or WPS;
this script is how the repository keeps it reviewable as text. After running
it, regenerate the JSON definition that tests compare against:

    pip install openpyxl
    python3 tools/forms/household_check.py
    cargo run -q -p doorstep -- form check forms/household-check.xlsx --definition > forms/household-check.json
"""

import pathlib

from openpyxl import Workbook
from openpyxl.styles import Font

OUT = pathlib.Path(__file__).resolve().parents[2] / "forms" / "household-check.xlsx"

COLUMNS = (
    "type", "name", "label::zh-CN", "label::English (en)", "hint::zh-CN", "hint::English (en)",
    "required", "relevant", "constraint", "constraint_message::zh-CN", "constraint_message::English (en)",
    "calculation", "appearance",
)


def row(kind, name, zh="", en="", hint_zh="", hint_en="", required="", relevant="", constraint="",
        message_zh="", message_en="", calculation="", appearance=""):
    return (kind, name, zh, en, hint_zh, hint_en, required, relevant, constraint, message_zh, message_en,
            calculation, appearance)


YES_NO = "select_one yes_no"
NOT_NEGATIVE = dict(constraint=". >= 0", message_zh="金额不能为负数", message_en="An amount cannot be negative")

SURVEY = [
    row("date", "visit_date", "走访日期", "Date of the visit", required="yes", constraint=". <= today()",
        message_zh="走访日期不能晚于今天", message_en="The visit date cannot be in the future"),
    row("select_one respondent", "respondent", "受访人", "Who answered", required="yes"),

    row("begin_repeat", "members", "家庭成员", "Household members"),
    row("text", "member_name", "姓名", "Name", required="yes"),
    row("select_one relation", "relation", "与户主关系", "Relation to the head", required="yes"),
    row("integer", "age", "年龄（周岁）", "Age (years)", required="yes", constraint=". >= 0 and . <= 120",
        message_zh="年龄应在0到120岁之间", message_en="Age must be between 0 and 120"),
    row("select_one ability", "able_to_work", "劳动能力", "Ability to work", required="yes",
        relevant="${age} >= 16"),
    row("select_one yes_no", "in_school", "是否在校（义务教育）", "In school (compulsory education)",
        required="yes", relevant="${age} >= 6 and ${age} <= 15"),
    row("end_repeat", ""),
    row("calculate", "member_count", calculation="count(${members})"),

    row("begin_group", "migration", "外出务工", "Working away from home", relevant="${member_count} > 0"),
    row("begin_repeat", "migrants", "外出务工人员", "Members working away"),
    row("text", "migrant_name", "姓名", "Name", required="yes"),
    row("select_one destination", "destination", "务工地点", "Where", required="yes"),
    row("text", "city", "城市", "City", hint_zh="如：上海、深圳、贵阳", hint_en="e.g. Shanghai, Shenzhen, Guiyang"),
    row("text", "employer", "行业或单位", "Trade or employer"),
    row("decimal", "monthly_income", "月收入（元）", "Monthly income (yuan)", constraint=". >= 0 and . <= 100000",
        message_zh="月收入应在0到100000元之间", message_en="Monthly income must be between 0 and 100,000 yuan"),
    row("date", "return_date", "预计返乡日期", "Expected date home",
        hint_zh="很多人春节前返乡", hint_en="Many come home for the Spring Festival"),
    row("end_repeat", ""),
    row("end_group", ""),
    row("calculate", "migrant_count", calculation="count(${migrants})"),

    row("begin_group", "income", "家庭年收入（元/年）", "Household income (yuan a year)"),
    row("decimal", "income_wages", "工资性收入", "Wages", hint_zh="全家全年合计", hint_en="Whole household, whole year",
        **NOT_NEGATIVE),
    row("decimal", "income_business", "生产经营性收入", "Production and business", **NOT_NEGATIVE),
    row("decimal", "income_property", "财产性收入", "Property income",
        hint_zh="如土地流转、入股分红", hint_en="Such as land rent and dividends", **NOT_NEGATIVE),
    row("decimal", "income_transfer", "转移性收入", "Transfer income",
        hint_zh="如养老金、低保、各类补贴", hint_en="Such as pensions, subsistence allowance and subsidies",
        **NOT_NEGATIVE),
    row("decimal", "production_costs", "生产经营性支出", "Production costs",
        hint_zh="种子、化肥、饲料等", hint_en="Seed, fertiliser, feed and the like", **NOT_NEGATIVE),
    row("end_group", ""),
    row("calculate", "net_income",
        calculation="coalesce(${income_wages}, 0) + coalesce(${income_business}, 0) + coalesce(${income_property}, 0)"
                    " + coalesce(${income_transfer}, 0) - coalesce(${production_costs}, 0)"),
    row("calculate", "per_capita_income",
        calculation="if(${member_count} > 0, round(${net_income} div ${member_count}, 2), 0)"),
    row("calculate", "below_line", calculation="if(${member_count} > 0 and ${per_capita_income} < 10000, 'yes', 'no')"),
    row("note", "below_line_note", "人均纯收入低于1万元：请核实收入并纳入防返贫监测",
        "Per-capita net income is below 10,000 yuan: check the incomes and add the household to monitoring",
        relevant="${below_line} = 'yes'"),

    row("begin_group", "assurances", "两不愁三保障", "Two assurances, three guarantees"),
    row(YES_NO, "food_clothing_ok", "不愁吃、不愁穿", "No worry about food or clothing", required="yes"),
    row(YES_NO, "education_ok", "义务教育有保障", "Compulsory education guaranteed",
        hint_zh="没有适龄儿童辍学", hint_en="No child of school age out of school", required="yes"),
    row(YES_NO, "medical_insurance_ok", "基本医疗有保障", "Basic medical care guaranteed",
        hint_zh="家庭成员均参加基本医疗保险", hint_en="Every member has basic medical insurance", required="yes"),
    row(YES_NO, "housing_safe", "住房安全有保障", "Housing is safe", required="yes"),
    row(YES_NO, "drinking_water_safe", "饮水安全有保障", "Drinking water is safe", required="yes"),
    row("image", "housing_photo", "房屋照片", "Photo of the house", "拍房屋正面，看得清墙体和屋顶",
        "The front of the house, walls and roof visible"),
    row("image", "water_photo", "饮水水源照片", "Photo of the water source"),
    row("image", "support_card_photo", "帮扶明白卡照片", "Photo of the support card",
        "户主签字后拍照", "After the head of household signed it"),
    row("end_group", ""),
    row("calculate", "assurance_gaps",
        calculation="if(${food_clothing_ok} = 'no', 1, 0) + if(${education_ok} = 'no', 1, 0)"
                    " + if(${medical_insurance_ok} = 'no', 1, 0) + if(${housing_safe} = 'no', 1, 0)"
                    " + if(${drinking_water_safe} = 'no', 1, 0)"),

    row("select_one risk", "risk_category", "监测对象类别（三类对象）", "Monitoring category", required="yes"),
    row(YES_NO, "relocated", "是否易地扶贫搬迁户", "Relocated household", required="yes"),
    row("begin_group", "relocation", "搬迁后续帮扶", "Follow-up after relocation", relevant="${relocated} = 'yes'"),
    row("text", "resettlement_site", "安置点", "Resettlement site", required="yes",
        hint_zh="如：彝良县发界街道界安安置区", hint_en="e.g. Jie'an site, Fajie subdistrict, Yiliang"),
    row(YES_NO, "works_at_site", "是否在安置区就近就业", "Works near the site (e.g. a support workshop)",
        required="yes"),
    row("end_group", ""),
    row("select_multiple support", "support_needed", "需要的帮扶（可多选）", "Support needed (any)", required="yes",
        constraint="not(selected(., 'none') and count-selected(.) > 1)",
        message_zh="“暂不需要”不能与其他帮扶同时选择", message_en="'None needed' cannot go with other support"),
    row("text", "notes", "备注", "Notes", hint_zh="不要填写身份证号等个人信息",
        hint_en="Do not write ID-card numbers or other personal details", appearance="multiline"),
    row("geopoint", "location", "位置", "Location of the visit"),
]

CHOICES = [
    ("list_name", "name", "label::zh-CN", "label::English (en)"),
    ("yes_no", "yes", "是", "Yes"),
    ("yes_no", "no", "否", "No"),
    ("respondent", "head", "户主", "Head of household"),
    ("respondent", "spouse", "配偶", "Spouse"),
    ("respondent", "other", "其他家庭成员", "Another member"),
    ("relation", "head", "户主", "Head"),
    ("relation", "spouse", "配偶", "Spouse"),
    ("relation", "child", "子女", "Child"),
    ("relation", "parent", "父母", "Parent"),
    ("relation", "grandchild", "孙子女", "Grandchild"),
    ("relation", "other", "其他", "Other"),
    ("ability", "full", "有劳动能力", "Able to work"),
    ("ability", "partial", "弱劳动能力", "Partly able to work"),
    ("ability", "none", "无劳动能力", "Not able to work"),
    ("destination", "in_county", "县内", "In the county"),
    ("destination", "in_province", "省内县外", "In the province"),
    ("destination", "outside_province", "省外", "Outside the province"),
    ("risk", "none", "非监测对象", "Not monitored"),
    ("risk", "unstable", "脱贫不稳定户", "Unstable poverty-relieved household"),
    ("risk", "edge", "边缘易致贫户", "Household on the edge of poverty"),
    ("risk", "sudden_hardship", "突发严重困难户", "Household hit by a sudden severe hardship"),
    ("support", "none", "暂不需要", "None needed"),
    ("support", "jobs", "就业岗位", "Jobs"),
    ("support", "training", "技能培训", "Skills training"),
    ("support", "industry", "产业扶持", "Support for farming or business"),
    ("support", "loans", "小额信贷", "Microcredit"),
    ("support", "medical", "医疗救助", "Medical assistance"),
    ("support", "education", "教育资助", "Education assistance"),
]

SETTINGS = [
    ("form_id", "version", "form_title", "default_language"),
    ("household_check", 2024122803, "百日攻坚入户核查", "zh-CN"),
]


def sheet(workbook, title, rows, first=False):
    ws = workbook.active if first else workbook.create_sheet()
    ws.title = title
    for values in rows:
        ws.append(list(values))
    for cell in ws[1]:
        cell.font = Font(bold=True)


def main():
    workbook = Workbook()
    sheet(workbook, "survey", [COLUMNS] + SURVEY, first=True)
    sheet(workbook, "choices", CHOICES)
    sheet(workbook, "settings", SETTINGS)
    workbook.save(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
