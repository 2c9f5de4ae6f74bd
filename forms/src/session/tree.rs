//! The session's tree: nodes built from questions at their positions, and
//! paths (`members[2]/age`) read back into positions.

use doorstep_protocol::Answers;
use serde_json::Value as Json;

use super::{Answer, ChoiceOption, FormSession, Node, SessionError};
use crate::evaluate::{Engine, Frame, Shown, path as frame_path};
use crate::{Form, Question, QuestionKind};

impl FormSession {
    /// Every node under `questions` at `frame`, with what it shows, in
    /// form order. `answers` are the cadre's at this level.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn walk<'f>(
        &self,
        engine: &Engine<'f>,
        questions: &'f [Question],
        frame: &mut Frame<'f>,
        parent: Option<&str>,
        depth: usize,
        answers: &Answers,
        out: &mut Vec<(Node, Shown)>,
    ) {
        let language = self.language.as_deref();
        for question in questions {
            let path = frame_path(frame, &question.name);
            let shown = engine.shown(question, frame, answers, language);
            let node = self.build(
                question,
                &path,
                parent.map(str::to_owned),
                depth,
                None,
                &shown,
            );
            let (relevant, items) = (shown.relevant, shown.items);
            out.push((node, shown));
            match question.kind {
                QuestionKind::Group => {
                    self.walk(
                        engine,
                        &question.children,
                        frame,
                        Some(&path),
                        depth + 1,
                        answers,
                        out,
                    );
                }
                QuestionKind::Repeat => {
                    let entries = answers.get(&question.name).and_then(Json::as_array);
                    for item in 0..items {
                        let item_path = format!("{path}[{}]", item + 1);
                        let item_shown = Shown {
                            choices: None,
                            relevant,
                            required: false,
                            value: None,
                            violations: Vec::new(),
                            items: 0,
                        };
                        let node = self.build(
                            question,
                            &item_path,
                            Some(path.clone()),
                            depth + 1,
                            Some(item + 1),
                            &item_shown,
                        );
                        out.push((node, item_shown));
                        let empty = Answers::new();
                        let entry = entries
                            .and_then(|entries| entries.get(item))
                            .and_then(Json::as_object)
                            .unwrap_or(&empty);
                        frame.push((&question.name, item));
                        self.walk(
                            engine,
                            &question.children,
                            frame,
                            Some(&item_path),
                            depth + 2,
                            entry,
                            out,
                        );
                        frame.pop();
                    }
                }
                _ => {}
            }
        }
    }

    /// The node of question number `id` at `frame`, placed in the tree.
    /// `questions` are the form's, numbered as the plan numbers them.
    pub(super) fn placed(
        &self,
        questions: &[&Question],
        frame: &[(&str, usize)],
        id: usize,
        path: String,
        shown: &Shown,
    ) -> Node {
        let question = questions[id];
        let mut depth = frame.len();
        let mut ancestor = self.plan.parent[id];
        while let Some(above) = ancestor {
            depth += 1;
            ancestor = self.plan.parent[above];
        }
        let parent = self.plan.parent[id].map(|parent| {
            let container = questions[parent];
            match (container.kind == QuestionKind::Repeat, frame.split_last()) {
                (true, Some(((_, item), outer))) => {
                    format!("{}[{}]", frame_path(outer, &container.name), item + 1)
                }
                _ => frame_path(frame, &container.name),
            }
        });
        self.build(question, &path, parent, depth, None, shown)
    }

    /// The node of item `item` (from 0) of repeat number `id` at `frame`.
    pub(super) fn item_node(
        &self,
        questions: &[&Question],
        frame: &[(&str, usize)],
        id: usize,
        item: usize,
        shown: &Shown,
    ) -> Node {
        let repeat_path = frame_path(frame, &questions[id].name);
        let mut node = self.placed(questions, frame, id, repeat_path.clone(), shown);
        node.path = format!("{repeat_path}[{}]", item + 1);
        node.parent = Some(repeat_path);
        node.depth += 1;
        node.item = Some(item + 1);
        node.choices = Vec::new();
        node
    }

    fn build(
        &self,
        question: &Question,
        path: &str,
        parent: Option<String>,
        depth: usize,
        item: Option<usize>,
        shown: &Shown,
    ) -> Node {
        let language = self.language.as_deref();
        let text = |labels: &crate::Labels| labels.get(language).map(str::to_owned);
        let choices = self
            .form
            .choices_of(question)
            .unwrap_or_default()
            .iter()
            .filter(|choice| {
                shown
                    .choices
                    .as_ref()
                    .is_none_or(|offered| offered.contains(&choice.name))
            })
            .map(|choice| ChoiceOption {
                name: choice.name.clone(),
                label: text(&choice.label),
            })
            .collect();
        Node {
            path: path.to_owned(),
            parent,
            depth,
            name: question.name.clone(),
            kind: question.kind.clone(),
            item,
            label: text(&question.label),
            hint: text(&question.hint),
            appearance: question.appearance.clone(),
            choices: if item.is_some() { Vec::new() } else { choices },
            relevant: shown.relevant,
            required: shown.required,
            read_only: question.read_only
                || matches!(
                    question.kind,
                    QuestionKind::Calculate | QuestionKind::Metadata(_)
                ),
            value: shown
                .value
                .as_ref()
                .and_then(|value| Answer::from_json(value, &question.kind)),
            violations: shown.violations.clone(),
            items: shown.items,
        }
    }
}

