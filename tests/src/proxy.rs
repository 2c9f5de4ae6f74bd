//! A fault-injecting TCP proxy between a device's [`HttpTransport`] and the
//! real server, for the fault tests of sync (`tests/tests/faults.rs`): it
//! drops connections, resets them half way through a request, truncates
//! responses, delays exchanges and answers statuses of its own (503 with
//! `Retry-After`, say), so the tests can check that the client classifies
//! each failure as it should and that no visit is lost or stored twice.
//!
//! It works on bytes, with only as much HTTP/1.1 as it needs:
//!
//! - one request per client connection. It reads the request head (up to
//!   `\r\n\r\n`) and a `Content-Length` body, sends it upstream with
//!   `Connection: close`, reads the whole response, and passes it on with
//!   `Connection: close` before closing both sides. A client that keeps
//!   connections alive (reqwest) simply opens a new one for the next request;
//! - every fault is drawn per connection from a small PRNG seeded with the
//!   proxy's seed and the connection's number, so a run can be replayed from
//!   its seed when the client makes its requests one after the other;
//! - reads are bounded ([`MAX_HEAD_BYTES`], [`MAX_BODY_BYTES`]) and every
//!   socket has a timeout, so the proxy never grows without limit, and
//!   malformed input gets a 4xx answer (or a closed connection), never a
//!   panic.
//!
//! What it does not do:
//!
//! - TLS, HTTP/2, `CONNECT`, upgrades (WebSocket), or pipelining: bytes
//!   after the first request on a connection are ignored;
//! - chunked request bodies (`Transfer-Encoding`): answered with 501;
//! - `Expect: 100-continue`: no interim response is sent, so such a client
//!   waits for its own timeout before sending the body;
//! - streaming: requests and responses are buffered whole, so a response of
//!   more than [`MAX_BODY_BYTES`] is answered with 502;
//! - bandwidth shaping, packet loss or reordering below TCP: only whole
//!   connections are dropped, cut or delayed.
//!
//! It runs on plain threads (one to accept, one per connection) rather than
//! an async runtime: the tests drive it with blocking device code and a
//! handful of connections at a time.
//!
//! [`HttpTransport`]: doorstep_core::transport::HttpTransport

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest request or response head (request line or status line, and the
/// headers) the proxy reads; a longer request head is answered with 431.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Largest request or response body the proxy buffers: 64 MiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Time limit of every read and write, on both sides.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a refused client may go on sending, per read, before the close.
const LINGER: Duration = Duration::from_secs(1);
/// How much a refused client may go on sending before the close.
const MAX_LINGER_BYTES: usize = 1024 * 1024;
/// How long a delay sleeps between two looks at the stop flag.
const SLEEP_SLICE: Duration = Duration::from_millis(10);

/// What the proxy does wrong, and how often.
///
/// The four faults exclude one another: each connection meets at most one
/// of [`drop_before`](Faults::drop_before), [`status`](Faults::status),
/// [`reset_mid_request`](Faults::reset_mid_request) and
/// [`truncate_response`](Faults::truncate_response), and each probability
/// is the share of all connections that meet that fault (0.2 each: a fifth
/// of the connections dropped, a fifth answered 503, and so on, a fifth
/// served faithfully). Probabilities clamp to 0.0–1.0 (NaN counts as 0.0);
/// when they add up to more than 1.0, the ones later in that order get what
/// is left. [`delay`](Faults::delay) comes on top, for every connection that
/// is not dropped.
///
/// A connection goes: dropped, or its request is read; delayed; answered
/// with the injected status, or forwarded (cut short when reset); the
/// response read whole and passed on (cut short when truncated).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// Close the client's connection at once, without reading the request
    /// or contacting upstream.
    pub drop_before: f64,
    /// Forward only a prefix of the request (possibly none of it) upstream,
    /// then close both sides: upstream never sees a whole request.
    pub reset_mid_request: f64,
    /// Forward the whole request, read the whole response, pass on only a
    /// strict prefix of it (possibly empty), then close: upstream has done
    /// the work, the client never learns the outcome.
    pub truncate_response: f64,
    /// Sleep this long after reading the request, before answering or
    /// forwarding it (every connection that gets that far).
    pub delay: Option<Duration>,
    /// `(status, Retry-After seconds, probability)`: answer with this status,
    /// an `ErrorBody` `{"error":"unavailable","message":"injected"}` and a
    /// `Retry-After` header if given, without contacting upstream.
    pub status: Option<(u16, Option<u64>, f64)>,
}

impl Faults {
    /// A faithful proxy: every request forwarded, every response whole.
    pub fn none() -> Faults {
        Faults::default()
    }
}

