//! The households pages: the list (search, filters, sort, pages) and one
//! household (its fields with their history, its visits with answers).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::i18n::Lang;
use super::layout::{self, Nav, urlencode};
use super::{Ctx, blocking};
use crate::app::AppState;
use crate::store::browse::{
    HouseholdFilter, HouseholdList, HouseholdPage, HouseholdQuery, HouseholdRow, HouseholdSort,
    Page,
};
use crate::store::{NamedFile, StoreError};

/// Rows on one page of a list.
pub(super) const PAGE_SIZE: u64 = 50;

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    q: Option<String>,
    area: Option<String>,
    group: Option<String>,
    filter: Option<String>,
    risk: Option<String>,
    sort: Option<String>,
    page: Option<u64>,
}

impl ListQuery {
    /// This list's address with other parameters.
    fn link(&self, filter: Option<&str>, sort: Option<&str>, page: u64) -> String {
        let mut parts = Vec::new();
        let mut push = |name: &str, value: Option<&str>| {
            if let Some(value) = value.filter(|value| !value.is_empty()) {
                parts.push(format!("{name}={}", urlencode(value)));
            }
        };
        push("q", self.q.as_deref());
        push("area", self.area.as_deref());
        push("group", self.group.as_deref());
        push("filter", filter);
        push("risk", self.risk.as_deref());
        push("sort", sort);
        if page > 1 {
            parts.push(format!("page={page}"));
        }
        if parts.is_empty() {
            "/console/households".to_owned()
        } else {
            format!("/console/households?{}", parts.join("&"))
        }
    }
}

fn filter_label(lang: Lang, filter: HouseholdFilter) -> &'static str {
    match filter {
        HouseholdFilter::All => lang.t("全部", "All"),
        HouseholdFilter::Unvisited => lang.t("未走访", "Not yet visited"),
        HouseholdFilter::BelowLine => lang.t("低于收入线", "Below the line"),
        HouseholdFilter::Risk => lang.t("监测对象", "At risk"),
        HouseholdFilter::Relocated => lang.t("易地搬迁", "Relocated"),
        HouseholdFilter::Gap => lang.t("两不愁三保障缺口", "Assurance gap"),
    }
}

fn sort_label(lang: Lang, sort: HouseholdSort) -> &'static str {
    match sort {
        HouseholdSort::Place => lang.t("按地区", "By place"),
        HouseholdSort::LastVisit => lang.t("最久未走访", "Longest unvisited"),
        HouseholdSort::Income => lang.t("人均收入最低", "Lowest income"),
    }
}

pub(super) async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(query): Query<ListQuery>,
) -> Response {
    let lang = ctx.lang;
    let filter = match query.filter.as_deref().filter(|text| !text.is_empty()) {
        None => HouseholdFilter::All,
        Some(text) => match HouseholdFilter::parse(text) {
            Some(filter) => filter,
            None => return ctx.bad_request(&format!("unknown filter {text:?}")),
        },
    };
    let sort = match query.sort.as_deref().filter(|text| !text.is_empty()) {
        None => HouseholdSort::Place,
        Some(text) => match HouseholdSort::parse(text) {
            Some(sort) => sort,
            None => return ctx.bad_request(&format!("unknown sort {text:?}")),
        },
    };
    let number = query.page.unwrap_or(1).max(1);
    let wanted = HouseholdQuery {
        area: query.area.clone().filter(|area| !area.is_empty()),
        group: query.group.clone().filter(|group| !group.is_empty()),
        filter,
        risk_category: query.risk.clone().filter(|risk| !risk.is_empty()),
        search: query.q.clone().filter(|q| !q.trim().is_empty()),
        sort,
    };
    let store = Arc::clone(&state.store);
    let scope = ctx.scope.clone();
    let area = wanted.area.clone();
    let outcome = blocking(move || {
        let list = store.households_page(&scope, &wanted, Page::number(number, PAGE_SIZE))?;
        let path = match &area {
            Some(area) => store.area_path(&scope, area)?,
            None => Vec::new(),
        };
        Ok((list, path))
    })
    .await;
    let (list, path) = match outcome {
        Ok(found) => found,
        Err(error) => return ctx.fail(error),
    };
    let admin = ctx.scope.is_all();
    let body = html! {
        (layout::crumbs(lang, "/console/households", &path, admin, query.group.as_deref()))
        h1 { (lang.t("农户", "Households")) }
        form #search .filters method="get" action="/console/households" {
            @if let Some(area) = &query.area { input type="hidden" name="area" value=(area); }
            @if let Some(group) = &query.group { input type="hidden" name="group" value=(group); }
            @if filter != HouseholdFilter::All { input type="hidden" name="filter" value=(filter.as_str()); }
            div {
                label for="q" { (lang.t("户主、身份证后四位、电话或地址", "Head, ID-card suffix, phone or address")) }
                input #q type="search" name="q" value=(query.q.as_deref().unwrap_or("")) placeholder=(lang.t("搜索", "Search"));
            }
            div {
                label for="sort" { (lang.t("排序", "Sort")) }
                select #sort name="sort" {
                    @for option in HouseholdSort::ALL {
                        option value=(option.as_str()) selected[option == sort] { (sort_label(lang, option)) }
                    }
                }
            }
            button type="submit" { (lang.t("搜索", "Search")) }
        }
        .chips {
            @for option in HouseholdFilter::ALL {
                a href=(query.link(Some(option.as_str()).filter(|_| option != HouseholdFilter::All), Some(sort.as_str()), 1))
                    class=[(option == filter).then_some("active")] { (filter_label(lang, option)) }
            }
        }
        (table(lang, "households", &list))
        (layout::pager(lang, number, PAGE_SIZE, list.total, |page| {
            query.link(Some(filter.as_str()).filter(|_| filter != HouseholdFilter::All), Some(sort.as_str()), page)
        }))
    };
    ctx.html(layout::page(
        &ctx.shell(),
        lang.t("农户", "Households"),
        Nav::Households,
        body,
    ))
}

