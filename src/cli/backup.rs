//! The backup commands of the `authportal` binary: `backup create|list`, `restore`,
//! `export-config`, `import-config`. Each runs on an opened App (no HTTP server), so
//! they work with the server stopped; what they change is audited like a console action.

use authportal::App;
use authportal::backup::{self, config_io, restore};
use authportal::db::events;
use authportal::event_type::EventType;

/// An audit entry for a command-line action (no user: whoever runs the binary).
fn audit(app: &App, kind: EventType, detail: serde_json::Value) {
    let recorded = app.db.conn().and_then(|c| {
        events::record(
            &c,
            &events::Event {
                kind,
                user_id: None,
                ip: None,
                result: "success",
                detail,
            },
            app.clock.now(),
        )
    });
    if let Err(e) = recorded {
        eprintln!("authportal: warning: the audit log entry could not be written: {e}");
    }
}

pub fn backup(app: &App, args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("create") => {
            let info = backup::create(app, "cli", backup::Kind::Manual)?;
            let pruned = backup::prune(app, backup::keep_setting(app))?;
            audit(
                app,
                EventType::AdminBackupCreate,
                serde_json::json!({ "name": info.name, "via": "cli", "pruned": pruned }),
            );
            println!("{}", backup::dir(app).join(&info.name).display());
            Ok(())
        }
        Some("list") => {
            for b in backup::list(app)? {
                let when = b
                    .created_at
                    .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| "?".into());
                println!(
                    "{}\t{}\t{}\t{} bytes{}",
                    b.name,
                    b.kind,
                    when,
                    b.size,
                    b.error.map(|e| format!("\t{e}")).unwrap_or_default()
                );
            }
            Ok(())
        }
        _ => Err("usage: authportal backup create|list".into()),
    }
}

pub fn restore(app: &App, args: &[String]) -> Result<(), super::CliError> {
    use super::CliError::Usage;
    const RESTORE_USAGE: &str = "usage: authportal restore FILE [--settings-only]";
    let mut scope = restore::Scope::All;
    let mut file = None;
    for a in args {
        match a.as_str() {
            "--settings-only" => scope = restore::Scope::Settings,
            flag if flag.starts_with("--") => {
                return Err(Usage(format!("unknown option {flag}\n\n{RESTORE_USAGE}")));
            }
            path if file.is_none() => file = Some(path.to_string()),
            _ => return Err(Usage(RESTORE_USAGE.into())),
        }
    }
    let file = file.ok_or(Usage(RESTORE_USAGE.into()))?;
    if portal_running(app) {
        return Err(format!(
            "the portal is running at {}: stop it first (systemctl stop authportal), or restore from the console, which also refreshes what the running portal keeps in memory",
            app.config.listen_addr
        )
        .into());
    }
    let data = std::fs::File::open(&file).map_err(|e| format!("cannot read {file}: {e}"))?;
    let report = restore::restore(app, data, scope, "cli")?;
    audit(
        app,
        EventType::AdminBackupRestore,
        serde_json::json!({ "file": file, "scope": report.scope, "via": "cli", "safety_backup": report.safety_backup }),
    );
    println!(
        "restored {} from {file} (taken {} by {}){}; the data from before is in {}",
        if scope == restore::Scope::All {
            "everything"
        } else {
            "the settings"
        },
        chrono::DateTime::from_timestamp(report.created_at, 0)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
        report.created_by,
        report
            .migrated_from
            .map(|v| format!(", migrated from schema version {v}"))
            .unwrap_or_default(),
        backup::dir(app).join(&report.safety_backup).display()
    );
    Ok(())
}

/// Whether a portal answers /healthz at LISTEN_ADDR: restoring under a running one would
/// leave its cached settings, rules and keys stale until it restarts.
fn portal_running(app: &App) -> bool {
    let mut addr = app.config.listen_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let Ok(mut stream) =
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(1))
    else {
        return false;
    };
    use std::io::{Read, Write};
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut answer = Vec::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_end(&mut answer).is_ok()
        && answer.starts_with(b"HTTP/1.1 200")
        && String::from_utf8_lossy(&answer).contains("\"status\":\"ok\"")
}

pub fn export_config(app: &App) -> Result<(), String> {
    let doc = config_io::export(app)?;
    println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    Ok(())
}

pub fn import_config(app: &App, args: &[String]) -> Result<(), String> {
    let [file] = args else {
        return Err("usage: authportal import-config FILE".into());
    };
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{file} is not JSON: {e}"))?;
    for (section, version) in config_io::import(app, &doc, "cli")? {
        println!("{section}: saved as version {version}");
    }
    Ok(())
}
