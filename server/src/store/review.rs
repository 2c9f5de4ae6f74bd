//! What the merge and the push leave for people to review (the console's
//! Review page, ADR 0010): same-field conflicts, with a supervisor's
//! decision on each, and the changes the server refused, with their
//! reasons.
//!
//! A decision keeps the merged value (the conflict is marked settled,
//! nothing else changes) or restores the value that lost. A restored value
//! is a new write by the server, on the path an operator's import takes: a
//! field-log row with no origin device, the household's version up by one,
//! a clock reading later than the field's, and a household change that
//! every device in scope pulls. A restore is refused when the field has
//! been written since the conflict: the supervisor chose between values
//! that are no longer the ones in question.
//!
//! Every query goes through the caller's [`Scope`]; a conflict or a
//! refused change outside it is "not found". Lists are paged in SQL.

use chrono::{DateTime, Utc};
use doorstep_core::sqlite::time_text;
use doorstep_protocol::{Hlc, HouseholdField};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::audit::{self, AuditEvent, AuditKind};
use super::browse::{MAX_PAGE, Page};
use super::db::{self, Dialect, Row, ToValue, Tx};
use super::merge::{self, FieldWrite};
use super::rows::log_household_change;
use super::{Scope, ServerStore, StoreError, StoreResult};

/// Which conflicts a list keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConflictFilter {
    /// Only those no one has decided on yet.
    pub unresolved_only: bool,
    pub household: Option<Uuid>,
    /// An area (of any level) in the scope, and everything below it.
    pub area: Option<String>,
}

/// A device and its cadre, as lists name them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CadreDevice {
    pub device_id: String,
    /// The device's label, or the start of its id.
    pub device: String,
    pub cadre: String,
}

/// A same-field conflict as the review page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConflictRow {
    pub id: u64,
    pub household_id: String,
    pub head_name: String,
    pub village: String,
    pub field: String,
    /// The value the merge kept and the one that lost, as text.
    pub kept: String,
    pub lost: String,
    /// Who wrote each; `None`: the server (an import or a restore).
    pub kept_by: Option<CadreDevice>,
    pub lost_by: Option<CadreDevice>,
    /// The household's version after the merge.
    pub version: u64,
    pub decided_at: String,
    /// The field has been written since the conflict (a restore counts):
    /// restoring it would be refused.
    pub changed_since: bool,
    /// `kept` or `restored`, when someone decided.
    pub resolution: Option<String>,
    pub resolved_at: Option<String>,
    /// The console account's name.
    pub resolved_by: Option<String>,
}

/// A supervisor's decision on a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// The merged value stays.
    Keep,
    /// The value that lost is written again, as a new edit.
    Restore,
}

impl Resolution {
    pub const ALL: [Resolution; 2] = [Resolution::Keep, Resolution::Restore];

    /// The decision's name in forms and the API: `keep` or `restore`.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Keep => "keep",
            Resolution::Restore => "restore",
        }
    }

    pub fn parse(text: &str) -> Option<Resolution> {
        Resolution::ALL
            .into_iter()
            .find(|resolution| resolution.as_str() == text)
    }

    /// As `conflicts.resolution` records it: `kept` or `restored`.
    pub fn recorded(self) -> &'static str {
        match self {
            Resolution::Keep => "kept",
            Resolution::Restore => "restored",
        }
    }
}

/// What a decision did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolveOutcome {
    pub conflict_id: u64,
    pub household_id: String,
    pub field: String,
    /// `kept` or `restored`.
    pub resolution: String,
    /// The household's version now (one more than before for a restore).
    pub version: u64,
}

/// Which refused changes a list keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RejectedFilter {
    /// An area in the scope: only changes of households in it.
    pub area: Option<String>,
    pub device: Option<Uuid>,
}

/// A change the server refused, as the review page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedRow {
    pub by: CadreDevice,
    /// The device's sequence number of the change.
    pub seq: u64,
    /// `visit` or `household_edit`.
    pub entity: String,
    pub entity_id: String,
    /// The household it named, when this server has it.
    pub household_id: Option<String>,
    pub head_name: Option<String>,
    pub village: Option<String>,
    pub code: String,
    pub reason: String,
    pub first_at: String,
    pub last_at: String,
    /// How many times the device sent it.
    pub attempts: u64,
}

/// Conditions and their parameters, built up clause by clause.
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    params: Vec<db::Value>,
}

impl Where {
    fn clause(&mut self, sql: String) {
        self.clauses.push(sql);
    }