/// A table of households (`table#ID`), shared by the list and the
/// at-risk page.
pub(super) fn table(lang: Lang, id: &str, list: &HouseholdList) -> Markup {
    html! {
        .table {
            table id=(id) {
                thead { tr {
                    th { (lang.t("户主", "Head")) }
                    th { (lang.t("村", "Village")) }
                    th.hide-narrow { (lang.t("组", "Group")) }
                    th.num { (lang.t("人口", "Members")) }
                    th { (lang.t("最近走访", "Last visit")) }
                    th.num { (lang.t("人均纯收入", "Income per person")) }
                    th { (lang.t("状态", "Status")) }
                } }
                tbody {
                    @for row in &list.rows {
                        tr.household data-household-id=(row.id) {
                            td { a.household-link href={ "/console/households/" (row.id) } { (row.head_name) } }
                            td { (row.village) }
                            td.hide-narrow { (row.group) }
                            td.num { (row.members) }
                            td { @match &row.last_visit_at {
                                Some(at) => { (at.get(..10).unwrap_or(at)) }
                                None => { span.badge.warn { (lang.t("未走访", "not yet")) } }
                            } }
                            td.num { @if let Some(income) = row.per_capita_income { (lang.yuan(income)) } }
                            td.wrap { (badges(lang, row)) }
                        }
                    }
                    @if list.rows.is_empty() {
                        tr { td colspan="7" .muted { (lang.t("没有符合条件的农户。", "No household matches.")) } }
                    }
                }
            }
        }
    }
}

fn badges(lang: Lang, row: &HouseholdRow) -> Markup {
    html! {
        @if row.below_line == Some(true) { span.badge.bad { (lang.t("低于收入线", "below line")) } " " }
        @if let Some(risk) = row.risk_category.as_deref().filter(|risk| *risk != "none") {
            span.badge.warn { (lang.risk(risk)) } " "
        }
        @if row.relocated == Some(true) { span.badge { (lang.t("搬迁户", "relocated")) } " " }
        @if row.assurance_gaps.unwrap_or(0) > 0 || row.water_unsafe == Some(true) {
            span.badge.bad { (lang.t("保障缺口", "gap")) }
        }
    }
}

pub(super) async fn one(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return ctx.fail(StoreError::NotFound(format!(
            "household {id} is not known here"
        )));
    };
    let store = Arc::clone(&state.store);
    let scope = ctx.scope.clone();
    let language = ctx.lang.code();
    let page = match blocking(move || store.household_page(&scope, id, language)).await {
        Ok(page) => page,
        Err(error) => return ctx.fail(error),
    };
    let store = Arc::clone(&state.store);
    let visit_ids: Vec<String> = page.visits.iter().map(|visit| visit.id.clone()).collect();
    let files = match blocking(move || store.files_of_visits(&visit_ids)).await {
        Ok(files) => files,
        Err(error) => return ctx.fail(error),
    };
    let lang = ctx.lang;
    let body = household(lang, ctx.scope.is_all(), &page, &files);
    ctx.html(layout::page(
        &ctx.shell(),
        &page.record.head_name,
        Nav::Households,
        body,
    ))
}

