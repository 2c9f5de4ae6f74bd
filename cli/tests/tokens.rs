//! Admin-API tokens from the shell: `admin add-token` prints the token
//! once on stdout and nothing else, `admin tokens` never shows one,
//! `admin revoke-token` closes the door at once; and `serve --metrics`
//! counts the API's requests on its own listener. Bad input is refused
//! with exit code 5 and changes nothing.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use common::Shell;

/// `doorstep serve` with metrics: the process and the two URLs it prints.
struct Served {
    child: Child,
    url: String,
    metrics: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_with_metrics(shell: &Shell) -> Served {
    let mut child = shell
        .command(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut line = || lines.next().expect("a line").expect("text");
    let (url, metrics) = (line(), line());
    Served {
        child,
        url,
        metrics,
    }
}

fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let client = doorstep_e2e::raw_client("127.0.0.1".parse().expect("address"));
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().expect("answered");
    (response.status().as_u16(), response.text().expect("a body"))
}

#[test]
fn a_token_is_printed_once_opens_the_api_and_is_revoked_at_once() {
    let shell = Shell::new();
    shell.county();
    shell.ok(&["admin", "add-user", "--name", "operator", "--role", "admin"]);
    let token = shell.ok(&[
        "admin",
        "add-token",
        "--user",
        "operator",
        "--label",
        "nightly export",
    ]);
    assert_eq!(
        token.lines().count(),
        1,
        "only the token on stdout: {token}"
    );
    let token = token.trim().to_owned();
    assert!(token.starts_with("dsa_") && token.len() == 68, "{token}");
    let issued = shell.json(&[
        "admin",
        "add-token",
        "--user",
        "operator",
        "--label",
        "dashboard",
        "--json",
    ]);
    let second = issued["token"].as_str().expect("a token").to_owned();
    assert_ne!(second, token);
    let listed = shell.ok(&["admin", "tokens", "--json"]);
    assert!(
        !listed.contains(&token) && !listed.contains(&second),
        "{listed}"
    );
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("JSON");
    let rows = listed.as_array().expect("an array");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["label"], "nightly export");
    assert_eq!(rows[1]["id"], issued["id"]);
    let id = rows[0]["id"].as_str().expect("an id").to_owned();

    let server = serve_with_metrics(&shell);
    assert!(server.metrics.ends_with("/metrics"), "{}", server.metrics);
    let (status, body) = get(&format!("{}/admin/v1/me", server.url), Some(&token));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"role\":\"admin\""), "{body}");

    shell.ok(&["admin", "revoke-token", &id]);
    let (status, _) = get(&format!("{}/admin/v1/me", server.url), Some(&token));
    assert_eq!(status, 401, "revoked at once, for the running server too");
    let (status, _) = get(&format!("{}/admin/v1/me", server.url), Some(&second));
    assert_eq!(status, 200, "the other token still works");
    shell.ok(&["admin", "revoke-token", &id]);

    let (status, metrics) = get(&server.metrics, None);
    assert_eq!(status, 200);
    assert!(
        metrics.contains(
            r#"doorstep_http_requests_total{method="GET",route="/admin/v1/me",status="200"} 2"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"doorstep_http_requests_total{method="GET",route="/admin/v1/me",status="401"} 1"#
        ),
        "{metrics}"
    );
    let text = shell.ok(&["admin", "tokens"]);
    assert!(
        text.lines().next().expect("a line").ends_with("revoked"),
        "{text}"
    );
}

#[test]
fn bad_token_requests_are_refused_clearly_and_change_nothing() {
    let shell = Shell::new();
    shell.county();
    shell.ok(&["admin", "add-user", "--name", "operator", "--role", "admin"]);
    let nobody = shell.fails(
        &["admin", "add-token", "--user", "nobody", "--label", "x"],
        5,
    );
    assert!(
        nobody.contains("no console account called nobody"),
        "{nobody}"
    );
    let empty = shell.fails(
        &["admin", "add-token", "--user", "operator", "--label", " "],
        5,
    );
    assert!(empty.contains("label"), "{empty}");
    let malformed = shell.fails(&["admin", "revoke-token", "not-an-id"], 5);
    assert!(malformed.contains("not a token id"), "{malformed}");
    let unknown = shell.fails(
        &[
            "admin",
            "revoke-token",
            "01900000-0000-7000-8000-000000000000",
        ],
        5,
    );
    assert!(unknown.contains("no API token"), "{unknown}");
    assert_eq!(
        shell.json(&["admin", "tokens", "--json"]),
        serde_json::json!([])
    );
}
