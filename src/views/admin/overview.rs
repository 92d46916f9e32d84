//! The console's front page (`/admin`): the next steps after setup, counts of what the
//! role may read, and the re-validation panel.

use maud::{Markup, html};

use super::{Frame, console};

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
    /// Addresses, snippets and warnings, for those who may read the settings.
    pub next_steps: Option<Markup>,
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
            @if let Some(panel) = &o.next_steps { (panel) }
            div.stats {
                (stat("users", o.users.map(|n| n.to_string()), "/admin/users", "Users"))
                (stat("active sessions", o.sessions.map(|n| n.to_string()), "/admin/sessions", "Sessions by user"))
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
