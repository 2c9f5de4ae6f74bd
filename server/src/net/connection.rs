//! One admitted connection, from the TLS handshake to the last response:
//! hyper's HTTP/1.1 with our limits, the router as its service, the
//! client's address and the body deadlines added to every request.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::body::TimedBody;
use super::io::CannedErrors;
use super::limits::ConnectionPermit;
use super::stall::{WRITE_STALL, WriteStall};
use super::{ConnectionLimits, MAX_HEADER_BYTES, ServeOptions};

/// What every connection shares.
#[derive(Debug)]
pub(super) struct ConnectionContext {
    router: Router,
    http: hyper::server::conn::http1::Builder,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: ConnectionLimits,
}

impl ConnectionContext {
    pub(super) fn new(router: Router, options: &ServeOptions) -> ConnectionContext {
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(options.limits.header_read_timeout)
            .max_header_size(MAX_HEADER_BYTES);
        ConnectionContext {
            router,
            http,
            tls: options.tls.clone(),
            limits: options.limits,
        }
    }
}

/// Serves one connection until it ends, the server stops, or a timeout
/// closes it. `permit` holds its place under the caps until then.
pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    permit: ConnectionPermit,
    context: Arc<ConnectionContext>,
    mut stopping: watch::Receiver<bool>,
) {
    let _permit = permit;
    // Responses are written whole; no need to wait for more.
    let _ = stream.set_nodelay(true);
    let Some(tls) = &context.tls else {
        return serve_http(stream, peer, &context, stopping).await;
    };
    let handshake = tokio::time::timeout(
        context.limits.tls_handshake_timeout,
        TlsAcceptor::from(Arc::clone(tls)).accept(stream),
    );
    let stream = tokio::select! {
        handshake = handshake => match handshake {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::debug!(%error, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!("TLS handshake timed out");
                return;
            }
        },
        () = stopped(&mut stopping) => return,
    };
    serve_http(stream, peer, &context, stopping).await;
}

async fn serve_http<S>(
    stream: S,
    peer: SocketAddr,
    context: &ConnectionContext,
    mut stopping: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(CannedErrors::new(
        WriteStall::new(stream, WRITE_STALL),
        MAX_HEADER_BYTES,
    ));
    let limits = context.limits;
    let service = context
        .router
        .clone()
        .map_request(move |request: Request<Incoming>| {
            let mut request = request.map(|body| {
                TimedBody::new(body, limits.body_idle_timeout, limits.body_total_timeout)
            });
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
    let connection = context
        .http
        .serve_connection(io, TowerToHyperService::new(service));
    tokio::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        () = stopped(&mut stopping) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = ended {
        // Timeouts, resets, unparsable requests: the client's business.
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// Resolves once the server stops (or is gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stopping| *stopping).await;
}
