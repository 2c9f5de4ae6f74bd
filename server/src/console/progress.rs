//! The progress page: households visited and not yet, per area, drilling
//! down from the county to the group, and visits per day.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use chrono::Utc;
use maud::html;
use serde::Deserialize;

use super::layout::{self, Nav, urlencode};
use super::{Ctx, blocking, chart};
use crate::app::AppState;
use crate::store::browse::{Counts, ProgressTarget};

#[derive(Deserialize)]
pub(super) struct ProgressQuery {
    area: Option<String>,
}

pub(super) async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(query): Query<ProgressQuery>,
) -> Response {
    let store = Arc::clone(&state.store);
    let scope = ctx.scope.clone();
    let area = query.area.filter(|area| !area.is_empty());
    let progress = match blocking(move || store.progress(&scope, area.as_deref(), Utc::now())).await
    {
        Ok(progress) => progress,
        Err(error) => return ctx.fail(error),
    };
    let lang = ctx.lang;
    let admin = ctx.scope.is_all();
    let here = progress.path.last();
    let title = here.map_or_else(
        || lang.t("全部地区", "All areas").to_owned(),
        |area| area.name.clone(),
    );
    let at_village = here.is_some_and(|area| area.level == "village");
    let per_day: Vec<(String, u64)> = progress
        .per_day
        .iter()
        .map(|(day, count)| (day.get(5..).unwrap_or(day).to_owned(), *count))
        .collect();
    let households_link = match here {
        Some(area) => format!("/console/households?area={}", urlencode(&area.code)),
        None => "/console/households".to_owned(),
    };
    let body = html! {
        (layout::crumbs(lang, "/console/progress", &progress.path, admin, None))
        h1 { (title) " · " (lang.t("入户进度", "Visit progress")) }
        (totals(lang, &progress.total))
        p { a href=(households_link) { (lang.t("查看农户名单", "See the households")) " ›" } }
        .table {
            table #progress {
                thead { tr {
                    th { @if at_village { (lang.t("村民小组", "Group")) } @else { (lang.t("地区", "Area")) } }
                    th.num { (lang.t("户数", "Households")) }
                    th.num { (lang.t("已走访", "Visited")) }
                    th.num { (lang.t("未走访", "Not yet")) }
                    th.num { (lang.t("近 7 天", "Last 7 days")) }
                    th.hide-narrow { (lang.t("完成率", "Done")) }
                } }
                tbody {
                    @for row in &progress.rows {
                        @let (name, href) = match &row.target {
                            ProgressTarget::Area(area) => (area.name.clone(), format!("/console/progress?area={}", urlencode(&area.code))),
                            ProgressTarget::Group { village, name } => (name.clone(), format!(
                                "/console/households?area={}&group={}", urlencode(village), urlencode(name))),
                        };
                        tr.area {
                            td { a.area-link href=(href) { (name) } }
                            td.num.households { (lang.number(row.counts.households)) }
                            td.num.visited { (lang.number(row.counts.visited)) }
                            td.num.not-visited { (lang.number(row.counts.not_visited())) }
                            td.num.recent { (lang.number(row.counts.recent)) }
                            td.hide-narrow {
                                span.bar style={ "width:" (row.counts.percent()) "px" } {}
                                span.bar.empty style={ "width:" (100 - row.counts.percent()) "px" } {}
                                " " (row.counts.percent()) "%"
                            }
                        }
                    }
                    @if progress.rows.is_empty() {
                        tr { td colspan="6" .muted { (lang.t("这里还没有农户。", "No households here yet.")) } }
                    }
                }
            }
        }
        h2 { (lang.t("每日走访（近 30 天）", "Visits per day (last 30 days)")) }
        section.card {
            (chart::bars("visits-per-day", lang.t("每日走访次数", "Visits per day"), &per_day, 5, None))
        }
    };
    ctx.html(layout::page(
        &ctx.shell(),
        lang.t("进度", "Progress"),
        Nav::Progress,
        body,
    ))
}

fn totals(lang: super::i18n::Lang, counts: &Counts) -> maud::Markup {
    html! {
        .totals {
            div { (lang.t("户数", "Households")) strong { (lang.number(counts.households)) } }
            div { (lang.t("已走访", "Visited")) strong { (lang.number(counts.visited)) " (" (counts.percent()) "%)" } }
            div { (lang.t("未走访", "Not yet visited")) strong { (lang.number(counts.not_visited())) } }
            div { (lang.t("近 7 天走访", "Visited in the last 7 days")) strong { (lang.number(counts.recent)) } }
        }
    }
}
