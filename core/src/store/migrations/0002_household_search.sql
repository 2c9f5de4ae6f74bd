-- Doorstep device store, schema version 2: household search.
--
-- Chinese names are mostly two or three characters, so FTS5's trigram
-- tokenizer cannot find them by a part. Instead every one- and two-character
-- piece ("gram") of a household's searchable text is indexed; a query looks
-- up its own grams, intersects, then confirms the whole query in `text`.
-- Rows are (re)built by the store whenever a household is written.
CREATE TABLE household_search (
    household_id TEXT PRIMARY KEY REFERENCES households (id) ON DELETE CASCADE,
    text         TEXT NOT NULL            -- normalised: name, ID suffix, phone, address, village, group
) STRICT;

CREATE TABLE household_grams (
    gram         TEXT NOT NULL,
    household_id TEXT NOT NULL REFERENCES households (id) ON DELETE CASCADE,
    PRIMARY KEY (gram, household_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX household_grams_household ON household_grams (household_id);
