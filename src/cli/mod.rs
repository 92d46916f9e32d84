//! The commands of the `authportal` binary (not of the library): what `main.rs` dispatches
//! to, one module per command family, and what they share here: the usage text, reading
//! the configuration, opening the App without the HTTP server, flag parsing, exit codes.

use std::process::ExitCode;

use authportal::{App, Config};

pub mod admin;
pub mod backup;
pub mod check;
pub mod keys;
pub mod ldap_bind;
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
               [--post-logout-uri URI ...] [--public] [--trusted] [--device]
               [--scope SCOPE ...] [--grant-type GRANT ...]
               [--auth-method client_secret_basic|client_secret_post|none ...]
               [--pkce required|optional] [--allowed-group GROUP ...]
               [--preset NAME [--app-url URL]]
                      register an application; prints JSON with client_id, client_secret
                      and (with a preset) the values to paste into the app
  oauth-client list | delete CLIENT_ID | rotate-secret CLIENT_ID
  ldap-bind create --name NAME
                      a service account for the LDAP directory; prints JSON with its
                      dn and password (shown once)
  ldap-bind list | delete NAME
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
  admin list          the members of the admins group
  admin grant USERNAME | admin revoke USERNAME
                      put a user in the admins group, or take them out (the way back
                      into a console you are locked out of; works with the portal running)
  mfa reset USERNAME  remove a user's second factors (a lost phone)
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

/// Why a command stopped: it ran and failed (exit 1), or it was called wrongly (exit 2,
/// with its usage).
#[derive(Debug)]
pub enum CliError {
    Failed(String),
    Usage(String),
}

impl From<String> for CliError {
    fn from(e: String) -> CliError {
        CliError::Failed(e)
    }
}

impl From<&str> for CliError {
    fn from(e: &str) -> CliError {
        CliError::Failed(e.to_string())
    }
}

impl From<authportal::error::AppError> for CliError {
    fn from(e: authportal::error::AppError) -> CliError {
        CliError::Failed(e.public_message())
    }
}

/// Opens the data directory and database (not the HTTP server) for a command.
pub fn with_app<E: Into<CliError>>(run: impl FnOnce(&App) -> Result<(), E>) -> ExitCode {
    let cfg = match config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    authportal::log::set_level(authportal::log::Level::Warn);
    let result = App::open(cfg)
        .map_err(CliError::Failed)
        .and_then(|app| run(&app).map_err(Into::into));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Failed(e)) => {
            eprintln!("authportal: {e}");
            ExitCode::from(FAILED)
        }
        Err(CliError::Usage(e)) => {
            eprintln!("authportal: {e}");
            ExitCode::from(USAGE_ERROR)
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

/// Reads `args`: each `--name` must be one of `switch_names` or `value_names` (the latter
/// followed by a value that is not itself a flag); anything else is a usage error that
/// shows `usage`, so a mistyped flag never runs the command without it.
pub fn flags(
    args: &[String],
    usage: &str,
    switch_names: &[&str],
    value_names: &[&str],
) -> Result<Flags, CliError> {
    let wrong = |what: String| CliError::Usage(format!("{what}\n\n{usage}"));
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
            } else if value_names.contains(&name) {
                let v = it
                    .next()
                    .filter(|v| !v.starts_with("--"))
                    .ok_or_else(|| wrong(format!("--{name} needs a value")))?;
                f.values.push((name.to_string(), v.clone()));
            } else {
                return Err(wrong(format!("unknown option --{name}")));
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
