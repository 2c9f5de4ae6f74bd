//! The export (`doorstep_server::export::visits_response`) mounted on a
//! router of the tests' own, served on port 0 by the connection layer
//! `doorstep serve` uses: shared by `export_http.rs` and
//! `export_http_volume.rs`. Each test binary uses part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use doorstep_e2e::raw_client;
use doorstep_protocol::ErrorBody;
use doorstep_server::export::{ExportQuery, visits_response};
use doorstep_server::store::Scope;
use doorstep_server::{ServeOptions, ServerStore};
use reqwest::StatusCode;
use reqwest::blocking::Response;

/// 南岸镇, village A's township (county 530626).
pub const TOWNSHIP_A: &str = "530626104";
/// The export mounted twice: for an admin (the whole server) and for a
/// supervisor of township A, served on port 0 through the connection
/// layer `doorstep serve` uses, on a runtime of its own.
pub struct ExportServer {
    address: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl ExportServer {
    pub fn start(store: Arc<ServerStore>) -> ExportServer {
        let files = doorstep_server::files::Files::in_directory(
            &doorstep_server::files::default_directory(store.path()),
        );
        let for_admin = files.clone();
        let router = Router::new()
            .route(
                "/admin/export",
                get(
                    move |State(store): State<Arc<ServerStore>>, query: ExportQuery| {
                        let files = for_admin.clone();
                        async move { visits_response(store, files, Scope::All, query).await }
                    },
                ),
            )
            .route(
                "/supervisor/export",
                get(
                    move |State(store): State<Arc<ServerStore>>, query: ExportQuery| {
                        let files = files.clone();
                        async move {
                            visits_response(store, files, Scope::Area(TOWNSHIP_A.into()), query)
                                .await
                        }
                    },
                ),
            )
            .with_state(store);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a port");
        let address = listener.local_addr().expect("an address");
        let (shutdown, signal) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime.block_on(doorstep_server::net::serve_router(
                listener,
                router,
                ServeOptions::default(),
                async {
                    let _ = signal.await;
                },
            ))
        });
        ExportServer {
            address,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    pub fn get(&self, who: &str, query: &str) -> Response {
        self.try_get(who, query).expect("a response")
    }

    /// The request, whose response may be cut before its headers.
    pub fn try_get(&self, who: &str, query: &str) -> reqwest::Result<Response> {
        raw_client(std::net::IpAddr::from([127, 0, 0, 1]))
            .get(format!("http://{}/{who}/export?{query}", self.address))
            .send()
    }

    /// A download that must succeed: its headers and body.
    pub fn download(&self, who: &str, query: &str) -> (reqwest::header::HeaderMap, Vec<u8>) {
        let response = self.get(who, query);
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().expect("the whole body").to_vec();
        assert_eq!(
            status,
            StatusCode::OK,
            "{who} {query}: {}",
            String::from_utf8_lossy(&body)
        );
        (headers, body)
    }

    /// A refusal: its status and message.
    pub fn refused(&self, who: &str, query: &str) -> (StatusCode, String) {
        let response = self.get(who, query);
        let status = response.status();
        assert_ne!(status, StatusCode::OK, "{who} {query} was not refused");
        let body: ErrorBody =
            serde_json::from_slice(&response.bytes().expect("a body")).expect("an error body");
        (status, body.message)
    }
}

impl Drop for ExportServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
