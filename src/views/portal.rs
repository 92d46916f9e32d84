//! The signed-in pages: home, restricted, and errors.

use maud::{Markup, html};

use super::layout::{Page, card, notice, page};

pub struct Home<'a> {
    pub username: &'a str,
    pub provider: &'a str,
    pub groups: &'a [String],
    pub extra_link: Option<(&'a str, &'a str)>,
    pub mfa_link: bool,
    /// The person may open the admin console (their role holds admin.access).
    pub admin_link: bool,
    /// Applications the user allowed through the portal's OpenID Connect provider.
    pub apps: &'a [crate::db::oauth::Consented],
    /// (ip, last sign-in) pairs: addresses native apps may use as this user, where a
    /// rule allows it.
    pub places: &'a [(String, i64)],
    /// The person's live sessions, and the public id of the one viewing the page.
    pub sessions: &'a [crate::db::sessions::SessionInfo],
    pub current_sid: &'a str,
    /// APP_TIMEZONE, for the times shown.
    pub tz: chrono_tz::Tz,
    pub welcome_text: Option<&'a str>,
    /// Services the owner listed for this person's groups.
    pub links: Vec<&'a crate::settings::ServiceLink>,
    /// The names of the uploaded icons (a link's icon shows only once it exists).
    pub icons: &'a [String],
    /// The person signed in with Jellyfin here: "Sign in a TV or app" approves a TV's
    /// Quick Connect code as them.
    pub link_tv: bool,
    /// The person's app passwords, when the LDAP directory is on.
    pub app_passwords: Option<&'a [crate::db::ldap::AppPassword]>,
    /// One just made: its only showing.
    pub new_app_password: Option<&'a crate::ldap::accounts::NewAppPassword>,
    /// The DN the person binds as.
    pub ldap_dn: String,
}

pub fn home(h: &Home) -> Page {
    page(
        "Home",
        "home",
        card(
            &format!("Welcome, {}", h.username),
            html! {
                @match h.welcome_text {
                    Some(t) => p.lead { (t) },
                    None => p.lead { "You are signed in with " (h.provider) " and have access to this server." },
                }
                @if !h.links.is_empty() {
                    ul.services {
                        @for l in &h.links {
                            li {
                                a href=(l.url) rel="noopener" {
                                    @if let Some(icon) = l.icon.as_ref().filter(|i| h.icons.contains(i)) {
                                        img src=(format!("/branding/icons/{icon}")) alt="" width="32" height="32";
                                    }
                                    strong { (l.name) }
                                    @if let Some(d) = &l.description { small { (d) } }
                                }
                            }
                        }
                    }
                }
                @if !h.groups.is_empty() {
                    ul.tags { @for g in h.groups { li { (g) } } }
                }
                div.actions {
                    @if let Some((url, text)) = h.extra_link {
                        a.button.primary href=(url) rel="noopener" { (text) }
                    }
                    @if h.mfa_link { a.button.secondary href="/mfa/enroll" { "Two-factor sign-in" } }
                    @if h.admin_link { a.button.secondary href="/admin" { "Admin console" } }
                    (logout_button())
                }
                @if h.link_tv { (sign_in_a_tv()) }
                @if !h.sessions.is_empty() {
                    h2 { "Your sessions" }
                    p.hint { "Browsers signed in as you. End one you do not recognise (and change your password on the media server)." }
                    ul.apps #my-sessions {
                        @for s in h.sessions {
                            li {
                                span {
                                    (crate::user_agent::describe(s.user_agent.as_deref().unwrap_or("")))
                                    small { " · " (s.ip.as_deref().unwrap_or("")) " · since " (super::when(h.tz, s.created_at)) }
                                    @if s.sid == h.current_sid { " " span.badge.on { "this browser" } }
                                }
                                // This browser's own row has no button: the page's
                                // "Sign out" ends it, and two such buttons would confuse.
                                @if s.sid != h.current_sid {
                                    form method="post" action="/sessions/end" {
                                        input type="hidden" name="id" value=(s.sid);
                                        button.secondary.small type="submit" { "End" }
                                    }
                                }
                            }
                        }
                    }
                }
                @if let Some(list) = h.app_passwords {
                    (app_passwords(h, list))
                }
                @if !h.places.is_empty() {
                    h2 { "Where you signed in" }
                    p.hint { "Where the owner allows it, TV and phone apps on these networks may be let in because you signed in there: anonymously, never as you." }
                    ul.apps {
                        @for (ip, at) in h.places {
                            li {
                                span { (ip) small { " · " (super::when(h.tz, *at)) } }
                                form method="post" action="/trusted-ips/forget" {
                                    input type="hidden" name="ip" value=(ip);
                                    button.secondary.small type="submit" { "Forget" }
                                }
                            }
                        }
                    }
                }
                @if !h.apps.is_empty() {
                    h2 { "Applications you allowed" }
                    ul.apps {
                        @for a in h.apps {
                            li {
                                span { (a.name) small { " · " (a.scopes.join(", ")) } }
                                form method="post" action="/consents/revoke" {
                                    input type="hidden" name="client_id" value=(a.client_id);
                                    button.secondary.small type="submit" { "Remove" }
                                }
                            }
                        }
                    }
                }
            },
        ),
    )
}

