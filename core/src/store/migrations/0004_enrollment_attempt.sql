-- Doorstep device store, schema version 4: enrolment retries.
--
-- The id of this store's enrolment attempt, made once and sent with every
-- try, so that a retry after a lost answer is recognised by the server.
CREATE TABLE enrollment_attempt (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    attempt   TEXT NOT NULL              -- UUID
) STRICT;
