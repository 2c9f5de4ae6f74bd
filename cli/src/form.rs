//! `doorstep form …`: for form authors, before anything is published.

use std::path::PathBuf;

use clap::Subcommand;
use doorstep_forms::{Form, QuestionKind};
use serde::Serialize;

use crate::admin::read_form;
use crate::output::{invalid, out, print_json};

#[derive(Debug, Subcommand)]
pub enum FormCommand {
    /// Check an XLSForm (.xlsx) or JSON definition: every problem at once,
    /// one line per problem and column with its sheet and rows; or a summary
    /// of the form when it is fine. Files the form reads (pulldata tables,
    /// select_one_from_file lists) are read from the workbook's directory.
    Check {
        file: PathBuf,
        /// Print the summary, or the problems, as JSON.
        #[arg(long)]
        json: bool,
        /// Print the form's JSON definition (what `publish-form` stores).
        #[arg(long, conflicts_with = "json")]
        definition: bool,
    },
}

/// Why a form does not import, for `--json`.
#[derive(Debug, Serialize)]
struct Failure {
    file: String,
    problems: Vec<ProblemLine>,
}

/// One problem, with every row it is on.
#[derive(Debug, Serialize)]
struct ProblemLine {
    /// `survey`, `choices`…; empty for the workbook as a whole.
    sheet: String,
    /// Spreadsheet rows (from 1); empty for a whole sheet.
    rows: Vec<u32>,
    column: Option<String>,
    message: String,
    /// The line a person reads.
    text: String,
}

impl From<&doorstep_forms::xlsform::ProblemGroup> for ProblemLine {
    fn from(group: &doorstep_forms::xlsform::ProblemGroup) -> ProblemLine {
        ProblemLine {
            sheet: group.sheet.clone(),
            rows: group.rows.clone(),
            column: group.column.clone(),
            message: group.message.clone(),
            text: group.to_string(),
        }
    }
}

/// What a form holds, for its author.
#[derive(Debug, Serialize)]
struct Summary {
    form_id: String,
    version: String,
    title: String,
    /// Questions a cadre answers (not notes, calculations, groups, repeats).
    questions: usize,
    calculations: usize,
    notes: usize,
    groups: Vec<String>,
    repeats: Vec<String>,
    languages: Vec<String>,
    choice_lists: usize,
    /// Questions with skip logic (`relevant`).
    with_relevance: usize,
    with_constraint: usize,
}

pub fn run(command: FormCommand) -> anyhow::Result<()> {
    match command {
        FormCommand::Check {
            file,
            json,
            definition,
        } => {
            let is_xlsx = file
                .extension()
                .is_some_and(|extension| extension.eq_ignore_ascii_case("xlsx"));
            let form = if is_xlsx {
                doorstep_forms::xlsform::read_xlsx(&file).map_err(|error| {
                    let groups = error.groups();
                    if json {
                        // The problems as JSON on stdout, as the summary
                        // would have been; the one-line error on stderr.
                        let problems: Vec<ProblemLine> =
                            groups.iter().map(ProblemLine::from).collect();
                        if let Err(failed) = print_json(&Failure {
                            file: file.display().to_string(),
                            problems,
                        }) {
                            return failed;
                        }
                    } else {
                        // One line per problem and column, with its rows.
                        for group in &groups {
                            eprintln!("{}: {group}", file.display());
                        }
                    }
                    invalid(format!("{}: {} problems", file.display(), groups.len()))
                })?
            } else {
                read_form(&file)?
            };
            if definition {
                return print_json(&form.to_definition());
            }
            let summary = summarise(&form);
            if json {
                print_json(&summary)?;
            } else {
                out!(
                    "{} {} — {}",
                    summary.form_id,
                    summary.version,
                    summary.title
                );
                out!(
                    "{} questions, {} calculations, {} notes, {} choice lists",
                    summary.questions,
                    summary.calculations,
                    summary.notes,
                    summary.choice_lists
                );
                out!("repeats: {}", list_or_none(&summary.repeats));
                out!("groups: {}", list_or_none(&summary.groups));
                out!("languages: {}", list_or_none(&summary.languages));
                out!(
                    "skip logic on {} questions, constraints on {}",
                    summary.with_relevance,
                    summary.with_constraint
                );
            }
            eprintln!("{}: no problems found", file.display());
            Ok(())
        }
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn summarise(form: &Form) -> Summary {
    let questions: Vec<_> = form.all_questions().collect();
    let named = |kind: QuestionKind| {
        questions
            .iter()
            .filter(|question| question.kind == kind)
            .map(|question| question.name.clone())
            .collect::<Vec<_>>()
    };
    Summary {
        form_id: form.form_id.clone(),
        version: form.version.clone(),
        title: form.title.clone(),
        questions: questions
            .iter()
            .filter(|question| question.kind.takes_answer())
            .count(),
        calculations: named(QuestionKind::Calculate).len(),
        notes: named(QuestionKind::Note).len(),
        groups: named(QuestionKind::Group),
        repeats: named(QuestionKind::Repeat),
        languages: form
            .languages()
            .into_iter()
            .map(|language| {
                if language == "default" {
                    "(plain label)".into()
                } else {
                    language.to_string()
                }
            })
            .collect(),
        choice_lists: form.choices.len(),
        with_relevance: questions
            .iter()
            .filter(|question| question.relevant.is_some())
            .count(),
        with_constraint: questions
            .iter()
            .filter(|question| question.constraint.is_some())
            .count(),
    }
}
