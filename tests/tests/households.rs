//! Shared household records: cadres correct households on the doorstep,
//! the server merges per field against the base version, and a real
//! same-field conflict is settled by the hybrid logical clock — with the
//! losing value in the conflict log, on the server and on the devices.
//! Phones whose clocks are a year off neither lose their edits nor override
//! newer ones.

use std::sync::Arc;

use chrono::{Duration, Utc};
use doorstep_core::clock::ManualClock;
use doorstep_core::{Error, Store, StoreOptions};
use doorstep_e2e::{VILLAGE_A, World, sync};
use doorstep_protocol::{ConflictRecord, HouseholdField, HouseholdRecord};
use serde_json::{Value, json};
use uuid::Uuid;

fn set(device: &Store, household: Uuid, field: HouseholdField, value: Value) {
    device
        .edit_household(household, &[(field, value)])
        .expect("edit accepted on the device");
}

fn on_device(device: &Store, household: Uuid) -> HouseholdRecord {
    device
        .household(household)
        .expect("reads")
        .expect("household on the device")
        .record
}

fn on_server(world: &World, household: Uuid) -> HouseholdRecord {
    world
        .store
        .household(household)
        .expect("reads")
        .expect("household on the server")
}

/// Two devices of two cadres paired with village A, both synced.
fn two_devices(world: &mut World) -> (Store, Store) {
    two_devices_with(world, StoreOptions::default(), StoreOptions::default())
}

fn two_devices_with(
    world: &mut World,
    first: StoreOptions,
    second: StoreOptions,
) -> (Store, Store) {
    let one = world.cadre(VILLAGE_A);
    let two = world.cadre(VILLAGE_A);
    let a = world.device_with(one, first);
    let b = world.device_with(two, second);
    sync(&a).expect("first sync");
    sync(&b).expect("first sync");
    (a, b)
}

fn skewed(by: Duration) -> (Arc<ManualClock>, StoreOptions) {
    let clock = Arc::new(ManualClock::new(Utc::now() + by));
    let options = StoreOptions {
        clock: Arc::clone(&clock) as Arc<dyn doorstep_core::clock::Clock>,
        ..StoreOptions::default()
    };
    (clock, options)
}

fn settle(devices: &[&Store]) {
    // Twice round: the second pass brings everyone what the others pushed.
    for _ in 0..2 {
        for device in devices {
            sync(device).expect("sync");
        }
    }
}

#[test]
fn edits_of_different_fields_both_survive() {
    let mut world = World::new();
    let (a, b) = two_devices(&mut world);
    let household = world.village_a[0];
    let base = on_server(&world, household).version;
    set(&a, household, HouseholdField::Phone, json!("13900000001"));
    set(&b, household, HouseholdField::Members, json!(6));
    // The device shows its edit at once, before any sync.
    assert_eq!(on_device(&a, household).phone, "13900000001");
    assert_eq!(a.status().expect("status").pending, 1);
    settle(&[&a, &b]);
    let server = on_server(&world, household);
    assert_eq!(server.phone, "13900000001");
    assert_eq!(server.members, 6);
    assert_eq!(server.version, base + 2);
    assert_eq!(on_device(&a, household), server);
    assert_eq!(on_device(&b, household), server);
    assert!(world.store.conflicts(None).expect("conflicts").is_empty());
    assert_eq!(a.status().expect("status").pending, 0);
}

#[test]
fn a_same_field_conflict_keeps_the_later_edit_and_logs_the_other() {
    let mut world = World::new();
    let (a, b) = two_devices(&mut world);
    let household = world.village_a[1];
    set(&a, household, HouseholdField::Phone, json!("13900000001"));
    std::thread::sleep(std::time::Duration::from_millis(5));
    set(&b, household, HouseholdField::Phone, json!("13900000002"));
    // The earlier edit reaches the server last: it must still lose.
    sync(&b).expect("b syncs");
    sync(&a).expect("a syncs");
    settle(&[&a, &b]);
    let server = on_server(&world, household);
    assert_eq!(server.phone, "13900000002");
    let conflicts = world.store.conflicts(Some(household)).expect("conflicts");
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let conflict = &conflicts[0];
    assert_eq!(conflict.field, HouseholdField::Phone);
    assert_eq!(conflict.kept, json!("13900000002"));
    assert_eq!(conflict.lost, json!("13900000001"));
    let a_id = a.require_identity().expect("enrolled").device_id;
    let b_id = b.require_identity().expect("enrolled").device_id;
    assert_eq!(conflict.lost_by, Some(a_id));
    assert_eq!(conflict.kept_by, Some(b_id));
    // Both devices converge and show the conflict.
    for device in [&a, &b] {
        assert_eq!(on_device(device, household), server);
        assert_eq!(
            device.conflicts(Some(household)).expect("conflicts"),
            conflicts
        );
    }
}

#[test]
fn the_later_edit_wins_whichever_arrives_first() {
    let mut world = World::new();
    let (a, b) = two_devices(&mut world);
    let household = world.village_a[2];
    set(&a, household, HouseholdField::Category, json!("edge"));
    std::thread::sleep(std::time::Duration::from_millis(5));
    set(
        &b,
        household,
        HouseholdField::Category,
        json!("sudden_hardship"),
    );
    sync(&a).expect("a syncs first");
    sync(&b).expect("b overrides with the later edit");
    settle(&[&a, &b]);
    assert_eq!(on_server(&world, household).category, "sudden_hardship");
    let conflicts = world.store.conflicts(Some(household)).expect("conflicts");
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].lost, json!("edge"));
    assert_eq!(on_device(&a, household).category, "sudden_hardship");
}

