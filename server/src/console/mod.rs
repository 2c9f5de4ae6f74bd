//! The web console under `/console` (ADR 0010): server-rendered pages for
//! admins and supervisors, signed in with a password; sessions in a
//! `Secure`, `HttpOnly`, `SameSite=Strict` cookie; a CSRF token in every
//! form; sign-in attempts throttled per client address. A device's token
//! opens nothing here, and a console session opens nothing under `/v1`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Form, FromRequestParts, State};
use axum::http::header::{CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::Markup;
use serde::Deserialize;

use crate::app::{AppState, ClientAddr};
use crate::routes::Routes;
use crate::store::{
    AuditEvent, AuditKind, ConsoleSession, Scope, StoreError, users::SESSION_HOURS,
};
use crate::throttle::client_key;

mod chart;
mod export;
mod files;
mod forms;
mod households;
pub mod i18n;
mod layout;
mod lists;
mod pages;
mod people;
mod progress;
pub mod qr;
mod review;

use i18n::{LANG_COOKIE, Lang};
use layout::Shell;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "doorstep_console";

/// The console's routes, to merge into the application. Each one is a
/// line of [`crate::route_table`], which the authorisation matrix
/// test checks against its own table.
pub fn routes() -> Routes {
    Routes::new()
        .get("/console/login", login_page)
        .post("/console/login", login)
        .post("/console/logout", logout)
        .get("/console/", home)
        .get("/console", || async { redirect("/console/") })
        .get("/console/password", password_page)
        .post("/console/password", change_password)
        .get("/console/lang", switch_language)
        .get("/console/progress", progress::page)
        .get("/console/households", households::list)
        .get("/console/households/{id}", households::one)
        .get("/console/files/{sha256}", files::one)
        .get("/console/risk", lists::risk)
        .get("/console/coming-home", lists::coming_home)
        .get("/console/review", review::conflicts)
        .post("/console/review/conflicts/{id}", review::decide)
        .get("/console/review/rejected", review::rejected)
        .get("/console/cadres", people::cadres)
        .get("/console/cadres/{id}", people::cadre)
        .post("/console/cadres/{id}/assign", people::assign)
        .post("/console/cadres/{id}/unassign", people::unassign)
        .post("/console/cadres/{id}/enrol-code", people::enrol_code)
        .get("/console/devices", people::devices)
        .post("/console/devices/{id}/revoke", people::revoke)
        .get("/console/forms", forms::page)
        .post("/console/forms", forms::upload)
        .get("/console/export", export::page)
        .get("/console/export/visits", export::visits)
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

fn redirect(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(to) => (StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
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

/// A signed-in page request: the session (its password already set),
/// the reader's language, this page's address and the account's scope.
pub(crate) struct Ctx {
    pub session: ConsoleSession,
    pub lang: Lang,
    pub here: String,
    pub scope: Scope,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Signed(session, _) = Signed::from_request_parts(parts, state).await?;
        if session.user.must_change {
            return Err(redirect("/console/password"));
        }
        let here = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/console/".to_owned(), ToString::to_string);
        Ok(Ctx {
            scope: Scope::of(&session.user),
            lang: Lang::of(&parts.headers),
            here,
            session,
        })
    }
}

impl Ctx {
    pub fn shell(&self) -> Shell<'_> {
        Shell {
            session: &self.session,
            lang: self.lang,
            here: &self.here,
        }
    }

    /// A page, never cached.
    pub fn html(&self, markup: Markup) -> Response {
        html(StatusCode::OK, markup)
    }

    /// The page for a store error: not found (also for what lies outside
    /// the scope), bad request, or a server error (logged, not shown).
    pub fn fail(&self, error: StoreError) -> Response {
        let lang = self.lang;
        match error {
            StoreError::NotFound(what) => html(
                StatusCode::NOT_FOUND,
                layout::message(&self.shell(), lang.t("未找到", "Not found"), &what),
            ),
            StoreError::Invalid(what) | StoreError::Conflict(what) => html(
                StatusCode::BAD_REQUEST,
                layout::message(&self.shell(), lang.t("无法处理", "Cannot do that"), &what),
            ),
            other => {
                tracing::error!(error = %other, "console page failed");
                html(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    layout::message(
                        &self.shell(),
                        lang.t("出错了", "Something went wrong"),
                        lang.t(
                            "服务器出错，请稍后再试。",
                            "The server failed; try again later.",
                        ),
                    ),
                )
            }
        }
    }

    /// A bad query parameter.
    pub fn bad_request(&self, what: &str) -> Response {
        self.fail(StoreError::Invalid(what.to_owned()))
    }
}

/// Runs blocking store work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| StoreError::Invalid(format!("worker failed: {error}")))?
}

#[derive(Deserialize)]
struct LangSwitch {
    to: String,
    back: Option<String>,
}

/// Sets the language cookie and goes back to the page (only ever a
/// console page: never an open redirect).
async fn switch_language(
    axum::extract::Query(switch): axum::extract::Query<LangSwitch>,
) -> Response {
    let lang = Lang::parse(&switch.to).unwrap_or_default();
    let back = switch
        .back
        .filter(|back| {
            back.starts_with("/console/") && !back.contains("//") && !back.contains('\\')
        })
        .unwrap_or_else(|| "/console/".to_owned());
    let mut response = redirect(&back);
    let value = match lang {
        Lang::Zh => "zh",
        Lang::En => "en",
    };
    let cookie = format!("{LANG_COOKIE}={value}; Path=/console; SameSite=Lax; Max-Age=31536000");
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    response
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

async fn login_page(headers: HeaderMap) -> Response {
    html(StatusCode::OK, pages::login(Lang::of(&headers), None))
}

#[derive(Deserialize)]
struct Login {
    name: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<Login>,
) -> Response {
    let lang = Lang::of(&headers);
    // As for enrolment codes: every attempt takes a token, a success gives
    // it back, so only failures count against an address. An account has
    // a bucket of its own too, so guesses spread over many addresses stay
    // slow.
    let key = client.map_or(IpAddr::from([0, 0, 0, 0]), client_key);
    let account: String = form.name.trim().to_lowercase().chars().take(64).collect();
    let now = Instant::now();
    let allowed = state.throttle.login.take(&key, now).and_then(|()| {
        state
            .throttle
            .login_account
            .take(&account, now)
            .inspect_err(|_| state.throttle.login.give_back(&key))
    });
    if let Err(retry_after) = allowed {
        let mut response = html(
            StatusCode::TOO_MANY_REQUESTS,
            pages::login(
                lang,
                Some(lang.t(
                    "尝试次数过多，请稍后再试。",
                    "Too many attempts: wait a little.",
                )),
            ),
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
            state.throttle.login_account.give_back(&account);
            tracing::info!(user = %session.user.id, "console sign-in");
            note(
                &state,
                AuditEvent::new(AuditKind::SignedIn)
                    .user(session.user.id)
                    .client(client),
            )
            .await;
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
        Ok(Err(StoreError::Unauthorized)) => {
            note(
                &state,
                AuditEvent::new(AuditKind::SignInRefused).client(client),
            )
            .await;
            html(
                StatusCode::UNAUTHORIZED,
                pages::login(
                    lang,
                    Some(lang.t("用户名或密码不正确。", "Wrong name or password.")),
                ),
            )
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Records a console event in the audit log (a failure to is logged, and
/// does not fail the request).
pub(crate) async fn note(state: &AppState, event: AuditEvent) {
    let store = Arc::clone(&state.store);
    let outcome = tokio::task::spawn_blocking(move || store.note(Utc::now(), &event)).await;
    if !matches!(outcome, Ok(Ok(()))) {
        tracing::warn!("could not record a console event in the audit log");
    }
}

async fn home(Signed(session, _): Signed) -> Response {
    if session.user.must_change {
        return redirect("/console/password");
    }
    redirect("/console/progress")
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

async fn password_page(Signed(session, _): Signed, headers: HeaderMap) -> Response {
    html(
        StatusCode::OK,
        pages::password(&session, Lang::of(&headers), None),
    )
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
    headers: HeaderMap,
    Form(form): Form<NewPassword>,
) -> Response {
    let lang = Lang::of(&headers);
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
        Ok(Ok(())) => {
            note(
                &state,
                AuditEvent::new(AuditKind::PasswordChanged).user(user),
            )
            .await;
            redirect("/console/")
        }
        Ok(Err(StoreError::Unauthorized)) => html(
            StatusCode::UNAUTHORIZED,
            pages::password(
                &session,
                lang,
                Some(lang.t("当前密码不正确。", "The current password is wrong.")),
            ),
        ),
        Ok(Err(StoreError::Invalid(reason))) => html(
            StatusCode::BAD_REQUEST,
            pages::password(&session, lang, Some(&reason)),
        ),
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
