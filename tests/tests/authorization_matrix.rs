//! The authorisation matrix of the console and the admin API: every route
//! × every kind of caller, over real HTTP against the real server.
//!
//! Callers: an admin (with its console cookie, and with its API token), a
//! supervisor of township A (where the objects asked about are), a
//! supervisor of township B (another county), a cadre's device token, and
//! nobody. Supervisors use their cookie on console routes and their API
//! token on API routes; the device's token is sent as a bearer token and
//! as a cookie.
//!
//! [`ROUTES`] is the table: one line per route. The first test checks it
//! against what the server serves (`doorstep_server::route_table`), so a
//! route added without a line here fails. A line's `example` makes the
//! call: the path with the ids of township A's objects, made fresh when
//! the call changes them, so that every cell starts from the same world.
//!
//! Every cell has its own client address (`127.0.R.C`), so that one
//! cell's refusals never throttle another's.

use std::collections::BTreeSet;
use std::net::IpAddr;

use chrono::Utc;
use doorstep_e2e::{DEMO_FORM, VILLAGE_A, World};
use doorstep_server::store::{NewUser, Role};
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use serde_json::json;
use uuid::Uuid;

/// Stands for the caller's CSRF token in a [`Call::console_form`].
const CSRF: &str = "{CSRF}";

/// Township A (village A's), where the matrix's objects are.
const TOWNSHIP_A: &str = "530626104";

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Anybody, signed in or not.
    Open,
    /// Any signed-in account (console) or API token.
    SignedIn,
    /// Accounts whose scope holds the object: an admin, the supervisor of
    /// its area. The other area's supervisor gets 404 (`List`: 200 without
    /// the object).
    Scoped,
    /// Like [`Access::Scoped`], for a list: the other area's supervisor
    /// gets it, without the object `Call::hidden` names.
    List,
    /// Admins only: a supervisor gets 403.
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    AdminCookie,
    AdminToken,
    Supervisor,
    OtherSupervisor,
    Device,
    Nobody,
}

const CALLERS: [Caller; 6] = [
    Caller::AdminCookie,
    Caller::AdminToken,
    Caller::Supervisor,
    Caller::OtherSupervisor,
    Caller::Device,
    Caller::Nobody,
];

/// One request: its path (with a query, if any), body, and the id a list
/// must not show to the other area's supervisor.
struct Call {
    path: String,
    body: Option<(&'static str, Vec<u8>)>,
    hidden: Option<String>,
}

impl Call {
    fn to(path: impl Into<String>) -> Call {
        Call {
            path: path.into(),
            body: None,
            hidden: None,
        }
    }

    fn json(mut self, body: serde_json::Value) -> Call {
        self.body = Some(("application/json", body.to_string().into_bytes()));
        self
    }

    /// A console form with a CSRF token that is nobody's: a signed-in
    /// caller gets 403, which shows it passed the door and changed nothing.
    fn forged_form(mut self, fields: &str) -> Call {
        let body = format!("csrf={}&{fields}", "0".repeat(64));
        self.body = Some(("application/x-www-form-urlencoded", body.into_bytes()));
        self
    }

    /// A console form with the caller's own CSRF token (nobody's for a
    /// caller without a session): what passes the door then meets the
    /// scope.
    fn console_form(mut self, fields: &str) -> Call {
        let body = format!("csrf={CSRF}&{fields}");
        self.body = Some(("application/x-www-form-urlencoded", body.into_bytes()));
        self
    }

    /// A console upload (`multipart/form-data`) with a CSRF token that is
    /// nobody's and a small file.
    fn forged_upload(mut self) -> Call {
        let body = format!(
            "--matrix\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n\
             --matrix\r\nContent-Disposition: form-data; name=\"file\"; filename=\"form.json\"\r\n\
             Content-Type: application/json\r\n\r\n{{}}\r\n--matrix--\r\n",
            "0".repeat(64)
        );
        self.body = Some(("multipart/form-data; boundary=matrix", body.into_bytes()));
        self
    }

