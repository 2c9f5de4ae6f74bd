-- Doorstep server store, schema version 5: what the security issue added.
-- Never edit this file once shipped: add a new numbered migration instead.

-- A device's first authenticated request of any kind. An enrolment retry
-- (same code, same attempt) is honoured only while it is NULL: after it,
-- the device has its token, and a retry would be a takeover.
ALTER TABLE devices ADD COLUMN first_seen_at TEXT;
-- Devices enrolled before this version count as having used their token:
-- a retry of their enrolment is refused (ask the operator for a new code).
UPDATE devices SET first_seen_at = coalesce(last_seen_at, enrolled_at);
-- Why a device's token stopped working: 'revoked' by an operator (a lost
-- phone), 'retired' by the device itself when it was wiped.
ALTER TABLE devices ADD COLUMN revoked_reason TEXT
    CHECK (revoked_reason IS NULL OR revoked_reason IN ('revoked', 'retired'));
UPDATE devices SET revoked_reason = 'revoked' WHERE revoked_at IS NOT NULL;

-- SHA-256 (hex) of a visit as its device pushed it: the same id pushed
-- again with other content is a conflict, never a duplicate. NULL for
-- visits received before this version (then the id alone decides).
ALTER TABLE visits ADD COLUMN digest TEXT;
-- 1 when the device's clock put `recorded_at` more than a day after the
-- server received the visit: the phone's clock is wrong, and `today()`
-- was judged by the server's date instead.
ALTER TABLE visits ADD COLUMN clock_ahead INTEGER NOT NULL DEFAULT 0 CHECK (clock_ahead IN (0, 1));
-- The same for every change in the exactly-once ledger.
ALTER TABLE device_changes ADD COLUMN digest TEXT;

-- The audit log: enrolments and their retries, revocations, admin actions,
-- refused pushes and throttled clients. Ids, codes and reasons only, never
-- answers, names or ID-card numbers.
CREATE TABLE audit (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN (
                  'enrolled', 'enrol_retried', 'enrol_refused', 'device_revoked',
                  'device_retired', 'change_refused', 'change_skipped', 'client_throttled',
                  'households_imported', 'cadre_added', 'assigned', 'unassigned',
                  'form_published', 'enrol_code_issued')),
    device_id TEXT,                       -- the device concerned, if any
    cadre_id  TEXT,                       -- the cadre concerned, if any
    client    TEXT,                       -- the client's network address, for requests
    subject   TEXT,                       -- what was acted on: an id, a village code, form@version
    detail    TEXT                        -- a reason or a count; never personal data
) STRICT;
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_kind ON audit (kind, at);
CREATE INDEX audit_device ON audit (device_id);
