//! The users pages (`/admin/users`, `/admin/users/{uuid}`): the list with its filters,
//! and one person with their identities, groups, sessions and consents.

use maud::{Markup, html};

use super::{Frame, badge, console, provider_label, seg, status_line};
use crate::db::oauth::Consented;
use crate::db::sessions::SessionInfo;
use crate::db::users::UserSummary;

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
                                    td.nowrap { @if let Some(t) = u.last_login_at { (crate::views::when(f.tz, t)) } @else { span.muted { "never" } } }
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
                    dt { "Created" } dd { (crate::views::when(f.tz, u.created_at)) }
                    dt { "Last sign-in" } dd { @if let Some(t) = u.last_login_at { (crate::views::when(f.tz, t)) } @else { "never" } }
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
                            td.nowrap { (crate::views::when(f.tz, i.last_login_at)) }
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
                                td.nowrap { (crate::views::when(f.tz, s.created_at)) }
                                td.nowrap { (crate::views::when(f.tz, s.expires_at)) }
                                td { (provider_label(&s.provider)) @if !s.amr.is_empty() { br; small.muted { (s.amr.join(", ")) } } }
                                td { (s.ip.as_deref().unwrap_or("")) }
                                td.ua title=(s.user_agent.as_deref().unwrap_or("")) { (crate::user_agent::describe(s.user_agent.as_deref().unwrap_or(""))) }
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
                                td.nowrap { (crate::views::when(f.tz, g.at)) }
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
