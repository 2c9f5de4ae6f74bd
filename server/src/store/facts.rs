//! What the console lists, kept beside the data it comes from (migration
//! 7): one `household_facts` row per household (its search text and what
//! its latest visit says), the members working away that visit lists, and
//! visits per village and day.
//!
//! Written in the transaction that writes the household or the visit, so
//! the console never sees one without the other. The indicators are read
//! by name from the visit's answers and calculated values, the names of
//! the demo form (docs/forms.md, "What the console reads"); a form without
//! them leaves them empty.

use doorstep_core::store::{SEARCH_FIELD_SEPARATOR, normalise_search};
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::StoreResult;
use super::db::Tx;

/// The answer names the console reads.
pub mod names {
    pub const PER_CAPITA_INCOME: &str = "per_capita_income";
    pub const BELOW_LINE: &str = "below_line";
    pub const RISK_CATEGORY: &str = "risk_category";
    pub const RELOCATED: &str = "relocated";
    pub const ASSURANCE_GAPS: &str = "assurance_gaps";
    pub const DRINKING_WATER_SAFE: &str = "drinking_water_safe";
    pub const MIGRANTS: &str = "migrants";
}

/// Rewrites a household's search text, village and group from its row
/// (after an import or an edit), creating its facts row if needed.
pub(crate) fn refresh_household(tx: &Tx<'_>, household: &str) -> StoreResult<()> {
    let row: Option<(String, String, [String; 6])> = tx.query_opt(
        "SELECT h.village_code, h.group_name, h.head_name, h.id_card_suffix, h.phone, h.address,
                coalesce(a.name, ''), h.group_name
         FROM households h LEFT JOIN areas a ON a.code = h.village_code WHERE h.id = ?1",
        &[&household],
        |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                [
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                    row.get(7)?,
                ],
            ))
        },
    )?;
    let Some((village, group, fields)) = row else {
        return Ok(());
    };
    let text = fields
        .iter()
        .map(|field| normalise_search(field))
        .collect::<Vec<_>>()
        .join(&SEARCH_FIELD_SEPARATOR.to_string());
    tx.execute(
        "INSERT INTO household_facts (household_id, village_code, group_name, search_text)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (household_id) DO UPDATE SET village_code = excluded.village_code,
             group_name = excluded.group_name, search_text = excluded.search_text",
        &[&household, &village, &group, &text],
    )?;
    Ok(())
}

/// Counts a new visit and, when it is the household's latest (by the
/// device's clock; ties by id), takes its indicators and migrants.
pub(crate) fn record_visit(
    tx: &Tx<'_>,
    household: &str,
    visit: &str,
    recorded_at: &str,
    answers: &Map<String, Value>,
    computed: &Map<String, Value>,
) -> StoreResult<()> {
    let day = recorded_at.get(..10).unwrap_or(recorded_at).to_string();
    record_visits(
        tx,
        household,
        1,
        &BTreeMap::from([(day, 1)]),
        Some(LatestVisit {
            id: visit,
            recorded_at,
            answers,
            computed,
        }),
    )
}

/// Takes a household's indicators and members working away from its
/// latest visit.
fn take_indicators(
    tx: &Tx<'_>,
    household: &str,
    visit: &str,
    recorded_at: &str,
    answers: &Map<String, Value>,
    computed: &Map<String, Value>,
) -> StoreResult<()> {
    let value = |name: &str| answers.get(name).or_else(|| computed.get(name));
    let number = |name: &str| value(name).and_then(Value::as_f64);
    let yes_no = |name: &str| match value(name).and_then(Value::as_str) {
        Some("yes") => Some(1),
        Some("no") => Some(0),
        _ => None,
    };
    let water_unsafe = yes_no(names::DRINKING_WATER_SAFE).map(|safe| 1 - safe);
    tx.execute(
        "UPDATE household_facts SET last_visit_id = ?2, last_visit_at = ?3, per_capita_income = ?4,
             below_line = ?5, risk_category = ?6, relocated = ?7, assurance_gaps = ?8, water_unsafe = ?9
         WHERE household_id = ?1",
        &[
            &household,
            &visit,
            &recorded_at,
            &number(names::PER_CAPITA_INCOME),
            &yes_no(names::BELOW_LINE),
            &value(names::RISK_CATEGORY).and_then(Value::as_str),
            &yes_no(names::RELOCATED),
            &number(names::ASSURANCE_GAPS).map(|gaps| gaps.max(0.0) as i64),
            &water_unsafe,
        ],
    )?;
    tx.execute(
        "DELETE FROM household_migrants WHERE household_id = ?1",
        &[&household],
    )?;
    let migrants = answers
        .get(names::MIGRANTS)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (index, migrant) in migrants.iter().enumerate() {
        let text = |name: &str| migrant.get(name).and_then(Value::as_str);
        tx.execute(
            "INSERT INTO household_migrants (household_id, position, visit_id, name, destination, city, employer, return_date)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            &[
                &household,
                &i64::try_from(index + 1).unwrap_or(i64::MAX),
                &visit,
                &text("migrant_name"),
                &text("destination"),
                &text("city"),
                &text("employer"),
                &text("return_date"),
            ],
        )?;
    }
    Ok(())
}

