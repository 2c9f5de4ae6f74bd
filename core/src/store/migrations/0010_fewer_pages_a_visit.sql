-- Doorstep device store, schema version 10: fewer pages written a
-- finalised visit (issue 13). Never edit this file once shipped: add a new
-- numbered migration instead.
--
-- A finalised visit wrote nine B-tree pages to the WAL before it was
-- durable: the visit's row, its id index, two indexes of visits, the outbox
-- entry, two indexes of the outbox and the sequence counter. Each index
-- below that no query of a visit needs is gone or covers only the rows
-- that need it, and the visit names its outbox entry itself. The outbox
-- keeps AUTOINCREMENT: (device_id, seq) names a change for ever, and a
-- settled entry is deleted, so the counter must outlive it.

-- The outbox entry of a finalised own visit (its `seq`); the visit's sync
-- state is that entry's, or synced once it left the outbox. NULL for
-- drafts and pulled visits.
ALTER TABLE visits ADD COLUMN outbox_seq INTEGER;
UPDATE visits
   SET outbox_seq = (SELECT o.seq FROM outbox o WHERE o.entity = 'visit' AND o.entity_id = visits.id)
 WHERE id IN (SELECT entity_id FROM outbox WHERE entity = 'visit');

-- No query looks visits up by form (forms are never deleted).
DROP INDEX visits_form;

-- Only household edits are looked up by their outbox entry now.
DROP INDEX outbox_entity;
CREATE INDEX outbox_household_edits ON outbox (entity_id) WHERE entity = 'household_edit';

-- Pending entries are read in `seq` order from the table itself (the
-- outbox holds only what the server has not settled); the few rejected
-- ones have their own index.
DROP INDEX outbox_state;
CREATE INDEX outbox_rejected ON outbox (seq) WHERE state = 'rejected';
