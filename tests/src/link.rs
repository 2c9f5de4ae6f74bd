//! A weak mobile link between a device and the real server, for the tests
//! that sync over what phones in the villages actually have: a byte-level
//! TCP relay that limits the bandwidth of each direction, delays every byte
//! by a one-way latency and, when asked, cuts every open connection at once
//! after a given volume (a phone losing its signal).
//!
//! It works on bytes only and knows nothing of HTTP:
//!
//! - each direction of the link (device to server, "up"; server to device,
//!   "down") has one token bucket shared by every connection, as a single
//!   radio would: all connections together carry at most
//!   [`LinkShape::up_bytes_per_sec`] up and
//!   [`LinkShape::down_bytes_per_sec`] down (a ceiling: at several MB/s
//!   the threads' short sleeps make it carry somewhat less);
//! - bytes are taken from a socket only when the bucket has room for them,
//!   in pieces of at most [`MAX_PIECE_BYTES`] (and at most 20 ms of the
//!   rate), so the link never reads ahead of its pace: the backlog stays in
//!   the kernel's buffers and the sender's, as on a real slow link, and
//!   [`LinkStats`] counts exactly the bytes that entered the link;
//! - every piece is delivered [`LinkShape::one_way_delay`] after it was
//!   read, through a queue per direction of each connection, so the delay
//!   costs latency, not throughput; order is preserved;
//! - with [`LinkShape::cut_every`], each time the bytes carried (both
//!   directions, all connections) cross another multiple of it, every open
//!   connection is closed at once: both sockets shut down, the pieces in
//!   flight inside the link dropped. New connections are accepted as
//!   before. [`WeakLink::cut_now`] does the same on demand;
//! - half-closes pass through: the end of one direction (a client that
//!   shuts down its writing side, a server that closes after its answer)
//!   reaches the other end after the delay, behind the bytes before it. A
//!   connection ends when both directions have ended, or at once on any
//!   error on either socket;
//! - the in-flight queue of each direction of a connection is bounded (64
//!   KiB plus the bandwidth-delay product), so a peer that stops reading
//!   makes the link stop reading too, and the link never grows without
//!   limit. Every socket has a short timeout, so every thread sees the stop
//!   flag, and dropping the [`WeakLink`] closes everything and joins its
//!   threads.
//!
//! What it does not emulate:
//!
//! - packet loss, reordering, duplication or jitter below TCP: the two
//!   TCP connections (device to link, link to server) are loopback
//!   connections and deliver every byte in order; a weak link's losses
//!   show up here only as lower bandwidth, latency and cuts;
//! - the handshake's round trip: the device's connect succeeds at once
//!   (the link accepts it) and the link connects to the server then; if
//!   the server refuses, the device sees its connection closed before any
//!   byte;
//! - anything about what the bytes mean: TLS, HTTP/1.1 or HTTP/2 pass
//!   through untouched, since the link relays bytes;
//! - idle timeouts of a carrier's network: an idle connection stays open
//!   until a peer, a cut or the drop closes it;
//! - a cut as a reset: a cut shuts the sockets down, so a peer sees an end
//!   of stream (or a reset if it had bytes the link had not read yet),
//!   whichever its kernel reports.
//!
//! It runs on plain threads (one to accept; per connection, one to run it,
//! and one to read and one to deliver in each direction) rather than an
//! async runtime, like [`crate::proxy`].

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest piece the link reads from a socket at once: about one packet.
pub const MAX_PIECE_BYTES: usize = 1_500;
/// The in-flight queue of one direction of a connection holds this much
/// beyond the bandwidth-delay product before the link stops reading.
const QUEUE_SLACK_BYTES: usize = 64 * 1024;
/// Upper bound of that queue, whatever the shape.
const MAX_QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// Time limit of each read and write on the sockets, and of each wait: how
/// long a thread may go without looking at the stop flag.
const SLICE: Duration = Duration::from_millis(20);
/// How long the link tries to reach the server for a new connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Latency the link never adds beyond (a year): keeps instants finite.
const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

/// The shape of the link: bandwidth each way, latency, and cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkShape {
    /// Bytes per second from the devices to the server, all connections
    /// together. 0 stalls the direction: nothing more is read until a
    /// [`WeakLink::set_shape`] gives it a rate.
    pub up_bytes_per_sec: u64,
    /// Bytes per second from the server to the devices, all connections
    /// together; 0 stalls, as for `up_bytes_per_sec`.
    pub down_bytes_per_sec: u64,
    /// How long after it is read each byte is delivered, each way (half
    /// the round trip).
    pub one_way_delay: Duration,
    /// Close every open connection each time the bytes carried (both
    /// directions, all connections, since the link started) cross another
    /// multiple of this. `None` (or `Some(0)`): never.
    pub cut_every: Option<u64>,
}

