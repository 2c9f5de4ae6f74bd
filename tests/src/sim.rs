//! A deterministic simulator of Doorstep sync.
//!
//! One seed drives a whole schedule: a real server store and a few real
//! device stores (SQLite files), joined by an in-process transport that
//! loses requests and answers, delivers some twice, holds pushes back and
//! delivers them late (out of order), answers "busy", and kills the device
//! between any two steps of a sync. Between syncs, cadres record visits and
//! drafts, correct households (often the same field, to make conflicts),
//! go offline, are reassigned by the operator, whose imports also change
//! households; clocks are skewed by up to a year and time moves on; the
//! server restarts. Then the network heals and every device syncs until
//! quiet, and the invariants are checked:
//!
//! 1. every finalised visit is on the server exactly once;
//! 2. nothing is left pending or rejected on any device;
//! 3. every device holds exactly its cadre's scope, each household as the
//!    server has it, with every visit and conflict of those households;
//! 4. no acknowledged edit is lost: each edited value was the field's value
//!    on the server at some point, or is in the conflict log as lost;
//! 5. no concurrent overwrite is silent: when a write replaced a value its
//!    writer had not seen, the replaced value is in the conflict log.
//!
//! The schedule (every choice, every fault) follows from the seed alone. The
//! ids the stores make (UUIDv7) are random, so a tie between two equal clock
//! readings, broken by device id, may fall the other way on a replay; time
//! moves by a random number of milliseconds at each step to make such ties
//! rare.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use chrono::{DateTime, Duration, Utc};
use doorstep_core::clock::{Clock, ManualClock};
use doorstep_core::sqlite::Durability;
use doorstep_core::sync::{CancelToken, SyncEngine, SyncOptions};
use doorstep_core::transport::Endpoint;
use doorstep_core::{NewVisit, Store, StoreOptions};
use doorstep_protocol::{AreaLevel, AreaRecord, HouseholdField, HouseholdRecord, PushRequest};
use doorstep_server::ServerStore;
use doorstep_server::store::AssignmentTarget;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tempfile::TempDir;
use uuid::Uuid;

use crate::{DEMO_FORM, answers};

mod check;

const VILLAGE: &str = "530626104201";
const HOUSEHOLDS: u128 = 6;

/// The size of one schedule.
#[derive(Debug, Clone, Copy)]
pub struct SimConfig {
    pub devices: usize,
    pub steps: usize,
}

impl SimConfig {
    /// Sizes drawn from the seed: 2 to 4 devices, 20 to 80 steps.
    pub fn from_seed(seed: u64) -> SimConfig {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
        SimConfig {
            devices: rng.random_range(2..=4),
            steps: rng.random_range(20..=80),
        }
    }
}

/// What one schedule did, for the summary line.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimStats {
    pub visits: u64,
    pub edits: u64,
    pub conflicts: u64,
    pub syncs: u64,
    pub faults: u64,
    pub kills: u64,
    pub late_deliveries: u64,
    pub scope_changes: u64,
    pub server_restarts: u64,
}

impl std::ops::AddAssign for SimStats {
    fn add_assign(&mut self, other: SimStats) {
        self.visits += other.visits;
        self.edits += other.edits;
        self.conflicts += other.conflicts;
        self.syncs += other.syncs;
        self.faults += other.faults;
        self.kills += other.kills;
        self.late_deliveries += other.late_deliveries;
        self.scope_changes += other.scope_changes;
        self.server_restarts += other.server_restarts;
    }
}

/// A violated invariant, with the schedule that led to it.
#[derive(Debug)]
pub struct SimFailure {
    pub seed: u64,
    pub message: String,
    pub log: Vec<String>,
}

impl std::fmt::Display for SimFailure {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            formatter,
            "seed {} failed: {}\nreplay with DOORSTEP_SIM_SEED={}\nschedule:",
            self.seed, self.message, self.seed
        )?;
        for line in &self.log {
            writeln!(formatter, "  {line}")?;
        }
        Ok(())
    }
}

