//! `doorstep demo`: the whole journey on a throw-away server, in a temporary
//! directory. Cadres' devices enroll and receive their villages, the server
//! goes down, visits are recorded offline, the server comes back, devices
//! sync, and the demo checks that every visit arrived exactly once (half
//! of them with a photo of the house, which follows its visit) and that a
//! second cadre of the same village sees them.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use chrono::NaiveDate;
use clap::Args;
use doorstep_core::sqlite::DatabaseKey;
use doorstep_core::sync::{CancelToken, SyncEngine, SyncReport, enroll};
use doorstep_core::transport::{Endpoint, HttpTransport};
use doorstep_core::{NewVisit, Store, StoreOptions};
use doorstep_protocol::Answers;
use doorstep_server::store::AssignmentTarget;
use doorstep_server::{BackgroundServer, ServerStore};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};

use crate::admin::records;
use crate::households;
use crate::output::print_json;

/// The demo form, shipped in the repository as an XLSForm.
pub(crate) const DEMO_FORM: &[u8] = include_bytes!("../../forms/household-check.xlsx");

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Cadre devices (at least 2: two cadres share the first village).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(2..=200))]
    devices: u32,
    /// Visits each device records while the server is down.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    visits: u32,
    /// Seed for the households and answers.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Summary {
    devices: u32,
    households: usize,
    villages: usize,
    visits_recorded: u64,
    visits_on_server: u64,
    photos_recorded: u64,
    photos_on_server: u64,
    duplicates: u64,
    missing: u64,
    offline_sync_refused: bool,
    pending_after_sync: u64,
    second_cadre_sees: u64,
    other_village_sees: u64,
    replay_pushed: u64,
    requests: u64,
    seconds: f64,
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let directory = tempfile::tempdir().context("could not make a temporary directory")?;
    let say = |message: String| {
        if !args.json {
            eprintln!("{message}");
        }
    };

    // The county's data: households, one form, cadres paired with villages.
    let store = Arc::new(ServerStore::open(directory.path().join("server.db"))?);
    let devices = args.devices as usize;
    let rows = households::generate(devices * 120, args.seed);
    let (areas, households) = records(&rows);
    store.import_households(&areas, &households)?;
    let form = doorstep_forms::xlsform::read_xlsx_bytes(DEMO_FORM)
        .context("the demo form does not load")?;
    store.publish_form(&form)?;
    let villages: Vec<String> = {
        let mut seen = HashSet::new();
        rows.iter()
            .filter(|row| seen.insert(row.village_code.clone()))
            .map(|row| row.village_code.clone())
            .collect()
    };
    // Cadres 0 and 1 share the first village; the others take one each.
    let mut cadre_villages = Vec::with_capacity(devices);
    for index in 0..devices {
        let village = &villages[index.saturating_sub(1) % villages.len()];
        let cadre = store.add_cadre(&format!("演示干部{}", index + 1))?;
        store.assign(cadre, &AssignmentTarget::Village(village.clone()))?;
        cadre_villages.push((cadre, village.clone()));
    }
    say(format!(
        "demo: {} households in {} villages, form {} {}, {devices} cadres (two share village {})",
        rows.len(),
        villages.len(),
        form.form_id,
        form.version,
        cadre_villages[0].1
    ));

    // The server starts; every device enrolls and receives its households.
    let server =
        BackgroundServer::start(Arc::clone(&store), SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let address = server.address();
    let url = server.url();
    let mut phones = Vec::with_capacity(devices);
    let mut requests = 0;
    for (index, (cadre, _)) in cadre_villages.iter().enumerate() {
        // Each phone's store is encrypted, as in the field (the key would
        // live in the Keystore or Keychain).
        let key: [u8; 32] = rand::rng().random();
        let phone = Store::open_with(
            directory.path().join(format!("device-{index}.db")),
            StoreOptions {
                key: Some(DatabaseKey::derive(&key)?),
                ..StoreOptions::default()
            },
        )?;
        let transport = HttpTransport::new(&url)?;
        let code = store.enroll_code(*cadre)?;
        enroll(
            &phone,
            &transport,
            &Endpoint::new(&url),
            &code.code,
            Some(format!("demo device {}", index + 1)),
        )?;
        requests += 1 + sync(&phone)?.requests;
        phones.push(phone);
    }
    say(format!(
        "demo: server at {url}; {devices} devices enrolled and synced their households and the form"
    ));

    // The signal is gone: the server stops, cadres keep recording.
    server.stop().context("could not stop the server")?;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut recorded = Vec::new();
    let mut photos = Vec::new();
    for phone in &phones {
        let households = phone.households(None)?;
        ensure!(
            !households.is_empty(),
            "a demo device received no households"
        );
        for _ in 0..args.visits {
            let household = &households[rng.random_range(0..households.len())];
            let mut answers = household_check_answers(&mut rng, chrono::Utc::now().date_naive());
            // Half the houses are photographed: the photo is kept on the
            // phone first, then named by the answer.
            if rng.random_bool(0.5) {
                let photo = phone.add_file(&crate::picture::house(&mut rng), "image/bmp")?;
                answers.insert("housing_photo".into(), photo.sha256.clone().into());
                photos.push(photo.sha256);
            }
            let visit = phone.record_visit(NewVisit {
                household_id: household.record.id,
                form_id: None,
                answers,
                draft: false,
                corrects: None,
            })?;
            recorded.push(visit.id);
        }
    }
    let pending: u64 = phones
        .iter()
        .map(|phone| phone.status().map(|status| status.pending))
        .sum::<Result<_, _>>()?;
    say(format!(
        "demo: server down; recorded {} visits offline ({} with a photo of the house), {pending} pending",
        recorded.len(),
        photos.len()
    ));
    let offline = sync(&phones[0]);
    let offline_sync_refused = matches!(&offline, Err(error) if error.is_transient());
    if let Err(error) = &offline {
        say(format!(
            "demo: sync while offline: {error} (visits stay queued)"
        ));
    }

    // The server comes back on the same address; everybody syncs.
    let server = BackgroundServer::start(Arc::clone(&store), address)?;
    let mut pushed = 0;
    for phone in &phones {
        let report = sync(phone)?;
        pushed += report.pushed;
        requests += report.requests;
    }
    // A second round brings each device what the others pushed; pushing
    // again must add nothing.
    let mut replay_pushed = 0;
    for phone in &phones {
        let report = sync(phone)?;
        replay_pushed += report.pushed;
        requests += report.requests;
    }
    say(format!("demo: server back; pushed {pushed} visits"));

    // Check: every visit on the server exactly once.
    let mut on_server: BTreeMap<uuid::Uuid, u64> = BTreeMap::new();
    store.export_visits(&mut |visit| {
        *on_server.entry(visit.id).or_default() += 1;
        Ok(())
    })?;
    let duplicates = on_server
        .values()
        .map(|count| count.saturating_sub(1))
        .sum();
    let missing = recorded
        .iter()
        .filter(|id| !on_server.contains_key(id))
        .count() as u64;
    let pending_after_sync: u64 = phones
        .iter()
        .map(|phone| {
            phone
                .status()
                .map(|status| status.pending + status.files_pending)
        })
        .sum::<Result<_, _>>()?;
    let mut photos_on_server = 0;
    for photo in &photos {
        if store.stored_file(photo)?.is_some() {
            photos_on_server += 1;
        }
    }

    // Check: the second cadre of the first village sees the first cadre's
    // visits; a cadre of another village sees none of them.
    let first_device = phones[0].require_identity()?.device_id;
    let sees = |phone: &Store| -> anyhow::Result<u64> {
        Ok(phone
            .visits(None)?
            .iter()
            .filter(|visit| visit.device_id == first_device)
            .count() as u64)
    };
    let second_cadre_sees = sees(&phones[1])?;
    let other_village_sees = match phones.get(2) {
        Some(phone) if cadre_villages[2].1 != cadre_villages[0].1 => sees(phone)?,
        _ => 0,
    };
    server.stop()?;

    let summary = Summary {
        devices: args.devices,
        households: rows.len(),
        villages: villages.len(),
        visits_recorded: recorded.len() as u64,
        visits_on_server: on_server.len() as u64,
        photos_recorded: photos.len() as u64,
        photos_on_server,
        duplicates,
        missing,
        offline_sync_refused,
        pending_after_sync,
        second_cadre_sees,
        other_village_sees,
        replay_pushed,
        requests,
        seconds: started.elapsed().as_secs_f64(),
    };
    let first_device_recorded = u64::from(args.visits);
    if args.json {
        print_json(&summary)?;
    } else {
        eprintln!(
            "demo: {} visits recorded, {} on the server, {} duplicates, {} missing; {}/{} photos on the server; second cadre of the village sees {}/{} of the first cadre's visits, a cadre of another village {}; {} requests in {:.1} s",
            summary.visits_recorded,
            summary.visits_on_server,
            summary.duplicates,
            summary.missing,
            summary.photos_on_server,
            summary.photos_recorded,
            summary.second_cadre_sees,
            first_device_recorded,
            summary.other_village_sees,
            summary.requests,
            summary.seconds
        );
    }
    if summary.missing > 0
        || summary.duplicates > 0
        || summary.visits_on_server != summary.visits_recorded
    {
        bail!("not every visit reached the server exactly once");
    }
    if summary.photos_on_server != summary.photos_recorded {
        bail!("not every photo reached the server");
    }
    if summary.pending_after_sync > 0 || summary.replay_pushed > 0 {
        bail!("changes are still pending after sync, or a second sync pushed again");
    }
    if summary.second_cadre_sees != first_device_recorded || summary.other_village_sees > 0 {
        bail!("visits did not reach exactly the cadres of their village");
    }
    if !summary.offline_sync_refused {
        bail!("sync succeeded while the server was down");
    }
    Ok(())
}

