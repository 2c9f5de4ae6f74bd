//! `doorstep device …`: a desktop device. It runs the same core as a phone:
//! its own SQLite file (encrypted with `--key-file`), its outbox, the same
//! sync.

mod files;
mod show;
mod storage;
mod sync;

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use doorstep_core::enrol_qr::EnrolQr;
use doorstep_core::sqlite::DatabaseKey;
use doorstep_core::transport::{Endpoint, HttpTimeouts, HttpTransport};
use doorstep_core::{NewVisit, Store, StoreOptions};
use doorstep_protocol::{Answers, HouseholdField};
use uuid::Uuid;

use crate::output::{invalid, out, print_json};
pub use show::conflict_line;
use show::{plain, visit_line};

#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// The device's database file (created at enrolment).
    #[arg(long, global = true, default_value = "doorstep-device.db")]
    db: PathBuf,
    /// Language of validation messages: zh-CN or en.
    #[arg(long, global = true, env = "DOORSTEP_LANG")]
    lang: Option<String>,
    /// A file whose bytes are the store's key (`head -c 32 /dev/urandom >
    /// FILE`): the store is encrypted with it when created at enrolment,
    /// and opens only with it. Without it the store is a plain file.
    #[arg(long, global = true, env = "DOORSTEP_KEY_FILE", value_name = "FILE")]
    key_file: Option<PathBuf>,
    #[command(subcommand)]
    command: DeviceCommand,
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// Enroll this device with a one-time code from the operator; prints the device id.
    Enroll {
        /// The server, e.g. https://county.example:8686 (plain http:// only
        /// to this machine, unless --insecure-http).
        #[arg(long, required_unless_present = "qr")]
        server: Option<String>,
        #[arg(long, required_unless_present = "qr")]
        code: Option<String>,
        /// An enrolment QR code's text (`doorstep://enrol?…`, from
        /// `admin enroll-code --public-url`) instead of --server and --code:
        /// when it names the county CA's fingerprint, the server must present
        /// that CA, which this device then trusts.
        #[arg(long, value_name = "PAYLOAD", conflicts_with_all = ["server", "code", "ca_file", "insecure_http"])]
        qr: Option<String>,
        /// A label the operator will recognise (no personal data).
        #[arg(long)]
        label: Option<String>,
        /// The county's CA certificate (PEM), when the server's certificate
        /// is not from a public CA; trusted beside Mozilla's roots for every
        /// sync of this device.
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
        /// Allow plain http:// to another machine. The token and every
        /// household's data then cross the network readable: a test network
        /// only.
        #[arg(long)]
        insecure_http: bool,
    },
    /// Erase this device's store, for handing the phone to another cadre:
    /// tells the server to revoke this device's token, then deletes the
    /// files. Refuses while visits or changes have not reached the server.
    Wipe {
        /// Wipe even what has not reached the server (it is lost).
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Move this device to another address of its server (a county moving
    /// to HTTPS), keeping its identity, token and unsynced visits.
    SetServer {
        /// The server, e.g. https://county.example:8686
        #[arg(long)]
        server: String,
        /// The county's CA certificate (PEM), as at enrolment.
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
        /// Allow plain http:// to another machine (a test network only).
        #[arg(long)]
        insecure_http: bool,
    },
    /// Encrypt the store with a new key, or change its key, or decrypt it.
    /// The current key comes from --key-file. Keep both key files until
    /// this returns: if it is killed, the store opens with one of the two.
    Rekey {
        /// The file whose bytes are the new key.
        #[arg(long, value_name = "FILE", required_unless_present = "decrypt")]
        new_key_file: Option<PathBuf>,
        /// Store the data unencrypted from now on.
        #[arg(long, conflicts_with = "new_key_file")]
        decrypt: bool,
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
        /// Attach a file to a photo, audio, video or file question:
        /// QUESTION=PATH, repeatable; inside a repeat members[2]/photo=PATH.
        #[arg(long = "file", value_name = "QUESTION=PATH")]
        files: Vec<String>,
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
        #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=2000))]
        batch: u32,
    },
    /// What is pending, what was rejected, when the device last synced.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// What the store takes on disk: files (and those not on the server
    /// yet), visits, households, free space, and the retention policy.
    Storage {
        #[arg(long)]
        json: bool,
    },
    /// Show or set what the device keeps (with no option: show it); --apply
    /// removes what the policy lets go now.
    Retention(storage::RetentionArgs),
}

pub fn run(args: DeviceArgs) -> anyhow::Result<()> {
    let key = args.key_file.as_deref().map(read_key).transpose()?;
    let options = StoreOptions {
        language: args.lang.clone(),
        key,
        ..StoreOptions::default()
    };
    // Every command but enrolment needs the store to exist already: a
    // mistyped --db is an error, not a new empty store.
    let open = || -> anyhow::Result<Store> { Ok(Store::open_existing(&args.db, options.clone())?) };
    match args.command {
        DeviceCommand::Enroll {
            server,
            code,
            qr,
            label,
            ca_file,
            insecure_http,
        } => {
            let identity = if let Some(payload) = qr {
                // Read before the store is created: a bad code leaves
                // nothing behind.
                let qr = EnrolQr::parse(&payload).map_err(doorstep_core::Error::from)?;
                let store = Store::open_with(&args.db, options.clone())?;
                doorstep_core::sync::enroll_from_qr(&store, &qr, label, HttpTimeouts::default())?
            } else {
                let (Some(server), Some(code)) = (server, code) else {
                    return Err(invalid("--server and --code are needed (or --qr)"));
                };
                let endpoint = endpoint(server, ca_file.as_deref(), insecure_http)?;
                // Checked before the store is created: a bad address or CA
                // file leaves nothing behind.
                let transport = HttpTransport::connect(&endpoint, HttpTimeouts::default())?;
                let store = Store::open_with(&args.db, options.clone())?;
                doorstep_core::sync::enroll(&store, &transport, &endpoint, &code, label)?
            };
            eprintln!(
                "enrolled as device {} of cadre {}; run `sync` to receive households and forms",
                identity.device_id, identity.cadre_id
            );
            out!("{}", identity.device_id);
        }
        DeviceCommand::Households { search, json } => {
            let households = open()?.households(search.as_deref())?;
            if json {
                print_json(&households)?;
            } else {
                for household in households {
                    let record = &household.record;
                    out!(
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
                    out!("{field}\t{}", plain(&field.get(record)));
                }
                out!(
                    "village\t{}",
                    household.village.as_deref().unwrap_or(&record.village_code)
                );
                out!("version\t{}", record.version);
                for conflict in &conflicts {
                    out!("{}", conflict_line(conflict));
                }
            }
        }
        DeviceCommand::Conflicts { household, json } => {
            let conflicts = open()?.conflicts(household)?;
            if json {
                print_json(&conflicts)?;
            } else {
                for conflict in &conflicts {
                    out!("{}", conflict_line(conflict));
                }
            }
        }
        DeviceCommand::Forms { json } => {
            let forms = open()?.forms()?;
            if json {
                print_json(&forms)?;
            } else {
                for form in forms {
                    out!("{}\t{}\t{}", form.form_id, form.version, form.title);
                }
            }
        }
        DeviceCommand::Visit {
            household,
            answers,
            form,
            draft,
            corrects,
            files: attached,
        } => {
            let mut answers = read_answers(&answers)?;
            let store = open()?;
            files::attach(&store, &mut answers, &attached)?;
            let visit = store.record_visit(NewVisit {
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
            out!("{}", visit.id);
        }
        DeviceCommand::Edit { visit, answers } => {
            let answers = read_answers(&answers)?;
            let visit = open()?.update_draft(visit, &answers)?;
            out!("{}", visit.id);
        }
        DeviceCommand::Finalise { visit } => {
            let visit = open()?.finalise_draft(visit)?;
            eprintln!("finalised visit {}; queued for the server", visit.id);
            out!("{}", visit.id);
        }
        DeviceCommand::Visits { household, json } => {
            let visits = open()?.visits(household)?;
            if json {
                print_json(&visits)?;
            } else {
                for visit in &visits {
                    out!("{}", visit_line(visit));
                }
            }
        }
        DeviceCommand::Retry => {
            let count = open()?.retry_rejected()?;
            eprintln!("{count} rejected changes queued again; they go with the next sync");
        }
        DeviceCommand::Sync { json, batch } => sync::sync(&open()?, json, batch as usize)?,
        DeviceCommand::Storage { json } => storage::storage(&open()?, json)?,
        DeviceCommand::Retention(retention) => storage::retention(&open()?, retention)?,
        DeviceCommand::Wipe { force, json } => wipe(&open()?, force, json)?,
        DeviceCommand::SetServer {
            server,
            ca_file,
            insecure_http,
        } => {
            let store = open()?;
            let endpoint = endpoint(server, ca_file.as_deref(), insecure_http)?;
            // Checked before it is saved: a bad address or CA file changes
            // nothing.
            HttpTransport::connect(&endpoint, HttpTimeouts::default())?;
            let identity = store.set_endpoint(&endpoint)?;
            eprintln!(
                "device {} now syncs with {}",
                identity.device_id, identity.server_url
            );
        }
        DeviceCommand::Rekey {
            new_key_file,
            decrypt: _,
        } => {
            let store = open()?;
            let new_key = new_key_file.as_deref().map(read_key).transpose()?;
            store.rekey(new_key.as_ref())?;
            eprintln!(
                "{}",
                if new_key.is_some() {
                    "the store is encrypted with the new key; keep the key file safe: without it the store cannot be opened"
                } else {
                    "the store is no longer encrypted"
                }
            );
        }
        DeviceCommand::Status { json } => {
            let status = open()?.status()?;
            if json {
                print_json(&status)?;
            } else {
                out!(
                    "device\t{}",
                    status
                        .device_id
                        .map_or("not enrolled".into(), |id| id.to_string())
                );
                out!("server\t{}", status.server_url.as_deref().unwrap_or("-"));
                out!("pending\t{}", status.pending);
                out!("files_pending\t{}", status.files_pending);
                out!("bytes_pending\t{}", status.bytes_pending);
                out!("rejected\t{}", status.rejected);
                out!("drafts\t{}", status.drafts);
                out!("households\t{}", status.households);
                out!("visits\t{}", status.visits);
                out!("forms\t{}", status.forms);
                out!(
                    "last_sync\t{}",
                    status
                        .last_sync
                        .map_or("never".into(), |time| time.to_rfc3339())
                );
                out!(
                    "last_contact\t{}",
                    status
                        .last_contact
                        .map_or("never".into(), |time| time.to_rfc3339())
                );
                if let Some(error) = &status.last_error {
                    out!("last_error\t{error}");
                }
                if status.stalled {
                    out!("stalled\tyes: syncing again will not help until this is fixed");
                }
            }
        }
    }
    Ok(())
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

/// The store's key from a key file: its bytes, at least 32 of them (a key,
/// not a password: `head -c 32 /dev/urandom > FILE`).
fn read_key(path: &Path) -> anyhow::Result<DatabaseKey> {
    let bytes = std::fs::read(path)
        .map_err(|error| invalid(format!("key file {}: {error}", path.display())))?;
    if bytes.len() < 32 {
        return Err(invalid(format!(
            "key file {}: {} bytes; a key is at least 32 random bytes (head -c 32 /dev/urandom > FILE)",
            path.display(),
            bytes.len()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if std::fs::metadata(path).is_ok_and(|metadata| metadata.permissions().mode() & 0o077 != 0)
        {
            eprintln!(
                "warning: key file {} can be read by other users (chmod 600 it)",
                path.display()
            );
        }
    }
    DatabaseKey::derive(&bytes)
        .map_err(|error| invalid(format!("key file {}: {error}", path.display())))
}

/// A server address with the trust given on the command line.
fn endpoint(url: String, ca_file: Option<&Path>, insecure_http: bool) -> anyhow::Result<Endpoint> {
    let ca_pem = ca_file
        .map(|path| {
            std::fs::read_to_string(path)
                .map_err(|error| invalid(format!("{}: {error}", path.display())))
        })
        .transpose()?;
    Ok(Endpoint {
        url,
        ca_pem,
        allow_insecure_http: insecure_http,
    })
}

/// `device wipe`: the core's wipe, told to the server when it can be.
fn wipe(store: &Store, force: bool, json: bool) -> anyhow::Result<()> {
    let transport = match store.identity()? {
        Some(_) => Some(sync::transport(store)?),
        None => None,
    };
    let report = doorstep_core::sync::wipe(
        store,
        transport
            .as_ref()
            .map(|transport| transport as &dyn doorstep_core::transport::Transport),
        force,
    )?;
    match (&report.server_error, report.server_told) {
        (_, true) => eprintln!("the server revoked this device's token"),
        (Some(error), _) => eprintln!(
            "warning: the server could not be told ({error}); ask the operator to revoke this device"
        ),
        (None, false) => {}
    }
    if !report.lost.is_empty() {
        eprintln!(
            "erased {} change(s) and {} draft(s) that never reached the server",
            report.lost.changes, report.lost.drafts
        );
    }
    eprintln!(
        "wiped {}; if it was encrypted, also destroy its key file",
        store.path().display()
    );
    if json {
        print_json(&report)?;
    }
    Ok(())
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
