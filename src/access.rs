//! Forward-auth access rules: which request (host, path, method, client IP) needs whom.
//! Pure matching, no I/O: the HTTP side is web/forward_auth.rs.
//!
//! Rules are ordered; the first whose host, path and method match decides. No match
//! falls to the default policy.

use std::collections::BTreeMap;
use std::net::IpAddr;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::net::Cidr;
use crate::providers::ProviderKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Anyone, signed in or not.
    Bypass,
    /// No one.
    Deny,
    /// Any authorized user (narrowed by the rule's users/groups).
    #[default]
    SignedIn,
    /// Like signed_in, and the session passed a second factor.
    TwoFactor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    /// Clients in `networks` pass without signing in.
    #[default]
    Bypass,
    /// Only clients in `networks` may pass at all.
    Require,
}

/// A media server whose tokens a rule may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaProvider {
    Plex,
    Jellyfin,
    Emby,
}

impl MediaProvider {
    pub fn kind(self) -> ProviderKind {
        match self {
            MediaProvider::Plex => ProviderKind::Plex,
            MediaProvider::Jellyfin => ProviderKind::Jellyfin,
            MediaProvider::Emby => ProviderKind::Emby,
        }
    }
}

/// Logging a user into an app that keeps its own session cookie (the Tautulli case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginCookie {
    /// Where the app signs people in, e.g. http://tautulli:8181/auth/signin.
    pub url: String,
    /// Form fields, as templates: `{user}`, `{email}`, `{uid}`, `{media_token}` (the
    /// rule's `media_provider` token).
    pub form: BTreeMap<String, String>,
    /// How long a cookie is reused when the app gives no Max-Age.
    #[serde(default = "default_cookie_ttl")]
    pub ttl_secs: u64,
}

fn default_cookie_ttl() -> u64 {
    3600
}

impl LoginCookie {
    /// Whether the sign-in form carries the person's media-server token.
    pub fn sends_media_token(&self) -> bool {
        self.form.values().any(|v| v.contains("{media_token}"))
    }
}

/// Ways in for native apps that cannot follow a sign-in redirect (TV and mobile apps).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NativeApps {
    /// A request carrying a media-server token the portal validated passes as its owner
    /// (Plex and Jellyfin tokens: Emby cannot say whose a token is).
    pub media_token: bool,
    /// A request from an IP where an allowed user signed in within this many hours
    /// passes, as no one: an address is not a person (0 = off).
    pub trusted_ip_hours: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    #[serde(default)]
    pub name: String,
    /// Exact hosts or `*.example.com` (any subdomain); empty = every host.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Path prefixes; empty = every path.
    #[serde(default)]
    pub paths: Vec<String>,
    /// A regular expression the path must match (in addition to `paths`).
    #[serde(default)]
    pub path_regex: Option<String>,
    /// Methods; empty = every method.
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default)]
    pub policy: Policy,
    /// Usernames or user UUIDs allowed (with `groups`: either matches); empty = anyone.
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub networks: Vec<String>,
    #[serde(default)]
    pub network_mode: NetworkMode,
    /// Extra headers for the app, as templates: `{user}`, `{email}`, `{name}`, `{groups}`, `{uid}`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Pass the user's own media-server token (X-Plex-Token or X-Emby-Token).
    #[serde(default)]
    pub inject_media_token: bool,
    #[serde(default)]
    pub login_cookie: Option<LoginCookie>,
    /// Whose media token the rule sends (`inject_media_token`, `{media_token}`): a
    /// Plex app must never receive a Jellyfin token, nor the reverse. Required for new
    /// rules that send one; a stored rule without it uses the one configured provider.
    #[serde(default)]
    pub media_provider: Option<MediaProvider>,
    /// A person without a `media_provider` identity is refused (403) instead of passing
    /// without a token.
    #[serde(default)]
    pub media_token_required: bool,
    #[serde(default)]
    pub native_apps: NativeApps,
}

/// Section "access" of the runtime settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessSpec {
    #[serde(default)]
    pub default_policy: Policy,
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
}

impl Default for AccessSpec {
    fn default() -> Self {
        AccessSpec {
            default_policy: Policy::SignedIn,
            rules: Vec::new(),
        }
    }
}

/// A checked rule, ready to match.
#[derive(Debug, Clone)]
pub struct Rule {
    pub spec: RuleSpec,
    regex: Option<Regex>,
    networks: Vec<Cidr>,
}

#[derive(Debug, Clone, Default)]
pub struct AccessRules {
    pub default_policy: Policy,
    pub rules: Vec<Rule>,
}

