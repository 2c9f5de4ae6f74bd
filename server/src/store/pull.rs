//! What devices read: the change log within a cadre's scope, page by page,
//! and snapshots of households newly in scope, page by page. Every page is
//! bounded in bytes (`doorstep_protocol::limits::MAX_PAGE_BYTES`), always
//! holds at least one change when one waits, and fits what every client
//! accepts: no stored change, however large another device made it, can
//! stop a cursor. A stored change larger than any page may carry (made
//! before the limits existed) is skipped, logged and audited.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use doorstep_protocol::limits::{MAX_CHANGE_BYTES, MAX_PAGE_BYTES, json_size};
use doorstep_protocol::{
    PROTOCOL_VERSION, PullQuery, PullResponse, PulledChange, SnapshotCursor, SnapshotResponse,
    scope_digest,
};
use uuid::Uuid;

use super::audit::{AuditEvent, AuditKind};
use super::db::Tx;
use super::rows::{
    SCOPE_CTE, SELECT_FORM, SELECT_HOUSEHOLD, SELECT_VISIT, areas_with_parents, form_from,
    household_from, log_position, scope_ids, visit_from,
};
use super::{DeviceAuth, ServerStore, StoreError, StoreResult};

/// Pull pages hold at most this many changes, whatever the device asks.
pub const MAX_PULL_LIMIT: u32 = 5000;
/// A snapshot request names at most this many households.
pub const MAX_SNAPSHOT_HOUSEHOLDS: usize = 1000;

impl ServerStore {
    /// One page of the change log after `query.cursor`, within the device's
    /// scope, leaving out the device's own visits (it has them). When the
    /// device's scope digest is stale, the page also lists the whole scope.
    #[tracing::instrument(name = "store", level = "debug", skip_all, fields(device = %auth.device_id, cursor = query.cursor))]
    pub fn pull(
        &self,
        auth: DeviceAuth,
        query: &PullQuery,
        now: DateTime<Utc>,
    ) -> StoreResult<PullResponse> {
        let limit = query.limit.unwrap_or(1000).clamp(1, MAX_PULL_LIMIT);
        let cursor = i64::try_from(query.cursor)
            .map_err(|_| StoreError::Invalid("cursor out of range".into()))?;
        let cadre = auth.cadre_id.to_string();
        let mut skipped = Vec::new();
        let page = self.read(|tx| {
            skipped.clear();
            let scope = scope_ids(tx, &cadre)?;
            let stale = query.scope.as_deref() != Some(scope_digest(&scope).as_str());
            let end = log_position(tx)?;
            let end_signed = i64::try_from(end).unwrap_or(i64::MAX);
            let rows: Vec<(u64, String, String)> = tx.query(
                &format!(
                    "{SCOPE_CTE}
                     SELECT c.seq, c.entity, c.entity_id FROM changes c
                     WHERE c.seq > ?2 AND c.seq <= ?3
                       AND (c.household_id IS NULL OR c.household_id IN (SELECT id FROM scope))
                       AND NOT (c.entity = 'visit' AND c.origin_device IS NOT DISTINCT FROM ?4)
                     ORDER BY c.seq LIMIT ?5"
                ),
                &[
                    &cadre,
                    &cursor,
                    &end_signed,
                    &auth.device_id,
                    &(i64::from(limit) + 1),
                ],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )?;
            let mut more = rows.len() > limit as usize;
            let mut changes = Vec::new();
            let mut bytes = 0;
            let mut last = query.cursor;
            for (seq, entity, entity_id) in rows.iter().take(limit as usize) {
                if let Some(change) = load_change(tx, entity, entity_id)? {
                    let size = json_size(&change);
                    if size > MAX_CHANGE_BYTES {
                        skipped.push(format!("{entity} {entity_id} ({size} bytes)"));
                    } else if !changes.is_empty() && bytes + size > MAX_PAGE_BYTES {
                        more = true;
                        break;
                    } else {
                        bytes += size;
                        changes.push(change);
                    }
                }
                last = *seq;
            }
            let next = if more { last } else { end.max(query.cursor) };
            Ok(PullResponse {
                protocol: PROTOCOL_VERSION,
                scope: stale.then_some(scope),
                changes,
                cursor: next,
                more,
                server_time: now,
            })
        })?;
        self.note_skipped(auth, &skipped, now);
        Ok(page)
    }

