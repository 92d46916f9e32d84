//! Forward-auth access rules: which request (host, path, method, client IP) needs whom.
//! Matching here is pure, no I/O; decide.rs makes the decision (native.rs: native apps,
//! login_cookie.rs: signing in to apps); the HTTP side is web/forward_auth.rs.
//!
//! Rules are ordered; the first whose host, path and method match decides. No match
//! falls to the default policy. Hosts and paths, of requests and of rules alike, are
//! matched in their canonical form (canonical.rs).

pub mod canonical;
pub mod decide;
pub mod login_cookie;
pub mod native;
pub mod tester;

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

/// Rules written before `enabled` existed apply, as they always did.
fn enabled_by_default() -> bool {
    true
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

/// One rule as the owner writes it. `Default` is a new, empty rule: disabled until its
/// owner enables it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    #[serde(default)]
    pub name: String,
    /// A disabled rule is kept and checked but matches nothing (the console adds new
    /// rules disabled, so a half-written rule cannot open or close an app).
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Exact hosts or `*.example.com` (any subdomain); empty = every host.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Path prefixes; empty = every path.
    #[serde(default)]
    pub paths: Vec<String>,
    /// A regular expression the canonical path must match (in addition to `paths`).
    #[serde(default)]
    pub path_regex: Option<String>,
    /// The app needs encoded slashes (`%2F`, `%5C`) in paths: on this rule's hosts they are
    /// kept encoded instead of refused with a 400.
    #[serde(default)]
    pub allow_encoded_slash: bool,
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
    /// The spec's hosts and paths in canonical form.
    hosts: Vec<HostPattern>,
    paths: Vec<String>,
    regex: Option<Regex>,
    networks: Vec<Cidr>,
}

#[derive(Debug, Clone)]
enum HostPattern {
    Exact(String),
    /// `*.domain`: any subdomain of it, not the domain itself.
    SubdomainsOf(String),
}

impl HostPattern {
    fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(h) => host == h,
            HostPattern::SubdomainsOf(d) => host
                .strip_suffix(d.as_str())
                .and_then(|sub| sub.strip_suffix('.'))
                .is_some_and(|sub| !sub.is_empty()),
        }
    }
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
    /// Checks every rule, enabled or not; the error names the rule, then the field
    /// ("rule 2 (sonarr): hosts: ...", which the console's form reads to mark the field).
    /// Only enabled rules are kept to match.
    pub fn compile(spec: &AccessSpec) -> Result<AccessRules, String> {
        let mut rules = Vec::new();
        for (i, r) in spec.rules.iter().enumerate() {
            let rule =
                compile_rule(r).map_err(|(field, e)| format!("{}: {field}: {e}", r.label(i)))?;
            if r.enabled {
                rules.push(rule);
            }
        }
        Ok(AccessRules {
            default_policy: spec.default_policy,
            rules,
        })
    }

    /// The first rule matching this request, if any.
    pub fn find(&self, t: &Target) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matches(t))
    }

    /// The request the proxy asks about, in canonical form: `scheme` is http or https,
    /// `authority` is host[:port], `uri` is the path and query as sent. The path keeps
    /// encoded slashes only when a rule for this host allows them; what has no safe
    /// canonical form is refused.
    pub fn target(
        &self,
        scheme: &str,
        authority: &str,
        uri: &str,
        method: &str,
    ) -> Result<Target, canonical::Refusal> {
        let (host, port) = canonical::authority(authority, scheme)?;
        // A fragment never reaches a server; the query never decides a path rule.
        let uri = uri.split('#').next().unwrap_or_default();
        let raw_path = uri.split('?').next().unwrap_or_default();
        let path = match canonical::path(raw_path, false) {
            Err(canonical::Refusal::EncodedSlash) if self.encoded_slash_allowed(&host) => {
                canonical::path(raw_path, true)?
            }
            other => other?,
        };
        Ok(Target {
            scheme: scheme.to_string(),
            host,
            port,
            uri: uri.to_string(),
            path,
            method: method.to_string(),
        })
    }

    fn encoded_slash_allowed(&self, host: &str) -> bool {
        self.rules
            .iter()
            .any(|r| r.spec.allow_encoded_slash && r.host_matches(host))
    }
}

