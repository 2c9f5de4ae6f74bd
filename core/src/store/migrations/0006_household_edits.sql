-- Doorstep device store, schema version 6: cadres correct households.
--
-- The device's hybrid logical clock (see docs/protocol.md) and how far its
-- own clock was from the server's at the last answer, so a phone whose
-- clock is a year off still stamps its edits with sensible times.
ALTER TABLE sync_state ADD COLUMN hlc INTEGER NOT NULL DEFAULT 0 CHECK (hlc >= 0);
ALTER TABLE sync_state ADD COLUMN clock_offset_ms INTEGER NOT NULL DEFAULT 0;

-- Edits of shared household records not yet acknowledged by the server:
-- only the fields changed, and the server version the cadre was looking at.
-- The household row shows them at once; a record pulled from the server is
-- shown with these laid on top, until the server has them.
CREATE TABLE household_edits (
    id           TEXT PRIMARY KEY,        -- UUIDv7, names the edit for ever
    household_id TEXT NOT NULL REFERENCES households (id),
    base_version INTEGER NOT NULL CHECK (base_version >= 0),
    fields       TEXT NOT NULL CHECK (json_valid(fields)),
    hlc          INTEGER NOT NULL CHECK (hlc >= 0),
    edited_at    TEXT NOT NULL            -- device clock, for people
) STRICT;
CREATE INDEX household_edits_household ON household_edits (household_id);

-- Same-field conflicts the server settled for this device's households.
CREATE TABLE conflicts (
    id           INTEGER PRIMARY KEY,     -- the server's id
    household_id TEXT NOT NULL,
    field        TEXT NOT NULL,
    version      INTEGER NOT NULL,
    kept         TEXT NOT NULL CHECK (json_valid(kept)),
    lost         TEXT NOT NULL CHECK (json_valid(lost)),
    kept_by      TEXT,
    lost_by      TEXT,
    kept_hlc     INTEGER NOT NULL,
    lost_hlc     INTEGER NOT NULL,
    decided_at   TEXT NOT NULL
) STRICT;
CREATE INDEX conflicts_household ON conflicts (household_id);

-- The outbox learns a second kind of entry. SQLite cannot alter a CHECK,
-- so the table is rebuilt, keeping every row and the highest sequence ever
-- handed out: (device, seq) names a change for ever, a number must never
-- come back.
CREATE TABLE outbox_new (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    entity        TEXT NOT NULL CHECK (entity IN ('visit', 'household_edit')),
    entity_id     TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'rejected')),
    created_at    TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    reject_code   TEXT,
    reject_reason TEXT,
    CHECK ((state = 'rejected') = (reject_reason IS NOT NULL))
) STRICT;
INSERT INTO outbox_new (seq, entity, entity_id, state, created_at, attempts, reject_code, reject_reason)
    SELECT seq, entity, entity_id, state, created_at, attempts, reject_code, reject_reason FROM outbox;
DELETE FROM sqlite_sequence WHERE name = 'outbox_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'outbox_new', seq FROM sqlite_sequence WHERE name = 'outbox';
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_entity ON outbox (entity, entity_id);
CREATE INDEX outbox_state ON outbox (state, seq);
