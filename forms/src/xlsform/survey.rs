//! The `survey` sheet → the tree of questions, groups and repeats.
//!
//! `begin_group`/`begin_repeat` rows open a container and the matching
//! `end_…` rows close it; the questions between become its children. Every
//! row is read even after a problem (a bad type, an unmatched `end_group`),
//! so one pass reports all of them, and a begin row with problems still
//! opens its container so that its end row does not read as unmatched.
//!
//! Names follow pyxform: two siblings may not share a name (in any case),
//! but questions in different groups may. Answers are keyed by name, so a
//! name used again in another group is stored as `group.name` (the nearest
//! group or repeat around it); `${name}` of such a name is ambiguous and
//! refused, as pyxform refuses it.

use std::collections::{BTreeMap, BTreeSet};

use super::problem::{Problem, SURVEY};
use super::row::{self, Row};
use super::sheet::Sheet;
use super::vocabulary::{Meaning, Options, RowType, row_type};
use crate::definition::question_name_problem;
use crate::{Question, QuestionKind};

/// The questions of a survey sheet, with their rows.
#[derive(Debug, Default)]
pub(super) struct Survey {
    pub(super) questions: Vec<Question>,
    /// The row index of each question, group and repeat, in the order of
    /// [`flatten`] (sheet order, which is the form's depth-first order).
    pub(super) rows: Vec<usize>,
    /// For each of `rows`, where a select's choices come from.
    pub(super) options: Vec<Options>,
    /// For each of `rows`, its path of names as written, groups first
    /// (`household/head_name`), which absolute paths in expressions use.
    pub(super) paths: Vec<String>,
    /// Names given to more than one question (in different groups), with
    /// the names the later ones were given.
    pub(super) renamed: BTreeMap<String, Vec<String>>,
    /// `csv-external` tables: the row and the file's name.
    pub(super) tables: Vec<(usize, String)>,
}

impl Survey {
    /// Every question with its row index, depth first.
    pub(super) fn with_rows(&self) -> impl Iterator<Item = (&Question, usize)> {
        flatten(&self.questions)
            .into_iter()
            .zip(self.rows.iter().copied())
    }
}

/// Calls `visit` on every question, group and repeat, depth first.
pub(super) fn visit_mut(questions: &mut [Question], visit: &mut impl FnMut(&mut Question)) {
    for question in questions {
        visit(question);
        visit_mut(&mut question.children, visit);
    }
}

/// Every question, group and repeat, depth first in form order, as
/// `Form::all_questions` walks them.
pub(super) fn flatten(questions: &[Question]) -> Vec<&Question> {
    let mut found = Vec::new();
    for question in questions {
        found.push(question);
        found.extend(flatten(&question.children));
    }
    found
}

/// A group or repeat whose end row has not come yet.
struct Open {
    /// Its begin row's index.
    index: usize,
    question: Question,
    /// Whether any row (even one with problems) came after its begin row.
    has_rows: bool,
    /// Its children's names, lower-cased (pyxform compares them so).
    names: BTreeSet<String>,
    /// Its path of names as written.
    path: String,
}

/// The tree being built.
#[derive(Default)]
struct Tree {
    top: Vec<Question>,
    open: Vec<Open>,
    /// The top level's names, lower-cased.
    names: BTreeSet<String>,
}

impl Tree {
    /// Records `name` among the current container's children; false when a
    /// sibling has it already.
    fn sibling_name(&mut self, name: &str) -> bool {
        let names = match self.open.last_mut() {
            Some(open) => &mut open.names,
            None => &mut self.names,
        };
        names.insert(name.to_lowercase())
    }

    /// The name of the innermost open container, or `None` at the top.
    fn parent(&self) -> Option<&str> {
        self.open.last().map(|open| open.question.name.as_str())
    }

    fn place(&mut self, question: Question) {
        match self.open.last_mut() {
            Some(open) => open.question.children.push(question),
            None => self.top.push(question),
        }
    }

    /// Closes the innermost container, reporting it if it held nothing.
    fn close(&mut self, problems: &mut Vec<Problem>) {
        let Some(open) = self.open.pop() else {
            return;
        };
        if !open.has_rows {
            problems.push(Problem::at(
                SURVEY,
                open.index,
                "type",
                format!(
                    "the {} `{}` holds no questions",
                    open.question.kind.as_str(),
                    open.question.name
                ),
            ));
        }
        self.place(open.question);
    }

    /// Handles an `end_group` or `end_repeat` row.
    fn end(&mut self, index: usize, kind: &QuestionKind, problems: &mut Vec<Problem>) {
        let keyword = RowType::keyword(kind, false);
        let Some(matching) = self
            .open
            .iter()
            .rposition(|open| open.question.kind == *kind)
        else {
            let message = match self.open.last() {
                None => format!("`{keyword}` without a `{}` before it", begin(kind)),
                Some(open) => format!(
                    "`{keyword}` closes nothing: the innermost open block is `{}` `{}` on row {}",
                    begin(&open.question.kind),
                    open.question.name,
                    open.index + 1
                ),
            };
            problems.push(Problem::at(SURVEY, index, "type", message));
            return;
        };
        while self.open.len() > matching + 1 {
            if let Some(inner) = self.open.last() {
                problems.push(Problem::at(
                    SURVEY,
                    inner.index,
                    "type",
                    format!(
                        "`{}` `{}` is not closed: add an `{}` before the `{keyword}` on row {}",
                        begin(&inner.question.kind),
                        inner.question.name,
                        RowType::keyword(&inner.question.kind, false),
                        index + 1
                    ),
                ));
            }
            self.close(problems);
        }
        self.close(problems);
    }