fn household(
    lang: Lang,
    admin: bool,
    page: &HouseholdPage,
    files: &HashMap<String, Vec<NamedFile>>,
) -> Markup {
    let record = &page.record;
    html! {
        (layout::crumbs(lang, "/console/households", &page.path, admin, Some(&record.group)))
        h1 { (record.head_name) }
        section #fields .card {
            h2 { (lang.t("基本信息", "Household")) }
            dl.answers {
                dt { (lang.t("身份证后四位", "ID-card suffix")) } dd { (record.id_card_suffix) }
                dt { (lang.t("村民小组", "Group")) } dd { (record.group) }
                dt { (lang.t("人口", "Members")) } dd { (record.members) }
                dt { (lang.t("电话", "Phone")) } dd { (record.phone) }
                dt { (lang.t("地址", "Address")) } dd { (record.address) }
                dt { (lang.t("类别", "Category")) } dd { (record.category) }
                dt { (lang.t("版本", "Version")) } dd { (record.version) }
            }
        }
        section #history .card {
            h2 { (lang.t("修改记录", "Changes")) }
            @if page.history.is_empty() {
                p.muted { (lang.t("导入后未被修改。", "Unchanged since it was imported.")) }
            } @else {
                .table { table {
                    thead { tr {
                        th { (lang.t("时间", "When")) }
                        th { (lang.t("字段", "Field")) }
                        th { (lang.t("新值", "Value")) }
                        th { (lang.t("修改人", "By")) }
                        th.num { (lang.t("版本", "Version")) }
                    } }
                    tbody {
                        @for change in &page.history {
                            tr {
                                td { (change.changed_at.get(..16).unwrap_or(&change.changed_at).replace('T', " ")) }
                                td { (change.field) }
                                td.wrap { (value_text(&change.value)) }
                                td { @match (&change.cadre, &change.device) {
                                    (Some(cadre), Some(device)) => { (cadre) " · " span.muted { (device) } }
                                    _ => { span.muted { (lang.t("服务器（导入或复核）", "server (import or review)")) } }
                                } }
                                td.num { (change.version) }
                            }
                        }
                    }
                } }
            }
        }
        section #visits .card {
            h2 { (lang.t("走访记录", "Visits")) " (" (page.visit_count) ")" }
            @if page.visits.is_empty() {
                p.muted { (lang.t("尚未走访。", "Not visited yet.")) }
            }
            @for visit in &page.visits {
                article.visit id={ "visit-" (visit.id) } data-visit-id=(visit.id) {
                    h3 {
                        (visit.recorded_at.get(..16).unwrap_or(&visit.recorded_at).replace('T', " "))
                        " · " (visit.cadre) " · " span.muted { (visit.device) }
                    }
                    p.muted {
                        (visit.form)
                        @if let Some(corrected) = &visit.corrects {
                            " · " (lang.t("更正了", "corrects")) " "
                            a href={ "#visit-" (corrected) } { (corrected.get(..8).unwrap_or(corrected)) }
                        }
                        @for later in &visit.corrected_by {
                            " · " (lang.t("已被更正：", "corrected by ")) " "
                            a href={ "#visit-" (later) } { (later.get(..8).unwrap_or(later)) }
                        }
                    }
                    dl.answers {
                        @for line in &visit.answers {
                            @match &line.value {
                                None => { dt.heading style={ "padding-left:" (line.depth) "rem" } { (line.label) } }
                                Some(value) => {
                                    dt style={ "padding-left:" (line.depth) "rem" } { (line.label) }
                                    dd { (value) }
                                }
                            }
                        }
                    }
                    @if let Some(named) = files.get(&visit.id) {
                        (visit_files(lang, named))
                    }
                }
            }
        }
    }
}

/// A visit's files: a link (a thumbnail for a picture) to each one that
/// arrived, a "pending" badge for each one still on its way.
fn visit_files(lang: Lang, named: &[NamedFile]) -> Markup {
    html! {
        ul.files {
            @for file in named {
                li data-file=(file.sha256) {
                    @match &file.media_type {
                        Some(media_type) => {
                            a href={ "/console/files/" (file.sha256) } {
                                @if super::files::shown_inline(media_type) && media_type.starts_with("image/") {
                                    img src={ "/console/files/" (file.sha256) } alt=(lang.t("照片", "photo"))
                                        style="max-width:8rem;max-height:8rem";
                                } @else {
                                    (lang.t("文件", "file")) " " (file.sha256.get(..12).unwrap_or(&file.sha256))
                                }
                            }
                        }
                        None => {
                            span.muted { (lang.t("文件", "file")) " " (file.sha256.get(..12).unwrap_or(&file.sha256)) " " }
                            span.badge.warn.pending { (lang.t("待上传", "pending")) }
                        }
                    }
                }
            }
        }
    }
}

fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
