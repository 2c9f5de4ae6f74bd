//! Cadres and devices through a scope, on both backends: a
//! supervisor of one township sees and changes only what is paired with
//! it; everything else is "not found".

#![allow(clippy::unwrap_used)]

use chrono::Utc;
use doorstep_protocol::{AreaLevel, AreaRecord};
use uuid::Uuid;

use super::*;
use crate::store::AssignmentTarget;
use crate::store::testing::on_both_backends;
use crate::store::tests::household;

const HERE: &str = "530626104201";
const HERE_TOO: &str = "530626104202";
const THERE: &str = "530623206201";

fn store() -> (crate::store::testing::TestDatabase, ServerStore) {
    let (directory, store) = crate::store::testing::empty_store();
    let area = |code: &str, level, parent: Option<&str>| AreaRecord {
        code: code.into(),
        name: format!("area {code}"),
        level,
        parent_code: parent.map(Into::into),
    };
    store
        .import_households(
            &[
                area("530626", AreaLevel::County, None),
                area("530626104", AreaLevel::Township, Some("530626")),
                area(HERE, AreaLevel::Village, Some("530626104")),
                area(HERE_TOO, AreaLevel::Village, Some("530626104")),
                area("530623", AreaLevel::County, None),
                area("530623206", AreaLevel::Township, Some("530623")),
                area(THERE, AreaLevel::Village, Some("530623206")),
            ],
            &[household(1, HERE), household(2, THERE)],
        )
        .unwrap();
    (directory, store)
}

fn here() -> Scope {
    Scope::Area("530626104".into())
}

fn cadre(store: &ServerStore, village: &str) -> Uuid {
    let cadre = store.add_cadre("干部").unwrap();
    store
        .assign(cadre, &AssignmentTarget::Village(village.into()))
        .unwrap();
    cadre
}

fn enrolled(store: &ServerStore, cadre: Uuid) -> Uuid {
    let code = store.enroll_code(cadre).unwrap();
    store
        .enroll(&code.code, None, None, None, Utc::now())
        .unwrap()
        .device_id
}