fn sync(phone: &Store) -> Result<SyncReport, doorstep_core::Error> {
    let identity = phone.require_identity()?;
    let transport = HttpTransport::new(&identity.server_url)?;
    SyncEngine::new(phone, &transport).run(&mut |_| {}, &CancelToken::new())
}

/// A plausible visit of the demo form ("百日攻坚" household check): a
/// household of one to six, some working away and coming home before the
/// Spring Festival, incomes in the range of the Zhaotong figures (about a
/// tenth of households fall below the 10,000-yuan line).
pub fn household_check_answers(rng: &mut StdRng, today: NaiveDate) -> Answers {
    const GIVEN: [&str; 12] = [
        "建国", "兰", "春花", "发", "明", "芳", "强", "小红", "德华", "秀英", "志勇", "丽",
    ];
    const CITIES: [(&str, &str); 5] = [
        ("outside_province", "上海"),
        ("outside_province", "深圳"),
        ("outside_province", "宁波"),
        ("in_province", "昆明"),
        ("in_county", "昭阳区"),
    ];
    let name = |rng: &mut StdRng| GIVEN[rng.random_range(0..GIVEN.len())].to_string();
    let size = rng.random_range(1..=6);
    let mut members = Vec::new();
    let mut migrants = Vec::new();
    let mut wages = 0.0;
    for index in 0..size {
        let (relation, age) = match index {
            0 => ("head", rng.random_range(30..=75)),
            1 => ("spouse", rng.random_range(28..=72)),
            2 | 3 => ("child", rng.random_range(0..=25)),
            4 => ("parent", rng.random_range(60..=90)),
            _ => ("grandchild", rng.random_range(0..=12)),
        };
        let member_name = name(rng);
        let mut member = json!({"member_name": member_name, "relation": relation, "age": age});
        if age >= 16 {
            let ability = match age {
                16..=59 => "full",
                60..=69 => "partial",
                _ => "none",
            };
            member["able_to_work"] = json!(ability);
        }
        if (6..=15).contains(&age) {
            member["in_school"] = json!(if rng.random_bool(0.97) { "yes" } else { "no" });
        }
        if (18..=55).contains(&age) && rng.random_bool(0.4) {
            let (destination, city) = CITIES[rng.random_range(0..CITIES.len())];
            let monthly = f64::from(rng.random_range(25..=90)) * 100.0;
            wages += monthly * 10.0;
            let home = today + chrono::Duration::days(rng.random_range(5..=45));
            migrants.push(json!({
                "migrant_name": member_name,
                "destination": destination,
                "city": city,
                "employer": "建筑工地",
                "monthly_income": monthly,
                "return_date": home.format("%Y-%m-%d").to_string(),
            }));
        }
        members.push(member);
    }
    let yes_mostly = |rng: &mut StdRng| if rng.random_bool(0.95) { "yes" } else { "no" };
    let relocated = rng.random_bool(0.2);
    let support: Vec<&str> = if rng.random_bool(0.4) {
        vec!["none"]
    } else {
        let all = [
            "jobs",
            "training",
            "industry",
            "loans",
            "medical",
            "education",
        ];
        let first = rng.random_range(0..all.len());
        let second = (first + rng.random_range(1..all.len())) % all.len();
        if rng.random_bool(0.5) {
            vec![all[first]]
        } else {
            vec![all[first], all[second]]
        }
    };
    const RISKS: [&str; 9] = [
        "none",
        "none",
        "none",
        "none",
        "none",
        "none",
        "unstable",
        "edge",
        "sudden_hardship",
    ];
    let risk = RISKS[rng.random_range(0..RISKS.len())];
    let mut answers = json!({
        "visit_date": today.format("%Y-%m-%d").to_string(),
        "respondent": "head",
        "members": members,
        "income_wages": wages + f64::from(rng.random_range(0..=80)) * 100.0,
        "income_business": f64::from(rng.random_range(0..=150)) * 100.0,
        "income_property": f64::from(rng.random_range(0..=20)) * 100.0,
        "income_transfer": f64::from(rng.random_range(5..=80)) * 100.0,
        "production_costs": f64::from(rng.random_range(0..=50)) * 100.0,
        "food_clothing_ok": yes_mostly(rng),
        "education_ok": yes_mostly(rng),
        "medical_insurance_ok": yes_mostly(rng),
        "housing_safe": yes_mostly(rng),
        "drinking_water_safe": yes_mostly(rng),
        "risk_category": risk,
        "relocated": if relocated { "yes" } else { "no" },
        "support_needed": support,
        "location": {
            "lat": 27.0 + f64::from(rng.random_range(0..1000)) / 1000.0,
            "lon": 103.2 + f64::from(rng.random_range(0..1000)) / 1000.0,
            "accuracy": f64::from(rng.random_range(3..=30)),
        },
    });
    if !migrants.is_empty() {
        answers["migrants"] = json!(migrants);
    }
    if relocated {
        answers["resettlement_site"] = json!("界安安置区");
        answers["works_at_site"] = json!(if rng.random_bool(0.6) { "yes" } else { "no" });
    }
    match answers {
        Value::Object(answers) => answers,
        _ => Answers::new(),
    }
}
