//! The `authportal` command: argument parsing and dispatch only.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use authportal::providers::check;
use authportal::{App, Config};

mod cli_backup;

const USAGE: &str = "usage: authportal [COMMAND]

  serve        run the portal (the default)
  check        print the configuration and whether each media server answers
  check --db   read the whole database file and say whether it is intact (a start
               does so by itself only after a run that did not stop cleanly)
  healthcheck  exit 0 when the portal at LISTEN_ADDR answers /healthz
  version      print the version
  oauth-client create --name NAME --redirect-uri URI [--redirect-uri URI ...]
               [--post-logout-uri URI ...] [--public] [--trusted]
               [--scope SCOPE ...] [--grant-type GRANT ...]
                      register an application; prints JSON with client_id and client_secret
  oauth-client list | delete CLIENT_ID | rotate-secret CLIENT_ID
  setup-code   print the one-time code that unlocks the first-run setup wizard
  keys rotate [--bits 2048|3072|4096]
                      a new OpenID Connect signing key; the old one stays published
                      until the ID tokens it signed have expired
  backup create       take a backup now (sealed under DATA_KEY); prints its path
  backup list         the backups in BACKUP_DIR, newest first
  restore FILE [--settings-only]
                      restore a backup (everything, or only the settings), after a
                      safety backup of the current data; asks nothing, works with the
                      server stopped. Restoring everything signs out sessions that are
                      not in the backup.
  export-config       print the settings sections as JSON (secrets only as set / not set)
  import-config FILE  check and save every section in FILE (from export-config) as a
                      new version; secrets left out keep their stored values

Configuration comes from environment variables; see README.md.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => serve(),
        Some("check") if args.get(1).is_some_and(|a| a == "--db") => check_db(),
        Some("check") => check(),
        Some("healthcheck") => healthcheck(),
        Some("oauth-client") => with_app(|app| oauth_client(app, &args[1..])),
        Some("keys") => with_app(|app| keys(app, &args[1..])),
        Some("backup") => with_app(|app| cli_backup::backup(app, &args[1..])),
        Some("restore") => with_app(|app| cli_backup::restore(app, &args[1..])),
        Some("export-config") => with_app(cli_backup::export_config),
        Some("import-config") => with_app(|app| cli_backup::import_config(app, &args[1..])),
        Some("setup-code") => with_app(|app| {
            match authportal::web::setup::code(app).map_err(|e| e.to_string())? {
                Some(code) => println!("{code}"),
                None => println!(
                    "setup is done (a media server is configured); no setup code is needed"
                ),
            }
            Ok(())
        }),
        Some("version" | "--version" | "-V") => {
            println!("{}", authportal::version::describe());
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
            return ExitCode::from(1);
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
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn check_db() -> ExitCode {
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
            ExitCode::from(1)
        }
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
    let Ok(own) = url::Url::parse(&url) else {
        eprintln!("authportal: {url} is not a URL");
        return ExitCode::from(1);
    };
    // The portal's own listener, often on loopback: named, so the outbound policy allows it.
    let agent = authportal::providers::http::agent_naming(&Default::default(), &own);
    match agent.get(&url).call() {
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

/// Opens the data directory and database (not the HTTP server) for a command.
fn with_app(run: impl FnOnce(&App) -> Result<(), String>) -> ExitCode {
    let cfg = match config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    authportal::log::set_level(authportal::log::Level::Warn);
    let result = App::open(cfg).and_then(|app| run(&app));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("authportal: {e}");
            ExitCode::from(1)
        }
    }
}

/// `--flag value` pairs and bare `--switch`es after a subcommand.
struct Flags {
    values: Vec<(String, String)>,
    switches: Vec<String>,
    positional: Vec<String>,
}

fn flags(args: &[String], switch_names: &[&str]) -> Result<Flags, String> {
    let mut f = Flags {
        values: Vec::new(),
        switches: Vec::new(),
        positional: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(name) = a.strip_prefix("--") {
            if switch_names.contains(&name) {
                f.switches.push(name.to_string());
            } else {
                let v = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
                f.values.push((name.to_string(), v.clone()));
            }
        } else {
            f.positional.push(a.clone());
        }
    }
    Ok(f)
}

