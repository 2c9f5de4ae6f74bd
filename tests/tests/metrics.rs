//! Prometheus metrics on their own listener, against the real server and
//! real devices: requests counted by route template (never a raw path
//! with ids), sync latencies, visits applied, changes rejected by code,
//! conflicts settled.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use doorstep_e2e::{VILLAGE_A, VILLAGE_B, World, answers, raw_client, record, sync};
use doorstep_protocol::{HouseholdField, PROTOCOL_VERSION};
use doorstep_server::metrics::Metrics;
use doorstep_server::{BackgroundServer, ServeOptions};
use serde_json::json;

/// The value of the sample `series` (name and labels, exactly as
/// rendered), or 0 when it is absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

fn scrape(url: &str) -> String {
    let local: IpAddr = "127.0.0.1".parse().expect("address");
    let response = raw_client(local).get(url).send().expect("scraped");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().expect("text")
}

#[test]
fn pushes_pulls_and_requests_move_the_counters() {
    let metrics = Arc::new(Metrics::new());
    let mut world = World::serving(ServeOptions {
        metrics: Arc::clone(&metrics),
        ..ServeOptions::default()
    });
    let listener = BackgroundServer::start_metrics(
        Arc::clone(&metrics),
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .expect("metrics listener");
    let metrics_url = format!("{}/metrics", listener.url());
    let before = scrape(&metrics_url);
    assert_eq!(sample(&before, "doorstep_visits_applied_total"), 0.0);

    // Two cadres' devices of village A: a visit, and the same field edited
    // on both (a conflict).
    let (one, two) = (world.cadre(VILLAGE_A), world.cadre(VILLAGE_A));
    let a = world.device(one);
    let b = world.device(two);
    sync(&a).expect("sync");
    sync(&b).expect("sync");
    let household = world.village_a[0];
    record(&a, household);
    for (device, phone) in [(&a, "13900000001"), (&b, "13900000002")] {
        device
            .edit_household(household, &[(HouseholdField::Phone, json!(phone))])
            .expect("edit");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    sync(&b).expect("sync");
    sync(&a).expect("sync");
    assert_eq!(world.store.conflicts(None).expect("conflicts").len(), 1);

    // A cadre of village B pushes a visit for village A: refused.
    let outsider = world.raw_enrollment(world.cadre(VILLAGE_B));
    let visit = doorstep_e2e::visit_record(&outsider, household, answers(2));
    let local: IpAddr = "127.0.0.1".parse().expect("address");
    let refused = raw_client(local)
        .post(format!("{}/v1/sync/push", world.url()))
        .bearer_auth(&outsider.token)
        .body(
            json!({"protocol": PROTOCOL_VERSION, "changes": [{"seq": 1, "kind": "visit", "data": visit}]})
                .to_string(),
        )
        .send()
        .expect("answered");
    assert_eq!(refused.status(), reqwest::StatusCode::OK);
    // An admin-API path with an id in it, refused.
    let device = outsider.device_id;
    let revoke = raw_client(local)
        .post(format!("{}/admin/v1/devices/{device}/revoke", world.url()))
        .send()
        .expect("answered");
    assert_eq!(revoke.status(), reqwest::StatusCode::UNAUTHORIZED);

    let text = scrape(&metrics_url);
    assert_eq!(
        sample(&text, "doorstep_visits_applied_total"),
        1.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"doorstep_changes_rejected_total{code="out_of_scope"}"#
        ),
        1.0,
        "{text}"
    );
    assert_eq!(sample(&text, "doorstep_conflicts_total"), 1.0, "{text}");
    let pushes = sample(
        &text,
        r#"doorstep_http_requests_total{method="POST",route="/v1/sync/push",status="200"}"#,
    );
    assert!(pushes >= 3.0, "{text}");
    assert_eq!(
        sample(&text, "doorstep_sync_push_seconds_count"),
        pushes,
        "every push timed"
    );
    assert!(
        sample(&text, "doorstep_sync_pull_seconds_count") >= 4.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"doorstep_http_requests_total{method="POST",route="/admin/v1/devices/{id}/revoke",status="401"}"#
        ),
        1.0,
        "{text}"
    );
    // Templates only: no id, no household, no name in any label.
    for id in [device.to_string(), household.to_string()] {
        assert!(!text.contains(&id), "{id} in the metrics");
    }
    assert!(!text.contains("测试干部"));

    // The metrics listener serves nothing else, and the application does
    // not serve the metrics.
    let elsewhere = raw_client(local)
        .get(format!("{}/v1/health", listener.url()))
        .send()
        .expect("answered");
    assert_eq!(elsewhere.status(), reqwest::StatusCode::NOT_FOUND);
    let on_the_app = raw_client(local)
        .get(format!("{}/metrics", world.url()))
        .send()
        .expect("answered");
    assert_eq!(on_the_app.status(), reqwest::StatusCode::NOT_FOUND);
    world.stop_server();
}
