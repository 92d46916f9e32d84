//! Templates over an event: the placeholders a webhook's URL, headers and body may name,
//! the values of one event, and filling them in escaped for where each goes.

use std::collections::BTreeMap;

use crate::db::webhooks::Webhook;
use crate::error::Result;
use crate::event_type::EventType;

/// A value a template may name: `{name}`, what it holds, and the value the console's
/// preview shows for it.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Placeholder {
    pub name: &'static str,
    pub about: &'static str,
    pub example: &'static str,
}

const fn p(name: &'static str, about: &'static str, example: &'static str) -> Placeholder {
    Placeholder {
        name,
        about,
        example,
    }
}

/// The values a template may name (the console lists them from here; a test keeps the
/// README naming each).
pub const PLACEHOLDERS: &[Placeholder] = &[
    p("event.type", "the event's type", "signin.success"),
    p("event.id", "the event's number in the audit log", "4711"),
    p("event.result", "success or failure", "success"),
    p(
        "event.time",
        "when it happened (RFC 3339)",
        "2026-11-23T16:05:09Z",
    ),
    p(
        "event.detail",
        "the event's detail as JSON",
        r#"{"provider":"plex"}"#,
    ),
    p("user.username", "the user's name", "alice"),
    p(
        "user.email",
        "the user's email, if known",
        "alice@example.com",
    ),
    p(
        "user.uuid",
        "the user's stable id",
        "6f1c2b9e-3d4a-4c8e-9b7f-2a5d8e0c1f43",
    ),
    p(
        "user.groups",
        "the user's groups, comma-separated",
        "plex-friend,family",
    ),
    p(
        "client_ip",
        "the address the request came from",
        "203.0.113.9",
    ),
    p(
        "client_cidr",
        "that address's network (IPv4 /32, IPv6 /64)",
        "203.0.113.9/32",
    ),
    p("time", "same as event.time", "2026-11-23T16:05:09Z"),
    p(
        "user_agent",
        "the browser's user agent",
        "Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0",
    ),
    p("provider", "plex, jellyfin or emby", "plex"),
    p("webhook.id", "this webhook's id", "1"),
    p(
        "webhook.name",
        "this webhook's name",
        "Allow sign-in address",
    ),
];

fn is_placeholder(name: &str) -> bool {
    PLACEHOLDERS.iter().any(|p| p.name == name)
}

/// The placeholders a template names, or the first unknown one.
pub(super) fn placeholders(template: &str) -> std::result::Result<(), String> {
    for cap in placeholder_re().captures_iter(template) {
        let name = &cap[1];
        if !is_placeholder(name) {
            return Err(format!(
                "unknown placeholder {{{name}}}; known: {}",
                PLACEHOLDERS
                    .iter()
                    .map(|p| format!("{{{}}}", p.name))
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

#[derive(Clone, Copy)]
pub(super) enum Escape {
    Json,
    Form,
    /// A URL path segment: every byte but RFC 3986's unreserved ones is percent-encoded.
    Url,
}

impl Escape {
    /// How values are escaped in a body of `format` ("json" or "form").
    pub(super) fn for_body(format: &str) -> Escape {
        if format == "form" {
            Escape::Form
        } else {
            Escape::Json
        }
    }
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
    pub(super) fn sample() -> Values {
        Values(
            PLACEHOLDERS
                .iter()
                .map(|p| (p.name, "sample \"value\" & more".to_string()))
                .collect(),
        )
    }

    /// The values of a made-up event of type `kind` for webhook `name`: what the
    /// console's preview fills in.
    pub(super) fn example(kind: &str, name: &str) -> Values {
        let mut m: BTreeMap<&'static str, String> = PLACEHOLDERS
            .iter()
            .map(|p| (p.name, p.example.to_string()))
            .collect();
        m.insert("event.type", kind.to_string());
        if !name.trim().is_empty() {
            m.insert("webhook.name", name.trim().to_string());
        }
        Values(m)
    }

    pub(super) fn get(&self, name: &str) -> &str {
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

pub(super) fn render(template: &str, how: Escape, values: &Values) -> String {
    placeholder_re()
        .replace_all(template, |cap: &regex::Captures| {
            escape(values.get(&cap[1]), how)
        })
        .into_owned()
}

/// The values for event `event_id` (or a test event, dated `now`) as webhook `hook` sees
/// them.
pub(super) fn values_for(
    conn: &rusqlite::Connection,
    hook: &Webhook,
    event_id: Option<i64>,
    now: i64,
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
}
