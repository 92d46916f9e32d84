//! authportal: a sign-in portal for Plex, Jellyfin and Emby communities.
//!
//! `start(Config)` opens the data directory and database and serves HTTP until the
//! returned `RunningServer` is stopped (or dropped).
#![forbid(unsafe_code)]

pub mod access;
pub mod access_cache;
pub mod admin_bootstrap;
pub mod app;
pub mod backup;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod datadir;
pub mod db;
pub mod error;
pub mod event_type;
pub mod fair_share;
pub mod groups;
pub mod janitor;
pub mod ldap;
pub mod lockout;
pub mod log;
pub mod metrics;
pub mod mfa;
pub mod net;
pub mod next_steps;
pub mod oidc;
pub mod outbound;
pub mod pacing;
pub mod provider_settings;
pub mod providers;
pub mod ratelimit;
pub mod recovery;
pub mod revalidate;
pub mod roles;
pub mod sampling;
pub mod settings;
pub mod signin;
pub mod user_agent;
pub mod version;
pub mod views;
pub mod web;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

pub use app::App;
pub use config::Config;

/// A server started by `start`. Stops (gracefully: in-flight requests finish) on drop.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// Where the LDAP directory listens, when LDAP_LISTEN_ADDR is set.
    pub ldap_addr: Option<SocketAddr>,
    pub app: Arc<App>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl RunningServer {
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.app.db.mark_stopped();
        // The log writer is process-wide and outlives servers; what they logged is out.
        log::flush();
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub fn start(config: Config) -> Result<RunningServer, String> {
    log::set_level(config.log_level);
    let listen = config.listen_addr;
    let workers = config.http_workers;
    let app = Arc::new(App::open(config)?);
    // Before serving: a run that ends without a clean stop (even a failed start) leaves
    // it, and the next start checks the whole file.
    app.db.mark_running()?;
    if let Some(code) = web::setup::code(&app).map_err(|e| e.to_string())? {
        log_info!(
            "setup: no media server is configured yet; open {} and enter the setup code {code}",
            app.config.base_url
        );
    }
    for entry in &app.config.admin_bootstrap {
        log_info!("{}", entry.describe());
    }
    if let Some(warning) = metrics::open_warning(listen, app.config.metrics_token.as_deref()) {
        log_warn!("{warning}");
    }
    let listener = web::server::bind(listen)
        .map_err(|e| format!("LISTEN_ADDR: cannot listen on {listen}: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("LISTEN_ADDR: {e}"))?;
    let ldap = ldap::bind(&app)?;
    let ldap_addr = ldap.as_ref().map(|l| l.addr);
    let stop = Arc::new(AtomicBool::new(false));
    let handler_app = Arc::clone(&app);
    let handler = Arc::new(move |req: &rouille::Request| web::handle(&handler_app, req));
    let check_app = Arc::clone(&app);
    let limits = web::server::Limits {
        max_handlers: workers,
        trusted_proxies: app.config.trusted_proxies.clone(),
        uploads: web::routes::upload_prefixes(),
        upload_check: Some(web::server::UploadCheck(Arc::new(move |req| {
            web::upload_check(&check_app, req)
        }))),
        ..web::server::Limits::default()
    };
    let http = web::server::serve(listener, limits, Arc::clone(&stop), handler)
        .map_err(|e| format!("cannot start the HTTP server: {e}"))?;
    let mut threads = vec![http];
    let janitor = janitor::spawn(Arc::clone(&app), Arc::clone(&stop))?;
    threads.push(janitor);
    threads.push(backup::schedule::spawn(
        Arc::clone(&app),
        Arc::clone(&stop),
    )?);
    threads.push(webhooks::spawn(Arc::clone(&app), Arc::clone(&stop))?);
    threads.push(revalidate::spawn(Arc::clone(&app), Arc::clone(&stop))?);
    if let Some(bound) = ldap {
        threads.push(bound.serve(Arc::clone(&app), Arc::clone(&stop))?);
    }
    Ok(RunningServer {
        addr,
        ldap_addr,
        app,
        stop,
        threads,
    })
}
