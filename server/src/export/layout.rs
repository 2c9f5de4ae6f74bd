//! The tables of a CSV or XLSX export, from the form's definition, as ODK
//! Central and Kobo lay them out: one row per visit, with a column per
//! question in form order (groups flattened) and then the computed values;
//! and one more table per repeat (nested ones too), a row per item, joined
//! to its visit by `visit_id` and to its parent item by the parent's index.

use std::collections::HashMap;

use doorstep_core::sqlite::time_text;
use doorstep_forms::{Form, Labels, Metadata, Question, QuestionKind};
use doorstep_protocol::{Answers, VisitRecord};
use serde_json::Value;

use super::ExportError;

/// The columns every visit row starts with.
pub const VISIT_COLUMNS: [&str; 11] = [
    "visit_id",
    "household_id",
    "village_code",
    "cadre_id",
    "device_id",
    "form_id",
    "form_version",
    "recorded_at",
    "received_at",
    "corrects",
    // Files the visit names that have not reached the server yet.
    "files_missing",
];

/// How a select's answer is written: its choices' names, or their labels
/// in the form's `default_language`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChoiceText {
    Names,
    Labels,
}

/// Where [`Layout::rows`] hands each row: `(table index, cells)`.
pub type RowWriter<'w> = dyn FnMut(usize, &[Cell]) -> Result<(), ExportError> + 'w;

/// One cell: nothing, text, or a number (a number cell in XLSX).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Number(f64),
}

/// A question's column: where its value is and how it is written.
#[derive(Debug)]
struct Field {
    name: String,
    geopoint: bool,
    /// Choice name → label, for selects when labels are asked for.
    labels: Option<HashMap<String, String>>,
}

/// One table of the export.
#[derive(Debug)]
pub struct Table {
    /// `visits` for the visits' table, else the repeat's name.
    pub name: String,
    pub header: Vec<String>,
    fields: Vec<Field>,
    computed: Vec<Field>,
    /// The repeats inside this table's questions, as table indexes.
    children: Vec<usize>,
}

/// Every table of a form's export; the visits' table first.
#[derive(Debug)]
pub struct Layout {
    pub tables: Vec<Table>,
}

impl Layout {
    /// The index of the table called `name` (`visits`, or a repeat's).
    pub fn table(&self, name: &str) -> Option<usize> {
        self.tables.iter().position(|table| table.name == name)
    }

    /// The tables' names, in order.
    pub fn table_names(&self) -> Vec<&str> {
        self.tables
            .iter()
            .map(|table| table.name.as_str())
            .collect()
    }
}

impl Layout {
    pub fn new(form: &Form, choices: ChoiceText) -> Layout {
        let mut layout = Layout { tables: Vec::new() };
        let language = form.default_language.as_deref();
        let context = Context {
            form,
            choices,
            language,
        };
        let keys: Vec<String> = VISIT_COLUMNS.iter().map(|key| key.to_string()).collect();
        layout.add_table(&context, "visits", keys, &form.questions);
        layout
    }

    fn add_table(
        &mut self,
        context: &Context<'_>,
        name: &str,
        keys: Vec<String>,
        questions: &[Question],
    ) -> usize {
        let index = self.tables.len();
        let mut found = Found::default();
        flatten(context, questions, &mut found);
        let mut header = keys.clone();
        header.extend(found.fields.iter().map(|field| field.name.clone()));
        header.extend(found.computed.iter().map(|field| field.name.clone()));
        self.tables.push(Table {
            name: name.to_string(),
            header,
            fields: found.fields,
            computed: found.computed,
            children: Vec::new(),
        });
        // A repeat's items are keyed by the visit and every enclosing
        // repeat's index: `visit_id`, (`members_index`,) `jobs_index`.
        let parent_keys: Vec<String> = if index == 0 {
            vec!["visit_id".to_string()]
        } else {
            keys
        };
        for repeat in found.repeats {
            let mut keys = parent_keys.clone();
            keys.push(format!("{}_index", repeat.name));
            let child = self.add_table(context, &repeat.name, keys, &repeat.children);
            self.tables[index].children.push(child);
        }
        index
    }

    /// Hands the rows of one visit to `row`: its row in the visits' table
    /// and one per repeat item, as `(table index, cells)`.
    pub fn rows(
        &self,
        visit: &VisitRecord,
        village: Option<&str>,
        files_missing: u64,
        row: &mut RowWriter<'_>,
    ) -> Result<(), ExportError> {
        let text = |value: String| Cell::Text(value);
        let mut keys = vec![text(visit.id.to_string())];
        let mut cells = keys.clone();
        cells.extend([
            text(visit.household_id.to_string()),
            village.map_or(Cell::Empty, |code| text(code.to_string())),
            text(visit.cadre_id.to_string()),
            text(visit.device_id.to_string()),
            text(visit.form_id.clone()),
            text(visit.form_version.clone()),
            text(time_text(visit.recorded_at)),
            visit
                .received_at
                .map_or(Cell::Empty, |at| text(time_text(at))),
            visit
                .corrects
                .map_or(Cell::Empty, |id| text(id.to_string())),
            Cell::Number(files_missing as f64),
        ]);
        self.item_rows(0, &mut keys, cells, &visit.answers, &visit.computed, row)
    }

