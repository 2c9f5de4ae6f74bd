//! What an expression sees: `${name}` resolved from a position in the
//! answers (a sibling inside the same repeat item, or every item's value
//! from outside), `.`, and the injected `today()`.

use chrono::NaiveDate;
use doorstep_protocol::Answers;
use serde_json::Value as Json;

use super::{Engine, Site};
use crate::expr::{Scope, Value};
use crate::{Question, QuestionKind};

impl<'f> Engine<'f> {
    /// `${name}` seen from `frame`.
    pub(super) fn reference(&self, name: &str, frame: &[(&'f str, usize)]) -> Value {
        let Some(site) = self.sites.get(name) else {
            return Value::empty();
        };
        let mut lookup = Lookup {
            engine: self,
            site,
            frame,
            found: Vec::new(),
            many: site.question.kind == QuestionKind::Repeat,
            tracking: self.hidden.may_hide(&site.question.name),
        };
        lookup.gather(0, true, &self.values, String::new());
        if lookup.many {
            Value::Nodes(lookup.found)
        } else {
            lookup.found.pop().unwrap_or_else(Value::empty)
        }
    }
}

/// One `${name}` being resolved: walks down the repeats around the
/// question, following the current position while it can, fanning out over
/// every item where it cannot.
struct Lookup<'e, 'f> {
    engine: &'e Engine<'f>,
    site: &'e Site<'f>,
    frame: &'e [(&'f str, usize)],
    found: Vec<Value>,
    /// More than one value can come back: the answer is a node-set.
    many: bool,
    /// Whether an instance of the question may not apply: only then are
    /// the paths walked through (`prefix`) spelt out, to look them up.
    tracking: bool,
}

impl Lookup<'_, '_> {
    /// The path prefix of an item of `repeat` under `prefix`, when paths
    /// are tracked.
    fn inside(&self, prefix: &str, repeat: &str, item: usize) -> String {
        if self.tracking {
            format!("{prefix}{repeat}[{}]/", item + 1)
        } else {
            String::new()
        }
    }

    fn gather(&mut self, depth: usize, following: bool, map: &Answers, prefix: String) {
        let site = self.site;
        let Some(repeat) = site.repeats.get(depth) else {
            let name = &site.question.name;
            if site.question.kind == QuestionKind::Repeat {
                let items = map.get(name).and_then(Json::as_array).map_or(0, Vec::len);
                self.found.extend((0..items).map(|_| Value::empty()));
            } else if self.tracking && self.engine.hidden.contains(&format!("{prefix}{name}")) {
                self.found.push(Value::empty());
            } else {
                self.found.push(answer_value(site.question, map.get(name)));
            }
            return;
        };
        let Some(items) = map.get(*repeat).and_then(Json::as_array) else {
            self.many = true;
            return;
        };
        let item_map = |item: usize| items.get(item).and_then(Json::as_object);
        match self.frame.get(depth) {
            Some((inside, item)) if following && inside == repeat => {
                if let Some(map) = item_map(*item) {
                    let prefix = self.inside(&prefix, repeat, *item);
                    self.gather(depth + 1, true, map, prefix);
                }
            }
            _ => {
                self.many = true;
                for item in 0..items.len() {
                    if let Some(map) = item_map(item) {
                        let prefix = self.inside(&prefix, repeat, item);
                        self.gather(depth + 1, false, map, prefix);
                    }
                }
            }
        }
    }
}

/// An answer as an expression sees it: a select_multiple as its choice
/// names separated by spaces, a geopoint as "lat lon altitude accuracy".
pub(super) fn answer_value(question: &Question, answer: Option<&Json>) -> Value {
    match (answer, &question.kind) {
        (None | Some(Json::Null), _) => Value::empty(),
        (Some(Json::Array(names)), QuestionKind::SelectMultiple { .. }) => Value::Text(
            names
                .iter()
                .filter_map(Json::as_str)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        (Some(Json::Object(point)), QuestionKind::Geopoint) => Value::Text(
            ["lat", "lon", "altitude", "accuracy"]
                .iter()
                .map(|key| {
                    point
                        .get(*key)
                        .and_then(Json::as_f64)
                        .unwrap_or(0.0)
                        .to_string()
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
        (Some(answer), _) => Value::from_json(answer),
    }
}

/// What an expression sees from one position.
pub(super) struct At<'e, 'f> {
    pub(super) engine: &'e Engine<'f>,
    pub(super) frame: &'e [(&'f str, usize)],
    pub(super) current: Value,
}

impl Scope for At<'_, '_> {
    fn reference(&self, name: &str) -> Value {
        self.engine.reference(name, self.frame)
    }

    fn current(&self) -> Value {
        self.current.clone()
    }

    fn today(&self) -> NaiveDate {
        self.engine.today
    }

    fn position(&self) -> Option<usize> {
        self.frame.last().map(|(_, item)| item + 1)
    }

    fn indexed(&self, name: &str, path: &[(&str, usize)]) -> Value {
        let Some(site) = self.engine.sites.get(name) else {
            return Value::empty();
        };
        // Each repeat around the question: the item named, else the
        // current position's.
        let mut map = &self.engine.values;
        // The path is spelt out only if an instance may be hidden.
        let tracking = self.engine.hidden.may_hide(name);
        let mut at = String::new();
        for repeat in &site.repeats {
            let item = path
                .iter()
                .find(|(named, _)| named == repeat)
                .map(|(_, number)| number - 1)
                .or_else(|| {
                    self.frame
                        .iter()
                        .find(|(inside, _)| inside == repeat)
                        .map(|(_, item)| *item)
                });
            let Some(next) = item.and_then(|item| {
                if tracking {
                    at.push_str(&format!("{repeat}[{}]/", item + 1));
                }
                map.get(*repeat)?.as_array()?.get(item)?.as_object()
            }) else {
                return Value::empty();
            };
            map = next;
        }
        at.push_str(name);
        if tracking && self.engine.hidden.contains(&at) {
            return Value::empty();
        }
        answer_value(site.question, map.get(name))
    }

    fn choice_label(&self, question: &str, choice: &str) -> Value {
        // In the form's own language, not the reader's: a calculation must
        // give the same on every phone and on the server.
        let form = self.engine.form;
        form.question(question)
            .and_then(|question| form.choices_of(question))
            .and_then(|choices| choices.iter().find(|option| option.name == choice))
            .and_then(|option| option.label.get(form.default_language.as_deref()))
            .map_or_else(Value::empty, |label| Value::Text(label.to_owned()))
    }

    fn pulldata(&self, file: &str, column: &str, key_column: &str, key: &str) -> Value {
        self.engine
            .form
            .pulldata(file, column, key_column, key)
            .map_or_else(Value::empty, |text| Value::Text(text.to_owned()))
    }
}
