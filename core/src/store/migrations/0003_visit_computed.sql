-- Doorstep device store, schema version 3: calculated values.
--
-- A finalised visit keeps what its form's calculations gave (per-capita
-- income, flags), shaped like the answers, beside the answers themselves.
ALTER TABLE visits ADD COLUMN computed TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(computed));
