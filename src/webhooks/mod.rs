//! Webhooks: rule specs and their validation, templates over an event, and the
//! background `webhooks` thread that delivers the persistent queue (retries with
//! exponential back-off, optional HMAC-SHA256 signature, every attempt recorded).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::App;
use crate::db::webhooks::{self as store, Webhook};
use crate::error::{AppError, Result};
use crate::event_type::EventType;

pub const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The values a template may name.
pub const PLACEHOLDERS: &[&str] = &[
    "event.type",
    "event.id",
    "event.result",
    "event.time",
    "event.detail",
    "user.username",
    "user.email",
    "user.uuid",
    "user.groups",
    "client_ip",
    "client_cidr",
    "time",
    "user_agent",
    "provider",
    "webhook.id",
    "webhook.name",
];

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
    if !matches!(spec.body_format.as_str(), "json" | "form") {
        return Err(format!(
            "body_format: {:?} is not json or form",
            spec.body_format
        ));
    }
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

fn header_purpose(name: &str) -> String {
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

/// The placeholders a template names, or the first unknown one.
fn placeholders(template: &str) -> std::result::Result<(), String> {
    for cap in placeholder_re().captures_iter(template) {
        let name = &cap[1];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{name}}}; known: {}",
                PLACEHOLDERS
                    .iter()
                    .map(|p| format!("{{{p}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(())
}

fn placeholder_re() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\}").expect("valid")
    })
}

