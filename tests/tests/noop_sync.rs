//! A no-op sync is one small request and one small response, measured on
//! the wire.
//!
//! A device that is enrolled and fully synced runs sync again, with nothing
//! to push and nothing new on the server, through a faithful
//! [`FaultyProxy`]. The proxy counts exchanges but not bytes, so the test
//! puts a byte-recording TCP relay ([`Tap`]) on each side of it:
//!
//! ```text
//! device ──▶ Tap (device side) ──▶ FaultyProxy ──▶ Tap (server side) ──▶ server
//! ```
//!
//! The device side sees the bytes exactly as the device sends and receives
//! them (the proxy adds `Connection: close` to the response); the server
//! side sees them exactly as the server receives and sends them. Both count
//! every byte of the request and response: request line or status line,
//! headers and body. A last no-op sync goes through a tap alone, without the
//! proxy (which rewrites `Connection` headers): the bytes a device and the
//! server exchange directly, as in the field.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use doorstep_core::sync::{CancelToken, SyncEngine, SyncReport};
use doorstep_core::transport::{HttpTransport, WireBytes};
use doorstep_e2e::proxy::{Faults, FaultyProxy, Stats};
use doorstep_e2e::{VILLAGE_A, World, sync};
use doorstep_protocol::{PullResponse, routes};

/// The most a no-op sync's request or response may take on the wire,
/// headers included.
const MAX_NOOP_BYTES: usize = 1024;
const SEED: u64 = 0x00D0_0257_0000_0001;

#[test]
fn a_no_op_sync_is_one_small_request_and_response() {
    let mut world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let device = world.device(cadre);
    // Fully synced, directly: the village's households and the form.
    sync(&device).expect("first sync");
    assert_eq!(device.households(None).expect("households").len(), 3);
    assert_eq!(device.status().expect("status").pending, 0);

    let server_side = Tap::start(server_address(&world)).expect("server-side tap");
    let proxy = FaultyProxy::start(server_side.address(), Faults::none(), SEED).expect("proxy");
    let device_side = Tap::start(proxy.address()).expect("device-side tap");
    let transport = HttpTransport::new(&device_side.url()).expect("transport");

    let report = SyncEngine::new(&device, &transport)
        .run(&mut |_| {}, &CancelToken::new())
        .expect("the no-op sync");

    assert_eq!(
        report,
        SyncReport {
            requests: 1,
            bytes: report.bytes,
            ..SyncReport::default()
        },
        "nothing to push, nothing to pull: one request"
    );
    assert_eq!(
        proxy.stats(),
        Stats {
            connections: 1,
            forwarded: 1,
            ..Stats::default()
        },
        "the proxy passed exactly one exchange, whole"
    );
    assert_eq!(device_side.connections(), 1);
    assert_eq!(server_side.connections(), 1);

    let (device_request, device_response) = device_side.bytes();
    let (server_request, server_response) = server_side.bytes();
    check_exchange(
        "through the proxy, device side",
        &device_request,
        &device_response,
    );
    check_exchange(
        "through the proxy, server side",
        &server_request,
        &server_response,
    );

    // The same without the proxy, which rewrites `Connection` headers: the
    // bytes a device and the server exchange directly.
    drop(device_side);
    drop(proxy);
    drop(server_side);
    let direct = Tap::start(server_address(&world)).expect("direct tap");
    let transport = HttpTransport::new(&direct.url()).expect("transport");
    let report = SyncEngine::new(&device, &transport)
        .run(&mut |_| {}, &CancelToken::new())
        .expect("the direct no-op sync");
    assert_eq!(
        report,
        SyncReport {
            requests: 1,
            bytes: report.bytes,
            ..SyncReport::default()
        }
    );
    assert_eq!(direct.connections(), 1);
    let (request, response) = direct.bytes();
    check_exchange("direct", &request, &response);
    // The transport's own count of body bytes agrees with the wire.
    assert_eq!(
        report.bytes,
        WireBytes {
            sent: split(&request).1.len() as u64,
            received: split(&response).1.len() as u64,
        }
    );
}

/// Checks that `request` is one pull without a body and `response` one
/// empty page, each within [`MAX_NOOP_BYTES`] on the wire, and prints them.
fn check_exchange(side: &str, request: &[u8], response: &[u8]) {
    let (request_head, request_body) = split(request);
    let (response_head, response_body) = split(response);
    eprintln!(
        "no-op sync, {side}: request {} bytes (head {}, body {}), response {} bytes (head {}, body {})",
        request.len(),
        request_head.len(),
        request_body.len(),
        response.len(),
        response_head.len(),
        response_body.len(),
    );
    eprintln!(
        "--- request ({side})\n{}\n--- response ({side})\n{}\n",
        printable(request),
        printable(response)
    );

    // One request: a pull, without a body.
    let request_text = String::from_utf8_lossy(request_head);
    assert!(
        request_text.starts_with(&format!("GET {}?", routes::PULL)),
        "{side}: the request is a pull: {request_text}"
    );
    assert_eq!(
        request_text.matches(" HTTP/1.1\r\n").count(),
        1,
        "{side}: one request"
    );
    assert!(request_body.is_empty(), "{side}: a pull has no body");
    // One answer: an empty page.
    let response_text = String::from_utf8_lossy(response_head);
    assert!(
        response_text.starts_with("HTTP/1.1 200"),
        "{side}: {response_text}"
    );
    let page: PullResponse = serde_json::from_slice(&decoded(response_head, response_body))
        .expect("the response is one pull page");
    assert!(
        page.changes.is_empty() && !page.more && page.scope.is_none(),
        "{side}: an empty page, scope unchanged: {page:?}"
    );

    assert!(
        request.len() <= MAX_NOOP_BYTES,
        "{side}: the no-op request takes {} bytes on the wire, over {MAX_NOOP_BYTES}",
        request.len()
    );
    assert!(
        response.len() <= MAX_NOOP_BYTES,
        "{side}: the no-op response takes {} bytes on the wire, over {MAX_NOOP_BYTES}",
        response.len()
    );
}