    /// The finished tree; containers still open are reported and closed.
    fn finish(mut self, problems: &mut Vec<Problem>) -> Vec<Question> {
        while let Some(open) = self.open.last() {
            problems.push(Problem::at(
                SURVEY,
                open.index,
                "type",
                format!(
                    "`{}` `{}` is never closed: add an `{}` row",
                    begin(&open.question.kind),
                    open.question.name,
                    RowType::keyword(&open.question.kind, false)
                ),
            ));
            self.close(problems);
        }
        self.top
    }
}

fn begin(kind: &QuestionKind) -> String {
    RowType::keyword(kind, true)
}

/// Reads the survey sheet. Problems go to `problems`; the survey returned
/// holds every row whose type was understood.
pub(super) fn read(
    rows: &[Vec<String>],
    label_default: Option<&str>,
    problems: &mut Vec<Problem>,
) -> Survey {
    let mut survey = Survey::default();
    let Some(sheet) = Sheet::new(SURVEY, rows, label_default, problems) else {
        problems.push(Problem::sheet(SURVEY, "the sheet is missing or empty"));
        return survey;
    };
    let wanted = [(Meaning::Type, "type"), (Meaning::Name, "name")];
    if !sheet.has_columns(&wanted, problems) {
        return survey;
    }
    let mut tree = Tree::default();
    // Every name used so far, with its row, to rename later uses.
    let mut used: BTreeMap<String, usize> = BTreeMap::new();
    for (index, cells) in sheet.data_rows() {
        let type_text = sheet.cell(cells, &Meaning::Type);
        if type_text.is_empty() && sheet.cell(cells, &Meaning::Name).is_empty() {
            // pyxform skips a row with neither type nor name.
            continue;
        }
        sheet.refuse_values(index, cells, problems);
        let row_type = match row_type(type_text) {
            Ok(RowType::End(kind)) => {
                // pyxform ignores whatever else an end row holds.
                tree.end(index, &kind, problems);
                continue;
            }
            Ok(RowType::External) => {
                let name = sheet.cell(cells, &Meaning::Name);
                survey.tables.push((index, format!("{name}.csv")));
                continue;
            }
            Ok(row_type) => Some(row_type),
            Err(message) => {
                problems.push(Problem::at(SURVEY, index, "type", message));
                None
            }
        };
        if let Some(open) = tree.open.last_mut() {
            open.has_rows = true;
        }
        let mut name = sheet.cell(cells, &Meaning::Name).to_owned();
        if name.is_empty() && matches!(&row_type, Some(RowType::Question(QuestionKind::Note, _))) {
            // pyxform names a note that has no name.
            name = format!("generated_note_name_{}", index + 1);
        }
        if let Some(reason) = question_name_problem(&name) {
            problems.push(Problem::at(
                SURVEY,
                index,
                "name",
                format!("the name {reason}"),
            ));
        } else if !tree.sibling_name(&name) {
            // pyxform's reason.
            problems.push(Problem::at(
                SURVEY,
                index,
                "name",
                format!(
                    "there are more than one survey elements named `{name}` (case-insensitive) \
                     in the section named `{}`",
                    tree.parent().unwrap_or("the form")
                ),
            ));
        } else if used.contains_key(&name) {
            let qualified = unique_name(&name, tree.parent(), &used);
            survey
                .renamed
                .entry(name.clone())
                .or_default()
                .push(qualified.clone());
            name = qualified;
        }
        used.entry(name.clone()).or_insert(index);
        let written = sheet.cell(cells, &Meaning::Name);
        let written = if written.is_empty() {
            name.as_str()
        } else {
            written
        };
        let path = match tree.open.last() {
            Some(open) => format!("{}/{written}", open.path),
            None => written.to_owned(),
        };
        let options = match &row_type {
            Some(RowType::Question(_, options)) => *options,
            _ => Options::default(),
        };
        let kind = row_type.as_ref().map(RowType::kind);
        let row = Row {
            sheet: &sheet,
            index,
            cells,
            name: &name,
        };
        let question = row::read(&row, kind, options, problems);
        match (row_type, question) {
            (Some(RowType::Begin(_)), Some(question)) => tree.open.push(Open {
                index,
                question,
                has_rows: false,
                names: BTreeSet::new(),
                path: path.clone(),
            }),
            (_, Some(question)) => {
                let other = options.or_other.then(|| row::other_question(&question));
                tree.place(question);
                survey.rows.push(index);
                survey.options.push(options);
                survey.paths.push(path.clone());
                if let Some(other) = other {
                    tree.sibling_name(&other.name);
                    used.entry(other.name.clone()).or_insert(index);
                    survey.paths.push(format!("{path}_other"));
                    tree.place(other);
                    survey.rows.push(index);
                    survey.options.push(Options::default());
                }
                continue;
            }
            _ => continue,
        }
        survey.rows.push(index);
        survey.options.push(options);
        survey.paths.push(path);
    }
    survey.questions = tree.finish(problems);
    if survey.rows.is_empty() && problems.iter().all(|p| p.sheet != SURVEY) {
        problems.push(Problem::sheet(SURVEY, "the form has no questions"));
    }
    survey
}

/// `parent.name` for a name used before, made unique with a number if
/// need be.
fn unique_name(name: &str, parent: Option<&str>, used: &BTreeMap<String, usize>) -> String {
    let base = match parent {
        Some(parent) => format!("{parent}.{name}"),
        None => name.to_owned(),
    };
    if !used.contains_key(&base) {
        return base;
    }
    (2..)
        .map(|number| format!("{base}.{number}"))
        .find(|candidate| !used.contains_key(candidate))
        .unwrap_or(base)
}
