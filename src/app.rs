//! App: everything a request handler needs, shared as Arc<App>. No globals, so tests
//! can run several servers in one process.

use ureq::Agent;

use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::seal::Sealer;
use crate::crypto::tokens::CookieSigner;
use crate::datadir::{self, Secrets};
use crate::db::{self, Db};
use crate::oidc::keys::KeyRing;
use crate::providers::jellyfin::MediaServer;
use crate::providers::plex::Plex;
use crate::providers::{ProviderKind, http};
use crate::ratelimit::RateLimiter;

pub struct Limits {
    /// Sign-in attempts per client IP: burst 5, 10 a minute.
    pub signin: RateLimiter,
    /// Plex PIN status polls per client IP (the page polls once a second).
    pub poll: RateLimiter,
    /// Every other state-changing request per client IP.
    pub writes: RateLimiter,
    /// Second-factor codes per client IP, and per user (keyed "user:ID").
    pub mfa_ip: RateLimiter,
    pub mfa_user: RateLimiter,
    /// Token, revocation, introspection and userinfo calls per client IP (apps, not people).
    pub token: RateLimiter,
}

pub struct Providers {
    pub plex: Option<Plex>,
    pub jellyfin: Option<MediaServer>,
    pub emby: Option<MediaServer>,
}

impl Providers {
    pub fn media_server(&self, kind: ProviderKind) -> Option<&MediaServer> {
        match kind {
            ProviderKind::Jellyfin => self.jellyfin.as_ref(),
            ProviderKind::Emby => self.emby.as_ref(),
            ProviderKind::Plex => None,
        }
    }
}

pub struct App {
    /// The compiled forward-auth rules, rebuilt after the access settings change.
    access: std::sync::RwLock<Option<std::sync::Arc<crate::access::AccessRules>>>,
    pub config: Config,
    pub db: Db,
    pub sealer: Sealer,
    pub cookies: CookieSigner,
    pub keys: KeyRing,
    pub http: Agent,
    pub clock: Clock,
    pub limits: Limits,
    pub providers: Providers,
    pub access_cache: crate::access_cache::AccessCache,
}

const DATA_KEY_CHECK: &str = "data_key_check";

impl App {
    /// Prepares the data dir, opens the database and checks DATA_KEY against it.
    pub fn open(config: Config) -> Result<App, String> {
        let (secrets, signing_key) = datadir::prepare(&config)?;
        let db = Db::open(&config.data_dir.join(datadir::DB_FILE))?;
        let sealer = Sealer::new(&secrets.data_key);
        check_data_key(&db, &sealer)?;
        let pinned =
            config.oidc_signing_key_pem.is_some() || config.oidc_signing_key_path.is_some();
        let keys = KeyRing::open(
            &db,
            &sealer,
            signing_key,
            pinned,
            chrono::Utc::now().timestamp(),
        )?;
        Ok(App {
            access: std::sync::RwLock::new(None),
            access_cache: Default::default(),
            providers: providers(&config, &secrets),
            cookies: CookieSigner::new(&secrets.session_secret),
            http: http::agent(),
            clock: Clock::default(),
            limits: Limits {
                signin: RateLimiter::new(5, 10),
                poll: RateLimiter::new(10, 90),
                writes: RateLimiter::new(30, 120),
                mfa_ip: RateLimiter::new(10, 10),
                mfa_user: RateLimiter::new(10, 10),
                token: RateLimiter::new(120, 1200),
            },
            config,
            db,
            sealer,
            keys,
        })
    }
}

impl App {
    /// The forward-auth rules, compiled once and kept until the settings change.
    pub fn access_rules(&self) -> crate::error::Result<std::sync::Arc<crate::access::AccessRules>> {
        if let Some(r) = self
            .access
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            return Ok(std::sync::Arc::clone(r));
        }
        let spec = crate::settings::access(&*self.db.conn()?)?;
        // Saved settings were validated; a value that no longer compiles (a downgrade)
        // falls back to the safe default: every request needs a signed-in user.
        let rules = crate::access::AccessRules::compile(&spec).unwrap_or_else(|e| {
            crate::log_error!("access rules do not compile ({e}); requiring sign-in everywhere");
            crate::access::AccessRules::default()
        });
        let rules = std::sync::Arc::new(rules);
        *self.access.write().unwrap_or_else(|p| p.into_inner()) =
            Some(std::sync::Arc::clone(&rules));
        Ok(rules)
    }

    /// Forget cached settings (after an owner saved a section).
    pub fn settings_changed(&self) {
        *self.access.write().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

fn providers(config: &Config, secrets: &Secrets) -> Providers {
    let enabled = |k| config.provider_enabled(k);
    let media = |kind, cfg: &Option<crate::config::MediaServerConfig>| {
        cfg.clone()
            .filter(|_| enabled(kind))
            .map(|c| MediaServer::new(kind, c, secrets.install_id.clone()))
    };
    Providers {
        plex: enabled(ProviderKind::Plex)
            .then(|| Plex::new(config.plex.clone(), secrets.install_id.clone())),
        jellyfin: media(ProviderKind::Jellyfin, &config.jellyfin),
        emby: media(ProviderKind::Emby, &config.emby),
    }
}

/// Sealed data is useless under another key; refuse to start rather than fail later.
fn check_data_key(db: &Db, sealer: &Sealer) -> Result<(), String> {
    let conn = db.conn().map_err(|e| e.to_string())?;
    match db::meta::get(&conn, DATA_KEY_CHECK).map_err(|e| e.to_string())? {
        Some(sealed) => sealer.open(DATA_KEY_CHECK, &sealed).map(|_| ()).map_err(|_| {
            "DATA_KEY: this key does not open the data sealed in this database; use the key it was created with (see secrets.json or your env file)".to_string()
        }),
        None => db::meta::set(&conn, DATA_KEY_CHECK, &sealer.seal(DATA_KEY_CHECK, b"authportal")).map_err(|e| e.to_string()),
    }
}