impl Flags {
    fn all(&self, name: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn one(&self, name: &str) -> Option<String> {
        self.all(name).pop()
    }

    fn has(&self, name: &str) -> bool {
        self.switches.iter().any(|s| s == name)
    }
}

fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).expect("json"));
}

fn oauth_client(app: &App, args: &[String]) -> Result<(), String> {
    use authportal::db::oauth;
    use authportal::oidc::clients;
    let now = app.clock.now();
    let sub = args.first().map(String::as_str).unwrap_or("");
    let f = flags(args.get(1..).unwrap_or(&[]), &["public", "trusted"])?;
    let id_arg = || {
        f.positional
            .first()
            .cloned()
            .ok_or_else(|| format!("oauth-client {sub} needs a CLIENT_ID"))
    };
    match sub {
        "create" => {
            let list = |name: &str| {
                let v = f.all(name);
                (!v.is_empty()).then_some(v)
            };
            let spec = clients::ClientSpec {
                name: f.one("name").ok_or("--name is required")?,
                redirect_uris: f.all("redirect-uri"),
                post_logout_redirect_uris: f.all("post-logout-uri"),
                public: f.has("public"),
                trusted: f.has("trusted"),
                scopes: list("scope"),
                grant_types: list("grant-type"),
            };
            let (client, secret) = app
                .db
                .with_tx(|tx| clients::create(tx, spec, now))
                .map_err(|e| e.public_message())?;
            let mut out = clients::describe(&client);
            out["client_secret"] = serde_json::json!(secret);
            print_json(&out);
        }
        "list" => {
            let list = oauth::clients(&*app.db.conn().map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            print_json(&serde_json::json!(
                list.iter().map(clients::describe).collect::<Vec<_>>()
            ));
        }
        "delete" => {
            let id = id_arg()?;
            let gone = app
                .db
                .with_tx(|tx| oauth::delete_client(tx, &id))
                .map_err(|e| e.to_string())?;
            if !gone {
                return Err(format!("no client {id:?}"));
            }
            println!("deleted {id}");
        }
        "rotate-secret" => {
            let id = id_arg()?;
            let secret = app
                .db
                .with_tx(|tx| clients::rotate_secret(tx, &id, now))
                .map_err(|e| e.public_message())?;
            print_json(&serde_json::json!({ "client_id": id, "client_secret": secret }));
        }
        _ => {
            return Err(format!(
                "usage: authportal oauth-client create|list|delete|rotate-secret ...\n\n{USAGE}"
            ));
        }
    }
    Ok(())
}

fn keys(app: &App, args: &[String]) -> Result<(), String> {
    if args.first().map(String::as_str) != Some("rotate") {
        return Err("usage: authportal keys rotate [--bits 2048|3072|4096]".into());
    }
    if app.config.oidc_signing_key_pem.is_some() || app.config.oidc_signing_key_path.is_some() {
        return Err(
            "the signing key is pinned by OIDC_SIGNING_KEY(_PATH); replace that key instead".into(),
        );
    }
    let f = flags(&args[1..], &[])?;
    let bits = match f.one("bits").as_deref() {
        None => 2048,
        Some(b @ ("2048" | "3072" | "4096")) => b.parse().expect("listed"),
        Some(other) => return Err(format!("--bits must be 2048, 3072 or 4096, not {other}")),
    };
    let kid = authportal::oidc::keys::rotate(&app.db, &app.sealer, bits, app.clock.now())?;
    println!(
        "new signing key {kid}; running portals pick it up at once, and the previous key stays in the JWKS until its ID tokens expire"
    );
    Ok(())
}

/// The static build links musl, whose allocator takes one lock for every allocation: it
/// halved forward-auth throughput (29k vs 54k req/s on 2 cores, glibc's allocator being
/// the other figure). mimalloc keeps per-thread heaps; .ci/build-static turns off its
/// eager arena commit, which otherwise costs ~5 MB idle and ~80 MB under 64 connections.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
