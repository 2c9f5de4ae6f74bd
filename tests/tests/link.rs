//! The weak-link emulator ([`WeakLink`]) against real TCP servers on port 0:
//! bytes pass unchanged both ways and are counted exactly, half-closes pass
//! through, cuts lose only what was inside the link, and a device syncs
//! through it with the real server.
//!
//! No test measures time: they check bytes and counts. All but one use a
//! fast shape, so that they stay quick.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use doorstep_core::sync::{CancelToken, SyncEngine};
use doorstep_core::transport::{Endpoint, HttpTimeouts, HttpTransport};
use doorstep_e2e::link::{LinkShape, LinkStats, WeakLink};
use doorstep_e2e::{VILLAGE_A, World, record};
use rand::Rng;

/// Generous limit of every wait, so that a broken link fails the test
/// rather than hanging it.
const PATIENCE: Duration = Duration::from_secs(60);

/// 10 MB/s each way, 1 ms each way, no cuts.
fn fast() -> LinkShape {
    LinkShape {
        up_bytes_per_sec: 10_000_000,
        down_bytes_per_sec: 10_000_000,
        one_way_delay: Duration::from_millis(1),
        cut_every: None,
    }
}

fn random_bytes(length: usize) -> Vec<u8> {
    let mut bytes = vec![0_u8; length];
    rand::rng().fill(&mut bytes[..]);
    bytes
}

fn flipped(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().map(|byte| !byte).collect()
}

/// A server on port 0 that echoes every byte as it comes, and closes its
/// writing side when the client closes its own.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("echo server binds");
    let address = listener.local_addr().expect("echo server address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(PATIENCE));
                let mut buffer = [0_u8; 8 * 1024];
                loop {
                    match stream.read(&mut buffer) {
                        Ok(0) => {
                            let _ = stream.shutdown(Shutdown::Write);
                            return;
                        }
                        Ok(read) => {
                            if stream.write_all(&buffer[..read]).is_err() {
                                return;
                            }
                        }
                        Err(_) => return,
                    }
                }
            });
        }
    });
    address
}

/// A server on port 0 that reads until the client closes its writing side
/// (or the connection ends), reports what it read, then answers with every
/// byte read flipped and closes: a request, then a response.
fn answer_server() -> (SocketAddr, Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("answer server binds");
    let address = listener.local_addr().expect("answer server address");
    let (sender, received) = channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let sender = sender.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(PATIENCE));
                let mut request = Vec::new();
                let mut buffer = [0_u8; 8 * 1024];
                loop {
                    match stream.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let answer = flipped(&request);
                let _ = sender.send(request);
                let _ = stream.write_all(&answer);
                let _ = stream.shutdown(Shutdown::Write);
            });
        }
    });
    (address, received)
}

/// How a client's reading ended.
#[derive(Debug)]
struct Exchange {
    /// What the client read.
    received: Vec<u8>,
    /// The error that ended the reading; `None` for an end of stream.
    error: Option<io::ErrorKind>,
}

/// Connects through `link`, writes `request` and closes the writing side
/// (from a thread of its own), and reads until the end or an error.
fn exchange(link: &WeakLink, request: Vec<u8>) -> Exchange {
    let stream = TcpStream::connect(link.address()).expect("the link accepts");
    stream
        .set_read_timeout(Some(PATIENCE))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(PATIENCE))
        .expect("write timeout");
    let mut writing = stream.try_clone().expect("a second handle");
    let writer = std::thread::spawn(move || {
        writing.write_all(&request)?;
        writing.shutdown(Shutdown::Write)
    });
    let exchange = read_to_end(stream);
    // A cut may have failed the writes: only the reading is checked.
    let _ = writer.join().expect("the writer does not panic");
    exchange
}

