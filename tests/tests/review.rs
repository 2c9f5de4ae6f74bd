//! A supervisor's review of a same-field conflict, end to end: two real
//! devices change one phone number from the same version, the real server
//! on port 0 keeps one value and logs the other, a supervisor restores the
//! value that lost, and both phones receive it on their next sync and keep
//! it on every sync after.

use chrono::Utc;
use doorstep_core::Store;
use doorstep_e2e::{VILLAGE_A, World, sync};
use doorstep_protocol::{HouseholdField, HouseholdRecord};
use doorstep_server::store::browse::Page;
use doorstep_server::store::{
    ConflictFilter, ConflictRow, NewUser, Resolution, Role, Scope, StoreError,
};
use serde_json::json;
use uuid::Uuid;

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

fn settle(devices: &[&Store]) {
    // Twice round: the second pass brings everyone what the others pushed.
    for _ in 0..2 {
        for device in devices {
            sync(device).expect("sync");
        }
    }
}

fn conflicts(world: &World, scope: &Scope, household: Uuid) -> Vec<ConflictRow> {
    let filter = ConflictFilter {
        household: Some(household),
        ..ConflictFilter::default()
    };
    let (rows, total) = world
        .store
        .conflicts_page(scope, &filter, Page::number(1, 20))
        .expect("the conflicts of a household in scope");
    assert_eq!(rows.len() as u64, total);
    rows
}

#[test]
fn a_restored_value_reaches_both_phones_and_stays() {
    let mut world = World::new();
    let a = world.device(world.cadre(VILLAGE_A));
    let b = world.device(world.cadre(VILLAGE_A));
    settle(&[&a, &b]);
    let household = world.village_a[1];
    let phone = |value: &str| [(HouseholdField::Phone, json!(value))];
    // Both cadres change the phone from the same version: one value is
    // kept by the clock, the other lost (whichever it is).
    a.edit_household(household, &phone("13900000001"))
        .expect("edit on a");
    b.edit_household(household, &phone("13900000002"))
        .expect("edit on b");
    settle(&[&a, &b]);

    let township = Scope::Area(VILLAGE_A[..9].to_owned());
    let (supervisor, _) = world
        .store
        .add_user(
            &NewUser {
                name: "李娟".into(),
                role: Role::Supervisor,
                area_code: Some(VILLAGE_A[..9].to_owned()),
            },
            Utc::now(),
        )
        .expect("a supervisor");
    let rows = conflicts(&world, &township, household);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let conflict = &rows[0];
    assert_eq!(conflict.field, "phone");
    assert_eq!(conflict.resolution, None);
    for device in [&a, &b] {
        assert_eq!(on_device(device, household).phone, conflict.kept);
    }
    let (kept, lost) = (conflict.kept.clone(), conflict.lost.clone());
    assert_ne!(kept, lost);
    let before = on_server(&world, household);

    let outcome = world
        .store
        .resolve_conflict(
            &township,
            conflict.id,
            Resolution::Restore,
            supervisor.id,
            Utc::now(),
        )
        .expect("the lost value is restored");
    assert_eq!(outcome.version, before.version + 1);
    let server = on_server(&world, household);
    assert_eq!(server.phone, lost);

    // Each phone receives the restored record on its next sync.
    for device in [&a, &b] {
        sync(device).expect("sync after the restore");
        assert_eq!(on_device(device, household), server);
    }
    // Later syncs, and a later edit of another field, do not undo it.
    b.edit_household(household, &[(HouseholdField::Members, json!(6))])
        .expect("another edit on b");
    settle(&[&a, &b]);
    let server = on_server(&world, household);
    assert_eq!((server.phone.as_str(), server.members), (lost.as_str(), 6));
    for device in [&a, &b] {
        assert_eq!(on_device(device, household), server);
        assert_eq!(device.status().expect("status").pending, 0);
    }
    // The field's history names the server as the restorer.
    let history = world.store.household_history(household).expect("history");
    let restored = history
        .iter()
        .filter(|write| write.field == HouseholdField::Phone)
        .max_by_key(|write| write.version)
        .expect("phone writes");
    assert_eq!((restored.origin, &restored.value), (None, &json!(lost)));

    let rows = conflicts(&world, &township, household);
    assert_eq!(rows.len(), 1, "the restore made no new conflict");
    assert_eq!(rows[0].resolution.as_deref(), Some("restored"));
    assert_eq!(rows[0].resolved_by.as_deref(), Some("李娟"));

    // A supervisor of another county neither sees nor decides it.
    let elsewhere = Scope::Area("530623206".into());
    let filter = ConflictFilter::default();
    let (rows, total) = world
        .store
        .conflicts_page(&elsewhere, &filter, Page::number(1, 20))
        .expect("an empty page");
    assert!(rows.is_empty() && total == 0);
    let refused = world.store.resolve_conflict(
        &elsewhere,
        conflict.id,
        Resolution::Keep,
        supervisor.id,
        Utc::now(),
    );
    assert!(
        matches!(refused, Err(StoreError::NotFound(_))),
        "{refused:?}"
    );
}
