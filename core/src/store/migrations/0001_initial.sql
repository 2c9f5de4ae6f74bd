-- Doorstep device store, schema version 1.
-- Never edit this file once shipped: add a new numbered migration instead.

-- Who this device is. One row at most, written by enrolment.
CREATE TABLE device (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    device_id   TEXT NOT NULL,            -- UUID given by the server at enrolment
    cadre_id    TEXT NOT NULL,            -- the cadre this phone belongs to
    cadre_name  TEXT NOT NULL,
    server_url  TEXT NOT NULL,
    token       TEXT NOT NULL,            -- bearer secret; protected by SQLCipher once a key is given
    enrolled_at TEXT NOT NULL
) STRICT;

-- Where sync stands. One row, created with the schema.
CREATE TABLE sync_state (
    singleton       INTEGER PRIMARY KEY CHECK (singleton = 1),
    cursor          INTEGER NOT NULL DEFAULT 0 CHECK (cursor >= 0), -- last server log position applied
    last_sync_at    TEXT,                 -- last sync that ran to the end
    last_attempt_at TEXT,                 -- last sync started, successful or not
    last_error      TEXT                  -- why the last attempt failed; NULL after a success
) STRICT;
INSERT INTO sync_state (singleton) VALUES (1);

-- County › township › village, as far as the device's households need them.
CREATE TABLE areas (
    code        TEXT PRIMARY KEY,         -- national administrative code
    name        TEXT NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('county', 'township', 'village')),
    parent_code TEXT REFERENCES areas (code)
) STRICT;
CREATE INDEX areas_parent ON areas (parent_code);

-- Households the device holds: those assigned to its cadre, and those kept
-- only because a change of this device about them is not acknowledged yet.
CREATE TABLE households (
    id             TEXT PRIMARY KEY,      -- UUIDv7, the same on every device and the server
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
    version        INTEGER NOT NULL CHECK (version >= 0) -- server version this copy is at
) STRICT;
CREATE INDEX households_village ON households (village_code);

-- Persons of a household. Shared records like households; filled by the form
-- engine's member roster in a later version.
CREATE TABLE members (
    id           TEXT PRIMARY KEY,
    household_id TEXT NOT NULL REFERENCES households (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    relation     TEXT NOT NULL,
    birth_year   INTEGER,
    version      INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX members_household ON members (household_id);

-- The device's scope: households assigned to its cadre as the server last
-- said. A household without a row here is held only for pending changes.
CREATE TABLE assignments (
    household_id TEXT PRIMARY KEY REFERENCES households (id) ON DELETE CASCADE,
    assigned_at  TEXT NOT NULL            -- when this device learnt of it
) STRICT;

-- Published form versions. A version never changes once published.
CREATE TABLE forms (
    form_id      TEXT NOT NULL,
    version      TEXT NOT NULL,
    title        TEXT NOT NULL,
    definition   TEXT NOT NULL CHECK (json_valid(definition)),
    published_at TEXT NOT NULL,
    PRIMARY KEY (form_id, version)
) STRICT;

-- Visits: this device's own (drafts and finalised) and those pulled for its
-- households. A finalised visit is never updated.
CREATE TABLE visits (
    id           TEXT PRIMARY KEY,        -- UUIDv7 made on the device that recorded it
    household_id TEXT NOT NULL REFERENCES households (id),
    cadre_id     TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    form_id      TEXT NOT NULL,
    form_version TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('draft', 'final')),
    origin       TEXT NOT NULL CHECK (origin IN ('own', 'pulled')),
    answers      TEXT NOT NULL CHECK (json_valid(answers)),
    recorded_at  TEXT NOT NULL,           -- finalised at (drafts: created at), device clock
    updated_at   TEXT NOT NULL,
    corrects     TEXT,                    -- id of the visit this one corrects
    received_at  TEXT,                    -- when the server stored it, once known
    FOREIGN KEY (form_id, form_version) REFERENCES forms (form_id, version),
    CHECK (origin = 'own' OR status = 'final')
) STRICT;
CREATE INDEX visits_household ON visits (household_id);
CREATE INDEX visits_form ON visits (form_id, form_version);

-- Changes waiting for the server. Written in the same transaction as the
-- change itself. `seq` is the device's sequence: (device_id, seq) names the
-- change for ever, so AUTOINCREMENT (never reuse a number).
CREATE TABLE outbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    entity        TEXT NOT NULL CHECK (entity IN ('visit')),
    entity_id     TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'rejected')),
    created_at    TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    reject_code   TEXT,
    reject_reason TEXT,
    CHECK ((state = 'rejected') = (reject_reason IS NOT NULL))
) STRICT;
CREATE INDEX outbox_entity ON outbox (entity, entity_id);
CREATE INDEX outbox_state ON outbox (state, seq);
