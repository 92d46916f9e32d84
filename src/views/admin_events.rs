//! Console pages of the audit log (`/admin/events`) and webhooks (`/admin/webhooks`):
//! pure functions from data to markup, in the console frame of views::admin.

use maud::{Markup, html};

use super::admin::{Frame, console, status_line};
use crate::db::events::EventRow;
use crate::db::webhooks::{DeliveryInfo, Webhook};

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
            input id=(id) type="text" name=(name) value=(filter_value(p, name)) maxlength="200" placeholder=(hint) autocomplete="off";
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
                                    td.nowrap { (super::when(f.tz, e.time)) }
                                    td { code { (e.kind) } }
                                    td { @if e.result == "success" { span.badge.on { "success" } } @else { span.badge.bad { (e.result) } } }
                                    td { @if let Some(u) = &e.user {
                                        a href=(format!("/admin/users/{}", super::admin::seg(&u.uuid))) { (u.username) }
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

pub struct WebhookRow<'a> {
    pub hook: &'a Webhook,
    pub deliveries: &'a [DeliveryInfo],
}

pub fn webhooks(f: &Frame, rows: &[WebhookRow], can_write: bool) -> Markup {
    console(
        "Webhooks",
        "admin-webhooks",
        f,
        html! {
            h1 { "Webhooks" }
            p.lead { "Requests the portal sends when events happen (for example: allow a user's address in a firewall when they sign in). Header values and secrets are stored sealed and never shown." }
            (status_line("webhooks-status"))
            @if rows.is_empty() { p.hint { "No webhooks yet." } }
            @for r in rows {
                section.panel data-webhook=(r.hook.id) {
                    h2 { (r.hook.name) " "
                        @if r.hook.enabled { span.badge.on { "enabled" } } @else { span.badge { "disabled" } } }
                    // Only those who may change a rule see its path and query: they can be credentials.
                    @if can_write { p { code { (r.hook.method) " " (r.hook.url) } } }
                    @else { p { code { (r.hook.method) " " (crate::webhooks::url_without_path(&r.hook.url)) } } " (path hidden)" }
                    p.hint { "Events: " (r.hook.events.join(", "))
                        @if !r.hook.users.is_empty() { " · users: " (r.hook.users.join(", ")) }
                        @if !r.hook.groups.is_empty() { " · groups: " (r.hook.groups.join(", ")) }
                        " · headers: " (r.hook.headers.keys().cloned().collect::<Vec<_>>().join(", "))
                        " · signed: " @if r.hook.secret_sealed.is_some() { "yes" } @else { "no" } }
                    @if can_write {
                        div.actions {
                            button.secondary type="button" data-webhook-edit=(r.hook.id) { "Edit" }
                            button.secondary type="button" data-webhook-test=(r.hook.id) { "Send test" }
                            button.danger type="button" data-webhook-delete=(r.hook.id) { "Delete" }
                        }
                    }
                    @if r.deliveries.is_empty() { p.hint { "No deliveries yet." } } @else {
                        div.table-wrap { table.data {
                            thead { tr {
                                th scope="col" { "Queued" }
                                th scope="col" { "Event" }
                                th scope="col" { "State" }
                                th scope="col" { "Attempts" }
                                th scope="col" { "Response" }
                            } }
                            tbody { @for d in r.deliveries { tr {
                                td.nowrap { (super::when(f.tz, d.created_at)) }
                                td { @if d.test { "test" } @else { code { (d.event_type.as_deref().unwrap_or("—")) } } }
                                td { (d.state) }
                                td { (d.attempts) }
                                td { @if let Some(c) = d.response_code { (c) } @else if let Some(e) = &d.error { small { (e) } } }
                            } } }
                        } }
                    }
                }
            }
            @if can_write {
                section.panel #webhook-form {
                    h2 #webhook-form-title { "New webhook" }
                    p.hint { "The rule as JSON, as POST /api/admin/webhooks takes it. Editing a rule, a header whose value is null keeps its stored value, and a rule without \"secret\" keeps its signing secret — unless the URL now goes to another host: then give every header's value (and the secret) again. Placeholders: {event.type}, {event.id}, {event.result}, {user.username}, {user.email}, {user.uuid}, {user.groups}, {client_ip}, {time}, {user_agent}." }
                    label for="webhook-json" { "Rule" }
                    textarea #webhook-json rows="14" spellcheck="false" {
                        "{\n  \"name\": \"Allow sign-in address\",\n  \"enabled\": true,\n  \"events\": [\"signin.success\"],\n  \"method\": \"POST\",\n  \"url\": \"https://example.com/hook\",\n  \"headers\": {},\n  \"body_format\": \"json\",\n  \"body_template\": \"{\\\"ip\\\": \\\"{client_ip}\\\", \\\"user\\\": \\\"{user.username}\\\"}\"\n}"
                    }
                    div.actions {
                        button.primary #webhook-create type="button" { "Create" }
                        button.secondary #webhook-cancel type="button" hidden { "Cancel" }
                    }
                }
            }
        },
    )
}

/// Partial: whether re-validation of server access reaches the media servers.
pub fn revalidation(tz: chrono_tz::Tz, status: Option<&serde_json::Value>) -> Markup {
    let at = |v: &serde_json::Value| v.as_i64().map(|t| super::when(tz, t));
    html! {
        section.panel #revalidation {
            h2 { "Server access re-validation" }
            @match status {
                None => { p.hint { "No pass has run yet." } }
                Some(s) => {
                    @if s["failing"].as_bool() == Some(true) {
                        p.status.bad role="alert" {
                            "Re-validation is failing: the media server could not be asked. Access is kept for the grace period after the last success."
                        }
                    } @else {
                        p.status.ok { "Re-validation is working." }
                    }
                    @if let Some(why) = s["behind"].as_str() {
                        p.status.bad role="status" { "Re-validation cannot keep up: " (why) "." }
                    }
                    dl {
                        dt { "Last pass" } dd { (at(&s["last_run"]).unwrap_or_default()) }
                        dt { "Last success" } dd { (at(&s["last_success"]).unwrap_or_else(|| "never".into())) }
                        @if let Some(e) = s["last_error"].as_str() {
                            dt { "Last error" } dd { (at(&s["last_error_at"]).unwrap_or_default()) ": " (e) }
                        }
                        dt { "Last pass checked" } dd { (s["checked"]) " accounts, revoked " (s["revoked"]) ", kept in grace " (s["kept_in_grace"]) }
                    }
                }
            }
        }
    }
}