    fn hiding(mut self, id: impl ToString) -> Call {
        self.hidden = Some(id.to_string());
        self
    }
}

/// A route: its method and template, who may use it, the status its
/// callers get when they may, and how to call it.
struct Route {
    method: &'static str,
    template: &'static str,
    access: Access,
    ok: u16,
    example: fn(&Fixture) -> Call,
}

/// Every console and admin-API route. Adding a route: one line here.
#[rustfmt::skip]
const ROUTES: &[Route] = &[
    // The console.
    Route { method: "GET", template: "/console", access: Access::Open, ok: 303, example: |_| Call::to("/console") },
    Route { method: "GET", template: "/console/", access: Access::SignedIn, ok: 303, example: |_| Call::to("/console/") },
    Route { method: "GET", template: "/console/login", access: Access::Open, ok: 200, example: |_| Call::to("/console/login") },
    Route { method: "POST", template: "/console/login", access: Access::Open, ok: 401, example: |_| Call::to("/console/login").forged_form("name=nobody&password=wrong-password") },
    Route { method: "POST", template: "/console/logout", access: Access::SignedIn, ok: 403, example: |_| Call::to("/console/logout").forged_form("") },
    Route { method: "GET", template: "/console/password", access: Access::SignedIn, ok: 200, example: |_| Call::to("/console/password") },
    Route { method: "POST", template: "/console/password", access: Access::SignedIn, ok: 403, example: |_| Call::to("/console/password").forged_form("current=x&new=a-new-password") },
    Route { method: "GET", template: "/console/lang", access: Access::Open, ok: 303, example: |_| Call::to("/console/lang?to=en&back=/console/progress") },
    Route { method: "GET", template: "/console/progress", access: Access::Scoped, ok: 200, example: |_| Call::to(format!("/console/progress?area={TOWNSHIP_A}")) },
    Route { method: "GET", template: "/console/households", access: Access::List, ok: 200, example: |f| Call::to("/console/households").hiding(f.world.village_a[0]) },
    Route { method: "GET", template: "/console/households/{id}", access: Access::Scoped, ok: 200, example: |f| Call::to(format!("/console/households/{}", f.world.village_a[0])) },
    Route { method: "GET", template: "/console/files/{sha256}", access: Access::Scoped, ok: 200, example: |f| Call::to(format!("/console/files/{}", f.stored_file())) },
    Route { method: "GET", template: "/console/risk", access: Access::Scoped, ok: 200, example: |_| Call::to(format!("/console/risk?area={TOWNSHIP_A}")) },
    Route { method: "GET", template: "/console/coming-home", access: Access::Scoped, ok: 200, example: |_| Call::to(format!("/console/coming-home?area={VILLAGE_A}")) },
    Route { method: "GET", template: "/console/review", access: Access::Scoped, ok: 200, example: |_| Call::to(format!("/console/review?area={TOWNSHIP_A}")) },
    Route { method: "GET", template: "/console/review/rejected", access: Access::Scoped, ok: 200, example: |_| Call::to(format!("/console/review/rejected?area={TOWNSHIP_A}")) },
    Route { method: "GET", template: "/console/cadres", access: Access::List, ok: 200, example: |f| Call::to("/console/cadres").hiding(f.cadre) },
    Route { method: "GET", template: "/console/cadres/{id}", access: Access::Scoped, ok: 200, example: |f| Call::to(format!("/console/cadres/{}", f.cadre)) },
    Route { method: "POST", template: "/console/cadres/{id}/assign", access: Access::Scoped, ok: 303, example: |f| Call::to(format!("/console/cadres/{}/assign", f.new_cadre(None))).console_form(&format!("village={VILLAGE_A}")) },
    Route { method: "POST", template: "/console/cadres/{id}/unassign", access: Access::Scoped, ok: 303, example: |f| Call::to(format!("/console/cadres/{}/unassign", f.new_cadre(Some(VILLAGE_A)))).console_form(&format!("village={VILLAGE_A}")) },
    Route { method: "POST", template: "/console/cadres/{id}/enrol-code", access: Access::Scoped, ok: 200, example: |f| Call::to(format!("/console/cadres/{}/enrol-code", f.cadre)).console_form("go=1") },
    Route { method: "GET", template: "/console/devices", access: Access::List, ok: 200, example: |f| Call::to("/console/devices").hiding(f.device) },
    Route { method: "POST", template: "/console/devices/{id}/revoke", access: Access::Scoped, ok: 303, example: |f| Call::to(format!("/console/devices/{}/revoke", f.new_device())).console_form("go=1") },
    Route { method: "POST", template: "/console/review/conflicts/{id}", access: Access::Scoped, ok: 303, example: |f| Call::to(format!("/console/review/conflicts/{}", f.new_conflict())).console_form("decision=keep") },
    Route { method: "GET", template: "/console/forms", access: Access::Admin, ok: 200, example: |_| Call::to("/console/forms") },
    Route { method: "POST", template: "/console/forms", access: Access::Admin, ok: 403, example: |_| Call::to("/console/forms").forged_upload() },
    Route { method: "GET", template: "/console/export", access: Access::SignedIn, ok: 200, example: |_| Call::to("/console/export") },
    Route { method: "GET", template: "/console/export/visits", access: Access::Scoped, ok: 200, example: |_| Call::to(format!("/console/export/visits?format=csv&area={TOWNSHIP_A}&form_version={}", doorstep_e2e::demo_form_version())) },
    // The admin API.
    Route { method: "GET", template: "/admin/v1/openapi.json", access: Access::Open, ok: 200, example: |_| Call::to("/admin/v1/openapi.json") },
    Route { method: "GET", template: "/admin/v1/me", access: Access::SignedIn, ok: 200, example: |_| Call::to("/admin/v1/me") },
    Route { method: "GET", template: "/admin/v1/cadres", access: Access::List, ok: 200, example: |f| Call::to("/admin/v1/cadres").hiding(f.cadre) },
    Route { method: "POST", template: "/admin/v1/cadres", access: Access::Admin, ok: 201, example: |_| Call::to("/admin/v1/cadres").json(json!({"name": "新干部"})) },
    Route { method: "GET", template: "/admin/v1/cadres/{id}", access: Access::Scoped, ok: 200, example: |f| Call::to(format!("/admin/v1/cadres/{}", f.cadre)) },
    Route { method: "POST", template: "/admin/v1/cadres/{id}/villages/{code}", access: Access::Scoped, ok: 200, example: |f| Call::to(format!("/admin/v1/cadres/{}/villages/{VILLAGE_A}", f.new_cadre(None))) },
    Route { method: "DELETE", template: "/admin/v1/cadres/{id}/villages/{code}", access: Access::Scoped, ok: 204, example: |f| Call::to(format!("/admin/v1/cadres/{}/villages/{VILLAGE_A}", f.new_cadre(Some(VILLAGE_A)))) },
    Route { method: "POST", template: "/admin/v1/cadres/{id}/enrol-codes", access: Access::Scoped, ok: 201, example: |f| Call::to(format!("/admin/v1/cadres/{}/enrol-codes", f.cadre)) },
    Route { method: "GET", template: "/admin/v1/devices", access: Access::List, ok: 200, example: |f| Call::to("/admin/v1/devices").hiding(f.device) },
    Route { method: "POST", template: "/admin/v1/devices/{id}/revoke", access: Access::Scoped, ok: 200, example: |f| Call::to(format!("/admin/v1/devices/{}/revoke", f.new_device())) },
    Route { method: "GET", template: "/admin/v1/forms", access: Access::SignedIn, ok: 200, example: |_| Call::to("/admin/v1/forms") },
    Route { method: "POST", template: "/admin/v1/forms", access: Access::Admin, ok: 200, example: |_| Call::to("/admin/v1/forms").json(serde_json::from_str(DEMO_FORM).expect("the demo form")) },
    Route { method: "GET", template: "/admin/v1/exports/visits", access: Access::Scoped, ok: 200, example: |_| Call::to(format!("/admin/v1/exports/visits?format=jsonl&area={TOWNSHIP_A}")) },
    Route { method: "GET", template: "/admin/v1/audit", access: Access::Admin, ok: 200, example: |_| Call::to("/admin/v1/audit?limit=5") },
];

/// The world and the callers' credentials.
struct Fixture {
    world: World,
    /// A cadre of village A with an enrolled device.
    cadre: Uuid,
    device: Uuid,
    device_token: String,
    admin_cookie: String,
    admin_token: String,
    /// Supervisors of township A and of township B: cookie and API token.
    supervisor: (String, String),
    other_supervisor: (String, String),
    /// The console sessions' CSRF tokens: admin, supervisor, other.
    csrf: [String; 3],
}

impl Fixture {
    fn new() -> Fixture {
        let world = World::new();
        let cadre = world.cadre(VILLAGE_A);
        let enrolment = world.raw_enrollment(cadre);
        // One visit of township A, for the exports to find.
        let visit =
            doorstep_e2e::visit_record(&enrolment, world.village_a[0], doorstep_e2e::answers(2));
        let auth = doorstep_server::store::DeviceAuth {
            device_id: enrolment.device_id,
            cadre_id: enrolment.cadre_id,
        };
        world
            .store
            .push(
                auth,
                &[doorstep_protocol::Change {
                    seq: 1,
                    mutation: doorstep_protocol::Mutation::Visit(visit),
                }],
                None,
                Utc::now(),
            )
            .expect("a visit");
        let account = |name: &str, area: Option<&str>| {
            let role = if area.is_some() {
                Role::Supervisor
            } else {
                Role::Admin
            };
            let new = NewUser {
                name: name.into(),
                role,
                area_code: area.map(Into::into),
            };
            let (user, password) = world.store.add_user(&new, Utc::now()).expect("account");
            let (session, signed) = world
                .store
                .login(name, &password, Utc::now())
                .expect("signed in");
            world
                .store
                .change_password(user.id, &password, "a-password-of-its-own", &session)
                .expect("password set");
            let (token, _) = world
                .store
                .issue_api_token(name, "matrix", Utc::now())
                .expect("API token");
            (
                (format!("doorstep_console={session}"), token),
                signed.csrf_token,
            )
        };
        let ((admin_cookie, admin_token), admin_csrf) = account("operator", None);
        let (supervisor, supervisor_csrf) = account("supervisor.a", Some(&VILLAGE_A[..9]));
        let (other_supervisor, other_csrf) = account("supervisor.b", Some("530623206"));
        Fixture {
            cadre,
            device: enrolment.device_id,
            device_token: enrolment.token,
            admin_cookie,
            admin_token,
            supervisor,
            other_supervisor,
            csrf: [admin_csrf, supervisor_csrf, other_csrf],
            world,
        }
    }

