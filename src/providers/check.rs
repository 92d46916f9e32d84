//! `authportal check`: can each enabled media server be reached?

use crate::config::Config;
use crate::providers::jellyfin::MediaServer;
use crate::providers::plex::Plex;
use crate::providers::{ProviderKind, http};

pub fn reachability(cfg: &Config) -> Vec<(&'static str, Result<String, String>)> {
    let agent = http::agent();
    let id = "authportal-check".to_string();
    cfg.providers
        .iter()
        .map(|p| {
            let result = match p {
                ProviderKind::Plex => Plex::new(cfg.plex.clone(), id.clone()).probe(&agent),
                ProviderKind::Jellyfin | ProviderKind::Emby => {
                    let server = if *p == ProviderKind::Jellyfin {
                        &cfg.jellyfin
                    } else {
                        &cfg.emby
                    };
                    match server {
                        Some(s) => MediaServer::new(*p, s.clone(), id.clone()).probe(&agent),
                        None => Err(super::ProviderError::Misconfigured("no server URL".into())),
                    }
                }
            };
            (p.as_str(), result.map_err(|e| e.to_string()))
        })
        .collect()
}
