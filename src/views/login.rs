//! Sign-in pages: the provider buttons, the Jellyfin/Emby form, and the page that ends
//! a sign-in (in a popup it tells the opener; in a full page it moves on).

use maud::{Markup, html};

use super::layout::{Page, card, notice, page};
use crate::providers::ProviderKind;

pub struct LoginPage<'a> {
    pub providers: &'a [ProviderKind],
    pub rd: Option<&'a str>,
    pub error: Option<&'a str>,
    /// Set when the page was opened on another address than APP_BASE_URL: sign-in
    /// POSTs would be refused as cross-origin, so say so up front.
    pub wrong_origin: Option<String>,
    /// Offer Jellyfin Quick Connect (a code typed into a signed-in Jellyfin app).
    pub quick_connect: bool,
}

pub fn login(p: &LoginPage) -> Page {
    page(
        "Sign in",
        "login",
        card(
            "Sign in",
            html! {
                @if let Some(url) = &p.wrong_origin {
                    (notice("warn", &format!("This portal's address is {url}. Open it there to sign in.")))
                }
                @if let Some(e) = p.error { (notice("error", e)) }
                @if p.providers.is_empty() {
                    (no_provider_help())
                } @else {
                    p.lead { "Use the account you already have on the media server." }
                    div #signin .providers data-rd=(p.rd.unwrap_or("")) {
                        @for kind in p.providers {
                            button.provider type="button" data-provider=(kind.as_str()) {
                                img src=(format!("/static/icons/{}.svg", kind.as_str())) alt="" width="22" height="22";
                                span { "Sign in with " (kind.label()) }
                            }
                        }
                        @if p.quick_connect {
                            button.provider #quick-connect type="button" data-provider="jellyfin" data-method="quick_connect" {
                                img src="/static/icons/jellyfin.svg" alt="" width="22" height="22";
                                span { "Jellyfin Quick Connect" }
                            }
                        }
                    }
                    @if p.quick_connect {
                        div #quick-connect-code hidden {
                            p { "In a Jellyfin app where you are signed in, open Quick Connect and enter:" }
                            p #quick-connect-value {}
                        }
                    }
                    p #signin-status .status aria-live="polite" {}
                }
            },
        ),
    )
}

fn no_provider_help() -> Markup {
    html! {
        (notice("warn", "No media server is configured yet."))
        p { "Set these in the portal's environment (for systemd: /etc/authportal/authportal.env), then restart it:" }
        pre.config {
            "MEDIA_SERVER=plex,jellyfin      # any of plex, jellyfin, emby\n"
            "PLEX_SERVER_MACHINE_ID=...      # from http://your-plex:32400/identity\n"
            "JELLYFIN_SERVER_URL=http://jellyfin.lan:8096\n"
            "EMBY_SERVER_URL=http://emby.lan:8096\n"
            "APP_BASE_URL=https://auth.example.com"
        }
    }
}

pub struct PasswordForm<'a> {
    pub provider: ProviderKind,
    pub username: &'a str,
    pub rd: Option<&'a str>,
    pub popup: bool,
    pub error: Option<&'a str>,
}

/// The Jellyfin/Emby sign-in form (in the popup, or the full page when popups are blocked).
pub fn password_form(f: &PasswordForm) -> Page {
    let label = f.provider.label();
    let action = format!("/auth/forward?provider={}", f.provider.as_str());
    page(
        &format!("Sign in with {label}"),
        "password",
        card(
            &format!("Sign in with {label}"),
            html! {
                @if let Some(e) = f.error { (notice("error", e)) }
                form.stack method="post" action=(action) {
                    input type="hidden" name="rd" value=(f.rd.unwrap_or(""));
                    input type="hidden" name="popup" value=(if f.popup { "1" } else { "0" });
                    label { span { "Username" }
                        input type="text" name="username" value=(f.username) autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus[f.username.is_empty()];
                    }
                    label { span { "Password" }
                        input type="password" name="password" autocomplete="current-password" autofocus[!f.username.is_empty()];
                    }
                    button.primary type="submit" { "Sign in" }
                }
                p.hint { "Your password goes to your " (label) " server only; the portal does not keep it." }
            },
        ),
    )
}

/// The end of a sign-in: login.js tells the opener (same origin only) and closes the
/// popup, or, in a full page, moves on to `redirect`.
pub fn finished(redirect: &str) -> Page {
    page(
        "Signed in",
        "finished",
        card(
            "Signing you in…",
            html! {
                p #finished data-redirect=(redirect) { "If nothing happens, " a href=(redirect) { "continue" } "." }
            },
        ),
    )
}

/// A Plex return with no approved PIN (the window was closed, or it expired).
pub fn not_completed() -> Page {
    page(
        "Sign-in not completed",
        "not-completed",
        card(
            "Sign-in not completed",
            html! {
                p { "The sign-in was not approved, or it took too long." }
                p { a.button href="/" { "Start again" } }
            },
        ),
    )
}
