//! The violation walk: every question that applies, its answer's type,
//! its constraint and whether it is required; then answers nobody asked.

use doorstep_protocol::Answers;
use serde_json::Value as Json;

use super::scope::answer_value;
use super::{Engine, Frame, Options, Stage, path};
use crate::expr::Value;
use crate::validate::{Messages, Outcome, check_value};
use crate::{Question, QuestionKind, Requirement, Rule, Violation};

impl<'f> Engine<'f> {
    /// The violations at one level of the answers (the top, or one repeat
    /// item): its questions', then answers the level does not ask for.
    pub(super) fn check(
        &self,
        questions: &'f [Question],
        frame: &mut Frame<'f>,
        map: &Answers,
        options: &Options<'_>,
        messages: Messages,
        out: &mut Vec<Violation>,
    ) {
        self.check_questions(questions, frame, map, options, messages, out);
        // A key is known at this level when the form asks it inside exactly
        // the repeats this level is in (groups do not nest answers).
        let known = |key: &str| {
            self.sites.get(key).is_some_and(|site| {
                site.repeats.len() == frame.len()
                    && site
                        .repeats
                        .iter()
                        .zip(frame.iter())
                        .all(|(a, (b, _))| a == b)
            })
        };
        let mut unknown: Vec<&String> = map.keys().filter(|key| !known(key)).collect();
        unknown.sort();
        for key in unknown {
            out.push(Violation {
                question: path(frame, key),
                rule: Rule::UnknownQuestion,
                message: messages.unknown_question(self.form),
            });
        }
    }

    pub(super) fn check_questions(
        &self,
        questions: &'f [Question],
        frame: &mut Frame<'f>,
        map: &Answers,
        options: &Options<'_>,
        messages: Messages,
        out: &mut Vec<Violation>,
    ) {
        for question in questions {
            if self.is_hidden(frame, &question.name) {
                continue;
            }
            let value = map.get(&question.name);
            // The path is spelt out only for a violation.
            let mut report = |rule: Rule, message: String| {
                out.push(Violation {
                    question: path(frame, &question.name),
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
                                    question: format!(
                                        "{}[{}]",
                                        path(frame, &question.name),
                                        item + 1
                                    ),
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
                    // A calculation's constraint checks what it computes
                    // (XLSForm: `${a} + ${b} = 100` on a total).
                    if let Some(constraint) = &question.constraint {
                        let computed = self.reference(&question.name, frame);
                        if !computed.is_empty()
                            && !constraint.evaluate(&self.scope(frame, computed)).as_bool()
                        {
                            let message = question
                                .constraint_message
                                .get(options.language)
                                .map_or_else(|| messages.constraint(), str::to_owned);
                            report(Rule::Constraint, message);
                        }
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
                    Outcome::TooLong => report(Rule::TooLong, messages.too_long()),
                    Outcome::NotAChoice { list, choices } => {
                        report(Rule::Choice, messages.not_a_choice(list, choices));
                    }
                },
            }
        }
    }

    pub(super) fn required(&self, question: &Question, frame: &[(&'f str, usize)]) -> bool {
        match &question.required {
            Requirement::Always(required) => *required,
            Requirement::When(expression) => expression
                .evaluate(&self.scope(frame, Value::empty()))
                .as_bool(),
        }
    }
}
