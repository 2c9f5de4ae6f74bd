-- Doorstep device store, schema version 8: files attached to answers
-- (ADR 0011). Never edit this file once shipped: add a new numbered
-- migration instead.

-- One row a file, named by the SHA-256 of its bytes (lower-case hex): the
-- same picture attached twice is one file.
CREATE TABLE files (
    sha256      TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    size        INTEGER NOT NULL CHECK (size >= 0),
    media_type  TEXT NOT NULL,
    added_at    TEXT NOT NULL,
    -- When the server confirmed it holds the whole file; NULL until then.
    synced_at   TEXT
) STRICT, WITHOUT ROWID;

-- The bytes, in chunks of 64 KiB (the last one shorter): the unit an
-- upload resumes from.
CREATE TABLE file_chunks (
    sha256  TEXT NOT NULL REFERENCES files (sha256) ON DELETE CASCADE,
    idx     INTEGER NOT NULL CHECK (idx >= 0),
    bytes   BLOB NOT NULL,
    PRIMARY KEY (sha256, idx)
) STRICT, WITHOUT ROWID;
