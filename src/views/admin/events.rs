//! The audit log page (`/admin/events`): filters in one row, the events with their
//! details as labelled values (user agents in words), and the next-page link.

use maud::{Markup, html};
use serde_json::Value;

use super::{Frame, console};
use crate::db::events::EventRow;

pub struct EventsPage<'a> {
    pub events: &'a [EventRow],
    /// The filters as typed (type, user, since, until, ip).
    pub filters: &'a [(&'static str, String)],
    pub next: Option<&'a str>,
    /// Set when a filter was refused; the list is then empty.
    pub error: Option<&'a str>,
}

fn filter_value<'a>(p: &'a EventsPage, name: &str) -> &'a str {
    p.filters
        .iter()
        .find(|(k, _)| *k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The page after this one: the same filters and the cursor.
fn next_link(p: &EventsPage, cursor: &str) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in p.filters {
        q.append_pair(k, v);
    }
    q.append_pair("cursor", cursor);
    format!("/admin/events?{}", q.finish())
}

pub fn events(f: &Frame, p: &EventsPage) -> Markup {
    let field = |name: &str, label: &str, hint: &str| {
        let id = format!("ev-{name}");
        html! {
            div.filter {
                label for=(id) { (label) }
                input id=(id) type="text" name=(name) value=(filter_value(p, name)) maxlength="200" placeholder=(hint) autocomplete="off" list=[(name == "type").then_some("event-types")];
            }
        }
    };
    console(
        "Events",
        "admin-events",
        f,
        html! {
            h1 { "Events" }
            p.lead { "The audit log: sign-ins, second factors, sessions, tokens, console changes and webhook deliveries." }
            form.filters method="get" action="/admin/events" role="search" {
                (field("type", "Type (prefix)", "signin."))
                (field("user", "User (name or UUID)", ""))
                (field("since", "Since (UTC)", "2026-11-01"))
                (field("until", "Until (UTC)", "2026-11-30"))
                (field("ip", "IP address", ""))
                datalist #event-types { @for t in crate::event_type::EventType::ALL { option value=(t.as_str()) { (t.description()) } } }
                div.filter-actions {
                    button.primary type="submit" { "Filter" }
                    a.button.secondary href="/admin/events" { "Clear" }
                }
            }
            @if let Some(e) = p.error { p.status.bad role="alert" { (e) } }
            @if p.events.is_empty() && p.error.is_none() { p.hint { "No events match." } }
            @if !p.events.is_empty() {
                div.table-wrap {
                    table.data {
                        thead { tr {
                            th scope="col" { "Time" }
                            th scope="col" { "Type" }
                            th scope="col" { "Result" }
                            th scope="col" { "User" }
                            th scope="col" { "IP" }
                            th scope="col" { "Detail" }
                        } }
                        tbody {
                            @for e in p.events {
                                tr {
                                    td.nowrap { (crate::views::when(f.tz, e.time)) }
                                    td { code { (e.kind) } }
                                    td { @if e.result == "success" { span.badge.on { "success" } } @else { span.badge.bad { (e.result) } } }
                                    td { @if let Some(u) = &e.user {
                                        a href=(format!("/admin/users/{}", super::seg(&u.uuid))) { (u.username) }
                                    } @else { span.muted { "—" } } }
                                    td.nowrap { (e.ip.as_deref().unwrap_or("")) }
                                    td.detail { (detail(&e.detail)) }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(n) = p.next {
                nav.pager aria-label="Pages" {
                    a.button.secondary href=(next_link(p, n)) { "Older →" }
                }
            }
        },
    )
}

/// An event's detail as labelled values ("User agent: Firefox on Android"), with the
/// stored JSON one click away for what the labels leave out (nesting, exact strings).
fn detail(d: &Value) -> Markup {
    let Some(fields) = d.as_object().filter(|m| !m.is_empty()) else {
        return html! { span.muted { "—" } };
    };
    html! {
        dl.detail {
            @for (key, value) in fields {
                dt { (label(key)) }
                dd { (detail_value(key, value)) }
            }
        }
        details.raw { summary { "raw" } code { (d.to_string()) } }
    }
}

fn detail_value(key: &str, value: &Value) -> Markup {
    match value {
        Value::String(ua) if key == "user_agent" => {
            html! { span title=(ua) { (crate::user_agent::describe(ua)) } }
        }
        Value::String(s) => html! { (s) },
        Value::Null => html! { span.muted { "—" } },
        Value::Bool(b) => html! { (if *b { "yes" } else { "no" }) },
        Value::Array(items) if items.iter().all(Value::is_string) => {
            let words: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            html! { (words.join(", ")) }
        }
        other => html! { code { (other.to_string()) } },
    }
}

/// A detail key as a label: "user_agent" -> "User agent"; a few read better named.
fn label(key: &str) -> String {
    match key {
        "mfa" => return "Second factor".into(),
        "ip" => return "IP address".into(),
        "uuid" => return "UUID".into(),
        _ => {}
    }
    let words = key.replace(['_', '.'], " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => words,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_labelled_values_with_user_agents_in_words() {
        let d = serde_json::json!({
            "user_agent": "Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0",
            "provider": "jellyfin",
            "mfa": null,
            "groups": ["admins", "plex-friend"],
            "count": 3,
        });
        let html = detail(&d).into_string();
        assert!(html.contains("<dt>User agent</dt>"), "{html}");
        assert!(html.contains(">Firefox on Android</span>"), "{html}");
        assert!(html.contains("<dd>jellyfin</dd>"), "{html}");
        assert!(html.contains("<dd>admins, plex-friend</dd>"), "{html}");
        assert!(html.contains("<summary>raw</summary>"), "{html}");
        assert_eq!(label("name_typed"), "Name typed");
        assert_eq!(label("mfa"), "Second factor");
        assert!(detail(&serde_json::json!({})).into_string().contains("—"));
    }
}
