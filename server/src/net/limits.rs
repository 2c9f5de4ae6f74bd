//! How many connections the server holds at once, in all and per client
//! address, and how often it may say that it refused one.
//!
//! Every open connection costs a file descriptor. Without a cap, a client
//! that opens connections faster than they time out takes every descriptor
//! the process has, and then nobody else gets in and the store cannot open
//! its files. So the accept loop asks [`ConnectionCounter::admit`] before it
//! serves a connection; a connection over a cap is closed at once. The
//! per-address cap keeps one client (or one flooding machine) from using
//! the global cap up; behind a reverse proxy every connection comes from the
//! proxy, so 0 turns it off.
//!
//! An IPv6 client is counted by its /64 prefix: one machine usually holds a
//! whole /64 and can pick a fresh address for every connection.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The global cap never goes above this, whatever the descriptor limit.
const MAX_CONNECTIONS_CEILING: usize = 10_000;
/// The global cap when the descriptor limit cannot be read.
const FALLBACK_MAX_CONNECTIONS: usize = 1024;
/// How many addresses [`WarningGate`] remembers before it forgets the quiet
/// ones.
const MAX_GATED_KEYS: usize = 4096;

/// The default global cap: three quarters of the process's soft limit on
/// open files (the rest is for the database, the listener and logs), at
/// most 10,000; 1024 where the limit cannot be read.
pub fn default_max_connections() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").ok();
    max_connections_for(limits.as_deref().and_then(soft_open_files))
}

/// The soft "Max open files" of a `/proc/PID/limits` text; `u64::MAX` for
/// "unlimited".
fn soft_open_files(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    if soft == "unlimited" {
        Some(u64::MAX)
    } else {
        soft.parse().ok()
    }
}

fn max_connections_for(soft_open_files: Option<u64>) -> usize {
    match soft_open_files {
        Some(soft) => {
            let three_quarters = soft / 4 * 3 + soft % 4 * 3 / 4;
            usize::try_from(three_quarters)
                .unwrap_or(usize::MAX)
                .clamp(1, MAX_CONNECTIONS_CEILING)
        }
        None => FALLBACK_MAX_CONNECTIONS,
    }
}

/// The key an address is counted under: IPv4 as it is (an IPv4-mapped IPv6
/// address as its IPv4 address), IPv6 by its /64 prefix.
pub(crate) fn address_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Refusal {
    /// The server holds its global cap of connections.
    Total,
    /// This address holds its cap of connections.
    Address,
}

/// The open connections, in all and per address.
#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

impl Counts {
    /// Counts one more connection from `key` (`None`: not counted per
    /// address), unless that would go over a cap.
    fn admit(
        &mut self,
        key: Option<IpAddr>,
        max_total: usize,
        max_per_address: usize,
    ) -> Result<(), Refusal> {
        if self.total >= max_total {
            return Err(Refusal::Total);
        }
        if let Some(key) = key {
            let count = self.per_address.entry(key).or_insert(0);
            if *count >= max_per_address {
                return Err(Refusal::Address);
            }
            *count += 1;
        }
        self.total += 1;
        Ok(())
    }

    fn release(&mut self, key: Option<IpAddr>) {
        self.total = self.total.saturating_sub(1);
        if let Some(key) = key
            && let Some(count) = self.per_address.get_mut(&key)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_address.remove(&key);
            }
        }
    }
}

/// The caps, the connections they count, and how many were refused.
#[derive(Debug)]
pub(crate) struct ConnectionCounter {
    max_total: usize,
    /// 0: no cap per address.
    max_per_address: usize,
    counts: Mutex<Counts>,
    refused_total: AtomicU64,
    refused_address: AtomicU64,
}

impl ConnectionCounter {
    pub(crate) fn new(max_total: usize, max_per_address: usize) -> ConnectionCounter {
        ConnectionCounter {
            max_total: max_total.max(1),
            max_per_address,
            counts: Mutex::default(),
            refused_total: AtomicU64::new(0),
            refused_address: AtomicU64::new(0),
        }
    }

    pub(crate) fn max_total(&self) -> usize {
        self.max_total
    }

    pub(crate) fn max_per_address(&self) -> usize {
        self.max_per_address
    }

    /// A permit for one more connection from `address`, released when
    /// dropped; or why not.
    pub(crate) fn admit(self: &Arc<Self>, address: IpAddr) -> Result<ConnectionPermit, Refusal> {
        let key = (self.max_per_address > 0).then(|| address_key(address));
        let admitted = self
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit(key, self.max_total, self.max_per_address);
        match admitted {
            Ok(()) => Ok(ConnectionPermit {
                counter: Arc::clone(self),
                key,
            }),
            Err(refusal) => {
                let refused = match refusal {
                    Refusal::Total => &self.refused_total,
                    Refusal::Address => &self.refused_address,
                };
                refused.fetch_add(1, Ordering::Relaxed);
                Err(refusal)
            }
        }
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }

