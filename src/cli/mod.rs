//! The commands of the `authportal` binary (not of the library): what `main.rs` dispatches
//! to, one module per command family, and what they share here: the usage text, reading
//! the configuration, opening the App without the HTTP server, flag parsing, exit codes.

use std::process::ExitCode;

use authportal::{App, Config};

pub mod backup;
pub mod check;
pub mod keys;
pub mod oauth_client;
pub mod serve;

pub const USAGE: &str = "usage: authportal [COMMAND]

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

/// Exit code of a command that ran and failed (a media server down, a refused change).
pub const FAILED: u8 = 1;
/// Exit code of a command that could not run: an unknown command or a bad configuration.
pub const USAGE_ERROR: u8 = 2;

pub fn config() -> Result<Config, ExitCode> {
    Config::from_env().map_err(|e| {
        eprintln!("authportal: configuration error: {e}");
        ExitCode::from(USAGE_ERROR)
    })
}

/// Opens the data directory and database (not the HTTP server) for a command.
pub fn with_app(run: impl FnOnce(&App) -> Result<(), String>) -> ExitCode {
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
            ExitCode::from(FAILED)
        }
    }
}

/// `setup-code`: the one-time code of the first-run setup wizard, while it is needed.
pub fn setup_code(app: &App) -> Result<(), String> {
    match authportal::web::setup::code(app).map_err(|e| e.to_string())? {
        Some(code) => println!("{code}"),
        None => println!("setup is done (a media server is configured); no setup code is needed"),
    }
    Ok(())
}

/// `--flag value` pairs and bare `--switch`es after a subcommand.
pub struct Flags {
    values: Vec<(String, String)>,
    switches: Vec<String>,
    pub positional: Vec<String>,
}

pub fn flags(args: &[String], switch_names: &[&str]) -> Result<Flags, String> {
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
    pub fn all(&self, name: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn one(&self, name: &str) -> Option<String> {
        self.all(name).pop()
    }

    pub fn has(&self, name: &str) -> bool {
        self.switches.iter().any(|s| s == name)
    }
}

pub fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).expect("json"));
}
