//! Harness for the end-to-end tests: a real server on port 0 over a real
//! SQLite file, and real device stores syncing with it over HTTP.
//!
//! The world has two villages: 中坝村 (households A1–A3) and 牛塘村
//! (households B1–B2), and the demo form published.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use doorstep_core::sync::{CancelToken, SyncEngine, SyncReport};
use doorstep_core::transport::{Endpoint, HttpTimeouts, HttpTransport};
use doorstep_core::{NewVisit, Store, StoreOptions};
use doorstep_protocol::{Answers, AreaLevel, AreaRecord, HouseholdRecord};
use doorstep_server::store::AssignmentTarget;
use doorstep_server::{BackgroundServer, ServeOptions, ServerStore};
use tempfile::TempDir;
use uuid::Uuid;

pub const VILLAGE_A: &str = "530626104201";
pub const VILLAGE_B: &str = "530623206201";
pub const DEMO_FORM: &str = include_str!("../../forms/household-check.json");

#[derive(Debug)]
pub struct World {
    directory: TempDir,
    /// How the server serves (plain HTTP on loopback, or HTTPS).
    options: ServeOptions,
    /// The CA devices pin when the server speaks HTTPS.
    ca_pem: Option<String>,
    pub store: Arc<ServerStore>,
    server: Option<BackgroundServer>,
    address: SocketAddr,
    /// Households of village A, then of village B.
    pub village_a: Vec<Uuid>,
    pub village_b: Vec<Uuid>,
    devices: usize,
}

impl World {
    /// A server with two villages and the demo form, listening on port 0.
    pub fn new() -> World {
        World::serving(ServeOptions::default())
    }

    /// The same world served over HTTPS with a certificate from `ca`
    /// (for 127.0.0.1 and localhost).
    pub fn https(ca: &tls::TestCa) -> World {
        let config = doorstep_server::net::tls::server_config(&ca.cert_path(), &ca.key_path())
            .expect("the test CA's certificate loads");
        let mut world = World::serving(ServeOptions {
            tls: Some(config),
            ..ServeOptions::default()
        });
        world.ca_pem = Some(std::fs::read_to_string(ca.ca_path()).expect("the CA's PEM"));
        world
    }

    /// The same world served with `options` (its metrics, limits, TLS).
    pub fn serving(options: ServeOptions) -> World {
        let directory = tempfile::tempdir().expect("temporary directory");
        let store =
            Arc::new(ServerStore::open(directory.path().join("server.db")).expect("server store"));
        let areas = vec![
            area("530626", "绥江县", AreaLevel::County, None),
            area("530626104", "南岸镇", AreaLevel::Township, Some("530626")),
            area(VILLAGE_A, "中坝村", AreaLevel::Village, Some("530626104")),
            area("530623", "盐津县", AreaLevel::County, None),
            area("530623206", "牛寨乡", AreaLevel::Township, Some("530623")),
            area(VILLAGE_B, "牛塘村", AreaLevel::Village, Some("530623206")),
        ];
        let names_a = ["喻兰", "王建国", "欧阳娜娜"];
        let names_b = ["李春花", "龙发"];
        let village_a: Vec<Uuid> = names_a.iter().map(|_| Uuid::now_v7()).collect();
        let village_b: Vec<Uuid> = names_b.iter().map(|_| Uuid::now_v7()).collect();
        let mut households = Vec::new();
        for (id, name) in village_a.iter().zip(names_a) {
            households.push(household(*id, VILLAGE_A, name));
        }
        for (id, name) in village_b.iter().zip(names_b) {
            households.push(household(*id, VILLAGE_B, name));
        }
        store
            .import_households(&areas, &households)
            .expect("import");
        let definition: serde_json::Value =
            serde_json::from_str(DEMO_FORM).expect("demo form JSON");
        let form = doorstep_forms::Form::from_definition(&definition).expect("demo form");
        store.publish_form(&form).expect("publish");
        let server = BackgroundServer::start_with(
            Arc::clone(&store),
            SocketAddr::from(([127, 0, 0, 1], 0)),
            options.clone(),
        )
        .expect("server");
        World {
            address: server.address(),
            options,
            ca_pem: None,
            directory,
            store,
            server: Some(server),
            village_a,
            village_b,
            devices: 0,
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.address)
    }

