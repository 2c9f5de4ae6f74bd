//! The console's lists: households (search, filters, sort), the at-risk
//! list with its income distribution, and members coming home by date.

use doorstep_core::store::normalise_search;
use serde::Serialize;

use super::{Page, area_path, by_code_point, contains_sql, under_area_sql};
use crate::store::db::{Row, ToValue, Tx, Value};
use crate::store::{Scope, ServerStore, StoreResult};

/// The 2020 line the campaign checks against: 10,000 yuan net income per
/// person and year (docs/forms.md).
pub const INCOME_LINE: f64 = 10_000.0;

/// Which households a list keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HouseholdFilter {
    #[default]
    All,
    /// Never visited.
    Unvisited,
    /// The latest visit puts it below the income line.
    BelowLine,
    /// A risk category other than "none" (三类对象).
    Risk,
    Relocated,
    /// At least one of 两不愁三保障 or safe drinking water not met.
    Gap,
}

impl HouseholdFilter {
    pub const ALL: [HouseholdFilter; 6] = [
        HouseholdFilter::All,
        HouseholdFilter::Unvisited,
        HouseholdFilter::BelowLine,
        HouseholdFilter::Risk,
        HouseholdFilter::Relocated,
        HouseholdFilter::Gap,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HouseholdFilter::All => "all",
            HouseholdFilter::Unvisited => "unvisited",
            HouseholdFilter::BelowLine => "below_line",
            HouseholdFilter::Risk => "risk",
            HouseholdFilter::Relocated => "relocated",
            HouseholdFilter::Gap => "gap",
        }
    }

    pub fn parse(text: &str) -> Option<HouseholdFilter> {
        HouseholdFilter::ALL
            .into_iter()
            .find(|filter| filter.as_str() == text)
    }

    fn sql(self) -> &'static str {
        match self {
            HouseholdFilter::All => "TRUE",
            HouseholdFilter::Unvisited => "f.visits = 0",
            HouseholdFilter::BelowLine => "f.below_line = 1",
            HouseholdFilter::Risk => "f.risk_category IS NOT NULL AND f.risk_category <> 'none'",
            HouseholdFilter::Relocated => "f.relocated = 1",
            HouseholdFilter::Gap => "(f.assurance_gaps > 0 OR f.water_unsafe = 1)",
        }
    }
}

/// How a household list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HouseholdSort {
    /// By village, group and head's name.
    #[default]
    Place,
    /// Longest unvisited first (never visited at the top).
    LastVisit,
    /// Lowest per-capita income first.
    Income,
}

impl HouseholdSort {
    pub const ALL: [HouseholdSort; 3] = [
        HouseholdSort::Place,
        HouseholdSort::LastVisit,
        HouseholdSort::Income,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HouseholdSort::Place => "place",
            HouseholdSort::LastVisit => "last_visit",
            HouseholdSort::Income => "income",
        }
    }

    pub fn parse(text: &str) -> Option<HouseholdSort> {
        HouseholdSort::ALL
            .into_iter()
            .find(|sort| sort.as_str() == text)
    }

    /// The ORDER BY list: every order ends with the household's id, so a
    /// page is the same on every backend. Names and groups sort by code
    /// point (SQLite's BINARY) on PostgreSQL too.
    fn sql(self, tx: &Tx<'_>) -> String {
        match self {
            HouseholdSort::Place => {
                let collate = by_code_point(tx);
                format!("f.village_code, f.group_name{collate}, h.head_name{collate}, h.id")
            }
            HouseholdSort::LastVisit => "f.last_visit_at IS NOT NULL, f.last_visit_at, h.id".into(),
            HouseholdSort::Income => {
                "f.per_capita_income IS NULL, f.per_capita_income, h.id".into()
            }
        }
    }
}

/// A household as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HouseholdRow {
    pub id: String,
    pub head_name: String,
    pub village: String,
    pub group: String,
    pub members: i64,
    pub visits: u64,
    pub last_visit_at: Option<String>,
    pub per_capita_income: Option<f64>,
    pub below_line: Option<bool>,
    pub risk_category: Option<String>,
    pub relocated: Option<bool>,
    pub assurance_gaps: Option<i64>,
    pub water_unsafe: Option<bool>,
}

/// Which households a list shows, and in which order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HouseholdQuery {
    /// An area in the scope (any level), and a group of a village.
    pub area: Option<String>,
    pub group: Option<String>,
    pub filter: HouseholdFilter,
    /// One risk category (三类对象) of the latest visit.
    pub risk_category: Option<String>,
    /// The phone's rule: a substring of head, ID-card suffix, phone,
    /// address, village or group, case and spaces ignored.
    pub search: Option<String>,
    pub sort: HouseholdSort,
}

/// One page of households and how many match in all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HouseholdList {
    pub rows: Vec<HouseholdRow>,
    pub total: u64,
}

