//! The next steps after setup, shown on the console overview: the addresses to share,
//! forward-auth snippets for this install, and warnings about what is off, each saying
//! what to do. The snippets are the README's tested ones: the templates beside this file
//! are the one source, and a docs test checks the README shows them rendered with its
//! example addresses.

use std::net::IpAddr;

use url::Url;

use crate::config::Config;

/// The reverse proxies the portal has forward-auth snippets for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proxy {
    Nginx,
    Caddy,
    Traefik,
}

impl Proxy {
    pub const ALL: [Proxy; 3] = [Proxy::Nginx, Proxy::Caddy, Proxy::Traefik];

    /// The id of its snippet (README's `<!-- snippet:NAME -->` marker, the page's ids).
    pub fn name(self) -> &'static str {
        match self {
            Proxy::Nginx => "nginx",
            Proxy::Caddy => "caddy",
            Proxy::Traefik => "traefik",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Proxy::Nginx => "nginx",
            Proxy::Caddy => "Caddy",
            Proxy::Traefik => "Traefik (dynamic configuration)",
        }
    }

    fn template(self) -> &'static str {
        match self {
            Proxy::Nginx => include_str!("nginx.conf"),
            Proxy::Caddy => include_str!("Caddyfile"),
            Proxy::Traefik => include_str!("traefik.yaml"),
        }
    }

    /// The snippet with this install's addresses filled in.
    pub fn render(self, i: &Install) -> String {
        self.template()
            .replace("{{portal_host}}", &i.portal_host)
            .replace("{{portal}}", &i.portal)
            .replace("{{app_host}}", &i.app_host)
            .replace("{{app}}", &i.app)
    }
}

/// The addresses a snippet names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    /// The name the portal is served as (APP_BASE_URL's host).
    pub portal_host: String,
    /// Where the proxy reaches the portal (LISTEN_ADDR, seen from the same machine).
    pub portal: String,
    /// An app's name under the cookie domain.
    pub app_host: String,
    /// Where the proxy reaches the app: the owner's own, so an example address.
    pub app: String,
}

/// Where the README's snippets put the app.
const EXAMPLE_APP: &str = "127.0.0.1:9000";

impl Install {
    /// The README's example addresses.
    pub fn readme_example() -> Install {
        Install {
            portal_host: "auth.example.com".into(),
            portal: "127.0.0.1:8089".into(),
            app_host: "app.example.com".into(),
            app: EXAMPLE_APP.into(),
        }
    }

    /// This install's addresses; the proxy is assumed to run on the same machine.
    pub fn of(cfg: &Config) -> Install {
        let portal_host = cfg.base_url.host_str().unwrap_or("localhost").to_string();
        let listen = cfg.listen_addr;
        let ip = match listen.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => "127.0.0.1".to_string(),
            IpAddr::V6(v6) if v6.is_unspecified() => "[::1]".to_string(),
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        let app_host = match cfg.cookie_domain.as_deref() {
            Some(d) if d.parse::<IpAddr>().is_ok() => d.to_string(),
            Some(d) => format!("app.{d}"),
            None => match parent_domain(&portal_host) {
                Some(d) => format!("app.{d}"),
                // An address or a bare name has no domain to put apps under.
                None => "app.example.com".to_string(),
            },
        };
        Install {
            portal_host,
            portal: format!("{ip}:{}", listen.port()),
            app_host,
            app: EXAMPLE_APP.into(),
        }
    }
}

/// `auth.example.com` -> `example.com`, `example.com` stays; an address or a name of one
/// label (localhost) has none.
fn parent_domain(host: &str) -> Option<&str> {
    if host.parse::<IpAddr>().is_ok() || host.starts_with('[') || !host.contains('.') {
        return None;
    }
    match host.split_once('.') {
        Some((_, rest)) if rest.contains('.') => Some(rest),
        _ => Some(host),
    }
}

/// What the portal knows about its install, for the warnings.
pub struct Facts<'a> {
    pub base_url: &'a Url,
    pub cookie_domain: Option<&'a str>,
    /// Every host the access rules name (`*.example.com` as written).
    pub rule_hosts: Vec<String>,
    /// None when no pass has run yet.
    pub revalidation_failing: Option<bool>,
    pub backups_scheduled: bool,
    pub metrics_token: bool,
    /// The proxy this request came through (it sent X-Forwarded-For) when
    /// TRUSTED_PROXY_CIDRS does not name it.
    pub untrusted_proxy: Option<IpAddr>,
}

