//! The webhooks page (`/admin/webhooks`): each webhook with its recent deliveries and
//! test button, and the form that creates or edits one (presets, event checkboxes,
//! headers, body template beside its placeholders, a live preview, the JSON as
//! "Advanced"). admin.js fills the form, asks the server for the preview and saves.

use maud::{Markup, html};

use super::{Frame, console, status_line};
use crate::db::webhooks::{DeliveryInfo, Webhook};
use crate::event_type::EventType;
use crate::webhooks::{METHODS, PLACEHOLDERS, PRESETS};

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
                        p.status data-test-result=(r.hook.id) role="status" aria-live="polite" {}
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
            @if can_write { (form()) }
        },
    )
}

/// The form for a new or an edited rule. Starts empty and disabled: a preset fills it
/// with a shape to complete, never a destination that would receive anything.
fn form() -> Markup {
    let presets = serde_json::to_string(PRESETS).unwrap_or_else(|_| "[]".into());
    html! {
        section.panel #webhook-form data-presets=(presets) {
            h2 #webhook-form-title { "New webhook" }
            p.hint { "A new webhook starts disabled: fill it in or start from a preset, save it, send a test, then enable it." }
            div.presets role="group" aria-label="Start from a preset" {
                span.muted { "Start from:" }
                @for p in PRESETS {
                    button.secondary.small type="button" data-preset=(p.id) { (p.label) }
                }
            }
            p.notice.info #webhook-preset-about hidden {}
            form.stack #webhook-fields novalidate {
                label for="wh-name" { "Name" }
                input #wh-name type="text" name="name" maxlength="100" autocomplete="off";
                label.check {
                    input #wh-enabled type="checkbox" name="enabled";
                    "Enabled: send a request whenever a chosen event happens"
                }
                fieldset.checks #wh-events {
                    legend { "Events" }
                    @for t in EventType::ALL.iter().filter(|t| t.delivered()) {
                        label.check title=(t.description()) {
                            input type="checkbox" name="events" value=(t.as_str());
                            code { (t.as_str()) }
                        }
                    }
                    p.hint { "Hover a type for when it is written. signin.success is a finished sign-in (second factor included)." }
                }
                label for="wh-patterns" { "Other event patterns (comma-separated, like signin.* for every sign-in event or * for all)" }
                input #wh-patterns type="text" autocomplete="off" spellcheck="false";
                div.field-row {
                    label { "Only these users (names or UUIDs, comma-separated; empty: everyone)"
                        input #wh-users type="text" autocomplete="off" spellcheck="false"; }
                    label { "Only these groups (comma-separated; empty: any)"
                        input #wh-groups type="text" autocomplete="off" spellcheck="false"; }
                }
                div.field-row {
                    label { "Method"
                        select #wh-method { @for m in METHODS { option value=(m) selected[*m == "POST"] { (m) } } } }
                    label { "Body format"
                        select #wh-format {
                            option value="json" { "JSON" }
                            option value="form" { "Form (key=value&…)" }
                        } }
                    label { "Timeout (seconds)"
                        input #wh-timeout type="number" min="1" max="60" value="10"; }
                    label { "Attempts"
                        input #wh-attempts type="number" min="1" max="20" value="5"; }
                }
                label for="wh-url" { "URL (placeholders allowed in the path and query)" }
                input #wh-url type="text" inputmode="url" autocomplete="off" spellcheck="false" placeholder="https://…";
                fieldset.checks #wh-headers {
                    legend { "Headers" }
                    div.header-rows #wh-header-rows {}
                    button.secondary.small #wh-header-add type="button" { "Add header" }
                    p.hint { "Values are stored sealed and never shown again. Editing a webhook, leave a value empty to keep the stored one." }
                }
                div.template {
                    div {
                        label for="wh-body" { "Body template" }
                        textarea.code #wh-body rows="8" spellcheck="false" {}
                        p.hint { "Values are escaped for where they go: JSON strings in a JSON body (write the quotes: \"{client_ip}\"), percent-encoded in a form body and the URL." }
                    }
                    aside.placeholders aria-label="Placeholders" {
                        h3 { "Placeholders" }
                        dl {
                            @for p in PLACEHOLDERS {
                                dt { button.link type="button" data-placeholder=(p.name) title="Insert into the body template" { code { "{" (p.name) "}" } } }
                                dd { (p.about) }
                            }
                        }
                    }
                }
                h3 { "Preview" }
                p.hint { "What a delivery would send for a made-up event (alice signing in from 203.0.113.9), rendered by the portal as you type." }
                pre.config #wh-preview aria-live="polite" {}
                label for="wh-secret" { "Signing secret (optional)" }
                input #wh-secret type="password" autocomplete="new-password";
                label.check #wh-secret-remove-row hidden {
                    input #wh-secret-remove type="checkbox";
                    "Remove the stored secret"
                }
                p.hint #wh-secret-hint { "With a secret, each request carries an X-Authportal-Signature the receiver can check (see the README)." }
                details #webhook-advanced {
                    summary { "Advanced: the rule as JSON" }
                    p.hint { "The form as POST /api/admin/webhooks takes it. Change it here and press \"Use this JSON\" to load it into the form. A header whose value is null keeps its stored value." }
                    textarea.code #webhook-json rows="14" spellcheck="false" {}
                    div.actions { button.secondary #webhook-json-apply type="button" { "Use this JSON" } }
                }
                div.actions {
                    button.primary #webhook-create type="submit" { "Create" }
                    button.secondary #webhook-cancel type="button" hidden { "Cancel" }
                }
                (status_line("webhook-form-status"))
            }
        }
    }
}
