//! Cadres, their villages, their enrolment codes and their devices, through
//! the caller's scope (`crate::store::people`).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ApiError, ApiUser};
use crate::app::{AppState, blocking};
use crate::error::AppError;
use crate::store::{CadreRow, DeviceRow, EnrollCode};

#[derive(Debug, Serialize)]
pub(super) struct Cadres {
    cadres: Vec<CadreRow>,
}

#[derive(Debug, Serialize)]
pub(super) struct Devices {
    devices: Vec<DeviceRow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewCadre {
    name: String,
}

#[derive(Debug, Serialize)]
pub(super) struct Assigned {
    cadre_id: Uuid,
    village: String,
    /// `false` when they were paired already (nothing changed).
    changed: bool,
}

/// An id in the path: a malformed one is a bad request.
fn id(text: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text)
        .map_err(|_| AppError::BadRequest(format!("{what} {text:?} is not an id (a UUID)")).into())
}

fn path<T>(path: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    path.map(|Path(value)| value)
        .map_err(|rejection| AppError::BadRequest(rejection.body_text()).into())
}

pub(super) fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(value)| value).map_err(|rejection| {
        AppError::BadRequest(format!("bad JSON body: {}", rejection.body_text())).into()
    })
}

pub(super) async fn cadres(
    State(state): State<AppState>,
    user: ApiUser,
) -> Result<Json<Cadres>, ApiError> {
    let scope = user.scope();
    let cadres = blocking(move || state.store.cadres_in_scope(&scope)).await?;
    Ok(Json(Cadres { cadres }))
}

pub(super) async fn cadre(
    State(state): State<AppState>,
    user: ApiUser,
    cadre: Result<Path<String>, PathRejection>,
) -> Result<Json<CadreRow>, ApiError> {
    let cadre = id(&path(cadre)?, "cadre")?;
    let scope = user.scope();
    let row = blocking(move || state.store.cadre_in_scope(&scope, cadre)).await?;
    Ok(Json(row))
}

pub(super) async fn add_cadre(
    State(state): State<AppState>,
    user: ApiUser,
    body: Result<Json<NewCadre>, JsonRejection>,
) -> Result<(StatusCode, Json<CadreRow>), ApiError> {
    let admin = user.admin()?.id;
    let new = json_body(body)?;
    let row = blocking(move || {
        let id = state.store.add_cadre_by(&new.name, Some(admin))?;
        state.store.cadre_in_scope(&crate::store::Scope::All, id)
    })
    .await?;
    tracing::info!(user = %admin, cadre = %row.id, "cadre added through the admin API");
    Ok((StatusCode::CREATED, Json(row)))
}

pub(super) async fn assign(
    State(state): State<AppState>,
    user: ApiUser,
    target: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Assigned>, ApiError> {
    let (cadre, village) = path(target)?;
    let cadre = id(&cadre, "cadre")?;
    let scope = user.scope();
    let by = user.0.id;
    let code = village.clone();
    let changed = blocking(move || {
        state
            .store
            .assign_in_scope(&scope, cadre, &code, by, Utc::now())
    })
    .await?;
    tracing::info!(user = %by, %cadre, %village, changed, "pairing through the admin API");
    Ok(Json(Assigned {
        cadre_id: cadre,
        village,
        changed,
    }))
}

pub(super) async fn unassign(
    State(state): State<AppState>,
    user: ApiUser,
    target: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let (cadre, village) = path(target)?;
    let cadre = id(&cadre, "cadre")?;
    let scope = user.scope();
    let by = user.0.id;
    blocking(move || {
        state
            .store
            .unassign_in_scope(&scope, cadre, &village, by, Utc::now())
    })
    .await?;
    tracing::info!(user = %by, %cadre, "unpairing through the admin API");
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn enrol_code(
    State(state): State<AppState>,
    user: ApiUser,
    cadre: Result<Path<String>, PathRejection>,
) -> Result<(StatusCode, Json<EnrollCode>), ApiError> {
    let cadre = id(&path(cadre)?, "cadre")?;
    let scope = user.scope();
    let by = user.0.id;
    let code = blocking(move || state.store.enrol_code_in_scope(&scope, cadre, by)).await?;
    // The code itself is a secret: never logged.
    tracing::info!(user = %by, %cadre, "enrolment code issued through the admin API");
    Ok((StatusCode::CREATED, Json(code)))
}

pub(super) async fn devices(
    State(state): State<AppState>,
    user: ApiUser,
) -> Result<Json<Devices>, ApiError> {
    let scope = user.scope();
    let devices = blocking(move || state.store.devices_in_scope(&scope)).await?;
    Ok(Json(Devices { devices }))
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    user: ApiUser,
    device: Result<Path<String>, PathRejection>,
) -> Result<Json<DeviceRow>, ApiError> {
    let device = id(&path(device)?, "device")?;
    let scope = user.scope();
    let by = user.0.id;
    let store = Arc::clone(&state.store);
    let row =
        blocking(move || store.revoke_device_in_scope(&scope, device, by, Utc::now())).await?;
    tracing::info!(user = %by, %device, "device revoked through the admin API");
    Ok(Json(row))
}