on_both_backends! {
    #[test]
    fn a_supervisor_sees_the_cadres_and_devices_of_the_area_only() {
        let (_directory, store) = store();
        let local = cadre(&store, HERE);
        let remote = cadre(&store, THERE);
        // Paired on both sides: seen, with only the villages of the area.
        let both = cadre(&store, THERE);
        store
            .assign(both, &AssignmentTarget::Village(HERE_TOO.into()))
            .unwrap();
        // Paired with one household of the area.
        let one_house = store.add_cadre("结对").unwrap();
        store
            .assign(one_house, &AssignmentTarget::Household(Uuid::from_u128(1)))
            .unwrap();
        let unpaired = store.add_cadre("新").unwrap();
        let local_device = enrolled(&store, local);
        let remote_device = enrolled(&store, remote);

        let seen: Vec<Uuid> = store
            .cadres_in_scope(&here())
            .unwrap()
            .iter()
            .map(|row| row.id)
            .collect();
        assert_eq!(seen, vec![local, both, one_house]);
        let both_row = store.cadre_in_scope(&here(), both).unwrap();
        let codes: Vec<&str> = both_row.villages.iter().map(|v| v.code.as_str()).collect();
        assert_eq!(
            codes,
            vec![HERE_TOO],
            "the other area's village is not shown"
        );
        assert_eq!(
            store.cadre_in_scope(&here(), one_house).unwrap().households,
            1
        );
        for hidden in [remote, unpaired, Uuid::now_v7()] {
            assert!(matches!(
                store.cadre_in_scope(&here(), hidden),
                Err(StoreError::NotFound(_))
            ));
        }
        let all = store.cadres_in_scope(&Scope::All).unwrap();
        assert_eq!(all.len(), 5, "an admin sees every cadre, unpaired ones too");
        assert_eq!(
            all.iter()
                .find(|row| row.id == both)
                .unwrap()
                .villages
                .len(),
            2
        );
        assert_eq!(all.iter().find(|row| row.id == local).unwrap().devices, 1);

        let devices: Vec<Uuid> = store
            .devices_in_scope(&here())
            .unwrap()
            .iter()
            .map(|row| row.id)
            .collect();
        assert_eq!(devices, vec![local_device]);
        assert_eq!(store.devices_in_scope(&Scope::All).unwrap().len(), 2);
        let _ = remote_device;
    }

    #[test]
    fn a_supervisor_revokes_only_the_devices_of_the_area() {
        let (_directory, store) = store();
        let user = Uuid::now_v7();
        let local = enrolled(&store, cadre(&store, HERE));
        let remote = enrolled(&store, cadre(&store, THERE));
        let now = Utc::now();
        assert!(matches!(
            store.revoke_device_in_scope(&here(), remote, user, now),
            Err(StoreError::NotFound(_))
        ));
        let all = store.devices_in_scope(&Scope::All).unwrap();
        assert!(all.iter().all(|row| !row.revoked), "nothing changed");

        let row = store
            .revoke_device_in_scope(&here(), local, user, now)
            .unwrap();
        assert!(row.revoked && row.revoked_at.is_some());
        let again = store
            .revoke_device_in_scope(&here(), local, user, now + chrono::Duration::hours(1))
            .unwrap();
        assert_eq!(
            again.revoked_at, row.revoked_at,
            "revoking again changes nothing"
        );
        let audit = store.audit(10, Some(AuditKind::DeviceRevoked)).unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].user_id, Some(user));
        assert_eq!(audit[0].device_id, Some(local));
    }

    #[test]
    fn pairings_change_only_within_the_area() {
        let (_directory, store) = store();
        let user = Uuid::now_v7();
        let now = Utc::now();
        let local = cadre(&store, HERE);
        let remote = cadre(&store, THERE);
        let fresh = store.add_cadre("新").unwrap();

        // A village of the area: yes, for a cadre of the area or a new one.
        assert!(
            store
                .assign_in_scope(&here(), local, HERE_TOO, user, now)
                .unwrap()
        );
        assert!(
            !store
                .assign_in_scope(&here(), local, HERE_TOO, user, now)
                .unwrap(),
            "twice is harmless"
        );
        assert!(
            store
                .assign_in_scope(&here(), fresh, HERE, user, now)
                .unwrap()
        );
        // Another area's village, another area's cadre, a village code that is
        // a township: not found, and nothing changes.
        let before = store.assignments().unwrap();
        for (cadre, village) in [
            (local, THERE),
            (remote, HERE),
            (local, "530626104"),
            (Uuid::now_v7(), HERE),
        ] {
            assert!(
                matches!(
                    store.assign_in_scope(&here(), cadre, village, user, now),
                    Err(StoreError::NotFound(_))
                ),
                "{cadre} {village}"
            );
        }
        assert!(matches!(
            store.unassign_in_scope(&here(), remote, THERE, user, now),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.unassign_in_scope(&here(), local, THERE, user, now),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(store.assignments().unwrap(), before);

        store
            .unassign_in_scope(&here(), local, HERE_TOO, user, now)
            .unwrap();
        assert!(matches!(
            store.unassign_in_scope(&here(), local, HERE_TOO, user, now),
            Err(StoreError::NotFound(_))
        ));
        let audit = store.audit(20, None).unwrap();
        let by_user = audit
            .iter()
            .filter(|entry| entry.user_id == Some(user))
            .count();
        assert_eq!(
            by_user, 3,
            "two pairings and one unpairing, each by the account"
        );
    }

    #[test]
    fn enrolment_codes_only_for_cadres_of_the_area() {
        let (_directory, store) = store();
        let user = Uuid::now_v7();
        let local = cadre(&store, HERE);
        let remote = cadre(&store, THERE);
        let code = store.enrol_code_in_scope(&here(), local, user).unwrap();
        assert_eq!(code.cadre_id, local);
        assert!(matches!(
            store.enrol_code_in_scope(&here(), remote, user),
            Err(StoreError::NotFound(_))
        ));
        let audit = store.audit(10, Some(AuditKind::EnrolCodeIssued)).unwrap();
        assert_eq!(audit.len(), 1, "the refused one issued nothing");
        assert_eq!(audit[0].user_id, Some(user));
    }

    #[test]
    fn cadres_and_devices_come_a_page_at_a_time_with_their_total() {
        let (_directory, store) = store();
        let mut cadres = Vec::new();
        for name in ["甲", "乙", "丙"] {
            let cadre = store.add_cadre(name).unwrap();
            store
                .assign(cadre, &AssignmentTarget::Village(HERE.into()))
                .unwrap();
            let code = store.enroll_code(cadre).unwrap();
            store
                .enroll(&code.code, None, None, None, Utc::now())
                .unwrap();
            cadres.push(cadre);
        }
        let elsewhere = store.add_cadre("丁").unwrap();
        store
            .assign(elsewhere, &AssignmentTarget::Village(THERE.into()))
            .unwrap();
        let (first, total) = store.cadres_page(&here(), Page::number(1, 2)).unwrap();
        assert_eq!(total, 3, "the other county's cadre is not counted");
        assert_eq!(
            first.iter().map(|cadre| cadre.id).collect::<Vec<_>>(),
            cadres[..2]
        );
        let (second, _) = store.cadres_page(&here(), Page::number(2, 2)).unwrap();
        assert_eq!(
            second.iter().map(|cadre| cadre.id).collect::<Vec<_>>(),
            cadres[2..]
        );
        assert_eq!(second[0].villages.len(), 1, "its villages come with it");
        let (devices, total) = store.devices_page(&here(), Page::number(2, 2)).unwrap();
        assert_eq!((devices.len(), total), (1, 3));
        assert_eq!(devices[0].cadre_id, cadres[2]);
    }
}

/// Runs `work` on two threads at once; both results.
fn twice_at_once<T: Send>(work: impl Fn() -> T + Sync) -> [T; 2] {
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|scope| {
        let racers = [(); 2].map(|()| {
            scope.spawn(|| {
                barrier.wait();
                work()
            })
        });
        racers.map(|racer| racer.join().unwrap())
    })
}