/// Something off, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// A stable id (the page's `data-warning`).
    pub id: &'static str,
    pub text: String,
    /// The console page where it is fixed, if it is fixed there: (href, link text).
    pub fix_at: Option<(&'static str, &'static str)>,
}

pub fn warnings(f: &Facts) -> Vec<Warning> {
    let mut out = Vec::new();
    let host = f.base_url.host_str().unwrap_or("");
    if f.base_url.scheme() != "https" && !is_local(host) {
        out.push(Warning {
            id: "https",
            fix_at: None,
            text: format!(
                "The portal is served over plain HTTP at {host}: passwords and session cookies \
                 cross the network unencrypted. Serve it through your reverse proxy with a \
                 certificate and set APP_BASE_URL=https://{host}."
            ),
        });
    }
    if let Some(proxy) = f.untrusted_proxy {
        out.push(Warning {
            id: "proxy",
            text: format!(
                "This page came through a proxy at {proxy} that the portal does not trust, so \
                 every visitor looks like {proxy} to it (network rules, the sign-in log and \
                 rate limits see one address). Set TRUSTED_PROXY_CIDRS={proxy} (or its network)."
            ),
            fix_at: None,
        });
    }
    let uncovered: Vec<&str> = f
        .rule_hosts
        .iter()
        .map(String::as_str)
        .filter(|h| !cookie_reaches(f.cookie_domain, host, h))
        .collect();
    if !uncovered.is_empty() {
        let now = match f.cookie_domain {
            Some(d) => format!("SESSION_COOKIE_DOMAIN is {d}"),
            None => format!("SESSION_COOKIE_DOMAIN is not set, so it reaches only {host}"),
        };
        out.push(Warning {
            id: "cookie-domain",
            fix_at: Some(("/admin/settings/access", "Access rules")),
            text: format!(
                "Access rules name {}, which the session cookie does not reach ({now}): people \
                 will look signed out there. Set SESSION_COOKIE_DOMAIN to a domain both the \
                 portal and those apps are under, or serve the apps under it.",
                uncovered.join(", ")
            ),
        });
    }
    if f.revalidation_failing == Some(true) {
        out.push(Warning {
            id: "revalidation",
            fix_at: Some(("/admin/media", "Media servers")),
            text: "Re-validation is failing: the portal cannot ask the media server whether \
                   people still have access. Check that the server is up and reachable from \
                   here (run authportal check); the panel below shows the last error."
                .into(),
        });
    }
    if !f.backups_scheduled {
        out.push(Warning {
            id: "backups",
            fix_at: Some(("/admin/backups", "Backups")),
            text: "No backup schedule: nothing is backed up unless you make a backup by hand. \
                   Turn on a schedule on the Backups page, and keep a copy of DATA_KEY off this \
                   machine (backups cannot be read without it)."
                .into(),
        });
    }
    if !f.metrics_token {
        out.push(Warning {
            id: "metrics",
            fix_at: None,
            text: "/metrics is open to anyone who can reach the portal. Set METRICS_TOKEN and \
                   give Prometheus the same value as its bearer token."
                .into(),
        });
    }
    out
}

