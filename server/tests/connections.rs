//! The connection layer with real sockets on a real server: hyper's own
//! errors in the one JSON shape, idle and slow clients closed by the
//! timeouts, the caps per address and in all, HTTPS, and a graceful stop.
//! Timeouts are set short in each test; the only durations the tests wait
//! on are generous bounds on "it still completes".

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use common::test_ca::TestCa;
use common::{
    HEALTH, PATIENCE, client_trusting, connect, connect_from, eventually, exchange, is_closed,
    limits, read_response, start, wait_until_closed,
};
use doorstep_protocol::Health;
use doorstep_server::net::{MAX_HEADER_BYTES, tls};

const SECOND: Duration = Duration::from_secs(1);
/// Long enough never to be what closes a connection in a test.
const NEVER: Duration = Duration::from_secs(600);
const OTHER_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

#[test]
fn requests_hyper_cannot_parse_get_the_json_error_body() {
    let running = start(limits(|_| {}), None);
    let headers: String = (0..32)
        .map(|index| format!("x-filler-{index}: {}\r\n", "a".repeat(1000)))
        .collect();
    let cases = [
        (
            "a garbage request line",
            b"this is not HTTP at all\r\n\r\n".to_vec(),
            400,
            "bad_request",
            "malformed HTTP request".to_string(),
        ),
        (
            "a header without a colon",
            b"GET /v1/health HTTP/1.1\r\nhost: doorstep\r\nno colon here\r\n\r\n".to_vec(),
            400,
            "bad_request",
            "malformed HTTP request".to_string(),
        ),
        (
            "32 KiB of headers",
            format!("GET /v1/health HTTP/1.1\r\nhost: doorstep\r\n{headers}\r\n").into_bytes(),
            431,
            "too_large",
            format!("request headers too large: at most {MAX_HEADER_BYTES} bytes"),
        ),
    ];
    for (name, request, status, error, message) in cases {
        let mut stream = connect(running.server.address());
        let response = exchange(&mut stream, &request);
        assert_eq!(response.status, status, "{name}");
        let body = response.error_body();
        assert_eq!(
            (body.error.as_str(), body.message.as_str()),
            (error, message.as_str()),
            "{name}"
        );
        assert_eq!(response.header("connection"), Some("close"), "{name}");
    }
    // The server goes on answering.
    let response = exchange(&mut connect(running.server.address()), HEALTH);
    assert_eq!(response.status, 200);
}

#[test]
fn idle_connections_are_closed_by_the_header_timeout_even_between_requests() {
    let running = start(limits(|limits| limits.header_read_timeout = SECOND), None);
    // Says nothing at all: closed, with no answer.
    let mut silent = connect(running.server.address());
    assert!(wait_until_closed(&mut silent).is_empty(), "no answer");

    // One request, then quiet on a keep-alive connection: hyper 1.12 runs
    // the header timer while it waits for the next request too.
    let mut kept = connect(running.server.address());
    let response = exchange(&mut kept, HEALTH);
    assert_eq!(response.status, 200);
    assert_ne!(response.header("connection"), Some("close"), "kept alive");
    assert!(wait_until_closed(&mut kept).is_empty(), "closed when idle");
}

#[test]
fn a_head_sent_a_byte_a_second_is_cut_off() {
    let running = start(
        limits(|limits| limits.header_read_timeout = 3 * SECOND),
        None,
    );
    let mut stream = connect(running.server.address());
    let head = b"GET /v1/health HTTP/1.1\r\nhost: doorstep\r\nx-slow: ";
    let mut sent = 0;
    eventually("the slow head is cut off", || {
        let byte = head.get(sent).copied().unwrap_or(b'a');
        if stream.write_all(&[byte]).is_err() || is_closed(&mut stream) {
            return Some(());
        }
        sent += 1;
        std::thread::sleep(SECOND);
        None
    });
}

