//! The settings pages (`/admin/settings`, `/admin/settings/{section}`): the sections
//! and one section's editor with its version history.

use maud::{Markup, html};

use super::{Frame, console, seg, status_line};
use crate::db::settings::Version;
use crate::settings::{Field, FieldKind};
use crate::views::layout::notice;

pub struct SectionRow<'a> {
    pub name: &'a str,
    pub version: i64,
    pub updated_at: Option<i64>,
    pub updated_by: Option<String>,
}

/// What a section is for, in a line.
fn section_about(name: &str) -> &'static str {
    match name {
        "access" => "Forward-auth rules: which users and groups may reach which hosts and paths.",
        "mfa" => "Which groups must use two-factor sign-in.",
        "roles" => "Which groups hold which console permissions.",
        "providers" => "Which media servers people sign in with, and how to reach them.",
        "branding" => {
            "What people see: the welcome and no-access texts, the accent colour, and the services on the home page."
        }
        "security" => {
            "How long a sign-in lasts, how many requests a client may make (rate limits), and which loopback or link-local hosts outbound requests may reach."
        }
        "backups" => "When backups are taken (in APP_TIMEZONE) and how many are kept.",
        "events" => "How many days the audit log keeps events.",
        "revalidation" => {
            "How often signed-in users' server access is checked again, and how long access survives an unreachable server."
        }
        _ => "",
    }
}

/// The page with a form for this section, if it has one elsewhere.
fn form_page(name: &str) -> Option<&'static str> {
    match name {
        "access" => Some("/admin/access"),
        "roles" => Some("/admin/roles"),
        "providers" => Some("/admin/media"),
        "branding" => Some("/admin/branding"),
        "backups" => Some("/admin/backups"),
        "ldap" => Some("/admin/ldap"),
        _ => None,
    }
}

/// Partial: "version 3, saved 2026-11-03 14:05 UTC by root" or "defaults (never saved)".
fn saved_line(tz: chrono_tz::Tz, version: i64, at: Option<i64>, by: Option<&str>) -> Markup {
    html! {
        @if version == 0 { "defaults (never saved)" }
        @else {
            @if let Some(t) = at { "saved " (crate::views::when(tz, t)) }
            @if let Some(b) = by { " by " (b) }
        }
    }
}

pub fn settings(f: &Frame, rows: &[SectionRow], can_write: bool) -> Markup {
    console(
        "Settings",
        "admin-settings",
        f,
        html! {
            h1 { "Settings" }
            p.lead { "Each section is one JSON document with a version and a history; a save names the version it started from, so two people cannot overwrite each other unnoticed." }
            div.table-wrap { table.data {
                thead { tr { th scope="col" { "Section" } th scope="col" { "What it holds" } th scope="col" { "Version" } th scope="col" { "Last change" } } }
                tbody { @for r in rows { tr {
                    td { a href=(format!("/admin/settings/{}", seg(r.name))) { (r.name) } }
                    td { (section_about(r.name))
                        @if let Some(form) = form_page(r.name) { " " a href=(form) { "Open the form" } } }
                    td { (r.version) }
                    td { (saved_line(f.tz, r.version, r.updated_at, r.updated_by.as_deref())) }
                } } }
            } }
            @if !can_write { p.hint { "Your role may read the settings but not change them." } }
        },
    )
}

pub struct SectionPage<'a> {
    pub name: &'a str,
    pub version: i64,
    /// The current value, pretty-printed.
    pub config: &'a str,
    pub updated_at: Option<i64>,
    pub updated_by: Option<&'a str>,
    /// Versions with their values as the console may see them (secrets as set / not set).
    pub history: &'a [Version],
    /// Fields the environment sets: they win over what is saved here.
    pub locked: &'a [&'a str],
    /// What the saved value does that its owner may not expect (it still applies).
    pub warnings: &'a [String],
    /// The mfa section's group picker (shown above the JSON, which becomes "advanced").
    pub mfa: Option<super::MfaPick<'a>>,
    /// The section's generic form (shown above the JSON, which becomes "advanced").
    pub form: Option<SectionForm<'a>>,
    pub can_write: bool,
}

