//! Background thread: sweeps expired sessions, sign-in flows, codes, tokens, retired keys
//! and events past their retention.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::app::App;
use crate::db;

const SWEEP_EVERY_SECS: u64 = 300;

pub fn spawn(app: Arc<App>, stop: Arc<AtomicBool>) -> Result<JoinHandle<()>, String> {
    std::thread::Builder::new()
        .name("janitor".into())
        .spawn(move || {
            let mut waited = 0;
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(200));
                waited += 200;
                if waited >= SWEEP_EVERY_SECS * 1000 {
                    waited = 0;
                    sweep(&app);
                }
            }
        })
        .map_err(|e| format!("cannot start the janitor thread: {e}"))
}

pub fn sweep(app: &App) {
    let now = app.clock.now();
    let result = app.db.conn().and_then(|c| {
        let s = db::sessions::sweep(&c, now)?;
        let f = db::flows::sweep(&c, now)? + db::mfa::sweep(&c, now)? + db::oauth::sweep(&c, now)?;
        db::oauth::delete_old_keys(&c, now - crate::oidc::ID_TOKEN_TTL)?;
        // The audit log keeps `events.retention_days` (a setting, default 90).
        let keep_days = crate::settings::events(&c)?.retention_days;
        db::events::prune(&c, now - keep_days * 86_400)?;
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