    /// `column = value`, as a parameter.
    fn equals(&mut self, column: &str, value: String) {
        self.params.push(db::Value::Text(value));
        self.clauses
            .push(format!("{column} = ?{}", self.params.len()));
    }

    fn area(
        &mut self,
        tx: &Tx<'_>,
        scope: &Scope,
        area: Option<&str>,
        column: &str,
    ) -> StoreResult<()> {
        if let Some(area) = area {
            if !scope.contains_area(tx, area)? {
                return Err(StoreError::NotFound(format!(
                    "area {area} is not known here"
                )));
            }
            self.clause(Scope::Area(area.to_owned()).villages_sql(column));
        }
        Ok(())
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "TRUE".to_owned()
        } else {
            self.clauses.join(" AND ")
        }
    }

    /// The parameters, to bind.
    fn bound(params: &[db::Value]) -> Vec<&dyn ToValue> {
        params.iter().map(|value| value as &dyn ToValue).collect()
    }

    /// The parameters, then the page's limit and offset.
    fn paged(&self, page: Page) -> (String, Vec<db::Value>) {
        let mut params = self.params.clone();
        let limit = page.limit.clamp(1, MAX_PAGE);
        let offset = i64::try_from(page.offset).unwrap_or(i64::MAX);
        params.push(db::Value::Integer(i64::try_from(limit).unwrap_or(1)));
        params.push(db::Value::Integer(offset));
        let sql = format!("LIMIT ?{} OFFSET ?{}", params.len() - 1, params.len());
        (sql, params)
    }
}

const CONFLICT_FROM: &str = "FROM conflicts c JOIN households h ON h.id = c.household_id";

const CONFLICT_COLUMNS: &str = "c.id, c.household_id, h.head_name, a.name, c.field, c.kept, c.lost,
     c.kept_by, coalesce(kd.label, substr(c.kept_by, 1, 8)), coalesce(kc.name, ''),
     c.lost_by, coalesce(ld.label, substr(c.lost_by, 1, 8)), coalesce(lc.name, ''),
     c.version, c.decided_at,
     coalesce((SELECT max(f.version) FROM household_fields f
               WHERE f.household_id = c.household_id AND f.field = c.field), 0) > c.version,
     c.resolution, c.resolved_at, u.name";

const CONFLICT_JOINS: &str = "JOIN areas a ON a.code = h.village_code
     LEFT JOIN devices kd ON kd.id = c.kept_by LEFT JOIN cadres kc ON kc.id = kd.cadre_id
     LEFT JOIN devices ld ON ld.id = c.lost_by LEFT JOIN cadres lc ON lc.id = ld.cadre_id
     LEFT JOIN users u ON u.id = c.resolved_by";

fn conflict_row(row: &Row<'_>) -> StoreResult<ConflictRow> {
    let writer = |first: usize| -> StoreResult<Option<CadreDevice>> {
        let id: Option<String> = row.get(first)?;
        Ok(match id {
            Some(device_id) => Some(CadreDevice {
                device_id,
                device: row.get(first + 1)?,
                cadre: row.get(first + 2)?,
            }),
            None => None,
        })
    };
    Ok(ConflictRow {
        id: row.get(0)?,
        household_id: row.get(1)?,
        head_name: row.get(2)?,
        village: row.get(3)?,
        field: row.get(4)?,
        kept: value_text(&row.get::<String>(5)?),
        lost: value_text(&row.get::<String>(6)?),
        kept_by: writer(7)?,
        lost_by: writer(10)?,
        version: row.get(13)?,
        decided_at: row.get(14)?,
        changed_since: row.get(15)?,
        resolution: row.get(16)?,
        resolved_at: row.get(17)?,
        resolved_by: row.get(18)?,
    })
}

/// A stored JSON value as a person reads it: text without its quotes.
fn value_text(json: &str) -> String {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => json.to_owned(),
    }
}

/// Scoped conditions on refused changes: an admin also sees those whose
/// household this server does not have; a supervisor only those of
/// households in the area.
fn rejected_scope(scope: &Scope) -> String {
    match scope {
        Scope::All => "TRUE".to_owned(),
        Scope::Area(_) => format!(
            "r.household_id IS NOT NULL AND {}",
            scope.villages_sql("h.village_code")
        ),
    }
}

