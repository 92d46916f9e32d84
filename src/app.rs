//! App: everything a request handler needs, shared as Arc<App>. No globals, so tests
//! can run several servers in one process.

use ureq::Agent;

use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::seal::Sealer;
use crate::crypto::tokens::CookieSigner;
use crate::datadir;
use crate::db::{self, Db};
use crate::oidc::keys::KeyRing;
use crate::outbound::{AllowList, Outbound, Policy};
use crate::providers::jellyfin::MediaServer;
use crate::providers::plex::Plex;
use crate::providers::{ProviderKind, http};
use crate::ratelimit::{Backoff, RateLimiter};
use crate::settings::RateLimits;

/// Rates per client address (IPv6 by /64), set from the security settings (defaults in
/// settings::RateLimits), and back-off per account being guessed.
pub struct Limits {
    /// Sign-in attempts per client IP.
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
    /// Native apps' media tokens the portal must ask the media server about, per client
    /// IP (known tokens are cached and do not count). Not a setting.
    pub media_token: RateLimiter,
    /// Quick Connect codes approved from /home, per user (keyed "user:ID") and per client
    /// IP: a six-digit code is guessable, and a guessed one signs a stranger's TV in as
    /// the guesser. Not a setting.
    pub link: RateLimiter,
    /// Device user codes typed at /device, per client IP and per session (keyed
    /// "session:SID"); a code that is found gives its token back. Not a setting.
    pub device_codes: RateLimiter,
    /// The setup wizard's steps per client IP: its own budget, so an owner's typos do
    /// not spend the sign-in limit (nor the other way round). Not a setting.
    pub setup: RateLimiter,
    /// Setup-code guesses per client IP: the code is what keeps strangers out of the wizard.
    pub setup_code: RateLimiter,
    /// LDAP binds that are guesses, per client IP: apart from `signin`, so neither an
    /// app retrying an old password nor web guessing spends the other's budget.
    pub ldap_bind: RateLimiter,
    /// Wrong passwords per account typed (provider and name), from any address.
    pub signin_account: Backoff,
    /// Wrong second-factor codes per user, from any address (plus mfa::DAILY_FAILURES).
    pub mfa_account: Backoff,
    /// Wrong LDAP bind passwords per DN, from any address: apart from `signin_account`,
    /// so a flood of made-up DNs cannot push sign-in back-offs out of memory.
    pub ldap_dn: Backoff,
}

/// A TV app sends one token; a household a few. Beyond this an address is guessing.
const MEDIA_TOKEN_BURST: u32 = 10;
const MEDIA_TOKEN_PER_MINUTE: u32 = 10;

/// A person types a TV's code once or twice; beyond this they are guessing.
const LINK_BURST: u32 = 5;
const LINK_PER_MINUTE: u32 = 5;
/// A person mistypes a device code a few times; an address or session trying more is
/// guessing (each guess hits one of 2^34.6 codes).
const DEVICE_CODE_BURST: u32 = 10;
const DEVICE_CODE_PER_MINUTE: u32 = 10;
/// An owner setting up may mistype a URL or password several times; a burst of 20
/// steps and 10 a minute after that is plenty for a person and little for a script.
const SETUP_BURST: u32 = 20;
const SETUP_PER_MINUTE: u32 = 10;
/// Setup-code guesses: a few typos, then 2 a minute (the code has 50 bits).
const SETUP_CODE_BURST: u32 = 6;
const SETUP_CODE_PER_MINUTE: u32 = 2;

/// Failures in a row an account may have before it must wait: 1 s, then twice as long
/// after each further failure, never more than 15 minutes.
const FREE_FAILURES: u32 = 5;
const FIRST_WAIT_MS: i64 = 1000;
const LONGEST_WAIT_MS: i64 = 15 * 60 * 1000;

