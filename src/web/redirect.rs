//! Where a sign-in may send the browser afterwards (`rd`): a path on the portal, or an
//! http(s) URL on the portal's host or inside SESSION_COOKIE_DOMAIN. Everything else,
//! including any URL with userinfo, is refused.

use url::{Host, Url};

use crate::config::Config;

pub fn safe_rd(cfg: &Config, raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 2048 || raw.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    if raw.starts_with('/') {
        // "//evil.example" and "/\evil" are protocol-relative to browsers.
        return (!raw.starts_with("//")).then(|| raw.to_string());
    }
    let url = Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let host = url.host()?;
    let allowed = same_host(&host, &cfg.base_url)
        || cfg
            .cookie_domain
            .as_deref()
            .is_some_and(|d| in_domain(&host, d));
    allowed.then(|| url.to_string())
}

fn same_host(host: &Host<&str>, base: &Url) -> bool {
    base.host()
        .is_some_and(|b| b.to_string() == host.to_string())
}

/// The host equals the cookie domain or is a subdomain of it; an IP must be equal.
fn in_domain(host: &Host<&str>, domain: &str) -> bool {
    match host {
        Host::Domain(h) => {
            let h = h.to_ascii_lowercase();
            h == domain || h.ends_with(&format!(".{domain}"))
        }
        ip => ip.to_string().trim_matches(['[', ']']) == domain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cfg(domain: Option<&str>) -> Config {
        let mut vars = BTreeMap::new();
        vars.insert(
            "APP_BASE_URL".to_string(),
            "https://auth.example.com".to_string(),
        );
        if let Some(d) = domain {
            vars.insert("SESSION_COOKIE_DOMAIN".to_string(), d.to_string());
        }
        Config::from_vars(&vars).unwrap()
    }

    #[test]
    fn accepts_portal_paths_and_cookie_domain_hosts() {
        let c = cfg(Some("example.com"));
        assert_eq!(safe_rd(&c, "/home").as_deref(), Some("/home"));
        assert!(safe_rd(&c, "https://auth.example.com/x").is_some());
        assert!(safe_rd(&c, "https://grafana.example.com/d?x=1").is_some());
        assert!(safe_rd(&c, "http://example.com/").is_some());
        let lan = cfg(Some("192.168.1.10"));
        assert!(safe_rd(&lan, "http://192.168.1.10:3000/").is_some());
        assert!(safe_rd(&lan, "http://192.168.1.11:3000/").is_none());
    }

    #[test]
    fn refuses_everything_else() {
        let c = cfg(Some("example.com"));
        for bad in [
            "//evil.com/",
            "/\\evil.com",
            "https://evil.com/",
            "https://example.com.evil.com/",
            "https://evilexample.com/",
            "https://user@grafana.example.com/",
            "https://grafana.example.com@evil.com/",
            "javascript:alert(1)",
            "data:text/html,x",
            "ftp://example.com/",
            "/\t/evil.com",
            "%2F%2Fevil.com",
            "https://example.com%2F@evil.com",
            "https://grafana.example.com%40evil.com",
            "https://evil.com#.example.com",
            "https://evil.com?.example.com",
            "https://evil.com\\.example.com",
            "https:evil.com",
            "HTTPS://EVIL.COM/",
            "https://ex\u{0430}mple.com/",
            "http://localhost@evil.com/",
            "https://example.com.evil.com/",
            "//example.com@evil.com",
            "/home\r\nX: y",
            "",
        ] {
            assert_eq!(safe_rd(&c, bad), None, "{bad:?}");
        }
        assert_eq!(safe_rd(&cfg(None), "https://grafana.example.com/"), None);
    }
}
