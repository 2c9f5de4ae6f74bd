//! The console's facts: kept as visits arrive, equal to a rebuild from
//! the visits (migration 7's backfill), and refused changes kept for
//! review.

#![allow(clippy::unwrap_used)]

use chrono::{Duration, Utc};
use doorstep_protocol::{Mutation, Outcome};

use super::testing::on_both_backends;
use super::tests::{device, form, store, visit_change};

type FactsRow = (
    String,
    i64,
    Option<String>,
    Option<f64>,
    Option<String>,
    Option<i64>,
);

fn facts(store: &super::ServerStore) -> Vec<FactsRow> {
    store
        .read(|tx| {
            tx.query(
                "SELECT household_id, visits, last_visit_at, per_capita_income, risk_category, water_unsafe
                 FROM household_facts ORDER BY household_id",
                &[],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                    ))
                },
            )
        })
        .unwrap()
}

on_both_backends! {
#[test]
fn facts_follow_the_latest_visit_and_equal_a_rebuild() {
    let (_directory, store) = store();
    store.publish_form(&form("1", "first")).unwrap();
    let auth = device(&store, "530626104201");
    let now = Utc::now();
    let mut newer = visit_change(auth, 1, 1, "1", now - Duration::days(1));
    if let Mutation::Visit(visit) = &mut newer.mutation {
        visit.answers.insert("risk_category".into(), "edge".into());
        visit
            .answers
            .insert("drinking_water_safe".into(), "no".into());
    }
    // The older visit arrives last: it counts, but does not replace what
    // the newer one says.
    let older = visit_change(auth, 2, 1, "1", now - Duration::days(9));
    let (results, _) = store.push(auth, &[newer, older], None, now).unwrap();
    assert!(
        results
            .iter()
            .all(|result| result.outcome == Outcome::Applied)
    );

    let days = |store: &crate::store::ServerStore| -> Vec<(String, String, i64)> {
        store
            .read(|tx| {
                tx.query(
                    "SELECT village_code, day, visits FROM village_visit_days ORDER BY 1, 2",
                    &[],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
            })
            .unwrap()
    };
    let days_before = days(&store);
    assert_eq!(days_before.len(), 2, "two days of one village");
    assert!(days_before.iter().all(|(_, _, visits)| *visits == 1));
    let before = facts(&store);
    assert_eq!(before.len(), 3, "every household has a row, visited or not");
    let first = &before
        .iter()
        .find(|row| row.0 == uuid::Uuid::from_u128(1).to_string())
        .unwrap();
    assert_eq!(first.1, 2);
    assert_eq!(first.4.as_deref(), Some("edge"));
    assert_eq!(first.5, Some(1));
    assert!(
        before
            .iter()
            .filter(|row| row.0 != first.0)
            .all(|row| row.1 == 0 && row.2.is_none())
    );

    store
        .write(|tx| {
            tx.batch("DELETE FROM household_migrants; DELETE FROM household_facts;")?;
            crate::store::facts::fill(tx)
        })
        .unwrap();
    assert_eq!(
        facts(&store),
        before,
        "the backfill rebuilds the same facts"
    );
}

#[test]
fn refused_changes_are_kept_once_per_sequence_with_their_attempts() {
    let (_directory, store) = store();
    store.publish_form(&form("1", "first")).unwrap();
    let auth = device(&store, "530626104201");
    let now = Utc::now();
    let mut invalid = visit_change(auth, 1, 1, "1", now);
    if let Mutation::Visit(visit) = &mut invalid.mutation {
        visit.answers.remove("respondent");
    }
    for _ in 0..2 {
        let (results, _) = store
            .push(auth, std::slice::from_ref(&invalid), None, now)
            .unwrap();
        assert!(matches!(results[0].outcome, Outcome::Rejected { .. }));
    }
    let kept: Vec<(String, String, i64, Option<String>)> = store
        .read(|tx| {
            tx.query(
                "SELECT entity, code, attempts, household_id FROM rejected_changes",
                &[],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
        })
        .unwrap();
    assert_eq!(
        kept,
        [(
            "visit".to_owned(),
            "invalid".to_owned(),
            2,
            Some(uuid::Uuid::from_u128(1).to_string())
        )]
    );
}
}
