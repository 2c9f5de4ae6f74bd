//! A push's view of the database and its writes, in bulk: what the
//! device's ledger, the cadre's write scope and the visits table say about
//! every change of the push is read in a few statements before the changes
//! are checked one by one (in memory, in order, so that a change sees the
//! ones before it in the same push), and the accepted visits are written
//! at the end, many rows to a statement, with the console's facts summed
//! per household. Household edits still merge one by one (they are few,
//! and each reads the record the one before it wrote).

use std::collections::{BTreeMap, HashMap, HashSet};

use doorstep_protocol::{Change, Mutation};

use super::db::{Tx, Value};
use super::push_eval::Accepted;
use super::rows::{LogEntry, append_log};
use super::{DeviceAuth, StoreResult};

/// Ids per `IN (…)` list, padded up to one of these sizes (each size is
/// one statement, prepared once per connection).
const IN_SIZES: [usize; 4] = [1, 8, 64, 256];

/// The ledger's entry of a sequence number: the entity and the digest.
pub(crate) type Seen = (String, Option<String>);

/// A visit already stored (or accepted earlier in this push): its device,
/// digest and household.
#[derive(Debug, Clone)]
pub(crate) struct Taken {
    pub device: String,
    pub digest: Option<String>,
    pub household: String,
}

/// What the visits of one household add to its facts.
#[derive(Debug, Default)]
struct HouseholdVisits {
    count: i64,
    /// Visits per day recorded (`YYYY-MM-DD`).
    days: BTreeMap<String, i64>,
    /// The latest by the device's clock, ties by id: (recorded_at, id,
    /// index of its change).
    latest: Option<(String, String, usize)>,
}

#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub ledger: HashMap<i64, Seen>,
    pub in_scope: HashSet<String>,
    pub taken: HashMap<String, Taken>,
    ledger_rows: Vec<Value>,
    visit_rows: Vec<Value>,
    file_rows: Vec<Value>,
    facts: BTreeMap<String, HouseholdVisits>,
    log: Vec<LogEntry>,
    /// Judgements made inside the transaction (a visit not judged ahead).
    pub inline: HashMap<usize, Box<Accepted>>,
}

