//! Doorstep's sync server: an axum app over an embedded SQLite store.
//!
//! - [`app`]: the `/v1` HTTP API (enroll, push, pull, snapshot, health);
//! - [`store`]: the database, for the API and for operators' commands;
//! - [`wire`]: zstd-compressed JSON bodies;
//! - [`error`]: the one error type every handler returns.
//!
//! [`serve`] runs the app on a bound listener until the shutdown future
//! resolves; the CLI's `doorstep serve` and the tests both use it.

pub mod app;
pub mod error;
pub mod store;
pub mod wire;

use std::future::Future;
use std::sync::Arc;

pub use app::{AppState, router};
pub use store::ServerStore;

/// Serves the API on `listener` until `shutdown` resolves, then finishes the
/// requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Arc<ServerStore>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(AppState { store }))
        .with_graceful_shutdown(shutdown)
        .await
}
