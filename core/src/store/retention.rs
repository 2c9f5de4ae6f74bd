//! Bounded storage on the phone (ADR 0011, "Space is given back"): the
//! retention policy the app sets, applying it after a sync, and what the
//! store takes on disk.
//!
//! A hundred-day campaign of 30 visits a day with two photos each would
//! fill a cheap phone; once the server holds a file, the phone needs it
//! only for a while. The policy removes what the server already has, never
//! what it does not: a file whose `synced_at` is NULL stays whatever the
//! policy, and so does every file a draft names. Removed rows free pages;
//! the store runs in `auto_vacuum = INCREMENTAL` mode so those pages go
//! back to the file system.

use std::collections::HashSet;
use std::path::Path;

use chrono::Duration;
use rusqlite::{Connection, Transaction, params};
use serde::{Deserialize, Serialize};

use super::codec::time_text;
use super::lifecycle::sibling;
use super::{Store, lock};
use crate::error::Result;
use crate::sqlite;

/// An unsynced file no visit and no draft names, added this long ago, is
/// what a crash between `add_file` and the visit's commit left behind.
const ORPHAN_DAYS: i64 = 30;

/// What the phone keeps. `None` everywhere (the default): keep for ever.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// Files the server holds are removed this many days after it
    /// confirmed them (0: at the first retention after the confirmation).
    pub synced_files_days: Option<u32>,
    /// Files the server holds are removed, oldest confirmed first, while
    /// together they take more than this.
    pub synced_files_max_bytes: Option<u64>,
    /// Visits pulled from the server are removed beyond the newest K
    /// finalised visits of each household (own visits count, and stay).
    pub visits_per_household: Option<u32>,
}

/// What one [`Store::apply_retention`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub files_removed: u64,
    /// The sizes of the files removed.
    pub bytes_removed: u64,
    pub visits_removed: u64,
    /// How much smaller the database and its WAL are on disk afterwards.
    pub bytes_reclaimed: u64,
}

/// What the store takes on disk, and what of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StorageReport {
    /// The database file and its WAL.
    pub disk_bytes: u64,
    /// Pages inside the file that hold nothing (given back at the next
    /// retention).
    pub free_bytes: u64,
    /// Files kept, and their sizes.
    pub files: u64,
    pub file_bytes: u64,
    /// Of those, files the server has not confirmed yet: never removed.
    pub files_pending: u64,
    pub bytes_pending: u64,
    /// Visits of every kind (own, pulled, drafts), and their answers'
    /// and calculations' text.
    pub visits: u64,
    pub visit_bytes: u64,
    /// Of those, visits pulled from the server (what
    /// `visits_per_household` bounds).
    pub pulled_visits: u64,
    pub households: u64,
    /// The policy in force.
    pub policy: RetentionPolicy,
}

impl Store {
    /// The retention policy in force.
    pub fn retention(&self) -> Result<RetentionPolicy> {
        self.read(read_policy)
    }

    /// Sets the retention policy; it is applied by the next
    /// [`Store::apply_retention`] (the sync engine runs one after each
    /// successful sync).
    pub fn set_retention(&self, policy: &RetentionPolicy) -> Result<()> {
        let bytes = policy
            .synced_files_max_bytes
            .map(|bytes| i64::try_from(bytes).unwrap_or(i64::MAX));
        self.write(|transaction| {
            transaction.execute(
                "UPDATE retention SET synced_files_days = ?1, synced_files_max_bytes = ?2,
                                      visits_per_household = ?3
                 WHERE id = 1",
                params![policy.synced_files_days, bytes, policy.visits_per_household],
            )?;
            Ok(())
        })
    }

