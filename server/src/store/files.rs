//! What the database knows of files attached to answers (ADR 0011): which
//! files each visit names (`visit_files`, written with the visit) and which
//! the server holds whole (`stored_files`, written once the bytes are
//! durably in the file store, `crate::files`). The bytes themselves never
//! pass through here.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::db::Tx;
use super::rows::SCOPE_CTE;
use super::{DeviceAuth, Scope, ServerStore, StoreResult};

/// A file the server holds whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub sha256: String,
    pub size: u64,
    pub media_type: String,
}

/// A visit whose files have not all arrived.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MissingFiles {
    pub visit_id: String,
    pub household_id: String,
    pub device_id: String,
    pub received_at: String,
    /// The references of the files not yet here, sorted.
    pub missing: Vec<String>,
}

/// A file a visit names, and whether it is here (its media type if so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedFile {
    pub sha256: String,
    pub media_type: Option<String>,
}

fn stored(tx: &Tx<'_>, sha256: &str) -> StoreResult<Option<FileRecord>> {
    tx.query_opt(
        "SELECT size, media_type FROM stored_files WHERE sha256 = ?1",
        &[&sha256],
        |row| {
            Ok(FileRecord {
                sha256: sha256.to_owned(),
                size: row.get(0)?,
                media_type: row.get(1)?,
            })
        },
    )
}

fn expected(tx: &Tx<'_>, device: &str, sha256: &str) -> StoreResult<bool> {
    tx.value(
        "SELECT EXISTS (SELECT 1 FROM visit_files f JOIN visits v ON v.id = f.visit_id
                        WHERE f.sha256 = ?1 AND v.device_id = ?2)",
        &[&sha256, &device],
    )
}

impl ServerStore {
    /// For each reference: the stored file if the server holds it whole,
    /// and whether a visit pushed by this device names it.
    pub fn file_states(
        &self,
        auth: DeviceAuth,
        references: &[String],
    ) -> StoreResult<Vec<(Option<FileRecord>, bool)>> {
        let device = auth.device_id.to_string();
        self.read(|tx| {
            references
                .iter()
                .map(|reference| Ok((stored(tx, reference)?, expected(tx, &device, reference)?)))
                .collect()
        })
    }

    /// The file, if the server holds it whole.
    pub fn stored_file(&self, sha256: &str) -> StoreResult<Option<FileRecord>> {
        self.read(|tx| stored(tx, sha256))
    }

    /// Notes that a file is durably in the file store (again is no error:
    /// the first record stays).
    pub fn record_stored_file(
        &self,
        file: &FileRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<FileRecord> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO stored_files (sha256, size, media_type, stored_at)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                &[
                    &file.sha256,
                    &i64::try_from(file.size).unwrap_or(i64::MAX),
                    &file.media_type,
                    &now,
                ],
            )?;
            Ok(stored(tx, &file.sha256)?.unwrap_or_else(|| file.clone()))
        })
    }

    /// The file for a device: held whole and named by a visit of a
    /// household now in the device's cadre's scope. `None` otherwise (the
    /// caller cannot tell which).
    pub fn device_file(&self, auth: DeviceAuth, sha256: &str) -> StoreResult<Option<FileRecord>> {
        let cadre = auth.cadre_id.to_string();
        self.read(|tx| {
            let named: bool = tx.value(
                &format!(
                    "{SCOPE_CTE} SELECT EXISTS (SELECT 1 FROM visit_files f JOIN visits v ON v.id = f.visit_id
                                  WHERE f.sha256 = ?2 AND v.household_id IN (SELECT id FROM scope))"
                ),
                &[&cadre, &sha256],
            )?;
            if named { stored(tx, sha256) } else { Ok(None) }
        })
    }

    /// The file for a console account: held whole and named by a visit of
    /// a household in its scope.
    pub fn console_file(&self, scope: &Scope, sha256: &str) -> StoreResult<Option<FileRecord>> {
        self.read(|tx| {
            let named: bool = tx.value(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM visit_files f JOIN visits v ON v.id = f.visit_id
                                    JOIN households h ON h.id = v.household_id
                                    WHERE f.sha256 = ?1 AND {})",
                    scope.villages_sql("h.village_code")
                ),
                &[&sha256],
            )?;
            if named { stored(tx, sha256) } else { Ok(None) }
        })
    }

    /// The files each of these visits names, with their media type when
    /// they have arrived.
    pub fn files_of_visits(
        &self,
        visit_ids: &[String],
    ) -> StoreResult<HashMap<String, Vec<NamedFile>>> {
        self.read(|tx| {
            let mut files = HashMap::new();
            for visit in visit_ids {
                let named = tx.query(
                    "SELECT f.sha256, s.media_type FROM visit_files f
                     LEFT JOIN stored_files s ON s.sha256 = f.sha256
                     WHERE f.visit_id = ?1 ORDER BY f.sha256",
                    &[visit],
                    |row| {
                        Ok(NamedFile {
                            sha256: row.get(0)?,
                            media_type: row.get(1)?,
                        })
                    },
                )?;
                if !named.is_empty() {
                    files.insert(visit.clone(), named);
                }
            }
            Ok(files)
        })
    }

    /// Visits whose files have not all arrived, oldest received first.
    pub fn missing_files(&self) -> StoreResult<Vec<MissingFiles>> {
        self.read(|tx| {
            let mut visits: Vec<MissingFiles> = Vec::new();
            tx.each(
                "SELECT v.id, v.household_id, v.device_id, v.received_at, f.sha256
                 FROM visit_files f JOIN visits v ON v.id = f.visit_id
                 WHERE NOT EXISTS (SELECT 1 FROM stored_files s WHERE s.sha256 = f.sha256)
                 ORDER BY v.received_at, v.id, f.sha256",
                &[],
                |row| {
                    let visit_id: String = row.get(0)?;
                    let sha256: String = row.get(4)?;
                    match visits.last_mut() {
                        Some(last) if last.visit_id == visit_id => last.missing.push(sha256),
                        _ => visits.push(MissingFiles {
                            visit_id,
                            household_id: row.get(1)?,
                            device_id: row.get(2)?,
                            received_at: row.get(3)?,
                            missing: vec![sha256],
                        }),
                    }
                    Ok(true)
                },
            )?;
            Ok(visits)
        })
    }
}
