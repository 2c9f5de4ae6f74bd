//! The review pages: same-field conflicts (both values, who wrote them;
//! keep the merged value or restore the other, which the server writes as
//! a new edit that syncs to the phones) and changes the server refused.

use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;

use super::households::PAGE_SIZE;
use super::i18n::Lang;
use super::layout::{self, Nav, urlencode};
use super::{Ctx, blocking, csrf_ok, forbidden, redirect};
use crate::app::AppState;
use crate::store::browse::Page;
use crate::store::{CadreDevice, ConflictFilter, RejectedFilter, Resolution};

#[derive(Deserialize, Default)]
pub(super) struct ReviewQuery {
    area: Option<String>,
    all: Option<String>,
    page: Option<u64>,
}

fn tabs(lang: Lang, rejected: bool) -> Markup {
    html! {
        .chips {
            a href="/console/review" class=[(!rejected).then_some("active")] { (lang.t("同字段冲突", "Conflicts")) }
            a href="/console/review/rejected" class=[rejected.then_some("active")] { (lang.t("被拒绝的记录", "Refused changes")) }
        }
    }
}

fn writer(lang: Lang, by: Option<&CadreDevice>) -> Markup {
    html! {
        @match by {
            Some(by) => { (by.cadre) " · " span.muted { (by.device) } }
            None => { span.muted { (lang.t("服务器", "server")) } }
        }
    }
}

