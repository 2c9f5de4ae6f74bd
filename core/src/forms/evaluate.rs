//! Evaluating a visit's answers against its form: which questions apply,
//! what the calculations give, and what is wrong.
//!
//! Answers are a JSON object from question name to value; a repeat's answer
//! is an array of such objects, one per item. Groups do not nest answers.
//!
//! Relevance and calculations depend on each other (a calculation may read
//! an answer that applies only when another calculation says so), so they
//! are computed to a fixed point: passes over the form in order until
//! nothing changes, bounded by the number of expressions. A question that
//! does not apply reads as empty, as in ODK.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use doorstep_protocol::Answers;
use serde_json::Value as Json;

use super::expr::{Scope, Value};
use super::validate::{Messages, Outcome, check_value};
use super::{Form, Question, QuestionKind, Requirement, Rule, Violation};

/// Whether required answers must be there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Being filled in: everything is checked but `required`.
    Draft,
    /// Finalised: everything is checked.
    Final,
}

/// How to evaluate.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    pub stage: Stage,
    /// Language of messages (`zh-CN`, `en`); the form's own messages are
    /// looked up in it first.
    pub language: Option<&'a str>,
    /// What `today()` is: the device's date when the visit is finalised;
    /// the server uses the visit's `recorded_at`, so both agree.
    pub today: NaiveDate,
}

/// The outcome of evaluating answers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Evaluation {
    /// Every violation, in form order, with the question's path.
    pub violations: Vec<Violation>,
    /// Calculated values, shaped like the answers (repeats as arrays).
    pub computed: Answers,
    /// The answers without those of questions that do not apply, nor
    /// anything the form does not ask: what a finalised visit keeps.
    pub answers: Answers,
    /// Paths of the questions that do not apply (`job`, `members[2]/school`).
    pub not_relevant: Vec<String>,
}

impl Evaluation {
    pub fn is_valid(&self) -> bool {
        self.violations.is_empty()
    }
}

impl Form {
    /// Evaluates `answers`: relevance, calculations, violations. Never
    /// panics, whatever the answers.
    pub fn evaluate(&self, answers: &Answers, options: &Options<'_>) -> Evaluation {
        let mut engine = Engine::new(self, answers, options.today);
        engine.settle();
        let messages = Messages::new(options.language);
        let mut violations = Vec::new();
        engine.check(
            &self.questions,
            &mut Vec::new(),
            answers,
            options,
            messages,
            &mut violations,
        );
        let mut not_relevant: Vec<String> = engine.hidden.iter().cloned().collect();
        not_relevant.sort();
        Evaluation {
            violations,
            computed: engine.computed(&self.questions, &mut Vec::new()),
            answers: engine.clean(&self.questions, &mut Vec::new(), answers),
            not_relevant,
        }
    }

    /// Every violation of `answers` for a finalised visit.
    pub fn validate(
        &self,
        answers: &Answers,
        language: Option<&str>,
        today: NaiveDate,
    ) -> Vec<Violation> {
        let options = Options {
            stage: Stage::Final,
            language,
            today,
        };
        self.evaluate(answers, &options).violations
    }
}

/// Where a question sits: the repeats around it, outermost first.
struct Site<'f> {
    question: &'f Question,
    repeats: Vec<&'f str>,
}

/// The repeat items a position is inside: (repeat name, 0-based item).
type Frame<'f> = Vec<(&'f str, usize)>;

struct Engine<'f> {
    form: &'f Form,
    sites: HashMap<&'f str, Site<'f>>,
    /// The answers with calculated values written in.
    values: Answers,
    /// Paths of questions that do not apply, as of the last pass.
    hidden: HashSet<String>,
    today: NaiveDate,
    /// Passes at most: every relevance or calculation can change once.
    max_passes: usize,
}

