-- Doorstep device store, schema version 5: the status view.
--
-- When the server last answered (even with an error: the phone had
-- signal), and whether the last error needs a person (a refused token, an
-- app too old) rather than time.
ALTER TABLE sync_state ADD COLUMN last_contact_at TEXT;
ALTER TABLE sync_state ADD COLUMN last_error_permanent INTEGER NOT NULL DEFAULT 0 CHECK (last_error_permanent IN (0, 1));