#[test]
fn an_edit_made_after_seeing_the_other_is_no_conflict() {
    let mut world = World::new();
    let (a, b) = two_devices(&mut world);
    let household = world.village_a[0];
    set(
        &a,
        household,
        HouseholdField::Address,
        json!("中坝村3组12号"),
    );
    sync(&a).expect("a pushes");
    sync(&b).expect("b pulls a's edit");
    assert_eq!(on_device(&b, household).address, "中坝村3组12号");
    set(
        &b,
        household,
        HouseholdField::Address,
        json!("中坝村3组14号"),
    );
    // A's own second edit of the same field, from its old base, is no
    // conflict with its first either.
    settle(&[&a, &b]);
    assert_eq!(on_server(&world, household).address, "中坝村3组14号");
    assert!(world.store.conflicts(None).expect("conflicts").is_empty());
    set(&a, household, HouseholdField::Phone, json!("13900000003"));
    set(&a, household, HouseholdField::Phone, json!("13900000004"));
    settle(&[&a, &b]);
    assert_eq!(on_server(&world, household).phone, "13900000004");
    assert!(world.store.conflicts(None).expect("conflicts").is_empty());
    let history = world.store.household_history(household).expect("history");
    let phones: Vec<&Value> = history
        .iter()
        .filter(|write| write.field == HouseholdField::Phone)
        .map(|write| &write.value)
        .collect();
    assert_eq!(phones, [&json!("13900000003"), &json!("13900000004")]);
}

#[test]
fn bad_edits_are_refused_and_change_nothing() {
    let mut world = World::new();
    let (a, _b) = two_devices(&mut world);
    let household = world.village_a[0];
    let before = on_device(&a, household);
    let refused = [
        (HouseholdField::Members, json!(-3)),
        (HouseholdField::Members, json!("six")),
        (HouseholdField::Phone, json!("call me")),
        (HouseholdField::HeadName, json!("   ")),
    ];
    for (field, value) in refused {
        let error = a
            .edit_household(household, &[(field, value)])
            .expect_err("refused");
        assert!(matches!(error, Error::InvalidEdit { .. }), "{error}");
    }
    assert!(matches!(
        a.edit_household(
            world.village_b[0],
            &[(HouseholdField::Phone, json!("13900000006"))]
        ),
        Err(Error::UnknownHousehold(_))
    ));
    assert!(matches!(
        a.edit_household(household, &[]),
        Err(Error::InvalidEdit { .. })
    ));
    // Setting a field to the value it has queues nothing.
    a.edit_household(
        household,
        &[(HouseholdField::Phone, json!(before.phone.clone()))],
    )
    .expect("no-op edit");
    assert_eq!(on_device(&a, household), before);
    assert_eq!(a.status().expect("status").pending, 0);
}

/// Phones whose clocks are a year off. Each case: the skew of device A,
/// and whether A's edit comes after B's (by A's own clock, corrected by the
/// offset A saw at its last sync) or before. The later edit must win either
/// way, and the other value must be in the conflict log: without the offset
/// correction a phone a year ahead would win every conflict for a year, and
/// one a year behind would lose every one.
#[test]
fn phones_a_year_off_neither_lose_their_edits_nor_override_newer_ones() {
    let cases = [
        ("a year ahead, edits first", Duration::days(365), false),
        ("a year ahead, edits last", Duration::days(365), true),
        ("a year behind, edits first", Duration::days(-365), false),
        ("a year behind, edits last", Duration::days(-365), true),
    ];
    for (name, skew, a_edits_last) in cases {
        let mut world = World::new();
        let (clock, options) = skewed(skew);
        let (a, b) = two_devices_with(&mut world, options, StoreOptions::default());
        let household = world.village_a[0];
        let (a_value, b_value) = (json!("13900000011"), json!("13900000012"));
        std::thread::sleep(std::time::Duration::from_millis(5));
        if a_edits_last {
            set(&b, household, HouseholdField::Phone, b_value.clone());
            // A's cadre edits an hour later by A's (wrong) clock.
            clock.advance(Duration::hours(1));
            set(&a, household, HouseholdField::Phone, a_value.clone());
        } else {
            set(&a, household, HouseholdField::Phone, a_value.clone());
            std::thread::sleep(std::time::Duration::from_millis(5));
            set(&b, household, HouseholdField::Phone, b_value.clone());
        }
        // Whichever arrives first, the result is the same.
        sync(&b).expect("b syncs");
        sync(&a).expect("a syncs");
        settle(&[&a, &b]);
        let (winner, loser) = if a_edits_last {
            (&a_value, &b_value)
        } else {
            (&b_value, &a_value)
        };
        assert_eq!(&json!(on_server(&world, household).phone), winner, "{name}");
        let conflicts = world.store.conflicts(Some(household)).expect("conflicts");
        assert_eq!(conflicts.len(), 1, "{name}: {conflicts:?}");
        assert_eq!(&conflicts[0].kept, winner, "{name}");
        assert_eq!(
            &conflicts[0].lost, loser,
            "{name}: the losing value is kept in the log"
        );
        check_converged(&world, &[&a, &b], household);
    }
}

fn check_converged(world: &World, devices: &[&Store], household: Uuid) {
    let server = on_server(world, household);
    let conflicts: Vec<ConflictRecord> = world.store.conflicts(Some(household)).expect("conflicts");
    for device in devices {
        assert_eq!(on_device(device, household), server);
        assert_eq!(
            device.conflicts(Some(household)).expect("conflicts"),
            conflicts
        );
        assert_eq!(device.status().expect("status").pending, 0);
    }
}