/// Partial of /home: the form that approves a Jellyfin TV app's Quick Connect code.
fn sign_in_a_tv() -> Markup {
    html! {
        h2 { "Sign in a TV or app" }
        p.hint { "Choose Quick Connect in the Jellyfin app on your TV or phone and type the code it shows here: the app signs in as you." }
        form.inline #link-tv method="post" action="/link/jellyfin" {
            label { span { "Code" }
                input type="text" name="code" inputmode="numeric" autocomplete="off" maxlength="8" placeholder="123456" required;
            }
            button.primary type="submit" { "Sign in the app" }
        }
    }
}

/// The app passwords section of /home: the new one once, the list, and the form.
fn app_passwords(h: &Home, list: &[crate::db::ldap::AppPassword]) -> Markup {
    html! {
        h2 #app-passwords { "App passwords" }
        p.hint { "For apps that sign in over LDAP: use " code { (h.ldap_dn) } " as the user name and an app password made for that app. Revoke one you no longer use." }
        @if let Some(n) = h.new_app_password {
            div.notice #new-app-password {
                p { "The app password for " strong { (n.name) } " (shown only now):" }
                p { code { (n.password) } }
            }
        }
        @if !list.is_empty() {
            ul.apps #my-app-passwords {
                @for a in list {
                    li {
                        span {
                            (a.name)
                            small {
                                " · made " (super::when(h.tz, a.created_at))
                                " · " @match a.last_used_at { Some(t) => { "last used " (super::when(h.tz, t)) }, None => "never used" }
                            }
                        }
                        form method="post" action="/app-passwords/revoke" {
                            input type="hidden" name="id" value=(a.id);
                            button.secondary.small type="submit" { "Revoke" }
                        }
                    }
                }
            }
        }
        form.inline method="post" action="/app-passwords/new" {
            input type="text" name="name" placeholder="What it is for (e.g. Nextcloud)" required maxlength="64";
            button.secondary.small type="submit" { "New app password" }
        }
    }
}

/// The answer to the /home form when the TV's code was approved.
pub fn device_linked() -> Page {
    page(
        "App signed in",
        "device-linked",
        card(
            "App signed in",
            html! {
                p.lead { "Your TV or app is now signed in to Jellyfin as you. It may take a few seconds to notice." }
                p.hint { "If you did not mean to sign in that app, sign it out in Jellyfin's dashboard (Devices)." }
                p { a.button.secondary href="/home" { "Back to your home page" } }
            },
        ),
    )
}

pub struct AppForbidden<'a> {
    /// The protected app's host, as the proxy named it.
    pub host: Option<&'a str>,
    /// Who is signed in, if anyone.
    pub username: Option<&'a str>,
    /// Why the rule refused ("not allowed here").
    pub reason: &'a str,
    /// The owner's words from the branding settings (who to ask, how).
    pub text: Option<String>,
}

/// Forward-auth's 403: the app, the person, the reason, the owner's words, and a way on.
pub fn app_forbidden(a: &AppForbidden) -> Page {
    let app = a.host.unwrap_or("this app");
    page(
        "No access",
        "forbidden",
        card(
            "No access",
            html! {
                @match a.username {
                    Some(u) => p.lead { "You are signed in as " strong { (u) } ", and " (u) " may not use " strong { (app) } "." },
                    None => p.lead { "This address may not use " strong { (app) } "." },
                }
                (notice("warn", &format!("The reason: {}.", a.reason.trim_end_matches('.'))))
                @if let Some(t) = &a.text { p { (t) } }
                div.actions {
                    @if a.username.is_some() {
                        a.button.secondary href="/home" { "Your home page" }
                        form method="post" action="/logout" {
                            button.secondary type="submit" { "Switch account" }
                        }
                    } @else {
                        a.button.secondary href="/" { "Sign in" }
                    }
                }
            },
        ),
    )
}

/// Partial: the sign-out form (a POST, so a link or image cannot sign anyone out).
pub fn logout_button() -> Markup {
    html! {
        form method="post" action="/logout" {
            button.secondary type="submit" { "Sign out" }
        }
    }
}

pub struct Restricted<'a> {
    /// The owner's words from the branding settings (who to ask, how).
    pub text: Option<String>,
    pub provider: Option<&'a str>,
    pub username: Option<&'a str>,
    pub mailto: Option<String>,
    pub signed_in: bool,
}

pub fn restricted(r: &Restricted) -> Page {
    let who = match (r.username, r.provider) {
        (Some(u), Some(p)) => format!("The {p} account {u} does not have access to this server."),
        (None, Some(p)) => format!("This {p} account does not have access to this server."),
        _ => "This account does not have access to this server.".to_string(),
    };
    page(
        "No access",
        "restricted",
        card(
            "No access",
            html! {
                (notice("warn", &who))
                @if let Some(t) = &r.text { p { (t) } }
                p { "If you think this is a mistake, ask the server's owner for access." }
                div.actions {
                    @if let Some(href) = &r.mailto {
                        a.button.primary href=(href) { "Request access" }
                    }
                    @if r.signed_in { (logout_button()) } @else { a.button.secondary href="/" { "Back to sign-in" } }
                }
            },
        ),
    )
}

pub fn error(status: u16, message: &str) -> Page {
    error_page(status, message, false)
}

/// An error page whose way on suits the visitor: home for someone signed in (sign-in
/// would only send them there), sign-in for everyone else.
pub fn error_page(status: u16, message: &str, signed_in: bool) -> Page {
    page(
        "Error",
        "error",
        card(
            &format!("Error {status}"),
            html! {
                (notice("error", message))
                @if signed_in {
                    p { a.button.secondary href="/home" { "Back to your home page" } }
                } @else {
                    p { a.button.secondary href="/" { "Back to sign-in" } }
                }
            },
        ),
    )
}
