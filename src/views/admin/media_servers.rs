//! The media-servers pages: the servers in use, a form per Jellyfin and Emby server
//! (address and optional API key), and Plex by signing in with Plex and choosing one of
//! the owner's servers.

use maud::{Markup, html};
use serde_json::Value;

use super::{Frame, console, status_line};
use crate::providers::ProviderKind;

pub struct MediaServersPage<'a> {
    /// (provider, where) for each server in use (settings merged with the environment).
    pub in_use: &'a [(&'static str, String)],
    /// The stored "providers" section as the console sees it.
    pub doc: &'a Value,
    pub version: i64,
    /// Fields the environment sets ("jellyfin.url", "media_servers").
    pub locked: &'a [&'static str],
    pub can_write: bool,
}

fn server_form(p: &MediaServersPage, kind: ProviderKind) -> Markup {
    let name = kind.as_str();
    let url = p.doc[name]["url"].as_str().unwrap_or("");
    let key_set = p.doc[name]["api_key"]["set"].as_bool() == Some(true);
    let locked = p.locked.contains(&format!("{name}.url").as_str());
    html! {
        section.panel {
            h2 { (kind.label()) }
            @if locked {
                p.hint { "The environment sets this server's address; change it there." }
            } @else {
                form.stack.media-form #(format!("media-{name}")) data-kind=(name) {
                    label { span { (kind.label()) " server address" }
                        input type="url" name="url" value=(url) placeholder="http://192.168.1.10:8096" required;
                    }
                    label { span { "API key (optional)" }
                        input type="password" name="api_key" autocomplete="off"
                            placeholder=(if key_set { "set; leave empty to keep it" } else { "not set" });
                    }
                    p.hint { "The portal checks that " (kind.label()) " answers at this address before saving. An API key lets it re-check access without anyone signing in (Dashboard → API Keys)." }
                    button.primary type="submit" { "Check and save " (kind.label()) }
                    (status_line(&format!("media-{name}-status")))
                }
            }
        }
    }
}

pub fn media_servers(f: &Frame, p: &MediaServersPage) -> Markup {
    console(
        "Media servers",
        "admin-media",
        f,
        html! {
            h1 { "Media servers" }
            p.lead { "People sign in with their accounts on these servers. (Advanced: the "
                a href="/admin/settings/providers" { "providers settings" } " as JSON.)" }
            section.panel #media-in-use data-version=(p.version) {
                h2 { "In use" }
                @if p.in_use.is_empty() {
                    p.hint { "None yet." }
                } @else {
                    ul #media-list {
                        @for (kind, at) in p.in_use {
                            li data-kind=(kind) {
                                strong { (ProviderKind::parse(kind).map_or(*kind, |k| k.label())) } " · " (at)
                                @if p.can_write && !p.locked.contains(&"media_servers") && p.in_use.len() > 1 {
                                    " " button.secondary.small type="button" data-stop=(kind) { "Stop using" }
                                }
                            }
                        }
                    }
                }
                @if p.locked.contains(&"media_servers") {
                    p.hint { "MEDIA_SERVER is set in the environment: it decides which servers are in use." }
                }
                (status_line("media-stop-status"))
            }
            @if p.can_write {
                section.panel {
                    h2 { "Plex" }
                    @if let Some(id) = p.doc["plex"]["machine_id"].as_str() {
                        p { "Server " (p.doc["plex"]["server_name"].as_str().unwrap_or("")) " " small { "(" (id) ")" } }
                    }
                    @if p.locked.contains(&"plex.machine_id") {
                        p.hint { "The environment sets the Plex server; change it there." }
                    } @else {
                        p.hint { "Sign in with the Plex account that owns your server, then choose the server." }
                        button.secondary type="button" #plex-start { "Sign in with Plex to choose a server" }
                        (status_line("plex-status"))
                    }
                }
                (server_form(p, ProviderKind::Jellyfin))
                (server_form(p, ProviderKind::Emby))
            }
        },
    )
}

/// Back from the Plex sign-in: the account's own servers (None: no approved sign-in).
pub fn plex_servers(f: &Frame, servers: Option<&[(String, String)]>, version: i64) -> Markup {
    console(
        "Choose your Plex server",
        "admin-media-plex",
        f,
        html! {
            h1 { "Choose your Plex server" }
            @match servers {
                None => {
                    p.status.bad role="alert" { "The Plex sign-in expired or was not approved." }
                    p { a.button.secondary href="/admin/media" { "Back to media servers" } }
                }
                Some([]) => {
                    p.status.bad role="alert" { "This Plex account owns no server. Sign in with the account that owns your Plex Media Server." }
                    p { a.button.secondary href="/admin/media" { "Back to media servers" } }
                }
                Some(list) => {
                    form.stack #plex-choose data-version=(version) {
                        fieldset.choice.column {
                            legend { "Your servers" }
                            @for (i, (id, name)) in list.iter().enumerate() {
                                label.inline {
                                    input type="radio" name="machine_id" value=(id) checked[i == 0];
                                    span { (name) small { " · " (id) } }
                                }
                            }
                        }
                        button.primary type="submit" { "Use this server" }
                        (status_line("plex-choose-status"))
                    }
                }
            }
        },
    )
}
