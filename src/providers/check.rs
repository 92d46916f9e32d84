//! `authportal check`: can each enabled media server be reached?

use crate::config::Config;
use crate::outbound::{Outbound, Policy};
use crate::providers::jellyfin::MediaServer;
use crate::providers::plex::Plex;
use crate::providers::{ProviderKind, http};

pub fn reachability(cfg: &Config) -> Vec<(&'static str, Result<String, String>)> {
    // The configured servers are always allowed, as in the running portal.
    let servers = [cfg.jellyfin.as_ref(), cfg.emby.as_ref()];
    let policy = Policy::new(
        cfg.outbound_allow.clone().unwrap_or_default(),
        crate::outbound::server_urls(&cfg.plex.api_base, servers),
    );
    let agent = http::agent(&Outbound::new(policy));
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
