//! A TCP load balancer for tests: several `doorstep serve` processes on one
//! database behind one address, as a county's reverse proxy puts them.
//! Each new connection goes to the next upstream in turn; an upstream that
//! refuses the connection (a killed server) is skipped. Bytes are copied
//! both ways unchanged until either side closes.
//!
//! Plain threads, one per direction of each connection: tests drive it
//! with a handful of devices.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long connecting to one upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A running balancer; stops when dropped.
#[derive(Debug)]
pub struct Balancer {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    counts: Arc<Vec<AtomicUsize>>,
    acceptor: Option<JoinHandle<()>>,
}

impl Balancer {
    /// Listens on a free loopback port in front of `upstreams`.
    pub fn start(upstreams: Vec<SocketAddr>) -> io::Result<Balancer> {
        assert!(!upstreams.is_empty(), "a balancer needs an upstream");
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let counts: Arc<Vec<AtomicUsize>> =
            Arc::new(upstreams.iter().map(|_| AtomicUsize::new(0)).collect());
        let acceptor = {
            let stop = Arc::clone(&stop);
            let counts = Arc::clone(&counts);
            std::thread::spawn(move || accept(&listener, &upstreams, &stop, &counts))
        };
        Ok(Balancer {
            address,
            stop,
            counts,
            acceptor: Some(acceptor),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Connections passed to upstream `index` so far.
    pub fn connections_to(&self, index: usize) -> usize {
        self.counts[index].load(Ordering::SeqCst)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept(
    listener: &TcpListener,
    upstreams: &[SocketAddr],
    stop: &AtomicBool,
    counts: &[AtomicUsize],
) {
    let mut next = 0;
    while !stop.load(Ordering::SeqCst) {
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(_) => continue,
        };
        let _ = client.set_nonblocking(false);
        // The next upstream that takes the connection, in turn.
        let mut upstream = None;
        for offset in 0..upstreams.len() {
            let index = (next + offset) % upstreams.len();
            if let Ok(stream) = TcpStream::connect_timeout(&upstreams[index], CONNECT_TIMEOUT) {
                counts[index].fetch_add(1, Ordering::SeqCst);
                next = index + 1;
                upstream = Some(stream);
                break;
            }
        }
        let Some(upstream) = upstream else {
            // Nobody is up: the client sees its connection closed.
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        relay(client, upstream);
    }
}

/// Copies both ways on two threads; each side's end closes the other's
/// direction.
fn relay(client: TcpStream, upstream: TcpStream) {
    let (Ok(client_reader), Ok(upstream_reader)) = (client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    std::thread::spawn(move || copy(client_reader, upstream));
    std::thread::spawn(move || copy(upstream_reader, client));
}

fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => {
                if to.write_all(&buffer[..read]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
