//! Rate limits: how often one client address may try to enrol or present a
//! bad token, how often one device may call, and how often a refusal is
//! worth a log line. Each is a token bucket per key; the decision is a
//! pure function of the bucket and the time, which is handed in.
//!
//! IPv6 clients are keyed by their /64 network (one subscriber's prefix),
//! so that an address per request does not escape the limit.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use uuid::Uuid;

/// A bucket of `burst` tokens that refills `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub burst: f64,
    pub per_second: f64,
}

impl Rate {
    pub const fn new(burst: f64, per_second: f64) -> Rate {
        Rate { burst, per_second }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// The bucket's tokens at `now`.
    fn level(self, rate: Rate, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * rate.per_second).min(rate.burst)
    }
}

/// Token buckets by key, at most `max_keys` of them (full buckets are
/// forgotten first, at most once a second; they hold no information).
#[derive(Debug)]
pub struct Buckets<K> {
    rate: Rate,
    max_keys: usize,
    buckets: Mutex<Map<K>>,
}

#[derive(Debug)]
struct Map<K> {
    buckets: HashMap<K, Bucket>,
    purged_at: Option<Instant>,
}

impl<K: Hash + Eq> Map<K> {
    /// Makes room for a new key if it can: forgets full buckets, at most
    /// once a second (a scan of a full map is not free).
    fn room(&mut self, rate: Rate, max_keys: usize, now: Instant) -> bool {
        if self.buckets.len() < max_keys {
            return true;
        }
        let recently = self
            .purged_at
            .is_some_and(|at| now.saturating_duration_since(at) < Duration::from_secs(1));
        if !recently {
            self.purged_at = Some(now);
            self.buckets
                .retain(|_, bucket| bucket.level(rate, now) < rate.burst);
        }
        self.buckets.len() < max_keys
    }
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    pub fn new(rate: Rate, max_keys: usize) -> Buckets<K> {
        Buckets {
            rate,
            max_keys,
            buckets: Mutex::new(Map {
                buckets: HashMap::new(),
                purged_at: None,
            }),
        }
    }

    /// Whether `key` has a token at `now` (without taking it); when not,
    /// how long until it has.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut map = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bucket) = map.buckets.get(key) {
            let level = bucket.level(self.rate, now);
            return if level >= 1.0 {
                Ok(())
            } else {
                Err(self.wait(level))
            };
        }
        // A newcomer when every bucket is busy waits: the limit never fails
        // open.
        if map.room(self.rate, self.max_keys, now) {
            Ok(())
        } else {
            Err(Duration::from_secs(1))
        }
    }

    /// Gives back a token taken for `key` (the attempt it paid for turned
    /// out not to count).
    pub fn give_back(&self, key: &K) {
        let mut map = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bucket) = map.buckets.get_mut(key) {
            bucket.tokens = (bucket.tokens + 1.0).min(self.rate.burst);
        }
    }

    fn wait(&self, level: f64) -> Duration {
        let seconds = (1.0 - level) / self.rate.per_second;
        Duration::from_secs_f64(seconds.max(0.0)).max(Duration::from_secs(1))
    }

    /// Takes one token for `key` at `now`; when none is left, how long until
    /// one is.
    pub fn take(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut map = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if !map.buckets.contains_key(key) && !map.room(self.rate, self.max_keys, now) {
            // Everyone is busy: refuse newcomers rather than grow.
            return Err(Duration::from_secs(1));
        }
        let bucket = map.buckets.entry(key.clone()).or_insert(Bucket {
            tokens: self.rate.burst,
            at: now,
        });
        let level = bucket.level(self.rate, now);
        if level >= 1.0 {
            *bucket = Bucket {
                tokens: level - 1.0,
                at: now,
            };
            Ok(())
        } else {
            *bucket = Bucket {
                tokens: level,
                at: now,
            };
            Err(self.wait(level))
        }
    }
}