impl LinkShape {
    /// The reference weak link: 50 kbit/s each way (6,250 bytes a second),
    /// 500 ms round trip (250 ms each way), no cuts.
    pub fn weak_2g() -> LinkShape {
        LinkShape {
            up_bytes_per_sec: 6_250,
            down_bytes_per_sec: 6_250,
            one_way_delay: Duration::from_millis(250),
            cut_every: None,
        }
    }

    /// The same link, cut every `bytes` carried (both directions together).
    pub fn with_cuts(self, bytes: u64) -> LinkShape {
        LinkShape {
            cut_every: Some(bytes),
            ..self
        }
    }
}

/// What the link has carried since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkStats {
    /// Device connections accepted.
    pub connections: u64,
    /// Bytes read from the devices into the link, towards the server
    /// (counted as they enter the link, whether or not a cut lost them on
    /// the way).
    pub bytes_up: u64,
    /// Bytes read from the server into the link, towards the devices.
    pub bytes_down: u64,
    /// Times every open connection was closed at once: by
    /// [`LinkShape::cut_every`] or [`WeakLink::cut_now`].
    pub cuts: u64,
}

/// A weak link on `127.0.0.1`, port 0, in front of `upstream`. It runs on
/// its own threads until dropped.
#[derive(Debug)]
pub struct WeakLink {
    address: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<Vec<JoinHandle<()>>>>,
}

