//! `serve` (the default command): run the portal until SIGTERM or SIGINT, then finish the
//! requests in flight.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{FAILED, config};

pub fn serve() -> ExitCode {
    let cfg = match config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let public = cfg.base_url.to_string();
    // Watch signals before listening, so a stop during start-up is not lost.
    let stop = stop_signal();
    match authportal::start(cfg) {
        Ok(server) => {
            authportal::log_info!(
                "authportal {} listening on http://{} (public URL {public})",
                env!("CARGO_PKG_VERSION"),
                server.addr
            );
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
            }
            authportal::log_info!("stopping: finishing requests in flight");
            server.stop();
            authportal::log_info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("authportal: {e}");
            ExitCode::from(FAILED)
        }
    }
}

/// A flag raised by SIGTERM (systemd stop) or SIGINT (Ctrl-C).
fn stop_signal() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            authportal::log_warn!("cannot watch signal {sig}: {e}");
        }
    }
    stop
}