/// Households' per-capita incomes in bands of 2,000 yuan, for the chart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct IncomeBucket {
    /// The band's lower bound (yuan a person a year).
    pub from: f64,
    pub households: u64,
}

/// The at-risk page: the list and the distribution of incomes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskList {
    pub list: HouseholdList,
    pub distribution: Vec<IncomeBucket>,
}

/// A member working away from home, from the household's latest visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrantRow {
    pub household_id: String,
    pub head_name: String,
    pub village: String,
    pub group: String,
    pub name: Option<String>,
    pub destination: Option<String>,
    pub city: Option<String>,
    pub employer: Option<String>,
    pub return_date: Option<String>,
}

/// Which members coming home to list: return dates in `[from, to]`
/// (`YYYY-MM-DD`), in an area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrantsQuery {
    pub area: Option<String>,
    pub from: String,
    pub to: String,
}

/// Income bands of the chart: 0–2,000, …, 18,000–20,000, and 20,000 up.
const BAND: f64 = 2_000.0;
const BANDS: usize = 11;

/// The band of the income in `column`, as an SQL expression: a ladder of
/// comparisons (a cast of the quotient would truncate on SQLite and round
/// on PostgreSQL). Incomes below zero count in the first band.
fn band_sql(column: &str) -> String {
    let steps: String = (1..BANDS)
        .map(|band| format!("WHEN {column} < {} THEN {} ", band as f64 * BAND, band - 1))
        .collect();
    format!("CASE {steps}ELSE {} END", BANDS - 1)
}

/// The WHERE clause for an area in the scope, a group, a filter and a
/// search, with its parameters.
struct Where {
    sql: String,
    params: Vec<Value>,
}

impl Where {
    /// Binds `text` as the next parameter; returns its placeholder.
    fn bind(&mut self, text: &str) -> String {
        self.params.push(Value::Text(text.to_owned()));
        format!("?{}", self.params.len())
    }

    /// Keeps only the rows `condition` also holds for.
    fn and(&mut self, condition: &str) {
        self.sql = format!("{} AND {condition}", self.sql);
    }

    /// The parameters, then `more`.
    fn params<'a>(&'a self, more: &'a [&'a dyn ToValue]) -> Vec<&'a dyn ToValue> {
        self.params
            .iter()
            .map(|value| value as &dyn ToValue)
            .chain(more.iter().copied())
            .collect()
    }
}

fn household_where(
    tx: &Tx<'_>,
    scope: &Scope,
    area: Option<&str>,
    group: Option<&str>,
    filter: HouseholdFilter,
    search: Option<&str>,
) -> StoreResult<Where> {
    let mut clause = Where {
        sql: format!(
            "{} AND {}",
            scope.villages_sql("f.village_code"),
            filter.sql()
        ),
        params: Vec::new(),
    };
    if let Some(area) = area {
        // "Not found" outside the scope.
        area_path(tx, scope, area)?;
        let area = clause.bind(area);
        clause.and(&under_area_sql("f.village_code", &area));
    }
    if let Some(group) = group {
        let group = clause.bind(group);
        clause.and(&format!("f.group_name = {group}"));
    }
    if let Some(query) = search
        .map(normalise_search)
        .filter(|query| !query.is_empty())
    {
        let query = clause.bind(&query);
        clause.and(&contains_sql(tx, "f.search_text", &query));
    }
    Ok(clause)
}

const ROW_COLUMNS: &str = "h.id, h.head_name, a.name, f.group_name, h.members, f.visits, f.last_visit_at,
     f.per_capita_income, f.below_line, f.risk_category, f.relocated, f.assurance_gaps, f.water_unsafe";

fn household_row(row: &Row<'_>) -> StoreResult<HouseholdRow> {
    let flag = |index: usize| -> StoreResult<Option<bool>> {
        Ok(row.get::<Option<i64>>(index)?.map(|value| value == 1))
    };
    Ok(HouseholdRow {
        id: row.get(0)?,
        head_name: row.get(1)?,
        village: row.get(2)?,
        group: row.get(3)?,
        members: row.get(4)?,
        visits: row.get::<i64>(5)?.unsigned_abs(),
        last_visit_at: row.get(6)?,
        per_capita_income: row.get(7)?,
        below_line: flag(8)?,
        risk_category: row.get(9)?,
        relocated: flag(10)?,
        assurance_gaps: row.get(11)?,
        water_unsafe: flag(12)?,
    })
}