impl Batch {
    /// Reads what the database says about every change of the push.
    pub(crate) fn prefetch(
        tx: &Tx<'_>,
        auth: DeviceAuth,
        changes: &[Change],
        grace_start: &str,
    ) -> StoreResult<Batch> {
        let mut batch = Batch::default();
        let seqs: Vec<i64> = changes
            .iter()
            .filter_map(|change| i64::try_from(change.seq).ok())
            .filter(|seq| *seq > 0)
            .collect();
        if let (Some(low), Some(high)) = (seqs.iter().min(), seqs.iter().max()) {
            for (seq, entity, digest) in tx.query(
                "SELECT seq, entity_id, digest FROM device_changes
                 WHERE device_id = ?1 AND seq >= ?2 AND seq <= ?3",
                &[&auth.device_id, low, high],
                |row| Ok((row.get::<i64>(0)?, row.get(1)?, row.get(2)?)),
            )? {
                batch.ledger.insert(seq, (entity, digest));
            }
        }
        let mut households = Vec::new();
        let mut visits = Vec::new();
        for change in changes {
            match &change.mutation {
                Mutation::Visit(visit) => {
                    households.push(visit.household_id.to_string());
                    visits.push(visit.id.to_string());
                    if let Some(corrected) = visit.corrects {
                        visits.push(corrected.to_string());
                    }
                }
                Mutation::Household(edit) => households.push(edit.household_id.to_string()),
            }
        }
        let cadre = Value::Text(auth.cadre_id.to_string());
        let grace = Value::Text(grace_start.to_string());
        for_each_in(&households, |ids, list| {
            let mut params = vec![cadre.clone(), grace.clone()];
            params.extend(ids.iter().map(|id| Value::Text(id.clone())));
            let sql = format!(
                "SELECT h.id FROM households h WHERE h.id IN ({}) AND (
                     EXISTS (SELECT 1 FROM assignments a WHERE a.cadre_id = ?1
                             AND (a.household_id = h.id OR a.village_code = h.village_code))
                     OR EXISTS (SELECT 1 FROM assignment_history a WHERE a.cadre_id = ?1
                             AND a.removed_at >= ?2
                             AND (a.household_id = h.id OR a.village_code = h.village_code)))",
                list(3)
            );
            for id in tx.query(&sql, &refs(&params), |row| row.get::<String>(0))? {
                batch.in_scope.insert(id);
            }
            Ok(())
        })?;
        for_each_in(&visits, |ids, list| {
            let params: Vec<Value> = ids.iter().map(|id| Value::Text(id.clone())).collect();
            let sql = format!(
                "SELECT id, device_id, digest, household_id FROM visits WHERE id IN ({})",
                list(1)
            );
            for (id, taken) in tx.query(&sql, &refs(&params), |row| {
                Ok((
                    row.get::<String>(0)?,
                    Taken {
                        device: row.get(1)?,
                        digest: row.get(2)?,
                        household: row.get(3)?,
                    },
                ))
            })? {
                batch.taken.insert(id, taken);
            }
            Ok(())
        })?;
        Ok(batch)
    }

    /// Notes an applied change in the ledger (written at the end).
    pub(crate) fn record_ledger(
        &mut self,
        device: &str,
        seq: i64,
        entity: &str,
        key: &str,
        now: &str,
        digest: &str,
    ) {
        self.ledger
            .insert(seq, (key.to_string(), Some(digest.to_string())));
        self.ledger_rows.extend([
            Value::Text(device.to_string()),
            Value::Integer(seq),
            Value::Text(entity.to_string()),
            Value::Text(key.to_string()),
            Value::Text(now.to_string()),
            Value::Text(digest.to_string()),
        ]);
    }

    /// Notes an accepted visit (written at the end). `row` holds the
    /// visits table's thirteen columns.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_visit(
        &mut self,
        index: usize,
        id: &str,
        household: &str,
        device: &str,
        digest: &str,
        recorded_at: &str,
        files: &[String],
        row: [Value; 13],
    ) {
        self.taken.insert(
            id.to_string(),
            Taken {
                device: device.to_string(),
                digest: Some(digest.to_string()),
                household: household.to_string(),
            },
        );
        self.visit_rows.extend(row);
        for file in files
            .iter()
            .filter(|name| doorstep_protocol::is_file_reference(name))
        {
            self.file_rows
                .extend([Value::Text(id.to_string()), Value::Text(file.clone())]);
        }
        let facts = self.facts.entry(household.to_string()).or_default();
        facts.count += 1;
        *facts
            .days
            .entry(recorded_at.get(..10).unwrap_or(recorded_at).to_string())
            .or_default() += 1;
        let newer = facts
            .latest
            .as_ref()
            .is_none_or(|(at, latest, _)| (recorded_at, id) > (at.as_str(), latest.as_str()));
        if newer {
            facts.latest = Some((recorded_at.to_string(), id.to_string(), index));
        }
        self.log.push(LogEntry {
            entity: "visit",
            entity_id: id.to_string(),
            household: Some(household.to_string()),
            origin: Some(device.to_string()),
        });
    }

    /// Writes what the push accepted: visits, their files, the facts of
    /// their households, the ledger, then the change log (last: its head
    /// is held from there to the commit).
    pub(crate) fn flush(
        mut self,
        tx: &Tx<'_>,
        judged: &[Option<super::push_eval::Judged>],
        now: &str,
    ) -> StoreResult<()> {
        tx.insert_rows(
            "INSERT INTO visits (id, household_id, cadre_id, device_id, form_id, form_version, answers,
                                 recorded_at, received_at, corrects, computed, digest, clock_ahead) VALUES",
            "",
            13,
            &self.visit_rows,
        )?;
        tx.insert_rows(
            "INSERT INTO visit_files (visit_id, sha256) VALUES",
            "ON CONFLICT DO NOTHING",
            2,
            &self.file_rows,
        )?;
        for (household, visits) in &self.facts {
            let latest = visits.latest.as_ref().and_then(|(at, id, index)| {
                let accepted = match judged.get(*index) {
                    Some(Some(super::push_eval::Judged::Accepted(accepted))) => Some(&**accepted),
                    _ => self.inline.get(index).map(|accepted| &**accepted),
                };
                accepted.map(|accepted| super::facts::LatestVisit {
                    id,
                    recorded_at: at,
                    answers: &accepted.answers,
                    computed: &accepted.computed,
                })
            });
            super::facts::record_visits(tx, household, visits.count, &visits.days, latest)?;
        }
        tx.insert_rows(
            "INSERT INTO device_changes (device_id, seq, entity, entity_id, applied_at, digest) VALUES",
            "",
            6,
            &self.ledger_rows,
        )?;
        let log = std::mem::take(&mut self.log);
        append_log(tx, &log, now)
    }
}

fn refs(values: &[Value]) -> Vec<&dyn super::db::ToValue> {
    values
        .iter()
        .map(|value| value as &dyn super::db::ToValue)
        .collect()
}

/// Runs `query` over `ids` (duplicates dropped) in lists of the fixed
/// sizes, each padded with its last id; `list(first)` writes the
/// placeholders from `?first`.
fn for_each_in(
    ids: &[String],
    mut query: impl FnMut(&[String], &dyn Fn(usize) -> String) -> StoreResult<()>,
) -> StoreResult<()> {
    let mut unique: Vec<String> = ids.to_vec();
    unique.sort();
    unique.dedup();
    for chunk in unique.chunks(IN_SIZES[IN_SIZES.len() - 1]) {
        let size = IN_SIZES
            .iter()
            .copied()
            .find(|size| *size >= chunk.len())
            .unwrap_or(chunk.len());
        let mut padded = chunk.to_vec();
        while padded.len() < size {
            padded.push(chunk[chunk.len() - 1].clone());
        }
        let list = |first: usize| {
            (first..first + size)
                .map(|index| format!("?{index}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        query(&padded, &list)?;
    }
    Ok(())
}