/// Runs the schedule of `seed` and checks every invariant.
pub fn run(seed: u64) -> Result<SimStats, SimFailure> {
    let mut sim = Sim::new(seed, SimConfig::from_seed(seed));
    let result = sim
        .play()
        .and_then(|()| sim.heal())
        .and_then(|()| sim.check());
    match result {
        Ok(()) => Ok(sim.stats),
        Err(message) => Err(SimFailure {
            seed,
            message,
            log: std::mem::take(&mut sim.log),
        }),
    }
}

struct Device {
    path: PathBuf,
    clock: Arc<ManualClock>,
    store: Option<Store>,
    cadre: Uuid,
    online: bool,
}

use crate::in_process::Network;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An edit a device queued: (device index, household, field, value).
type EditRecord = (usize, Uuid, HouseholdField, Value);

struct Sim {
    config: SimConfig,
    rng: Mutex<StdRng>,
    directory: TempDir,
    server: Option<ServerStore>,
    now: DateTime<Utc>,
    devices: Vec<Device>,
    held: Mutex<Vec<(String, PushRequest)>>,
    households: Vec<Uuid>,
    initial: HashMap<Uuid, HouseholdRecord>,
    /// Finalised visits every device recorded.
    visits: BTreeSet<Uuid>,
    /// Drafts not finalised yet: (device, visit).
    drafts: Vec<(usize, Uuid)>,
    edits: Vec<EditRecord>,
    stats: SimStats,
    log: Vec<String>,
}

fn demo_form() -> &'static doorstep_forms::Form {
    static FORM: OnceLock<doorstep_forms::Form> = OnceLock::new();
    FORM.get_or_init(|| {
        let definition: Value = serde_json::from_str(DEMO_FORM).expect("demo form JSON");
        doorstep_forms::Form::from_definition(&definition).expect("demo form")
    })
}

fn area(code: &str, level: AreaLevel, parent: Option<&str>) -> AreaRecord {
    AreaRecord {
        code: code.into(),
        name: format!("区域{code}"),
        level,
        parent_code: parent.map(Into::into),
    }
}

impl Sim {
    fn new(seed: u64, config: SimConfig) -> Sim {
        let directory = if std::path::Path::new("/dev/shm").is_dir() {
            tempfile::tempdir_in("/dev/shm")
        } else {
            tempfile::tempdir()
        }
        .expect("temporary directory");
        let server = ServerStore::open_with(directory.path().join("server.db"), Durability::Normal)
            .expect("server store");
        let households: Vec<Uuid> = (1..=HOUSEHOLDS)
            .map(|n| Uuid::from_u128(0x1000 + n))
            .collect();
        let records: Vec<HouseholdRecord> = households
            .iter()
            .enumerate()
            .map(|(index, id)| HouseholdRecord {
                id: *id,
                village_code: VILLAGE.into(),
                head_name: format!("户主{index}"),
                id_card_suffix: format!("{:04}", index),
                group: "1组".into(),
                members: 3,
                phone: "13900000000".into(),
                address: "1组1号".into(),
                lat: None,
                lon: None,
                category: "general".into(),
                version: 0,
            })
            .collect();
        server
            .import_households(
                &[
                    area("530626", AreaLevel::County, None),
                    area("530626104", AreaLevel::Township, Some("530626")),
                    area(VILLAGE, AreaLevel::Village, Some("530626104")),
                ],
                &records,
            )
            .expect("import");
        server.publish_form(demo_form()).expect("publish");
        let initial = households
            .iter()
            .map(|id| {
                (
                    *id,
                    server.household(*id).expect("reads").expect("imported"),
                )
            })
            .collect();
        let now = DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("a time");
        let mut sim = Sim {
            config,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            directory,
            server: Some(server),
            now,
            devices: Vec::new(),
            held: Mutex::new(Vec::new()),
            households,
            initial,
            visits: BTreeSet::new(),
            drafts: Vec::new(),
            edits: Vec::new(),
            stats: SimStats::default(),
            log: Vec::new(),
        };
        for index in 0..config.devices {
            sim.add_device(index);
        }
        sim
    }

    fn server(&self) -> &ServerStore {
        self.server.as_ref().expect("the server runs")
    }

    fn random<T>(&self, draw: impl FnOnce(&mut StdRng) -> T) -> T {
        draw(&mut lock(&self.rng))
    }

