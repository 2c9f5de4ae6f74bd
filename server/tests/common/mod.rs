//! A real server on port 0 with limits of the test's choosing, raw sockets
//! from any loopback address, and a small HTTP/1.1 reader: the connection
//! layer is tested with the bytes a client really sends.
#![allow(dead_code)]

/// doorstep-e2e's `TestCa`, compiled into this test crate: the server
/// cannot depend on the end-to-end harness, which depends on it.
#[path = "../../../tests/src/tls.rs"]
pub mod test_ca;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use doorstep_protocol::ErrorBody;
use doorstep_server::{BackgroundServer, ConnectionLimits, ServeOptions, ServerStore};
use tempfile::TempDir;

/// The longest any test waits for something that must happen: a generous
/// bound on "it still completes", never a measurement.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A TLS client config that trusts the CA `ca_der` only (ring provider).
pub fn client_trusting(ca_der: &[u8]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(ca_der.to_vec()))
        .expect("a root");
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// A running server and the directory of its database.
pub struct Running {
    pub server: BackgroundServer,
    _directory: TempDir,
}

/// Starts a server on 127.0.0.1, port 0.
pub fn start(limits: ConnectionLimits, tls: Option<Arc<rustls::ServerConfig>>) -> Running {
    let directory = tempfile::tempdir().expect("a directory");
    let store = Arc::new(ServerStore::open(directory.path().join("server.db")).expect("a store"));
    let server = BackgroundServer::start_with(
        store,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        ServeOptions {
            tls,
            limits,
            ..ServeOptions::default()
        },
    )
    .expect("the server starts");
    Running {
        server,
        _directory: directory,
    }
}

/// The default limits with `change` applied.
pub fn limits(change: impl FnOnce(&mut ConnectionLimits)) -> ConnectionLimits {
    let mut limits = ConnectionLimits::default();
    change(&mut limits);
    limits
}

/// A connection to `server` from `source` (any of 127/8 is loopback on
/// Linux). `std` cannot bind before connecting; tokio's socket can.
pub fn connect_from(source: Ipv4Addr, server: SocketAddr) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a runtime");
    let stream = runtime
        .block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::from((source, 0)))?;
            socket.connect(server).await?.into_std()
        })
        .expect("connected");
    stream.set_nonblocking(false).expect("blocking");
    stream.set_read_timeout(Some(PATIENCE)).expect("a timeout");
    stream
}

pub fn connect(server: SocketAddr) -> TcpStream {
    connect_from(Ipv4Addr::LOCALHOST, server)
}

/// A response as it came off the wire.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(found, _)| found.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The `ErrorBody`, which must be JSON and say so.
    pub fn error_body(&self) -> ErrorBody {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{self:?}"
        );
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "not an ErrorBody ({error}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Reads one response with a `content-length` body.
pub fn read_response(stream: &mut impl Read) -> std::io::Result<Response> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = received.windows(4).position(|window| window == b"\r\n\r\n") {
            break at;
        }
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return Err(std::io::Error::new(
                ErrorKind::UnexpectedEof,
                format!(
                    "closed before a whole head: {:?}",
                    String::from_utf8_lossy(&received)
                ),
            ));
        }
        received.extend_from_slice(&buffer[..read]);
    };
    let head = String::from_utf8_lossy(&received[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .map_or(0, |(_, value)| value.parse().expect("a length"));
    let mut body = received[head_end + 4..].to_vec();
    while body.len() < length {
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&buffer[..read]);
    }
    body.truncate(length);
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Sends `request` whole and reads the response.
pub fn exchange(stream: &mut (impl Read + Write), request: &[u8]) -> Response {
    stream.write_all(request).expect("the request is sent");
    read_response(stream).expect("a response")
}

pub const HEALTH: &[u8] = b"GET /v1/health HTTP/1.1\r\nhost: doorstep\r\n\r\n";

/// Waits (up to [`PATIENCE`]) for the server to close `stream`; returns
/// what it sent before. Fails if the connection stays open.
pub fn wait_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    stream.set_read_timeout(Some(PATIENCE)).expect("a timeout");
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return received,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
            Err(error) if error.kind() == ErrorKind::ConnectionReset => return received,
            Err(error) => panic!("the server kept the connection open ({error})"),
        }
    }
}

/// Whether the server has closed `stream`, without waiting.
pub fn is_closed(stream: &mut TcpStream) -> bool {
    stream.set_nonblocking(true).expect("non-blocking");
    let mut buffer = [0u8; 64];
    let closed = match stream.read(&mut buffer) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) if error.kind() == ErrorKind::WouldBlock => false,
        Err(_) => true,
    };
    stream.set_nonblocking(false).expect("blocking");
    closed
}

/// Runs `attempt` until it returns `Some`, for up to [`PATIENCE`].
pub fn eventually<T>(what: &str, mut attempt: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(done) = attempt() {
            return done;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{what}: not within {PATIENCE:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
