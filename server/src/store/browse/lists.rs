//! The console's lists: households (search, filters, sort), the at-risk
//! list with its income distribution, and members coming home by date.

use doorstep_core::store::normalise_search;
use rusqlite::{Connection, params_from_iter, types::Value as SqlValue};
use serde::Serialize;

use super::{Page, area_path};
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
            HouseholdFilter::All => "1",
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

    fn sql(self) -> &'static str {
        match self {
            HouseholdSort::Place => "f.village_code, f.group_name, h.head_name, h.id",
            HouseholdSort::LastVisit => "f.last_visit_at IS NOT NULL, f.last_visit_at, h.id",
            HouseholdSort::Income => "f.per_capita_income IS NULL, f.per_capita_income, h.id",
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

/// The WHERE clause for an area in the scope, a group, a filter and a
/// search, with its parameters.
struct Where {
    sql: String,
    params: Vec<SqlValue>,
}

fn household_where(
    connection: &Connection,
    scope: &Scope,
    area: Option<&str>,
    group: Option<&str>,
    filter: HouseholdFilter,
    search: Option<&str>,
) -> StoreResult<Where> {
    let mut clauses = vec![
        scope.villages_sql("f.village_code"),
        filter.sql().to_owned(),
    ];
    let mut params = Vec::new();
    if let Some(area) = area {
        area_path(connection, scope, area)?;
        clauses.push(Scope::Area(area.to_owned()).villages_sql("f.village_code"));
    }
    if let Some(group) = group {
        params.push(SqlValue::Text(group.to_owned()));
        clauses.push(format!("f.group_name = ?{}", params.len()));
    }
    if let Some(query) = search
        .map(normalise_search)
        .filter(|query| !query.is_empty())
    {
        params.push(SqlValue::Text(query));
        clauses.push(format!("instr(f.search_text, ?{}) > 0", params.len()));
    }
    Ok(Where {
        sql: clauses.join(" AND "),
        params,
    })
}

const ROW_COLUMNS: &str = "h.id, h.head_name, a.name, f.group_name, h.members, f.visits, f.last_visit_at,
     f.per_capita_income, f.below_line, f.risk_category, f.relocated, f.assurance_gaps, f.water_unsafe";

fn household_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<HouseholdRow> {
    let flag = |index: usize| -> rusqlite::Result<Option<bool>> {
        Ok(row.get::<_, Option<i64>>(index)?.map(|value| value == 1))
    };
    Ok(HouseholdRow {
        id: row.get(0)?,
        head_name: row.get(1)?,
        village: row.get(2)?,
        group: row.get(3)?,
        members: row.get(4)?,
        visits: row.get::<_, i64>(5)?.unsigned_abs(),
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
    connection: &Connection,
    filter: &Where,
    sort: HouseholdSort,
    page: Page,
) -> StoreResult<HouseholdList> {
    let from = "FROM household_facts f JOIN households h ON h.id = f.household_id
                JOIN areas a ON a.code = f.village_code";
    let total: i64 = connection
        .prepare(&format!("SELECT count(*) {from} WHERE {}", filter.sql))?
        .query_row(params_from_iter(&filter.params), |row| row.get(0))?;
    let mut statement = connection.prepare(&format!(
        "SELECT {ROW_COLUMNS} {from} WHERE {} ORDER BY {} {}",
        filter.sql,
        sort.sql(),
        page.sql()
    ))?;
    let rows = statement
        .query_map(params_from_iter(&filter.params), household_row)?
        .collect::<rusqlite::Result<_>>()?;
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
        self.read_legacy(|connection| {
            let mut filter = household_where(
                connection,
                scope,
                query.area.as_deref(),
                query.group.as_deref(),
                query.filter,
                query.search.as_deref(),
            )?;
            if let Some(category) = &query.risk_category {
                filter.params.push(SqlValue::Text(category.clone()));
                filter.sql = format!(
                    "{} AND f.risk_category = ?{}",
                    filter.sql,
                    filter.params.len()
                );
            }
            household_page(connection, &filter, query.sort, page)
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
        self.read_legacy(|connection| {
            let mut filter = household_where(
                connection,
                scope,
                area,
                None,
                HouseholdFilter::All,
                None,
            )?;
            let all = filter.sql.clone();
            filter.sql = format!(
                "{all} AND (f.below_line = 1 OR (f.risk_category IS NOT NULL AND f.risk_category <> 'none'))"
            );
            let list = household_page(connection, &filter, HouseholdSort::Income, page)?;
            let mut distribution: Vec<IncomeBucket> = (0..BANDS)
                .map(|band| IncomeBucket {
                    from: band as f64 * BAND,
                    households: 0,
                })
                .collect();
            let mut statement = connection.prepare(&format!(
                "SELECT min(CAST(max(f.per_capita_income, 0) / {BAND} AS INTEGER), {last}), count(*)
                 FROM household_facts f WHERE {all} AND f.per_capita_income IS NOT NULL
                 GROUP BY 1",
                last = BANDS - 1
            ))?;
            let counts = statement.query_map(params_from_iter(&filter.params), |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
            })?;
            for count in counts {
                let (band, households) = count?;
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
        self.read_legacy(|connection| {
            let filter = household_where(
                connection,
                scope,
                query.area.as_deref(),
                None,
                HouseholdFilter::All,
                None,
            )?;
            let from = format!(
                "FROM household_migrants m JOIN household_facts f ON f.household_id = m.household_id
                 WHERE m.return_date BETWEEN ?{} AND ?{} AND {}",
                filter.params.len() + 1,
                filter.params.len() + 2,
                filter.sql
            );
            let mut params = filter.params.clone();
            params.push(SqlValue::Text(query.from.clone()));
            params.push(SqlValue::Text(query.to.clone()));
            let total: i64 = connection
                .prepare(&format!("SELECT count(*) {from}"))?
                .query_row(params_from_iter(&params), |row| row.get(0))?;
            // The return-date index gives the order; households and areas
            // are read for the page's rows only.
            let mut statement = connection.prepare(&format!(
                "SELECT h.id, h.head_name, a.name, p.group_name, p.name, p.destination, p.city, p.employer, p.return_date
                 FROM (SELECT m.*, f.village_code, f.group_name {from}
                       ORDER BY m.return_date, m.household_id, m.position {}) p
                 JOIN households h ON h.id = p.household_id JOIN areas a ON a.code = p.village_code
                 ORDER BY p.return_date, p.household_id, p.position",
                page.sql()
            ))?;
            let rows = statement
                .query_map(params_from_iter(&params), |row| {
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
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok((rows, total.unsigned_abs()))
        })
    }
}
