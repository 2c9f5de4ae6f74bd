//! The admin API's errors: those of the sync API ([`AppError`]: one JSON
//! shape, `{"error": CODE, "message": …}`), and three of its own: a
//! missing or refused token (401 with `WWW-Authenticate`), a supervisor on
//! an admin's route (403), and a form that does not import (422, with
//! every problem `doorstep form check` would print).

use axum::Json;
use axum::http::StatusCode;
use axum::http::header::WWW_AUTHENTICATE;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::AppError;
use crate::store::StoreError;

#[derive(Debug)]
pub enum ApiError {
    App(AppError),
    /// No valid API token: why, in words.
    Unauthenticated(&'static str),
    /// A supervisor asked for what only an admin may do.
    Forbidden,
    /// A form that does not import, with its problems.
    FormProblems(Vec<FormProblem>),
}

pub use crate::form_upload::FormProblem;

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        ApiError::App(error)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::App(error.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::App(error) => error.into_response(),
            ApiError::Unauthenticated(message) => (
                StatusCode::UNAUTHORIZED,
                [(WWW_AUTHENTICATE, "Bearer")],
                Json(json!({"error": "unauthorized", "message": message})),
            )
                .into_response(),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                Json(json!({
                    "error": "forbidden",
                    "message": "only an admin may do this; a supervisor's account reaches its own area",
                })),
            )
                .into_response(),
            ApiError::FormProblems(problems) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({
                    "error": "form_invalid",
                    "message": format!("the form does not import: {} problems", problems.len()),
                    "problems": problems,
                })),
            )
                .into_response(),
        }
    }
}
