//! The at-risk page (below the line or in a risk category, with the
//! distribution of incomes) and the coming-home page (members working
//! away, by expected return date).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{Duration, NaiveDate, Utc};
use maud::html;
use serde::Deserialize;

use super::chart::{self, Marker};
use super::households::{PAGE_SIZE, table};
use super::layout::{self, Nav, urlencode};
use super::{Ctx, blocking};
use crate::app::AppState;
use crate::store::browse::{INCOME_LINE, MigrantsQuery, Page};

#[derive(Deserialize, Default)]
pub(super) struct AreaQuery {
    area: Option<String>,
    page: Option<u64>,
    from: Option<String>,
    to: Option<String>,
}

fn area_param(area: Option<&str>) -> String {
    area.map(|area| format!("area={}&", urlencode(area)))
        .unwrap_or_default()
}

pub(super) async fn risk(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(query): Query<AreaQuery>,
) -> Response {
    let lang = ctx.lang;
    let number = query.page.unwrap_or(1).max(1);
    let area = query.area.clone().filter(|area| !area.is_empty());
    let store = Arc::clone(&state.store);
    let scope = ctx.scope.clone();
    let wanted = area.clone();
    let outcome = blocking(move || {
        let list = store.risk_page(&scope, wanted.as_deref(), Page::number(number, PAGE_SIZE))?;
        let path = match &wanted {
            Some(area) => store.area_path(&scope, area)?,
            None => Vec::new(),
        };
        Ok((list, path))
    })
    .await;
    let (risk, path) = match outcome {
        Ok(found) => found,
        Err(error) => return ctx.fail(error),
    };
    let bands: Vec<(String, u64)> = risk
        .distribution
        .iter()
        .map(|bucket| (format!("{}k", bucket.from / 1000.0), bucket.households))
        .collect();
    let line_band = (INCOME_LINE / 2_000.0) as usize;
    let line_text = format!("{} {}", lang.t("收入线", "line"), lang.yuan(INCOME_LINE));
    let prefix = area_param(area.as_deref());
    let body = html! {
        (layout::crumbs(lang, "/console/risk", &path, ctx.scope.is_all(), None))
        h1 { (lang.t("低收入与监测对象", "Below the line and at risk")) }
        p.note { (lang.t(
            "最近一次走访显示人均纯收入低于 10,000 元，或属于三类监测对象（脱贫不稳定户、边缘易致贫户、突发严重困难户）的农户，人均收入最低的在前。",
            "Households whose latest visit puts their net income per person below 10,000 yuan, or in one of the three monitored categories (unstable, on the edge, sudden hardship); lowest income first.")) }
        section.card {
            h2 { (lang.t("人均纯收入分布（已走访农户）", "Income per person (visited households)")) }
            (chart::bars("income-distribution", lang.t("人均纯收入分布", "Income distribution"), &bands, 1,
                Some(Marker { before: line_band, text: &line_text })))
        }
        .chips {
            a href={ "/console/households?" (prefix) "filter=below_line&sort=income" } { (lang.t("只看低于收入线", "Below the line only")) }
            @for category in ["unstable", "edge", "sudden_hardship"] {
                a href={ "/console/households?" (prefix) "risk=" (category) "&sort=income" } { (lang.risk(category)) }
            }
        }
        (table(lang, "risk", &risk.list))
        (layout::pager(lang, number, PAGE_SIZE, risk.list.total, |page| {
            format!("/console/risk?{prefix}page={page}")
        }))
    };
    ctx.html(layout::page(
        &ctx.shell(),
        lang.t("监测对象", "At risk"),
        Nav::Risk,
        body,
    ))
}

/// How far ahead the coming-home page looks by default.
const AHEAD_DAYS: i64 = 60;
/// Members listed on one page.
const MIGRANTS_PAGE: u64 = 200;

