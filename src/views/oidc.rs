//! OpenID Connect pages: consent, request errors, and sign-out from an application.

use maud::html;

use super::layout::{Page, card, notice, page};

pub(super) fn scope_text(scope: &str) -> &'static str {
    match scope {
        "openid" => "Know who you are (a stable account id)",
        "profile" => "Your username",
        "email" => "Your email address",
        "groups" => "The groups you belong to",
        "offline_access" => "Stay signed in when you are away",
        _ => "Other access",
    }
}

pub struct Consent<'a> {
    pub client_name: &'a str,
    pub username: &'a str,
    pub scopes: &'a [String],
    /// The authorization request as hidden fields, checked again on submit.
    pub params: &'a [(String, String)],
}

pub fn consent(c: &Consent) -> Page {
    page(
        "Allow access",
        "consent",
        card(
            &format!("{} wants to sign you in", c.client_name),
            html! {
                p.lead { "Signed in as " strong { (c.username) } ". " (c.client_name) " will be able to:" }
                ul.scopes { @for s in c.scopes { li { (scope_text(s)) } } }
                form method="post" action="/oidc/authorize/decision" {
                    @for (k, v) in c.params { input type="hidden" name=(k) value=(v); }
                    div.actions {
                        button.primary type="submit" name="decision" value="allow" { "Allow" }
                        button.secondary type="submit" name="decision" value="deny" { "Deny" }
                    }
                }
                @if c.scopes.iter().any(|s| s == "offline_access") {
                    p.hint {
                        (c.client_name) " stays signed in until you withdraw this, even when you sign out of the portal."
                    }
                }
                p.hint { "You can withdraw this later from your home page." }
            },
        ),
    )
}

pub fn request_error(message: &str) -> Page {
    page(
        "Sign-in request refused",
        "oidc-error",
        card(
            "This sign-in request cannot be used",
            html! {
                (notice("error", message))
                p { "Go back to the application and try again. If this keeps happening, tell the portal's owner." }
            },
        ),
    )
}

/// The person is not in a group the application is limited to.
pub fn not_allowed(client_name: &str, groups: &[String], back: &str) -> Page {
    page(
        "Not allowed",
        "oidc-not-allowed",
        card(
            &format!("You cannot use {client_name}"),
            html! {
                (notice("error", &format!(
                    "Only members of {} may sign in to {client_name}. Ask the portal's owner if you should be one.",
                    groups.join(", ")
                )))
                p { a.button.secondary href=(back) { "Back to " (client_name) } }
            },
        ),
    )
}

/// The application expects another account than the one signed in.
pub fn switch_account(client_name: &str, username: &str, pending: &str) -> Page {
    page(
        "Switch account",
        "switch-account",
        card(
            "Another account is expected",
            html! {
                p.lead {
                    (client_name) " asks to sign in a different account than the one signed in here ("
                    strong { (username) } ")."
                }
                form method="post" action="/oidc/authorize/switch" {
                    input type="hidden" name="pending" value=(pending);
                    div.actions {
                        button.primary type="submit" { "Sign out and switch account" }
                        a.button.secondary href="/home" { "Cancel" }
                    }
                }
            },
        ),
    )
}

/// Asks before signing out when the request could have come from anywhere.
pub fn logout_confirm(params: &[(String, String)], client_name: Option<&str>) -> Page {
    page(
        "Sign out",
        "logout",
        card(
            "Sign out?",
            html! {
                p.lead {
                    @if let Some(n) = client_name { (n) " asks to sign you out of the portal." }
                    @else { "Sign out of the portal and the applications you entered through it?" }
                }
                form method="post" action="/oidc/logout" {
                    @for (k, v) in params { input type="hidden" name=(k) value=(v); }
                    div.actions {
                        button.primary type="submit" name="confirm" value="yes" { "Sign out" }
                        a.button.secondary href="/home" { "Stay signed in" }
                    }
                }
            },
        ),
    )
}

pub fn logged_out() -> Page {
    page(
        "Signed out",
        "logged-out",
        card(
            "You are signed out",
            html! { p { a.button.secondary href="/" { "Sign in again" } } },
        ),
    )
}
