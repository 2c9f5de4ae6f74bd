//! When to sync: the policy the app's scheduler asks, without a clock or a
//! timer of its own.
//!
//! The app tells the [`Scheduler`] what happens (the network came or went, a
//! visit was recorded, a sync finished and how) together with the time, and
//! the scheduler answers with a [`Decision`]: sync now, sync at a given
//! time, or wait for the network. The app keeps one timer for the next
//! wake-up; there is no busy loop and nothing runs while offline.
//!
//! The policy, in words:
//! - offline: never sync; wait for the network;
//! - the network comes back, or something was recorded while online: sync
//!   soon (after a short debounce, so ten visits in a row make one sync);
//! - a transient failure (no route, server busy or failing): back off
//!   exponentially with jitter, from 30 s up to 30 min, and never sooner
//!   than the server's `Retry-After`;
//! - a permanent failure (refused token, bad request): do not retry by
//!   itself; a person has to act (re-enrol, update the app);
//! - success: sync again after the idle period (15 min), to pull news;
//! - cancelled: not again at once; at the next event or after the idle
//!   period.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The knobs of the policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyncPolicy {
    /// First retry after a transient failure.
    pub backoff_base: Duration,
    /// Longest wait between retries.
    pub backoff_max: Duration,
    /// Each delay is spread by ± this fraction, so that a village's phones
    /// coming back in range together do not all call at once.
    pub jitter: f64,
    /// Wait after a local change before syncing.
    pub debounce: Duration,
    /// Sync this often while online and idle, to pull others' visits.
    pub idle: Duration,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        SyncPolicy {
            backoff_base: Duration::from_secs(30),
            backoff_max: Duration::from_secs(30 * 60),
            jitter: 0.2,
            debounce: Duration::from_secs(5),
            idle: Duration::from_secs(15 * 60),
        }
    }
}

/// How a sync run ended, as far as scheduling cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Succeeded,
    /// May work later unchanged; the server may have said when.
    Transient {
        retry_after: Option<Duration>,
    },
    /// Will not work until someone changes something.
    Permanent,
    /// The way to the server is not trusted (its certificate): nothing to
    /// do on this network until a person acts, but another network (out of
    /// a hotel's captive Wi-Fi) may well work.
    Untrusted,
    /// The app cancelled it; it starts again at the next event (network,
    /// local change, a request) or after the idle period.
    Cancelled,
}

/// What the app should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Start a sync now.
    SyncNow,
    /// Set a timer; call [`Scheduler::due`] when it fires.
    SyncAt { at: DateTime<Utc> },
    /// Do nothing until the network comes back.
    WaitForNetwork,
    /// Do nothing until a person acts (see the status view's last error).
    Stalled,
}

/// The scheduling state of one store. Pure: every method takes the time.
#[derive(Debug, Clone)]
pub struct Scheduler {
    policy: SyncPolicy,
    online: bool,
    /// Consecutive transient failures.
    failures: u32,
    stalled: bool,
    /// The stall ends when the network changes (an `Untrusted` run).
    stalled_until_network: bool,
    next: Option<DateTime<Utc>>,
    /// State of the jitter's pseudo-random sequence (xorshift64*).
    random: u64,
}

impl Scheduler {
    /// A scheduler that starts offline. `seed` drives the jitter (use the
    /// device id's low bits, so devices spread out and tests repeat).
    pub fn new(policy: SyncPolicy, seed: u64) -> Scheduler {
        Scheduler {
            policy,
            online: false,
            failures: 0,
            stalled: false,
            stalled_until_network: false,
            next: None,
            random: seed | 1,
        }
    }

    /// The network came (`true`) or went (`false`).
    pub fn network_changed(&mut self, online: bool, now: DateTime<Utc>) -> Decision {
        self.online = online;
        if online {
            // A new network is a new chance: forget the backoff, and a
            // certificate refused on the last one.
            self.failures = 0;
            if self.stalled_until_network {
                self.stalled = false;
                self.stalled_until_network = false;
            }
            self.schedule(now, Duration::ZERO)
        } else {
            self.decision(now)
        }
    }

    /// Something was recorded locally and waits in the outbox.
    pub fn local_change(&mut self, now: DateTime<Utc>) -> Decision {
        let debounce = self.policy.debounce;
        let soon = now + to_chrono(debounce);
        match self.next {
            // Keep an earlier plan, and do not cut a backoff short.
            Some(next) if next <= soon || self.failures > 0 => self.decision(now),
            _ => self.schedule(now, debounce),
        }
    }

