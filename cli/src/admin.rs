//! `doorstep admin …`: operators' commands on the server's database file.
//! They open the same SQLite file as a running server (WAL lets both work at
//! once), so a change takes effect at the server's next request.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use doorstep_forms::Form;
use doorstep_protocol::{AreaLevel, AreaRecord, CaFingerprint, HouseholdRecord};
use doorstep_server::ServerStore;
use doorstep_server::enrol::{self, EnrolSettings};
use doorstep_server::store::{AssignmentTarget, AuditKind, NewUser, Role};
use uuid::Uuid;

mod files;
mod tokens;

use crate::households::{self, HouseholdRow};
use crate::output::{invalid, out, print_json};

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The server's database file.
    #[arg(long, global = true, default_value = "doorstep-server.db")]
    db: PathBuf,
    /// A PostgreSQL database instead of the file (`postgres://user@host/name`).
    #[arg(
        long,
        global = true,
        env = "DOORSTEP_DATABASE_URL",
        value_name = "URL",
        conflicts_with = "db"
    )]
    database_url: Option<String>,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Load households from a CSV file (the format of `doorstep gen households`).
    ImportHouseholds {
        file: PathBuf,
        /// Print the counts as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a cadre; prints the cadre's id.
    AddCadre {
        #[arg(long)]
        name: String,
    },
    /// Add a console account (an admin, or a supervisor of a county or
    /// township); prints a one-time password to change at the first login.
    AddUser {
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: UserRole,
        /// A supervisor's county or township code.
        #[arg(long)]
        area: Option<String>,
    },
    /// List console accounts.
    Users {
        #[arg(long)]
        json: bool,
    },
    /// List cadres with their households and devices.
    Cadres {
        #[arg(long)]
        json: bool,
    },
    /// List villages with their household counts.
    Villages {
        #[arg(long)]
        json: bool,
    },
    /// Pair a cadre with a whole village or one household.
    Assign(TargetArgs),
    /// Undo a pairing.
    Unassign(TargetArgs),
    /// Publish a form version from an XLSForm (.xlsx) or a JSON definition.
    PublishForm { file: PathBuf },
    /// Make a one-time enrolment code for a cadre's device; prints the
    /// code, and with --public-url the enrolment QR code's payload on a
    /// second line (`doorstep://enrol?…`, a secret like the code).
    EnrollCode {
        #[arg(long)]
        cadre: Uuid,
        /// The address devices reach the server at (as `serve
        /// --public-url`): makes the QR code's payload.
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// The county CA's certificate (PEM), as `serve --public-ca`: its
        /// fingerprint goes into the payload and devices pin it.
        #[arg(long, value_name = "FILE", requires = "public_url")]
        ca: Option<PathBuf>,
        /// Also draw the QR code on stderr, in Unicode blocks for a dark
        /// terminal, for a phone to scan off the screen.
        #[arg(long, requires = "public_url")]
        qr: bool,
        /// The code, its cadre, expiry and `qr_payload` as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the same-field conflicts the merge settled, for review: the
    /// value kept, the value that lost, and whose each was.
    Conflicts {
        #[arg(long)]
        household: Option<Uuid>,
        #[arg(long)]
        json: bool,
    },
    /// Every change of one household's fields: who changed what, from which version.
    History {
        household: Uuid,
        #[arg(long)]
        json: bool,
    },
    /// List enrolled devices.
    Devices {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device's token (a lost phone): it can no longer sync.
    RevokeDevice {
        #[arg(long)]
        device: Uuid,
    },
    /// The audit log, newest first: enrolments and retries, revocations,
    /// operators' actions, refused pushes, throttled clients (ids and
    /// reasons, never names or answers).
    Audit {
        /// How many entries at most.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Only this kind (enrolled, enrol_refused, change_refused, …).
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Export data.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Files attached to visits: `--missing` lists the visits whose files
    /// have not all arrived (visit, household, device, when received, how
    /// many and which).
    Files {
        #[arg(long, required = true)]
        missing: bool,
        #[arg(long)]
        json: bool,
    },
    #[command(flatten)]
    Token(tokens::TokenCommand),
}

/// A console account's role.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum UserRole {
    /// Everything, on the whole server.
    Admin,
    /// One county or township and everything below it.
    Supervisor,
}

#[derive(Debug, Args)]
struct TargetArgs {
    #[arg(long)]
    cadre: Uuid,
    /// A village's 12-digit code.
    #[arg(
        long,
        conflicts_with = "household",
        required_unless_present = "household"
    )]
    village: Option<String>,
    /// A household's id.
    #[arg(long)]
    household: Option<Uuid>,
}

