//! Doorstep's sync server: an axum app over an embedded SQLite store.
//!
//! - [`app`]: the `/v1` HTTP API (enroll, push, pull, snapshot, health);
//! - [`enrol`]: what enrolment QR codes say besides the code (the public
//!   address, the county CA's fingerprint);
//! - [`store`]: the database, for the API and for operators' commands;
//! - [`export`]: visits as CSV, XLSX or JSON lines, for the CLI and as a
//!   streamed download;
//! - [`files`]: files attached to answers (photos, audio notes): the
//!   routes that take and serve them and where they are kept;
//! - [`wire`]: zstd-compressed JSON bodies;
//! - [`error`]: the one error type every handler returns;
//! - [`net`]: the connection layer: the accept loop, HTTPS, caps on
//!   connections and the timeouts that free them;
//! - [`console`] and [`api`]: the web console and the admin HTTP API
//!   (`/admin/v1`), their routes kept in a table ([`routes`],
//!   [`route_table`]);
//! - [`metrics`]: Prometheus metrics, on a listener of their own.
//!
//! [`serve`] and [`serve_with`] run the app on a bound listener until the
//! shutdown future resolves; the CLI's `doorstep serve` and the tests use
//! them.

pub mod api;
pub mod app;
pub mod console;
pub mod enrol;
pub mod error;
pub mod export;
pub mod files;
pub mod form_upload;
pub mod metrics;
pub mod net;
pub mod routes;
pub mod store;
pub mod throttle;
pub mod wire;

use std::future::Future;
use std::sync::Arc;

pub use app::{AppState, router};
pub use net::{ConnectionLimits, ServeOptions};
pub use store::ServerStore;

/// Serves the API over plain HTTP with the default limits on `listener`
/// until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Arc<ServerStore>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, store, ServeOptions::default(), shutdown).await
}

/// Serves the API on `listener`, over HTTPS when `options.tls` is set and
/// with `options.limits`, until `shutdown` resolves; then stops accepting
/// and gives open connections up to [`net::SHUTDOWN_GRACE`] to finish.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    store: Arc<ServerStore>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let scheme = if options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let listening = format!("{scheme}://{}", listener.local_addr()?);
    let files_directory = options
        .files
        .clone()
        .unwrap_or_else(|| files::default_directory(store.path()));
    std::fs::create_dir_all(&files_directory).map_err(|error| {
        std::io::Error::new(
            error.kind(),
            format!(
                "could not make the files directory {}: {error}",
                files_directory.display()
            ),
        )
    })?;
    let files = match &options.file_store {
        Some(store) => files::Files::with_store(Arc::clone(store), &files_directory),
        None => files::Files::in_directory(&files_directory),
    };
    let state = AppState {
        files,
        trusted_proxies: Arc::new(options.trusted_proxies.clone()),
        metrics: Arc::clone(&options.metrics),
        enrol: Arc::new(options.enrol.clone().or_url(listening)),
        ..AppState::new(store)
    };
    net::serve_router(listener, router(state), options, shutdown).await
}

/// Serves `GET /metrics` (Prometheus's text format) on a listener of its
/// own until `shutdown` resolves: plain HTTP and no token, so keep it on a
/// private address. `metrics` are those of [`ServeOptions::metrics`].
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    metrics: Arc<metrics::Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let options = ServeOptions {
        metrics: Arc::clone(&metrics),
        ..ServeOptions::default()
    };
    net::serve_router(listener, metrics::router(metrics), options, shutdown).await
}

/// Every route of the console and the admin API (method and path
/// template), sorted: what the authorisation matrix and the OpenAPI
/// description are checked against.
pub fn route_table() -> Vec<routes::ServedRoute> {
    let mut table = console::routes().merge(api::routes()).served().to_vec();
    table.sort();
    table
}

/// What tells a [`BackgroundServer`]'s serving future to stop.
type StopSignal = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// A server running on its own thread and runtime: for the demo, tests and
/// benchmarks, which drive blocking device code on their own threads.
#[derive(Debug)]
pub struct BackgroundServer {
    address: std::net::SocketAddr,
    https: bool,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl BackgroundServer {
    /// Binds `address` (port 0 picks a free port) and serves `store` over
    /// plain HTTP with the default limits until [`BackgroundServer::stop`]
    /// or drop.
    pub fn start(
        store: Arc<ServerStore>,
        address: std::net::SocketAddr,
    ) -> std::io::Result<BackgroundServer> {
        BackgroundServer::start_with(store, address, ServeOptions::default())
    }

    /// [`BackgroundServer::start`] with HTTPS and limits of its own.
    pub fn start_with(
        store: Arc<ServerStore>,
        address: std::net::SocketAddr,
        options: ServeOptions,
    ) -> std::io::Result<BackgroundServer> {
        let https = options.tls.is_some();
        BackgroundServer::spawn(address, https, move |listener, signal| {
            serve_with(listener, store, options, signal)
        })
    }

    /// Binds `address` and serves `metrics` there ([`serve_metrics`]) until
    /// [`BackgroundServer::stop`] or drop.
    pub fn start_metrics(
        metrics: Arc<metrics::Metrics>,
        address: std::net::SocketAddr,
    ) -> std::io::Result<BackgroundServer> {
        BackgroundServer::spawn(address, false, move |listener, signal| {
            serve_metrics(listener, metrics, signal)
        })
    }

    fn spawn<F>(
        address: std::net::SocketAddr,
        https: bool,
        serve: impl FnOnce(tokio::net::TcpListener, StopSignal) -> F + Send + 'static,
    ) -> std::io::Result<BackgroundServer>
    where
        F: Future<Output = std::io::Result<()>>,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind(address))?;
        let address = listener.local_addr()?;
        let (shutdown, signal) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("doorstep-server-{}", address.port()))
            .spawn(move || {
                runtime.block_on(serve(
                    listener,
                    Box::pin(async move {
                        let _ = signal.await;
                    }),
                ))
            })?;
        Ok(BackgroundServer {
            address,
            https,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    pub fn address(&self) -> std::net::SocketAddr {
        self.address
    }

    /// `http://ADDRESS`, or `https://ADDRESS` over TLS, for a device's
    /// transport.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.address)
    }

    /// Stops accepting, finishes requests in flight, and waits for the end.
    pub fn stop(mut self) -> std::io::Result<()> {
        self.shutdown_and_join()
    }

    fn shutdown_and_join(&mut self) -> std::io::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(std::io::Error::other("the server thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        let _ = self.shutdown_and_join();
    }
}