/// What the proxy has done since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Client connections accepted.
    pub connections: u64,
    /// Connections closed at once ([`Faults::drop_before`]).
    pub dropped: u64,
    /// Requests cut on their way upstream ([`Faults::reset_mid_request`]).
    pub reset: u64,
    /// Responses cut on their way back ([`Faults::truncate_response`]).
    pub truncated: u64,
    /// Exchanges delayed ([`Faults::delay`]).
    pub delayed: u64,
    /// Statuses answered by the proxy itself ([`Faults::status`]).
    pub status_injected: u64,
    /// Responses from upstream passed on whole.
    pub forwarded: u64,
    /// Requests the proxy refused itself (malformed, too large, chunked) or
    /// could not forward (upstream unreachable or its answer too large).
    pub refused: u64,
}

/// A TCP proxy on `127.0.0.1`, port 0, in front of `upstream`, that injects
/// [`Faults`]. It runs on its own threads until dropped.
#[derive(Debug)]
pub struct FaultyProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<Vec<JoinHandle<()>>>>,
}

impl FaultyProxy {
    /// Listens on `127.0.0.1:0` and forwards to `upstream` with `faults`.
    /// `seed` makes the faults reproducible: connection number `n` of two
    /// proxies with the same seed and faults meets the same faults.
    pub fn start(upstream: SocketAddr, faults: Faults, seed: u64) -> io::Result<FaultyProxy> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            seed,
            faults: Mutex::new(faults),
            stopping: AtomicBool::new(false),
            counters: Counters::default(),
            live: Mutex::new(HashMap::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("faulty-proxy-{}", address.port()))
                .spawn(move || accept_loop(&listener, &shared))?
        };
        Ok(FaultyProxy {
            address,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// Where the proxy listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://ADDRESS`, for a device's transport.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The server the proxy forwards to.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// The faults new connections meet from now on (connections already
    /// open keep the ones they started with).
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.shared.faults) = faults;
    }

    /// The faults new connections meet now.
    pub fn faults(&self) -> Faults {
        *lock(&self.shared.faults)
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        let counters = &self.shared.counters;
        let read = |counter: &AtomicU64| counter.load(Ordering::SeqCst);
        Stats {
            connections: read(&counters.connections),
            dropped: read(&counters.dropped),
            reset: read(&counters.reset),
            truncated: read(&counters.truncated),
            delayed: read(&counters.delayed),
            status_injected: read(&counters.status_injected),
            forwarded: read(&counters.forwarded),
            refused: read(&counters.refused),
        }
    }
}

