//! The `survey` sheet → the tree of questions, groups and repeats.
//!
//! `begin_group`/`begin_repeat` rows open a container and the matching
//! `end_…` rows close it; the questions between become its children. Every
//! row is read even after a problem (a bad type, an unmatched `end_group`),
//! so one pass reports all of them, and a begin row with problems still
//! opens its container so that its end row does not read as unmatched.

use std::collections::BTreeMap;

use super::Problem;
use super::sheets::{SURVEY, Sheet};
use super::vocabulary::{self, Formula, Meaning, RowType, Text, row_type};
use crate::definition::question_name_problem;
use crate::{Expr, Question, QuestionKind, Requirement};

/// The questions of a survey sheet, with their rows.
#[derive(Debug, Default)]
pub(super) struct Survey {
    pub(super) questions: Vec<Question>,
    /// The row index of each question, group and repeat, in the order of
    /// [`flatten`] (sheet order, which is the form's depth-first order).
    pub(super) rows: Vec<usize>,
}

impl Survey {
    /// Every question with its row index, depth first.
    pub(super) fn with_rows(&self) -> impl Iterator<Item = (&Question, usize)> {
        flatten(&self.questions)
            .into_iter()
            .zip(self.rows.iter().copied())
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
}

/// The tree being built.
#[derive(Default)]
struct Tree {
    top: Vec<Question>,
    open: Vec<Open>,
}

impl Tree {
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
    let wanted = [
        (Meaning::Type, "type"),
        (Meaning::Name, "name"),
        (Meaning::Translated(Text::Label, String::new()), "label"),
    ];
    if !sheet.has_columns(&wanted, problems) {
        return survey;
    }
    let mut tree = Tree::default();
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, row) in sheet.data_rows() {
        sheet.refuse_values(index, row, problems);
        let row_type = match row_type(sheet.cell(row, &Meaning::Type)) {
            Ok(RowType::End(kind)) => {
                // The name may repeat what it closes; anything else would be
                // dropped, so it is a problem.
                for header in sheet.other_values(row, &[Meaning::Type, Meaning::Name]) {
                    problems.push(Problem::at(
                        SURVEY,
                        index,
                        header,
                        format!(
                            "an `{}` row takes only a type and a name; \
                             move this value to its begin row or remove it",
                            RowType::keyword(&kind, false)
                        ),
                    ));
                }
                tree.end(index, &kind, problems);
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
        let name = sheet.cell(row, &Meaning::Name);
        if let Some(reason) = question_name_problem(name) {
            problems.push(Problem::at(
                SURVEY,
                index,
                "name",
                format!("the name {reason}"),
            ));
        } else if let Some(first) = names.get(name) {
            problems.push(Problem::at(
                SURVEY,
                index,
                "name",
                format!("`{name}` is also the name on row {}", first + 1),
            ));
        } else {
            names.insert(name, index);
        }
        let kind = row_type.as_ref().map(RowType::kind);
        let question = read_row(&sheet, index, row, name, kind, problems);
        match (row_type, question) {
            (Some(RowType::Begin(_)), Some(question)) => tree.open.push(Open {
                index,
                question,
                has_rows: false,
            }),
            (_, Some(question)) => tree.place(question),
            _ => continue,
        }
        survey.rows.push(index);
    }
    survey.questions = tree.finish(problems);
    if survey.rows.is_empty() && problems.iter().all(|p| p.sheet != SURVEY) {
        problems.push(Problem::sheet(SURVEY, "the form has no questions"));
    }
    survey
}

/// Reads the columns of one question row; `None` when its kind is unknown.
fn read_row(
    sheet: &Sheet<'_>,
    index: usize,
    row: &[String],
    name: &str,
    kind: Option<&QuestionKind>,
    problems: &mut Vec<Problem>,
) -> Option<Question> {
    let mut problem = |column: &str, message: String| {
        problems.push(Problem::at(SURVEY, index, column, message));
    };
    let label = sheet.texts(row, Text::Label);
    // A row of unknown type is held to the rules of a question.
    let needs_label = kind.is_none_or(|kind| kind.takes_answer() || *kind == QuestionKind::Note);
    if needs_label && label.is_empty() {
        problem("label", "a question needs a label".into());
    }
    let mut parse = |column: &str, text: &str, what: &str| match Expr::parse(text) {
        Ok(expression) => Some(expression),
        Err(error) => {
            problem(column, format!("`{text}` is not {what}: {error}"));
            None
        }
    };
    let required_text = sheet.cell(row, &Meaning::Required);
    let required = match vocabulary::required(required_text) {
        Some(always) => Requirement::Always(always),
        None => parse("required", required_text, "yes, no or a valid expression")
            .map_or(Requirement::Always(false), Requirement::When),
    };
    let mut formula = |formula: Formula| {
        let text = sheet.cell(row, &Meaning::Expression(formula));
        (!text.is_empty())
            .then(|| parse(formula.column(), text, "a valid expression"))
            .flatten()
    };
    let relevant = formula(Formula::Relevant);
    let constraint = formula(Formula::Constraint);
    let calculation = formula(Formula::Calculation);
    let has = |meaning: &Meaning| !sheet.cell(row, meaning).is_empty();
    let kind = kind?.clone();
    // As the author wrote it: `begin_group`, `image`.
    let what = sheet.cell(row, &Meaning::Type);
    match (&kind, has(&Meaning::Expression(Formula::Calculation))) {
        (QuestionKind::Calculate, false) => problem(
            "calculation",
            "a `calculate` row needs a calculation".into(),
        ),
        (QuestionKind::Calculate, true) | (_, false) => {}
        (_, true) => problem(
            "calculation",
            format!("only a `calculate` row can have a calculation; this one is `{what}`"),
        ),
    }
    if !kind.takes_answer() {
        if has(&Meaning::Expression(Formula::Constraint)) {
            problem(
                "constraint",
                format!("a `{what}` row takes no answer to constrain"),
            );
        }
        if !required.is_never() {
            problem(
                "required",
                format!("a `{what}` row takes no answer to require"),
            );
        }
    }
    let optional = |meaning: &Meaning| {
        Some(sheet.cell(row, meaning))
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    Some(Question {
        label,
        hint: sheet.texts(row, Text::Hint),
        required,
        required_message: sheet.texts(row, Text::RequiredMessage),
        relevant,
        constraint,
        constraint_message: sheet.texts(row, Text::ConstraintMessage),
        calculation,
        default: optional(&Meaning::Default),
        appearance: optional(&Meaning::Appearance),
        ..Question::new(name, kind)
    })
}