on_both_backends! {
    #[test]
    fn two_servers_undoing_or_revoking_the_same_thing_do_it_once() {
        let (_directory, store) = store();
        let user = Uuid::now_v7();
        let now = Utc::now();
        for round in 0..5 {
            let local = cadre(&store, HERE);
            let device = enrolled(&store, local);
            let undone = twice_at_once(|| store.unassign_in_scope(&here(), local, HERE, user, now));
            let found = undone.iter().filter(|result| result.is_ok()).count();
            let missing = undone
                .iter()
                .filter(|result| matches!(result, Err(StoreError::NotFound(_))))
                .count();
            assert_eq!((found, missing), (1, 1), "round {round}: {undone:?}");
            let history: u64 = store
                .read(|tx| {
                    tx.value(
                        "SELECT count(*) FROM assignment_history WHERE cadre_id = ?1",
                        &[&local],
                    )
                })
                .unwrap();
            assert_eq!(history, 1, "round {round}: one pairing in the history");

            let revoked = twice_at_once(|| store.revoke_device_in_scope(&Scope::All, device, user, now));
            assert!(revoked.iter().all(|result| result.as_ref().is_ok_and(|row| row.revoked)));
        }
        let audit = store.audit(100, None).unwrap();
        let count = |kind: AuditKind| audit.iter().filter(|entry| entry.kind == kind.as_str()).count();
        assert_eq!(
            (count(AuditKind::Unassigned), count(AuditKind::DeviceRevoked)),
            (5, 5),
            "each done once, audited once"
        );
    }
}
