#!/usr/bin/env python3
"""Wrote the frozen server databases server/src/store/fixtures/server_vN.sql
(N = 1..8), once, on 2026-11-30: each is a database created at schema
version 1 by the migrations of that time, given a little data (areas, two
households, a cadre paired with the village, an enrolled device, a form, a
visit and its change log), then migrated to version N, as builds of those
versions would have left it. Migration 7's Rust step (the console's facts)
is done here by hand for that data.

The fixtures are frozen: never regenerate them (a later edit of an old
migration must make the upgrade test fail, not rewrite its fixture). This
script stays as the record of how they were made.
"""
import hashlib
import json
import pathlib
import sqlite3
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "server/src/store/migrations"
OUT = ROOT / "server/src/store/fixtures"

VILLAGE = "530626104201"
CADRE = "0190a000-0000-7000-8000-0000000000c1"
DEVICE = "0190a000-0000-7000-8000-0000000000d1"
HOUSEHOLDS = ["0190a000-0000-7000-8000-000000000011", "0190a000-0000-7000-8000-000000000012"]
VISIT = "0190a000-0000-7000-8000-0000000000e1"
AT = "2024-12-28T08:00:00.000Z"
FORM = {"format": 2, "form_id": "household_check", "version": "1", "title": "入户核查",
        "questions": [{"name": "respondent", "type": "text", "label": "受访人"}]}


def token(version):
    return f"token-of-a-v{version}-server-device"


def seed(db, version):
    run = db.execute
    run("INSERT INTO areas VALUES ('530626', '绥江县', 'county', NULL)")
    run("INSERT INTO areas VALUES ('530626104', '南岸镇', 'township', '530626')")
    run(f"INSERT INTO areas VALUES ('{VILLAGE}', '中坝村', 'village', '530626104')")
    for index, (household, head) in enumerate(zip(HOUSEHOLDS, ["喻兰", "龙发"]), start=1):
        run("INSERT INTO households (id, village_code, head_name, id_card_suffix, group_name, members,"
            " phone, address, lat, lon, category, version, updated_at)"
            " VALUES (?, ?, ?, ?, '1组', ?, ?, ?, NULL, NULL, 'general', 1, ?)",
            (household, VILLAGE, head, f"00{index}X", index + 2, f"1380000000{index}", f"1组{index}号", AT))
    run("INSERT INTO cadres (id, name, created_at) VALUES (?, '测试干部', ?)", (CADRE, AT))
    run("INSERT INTO assignments (cadre_id, village_code, created_at) VALUES (?, ?, ?)", (CADRE, VILLAGE, AT))
    run("INSERT INTO devices (id, cadre_id, token_hash, label, enrolled_at, last_seen_at)"
        " VALUES (?, ?, ?, 'phone', ?, ?)",
        (DEVICE, CADRE, hashlib.sha256(token(version).encode()).hexdigest(), AT, AT))
    run("INSERT INTO enroll_codes (code_hash, cadre_id, created_at, expires_at, used_at, device_id)"
        " VALUES (?, ?, ?, '2025-01-04T08:00:00.000Z', ?, ?)",
        (hashlib.sha256(b"ABCDE23456").hexdigest(), CADRE, AT, AT, DEVICE))
    run("INSERT INTO forms (form_id, version, title, definition, published_at) VALUES (?, '1', ?, ?, ?)",
        (FORM["form_id"], FORM["title"], json.dumps(FORM, ensure_ascii=False), AT))
    run("INSERT INTO visits (id, household_id, cadre_id, device_id, form_id, form_version, answers,"
        " recorded_at, received_at) VALUES (?, ?, ?, ?, 'household_check', '1', ?, ?, ?)",
        (VISIT, HOUSEHOLDS[0], CADRE, DEVICE, json.dumps({"respondent": "喻兰"}, ensure_ascii=False), AT, AT))
    run("INSERT INTO device_changes (device_id, seq, entity, entity_id, applied_at) VALUES (?, 1, 'visit', ?, ?)",
        (DEVICE, VISIT, AT))
    for household in HOUSEHOLDS:
        run("INSERT INTO changes (entity, entity_id, household_id, created_at) VALUES ('household', ?, ?, ?)",
            (household, household, AT))
    run("INSERT INTO changes (entity, entity_id, created_at) VALUES ('form', '1', ?)", (AT,))
    run("INSERT INTO changes (entity, entity_id, household_id, origin_device, created_at)"
        " VALUES ('visit', ?, ?, ?, ?)", (VISIT, HOUSEHOLDS[0], DEVICE, AT))


def normalise(text):
    return "".join(c for c in text if not c.isspace() and c != "\x1f").lower()


def fill_facts(db):
    """Migration 7's Rust step (server/src/store/facts.rs) for this data."""
    rows = db.execute("SELECT h.id, h.village_code, h.group_name, h.head_name, h.id_card_suffix, h.phone,"
                      " h.address, a.name FROM households h JOIN areas a ON a.code = h.village_code").fetchall()
    for household, village, group, head, suffix, phone, address, village_name in rows:
        text = "\x1f".join(normalise(f) for f in [head, suffix, phone, address, village_name, group])
        db.execute("INSERT INTO household_facts (household_id, village_code, group_name, search_text)"
                   " VALUES (?, ?, ?, ?)", (household, village, group, text))
    db.execute("UPDATE household_facts SET visits = 1, last_visit_id = ?, last_visit_at = ?"
               " WHERE household_id = ?", (VISIT, AT, HOUSEHOLDS[0]))
    db.execute("INSERT INTO village_visit_days VALUES (?, ?, 1)", (VILLAGE, AT[:10]))


def build(version):
    db = sqlite3.connect(":memory:")
    db.execute("PRAGMA foreign_keys = ON")
    files = sorted(MIGRATIONS.glob("0*.sql"))
    for number, path in enumerate(files[:version], start=1):
        db.executescript(path.read_text())
        if number == 1:
            seed(db, version)
        if number == 7:
            fill_facts(db)
        db.execute(f"PRAGMA user_version = {number}")
        db.commit()
    lines = [
        f"-- Frozen: a server database at schema version {version}, created at version 1",
        "-- with a little data and migrated as builds of each version did",
        "-- (tools/server_fixtures.py). Never regenerate this file.",
        "PRAGMA foreign_keys = OFF;",
        f"PRAGMA user_version = {version};",
    ]
    for statement in db.iterdump():
        if statement in ("BEGIN TRANSACTION;", "COMMIT;"):
            continue
        lines.append(statement)
    (OUT / f"server_v{version}.sql").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    for version in range(1, 9):
        build(version)
    sys.exit(0)
