//! `authportal check`: can each media server the portal runs with be reached?
//!
//! "Runs with" is the stored providers settings (setup wizard, console) with the
//! environment over them, merged exactly as the server merges them.

use crate::app::App;
use crate::provider_settings::Effective;
use crate::providers::jellyfin::MediaServer;
use crate::providers::plex::Plex;
use crate::providers::{ProviderError, ProviderKind};

/// The media servers in use: stored settings merged with the environment.
pub fn in_use(app: &App) -> Result<Effective, String> {
    let conn = app.db.conn().map_err(|e| e.to_string())?;
    let stored = crate::settings::providers(&conn).map_err(|e| e.to_string())?;
    Ok(crate::provider_settings::effective(
        &app.config,
        &stored,
        &app.sealer,
    ))
}

/// Lines saying where each enabled media server is (no secrets).
pub fn describe(eff: &Effective) -> Vec<(&'static str, String)> {
    eff.enabled
        .iter()
        .map(|p| {
            let at = match p {
                ProviderKind::Plex => match (&eff.plex.machine_id, &eff.plex.server_name) {
                    (Some(id), _) => format!("server machine id {id}"),
                    (None, Some(name)) => format!("server named {name:?}"),
                    (None, None) => "no server set".to_string(),
                },
                ProviderKind::Jellyfin | ProviderKind::Emby => server(eff, *p)
                    .map(|s| s.url.to_string())
                    .unwrap_or_else(|| "no server URL".to_string()),
            };
            (p.as_str(), at)
        })
        .collect()
}

/// Asks each server with the portal's own agent, so the outbound allow-list is the one
/// the running portal applies.
pub fn reachability(app: &App, eff: &Effective) -> Vec<(&'static str, Result<String, String>)> {
    let agent = &app.http;
    let id = "authportal-check".to_string();
    eff.enabled
        .iter()
        .map(|p| {
            let result = match p {
                ProviderKind::Plex => {
                    let p = &eff.plex;
                    if p.machine_id.is_none() && (p.server_name.is_none() || p.owner_token.is_none()) {
                        Err(ProviderError::Misconfigured(
                            "no server machine id (PLEX_SERVER_MACHINE_ID): nobody can sign in with Plex".into(),
                        ))
                    } else {
                        Plex::new(p.clone(), id.clone()).probe(agent)
                    }
                }
                ProviderKind::Jellyfin | ProviderKind::Emby => match server(eff, *p) {
                    Some(s) => MediaServer::new(*p, s.clone(), id.clone()).probe(agent),
                    None => Err(ProviderError::Misconfigured("no server URL".into())),
                },
            };
            (p.as_str(), result.map_err(|e| e.to_string()))
        })
        .collect()
}

fn server(eff: &Effective, kind: ProviderKind) -> Option<&crate::config::MediaServerConfig> {
    match kind {
        ProviderKind::Jellyfin => eff.jellyfin.as_ref(),
        ProviderKind::Emby => eff.emby.as_ref(),
        ProviderKind::Plex => None,
    }
}
