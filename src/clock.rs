//! Time, in one place: UTC unix time, with an offset tests can move forward and a stop
//! they can put it on.

use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Default)]
pub struct Clock {
    offset_ms: AtomicI64,
    /// Where the clock stands (before the offset) once `freeze` stopped it; 0: running.
    frozen_ms: AtomicI64,
}

impl Clock {
    pub fn now_ms(&self) -> i64 {
        let frozen = self.frozen_ms.load(Ordering::Relaxed);
        let base = if frozen != 0 {
            frozen
        } else {
            chrono::Utc::now().timestamp_millis()
        };
        base + self.offset_ms.load(Ordering::Relaxed)
    }

    pub fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Moves this clock forward (tests of expiry and TOTP windows).
    pub fn advance(&self, secs: i64) {
        self.offset_ms.fetch_add(secs * 1000, Ordering::Relaxed);
    }

    /// Stops this clock where it is; from then on only `advance` moves it. For tests that
    /// show something does not happen before its time (a back-off, a throttle): however
    /// slow the machine, no time passes while they look.
    pub fn freeze(&self) {
        self.frozen_ms
            .store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
    }
}

/// Unix seconds as RFC 3339 in UTC, to the second ("2026-01-02T03:04:05Z"); empty for a
/// time chrono cannot represent.
pub fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_moves_only_when_advanced() {
        let c = Clock::default();
        c.freeze();
        let at = c.now_ms();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(c.now_ms(), at);
        c.advance(2);
        assert_eq!(c.now_ms(), at + 2000);
    }
}