    /// A sync run ended.
    pub fn run_finished(&mut self, outcome: RunOutcome, now: DateTime<Utc>) -> Decision {
        match outcome {
            RunOutcome::Succeeded => {
                self.failures = 0;
                self.stalled = false;
                let idle = self.policy.idle;
                self.schedule(now, idle)
            }
            RunOutcome::Transient { retry_after } => {
                self.failures = self.failures.saturating_add(1);
                let backoff = self.backoff();
                let wait = retry_after.map_or(backoff, |server| server.max(backoff));
                self.schedule(now, wait)
            }
            RunOutcome::Permanent => {
                self.stalled = true;
                self.stalled_until_network = false;
                self.next = None;
                Decision::Stalled
            }
            RunOutcome::Untrusted => {
                self.stalled = true;
                self.stalled_until_network = true;
                self.next = None;
                Decision::Stalled
            }
            // Whoever cancelled meant "not now": the next event, or the
            // idle period, starts it again (never at once: no loop).
            RunOutcome::Cancelled => {
                let idle = self.policy.idle;
                self.schedule(now, idle)
            }
        }
    }

    /// Someone acted on a permanent failure (re-enrolled, updated the app):
    /// try again.
    pub fn resume(&mut self, now: DateTime<Utc>) -> Decision {
        self.stalled = false;
        self.stalled_until_network = false;
        self.failures = 0;
        self.schedule(now, Duration::ZERO)
    }

    /// What to do at `now` (call it when the timer fires).
    pub fn due(&self, now: DateTime<Utc>) -> Decision {
        self.decision(now)
    }