impl TargetArgs {
    fn target(&self) -> anyhow::Result<AssignmentTarget> {
        match (&self.village, self.household) {
            (Some(code), None) => Ok(AssignmentTarget::Village(code.trim().to_string())),
            (None, Some(id)) => Ok(AssignmentTarget::Household(id)),
            _ => Err(invalid(
                "give exactly one of --village CODE or --household ID",
            )),
        }
    }
}

#[derive(Debug, Subcommand)]
enum ExportCommand {
    /// The visits the server holds (all, or those the filters choose):
    /// JSON lines, CSV files or an XLSX workbook.
    Visits(crate::export::VisitsExport),
}

pub fn run(args: AdminArgs) -> anyhow::Result<()> {
    let store = crate::database::open(&args.db, args.database_url.as_deref())?;
    match args.command {
        AdminCommand::ImportHouseholds { file, json } => {
            let input =
                File::open(&file).with_context(|| format!("could not open {}", file.display()))?;
            let rows = households::read_csv(input)
                .map_err(|error| invalid(format!("{}: {error}", file.display())))?;
            let (areas, households) = records(&rows);
            let report = store.import_households(&areas, &households)?;
            eprintln!(
                "imported {} households: {} new, {} updated, {} unchanged ({} areas added or changed)",
                rows.len(),
                report.inserted,
                report.updated,
                report.unchanged,
                report.areas
            );
            if json {
                print_json(&report)?;
            }
        }
        AdminCommand::AddCadre { name } => {
            let id = store.add_cadre(&name)?;
            out!("{id}");
        }
        AdminCommand::AddUser { name, role, area } => {
            let role = match role {
                UserRole::Admin => Role::Admin,
                UserRole::Supervisor => Role::Supervisor,
            };
            let new = NewUser {
                name,
                role,
                area_code: area,
            };
            let (user, password) = store.add_user(&new, chrono::Utc::now())?;
            eprintln!(
                "{} {} added; its one-time password (stdout) must be changed at the first login",
                user.role.as_str(),
                user.id
            );
            out!("{password}");
        }
        AdminCommand::Users { json } => {
            let users = store.users()?;
            if json {
                let users: Vec<serde_json::Value> = users
                    .iter()
                    .map(|user| {
                        serde_json::json!({
                            "id": user.id,
                            "name": user.name,
                            "role": user.role.as_str(),
                            "area": user.area_code,
                            "must_change_password": user.must_change,
                        })
                    })
                    .collect();
                print_json(&users)?;
            } else {
                for user in users {
                    out!(
                        "{}\t{}\t{}\t{}",
                        user.id,
                        user.name,
                        user.role.as_str(),
                        user.area_code.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        AdminCommand::Cadres { json } => {
            let cadres = store.cadres()?;
            if json {
                print_json(&cadres)?;
            } else {
                for cadre in cadres {
                    out!(
                        "{}\t{}\t{} households\t{} devices",
                        cadre.id,
                        cadre.name,
                        cadre.households,
                        cadre.devices
                    );
                }
            }
        }
        AdminCommand::Villages { json } => {
            let villages = store.villages()?;
            if json {
                let list: Vec<_> = villages
                    .iter()
                    .map(|(area, households)| serde_json::json!({"code": area.code, "name": area.name, "households": households}))
                    .collect();
                print_json(&list)?;
            } else {
                for (area, households) in villages {
                    out!("{}\t{}\t{households} households", area.code, area.name);
                }
            }
        }
        AdminCommand::Assign(target) => {
            let added = store.assign(target.cadre, &target.target()?)?;
            eprintln!(
                "{}",
                if added {
                    "assigned"
                } else {
                    "already assigned; nothing changed"
                }
            );
        }
        AdminCommand::Unassign(target) => {
            let removed = store.unassign(target.cadre, &target.target()?)?;
            if !removed {
                return Err(invalid("no such assignment; nothing changed"));
            }
            eprintln!("unassigned");
        }
        AdminCommand::PublishForm { file } => {
            let form = read_form(&file)?;
            let published = store.publish_form(&form)?;
            eprintln!(
                "{} form {} version {} ({} questions)",
                if published {
                    "published"
                } else {
                    "already published, unchanged:"
                },
                form.form_id,
                form.version,
                form.questions.len()
            );
            out!("{}@{}", form.form_id, form.version);
        }
        AdminCommand::EnrollCode {
            cadre,
            public_url,
            ca,
            qr,
            json,
        } => enroll_code(&store, cadre, public_url, ca, qr, json)?,
        AdminCommand::Conflicts { household, json } => {
            let conflicts = store.conflicts(household)?;
            if json {
                print_json(&conflicts)?;
            } else {
                for conflict in &conflicts {
                    out!("{}", crate::device::conflict_line(conflict));
                }
                eprintln!("{} conflicts", conflicts.len());
            }
        }
        AdminCommand::History { household, json } => {
            let history = store.household_history(household)?;
            if json {
                print_json(&history)?;
            } else {
                for write in &history {
                    out!(
                        "v{}\t{}\t{}\t{}\tfrom v{}\tby {}",
                        write.version,
                        write.changed_at.to_rfc3339(),
                        write.field,
                        write.value,
                        write.base_version,
                        write
                            .origin
                            .map_or("the server".to_string(), |device| format!(
                                "device {device}"
                            ))
                    );
                }
            }
        }
        AdminCommand::Devices { json } => {
            let devices = store.devices()?;
            if json {
                print_json(&devices)?;
            } else {
                for device in devices {
                    out!(
                        "{}\t{}\t{}\tlast seen {}\t{} visits\t{} unsent{}",
                        device.id,
                        device.cadre_id,
                        device.label.as_deref().unwrap_or("-"),
                        device.last_seen_at.as_deref().unwrap_or("never"),
                        device.visits,
                        device
                            .pending_changes
                            .map_or("?".to_string(), |pending| pending.to_string()),
                        if device.revoked_at.is_some() {
                            "\trevoked"
                        } else {
                            ""
                        }
                    );
                }
            }
        }
        AdminCommand::RevokeDevice { device } => {
            store.revoke_device(device)?;
            eprintln!("device {device} revoked: its token no longer works");
        }
        AdminCommand::Audit { limit, kind, json } => {
            let kind = kind
                .map(|name| {
                    AuditKind::parse(&name).ok_or_else(|| {
                        let kinds: Vec<&str> =
                            AuditKind::ALL.iter().map(|kind| kind.as_str()).collect();
                        invalid(format!(
                            "unknown audit kind {name:?}; kinds: {}",
                            kinds.join(", ")
                        ))
                    })
                })
                .transpose()?;
            let entries = store.audit(limit, kind)?;
            if json {
                print_json(&entries)?;
            } else {
                let show = |value: Option<String>| value.unwrap_or_else(|| "-".into());
                for entry in entries {
                    out!(
                        "{}	{}	device {}	cadre {}	from {}	{}	{}",
                        entry.at,
                        entry.kind,
                        show(entry.device_id.map(|id| id.to_string())),
                        show(entry.cadre_id.map(|id| id.to_string())),
                        show(entry.client),
                        show(entry.subject),
                        show(entry.detail)
                    );
                }
            }
        }
        AdminCommand::Export(ExportCommand::Visits(args)) => {
            crate::export::run(&store, &args)?;
        }
        AdminCommand::Token(command) => tokens::run(&store, command)?,
        AdminCommand::Files { missing: _, json } => files::missing(&store, json)?,
    }
    Ok(())
}

/// Reads a form from an XLSForm spreadsheet or a JSON definition.
pub fn read_form(file: &Path) -> anyhow::Result<Form> {
    let extension = file
        .extension()
        .and_then(|extension| extension.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match extension.as_str() {
        "xlsx" => doorstep_forms::xlsform::read_xlsx(file)
            .map_err(|error| invalid(format!("{}: {error}", file.display()))),
        "json" => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("could not read {}", file.display()))?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|error| invalid(format!("{}: not JSON: {error}", file.display())))?;
            Form::from_definition(&value)
                .map_err(|error| invalid(format!("{}: {error}", file.display())))
        }
        _ => Err(invalid(format!(
            "{}: a form is an .xlsx XLSForm or a .json definition",
            file.display()
        ))),
    }
}

/// The areas and household records in CSV rows.
pub fn records(rows: &[HouseholdRow]) -> (Vec<AreaRecord>, Vec<HouseholdRecord>) {
    let mut areas = BTreeMap::new();
    let mut households = Vec::with_capacity(rows.len());
    for row in rows {
        let mut area = |code: &str, name: &str, level, parent: Option<&str>| {
            areas.entry(code.to_string()).or_insert_with(|| AreaRecord {
                code: code.to_string(),
                name: name.to_string(),
                level,
                parent_code: parent.map(str::to_string),
            });
        };
        area(&row.county_code, &row.county, AreaLevel::County, None);
        area(
            &row.township_code,
            &row.township,
            AreaLevel::Township,
            Some(&row.county_code),
        );
        area(
            &row.village_code,
            &row.village,
            AreaLevel::Village,
            Some(&row.township_code),
        );
        households.push(HouseholdRecord {
            id: row.id,
            village_code: row.village_code.clone(),
            head_name: row.head_name.clone(),
            id_card_suffix: row.id_card_suffix.clone(),
            group: row.group.clone(),
            members: row.members,
            phone: row.phone.clone(),
            address: row.address.clone(),
            lat: Some(row.lat),
            lon: Some(row.lon),
            category: row.category.clone(),
            version: 0,
        });
    }
    (areas.into_values().collect(), households)
}

/// `admin enroll-code`: the code on stdout (and the QR payload on a second
/// line when the public address is given), or all of it as JSON; the QR
/// code drawn on stderr with `--qr`. The address and the CA file are
/// checked before the code is made: a mistake makes no code.
fn enroll_code(
    store: &ServerStore,
    cadre: Uuid,
    public_url: Option<String>,
    ca: Option<PathBuf>,
    qr: bool,
    json: bool,
) -> anyhow::Result<()> {
    let fingerprint = ca
        .as_deref()
        .map(enrol::read_ca)
        .transpose()
        .map_err(|error| invalid(error.to_string()))?
        .map(|certificate| CaFingerprint::of_der(&certificate));
    let settings = EnrolSettings::new(public_url.as_deref(), fingerprint)
        .map_err(|error| invalid(error.to_string()))?;
    let code = store.enroll_code(cadre)?;
    let qr_payload = settings.payload(&code.code);
    eprintln!(
        "one-time code for cadre {cadre}, valid until {}",
        code.expires_at.format("%Y-%m-%d %H:%M UTC")
    );
    if let (true, Some(payload)) = (qr, &qr_payload) {
        let drawing = doorstep_server::console::qr::qr_text(payload)
            .ok_or_else(|| invalid("the payload is too long for a QR code"))?;
        eprintln!("{drawing}");
    }
    if json {
        #[derive(serde::Serialize)]
        struct Shown<'a> {
            #[serde(flatten)]
            code: &'a doorstep_server::store::EnrollCode,
            qr_payload: Option<&'a str>,
        }
        print_json(&Shown {
            code: &code,
            qr_payload: qr_payload.as_deref(),
        })?;
    } else {
        out!("{}", code.code);
        if let Some(payload) = &qr_payload {
            out!("{payload}");
        }
    }
    Ok(())
}
