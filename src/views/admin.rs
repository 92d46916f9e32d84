//! The admin console pages (`/admin*`): a wider frame of their own with the console nav
//! bar, and pure functions from data to markup. Changes go through admin.js, which calls
//! the JSON API (`/api/admin/*`) and finds its work by ids and data attributes; write
//! controls are left out entirely when the role lacks the write permission.

use maud::{DOCTYPE, Markup, html};

use super::layout::{Page, card, notice, page};
use crate::db::oauth::{Client, Consented};
use crate::db::sessions::SessionInfo;
use crate::db::settings::Version;
use crate::db::users::UserSummary;
use crate::providers::ProviderKind;

/// The console areas, for the nav bar's current item.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Overview,
    Users,
    Settings,
    Branding,
    Clients,
    Backups,
    Events,
    Webhooks,
}

/// Who is looking and which areas they may read.
pub struct Frame<'a> {
    pub username: &'a str,
    /// The owner's name for the portal and logo.
    pub brand: &'a super::layout::Brand,
    /// APP_TIMEZONE, for every time shown.
    pub tz: chrono_tz::Tz,
    pub area: Area,
    pub users: bool,
    pub settings: bool,
    pub clients: bool,
    pub backups: bool,
    pub events: bool,
    pub webhooks: bool,
}

/// The console frame: the shared stylesheet, admin.js (never login.js) and the nav bar.
pub(crate) fn console(title: &str, page_name: &str, f: &Frame, body: Markup) -> Markup {
    let item = |area: Area, href: &str, text: &str| {
        html! {
            li { a href=(href) aria-current=[(f.area == area).then_some("page")] { (text) } }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (super::layout::head(&format!("{title} · Console · {}", f.brand.name), "/static/admin.js", f.brand))
            body.console data-page=(page_name) data-tz=(f.tz.name()) {
                header.console-bar {
                    a.brand href="/admin" {
                        img src=(f.brand.logo_url) alt="" width="24" height="24";
                        span { (f.brand.name) " " small { "console" } }
                    }
                    nav aria-label="Console" {
                        ul {
                            (item(Area::Overview, "/admin", "Overview"))
                            @if f.users { (item(Area::Users, "/admin/users", "Users")) }
                            @if f.settings { (item(Area::Settings, "/admin/settings", "Settings")) }
                            @if f.settings { (item(Area::Branding, "/admin/branding", "Branding")) }
                            @if f.clients { (item(Area::Clients, "/admin/clients", "Clients")) }
                            @if f.backups { (item(Area::Backups, "/admin/backups", "Backups")) }
                            @if f.events { (item(Area::Events, "/admin/events", "Events")) }
                            @if f.webhooks { (item(Area::Webhooks, "/admin/webhooks", "Webhooks")) }
                            li.home { a href="/home" { "Portal home" } }
                        }
                    }
                    span.who { "Signed in as " strong { (f.username) } }
                }
                main.shell.wide {
                    (body)
                }
            }
        }
    }
}

fn provider_label(p: &str) -> &str {
    ProviderKind::parse(p).map_or(p, |k| k.label())
}

/// A path segment, percent-encoded (ids are plain today; this keeps links right if not).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Partial: a yes/no badge.
fn badge(on: bool, yes: &str, no: &str) -> Markup {
    html! {
        @if on { span.badge.on { (yes) } } @else { span.badge { (no) } }
    }
}

/// Partial: a line for the results of a script action (errors and confirmations).
pub(crate) fn status_line(id: &str) -> Markup {
    html! { p.status id=(id) role="status" aria-live="polite" {} }
}

// --- Overview ---

pub struct Overview<'a> {
    /// None when the role may not read that area.
    pub users: Option<i64>,
    pub sessions: Option<i64>,
    pub clients: Option<i64>,
    pub sections: Option<usize>,
    /// The console permissions this person holds.
    pub permissions: &'a [&'a str],
    /// Re-validation of server access: the panel, for those who may read events.
    pub revalidation: Option<Markup>,
}

