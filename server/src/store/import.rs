//! Loading areas and households (`doorstep admin import-households`):
//! new ones inserted, changed ones updated with a new version and a
//! server write in each changed field's log, identical ones left alone.

use chrono::Utc;
use doorstep_core::sqlite::time_text;
use doorstep_protocol::limits::{MAX_SHORT_TEXT_CHARS, check_short_text};
use doorstep_protocol::{AreaRecord, Hlc, HouseholdField, HouseholdRecord};
use serde::Serialize;

use super::audit::{self, AuditEvent, AuditKind};
use super::db::{Dialect, Tx};
use super::rows::{SELECT_HOUSEHOLD, household_from};
use super::{ServerStore, StoreError, StoreResult};

/// What an import did: areas written, households inserted, updated and
/// left alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub areas: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl ServerStore {
    /// Loads areas and households (new ones inserted, changed ones updated
    /// with a new version, identical ones left alone), in one transaction.
    pub fn import_households(
        &self,
        areas: &[AreaRecord],
        households: &[HouseholdRecord],
    ) -> StoreResult<ImportReport> {
        for area in areas {
            check_short_text(&area.name, MAX_SHORT_TEXT_CHARS).map_err(|problem| {
                StoreError::Invalid(format!("area {}: its name {problem}", area.code))
            })?;
        }
        for household in households {
            check_household(household)?;
        }
        let clock = self.now();
        self.write(|tx| {
            let mut report = ImportReport::default();
            let mut sorted: Vec<&AreaRecord> = areas.iter().collect();
            sorted.sort_by_key(|area| area.code.len());
            for area in sorted {
                report.areas += tx.execute(
                    "INSERT INTO areas (code, name, level, parent_code) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (code) DO UPDATE SET name = excluded.name, level = excluded.level,
                                                     parent_code = excluded.parent_code
                     WHERE areas.name <> excluded.name OR areas.level <> excluded.level
                        OR coalesce(areas.parent_code, '') <> coalesce(excluded.parent_code, '')",
                    &[
                        &area.code,
                        &area.name,
                        &area.level.as_str(),
                        &area.parent_code,
                    ],
                )?;
            }
            for household in households {
                match upsert_household(tx, household, clock)? {
                    Upsert::Inserted => report.inserted += 1,
                    Upsert::Updated => report.updated += 1,
                    Upsert::Unchanged => report.unchanged += 1,
                }
            }
            audit::record(
                tx,
                clock,
                &AuditEvent::new(AuditKind::HouseholdsImported).detail(format!(
                    "{} areas, {} inserted, {} updated, {} unchanged",
                    report.areas, report.inserted, report.updated, report.unchanged
                )),
            )?;
            Ok(report)
        })
    }
}

enum Upsert {
    Inserted,
    Updated,
    Unchanged,
}

fn upsert_household(
    tx: &Tx<'_>,
    household: &HouseholdRecord,
    clock: chrono::DateTime<Utc>,
) -> StoreResult<Upsert> {
    let now_text = time_text(clock);
    let now = now_text.as_str();
    let key = household.id.to_string();
    // Locked until the import commits (on PostgreSQL a device's merge of
    // the same household on another server waits).
    let lock = match tx.dialect() {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE",
    };
    let existing: Option<HouseholdRecord> = tx.query_opt(
        &format!("{SELECT_HOUSEHOLD} WHERE id = ?1{lock}"),
        &[&key],
        household_from,
    )?;
    let version = match &existing {
        None => 1,
        Some(current) if same_fields(current, household) => return Ok(Upsert::Unchanged),
        Some(current) => current.version + 1,
    };
    let village_known: bool = tx.value(
        "SELECT EXISTS (SELECT 1 FROM areas WHERE code = ?1 AND level = 'village')",
        &[&household.village_code],
    )?;
    if !village_known {
        return Err(StoreError::Invalid(format!(
            "household {key}: village {} is not known",
            household.village_code
        )));
    }
    tx.execute(
        "INSERT INTO households (id, village_code, head_name, id_card_suffix, group_name, members, phone,
                                 address, lat, lon, category, version, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (id) DO UPDATE SET village_code = excluded.village_code, head_name = excluded.head_name,
            id_card_suffix = excluded.id_card_suffix, group_name = excluded.group_name,
            members = excluded.members, phone = excluded.phone, address = excluded.address,
            lat = excluded.lat, lon = excluded.lon, category = excluded.category,
            version = excluded.version, updated_at = excluded.updated_at",
        &[
            &key,
            &household.village_code,
            &household.head_name,
            &household.id_card_suffix,
            &household.group,
            &household.members,
            &household.phone,
            &household.address,
            &household.lat,
            &household.lon,
            &household.category,
            &i64::try_from(version).unwrap_or(i64::MAX),
            &now,
        ],
    )?;
    super::facts::refresh_household(tx, &key)?;
    if let Some(current) = &existing {
        // The operator's import is a write like a cadre's: it moves the
        // fields' merge clocks, so an edit made before it is concurrent.
        for field in HouseholdField::ALL {
            let value = field.get(household);
            if value != field.get(current) {
                super::merge::record_write(
                    tx,
                    &super::merge::FieldWrite {
                        household: &key,
                        field,
                        version,
                        value: &value,
                        hlc: Hlc::new(clock, 0),
                        origin: None,
                        edit: None,
                        base: current.version,
                        at: now,
                    },
                )?;
            }
        }
    }
    super::rows::log_household_change(tx, household.id, None, now)?;
    Ok(if existing.is_some() {
        Upsert::Updated
    } else {
        Upsert::Inserted
    })
}

/// An imported household's fields, checked as a device's edit of them is
/// (category from the list, no control characters), and the fields only an
/// import sets.
fn check_household(household: &HouseholdRecord) -> StoreResult<()> {
    for field in HouseholdField::ALL {
        field.check(&field.get(household)).map_err(|reason| {
            StoreError::Invalid(format!("household {}: {reason}", household.id))
        })?;
    }
    let suffix = &household.id_card_suffix;
    if suffix.chars().count() > 18 || suffix.chars().any(doorstep_protocol::limits::is_hidden) {
        return Err(StoreError::Invalid(format!(
            "household {}: the ID-card suffix is not a short code",
            household.id
        )));
    }
    Ok(())
}

fn same_fields(current: &HouseholdRecord, new: &HouseholdRecord) -> bool {
    HouseholdRecord {
        version: current.version,
        ..new.clone()
    } == *current
}
