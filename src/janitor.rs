//! Background thread: sweeps expired sessions, sign-in flows, codes, tokens, device
//! requests, retired keys and events past their retention.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::app::App;
use crate::db;
use crate::error::Result;

/// The first sweep comes soon after start (a portal restarted after a long stop has a
/// backlog), without competing with start-up itself.
const FIRST_SWEEP_SECS: u64 = 20;
const SWEEP_EVERY_SECS: u64 = 300;

/// Rows one statement deletes: each is its own short write (measured ~8 µs a session
/// row on a 2-core box, so ~10 ms), so sign-ins and token grants never wait long.
pub const BATCH: i64 = 1_000;
/// A pause between batches, so writers queued behind one get the lock before the next.
const BETWEEN_BATCHES: Duration = Duration::from_millis(5);

/// Seconds to wait before the next sweep.
fn next_sweep_in(first: bool) -> u64 {
    if first {
        FIRST_SWEEP_SECS
    } else {
        SWEEP_EVERY_SECS
    }
}

pub fn spawn(app: Arc<App>, stop: Arc<AtomicBool>) -> std::result::Result<JoinHandle<()>, String> {
    std::thread::Builder::new()
        .name("janitor".into())
        .spawn(move || {
            let mut due_ms = next_sweep_in(true) * 1000;
            let mut waited = 0;
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(200));
                waited += 200;
                if waited >= due_ms {
                    waited = 0;
                    due_ms = next_sweep_in(false) * 1000;
                    sweep(&app);
                }
            }
        })
        .map_err(|e| format!("cannot start the janitor thread: {e}"))
}

/// Repeats one bounded delete until it finds nothing left; returns the rows removed.
fn drain(mut batch: impl FnMut() -> Result<usize>) -> Result<usize> {
    let mut total = 0;
    loop {
        let n = batch()?;
        if n == 0 {
            return Ok(total);
        }
        total += n;
        std::thread::sleep(BETWEEN_BATCHES);
    }
}

pub fn sweep(app: &App) {
    let now = app.clock.now();
    let result = app.db.conn().and_then(|c| {
        let s = drain(|| db::sessions::sweep(&c, now, BATCH))?;
        let f = drain(|| db::flows::sweep(&c, now, BATCH))?
            + drain(|| db::mfa::sweep(&c, now, BATCH))?
            + drain(|| db::oauth::sweep(&c, now, BATCH))?
            + drain(|| db::oauth::sweep_pending(&c, now, BATCH))?
            + drain(|| db::devices::sweep(&c, now, BATCH))?;
        db::oauth::delete_old_keys(&c, now - crate::oidc::ID_TOKEN_TTL)?;
        // The audit log keeps `events.retention_days` (a setting, default 90).
        let keep_days = crate::settings::events(&c)?.retention_days;
        drain(|| db::events::prune(&c, now - keep_days * 86_400, BATCH))?;
        Ok((s, f))
    });
    match result {
        Ok((0, 0)) => {}
        Ok((s, f)) => {
            crate::log_debug!(
                "janitor: removed {s} expired sessions and {f} expired flows, codes and tokens"
            )
        }
        Err(e) => crate::log_error!("janitor: sweep failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_sweep_comes_within_a_minute_of_start() {
        assert!(next_sweep_in(true) <= 60);
        assert_eq!(next_sweep_in(false), SWEEP_EVERY_SECS);
    }

    #[test]
    fn drain_repeats_until_nothing_is_left() {
        let mut left = 2_500usize;
        let removed = drain(|| {
            let n = left.min(1_000);
            left -= n;
            Ok(n)
        })
        .unwrap();
        assert_eq!((removed, left), (2_500, 0));
    }
}
