//! The real `doorstep` binary, run in a temporary directory: shared by the
//! CLI's end-to-end tests. Each test binary uses part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_doorstep");

pub struct Shell {
    directory: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Shell {
    pub fn new() -> Shell {
        Shell {
            directory: tempfile::tempdir().expect("temporary directory"),
            env: Vec::new(),
        }
    }

    /// The same shell with `key=value` in every command's environment
    /// (`DOORSTEP_DATABASE_URL`: every server command on PostgreSQL).
    pub fn with_env(mut self, key: &str, value: &str) -> Shell {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.directory.path().join(name)
    }

    /// `doorstep ARGS` in the directory, without the caller's log or
    /// language settings.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .current_dir(self.directory.path())
            .env_remove("RUST_LOG")
            .env_remove("DOORSTEP_LANG")
            .env_remove("DOORSTEP_DATABASE_URL")
            .envs(self.env.iter().map(|(key, value)| (key, value)));
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("doorstep runs")
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "doorstep {args:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8 stdout")
    }

    pub fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).expect("JSON on stdout")
    }

    /// Every visit on the server, one JSON object each, as
    /// `admin export visits --format jsonl` writes them.
    pub fn exported_visits(&self) -> Vec<Value> {
        self.ok(&[
            "admin",
            "export",
            "visits",
            "--format",
            "jsonl",
            "--out",
            "export.jsonl",
        ]);
        std::fs::read_to_string(self.path("export.jsonl"))
            .expect("export")
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    /// Runs a command that must fail with `code`; returns its stderr, which
    /// must be one line.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let output = self.run(args);
        let stderr = String::from_utf8(output.stderr).expect("utf-8 stderr");
        assert_eq!(
            output.status.code(),
            Some(code),
            "doorstep {args:?}: {stderr}"
        );
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|line| line.starts_with("error:"))
            .collect();
        assert_eq!(lines.len(), 1, "one error line: {stderr}");
        assert_eq!(
            stderr.trim_end().lines().last(),
            Some(lines[0]),
            "the error is the last line: {stderr}"
        );
        assert!(output.stdout.is_empty(), "nothing on stdout when failing");
        lines[0].to_string()
    }

    /// `doorstep ARGS` with the soft limit on open files set to `limit`
    /// (through `sh -c "ulimit -S -n …"`, which then execs doorstep: the
    /// process id stays the same).
    pub fn command_with_open_files(&self, limit: u64, args: &[&str]) -> Command {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -S -n {limit} && exec \"$0\" \"$@\""))
            .arg(BIN)
            .args(args)
            .current_dir(self.directory.path())
            .env_remove("RUST_LOG")
            .env_remove("DOORSTEP_LANG");
        command
    }

    /// The operator's data in the server's database: 60 generated
    /// households, one cadre paired with the first village, the demo form.
    /// Returns a one-time enrolment code for that cadre.
    pub fn county(&self) -> String {
        let csv = self.ok(&["gen", "households", "--count", "60", "--seed", "3"]);
        std::fs::write(self.path("households.csv"), &csv).expect("write CSV");
        self.ok(&["admin", "import-households", "households.csv"]);
        let villages = self.json(&["admin", "villages", "--json"]);
        let village = villages[0]["code"].as_str().expect("a village code");
        let cadre = self
            .ok(&["admin", "add-cadre", "--name", "cadre"])
            .trim()
            .to_string();
        self.ok(&["admin", "assign", "--cadre", &cadre, "--village", village]);
        self.ok(&["admin", "publish-form", &demo_form()]);
        self.ok(&["admin", "enroll-code", "--cadre", &cadre])
            .trim()
            .to_string()
    }

    /// Starts `doorstep serve` on `listen`; returns the process and its URL.
    pub fn serve(&self, listen: &str) -> Server {
        let mut command = self.command(&["serve", "--listen", listen]);
        command.stderr(Stdio::null());
        Server::start(command)
    }
}

/// A running `doorstep serve`, stopped when dropped.
pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    /// Starts a `doorstep serve` command and reads the URL it prints.
    pub fn start(mut command: Command) -> Server {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the server prints its address");
        Server {
            child,
            url: line.trim().to_string(),
        }
    }

    pub fn listen_address(&self) -> String {
        self.url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .to_string()
    }

    /// The server's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The demo form, as its XLSForm.
pub fn demo_form() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../forms/household-check.xlsx")
        .display()
        .to_string()
}

/// A valid visit of the demo form: a household of five (the names are
/// made up; never printed). Per-capita net income 8,860.
pub const ANSWERS: &str = r#"{
    "visit_date": "2024-12-28", "respondent": "head",
    "members": [
        {"member_name": "张明", "relation": "head", "age": 48, "able_to_work": "full"},
        {"member_name": "李芳", "relation": "spouse", "age": 45, "able_to_work": "full"},
        {"member_name": "张小兰", "relation": "child", "age": 10, "in_school": "yes"},
        {"member_name": "张强", "relation": "child", "age": 22, "able_to_work": "full"},
        {"member_name": "王秀英", "relation": "parent", "age": 71, "able_to_work": "none"}
    ],
    "migrants": [{"migrant_name": "张强", "destination": "outside_province", "city": "深圳",
                  "monthly_income": 6000, "return_date": "2025-01-22"}],
    "income_wages": 42000, "income_business": 3000, "income_transfer": 1800, "production_costs": 2500,
    "food_clothing_ok": "yes", "education_ok": "yes", "medical_insurance_ok": "yes",
    "housing_safe": "yes", "drinking_water_safe": "yes", "risk_category": "none",
    "relocated": "no", "support_needed": ["training"]
}"#;
