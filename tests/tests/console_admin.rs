//! The console's admin pages against the real server on port 0: forms
//! published by upload (an XLSForm that does not import shows every
//! problem in the page), cadres paired and unpaired, enrolment codes as a
//! QR code, devices revoked (and the phone refused after).

use doorstep_e2e::World;
use doorstep_e2e::console::{csrf, get, location, page, signed_in};
use doorstep_server::store::Role;
use reqwest::StatusCode;
use reqwest::blocking::Response;

const TOWNSHIP_A: &str = "530626104";

/// Posts a file to the forms page as a browser's upload does.
fn upload(url: &str, cookie: &str, token: &str, name: &str, bytes: Vec<u8>) -> Response {
    let boundary = "doorstep-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend(bytes);
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    doorstep_e2e::console::client()
        .post(format!("{url}/console/forms"))
        .header("cookie", cookie)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .expect("a response")
}

#[test]
fn an_admin_publishes_a_form_by_upload_and_sees_every_problem_of_one_that_does_not_import() {
    let world = World::new();
    let url = world.url();
    let admin = signed_in(&world, "operator", Role::Admin, None);
    let forms = page(&format!("{url}/console/forms"), &admin, StatusCode::OK);
    assert_eq!(forms.matches("class=\"form\"").count(), 1, "the demo form");
    let token = csrf(&forms);

    let broken = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../forms/tests/corpus/ipa_random_module_order/random_module_order.xlsx"
    ))
    .expect("a refused corpus form");
    let refused = upload(&url, &admin, &token, "random_module_order.xlsx", broken);
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = refused.text().expect("a page");
    assert!(
        text.contains("id=\"problems\"") && text.contains("duration"),
        "the problems are shown"
    );
    assert!(text.contains("class=\"problem\""));

    let mut definition: serde_json::Value =
        serde_json::from_str(doorstep_e2e::DEMO_FORM).expect("the demo form");
    definition["version"] = "2099010101".into();
    let published = upload(
        &url,
        &admin,
        &token,
        "household-check.json",
        definition.to_string().into_bytes(),
    );
    assert_eq!(published.status(), StatusCode::SEE_OTHER);
    assert!(location(&published).starts_with("/console/forms?published="));
    let again = upload(
        &url,
        &admin,
        &token,
        "household-check.json",
        definition.to_string().into_bytes(),
    );
    assert!(
        location(&again).starts_with("/console/forms?same="),
        "the same version again changes nothing"
    );
    let forms = page(&format!("{url}/console/forms"), &admin, StatusCode::OK);
    assert_eq!(forms.matches("class=\"form\"").count(), 2);

    let supervisor = signed_in(&world, "li.juan", Role::Supervisor, Some(TOWNSHIP_A));
    let refused = get(&format!("{url}/console/forms"), Some(&supervisor));
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "admins only");
    let supervisors_token = csrf(&page(
        &format!("{url}/console/progress"),
        &supervisor,
        StatusCode::OK,
    ));
    let mut other = definition.clone();
    other["version"] = "2099010102".into();
    let tried = upload(
        &url,
        &supervisor,
        &supervisors_token,
        "f.json",
        other.to_string().into_bytes(),
    );
    assert_eq!(tried.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        page(&format!("{url}/console/forms"), &admin, StatusCode::OK)
            .matches("class=\"form\"")
            .count(),
        2,
        "the supervisor published nothing"
    );
}

#[test]
fn a_supervisor_pairs_cadres_shows_an_enrolment_qr_code_and_revokes_a_lost_phone() {
    let mut world = World::new();
    let url = world.url();
    let cadre = world.cadre(doorstep_e2e::VILLAGE_A);
    let device = world.device(cadre);
    doorstep_e2e::sync(&device).expect("the phone syncs");
    let supervisor = signed_in(&world, "li.juan", Role::Supervisor, Some(TOWNSHIP_A));

    let cadres = page(
        &format!("{url}/console/cadres"),
        &supervisor,
        StatusCode::OK,
    );
    assert!(cadres.contains(&format!("data-cadre-id=\"{cadre}\"")));
    let cadre_page = page(
        &format!("{url}/console/cadres/{cadre}"),
        &supervisor,
        StatusCode::OK,
    );
    let token = csrf(&cadre_page);
    let post = |path: &str, body: &str| {
        doorstep_e2e::console::post_form(&format!("{url}{path}"), Some(&supervisor), body)
    };

    // An enrolment code, as a QR code that scans to the payload.
    let shown = post(
        &format!("/console/cadres/{cadre}/enrol-code"),
        &format!("csrf={token}"),
    );
    assert_eq!(shown.status(), StatusCode::OK);
    assert_eq!(shown.headers()["cache-control"], "no-store");
    let text = shown.text().expect("a page");
    assert!(text.contains("<svg class=\"qr\""), "a QR code");
    let start = text.find("class=\"enrol-code\">").expect("the code") + 19;
    let code = &text[start..start + text[start..].find('<').expect("its end")];
    let phone = doorstep_core::Store::open_with(
        world.directory().join("qr-phone.db"),
        doorstep_core::StoreOptions::default(),
    )
    .expect("a store");
    let endpoint = world.endpoint();
    let transport = doorstep_core::transport::HttpTransport::connect(
        &endpoint,
        doorstep_core::transport::HttpTimeouts::default(),
    )
    .expect("a transport");
    doorstep_core::sync::enroll(&phone, &transport, &endpoint, code, None)
        .expect("the code shown enrols a phone");

    // Unpair and pair again.
    let unpaired = post(
        &format!("/console/cadres/{cadre}/unassign"),
        &format!("csrf={token}&village={}", doorstep_e2e::VILLAGE_A),
    );
    assert_eq!(unpaired.status(), StatusCode::SEE_OTHER);
    assert!(
        !world
            .store
            .assignments()
            .expect("pairings")
            .iter()
            .any(|pairing| pairing.cadre_id == cadre)
    );
    let paired = post(
        &format!("/console/cadres/{cadre}/assign"),
        &format!("csrf={token}&village={}", doorstep_e2e::VILLAGE_A),
    );
    assert_eq!(paired.status(), StatusCode::SEE_OTHER);
    let elsewhere = post(
        &format!("/console/cadres/{cadre}/assign"),
        &format!("csrf={token}&village={}", doorstep_e2e::VILLAGE_B),
    );
    assert_eq!(
        elsewhere.status(),
        StatusCode::NOT_FOUND,
        "a village of another county"
    );

    // The lost phone: revoked from the devices page, refused at its next sync.
    let devices = page(
        &format!("{url}/console/devices"),
        &supervisor,
        StatusCode::OK,
    );
    let id = device
        .identity()
        .expect("reads")
        .expect("enrolled")
        .device_id;
    assert!(devices.contains(&format!("data-device-id=\"{id}\"")));
    let revoked = post(
        &format!("/console/devices/{id}/revoke"),
        &format!("csrf={token}"),
    );
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    let devices = page(
        &format!("{url}/console/devices"),
        &supervisor,
        StatusCode::OK,
    );
    assert!(devices.contains("class=\"revoked\""));
    assert!(
        doorstep_e2e::sync(&device).is_err(),
        "the revoked phone is refused"
    );
    let other = signed_in(&world, "zhou.min", Role::Supervisor, Some("530623206"));
    let theirs = page(&format!("{url}/console/devices"), &other, StatusCode::OK);
    assert!(
        !theirs.contains(&id.to_string()),
        "another county's supervisor sees no such phone"
    );
    assert_eq!(
        get(&format!("{url}/console/cadres/{cadre}"), Some(&other)).status(),
        StatusCode::NOT_FOUND
    );
}
