//! The authorisation matrix: every route the server has × every kind of
//! caller, over real HTTP. Each caller comes from its own loopback address,
//! so that one caller's refusals never throttle another's.
//!
//! Callers: a cadre of village A (whose households are asked about), a
//! cadre of village B, a revoked device, no token, a malformed token, and
//! the token of a device whose store was wiped.

use std::net::IpAddr;

use chrono::Utc;
use doorstep_core::transport::{Endpoint, HttpTransport};
use doorstep_core::{Store, StoreOptions};
use doorstep_e2e::{VILLAGE_A, VILLAGE_B, World, answers};
use doorstep_protocol::{EnrollResponse, PROTOCOL_VERSION, routes};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    VillageCadre,
    OtherVillageCadre,
    Revoked,
    NoToken,
    Malformed,
    Wiped,
}

const CALLERS: [Caller; 6] = [
    Caller::VillageCadre,
    Caller::OtherVillageCadre,
    Caller::Revoked,
    Caller::NoToken,
    Caller::Malformed,
    Caller::Wiped,
];

/// A client bound to its own loopback address.
fn client(caller: Caller) -> Client {
    let index = CALLERS
        .iter()
        .position(|known| *known == caller)
        .unwrap_or(0);
    let local: IpAddr = format!("127.0.0.{}", index + 2).parse().expect("address");
    doorstep_e2e::raw_client(local)
}

struct Matrix {
    world: World,
    a: EnrollResponse,
    b: EnrollResponse,
    revoked: EnrollResponse,
    wiped: EnrollResponse,
}

impl Matrix {
    fn new() -> Matrix {
        let world = World::new();
        let a = world.raw_enrollment(world.cadre(VILLAGE_A));
        let b = world.raw_enrollment(world.cadre(VILLAGE_B));
        let revoked = world.raw_enrollment(world.cadre(VILLAGE_A));
        world
            .store
            .revoke_device(revoked.device_id)
            .expect("revoked");
        // A phone enrolled, then wiped for the next cadre: the wipe tells
        // the server, and the old token dies with the store.
        let wiped = world.raw_enrollment(world.cadre(VILLAGE_A));
        let store = Store::open_with(world.directory().join("wiped.db"), StoreOptions::default())
            .expect("store");
        store
            .save_enrollment(&Endpoint::new(world.url()), &wiped)
            .expect("enrolled store");
        let transport = HttpTransport::new(&world.url()).expect("transport");
        let report = doorstep_core::sync::wipe(&store, Some(&transport), false).expect("wiped");
        assert!(report.server_told, "{report:?}");
        Matrix {
            world,
            a,
            b,
            revoked,
            wiped,
        }
    }

    fn authorization(&self, caller: Caller) -> Option<String> {
        let bearer = |enrollment: &EnrollResponse| Some(format!("Bearer {}", enrollment.token));
        match caller {
            Caller::VillageCadre => bearer(&self.a),
            Caller::OtherVillageCadre => bearer(&self.b),
            Caller::Revoked => bearer(&self.revoked),
            Caller::Wiped => bearer(&self.wiped),
            Caller::NoToken => None,
            Caller::Malformed => Some("Bearer ✗not-a-token✗".into()),
        }
    }

    /// The caller's request to `route`: its status and JSON body.
    fn call(&self, caller: Caller, route: &str) -> (StatusCode, Value) {
        let url = format!("{}{route}", self.world.url());
        let household = self.world.village_a[0];
        let client = client(caller);
        let request = match route {
            routes::HEALTH => client.get(url),
            routes::PULL => client.get(format!("{url}?cursor=0")),
            routes::ENROLL => client
                .post(url)
                .body(json!({"protocol": 1, "code": "WRONG-CODE1"}).to_string()),
            routes::PUSH => {
                let owner = match caller {
                    Caller::OtherVillageCadre => &self.b,
                    _ => &self.a,
                };
                let visit = json!({
                    "id": uuid::Uuid::now_v7(), "household_id": household,
                    "cadre_id": owner.cadre_id, "device_id": owner.device_id,
                    "form_id": "household_check", "form_version": doorstep_e2e::demo_form_version(),
                    "answers": answers(2), "recorded_at": Utc::now()
                });
                client.post(url).body(
                    json!({
                        "protocol": PROTOCOL_VERSION,
                        "changes": [{"seq": 1, "kind": "visit", "data": visit}]
                    })
                    .to_string(),
                )
            }
            routes::SNAPSHOT => client
                .post(url)
                .body(json!({"protocol": 1, "households": [household]}).to_string()),
            routes::RETIRE => client.post(url).body(json!({"protocol": 1}).to_string()),
            routes::FILES_STATUS => client.post(url).body(
                json!({"protocol": 1, "files": [{"sha256": "0".repeat(64), "size": 1}]})
                    .to_string(),
            ),
            routes::FILE => client.get(url.replace("{sha256}", &"0".repeat(64))),
            other => panic!("the matrix does not know route {other}"),
        };
        let request = match self.authorization(caller) {
            Some(value) => request.header("authorization", value),
            None => request,
        };
        let response = request.send().expect("answered");
        let status = response.status();
        let body: Value =
            serde_json::from_slice(&response.bytes().expect("body")).expect("every answer is JSON");
        (status, body)
    }
}

