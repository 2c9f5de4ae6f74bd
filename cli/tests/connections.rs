//! `doorstep serve` as an operator runs it, against clients that hold
//! connections open: more idle and slow connections than the server has
//! file descriptors, from two addresses, while a real device syncs from a
//! third. Also the HTTPS and cap flags.
//!
//! One process cannot hold that many connections (the test inherits the
//! same limit on open files as the server), so the flood comes from child
//! processes: this test binary run again with `DOORSTEP_FLOOD` set, which
//! selects the ignored `flood_helper` test.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use doorstep_e2e::tls::TestCa;

mod common;

use common::{ANSWERS, Server, Shell};

/// Selects the helper in a child and tells it what to do:
/// `SOURCE,TARGET,COUNT`.
const FLOOD: &str = "DOORSTEP_FLOOD";
/// The addresses the flood comes from (all of 127/8 is loopback on Linux);
/// the device syncs from 127.0.0.1.
const FLOOD_SOURCES: [Ipv4Addr; 2] = [Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3)];
/// The server's soft limit on open files (at most its hard limit).
const SERVER_FILES: u64 = 20_000;
/// Connections the flood holds beyond the server's limit.
const BEYOND: u64 = 1_000;
/// Connects a flood child keeps in flight at once.
const CONNECTS_IN_FLIGHT: usize = 256;
/// A generous bound on "the sync still completes", not a measurement.
const SYNC_BOUND: Duration = Duration::from_secs(30);

/// `Max open files` of this process: (soft, hard).
fn open_files_limit() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("/proc/self/limits");
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .expect("a Max open files line");
    let mut values = line["Max open files".len()..]
        .split_whitespace()
        .map(|value| value.parse().unwrap_or(u64::MAX));
    (values.next().expect("soft"), values.next().expect("hard"))
}

fn open_files_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

/// A flood child: its process, and its stdout for the lines it reports.
struct Flood {
    child: Child,
    lines: BufReader<ChildStdout>,
}

impl Flood {
    fn start(source: Ipv4Addr, target: SocketAddr, count: u64) -> Flood {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -S -n {} && exec \"$0\" \"$@\"",
                count + 256
            ))
            .arg(std::env::current_exe().expect("this test binary"))
            .args(["flood_helper", "--exact", "--ignored", "--nocapture"])
            .env(FLOOD, format!("{source},{target},{count}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("a flood child starts");
        let lines = BufReader::new(child.stdout.take().expect("stdout"));
        Flood { child, lines }
    }

    /// The next line the helper reports (`flood: …`), without the prefix.
    fn report(&mut self) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let read = self.lines.read_line(&mut line).expect("the child's stdout");
            assert!(read > 0, "the flood child ended without reporting");
            if let Some(report) = line.trim().strip_prefix("flood: ") {
                return report.to_string();
            }
        }
    }

    /// Lets the child go; returns its last report.
    fn finish(mut self) -> String {
        drop(self.child.stdin.take());
        let report = self.report();
        let status = self.child.wait().expect("the child ends");
        assert!(status.success(), "the flood child failed: {status}");
        report
    }
}

/// A count from a report such as `opened 10500 failed 0`.
fn count(report: &str, name: &str) -> u64 {
    let mut words = report.split_whitespace();
    while let Some(word) = words.next() {
        if word == name {
            return words.next().and_then(|n| n.parse().ok()).expect("a count");
        }
    }
    panic!("no {name} in {report:?}")
}

