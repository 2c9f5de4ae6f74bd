//! Several `doorstep serve` processes on one PostgreSQL database behave as
//! one server: devices behind a load balancer (`doorstep_e2e::balancer`)
//! sync through both at once, one server is SIGKILLed while they sync, and
//! every visit reaches the database exactly once (the export has each id
//! once), through the server that is left. The operator's commands run on
//! the same database (`DOORSTEP_DATABASE_URL`).
//!
//! Needs `TEST_DATABASE_URL` (`.ci/run` sets it); says that it skipped
//! without it.
#![cfg(unix)]

use std::collections::HashSet;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use doorstep_e2e::balancer::Balancer;
use serde_json::Value;

mod common;

use common::{ANSWERS, Server, Shell};

const DEVICES: usize = 4;
const VISITS_PER_DEVICE: usize = 25;
/// Exit code of a sync that could not finish for a transient reason.
const EXIT_UNREACHABLE: i32 = 3;

#[test]
fn two_servers_on_one_database_take_every_visit_once_when_one_dies_mid_sync() {
    let Some(url) = doorstep_e2e::pg::fresh_database("servers_on_postgres") else {
        return;
    };
    let shell = Shell::new().with_env("DOORSTEP_DATABASE_URL", &url);
    shell.county();
    let cadre = shell.json(&["admin", "cadres", "--json"])[0]["id"]
        .as_str()
        .expect("the cadre")
        .to_string();
    let serve = || {
        let mut command = shell.command(&["serve", "--listen", "127.0.0.1:0"]);
        command.stderr(Stdio::null());
        Server::start(command)
    };
    let mut first = serve();
    let second = serve();
    let address = |server: &Server| server.listen_address().parse().expect("an address");
    let balancer = Balancer::start(vec![address(&first), address(&second)]).expect("balancer");

    // Devices enrol and take their households through the balancer, then
    // record visits offline.
    std::fs::write(shell.path("answers.json"), ANSWERS).expect("answers");
    let phone = |index: usize| format!("phone{index}.db");
    for index in 0..DEVICES {
        let code = shell
            .ok(&["admin", "enroll-code", "--cadre", &cadre])
            .trim()
            .to_string();
        let db = phone(index);
        shell.ok(&[
            "device",
            "--db",
            &db,
            "enroll",
            "--server",
            &balancer.url(),
            "--code",
            &code,
        ]);
        shell.ok(&["device", "--db", &db, "sync"]);
        let households: Value =
            serde_json::from_str(&shell.ok(&["device", "--db", &db, "households", "--json"]))
                .expect("JSON");
        let households = households.as_array().expect("a list");
        for visit in 0..VISITS_PER_DEVICE {
            let household = households[(index + visit) % households.len()]["id"]
                .as_str()
                .expect("an id");
            shell.ok(&[
                "device",
                "--db",
                &db,
                "visit",
                "--household",
                household,
                "--answers",
                "answers.json",
            ]);
        }
    }
    assert!(
        balancer.connections_to(0) > 0 && balancer.connections_to(1) > 0,
        "the devices reached both servers"
    );

    // All sync at once; the first server dies once the pushes are under way.
    let sync = |index: usize| -> Child {
        shell
            .command(&["device", "--db", &phone(index), "sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("a sync")
    };
    let before = balancer.connections_to(0) + balancer.connections_to(1);
    let mut syncs: Vec<Child> = (0..DEVICES).map(sync).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while balancer.connections_to(0) + balancer.connections_to(1) < before + 2
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    // SAFETY-free: the server is a child process of this test.
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &first.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let mut outcomes = Vec::new();
    for child in &mut syncs {
        outcomes.push(child.wait().expect("the sync ends").code());
    }
    assert!(!first.is_running(), "the first server is gone");
    for outcome in &outcomes {
        assert!(
            matches!(outcome, Some(0) | Some(EXIT_UNREACHABLE)),
            "a sync either finished or stopped for a transient reason: {outcomes:?}"
        );
    }

    // Whatever was cut off goes again, to the server that is left.
    for index in 0..DEVICES {
        shell.ok(&["device", "--db", &phone(index), "sync"]);
        let status = shell.json(&["device", "--db", &phone(index), "status", "--json"]);
        assert_eq!(status["pending"], 0, "device {index} has nothing left");
    }
    let visits = shell.exported_visits();
    let ids: HashSet<&str> = visits
        .iter()
        .map(|visit| visit["id"].as_str().expect("an id"))
        .collect();
    assert_eq!(visits.len(), DEVICES * VISITS_PER_DEVICE, "every visit");
    assert_eq!(ids.len(), visits.len(), "each once");

    let health: Value = serde_json::from_str(
        &doorstep_e2e::raw_client(std::net::Ipv4Addr::LOCALHOST.into())
            .get(format!("{}/v1/health", second.url))
            .send()
            .expect("health")
            .text()
            .expect("body"),
    )
    .expect("JSON");
    assert_eq!(health["database"], "ok");
    drop(second);
    doorstep_e2e::pg::drop_database(&url);
}