    /// A new cadre, paired with `village` or with nothing.
    fn new_cadre(&self, village: Option<&str>) -> Uuid {
        match village {
            Some(village) => self.world.cadre(village),
            None => self.world.store.add_cadre("新").expect("cadre"),
        }
    }

    /// A new device of the cadre of village A.
    fn new_device(&self) -> Uuid {
        self.world.raw_enrollment(self.cadre).device_id
    }

    /// A file named by a visit of a household of village A, arrived
    /// whole: its reference.
    fn stored_file(&self) -> String {
        use doorstep_protocol::{Change, Mutation};
        use sha2::{Digest, Sha256};
        let form: doorstep_forms::Form = serde_json::from_value(json!({
            "form_id": "photo_check", "version": "1", "title": "Photo check",
            "questions": [{"name": "house", "kind": {"type": "photo"}, "label": {"en": "The house"}}]
        }))
        .expect("form");
        self.world.store.publish_form(&form).expect("published");
        let bytes = b"a small picture of a house";
        let sha256: String = Sha256::digest(bytes)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let enrolment = self.world.raw_enrollment(self.cadre);
        let mut answers = serde_json::Map::new();
        answers.insert("house".into(), json!(sha256));
        let visit = doorstep_protocol::VisitRecord {
            form_id: "photo_check".into(),
            form_version: "1".into(),
            ..doorstep_e2e::visit_record(&enrolment, self.world.village_a[0], answers)
        };
        let auth = doorstep_server::store::DeviceAuth {
            device_id: enrolment.device_id,
            cadre_id: enrolment.cadre_id,
        };
        self.world
            .store
            .push(
                auth,
                &[Change {
                    seq: 1,
                    mutation: Mutation::Visit(visit),
                }],
                None,
                Utc::now(),
            )
            .expect("a visit");
        let directory = self.world.directory().join("files").join(&sha256[..2]);
        std::fs::create_dir_all(&directory).expect("directory");
        std::fs::write(directory.join(&sha256), bytes).expect("the file");
        self.world
            .store
            .record_stored_file(
                &doorstep_server::store::FileRecord {
                    sha256: sha256.clone(),
                    size: bytes.len() as u64,
                    media_type: "image/jpeg".into(),
                },
                Utc::now(),
            )
            .expect("recorded");
        sha256
    }

