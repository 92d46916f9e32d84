//! A webhook rule as the API takes it (`Spec`), its checks (events, URL and where it
//! may go, headers, body), turning it into the stored row, and what GET shows of one.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::template::{Escape, Values, placeholders, render};
use crate::app::App;
use crate::db::webhooks::Webhook;

pub const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Headers the portal sets itself (or that would break the request) are refused, so a
/// rule cannot forge the signature or event headers a receiver trusts. Lowercase: names
/// are compared case-insensitively.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
    "user-agent",
    "x-authportal-event",
    "x-authportal-delivery",
    "x-authportal-signature",
    "x-authportal-timestamp",
];

/// A rule as the API takes it. On PUT, absent `headers` keep every stored header, a
/// header whose value is null keeps its stored value, and an absent or null `secret`
/// keeps the stored one ("" removes it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub events: Vec<String>,
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default = "post")]
    pub method: String,
    pub url: String,
    /// Absent on PUT: every stored header is kept as it is.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, Option<String>>>,
    #[serde(default = "json_format")]
    pub body_format: String,
    #[serde(default)]
    pub body_template: String,
    #[serde(default = "ten")]
    pub timeout_secs: i64,
    #[serde(default = "five")]
    pub max_attempts: i64,
    #[serde(default)]
    pub secret: Option<String>,
    // What GET shows, accepted back unchanged so a GET -> edit -> PUT round trip works.
    #[serde(default, rename = "id")]
    _id: Option<Value>,
    #[serde(default, rename = "secret_set")]
    _secret_set: Option<Value>,
    #[serde(default, rename = "url_path_hidden")]
    _url_path_hidden: Option<Value>,
    #[serde(default, rename = "created_at")]
    _created_at: Option<Value>,
    #[serde(default, rename = "updated_at")]
    _updated_at: Option<Value>,
    #[serde(default, rename = "unknown_events")]
    _unknown_events: Option<Value>,
}

fn yes() -> bool {
    true
}
fn post() -> String {
    "POST".into()
}
fn json_format() -> String {
    "json".into()
}
fn ten() -> i64 {
    10
}
fn five() -> i64 {
    5
}

pub const EXAMPLE: &str = r#"{"name":"Allow IP","events":["signin.success"],"method":"PUT","url":"https://example.com/allow","headers":{"Authorization":"Bearer ..."},"body_format":"json","body_template":"{\"ip\":\"{client_ip}\"}"}"#;

/// Turns a spec into the row to store, sealing new header values and the secret and
/// keeping the stored ones the spec leaves out (`old`). The error is for the person.
pub fn prepare(
    app: &App,
    spec: Spec,
    old: Option<&Webhook>,
    now: i64,
) -> std::result::Result<Webhook, String> {
    let name = spec.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err("name: 1 to 100 characters".into());
    }
    if spec.events.is_empty() || spec.events.len() > 50 {
        return Err(
            "events: name 1 to 50 event types (\"signin.success\", \"signin.*\", \"*\")".into(),
        );
    }
    for e in &spec.events {
        let body = e.strip_suffix('*').unwrap_or(e);
        let ok = (e == "*" || !body.is_empty())
            && body.len() <= 100
            && body
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._".contains(&b));
        if !ok {
            return Err(format!(
                "events: {e:?} is not an event type (lowercase dotted, optionally ending in *)"
            ));
        }
        crate::event_type::check_pattern(e)?;
    }
    for (field, list) in [("users", &spec.users), ("groups", &spec.groups)] {
        if list.len() > 100 || list.iter().any(|v| v.trim().is_empty() || v.len() > 100) {
            return Err(format!("{field}: up to 100 names of 1 to 100 characters"));
        }
    }
    let method = spec.method.trim().to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(format!(
            "method: {:?} is not one of {}",
            spec.method,
            METHODS.join(", ")
        ));
    }
    check_url(&spec.url)?;
    check_destination(app, &spec.url)?;
    check_body_format(&spec.body_format)?;
    check_body(&method, &spec.body_format, &spec.body_template)?;
    if !(1..=60).contains(&spec.timeout_secs) {
        return Err(format!(
            "timeout_secs: {} is not between 1 and 60",
            spec.timeout_secs
        ));
    }
    if !(1..=20).contains(&spec.max_attempts) {
        return Err(format!(
            "max_attempts: {} is not between 1 and 20",
            spec.max_attempts
        ));
    }
    // Stored header values and the secret were given for one host: a rule whose URL
    // now goes elsewhere must not carry them there unless they are given again.
    let moved = old.filter(|o| origin(&o.url) != origin(&spec.url));
    let headers = match (&spec.headers, moved) {
        (Some(given), _) => prepare_headers(app, given, old, moved.is_some())?,
        (None, Some(o)) if !o.headers.is_empty() => {
            return Err(format!(
                "headers: the URL now goes to {} instead of {}, and stored header values are only sent where they were set; give every header's value again (or \"headers\": {{}} to drop them)",
                origin_text(&spec.url),
                origin_text(&o.url)
            ));
        }
        (None, _) => old.map(|o| o.headers.clone()).unwrap_or_default(),
    };
    let secret_sealed = match spec.secret.as_deref() {
        None if moved.is_some() => None,
        None => old.and_then(|o| o.secret_sealed.clone()),
        Some("") => None,
        Some(s) if s.len() > 1024 => return Err("secret: at most 1024 characters".into()),
        Some(s) => Some(app.sealer.seal("webhook-secret", s.as_bytes())),
    };
    Ok(Webhook {
        id: old.map_or(0, |o| o.id),
        name,
        enabled: spec.enabled,
        events: spec.events,
        users: spec.users.iter().map(|u| u.trim().to_string()).collect(),
        groups: spec.groups.iter().map(|g| g.trim().to_string()).collect(),
        method,
        url: spec.url.trim().to_string(),
        headers,
        body_format: spec.body_format,
        body_template: spec.body_template,
        timeout_secs: spec.timeout_secs,
        max_attempts: spec.max_attempts,
        secret_sealed,
        created_at: old.map_or(now, |o| o.created_at),
        updated_at: now,
    })
}

