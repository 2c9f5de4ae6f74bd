-- Doorstep server store, schema version 2: calculated values.
--
-- The server computes a visit's calculations itself when it validates the
-- push, and keeps them beside the answers (exports show them).
ALTER TABLE visits ADD COLUMN computed TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(computed));
