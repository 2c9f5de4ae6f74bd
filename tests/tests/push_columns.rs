//! Pushes in columns (`doorstep_protocol::columns`, ADR 0012) between a
//! real device store and the real server on port 0:
//!
//! - a backlog of realistic visits goes up in batches of 2,000 and every
//!   visit arrives once, its answers as recorded;
//! - the server still takes JSON (an older device), refuses a Doorstep
//!   encoding it does not know with 415 and a damaged columnar body with
//!   400, storing nothing of either;
//! - against a server older than the columns (it answers 400 to them) the
//!   device sends JSON, 1,000 changes at a time, and asks only once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use doorstep_core::Store;
use doorstep_core::StoreOptions;
use doorstep_core::sqlite::Durability;
use doorstep_core::sync::{CancelToken, SyncEngine, SyncOptions};
use doorstep_core::transport::{Endpoint, HttpTimeouts, HttpTransport};
use doorstep_e2e::realistic::{self, Draw};
use doorstep_e2e::{VILLAGE_A, World, raw_client, record_answers, sync, visit_record};
use doorstep_protocol::columns::{self, COLUMNS_MEDIA_TYPE};
use doorstep_protocol::{
    Answers, Change, ErrorBody, Mutation, Outcome, PROTOCOL_VERSION, PushRequest, PushResponse,
    routes,
};
use uuid::Uuid;

/// A device of a cadre of village A that recorded `count` realistic visits
/// offline; the answers of each visit by its id.
fn device_with_backlog(world: &mut World, count: usize) -> (Store, HashMap<Uuid, Answers>) {
    let cadre = world.cadre(VILLAGE_A);
    let device = world.device_with(
        cadre,
        StoreOptions {
            durability: Durability::Normal,
            ..StoreOptions::default()
        },
    );
    sync(&device).expect("first sync");
    let mut draw = Draw::new(count as u64);
    let mut recorded = HashMap::new();
    for index in 0..count {
        let household = world.village_a[index % world.village_a.len()];
        let answers = realistic::answers(&mut draw);
        let id = record_answers(&device, household, answers.clone());
        recorded.insert(id, answers);
    }
    (device, recorded)
}

/// Every visit on the server once, with the answers it was recorded with.
fn assert_arrived_once(world: &World, recorded: &HashMap<Uuid, Answers>) {
    let mut seen = HashMap::new();
    world
        .store
        .export_visits(&mut |visit| {
            assert!(
                seen.insert(visit.id, visit.answers).is_none(),
                "a visit twice"
            );
            Ok(())
        })
        .expect("export");
    assert_eq!(seen.len(), recorded.len());
    for (id, answers) in recorded {
        assert_eq!(seen.get(id), Some(answers), "the answers of {id}");
    }
}

#[test]
fn a_backlog_goes_up_in_columns_of_2000_and_every_visit_arrives_once() {
    let mut world = World::new();
    let (device, recorded) = device_with_backlog(&mut world, 2_500);
    // Batches bounded by count alone: the server takes 2,000 at once.
    let transport = HttpTransport::connect(
        &device.endpoint().expect("endpoint"),
        HttpTimeouts::default(),
    )
    .expect("transport");
    let report = SyncEngine::new(&device, &transport)
        .with_options(SyncOptions {
            max_batch_bytes: usize::MAX,
            ..SyncOptions::default()
        })
        .run(&mut |_| {}, &CancelToken::new())
        .expect("sync");
    assert_eq!(report.pushed, 2_500);
    // Two pushes (2,000 and 500), then one pull.
    assert_eq!(report.requests, 3);
    assert_arrived_once(&world, &recorded);
    assert_eq!(device.status().expect("status").pending, 0);
}

fn read_json<T: serde::de::DeserializeOwned>(answer: reqwest::blocking::Response) -> T {
    serde_json::from_slice(&answer.bytes().expect("body")).expect("JSON")
}

