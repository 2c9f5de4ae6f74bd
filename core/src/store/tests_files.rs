//! Files attached to answers, on real store files: kept once per content,
//! durable across a reopen, checked against their name when read,
//! encrypted with the store, and refused whole when too large.

#![allow(clippy::unwrap_used)]

use super::*;

/// A photo-sized file of varied bytes (a fixed LCG; nothing repeats, so
/// nothing compresses away) with `marker` inside.
pub(crate) fn photo(size: usize, marker: &str) -> Vec<u8> {
    let mut state: u64 = 0x5eed;
    let mut bytes: Vec<u8> = (0..size)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect();
    bytes[size / 2..size / 2 + marker.len()].copy_from_slice(marker.as_bytes());
    bytes
}

#[test]
fn a_file_is_kept_once_by_its_content_and_survives_a_reopen() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("device.db");
    let bytes = photo(300 * 1024 + 17, "HOUSE-PHOTO");
    let first = {
        let store = Store::open(&path).unwrap();
        let first = store.add_file(&bytes, "image/jpeg").unwrap();
        let again = store.add_file(&bytes, "IMAGE/JPEG").unwrap();
        assert_eq!(first, again, "the same bytes are the same file");
        assert!(is_file_reference(&first.sha256));
        assert_eq!(first.size, bytes.len() as u64);
        let chunks: i64 = store
            .read(|connection| {
                Ok(connection
                    .query_row("SELECT count(*) FROM file_chunks", [], |row| row.get(0))?)
            })
            .unwrap();
        assert_eq!(chunks, 5, "300 KiB in 64 KiB chunks, stored once");
        first
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(store.file(&first.sha256).unwrap(), Some(first.clone()));
    assert_eq!(store.file_bytes(&first.sha256).unwrap(), bytes);
    let other = store.add_file(b"", "").unwrap();
    assert_eq!(other.media_type, "application/octet-stream");
    assert_eq!(store.file_bytes(&other.sha256).unwrap(), b"");
}

#[test]
fn too_large_unreadable_unknown_and_damaged_files_are_clear_errors() {
    let directory = tempfile::tempdir().unwrap();
    let store = Store::open(directory.path().join("device.db")).unwrap();
    let huge = vec![7u8; usize::try_from(MAX_FILE_BYTES).unwrap() + 1];
    assert!(matches!(
        store.add_file(&huge, "video/mp4"),
        Err(Error::FileTooLarge { size, limit }) if size == MAX_FILE_BYTES + 1 && limit == MAX_FILE_BYTES
    ));
    let on_disk = directory.path().join("huge.mp4");
    std::fs::write(&on_disk, &huge).unwrap();
    assert!(matches!(
        store.add_file_from_path(&on_disk, "video/mp4"),
        Err(Error::FileTooLarge { .. })
    ));
    assert!(matches!(
        store.add_file_from_path(&directory.path().join("missing.jpg"), "image/jpeg"),
        Err(Error::FileUnreadable { .. })
    ));
    let count = |store: &Store| -> i64 {
        store
            .read(|connection| {
                Ok(connection.query_row("SELECT count(*) FROM files", [], |row| row.get(0))?)
            })
            .unwrap()
    };
    assert_eq!(count(&store), 0, "nothing refused is kept");

    let bytes = photo(100_000, "CARD");
    let photo_path = directory.path().join("card.jpg");
    std::fs::write(&photo_path, &bytes).unwrap();
    let kept = store.add_file_from_path(&photo_path, "image/jpeg").unwrap();
    assert!(matches!(
        store.file_bytes(&"0".repeat(64)),
        Err(Error::UnknownFile(_))
    ));
    store
        .write(|transaction| {
            transaction.execute(
                "UPDATE file_chunks SET bytes = zeroblob(length(bytes)) WHERE sha256 = ?1 AND idx = 1",
                [&kept.sha256],
            )?;
            Ok(())
        })
        .unwrap();
    assert!(
        matches!(store.file_bytes(&kept.sha256), Err(Error::Corrupt(_))),
        "damaged bytes are never handed out"
    );
}

#[test]
fn files_are_encrypted_with_the_store() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("device.db");
    let key = crate::sqlite::DatabaseKey::derive(b"the phone's keystore key").unwrap();
    let options = StoreOptions {
        key: Some(key),
        ..StoreOptions::default()
    };
    let store = Store::open_with(&path, options).unwrap();
    let kept = store
        .add_file(&photo(200_000, "SIGNED-SUPPORT-CARD"), "image/png")
        .unwrap();
    assert_eq!(store.file_bytes(&kept.sha256).unwrap().len(), 200_000);
    drop(store);
    let mut raw = std::fs::read(&path).unwrap();
    raw.extend(std::fs::read(format!("{}-wal", path.display())).unwrap_or_default());
    let marker = b"SIGNED-SUPPORT-CARD";
    assert!(
        !raw.windows(marker.len()).any(|window| window == marker),
        "a lost phone's file gives nothing away"
    );
}

/// The enrolled test store with a newer demo form that asks for a photo of
/// the house (the newest version is the one new visits take).
pub(crate) fn store_with_a_photo_question() -> (tempfile::TempDir, Store) {
    let (directory, store) = super::tests::enrolled_store();
    add_photo_question(&store);
    (directory, store)
}

/// Publishes that newer form version on `store`.
pub(super) fn add_photo_question(store: &Store) {
    let mut form = super::tests::demo_form();
    form.version = "2099010101".into();
    form.definition["version"] = "2099010101".into();
    form.definition["questions"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "name": "house_photo",
            "kind": {"type": "photo"},
            "label": {"zh-CN": "房屋照片", "en": "Photo of the house"}
        }));
    store
        .write(|transaction| super::forms::put_form(transaction, &form))
        .unwrap();
}

#[test]
fn a_visit_is_finalised_only_when_every_file_it_names_is_on_the_device() {
    let (_directory, store) = store_with_a_photo_question();
    let visit = |photo: &str, draft: bool| {
        let mut new = super::tests::new_visit(1, draft);
        new.answers.insert("house_photo".into(), photo.into());
        new
    };
    let missing = "ab".repeat(32);
    assert!(matches!(
        store.record_visit(visit(&missing, false)),
        Err(Error::UnknownFile(reference)) if reference == missing
    ));
    assert!(
        matches!(
            store.record_visit(visit("IMG_0001.jpg", false)),
            Err(Error::UnknownFile(_))
        ),
        "a file name is not a file the core keeps"
    );
    let draft = store
        .record_visit(visit(&missing, true))
        .expect("a draft may name a file not added yet");
    let kept = store
        .add_file(&photo(120_000, "HOUSE"), "image/jpeg")
        .unwrap();
    let recorded = store
        .record_visit(visit(&kept.sha256, false))
        .expect("the file is on the device");
    assert_eq!(recorded.answers["house_photo"], kept.sha256.as_str());
    assert!(matches!(
        store.finalise_draft(draft.id),
        Err(Error::UnknownFile(_))
    ));
    let unsent: i64 = store
        .read(|connection| {
            Ok(connection.query_row("SELECT count(*) FROM outbox", [], |row| row.get(0))?)
        })
        .unwrap();
    assert_eq!(unsent, 1, "only the visit whose file is here was queued");
}