    /// A new same-field conflict on a household of village A: two new
    /// devices change its phone from the same version.
    fn new_conflict(&self) -> u64 {
        use doorstep_protocol::{Change, Hlc, HouseholdEdit, HouseholdField, Mutation};
        let household = self.world.village_a[1];
        let base = self
            .world
            .store
            .household(household)
            .expect("reads")
            .expect("a household")
            .version;
        for (index, phone) in ["13900000011", "13900000022"].into_iter().enumerate() {
            let enrolment = self.world.raw_enrollment(self.cadre);
            let auth = doorstep_server::store::DeviceAuth {
                device_id: enrolment.device_id,
                cadre_id: enrolment.cadre_id,
            };
            let edit = HouseholdEdit {
                id: Uuid::now_v7(),
                household_id: household,
                base_version: base,
                fields: [(HouseholdField::Phone, json!(phone))]
                    .into_iter()
                    .collect(),
                hlc: Hlc::new(Utc::now(), u16::try_from(index).unwrap_or(0)),
            };
            self.world
                .store
                .push(
                    auth,
                    &[Change {
                        seq: 1,
                        mutation: Mutation::Household(edit),
                    }],
                    None,
                    Utc::now(),
                )
                .expect("an edit");
        }
        self.world
            .store
            .conflicts(Some(household))
            .expect("conflicts")
            .last()
            .expect("a conflict")
            .id
    }