pub(super) async fn coming_home(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(query): Query<AreaQuery>,
) -> Response {
    let lang = ctx.lang;
    let today = Utc::now().date_naive();
    let date = |text: Option<&str>, default: NaiveDate| -> Result<NaiveDate, String> {
        match text.filter(|text| !text.is_empty()) {
            None => Ok(default),
            Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| format!("{text:?} is not a date (YYYY-MM-DD)")),
        }
    };
    let (from, to) = match (
        date(query.from.as_deref(), today),
        date(query.to.as_deref(), today + Duration::days(AHEAD_DAYS)),
    ) {
        (Ok(from), Ok(to)) if from <= to => (from, to),
        (Ok(_), Ok(_)) => return ctx.bad_request("the first date is after the last"),
        (Err(problem), _) | (_, Err(problem)) => return ctx.bad_request(&problem),
    };
    let number = query.page.unwrap_or(1).max(1);
    let area = query.area.clone().filter(|area| !area.is_empty());
    let wanted = MigrantsQuery {
        area: area.clone(),
        from: from.format("%Y-%m-%d").to_string(),
        to: to.format("%Y-%m-%d").to_string(),
    };
    let store = Arc::clone(&state.store);
    let scope = ctx.scope.clone();
    let outcome = blocking(move || {
        let found = store.migrants_page(&scope, &wanted, Page::number(number, MIGRANTS_PAGE))?;
        let path = match &wanted.area {
            Some(area) => store.area_path(&scope, area)?,
            None => Vec::new(),
        };
        Ok((found, path))
    })
    .await;
    let ((rows, total), path) = match outcome {
        Ok(found) => found,
        Err(error) => return ctx.fail(error),
    };
    let mut days: Vec<(&str, Vec<&crate::store::browse::MigrantRow>)> = Vec::new();
    for row in &rows {
        let day = row.return_date.as_deref().unwrap_or("");
        match days.last_mut() {
            Some((last, members)) if *last == day => members.push(row),
            _ => days.push((day, vec![row])),
        }
    }
    let prefix = area_param(area.as_deref());
    let body = html! {
        (layout::crumbs(lang, "/console/coming-home", &path, ctx.scope.is_all(), None))
        h1 { (lang.t("外出务工人员返乡", "Members coming home")) }
        form.filters method="get" action="/console/coming-home" {
            @if let Some(area) = &area { input type="hidden" name="area" value=(area); }
            div { label for="from" { (lang.t("从", "From")) } input #from type="date" name="from" value=(from); }
            div { label for="to" { (lang.t("到", "To")) } input #to type="date" name="to" value=(to); }
            button type="submit" { (lang.t("查看", "Show")) }
        }
        p.muted { (lang.number(total)) (lang.t(" 人预计在此期间返乡。", " members are expected home in these dates.")) }
        @for (day, members) in &days {
            section.return-day.card data-date=(day) {
                h2 { (day) " · " (members.len()) (lang.t(" 人", " members")) }
                .table { table {
                    thead { tr {
                        th { (lang.t("姓名", "Name")) }
                        th { (lang.t("户主", "Household")) }
                        th { (lang.t("村组", "Village")) }
                        th { (lang.t("务工地", "Works in")) }
                        th.hide-narrow { (lang.t("单位或行业", "Employer or trade")) }
                    } }
                    tbody {
                        @for member in members {
                            tr.migrant {
                                td { (member.name.as_deref().unwrap_or("")) }
                                td { a href={ "/console/households/" (member.household_id) } { (member.head_name) } }
                                td { (member.village) " " (member.group) }
                                td { (member.city.as_deref().unwrap_or("")) }
                                td.hide-narrow { (member.employer.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                } }
            }
        }
        (layout::pager(lang, number, MIGRANTS_PAGE, total, |page| {
            format!("/console/coming-home?{prefix}from={from}&to={to}&page={page}")
        }))
    };
    ctx.html(layout::page(
        &ctx.shell(),
        lang.t("返乡", "Coming home"),
        Nav::ComingHome,
        body,
    ))
}