/// A rule's problem: the field (as the JSON names it) and what is wrong with it.
type FieldError = (&'static str, String);

fn compile_rule(r: &RuleSpec) -> Result<Rule, FieldError> {
    let hosts = r
        .hosts
        .iter()
        .map(|h| {
            compile_host(h).ok_or_else(|| format!("host {h:?} must be a host name or *.domain"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ("hosts", e))?;
    let paths = r
        .paths
        .iter()
        .map(|p| compile_path(p, r.allow_encoded_slash))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ("paths", e))?;
    let regex = match &r.path_regex {
        Some(src) => Some(
            regex::RegexBuilder::new(src)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| ("path_regex", format!("not a valid regular expression: {e}")))?,
        ),
        None => None,
    };
    let networks = r
        .networks
        .iter()
        .map(|n| Cidr::parse(n).ok_or_else(|| format!("network {n:?} is not an IP or CIDR")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ("networks", e))?;
    for name in r.headers.keys() {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid || RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(("headers", format!("header {name:?} cannot be injected")));
        }
    }
    if let Some(lc) = &r.login_cookie {
        let url = url::Url::parse(&lc.url)
            .map_err(|_| ("login_cookie.url", format!("{:?} is not a URL", lc.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(("login_cookie.url", "must be http(s)".into()));
        }
    }
    Ok(Rule {
        spec: r.clone(),
        hosts,
        paths,
        regex,
        networks,
    })
}

/// A rule's host in canonical form: `*.domain` keeps its wildcard.
fn compile_host(h: &str) -> Option<HostPattern> {
    match h.strip_prefix("*.") {
        Some(domain) => canonical::host_name(domain)
            .ok()
            .map(HostPattern::SubdomainsOf),
        None => canonical::host_name(h).ok().map(HostPattern::Exact),
    }
}

/// A rule's path prefix in canonical form, so `/%61dmin//` means `/admin/`.
fn compile_path(p: &str, encoded_slash: bool) -> Result<String, String> {
    if !p.starts_with('/') {
        return Err(format!("path {p:?} must start with /"));
    }
    if p.contains(['?', '#', ';']) {
        return Err(format!(
            "path {p:?} cannot hold ?, # or ; (queries and ;parameters are not matched)"
        ));
    }
    canonical::path(p, encoded_slash).map_err(|e| format!("path {p:?} cannot be matched: {e}"))
}

/// The request the proxy asks about (made by AccessRules::target).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: String,
    /// Canonical: lowercase, without trailing dot or port.
    pub host: String,
    /// Only a port that is not the scheme's default.
    pub port: Option<u16>,
    /// Path and query as sent ("/a/b?c=d"): where sign-in sends the user back to.
    pub uri: String,
    path: String,
    pub method: String,
}

impl Target {
    /// The canonical path, which the rules match.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn url(&self) -> String {
        match self.port {
            Some(p) => format!("{}://{}:{p}{}", self.scheme, self.host, self.uri),
            None => format!("{}://{}{}", self.scheme, self.host, self.uri),
        }
    }
}

impl Rule {
    fn host_matches(&self, host: &str) -> bool {
        self.hosts.is_empty() || self.hosts.iter().any(|h| h.matches(host))
    }

    fn matches(&self, t: &Target) -> bool {
        let host_ok = self.host_matches(&t.host);
        let path = t.path();
        let path_ok = self.paths.is_empty() || self.paths.iter().any(|p| prefix_matches(p, path));
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

/// A rule path is a plain prefix (`/admin` covers `/admin`, `/admin/x` and
/// `/administrator`); one ending in `/` also covers the path without it (`/admin/`
/// covers `/admin`, which most apps serve as the same page).
fn prefix_matches(prefix: &str, path: &str) -> bool {
    path.starts_with(prefix)
        || prefix
            .strip_suffix('/')
            .is_some_and(|bare| !bare.is_empty() && path == bare)
}

/// Fills `{user}`, `{email}`, `{name}`, `{groups}`, `{uid}` (and `{media_token}` where
/// allowed). Unknown placeholders stay as written; CR/LF never reach a header. One pass
/// over the template (forward-auth renders a rule's headers on every request), so a
/// value is inserted as it is: a user named `{media_token}` stays that name.
pub fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let filled = after.find('}').and_then(|close| {
            let key = &after[..close];
            let (_, value) = values.iter().find(|(k, _)| *k == key)?;
            Some((close, *value))
        });
        match filled {
            Some((close, value)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.retain(|c| c != '\r' && c != '\n');
    out
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
                "{}: media_provider: it sends a media token, so it must say whose with \
                 \"media_provider\": \"plex\", \"jellyfin\" or \"emby\" (a Plex app must not \
                 get a Jellyfin token)",
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
        AccessRules::default()
            .target("https", host, uri, method)
            .unwrap()
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
    fn rules_and_requests_meet_in_canonical_form() {
        let r = rules(json!({"rules": [
            {"name": "admin", "hosts": ["App.Example."], "paths": ["/%61dmin"], "policy": "deny"},
            {"name": "dir", "hosts": ["app.example"], "paths": ["/private//"], "policy": "deny"},
            {"name": "regex", "hosts": ["app.example"], "path_regex": "^/api/v[0-9]+/keys$", "policy": "deny"},
            {"name": "files", "hosts": ["files.example"], "allow_encoded_slash": true}
        ]}));
        let rule = |host: &str, uri: &str| {
            let t = r.target("https", host, uri, "GET")?;
            Ok::<_, canonical::Refusal>(r.find(&t).map(|x| x.spec.name.clone()))
        };
        let named = |n: &str| Ok(Some(n.to_string()));
        for (host, uri) in [
            ("app.example", "/admin"),
            ("APP.example.", "/%61dmin/"),
            ("app.example:443", "//admin"),
            ("app.example", "/x/../admin;jsessionid=1"),
            ("app.example", "/administrator"),
            ("app.example", "/admin?to=/public"),
        ] {
            assert_eq!(rule(host, uri), named("admin"), "{host} {uri}");
        }
        assert_eq!(rule("app.example", "/public?/admin"), Ok(None));
        assert_eq!(
            rule("app.example", "/Admin"),
            Ok(None),
            "paths are case-sensitive"
        );
        assert_eq!(
            rule("app.example", "/private"),
            named("dir"),
            "/x/ covers /x"
        );
        assert_eq!(rule("app.example", "/private/a"), named("dir"));
        assert_eq!(rule("app.example", "/privateer"), Ok(None));
        assert_eq!(rule("app.example", "/api/v2/%6Beys"), named("regex"));
        assert_eq!(rule("app.example", "/api//v2/./keys"), named("regex"));
        assert_eq!(
            rule("app.example", "/%2Fadmin"),
            Err(canonical::Refusal::EncodedSlash)
        );
        assert_eq!(rule("files.example", "/a%2Fb"), named("files"));
        let t = r
            .target("https", "files.example", "/a%2fb?x=1", "GET")
            .unwrap();
        assert_eq!((t.path(), t.uri.as_str()), ("/a%2Fb", "/a%2fb?x=1"));
    }

    #[test]
    fn rule_paths_that_cannot_be_canonical_are_refused() {
        for (path, want) in [
            ("/a/%2Fb", "encoded slash"),
            ("/../x", "climbs above"),
            ("/a?b", "cannot hold"),
            ("/a;b", "cannot hold"),
            ("/a#b", "cannot hold"),
            ("/%zz", "two hex digits"),
            ("/a\\b", "backslash"),
        ] {
            let spec: AccessSpec =
                serde_json::from_value(json!({"rules": [{"paths": [path]}]})).unwrap();
            let e = AccessRules::compile(&spec).unwrap_err();
            assert!(e.contains(want), "{path}: {e}");
        }
        let ok: AccessSpec = serde_json::from_value(
            json!({"rules": [{"paths": ["/a/%2Fb"], "allow_encoded_slash": true}]}),
        )
        .unwrap();
        assert!(AccessRules::compile(&ok).is_ok());
        for host in ["user@app.example", "app..example", "*.", "app.example:443"] {
            let spec: AccessSpec =
                serde_json::from_value(json!({"rules": [{"hosts": [host]}]})).unwrap();
            assert!(AccessRules::compile(&spec).is_err(), "{host}");
        }
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
    fn a_disabled_rule_is_checked_but_matches_nothing() {
        let r = rules(json!({"rules": [
            {"name": "off", "enabled": false, "hosts": ["app.example"], "policy": "deny"},
            {"name": "on", "hosts": ["app.example"], "policy": "bypass"}
        ]}));
        let t = target("app.example", "/", "GET");
        assert_eq!(r.find(&t).map(|x| x.spec.name.as_str()), Some("on"));
        let spec: AccessSpec = serde_json::from_value(
            json!({"rules": [{"name": "off", "enabled": false, "hosts": ["https://x"]}]}),
        )
        .unwrap();
        let e = AccessRules::compile(&spec).unwrap_err();
        assert!(e.starts_with("rule 1 (off): hosts: "), "{e}");
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
        assert_eq!(render("{{user}} {a{user}", &v), "{alice} {aalice");
        assert_eq!(render("{user", &v), "{user");
        assert_eq!(render("", &v), "");
    }

    #[test]
    fn a_value_is_inserted_as_it_is_never_filled_again() {
        let v = [
            ("user", "{uid} {media_token}"),
            ("uid", "u1"),
            ("media_token", "secret"),
        ];
        assert_eq!(render("{user}|{uid}", &v), "{uid} {media_token}|u1");
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
