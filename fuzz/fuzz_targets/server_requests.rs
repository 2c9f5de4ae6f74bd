//! The server's request decoding, as a hostile device or anyone on the
//! network reaches it: any body (plain, zstd-compressed, or bytes that
//! claim to be zstd) and any query, to every route, with a valid device
//! token or none. The server must answer every one with a 4xx or a 2xx in
//! the JSON error shape, never panic and never fail with a 500.
#![no_main]

use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use doorstep_protocol::routes;
use doorstep_server::app::{AppState, router};
use doorstep_server::store::ServerStore;
use doorstep_server::throttle::{Buckets, Rate, Throttle};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

struct Setup {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    token: String,
    _directory: tempfile::TempDir,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let directory = tempfile::tempdir().expect("temporary directory");
        let store = Arc::new(
            ServerStore::open_with(
                directory.path().join("server.db"),
                doorstep_core::sqlite::Durability::Normal,
            )
            .expect("store"),
        );
        let cadre = store.add_cadre("模糊测试").expect("cadre");
        let code = store.enroll_code(cadre).expect("code");
        let token = store
            .enroll(&code.code, None, None, None, chrono::Utc::now())
            .expect("enrolled")
            .token;
        // Limits out of the way: the target is decoding, not throttling.
        fn open<K: std::hash::Hash + Eq + Clone>() -> Buckets<K> {
            Buckets::new(Rate::new(1e12, 1e12), 1_000_000)
        }
        let state = AppState {
            throttle: Arc::new(Throttle {
                enrol: open(),
                bad_tokens: open(),
                device: open(),
                report: open(),
                throttled_report: open(),
            }),
            ..AppState::new(store)
        };
        Setup {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            router: router(state),
            token,
            _directory: directory,
        }
    })
}

#[derive(Debug, Arbitrary)]
enum Encoding {
    Plain,
    /// The body compressed: the decoder then sees valid zstd of any JSON.
    Zstd,
    /// The bytes as they are, claimed to be zstd.
    ClaimedZstd,
}

#[derive(Debug, Arbitrary)]
struct Input {
    route: u8,
    encoding: Encoding,
    with_token: bool,
    query: String,
    body: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let setup = setup();
    let route = routes::ALL[usize::from(input.route) % routes::ALL.len()];
    let mut builder = Request::builder();
    if input.with_token {
        builder = builder.header("authorization", format!("Bearer {}", setup.token));
    }
    let body = match input.encoding {
        Encoding::Plain => input.body,
        Encoding::Zstd => {
            builder = builder.header("content-encoding", "zstd");
            zstd::bulk::compress(&input.body, 1).expect("compresses")
        }
        Encoding::ClaimedZstd => {
            builder = builder.header("content-encoding", "zstd");
            input.body
        }
    };
    let request = if route == routes::PULL || route == routes::HEALTH {
        let query: String = input
            .query
            .chars()
            .filter(|character| character.is_ascii_graphic())
            .collect();
        builder
            .method("GET")
            .uri(format!("{route}?{query}"))
            .body(Body::empty())
    } else {
        builder.method("POST").uri(route).body(Body::from(body))
    };
    let Ok(request) = request else {
        return;
    };
    let response = setup
        .runtime
        .block_on(setup.router.clone().oneshot(request))
        .expect("the router always answers");
    assert_ne!(
        response.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "{route}: a request made the server fail"
    );
});
