//! The audit log page (`/admin/events`): filters, the events and the next-page link.

use maud::{Markup, html};

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
            label for=(id) { (label) }
            input id=(id) type="text" name=(name) value=(filter_value(p, name)) maxlength="200" placeholder=(hint) autocomplete="off" list=[(name == "type").then_some("event-types")];
        }
    };
    console(
        "Events",
        "admin-events",
        f,
        html! {
            h1 { "Events" }
            p.lead { "The audit log: sign-ins, second factors, sessions, tokens, console changes and webhook deliveries." }
            form.search.filters method="get" action="/admin/events" role="search" {
                (field("type", "Type (prefix)", "signin."))
                (field("user", "User (name or UUID)", ""))
                (field("since", "Since (UTC)", "2026-11-01"))
                (field("until", "Until (UTC)", "2026-11-30"))
                (field("ip", "IP address", ""))
                datalist #event-types { @for t in crate::event_type::EventType::ALL { option value=(t.as_str()) { (t.description()) } } }
                div.search-row {
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
                                    td { small { code { (e.detail.to_string()) } } }
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
