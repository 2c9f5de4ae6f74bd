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

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

mod relay;

use relay::{Bucket, Counters, Shared, accept_loop, lock};

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