impl<'f> Engine<'f> {
    fn new(form: &'f Form, answers: &Answers, today: NaiveDate) -> Engine<'f> {
        let mut sites = HashMap::new();
        index(&form.questions, &mut Vec::new(), &mut sites);
        let expressions = form
            .all_questions()
            .filter(|question| question.relevant.is_some() || question.calculation.is_some())
            .count();
        Engine {
            form,
            sites,
            values: answers.clone(),
            hidden: HashSet::new(),
            today,
            max_passes: expressions + 2,
        }
    }

    /// Runs passes until relevance and calculations stop changing.
    fn settle(&mut self) {
        for _ in 0..self.max_passes {
            let mut hidden = HashSet::new();
            let mut changed = false;
            self.pass(
                &self.form.questions,
                &mut Vec::new(),
                true,
                &mut hidden,
                &mut changed,
            );
            if hidden != self.hidden {
                self.hidden = hidden;
                changed = true;
            }
            if !changed {
                return;
            }
        }
    }

    fn pass(
        &mut self,
        questions: &'f [Question],
        frame: &mut Frame<'f>,
        parent_relevant: bool,
        hidden: &mut HashSet<String>,
        changed: &mut bool,
    ) {
        for question in questions {
            let path = path(frame, &question.name);
            let relevant = parent_relevant
                && question.relevant.as_ref().is_none_or(|expression| {
                    expression
                        .evaluate(&self.scope(frame, Value::empty()))
                        .as_bool()
                });
            if !relevant {
                hidden.insert(path);
            }
            let children = &question.children;
            match question.kind {
                QuestionKind::Group => self.pass(children, frame, relevant, hidden, changed),
                QuestionKind::Repeat => {
                    for item in 0..self.items(frame, &question.name) {
                        frame.push((&question.name, item));
                        self.pass(children, frame, relevant, hidden, changed);
                        frame.pop();
                    }
                }
                QuestionKind::Calculate => {
                    let value = match (&question.calculation, relevant) {
                        (Some(calculation), true) => calculation
                            .evaluate(&self.scope(frame, Value::empty()))
                            .to_json(),
                        _ => Json::Null,
                    };
                    if let Some(map) = self.values_at_mut(frame) {
                        let old = map.get(&question.name).cloned().unwrap_or(Json::Null);
                        if old != value {
                            *changed = true;
                            if value.is_null() {
                                map.remove(&question.name);
                            } else {
                                map.insert(question.name.clone(), value);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn scope<'e>(&'e self, frame: &'e [(&'f str, usize)], current: Value) -> At<'e, 'f> {
        At {
            engine: self,
            frame,
            current,
        }
    }

    /// The answers object at a position, if the answers have one there.
    fn values_at(&self, frame: &[(&str, usize)]) -> Option<&Answers> {
        frame.iter().try_fold(&self.values, |map, (repeat, item)| {
            map.get(*repeat)?.as_array()?.get(*item)?.as_object()
        })
    }

    fn values_at_mut(&mut self, frame: &[(&str, usize)]) -> Option<&mut Answers> {
        frame
            .iter()
            .try_fold(&mut self.values, |map, (repeat, item)| {
                map.get_mut(*repeat)?
                    .as_array_mut()?
                    .get_mut(*item)?
                    .as_object_mut()
            })
    }

    /// How many items a repeat has at a position.
    fn items(&self, frame: &[(&str, usize)], repeat: &str) -> usize {
        self.values_at(frame)
            .and_then(|map| map.get(repeat))
            .and_then(Json::as_array)
            .map_or(0, Vec::len)
    }

    /// `${name}` seen from `frame`.
    fn reference(&self, name: &str, frame: &[(&'f str, usize)]) -> Value {
        let Some(site) = self.sites.get(name) else {
            return Value::empty();
        };
        let mut found = Vec::new();
        let mut many = site.question.kind == QuestionKind::Repeat;
        self.gather(
            site,
            0,
            true,
            frame,
            &self.values,
            String::new(),
            &mut found,
            &mut many,
        );
        if many {
            Value::Nodes(found)
        } else {
            found.pop().unwrap_or_else(Value::empty)
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn gather(
        &self,
        site: &Site<'f>,
        depth: usize,
        following: bool,
        frame: &[(&'f str, usize)],
        map: &Answers,
        prefix: String,
        found: &mut Vec<Value>,
        many: &mut bool,
    ) {
        let Some(repeat) = site.repeats.get(depth) else {
            let name = &site.question.name;
            if site.question.kind == QuestionKind::Repeat {
                let items = map.get(name).and_then(Json::as_array).map_or(0, Vec::len);
                found.extend((0..items).map(|_| Value::empty()));
            } else if self.hidden.contains(&format!("{prefix}{name}")) {
                found.push(Value::empty());
            } else {
                found.push(answer_value(site.question, map.get(name)));
            }
            return;
        };
        let Some(items) = map.get(*repeat).and_then(Json::as_array) else {
            *many = true;
            return;
        };
        let item_map = |item: usize| items.get(item).and_then(Json::as_object);
        match frame.get(depth) {
            Some((inside, item)) if following && inside == repeat => {
                if let Some(map) = item_map(*item) {
                    let prefix = format!("{prefix}{repeat}[{}]/", item + 1);
                    self.gather(site, depth + 1, true, frame, map, prefix, found, many);
                }
            }
            _ => {
                *many = true;
                for item in 0..items.len() {
                    if let Some(map) = item_map(item) {
                        let prefix = format!("{prefix}{repeat}[{}]/", item + 1);
                        self.gather(site, depth + 1, false, frame, map, prefix, found, many);
                    }
                }
            }
        }
    }

    /// The violations at one level of the answers (the top, or one repeat
    /// item): its questions', then answers the level does not ask for.
    fn check(
        &self,
        questions: &'f [Question],
        frame: &mut Frame<'f>,
        map: &Answers,
        options: &Options<'_>,
        messages: Messages,
        out: &mut Vec<Violation>,
    ) {
        self.check_questions(questions, frame, map, options, messages, out);
        let known = level_names(questions);
        let mut unknown: Vec<&String> = map
            .keys()
            .filter(|key| !known.contains(key.as_str()))
            .collect();
        unknown.sort();
        for key in unknown {
            out.push(Violation {
                question: path(frame, key),
                rule: Rule::UnknownQuestion,
                message: messages.unknown_question(self.form),
            });
        }
    }

    fn check_questions(
        &self,
        questions: &'f [Question],
        frame: &mut Frame<'f>,
        map: &Answers,
        options: &Options<'_>,
        messages: Messages,
        out: &mut Vec<Violation>,
    ) {
        for question in questions {
            let path = path(frame, &question.name);
            if self.hidden.contains(&path) {
                continue;
            }
            let value = map.get(&question.name);
            let mut report = |rule: Rule, message: String| {
                out.push(Violation {
                    question: path.clone(),
                    rule,
                    message,
                });
            };
            match &question.kind {
                QuestionKind::Group => {
                    self.check_questions(&question.children, frame, map, options, messages, out);
                }
                QuestionKind::Repeat => match value {
                    None | Some(Json::Null) => {}
                    Some(Json::Array(items)) => {
                        for (item, entry) in items.iter().enumerate() {
                            match entry.as_object() {
                                Some(entry) => {
                                    frame.push((&question.name, item));
                                    self.check(
                                        &question.children,
                                        frame,
                                        entry,
                                        options,
                                        messages,
                                        out,
                                    );
                                    frame.pop();
                                }
                                None => out.push(Violation {
                                    question: format!("{path}[{}]", item + 1),
                                    rule: Rule::Type,
                                    message: messages.wrong_type(&question.kind),
                                }),
                            }
                        }
                    }
                    Some(_) => report(Rule::Type, messages.wrong_type(&question.kind)),
                },
                QuestionKind::Note | QuestionKind::Calculate => {
                    if value.is_some_and(|value| !value.is_null()) {
                        report(Rule::Type, messages.takes_no_answer(&question.kind));
                    }
                }
                _ => match check_value(self.form, question, value) {
                    Outcome::Fits => {
                        if let Some(constraint) = &question.constraint {
                            let current = answer_value(question, value);
                            if !constraint.evaluate(&self.scope(frame, current)).as_bool() {
                                let message = question
                                    .constraint_message
                                    .get(options.language)
                                    .map_or_else(|| messages.constraint(), str::to_owned);
                                report(Rule::Constraint, message);
                            }
                        }
                    }
                    Outcome::Unanswered => {
                        if options.stage == Stage::Final && self.required(question, frame) {
                            let message = question
                                .required_message
                                .get(options.language)
                                .map_or_else(|| messages.required(), str::to_owned);
                            report(Rule::Required, message);
                        }
                    }
                    Outcome::WrongType => report(Rule::Type, messages.wrong_type(&question.kind)),
                    Outcome::NotAChoice { list, choices } => {
                        report(Rule::Choice, messages.not_a_choice(list, choices));
                    }
                },
            }
        }
    }

    fn required(&self, question: &Question, frame: &[(&'f str, usize)]) -> bool {
        match &question.required {
            Requirement::Always(required) => *required,
            Requirement::When(expression) => expression
                .evaluate(&self.scope(frame, Value::empty()))
                .as_bool(),
        }
    }

    /// The calculated values at one level, shaped like the answers.
    fn computed(&self, questions: &'f [Question], frame: &mut Frame<'f>) -> Answers {
        let mut computed = Answers::new();
        for question in questions {
            match question.kind {
                QuestionKind::Calculate => {
                    if let Some(value) = self
                        .values_at(frame)
                        .and_then(|map| map.get(&question.name))
                    {
                        computed.insert(question.name.clone(), value.clone());
                    }
                }
                QuestionKind::Group => computed.extend(self.computed(&question.children, frame)),
                QuestionKind::Repeat => {
                    let items: Vec<Json> = (0..self.items(frame, &question.name))
                        .map(|item| {
                            frame.push((&question.name, item));
                            let values = self.computed(&question.children, frame);
                            frame.pop();
                            Json::Object(values)
                        })
                        .collect();
                    if items
                        .iter()
                        .any(|item| item.as_object().is_some_and(|map| !map.is_empty()))
                    {
                        computed.insert(question.name.clone(), Json::Array(items));
                    }
                }
                _ => {}
            }
        }
        computed
    }

    /// The answers at one level without those that do not apply.
    fn clean(&self, questions: &'f [Question], frame: &mut Frame<'f>, map: &Answers) -> Answers {
        let mut kept = Answers::new();
        for question in questions {
            if self.hidden.contains(&path(frame, &question.name)) {
                continue;
            }
            if question.kind == QuestionKind::Group {
                // A group's answers sit at its own level.
                kept.extend(self.clean(&question.children, frame, map));
                continue;
            }
            let Some(value) = map.get(&question.name) else {
                continue;
            };
            match question.kind {
                QuestionKind::Group => {}
                QuestionKind::Repeat => {
                    if let Some(items) = value.as_array() {
                        let cleaned = items
                            .iter()
                            .enumerate()
                            .map(|(item, entry)| {
                                frame.push((&question.name, item));
                                let empty = Answers::new();
                                let cleaned = self.clean(
                                    &question.children,
                                    frame,
                                    entry.as_object().unwrap_or(&empty),
                                );
                                frame.pop();
                                Json::Object(cleaned)
                            })
                            .collect();
                        kept.insert(question.name.clone(), Json::Array(cleaned));
                    }
                }
                QuestionKind::Note | QuestionKind::Calculate => {}
                _ => {
                    kept.insert(question.name.clone(), value.clone());
                }
            }
        }
        kept
    }
}

/// The names answered at one level: its questions and those of its groups
/// (not of its repeats, whose answers nest).
fn level_names(questions: &[Question]) -> HashSet<&str> {
    let mut names = HashSet::new();
    for question in questions {
        names.insert(question.name.as_str());
        if question.kind == QuestionKind::Group {
            names.extend(level_names(&question.children));
        }
    }
    names
}

fn index<'f>(
    questions: &'f [Question],
    repeats: &mut Vec<&'f str>,
    sites: &mut HashMap<&'f str, Site<'f>>,
) {
    for question in questions {
        sites.insert(
            &question.name,
            Site {
                question,
                repeats: repeats.clone(),
            },
        );
        if question.kind == QuestionKind::Repeat {
            repeats.push(&question.name);
            index(&question.children, repeats, sites);
            repeats.pop();
        } else {
            index(&question.children, repeats, sites);
        }
    }
}

/// `members[2]/age`: repeat items counted from 1, as form authors count.
fn path(frame: &[(&str, usize)], name: &str) -> String {
    let mut path = String::new();
    for (repeat, item) in frame {
        path.push_str(&format!("{repeat}[{}]/", item + 1));
    }
    path.push_str(name);
    path
}

/// An answer as an expression sees it: a select_multiple as its choice
/// names separated by spaces, a geopoint as "lat lon altitude accuracy".
fn answer_value(question: &Question, answer: Option<&Json>) -> Value {
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
struct At<'e, 'f> {
    engine: &'e Engine<'f>,
    frame: &'e [(&'f str, usize)],
    current: Value,
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
}

#[cfg(test)]
mod tests;
