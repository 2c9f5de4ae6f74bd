-- Doorstep server store, schema version 3: enrolment retries.
--
-- A device names its enrolment attempt with an id it keeps across retries.
-- When the answer to an enrolment is lost on the way, the device retries
-- with the same code and attempt and gets its device back (with a new
-- token) instead of "code already used".
ALTER TABLE enroll_codes ADD COLUMN attempt TEXT;
