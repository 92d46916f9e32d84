//! `check` (the configuration, and whether each media server answers), `check --db` (is
//! the database file intact) and `healthcheck`
//! (whether the portal at LISTEN_ADDR answers /healthz, for container health checks).

use std::process::ExitCode;

use authportal::App;
use authportal::providers::check;

use super::{FAILED, config};

pub fn check() -> ExitCode {
    let cfg = match config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    println!("configuration:");
    for (k, v) in cfg.describe() {
        println!("  {k:<24} {v}");
    }
    for entry in &cfg.admin_bootstrap {
        println!("  {}", entry.describe());
    }
    println!(
        "\nkeep a copy of DATA_KEY (secrets.json in the data directory, or your env file) off this machine:\nencrypted backups cannot be restored without it.\n"
    );
    // What the server runs with: the stored settings (setup wizard, console) under the
    // environment, read from the database the way the other commands open it.
    authportal::log::set_level(authportal::log::Level::Warn);
    let (app, eff) = match App::open(cfg).and_then(|app| Ok((check::in_use(&app)?, app))) {
        Ok((eff, app)) => (app, eff),
        Err(e) => {
            println!("  FAILED: cannot read the stored settings: {e}");
            return ExitCode::from(FAILED);
        }
    };
    println!("media servers in use (environment over stored settings):");
    if eff.enabled.is_empty() {
        println!("  none: open the portal to run the setup wizard, or set MEDIA_SERVER");
    }
    for (name, at) in check::describe(&eff) {
        println!("  {name:<9} {at}");
    }
    let report = check::reachability(&app, &eff);
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
    if let Some((cert, key)) = &app.config.ldap.tls {
        // A start would fail on these; say so now.
        match authportal::ldap::tls::server_config(cert, key) {
            Ok(_) => println!("  ldap tls  ok: {}", cert.display()),
            Err(e) => {
                ok = false;
                println!("  ldap tls  FAILED: {e}");
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FAILED)
    }
}

/// Reads the whole database file (a start does so by itself only after a run that did
/// not stop cleanly).
pub fn check_db() -> ExitCode {
    let cfg = match config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let path = cfg.data_dir.join(authportal::datadir::DB_FILE);
    if !path.exists() {
        println!(
            "database {}: none yet (the first start creates it)",
            path.display()
        );
        return ExitCode::SUCCESS;
    }
    authportal::log::set_level(authportal::log::Level::Warn);
    match authportal::db::Db::open(&path).and_then(|db| db.check()) {
        Ok(()) => {
            println!("database {}: ok", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("database: FAILED: {e}");
            ExitCode::from(FAILED)
        }
    }
}

pub fn healthcheck() -> ExitCode {
    let cfg = match config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut addr = cfg.listen_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let url = format!("http://{addr}/healthz");
    let Ok(own) = url::Url::parse(&url) else {
        eprintln!("authportal: {url} is not a URL");
        return ExitCode::from(FAILED);
    };
    // The portal's own listener, often on loopback: named, so the outbound policy allows it.
    let agent = authportal::providers::http::agent_naming(&Default::default(), &own);
    match agent.get(&url).call() {
        Ok(r) if r.status() == 200 => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("authportal: {url} answered {}", r.status());
            ExitCode::from(FAILED)
        }
        Err(e) => {
            eprintln!("authportal: {url}: {e}");
            ExitCode::from(FAILED)
        }
    }
}
