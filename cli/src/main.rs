//! `doorstep`: one binary for operators, demos and load tests.
//!
//! stdout carries data only (ids, codes, JSON); messages, logs and progress
//! go to stderr. Exit codes: 0 success, 1 error, 2 usage, 3 server
//! unreachable (nothing lost: try again later), 4 refused by the server
//! (token, code, or a request it will not take), 5 invalid input (answers,
//! files, ids).
#![allow(clippy::print_stdout)]

mod admin;
mod bench;
mod database;
mod demo;
mod device;
mod export;
mod form;
mod households;
mod output;
mod picture;
mod serve;
mod simulate;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "doorstep",
    version,
    about = "Doorstep: offline-first door-to-door household surveys",
    long_about = "Doorstep: offline-first door-to-door household surveys.\n\n\
        Operators run `doorstep serve` and load data with `doorstep admin`; \
        `doorstep device` is a desktop device that records and syncs visits like a cadre's phone; \
        `doorstep demo` shows the whole journey on a throw-away server.",
    after_help = "Exit codes: 0 ok, 1 error, 2 usage, 3 server unreachable (nothing lost), 4 refused by the server, 5 invalid input.\n\
        Set RUST_LOG (e.g. RUST_LOG=debug) for more detail on stderr."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate synthetic households for demos, tests and benchmarks.
    #[command(subcommand)]
    Gen(GenCommand),
    /// Run the sync server (HTTPS with --tls-cert and --tls-key).
    Serve(serve::ServeArgs),
    /// Operators' commands, on the server's database (a running server sees them at once).
    Admin(admin::AdminArgs),
    /// A desktop device: enroll, record visits, sync — what a cadre's phone does.
    Device(device::DeviceArgs),
    /// Check a form (XLSForm or JSON) before publishing it.
    #[command(subcommand)]
    Form(form::FormCommand),
    /// Run the whole journey on a temporary server: record offline, sync, check.
    Demo(demo::DemoArgs),
    /// Measure sync against a local server: time, requests, bytes on the wire.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Load-test the whole system here: K servers on one database, N real
    /// devices that enrol, record offline and push; checks every visit once.
    Simulate(simulate::SimulateArgs),
}

#[derive(Debug, Subcommand)]
enum GenCommand {
    /// Households as CSV on stdout (the format `admin import-households` reads).
    Households {
        /// How many households.
        #[arg(long, default_value_t = 300)]
        count: usize,
        /// Seed: the same seed gives the same households.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if output::is_closed_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            let code = output::exit_code(&error);
            eprintln!("error: {}", output::one_line(&error));
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Gen(GenCommand::Households { count, seed }) => {
            let rows = households::generate(count, seed);
            households::write_csv(&rows, std::io::stdout().lock())
                .context("could not write the CSV")?;
            Ok(())
        }
        Command::Serve(args) => serve::run(args),
        Command::Admin(args) => admin::run(args),
        Command::Device(args) => device::run(args),
        Command::Form(command) => form::run(command),
        Command::Demo(args) => demo::run(args),
        Command::Bench(command) => bench::run(command),
        Command::Simulate(args) => simulate::run(args),
    }
}