    fn note(&mut self, line: String) {
        self.log.push(line);
    }

    fn add_device(&mut self, index: usize) {
        let cadre = self
            .server()
            .add_cadre(&format!("干部{index}"))
            .expect("cadre");
        // Each cadre starts with a random half of the households, so that
        // several cadres share some.
        for household in self.households.clone() {
            if self.random(|rng| rng.random_bool(0.5)) {
                self.server()
                    .assign(cadre, &AssignmentTarget::Household(household))
                    .expect("assign");
            }
        }
        let skew = self.random(|rng| match rng.random_range(0..4) {
            0 => Duration::days(365),
            1 => Duration::days(-365),
            2 => Duration::minutes(rng.random_range(-90..90)),
            _ => Duration::zero(),
        });
        let clock = Arc::new(ManualClock::new(self.now + skew));
        let path = self.directory.path().join(format!("device-{index}.db"));
        let store = open_device(&path, &clock);
        let code = self.server().enroll_code(cadre).expect("code").code;
        let network = self.network(true, 0.0);
        doorstep_core::sync::enroll(
            &store,
            &network,
            &Endpoint::new("sim://server"),
            &code,
            None,
        )
        .expect("enrolment");
        self.note(format!(
            "device {index}: cadre {cadre}, clock off by {}",
            skew
        ));
        self.devices.push(Device {
            path,
            clock,
            store: Some(store),
            cadre,
            online: true,
        });
    }

