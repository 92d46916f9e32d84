//! The `authportal` command: argument parsing and dispatch only.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use authportal::Config;

const USAGE: &str = "usage: authportal [serve | check | healthcheck | version]

  serve        run the portal (the default)
  check        print the configuration and whether each media server answers
  healthcheck  exit 0 when the portal at LISTEN_ADDR answers /healthz
  version      print the version

Configuration comes from environment variables; see README.md.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => serve(),
        Some("check") => check(),
        Some("healthcheck") => healthcheck(),
        Some("version" | "--version" | "-V") => {
            println!("authportal {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("authportal: unknown command {other:?}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn config() -> Result<Config, ExitCode> {
    Config::from_env().map_err(|e| {
        eprintln!("authportal: configuration error: {e}");
        ExitCode::from(2)
    })
}

fn serve() -> ExitCode {
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
            ExitCode::from(1)
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

fn check() -> ExitCode {
    let cfg = match config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    println!("configuration:");
    for (k, v) in cfg.describe() {
        println!("  {k:<24} {v}");
    }
    println!(
        "\nkeep a copy of DATA_KEY (secrets.json in the data directory, or your env file) off this machine:\nencrypted backups cannot be restored without it.\n"
    );
    let report = authportal::providers::check::reachability(&cfg);
    let mut ok = true;
    for (name, result) in report {
        match result {
            Ok(msg) => println!("  {name:<9} ok: {msg}"),
            Err(msg) => {
                ok = false;
                println!("  {name:<9} FAILED: {msg}");
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn healthcheck() -> ExitCode {
    let cfg = match config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut addr = cfg.listen_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let url = format!("http://{addr}/healthz");
    match authportal::providers::http::agent().get(&url).call() {
        Ok(r) if r.status() == 200 => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("authportal: {url} answered {}", r.status());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("authportal: {url}: {e}");
            ExitCode::from(1)
        }
    }
}