pub(super) fn header_purpose(name: &str) -> String {
    format!("webhook-header:{}", name.to_ascii_lowercase())
}

/// `moved`: the URL's origin changed, so no stored value is kept (see `prepare`).
fn prepare_headers(
    app: &App,
    given: &BTreeMap<String, Option<String>>,
    old: Option<&Webhook>,
    moved: bool,
) -> std::result::Result<BTreeMap<String, String>, String> {
    if given.len() > 20 {
        return Err("headers: at most 20".into());
    }
    check_header_names(given.keys())?;
    let mut out = BTreeMap::new();
    for (name, value) in given {
        let sealed = match value {
            Some(v) => {
                if v.len() > 4096 || v.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                    return Err(format!(
                        "headers.{name}: at most 4096 characters, no line breaks"
                    ));
                }
                app.sealer.seal(&header_purpose(name), v.as_bytes())
            }
            None if moved => {
                return Err(format!(
                    "headers.{name}: the URL now goes to another host, so the stored value is not sent there; give the value again"
                ));
            }
            None => old
                .and_then(|o| stored_value(o, name))
                .ok_or_else(|| format!("headers.{name}: a new header needs a value"))?,
        };
        out.insert(name.clone(), sealed);
    }
    Ok(out)
}

/// The sealed value stored under `name`, whatever its case: header names are
/// case-insensitive, and the seal's purpose is the lowercase name, so it opens either way.
fn stored_value(old: &Webhook, name: &str) -> Option<String> {
    old.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

/// Each name a valid token, none the portal sets itself, none given twice in two cases.
fn check_header_names<'a>(
    names: impl Iterator<Item = &'a String>,
) -> std::result::Result<(), String> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for name in names {
        let token = !name.is_empty()
            && name.len() <= 100
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(format!("headers: {name:?} is not a header name"));
        }
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(format!(
                "headers: {name} is set by the portal itself; leave it out (reserved: {})",
                RESERVED_HEADERS.join(", ")
            ));
        }
        if let Some(first) = seen.insert(lower, name) {
            return Err(format!(
                "headers: {first} and {name} are the same header (names ignore case); give it once"
            ));
        }
    }
    Ok(())
}

pub(super) fn check_body_format(format: &str) -> std::result::Result<(), String> {
    if matches!(format, "json" | "form") {
        return Ok(());
    }
    Err(format!("body_format: {format:?} is not json or form"))
}

pub(super) fn check_url(url: &str) -> std::result::Result<(), String> {
    if url.len() > 2048 {
        return Err("url: at most 2048 characters".into());
    }
    placeholders(url).map_err(|e| format!("url: {e}"))?;
    let sample = render(url.trim(), Escape::Url, &Values::sample());
    let parsed =
        url::Url::parse(&sample).map_err(|_| format!("url: {url:?} is not an absolute URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!("url: {url:?} must be an http:// or https:// URL"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("url: put credentials in a header, not in the URL".into());
    }
    Ok(())
}

/// A host that is an IP literal the outbound policy refuses is refused when the rule is
/// saved; host names are judged at each delivery, on the addresses they resolve to.
fn check_destination(app: &App, url: &str) -> std::result::Result<(), String> {
    let Ok(parsed) = url::Url::parse(&render(url.trim(), Escape::Url, &Values::sample())) else {
        return Ok(());
    };
    app.outbound
        .policy()
        .check_literal(&parsed)
        .map_err(|refused| {
            format!(
                "url: {} is a {}, where webhooks are not sent unless OUTBOUND_ALLOW (or the security setting outbound_allow) lists it",
                parsed.host_str().unwrap_or(""),
                refused.0.label()
            )
        })
}

/// Scheme, host and port (default filled in) of a URL template: where its requests go.
/// Placeholders cannot stand in the host (check_url refuses it), so the sample
/// rendering has the template's own origin.
fn origin(url: &str) -> Option<(String, String, Option<u16>)> {
    let parsed = url::Url::parse(&render(url.trim(), Escape::Url, &Values::sample())).ok()?;
    Some((
        parsed.scheme().to_string(),
        parsed.host_str()?.to_string(),
        parsed.port_or_known_default(),
    ))
}

/// `scheme://host[:port]`, for messages.
fn origin_text(url: &str) -> String {
    match url::Url::parse(&render(url.trim(), Escape::Url, &Values::sample())) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}", u.scheme()),
            (Some(h), None) => format!("{}://{h}", u.scheme()),
            _ => "(not a URL)".into(),
        },
        Err(_) => "(not a URL)".into(),
    }
}