fn read_to_end(mut stream: TcpStream) -> Exchange {
    let mut received = Vec::new();
    let mut buffer = [0_u8; 8 * 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => {
                return Exchange {
                    received,
                    error: None,
                };
            }
            Ok(read) => received.extend_from_slice(&buffer[..read]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => {
                let kind = error.kind();
                assert!(
                    !matches!(kind, io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut),
                    "the link neither carried the bytes nor closed the connection"
                );
                return Exchange {
                    received,
                    error: Some(kind),
                };
            }
        }
    }
}

/// Waits until `condition` holds of the link's counters.
fn wait_for(link: &WeakLink, condition: impl Fn(&LinkStats) -> bool) -> LinkStats {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let stats = link.stats();
        if condition(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "the link stalled at {stats:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_request_and_its_answer_pass_unchanged_and_are_counted() {
    let (server, requests) = answer_server();
    let link = WeakLink::start(server, fast()).expect("link starts");
    let request = random_bytes(300_000);
    let exchange = exchange(&link, request.clone());
    // The client's end of stream reached the server (it answered), and the
    // server's close after its answer reached the client.
    assert_eq!(exchange.error, None);
    assert!(exchange.received == flipped(&request), "the answer changed");
    let seen = requests
        .recv_timeout(PATIENCE)
        .expect("the server's report");
    assert!(seen == request, "the request changed");
    assert_eq!(
        link.stats(),
        LinkStats {
            connections: 1,
            bytes_up: 300_000,
            bytes_down: 300_000,
            cuts: 0,
        }
    );
}

#[test]
fn both_directions_flow_at_once() {
    let link = WeakLink::start(echo_server(), fast()).expect("link starts");
    let data = random_bytes(300_000);
    let exchange = exchange(&link, data.clone());
    assert_eq!(exchange.error, None);
    assert!(exchange.received == data, "the echo changed");
    let stats = link.stats();
    assert_eq!(
        (stats.bytes_up, stats.bytes_down, stats.cuts),
        (300_000, 300_000, 0)
    );
}

#[test]
fn several_connections_share_the_link() {
    let link = WeakLink::start(echo_server(), fast()).expect("link starts");
    let link = &link;
    std::thread::scope(|scope| {
        let clients: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(move || {
                    let data = random_bytes(50_000);
                    let exchange = exchange(link, data.clone());
                    assert_eq!(exchange.error, None);
                    assert!(exchange.received == data, "an echo changed");
                })
            })
            .collect();
        for client in clients {
            client.join().expect("a client");
        }
    });
    assert_eq!(
        link.stats(),
        LinkStats {
            connections: 4,
            bytes_up: 200_000,
            bytes_down: 200_000,
            cuts: 0,
        }
    );
}

#[test]
fn a_cut_loses_only_what_was_inside_the_link_and_new_connections_work() {
    let (server, requests) = answer_server();
    let link = WeakLink::start(server, fast().with_cuts(100_000)).expect("link starts");
    let request = random_bytes(300_000);
    let cut = exchange(&link, request.clone());
    assert!(cut.received.len() < 300_000, "the transfer was not cut");
    let seen = requests
        .recv_timeout(PATIENCE)
        .expect("the server's report");
    let stats = link.stats();
    assert!(stats.cuts >= 1, "{stats:?}");
    assert!(stats.bytes_up + stats.bytes_down >= 100_000, "{stats:?}");
    // The link did not read ahead: it stopped at the cut.
    assert!(stats.bytes_up < 300_000, "{stats:?}");
    // The server got a prefix of what entered the link, unchanged.
    assert!(
        seen.len() as u64 <= stats.bytes_up,
        "{} {stats:?}",
        seen.len()
    );
    assert!(
        request.starts_with(&seen),
        "the bytes before the cut changed"
    );
    assert!(cut.received.len() as u64 <= stats.bytes_down);

    // The next connection goes through whole (it stays below the next
    // multiple of 100,000 bytes carried).
    let request = random_bytes(10_000);
    let after = exchange(&link, request.clone());
    assert_eq!(after.error, None);
    assert!(after.received == flipped(&request), "the answer changed");
    let seen = requests
        .recv_timeout(PATIENCE)
        .expect("the server's report");
    assert!(seen == request, "the request changed");
    let later = link.stats();
    assert_eq!(later.connections, 2);
    assert_eq!(later.cuts, stats.cuts);
    assert_eq!(later.bytes_up, stats.bytes_up + 10_000);
    assert_eq!(later.bytes_down, stats.bytes_down + 10_000);
}