/// The position and question of `path` (`age`, `members[2]/age`,
/// `migrants`): every segment but the last names a repeat and its item
/// (from 1), and they are the repeats around the question, in order.
pub(super) fn locate<'f>(
    form: &'f Form,
    path: &str,
) -> Result<(Frame<'f>, &'f Question), SessionError> {
    let missing = || SessionError::NoSuchPath(path.to_owned());
    let mut segments: Vec<&str> = path.split('/').collect();
    let name = segments.pop().ok_or_else(missing)?;
    let mut wanted = Vec::with_capacity(segments.len());
    for segment in segments {
        let (repeat, item) = split_index(segment).ok_or_else(missing)?;
        wanted.push((repeat, item));
    }
    let (question, repeats) = find(&form.questions, name, &mut Vec::new()).ok_or_else(missing)?;
    if repeats.len() != wanted.len() {
        return Err(missing());
    }
    let mut frame = Frame::with_capacity(repeats.len());
    for (repeat, (name, item)) in repeats.into_iter().zip(wanted) {
        if repeat != name {
            return Err(missing());
        }
        frame.push((repeat, item));
    }
    Ok((frame, question))
}

/// `members[2]` as (`members`, 1); `None` without an index from 1.
fn split_index(segment: &str) -> Option<(&str, usize)> {
    let (name, rest) = segment.split_once('[')?;
    let number: usize = rest.strip_suffix(']')?.parse().ok()?;
    Some((name, number.checked_sub(1)?))
}

/// `members[2]/children[1]` as (`members[2]/children`, 0): the repeat's
/// path and the item; `None` when the path does not end in an item.
pub(super) fn split_item(path: &str) -> Option<(&str, usize)> {
    let start = path.rfind('/').map_or(0, |slash| slash + 1);
    let (name, item) = split_index(&path[start..])?;
    Some((&path[..start + name.len()], item))
}

/// The question called `name` and the repeats around it.
fn find<'f>(
    questions: &'f [Question],
    name: &str,
    repeats: &mut Vec<&'f str>,
) -> Option<(&'f Question, Vec<&'f str>)> {
    for question in questions {
        if question.name == name {
            return Some((question, repeats.clone()));
        }
        let inside = question.kind == QuestionKind::Repeat;
        if inside {
            repeats.push(&question.name);
        }
        let found = find(&question.children, name, repeats);
        if inside {
            repeats.pop();
        }
        if found.is_some() {
            return found;
        }
    }
    None
}

/// The answers object at a position.
pub(super) fn level<'a>(map: &'a Answers, frame: &[(&str, usize)]) -> Option<&'a Answers> {
    frame.iter().try_fold(map, |map, (repeat, item)| {
        map.get(*repeat)?.as_array()?.get(*item)?.as_object()
    })
}

pub(super) fn level_mut<'a>(
    map: &'a mut Answers,
    frame: &[(&str, usize)],
) -> Option<&'a mut Answers> {
    frame.iter().try_fold(map, |map, (repeat, item)| {
        map.get_mut(*repeat)?
            .as_array_mut()?
            .get_mut(*item)?
            .as_object_mut()
    })
}
