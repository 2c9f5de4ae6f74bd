//! `GET /console/files/{sha256}`: a file attached to a visit, for a
//! signed-in account whose scope holds a household whose visit names it
//! (404 otherwise, the same page whether the file exists or not). Images,
//! audio and video are shown inline; anything else is a download, and
//! nothing is ever served as a page (`nosniff`, a sandboxing CSP, never
//! `text/html`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use doorstep_protocol::is_file_reference;

use super::{Ctx, blocking};
use crate::app::AppState;
use crate::files::extension;
use crate::files::http::file_body;
use crate::store::StoreError;

/// Whether a media type may be shown in the browser: pictures, sound and
/// video, never a type that can carry script (SVG).
pub(crate) fn shown_inline(media_type: &str) -> bool {
    (media_type.starts_with("image/")
        || media_type.starts_with("audio/")
        || media_type.starts_with("video/"))
        && !media_type.contains("svg")
        && !media_type.contains("xml")
}

pub(super) async fn one(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(sha256): Path<String>,
) -> Response {
    let not_found = || StoreError::NotFound("no such file here".into());
    if !is_file_reference(&sha256) {
        return ctx.fail(not_found());
    }
    let store = Arc::clone(&state.store);
    let scope = ctx.scope.clone();
    let reference = sha256.clone();
    let file = match blocking(move || store.console_file(&scope, &reference)).await {
        Ok(Some(file)) => file,
        Ok(None) => return ctx.fail(not_found()),
        Err(error) => return ctx.fail(error),
    };
    let body = match file_body(&state.files, &file).await {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(file = %sha256, %error, "a recorded file could not be read");
            return ctx.fail(not_found());
        }
    };
    let inline = shown_inline(&file.media_type);
    // A download keeps its type (a PDF), unless the type could make a
    // browser run it as a page.
    let scriptable = ["html", "xml", "script", "text/"]
        .iter()
        .any(|risky| file.media_type.contains(risky));
    let content_type = if inline || !scriptable {
        file.media_type.clone()
    } else {
        "application/octet-stream".to_owned()
    };
    let disposition = if inline {
        "inline".to_owned()
    } else {
        format!(
            "attachment; filename=\"{sha256}.{}\"",
            extension(&file.media_type)
        )
    };
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    let content_type = HeaderValue::from_str(&content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(CONTENT_TYPE, content_type);
    headers.insert(CONTENT_LENGTH, HeaderValue::from(file.size));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::shown_inline;

    #[test]
    fn only_pictures_sound_and_video_are_shown() {
        assert!(shown_inline("image/jpeg"));
        assert!(shown_inline("audio/mp4"));
        assert!(!shown_inline("image/svg+xml"));
        assert!(!shown_inline("text/html"));
        assert!(!shown_inline("application/pdf"));
    }
}
