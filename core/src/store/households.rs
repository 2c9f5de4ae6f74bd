//! Households and areas on the device, and household search.
//!
//! Search must find a Chinese name by any part of it, one character
//! included, so it indexes every one- and two-character piece ("gram") of
//! each searchable field. A query of one character looks up that character;
//! a longer query looks up all its two-character pieces, keeps the
//! households that have every one, and confirms the whole query as a
//! substring of the normalised text.

use doorstep_protocol::{AreaRecord, HouseholdRecord};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params, params_from_iter};
use uuid::Uuid;

use super::Store;
use crate::error::{Error, Result};
use crate::model::{Household, Village};
use crate::sqlite::{count_column, household_record_from_row};

/// Separates fields in the search text so a match never spans two fields.
pub const FIELD_SEPARATOR: char = '\u{1f}';

/// At most this many grams are looked up for one query; the substring check
/// afterwards keeps the result exact.
const MAX_QUERY_GRAMS: usize = 12;

const SELECT_HOUSEHOLD: &str =
    "SELECT h.id, h.village_code, h.head_name, h.id_card_suffix, h.group_name,
        h.members, h.phone, h.address, h.lat, h.lon, h.category, h.version,
        a.name, EXISTS (SELECT 1 FROM assignments s WHERE s.household_id = h.id)
    FROM households h LEFT JOIN areas a ON a.code = h.village_code";

impl Store {
    /// Households on this device, all of them or those matching `search`
    /// (any part of the head's name, ID-card suffix, phone, address or
    /// village), ordered by village, group and name.
    pub fn households(&self, search: Option<&str>) -> Result<Vec<Household>> {
        self.households_in(None, search)
    }