fn server_address(world: &World) -> SocketAddr {
    world
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("the world's address")
}

/// The head (up to and including the blank line) and the body of an HTTP
/// message.
fn split(message: &[u8]) -> (&[u8], &[u8]) {
    let end = message
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map_or(message.len(), |position| position + 4);
    message.split_at(end)
}

/// A response body as JSON bytes: decompressed when the head says zstd.
fn decoded(head: &[u8], body: &[u8]) -> Vec<u8> {
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    let zstd = head
        .lines()
        .any(|line| line.starts_with("content-encoding:") && line.contains("zstd"));
    if zstd {
        zstd::decode_all(body).expect("a zstd body")
    } else {
        body.to_vec()
    }
}

/// A message for the log: text as is (the bearer token hidden), anything
/// else escaped.
fn printable(message: &[u8]) -> String {
    let (head, body) = split(message);
    let head: Vec<String> = String::from_utf8_lossy(head)
        .lines()
        .map(|line| {
            if line.to_ascii_lowercase().starts_with("authorization:") {
                "authorization: Bearer <64 hex digits>".to_string()
            } else {
                line.to_string()
            }
        })
        .collect();
    let body = match std::str::from_utf8(body) {
        Ok(text) => text.to_string(),
        Err(_) => body.escape_ascii().to_string(),
    };
    format!("{}\n{body}", head.join("\n"))
}

/// A TCP relay on `127.0.0.1:0` in front of `upstream` that keeps a copy of
/// every byte it passes, in each direction. Bytes are recorded before they
/// are passed on, so once a peer has received them they are counted.
#[derive(Debug)]
struct Tap {
    address: SocketAddr,
    shared: Arc<TapShared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct TapShared {
    upstream: SocketAddr,
    stopping: AtomicBool,
    connections: AtomicU64,
    /// Client to upstream.
    requests: Mutex<Vec<u8>>,
    /// Upstream to client.
    responses: Mutex<Vec<u8>>,
}

/// Time limit of every read and write of the relay.
const TAP_TIMEOUT: Duration = Duration::from_secs(30);

impl Tap {
    fn start(upstream: SocketAddr) -> io::Result<Tap> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let address = listener.local_addr()?;
        let shared = Arc::new(TapShared {
            upstream,
            stopping: AtomicBool::new(false),
            connections: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
            responses: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("tap-{}", address.port()))
                .spawn(move || {
                    for incoming in listener.incoming() {
                        if shared.stopping.load(Ordering::SeqCst) {
                            return;
                        }
                        let Ok(client) = incoming else { continue };
                        shared.connections.fetch_add(1, Ordering::SeqCst);
                        let Ok(upstream) = TcpStream::connect(shared.upstream) else {
                            continue;
                        };
                        relay(client, upstream, &shared);
                    }
                })?
        };
        Ok(Tap {
            address,
            shared,
            acceptor: Some(acceptor),
        })
    }

    fn address(&self) -> SocketAddr {
        self.address
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Every byte so far: (client to upstream, upstream to client).
    fn bytes(&self) -> (Vec<u8>, Vec<u8>) {
        (
            lock(&self.shared.requests).clone(),
            lock(&self.shared.responses).clone(),
        )
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wakes the acceptor, blocked in accept(); it sees the flag.
        if TcpStream::connect_timeout(&self.address, Duration::from_secs(1)).is_ok()
            && let Some(acceptor) = self.acceptor.take()
        {
            let _ = acceptor.join();
        }
    }
}

/// Pumps both directions of one connection on their own threads; each ends
/// at end of stream, an error or the time limit.
fn relay(client: TcpStream, upstream: TcpStream, shared: &Arc<TapShared>) {
    let pair = || -> io::Result<(TcpStream, TcpStream)> {
        for stream in [&client, &upstream] {
            stream.set_read_timeout(Some(TAP_TIMEOUT))?;
            stream.set_write_timeout(Some(TAP_TIMEOUT))?;
            stream.set_nodelay(true)?;
        }
        Ok((client.try_clone()?, upstream.try_clone()?))
    };
    let Ok((client_back, upstream_back)) = pair() else {
        return;
    };
    let up = Arc::clone(shared);
    let down = Arc::clone(shared);
    let _ = std::thread::Builder::new()
        .name("tap-up".into())
        .spawn(move || pump(client, upstream, &up.requests));
    let _ = std::thread::Builder::new()
        .name("tap-down".into())
        .spawn(move || pump(upstream_back, client_back, &down.responses));
}

/// Copies `from` to `to`, recording every byte in `record` before passing
/// it on; at the end of `from`, ends the writing half of `to`.
fn pump(mut from: TcpStream, mut to: TcpStream, record: &Mutex<Vec<u8>>) {
    let mut buffer = [0_u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(read) => {
                lock(record).extend_from_slice(&buffer[..read]);
                if to.write_all(&buffer[..read]).is_err() {
                    let _ = from.shutdown(Shutdown::Both);
                    return;
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
