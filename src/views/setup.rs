//! The first-run setup wizard's pages.

use maud::{Markup, html};

use super::layout::{card, notice, page};
use crate::providers::ProviderKind;

pub fn code_form(error: Option<&str>) -> Markup {
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

pub fn server_form(error: Option<&str>, url: &str, kind: ProviderKind) -> Markup {
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
                        input type="text" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required;
                    }
                    label { span { "Password" }
                        input type="password" name="password" autocomplete="current-password";
                    }
                    button.primary type="submit" { "Connect" }
                }
                p.hint { "Plex: set MEDIA_SERVER=plex and PLEX_SERVER_MACHINE_ID in the portal's environment (see README); the Plex step of this wizard is not built yet." }
            },
        ),
    )
}
