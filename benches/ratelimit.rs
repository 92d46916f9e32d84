//! The rate limiter under a flood of distinct keys vs a few keys, measured in one run.
//!
//! `cargo bench --bench ratelimit` times `check` over 1,000,000 distinct keys (every
//! call a new key: what a botnet or an IPv6 sweep does) against the same number of calls
//! cycling over 100 keys, and reports the ratio of the mean costs and the 99.9th
//! percentile call of each. Eviction swaps whole generations, so the flood should cost
//! about what a map insert does (ratio <= ~3) and no call should scan the map (the
//! p99.9 stays in microseconds), while the keys held stay bounded (<= 20,000).

use std::time::{Duration, Instant};

use authportal::ratelimit::RateLimiter;

const CALLS: u32 = 1_000_000;

/// Mean and 99.9th-percentile call over CALLS checks, with `key(i)` as the i-th key
/// (the very slowest call is the scheduler's doing on a shared machine, not the code's).
fn run(key: impl Fn(u32) -> String) -> (Duration, Duration, usize) {
    let rl = RateLimiter::new(5, 10);
    let keys: Vec<String> = (0..CALLS).map(key).collect();
    let mut each = Vec::with_capacity(keys.len());
    let started = Instant::now();
    for (i, k) in keys.iter().enumerate() {
        let t = Instant::now();
        let _ = rl.check(k, i as i64 / 1000);
        each.push(t.elapsed());
    }
    let mean = started.elapsed() / CALLS;
    each.sort();
    (mean, each[each.len() * 999 / 1000], rl.len())
}

fn main() {
    let (few_mean, few_max, few_len) = run(|i| format!("10.0.0.{}", i % 100));
    let (flood_mean, flood_max, flood_len) =
        run(|i| format!("2001:db8:{:x}:{:x}::/64", i >> 16, i & 0xffff));
    println!("ratelimit check, {CALLS} calls each (reference: 100 keys)");
    println!("  100 keys:        mean {few_mean:?}, p99.9 {few_max:?}, keys held {few_len}");
    println!("  distinct keys:   mean {flood_mean:?}, p99.9 {flood_max:?}, keys held {flood_len}");
    println!(
        "  flood / reference mean: {:.2} (target <= 3)",
        flood_mean.as_secs_f64() / few_mean.as_secs_f64()
    );
}