pub fn overview(f: &Frame, o: &Overview) -> Markup {
    let stat = |label: &str, value: Option<String>, href: &str, link: &str| {
        html! {
            @if let Some(v) = value {
                div.stat {
                    span.stat-value { (v) }
                    span.stat-label { (label) }
                    a href=(href) { (link) " →" }
                }
            }
        }
    };
    console(
        "Overview",
        "admin-overview",
        f,
        html! {
            h1 { "Console" }
            p.lead { "Who uses the portal, the applications signing in through it, and its settings." }
            div.stats {
                (stat("users", o.users.map(|n| n.to_string()), "/admin/users", "Users"))
                (stat("active sessions", o.sessions.map(|n| n.to_string()), "/admin/users", "Sessions by user"))
                (stat("OAuth clients", o.clients.map(|n| n.to_string()), "/admin/clients", "Clients"))
                (stat("settings sections", o.sections.map(|n| n.to_string()), "/admin/settings", "Settings"))
            }
            @if let Some(panel) = &o.revalidation { (panel) }
            section.panel {
                h2 { "Your permissions" }
                ul.tags { @for p in o.permissions { li { (p) } } }
                p.hint { "Roles are groups named in the " a href="/admin/settings/roles" { "roles" } " settings; the admins group holds every permission." }
            }
        },
    )
}

// --- Users ---

pub struct UserList<'a> {
    pub users: &'a [UserSummary],
    pub total: i64,
    pub query: &'a str,
    /// How many came before this page (0 on the first).
    pub at: i64,
    /// The cursor of the next page, if there is one.
    pub next: Option<String>,
}

/// Partial: assigned groups as tags, then provider groups (muted).
fn groups_cell(u: &UserSummary) -> Markup {
    let mut provider: Vec<&str> = Vec::new();
    for g in u.identities.iter().flat_map(|i| i.groups.iter()) {
        if !provider.contains(&g.as_str()) && !u.groups.contains(g) {
            provider.push(g);
        }
    }
    html! {
        ul.tags.compact {
            @for g in &u.groups { li.assigned { (g) } }
            @for g in provider { li { (g) } }
        }
    }
}

pub fn users(f: &Frame, l: &UserList) -> Markup {
    let page_link = |next: Option<&str>| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if !l.query.is_empty() {
            q.append_pair("q", l.query);
        }
        if let Some(cursor) = next {
            q.append_pair("cursor", cursor);
            q.append_pair("at", &(l.at + l.users.len() as i64).to_string());
        }
        let q = q.finish();
        if q.is_empty() {
            "/admin/users".to_string()
        } else {
            format!("/admin/users?{q}")
        }
    };
    let shown_to = (l.at + l.users.len() as i64).min(l.total);
    console(
        "Users",
        "admin-users",
        f,
        html! {
            h1 { "Users" }
            form.search method="get" action="/admin/users" role="search" {
                label for="user-q" { "Search by the start of a name, email or UUID" }
                div.search-row {
                    input #user-q type="search" name="q" value=(l.query) maxlength="200" autocomplete="off";
                    button.primary type="submit" { "Search" }
                    @if !l.query.is_empty() { a.button.secondary href="/admin/users" { "Clear" } }
                }
            }
            p.hint {
                @if l.total == 0 { "No users" @if !l.query.is_empty() { " match “" (l.query) "”" } "." }
                @else if l.users.is_empty() { "No more users." }
                @else { "Showing " (l.at + 1) "–" (shown_to) " of " (l.total) "." }
            }
            @if !l.users.is_empty() {
                div.table-wrap {
                    table.data {
                        thead { tr {
                            th scope="col" { "User" }
                            th scope="col" { "Providers" }
                            th scope="col" { "Groups" }
                            th scope="col" { "MFA" }
                            th scope="col" { "Last sign-in" }
                            th scope="col" { "Status" }
                        } }
                        tbody {
                            @for u in l.users {
                                tr {
                                    td { a href=(format!("/admin/users/{}", seg(&u.uuid))) { (u.username) }
                                        @if let Some(e) = &u.email { br; small.muted { (e) } } }
                                    td { @for (i, id) in u.identities.iter().enumerate() {
                                        @if i > 0 { ", " } (provider_label(&id.provider)) } }
                                    td { (groups_cell(u)) }
                                    td { (badge(u.mfa, "on", "off")) }
                                    td.nowrap { @if let Some(t) = u.last_login_at { (super::when(f.tz, t)) } @else { span.muted { "never" } } }
                                    td { @if u.disabled { span.badge.bad { "disabled" } } @else { span.badge.on { "active" } } }
                                }
                            }
                        }
                    }
                }
            }
            @if l.at > 0 || l.next.is_some() {
                nav.pager aria-label="Pages" {
                    @if l.at > 0 { a.button.secondary href=(page_link(None)) { "← First page" } }
                    @if let Some(next) = &l.next { a.button.secondary href=(page_link(Some(next))) { "Next →" } }
                }
            }
        },
    )
}

