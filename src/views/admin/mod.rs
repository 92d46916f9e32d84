//! The admin console pages (`/admin*`): a wider frame of their own with the console nav
//! bar, and pure functions from data to markup. Changes go through admin.js, which calls
//! the JSON API (`/api/admin/*`) and finds its work by ids and data attributes; write
//! controls are left out entirely when the role lacks the write permission.

use maud::{DOCTYPE, Markup, html};

use super::layout::{Page, card, notice, page};
use crate::providers::ProviderKind;

mod access;
mod branding;
mod clients;
mod events;
mod ldap;
mod media_servers;
mod next_steps;
mod overview;
mod revalidation;
mod roles;
mod sessions;
mod settings;
mod users;
mod webhooks;

pub use access::{AccessPage, access};
pub use branding::{BrandingPage, branding};
pub use clients::{Connect, client, clients};
pub use events::{EventsPage, events};
pub use ldap::{LdapPage, ldap};
pub use media_servers::{MediaServersPage, media_servers, plex_servers};
pub use next_steps::{NextSteps, next_steps};
pub use overview::{Overview, overview};
pub use revalidation::revalidation;
pub use roles::{MfaPick, RolesPage, roles};
pub use sessions::{SessionsPage, sessions};
pub use settings::{SectionForm, SectionPage, SectionRow, setting, settings};
pub use users::{UserList, UserPage, user, users};
pub use webhooks::{WebhookRow, webhooks};

/// The console areas, for the nav bar's current item.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Overview,
    Users,
    Settings,
    Access,
    Branding,
    MediaServers,
    Clients,
    Backups,
    Events,
    Webhooks,
    Ldap,
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

/// The console frame: the shared stylesheet, admin.js (never login.js) and the nav bar,
/// which collapses into a menu on a narrow screen.
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
                    // A menu on a phone (closed until tapped, no script needed); on a
                    // wide screen styles.css shows the links and hides the summary.
                    details.console-menu {
                        summary { "Menu" }
                        nav aria-label="Console" {
                        ul {
                            (item(Area::Overview, "/admin", "Overview"))
                            @if f.users { (item(Area::Users, "/admin/users", "Users")) }
                            @if f.settings { (item(Area::Settings, "/admin/settings", "Settings")) }
                            @if f.settings { (item(Area::Access, "/admin/access", "Access")) }
                            @if f.settings { (item(Area::Branding, "/admin/branding", "Branding")) }
                            @if f.settings { (item(Area::MediaServers, "/admin/media", "Media servers")) }
                            @if f.clients { (item(Area::Clients, "/admin/clients", "Clients")) }
                            @if f.backups { (item(Area::Backups, "/admin/backups", "Backups")) }
                            @if f.events { (item(Area::Events, "/admin/events", "Events")) }
                            @if f.webhooks { (item(Area::Webhooks, "/admin/webhooks", "Webhooks")) }
                            @if f.settings { (item(Area::Ldap, "/admin/ldap", "LDAP")) }
                            li.home { a href="/home" { "Portal home" } }
                        }
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
