//! The review of conflicts and refused changes, on both backends:
//! scopes, decisions taken once, restores that are new server edits, and
//! restores refused when the field moved on.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use doorstep_protocol::{
    AreaLevel, AreaRecord, Change, Hlc, HouseholdEdit, HouseholdField, HouseholdRecord, Mutation,
    Outcome, PullQuery, PulledChange,
};
use serde_json::{Value, json};

use super::*;
use crate::store::rows::log_position;
use crate::store::testing::on_both_backends;
use crate::store::tests::store;
use crate::store::{AssignmentTarget, AuditKind, DeviceAuth, NewUser, Role};

/// The villages and households of `tests::store()`: households 1 and 2
/// in `VILLAGE`, 3 in `OTHER_VILLAGE`, all in township `TOWNSHIP`.
pub(super) const TOWNSHIP: &str = "530626104";
pub(super) const VILLAGE: &str = "530626104201";
const OTHER_VILLAGE: &str = "530626104202";
/// Another county's township, with household 4, added here.
pub(super) const FAR_TOWNSHIP: &str = "530623206";
pub(super) const FAR_VILLAGE: &str = "530623206201";

pub(super) fn now() -> DateTime<Utc> {
    "2025-01-20T08:00:00Z".parse().unwrap()
}

pub(super) fn id(number: u128) -> Uuid {
    Uuid::from_u128(number)
}

/// The test store with a far township and its household 4.
pub(super) fn world() -> (crate::store::testing::TestDatabase, ServerStore) {
    let (directory, store) = store();
    let area = |code: &str, level, parent: Option<&str>| AreaRecord {
        code: code.into(),
        name: format!("area {code}"),
        level,
        parent_code: parent.map(Into::into),
    };
    store
        .import_households(
            &[
                area("530623", AreaLevel::County, None),
                area(FAR_TOWNSHIP, AreaLevel::Township, Some("530623")),
                area(FAR_VILLAGE, AreaLevel::Village, Some(FAR_TOWNSHIP)),
            ],
            &[HouseholdRecord {
                id: id(4),
                village_code: FAR_VILLAGE.into(),
                head_name: "龙发".into(),
                id_card_suffix: "0011".into(),
                group: "2组".into(),
                members: 4,
                phone: "13800000004".into(),
                address: "2组3号".into(),
                lat: None,
                lon: None,
                category: "general".into(),
                version: 0,
            }],
        )
        .unwrap();
    (directory, store)
}

pub(super) fn device(store: &ServerStore, cadre_name: &str, village: &str) -> DeviceAuth {
    let cadre = store.add_cadre(cadre_name).unwrap();
    store
        .assign(cadre, &AssignmentTarget::Village(village.into()))
        .unwrap();
    let code = store.enroll_code(cadre).unwrap();
    let response = store
        .enroll(&code.code, Some("phone"), None, None, now())
        .unwrap();
    store.authenticate(&response.token, now()).unwrap()
}

pub(super) fn user(store: &ServerStore, name: &str, area: Option<&str>) -> Uuid {
    let new = NewUser {
        name: name.into(),
        role: if area.is_some() {
            Role::Supervisor
        } else {
            Role::Admin
        },
        area_code: area.map(Into::into),
    };
    store.add_user(&new, now()).unwrap().0.id
}

/// Pushes one edit of one field as `auth`'s change `seq`, stamped
/// `minutes` before now, from `base`.
pub(super) fn edit(
    store: &ServerStore,
    auth: DeviceAuth,
    seq: u64,
    household: Uuid,
    base: u64,
    (field, value): (HouseholdField, Value),
    minutes: i64,
) -> Outcome {
    let change = Change {
        seq,
        mutation: Mutation::Household(HouseholdEdit {
            id: Uuid::now_v7(),
            household_id: household,
            base_version: base,
            fields: BTreeMap::from([(field, value)]),
            hlc: Hlc::new(now() - Duration::minutes(minutes), 0),
        }),
    };
    let (mut results, _) = store.push(auth, &[change], None, now()).unwrap();
    results.remove(0).outcome
}

