-- Doorstep server store, schema version 8: files attached to answers
-- (ADR 0011). Never edit this file once shipped: add a new numbered
-- migration instead.

-- Files the server holds whole, each checked against its name (the
-- SHA-256 of its bytes) before it was kept. The bytes are in the file
-- store (`doorstep serve --files DIR`), not here; a row is written only
-- after the file is durably there.
CREATE TABLE stored_files (
    sha256     TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    size       INTEGER NOT NULL CHECK (size >= 0),
    media_type TEXT NOT NULL,             -- as the uploading device said, sanitised
    stored_at  TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- The files each visit names (its photo, audio, video and file answers
-- that hold a reference), written with the visit when it is pushed. A
-- visit's pending files are its rows here with no `stored_files` row.
-- No foreign key to `stored_files`: a visit arrives before its files.
CREATE TABLE visit_files (
    visit_id TEXT NOT NULL REFERENCES visits (id),
    sha256   TEXT NOT NULL CHECK (length(sha256) = 64),
    PRIMARY KEY (visit_id, sha256)
) STRICT, WITHOUT ROWID;
CREATE INDEX visit_files_sha256 ON visit_files (sha256);