/// The latest of the visits a push brings to one household.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LatestVisit<'a> {
    pub id: &'a str,
    pub recorded_at: &'a str,
    pub answers: &'a Map<String, Value>,
    pub computed: &'a Map<String, Value>,
}

/// [`record_visit`] for several visits of one household at once (a push):
/// `count` more visits, on these days, and `latest` the latest of them,
/// which replaces the household's indicators when it is later than the
/// one they come from.
pub(crate) fn record_visits(
    tx: &Tx<'_>,
    household: &str,
    count: i64,
    days: &BTreeMap<String, i64>,
    latest: Option<LatestVisit<'_>>,
) -> StoreResult<()> {
    refresh_household_if_missing(tx, household)?;
    let stored: Option<(Option<String>, Option<String>)> = tx.query_opt(
        "UPDATE household_facts SET visits = visits + ?2 WHERE household_id = ?1
         RETURNING last_visit_at, last_visit_id",
        &[&household, &count],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    for (day, visits) in days {
        tx.execute(
            "INSERT INTO village_visit_days (village_code, day, visits)
             SELECT village_code, ?2, ?3 FROM household_facts WHERE household_id = ?1
             ON CONFLICT (village_code, day) DO UPDATE
                 SET visits = village_visit_days.visits + excluded.visits",
            &[&household, day, visits],
        )?;
    }
    let Some(latest) = latest else {
        return Ok(());
    };
    let newer = match stored {
        Some((Some(at), Some(id))) => (latest.recorded_at, latest.id) > (at.as_str(), id.as_str()),
        _ => true,
    };
    if newer {
        take_indicators(
            tx,
            household,
            latest.id,
            latest.recorded_at,
            latest.answers,
            latest.computed,
        )?;
    }
    Ok(())
}

fn refresh_household_if_missing(tx: &Tx<'_>, household: &str) -> StoreResult<()> {
    let present: bool = tx.value(
        "SELECT EXISTS (SELECT 1 FROM household_facts WHERE household_id = ?1)",
        &[&household],
    )?;
    if !present {
        refresh_household(tx, household)?;
    }
    Ok(())
}

/// Migration 7's Rust step: facts for every household and visit already
/// stored, visits in the order they arrived.
pub(crate) fn fill_all(transaction: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    fill(&Tx::sqlite(transaction))
        .map_err(|error| rusqlite::Error::ToSqlConversionFailure(error.to_string().into()))
}

/// Facts for every household and visit stored, visits in the order they
/// arrived.
pub(crate) fn fill(tx: &Tx<'_>) -> StoreResult<()> {
    let households: Vec<String> = tx.query("SELECT id FROM households", &[], |row| row.get(0))?;
    for household in &households {
        refresh_household(tx, household)?;
    }
    let visits: Vec<(String, String, String, String, String)> = tx.query(
        "SELECT id, household_id, recorded_at, answers, computed FROM visits ORDER BY received_at, id",
        &[],
        |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        },
    )?;
    for (visit, household, recorded_at, answers, computed) in visits {
        let answers: Map<String, Value> = serde_json::from_str(&answers).unwrap_or_default();
        let computed: Map<String, Value> = serde_json::from_str(&computed).unwrap_or_default();
        record_visit(tx, &household, &visit, &recorded_at, &answers, &computed)?;
    }
    Ok(())
}
