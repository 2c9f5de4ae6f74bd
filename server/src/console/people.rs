//! Cadres and devices: cadres with their villages (pair and unpair), a
//! one-time enrolment code shown as a QR code the app scans, devices with
//! their last contact and the changes they still hold, and revocation.

use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use chrono::Utc;
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;
use uuid::Uuid;

use super::households::PAGE_SIZE;
use super::i18n::Lang;
use super::layout::{self, Nav};
use super::{Ctx, blocking, csrf_ok, forbidden, qr, redirect};
use crate::app::AppState;
use crate::store::browse::Page;
use crate::store::{CadreRow, EnrollCode, StoreError};

fn short(time: &str) -> String {
    time.get(..16).unwrap_or(time).replace('T', " ")
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("{id} is not known here"))
}

#[derive(Deserialize, Default)]
pub(super) struct PageQuery {
    page: Option<u64>,
}

pub(super) async fn cadres(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(query): Query<PageQuery>,
) -> Response {
    let number = query.page.unwrap_or(1).max(1);
    let store = Arc::clone(&state.store);
    let scope = ctx.scope.clone();
    let (rows, total) =
        match blocking(move || store.cadres_page(&scope, Page::number(number, PAGE_SIZE))).await {
            Ok(found) => found,
            Err(error) => return ctx.fail(error),
        };
    let lang = ctx.lang;
    let body = html! {
        h1 { (lang.t("干部", "Cadres")) }
        p.note { (lang.t(
            "干部与其结对的村。打开一位干部可以调整结对，或生成手机登记二维码。",
            "Cadres and the villages they are paired with. Open one to change its villages or to show a QR code that enrols a phone.")) }
        .table { table #cadres {
            thead { tr {
                th { (lang.t("姓名", "Name")) }
                th { (lang.t("结对的村", "Villages")) }
                th.num { (lang.t("结对户", "Households")) }
                th.num { (lang.t("设备", "Devices")) }
            } }
            tbody {
                @for cadre in &rows {
                    tr.cadre data-cadre-id=(cadre.id) {
                        td { a href={ "/console/cadres/" (cadre.id) } { (cadre.name) } }
                        td.wrap { @for (index, village) in cadre.villages.iter().enumerate() {
                            @if index > 0 { "、" } (village.name)
                        } }
                        td.num { (cadre.households) }
                        td.num { (cadre.devices) }
                    }
                }
                @if rows.is_empty() {
                    tr { td colspan="4" .muted { (lang.t("这里还没有干部。", "No cadre here yet.")) } }
                }
            }
        } }
        (layout::pager(lang, number, PAGE_SIZE, total, |page| format!("/console/cadres?page={page}")))
    };
    ctx.html(layout::page(
        &ctx.shell(),
        lang.t("干部", "Cadres"),
        Nav::Cadres,
        body,
    ))
}

/// A cadre's page; with a fresh enrolment code when one was just issued.
async fn cadre_page(state: &AppState, ctx: &Ctx, id: Uuid, code: Option<EnrollCode>) -> Response {
    let store = Arc::clone(&state.store);
    let scope = ctx.scope.clone();
    let found = blocking(move || {
        let cadre = store.cadre_in_scope(&scope, id)?;
        let villages = store.villages_in_scope(&scope)?;
        Ok((cadre, villages))
    })
    .await;
    let (cadre, villages) = match found {
        Ok(found) => found,
        Err(error) => return ctx.fail(error),
    };
    let payload = code
        .as_ref()
        .and_then(|code| state.enrol.payload(&code.code));
    let body = cadre_body(ctx, &cadre, &villages, code.as_ref(), payload.as_deref());
    ctx.html(layout::page(&ctx.shell(), &cadre.name, Nav::Cadres, body))
}

