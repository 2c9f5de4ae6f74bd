//! The relay behind [`super::WeakLink`]: the state its threads share, the
//! token buckets, the connections with their in-flight queues, and the
//! threads that read, delay and deliver each direction.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{
    CONNECT_TIMEOUT, LinkShape, MAX_DELAY, MAX_PIECE_BYTES, MAX_QUEUE_BYTES, QUEUE_SLACK_BYTES,
    SLICE,
};

/// State shared by the handle and the link's threads.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) upstream: SocketAddr,
    pub(super) shape: Mutex<LinkShape>,
    pub(super) stopping: AtomicBool,
    /// The two directions' buckets, shared by every connection.
    pub(super) up: Bucket,
    pub(super) down: Bucket,
    /// Bytes carried both ways since the start, for the cuts.
    pub(super) carried: AtomicU64,
    pub(super) counters: Counters,
    /// The connections open, by number, so that a cut or a drop can close
    /// them.
    pub(super) live: Mutex<HashMap<u64, Arc<Connection>>>,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) connections: AtomicU64,
    pub(super) bytes_up: AtomicU64,
    pub(super) bytes_down: AtomicU64,
    pub(super) cuts: AtomicU64,
}

impl Shared {
    pub(super) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub(super) fn shape(&self) -> LinkShape {
        *lock(&self.shape)
    }

    /// Records `connection` as open; false (and not recorded) once the link
    /// is stopping.
    pub(super) fn register(&self, number: u64, connection: &Arc<Connection>) -> bool {
        let mut live = lock(&self.live);
        // Checked under the lock that the drop takes after setting the flag:
        // a connection is either closed by the drop or never used.
        if self.stopping() {
            return false;
        }
        live.insert(number, Arc::clone(connection));
        true
    }

    pub(super) fn forget(&self, number: u64) {
        lock(&self.live).remove(&number);
    }

    /// Closes every open connection.
    pub(super) fn close_all(&self) {
        for connection in lock(&self.live).values() {
            connection.close();
        }
    }

    /// A cut: every open connection closed, and counted.
    pub(super) fn cut(&self) {
        self.counters.cuts.fetch_add(1, Ordering::SeqCst);
        self.close_all();
    }

    /// Counts `bytes` that entered the link going `direction`; true when
    /// they cross a multiple of `cut_every` (the caller then cuts).
    pub(super) fn carry(&self, direction: Direction, bytes: usize) -> bool {
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

    pub(super) fn bucket(&self, direction: Direction) -> &Bucket {
        match direction {
            Direction::Up => &self.up,
            Direction::Down => &self.down,
        }
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn wait<'a, T>(
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
pub(super) enum Direction {
    /// From the device to the server.
    Up,
    /// From the server to the device.
    Down,
}

/// A token bucket: one direction of the whole link.
#[derive(Debug)]
pub(super) struct Bucket {
    pub(super) state: Mutex<BucketState>,
    pub(super) changed: Condvar,
}

#[derive(Debug)]
pub(super) struct BucketState {
    pub(super) rate: u64,
    /// Bytes that may be read now.
    pub(super) tokens: f64,
    pub(super) refilled: Instant,
}

impl BucketState {
    /// The most the bucket holds, and so the largest piece: 20 ms of the
    /// rate, at least one byte and at most [`MAX_PIECE_BYTES`].
    pub(super) fn capacity(&self) -> f64 {
        let piece = (self.rate / 50).clamp(1, MAX_PIECE_BYTES as u64);
        piece as f64
    }

    pub(super) fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * self.rate as f64).min(self.capacity());
    }
}

impl Bucket {
    pub(super) fn new(rate: u64) -> Bucket {
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

    pub(super) fn set_rate(&self, rate: u64) {
        let mut state = lock(&self.state);
        state.refill(Instant::now());
        state.rate = rate;
        state.tokens = state.tokens.min(state.capacity());
        drop(state);
        self.changed.notify_all();
    }

    pub(super) fn wake(&self) {
        self.changed.notify_all();
    }

    /// Waits until the bucket holds `want` bytes (or as many as it can
    /// hold, if fewer) and takes them; `None` when `give_up` says so first.
    pub(super) fn take(&self, want: usize, give_up: &dyn Fn() -> bool) -> Option<usize> {
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
    pub(super) fn give_back(&self, unused: usize) {
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
pub(super) struct Connection {
    pub(super) client: TcpStream,
    pub(super) server: TcpStream,
    pub(super) up: Pipe,
    pub(super) down: Pipe,
    pub(super) closed: AtomicBool,
}

impl Connection {
    pub(super) fn closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Closes the connection at once: both sockets shut down, the pieces in
    /// flight dropped, every thread of it woken.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
        self.up.drop_all();
        self.down.drop_all();
    }

    /// The socket a direction reads from, and the one it writes to.
    pub(super) fn ends(&self, direction: Direction) -> (&TcpStream, &TcpStream, &Pipe) {
        match direction {
            Direction::Up => (&self.client, &self.server, &self.up),
            Direction::Down => (&self.server, &self.client, &self.down),
        }
    }
}

/// The in-flight queue of one direction of a connection.
#[derive(Debug, Default)]
pub(super) struct Pipe {
    pub(super) state: Mutex<PipeState>,
    pub(super) changed: Condvar,
}

#[derive(Debug, Default)]
pub(super) struct PipeState {
    pub(super) items: VecDeque<Item>,
    /// Bytes in `items`.
    pub(super) queued: usize,
    /// The connection was closed: everything in flight is lost.
    pub(super) dropped: bool,
}

#[derive(Debug)]
pub(super) enum Item {
    /// Bytes to deliver at an instant.
    Bytes(Instant, Vec<u8>),
    /// The end of the direction, to pass on at an instant.
    End(Instant),
}

/// What a writer does next.
#[derive(Debug)]
pub(super) enum Next {
    Bytes(Vec<u8>),
    End,
    /// Closed, or the link is stopping.
    Stop,
}

impl Pipe {
    pub(super) fn drop_all(&self) {
        let mut state = lock(&self.state);
        state.dropped = true;
        state.items.clear();
        state.queued = 0;
        drop(state);
        self.changed.notify_all();
    }

    /// Waits until the queue holds less than `bound` bytes; false when the
    /// connection closes or the link stops first.
    pub(super) fn wait_room(&self, bound: usize, shared: &Shared) -> bool {
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
    pub(super) fn push(&self, item: Item) {
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
    pub(super) fn next(&self, shared: &Shared) -> Next {
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
pub(super) fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) -> Vec<JoinHandle<()>> {
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

pub(super) fn configure(stream: &TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(SLICE))?;
    stream.set_write_timeout(Some(SLICE))?;
    stream.set_nodelay(true)
}

/// One connection, start to end. Errors only mean the connection ends.
pub(super) fn handle(client: TcpStream, shared: &Shared, number: u64) {
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

pub(super) fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Reads one direction into the link, at the pace of its bucket, until the
/// source's end (queued for the writer), an error or a close.
pub(super) fn read_side(shared: &Shared, connection: &Connection, direction: Direction) {
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
pub(super) fn due(shared: &Shared) -> Instant {
    let now = Instant::now();
    let delay = shared.shape().one_way_delay.min(MAX_DELAY);
    now.checked_add(delay).unwrap_or(now)
}

/// How many bytes may wait in one direction of a connection before the
/// link stops reading it: the bandwidth-delay product and some slack.
pub(super) fn queue_bound(shape: &LinkShape, direction: Direction) -> usize {
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
pub(super) fn write_side(shared: &Shared, connection: &Connection, direction: Direction) {
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
pub(super) fn write_all(
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