    /// Like [`Store::households`], within one village when `village` (its
    /// code) is given.
    pub fn households_in(
        &self,
        village: Option<&str>,
        search: Option<&str>,
    ) -> Result<Vec<Household>> {
        self.read(|connection| {
            let mut filters = Vec::new();
            let mut values = Vec::new();
            if let Some(village) = village {
                filters.push("h.village_code = ?".to_string());
                values.push(village.to_string());
            }
            if let Some(query) = search.map(normalise).filter(|query| !query.is_empty()) {
                let (filter, mut more) = search_filter(&query);
                filters.push(filter);
                values.append(&mut more);
            }
            let filter = if filters.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", filters.join(" AND "))
            };
            query_households(connection, &filter, &values)
        })
    }

    /// The villages of the households on this device, with how many each.
    pub fn villages(&self) -> Result<Vec<Village>> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT h.village_code, coalesce(a.name, h.village_code), count(*)
                 FROM households h LEFT JOIN areas a ON a.code = h.village_code
                 GROUP BY h.village_code ORDER BY h.village_code",
            )?;
            let rows = statement.query_map([], |row| {
                Ok(Village {
                    code: row.get(0)?,
                    name: row.get(1)?,
                    households: count_column(row, 2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    pub fn household(&self, id: Uuid) -> Result<Option<Household>> {
        self.read(|connection| household(connection, id))
    }
}

pub(crate) fn household(connection: &Connection, id: Uuid) -> Result<Option<Household>> {
    let sql = format!("{SELECT_HOUSEHOLD} WHERE h.id = ?1");
    Ok(connection
        .prepare_cached(&sql)?
        .query_row([id.to_string()], household_from_row)
        .optional()?)
}

/// The condition (and its values) that keeps households matching a
/// normalised query.
fn search_filter(query: &str) -> (String, Vec<String>) {
    let mut grams = query_grams(query);
    grams.truncate(MAX_QUERY_GRAMS);
    let placeholders = vec!["?"; grams.len()].join(", ");
    let filter = format!(
        "h.id IN (SELECT household_id FROM household_grams WHERE gram IN ({placeholders})
                  GROUP BY household_id HAVING count(*) = {count})
         AND instr((SELECT text FROM household_search s WHERE s.household_id = h.id), ?) > 0",
        count = grams.len()
    );
    let mut values = grams;
    values.push(query.to_string());
    (filter, values)
}

fn query_households(
    connection: &Connection,
    filter: &str,
    values: &[String],
) -> Result<Vec<Household>> {
    let sql = format!(
        "{SELECT_HOUSEHOLD} {filter} ORDER BY h.village_code, h.group_name, h.head_name, h.id"
    );
    let mut statement = connection.prepare(&sql)?;
    let rows = statement.query_map(params_from_iter(values), household_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn household_from_row(row: &Row<'_>) -> rusqlite::Result<Household> {
    Ok(Household {
        record: household_record_from_row(row)?,
        village: row.get(12)?,
        assigned: row.get(13)?,
    })
}

/// Stores an area the device's households lie in.
pub(crate) fn put_area(transaction: &Transaction<'_>, area: &AreaRecord) -> Result<()> {
    transaction
        .prepare_cached(
            "INSERT INTO areas (code, name, level, parent_code) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, level = excluded.level,
                                             parent_code = excluded.parent_code",
        )?
        .execute(params![
            area.code,
            area.name,
            area.level.as_str(),
            area.parent_code
        ])?;
    Ok(())
}

/// Stores a household record from the server unless the device already has
/// a newer version, and reindexes it for search.
pub(crate) fn put_household(transaction: &Transaction<'_>, record: &HouseholdRecord) -> Result<()> {
    // The village may not be known yet (a household pulled before its
    // snapshot); keep the foreign key satisfied with a placeholder the
    // snapshot later fills in.
    transaction
        .prepare_cached(
            "INSERT INTO areas (code, name, level) VALUES (?1, ?1, 'village') ON CONFLICT (code) DO NOTHING",
        )?
        .execute([&record.village_code])?;
    let version = i64::try_from(record.version)
        .map_err(|_| Error::Protocol("household version out of range".into()))?;
    transaction
        .prepare_cached(
            "INSERT INTO households (id, village_code, head_name, id_card_suffix, group_name, members,
                                     phone, address, lat, lon, category, version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (id) DO UPDATE SET
                village_code = excluded.village_code, head_name = excluded.head_name,
                id_card_suffix = excluded.id_card_suffix, group_name = excluded.group_name,
                members = excluded.members, phone = excluded.phone, address = excluded.address,
                lat = excluded.lat, lon = excluded.lon, category = excluded.category,
                version = excluded.version
             WHERE excluded.version >= households.version",
        )?
        .execute(params![
            record.id.to_string(),
            record.village_code,
            record.head_name,
            record.id_card_suffix,
            record.group,
            record.members,
            record.phone,
            record.address,
            record.lat,
            record.lon,
            record.category,
            version,
        ])?;
    // What the cadre typed and the server does not have yet stays shown.
    super::edits::overlay(transaction, record.id)?;
    reindex(transaction, record.id)?;
    Ok(())
}

/// Rebuilds the search rows of one household from its stored fields.
pub(crate) fn reindex(transaction: &Transaction<'_>, id: Uuid) -> rusqlite::Result<()> {
    let key = id.to_string();
    let fields: Option<[String; 6]> = transaction
        .prepare_cached(
            "SELECT h.head_name, h.id_card_suffix, h.phone, h.address, coalesce(a.name, ''), h.group_name
             FROM households h LEFT JOIN areas a ON a.code = h.village_code WHERE h.id = ?1",
        )?
        .query_row([&key], |row| {
            Ok([row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?])
        })
        .optional()?;
    transaction
        .prepare_cached("DELETE FROM household_grams WHERE household_id = ?1")?
        .execute([&key])?;
    let Some(fields) = fields else {
        transaction
            .prepare_cached("DELETE FROM household_search WHERE household_id = ?1")?
            .execute([&key])?;
        return Ok(());
    };
    let normalised: Vec<String> = fields.iter().map(|field| normalise(field)).collect();
    let text = normalised.join(&FIELD_SEPARATOR.to_string());
    transaction
        .prepare_cached(
            "INSERT INTO household_search (household_id, text) VALUES (?1, ?2)
             ON CONFLICT (household_id) DO UPDATE SET text = excluded.text",
        )?
        .execute([&key, &text])?;
    let mut insert = transaction.prepare_cached(
        "INSERT OR IGNORE INTO household_grams (gram, household_id) VALUES (?1, ?2)",
    )?;
    for gram in normalised.iter().flat_map(|field| field_grams(field)) {
        insert.execute([&gram, &key])?;
    }
    Ok(())
}

/// Migration 2's backfill: indexes every household already stored.
pub(crate) fn reindex_all(transaction: &Transaction<'_>) -> rusqlite::Result<()> {
    let ids: Vec<String> = transaction
        .prepare("SELECT id FROM households")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in ids {
        if let Ok(id) = Uuid::parse_str(&id) {
            reindex(transaction, id)?;
        }
    }
    Ok(())
}

/// Lower case, no white space: "王 建国" finds "王建国", "x" finds "X".
/// The server's console searches with the same rule.
pub fn normalise(text: &str) -> String {
    text.chars()
        .filter(|character| !character.is_whitespace() && *character != FIELD_SEPARATOR)
        .flat_map(char::to_lowercase)
        .collect()
}

/// Every one- and two-character piece of a normalised field.
fn field_grams(field: &str) -> Vec<String> {
    let characters: Vec<char> = field.chars().collect();
    let mut grams: Vec<String> = characters
        .iter()
        .map(|character| character.to_string())
        .collect();
    grams.extend(
        characters
            .windows(2)
            .map(|pair| pair.iter().collect::<String>()),
    );
    grams.sort_unstable();
    grams.dedup();
    grams
}

/// The grams a normalised query looks up: itself if one character long,
/// otherwise its two-character pieces.
fn query_grams(query: &str) -> Vec<String> {
    let characters: Vec<char> = query.chars().collect();
    let mut grams: Vec<String> = if characters.len() == 1 {
        vec![query.to_string()]
    } else {
        characters
            .windows(2)
            .map(|pair| pair.iter().collect())
            .collect()
    };
    grams.sort_unstable();
    grams.dedup();
    grams
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grams_cover_single_characters_and_pairs() {
        assert_eq!(
            field_grams("王建国"),
            vec!["国", "建", "建国", "王", "王建"]
        );
        assert_eq!(query_grams("建"), vec!["建"]);
        assert_eq!(query_grams("王建国"), vec!["建国", "王建"]);
        assert_eq!(query_grams("aaa"), vec!["aa"]);
    }

    #[test]
    fn normalising_drops_spaces_and_case() {
        assert_eq!(normalise(" 王 建国 "), "王建国");
        assert_eq!(normalise("123X"), "123x");
    }
}