/// A section's generic form: its fields as the section describes them, filled in.
pub struct SectionForm<'a> {
    pub fields: &'static [Field],
    /// The value in force with every field (defaults where the saved one is silent).
    pub config: &'a serde_json::Value,
}

/// Partial: the generic form (admin.js sends it as the same JSON document, through the
/// same PUT, as the advanced editor). Each input carries its field's path in
/// `data-path`; a refused save shows its message by the field it names.
fn section_form(p: &SectionForm, locked: &[&str], w: bool) -> Markup {
    html! {
        form #section-form .stack.section-form novalidate data-config=(p.config.to_string()) {
            @for f in p.fields { (field(f, "", Some(p.config), locked, w)) }
            @if w {
                label for="section-reason" { "Reason for the change (optional, kept in the history)" }
                input #section-reason type="text" maxlength="500" autocomplete="off";
                div.actions { button.primary type="submit" #section-save { "Save" } }
            }
        }
        (status_line("section-status"))
    }
}

/// Partial: one field of the generic form at `parent` (a dotted path, "" at the top)
/// with its value in `parent_value`.
fn field(
    f: &Field,
    parent: &str,
    parent_value: Option<&serde_json::Value>,
    locked: &[&str],
    w: bool,
) -> Markup {
    let path = if parent.is_empty() {
        f.key.to_string()
    } else {
        format!("{parent}.{}", f.key)
    };
    let value = parent_value.and_then(|v| v.get(f.key));
    let id = format!("f-{}", path.replace(['.', '_'], "-"));
    let (hint_id, error_id) = (format!("{id}-hint"), format!("{id}-error"));
    let described = format!("{hint_id} {error_id}");
    // `locked` names top-level fields; what the environment sets cannot be edited here.
    let set_by_env = parent.is_empty() && locked.contains(&f.key);
    let read_only = !w || set_by_env;
    let env_note = html! {
        @if set_by_env {
            " " strong { "Set by " code { (f.env.unwrap_or("the environment")) } ", which wins over what is saved here." }
        }
    };
    let error = html! { span.notice.error.field-error id=(error_id) role="alert" hidden {} };
    match &f.kind {
        FieldKind::Group(inner) => html! {
            fieldset.rule-part.form-group data-group=(path) {
                legend { (f.label) }
                p.hint { (f.hint) }
                div.form-fields { @for g in *inner { (field(g, &path, value, locked, w)) } }
            }
        },
        FieldKind::Integer { min, max, unit } => html! {
            label.field for=(id) {
                span.label { (f.label) }
                span.with-unit {
                    input id=(id) type="number" inputmode="numeric" step="1" min=(min) max=(max)
                        value=(value.map(|v| v.to_string()).unwrap_or_default())
                        data-path=(path) data-kind="integer" aria-describedby=(described) readonly[read_only];
                    span.unit { (unit) }
                }
                span.hint id=(hint_id) { (f.hint) " From " (min) " to " (max) "." (env_note) }
                (error)
            }
        },
        FieldKind::Strings { max } => {
            let lines: Vec<&str> = value
                .and_then(|v| v.as_array())
                .map(|l| l.iter().filter_map(|s| s.as_str()).collect())
                .unwrap_or_default();
            html! {
                label.field for=(id) {
                    span.label { (f.label) }
                    textarea.code id=(id) rows=(lines.len().clamp(3, 12)) spellcheck="false" autocapitalize="none"
                        data-path=(path) data-kind="strings" aria-describedby=(described) readonly[read_only] { (lines.join("\n")) }
                    span.hint id=(hint_id) { (f.hint) " One a line, at most " (max) "." (env_note) }
                    (error)
                }
            }
        }
    }
}