/// A URL without its path and query, for those who may not change the rule: a Slack,
/// Discord or ntfy URL is itself the credential.
pub fn url_without_path(url: &str) -> String {
    format!("{}/…", origin_text(url))
}

pub(super) fn check_body(
    method: &str,
    format: &str,
    template: &str,
) -> std::result::Result<(), String> {
    if template.len() > 16 * 1024 {
        return Err("body_template: at most 16 KiB".into());
    }
    placeholders(template).map_err(|e| format!("body_template: {e}"))?;
    if template.trim().is_empty() {
        return Ok(());
    }
    if matches!(method, "GET" | "DELETE") {
        return Err(format!(
            "body_template: a {method} request has no body; put the values in the URL"
        ));
    }
    if format == "json" {
        let sample = render(template, Escape::Json, &Values::sample());
        serde_json::from_str::<Value>(&sample).map_err(|e| {
            format!(
                "body_template: not valid JSON once placeholders are filled in ({e}); placeholders go inside JSON strings, like \"{{client_ip}}\""
            )
        })?;
    }
    Ok(())
}

/// What GET shows: everything but header values and the secret; the URL's path and
/// query and the body template (either may carry a credential) only to those who may
/// change the rule (`full_url`).
pub fn describe(w: &Webhook, full_url: bool) -> Value {
    let url = if full_url {
        w.url.clone()
    } else {
        url_without_path(&w.url)
    };
    json!({
        "id": w.id,
        "name": w.name,
        "enabled": w.enabled,
        "events": w.events,
        // Rules saved before types were checked may name one that never fires.
        "unknown_events": w.events.iter().filter(|e| !crate::event_type::pattern_is_known(e)).collect::<Vec<_>>(),
        "users": w.users,
        "groups": w.groups,
        "method": w.method,
        "url": url,
        "url_path_hidden": !full_url,
        "headers": w.headers.keys().map(|k| (k.clone(), Value::Null)).collect::<serde_json::Map<_, _>>(),
        "body_format": w.body_format,
        "body_template": if full_url { Value::from(w.body_template.as_str()) } else { Value::Null },
        "timeout_secs": w.timeout_secs,
        "max_attempts": w.max_attempts,
        "secret_set": w.secret_sealed.is_some(),
        "created_at": w.created_at,
        "updated_at": w.updated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_twice_given_header_names_are_refused() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_header_names(names(&["Authorization", "X-Token"]).iter()).is_ok());
        for reserved in [
            "X-Authportal-Event",
            "x-authportal-delivery",
            "X-AUTHPORTAL-SIGNATURE",
            "X-Authportal-Timestamp",
            "content-type",
            "Content-Length",
            "HOST",
            "User-Agent",
        ] {
            let e = check_header_names(names(&[reserved]).iter()).unwrap_err();
            assert!(e.contains("set by the portal"), "{reserved}: {e}");
        }
        let e = check_header_names(names(&["X-Token", "x-token"]).iter()).unwrap_err();
        assert!(e.contains("same header"), "{e}");
    }

    #[test]
    fn origins_and_urls_for_readers() {
        let o = |u: &str| origin(u).unwrap();
        assert_eq!(
            o("https://a.example/x?y=1"),
            o("https://A.example:443/other")
        );
        assert_ne!(o("https://a.example/x"), o("http://a.example/x"));
        assert_ne!(o("https://a.example/x"), o("https://a.example:8443/x"));
        assert_ne!(o("https://a.example/x"), o("https://b.example/x"));
        assert_eq!(
            o("https://a.example/{user.username}"),
            o("https://a.example/")
        );
        assert_eq!(
            url_without_path("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            url_without_path("http://127.0.0.1:8080/h?token={client_ip}"),
            "http://127.0.0.1:8080/…"
        );
    }
}
