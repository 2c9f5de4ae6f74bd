//! Decisions taken at the same moment, on both backends: on PostgreSQL
//! two servers may decide the same conflict at once, and it is decided
//! once all the same.

#![allow(clippy::unwrap_used)]

use std::sync::Barrier;

use doorstep_protocol::{HouseholdField, Outcome};
use serde_json::json;

use super::tests::{TOWNSHIP, VILLAGE, device, edit, id, now, township, user, world};
use super::*;
use crate::store::AuditKind;
use crate::store::testing::on_both_backends;

on_both_backends! {
    #[test]
    fn two_decisions_at_once_decide_once() {
        let (_directory, store) = world();
        let wang = device(&store, "王建国", VILLAGE);
        let li = device(&store, "李春花", VILLAGE);
        let fields = [
            (HouseholdField::Phone, json!("13900000001"), json!("13900000002")),
            (HouseholdField::Members, json!(5), json!(6)),
            (HouseholdField::Address, json!("1组2号"), json!("1组3号")),
            (HouseholdField::Group, json!("3组"), json!("4组")),
            (HouseholdField::Category, json!("edge"), json!("unstable")),
        ];
        for (number, (field, one, two)) in fields.into_iter().enumerate() {
            let seq = number as u64 + 1;
            let base = store.household(id(2)).unwrap().unwrap().version;
            // Both from the same version: 王 first, 李 later by the clock.
            assert_eq!(edit(&store, wang, seq, id(2), base, (field, one), 10), Outcome::Applied);
            assert_eq!(edit(&store, li, seq, id(2), base, (field, two), 5), Outcome::Applied);
        }
        let conflicts = store.conflicts(Some(id(2))).unwrap();
        assert_eq!(conflicts.len(), 5);
        let supervisor = user(&store, "李娟", Some(TOWNSHIP));
        for conflict in &conflicts {
            let barrier = Barrier::new(2);
            let outcomes: Vec<StoreResult<ResolveOutcome>> = std::thread::scope(|scope| {
                let racers: Vec<_> = [Resolution::Keep, Resolution::Keep]
                    .into_iter()
                    .map(|resolution| {
                        let (store, barrier) = (&store, &barrier);
                        scope.spawn(move || {
                            barrier.wait();
                            store.resolve_conflict(&township(), conflict.id, resolution, supervisor, now())
                        })
                    })
                    .collect();
                racers.into_iter().map(|racer| racer.join().unwrap()).collect()
            });
            let decided = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
            let refused = outcomes
                .iter()
                .filter(|outcome| matches!(outcome, Err(StoreError::Conflict(message)) if message.contains("already decided")))
                .count();
            assert_eq!((decided, refused), (1, 1), "{outcomes:?}");
        }
        assert_eq!(
            store.audit(20, Some(AuditKind::ConflictResolved)).unwrap().len(),
            conflicts.len(),
            "one decision each"
        );
    }
}