/// Header names an owner may not set: they would break the proxy or HTTP itself.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "location",
    "set-cookie",
];

impl AccessRules {
    /// Checks every rule; the error names the rule and the problem.
    pub fn compile(spec: &AccessSpec) -> Result<AccessRules, String> {
        let rules = spec
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                compile_rule(r).map_err(|e| {
                    format!(
                        "rule {} ({}): {e}",
                        i + 1,
                        if r.name.is_empty() {
                            "unnamed"
                        } else {
                            &r.name
                        }
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AccessRules {
            default_policy: spec.default_policy,
            rules,
        })
    }

    /// The first rule matching this request, if any.
    pub fn find(&self, t: &Target) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matches(t))
    }
}

fn compile_rule(r: &RuleSpec) -> Result<Rule, String> {
    for h in &r.hosts {
        let bare = h.strip_prefix("*.").unwrap_or(h);
        if bare.is_empty() || bare.contains(['/', ':', '*', ' ']) {
            return Err(format!("host {h:?} must be a host name or *.domain"));
        }
    }
    for p in &r.paths {
        if !p.starts_with('/') {
            return Err(format!("path {p:?} must start with /"));
        }
    }
    let regex = match &r.path_regex {
        Some(src) => Some(
            regex::RegexBuilder::new(src)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("path_regex is not a valid regular expression: {e}"))?,
        ),
        None => None,
    };
    let networks = r
        .networks
        .iter()
        .map(|n| Cidr::parse(n).ok_or_else(|| format!("network {n:?} is not an IP or CIDR")))
        .collect::<Result<Vec<_>, _>>()?;
    for name in r.headers.keys() {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid || RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(format!("header {name:?} cannot be injected"));
        }
    }
    if let Some(lc) = &r.login_cookie {
        let url = url::Url::parse(&lc.url)
            .map_err(|_| format!("login_cookie.url {:?} is not a URL", lc.url))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("login_cookie.url must be http(s)".into());
        }
    }
    Ok(Rule {
        spec: r.clone(),
        regex,
        networks,
    })
}

/// The request the proxy asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: String,
    /// Lowercase, without port.
    pub host: String,
    pub port: Option<u16>,
    /// Path and query as sent ("/a/b?c=d").
    pub uri: String,
    pub method: String,
}

impl Target {
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or("/")
    }

    pub fn url(&self) -> String {
        match self.port {
            Some(p) => format!("{}://{}:{p}{}", self.scheme, self.host, self.uri),
            None => format!("{}://{}{}", self.scheme, self.host, self.uri),
        }
    }
}

impl Rule {
    fn matches(&self, t: &Target) -> bool {
        let host_ok = self.spec.hosts.is_empty()
            || self.spec.hosts.iter().any(|h| match h.strip_prefix("*.") {
                Some(domain) => {
                    t.host.len() > domain.len() + 1
                        && t.host
                            .ends_with(&format!(".{}", domain.to_ascii_lowercase()))
                }
                None => t.host.eq_ignore_ascii_case(h),
            });
        let path = t.path();
        let path_ok = self.spec.paths.is_empty()
            || self.spec.paths.iter().any(|p| path.starts_with(p.as_str()));
        let regex_ok = self.regex.as_ref().is_none_or(|r| r.is_match(path));
        let method_ok = self.spec.methods.is_empty()
            || self
                .spec
                .methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(&t.method));
        host_ok && path_ok && regex_ok && method_ok
    }

    /// Whether the client address is in the rule's networks.
    pub fn in_networks(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|n| n.contains(ip))
    }

    pub fn has_networks(&self) -> bool {
        !self.networks.is_empty()
    }

    /// Whether this user may pass (no users and no groups listed: anyone).
    pub fn admits(&self, username: &str, uuid: &str, groups: &[String]) -> bool {
        if self.spec.users.is_empty() && self.spec.groups.is_empty() {
            return true;
        }
        self.spec
            .users
            .iter()
            .any(|u| u.eq_ignore_ascii_case(username) || u == uuid)
            || self.spec.groups.iter().any(|g| groups.contains(g))
    }
}

/// Fills `{user}`, `{email}`, `{name}`, `{groups}`, `{uid}` (and `{media_token}` where
/// allowed). Unknown placeholders stay as written; CR/LF never reach a header.
pub fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out.replace(['\r', '\n'], "")
}

impl RuleSpec {
    /// Whether the app gets the person's media-server token (as a header or in the
    /// login_cookie form).
    pub fn sends_media_token(&self) -> bool {
        self.inject_media_token
            || self
                .login_cookie
                .as_ref()
                .is_some_and(LoginCookie::sends_media_token)
    }

