//! Forms (admins): the published versions with their visits, and
//! publishing a new version by uploading an XLSForm workbook (or a JSON
//! definition); a form that does not import shows `form check`'s problems
//! in the page, every one at once.

use std::sync::Arc;

use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, Nav, urlencode};
use super::{Ctx, blocking, csrf_ok, forbidden, html, redirect};
use crate::app::AppState;
use crate::form_upload::{FormProblem, is_workbook, read_form};
use crate::store::{FormRow, StoreError};

/// The largest upload read (a workbook of a large form is a few hundred
/// KiB; the store refuses definitions over 1 MiB anyway).
pub(super) const MAX_UPLOAD_BYTES: usize = 4 * 1024 * 1024;

#[derive(Deserialize, Default)]
pub(super) struct Published {
    published: Option<String>,
    same: Option<String>,
}

/// Admins only: a supervisor is told so.
fn admin_only(ctx: &Ctx) -> Option<Response> {
    if ctx.scope.is_all() {
        return None;
    }
    let lang = ctx.lang;
    Some(html(
        StatusCode::FORBIDDEN,
        layout::message(
            &ctx.shell(),
            lang.t("仅限管理员", "Admins only"),
            lang.t("只有管理员可以发布表单。", "Only admins publish forms."),
        ),
    ))
}

async fn list_page(
    state: &AppState,
    ctx: &Ctx,
    status: StatusCode,
    notice: Option<Markup>,
) -> Response {
    let store = Arc::clone(&state.store);
    let scope = ctx.scope.clone();
    let forms: Vec<FormRow> = match blocking(move || store.published_forms(&scope)).await {
        Ok(forms) => forms,
        Err(error) => return ctx.fail(error),
    };
    let lang = ctx.lang;
    let body = html! {
        h1 { (lang.t("表单", "Forms")) }
        @if let Some(notice) = notice { (notice) }
        .table { table #forms {
            thead { tr {
                th { (lang.t("表单", "Form")) }
                th { (lang.t("版本", "Version")) }
                th { (lang.t("标题", "Title")) }
                th { (lang.t("发布时间", "Published")) }
                th.num { (lang.t("走访数", "Visits")) }
            } }
            tbody {
                @for form in &forms {
                    tr.form {
                        td { (form.form_id) }
                        td { (form.version) }
                        td { (form.title) }
                        td { (form.published_at.get(..16).unwrap_or(&form.published_at).replace('T', " ")) }
                        td.num { (lang.number(form.visits)) }
                    }
                }
                @if forms.is_empty() {
                    tr { td colspan="5" .muted { (lang.t("还没有发布表单。", "No form published yet.")) } }
                }
            }
        } }
        form #upload .card method="post" action="/console/forms" enctype="multipart/form-data" {
            h2 { (lang.t("发布新版本", "Publish a version")) }
            p.note { (lang.t(
                "上传 XLSForm（.xlsx）或表单的 JSON 定义。已发布的版本不能更改：请在 settings 表中提高 version。手机下次同步时收到新版本。",
                "Upload an XLSForm (.xlsx) or the form's JSON definition. A published version never changes: raise the version in the settings sheet. Phones receive it on their next sync.")) }
            input type="hidden" name="csrf" value=(ctx.session.csrf_token);
            input #file type="file" name="file" accept=".xlsx,.json" required;
            button type="submit" { (lang.t("检查并发布", "Check and publish")) }
        }
    };
    html(
        status,
        layout::page(&ctx.shell(), lang.t("表单", "Forms"), Nav::Forms, body),
    )
}

pub(super) async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(query): Query<Published>,
) -> Response {
    if let Some(refused) = admin_only(&ctx) {
        return refused;
    }
    let lang = ctx.lang;
    let notice = match (query.published, query.same) {
        (Some(version), _) => Some(
            html! { p.card { span.badge.ok { (lang.t("已发布", "Published")) } " " (version) } },
        ),
        (None, Some(version)) => Some(
            html! { p.card { (lang.t("此版本已发布，内容相同，未作更改：", "This version was published already with the same content; nothing changed: ")) (version) } },
        ),
        _ => None,
    };
    list_page(&state, &ctx, StatusCode::OK, notice).await
}

/// The problems of a form that did not import, in the page.
fn problems(ctx: &Ctx, file: &str, problems: &[FormProblem]) -> Markup {
    let lang = ctx.lang;
    html! {
        section.card #problems {
            h2 { (lang.t("表单无法导入", "The form does not import")) }
            p { code { (file) } " · " (problems.len()) (lang.t(" 个问题：", " problems:")) }
            ul {
                @for problem in problems {
                    li.problem { (problem.text) }
                }
            }
        }
    }
}

pub(super) async fn upload(
    State(state): State<AppState>,
    ctx: Ctx,
    mut multipart: Multipart,
) -> Response {
    if let Some(refused) = admin_only(&ctx) {
        return refused;
    }
    let mut csrf = None;
    let mut file: Option<(String, String, Vec<u8>)> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(error) => return ctx.bad_request(&format!("could not read the upload: {error}")),
        };
        match field.name() {
            Some("csrf") => csrf = field.text().await.ok(),
            Some("file") => {
                let name = field.file_name().unwrap_or("form").to_owned();
                let content_type = field.content_type().unwrap_or_default().to_owned();
                match field.bytes().await {
                    Ok(bytes) if bytes.len() <= MAX_UPLOAD_BYTES => {
                        file = Some((name, content_type, bytes.to_vec()));
                    }
                    Ok(_) => return ctx.bad_request("the file is larger than 4 MiB"),
                    Err(error) => {
                        return ctx.bad_request(&format!("could not read the upload: {error}"));
                    }
                }
            }
            _ => {}
        }
    }
    if !csrf.is_some_and(|csrf| csrf_ok(&ctx.session, &csrf)) {
        return forbidden();
    }
    let Some((name, content_type, bytes)) = file.filter(|(_, _, bytes)| !bytes.is_empty()) else {
        return ctx.bad_request("choose a file to upload");
    };
    let xlsx = is_workbook(&content_type, &bytes) || name.to_ascii_lowercase().ends_with(".xlsx");
    let file_name = name.clone();
    let read = tokio::task::spawn_blocking(move || read_form(&bytes, xlsx, Some(&file_name))).await;
    let form = match read {
        Ok(Ok(form)) => form,
        Ok(Err(found)) => {
            let notice = problems(&ctx, &name, &found);
            return list_page(&state, &ctx, StatusCode::UNPROCESSABLE_ENTITY, Some(notice)).await;
        }
        Err(_) => return ctx.fail(StoreError::Invalid("the form could not be read".into())),
    };
    let version = format!("{} {}", form.form_id, form.version);
    let store = Arc::clone(&state.store);
    let user = ctx.session.user.id;
    match blocking(move || store.publish_form_by(&form, Some(user))).await {
        Ok(true) => redirect(&format!("/console/forms?published={}", urlencode(&version))),
        Ok(false) => redirect(&format!("/console/forms?same={}", urlencode(&version))),
        Err(StoreError::Invalid(message)) => {
            let notice = problems(&ctx, &name, &[FormProblem::whole(message)]);
            list_page(&state, &ctx, StatusCode::UNPROCESSABLE_ENTITY, Some(notice)).await
        }
        Err(error) => ctx.fail(error),
    }
}
