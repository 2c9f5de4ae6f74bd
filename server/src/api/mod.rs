//! The admin HTTP API under `/admin/v1`: what the console does, for
//! scripts. JSON in and out; errors are `{"error": CODE, "message": …}`.
//! Described in `server/openapi.json`, served at
//! `/admin/v1/openapi.json` (a test keeps the two in step).
//!
//! **Who may call.** Only `Authorization: Bearer dsa_…`, a token issued by
//! `doorstep admin add-token` for a console account; it acts as that
//! account. A device's token or a console cookie opens nothing here.
//! Every request without a valid token takes one from its address's
//! bucket (`Throttle::api`), as enrolment attempts do; a valid one gives
//! it back, so only failures count.
//!
//! **What it sees.** Every query goes through the account's
//! [`Scope`]: a supervisor reaches the cadres, villages and devices of
//! its area, and anything else is "not found", exactly like something
//! that does not exist. Routes that change the whole server (adding a
//! cadre, publishing a form, reading the audit log) are for admins only
//! and answer 403 to a supervisor.

mod error;
mod forms;
mod people;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Serialize;

use crate::app::{AppState, ClientAddr, blocking, report_throttled, should_report};
use crate::error::AppError;
use crate::routes::Routes;
use crate::store::{API_TOKEN_PREFIX, AuditEvent, AuditKind, Role, Scope, User};
use crate::throttle::client_key;

pub use error::ApiError;

/// The OpenAPI 3.1 description of this API.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// The admin API's routes, each a line of [`crate::route_table`].
pub fn routes() -> Routes {
    Routes::new()
        .get("/admin/v1/openapi.json", openapi)
        .get("/admin/v1/me", me)
        .get("/admin/v1/cadres", people::cadres)
        .post("/admin/v1/cadres", people::add_cadre)
        .get("/admin/v1/cadres/{id}", people::cadre)
        .post("/admin/v1/cadres/{id}/villages/{code}", people::assign)
        .delete("/admin/v1/cadres/{id}/villages/{code}", people::unassign)
        .post("/admin/v1/cadres/{id}/enrol-codes", people::enrol_code)
        .get("/admin/v1/devices", people::devices)
        .post("/admin/v1/devices/{id}/revoke", people::revoke)
        .get("/admin/v1/forms", forms::list)
        .post("/admin/v1/forms", forms::publish)
        .get("/admin/v1/audit", forms::audit)
        .get("/admin/v1/exports/visits", export_visits)
}

/// Visits of the token's scope as a download (`crate::export::http`),
/// audited with the account and the question.
async fn export_visits(
    axum::extract::State(state): axum::extract::State<AppState>,
    ClientAddr(client): ClientAddr,
    user: ApiUser,
    uri: axum::http::Uri,
) -> Response {
    let query = match crate::export::ExportQuery::from_uri(&uri) {
        Ok(query) => query,
        Err(error) => return ApiError::from(error).into_response(),
    };
    crate::console::note(
        &state,
        AuditEvent::new(AuditKind::VisitsExported)
            .user(user.0.id)
            .client(client)
            .detail(query.summary()),
    )
    .await;
    crate::export::http::visits_response(
        Arc::clone(&state.store),
        state.files.clone(),
        user.scope(),
        query,
    )
    .await
}

async fn openapi() -> Response {
    ([(CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// The account behind an API token.
#[derive(Debug, Clone)]
pub struct ApiUser(pub User);

impl ApiUser {
    pub fn scope(&self) -> Scope {
        Scope::of(&self.0)
    }

    /// The account, if it is an admin; 403 for a supervisor.
    pub fn admin(&self) -> Result<&User, ApiError> {
        match self.0.role {
            Role::Admin => Ok(&self.0),
            Role::Supervisor => Err(ApiError::Forbidden),
        }
    }
}

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Ok(ClientAddr(client)) = ClientAddr::from_request_parts(parts, state).await;
        let key = client.map_or(IpAddr::from([0, 0, 0, 0]), client_key);
        if let Err(retry_after) = state.throttle.api.take(&key, Instant::now()) {
            report_throttled(state, client, "refused admin-API requests").await;
            return Err(AppError::Throttled { retry_after }.into());
        }
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_owned())
            .filter(|token| token.starts_with(API_TOKEN_PREFIX) && token.len() <= 128);
        let Some(token) = token else {
            return Err(ApiError::Unauthenticated(
                "this API takes an admin-API token: Authorization: Bearer dsa_… (doorstep admin add-token)",
            ));
        };
        let store = Arc::clone(&state.store);
        let user = blocking(move || store.api_token_auth(&token, Utc::now())).await?;
        match user {
            Some(user) => {
                state.throttle.api.give_back(&key);
                Ok(ApiUser(user))
            }
            None => {
                if should_report(state, client) {
                    tracing::warn!(client = ?client, "admin-API token refused (further refusals from this address are not logged for a minute)");
                    let store = Arc::clone(&state.store);
                    let event = AuditEvent::new(AuditKind::SignInRefused)
                        .client(client)
                        .detail("unknown or revoked admin-API token");
                    let _ = blocking(move || store.note(Utc::now(), &event)).await;
                }
                Err(ApiError::Unauthenticated(
                    "unknown or revoked admin-API token",
                ))
            }
        }
    }
}

/// Who the token acts as.
#[derive(Debug, Serialize)]
struct Me {
    id: uuid::Uuid,
    name: String,
    role: &'static str,
    /// A supervisor's county or township; none for an admin.
    area: Option<String>,
}

async fn me(ApiUser(user): ApiUser) -> Json<Me> {
    Json(Me {
        id: user.id,
        name: user.name,
        role: user.role.as_str(),
        area: user.area_code,
    })
}
