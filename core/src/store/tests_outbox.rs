//! Recording and the outbox: the visit returned is the visit stored, a
//! sequence number is never handed out twice, a finalised visit names its
//! entry, and recording one writes few pages.

#![allow(clippy::unwrap_used)]

use uuid::Uuid;

use super::tests::{enrolled_store, new_visit};
use super::*;
use crate::model::{NewVisit, VisitSync};

#[test]
fn the_outbox_rebuild_never_hands_out_a_used_sequence_again() {
    // A version 5 store whose highest sequence was settled and deleted:
    // after migration 6 rebuilt the outbox, the next change gets a new
    // number, not the deleted one's.
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("device.db");
    {
        let mut connection = crate::sqlite::open(&path, crate::sqlite::Durability::Full).unwrap();
        crate::sqlite::migrate(&mut connection, &MIGRATIONS[..5]).unwrap();
        connection
            .execute_batch(
                "INSERT INTO outbox (entity, entity_id, created_at) VALUES ('visit', 'a', 'x'), ('visit', 'b', 'x');
                 DELETE FROM outbox;",
            )
            .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let seq: i64 = store
        .write(|transaction| {
            transaction.execute(
                "INSERT INTO outbox (entity, entity_id, created_at) VALUES ('household_edit', 'c', 'x')",
                [],
            )?;
            Ok(transaction.last_insert_rowid())
        })
        .unwrap();
    assert_eq!(seq, 3);
}

#[test]
fn a_visit_queued_before_version_10_keeps_its_sync_state() {
    // A version 9 store with a pending visit, a rejected one and a synced
    // one: after migration 10 each visit names its entry (or none), and
    // reads back as it was.
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("device.db");
    let (pending, rejected, synced) = {
        let (_fresh, store) = enrolled_store();
        let visits: Vec<Uuid> = (0..3)
            .map(|_| store.record_visit(new_visit(1, false)).unwrap().id)
            .collect();
        let connection = lock(&store.writer);
        connection
            .execute("VACUUM INTO ?1", [path.to_str().unwrap()])
            .unwrap();
        (visits[0], visits[1], visits[2])
    };
    {
        // Back to version 9's shape: no outbox_seq, version 9's indexes.
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection
            .execute_batch(&format!(
                "DROP INDEX outbox_household_edits; DROP INDEX outbox_rejected;
                 ALTER TABLE visits DROP COLUMN outbox_seq;
                 CREATE INDEX visits_form ON visits (form_id, form_version);
                 CREATE INDEX outbox_entity ON outbox (entity, entity_id);
                 CREATE INDEX outbox_state ON outbox (state, seq);
                 UPDATE outbox SET state = 'rejected', reject_code = 'invalid', reject_reason = 'no'
                  WHERE entity_id = '{rejected}';
                 DELETE FROM outbox WHERE entity_id = '{synced}';
                 PRAGMA user_version = 9;"
            ))
            .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let sync = |id| store.visit(id).unwrap().unwrap().sync;
    assert_eq!(sync(pending), VisitSync::Pending);
    assert!(matches!(sync(rejected), VisitSync::Rejected { .. }));
    assert_eq!(sync(synced), VisitSync::Synced);
    let fresh = Store::open(directory.path().join("fresh.db")).unwrap();
    let dump = |store: &Store| sqlite::schema_dump(&lock(&store.writer)).unwrap();
    assert_eq!(dump(&store), dump(&fresh));
    let status = store.status().unwrap();
    assert_eq!((status.pending, status.rejected), (1, 1));
}

/// Pages a finalised visit appends to the WAL, on average over `visits`:
/// what its commit makes durable (and, at FULL, what the fsync waits for).
fn wal_pages_a_visit(store: &Store, visits: u32) -> f64 {
    let frames = || -> i64 {
        lock(&store.writer)
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
            .unwrap()
    };
    lock(&store.writer)
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    assert_eq!(frames(), 0);
    for _ in 0..visits {
        store.record_visit(new_visit(1, false)).unwrap();
    }
    frames() as f64 / f64::from(visits)
}

#[test]
fn a_finalised_visit_writes_few_pages() {
    // The visit's row, its id index, the household index, the outbox entry
    // and the outbox's sequence counter: five pages a visit, and now and
    // then a page split or an interior page. Version 9's schema wrote
    // three more.
    let (_directory, store) = enrolled_store();
    for _ in 0..50 {
        store.record_visit(new_visit(1, false)).unwrap();
    }
    let pages = wal_pages_a_visit(&store, 50);
    // The same store with version 9's three indexes back writes more.
    lock(&store.writer)
        .execute_batch(
            "CREATE INDEX visits_form ON visits (form_id, form_version);
             CREATE INDEX outbox_entity ON outbox (entity, entity_id);
             CREATE INDEX outbox_state ON outbox (state, seq);",
        )
        .unwrap();
    let before = wal_pages_a_visit(&store, 50);
    eprintln!("WAL pages a finalised visit: {pages:.2} (with version 9's indexes {before:.2})");
    assert!(pages <= 6.5, "{pages:.2} pages a visit");
    assert!(before >= pages + 2.5, "{before:.2} against {pages:.2}");
}

#[test]
fn a_push_batch_stops_at_its_bytes_but_always_carries_one_change() {
    let (_directory, store) = enrolled_store();
    for _ in 0..10 {
        store.record_visit(new_visit(1, false)).unwrap();
    }
    // Every visit here has the same answers: a change counts their stored
    // JSON and its envelope.
    let answers: i64 = lock(&store.writer)
        .query_row(
            "SELECT length(CAST(answers AS BLOB)) FROM visits LIMIT 1",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let change = usize::try_from(answers).unwrap() + super::sync::CHANGE_ENVELOPE_BYTES;
    let seqs = |batch: Vec<doorstep_protocol::Change>| -> Vec<u64> {
        batch.iter().map(|change| change.seq).collect()
    };
    assert_eq!(
        seqs(store.next_push_batch(100, 3 * change).unwrap()),
        [1, 2, 3]
    );
    assert_eq!(
        seqs(store.next_push_batch(100, 3 * change - 1).unwrap()),
        [1, 2]
    );
    assert_eq!(seqs(store.next_push_batch(100, 1).unwrap()), [1]);
    // The count bounds it too.
    assert_eq!(seqs(store.next_push_batch(4, usize::MAX).unwrap()).len(), 4);
}

#[test]
fn the_visit_returned_is_the_visit_stored() {
    // `record_visit` builds what it returns instead of reading it back.
    let (_directory, store) = enrolled_store();
    let mut recorded = Vec::new();
    for draft in [false, true] {
        recorded.push(store.record_visit(new_visit(1, draft)).unwrap());
    }
    recorded.push(
        store
            .record_visit(NewVisit {
                corrects: Some(recorded[0].id),
                ..new_visit(1, false)
            })
            .unwrap(),
    );
    for visit in recorded {
        assert_eq!(store.visit(visit.id).unwrap(), Some(visit));
    }
}