impl Drop for FaultyProxy {
    /// Stops accepting, cuts the connections in flight and waits for every
    /// thread of the proxy.
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wakes the acceptor, blocked in accept(); it sees the flag.
        let woken = TcpStream::connect_timeout(&self.address, Duration::from_secs(1)).is_ok();
        for streams in lock(&self.shared.live).values() {
            for stream in streams {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
        // Without the wake-up, joining could wait forever: leave the thread.
        if !woken {
            return;
        }
        if let Some(acceptor) = self.acceptor.take()
            && let Ok(handlers) = acceptor.join()
        {
            for handler in handlers {
                let _ = handler.join();
            }
        }
    }
}

/// State shared by the handle and the proxy's threads.
#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    seed: u64,
    faults: Mutex<Faults>,
    stopping: AtomicBool,
    counters: Counters,
    /// Sockets of the connections in flight, by connection number, so that
    /// a drop can cut them.
    live: Mutex<HashMap<u64, Vec<TcpStream>>>,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Records `stream` as part of connection `number`; false (and not
    /// recorded) once the proxy is stopping.
    fn register(&self, number: u64, stream: &TcpStream) -> bool {
        let mut live = lock(&self.live);
        // Checked under the lock that the drop takes after setting the flag:
        // a stream is either cut by the drop or never used.
        if self.stopping() {
            return false;
        }
        if let Ok(clone) = stream.try_clone() {
            live.entry(number).or_default().push(clone);
        }
        true
    }

    fn forget(&self, number: u64) {
        lock(&self.live).remove(&number);
    }

    fn count(&self, counter: impl Fn(&Counters) -> &AtomicU64) {
        counter(&self.counters).fetch_add(1, Ordering::SeqCst);
    }

    /// Sleeps `delay`, waking early when the proxy stops.
    fn sleep(&self, delay: Duration) {
        let end = Instant::now() + delay;
        loop {
            let now = Instant::now();
            if now >= end || self.stopping() {
                return;
            }
            std::thread::sleep((end - now).min(SLEEP_SLICE));
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    dropped: AtomicU64,
    reset: AtomicU64,
    truncated: AtomicU64,
    delayed: AtomicU64,
    status_injected: AtomicU64,
    forwarded: AtomicU64,
    refused: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Accepts until the stop flag is up; returns the handlers still running.
fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) -> Vec<JoinHandle<()>> {
    let mut handlers: Vec<JoinHandle<()>> = Vec::new();
    let mut number = 0_u64;
    for incoming in listener.incoming() {
        if shared.stopping() {
            break;
        }
        let client = match incoming {
            Ok(client) => client,
            Err(_) => {
                // Out of descriptors or similar: do not spin.
                std::thread::sleep(SLEEP_SLICE);
                continue;
            }
        };
        handlers.retain(|handler| !handler.is_finished());
        number += 1;
        shared.count(|counters| &counters.connections);
        let shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name(format!("faulty-proxy-connection-{number}"))
            .spawn(move || {
                if shared.register(number, &client) {
                    handle(client, &shared, number);
                }
                shared.forget(number);
            });
        // On failure the closure, and the client with it, is dropped:
        // the connection closes.
        if let Ok(handler) = spawned {
            handlers.push(handler);
        }
    }
    handlers
}

/// The faults one connection meets, drawn before anything happens so that
/// the draws depend on the seed and the connection number only.
#[derive(Debug, Clone, Copy)]
struct Plan {
    drop_before: bool,
    status: Option<(u16, Option<u64>)>,
    reset: bool,
    truncate: bool,
    delay: Option<Duration>,
    request_cut: u64,
    response_cut: u64,
}

impl Plan {
    fn draw(faults: &Faults, seed: u64, number: u64) -> Plan {
        let mut random = Random::new(seed, number);
        let roll = random.unit();
        let request_cut = random.next_u64();
        let response_cut = random.next_u64();
        let (status, status_probability) = match faults.status {
            Some((status, retry_after, probability)) => (Some((status, retry_after)), probability),
            None => (None, 0.0),
        };
        // Consecutive intervals of [0, 1): the roll falls in at most one.
        let mut bound = 0.0;
        let mut within = |probability: f64| {
            let start = bound;
            bound = (bound + clamp(probability)).min(1.0);
            start <= roll && roll < bound
        };
        let drop_before = within(faults.drop_before);
        let status = status.filter(|_| within(status_probability));
        let reset = within(faults.reset_mid_request);
        let truncate = within(faults.truncate_response);
        Plan {
            drop_before,
            status,
            reset,
            truncate,
            delay: faults.delay,
            request_cut,
            response_cut,
        }
    }
}

fn clamp(probability: f64) -> f64 {
    if probability.is_nan() {
        0.0
    } else {
        probability.clamp(0.0, 1.0)
    }
}

/// xorshift64*, seeded through splitmix64 from the proxy's seed and the
/// connection number: small, fast and reproducible, not cryptographic.
#[derive(Debug, Clone)]
struct Random(u64);

impl Random {
    fn new(seed: u64, stream: u64) -> Random {
        let mut state = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut mixed = splitmix64(&mut state);
        if mixed == 0 {
            mixed = 0x2545_F491_4F6C_DD1D;
        }
        Random(mixed)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        // 53 random bits: exactly representable.
        let value = (self.next_u64() >> 11) as f64;
        value / (1_u64 << 53) as f64
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A position in `0..length` (0 when `length` is 0) from a random number.
fn cut(random: u64, length: usize) -> usize {
    match u64::try_from(length) {
        Ok(0) | Err(_) => 0,
        Ok(length) => usize::try_from(random % length).unwrap_or(0),
    }
}

/// One connection, start to end. Errors only mean the connection ends.
fn handle(mut client: TcpStream, shared: &Shared, number: u64) {
    let faults = *lock(&shared.faults);
    let plan = Plan::draw(&faults, shared.seed, number);
    if plan.drop_before {
        shared.count(|counters| &counters.dropped);
        drop(client);
        return;
    }
    if configure(&client).is_err() {
        return;
    }
    let request = match read_message(&mut client, Side::Request) {
        Ok(Some(request)) => request,
        // The client left before sending a whole request.
        Ok(None) => return,
        Err(refusal) => {
            shared.count(|counters| &counters.refused);
            let _ = client.write_all(&refusal.response());
            linger(&mut client);
            return;
        }
    };
    if let Some(delay) = plan.delay {
        shared.count(|counters| &counters.delayed);
        shared.sleep(delay);
    }
    if shared.stopping() {
        return;
    }
    if let Some((status, retry_after)) = plan.status {
        shared.count(|counters| &counters.status_injected);
        let _ = client.write_all(&error_response(
            status,
            retry_after,
            "unavailable",
            "injected",
        ));
        return;
    }
    let mut upstream = match connect_upstream(shared, number) {
        Ok(upstream) => upstream,
        Err(error) => {
            shared.count(|counters| &counters.refused);
            let _ = client.write_all(&error_response(
                502,
                None,
                "bad_gateway",
                &format!("the proxy could not reach the server: {error}"),
            ));
            return;
        }
    };
    if plan.reset {
        shared.count(|counters| &counters.reset);
        let prefix = cut(plan.request_cut, request.len());
        let _ = upstream.write_all(&request[..prefix]);
        // Dropping both streams closes both connections.
        return;
    }
    if upstream.write_all(&request).is_err() {
        shared.count(|counters| &counters.refused);
        let _ = client.write_all(&error_response(
            502,
            None,
            "bad_gateway",
            "the proxy could not send the request to the server",
        ));
        return;
    }
    let response = match read_message(&mut upstream, Side::Response) {
        Ok(Some(response)) => response,
        Ok(None) | Err(_) => {
            shared.count(|counters| &counters.refused);
            let _ = client.write_all(&error_response(
                502,
                None,
                "bad_gateway",
                "the server's answer was incomplete or too large",
            ));
            return;
        }
    };
    drop(upstream);
    if plan.truncate {
        shared.count(|counters| &counters.truncated);
        let prefix = cut(plan.response_cut, response.len());
        let _ = client.write_all(&response[..prefix]);
        return;
    }
    if client.write_all(&response).is_ok() {
        let _ = client.flush();
        shared.count(|counters| &counters.forwarded);
    }
}

/// Closes after an answer given before the request was read whole: stops
/// writing, then reads and discards what the client still sends (bounded),
/// so that closing does not reset the connection under the answer.
fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(LINGER));
    let mut sink = [0_u8; 16 * 1024];
    let mut left = MAX_LINGER_BYTES;
    while left > 0 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(read) => left = left.saturating_sub(read),
        }
    }
}

fn configure(stream: &TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.set_nodelay(true)
}

fn connect_upstream(shared: &Shared, number: u64) -> io::Result<TcpStream> {
    let upstream = TcpStream::connect_timeout(&shared.upstream, IO_TIMEOUT)?;
    configure(&upstream)?;
    if !shared.register(number, &upstream) {
        return Err(io::Error::other("the proxy is stopping"));
    }
    Ok(upstream)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Request,
    Response,
}

/// Why the proxy answers a request itself.
#[derive(Debug)]
enum Refusal {
    /// 400: the head cannot be read.
    Malformed(&'static str),
    /// 431: the head is over [`MAX_HEAD_BYTES`].
    HeadTooLarge,
    /// 413: the body is over [`MAX_BODY_BYTES`].
    BodyTooLarge,
    /// 501: something this proxy does not do.
    Unsupported(&'static str),
    /// The connection failed while reading; nothing to answer.
    Io,
}

impl Refusal {
    fn response(&self) -> Vec<u8> {
        match self {
            Refusal::Malformed(message) => error_response(400, None, "bad_request", message),
            Refusal::HeadTooLarge => error_response(
                431,
                None,
                "bad_request",
                "the request head is too large for the proxy",
            ),
            Refusal::BodyTooLarge => error_response(
                413,
                None,
                "too_large",
                "the request body is too large for the proxy",
            ),
            Refusal::Unsupported(message) => error_response(501, None, "unsupported", message),
            Refusal::Io => Vec::new(),
        }
    }
}

/// Reads one message: a request (head and `Content-Length` body), or a
/// response (until upstream closes, or its `Content-Length` is complete).
/// Returns it with its head rewritten to `Connection: close`, or `None`
/// when the peer closed before a request head was complete.
fn read_message(stream: &mut TcpStream, side: Side) -> Result<Option<Vec<u8>>, Refusal> {
    let mut buffer = Vec::new();
    let mut chunk = vec![0_u8; 16 * 1024];
    // The head.
    let head_end = loop {
        if let Some(end) = find_head_end(&buffer) {
            break Some(end);
        }
        if buffer.len() > MAX_HEAD_BYTES {
            return match side {
                Side::Request => Err(Refusal::HeadTooLarge),
                Side::Response => Err(Refusal::Io),
            };
        }
        let read = read_some(stream, &mut chunk)?;
        if read == 0 {
            break None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let Some(head_end) = head_end else {
        return match side {
            Side::Request => Ok(None),
            // A response without a whole head: pass on what came (the
            // client sees it as broken, as it would without a proxy).
            Side::Response if buffer.is_empty() => Ok(None),
            Side::Response => Ok(Some(buffer)),
        };
    };
    let head = parse_head(&buffer[..head_end])?;
    if side == Side::Request && head.chunked {
        return Err(Refusal::Unsupported(
            "the proxy does not take chunked request bodies",
        ));
    }
    let body_limit = match head.content_length {
        Some(length) if length > MAX_BODY_BYTES as u64 => {
            return Err(match side {
                Side::Request => Refusal::BodyTooLarge,
                Side::Response => Refusal::Io,
            });
        }
        Some(length) => usize::try_from(length).map_err(|_| Refusal::BodyTooLarge)?,
        // A request without a length has no body; a response lasts until
        // the connection closes.
        None if side == Side::Request => 0,
        None => MAX_BODY_BYTES + 1,
    };
    let mut body = buffer.split_off(head_end);
    while body.len() < body_limit {
        let want = (body_limit - body.len()).min(chunk.len());
        let read = read_some(stream, &mut chunk[..want])?;
        if read == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..read]);
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(Refusal::Io);
    }
    if side == Side::Request && body.len() < body_limit {
        // The client left in the middle of its body.
        return Ok(None);
    }
    // Bytes past the body (a pipelined request) are dropped.
    body.truncate(body_limit);
    let mut message = head.rewritten;
    message.extend_from_slice(&body);
    Ok(Some(message))
}

fn read_some(stream: &mut TcpStream, chunk: &mut [u8]) -> Result<usize, Refusal> {
    loop {
        match stream.read(chunk) {
            Ok(read) => return Ok(read),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(Refusal::Io),
        }
    }
}

/// The length of the head, `\r\n\r\n` included, once it is all there.
fn find_head_end(buffer: &[u8]) -> Option<usize> {
    buffer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|position| position + 4)
}

#[derive(Debug)]
struct Head {
    /// The head with its `Connection` headers replaced by `Connection: close`.
    rewritten: Vec<u8>,
    content_length: Option<u64>,
    chunked: bool,
}

/// Headers that describe the connection, dropped when the head is rewritten.
const HOP_HEADERS: [&[u8]; 3] = [b"connection", b"keep-alive", b"proxy-connection"];

fn parse_head(head: &[u8]) -> Result<Head, Refusal> {
    // `head` ends with "\r\n\r\n": drop it, then split the lines.
    let text = head.strip_suffix(b"\r\n\r\n").unwrap_or(head);
    let mut lines = text
        .split(|byte| *byte == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let first = lines.next().unwrap_or_default();
    if first.is_empty() || !first.contains(&b' ') {
        return Err(Refusal::Malformed(
            "the proxy could not read the request line",
        ));
    }
    let mut rewritten = Vec::with_capacity(head.len() + 32);
    rewritten.extend_from_slice(first);
    rewritten.extend_from_slice(b"\r\n");
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let Some(colon) = line.iter().position(|byte| *byte == b':') else {
            return Err(Refusal::Malformed("a header line without a colon"));
        };
        let name = line[..colon].trim_ascii();
        let value = line[colon + 1..].trim_ascii();
        if name.is_empty() {
            return Err(Refusal::Malformed("a header without a name"));
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            let length = std::str::from_utf8(value)
                .ok()
                .filter(|text| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()))
                .and_then(|text| text.parse::<u64>().ok())
                .ok_or(Refusal::Malformed("a Content-Length that is not a number"))?;
            if content_length.is_some_and(|earlier| earlier != length) {
                return Err(Refusal::Malformed("two different Content-Length headers"));
            }
            content_length = Some(length);
        }
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = true;
        }
        if HOP_HEADERS.iter().any(|hop| name.eq_ignore_ascii_case(hop)) {
            continue;
        }
        rewritten.extend_from_slice(line);
        rewritten.extend_from_slice(b"\r\n");
    }
    rewritten.extend_from_slice(b"Connection: close\r\n\r\n");
    Ok(Head {
        rewritten,
        content_length,
        chunked,
    })
}

/// A whole HTTP/1.1 response with an `ErrorBody` in JSON.
fn error_response(status: u16, retry_after: Option<u64>, error: &str, message: &str) -> Vec<u8> {
    let body = serde_json::to_vec(&doorstep_protocol::ErrorBody {
        error: error.to_string(),
        message: message.to_string(),
    })
    .unwrap_or_default();
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        reason(status),
        body.len()
    );
    if let Some(seconds) = retry_after {
        head.push_str(&format!("Retry-After: {seconds}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut response = head.into_bytes();
    response.extend_from_slice(&body);
    response
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Injected",
    }
}
