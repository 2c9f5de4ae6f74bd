//! A form session: what an app's screens drive while a cadre fills in a
//! visit, the way ODK Collect's screens drive JavaRosa's form-entry
//! controller.
//!
//! A [`FormSession`] holds one visit's answers and everything the screens
//! show: the questions as a tree of [`Node`]s in form order (a repeat, then
//! each of its items, then the item's questions), each with its path
//! (`members[2]/age`), label and hint in the session's language, choices,
//! whether it applies, whether it is required, its value and its
//! violations with the form's own messages. [`FormSession::set_answer`]
//! returns only the nodes that changed, so a screen re-renders those.
//!
//! Evaluation is incremental: a changed answer refreshes only the questions
//! that depend on it ([`plan`]), in dependency order. The state is the one
//! [`Form::evaluate`] computes from the same answers (tested), and
//! [`FormSession::evaluation`] is `Form::evaluate` itself: the store
//! finalises a session's answers through it, as it does every visit, and
//! the server judges them with the same code.
//!
//! A session is pure: no store, no clock. Drafts, finalising and
//! corrections are the device store's (`doorstep_core::Store::session`).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use doorstep_protocol::Answers;
use serde_json::Value as Json;

use crate::evaluate::{Engine, Frame, Live, Shown, path as frame_path};
use crate::{Evaluation, Form, Options, Question, QuestionKind, Stage, Violation};

mod answer;
mod fill;
#[cfg(test)]
mod fill_tests;
mod plan;
#[cfg(test)]
mod tests;
mod tree;

pub use answer::Answer;
pub use fill::Stamp;
use plan::Plan;
use tree::{level, level_mut, locate, split_item};

/// One node of the tree a screen renders: a question, group or repeat at
/// a position, or one item of a repeat.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// `age`, `members[2]/age`; an item of a repeat is `members[2]`. Groups
    /// do not appear in paths (their answers are not nested).
    pub path: String,
    /// The path of the group, repeat item or repeat around it.
    pub parent: Option<String>,
    /// How deep in the tree: 0 at the top, +1 inside a group or repeat,
    /// +1 more inside an item.
    pub depth: usize,
    /// The question's name (of an item: its repeat's).
    pub name: String,
    /// What it asks (of an item: `Repeat`).
    pub kind: QuestionKind,
    /// For an item of a repeat: its number, from 1.
    pub item: Option<usize>,
    /// In the session's language (else as [`crate::Labels::get`] falls back).
    pub label: Option<String>,
    pub hint: Option<String>,
    pub appearance: Option<String>,
    /// For a select: its choices, in order.
    pub choices: Vec<ChoiceOption>,
    /// Whether it applies: a question that does not is not shown, and its
    /// answer is dropped when the visit is finalised.
    pub relevant: bool,
    /// Whether finalising needs an answer (only while it applies).
    pub required: bool,
    /// Whether the cadre cannot change it: a calculation.
    pub read_only: bool,
    /// The answer, or for a calculation its value.
    pub value: Option<Answer>,
    /// What is wrong with the answer now, with the form's messages: its
    /// type, choices, constraint, length. A missing required answer is not
    /// among them until the page or the form is checked
    /// ([`FormSession::violations`]).
    pub violations: Vec<Violation>,
    /// For a repeat: how many items it has.
    pub items: usize,
}

/// One choice as shown.
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceOption {
    pub name: String,
    pub label: Option<String>,
}

/// What a change did to the tree, for a screen to re-render.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Nodes whose relevance, required state, value, violations or items
    /// changed, in form order.
    pub changed: Vec<Node>,
    /// Nodes that appeared (a new repeat item and its questions), in form
    /// order.
    pub added: Vec<Node>,
    /// Paths of nodes that are gone (the last item of a repeat, once one
    /// is removed: the items after the removed one move up a place and
    /// show as changed).
    pub removed: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.added.is_empty() && self.removed.is_empty()
    }

    /// These changes followed by `later` ones: a node changed twice is
    /// reported once, as it ended.
    fn merge(&mut self, later: Changes) {
        let replaced = |path: &str| {
            later
                .changed
                .iter()
                .chain(&later.added)
                .any(|node| node.path == path)
                || later.removed.iter().any(|removed| removed == path)
        };
        self.changed.retain(|node| !replaced(&node.path));
        self.added.retain(|node| !replaced(&node.path));
        self.changed.extend(later.changed);
        self.added.extend(later.added);
        self.removed.extend(later.removed);
    }
}

