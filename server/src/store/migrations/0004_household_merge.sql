-- Doorstep server store, schema version 4: shared households, merged per
-- field.
--
-- Every value a household field takes, by which change, from which base:
-- the latest row of a field is its merge clock (the version that last set
-- it, the hybrid logical clock reading and the origin); the rows before it
-- are the audit trail supervisors ask for ("who changed this phone?").
-- A field without a row has kept its value since the household was created.
CREATE TABLE household_fields (
    household_id  TEXT NOT NULL REFERENCES households (id),
    field         TEXT NOT NULL,
    version       INTEGER NOT NULL CHECK (version >= 1), -- household version this write made
    value         TEXT NOT NULL CHECK (json_valid(value)),
    hlc           INTEGER NOT NULL CHECK (hlc >= 0),
    origin_device TEXT REFERENCES devices (id),          -- NULL: the server (an operator's import)
    edit_id       TEXT,                                  -- the device's edit, if any
    base_version  INTEGER NOT NULL CHECK (base_version >= 0), -- the version the writer had seen
    changed_at    TEXT NOT NULL,
    PRIMARY KEY (household_id, field, version)
) STRICT, WITHOUT ROWID;

-- Same-field conflicts the merge settled: the value kept and the value that
-- lost, for supervisors to review and devices to show.
CREATE TABLE conflicts (
    id            INTEGER PRIMARY KEY,
    household_id  TEXT NOT NULL REFERENCES households (id),
    field         TEXT NOT NULL,
    version       INTEGER NOT NULL,       -- household version after the merge
    kept          TEXT NOT NULL CHECK (json_valid(kept)),
    lost          TEXT NOT NULL CHECK (json_valid(lost)),
    kept_by       TEXT REFERENCES devices (id),
    lost_by       TEXT REFERENCES devices (id),
    kept_hlc      INTEGER NOT NULL,
    lost_hlc      INTEGER NOT NULL,
    lost_edit     TEXT,                   -- the losing device edit, if it was the incoming one
    decided_at    TEXT NOT NULL
) STRICT;
CREATE INDEX conflicts_household ON conflicts (household_id);
CREATE INDEX conflicts_decided ON conflicts (decided_at);

-- The change log learns a fourth kind of entry, 'conflict'. SQLite cannot
-- alter a CHECK, so the table is rebuilt; positions are kept, and so is the
-- highest position ever handed out (sqlite_sequence), which pulls rely on.
CREATE TABLE changes_new (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    entity        TEXT NOT NULL CHECK (entity IN ('household', 'visit', 'form', 'conflict')),
    entity_id     TEXT NOT NULL,          -- households.id, visits.id, forms.id or conflicts.id
    household_id  TEXT REFERENCES households (id), -- NULL: for every device (forms)
    origin_device TEXT REFERENCES devices (id),    -- the device whose push made it
    created_at    TEXT NOT NULL
);
INSERT INTO changes_new (seq, entity, entity_id, household_id, origin_device, created_at)
    SELECT seq, entity, entity_id, household_id, origin_device, created_at FROM changes;
DELETE FROM sqlite_sequence WHERE name = 'changes_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'changes_new', seq FROM sqlite_sequence WHERE name = 'changes';
DROP TABLE changes;
ALTER TABLE changes_new RENAME TO changes;
CREATE INDEX changes_household ON changes (household_id, seq);
CREATE INDEX changes_entity ON changes (entity, entity_id);
CREATE INDEX changes_origin ON changes (origin_device);

-- The exactly-once ledger names household edits as well as visits.
-- (device_changes.entity has no CHECK: 'visit' or 'household_edit'.)
