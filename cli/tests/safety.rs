//! The security issue's findings, from the shell and against `doorstep
//! serve` in its own process: a device over HTTPS with an encrypted store
//! (keys, rekey, wipe, a closed pipe), zstd bombs against enrolment and the
//! server's memory, wrong enrolment codes against its log.
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use doorstep_e2e::tls::TestCa;

mod common;

use common::{ANSWERS, Server, Shell};

/// `device --db device.db --key-file KEY ARGS…`.
fn device<'a>(key: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["device", "--db", "device.db", "--key-file", key];
    all.extend_from_slice(args);
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[test]
fn a_device_over_https_with_an_encrypted_store_from_the_shell() {
    let shell = Shell::new();
    let code = shell.county();
    let ca = TestCa::new();
    let cert = ca.cert_path().display().to_string();
    let key = ca.key_path().display().to_string();
    let mut command = shell.command(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ]);
    command.stderr(Stdio::null());
    let server = Server::start(command);
    assert!(server.url.starts_with("https://"), "{}", server.url);
    for (name, byte) in [("device.key", 7u8), ("other.key", 9u8)] {
        std::fs::write(shell.path(name), [byte; 32]).expect("key file");
        let private = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
        std::fs::set_permissions(shell.path(name), private).expect("chmod");
    }
    let ca_file = ca.ca_path().display().to_string();

    // Without the county's CA, the certificate is not trusted: said so.
    let untrusted = shell.fails(
        &device(
            "device.key",
            &["enroll", "--server", &server.url, "--code", &code],
        ),
        4,
    );
    assert!(untrusted.contains("certificate not trusted"), "{untrusted}");
    std::fs::remove_file(shell.path("device.db")).expect("an unenrolled store");
    shell.ok(&device(
        "device.key",
        &[
            "enroll",
            "--server",
            &server.url,
            "--code",
            &code,
            "--ca-file",
            &ca_file,
        ],
    ));
    shell.ok(&device("device.key", &["sync"]));
    let households = shell.json(&device("device.key", &["households", "--json"]));
    let first = &households[0];
    let household = first["id"].as_str().expect("an id").to_string();
    let head = first["head_name"].as_str().expect("a name").to_string();
    std::fs::write(shell.path("answers.json"), ANSWERS).expect("answers");
    shell.ok(&device(
        "device.key",
        &[
            "visit",
            "--household",
            &household,
            "--answers",
            "answers.json",
        ],
    ));

    // The file and its WAL give nothing away.
    let mut bytes = std::fs::read(shell.path("device.db")).expect("the store");
    bytes.extend(std::fs::read(shell.path("device.db-wal")).unwrap_or_default());
    assert!(!contains(&bytes, &head), "a head's name in the store file");
    assert!(
        !contains(&bytes, "张小兰"),
        "a member's name in the store file"
    );
    // …and open only with the key.
    let missing = shell.fails(&["device", "--db", "device.db", "households"], 5);
    assert!(missing.contains("encrypted"), "{missing}");
    let wrong = shell.fails(&device("other.key", &["households"]), 5);
    assert!(wrong.contains("does not open"), "{wrong}");

    // A reader that goes away at once: the command ends quietly.
    let mut listing = shell.command(&device("device.key", &["households"]));
    let mut child = listing
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("reads");
    let status = child.wait().expect("ends");
    assert!(status.success(), "{status}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A wipe refuses while the visit is unsynced, then erases the store and
    // retires the device's token.
    let refused = shell.fails(&device("device.key", &["wipe"]), 5);
    assert!(refused.contains("have not reached the server"), "{refused}");
    shell.ok(&device(
        "device.key",
        &["rekey", "--new-key-file", "other.key"],
    ));
    shell.fails(&device("device.key", &["status"]), 5);
    shell.ok(&device("other.key", &["sync"]));
    let report = shell.json(&device("other.key", &["wipe", "--json"]));
    assert_eq!(report["server_told"], true, "{report}");
    assert!(!shell.path("device.db").exists());
    let audit = shell.json(&["admin", "audit", "--kind", "device_retired", "--json"]);
    assert_eq!(audit.as_array().map(Vec::len), Some(1), "{audit}");
    let devices = shell.json(&["admin", "devices", "--json"]);
    assert!(devices[0]["revoked_at"].is_string(), "{devices}");
    assert_eq!(shell.exported_visits().len(), 1);
}

