-- Doorstep server store, schema version 9: the change log's head in a row.
-- Never edit this file once shipped: add a new numbered migration instead.

-- The highest position ever handed out in the change log, kept in a row of
-- its own rather than read from sqlite_sequence, so that the same rule
-- holds on PostgreSQL (ADR 0013): a writer takes positions from this row
-- as its last step before committing, and holds the row until it commits,
-- so positions commit in order and a pull that read the head never skips
-- a change committed later below it.
CREATE TABLE log_head (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL CHECK (seq >= 0)
) STRICT;
INSERT INTO log_head (id, seq)
    VALUES (1, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0));
