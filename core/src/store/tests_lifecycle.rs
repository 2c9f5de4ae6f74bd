//! Encrypted stores, keys, rekeying and wiping, on real files.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use super::tests::{fill, new_visit};
use super::*;
use crate::sqlite::KeyError;

fn key(material: &str) -> DatabaseKey {
    DatabaseKey::derive(material.as_bytes()).unwrap()
}

fn keyed(key: Option<DatabaseKey>) -> StoreOptions {
    StoreOptions {
        durability: Durability::Normal,
        key,
        ..StoreOptions::default()
    }
}

/// The database file and its WAL, as bytes (a missing file is empty).
fn file_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap_or_default();
    bytes.extend(std::fs::read(wal(path)).unwrap_or_default());
    bytes
}

fn wal(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}-wal", path.display()))
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// What a lost phone must not give away: a head of household's name, a
/// phone number, a member's name from a visit's answers, the token.
const SECRETS: [&str; 4] = ["欧阳娜娜", "13800000000", "喻小红", "secret"];

#[test]
fn an_encrypted_store_shows_no_names_phone_numbers_or_token_in_its_file_or_wal() {
    for encrypted in [false, true] {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("device.db");
        let store = Store::open_with(&path, keyed(encrypted.then(|| key("k")))).unwrap();
        fill(&store);
        store.record_visit(new_visit(1, false)).unwrap();
        // Looked at while the store is open: the WAL holds the latest pages.
        assert!(std::fs::metadata(wal(&path)).unwrap().len() > 0);
        let bytes = file_bytes(&path);
        for secret in SECRETS {
            assert_eq!(
                contains(&bytes, secret),
                !encrypted,
                "{secret:?} in the {} store's file",
                if encrypted { "encrypted" } else { "plain" }
            );
        }
        assert_eq!(crate::sqlite::is_plain(&path).unwrap(), Some(!encrypted));
    }
}

#[test]
fn a_wrong_or_missing_key_fails_cleanly_and_changes_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("device.db");
    let store = Store::open_with(&path, keyed(Some(key("right")))).unwrap();
    fill(&store);
    store.record_visit(new_visit(1, false)).unwrap();
    // Still open: a crash now would leave the WAL beside the file.
    let before = file_bytes(&path);
    let error = Store::open_with(&path, keyed(Some(key("wrong")))).unwrap_err();
    assert!(matches!(error, Error::Key(KeyError::Wrong)), "{error}");
    let error = Store::open_existing(&path, keyed(None)).unwrap_err();
    assert!(matches!(error, Error::Key(KeyError::Missing)), "{error}");
    assert_eq!(
        file_bytes(&path),
        before,
        "a refused open wrote to the file"
    );
    drop(store);
    let reopened = Store::open_existing(&path, keyed(Some(key("right")))).unwrap();
    assert_eq!(reopened.status().unwrap().pending, 1);
    assert_eq!(reopened.households(None).unwrap().len(), 3);

    let plain = directory.path().join("plain.db");
    drop(Store::open_with(&plain, keyed(None)).unwrap());
    let error = Store::open_existing(&plain, keyed(Some(key("k")))).unwrap_err();
    assert!(
        matches!(error, Error::Key(KeyError::NotEncrypted)),
        "{error}"
    );
    assert!(matches!(DatabaseKey::derive(b""), Err(KeyError::Empty)));
}

#[test]
fn rekeying_encrypts_changes_and_removes_the_key_and_keeps_everything() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("device.db");
    let store = Store::open_with(&path, keyed(None)).unwrap();
    fill(&store);
    store.record_visit(new_visit(1, false)).unwrap();
    let first = store.next_push_batch(10, usize::MAX).unwrap()[0].seq;
    let status = store.status().unwrap();

    store.rekey(Some(&key("one"))).unwrap();
    for secret in SECRETS {
        assert!(
            !contains(&file_bytes(&path), secret),
            "{secret:?} after rekey"
        );
    }
    // The store goes on working with the new key, and only with it.
    store.record_visit(new_visit(2, false)).unwrap();
    store.rekey(Some(&key("two"))).unwrap();
    drop(store);
    let error = Store::open_existing(&path, keyed(Some(key("one")))).unwrap_err();
    assert!(matches!(error, Error::Key(KeyError::Wrong)), "{error}");
    let store = Store::open_existing(&path, keyed(Some(key("two")))).unwrap();
    assert_eq!(store.status().unwrap().pending, status.pending + 1);
    assert_eq!(store.status().unwrap().households, status.households);

    store.rekey(None).unwrap();
    drop(store);
    let store = Store::open_existing(&path, keyed(None)).unwrap();
    assert!(contains(&file_bytes(&path), "欧阳娜娜"));
    // The schema version and the outbox's sequence survive the copies: a
    // new change never reuses a number the server may have seen.
    store
        .settle_push(
            &[(first, doorstep_protocol::Outcome::Applied)],
            chrono::Utc::now(),
        )
        .unwrap();
    store.record_visit(new_visit(3, false)).unwrap();
    let batch = store.next_push_batch(10, usize::MAX).unwrap();
    assert!(batch.iter().all(|change| change.seq > first));
    assert_eq!(batch.len(), 2);
    assert!(!Path::new(&format!("{}-rekey", path.display())).exists());
}

#[test]
fn a_wipe_refuses_while_changes_are_unsynced_unless_forced_and_leaves_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("device.db");
    let store = Store::open_with(&path, keyed(Some(key("k")))).unwrap();
    fill(&store);
    store.record_visit(new_visit(1, false)).unwrap();
    store.record_visit(new_visit(2, true)).unwrap();
    let error = store.wipe(false).unwrap_err();
    assert!(
        matches!(
            error,
            Error::Unsynced {
                changes: 1,
                drafts: 1
            }
        ),
        "{error}"
    );
    assert_eq!(
        store.status().unwrap().pending,
        1,
        "a refused wipe erased something"
    );
    let lost = store.wipe(true).unwrap();
    assert_eq!(
        lost,
        Unsynced {
            changes: 1,
            drafts: 1
        }
    );
    for file in [
        path.clone(),
        wal(&path),
        PathBuf::from(format!("{}-shm", path.display())),
    ] {
        assert!(!file.exists(), "{} is still there", file.display());
    }
    assert!(matches!(store.status(), Err(Error::Wiped)));
    assert!(matches!(
        store.record_visit(new_visit(1, false)),
        Err(Error::Wiped)
    ));
    assert!(matches!(
        Store::open_existing(&path, keyed(Some(key("k")))),
        Err(Error::NoStore { .. })
    ));
}

#[test]
fn a_store_that_must_exist_is_never_created() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("missing.db");
    assert!(matches!(
        Store::open_existing(&path, keyed(None)),
        Err(Error::NoStore { .. })
    ));
    assert!(!path.exists());
}

#[cfg(unix)]
#[test]
fn store_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("device.db");
    let store = Store::open_with(&path, keyed(Some(key("k")))).unwrap();
    fill(&store);
    for file in [
        path.clone(),
        wal(&path),
        PathBuf::from(format!("{}-shm", path.display())),
    ] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
    // A store made before files were private is tightened when opened.
    drop(store);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _store = Store::open_existing(&path, keyed(Some(key("k")))).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
