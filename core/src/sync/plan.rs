//! The pure decisions of sync, apart from any I/O: which households to
//! fetch or let go of, and how to read the server's verdicts on a push.
//! Table-tested; the engine only carries out what these return.

use std::collections::{BTreeSet, HashSet};

use doorstep_protocol::{Change, ChangeResult, Outcome};
use uuid::Uuid;

/// What a change of scope asks of the device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopePlan {
    /// Newly assigned households, to fetch whole.
    pub fetch: Vec<Uuid>,
    /// Households no longer assigned, to let go of once nothing of this
    /// device's about them is pending.
    pub release: Vec<Uuid>,
}

/// Compares the households the device holds as assigned with the list the
/// server sent. Output is sorted, so the plan is deterministic.
pub fn plan_scope(held: &[Uuid], server: &[Uuid]) -> ScopePlan {
    let held: BTreeSet<Uuid> = held.iter().copied().collect();
    let server: BTreeSet<Uuid> = server.iter().copied().collect();
    ScopePlan {
        fetch: server.difference(&held).copied().collect(),
        release: held.difference(&server).copied().collect(),
    }
}

/// Pairs the server's results with what was sent. A result for a change
/// that was not sent, or a repeated one, means the server is confused: the
/// whole answer is refused (nothing is settled, everything stays pending).
/// A change without a result stays pending and goes again next time.
pub fn match_verdicts(
    sent: &[Change],
    results: &[ChangeResult],
) -> Result<Vec<(u64, Outcome)>, String> {
    let sent: HashSet<u64> = sent.iter().map(|change| change.seq).collect();
    let mut seen = HashSet::new();
    let mut verdicts = Vec::with_capacity(results.len());
    for result in results {
        if !sent.contains(&result.seq) {
            return Err(format!(
                "a result for change {} that was not sent",
                result.seq
            ));
        }
        if !seen.insert(result.seq) {
            return Err(format!("two results for change {}", result.seq));
        }
        verdicts.push((result.seq, result.outcome.clone()));
    }
    if verdicts.is_empty() && !sent.is_empty() {
        return Err("no result for any change sent".to_string());
    }
    Ok(verdicts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use doorstep_protocol::{Mutation, RejectCode, VisitRecord};

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn scope_plans() {
        // (name, held, server, fetch, release)
        type Case<'a> = (&'a str, &'a [u128], &'a [u128], &'a [u128], &'a [u128]);
        let cases: &[Case<'_>] = &[
            ("first sync fetches all", &[], &[1, 2], &[1, 2], &[]),
            ("unchanged does nothing", &[1, 2], &[2, 1], &[], &[]),
            ("new assignment", &[1], &[1, 3], &[3], &[]),
            ("unassigned", &[1, 2], &[2], &[], &[1]),
            ("swap", &[1], &[2], &[2], &[1]),
            ("all taken away", &[1, 2], &[], &[], &[1, 2]),
        ];
        for (name, held, server, fetch, release) in cases {
            let held: Vec<Uuid> = held.iter().map(|n| id(*n)).collect();
            let server: Vec<Uuid> = server.iter().map(|n| id(*n)).collect();
            let plan = plan_scope(&held, &server);
            assert_eq!(
                plan.fetch,
                fetch.iter().map(|n| id(*n)).collect::<Vec<_>>(),
                "{name}"
            );
            assert_eq!(
                plan.release,
                release.iter().map(|n| id(*n)).collect::<Vec<_>>(),
                "{name}"
            );
        }
    }

    fn change(seq: u64) -> Change {
        Change {
            seq,
            mutation: Mutation::Visit(VisitRecord {
                id: id(u128::from(seq)),
                household_id: id(100),
                cadre_id: id(200),
                device_id: id(300),
                form_id: "f".into(),
                form_version: "1".into(),
                answers: Default::default(),
                computed: Default::default(),
                recorded_at: chrono::DateTime::UNIX_EPOCH,
                corrects: None,
                received_at: None,
                clock_ahead: false,
            }),
        }
    }

    fn result(seq: u64, outcome: Outcome) -> ChangeResult {
        ChangeResult { seq, outcome }
    }

    #[test]
    fn verdicts_match_what_was_sent() {
        let sent = [change(1), change(2), change(3)];
        let rejected = Outcome::Rejected {
            code: RejectCode::OutOfScope,
            reason: "no".into(),
        };
        let verdicts = match_verdicts(
            &sent,
            &[result(1, Outcome::Applied), result(3, rejected.clone())],
        )
        .expect("valid answer");
        assert_eq!(verdicts, vec![(1, Outcome::Applied), (3, rejected)]);
    }

    #[test]
    fn confused_answers_are_refused_whole() {
        let sent = [change(1), change(2)];
        assert!(match_verdicts(&sent, &[result(9, Outcome::Applied)]).is_err());
        assert!(
            match_verdicts(
                &sent,
                &[result(1, Outcome::Applied), result(1, Outcome::Duplicate)]
            )
            .is_err()
        );
        assert!(match_verdicts(&sent, &[]).is_err());
        assert_eq!(match_verdicts(&[], &[]), Ok(vec![]));
    }
}
