//! The web console under `/console` (ADR 0010): server-rendered pages for
//! admins and supervisors, signed in with a password; sessions in a
//! `Secure`, `HttpOnly`, `SameSite=Strict` cookie; a CSRF token in every
//! form; sign-in attempts throttled per client address. A device's token
//! opens nothing here, and a console session opens nothing under `/v1`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Form, FromRequestParts, State};
use axum::http::header::{CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use maud::Markup;
use serde::Deserialize;

use crate::app::{AppState, ClientAddr};
use crate::store::{ConsoleSession, StoreError, users::SESSION_HOURS};
use crate::throttle::client_key;

mod pages;
pub mod qr;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "doorstep_console";

/// The console's routes, to merge into the application.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/", get(home))
        .route("/console", get(|| async { redirect("/console/") }))
        .route(
            "/console/password",
            get(password_page).post(change_password),
        )
}

/// A page, never cached, never framed.
fn html(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'"),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

fn redirect(to: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response()
}

/// The session cookie's token, if the request carries one.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, token)| token.to_owned())
        .filter(|token| token.len() == 64 && token.bytes().all(|byte| byte.is_ascii_hexdigit()))
}

/// A signed-in request: its session and its cookie's token. Without one,
/// the request is sent to the sign-in page.
struct Signed(ConsoleSession, String);

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(token) = cookie_token(&parts.headers) else {
            return Err(redirect("/console/login"));
        };
        let store = Arc::clone(&state.store);
        let lookup = token.clone();
        let session =
            tokio::task::spawn_blocking(move || store.console_session(&lookup, Utc::now()))
                .await
                .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())?
                .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())?;
        match session {
            Some(session) => Ok(Signed(session, token)),
            None => Err(redirect("/console/login")),
        }
    }
}

/// Whether a form's CSRF token is the session's (compared in constant time).
fn csrf_ok(session: &ConsoleSession, given: &str) -> bool {
    let expected = session.csrf_token.as_bytes();
    let given = given.as_bytes();
    expected.len() == given.len()
        && expected
            .iter()
            .zip(given)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        "the form has expired: reload the page and try again",
    )
        .into_response()
}

async fn login_page() -> Response {
    html(StatusCode::OK, pages::login(None))
}

#[derive(Deserialize)]
struct Login {
    name: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Form(form): Form<Login>,
) -> Response {
    // As for enrolment codes: every attempt takes a token, a success gives
    // it back, so only failures count against an address.
    let key = client.map_or(IpAddr::from([0, 0, 0, 0]), client_key);
    if let Err(retry_after) = state.throttle.login.take(&key, Instant::now()) {
        let mut response = html(
            StatusCode::TOO_MANY_REQUESTS,
            pages::login(Some(
                "尝试次数过多，请稍后再试。 Too many attempts: wait a little.",
            )),
        );
        if let Ok(value) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
            response.headers_mut().insert("retry-after", value);
        }
        return response;
    }
    let store = Arc::clone(&state.store);
    let outcome =
        tokio::task::spawn_blocking(move || store.login(&form.name, &form.password, Utc::now()))
            .await;
    match outcome {
        Ok(Ok((token, session))) => {
            state.throttle.login.give_back(&key);
            tracing::info!(user = %session.user.id, "console sign-in");
            let cookie = format!(
                "{COOKIE_NAME}={token}; Path=/console; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
                SESSION_HOURS * 3600
            );
            let to = if session.user.must_change {
                "/console/password"
            } else {
                "/console/"
            };
            let mut response = redirect(to);
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(SET_COOKIE, value);
            }
            response
        }
        Ok(Err(StoreError::Unauthorized)) => html(
            StatusCode::UNAUTHORIZED,
            pages::login(Some("用户名或密码不正确。 Wrong name or password.")),
        ),
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn home(Signed(session, _): Signed) -> Response {
    if session.user.must_change {
        return redirect("/console/password");
    }
    html(StatusCode::OK, pages::home(&session))
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    Signed(session, token): Signed,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if !csrf_ok(&session, &form.csrf) {
        return forbidden();
    }
    let store = Arc::clone(&state.store);
    let _ = tokio::task::spawn_blocking(move || store.logout(&token)).await;
    let mut response = redirect("/console/login");
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static(
            "doorstep_console=; Path=/console; HttpOnly; Secure; SameSite=Strict; Max-Age=0",
        ),
    );
    response
}

async fn password_page(Signed(session, _): Signed) -> Response {
    html(StatusCode::OK, pages::password(&session, None))
}

#[derive(Deserialize)]
struct NewPassword {
    csrf: String,
    current: String,
    new: String,
}

async fn change_password(
    State(state): State<AppState>,
    Signed(session, token): Signed,
    Form(form): Form<NewPassword>,
) -> Response {
    if !csrf_ok(&session, &form.csrf) {
        return forbidden();
    }
    let store = Arc::clone(&state.store);
    let user = session.user.id;
    let outcome = tokio::task::spawn_blocking(move || {
        store.change_password(user, &form.current, &form.new, &token)
    })
    .await;
    match outcome {
        Ok(Ok(())) => redirect("/console/"),
        Ok(Err(StoreError::Unauthorized)) => html(
            StatusCode::UNAUTHORIZED,
            pages::password(
                &session,
                Some("当前密码不正确。 The current password is wrong."),
            ),
        ),
        Ok(Err(StoreError::Invalid(reason))) => html(
            StatusCode::BAD_REQUEST,
            pages::password(&session, Some(&reason)),
        ),
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