/// Two cadres of `VILLAGE` change household 1's phone from version 1:
/// the later (李) is kept, the earlier (王) lost. The conflict's id.
fn phone_conflict(store: &ServerStore) -> (u64, DeviceAuth, DeviceAuth) {
    let wang = device(store, "王建国", VILLAGE);
    let li = device(store, "李春花", VILLAGE);
    let first = edit(store, wang, 1, id(1), 1, phone("13900000001"), 10);
    let second = edit(store, li, 1, id(1), 1, phone("13900000002"), 5);
    assert_eq!((first, second), (Outcome::Applied, Outcome::Applied));
    let conflicts = store.conflicts(Some(id(1))).unwrap();
    assert_eq!(conflicts.len(), 1);
    (conflicts[0].id, wang, li)
}

fn resolve(
    store: &ServerStore,
    scope: &Scope,
    conflict: u64,
    resolution: Resolution,
    user: Uuid,
) -> StoreResult<ResolveOutcome> {
    store.resolve_conflict(scope, conflict, resolution, user, now())
}

fn household(store: &ServerStore, number: u128) -> HouseholdRecord {
    store.household(id(number)).unwrap().unwrap()
}

fn phone(text: &str) -> (HouseholdField, Value) {
    (HouseholdField::Phone, json!(text))
}

pub(super) fn township() -> Scope {
    Scope::Area(TOWNSHIP.into())
}

fn everything() -> ConflictFilter {
    ConflictFilter::default()
}

pub(super) fn first_page() -> Page {
    Page::number(1, 50)
}

fn row(store: &ServerStore, conflict: u64) -> ConflictRow {
    let (rows, _) = store
        .conflicts_page(&Scope::All, &everything(), first_page())
        .unwrap();
    rows.into_iter().find(|row| row.id == conflict).unwrap()
}

