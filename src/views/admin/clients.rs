//! The OAuth client pages (`/admin/clients`, `/admin/clients/{id}`): the list, the
//! create form (optionally started from an app preset) and one client's editor, with the
//! values to paste into the app.

use maud::{Markup, html};

use super::{Frame, console, seg, status_line};
use crate::db::oauth::Client;
use crate::oidc::presets::{PRESETS, Preset};

/// What a client page shows for connecting the app: the portal's addresses, and with a
/// preset that app's own settings by name.
pub struct Connect<'a> {
    pub endpoints: Vec<(&'static str, String)>,
    pub preset: Option<(&'a Preset, Vec<(&'static str, String)>)>,
}

/// Partial: a value with a button that copies it (admin.js: `data-copy`).
fn copyable(id: &str, value: &str) -> Markup {
    html! {
        span.copyable {
            code id=(id) { (value) }
            " "
            button.secondary.small type="button" data-copy=(id) aria-label="Copy" { "Copy" }
        }
    }
}

/// Partial: the create form's preset picker; admin.js fills the fields from the option.
fn preset_picker() -> Markup {
    html! {
        label for="c-preset" { "Start from a preset (optional)" }
        select #c-preset name="preset" {
            option value="" { "None: set everything by hand" }
            @for p in PRESETS {
                option value=(p.key)
                    data-public=(if p.public { "1" } else { "0" })
                    data-methods=(p.auth_methods.join(" "))
                    data-pkce=(if p.pkce_required { "1" } else { "0" })
                    data-scopes=(p.scopes.join(" "))
                    data-redirects=(p.example_redirect_uris().join("\n"))
                    { (p.name) }
            }
        }
        p.hint { "A preset fills in the authentication method, PKCE, scopes and redirect URIs the app expects; replace the example address with the app's own. After creation the portal shows the exact values to paste into the app." }
    }
}

/// Partial: the fields of a client, empty for a new one; `editing` shows grant types
/// (kept as they are unless changed) and fixes public/confidential.
fn client_fields(c: Option<&Client>, editing: bool) -> Markup {
    let lines = |v: Option<&Vec<String>>| v.map(|v| v.join("\n")).unwrap_or_default();
    let has_scope = |s: &str| c.is_none_or(|c| c.scopes.iter().any(|x| x == s));
    html! {
        label for="c-name" { "Name" }
        input #c-name type="text" name="name" required maxlength="100" autocomplete="off" value=[c.map(|c| c.name.as_str())];
        label for="c-redirects" { "Redirect URIs (one per line)" }
        textarea #c-redirects .code name="redirect_uris" rows="3" spellcheck="false" autocapitalize="none"
            placeholder="https://app.example.com/oauth/callback" { (lines(c.map(|c| &c.redirect_uris))) }
        label for="c-logout" { "Post-logout redirect URIs (one per line, optional)" }
        textarea #c-logout .code name="post_logout_redirect_uris" rows="2" spellcheck="false" autocapitalize="none" { (lines(c.map(|c| &c.post_logout_uris))) }
        label for="c-groups" { "Allowed groups (one per line; empty: everyone with server access)" }
        textarea #c-groups .code name="allowed_groups" rows="2" spellcheck="false" autocapitalize="none"
            placeholder="family" { (lines(c.map(|c| &c.allowed_groups))) }
        fieldset.checks {
            legend { "Scopes" }
            @for s in crate::oidc::SCOPES {
                label.check { input type="checkbox" name="scope" value=(s) checked[has_scope(s)]; span { (s) } }
            }
        }
        @if editing {
            fieldset.checks {
                legend { "Grant types" }
                @for g in crate::oidc::GRANT_TYPES {
                    label.check { input type="checkbox" name="grant_type" value=(g)
                        checked[c.is_some_and(|c| c.grant_types.iter().any(|x| x == g))]; span { (g) } }
                }
            }
        }
        fieldset.checks {
            legend { "Token endpoint authentication" }
            @for m in crate::oidc::AUTH_METHODS {
                label.check { input type="checkbox" name="auth_method" value=(m)
                    checked[c.map_or(*m != crate::oidc::AUTH_NONE, |c| c.auth_methods.iter().any(|x| x == m))]; span { (m) } }
            }
            label.check {
                input #c-pkce type="checkbox" name="require_pkce" checked[c.is_some_and(|c| c.pkce_required)]
                    disabled[c.is_some_and(|c| c.public)];
                span { "Require PKCE (S256); always required for public clients" }
            }
        }
        fieldset.checks {
            legend { "Kind" }
            label.check {
                input #c-public type="checkbox" name="public" checked[c.is_some_and(|c| c.public)] disabled[editing];
                span { "Public client: no secret (single-page and native apps; PKCE required)" }
            }
            @if editing { p.hint { "A client cannot change between public and confidential; create a new one instead." } }
            label.check {
                input #c-trusted type="checkbox" name="trusted" checked[c.is_some_and(|c| c.trusted)];
                span { "Trusted: skip the consent screen" }
            }
            @if !editing {
                label.check {
                    input #c-device type="checkbox" name="device";
                    span { "Devices: TVs and apps sign in with a code typed at /device (no redirect URI needed)" }
                }
            }
        }
    }
}

/// Whether TVs and apps may sign in with the client through /device (RFC 8628).
fn device(c: &Client) -> bool {
    c.grant_types
        .iter()
        .any(|g| g == crate::oidc::device::GRANT_TYPE)
}

