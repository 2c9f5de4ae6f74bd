//! Speaking to the console as a browser does: a client that shows
//! redirects instead of following them, form posts, the session cookie and
//! the CSRF token of a page, and signing in an account of a [`World`].

use chrono::Utc;
use doorstep_server::ServerStore;
use doorstep_server::store::{NewUser, Role};
use reqwest::blocking::{Client, Response};
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};

use crate::World;

/// A plain HTTP client that shows redirects instead of following them.
pub fn client() -> Client {
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// Posts a URL-encoded form, with a cookie if given.
pub fn post_form(url: &str, cookie: Option<&str>, body: &str) -> Response {
    let mut request = client()
        .post(url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    request.send().expect("a response")
}

/// Gets a URL, with a cookie if given.
pub fn get(url: &str, cookie: Option<&str>) -> Response {
    let mut request = client().get(url);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    request.send().expect("a response")
}

/// The `name=token` part of a response's session cookie.
pub fn session_cookie(response: &Response) -> Option<String> {
    let header = response
        .headers()
        .get(SET_COOKIE)?
        .to_str()
        .ok()?
        .to_owned();
    Some(header.split(';').next()?.to_owned())
}

/// The CSRF token in a page's forms.
pub fn csrf(page: &str) -> String {
    let start = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    page[start..start + 64].to_owned()
}

/// Where a redirect goes.
pub fn location(response: &Response) -> &str {
    response
        .headers()
        .get(LOCATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

/// Creates an account, signs it in and sets its password: returns the
/// session cookie (`name=token`) of an account ready to use the console.
pub fn signed_in(world: &World, name: &str, role: Role, area: Option<&str>) -> String {
    signed_in_to(&world.url(), &world.store, name, role, area)
}

/// [`signed_in`] for a server at `url` on `store`.
pub fn signed_in_to(
    url: &str,
    store: &ServerStore,
    name: &str,
    role: Role,
    area: Option<&str>,
) -> String {
    let user = NewUser {
        name: name.into(),
        role,
        area_code: area.map(Into::into),
    };
    let (_, password) = store.add_user(&user, Utc::now()).expect("a user");
    let signed = post_form(
        &format!("{url}/console/login"),
        None,
        &format!("name={name}&password={password}"),
    );
    let cookie = session_cookie(&signed).expect("a session cookie");
    let form = get(&format!("{url}/console/password"), Some(&cookie));
    let token = csrf(&form.text().expect("a page"));
    let changed = post_form(
        &format!("{url}/console/password"),
        Some(&cookie),
        &format!("csrf={token}&current={password}&new=a-long-new-password"),
    );
    assert_eq!(location(&changed), "/console/", "the password is set");
    cookie
}

/// A page's text, after checking its status.
pub fn page(url: &str, cookie: &str, status: reqwest::StatusCode) -> String {
    let response = get(url, Some(cookie));
    assert_eq!(response.status(), status, "GET {url}");
    response.text().expect("a page")
}
