//! The least rate at which a peer must take what is written to it (HTTP and LDAP): a
//! "write debt" of time spent waiting on the peer beyond what the bytes written earn,
//! paid off by the time between writes, with a connection closed once it passes a grace.
//! Without it a client that reads a window every few seconds holds its thread forever,
//! since a socket's write timeout restarts on every write.

use std::time::{Duration, Instant};

/// One connection's write debt.
#[derive(Debug, Clone)]
pub struct WriteDebt {
    /// Bytes a second the peer must take, once `grace` is spent (0: no floor).
    min_rate: u64,
    /// How long writes may wait in all beyond what their bytes earn.
    grace: Duration,
    /// Time writes have waited for the peer, less what their bytes earned at the least
    /// rate and the time since the last write; never below zero, so no credit is saved
    /// up for a later trickle. A peer served back to back (pipelined requests) pays it
    /// off only by reading.
    debt: Duration,
    last_write: Instant,
}

impl WriteDebt {
    pub fn new(min_rate: u64, grace: Duration) -> WriteDebt {
        WriteDebt {
            min_rate,
            grace,
            debt: Duration::ZERO,
            last_write: Instant::now(),
        }
    }

    /// Before a write at `now`: how long it may block (the socket's write timeout), or
    /// None when the grace is spent and the connection must close. Time since the last
    /// write pays the debt down first, so stalls now and then over hours never add up.
    pub fn allowance(&mut self, now: Instant) -> Option<Duration> {
        self.debt = self
            .debt
            .saturating_sub(now.saturating_duration_since(self.last_write));
        self.last_write = now;
        let left = self.grace.saturating_sub(self.debt);
        (!left.is_zero()).then_some(left)
    }

    /// What `bytes` earn at the least rate: the time writing them may take.
    pub fn earned(&self, bytes: usize) -> Duration {
        match self.min_rate {
            0 => Duration::MAX,
            rate => Duration::from_secs_f64(bytes as f64 / rate as f64),
        }
    }

    /// After a write that began at `started`, ended at `now` and took `bytes`.
    pub fn wrote(&mut self, started: Instant, now: Instant, bytes: usize) {
        self.debt = self
            .debt
            .saturating_add(now.saturating_duration_since(started))
            .saturating_sub(self.earned(bytes));
        self.last_write = now;
    }

    /// The debt so far (after the last write).
    pub fn debt(&self) -> Duration {
        self.debt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn waits_beyond_the_rate_add_up_to_a_close() {
        let t0 = Instant::now();
        let mut d = WriteDebt::new(1000, 10 * S);
        assert_eq!(d.allowance(t0), Some(10 * S));
        // 1000 bytes earn 1 s; taking 4 s leaves 3 s of debt.
        d.wrote(t0, t0 + 4 * S, 1000);
        assert_eq!(d.debt(), 3 * S);
        // Back to back (pipelined): nothing is paid off.
        assert_eq!(d.allowance(t0 + 4 * S), Some(7 * S));
        d.wrote(t0 + 4 * S, t0 + 12 * S, 1000);
        assert_eq!(d.allowance(t0 + 12 * S), None);
    }

    #[test]
    fn stalls_now_and_then_are_paid_off_by_time() {
        let t0 = Instant::now();
        let mut d = WriteDebt::new(1000, 10 * S);
        let mut now = t0;
        // A keep-alive connection that stalls 9 s every minute for a day.
        for _ in 0..24 * 60 {
            assert!(d.allowance(now).is_some());
            d.wrote(now, now + 9 * S, 0);
            now += 60 * S;
        }
        assert!(d.debt() <= 9 * S);
    }

    #[test]
    fn a_peer_at_the_rate_never_owes() {
        let t0 = Instant::now();
        let mut d = WriteDebt::new(16 * 1024, S);
        let mut now = t0;
        for _ in 0..1000 {
            assert!(d.allowance(now).is_some());
            // 64 KiB a second, four times the floor.
            d.wrote(now, now + S / 4, 16 * 1024);
            now += S / 4;
        }
        assert_eq!(d.debt(), Duration::ZERO);
    }
}
