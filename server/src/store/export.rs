//! Reading visits out for exports: a filter (the caller's scope, area,
//! dates, form version) applied in SQL, and a cursor that hands one visit
//! at a time to the writer, so an export of 100,000 visits never holds
//! them all. The tables and files made of them are `crate::export`'s.

use chrono::{DateTime, Utc};
use doorstep_core::sqlite::time_text;
use doorstep_forms::Form;
use doorstep_protocol::VisitRecord;

use super::db::{Dialect, ToValue, Tx, Value};
use super::{Scope, ServerStore, StoreError, StoreResult};

/// Visits read at once on PostgreSQL, where a statement's rows arrive
/// whole: the export reads them page by page (by when they were received,
/// then id) in one snapshot, so it never holds more than this many. On
/// SQLite one statement streams them all.
const PG_EXPORT_PAGE: i64 = 1_000;

/// Which visits an export takes. There is no default: every filter says
/// whose export it is ([`VisitFilter::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitFilter {
    /// Whose export: only visits of households in villages in this scope,
    /// whatever `area` asks. Visits of households the server does not know
    /// are only in [`Scope::All`].
    pub scope: Scope,
    /// Visits of households in this area (a county, township or village
    /// code) or any area under it.
    pub area: Option<String>,
    /// Visits recorded at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Visits recorded before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Visits filled in with this form version.
    pub form_version: Option<String>,
}

/// How many visits of one form version a filter takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormVersionCount {
    pub form_id: String,
    pub version: String,
    pub visits: u64,
}

impl VisitFilter {
    /// Every visit `scope` reaches.
    pub fn new(scope: Scope) -> VisitFilter {
        VisitFilter {
            scope,
            area: None,
            since: None,
            until: None,
            form_version: None,
        }
    }

    /// The `WHERE` clause over `visits v JOIN households h` and its
    /// parameters (`?1` on).
    fn clause(&self) -> (String, Vec<Value>) {
        let mut conditions = Vec::new();
        let mut values = Vec::new();
        if !self.scope.is_all() {
            conditions.push(self.scope.villages_sql("h.village_code"));
        }
        if let Some(area) = &self.area {
            values.push(Value::Text(area.clone()));
            conditions.push(format!(
                "h.village_code IN (WITH RECURSIVE under (code) AS (
                     SELECT code FROM areas WHERE code = ?{n}
                     UNION SELECT a.code FROM areas a JOIN under u ON a.parent_code = u.code)
                 SELECT code FROM under)",
                n = values.len()
            ));
        }
        if let Some(since) = self.since {
            values.push(Value::Text(time_text(since)));
            conditions.push(format!("v.recorded_at >= ?{}", values.len()));
        }
        if let Some(until) = self.until {
            values.push(Value::Text(time_text(until)));
            conditions.push(format!("v.recorded_at < ?{}", values.len()));
        }
        if let Some(version) = &self.form_version {
            values.push(Value::Text(version.clone()));
            conditions.push(format!("v.form_version = ?{}", values.len()));
        }
        let clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        (clause, values)
    }
}

/// Where [`ServerStore::export_visits_where`] hands each visit: the visit,
/// its household's village code, and how many of its files are missing.
pub type ExportedVisit<'a> = dyn FnMut(VisitRecord, Option<&str>, u64) -> std::io::Result<()> + 'a;

impl ServerStore {
    /// Every visit on the server, in the order they were received, handed
    /// to `each` one at a time (the export never holds them all).
    pub fn export_visits(
        &self,
        each: &mut dyn FnMut(VisitRecord) -> std::io::Result<()>,
    ) -> StoreResult<u64> {
        self.export_visits_where(&VisitFilter::new(Scope::All), &mut |visit, _, _| {
            each(visit)
        })
    }

    /// The visits `filter` takes, in the order they were received, each
    /// with its household's village code and how many of the files it names
    /// have not arrived, handed to `each` one at a time from a cursor.
    pub fn export_visits_where(
        &self,
        filter: &VisitFilter,
        each: &mut ExportedVisit<'_>,
    ) -> StoreResult<u64> {
        self.export_visits_paged(filter, each, PG_EXPORT_PAGE)
    }

