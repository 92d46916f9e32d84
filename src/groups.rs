//! The group names the console offers as checkboxes (roles, MFA enforcement, access
//! rules): the tiers the media servers give at sign-in, the groups admins assigned, and
//! those the settings already name, so a pick never depends on typing a name right.

use rusqlite::Connection;

use crate::db;
use crate::error::Result;
use crate::providers::ProviderKind;

/// The owners' group: it always holds every console permission (roles::RolesSettings).
pub const ADMINS: &str = "admins";

/// The groups a sign-in derives from the media server (providers/plex.rs, jellyfin.rs),
/// in tier order, each prefixed with its provider's name.
pub const PROVIDER_GROUPS: &[&str] = &[
    "plex-owner",
    "plex-home",
    "plex-friend",
    "plex-managed",
    "jellyfin-admin",
    "jellyfin-user",
    "emby-admin",
    "emby-user",
];

/// Every group worth offering, each once: admins, the groups assigned to someone or named
/// by the roles and MFA settings (sorted), then the tiers of the media servers in use
/// (of all of them while none is configured).
pub fn known(conn: &Connection, enabled: &[ProviderKind]) -> Result<Vec<String>> {
    let mut named: Vec<String> = db::users::assigned_group_names(conn)?;
    named.extend(crate::settings::roles(conn)?.roles.into_keys());
    named.extend(crate::settings::mfa(conn)?.enforce_groups);
    named.sort();
    let tiers = PROVIDER_GROUPS.iter().filter(|g| {
        enabled.is_empty()
            || enabled.iter().any(|k| {
                g.strip_prefix(k.as_str())
                    .is_some_and(|r| r.starts_with('-'))
            })
    });
    let mut out: Vec<String> = Vec::new();
    for g in std::iter::once(ADMINS.to_string())
        .chain(named)
        .chain(tiers.map(|g| g.to_string()))
    {
        if !g.trim().is_empty() && !out.contains(&g) {
            out.push(g);
        }
    }
    Ok(out)
}
