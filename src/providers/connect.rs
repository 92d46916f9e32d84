//! Connecting a media server, shared by the setup wizard and the console's media-servers
//! page: the address the owner typed answers and is the kind they said, a Plex owner's
//! own servers to pick from, and the providers document that records the choice.

use serde_json::{Value, json};
use ureq::Agent;
use url::Url;

use super::ProviderKind;
use super::jellyfin::MediaServer;
use super::plex::Plex;
use crate::app::App;
use crate::config::MediaServerConfig;

/// Why a typed address was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressProblem {
    NotAUrl,
    /// A username or password in the address: it would be kept and shown with it.
    Credentials,
    /// Nothing (or nothing of this kind's API) answered; the detail is for the log.
    NoAnswer(String),
    /// A server answered, but it says it is this other kind.
    OtherKind(ProviderKind),
}

impl AddressProblem {
    /// What the person who typed the address reads, saying what to do.
    pub fn message(&self, kind: ProviderKind) -> String {
        match self {
            AddressProblem::NotAUrl => {
                "Enter the server's address, like http://192.168.1.10:8096".into()
            }
            AddressProblem::Credentials => {
                "Leave the username and password out of the address, like http://192.168.1.10:8096: people sign in with their own accounts".into()
            }
            AddressProblem::NoAnswer(_) => {
                format!("No {} server answered at that address.", kind.label())
            }
            AddressProblem::OtherKind(found) => format!(
                "The server at that address is {}, not {}: choose {}, or check the address.",
                found.label(),
                kind.label(),
                found.label()
            ),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            AddressProblem::NoAnswer(_) => 502,
            AddressProblem::NotAUrl
            | AddressProblem::Credentials
            | AddressProblem::OtherKind(_) => 400,
        }
    }
}

/// A Jellyfin or Emby server at the address the owner typed, and an agent allowed to
/// reach it before it is saved.
pub struct Named {
    pub url: Url,
    pub agent: Agent,
    pub server: MediaServer,
}

/// Checks that `url_text` is an http(s) address where a `kind` server answers.
pub fn check_address(
    app: &App,
    kind: ProviderKind,
    url_text: &str,
) -> Result<Named, AddressProblem> {
    let url = match Url::parse(url_text.trim()) {
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            return Err(AddressProblem::Credentials);
        }
        // The API paths are appended to the address: a query or fragment would swallow them.
        Ok(u)
            if matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some()
                && u.query().is_none()
                && u.fragment().is_none() =>
        {
            u
        }
        _ => return Err(AddressProblem::NotAUrl),
    };
    // The owner is naming this server: its address is allowed before it is saved.
    let agent = super::http::agent_naming(&app.outbound, &url);
    let server_of = |kind| {
        MediaServer::new(
            kind,
            MediaServerConfig {
                url: url.clone(),
                api_key: None,
            },
            app.install_id.clone(),
        )
    };
    let server = server_of(kind);
    match server.server_info(&agent) {
        Ok(info) => match info.kind() {
            Some(found) if found != kind => Err(AddressProblem::OtherKind(found)),
            _ => Ok(Named { url, agent, server }),
        },
        Err(e) => {
            // Emby answers under /emby, Jellyfin at the root: a wrong choice can look
            // like no server at all, so ask as the other kind before saying so.
            let other = match kind {
                ProviderKind::Jellyfin => ProviderKind::Emby,
                _ => ProviderKind::Jellyfin,
            };
            match server_of(other).server_info(&agent).map(|i| i.kind()) {
                Ok(Some(found)) if found == other => Err(AddressProblem::OtherKind(other)),
                _ => Err(AddressProblem::NoAnswer(e.to_string())),
            }
        }
    }
}

/// A Plex client with the configured plex.tv addresses and no server chosen yet.
pub fn plex_without_server(app: &App) -> Plex {
    let mut cfg = app.config.plex.clone();
    cfg.machine_id = None;
    Plex::new(cfg, app.install_id.clone())
}

/// The providers document (as the console sees it, secrets as {"set": ..}) with `kind`
/// in use: the fields given replace the stored ones, the others are kept.
fn with_server(presented: &Value, kind: ProviderKind, fields: Value) -> Value {
    let mut doc = if presented.is_object() {
        presented.clone()
    } else {
        json!({})
    };
    let name = kind.as_str();
    let mut servers: Vec<Value> = doc["media_servers"].as_array().cloned().unwrap_or_default();
    if !servers.iter().any(|s| s == name) {
        servers.push(json!(name));
    }
    doc["media_servers"] = Value::Array(servers);
    if !doc[name].is_object() {
        doc[name] = json!({});
    }
    if let Value::Object(fields) = fields {
        for (k, v) in fields {
            doc[name][k] = v;
        }
    }
    doc
}