    /// [`Self::export_visits_where`], reading `page` visits at a time on
    /// PostgreSQL.
    pub(super) fn export_visits_paged(
        &self,
        filter: &VisitFilter,
        each: &mut ExportedVisit<'_>,
        page: i64,
    ) -> StoreResult<u64> {
        let page = page.max(1);
        self.read(|tx| {
            check_area(tx, filter)?;
            let (clause, values) = filter.clause();
            let select = |rest: &str| {
                format!(
                    "SELECT v.id, v.household_id, v.cadre_id, v.device_id, v.form_id, v.form_version,
                            v.answers, v.recorded_at, v.received_at, v.corrects, v.computed,
                            v.clock_ahead, h.village_code,
                            (SELECT count(*) FROM visit_files f WHERE f.visit_id = v.id
                               AND NOT EXISTS (SELECT 1 FROM stored_files s WHERE s.sha256 = f.sha256))
                     FROM visits v LEFT JOIN households h ON h.id = v.household_id
                     {rest}"
                )
            };
            let mut count = 0;
            let mut hand = |row: &super::db::Row<'_>| -> StoreResult<(String, String)> {
                let visit = super::rows::visit_from(row)?;
                let village: Option<String> = row.get(12)?;
                let files_missing: i64 = row.get(13)?;
                let key = (row.get(8)?, row.get(0)?);
                each(
                    visit,
                    village.as_deref(),
                    u64::try_from(files_missing).unwrap_or(0),
                )
                .map_err(|error| {
                    StoreError::Invalid(format!("could not write the export: {error}"))
                })?;
                count += 1;
                Ok(key)
            };
            let params: Vec<&dyn ToValue> = values.iter().map(|value| value as _).collect();
            if tx.dialect() == Dialect::Sqlite {
                tx.each(
                    &select(&format!("{clause} ORDER BY v.received_at, v.id")),
                    &params,
                    |row| hand(row).map(|_| true),
                )?;
                return Ok(count);
            }
            // PostgreSQL: pages after the last row handed, in one snapshot.
            let after = format!(
                "{} (v.received_at, v.id) > (?{}, ?{})",
                if clause.is_empty() { "WHERE" } else { "AND" },
                values.len() + 1,
                values.len() + 2
            );
            let mut last: Option<(String, String)> = None;
            loop {
                let mut read = 0;
                let previous = last.take();
                let mut page_params = params.clone();
                let sql = match &previous {
                    None => select(&format!(
                        "{clause} ORDER BY v.received_at, v.id LIMIT {page}"
                    )),
                    Some((received_at, id)) => {
                        page_params.push(received_at);
                        page_params.push(id);
                        select(&format!(
                            "{clause} {after} ORDER BY v.received_at, v.id LIMIT {page}"
                        ))
                    }
                };
                tx.each(&sql, &page_params, |row| {
                    last = Some(hand(row)?);
                    read += 1;
                    Ok(true)
                })?;
                if read < page {
                    return Ok(count);
                }
            }
        })
    }

    /// The arrived files the visits `filter` takes name, each once.
    pub fn export_files(&self, filter: &VisitFilter) -> StoreResult<Vec<super::FileRecord>> {
        self.read(|tx| {
            check_area(tx, filter)?;
            let (clause, values) = filter.clause();
            let params: Vec<&dyn ToValue> = values.iter().map(|value| value as _).collect();
            tx.query(
                &format!(
                    "SELECT s.sha256, s.size, s.media_type FROM stored_files s
                     WHERE s.sha256 IN (SELECT f.sha256 FROM visit_files f
                         JOIN visits v ON v.id = f.visit_id
                         LEFT JOIN households h ON h.id = v.household_id {clause})
                     ORDER BY s.sha256"
                ),
                &params,
                |row| {
                    let size: i64 = row.get(1)?;
                    Ok(super::FileRecord {
                        sha256: row.get(0)?,
                        size: u64::try_from(size).unwrap_or(0),
                        media_type: row.get(2)?,
                    })
                },
            )
        })
    }

    /// The form versions of the visits `filter` takes, with their counts.
    pub fn export_form_versions(&self, filter: &VisitFilter) -> StoreResult<Vec<FormVersionCount>> {
        self.read(|tx| {
            check_area(tx, filter)?;
            let (clause, values) = filter.clause();
            let params: Vec<&dyn ToValue> = values.iter().map(|value| value as _).collect();
            // Ids and versions in code-point order on both backends.
            let collate = match tx.dialect() {
                Dialect::Sqlite => "",
                Dialect::Postgres => " COLLATE \"C\"",
            };
            tx.query(
                &format!(
                    "SELECT v.form_id, v.form_version, count(*)
                     FROM visits v LEFT JOIN households h ON h.id = v.household_id
                     {clause} GROUP BY v.form_id, v.form_version
                     ORDER BY v.form_id{collate}, v.form_version{collate}"
                ),
                &params,
                |row| {
                    Ok(FormVersionCount {
                        form_id: row.get(0)?,
                        version: row.get(1)?,
                        visits: row.get::<i64>(2)?.unsigned_abs(),
                    })
                },
            )
        })
    }

    /// A published form version, if there is one.
    pub fn published_form(&self, form_id: &str, version: &str) -> StoreResult<Option<Form>> {
        self.read(|tx| {
            let definition: Option<String> = tx.query_opt(
                "SELECT definition FROM forms WHERE form_id = ?1 AND version = ?2",
                &[&form_id, &version],
                |row| row.get(0),
            )?;
            definition
                .map(|text| {
                    let value: serde_json::Value = serde_json::from_str(&text)
                        .map_err(|error| StoreError::Invalid(error.to_string()))?;
                    Form::from_definition(&value)
                        .map_err(|error| StoreError::Invalid(error.to_string()))
                })
                .transpose()
        })
    }
}

/// An area asked for must exist and be in the filter's scope; one outside
/// it is "not found", as one that does not exist (never "forbidden", which
/// would confirm that it exists).
fn check_area(tx: &Tx<'_>, filter: &VisitFilter) -> StoreResult<()> {
    let Some(area) = &filter.area else {
        return Ok(());
    };
    if filter.scope.contains_area(tx, area)? {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("no area {area}")))
    }
}
