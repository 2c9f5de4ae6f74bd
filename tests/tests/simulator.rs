//! The deterministic sync simulator (see `doorstep_e2e::sim`): many seeded
//! schedules of devices and a server through lost, repeated, late and
//! refused messages, kills, skewed clocks and reassignments, each checked
//! against the invariants of `docs/protocol.md`.
//!
//! - `DOORSTEP_SIM_SEEDS=N` runs N schedules (default 2000), from
//!   `DOORSTEP_SIM_FIRST` (default 0);
//! - `DOORSTEP_SIM_SEED=S` replays one schedule and prints it.

use doorstep_e2e::sim::{self, SimStats};

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|value| {
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {value:?}"))
    })
}

#[test]
fn every_invariant_holds_on_thousands_of_seeded_schedules() {
    if let Some(seed) = env("DOORSTEP_SIM_SEED") {
        match sim::run(seed) {
            Ok(stats) => eprintln!("seed {seed} passed: {stats:?}"),
            Err(failure) => panic!("{failure}"),
        }
        return;
    }
    let count = env("DOORSTEP_SIM_SEEDS").unwrap_or(2000);
    let first = env("DOORSTEP_SIM_FIRST").unwrap_or(0);
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(4) as u64;
    let results: Vec<Result<SimStats, sim::SimFailure>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|worker| {
                scope.spawn(move || {
                    let mut total = SimStats::default();
                    let mut seed = first + worker;
                    while seed < first + count {
                        total += sim::run(seed)?;
                        seed += threads;
                    }
                    Ok(total)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a simulator thread panicked"))
            .collect()
    });
    let mut total = SimStats::default();
    for result in results {
        match result {
            Ok(stats) => total += stats,
            Err(failure) => panic!("{failure}"),
        }
    }
    eprintln!("{count} schedules from seed {first}: {total:?}");
    // The schedules did what they are for.
    assert!(total.conflicts > 0 && total.kills > 0 && total.late_deliveries > 0);
    assert!(total.scope_changes > 0 && total.server_restarts > 0 && total.faults > 0);
}
