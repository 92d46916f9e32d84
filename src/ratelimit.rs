//! Token-bucket rate limits keyed by client IP (or any string).

use std::collections::HashMap;
use std::sync::Mutex;

/// Entries kept before full buckets are forgotten, so a flood of addresses cannot grow memory without bound.
const MAX_KEYS: usize = 10_000;

pub struct RateLimiter {
    inner: Mutex<Inner>,
}

struct Inner {
    burst: f64,
    per_ms: f64,
    buckets: HashMap<String, Bucket>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

impl Inner {
    fn refill(&self, b: Bucket, now_ms: i64) -> Bucket {
        let elapsed = (now_ms - b.at_ms).max(0) as f64;
        Bucket {
            tokens: (b.tokens + elapsed * self.per_ms).min(self.burst),
            at_ms: now_ms,
        }
    }
}

impl RateLimiter {
    /// `burst` requests at once, refilled at `per_minute`.
    pub fn new(burst: u32, per_minute: u32) -> RateLimiter {
        let limiter = RateLimiter {
            inner: Mutex::new(Inner {
                burst: 0.0,
                per_ms: 0.0,
                buckets: HashMap::new(),
            }),
        };
        limiter.set(burst, per_minute);
        limiter
    }

    /// Changes the rate (an owner saved the security settings); buckets keep their
    /// tokens, capped at the new burst.
    pub fn set(&self, burst: u32, per_minute: u32) {
        let mut inner = self.lock();
        inner.burst = f64::from(burst.max(1));
        inner.per_ms = f64::from(per_minute.max(1)) / 60_000.0;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one token, or says how many seconds until one is available.
    pub fn check(&self, key: &str, now_ms: i64) -> Result<(), u64> {
        let mut inner = self.lock();
        if inner.buckets.len() >= MAX_KEYS {
            let full = inner.burst;
            let mut buckets = std::mem::take(&mut inner.buckets);
            buckets.retain(|_, b| inner.refill(*b, now_ms).tokens < full);
            inner.buckets = buckets;
        }
        let fresh = Bucket {
            tokens: inner.burst,
            at_ms: now_ms,
        };
        let b = inner.refill(*inner.buckets.get(key).unwrap_or(&fresh), now_ms);
        if b.tokens >= 1.0 {
            inner.buckets.insert(
                key.to_string(),
                Bucket {
                    tokens: b.tokens - 1.0,
                    ..b
                },
            );
            Ok(())
        } else {
            inner.buckets.insert(key.to_string(), b);
            let wait_ms = (1.0 - b.tokens) / inner.per_ms;
            Err((wait_ms / 1000.0).ceil().max(1.0) as u64)
        }
    }

    /// Gives a token back (an attempt that failed through no fault of the client).
    pub fn refund(&self, key: &str) {
        let mut inner = self.lock();
        let burst = inner.burst;
        if let Some(b) = inner.buckets.get_mut(key) {
            b.tokens = (b.tokens + 1.0).min(burst);
        }
    }
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
}
