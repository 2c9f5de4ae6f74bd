//! The engine kept alive between answers, for a form session: its state
//! taken out and put back, one question brought up to date in every
//! instance, and what one instance of a question shows.
//!
//! [`Form::evaluate`] computes everything to a fixed point. A session
//! starts the same way ([`Engine::start`]) and then, after each answer,
//! refreshes only the questions that depend on it, in dependency order
//! (`session::plan`), so the state is the fixed point again: the one that
//! `Form::evaluate` would compute from the same answers (tested in
//! `session::tests`).

use chrono::NaiveDate;
use doorstep_protocol::Answers;
use serde_json::Value as Json;

use super::{Engine, Frame, Options, Stage, path};
use crate::expr::Value;
use crate::validate::Messages;
use crate::{Form, Question, QuestionKind, Violation};

/// What an engine holds between calls: the answers with calculated values
/// written in, and the paths of the questions that do not apply.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Live {
    pub(crate) values: Answers,
    pub(crate) hidden: super::Hidden,
}

/// What one instance of a question shows, beyond what its form says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shown {
    pub(crate) relevant: bool,
    pub(crate) required: bool,
    /// The answer, or the calculated value.
    pub(crate) value: Option<Json>,
    /// Every violation but a missing required answer.
    pub(crate) violations: Vec<Violation>,
    /// For a repeat: its items.
    pub(crate) items: usize,
    /// For a select with a `choice_filter`: the names of the choices it
    /// offers here.
    pub(crate) choices: Option<Vec<String>>,
}

impl<'f> Engine<'f> {
    /// An engine settled for `answers`, as [`Form::evaluate`] starts.
    pub(crate) fn start(form: &'f Form, answers: &Answers, today: NaiveDate) -> Engine<'f> {
        let mut engine = Engine::new(form, answers, today);
        engine.settle();
        engine
    }

    /// An engine over a state kept from an earlier one of the same form.
    pub(crate) fn resume(form: &'f Form, live: Live, today: NaiveDate) -> Engine<'f> {
        let mut engine = Engine::new(form, &Answers::new(), today);
        engine.values = live.values;
        engine.hidden = live.hidden;
        engine
    }

    /// The state to keep.
    pub(crate) fn suspend(self) -> Live {
        Live {
            values: self.values,
            hidden: self.hidden,
        }
    }

    /// Every position of the question called `name`: one frame per item of
    /// the repeats around it (none inside an empty repeat).
    pub(crate) fn frames(&self, name: &str) -> Vec<Frame<'f>> {
        let Some(site) = self.sites.get(name) else {
            return Vec::new();
        };
        let mut frames = vec![Frame::new()];
        for repeat in &site.repeats {
            frames = frames
                .into_iter()
                .flat_map(|frame| {
                    let items = self.items(&frame, repeat);
                    (0..items).map(move |item| {
                        let mut inner = frame.clone();
                        inner.push((*repeat, item));
                        inner
                    })
                })
                .collect();
        }
        frames
    }

    /// Brings `question` up to date in every instance: whether it applies
    /// (its parent's state and its own `relevant`), and for a calculation
    /// its value. Its dependencies must be up to date already.
    pub(crate) fn refresh(&mut self, question: &'f Question, parent: Option<&'f Question>) {
        for frame in self.frames(&question.name) {
            let parent_relevant = parent.is_none_or(|parent| {
                let outer = match parent.kind {
                    QuestionKind::Repeat => &frame[..frame.len().saturating_sub(1)],
                    _ => &frame[..],
                };
                !self.is_hidden(outer, &parent.name)
            });
            let relevant = parent_relevant
                && question.relevant.as_ref().is_none_or(|expression| {
                    expression
                        .evaluate(&self.scope(&frame, Value::empty()))
                        .as_bool()
                });
            let at = path(&frame, &question.name);
            if relevant {
                self.hidden.remove(&at);
            } else {
                self.hidden.insert(at);
            }
            if question.kind == QuestionKind::Calculate {
                let value = match (&question.calculation, relevant) {
                    (Some(calculation), true) => calculation
                        .evaluate(&self.scope(&frame, Value::empty()))
                        .to_json(),
                    _ => Json::Null,
                };
                if let Some(map) = self.values_at_mut(&frame) {
                    if value.is_null() {
                        map.remove(&question.name);
                    } else {
                        map.insert(question.name.clone(), value);
                    }
                }
            }
        }
    }

    /// What the instance of `question` at `frame` shows. `answers` are the
    /// cadre's answers at that level (without calculated values).
    pub(crate) fn shown(
        &self,
        question: &'f Question,
        frame: &mut Frame<'f>,
        answers: &Answers,
        language: Option<&str>,
    ) -> Shown {
        let relevant = !self.is_hidden(frame, &question.name);
        let required = relevant && self.required(question, frame);
        let mut violations = Vec::new();
        if relevant && !question.kind.is_container() {
            let options = Options {
                stage: Stage::Draft,
                language,
                today: self.today,
            };
            self.check_questions(
                std::slice::from_ref(question),
                frame,
                answers,
                &options,
                Messages::new(language),
                &mut violations,
            );
        }
        let value = match question.kind {
            QuestionKind::Calculate => self
                .values_at(frame)
                .and_then(|map| map.get(&question.name))
                .cloned(),
            QuestionKind::Group | QuestionKind::Repeat | QuestionKind::Note => None,
            _ => answers
                .get(&question.name)
                .filter(|v| !v.is_null())
                .cloned(),
        };
        let choices = match (&question.choice_filter, relevant) {
            (Some(filter), true) => Some(
                self.form
                    .choices_of(question)
                    .unwrap_or_default()
                    .iter()
                    .filter(|choice| {
                        crate::expr::choice_passes(
                            filter,
                            choice,
                            &self.scope(frame, Value::empty()),
                        )
                    })
                    .map(|choice| choice.name.clone())
                    .collect(),
            ),
            _ => None,
        };
        Shown {
            choices,
            relevant,
            required,
            value,
            violations,
            items: match question.kind {
                QuestionKind::Repeat => self.items(frame, &question.name),
                _ => 0,
            },
        }
    }

    /// Every violation of the questions under `questions` at `frame` (a
    /// group's or a repeat item's), required answers included, as a
    /// finalised visit would have them; `answers` are those at that level.
    pub(crate) fn violations_under(
        &self,
        questions: &'f [Question],
        frame: &mut Frame<'f>,
        answers: &Answers,
        language: Option<&str>,
    ) -> Vec<Violation> {
        let options = Options {
            stage: Stage::Final,
            language,
            today: self.today,
        };
        let mut violations = Vec::new();
        self.check_questions(
            questions,
            frame,
            answers,
            &options,
            Messages::new(language),
            &mut violations,
        );
        violations
    }
}

impl<'f> Engine<'f> {
    /// How many items the repeat called `repeat` has at `frame`.
    pub(crate) fn item_count(&self, frame: &[(&str, usize)], repeat: &str) -> usize {
        self.items(frame, repeat)
    }

    /// What an expression sees at `frame`, `.` empty.
    pub(crate) fn scope_at<'e>(
        &'e self,
        frame: &'e [(&'f str, usize)],
    ) -> impl crate::expr::Scope + 'e {
        self.scope(frame, Value::empty())
    }

    /// Whether the question called `name` at `frame` does not apply.
    pub(crate) fn hides(&self, frame: &[(&str, usize)], name: &str) -> bool {
        self.is_hidden(frame, name)
    }
}