/// Partial: one row of a section's history (admin.js builds the same after a save).
fn history_row(tz: chrono_tz::Tz, v: &Version, current: i64, can_write: bool) -> Markup {
    html! {
        tr data-version-row=(v.version) {
            td { (v.version) }
            td.nowrap { (crate::views::when(tz, v.updated_at)) }
            td { (v.updated_by.as_deref().unwrap_or("")) }
            td { (v.reason.as_deref().unwrap_or("")) }
            td {
                @if !v.changes.is_empty() { ul.changes { @for c in &v.changes { li { code { (c) } } } } }
                details { summary { "Whole value" } pre.config { (serde_json::to_string_pretty(&v.config).unwrap_or_default()) } }
            }
            @if can_write {
                td { @if v.version == current { span.muted { "current" } }
                    @else { button.secondary.small type="button" data-revert=(v.version) { "Revert to this" } } }
            }
        }
    }
}

pub fn setting(f: &Frame, p: &SectionPage) -> Markup {
    let w = p.can_write;
    console(
        &format!("Settings: {}", p.name),
        "admin-setting",
        f,
        html! {
            p.crumbs { a href="/admin/settings" { "← Settings" } }
            h1 { "Settings: " code { (p.name) } }
            p.lead { (section_about(p.name)) }
            p.meta {
                "Version " strong #cfg-version { (p.version) } " · "
                span #cfg-saved { (saved_line(f.tz, p.version, p.updated_at, p.updated_by)) }
            }
            @if p.name == "providers" {
                p.hint { "Secrets show as " code { "{\"set\": true}" } ": leave that to keep a secret, write the new value as a string to replace it, or "
                    code { "null" } " to clear it." }
            }
            @if !p.locked.is_empty() {
                p.notice.info { "Set by the environment, which wins over what is saved here: "
                    @for (i, field) in p.locked.iter().enumerate() { @if i > 0 { ", " } code { (field) } } "." }
            }
            @for w in p.warnings { (notice("warn", w)) }
            @if let Some(form) = form_page(p.name) {
                p.notice.info { "This section has a form: " a href=(form) { "edit it at " (form) } ". The JSON below is the advanced view of the same document." }
            }
            @if let Some(pick) = &p.mfa {
                (super::roles::mfa_pick(pick, w))
                h2 { "Advanced: the JSON document" }
            }
            @if let Some(form) = &p.form {
                (section_form(form, p.locked, w))
                h2 { "Advanced: the JSON document" }
            }
            form #cfg-form .stack data-section=(p.name) data-version=(p.version) {
                label for="cfg-text" { "Configuration (JSON)" }
                textarea #cfg-text .code name="config" rows=(p.config.lines().count().clamp(6, 30) + 2) spellcheck="false" autocapitalize="none"
                    readonly[!w] aria-describedby="cfg-error" { (p.config) }
                p #cfg-error .notice.error role="alert" hidden {}
                @if w {
                    label for="cfg-reason" { "Reason for the change (optional, kept in the history)" }
                    input #cfg-reason type="text" name="reason" maxlength="500" autocomplete="off";
                    div.actions { button.primary type="submit" #cfg-save { "Save" } }
                } @else {
                    p.hint { "Your role may read this section but not change it." }
                }
            }
            (status_line("cfg-status"))
            @if w {
                section #cfg-conflict .panel.conflict hidden {
                    (notice("warn", "Someone saved this section while you were editing. Compare your edit with the value on the server, then load the server value and apply your change again, or save yours over it."))
                    div.compare {
                        div { h3 { "Your edit" } pre.config #cfg-mine {} }
                        div { h3 { "On the server (version " span #cfg-theirs-version {} ")" } pre.config #cfg-theirs {} }
                    }
                    div.actions {
                        button.primary type="button" #cfg-take-server { "Load the server value" }
                        button.secondary type="button" #cfg-keep-mine { "Keep my edit, save over it" }
                    }
                }
            }
            section.panel {
                h2 { "History" }
                p.hint #history-empty hidden[!p.history.is_empty()] { "Never saved: the defaults apply." }
                div.table-wrap { table.data #cfg-history data-can-write=(if w { "1" } else { "0" }) {
                    thead { tr {
                        th scope="col" { "Version" } th scope="col" { "Saved" } th scope="col" { "By" } th scope="col" { "Reason" } th scope="col" { "Value" }
                        @if w { th scope="col" { span.visually-hidden { "Actions" } } }
                    } }
                    tbody { @for v in p.history { (history_row(f.tz, v, p.version, w)) } }
                } }
            }
        },
    )
}