#[test]
fn a_slow_body_is_refused_with_408_in_the_json_shape() {
    // (name, pause between bytes after the first half, what the message says)
    let cases = [
        (
            "stalls half way",
            None,
            "no part of the request body arrived for 1 s",
        ),
        (
            "trickles a byte at a time",
            Some(Duration::from_millis(200)),
            "the request body took longer than 3 s",
        ),
    ];
    let running = start(
        limits(|limits| {
            limits.body_idle_timeout = SECOND;
            limits.body_total_timeout = 3 * SECOND;
        }),
        None,
    );
    for (name, pause, message) in cases {
        let mut stream = connect(running.server.address());
        let body = format!(
            r#"{{"protocol":1,"code":"ABCD-EFGH","pad":"{}"}}"#,
            "x".repeat(400)
        );
        let head = format!(
            "POST /v1/enroll HTTP/1.1\r\nhost: doorstep\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("the head");
        stream
            .write_all(&body.as_bytes()[..body.len() / 2])
            .expect("half the body");
        let mut writer = stream.try_clone().expect("a second handle");
        let trickle = std::thread::spawn(move || {
            if let Some(pause) = pause {
                for byte in body.as_bytes()[body.len() / 2..].iter() {
                    std::thread::sleep(pause);
                    if writer.write_all(&[*byte]).is_err() {
                        return;
                    }
                }
            }
        });
        let response = read_response(&mut stream).expect("an answer");
        assert_eq!(response.status, 408, "{name}");
        let error = response.error_body();
        assert_eq!(error.error, "timeout", "{name}");
        assert!(error.message.contains(message), "{name}: {}", error.message);
        drop(stream);
        trickle.join().expect("the trickle ends");
    }
}

#[test]
fn over_the_per_address_cap_that_address_is_closed_at_once_and_others_get_in() {
    let running = start(
        limits(|limits| {
            limits.max_per_address = 2;
            limits.header_read_timeout = NEVER;
        }),
        None,
    );
    let address = running.server.address();
    let mut held = vec![connect(address), connect(address)];
    // Both are held: each still answers.
    for stream in &mut held {
        assert_eq!(exchange(stream, HEALTH).status, 200);
    }
    let mut third = connect(address);
    assert!(
        wait_until_closed(&mut third).is_empty(),
        "closed without an answer"
    );
    let mut other = connect_from(OTHER_ADDRESS, address);
    let response = exchange(&mut other, HEALTH);
    assert_eq!(response.status, 200, "another address still gets in");
    let health: Health = serde_json::from_slice(&response.body).expect("health");
    assert_eq!(health.status, "ok");

    // A closed connection frees its place.
    drop(held.pop());
    eventually("the place is freed", || {
        let mut again = connect(address);
        again.write_all(HEALTH).ok()?;
        read_response(&mut again)
            .ok()
            .filter(|response| response.status == 200)
    });
}

#[test]
fn over_the_global_cap_everybody_is_closed_at_once() {
    let running = start(
        limits(|limits| {
            limits.max_connections = 2;
            limits.max_per_address = 0;
            limits.header_read_timeout = NEVER;
        }),
        None,
    );
    let address = running.server.address();
    let mut held = vec![connect(address), connect(address)];
    for stream in &mut held {
        assert_eq!(exchange(stream, HEALTH).status, 200);
    }
    let mut refused = connect_from(OTHER_ADDRESS, address);
    assert!(wait_until_closed(&mut refused).is_empty());
    drop(held);
    eventually("the places are freed", || {
        let mut again = connect_from(OTHER_ADDRESS, address);
        again.write_all(HEALTH).ok()?;
        read_response(&mut again)
            .ok()
            .filter(|response| response.status == 200)
    });
}

fn tls_client(
    config: Arc<rustls::ClientConfig>,
    name: &str,
    server: std::net::SocketAddr,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let name = rustls::pki_types::ServerName::try_from(name.to_string()).expect("a server name");
    let connection = rustls::ClientConnection::new(config, name).expect("a TLS client");
    rustls::StreamOwned::new(connection, connect(server))
}

#[test]
fn https_answers_a_client_that_trusts_the_ca_and_fails_a_stranger() {
    let ca = TestCa::new();
    let config = tls::server_config(&ca.cert_path(), &ca.key_path()).expect("a TLS config");
    let running = start(
        limits(|limits| {
            limits.tls_handshake_timeout = SECOND;
            limits.header_read_timeout = NEVER;
        }),
        Some(config),
    );
    let address = running.server.address();
    assert_eq!(running.server.url(), format!("https://{address}"));

    for name in ["127.0.0.1", "localhost"] {
        let mut stream = tls_client(client_trusting(ca.ca_der()), name, address);
        let response = exchange(&mut stream, HEALTH);
        assert_eq!(response.status, 200, "as {name}");
        let health: Health = serde_json::from_slice(&response.body).expect("health");
        assert_eq!(health.status, "ok");
        // hyper's errors come in the JSON shape over TLS too.
        let response = exchange(&mut stream, b"nonsense\r\n\r\n");
        assert_eq!(response.status, 400);
        assert_eq!(response.error_body().error, "bad_request");
    }

    let mut stranger = tls_client(client_trusting(ca.other_ca_der()), "localhost", address);
    let error = stranger
        .write_all(HEALTH)
        .and_then(|()| stranger.flush())
        .and_then(|()| stranger.read(&mut [0u8; 16]))
        .expect_err("the handshake fails");
    assert!(
        error.to_string().contains("UnknownIssuer"),
        "refused for the issuer: {error}"
    );

    // Plain HTTP to the HTTPS port: no answer, closed.
    let mut plain = connect(address);
    plain.write_all(HEALTH).expect("sent");
    let answer = wait_until_closed(&mut plain);
    assert!(
        !answer.starts_with(b"HTTP/"),
        "no HTTP answer over plain text"
    );

    // A client that never starts the handshake is closed by its timeout.
    let mut silent = connect(address);
    assert!(wait_until_closed(&mut silent).is_empty());

    let mut again = tls_client(client_trusting(ca.ca_der()), "localhost", address);
    assert_eq!(exchange(&mut again, HEALTH).status, 200, "still serving");
}

#[test]
fn stopping_lets_the_request_in_flight_finish_then_refuses_new_ones() {
    let running = start(limits(|limits| limits.header_read_timeout = NEVER), None);
    let address = running.server.address();
    let mut idle = connect(address);
    let mut busy = connect(address);
    let body = r#"{"protocol":1,"code":"ABCD-EFGH"}"#;
    let head = format!(
        "POST /v1/enroll HTTP/1.1\r\nhost: doorstep\r\nexpect: 100-continue\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    busy.write_all(head.as_bytes()).expect("the head");
    // hyper says "100 Continue" when the handler starts reading the body:
    // the request is in hand.
    let go_on = read_response(&mut busy).expect("100 Continue");
    assert_eq!(go_on.status, 100);

    let stopping = std::thread::spawn(move || running.server.stop());
    // The idle connection is closed at once; the busy one is waited for.
    assert!(wait_until_closed(&mut idle).is_empty());
    assert!(!stopping.is_finished(), "the stop waits for the request");
    busy.write_all(body.as_bytes()).expect("the body");
    let response = read_response(&mut busy).expect("the request is answered");
    assert_eq!(response.status, 401, "the code is not recognised");
    assert_eq!(response.header("connection"), Some("close"));
    stopping
        .join()
        .expect("the stop returns")
        .expect("a clean stop");
    let refused = TcpStream::connect_timeout(&address, PATIENCE);
    assert!(
        refused
            .as_ref()
            .is_err_and(|error| error.kind() == ErrorKind::ConnectionRefused),
        "nobody listens any more: {refused:?}"
    );
}
