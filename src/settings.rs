//! Typed views of the runtime settings sections (stored by db::settings), with the
//! defaults that apply until an owner saves a section.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::db;
use crate::error::Result;

/// Section "mfa".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MfaSettings {
    /// Members of these groups must use a second factor (e.g. "admins").
    pub enforce_groups: Vec<String>,
}

pub fn mfa(conn: &Connection) -> Result<MfaSettings> {
    section(conn, "mfa")
}

/// A section's saved value, or the default when it was never saved. A saved value that
/// no longer fits the type (a downgrade) falls back to the default and says so.
fn section<T: serde::de::DeserializeOwned + Default>(conn: &Connection, name: &str) -> Result<T> {
    let Some(saved) = db::settings::get(conn, name)? else {
        return Ok(T::default());
    };
    Ok(serde_json::from_value(saved.config).unwrap_or_else(|e| {
        crate::log_error!("settings section {name:?} is unreadable ({e}); using defaults");
        T::default()
    }))
}

/// Section "access": the forward-auth rules.
pub fn access(conn: &Connection) -> Result<crate::access::AccessSpec> {
    section(conn, "access")
}

/// The sections an owner can read and write.
pub const SECTIONS: &[&str] = &[
    "access",
    "backups",
    "branding",
    "events",
    "mfa",
    "providers",
    "revalidation",
    "roles",
    "security",
];

/// The default value of a section (what applies until it is saved).
pub fn default_of(name: &str) -> Option<serde_json::Value> {
    match name {
        "access" => {
            Some(serde_json::to_value(crate::access::AccessSpec::default()).expect("serializes"))
        }
        "mfa" => Some(serde_json::json!({ "enforce_groups": [] })),
        "backups" => Some(
            serde_json::to_value(crate::backup::schedule::BackupSettings::default())
                .expect("serializes"),
        ),
        "roles" => Some(serde_json::to_value(RolesSettings::default()).expect("serializes")),
        "branding" => Some(serde_json::to_value(Branding::default()).expect("serializes")),
        "security" => Some(serde_json::to_value(Security::default()).expect("serializes")),
        "events" => Some(serde_json::to_value(EventsSettings::default()).expect("serializes")),
        "revalidation" => Some(serde_json::to_value(Revalidation::default()).expect("serializes")),
        "providers" => Some(
            serde_json::to_value(crate::provider_settings::ProvidersSettings::default())
                .expect("serializes"),
        ),
        _ => None,
    }
}

/// Checks a new value for a section; the error is for the person who wrote it.
pub fn validate(name: &str, value: &serde_json::Value) -> std::result::Result<(), String> {
    match name {
        "access" => {
            let spec: crate::access::AccessSpec =
                serde_json::from_value(value.clone()).map_err(|e| format!("access: {e}"))?;
            crate::access::AccessRules::compile(&spec).map(|_| ())
        }
        "mfa" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            #[allow(dead_code)]
            struct Strict {
                enforce_groups: Vec<String>,
            }
            serde_json::from_value::<Strict>(value.clone())
                .map(|_| ())
                .map_err(|e| format!("mfa: {e}"))
        }
        "providers" => {
            serde_json::from_value::<crate::provider_settings::ProvidersSettings>(value.clone())
                .map(|_| ())
                .map_err(|e| format!("providers: {e}"))
        }
        "security" => serde_json::from_value::<Security>(value.clone())
            .map_err(|e| format!("security: {e}"))?
            .check(),
        "branding" => serde_json::from_value::<Branding>(value.clone())
            .map_err(|e| format!("branding: {e}"))?
            .check(),
        "backups" => {
            serde_json::from_value::<crate::backup::schedule::BackupSettings>(value.clone())
                .map_err(|e| format!("backups: {e}"))?
                .check()
        }
        "roles" => serde_json::from_value::<RolesSettings>(value.clone())
            .map_err(|e| format!("roles: {e}"))?
            .check(),
        "events" => serde_json::from_value::<EventsSettings>(value.clone())
            .map_err(|e| format!("events: {e}"))?
            .check(),
        "revalidation" => serde_json::from_value::<Revalidation>(value.clone())
            .map_err(|e| format!("revalidation: {e}"))?
            .check(),
        _ => Err(format!("unknown settings section {name:?}")),
    }
}

/// What the console lets a role do.
pub const PERMISSIONS: &[&str] = &[
    "admin.access",
    "config.read",
    "config.write",
    "users.read",
    "users.write",
    "oauth.read",
    "oauth.write",
    "backups.read",
    "backups.write",
    "events.read",
    "webhooks.read",
    "webhooks.write",
];