pub struct UserPage<'a> {
    pub user: &'a UserSummary,
    pub sessions: &'a [SessionInfo],
    pub grants: &'a [Consented],
    pub can_write: bool,
    /// The person looking at their own account (the API refuses disabling oneself).
    pub is_self: bool,
}

pub fn user(f: &Frame, p: &UserPage) -> Markup {
    let u = p.user;
    let w = p.can_write;
    console(
        &u.username,
        "admin-user",
        f,
        html! {
            p.crumbs { a href="/admin/users" { "← Users" } }
            div #user data-uuid=(u.uuid) {
                h1 { (u.username) " "
                    @if u.disabled { span.badge.bad { "disabled" } } }
                dl.facts {
                    dt { "UUID" } dd { code { (u.uuid) } }
                    @if let Some(e) = &u.email { dt { "Email" } dd { (e) } }
                    dt { "Created" } dd { (super::when(f.tz, u.created_at)) }
                    dt { "Last sign-in" } dd { @if let Some(t) = u.last_login_at { (super::when(f.tz, t)) } @else { "never" } }
                    dt { "Two-factor" } dd { (badge(u.mfa, "enrolled", "not enrolled")) }
                }
                @if w {
                    div.actions {
                        @if u.disabled {
                            button.primary type="button" #user-enable { "Enable account" }
                        } @else if !p.is_self {
                            button.danger type="button" #user-disable
                                data-confirm=(format!("Disable {}? This ends their sessions and revokes their application tokens.", u.username)) { "Disable account" }
                        }
                        @if u.mfa {
                            button.secondary type="button" #user-mfa-reset
                                data-confirm=(format!("Remove {}'s authenticator and recovery codes?", u.username)) { "Reset two-factor" }
                        }
                    }
                    (status_line("user-status"))
                }

                section.panel {
                    h2 { "Identities" }
                    div.table-wrap { table.data {
                        thead { tr {
                            th scope="col" { "Provider" } th scope="col" { "Account" } th scope="col" { "Provider groups" }
                            th scope="col" { "Access" } th scope="col" { "Last sign-in" }
                        } }
                        tbody { @for i in &u.identities { tr {
                            td { (provider_label(&i.provider)) }
                            td { (i.username) br; small.muted { "id " (i.provider_user_id) } }
                            td { ul.tags.compact { @for g in &i.groups { li { (g) } } } }
                            td { (badge(i.authorized, "authorized", "no access")) }
                            td.nowrap { (super::when(f.tz, i.last_login_at)) }
                        } } }
                    } }
                }

                section.panel {
                    h2 { "Groups" }
                    p.hint { "Groups an admin assigns, on top of those the provider gives at every sign-in. "
                        code { "admins" } " makes an admin; groups named in the roles settings carry console permissions." }
                    @if w {
                        form #groups-form .stack {
                            label for="groups-input" { "Assigned groups (separated by commas or spaces)" }
                            input #groups-input type="text" name="groups" value=(u.groups.join(", ")) autocomplete="off" spellcheck="false";
                            div { button.primary type="submit" #groups-save { "Save groups" } }
                        }
                        (status_line("groups-status"))
                    } @else {
                        @if u.groups.is_empty() { p.muted { "No assigned groups." } }
                        @else { ul.tags { @for g in &u.groups { li.assigned { (g) } } } }
                    }
                }

                section.panel {
                    h2 { "Sessions" }
                    @if p.sessions.is_empty() {
                        p.muted #sessions-empty { "No active sessions." }
                    } @else {
                        div.table-wrap { table.data #sessions {
                            thead { tr {
                                th scope="col" { "Started" } th scope="col" { "Expires" } th scope="col" { "Via" }
                                th scope="col" { "Address" } th scope="col" { "Browser" }
                                @if w { th scope="col" { span.visually-hidden { "Actions" } } }
                            } }
                            tbody { @for s in p.sessions { tr data-session-row=(s.sid) {
                                td.nowrap { (super::when(f.tz, s.created_at)) }
                                td.nowrap { (super::when(f.tz, s.expires_at)) }
                                td { (provider_label(&s.provider)) @if !s.amr.is_empty() { br; small.muted { (s.amr.join(", ")) } } }
                                td { (s.ip.as_deref().unwrap_or("")) }
                                td.ua { (s.user_agent.as_deref().unwrap_or("")) }
                                @if w { td { button.secondary.small type="button" data-revoke-session=(s.sid) { "Revoke" } } }
                            } } }
                        } }
                        @if w { div.actions { button.secondary type="button" #sessions-revoke-all { "Revoke all sessions" } } }
                    }
                    @if w { (status_line("sessions-status")) }
                }

                section.panel {
                    h2 { "Applications allowed" }
                    @if p.grants.is_empty() {
                        p.muted { "No application grants." }
                    } @else {
                        div.table-wrap { table.data #grants {
                            thead { tr {
                                th scope="col" { "Application" } th scope="col" { "Scopes" } th scope="col" { "Allowed" }
                                @if w { th scope="col" { span.visually-hidden { "Actions" } } }
                            } }
                            tbody { @for g in p.grants { tr data-grant-row=(g.client_id) {
                                td { (g.name) br; small.muted { code { (g.client_id) } } }
                                td { (g.scopes.join(" ")) }
                                td.nowrap { (super::when(f.tz, g.at)) }
                                @if w { td { button.secondary.small type="button" data-revoke-grant=(g.client_id) { "Revoke" } } }
                            } } }
                        } }
                    }
                    @if w { (status_line("grants-status")) }
                }
            }
        },
    )
}