    /// Households newly in the device's scope, whole, in pages: the first
    /// (`after` is `None`) carries the households, their areas and
    /// conflicts; every page carries visits (ordered by household, then
    /// id) up to the page's byte bound and the forms they use, and says
    /// where to `resume` while more wait.
    #[tracing::instrument(name = "store", level = "debug", skip_all, fields(device = %auth.device_id, households = requested.len()))]
    pub fn snapshot(
        &self,
        auth: DeviceAuth,
        requested: &[Uuid],
        after: Option<SnapshotCursor>,
        now: DateTime<Utc>,
    ) -> StoreResult<SnapshotResponse> {
        if requested.len() > MAX_SNAPSHOT_HOUSEHOLDS {
            return Err(StoreError::Invalid(format!(
                "a snapshot names at most {MAX_SNAPSHOT_HOUSEHOLDS} households; this one names {}",
                requested.len()
            )));
        }
        let cadre = auth.cadre_id.to_string();
        let mut skipped = Vec::new();
        let response = self.read(|tx| {
            skipped.clear();
            let scope: BTreeSet<Uuid> = scope_ids(tx, &cadre)?.into_iter().collect();
            let mut response = SnapshotResponse {
                protocol: PROTOCOL_VERSION,
                areas: Vec::new(),
                households: Vec::new(),
                forms: Vec::new(),
                visits: Vec::new(),
                conflicts: Vec::new(),
                refused: Vec::new(),
                resume: None,
                position: log_position(tx)?,
                server_time: now,
            };
            let wanted: BTreeSet<Uuid> = requested.iter().copied().collect();
            let (held, refused): (Vec<Uuid>, Vec<Uuid>) =
                wanted.into_iter().partition(|id| scope.contains(id));
            response.refused = refused;
            if after.is_none() {
                let mut area_codes = BTreeSet::new();
                for id in &held {
                    if let Some(household) = tx.query_opt(
                        &format!("{SELECT_HOUSEHOLD} WHERE id = ?1"),
                        &[id],
                        household_from,
                    )? {
                        area_codes.insert(household.village_code.clone());
                        response
                            .conflicts
                            .extend(super::merge::household_conflicts(tx, *id)?);
                        response.households.push(household);
                    }
                }
                response.areas = areas_with_parents(tx, &area_codes)?;
            }
            let visits_sql =
                format!("{SELECT_VISIT} WHERE household_id = ?1 AND id > ?2 ORDER BY id");
            let mut bytes = json_size(&response);
            let mut form_keys = BTreeSet::new();
            'households: for id in held
                .iter()
                .filter(|id| after.is_none_or(|after| **id >= after.household))
            {
                let from = match after {
                    Some(after) if after.household == *id => after.visit.to_string(),
                    _ => String::new(),
                };
                let mut stop = false;
                tx.each(&visits_sql, &[id, &from], |row| {
                    let visit = visit_from(row)?;
                    let size = json_size(&visit);
                    if size > MAX_CHANGE_BYTES {
                        skipped.push(format!("visit {} ({size} bytes)", visit.id));
                        return Ok(true);
                    }
                    if !response.visits.is_empty() && bytes + size > MAX_PAGE_BYTES {
                        let last = response.visits.last().map(|last| SnapshotCursor {
                            household: last.household_id,
                            visit: last.id,
                        });
                        response.resume = last;
                        stop = true;
                        return Ok(false);
                    }
                    bytes += size;
                    form_keys.insert((visit.form_id.clone(), visit.form_version.clone()));
                    response.visits.push(visit);
                    Ok(true)
                })?;
                if stop {
                    break 'households;
                }
            }
            for (form_id, version) in form_keys {
                let form = tx.query_one(
                    &format!("{SELECT_FORM} WHERE form_id = ?1 AND version = ?2"),
                    &[&form_id, &version],
                    form_from,
                )?;
                response.forms.push(form);
            }
            Ok(response)
        })?;
        self.note_skipped(auth, &skipped, now);
        Ok(response)
    }

    /// Logs and audits stored changes too large to serve. Best effort: the
    /// page is served whatever happens here.
    fn note_skipped(&self, auth: DeviceAuth, skipped: &[String], now: DateTime<Utc>) {
        if skipped.is_empty() {
            return;
        }
        tracing::warn!(device = %auth.device_id, count = skipped.len(), "stored changes too large to serve were skipped");
        let event = AuditEvent::new(AuditKind::ChangeSkipped)
            .device(auth.device_id)
            .detail(skipped.join(", "));
        if let Err(error) = self.note(now, &event) {
            tracing::error!(%error, "could not audit skipped changes");
        }
    }
}

fn load_change(tx: &Tx<'_>, entity: &str, entity_id: &str) -> StoreResult<Option<PulledChange>> {
    let by_id = |select: &str| format!("{select} WHERE id = ?1");
    Ok(match entity {
        "household" => tx
            .query_opt(&by_id(SELECT_HOUSEHOLD), &[&entity_id], household_from)?
            .map(PulledChange::Household),
        "visit" => tx
            .query_opt(&by_id(SELECT_VISIT), &[&entity_id], visit_from)?
            .map(PulledChange::Visit),
        "conflict" => match entity_id.parse::<i64>() {
            Ok(id) => super::merge::load_conflict(tx, id)?.map(PulledChange::Conflict),
            Err(_) => None,
        },
        "form" => match entity_id.parse::<i64>() {
            Ok(id) => tx
                .query_opt(&by_id(SELECT_FORM), &[&id], form_from)?
                .map(PulledChange::Form),
            Err(_) => None,
        },
        _ => None,
    })
}