/// Section "roles": groups that carry console permissions ("*" = all). The `admins`
/// group always has every permission, so nobody can lock the owners out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesSettings {
    pub roles: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for RolesSettings {
    fn default() -> Self {
        let viewer = [
            "admin.access",
            "config.read",
            "users.read",
            "oauth.read",
            "backups.read",
            "events.read",
            "webhooks.read",
        ];
        RolesSettings {
            roles: [
                ("admins".to_string(), vec!["*".to_string()]),
                (
                    "viewers".to_string(),
                    viewer.iter().map(|p| p.to_string()).collect(),
                ),
            ]
            .into_iter()
            .collect(),
        }
    }
}

pub fn roles(conn: &Connection) -> Result<RolesSettings> {
    section(conn, "roles")
}

impl RolesSettings {
    /// Whether someone in these groups holds `permission`.
    pub fn allows(&self, groups: &[String], permission: &str) -> bool {
        groups.iter().any(|g| {
            g == "admins"
                || self
                    .roles
                    .get(g)
                    .is_some_and(|perms| perms.iter().any(|p| p == "*" || p == permission))
        })
    }

    fn check(&self) -> std::result::Result<(), String> {
        for (group, perms) in &self.roles {
            if group.trim().is_empty() {
                return Err("roles: a role needs a group name".into());
            }
            if let Some(bad) = perms
                .iter()
                .find(|p| *p != "*" && !PERMISSIONS.contains(&p.as_str()))
            {
                return Err(format!(
                    "roles.{group}: unknown permission {bad:?}; known: {}",
                    PERMISSIONS.join(", ")
                ));
            }
        }
        if self
            .roles
            .get("admins")
            .is_none_or(|p| p != &["*".to_string()])
        {
            return Err(
                "roles.admins must stay [\"*\"]: the owners' group always holds every permission"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Section "providers" as stored (secrets sealed).
pub fn providers(conn: &Connection) -> Result<crate::provider_settings::ProvidersSettings> {
    section(conn, "providers")
}

/// A console edit -> the document to store (secrets sealed, kept or cleared), checked.
pub fn prepare(
    name: &str,
    incoming: &serde_json::Value,
    current: &serde_json::Value,
    sealer: &crate::crypto::seal::Sealer,
) -> std::result::Result<serde_json::Value, String> {
    let stored = match name {
        "providers" => crate::provider_settings::prepare(incoming, current, sealer)?,
        // Stored whole, so the console shows every limit in force, not just those edited.
        "security" => serde_json::to_value(
            serde_json::from_value::<Security>(incoming.clone())
                .map_err(|e| format!("security: {e}"))?,
        )
        .map_err(|e| format!("security: {e}"))?,
        _ => incoming.clone(),
    };
    validate(name, &stored)?;
    Ok(stored)
}

/// The fields of a section the environment sets (the console shows them locked).
pub fn locked(name: &str, cfg: &crate::config::Config) -> Vec<&'static str> {
    match name {
        "providers" => crate::provider_settings::locked(cfg),
        "security" if cfg.env_set.contains("OUTBOUND_ALLOW") => vec!["outbound_allow"],
        _ => Vec::new(),
    }
}

/// An owner's edit of the access rules, checked against the rules saved before and the
/// media servers in use (see access::check_edit).
pub fn check_access_edit(
    new: &serde_json::Value,
    current: &serde_json::Value,
    enabled: &[crate::providers::ProviderKind],
) -> std::result::Result<(), String> {
    let new: crate::access::AccessSpec =
        serde_json::from_value(new.clone()).map_err(|e| format!("access: {e}"))?;
    let stored: crate::access::AccessSpec =
        serde_json::from_value(current.clone()).unwrap_or_default();
    crate::access::check_edit(&new, &stored, enabled)
}

/// What the console should point out about a stored section (it still applies).
pub fn warnings(
    name: &str,
    stored: &serde_json::Value,
    enabled: &[crate::providers::ProviderKind],
) -> Vec<String> {
    match name {
        "access" => serde_json::from_value::<crate::access::AccessSpec>(stored.clone())
            .map(|spec| crate::access::warnings(&spec, enabled))
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A stored document as the console may see it (secrets as set / not set).
pub fn present(name: &str, stored: &serde_json::Value) -> serde_json::Value {
    match name {
        "providers" => crate::provider_settings::present(stored),
        _ => stored.clone(),
    }
}

/// A service on the home page: the apps a signed-in person may open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceLink {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Shown only to members of this group (everyone when absent).
    #[serde(default)]
    pub group: Option<String>,
    /// The name of an uploaded icon (`/branding/icons/NAME`).
    #[serde(default)]
    pub icon: Option<String>,
}

/// An icon name: what may follow `/branding/icons/`.
pub fn is_icon_name(n: &str) -> bool {
    (1..=32).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Section "branding": the texts people see and the services on the home page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Branding {
    /// Shown in every page's title and header, and in the console.
    pub app_name: Option<String>,
    /// The accent colour of buttons and links, as #rrggbb.
    pub accent_color: Option<String>,
    /// Replaces "You are signed in with ... and have access to this server."
    pub welcome_text: Option<String>,
    /// Added to the "No access" page (who to ask, how).
    pub restricted_text: Option<String>,
    pub links: Vec<ServiceLink>,
}

pub const DEFAULT_APP_NAME: &str = "AuthPortal";

impl Branding {
    fn check(&self) -> std::result::Result<(), String> {
        if let Some(n) = &self.app_name {
            if n.trim().is_empty() || n.chars().count() > 40 || n.chars().any(char::is_control) {
                return Err(format!(
                    "branding.app_name: {n:?} must be 1 to 40 characters on one line"
                ));
            }
        }
        if let Some(c) = &self.accent_color {
            let hex = c
                .strip_prefix('#')
                .filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()));
            if hex.is_none() {
                return Err(format!(
                    "branding.accent_color: {c:?} must look like #6c8cff"
                ));
            }
        }
        for (i, l) in self.links.iter().enumerate() {
            let at = format!("branding.links[{i}]");
            if l.name.trim().is_empty() || l.name.len() > 60 {
                return Err(format!("{at}.name: 1 to 60 characters"));
            }
            let url = url::Url::parse(&l.url)
                .map_err(|_| format!("{at}.url: {:?} is not an absolute URL", l.url))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(format!("{at}.url: must be http(s)"));
            }
            if let Some(icon) = &l.icon {
                if !is_icon_name(icon) {
                    return Err(format!(
                        "{at}.icon: {icon:?} must be an uploaded icon's name (a-z, 0-9, -)"
                    ));
                }
            }
        }
        for (field, text) in [
            ("welcome_text", &self.welcome_text),
            ("restricted_text", &self.restricted_text),
        ] {
            if text.as_ref().is_some_and(|t| t.len() > 2000) {
                return Err(format!("branding.{field}: at most 2000 characters"));
            }
        }
        Ok(())
    }

    /// The links someone in these groups may see.
    pub fn links_for<'a>(
        &'a self,
        groups: &'a [String],
    ) -> impl Iterator<Item = &'a ServiceLink> + 'a {
        self.links
            .iter()
            .filter(move |l| l.group.as_ref().is_none_or(|g| groups.contains(g)))
    }
}

pub fn branding(conn: &Connection) -> Result<Branding> {
    section(conn, "branding")
}

/// A section's history as the console shows it: secrets as set / not set, and what each
/// version changed from the one before.
pub fn history_for_console(conn: &Connection, name: &str) -> Result<Vec<db::settings::Version>> {
    let mut versions = db::settings::history(conn, name)?;
    for v in &mut versions {
        v.config = present(name, &v.config);
    }
    // Newest first: each version is compared with the next (older) one.
    for i in 0..versions.len() {
        let older = versions
            .get(i + 1)
            .map(|o| o.config.clone())
            .unwrap_or_else(|| default_of(name).unwrap_or(serde_json::Value::Null));
        let mut out = Vec::new();
        diff(&older, &versions[i].config, String::new(), &mut out);
        versions[i].changes = out;
    }
    Ok(versions)
}

/// The leaf differences between two JSON values, as "path: old -> new" lines.
pub fn diff(old: &serde_json::Value, new: &serde_json::Value, path: String, out: &mut Vec<String>) {
    use serde_json::Value;
    const MAX_LINES: usize = 50;
    if out.len() >= MAX_LINES || old == new {
        return;
    }
    let at = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                diff(
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    at(k),
                    out,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(x, y, format!("{path}[{i}]"), out);
            }
        }
        _ => out.push(format!(
            "{}: {old} -> {new}",
            if path.is_empty() { "(whole)" } else { &path }
        )),
    }
}