impl WeakLink {
    /// Listens on `127.0.0.1:0` and relays each connection to `upstream`
    /// through a link of `shape`.
    pub fn start(upstream: SocketAddr, shape: LinkShape) -> io::Result<WeakLink> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            shape: Mutex::new(shape),
            stopping: AtomicBool::new(false),
            up: Bucket::new(shape.up_bytes_per_sec),
            down: Bucket::new(shape.down_bytes_per_sec),
            carried: AtomicU64::new(0),
            counters: Counters::default(),
            live: Mutex::new(HashMap::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("weak-link-{}", address.port()))
                .spawn(move || accept_loop(&listener, &shared))?
        };
        Ok(WeakLink {
            address,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// Where the link listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://ADDRESS`, for a device's transport.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The server the link relays to.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// The shape of the link now.
    pub fn shape(&self) -> LinkShape {
        *lock(&self.shared.shape)
    }

    /// Changes the shape at once, for the connections already open as for
    /// new ones: the rates from the next piece read (a stalled direction
    /// wakes up), the delay for pieces read from now on (pieces already in
    /// flight keep theirs; order is still preserved), and the cuts at the
    /// next multiple of the new `cut_every` of the bytes carried so far.
    pub fn set_shape(&self, shape: LinkShape) {
        *lock(&self.shared.shape) = shape;
        self.shared.up.set_rate(shape.up_bytes_per_sec);
        self.shared.down.set_rate(shape.down_bytes_per_sec);
    }

    /// Closes every open connection at once, as a cut does (both sockets
    /// shut down, the bytes in flight lost), and counts it in
    /// [`LinkStats::cuts`]. New connections are accepted as before.
    pub fn cut_now(&self) {
        self.shared.cut();
    }

    /// The counters so far.
    pub fn stats(&self) -> LinkStats {
        let counters = &self.shared.counters;
        let read = |counter: &AtomicU64| counter.load(Ordering::SeqCst);
        LinkStats {
            connections: read(&counters.connections),
            bytes_up: read(&counters.bytes_up),
            bytes_down: read(&counters.bytes_down),
            cuts: read(&counters.cuts),
        }
    }
}

impl Drop for WeakLink {
    /// Stops accepting, closes the open connections and waits for every
    /// thread of the link.
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wakes the acceptor, blocked in accept(); it sees the flag.
        let woken = TcpStream::connect_timeout(&self.address, Duration::from_secs(1)).is_ok();
        self.shared.close_all();
        self.shared.up.wake();
        self.shared.down.wake();
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

/// State shared by the handle and the link's threads.
#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    shape: Mutex<LinkShape>,
    stopping: AtomicBool,
    /// The two directions' buckets, shared by every connection.
    up: Bucket,
    down: Bucket,
    /// Bytes carried both ways since the start, for the cuts.
    carried: AtomicU64,
    counters: Counters,
    /// The connections open, by number, so that a cut or a drop can close
    /// them.
    live: Mutex<HashMap<u64, Arc<Connection>>>,
}

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    cuts: AtomicU64,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn shape(&self) -> LinkShape {
        *lock(&self.shape)
    }

    /// Records `connection` as open; false (and not recorded) once the link
    /// is stopping.
    fn register(&self, number: u64, connection: &Arc<Connection>) -> bool {
        let mut live = lock(&self.live);
        // Checked under the lock that the drop takes after setting the flag:
        // a connection is either closed by the drop or never used.
        if self.stopping() {
            return false;
        }
        live.insert(number, Arc::clone(connection));
        true
    }

    fn forget(&self, number: u64) {
        lock(&self.live).remove(&number);
    }

    /// Closes every open connection.
    fn close_all(&self) {
        for connection in lock(&self.live).values() {
            connection.close();
        }
    }

    /// A cut: every open connection closed, and counted.
    fn cut(&self) {
        self.counters.cuts.fetch_add(1, Ordering::SeqCst);
        self.close_all();
    }

    /// Counts `bytes` that entered the link going `direction`; true when
    /// they cross a multiple of `cut_every` (the caller then cuts).
    fn carry(&self, direction: Direction, bytes: usize) -> bool {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        let counter = match direction {
            Direction::Up => &self.counters.bytes_up,
            Direction::Down => &self.counters.bytes_down,
        };
        counter.fetch_add(bytes, Ordering::SeqCst);
        let before = self.carried.fetch_add(bytes, Ordering::SeqCst);
        let after = before.saturating_add(bytes);
        match self.shape().cut_every {
            Some(every) if every > 0 => before / every != after / every,
            _ => false,
        }
    }

    fn bucket(&self, direction: Direction) -> &Bucket {
        match direction {
            Direction::Up => &self.up,
            Direction::Down => &self.down,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn wait<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> MutexGuard<'a, T> {
    match condvar.wait_timeout(guard, timeout) {
        Ok((guard, _)) => guard,
        Err(poisoned) => poisoned.into_inner().0,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// From the device to the server.
    Up,
    /// From the server to the device.
    Down,
}

/// A token bucket: one direction of the whole link.
#[derive(Debug)]
struct Bucket {
    state: Mutex<BucketState>,
    changed: Condvar,
}

#[derive(Debug)]
struct BucketState {
    rate: u64,
    /// Bytes that may be read now.
    tokens: f64,
    refilled: Instant,
}

impl BucketState {
    /// The most the bucket holds, and so the largest piece: 20 ms of the
    /// rate, at least one byte and at most [`MAX_PIECE_BYTES`].
    fn capacity(&self) -> f64 {
        let piece = (self.rate / 50).clamp(1, MAX_PIECE_BYTES as u64);
        piece as f64
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * self.rate as f64).min(self.capacity());
    }
}

impl Bucket {
    fn new(rate: u64) -> Bucket {
        let mut state = BucketState {
            rate,
            tokens: 0.0,
            refilled: Instant::now(),
        };
        state.tokens = if rate == 0 { 0.0 } else { state.capacity() };
        Bucket {
            state: Mutex::new(state),
            changed: Condvar::new(),
        }
    }

    fn set_rate(&self, rate: u64) {
        let mut state = lock(&self.state);
        state.refill(Instant::now());
        state.rate = rate;
        state.tokens = state.tokens.min(state.capacity());
        drop(state);
        self.changed.notify_all();
    }

    fn wake(&self) {
        self.changed.notify_all();
    }

    /// Waits until the bucket holds `want` bytes (or as many as it can
    /// hold, if fewer) and takes them; `None` when `give_up` says so first.
    fn take(&self, want: usize, give_up: &dyn Fn() -> bool) -> Option<usize> {
        let mut state = lock(&self.state);
        loop {
            if give_up() {
                return None;
            }
            state.refill(Instant::now());
            if state.rate > 0 {
                let need = (want.max(1) as f64).min(state.capacity());
                if state.tokens >= need {
                    state.tokens -= need;
                    // `need` is a whole number of at most MAX_PIECE_BYTES.
                    return Some(need as usize);
                }
                let missing = Duration::from_secs_f64((need - state.tokens) / state.rate as f64);
                state = wait(&self.changed, state, missing.min(SLICE));
            } else {
                state = wait(&self.changed, state, SLICE);
            }
        }
    }

    /// Returns tokens taken but not used.
    fn give_back(&self, unused: usize) {
        if unused == 0 {
            return;
        }
        let mut state = lock(&self.state);
        state.tokens = (state.tokens + unused as f64).min(state.capacity());
        drop(state);
        self.changed.notify_all();
    }
}

/// One relayed connection: the device's socket, the server's, and the
/// pieces in flight each way.
#[derive(Debug)]
struct Connection {
    client: TcpStream,
    server: TcpStream,
    up: Pipe,
    down: Pipe,
    closed: AtomicBool,
}

impl Connection {
    fn closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Closes the connection at once: both sockets shut down, the pieces in
    /// flight dropped, every thread of it woken.
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
        self.up.drop_all();
        self.down.drop_all();
    }

    /// The socket a direction reads from, and the one it writes to.
    fn ends(&self, direction: Direction) -> (&TcpStream, &TcpStream, &Pipe) {
        match direction {
            Direction::Up => (&self.client, &self.server, &self.up),
            Direction::Down => (&self.server, &self.client, &self.down),
        }
    }
}

/// The in-flight queue of one direction of a connection.
#[derive(Debug, Default)]
struct Pipe {
    state: Mutex<PipeState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct PipeState {
    items: VecDeque<Item>,
    /// Bytes in `items`.
    queued: usize,
    /// The connection was closed: everything in flight is lost.
    dropped: bool,
}

#[derive(Debug)]
enum Item {
    /// Bytes to deliver at an instant.
    Bytes(Instant, Vec<u8>),
    /// The end of the direction, to pass on at an instant.
    End(Instant),
}

/// What a writer does next.
#[derive(Debug)]
enum Next {
    Bytes(Vec<u8>),
    End,
    /// Closed, or the link is stopping.
    Stop,
}

impl Pipe {
    fn drop_all(&self) {
        let mut state = lock(&self.state);
        state.dropped = true;
        state.items.clear();
        state.queued = 0;
        drop(state);
        self.changed.notify_all();
    }

    /// Waits until the queue holds less than `bound` bytes; false when the
    /// connection closes or the link stops first.
    fn wait_room(&self, bound: usize, shared: &Shared) -> bool {
        let mut state = lock(&self.state);
        loop {
            if state.dropped || shared.stopping() {
                return false;
            }
            if state.queued < bound {
                return true;
            }
            state = wait(&self.changed, state, SLICE);
        }
    }

    /// Queues `item`, unless the connection was closed meanwhile.
    fn push(&self, item: Item) {
        let mut state = lock(&self.state);
        if state.dropped {
            return;
        }
        if let Item::Bytes(_, bytes) = &item {
            state.queued += bytes.len();
        }
        state.items.push_back(item);
        drop(state);
        self.changed.notify_all();
    }

    /// Waits for the next item and for its instant, and takes it.
    fn next(&self, shared: &Shared) -> Next {
        let mut state = lock(&self.state);
        loop {
            if state.dropped || shared.stopping() {
                return Next::Stop;
            }
            let due = match state.items.front() {
                Some(Item::Bytes(due, _) | Item::End(due)) => Some(*due),
                None => None,
            };
            let now = Instant::now();
            match due {
                Some(due) if due <= now => {
                    let item = state.items.pop_front();
                    if let Some(Item::Bytes(_, bytes)) = &item {
                        state.queued = state.queued.saturating_sub(bytes.len());
                    }
                    drop(state);
                    self.changed.notify_all();
                    return match item {
                        Some(Item::Bytes(_, bytes)) => Next::Bytes(bytes),
                        Some(Item::End(_)) => Next::End,
                        None => Next::Stop,
                    };
                }
                Some(due) => state = wait(&self.changed, state, (due - now).min(SLICE)),
                None => state = wait(&self.changed, state, SLICE),
            }
        }
    }
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
                std::thread::sleep(SLICE);
                continue;
            }
        };
        handlers.retain(|handler| !handler.is_finished());
        number += 1;
        shared.counters.connections.fetch_add(1, Ordering::SeqCst);
        let shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name(format!("weak-link-connection-{number}"))
            .spawn(move || {
                handle(client, &shared, number);
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

fn configure(stream: &TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(SLICE))?;
    stream.set_write_timeout(Some(SLICE))?;
    stream.set_nodelay(true)
}

/// One connection, start to end. Errors only mean the connection ends.
fn handle(client: TcpStream, shared: &Shared, number: u64) {
    if configure(&client).is_err() || shared.stopping() {
        return;
    }
    let Ok(server) = TcpStream::connect_timeout(&shared.upstream, CONNECT_TIMEOUT) else {
        return;
    };
    if configure(&server).is_err() {
        return;
    }
    let connection = Arc::new(Connection {
        client,
        server,
        up: Pipe::default(),
        down: Pipe::default(),
        closed: AtomicBool::new(false),
    });
    if !shared.register(number, &connection) {
        return;
    }
    let connection = &*connection;
    std::thread::scope(|scope| {
        for direction in [Direction::Up, Direction::Down] {
            let name = match direction {
                Direction::Up => "up",
                Direction::Down => "down",
            };
            let reader = std::thread::Builder::new()
                .name(format!("weak-link-{number}-{name}-read"))
                .spawn_scoped(scope, move || read_side(shared, connection, direction));
            let writer = std::thread::Builder::new()
                .name(format!("weak-link-{number}-{name}-write"))
                .spawn_scoped(scope, move || write_side(shared, connection, direction));
            if reader.is_err() || writer.is_err() {
                // The threads that did start see the close and end.
                connection.close();
            }
        }
    });
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Reads one direction into the link, at the pace of its bucket, until the
/// source's end (queued for the writer), an error or a close.
fn read_side(shared: &Shared, connection: &Connection, direction: Direction) {
    let (mut source, _, pipe) = connection.ends(direction);
    let bucket = shared.bucket(direction);
    let give_up = || connection.closed() || shared.stopping();
    let mut buffer = [0_u8; MAX_PIECE_BYTES];
    loop {
        if give_up() {
            return;
        }
        // Waits for bytes without taking them, so that the link takes only
        // what its bucket allows.
        let available = match source.peek(&mut buffer) {
            Ok(0) => {
                if !give_up() {
                    pipe.push(Item::End(due(shared)));
                }
                return;
            }
            Ok(available) => available,
            Err(error) if is_timeout(&error) => continue,
            Err(_) => {
                connection.close();
                return;
            }
        };
        let shape = shared.shape();
        if !pipe.wait_room(queue_bound(&shape, direction), shared) {
            return;
        }
        let Some(granted) = bucket.take(available, &give_up) else {
            return;
        };
        let read = match source.read(&mut buffer[..granted]) {
            Ok(read) => read,
            Err(error) if is_timeout(&error) => {
                bucket.give_back(granted);
                continue;
            }
            Err(_) => {
                bucket.give_back(granted);
                connection.close();
                return;
            }
        };
        bucket.give_back(granted.saturating_sub(read));
        if read == 0 {
            // The end came between the peek and the read (or a close did).
            continue;
        }
        if shared.carry(direction, read) {
            // This piece crossed the mark: it is lost with the rest.
            shared.cut();
            return;
        }
        pipe.push(Item::Bytes(due(shared), buffer[..read].to_vec()));
    }
}

/// When a piece read now is delivered.
fn due(shared: &Shared) -> Instant {
    let now = Instant::now();
    let delay = shared.shape().one_way_delay.min(MAX_DELAY);
    now.checked_add(delay).unwrap_or(now)
}

/// How many bytes may wait in one direction of a connection before the
/// link stops reading it: the bandwidth-delay product and some slack.
fn queue_bound(shape: &LinkShape, direction: Direction) -> usize {
    let rate = match direction {
        Direction::Up => shape.up_bytes_per_sec,
        Direction::Down => shape.down_bytes_per_sec,
    };
    let product = rate as f64 * shape.one_way_delay.as_secs_f64();
    let product = product.min(MAX_QUEUE_BYTES as f64) as usize;
    QUEUE_SLACK_BYTES
        .saturating_add(product)
        .min(MAX_QUEUE_BYTES)
}

/// Delivers one direction's pieces, each at its instant, then passes the
/// end on (shuts down the writing side of the destination).
fn write_side(shared: &Shared, connection: &Connection, direction: Direction) {
    let (_, destination, pipe) = connection.ends(direction);
    loop {
        match pipe.next(shared) {
            Next::Bytes(bytes) => {
                if write_all(destination, &bytes, connection, shared).is_err() {
                    connection.close();
                    return;
                }
            }
            Next::End => {
                if destination.shutdown(Shutdown::Write).is_err() {
                    connection.close();
                }
                return;
            }
            Next::Stop => return,
        }
    }
}

/// Writes all of `bytes`, in slices of the socket's timeout so that a close
/// or the stop flag is seen.
fn write_all(
    mut destination: &TcpStream,
    mut bytes: &[u8],
    connection: &Connection,
    shared: &Shared,
) -> io::Result<()> {
    while !bytes.is_empty() {
        if connection.closed() || shared.stopping() {
            return Err(io::Error::other("the connection was closed"));
        }
        match destination.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => bytes = &bytes[written..],
            Err(error) if is_timeout(&error) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