    fn send(&self, route: &Route, caller: Caller, address: IpAddr) -> (Call, Response) {
        let call = (route.example)(self);
        let client = client(address);
        let url = format!("{}{}", self.world.url(), call.path);
        let mut request = match route.method {
            "GET" => client.get(url),
            "POST" => client.post(url),
            "DELETE" => client.delete(url),
            other => panic!("the matrix does not send {other}"),
        };
        if let Some((content_type, body)) = &call.body {
            let csrf = match caller {
                Caller::AdminCookie => self.csrf[0].clone(),
                Caller::Supervisor => self.csrf[1].clone(),
                Caller::OtherSupervisor => self.csrf[2].clone(),
                _ => "0".repeat(64),
            };
            let body = String::from_utf8_lossy(body).replace(CSRF, &csrf);
            request = request
                .header("content-type", *content_type)
                .body(body.into_bytes());
        }
        let console = route.template.starts_with("/console");
        let (cookie, bearer) = match caller {
            Caller::AdminCookie => (Some(self.admin_cookie.clone()), None),
            Caller::AdminToken => (None, Some(self.admin_token.clone())),
            Caller::Supervisor | Caller::OtherSupervisor => {
                let (cookie, token) = if caller == Caller::Supervisor {
                    &self.supervisor
                } else {
                    &self.other_supervisor
                };
                if console {
                    (Some(cookie.clone()), None)
                } else {
                    (None, Some(token.clone()))
                }
            }
            Caller::Device => (
                Some(format!("doorstep_console={}", self.device_token)),
                Some(self.device_token.clone()),
            ),
            Caller::Nobody => (None, None),
        };
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        (call, request.send().expect("answered"))
    }
}

/// A plain HTTP client from `address` that shows redirects instead of
/// following them.
fn client(address: IpAddr) -> Client {
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    Client::builder()
        .tls_backend_preconfigured(tls)
        .local_address(address)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// What a caller must get.
#[derive(Debug, PartialEq, Eq)]
enum Expected {
    Status(u16),
    /// The console's sign-in page (303 to `/console/login`).
    SignIn,
    /// 200, without the hidden object.
    Without,
}

fn expected(route: &Route, caller: Caller) -> Expected {
    let console = route.template.starts_with("/console");
    // Whose credentials this door takes.
    let signed_in = match caller {
        Caller::AdminCookie => console,
        Caller::AdminToken => !console,
        Caller::Supervisor | Caller::OtherSupervisor => true,
        Caller::Device | Caller::Nobody => false,
    };
    let refused = if console {
        Expected::SignIn
    } else {
        Expected::Status(401)
    };
    let admin = matches!(caller, Caller::AdminCookie | Caller::AdminToken);
    match route.access {
        Access::Open => Expected::Status(route.ok),
        _ if !signed_in => refused,
        Access::SignedIn => Expected::Status(route.ok),
        Access::Admin if admin => Expected::Status(route.ok),
        Access::Admin => Expected::Status(403),
        Access::Scoped | Access::List if caller != Caller::OtherSupervisor => {
            Expected::Status(route.ok)
        }
        Access::Scoped => Expected::Status(404),
        Access::List => Expected::Without,
    }
}

#[test]
fn the_matrix_lists_every_route_the_server_serves() {
    let served: BTreeSet<(String, String)> = doorstep_server::route_table()
        .iter()
        .map(|route| (route.method.to_owned(), route.path.to_owned()))
        .collect();
    let listed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|route| (route.method.to_owned(), route.template.to_owned()))
        .collect();
    assert_eq!(listed.len(), ROUTES.len(), "a route listed twice");
    let missing: Vec<_> = served.difference(&listed).collect();
    let extra: Vec<_> = listed.difference(&served).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "served but not in the matrix: {missing:?}; in the matrix but not served: {extra:?}"
    );
}

