//! The LDAP page (`/admin/ldap`): the directory's service accounts (made, listed and
//! deleted through admin.js and `/api/admin/ldap/services`) and where the directory is.

use maud::{Markup, html};

use super::{Frame, console, seg, status_line};
use crate::ldap::accounts::ServiceInfo;

pub struct LdapPage<'a> {
    /// Where the directory listens (None: off) and its base DN.
    pub listen: Option<String>,
    pub base: &'a str,
    pub services: &'a [ServiceInfo],
    pub can_write: bool,
}

pub fn ldap(f: &Frame, p: &LdapPage) -> Markup {
    console(
        "LDAP",
        "admin-ldap",
        f,
        html! {
            h1 { "LDAP directory" }
            p.lead { "A read-only directory of the portal's people and groups for apps that speak nothing else. Settings: the " a href="/admin/settings/ldap" { "ldap" } " section (or LDAP_* variables)." }
            p { "Base " code { (p.base) } " · "
                @match &p.listen { Some(a) => { "listening on " code { (a) } }, None => { "off (set a listen address)" } } }
            (status_line("ldap-status"))
            h2 { "Service accounts" }
            p.hint { "Apps bind as a service account to search the directory. The password is shown once; the portal keeps only a digest." }
            @if p.services.is_empty() { p.hint #ldap-none { "No service accounts yet." } } @else {
                div.table-wrap { table.data {
                    thead { tr { th scope="col" { "DN" } th scope="col" { "Made" } th scope="col" { "Last used" } @if p.can_write { th {} } } }
                    tbody { @for s in p.services { tr {
                        td { code { (s.dn) } }
                        td.nowrap { (crate::views::when(f.tz, s.created_at)) }
                        td.nowrap { @match s.last_used_at { Some(t) => (crate::views::when(f.tz, t)), None => "never" } }
                        @if p.can_write { td { button.danger.small type="button" data-ldap-delete=(seg(&s.name)) { "Delete" } } }
                    } } }
                } }
            }
            @if p.can_write {
                section.panel #ldap-new {
                    h2 { "New service account" }
                    label for="ldap-name" { "Name (letters, digits, '.', '_', '-')" }
                    input #ldap-name type="text" maxlength="64" autocomplete="off" placeholder="nextcloud";
                    div.actions { button.primary #ldap-create type="button" { "Create" } }
                }
                section #ldap-made .panel.secret hidden tabindex="-1" {
                    h2 { "Service account created" }
                    p.notice.warn { strong { "Copy the password now: it is shown only this once." } }
                    dl.facts {
                        dt { "Bind DN" } dd { code #ldap-made-dn {} }
                        dt { "Password" } dd { code #ldap-made-password .secret-value {} }
                    }
                }
            }
        },
    )
}
