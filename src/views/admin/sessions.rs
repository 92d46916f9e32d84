//! The sessions page (`/admin/sessions`): every live session with its person, provider,
//! address, browser in words, times and second factor; revoke one, or all of a person's.

use maud::{Markup, html};

use super::{Frame, badge, console, provider_label, seg, status_line};
use crate::db::sessions::LiveSession;
use crate::providers::Amr;

pub struct SessionsPage<'a> {
    pub sessions: &'a [LiveSession],
    /// The list stopped at this many (the newest are shown).
    pub limit: usize,
    pub can_write: bool,
}

pub fn sessions(f: &Frame, p: &SessionsPage) -> Markup {
    let w = p.can_write;
    console(
        "Sessions",
        "admin-sessions",
        f,
        html! {
            h1 { "Sessions" }
            p.hint { "Everyone signed in to the portal now, newest first. Revoking a session signs that browser out at its next request and revokes the application tokens issued through it." }
            @if p.sessions.is_empty() {
                p.muted #sessions-empty { "No active sessions." }
            } @else {
                @if p.sessions.len() >= p.limit {
                    p.muted { "Showing the newest " (p.limit) "; a person's page lists all of theirs." }
                }
                div.table-wrap { table.data #sessions {
                    thead { tr {
                        th scope="col" { "User" } th scope="col" { "Via" } th scope="col" { "Address" }
                        th scope="col" { "Browser" } th scope="col" { "Signed in" } th scope="col" { "Last seen" }
                        th scope="col" { "Second factor" }
                        @if w { th scope="col" { span.visually-hidden { "Actions" } } }
                    } }
                    tbody { @for s in p.sessions { tr data-session-row=(s.info.sid) data-user=(s.uuid) {
                        td { a href=(format!("/admin/users/{}", seg(&s.uuid))) { (s.username) } }
                        td { (provider_label(&s.info.provider)) }
                        td { (s.info.ip.as_deref().unwrap_or("")) }
                        td.ua title=(s.info.user_agent.as_deref().unwrap_or("")) {
                            (crate::user_agent::describe(s.info.user_agent.as_deref().unwrap_or("")))
                        }
                        td.nowrap { (crate::views::when(f.tz, s.info.created_at)) }
                        td.nowrap { (crate::views::when(f.tz, s.last_seen)) }
                        td { (badge(Amr::Otp.is_in(&s.info.amr), "yes", "no")) }
                        @if w { td.nowrap {
                            button.secondary.small type="button" data-revoke-session=(s.info.sid) { "Revoke" }
                            " "
                            button.secondary.small type="button" data-revoke-user=(s.uuid)
                                data-confirm=(format!("End every session of {}?", s.username)) { "All of " (s.username) }
                        } }
                    } } }
                } }
            }
            @if w { (status_line("sessions-status")) }
        },
    )
}