/// Partial: where a new secret is shown once, filled in by admin.js.
fn secret_panel() -> Markup {
    html! {
        section #secret-panel .panel.secret hidden tabindex="-1" {
            h2 #secret-title { "Client created" }
            p.notice.warn #secret-warning {
                strong { "Copy the secret now: it is shown only this once." }
                " The portal keeps only a digest of it. If it is lost, rotate the secret."
            }
            dl.facts {
                dt { "Client ID" } dd { code #secret-client-id {} }
                dt #secret-label { "Client secret" } dd { code #secret-value .secret-value {} }
            }
            div #secret-setup hidden {
                h3 #secret-setup-title { "Values for the app" }
                dl.facts #secret-setup-list {}
            }
            div.actions {
                button.primary type="button" #secret-copy { "Copy secret" }
                a.button.secondary #secret-link href="/admin/clients" { "Open the client" }
            }
            (status_line("secret-status"))
        }
    }
}

/// Partial: one row of the clients table (admin.js adds one the same way after a create).
fn client_row(c: &Client) -> Markup {
    html! {
        tr {
            td { a href=(format!("/admin/clients/{}", seg(&c.client_id))) { (c.name) } }
            td { code { (c.client_id) } }
            td { (if c.public { "public" } else { "confidential" }) @if c.trusted { " · trusted" } @if device(c) { " · devices" } }
            td.uris { @for u in &c.redirect_uris { span { (u) } br; } }
            td { (c.scopes.join(" ")) }
        }
    }
}

pub fn clients(f: &Frame, list: &[Client], can_write: bool) -> Markup {
    console(
        "Clients",
        "admin-clients",
        f,
        html! {
            h1 { "OAuth clients" }
            p.lead { "Applications that sign people in through this portal with OpenID Connect." }
            div.table-wrap { table.data #clients {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Client ID" } th scope="col" { "Kind" } th scope="col" { "Redirect URIs" } th scope="col" { "Scopes" } } }
                tbody #clients-body {
                    @for c in list { (client_row(c)) }
                    @if list.is_empty() { tr #clients-empty { td colspan="5" { span.muted { "No clients yet." } } } }
                }
            } }
            @if can_write {
                (secret_panel())
                section.panel {
                    h2 { "New client" }
                    form #client-create .stack {
                        (preset_picker())
                        (client_fields(None, false))
                        div.actions { button.primary type="submit" #client-create-submit { "Create client" } }
                    }
                    (status_line("client-status"))
                }
            } @else {
                p.hint { "Your role may see the clients but not change them." }
            }
        },
    )
}

/// Partial: where the app finds the portal, and a preset's settings for it.
fn connect_panel(connect: &Connect) -> Markup {
    html! {
        section.panel #connect {
            h2 { "Connect the app" }
            dl.facts {
                @for (i, (label, value)) in connect.endpoints.iter().enumerate() {
                    dt { (label) } dd { (copyable(&format!("endpoint-{i}"), value)) }
                }
            }
            @if let Some((preset, settings)) = &connect.preset {
                h3 { "Settings for " (preset.name) }
                p.hint { "Paste these into the app (" a href=(preset.doc) rel="noreferrer" { "its documentation" } "). The secret was shown once, at creation; rotate it if it is lost." }
                dl.facts {
                    @for (i, (name, value)) in settings.iter().enumerate() {
                        dt { code { (name) } } dd { (copyable(&format!("setting-{i}"), value)) }
                    }
                }
            }
        }
    }
}

pub fn client(f: &Frame, c: &Client, can_write: bool, connect: &Connect) -> Markup {
    console(
        &c.name,
        "admin-client",
        f,
        html! {
            p.crumbs { a href="/admin/clients" { "← Clients" } }
            h1 { (c.name) }
            dl.facts {
                dt { "Client ID" } dd { code { (c.client_id) } }
                dt { "Kind" } dd { (if c.public { "public (no secret)" } else { "confidential" }) @if c.trusted { " · trusted" } @if device(c) { " · devices sign in at /device" } }
                dt { "Authentication" } dd { (c.auth_methods.join(", ")) " · PKCE " (if c.pkce_required { "required" } else { "optional" }) }
                dt { "Created" } dd { (crate::views::when(f.tz, c.created_at)) }
                dt { "Updated" } dd { (crate::views::when(f.tz, c.updated_at)) }
            }
            (connect_panel(connect))
            @if can_write {
                (secret_panel())
                section.panel {
                    h2 { "Edit" }
                    form #client-edit .stack data-client-id=(c.client_id) data-public=(if c.public { "1" } else { "0" }) {
                        (client_fields(Some(c), true))
                        div.actions { button.primary type="submit" #client-save { "Save changes" } }
                    }
                    (status_line("client-status"))
                }
                section.panel.danger-zone {
                    h2 { "Secret and removal" }
                    div.actions {
                        @if !c.public {
                            button.secondary type="button" #client-rotate data-client-id=(c.client_id)
                                data-confirm="Rotate the secret? The old one stops working at once." { "Rotate secret" }
                        }
                        button.danger type="button" #client-delete data-client-id=(c.client_id)
                            data-confirm=(format!("Delete {}? Its tokens stop working and it can no longer sign anyone in.", c.name)) { "Delete client" }
                    }
                    (status_line("danger-status"))
                }
            } @else {
                section.panel {
                    h2 { "Settings" }
                    dl.facts {
                        dt { "Redirect URIs" } dd { @for u in &c.redirect_uris { code { (u) } br; } }
                        dt { "Post-logout URIs" } dd { @for u in &c.post_logout_uris { code { (u) } br; } }
                        dt { "Scopes" } dd { (c.scopes.join(" ")) }
                        dt { "Grant types" } dd { (c.grant_types.join(" ")) }
                    }
                    p.hint { "Your role may see this client but not change it." }
                }
            }
        },
    )
}