fn household_page(
    tx: &Tx<'_>,
    filter: &Where,
    sort: HouseholdSort,
    page: Page,
) -> StoreResult<HouseholdList> {
    let from = "FROM household_facts f JOIN households h ON h.id = f.household_id
                JOIN areas a ON a.code = f.village_code";
    let total: i64 = tx.value(
        &format!("SELECT count(*) {from} WHERE {}", filter.sql),
        &filter.params(&[]),
    )?;
    let [limit, offset] = page.params();
    let rows = tx.query(
        &format!(
            "SELECT {ROW_COLUMNS} {from} WHERE {} ORDER BY {} {}",
            filter.sql,
            sort.sql(tx),
            Page::sql(filter.params.len() + 1)
        ),
        &filter.params(&[&limit, &offset]),
        household_row,
    )?;
    Ok(HouseholdList {
        rows,
        total: total.unsigned_abs(),
    })
}

impl ServerStore {
    /// Households in the scope that `query` keeps, one page of them.
    pub fn households_page(
        &self,
        scope: &Scope,
        query: &HouseholdQuery,
        page: Page,
    ) -> StoreResult<HouseholdList> {
        self.read(|tx| {
            let mut filter = household_where(
                tx,
                scope,
                query.area.as_deref(),
                query.group.as_deref(),
                query.filter,
                query.search.as_deref(),
            )?;
            if let Some(category) = &query.risk_category {
                let category = filter.bind(category);
                filter.and(&format!("f.risk_category = {category}"));
            }
            household_page(tx, &filter, query.sort, page)
        })
    }

    /// Households below the line or in a risk category, lowest income
    /// first, and the distribution of every visited household's income.
    pub fn risk_page(
        &self,
        scope: &Scope,
        area: Option<&str>,
        page: Page,
    ) -> StoreResult<RiskList> {
        self.read(|tx| {
            let all = household_where(tx, scope, area, None, HouseholdFilter::All, None)?;
            let at_risk = Where {
                sql: format!(
                    "{} AND (f.below_line = 1 OR (f.risk_category IS NOT NULL AND f.risk_category <> 'none'))",
                    all.sql
                ),
                params: all.params.clone(),
            };
            let list = household_page(tx, &at_risk, HouseholdSort::Income, page)?;
            let mut distribution: Vec<IncomeBucket> = (0..BANDS)
                .map(|band| IncomeBucket {
                    from: band as f64 * BAND,
                    households: 0,
                })
                .collect();
            let counts: Vec<(i64, i64)> = tx.query(
                &format!(
                    "SELECT band, count(*) FROM (
                         SELECT {band} AS band FROM household_facts f
                         WHERE {all} AND f.per_capita_income IS NOT NULL) banded
                     GROUP BY band",
                    band = band_sql("f.per_capita_income"),
                    all = all.sql,
                ),
                &all.params(&[]),
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            for (band, households) in counts {
                if let Some(bucket) = usize::try_from(band)
                    .ok()
                    .and_then(|band| distribution.get_mut(band))
                {
                    bucket.households = households.unsigned_abs();
                }
            }
            Ok(RiskList { list, distribution })
        })
    }

    /// Members coming home between two dates, by date, then village.
    pub fn migrants_page(
        &self,
        scope: &Scope,
        query: &MigrantsQuery,
        page: Page,
    ) -> StoreResult<(Vec<MigrantRow>, u64)> {
        self.read(|tx| {
            let mut filter =
                household_where(tx, scope, query.area.as_deref(), None, HouseholdFilter::All, None)?;
            let (first, last) = (filter.bind(&query.from), filter.bind(&query.to));
            filter.and(&format!("m.return_date BETWEEN {first} AND {last}"));
            let from = format!(
                "FROM household_migrants m JOIN household_facts f ON f.household_id = m.household_id
                 WHERE {}",
                filter.sql
            );
            let total: i64 = tx.value(&format!("SELECT count(*) {from}"), &filter.params(&[]))?;
            // The return-date index gives the order; households and areas
            // are read for the page's rows only.
            let [limit, offset] = page.params();
            let rows = tx.query(
                &format!(
                    "SELECT h.id, h.head_name, a.name, p.group_name, p.name, p.destination, p.city, p.employer, p.return_date
                     FROM (SELECT m.*, f.village_code, f.group_name {from}
                           ORDER BY m.return_date, m.household_id, m.position {}) p
                     JOIN households h ON h.id = p.household_id JOIN areas a ON a.code = p.village_code
                     ORDER BY p.return_date, p.household_id, p.position",
                    Page::sql(filter.params.len() + 1)
                ),
                &filter.params(&[&limit, &offset]),
                |row| {
                    Ok(MigrantRow {
                        household_id: row.get(0)?,
                        head_name: row.get(1)?,
                        village: row.get(2)?,
                        group: row.get(3)?,
                        name: row.get(4)?,
                        destination: row.get(5)?,
                        city: row.get(6)?,
                        employer: row.get(7)?,
                        return_date: row.get(8)?,
                    })
                },
            )?;
            Ok((rows, total.unsigned_abs()))
        })
    }
}
