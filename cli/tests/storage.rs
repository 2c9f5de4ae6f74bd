//! `doorstep device storage` and `doorstep device retention` with the real
//! binary, on a store made by the core (no server needed): the figures, a
//! policy set, shown, applied and cleared, and the errors.

use serde_json::Value;

mod common;

use common::Shell;

/// A fresh store holding two files of 200 000 and 300 000 bytes, the
/// first confirmed by the server ten days ago.
fn store_with_files(shell: &Shell) -> (String, String) {
    let store = doorstep_core::Store::open(shell.path("device.db")).expect("store");
    let bytes = |size: usize, seed: u8| -> Vec<u8> {
        (0..size)
            .map(|index| (index as u8).wrapping_mul(31).wrapping_add(seed) ^ (index >> 9) as u8)
            .collect()
    };
    let sent = store
        .add_file(&bytes(200_000, 1), "image/jpeg")
        .expect("add");
    let unsent = store
        .add_file(&bytes(300_000, 2), "image/jpeg")
        .expect("add");
    drop(store);
    let connection = doorstep_core::sqlite::open(
        &shell.path("device.db"),
        doorstep_core::sqlite::Durability::Full,
    )
    .expect("open");
    let ten_days_ago = chrono::Utc::now() - chrono::Duration::days(10);
    connection
        .execute(
            "UPDATE files SET synced_at = ?1 WHERE sha256 = ?2",
            [
                doorstep_core::sqlite::time_text(ten_days_ago),
                sent.sha256.clone(),
            ],
        )
        .expect("mark synced");
    (sent.sha256, unsent.sha256)
}

fn device(args: &[&str]) -> Vec<String> {
    ["device", "--db", "device.db"]
        .iter()
        .chain(args)
        .map(|arg| arg.to_string())
        .collect()
}

fn run_json(shell: &Shell, args: &[&str]) -> Value {
    let all = device(args);
    shell.json(&all.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn storage_and_retention_from_the_shell() {
    let shell = Shell::new();
    store_with_files(&shell);
    let storage = run_json(&shell, &["storage", "--json"]);
    assert_eq!(storage["files"], 2);
    assert_eq!(storage["file_bytes"], 500_000);
    assert_eq!(
        (
            storage["files_pending"].as_u64(),
            storage["bytes_pending"].as_u64()
        ),
        (Some(1), Some(300_000))
    );
    assert_eq!(storage["policy"]["synced_files_days"], Value::Null);
    assert!(storage["disk_bytes"].as_u64().expect("disk bytes") >= 500_000);

    let table = shell.ok(&device(&["storage"])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    assert!(
        table.contains("files_pending\t1\t300000 (293.0 KiB)"),
        "{table}"
    );
    assert!(
        table.contains("synced_files_days\tkeep for ever"),
        "{table}"
    );

    let set = run_json(
        &shell,
        &[
            "retention",
            "--synced-files-days",
            "7",
            "--visits-per-household",
            "5",
            "--json",
        ],
    );
    assert_eq!(set["policy"]["synced_files_days"], 7);
    assert_eq!(set["policy"]["visits_per_household"], 5);
    assert_eq!(set["applied"], Value::Null);
    let capped = run_json(
        &shell,
        &["retention", "--synced-files-max-mb", "100", "--json"],
    );
    assert_eq!(
        capped["policy"]["synced_files_days"], 7,
        "options change only what they name"
    );
    assert_eq!(
        capped["policy"]["synced_files_max_bytes"],
        100 * 1024 * 1024
    );
    assert_eq!(
        run_json(&shell, &["retention", "--json"])["policy"],
        capped["policy"]
    );

    let applied = run_json(&shell, &["retention", "--apply", "--json"]);
    assert_eq!(applied["applied"]["files_removed"], 1, "{applied}");
    assert_eq!(applied["applied"]["bytes_removed"], 200_000);
    assert!(
        applied["applied"]["bytes_reclaimed"]
            .as_u64()
            .expect("reclaimed")
            >= 150_000
    );
    let after = run_json(&shell, &["storage", "--json"]);
    assert_eq!(
        (after["files"].as_u64(), after["files_pending"].as_u64()),
        (Some(1), Some(1))
    );

    let zero = run_json(
        &shell,
        &[
            "retention",
            "--synced-files-days",
            "0",
            "--synced-files-max-mb",
            "0",
            "--apply",
            "--json",
        ],
    );
    assert_eq!(
        zero["applied"]["files_removed"], 0,
        "the unsent file stays whatever the policy"
    );
    let cleared = run_json(&shell, &["retention", "--keep-forever", "--json"]);
    assert_eq!(
        cleared["policy"],
        serde_json::json!({"synced_files_days": null, "synced_files_max_bytes": null, "visits_per_household": null})
    );
}

#[test]
fn retention_errors_are_clear() {
    let shell = Shell::new();
    let missing = shell.fails(&["device", "--db", "none.db", "storage"], 5);
    assert!(missing.contains("no device store at none.db"), "{missing}");
    assert!(!shell.path("none.db").exists());
    store_with_files(&shell);
    let negative = shell.run(
        &device(&["retention", "--synced-files-days", "-1"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(negative.status.code(), Some(2), "a usage error");
    let both = shell.run(
        &device(&["retention", "--keep-forever", "--visits-per-household", "3"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(both.status.code(), Some(2));
    let huge = shell.fails(
        &device(&["retention", "--synced-files-max-mb", "18446744073709551615"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        5,
    );
    assert!(huge.contains("too large"), "{huge}");
    assert_eq!(
        run_json(&shell, &["retention", "--json"])["policy"]["synced_files_max_bytes"],
        Value::Null,
        "nothing was set"
    );
}