// --- Settings ---

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

/// Partial: "version 3, saved 2026-11-03 14:05 UTC by root" or "defaults (never saved)".
fn saved_line(tz: chrono_tz::Tz, version: i64, at: Option<i64>, by: Option<&str>) -> Markup {
    html! {
        @if version == 0 { "defaults (never saved)" }
        @else {
            @if let Some(t) = at { "saved " (super::when(tz, t)) }
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
                    td { (section_about(r.name)) }
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
    pub can_write: bool,
}

/// Partial: one row of a section's history (admin.js builds the same after a save).
fn history_row(tz: chrono_tz::Tz, v: &Version, current: i64, can_write: bool) -> Markup {
    html! {
        tr data-version-row=(v.version) {
            td { (v.version) }
            td.nowrap { (super::when(tz, v.updated_at)) }
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

// --- Branding ---

pub struct BrandingPage<'a> {
    pub version: i64,
    pub branding: &'a crate::settings::Branding,
    pub logo: bool,
    pub background: bool,
    /// Names of the uploaded service icons.
    pub icons: &'a [String],
    pub can_write: bool,
}

/// Partial: one service link's fields (admin.js clones the empty one for "Add").
fn link_row(l: Option<&crate::settings::ServiceLink>, icons: &[String], w: bool) -> Markup {
    let v = |f: fn(&crate::settings::ServiceLink) -> Option<&str>| l.and_then(f).unwrap_or("");
    html! {
        fieldset.link-row {
            legend.visually-hidden { "Service" }
            label { "Name" input type="text" data-link="name" maxlength="60" readonly[!w] value=(v(|l| Some(l.name.as_str()))); }
            label { "Address" input type="url" data-link="url" placeholder="https://" readonly[!w] value=(v(|l| Some(l.url.as_str()))); }
            label { "Description" input type="text" data-link="description" maxlength="200" readonly[!w] value=(v(|l| l.description.as_deref())); }
            label { "Only for group" input type="text" data-link="group" placeholder="everyone" readonly[!w] value=(v(|l| l.group.as_deref())); }
            label { "Icon"
                select data-link="icon" disabled[!w] {
                    option value="" { "none" }
                    @for name in icons {
                        option value=(name) selected[l.and_then(|l| l.icon.as_deref()) == Some(name.as_str())] { (name) }
                    }
                }
            }
            @if w { button.secondary.small type="button" data-remove-link { "Remove" } }
        }
    }
}

/// Partial: an uploadable image with its preview.
fn image_slot(id: &str, title: &str, url: &str, present: bool, hint: &str, w: bool) -> Markup {
    html! {
        div.image-slot data-slot=(id) data-url=(url) {
            h3 { (title) }
            img.preview src=[present.then_some(url)] alt=(format!("Current {}", title.to_lowercase())) hidden[!present];
            p.muted data-none hidden[present] { "None uploaded." }
            p.hint { (hint) }
            @if w {
                label.file { "Upload " (title.to_lowercase()) input type="file" accept="image/png,image/jpeg,image/webp" data-upload; }
                button.secondary.small type="button" data-remove-image hidden[!present] { "Remove" }
            }
            (status_line(&format!("{id}-status")))
        }
    }
}

pub fn branding(f: &Frame, p: &BrandingPage) -> Markup {
    let (w, b) = (p.can_write, p.branding);
    console(
        "Branding",
        "admin-branding",
        f,
        html! {
            h1 { "Branding" }
            p.lead { "The name, colours, images and words people see, and the services listed on their home page after sign-in." }
            p.meta { "Version " strong #br-version { (p.version) } " · " a href="/admin/settings/branding" { "history and JSON" } }
            form #branding-form .stack data-version=(p.version) {
                label for="br-name" { "App name" }
                input #br-name type="text" data-field="app_name" maxlength="40" placeholder=(crate::settings::DEFAULT_APP_NAME) readonly[!w] value=[b.app_name.as_deref()];
                label for="br-accent" { "Accent colour" }
                div.inline {
                    input #br-accent type="color" data-field="accent_color" disabled[!w] value=(b.accent_color.as_deref().unwrap_or("#6c8cff"));
                    label.check { input #br-accent-default type="checkbox" disabled[!w] checked[b.accent_color.is_none()]; " Use the default colour" }
                }
                label for="br-welcome" { "Welcome text on the home page" }
                textarea #br-welcome data-field="welcome_text" rows="2" maxlength="2000" readonly[!w] placeholder="You are signed in with … and have access to this server." { (b.welcome_text.as_deref().unwrap_or("")) }
                label for="br-restricted" { "Added to the “No access” page" }
                textarea #br-restricted data-field="restricted_text" rows="2" maxlength="2000" readonly[!w] placeholder="Who to ask, and how." { (b.restricted_text.as_deref().unwrap_or("")) }
                h2 { "Services on the home page" }
                p.hint { "Each person sees the services for everyone and those of their groups." }
                div #br-links data-field="links" {
                    @for l in &b.links { (link_row(Some(l), p.icons, w)) }
                }
                @if w {
                    template #br-link-template { (link_row(None, p.icons, w)) }
                    div.actions { button.secondary type="button" #br-add-link { "Add a service" } }
                    label for="br-reason" { "Reason for the change (optional, kept in the history)" }
                    input #br-reason type="text" maxlength="500" autocomplete="off";
                    p #br-error .notice.error role="alert" hidden {}
                    div.actions { button.primary type="submit" #br-save { "Save" } }
                }
            }
            (status_line("br-status"))
            @if !w { p.hint { "Your role may see the branding but not change it." } }
            section.panel {
                h2 { "Images" }
                p.hint { "PNG, JPEG or WebP (no SVG: it could carry script). They are stored in the portal's database and served by the portal." }
                div.images {
                    (image_slot("logo", "Logo", "/branding/logo", p.logo, "Square, shown at 28 px beside the app name; up to 512 KiB.", w))
                    (image_slot("background", "Background", "/branding/background", p.background, "Behind the sign-in and home pages; up to 4 MiB.", w))
                }
                h3 { "Service icons" }
                ul.icons #br-icons {
                    @for name in p.icons {
                        li data-icon=(name) {
                            img src=(format!("/branding/icons/{name}")) alt="" width="32" height="32";
                            code { (name) }
                            @if w { button.secondary.small type="button" data-remove-icon=(name) { "Remove" } }
                        }
                    }
                }
                @if w {
                    form #icon-form .inline {
                        label for="icon-name" { "Icon name" }
                        input #icon-name type="text" pattern="[a-z0-9-]{1,32}" maxlength="32" placeholder="grafana" required autocomplete="off";
                        input #icon-file type="file" accept="image/png,image/jpeg,image/webp" required aria-label="Icon image";
                        button.secondary type="submit" { "Upload icon" }
                    }
                    (status_line("icon-status"))
                }
            }
        },
    )
}

// --- OAuth clients ---

/// Partial: the fields of a client, empty for a new one; `editing` shows grant types
/// (kept as they are unless changed) and fixes public/confidential.
fn client_fields(c: Option<&Client>, editing: bool) -> Markup {
    let lines = |v: Option<&Vec<String>>| v.map(|v| v.join("\n")).unwrap_or_default();
    let has_scope = |s: &str| c.is_none_or(|c| c.scopes.iter().any(|x| x == s));
    html! {
        label for="c-name" { "Name" }
        input #c-name type="text" name="name" required maxlength="100" autocomplete="off" value=[c.map(|c| c.name.as_str())];
        label for="c-redirects" { "Redirect URIs (one per line)" }
        textarea #c-redirects .code name="redirect_uris" rows="3" required spellcheck="false" autocapitalize="none"
            placeholder="https://app.example.com/oauth/callback" { (lines(c.map(|c| &c.redirect_uris))) }
        label for="c-logout" { "Post-logout redirect URIs (one per line, optional)" }
        textarea #c-logout .code name="post_logout_redirect_uris" rows="2" spellcheck="false" autocapitalize="none" { (lines(c.map(|c| &c.post_logout_uris))) }
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
        }
    }
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
            td { (if c.public { "public" } else { "confidential" }) @if c.trusted { " · trusted" } }
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

pub fn client(f: &Frame, c: &Client, can_write: bool) -> Markup {
    console(
        &c.name,
        "admin-client",
        f,
        html! {
            p.crumbs { a href="/admin/clients" { "← Clients" } }
            h1 { (c.name) }
            dl.facts {
                dt { "Client ID" } dd { code { (c.client_id) } }
                dt { "Kind" } dd { (if c.public { "public (no secret)" } else { "confidential" }) @if c.trusted { " · trusted" } }
                dt { "Created" } dd { (super::when(f.tz, c.created_at)) }
                dt { "Updated" } dd { (super::when(f.tz, c.updated_at)) }
            }
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

// --- Errors ---

/// A console page for something that does not exist (unknown user, section, client).
pub fn not_found(f: &Frame, what: &str, back: &str) -> Markup {
    console(
        "Not found",
        "admin-error",
        f,
        html! {
            h1 { "Not found" }
            (notice("error", &format!("There is no {what} here. It may have been removed.")))
            p { a.button.secondary href=(back) { "Back" } }
        },
    )
}

/// The page for a signed-in person whose role does not open this part of the console.
pub fn forbidden(message: &str, mfa_hint: bool) -> Page {
    page(
        "No access",
        "admin-forbidden",
        card(
            "No access to the console",
            html! {
                (notice("warn", message))
                p { "Ask an administrator if you need access." }
                div.actions {
                    a.button.primary href="/home" { "Back to home" }
                    @if mfa_hint { a.button.secondary href="/mfa/enroll" { "Two-factor sign-in" } }
                }
            },
        ),
    )
}
