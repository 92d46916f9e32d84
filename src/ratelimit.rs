//! Guessing limits kept in memory: token-bucket rates keyed by client address (IPv6 by
//! its /64) or any string, and per-account back-off after repeated failures. Both live
//! in a bounded two-generation map, so a flood of keys costs neither memory nor a scan.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

/// Keys kept per generation; at most twice this many are held at once, so a flood of
/// addresses or names cannot grow memory without bound.
const MAX_KEYS: usize = 10_000;

/// The key of a client address: an IPv4 address as it is (an IPv4-mapped IPv6 address
/// counts as its IPv4 address), an IPv6 address by its /64, since one subscriber is
/// usually given a whole /64 and could otherwise rotate through 2^64 keys.
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// A map that forgets what was not touched for one to two windows. Touched entries live
/// in `current`; every window (or when `current` is full) `current` becomes `previous`
/// and the old `previous` is dropped whole. An entry read from `previous` moves back to
/// `current`. Eviction is one swap per window: amortised O(1) per insert, never a scan.
struct Generations<V> {
    current: HashMap<String, V>,
    previous: HashMap<String, V>,
    started_ms: i64,
}

impl<V> Generations<V> {
    fn new() -> Self {
        Generations {
            current: HashMap::new(),
            previous: HashMap::new(),
            started_ms: 0,
        }
    }

    /// Starts a new generation when this one is `window_ms` old or full; returns the
    /// dropped generation, so the caller can free it after releasing its lock.
    fn rotate(&mut self, now_ms: i64, window_ms: i64) -> Option<HashMap<String, V>> {
        let due = now_ms - self.started_ms >= window_ms || now_ms < self.started_ms;
        if !due && self.current.len() < MAX_KEYS {
            return None;
        }
        self.started_ms = now_ms;
        let current = std::mem::take(&mut self.current);
        Some(std::mem::replace(&mut self.previous, current))
    }

    /// The entry for `key`, moved into the current generation (`fresh` if unknown).
    fn entry(&mut self, key: &str, fresh: impl FnOnce() -> V) -> &mut V {
        if !self.current.contains_key(key) {
            let v = self.previous.remove(key).unwrap_or_else(fresh);
            self.current.insert(key.to_string(), v);
        }
        self.current
            .get_mut(key)
            .expect("the entry was inserted just above")
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        match self.current.get_mut(key) {
            Some(v) => Some(v),
            None => self.previous.get_mut(key),
        }
    }

    fn remove(&mut self, key: &str) {
        self.current.remove(key);
        self.previous.remove(key);
    }

    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct RateLimiter {
    inner: Mutex<Inner>,
}

struct Inner {
    burst: f64,
    per_ms: f64,
    buckets: Generations<Bucket>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

fn refill(b: Bucket, burst: f64, per_ms: f64, now_ms: i64) -> Bucket {
    let elapsed = (now_ms - b.at_ms).max(0) as f64;
    Bucket {
        tokens: (b.tokens + elapsed * per_ms).min(burst),
        at_ms: now_ms,
    }
}

impl RateLimiter {
    /// `burst` requests at once, refilled at `per_minute`.
    pub fn new(burst: u32, per_minute: u32) -> RateLimiter {
        let limiter = RateLimiter {
            inner: Mutex::new(Inner {
                burst: 0.0,
                per_ms: 0.0,
                buckets: Generations::new(),
            }),
        };
        limiter.set(burst, per_minute);
        limiter
    }

    /// Changes the rate (an owner saved the security settings); buckets keep their
    /// tokens, capped at the new burst.
    pub fn set(&self, burst: u32, per_minute: u32) {
        let mut inner = lock(&self.inner);
        inner.burst = f64::from(burst.max(1));
        inner.per_ms = f64::from(per_minute.max(1)) / 60_000.0;
    }

    /// Takes one token for the client at `ip` (see `address_key`).
    pub fn check_ip(&self, ip: IpAddr, now_ms: i64) -> Result<(), u64> {
        self.check(&address_key(ip), now_ms)
    }

    /// Gives back the token `check_ip` took.
    pub fn refund_ip(&self, ip: IpAddr) {
        self.refund(&address_key(ip));
    }

