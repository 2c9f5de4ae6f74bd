-- Doorstep device store, schema version 9: which files each finalised visit
-- names, and the retention the app sets (ADR 0011). Never edit this file
-- once shipped: add a new numbered migration instead.

-- Written with the visit when it is finalised. A file goes up once a visit
-- naming it has reached the server (the server takes only files its
-- visits name); retention keeps what a visit still needs. Visits finalised
-- before this version named no stored file (files came with version 8,
-- in the same release).
CREATE TABLE visit_files (
    visit_id  TEXT NOT NULL REFERENCES visits (id) ON DELETE CASCADE,
    sha256    TEXT NOT NULL CHECK (length(sha256) = 64),
    PRIMARY KEY (visit_id, sha256)
) STRICT, WITHOUT ROWID;
CREATE INDEX visit_files_sha256 ON visit_files (sha256);

-- The retention policy (one row). NULL: keep for ever.
CREATE TABLE retention (
    id                      INTEGER PRIMARY KEY CHECK (id = 1),
    -- Files the server holds are removed this many days after it
    -- confirmed them.
    synced_files_days       INTEGER CHECK (synced_files_days >= 0),
    -- ... and, oldest confirmed first, while together they take more.
    synced_files_max_bytes  INTEGER CHECK (synced_files_max_bytes >= 0),
    -- Visits pulled from the server beyond the newest K of a household
    -- are removed.
    visits_per_household    INTEGER CHECK (visits_per_household >= 0)
) STRICT;
INSERT INTO retention (id) VALUES (1);
