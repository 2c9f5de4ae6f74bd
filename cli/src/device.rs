//! `doorstep device …`: a desktop device. It runs the same core as a phone:
//! its own SQLite file, its outbox, the same sync.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use doorstep_core::sync::{
    CancelToken, HttpTransport, SyncEngine, SyncOptions, SyncPhase, TransportError,
};
use doorstep_core::{NewVisit, Store, StoreOptions, Visit, VisitSync};
use doorstep_protocol::{Answers, ConflictRecord, HouseholdField};
use uuid::Uuid;

use crate::output::{invalid, print_json};

#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// The device's database file (created at enrolment).
    #[arg(long, global = true, default_value = "doorstep-device.db")]
    db: PathBuf,
    /// Language of validation messages: zh-CN or en.
    #[arg(long, global = true, env = "DOORSTEP_LANG")]
    lang: Option<String>,
    #[command(subcommand)]
    command: DeviceCommand,
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// Enroll this device with a one-time code from the operator; prints the device id.
    Enroll {
        /// The server, e.g. http://127.0.0.1:8686
        #[arg(long)]
        server: String,
        #[arg(long)]
        code: String,
        /// A label the operator will recognise (no personal data).
        #[arg(long)]
        label: Option<String>,
    },
    /// List the households on this device.
    Households {
        /// Any part of the head's name, ID-card suffix, phone, address or village.
        #[arg(long)]
        search: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one household (with the conflicts settled about it), or correct
    /// it: `--set phone=13900000000 --set members=5`. Corrections are queued
    /// for the server and merged there field by field.
    Household {
        id: Uuid,
        /// FIELD=VALUE; fields: head_name, group, members, phone, address, category.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List the same-field conflicts the server settled for this device's households.
    Conflicts {
        #[arg(long)]
        household: Option<Uuid>,
        #[arg(long)]
        json: bool,
    },
    /// List the forms on this device.
    Forms {
        #[arg(long)]
        json: bool,
    },
    /// Record a visit; prints its id.
    Visit {
        #[arg(long)]
        household: Uuid,
        /// The answers: a JSON object from question name to value ("-" reads stdin).
        #[arg(long)]
        answers: PathBuf,
        /// The form id (default: the device's only or newest form).
        #[arg(long)]
        form: Option<String>,
        /// Keep it as an editable draft.
        #[arg(long)]
        draft: bool,
        /// The finalised visit this one corrects.
        #[arg(long)]
        corrects: Option<Uuid>,
    },
    /// Replace a draft's answers.
    Edit {
        visit: Uuid,
        #[arg(long)]
        answers: PathBuf,
    },
    /// Finalise a draft: validate it and queue it for the server.
    Finalise { visit: Uuid },
    /// List the visits on this device: its own and those pulled for its households.
    Visits {
        #[arg(long)]
        household: Option<Uuid>,
        #[arg(long)]
        json: bool,
    },
    /// Queue the changes the server rejected again (after the cause was fixed).
    Retry,
    /// Push what is pending and pull what is new.
    Sync {
        #[arg(long)]
        json: bool,
        /// Changes in one push request at most (smaller batches lose less
        /// on a link that keeps dropping).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=5000))]
        batch: u32,
    },
    /// What is pending, what was rejected, when the device last synced.
    Status {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: DeviceArgs) -> anyhow::Result<()> {
    let open = || -> anyhow::Result<Store> {
        let options = StoreOptions {
            language: args.lang.clone(),
            ..StoreOptions::default()
        };
        Ok(Store::open_with(&args.db, options)?)
    };
    match args.command {
        DeviceCommand::Enroll {
            server,
            code,
            label,
        } => {
            let transport = HttpTransport::new(&server)?;
            let store = open()?;
            let identity = doorstep_core::sync::enroll(
                &store,
                &transport,
                transport.base_url(),
                &code,
                label,
            )?;
            eprintln!(
                "enrolled as device {} of cadre {}; run `sync` to receive households and forms",
                identity.device_id, identity.cadre_id
            );
            println!("{}", identity.device_id);
        }
        DeviceCommand::Households { search, json } => {
            let households = open()?.households(search.as_deref())?;
            if json {
                print_json(&households)?;
            } else {
                for household in households {
                    let record = &household.record;
                    println!(
                        "{}\t{}\t{}{}\t{} members\t{}",
                        record.id,
                        record.head_name,
                        household.village.as_deref().unwrap_or(&record.village_code),
                        record.group,
                        record.members,
                        record.category
                    );
                }
            }
        }
        DeviceCommand::Household { id, set, json } => {
            let store = open()?;
            let changes = set
                .iter()
                .map(|assignment| parse_assignment(assignment))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let household = if changes.is_empty() {
                store
                    .household(id)?
                    .ok_or(doorstep_core::Error::UnknownHousehold(id))?
            } else {
                let before = store.status()?.pending;
                let household = store.edit_household(id, &changes)?;
                let queued = store.status()?.pending > before;
                eprintln!(
                    "{}",
                    if queued {
                        "household corrected; the change goes with the next sync"
                    } else {
                        "nothing to change: the household already has these values"
                    }
                );
                household
            };
            let conflicts = store.conflicts(Some(id))?;
            if json {
                print_json(&serde_json::json!({
                    "household": household,
                    "conflicts": conflicts,
                }))?;
            } else {
                let record = &household.record;
                for field in HouseholdField::ALL {
                    println!("{field}\t{}", plain(&field.get(record)));
                }
                println!(
                    "village\t{}",
                    household.village.as_deref().unwrap_or(&record.village_code)
                );
                println!("version\t{}", record.version);
                for conflict in &conflicts {
                    println!("{}", conflict_line(conflict));
                }
            }
        }
        DeviceCommand::Conflicts { household, json } => {
            let conflicts = open()?.conflicts(household)?;
            if json {
                print_json(&conflicts)?;
            } else {
                for conflict in &conflicts {
                    println!("{}", conflict_line(conflict));
                }
            }
        }
        DeviceCommand::Forms { json } => {
            let forms = open()?.forms()?;
            if json {
                print_json(&forms)?;
            } else {
                for form in forms {
                    println!("{}\t{}\t{}", form.form_id, form.version, form.title);
                }
            }
        }
        DeviceCommand::Visit {
            household,
            answers,
            form,
            draft,
            corrects,
        } => {
            let answers = read_answers(&answers)?;
            let visit = open()?.record_visit(NewVisit {
                household_id: household,
                form_id: form,
                answers,
                draft,
                corrects,
            })?;
            eprintln!(
                "{} visit {} ({} {})",
                if draft { "saved draft" } else { "recorded" },
                visit.id,
                visit.form_id,
                visit.form_version
            );
            println!("{}", visit.id);
        }
        DeviceCommand::Edit { visit, answers } => {
            let answers = read_answers(&answers)?;
            let visit = open()?.update_draft(visit, &answers)?;
            println!("{}", visit.id);
        }
        DeviceCommand::Finalise { visit } => {
            let visit = open()?.finalise_draft(visit)?;
            eprintln!("finalised visit {}; queued for the server", visit.id);
            println!("{}", visit.id);
        }
        DeviceCommand::Visits { household, json } => {
            let visits = open()?.visits(household)?;
            if json {
                print_json(&visits)?;
            } else {
                for visit in &visits {
                    println!("{}", visit_line(visit));
                }
            }
        }
        DeviceCommand::Retry => {
            let count = open()?.retry_rejected()?;
            eprintln!("{count} rejected changes queued again; they go with the next sync");
        }
        DeviceCommand::Sync { json, batch } => sync(&open()?, json, batch as usize)?,
        DeviceCommand::Status { json } => {
            let status = open()?.status()?;
            if json {
                print_json(&status)?;
            } else {
                println!(
                    "device\t{}",
                    status
                        .device_id
                        .map_or("not enrolled".into(), |id| id.to_string())
                );
                println!("server\t{}", status.server_url.as_deref().unwrap_or("-"));
                println!("pending\t{}", status.pending);
                println!("rejected\t{}", status.rejected);
                println!("drafts\t{}", status.drafts);
                println!("households\t{}", status.households);
                println!("visits\t{}", status.visits);
                println!("forms\t{}", status.forms);
                println!(
                    "last_sync\t{}",
                    status
                        .last_sync
                        .map_or("never".into(), |time| time.to_rfc3339())
                );
                println!(
                    "last_contact\t{}",
                    status
                        .last_contact
                        .map_or("never".into(), |time| time.to_rfc3339())
                );
                if let Some(error) = &status.last_error {
                    println!("last_error\t{error}");
                }
                if status.stalled {
                    println!("stalled\tyes: syncing again will not help until this is fixed");
                }
            }
        }
    }
    Ok(())
}

fn sync(store: &Store, json: bool, batch: usize) -> anyhow::Result<()> {
    let identity = store.require_identity()?;
    let transport = HttpTransport::new(&identity.server_url)?;
    let engine = SyncEngine::new(store, &transport).with_options(SyncOptions {
        max_batch_changes: batch,
        ..SyncOptions::default()
    });
    let mut progress = |step: doorstep_core::sync::SyncProgress| {
        let phase = match step.phase {
            SyncPhase::Push => "pushed",
            SyncPhase::Pull => "pulled",
            SyncPhase::Snapshot => "fetched households",
        };
        let bytes = format_bytes(step.bytes);
        match step.total {
            Some(total) => eprintln!("sync: {phase} {}/{total} ({bytes})", step.done),
            None => eprintln!("sync: {phase} {} ({bytes})", step.done),
        }
    };
    let report = match engine.run(&mut progress, &CancelToken::new()) {
        Ok(report) => report,
        Err(error) if error.is_transient() => {
            let pending = store.status()?.pending;
            let what = match &error {
                doorstep_core::Error::Transport(
                    TransportError::Unreachable(_) | TransportError::Interrupted(_),
                ) => format!("could not reach {}", identity.server_url),
                _ => "sync did not finish".to_string(),
            };
            return Err(anyhow::Error::new(error).context(format!(
                "{what}; {pending} changes stay queued on this device and go with the next sync"
            )));
        }
        Err(error) => return Err(error.into()),
    };
    let status = store.status()?;
    eprintln!(
        "sync done: pushed {} (duplicates {}), rejected {}, pulled {}, households +{} -{}; {} sent, {} received; {} pending, {} rejected in all",
        report.pushed,
        report.duplicates,
        report.rejected,
        report.pulled,
        report.households_added,
        report.households_released,
        format_bytes(report.bytes.sent),
        format_bytes(report.bytes.received),
        status.pending,
        status.rejected
    );
    if json {
        print_json(&serde_json::json!({
            "pushed": report.pushed,
            "duplicates": report.duplicates,
            "rejected": report.rejected,
            "pulled": report.pulled,
            "households_added": report.households_added,
            "households_released": report.households_released,
            "requests": report.requests,
            "bytes_sent": report.bytes.sent,
            "bytes_received": report.bytes.received,
            "pending": status.pending,
            "rejected_total": status.rejected,
        }))?;
    }
    Ok(())
}

fn format_bytes(bytes: u64) -> String {
    if bytes < 10 * 1024 {
        format!("{bytes} B")
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

/// `FIELD=VALUE` from the command line; `members` takes a number.
fn parse_assignment(text: &str) -> anyhow::Result<(HouseholdField, serde_json::Value)> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| invalid(format!("--set takes FIELD=VALUE, not {text:?}")))?;
    let field = HouseholdField::parse(name.trim()).ok_or_else(|| {
        let names: Vec<&str> = HouseholdField::ALL
            .iter()
            .map(|field| field.as_str())
            .collect();
        invalid(format!(
            "unknown household field {name:?}; fields: {}",
            names.join(", ")
        ))
    })?;
    let value = match field {
        HouseholdField::Members => serde_json::Value::from(
            value
                .trim()
                .parse::<u64>()
                .map_err(|_| invalid("members must be a whole number from 0 to 99"))?,
        ),
        _ => serde_json::Value::from(value.trim()),
    };
    Ok((field, value))
}

fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// One conflict, one line: when, household, field, kept value, lost value.
pub fn conflict_line(conflict: &ConflictRecord) -> String {
    format!(
        "{}\t{}\t{}\tkept {}\tlost {}\tby {}",
        conflict.decided_at.to_rfc3339(),
        conflict.household_id,
        conflict.field,
        plain(&conflict.kept),
        plain(&conflict.lost),
        conflict
            .lost_by
            .map_or("the server".to_string(), |device| format!(
                "device {device}"
            ))
    )
}

fn visit_line(visit: &Visit) -> String {
    let state = match &visit.sync {
        VisitSync::Local => "draft".to_string(),
        VisitSync::Pending => "pending".to_string(),
        VisitSync::Synced => "synced".to_string(),
        VisitSync::Rejected { reason, .. } => format!("rejected: {reason}"),
    };
    format!(
        "{}\t{}\t{}\t{}@{}\t{}\t{}",
        visit.id,
        visit.household_id,
        visit.recorded_at.to_rfc3339(),
        visit.form_id,
        visit.form_version,
        if visit.own { "own" } else { "pulled" },
        state
    )
}

/// Reads an answers file: one JSON object.
fn read_answers(path: &Path) -> anyhow::Result<Answers> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("could not read the answers from stdin")?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("could not read {}", path.display()))?;
    }
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|error| invalid(format!("{}: not valid JSON ({error})", path.display())))?;
    match value {
        serde_json::Value::Object(answers) => Ok(answers),
        _ => Err(invalid(format!(
            "{}: the answers must be a JSON object from question name to value",
            path.display()
        ))),
    }
}