/// Section "security".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Security {
    /// How long a sign-in lasts, in hours (1 to 720).
    pub session_hours: i64,
    /// Requests per client IP (and per user for second-factor codes).
    pub rate_limits: RateLimits,
    /// Hosts, IPs or CIDR ranges outbound requests may reach besides public and LAN
    /// addresses (e.g. "127.0.0.1/32", "ntfy.lan"); OUTBOUND_ALLOW, when set, wins.
    pub outbound_allow: Vec<String>,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            session_hours: 24,
            rate_limits: RateLimits::default(),
            outbound_allow: Vec::new(),
        }
    }
}

/// How many requests of a kind a client may make: `burst` at once, then `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub burst: u32,
    pub per_minute: u32,
}

const fn rate(burst: u32, per_minute: u32) -> Rate {
    Rate { burst, per_minute }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Sign-in attempts (password forms and Plex PIN starts).
    pub signin: Rate,
    /// Second-factor codes, per client IP and per user.
    pub mfa: Rate,
    /// Every other state-changing request (forms, console changes).
    pub writes: Rate,
    /// Calls of applications to the token, revocation, introspection and userinfo endpoints.
    pub token: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            signin: rate(5, 10),
            mfa: rate(10, 10),
            writes: rate(30, 120),
            token: rate(120, 1200),
        }
    }
}