    /// Whose token this rule sends: the one it names, or (a rule stored before it had
    /// to say) the only media server configured. None: send no token at all.
    pub fn media_provider(&self, enabled: &[ProviderKind]) -> Option<ProviderKind> {
        match (self.media_provider, enabled) {
            (Some(p), _) => Some(p.kind()),
            (None, [only]) => Some(*only),
            (None, _) => None,
        }
    }

    fn label(&self, index: usize) -> String {
        let name = if self.name.is_empty() {
            "unnamed"
        } else {
            &self.name
        };
        format!("rule {} ({name})", index + 1)
    }
}

/// Checks an owner's edit beyond what compiles: a new rule that sends a media token
/// must say whose (rules already `stored` keep working as they were), and native apps'
/// tokens need a media server that can say whose a token is.
pub fn check_edit(
    new: &AccessSpec,
    stored: &AccessSpec,
    enabled: &[ProviderKind],
) -> Result<(), String> {
    for (i, r) in new.rules.iter().enumerate() {
        let kept = stored.rules.contains(r);
        if r.sends_media_token() && r.media_provider.is_none() && !kept {
            return Err(format!(
                "{}: it sends a media token, so it must say whose with \"media_provider\": \
                 \"plex\", \"jellyfin\" or \"emby\" (a Plex app must not get a Jellyfin token)",
                r.label(i)
            ));
        }
        let only_emby = enabled.contains(&ProviderKind::Emby)
            && !enabled
                .iter()
                .any(|p| matches!(p, ProviderKind::Plex | ProviderKind::Jellyfin));
        if r.native_apps.media_token && only_emby && !kept {
            return Err(format!(
                "{}: native_apps.media_token cannot work with Emby: Emby has no call that \
                 says whose a token is (Jellyfin has /Users/Me, Plex has plex.tv), so every \
                 Emby app would be refused; use native_apps.trusted_ip_hours or networks",
                r.label(i)
            ));
        }
    }
    Ok(())
}