impl ServerStore {
    /// Same-field conflicts in the scope, newest first, and how many match
    /// in all. A household or an area outside the scope is not found.
    pub fn conflicts_page(
        &self,
        scope: &Scope,
        filter: &ConflictFilter,
        page: Page,
    ) -> StoreResult<(Vec<ConflictRow>, u64)> {
        self.read(|tx| {
            let mut conditions = Where::default();
            conditions.clause(scope.villages_sql("h.village_code"));
            conditions.area(tx, scope, filter.area.as_deref(), "h.village_code")?;
            if let Some(household) = filter.household {
                if !scope.contains_household(tx, &household.to_string())? {
                    return Err(StoreError::NotFound(format!(
                        "household {household} is not known here"
                    )));
                }
                conditions.equals("c.household_id", household.to_string());
            }
            if filter.unresolved_only {
                conditions.clause("c.resolved_at IS NULL".to_owned());
            }
            let total: u64 = tx.value(
                &format!("SELECT count(*) {CONFLICT_FROM} WHERE {}", conditions.sql()),
                &Where::bound(&conditions.params),
            )?;
            let (limit, params) = conditions.paged(page);
            let rows = tx.query(
                &format!(
                    "SELECT {CONFLICT_COLUMNS} {CONFLICT_FROM} {CONFLICT_JOINS}
                     WHERE {} ORDER BY c.id DESC {limit}",
                    conditions.sql()
                ),
                &Where::bound(&params),
                conflict_row,
            )?;
            Ok((rows, total))
        })
    }

    /// Decides conflict `id` as `user` (a console account), in one
    /// transaction with its audit entry. Unknown or outside the scope: not
    /// found. Already decided, or (for a restore) the field written since
    /// the conflict: refused as a conflict, and nothing changes.
    pub fn resolve_conflict(
        &self,
        scope: &Scope,
        id: u64,
        resolution: Resolution,
        user: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<ResolveOutcome> {
        self.write(|tx| {
            let conflict = load(tx, scope, id)?;
            if let Some(earlier) = &conflict.resolution {
                return Err(StoreError::Conflict(format!(
                    "conflict {id} was already decided ({earlier}); nothing changed"
                )));
            }
            require_user(tx, user)?;
            let version = match resolution {
                Resolution::Keep => household_version(tx, &conflict.household)?,
                Resolution::Restore => restore(tx, id, &conflict, now)?,
            };
            tx.execute(
                "UPDATE conflicts SET resolved_at = ?2, resolved_by = ?3, resolution = ?4
                 WHERE id = ?1 AND resolved_at IS NULL",
                &[&merge::signed(id)?, &now, &user, &resolution.recorded()],
            )?;
            audit::record(
                tx,
                now,
                &AuditEvent::new(AuditKind::ConflictResolved)
                    .user(user)
                    .subject(format!("conflict {id}"))
                    .detail(format!("{} {}", resolution.recorded(), conflict.field)),
            )?;
            Ok(ResolveOutcome {
                conflict_id: id,
                household_id: conflict.household,
                field: conflict.field,
                resolution: resolution.recorded().to_owned(),
                version,
            })
        })
    }

    /// Changes the server refused, in the scope, latest first, and how
    /// many match in all. Those naming a household this server does not
    /// have are shown to admins only.
    pub fn rejected_page(
        &self,
        scope: &Scope,
        filter: &RejectedFilter,
        page: Page,
    ) -> StoreResult<(Vec<RejectedRow>, u64)> {
        self.read(|tx| {
            let mut conditions = Where::default();
            conditions.clause(rejected_scope(scope));
            conditions.area(tx, scope, filter.area.as_deref(), "h.village_code")?;
            if let Some(device) = filter.device {
                conditions.equals("r.device_id", device.to_string());
            }
            let from = "FROM rejected_changes r LEFT JOIN households h ON h.id = r.household_id";
            let total: u64 = tx.value(
                &format!("SELECT count(*) {from} WHERE {}", conditions.sql()),
                &Where::bound(&conditions.params),
            )?;
            let (limit, params) = conditions.paged(page);
            let rows = tx.query(
                &format!(
                    "SELECT r.device_id, coalesce(d.label, substr(r.device_id, 1, 8)), coalesce(c.name, ''),
                            r.seq, r.entity, r.entity_id, r.household_id, h.head_name, a.name,
                            r.code, r.reason, r.first_at, r.last_at, r.attempts
                     {from} LEFT JOIN areas a ON a.code = h.village_code
                     LEFT JOIN devices d ON d.id = r.device_id LEFT JOIN cadres c ON c.id = d.cadre_id
                     WHERE {} ORDER BY r.last_at DESC, r.device_id, r.seq DESC {limit}",
                    conditions.sql()
                ),
                &Where::bound(&params),
                |row| {
                    Ok(RejectedRow {
                        by: CadreDevice {
                            device_id: row.get(0)?,
                            device: row.get(1)?,
                            cadre: row.get(2)?,
                        },
                        seq: row.get(3)?,
                        entity: row.get(4)?,
                        entity_id: row.get(5)?,
                        household_id: row.get(6)?,
                        head_name: row.get(7)?,
                        village: row.get(8)?,
                        code: row.get(9)?,
                        reason: row.get(10)?,
                        first_at: row.get(11)?,
                        last_at: row.get(12)?,
                        attempts: row.get(13)?,
                    })
                },
            )?;
            Ok((rows, total))
        })
    }
}

/// A conflict as a decision needs it.
struct Stored {
    household: String,
    field: String,
    version: u64,
    kept: Value,
    lost: Value,
    resolution: Option<String>,
}

fn not_found(id: u64) -> StoreError {
    StoreError::NotFound(format!("conflict {id} is not known here"))
}

/// The conflict, its row locked until the transaction ends (on
/// PostgreSQL a second decision on it waits, then finds it decided; on
/// SQLite the one writer already excludes it).
fn load(tx: &Tx<'_>, scope: &Scope, id: u64) -> StoreResult<Stored> {
    let key = i64::try_from(id).map_err(|_| not_found(id))?;
    let json = |text: String| serde_json::from_str(&text).unwrap_or(Value::Null);
    let lock = match tx.dialect() {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE OF c",
    };
    tx.query_opt(
        &format!(
            "SELECT c.household_id, c.field, c.version, c.kept, c.lost, c.resolution {CONFLICT_FROM}
             WHERE c.id = ?1 AND {}{lock}",
            scope.villages_sql("h.village_code")
        ),
        &[&key],
        |row| {
            Ok(Stored {
                household: row.get(0)?,
                field: row.get(1)?,
                version: row.get(2)?,
                kept: json(row.get(3)?),
                lost: json(row.get(4)?),
                resolution: row.get(5)?,
            })
        },
    )?
    .ok_or_else(|| not_found(id))
}

fn require_user(tx: &Tx<'_>, user: Uuid) -> StoreResult<()> {
    let active: bool = tx.value(
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1 AND disabled_at IS NULL)",
        &[&user],
    )?;
    if active {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!(
            "no active console account {user}"
        )))
    }
}

