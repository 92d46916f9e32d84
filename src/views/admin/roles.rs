//! The roles page (`/admin/roles`): groups x console permissions as checkboxes, and the
//! MFA-enforcement group picker the mfa settings page shows. admin.js saves them through
//! the settings API, which also refuses a change that would lock the saver out.

use maud::{Markup, html};

use super::{Frame, console, status_line};
use crate::groups::ADMINS;
use crate::roles::{Grant, Permission, RolesSettings};

pub struct RolesPage<'a> {
    pub version: i64,
    pub roles: &'a RolesSettings,
    /// The groups to offer as rows (groups::known, which includes every role's group).
    pub groups: &'a [String],
    pub can_write: bool,
}

/// Partial: one group's row. The owners' row is all ticked and cannot change.
fn role_row(group: &str, grants: &[Grant], w: bool) -> Markup {
    let owners = group == ADMINS;
    let all = owners || grants.contains(&Grant::All);
    let has = |p: Permission| all || grants.contains(&Grant::One(p));
    html! {
        tr data-role=(group) {
            th scope="row" { (group) @if owners { br; small.muted { "always everything" } } }
            td { input type="checkbox" data-perm="*" checked[all] disabled[!w || owners] aria-label=(format!("{group}: every permission, also future ones")); }
            @for p in Permission::ALL {
                td { input type="checkbox" data-perm=(p.name()) checked[has(p)] disabled[!w || owners || all] aria-label=(format!("{group}: {}", p.name())); }
            }
        }
    }
}

/// What a permission lets someone do, in a few words.
fn permission_about(p: Permission) -> &'static str {
    match p {
        Permission::AdminAccess => "open the console at all",
        Permission::ConfigRead => "read settings and access rules",
        Permission::ConfigWrite => "change settings and access rules",
        Permission::UsersRead => "see users and sessions",
        Permission::UsersWrite => "change users, end sessions",
        Permission::OauthRead => "see OIDC clients",
        Permission::OauthWrite => "change OIDC clients",
        Permission::BackupsRead => "see backups",
        Permission::BackupsWrite => "take and restore backups",
        Permission::EventsRead => "read the event log",
        Permission::WebhooksRead => "see webhooks",
        Permission::WebhooksWrite => "change webhooks",
    }
}

pub fn roles(f: &Frame, p: &RolesPage) -> Markup {
    let w = p.can_write;
    console(
        "Roles",
        "admin-roles",
        f,
        html! {
            h1 { "Roles" }
            p.lead { "Which groups may do what in this console. A person holds every permission of every group they are in. The admins group always holds everything, so the owners cannot be locked out; a change that would take your own console access away is refused." }
            p.meta {
                "Version " strong #roles-version { (p.version) } " · "
                a href="/admin/settings/roles" { "Advanced: edit as JSON, history" }
            }
            form #roles-form .stack data-version=(p.version) {
                div.table-wrap { table.data.grid #roles-grid {
                    thead { tr {
                        th scope="col" { "Group" }
                        th scope="col" title="every permission, also ones added later" { "All" }
                        @for perm in Permission::ALL { th scope="col" title=(permission_about(perm)) { (perm.name()) } }
                    } }
                    tbody {
                        @for g in p.groups {
                            (role_row(g, p.roles.roles.get(g).map_or(&[][..], Vec::as_slice), w))
                        }
                    }
                } }
                details {
                    summary { "What each permission allows" }
                    dl.permissions { @for perm in Permission::ALL { dt { code { (perm.name()) } } dd { (permission_about(perm)) } } }
                }
                @if w {
                    div.actions {
                        label.field { span.label { "Another group" } input #roles-new type="text" maxlength="64" autocapitalize="none" placeholder="e.g. helpdesk"; }
                        button.secondary type="button" #roles-add { "Add row" }
                    }
                    p #roles-error .notice.error role="alert" hidden {}
                    label for="roles-reason" { "Reason for the change (optional, kept in the history)" }
                    input #roles-reason type="text" maxlength="500" autocomplete="off";
                    div.actions { button.primary type="submit" #roles-save { "Save roles" } }
                } @else {
                    p.hint { "Your role may read the roles but not change them." }
                }
            }
            (status_line("roles-status"))
        },
    )
}

/// What the mfa settings page shows above its JSON: the groups that must use two-factor
/// sign-in, picked from the known ones.
pub struct MfaPick<'a> {
    pub groups: &'a [String],
    pub enforced: &'a [String],
    /// MFA_ENABLE: without it, enforcement does nothing yet.
    pub mfa_enabled: bool,
}

/// Partial: the MFA enforcement form (admin.js saves it as the "mfa" section).
pub fn mfa_pick(p: &MfaPick, w: bool) -> Markup {
    html! {
        form #mfa-form .stack {
            fieldset.checks {
                legend { "Groups that must use two-factor sign-in" }
                @for g in p.groups {
                    label.check { input type="checkbox" name="enforce" value=(g) checked[p.enforced.contains(g)] disabled[!w]; (g) }
                }
                p.hint { "Members must set up a second factor, and sign in with it, before they can use the portal. If you are in a group you tick, set up yours first at /mfa/enroll; the save is refused while this session has no second factor, so you cannot lock yourself out." }
            }
            @if !p.mfa_enabled {
                p.notice.warn { "Two-factor sign-in is off for this install (MFA_ENABLE): enforcement starts when it is turned on." }
            }
            @if w { div.actions { button.primary type="submit" #mfa-save { "Save groups" } } }
        }
        (status_line("mfa-status"))
    }
}
