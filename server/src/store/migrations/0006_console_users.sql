-- Doorstep server store, schema version 6: the console's accounts.
-- Never edit this file once shipped: add a new numbered migration instead.

-- People who use the web console (ADR 0010): admins (the whole server) and
-- supervisors (one county or township and all below it). Never a cadre's
-- device: devices keep their own tokens.
CREATE TABLE users (
    id             TEXT PRIMARY KEY,               -- UUID
    name           TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'supervisor')),
    -- A supervisor's area (a county or a township); NULL for an admin.
    area_code      TEXT REFERENCES areas (code),
    -- Argon2id, as a PHC string; never the password itself.
    password_hash  TEXT NOT NULL,
    -- 1 while the password is the one-time password printed by add-user:
    -- the first login must set a new one.
    must_change    INTEGER NOT NULL DEFAULT 1 CHECK (must_change IN (0, 1)),
    created_at     TEXT NOT NULL,
    disabled_at    TEXT,
    CHECK ((role = 'admin') = (area_code IS NULL))
) STRICT;

-- Console sessions: the cookie's token is kept only as its SHA-256.
CREATE TABLE console_sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    -- Sent in every form of the session and checked on every POST.
    csrf_token   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
) STRICT;
CREATE INDEX console_sessions_user ON console_sessions (user_id);