/// What the console should point out about saved rules (they still apply).
pub fn warnings(spec: &AccessSpec, enabled: &[ProviderKind]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, r) in spec.rules.iter().enumerate() {
        if r.sends_media_token() && r.media_provider(enabled).is_none() {
            out.push(format!(
                "{} sends a media token but does not say whose, and more than one media \
                 server is configured: it sends none until you set \"media_provider\"",
                r.label(i)
            ));
        }
        if r.native_apps.media_token && enabled.contains(&ProviderKind::Emby) {
            out.push(format!(
                "{}: native_apps.media_token accepts Plex and Jellyfin tokens only; Emby \
                 cannot say whose a token is, so Emby apps are not let in by their token",
                r.label(i)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(v: serde_json::Value) -> AccessRules {
        AccessRules::compile(&serde_json::from_value(v).unwrap()).unwrap()
    }

    fn target(host: &str, uri: &str, method: &str) -> Target {
        Target {
            scheme: "https".into(),
            host: host.into(),
            port: None,
            uri: uri.into(),
            method: method.into(),
        }
    }

    #[test]
    fn first_matching_rule_wins() {
        let r = rules(json!({"default_policy": "deny", "rules": [
            {"name": "api", "hosts": ["sonarr.example.com"], "paths": ["/api/"], "policy": "bypass"},
            {"name": "sonarr", "hosts": ["sonarr.example.com"], "groups": ["admins"]},
            {"name": "any sub", "hosts": ["*.example.com"], "methods": ["GET"], "policy": "signed_in"},
            {"name": "regex", "path_regex": "^/files/[0-9]+$", "policy": "two_factor"}
        ]}));
        let name = |t: Target| r.find(&t).map(|x| x.spec.name.clone());
        assert_eq!(
            name(target("sonarr.example.com", "/api/v3/series?x=1", "GET")).as_deref(),
            Some("api")
        );
        assert_eq!(
            name(target("SONARR.example.com", "/", "POST")).as_deref(),
            Some("sonarr")
        );
        assert_eq!(
            name(target("radarr.example.com", "/", "GET")).as_deref(),
            Some("any sub")
        );
        assert_eq!(name(target("radarr.example.com", "/", "POST")), None);
        assert_eq!(
            name(target("example.com", "/", "GET")),
            None,
            "*.example.com is subdomains only"
        );
        assert_eq!(name(target("evilexample.com", "/", "GET")), None);
        assert_eq!(
            name(target("other.org", "/files/12", "GET")).as_deref(),
            Some("regex")
        );
        assert_eq!(name(target("other.org", "/files/12/x", "GET")), None);
        assert_eq!(r.default_policy, Policy::Deny);
    }

    #[test]
    fn subjects_and_networks() {
        let r = rules(
            json!({"rules": [{"users": ["Alice"], "groups": ["plex-owner"], "networks": ["192.168.1.0/24"]}]}),
        );
        let rule = &r.rules[0];
        assert!(rule.admits("alice", "u1", &[]));
        assert!(rule.admits("bob", "u2", &["plex-owner".into()]));
        assert!(!rule.admits("bob", "u2", &["plex-friend".into()]));
        assert!(rule.in_networks("192.168.1.7".parse().unwrap()));
        assert!(!rule.in_networks("10.0.0.1".parse().unwrap()));
        assert_eq!(rule.spec.network_mode, NetworkMode::Bypass);
    }

    #[test]
    fn bad_rules_are_refused_with_a_reason() {
        for (v, want) in [
            (json!({"rules": [{"path_regex": "("}]}), "path_regex"),
            (json!({"rules": [{"paths": ["api"]}]}), "must start with /"),
            (json!({"rules": [{"hosts": ["https://x.com"]}]}), "host"),
            (json!({"rules": [{"networks": ["10.0.0.0/40"]}]}), "network"),
            (
                json!({"rules": [{"headers": {"Host": "x"}}]}),
                "cannot be injected",
            ),
            (
                json!({"rules": [{"headers": {"X-A\r\nB": "x"}}]}),
                "cannot be injected",
            ),
            (
                json!({"rules": [{"login_cookie": {"url": "javascript:x", "form": {}}}]}),
                "login_cookie",
            ),
        ] {
            let spec: AccessSpec = serde_json::from_value(v).unwrap();
            let e = AccessRules::compile(&spec).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
        assert!(
            serde_json::from_value::<AccessSpec>(json!({"rules": [{"polcy": "deny"}]})).is_err(),
            "typos are errors"
        );
        assert!(serde_json::from_value::<AccessSpec>(json!({"default_policy": "maybe"})).is_err());
    }

    #[test]
    fn templates_fill_and_never_break_lines() {
        let v = [("user", "alice"), ("groups", "a,b")];
        assert_eq!(
            render("{user} in {groups} {other}", &v),
            "alice in a,b {other}"
        );
        assert_eq!(
            render("{user}", &[("user", "evil\r\nX-Admin: 1")]),
            "evilX-Admin: 1"
        );
    }
    #[test]
    fn rules_that_send_a_media_token_say_whose() {
        use ProviderKind::{Emby, Jellyfin, Plex};
        let spec = |v: serde_json::Value| serde_json::from_value::<AccessSpec>(v).unwrap();
        let unnamed = spec(json!({"rules": [{"name": "t", "inject_media_token": true}]}));
        let none = AccessSpec::default();
        let e = check_edit(&unnamed, &none, &[Jellyfin]).unwrap_err();
        assert!(
            e.contains("rule 1 (t)") && e.contains("media_provider"),
            "{e}"
        );
        assert!(
            check_edit(&unnamed, &unnamed, &[Plex, Jellyfin]).is_ok(),
            "a stored rule saved again unchanged"
        );
        let rule = &unnamed.rules[0];
        assert_eq!(rule.media_provider(&[Jellyfin]), Some(Jellyfin));
        assert_eq!(rule.media_provider(&[Plex, Jellyfin]), None);
        assert!(warnings(&unnamed, &[Jellyfin]).is_empty());
        let w = warnings(&unnamed, &[Plex, Jellyfin]);
        assert!(w.len() == 1 && w[0].contains("sends none"), "{w:?}");
        let form_only = spec(
            json!({"rules": [{"login_cookie": {"url": "http://t/", "form": {"u": "{user}"}}}]}),
        );
        assert!(check_edit(&form_only, &none, &[Plex, Jellyfin]).is_ok());
        let named =
            spec(json!({"rules": [{"inject_media_token": true, "media_provider": "plex"}]}));
        assert_eq!(named.rules[0].media_provider(&[Jellyfin]), Some(Plex));
        let native = spec(json!({"rules": [{"native_apps": {"media_token": true}}]}));
        assert!(
            check_edit(&native, &none, &[Emby])
                .unwrap_err()
                .contains("Emby")
        );
        assert!(check_edit(&native, &none, &[Plex, Emby]).is_ok());
        assert!(
            check_edit(&native, &none, &[]).is_ok(),
            "no media server yet"
        );
        assert_eq!(warnings(&native, &[Plex, Emby]).len(), 1);
    }
}