impl Limits {
    fn new(rates: &RateLimits) -> Limits {
        let limits = Limits {
            signin: RateLimiter::new(1, 1),
            // Not a setting: the sign-in page itself polls about once a second.
            poll: RateLimiter::new(10, 90),
            writes: RateLimiter::new(1, 1),
            mfa_ip: RateLimiter::new(1, 1),
            mfa_user: RateLimiter::new(1, 1),
            token: RateLimiter::new(1, 1),
            media_token: RateLimiter::new(MEDIA_TOKEN_BURST, MEDIA_TOKEN_PER_MINUTE),
            link: RateLimiter::new(LINK_BURST, LINK_PER_MINUTE),
            device_codes: RateLimiter::new(DEVICE_CODE_BURST, DEVICE_CODE_PER_MINUTE),
            setup: RateLimiter::new(SETUP_BURST, SETUP_PER_MINUTE),
            setup_code: RateLimiter::new(SETUP_CODE_BURST, SETUP_CODE_PER_MINUTE),
            ldap_bind: RateLimiter::new(1, 1),
            signin_account: Backoff::new(FREE_FAILURES, FIRST_WAIT_MS, LONGEST_WAIT_MS),
            mfa_account: Backoff::new(FREE_FAILURES, FIRST_WAIT_MS, LONGEST_WAIT_MS),
            ldap_dn: Backoff::new(FREE_FAILURES, FIRST_WAIT_MS, LONGEST_WAIT_MS),
        };
        limits.set(rates);
        limits
    }

    fn set(&self, r: &RateLimits) {
        for (limiter, rate) in [
            (&self.signin, r.signin),
            (&self.mfa_ip, r.mfa),
            (&self.mfa_user, r.mfa),
            (&self.writes, r.writes),
            (&self.token, r.token),
            (&self.ldap_bind, r.ldap_bind),
        ] {
            limiter.set(rate.burst, rate.per_minute);
        }
    }
}

/// The media servers in use, rebuilt when the providers settings change.
pub struct Providers {
    /// In the order the owner listed them (the sign-in page shows them so).
    pub enabled: Vec<ProviderKind>,
    pub plex: Option<Plex>,
    pub jellyfin: Option<MediaServer>,
    pub emby: Option<MediaServer>,
}

impl Providers {
    pub fn is_enabled(&self, kind: ProviderKind) -> bool {
        self.enabled.contains(&kind)
    }

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
    /// Where outbound requests may go; every agent checks it at each connection.
    pub outbound: Outbound,
    /// For media servers, plex.tv and login-cookie apps (checked by `outbound`).
    pub http: Agent,
    pub clock: Clock,
    pub limits: Limits,
    providers: std::sync::RwLock<std::sync::Arc<Providers>>,
    /// Stable per install: the X-Plex-Client-Identifier and Jellyfin DeviceId.
    pub install_id: String,
    pub access_cache: crate::access_cache::AccessCache,
    pub metrics: crate::metrics::Metrics,
    /// Forward-auth denials written to the audit log (sampled: a flood must not fill it).
    pub denials: crate::sampling::Sampler,
    /// Re-validation's memory between passes (plex.tv request budget and back-off).
    pub revalidation: crate::revalidate::State,
    /// Numbers this portal's requests (the `req=` of its log lines).
    request_seq: std::sync::atomic::AtomicU64,
    /// Held while a scheduled backup runs (backup::schedule::tick), so a test's tick and
    /// the schedule thread's cannot both run the same due backup.
    pub backup_tick: std::sync::Mutex<()>,
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
        let rates = crate::settings::security(&*db.conn().map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?
            .rate_limits;
        let outbound =
            Outbound::new(outbound_policy(&config, &db, &sealer).map_err(|e| e.to_string())?);
        Ok(App {
            access: std::sync::RwLock::new(None),
            access_cache: Default::default(),
            metrics: Default::default(),
            denials: Default::default(),
            revalidation: Default::default(),
            request_seq: std::sync::atomic::AtomicU64::new(1),
            backup_tick: Default::default(),
            providers: std::sync::RwLock::new(std::sync::Arc::new(
                build_providers(&config, &db, &sealer, &secrets.install_id)
                    .map_err(|e| e.to_string())?,
            )),
            install_id: secrets.install_id.clone(),
            cookies: CookieSigner::new(&secrets.session_secret),
            http: http::agent(&outbound),
            outbound,
            clock: Clock::default(),
            limits: Limits::new(&rates),
            config,
            db,
            sealer,
            keys,
        })
    }
}

