//! Raw environment values -> one validated `Config`, with one clear message per bad field.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use url::Url;

use crate::net::Cidr;
use crate::providers::ProviderKind;

/// A bad configuration value: which variable, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.var, self.problem)
    }
}

impl std::error::Error for ConfigError {}

fn err(var: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        problem: problem.into(),
    }
}

#[derive(Debug, Clone)]
pub struct PlexConfig {
    pub api_base: Url,
    pub app_base: Url,
    pub owner_token: Option<String>,
    pub machine_id: Option<String>,
    pub server_name: Option<String>,
    /// Managed (restricted) Plex Home users may sign in.
    pub allow_managed: bool,
}

#[derive(Debug, Clone)]
pub struct MediaServerConfig {
    pub url: Url,
    pub api_key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The variables that were set (non-empty): the console shows the settings they
    /// override as locked.
    pub env_set: std::collections::BTreeSet<String>,
    pub data_dir: PathBuf,
    pub listen_addr: SocketAddr,
    /// Public URL, without a trailing slash.
    pub base_url: Url,
    pub session_secret: Option<Vec<u8>>,
    pub data_key: Option<Vec<u8>>,
    pub cookie_domain: Option<String>,
    pub providers: Vec<ProviderKind>,
    pub mfa_enable: bool,
    pub mfa_enforce: bool,
    pub mfa_issuer: String,
    pub force_secure_cookie: bool,
    pub force_hsts: bool,
    pub trusted_proxies: Vec<Cidr>,
    /// Where outbound requests may go besides public and LAN addresses; when set, it
    /// wins over the security setting `outbound_allow`.
    pub outbound_allow: Option<crate::outbound::AllowList>,
    pub admin_bootstrap: Vec<crate::admin_bootstrap::AdminBootstrap>,
    pub oidc_signing_key_pem: Option<String>,
    pub oidc_signing_key_path: Option<PathBuf>,
    pub oidc_issuer: Option<Url>,
    pub plex: PlexConfig,
    pub jellyfin: Option<MediaServerConfig>,
    pub emby: Option<MediaServerConfig>,
    pub login_extra_link: Option<(Url, String)>,
    pub unauth_request_email: Option<String>,
    pub unauth_request_subject: String,
    pub backup_dir: Option<PathBuf>,
    /// When set, /metrics wants `Authorization: Bearer <this>`.
    pub metrics_token: Option<String>,
    pub log_level: crate::log::Level,
    /// For showing times (and, later, backup schedules); everything inside is UTC.
    pub timezone: chrono_tz::Tz,
    pub http_workers: usize,
    pub ldap: LdapConfig,
}

/// The read-only LDAP directory (src/ldap/).
#[derive(Debug, Clone)]
pub struct LdapConfig {
    /// Off when unset.
    pub listen_addr: Option<SocketAddr>,
    /// Checked to be a DN such as `dc=authportal,dc=local`.
    pub base_dn: String,
    /// PEM certificate chain and key: LDAPS and StartTLS on the same port.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Jellyfin/Emby people may bind with their media-server password.
    pub media_password_bind: bool,
    /// Clients that did not bind may search.
    pub anonymous_search: bool,
}

