//! Progress by area: households, visited, not yet visited and visited in
//! the last days, for each area below the one asked (county → township →
//! village), and for each group (村民小组) of a village; and visits per day.

use chrono::{DateTime, Duration, Utc};
use doorstep_core::sqlite::time_text;
use serde::Serialize;

use super::{AreaNode, area_path, by_code_point, under_area_sql};
use crate::store::db::{Row, ToValue, Tx};
use crate::store::{Scope, ServerStore, StoreResult};

/// How "recently visited" is counted: within this many days.
pub const RECENT_DAYS: i64 = 7;
/// Days the visits-per-day chart shows.
pub const CHART_DAYS: i64 = 30;

/// Households of an area, and how many were visited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub households: u64,
    /// With at least one visit.
    pub visited: u64,
    /// Whose latest visit is less than [`RECENT_DAYS`] old.
    pub recent: u64,
}

impl Counts {
    pub fn not_visited(&self) -> u64 {
        self.households.saturating_sub(self.visited)
    }

    /// Visited, in per cent (0 for an empty area).
    pub fn percent(&self) -> u64 {
        (self.visited * 100)
            .checked_div(self.households)
            .unwrap_or(0)
    }
}

/// What one row of the progress table is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProgressTarget {
    Area(AreaNode),
    /// A group (村民小组) of a village: households carry it as text.
    Group {
        village: String,
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgressRow {
    pub target: ProgressTarget,
    pub counts: Counts,
}

/// The progress page of one area (or of the whole server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// From the top of the caller's scope down to the area shown; empty
    /// for an admin's view of the whole server.
    pub path: Vec<AreaNode>,
    pub total: Counts,
    pub rows: Vec<ProgressRow>,
    /// Visits recorded per day (device's date), the last [`CHART_DAYS`]
    /// days up to `now`, oldest first, every day present.
    pub per_day: Vec<(String, u64)>,
}

impl ServerStore {
    /// Progress of `area` (or of the scope's top) as of `now`.
    pub fn progress(
        &self,
        scope: &Scope,
        area: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<Progress> {
        let area = match (area, scope) {
            (Some(area), _) => Some(area.to_owned()),
            (None, Scope::Area(own)) => Some(own.clone()),
            (None, Scope::All) => None,
        };
        self.read(|tx| {
            let path = match &area {
                Some(code) => area_path(tx, scope, code)?,
                None => Vec::new(),
            };
            let recent = time_text(now - Duration::days(RECENT_DAYS));
            let rows = match path.last() {
                Some(village) if village.level == "village" => groups(tx, &village.code, &recent)?,
                _ => children(tx, area.as_deref(), &recent)?,
            };
            let total = rows.iter().fold(Counts::default(), |sum, row| Counts {
                households: sum.households + row.counts.households,
                visited: sum.visited + row.counts.visited,
                recent: sum.recent + row.counts.recent,
            });
            let per_day = per_day(tx, scope, area.as_deref(), now)?;
            Ok(Progress {
                path,
                total,
                rows,
                per_day,
            })
        })
    }
}

/// Counts per child area of `area` (per top-level area without one).
fn children(tx: &Tx<'_>, area: Option<&str>, recent: &str) -> StoreResult<Vec<ProgressRow>> {
    // Every area below a child, mapped to that child; then the facts of
    // the villages among them, summed per child. Children without any
    // household are listed too.
    // Facts are summed per village first (an ordered scan of the
    // village index), then the few village sums per child. Sums are cast
    // back to 64-bit integers (PostgreSQL sums them as NUMERIC). The
    // children are found by an equality or IS NULL (the parent index
    // serves both; `IS NOT DISTINCT FROM` would scan on PostgreSQL).
    let (children, params): (&str, Vec<&dyn ToValue>) = match &area {
        Some(code) => ("parent_code = ?2", vec![&recent, code]),
        None => ("parent_code IS NULL", vec![&recent]),
    };
    tx.query(
        &format!(
        "WITH RECURSIVE below(code, root) AS (
             SELECT code, code FROM areas WHERE {children}
             UNION ALL
             SELECT areas.code, below.root FROM areas JOIN below ON areas.parent_code = below.code
         ),
         villages AS (
             SELECT village_code, count(*) AS households,
                    CAST(sum(CASE WHEN visits > 0 THEN 1 ELSE 0 END) AS BIGINT) AS visited,
                    CAST(sum(CASE WHEN last_visit_at >= ?1 THEN 1 ELSE 0 END) AS BIGINT) AS recent
             FROM household_facts GROUP BY village_code
         ),
         sums AS (
             SELECT below.root AS root, CAST(sum(v.households) AS BIGINT) AS households,
                    CAST(sum(v.visited) AS BIGINT) AS visited, CAST(sum(v.recent) AS BIGINT) AS recent
             FROM villages v JOIN below ON below.code = v.village_code
             GROUP BY below.root
         )
         SELECT a.code, a.name, a.level, coalesce(s.households, 0), coalesce(s.visited, 0), coalesce(s.recent, 0)
         FROM areas a LEFT JOIN sums s ON s.root = a.code
         WHERE a.{children} ORDER BY a.code"
        ),
        &params,
        |row| {
            Ok(ProgressRow {
                target: ProgressTarget::Area(AreaNode {
                    code: row.get(0)?,
                    name: row.get(1)?,
                    level: row.get(2)?,
                }),
                counts: counts(row, 3)?,
            })
        },
    )
}