/// The server's limits.
#[derive(Debug)]
pub struct Throttle {
    /// Refused enrolment attempts per client address: 10 at once, then one
    /// every 6 s. A person mistyping a code needs a few; guessing one needs
    /// millions. Every attempt takes a token first (so attempts in flight
    /// at once cannot all pass), and a successful one gives it back: a
    /// training day of a hundred cadres behind one office address enrols
    /// freely.
    pub enrol: Buckets<IpAddr>,
    /// Failed console sign-ins per client address, as enrolment attempts:
    /// 10 at once, then one every 6 s.
    pub login: Buckets<IpAddr>,
    /// Failed console sign-ins per account name (lower case): 20 at once,
    /// then one every 15 s, from wherever they come. Guessing one password
    /// spread over many addresses stays slow; an attacker can make an
    /// account wait, never open it.
    pub login_account: Buckets<String>,
    /// Requests to the admin API (`/admin/v1`) without a valid API token,
    /// per client address, as enrolment attempts: 10 at once, then one
    /// every 6 s. A script with a good token never waits.
    pub api: Buckets<IpAddr>,
    /// Requests with a missing or unknown token, per client address.
    pub bad_tokens: Buckets<IpAddr>,
    /// Requests per device: generous for honest retries and large
    /// backlogs (a 10,000-visit push is about 25 requests).
    pub device: Buckets<Uuid>,
    /// File requests per device (`/v1/files`): a phone back on good signal
    /// sends a campaign's photos in pieces of 192 KiB, hundreds of requests
    /// in a row, each bounded in size and naming a file its own visits
    /// name. 1,000 at once, then 100 a second (about 19 MB/s of photos).
    pub files: Buckets<Uuid>,
    /// Refusals per client address worth a log line: one per minute, so a
    /// flood cannot fill the disk.
    pub report: Buckets<IpAddr>,
    /// Throttling per client address worth a log line and an audit entry:
    /// one per minute.
    pub throttled_report: Buckets<IpAddr>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            enrol: Buckets::new(Rate::new(10.0, 1.0 / 6.0), 100_000),
            login: Buckets::new(Rate::new(10.0, 1.0 / 6.0), 100_000),
            login_account: Buckets::new(Rate::new(20.0, 1.0 / 15.0), 100_000),
            api: Buckets::new(Rate::new(10.0, 1.0 / 6.0), 100_000),
            bad_tokens: Buckets::new(Rate::new(20.0, 1.0), 100_000),
            device: Buckets::new(Rate::new(120.0, 20.0), 1_000_000),
            files: Buckets::new(Rate::new(1000.0, 100.0), 1_000_000),
            report: Buckets::new(Rate::new(1.0, 1.0 / 60.0), 100_000),
            throttled_report: Buckets::new(Rate::new(1.0, 1.0 / 60.0), 100_000),
        }
    }
}

/// The key a client address is limited by: IPv4 as is, IPv6 by its /64
/// network (an IPv4-mapped address as the IPv4 address).
pub fn client_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let segments = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(
                    segments[0],
                    segments[1],
                    segments[2],
                    segments[3],
                    0,
                    0,
                    0,
                    0,
                ))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let buckets = Buckets::new(Rate::new(3.0, 0.5), 10);
        let start = Instant::now();
        let key = "a";
        for _ in 0..3 {
            assert_eq!(buckets.take(&key, start), Ok(()));
        }
        let wait = buckets.take(&key, start).expect_err("empty");
        assert_eq!(wait, Duration::from_secs(2));
        assert!(buckets.check(&key, start).is_err());
        // Another key has its own bucket.
        assert_eq!(buckets.take(&"b", start), Ok(()));
        // Two seconds later one token is back, and only one.
        let later = start + Duration::from_secs(2);
        assert_eq!(buckets.take(&key, later), Ok(()));
        assert!(buckets.take(&key, later).is_err());
    }

    #[test]
    fn full_buckets_are_forgotten_first_and_newcomers_wait_when_all_are_busy() {
        let buckets = Buckets::new(Rate::new(1.0, 1.0), 2);
        let start = Instant::now();
        assert_eq!(buckets.take(&1, start), Ok(()));
        assert_eq!(buckets.take(&2, start), Ok(()));
        // Both buckets are empty: a third key cannot get in yet.
        assert!(buckets.take(&3, start).is_err());
        assert!(
            buckets.check(&3, start).is_err(),
            "the limit never fails open"
        );
        // A second later both are full again and forgotten.
        let later = start + Duration::from_secs(1);
        assert_eq!(buckets.take(&3, later), Ok(()));
        // A token given back is there again, up to the burst.
        assert!(buckets.take(&3, later).is_err());
        buckets.give_back(&3);
        assert_eq!(buckets.take(&3, later), Ok(()));
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_network() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("address");
        let other: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("address");
        assert_eq!(client_key(one), client_key(other));
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().expect("address");
        assert_eq!(
            client_key(mapped),
            "10.0.0.7".parse::<IpAddr>().expect("address")
        );
        let v4: IpAddr = "10.0.0.7".parse().expect("address");
        assert_eq!(client_key(v4), v4);
    }
}
