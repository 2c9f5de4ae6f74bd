//! The server's own connection layer: the accept loop, HTTPS, caps on
//! connections, and the timeouts that keep idle and slow clients from
//! holding them.
//!
//! `axum::serve` holds a connection for as long as the client likes (no
//! header or idle timeout) and accepts as many as the kernel hands it, so
//! a few thousand idle or one-byte-a-second connections take every file
//! descriptor and the server stops answering anyone. Here each accepted
//! connection is first counted against a global cap and a cap per client
//! address ([`limits`]); one over a cap is closed at once, so the kernel's
//! backlog never fills with an attacker's connections and other clients
//! still get in. Then, for HTTPS, the TLS handshake must end within its
//! timeout ([`tls`]); hyper's HTTP/1.1 connection reads the request head
//! within the header timeout, which in hyper 1.12 also runs while a
//! keep-alive connection waits for its next request (so it is the idle
//! timeout too); the body must keep arriving ([`body`]); and hyper's own
//! answers to requests it cannot parse get our JSON error body (`io.rs`).
//!
//! **The client's address.** Every request carries
//! `axum::extract::ConnectInfo<std::net::SocketAddr>` in its extensions:
//! the TCP peer of its connection. Handlers and extractors may read it with
//! the `ConnectInfo` extractor or from `Parts::extensions`. Behind a
//! reverse proxy it is the proxy's address; `X-Forwarded-For` is not read.
//! A request that did not come through this layer (a test calling
//! `router()` directly) has none, and the extractor refuses it: such tests
//! add `axum::extract::connect_info::MockConnectInfo`.
//!
//! On shutdown the loop stops accepting, asks every open connection to
//! finish the request in hand and close, waits up to
//! [`SHUTDOWN_GRACE`] for them, then closes what is left.

pub mod body;
mod connection;
pub(crate) mod io;
pub mod limits;
mod stall;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use connection::ConnectionContext;
use limits::{ConnectionCounter, Refusal, WarningGate};

/// The largest request head (request line and headers) hyper reads; a
/// larger one is answered `431 too_large`.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// How long open connections get to finish when the server stops.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// At most one warning line per address (and per kind of accept failure)
/// in this long.
const WARNING_INTERVAL: Duration = Duration::from_secs(10);
/// The pause after a failed accept that is not about one connection (out
/// of file descriptors, out of memory), so the loop does not spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// How the server serves: plain HTTP or HTTPS, and its limits.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// HTTPS with this config ([`tls::server_config`]); plain HTTP when
    /// `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub limits: ConnectionLimits,
    /// Reverse proxies in front of the server: a request from one of them
    /// is limited and audited by the client address it names in
    /// `X-Forwarded-For` (the right-most one that is not a trusted proxy),
    /// never by the proxy's own.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Where requests and pushes are counted; serve them with
    /// [`crate::serve_metrics`].
    pub metrics: Arc<crate::metrics::Metrics>,
    /// What enrolment QR codes say besides the code; without a public
    /// address, the one the server listens on.
    pub enrol: crate::enrol::EnrolSettings,
    /// Where attached files are kept (`crate::files`); `None`: a directory
    /// `files` beside the database file, created if missing.
    pub files: Option<std::path::PathBuf>,
    /// Where whole files are kept instead of that directory (an S3 bucket,
    /// [`crate::files::connect_store`]); uploads under way stay in the
    /// directory.
    pub file_store: Option<Arc<dyn crate::files::FileStore>>,
}

/// Caps on connections and the timeouts that free them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections held at once, from everybody (at least 1). Default:
    /// three quarters of the soft limit on open files, at most 10,000
    /// ([`limits::default_max_connections`]).
    pub max_connections: usize,
    /// Connections held at once from one address (an IPv6 /64); 0 for no
    /// cap, behind a reverse proxy. Default 128.
    pub max_per_address: usize,
    /// To receive a request's head, and the longest a keep-alive
    /// connection waits for its next request. Default 10 s.
    pub header_read_timeout: Duration,
    /// To finish the TLS handshake. Default 10 s.
    pub tls_handshake_timeout: Duration,
    /// The longest a request body may send nothing. Default 20 s.
    pub body_idle_timeout: Duration,
    /// The longest a request body may take in all. Default 120 s.
    pub body_total_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: limits::default_max_connections(),
            max_per_address: 128,
            header_read_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(20),
            body_total_timeout: Duration::from_secs(120),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open
/// connections finish (up to [`SHUTDOWN_GRACE`]). Public for tests that
/// serve a router of their own through the real connection layer.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let counter = Arc::new(ConnectionCounter::new(
        options.limits.max_connections,
        options.limits.max_per_address,
    ));
    let context = Arc::new(ConnectionContext::new(router, &options));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut connections = JoinSet::new();
    let mut refusals: WarningGate<(Refusal, std::net::IpAddr)> = WarningGate::new(WARNING_INTERVAL);
    let mut accept_failures: WarningGate<std::io::ErrorKind> = WarningGate::new(WARNING_INTERVAL);
    tracing::info!(
        max_connections = counter.max_total(),
        max_per_address = counter.max_per_address(),
        tls = options.tls.is_some(),
        "accepting connections"
    );
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(ended) = connections.join_next(), if !connections.is_empty() => {
                report_panic(ended);
                continue;
            }
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) if is_about_one_connection(&error) => continue,
            Err(error) => {
                if let Some(failures) = accept_failures.note(error.kind(), Instant::now()) {
                    tracing::warn!(%error, failures, "could not accept connections; pausing");
                }
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_PAUSE) => continue,
                }
            }
        };
        match counter.admit(peer.ip()) {
            Ok(permit) => {
                connections.spawn(connection::serve(
                    stream,
                    peer,
                    permit,
                    Arc::clone(&context),
                    stopping.clone(),
                ));
            }
            Err(refusal) => {
                drop(stream);
                let key = match refusal {
                    Refusal::Total => std::net::IpAddr::from([0, 0, 0, 0]),
                    Refusal::Address => limits::address_key(peer.ip()),
                };
                if let Some(refused) = refusals.note((refusal, key), Instant::now()) {
                    warn_refused(refusal, peer.ip(), refused, &counter);
                }
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let (over_total, over_address) = counter.refused();
    tracing::info!(
        open = connections.len(),
        over_total,
        over_address,
        "stopped accepting; finishing open connections"
    );
    let finished = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while let Some(ended) = connections.join_next().await {
            report_panic(ended);
        }
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after the grace period; closing them"
        );
        connections.shutdown().await;
    }
    Ok(())
}

fn warn_refused(
    refusal: Refusal,
    address: std::net::IpAddr,
    refused: u64,
    counter: &ConnectionCounter,
) {
    let (over_total, over_address) = counter.refused();
    match refusal {
        Refusal::Total => tracing::warn!(
            refused,
            open = counter.open(),
            max_connections = counter.max_total(),
            over_total,
            "refused connections: the server holds its cap of connections"
        ),
        // The address is what an operator needs for a firewall rule; no
        // request was read, so nothing else is known about the client.
        Refusal::Address => tracing::warn!(
            %address,
            refused,
            max_per_address = counter.max_per_address(),
            over_address,
            "refused connections: this address holds its cap of connections"
        ),
    }
}

/// Errors of `accept` that concern the one connection being accepted (it
/// was reset before we took it): go on at once.
fn is_about_one_connection(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::Interrupted
    )
}

fn report_panic(ended: Result<(), tokio::task::JoinError>) {
    if let Err(error) = ended
        && error.is_panic()
    {
        tracing::error!(%error, "a connection task panicked");
    }
}

#[cfg(test)]
mod tests;
