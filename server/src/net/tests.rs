//! The contract other code builds on: every request carries the client's
//! address as `ConnectInfo<SocketAddr>`.

use std::io::{Read, Write};
use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::routing::get;

use super::*;

#[test]
fn every_request_carries_the_peer_address_as_connect_info() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let listener = runtime
        .block_on(TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))))
        .expect("a listener");
    let address = listener.local_addr().expect("an address");
    let router = Router::new().route(
        "/peer",
        get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(serve_router(
        listener,
        router,
        ServeOptions::default(),
        async {
            let _ = stopped.await;
        },
    ));

    for source in [[127, 0, 0, 1], [127, 0, 0, 2]] {
        let mut client = runtime
            .block_on(async {
                let socket = tokio::net::TcpSocket::new_v4()?;
                socket.bind(SocketAddr::from((source, 0)))?;
                socket.connect(address).await?.into_std()
            })
            .expect("connected");
        client.set_nonblocking(false).expect("blocking");
        client
            .write_all(b"GET /peer HTTP/1.1\r\nhost: doorstep\r\nconnection: close\r\n\r\n")
            .expect("sent");
        let mut response = String::new();
        client.read_to_string(&mut response).expect("an answer");
        let peer = client.local_addr().expect("the client's address");
        assert!(
            response.ends_with(&format!("\r\n\r\n{peer}")),
            "the handler saw {peer}: {response}"
        );
    }
    let _ = stop.send(());
    runtime
        .block_on(server)
        .expect("the server task")
        .expect("a clean stop");
}