    /// Connections refused so far: over the global cap, over an address's.
    pub(crate) fn refused(&self) -> (u64, u64) {
        (
            self.refused_total.load(Ordering::Relaxed),
            self.refused_address.load(Ordering::Relaxed),
        )
    }
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub(crate) struct ConnectionPermit {
    counter: Arc<ConnectionCounter>,
    key: Option<IpAddr>,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.counter
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .release(self.key);
    }
}

/// At most one log line per key (an address, a kind of failure) per
/// interval: a flood of refusals or failed accepts costs a few lines, never
/// a line each.
#[derive(Debug)]
pub(crate) struct WarningGate<K> {
    interval: Duration,
    keys: HashMap<K, Gated>,
}

#[derive(Debug)]
struct Gated {
    last_line: Instant,
    /// Events since the last line, this one not included.
    unsaid: u64,
}

impl<K: Hash + Eq + Copy> WarningGate<K> {
    pub(crate) fn new(interval: Duration) -> WarningGate<K> {
        WarningGate {
            interval,
            keys: HashMap::new(),
        }
    }

    /// Notes one event of `key` at `now`. `Some(n)` when a line is due: it
    /// speaks for `n` events (this one and those kept quiet since the last
    /// line).
    pub(crate) fn note(&mut self, key: K, now: Instant) -> Option<u64> {
        if let Some(gated) = self.keys.get_mut(&key) {
            gated.unsaid += 1;
            if now.saturating_duration_since(gated.last_line) < self.interval {
                return None;
            }
            let events = gated.unsaid;
            gated.unsaid = 0;
            gated.last_line = now;
            return Some(events);
        }
        if self.keys.len() >= MAX_GATED_KEYS {
            let interval = self.interval;
            self.keys
                .retain(|_, gated| now.saturating_duration_since(gated.last_line) < interval);
            if self.keys.len() >= MAX_GATED_KEYS {
                // Thousands of addresses at once: the global counts in the
                // other lines speak for the rest.
                return None;
            }
        }
        self.keys.insert(
            key,
            Gated {
                last_line: now,
                unsaid: 0,
            },
        );
        Some(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: &str = "\
Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max open files            20000                524288               files     
Max locked memory         8388608              8388608              bytes     
";

    #[test]
    fn the_soft_open_files_limit_is_read_from_proc_limits() {
        let cases = [
            ("a Linux limits file", LIMITS, Some(20_000)),
            (
                "unlimited",
                "Max open files            unlimited            unlimited            files\n",
                Some(u64::MAX),
            ),
            (
                "no such line",
                "Max cpu time  unlimited  unlimited  seconds\n",
                None,
            ),
            ("garbage", "Max open files lots\n", None),
            ("empty", "", None),
        ];
        for (name, text, expected) in cases {
            assert_eq!(soft_open_files(text), expected, "{name}");
        }
    }

    #[test]
    fn the_default_cap_is_three_quarters_of_the_descriptors_at_most_ten_thousand() {
        let cases = [
            (Some(20_000), 10_000),
            (Some(1024), 768),
            (Some(4096), 3072),
            (Some(13_335), 10_000),
            (Some(10_001), 7500),
            (Some(u64::MAX), 10_000),
            (Some(1), 1),
            (Some(0), 1),
            (None, 1024),
        ];
        for (soft, expected) in cases {
            assert_eq!(max_connections_for(soft), expected, "soft limit {soft:?}");
        }
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_prefix_and_mapped_ipv4_as_ipv4() {
        let cases = [
            ("192.0.2.7", "192.0.2.7"),
            ("::ffff:192.0.2.7", "192.0.2.7"),
            ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::"),
            ("2001:db8:1:2::1", "2001:db8:1:2::"),
            ("::1", "::"),
        ];
        for (address, key) in cases {
            let address: IpAddr = address.parse().expect("an address");
            let key: IpAddr = key.parse().expect("a key");
            assert_eq!(address_key(address), key, "{address}");
        }
    }

    /// One step of a table: open a connection from an address (expecting
    /// the result) or close the oldest one still open from it.
    #[derive(Debug, Clone, Copy)]
    enum Step {
        Open(&'static str, Result<(), Refusal>),
        Close(&'static str),
    }

    #[test]
    fn the_counters_refuse_over_each_cap_and_free_a_place_on_close() {
        use Step::{Close, Open};
        let ok = Ok(());
        let cases: [(&str, usize, usize, Vec<Step>); 5] = [
            (
                "the per-address cap refuses that address only",
                10,
                2,
                vec![
                    Open("10.0.0.1", ok),
                    Open("10.0.0.1", ok),
                    Open("10.0.0.1", Err(Refusal::Address)),
                    Open("10.0.0.2", ok),
                    Close("10.0.0.1"),
                    Open("10.0.0.1", ok),
                    Open("10.0.0.1", Err(Refusal::Address)),
                ],
            ),
            (
                "the global cap refuses everybody",
                3,
                2,
                vec![
                    Open("10.0.0.1", ok),
                    Open("10.0.0.2", ok),
                    Open("10.0.0.3", ok),
                    Open("10.0.0.4", Err(Refusal::Total)),
                    Close("10.0.0.2"),
                    Open("10.0.0.4", ok),
                ],
            ),
            (
                "0 turns the per-address cap off (behind a proxy)",
                3,
                0,
                vec![
                    Open("10.0.0.1", ok),
                    Open("10.0.0.1", ok),
                    Open("10.0.0.1", ok),
                    Open("10.0.0.1", Err(Refusal::Total)),
                ],
            ),
            (
                "an IPv6 /64 is one client",
                10,
                1,
                vec![
                    Open("2001:db8::1", ok),
                    Open("2001:db8::2", Err(Refusal::Address)),
                    Open("2001:db8:0:1::1", ok),
                ],
            ),
            (
                "a refused connection takes no place",
                2,
                1,
                vec![
                    Open("10.0.0.1", ok),
                    Open("10.0.0.1", Err(Refusal::Address)),
                    Open("10.0.0.1", Err(Refusal::Address)),
                    Open("10.0.0.2", ok),
                    Open("10.0.0.3", Err(Refusal::Total)),
                ],
            ),
        ];
        for (name, max_total, max_per_address, steps) in cases {
            let counter = Arc::new(ConnectionCounter::new(max_total, max_per_address));
            let mut open: Vec<(&str, ConnectionPermit)> = Vec::new();
            let mut refused = 0;
            for (index, step) in steps.into_iter().enumerate() {
                match step {
                    Open(address, expected) => {
                        let result = counter.admit(address.parse().expect("an address"));
                        assert_eq!(
                            result.as_ref().map(|_| ()).map_err(|refusal| *refusal),
                            expected,
                            "{name}: step {index}"
                        );
                        match result {
                            Ok(permit) => open.push((address, permit)),
                            Err(_) => refused += 1,
                        }
                    }
                    Close(address) => {
                        let at = open
                            .iter()
                            .position(|(open_address, _)| *open_address == address)
                            .expect("a connection to close");
                        drop(open.remove(at));
                    }
                }
                assert_eq!(counter.open(), open.len(), "{name}: step {index}");
            }
            let (total, address) = counter.refused();
            assert_eq!(total + address, refused, "{name}: refusals counted");
            open.clear();
            assert_eq!(counter.open(), 0, "{name}: every place freed");
            assert!(
                counter
                    .counts
                    .lock()
                    .expect("not poisoned")
                    .per_address
                    .is_empty(),
                "{name}: no address left behind"
            );
        }
    }

    #[test]
    fn warnings_come_at_most_once_per_interval_per_key_and_count_the_quiet_ones() {
        let start = Instant::now();
        let second = |seconds: u64| start + Duration::from_secs(seconds);
        let mut gate = WarningGate::new(Duration::from_secs(10));
        let steps = [
            ("a", 0, Some(1)),
            ("a", 1, None),
            ("b", 1, Some(1)),
            ("a", 5, None),
            ("a", 9, None),
            ("a", 10, Some(4)),
            ("b", 10, None),
            ("a", 11, None),
            ("b", 30, Some(2)),
            ("a", 30, Some(2)),
        ];
        for (index, (key, at, expected)) in steps.into_iter().enumerate() {
            assert_eq!(gate.note(key, second(at)), expected, "step {index}");
        }
    }

    #[test]
    fn the_warning_gate_forgets_quiet_keys_and_stays_bounded() {
        let start = Instant::now();
        let mut gate = WarningGate::new(Duration::from_secs(10));
        for key in 0..MAX_GATED_KEYS {
            assert_eq!(gate.note(key, start), Some(1));
        }
        // Full, all recent: a new key gets no line of its own.
        assert_eq!(gate.note(MAX_GATED_KEYS, start), None);
        assert_eq!(gate.keys.len(), MAX_GATED_KEYS);
        // An interval later the quiet ones are forgotten.
        let later = start + Duration::from_secs(10);
        assert_eq!(gate.note(MAX_GATED_KEYS, later), Some(1));
        assert_eq!(gate.keys.len(), 1);
    }
}