impl Config {
    /// Reads the process environment.
    /// Every variable the portal reads. README.md's table and
    /// systemd/authportal.env.example are checked against this list (tests/integration/docs.rs).
    pub const VARIABLES: &'static [&'static str] = &[
        "ADMIN_BOOTSTRAP_USERS",
        "APP_BASE_URL",
        "APP_TIMEZONE",
        "AUTHPORTAL_DATA_DIR",
        "BACKUP_DIR",
        "DATA_KEY",
        "EMBY_API_KEY",
        "EMBY_SERVER_URL",
        "FORCE_HSTS",
        "FORCE_SECURE_COOKIE",
        "HTTP_WORKERS",
        "JELLYFIN_API_KEY",
        "JELLYFIN_SERVER_URL",
        "LISTEN_ADDR",
        "LDAP_ALLOW_ANONYMOUS",
        "LDAP_BASE_DN",
        "LDAP_LISTEN_ADDR",
        "LDAP_MEDIA_PASSWORD_BIND",
        "LDAP_TLS_CERT",
        "LDAP_TLS_KEY",
        "LOGIN_EXTRA_LINK_TEXT",
        "LOGIN_EXTRA_LINK_URL",
        "LOG_LEVEL",
        "MEDIA_SERVER",
        "METRICS_TOKEN",
        "MFA_ENABLE",
        "MFA_ENFORCE",
        "MFA_ISSUER",
        "OIDC_ISSUER",
        "OIDC_SIGNING_KEY",
        "OIDC_SIGNING_KEY_PATH",
        "OUTBOUND_ALLOW",
        "PLEX_ALLOW_MANAGED_USERS",
        "PLEX_API_BASE",
        "PLEX_APP_BASE",
        "PLEX_OWNER_TOKEN",
        "PLEX_SERVER_MACHINE_ID",
        "PLEX_SERVER_NAME",
        "SESSION_COOKIE_DOMAIN",
        "SESSION_SECRET",
        "TRUSTED_PROXY_CIDRS",
        "UNAUTH_REQUEST_EMAIL",
        "UNAUTH_REQUEST_SUBJECT",
    ];

    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_vars(&std::env::vars().collect())
    }

    /// Builds a config from a variable map, so tests never touch the process environment.
    pub fn from_vars(vars: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let v = Vars(vars);
        let base_url = parse_base_url("APP_BASE_URL", v.get("APP_BASE_URL"))?
            .unwrap_or_else(|| Url::parse("http://localhost:8089").expect("static URL"));
        let providers = parse_providers(v.get("MEDIA_SERVER").unwrap_or(""))?;
        let plex = PlexConfig {
            api_base: parse_base_url("PLEX_API_BASE", v.get("PLEX_API_BASE"))?
                .unwrap_or_else(|| Url::parse("https://plex.tv").expect("static URL")),
            app_base: parse_base_url("PLEX_APP_BASE", v.get("PLEX_APP_BASE"))?
                .unwrap_or_else(|| Url::parse("https://app.plex.tv").expect("static URL")),
            owner_token: v.get("PLEX_OWNER_TOKEN").map(str::to_string),
            machine_id: v.get("PLEX_SERVER_MACHINE_ID").map(str::to_string),
            server_name: v.get("PLEX_SERVER_NAME").map(str::to_string),
            allow_managed: v.bool("PLEX_ALLOW_MANAGED_USERS", true)?,
        };
        let cfg = Config {
            env_set: vars
                .iter()
                .filter(|(_, v)| !v.trim().is_empty())
                .map(|(k, _)| k.clone())
                .collect(),
            data_dir: PathBuf::from(v.get("AUTHPORTAL_DATA_DIR").unwrap_or("./data")),
            listen_addr: parse_listen(v.get("LISTEN_ADDR").unwrap_or("0.0.0.0:8089"))?,
            base_url,
            session_secret: v
                .get("SESSION_SECRET")
                .map(parse_session_secret)
                .transpose()?,
            data_key: v.get("DATA_KEY").map(parse_data_key).transpose()?,
            cookie_domain: v
                .get("SESSION_COOKIE_DOMAIN")
                .map(parse_cookie_domain)
                .transpose()?,
            mfa_enable: v.bool("MFA_ENABLE", true)?,
            mfa_enforce: v.bool("MFA_ENFORCE", false)?,
            mfa_issuer: v.get("MFA_ISSUER").unwrap_or("AuthPortal").to_string(),
            force_secure_cookie: v.bool("FORCE_SECURE_COOKIE", false)?,
            force_hsts: v.bool("FORCE_HSTS", false)?,
            trusted_proxies: parse_cidrs(v.get("TRUSTED_PROXY_CIDRS").unwrap_or(""))?,
            outbound_allow: v
                .get("OUTBOUND_ALLOW")
                .map(|s| {
                    crate::outbound::AllowList::parse_list(s).map_err(|e| err("OUTBOUND_ALLOW", e))
                })
                .transpose()?,
            admin_bootstrap: crate::admin_bootstrap::parse(
                v.get("ADMIN_BOOTSTRAP_USERS").unwrap_or(""),
            )?,
            oidc_signing_key_pem: v.get("OIDC_SIGNING_KEY").map(str::to_string),
            oidc_signing_key_path: v.get("OIDC_SIGNING_KEY_PATH").map(PathBuf::from),
            oidc_issuer: parse_base_url("OIDC_ISSUER", v.get("OIDC_ISSUER"))?,
            jellyfin: media_server(&v, "JELLYFIN_SERVER_URL", "JELLYFIN_API_KEY")?,
            emby: media_server(&v, "EMBY_SERVER_URL", "EMBY_API_KEY")?,
            login_extra_link: parse_extra_link(&v)?,
            unauth_request_email: v
                .get("UNAUTH_REQUEST_EMAIL")
                .map(|e| parse_email("UNAUTH_REQUEST_EMAIL", e))
                .transpose()?,
            unauth_request_subject: v
                .get("UNAUTH_REQUEST_SUBJECT")
                .unwrap_or("Request access")
                .to_string(),
            backup_dir: v.get("BACKUP_DIR").map(PathBuf::from),
            metrics_token: v.get("METRICS_TOKEN").map(str::to_string),
            log_level: crate::log::Level::parse(v.get("LOG_LEVEL").unwrap_or("info"))
                .ok_or_else(|| err("LOG_LEVEL", "expected one of error, warn, info, debug"))?,
            http_workers: parse_workers(v.get("HTTP_WORKERS"))?,
            ldap: parse_ldap(&v)?,
            timezone: match v.get("APP_TIMEZONE") {
                None => chrono_tz::UTC,
                Some(name) => name.parse().map_err(|_| {
                    err("APP_TIMEZONE", format!("unknown time zone {name:?}; use an IANA name such as Europe/Berlin or America/New_York"))
                })?,
            },
            providers,
            plex,
        };
        cfg.check_providers()?;
        Ok(cfg)
    }

    /// Each enabled provider must have what it needs to decide who may use the server.
    fn check_providers(&self) -> Result<(), ConfigError> {
        for p in &self.providers {
            match p {
                ProviderKind::Plex => {
                    let by_name =
                        self.plex.server_name.is_some() && self.plex.owner_token.is_some();
                    if self.plex.machine_id.is_none() && !by_name {
                        return Err(err(
                            "PLEX_SERVER_MACHINE_ID",
                            "required when MEDIA_SERVER includes plex (or set PLEX_SERVER_NAME together with PLEX_OWNER_TOKEN)",
                        ));
                    }
                }
                ProviderKind::Jellyfin if self.jellyfin.is_none() => {
                    return Err(err(
                        "JELLYFIN_SERVER_URL",
                        "required when MEDIA_SERVER includes jellyfin",
                    ));
                }
                ProviderKind::Emby if self.emby.is_none() => {
                    return Err(err(
                        "EMBY_SERVER_URL",
                        "required when MEDIA_SERVER includes emby",
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Cookies get `Secure` when the public URL is https, or when forced.
    pub fn secure_cookies(&self) -> bool {
        self.base_url.scheme() == "https" || self.force_secure_cookie
    }

    pub fn hsts(&self) -> bool {
        self.base_url.scheme() == "https" || self.force_hsts
    }

    /// `scheme://host[:port]` of the public URL, as browsers send it in `Origin`.
    pub fn origin(&self) -> String {
        self.base_url.origin().ascii_serialization()
    }

    /// The public URL joined with an absolute path ("/auth/forward").
    pub fn url_for(&self, path: &str) -> String {
        format!("{}{}", self.base_url.as_str().trim_end_matches('/'), path)
    }

    pub fn issuer(&self) -> String {
        match &self.oidc_issuer {
            Some(u) => u.as_str().trim_end_matches('/').to_string(),
            None => self.base_url.as_str().trim_end_matches('/').to_string(),
        }
    }

    pub fn provider_enabled(&self, p: ProviderKind) -> bool {
        self.providers.contains(&p)
    }

    /// Lines for `authportal check`: every setting, secrets reduced to "set"/"generated".
    pub fn describe(&self) -> Vec<(String, String)> {
        let set = |b: bool| {
            if b {
                "set"
            } else {
                "not set (kept in data dir)"
            }
            .to_string()
        };
        let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
        vec![
            (
                "AUTHPORTAL_DATA_DIR".into(),
                self.data_dir.display().to_string(),
            ),
            ("LISTEN_ADDR".into(), self.listen_addr.to_string()),
            ("APP_BASE_URL".into(), self.base_url.to_string()),
            ("SESSION_SECRET".into(), set(self.session_secret.is_some())),
            ("DATA_KEY".into(), set(self.data_key.is_some())),
            ("SESSION_COOKIE_DOMAIN".into(), opt(&self.cookie_domain)),
            (
                "MEDIA_SERVER".into(),
                self.providers
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("PLEX_SERVER_MACHINE_ID".into(), opt(&self.plex.machine_id)),
            ("PLEX_SERVER_NAME".into(), opt(&self.plex.server_name)),
            (
                "PLEX_OWNER_TOKEN".into(),
                if self.plex.owner_token.is_some() {
                    "set"
                } else {
                    "-"
                }
                .into(),
            ),
            (
                "JELLYFIN_SERVER_URL".into(),
                self.jellyfin
                    .as_ref()
                    .map(|j| j.url.to_string())
                    .unwrap_or_else(|| "-".into()),
            ),
            (
                "EMBY_SERVER_URL".into(),
                self.emby
                    .as_ref()
                    .map(|j| j.url.to_string())
                    .unwrap_or_else(|| "-".into()),
            ),
            ("HTTP_WORKERS".into(), self.http_workers.to_string()),
            (
                "LDAP_LISTEN_ADDR".into(),
                self.ldap.listen_addr.map_or_else(
                    || "- (or the console's ldap section)".into(),
                    |a| a.to_string(),
                ),
            ),
            (
                "METRICS_TOKEN".into(),
                if self.metrics_token.is_some() {
                    "set (/metrics wants it as a bearer token)"
                } else {
                    "not set (/metrics is open)"
                }
                .into(),
            ),
        ]
    }
}

struct Vars<'a>(&'a BTreeMap<String, String>);

impl Vars<'_> {
    /// A variable's value; empty or whitespace-only counts as unset.
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    fn bool(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(s) => parse_bool(s)
                .ok_or_else(|| err(name, format!("expected 1/0 or true/false, got {s:?}"))),
        }
    }
}

pub fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_listen(s: &str) -> Result<SocketAddr, ConfigError> {
    s.parse().map_err(|_| {
        err(
            "LISTEN_ADDR",
            format!("expected IP:PORT such as 0.0.0.0:8089, got {s:?}"),
        )
    })
}

/// An absolute http(s) URL without query or fragment.
fn parse_base_url(var: &'static str, s: Option<&str>) -> Result<Option<Url>, ConfigError> {
    let Some(s) = s else { return Ok(None) };
    let url = Url::parse(s).map_err(|e| err(var, format!("not a valid URL ({e}): {s:?}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(err(
            var,
            format!("must start with http:// or https://, got {s:?}"),
        ));
    }
    if url.host_str().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err(err(
            var,
            format!("must be a plain http(s) URL with a host and no query, got {s:?}"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(err(var, "must not contain a username or password"));
    }
    Ok(Some(url))
}

fn parse_providers(s: &str) -> Result<Vec<ProviderKind>, ConfigError> {
    let mut out = Vec::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let p = ProviderKind::parse(&name.to_ascii_lowercase()).ok_or_else(|| {
            err("MEDIA_SERVER", format!("unknown media server {name:?}; expected plex, jellyfin or emby (comma-separated)"))
        })?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

fn parse_session_secret(s: &str) -> Result<Vec<u8>, ConfigError> {
    if s.len() < 32 {
        return Err(err(
            "SESSION_SECRET",
            format!(
                "too short: {} characters, need at least 32 random characters",
                s.len()
            ),
        ));
    }
    Ok(s.as_bytes().to_vec())
}

/// DATA_KEY: base64 (standard or URL-safe) of 32 or 64 random bytes.
pub fn parse_data_key(s: &str) -> Result<Vec<u8>, ConfigError> {
    let bytes = crate::crypto::b64_decode_any(s).ok_or_else(|| {
        err(
            "DATA_KEY",
            "not valid base64; generate one with: openssl rand -base64 32",
        )
    })?;
    if bytes.len() != 32 && bytes.len() != 64 {
        return Err(err(
            "DATA_KEY",
            format!(
                "decodes to {} bytes, need 32 or 64; generate one with: openssl rand -base64 32",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

/// A bare domain (leading dot allowed and dropped) or an IP for LAN installs.
fn parse_cookie_domain(s: &str) -> Result<String, ConfigError> {
    let d = s.trim_start_matches('.').to_ascii_lowercase();
    if d.parse::<IpAddr>().is_ok() {
        return Ok(d);
    }
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if !ok {
        return Err(err(
            "SESSION_COOKIE_DOMAIN",
            format!("expected a domain such as example.com (no scheme, port or path), got {s:?}"),
        ));
    }
    Ok(d)
}

fn parse_cidrs(s: &str) -> Result<Vec<Cidr>, ConfigError> {
    s.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            Cidr::parse(c)
                .ok_or_else(|| err("TRUSTED_PROXY_CIDRS", format!("not an IP or CIDR: {c:?}")))
        })
        .collect()
}

pub(crate) fn parse_email(var: &'static str, s: &str) -> Result<String, ConfigError> {
    let valid = s
        .split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c == '<' || c == '>' || c == '"');
    if !valid {
        return Err(err(var, format!("not an email address: {s:?}")));
    }
    Ok(s.to_string())
}

fn media_server(
    v: &Vars,
    url_var: &'static str,
    key_var: &str,
) -> Result<Option<MediaServerConfig>, ConfigError> {
    Ok(
        parse_base_url(url_var, v.get(url_var))?.map(|url| MediaServerConfig {
            url,
            api_key: v.get(key_var).map(str::to_string),
        }),
    )
}

fn parse_extra_link(v: &Vars) -> Result<Option<(Url, String)>, ConfigError> {
    let Some(url) = parse_base_url("LOGIN_EXTRA_LINK_URL", v.get("LOGIN_EXTRA_LINK_URL"))? else {
        return Ok(None);
    };
    let text = v.get("LOGIN_EXTRA_LINK_TEXT").unwrap_or("More").to_string();
    Ok(Some((url, text)))
}

fn parse_ldap(v: &Vars) -> Result<LdapConfig, ConfigError> {
    let listen_addr = v
        .get("LDAP_LISTEN_ADDR")
        .map(|s| {
            s.parse().map_err(|_| {
                err(
                    "LDAP_LISTEN_ADDR",
                    format!("expected IP:PORT such as 127.0.0.1:3890, got {s:?}"),
                )
            })
        })
        .transpose()?;
    let base_dn = v.get("LDAP_BASE_DN").unwrap_or("dc=authportal,dc=local");
    if crate::ldap::dn::Dn::parse(base_dn).is_none_or(|d| d.0.is_empty()) {
        return Err(err(
            "LDAP_BASE_DN",
            format!("expected a DN such as dc=example,dc=com, got {base_dn:?}"),
        ));
    }
    let tls = match (v.get("LDAP_TLS_CERT"), v.get("LDAP_TLS_KEY")) {
        (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
        (None, None) => None,
        (Some(_), None) => return Err(err("LDAP_TLS_KEY", "required with LDAP_TLS_CERT")),
        (None, Some(_)) => return Err(err("LDAP_TLS_CERT", "required with LDAP_TLS_KEY")),
    };
    Ok(LdapConfig {
        listen_addr,
        base_dn: base_dn.to_string(),
        tls,
        media_password_bind: v.bool("LDAP_MEDIA_PASSWORD_BIND", false)?,
        anonymous_search: v.bool("LDAP_ALLOW_ANONYMOUS", false)?,
    })
}

fn parse_workers(s: Option<&str>) -> Result<usize, ConfigError> {
    let Some(s) = s else { return Ok(16) };
    match s.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(err(
            "HTTP_WORKERS",
            format!("expected a number from 1 to 1024, got {s:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn defaults_need_nothing() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.listen_addr.to_string(), "0.0.0.0:8089");
        assert_eq!(c.origin(), "http://localhost:8089");
        assert!(c.providers.is_empty());
        assert!(!c.secure_cookies());
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (pairs, var) in [
            (vec![("DATA_KEY", "not base64!!")], "DATA_KEY"),
            (vec![("DATA_KEY", "c2hvcnQ=")], "DATA_KEY"),
            (vec![("MEDIA_SERVER", "plex,kodi")], "MEDIA_SERVER"),
            (vec![("APP_BASE_URL", "localhost:8089")], "APP_BASE_URL"),
            (vec![("APP_BASE_URL", "ftp://x.example")], "APP_BASE_URL"),
            (vec![("SESSION_SECRET", "short")], "SESSION_SECRET"),
            (vec![("LISTEN_ADDR", "8089")], "LISTEN_ADDR"),
            (vec![("LDAP_LISTEN_ADDR", "3890")], "LDAP_LISTEN_ADDR"),
            (vec![("LDAP_BASE_DN", "example.com")], "LDAP_BASE_DN"),
            (vec![("LDAP_TLS_CERT", "/x.pem")], "LDAP_TLS_KEY"),
            (vec![("APP_TIMEZONE", "Mars/Olympus_Mons")], "APP_TIMEZONE"),
            (vec![("MFA_ENFORCE", "maybe")], "MFA_ENFORCE"),
            (
                vec![("TRUSTED_PROXY_CIDRS", "10.0.0.0/33")],
                "TRUSTED_PROXY_CIDRS",
            ),
            (vec![("OUTBOUND_ALLOW", "127.0.0.1:8080")], "OUTBOUND_ALLOW"),
            (vec![("MEDIA_SERVER", "jellyfin")], "JELLYFIN_SERVER_URL"),
            (vec![("MEDIA_SERVER", "plex")], "PLEX_SERVER_MACHINE_ID"),
            (
                vec![("SESSION_COOKIE_DOMAIN", "https://x.com/")],
                "SESSION_COOKIE_DOMAIN",
            ),
        ] {
            let e = cfg(&pairs).unwrap_err();
            assert_eq!(e.var, var, "{pairs:?} -> {e}");
        }
    }

    #[test]
    fn lists_parse() {
        let c = cfg(&[
            ("MEDIA_SERVER", " Plex , jellyfin,plex"),
            ("PLEX_SERVER_MACHINE_ID", "abc"),
            ("JELLYFIN_SERVER_URL", "http://jf.lan:8096/jellyfin"),
            ("ADMIN_BOOTSTRAP_USERS", "alice:alice@example.com, bob"),
            ("SESSION_COOKIE_DOMAIN", ".Example.COM"),
            ("DATA_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        ])
        .unwrap();
        assert_eq!(
            c.providers,
            vec![ProviderKind::Plex, ProviderKind::Jellyfin]
        );
        assert_eq!(
            c.admin_bootstrap[0].email.as_deref(),
            Some("alice@example.com")
        );
        assert_eq!(c.admin_bootstrap[1].email, None);
        assert_eq!(
            cfg(&[("ADMIN_BOOTSTRAP_USERS", "plex:alice")])
                .unwrap_err()
                .var,
            "ADMIN_BOOTSTRAP_USERS"
        );
        assert_eq!(c.cookie_domain.as_deref(), Some("example.com"));
        assert_eq!(c.data_key.unwrap().len(), 32);
    }
}
