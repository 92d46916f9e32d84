//! Templates over an event: the placeholders a webhook's URL, headers and body may name,
//! the values of one event, and filling them in escaped for where each goes.

use std::collections::BTreeMap;

use crate::db::webhooks::Webhook;
use crate::error::Result;
use crate::event_type::EventType;

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

/// The placeholders a template names, or the first unknown one.
pub(super) fn placeholders(template: &str) -> std::result::Result<(), String> {
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

#[derive(Clone, Copy)]
pub(super) enum Escape {
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
    pub(super) fn sample() -> Values {
        Values(
            PLACEHOLDERS
                .iter()
                .map(|p| (*p, "sample \"value\" & more".to_string()))
                .collect(),
        )
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