#[test]
fn cut_now_closes_every_open_connection() {
    let (server, requests) = answer_server();
    let link = WeakLink::start(server, fast()).expect("link starts");
    let sent = random_bytes(1_000);
    let clients: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut client = TcpStream::connect(link.address()).expect("the link accepts");
            client
                .set_read_timeout(Some(PATIENCE))
                .expect("read timeout");
            // Not closed: the server waits for more.
            client.write_all(&sent).expect("write");
            client
        })
        .collect();
    wait_for(&link, |stats| stats.bytes_up == 2_000);
    link.cut_now();
    for client in clients {
        let ended = read_to_end(client);
        assert!(ended.received.is_empty(), "the server never answered");
    }
    for _ in 0..2 {
        let seen = requests
            .recv_timeout(PATIENCE)
            .expect("the server's report");
        assert!(sent.starts_with(&seen), "the bytes before the cut changed");
    }
    assert_eq!(
        link.stats(),
        LinkStats {
            connections: 2,
            bytes_up: 2_000,
            bytes_down: 0,
            cuts: 1,
        }
    );
    // The link still accepts.
    let request = random_bytes(2_000);
    let after = exchange(&link, request.clone());
    assert_eq!(after.error, None);
    assert!(after.received == flipped(&request), "the answer changed");
}

#[test]
fn a_few_kilobytes_cross_the_reference_weak_link() {
    let link = WeakLink::start(echo_server(), LinkShape::weak_2g()).expect("link starts");
    let data = random_bytes(4_096);
    let exchange = exchange(&link, data.clone());
    assert_eq!(exchange.error, None);
    assert!(exchange.received == data, "the echo changed");
    assert_eq!(
        link.stats(),
        LinkStats {
            connections: 1,
            bytes_up: 4_096,
            bytes_down: 4_096,
            cuts: 0,
        }
    );
}

#[test]
fn the_reference_shape_and_its_cuts() {
    let shape = LinkShape::weak_2g();
    assert_eq!(
        (shape.up_bytes_per_sec, shape.down_bytes_per_sec),
        (6_250, 6_250)
    );
    assert_eq!(shape.one_way_delay, Duration::from_millis(250));
    assert_eq!(shape.cut_every, None);
    assert_eq!(shape.with_cuts(200_000).cut_every, Some(200_000));
    let link = WeakLink::start(echo_server(), shape).expect("link starts");
    assert_eq!(link.url(), format!("http://{}", link.address()));
    link.set_shape(fast());
    assert_eq!(link.shape(), fast());
}

#[test]
fn a_device_syncs_with_the_real_server_through_the_link() {
    let mut world = World::new();
    let server: SocketAddr = world
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("the world's address");
    let link = WeakLink::start(server, fast()).expect("link starts");
    let cadre = world.cadre(VILLAGE_A);
    let device = world.device(cadre);
    let endpoint = Endpoint {
        url: link.url(),
        ca_pem: None,
        allow_insecure_http: false,
    };
    let transport = HttpTransport::connect(&endpoint, HttpTimeouts::default()).expect("transport");
    let sync = || {
        SyncEngine::new(&device, &transport)
            .run(&mut |_| {}, &CancelToken::new())
            .expect("sync through the link")
    };
    // The first run pulls the village's households and the form, the
    // second pushes the visit recorded in between.
    sync();
    let visit = record(&device, world.village_a[0]);
    sync();
    assert_eq!(world.server_visit_ids(), vec![visit]);
    let stats = link.stats();
    assert!(stats.connections >= 1, "{stats:?}");
    assert!(stats.bytes_up > 0 && stats.bytes_down > 0, "{stats:?}");
    assert_eq!(stats.cuts, 0);
}