impl App {
    /// The id of a new request (hex), unique within this portal: it ties the log lines
    /// of one request together.
    pub fn next_request_id(&self) -> String {
        let n = self
            .request_seq
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{n:x}")
    }

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
        // Saved settings were validated, but a rule saved by an older version may no
        // longer compile (rules got stricter). Falling back to "signed in" would open
        // whatever a deny or group rule kept closed, so every app is closed instead
        // until the owner fixes the rules in the console.
        let rules = crate::access::AccessRules::compile(&spec).unwrap_or_else(|e| {
            crate::log_error!(
                "access rules do not compile ({e}); every app behind forward-auth is closed until they are fixed in the console"
            );
            crate::access::AccessRules {
                default_policy: crate::access::Policy::Deny,
                rules: Vec::new(),
            }
        });
        let rules = std::sync::Arc::new(rules);
        *self.access.write().unwrap_or_else(|p| p.into_inner()) =
            Some(std::sync::Arc::clone(&rules));
        Ok(rules)
    }

    /// Forget cached settings (after an owner saved a section) and rebuild the providers.
    pub fn settings_changed(&self) {
        *self.access.write().unwrap_or_else(|p| p.into_inner()) = None;
        self.apply_rate_limits();
        match outbound_policy(&self.config, &self.db, &self.sealer) {
            Ok(p) => self.outbound.set(p),
            Err(e) => crate::log_error!("outbound settings could not be applied: {e}"),
        }
        match build_providers(&self.config, &self.db, &self.sealer, &self.install_id) {
            Ok(p) => {
                *self.providers.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(p)
            }
            Err(e) => crate::log_error!("providers settings could not be applied: {e}"),
        }
    }

    /// Sets the rate limiters from the security settings.
    fn apply_rate_limits(&self) {
        match self.db.conn().and_then(|c| crate::settings::security(&c)) {
            Ok(s) => self.limits.set(&s.rate_limits),
            Err(e) => crate::log_error!("rate limits could not be read: {e}"),
        }
    }

    /// The media servers in use right now.
    pub fn providers(&self) -> std::sync::Arc<Providers> {
        std::sync::Arc::clone(&self.providers.read().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The effective media servers: the providers settings merged with the environment.
fn build_providers(
    config: &Config,
    db: &Db,
    sealer: &Sealer,
    install_id: &str,
) -> crate::error::Result<Providers> {
    let stored = crate::settings::providers(&*db.conn()?)?;
    let eff = crate::provider_settings::effective(config, &stored, sealer);
    let on = |k: ProviderKind| eff.enabled.contains(&k);
    let media = |kind: ProviderKind, server: Option<crate::config::MediaServerConfig>| {
        server
            .filter(|_| on(kind))
            .map(|c| MediaServer::new(kind, c, install_id.to_string()))
    };
    // A server enabled without the settings it needs cannot sign anyone in: not shown.
    let enabled: Vec<ProviderKind> = eff
        .enabled
        .iter()
        .copied()
        .filter(|k| match k {
            ProviderKind::Plex => {
                eff.plex.machine_id.is_some()
                    || (eff.plex.server_name.is_some() && eff.plex.owner_token.is_some())
            }
            ProviderKind::Jellyfin => eff.jellyfin.is_some(),
            ProviderKind::Emby => eff.emby.is_some(),
        })
        .collect();
    Ok(Providers {
        plex: on(ProviderKind::Plex).then(|| Plex::new(eff.plex.clone(), install_id.to_string())),
        jellyfin: media(ProviderKind::Jellyfin, eff.jellyfin.clone()),
        emby: media(ProviderKind::Emby, eff.emby.clone()),
        enabled,
    })
}

/// The outbound policy: the allow-list (OUTBOUND_ALLOW, else the security setting) and
/// the media servers in use, which are always allowed.
fn outbound_policy(config: &Config, db: &Db, sealer: &Sealer) -> crate::error::Result<Policy> {
    let conn = db.conn()?;
    let allow = match &config.outbound_allow {
        Some(list) => list.clone(),
        // Saved settings were validated; one that no longer parses allows nothing extra.
        None => crate::settings::security(&conn)?
            .allow_list()
            .unwrap_or_else(|e| {
                crate::log_error!("security.outbound_allow: {e}; allowing no extra destinations");
                AllowList::default()
            }),
    };
    let stored = crate::settings::providers(&conn)?;
    let eff = crate::provider_settings::effective(config, &stored, sealer);
    let servers = [eff.jellyfin.as_ref(), eff.emby.as_ref()];
    Ok(Policy::new(
        allow,
        crate::outbound::server_urls(&eff.plex.api_base, servers),
    ))
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