/// What each caller must get from each route.
fn check(matrix: &Matrix, caller: Caller, route: &str, status: StatusCode, body: &Value) {
    let refused = matches!(
        caller,
        Caller::Revoked | Caller::NoToken | Caller::Malformed | Caller::Wiped
    );
    let place = format!("{caller:?} on {route}: {status} {body}");
    match route {
        routes::HEALTH => assert_eq!(status, StatusCode::OK, "{place}"),
        // Enrolment takes no token: a wrong code is refused for everyone.
        routes::ENROLL => {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{place}");
            assert_eq!(body["error"], "unauthorized", "{place}");
        }
        _ if refused => {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{place}");
            assert_eq!(body["error"], "unauthorized", "{place}");
        }
        routes::PUSH => {
            assert_eq!(status, StatusCode::OK, "{place}");
            let outcome = &body["results"][0];
            match caller {
                Caller::VillageCadre => assert_eq!(outcome["outcome"], "applied", "{place}"),
                _ => assert_eq!(outcome["code"], "out_of_scope", "{place}"),
            }
        }
        routes::PULL => {
            assert_eq!(status, StatusCode::OK, "{place}");
            let (own, other) = match caller {
                Caller::VillageCadre => (&matrix.world.village_a, &matrix.world.village_b),
                _ => (&matrix.world.village_b, &matrix.world.village_a),
            };
            let scope: Vec<String> = serde_json::from_value(body["scope"].clone()).expect("scope");
            for id in own {
                assert!(scope.contains(&id.to_string()), "{place}");
            }
            let text = body.to_string();
            for id in other {
                assert!(!text.contains(&id.to_string()), "{place} shows {id}");
            }
        }
        routes::SNAPSHOT => {
            assert_eq!(status, StatusCode::OK, "{place}");
            let household = json!(matrix.world.village_a[0]);
            match caller {
                Caller::VillageCadre => {
                    assert_eq!(body["households"][0]["id"], household, "{place}")
                }
                _ => {
                    assert_eq!(body["refused"], json!([household]), "{place}");
                    assert_eq!(body["households"], json!([]), "{place}");
                    assert_eq!(body["visits"], json!([]), "{place}");
                }
            }
        }
        routes::RETIRE => {
            assert_eq!(status, StatusCode::OK, "{place}");
            let own = match caller {
                Caller::VillageCadre => matrix.a.device_id,
                _ => matrix.b.device_id,
            };
            assert_eq!(body["device_id"], json!(own), "{place}");
        }
        // Nobody's visit names this file: nothing to send, nothing to get.
        routes::FILES_STATUS => {
            assert_eq!(status, StatusCode::OK, "{place}");
            assert_eq!(body["files"][0]["expected"], false, "{place}");
            assert_eq!(body["files"][0]["complete"], false, "{place}");
        }
        routes::FILE => {
            assert_eq!(status, StatusCode::NOT_FOUND, "{place}");
            assert_eq!(body["message"], "no such file for this device", "{place}");
        }
        other => panic!("no expectation for route {other}"),
    }
}

#[test]
fn every_route_answers_every_caller_as_it_may() {
    let matrix = Matrix::new();
    // Retiring ends a token: it goes last.
    let mut order: Vec<&str> = routes::ALL
        .into_iter()
        .filter(|route| *route != routes::RETIRE)
        .collect();
    order.push(routes::RETIRE);
    let mut checked = 0;
    for route in order {
        for caller in CALLERS {
            let (status, body) = matrix.call(caller, route);
            check(&matrix, caller, route, status, &body);
            checked += 1;
        }
    }
    assert_eq!(checked, routes::ALL.len() * CALLERS.len());
    // A retired token is dead everywhere, and only its own device retired.
    let (status, _) = matrix.call(Caller::VillageCadre, routes::PULL);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let devices = matrix.world.store.devices().expect("devices");
    let still_working = devices
        .iter()
        .filter(|device| device.revoked_at.is_none())
        .count();
    assert_eq!(still_working, 0, "a, b, revoked and wiped are all out now");
    // Nothing a refused caller sent reached the data: one visit, A's.
    assert_eq!(matrix.world.server_visit_ids().len(), 1);
}

#[test]
fn routes_outside_the_api_and_wrong_methods_answer_in_the_json_shape() {
    let matrix = Matrix::new();
    let client = client(Caller::NoToken);
    for (method, path, expected) in [
        ("GET", "/", StatusCode::NOT_FOUND),
        ("GET", "/v2/sync/pull", StatusCode::NOT_FOUND),
        ("DELETE", routes::PUSH, StatusCode::BAD_REQUEST),
        ("GET", routes::ENROLL, StatusCode::BAD_REQUEST),
    ] {
        let response = client
            .request(
                method.parse().expect("method"),
                format!("{}{path}", matrix.world.url()),
            )
            .send()
            .expect("answered");
        assert_eq!(response.status(), expected, "{method} {path}");
        let body: Value = serde_json::from_slice(&response.bytes().expect("body")).expect("JSON");
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{body}"
        );
    }
}