fn cadre_body(
    ctx: &Ctx,
    cadre: &CadreRow,
    villages: &[crate::store::browse::AreaNode],
    code: Option<&EnrollCode>,
    payload: Option<&str>,
) -> Markup {
    let lang: Lang = ctx.lang;
    let csrf = &ctx.session.csrf_token;
    let paired: Vec<&str> = cadre
        .villages
        .iter()
        .map(|village| village.code.as_str())
        .collect();
    html! {
        nav #crumbs { a href="/console/cadres" { (lang.t("干部", "Cadres")) } " › " span { (cadre.name) } }
        h1 { (cadre.name) }
        section.card {
            h2 { (lang.t("结对的村", "Villages")) }
            .table { table {
                tbody {
                    @for village in &cadre.villages {
                        tr.village {
                            td { (village.name) " " span.muted { (village.code) } }
                            td { form method="post" action={ "/console/cadres/" (cadre.id) "/unassign" } {
                                input type="hidden" name="csrf" value=(csrf);
                                input type="hidden" name="village" value=(village.code);
                                button.secondary.unassign type="submit" { (lang.t("取消结对", "Unpair")) }
                            } }
                        }
                    }
                }
            } }
            form.filters method="post" action={ "/console/cadres/" (cadre.id) "/assign" } {
                input type="hidden" name="csrf" value=(csrf);
                div {
                    label for="village" { (lang.t("增加结对的村", "Pair with a village")) }
                    select #village name="village" {
                        @for village in villages.iter().filter(|village| !paired.contains(&village.code.as_str())) {
                            option value=(village.code) { (village.name) " (" (village.code) ")" }
                        }
                    }
                }
                button.assign type="submit" { (lang.t("结对", "Pair")) }
            }
        }
        section.card #enrol {
            h2 { (lang.t("登记手机", "Enrol a phone")) }
            @match code {
                Some(code) => {
                    @if let Some(payload) = payload {
                        (PreEscaped(qr::qr_svg(payload).replacen("<svg ", "<svg class=\"qr\" ", 1)))
                        p { (lang.t("用 Doorstep 应用扫描此二维码，或输入登记码：", "Scan this with the Doorstep app, or type the code:")) }
                    } @else {
                        p.note { (lang.t(
                            "服务器未设置对外地址（doorstep serve --public-url），因此没有二维码；请在应用中输入登记码：",
                            "The server has no public address (doorstep serve --public-url), so there is no QR code; type the code in the app:")) }
                    }
                    p { code.enrol-code { (code.code) } }
                    p.muted { (lang.t("一次有效，有效期至 ", "Single use, valid until ")) (short(&code.expires_at.to_rfc3339())) " UTC" }
                }
                None => {
                    form method="post" action={ "/console/cadres/" (cadre.id) "/enrol-code" } {
                        input type="hidden" name="csrf" value=(csrf);
                        button.enrol-code type="submit" { (lang.t("生成登记码和二维码", "Show an enrolment code and QR code")) }
                    }
                }
            }
        }
        p { a href="/console/devices" { (lang.t("查看设备", "See the devices")) " ›" } }
    }
}

/// The cadre id in a path; "not found" for anything else.
fn cadre_id(ctx: &Ctx, text: &str) -> Result<Uuid, Box<Response>> {
    Uuid::parse_str(text).map_err(|_| Box::new(ctx.fail(not_found(text))))
}

