//! Typed views of the runtime settings sections (stored by db::settings), with the
//! defaults that apply until an owner saves a section.

use rusqlite::Connection;
use serde::Deserialize;

use crate::db;
use crate::error::Result;

/// Section "mfa".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MfaSettings {
    /// Members of these groups must use a second factor (e.g. "admins").
    pub enforce_groups: Vec<String>,
}

pub fn mfa(conn: &Connection) -> Result<MfaSettings> {
    section(conn, "mfa")
}

/// A section's saved value, or the default when it was never saved. A saved value that
/// no longer fits the type (a downgrade) falls back to the default and says so.
fn section<T: serde::de::DeserializeOwned + Default>(conn: &Connection, name: &str) -> Result<T> {
    let Some(saved) = db::settings::get(conn, name)? else {
        return Ok(T::default());
    };
    Ok(serde_json::from_value(saved.config).unwrap_or_else(|e| {
        crate::log_error!("settings section {name:?} is unreadable ({e}); using defaults");
        T::default()
    }))
}
