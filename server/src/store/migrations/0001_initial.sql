-- Doorstep server store (embedded SQLite), schema version 1.
-- Never edit this file once shipped: add a new numbered migration instead.

-- County › township › village (县 › 乡 › 村).
CREATE TABLE areas (
    code        TEXT PRIMARY KEY,         -- national administrative code
    name        TEXT NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('county', 'township', 'village')),
    parent_code TEXT REFERENCES areas (code)
) STRICT;
CREATE INDEX areas_parent ON areas (parent_code);

CREATE TABLE households (
    id             TEXT PRIMARY KEY,      -- UUIDv7, the id used on every device
    village_code   TEXT NOT NULL REFERENCES areas (code),
    head_name      TEXT NOT NULL,
    id_card_suffix TEXT NOT NULL,
    group_name     TEXT NOT NULL,         -- 村民小组
    members        INTEGER NOT NULL CHECK (members >= 0),
    phone          TEXT NOT NULL,
    address        TEXT NOT NULL,
    lat            REAL,
    lon            REAL,
    category       TEXT NOT NULL,
    version        INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1), -- +1 on every accepted change
    updated_at     TEXT NOT NULL
) STRICT;
CREATE INDEX households_village ON households (village_code);

CREATE TABLE cadres (
    id         TEXT PRIMARY KEY,          -- UUIDv7
    name       TEXT NOT NULL,
    role       TEXT NOT NULL DEFAULT 'cadre' CHECK (role IN ('cadre', 'supervisor', 'admin')),
    created_at TEXT NOT NULL
) STRICT;

-- Pairings (结对帮扶): a cadre with a whole village or with one household.
-- A village assignment covers households imported into it later, too.
CREATE TABLE assignments (
    id           INTEGER PRIMARY KEY,
    cadre_id     TEXT NOT NULL REFERENCES cadres (id),
    village_code TEXT REFERENCES areas (code),
    household_id TEXT REFERENCES households (id),
    created_at   TEXT NOT NULL,
    CHECK ((village_code IS NULL) <> (household_id IS NULL))
) STRICT;
CREATE UNIQUE INDEX assignments_village ON assignments (cadre_id, village_code) WHERE village_code IS NOT NULL;
CREATE UNIQUE INDEX assignments_household ON assignments (cadre_id, household_id) WHERE household_id IS NOT NULL;
CREATE INDEX assignments_village_code ON assignments (village_code);
CREATE INDEX assignments_cadre ON assignments (cadre_id);
CREATE INDEX assignments_household_id ON assignments (household_id);

-- Pairings that were undone, and when. A device may still push what it
-- recorded for such a household for a grace period (it may not have heard
-- of the change yet); it no longer pulls anything of it.
CREATE TABLE assignment_history (
    id           INTEGER PRIMARY KEY,
    cadre_id     TEXT NOT NULL REFERENCES cadres (id),
    village_code TEXT REFERENCES areas (code),
    household_id TEXT REFERENCES households (id),
    assigned_at  TEXT NOT NULL,
    removed_at   TEXT NOT NULL,
    CHECK ((village_code IS NULL) <> (household_id IS NULL))
) STRICT;
CREATE INDEX assignment_history_cadre ON assignment_history (cadre_id, removed_at);
CREATE INDEX assignment_history_village ON assignment_history (village_code);
CREATE INDEX assignment_history_household ON assignment_history (household_id);

-- One-time enrolment codes. Only a hash is kept: a leaked database cannot
-- enrol a phone.
CREATE TABLE enroll_codes (
    code_hash  TEXT PRIMARY KEY,          -- SHA-256 of the normalised code, hex
    cadre_id   TEXT NOT NULL REFERENCES cadres (id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    device_id  TEXT,                      -- the device it enrolled
    CHECK ((used_at IS NULL) = (device_id IS NULL))
) STRICT;
CREATE INDEX enroll_codes_cadre ON enroll_codes (cadre_id);

CREATE TABLE devices (
    id           TEXT PRIMARY KEY,        -- UUIDv7
    cadre_id     TEXT NOT NULL REFERENCES cadres (id),
    token_hash   TEXT NOT NULL UNIQUE,    -- SHA-256 of the bearer token, hex; the token itself is never stored
    label        TEXT,
    enrolled_at  TEXT NOT NULL,
    last_seen_at TEXT,
    revoked_at   TEXT                     -- a lost phone: its token no longer works
) STRICT;
CREATE INDEX devices_cadre ON devices (cadre_id);

-- Published form versions; never updated.
CREATE TABLE forms (
    id           INTEGER PRIMARY KEY,     -- surrogate, names the form in the change log
    form_id      TEXT NOT NULL,
    version      TEXT NOT NULL,
    title        TEXT NOT NULL,
    definition   TEXT NOT NULL CHECK (json_valid(definition)),
    published_at TEXT NOT NULL,
    UNIQUE (form_id, version)
) STRICT;

CREATE TABLE visits (
    id           TEXT PRIMARY KEY,        -- UUIDv7 made on the device
    household_id TEXT NOT NULL REFERENCES households (id),
    cadre_id     TEXT NOT NULL REFERENCES cadres (id),
    device_id    TEXT NOT NULL REFERENCES devices (id),
    form_id      TEXT NOT NULL,
    form_version TEXT NOT NULL,
    answers      TEXT NOT NULL CHECK (json_valid(answers)),
    recorded_at  TEXT NOT NULL,           -- device clock
    received_at  TEXT NOT NULL,           -- server clock
    corrects     TEXT REFERENCES visits (id),
    FOREIGN KEY (form_id, form_version) REFERENCES forms (form_id, version)
) STRICT;
CREATE INDEX visits_household ON visits (household_id);
CREATE INDEX visits_cadre ON visits (cadre_id);
CREATE INDEX visits_device ON visits (device_id);
CREATE INDEX visits_form ON visits (form_id, form_version);
CREATE INDEX visits_corrects ON visits (corrects);
CREATE INDEX visits_received ON visits (received_at);

-- Exactly-once ledger: every change a device pushed that was applied, by
-- (device, sequence). A replay finds its row and changes nothing.
CREATE TABLE device_changes (
    device_id  TEXT NOT NULL REFERENCES devices (id),
    seq        INTEGER NOT NULL CHECK (seq > 0),
    entity     TEXT NOT NULL,
    entity_id  TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (device_id, seq)
) STRICT, WITHOUT ROWID;

-- The change log devices pull from, in commit order. SQLite has one writer,
-- so positions commit in order and a reader never skips a late commit.
-- Only the latest change of a household is kept (older rows are deleted
-- when it changes again); visits and forms appear once.
CREATE TABLE changes (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    entity        TEXT NOT NULL CHECK (entity IN ('household', 'visit', 'form')),
    entity_id     TEXT NOT NULL,          -- households.id, visits.id or forms.id
    household_id  TEXT REFERENCES households (id), -- NULL: for every device (forms)
    origin_device TEXT REFERENCES devices (id),    -- the device whose push made it
    created_at    TEXT NOT NULL
);
CREATE INDEX changes_household ON changes (household_id, seq);
CREATE INDEX changes_entity ON changes (entity, entity_id);
CREATE INDEX changes_origin ON changes (origin_device);
