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

use foldhash::HashMap;
use std::fmt::Write as _;

use chrono::NaiveDate;
use doorstep_protocol::Answers;
use doorstep_protocol::limits::{MAX_VISIT_BYTES, json_size};
use serde_json::Value as Json;

use super::expr::Value;
use super::validate::Messages;
use super::{Form, Question, QuestionKind, Rule, Violation};
use hidden::Hidden;
use scope::At;

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
        if json_size(answers) > MAX_VISIT_BYTES {
            // Larger than any visit may be: judged without walking it.
            return Evaluation {
                violations: vec![Violation {
                    question: "*".into(),
                    rule: Rule::TooLong,
                    message: Messages::new(options.language).visit_too_large(),
                }],
                computed: Answers::new(),
                answers: Answers::new(),
                not_relevant: Vec::new(),
            };
        }
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
        let mut not_relevant: Vec<String> = engine.hidden.paths().cloned().collect();
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
pub(crate) struct Site<'f> {
    question: &'f Question,
    repeats: Vec<&'f str>,
}

/// The repeat items a position is inside: (repeat name, 0-based item).
pub(crate) type Frame<'f> = Vec<(&'f str, usize)>;

pub(crate) struct Engine<'f> {
    form: &'f Form,
    sites: HashMap<&'f str, Site<'f>>,
    /// The answers with calculated values written in.
    values: Answers,
    /// Paths of questions that do not apply, as of the last pass.
    hidden: Hidden,
    today: NaiveDate,
    /// Passes at most: every relevance or calculation can change once.
    max_passes: usize,
}

impl<'f> Engine<'f> {
    fn new(form: &'f Form, answers: &Answers, today: NaiveDate) -> Engine<'f> {
        let (mut questions, mut expressions) = (0, 0);
        for question in form.all_questions() {
            questions += 1;
            if question.relevant.is_some() || question.calculation.is_some() {
                expressions += 1;
            }
        }
        // Sized once: no question moves the map while it is indexed.
        let mut sites = HashMap::with_capacity_and_hasher(questions, Default::default());
        index(&form.questions, &mut Vec::new(), &mut sites);
        Engine {
            form,
            sites,
            values: answers.clone(),
            hidden: Hidden::default(),
            today,
            max_passes: expressions + 2,
        }
    }

    /// Runs passes until relevance and calculations stop changing.
    fn settle(&mut self) {
        for _ in 0..self.max_passes {
            let mut hidden = Hidden::default();
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
        hidden: &mut Hidden,
        changed: &mut bool,
    ) {
        for question in questions {
            let relevant = parent_relevant
                && question.relevant.as_ref().is_none_or(|expression| {
                    expression
                        .evaluate(&self.scope(frame, Value::empty()))
                        .as_bool()
                });
            if !relevant {
                hidden.insert(path(frame, &question.name));
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

    /// Whether the question at this position does not apply (cheap when
    /// everything applies: no path is built).
    fn is_hidden(&self, frame: &[(&str, usize)], name: &str) -> bool {
        self.hidden.at(frame, name)
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
            if self.is_hidden(frame, &question.name) {
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
pub(crate) fn path(frame: &[(&str, usize)], name: &str) -> String {
    let mut path = String::new();
    for (repeat, item) in frame {
        // Writing to a String cannot fail.
        let _ = write!(path, "{repeat}[{}]/", item + 1);
    }
    path.push_str(name);
    path
}

mod check;
mod hidden;
mod incremental;
mod scope;

pub(crate) use incremental::{Live, Shown};
#[cfg(test)]
mod tests;
