//! Form versions on the device. Published versions are immutable, so a
//! version is stored once and parsed once.

use std::sync::{Arc, PoisonError};

use doorstep_protocol::FormRecord;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::Store;
use crate::error::{Error, Result};
use crate::forms::Form;
use crate::model::FormSummary;
use crate::sqlite::{time_column, time_text};

impl Store {
    /// Form versions on this device, newest first.
    pub fn forms(&self) -> Result<Vec<FormSummary>> {
        self.read(|connection| {
            let mut statement = connection.prepare(
                "SELECT form_id, version, title, published_at FROM forms
                 ORDER BY published_at DESC, form_id, version DESC",
            )?;
            let rows = statement.query_map([], |row| {
                Ok(FormSummary {
                    form_id: row.get(0)?,
                    version: row.get(1)?,
                    title: row.get(2)?,
                    published_at: time_column(row, 3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// One form version, parsed.
    pub fn form(&self, form_id: &str, version: &str) -> Result<Arc<Form>> {
        self.read(|connection| self.load_form(connection, form_id, version))
    }

    /// A parsed form version, from the cache or the database.
    pub(crate) fn load_form(
        &self,
        connection: &Connection,
        form_id: &str,
        version: &str,
    ) -> Result<Arc<Form>> {
        let key = (form_id.to_string(), version.to_string());
        if let Some(form) = self
            .forms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(Arc::clone(form));
        }
        let definition: String = connection
            .prepare_cached("SELECT definition FROM forms WHERE form_id = ?1 AND version = ?2")?
            .query_row(params![form_id, version], |row| row.get(0))
            .optional()?
            .ok_or_else(|| Error::UnknownForm {
                form_id: form_id.to_string(),
                version: Some(version.to_string()),
            })?;
        let bad_form = |message: String| Error::BadForm {
            form_id: form_id.to_string(),
            version: version.to_string(),
            message,
        };
        let value: serde_json::Value =
            serde_json::from_str(&definition).map_err(|error| bad_form(error.to_string()))?;
        let form =
            Arc::new(Form::from_definition(&value).map_err(|error| bad_form(error.to_string()))?);
        self.forms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, Arc::clone(&form));
        Ok(form)
    }
}

/// The version to record a new visit with: the newest of `form_id`, or, when
/// no form is named, the device's only form (or the newest published one).
pub(crate) fn resolve_form(
    connection: &Connection,
    form_id: Option<&str>,
) -> Result<(String, String)> {
    let newest = |sql: &str, values: &[&str]| -> Result<Option<(String, String)>> {
        Ok(connection
            .prepare_cached(sql)?
            .query_row(rusqlite::params_from_iter(values), |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?)
    };
    match form_id {
        Some(form_id) => newest(
            "SELECT form_id, version FROM forms WHERE form_id = ?1 ORDER BY published_at DESC, version DESC LIMIT 1",
            &[form_id],
        )?
        .ok_or_else(|| Error::UnknownForm {
            form_id: form_id.to_string(),
            version: None,
        }),
        None => newest(
            "SELECT form_id, version FROM forms ORDER BY published_at DESC, version DESC LIMIT 1",
            &[],
        )?
        .ok_or(Error::NoForm),
    }
}

/// Stores a published form version; a version already held is left as is.
pub(crate) fn put_form(transaction: &Transaction<'_>, form: &FormRecord) -> Result<()> {
    let definition = serde_json::to_string(&form.definition)
        .map_err(|error| Error::Protocol(error.to_string()))?;
    transaction
        .prepare_cached(
            "INSERT INTO forms (form_id, version, title, definition, published_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (form_id, version) DO NOTHING",
        )?
        .execute(params![
            form.form_id,
            form.version,
            form.title,
            definition,
            time_text(form.published_at)
        ])?;
    Ok(())
}