    fn item_rows(
        &self,
        index: usize,
        keys: &mut Vec<Cell>,
        mut cells: Vec<Cell>,
        answers: &Answers,
        computed: &Answers,
        row: &mut RowWriter<'_>,
    ) -> Result<(), ExportError> {
        let table = &self.tables[index];
        cells.extend(
            table
                .fields
                .iter()
                .map(|field| field.cell(answers.get(&field.name))),
        );
        cells.extend(
            table
                .computed
                .iter()
                .map(|field| field.cell(computed.get(&field.name))),
        );
        row(index, &cells)?;
        let empty = Answers::new();
        for &child in &table.children {
            let name = &self.tables[child].name;
            let answer_items = items(answers.get(name));
            let computed_items = items(computed.get(name));
            for (position, item) in answer_items.iter().enumerate() {
                let item_computed = computed_items.get(position).copied().unwrap_or(&empty);
                keys.push(Cell::Number((position + 1) as f64));
                let cells = keys.clone();
                self.item_rows(child, keys, cells, item, item_computed, row)?;
                keys.pop();
            }
        }
        Ok(())
    }
}

/// A repeat's items: the objects of its array.
fn items(value: Option<&Value>) -> Vec<&Answers> {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_object).collect(),
        _ => Vec::new(),
    }
}

struct Context<'f> {
    form: &'f Form,
    choices: ChoiceText,
    language: Option<&'f str>,
}

#[derive(Default)]
struct Found<'q> {
    fields: Vec<Field>,
    computed: Vec<Field>,
    repeats: Vec<&'q Question>,
}

/// The questions of one table, groups flattened, repeats set aside.
fn flatten<'q>(context: &Context<'_>, questions: &'q [Question], found: &mut Found<'q>) {
    for question in questions {
        match &question.kind {
            QuestionKind::Group => flatten(context, &question.children, found),
            QuestionKind::Repeat => found.repeats.push(question),
            QuestionKind::Note => {}
            QuestionKind::Calculate => found.computed.push(field(context, question)),
            _ => found.fields.push(field(context, question)),
        }
    }
}

fn field(context: &Context<'_>, question: &Question) -> Field {
    let labels = match context.choices {
        ChoiceText::Labels => context.form.choices_of(question).map(|choices| {
            choices
                .iter()
                .map(|choice| {
                    let label = label(&choice.label, context.language).unwrap_or(&choice.name);
                    (choice.name.clone(), label.to_string())
                })
                .collect()
        }),
        ChoiceText::Names => None,
    };
    Field {
        name: question.name.clone(),
        geopoint: matches!(
            question.kind,
            QuestionKind::Geopoint | QuestionKind::Metadata(Metadata::StartGeopoint)
        ),
        labels,
    }
}

/// The label in the form's default language, else the first there is.
fn label<'l>(labels: &'l Labels, language: Option<&str>) -> Option<&'l str> {
    language
        .and_then(|language| labels.text(language))
        .or_else(|| labels.text(Labels::DEFAULT))
        .or_else(|| labels.texts().next().map(|(_, text)| text))
}

impl Field {
    fn cell(&self, value: Option<&Value>) -> Cell {
        match value {
            None | Some(Value::Null) => Cell::Empty,
            Some(Value::String(text)) => Cell::Text(self.choice(text).to_string()),
            Some(Value::Number(number)) => number
                .as_f64()
                .map_or_else(|| Cell::Text(number.to_string()), Cell::Number),
            Some(Value::Bool(yes)) => Cell::Text(yes.to_string()),
            Some(Value::Array(values)) => {
                let texts: Vec<String> = values
                    .iter()
                    .map(|value| match value {
                        Value::String(text) => self.choice(text).to_string(),
                        other => other.to_string(),
                    })
                    .collect();
                // Labels may hold spaces; names may not.
                let separator = if self.labels.is_some() { "; " } else { " " };
                Cell::Text(texts.join(separator))
            }
            Some(Value::Object(object)) if self.geopoint => {
                let part = |key: &str| {
                    object
                        .get(key)
                        .and_then(Value::as_f64)
                        .map_or_else(|| "0".to_string(), |value| value.to_string())
                };
                Cell::Text(format!(
                    "{} {} {} {}",
                    part("lat"),
                    part("lon"),
                    part("altitude"),
                    part("accuracy")
                ))
            }
            Some(other) => Cell::Text(other.to_string()),
        }
    }

    fn choice<'a>(&'a self, name: &'a str) -> &'a str {
        self.labels
            .as_ref()
            .and_then(|labels| labels.get(name))
            .map_or(name, String::as_str)
    }
}