/// Why a session refused a change. Nothing changed. Messages name paths
/// and kinds, never an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("no question at `{0}` in this form")]
    NoSuchPath(String),
    #[error("`{path}` is a {kind} and takes no answer")]
    NotAnswerable { path: String, kind: &'static str },
    #[error("`{path}` is a {kind} question; a {given} answer does not fit it")]
    WrongKind {
        path: String,
        kind: &'static str,
        given: &'static str,
    },
    #[error("`{0}` is not a repeat")]
    NotARepeat(String),
    #[error("`{0}` is not an item of a repeat, such as `members[2]`")]
    NotAnItem(String),
    #[error("`{0}` has as many items as its repeat_count says; answer that instead")]
    Counted(String),
}

/// A visit being filled in.
#[derive(Debug)]
pub struct FormSession {
    form: Arc<Form>,
    plan: Plan,
    /// The cadre's answers, as a visit stores them.
    answers: Answers,
    /// The engine's state: the answers with calculated values, and what
    /// does not apply.
    live: Live,
    /// What every node shows, by path.
    shown: BTreeMap<String, Shown>,
    language: Option<String>,
    today: NaiveDate,
}

impl FormSession {
    /// A session over `answers` (empty for a new visit, a draft's or a
    /// corrected visit's answers otherwise). `today` is what `today()`
    /// gives; `language` the one labels and messages are shown in.
    pub fn new(
        form: Arc<Form>,
        answers: Answers,
        language: Option<String>,
        today: NaiveDate,
    ) -> FormSession {
        let plan = Plan::new(&form);
        let mut session = FormSession {
            form,
            plan,
            answers,
            live: Live::default(),
            shown: BTreeMap::new(),
            language,
            today,
        };
        session.fit_counts();
        session.rebuild();
        session
    }

    pub fn form(&self) -> &Form {
        &self.form
    }

    /// The answers as a visit stores them (questions that do not apply
    /// keep theirs until the visit is finalised, as in ODK).
    pub fn answers(&self) -> &Answers {
        &self.answers
    }

    pub fn language(&self) -> Option<&str> {
        self.language.as_deref()
    }

    /// Every node, in form order.
    pub fn nodes(&self) -> Vec<Node> {
        let engine = Engine::resume(&self.form, self.live.clone(), self.today);
        let mut nodes = Vec::new();
        self.walk(
            &engine,
            &self.form.questions,
            &mut Frame::new(),
            None,
            0,
            &self.answers,
            &mut nodes,
        );
        nodes.into_iter().map(|(node, _)| node).collect()
    }

    /// The node at `path`, if there is one.
    pub fn node(&self, path: &str) -> Option<Node> {
        self.nodes().into_iter().find(|node| node.path == path)
    }

    /// Sets the answer at `path` (`None` clears it) and returns the nodes
    /// that changed. An answer of the wrong kind, a path that is no
    /// question, a note or a calculation is refused and changes nothing.
    /// A constraint the answer breaks is not refused: it shows in the
    /// node's violations, as the cadre types.
    pub fn set_answer(
        &mut self,
        path: &str,
        answer: Option<Answer>,
    ) -> Result<Changes, SessionError> {
        let form = Arc::clone(&self.form);
        let (frame, question) = locate(&form, path)?;
        if !question.kind.takes_answer() {
            return Err(SessionError::NotAnswerable {
                path: path.to_owned(),
                kind: question.kind.as_str(),
            });
        }
        let json = match &answer {
            None => None,
            Some(answer) => {
                Some(
                    answer
                        .to_json(&question.kind)
                        .ok_or_else(|| SessionError::WrongKind {
                            path: path.to_owned(),
                            kind: question.kind.as_str(),
                            given: answer.kind_name(),
                        })?,
                )
            }
        };
        let id = self.plan.ids[&question.name];
        self.write(&form, &frame, question, id, json)
            .ok_or_else(|| SessionError::NoSuchPath(path.to_owned()))
    }

