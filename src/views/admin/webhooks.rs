//! The webhooks page (`/admin/webhooks`): each webhook with its recent deliveries.

use maud::{Markup, html};

use super::{Frame, console, status_line};
use crate::db::webhooks::{DeliveryInfo, Webhook};

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
                    @for e in r.hook.events.iter().filter(|e| !crate::event_type::pattern_is_known(e)) { p.notice.error { "Never fires: " code { (e) } " is not an event type webhooks receive." } }
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
                                td.nowrap { (crate::views::when(f.tz, d.created_at)) }
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
                    p.hint { "The rule as JSON, as POST /api/admin/webhooks takes it. Editing a rule, a header whose value is null keeps its stored value, and a rule without \"secret\" keeps its signing secret — unless the URL now goes to another host: then give every header's value (and the secret) again. Placeholders: {event.type}, {event.id}, {event.result}, {user.username}, {user.email}, {user.uuid}, {user.groups}, {client_ip}, {client_cidr}, {time}, {user_agent}." }
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
