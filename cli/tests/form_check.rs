//! `doorstep form check` on workbooks that do not import: one line per
//! problem and column, and with `--json` the problems on stdout as well.

use serde_json::Value;

mod common;

use common::Shell;

/// A broken fixture of the forms crate, copied into the shell's directory.
fn broken(shell: &Shell) -> &'static str {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../forms/tests/xlsforms/broken_types.xlsx"
    );
    std::fs::copy(fixture, shell.path("broken_types.xlsx")).expect("copy the fixture");
    "broken_types.xlsx"
}

#[test]
fn form_check_lists_each_problem_once_and_as_json_on_request() {
    let shell = Shell::new();
    let file = broken(&shell);
    let output = shell.run(&["form", "check", file]);
    assert_eq!(output.status.code(), Some(5), "{output:?}");
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    let lines: Vec<&str> = stderr.lines().collect();
    // Five problems, then the one-line error.
    assert_eq!(lines.len(), 6, "{stderr}");
    assert!(
        lines[1].contains("`villages.csv` is not beside the form"),
        "{stderr}"
    );

    let output = shell.run(&["form", "check", file, "--json"]);
    assert_eq!(output.status.code(), Some(5), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    let problems = report["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 5, "{report}");
    assert_eq!(problems[0]["sheet"], "survey");
    assert_eq!(problems[0]["rows"], serde_json::json!([3]));
    assert_eq!(problems[0]["column"], "type");
    assert!(
        problems[0]["message"]
            .as_str()
            .is_some_and(|message| message.starts_with("unknown type `integr`")),
        "{report}"
    );
}