    /// Writes (or with `None` removes) the answer of question number `id`
    /// at `frame` and brings what depends on it up to date; `None` when
    /// the position does not exist.
    fn write(
        &mut self,
        form: &Form,
        frame: &[(&str, usize)],
        question: &Question,
        id: usize,
        json: Option<Json>,
    ) -> Option<Changes> {
        let (Some(answers), Some(values)) = (
            level_mut(&mut self.answers, frame),
            level_mut(&mut self.live.values, frame),
        ) else {
            return None;
        };
        match json {
            Some(json) => {
                answers.insert(question.name.clone(), json.clone());
                values.insert(question.name.clone(), json);
            }
            None => {
                answers.remove(&question.name);
                values.remove(&question.name);
            }
        }
        if self.plan.cyclic {
            return Some(self.rebuild());
        }
        let mut changes = self.refresh(form, id);
        if self.fit_counts() {
            let resized = self.rebuild();
            changes.merge(resized);
        }
        Some(changes)
    }

    /// Adds an item at the end of the repeat at `path` (`members`,
    /// `members[2]/children`) and returns its nodes as added.
    pub fn add_repeat(&mut self, path: &str) -> Result<Changes, SessionError> {
        let form = Arc::clone(&self.form);
        let (frame, question) = locate(&form, path)?;
        if question.kind != QuestionKind::Repeat {
            return Err(SessionError::NotARepeat(path.to_owned()));
        }
        if question.repeat_count.is_some() {
            return Err(SessionError::Counted(path.to_owned()));
        }
        for map in [&mut self.answers, &mut self.live.values] {
            let Some(level) = level_mut(map, &frame) else {
                return Err(SessionError::NoSuchPath(path.to_owned()));
            };
            let items = level
                .entry(question.name.clone())
                .or_insert_with(|| Json::Array(Vec::new()));
            if !items.is_array() {
                *items = Json::Array(Vec::new());
            }
            if let Json::Array(items) = items {
                items.push(Json::Object(Answers::new()));
            }
        }
        Ok(self.rebuild())
    }

    /// Removes the item at `path` (`members[2]`) with all its answers.
    pub fn remove_repeat(&mut self, path: &str) -> Result<Changes, SessionError> {
        let form = Arc::clone(&self.form);
        let Some((repeat_path, item)) = split_item(path) else {
            return Err(SessionError::NotAnItem(path.to_owned()));
        };
        let (frame, question) = locate(&form, repeat_path)?;
        if question.kind != QuestionKind::Repeat {
            return Err(SessionError::NotARepeat(repeat_path.to_owned()));
        }
        if question.repeat_count.is_some() {
            return Err(SessionError::Counted(repeat_path.to_owned()));
        }
        let exists = level_mut(&mut self.answers, &frame)
            .and_then(|level| level.get(&question.name))
            .and_then(Json::as_array)
            .is_some_and(|items| item < items.len());
        if !exists {
            return Err(SessionError::NoSuchPath(path.to_owned()));
        }
        for map in [&mut self.answers, &mut self.live.values] {
            if let Some(Json::Array(items)) =
                level_mut(map, &frame).and_then(|level| level.get_mut(&question.name))
                && item < items.len()
            {
                items.remove(item);
            }
        }
        Ok(self.rebuild())
    }

