//! What the console reads (ADR 0010): progress by area, households with
//! their filters and search, a household's page, the at-risk list and the
//! members coming home. Every query is filtered by the caller's [`Scope`]
//! and paged, filtered and sorted in SQL over `household_facts` (migration
//! 7, kept by `super::facts`), so a page costs the same with 100,000
//! households as with 100.
//!
//! An area outside the scope is "not found": the console cannot be used to
//! learn what exists elsewhere.

mod household;
mod lists;
mod progress;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod visit_tests;

use serde::Serialize;

use super::db::{Dialect, Tx};

use super::{Scope, StoreError, StoreResult};

pub use household::{HouseholdPage, VisitView};
pub use lists::{
    HouseholdFilter, HouseholdList, HouseholdQuery, HouseholdRow, HouseholdSort, INCOME_LINE,
    IncomeBucket, MigrantRow, MigrantsQuery, RiskList,
};
pub use progress::{Counts, Progress, ProgressRow, ProgressTarget};

/// A page of a list: which rows, at most [`MAX_PAGE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: u64,
    pub limit: u64,
}

/// The longest page a list serves.
pub const MAX_PAGE: u64 = 200;

impl Page {
    /// Page `number` (from 1) of `size` rows.
    pub fn number(number: u64, size: u64) -> Page {
        let limit = size.clamp(1, MAX_PAGE);
        Page {
            offset: number.max(1).saturating_sub(1).saturating_mul(limit),
            limit,
        }
    }

    /// `LIMIT ?{first} OFFSET ?{first + 1}`: the page is bound, not
    /// written into the statement (one prepared statement serves every
    /// page).
    fn sql(first: usize) -> String {
        format!("LIMIT ?{first} OFFSET ?{}", first + 1)
    }

    /// The parameters of [`Page::sql`].
    fn params(self) -> [i64; 2] {
        let bound = |number: u64| i64::try_from(number).unwrap_or(i64::MAX);
        [bound(self.limit), bound(self.offset)]
    }
}

/// A collation for sorting free text (names, groups) as SQLite's BINARY
/// does, by code point, whatever the PostgreSQL database's own collation.
fn by_code_point(tx: &Tx<'_>) -> &'static str {
    match tx.dialect() {
        Dialect::Sqlite => "",
        Dialect::Postgres => " COLLATE \"C\"",
    }
}

/// A condition true when `needle` (an expression) occurs in `haystack`.
fn contains_sql(tx: &Tx<'_>, haystack: &str, needle: &str) -> String {
    match tx.dialect() {
        Dialect::Sqlite => format!("instr({haystack}, {needle}) > 0"),
        Dialect::Postgres => format!("strpos({haystack}, {needle}) > 0"),
    }
}

/// A condition true when the village code in `column` is in the area
/// bound at `placeholder` (`?N`), or under it. Unlike
/// [`Scope::villages_sql`] the area is a parameter: one statement serves
/// every area asked for.
fn under_area_sql(column: &str, placeholder: &str) -> String {
    format!(
        "{column} IN (WITH RECURSIVE below(code) AS (SELECT CAST({placeholder} AS TEXT) UNION ALL \
         SELECT areas.code FROM areas JOIN below ON areas.parent_code = below.code) \
         SELECT code FROM below)"
    )
}

/// An area and its place in the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AreaNode {
    pub code: String,
    pub name: String,
    /// `county`, `township` or `village`.
    pub level: String,
}

/// The area `code` and its ancestors, from the top, if the area is in the
/// scope. A supervisor's path starts at its own area.
pub(crate) fn area_path(tx: &Tx<'_>, scope: &Scope, code: &str) -> StoreResult<Vec<AreaNode>> {
    if !scope.contains_area(tx, code)? {
        return Err(not_found_area(code));
    }
    let mut path = Vec::new();
    let mut next = Some(code.to_owned());
    while let Some(code) = next {
        let row: Option<(AreaNode, Option<String>)> = tx.query_opt(
            "SELECT code, name, level, parent_code FROM areas WHERE code = ?1",
            &[&code],
            |row| {
                Ok((
                    AreaNode {
                        code: row.get(0)?,
                        name: row.get(1)?,
                        level: row.get(2)?,
                    },
                    row.get(3)?,
                ))
            },
        )?;
        let Some((node, parent)) = row else { break };
        let top = matches!(scope, Scope::Area(area) if *area == node.code);
        path.push(node);
        next = if top { None } else { parent };
        if path.len() > 8 {
            break;
        }
    }
    path.reverse();
    Ok(path)
}

fn not_found_area(code: &str) -> StoreError {
    StoreError::NotFound(format!("area {code} is not known here"))
}

impl super::ServerStore {
    /// The area `code` and its ancestors down from the top of the scope;
    /// "not found" outside it.
    pub fn area_path(&self, scope: &Scope, code: &str) -> StoreResult<Vec<AreaNode>> {
        self.read(|tx| area_path(tx, scope, code))
    }
}

impl super::ServerStore {
    /// The villages in the scope, by code (for pairing a cadre).
    pub fn villages_in_scope(&self, scope: &Scope) -> StoreResult<Vec<AreaNode>> {
        self.read(|tx| {
            tx.query(
                &format!(
                    "SELECT code, name, level FROM areas WHERE level = 'village' AND {} ORDER BY code",
                    scope.villages_sql("code")
                ),
                &[],
                |row| {
                    Ok(AreaNode {
                        code: row.get(0)?,
                        name: row.get(1)?,
                        level: row.get(2)?,
                    })
                },
            )
        })
    }
}