/// localhost, *.localhost and loopback addresses never leave the machine.
fn is_local(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h == "localhost"
        || h.ends_with(".localhost")
        || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether the browser sends the session cookie to `rule_host`: the cookie domain and its
/// subdomains, or (with none) the portal's own host only.
fn cookie_reaches(cookie_domain: Option<&str>, portal_host: &str, rule_host: &str) -> bool {
    let h = rule_host.trim().trim_end_matches('.').to_ascii_lowercase();
    let h = h.strip_prefix("*.").unwrap_or(&h);
    match cookie_domain {
        Some(d) => h == d || h.ends_with(&format!(".{d}")),
        None => h == portal_host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_reaches_its_domain_and_subdomains_only() {
        let d = Some("example.com");
        assert!(cookie_reaches(d, "auth.example.com", "app.example.com"));
        assert!(cookie_reaches(d, "auth.example.com", "*.Example.COM."));
        assert!(cookie_reaches(d, "auth.example.com", "example.com"));
        assert!(!cookie_reaches(d, "auth.example.com", "badexample.com"));
        assert!(!cookie_reaches(d, "auth.example.com", "app.other.net"));
        assert!(cookie_reaches(None, "auth.example.com", "auth.example.com"));
        assert!(!cookie_reaches(None, "auth.example.com", "app.example.com"));
    }

    #[test]
    fn each_warning_has_its_own_cause() {
        let url = Url::parse("https://auth.example.com").unwrap();
        let fine = Facts {
            rule_hosts: vec!["*.example.com".into(), "app.example.com".into()],
            ..all_well(&url)
        };
        assert_eq!(warnings(&fine), vec![]);
        let ids = |f: &Facts| warnings(f).into_iter().map(|w| w.id).collect::<Vec<_>>();
        let http = Url::parse("http://auth.example.com").unwrap();
        assert_eq!(
            ids(&Facts {
                base_url: &http,
                ..all_well(&url)
            }),
            ["https"]
        );
        let far = Facts {
            rule_hosts: vec!["app.example.com".into(), "tv.other.net".into()],
            ..all_well(&url)
        };
        let w = warnings(&far);
        assert_eq!(w.len(), 1);
        assert!(w[0].text.contains("tv.other.net") && !w[0].text.contains("app.example.com"));
        let failing = Facts {
            revalidation_failing: Some(true),
            backups_scheduled: false,
            metrics_token: false,
            ..all_well(&url)
        };
        assert_eq!(ids(&failing), ["revalidation", "backups", "metrics"]);
        let never_ran = Facts {
            revalidation_failing: None,
            ..all_well(&url)
        };
        assert_eq!(ids(&never_ran), Vec::<&str>::new());
        let proxied = Facts {
            untrusted_proxy: Some("10.0.0.2".parse().unwrap()),
            ..all_well(&url)
        };
        assert_eq!(ids(&proxied), ["proxy"]);
        assert!(
            warnings(&proxied)[0]
                .text
                .contains("TRUSTED_PROXY_CIDRS=10.0.0.2")
        );
    }

    /// An https install with a cookie domain, a backup schedule and a metrics token.
    fn all_well(url: &Url) -> Facts<'_> {
        Facts {
            base_url: url,
            cookie_domain: Some("example.com"),
            rule_hosts: vec![],
            revalidation_failing: Some(false),
            backups_scheduled: true,
            metrics_token: true,
            untrusted_proxy: None,
        }
    }

    #[test]
    fn snippets_name_this_install() {
        let of = |pairs: &[(&str, &str)]| {
            let vars = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Install::of(&Config::from_vars(&vars).unwrap())
        };
        let lan = of(&[("APP_BASE_URL", "http://192.168.1.5:8089")]);
        assert_eq!(
            (
                lan.portal_host.as_str(),
                lan.portal.as_str(),
                lan.app_host.as_str()
            ),
            ("192.168.1.5", "127.0.0.1:8089", "app.example.com")
        );
        let named = of(&[
            ("APP_BASE_URL", "https://sso.home.lan"),
            ("LISTEN_ADDR", "10.0.0.4:9999"),
        ]);
        assert_eq!(
            (named.portal.as_str(), named.app_host.as_str()),
            ("10.0.0.4:9999", "app.home.lan")
        );
        let shared = of(&[
            ("APP_BASE_URL", "https://sso.home.lan"),
            ("SESSION_COOKIE_DOMAIN", "home.lan"),
        ]);
        assert_eq!(shared.app_host, "app.home.lan");
        let nginx = Proxy::Nginx.render(&shared);
        assert!(nginx.contains("server_name sso.home.lan;") && !nginx.contains("{{"));
    }

    #[test]
    fn local_addresses_need_no_https() {
        for h in ["localhost", "127.0.0.1", "[::1]", "portal.localhost"] {
            assert!(is_local(h), "{h}");
        }
        for h in ["192.168.1.5", "auth.example.com", "localhost.example.com"] {
            assert!(!is_local(h), "{h}");
        }
        assert_eq!(parent_domain("auth.example.com"), Some("example.com"));
        assert_eq!(parent_domain("example.com"), Some("example.com"));
        assert_eq!(parent_domain("192.168.1.5"), None);
        assert_eq!(parent_domain("localhost"), None);
    }
}
