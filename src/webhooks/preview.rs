//! What a rule being written would send, filled in from a made-up event: the console's
//! preview beside the body template. Same checks and escaping as saving and delivery.

use serde::Deserialize;
use serde_json::{Value, json};

use super::delivery::content_type;
use super::spec::{METHODS, check_body, check_body_format, check_url};
use super::template::{Escape, Values, render};
use crate::event_type::{EventType, pattern_wants};

/// The parts of a rule the preview needs. The console sends the whole rule it would
/// save, so other fields are accepted and ignored.
#[derive(Debug, Deserialize)]
pub struct Draft {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default = "post")]
    pub method: String,
    #[serde(default)]
    pub url: String,
    #[serde(default = "json_format")]
    pub body_format: String,
    #[serde(default)]
    pub body_template: String,
}

fn post() -> String {
    "POST".into()
}
fn json_format() -> String {
    "json".into()
}

/// `{event, method, url, content_type, body}` as a delivery of a made-up event of the
/// rule's first type would send them (`url` null while none is typed, `body` null for
/// none); the error is the one saving would give, for the person.
pub fn preview(d: &Draft) -> std::result::Result<Value, String> {
    let method = d.method.trim().to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(format!(
            "method: {:?} is not one of {}",
            d.method,
            METHODS.join(", ")
        ));
    }
    if d.events.len() > 50 {
        return Err("events: at most 50".into());
    }
    check_body_format(&d.body_format)?;
    check_body(&method, &d.body_format, &d.body_template)?;
    let kind = sample_type(&d.events);
    let values = Values::example(kind.as_str(), &d.name);
    let url = match d.url.trim() {
        "" => None,
        url => {
            check_url(url)?;
            Some(render(url, Escape::Url, &values))
        }
    };
    let body = (!d.body_template.trim().is_empty())
        .then(|| render(&d.body_template, Escape::for_body(&d.body_format), &values));
    Ok(json!({
        "event": kind.as_str(),
        "method": method,
        "url": url,
        "content_type": body.as_ref().map(|_| content_type(&d.body_format)),
        "body": body,
    }))
}

/// The first type the rule's events take (patterns included), else a finished sign-in.
fn sample_type(events: &[String]) -> EventType {
    events
        .iter()
        .find_map(|pattern| {
            EventType::ALL
                .iter()
                .copied()
                .find(|t| t.delivered() && pattern_wants(pattern, t.as_str()))
        })
        .unwrap_or(EventType::SigninSuccess)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(v: Value) -> Draft {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn fills_in_a_made_up_event_escaped_for_where_it_goes() {
        let p = preview(&draft(json!({
            "name": "Pangolin",
            "events": ["mfa.*"],
            "url": "https://p.example/allow/{user.username}?ip={client_ip}",
            "body_template": "{\"ip\": \"{client_ip}\", \"ua\": \"{user_agent}\", \"hook\": \"{webhook.name}\"}",
            "enabled": false,
        })))
        .unwrap();
        assert_eq!(p["event"], "mfa.verify");
        assert_eq!(p["method"], "POST");
        assert_eq!(p["url"], "https://p.example/allow/alice?ip=203.0.113.9");
        assert_eq!(p["content_type"], "application/json");
        let body: Value = serde_json::from_str(p["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["ip"], "203.0.113.9");
        assert_eq!(body["hook"], "Pangolin");
        assert!(body["ua"].as_str().unwrap().contains("Firefox"));
    }

    #[test]
    fn an_empty_url_or_body_is_no_error_but_bad_ones_are() {
        let p = preview(&draft(json!({"method": "get"}))).unwrap();
        assert!(p["url"].is_null() && p["body"].is_null(), "{p}");
        assert_eq!(p["event"], "signin.success");
        for (bad, want) in [
            (
                json!({"body_template": "{user.password}"}),
                "unknown placeholder",
            ),
            (
                json!({"body_template": "{\"ip\": {client_ip}}"}),
                "not valid JSON",
            ),
            (json!({"url": "not a url"}), "url:"),
            (json!({"method": "TRACE"}), "method:"),
            (json!({"body_format": "xml"}), "body_format:"),
            (
                json!({"method": "GET", "body_template": "{}"}),
                "has no body",
            ),
        ] {
            let e = preview(&draft(bad.clone())).unwrap_err();
            assert!(e.contains(want), "{bad}: {e}");
        }
    }
}
