//! Where a sign-in may send the browser afterwards (`rd`): a path on the portal, a URL on
//! the portal's own origin (scheme, host and port), or an http(s) URL on a host inside
//! SESSION_COOKIE_DOMAIN. Hosts are compared in canonical form (access::canonical).
//! Everything else, including any URL with userinfo, is refused.

use std::net::IpAddr;

use url::Url;

use crate::access::canonical;
use crate::config::Config;

pub fn safe_rd(cfg: &Config, raw: &str) -> Option<String> {
    let raw = raw.trim();
    // Browsers drop tabs and newlines inside URLs and read \ as /: refuse rather than guess.
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
    let host = canonical::host_name(url.host_str()?).ok()?;
    let allowed = same_origin(&url, &host, &cfg.base_url)
        || cfg
            .cookie_domain
            .as_deref()
            .is_some_and(|d| in_domain(&host, d));
    allowed.then(|| url.to_string())
}

/// Same scheme, canonical host and port (default ports filled in) as the portal.
fn same_origin(url: &Url, host: &str, base: &Url) -> bool {
    let base_host = base.host_str().and_then(|h| canonical::host_name(h).ok());
    url.scheme() == base.scheme()
        && base_host.as_deref() == Some(host)
        && url.port_or_known_default() == base.port_or_known_default()
}

/// The host equals the cookie domain or is a subdomain of it; an IP must be equal.
fn in_domain(host: &str, domain: &str) -> bool {
    let domain = match domain.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
        Ok(IpAddr::V4(ip)) => ip.to_string(),
        Err(_) => match canonical::host_name(domain) {
            Ok(d) => d,
            Err(_) => return false,
        },
    };
    let host_is_ip = host.starts_with('[') || host.parse::<IpAddr>().is_ok();
    host == domain || (!host_is_ip && host.ends_with(&format!(".{domain}")))
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

    #[test]
    fn without_a_cookie_domain_only_the_portals_own_origin() {
        let c = cfg(None);
        for good in [
            "https://auth.example.com/x",
            "https://AUTH.Example.com/x",
            "https://auth.example.com./x",
            "https://auth.example.com:443/x",
            "/home",
        ] {
            assert!(safe_rd(&c, good).is_some(), "{good:?}");
        }
        for bad in [
            "http://auth.example.com/x",
            "https://auth.example.com:8443/x",
            "http://auth.example.com:443/x",
            "https://user@auth.example.com/x",
            "https://auth.example.com@evil.com/x",
            "/\\evil.com",
            "//evil.com",
            "https:evil.com",
            "https:auth.example.com.evil.com",
            "https://auth.example.com\t/x",
            "https://auth.exa\nmple.com/x",
            "https://evil.com\\@auth.example.com/",
            "https://auth.example.com%2F@evil.com/",
            "https://auth.example.com../x",
        ] {
            assert_eq!(safe_rd(&c, bad), None, "{bad:?}");
        }
        let lan = |base: &str| {
            let mut vars = BTreeMap::new();
            vars.insert("APP_BASE_URL".to_string(), base.to_string());
            Config::from_vars(&vars).unwrap()
        };
        let portal = lan("http://portal:8089");
        assert!(safe_rd(&portal, "http://portal:8089/home").is_some());
        assert!(safe_rd(&portal, "http://PORTAL.:8089/home").is_some());
        assert_eq!(safe_rd(&portal, "http://portal:8090/home"), None);
        assert_eq!(safe_rd(&portal, "http://portal/home"), None);
        assert_eq!(safe_rd(&portal, "https://portal:8089/home"), None);
        let v6 = lan("http://[::1]:8089");
        assert!(safe_rd(&v6, "http://[0:0::1]:8089/").is_some());
        assert_eq!(safe_rd(&v6, "http://[::2]:8089/"), None);
    }

    #[test]
    fn cookie_domain_hosts_are_compared_canonically() {
        let c = cfg(Some("example.com"));
        assert!(safe_rd(&c, "https://Grafana.EXAMPLE.com./d").is_some());
        assert!(safe_rd(&c, "http://grafana.example.com:3000/").is_some());
        assert_eq!(safe_rd(&c, "https://grafana.example.com../"), None);
        let ip = cfg(Some("0.1"));
        assert_eq!(
            safe_rd(&ip, "http://10.0.0.1/"),
            None,
            "an IP is never a subdomain"
        );
    }
}
