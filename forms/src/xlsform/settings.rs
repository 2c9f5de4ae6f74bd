//! The `settings` sheet: optional, as in pyxform. The form's id comes from
//! `form_id` (or `id_string`), else the file's name; the version from
//! `version`, else [`DEFAULT_VERSION`]; every other column pyxform knows
//! (`style`, `instance_name`, `public_key`…) is kept in
//! [`Form::settings`](crate::Form::settings) and changes nothing.

use std::collections::BTreeMap;

use super::problem::{Problem, SETTINGS};
use super::sheet::Sheet;
use super::vocabulary::{Meaning, language_key};

/// The version of a form whose settings give none. Publishing a changed
/// form needs a new version, so authors who publish twice set one.
pub(super) const DEFAULT_VERSION: &str = "1";

/// What the settings say.
pub(super) struct Head {
    /// The index of the row of values, if there is one.
    pub(super) row: Option<usize>,
    pub(super) form_id: String,
    pub(super) version: String,
    pub(super) title: String,
    pub(super) default_language: Option<String>,
    /// Settings kept as written.
    pub(super) kept: BTreeMap<String, String>,
}

/// Reads the settings sheet (which may be missing); `file_stem` is the
/// workbook's file name without `.xlsx`, if known.
pub(super) fn read(
    rows: &[Vec<String>],
    file_stem: Option<&str>,
    problems: &mut Vec<Problem>,
) -> Option<Head> {
    let mut head = Head {
        row: None,
        form_id: String::new(),
        version: String::new(),
        title: String::new(),
        default_language: None,
        kept: BTreeMap::new(),
    };
    if let Some(sheet) = Sheet::new(SETTINGS, rows, None, problems) {
        let mut data = sheet.data_rows();
        if let Some((index, row)) = data.next() {
            for (extra, _) in data {
                problems.push(Problem::at(
                    SETTINGS,
                    extra,
                    "",
                    "settings take one row of values; this one is extra".into(),
                ));
            }
            sheet.refuse_values(index, row, problems);
            head.row = Some(index);
            head.form_id = sheet.cell(row, &Meaning::FormId).to_owned();
            head.version = sheet.cell(row, &Meaning::Version).to_owned();
            head.title = sheet.cell(row, &Meaning::FormTitle).to_owned();
            head.default_language = Some(sheet.cell(row, &Meaning::DefaultLanguage))
                .filter(|language| !language.is_empty())
                .map(language_key);
            head.kept = sheet
                .values_by(row, |meaning| match meaning {
                    Meaning::Setting(header) => Some(header.clone()),
                    _ => None,
                })
                .into_iter()
                .map(|(key, value)| (key, value.to_owned()))
                .collect();
        }
    }
    if head.form_id.is_empty() {
        match file_stem.map(str::trim).filter(|stem| !stem.is_empty()) {
            Some(stem) => head.form_id = stem.to_owned(),
            None => {
                problems.push(Problem::sheet(
                    SETTINGS,
                    "the form has no id: give it a `form_id` in sheet `settings` \
                     (or read it from a file, whose name is the id)",
                ));
                return None;
            }
        }
    }
    if head.version.is_empty() {
        DEFAULT_VERSION.clone_into(&mut head.version);
    }
    if head.title.is_empty() {
        head.title.clone_from(&head.form_id);
    }
    Some(head)
}