impl Security {
    fn check(&self) -> std::result::Result<(), String> {
        if !(1..=720).contains(&self.session_hours) {
            return Err(format!(
                "security.session_hours: {} is not between 1 and 720",
                self.session_hours
            ));
        }
        if self.outbound_allow.len() > 100 {
            return Err("security.outbound_allow: at most 100 entries".into());
        }
        self.allow_list()
            .map_err(|e| format!("security.outbound_allow: {e}"))?;
        let r = &self.rate_limits;
        for (name, rate) in [
            ("signin", r.signin),
            ("mfa", r.mfa),
            ("writes", r.writes),
            ("token", r.token),
        ] {
            for (field, value) in [("burst", rate.burst), ("per_minute", rate.per_minute)] {
                if !(1..=100_000).contains(&value) {
                    return Err(format!(
                        "security.rate_limits.{name}.{field}: {value} is not between 1 and 100000"
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn allow_list(&self) -> std::result::Result<crate::outbound::AllowList, String> {
        crate::outbound::AllowList::parse(self.outbound_allow.iter().map(String::as_str))
    }

    pub fn session_ttl(&self) -> i64 {
        self.session_hours * 3600
    }
}

pub fn security(conn: &Connection) -> Result<Security> {
    section(conn, "security")
}

/// Section "events": how long the audit log (and finished webhook deliveries) is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsSettings {
    /// Days (1 to 3650); the janitor deletes older events.
    pub retention_days: i64,
}

impl Default for EventsSettings {
    fn default() -> Self {
        EventsSettings { retention_days: 90 }
    }
}

impl EventsSettings {
    fn check(&self) -> std::result::Result<(), String> {
        if !(1..=3650).contains(&self.retention_days) {
            return Err(format!(
                "events.retention_days: {} is not between 1 and 3650",
                self.retention_days
            ));
        }
        Ok(())
    }
}

pub fn events(conn: &Connection) -> Result<EventsSettings> {
    section(conn, "events")
}

/// Section "revalidation": how often signed-in users' server access is checked again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Revalidation {
    /// Minutes between passes (1 to 1440).
    pub interval_minutes: i64,
    /// Hours access is kept while the media server (or plex.tv) cannot be asked (0 to 720).
    pub grace_hours: i64,
    /// Requests a minute to plex.tv at most (1 to 600).
    pub plex_requests_per_minute: i64,
    /// Requests a second to the owner's Jellyfin or Emby at most, when accounts are
    /// checked one by one (no Jellyfin API key; 1 to 1000).
    pub media_requests_per_second: i64,
}

impl Default for Revalidation {
    fn default() -> Self {
        Revalidation {
            interval_minutes: 15,
            grace_hours: 24,
            plex_requests_per_minute: 60,
            media_requests_per_second: 10,
        }
    }
}

impl Revalidation {
    fn check(&self) -> std::result::Result<(), String> {
        for (name, v, lo, hi) in [
            ("interval_minutes", self.interval_minutes, 1, 1440),
            ("grace_hours", self.grace_hours, 0, 720),
            (
                "plex_requests_per_minute",
                self.plex_requests_per_minute,
                1,
                600,
            ),
            (
                "media_requests_per_second",
                self.media_requests_per_second,
                1,
                1000,
            ),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(format!(
                    "revalidation.{name}: {v} is not between {lo} and {hi}"
                ));
            }
        }
        Ok(())
    }
}

pub fn revalidation(conn: &Connection) -> Result<Revalidation> {
    section(conn, "revalidation")
}