    /// Every violation a finalised visit would have, missing required
    /// answers included: of the whole form (`None`), or of the questions
    /// under one group, repeat or repeat item (`migration`, `members`,
    /// `members[2]`), for a screen's "next page".
    pub fn violations(&self, under: Option<&str>) -> Result<Vec<Violation>, SessionError> {
        let Some(path) = under else {
            return Ok(self.evaluation(Stage::Final).violations);
        };
        let form = &*self.form;
        let engine = Engine::resume(form, self.live.clone(), self.today);
        let language = self.language.as_deref();
        let (mut frame, question, item) = match split_item(path) {
            Some((repeat, item)) => {
                let (frame, question) = locate(form, repeat)?;
                (frame, question, Some(item))
            }
            None => {
                let (frame, question) = locate(form, path)?;
                (frame, question, None)
            }
        };
        let level =
            |frame: &[(&str, usize)]| level(&self.answers, frame).cloned().unwrap_or_default();
        match (&question.kind, item) {
            (QuestionKind::Group, None) => {
                if engine.hides(&frame, &question.name) {
                    return Ok(Vec::new());
                }
                let answers = level(&frame);
                Ok(engine.violations_under(&question.children, &mut frame, &answers, language))
            }
            (QuestionKind::Repeat, _) => {
                if engine.hides(&frame, &question.name) {
                    return Ok(Vec::new());
                }
                let count = engine.item_count(&frame, &question.name);
                let items: Vec<usize> = match item {
                    Some(item) if item < count => vec![item],
                    Some(_) => return Err(SessionError::NoSuchPath(path.to_owned())),
                    None => (0..count).collect(),
                };
                let mut violations = Vec::new();
                for item in items {
                    frame.push((question.name.as_str(), item));
                    let answers = level(&frame);
                    violations.extend(engine.violations_under(
                        &question.children,
                        &mut frame,
                        &answers,
                        language,
                    ));
                    frame.pop();
                }
                Ok(violations)
            }
            (_, Some(_)) => Err(SessionError::NotAnItem(path.to_owned())),
            _ => Err(SessionError::NotARepeat(path.to_owned())),
        }
    }

    /// The whole evaluation of the answers: what [`Form::evaluate`] gives,
    /// and what the store and the server judge a finalised visit by.
    pub fn evaluation(&self, stage: Stage) -> Evaluation {
        let options = Options {
            stage,
            language: self.language.as_deref(),
            today: self.today,
        };
        self.form.evaluate(&self.answers, &options)
    }

    /// Refreshes what `changed` affects and returns the nodes that show
    /// something new.
    fn refresh(&mut self, form: &Form, changed: usize) -> Changes {
        let questions: Vec<&Question> = form.all_questions().collect();
        let affected = &self.plan.affected[changed];
        let mut engine = Engine::resume(form, std::mem::take(&mut self.live), self.today);
        for &id in &affected.refresh {
            let parent = self.plan.parent[id].map(|parent| questions[parent]);
            engine.refresh(questions[id], parent);
        }
        let language = self.language.as_deref();
        let mut changes = Changes::default();
        let empty = Answers::new();
        for &id in &affected.shown {
            let question = questions[id];
            for mut frame in engine.frames(&question.name) {
                let path = frame_path(&frame, &question.name);
                let answers = level(&self.answers, &frame).unwrap_or(&empty);
                let shown = engine.shown(question, &mut frame, answers, language);
                if question.kind == QuestionKind::Repeat {
                    // Its items apply when it does.
                    for item in 0..shown.items {
                        let item_path = format!("{path}[{}]", item + 1);
                        if let Some(before) = self.shown.get_mut(&item_path)
                            && before.relevant != shown.relevant
                        {
                            before.relevant = shown.relevant;
                            let state = before.clone();
                            changes
                                .changed
                                .push(self.item_node(&questions, &frame, id, item, &state));
                        }
                    }
                }
                if self.shown.get(&path) != Some(&shown) {
                    changes
                        .changed
                        .push(self.placed(&questions, &frame, id, path.clone(), &shown));
                    self.shown.insert(path, shown);
                }
            }
        }
        self.live = engine.suspend();
        changes
    }

    /// Evaluates everything again and returns what differs from before.
    fn rebuild(&mut self) -> Changes {
        let form = Arc::clone(&self.form);
        let engine = Engine::start(&form, &self.answers, self.today);
        let mut nodes = Vec::new();
        self.walk(
            &engine,
            &form.questions,
            &mut Frame::new(),
            None,
            0,
            &self.answers,
            &mut nodes,
        );
        let mut shown = BTreeMap::new();
        let mut changes = Changes::default();
        for (node, state) in nodes {
            match self.shown.get(&node.path) {
                None => changes.added.push(node.clone()),
                Some(before) if *before != state => changes.changed.push(node.clone()),
                Some(_) => {}
            }
            shown.insert(node.path, state);
        }
        changes.removed = self
            .shown
            .keys()
            .filter(|path| !shown.contains_key(*path))
            .cloned()
            .collect();
        self.shown = shown;
        self.live = engine.suspend();
        changes
    }
}
