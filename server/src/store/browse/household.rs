//! A household's page: its record, each field's history (who changed
//! what, from which device), and its visits in order with their answers
//! under the form's labels, corrections linked both ways.

use doorstep_forms::{Form, Question, QuestionKind};
use doorstep_protocol::HouseholdRecord;
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{AreaNode, area_path};
use crate::store::db::Tx;
use crate::store::rows::{SELECT_HOUSEHOLD, household_from};
use crate::store::{Scope, ServerStore, StoreError, StoreResult};

/// A household's visits a page shows at most (newest kept).
pub const MAX_VISITS_SHOWN: i64 = 100;

/// One write of a household field, with who made it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub value: Value,
    pub version: u64,
    pub changed_at: String,
    /// The cadre and device that wrote it; `None`: the server (an import
    /// or a supervisor's resolution).
    pub cadre: Option<String>,
    pub device: Option<String>,
}

/// One line of a visit's answers: a label and the answer as text, at a
/// depth (items of a repeat are one deeper than the repeat).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnswerLine {
    pub depth: usize,
    pub label: String,
    /// `None` for a heading (a group or a repeat's item).
    pub value: Option<String>,
}

/// A visit as the household page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VisitView {
    pub id: String,
    pub recorded_at: String,
    pub received_at: String,
    pub cadre: String,
    pub device: String,
    pub form: String,
    /// The visit this one corrects, and the visits that correct it.
    pub corrects: Option<String>,
    pub corrected_by: Vec<String>,
    pub answers: Vec<AnswerLine>,
}

/// Everything the household page shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HouseholdPage {
    pub record: HouseholdRecord,
    pub path: Vec<AreaNode>,
    pub history: Vec<FieldChange>,
    pub visits: Vec<VisitView>,
    pub visit_count: u64,
}

impl ServerStore {
    /// The page of household `id` in `language` (`zh-CN` or `en`), if it
    /// exists in the scope.
    pub fn household_page(
        &self,
        scope: &Scope,
        id: Uuid,
        language: &str,
    ) -> StoreResult<HouseholdPage> {
        let key = id.to_string();
        self.read(|tx| {
            if !scope.contains_household(tx, &key)? {
                return Err(StoreError::NotFound(format!(
                    "household {id} is not known here"
                )));
            }
            let record = tx.query_one(
                &format!("{SELECT_HOUSEHOLD} WHERE id = ?1"),
                &[&key],
                household_from,
            )?;
            let path = area_path(tx, scope, &record.village_code)?;
            let history = history(tx, &key)?;
            let visit_count: i64 = tx.value(
                "SELECT count(*) FROM visits WHERE household_id = ?1",
                &[&key],
            )?;
            let visits = visits(self, tx, &key, language)?;
            Ok(HouseholdPage {
                record,
                path,
                history,
                visits,
                visit_count: visit_count.unsigned_abs(),
            })
        })
    }
}

fn history(tx: &Tx<'_>, household: &str) -> StoreResult<Vec<FieldChange>> {
    tx.query(
        "SELECT f.field, f.value, f.version, f.changed_at, c.name, coalesce(d.label, substr(d.id, 1, 8))
         FROM household_fields f LEFT JOIN devices d ON d.id = f.origin_device
         LEFT JOIN cadres c ON c.id = d.cadre_id
         WHERE f.household_id = ?1 ORDER BY f.version DESC, f.field",
        &[&household],
        |row| {
            Ok(FieldChange {
                field: row.get(0)?,
                value: serde_json::from_str(&row.get::<String>(1)?).unwrap_or(Value::Null),
                version: row.get::<i64>(2)?.unsigned_abs(),
                changed_at: row.get(3)?,
                cadre: row.get(4)?,
                device: row.get(5)?,
            })
        },
    )
}

/// A visit's row, before its form renders its answers.
struct VisitRow {
    id: String,
    recorded_at: String,
    received_at: String,
    cadre: String,
    device: String,
    form_id: String,
    version: String,
    corrects: Option<String>,
    answers: String,
    computed: String,
}