/// ... with Jellyfin or Emby at `url`, and a new API key when one is given.
pub fn with_media_server(
    presented: &Value,
    kind: ProviderKind,
    url: &str,
    api_key: Option<&str>,
) -> Value {
    let mut fields = json!({ "url": url });
    if let Some(key) = api_key.map(str::trim).filter(|k| !k.is_empty()) {
        fields["api_key"] = json!(key);
    }
    with_server(presented, kind, fields)
}

/// ... with the Plex server `machine_id` (named `name`), the owner's token to ask it with.
pub fn with_plex_server(presented: &Value, machine_id: &str, name: &str, token: &str) -> Value {
    with_server(
        presented,
        ProviderKind::Plex,
        json!({ "machine_id": machine_id, "server_name": name, "owner_token": token }),
    )
}

/// ... with `kind` no longer in use; its fields stay, so adding it back is one save.
pub fn without_server(presented: &Value, kind: ProviderKind) -> Value {
    let mut doc = presented.clone();
    if let Some(servers) = doc["media_servers"].as_array_mut() {
        servers.retain(|s| s != kind.as_str());
    }
    doc
}

/// Whether the admin may stop using `kind`: someone must still be able to sign in, and
/// the admin must not be cut off the console they are using (their session came from
/// `signed_in_with`). The error says what to do first.
pub fn may_stop(
    in_use: &[ProviderKind],
    kind: ProviderKind,
    signed_in_with: &str,
) -> Result<(), String> {
    if !in_use.contains(&kind) {
        return Err(format!("{} is not in use", kind.label()));
    }
    if in_use.len() == 1 {
        return Err(format!(
            "{} is the only media server: add another before you stop using it, or nobody can sign in",
            kind.label()
        ));
    }
    if signed_in_with == kind.as_str() {
        return Err(format!(
            "you signed in with {}: sign in with an admin account of another server first, so you keep the console",
            kind.label()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_is_added_once_and_other_fields_are_kept() {
        let first = with_media_server(&Value::Null, ProviderKind::Jellyfin, "http://jf:8096", None);
        assert_eq!(
            first,
            json!({ "media_servers": ["jellyfin"], "jellyfin": { "url": "http://jf:8096" } })
        );
        let stored = json!({ "media_servers": ["plex", "jellyfin"], "plex": { "machine_id": "m" },
            "jellyfin": { "url": "http://old", "api_key": { "set": true } } });
        let edited = with_media_server(&stored, ProviderKind::Jellyfin, "http://new", Some(" "));
        assert_eq!(edited["media_servers"], json!(["plex", "jellyfin"]));
        assert_eq!(
            edited["jellyfin"]["api_key"],
            json!({ "set": true }),
            "kept"
        );
        assert_eq!(edited["plex"], stored["plex"]);
        let keyed = with_media_server(&stored, ProviderKind::Emby, "http://emby", Some("k"));
        assert_eq!(keyed["media_servers"], json!(["plex", "jellyfin", "emby"]));
        assert_eq!(keyed["emby"]["api_key"], "k");
        let plex = with_plex_server(&stored, "abc", "Home", "tok");
        assert_eq!(plex["media_servers"], json!(["plex", "jellyfin"]));
        assert_eq!(plex["plex"]["owner_token"], "tok");
        let stopped = without_server(&stored, ProviderKind::Plex);
        assert_eq!(stopped["media_servers"], json!(["jellyfin"]));
        assert_eq!(stopped["plex"], stored["plex"], "kept for later");
    }

    #[test]
    fn nobody_is_cut_off_by_stopping_a_server() {
        use ProviderKind::*;
        assert!(may_stop(&[Emby, Jellyfin], Jellyfin, "emby").is_ok());
        assert!(
            may_stop(&[Emby], Emby, "plex")
                .unwrap_err()
                .contains("only media server")
        );
        assert!(
            may_stop(&[Emby, Jellyfin], Emby, "emby")
                .unwrap_err()
                .contains("you signed in with Emby")
        );
        assert!(may_stop(&[Emby, Jellyfin], Plex, "emby").is_err());
    }
}
