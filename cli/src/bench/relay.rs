//! A TCP relay in front of the server that counts every byte crossing it
//! each way — request lines, headers, bodies, TLS if any — and notes when
//! the first byte of the measured run went up. It reads and writes as fast
//! as the loopback goes (no shaping: that is the e2e tests' weak link).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

#[derive(Debug, Default)]
struct Counters {
    up: AtomicU64,
    down: AtomicU64,
    first_up: Mutex<Option<Instant>>,
    stop: AtomicBool,
}

/// What crossed the relay since it was started or [`CountingRelay::reset`].
#[derive(Debug, Clone, Copy)]
pub struct Crossed {
    pub up: u64,
    pub down: u64,
    /// When the first byte went up.
    pub first_up: Option<Instant>,
}

#[derive(Debug)]
pub struct CountingRelay {
    address: SocketAddr,
    counters: Arc<Counters>,
    accept: Option<JoinHandle<()>>,
}

impl CountingRelay {
    /// A relay on a free port of 127.0.0.1 to `upstream`.
    pub fn start(upstream: SocketAddr) -> io::Result<CountingRelay> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let address = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let shared = Arc::clone(&counters);
        let accept = std::thread::Builder::new()
            .name("relay-accept".into())
            .spawn(move || {
                for client in listener.incoming() {
                    if shared.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    if let Err(error) = relay(client, upstream, &shared) {
                        eprintln!("bench: relay could not reach the server: {error}");
                    }
                }
            })?;
        Ok(CountingRelay {
            address,
            counters,
            accept: Some(accept),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Starts counting afresh.
    pub fn reset(&self) {
        self.counters.up.store(0, Ordering::SeqCst);
        self.counters.down.store(0, Ordering::SeqCst);
        *lock(&self.counters.first_up) = None;
    }

    pub fn crossed(&self) -> Crossed {
        Crossed {
            up: self.counters.up.load(Ordering::SeqCst),
            down: self.counters.down.load(Ordering::SeqCst),
            first_up: *lock(&self.counters.first_up),
        }
    }
}

impl Drop for CountingRelay {
    fn drop(&mut self) {
        self.counters.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees the flag.
        let _ = TcpStream::connect(self.address);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Copies both ways between `client` and a new connection to `upstream`,
/// each on its own thread; the threads end with the connection.
fn relay(client: TcpStream, upstream: SocketAddr, counters: &Arc<Counters>) -> io::Result<()> {
    let server = TcpStream::connect(upstream)?;
    for stream in [&client, &server] {
        stream.set_nodelay(true)?;
    }
    let pairs = [
        (client.try_clone()?, server.try_clone()?, true),
        (server, client, false),
    ];
    for (from, to, up) in pairs {
        let counters = Arc::clone(counters);
        std::thread::Builder::new()
            .name("relay-copy".into())
            .spawn(move || copy(from, to, up, &counters))?;
    }
    Ok(())
}

fn copy(mut from: TcpStream, mut to: TcpStream, up: bool, counters: &Counters) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if up {
            lock(&counters.first_up).get_or_insert_with(Instant::now);
            counters.up.fetch_add(read as u64, Ordering::SeqCst);
        } else {
            counters.down.fetch_add(read as u64, Ordering::SeqCst);
        }
        if to.write_all(&buffer[..read]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