    /// Where devices enrol, trusting the world's CA when it has one.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            url: self.url(),
            ca_pem: self.ca_pem.clone(),
            allow_insecure_http: false,
        }
    }

    pub fn directory(&self) -> &std::path::Path {
        self.directory.path()
    }

    pub fn server_path(&self) -> PathBuf {
        self.directory.path().join("server.db")
    }

    /// Stops the server: devices now find it unreachable.
    pub fn stop_server(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().expect("server stops");
        }
    }

    /// Starts the server again on the same address, over a freshly opened
    /// store (as after a restart of the process).
    pub fn restart_server(&mut self) {
        self.stop_server();
        self.store = Arc::new(ServerStore::open(self.server_path()).expect("server store reopens"));
        self.server = Some(
            BackgroundServer::start_with(
                Arc::clone(&self.store),
                self.address,
                self.options.clone(),
            )
            .expect("server restarts"),
        );
    }

    /// A new cadre paired with a village.
    pub fn cadre(&self, village: &str) -> Uuid {
        let cadre = self.store.add_cadre("测试干部").expect("cadre");
        self.store
            .assign(cadre, &AssignmentTarget::Village(village.to_string()))
            .expect("assign");
        cadre
    }

    /// An enrolled device store of `cadre`, not synced yet.
    pub fn device(&mut self, cadre: Uuid) -> Store {
        self.device_with(cadre, StoreOptions::default())
    }

    /// Like [`World::device`], with store options (durability, clock).
    pub fn device_with(&mut self, cadre: Uuid, options: StoreOptions) -> Store {
        self.devices += 1;
        let store =
            Store::open_with(self.device_path(self.devices), options).expect("device store");
        let endpoint = self.endpoint();
        let transport =
            HttpTransport::connect(&endpoint, HttpTimeouts::default()).expect("transport");
        let code = self.store.enroll_code(cadre).expect("code");
        doorstep_core::sync::enroll(&store, &transport, &endpoint, &code.code, None)
            .expect("enroll");
        store
    }

    /// The database file of the `number`th device made (from 1).
    pub fn device_path(&self, number: usize) -> PathBuf {
        self.directory.path().join(format!("device-{number}.db"))
    }

    /// Enrolls a device by hand, for tests that craft requests: its id and
    /// token.
    pub fn raw_enrollment(&self, cadre: Uuid) -> doorstep_protocol::EnrollResponse {
        use doorstep_core::transport::Transport;
        let transport = HttpTransport::new(&self.url()).expect("transport");
        let code = self.store.enroll_code(cadre).expect("code");
        transport
            .enroll(&doorstep_protocol::EnrollRequest {
                protocol: doorstep_protocol::PROTOCOL_VERSION,
                code: code.code,
                device_label: None,
                attempt: None,
            })
            .expect("enroll")
    }

    /// Every visit id on the server, with repeats if any.
    pub fn server_visit_ids(&self) -> Vec<Uuid> {
        let mut ids = Vec::new();
        self.store
            .export_visits(&mut |visit| {
                ids.push(visit.id);
                Ok(())
            })
            .expect("export");
        ids
    }
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

/// The demo form's version, as published in every world.
pub fn demo_form_version() -> String {
    let definition: serde_json::Value = serde_json::from_str(DEMO_FORM).expect("demo form JSON");
    definition["version"]
        .as_str()
        .expect("a version")
        .to_string()
}

/// A visit of the demo form as a device with `enrollment` would push it,
/// for tests that craft pushes by hand.
pub fn visit_record(
    enrollment: &doorstep_protocol::EnrollResponse,
    household: Uuid,
    answers: Answers,
) -> doorstep_protocol::VisitRecord {
    doorstep_protocol::VisitRecord {
        id: Uuid::now_v7(),
        household_id: household,
        cadre_id: enrollment.cadre_id,
        device_id: enrollment.device_id,
        form_id: "household_check".into(),
        form_version: demo_form_version(),
        answers,
        computed: Default::default(),
        recorded_at: chrono::Utc::now(),
        corrects: None,
        received_at: None,
        clock_ahead: false,
    }
}