fn check_url(url: &str) -> std::result::Result<(), String> {
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

fn check_body(method: &str, format: &str, template: &str) -> std::result::Result<(), String> {
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

#[derive(Clone, Copy)]
enum Escape {
    Json,
    Form,
    /// A URL path segment: every byte but RFC 3986's unreserved ones is percent-encoded.
    Url,
}

/// What Escape::Url encodes: all but ALPHA / DIGIT / "-" / "." / "_" / "~".
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The values of one event, by placeholder name.
pub struct Values(BTreeMap<&'static str, String>);

impl Values {
    fn sample() -> Values {
        Values(
            PLACEHOLDERS
                .iter()
                .map(|p| (*p, "sample \"value\" & more".to_string()))
                .collect(),
        )
    }

    fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }
}

fn escape(v: &str, how: Escape) -> String {
    match how {
        // Inside a JSON string: the template writes the quotes.
        Escape::Json => {
            let quoted = serde_json::to_string(v).expect("strings serialize");
            quoted[1..quoted.len() - 1].to_string()
        }
        Escape::Form => url::form_urlencoded::byte_serialize(v.as_bytes()).collect(),
        Escape::Url => percent_encoding::utf8_percent_encode(v, PATH_SEGMENT).to_string(),
    }
}

fn render(template: &str, how: Escape, values: &Values) -> String {
    placeholder_re()
        .replace_all(template, |cap: &regex::Captures| {
            escape(values.get(&cap[1]), how)
        })
        .into_owned()
}

/// The values for event `event_id` (or a test event) as webhook `hook` sees them.
fn values_for(
    conn: &rusqlite::Connection,
    hook: &Webhook,
    event_id: Option<i64>,
) -> Result<Values> {
    let mut m: BTreeMap<&'static str, String> = BTreeMap::new();
    m.insert("webhook.id", hook.id.to_string());
    m.insert("webhook.name", hook.name.clone());
    let event = match event_id {
        Some(id) => crate::db::events::get(conn, id)?,
        None => None,
    };
    let (row, user_id) = match event {
        Some(e) => e,
        None => {
            let now = chrono::Utc::now().timestamp();
            let time = crate::clock::rfc3339(now);
            m.insert("event.type", EventType::WebhookTest.as_str().into());
            m.insert("event.result", "success".into());
            m.insert("event.time", time.clone());
            m.insert("time", time);
            m.insert("event.detail", "{}".into());
            return Ok(Values(m));
        }
    };
    let time = crate::clock::rfc3339(row.time);
    m.insert("event.type", row.kind.clone());
    m.insert("event.id", row.id.to_string());
    m.insert("event.result", row.result.clone());
    m.insert("event.time", time.clone());
    m.insert("time", time);
    m.insert("event.detail", row.detail.to_string());
    m.insert("client_ip", row.ip.clone().unwrap_or_default());
    m.insert("client_cidr", client_cidr(row.ip.as_deref()));
    let text = |k: &str| row.detail[k].as_str().unwrap_or("").to_string();
    m.insert("user_agent", text("user_agent"));
    m.insert("provider", text("provider"));
    if let Some(uid) = user_id {
        if let Some((uuid, username, email)) = crate::db::users::profile(conn, uid)? {
            m.insert("user.uuid", uuid);
            m.insert("user.username", username);
            m.insert("user.email", email.unwrap_or_default());
        }
        m.insert(
            "user.groups",
            crate::db::users::groups(conn, uid)?.join(","),
        );
    }
    Ok(Values(m))
}

/// The network of a client address, for a firewall rule that should follow a household
/// rather than one address: an IPv4 address as /32, an IPv6 address as its /64 (devices
/// rotate privacy addresses within it). The same grouping the rate limits use.
fn client_cidr(ip: Option<&str>) -> String {
    let Some(ip) = ip.and_then(|i| i.parse::<std::net::IpAddr>().ok()) else {
        return String::new();
    };
    let key = crate::ratelimit::address_key(ip);
    if key.contains('/') {
        key
    } else {
        format!("{key}/32")
    }
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

// --- delivery ---

/// How often the queue is looked at; deliveries are due at once, so this is the delay
/// between an event and its first attempt.
const POLL_MS: u64 = 200;

pub fn spawn(app: Arc<App>, stop: Arc<AtomicBool>) -> std::result::Result<JoinHandle<()>, String> {
    std::thread::Builder::new()
        .name("webhooks".into())
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match run_due(&app, &stop) {
                    Ok(0) => std::thread::sleep(Duration::from_millis(POLL_MS)),
                    Ok(_) => {}
                    Err(e) => {
                        crate::log_error!("webhooks: {e}");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            }
        })
        .map_err(|e| format!("cannot start the webhooks thread: {e}"))
}

/// Delivers what is due now; returns how many deliveries were worked on. An error on
/// one (a full disk, a busy database) is logged and the others still go; only when
/// none could be worked on is it an error, so the thread waits a little.
pub fn run_due(app: &App, stop: &AtomicBool) -> Result<usize> {
    let due = store::due(&*app.db.conn()?, app.clock.now_ms(), 20)?;
    let (mut worked, mut failed) = (0, 0);
    for d in due {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match attempt(app, &d) {
            Ok(true) => worked += 1,
            Ok(false) => {}
            Err(e) => {
                crate::log_error!("webhooks: delivery {}: {e}", d.id);
                failed += 1;
            }
        }
    }
    if worked == 0 && failed > 0 {
        return Err(AppError::internal(format!(
            "{failed} due deliveries could not be worked on"
        )));
    }
    Ok(worked)
}

/// The request one attempt sends.
struct Outgoing {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Duration,
}

fn build(app: &App, hook: &Webhook, d: &store::Due, values: &Values) -> Result<Outgoing> {
    let url = render(&hook.url, Escape::Url, values);
    let how = if hook.body_format == "form" {
        Escape::Form
    } else {
        Escape::Json
    };
    let body = render(&hook.body_template, how, values).into_bytes();
    let mut headers: Vec<(String, String)> = Vec::new();
    if !body.is_empty() {
        let ct = if hook.body_format == "form" {
            "application/x-www-form-urlencoded"
        } else {
            "application/json"
        };
        headers.push(("Content-Type".into(), ct.into()));
    }
    headers.push((
        "X-Authportal-Event".into(),
        values.get("event.type").to_string(),
    ));
    headers.push(("X-Authportal-Delivery".into(), d.id.to_string()));
    if let Some(sealed) = &hook.secret_sealed {
        let secret = app
            .sealer
            .open("webhook-secret", sealed)
            .map_err(|_| AppError::internal("webhook secret does not open under DATA_KEY"))?;
        let ts = app.clock.now().to_string();
        let signed = signing_input(&ts, &hook.method, &url, &body);
        let mac = crate::crypto::hmac_sha256(&secret, &[&signed]);
        headers.push((
            "X-Authportal-Signature".into(),
            format!("sha256={}", crate::crypto::hex(&mac)),
        ));
        headers.push(("X-Authportal-Timestamp".into(), ts));
    }
    for (name, sealed) in &hook.headers {
        let v = app
            .sealer
            .open(&header_purpose(name), sealed)
            .map_err(|_| AppError::internal("webhook header does not open under DATA_KEY"))?;
        headers.push((name.clone(), String::from_utf8_lossy(&v).into_owned()));
    }
    Ok(Outgoing {
        method: hook.method.clone(),
        url,
        headers,
        body,
        timeout: Duration::from_secs(hook.timeout_secs.clamp(1, 60) as u64),
    })
}

/// What the signature covers: `"{timestamp}.{METHOD} {url}\n{body}"`. The timestamp,
/// method and exact URL are in it so a captured request cannot be replayed later, with
/// another method or at another URL (a GET signs an empty body, so without the URL all
/// its signatures would be the same).
fn signing_input(ts: &str, method: &str, url: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("{ts}.{method} {url}\n").into_bytes();
    out.extend_from_slice(body);
    out
}

/// How an attempt ended: a status, or why there was none.
type Outcome = std::result::Result<u16, Failure>;

struct Failure {
    /// Stored and shown to readers.
    error: String,
    /// Whether another attempt can help (a refused destination stays refused).
    retry: bool,
}

impl Failure {
    fn transient(error: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            retry: true,
        }
    }
}

/// Status code, or a transport error (no URL query, no header values in it). A
/// destination the outbound policy refuses is never connected to, so the answer is the
/// same whether a port there is open or closed.
fn send(app: &App, out: &Outgoing) -> Outcome {
    let agent = app.outbound.agent(
        ureq::Agent::config_builder()
            .timeout_global(Some(out.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(format!(
                "{}/{} webhook",
                crate::providers::PRODUCT,
                crate::providers::VERSION
            )),
    );
    let mut req = ureq::http::Request::builder()
        .method(out.method.as_str())
        .uri(out.url.as_str());
    for (k, v) in &out.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req
        .body(out.body.clone())
        .map_err(|_| Failure::transient("the request could not be built"))?;
    // The error is stored and shown to readers: no path or query (they can be credentials).
    let redact = |e: ureq::Error| {
        if let Some(refused) = crate::outbound::refusal(&e) {
            return Failure {
                error: refused.to_string(),
                retry: false,
            };
        }
        let base = out.url.split('?').next().unwrap_or("");
        let msg: String = e
            .to_string()
            .replace(&out.url, &url_without_path(&out.url))
            .replace(base, &url_without_path(&out.url));
        Failure::transient(msg.chars().take(300).collect::<String>())
    };
    let mut res = agent.run(req).map_err(redact)?;
    let status = res.status().as_u16();
    // Read a little of the answer so the connection ends cleanly; it is not kept.
    let _ = res.body_mut().with_config().limit(64 * 1024).read_to_vec();
    Ok(status)
}

/// Whether an answer is worth another try: network errors (not a refused destination),
/// 5xx and 429.
fn retryable(outcome: &Outcome) -> bool {
    match outcome {
        Err(f) => f.retry,
        Ok(s) => *s == 429 || *s >= 500,
    }
}

/// The longest wait between two attempts: an hour.
const MAX_BACKOFF_SECS: i64 = 3600;

/// Seconds before attempt `n + 1` after `n` failed ones: 1, 2, 4... up to an hour.
pub fn backoff_secs(n: i64) -> i64 {
    (1i64 << (n - 1).clamp(0, 12)).min(MAX_BACKOFF_SECS)
}

/// One attempt at delivery `d`: claim it (its own transaction), send, then record the
/// outcome (another). Claiming first bounds the sends when recording fails: each try
/// counts and waits its back-off. False when there was nothing to do.
fn attempt(app: &App, d: &store::Due) -> Result<bool> {
    let Some(hook) = store::get(&*app.db.conn()?, d.webhook_id)? else {
        return Ok(false); // deleted meanwhile: its deliveries went with it
    };
    if d.attempts >= hook.max_attempts {
        // Every allowed attempt was claimed, and the last one's outcome never recorded.
        give_up(app, &hook, d)?;
        return Ok(true);
    }
    let n = d.attempts + 1;
    let now_ms = app.clock.now_ms();
    let next_at_ms = now_ms + backoff_secs(n) * 1000;
    if !app
        .db
        .with_tx(|tx| store::claim(tx, d.id, d.attempts, next_at_ms, now_ms / 1000))?
    {
        return Ok(false);
    }
    let values = values_for(&*app.db.conn()?, &hook, d.event_id)?;
    let started = Instant::now();
    let outcome = if d.event_id.is_none() && !d.test {
        Err(Failure::transient(
            "the event was pruned before it could be delivered",
        ))
    } else {
        build(app, &hook, d, &values)
            .map_err(|e| {
                crate::log_error!("webhooks: {e}");
                Failure::transient("the webhook's sealed values could not be opened")
            })
            .and_then(|out| send(app, &out))
    };
    let duration_ms = started.elapsed().as_millis() as i64;
    record(app, &hook, d, n, &outcome, duration_ms)?;
    Ok(true)
}

const UNRECORDED: &str = "gave up: the outcome of the last attempt could not be recorded";

fn give_up(app: &App, hook: &Webhook, d: &store::Due) -> Result<()> {
    let now = app.clock.now();
    app.db.with_tx(|tx| {
        store::give_up(tx, d.id, UNRECORDED, now)?;
        outcome_event(tx, hook, d, d.attempts, None, Some(UNRECORDED), now)
    })?;
    crate::log_warn!(
        "webhooks: delivery {} of webhook {}: {UNRECORDED}",
        d.id,
        hook.id
    );
    Ok(())
}

/// The `webhook.delivery` event that ends a delivery, delivered (a 2xx) or not.
fn outcome_event(
    tx: &rusqlite::Connection,
    hook: &Webhook,
    d: &store::Due,
    attempts: i64,
    status: Option<u16>,
    error: Option<&str>,
    now: i64,
) -> Result<()> {
    crate::db::events::record(
        tx,
        &crate::db::events::Event {
            kind: EventType::WebhookDelivery,
            user_id: None,
            ip: None,
            result: if status.is_some_and(|s| (200..300).contains(&s)) {
                "success"
            } else {
                "failure"
            },
            detail: json!({
                "webhook": hook.id,
                "name": hook.name,
                "delivery": d.id,
                "event": d.event_id,
                "attempts": attempts,
                "response_code": status,
                "error": error,
            }),
        },
        now,
    )?;
    Ok(())
}

/// Records attempt `n`'s outcome: delivered, pending a retry after its back-off, or failed.
fn record(
    app: &App,
    hook: &Webhook,
    d: &store::Due,
    n: i64,
    outcome: &Outcome,
    duration_ms: i64,
) -> Result<()> {
    let ok = matches!(outcome, Ok(s) if (200..300).contains(s));
    let again =
        !ok && retryable(outcome) && n < hook.max_attempts && (d.event_id.is_some() || d.test);
    let state = if ok {
        "delivered"
    } else if again {
        "pending"
    } else {
        "failed"
    };
    let now_ms = app.clock.now_ms();
    let (status, error) = match outcome {
        Ok(s) => (Some(*s), None),
        Err(f) => (None, Some(f.error.as_str())),
    };
    app.db.with_tx(|tx| {
        store::record_attempt(
            tx,
            &store::Attempt {
                delivery_id: d.id,
                attempt: n,
                at: now_ms / 1000,
                status,
                error,
                duration_ms,
                state,
                next_at_ms: now_ms + backoff_secs(n) * 1000,
            },
        )?;
        if state != "pending" {
            outcome_event(tx, hook, d, n, status, error, now_ms / 1000)?;
        }
        Ok(())
    })?;
    if !ok {
        crate::log_warn!(
            "webhooks: delivery {} of webhook {} attempt {n}: {}{}",
            d.id,
            hook.id,
            status.map_or_else(
                || error.unwrap_or("").to_string(),
                |s| format!("status {s}")
            ),
            if again { " (will retry)" } else { "" }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&'static str, &str)]) -> Values {
        Values(pairs.iter().map(|(k, v)| (*k, v.to_string())).collect())
    }

    #[test]
    fn templates_escape_for_where_the_value_goes() {
        let v = values(&[("user.username", "a\"b c&d"), ("client_ip", "203.0.113.9")]);
        assert_eq!(
            render(
                r#"{"u":"{user.username}","ip":"{client_ip}"}"#,
                Escape::Json,
                &v
            ),
            r#"{"u":"a\"b c&d","ip":"203.0.113.9"}"#
        );
        assert_eq!(
            render("u={user.username}&ip={client_ip}", Escape::Form, &v),
            "u=a%22b+c%26d&ip=203.0.113.9"
        );
        assert_eq!(
            render("https://x/{user.username}", Escape::Url, &v),
            "https://x/a%22b%20c%26d"
        );
    }

    #[test]
    fn a_url_value_keeps_only_unreserved_bytes() {
        let v = values(&[("user.username", "é/~.-_%?#Az09")]);
        assert_eq!(
            render("https://x/{user.username}", Escape::Url, &v),
            "https://x/%C3%A9%2F~.-_%25%3F%23Az09"
        );
    }

    #[test]
    fn client_cidr_is_the_address_network() {
        assert_eq!(client_cidr(Some("203.0.113.9")), "203.0.113.9/32");
        assert_eq!(client_cidr(Some("::ffff:203.0.113.9")), "203.0.113.9/32");
        assert_eq!(
            client_cidr(Some("2001:db8:aa:bb:1:2:3:4")),
            "2001:db8:aa:bb::/64"
        );
        assert_eq!(client_cidr(None), "");
        assert!(placeholders("{client_cidr}").is_ok());
    }

    #[test]
    fn unknown_placeholders_are_named() {
        assert!(placeholders("{user.username} {client_ip}").is_ok());
        let e = placeholders("{user.password}").unwrap_err();
        assert!(e.contains("{user.password}"), "{e}");
        // JSON braces are not placeholders.
        assert!(placeholders(r#"{"a": {"b": 1}}"#).is_ok());
    }

    #[test]
    fn the_signature_covers_time_method_url_and_body() {
        assert_eq!(
            signing_input("1700000000", "GET", "https://x/h?ip=1.2.3.4", b""),
            b"1700000000.GET https://x/h?ip=1.2.3.4\n".to_vec()
        );
        assert_eq!(
            signing_input("1", "POST", "https://x/h", b"{}"),
            b"1.POST https://x/h\n{}".to_vec()
        );
    }

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

    #[test]
    fn backoff_doubles_and_is_bounded() {
        assert_eq!(backoff_secs(1), 1);
        assert_eq!(backoff_secs(2), 2);
        assert_eq!(backoff_secs(3), 4);
        assert_eq!(backoff_secs(12), 2048);
        assert_eq!(backoff_secs(13), 3600);
        assert_eq!(backoff_secs(50), 3600);
    }
}