fn household_version(tx: &Tx<'_>, household: &str) -> StoreResult<u64> {
    tx.value(
        "SELECT version FROM households WHERE id = ?1",
        &[&household],
    )
}

/// Writes the conflict's losing value as a new edit by the server; the
/// household's new version.
fn restore(tx: &Tx<'_>, id: u64, conflict: &Stored, now: DateTime<Utc>) -> StoreResult<u64> {
    let field = HouseholdField::parse(&conflict.field).ok_or_else(|| {
        StoreError::Invalid(format!(
            "conflict {id} names a field ({}) that cannot be restored",
            conflict.field
        ))
    })?;
    let mut record = merge::lock_household(tx, &conflict.household)?;
    let clock = merge::field_clock(tx, &conflict.household, field)?;
    let written_since = clock.is_some_and(|clock| clock.version > conflict.version);
    if written_since || field.get(&record) != conflict.kept {
        return Err(StoreError::Conflict(format!(
            "the household's {} has changed since conflict {id}; review it again",
            field.as_str()
        )));
    }
    field.check(&conflict.lost).map_err(|problem| {
        StoreError::Invalid(format!(
            "conflict {id}: the value cannot be restored: {problem}"
        ))
    })?;
    // Later than the field's reading, so the restore is the field's latest
    // write by the clock as well as by the version.
    let hlc = clock.map_or_else(|| Hlc::new(now, 0), |clock| clock.hlc.tick(now));
    let base = record.version;
    record.version += 1;
    field.set(&mut record, &conflict.lost);
    let now_text = time_text(now);
    merge::record_write(
        tx,
        &FieldWrite {
            household: &conflict.household,
            field,
            version: record.version,
            value: &conflict.lost,
            hlc,
            origin: None,
            edit: None,
            base,
            at: &now_text,
        },
    )?;
    merge::store_record(tx, &record, &now_text)?;
    log_household_change(tx, record.id, None, &now_text)?;
    Ok(record.version)
}

#[cfg(test)]
#[path = "review_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "review_rejected_tests.rs"]
mod rejected_tests;

#[cfg(test)]
#[path = "review_race_tests.rs"]
mod race_tests;