fn visits(
    store: &ServerStore,
    tx: &Tx<'_>,
    household: &str,
    language: &str,
) -> StoreResult<Vec<VisitView>> {
    let rows = tx.query(
        "SELECT v.id, v.recorded_at, v.received_at, c.name, coalesce(d.label, substr(d.id, 1, 8)),
                v.form_id, v.form_version, v.corrects, v.answers, v.computed
         FROM visits v JOIN cadres c ON c.id = v.cadre_id JOIN devices d ON d.id = v.device_id
         WHERE v.household_id = ?1 ORDER BY v.recorded_at DESC, v.id DESC LIMIT ?2",
        &[&household, &MAX_VISITS_SHOWN],
        |row| {
            Ok(VisitRow {
                id: row.get(0)?,
                recorded_at: row.get(1)?,
                received_at: row.get(2)?,
                cadre: row.get(3)?,
                device: row.get(4)?,
                form_id: row.get(5)?,
                version: row.get(6)?,
                corrects: row.get(7)?,
                answers: row.get(8)?,
                computed: row.get(9)?,
            })
        },
    )?;
    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        let form = crate::store::push::load_form(store, tx, &row.form_id, &row.version)?;
        let answers: Map<String, Value> = serde_json::from_str(&row.answers).unwrap_or_default();
        let computed: Map<String, Value> = serde_json::from_str(&row.computed).unwrap_or_default();
        let lines = match &form {
            Some(form) => render(form, &form.questions, &answers, &computed, language, 0),
            None => Vec::new(),
        };
        let corrected_by: Vec<String> = tx.query(
            "SELECT id FROM visits WHERE corrects = ?1 ORDER BY recorded_at, id",
            &[&row.id],
            |row| row.get(0),
        )?;
        let title = form
            .as_ref()
            .map_or_else(|| row.form_id.clone(), |form| form.title.clone());
        views.push(VisitView {
            id: row.id,
            recorded_at: row.recorded_at,
            received_at: row.received_at,
            cadre: row.cadre,
            device: row.device,
            form: format!("{title} ({})", row.version),
            corrects: row.corrects,
            corrected_by,
            answers: lines,
        });
    }
    Ok(views)
}

/// The answered questions of `questions`, in form order, labelled in
/// `language`; choices by their labels.
fn render(
    form: &Form,
    questions: &[Question],
    answers: &Map<String, Value>,
    computed: &Map<String, Value>,
    language: &str,
    depth: usize,
) -> Vec<AnswerLine> {
    let mut lines = Vec::new();
    for question in questions {
        let label = question
            .label
            .get(Some(language))
            .map_or_else(|| question.name.clone(), str::to_owned);
        match &question.kind {
            QuestionKind::Group => {
                let inner = render(
                    form,
                    &question.children,
                    answers,
                    computed,
                    language,
                    depth + 1,
                );
                if !inner.is_empty() {
                    lines.push(AnswerLine {
                        depth,
                        label,
                        value: None,
                    });
                    lines.extend(inner);
                }
            }
            QuestionKind::Repeat => {
                let items = answers
                    .get(&question.name)
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                for (index, item) in items.iter().enumerate() {
                    let Some(item) = item.as_object() else {
                        continue;
                    };
                    lines.push(AnswerLine {
                        depth,
                        label: format!("{label} #{}", index + 1),
                        value: None,
                    });
                    lines.extend(render(
                        form,
                        &question.children,
                        item,
                        &Map::new(),
                        language,
                        depth + 1,
                    ));
                }
            }
            QuestionKind::Note => {}
            kind => {
                let Some(value) = answers
                    .get(&question.name)
                    .or_else(|| computed.get(&question.name))
                    .filter(|value| !value.is_null())
                else {
                    continue;
                };
                lines.push(AnswerLine {
                    depth,
                    label,
                    value: Some(answer_text(form, kind, value, language)),
                });
            }
        }
    }
    lines
}

fn answer_text(form: &Form, kind: &QuestionKind, value: &Value, language: &str) -> String {
    let choice = |list: &str, name: &str| -> String {
        form.choices
            .get(list)
            .and_then(|choices| choices.iter().find(|choice| choice.name == name))
            .and_then(|choice| choice.label.get(Some(language)))
            .map_or_else(|| name.to_owned(), str::to_owned)
    };
    match (kind, value) {
        (QuestionKind::SelectOne { list }, Value::String(name)) => choice(list, name),
        (
            QuestionKind::SelectMultiple { list } | QuestionKind::Rank { list },
            Value::Array(names),
        ) => names
            .iter()
            .filter_map(Value::as_str)
            .map(|name| choice(list, name))
            .collect::<Vec<_>>()
            .join("、"),
        (_, Value::String(text)) => text.clone(),
        (_, Value::Number(number)) => number.to_string(),
        (_, Value::Bool(flag)) => flag.to_string(),
        (_, Value::Object(map)) => match (map.get("lat"), map.get("lon")) {
            (Some(lat), Some(lon)) => format!("{lat}, {lon}"),
            _ => value.to_string(),
        },
        _ => value.to_string(),
    }
}