    /// Consecutive transient failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    fn schedule(&mut self, now: DateTime<Utc>, wait: Duration) -> Decision {
        if !self.stalled {
            self.next = Some(now + to_chrono(wait));
        }
        self.decision(now)
    }

    fn decision(&self, now: DateTime<Utc>) -> Decision {
        match (self.stalled, self.online, self.next) {
            (true, _, _) => Decision::Stalled,
            (false, false, _) => Decision::WaitForNetwork,
            (false, true, Some(next)) if next > now => Decision::SyncAt { at: next },
            (false, true, _) => Decision::SyncNow,
        }
    }

    /// base × 2^(failures − 1), capped, spread by the jitter.
    fn backoff(&mut self) -> Duration {
        let exponent = self.failures.saturating_sub(1).min(20);
        let plain = self
            .policy
            .backoff_base
            .saturating_mul(1 << exponent)
            .min(self.policy.backoff_max);
        let spread = (self.next_random() * 2.0 - 1.0) * self.policy.jitter;
        plain
            .mul_f64((1.0 + spread).max(0.0))
            .min(self.policy.backoff_max)
    }

    /// A number in [0, 1) from xorshift64*: deterministic for a seed.
    fn next_random(&mut self) -> f64 {
        self.random ^= self.random >> 12;
        self.random ^= self.random << 25;
        self.random ^= self.random >> 27;
        let value = self.random.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (value >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + chrono::Duration::seconds(1_700_000_000 + seconds)
    }

    fn no_jitter() -> SyncPolicy {
        SyncPolicy {
            jitter: 0.0,
            ..SyncPolicy::default()
        }
    }

    fn online(policy: SyncPolicy) -> Scheduler {
        let mut scheduler = Scheduler::new(policy, 7);
        assert_eq!(scheduler.network_changed(true, at(0)), Decision::SyncNow);
        scheduler
    }

    #[test]
    fn offline_never_syncs_and_the_network_coming_back_syncs_at_once() {
        let mut scheduler = Scheduler::new(no_jitter(), 1);
        assert_eq!(scheduler.local_change(at(0)), Decision::WaitForNetwork);
        assert_eq!(scheduler.due(at(10_000)), Decision::WaitForNetwork);
        assert_eq!(
            scheduler.network_changed(true, at(10_001)),
            Decision::SyncNow
        );
        assert_eq!(
            scheduler.network_changed(false, at(10_002)),
            Decision::WaitForNetwork
        );
    }

    #[test]
    fn local_changes_are_debounced_into_one_sync() {
        let mut scheduler = online(no_jitter());
        assert_eq!(
            scheduler.run_finished(RunOutcome::Succeeded, at(1)),
            Decision::SyncAt { at: at(1 + 900) }
        );
        assert_eq!(
            scheduler.local_change(at(100)),
            Decision::SyncAt { at: at(105) }
        );
        // A second visit two seconds later keeps the earlier plan.
        assert_eq!(
            scheduler.local_change(at(102)),
            Decision::SyncAt { at: at(105) }
        );
        assert_eq!(scheduler.due(at(105)), Decision::SyncNow);
    }

    #[test]
    fn transient_failures_back_off_exponentially_up_to_the_cap() {
        let mut scheduler = online(no_jitter());
        let mut now = 0;
        let mut waits = Vec::new();
        for _ in 0..9 {
            let Decision::SyncAt { at: next } =
                scheduler.run_finished(RunOutcome::Transient { retry_after: None }, at(now))
            else {
                panic!("a transient failure schedules a retry");
            };
            let wait = (next - at(now)).num_seconds();
            waits.push(wait);
            now += wait;
        }
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1800, 1800, 1800]);
        // A visit recorded meanwhile does not cut the backoff short.
        assert_eq!(
            scheduler.local_change(at(now - 100)),
            Decision::SyncAt { at: at(now) }
        );
        // Success resets it.
        scheduler.run_finished(RunOutcome::Succeeded, at(now));
        assert_eq!(scheduler.failures(), 0);
    }

    #[test]
    fn retry_after_is_honoured_when_longer_than_the_backoff() {
        let mut scheduler = online(no_jitter());
        let busy = RunOutcome::Transient {
            retry_after: Some(Duration::from_secs(120)),
        };
        assert_eq!(
            scheduler.run_finished(busy, at(0)),
            Decision::SyncAt { at: at(120) }
        );
        let short = RunOutcome::Transient {
            retry_after: Some(Duration::from_secs(5)),
        };
        assert_eq!(
            scheduler.run_finished(short, at(120)),
            Decision::SyncAt { at: at(180) },
            "the backoff (60 s) wins"
        );
    }

    #[test]
    fn permanent_failures_stall_until_someone_acts() {
        let mut scheduler = online(no_jitter());
        assert_eq!(
            scheduler.run_finished(RunOutcome::Permanent, at(0)),
            Decision::Stalled
        );
        assert_eq!(scheduler.local_change(at(10)), Decision::Stalled);
        assert_eq!(scheduler.network_changed(true, at(20)), Decision::Stalled);
        assert_eq!(scheduler.resume(at(30)), Decision::SyncNow);
    }

    #[test]
    fn a_certificate_refused_stalls_until_another_network() {
        let mut scheduler = online(no_jitter());
        assert_eq!(
            scheduler.run_finished(RunOutcome::Untrusted, at(0)),
            Decision::Stalled
        );
        assert_eq!(scheduler.local_change(at(10)), Decision::Stalled);
        assert_eq!(scheduler.network_changed(false, at(20)), Decision::Stalled);
        assert_eq!(scheduler.network_changed(true, at(30)), Decision::SyncNow);
    }

    #[test]
    fn the_network_coming_back_forgets_the_backoff() {
        let mut scheduler = online(no_jitter());
        for second in 0..5 {
            scheduler.run_finished(RunOutcome::Transient { retry_after: None }, at(second));
        }
        scheduler.network_changed(false, at(10));
        assert_eq!(scheduler.network_changed(true, at(11)), Decision::SyncNow);
        assert_eq!(scheduler.failures(), 0);
    }

    #[test]
    fn jitter_spreads_devices_and_stays_within_bounds() {
        let policy = SyncPolicy::default();
        let mut waits = std::collections::BTreeSet::new();
        for seed in 0..50 {
            let mut scheduler = online(policy);
            scheduler.random = (seed << 1) | 1;
            let Decision::SyncAt { at: next } =
                scheduler.run_finished(RunOutcome::Transient { retry_after: None }, at(0))
            else {
                panic!("a retry is scheduled");
            };
            let wait = (next - at(0)).num_milliseconds();
            assert!((24_000..=36_000).contains(&wait), "30 s ± 20 %: {wait} ms");
            waits.insert(wait);
        }
        assert!(
            waits.len() > 40,
            "fifty devices pick different moments: {}",
            waits.len()
        );
        // The same seed gives the same sequence.
        let run = |seed| {
            let mut scheduler = Scheduler::new(policy, seed);
            scheduler.network_changed(true, at(0));
            scheduler.run_finished(RunOutcome::Transient { retry_after: None }, at(0))
        };
        assert_eq!(run(99), run(99));
    }

    #[test]
    fn a_cancelled_run_does_not_start_again_at_once() {
        let mut scheduler = online(no_jitter());
        assert_eq!(
            scheduler.run_finished(RunOutcome::Cancelled, at(1)),
            Decision::SyncAt { at: at(1 + 900) }
        );
        // The next local change brings it back after the debounce.
        assert_eq!(
            scheduler.local_change(at(2)),
            Decision::SyncAt { at: at(2 + 5) }
        );
    }
}