pub(super) async fn cadre(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Response {
    match cadre_id(&ctx, &id) {
        Ok(id) => cadre_page(&state, &ctx, id, None).await,
        Err(response) => *response,
    }
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    csrf: String,
}

/// Issues a one-time code and shows it (in this response only: never in
/// a URL, never cached).
pub(super) async fn enrol_code(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !csrf_ok(&ctx.session, &form.csrf) {
        return forbidden();
    }
    let id = match cadre_id(&ctx, &id) {
        Ok(id) => id,
        Err(response) => return *response,
    };
    let store = Arc::clone(&state.store);
    let scope = ctx.scope.clone();
    let user = ctx.session.user.id;
    match blocking(move || store.enrol_code_in_scope(&scope, id, user)).await {
        Ok(code) => cadre_page(&state, &ctx, id, Some(code)).await,
        Err(error) => ctx.fail(error),
    }
}

#[derive(Deserialize)]
pub(super) struct VillageForm {
    csrf: String,
    village: String,
}

pub(super) async fn assign(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<VillageForm>,
) -> Response {
    pair(state, ctx, id, form, true).await
}

pub(super) async fn unassign(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<VillageForm>,
) -> Response {
    pair(state, ctx, id, form, false).await
}

async fn pair(state: AppState, ctx: Ctx, id: String, form: VillageForm, on: bool) -> Response {
    if !csrf_ok(&ctx.session, &form.csrf) {
        return forbidden();
    }
    let id = match cadre_id(&ctx, &id) {
        Ok(id) => id,
        Err(response) => return *response,
    };
    let store = Arc::clone(&state.store);
    let scope = ctx.scope.clone();
    let user = ctx.session.user.id;
    let village = form.village;
    let outcome = blocking(move || {
        if on {
            store
                .assign_in_scope(&scope, id, &village, user, Utc::now())
                .map(|_| ())
        } else {
            store.unassign_in_scope(&scope, id, &village, user, Utc::now())
        }
    })
    .await;
    match outcome {
        Ok(()) => redirect(&format!("/console/cadres/{id}")),
        Err(error) => ctx.fail(error),
    }
}

pub(super) async fn devices(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(query): Query<PageQuery>,
) -> Response {
    let number = query.page.unwrap_or(1).max(1);
    let store = Arc::clone(&state.store);
    let scope = ctx.scope.clone();
    let (rows, total) =
        match blocking(move || store.devices_page(&scope, Page::number(number, PAGE_SIZE))).await {
            Ok(found) => found,
            Err(error) => return ctx.fail(error),
        };
    let lang = ctx.lang;
    let csrf = &ctx.session.csrf_token;
    let body = html! {
        h1 { (lang.t("设备", "Devices")) }
        p.note { (lang.t(
            "手机丢失或换人时请吊销：吊销后该手机无法再同步，未同步的记录留在手机上。",
            "Revoke a lost or handed-over phone: it can no longer sync; what it has not sent stays on it.")) }
        .table { table #devices {
            thead { tr {
                th { (lang.t("干部", "Cadre")) }
                th { (lang.t("设备", "Device")) }
                th { (lang.t("登记时间", "Enrolled")) }
                th { (lang.t("最近联系", "Last contact")) }
                th.num { (lang.t("待上传", "Pending")) }
                th { (lang.t("状态", "Status")) }
            } }
            tbody {
                @for device in &rows {
                    tr.device data-device-id=(device.id) {
                        td { a href={ "/console/cadres/" (device.cadre_id) } { (device.cadre_name) } }
                        td { (device.label.as_deref().unwrap_or("")) " " span.muted { (device.id.to_string().get(..8).unwrap_or("")) } }
                        td { (short(&device.enrolled_at)) }
                        td { @match &device.last_seen_at { Some(at) => { (short(at)) } None => { span.muted { "—" } } } }
                        td.num {
                            @match device.pending_changes {
                                Some(pending) => {
                                    @if pending > 0 { span.badge.warn { (pending) } } @else { "0" }
                                    @if let Some(at) = &device.pending_reported_at { br; span.muted { (short(at)) } }
                                }
                                None => { span.muted { "—" } }
                            }
                        }
                        @if device.revoked {
                            td.revoked { span.badge.bad { (lang.t("已吊销", "revoked")) } }
                        } @else {
                            td { form method="post" action={ "/console/devices/" (device.id) "/revoke" } {
                                input type="hidden" name="csrf" value=(csrf);
                                button.danger.revoke type="submit" { (lang.t("吊销", "Revoke")) }
                            } }
                        }
                    }
                }
                @if rows.is_empty() {
                    tr { td colspan="6" .muted { (lang.t("还没有登记的设备。", "No device enrolled yet.")) } }
                }
            }
        } }
        (layout::pager(lang, number, PAGE_SIZE, total, |page| format!("/console/devices?page={page}")))
    };
    ctx.html(layout::page(
        &ctx.shell(),
        lang.t("设备", "Devices"),
        Nav::Devices,
        body,
    ))
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !csrf_ok(&ctx.session, &form.csrf) {
        return forbidden();
    }
    let Ok(device) = Uuid::parse_str(&id) else {
        return ctx.fail(not_found(&id));
    };
    let store = Arc::clone(&state.store);
    let scope = ctx.scope.clone();
    let user = ctx.session.user.id;
    match blocking(move || store.revoke_device_in_scope(&scope, device, user, Utc::now())).await {
        Ok(_) => redirect("/console/devices"),
        Err(error) => ctx.fail(error),
    }
}
