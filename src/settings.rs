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

/// Section "access": the forward-auth rules.
pub fn access(conn: &Connection) -> Result<crate::access::AccessSpec> {
    section(conn, "access")
}

/// The sections an owner can read and write.
pub const SECTIONS: &[&str] = &["access", "mfa"];

/// The default value of a section (what applies until it is saved).
pub fn default_of(name: &str) -> Option<serde_json::Value> {
    match name {
        "access" => {
            Some(serde_json::to_value(crate::access::AccessSpec::default()).expect("serializes"))
        }
        "mfa" => Some(serde_json::json!({ "enforce_groups": [] })),
        _ => None,
    }
}

/// Checks a new value for a section; the error is for the person who wrote it.
pub fn validate(name: &str, value: &serde_json::Value) -> std::result::Result<(), String> {
    match name {
        "access" => {
            let spec: crate::access::AccessSpec =
                serde_json::from_value(value.clone()).map_err(|e| format!("access: {e}"))?;
            crate::access::AccessRules::compile(&spec).map(|_| ())
        }
        "mfa" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            #[allow(dead_code)]
            struct Strict {
                enforce_groups: Vec<String>,
            }
            serde_json::from_value::<Strict>(value.clone())
                .map(|_| ())
                .map_err(|e| format!("mfa: {e}"))
        }
        _ => Err(format!("unknown settings section {name:?}")),
    }
}
