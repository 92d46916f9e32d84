//! The first-run setup wizard's pages.

use maud::html;

use super::layout::{Page, card, notice, page};
use crate::providers::ProviderKind;

pub fn code_form(error: Option<&str>) -> Page {
    page(
        "Set up",
        "setup",
        card(
            "Welcome to AuthPortal",
            html! {
                @if let Some(e) = error { (notice("error", e)) }
                p.lead { "Let's connect your media server. First, prove this is your portal: enter the setup code from the portal's log (or run " code.nobreak { "authportal setup-code" } ")." }
                form.stack method="post" action="/setup/unlock" {
                    label { span { "Setup code" }
                        input type="text" name="code" autocomplete="off" autocapitalize="characters" spellcheck="false" required autofocus;
                    }
                    button.primary type="submit" { "Continue" }
                }
            },
        ),
    )
}

/// The server step; `url` and `username` as typed before (never the password).
pub fn server_form(error: Option<&str>, url: &str, username: &str, kind: ProviderKind) -> Page {
    page(
        "Set up",
        "setup",
        card(
            "Connect your media server",
            html! {
                @if let Some(e) = error { (notice("error", e)) }
                p.lead { "Sign in as an administrator of your server. You become the portal's first admin." }
                form.stack method="post" action="/setup/server" {
                    fieldset.choice {
                        legend { "Server" }
                        @for k in [ProviderKind::Jellyfin, ProviderKind::Emby] {
                            label.inline {
                                input type="radio" name="kind" value=(k.as_str()) checked[k == kind];
                                span { (k.label()) }
                            }
                        }
                    }
                    label { span { "Server address" }
                        input type="url" name="url" value=(url) placeholder="http://192.168.1.10:8096" required;
                    }
                    label { span { "Administrator username" }
                        input type="text" name="username" value=(username) autocomplete="username" autocapitalize="none" spellcheck="false" required;
                    }
                    label { span { "Password" }
                        input type="password" name="password" autocomplete="current-password";
                    }
                    button.primary type="submit" { "Connect" }
                }
                div.or { span { "or" } }
                form method="post" action="/setup/plex/start" {
                    button.provider type="submit" {
                        img src="/static/icons/plex.svg" alt="" width="22" height="22";
                        span { "Use a Plex server: sign in with Plex" }
                    }
                }
            },
        ),
    )
}

/// After signing in with Plex: the owner's own servers to choose from.
pub fn plex_servers(servers: &[(String, String)]) -> Page {
    page(
        "Set up",
        "setup",
        card(
            "Choose your Plex server",
            html! {
                @if servers.is_empty() {
                    (notice("error", "This Plex account owns no server. Sign in with the account that owns your Plex Media Server."))
                    p { a.button.secondary href="/" { "Start again" } }
                } @else {
                    p.lead { "People with access to this server will be able to sign in." }
                    form.stack method="post" action="/setup/plex/choose" {
                        fieldset.choice.column {
                            legend { "Your servers" }
                            @for (i, (id, name)) in servers.iter().enumerate() {
                                label.inline {
                                    input type="radio" name="machine_id" value=(id) checked[i == 0];
                                    span { (name) small { " · " (id) } }
                                }
                            }
                        }
                        button.primary type="submit" { "Use this server" }
                    }
                }
            },
        ),
    )
}