/// Counts per group of a village, groups in code-point order.
fn groups(tx: &Tx<'_>, village: &str, recent: &str) -> StoreResult<Vec<ProgressRow>> {
    tx.query(
        &format!(
            "SELECT group_name, count(*), CAST(sum(CASE WHEN visits > 0 THEN 1 ELSE 0 END) AS BIGINT),
                    CAST(sum(CASE WHEN last_visit_at >= ?2 THEN 1 ELSE 0 END) AS BIGINT)
             FROM household_facts WHERE village_code = ?1 GROUP BY group_name
             ORDER BY group_name{}",
            by_code_point(tx)
        ),
        &[&village, &recent],
        |row| {
            Ok(ProgressRow {
                target: ProgressTarget::Group {
                    village: village.to_owned(),
                    name: row.get(0)?,
                },
                counts: counts(row, 1)?,
            })
        },
    )
}

fn counts(row: &Row<'_>, first: usize) -> StoreResult<Counts> {
    let count = |index: usize| -> StoreResult<u64> {
        Ok(row.get::<Option<i64>>(index)?.unwrap_or(0).unsigned_abs())
    };
    Ok(Counts {
        households: count(first)?,
        visited: count(first + 1)?,
        recent: count(first + 2)?,
    })
}

/// Visits recorded per day in the area (or the scope), the last
/// [`CHART_DAYS`] days.
fn per_day(
    tx: &Tx<'_>,
    scope: &Scope,
    area: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<Vec<(String, u64)>> {
    let first = (now - Duration::days(CHART_DAYS - 1)).date_naive();
    let first_day = first.format("%Y-%m-%d").to_string();
    // An area asked for is in the scope (its path was read): bound, so
    // one statement serves every area.
    let (area_filter, params): (String, Vec<&dyn ToValue>) = match &area {
        Some(code) => (under_area_sql("village_code", "?2"), vec![&first_day, code]),
        None => (scope.villages_sql("village_code"), vec![&first_day]),
    };
    let found: Vec<(String, i64)> = tx.query(
        &format!(
            "SELECT day, CAST(sum(visits) AS BIGINT) FROM village_visit_days
             WHERE day >= ?1 AND {area_filter} GROUP BY day ORDER BY day"
        ),
        &params,
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let mut days = Vec::new();
    for offset in 0..CHART_DAYS {
        let day = (first + Duration::days(offset))
            .format("%Y-%m-%d")
            .to_string();
        let count = found
            .iter()
            .find(|(found, _)| *found == day)
            .map_or(0, |(_, count)| count.unsigned_abs());
        days.push((day, count));
    }
    Ok(days)
}