#[test]
fn a_flood_beyond_the_servers_file_descriptors_leaves_it_serving_a_device() {
    let (_, hard) = open_files_limit();
    let server_files = SERVER_FILES.min(hard);
    let per_child = (server_files + BEYOND).div_ceil(FLOOD_SOURCES.len() as u64);
    assert!(
        per_child + 256 <= hard,
        "this test needs a hard limit on open files of at least {} (ulimit -Hn)",
        per_child + 256
    );

    // The operator's data, a cadre and the form.
    let shell = Shell::new();
    let code = shell.county();

    // The server, in its own process with its own limit; its log kept.
    let log = std::fs::File::create(shell.path("server.log")).expect("a log file");
    let mut command = shell.command_with_open_files(
        server_files,
        &[
            "serve",
            "--db",
            "doorstep-server.db",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    command.stderr(log);
    let mut server = Server::start(command);
    let target: SocketAddr = server.listen_address().parse().expect("an address");

    // The device enrolls and syncs before the flood, then records a visit.
    let device = |rest: &[&str]| {
        let mut args = vec!["device", "--db", "device.db"];
        args.extend_from_slice(rest);
        args.iter().map(|arg| arg.to_string()).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| shell.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    run(device(&[
        "enroll",
        "--server",
        &server.url,
        "--code",
        &code,
    ]));
    run(device(&["sync"]));
    let households = shell.json(&["device", "--db", "device.db", "households", "--json"]);
    let household = households[0]["id"]
        .as_str()
        .expect("a household id")
        .to_string();
    std::fs::write(shell.path("answers.json"), ANSWERS).expect("answers");
    run(device(&[
        "visit",
        "--household",
        &household,
        "--answers",
        "answers.json",
    ]));

    // The flood: more connections than the server has descriptors.
    let started = Instant::now();
    let mut floods: Vec<Flood> = FLOOD_SOURCES
        .iter()
        .map(|source| Flood::start(*source, target, per_child))
        .collect();
    let opened: Vec<String> = floods.iter_mut().map(Flood::report).collect();
    let flooded_in = started.elapsed();
    let held: u64 = opened.iter().map(|report| count(report, "opened")).sum();
    let server_fds = open_files_of(server.id());
    assert!(
        held > server_files,
        "the flood holds {held} connections, more than the server's {server_files} descriptors: {opened:?}"
    );
    assert!(server.is_running(), "the server survived the flood");
    assert!(
        (server_fds as u64) < server_files,
        "the server holds {server_fds} files, short of its limit of {server_files}"
    );

    // While they are held, the device syncs from 127.0.0.1.
    let sync_started = Instant::now();
    let mut sync = shell
        .command(&["device", "--db", "device.db", "sync", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the sync starts");
    while sync.try_wait().expect("the sync runs").is_none() {
        if sync_started.elapsed() > SYNC_BOUND {
            let _ = sync.kill();
            panic!("the sync did not complete within {SYNC_BOUND:?} under the flood");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let synced_in = sync_started.elapsed();
    let output = sync.wait_with_output().expect("the sync's output");
    assert!(
        output.status.success(),
        "the sync failed under the flood: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a report");
    assert_eq!(report["pushed"], 1, "the visit went up: {report}");
    assert!(server.is_running(), "the server is still alive");
    let server_fds_after_sync = open_files_of(server.id());

    let closed: Vec<String> = floods.into_iter().map(Flood::finish).collect();
    let closed_by_server: u64 = closed.iter().map(|report| count(report, "closed")).sum();
    drop(server);
    let log = std::fs::read_to_string(shell.path("server.log")).expect("the log");
    let refusal_lines = log
        .lines()
        .filter(|line| line.contains("refused connections"))
        .count();
    eprintln!(
        "flood: {held} connections held by 2 clients ({opened:?}) in {:.1} s against a server with {server_files} descriptors; \
         server had {server_fds} files open during the flood, {server_fds_after_sync} after the sync; \
         device sync under the flood in {:.2} s; {closed_by_server} of the flood's connections closed by the server ({closed:?}); \
         {refusal_lines} refusal lines in the server log",
        flooded_in.as_secs_f64(),
        synced_in.as_secs_f64(),
    );
    assert!(
        refusal_lines < 50,
        "refusals are logged at a bounded rate, not once each: {refusal_lines} lines"
    );
}

/// The flood child: opens COUNT connections from SOURCE to TARGET, half of
/// them idle, half sending a request head one byte a second; reports
/// `flood: opened N failed M`; holds them until its stdin closes; then
/// reports `flood: closed N open M` (closed: by the server).
#[test]
#[ignore = "a helper: the flood test runs it in child processes, selected by DOORSTEP_FLOOD"]
#[allow(
    clippy::print_stdout,
    reason = "the child reports to the test on stdout"
)]
fn flood_helper() {
    let Ok(spec) = std::env::var(FLOOD) else {
        return;
    };
    let mut parts = spec.split(',');
    let mut next = || parts.next().expect("SOURCE,TARGET,COUNT");
    let source: Ipv4Addr = next().parse().expect("a source address");
    let target: SocketAddr = next().parse().expect("a target address");
    let count: usize = next().parse().expect("a count");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (mut streams, failed) = runtime.block_on(open_connections(source, target, count));
    let head = b"GET /v1/health HTTP/1.1\r\nhost: flood\r\nx-slow: ";
    let mut alive = vec![true; streams.len()];
    for stream in streams.iter_mut().step_by(2) {
        let _ = stream.write(&head[..1]);
    }
    println!("flood: opened {} failed {failed}", streams.len());
    let _ = std::io::stdout().flush();

    let done = Arc::new(AtomicBool::new(false));
    let stdin_closed = Arc::clone(&done);
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        stdin_closed.store(true, Ordering::SeqCst);
    });
    let mut sent = 1;
    while !done.load(Ordering::SeqCst) {
        // One more byte of the head on every other connection.
        let byte = head.get(sent).copied().unwrap_or(b'a');
        for (index, stream) in streams.iter_mut().enumerate().step_by(2) {
            if alive[index] && stream.write(&[byte]).is_err() {
                alive[index] = false;
            }
        }
        sent += 1;
        for _ in 0..10 {
            if done.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let mut closed = 0;
    let mut buffer = [0u8; 256];
    for stream in &mut streams {
        match stream.read(&mut buffer) {
            Err(error) if error.kind() == ErrorKind::WouldBlock => {}
            _ => closed += 1,
        }
    }
    println!("flood: closed {closed} open {}", streams.len() - closed);
    let _ = std::io::stdout().flush();
}

/// Opens `count` connections from `source`, [`CONNECTS_IN_FLIGHT`] at a
/// time; returns them (non-blocking) and how many could not be opened.
async fn open_connections(
    source: Ipv4Addr,
    target: SocketAddr,
    count: usize,
) -> (Vec<TcpStream>, usize) {
    let mut streams = Vec::with_capacity(count);
    let mut failed = 0;
    let mut connects = tokio::task::JoinSet::new();
    let mut started = 0;
    while started < count || !connects.is_empty() {
        while started < count && connects.len() < CONNECTS_IN_FLIGHT {
            started += 1;
            connects.spawn(async move {
                let socket = tokio::net::TcpSocket::new_v4()?;
                socket.bind(SocketAddr::from((source, 0)))?;
                match tokio::time::timeout(Duration::from_secs(10), socket.connect(target)).await {
                    Ok(connected) => connected?.into_std(),
                    Err(_) => Err(ErrorKind::TimedOut.into()),
                }
            });
        }
        match connects.join_next().await {
            Some(Ok(Ok(stream))) => streams.push(stream),
            Some(Ok(Err(_))) => failed += 1,
            Some(Err(error)) => panic!("a connect task failed: {error}"),
            None => {}
        }
    }
    (streams, failed)
}

/// A health request on a fresh connection, `None` when it gets no answer.
fn health_status(address: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(SYNC_BOUND)).ok()?;
    stream
        .write_all(b"GET /v1/health HTTP/1.1\r\nhost: doorstep\r\nconnection: close\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split(' ').nth(1)?.parse().ok()
}

#[test]
fn out_of_descriptors_the_accept_loop_pauses_logs_a_little_and_recovers() {
    // The caps off, and few descriptors: the server runs out of them, as
    // it would without caps. 300 connections against 128 descriptors.
    let shell = Shell::new();
    let log = shell.path("server.log");
    let mut command = shell.command_with_open_files(
        128,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--max-connections",
            "100000",
            "--max-connections-per-address",
            "0",
        ],
    );
    command.stderr(std::fs::File::create(&log).expect("a log"));
    let mut server = Server::start(command);
    let address = server.listen_address();
    let flood: Vec<TcpStream> = (0..300)
        .filter_map(|_| TcpStream::connect(&address).ok())
        .collect();
    let held = flood.len();
    // Wait until the server has met the limit, or the test would pass
    // without reaching it.
    let started = Instant::now();
    while !std::fs::read_to_string(&log)
        .expect("the log")
        .contains("could not accept connections")
    {
        assert!(
            started.elapsed() < SYNC_BOUND,
            "the server never ran out of descriptors"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A second of failed accepts, 100 ms apart.
    std::thread::sleep(Duration::from_secs(1));
    assert!(server.is_running(), "the server survives");
    drop(flood);
    let started = Instant::now();
    while health_status(&address) != Some(200) {
        assert!(
            started.elapsed() < SYNC_BOUND,
            "the server answers again once the connections are gone"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(server);
    let text = std::fs::read_to_string(&log).expect("the log");
    let lines = text
        .lines()
        .filter(|line| line.contains("could not accept connections"))
        .count();
    eprintln!("out of descriptors: {held} connections held, {lines} accept-failure lines");
    assert!(
        lines <= 5,
        "accept failures are logged at a bounded rate: {lines} lines\n{text}"
    );
}

#[test]
fn serve_takes_a_certificate_for_https_and_warns_about_plain_http_off_loopback() {
    let shell = Shell::new();
    let ca = TestCa::new();
    let (cert, key) = (ca.cert_path(), ca.key_path());
    let (cert, key) = (
        cert.to_str().expect("a path"),
        key.to_str().expect("a path"),
    );

    let output = shell.run(&["serve", "--listen", "127.0.0.1:0", "--tls-cert", cert]);
    assert_eq!(output.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&output.stderr).contains("--tls-key"));
    std::fs::write(shell.path("empty.pem"), "").expect("write");
    let empty = shell.fails(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "empty.pem",
            "--tls-key",
            key,
        ],
        5,
    );
    assert!(empty.contains("no certificate in empty.pem"), "{empty}");

    // With both: HTTPS, said on stdout; plain HTTP gets no HTTP answer.
    let mut command = shell.command(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        cert,
        "--tls-key",
        key,
    ]);
    command.stderr(Stdio::null());
    let server = Server::start(command);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let mut plain = TcpStream::connect(server.listen_address()).expect("connected");
    plain.set_read_timeout(Some(SYNC_BOUND)).expect("a timeout");
    plain
        .write_all(b"GET /v1/health HTTP/1.1\r\nhost: doorstep\r\n\r\n")
        .expect("sent");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/"),
        "no plain HTTP on an HTTPS port"
    );
    drop(server);

    // Plain HTTP: a warning off loopback only.
    for (listen, warned) in [("127.0.0.1:0", false), ("0.0.0.0:0", true)] {
        let log = shell.path("serve.log");
        let mut command = shell.command(&[
            "serve",
            "--listen",
            listen,
            "--max-connections",
            "50",
            "--max-connections-per-address",
            "0",
        ]);
        command.stderr(std::fs::File::create(&log).expect("a log"));
        let server = Server::start(command);
        assert!(server.url.starts_with("http://"), "{}", server.url);
        // The loop's first log line comes after the warning.
        let started = Instant::now();
        let text = loop {
            let text = std::fs::read_to_string(&log).expect("the log");
            if text.contains("accepting connections") {
                break text;
            }
            assert!(started.elapsed() < SYNC_BOUND, "the server logs: {text}");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(
            text.contains("devices refuse plain http:// except on loopback"),
            warned,
            "{listen}: {text}"
        );
        assert!(
            text.contains("at most 50 connections, no cap per address"),
            "{listen}: {text}"
        );
        drop(server);
    }
}
