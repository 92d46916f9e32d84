//! The pages of /device, where a person signs a TV or app in with the code it shows
//! (RFC 8628): type the code, review and approve or deny it, and the outcome.

use maud::html;

use super::layout::{Page, card, notice, page};
use super::oidc::scope_text;

/// Type the code the device shows; `error` after a wrong one, `typed` kept in the box.
pub fn enter(error: Option<&str>, typed: &str) -> Page {
    page(
        "Sign in a device",
        "device-enter",
        card(
            "Sign in a TV or app",
            html! {
                @if let Some(e) = error { (notice("error", e)) }
                p.lead { "Type the code your TV or app shows." }
                form method="get" action="/device" {
                    label for="device-code" { "Code" }
                    input #device-code .code type="text" name="user_code" value=(typed) required
                        maxlength="32" autocomplete="off" autocapitalize="characters" spellcheck="false"
                        placeholder="BCDF-GHJK";
                    div.actions { button.primary type="submit" { "Continue" } }
                }
            },
        ),
    )
}

pub struct Review<'a> {
    pub client_name: &'a str,
    pub username: &'a str,
    pub scopes: &'a [String],
    /// `XXXX-XXXX`, carried by the form.
    pub user_code: &'a str,
}

/// Names the application and what it gets, warns, and asks allow or deny.
pub fn review(r: &Review) -> Page {
    page(
        "Approve a device",
        "device-review",
        card(
            &format!("Sign in {} on a device?", r.client_name),
            html! {
                (notice("warn", "Only approve a device you are holding. If someone else gave you this code, deny it: approving signs their device in as you."))
                p.lead {
                    "Signed in as " strong { (r.username) } ". The device showing "
                    code.user-code.nobreak { (r.user_code) } " asks to use " (r.client_name) ", which will be able to:"
                }
                ul.scopes { @for s in r.scopes { li { (scope_text(s)) } } }
                form method="post" action="/device" {
                    input type="hidden" name="user_code" value=(r.user_code);
                    div.actions {
                        button.primary type="submit" name="decision" value="allow" { "Approve" }
                        button.secondary type="submit" name="decision" value="deny" { "Deny" }
                    }
                }
                p.hint { "You can withdraw this later from your home page." }
            },
        ),
    )
}

/// The outcome of the person's answer.
pub fn decided(approved: bool, client_name: &str) -> Page {
    let (title, text) = if approved {
        (
            "Device signed in",
            format!("{client_name} on your device is signed in. You can close this page."),
        )
    } else {
        (
            "Device denied",
            format!("The device was not signed in to {client_name}."),
        )
    };
    page(
        title,
        "device-decided",
        card(
            title,
            html! {
                p.lead #device-outcome { (text) }
                p { a.button.secondary href="/home" { "Home" } }
            },
        ),
    )
}

/// The person may not approve this device (no server access, or not in the client's groups).
pub fn refused(client_name: &str, reason: &str) -> Page {
    page(
        "Not allowed",
        "device-refused",
        card(
            &format!("You cannot sign in {client_name}"),
            html! {
                (notice("error", &format!("{reason}. Ask the portal's owner if you think this is wrong.")))
                p { a.button.secondary href="/home" { "Home" } }
            },
        ),
    )
}