#[test]
fn every_caller_gets_what_its_role_and_area_allow_on_every_route() {
    let fixture = Fixture::new();
    let mut failures = Vec::new();
    for (row, route) in ROUTES.iter().enumerate() {
        for (column, caller) in CALLERS.iter().enumerate() {
            let address: IpAddr = format!("127.0.{}.{}", row + 1, column + 2)
                .parse()
                .expect("address");
            let (call, response) = fixture.send(route, *caller, address);
            let status = response.status();
            let location = response
                .headers()
                .get("location")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = response.text().unwrap_or_default();
            let place = format!("{caller:?} on {} {}", route.method, call.path);
            let want = expected(route, *caller);
            let ok = match &want {
                Expected::Status(code) => status.as_u16() == *code,
                Expected::SignIn => status == StatusCode::SEE_OTHER && location == "/console/login",
                Expected::Without => {
                    let hidden = call.hidden.as_deref().expect("a list names what it hides");
                    status == StatusCode::OK && !body.contains(hidden)
                }
            };
            // Scoped lists show the object to those who may see it.
            let shown = match (&want, &call.hidden) {
                (Expected::Status(200), Some(hidden)) => body.contains(hidden.as_str()),
                _ => true,
            };
            if !ok || !shown {
                failures.push(format!(
                    "{place}: wanted {want:?}, got {status} {location} {}",
                    body.chars().take(200).collect::<String>()
                ));
            }
            // Every refusal and answer of the API is JSON (a JSON-lines
            // export, line by line).
            if !route.template.starts_with("/console") && status != StatusCode::NO_CONTENT {
                assert!(
                    serde_json::from_str::<serde_json::Value>(&body).is_ok()
                        || (call.path.contains("format=jsonl")
                            && body.lines().all(|line| {
                                serde_json::from_str::<serde_json::Value>(line).is_ok()
                            })),
                    "{place}: not JSON: {body}"
                );
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_other_area_changes_nothing_and_bad_api_tokens_are_throttled() {
    let fixture = Fixture::new();
    let before = fixture.world.store.assignments().expect("pairings");
    let devices_before = fixture.world.store.devices().expect("devices");
    // The other township's supervisor tries every change on township A.
    let other = fixture.other_supervisor.1.clone();
    let client = doorstep_e2e::raw_client("127.0.200.1".parse().expect("address"));
    let url = fixture.world.url();
    let cadre = fixture.cadre;
    let attempts = [
        client.delete(format!(
            "{url}/admin/v1/cadres/{cadre}/villages/{VILLAGE_A}"
        )),
        client.post(format!(
            "{url}/admin/v1/cadres/{cadre}/villages/530623206201"
        )),
        client.post(format!("{url}/admin/v1/devices/{}/revoke", fixture.device)),
        client.post(format!("{url}/admin/v1/cadres/{cadre}/enrol-codes")),
    ];
    for attempt in attempts {
        let response = attempt.bearer_auth(&other).send().expect("answered");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(fixture.world.store.assignments().expect("pairings"), before);
    assert_eq!(
        fixture.world.store.devices().expect("devices"),
        devices_before
    );

    // Guessing API tokens from one address: 10 refusals, then it waits,
    // even with a good token (guesses cannot hide among real calls).
    let guesser = doorstep_e2e::raw_client("127.0.201.1".parse().expect("address"));
    let statuses: Vec<u16> = (0..11)
        .map(|guess| {
            guesser
                .get(format!("{url}/admin/v1/me"))
                .bearer_auth(format!("dsa_{guess:064x}"))
                .send()
                .expect("answered")
                .status()
                .as_u16()
        })
        .collect();
    assert_eq!(&statuses[..10], &[401; 10], "{statuses:?}");
    assert_eq!(statuses[10], 429, "{statuses:?}");
    let good = guesser
        .get(format!("{url}/admin/v1/me"))
        .bearer_auth(&fixture.admin_token)
        .send()
        .expect("answered");
    assert_eq!(good.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(good.headers().contains_key("retry-after"));
    // A good token from elsewhere is not held up, and never counts.
    let honest = doorstep_e2e::raw_client("127.0.202.1".parse().expect("address"));
    for _ in 0..15 {
        let response = honest
            .get(format!("{url}/admin/v1/me"))
            .bearer_auth(&fixture.admin_token)
            .send()
            .expect("answered");
        assert_eq!(response.status(), StatusCode::OK);
    }
}