on_both_backends! {
    #[test]
    fn a_conflict_shows_both_values_and_who_wrote_them() {
        let (_directory, store) = world();
        let (conflict, wang, li) = phone_conflict(&store);
        let (rows, total) = store
            .conflicts_page(&township(), &everything(), first_page())
            .unwrap();
        assert_eq!((rows.len(), total), (1, 1));
        let shown = &rows[0];
        assert_eq!(shown.id, conflict);
        assert_eq!(shown.household_id, id(1).to_string());
        assert_eq!(shown.head_name, "喻兰");
        assert_eq!(shown.village, format!("area {VILLAGE}"));
        assert_eq!(shown.field, "phone");
        assert_eq!(
            (shown.kept.as_str(), shown.lost.as_str()),
            ("13900000002", "13900000001")
        );
        let kept_by = shown.kept_by.as_ref().unwrap();
        let lost_by = shown.lost_by.as_ref().unwrap();
        assert_eq!(
            (kept_by.cadre.as_str(), kept_by.device.as_str()),
            ("李春花", "phone")
        );
        assert_eq!(kept_by.device_id, li.device_id.to_string());
        assert_eq!(
            (lost_by.cadre.as_str(), lost_by.device_id.clone()),
            ("王建国", wang.device_id.to_string())
        );
        assert!(!shown.changed_since);
        assert_eq!(shown.resolution, None);
        assert_eq!(shown.resolved_by, None);
    }

    #[test]
    fn restoring_writes_the_lost_value_as_a_new_server_edit_that_devices_pull() {
        let (_directory, store) = world();
        let (conflict, wang, _li) = phone_conflict(&store);
        let supervisor = user(&store, "李娟", Some(TOWNSHIP));
        let before = household(&store, 1);
        let kept_hlc = store.conflicts(Some(id(1))).unwrap()[0].kept_hlc;
        let cursor = store.read(log_position).unwrap();

        let outcome = resolve(
            &store,
            &township(),
            conflict,
            Resolution::Restore,
            supervisor,
        )
        .unwrap();
        assert_eq!(
            outcome,
            ResolveOutcome {
                conflict_id: conflict,
                household_id: id(1).to_string(),
                field: "phone".into(),
                resolution: "restored".into(),
                version: before.version + 1,
            }
        );
        let after = household(&store, 1);
        assert_eq!(after.phone, "13900000001");
        assert_eq!(after.version, before.version + 1);
        assert_eq!(
            HouseholdRecord {
                phone: before.phone.clone(),
                version: before.version,
                ..after.clone()
            },
            before
        );

        // The field log's newest phone write is the server's, later by the clock.
        let history = store.household_history(id(1)).unwrap();
        let latest = history
            .iter()
            .filter(|write| write.field == HouseholdField::Phone)
            .max_by_key(|write| write.version)
            .unwrap();
        assert_eq!(latest.version, after.version);
        assert_eq!(latest.value, json!("13900000001"));
        assert_eq!(latest.origin, None);
        assert_eq!(latest.edit, None);
        assert_eq!(latest.base_version, before.version);
        assert!(latest.hlc > kept_hlc, "{} after {}", latest.hlc, kept_hlc);

        // Every device of the village pulls the restored record, the one
        // whose value lost included.
        let pulled = store
            .pull(
                wang,
                &PullQuery {
                    cursor,
                    scope: None,
                    limit: None,
                    pending: None,
                },
                now(),
            )
            .unwrap();
        assert!(
            pulled
                .changes
                .contains(&PulledChange::Household(after.clone())),
            "{:?}",
            pulled.changes
        );

        let shown = row(&store, conflict);
        assert_eq!(shown.resolution.as_deref(), Some("restored"));
        assert_eq!(shown.resolved_by.as_deref(), Some("李娟"));
        assert_eq!(
            shown.resolved_at.as_deref(),
            Some(time_text(now()).as_str())
        );
        // The restore is a write after the conflict, like any other.
        assert!(shown.changed_since);

        let audit = store.audit(10, Some(AuditKind::ConflictResolved)).unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].user_id, Some(supervisor));
        assert_eq!(
            audit[0].subject.as_deref(),
            Some(format!("conflict {conflict}").as_str())
        );
        let detail = audit[0].detail.clone().unwrap_or_default();
        assert!(
            !detail.contains("1390000000"),
            "no values in the audit: {detail}"
        );
    }

    #[test]
    fn a_device_edit_from_before_the_restore_is_concurrent_with_it() {
        let (_directory, store) = world();
        let (conflict, _wang, li) = phone_conflict(&store);
        let admin = user(&store, "operator", None);
        let base = household(&store, 1).version;
        resolve(&store, &Scope::All, conflict, Resolution::Restore, admin).unwrap();
        // 李 had not seen the restore and edits the phone again, stamped
        // before it: the restore stays, 李's value is logged.
        let late = edit(&store, li, 2, id(1), base, phone("13900000003"), 1);
        assert_eq!(late, Outcome::Applied);
        assert_eq!(household(&store, 1).phone, "13900000001");
        let conflicts = store.conflicts(Some(id(1))).unwrap();
        assert_eq!(conflicts.len(), 2);
        assert_eq!(
            (conflicts[1].kept.clone(), conflicts[1].kept_by),
            (json!("13900000001"), None)
        );
    }

    #[test]
    fn keeping_settles_the_conflict_and_changes_nothing_else() {
        let (_directory, store) = world();
        let (conflict, _, _) = phone_conflict(&store);
        let supervisor = user(&store, "李娟", Some(TOWNSHIP));
        let before = household(&store, 1);
        let history = store.household_history(id(1)).unwrap();
        let cursor = store.read(log_position).unwrap();

        let outcome = resolve(&store, &township(), conflict, Resolution::Keep, supervisor).unwrap();
        assert_eq!(
            (outcome.resolution.as_str(), outcome.version),
            ("kept", before.version)
        );
        assert_eq!(household(&store, 1), before);
        assert_eq!(store.household_history(id(1)).unwrap(), history);
        assert_eq!(
            store.read(log_position).unwrap(),
            cursor,
            "nothing for devices to pull"
        );
        assert_eq!(row(&store, conflict).resolution.as_deref(), Some("kept"));

        let unresolved = ConflictFilter {
            unresolved_only: true,
            ..everything()
        };
        let (rows, total) = store
            .conflicts_page(&township(), &unresolved, first_page())
            .unwrap();
        assert!(rows.is_empty());
        assert_eq!(total, 0);
    }

    #[test]
    fn a_conflict_is_decided_once() {
        let (_directory, store) = world();
        let (conflict, _, _) = phone_conflict(&store);
        let supervisor = user(&store, "李娟", Some(TOWNSHIP));
        resolve(&store, &township(), conflict, Resolution::Keep, supervisor).unwrap();
        let before = household(&store, 1);
        for resolution in Resolution::ALL {
            let again = resolve(&store, &township(), conflict, resolution, supervisor);
            assert!(
                matches!(&again, Err(StoreError::Conflict(message)) if message.contains("already decided (kept)")),
                "{again:?}"
            );
        }
        assert_eq!(household(&store, 1), before);
        assert_eq!(row(&store, conflict).resolution.as_deref(), Some("kept"));
        assert_eq!(
            store
                .audit(10, Some(AuditKind::ConflictResolved))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_field_written_since_the_conflict_is_not_restored() {
        let (_directory, store) = world();
        let (conflict, wang, _) = phone_conflict(&store);
        let supervisor = user(&store, "李娟", Some(TOWNSHIP));
        // 王 saw the merged record and set yet another phone.
        let seen = household(&store, 1).version;
        let later = edit(&store, wang, 2, id(1), seen, phone("13900000009"), 0);
        assert_eq!(later, Outcome::Applied);
        assert!(row(&store, conflict).changed_since);
        let before = household(&store, 1);
        let cursor = store.read(log_position).unwrap();

        let refused = resolve(
            &store,
            &township(),
            conflict,
            Resolution::Restore,
            supervisor,
        );
        assert!(
            matches!(&refused, Err(StoreError::Conflict(message))
                if message == &format!("the household's phone has changed since conflict {conflict}; review it again")),
            "{refused:?}"
        );
        assert_eq!(household(&store, 1), before);
        assert_eq!(store.read(log_position).unwrap(), cursor);
        assert_eq!(row(&store, conflict).resolution, None);
        assert!(
            store
                .audit(10, Some(AuditKind::ConflictResolved))
                .unwrap()
                .is_empty()
        );
        // Keeping is still possible: it writes nothing.
        resolve(&store, &township(), conflict, Resolution::Keep, supervisor).unwrap();
        assert_eq!(household(&store, 1), before);
    }

    #[test]
    fn outside_the_scope_a_conflict_is_not_found() {
        let (_directory, store) = world();
        let (conflict, _, _) = phone_conflict(&store);
        let far = Scope::Area(FAR_TOWNSHIP.into());
        let stranger = user(&store, "赵敏", Some(FAR_TOWNSHIP));
        let (rows, total) = store
            .conflicts_page(&far, &everything(), first_page())
            .unwrap();
        assert!(rows.is_empty());
        assert_eq!(total, 0);
        let of_household = ConflictFilter {
            household: Some(id(1)),
            ..everything()
        };
        assert!(matches!(
            store.conflicts_page(&far, &of_household, first_page()),
            Err(StoreError::NotFound(_))
        ));
        let of_area = ConflictFilter {
            area: Some(TOWNSHIP.into()),
            ..everything()
        };
        assert!(matches!(
            store.conflicts_page(&far, &of_area, first_page()),
            Err(StoreError::NotFound(_))
        ));

        let before = household(&store, 1);
        let message = |result: StoreResult<ResolveOutcome>| match result {
            Err(StoreError::NotFound(message)) => message,
            other => panic!("expected not found, got {other:?}"),
        };
        // Outside the scope reads exactly as unknown.
        let outside = message(resolve(
            &store,
            &far,
            conflict,
            Resolution::Restore,
            stranger,
        ));
        assert_eq!(outside, format!("conflict {conflict} is not known here"));
        let unknown = message(resolve(&store, &far, 999, Resolution::Restore, stranger));
        assert_eq!(unknown, "conflict 999 is not known here");
        message(resolve(
            &store,
            &Scope::All,
            u64::MAX,
            Resolution::Keep,
            stranger,
        ));
        assert_eq!(household(&store, 1), before);
        assert_eq!(row(&store, conflict).resolution, None);

        // An account that does not exist decides nothing.
        let nobody = message(resolve(
            &store,
            &Scope::All,
            conflict,
            Resolution::Keep,
            Uuid::now_v7(),
        ));
        assert!(nobody.starts_with("no active console account"), "{nobody}");
        assert_eq!(row(&store, conflict).resolution, None);
    }

    #[test]
    fn pages_count_every_match_and_come_newest_first() {
        let (_directory, store) = world();
        let (first, wang, li) = phone_conflict(&store);
        // Four more: household 2's members, address, group and category, each
        // edited by both from version 1 of the household.
        let fields = [
            (HouseholdField::Members, json!(5), json!(6)),
            (HouseholdField::Address, json!("1组2号"), json!("1组3号")),
            (HouseholdField::Group, json!("3组"), json!("4组")),
            (HouseholdField::Category, json!("edge"), json!("unstable")),
        ];
        for (number, (field, one, two)) in fields.into_iter().enumerate() {
            let seq = number as u64 + 2;
            let base = household(&store, 2).version;
            // Both from the same version: 王 first, 李 later by the clock.
            assert_eq!(
                edit(&store, wang, seq, id(2), base, (field, one), 10),
                Outcome::Applied
            );
            assert_eq!(
                edit(&store, li, seq, id(2), base, (field, two), 5),
                Outcome::Applied
            );
        }
        assert_eq!(store.conflicts(None).unwrap().len(), 5);

        let all: Vec<u64> = store
            .conflicts_page(&township(), &everything(), first_page())
            .unwrap()
            .0
            .iter()
            .map(|row| row.id)
            .collect();
        let mut newest_first = all.clone();
        newest_first.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(all, newest_first);
        assert_eq!(all.len(), 5);
        assert_eq!(all[4], first);

        let mut paged = Vec::new();
        for number in 1..=3 {
            let (rows, total) = store
                .conflicts_page(&township(), &everything(), Page::number(number, 2))
                .unwrap();
            assert_eq!(total, 5);
            assert_eq!(rows.len(), if number < 3 { 2 } else { 1 });
            paged.extend(rows.iter().map(|row| row.id));
        }
        assert_eq!(paged, all);
        let beyond = store
            .conflicts_page(&township(), &everything(), Page::number(4, 2))
            .unwrap();
        assert_eq!((beyond.0.len(), beyond.1), (0, 5));

        let of_household = ConflictFilter {
            household: Some(id(1)),
            ..everything()
        };
        let (rows, total) = store
            .conflicts_page(&township(), &of_household, first_page())
            .unwrap();
        assert_eq!((rows.len(), total), (1, 1));
        let of_other_village = ConflictFilter {
            area: Some(OTHER_VILLAGE.into()),
            ..everything()
        };
        let (rows, total) = store
            .conflicts_page(&township(), &of_other_village, first_page())
            .unwrap();
        assert_eq!((rows.len(), total), (0, 0));
        let of_village = ConflictFilter {
            area: Some(VILLAGE.into()),
            unresolved_only: true,
            household: None,
        };
        let supervisor = user(&store, "李娟", Some(TOWNSHIP));
        resolve(&store, &township(), first, Resolution::Keep, supervisor).unwrap();
        let (rows, total) = store
            .conflicts_page(&township(), &of_village, Page::number(1, 3))
            .unwrap();
        assert_eq!((rows.len(), total), (3, 4));
        assert!(rows.iter().all(|row| row.resolution.is_none()));
    }
}