#[test]
fn the_server_takes_json_refuses_unknown_or_damaged_columns_and_stores_nothing_of_them() {
    let world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let enrollment = world.raw_enrollment(cadre);
    let client = raw_client("127.0.0.1".parse().expect("address"));
    let url = format!("{}{}", world.url(), routes::PUSH);
    let mut draw = Draw::new(5);
    let request = |seq: u64, draw: &mut Draw| PushRequest {
        protocol: PROTOCOL_VERSION,
        changes: vec![Change {
            seq,
            mutation: Mutation::Visit(visit_record(
                &enrollment,
                world.village_a[0],
                realistic::answers(draw),
            )),
        }],
        pending: None,
    };
    let send = |content_type: &str, body: Vec<u8>, accept: Option<&str>| {
        let mut http = client
            .post(&url)
            .bearer_auth(&enrollment.token)
            .header("content-type", content_type)
            .body(body);
        if let Some(accept) = accept {
            http = http.header("accept", accept);
        }
        http.send().expect("answer")
    };

    // An older device: JSON, as before.
    let json = serde_json::to_vec(&request(1, &mut draw)).expect("json");
    let answer = send("application/json", json, None);
    assert_eq!(answer.status(), 200);
    assert!(
        answer.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("application/json")
    );
    let answer: PushResponse = read_json(answer);
    assert_eq!(answer.results[0].outcome, Outcome::Applied);

    // A later version of the columns: 415, nothing stored.
    let body = columns::encode_push(&request(2, &mut draw)).expect("encodes");
    let answer = send("application/vnd.doorstep.columns.v2", body.clone(), None);
    assert_eq!(answer.status(), 415);
    let error: ErrorBody = read_json(answer);
    assert_eq!(error.error, "unsupported_media_type");

    // Damaged columns: 400, nothing stored.
    let answer = send(COLUMNS_MEDIA_TYPE, body[..body.len() - 3].to_vec(), None);
    assert_eq!(answer.status(), 400);
    let error: ErrorBody = read_json(answer);
    assert!(
        error.message.starts_with("malformed columnar body"),
        "{}",
        error.message
    );
    assert_eq!(world.server_visit_ids().len(), 1);

    // The same columns whole (not compressed: zstd is optional), the answer
    // asked for in columns.
    let answer = send(COLUMNS_MEDIA_TYPE, body, Some(COLUMNS_MEDIA_TYPE));
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], COLUMNS_MEDIA_TYPE);
    let answer = columns::decode_push_response(&answer.bytes().expect("body"))
        .expect("an answer in columns");
    assert_eq!(answer.results[0].seq, 2);
    assert_eq!(answer.results[0].outcome, Outcome::Applied);
    assert_eq!(world.server_visit_ids().len(), 2);
}

/// The real router behind a layer that answers a columnar push as a
/// server older than the columns does (it read the body as JSON), on a
/// port of its own; counts the columnar and the JSON pushes.
struct OlderServer {
    address: SocketAddr,
    columns: Arc<AtomicU64>,
    json: Arc<AtomicU64>,
    _runtime: tokio::runtime::Runtime,
}

impl OlderServer {
    fn start(world: &World) -> OlderServer {
        let columns = Arc::new(AtomicU64::new(0));
        let json = Arc::new(AtomicU64::new(0));
        let counts = (Arc::clone(&columns), Arc::clone(&json));
        let older = move |request: Request, next: Next| {
            let (columns, json) = counts.clone();
            async move {
                if request.uri().path() == routes::PUSH {
                    let in_columns = request
                        .headers()
                        .get("content-type")
                        .is_some_and(|value| value == COLUMNS_MEDIA_TYPE);
                    if in_columns {
                        columns.fetch_add(1, Ordering::SeqCst);
                        let body = ErrorBody {
                            error: "bad_request".into(),
                            message: "malformed request body: expected value at line 1 column 1"
                                .into(),
                        };
                        return (axum::http::StatusCode::BAD_REQUEST, axum::Json(body))
                            .into_response();
                    }
                    json.fetch_add(1, Ordering::SeqCst);
                }
                let response: Response = next.run(request).await;
                response
            }
        };
        let router =
            doorstep_server::router(doorstep_server::AppState::new(Arc::clone(&world.store)))
                .layer(axum::middleware::from_fn(older));
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("listener");
        let address = listener.local_addr().expect("address");
        runtime.spawn(async move {
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            let _ = axum::serve(listener, service).await;
        });
        OlderServer {
            address,
            columns,
            json,
            _runtime: runtime,
        }
    }
}

#[test]
fn against_a_server_older_than_the_columns_the_device_sends_json_once_refused() {
    let mut world = World::new();
    let (device, recorded) = device_with_backlog(&mut world, 2_500);
    let older = OlderServer::start(&world);
    device
        .set_endpoint(&Endpoint::new(format!("http://{}", older.address)))
        .expect("the device now talks to the older server");
    let report = sync(&device).expect("sync");
    assert_eq!(report.pushed, 2_500);
    assert_eq!(older.columns.load(Ordering::SeqCst), 1, "asked once");
    // 1,000, 1,000 and 500 (each batch of 2,000 read is sent in part).
    assert_eq!(older.json.load(Ordering::SeqCst), 3);
    assert_arrived_once(&world, &recorded);
    assert_eq!(device.status().expect("status").pending, 0);
}