    /// Takes one token, or says how many seconds until one is available.
    pub fn check(&self, key: &str, now_ms: i64) -> Result<(), u64> {
        let mut inner = lock(&self.inner);
        let (burst, per_ms) = (inner.burst, inner.per_ms);
        // An untouched bucket is full again after this long, the same as a fresh one,
        // so forgetting it after a generation changes nothing.
        let refill_ms = (burst / per_ms).ceil() as i64;
        let dropped = inner.buckets.rotate(now_ms, refill_ms);
        let b = inner.buckets.entry(key, || Bucket {
            tokens: burst,
            at_ms: now_ms,
        });
        *b = refill(*b, burst, per_ms, now_ms);
        let result = if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait_ms = (1.0 - b.tokens) / per_ms;
            Err((wait_ms / 1000.0).ceil().max(1.0) as u64)
        };
        drop(inner);
        drop(dropped);
        result
    }

    /// Gives a token back (an attempt that failed through no fault of the client).
    pub fn refund(&self, key: &str) {
        let mut inner = lock(&self.inner);
        let burst = inner.burst;
        if let Some(b) = inner.buckets.get_mut(key) {
            b.tokens = (b.tokens + 1.0).min(burst);
        }
    }

    /// Keys held now (for tests of the memory bound).
    pub fn len(&self) -> usize {
        lock(&self.inner).buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Per-account back-off: `free` failures in a row cost nothing, then each further one
/// makes the account wait twice as long (from `base_ms`, capped at `max_ms`) before the
/// next attempt. Success clears it; an account with no failure for a day is forgotten.
pub struct Backoff {
    free: u32,
    base_ms: i64,
    max_ms: i64,
    strikes: Mutex<Generations<Strikes>>,
}

#[derive(Clone, Copy, Default)]
struct Strikes {
    failures: u32,
    until_ms: i64,
}

/// Failures are forgotten after one to two of these without another.
const FORGET_MS: i64 = 12 * 3600 * 1000;

/// What a failure did to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// Still within the free failures.
    Free,
    /// The account must wait this many seconds; `tripped` on the failure that started
    /// the back-off (the one to report), not on the ones after it.
    Wait { secs: u64, tripped: bool },
}

impl Backoff {
    pub fn new(free: u32, base_ms: i64, max_ms: i64) -> Backoff {
        Backoff {
            free,
            base_ms,
            max_ms,
            strikes: Mutex::new(Generations::new()),
        }
    }

    /// Ok when the account may try now, else the seconds until it may.
    pub fn check(&self, key: &str, now_ms: i64) -> Result<(), u64> {
        let mut strikes = lock(&self.strikes);
        match strikes.get_mut(key) {
            Some(s) if s.until_ms > now_ms => Err(secs(s.until_ms - now_ms)),
            _ => Ok(()),
        }
    }

    /// Counts a failed attempt on the account.
    pub fn fail(&self, key: &str, now_ms: i64) -> Failed {
        let mut strikes = lock(&self.strikes);
        let dropped = strikes.rotate(now_ms, FORGET_MS);
        let s = strikes.entry(key, Strikes::default);
        s.failures = s.failures.saturating_add(1);
        let out = if s.failures < self.free {
            Failed::Free
        } else {
            let doublings = (s.failures - self.free).min(40);
            let wait = self.base_ms.saturating_mul(1 << doublings).min(self.max_ms);
            s.until_ms = now_ms + wait;
            Failed::Wait {
                secs: secs(wait),
                tripped: s.failures == self.free,
            }
        };
        drop(strikes);
        drop(dropped);
        out
    }

