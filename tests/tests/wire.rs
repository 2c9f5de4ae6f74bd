//! The HTTP surface with hand-made requests: bad input gets a clear error and
//! changes nothing.

use doorstep_e2e::{VILLAGE_A, World};
use doorstep_protocol::{ErrorBody, Health, PROTOCOL_VERSION};
use reqwest::StatusCode;
use serde_json::json;

fn error_body(response: reqwest::blocking::Response) -> ErrorBody {
    serde_json::from_slice(&response.bytes().expect("body")).expect("an error body")
}

#[test]
fn health_answers_with_the_protocol_version() {
    let world = World::new();
    let body = doorstep_e2e::raw_client(std::net::Ipv4Addr::LOCALHOST.into())
        .get(format!("{}/v1/health", world.url()))
        .send()
        .expect("health")
        .bytes()
        .expect("body");
    let health: Health = serde_json::from_slice(&body).expect("json");
    assert_eq!(
        (
            health.status.as_str(),
            health.protocol,
            health.database.as_deref()
        ),
        ("ok", PROTOCOL_VERSION, Some("ok"))
    );
}

#[test]
fn malformed_bodies_and_wrong_versions_are_refused_with_a_reason() {
    let world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let enrollment = world.raw_enrollment(cadre);
    let client = doorstep_e2e::raw_client(std::net::Ipv4Addr::LOCALHOST.into());
    let push = |body: Vec<u8>, zstd: bool| {
        let mut request = client
            .post(format!("{}/v1/sync/push", world.url()))
            .bearer_auth(&enrollment.token)
            .header("content-type", "application/json")
            .body(body);
        if zstd {
            request = request.header("content-encoding", "zstd");
        }
        request.send().expect("response")
    };

    let response = push(b"{not json".to_vec(), false);
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = error_body(response);
    assert_eq!(body.error, "bad_request");
    assert!(
        body.message.starts_with("malformed request body"),
        "{}",
        body.message
    );

    let response = push(b"not zstd at all".to_vec(), true);
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let response = push(
        serde_json::to_vec(&json!({"protocol": 99, "changes": []})).expect("json"),
        false,
    );
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_body(response).error, "protocol");

    // 40 MB of JSON that compresses to almost nothing: refused before it is
    // parsed, without the server holding it all.
    let mut huge = br#"{"protocol":1,"changes":[],"padding":""#.to_vec();
    huge.extend(std::iter::repeat_n(b' ', 40 * 1024 * 1024));
    huge.extend(br#""}"#);
    let bomb = zstd::encode_all(huge.as_slice(), 3).expect("compress");
    assert!(bomb.len() < 100_000);
    let response = push(bomb, true);
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_body(response).error, "too_large");

    assert!(world.server_visit_ids().is_empty());
}

#[test]
fn requests_without_a_valid_token_are_refused() {
    let world = World::new();
    let client = doorstep_e2e::raw_client(std::net::Ipv4Addr::LOCALHOST.into());
    let response = client
        .get(format!("{}/v1/sync/pull?cursor=0", world.url()))
        .send()
        .expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        error_body(response)
            .message
            .contains("missing device token")
    );
    let response = client
        .get(format!("{}/v1/sync/pull?cursor=0", world.url()))
        .bearer_auth("0123")
        .send()
        .expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn responses_are_compressed_when_the_client_accepts_zstd() {
    let world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let enrollment = world.raw_enrollment(cadre);
    let response = doorstep_e2e::raw_client(std::net::Ipv4Addr::LOCALHOST.into())
        .get(format!("{}/v1/sync/pull?cursor=0", world.url()))
        .bearer_auth(&enrollment.token)
        .header("accept-encoding", "zstd")
        .send()
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("content-encoding")
            .map(|value| value.as_bytes()),
        Some(&b"zstd"[..])
    );
    let compressed = response.bytes().expect("body");
    let json = zstd::decode_all(compressed.as_ref()).expect("zstd");
    let page: doorstep_protocol::PullResponse = serde_json::from_slice(&json).expect("a pull page");
    assert!(compressed.len() < json.len());
    assert!(
        page.changes
            .iter()
            .any(|change| matches!(change, doorstep_protocol::PulledChange::Form(_)))
    );
}

#[test]
fn unknown_routes_and_bad_queries_get_an_error_body() {
    let world = World::new();
    let cadre = world.cadre(VILLAGE_A);
    let enrollment = world.raw_enrollment(cadre);
    let client = doorstep_e2e::raw_client(std::net::Ipv4Addr::LOCALHOST.into());
    let response = client
        .get(format!("{}/v1/sync/pull?cursor=abc", world.url()))
        .bearer_auth(&enrollment.token)
        .send()
        .expect("response");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(error_body(response).message.contains("bad pull query"));
    let response = client
        .get(format!("{}/v2/anything", world.url()))
        .send()
        .expect("response");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_body(response).error, "not_found");
    let response = client
        .get(format!("{}/v1/sync/push", world.url()))
        .send()
        .expect("response");
    assert_eq!(error_body(response).error, "bad_request");
}
