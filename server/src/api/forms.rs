//! Form versions (listed for every account, published by admins) and the
//! audit log (admins).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use doorstep_forms::Form;
use doorstep_protocol::limits::MAX_REQUEST_BYTES;
use serde::{Deserialize, Serialize};

use super::error::FormProblem;
use super::{ApiError, ApiUser};
use crate::app::{AppState, blocking};
use crate::error::AppError;
use crate::form_upload::XLSX_TYPE;
use crate::net::body::BodyTimeout;
use crate::store::{AuditEntry, AuditKind, FormRow, StoreError};

/// The most audit entries one request reads.
pub const MAX_AUDIT_ENTRIES: usize = 1000;

#[derive(Debug, Serialize)]
pub(super) struct Forms {
    forms: Vec<FormRow>,
}

#[derive(Debug, Serialize)]
pub(super) struct Published {
    form_id: String,
    version: String,
    title: String,
    /// `false` when this very version was published already (nothing
    /// changed).
    published: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditQuery {
    limit: Option<usize>,
    kind: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct Audit {
    entries: Vec<AuditEntry>,
}

pub(super) async fn list(
    State(state): State<AppState>,
    user: ApiUser,
) -> Result<Json<Forms>, ApiError> {
    let scope = user.scope();
    let forms = blocking(move || state.store.published_forms(&scope)).await?;
    Ok(Json(Forms { forms }))
}

/// Publishes the form in the body: an XLSForm workbook (by its content
/// type, or a body that is a ZIP file) or a JSON definition.
pub(super) async fn publish(
    State(state): State<AppState>,
    user: ApiUser,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    let admin = user.admin()?.id;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::TooLarge {
                limit: MAX_REQUEST_BYTES,
            }
        } else if let Some(timeout) = BodyTimeout::find(&rejection) {
            AppError::Timeout(timeout.to_string())
        } else {
            AppError::BadRequest(format!("could not read the request body: {rejection}"))
        }
    })?;
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let xlsx = crate::form_upload::is_workbook(&content_type, &body);
    let json = content_type.starts_with("application/json");
    if !xlsx && !json {
        return Err(AppError::BadRequest(format!(
            "send the form as an XLSForm workbook (Content-Type: {XLSX_TYPE}) or its JSON definition (Content-Type: application/json)"
        ))
        .into());
    }
    let form = tokio::task::spawn_blocking(move || read_form(&body, xlsx))
        .await
        .map_err(|error| AppError::Internal(format!("worker failed: {error}")))??;
    let (form_id, version, title) = (
        form.form_id.clone(),
        form.version.clone(),
        form.title.clone(),
    );
    let store = std::sync::Arc::clone(&state.store);
    let published = tokio::task::spawn_blocking(move || store.publish_form_by(&form, Some(admin)))
        .await
        .map_err(|error| AppError::Internal(format!("worker failed: {error}")))?
        .map_err(|error| match error {
            // The form's own rules (`Form::check`) and its size.
            StoreError::Invalid(message) => ApiError::FormProblems(vec![whole(message)]),
            other => other.into(),
        })?;
    tracing::info!(user = %admin, form = %form_id, %version, published, "form published through the admin API");
    let status = if published {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(Published {
            form_id,
            version,
            title,
            published,
        }),
    ))
}

fn read_form(body: &[u8], xlsx: bool) -> Result<Form, ApiError> {
    crate::form_upload::read_form(body, xlsx, None).map_err(ApiError::FormProblems)
}

/// A problem of the form as a whole.
fn whole(message: String) -> FormProblem {
    FormProblem::whole(message)
}

pub(super) async fn audit(
    State(state): State<AppState>,
    user: ApiUser,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Audit>, ApiError> {
    user.admin()?;
    let Query(query) = query.map_err(|rejection| {
        AppError::BadRequest(format!("bad query: {}", rejection.body_text()))
    })?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_AUDIT_ENTRIES).contains(&limit) {
        return Err(AppError::BadRequest(format!("limit is 1 to {MAX_AUDIT_ENTRIES}")).into());
    }
    let kind = match query.kind.as_deref() {
        None => None,
        Some(name) => Some(
            AuditKind::parse(name)
                .ok_or_else(|| AppError::BadRequest(format!("unknown audit kind {name:?}")))?,
        ),
    };
    let entries = blocking(move || state.store.audit(limit, kind)).await?;
    Ok(Json(Audit { entries }))
}
