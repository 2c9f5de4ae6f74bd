//! Console accounts from the shell: `admin add-user` prints a one-time
//! password on stdout and nothing else; bad accounts are refused with a
//! clear message and exit code 5, changing nothing.

mod common;

use common::Shell;

#[test]
fn add_user_prints_a_one_time_password_and_lists_the_account() {
    let shell = Shell::new();
    shell.county();
    let villages = shell.json(&["admin", "villages", "--json"]);
    let village = villages[0]["code"].as_str().expect("a village code");
    let township = &village[..9];
    let password = shell.ok(&[
        "admin",
        "add-user",
        "--name",
        "李娟",
        "--role",
        "supervisor",
        "--area",
        township,
    ]);
    let password = password.trim();
    assert_eq!(password.len(), 19, "{password}");
    assert!(
        password
            .chars()
            .all(|c| c == '-' || c.is_ascii_alphanumeric())
    );
    let admin = shell.ok(&["admin", "add-user", "--name", "operator", "--role", "admin"]);
    assert_ne!(admin.trim(), password, "each account its own password");
    let users = shell.json(&["admin", "users", "--json"]);
    assert_eq!(users.as_array().map(Vec::len), Some(2));
    let supervisor = users
        .as_array()
        .and_then(|users| users.iter().find(|user| user["name"] == "李娟"))
        .expect("the supervisor");
    assert_eq!(supervisor["role"], "supervisor");
    assert_eq!(supervisor["area"], township);
    assert_eq!(supervisor["must_change_password"], true);
}

#[test]
fn bad_accounts_are_refused_clearly_and_change_nothing() {
    let shell = Shell::new();
    shell.county();
    let villages = shell.json(&["admin", "villages", "--json"]);
    let village = villages[0]["code"].as_str().expect("a village code");
    let no_area = shell.fails(
        &["admin", "add-user", "--name", "a", "--role", "supervisor"],
        5,
    );
    assert!(no_area.contains("needs an area"), "{no_area}");
    let a_village = shell.fails(
        &[
            "admin",
            "add-user",
            "--name",
            "b",
            "--role",
            "supervisor",
            "--area",
            village,
        ],
        5,
    );
    assert!(a_village.contains("is a village"), "{a_village}");
    let admin_area = shell.fails(
        &[
            "admin",
            "add-user",
            "--name",
            "c",
            "--role",
            "admin",
            "--area",
            &village[..6],
        ],
        5,
    );
    assert!(admin_area.contains("an admin has no area"), "{admin_area}");
    let unknown_role = shell.run(&["admin", "add-user", "--name", "d", "--role", "root"]);
    assert_eq!(unknown_role.status.code(), Some(2), "a usage error");
    assert!(
        String::from_utf8_lossy(&unknown_role.stderr)
            .contains("possible values: admin, supervisor")
    );
    assert_eq!(
        shell.json(&["admin", "users", "--json"]),
        serde_json::json!([])
    );
}