    fn network(&self, online: bool, fault_rate: f64) -> Network<'_> {
        Network {
            server: self.server(),
            now: self.now,
            rng: &self.rng,
            online,
            fault_rate,
            held: &self.held,
            faults: Mutex::new(0),
            killed: Mutex::new(false),
        }
    }

    fn store(&mut self, index: usize) -> &Store {
        let device = &mut self.devices[index];
        if device.store.is_none() {
            device.store = Some(open_device(&device.path, &device.clock));
        }
        device.store.as_ref().expect("opened")
    }

    fn play(&mut self) -> Result<(), String> {
        for step in 0..self.config.steps {
            // Time moves on a little at every step, more now and then.
            let elapsed = self.random(|rng| {
                if rng.random_bool(0.1) {
                    Duration::minutes(rng.random_range(1..600))
                } else {
                    Duration::milliseconds(rng.random_range(1..5000))
                }
            });
            self.advance(elapsed);
            let device = self.random(|rng| rng.random_range(0..self.devices.len()));
            let action = self.random(|rng| rng.random_range(0..100));
            match action {
                0..=21 => self.record(step, device, false)?,
                22..=27 => self.record(step, device, true)?,
                28..=31 => self.finalise(step)?,
                32..=49 => self.edit(step, device)?,
                50..=71 => self.sync(step, device, 0.3)?,
                72..=77 => {
                    let online = !self.devices[device].online;
                    self.devices[device].online = online;
                    self.note(format!(
                        "{step}: device {device} goes {}",
                        if online { "online" } else { "offline" }
                    ));
                }
                78..=83 => self.reassign(step)?,
                84..=87 => self.import_change(step)?,
                88..=91 => self.deliver_late(step),
                92..=95 => {
                    self.devices[device].store = None;
                    self.stats.kills += 1;
                    self.note(format!("{step}: device {device} killed"));
                }
                _ => {
                    self.server = None;
                    self.server = Some(
                        ServerStore::open_with(
                            self.directory.path().join("server.db"),
                            Durability::Normal,
                        )
                        .map_err(|error| format!("server restart: {error}"))?,
                    );
                    self.stats.server_restarts += 1;
                    self.note(format!("{step}: server restarts"));
                }
            }
        }
        Ok(())
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        for device in &self.devices {
            device.clock.advance(by);
        }
    }

    fn assigned_households(&mut self, device: usize) -> Result<Vec<Uuid>, String> {
        Ok(self
            .store(device)
            .households(None)
            .map_err(|error| format!("households: {error}"))?
            .into_iter()
            .filter(|household| household.assigned)
            .map(|household| household.record.id)
            .collect())
    }

    fn record(&mut self, step: usize, device: usize, draft: bool) -> Result<(), String> {
        let held = self.assigned_households(device)?;
        if held.is_empty() {
            return Ok(());
        }
        let household = held[self.random(|rng| rng.random_range(0..held.len()))];
        let members = self.random(|rng| rng.random_range(1..6));
        let recorded = self.store(device).record_visit(NewVisit {
            household_id: household,
            form_id: None,
            answers: answers(members),
            draft,
            corrects: None,
        });
        let visit = match recorded {
            Ok(visit) => visit,
            // Its households came whole, its forms come with the log: a
            // sync cut short can leave the one without the other for now.
            Err(doorstep_core::Error::NoForm) => return Ok(()),
            Err(error) => return Err(format!("step {step}: recording failed: {error}")),
        };
        if draft {
            self.drafts.push((device, visit.id));
        } else {
            self.visits.insert(visit.id);
            self.stats.visits += 1;
        }
        self.note(format!(
            "{step}: device {device} records {} {} for {household}",
            if draft { "draft" } else { "visit" },
            visit.id
        ));
        Ok(())
    }

    fn finalise(&mut self, step: usize) -> Result<(), String> {
        if self.drafts.is_empty() {
            return Ok(());
        }
        let (device, visit) = self
            .drafts
            .swap_remove(self.random(|rng| rng.random_range(0..self.drafts.len())));
        self.store(device)
            .finalise_draft(visit)
            .map_err(|error| format!("step {step}: finalising failed: {error}"))?;
        self.visits.insert(visit);
        self.stats.visits += 1;
        self.note(format!("{step}: device {device} finalises {visit}"));
        Ok(())
    }

    fn edit(&mut self, step: usize, device: usize) -> Result<(), String> {
        let held = self.assigned_households(device)?;
        if held.is_empty() {
            return Ok(());
        }
        let (household, field, value) = self.random(|rng| {
            let household = held[rng.random_range(0..held.len())];
            // Few fields and few values: conflicts, and edits that agree.
            let (field, value) = match rng.random_range(0..4) {
                0 => (
                    HouseholdField::Phone,
                    json!(format!("1390000000{}", rng.random_range(0..4))),
                ),
                1 => (HouseholdField::Members, json!(rng.random_range(1..5))),
                2 => (
                    HouseholdField::Address,
                    json!(format!("1组{}号", rng.random_range(1..4))),
                ),
                _ => (
                    HouseholdField::Category,
                    json!(["general", "unstable", "edge"][rng.random_range(0..3)]),
                ),
            };
            (household, field, value)
        });
        let store = self.store(device);
        let before = store.status().map_err(|error| error.to_string())?.pending;
        store
            .edit_household(household, &[(field, value.clone())])
            .map_err(|error| format!("step {step}: edit failed: {error}"))?;
        let queued = store.status().map_err(|error| error.to_string())?.pending > before;
        if queued {
            self.edits.push((device, household, field, value.clone()));
            self.stats.edits += 1;
            self.note(format!(
                "{step}: device {device} sets {field}={value} on {household}"
            ));
        }
        Ok(())
    }

    /// One sync run of a device through the faulty network, maybe
    /// cancelled part-way. Errors of the network are expected; anything else
    /// is a failure.
    fn sync(&mut self, step: usize, device: usize, fault_rate: f64) -> Result<(), String> {
        let online = self.devices[device].online;
        let options = self.random(|rng| SyncOptions {
            max_batch_changes: rng.random_range(1..6),
            max_batch_bytes: 512 * 1024,
            pull_limit: rng.random_range(1..6),
            snapshot_chunk: rng.random_range(1..4),
        });
        let cancel_after = self.random(|rng| rng.random_bool(0.1).then(|| rng.random_range(0..4)));
        self.store(device);
        let network = self.network(online, fault_rate);
        let store = self.devices[device].store.as_ref().expect("opened");
        let cancel = CancelToken::new();
        let mut events = 0;
        let mut progress = |_| {
            events += 1;
            if cancel_after.is_some_and(|after| events > after) {
                cancel.cancel();
            }
        };
        let result = SyncEngine::new(store, &network)
            .with_options(options)
            .run(&mut progress, &cancel);
        let faults = *lock(&network.faults);
        let killed = *lock(&network.killed);
        self.stats.syncs += 1;
        self.stats.faults += faults;
        let outcome = match &result {
            Ok(report) => format!(
                "ok, pushed {} pulled {}",
                report.pushed + report.duplicates,
                report.pulled
            ),
            Err(error) => format!("stopped: {error}"),
        };
        self.note(format!("{step}: device {device} syncs: {outcome}"));
        if killed {
            self.devices[device].store = None;
            self.stats.kills += 1;
        }
        match result {
            Ok(_) => Ok(()),
            Err(doorstep_core::Error::Transport(_) | doorstep_core::Error::Cancelled) => Ok(()),
            Err(error) => Err(format!(
                "step {step}: device {device}'s sync failed: {error}"
            )),
        }
    }

    /// The operator pairs a household with a cadre, or undoes a pairing.
    fn reassign(&mut self, step: usize) -> Result<(), String> {
        let (device, household, add) = self.random(|rng| {
            (
                rng.random_range(0..self.devices.len()),
                self.households[rng.random_range(0..self.households.len())],
                rng.random_bool(0.5),
            )
        });
        let cadre = self.devices[device].cadre;
        let target = AssignmentTarget::Household(household);
        let changed = if add {
            self.server().assign(cadre, &target)
        } else {
            self.server().unassign(cadre, &target)
        }
        .map_err(|error| format!("step {step}: reassign: {error}"))?;
        if changed {
            self.stats.scope_changes += 1;
            self.note(format!(
                "{step}: household {household} {} device {device}'s cadre",
                if add { "assigned to" } else { "taken from" }
            ));
        }
        Ok(())
    }

    /// The operator imports a corrected household: a server-side write.
    fn import_change(&mut self, step: usize) -> Result<(), String> {
        let (household, phone) = self.random(|rng| {
            (
                self.households[rng.random_range(0..self.households.len())],
                format!("1370000000{}", rng.random_range(0..3)),
            )
        });
        let mut record = self
            .server()
            .household(household)
            .map_err(|error| error.to_string())?
            .ok_or("an imported household vanished")?;
        record.phone = phone;
        self.server()
            .import_households(&[], &[record])
            .map_err(|error| format!("step {step}: import: {error}"))?;
        self.note(format!(
            "{step}: the operator imports a new phone for {household}"
        ));
        Ok(())
    }

    /// A push held back by the network arrives now.
    fn deliver_late(&mut self, step: usize) {
        let held = {
            let mut held = lock(&self.held);
            if held.is_empty() {
                return;
            }
            let index = lock(&self.rng).random_range(0..held.len());
            held.swap_remove(index)
        };
        self.deliver(&held);
        self.note(format!(
            "{step}: a delayed push of {} changes arrives",
            held.1.changes.len()
        ));
    }

    fn deliver(&mut self, (token, request): &(String, PushRequest)) {
        if let Ok(auth) = self.server().authenticate(token, self.now) {
            // Its answer goes nowhere: the device gave up on it long ago.
            let _ = self.server().push(auth, &request.changes, None, self.now);
            self.stats.late_deliveries += 1;
        }
    }

    /// The network heals: late pushes arrive, every device comes online and
    /// syncs until a whole round changes nothing.
    fn heal(&mut self) -> Result<(), String> {
        let held: Vec<_> = std::mem::take(&mut *lock(&self.held));
        for request in &held {
            self.deliver(request);
        }
        self.note("the network heals".into());
        for device in &mut self.devices {
            device.online = true;
        }
        for round in 0..4 {
            self.advance(Duration::seconds(1));
            for device in 0..self.devices.len() {
                self.sync(1000 + round, device, 0.0)?;
                if self.devices[device].store.is_none() {
                    return Err(format!("device {device} was killed while healing"));
                }
            }
        }
        Ok(())
    }
}

fn open_device(path: &std::path::Path, clock: &Arc<ManualClock>) -> Store {
    Store::open_with(
        path,
        StoreOptions {
            durability: Durability::Normal,
            clock: Arc::clone(clock) as Arc<dyn Clock>,
            language: None,
            key: None,
        },
    )
    .expect("device store opens")
}