    /// A successful attempt: the account starts again with its free failures.
    pub fn succeed(&self, key: &str) {
        lock(&self.strikes).remove(key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.strikes).len()
    }
}

fn secs(ms: i64) -> u64 {
    (ms.max(0) as u64).div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let rl = RateLimiter::new(5, 10);
        for _ in 0..5 {
            rl.check("ip", 0).unwrap();
        }
        let wait = rl.check("ip", 0).unwrap_err();
        assert_eq!(wait, 6, "one token per 6 s at 10/min");
        assert!(rl.check("other", 0).is_ok(), "keys are independent");
        assert!(rl.check("ip", 6_000).is_ok());
        assert!(rl.check("ip", 6_000).is_err());
        rl.refund("ip");
        assert!(rl.check("ip", 6_000).is_ok());
        // A new rate applies at once: 60/min refills a token a second.
        rl.set(2, 60);
        assert!(rl.check("ip", 7_000).is_ok());
        assert_eq!(rl.check("ip", 7_000), Err(1));
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_addresses_share_a_bucket_per_64() {
        let same = address_key(ip("2001:db8:1:2::1"));
        assert_eq!(same, address_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")));
        assert_eq!(same, "2001:db8:1:2::/64");
        assert_ne!(same, address_key(ip("2001:db8:1:3::1")), "another /64");
        assert_eq!(
            address_key(ip("::ffff:192.0.2.7")),
            "192.0.2.7",
            "IPv4-mapped"
        );
        assert_eq!(address_key(ip("192.0.2.7")), "192.0.2.7");
        assert_ne!(address_key(ip("192.0.2.7")), address_key(ip("192.0.2.8")));

        let rl = RateLimiter::new(1, 1);
        rl.check_ip(ip("2001:db8:1:2::1"), 0).unwrap();
        assert!(
            rl.check_ip(ip("2001:db8:1:2::beef"), 0).is_err(),
            "same /64"
        );
        assert!(rl.check_ip(ip("2001:db8:1:3::1"), 0).is_ok(), "other /64");
        rl.check_ip(ip("192.0.2.7"), 0).unwrap();
        assert!(
            rl.check_ip(ip("::ffff:192.0.2.7"), 0).is_err(),
            "mapped = IPv4"
        );
        rl.refund_ip(ip("::ffff:192.0.2.7"));
        assert!(rl.check_ip(ip("192.0.2.7"), 0).is_ok());
    }

    #[test]
    fn a_million_keys_stay_bounded() {
        let rl = RateLimiter::new(5, 10);
        for i in 0..1_000_000u32 {
            // All at one instant: only the size bound can evict.
            let _ = rl.check(&i.to_string(), 1_000);
        }
        assert!(rl.len() <= 2 * MAX_KEYS, "{} keys held", rl.len());
        let b = Backoff::new(5, 1000, 900_000);
        for i in 0..1_000_000u32 {
            b.fail(&i.to_string(), 1_000);
        }
        assert!(b.len() <= 2 * MAX_KEYS, "{} accounts held", b.len());
    }

    #[test]
    fn idle_buckets_are_forgotten_a_generation_later() {
        // 5 at once, 10 a minute: an untouched bucket is full again after 30 s.
        let rl = RateLimiter::new(5, 10);
        rl.check("a", 0).unwrap();
        rl.check("b", 29_000).unwrap();
        rl.check("c", 31_000).unwrap();
        assert_eq!(rl.len(), 3, "a and b moved to the previous generation");
        rl.check("b", 40_000).unwrap();
        rl.check("d", 62_000).unwrap();
        assert_eq!(rl.len(), 3, "a (idle 62 s) is gone; b, c and d stay");
        assert!(rl.check("b", 62_000).is_ok());
    }

    #[test]
    fn backoff_doubles_after_the_free_failures_and_resets_on_success() {
        let b = Backoff::new(5, 1000, 900_000);
        for _ in 0..4 {
            assert_eq!(b.fail("jellyfin:alice", 0), Failed::Free);
            assert!(b.check("jellyfin:alice", 0).is_ok());
        }
        assert_eq!(
            b.fail("jellyfin:alice", 0),
            Failed::Wait {
                secs: 1,
                tripped: true
            }
        );
        assert_eq!(b.check("jellyfin:alice", 0), Err(1));
        assert!(
            b.check("jellyfin:bob", 0).is_ok(),
            "accounts are independent"
        );
        assert!(b.check("jellyfin:alice", 1_000).is_ok());
        assert_eq!(
            b.fail("jellyfin:alice", 1_000),
            Failed::Wait {
                secs: 2,
                tripped: false
            }
        );
        let mut now = 1_000;
        for _ in 0..20 {
            now += 900_000;
            b.fail("jellyfin:alice", now);
        }
        assert_eq!(b.check("jellyfin:alice", now), Err(900), "capped at 15 min");
        b.succeed("jellyfin:alice");
        assert!(b.check("jellyfin:alice", now).is_ok());
        assert_eq!(b.fail("jellyfin:alice", now), Failed::Free);
    }
}