pub(super) async fn conflicts(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(query): Query<ReviewQuery>,
) -> Response {
    let lang = ctx.lang;
    let number = query.page.unwrap_or(1).max(1);
    let everything = query.all.as_deref() == Some("1");
    let filter = ConflictFilter {
        unresolved_only: !everything,
        household: None,
        area: query.area.clone().filter(|area| !area.is_empty()),
    };
    let store = Arc::clone(&state.store);
    let scope = ctx.scope.clone();
    let (rows, total) = match blocking(move || {
        store.conflicts_page(&scope, &filter, Page::number(number, PAGE_SIZE))
    })
    .await
    {
        Ok(found) => found,
        Err(error) => return ctx.fail(error),
    };
    let csrf = ctx.session.csrf_token.clone();
    let area = query
        .area
        .as_deref()
        .map(|area| format!("area={}&", urlencode(area)))
        .unwrap_or_default();
    let body = html! {
        h1 { (lang.t("复核", "Review")) }
        (tabs(lang, false))
        p.note { (lang.t(
            "两部手机改了同一户的同一字段时，系统按规则保留了一个值。可以保留它，或恢复另一个值：恢复会作为一次新的修改同步到各手机。",
            "When two phones changed the same field of a household, the merge kept one value. Keep it, or restore the other: a restore is a new edit that syncs to the phones.")) }
        .chips {
            a href={ "/console/review?" (area) } class=[(!everything).then_some("active")] { (lang.t("待复核", "To review")) }
            a href={ "/console/review?" (area) "all=1" } class=[everything.then_some("active")] { (lang.t("全部", "All")) }
        }
        .table { table #conflicts {
            thead { tr {
                th { (lang.t("农户", "Household")) }
                th { (lang.t("字段", "Field")) }
                th { (lang.t("保留的值", "Kept")) }
                th { (lang.t("另一个值", "Other value")) }
                th { (lang.t("时间", "When")) }
                th { (lang.t("处理", "Decision")) }
            } }
            tbody {
                @for row in &rows {
                    tr.conflict data-conflict-id=(row.id) data-household-id=(row.household_id) {
                        td { a href={ "/console/households/" (row.household_id) } { (row.head_name) } br; span.muted { (row.village) } }
                        td { (row.field) }
                        td.wrap { strong { (row.kept) } br; (writer(lang, row.kept_by.as_ref())) }
                        td.wrap { (row.lost) br; (writer(lang, row.lost_by.as_ref())) }
                        td { (row.decided_at.get(..16).unwrap_or(&row.decided_at).replace('T', " ")) }
                        td.resolution {
                            @match &row.resolution {
                                Some(done) => {
                                    span.badge.ok { (match done.as_str() { "restored" => lang.t("已恢复", "restored"), _ => lang.t("已保留", "kept") }) }
                                    @if let Some(by) = &row.resolved_by { " " span.muted { (by) } }
                                }
                                None => {
                                    @if row.changed_since {
                                        span.muted { (lang.t("之后已被修改", "changed since")) } br;
                                    }
                                    form method="post" action={ "/console/review/conflicts/" (row.id) } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button.keep.secondary type="submit" name="decision" value="keep" { (lang.t("保留", "Keep")) }
                                        " "
                                        @if !row.changed_since {
                                            button.restore type="submit" name="decision" value="restore" { (lang.t("恢复另一个值", "Restore the other")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if rows.is_empty() {
                    tr { td colspan="6" .muted { (lang.t("没有需要复核的冲突。", "No conflict to review.")) } }
                }
            }
        } }
        (layout::pager(lang, number, PAGE_SIZE, total, |page| {
            format!("/console/review?{area}{}page={page}", if everything { "all=1&" } else { "" })
        }))
    };
    ctx.html(layout::page(
        &ctx.shell(),
        lang.t("复核", "Review"),
        Nav::Review,
        body,
    ))
}

#[derive(Deserialize)]
pub(super) struct Decision {
    csrf: String,
    decision: String,
}

pub(super) async fn decide(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<u64>,
    Form(form): Form<Decision>,
) -> Response {
    if !csrf_ok(&ctx.session, &form.csrf) {
        return forbidden();
    }
    let Some(resolution) = Resolution::parse(&form.decision) else {
        return ctx.bad_request("the decision is keep or restore");
    };
    let store = Arc::clone(&state.store);
    let scope = ctx.scope.clone();
    let user = ctx.session.user.id;
    match blocking(move || store.resolve_conflict(&scope, id, resolution, user, Utc::now())).await {
        Ok(_) => redirect("/console/review?all=1"),
        Err(error) => ctx.fail(error),
    }
}

pub(super) async fn rejected(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(query): Query<ReviewQuery>,
) -> Response {
    let lang = ctx.lang;
    let number = query.page.unwrap_or(1).max(1);
    let filter = RejectedFilter {
        area: query.area.clone().filter(|area| !area.is_empty()),
        device: None,
    };
    let store = Arc::clone(&state.store);
    let scope = ctx.scope.clone();
    let (rows, total) = match blocking(move || {
        store.rejected_page(&scope, &filter, Page::number(number, PAGE_SIZE))
    })
    .await
    {
        Ok(found) => found,
        Err(error) => return ctx.fail(error),
    };
    let body = html! {
        h1 { (lang.t("复核", "Review")) }
        (tabs(lang, true))
        p.note { (lang.t(
            "服务器拒绝的走访和修改，以及原因。手机上仍保留着它们，干部改正后可以重新提交。",
            "Visits and edits the server refused, with the reasons. The phones keep them; the cadre can correct and send them again.")) }
        .table { table #rejected {
            thead { tr {
                th { (lang.t("时间", "When")) }
                th { (lang.t("农户", "Household")) }
                th { (lang.t("干部与设备", "Cadre and device")) }
                th { (lang.t("类型", "Kind")) }
                th { (lang.t("原因", "Reason")) }
                th.num { (lang.t("次数", "Attempts")) }
            } }
            tbody {
                @for row in &rows {
                    tr.rejected {
                        td { (row.last_at.get(..16).unwrap_or(&row.last_at).replace('T', " ")) }
                        td { @match (&row.household_id, &row.head_name) {
                            (Some(id), Some(name)) => { a href={ "/console/households/" (id) } { (name) } }
                            _ => { span.muted { (lang.t("未知农户", "unknown household")) } }
                        } }
                        td { (writer(lang, Some(&row.by))) }
                        td { (match row.entity.as_str() { "visit" => lang.t("走访", "visit"), _ => lang.t("修改", "edit") }) }
                        td.wrap { span.badge.bad { (row.code) } " " (row.reason) }
                        td.num { (row.attempts) }
                    }
                }
                @if rows.is_empty() {
                    tr { td colspan="6" .muted { (lang.t("没有被拒绝的记录。", "Nothing was refused.")) } }
                }
            }
        } }
        (layout::pager(lang, number, PAGE_SIZE, total, |page| {
            format!("/console/review/rejected?page={page}")
        }))
    };
    ctx.html(layout::page(
        &ctx.shell(),
        lang.t("复核", "Review"),
        Nav::Review,
        body,
    ))
}