    /// Removes what the policy lets go, in one transaction, then gives the
    /// freed space back to the file system. Never removes a file the server
    /// has not confirmed (but a crash's orphan, see [`ORPHAN_DAYS`]), nor a
    /// file a draft or an unacknowledged visit of this device names, nor
    /// this device's own visits.
    pub fn apply_retention(&self) -> Result<RetentionReport> {
        let before = disk_bytes(&self.path);
        let now = self.now();
        let mut report = self.write(|transaction| {
            let policy = read_policy(transaction)?;
            let mut report = RetentionReport::default();
            let mut files = FileRemover::new(transaction, kept_files(transaction)?)?;
            if let Some(days) = policy.synced_files_days {
                let cutoff = time_text(now - Duration::days(i64::from(days)));
                let mut old = transaction.prepare(
                    "SELECT sha256, size FROM files
                     WHERE synced_at IS NOT NULL AND synced_at <= ?1",
                )?;
                for (sha256, size) in file_rows(&mut old, params![cutoff])? {
                    files.remove(&sha256, size)?;
                }
            }
            if let Some(limit) = policy.synced_files_max_bytes {
                let mut synced = transaction.prepare(
                    "SELECT sha256, size FROM files WHERE synced_at IS NOT NULL
                     ORDER BY synced_at, sha256",
                )?;
                let rows = file_rows(&mut synced, [])?;
                let mut total: u64 = rows.iter().map(|(_, size)| size).sum();
                for (sha256, size) in rows {
                    if total <= limit {
                        break;
                    }
                    if files.remove(&sha256, size)? {
                        total -= size;
                    }
                }
            }
            if let Some(keep) = policy.visits_per_household {
                report.visits_removed = remove_pulled_visits(transaction, keep)?;
            }
            // Files nothing on the phone names any more (a released
            // household's, a purged visit's), whatever the policy.
            let named = named_files(transaction)?;
            let orphan_cutoff = time_text(now - Duration::days(ORPHAN_DAYS));
            let mut unnamed = transaction.prepare(
                "SELECT sha256, size FROM files
                 WHERE sha256 NOT IN (SELECT sha256 FROM visit_files)
                   AND (synced_at IS NOT NULL OR added_at <= ?1)",
            )?;
            for (sha256, size) in file_rows(&mut unnamed, params![orphan_cutoff])? {
                if !named.contains(&sha256) {
                    files.remove(&sha256, size)?;
                }
            }
            report.files_removed = files.removed;
            report.bytes_removed = files.bytes;
            Ok(report)
        })?;
        if report.files_removed > 0 || report.visits_removed > 0 {
            self.give_space_back()?;
        }
        report.bytes_reclaimed = before.saturating_sub(disk_bytes(&self.path));
        tracing::info!(
            files = report.files_removed,
            visits = report.visits_removed,
            reclaimed = report.bytes_reclaimed,
            "retention applied"
        );
        Ok(report)
    }

    /// Returns free pages to the file system and empties the WAL. Holds the
    /// reader too, so that no read of ours holds the checkpoint back.
    fn give_space_back(&self) -> Result<()> {
        self.check_not_wiped()?;
        let writer = lock(&self.writer);
        let _reader = lock(&self.reader);
        if !sqlite::reclaim_space(&writer)? {
            tracing::debug!("the checkpoint was held back by a reader elsewhere");
        }
        Ok(())
    }

    /// What the store takes on disk, and what of.
    pub fn storage(&self) -> Result<StorageReport> {
        let mut report = self.read(|connection| {
            let pair = |sql: &str| -> Result<(u64, u64)> {
                Ok(connection.query_row(sql, [], |row| {
                    Ok((sqlite::count_column(row, 0)?, sqlite::count_column(row, 1)?))
                })?)
            };
            let (files, file_bytes) = pair("SELECT count(*), coalesce(sum(size), 0) FROM files")?;
            let (files_pending, bytes_pending) =
                pair("SELECT count(*), coalesce(sum(size), 0) FROM files WHERE synced_at IS NULL")?;
            let (visits, visit_bytes) = pair(
                "SELECT count(*), coalesce(sum(length(CAST(answers AS BLOB))
                                            + length(CAST(computed AS BLOB))), 0)
                 FROM visits",
            )?;
            let (pulled_visits, households) = pair(
                "SELECT (SELECT count(*) FROM visits WHERE origin = 'pulled'),
                        (SELECT count(*) FROM households)",
            )?;
            let (free_pages, page_size) = pair(
                // SQLCipher answers page_size as text.
                "SELECT (SELECT CAST(freelist_count AS INTEGER) FROM pragma_freelist_count),
                        (SELECT CAST(page_size AS INTEGER) FROM pragma_page_size)",
            )?;
            Ok(StorageReport {
                disk_bytes: 0,
                free_bytes: free_pages.saturating_mul(page_size),
                files,
                file_bytes,
                files_pending,
                bytes_pending,
                visits,
                visit_bytes,
                pulled_visits,
                households,
                policy: read_policy(connection)?,
            })
        })?;
        report.disk_bytes = disk_bytes(&self.path);
        Ok(report)
    }
}

/// Called on the writer as the store opens, before the migrations: a new
/// store is created giving space back; an older one is rebuilt once so it
/// does. A failure (no room for the rebuild) leaves the store as it was,
/// working, and is tried again at the next open.
pub(super) fn give_space_back_from_now_on(writer: &Connection) {
    match sqlite::use_incremental_vacuum(writer) {
        Ok(true) => tracing::info!("store rebuilt to give freed space back"),
        Ok(false) => {}
        Err(error) => tracing::warn!(%error, "could not turn on incremental vacuum"),
    }
}