/// A raw HTTP client for tests that craft requests, bound to `local` (a
/// loopback address of its own, so that one caller's refusals never
/// throttle another's). reqwest is built without a TLS provider of its own:
/// this one has rustls with ring and no roots (plain HTTP to loopback).
pub fn raw_client(local: std::net::IpAddr) -> reqwest::blocking::Client {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::blocking::Client::builder()
        .tls_backend_preconfigured(tls)
        .local_address(local)
        .build()
        .expect("client")
}

/// One sync run of a device against the server it enrolled with.
pub fn sync(device: &Store) -> Result<SyncReport, doorstep_core::Error> {
    let transport = HttpTransport::connect(&device.endpoint()?, HttpTimeouts::default())?;
    SyncEngine::new(device, &transport).run(&mut |_| {}, &CancelToken::new())
}

/// [`sync`], run again after the wait a busy server asks for (HTTP 429 or
/// 503 with `Retry-After`), as the app's scheduler does: for tests that
/// send more than a device's rate (a campaign's photos over loopback).
pub fn sync_when_allowed(device: &Store) -> Result<SyncReport, doorstep_core::Error> {
    use doorstep_core::transport::TransportError;
    for _ in 0..100 {
        match sync(device) {
            Err(doorstep_core::Error::Transport(TransportError::Busy { retry_after })) => {
                std::thread::sleep(retry_after.unwrap_or(std::time::Duration::from_secs(1)));
            }
            other => return other,
        }
    }
    sync(device)
}

/// Valid answers for the demo form, with `members` household members (at
/// least one). Per-capita net income is (38000 + 6200.5 + 800 + 3600 −
/// 2400) ÷ members.
pub fn answers(members: i64) -> Answers {
    let roster: Vec<serde_json::Value> = (0..members.max(1))
        .map(|index| {
            serde_json::json!({
                "member_name": format!("成员{}", index + 1),
                "relation": if index == 0 { "head" } else { "child" },
                "age": 30 + index,
                "able_to_work": "full"
            })
        })
        .collect();
    serde_json::json!({
        "visit_date": "2024-12-28",
        "respondent": "head",
        "members": roster,
        "income_wages": 38000,
        "income_business": 6200.5,
        "income_property": 800,
        "income_transfer": 3600,
        "production_costs": 2400,
        "food_clothing_ok": "yes",
        "education_ok": "yes",
        "medical_insurance_ok": "yes",
        "housing_safe": "yes",
        "drinking_water_safe": "no",
        "risk_category": "edge",
        "relocated": "no",
        "support_needed": ["jobs"]
    })
    .as_object()
    .expect("an object")
    .clone()
}

/// Records a finalised visit with valid answers.
pub fn record(device: &Store, household: Uuid) -> Uuid {
    record_answers(device, household, answers(4))
}

/// Records a finalised visit of the newest form with `answers`.
pub fn record_answers(device: &Store, household: Uuid, answers: Answers) -> Uuid {
    device
        .record_visit(NewVisit {
            household_id: household,
            form_id: None,
            answers,
            draft: false,
            corrects: None,
        })
        .expect("visit recorded")
        .id
}

fn area(code: &str, name: &str, level: AreaLevel, parent: Option<&str>) -> AreaRecord {
    AreaRecord {
        code: code.into(),
        name: name.into(),
        level,
        parent_code: parent.map(Into::into),
    }
}

fn household(id: Uuid, village: &str, name: &str) -> HouseholdRecord {
    HouseholdRecord {
        id,
        village_code: village.into(),
        head_name: name.into(),
        id_card_suffix: "123X".into(),
        group: "2组".into(),
        members: 4,
        phone: "13900000000".into(),
        address: "2组8号".into(),
        lat: Some(28.0),
        lon: Some(104.0),
        category: "relieved".into(),
        version: 0,
    }
}
pub mod balancer;
pub mod console;
pub mod in_process;
pub mod link;
pub mod pg;
pub mod proxy;
pub mod realistic;
pub mod sim;
pub mod tls;
