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
