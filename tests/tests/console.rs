//! The console's sign-in against the real server on port 0: a one-time
//! password that must be changed, a session cookie that is `HttpOnly`,
//! `Secure` and `SameSite=Strict`, CSRF tokens on every form, throttled
//! guessing, and two doors that do not open each other: a device's token
//! is no console session, a console session is no device.

use chrono::Utc;
use doorstep_e2e::console::{client, csrf, get, location, post_form, session_cookie};
use doorstep_e2e::{VILLAGE_A, World};
use doorstep_server::store::{NewUser, Role};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};

#[test]
fn a_supervisor_signs_in_sets_a_password_and_signs_out() {
    let world = World::new();
    let url = world.url();
    let township = &VILLAGE_A[..9];
    let new = NewUser {
        name: "li.juan".into(),
        role: Role::Supervisor,
        area_code: Some(township.into()),
    };
    let (_, password) = world.store.add_user(&new, Utc::now()).expect("a user");

    let page = get(&format!("{url}/console/"), None);
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&page), "/console/login");

    let wrong = post_form(
        &format!("{url}/console/login"),
        None,
        "name=li.juan&password=not-it",
    );
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(session_cookie(&wrong).is_none());

    let signed = post_form(
        &format!("{url}/console/login"),
        None,
        &format!("name=li.juan&password={password}"),
    );
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&signed),
        "/console/password",
        "the one-time password must be changed"
    );
    let set = signed.headers()[SET_COOKIE]
        .to_str()
        .expect("text")
        .to_owned();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/console"] {
        assert!(set.contains(attribute), "{attribute} in {set}");
    }
    let cookie = session_cookie(&signed).expect("a session cookie");

    // Until the password is changed, the console shows nothing else.
    let home = get(&format!("{url}/console/"), Some(&cookie));
    assert_eq!(location(&home), "/console/password");
    let form = get(&format!("{url}/console/password"), Some(&cookie));
    assert_eq!(form.headers()["cache-control"], "no-store");
    let token = csrf(&form.text().expect("a page"));
    let forged = post_form(
        &format!("{url}/console/password"),
        Some(&cookie),
        &format!(
            "csrf={}&current={password}&new=a-long-new-password",
            "0".repeat(64)
        ),
    );
    assert_eq!(
        forged.status(),
        StatusCode::FORBIDDEN,
        "a form without the session's CSRF token"
    );
    let changed = post_form(
        &format!("{url}/console/password"),
        Some(&cookie),
        &format!("csrf={token}&current={password}&new=a-long-new-password"),
    );
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&changed), "/console/");
    let home = get(&format!("{url}/console/"), Some(&cookie));
    assert_eq!(location(&home), "/console/progress");
    let progress = get(&format!("{url}/console/progress"), Some(&cookie));
    assert_eq!(progress.status(), StatusCode::OK);
    let text = progress.text().expect("a page");
    assert!(
        text.contains("li.juan") && text.contains("南岸镇"),
        "the first page names the account and starts at its township"
    );

    let out = post_form(
        &format!("{url}/console/logout"),
        Some(&cookie),
        &format!("csrf={token}"),
    );
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&get(&format!("{url}/console/"), Some(&cookie))),
        "/console/login"
    );
}

#[test]
fn devices_and_console_sessions_do_not_open_each_others_doors() {
    let mut world = World::new();
    let url = world.url();
    let cadre = world.cadre(VILLAGE_A);
    let device = world.raw_enrollment(cadre);
    let with_token = client()
        .get(format!("{url}/console/"))
        .bearer_auth(&device.token)
        .send()
        .expect("a response");
    assert_eq!(
        with_token.status(),
        StatusCode::SEE_OTHER,
        "a device token is no session"
    );
    let cookie_from_token = get(
        &format!("{url}/console/"),
        Some(&format!("doorstep_console={}", device.token)),
    );
    assert_eq!(
        cookie_from_token.status(),
        StatusCode::SEE_OTHER,
        "nor is it a session cookie"
    );

    let admin = NewUser {
        name: "operator".into(),
        role: Role::Admin,
        area_code: None,
    };
    let (_, password) = world.store.add_user(&admin, Utc::now()).expect("an admin");
    let signed = post_form(
        &format!("{url}/console/login"),
        None,
        &format!("name=operator&password={password}"),
    );
    let cookie = session_cookie(&signed).expect("a session");
    let token = cookie
        .split_once('=')
        .map(|(_, token)| token.to_owned())
        .expect("a token");
    let pull = client()
        .get(format!("{url}/v1/sync/pull"))
        .bearer_auth(&token)
        .header(COOKIE, &cookie)
        .send()
        .expect("a response");
    assert_eq!(
        pull.status(),
        StatusCode::UNAUTHORIZED,
        "a console session is no device"
    );
    let _ = world.device(cadre);
}

#[test]
fn guessing_passwords_is_throttled_per_address() {
    let world = World::new();
    let url = world.url();
    let admin = NewUser {
        name: "operator".into(),
        role: Role::Admin,
        area_code: None,
    };
    let (_, password) = world.store.add_user(&admin, Utc::now()).expect("an admin");
    let statuses: Vec<StatusCode> = (0..12)
        .map(|guess| {
            post_form(
                &format!("{url}/console/login"),
                None,
                &format!("name=operator&password=guess-{guess}"),
            )
            .status()
        })
        .collect();
    assert!(
        statuses[..10]
            .iter()
            .all(|status| *status == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    let throttled = post_form(
        &format!("{url}/console/login"),
        None,
        &format!("name=operator&password={password}"),
    );
    assert_eq!(
        throttled.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert!(throttled.headers().contains_key("retry-after"));
}

#[test]
fn guessing_one_account_from_many_addresses_is_throttled_too() {
    let world = World::new();
    let url = world.url();
    let admin = NewUser {
        name: "operator".into(),
        role: Role::Admin,
        area_code: None,
    };
    world.store.add_user(&admin, Utc::now()).expect("an admin");
    let guess = |address: [u8; 4], guess: usize| {
        doorstep_e2e::raw_client(address.into())
            .post(format!("{url}/console/login"))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(format!("name=Operator+&password=guess-{guess}"))
            .send()
            .expect("a response")
            .status()
    };
    // Eight guesses from each of three addresses: none is throttled by
    // its address, but the account allows 20.
    let statuses: Vec<StatusCode> = (0..24)
        .map(|index| guess([127, 0, 0, 2 + (index % 3) as u8], index))
        .collect();
    assert!(
        statuses[..20]
            .iter()
            .all(|status| *status == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(statuses[20..], [StatusCode::TOO_MANY_REQUESTS; 4]);
    let audit = world
        .store
        .audit(100, Some(doorstep_server::store::AuditKind::SignInRefused))
        .expect("the audit log");
    assert_eq!(audit.len(), 20, "every refused sign-in is audited");
}
