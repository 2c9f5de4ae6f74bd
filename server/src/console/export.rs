//! The export page and its download: visits of an area in the scope, over
//! a date range and a form version, as CSV or XLSX (one sheet for the
//! visits and one per repeat, joined by the visit id), with choices by
//! name or label, or the photos and files they name as a ZIP; streamed
//! (`crate::export::http`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::layout::{self, Nav};
use super::{Ctx, blocking};
use crate::app::{AppState, ClientAddr};
use crate::export::ExportQuery;
use crate::export::http::visits_response;
use crate::store::{AuditEvent, AuditKind};

pub(super) async fn page(State(state): State<AppState>, ctx: Ctx) -> Response {
    let store = Arc::clone(&state.store);
    let scope = ctx.scope.clone();
    let found = blocking(move || {
        let areas = match &scope {
            crate::store::Scope::Area(area) => store.area_path(&scope, area)?,
            crate::store::Scope::All => Vec::new(),
        };
        let villages = store.villages_in_scope(&scope)?;
        Ok((areas, villages))
    })
    .await;
    let (top, villages) = match found {
        Ok(found) => found,
        Err(error) => return ctx.fail(error),
    };
    let lang = ctx.lang;
    let body = html! {
        h1 { (lang.t("导出走访记录", "Export visits")) }
        p.note { (lang.t(
            "CSV 或 Excel（XLSX）：走访一张表，每个重复组一张表，用走访编号关联。只包含你负责地区的记录。",
            "CSV or Excel (XLSX): one sheet of visits and one per repeat, joined by the visit id. Only visits of your areas.")) }
        form #export .card method="get" action="/console/export/visits" {
            label for="area" { (lang.t("地区", "Area")) }
            select #area name="area" {
                @if top.is_empty() { option value="" { (lang.t("全部地区", "All areas")) } }
                @for area in &top { option value=(area.code) { (area.name) } }
                @for village in &villages { option value=(village.code) { (village.name) " (" (village.code) ")" } }
            }
            label for="since" { (lang.t("开始日期（含）", "From (recorded on or after)")) }
            input #since type="date" name="since";
            label for="until" { (lang.t("结束日期（含）", "Until (recorded on or before)")) }
            input #until type="date" name="until";
            label for="form_version" { (lang.t("表单版本（有多个版本时必填）", "Form version (needed when there are several)")) }
            input #form_version name="form_version" placeholder="2024122801";
            label for="format" { (lang.t("格式", "Format")) }
            select #format name="format" {
                option value="xlsx" { "Excel (XLSX)" }
                option value="csv" { "CSV" }
                option value="files" { (lang.t("照片和附件（ZIP）", "Photos and files (ZIP)")) }
            }
            label for="choices" { (lang.t("选项显示为", "Choices as")) }
            select #choices name="choices" {
                option value="labels" { (lang.t("中文标签", "labels")) }
                option value="names" { (lang.t("选项代码", "names")) }
            }
            button type="submit" { (lang.t("下载", "Download")) }
        }
    };
    ctx.html(layout::page(
        &ctx.shell(),
        lang.t("导出", "Export"),
        Nav::Export,
        body,
    ))
}

/// The download itself, audited with the account and the question.
pub(super) async fn visits(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ctx: Ctx,
    uri: Uri,
) -> Response {
    let query = match ExportQuery::from_uri(&uri) {
        Ok(query) => query,
        Err(error) => return error.into_response(),
    };
    super::note(
        &state,
        AuditEvent::new(AuditKind::VisitsExported)
            .user(ctx.session.user.id)
            .client(client)
            .detail(query.summary()),
    )
    .await;
    visits_response(
        Arc::clone(&state.store),
        state.files.clone(),
        ctx.scope.clone(),
        query,
    )
    .await
}