fn read_policy(connection: &Connection) -> Result<RetentionPolicy> {
    Ok(connection.query_row(
        "SELECT synced_files_days, synced_files_max_bytes, visits_per_household
         FROM retention WHERE id = 1",
        [],
        |row| {
            Ok(RetentionPolicy {
                synced_files_days: row.get(0)?,
                synced_files_max_bytes: row.get::<_, Option<i64>>(1)?.map(i64::unsigned_abs),
                visits_per_household: row.get(2)?,
            })
        },
    )?)
}

/// The database file and its WAL, in bytes (0 for what is missing).
fn disk_bytes(path: &Path) -> u64 {
    [path.to_path_buf(), sibling(path, "wal")]
        .iter()
        .filter_map(|file| std::fs::metadata(file).ok())
        .map(|meta| meta.len())
        .sum()
}

fn file_rows(
    statement: &mut rusqlite::Statement<'_>,
    parameters: impl rusqlite::Params,
) -> Result<Vec<(String, u64)>> {
    Ok(statement
        .query_map(parameters, |row| {
            Ok((row.get(0)?, row.get::<_, i64>(1)?.unsigned_abs()))
        })?
        .collect::<rusqlite::Result<_>>()?)
}

/// Removes files (their chunks go with them), sparing those kept, and
/// counts what it removed.
struct FileRemover<'a> {
    delete: rusqlite::Statement<'a>,
    kept: HashSet<String>,
    removed: u64,
    bytes: u64,
}

impl<'a> FileRemover<'a> {
    fn new(transaction: &'a Transaction<'_>, kept: HashSet<String>) -> Result<Self> {
        Ok(FileRemover {
            delete: transaction.prepare("DELETE FROM files WHERE sha256 = ?1")?,
            kept,
            removed: 0,
            bytes: 0,
        })
    }

    /// Whether it removed the file (false: kept, or already gone).
    fn remove(&mut self, sha256: &str, size: u64) -> Result<bool> {
        if self.kept.contains(sha256) || self.delete.execute([sha256])? == 0 {
            return Ok(false);
        }
        self.removed += 1;
        self.bytes += size;
        Ok(true)
    }
}

/// Strings of a file reference's length in the answers of the visits
/// selected by `filter` (drafts have no `visit_files` rows, pulled visits
/// none either). What is not a reference matches no file.
fn referenced_in_answers(connection: &Connection, filter: &str) -> Result<HashSet<String>> {
    let mut statement = connection.prepare(&format!(
        "SELECT DISTINCT tree.value FROM visits, json_tree(visits.answers) AS tree
         WHERE ({filter}) AND tree.type = 'text' AND length(tree.value) = 64"
    ))?;
    let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Files no policy removes: those a draft names (finalising it needs
/// them), and those a visit of this device the server has not accepted
/// yet names.
fn kept_files(connection: &Connection) -> Result<HashSet<String>> {
    let mut kept = referenced_in_answers(connection, "visits.status = 'draft'")?;
    let mut statement = connection.prepare(
        "SELECT sha256 FROM visit_files
         WHERE visit_id IN (SELECT entity_id FROM outbox WHERE entity = 'visit')",
    )?;
    for sha256 in statement.query_map([], |row| row.get::<_, String>(0))? {
        kept.insert(sha256?);
    }
    Ok(kept)
}

/// Files something on the phone still names, besides `visit_files`:
/// drafts and pulled visits.
fn named_files(connection: &Connection) -> Result<HashSet<String>> {
    referenced_in_answers(
        connection,
        "visits.status = 'draft' OR visits.origin = 'pulled'",
    )
}

/// Removes the pulled visits of each household beyond its newest `keep`
/// finalised visits (by `recorded_at`), but one a draft corrects.
fn remove_pulled_visits(transaction: &Transaction<'_>, keep: u32) -> Result<u64> {
    let removed = transaction.execute(
        "DELETE FROM visits WHERE id IN (
             SELECT id FROM (
                 SELECT id, origin, row_number() OVER (
                     PARTITION BY household_id ORDER BY recorded_at DESC, id DESC) AS newest
                 FROM visits WHERE status = 'final')
             WHERE origin = 'pulled' AND newest > ?1)
           AND id NOT IN (SELECT corrects FROM visits
                          WHERE status = 'draft' AND corrects IS NOT NULL)",
        [keep],
    )?;
    Ok(removed as u64)
}
