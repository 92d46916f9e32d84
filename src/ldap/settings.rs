//! Section "ldap": the directory's console settings, and the values in force (an
//! environment variable wins over the console, and the console shows that field locked).

use std::net::SocketAddr;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::App;
use crate::config::Config;
use crate::error::Result;
use crate::settings::{Section, load};

/// Section "ldap": whether and where the directory listens, and who may bind and search.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LdapSettings {
    /// `IP:PORT` (such as `127.0.0.1:3890`), or empty for off. Applies at the next start.
    pub listen_addr: String,
    /// Jellyfin/Emby people may bind with their media-server password (checked live).
    pub media_password_bind: bool,
    /// Clients that did not bind may search the directory.
    pub anonymous_search: bool,
}

/// Each field and the variable that overrides it.
const OVERRIDES: &[(&str, &str)] = &[
    ("listen_addr", "LDAP_LISTEN_ADDR"),
    ("media_password_bind", "LDAP_MEDIA_PASSWORD_BIND"),
    ("anonymous_search", "LDAP_ALLOW_ANONYMOUS"),
];

impl Section for LdapSettings {
    const NAME: &'static str = "ldap";

    fn check(&self) -> std::result::Result<(), String> {
        match self.listen_addr.trim() {
            "" => Ok(()),
            a if a.parse::<SocketAddr>().is_ok() => Ok(()),
            a => Err(format!(
                "ldap.listen_addr: expected IP:PORT such as 127.0.0.1:3890 (or empty for off), got {a:?}"
            )),
        }
    }

    fn locked(cfg: &Config) -> Vec<&'static str> {
        OVERRIDES
            .iter()
            .filter(|(_, var)| cfg.env_set.contains(*var))
            .map(|(field, _)| *field)
            .collect()
    }
}

/// The settings in force: the environment's where set, else the console's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InForce {
    pub listen_addr: Option<SocketAddr>,
    pub media_password_bind: bool,
    pub anonymous_search: bool,
}

pub fn in_force(cfg: &Config, conn: &Connection) -> Result<InForce> {
    let saved: LdapSettings = load(conn)?;
    let env = |var: &str| cfg.env_set.contains(var);
    Ok(InForce {
        listen_addr: if env("LDAP_LISTEN_ADDR") {
            cfg.ldap.listen_addr
        } else {
            saved.listen_addr.trim().parse().ok()
        },
        media_password_bind: if env("LDAP_MEDIA_PASSWORD_BIND") {
            cfg.ldap.media_password_bind
        } else {
            saved.media_password_bind
        },
        anonymous_search: if env("LDAP_ALLOW_ANONYMOUS") {
            cfg.ldap.anonymous_search
        } else {
            saved.anonymous_search
        },
    })
}

/// [`in_force`] with a connection of the app's pool.
pub fn of(app: &App) -> Result<InForce> {
    in_force(&app.config, &*app.db.conn()?)
}
