//! Enrolment by QR code from the shell: `admin enroll-code --public-url`
//! prints the payload (and draws it with `--qr`), `device enroll --qr`
//! enrols with it, and over HTTPS `serve --public-ca` sends the county CA
//! that the payload's fingerprint pins. Bad addresses, CA files and
//! payloads are refused with exit code 5 and change nothing.

mod common;

use common::Shell;
use doorstep_e2e::tls::TestCa;
use doorstep_protocol::{CaFingerprint, EnrolQr};

/// The county's data with a cadre; returns the cadre's id.
fn cadre(shell: &Shell) -> String {
    shell.county();
    let cadres = shell.json(&["admin", "cadres", "--json"]);
    cadres[0]["id"].as_str().expect("a cadre id").to_string()
}

/// How many enrolment codes were made.
fn codes_made(shell: &Shell) -> usize {
    shell
        .json(&["admin", "audit", "--kind", "enrol_code_issued", "--json"])
        .as_array()
        .map_or(0, Vec::len)
}

#[test]
fn the_payload_is_printed_drawn_and_enrols_a_device() {
    let shell = Shell::new();
    let cadre = cadre(&shell);
    let server = shell.serve("127.0.0.1:0");

    let shown = shell.json(&[
        "admin",
        "enroll-code",
        "--cadre",
        &cadre,
        "--public-url",
        &server.url,
        "--json",
    ]);
    let payload = shown["qr_payload"].as_str().expect("a payload");
    let qr = EnrolQr::parse(payload).expect("the payload reads back");
    assert_eq!(qr.server, server.url);
    assert_eq!(qr.code, shown["code"].as_str().expect("the code"));
    assert_eq!(qr.ca_sha256, None);
    assert_eq!(shown["cadre_id"], cadre.as_str());

    // Text: the code, then the payload; the drawing goes to stderr.
    let output = shell.run(&[
        "admin",
        "enroll-code",
        "--cadre",
        &cadre,
        "--public-url",
        &server.url,
        "--qr",
    ]);
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[1].starts_with("doorstep://enrol?v=1&server="),
        "{stdout}"
    );
    assert_eq!(EnrolQr::parse(lines[1]).expect("reads").code, lines[0]);
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    assert!(stderr.contains('\u{2588}'), "a drawing: {stderr}");
    assert!(
        !stderr.contains(lines[0]),
        "the code is not repeated on stderr"
    );

    let enrolled = shell.ok(&["device", "enroll", "--qr", lines[1], "--label", "QR"]);
    assert_eq!(enrolled.trim().len(), 36, "a device id: {enrolled}");
    shell.ok(&["device", "sync"]);
    let status = shell.json(&["device", "status", "--json"]);
    assert!(
        status["households"].as_u64().is_some_and(|count| count > 0),
        "{status}"
    );
    // Without --public-url: the code alone, as before.
    let plain = shell.ok(&["admin", "enroll-code", "--cadre", &cadre]);
    assert_eq!(plain.lines().count(), 1, "{plain}");
}

#[test]
fn over_https_serve_sends_the_county_ca_that_the_payload_pins() {
    let shell = Shell::new();
    let cadre = cadre(&shell);
    let ca = TestCa::new();
    // The server's own certificate only: `--public-ca` adds the CA.
    let chain = std::fs::read_to_string(ca.cert_path()).expect("the chain");
    let end = chain
        .find("-----END CERTIFICATE-----")
        .expect("a certificate")
        + "-----END CERTIFICATE-----\n".len();
    std::fs::write(shell.path("server.pem"), &chain[..end]).expect("write");
    let ca_path = ca.ca_path().display().to_string();
    let mut command = shell.command(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        "server.pem",
        "--tls-key",
        &ca.key_path().display().to_string(),
        "--public-ca",
        &ca_path,
    ]);
    command.stderr(std::process::Stdio::null());
    let server = common::Server::start(command);
    assert!(server.url.starts_with("https://"), "{}", server.url);

    let shown = shell.json(&[
        "admin",
        "enroll-code",
        "--cadre",
        &cadre,
        "--public-url",
        &server.url,
        "--ca",
        &ca_path,
        "--json",
    ]);
    let payload = shown["qr_payload"].as_str().expect("a payload");
    let qr = EnrolQr::parse(payload).expect("reads back");
    assert_eq!(qr.ca_sha256, Some(CaFingerprint::of_der(ca.ca_der())));
    shell.ok(&["device", "enroll", "--qr", payload]);
    shell.ok(&["device", "sync"]);

    // A code pinning another CA is refused by the device, exit code 4.
    let other = shell.json(&[
        "admin",
        "enroll-code",
        "--cadre",
        &cadre,
        "--public-url",
        &server.url,
        "--ca",
        &ca.other_ca_path().display().to_string(),
        "--json",
    ]);
    let refused = shell.fails(
        &[
            "device",
            "--db",
            "other.db",
            "enroll",
            "--qr",
            other["qr_payload"].as_str().expect("a payload"),
        ],
        4,
    );
    assert!(
        refused.contains("did not present the certificate authority"),
        "{refused}"
    );
}

#[test]
fn bad_addresses_ca_files_and_payloads_are_refused_and_change_nothing() {
    let shell = Shell::new();
    let cadre = cadre(&shell);
    let before = codes_made(&shell);
    let no_scheme = shell.fails(
        &[
            "admin",
            "enroll-code",
            "--cadre",
            &cadre,
            "--public-url",
            "county.example",
        ],
        5,
    );
    assert!(no_scheme.contains("https://"), "{no_scheme}");
    std::fs::write(shell.path("not-a-ca.pem"), "hello").expect("write");
    let bad_ca = shell.fails(
        &[
            "admin",
            "enroll-code",
            "--cadre",
            &cadre,
            "--public-url",
            "https://county.example",
            "--ca",
            "not-a-ca.pem",
        ],
        5,
    );
    assert!(bad_ca.contains("not-a-ca.pem"), "{bad_ca}");
    assert_eq!(codes_made(&shell), before, "no code was made");
    let usage = shell.run(&["admin", "enroll-code", "--cadre", &cadre, "--qr"]);
    assert_eq!(usage.status.code(), Some(2), "--qr needs --public-url");

    for (payload, says) in [
        ("https://example.com/", "not a Doorstep enrolment QR code"),
        (
            "doorstep://enrol?v=9&server=https%3A%2F%2Fx&code=A",
            "update the app",
        ),
        (
            "doorstep://enrol?v=1&server=https%3A%2F%2Fx&code=A&ca=12",
            "64 hex digits",
        ),
    ] {
        let refused = shell.fails(&["device", "--db", "qr.db", "enroll", "--qr", payload], 5);
        assert!(refused.contains(says), "{refused}");
        assert!(!shell.path("qr.db").exists(), "no store is created");
    }
    let serve = shell.fails(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--public-url",
            "ftp://x",
        ],
        5,
    );
    assert!(serve.contains("--public-url"), "{serve}");
}