/// The server's resident memory now and at its peak, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|number| number.parse::<u64>().ok())
            .expect("a number")
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A raw HTTP request; the status line's code.
fn raw(address: &str, request: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(address).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream.write_all(request).expect("sends");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

fn post(path: &str, encoding: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    if let Some(encoding) = encoding {
        request.push_str(&format!("content-encoding: {encoding}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

#[test]
fn zstd_bombs_on_enrolment_leave_memory_alone() {
    let shell = Shell::new();
    let server = shell.serve("127.0.0.1:0");
    let address = server.listen_address();
    assert_eq!(
        raw(
            &address,
            b"GET /v1/health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
        ),
        200
    );
    let (idle, _) = memory_kib(server.id());
    // A small body that inflates to 32 MiB, three ways: streamed (no
    // size, a large window), in one go (its size, a 32 MiB window), and
    // with a small window (the output itself is the bomb).
    let json_zeros = |size: usize| {
        let mut body = b"{\"protocol\":1,\"code\":\"".to_vec();
        body.extend(std::iter::repeat_n(b'0', size));
        body.extend_from_slice(b"\"}");
        body
    };
    let inflated = json_zeros(32 * 1024 * 1024);
    let streamed = zstd::encode_all(inflated.as_slice(), 19).expect("compress");
    let sized = zstd::bulk::compress(&inflated, 19).expect("compress");
    let small_window = {
        let mut encoder = zstd::stream::Encoder::new(Vec::new(), 19).expect("encoder");
        encoder.window_log(10).expect("window");
        encoder.write_all(&inflated).expect("compress");
        encoder.finish().expect("compress")
    };
    for bomb in [&streamed, &sized, &small_window] {
        assert!(
            bomb.len() * 100 < inflated.len(),
            "a small body: {}",
            bomb.len()
        );
    }
    let bombs = [streamed, sized, small_window];
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..64)
            .map(|index| {
                let request = post("/v1/enroll", Some("zstd"), &bombs[index % bombs.len()]);
                let address = address.clone();
                scope.spawn(move || raw(&address, &request))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a client"))
            .collect()
    });
    assert!(
        statuses
            .iter()
            .all(|status| *status == 413 || *status == 400),
        "{statuses:?}"
    );
    let (now, peak) = memory_kib(server.id());
    eprintln!(
        "64 zstd bombs on enrolment: idle {} MiB, peak {} MiB, after {} MiB",
        idle / 1024,
        peak / 1024,
        now / 1024
    );
    assert!(
        peak < idle + 100 * 1024,
        "peak {peak} KiB against idle {idle} KiB"
    );
    assert_eq!(
        raw(
            &address,
            b"GET /v1/health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
        ),
        200
    );
}

#[test]
fn wrong_enrolment_codes_are_throttled_and_barely_logged() {
    let shell = Shell::new();
    let log = std::fs::File::create(shell.path("server.log")).expect("log");
    let mut command = shell.command(&["serve", "--listen", "127.0.0.1:0"]);
    command.stderr(log);
    let server = Server::start(command);
    let address = server.listen_address();
    let mut statuses = Vec::new();
    for attempt in 0..300 {
        let body = format!("{{\"protocol\":1,\"code\":\"WRONG{attempt:05}\"}}");
        statuses.push(raw(&address, &post("/v1/enroll", None, body.as_bytes())));
    }
    let refused = statuses.iter().filter(|status| **status == 401).count();
    let throttled = statuses.iter().filter(|status| **status == 429).count();
    assert_eq!((refused, throttled), (10, 290), "{statuses:?}");
    drop(server);
    let log = std::fs::read_to_string(shell.path("server.log")).expect("log");
    let lines = log
        .lines()
        .filter(|line| line.contains("refused") || line.contains("throttled"))
        .count();
    eprintln!("300 wrong codes: {refused} refused, {throttled} throttled, {lines} log lines");
    assert!(lines <= 4, "{log}");
    let audit = shell.json(&["admin", "audit", "--json", "--limit", "1000"]);
    let kinds: Vec<&str> = audit
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|entry| entry["kind"].as_str())
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|kind| **kind == "enrol_refused")
            .count(),
        1,
        "guesses are audited once a minute per address"
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|kind| **kind == "client_throttled")
            .count(),
        1
    );
}
