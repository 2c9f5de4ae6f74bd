-- Doorstep server store, schema version 7: what the console reads and does.
-- Never edit this file once shipped: add a new numbered migration instead.

-- One row per household, kept up to date as households are imported or
-- edited and as visits arrive, so the console's lists and counts read one
-- narrow table instead of parsing every visit's answers. The indicators
-- are those of the household's latest visit (by the device's clock); NULL
-- while it has none. Filled for the households already here by the
-- migration's Rust step.
CREATE TABLE household_facts (
    household_id      TEXT PRIMARY KEY REFERENCES households (id),
    village_code      TEXT NOT NULL REFERENCES areas (code),
    group_name        TEXT NOT NULL,
    -- The phone's search text: head, ID-card suffix, phone, address,
    -- village and group, each lower-cased without white space, joined by
    -- U+001F so a match never spans two fields.
    search_text       TEXT NOT NULL,
    visits            INTEGER NOT NULL DEFAULT 0 CHECK (visits >= 0),
    last_visit_id     TEXT REFERENCES visits (id),
    last_visit_at     TEXT,                -- its recorded_at
    per_capita_income REAL,
    below_line        INTEGER CHECK (below_line IN (0, 1)),
    risk_category     TEXT,
    relocated         INTEGER CHECK (relocated IN (0, 1)),
    assurance_gaps    INTEGER CHECK (assurance_gaps >= 0),
    water_unsafe      INTEGER CHECK (water_unsafe IN (0, 1))
) STRICT;
CREATE INDEX household_facts_village ON household_facts (village_code, group_name);
CREATE INDEX household_facts_last_visit ON household_facts (last_visit_at);
-- Visits per village and day recorded (UTC), for the visits-per-day
-- chart: a month of a county is a few thousand rows, not every visit.
CREATE TABLE village_visit_days (
    village_code TEXT NOT NULL REFERENCES areas (code),
    day          TEXT NOT NULL,            -- YYYY-MM-DD of recorded_at
    visits       INTEGER NOT NULL CHECK (visits >= 0),
    PRIMARY KEY (village_code, day)
) STRICT, WITHOUT ROWID;
CREATE INDEX village_visit_days_day ON village_visit_days (day);

-- Members working away from home, as the household's latest visit lists
-- them (replaced when a later visit arrives), by expected return date.
CREATE TABLE household_migrants (
    household_id TEXT NOT NULL REFERENCES households (id),
    position     INTEGER NOT NULL CHECK (position >= 1),
    visit_id     TEXT NOT NULL REFERENCES visits (id),
    name         TEXT,
    destination  TEXT,
    city         TEXT,
    employer     TEXT,
    return_date  TEXT,                     -- YYYY-MM-DD, if the cadre knew it
    PRIMARY KEY (household_id, position)
) STRICT, WITHOUT ROWID;
CREATE INDEX household_migrants_return ON household_migrants (return_date);

-- Changes the server refused, for supervisors to review (the device keeps
-- them and shows them too). One row per (device, sequence): a device that
-- pushes the same refused change again bumps `attempts`.
CREATE TABLE rejected_changes (
    device_id    TEXT NOT NULL REFERENCES devices (id),
    seq          INTEGER NOT NULL CHECK (seq > 0),
    entity       TEXT NOT NULL,            -- 'visit' or 'household_edit'
    entity_id    TEXT NOT NULL,
    household_id TEXT,                     -- the household it named, if this server has it
    code         TEXT NOT NULL,
    reason       TEXT NOT NULL,            -- the form's own messages; never the answers
    first_at     TEXT NOT NULL,
    last_at      TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    PRIMARY KEY (device_id, seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX rejected_changes_household ON rejected_changes (household_id);
CREATE INDEX rejected_changes_last ON rejected_changes (last_at);

-- A supervisor's decision on a conflict: keep the merged value, or
-- restore the other one (which is written as a new edit by the server).
ALTER TABLE conflicts ADD COLUMN resolved_at TEXT;
ALTER TABLE conflicts ADD COLUMN resolved_by TEXT REFERENCES users (id);
ALTER TABLE conflicts ADD COLUMN resolution TEXT
    CHECK (resolution IS NULL OR resolution IN ('kept', 'restored'));

-- What a device last said it still has to send (changes in its outbox),
-- for the console's device list.
ALTER TABLE devices ADD COLUMN pending_changes INTEGER CHECK (pending_changes >= 0);
ALTER TABLE devices ADD COLUMN pending_reported_at TEXT;

-- Tokens for scripts that use the admin HTTP API, each acting as one
-- console account (its role and area). Only the SHA-256 is kept.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,         -- UUID
    user_id      TEXT NOT NULL REFERENCES users (id),
    label        TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
) STRICT;
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- The audit log learns what console accounts and API tokens do, and who
-- did it. SQLite cannot alter a CHECK, so the table is rebuilt (ids kept).
CREATE TABLE audit_new (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN (
                  'enrolled', 'enrol_retried', 'enrol_refused', 'device_revoked',
                  'device_retired', 'change_refused', 'change_skipped', 'client_throttled',
                  'households_imported', 'cadre_added', 'assigned', 'unassigned',
                  'form_published', 'enrol_code_issued',
                  'user_added', 'signed_in', 'sign_in_refused', 'password_changed',
                  'conflict_resolved', 'api_token_issued', 'api_token_revoked',
                  'visits_exported')),
    device_id TEXT,                       -- the device concerned, if any
    cadre_id  TEXT,                       -- the cadre concerned, if any
    client    TEXT,                       -- the client's network address, for requests
    subject   TEXT,                       -- what was acted on: an id, a village code, form@version
    detail    TEXT,                       -- a reason or a count; never personal data
    user_id   TEXT                        -- the console account that acted, if any
) STRICT;
INSERT INTO audit_new (id, at, kind, device_id, cadre_id, client, subject, detail)
    SELECT id, at, kind, device_id, cadre_id, client, subject, detail FROM audit;
DROP TABLE audit;
ALTER TABLE audit_new RENAME TO audit;
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_kind ON audit (kind, at);
CREATE INDEX audit_device ON audit (device_id);
CREATE INDEX audit_user ON audit (user_id);
