//! Token-bucket rate limits keyed by client IP (or any string).

use std::collections::HashMap;
use std::sync::Mutex;

/// Entries kept before full buckets are forgotten, so a flood of addresses cannot grow memory without bound.
const MAX_KEYS: usize = 10_000;

pub struct RateLimiter {
    burst: f64,
    per_ms: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

impl RateLimiter {
    /// `burst` requests at once, refilled at `per_minute`.
    pub fn new(burst: u32, per_minute: u32) -> RateLimiter {
        RateLimiter {
            burst: f64::from(burst),
            per_ms: f64::from(per_minute) / 60_000.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refill(&self, b: Bucket, now_ms: i64) -> Bucket {
        let elapsed = (now_ms - b.at_ms).max(0) as f64;
        Bucket {
            tokens: (b.tokens + elapsed * self.per_ms).min(self.burst),
            at_ms: now_ms,
        }
    }

    /// Takes one token, or says how many seconds until one is available.
    pub fn check(&self, key: &str, now_ms: i64) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_KEYS {
            let full = self.burst;
            buckets.retain(|_, b| self.refill(*b, now_ms).tokens < full);
        }
        let fresh = Bucket {
            tokens: self.burst,
            at_ms: now_ms,
        };
        let b = self.refill(*buckets.get(key).unwrap_or(&fresh), now_ms);
        if b.tokens >= 1.0 {
            buckets.insert(
                key.to_string(),
                Bucket {
                    tokens: b.tokens - 1.0,
                    ..b
                },
            );
            Ok(())
        } else {
            buckets.insert(key.to_string(), b);
            let wait_ms = (1.0 - b.tokens) / self.per_ms;
            Err((wait_ms / 1000.0).ceil().max(1.0) as u64)
        }
    }

    /// Gives a token back (an attempt that failed through no fault of the client).
    pub fn refund(&self, key: &str) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = buckets.get_mut(key) {
            b.tokens = (b.tokens + 1.0).min(self.burst);
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
    }
}
