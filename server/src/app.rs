//! The HTTP API under `/v1`: routes, the device-token extractor, and
//! handlers that hand the blocking store work to tokio's blocking pool.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use doorstep_protocol::{
    EnrollRequest, Health, PROTOCOL_VERSION, PullQuery, PushRequest, PushResponse, SnapshotRequest,
    routes,
};

use crate::error::AppError;
use crate::store::{DeviceAuth, ServerStore, StoreError};
use crate::wire::{AcceptZstd, MAX_BODY_BYTES, WireJson, WireResponse};

/// What every handler shares. Holds no state of its own beyond the store,
/// so several servers can stand behind one database.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<ServerStore>,
}

/// The application, ready to serve.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(routes::HEALTH, get(health))
        .route(routes::ENROLL, post(enroll))
        .route(routes::PUSH, post(push))
        .route(routes::PULL, get(pull))
        .route(routes::SNAPSHOT, post(snapshot))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Runs blocking store work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| AppError::Internal(format!("worker failed: {error}")))?
        .map_err(AppError::from)
}

fn check_protocol(found: u32) -> Result<(), AppError> {
    if found == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(AppError::Protocol {
            found,
            supported: PROTOCOL_VERSION,
        })
    }
}

async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        protocol: PROTOCOL_VERSION,
        server_version: env!("CARGO_PKG_VERSION").into(),
        server_time: Utc::now(),
    })
}

#[tracing::instrument(skip_all)]
async fn enroll(
    State(state): State<AppState>,
    accept: AcceptZstd,
    WireJson(request): WireJson<EnrollRequest>,
) -> Result<WireResponse, AppError> {
    check_protocol(request.protocol)?;
    let response = blocking(move || {
        state.store.enroll(
            &request.code,
            request.device_label.as_deref(),
            request.attempt,
            Utc::now(),
        )
    })
    .await?;
    tracing::info!(device = %response.device_id, cadre = %response.cadre_id, "device enrolled");
    WireResponse::new(accept, &response)
}

#[tracing::instrument(skip_all, fields(device = %auth.device_id, changes = request.changes.len()))]
async fn push(
    State(state): State<AppState>,
    Device(auth): Device,
    accept: AcceptZstd,
    WireJson(request): WireJson<PushRequest>,
) -> Result<WireResponse, AppError> {
    check_protocol(request.protocol)?;
    let now = Utc::now();
    let (results, position) =
        blocking(move || state.store.push(auth, &request.changes, now)).await?;
    tracing::info!(position, "push applied");
    WireResponse::new(
        accept,
        &PushResponse {
            protocol: PROTOCOL_VERSION,
            results,
            position,
            server_time: now,
        },
    )
}

#[tracing::instrument(skip_all, fields(device = %auth.device_id))]
async fn pull(
    State(state): State<AppState>,
    Device(auth): Device,
    accept: AcceptZstd,
    query: Result<Query<PullQuery>, QueryRejection>,
) -> Result<WireResponse, AppError> {
    let Query(query) = query.map_err(|rejection| {
        AppError::BadRequest(format!("bad pull query: {}", rejection.body_text()))
    })?;
    let response = blocking(move || state.store.pull(auth, &query, Utc::now())).await?;
    WireResponse::new(accept, &response)
}

#[tracing::instrument(skip_all, fields(device = %auth.device_id, households = request.households.len()))]
async fn snapshot(
    State(state): State<AppState>,
    Device(auth): Device,
    accept: AcceptZstd,
    WireJson(request): WireJson<SnapshotRequest>,
) -> Result<WireResponse, AppError> {
    check_protocol(request.protocol)?;
    let response =
        blocking(move || state.store.snapshot(auth, &request.households, Utc::now())).await?;
    WireResponse::new(accept, &response)
}

async fn no_route() -> AppError {
    AppError::NotFound("no such route; the API lives under /v1".into())
}

async fn wrong_method() -> AppError {
    AppError::BadRequest("this route does not take that method".into())
}

/// The device behind `Authorization: Bearer TOKEN`.
#[derive(Debug, Clone, Copy)]
pub struct Device(pub DeviceAuth);

impl FromRequestParts<AppState> for Device {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_string())
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                AppError::Unauthorized("missing device token (Authorization: Bearer …)".into())
            })?;
        let store = Arc::clone(&state.store);
        blocking(move || store.authenticate(&token))
            .await
            .map(Device)
    }
}
